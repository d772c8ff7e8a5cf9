"""(d) latency: a fresh worker fed at a steady rate, from the send of each planted event to its incident."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import TopicPartition

from kinkyu.core.contract import ContractProfile
from kinkyu.streams.process import KinkyuProcess
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from kafka_io import bare_consumer, make_producer
from runtime import POLL
from throughput import rate
from traffic import EventGen


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    k = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[k]


class IncidentWatch:
    """Reads ``incidents`` as it grows: when each planted event's ``opened`` record arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = bare_consumer(bootstrap, wait_ms=5)  # the watcher itself must add next to nothing
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
    worker: KinkyuProcess,
    bootstrap: str,
    profiles: dict[str, ContractProfile],
    args: argparse.Namespace,
    start: datetime,
    *,
    topics: Topics,
) -> dict[str, Any]:
    """(d) A fresh worker, a steady feed, one planted unregistered actor every ``--plant-every`` events."""
    worker.start()
    healthy = worker.wait_healthy(interval=POLL)
    gen = EventGen(profiles, seed=args.seed + 1, start=start, plant_every=args.plant_every, tag="lat")
    watch, sent, produce_seconds = asyncio.run(_feed_and_watch(bootstrap, topics, gen, args.rate, args.seconds))
    sent_at, latency = watch.sent_at, watch.latency
    rss = worker.peak_rss_mib()
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
