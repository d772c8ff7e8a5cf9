"""Evidence collection (証拠保全) at the Kafka edge: read what a SealEvidence names, seal it, store it.

A playbook run asks for evidence with a
:class:`~kinkyu.core.playbook.effects.SealEvidence`: the triggering events, and
the events of the incident's actor or system from ``since`` to ``until``
(the incident's events widened by the contract's evidence window). This module

1. reads those events from ``access-log`` (and a filed incident's own event
   from ``incident-events``) **without a consumer group**, with one reader
   kept for the process: partitions are assigned, and the first offset worth
   reading is found by binary search on offsets, reading the ``ts`` of single
   records. Logs are nearly time-ordered, so the search looks for ``since -
   lateness`` and the forward scan stops at the first event later than
   ``until + lateness`` (or at the current end of the log). Seals due together
   are read together (:meth:`EvidenceCollector.collect_many`): one search and
   one pass per partition over the union of their windows, each event handed
   to the seals whose scope it is in; and the events read stay decoded in
   memory per partition (up to :data:`WINDOW_EVENTS`), so the next seal reads
   only what arrived since (issue #14: re-reading an hour of log per incident
   kept the broker busy and every other stage waiting on it);
2. keeps at most ``max_items`` events besides the triggering ones (the
   truncation is said in the seal's reason and in the result);
3. seals them with :func:`kinkyu.core.evidence.seal_bundle` and stores the
   bundle with :meth:`kinkyu.evidence.store.EvidenceStore.put_bundle`, both in
   an executor (AES-GCM, hashing, fsync: blocking work). The store MACs the
   manifest and the custody entry with the integrity keys and hands the
   chain's new head to the :class:`~kinkyu.evidence.anchor.AnchorPublisher`,
   which publishes it on the anchors topic outside the data volume; the seal
   waits (a while) for that before it counts as done.

Safe to run twice: yes. The bundle id derives from the incident and the
items only, and the store keeps the first copy of a bundle, so sealing the
same events again (a redelivery, a restart) stores nothing new. Sealing again
once more events exist gives a second bundle with its own id.

Nothing read here is logged: raw events may hold personal information; logs
and results carry ids, offsets and counts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.core.evidence import EvidenceItem, Manifest, key_from_config, seal_bundle, source_of
from kinkyu.core.integrity import Anchor, Keyring
from kinkyu.core.playbook import SealEvidence
from kinkyu.evidence.anchor import AnchorPublisher
from kinkyu.evidence.exceptions import EvidenceAnchorError, IntegrityKeyError
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.evidence.store import EvidenceStore, evidence_chain
from kinkyu.streams.child import child_pool
from kinkyu.streams.exceptions import BrokerError
from kinkyu.streams.settings import Topics, WorkerSettings

log = logging.getLogger("kinkyu.evidence")

_PROBE_RECORDS = 8  # records read per binary-search probe, in case the first ones carry no time
_SCAN_RECORDS = 2_000
# Access-log events kept decoded per partition between seals (raw bytes and scope fields, ~600 B each):
# a seal then reads only what arrived since the last one. A window needing more is read from the log.
WINDOW_EVENTS = 200_000
SEAL_PROCESSES = 4  # incidents sealed at once, in as many child processes (the work is mostly fsync)
_EXTRA_FETCHES = 2  # fetches past the reported end: some brokers report it short of the last batch
_ANCHOR_WAIT = 10.0  # seconds a seal waits for its anchor before going on (the publisher keeps retrying)


def evidence_collector(
    settings: WorkerSettings, topics: Topics, connection: BrokerConnection | None = None
) -> EvidenceCollector:
    """The worker's collector: the store MACs with the integrity keys and anchors each head on the broker.

    Sealing without integrity keys is refused (IntegrityKeyError, so ``kinkyu
    worker`` exits 3): evidence whose custody log anyone with the volume could
    rewrite is not evidence. Needs ``settings.evidence_key``.
    """
    if settings.evidence_key is None:
        raise IntegrityKeyError("no evidence key (KINKYU_EVIDENCE_KEY) to seal with")
    key = key_from_config(settings.evidence_key.get_secret_value())  # EvidenceKeyError names no value
    keyring = integrity_keyring(settings.integrity_keys, settings.integrity_key_id, separate_from=[key])
    if keyring is None:
        raise IntegrityKeyError(
            "evidence is to be sealed (KINKYU_EVIDENCE_KEY is set) but no integrity key is configured: set "
            'KINKYU_INTEGRITY_KEYS to {"<key id>": "<32 random bytes in base64>"} (not the evidence key; '
            "`openssl rand -base64 32`), kept off the data volume"
        )
    connection = connection if connection is not None else settings.broker_connection()
    anchors = AnchorPublisher(connection, topics.anchors, keyring=keyring)
    store = EvidenceStore(settings.evidence_path, keyring=keyring, on_append=anchors.offer, anchored=anchors.known)
    return EvidenceCollector(
        bootstrap=connection,
        topics=topics,
        store=store,
        key=key,
        lateness=settings.lateness,
        max_items=settings.evidence_max_items,
        sealed_by=f"kinkyu:{settings.group}",
        anchors=anchors,
    )


def seal_and_store(
    root: Path,
    keyring: Keyring | None,
    *,
    key: bytes,
    sealed_by: str,
    incident_id: str,
    items: list[EvidenceItem],
    now: datetime,
    reason: str,
    known: Anchor | None,
) -> tuple[Manifest, list[Anchor]]:
    """Seal ``items`` and store the bundle in ``store``'s folder: the manifest and the chain heads to anchor.

    Runs in the collector's child process (AES-GCM, hashing and the manifest
    of thousands of events are a few hundred milliseconds of work holding the
    interpreter's lock; in the worker's process they stalled every stage).
    The store (``root``, ``keyring``) is made here without the worker's
    callbacks: ``known`` is the head last anchored for the incident's chain,
    and the heads appended come back for the worker's anchor publisher.
    """
    appended: list[Anchor] = []
    child = EvidenceStore(root, keyring=keyring, on_append=appended.append, anchored=lambda _: known)
    sealed = seal_bundle(incident_id, items, key, sealed_at=now, sealed_by=sealed_by, reason=reason)
    return child.put_bundle(sealed, sealed_by), appended


def seal_from_json(data: dict[str, Any]) -> SealEvidence:
    """Inverse of :meth:`SealEvidence.to_json` (a pending seal is stored in that form)."""
    return SealEvidence(
        effect_id=data["effect_id"],
        incident_id=data["incident_id"],
        contract_id=data["contract_id"],
        since=datetime.fromisoformat(data["since"]),
        until=datetime.fromisoformat(data["until"]),
        window_before=timedelta(seconds=data["window_before"]),
        window_after=timedelta(seconds=data["window_after"]),
        event_ids=tuple(data["event_ids"]),
        actor=data["actor"],
        system=data["system"],
    )


@dataclass(frozen=True, slots=True)
class _Event:
    """The fields of a raw event that decide whether it is evidence."""

    event_id: str
    ts: datetime
    contract_id: str | None
    actor: str | None
    system: str | None


def _decode(value: bytes | None) -> _Event | None:
    """The scope fields of a raw event; None when it does not parse (it is not evidence of anything)."""
    if not value:
        return None
    try:
        obj = orjson.loads(value)
        event_id, ts = obj["event_id"], datetime.fromisoformat(obj["ts"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not isinstance(event_id, str) or ts.tzinfo is None:
        return None
    actor = obj.get("actor")
    return _Event(
        event_id,
        ts,
        obj.get("contract_id") if isinstance(obj.get("contract_id"), str) else None,
        actor.get("id") if isinstance(actor, dict) and isinstance(actor.get("id"), str) else None,
        obj.get("system") if isinstance(obj.get("system"), str) else None,
    )


def in_scope(seal: SealEvidence, ev: _Event) -> bool:
    """Whether an event belongs in the seal: as :func:`kinkyu.core.evidence.in_evidence_scope` decides.

    The triggering events always; besides them, events of the same contract by the
    incident's actor or on its system within ``since``..``until`` (already widened
    by the evidence window).
    """
    if ev.event_id in seal.event_ids:
        return True
    if ev.contract_id != seal.contract_id or not seal.since <= ev.ts <= seal.until:
        return False
    return (seal.actor is not None and ev.actor == seal.actor) or (seal.system is not None and ev.system == seal.system)


@dataclass(slots=True)
class Collected:
    """The events found for one seal (raw bytes in ``items``; never logged)."""

    items: list[EvidenceItem] = field(default_factory=list)
    scanned: int = 0
    dropped: int = 0  # in scope but over the cap
    timed_out: bool = False

    @property
    def truncated(self) -> bool:
        """Whether events in scope were left out (the cap, or the time budget)."""
        return self.dropped > 0 or self.timed_out


@dataclass(frozen=True, slots=True)
class SealResult:
    """What one seal produced: a bundle (None when no event was found) and counts."""

    bundle_id: str | None
    items: int
    scanned: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class _Raw:
    """A record's offset and value, as :meth:`_Scope._keep` reads them from a consumer record."""

    offset: int
    value: bytes


