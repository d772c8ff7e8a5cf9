r"""Evidence preservation (証拠保全): sealed bundles and the hash-chained custody log.

Pure: no file I/O. Hashing and AES-GCM are computation; the file edge is
:mod:`kinkyu.evidence.store`.

Bundle plaintext (format ``kinkyu-evidence-bundle/1``)
-------------------------------------------------------
JSON lines, ASCII only, each line the canonical JSON of one object (keys
sorted, no spaces, non-ASCII escaped) followed by ``\n``:

- line 1, the header: ``{"format":"kinkyu-evidence-bundle/1","incident_id":…,"items":N}``
- then one line per item: ``{"event_id":…,"raw":<base64 of the bytes exactly as
  received>,"sha256":<hex SHA-256 of those bytes>,"source":"access-log/0/1234"}``

Items are sorted by (source, event_id, sha256) and exact duplicates dropped, so
the same events sealed again, in any order or redelivered, give the same
plaintext, the same plaintext SHA-256 and so the same bundle id
``EVB-<incident_id>-<first 16 hex of the plaintext SHA-256>``. Nothing
time-dependent is in the plaintext: when and by whom is in the manifest.

Encryption: AES-256-GCM, a random 96-bit nonce per seal, associated data
``kinkyu-evidence-bundle/1\0<bundle_id>\0<incident_id>`` so a ciphertext
copied into another bundle (or incident) fails authentication. The stored blob
is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; the manifest's
``ciphertext_sha256`` is the SHA-256 of that whole blob.

Custody log
-----------
Each :class:`CustodyEntry` carries ``prev_hash`` (the previous entry's
``entry_hash``; 64 zeros for the first) and ``entry_hash``, the SHA-256 of the
canonical JSON of every other field. Entries number from 1 with no gaps, so an
altered, deleted, inserted or reordered entry shows as a broken hash, link or
sequence.

Hashes alone stop no one who can write the volume: they can be recomputed. So,
with an integrity keyring (:mod:`kinkyu.core.integrity`), every entry also
carries ``key_id`` and ``mac`` (HMAC-SHA256 of its content, ``prev_hash`` and
key id included) and every manifest ``mac_key_id`` and ``mac``; the ``sealed``
entry records its manifest's MAC, so stripping it shows. A truncated *tail*
only shows against the chain's head anchored outside the volume
(:func:`kinkyu.core.integrity.compare_with_anchor`). Entries and manifests
written before keys were configured have no MAC and are reported as unkeyed
(legacy), never as authenticated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kinkyu.core.codec import Record
from kinkyu.core.exceptions import EvidenceError, EvidenceKeyError, EvidenceTamperedError
from kinkyu.core.incident import Incident
from kinkyu.core.integrity import Keyring, MacResult

BUNDLE_FORMAT = "kinkyu-evidence-bundle/1"
MANIFEST_FORMAT = "kinkyu-evidence-manifest/1"
CIPHER = "AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
GENESIS_HASH = "0" * 64
MANIFEST_MAC_DOMAIN = "kinkyu-evidence-manifest/1"
CUSTODY_MAC_DOMAIN = "kinkyu-custody-entry/1"
# The requirement's default: the actor's and the system's events one hour either side.
DEFAULT_WINDOW = timedelta(hours=1)

# Well-known custody actions; others are allowed if they are short lower-case tokens.
SEALED = "sealed"
VIEWED = "viewed"
EXPORTED = "exported"
VERIFIED = "verified"
TRANSFERRED = "transferred"
# Written by a writer that found the log did not hold the head anchored outside the volume (cut off or rewritten
# while it was stopped): continuing the chain must not make the cut look like history. Verify reports it.
CHAIN_BREAK = "chain_break"
CUSTODY_ACTIONS = frozenset({SEALED, VIEWED, EXPORTED, VERIFIED, TRANSFERRED, CHAIN_BREAK})

# Ids become file names in the store: letters, digits, '-' and '_' only, so no path tricks.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_BUNDLE_ID = re.compile(r"EVB-[A-Za-z0-9][A-Za-z0-9_-]{0,127}-[0-9a-f]{16}")
_ACTION = re.compile(r"[a-z][a-z_-]{0,31}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


# -- small helpers ------------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """The one byte form that gets hashed: sorted keys, no spaces, ASCII, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def source_of(topic: str, partition: int, offset: int) -> str:
    """An item's ``source``: where the raw bytes were read, ``topic/partition/offset``."""
    return f"{topic}/{partition}/{offset}"


