"""Errors of evidence preservation (証拠保全).

Messages name incidents, bundles, files, custody entries and key *ids*; they
never carry evidence content (which may hold personal information) nor the key.
"""

from __future__ import annotations

from collections.abc import Iterable

from kinkyu.exceptions import KinkyuError


class EvidenceError(KinkyuError):
    """Evidence cannot be sealed, stored or read as asked (bad input, missing folder, conflict)."""


class EvidenceNotFoundError(EvidenceError):
    """The evidence store holds nothing for this incident (or this bundle)."""


class EvidenceKeyError(EvidenceError):
    """The evidence key is missing, malformed, the wrong length, or not the key a bundle was sealed with.

    A configuration problem, not tampering: the message says how to fix the
    setting and names key ids (the first 8 hex digits of the key's SHA-256), never the key.
    """


class EvidenceTamperedError(EvidenceError):
    """Sealed evidence or its custody log failed verification.

    ``problems`` lists every check that failed, each naming the part (ciphertext,
    manifest, item n, custody entry n) so the altered thing can be found.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("evidence failed verification: " + "; ".join(self.problems))
