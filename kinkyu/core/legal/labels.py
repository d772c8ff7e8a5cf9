"""The category labels, as the legal package's callers have imported them: :mod:`kinkyu.core.labels`.

The labels live in the core, below both this package and the free-text screen
(:mod:`kinkyu.core.freetext`), which the incident records this package reads
depend on; this module only keeps the old import path.
"""

from __future__ import annotations

from kinkyu.core.labels import (
    ITEM_LABELS,
    KIND_LABELS,
    NATURE_LABELS,
    NOT_PERSONAL_DATA,
    RULE_LABELS,
    SEVERITY_LABELS,
    item_labels,
    kind_label,
    nature_label,
    rule_label,
)

__all__ = [
    "ITEM_LABELS",
    "KIND_LABELS",
    "NATURE_LABELS",
    "NOT_PERSONAL_DATA",
    "RULE_LABELS",
    "SEVERITY_LABELS",
    "item_labels",
    "kind_label",
    "nature_label",
    "rule_label",
]
