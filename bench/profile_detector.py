"""Where the detection stage's time goes, per event, in-process.

The worker's hot path per access-log message is ``decode_access(raw)`` then
``Engine.on_access(event)`` (streams/detector.py). By default this script
times each part over the bench's own traffic (or a JSON-lines file), with no
broker, then runs the whole loop under cProfile. With ``--stage`` it instead
runs the real :class:`streams.detector.DetectorStage` (consumer, engine,
metrics, sink, checkpoints; no faust) on an embedded broker under cProfile,
to show what the stage adds around the hot path. Pin it to one core for
stable figures::

    taskset -c 1 .venv/bin/python bench/profile_detector.py --events 200000
    .venv/bin/python bench/profile_detector.py --stage --events 300000

Nothing here changes Kinkyu; the "what if" rows time local variants only to
size a suggestion (e.g. a non-frozen event class).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import pstats
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core import wire
from kinkyu.core.engine import Engine
from kinkyu.core.model import AccessEvent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kafka_io import create_topics, load_topic
from runtime import DEFAULT_CONTRACTS
from traffic import DEFAULT_START, EventGen


def _field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass or a msgspec Struct (the event class has been both)."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return tuple(getattr(cls, "__struct_fields__", ()))


def _thawed(cls: type) -> type | None:
    """The same dataclass without ``frozen=True``, to size what freezing costs (None if not a frozen dataclass)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        return None
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"{cls.__name__}Thawed", fields, slots=True)


def _noop(ev: object, policy: object) -> tuple[()]:
    del ev, policy
    return ()


def per_event_us(n: int, fn: Callable[[], None]) -> float:
    """Microseconds per event of ``fn`` (which loops over ``n`` events), best of three."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def print_profile(prof: cProfile.Profile, top: int) -> None:
    """The ``top`` functions by own time."""
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


async def _stage_run(bootstrap: str, policies: dict[str, Any], n: int, prof: cProfile.Profile) -> float:
    from kinkyu.streams.app import ensure_topics  # noqa: PLC0415  # faust is slow to import; only this mode needs it
    from kinkyu.streams.detector import DetectorStage  # noqa: PLC0415
    from kinkyu.streams.metrics import Metrics  # noqa: PLC0415
    from kinkyu.streams.settings import Topics  # noqa: PLC0415
    from kinkyu.streams.sink import KafkaSink  # noqa: PLC0415

    topics = Topics("prof-")
    await ensure_topics(bootstrap, topics, 1)
    metrics = Metrics()
    sink = KafkaSink(bootstrap)
    await sink.start()
    stage = DetectorStage(
        bootstrap=bootstrap, group="prof", topics=topics, sink=sink, policies=lambda: policies, metrics=metrics
    )
    await stage.start()
    await stage.ready.wait()
    task = asyncio.ensure_future(stage.run())
    started = time.perf_counter()
    prof.enable()
    try:
        while (metrics.registry.get_sample_value("kinkyu_events_in_total", {"topic": topics.access_log}) or 0) < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        prof.disable()
        seconds = time.perf_counter() - started
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stage.stop()
        await sink.stop()
    return seconds


def profile_stage(raws: list[bytes], policies: dict[str, Any], top: int) -> None:
    """DetectorStage on an embedded broker, under cProfile (from assignment to the last event)."""
    from kinkyu.streams.broker import EmbeddedBroker  # noqa: PLC0415

    n = len(raws)
    with EmbeddedBroker() as broker:
        asyncio.run(create_topics(broker.bootstrap, ["prof-access-log"]))
        msgs = [(orjson.loads(r)["contract_id"].encode(), r) for r in raws]
        asyncio.run(load_topic(broker.bootstrap, "prof-access-log", msgs))
        prof = cProfile.Profile()
        seconds = asyncio.run(_stage_run(broker.bootstrap, policies, n, prof))
    print(f"DetectorStage: {n:,} events in {seconds:.2f} s under cProfile ({n / seconds:,.0f} ev/s, profiled)")
    print_profile(prof, top)


def main() -> int:
    """Print the breakdown and the cProfile top list."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--input", type=Path, help="a JSON-lines file of access-log events instead of the bench's traffic")
    p.add_argument("--contracts", type=Path, default=DEFAULT_CONTRACTS)
    p.add_argument("--top", type=int, default=25, help="rows of the cProfile list")
    p.add_argument("--stage", action="store_true", help="profile DetectorStage on an embedded broker instead")
    args = p.parse_args()

    profiles = load_profiles([args.contracts])
    policies = compile_profiles(profiles)
    if args.input:
        with args.input.open("rb") as f:
            raws = [line.rstrip(b"\n") for _, line in zip(range(args.events), f, strict=False)]
    else:
        gen = EventGen(profiles, seed=1, start=datetime.fromisoformat(DEFAULT_START), plant_every=50_000)
        raws = [next(gen)[1] for _ in range(args.events)]
    if args.stage:
        profile_stage(raws, policies, args.top)
    else:
        breakdown(raws, policies, args.top)
    return 0


