"""The response policy a run follows: :mod:`kinkyu.core.response`, as the playbook package names it.

The policy lives beside the contract profile that carries it; this module keeps
the names the package (and its callers) import from here.
"""

from __future__ import annotations

from kinkyu.core.response import (
    DEFAULT_REPORT_AT_ONCE,
    DEFAULT_URGENCY,
    FILED_KINDS,
    RULE_IDS,
    URGENCY_WORDS,
    ResponsePolicy,
    UrgencyWord,
)

__all__ = [
    "DEFAULT_REPORT_AT_ONCE",
    "DEFAULT_URGENCY",
    "FILED_KINDS",
    "RULE_IDS",
    "URGENCY_WORDS",
    "ResponsePolicy",
    "UrgencyWord",
]
