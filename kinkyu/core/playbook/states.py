"""The vocabulary of a run's state: what a run, a step, a task and a command can be.

Every status is a ``Literal``, so a misspelt one is a type error rather than a
state nobody leaves; the groups below are the sets the machine asks about.
"""

from __future__ import annotations

from typing import Final, Literal

from kinkyu.core.playbook.definition import StepKind
from kinkyu.core.playbook.effects import NotifyKind

__all__ = [
    "ACK_CHASED",
    "CITY_REPORTS",
    "CLOSED",
    "FINAL_COMMAND",
    "NEW",
    "REPORT_NOTIFY",
    "RESPONDING",
    "TRIAGE",
    "UNFINISHED",
    "CommandResult",
    "CommandStatus",
    "Outcome",
    "ProfileSource",
    "RunState",
    "StepKind",
    "StepStatus",
    "TaskSource",
    "TaskStatus",
    "TriageState",
]

# ``new`` only inside start(); a closed run that gains findings is responding again.
RunState = Literal["new", "triage", "responding", "closed"]
Outcome = Literal["resolved", "dismissed"]
# not_needed: reported at once (a severe rule, a filing, a missed triage with report_when_triage_missed).
TriageState = Literal["pending", "not_needed", "confirmed", "dismissed"]
# waiting: not started; active: running; sent: a report awaiting acknowledgement; available: an option
# (publication); done; skipped.
StepStatus = Literal["waiting", "active", "sent", "available", "done", "skipped"]
TaskStatus = Literal["open", "done", "cancelled"]
TaskSource = Literal["city_instruction", "report_request", "report_item", "step"]
CommandResult = Literal["done", "failed", "declined"]
CommandStatus = Literal["proposed", "done", "failed", "declined"]
# Where a run's contract profile came from: loaded now, kept from before a reload dropped it, or
# not known at all (then the policy is the default one and nobody's address is known).
ProfileSource = Literal["loaded", "retained", "missing"]

NEW: Final[RunState] = "new"
TRIAGE: Final[RunState] = "triage"
RESPONDING: Final[RunState] = "responding"
CLOSED: Final[RunState] = "closed"

# A command with one of these results needs nothing more; "failed" may still be retried.
FINAL_COMMAND: frozenset[CommandStatus] = frozenset({"done", "declined"})
UNFINISHED: frozenset[StepStatus] = frozenset({"waiting", "active", "sent", "available"})
# Reports whose acknowledgement is chased after ``ack_timeout``: the first word
# to the city, which the product issues itself at once.
ACK_CHASED: frozenset[StepKind] = frozenset({"first_report", "complaint_report"})
CITY_REPORTS: frozenset[StepKind] = frozenset({"first_report", "written_report", "complaint_report"})
REPORT_NOTIFY: dict[StepKind, NotifyKind] = {
    "first_report": "first_report",
    "written_report": "written_report",
    "complaint_report": "complaint_report",
}