def check_incident_id(incident_id: str) -> str:
    """``incident_id`` if it is safe as a folder name (letters, digits, ``-``, ``_``); else EvidenceError."""
    if not isinstance(incident_id, str) or not _ID.fullmatch(incident_id):
        raise EvidenceError(
            f"incident id {incident_id!r} is not usable for evidence: "
            "it must be 1-128 letters, digits, '-' or '_' (e.g. INC-20261121-0001)"
        )
    return incident_id


def check_bundle_id(bundle_id: str) -> str:
    """``bundle_id`` if it has the ``EVB-<incident>-<16 hex>`` form; else EvidenceError."""
    if not isinstance(bundle_id, str) or not _BUNDLE_ID.fullmatch(bundle_id):
        raise EvidenceError(f"{bundle_id!r} is not an evidence bundle id (EVB-<incident id>-<16 hex digits>)")
    return bundle_id


def make_bundle_id(incident_id: str, plaintext_sha256: str) -> str:
    """The deterministic bundle id: ``EVB-<incident_id>-<first 16 hex of the plaintext SHA-256>``."""
    return f"EVB-{incident_id}-{plaintext_sha256[:16]}"


def associated_data(bundle_id: str, incident_id: str) -> bytes:
    """The AES-GCM associated data binding a ciphertext to its bundle and incident."""
    return f"{BUNDLE_FORMAT}\0{bundle_id}\0{incident_id}".encode()


def _aware(ts: datetime, what: str) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise EvidenceError(f"{what} needs a UTC offset (an aware datetime)")
    return ts


def _tampered(words: str) -> EvidenceTamperedError:
    """The error a manifest or custody line that does not parse is refused with (see :class:`Record`)."""
    return EvidenceTamperedError([words])


# -- keys ---------------------------------------------------------------------------------------------


