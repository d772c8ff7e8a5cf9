"""Keyed integrity of append-only logs: the HMAC keyring, entry MACs, and anchors kept outside the data volume.

Pure: no file or network I/O. The evidence custody log (:mod:`kinkyu.core.evidence`)
and the console's audit log (:mod:`kinkyu.console.audit`) use it the same way.

Why a key, and why an anchor
----------------------------
A hash chain shows accidental damage, but whoever can write the data volume
can rewrite an entry and recompute every hash after it. So each entry (and
each evidence manifest) also carries an HMAC-SHA256 under a key the data
volume does not hold (``KINKYU_INTEGRITY_KEYS``, separate from the evidence
encryption key). The MAC covers the entry's content, its ``prev`` link and
the key id, so a rewrite, reorder or deletion inside the chain is caught
without trusting anything on the volume.

Cutting entries off the *end* of a chain leaves a shorter chain that is still
valid. So after each entry the chain's head (``seq`` and hash), MAC'd too, is
published as an :class:`Anchor` outside the volume (a compacted Kafka topic:
:mod:`kinkyu.evidence.anchor`), and verification compares the file with it.

Keys rotate by id: new entries are signed with the current key
(``KINKYU_INTEGRITY_KEY_ID``); every key still in the ring verifies what it signed.

Entries written before keys were configured carry no MAC. They are reported
as *unkeyed (legacy)*: consistent hashes, but not authenticated. An unkeyed
entry after a keyed one is a downgrade (MACs stripped) and counts as tampering.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import msgspec

from kinkyu.core.codec import Record
from kinkyu.core.exceptions import IntegrityKeyError

MIN_KEY_BYTES = 32
ANCHOR_FORMAT = "kinkyu-anchor/1"
# Domains keep a MAC made for one kind of record from being accepted as another's.
ANCHOR_DOMAIN = "kinkyu-anchor/1"
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHAIN = re.compile(r"[a-z]+/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_HOW = "generate one with `openssl rand -base64 32`"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def check_key_id(key_id: str) -> str:
    """``key_id`` if usable as a key id (1-32 letters, digits, ``.``, ``_``, ``-``); else IntegrityKeyError."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise IntegrityKeyError(
            "an integrity key id must be 1-32 letters, digits, '.', '_' or '-' starting with a letter or digit "
            "(e.g. 2026-04)"
        )
    return key_id


def decode_secret(text: str, what: str, *, min_bytes: int = MIN_KEY_BYTES) -> bytes:
    """A key's bytes from its configured text: 64+ hex digits, or base64 (standard or URL-safe).

    IntegrityKeyError names ``what`` and what is wrong, never the value.
    """
    text = text.strip()
    if not text:
        raise IntegrityKeyError(f"{what} is empty; it must be {min_bytes} or more random bytes in base64 ({_HOW})")
    if len(text) % 2 == 0 and len(text) >= 2 * min_bytes and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    try:
        altchars = b"-_" if ("-" in text or "_" in text) else None
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IntegrityKeyError(f"{what} is neither base64 nor hex ({_HOW})") from exc
    if len(raw) < min_bytes:
        raise IntegrityKeyError(f"{what} decodes to {len(raw)} bytes; at least {min_bytes} are needed ({_HOW})")
    return raw


@dataclass(frozen=True, slots=True)
class Keyring:
    """The integrity keys by id, and the id that signs new entries (None: this ring verifies only).

    The key bytes never appear in ``repr``.
    """

    keys: Mapping[str, bytes] = field(repr=False)
    current: str | None = None

    def __post_init__(self) -> None:
        for key_id, secret in self.keys.items():
            check_key_id(key_id)
            if not isinstance(secret, bytes) or len(secret) < MIN_KEY_BYTES:
                raise IntegrityKeyError(f"integrity key {key_id} must be at least {MIN_KEY_BYTES} bytes")
        if self.current is not None and self.current not in self.keys:
            raise IntegrityKeyError(f"the current integrity key id {self.current} is not among the configured keys")

    @property
    def can_sign(self) -> bool:
        """Whether new entries can be signed (a current key is set)."""
        return self.current is not None

    @property
    def ids(self) -> tuple[str, ...]:
        """The configured key ids, sorted."""
        return tuple(sorted(self.keys))

    def sign(self, domain: str, payload: Mapping[str, Any]) -> tuple[str, str]:
        """``(key_id, mac)`` of ``payload`` (the key id is added to what is MAC'd) under the current key."""
        if self.current is None:
            raise IntegrityKeyError("no current integrity key to sign with (set KINKYU_INTEGRITY_KEY_ID)")
        return self.current, _mac(self.keys[self.current], domain, self.current, payload)

    def check(self, domain: str, payload: Mapping[str, Any], key_id: str, mac: str) -> MacResult:
        """Whether ``mac`` is ``payload``'s MAC under the key ``key_id`` names."""
        secret = self.keys.get(key_id)
        if secret is None:
            return MacResult.UNKNOWN_KEY
        expected = _mac(secret, domain, key_id, payload)
        ok = isinstance(mac, str) and hmac.compare_digest(expected.encode(), mac.encode("utf-8", "surrogatepass"))
        return MacResult.OK if ok else MacResult.BAD


