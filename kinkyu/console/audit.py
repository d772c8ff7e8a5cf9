"""The console's audit log: who viewed or did what, when, with what outcome; append-only and hash-chained.

One JSON object per line (canonical JSON: sorted keys, ASCII)::

    {"action": "incident.view", "detail": "", "hash": "…", "outcome": "allowed", "prev": "…",
     "role": "city", "seq": 12, "target": "INC-20261121-0001", "ts": "2026-11-21T01:05:00.000000+00:00",
     "who": "koganei-city"}

``hash`` is the SHA-256 of the entry's canonical JSON without ``hash`` and
``mac`` (so ``prev``, the previous entry's hash, is covered); the first entry's
``prev`` is 64 zeros. Editing, removing, inserting or reordering lines breaks
the chain, and :meth:`AuditLog.verify` names the line. The file is only ever
appended to, each entry is fsynced, an in-process lock and an exclusive
``flock`` serialise writers, and a restarted console continues the chain
from the last entry in the file.

Whoever can write the file can also recompute every hash. So, with integrity
keys (``KINKYU_INTEGRITY_KEYS``, :mod:`kinkyu.core.integrity`), each entry also
carries ``key_id`` and ``mac`` (HMAC-SHA256 of the same content under a key the
data volume does not hold), and after each entry the chain's head is handed to
``on_append`` as an anchor, which the console publishes outside the volume
(:mod:`kinkyu.evidence.anchor`); :meth:`AuditLog.report` compares the file
with it, so cutting the newest entries off shows too. Entries written before
keys were configured carry no MAC and are reported as unkeyed (legacy).

The log holds no personal data: usernames, roles, action codes, incident and
contract ids, an outcome and a short detail code. :meth:`AuditLog.append`
refuses anything else (spaces, non-ASCII text, long values) rather than store it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, get_args

from kinkyu.console.exceptions import AuditLogError
from kinkyu.core.evidence import canonical_json
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

log = logging.getLogger("kinkyu.console.audit")

Outcome = Literal["allowed", "refused"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
GENESIS = "0" * 64

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_CHUNK = 64 * 1024
# How far back from the end a restarted console looks for the last whole entry before giving up.
_TAIL_SCAN_LIMIT = 4 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_PROBLEMS = 1_000

# Codes and ids only: ASCII letters, digits and a few separators; no spaces, so no free text (or names).
_CODE = re.compile(r"[A-Za-z0-9._:/@=,+#-]*", re.ASCII)
_LIMITS = {"who": 64, "role": 32, "action": 64, "target": 200, "detail": 200}
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_FIELDS = frozenset({"seq", "ts", "who", "role", "action", "target", "outcome", "detail", "prev", "hash"})
_KEYED_FIELDS = _FIELDS | {"key_id", "mac"}
MAC_DOMAIN = "kinkyu-console-audit/1"
CHAIN = "audit/console"  # the anchor's name: one audit log per data volume, shared by its consoles
CHAIN_BREAK = "audit.chain-break"
_BREAK = {"who": "kinkyu", "role": "system", "action": CHAIN_BREAK, "target": "audit-log", "outcome": "refused"}


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise AuditLogError("the audit clock must return an aware datetime (UTC)")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """What the hash and the MAC cover: everything but themselves (``key_id`` included when present)."""
    return {k: v for k, v in body.items() if k not in {"hash", "mac"}}


def _entry_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(_content(body))).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    seq: int
    ts: datetime
    who: str
    role: str
    action: str
    target: str
    outcome: Outcome
    detail: str
    prev: str
    hash: str
    key_id: str | None = None
    mac: str | None = None

    @property
    def keyed(self) -> bool:
        """Whether the entry carries a MAC (written with an integrity key)."""
        return self.mac is not None

    def to_json(self) -> dict[str, Any]:
        """Wire (and file) form."""
        body = {
            "seq": self.seq,
            "ts": _ts(self.ts),
            "who": self.who,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
            "prev": self.prev,
            "hash": self.hash,
        }
        if self.mac is not None:
            body["key_id"] = self.key_id
            body["mac"] = self.mac
        return body

    @classmethod
    def from_json(cls, data: Any) -> AuditEntry:
        """Parse a file line's object; ValueError if it is not an entry's shape (the hash is not checked here)."""
        if not isinstance(data, dict) or set(data) not in {_FIELDS, _KEYED_FIELDS}:
            raise ValueError("not an audit entry's keys")
        seq, outcome = data["seq"], data["outcome"]
        strings: tuple[str, ...] = ("ts", "who", "role", "action", "target", "detail", "prev", "hash")
        if "mac" in data:
            strings = (*strings, "key_id", "mac")
        if type(seq) is not int or outcome not in OUTCOMES or not all(isinstance(data[k], str) for k in strings):
            raise ValueError("not an audit entry's types")
        ts = datetime.fromisoformat(data["ts"])
        if ts.tzinfo is None:
            raise ValueError("ts without a time zone")
        return cls(
            seq=seq,
            ts=ts,
            who=data["who"],
            role=data["role"],
            action=data["action"],
            target=data["target"],
            outcome=outcome,
            detail=data["detail"],
            prev=data["prev"],
            hash=data["hash"],
            key_id=data.get("key_id"),
            mac=data.get("mac"),
        )


_NOT_CODE = re.compile(r"[^A-Za-z0-9._:/@=,+#-]", re.ASCII)


def as_code(value: str, *, limit: int = 200) -> str:
    """``value`` made fit for an audit field: every other character becomes ``_``, cut to ``limit``.

    For values the console did not choose (a request path, say) that must be
    recorded rather than refused. Ids and codes pass unchanged.
    """
    return _NOT_CODE.sub("_", value)[:limit]


def _check_code(name: str, value: str, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise AuditLogError(f"audit {name} must be a string")
    if required and not value:
        raise AuditLogError(f"audit {name} is required")
    if len(value) > _LIMITS[name] or not _CODE.fullmatch(value):
        # The value is not quoted: it is exactly what might be personal data.
        raise AuditLogError(
            f"audit {name} must be a short code or id (at most {_LIMITS[name]} ASCII letters, digits and ._:/@=,+#-; "
            "no spaces): the audit log holds no free text"
        )


def _lines_reversed(fh: BinaryIO, end: int, limit: int | None = None) -> Iterator[bytes]:
    """The file's lines up to ``end``, last first, without their newline (a torn last line included)."""
    pos = end
    buf = b""
    scanned = 0
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        scanned += step
        parts = buf.split(b"\n")
        buf = parts[0]
        yield from reversed(parts[1:])
        if limit is not None and scanned >= limit:
            return
    yield buf


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    hash: str
    ends_cleanly: bool
    ino: int
    size: int