def key_from_config(secret: str) -> bytes:
    """The 32-byte AES-256 key from its configured text: base64 (standard or URL-safe) or 64 hex digits.

    Raises EvidenceKeyError saying what is wrong (empty, not base64/hex, how many
    bytes it decodes to), never quoting the value.
    """
    how = "generate one with `openssl rand -base64 32`"
    text = secret.strip()
    if not text:
        raise EvidenceKeyError(f"the evidence key is empty; it must be 32 random bytes in base64 ({how})")
    # 64 hex digits are also valid base64 (of 48 bytes), so hex is tried first.
    if _HEX64.fullmatch(text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    try:
        altchars = b"-_" if ("-" in text or "_" in text) else None
        key = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EvidenceKeyError(
            f"the evidence key is neither base64 nor 64 hex digits; it must be 32 random bytes in base64 ({how})"
        ) from exc
    if len(key) != KEY_BYTES:
        raise EvidenceKeyError(
            f"the evidence key decodes to {len(key)} bytes; AES-256 needs exactly {KEY_BYTES} ({how})"
        )
    return key


def key_id(key: bytes) -> str:
    """Which key: the first 8 hex digits of the key's SHA-256 (shown in manifests; reveals nothing usable)."""
    _check_key(key)
    return sha256_hex(key)[:8]


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        size = len(key) if isinstance(key, bytes) else 0
        raise EvidenceKeyError(f"the evidence key must be {KEY_BYTES} bytes, not {size}; see key_from_config")


# -- items, manifest, bundle --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One event as received: where it was read, its id, and its bytes exactly as they arrived.

    ``raw`` may hold personal information: it is left out of ``repr`` so that a
    log line or a failed assertion cannot print it.
    """

    source: str
    event_id: str
    raw: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of ``raw``."""
        return sha256_hex(self.raw)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Bundle order: source, event id, content hash."""
        return (self.source, self.event_id, self.sha256)


@dataclass(frozen=True, slots=True)
class ManifestItem(Record):
    """What the manifest says of one item: where it came from, its id and hash; no content."""

    source: str
    event_id: str
    sha256: str

    refuse_unknown: ClassVar[bool] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest(Record):
    """The public description of a sealed bundle: ids, hashes, who sealed it, when and why.

    No raw content and no personal information: ``reason`` and ``sealed_by``
    are written by Kinkyu or staff and must name rules, ids and categories only.
    Its wire form (the ``.manifest.json`` file and the reviewer report's
    evidence manifest) refuses a field this version does not know: it would
    escape the manifest hash, so it counts as an alteration.
    """

    format: str = MANIFEST_FORMAT
    bundle_id: str
    incident_id: str
    items: tuple[ManifestItem, ...]
    plaintext_sha256: str
    ciphertext_sha256: str
    cipher: str = CIPHER
    key_id: str
    sealed_at: datetime
    sealed_by: str
    reason: str
    mac_key_id: str | None = None
    mac: str | None = None

    computed: ClassVar[dict[str, str | None]] = {"item_count": "incident_id"}
    # Written only by a manifest sealed with an integrity key.
    omit_default: ClassVar[frozenset[str]] = frozenset({"mac_key_id", "mac"})
    refused_as: ClassVar[tuple[Callable[[str], Exception], str] | None] = (_tampered, "manifest")
    refuse_unknown: ClassVar[bool] = True

    @property
    def item_count(self) -> int:
        """How many items the bundle holds."""
        return len(self.items)

    @property
    def keyed(self) -> bool:
        """Whether the manifest carries a MAC (written with an integrity key)."""
        return self.mac is not None

    def signed(self, keyring: Keyring) -> Manifest:
        """The manifest with its MAC under the keyring's current key."""
        key, mac = keyring.sign(MANIFEST_MAC_DOMAIN, self.content_json())
        return replace(self, mac_key_id=key, mac=mac)

    def check_mac(self, keyring: Keyring) -> MacResult | None:
        """The manifest's MAC checked under ``keyring``; None when it has none (unkeyed, legacy)."""
        if self.mac is None or self.mac_key_id is None:
            return None
        return keyring.check(MANIFEST_MAC_DOMAIN, self.content_json(), self.mac_key_id, self.mac)

    def content_json(self) -> dict[str, Any]:
        """Every field but the MAC: what the MAC and the custody log's ``manifest_sha256`` cover."""
        body = self.to_json()
        body.pop("mac_key_id", None)
        body.pop("mac", None)
        return body

    def sha256(self) -> str:
        """SHA-256 of the canonical JSON form without the MAC; recorded in the custody log when the bundle is sealed.

        The MAC is left out so that a manifest sealed before keys existed keeps its hash.
        """
        return sha256_hex(canonical_json(self.content_json()))

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """Check what the declaration cannot say: the item count, a MAC and its key id together, no default taken."""
        if not isinstance(data, dict):
            return data
        items = data.get("items")
        if not isinstance(items, list):
            raise EvidenceTamperedError(["manifest: field 'items' is missing or not a list"])
        if data.get("item_count") != len(items):
            raise EvidenceTamperedError([f"manifest: item_count does not match the {len(items)} items listed"])
        keyed = "mac" in data or "mac_key_id" in data
        # Written by every version: a manifest without them was cut, not written before they existed.
        for name in ("format", "cipher", *(("mac_key_id", "mac") if keyed else ())):
            if not isinstance(data.get(name), str):
                raise EvidenceTamperedError([f"manifest: field {name!r} is missing or not a string"])
        return {k: v for k, v in data.items() if k != "item_count"}


@dataclass(frozen=True, slots=True)
class SealedBundle:
    """A manifest and its blob (``nonce || ciphertext || tag``): what the store writes and reads back."""

    manifest: Manifest
    blob: bytes = field(repr=False)

    @property
    def bundle_id(self) -> str:
        """The manifest's bundle id."""
        return self.manifest.bundle_id


def canonical_items(items: Iterable[EvidenceItem]) -> list[EvidenceItem]:
    """Items in bundle order, exact duplicates (same source, id and bytes) dropped."""
    unique: dict[tuple[str, str, str], EvidenceItem] = {}
    for item in items:
        if not isinstance(item.raw, bytes) or not item.source or not item.event_id:
            raise EvidenceError("an evidence item needs a source, an event id and its raw bytes")
        unique.setdefault(item.sort_key, item)
    return [unique[k] for k in sorted(unique)]


def encode_plaintext(incident_id: str, items: Sequence[EvidenceItem]) -> bytes:
    """The canonical plaintext of a bundle (see the module docstring); ``items`` in canonical order."""
    lines = [canonical_json({"format": BUNDLE_FORMAT, "incident_id": incident_id, "items": len(items)})]
    lines.extend(
        canonical_json(
            {
                "source": item.source,
                "event_id": item.event_id,
                "sha256": item.sha256,
                "raw": base64.b64encode(item.raw).decode("ascii"),
            }
        )
        for item in items
    )
    return b"".join(line + b"\n" for line in lines)


def seal_bundle(
    incident_id: str,
    items: Sequence[EvidenceItem],
    key: bytes,
    *,
    sealed_at: datetime,
    sealed_by: str,
    reason: str,
    nonce: bytes | None = None,
) -> SealedBundle:
    """Seal events into an encrypted bundle with its manifest.

    The bundle id depends on the incident and the items only, so sealing the same
    events again (redelivery, a restart) yields the same id; the ciphertext differs
    (fresh nonce) and the store keeps the first. ``nonce`` is for tests only: a
    nonce must never be reused with the same key.
    """
    check_incident_id(incident_id)
    _check_key(key)
    _aware(sealed_at, "sealed_at")
    if not sealed_by or not reason:
        raise EvidenceError("sealing evidence needs sealed_by and a reason")
    ordered = canonical_items(items)
    if not ordered:
        raise EvidenceError(f"nothing to seal for incident {incident_id}: no evidence items given")
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_BYTES)
    elif len(nonce) != NONCE_BYTES:
        raise EvidenceError(f"an AES-GCM nonce is {NONCE_BYTES} bytes, not {len(nonce)}")
    plaintext = encode_plaintext(incident_id, ordered)
    plaintext_sha256 = sha256_hex(plaintext)
    bundle_id = make_bundle_id(incident_id, plaintext_sha256)
    blob = nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data(bundle_id, incident_id))
    manifest = Manifest(
        bundle_id=bundle_id,
        incident_id=incident_id,
        items=tuple(ManifestItem(i.source, i.event_id, i.sha256) for i in ordered),
        plaintext_sha256=plaintext_sha256,
        ciphertext_sha256=sha256_hex(blob),
        sealed_at=sealed_at,
        sealed_by=sealed_by,
        reason=reason,
        key_id=key_id(key),
    )
    return SealedBundle(manifest, blob)


