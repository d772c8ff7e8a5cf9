"""A run's state: the incident's facts, the steps, tasks and commands, and the timeline.

Plain data with its JSON form (:meth:`PlaybookRun.to_json`, what a stage
persists) and the queries the machine and the reports ask of it; how the
state changes is the business of the modules above (:mod:`.lifecycle`,
:mod:`.steps`, :mod:`.follow_ups`, ...).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import msgspec

from kinkyu.core.incident import Incident, TimelineEntry
from kinkyu.core.jurisdictions import unit_of
from kinkyu.core.legal import Rule8Items
from kinkyu.core.playbook.codec import Record
from kinkyu.core.playbook.containment import ContainmentCommand, Targets
from kinkyu.core.playbook.definition import Playbook
from kinkyu.core.playbook.exceptions import PlaybookRunError
from kinkyu.core.playbook.keys import ids
from kinkyu.core.playbook.policy import ResponsePolicy
from kinkyu.core.playbook.ppc import (
    PartyTriggers,
    PPCState,
    Rule8Facts,
    end_of_day,
    known_items,
    reminder_effect_id,
    rule8_json,
)
from kinkyu.core.playbook.states import (
    CLOSED,
    NEW,
    RESPONDING,
    CommandStatus,
    Outcome,
    RunState,
    StepKind,
    StepStatus,
    TaskSource,
    TaskStatus,
    TriageState,
)
from kinkyu.core.rulebook import EVENT_NATURES, event_nature
from kinkyu.core.timefmt import iso
from kinkyu.core.timespan import CalendarRangeError, jst_date


class StepRun(msgspec.Struct, Record):
    """A step's progress in one run."""

    step_id: str
    kind: StepKind
    status: StepStatus = "waiting"
    due: datetime | None = None
    started_at: datetime | None = None
    sent_at: datetime | None = None
    done_at: datetime | None = None
    missed: bool = False
    ack_escalated: bool = False
    next_due: datetime | None = None
    sent: int = 0
    note: str | None = None
    # What was done for a containment or evidence step (a code: ``sealed``, ``commands``, a person's
    # measure), or ``none:<reason>`` when a person recorded why nothing applies; None: nothing recorded.
    measure: str | None = None
    # A written report (書面): when the city acknowledged the e-mail that delivered it, and when it
    # received (受領) the 事故報告書 itself; the step is done only then.
    acknowledged_at: datetime | None = None
    received_at: datetime | None = None


# The steps that are done only with something done (issue #15): a measure on record, or a person's
# reason why none applies.
MEASURED_KINDS: frozenset[str] = frozenset({"containment", "evidence"})


class Task(msgspec.Struct, Record):
    """Something a person must do: a city instruction, a missing report item, recovery, and so on.

    ``source`` is ``city_instruction``, ``report_request``, ``report_item`` or
    ``step``; ``status`` ``open``, ``done`` or ``cancelled``. Open tasks block
    closure.

    The title is stored as a code, rendered in the reader's language where it is shown
    (:func:`kinkyu.messages.timeline.task_text`): ``title_key`` is one of
    :data:`kinkyu.core.playbook.tasks.TASK_TITLES` or ``step`` (a step's own task, titled as
    the step), and ``title_values`` names codes only (a step id, a report item). A step is
    named by id because the run carries the playbook it started with: a playbook edited
    later does not change what a stored task says. ``title`` is a title given as it is (a
    city's task code, or :data:`~kinkyu.core.playbook.keys.WITHHELD`), else empty; a run
    stored before titles were codes has ``日本語 / English`` there and no key, and is read
    as it was.
    """

    task_id: str
    title: str
    owner: str
    due: datetime | None
    source: TaskSource
    step_id: str | None
    created_at: datetime
    status: TaskStatus = "open"
    done_at: datetime | None = None
    done_by: str | None = None
    missed: bool = False
    item: str | None = None
    title_key: str | None = None
    title_values: dict[str, str] | None = None

    # Written only when set: a run stored before titles were codes reads and writes back as it was.
    omit_default: ClassVar[frozenset[str]] = frozenset({"title_key", "title_values"})


class CommandRun(msgspec.Struct, Record):
    """A containment command and its result: ``proposed``, ``done``, ``failed`` or ``declined``."""

    command: ContainmentCommand
    status: CommandStatus = "proposed"
    result_at: datetime | None = None
    escalated: bool = False


