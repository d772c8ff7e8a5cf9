"""The playbook stage: every incident's response run, live.

Input: ``incidents`` (the detection stage's records) and ``playbook-ticks``
(this stage's own clock, see below), both one partition, so the state is
co-partitioned with them. State: the faust table ``playbook-runs`` (changelog
``<group>-playbook-runs-changelog``), keyed by incident id, value the JSON of
:class:`RunState`. Outputs, all keyed by incident id:

- ``notifications``: each Notify and Escalate effect, ``effect.to_json()`` plus
  ``incident_id``, ``contract_id``, ``jurisdiction`` and ``queued_at``;
- ``containment-commands``: each containment command, ``Containment.to_json()``
  (``effect``, ``effect_id`` and the command's fields);
- ``incident-state`` (compacted): after every change, :meth:`RunState.to_json`
  plus ``appended``, the timeline entries the change added. The run holds the
  whole timeline, so the latest record per incident is its full state;
- sealed evidence in the evidence store (:mod:`streams.evidence_collector`),
  recorded on the timeline with the bundle id and item count.

Every record runs :func:`kinkyu.core.playbook.on_record` with the playbook of
the incident's jurisdiction and the contract's response policy, ``now`` the
wall clock. Deadlines need time to pass without records: faust allows table
writes only inside stream iteration, so a timer (:meth:`PlaybookStage.scan`)
finds the runs with something due and sends a tick for each to
``playbook-ticks`` (``{"incident_id", "now"}``, ``now`` when the timer saw it
due); the agent then applies :func:`kinkyu.core.playbook.tick` at its own
wall clock, so a tick redelivered late does no harm.

Every incident gets a run: a contract whose profile a reload dropped runs
on the profile as last loaded (:class:`ProfileMemory`, which the archive and
the notifier share, so the city is still told); one never loaded here runs on
the default response policy (its messages cannot be addressed: the notifier
records that on the timeline); a jurisdiction without a playbook runs the
baseline (:func:`kinkyu.core.playbook.baseline_playbook`). Each is on the
run's timeline.

Safe to run twice: yes. A run applies a record it has seen (or a tick for a
time it has passed) without effect; every effect carries a deterministic
``effect_id``, so the rare duplicate after a crash (outputs sent, offset not yet
committed) is dropped by id downstream; evidence bundles are idempotent by id.

Restarts: the table is restored from its changelog, and the stage also reads
``incident-state`` to its end at start. Both are written after each change
(``incident-state`` first), so for each incident the copy with the higher
``version`` wins. This covers brokers whose changelog restore can miss the
last records (tansu; ``shared/notes/faust-on-tansu.md``): a run is never
resumed from a stale copy. Evidence still to seal (``pending``) is part of
the state, so an after-window seal survives a restart too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from kinkyu.bus.clients import BrokerConnection, as_connection, partition_for, read_to_end
from kinkyu.core.contract import ContractProfile
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook import (
    Containment,
    Effect,
    Escalate,
    Notify,
    Playbook,
    PlaybookError,
    PlaybookRun,
    ProfileSource,
    ResponsePolicy,
    SealEvidence,
    TimelineAppended,
    baseline_playbook,
    next_due,
    on_record,
    record_seal,
    tick,
)
from kinkyu.core.timefmt import iso, jst_text, parse_dt, utcnow
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.codec import decode_record
from kinkyu.streams.evidence_collector import EvidenceCollector, SealResult, seal_from_json
from kinkyu.streams.exceptions import BrokerError, RecordRejectedError
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.report_archive import ReportArchive
from kinkyu.streams.sealer import RESULT, SealOutcome, SealQueue
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record, Sink

log = logging.getLogger("kinkyu.playbook")

PlaybookCallback = Callable[[dict[str, Any]], None]
FatalCallback = Callable[[BaseException], Awaitable[None]]

WHO = "kinkyu"
# Incident record fields kept out of the state: records no longer carry free text, but older ones on
# `incidents` may (a summary or a place may name a resident).
_WITHHELD_FIELDS = frozenset({"change", "summary", "location", "details", "timeline"})
_SEAL_ATTEMPTS = 5
_SEAL_RETRY = 30.0  # seconds, times the attempt number
_TICK_RESEND = 30.0  # seconds before a tick for the same due time is sent again (one may have been lost)


_SECONDS = "%Y-%m-%d %H:%M:%S"  # a timeline line's times, to the second


def incident_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``incidents`` record as kept in the state: its facts, without free text or the detector's timeline."""
    return {k: v for k, v in record.items() if k not in _WITHHELD_FIELDS}


