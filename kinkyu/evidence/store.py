"""The evidence store: one folder per incident, write-once bundles, an append-only custody log.

Layout under ``root``::

    <incident_id>/
        bundles/<bundle_id>.bin            nonce || AES-256-GCM ciphertext || tag
        bundles/<bundle_id>.manifest.json  the Manifest (ids, hashes, who/when/why; no content)
        custody.jsonl                      one CustodyEntry per line, hash-chained

Bundle files are written once (temporary file, fsync, rename) and never
replaced. ``custody.jsonl`` is only ever opened for appending, each entry is
fsynced, and an exclusive ``flock`` on it serialises writers so two processes
cannot give two entries the same seq. The pure work (sealing, hashing, MACs,
the chain) is :mod:`kinkyu.core.evidence`; this module only moves bytes.

With an integrity keyring every entry and manifest is MAC'd, and after each
entry the chain's head is handed to ``on_append`` as an
:class:`~kinkyu.core.integrity.Anchor` (the worker publishes it to the anchors
topic, :mod:`kinkyu.evidence.anchor`); :meth:`EvidenceStore.verify` compares the
file with the anchors it is given.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from kinkyu.core.evidence import (
    CHAIN_BREAK,
    SEALED,
    VERIFIED,
    VIEWED,
    BundleProblem,
    ChainProblem,
    ChainReport,
    CustodyEntry,
    EvidenceItem,
    Manifest,
    SealedBundle,
    append_entry,
    canonical_json,
    check_bundle,
    check_bundle_id,
    check_incident_id,
    key_id,
    open_bundle,
    sha256_hex,
    verify_chain,
)
from kinkyu.core.integrity import (
    NOT_CHECKED,
    Anchor,
    AnchorCheck,
    AnchorState,
    Keyring,
    MacResult,
    compare_with_anchor,
    make_anchor,
)
from kinkyu.core.timefmt import utcnow
from kinkyu.evidence.exceptions import (
    EvidenceAnchorError,
    EvidenceError,
    EvidenceNotFoundError,
    EvidenceTamperedError,
)

log = logging.getLogger(__name__)

BUNDLES = "bundles"
CUSTODY = "custody.jsonl"
BIN = ".bin"
MANIFEST = ".manifest.json"

# Evidence is encrypted, but who may even list it is still limited to the service account.
_DIR_MODE = 0o700
_FILE_MODE = 0o600


AnchorSink = Callable[[Anchor], None]


def evidence_chain(incident_id: str) -> str:
    """The name an incident's custody chain is anchored under: ``evidence/<incident id>``."""
    return f"evidence/{check_incident_id(incident_id)}"


