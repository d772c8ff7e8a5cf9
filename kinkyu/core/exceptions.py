"""Errors the pure core raises about sealed evidence and integrity keys.

They live here, below :mod:`kinkyu.evidence` (the store and its command line),
because the core seals, MACs and verifies; :mod:`kinkyu.evidence.exceptions`
re-exports them beside the errors only the store raises, so callers catch
them under either name. Messages name incidents, bundles, files, custody
entries and key *ids*; they never carry evidence content (which may hold
personal information) nor a key.
"""

from __future__ import annotations

from collections.abc import Iterable

from kinkyu.exceptions import KinkyuError


class EvidenceError(KinkyuError):
    """Evidence cannot be sealed, stored or read as asked (bad input, missing folder, conflict)."""


class EvidenceKeyError(EvidenceError):
    """The evidence key is missing, malformed, the wrong length, or not the key a bundle was sealed with.

    A configuration problem, not tampering: the message says how to fix the
    setting and names key ids (the first 8 hex digits of the key's SHA-256), never the key.
    """


class IntegrityKeyError(EvidenceKeyError):
    """The integrity (HMAC) keys are missing, malformed, too short, equal to the encryption key, or unknown.

    A configuration problem: the message names the setting and key *ids*, never a key.
    A subclass of :class:`EvidenceKeyError` so that a worker refusing to seal without
    keys exits like any other key problem (3).
    """


class EvidenceTamperedError(EvidenceError):
    """Sealed evidence or its custody log failed verification.

    ``problems`` lists every check that failed, each naming the part (ciphertext,
    manifest, item n, custody entry n) so the altered thing can be found.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("evidence failed verification: " + "; ".join(self.problems))