@dataclass(frozen=True, slots=True)
class BundleProblem:
    """One failed check of a bundle.

    ``part`` says what is wrong: ``ciphertext`` (the blob), ``manifest``, or
    ``bundle`` (both: the blob replaced and the manifest edited to match, or its ids altered).
    """

    part: str
    message: str

    def __str__(self) -> str:
        return f"{self.part}: {self.message}"


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """The result of checking one bundle against its manifest and a key.

    ``key_problem`` is set (and the content not checked) when the bundle was
    sealed under another key id: a configuration matter, not tampering.
    """

    bundle_id: str
    problems: tuple[BundleProblem, ...] = ()
    key_problem: str | None = None

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return not self.problems and self.key_problem is None


def check_bundle(sealed: SealedBundle, key: bytes) -> BundleCheck:
    """Check a bundle, reporting rather than raising: GCM tag, every hash, ids, the item list.

    Only a key that is not 32 bytes raises (EvidenceKeyError). See :func:`open_bundle`.
    """
    return _inspect(sealed, key)[0]


def open_bundle(sealed: SealedBundle, key: bytes) -> list[EvidenceItem]:
    """Decrypt and verify a bundle; the items in bundle order.

    ``sealed`` is what :func:`seal_bundle` returned or a manifest and blob read
    back from storage. Raises EvidenceKeyError when the key is not the one the
    manifest names, EvidenceTamperedError listing every failed check otherwise.
    """
    result, items = _inspect(sealed, key)
    if result.key_problem is not None:
        raise EvidenceKeyError(result.key_problem)
    if result.problems or items is None:
        raise EvidenceTamperedError(f"bundle {result.bundle_id}: {p}" for p in result.problems)
    return items