class MacResult(StrEnum):
    """What checking one MAC found."""

    OK = "ok"
    BAD = "bad"  # the content, its MAC or its key id was altered
    UNKNOWN_KEY = "unknown-key"  # signed with a key id this ring does not hold (a configuration matter)


def _mac(secret: bytes, domain: str, key_id: str, payload: Mapping[str, Any]) -> str:
    message = domain.encode("ascii") + b"\0" + key_id.encode("ascii") + b"\0" + _canonical(dict(payload))
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def keyring_from_config(
    keys: Mapping[str, str], current: str | None, *, separate_from: Iterable[bytes] = ()
) -> Keyring | None:
    """The keyring from configured texts (``{key id: base64 key}``), or None when no key is configured.

    ``current`` defaults to the only key when there is one; with several it
    must be given. ``separate_from`` lists keys the integrity keys must not
    equal (the evidence encryption key). IntegrityKeyError says what to fix.
    """
    if not keys:
        if current:
            raise IntegrityKeyError(
                "KINKYU_INTEGRITY_KEY_ID is set but KINKYU_INTEGRITY_KEYS holds no key; "
                'set KINKYU_INTEGRITY_KEYS to {"<key id>": "<32 random bytes in base64>"}'
            )
        return None
    decoded = {check_key_id(k): decode_secret(v, f"integrity key {k} (KINKYU_INTEGRITY_KEYS)") for k, v in keys.items()}
    others = [o for o in separate_from if o]
    for key_id, secret in decoded.items():
        if any(hmac.compare_digest(secret, o) for o in others):
            raise IntegrityKeyError(
                f"integrity key {key_id} is the evidence encryption key; the two must be separate keys ({_HOW})"
            )
    if current is None and len(decoded) == 1:
        current = next(iter(decoded))
    if current is None:
        raise IntegrityKeyError(
            f"KINKYU_INTEGRITY_KEYS holds {len(decoded)} keys: set KINKYU_INTEGRITY_KEY_ID to the one that signs"
        )
    if current not in decoded:
        raise IntegrityKeyError(
            f"KINKYU_INTEGRITY_KEY_ID names key {check_key_id(current)}, which KINKYU_INTEGRITY_KEYS does not hold"
        )
    return Keyring(decoded, current)


# -- anchors -------------------------------------------------------------------------------------------


def check_chain_name(chain: str) -> str:
    """``chain`` if it is a chain name (``evidence/<incident id>``, ``audit/<name>``); else IntegrityKeyError."""
    if not isinstance(chain, str) or not _CHAIN.fullmatch(chain):
        raise IntegrityKeyError("an anchor's chain name must be <kind>/<id> (e.g. evidence/INC-20261121-0001)")
    return chain


class Anchor(msgspec.Struct, Record, frozen=True):
    """A chain's head as published outside the data volume: the newest ``seq`` and its hash, MAC'd.

    Its wire form (the record's value on the anchors topic; its key is ``chain``)
    begins with its format.
    """

    chain: str
    seq: int
    head: str
    at: datetime
    key_id: str
    mac: str

    computed: ClassVar[dict[str, str | None]] = {"format": None}

    @property
    def format(self) -> str:
        """The anchor format this version writes."""
        return ANCHOR_FORMAT

    def content(self) -> dict[str, Any]:
        """What the MAC covers: everything but the MAC and its key id."""
        body = self.to_json()
        del body["key_id"], body["mac"]
        return body

    def to_bytes(self) -> bytes:
        """The record value."""
        return _canonical(self.to_json())


