"""The detection stage: ``access-log`` + ``incident-events`` → ``findings``, ``incidents``, ``dead-letters``.

This is the high-volume path, so it consumes in batches (``getmany``) and
hands whole batches to the pure engine instead of going through faust's
per-message machinery (which caps at ~10k events/s; see
shared/notes/faust-on-tansu.md). faust hosts it as a service and keeps the
low-volume work.

Safe to run twice: yes. Each partition's engine state is checkpointed to
``kinkyu-checkpoints`` together with the input offsets it covers, after the
outputs up to those offsets were acknowledged. A restarted worker restores
the checkpoint and re-reads from its offsets; the engine is deterministic,
so whatever it re-emits carries the same finding and incident ids.

Partitioning: ``access-log`` and ``incident-events`` must have the same
number of partitions and be keyed by ``contract_id`` (one engine per
partition number owns both). With one partition, any keying works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from kinkyu.core.contract import ContractPolicy
from kinkyu.core.engine import NOTHING, Engine, Output
from kinkyu.core.wire import decode_access, decode_incident
from kinkyu.exceptions import MalformedEventError
from streams.codec import dead_letter, output_records
from streams.exceptions import BrokerError
from streams.metrics import Metrics
from streams.settings import Topics
from streams.sink import Record, Sink

log = logging.getLogger("kinkyu.detector")

OnOutput = Callable[[Output], None]


class _Partition:
    """One partition number's engine and where its inputs stand."""

    __slots__ = ("dirty", "engine", "last_t", "last_wall", "positions")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.positions: dict[str, int] = {}
        self.dirty = False
        self.last_t = 0.0  # newest event time seen live
        self.last_wall = time.monotonic()