def _inspect(sealed: SealedBundle, key: bytes) -> tuple[BundleCheck, list[EvidenceItem] | None]:
    manifest, blob = sealed.manifest, sealed.blob
    given_id = key_id(key)
    problems: list[BundleProblem] = []
    blob_matches = sha256_hex(blob) == manifest.ciphertext_sha256
    if given_id != manifest.key_id:
        if not blob_matches:
            problems.append(BundleProblem("ciphertext", "its SHA-256 does not match the manifest's ciphertext_sha256"))
        key_problem = (
            f"bundle {manifest.bundle_id} was sealed with key id {manifest.key_id}; the given key has id {given_id}"
        )
        return BundleCheck(manifest.bundle_id, tuple(problems), key_problem), None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        problems.append(BundleProblem("ciphertext", f"truncated to {len(blob)} bytes"))
        return BundleCheck(manifest.bundle_id, tuple(problems)), None
    try:
        plaintext = AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(manifest.bundle_id, manifest.incident_id)
        )
    except InvalidTag:
        # With the right key a failed tag means the blob was altered, or it (or the manifest's ids)
        # belongs to another bundle. The blob's hash tells which file changed.
        if blob_matches:
            problems.append(
                BundleProblem(
                    "bundle",
                    f"the ciphertext fails AES-GCM authentication for bundle {manifest.bundle_id} of incident "
                    f"{manifest.incident_id} although it matches the manifest's SHA-256: the ciphertext was "
                    "replaced and the manifest edited to match, or the manifest's ids or key id were altered",
                )
            )
        else:
            problems.append(
                BundleProblem(
                    "ciphertext",
                    "fails AES-GCM authentication and its SHA-256 does not match the manifest: altered or replaced",
                )
            )
        return BundleCheck(manifest.bundle_id, tuple(problems)), None

    # The blob is authentic under the key: from here every disagreement is the manifest's.
    if not blob_matches:
        problems.append(BundleProblem("manifest", "ciphertext_sha256 does not match the (authentic) ciphertext"))
    items, content_problems = _decode_plaintext(plaintext, manifest.incident_id)
    problems.extend(content_problems)
    plaintext_sha256 = sha256_hex(plaintext)
    if plaintext_sha256 != manifest.plaintext_sha256:
        problems.append(BundleProblem("manifest", "plaintext_sha256 does not match the sealed content"))
    if make_bundle_id(manifest.incident_id, plaintext_sha256) != manifest.bundle_id:
        problems.append(BundleProblem("manifest", "bundle_id does not derive from the sealed content"))
    if len(items) != manifest.item_count:
        problems.append(BundleProblem("manifest", f"lists {manifest.item_count} items; the bundle holds {len(items)}"))
    for n, (item, listed) in enumerate(zip(items, manifest.items, strict=False), 1):
        if item.event_id != listed.event_id:
            problems.append(BundleProblem("manifest", f"item {n}: event_id does not match the sealed item"))
        if item.source != listed.source:
            problems.append(BundleProblem("manifest", f"item {n} (event {item.event_id}): source does not match"))
        if item.sha256 != listed.sha256:
            problems.append(
                BundleProblem("manifest", f"item {n} (event {item.event_id}): SHA-256 does not match the sealed item")
            )
    return BundleCheck(manifest.bundle_id, tuple(problems)), (None if problems else items)


