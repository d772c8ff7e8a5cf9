"""(a) the ceiling, a bare consumer draining the access-log topic, and (b) ``kinkyu worker`` on the same events."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import orjson

from kinkyu.core.contract import ContractPolicy
from kinkyu.core.engine import Engine
from kinkyu.core.wire import decode_access
from kinkyu.streams.process import KinkyuProcess, cpu_seconds
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from kafka_io import STALL, Handler, drain, read_opened
from runtime import POLL


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
    worker: KinkyuProcess, bootstrap: str, n: int, expected_incidents: int, broker_pid: int | None, *, topics: Topics
) -> dict[str, Any]:
    """(b) A worker on pre-produced events: rate between its first and last observed progress."""
    # Rounds of (b) share the topics: the incidents this round opens are those written after its start.
    since_ms = int(time.time() * 1000)
    worker.start()
    healthy = worker.wait_healthy(interval=POLL)
    events_in = f'kinkyu_events_in_total{{topic="{topics.access_log}"}}'
    print(f"   (b) worker healthy after {healthy:.1f} s", flush=True)
    samples: list[tuple[float, int]] = []
    last_change = time.perf_counter()
    t_zero: float | None = None
    cpu0: tuple[float | None, float | None] = (None, None)
    while True:
        worker.check_running()
        now = time.perf_counter()
        value = worker.metric(events_in)
        if value is not None:
            count = int(value)
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
    rss = worker.peak_rss_mib()
    opened = asyncio.run(read_opened(bootstrap, topics.incidents, expected_incidents, within=15, since_ms=since_ms))
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


def by_rule(incidents: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many incidents per rule set (or filed kind), to compare the worker with replay."""
    counts: dict[str, int] = {}
    for inc in incidents:
        key = ",".join(inc.get("rules") or ()) or str(inc.get("kind"))
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