class AuditLog:
    """The audit log at ``path`` (created on first append, mode 0600; a folder it creates is 0700).

    ``clock`` gives entries their time (an aware datetime; tests pass a fixed
    one). ``keyring``: the integrity keys; with a current key every entry is
    MAC'd, and every key verifies. ``on_append``: called with the chain's new
    head (an :class:`~kinkyu.core.integrity.Anchor`) after each entry is on
    disk; it must not block (the console's publisher queues it). ``anchored``:
    the head last anchored (:meth:`kinkyu.evidence.anchor.AnchorPublisher.known`);
    a file found not to hold it gets an ``audit.chain-break`` entry before
    anything else is appended, and :meth:`report` names it. Every method
    raises :class:`AuditLogError` on I/O failure, naming the file and the OS's reason.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        keyring: Keyring | None = None,
        on_append: Callable[[Anchor], None] | None = None,
        anchored: Callable[[str], Anchor | None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self.keyring = keyring
        self._on_append = on_append
        self._anchored = anchored
        self._lock = threading.Lock()
        self._head: _Head | None = None
        self._highest_written = 0  # the newest seq this process wrote, to notice the newest lines being removed
        self._noticed: list[str] = []

    # -- writing

    def append(
        self,
        *,
        who: str,
        role: str,
        action: str,
        target: str,
        outcome: Outcome,
        detail: str = "",
    ) -> AuditEntry:
        """Append one entry, fsynced, chained to the last one in the file; the entry written.

        Every field is a short code or id (see the module docstring); anything
        else raises :class:`AuditLogError` and nothing is written.
        """
        _check_code("who", who)
        _check_code("role", role)
        _check_code("action", action, required=True)
        _check_code("target", target)
        _check_code("detail", detail)
        if outcome not in OUTCOMES:
            raise AuditLogError(f"audit outcome must be one of {', '.join(OUTCOMES)}")
        with self._lock:
            try:
                return self._append_locked(
                    {"who": who, "role": role, "action": action, "target": target, "outcome": outcome, "detail": detail}
                )
            except OSError as exc:
                raise AuditLogError(f"{self.path}: cannot append to the audit log ({exc.strerror})") from exc

    def _open_for_append(self) -> int:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            folder.chmod(_DIR_MODE)  # mkdir's mode is filtered by the umask
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        if created:
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return fd

    def _append_locked(self, fields: dict[str, str]) -> AuditEntry:
        fd = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            if st.st_mode & 0o777 != _FILE_MODE:
                os.fchmod(fd, _FILE_MODE)
            head = self._head
            broken: str | None = None
            if head is None or head.ino != st.st_ino or head.size != st.st_size:
                # First append, another process appended, or the file was replaced or cut: read its tail.
                with os.fdopen(os.dup(fd), "rb") as fh:
                    head = self._read_head(fh, st.st_ino, st.st_size)
                    broken = self._anchored_head_missing(fh, head)
                if head.seq < self._highest_written:
                    self._noticed.append(
                        f"the log ended at seq {head.seq} while this console had written up to seq "
                        f"{self._highest_written}: the newest entries were removed"
                    )
            if broken is not None:
                # Said in the chain before anything is appended: continuing it must not launder the cut.
                log.error("audit log does not hold its anchored head: the break is recorded", extra={"detail": broken})
                head, _ = self._write(fd, head, {**_BREAK, "detail": broken})
            head, body = self._write(fd, head, fields)
            return AuditEntry.from_json(body)
        finally:
            os.close(fd)  # also releases the flock

    def _write(self, fd: int, head: _Head, fields: dict[str, str]) -> tuple[_Head, dict[str, Any]]:
        """Write one entry after ``head`` (fsynced, MAC'd with a keyring, its head handed on); the new head."""
        body: dict[str, Any] = {"seq": head.seq + 1, "ts": _ts(self._clock()), **fields, "prev": head.hash}
        keyring = self.keyring if self.keyring is not None and self.keyring.can_sign else None
        if keyring is not None:
            body["key_id"] = keyring.current
        body["hash"] = _entry_hash(body)
        if keyring is not None:
            body["mac"] = keyring.sign(MAC_DOMAIN, _content(body))[1]
        line = canonical_json(body) + b"\n"
        if not head.ends_cleanly:
            # A torn last line (a crash mid-write) stays as it is, for verify to report; the new entry
            # starts on its own line rather than being glued onto it.
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        self._head = _Head(body["seq"], body["hash"], ends_cleanly=True, ino=head.ino, size=head.size + len(line))
        self._highest_written = body["seq"]
        if keyring is not None:
            self._anchor(make_anchor(CHAIN, body["seq"], body["hash"], self._clock(), keyring))
        return self._head, body

    def _anchored_head_missing(self, fh: BinaryIO, head: _Head) -> str | None:
        """A detail code when the file does not hold the head anchored outside the volume; None when it does."""
        anchor = self._anchored(CHAIN) if self._anchored is not None else None
        if anchor is None:
            return None
        if head.seq < anchor.seq:
            return f"anchored-seq={anchor.seq},found-seq={head.seq}"
        found = head.hash if head.seq == anchor.seq else None
        if found is None:
            for raw in _lines_reversed(fh, head.size, limit=_TAIL_SCAN_LIMIT):
                entry = _parse_line(raw)
                if entry is not None and entry.seq <= anchor.seq:
                    found = entry.hash if entry.seq == anchor.seq else ""
                    break
            else:
                if head.size > _TAIL_SCAN_LIMIT:
                    return None  # too far back to look for on every start: report() compares the whole file
                found = ""
        if found != anchor.head:
            return f"anchored-seq={anchor.seq},rewritten"
        return None

    def _anchor(self, anchor: Anchor) -> None:
        if self._on_append is None:
            return
        try:
            self._on_append(anchor)
        except Exception:  # the entry is on disk and MAC'd; an anchor behind is reported by report()
            log.warning("audit log head not handed on for anchoring", extra={"seq": anchor.seq}, exc_info=True)

    def _read_head(self, fh: BinaryIO, ino: int, size: int) -> _Head:
        if size == 0:
            return _Head(0, GENESIS, ends_cleanly=True, ino=ino, size=0)
        fh.seek(size - 1)
        ends_cleanly = fh.read(1) == b"\n"
        for raw in _lines_reversed(fh, size, limit=_TAIL_SCAN_LIMIT):
            entry = _parse_line(raw)
            if entry is not None and _HEX64.fullmatch(entry.hash):
                return _Head(entry.seq, entry.hash, ends_cleanly=ends_cleanly, ino=ino, size=size)
        raise AuditLogError(
            f"{self.path}: no whole audit entry found at the end of the file, so the chain cannot be continued; "
            "run the verification from the admin page (or move the file aside) and restart"
        )

    # -- reading

    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest entry in the file, or None when there is none; record it to detect cuts."""
        for entry in self._reversed_entries():
            return (entry.seq, entry.hash)
        return None

    def _reversed_entries(self) -> Iterator[AuditEntry]:
        try:
            with self.path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                for raw in _lines_reversed(fh, size):
                    entry = _parse_line(raw)
                    if entry is not None:
                        yield entry
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AuditLogError(f"{self.path}: cannot read the audit log ({exc.strerror})") from exc

    def entries(
        self,
        limit: int = 200,
        since: datetime | None = None,
        who: str | None = None,
        target: str | None = None,
        *,
        action: str | None = None,
        outcome: Outcome | None = None,
    ) -> list[AuditEntry]:
        """Entries newest first, at most ``limit`` (capped at :data:`MAX_ENTRIES`), filtered.

        ``since`` (aware) keeps entries at or after it; ``who``, ``target``,
        ``action`` and ``outcome`` must match exactly. Lines that are not whole
        entries are skipped here (:meth:`verify` reports them).
        """
        if since is not None and since.tzinfo is None:
            raise AuditLogError("entries(since=…) needs an aware datetime")
        limit = min(limit, MAX_ENTRIES)
        out: list[AuditEntry] = []
        if limit <= 0:
            return out
        for entry in self._reversed_entries():
            if (
                (since is None or entry.ts >= since)
                and (who is None or entry.who == who)
                and (target is None or entry.target == target)
                and (action is None or entry.action == action)
                and (outcome is None or entry.outcome == outcome)
            ):
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def verify(self) -> list[str]:
        """Re-check the whole chain; every problem found, naming the line (empty when nothing was altered).

        The problems of :meth:`report` without the anchor: see there. An unkeyed
        (legacy) log with consistent hashes has none; :meth:`report` says it is unkeyed.
        """
        return list(self.report().problems)

    def report(self, anchor: Anchor | None = None, *, anchor_checked: bool = False) -> AuditReport:
        """Re-check the whole chain and, with ``anchor_checked``, compare it with ``anchor`` (its head outside).

        Finds edited lines (content no longer matches its hash, or its MAC does
        not verify), removed and inserted lines (a gap in seq, or a ``prev`` that
        does not link), reordered lines, torn or foreign lines, MACs stripped
        (an unkeyed entry after a keyed one) and, against the anchor, the
        newest lines cut off or the file replaced; within this process's
        lifetime a cut is noticed even without the anchor. Recomputing the
        hashes does not hide a rewrite: the MACs need the key.
        """
        result = _Scan(self.keyring, anchor.seq if anchor is not None else None)
        try:
            with self.path.open("rb") as fh:
                with self._lock:
                    # Check up to what is whole now: appends still in flight in other processes are waited for,
                    # later ones are left for the next check (and never mistaken for a torn line).
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
                    size = os.fstat(fh.fileno()).st_size
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                    highest, noticed = self._highest_written, list(self._noticed)
                result.run(_lines_upto(fh, size))
        except FileNotFoundError:
            highest, noticed = self._highest_written, list(self._noticed)
        except OSError as exc:
            raise AuditLogError(f"{self.path}: cannot read the audit log ({exc.strerror})") from exc
        problems = result.problem_list()
        problems.extend(noticed)
        if result.top_seq < highest:
            problems.append(
                f"the log ends at seq {result.top_seq} but this console wrote up to seq {highest}: "
                "the newest entries were removed"
            )
        check = NOT_CHECKED
        if anchor_checked:
            hashes = {anchor.seq: result.anchored_hash} if anchor is not None and result.anchored_hash else {}
            check = compare_with_anchor(anchor, hashes, result.top_seq, "the audit log")
            if check.state is AnchorState.MISMATCH and check.problem:
                problems.append(check.problem)
        key_problems = list(result.key_problems)
        if self.keyring is None and result.keyed:
            key_problems.append(
                "the entries are MAC'd, but no integrity keys are configured here (KINKYU_INTEGRITY_KEYS): "
                "they cannot be authenticated"
            )
        return AuditReport(
            entries=result.top_seq,
            problems=tuple(problems),
            key_problems=tuple(key_problems),
            unkeyed=result.unkeyed,
            anchor=check,
        )


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :meth:`AuditLog.report` found: problems (tampering), key problems, unkeyed entries, the anchor."""

    entries: int
    problems: tuple[str, ...] = ()
    key_problems: tuple[str, ...] = ()
    unkeyed: int = 0  # entries with no MAC before the first keyed one (written before integrity keys)
    anchor: AnchorCheck = NOT_CHECKED

    @property
    def status(self) -> str:
        """``tampered``, ``wrong-key``, ``unkeyed`` (legacy: consistent, not authenticated), ``empty`` or ``intact``."""
        if self.problems:
            return "tampered"
        if self.key_problems:
            return "wrong-key"
        if self.unkeyed:
            return "unkeyed"
        return "intact" if self.entries else "empty"


def _lines_upto(fh: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        line = fh.readline(left)
        if not line:
            return
        left -= len(line)
        yield line


def _parse_line(raw: bytes) -> AuditEntry | None:
    try:
        return AuditEntry.from_json(json.loads(raw))
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
        return None


class _Problems(list[str]):
    """At most :data:`MAX_PROBLEMS` messages, then a count: a wrecked file must not flood the admin page."""

    dropped = 0

    def append(self, problem: str) -> None:
        if len(self) < MAX_PROBLEMS:
            super().append(problem)
        else:
            self.dropped += 1


class _Scan:
    """One pass over the lines, keeping only the newest entry seen (logs grow for years)."""

    def __init__(self, keyring: Keyring | None, anchor_seq: int | None) -> None:
        self.keyring = keyring
        self.anchor_seq = anchor_seq
        self.problems = _Problems()
        self.key_problems = _Problems()
        self.top_seq = 0  # the entry with the highest seq so far
        self.top_hash = GENESIS
        self.top_line = 0
        self.keyed = False
        self.unkeyed = 0
        self.anchored_hash: str | None = None

    def problem_list(self) -> list[str]:
        out = list(self.problems)
        if self.problems.dropped:
            out.append(f"… and {self.problems.dropped} more problem(s)")
        return out

    def run(self, lines: Iterator[bytes]) -> None:
        problems = self.problems
        for number, raw in enumerate(lines, start=1):
            where = f"line {number}"
            try:
                body = json.loads(raw)
                entry = AuditEntry.from_json(body)
            except ValueError:
                if not raw.endswith(b"\n"):
                    problems.append(f"{where}: the last line is incomplete (torn by a crash mid-write?)")
                else:
                    problems.append(f"{where}: not an audit entry (the line was edited, inserted or damaged)")
                continue
            where = f"line {number} (seq {entry.seq})"
            if entry.action == CHAIN_BREAK:
                problems.append(
                    f"{where}: when it was written the log did not hold the head anchored outside the volume "
                    f"({entry.detail}): entries had been cut off or rewritten before it"
                )
            if entry.seq == self.anchor_seq and self.anchored_hash is None:
                self.anchored_hash = entry.hash
            if _entry_hash(body) != entry.hash:
                problems.append(f"{where}: its content does not match its hash (the line was edited)")
            self._check_mac(where, body, entry)
            if entry.seq <= self.top_seq:
                problems.append(f"{where}: comes after seq {self.top_seq} (lines were reordered or duplicated)")
                continue
            if entry.seq > self.top_seq + 1:
                missing = entry.seq - self.top_seq - 1
                span = f"seq {self.top_seq + 1}" if missing == 1 else f"seq {self.top_seq + 1}-{entry.seq - 1}"
                problems.append(
                    f"{where}: follows seq {self.top_seq}; {span} missing "
                    f"({missing} entr{'y' if missing == 1 else 'ies'} removed, or moved later)"
                )
            elif entry.prev != self.top_hash:
                before = f"line {self.top_line}" if self.top_line else "the start of the log"
                problems.append(f"{where}: does not link to {before} (an entry was replaced, or edited and re-hashed)")
            # Carry on from this entry so one removal is one problem, not a cascade.
            self.top_seq, self.top_hash, self.top_line = entry.seq, entry.hash, number

    def _check_mac(self, where: str, body: dict[str, Any], entry: AuditEntry) -> None:
        if not entry.keyed:
            if self.keyed:
                self.problems.append(f"{where}: has no MAC although earlier entries do (the MAC was removed)")
            else:
                self.unkeyed += 1
            return
        self.keyed = True
        if self.keyring is None or entry.key_id is None or entry.mac is None:
            return
        result = self.keyring.check(MAC_DOMAIN, _content(body), entry.key_id, entry.mac)
        if result is MacResult.BAD:
            self.problems.append(f"{where}: its MAC does not verify (the line was rewritten)")
        elif result is MacResult.UNKNOWN_KEY:
            self.key_problems.append(f"{where}: signed with integrity key id {entry.key_id}, not configured here")
