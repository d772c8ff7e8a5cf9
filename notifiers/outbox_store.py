"""The outbox and the escalation chains on disk: append-only journals, replayed on start.

:class:`OutboxStore` keeps :class:`~kinkyu.core.outbox.OutboxEntry` values;
every change (queued, attempt begun, sent, failed) is one fsynced journal
line written *before* the change is visible in memory, and the newest line
per key wins on replay. :class:`ChainStore` does the same for
:class:`~kinkyu.core.escalation.EscalationState`.

Durability, exactly (a change is in the kernel when its call returns, so it
survives a crash of the process; on the disk, so it survives a power cut,
once :meth:`OutboxStore.durable` has returned, which the notifier awaits
before anything that depends on it: the send after ``in flight``, the
ledger after ``sent``, the commit of the record that queued a message):

- a message whose ``add`` returned is never lost: a restart replays it and
  it is delivered (or given up, visibly) after the backoff;
- a message recorded ``sent`` is never sent again, whatever restarts follow:
  the same idempotency key cannot be queued twice;
- the remaining duplicate window: the process dies after the SMTP server
  accepted a message (250 after DATA) and before the ``sent`` line reached
  the disk. The entry is then found ``in_flight`` on replay; it is resent
  (with the same Message-ID, so mail clients and archives show one message)
  and marked ``uncertain`` on the timeline. Closing the window would need
  the server's cooperation (SMTP has no idempotent submission), so it is
  kept as narrow as one (group) fsync.

Compaction: on open, the journal is rewritten with the newest version of
each entry, leaving out entries done (sent or failed) longer ago than
``retention`` (default 30 days). Within the retention a redelivered
notification is still recognised as a duplicate.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from kinkyu.core.escalation import EscalationError, EscalationState
from kinkyu.core.outbox import (
    Backoff,
    Outbox,
    OutboxEntry,
    OutboxError,
    begin_attempt,
    failed,
    postpone,
    recover,
    succeeded,
)
from kinkyu.core.timefmt import utcnow
from kinkyu.notifiers.exceptions import OutboxJournalError
from kinkyu.notifiers.journal import Journal

log = logging.getLogger("kinkyu.notifier.outbox")

DEFAULT_RETENTION = timedelta(days=30)


class OutboxStore:
    """The outbox, journalled at ``path``. One process per path (the journal is locked)."""

    def __init__(
        self,
        path: Path,
        *,
        backoff: Backoff | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        now: datetime | None = None,
    ) -> None:
        self.path = path
        self.backoff = backoff or Backoff()
        self._journal = Journal(path)
        try:
            self.outbox, self.recovered = self._replay(now or utcnow(), retention)
        except BaseException:
            self._journal.close()
            raise

    def _replay(self, now: datetime, retention: timedelta) -> tuple[Outbox, list[OutboxEntry]]:
        latest: dict[str, OutboxEntry] = {}
        for number, record in enumerate(self._journal.read(), 1):
            try:
                entry = OutboxEntry.from_json(record)
            except OutboxError as exc:
                raise OutboxJournalError(f"{self.path}: line {number}: {exc}") from exc
            latest[entry.key] = entry
        kept: list[OutboxEntry] = []
        recovered: list[OutboxEntry] = []
        for entry in latest.values():
            done_at = entry.sent_at or entry.failed_at
            if entry.done and done_at is not None and now - done_at > retention:
                continue
            if entry.in_flight:
                entry = recover(entry)  # noqa: PLW2901 - the recovered version replaces the stored one
                recovered.append(entry)
            kept.append(entry)
        # Compact: the newest version of each kept entry, recovered ones already pending again.
        self._journal.rewrite(e.to_json() for e in sorted(kept, key=lambda e: (e.created_at, e.key)))
        if recovered:
            log.warning(
                "outbox: attempts interrupted by a stop were found; those messages are sent again",
                extra={"keys": [e.key for e in recovered]},
            )
        return Outbox(kept), recovered

    # -- reading ---------------------------------------------------------------------

    def get(self, key: str) -> OutboxEntry | None:
        """The entry with ``key``."""
        return self.outbox.get(key)

    def due(self, now: datetime, limit: int | None = None) -> list[OutboxEntry]:
        """Entries due at ``now``, earliest first."""
        return self.outbox.due(now, limit)

    def entries(self) -> list[OutboxEntry]:
        """Every entry kept, oldest first."""
        return self.outbox.entries()

    def next_due(self) -> datetime | None:
        """The earliest next attempt among pending entries."""
        return self.outbox.next_due()

    # -- changing (journal first, then memory) ------------------------------------------

    def _write(self, entry: OutboxEntry) -> OutboxEntry:
        self._journal.append(entry.to_json())
        self.outbox.put(entry)
        return entry

    def _entry(self, key: str) -> OutboxEntry:
        entry = self.outbox.get(key)
        if entry is None:
            raise OutboxError(f"no outbox entry {key}")
        return entry

    def add(self, entry: OutboxEntry) -> bool:
        """Queue ``entry``; False (and nothing written) when its key is already in the outbox."""
        if not self.outbox.accepts(entry):
            return False
        self._write(entry)
        return True

    def begin(self, key: str, now: datetime) -> OutboxEntry:
        """Record that an attempt on ``key`` begins now (before the transport is called)."""
        return self._write(begin_attempt(self._entry(key), now))

    def sent(self, key: str, now: datetime, detail: str | None = None) -> OutboxEntry:
        """Record ``key`` as delivered."""
        return self._write(succeeded(self._entry(key), now, detail))

    def failed(self, key: str, now: datetime, *, error: str, permanent: bool, detail: str | None = None) -> OutboxEntry:
        """Record a failed attempt on ``key``: retried after the backoff, or given up."""
        return self._write(
            failed(self._entry(key), now, error=error, permanent=permanent, backoff=self.backoff, detail=detail)
        )

    def postpone(self, key: str, until: datetime) -> OutboxEntry:
        """Move ``key``'s next attempt to ``until`` without counting an attempt."""
        return self._write(postpone(self._entry(key), until))

    async def durable(self) -> None:
        """Return once every change made so far is fsynced (see :mod:`notifiers.journal`)."""
        await self._journal.sync()

    def close(self) -> None:
        """Close the journal (and release its lock)."""
        self._journal.close()


