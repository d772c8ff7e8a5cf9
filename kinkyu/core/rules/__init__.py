"""Detection rules (shared/spec/rules.md), one class each, and the registry of all of them."""

from __future__ import annotations

from kinkyu.core.rules.base import Hit, Rule
from kinkyu.core.rules.stateless import UnregisteredActor

RULE_CLASSES: tuple[type[Rule], ...] = (UnregisteredActor,)
RULE_IDS: tuple[str, ...] = tuple(cls.rule_id for cls in RULE_CLASSES)


def make_rules() -> list[Rule]:
    """A fresh instance of every rule, with empty state."""
    return [cls() for cls in RULE_CLASSES]


__all__ = ["RULE_CLASSES", "RULE_IDS", "Hit", "Rule", "make_rules"]
