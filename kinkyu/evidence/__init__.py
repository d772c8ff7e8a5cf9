"""Evidence preservation (証拠保全): the file edge around :mod:`kinkyu.core.evidence`.

- :mod:`kinkyu.evidence.store`: ``EvidenceStore``, one folder per incident with
  the encrypted bundles, their manifests and the append-only custody log.
- :mod:`kinkyu.evidence.cli`: ``kinkyu evidence verify|list``.
- :mod:`kinkyu.evidence.exceptions`: the errors, re-exported here.

This package's ``__init__`` imports the exceptions only: the pure
:mod:`kinkyu.core.evidence` raises them, and importing the store here would make
that import circular (and drag file I/O into the pure domain's import graph).
"""

from __future__ import annotations

from kinkyu.evidence.exceptions import (
    EvidenceAnchorError,
    EvidenceError,
    EvidenceKeyError,
    EvidenceNotFoundError,
    EvidenceTamperedError,
    IntegrityKeyError,
)

__all__ = [
    "EvidenceAnchorError",
    "EvidenceError",
    "EvidenceKeyError",
    "EvidenceNotFoundError",
    "EvidenceTamperedError",
    "IntegrityKeyError",
]