class ChainStore:
    """Escalation chains by chain id, journalled at ``path`` like the outbox."""

    def __init__(self, path: Path, *, retention: timedelta = DEFAULT_RETENTION, now: datetime | None = None) -> None:
        self.path = path
        self._journal = Journal(path)
        try:
            self._chains = self._replay(now or utcnow(), retention)
        except BaseException:
            self._journal.close()
            raise
        # Incidents whose chains changed since the stage last published them (notifiers.handover).
        self.changed: set[str] = set()
        self._by_incident: dict[str, set[str]] = {}
        for chain in self._chains.values():
            self._by_incident.setdefault(chain.incident_id, set()).add(chain.chain_id)

    def _replay(self, now: datetime, retention: timedelta) -> dict[str, EscalationState]:
        latest: dict[str, EscalationState] = {}
        for number, record in enumerate(self._journal.read(), 1):
            try:
                chain = EscalationState.from_json(record)
            except EscalationError as exc:
                raise OutboxJournalError(f"{self.path}: line {number}: {exc}") from exc
            latest[chain.chain_id] = chain
        kept = {
            cid: c
            for cid, c in latest.items()
            if c.active or now - (c.acknowledged_at or c.last_sent_at or c.started_at) <= retention
        }
        self._journal.rewrite(c.to_json() for c in sorted(kept.values(), key=lambda c: (c.started_at, c.chain_id)))
        return kept

    def __contains__(self, chain_id: object) -> bool:
        return chain_id in self._chains

    def get(self, chain_id: str) -> EscalationState | None:
        """A copy of chain ``chain_id``: changes count once :meth:`put` has journalled them."""
        chain = self._chains.get(chain_id)
        return EscalationState.from_json(chain.to_json()) if chain is not None else None

    def chains(self) -> list[EscalationState]:
        """Copies of every chain kept, oldest first."""
        ordered = sorted(self._chains.values(), key=lambda c: (c.started_at, c.chain_id))
        return [EscalationState.from_json(c.to_json()) for c in ordered]

    def active(self) -> list[EscalationState]:
        """The chains with someone left to tell, oldest first."""
        return [c for c in self.chains() if c.active]

    def put(self, chain: EscalationState) -> None:
        """Store ``chain``'s current state (journal first)."""
        self._journal.append(chain.to_json())
        self._chains[chain.chain_id] = chain
        self._by_incident.setdefault(chain.incident_id, set()).add(chain.chain_id)
        self.changed.add(chain.incident_id)

    async def durable(self) -> None:
        """Return once every chain stored so far is fsynced (see :mod:`notifiers.journal`)."""
        await self._journal.sync()

    def of_incident(self, incident_id: str) -> list[EscalationState]:
        """Copies of ``incident_id``'s chains, by chain id."""
        ids = sorted(self._by_incident.get(incident_id, ()))
        return [EscalationState.from_json(self._chains[cid].to_json()) for cid in ids]

    def close(self) -> None:
        """Close the journal (and release its lock)."""
        self._journal.close()
