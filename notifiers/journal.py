"""An append-only JSON-lines journal: one record a line, written before the call returns, fsynced in groups.

The file edge under the outbox (:mod:`notifiers.outbox_store`) and the
escalation chains: a record returned from :meth:`Journal.append` is in the
kernel (it survives a ``kill -9``); once :meth:`Journal.sync` has returned it
survives a power cut too (as far as the disk honours fsync). ``sync`` runs
the fsync on a thread of its own, never on the event loop, and one fsync
covers every record written before it began: a burst's many appends cost a
few fsyncs, and the loop goes on meanwhile (issue #14: synchronous fsyncs
took a fifth of a busy worker's loop). The notifier awaits ``sync`` before
whatever depends on a record: the SMTP send after ``in flight``, the ledger
after ``sent``, the commit of the record that queued a message. On open, the
records are read back in order; the last line may be torn (the process died
while writing it) and is dropped, because its change was never confirmed to
anyone. :meth:`Journal.rewrite` compacts the file atomically (temporary
file, fsync, rename, fsync of the folder), so a crash leaves either the old
journal or the new one.

One process at a time: the journal holds an exclusive ``flock`` on
``<file>.lock`` while open, and a second opener fails at once instead of
interleaving lines with the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from kinkyu.notifiers.exceptions import OutboxJournalError

log = logging.getLogger("kinkyu.notifier.journal")


def _open(path: Path, *, truncate: bool = False) -> BinaryIO:
    """Open for appending (or writing afresh), creating the file owner-only.

    Owner-only because the journal holds rendered messages and the contacts' addresses.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
    return os.fdopen(os.open(path, flags, 0o600), "wb" if truncate else "ab")


_FSYNCS: ThreadPoolExecutor | None = None


def _fsyncs() -> ThreadPoolExecutor:
    """The thread every journal's fsyncs run on (not the loop's default executor, which others fill)."""
    global _FSYNCS  # noqa: PLW0603  # one thread per process, made on first use
    if _FSYNCS is None:
        _FSYNCS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinkyu-journal")
    return _FSYNCS


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """An append-only JSONL file at ``path`` (created with its folder if missing), locked while open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _open(path.parent / f"{path.name}.lock")
        except OSError as exc:
            raise OutboxJournalError(f"{path}: cannot create the journal ({exc.strerror})") from exc
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            raise OutboxJournalError(
                f"{path}: another process has this journal open (one notifier per outbox folder)"
            ) from exc
        self._fh: BinaryIO | None = None
        self._written = 0  # records appended so far
        self._synced = 0  # of which an fsync has covered this many
        self._syncing: asyncio.Future[None] | None = None

    def read(self) -> list[dict[str, Any]]:
        """Every record in order; a torn last line is dropped (and cut off the file), others are errors."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutboxJournalError(f"{self.path}: cannot read the journal ({exc.strerror})") from exc
        records: list[dict[str, Any]] = []
        lines = data.split(b"\n")
        offset = 0  # where the current line starts
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if any(rest.strip() for rest in lines[number:]):
                        raise OutboxJournalError(
                            f"{self.path}: line {number} is not JSON (the journal is damaged)"
                        ) from exc
                    # The process died while writing this line: its change was never confirmed.
                    log.warning(
                        "journal ends with a torn line; dropped", extra={"path": str(self.path), "line": number}
                    )
                    self._truncate(offset)
                    return records
                if not isinstance(record, dict):
                    raise OutboxJournalError(f"{self.path}: line {number} is not a JSON object")
                records.append(record)
            offset += len(line) + 1
        if data and not data.endswith(b"\n"):
            # A complete record whose newline was not written: end the line before appending.
            self._truncate(len(data), newline=True)
        return records

    def _truncate(self, size: int, *, newline: bool = False) -> None:
        try:
            with self.path.open("r+b") as fh:
                fh.truncate(size)
                if newline:
                    fh.seek(size)
                    fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise OutboxJournalError(f"{self.path}: cannot cut off a torn line ({exc.strerror})") from exc

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as a line (into the kernel; see :meth:`sync`); OutboxJournalError if refused."""
        line = orjson.dumps(record) + b"\n"
        try:
            if self._fh is None:
                self._fh = _open(self.path)
            self._fh.write(line)
            self._fh.flush()
        except OSError as exc:
            raise OutboxJournalError(f"{self.path}: cannot append to the journal ({exc.strerror})") from exc
        self._written += 1

    async def sync(self) -> None:
        """Return once every record appended before the call is fsynced; OutboxJournalError if the disk refuses.

        One fsync runs at a time, off the loop; callers that arrive while it
        runs share the next one, which covers them all.
        """
        target = self._written
        while self._synced < target:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.ensure_future(self._fsync())
            await asyncio.shield(self._syncing)

    async def _fsync(self) -> None:
        upto = self._written
        if self._fh is None:  # nothing appended since the file was last synced (rewrite) or closed (close syncs)
            self._synced = max(self._synced, upto)
            return
        try:
            # Its own descriptor: close() may close the journal's while the thread is still at it.
            fd = os.dup(self._fh.fileno())
            await asyncio.get_running_loop().run_in_executor(_fsyncs(), _fsync_and_close, fd)
        except OSError as exc:
            raise OutboxJournalError(f"{self.path}: cannot append to the journal ({exc.strerror})") from exc
        self._synced = max(self._synced, upto)

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the journal by ``records``, atomically (write, fsync, rename, fsync the folder)."""
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        try:
            with _open(tmp, truncate=True) as fh:
                for record in records:
                    fh.write(orjson.dumps(record) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            tmp.replace(self.path)
            _fsync_dir(self.path.parent)
            self._synced = self._written
        except OSError as exc:
            raise OutboxJournalError(f"{self.path}: cannot compact the journal ({exc.strerror})") from exc

    def close(self) -> None:
        """Fsync what is left, close the file and release the lock."""
        if self._fh is not None:
            with contextlib.suppress(OSError):  # the next open reads what reached the disk
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self._synced = self._written
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