def _decode_plaintext(plaintext: bytes, incident_id: str) -> tuple[list[EvidenceItem], list[BundleProblem]]:
    """Items of an authenticated plaintext. Problems here mean a sealing bug, not tampering after sealing."""
    problems: list[BundleProblem] = []
    items: list[EvidenceItem] = []
    lines = plaintext.split(b"\n")
    if lines[-1] != b"" or len(lines) < 2:  # noqa: PLR2004  # a header line and the final newline at least
        return items, [BundleProblem("ciphertext", "the sealed content is not a bundle")]
    try:
        header = json.loads(lines[0])
        if header.get("format") != BUNDLE_FORMAT:
            problems.append(BundleProblem("ciphertext", f"the sealed content is not {BUNDLE_FORMAT}"))
        if header.get("incident_id") != incident_id:
            problems.append(BundleProblem("manifest", "incident_id does not match the sealed content"))
        for n, line in enumerate(lines[1:-1], 1):
            obj = json.loads(line)
            raw = base64.b64decode(obj["raw"], validate=True)
            item = EvidenceItem(str(obj["source"]), str(obj["event_id"]), raw)
            if item.sha256 != obj["sha256"]:
                problems.append(
                    BundleProblem("ciphertext", f"item {n} (event {item.event_id}): content does not match its SHA-256")
                )
            items.append(item)
        if header.get("items") != len(items):
            problems.append(BundleProblem("ciphertext", "the sealed item count does not match its items"))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        # The message of a JSON error may quote content: only the fact is reported.
        problems.append(BundleProblem("ciphertext", "the sealed content does not parse as a bundle"))
    return items, problems


# -- choosing what to seal ----------------------------------------------------------------------------


def evidence_window(incident: Incident, window: timedelta = DEFAULT_WINDOW) -> tuple[datetime, datetime]:
    """The time span whose events are sealed: the incident's events widened by ``window`` each side."""
    return incident.first_event_ts - window, incident.last_event_ts + window


def in_evidence_scope(
    incident: Incident,
    *,
    event_id: str,
    ts: datetime,
    actor: str | None,
    system: str | None,
    window: timedelta = DEFAULT_WINDOW,
) -> bool:
    """Whether an event belongs in the incident's evidence.

    The triggering events always; besides them, events of the incident's actor or
    on its system within :func:`evidence_window`. A filed incident names neither,
    so only its own events are sealed.
    """
    if event_id in incident.event_ids:
        return True
    start, end = evidence_window(incident, window)
    if not start <= ts <= end:
        return False
    return (incident.actor is not None and actor == incident.actor) or (
        incident.system is not None and system == incident.system
    )


# -- custody log ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CustodyEntry(Record):
    """One line of an incident's custody log: who did what to which bundle, chained to the line before.

    ``detail`` holds ids, hashes and counts only, never personal information.
    A line with a field this version does not know is refused (it would
    escape the hash).
    """

    seq: int
    at: datetime
    actor: str
    action: str
    bundle_id: str | None
    incident_id: str
    detail: dict[str, Any]
    prev_hash: str
    # Absent from entries written before keys, so their hashes stay as they were.
    key_id: str | None = None
    entry_hash: str
    mac: str | None = None

    omit_default: ClassVar[frozenset[str]] = frozenset({"key_id", "mac"})
    refused_as: ClassVar[tuple[Callable[[str], Exception], str] | None] = (_tampered, "entry")
    refuse_unknown: ClassVar[bool] = True

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """Check what the declaration cannot say: a MAC and its key id come together."""
        if isinstance(data, dict) and ("key_id" in data or "mac" in data):
            for name in ("key_id", "mac"):
                if not isinstance(data.get(name), str):
                    raise EvidenceTamperedError([f"entry: field {name!r} is missing or not a string"])
        return data

    @property
    def keyed(self) -> bool:
        """Whether the entry carries a MAC (written with an integrity key)."""
        return self.mac is not None

    def content(self) -> dict[str, Any]:
        """Every field but ``entry_hash`` and ``mac``: what the hash and the MAC cover."""
        body = self.to_json()
        del body["entry_hash"]
        body.pop("mac", None)
        return body

    def computed_hash(self) -> str:
        """The SHA-256 this entry's content hashes to (equal to ``entry_hash`` unless altered)."""
        return sha256_hex(canonical_json(self.content()))

    def check_mac(self, keyring: Keyring) -> MacResult | None:
        """The entry's MAC checked under ``keyring``; None when it has none (unkeyed, legacy)."""
        if self.mac is None or self.key_id is None:
            return None
        return keyring.check(CUSTODY_MAC_DOMAIN, self.content(), self.key_id, self.mac)