class ProfileMemory:
    """The loaded contract profiles, plus the last loaded profile of each contract a reload dropped.

    Call it for the mapping (as ``lambda: folder.profiles``). An incident opened
    under a contract whose file was then removed still has its duties (they
    outlast the contract): its run, its store entry and its messages use the
    profile as last loaded. :meth:`retained` tells a kept one from a loaded one.
    """

    def __init__(self, load: Callable[[], Mapping[str, ContractProfile]]) -> None:
        self._load = load
        self._seen: dict[str, ContractProfile] = {}
        self._source: Mapping[str, ContractProfile] | None = None
        self._merged: dict[str, ContractProfile] = {}

    def __call__(self) -> Mapping[str, ContractProfile]:
        """Every profile loaded now, and every profile loaded before that is no longer."""
        current = self._load()
        if current is not self._source:
            # A reload replaces the mapping: merge once per reload, not once per call.
            self._seen.update(current)
            self._merged = {**self._seen, **current}
            self._source = current
        return self._merged

    def retained(self, contract_id: str) -> bool:
        """Whether ``contract_id``'s profile is only remembered (no longer loaded)."""
        return contract_id in self() and contract_id not in self._load()


@dataclass(slots=True)
class RunState:
    """What the stage keeps per incident: the run, the incident's facts, evidence still to seal.

    ``version`` grows by one with every change written, so of two copies (the
    table's and ``incident-state``'s) the newer is known. ``pending`` holds the
    seals still to do: ``{"seal": SealEvidence json, "due", "phase", "attempts"}``.
    """

    version: int
    run: PlaybookRun
    incident: dict[str, Any]
    pending: list[dict[str, Any]]

    def deadline(self) -> datetime | None:
        """The run's next deadline (None when nothing is pending or it is closed)."""
        return next_due(self.run)

    def work_due(self) -> datetime | None:
        """When the stage next has something to do for this incident: a deadline or a seal."""
        times = [t for t in (self.deadline(), *(parse_dt(p["due"]) for p in self.pending)) if t is not None]
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        """JSON form (the table value; ``incident-state`` adds ``appended``)."""
        return {
            "v": 1,
            "version": self.version,
            "incident_id": self.run.incident_id,
            "incident": self.incident,
            "run": self.run.to_json(),
            "pending": self.pending,
            "deadline": iso(self.deadline()),
            "next": iso(self.work_due()),
            "ppc_due": [d.isoformat() for d in self.run.ppc_dues()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        """Inverse of :meth:`to_json`."""
        return cls(
            version=int(data["version"]),
            run=PlaybookRun.from_json(data["run"]),
            incident=dict(data["incident"]),
            pending=[dict(p) for p in data.get("pending", [])],
        )


@dataclass(frozen=True, slots=True)
class _Due:
    """What the timer needs of a stored state, without parsing the run."""

    version: int
    deadline: datetime | None
    work: datetime | None
    ppc: tuple[datetime, ...] = ()

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _Due:
        ppc = tuple(t for t in (parse_dt(v) for v in data.get("ppc_due") or ()) if t is not None)
        return cls(int(data["version"]), parse_dt(data.get("deadline")), parse_dt(data.get("next")), ppc)


def _kind(effect: Effect) -> str:
    if isinstance(effect, Notify):
        return "notify"
    if isinstance(effect, Escalate):
        return "escalate"
    if isinstance(effect, Containment):
        return "containment"
    if isinstance(effect, SealEvidence):
        return "seal_evidence"
    return "timeline"


@dataclass(frozen=True, slots=True, eq=False)
class Incoming:
    """One record of a batch for :meth:`PlaybookStage.handle_batch`: its topic and value, and whence it came.

    ``source`` is the agent's own (faust's event): the stage hands it back in
    ``set_aside`` and ``writing`` and never looks into it. Compared by identity.
    """

    topic: str
    value: bytes | None
    source: object = None


SetAside = Callable[[Incoming, BaseException], Awaitable[None]]


@contextlib.contextmanager
def _anywhere(item: Incoming) -> Iterator[None]:
    """No context for a table write (a stage without faust, as in tests)."""
    del item
    yield


@dataclass(slots=True)
class _Touched:
    """An incident a batch reached: its working state and what the batch did to it."""

    state: RunState
    applied: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)  # to rebuild it after a failure
    changed: list[Incoming] = field(default_factory=list)  # the records that changed it, in order
    effects: list[Effect] = field(default_factory=list)
    data: dict[str, Any] | None = None  # its JSON form once the batch is done, encoded once


@dataclass(slots=True)
class _Batch:
    """What one batch did: the incidents it reached, each changing record's effects in order, callbacks due."""

    incidents: dict[str, _Touched] = field(default_factory=dict)
    effects: list[tuple[Incoming, str, datetime, list[Effect]]] = field(default_factory=list)
    incident_of: dict[int, str] = field(default_factory=dict)  # id(record) -> its incident
    actions: list[dict[str, Any]] = field(default_factory=list)
    unstored: set[str] = field(default_factory=set)  # incidents whose state the batch must not store


class PlaybookStage:
    """Runs each incident's playbook: decode, call the domain, send the effects on (one :class:`Sink`)."""

    def __init__(
        self,
        *,
        bootstrap: BrokerConnection | str,
        topics: Topics,
        sink: Sink,
        profiles: Callable[[], Mapping[str, ContractProfile]],
        playbooks: Mapping[str, Playbook],
        collector: EvidenceCollector | None,
        metrics: Metrics,
        lateness: float,
        deadline_warning: float = 900.0,
        on_event: PlaybookCallback | None = None,
        on_fatal: FatalCallback | None = None,
        clock: Callable[[], datetime] = utcnow,
        reports: ReportArchive | None = None,
    ) -> None:
        self.bootstrap = as_connection(bootstrap)
        self.topics = topics
        self.sink = sink
        self.profiles = profiles
        self.playbooks = dict(playbooks)
        self.collector = collector
        self.metrics = metrics
        self.lateness = timedelta(seconds=lateness)
        self.deadline_warning = timedelta(seconds=deadline_warning)
        self.on_event = on_event
        self.on_fatal = on_fatal
        self.clock = clock
        self.reports = reports
        # The faust table (set by the app); bytes keys and values: raw serializers, JSON written here.
        self.table: MutableMapping[bytes, bytes] | None = None
        self._recovered: dict[str, tuple[_Due, bytes]] = {}
        self._cache: dict[str, tuple[int, _Due]] = {}
        self._ticked: dict[str, tuple[datetime, float]] = {}
        self._loaded = asyncio.Event()
        self._load_task: asyncio.Task[None] | None = None
        # Seals are carried out beside the agent, not in it (see streams.sealer).
        self.sealer = SealQueue(collector, sink=sink, topics=topics, clock=clock) if collector is not None else None
        # The stage topics' partition count, and the partitions this worker owns (None: every one, as
        # when one stage runs alone; the worker sets both, see assign()).
        self.partitions = 1
        self.owned: frozenset[int] | None = None
        self._loaded_parts: frozenset[int] = frozenset()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Begin reading ``incident-state`` (records wait for it; the worker's start does not).

        A stage that owns only some partitions (:meth:`assign`) reads them
        when they are assigned instead.
        """
        if self._load_task is None and self.owned is None:
            self._load_task = asyncio.ensure_future(self._load(None))

    def assign(self, partitions: Iterable[int]) -> None:
        """The partitions of the stage's topics this worker now owns (after a rebalance).

        Runs of partitions just gained are read from ``incident-state`` (their
        table copy may be stale on brokers whose changelog restore misses the
        last records); records wait until that is done. Those of partitions
        lost are no longer ticked here.
        """
        owned = frozenset(partitions)
        self.owned = owned
        self._loaded_parts &= owned
        self._recovered = {k: v for k, v in self._recovered.items() if self.partition_of(k) in owned}
        gained = owned - self._loaded_parts
        log.info("playbook partitions assigned", extra={"partitions": sorted(owned), "gained": sorted(gained)})
        if not gained:
            return
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._loaded.clear()
        self._load_task = asyncio.ensure_future(self._load(gained))

    def partition_of(self, incident_id: str) -> int:
        """The partition an incident's records are on (the producer's default partitioner, by key)."""
        return partition_for(incident_id, self.partitions)

    def owns(self, incident_id: str) -> bool:
        """Whether this worker runs ``incident_id``'s playbook now."""
        return self.owned is None or self.partition_of(incident_id) in self.owned

    async def stop(self) -> None:
        """Stop reading and sealing, and disconnect the evidence reader."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        if self.sealer is not None:
            await self.sealer.stop()
        if self.collector is not None:
            await self.collector.stop()
        if self.reports is not None:
            self.reports.close()

    async def _load(self, parts: frozenset[int] | None) -> None:
        me = asyncio.current_task()
        try:
            found = await read_states(self.bootstrap, self.topics.incident_state, partitions=parts)
            for incident_id, copy in found.items():
                have = self._recovered.get(incident_id)
                if have is None or copy[0].version >= have[0].version:
                    self._recovered[incident_id] = copy
            if parts is not None:
                self._loaded_parts |= parts
            log.info("incident-state read", extra={"runs": len(found), "partitions": sorted(parts or ())})
        except asyncio.CancelledError:
            raise
        except Exception:  # the table alone still serves; a stale copy is the worst case, and it is logged
            log.exception("could not read incident-state; runs resume from the table alone")
        finally:
            if self._load_task is None or self._load_task is me:  # a newer assignment's read sets it
                self._loaded.set()

    # -- records --------------------------------------------------------------------------

    async def handle(self, topic: str, value: bytes | None) -> None:
        """One ``incidents`` record or tick: :meth:`handle_batch` of one, raising what sets it aside.

        Raises :class:`~kinkyu.exceptions.MalformedEventError` for a record
        that is not a JSON object with an ``incident_id``; :class:`BrokerError`
        (after ``on_fatal``) when the outputs could not be sent, an outage a
        restart redoes; and whatever else applying the record raised. The
        worker's guard (:mod:`streams.guard`) sets such a record aside to
        ``dead-letters``, so one incident's record cannot stop the others.
        """
        failed: list[BaseException] = []

        async def keep(item: Incoming, exc: BaseException) -> None:
            del item
            failed.append(exc)

        await self.handle_batch([Incoming(topic, value)], set_aside=keep)
        if failed:
            raise failed[0]

    async def handle_batch(
        self,
        batch: Sequence[Incoming],
        *,
        set_aside: SetAside,
        writing: Callable[[Incoming], AbstractContextManager[object]] = _anywhere,
    ) -> None:
        """Records of ``incidents`` and ``playbook-ticks``, in order, with one wait for the broker.

        Each record is applied in order to its incident's state, held in
        memory across the batch (several records of one incident build on each
        other, as one by one). The outputs of every record then go out in one
        :meth:`Sink.send_all`; only once the broker has acknowledged them is
        each incident's new state written to the table, inside ``writing(record)``
        of the last record that changed it (the agent makes that record faust's
        current event there: the changelog partition is the record's own), and
        only then does the agent ack the batch. A crash anywhere before re-sends
        (effects carry stable ids) and never loses.

        A record that cannot be applied (``MalformedEventError`` for one that is
        not a JSON object with an ``incident_id``, or whatever the domain
        raised) goes to ``set_aside``; its incident's state is as if it never
        came, and the rest of the batch goes on. So does each record an output
        of which the broker refused (:class:`RecordRejectedError`): its incident
        is then not stored, as before a record refused alone. An outage
        (:class:`BrokerError`) calls ``on_fatal`` and raises, nothing stored.
        """
        if not batch:
            return
        await self._loaded.wait()
        work = _Batch()
        for item in batch:
            try:
                self._take(work, item)
            except Exception as exc:  # noqa: BLE001  # the record, not the stage, is what failed: set it aside
                await set_aside(item, exc)
        records, owners, broken = self._outputs(work)
        for incident_id, error in broken:
            work.unstored.add(incident_id)
            for item in work.incidents[incident_id].changed:
                await set_aside(item, error)
        refused: set[str] = set()
        try:
            await self.sink.send_all(records)
        except RecordRejectedError as exc:
            # The others are sent; the records whose outputs were refused are set aside, their incidents not stored.
            bad = {id(owner): owner for i in exc.rejected for owner in owners[i]}
            for item in (x for x in batch if id(x) in bad):
                refused.add(work.incident_of[id(item)])
                await set_aside(item, exc)
        except BrokerError as exc:
            # Nothing of this batch was stored as done; stopping lets a restart redo it.
            log.exception("playbook outputs could not be sent; stopping", extra={"records": len(batch)})
            if self.on_fatal is not None:
                await self.on_fatal(exc)
            raise
        self._after_sent(work, refused | work.unstored, writing)

    def _take(self, work: _Batch, item: Incoming) -> None:
        """Apply one record to the batch's working state of its incident (no I/O)."""
        msg = decode_record(item.value)
        incident_id = msg.get("incident_id")
        if not isinstance(incident_id, str):
            raise MalformedEventError("invalid", "incident_id is missing or not a string")
        now = self.clock()
        touched = work.incidents.get(incident_id)
        state = touched.state if touched is not None else self._state(incident_id)
        try:
            state, effects, changed = self._step(state, item.topic, msg, now)
        except Exception:
            if touched is not None:
                # The domain changes a run in place: rebuild the state the failed record found.
                self._rebuild(work, incident_id, touched)
            raise
        if state is None:
            return
        if touched is None:
            touched = work.incidents[incident_id] = _Touched(state)
        touched.state = state
        touched.applied.append((item.topic, msg, now))
        work.incident_of[id(item)] = incident_id
        if changed:
            touched.changed.append(item)
            touched.effects.extend(effects)
            work.effects.append((item, incident_id, now, effects))

    def _rebuild(self, work: _Batch, incident_id: str, touched: _Touched) -> None:
        """Put back the state ``incident_id`` had before a failed record: the stored one, the batch's records again.

        The domain is a function of the state, the record and ``now``, so this
        is the state those records left. Should it fail all the same, the
        incident is not stored by this batch (its outputs still go out; the
        next record starts from the stored state, and effects are deduplicated by id).
        """
        try:
            state = self._state(incident_id)
            for topic, msg, now in touched.applied:
                state, _, _ = self._step(state, topic, msg, now)
        except Exception:
            log.exception(
                "playbook run could not be rebuilt; not stored by this batch", extra={"incident_id": incident_id}
            )
            work.unstored.add(incident_id)
            return
        if state is None:
            work.unstored.add(incident_id)
            return
        touched.state = state

    def _step(
        self, state: RunState | None, topic: str, msg: dict[str, Any], now: datetime
    ) -> tuple[RunState | None, list[Effect], bool]:
        """The domain's answer to one record: the new state, its effects, and whether there is anything to write."""
        changed = False
        if topic == self.topics.playbook_ticks:
            if state is None:
                return None, [], False
            result = msg.get(RESULT)
            if isinstance(result, dict):
                effects, changed = self._seal_done(state, SealOutcome.from_json(result), now)
            else:
                effects = tick(state.run, now)
        else:
            state, effects, changed = self._apply(state, msg, now)
            if state is None:
                return None, [], False
        for seal in (e for e in effects if isinstance(e, SealEvidence)):
            state.pending.append({"seal": seal.to_json(), "due": now.isoformat(), "phase": "initial", "attempts": 0})
        if self.sealer is None:
            unsealed = self._unsealable(state, now)
            effects = [*effects, *unsealed]
            changed = changed or bool(unsealed)
        if effects or changed:
            state.version += 1
            return state, effects, True
        return state, effects, False

    def _apply(
        self, state: RunState | None, record: dict[str, Any], now: datetime
    ) -> tuple[RunState | None, list[Effect], bool]:
        """The domain call: start a run or apply the record to it; whether the incident's facts changed."""
        is_incident = record.get("change") in {"opened", "updated"}
        if state is not None:
            run = state.run
            _, effects = on_record(
                run, record, playbook=run.playbook, policy=run.policy, contract_ends=run.contract_ends, now=now
            )
            fields = incident_fields(record) if is_incident else state.incident
            changed = fields != state.incident
            state.incident = fields
            return state, effects, changed
        if not is_incident:
            return None, [], False  # a follow-up before its incident: the incident record carries it too
        return self._start(record, now)

    def _start(self, record: dict[str, Any], now: datetime) -> tuple[RunState | None, list[Effect], bool]:
        """A new run for an incident: with its contract's profile and playbook, or what stands in for them."""
        incident_id, contract_id = record["incident_id"], record.get("contract_id")
        if not isinstance(contract_id, str):
            raise PlaybookError(f"incident {incident_id}: the record names no contract (contract_id)")
        profile = self.profiles().get(contract_id)
        source: ProfileSource = "loaded"
        if profile is None:
            source = "missing"
        elif isinstance(self.profiles, ProfileMemory) and self.profiles.retained(contract_id):
            source = "retained"
        jurisdiction = str(record.get("jurisdiction"))
        if profile is not None and jurisdiction != profile.jurisdiction:
            # The contract decides whose clauses apply; the record's word is not repeated (it may be anything).
            log.warning(
                "incident record names another jurisdiction than its contract's", extra={"incident_id": incident_id}
            )
            jurisdiction = profile.jurisdiction
            record = {**record, "jurisdiction": jurisdiction}
        playbook = self.playbooks.get(jurisdiction) or baseline_playbook(jurisdiction)
        started, effects = on_record(
            None,
            record,
            playbook=playbook,
            policy=profile.response if profile is not None else ResponsePolicy(),
            contract_ends=profile.ends if profile is not None else date.max,
            now=now,
            datasets=profile.datasets if profile is not None else None,
            profile=source,
        )
        if started is None:
            return None, [], False
        run = started
        log.info(
            "playbook run started",
            extra={
                "incident_id": incident_id,
                "jurisdiction": playbook.jurisdiction,
                "state": run.state,
                "profile": source,
                "own_playbook": jurisdiction in self.playbooks,
            },
        )
        return RunState(0, run, incident_fields(record), []), effects, True

    def _outputs(self, work: _Batch) -> tuple[list[Record], list[list[Incoming]], list[tuple[str, Exception]]]:
        """The batch's records to send, for each the batch records it came from, and the incidents that failed.

        Per incident, its records' effects in order, then one ``incident-state``
        record: its state after the batch and every timeline entry the batch
        added (``appended``), the whole state encoded once per batch, not once
        per record. An incident whose outputs cannot be encoded sends nothing
        and is not stored; the caller sets its records aside.
        """
        records: list[Record] = []
        owners: list[list[Incoming]] = []
        broken: list[tuple[str, Exception]] = []
        by_incident: dict[str, list[tuple[Incoming, datetime, list[Effect]]]] = {}
        for item, incident_id, now, effects in work.effects:
            by_incident.setdefault(incident_id, []).append((item, now, effects))
        for incident_id, touched in work.incidents.items():
            if not touched.changed:
                continue
            try:
                mine: list[tuple[Record, list[Incoming]]] = []
                actions: list[dict[str, Any]] = []
                for item, now, effects in by_incident.get(incident_id, []):
                    for record, action in self._effect_records(touched.state.run, effects, now):
                        mine.append((record, [item]))
                        actions.append(action)
                appended = [e.to_json() for e in touched.effects if isinstance(e, TimelineAppended)]
                data = touched.state.to_json()
                body = orjson.dumps({**data, "appended": appended})
                mine.append((Record(self.topics.incident_state, incident_id.encode(), body), touched.changed))
            except Exception as exc:  # noqa: BLE001  # this incident's records are set aside, not the batch
                broken.append((incident_id, exc))
                continue
            touched.data = data
            work.actions.extend(actions)
            records.extend(record for record, _ in mine)
            owners.extend(owner for _, owner in mine)
        return records, owners, broken

    def _effect_records(
        self, run: PlaybookRun, effects: Sequence[Effect], now: datetime
    ) -> list[tuple[Record, dict[str, Any]]]:
        """A record per effect that goes out (notifications, containment commands), and what ``on_event`` gets."""
        key = run.incident_id.encode()
        out: list[tuple[Record, dict[str, Any]]] = []
        for effect in effects:
            if isinstance(effect, (TimelineAppended, SealEvidence)):
                continue  # on the timeline (incident-state); a seal is carried out by the evidence collector
            body = effect.to_json()
            headers = (("kinkyu-effect-id", effect.effect_id.encode()),)
            if isinstance(effect, Containment):
                out.append((Record(self.topics.containment_commands, key, orjson.dumps(body), headers), body))
                continue
            body.update(
                incident_id=run.incident_id,
                contract_id=run.contract_id,
                jurisdiction=run.jurisdiction,
                queued_at=now.isoformat(),
            )
            out.append((Record(self.topics.notifications, key, orjson.dumps(body), headers), body))
        return out

    def _after_sent(
        self, work: _Batch, refused: set[str], writing: Callable[[Incoming], AbstractContextManager[object]]
    ) -> None:
        """Once the broker has the batch's outputs: the table, the report archive, the seals due, the callbacks."""
        for _, incident_id, _, effects in work.effects:
            if incident_id in refused:
                continue
            for effect in effects:
                self.metrics.effects.labels(_kind(effect)).inc()
        for incident_id, touched in work.incidents.items():
            if incident_id in refused:
                continue
            state = touched.state
            try:
                if touched.changed and touched.data is not None:
                    with writing(touched.changed[-1]):
                        self._put(state, touched.data)
                    if self.reports is not None:
                        self.reports.keep(state.incident, state.run, touched.effects, snapshot=touched.data["run"])
                self._submit_due(state)
            except Exception:  # its outputs are out: the next record redoes it from the stored state (ids dedupe)
                log.exception("playbook run not stored after its outputs were sent", extra={"incident_id": incident_id})
        if self.on_event is not None:
            for body in work.actions:
                self.on_event(body)

    def _put(self, state: RunState, data: dict[str, Any]) -> None:
        """Store ``state`` (``data``, its JSON form) in the table; call inside the changing record's event."""
        incident_id = state.run.incident_id
        raw = orjson.dumps(data)
        if self.table is not None:
            self.table[incident_id.encode()] = raw
        self._recovered.pop(incident_id, None)
        self._cache[incident_id] = (hash(raw), _Due.of(data))

    def _state(self, incident_id: str) -> RunState | None:
        """The newest stored state of ``incident_id``: the table's, or incident-state's when newer."""
        raw = self.table.get(incident_id.encode()) if self.table is not None else None
        stored = orjson.loads(raw) if raw else None
        recovered = self._recovered.get(incident_id)
        if recovered is not None and (stored is None or recovered[0].version > int(stored["version"])):
            self.metrics.runs_rebuilt.inc()
            log.info(
                "playbook run taken from incident-state: the table's copy was missing or behind",
                extra={
                    "incident_id": incident_id,
                    "version": recovered[0].version,
                    "table_version": None if stored is None else stored["version"],
                },
            )
            stored = orjson.loads(recovered[1])
        return RunState.from_json(stored) if stored is not None else None

    # -- evidence -------------------------------------------------------------------------

    def _submit_due(self, state: RunState) -> None:
        """Hand the seals that are due to :attr:`sealer`; their results come back as ticks (:meth:`_seal_done`)."""
        if self.sealer is None:
            return
        now = self.clock()
        for pending in state.pending:
            if (parse_dt(pending["due"]) or now) <= now:
                self.sealer.submit(seal_from_json(pending["seal"]), str(pending["phase"]))

    def _unsealable(self, state: RunState, now: datetime) -> list[Effect]:
        """Without a key: each seal that is due recorded as not sealed at once (the timeline entries it adds)."""
        due = [p for p in state.pending if (parse_dt(p["due"]) or now) <= now]
        out: list[Effect] = []
        for pending in due:
            seal = seal_from_json(pending["seal"])
            state.pending.remove(pending)
            self.metrics.evidence_seals.labels("no-key").inc()
            out.append(
                self._log(
                    state,
                    now,
                    "evidence not sealed: no key configured (set KINKYU_EVIDENCE_KEY)",
                    "evidence_not_sealed",
                    {"effect_id": seal.effect_id, "reason": "no-key", "phase": str(pending["phase"])},
                )
            )
        return out

    def _seal_done(self, state: RunState, outcome: SealOutcome, now: datetime) -> tuple[list[Effect], bool]:
        """Apply a seal's result to its run: the timeline entries it adds, and whether ``pending`` changed."""
        pending = next(
            (
                p
                for p in state.pending
                if p["seal"]["effect_id"] == outcome.effect_id and str(p["phase"]) == outcome.phase
            ),
            None,
        )
        if pending is None:
            return [], False  # applied already (a seal carried out twice)
        seal = seal_from_json(pending["seal"])
        phase = outcome.phase
        ids = {"incident_id": seal.incident_id, "effect_id": seal.effect_id, "phase": phase}
        result = outcome.result
        if result is None:  # a broker or disk problem: try again later, a bounded number of times
            pending["attempts"] += 1
            log.warning("evidence seal failed", extra={**ids, "attempt": pending["attempts"]})
            if pending["attempts"] < _SEAL_ATTEMPTS:
                pending["due"] = (now + timedelta(seconds=_SEAL_RETRY * pending["attempts"])).isoformat()
                return [], True
            state.pending.remove(pending)
            self.metrics.evidence_seals.labels("failed").inc()
            entry = self._log(
                state,
                now,
                f"evidence not sealed: {_SEAL_ATTEMPTS} attempts failed (see the worker's log)",
                "evidence_not_sealed",
                {"effect_id": seal.effect_id, "reason": "failed", "phase": phase},
            )
            return [entry], True
        state.pending.remove(pending)
        after = seal.until + self.lateness
        # At open only the window before is complete: seal what existed then, and again once it closes.
        again = phase == "initial" and outcome.at < after
        if again:
            pending_after = {"seal": pending["seal"], "due": after.isoformat(), "phase": "after-window"}
            state.pending.append({**pending_after, "attempts": 0})
        entry = self._sealed(state, now=now, seal=seal, result=result, phase=phase, again=after if again else None)
        log.info("evidence collected", extra={**ids, "bundle_id": result.bundle_id, "items": result.items})
        return [entry], True

    def _sealed(
        self,
        state: RunState,
        *,
        now: datetime,
        seal: SealEvidence,
        result: SealResult,
        phase: str,
        again: datetime | None,
    ) -> TimelineAppended:
        later = (
            f"; the window is still open: sealed again after {jst_text(again, '%Y-%m-%d %H:%M:%S')}" if again else ""
        )
        data = {
            "effect_id": seal.effect_id,
            "phase": phase,
            "items": result.items,
            "scanned": result.scanned,
            "truncated": result.truncated,
            "since": seal.since.isoformat(),
            "until": seal.until.isoformat(),
            "again_after": iso(again),
        }
        if result.bundle_id is None:
            self.metrics.evidence_seals.labels("empty").inc()
            return self._log(
                state, now, f"evidence: no event found in the window yet{later}", "evidence_not_sealed", data
            )
        self.metrics.evidence_seals.labels("sealed").inc()
        # 証拠保全 is done once a bundle is sealed, not when it was asked for (issue #15).
        record_seal(state.run, now)
        what = f"evidence sealed (証拠保全): bundle {result.bundle_id}, {result.items} event(s)"
        if result.truncated:
            what += " (truncated: more events were in scope than one bundle holds)"
        if phase == "after-window":
            what += ", after the window closed"
        entry = self._log(state, now, what + later, "evidence_sealed", {**data, "bundle_id": result.bundle_id})
        if self.on_event is not None:
            self.on_event(
                {
                    "effect": "evidence_sealed",
                    "incident_id": seal.incident_id,
                    "effect_id": seal.effect_id,
                    "bundle_id": result.bundle_id,
                    "items": result.items,
                    "truncated": result.truncated,
                    "phase": phase,
                }
            )
        return entry

    @staticmethod
    def _log(state: RunState, now: datetime, what: str, kind: str, data: dict[str, Any]) -> TimelineAppended:
        """Append an entry of the stage's own to the run's (append-only) timeline."""
        entry = TimelineEntry(now, WHO, what, kind, data)
        state.run.timeline.append(entry)
        return TimelineAppended(state.run.incident_id, len(state.run.timeline) - 1, entry)

    # -- time -------------------------------------------------------------------------------

    async def scan(self) -> None:
        """The timer's pass: metrics, and a tick to ``playbook-ticks`` for every run with something due."""
        if not self._loaded.is_set():
            return
        now = self.clock()
        dues = self._dues()
        warn = now + self.deadline_warning
        # Playbook deadlines (a missed one leaves next_due) and the city's PPC reports not yet past.
        self.metrics.deadlines_at_risk.set(
            sum(1 for d in dues.values() if d.deadline is not None and d.deadline <= warn)
            + sum(1 for d in dues.values() for t in d.ppc if now <= t <= warn)
        )
        mono = time.monotonic()
        records = []
        for incident_id, d in sorted(dues.items()):
            if d.work is None or d.work > now:
                continue
            last = self._ticked.get(incident_id)
            if last is not None and last[0] == d.work and mono - last[1] < _TICK_RESEND:
                continue  # the tick sent for this due time is still on its way
            self._ticked[incident_id] = (d.work, mono)
            body = {"incident_id": incident_id, "now": now.isoformat()}
            records.append(Record(self.topics.playbook_ticks, incident_id.encode(), orjson.dumps(body)))
        for gone in set(self._ticked) - set(dues):
            del self._ticked[gone]
        await self.sink.send_all(records)

    def _dues(self) -> dict[str, _Due]:
        """Every stored run's due times: the table's (parsed once per change) and incident-state's when newer."""
        out: dict[str, _Due] = {}
        if self.table is not None:
            for key, raw in list(self.table.items()):
                if not raw:
                    continue
                incident_id = key.decode()
                if not self.owns(incident_id):
                    continue  # a partition this worker no longer owns: its new owner ticks it
                digest = hash(raw)
                cached = self._cache.get(incident_id)
                if cached is None or cached[0] != digest:
                    cached = (digest, _Due.of(orjson.loads(raw)))
                    self._cache[incident_id] = cached
                out[incident_id] = cached[1]
        for incident_id, (due, _) in list(self._recovered.items()):
            if not self.owns(incident_id):
                continue
            have = out.get(incident_id)
            if have is not None and have.version >= due.version:
                del self._recovered[incident_id]  # the table has caught up: no need to keep the copy
            else:
                out[incident_id] = due
        return out


async def read_states(
    bootstrap: BrokerConnection | str, topic: str, *, partitions: Iterable[int] | None = None
) -> dict[str, tuple[_Due, bytes]]:
    """The newest ``incident-state`` record of each incident, read to the end of the topic, without a group.

    Only ``partitions`` of it when given (those a worker owns).
    """
    found: dict[str, tuple[_Due, bytes]] = {}
    async for msg in read_to_end(bootstrap, topic, "the incident-state reader", partitions):
        data = orjson.loads(msg.value)
        due = _Due.of(data)
        incident_id = str(data["incident_id"])
        have = found.get(incident_id)
        if have is None or due.version >= have[0].version:
            found[incident_id] = (due, msg.value)
    return found