@dataclass(slots=True)
class _Window:
    """One access-log partition's recent events, decoded, from ``floor`` on (offset order).

    Every event at ``first_offset`` or later whose time is ``floor`` or later
    is here, up to ``next_offset`` (as complete as the binary search that
    found ``first_offset``: logs are nearly time-ordered).
    """

    floor: datetime
    first_offset: int
    next_offset: int
    events: list[tuple[int, _Event, bytes]] = field(default_factory=list)
    by_contract: dict[str | None, list[tuple[int, _Event, bytes]]] = field(default_factory=dict)

    def covers(self, start: datetime) -> bool:
        """Whether every event from ``start`` on is here (or still to be read from ``next_offset``)."""
        return self.floor <= start

    def add(self, offset: int, ev: _Event, raw: bytes) -> None:
        """Keep one more event (read in offset order)."""
        entry = (offset, ev, raw)
        self.events.append(entry)
        self.by_contract.setdefault(ev.contract_id, []).append(entry)

    def trim(self, limit: int) -> None:
        """Forget the oldest events beyond ``limit``; ``floor`` rises to the oldest time kept."""
        extra = len(self.events) - limit
        if extra <= 0:
            return
        dropped, self.events = self.events[:extra], self.events[extra:]
        # Past the newest time dropped: an event at that very time may be among those dropped.
        self.floor = max(self.floor, *(ev.ts + timedelta(microseconds=1) for _, ev, _ in dropped))
        self.first_offset = self.events[0][0] if self.events else self.next_offset
        self.by_contract = {}
        for entry in self.events:
            self.by_contract.setdefault(entry[1].contract_id, []).append(entry)