def append_entry(
    prev: CustodyEntry | None,
    *,
    at: datetime,
    actor: str,
    action: str,
    incident_id: str,
    bundle_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    keyring: Keyring | None = None,
) -> CustodyEntry:
    """The entry that follows ``prev`` (or starts the chain when ``prev`` is None).

    ``detail`` must be JSON-able; it is normalised through JSON so that what is
    hashed is exactly what is read back from the file. With a ``keyring`` that
    can sign, the entry carries its key id and MAC; without, it is unkeyed (and
    an unkeyed entry after a keyed one will fail verification as a downgrade).
    """
    check_incident_id(incident_id)
    _aware(at, "a custody entry's time")
    if not actor:
        raise EvidenceError("a custody entry needs an actor")
    if not _ACTION.fullmatch(action):
        raise EvidenceError(f"custody action {action!r} is not a short lower-case word (e.g. {VIEWED!r})")
    if bundle_id is not None:
        check_bundle_id(bundle_id)
    if prev is not None and prev.incident_id != incident_id:
        raise EvidenceError(f"custody entry for {incident_id} cannot follow an entry of {prev.incident_id}")
    try:
        normal = json.loads(canonical_json(dict(detail or {})))
    except (TypeError, ValueError) as exc:
        raise EvidenceError("custody detail must be JSON-able (ids, hashes, counts)") from exc
    content = CustodyEntry(
        seq=1 if prev is None else prev.seq + 1,
        at=at,
        actor=actor,
        action=action,
        bundle_id=bundle_id,
        incident_id=incident_id,
        detail=normal,
        prev_hash=GENESIS_HASH if prev is None else prev.entry_hash,
        entry_hash="",
        key_id=keyring.current if keyring is not None and keyring.can_sign else None,
    )
    if content.key_id is None or keyring is None:
        return replace(content, entry_hash=content.computed_hash())
    _, mac = keyring.sign(CUSTODY_MAC_DOMAIN, content.content())
    return replace(content, entry_hash=content.computed_hash(), mac=mac)


class ChainProblem(msgspec.Struct, Record, frozen=True):
    """One broken thing in a custody chain; ``seq`` is the entry it was seen at (None: the chain as a whole)."""

    seq: int | None
    message: str

    def __str__(self) -> str:
        return self.message


class ChainReport(msgspec.Struct, Record, frozen=True, kw_only=True):
    """The result of :func:`verify_chain`: OK, or every broken link and altered entry by seq.

    ``head_seq``/``head_hash`` (the last entry) let a caller anchor the chain
    elsewhere: deleting entries from the end is only visible against such an anchor.
    """

    entry_count: int = msgspec.field(name="entries")
    # Entries with no MAC before the first keyed one (legacy); one after is a problem.
    unkeyed: int = msgspec.field(default=0, name="unkeyed_entries")
    head_seq: int | None
    head_hash: str | None
    problems: tuple[ChainProblem, ...] = ()
    key_problems: tuple[ChainProblem, ...] = ()  # MACs under key ids the ring does not hold
    macs_checked: bool = False  # a keyring was given, so every MAC was checked
    hashes: Mapping[int, str] = msgspec.field(default_factory=dict)  # seq -> entry_hash

    # Its wire form (``evidence verify --json`` and the reviewer report's custody chain status) says
    # first what it found; how it checked and the hashes it read are for the caller only.
    computed: ClassVar[dict[str, str | None]] = {"status": None, "authentication": "status"}
    snapshot_only: ClassVar[frozenset[str]] = frozenset({"macs_checked", "hashes"})

    def __repr__(self) -> str:
        # Without the hashes: a report of a long chain would print every one.
        return f"ChainReport(entries={self.entry_count}, ok={self.ok}, authentication={self.authentication!r})"

    @property
    def ok(self) -> bool:
        """No problem found (hashes, links, numbering and, when checked, MACs)."""
        return not self.problems

    @property
    def status(self) -> str:
        """``intact`` or ``broken``."""
        return "intact" if self.ok else "broken"

    @property
    def authentication(self) -> str:
        """``keyed`` (every MAC checked and good), ``legacy`` (unkeyed entries), ``unchecked`` or ``empty``."""
        if not self.entry_count:
            return "empty"
        if self.unkeyed:
            return "legacy"
        if not self.macs_checked or self.key_problems:
            return "unchecked"
        return "keyed"


