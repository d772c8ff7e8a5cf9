"""What a run reads from a follow-up entry's ``data``, and how those values are screened.

The lowest module of the package: the detection stage
(:mod:`kinkyu.core.engine`) copies exactly :data:`FOLLOW_UP_DATA_KEYS` from a
filed incident event onto its follow-up entry, so it imports them from here
without importing the run. A ``reason`` or ``title`` is a category code, never
prose: free text may name a resident, and no screen can tell a name from a word.
"""

from __future__ import annotations

import re
from typing import Any

# The keys of a follow-up entry's ``data`` a run reads (kinkyu.core.playbook.run's docstring).
FOLLOW_UP_DATA_KEYS: tuple[str, ...] = (
    "event_id",
    "triage",
    "reason",
    "task_id",
    "done",
    "step",
    "command_id",
    "result",
    "title",
    "owner",
    "due",
    "within",
    "report_request",
    "supplied",
    # What was done for a containment or evidence step (a category code), or, with ``reason``, why nothing applies.
    "measure",
    # The city's receipt (受領) of a written report: ``console`` (downloaded and acknowledged) or ``hand``.
    "receipt",
    # Which written report a receipt is of: ``first``, ``progress`` or ``final`` (none: the first).
    "report",
    # The national report (kinkyu.core.playbook.ppc): facts the assessment reads, and overrides.
    "encrypted",
    "distinct_people",
    "improper_purpose",
    "datasets",
    "ppc_override",
    "party",
)
# The follow-up keys that supply facts to the PPC assessment.
PPC_FACT_KEYS: tuple[str, ...] = ("encrypted", "distinct_people", "improper_purpose", "datasets")
PPC_OVERRIDE_VALUES: dict[str, bool] = {"reportable": True, "not_reportable": False}
MAX_PEOPLE = 1_000_000_000
ID_LIMIT = 120
# What a ``reason`` or ``title`` may be: a lower-case category code.
CODE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
WITHHELD = "(free text withheld: use a category code)"


def ids(value: Any) -> list[str]:
    """The ids of a list (strings or numbers, each cut to :data:`ID_LIMIT`); anything else is no ids."""
    if not isinstance(value, list):
        return []
    return [str(v)[:ID_LIMIT] for v in value if isinstance(v, str | int) and not isinstance(v, bool)]


def code(value: Any) -> str | None:
    """``value`` as a category code; :data:`WITHHELD` for free text; None when there is no text."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return text if CODE.fullmatch(text) else WITHHELD


def people(value: Any) -> int | None:
    """A count of distinct people, when ``value`` is one (a non-negative int within :data:`MAX_PEOPLE`)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PEOPLE:
        return value
    return None
