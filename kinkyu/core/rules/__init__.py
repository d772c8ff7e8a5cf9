"""Detection rules (shared/spec/rules.md), one class each, and the registry of all of them."""

from __future__ import annotations

from kinkyu.core.rulebook import RULE_IDS
from kinkyu.core.rules.base import Hit, Rule, Watermark, time_of
from kinkyu.core.rules.outage import SystemOutage
from kinkyu.core.rules.stateless import (
    LogTampering,
    OffHours,
    OutsideSite,
    PiiEmail,
    PostContractAccess,
    RevokedCredential,
    ScopeViolation,
    UnapprovedOrg,
    UnencryptedMedia,
    UnregisteredActor,
)
from kinkyu.core.rules.windowed import BulkExport, CredentialAttack

# In rules.md order (kinkyu.core.rulebook.RULE_IDS): findings of one action come out in this order.
RULE_CLASSES: tuple[type[Rule], ...] = (
    UnregisteredActor,
    RevokedCredential,
    UnapprovedOrg,
    OutsideSite,
    OffHours,
    BulkExport,
    PiiEmail,
    UnencryptedMedia,
    CredentialAttack,
    ScopeViolation,
    PostContractAccess,
    SystemOutage,
    LogTampering,
)


def make_rules() -> list[Rule]:
    """A fresh instance of every rule, with empty state."""
    return [cls() for cls in RULE_CLASSES]


__all__ = ["RULE_CLASSES", "RULE_IDS", "Hit", "Rule", "Watermark", "make_rules", "time_of"]