class DetectorStage:
    """Consumes the input topics in batches, runs the engines, sends outputs, checkpoints."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        topics: Topics,
        sink: Sink,
        policies: Callable[[], Mapping[str, ContractPolicy]],
        metrics: Metrics,
        lateness: float = 300.0,
        checkpoint_interval: float = 1.0,
        ingest_delay: float = 30.0,
        max_records: int = 10_000,
        session_timeout: float = 10.0,
        on_output: OnOutput | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = topics
        self.sink = sink
        self.policies = policies
        self.metrics = metrics
        self.lateness = lateness
        self.checkpoint_interval = checkpoint_interval
        self.ingest_delay = ingest_delay
        self.max_records = max_records
        self.session_timeout = session_timeout
        self.on_output = on_output
        self.parts: dict[int, _Partition] = {}
        self.partition_count = 1
        self._consumer: AIOKafkaConsumer | None = None
        self._last_checkpoint = time.monotonic()
        self._lock = asyncio.Lock()  # the consume loop and the ticker share engines and the sink
        self.ready = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Join the group; partitions are restored from checkpoints as they are assigned."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.group}-detector",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # tansu sleeps through the whole fetch wait; 100 ms keeps latency low for little idle CPU.
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=round(self.session_timeout * 1000),
            heartbeat_interval_ms=round(self.session_timeout * 200),
            # Range assignment gives one member the same partition number of both inputs.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        try:
            await self._consumer.start()
        except KafkaError as exc:
            raise BrokerError(f"cannot reach the broker at {self.bootstrap}: {exc}") from exc
        self._consumer.subscribe(list(self.topics.inputs), listener=_Rebalance(self))

    async def stop(self) -> None:
        """Checkpoint what was processed and leave the group."""
        if self._consumer is None:
            return
        try:
            async with self._lock:
                await self._checkpoint(force=True)
        finally:
            await self._consumer.stop()
            self._consumer = None

    async def run(self) -> None:
        """Consume until cancelled."""
        consumer = self._consumer
        if consumer is None:
            raise BrokerError("DetectorStage.run() before start()")
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
            async with self._lock:
                if batches:
                    await self._process(batches)
                if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
                    await self._checkpoint()

    # -- processing ----------------------------------------------------------

    async def _process(self, batches: Mapping[TopicPartition, list[Any]]) -> None:
        out = Output()
        records: list[Record] = []
        access_topic = self.topics.access_log
        now_wall = time.monotonic()
        for tp, msgs in batches.items():
            part = self.parts.get(tp.partition)
            if part is None or not msgs:
                continue  # revoked while the fetch was in flight
            engine = part.engine
            is_access = tp.topic == access_topic
            decode = decode_access if is_access else decode_incident
            handle = engine.on_access if is_access else engine.on_incident_event
            for msg in msgs:
                try:
                    result = handle(decode(msg.value))  # type: ignore[arg-type]  # decode matches handle by topic
                except MalformedEventError as exc:
                    records.append(self._dead_letter(tp, msg, exc))
                    continue
                except Exception as exc:  # a bug must not lose the event nor stop the worker
                    log.exception("event processing failed", extra={"topic": tp.topic, "offset": msg.offset})
                    err = MalformedEventError("processing-error", f"{type(exc).__name__} while processing")
                    records.append(self._dead_letter(tp, msg, err))
                    continue
                if result is not NOTHING:
                    out.extend(result)
            part.positions[tp.topic] = msgs[-1].offset + 1
            part.dirty = True
            if is_access and engine.watermark > part.last_t:
                part.last_t = engine.watermark
                part.last_wall = now_wall
            self.metrics.events_in.labels(tp.topic).inc(len(msgs))
        records.extend(output_records(out, self.topics))
        await self.sink.send_all(records)
        self._observe(out)

    def _dead_letter(self, tp: TopicPartition, msg: Any, exc: MalformedEventError) -> Record:
        # The reason names fields, never values; safe to log.
        log.warning(
            "event to dead-letters",
            extra={"topic": tp.topic, "partition": tp.partition, "offset": msg.offset, "reason": exc.reason},
        )
        self.metrics.dead_letters.labels(exc.reason).inc()
        return dead_letter(
            self.topics,
            source=tp.topic,
            partition=tp.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            error=exc,
        )

    def _observe(self, out: Output) -> None:
        for f in out.findings:
            self.metrics.findings.labels(f.rule).inc()
        opened = set(out.opened)
        for incident in out.incidents:
            if incident.incident_id in opened:
                self.metrics.incidents_opened.labels(incident.origin).inc()
                log.info(
                    "incident opened",
                    extra={
                        "incident_id": incident.incident_id,
                        "contract_id": incident.contract_id,
                        "rules": incident.rules,
                        "kind": incident.kind,
                        "severity": incident.severity.value,
                        "records": incident.records,
                    },
                )
        self.metrics.incidents_open.set(sum(p.engine.active_incidents for p in self.parts.values()))
        if self.on_output is not None and out:
            self.on_output(out)

    async def tick(self) -> None:
        """Move each engine's event clock on by the wall time that passed without events.

        Old logs fed in quickly keep their own event time; a live system that
        falls silent is judged by the clock, less ``ingest_delay`` for events
        still on their way.
        """
        async with self._lock:
            out = Output()
            now_wall = time.monotonic()
            for part in self.parts.values():
                if part.last_t == 0.0:
                    continue
                now = part.last_t + (now_wall - part.last_wall) - self.ingest_delay
                if now > part.engine.watermark:
                    out.extend(part.engine.advance(now))
            if out:
                await self.sink.send_all(output_records(out, self.topics))
                self._observe(out)

    def set_policies(self, policies: Mapping[str, ContractPolicy]) -> None:
        """Swap contract profiles in every engine, keeping their state."""
        for part in self.parts.values():
            part.engine.set_contracts(policies)

    # -- checkpoints -----------------------------------------------------------

    def _key(self, partition: int) -> bytes:
        return f"{self.group}/{partition}".encode()

    async def _checkpoint(self, *, force: bool = False, only: Iterable[int] | None = None) -> None:
        self._last_checkpoint = time.monotonic()
        wanted = set(only) if only is not None else set(self.parts)
        records = []
        commits: dict[TopicPartition, int] = {}
        for p in wanted:
            part = self.parts.get(p)
            if part is None or not (part.dirty or force) or not part.positions:
                continue
            body = {"v": 1, "partition": p, "offsets": part.positions, "engine": part.engine.snapshot()}
            records.append(Record(self.topics.checkpoints, self._key(p), orjson.dumps(body)))
            commits.update({TopicPartition(t, p): o for t, o in part.positions.items()})
            part.dirty = False
        if not records:
            return
        await self.sink.send_all(records)
        self.metrics.checkpoints.inc(len(records))
        if self._consumer is not None and commits:
            # Group offsets are for lag monitoring; recovery trusts the checkpoint's own offsets.
            try:
                await self._consumer.commit(commits)
            except KafkaError as exc:
                log.warning("offset commit failed", extra={"error": type(exc).__name__})

    async def _load_checkpoints(self, partitions: set[int]) -> dict[int, dict[str, Any]]:
        """The newest checkpoint of each partition, read from the start of the checkpoint topic."""
        found: dict[int, dict[str, Any]] = {}
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
        await reader.start()
        try:
            parts = reader.partitions_for_topic(self.topics.checkpoints) or set()
            tps = [TopicPartition(self.topics.checkpoints, p) for p in parts]
            if not tps:
                return found
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            if not any(ends.values()):
                # Nothing was ever written (a short end offset is still past the first record): a fresh
                # start need not wait for an empty fetch.
                return found
            wanted = {self._key(p): p for p in partitions}
            # Some brokers report end offsets short of the last batch: read until a fetch comes back empty too.
            while True:
                batch = await reader.getmany(timeout_ms=300)
                for msgs in batch.values():
                    for msg in msgs:
                        p = wanted.get(msg.key or b"")
                        if p is not None and msg.value:
                            found[p] = orjson.loads(msg.value)
                if not batch and all([await reader.position(tp) >= ends[tp] for tp in tps]):
                    break
        finally:
            await reader.stop()
        return found

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore each newly assigned partition number from its checkpoint and seek its inputs there."""
        consumer = self._consumer
        if consumer is None:
            return
        counts = {t: len(consumer.partitions_for_topic(t) or ()) for t in self.topics.inputs}
        if len(set(counts.values())) != 1:
            log.error("input topics differ in partition count", extra={"counts": counts})
        self.partition_count = max(counts.values() or [1])
        async with self._lock:
            await self._assign(consumer, assigned)
        self.ready.set()

    async def _assign(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        new = {tp.partition for tp in assigned} - set(self.parts)
        checkpoints = await self._load_checkpoints(new)
        policies = self.policies()
        for p in sorted(new):
            engine = Engine(policies, lateness=self.lateness, partition=p, partitions=self.partition_count)
            part = _Partition(engine)
            cp = checkpoints.get(p)
            if cp is not None:
                engine.restore(cp["engine"])
                part.positions = {t: int(o) for t, o in cp["offsets"].items()}
                part.last_t = engine.watermark
            self.parts[p] = part
        for tp in assigned:
            if tp.partition in new and tp.topic in self.parts[tp.partition].positions:
                consumer.seek(tp, self.parts[tp.partition].positions[tp.topic])
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(new), "restored": sorted(checkpoints), "group": self.group},
        )

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint and drop the engines of partitions this worker no longer owns."""
        gone = {tp.partition for tp in revoked}
        async with self._lock:
            await self._checkpoint(force=True, only=gone)
        for p in gone:
            self.parts.pop(p, None)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type information
    def __init__(self, stage: DetectorStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.stage.on_assigned(assigned)
