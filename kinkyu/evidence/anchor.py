"""Anchors outside the data volume: chain heads on a compacted Kafka topic (the Kafka edge of integrity).

The evidence custody logs and the console's audit log are MAC'd
(:mod:`kinkyu.core.integrity`), which stops a rewrite; cutting entries off
the end needs a record of the head kept elsewhere. The broker is that
elsewhere: a separate system with its own retention and its own access
control. After each entry, its chain's head (an
:class:`~kinkyu.core.integrity.Anchor`, MAC'd) is published to
``<prefix>kinkyu-anchors``, keyed by the chain's name
(``evidence/<incident id>``, ``audit/console``), compacted so the topic keeps
one record per chain.

- :class:`AnchorPublisher` publishes from any thread without blocking the
  writer (``offer``), newest head per chain, retrying in the background
  while the broker is away; ``flush`` waits until what was offered is on the
  broker. ``known`` tells a writer the head it must build on: what the topic
  held when the publisher started, then what this process offered. A writer
  that finds its file does not hold that head (cut off, or rewritten while it
  was stopped) records the break in the chain before it appends anything,
  so continuing the chain never launders a cut.
- :func:`read_anchors` reads the topic back: the newest anchor per chain whose
  MAC verifies (a record written without the key is ignored; an older one
  replayed changes nothing).
- :class:`AnchorSource` is the seam verification reads through (the console
  and the CLI take any implementation; tests pass an in-memory one).

Nothing here carries personal information: chain names, seqs, hashes, times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.bus.exceptions import BrokerError
from kinkyu.core.integrity import Anchor, Keyring, newest_anchors, parse_anchor
from kinkyu.evidence.exceptions import EvidenceAnchorError

log = logging.getLogger("kinkyu.integrity.anchor")

ANCHORS_TOPIC = "kinkyu-anchors"
_EXTRA_FETCHES = 2  # fetches past the reported end: tansu reports it short of the last batch
_RETRY_CAP = 30.0


def anchors_topic(prefix: str = "") -> str:
    """The anchors topic under a topic prefix."""
    return f"{prefix}{ANCHORS_TOPIC}"


async def ensure_anchors_topic(bootstrap: BrokerConnection | str, topic: str) -> None:
    """Create the anchors topic, compacted (one record per chain is all that must stay), unless it exists."""
    connection = as_connection(bootstrap)
    admin = connection.admin(request_timeout_ms=10_000)
    try:
        await connection.start(admin, "an admin client")
        if topic not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    except BrokerError as exc:
        raise EvidenceAnchorError(f"cannot create the anchors topic {topic}: {exc}") from exc
    except KafkaError as exc:
        raise EvidenceAnchorError(f"cannot create the anchors topic {topic} ({type(exc).__name__})") from exc
    finally:
        await admin.close()


class AnchorSource(Protocol):
    """Where verification reads the anchors from."""

    async def read(self) -> Mapping[str, Anchor]:
        """The newest authentic anchor per chain name; EvidenceAnchorError when they cannot be read."""
        ...


class KafkaAnchorSource:
    """:class:`AnchorSource` over the anchors topic."""

    def __init__(
        self, bootstrap: BrokerConnection | str, topic: str, keyring: Keyring, *, timeout: float = 15.0
    ) -> None:
        self.bootstrap = as_connection(bootstrap)
        self.topic = topic
        self.keyring = keyring
        self.timeout = timeout

    async def read(self) -> Mapping[str, Anchor]:
        """Read the whole topic (compacted: one record per chain, a few more between compactions)."""
        return await read_anchors(self.bootstrap, self.topic, self.keyring, within=self.timeout)


class MemoryAnchors:
    """An in-memory anchors topic: :class:`AnchorSource` and a sink (``offer``) in one (tests, offline use)."""

    def __init__(self) -> None:
        self.records: list[Anchor] = []

    def offer(self, anchor: Anchor) -> None:
        """Publish ``anchor``."""
        self.records.append(anchor)

    def known(self, chain: str) -> Anchor | None:
        """The head last published for ``chain`` (what a writer must build on)."""
        return next((a for a in reversed(self.records) if a.chain == chain), None)

    async def read(self) -> Mapping[str, Anchor]:
        """The newest anchor per chain."""
        return newest_anchors(self.records)


async def read_anchors(
    bootstrap: BrokerConnection | str, topic: str, keyring: Keyring, *, within: float = 15.0
) -> dict[str, Anchor]:
    """The newest authentic anchor per chain on ``topic`` (empty when the topic was never written).

    EvidenceAnchorError when the broker cannot be reached or read within ``within`` seconds.
    """
    connection = as_connection(bootstrap)
    consumer = connection.consumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,  # tansu sleeps through the whole wait at the end of a log
    )
    found: list[Anchor] = []
    try:
        async with asyncio.timeout(within):
            await connection.start(consumer, "the anchor reader")
            # The public API has no call for the partitions of a topic the consumer is not assigned yet.
            cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            numbers = cluster.partitions_for_topic(topic) or set()
            for number in sorted(numbers):
                await _read_partition(consumer, TopicPartition(topic, number), keyring, found)
    except BrokerError as exc:
        raise EvidenceAnchorError(f"cannot read the anchors from {topic}: {exc}") from exc
    except (KafkaError, TimeoutError, OSError) as exc:
        raise EvidenceAnchorError(
            f"cannot read the anchors from {topic} at {connection} ({type(exc).__name__})"
        ) from exc
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await consumer.stop()
    return newest_anchors(found)


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, keyring: Keyring, found: list[Anchor]
) -> None:
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    end = (await consumer.end_offsets([tp]))[tp]
    extra = 0
    while True:
        batch = await consumer.getmany(tp, timeout_ms=300, max_records=2_000)
        msgs = batch.get(tp, [])
        for msg in msgs:
            anchor = parse_anchor(msg.value, keyring)
            if anchor is not None:
                found.append(anchor)
            else:
                log.warning(
                    "anchor record ignored: it does not verify", extra={"topic": tp.topic, "offset": msg.offset}
                )
        if await consumer.position(tp) >= end:
            # The reported end can fall short of the last batch: read on until a fetch comes back empty.
            extra += 1
            if not msgs or extra > _EXTRA_FETCHES:
                return


class AnchorPublisher:
    """Publishes chain heads to the anchors topic, newest per chain, retrying in the background.

    ``offer`` may be called from any thread (the stores write on executor
    threads) and never blocks; ``start`` and ``flush`` run on the event loop.
    A head offered before ``start`` waits for it.
    """

    def __init__(
        self,
        bootstrap: BrokerConnection | str,
        topic: str,
        *,
        keyring: Keyring | None = None,
        retry_base: float = 0.5,
    ) -> None:
        self.bootstrap = as_connection(bootstrap)
        self.topic = topic
        self.keyring = keyring
        self._retry_base = retry_base
        self._lock = threading.Lock()
        self._pending: dict[str, Anchor] = {}
        self._known: dict[str, Anchor] = {}
        self._in_flight = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.last_error: str | None = None

    # -- any thread

    def offer(self, anchor: Anchor) -> None:
        """Publish ``anchor`` soon (a newer head of the same chain replaces one not yet sent)."""
        with self._lock:
            have = self._pending.get(anchor.chain)
            if have is None or anchor.seq >= have.seq:
                self._pending[anchor.chain] = anchor
            self._known[anchor.chain] = anchor  # the writer builds on this now (after a break too)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._kick)

    def known(self, chain: str) -> Anchor | None:
        """The head a writer of ``chain`` must find in its file: read at start, then the last one offered."""
        with self._lock:
            return self._known.get(chain)

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._pending) or self._in_flight

    # -- the event loop

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def start(self, *, load_within: float = 3.0) -> None:
        """Read the heads already anchored (with a keyring), then start the background sender (idempotent).

        The broker may be down: the heads are then unknown (logged) and sending waits for it.
        """
        if self._task is not None:
            return
        if self.keyring is not None:
            try:
                loaded = await read_anchors(self.bootstrap, self.topic, self.keyring, within=load_within)
            except EvidenceAnchorError as exc:
                log.warning(
                    "anchored heads not read; cut-off chains are noticed by verify only", extra={"error": str(exc)}
                )
            else:
                with self._lock:
                    for chain, anchor in loaded.items():
                        self._known.setdefault(chain, anchor)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task = asyncio.ensure_future(self._run())
        self._wake.set()  # anything offered before start

    async def flush(self, within: float = 10.0) -> None:
        """Wait until every head offered so far is on the broker; EvidenceAnchorError after ``within`` seconds."""
        if self._changed is None:
            raise EvidenceAnchorError("the anchor publisher is not started")
        self._kick()
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: not self._busy())
        except TimeoutError as exc:
            why = f" ({self.last_error})" if self.last_error else ""
            raise EvidenceAnchorError(
                f"the chain heads were not published to {self.topic} within {within:.0f}s{why}; "
                "they are retried in the background"
            ) from exc

    async def stop(self) -> None:
        """Stop sending (heads not yet sent stay unpublished: verification then reports them as not anchored)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()
        self._loop = None

    async def _connected(self) -> AIOKafkaProducer:
        if self._producer is None:
            await ensure_anchors_topic(self.bootstrap, self.topic)
            # Not idempotent: some Kafka-protocol brokers (tansu) refuse InitProducerId; a duplicate anchor is harmless.
            producer = self.bootstrap.producer(acks="all")
            try:
                await self.bootstrap.start(producer, "the anchor publisher")
            except BrokerError as exc:
                raise EvidenceAnchorError(str(exc)) from exc
            self._producer = producer
        return self._producer

    async def _run(self) -> None:
        assert self._wake is not None  # set by start() before the task exists
        delay = self._retry_base
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
                self._in_flight = bool(batch)
            try:
                if batch:
                    producer = await self._connected()
                    for anchor in batch.values():
                        await producer.send_and_wait(self.topic, anchor.to_bytes(), key=anchor.chain.encode())
                self.last_error = None
                delay = self._retry_base
            except (KafkaError, EvidenceAnchorError, OSError) as exc:
                self.last_error = type(exc).__name__
                log.warning("chain heads not published yet; retrying", extra={"error": self.last_error})
                with self._lock:
                    for chain, anchor in batch.items():
                        have = self._pending.get(chain)
                        if have is None or have.seq < anchor.seq:
                            self._pending[chain] = anchor
                await self._drop_producer()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_CAP)
                self._wake.set()
            finally:
                with self._lock:
                    self._in_flight = False
                    if self._pending:
                        self._wake.set()
                if self._changed is not None:
                    async with self._changed:
                        self._changed.notify_all()

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()