class _Scope:
    """Which seals an event belongs to, and what each has collected so far (one pass, many seals)."""

    def __init__(self, seals: Sequence[SealEvidence], max_items: int) -> None:
        self.seals = list(seals)
        self.found = [Collected() for _ in self.seals]
        self.max_items = max_items
        self.by_contract: dict[str, list[int]] = {}
        self.by_trigger: dict[str, list[int]] = {}
        for i, seal in enumerate(self.seals):
            self.by_contract.setdefault(seal.contract_id, []).append(i)
            for event_id in seal.event_ids:
                self.by_trigger.setdefault(event_id, []).append(i)
        self.seen: list[set[str]] = [set() for _ in self.seals]
        # Set on the incident-events pass: only the triggering events still missing are looked for.
        self.only: dict[str, list[int]] | None = None

    def missing_triggers(self) -> dict[str, list[int]]:
        """The triggering event ids not found yet, with the seals that want each."""
        out: dict[str, list[int]] = {}
        for event_id, wanting in self.by_trigger.items():
            missing = [i for i in wanting if event_id not in self.seen[i]]
            if missing:
                out[event_id] = missing
        return out

    def only_missing(self) -> None:
        """From now on take only the triggering events still missing (of their own contract)."""
        self.only = self.missing_triggers()

    def take(self, msgs: Iterable[Any], tp: TopicPartition, *, stop: datetime | None) -> bool:
        """Hand each record to the seals whose scope it is in; True once past ``stop``."""
        n = 0
        for msg in msgs:
            n += 1
            ev = _decode(msg.value)
            if ev is None:
                continue
            if stop is not None and ev.ts > stop:
                self._count(n)
                return True
            for i in self._wanting(ev):
                self._keep(i, ev, tp, msg)
        self._count(n)
        return False

    def take_window(self, window: _Window, tp: TopicPartition) -> None:
        """Hand the window's events of the seals' contracts (and their triggering events) to the seals."""
        contracts = {seal.contract_id for seal in self.seals}
        scanned = 0
        for contract_id in contracts:
            entries = window.by_contract.get(contract_id, ())
            scanned += len(entries)
            for offset, ev, raw in entries:
                for i in self._wanting(ev):
                    self._keep(i, ev, tp, _Raw(offset, raw))
        missing = self.missing_triggers()
        if missing:
            # A triggering event of another contract's key (rare): look for it among all the window's events.
            for offset, ev, raw in window.events:
                if ev.event_id in missing and ev.contract_id not in contracts:
                    for i in self._wanting(ev):
                        self._keep(i, ev, tp, _Raw(offset, raw))
        self._count(scanned)

    def _count(self, n: int) -> None:
        for found in self.found:
            found.scanned += n

    def _wanting(self, ev: _Event) -> list[int]:
        if self.only is not None:
            wanting = self.only.get(ev.event_id, ())
            return [
                i for i in wanting if ev.contract_id == self.seals[i].contract_id and ev.event_id not in self.seen[i]
            ]
        candidates = set(self.by_trigger.get(ev.event_id, ()))
        if ev.contract_id is not None:
            candidates.update(self.by_contract.get(ev.contract_id, ()))
        # A record read twice (a redelivered event) is kept twice, as it is on the log.
        return [i for i in sorted(candidates) if in_scope(self.seals[i], ev)]

    def _keep(self, i: int, ev: _Event, tp: TopicPartition, msg: Any) -> None:
        found = self.found[i]
        # The triggering events are always kept; the cap bounds the surrounding window.
        if ev.event_id not in self.seals[i].event_ids and len(found.items) >= self.max_items:
            found.dropped += 1
            return
        self.seen[i].add(ev.event_id)
        found.items.append(EvidenceItem(source_of(tp.topic, tp.partition, msg.offset), ev.event_id, msg.value))


