"""Playbooks: each city's emergency clauses as steps, run per incident.

- :mod:`~kinkyu.core.playbook.definition` - the playbook file format
  (``playbooks/<jurisdiction>.yaml``) and :func:`parse_playbook`;
- :mod:`~kinkyu.core.playbook.policy` - :class:`ResponsePolicy`, the per-contract
  durations and choices (``response:`` in a contract profile);
- :mod:`~kinkyu.core.playbook.containment` - the containment commands per rule;
- :mod:`~kinkyu.core.playbook.effects` - what a run asks the outside world to do;
- :mod:`~kinkyu.core.playbook.run` - the state machine's router:
  :func:`start`, :func:`apply`, :func:`tick`, :func:`on_record`; the machine
  itself, lowest first (each module imports only those before it):
  :mod:`~kinkyu.core.playbook.keys` (what a follow-up's data may hold),
  :mod:`~kinkyu.core.playbook.states` (the statuses),
  :mod:`~kinkyu.core.playbook.state` (:class:`PlaybookRun` and its JSON),
  :mod:`~kinkyu.core.playbook.followup` (a follow-up parsed into requests),
  :mod:`~kinkyu.core.playbook.context`, :mod:`~kinkyu.core.playbook.tasks`,
  :mod:`~kinkyu.core.playbook.national_report` (the PPC report on a live run),
  :mod:`~kinkyu.core.playbook.steps` (one start handler per step kind),
  :mod:`~kinkyu.core.playbook.lifecycle` (triage, confirmation, closure),
  :mod:`~kinkyu.core.playbook.follow_ups`, :mod:`~kinkyu.core.playbook.clock`
  (deadlines) and :mod:`~kinkyu.core.playbook.incident_record`;
- :mod:`~kinkyu.core.playbook.baseline` - the steps that run when a
  jurisdiction has no playbook loaded.

Pure domain: no I/O, no clock (``now`` is passed in), no faust or jinja2.
"""

from __future__ import annotations

from kinkyu.core.playbook.baseline import BASELINE_SEED, baseline_playbook, document_name, is_baseline
from kinkyu.core.playbook.containment import CONTAINMENT, ContainmentCommand, Targets, command_id, propose
from kinkyu.core.playbook.definition import (
    REPORT_ITEMS,
    AppliesTo,
    ClauseRef,
    Playbook,
    Step,
    parse_playbook,
    playbook_from_yaml,
    playbooks_from_texts,
)
from kinkyu.core.playbook.effects import (
    Containment,
    Effect,
    Escalate,
    Notify,
    SealEvidence,
    TimelineAppended,
    actions,
    entries,
)
from kinkyu.core.playbook.exceptions import PlaybookError, PlaybookRunError
from kinkyu.core.playbook.policy import DEFAULT_REPORT_AT_ONCE, DEFAULT_URGENCY, ResponsePolicy
from kinkyu.core.playbook.run import (
    COMPUTATION_FAILED,
    DUE_UNKNOWN,
    FOLLOW_UP_DATA_KEYS,
    CommandRun,
    PlaybookRun,
    ProfileSource,
    StepRun,
    Task,
    apply,
    contract_end,
    next_due,
    on_record,
    start,
    tick,
)
from kinkyu.core.playbook.steps import record_seal

__all__ = [
    "BASELINE_SEED",
    "COMPUTATION_FAILED",
    "CONTAINMENT",
    "DEFAULT_REPORT_AT_ONCE",
    "DEFAULT_URGENCY",
    "DUE_UNKNOWN",
    "FOLLOW_UP_DATA_KEYS",
    "REPORT_ITEMS",
    "AppliesTo",
    "ClauseRef",
    "CommandRun",
    "Containment",
    "ContainmentCommand",
    "Effect",
    "Escalate",
    "Notify",
    "Playbook",
    "PlaybookError",
    "PlaybookRun",
    "PlaybookRunError",
    "ProfileSource",
    "ResponsePolicy",
    "SealEvidence",
    "Step",
    "StepRun",
    "Targets",
    "Task",
    "TimelineAppended",
    "actions",
    "apply",
    "baseline_playbook",
    "command_id",
    "contract_end",
    "document_name",
    "entries",
    "is_baseline",
    "next_due",
    "on_record",
    "parse_playbook",
    "playbook_from_yaml",
    "playbooks_from_texts",
    "propose",
    "record_seal",
    "start",
    "tick",
]
