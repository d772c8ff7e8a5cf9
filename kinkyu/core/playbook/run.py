"""A playbook run: one incident's response, as a deterministic state machine.

The ``incidents`` topic carries the detection stage's records:
``Incident.to_json()`` plus ``"change": "opened" | "updated"``, and follow-ups
as ``{"change": "event", "incident_id": …, "entry": TimelineEntry json}``.
The playbook stage keeps one :class:`PlaybookRun` per incident and calls

- :func:`start` on the first record of an incident (``opened``, or
  ``updated`` when the ``opened`` one was missed),
- :func:`apply` on every later record,
- :func:`tick` when time passes (deadlines, acknowledgements, progress reports),

or simply :func:`on_record` for the first two. Each returns the effects
(:mod:`kinkyu.core.playbook.effects`) in order, timeline entries included.
``now`` is always passed in: the run never reads a clock, so the same inputs
give the same state and the same effects, and a run restored with
:meth:`PlaybookRun.from_json` continues exactly as the original would.

States: ``new`` (only inside :func:`start`) -> ``triage`` (waiting for a
person to confirm or dismiss) ->
``responding`` -> ``closed`` (``outcome`` ``resolved`` or ``dismissed``); a
closed incident that gains findings is reopened (``responding``).

Steps (see :mod:`kinkyu.core.playbook.definition`) have a status: ``waiting``
(not started), ``active`` (running: a triage, containment awaiting results, a
task), ``sent`` (a report issued to the city, awaiting acknowledgement),
``available`` (an optional step: publication), ``done``, ``skipped``. A step
or task with a due time that passes raises a ``deadline_missed`` entry and an
:class:`~kinkyu.core.playbook.effects.Escalate` effect, once.

Follow-up entries and what the run reads from their ``data`` (the detection
stage copies these structured keys from the filed incident event into the
entry's ``data``; see :data:`FOLLOW_UP_DATA_KEYS`; all are optional):

``acknowledgement``
    ``step`` - the report acknowledged; without it every report awaiting
    acknowledgement is. An acknowledged report is done: a report counts as
    made when the city confirms receiving it (an unread e-mail is no report).
``city_instruction``
    a task (甲の指示): ``task_id`` (default ``instruction:<event_id>``),
    ``title`` (a category code such as ``submit-access-log``),
    ``owner`` (a role or staff id; default ``contractor``), ``due`` (RFC 3339)
    or ``within`` (a duration; default: the ``report_request`` step's word
    when ``report_request`` is true, else the policy's ``instruction_within``).
``containment_result``
    ``command_id`` with ``result`` ``done`` | ``failed`` | ``declined``; and/or
    ``task_id`` with ``done: true``.
``update``
    ``triage``: ``confirm`` | ``dismiss`` with ``reason`` (a category code such
    as ``false-positive``); ``task_id`` with ``done: true`` completes a task; ``step`` with
    ``done: true`` completes a step (a report made by phone, recovery done,
    the city's publication); ``supplied``: report-item keys now in the report
    (追完); ``command_id`` with ``result`` as for ``containment_result``.
``update`` (national report, :mod:`kinkyu.core.playbook.ppc`)
    facts the PPC assessment reads: ``encrypted`` (true: all the data was
    strongly encrypted, 高度な暗号化), ``distinct_people`` (the number of
    distinct people, when someone counted them), ``improper_purpose`` (true:
    the breach was or may have been done with an improper purpose),
    ``datasets`` (the data sets involved). A person's decision:
    ``ppc_override`` ``reportable`` | ``not_reportable``, ``party`` ``city`` |
    ``contractor`` (absent: both) and ``reason`` (a category code such as
    ``key-not-compromised``; an override without one is refused with a note).
    The assessment is recomputed on every change of these facts and of the
    incident's; the timeline records it when the result changes.
``resolution``
    closes the incident when no task is open; otherwise a ``closure_refused``
    entry lists the open task ids and the incident stays open (a new
    resolution is needed once they are done).

Robust in depth: a time the run cannot compute from an incident's times (a
deadline past year 9999, a PPC date outside the holiday calendar's years, an
evidence window off datetime's range; :mod:`kinkyu.core.timespan`) degrades
the one step that needs it, never the run. The step goes on without it (a
report still goes to the city, its deadline shown as unknown, 要確認; an
evidence window is clamped and the triggering events sealed by id), and a
``computation_failed`` entry records what could not be computed, as codes:
``computation``, ``step`` / ``task_id``, ``error`` (``out-of-range``,
``no-holiday-calendar``, ``invalid``) and ``outcome``; never a value or an
exception's text, which could echo the input. A step that fails to start for
such a reason is left for a person (a task, mailed to the contractor).

Applying a record twice changes nothing: follow-ups are recognised by their
``event_id`` (or, without one, by their content), incident records by the
facts they carry. Timeline entries hold ids, counts, categories, times and
clause references; never an event's ``summary`` or ``details``. A ``reason``
or ``title`` that is not a lower-case category code (``[a-z0-9][a-z0-9_.:-]*``)
is recorded as withheld: free text may name a resident. ``owner`` must be a
role or a staff id.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.legal import Assessment, Override, ReportingParty
from kinkyu.core.model import FOLLOW_UP_KINDS, JST
from kinkyu.core.playbook.baseline import is_baseline
from kinkyu.core.playbook.containment import propose
from kinkyu.core.playbook.definition import REPORT_ITEMS, Playbook, Step
from kinkyu.core.playbook.effects import (
    Audience,
    Containment,
    Effect,
    EscalateReason,
    NotifyKind,
    SealEvidence,
    TimelineAppended,
)
from kinkyu.core.playbook.effects import Escalate as EscalateEffect
from kinkyu.core.playbook.effects import Notify as NotifyEffect
from kinkyu.core.playbook.exceptions import PlaybookRunError
from kinkyu.core.playbook.keys import (
    CODE as _CODE,
)
from kinkyu.core.playbook.keys import (
    FOLLOW_UP_DATA_KEYS,
    PPC_FACT_KEYS,
    PPC_OVERRIDE_VALUES,
    WITHHELD,
)
from kinkyu.core.playbook.keys import (
    ID_LIMIT as _ID_LIMIT,
)
from kinkyu.core.playbook.keys import (
    MAX_PEOPLE as _MAX_PEOPLE,
)
from kinkyu.core.playbook.keys import (
    code as _code,
)
from kinkyu.core.playbook.keys import (
    ids as _ids,
)
from kinkyu.core.playbook.policy import ResponsePolicy
from kinkyu.core.playbook.ppc import (
    CLOCK_STEP_KINDS,
    PPCState,
    Rule8Facts,
    datasets_snapshot,
    end_of_day,
    party_of,
    reminder_effect_id,
)
from kinkyu.core.playbook.state import CommandRun, Facts, PlaybookRun, StepRun, Task, facts_of
from kinkyu.core.playbook.states import (
    ACK_CHASED as _ACK_CHASED,
)
from kinkyu.core.playbook.states import (
    CITY_REPORTS as _CITY_REPORTS,
)
from kinkyu.core.playbook.states import (
    CLOSED,
    NEW,
    RESPONDING,
    TRIAGE,
    CommandResult,
    Outcome,
    ProfileSource,
    RunState,
    TaskSource,
)
from kinkyu.core.playbook.states import (
    FINAL_COMMAND as _FINAL_COMMAND,
)
from kinkyu.core.playbook.states import (
    REPORT_NOTIFY as _REPORT_NOTIFY,
)
from kinkyu.core.playbook.states import (
    UNFINISHED as _UNFINISHED,
)
from kinkyu.core.timespan import CalendarRangeError, clamp, jst_date, jst_text, shift

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kinkyu.core.contract import Dataset

__all__ = [
    "CLOSED",
    "COMPUTATION_FAILED",
    "DUE_UNKNOWN",
    "FOLLOW_UP_DATA_KEYS",
    "NEW",
    "PPC_FACT_KEYS",
    "PPC_OVERRIDE_VALUES",
    "RESPONDING",
    "SYSTEM",
    "TRIAGE",
    "WITHHELD",
    "CommandRun",
    "Facts",
    "PlaybookRun",
    "ProfileSource",
    "StepRun",
    "Task",
    "apply",
    "contract_end",
    "next_due",
    "on_record",
    "start",
    "tick",
]

SYSTEM = "kinkyu"
_RESULTS: dict[str, CommandResult] = {"done": "done", "failed": "failed", "declined": "declined"}


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _jst(ts: datetime) -> str:
    return jst_text(ts)


# The timeline kind of a computation the run could not make (module docstring).
COMPUTATION_FAILED = "computation_failed"
# What a person reads where a deadline could not be computed.
DUE_UNKNOWN = "要確認 (to be confirmed)"
# The errors a time computation raises: datetime's range (OverflowError), a date or a calendar
# outside what is known (ValueError, CalendarRangeError). Anything else is a bug, not input.
_RANGE_ERRORS = (ArithmeticError, ValueError)


def _failure_code(exc: BaseException) -> str:
    # A code, never str(exc): the text of a ValueError can quote the value it refused.
    if isinstance(exc, CalendarRangeError):
        return exc.code
    if isinstance(exc, ArithmeticError):
        return "out-of-range"
    return "invalid"


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise PlaybookRunError("now must be an aware datetime")


# -- the machine -----------------------------------------------------------------


def _entry_key(entry: TimelineEntry) -> str:
    event_id = entry.data.get("event_id") if isinstance(entry.data, dict) else None
    if isinstance(event_id, str) and event_id:
        return "ev:" + event_id
    digest = hashlib.blake2b(orjson.dumps(entry.to_json(), option=orjson.OPT_SORT_KEYS), digest_size=12)
    return "h:" + digest.hexdigest()


def _verdicts(a: Assessment) -> str:
    """One line per party for the timeline: reportable or not, and why (trigger codes)."""
    if a.encrypted_exempt and not a.overrides:
        return "not reportable for either party: exempt, strong encryption (高度な暗号化)"
    parts = []
    for party in ReportingParty:
        fired = ", ".join(t.value for t in a.party(party).fired)
        verdict = "reportable" if a.reportable_to_ppc(party) else "not reportable"
        decided = " (decided by a person)" if a.override_for(party) is not None else ""
        parts.append(f"{party.value} {verdict}{decided}" + (f" ({fired})" if fired else ""))
    return "; ".join(parts)


def _safe_data(data: dict[str, Any]) -> dict[str, Any]:
    """The follow-up data the run records: known keys, ids and categories, screened."""
    out: dict[str, Any] = {}
    for key in FOLLOW_UP_DATA_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key in {"reason", "title"}:
            text = _code(value)
            if text is not None:
                out[key] = text
        elif key == "supplied":
            out[key] = [v for v in _ids(value) if v in REPORT_ITEMS]
        elif key in {"done", "report_request"}:
            out[key] = value is True
        elif key in {"encrypted", "improper_purpose"}:
            if isinstance(value, bool):
                out[key] = value
        elif key == "distinct_people":
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_PEOPLE:
                out[key] = value
        elif key == "datasets":
            out[key] = [v for v in _ids(value) if _CODE.fullmatch(v)]
        elif key in {"ppc_override", "party"}:
            # Codes only: anything else is recorded as withheld and refused by the override.
            text = _code(value)
            if text is not None:
                out[key] = text
        elif isinstance(value, str):
            out[key] = value[:_ID_LIMIT]
    return out


class _Ctx:
    """One call's worth of work on a run: ``now``, and the effects produced so far."""

    def __init__(self, run: PlaybookRun, now: datetime) -> None:
        _require_aware(now)
        self.run = run
        self.now = now
        self.out: list[Effect] = []
        self.seen = set(run.seen)

    # -- what cannot be computed ----------------------------------------------------

    def cannot(
        self,
        computation: str,
        *,
        error: str,
        outcome: str,
        how: str,
        step: str | None = None,
        task_id: str | None = None,
    ) -> None:
        """Record, once per computation and step (or task), that the run could not compute it, and what it did.

        ``how`` is the human sentence of ``outcome``. Codes and ids only: the
        value and the exception's text stay out (they may echo the input).
        """
        for e in self.run.timeline:
            if e.kind == COMPUTATION_FAILED and (
                e.data.get("computation"),
                e.data.get("step"),
                e.data.get("task_id"),
            ) == (computation, step, task_id):
                return
        subject = f"task {task_id}" if task_id else (f"step {step}" if step else "the incident")
        self.log(
            f"{computation.replace('_', ' ')} of {subject} cannot be computed from the incident's times "
            f"({error}): {how}",
            COMPUTATION_FAILED,
            {"computation": computation, "step": step, "task_id": task_id, "error": error, "outcome": outcome},
        )

    def due_at(
        self, base: datetime, within: timedelta, *, step: str | None = None, task_id: str | None = None
    ) -> datetime | None:
        """``base + within`` as a deadline; None (unknown, 要確認) and a coded entry when it is out of range."""
        due = shift(base, within)
        if due is None:
            self.cannot(
                "deadline",
                error="out-of-range",
                outcome="due-unknown",
                how=f"due {DUE_UNKNOWN}; the step goes on without a deadline",
                step=step,
                task_id=task_id,
            )
        return due

    # -- output ------------------------------------------------------------------

    def log(
        self, what: str, kind: str, data: dict[str, Any] | None = None, *, who: str = SYSTEM, ts: datetime | None = None
    ) -> TimelineEntry:
        entry = TimelineEntry(ts or self.now, who, what, kind, dict(data or {}))
        self.run.timeline.append(entry)
        self.out.append(TimelineAppended(self.run.incident_id, len(self.run.timeline) - 1, entry))
        return entry

    def notify(
        self,
        st: StepRun,
        kind: NotifyKind,
        *,
        audience: Audience = "city",
        due: datetime | None = None,
        task_id: str | None = None,
        missing: tuple[str, ...] = (),
        rule8: Rule8Facts | None = None,
        due_unknown: bool = False,
    ) -> NotifyEffect:
        run = self.run
        step = run.playbook.step(st.step_id)
        st.sent += 1
        effect = NotifyEffect(
            effect_id=f"{run.incident_id}/{st.step_id}/{kind}/{st.sent}",
            incident_id=run.incident_id,
            contract_id=run.contract_id,
            jurisdiction=run.jurisdiction,
            step_id=st.step_id,
            audience=audience,
            kind=kind,
            due=due,
            urgency=step.urgency,
            article=step.clause.article,
            written=step.written,
            possible=run.possible,
            items=tuple(step.items),
            missing_items=missing,
            rule8=step.rule8,
            task_id=task_id,
            contract_ended=run.contract_ended,
            rule8_facts=rule8.to_json() if rule8 is not None else None,
            due_unknown=due_unknown,
        )
        self.out.append(effect)
        return effect

    def escalate(
        self, reason: EscalateReason, *, step_id: str | None, task_id: str | None = None, due: datetime | None = None
    ) -> None:
        run = self.run
        run.escalations += 1
        effect_id = f"{run.incident_id}/escalate/{run.escalations}"
        subject = f"task {task_id}" if task_id else f"step {step_id}"
        self.log(
            f"escalated to level {run.escalations} ({reason.replace('_', ' ')}: {subject})",
            "escalated",
            {"reason": reason, "level": run.escalations, "step": step_id, "task_id": task_id, "effect_id": effect_id},
        )
        self.out.append(
            EscalateEffect(
                effect_id=effect_id,
                incident_id=run.incident_id,
                contract_id=run.contract_id,
                reason=reason,
                step_id=step_id,
                task_id=task_id,
                due=due,
                level=run.escalations,
            )
        )

    # -- steps -------------------------------------------------------------------

    def step_def(self, st: StepRun) -> Step:
        return self.run.playbook.step(st.step_id)

    def add_applicable_steps(self) -> list[StepRun]:
        """Add the playbook's steps that apply to the incident now and are not in the run yet."""
        run = self.run
        have = {s.step_id for s in run.steps}
        added = [
            StepRun(step.id, step.kind)
            for step in run.playbook.steps
            if step.id not in have and step.applies(run.facts.kind, run.facts.rules)
        ]
        if added:
            order = {s.id: i for i, s in enumerate(run.playbook.steps)}
            run.steps = sorted([*run.steps, *added], key=lambda s: order[s.step_id])
        return added

    def start_step(self, st: StepRun, base: datetime) -> None:
        """Start ``st``; a time it cannot compute leaves this step to a person and every other step running."""
        try:
            self._start_step(st, base)
        except _RANGE_ERRORS as exc:
            self.step_failed(st, exc)

    def step_failed(self, st: StepRun, exc: BaseException) -> None:
        """``st`` could not be started: coded entry, a task for the contractor, and a report still goes out."""
        step = self.step_def(st)
        st.status = "active"
        st.done_at = None
        st.note = "could not be started automatically; do it by hand and record it with an update"
        self.cannot(
            "step",
            error=_failure_code(exc),
            outcome="by-hand",
            how="left to a person (a task for the contractor)",
            step=st.step_id,
        )
        if st.kind in _CITY_REPORTS and not st.sent:
            # The city hears of the incident all the same: what is known, the deadline 要確認.
            st.status = "sent"
            st.sent_at = self.now
            self.notify(st, _REPORT_NOTIFY[st.kind], audience=step.to or "city", due_unknown=True)
        self.open_task(
            task_id=f"{st.step_id}:by-hand",
            title=f"{step.title_ja}を手作業で行う / do '{step.title_en}' by hand",
            owner="contractor",
            due=None,
            source="step",
            step_id=st.step_id,
        )

    def _start_step(self, st: StepRun, base: datetime) -> None:
        step = self.step_def(st)
        st.started_at = self.now
        kind = step.kind
        if kind == "evidence":
            self.seal(st, self.run.facts.event_ids, self.run.facts.first_event_ts)
            st.status = "done"
            st.done_at = self.now
        elif kind == "containment":
            self.contain(st, self.run.facts.rules, base)
        elif kind in _CITY_REPORTS:
            self.report(st, step, base)
        elif kind == "progress_report":
            st.status = "active"
            st.next_due = None
            st.next_due = self.progress_due(st, base)
            self.log(
                f"progress reports (処理経過) to the city every {_span(self.run.policy.progress_interval)}, "
                f"first {_jst(st.next_due) if st.next_due else DUE_UNKNOWN} ({step.clause.article})",
                "step_started",
                {"step": st.step_id, "next_due": _iso(st.next_due), "article": step.clause.article},
            )
        elif kind in {"instructions", "report_request"}:
            st.status = "active"
            self.log(
                f"city instructions (甲の指示) are recorded as tasks ({step.clause.article})"
                if kind == "instructions"
                else f"city report requests are due {step.urgency} ({step.clause.article})",
                "step_started",
                {"step": st.step_id, "article": step.clause.article},
            )
        elif kind in {"recovery", "recurrence_prevention"}:
            within = (
                self.run.policy.recurrence_prevention_within
                if kind == "recurrence_prevention"
                else self.run.policy.recovery_within
            )
            st.status = "active"
            st.due = self.due_at(base, within, step=st.step_id) if within is not None else None
            self.open_task(
                task_id=st.step_id,
                title=f"{step.title_ja} / {step.title_en}",
                owner="contractor",
                due=st.due,
                source="step",
                step_id=st.step_id,
            )
        elif kind == "publication":
            st.status = "available"
            self.log(
                f"publication (公表) is the city's option ({step.clause.article}); record it with an update",
                "step_started",
                {"step": st.step_id, "article": step.clause.article},
            )
        # triage and closure are started by the machine itself.

    def report(self, st: StepRun, step: Step, base: datetime) -> None:
        run = self.run
        urgency = step.urgency
        due = self.due_at(base, run.policy.within(urgency), step=st.step_id) if urgency is not None else None
        unknown = urgency is not None and due is None
        st.status = "sent"
        st.due = due
        st.sent_at = self.now
        if unknown:
            st.note = f"deadline {DUE_UNKNOWN}: not computable from the incident's times"
        missing = tuple(i for i in step.items if not self.item_known(i))
        kind = _REPORT_NOTIFY[step.kind]
        how = "in writing (書面)" if step.written else "report"
        self.log(
            f"{step.kind} to the {step.to} issued {how}; due {_jst(due) if due else (DUE_UNKNOWN if unknown else '-')} "
            f"({urgency or 'no time word'}, {step.clause.article})"
            + (" as a possible breach (おそれ)" if run.possible and step.kind != "complaint_report" else "")
            + (f"; {len(missing)} clause item(s) under investigation (調査中)" if missing else ""),
            "report_issued",
            {
                "step": st.step_id,
                "due": _iso(due),
                "urgency": urgency,
                "article": step.clause.article,
                "written": step.written,
                "possible": run.possible,
                "items": list(step.items),
                "missing_items": list(missing),
                "effect_id": f"{run.incident_id}/{st.step_id}/{kind}/{st.sent + 1}",
                **({"due_unknown": True} if unknown else {}),
            },
        )
        # The first word to the city carries the nine Rule 8(1) items: telling the city what it
        # knows of them releases the contractor from its own PPC report (legal.md).
        rule8 = run.rule8_facts() if step.kind in CLOCK_STEP_KINDS else None
        self.notify(st, kind, audience=step.to or "city", due=due, missing=missing, rule8=rule8, due_unknown=unknown)
        for item in missing:
            label_ja, label_en = REPORT_ITEMS[item]
            self.open_task(
                task_id=f"{st.step_id}:{item}",
                title=f"書面報告の記載事項「{label_ja}」を補う / supply '{label_en}' in the written report",
                owner="contractor",
                due=due,
                source="report_item",
                step_id=st.step_id,
                item=item,
            )

    def item_known(self, item: str) -> bool:
        f = self.run.facts
        if item in self.run.supplied:
            return True
        if item == "content":
            return bool(f.data_items)
        if item == "count":
            return f.records > 0
        if item == "place":
            # For a detection the place is the system that logged it.
            return f.has_location or (f.origin == "detection" and bool(f.system))
        # circumstances: a detection knows what, when and where; a filing needs its description.
        return f.origin == "detection" or f.has_summary

    def open_task(
        self,
        *,
        task_id: str,
        title: str,
        owner: str,
        due: datetime | None,
        source: TaskSource,
        step_id: str | None,
        item: str | None = None,
        who: str = SYSTEM,
    ) -> Task | None:
        if self.run.task(task_id) is not None:
            return None
        task = Task(task_id, title, owner, due, source, step_id, self.now, item=item)
        self.run.tasks.append(task)
        self.log(
            f"task {task_id} opened for {owner}; due {_jst(due) if due else '-'}",
            "task_opened",
            {"task_id": task_id, "owner": owner, "due": _iso(due), "source": source, "step": step_id, "item": item},
            who=who,
        )
        if source != "report_item":
            st = self.run.step(step_id) if step_id else None
            if st is not None:
                self.notify(st, "task_assigned", audience="contractor", due=due, task_id=task_id)
        return task

    def complete_task(self, task: Task, *, who: str, ts: datetime, how: str) -> None:
        task.status = "done"
        task.done_at = ts
        task.done_by = who
        late = task.due is not None and ts > task.due
        self.log(
            f"task {task.task_id} done ({how})" + (" after its due time" if late else ""),
            "task_done",
            {"task_id": task.task_id, "late": late, "how": how},
            who=who,
            ts=ts,
        )
        # A step that exists for its task is done with it.
        if task.source == "step" and task.step_id:
            st = self.run.step(task.step_id)
            if st is not None and st.status == "active":
                st.status = "done"
                st.done_at = ts

    def seal(self, st: StepRun, event_ids: list[str], since_ts: datetime, until_ts: datetime | None = None) -> None:
        run = self.run
        window = run.policy.evidence_window
        last = until_ts or run.facts.last_event_ts
        since, until = shift(since_ts, -window), shift(last, window)
        if since is None or until is None:
            # The triggering events are sealed by id whatever the window; the window keeps inside time.
            self.cannot(
                "evidence_window",
                error="out-of-range",
                outcome="window-clamped",
                how="the window is clamped to datetime's range; the incident's own events are sealed by id",
                step=st.step_id,
            )
            since = since if since is not None else clamp(since_ts)
            until = until if until is not None else clamp(last)
        run.seals += 1
        effect = SealEvidence(
            effect_id=f"{run.incident_id}/seal/{run.seals}",
            incident_id=run.incident_id,
            contract_id=run.contract_id,
            since=min(since, until),
            until=until,
            window_before=window,
            window_after=window,
            event_ids=tuple(event_ids),
            actor=run.facts.actor,
            system=run.facts.system,
        )
        step = self.step_def(st)
        self.log(
            f"evidence sealing (証拠保全) requested: {len(event_ids)} event(s), "
            f"{_jst(effect.since)} to {_jst(effect.until)} ({step.clause.article})",
            "seal_requested",
            {
                "step": st.step_id,
                "effect_id": effect.effect_id,
                "since": effect.since.isoformat(),
                "until": effect.until.isoformat(),
                "events": len(event_ids),
            },
        )
        self.out.append(effect)

    def contain(self, st: StepRun, rules: list[str], base: datetime, fresh: list[str] | None = None) -> None:
        """Propose the commands of ``rules`` not proposed yet; report untargeted actions of ``fresh`` rules."""
        run = self.run
        step = self.step_def(st)
        if step.applies_to is not None and step.applies_to.rules:
            rules = [r for r in rules if r in step.applies_to.rules]
        proposal = propose(
            incident_id=run.incident_id,
            contract_id=run.contract_id,
            rules=rules,
            targets=run.facts.targets,
            auto_rules=run.policy.auto_contain,
            step_id=st.step_id,
            known=[c.command.command_id for c in run.commands],
        )
        for cmd in proposal.commands:
            run.commands.append(CommandRun(cmd))
            self.log(
                f"containment {'executed automatically' if cmd.auto else 'proposed for approval'}: "
                f"{cmd.action} on {cmd.target_type} {cmd.target} ({cmd.reason}, {step.clause.article})",
                "containment_proposed",
                {
                    "step": st.step_id,
                    "command_id": cmd.command_id,
                    "action": cmd.action,
                    "target_type": cmd.target_type,
                    "target": cmd.target,
                    "auto": cmd.auto,
                    "rules": list(cmd.rules),
                },
            )
            self.out.append(Containment(cmd))
        pairs = sorted({f"{action} ({rule})" for rule, action in proposal.untargeted if fresh is None or rule in fresh})
        if pairs:
            self.log(
                "containment not proposed, the incident names no target: " + ", ".join(pairs),
                "containment_untargeted",
                {"step": st.step_id, "actions": pairs},
            )
        mine = [c for c in run.commands if c.command.step_id == st.step_id]
        pending = [c for c in mine if c.status not in _FINAL_COMMAND]
        if proposal.commands and step.urgency is not None and st.due is None:
            st.due = self.due_at(base, run.policy.within(step.urgency), step=st.step_id)
        if pending:
            st.status = "active"
            st.done_at = None
        elif st.status in {"waiting", "active"}:
            st.status = "done"
            st.done_at = self.now
            if not mine:
                st.note = "no command derivable from the incident; contain by hand and record it with updates"
                self.log(
                    "containment: no command derivable from the incident (no account or system); "
                    f"contain by hand and record it with updates ({step.clause.article})",
                    "step_done",
                    {"step": st.step_id, "commands": 0},
                )

    def refresh_containment(self, st: StepRun, ts: datetime) -> None:
        mine = [c for c in self.run.commands if c.command.step_id == st.step_id]
        if st.status == "active" and mine and all(c.status in _FINAL_COMMAND for c in mine):
            st.status = "done"
            st.done_at = ts
            self.log(
                f"containment step {st.step_id} done: every command has a result", "step_done", {"step": st.step_id}
            )

    # -- state changes -------------------------------------------------------------

    def set_state(self, state: RunState, why: str, *, who: str = SYSTEM, ts: datetime | None = None) -> None:
        old = self.run.state
        self.run.state = state
        self.log(
            f"state {old} -> {state}: {why}", "state_changed", {"from": old, "to": state, "why": why}, who=who, ts=ts
        )

    def confirm(self, base: datetime, why: str, *, who: str = SYSTEM) -> None:
        run = self.run
        run.confirmed_at = self.now
        self.set_state(RESPONDING, why, who=who)
        for st in run.steps:
            if st.status == "waiting" and self.step_def(st).phase == "confirmed":
                self.start_step(st, base)

    def city_told(self) -> bool:
        return any(s.kind in _CITY_REPORTS and s.status in {"sent", "done"} and s.sent for s in self.run.steps)

    def dismiss(self, who: str, ts: datetime, reason: str | None) -> None:
        run = self.run
        run.triage = "dismissed"
        run.triage_reason = reason
        told = self.city_told()
        skipped = []
        for st in run.steps:
            if self.step_def(st).phase == "confirmed" and st.status in _UNFINISHED:
                st.status = "skipped"
                st.note = "dismissed"
                skipped.append(st.step_id)
        for task in run.tasks:
            if task.status == "open" and task.source in {"report_item", "step"}:
                task.status = "cancelled"
                self.log(
                    f"task {task.task_id} cancelled: dismissed", "task_cancelled", {"task_id": task.task_id}, who=who
                )
        self.log(
            f"dismissed: not a breach ({len(skipped)} step(s) skipped)",
            "dismissed",
            {"reason": reason, "skipped": skipped},
            who=who,
            ts=ts,
        )
        if told:
            st = next(s for s in run.steps if s.kind in _CITY_REPORTS and s.sent)
            self.log("the city is told the possible breach was not one", "report_issued", {"step": st.step_id})
            self.notify(st, "dismissal_report")
        ongoing = [s for s in run.steps if s.kind == "progress_report" and s.status == "active"]
        if not run.open_tasks() and not ongoing:
            self.close("dismissed", who=who)
        elif run.state == TRIAGE:
            self.set_state(RESPONDING, "dismissed; open tasks or complaint handling remain", who=who)

    def resolve(self, who: str) -> None:
        run = self.run
        if run.state == CLOSED:
            self.log(
                "resolution on a closed incident: no change", "closure_refused", {"why": "already closed"}, who=who
            )
            return
        if run.state == TRIAGE:
            self.log(
                "cannot close: triage pending (confirm or dismiss first)",
                "closure_refused",
                {"why": "triage pending"},
                who=who,
            )
            return
        open_ids = [t.task_id for t in run.open_tasks()]
        if open_ids:
            self.log(
                f"cannot close: {len(open_ids)} open task(s): {', '.join(open_ids)}",
                "closure_refused",
                {"why": "open tasks", "open_tasks": open_ids},
                who=who,
            )
            return
        self.close("resolved", who=who)

    def close(self, outcome: Outcome, *, who: str) -> None:
        run = self.run
        told = self.city_told()
        for st in run.steps:
            if st.kind == "closure":
                st.status = "done"
                st.done_at = self.now
            elif st.kind == "progress_report" and st.status == "active":
                st.status = "done"
                st.done_at = self.now
                st.note = "stopped at closure"
            elif st.status in _UNFINISHED:
                st.status = "skipped"
                st.note = "not done before closure"
        pending = [c.command.command_id for c in run.commands if c.status not in _FINAL_COMMAND]
        run.outcome = outcome
        self.set_state(
            CLOSED, outcome + (f"; {len(pending)} containment command(s) without result" if pending else ""), who=who
        )
        closure = next((s for s in run.steps if s.kind == "closure"), None)
        if told and closure is not None:
            self.log("closure reported to the city", "report_issued", {"step": closure.step_id})
            self.notify(closure, "closure_report")

    def reopen(self, why: str) -> None:
        run = self.run
        run.outcome = None
        for st in run.steps:
            if st.kind == "closure":
                st.status = "waiting"
                st.done_at = None
        self.set_state(RESPONDING, f"reopened: {why}")

    # -- triage ---------------------------------------------------------------------

    def triage_step(self) -> StepRun | None:
        return next((s for s in self.run.steps if s.kind == "triage"), None)

    def start_triage(self, st: StepRun) -> None:
        step = self.step_def(st)
        st.status = "active"
        st.started_at = self.now
        st.due = self.due_at(self.now, self.run.policy.triage_within, step=st.step_id)
        self.log(
            f"triage: confirm or dismiss by {_jst(st.due) if st.due else DUE_UNKNOWN} ({step.clause.article})",
            "step_started",
            {"step": st.step_id, "due": _iso(st.due), "rules": list(self.run.facts.rules)},
        )
        self.notify(st, "triage_due", audience="contractor", due=st.due)

    def decide(self, decision: str, who: str, ts: datetime, reason: str | None) -> None:
        run = self.run
        st = self.triage_step()
        if decision not in {"confirm", "dismiss"}:
            self.log(f"triage decision {decision[:20]!r} not understood (confirm or dismiss)", "note", {}, who=who)
            return
        if run.triage == "dismissed" or run.state == CLOSED:
            self.log(f"triage {decision} after the incident was dismissed or closed: no change", "note", {}, who=who)
            return
        if st is not None and st.status == "active":
            st.status = "done"
            st.done_at = ts
        if decision == "confirm":
            if run.state == TRIAGE:
                run.triage = "confirmed"
                run.triage_reason = reason
                self.confirm(self.now, "confirmed by triage", who=who)
            else:
                self.log("triage confirm: the incident is already being reported; no change", "note", {}, who=who)
        else:
            self.dismiss(who, ts, reason)

    # -- follow-ups ------------------------------------------------------------------

    def follow_up(self, entry: TimelineEntry) -> None:
        key = _entry_key(entry)
        if key in self.seen:
            return
        self.seen.add(key)
        self.run.seen.append(key)
        raw = entry.data if isinstance(entry.data, dict) else {}
        data = _safe_data(raw)
        kind = entry.kind if entry.kind in FOLLOW_UP_KINDS else "update"
        self.log(
            f"{kind} received" + (f" ({entry.kind})" if kind != entry.kind else ""),
            kind,
            data,
            who=entry.who,
            ts=entry.ts,
        )
        who, ts = entry.who, entry.ts
        if entry.kind == "message_sent":
            self.delivered(raw, ts)
        if kind == "acknowledgement":
            self.acknowledge(data.get("step"), who, ts)
        elif kind == "city_instruction":
            self.instruction(data, who, ts)
        elif kind == "resolution":
            self.resolve(who)
        else:
            # The national report's facts first: a report the triage starts carries them.
            if any(k in data for k in PPC_FACT_KEYS):
                self.ppcfacts_of(data)
            if "ppc_override" in raw:
                self.ppc_override(data, who, ts)
            if "triage" in data:
                self.decide(str(data["triage"]), who, ts, data.get("reason"))
            if "command_id" in data:
                self.command_result(str(data["command_id"]), str(data.get("result", "")), who, ts)
            if "supplied" in data:
                self.supply(data["supplied"], who, ts)
            if "step" in data and data.get("done") is True:
                self.step_done(str(data["step"]), who, ts)
        if kind != "city_instruction" and "task_id" in data and data.get("done") is True:
            task = self.run.task(str(data["task_id"]))
            if task is None:
                self.log(f"no task {data['task_id']} on this incident", "note", {}, who=who)
            elif task.status == "open":
                self.complete_task(task, who=who, ts=ts, how=kind)

    def acknowledge(self, step_id: Any, who: str, ts: datetime) -> None:
        targets = [
            s
            for s in self.run.steps
            if s.status == "sent" and (step_id is None or s.step_id == step_id) and self.step_def(s).to == "city"
        ]
        for st in targets:
            st.status = "done"
            st.done_at = ts
            if st.kind in CLOCK_STEP_KINDS:
                self.city_learned(ts, "acknowledgement", st.step_id)
            late = st.due is not None and ts > st.due
            self.log(
                f"{st.kind} acknowledged by the city" + (" after its due time" if late else ""),
                "step_done",
                {"step": st.step_id, "late": late},
                who=who,
                ts=ts,
            )

    def instruction(self, data: dict[str, Any], who: str, ts: datetime) -> None:
        run = self.run
        report_request = data.get("report_request") is True
        step = next((s for s in run.steps if s.kind == "report_request"), None) if report_request else None
        if step is None:
            step = next((s for s in run.steps if s.kind == "instructions"), None)
        step_def = self.step_def(step) if step is not None else None
        due: datetime | None = None
        if isinstance(data.get("due"), str):
            try:
                due = datetime.fromisoformat(data["due"])
            except ValueError:
                due = None
            if due is not None and (due.tzinfo is None or due.utcoffset() is None):
                due = None
        if due is None and isinstance(data.get("within"), str):
            from kinkyu.core.contract import parse_duration  # noqa: PLC0415  # avoids an import cycle

            try:
                due = shift(ts, parse_duration(data["within"]))
            except (ValueError, OverflowError):
                due = None
        task_id = str(data.get("task_id") or f"instruction:{data.get('event_id') or len(run.tasks) + 1}")
        if due is None:
            if step_def is not None and step_def.kind == "report_request" and step_def.urgency is not None:
                due = self.due_at(ts, run.policy.within(step_def.urgency), task_id=task_id)
            else:
                due = self.due_at(ts, run.policy.instruction_within, task_id=task_id)
        if run.state == CLOSED:
            self.reopen("a city instruction arrived")
        title = data.get("title") or (
            "甲からの報告の求め / report requested by the city" if report_request else "甲の指示 / city instruction"
        )
        self.open_task(
            task_id=task_id,
            title=str(title),
            owner=str(data.get("owner") or "contractor"),
            due=due,
            source="report_request" if report_request else "city_instruction",
            step_id=step.step_id if step is not None else None,
            who=who,
        )

    def command_result(self, command_id: str, result: str, who: str, ts: datetime) -> None:
        cmd = self.run.command(command_id)
        if cmd is None:
            self.log(f"no containment command {command_id[:_ID_LIMIT]} on this incident", "note", {}, who=who)
            return
        status = _RESULTS.get(result)
        if status is None:
            self.log(
                f"containment result for {command_id} not understood (done, failed, declined)", "note", {}, who=who
            )
            return
        cmd.status = status
        cmd.result_at = ts
        self.log(
            f"containment {cmd.command.action} on {cmd.command.target_type} {cmd.command.target}: {result}",
            "containment_result",
            {"command_id": command_id, "result": result},
            who=who,
            ts=ts,
        )
        if result == "failed" and not cmd.escalated:
            cmd.escalated = True
            self.escalate("containment_failed", step_id=cmd.command.step_id)
        st = self.run.step(cmd.command.step_id)
        if st is not None:
            self.refresh_containment(st, ts)

    def step_done(self, step_id: str, who: str, ts: datetime) -> None:
        st = self.run.step(step_id)
        if st is None or st.status not in _UNFINISHED or st.kind in {"triage", "closure"}:
            self.log(f"step {step_id[:_ID_LIMIT]} cannot be marked done here", "note", {}, who=who)
            return
        st.status = "done"
        st.done_at = ts
        if st.kind in CLOCK_STEP_KINDS:
            # A report made another way (by phone) reached the city too.
            self.city_learned(ts, "step_done", st.step_id)
        late = st.due is not None and ts > st.due
        self.log(
            f"step {step_id} done" + (" after its due time" if late else ""),
            "step_done",
            {"step": step_id, "late": late},
            who=who,
            ts=ts,
        )
        task = self.run.task(step_id)
        if task is not None and task.status == "open":
            self.complete_task(task, who=who, ts=ts, how="step done")

    def supply(self, items: list[str], who: str, ts: datetime) -> None:
        for item in items:
            if item not in self.run.supplied:
                self.run.supplied.append(item)
        self.recheck_items(who=who, ts=ts)

    def recheck_items(self, *, who: str = SYSTEM, ts: datetime | None = None) -> None:
        supplied_steps: list[str] = []
        for task in self.run.tasks:
            if task.status == "open" and task.source == "report_item" and task.item and self.item_known(task.item):
                self.complete_task(task, who=who, ts=ts or self.now, how="item now known")
                if task.step_id and task.step_id not in supplied_steps:
                    supplied_steps.append(task.step_id)
        for step_id in supplied_steps:
            st = self.run.step(step_id)
            if st is None or not st.sent:
                continue
            step = self.step_def(st)
            missing = tuple(i for i in step.items if not self.item_known(i))
            self.log(
                f"supplementary report (追完) to the city: {len(step.items) - len(missing)} of {len(step.items)} "
                "clause items now known",
                "report_issued",
                {"step": step_id, "missing_items": list(missing)},
            )
            self.notify(st, "supplementary_report", missing=missing)

    # -- incident records -------------------------------------------------------------

    def incident_record(self, record: dict[str, Any]) -> None:
        run = self.run
        new = facts_of(record)
        old = run.facts
        known_findings = set(old.finding_ids)
        known_events = set(old.event_ids)
        new_findings = [i for i in new.finding_ids if i not in known_findings]
        new_rules = [r for r in new.rules if r not in old.rules]
        new_events = [e for e in new.event_ids if e not in known_events]
        changed = [
            name
            for name, a, b in (
                ("records", old.records, new.records),
                ("data_items", sorted(old.data_items), sorted(new.data_items)),
                ("location", old.has_location, new.has_location),
                ("summary", old.has_summary, new.has_summary),
                ("severity", old.severity, new.severity),
                ("source_ips", old.source_ips, new.source_ips),
                ("devices", old.devices, new.devices),
            )
            if a != b
        ]
        if new_findings or new_events or changed:
            if run.state == CLOSED and (new_findings or new_events):
                self.reopen(f"{len(new_findings)} new finding(s)")
            old_first, old_last = old.first_event_ts, old.last_event_ts
            old.rules.extend(new_rules)
            old.finding_ids.extend(new_findings)
            old.event_ids.extend(new_events)
            old.first_event_ts = min(old.first_event_ts, new.first_event_ts)
            old.last_event_ts = max(old.last_event_ts, new.last_event_ts)
            old.records = new.records
            old.data_items = list(new.data_items)
            old.has_location = new.has_location
            old.has_summary = new.has_summary
            old.severity = new.severity
            old.source_ips = list(new.source_ips)
            old.devices = list(new.devices)
            self.log(
                f"incident updated: {len(new_findings)} new finding(s), {len(new_events)} new event(s)"
                + (f", new rule(s) {', '.join(new_rules)}" if new_rules else "")
                + (f", changed: {', '.join(changed)}" if changed else ""),
                "incident_updated",
                {
                    "finding_ids": new_findings,
                    "rules": new_rules,
                    "events": len(new_events),
                    "changed": changed,
                    "records": old.records,
                    "severity": old.severity,
                },
            )
            # Before any step the new facts start: a report they trigger carries the new assessment.
            self.record_ppc(record)
            self.reassess()
            evidence = next((s for s in run.steps if s.kind == "evidence"), None)
            if new_events and evidence is not None:
                since = old.first_event_ts if old.first_event_ts < old_first else old_last
                self.seal(evidence, new_events, since)
            targets_changed = "source_ips" in changed or "devices" in changed
            if new_rules or targets_changed:
                self.new_rules(new_rules, targets_changed=targets_changed)
            self.recheck_items()
        self.record_ppc(record)
        self.reassess()
        for raw in record.get("timeline") or []:
            if not isinstance(raw, dict) or raw.get("kind") in {"finding", "filed"}:
                continue
            try:
                entry = TimelineEntry.from_json(raw)
            except (KeyError, TypeError, ValueError):
                continue
            self.follow_up(entry)

    def new_rules(self, new_rules: list[str], *, targets_changed: bool) -> None:
        """Steps that now apply start; containment covers the new rules (all rules when targets changed)."""
        run = self.run
        added = {s.step_id for s in self.add_applicable_steps()}
        for st in run.steps:
            step = self.step_def(st)
            if st.step_id in added:
                self.start_added(st, step)
            elif step.kind == "containment" and st.status != "skipped":
                rules = list(run.facts.rules) if targets_changed else new_rules
                self.contain(st, rules, self.now, fresh=new_rules)
        at_once = [r for r in new_rules if r in run.policy.report_at_once]
        if run.state == TRIAGE and at_once:
            triage = self.triage_step()
            if triage is not None and triage.status == "active":
                triage.status = "skipped"
                triage.note = "a rule reported at once joined the incident"
            run.triage = "not_needed"
            self.confirm(self.now, f"rule(s) reported at once joined: {', '.join(at_once)}")

    def start_added(self, st: StepRun, step: Step) -> None:
        """Start a step that began to apply after the incident opened, as far as the run has come."""
        if step.kind == "triage":
            st.status = "skipped"
            st.note = "began to apply after triage was decided"
        elif step.phase == "open":
            self.start_step(st, self.now)
        elif step.phase == "confirmed":
            if self.run.triage == "dismissed":
                st.status = "skipped"
                st.note = "dismissed"
            elif self.run.state == RESPONDING:
                self.start_step(st, self.now)

    # -- the national report (kinkyu.core.playbook.ppc) ---------------------------------

    def record_ppc(self, record: dict[str, Any]) -> None:
        """Take the PPC facts an incident record carries, when it does.

        ``distinct_people`` counts as the number of people only when
        ``distinct_people_exact`` is not false (a record without the flag is
        taken at its word); a lower bound (some event carried no subject ids,
        or the count was capped) is dropped, and the record sum stands as the
        upper bound (最大).
        """
        p = self.run.ppc
        if isinstance(record.get("datasets"), list):
            p.involved = [v for v in _ids(record["datasets"]) if _CODE.fullmatch(v)]
        people = record.get("distinct_people")
        if record.get("distinct_people_exact") is False:
            p.distinct_people = None
        elif isinstance(people, int) and not isinstance(people, bool) and 0 <= people <= _MAX_PEOPLE:
            p.distinct_people = people
        for key in ("encrypted", "improper_purpose"):
            if isinstance(record.get(key), bool):
                setattr(p, key, record[key])

    def reassess(self, *, quiet: bool = False) -> None:
        """Recompute the PPC assessment; record it on the timeline when the result changed."""
        run = self.run
        f = run.facts
        p = run.ppc
        new = p.compute(data_items=f.data_items, rules=f.rules, kind=f.kind, records=f.records, possible=run.possible)
        old = p.assessment
        p.assessment = new
        if quiet or (old is not None and old.signature() == new.signature()):
            return
        self.log(
            "PPC report (個人情報保護委員会への報告): " + _verdicts(new),
            "ppc_assessment",
            {
                **new.signature(),
                "people": new.people.to_json() if new.people is not None else None,
                "previous": old.signature() if old is not None else None,
            },
        )

    def ppcfacts_of(self, data: dict[str, Any]) -> None:
        p = self.run.ppc
        if "encrypted" in data:
            p.encrypted = data["encrypted"] is True
        if "distinct_people" in data:
            p.distinct_people = int(data["distinct_people"])
        if "improper_purpose" in data:
            p.improper_purpose = data["improper_purpose"] is True
        if "datasets" in data:
            p.involved = list(data["datasets"])
        self.reassess()

    def ppc_override(self, data: dict[str, Any], who: str, ts: datetime) -> None:
        value = data.get("ppc_override")
        reason = data.get("reason")
        why: str | None = None
        party: ReportingParty | None = None
        if value not in PPC_OVERRIDE_VALUES:
            why = "ppc_override must be reportable or not_reportable"
        else:
            try:
                party = party_of(data.get("party"))
            except ValueError:
                why = "party must be city or contractor (or absent for both)"
        if why is None and (reason is None or reason == WITHHELD):
            # The decision is on the record only with its reason; free text may name a resident.
            why = "an override needs a reason, as a category code (e.g. key-not-compromised)"
        if why is not None:
            self.log(f"PPC override refused: {why}", "ppc_override_refused", {"why": why}, who=who)
            return
        reportable = PPC_OVERRIDE_VALUES[str(value)]
        override = Override(reportable=reportable, reason=str(reason), by=who, at=ts, party=party)
        self.run.ppc.overrides.append(override)
        self.reassess(quiet=True)
        a = self.run.ppc.assessment
        for_whom = f"the {party.value}" if party is not None else "both parties"
        self.log(
            f"PPC assessment overridden for {for_whom}: {'reportable' if reportable else 'not reportable'} "
            f"(reason: {reason}); now " + (_verdicts(a) if a is not None else "-"),
            "ppc_override",
            {
                "ppc_override": value,
                "party": party.value if party is not None else None,
                "reason": reason,
                **(a.signature() if a is not None else {}),
            },
            who=who,
            ts=ts,
        )

    def delivered(self, raw: dict[str, Any], ts: datetime) -> None:
        """A delivery result: the first report's delivery to a city contact is when the city learned."""
        chain_id, recipient = raw.get("chain_id"), raw.get("recipient")
        if not isinstance(chain_id, str) or not isinstance(recipient, str) or not recipient.startswith("city:"):
            return
        # Notify effect ids are "<incident>/<step>/<kind>/<n>" (_Ctx.notify).
        parts = chain_id.split("/")
        if len(parts) == 4 and parts[0] == self.run.incident_id and parts[2] in CLOCK_STEP_KINDS:  # noqa: PLR2004  # the four parts of an effect id
            self.city_learned(ts, "message_sent", parts[1])

    def city_learned(self, ts: datetime, via: str, step_id: str) -> None:
        p = self.run.ppc
        if p.city_learned_at is not None and p.city_learned_at <= ts:
            return
        p.city_learned_at = ts
        p.learned_via = via
        p.clock_step = step_id
        dl = p.deadlines()
        if dl is None:
            self.ppc_dates_unknown(ts, via, step_id)
            return
        self.log(
            f"the city learned of the incident on {dl.learned.isoformat()} ({via.replace('_', ' ')}, {step_id}): "
            f"the contractor has told the city (released from its own PPC report); the city's 速報 is due "
            f"{dl.preliminary_due.isoformat()}, its 確報 {dl.final_due.isoformat()} ({dl.final_days} days)",
            "ppc_clock",
            {
                "city_learned_at": ts.isoformat(),
                "learned": dl.learned.isoformat(),
                "via": via,
                "step": step_id,
                "preliminary_due": dl.preliminary_due.isoformat(),
                "final_due": dl.final_due.isoformat(),
                "final_days": dl.final_days,
            },
        )

    def ppc_dates_unknown(self, ts: datetime, via: str, step_id: str) -> None:
        """The city learned, but its PPC dates cannot be computed: say so, and that they are 要確認."""
        self.log(
            f"the city learned of the incident ({via.replace('_', ' ')}, {step_id}): the contractor has told the "
            f"city (released from its own PPC report); the city's 速報 and 確報 dates are {DUE_UNKNOWN}",
            "ppc_clock",
            {
                "city_learned_at": ts.isoformat(),
                "learned": None,
                "via": via,
                "step": step_id,
                "preliminary_due": None,
                "final_due": None,
                "final_days": None,
            },
        )
        self.cannot(
            "ppc_deadlines",
            error=self.run.ppc.deadlines_problem() or "out-of-range",
            outcome="dates-unknown",
            how=f"the city's PPC report dates are {DUE_UNKNOWN}; no reminder is sent",
        )

    def ppc_reminders(self) -> None:
        """Remind the city's contacts of their PPC reports before each is due, once each."""
        run = self.run
        p = run.ppc
        if run.triage == "dismissed" or run.outcome == "dismissed":
            return
        a = p.assessment
        dl = p.deadlines()
        learned = dl.learned.isoformat() if dl is not None else None
        for r in p.reminders():
            effect_id = reminder_effect_id(run.incident_id, r)
            if effect_id in p.reminded or self.now < r.at:
                continue
            p.reminded.append(effect_id)
            due = end_of_day(r.due)
            name = "速報 (preliminary report)" if r.report == "preliminary" else "確報 (full report)"
            if self.now > due:
                self.log(
                    f"reminder of the city's PPC {name} not sent: it was due {r.due.isoformat()}",
                    "ppc_reminder_skipped",
                    {"report": r.report, "due": r.due.isoformat(), "effect_id": effect_id},
                )
                continue
            final_days = a.final_report_days if a is not None else 30
            self.log(
                f"the city is reminded: its PPC {name} is due {r.due.isoformat()}"
                + (f" ({final_days} days)" if r.report == "final" else ""),
                "ppc_reminder",
                {"report": r.report, "due": r.due.isoformat(), "effect_id": effect_id},
            )
            clock = run.clock_step()
            self.out.append(
                NotifyEffect(
                    effect_id=effect_id,
                    incident_id=run.incident_id,
                    contract_id=run.contract_id,
                    jurisdiction=run.jurisdiction,
                    step_id=p.clock_step or (clock.step_id if clock is not None else "first_report"),
                    audience="city",
                    kind="ppc_preliminary_reminder" if r.report == "preliminary" else "ppc_final_reminder",
                    due=due,
                    possible=run.possible,
                    contract_ended=run.contract_ended,
                    ppc={
                        "report": r.report,
                        "learned": learned,
                        "due": r.due.isoformat(),
                        "final_days": final_days,
                        "improper_purpose": a.improper_purpose if a is not None else False,
                        "triggers": [t.value for t in a.city.fired] if a is not None else [],
                    },
                )
            )

    # -- time -------------------------------------------------------------------------

    def tick(self) -> None:
        run = self.run
        now = self.now
        # The city's duties to the PPC outlast the contractor's response: remind even when closed.
        self.ppc_reminders()
        if run.state == CLOSED:
            return
        for st in list(run.steps):
            try:
                self.tick_step(st)
            except _RANGE_ERRORS as exc:
                # One step's clock must not stop the others' (nor the tasks' below).
                self.cannot(
                    "clock",
                    error=_failure_code(exc),
                    outcome="step-not-checked",
                    how="this step's deadlines are not checked; see to it by hand",
                    step=st.step_id,
                )
        for task in run.tasks:
            if task.status == "open" and task.due is not None and not task.missed and now >= task.due:
                task.missed = True
                self.log(
                    f"deadline missed: task {task.task_id} ({task.owner}) was due {_jst(task.due)}",
                    "deadline_missed",
                    {"task_id": task.task_id, "due": task.due.isoformat()},
                )
                self.escalate("deadline_missed", step_id=task.step_id, task_id=task.task_id, due=task.due)

    def tick_step(self, st: StepRun) -> None:
        """One step's deadlines at ``now``: missed, unacknowledged, a progress report due."""
        run = self.run
        now = self.now
        step = self.step_def(st)
        if st.kind == "triage":
            if st.status == "active" and st.due is not None and not st.missed and now >= st.due:
                st.missed = True
                self.log(
                    f"deadline missed: triage was due {_jst(st.due)}",
                    "deadline_missed",
                    {"step": st.step_id, "due": st.due.isoformat()},
                )
                self.escalate("deadline_missed", step_id=st.step_id, due=st.due)
                if run.policy.report_when_triage_missed and run.state == TRIAGE:
                    st.status = "done"
                    st.done_at = now
                    st.note = "triage deadline missed; reported as a possible breach"
                    run.triage = "not_needed"
                    run.possible = True
                    self.confirm(st.due, "triage deadline missed (report_when_triage_missed)")
            return
        if st.status == "sent" and st.kind in _ACK_CHASED and not st.ack_escalated and st.sent_at is not None:
            chase = self.ack_due(st)
            if chase is not None and now >= chase:
                st.ack_escalated = True
                self.log(
                    f"{st.kind} not acknowledged within {_span(run.policy.ack_timeout)}: "
                    "escalating to the next contact",
                    "ack_timeout",
                    {"step": st.step_id, "sent_at": st.sent_at.isoformat()},
                )
                self.escalate("no_acknowledgement", step_id=st.step_id, due=st.due)
        if st.status in {"active", "sent"} and st.due is not None and not st.missed and now >= st.due:
            st.missed = True
            what = "not acknowledged by the city" if st.status == "sent" else "not done"
            self.log(
                f"deadline missed: {st.kind} {what} by {_jst(st.due)} "
                f"({step.urgency or 'policy'}, {step.clause.article})",
                "deadline_missed",
                {"step": st.step_id, "due": st.due.isoformat(), "urgency": step.urgency},
            )
            self.escalate("deadline_missed", step_id=st.step_id, due=st.due)
        if st.kind == "progress_report" and st.status == "active" and st.next_due is not None and now >= st.next_due:
            due = st.next_due
            self.log(
                f"progress report (処理経過) to the city due {_jst(due)} ({step.clause.article})",
                "report_issued",
                {"step": st.step_id, "due": due.isoformat()},
            )
            self.notify(st, "progress_report", due=due)
            st.next_due = self.progress_due(st, now)

    def ack_due(self, st: StepRun) -> datetime | None:
        """When an unacknowledged report of ``st`` is chased (None: out of range, recorded once)."""
        at = shift(st.sent_at, self.run.policy.ack_timeout) if st.sent_at is not None else None
        if at is None:
            self.cannot(
                "acknowledgement_timeout",
                error="out-of-range",
                outcome="not-chased",
                how="an unacknowledged report is not chased; its deadline still is",
                step=st.step_id,
            )
        return at

    def progress_due(self, st: StepRun, after: datetime) -> datetime | None:
        """The next progress-report time later than ``after``, on ``st``'s grid (None: out of range, recorded).

        The first one is an interval after ``after``; later ones keep the grid
        of the first: one report however long the stage slept.
        """
        interval = self.run.policy.progress_interval
        if st.next_due is None:
            at = shift(after, interval)
        else:
            at = shift(st.next_due, interval * ((after - st.next_due) // interval + 1))
        if at is None:
            self.cannot(
                "progress_schedule",
                error="out-of-range",
                outcome="no-schedule",
                how="no further progress report (処理経過) is scheduled; report by hand",
                step=st.step_id,
            )
        return at


# -- public API -----------------------------------------------------------------------


def contract_end(ends: date) -> datetime:
    """The moment a contract whose last day is ``ends`` is over: the next midnight, Japan time."""
    return datetime.combine(ends + timedelta(days=1), time(0), JST)


def start(
    incident: dict[str, Any],
    playbook: Playbook,
    policy: ResponsePolicy,
    profile_ends: date,
    now: datetime,
    *,
    datasets: Mapping[str, Dataset] | None = None,
    profile: ProfileSource = "loaded",
) -> tuple[PlaybookRun, list[Effect]]:
    """Open a run for ``incident`` (an ``incidents`` record: ``Incident.to_json()``, ``change`` opened).

    At open: evidence is sealed, containment proposed, a complaint reported,
    and either the report steps start (a rule in ``policy.report_at_once``, or
    a filed kind not in ``policy.triage_kinds``) or triage starts with its own
    deadline. A contract that ended before ``now`` is recorded and the run
    goes on: every clause's duty continues after the contract ends. Deadlines
    count from when the contractor learned of the incident: a filing's
    ``discovered_at`` (if earlier than ``now``), else ``now``. ``datasets``
    (the contract's data sets) feed the PPC assessment; the run keeps a copy.

    An incident always gets a run: ``profile`` other than ``loaded`` (the
    contract's profile was dropped by a reload, or is not known at all) and a
    baseline ``playbook`` (:mod:`kinkyu.core.playbook.baseline`, no playbook
    loaded for the jurisdiction) are recorded on the timeline, and the run goes
    on with what the caller could give.
    """
    _require_aware(now)
    facts = facts_of(incident)
    if incident.get("jurisdiction") != playbook.jurisdiction:
        raise PlaybookRunError(
            f"incident {incident.get('incident_id')!r} is under {incident.get('jurisdiction')!r}, "
            f"not the playbook's {playbook.jurisdiction!r}"
        )
    learned = facts.discovered_at if facts.discovered_at is not None and facts.discovered_at <= now else now
    # now >= contract_end(profile_ends), without the day after 9999-12-31 a profile may name.
    ended = jst_date(now) > profile_ends
    run = PlaybookRun(
        incident_id=str(incident["incident_id"]),
        contract_id=str(incident["contract_id"]),
        jurisdiction=playbook.jurisdiction,
        playbook=playbook,
        policy=policy,
        opened_at=now,
        learned_at=learned,
        contract_ends=profile_ends,
        contract_ended=ended,
        facts=facts,
        ppc=PPCState(datasets=datasets_snapshot(datasets)),
    )
    ctx = _Ctx(run, now)
    ctx.record_ppc(incident)
    ctx.add_applicable_steps()
    ctx.log(
        f"playbook {playbook.jurisdiction} started for a {facts.origin} incident "
        f"({facts.kind}{': ' + ', '.join(facts.rules) if facts.rules else ''}); {len(run.steps)} step(s) apply",
        "playbook_started",
        {
            "jurisdiction": playbook.jurisdiction,
            "origin": facts.origin,
            "kind": facts.kind,
            "rules": list(facts.rules),
            "steps": [s.step_id for s in run.steps],
            "learned_at": learned.isoformat(),
            "records": facts.records,
        },
    )
    _caveats(ctx, profile)
    if ended:
        clause = playbook.after_contract_end
        ctx.log(
            f"the contract ended on {profile_ends.isoformat()}; the response runs all the same"
            + (f" ({clause.article})" if clause else " (no clause says so; the safe side)"),
            "contract_ended",
            {"ends": profile_ends.isoformat(), "article": clause.article if clause else None},
        )
    if facts.origin == "detection":
        at_once = [r for r in facts.rules if r in policy.report_at_once]
        needs_triage = not at_once
        why = f"rule(s) reported at once as a possible breach (おそれ): {', '.join(at_once)}"
    else:
        needs_triage = facts.kind in policy.triage_kinds
        why = f"filed {facts.kind}: reported at once"
    # Detections are reported as possible breaches; a filing reports what a person saw happen.
    run.possible = facts.origin == "detection"
    # Before any report goes out: the first report carries the assessment in its Rule 8 item 1.
    ctx.reassess()
    triage = ctx.triage_step()
    for st in run.steps:
        if ctx.step_def(st).phase == "open" and st.kind != "triage":
            ctx.start_step(st, learned)
    if needs_triage:
        run.triage = "pending"
        if triage is not None:
            ctx.start_triage(triage)
        ctx.set_state(
            TRIAGE,
            (
                f"rule(s) {', '.join(facts.rules)} wait for triage"
                if facts.rules
                else f"filed {facts.kind} waits for triage"
            ),
        )
    else:
        run.triage = "not_needed"
        if triage is not None:
            triage.status = "skipped"
            triage.note = why
        ctx.confirm(learned, why)
    for raw in incident.get("timeline") or []:
        if isinstance(raw, dict) and raw.get("kind") not in {"finding", "filed"}:
            try:
                ctx.follow_up(TimelineEntry.from_json(raw))
            except (KeyError, TypeError, ValueError):
                continue
    ctx.tick()
    run.ppc.checked_at = now
    return run, ctx.out


def _caveats(ctx: _Ctx, profile: ProfileSource) -> None:
    """Say on the timeline what the run started without: the city's own playbook, the contract's profile."""
    run = ctx.run
    if is_baseline(run.playbook):
        ctx.log(
            f"no playbook is loaded for {run.jurisdiction}: the baseline steps run (report to the city 直ちに); "
            "check the city's own clauses by hand",
            "playbook_baseline",
            {"jurisdiction": run.jurisdiction},
        )
    if profile == "retained":
        ctx.log(
            f"contract {run.contract_id} is no longer loaded: the run uses its profile as last loaded",
            "contract_profile",
            {"profile": profile},
        )
    elif profile == "missing":
        ctx.log(
            f"contract {run.contract_id} is not loaded: the default response policy applies, its end date is "
            "unknown, and messages cannot be addressed until the profile is loaded again",
            "contract_profile",
            {"profile": profile},
        )


def apply(run: PlaybookRun, record: dict[str, Any], now: datetime) -> list[Effect]:
    """Apply a later ``incidents`` record (``opened`` / ``updated`` incident, or a follow-up ``event``).

    Then checks deadlines at ``now`` as :func:`tick` does. A record applied
    twice changes nothing the second time.
    """
    ctx = _Ctx(run, now)
    change = record.get("change")
    if record.get("incident_id") != run.incident_id:
        raise PlaybookRunError(f"record for incident {record.get('incident_id')!r} applied to {run.incident_id!r}")
    if change == "event":
        raw = record.get("entry")
        if not isinstance(raw, dict):
            raise PlaybookRunError("an event record carries its timeline entry under 'entry'")
        try:
            entry = TimelineEntry.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlaybookRunError(f"malformed timeline entry: {type(exc).__name__}") from exc
        ctx.follow_up(entry)
    elif change in {"opened", "updated", None}:
        ctx.incident_record(record)
    else:
        raise PlaybookRunError(f"unknown change {change!r} (opened, updated or event)")
    ctx.tick()
    run.ppc.checked_at = now
    return ctx.out


def tick(run: PlaybookRun, now: datetime) -> list[Effect]:
    """Let time pass to ``now``: missed deadlines (once each), unacknowledged reports, progress reports."""
    ctx = _Ctx(run, now)
    ctx.tick()
    if ctx.out:
        run.ppc.checked_at = now
    return ctx.out


def on_record(
    run: PlaybookRun | None,
    record: dict[str, Any],
    *,
    playbook: Playbook,
    policy: ResponsePolicy,
    contract_ends: date,
    now: datetime,
    datasets: Mapping[str, Dataset] | None = None,
    profile: ProfileSource = "loaded",
) -> tuple[PlaybookRun | None, list[Effect]]:
    """Route one ``incidents`` record: :func:`start` a run or :func:`apply` to the existing one.

    An ``event`` record for an incident without a run returns ``(None, [])``:
    the incident record it belongs to carries the same entry in its timeline,
    and the run picks it up from there when it starts. ``datasets`` are the
    contract's data sets, for a run that starts, and ``profile`` where its
    contract's profile came from (see :func:`start`).
    """
    if run is not None:
        return run, apply(run, record, now)
    if record.get("change") == "event":
        return None, []
    return start(record, playbook, policy, contract_ends, now, datasets=datasets, profile=profile)


def next_due(run: PlaybookRun) -> datetime | None:
    """The earliest moment :func:`tick` would do something (None when nothing is pending).

    A stage can sleep until then instead of ticking on a fixed beat.
    """
    times: list[datetime] = []
    if run.triage != "dismissed" and run.outcome != "dismissed":
        done = set(run.ppc.reminded)
        times.extend(r.at for r in run.ppc.reminders() if reminder_effect_id(run.incident_id, r) not in done)
    if run.state == CLOSED:
        return min(times) if times else None
    for st in run.steps:
        if st.status in {"active", "sent"} and st.due is not None and not st.missed:
            times.append(st.due)
        if st.status == "sent" and st.kind in _ACK_CHASED and not st.ack_escalated and st.sent_at is not None:
            chase = shift(st.sent_at, run.policy.ack_timeout)
            if chase is not None:  # out of range: never chased (the run's timeline says so)
                times.append(chase)
        if st.kind == "progress_report" and st.status == "active" and st.next_due is not None:
            times.append(st.next_due)
    times.extend(t.due for t in run.tasks if t.status == "open" and t.due is not None and not t.missed)
    return min(times) if times else None