class EvidenceCollector:
    """Reads evidence from the log topics, seals it with ``key`` and stores it under ``store``."""

    def __init__(
        self,
        *,
        bootstrap: BrokerConnection | str,
        topics: Topics,
        store: EvidenceStore,
        key: bytes,
        lateness: float,
        max_items: int = 10_000,
        sealed_by: str = "kinkyu",
        time_budget: float = 60.0,
        anchors: AnchorPublisher | None = None,
    ) -> None:
        self.bootstrap = as_connection(bootstrap)
        self.topics = topics
        self.store = store
        self._key = key
        self.lateness = timedelta(seconds=lateness)
        self.max_items = max_items
        self.sealed_by = sealed_by
        self.time_budget = time_budget
        self.anchors = anchors
        self._consumer: AIOKafkaConsumer | None = None
        self._windows: dict[TopicPartition, _Window] = {}
        self.window_events = WINDOW_EVENTS
        self._process: ProcessPoolExecutor | None = None
        # Threads of their own that wait on the sealing children: on the loop's default pool a pass of
        # seals held back everything else queued there (aiosmtplib's hostname lookup, for one).
        self._waiters: ThreadPoolExecutor | None = None

    async def stop(self) -> None:
        """Disconnect the reader and the anchor publisher."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self.anchors is not None:
            await self.anchors.stop()
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)
            self._process = None
        if self._waiters is not None:
            self._waiters.shutdown(wait=False, cancel_futures=True)
            self._waiters = None

    async def _reader(self) -> AIOKafkaConsumer:
        # One group-less reader, made on first use and kept: seals come one at a time from one agent.
        if self._consumer is None:
            consumer = self.bootstrap.consumer(
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=100,  # tansu sleeps through the whole wait at the end of a log
                max_partition_fetch_bytes=1024 * 1024,
            )
            await self.bootstrap.start(consumer, "the evidence reader")  # BrokerError says what to check
            self._consumer = consumer
        return self._consumer

    # -- sealing ---------------------------------------------------------------------

    async def seal(self, seal: SealEvidence, *, now: datetime, phase: str) -> SealResult:
        """Collect the events ``seal`` names as of now, seal and store them; the bundle id and counts."""
        result = (await self.seal_many([(seal, phase)], now=now))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def seal_many(
        self, jobs: Sequence[tuple[SealEvidence, str]], *, now: datetime
    ) -> list[SealResult | Exception]:
        """Seal several incidents' evidence from one read of the logs: a result (or the error) per job, in order.

        The events of every job are collected in one pass per partition over
        the union of their windows (:meth:`collect_many`); each job is then
        sealed and stored on its own, so one job's failure is its own.
        Raises :class:`BrokerError` when the logs could not be read at all.
        """
        founds = await self.collect_many([seal for seal, _ in jobs])
        if self.anchors is not None and any(f.items for f in founds):
            await self.anchors.start()
        out: list[SealResult | Exception] = [SealResult(None, 0, found.scanned, found.truncated) for found in founds]
        # Incidents are sealed side by side (their custody logs are separate files; the work is mostly
        # fsync), one incident's bundles in order (each builds on its chain's head).
        by_incident: dict[str, list[int]] = {}
        for i, ((seal, _), found) in enumerate(zip(jobs, founds, strict=True)):
            if found.items:
                by_incident.setdefault(seal.incident_id, []).append(i)
        stored: list[str] = []

        async def one_incident(indices: list[int]) -> None:
            loop = asyncio.get_running_loop()
            for i in indices:
                (seal, phase), found = jobs[i], founds[i]
                job = functools.partial(
                    self._seal_and_store, seal.incident_id, found.items, now, self._reason(seal, phase, found)
                )
                try:
                    manifest = await loop.run_in_executor(self._waiting(), job)
                except Exception as exc:  # noqa: BLE001  # a disk or key problem is this job's alone; the stage retries it
                    out[i] = exc
                    continue
                stored.append(seal.incident_id)
                out[i] = SealResult(manifest.bundle_id, manifest.item_count, found.scanned, found.truncated)

        await asyncio.gather(*(one_incident(indices) for indices in by_incident.values()))
        if stored:
            await self._anchored(stored[0] if len(stored) == 1 else f"{len(stored)} incidents")
        return out

    def _reason(self, seal: SealEvidence, phase: str, found: Collected) -> str:
        """The custody entry's reason: which seal, how many events, and what was left out."""
        reason = (
            f"playbook {seal.effect_id} ({phase}): {len(found.items)} event(s), "
            f"{seal.since.isoformat()} to {seal.until.isoformat()}"
        )
        if found.dropped:
            reason += f"; truncated at {self.max_items} events ({found.dropped} more in scope not sealed)"
        if found.timed_out:
            reason += f"; reading stopped after {self.time_budget:.0f}s"
        return reason

    async def _anchored(self, incident_id: str) -> None:
        """Wait until the custody chains' new heads are on the anchors topic (retried if that takes long)."""
        if self.anchors is None:
            return
        try:
            await self.anchors.flush(_ANCHOR_WAIT)
        except EvidenceAnchorError:
            # The seal is on disk and MAC'd; until the head is published, verify reports it as not anchored yet.
            log.warning("evidence sealed; its anchor is not published yet", extra={"incident_id": incident_id})

    def _waiting(self) -> ThreadPoolExecutor:
        """The threads that hand seals to the children and wait for them (made on first use, like the children)."""
        if self._waiters is None:
            self._waiters = ThreadPoolExecutor(max_workers=SEAL_PROCESSES, thread_name_prefix="kinkyu-seal")
        return self._waiters

    def _sealing(self) -> ProcessPoolExecutor:
        """The child process that seals and stores (started fresh, so the worker's threads stay behind)."""
        if self._process is None:
            self._process = child_pool(SEAL_PROCESSES)
        return self._process

    def _seal_and_store(self, incident_id: str, items: list[EvidenceItem], now: datetime, reason: str) -> Manifest:
        """On an executor thread: hand the work to the child and the chain's new head to the anchor publisher."""
        known = self.anchors.known(evidence_chain(incident_id)) if self.anchors is not None else None
        job = functools.partial(
            seal_and_store,
            self.store.root,
            self.store.keyring,
            key=self._key,
            sealed_by=self.sealed_by,
            incident_id=incident_id,
            items=items,
            now=now,
            reason=reason,
            known=known,
        )
        manifest, appended = self._sealing().submit(job).result()
        if self.anchors is not None:
            for anchor in appended:
                self.anchors.offer(anchor)
        return manifest

    # -- reading -------------------------------------------------------------------------

    async def collect(self, seal: SealEvidence) -> Collected:
        """The raw events in scope of ``seal``, read from ``access-log`` (and ``incident-events``)."""
        return (await self.collect_many([seal]))[0]

    async def collect_many(self, seals: Sequence[SealEvidence]) -> list[Collected]:
        """The raw events in scope of each seal, from one pass per partition over the union of their windows.

        A seal's window is ``since``..``until`` widened by the lateness. Each
        access-log partition's recent events are kept decoded between seals
        (up to :data:`WINDOW_EVENTS`, see :meth:`_window_pass`): a pass reads
        only the records that arrived since the last one, from the earliest
        window's start (one binary search) when nothing is kept yet, and hands
        each event of the seals' contracts to the seals whose scope it is in.
        """
        if not seals:
            return []
        consumer = await self._reader()
        scope = _Scope(seals, self.max_items)
        deadline = time.monotonic() + self.time_budget
        start = min(s.since for s in seals) - self.lateness
        try:
            # The partitions of every topic: the reader's own metadata covers only what it is assigned, and
            # the public API has no call for another topic's partitions.
            cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            for tp in self._partitions(cluster, self.topics.access_log):
                await self._window_pass(consumer, tp, scope, start=start, deadline=deadline)
            # A filed incident's own event is on incident-events; its filing time may be long after
            # the window, so that topic is read to its end for the missing ids only.
            if scope.missing_triggers():
                scope.only_missing()
                for tp in self._partitions(cluster, self.topics.incident_events):
                    await self._scan(consumer, tp, scope, start=start, stop=None, deadline=deadline)
                    if not scope.missing_triggers():
                        break
        except KafkaError as exc:
            raise BrokerError(f"reading evidence for {len(seals)} incident(s) failed: {type(exc).__name__}") from exc
        return scope.found

    async def _window_pass(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, scope: _Scope, *, start: datetime, deadline: float
    ) -> None:
        """Bring the partition's window up to the end of the log (reading only what is new), then take from it.

        The first seal, or one whose window starts before what is kept, finds
        its first offset by binary search and reads from there; the next ones
        read only the records that arrived since.
        """
        window = self._windows.get(tp)
        if window is None or not window.covers(start):
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = max(begin, (await consumer.end_offsets([tp]))[tp])
            consumer.assign([tp])
            first = await self._first_at(consumer, tp, begin, end, start)
            window = _Window(floor=start, first_offset=first, next_offset=first)
            self._windows[tp] = window
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, window.next_offset)
        extra = 0
        timed_out = True
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=300, max_records=_SCAN_RECORDS)
            msgs = batch.get(tp, [])
            for msg in msgs:
                ev = _decode(msg.value)
                if ev is not None and ev.ts >= window.floor:
                    window.add(msg.offset, ev, msg.value)
                window.next_offset = msg.offset + 1
            if await consumer.position(tp) >= end:
                # The reported end can fall short of the last batch: read on until a fetch comes back empty.
                extra += 1
                if not msgs or extra > _EXTRA_FETCHES:
                    timed_out = False
                    break
        window.trim(self.window_events)
        if not window.covers(start):
            # The window needs more events than are kept: this seal reads it from the log, as before.
            await self._scan(consumer, tp, scope, start=start, stop=None, deadline=deadline)
            return
        scope.take_window(window, tp)
        if timed_out:
            for found in scope.found:
                found.timed_out = True

    @staticmethod
    def _partitions(cluster: Any, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]

    async def _scan(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        scope: _Scope,
        *,
        start: datetime,
        stop: datetime | None,
        deadline: float,
    ) -> None:
        consumer.assign([tp])
        begin = (await consumer.beginning_offsets([tp]))[tp]
        # A lower bound only: tansu reports the start of the last batch (0 for a one-batch log), so the
        # search runs below it and the scan reads on past it.
        end = max(begin, (await consumer.end_offsets([tp]))[tp])
        offset = await self._first_at(consumer, tp, begin, end, start)
        consumer.seek(tp, offset)
        extra = 0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=300, max_records=_SCAN_RECORDS)
            msgs = batch.get(tp, [])
            if scope.take(msgs, tp, stop=stop):
                return  # past the window
            if scope.only is not None and not scope.missing_triggers():
                return  # every missing id found
            if await consumer.position(tp) >= end:
                # At the reported end: read on until a fetch comes back empty (the report can fall short
                # of the last batch), but not for ever: a live log keeps growing, and what arrives after
                # the scan began is for the next seal.
                extra += 1
                if not msgs or extra > _EXTRA_FETCHES:
                    return
        for found in scope.found:
            found.timed_out = True

    async def _first_at(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int, target: datetime
    ) -> int:
        """The first offset in ``begin``..``end`` whose event is not earlier than ``target`` (binary search)."""
        lo, hi = begin, end
        while lo < hi:
            mid = (lo + hi) // 2
            probe = await self._probe(consumer, tp, mid, hi)
            if probe is None:
                hi = mid  # nothing readable from mid on: the answer lies before
                continue
            offset, ts = probe
            if ts < target:
                lo = offset + 1
            else:
                hi = mid
        return lo

    @staticmethod
    async def _probe(
        consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, limit: int
    ) -> tuple[int, datetime] | None:
        """The offset and time of the first event at or after ``offset`` (below ``limit``) that has a time."""
        consumer.seek(tp, offset)
        while offset < limit:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=_PROBE_RECORDS)
            msgs = batch.get(tp, [])
            if not msgs:
                return None
            for msg in msgs:
                if msg.offset >= limit:
                    return None
                ev = _decode(msg.value)
                if ev is not None:
                    return msg.offset, ev.ts
                offset = msg.offset + 1
        return None