def verify_chain(
    entries: Sequence[CustodyEntry], *, incident_id: str | None = None, keyring: Keyring | None = None
) -> ChainReport:
    """Re-check every entry's hash, MAC (with ``keyring``), every link and the numbering, in file order.

    Each entry is compared with the one just before it, so an altered entry
    names itself ("hash does not match its content", "MAC does not verify"), a
    deleted one shows as a gap and a broken link, and reordered ones as
    out-of-order seqs and broken links. Recomputing the hashes does not help a
    rewrite: the MACs need the key. An unkeyed entry after a keyed one (MACs
    stripped) is a problem; unkeyed entries before any keyed one are counted as
    legacy (``unkeyed``), not authenticated.
    """
    problems: list[ChainProblem] = []
    key_problems: list[ChainProblem] = []
    prev: CustodyEntry | None = None
    highest = 0  # numbering is judged against the highest seq so far, so one misplaced entry is one finding
    seen_keyed = False
    unkeyed = 0
    hashes: dict[int, str] = {}
    for entry in entries:
        seq = entry.seq
        hashes.setdefault(seq, entry.entry_hash)
        if entry.computed_hash() != entry.entry_hash:
            problems.append(ChainProblem(seq, f"entry {seq}: hash does not match its content"))
        if entry.keyed:
            seen_keyed = True
            result = entry.check_mac(keyring) if keyring is not None else None
            if result is MacResult.BAD:
                problems.append(ChainProblem(seq, f"entry {seq}: MAC does not verify (the entry was rewritten)"))
            elif result is MacResult.UNKNOWN_KEY:
                key_problems.append(
                    ChainProblem(seq, f"entry {seq}: signed with integrity key id {entry.key_id}, not configured here")
                )
        elif seen_keyed:
            problems.append(ChainProblem(seq, f"entry {seq}: has no MAC although earlier entries do (MAC removed)"))
        else:
            unkeyed += 1
        if incident_id is not None and entry.incident_id != incident_id:
            problems.append(ChainProblem(seq, f"entry {seq}: belongs to incident {entry.incident_id}"))
        if prev is None:
            if seq != 1:
                problems.append(ChainProblem(seq, f"gap before seq {seq}: the chain does not start at seq 1"))
            if entry.prev_hash != GENESIS_HASH:
                problems.append(ChainProblem(seq, f"entry {seq}: prev_hash is not the start of a chain"))
        else:
            if seq == prev.seq:
                problems.append(ChainProblem(seq, f"entry {seq}: seq repeated"))
            elif seq > highest + 1:
                problems.append(ChainProblem(seq, f"gap after seq {highest}: next is seq {seq}"))
            elif seq <= highest:
                problems.append(ChainProblem(seq, f"entry {seq}: out of order (follows seq {prev.seq})"))
            # Links are always to the entry just before in the file: that is what the writer chained to.
            if entry.prev_hash != prev.entry_hash:
                problems.append(ChainProblem(seq, f"entry {seq}: prev_hash does not match entry {prev.seq}"))
        highest = max(highest, seq)
        prev = entry
    return ChainReport(
        entry_count=len(entries),
        head_seq=prev.seq if prev else None,
        head_hash=prev.entry_hash if prev else None,
        problems=tuple(problems),
        unkeyed=unkeyed,
        key_problems=tuple(key_problems),
        macs_checked=keyring is not None,
        hashes=hashes,
    )
