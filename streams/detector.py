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
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.core.bounds import DEFAULT_MAX_SKEW
from kinkyu.core.contract import ContractPolicy
from kinkyu.core.engine import NOTHING, Engine, Output, Refusal
from kinkyu.core.incident import Incident
from kinkyu.core.model import AccessEvent, IncidentEvent
from kinkyu.core.wire import access_decoder, decode_access, decode_incident
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.codec import (
    dead_letter,
    encode,
    encode_lenient,
    event_records,
    finding_records,
    incident_body,
    incident_record,
    json_safe,
    output_records,
    refusal_record,
)
from kinkyu.streams.exceptions import BrokerError, OutputEncodeError, RecordRejectedError
from kinkyu.streams.log_budget import LogBudget
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record, Sink

log = logging.getLogger("kinkyu.detector")

OnOutput = Callable[[Output], None]
TopicKind = Literal["access", "incident"]
Decode = Callable[[bytes], AccessEvent | IncidentEvent]


class Message(Protocol):
    """What :func:`process_batch` reads of a consumed message (aiokafka's ConsumerRecord has it)."""

    @property
    def key(self) -> bytes | None: ...  # noqa: D102  # the protocol's fields are the message's
    @property
    def value(self) -> bytes | None: ...  # noqa: D102
    @property
    def offset(self) -> int: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message :func:`process_batch` set aside: where it was, why, and the record that carries it."""

    offset: int
    reason: str
    record: Record
    error: str | None = None  # the exception's type for an unexpected failure (a bug), else None
    stack: str | None = None  # its frames (code locations, no values), for the log


@dataclass(slots=True)
class BatchResult:
    """What one batch of one partition gives: records to send and what was set aside.

    ``records`` holds the dead letters' records first, then findings, incident
    records and follow-ups in the order the engine produced them; ``sources``
    gives, for each record, the offset of the message it came from (None for
    an incident record, which sums several). ``output`` is what the engine
    produced for the events that were not set aside (for metrics and
    callbacks); ``repaired`` counts incident records that had to go through
    :func:`streams.codec.json_safe`; ``healed`` says the engine's state was
    made encodable again after an ``encode-error``. ``deferred`` are
    follow-ups read in an earlier message (of either batch) that waited for
    their incident and are refused now; their records follow the dead letters'.
    """

    records: list[Record] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    deferred: list[Refusal] = field(default_factory=list)
    output: Output = field(default_factory=Output)
    sources: list[int | None] = field(default_factory=list)
    repaired: int = 0
    healed: bool = False


def _set_aside(
    msg: Message, error: MalformedEventError, *, topics: Topics, source: str, partition: int, bug: BaseException | None
) -> DeadLetter:
    record = dead_letter(
        topics, source=source, partition=partition, offset=msg.offset, key=msg.key, value=msg.value, error=error
    )
    if bug is None:
        return DeadLetter(msg.offset, error.reason, record)
    # Frames only: an exception's message may quote the input (a KeyError holds the key).
    stack = "".join(traceback.format_tb(bug.__traceback__))
    return DeadLetter(msg.offset, error.reason, record, type(bug).__name__, stack)


def heal(engine: Engine) -> None:
    """Make the engine's whole state encodable again (:func:`streams.codec.json_safe` over its snapshot).

    Used after an ``encode-error``: the event is a dead letter, but what it
    already changed in the engine (an incident's sum, a window) stays, and an
    unencodable value there would fail every later record of that incident and
    every checkpoint. Only the values JSON cannot hold change (clamped, replaced).
    """
    engine.restore(json_safe(engine.snapshot()))


def process_batch(
    engine: Engine,
    topic_kind: TopicKind,
    messages: Sequence[Message],
    topics: Topics,
    *,
    source: str,
    partition: int,
    decode: Decode | None = None,
) -> BatchResult:
    """Run one partition's batch of one input topic through ``engine``; never raises for what a message holds.

    The contract (property-tested): for any bytes in ``messages`` this returns,
    and every message either contributes its outputs to ``records`` or is in
    ``dead_letters`` (exactly one of the two), with a reason code:

    - decoding refused it: the decoder's reason (``bad-json``, ``invalid``,
      ``out-of-range`` …), and ``bad-json`` for a message without a value;
    - the engine refused it: its reason (``unknown-contract``, ``unknown-incident`` …);
      a follow-up whose incident is not open yet may instead wait and be refused by a
      later message's call (``deferred``, not counted as that message's dead letter);
    - nesting too deep for a parser or the engine: ``too-deep``;
    - one of its outputs (a finding, a follow-up, an incident it opened) cannot
      be written as JSON: ``encode-error``; the engine is then healed (:func:`heal`)
      so no later record or checkpoint inherits the value;
    - anything else (a bug): ``processing-error``, with the exception's type and
      frames on the :class:`DeadLetter` for the log, never its message.

    Dead letters are bounded in size (:func:`streams.codec.dead_letter`).
    Incident records are aggregates (one per incident changed in the batch,
    its final state, as before): each is written strictly and, failing that,
    through :func:`streams.codec.json_safe` (counted in ``repaired``), so a
    batch always ends with something to send. Only exceptions that are not
    ``Exception`` (cancellation, KeyboardInterrupt) pass through.

    ``decode`` defaults to the topic's decoder (``decode_access`` or
    ``decode_incident``); the stage passes one bound to its clock.
    """
    result = BatchResult()
    if decode is None:
        decode = decode_access if topic_kind == "access" else decode_incident
    handle: Callable[[Any], Output] = engine.on_access
    filed = topic_kind != "access"
    out = result.output
    findings: list[tuple[Record, int]] = []
    events: list[tuple[Record, int]] = []
    touched: dict[str, int] = {}  # incident id -> offset of the last message that changed it
    tainted = False
    for msg in messages:
        # The hot path (an event that changes nothing) stays a call and a test: ~99% of a busy log.
        value = msg.value
        try:
            ev = decode(value if value is not None else b"")  # no value: bad-json, as empty
            # The offset rides along on incident-events: a follow-up refused later names its record.
            produced = engine.on_incident_event(ev, ref=msg.offset) if filed else handle(ev)  # type: ignore[arg-type]  # decode is this topic's decoder
        except Exception as exc:  # noqa: BLE001  # sorted by _refusal: no event may stop the batch
            refused = _refusal(exc)
        else:
            if produced is NOTHING or not produced:
                continue
            # The engine let go of these whatever becomes of this message's own outputs.
            result.deferred.extend(produced.refused)
            written = _write(produced, topics)
            if not isinstance(written, _Refused):
                mine_findings, mine_events = written
                out.extend(produced)
                findings.extend((r, msg.offset) for r in mine_findings)
                events.extend((r, msg.offset) for r in mine_events)
                for incident in produced.incidents:
                    touched[incident.incident_id] = msg.offset
                continue
            refused = written
            tainted = tainted or isinstance(refused.error, OutputEncodeError)
        result.dead_letters.append(
            _set_aside(msg, refused.error, topics=topics, source=source, partition=partition, bug=refused.bug)
        )
    if tainted:
        result.healed = _heal_quietly(engine)
    for d in result.dead_letters:
        result.records.append(d.record)
        result.sources.append(d.offset)
    for refusal in result.deferred:
        result.records.append(refusal_record(topics, refusal, partition=partition))
        result.sources.append(None)  # from another message, maybe of the other topic
    for r, offset in findings:
        result.records.append(r)
        result.sources.append(offset)
    opened_ids = set(out.opened)
    for incident in out.incidents:
        opened = incident.incident_id in opened_ids
        result.records.append(_incident_record(incident, topics, opened=opened, result=result))
        result.sources.append(touched.get(incident.incident_id))
    for r, offset in events:
        result.records.append(r)
        result.sources.append(offset)
    return result


@dataclass(frozen=True, slots=True)
class _Refused:
    error: MalformedEventError
    bug: BaseException | None = None


def _refusal(exc: Exception) -> _Refused:
    """Why decoding or processing refused a message: its reason, and the exception when it is a bug."""
    if isinstance(exc, MalformedEventError):
        return _Refused(exc)
    if isinstance(exc, RecursionError):
        return _Refused(MalformedEventError("too-deep", "nested deeper than the decoder or the engine can follow"))
    return _Refused(MalformedEventError("processing-error", f"{type(exc).__name__} while processing"), exc)


def _write(produced: Output, topics: Topics) -> tuple[list[Record], list[Record]] | _Refused:
    """An event's own records (findings, follow-ups; an incident it opened is checked), or why not."""
    try:
        mine_findings = finding_records(produced, topics)
        mine_events = event_records(produced, topics)
        opened = set(produced.opened)
        for incident in produced.incidents:
            if incident.incident_id in opened:
                # An incident opened by this event holds only its values: written now, blamed on it.
                encode(incident_body(incident, opened=True), "an incident")
    except OutputEncodeError as exc:
        return _Refused(exc)
    except Exception as exc:  # noqa: BLE001  # a bug in writing must not stop the batch either
        return _refusal(exc)
    return mine_findings, mine_events


