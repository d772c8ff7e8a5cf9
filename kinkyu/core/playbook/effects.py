"""What a playbook run asks the outside world to do, as values.

:func:`~kinkyu.core.playbook.run.start`, :func:`~kinkyu.core.playbook.run.apply`
and :func:`~kinkyu.core.playbook.run.tick` return a list of these, in the order
they happened. Every action effect is preceded by the :class:`TimelineAppended`
entry that records it, so the list doubles as the run's new timeline:

- :class:`Notify` - a message to the city (甲) or the contractor (乙): a report
  to send by ``due``, or a task or triage request to a person;
- :class:`SealEvidence` - seal the evidence around the incident (証拠保全);
- :class:`Containment` - a containment command (topic ``containment-commands``);
- :class:`Escalate` - a deadline passed or a report went unacknowledged: tell
  the next contact up (contacts are listed in escalation order);
- :class:`TimelineAppended` - an entry appended to the run's timeline.

Every effect has an ``effect_id`` derived from the incident and the step, so a
stage that re-runs an input after a crash produces the same ids and the
receivers can drop the duplicate. Effects carry ids, categories, counts,
times and clause references only: never personal information.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import msgspec

from kinkyu.core.codec import Record
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook.containment import ContainmentCommand

NotifyKind = Literal[
    "first_report",  # 第一報 to the city
    "written_report",  # 書面 report to the city
    "complaint_report",  # 苦情 reported to the city at once
    "progress_report",  # 処理経過 of a complaint
    "supplementary_report",  # items missing from a written report, now supplied (追完)
    "dismissal_report",  # a possible breach the city was told of turned out not to be one
    "closure_report",  # the incident is closed
    "triage_due",  # to the contractor: confirm or dismiss by ``due``
    "task_assigned",  # to the contractor: a task (city instruction, report item, recovery …)
    "ppc_preliminary_reminder",  # to the city: its 速報 to the PPC is due soon (day 3 of 3-5)
    "ppc_final_reminder",  # to the city: its 確報 to the PPC is due in a week (30 or 60 days)
]
Audience = Literal["city", "contractor"]
EscalateReason = Literal["deadline_missed", "no_acknowledgement", "containment_failed"]


class _Effect(msgspec.Struct, Record, frozen=True, tag_field="effect"):
    """An effect's wire form begins with its kind (``"effect": "notify"``, ``"seal_evidence"``, and so on)."""


class Notify(_Effect, frozen=True, tag="notify"):
    """Send a message. ``due`` is when it must have reached ``audience`` (None: no deadline).

    For reports to the city: ``urgency`` is the clause word the deadline follows,
    ``article`` the clause, ``written`` whether it must be in writing (書面),
    ``items`` the items the clause names (report-item keys of
    :data:`~kinkyu.core.playbook.definition.REPORT_ITEMS`) and ``missing_items``
    those still unknown (reported as 調査中, open tasks until supplied);
    ``rule8`` asks for the nine APPI Rule 8(1) items as well
    (:func:`kinkyu.core.legal.rule8_items`). ``possible`` marks a report of a
    possible breach (おそれ) rather than a confirmed one. ``task_id`` names the
    task of a ``task_assigned`` message.

    ``rule8_facts`` (first and written reports to the city): what the nine
    Rule 8(1) items are built from, as codes, counts and dates
    (:class:`kinkyu.core.playbook.ppc.Rule8Facts`); the receiver builds the
    items, 調査中 where nothing is known. ``ppc`` (the two PPC reminders): ``report``
    (``preliminary`` / ``final``), ``learned`` and ``due`` (ISO dates),
    ``final_days`` (30 / 60), ``improper_purpose`` and ``triggers`` (the city's
    fired trigger codes).

    ``nature``: the event's nature under the city's clause
    (:data:`kinkyu.core.rulebook.EventNature`: ``leak``, ``accident``,
    ``outage``, ``breach``, ``complaint``), for subjects and bodies; with
    ``possible`` it is のおそれ.

    ``instruction``: a task mail for a city's instruction names it by its category code (submit-access-log),
    which the receiver puts in words; never free text.

    ``due_unknown``: the report's deadline could not be computed from the
    incident's times (it is sent all the same; the message shows the deadline
    as 要確認, to be confirmed). Its wire form has the key only when true.
    """

    effect_id: str
    incident_id: str
    contract_id: str
    jurisdiction: str
    step_id: str
    audience: Audience
    kind: NotifyKind
    due: datetime | None
    urgency: str | None = None
    article: str | None = None
    written: bool = False
    possible: bool = False
    items: tuple[str, ...] = ()
    missing_items: tuple[str, ...] = ()
    rule8: bool = False
    task_id: str | None = None
    contract_ended: bool = False
    rule8_facts: dict[str, Any] | None = None
    ppc: dict[str, Any] | None = None
    due_unknown: bool = False
    nature: str | None = None
    instruction: str | None = None

    omit_default: ClassVar[frozenset[str]] = frozenset({"due_unknown", "nature", "instruction"})


class SealEvidence(_Effect, frozen=True, tag="seal_evidence"):
    """Seal the evidence of ``incident_id``: the logs of ``system`` (or the contract) from ``since`` to ``until``.

    ``since`` / ``until`` are the incident's first and last event widened by
    ``window_before`` / ``window_after`` (the contract's ``evidence_window``);
    ``event_ids`` are the triggering events to seal in any case.
    """

    effect_id: str
    incident_id: str
    contract_id: str
    since: datetime
    until: datetime
    window_before: timedelta
    window_after: timedelta
    event_ids: tuple[str, ...]
    actor: str | None
    system: str | None


class Containment(_Effect, frozen=True, tag="containment"):
    """Put ``command`` on ``containment-commands``: executed at once when ``command.auto``, else proposed."""

    command: ContainmentCommand

    computed: ClassVar[dict[str, str | None]] = {"effect_id": None}
    inline: ClassVar[str | None] = "command"

    @property
    def effect_id(self) -> str:
        """The command id."""
        return self.command.command_id


class Escalate(_Effect, frozen=True, tag="escalate"):
    """Tell the next contact up: ``level`` 1 is the first escalation of this incident.

    ``step_id`` names the step (and ``task_id`` the task) whose deadline passed,
    whose report went unacknowledged or whose containment failed.
    """

    effect_id: str
    incident_id: str
    contract_id: str
    reason: EscalateReason
    step_id: str | None
    task_id: str | None
    due: datetime | None
    level: int


class TimelineAppended(_Effect, frozen=True, tag="timeline"):
    """``entry`` was appended to the run's timeline (who, when, what)."""

    incident_id: str
    seq: int
    entry: TimelineEntry

    computed: ClassVar[dict[str, str | None]] = {"effect_id": None}

    @property
    def effect_id(self) -> str:
        """The incident id and the entry's position in the timeline."""
        return f"{self.incident_id}/t{self.seq}"


Effect = Notify | SealEvidence | Containment | Escalate | TimelineAppended


def actions(effects: list[Effect]) -> list[Effect]:
    """The effects that ask for something to be done (everything but timeline entries)."""
    return [e for e in effects if not isinstance(e, TimelineAppended)]


def entries(effects: list[Effect]) -> list[TimelineEntry]:
    """The timeline entries among ``effects``, in order."""
    return [e.entry for e in effects if isinstance(e, TimelineAppended)]
