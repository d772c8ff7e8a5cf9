"""Errors of evidence preservation (証拠保全).

The errors the core raises while sealing and verifying are defined in
:mod:`kinkyu.core.exceptions` (the core must not import this edge) and
re-exported here; the store adds its own. Messages name incidents, bundles,
files, custody entries and key *ids*; they never carry evidence content
(which may hold personal information) nor the key.
"""

from __future__ import annotations

from kinkyu.core.exceptions import EvidenceError, EvidenceKeyError, EvidenceTamperedError, IntegrityKeyError

__all__ = [
    "EvidenceAnchorError",
    "EvidenceError",
    "EvidenceKeyError",
    "EvidenceNotFoundError",
    "EvidenceTamperedError",
    "IntegrityKeyError",
]


class EvidenceNotFoundError(EvidenceError):
    """The evidence store holds nothing for this incident (or this bundle)."""


class EvidenceAnchorError(EvidenceError):
    """A chain's head could not be published to (or read from) the anchors topic outside the data volume."""