def breakdown(raws: list[bytes], policies: dict[str, Any], top: int) -> None:
    """Microseconds per event of each part of the hot path, then the hot path under cProfile."""
    n = len(raws)
    events = [wire.decode_access(r) for r in raws]
    names = _field_names(AccessEvent)
    kwargs = [{k: getattr(ev, k) for k in names} for ev in events]
    stamps = [orjson.loads(r)["ts"] for r in raws]
    thawed = _thawed(AccessEvent)
    pattern = getattr(wire, "_RFC3339", None)  # the fast path's timestamp check, if it has one
    kind = "frozen dataclass" if thawed is not None else type(AccessEvent).__name__

    def loads() -> None:
        for r in raws:
            orjson.loads(r)

    def construct(cls: Any = AccessEvent) -> None:
        for kw in kwargs:
            cls(**kw)

    def isoparse() -> None:
        for s in stamps:
            datetime.fromisoformat(s)

    def ts_check() -> None:
        if pattern is not None:
            for s in stamps:
                pattern.match(s)

    def decode() -> None:
        for r in raws:
            wire.decode_access(r)

    def engine_only() -> None:
        on_access = Engine(policies).on_access
        for ev in events:
            on_access(ev)

    def whole() -> None:
        on_access = Engine(policies).on_access
        decode_access = wire.decode_access
        for r in raws:
            on_access(decode_access(r))

    rows: list[tuple[str, float]] = [
        ("reference: orjson.loads alone", per_event_us(n, loads)),
        ("decode_access (bytes -> AccessEvent)", per_event_us(n, decode)),
        (f"  AccessEvent(**fields) ({kind})", per_event_us(n, construct)),
    ]
    if thawed is not None:
        rows.append(("  what if: the same dataclass, not frozen", per_event_us(n, lambda: construct(thawed))))
    rows.append(("  datetime.fromisoformat", per_event_us(n, isoparse)))
    if pattern is not None:
        rows.append(("  the RFC 3339 regex check", per_event_us(n, ts_check)))
    rows.append(("Engine.on_access (decoded events)", per_event_us(n, engine_only)))

    def harness() -> None:
        noop = _noop
        for ev in events:
            noop(ev, policies[ev.contract_id])

    base = per_event_us(n, harness)
    rows.append((f"  rules below: net of the {base:.2f} us loop + call", base))
    for rule in Engine(policies).rules:

        def one_rule(observe: Callable[[Any, Any], object] = rule.observe) -> None:
            for ev in events:
                observe(ev, policies[ev.contract_id])

        rows.append((f"  rule {rule.rule_id}.observe (net)", per_event_us(n, one_rule) - base))
    rows.append(("decode_access + Engine.on_access (the hot path)", per_event_us(n, whole)))

    print(f"{n:,} events, {sum(len(r) for r in raws) / n:.0f} B avg; microseconds per event (best of 3):")
    for name, us in rows:
        print(f"  {name:<52}{us:8.2f} us   ({1e6 / us:>11,.0f} ev/s)")

    prof = cProfile.Profile()
    prof.enable()
    whole()
    prof.disable()
    print_profile(prof, top)


if __name__ == "__main__":
    sys.exit(main())