# -- reports --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BundleStatus:
    """What verification found for one bundle; ``problems`` name the file at fault."""

    bundle_id: str
    items: int | None
    plaintext_sha256: str | None
    sealed_seq: int | None
    problems: tuple[str, ...] = ()
    key_problem: str | None = None
    keyed: bool = False  # its manifest's MAC verified

    @property
    def status(self) -> str:
        """``intact``, ``tampered``, ``wrong-key`` (a key it was sealed or MAC'd under is not given) or ``unkeyed``."""
        if self.problems:
            return "tampered"
        if self.key_problem:
            return "wrong-key"
        return "intact" if self.keyed else "unkeyed"

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "bundle_id": self.bundle_id,
            "status": self.status,
            "items": self.items,
            "plaintext_sha256": self.plaintext_sha256,
            "sealed_seq": self.sealed_seq,
            "problems": list(self.problems),
            "key_problem": self.key_problem,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Every bundle and the custody chain of one incident, re-checked.

    ``problems`` lists each altered, missing or unexpected file and each broken
    custody entry (``bundles/<id>.bin: …``, ``custody.jsonl: entry 3: …``);
    ``key_problems`` the bundles the given key cannot check (configuration, not tampering).
    """

    incident_id: str
    bundles: tuple[BundleStatus, ...]
    chain: ChainReport
    problems: tuple[str, ...]
    key_problems: tuple[str, ...]
    unkeyed: tuple[str, ...] = ()  # what carries no MAC (written before integrity keys): consistent, not authenticated
    anchor: AnchorCheck = NOT_CHECKED

    @property
    def tampered(self) -> bool:
        """Something was altered, removed or added."""
        return bool(self.problems)

    @property
    def ok(self) -> bool:
        """Every bundle and the whole chain checked out and are authenticated by integrity keys."""
        return not self.problems and not self.key_problems and not self.unkeyed

    @property
    def status(self) -> str:
        """``intact``, ``tampered``, ``wrong-key`` or ``unkeyed`` (legacy: hashes consistent, nothing authenticated)."""
        if self.problems:
            return "tampered"
        if self.key_problems:
            return "wrong-key"
        return "unkeyed" if self.unkeyed else "intact"

    def to_json(self) -> dict[str, Any]:
        """Wire form (``kinkyu evidence verify --json``; the reviewer report's evidence manifest)."""
        return {
            "incident_id": self.incident_id,
            "status": self.status,
            "bundles": [b.to_json() for b in self.bundles],
            "custody": self.chain.to_json(),
            "anchor": self.anchor.to_json(),
            "problems": list(self.problems),
            "key_problems": list(self.key_problems),
            "unkeyed": list(self.unkeyed),
        }


# -- the custody file -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Custody:
    """A custody log as read: the entries that parse, and a problem per line that does not."""

    entries: list[CustodyEntry]
    bad_lines: list[ChainProblem]
    ends_cleanly: bool

    @classmethod
    def parse(cls, data: bytes) -> _Custody:
        entries: list[CustodyEntry] = []
        bad: list[ChainProblem] = []
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, as every append leaves it
        for n, line in enumerate(lines, 1):
            try:
                entries.append(CustodyEntry.from_json(json.loads(line)))
            except ValueError:
                # The decoder's message may quote the line: only the fact is reported.
                bad.append(ChainProblem(None, f"line {n}: not a JSON custody entry"))
            except EvidenceTamperedError as exc:
                bad.append(ChainProblem(None, f"line {n}: {'; '.join(exc.problems)}"))
        if tail:
            bad.append(ChainProblem(None, f"line {len(lines) + 1}: incomplete (no final newline)"))
        return cls(entries, bad, ends_cleanly=not tail)

    def report(self, incident_id: str, keyring: Keyring | None = None) -> ChainReport:
        chain = verify_chain(self.entries, incident_id=incident_id, keyring=keyring)
        return msgspec.structs.replace(chain, problems=(*self.bad_lines, *chain.problems))

    def sealed(self) -> dict[str, CustodyEntry]:
        """The first ``sealed`` entry of each bundle."""
        found: dict[str, CustodyEntry] = {}
        for entry in self.entries:
            if entry.action == SEALED and entry.bundle_id is not None:
                found.setdefault(entry.bundle_id, entry)
        return found


class _Appender:
    """Appends entries to a locked custody file, each written whole and fsynced."""

    def __init__(
        self,
        fh: IO[bytes],
        custody: _Custody,
        incident_id: str,
        clock: Callable[[], datetime],
        keyring: Keyring | None,
    ) -> None:
        self._fh = fh
        self.custody = custody
        self.incident_id = incident_id
        self._clock = clock
        self._keyring = keyring

    def append(
        self, actor: str, action: str, bundle_id: str | None, detail: Mapping[str, Any] | None = None
    ) -> CustodyEntry:
        prev = self.custody.entries[-1] if self.custody.entries else None
        entry = append_entry(
            prev,
            at=self._clock(),
            actor=actor,
            action=action,
            incident_id=self.incident_id,
            bundle_id=bundle_id,
            detail=detail,
            keyring=self._keyring,
        )
        line = canonical_json(entry.to_json()) + b"\n"
        if not self.custody.ends_cleanly:
            # A torn last line (a crash mid-write) stays as it is, reported by verify; the new
            # entry starts on its own line rather than being glued onto it.
            line = b"\n" + line
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.custody.entries.append(entry)
        self.custody.ends_cleanly = True
        return entry


# -- the store ------------------------------------------------------------------------------------------------


class EvidenceStore:
    """Sealed evidence on disk, per incident, under ``root``.

    ``clock`` gives custody entries their time (tests pass a fixed one).
    ``keyring``: the integrity keys; with a current key every new entry and
    manifest is MAC'd, and every key verifies. ``on_append``: called with the
    chain's new head (an :class:`~kinkyu.core.integrity.Anchor`) after each
    entry is written, and again when a put finds its bundle already sealed
    (so a head whose publication was interrupted is published on the retry);
    it must not block for long. ``anchored``: the head last anchored for a
    chain (:meth:`kinkyu.evidence.anchor.AnchorPublisher.known`); before
    appending, a log that does not hold it gets a ``chain_break`` entry first,
    which verify reports. Every method raises :class:`EvidenceError` or a
    subclass; OS errors are converted with the path and the OS's reason.
    """

    def __init__(
        self,
        root: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        keyring: Keyring | None = None,
        on_append: AnchorSink | None = None,
        anchored: Callable[[str], Anchor | None] | None = None,
    ) -> None:
        self.root = Path(root)
        self._clock = clock
        self.keyring = keyring
        self._on_append = on_append
        self._anchored = anchored

    # -- paths

    def incident_dir(self, incident_id: str) -> Path:
        """The incident's folder (whether or not it exists)."""
        return self.root / check_incident_id(incident_id)

    def has_incident(self, incident_id: str) -> bool:
        """Whether the store holds a folder for this incident."""
        return self.incident_dir(incident_id).is_dir()

    def _existing(self, incident_id: str) -> Path:
        folder = self.incident_dir(incident_id)
        if not folder.is_dir():
            raise EvidenceNotFoundError(f"no evidence for incident {incident_id} in {self.root}")
        return folder

    # -- writing

    def put_bundle(self, sealed: SealedBundle, actor: str) -> Manifest:
        """Store a sealed bundle and record ``sealed`` in the custody log; the stored manifest.

        Idempotent: when the bundle id is already stored with the same content (a
        redelivery sealed again, with another nonce and time) nothing is written
        and the first manifest is returned. The same id with other content is an
        EvidenceError (run verify). A put interrupted after writing the files is
        completed by the next put of the same bundle.
        """
        manifest = sealed.manifest
        incident_id = check_incident_id(manifest.incident_id)
        bundle_id = check_bundle_id(manifest.bundle_id)
        if not bundle_id.startswith(f"EVB-{incident_id}-"):
            raise EvidenceError(f"bundle {bundle_id} does not belong to incident {incident_id}")
        if sha256_hex(sealed.blob) != manifest.ciphertext_sha256:
            raise EvidenceTamperedError([f"bundle {bundle_id}: ciphertext does not match its manifest; not stored"])
        if self.keyring is not None and self.keyring.can_sign and not manifest.keyed:
            manifest = manifest.signed(self.keyring)
        bundles = self.incident_dir(incident_id) / BUNDLES
        _mkdirs(self.root, bundles.parent, bundles)
        with self._appending(incident_id) as appender:
            manifest_path = bundles / f"{bundle_id}{MANIFEST}"
            if manifest_path.exists():
                stored = _read_manifest(manifest_path)
                if stored.plaintext_sha256 != manifest.plaintext_sha256 or stored.incident_id != incident_id:
                    raise EvidenceError(
                        f"bundle {bundle_id} is already stored with other content; "
                        f"run `kinkyu evidence verify {incident_id}`"
                    )
                if bundle_id in appender.custody.sealed():
                    log.info(
                        "evidence bundle already sealed",
                        extra={"incident_id": incident_id, "bundle_id": bundle_id},
                    )
                    head = appender.custody.entries[-1] if appender.custody.entries else None
                    self._anchor(head)  # a retry after a failed publication: the head is published now
                    return stored
                manifest = stored  # an interrupted put: its files are there, its custody entry is not
            else:
                # The blob first: a manifest never names a blob that is not there.
                _write_once(bundles / f"{bundle_id}{BIN}", sealed.blob)
                _write_once(manifest_path, _manifest_bytes(manifest))
                _fsync_dir(bundles)
            detail: dict[str, Any] = {
                "manifest_sha256": manifest.sha256(),
                "ciphertext_sha256": manifest.ciphertext_sha256,
                "plaintext_sha256": manifest.plaintext_sha256,
                "items": manifest.item_count,
                "key_id": manifest.key_id,
            }
            if manifest.mac is not None:
                detail["manifest_mac"] = manifest.mac  # so that a manifest whose MAC was stripped shows
            entry = appender.append(actor, SEALED, bundle_id, detail)
        self._anchor(entry)
        log.info(
            "evidence bundle sealed",
            extra={"incident_id": incident_id, "bundle_id": bundle_id, "items": manifest.item_count},
        )
        return manifest

    def record_access(
        self,
        incident_id: str,
        actor: str,
        action: str,
        bundle_id: str | None = None,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> CustodyEntry:
        """Append a custody entry (``viewed``, ``exported``, ``transferred``, …); the entry written.

        ``bundle_id``, when given, must be stored for this incident. ``detail``
        holds ids, hashes and counts only (e.g. ``{"to": "city-audit"}``).
        """
        self._existing(incident_id)
        if bundle_id is not None:
            check_bundle_id(bundle_id)
            if not (self.incident_dir(incident_id) / BUNDLES / f"{bundle_id}{MANIFEST}").exists():
                raise EvidenceNotFoundError(f"no bundle {bundle_id} in the evidence of incident {incident_id}")
        with self._appending(incident_id) as appender:
            entry = appender.append(actor, action, bundle_id, detail)
        self._anchor(entry)
        return entry

    def head_anchor(self, incident_id: str) -> Anchor | None:
        """The anchor of the incident's custody chain as it stands (None: no keyring that signs, or no entry)."""
        entries = _Custody.parse(self._read_custody(incident_id)).entries
        return self._anchor_of(entries[-1]) if entries else None

    def _anchor_of(self, entry: CustodyEntry) -> Anchor | None:
        if self.keyring is None or not self.keyring.can_sign:
            return None
        return make_anchor(evidence_chain(entry.incident_id), entry.seq, entry.entry_hash, self._clock(), self.keyring)

    def _record_break(self, appender: _Appender) -> None:
        """Before appending: if the log does not hold the head anchored outside the volume, say so in the chain."""
        if self._anchored is None:
            return
        entries = appender.custody.entries
        anchor = self._anchored(evidence_chain(appender.incident_id))
        last = max((e.seq for e in entries), default=0)
        check = compare_with_anchor(anchor, {e.seq: e.entry_hash for e in entries}, last, CUSTODY)
        if check.state is not AnchorState.MISMATCH or anchor is None:
            return
        log.error(
            "custody log does not hold its anchored head: the break is recorded",
            extra={"incident_id": appender.incident_id, "anchored_seq": anchor.seq, "found_seq": last},
        )
        detail = {"anchored_seq": anchor.seq, "anchored_head": anchor.head, "found_seq": last}
        self._anchor(appender.append("kinkyu", CHAIN_BREAK, None, detail))

    def _anchor(self, entry: CustodyEntry | None) -> None:
        """Hand the chain's new head to ``on_append`` (after the entry is on disk: an anchor never runs ahead)."""
        if entry is None or self._on_append is None:
            return
        anchor = self._anchor_of(entry)
        if anchor is None:
            return
        try:
            self._on_append(anchor)
        except EvidenceAnchorError:
            raise
        except Exception as exc:
            raise EvidenceAnchorError(
                f"custody entry {entry.seq} of {entry.incident_id} is written, but its anchor could not be "
                f"handed on ({type(exc).__name__})"
            ) from exc

    @contextmanager
    def _appending(self, incident_id: str) -> Iterator[_Appender]:
        path = self.incident_dir(incident_id) / CUSTODY
        try:
            created = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
            with os.fdopen(fd, "ab") as fh:
                # Held until the entry is written: the read of the last entry and the append are one step.
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                if created:
                    _fsync_dir(path.parent)
                appender = _Appender(fh, _Custody.parse(path.read_bytes()), incident_id, self._clock, self.keyring)
                self._record_break(appender)
                yield appender
        except OSError as exc:
            raise EvidenceError(f"cannot write the custody log {path}: {exc.strerror}") from exc

    # -- reading

    def manifests(self, incident_id: str) -> list[Manifest]:
        """The incident's manifests, oldest seal first. EvidenceTamperedError names an unreadable one."""
        bundles = self._existing(incident_id) / BUNDLES
        found = [_read_manifest(p) for p in _listdir(bundles) if p.name.endswith(MANIFEST)]
        return sorted(found, key=lambda m: (m.sealed_at, m.bundle_id))

    def load_bundle(self, incident_id: str, bundle_id: str) -> SealedBundle:
        """A stored bundle's manifest and blob, unchecked (see :func:`kinkyu.core.evidence.open_bundle`)."""
        bundles = self._existing(incident_id) / BUNDLES
        check_bundle_id(bundle_id)
        manifest_path, bin_path = bundles / f"{bundle_id}{MANIFEST}", bundles / f"{bundle_id}{BIN}"
        if not manifest_path.exists() or not bin_path.exists():
            raise EvidenceNotFoundError(f"no bundle {bundle_id} in the evidence of incident {incident_id}")
        return SealedBundle(_read_manifest(manifest_path), _read_bytes(bin_path))

    def view(self, incident_id: str, bundle_id: str, key: bytes, actor: str) -> list[EvidenceItem]:
        """Decrypt a bundle's items for ``actor``, recording ``viewed`` in the custody log first.

        The entry is written before anything is disclosed: if the access cannot
        be recorded, nothing is shown. Raises EvidenceTamperedError/EvidenceKeyError
        like :func:`~kinkyu.core.evidence.open_bundle`.
        """
        sealed = self.load_bundle(incident_id, bundle_id)
        self.record_access(incident_id, actor, VIEWED, bundle_id)
        return open_bundle(sealed, key)

    def custody(self, incident_id: str) -> list[CustodyEntry]:
        """The custody entries in file order; EvidenceTamperedError when a line does not parse."""
        custody = _Custody.parse(self._read_custody(incident_id))
        if custody.bad_lines:
            raise EvidenceTamperedError(f"{CUSTODY}: {p.message}" for p in custody.bad_lines)
        return custody.entries

    def chain_report(self, incident_id: str, *, keyring: Keyring | None = None) -> ChainReport:
        """The custody chain re-checked: no key needed (``keyring``: its MACs too); unreadable lines are problems."""
        return _Custody.parse(self._read_custody(incident_id)).report(incident_id, keyring)

    def summary(self, incident_id: str) -> dict[str, Any]:
        """The evidence manifest for a report: bundle ids, hashes, item counts, custody chain status.

        Checks the chain but not the bundles (no key): :meth:`verify` for that.
        """
        return {
            "incident_id": incident_id,
            "bundles": [m.to_json() for m in self.manifests(incident_id)],
            "custody": self.chain_report(incident_id).to_json(),
        }

    def _read_custody(self, incident_id: str) -> bytes:
        path = self._existing(incident_id) / CUSTODY
        return _read_bytes(path) if path.exists() else b""

    # -- verification

    def verify(
        self,
        incident_id: str,
        key: bytes,
        *,
        actor: str | None = None,
        anchors: Mapping[str, Anchor] | None = None,
    ) -> VerifyReport:
        """Re-check every bundle and the custody chain; a report naming each altered, missing or extra thing.

        Each bundle: its GCM tag with ``key``, every hash against its manifest, the
        manifest's MAC, and the manifest against the hash (and MAC) its ``sealed``
        custody entry recorded. The chain: hashes, links, numbering and MACs under
        the store's keyring, then its head against ``anchors`` (what the anchors
        topic holds, by chain name; None: not checked). An incident whose folder
        is gone but which has an anchor is reported as tampered, not as unknown.

        With ``actor``, the verification and its result are then recorded as a
        ``verified`` custody entry (not part of the report it returns).
        """
        key_id(key)  # a key of the wrong length is a configuration error, raised before anything is read
        anchor = anchors.get(evidence_chain(incident_id)) if anchors is not None else None
        folder = self.incident_dir(incident_id)
        if not folder.is_dir() and anchor is not None:
            return self._deleted(incident_id, anchor)
        folder = self._existing(incident_id)
        custody = _Custody.parse(self._read_custody(incident_id))
        chain = custody.report(incident_id, self.keyring)
        problems = [f"{CUSTODY}: {p.message}" for p in chain.problems]
        key_problems = [f"{CUSTODY}: {p.message}" for p in chain.key_problems]
        unkeyed: list[str] = []
        if chain.unkeyed:
            unkeyed.append(
                f"{CUSTODY}: {chain.unkeyed} of {chain.entry_count} entries carry no MAC (written before "
                "integrity keys were configured)"
            )
        if self.keyring is None and any(e.keyed for e in custody.entries):
            key_problems.append(
                f"{CUSTODY}: its entries are MAC'd, but no integrity keys are configured here "
                "(KINKYU_INTEGRITY_KEYS): they cannot be authenticated"
            )
        if not custody.entries and not custody.bad_lines:
            problems.append(f"{CUSTODY}: missing or empty")
        problems.extend(
            f"{CUSTODY}: entry {e.seq}: when it was written the log did not hold the head anchored outside the "
            f"volume (seq {e.detail.get('anchored_seq')}; the log ended at seq {e.detail.get('found_seq')}): "
            "entries had been cut off or rewritten before it"
            for e in custody.entries
            if e.action == CHAIN_BREAK
        )
        sealed = custody.sealed()
        bundle_ids = set(sealed)
        for path in _listdir(folder / BUNDLES):
            if path.name.endswith(MANIFEST):
                bundle_ids.add(path.name.removesuffix(MANIFEST))
            elif path.name.endswith(BIN):
                bundle_ids.add(path.name.removesuffix(BIN))
            elif not path.name.startswith("."):  # dot files are our interrupted temporaries
                problems.append(f"{BUNDLES}/{path.name}: not an evidence file")
        statuses = [self._check_stored(folder, b, sealed.get(b), key, incident_id) for b in sorted(bundle_ids)]
        for status in statuses:
            problems.extend(status.problems)
            if status.key_problem:
                key_problems.append(status.key_problem)
            elif not status.problems and not status.keyed:
                unkeyed.append(f"{BUNDLES}/{status.bundle_id}{MANIFEST}: carries no MAC (sealed before integrity keys)")
        anchor_check = NOT_CHECKED
        if anchors is not None:
            last = max(chain.hashes, default=0)
            anchor_check = compare_with_anchor(anchor, chain.hashes, last, CUSTODY)
            if anchor_check.state is AnchorState.MISMATCH and anchor_check.problem:
                problems.append(anchor_check.problem)
        report = VerifyReport(
            incident_id=incident_id,
            bundles=tuple(statuses),
            chain=chain,
            problems=tuple(problems),
            key_problems=tuple(key_problems),
            unkeyed=tuple(unkeyed),
            anchor=anchor_check,
        )
        log.info(
            "evidence verified",
            extra={
                "incident_id": incident_id,
                "status": report.status,
                "problems": len(report.problems),
                "anchor": anchor_check.state.value,
            },
        )
        if actor is not None:
            self.record_verification(report, actor)
        return report

    def _deleted(self, incident_id: str, anchor: Anchor) -> VerifyReport:
        problem = (
            f"the evidence folder of {incident_id} is missing from {self.root}, but the anchor outside the volume "
            f"records {anchor.seq} custody entr{'y' if anchor.seq == 1 else 'ies'} (published "
            f"{anchor.at.isoformat()}): it was deleted (or this is not the store it was sealed into)"
        )
        check = AnchorCheck(AnchorState.MISMATCH, problem=problem, anchor_seq=anchor.seq)
        log.info("evidence verified", extra={"incident_id": incident_id, "status": "tampered", "anchor": "mismatch"})
        return VerifyReport(
            incident_id, (), ChainReport(entry_count=0, head_seq=None, head_hash=None), (problem,), (), (), check
        )

    def record_verification(self, report: VerifyReport, actor: str) -> CustodyEntry:
        """Append a ``verified`` custody entry with the report's result (status and counts only)."""
        detail = {
            "result": report.status,
            "problems": len(report.problems),
            "bundles": len(report.bundles),
            "head_seq": report.chain.head_seq,
            "head_hash": report.chain.head_hash,
        }
        return self.record_access(report.incident_id, actor, VERIFIED, detail=detail)

    def _check_stored(
        self, folder: Path, bundle_id: str, sealed: CustodyEntry | None, key: bytes, incident_id: str
    ) -> BundleStatus:
        bin_name, manifest_name = f"{BUNDLES}/{bundle_id}{BIN}", f"{BUNDLES}/{bundle_id}{MANIFEST}"
        bin_path, manifest_path = folder / bin_name, folder / manifest_name
        at_entry = f" (sealed at custody entry {sealed.seq})" if sealed else ""
        problems: list[str] = []
        if sealed is None:
            problems.append(f"{BUNDLES}/{bundle_id}: stored, but the custody log has no 'sealed' entry for it")
        if not bin_path.exists():
            problems.append(f"{bin_name}: missing{at_entry}")
        manifest: Manifest | None = None
        if not manifest_path.exists():
            problems.append(f"{manifest_name}: missing{at_entry}")
        else:
            try:
                manifest = _read_manifest(manifest_path)
            except EvidenceTamperedError as exc:
                problems.extend(exc.problems)
        key_problems: list[str] = []
        keyed = False
        if manifest is not None:
            keyed = self._check_manifest_mac(manifest, manifest_name, sealed, problems, key_problems)
            if manifest.bundle_id != bundle_id:
                problems.append(f"{manifest_name}: names bundle {manifest.bundle_id}")
            if manifest.incident_id != incident_id:
                problems.append(f"{manifest_name}: names incident {manifest.incident_id}")
            if sealed is not None and sealed.detail.get("manifest_sha256") != manifest.sha256():
                recorded = f"the manifest recorded when it was sealed (custody entry {sealed.seq})"
                problems.append(f"{manifest_name}: differs from {recorded}")
            if bin_path.exists():
                check = check_bundle(SealedBundle(manifest, _read_bytes(bin_path)), key)
                problems.extend(_name_file(bundle_id, p) for p in check.problems)
                if check.key_problem:
                    key_problems.append(check.key_problem)
        return BundleStatus(
            bundle_id=bundle_id,
            items=manifest.item_count if manifest else None,
            plaintext_sha256=manifest.plaintext_sha256 if manifest else None,
            sealed_seq=sealed.seq if sealed else None,
            problems=tuple(problems),
            key_problem="; ".join(key_problems) or None,
            keyed=keyed,
        )

    def _check_manifest_mac(
        self,
        manifest: Manifest,
        name: str,
        sealed: CustodyEntry | None,
        problems: list[str],
        key_problems: list[str],
    ) -> bool:
        """Check the manifest's MAC (and that it was not stripped); whether it is authenticated."""
        recorded = sealed.detail.get("manifest_mac") if sealed is not None else None
        if manifest.mac is None:
            if recorded is not None or (sealed is not None and sealed.keyed):
                problems.append(f"{name}: has no MAC although it was sealed with one (the MAC was removed)")
            return False
        if sealed is not None and not sealed.keyed:
            # A keyed manifest is only ever written beside a keyed custody entry: the entry's MAC was stripped.
            problems.append(f"{name}: carries a MAC but its 'sealed' custody entry {sealed.seq} does not")
        if recorded is not None and recorded != manifest.mac:
            problems.append(f"{name}: its MAC is not the one recorded when it was sealed (custody entry {sealed.seq})")  # type: ignore[union-attr]  # recorded implies sealed
        if self.keyring is None:
            key_problems.append(
                f"{name}: MAC'd, but no integrity keys are configured here (KINKYU_INTEGRITY_KEYS): not authenticated"
            )
            return False
        result = manifest.check_mac(self.keyring)
        if result is MacResult.BAD:
            problems.append(f"{name}: MAC does not verify (the manifest was edited)")
        elif result is MacResult.UNKNOWN_KEY:
            key_problems.append(f"{name}: MAC'd with integrity key id {manifest.mac_key_id}, not configured here")
        return result is MacResult.OK


# -- file helpers ----------------------------------------------------------------------------------------------


def _name_file(bundle_id: str, problem: BundleProblem) -> str:
    files = {
        "ciphertext": f"{BUNDLES}/{bundle_id}{BIN}",
        "manifest": f"{BUNDLES}/{bundle_id}{MANIFEST}",
        "bundle": f"{BUNDLES}/{bundle_id}{BIN} and {MANIFEST}",
    }
    return f"{files.get(problem.part, f'{BUNDLES}/{bundle_id}')}: {problem.message}"


def _manifest_bytes(manifest: Manifest) -> bytes:
    # Indented for people; the hash in the custody log is over the canonical form, not these bytes.
    return json.dumps(manifest.to_json(), indent=2, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"


def _read_manifest(path: Path) -> Manifest:
    name = f"{BUNDLES}/{path.name}"
    try:
        data = json.loads(_read_bytes(path))
    except ValueError as exc:
        raise EvidenceTamperedError([f"{name}: not valid JSON"]) from exc
    try:
        return Manifest.from_json(data)
    except EvidenceTamperedError as exc:
        raise EvidenceTamperedError(f"{name}: {p}" for p in exc.problems) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc


def _listdir(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as exc:
        raise EvidenceError(f"cannot list {folder}: {exc.strerror}") from exc


def _mkdirs(root: Path, *folders: Path) -> None:
    """Create the store root (with its parents) and then each folder, the latter private to the owner."""
    folder = root
    try:
        root.mkdir(parents=True, exist_ok=True)
        for folder in folders:
            folder.mkdir(mode=_DIR_MODE, exist_ok=True)
    except OSError as exc:
        raise EvidenceError(f"cannot create the evidence folder {folder}: {exc.strerror}") from exc


def _write_once(path: Path, data: bytes) -> None:
    """Write a file whole: a temporary dot file, fsync, then rename over any unrecorded leftover."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EvidenceError(f"cannot write {path}: {exc.strerror}") from exc


def _fsync_dir(folder: Path) -> None:
    # A rename or a new file is durable only once its directory entry is.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
