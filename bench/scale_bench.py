"""Playbook runs per second with one worker and with two, with and without evidence sealing, in one run.

One embedded ``tansu`` broker, topics with ``--partitions`` partitions (4),
an aiosmtpd sink for the mail (:class:`runtime.SinkThread`), and the
sample contracts without work hours (:func:`notify_bench.prepare_contracts`).
Each case gets a fresh topic prefix and group on the same broker.

What a case measures (issue #14: the playbook stage's capacity, runs/s):

1. **Detection first, once per run**: one worker detects ``--incidents``
   breaches (reads by never-registered accounts, five minutes apart per
   contract so none fold together; with sealing, the contracts' benign
   traffic around them, a read every ``--benign-every`` seconds of event
   time per contract, so each seal has events to read). The records it
   wrote to ``incidents`` are read back: they are the backlog every case
   replays.
2. **Each case**: the bench makes the case's topics, puts the same events
   on its ``access-log`` (the seals read them there) and commits the case's
   detection group to the end of it, as a detection that has caught up
   leaves it (the case's workers do not detect them again); starts the
   case's workers (``kinkyu worker`` subprocesses, each with a data folder
   and outbox of its own, one shared incident store as the README asks)
   and waits until every worker owns playbook and detection partitions
   (asserted) and the sum is every partition; then produces the detection
   pass's ``incidents`` records at once (same keys, so the same partitions
   and order).
3. The bench reads ``incidents`` and ``incident-state`` back: a run *starts*
   with its first ``incident-state`` record and is *sealed* with the first
   record whose timeline has ``evidence_sealed``. ``runs_per_s`` =
   incidents / (the last start − the first ``incidents`` record), from the
   records' broker timestamps: the stage's capacity, since the whole
   backlog is there from the start. The workers' partitions are read again
   at the end: a case in which they moved is reported (``rebalanced``) and
   fails the run.

``--pipeline`` measures the older figure instead (``pipeline_runs_per_s``):
the breaches produced to ``access-log`` while the workers run, detection and
playbook together, the rate from the first ``opened`` record; when detection
opens incidents no faster than the stage runs them, it is detection's rate.

Each case also samples the CPU of every process (``cpu``): the workers
(with their render and seal children), the broker, this bench (its
consumer and the SMTP sink) and everything else on the machine, as cores
used over the case's window.

The cases run one after another in one process, so the ratios are of one
run on one machine state. Results: printed and written to
``bench/results/scale.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Self

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))  # notify_bench beside this file

from notify_bench import Contract, access, machine, prepare_contracts  # after the path
from runtime import SinkThread  # after the path

from kinkyu.streams.app import ensure_topics  # after the path
from kinkyu.streams.broker import EmbeddedBroker, free_port  # after the path
from kinkyu.streams.process import KinkyuProcess, cpu_seconds  # after the path
from kinkyu.streams.settings import Topics  # after the path

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "scale.json"
IDLE_WINDOW: Final = 3.0  # seconds the workers are watched idle before the backlog is released


def events(contracts: list[Contract], incidents: int, benign_every: float, *, seed: str) -> list[tuple[str, bytes]]:
    """(contract id, event) pairs: the breaches and the benign traffic, in event-time order per contract."""
    per = -(-incidents // len(contracts))
    span = timedelta(minutes=5 * per + 60)
    start = datetime.now(UTC) - span - timedelta(hours=1)
    out: list[tuple[datetime, str, bytes]] = []
    planted = 0
    for c in contracts:
        for k in range(per):
            if planted == incidents:
                break
            at = start + timedelta(minutes=30 + 5 * k)
            ev = orjson.loads(access(c, f"x{seed}{planted:05d}", planted))
            ev["ts"] = at.isoformat()
            out.append((at, c.contract_id, orjson.dumps(ev)))
            planted += 1
        if benign_every > 0:
            n = int(span.total_seconds() / benign_every)
            for k in range(n):
                at = start + timedelta(seconds=benign_every * k)
                ev = orjson.loads(access(c, c.staff[k % len(c.staff)], k))
                ev["ts"] = at.isoformat()
                ev["event_id"] = str(uuid.uuid4())
                out.append((at, c.contract_id, orjson.dumps(ev)))
    out.sort(key=lambda t: t[0])
    return [(cid, value) for _, cid, value in out]


async def produce(
    bootstrap: str, topic: str, values: Sequence[tuple[bytes | None, bytes]]
) -> dict[TopicPartition, int]:
    """Send every (key, value) in order, with one producer (each partition keeps the order given).

    Returns the offset after the last record sent to each partition (from the broker's answers: tansu may
    report a partition's end short of its last batch).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in values]
        await producer.flush()
        ends: dict[TopicPartition, int] = {}
        for meta in [await f for f in sent]:
            tp = TopicPartition(meta.topic, meta.partition)
            ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


def keyed(values: list[tuple[str, bytes]]) -> list[tuple[bytes | None, bytes]]:
    """Events keyed by their contract, as the systems send them."""
    return [(cid.encode(), value) for cid, value in values]


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of ``topic``, partition by partition in offset order, to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {tp: [] for tp in tps}
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for tp, msgs in (await consumer.getmany(timeout_ms=200)).items():
                out[tp].extend((m.key, m.value) for m in msgs if m.value)
    finally:
        await consumer.stop()
    return [record for tp in tps for record in out[tp]]


async def detected_to_end(bootstrap: str, topics: Topics, group: str, *, within: float) -> None:
    """Wait until the detection group ``group`` has committed every input record (its outputs are then sent)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics.inputs for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            committed = [await consumer.committed(tp) or 0 for tp in tps]
            if all(c >= ends[tp] for c, tp in zip(committed, tps, strict=True)):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"detection group {group} did not reach the end of its inputs in {within}s")
    finally:
        await consumer.stop()


async def as_detected(
    bootstrap: str, topics: Topics, partitions: int, group: str, events: list[tuple[str, bytes]]
) -> None:
    """Make the case's topics, put ``events`` on ``access-log`` and commit the detection group past them.

    As a detection that has caught up leaves them: the seals find the events
    there, and the case's workers do not detect them again.
    """
    await ensure_topics(bootstrap, topics, partitions)
    ends = await produce(bootstrap, topics.access_log, keyed(events))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(ends)
        # The workers must find every partition committed to its end, or they would detect the events again.
        committed = {tp: await consumer.committed(tp) for tp in ends}
        if committed != ends:
            raise AssertionError(f"the detection group's offsets were not committed: {committed} != {ends}")
    finally:
        await consumer.stop()


async def watch(bootstrap: str, topics: Topics, n: int, *, sealed: bool, within: float) -> dict[str, Any]:
    """Read ``incidents`` and ``incident-state`` until every run has started (and been sealed); the times."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    opened: dict[str, float] = {}
    started: dict[str, float] = {}
    seal_done: dict[str, float] = {}
    part_of: dict[str, int] = {}
    opened_records = 0
    try:
        tps: list[TopicPartition] = []
        while not tps:
            await consumer._client.force_metadata_update()  # noqa: SLF001  # no public refresh
            tps = [
                TopicPartition(t, p)
                for t in (topics.incidents, topics.incident_state)
                for p in consumer.partitions_for_topic(t) or ()
            ]
            await asyncio.sleep(0.1)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                for msg in msgs:
                    data = orjson.loads(msg.value or b"null")
                    if not isinstance(data, dict):
                        continue
                    at = msg.timestamp / 1000
                    iid = str(data.get("incident_id"))
                    if tp.topic == topics.incidents and data.get("change") == "opened":
                        opened_records += 1
                        opened.setdefault(iid, at)
                    elif tp.topic == topics.incident_state:
                        if iid not in started:
                            part_of[iid] = tp.partition
                        started.setdefault(iid, at)
                        appended = data.get("appended") or ()
                        if any((e.get("entry") or {}).get("kind") == "evidence_sealed" for e in appended):
                            seal_done.setdefault(iid, at)
            if len(started) >= n and (not sealed or len(seal_done) >= n):
                break
    finally:
        await consumer.stop()
    first = min(opened.values()) if opened else None

    def rate(done: dict[str, float]) -> float | None:
        if first is None or len(done) < 2:
            return None
        return round(len(done) / (max(done.values()) - first), 1)

    # How long each run waited after its incident opened: near 0 when the playbook stage keeps up with detection
    # (then runs_per_s is detection's rate, and opened_per_s says so).
    lag = sorted(started[i] - opened[i] for i in started if i in opened)
    by_part: dict[int, list[float]] = {}
    for i, p in part_of.items():
        by_part.setdefault(p, []).append(started[i] - (first or 0.0))
    partitions = {
        str(p): {"runs": len(v), "first_s": round(min(v), 2), "last_s": round(max(v), 2)}
        for p, v in sorted(by_part.items())
    }
    return {
        "window": (first, max(started.values())) if first is not None and started else None,
        "seal_window": (first, max(seal_done.values())) if first is not None and seal_done else None,
        "partitions": partitions,
        "opened_span_s": round(max(opened.values()) - first, 2) if first is not None else None,
        "opened": len(opened),
        "opened_records": opened_records,  # more than `opened`: detection wrote some again
        "started": len(started),
        "sealed_runs": len(seal_done),
        "opened_per_s": rate(opened),
        "runs_per_s": rate(started),
        "seals_per_s": rate(seal_done) if sealed else None,
        "start_lag_s": {"p50": round(lag[len(lag) // 2], 2), "max": round(lag[-1], 2)} if lag else None,
    }


def _tree_cpu(root: int, children: dict[int, list[int]]) -> float:
    """CPU seconds of ``root`` and its live descendants, each with the children it has reaped."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        todo.extend(children.get(pid, ()))
    return total


def _threads(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return []


def _schedstat(pid: int, tids: list[int]) -> tuple[float, float]:
    """Seconds ``tids`` of ``pid`` spent on a core and runnable waiting for one."""
    on = waiting = 0
    for tid in tids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            on, waiting = on + int(fields[0]), waiting + int(fields[1])
    return on / 1e9, waiting / 1e9


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                out.setdefault(ppid, []).append(int(entry.name))
    return out


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every state but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSampler:
    """The CPU seconds of named process trees and of the machine, sampled every 0.1 s in a thread.

    ``trees``: name -> root pid, counted with its descendants (workers and their children). The bench's own
    process is counted alone (``bench``: its consumer and the SMTP sink's thread), and ``other`` is the
    machine's busy time less all of these (other sessions, the kernel's own).
    """

    trees: dict[str, int]
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        children = _children()
        cpu = {name: _tree_cpu(pid, children) for name, pid in self.trees.items()}
        cpu["bench"] = cpu_seconds(os.getpid()) or 0.0
        cpu["machine"] = _machine_busy()
        for name, pid in self.trees.items():
            # The event loop's thread (a worker's main thread; every thread of the broker): on a core, and
            # runnable but waiting for one (the scheduler's own account, /proc/<pid>/task/<tid>/schedstat).
            tids = [pid] if name.startswith("worker") else _threads(pid)
            on, waiting = _schedstat(pid, tids)
            cpu[f"{name}.on_cpu"], cpu[f"{name}.waiting_for_cpu"] = on, waiting
        self.samples.append((time.time(), cpu))

    def __enter__(self) -> Self:
        def loop() -> None:
            while not self._stop.wait(0.1):
                self._sample()

        self._sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def cores(self, t0: float, t1: float) -> dict[str, float]:
        """Cores each used from ``t0`` to ``t1`` (wall-clock seconds), from the samples around the window."""
        before = max((s for s in self.samples if s[0] <= t0), default=self.samples[0], key=lambda s: s[0])
        after = min((s for s in self.samples if s[0] >= t1), default=self.samples[-1], key=lambda s: s[0])
        span = after[0] - before[0]
        if span <= 0:
            return {}
        used = {k: (after[1][k] - before[1][k]) / span for k in after[1]}
        sched = {k: used.pop(k) for k in list(used) if "." in k}
        used["other"] = used.pop("machine") - sum(used.values())
        out: dict[str, Any] = {k: round(v, 2) for k, v in used.items()} | {"window_s": round(span, 2)}
        # Per worker: its event loop's share of the window on a core, waiting for one, and neither (waiting on
        # the broker's answers, or idle); for the broker, the same summed over its threads.
        for name in self.trees:
            on, waiting = sched[f"{name}.on_cpu"], sched[f"{name}.waiting_for_cpu"]
            out[f"{name}_loop"] = {"on_cpu": round(on, 2), "waiting_for_cpu": round(waiting, 2)}
            if name.startswith("worker"):
                out[f"{name}_loop"]["neither"] = round(1 - on - waiting, 2)
        return out


@dataclass(frozen=True)
class Backlog:
    """What the detection pass left: the events it read and the ``incidents`` records it wrote."""

    events: list[tuple[str, bytes]]
    incidents: list[tuple[bytes | None, bytes]]


def case_env(
    broker: EmbeddedBroker, tmp: Path, sink: SinkThread, args: argparse.Namespace, name: str
) -> dict[str, str]:
    """The settings every worker of case ``name`` shares (its own prefix, group and store)."""
    prefix = f"sb{uuid.uuid4().hex[:6]}-"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")},
        "KINKYU_BROKER": broker.bootstrap,
        "KINKYU_TOPIC_PREFIX": prefix,
        "KINKYU_GROUP": f"scale-{name}",
        "KINKYU_PARTITIONS": str(args.partitions),
        "KINKYU_CONTRACTS": orjson.dumps([str(tmp / "contracts")]).decode(),
        "KINKYU_STORE": str(tmp / name / "store"),
        "KINKYU_SMTP_HOST": "127.0.0.1",
        "KINKYU_SMTP_PORT": str(sink.port),
        "KINKYU_SMTP_SECURITY": "none",
        "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <kinkyu@kinkyu.bench>",
        "KINKYU_NOTIFY_ACK_SECRET": secrets.token_urlsafe(32),
        "KINKYU_SESSION_TIMEOUT": "6",
        "KINKYU_LOG_LEVEL": args.log_level,
    }


def seal_env() -> dict[str, str]:
    """An evidence key and integrity keys: the workers seal evidence."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "KINKYU_EVIDENCE_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "KINKYU_INTEGRITY_KEYS": f'{{"bench": "{key}"}}',
    }


def start_workers(base: dict[str, str], tmp: Path, name: str, workers: int) -> list[KinkyuProcess]:
    """``workers`` workers with ``base``'s settings, a data folder, outbox and ports each; healthy."""
    procs: list[KinkyuProcess] = []
    for i in range(workers):
        port = free_port()
        env = {
            **base,
            "KINKYU_WEB_PORT": str(port),
            "KINKYU_DATA_DIR": str(tmp / name / f"data-{i}"),
            "KINKYU_NOTIFY_ACK_PORT": str(free_port()),
        }
        procs.append(KinkyuProcess("worker", env, port, tmp / f"{name}-{i}.log", cwd=REPO, start_timeout=90))
        procs[-1].start()
    for p in procs:
        p.wait_healthy()
    return procs


def stop_all(procs: list[KinkyuProcess]) -> None:
    """Stop the workers side by side (each finishes its queued report renders first, for up to 15 s)."""

    def stop(p: KinkyuProcess) -> None:
        with contextlib.suppress(Exception):
            p.stop(grace=15)

    threads = [threading.Thread(target=stop, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ownership(procs: list[KinkyuProcess]) -> list[dict[str, list[int]]]:
    """Each worker's partitions as its ``/health`` says: playbook (and mail) and detection."""
    out = []
    for p in procs:
        body = orjson.loads(p.get("/health")[1] or b"{}")
        out.append(
            {
                "playbook": body.get("playbook_partitions") or [],
                "detection": body.get("partitions") or [],
                # Listening once the notifier has read the delivery ledger: the last of a worker's start-up.
                "ack": [1] if body.get("ack_endpoint") == "listening" else [],
            }
        )
    return out


def settled(owned: list[dict[str, list[int]]], partitions: int) -> bool:
    """Every worker owns partitions of both stages, together every partition of each once, and is listening."""
    return all(o["ack"] for o in owned) and all(
        all(o[stage] for o in owned) and sorted(p for o in owned for p in o[stage]) == list(range(partitions))
        for stage in ("playbook", "detection")
    )


def wait_settled(procs: list[KinkyuProcess], partitions: int, *, within: float) -> list[dict[str, list[int]]]:
    """The workers' partitions once :func:`settled`; AssertionError if they are not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        owned = ownership(procs)
        if settled(owned, partitions):
            return owned
        if time.monotonic() > deadline:
            raise AssertionError(f"the workers did not each take a share of the partitions: {owned}")
        time.sleep(0.2)


def spy(binary: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` of ``pid`` (with its children; samples on CPU only) to ``out`` as collapsed stacks."""
    cmd = [binary, "record", "--pid", str(pid), "--subprocesses", "--rate", "200"]
    # The profiler the caller named; its notices are of no use in the bench's output.
    proc = subprocess.Popen([*cmd, "--format", "raw", "--output", str(out)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the backlog is released
    return proc


def detection_pass(
    broker: EmbeddedBroker, tmp: Path, sink: SinkThread, args: argparse.Namespace, *, sealed: bool
) -> Backlog:
    """One worker detects the bench's events; the ``incidents`` records it wrote, to replay in every case."""
    name = f"detect{'-sealed' if sealed else ''}"
    values = events(prepare_contracts_cached(tmp), args.incidents, args.benign_every if sealed else 0, seed="d")
    base = case_env(broker, tmp, sink, args, name)
    topics = Topics(base["KINKYU_TOPIC_PREFIX"])
    procs = start_workers(base, tmp, name, 1)
    try:
        wait_settled(procs, args.partitions, within=60)
        asyncio.run(produce(broker.bootstrap, topics.access_log, keyed(values)))
        group = f"{base['KINKYU_GROUP']}-detector"
        asyncio.run(detected_to_end(broker.bootstrap, topics, group, within=args.timeout))
        records = asyncio.run(read_topic(broker.bootstrap, topics.incidents))
    finally:
        stop_all(procs)
    opened = sum(1 for _, v in records if orjson.loads(v).get("change") == "opened")
    if opened != args.incidents:
        raise AssertionError(f"the detection pass opened {opened} incidents, not {args.incidents}")
    return Backlog(values, records)


def run_case(
    broker: EmbeddedBroker,
    tmp: Path,
    sink: SinkThread,
    args: argparse.Namespace,
    *,
    workers: int,
    sealed: bool,
    backlog: Backlog | None,
    side: str = "",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One case: fresh topics, ``workers`` workers; the backlog released at once (or the breaches produced).

    ``backlog``: the detection pass's records to replay (None: ``--pipeline``, the breaches produced and
    detected in the case). ``env``: settings over the bench's own environment for the workers (the
    baseline's ``PYTHONPATH``); ``side`` names it in the case's name.
    """
    name = f"{side}w{workers}{'-sealed' if sealed else ''}"
    base = {**case_env(broker, tmp, sink, args, name), **(seal_env() if sealed else {}), **(env or {})}
    topics = Topics(base["KINKYU_TOPIC_PREFIX"])
    if backlog is not None:
        group = f"{base['KINKYU_GROUP']}-detector"
        asyncio.run(as_detected(broker.bootstrap, topics, args.partitions, group, backlog.events))
        values = None
    else:
        values = events(
            prepare_contracts_cached(tmp),
            args.incidents,
            args.benign_every if sealed else 0,
            seed=name.removeprefix(side)[:3],
        )
    procs = start_workers(base, tmp, name, workers)
    try:
        owned = wait_settled(procs, args.partitions, within=60)
        broker_pid = broker._proc.pid if broker._proc is not None else 0  # noqa: SLF001  # its CPU, read from /proc
        trees = {"broker": broker_pid} | {f"worker{i}": p.pid for i, p in enumerate(procs)}
        spies = (
            [spy(args.py_spy, p.pid, tmp / f"{name}-{i}.stacks") for i, p in enumerate(procs)] if args.py_spy else []
        )
        with CpuSampler(trees) as sampler:
            # What the workers cost idle (owning their partitions, nothing to do), before the release.
            time.sleep(IDLE_WINDOW)
            released = time.time()
            t0 = time.monotonic()
            if backlog is not None:
                asyncio.run(produce(broker.bootstrap, topics.incidents, backlog.incidents))
            else:
                asyncio.run(produce(broker.bootstrap, topics.access_log, keyed(values or [])))
            result = asyncio.run(watch(broker.bootstrap, topics, args.incidents, sealed=sealed, within=args.timeout))
            wall = time.monotonic() - t0
        for sp in spies:
            sp.send_signal(signal.SIGINT)
            sp.wait(30)
        after = ownership(procs)
    finally:
        stop_all(procs)
    window, seal_window = result.pop("window"), result.pop("seal_window")
    per_worker = {
        k: (round(v / workers, 1) if isinstance(v, float) else None) for k, v in result.items() if "per_s" in k
    }
    runs = {int(p): v["runs"] for p, v in result["partitions"].items()}
    if backlog is None:  # detection and playbook together: named apart from the stage's capacity
        result = {f"pipeline_{k}" if k in {"runs_per_s", "seals_per_s"} else k: v for k, v in result.items()}
    return {
        "case": name,
        "side": side.rstrip("-") or "branch",
        "measure": "pipeline" if backlog is None else "capacity",
        "workers": workers,
        "sealed": sealed,
        "incidents_records": None if backlog is None else len(backlog.incidents),
        **result,
        "per_worker": per_worker,
        "owned": owned,
        "runs_per_worker": [sum(runs.get(p, 0) for p in o["playbook"]) for o in owned],
        "rebalanced": after != owned,
        "cpu_cores": sampler.cores(*window) if window else None,  # while the runs started
        "cpu_cores_to_last_seal": sampler.cores(*seal_window) if seal_window else None,
        "idle_cpu_cores": sampler.cores(released - IDLE_WINDOW, released),
        "wall_s": round(wall, 1),
    }


_CONTRACTS: dict[Path, list[Contract]] = {}


def prepare_contracts_cached(tmp: Path) -> list[Contract]:
    """The bench contracts, copied once per run."""
    if tmp not in _CONTRACTS:
        _CONTRACTS[tmp] = prepare_contracts(tmp / "contracts")
    return _CONTRACTS[tmp]


def ratios_of(results: list[dict[str, Any]], sides: list[str]) -> dict[str, float]:
    """2 workers over 1 per side, and with a baseline, each case's branch over its baseline."""
    by = {r["case"]: r for r in results}
    ratios: dict[str, float] = {}

    def figure(r: dict[str, Any] | None, k: str) -> tuple[str, float | None]:
        if r is None:
            return k, None
        name = k if k in r else f"pipeline_{k}"
        return name, r.get(name)

    for side in sides:
        for suffix in ("", "-sealed"):
            one, two = by.get(f"{side}w1{suffix}"), by.get(f"{side}w2{suffix}")
            for k in ("runs_per_s", "seals_per_s"):
                name, a = figure(one, k)
                _, b = figure(two, k)
                if a and b:
                    ratios[f"{side}{name.removesuffix('_per_s')}_2_over_1{suffix}"] = round(b / a, 2)
    for r in results:
        old = by.get(f"base-{r['case']}")
        for k in ("runs_per_s", "seals_per_s"):
            name, new = figure(r, k)
            _, was = figure(old, k)
            if new and was:
                ratios[f"{r['case']}_{name}_branch_over_base"] = round(new / was, 2)
    return ratios


def main(argv: list[str] | None = None) -> int:
    """Run the cases; 0 when every case started (and sealed) every run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300, help="breaches per case, each its own incident (300)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every spread topic (4)")
    parser.add_argument("--benign-every", type=float, default=30.0, help="seconds of event time between benign reads")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a case may take (300)")
    parser.add_argument("--skip-sealed", action="store_true", help="only the cases without sealing")
    parser.add_argument(
        "--cases", default="w1,w2,w1-sealed,w2-sealed", help="the cases to run, comma-separated (all four)"
    )
    parser.add_argument(
        "--baseline-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run every case a second time, just before, with this setting for the workers (e.g. "
        "PYTHONPATH=/path/to/main): the ratios branch / baseline of one run (repeatable)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"], help="the workers' (WARNING)"
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="measure detection and playbook together (the breaches produced in each case), not the stage's capacity",
    )
    parser.add_argument("--py-spy", metavar="PATH", help="profile every worker of every case with this py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worker logs, stores)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result file ({RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
    cases = [
        (w, sealed)
        for w, sealed in [(1, False), (2, False), (1, True), (2, True)]
        if f"w{w}{'-sealed' if sealed else ''}" in wanted and not (sealed and args.skip_sealed)
    ]
    baseline = dict(item.split("=", 1) for item in args.baseline_env)
    sides: list[tuple[str, dict[str, str] | None]] = [("base-", baseline), ("", None)] if baseline else [("", None)]
    results = []
    # A stopped worker's render and seal children may still be finishing a file as the folder goes.
    with contextlib.ExitStack() as stack:
        if args.keep:
            folder = tempfile.mkdtemp(prefix="kinkyu-scale-bench-")
            print(f"scale bench: keeping {folder}", flush=True)
        else:
            folder = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="kinkyu-scale-bench-", ignore_cleanup_errors=True)
            )
        tmp = Path(folder)
        prepare_contracts_cached(tmp)
        with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
            sink = SinkThread().start()
            try:
                backlogs: dict[bool, Backlog] = {}
                for workers, sealed in cases:
                    if not args.pipeline and sealed not in backlogs:
                        print(f"scale bench: detection pass, sealing {'on' if sealed else 'off'} …", flush=True)
                        backlogs[sealed] = detection_pass(broker, tmp, sink, args, sealed=sealed)
                    for side, env in sides:
                        what = f"{workers} worker(s), sealing {'on' if sealed else 'off'}"
                        print(f"scale bench: {side or ('branch ' if baseline else '')}{what} …", flush=True)
                        r = run_case(
                            broker,
                            tmp,
                            sink,
                            args,
                            workers=workers,
                            sealed=sealed,
                            backlog=backlogs.get(sealed),
                            side=side,
                            env=env,
                        )
                        print(f"   {orjson.dumps(r).decode()}", flush=True)
                        results.append(r)
            finally:
                sink.stop()
    ratios = ratios_of(results, [side for side, _ in sides])
    print(f"   ratios: {ratios}", flush=True)
    out = {"config": vars(args) | {"out": str(args.out)}, "cases": results, "ratios": ratios, "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
    ok = all(
        r["started"] >= args.incidents
        and (not r["sealed"] or r["sealed_runs"] >= args.incidents)
        and not r["rebalanced"]
        and r["opened_records"] == r["opened"]
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