class Facts(msgspec.Struct, Record):
    """What the incident record says, as far as the run uses it (no free text)."""

    origin: str
    kind: str
    rules: list[str]
    actor: str | None
    system: str | None
    severity: str
    first_event_ts: datetime
    last_event_ts: datetime
    discovered_at: datetime | None
    finding_ids: list[str]
    event_ids: list[str]
    records: int
    data_items: list[str]
    has_location: bool
    has_summary: bool
    source_ips: list[str] = []
    devices: list[str] = []

    @property
    def targets(self) -> Targets:
        """What containment can act on."""
        return Targets(self.actor, self.system, tuple(self.source_ips), tuple(self.devices))


def facts_of(record: dict[str, Any]) -> Facts:
    """The facts of an ``incidents`` record (``Incident.to_json()``) a run reads; no free text."""
    try:
        inc = Incident.from_json(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlaybookRunError(f"not an incident record (Incident.to_json()): {type(exc).__name__} {exc}") from exc
    return Facts(
        origin=inc.origin,
        kind=inc.kind,
        rules=list(inc.rules),
        actor=inc.actor,
        system=inc.system,
        severity=inc.severity.value,
        first_event_ts=inc.first_event_ts,
        last_event_ts=inc.last_event_ts,
        discovered_at=inc.discovered_at,
        finding_ids=list(inc.finding_ids),
        event_ids=list(inc.event_ids),
        records=inc.records,
        data_items=list(inc.data_items),
        has_location=bool(inc.place),
        # Whether a person described what happened; the description itself is in the sealed evidence only.
        has_summary=inc.has_summary,
        # Not on today's Incident; read when a record carries them (containment targets).
        source_ips=ids(record.get("source_ips")),
        devices=ids(record.get("devices")),
    )


class PlaybookRun(msgspec.Struct, Record, tag_field="v", tag=1):
    """One incident's playbook run: state, steps, tasks, commands and the append-only timeline.

    The playbook and the policy in force when the run started travel with it,
    so a playbook edited or a profile reloaded mid-incident does not change the
    rules of an incident already running.
    """

    incident_id: str
    contract_id: str
    jurisdiction: str
    playbook: Playbook
    policy: ResponsePolicy
    opened_at: datetime
    learned_at: datetime
    contract_ends: date
    contract_ended: bool
    facts: Facts
    state: RunState = NEW
    outcome: Outcome | None = None
    triage: TriageState = "pending"
    triage_reason: str | None = None
    confirmed_at: datetime | None = None
    possible: bool = False
    # The event's nature under the city's clause (kinkyu.core.rulebook.EventNature): leak, outage, breach, ...
    nature: str = "leak"
    steps: list[StepRun] = []
    tasks: list[Task] = []
    commands: list[CommandRun] = []
    supplied: list[str] = []
    seen: list[str] = []
    escalations: int = 0
    seals: int = 0
    timeline: list[TimelineEntry] = []
    ppc: PPCState = msgspec.field(default_factory=PPCState)

    # The national report is written with what the run derives from it (deadlines, reminders, the Rule 8 items).
    written_by: ClassVar[dict[str, str]] = {"ppc": "ppc_json"}

    # -- queries ---------------------------------------------------------------

    def step(self, step_id: str) -> StepRun | None:
        """The run's state of ``step_id`` (None when the step does not apply to this incident)."""
        return next((s for s in self.steps if s.step_id == step_id), None)

    def task(self, task_id: str) -> Task | None:
        """The task ``task_id``, if any."""
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def open_tasks(self) -> list[Task]:
        """Tasks still open: each blocks closure."""
        return [t for t in self.tasks if t.status == "open"]

    def command(self, command_id: str) -> CommandRun | None:
        """The containment command ``command_id``, if any."""
        return next((c for c in self.commands if c.command.command_id == command_id), None)

    @property
    def closed(self) -> bool:
        """True once the incident is closed."""
        return self.state == CLOSED

    def clock_step(self) -> StepRun | None:
        """The report step whose delivery starts the city's clock (the first report, else the written one)."""
        for kind in ("first_report", "written_report"):
            st = next((s for s in self.steps if s.kind == kind), None)
            if st is not None:
                return st
        return None

    def contractor_within(self) -> timedelta | None:
        """The time the first report's clause word allows the contractor (None: no word, the default)."""
        st = self.clock_step()
        if st is None:
            return None
        step = self.playbook.step(st.step_id)
        return self.policy.within(step.urgency) if step.urgency is not None else None

    def rule8_facts(self) -> Rule8Facts:
        """What the nine Rule 8(1) items are built from: the run's codes, counts and dates."""
        f = self.facts
        a = self.ppc.assessment
        publication = next((s for s in self.steps if s.kind == "publication"), None)
        prevention = next((s for s in self.steps if s.kind == "recurrence_prevention"), None)
        latest = a.overrides[-1] if a is not None and a.overrides else None
        return Rule8Facts(
            origin=f.origin,
            kind=f.kind,
            rules=tuple(f.rules),
            occurred_at=f.first_event_ts,
            discovered_at=f.discovered_at or self.learned_at,
            data_items=tuple(known_items(f.data_items)),
            people=a.people if a is not None else None,
            triggers=PartyTriggers(
                contractor=tuple(t.value for t in a.contractor.fired) if a is not None else (),
                city=tuple(t.value for t in a.city.fired) if a is not None else (),
                provisional=tuple(t.value for t in a.city.provisional) if a is not None else (),
            ),
            assessed=a is not None,
            encrypted_exempt=a.encrypted_exempt if a is not None else False,
            decided=latest.reportable if latest is not None else None,
            publication_done=(
                jst_date(publication.done_at)
                if publication is not None and publication.status == "done" and publication.done_at is not None
                else None
            ),
            prevention_done=(
                jst_date(prevention.done_at)
                if prevention is not None and prevention.status == "done" and prevention.done_at is not None
                else None
            ),
            # A responding run's prevention step is under way even before its turn to start in the same
            # moment: the first report and the report built at that moment say the same (検討中).
            prevention_active=prevention is not None
            and (prevention.status == "active" or (prevention.status == "waiting" and self.state == RESPONDING)),
            commands=len(self.commands),
            commands_done=sum(1 for c in self.commands if c.status == "done"),
            seals=self.seals,
            possible=self.possible,
            nature=self.nature,
        )

    def rule8(self) -> Rule8Items:
        """The nine Rule 8(1) items as far as the run knows them: categories, counts, dates; the rest 調査中.

        People's free text (cause, secondary harm, measures) never reaches a
        run; the written report adds it (:mod:`kinkyu.reports.model`).
        """
        return self.rule8_facts().items(self.playbook.parties, unit_of(self.jurisdiction))

    def ppc_dues(self) -> list[datetime]:
        """The city's PPC report deadlines (end of each due day), while it is (or may be) reportable."""
        if self.triage == "dismissed" or self.outcome == "dismissed":
            return []
        return [end_of_day(r.due) for r in self.ppc.reminders()]

    def ppc_json(self) -> dict[str, Any]:
        """The national report as the run's JSON carries it (``"ppc"``); see :mod:`kinkyu.core.playbook.ppc`."""
        p = self.ppc
        out = p.to_json()
        dl = p.deadlines()
        out["deadlines"] = (
            {
                "learned": dl.learned.isoformat(),
                "preliminary_reminder": dl.preliminary_reminder.isoformat(),
                "preliminary_due": dl.preliminary_due.isoformat(),
                "final_due": dl.final_due.isoformat(),
                "final_days": dl.final_days,
                "improper_purpose": dl.improper_purpose,
            }
            if dl is not None
            else None
        )
        try:
            status = p.contractor(self.learned_at, self.contractor_within())
        except CalendarRangeError:
            out["contractor"] = None  # its due time is out of range: unknown (要確認), not a reason to fail
        else:
            out["contractor"] = {
                "discovered_at": status.discovered_at.isoformat(),
                "due_at": status.due_at.isoformat(),
                "reported_at": iso(status.reported_at),
                "state": status.state.value,
                "released": status.released,
                "reported_late": status.reported_late,
            }
        out["reminders"] = [
            {
                "report": r.report,
                "at": r.at.isoformat(),
                "due": r.due.isoformat(),
                "effect_id": reminder_effect_id(self.incident_id, r),
                "sent": reminder_effect_id(self.incident_id, r) in p.reminded,
            }
            for r in p.reminders()
        ]
        out["rule8"] = rule8_json(self.rule8())
        return out

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """A run stored before the nature was kept gets it from its facts, as a new run would."""
        if not isinstance(data, dict) or data.get("nature") in EVENT_NATURES:
            return data
        facts = data.get("facts")
        facts = facts if isinstance(facts, dict) else {}
        nature = event_nature(str(data.get("jurisdiction")), str(facts.get("kind")), list(facts.get("rules") or ()))
        return {**data, "nature": nature}