def make_anchor(chain: str, seq: int, head: str, at: datetime, keyring: Keyring) -> Anchor:
    """The anchor of a chain whose newest entry is ``seq`` with hash ``head``, MAC'd with the current key."""
    check_chain_name(chain)
    if at.tzinfo is None:
        raise IntegrityKeyError("an anchor's time needs a UTC offset")
    unsigned = Anchor(chain, seq, head, at, "", "")
    key_id, mac = keyring.sign(ANCHOR_DOMAIN, unsigned.content())
    return Anchor(chain, seq, head, at, key_id, mac)


def parse_anchor(value: bytes | None, keyring: Keyring) -> Anchor | None:
    """An anchor record read back, if it parses and its MAC verifies under ``keyring``; else None.

    A record that fails is ignored rather than trusted: whoever can write the
    topic without the key cannot move an anchor.
    """
    try:
        data = json.loads(value or b"")
        anchor = Anchor.from_json(data)
        check_chain_name(anchor.chain)
    except (ValueError, KeyError, TypeError, IntegrityKeyError):
        return None
    if data.get("format") != ANCHOR_FORMAT or anchor.seq < 1 or not _HEX64.fullmatch(anchor.head):
        return None
    if keyring.check(ANCHOR_DOMAIN, anchor.content(), anchor.key_id, anchor.mac) is not MacResult.OK:
        return None
    return anchor


def newest_anchors(anchors: Iterable[Anchor]) -> dict[str, Anchor]:
    """The anchor with the highest ``seq`` per chain (an older anchor replayed onto the topic changes nothing)."""
    out: dict[str, Anchor] = {}
    for anchor in anchors:
        have = out.get(anchor.chain)
        if have is None or anchor.seq > have.seq:
            out[anchor.chain] = anchor
    return out


class AnchorState(StrEnum):
    """How a chain compares with its anchor."""

    MATCHES = "matches"  # the file's newest entry is the anchored one
    AHEAD = "ahead"  # entries after the anchored one: written but not anchored yet (a crash, a broker outage)
    MISMATCH = "mismatch"  # cut off or rewritten: tampering
    NONE = "none"  # no anchor was ever published for this chain
    NOT_CHECKED = "not-checked"  # the anchors were not read (offline verification)


class AnchorCheck(msgspec.Struct, Record, frozen=True):
    """The result of :func:`compare_with_anchor`: the state and, on a mismatch, what is wrong."""

    state: AnchorState
    anchor_seq: int | None = msgspec.field(default=None, name="anchored_seq")
    problem: str | None = None

    def describe(self) -> str:
        """One line for people (English; the console has its own wording)."""
        seq = self.anchor_seq
        return {
            AnchorState.MATCHES: f"anchor outside the volume: matches (seq {seq})",
            AnchorState.AHEAD: f"anchor outside the volume: at seq {seq}; later entries are not anchored yet",
            AnchorState.MISMATCH: f"anchor outside the volume: MISMATCH: {self.problem}",
            AnchorState.NONE: "anchor outside the volume: none published for this chain "
            "(entries cut off the end could not be noticed)",
            AnchorState.NOT_CHECKED: "anchor outside the volume: not checked "
            "(entries cut off the end could not be noticed)",
        }[self.state]


NOT_CHECKED = AnchorCheck(AnchorState.NOT_CHECKED)


def compare_with_anchor(
    anchor: Anchor | None, hashes: Mapping[int, str], last_seq: int, what: str = "the log"
) -> AnchorCheck:
    """Compare a chain read from the volume (``seq → hash`` of its entries, the highest ``seq``) with its anchor.

    The anchored entry must be there with the anchored hash: a shorter chain was
    cut off (or replaced), another hash was rewritten. Entries after the anchored
    one are reported (``AHEAD``) but are not tampering: their MACs vouch for them.
    """
    if anchor is None:
        return AnchorCheck(AnchorState.NONE)
    if last_seq < anchor.seq:
        where = f"ends at seq {last_seq}" if last_seq else "holds no entry"
        return AnchorCheck(
            AnchorState.MISMATCH,
            problem=f"{what} {where}, but the anchor outside the volume records seq {anchor.seq} "
            f"(published {anchor.at.isoformat()}): entries were removed from the end, or the file was replaced",
            anchor_seq=anchor.seq,
        )
    found = hashes.get(anchor.seq)
    if found != anchor.head:
        return AnchorCheck(
            AnchorState.MISMATCH,
            problem=f"{what}: entry seq {anchor.seq} is not the entry the anchor outside the volume records: "
            "it was rewritten (or the entries before it were)",
            anchor_seq=anchor.seq,
        )
    state = AnchorState.MATCHES if last_seq == anchor.seq else AnchorState.AHEAD
    return AnchorCheck(state, anchor_seq=anchor.seq)