def _incident_record(incident: Incident, topics: Topics, *, opened: bool, result: BatchResult) -> Record:
    try:
        return incident_record(incident, topics, opened=opened)
    except OutputEncodeError:
        result.repaired += 1
        body = encode_lenient(json_safe(incident_body(incident, opened=opened)))
        return Record(topics.incidents, incident.incident_id.encode(), body)


def _heal_quietly(engine: Engine) -> bool:
    try:
        heal(engine)
    except Exception:  # the checkpoint heals again; a failure here must not lose the batch
        log.exception("engine state could not be made encodable")
        return False
    return True


class _Partition:
    """One partition number's engine and where its inputs stand."""

    __slots__ = ("dirty", "engine", "positions", "seen")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.positions: dict[str, int] = {}
        self.dirty = False
        # Per contract: its newest event time seen live, and the monotonic time it was seen at.
        self.seen: dict[str, tuple[float, float]] = {}

    def note_clocks(self, now_wall: float) -> None:
        """Remember when each contract's newest event time last moved (the tick counts silence from there)."""
        seen = self.seen
        for contract_id, t in self.engine.newest.items():
            last = seen.get(contract_id)
            if last is None or t > last[0]:
                seen[contract_id] = (t, now_wall)


class DetectorStage:
    """Consumes the input topics in batches, runs the engines, sends outputs, checkpoints."""

    def __init__(
        self,
        *,
        bootstrap: BrokerConnection | str,
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
        max_skew: float = DEFAULT_MAX_SKEW,
        log_budget: LogBudget | None = None,
    ) -> None:
        self.bootstrap = as_connection(bootstrap)
        self.group = group
        self.topics = topics
        self.sink = sink
        self.policies = policies
        self.metrics = metrics
        self.lateness = lateness
        self.checkpoint_interval = checkpoint_interval
        self.ingest_delay = ingest_delay
        self.max_skew = max_skew  # how far past this worker's clock an event's time may be
        self.max_records = max_records
        self.session_timeout = session_timeout
        self.on_output = on_output
        # Hostile input makes dead letters by the thousand: a few lines per reason a minute, then a sum.
        self.log_budget = log_budget if log_budget is not None else LogBudget(log, "dead letters")
        self.parts: dict[int, _Partition] = {}
        self.partition_count = 1
        self._consumer: AIOKafkaConsumer | None = None
        self._last_checkpoint = time.monotonic()
        self._lock = asyncio.Lock()  # the consume loop and the ticker share engines and the sink
        self.ready = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Join the group; partitions are restored from checkpoints as they are assigned."""
        consumer = self.bootstrap.consumer(
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
        await self.bootstrap.start(consumer, "the detection stage")  # BrokerError says what to check
        self._consumer = consumer
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
        sources: list[tuple[TopicPartition, int | None]] = []
        access_topic = self.topics.access_log
        now_wall = time.monotonic()
        # "The future" is judged by the wall clock, read once a batch (an event's own time is no clock).
        now, skew = time.time(), self.max_skew
        for tp, msgs in batches.items():
            part = self.parts.get(tp.partition)
            if part is None or not msgs:
                continue  # revoked while the fetch was in flight
            engine = part.engine
            is_access = tp.topic == access_topic
            batch = process_batch(
                engine,
                "access" if is_access else "incident",
                msgs,
                self.topics,
                source=tp.topic,
                partition=tp.partition,
                decode=(
                    access_decoder(now=now, max_skew=skew)
                    if is_access
                    else partial(decode_incident, now=now, max_skew=skew)
                ),
            )
            for dead in batch.dead_letters:
                self._count_dead_letter(tp, dead.offset, dead.reason, dead.error, dead.stack)
            for refusal in batch.deferred:
                self._count_refusal(tp.partition, refusal)
            if batch.repaired or batch.healed:
                log.warning(
                    "values JSON cannot hold were replaced in the engine's state",
                    extra={"partition": tp.partition, "incident_records": batch.repaired, "healed": batch.healed},
                )
            out.extend(batch.output)
            records.extend(batch.records)
            sources.extend((tp, offset) for offset in batch.sources)
            part.positions[tp.topic] = msgs[-1].offset + 1
            part.dirty = True
            if is_access:
                part.note_clocks(now_wall)
            self.metrics.events_in.labels(tp.topic).inc(len(msgs))
        await self._send(records, sources, batches)
        self._observe(out)

    async def _send(
        self,
        records: list[Record],
        sources: list[tuple[TopicPartition, int | None]],
        batches: Mapping[TopicPartition, list[Any]],
    ) -> None:
        """Send; a record the broker refuses (too large) becomes a dead letter of the message it came from."""
        try:
            await self.sink.send_all(records)
        except RecordRejectedError as exc:
            letters = []
            for index, reason in sorted(exc.rejected.items()):
                tp, offset = sources[index]
                msg = next((m for m in batches[tp] if m.offset == offset), None) if offset is not None else None
                if self.log_budget.allow(f"output {reason}"):
                    log.warning(
                        "output refused by the broker",
                        extra={"topic": records[index].topic, "bytes": len(records[index].value), "reason": reason},
                    )
                if msg is None or offset is None or records[index].topic == self.topics.dead_letters:
                    continue  # an incident record (several sources) or a dead letter itself: nothing more to set aside
                err = MalformedEventError(reason, "an output of this event is larger than the broker accepts")
                self._count_dead_letter(tp, offset, reason)
                letters.append(
                    dead_letter(
                        self.topics,
                        source=tp.topic,
                        partition=tp.partition,
                        offset=offset,
                        key=msg.key,
                        value=msg.value,
                        error=err,
                    )
                )
            try:
                await self.sink.send_all(letters)
            except RecordRejectedError:
                log.warning("dead letters refused by the broker", extra={"count": len(letters)})

    def _count_dead_letter(
        self, tp: TopicPartition, offset: int, reason: str, error: str | None = None, stack: str | None = None
    ) -> None:
        self.metrics.dead_letters.labels(reason).inc()  # every one, whatever the log shows
        if not self.log_budget.allow(reason, bug=error is not None):
            return
        # The reason names fields, never values; safe to log.
        extra = {"topic": tp.topic, "partition": tp.partition, "offset": offset, "reason": reason}
        if error is None:
            log.warning("event to dead-letters", extra=extra)
        else:
            # A bug, not bad input: error level, with the frames (never the exception's message).
            log.error("event processing failed", extra={**extra, "error": error, "stack": stack})

    def _count_refusal(self, partition: int, refusal: Refusal) -> None:
        where = TopicPartition(self.topics.incident_events, partition)
        self._count_dead_letter(where, -1 if refusal.ref is None else refusal.ref, refusal.reason)

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
        """Move each contract's event clock on by the wall time that passed without its events.

        Old logs fed in quickly keep their own event time; a live system that
        falls silent is judged by the clock, less ``ingest_delay`` for events
        still on their way. Per contract: a contract whose events stopped is
        judged by its own silence, however busy (or however far ahead) the
        others on its partition are. It also sums up the dead letters the log
        held back (:class:`~kinkyu.streams.log_budget.LogBudget`) once their minute is over.
        """
        self.log_budget.flush()
        async with self._lock:
            out = Output()
            letters: list[Record] = []
            now_wall = time.monotonic()
            for p, part in self.parts.items():
                clocks = part.engine.clocks
                times = {
                    contract_id: now
                    for contract_id, (t, wall) in part.seen.items()
                    if (now := t + (now_wall - wall) - self.ingest_delay) > clocks.get(contract_id, 0.0)
                }
                if times:
                    advanced = part.engine.advance_each(times)
                    for refusal in advanced.refused:
                        letters.append(refusal_record(self.topics, refusal, partition=p))
                        self._count_refusal(p, refusal)
                    out.extend(advanced)
            if out:
                await self.sink.send_all(letters + output_records(out, self.topics))
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
            value = self._checkpoint_value(p, part)
            if value is None:
                continue  # stays dirty: tried again next interval
            records.append(Record(self.topics.checkpoints, self._key(p), value))
            commits.update({TopicPartition(t, p): o for t, o in part.positions.items()})
            part.dirty = False
        if not records:
            return
        try:
            await self.sink.send_all(records)
        except RecordRejectedError as exc:
            # Too large for the broker: the worker goes on; a restart re-reads from the last checkpoint taken.
            log.error(  # noqa: TRY400  # the sizes say it all
                "checkpoint refused by the broker; the previous one stays in force",
                extra={"bytes": [len(records[i].value) for i in exc.rejected]},
            )
            for i in exc.rejected:
                self.parts[int(records[i].key.decode().rsplit("/", 1)[1])].dirty = True  # type: ignore[union-attr]  # our own keys
            return
        self.metrics.checkpoints.inc(len(records))
        if self._consumer is not None and commits:
            # Group offsets are for lag monitoring; recovery trusts the checkpoint's own offsets.
            try:
                await self._consumer.commit(commits)
            except KafkaError as exc:
                log.warning("offset commit failed", extra={"error": type(exc).__name__})

    def _checkpoint_value(self, p: int, part: _Partition) -> bytes | None:
        """The checkpoint of partition ``p``; the engine is healed first if its state cannot be written."""
        body = {"v": 1, "partition": p, "offsets": part.positions, "engine": part.engine.snapshot()}
        try:
            return encode(body, "the checkpoint")
        except OutputEncodeError:
            pass
        # A value no event should have left (see process_batch): never a reason to stop checkpointing.
        log.warning("engine state held values JSON cannot hold; replaced before the checkpoint", extra={"partition": p})
        try:
            heal(part.engine)
            return encode_lenient({"v": 1, "partition": p, "offsets": part.positions, "engine": part.engine.snapshot()})
        except Exception:  # the worker goes on; the previous checkpoint stays in force
            log.exception("checkpoint could not be written", extra={"partition": p})
            return None

    async def _load_checkpoints(self, partitions: set[int]) -> dict[int, dict[str, Any]]:
        """The newest checkpoint of each partition, read from the start of the checkpoint topic."""
        found: dict[int, dict[str, Any]] = {}
        reader = self.bootstrap.consumer(enable_auto_commit=False, fetch_max_wait_ms=100)
        await self.bootstrap.start(reader, "the checkpoint reader")
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
                # A clock a checkpoint carries past this worker's clock (written before the wire bounds,
                # or by a host whose clock ran ahead) is pulled back, so it cannot blind the windows.
                engine.restore(cp["engine"], not_after=time.time() + self.max_skew)
                part.positions = {t: int(o) for t, o in cp["offsets"].items()}
                part.note_clocks(time.monotonic())
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
