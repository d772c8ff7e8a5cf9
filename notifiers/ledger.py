"""The delivery ledger on the broker: one compacted topic every worker reads and writes around each send.

The rules are pure (:mod:`kinkyu.core.ledger`); this is their Kafka edge and
the two calls the notifier makes:

- :func:`consult` before an outbox entry is attempted: the worker appends an
  ``intent`` for the entry's idempotency key, reads the ledger up to that
  record and sends only if its intent holds the key. A key another worker
  delivered (or gave up) is recorded so in this worker's outbox without
  sending; a key another worker holds waits until that lease runs out;
- :func:`settle` after the server's answer: ``delivered`` (250 / 2xx) or
  ``failed`` (given up).

**Up to date before acting.** Each worker reads every partition of the ledger
from the start when it starts and follows it from then on
(:class:`KafkaLedger`, no consumer group, so a rebalance changes nothing
here). Correctness does not rest on that read being complete: a send is
decided only after the worker has read its own intent back, so everything
appended to that key before it has been folded in, whichever worker wrote it
and whichever partitions this worker was just assigned. A worker that takes
a dead one's ``notifications`` partitions therefore never resends what the
dead one delivered, and a restarted worker whose outbox still holds messages
a survivor sent records them as sent.

**The topic** (``<prefix>kinkyu-deliveries``, :class:`kinkyu.bus.topics.Topics`)
is keyed by idempotency key, compacted, with ``min.compaction.lag.ms`` of a
day (so the records a decision reads are never compacted away under it) and
broker-assigned timestamps where the broker honours
``message.timestamp.type=LogAppendTime`` (leases are then timed by one clock;
otherwise by each writer's, and clock skew between workers shortens or
lengthens a lease by as much). Values hold a state, a worker id, a lease and a
reply code: no address, no name, no text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.bus.exceptions import BrokerError
from kinkyu.core.ledger import Decision, LedgerBook, LedgerError, LedgerRecord, LedgerState
from kinkyu.core.outbox import OutboxEntry
from kinkyu.core.timefmt import utcnow
from kinkyu.notifiers.outbox_store import OutboxStore

log = logging.getLogger("kinkyu.notifier.ledger")

WORKER_ID_FILE = "ledger-worker-id"
_DOWN_FOR = 5.0  # seconds a ledger that failed answers "unavailable" at once rather than waiting again
_FETCH_WAIT_MS = 50  # tansu sleeps through the whole fetch wait: this bounds how late a record is read
# The deliveries topic (compacted by the worker's topic creation): a decision reads records younger than a
# lease, so a day of compaction lag keeps them whole; one clock (the broker's) times every lease.
LEDGER_TOPIC_CONFIGS = {"min.compaction.lag.ms": str(24 * 3600 * 1000), "message.timestamp.type": "LogAppendTime"}
_WINDOWS = 10_000  # measured windows kept (250 -> ledger ack), for the bench and the metrics


class LedgerSettings(BaseSettings):
    """``KINKYU_NOTIFY_LEDGER_LEASE`` and ``KINKYU_NOTIFY_LEDGER_WAIT`` (seconds).

    - ``lease`` (120): how long an intent holds a message. It must be longer
      than the longest send (``KINKYU_SMTP_TIMEOUT`` per SMTP step); a worker
      that dies mid-send delays that message by this much, and the survivor
      then sends it.
    - ``wait`` (15): how long a claim waits for the broker before the message
      waits for the next pass.
    """

    model_config = SettingsConfigDict(env_prefix="KINKYU_NOTIFY_LEDGER_", extra="ignore")

    lease: float = Field(default=120.0, gt=0)
    wait: float = Field(default=15.0, gt=0)


def worker_id(folder: Path) -> str:
    """The worker id of outbox folder ``folder`` (made on first use): one folder, one worker, one id.

    The id names the folder, not the process: a restarted worker keeps it, so
    its own intents from before the crash do not make it wait out their lease.
    """
    path = folder / WORKER_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = secrets.token_hex(8)
    tmp = path.with_name(f"{WORKER_ID_FILE}.tmp")
    tmp.write_text(text + "\n", encoding="ascii")
    tmp.replace(path)
    return text


class Ledger(Protocol):
    """What the notifier asks of the ledger (:class:`KafkaLedger`; tests use :class:`MemoryLedger`)."""

    worker: str

    async def claim(self, key: str, now: datetime) -> Decision:
        """Claim ``key`` (append an intent, read it back) unless it is settled or held: what to do with it."""
        ...

    async def claim_all(self, keys: list[str], now: datetime) -> None:
        """Claim ``keys`` together (one round trip); :meth:`claim` then answers each from what was read."""
        ...

    async def settle(self, key: str, state: LedgerState, detail: str | None, *, since: float | None = None) -> None:
        """Append ``key``'s final record; ``since`` (monotonic) is when the server answered."""
        ...

    def final(self, key: str) -> bool:
        """Whether the ledger, as read so far, has ``key`` settled."""
        ...


class MemoryLedger:
    """A ledger in memory: several notifiers in one process share one ``records`` list (tests)."""

    def __init__(
        self,
        worker: str,
        *,
        records: list[LedgerRecord] | None = None,
        lease: timedelta = timedelta(seconds=120),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.worker = worker
        self.records = records if records is not None else []
        self.lease = lease
        self.clock = clock
        self.available = True

    def _book(self) -> LedgerBook:
        book = LedgerBook()
        for record in self.records:
            book.apply(record)
        return book

    async def claim(self, key: str, now: datetime) -> Decision:
        """See :class:`Ledger`."""
        if not self.available:
            raise LedgerError("the ledger is unavailable")
        before = self._book().decide(key, self.worker, now)
        if before.verdict in {"delivered", "failed", "wait"}:
            return before
        self.records.append(LedgerRecord(key, "intent", self.worker, now, self.lease))
        return self._book().decide(key, self.worker, now)

    async def claim_all(self, keys: list[str], now: datetime) -> None:
        """See :class:`Ledger` (in memory every claim is one step anyway)."""
        del keys, now

    async def settle(self, key: str, state: LedgerState, detail: str | None, *, since: float | None = None) -> None:
        """See :class:`Ledger`."""
        del since
        if not self.available:
            raise LedgerError("the ledger is unavailable")
        self.records.append(LedgerRecord(key, state, self.worker, self.clock(), detail=detail))

    def final(self, key: str) -> bool:
        """See :class:`Ledger`."""
        state = self._book().get(key)
        return state is not None and state.final is not None


class KafkaLedger:
    """:class:`Ledger` over the deliveries topic (see the module docstring). One per worker process."""

    def __init__(
        self,
        connection: BrokerConnection | str,
        topic: str,
        *,
        worker: str,
        settings: LedgerSettings | None = None,
    ) -> None:
        self.connection = as_connection(connection)
        self.topic = topic
        self.worker = worker
        self.settings = settings or LedgerSettings()
        self.lease = timedelta(seconds=self.settings.lease)
        self.book = LedgerBook()
        # Seconds from the server's answer to the broker's ack of the delivered record: the duplicate window.
        self.windows: deque[float] = deque(maxlen=_WINDOWS)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[int, int] = {}
        self._advanced = asyncio.Condition()
        self._ready = asyncio.Event()
        self._tail: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._unsettled: dict[str, LedgerRecord] = {}
        self._claimed: dict[str, Decision] = {}
        # Called with each measured window in seconds (the worker's kinkyu_ledger_window_seconds).
        self.on_window: Callable[[float], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, within: float = 30.0) -> None:
        """Connect, read every partition from the start up to its end, then follow it. Idempotent.

        BrokerError when the broker cannot be reached or the topic has no
        partitions within ``within`` seconds.
        """
        if self._tail is not None:
            return
        producer = self.connection.producer(acks="all", linger_ms=0, request_timeout_ms=10_000)
        await self.connection.start(producer, "the delivery ledger's producer")
        self._producer = producer
        consumer = self.connection.consumer(
            enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=_FETCH_WAIT_MS
        )
        await self.connection.start(consumer, "the delivery ledger's reader")
        self._consumer = consumer
        deadline = time.monotonic() + within
        parts: set[int] = set()
        while not parts:
            # The public API has no call for the partitions of a topic the consumer is not assigned yet.
            cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            parts = cluster.partitions_for_topic(self.topic) or set()
            if not parts:
                if time.monotonic() > deadline:
                    raise BrokerError(f"the delivery ledger topic {self.topic} has no partitions")
                await asyncio.sleep(0.2)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        self._positions = dict.fromkeys(parts, 0)
        while any(self._positions[tp.partition] < end for tp, end in ends.items()) and time.monotonic() < deadline:
            await self._read_once(500)
        self._tail = asyncio.ensure_future(self._follow())
        self._ready.set()
        log.info(
            "delivery ledger read",
            extra={"topic": self.topic, "partitions": len(parts), "keys": len(self.book), "worker": self.worker},
        )

    async def stop(self) -> None:
        """Stop following and disconnect (unsettled records were retried until now; a restart reconciles them)."""
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
            self._tail = None
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()
        self._consumer = self._producer = None
        self._ready.clear()

    # -- reading ---------------------------------------------------------------------------

    async def _read_once(self, timeout_ms: int) -> None:
        if self._consumer is None:
            raise LedgerError("the delivery ledger is not started")
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=5_000)
        if not batch:
            return
        for tp, msgs in batch.items():
            for msg in msgs:
                at = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
                try:
                    self.book.apply(LedgerRecord.parse(msg.key, msg.value, at))
                except LedgerError as exc:
                    log.warning("ledger record ignored", extra={"offset": msg.offset, "error": str(exc)})
            if msgs:
                self._positions[tp.partition] = msgs[-1].offset + 1
        async with self._advanced:
            self._advanced.notify_all()

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_once(1_000)
                if self._unsettled:
                    await self._resettle()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next read tries again; claims wait (bounded) meanwhile
                log.exception("delivery ledger read failed")
                await asyncio.sleep(1.0)

    async def _read_back(self, partition: int, offset: int) -> None:
        async with self._advanced:
            await asyncio.wait_for(
                self._advanced.wait_for(lambda: self._positions.get(partition, 0) > offset), self.settings.wait
            )

    # -- writing ---------------------------------------------------------------------------

    async def _append(self, record: LedgerRecord) -> tuple[int, int]:
        if self._producer is None:
            raise LedgerError("the delivery ledger is not started")
        md = await asyncio.wait_for(
            self._producer.send_and_wait(self.topic, record.value(), key=record.key.encode()), self.settings.wait
        )
        return md.partition, md.offset

    def _unavailable(self, exc: BaseException, what: str) -> LedgerError:
        self._down_until = time.monotonic() + _DOWN_FOR
        log.warning("delivery ledger unavailable", extra={"what": what, "error": type(exc).__name__})
        return LedgerError(f"the delivery ledger could not {what} ({type(exc).__name__})")

    async def _usable(self) -> None:
        if time.monotonic() < self._down_until:
            raise LedgerError("the delivery ledger is unavailable")
        try:
            await asyncio.wait_for(self._ready.wait(), self.settings.wait)
        except TimeoutError as exc:
            raise self._unavailable(exc, "start") from exc

    async def claim(self, key: str, now: datetime) -> Decision:
        """See :class:`Ledger`; LedgerError when the broker does not answer within ``wait`` seconds."""
        claimed = self._claimed.pop(key, None)
        # A claim made for this pass holds while at least half its lease is left; else it is made again.
        if claimed is not None and (claimed.until is None or now + self.lease / 2 < claimed.until):
            return claimed
        await self._usable()
        before = self.book.decide(key, self.worker, now)
        if before.verdict in {"delivered", "failed", "wait"}:
            return before
        try:
            partition, offset = await self._append(LedgerRecord(key, "intent", self.worker, now, self.lease))
            await self._read_back(partition, offset)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "record an intent") from exc
        return await self._decided(key)

    async def claim_all(self, keys: list[str], now: datetime) -> None:
        """See :class:`Ledger`: every intent sent at once, then one read back to the last of each partition."""
        # Passes overlap (notifiers.delivery): keep the other passes' claims, drop only these keys' and the stale.
        for k in keys:
            self._claimed.pop(k, None)
        for k in [k for k, d in self._claimed.items() if d.until is not None and d.until <= now]:
            del self._claimed[k]
        await self._usable()
        wanted = [k for k in keys if self.book.decide(k, self.worker, now).verdict in {"claim", "send"}]
        if not wanted or self._producer is None:
            return
        producer = self._producer
        try:
            sends = [
                await producer.send(
                    self.topic, LedgerRecord(k, "intent", self.worker, now, self.lease).value(), key=k.encode()
                )
                for k in wanted
            ]
            written = await asyncio.wait_for(asyncio.gather(*sends), self.settings.wait)
            last: dict[int, int] = {}
            for md in written:
                last[md.partition] = max(md.offset, last.get(md.partition, -1))
            for partition, offset in last.items():
                await self._read_back(partition, offset)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "record intents") from exc
        for k in wanted:
            self._claimed[k] = await self._decided(k)

    async def _decided(self, key: str) -> Decision:
        decision = self.book.decide(key, self.worker, utcnow())
        if decision.restate:
            state = self.book.get(key)
            if state is not None and state.final is not None:
                await self._settle_record(state.final)
        return decision

    async def settle(self, key: str, state: LedgerState, detail: str | None, *, since: float | None = None) -> None:
        """See :class:`Ledger`; a broker that refuses is retried in the background (and at the next start)."""
        await self._settle_record(LedgerRecord(key, state, self.worker, utcnow(), detail=detail), since=since)

    async def _settle_record(self, record: LedgerRecord, *, since: float | None = None) -> None:
        try:
            await self._append(record)
        except (KafkaError, OSError, TimeoutError, LedgerError) as exc:
            self._unsettled[record.key] = record
            log.warning(
                "delivery not yet recorded in the ledger; retrying",
                extra={"key": record.key, "error": type(exc).__name__},
            )
            return
        if since is not None:
            window = time.monotonic() - since
            self.windows.append(window)
            if self.on_window is not None:
                self.on_window(window)

    async def _resettle(self) -> None:
        for key, record in list(self._unsettled.items()):
            try:
                await self._append(record)
            except (KafkaError, OSError, TimeoutError, LedgerError):
                return  # still down: the next pass tries again
            self._unsettled.pop(key, None)

    def final(self, key: str) -> bool:
        """See :class:`Ledger`."""
        state = self.book.get(key)
        return state is not None and state.final is not None


# -- the notifier's two calls --------------------------------------------------------------------

_LEDGER_RETRY = timedelta(seconds=5)


async def consult(ledger: Ledger, outbox: OutboxStore, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
    """Before attempting ``entry``: None when this worker may send it; else the entry as the ledger left it.

    Delivered or given up by another worker: recorded so here (``detail``
    ``ledger:<code>``), nothing sent. Held by another worker's live intent, or
    the ledger unreachable: postponed (not an attempt) until the lease runs
    out, or for a few seconds.
    """
    try:
        decision = await ledger.claim(entry.key, now)
    except LedgerError:
        return outbox.postpone(entry.key, now + _LEDGER_RETRY)
    if decision.verdict == "send":
        return None
    if decision.verdict == "delivered":
        log.info("message already delivered by another worker; not sent", extra={"key": entry.key, "by": decision.by})
        return outbox.sent(entry.key, now, f"ledger:{decision.detail or 'delivered'}")
    if decision.verdict == "failed":
        return outbox.failed(entry.key, now, error="given-up-elsewhere", permanent=True, detail=decision.detail)
    until = decision.until if decision.verdict == "wait" and decision.until is not None else now + _LEDGER_RETRY
    log.info("message held by another worker; waiting for its lease", extra={"key": entry.key, "by": decision.by})
    return outbox.postpone(entry.key, until)


async def claim_all(ledger: Ledger, entries: list[OutboxEntry], now: datetime) -> None:
    """Before a delivery pass: claim every entry it will attempt in one round trip (each is decided then)."""
    try:
        await ledger.claim_all([e.key for e in entries], now)
    except LedgerError:
        log.warning("delivery ledger unavailable; this pass sends nothing", extra={"entries": len(entries)})


async def settle(ledger: Ledger, entry: OutboxEntry, *, since: float | None = None) -> None:
    """After ``entry`` was delivered or given up: its final record, so no other worker sends it."""
    if entry.state == "pending":
        return
    state: LedgerState = "delivered" if entry.state == "sent" else "failed"
    try:
        await ledger.settle(entry.key, state, entry.detail if state == "delivered" else entry.last_error, since=since)
    except LedgerError:
        log.warning("delivery not recorded in the ledger; the next start records it", extra={"key": entry.key})


async def reconcile(ledger: Ledger, outbox: OutboxStore) -> int:
    """At start: record in the ledger what this outbox settled but the ledger does not show (a crash between).

    How many records were appended.
    """
    appended = 0
    for entry in outbox.entries():
        settled_elsewhere = (entry.detail or "").startswith("ledger:") or entry.last_error == "given-up-elsewhere"
        if entry.done and not settled_elsewhere and not ledger.final(entry.key):
            await settle(ledger, entry)
            appended += 1
    return appended
