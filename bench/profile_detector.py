"""Where the detection stage's time goes, per event, in-process (no broker).

The worker's hot path per access-log message is ``decode_access(raw)`` then
``Engine.on_access(event)`` (streams/detector.py). This script times each
part over the bench's own traffic (or a JSON-lines file), then runs the
whole loop under cProfile. Run it pinned to one core for stable figures::

    taskset -c 1 .venv/bin/python bench/profile_detector.py --events 200000

Nothing here changes Kinkyu; the "what if" rows time local variants only to
size a suggestion (e.g. a non-frozen event class).
"""

from __future__ import annotations

import argparse
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
from bench import DEFAULT_CONTRACTS, DEFAULT_START, EventGen  # noqa: E402  # the bench's generator

# The same fields, without frozen=True: how much the frozen __init__ costs.
AccessEventThawed = dataclasses.make_dataclass(
    "AccessEventThawed",
    [(f.name, f.type, f) for f in dataclasses.fields(AccessEvent)],
    slots=True,
)


def per_event_us(n: int, fn: Callable[[], None]) -> float:
    """Microseconds per event of ``fn`` (which loops over ``n`` events), best of three."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def main() -> int:
    """Print the breakdown and the cProfile top list."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--input", type=Path, help="a JSON-lines file of access-log events instead of the bench's traffic")
    p.add_argument("--contracts", type=Path, default=DEFAULT_CONTRACTS)
    p.add_argument("--top", type=int, default=25, help="rows of the cProfile list")
    args = p.parse_args()

    profiles = load_profiles([args.contracts])
    policies = compile_profiles(profiles)
    if args.input:
        with args.input.open("rb") as f:
            raws = [line.rstrip(b"\n") for _, line in zip(range(args.events), f, strict=False)]
    else:
        gen = EventGen(profiles, seed=1, start=datetime.fromisoformat(DEFAULT_START), plant_every=50_000)
        raws = [next(gen)[1] for _ in range(args.events)]
    n = len(raws)
    objs = [orjson.loads(r) for r in raws]
    events = [wire.decode_access(r) for r in raws]
    kwargs = [{f.name: getattr(ev, f.name) for f in dataclasses.fields(AccessEvent)} for ev in events]
    stamps = [o["ts"] for o in objs]

    def loads() -> None:
        for r in raws:
            orjson.loads(r)

    def fast() -> None:
        for o in objs:
            wire.access_from_obj(o)

    def construct() -> None:
        for kw in kwargs:
            AccessEvent(**kw)

    def construct_thawed() -> None:
        for kw in kwargs:
            AccessEventThawed(**kw)

    def isoparse() -> None:
        for s in stamps:
            datetime.fromisoformat(s)

    def decode() -> None:
        for r in raws:
            wire.decode_access(r)

    def engine_only() -> None:
        engine = Engine(policies)
        on_access = engine.on_access
        for ev in events:
            on_access(ev)

    def whole() -> None:
        engine = Engine(policies)
        on_access = engine.on_access
        decode_access = wire.decode_access
        for r in raws:
            on_access(decode_access(r))

    rows: list[tuple[str, float]] = [
        ("orjson.loads", per_event_us(n, loads)),
        ("access_from_obj (fast path, loads excluded)", per_event_us(n, fast)),
        ("  of which AccessEvent(...) (frozen dataclass)", per_event_us(n, construct)),
        ("  what if: same dataclass, not frozen", per_event_us(n, construct_thawed)),
        ("  of which datetime.fromisoformat", per_event_us(n, isoparse)),
        ("decode_access (loads + fast path)", per_event_us(n, decode)),
        ("Engine.on_access (decoded events)", per_event_us(n, engine_only)),
    ]
    engine = Engine(policies)
    for rule in engine.rules:
        observe = rule.observe

        def one_rule(observe: Callable[[Any, Any], object] = observe) -> None:
            for ev in events:
                observe(ev, policies[ev.contract_id])

        rows.append((f"  rule {rule.rule_id}.observe", per_event_us(n, one_rule)))
    rows.append(("decode_access + Engine.on_access (the hot path)", per_event_us(n, whole)))

    print(f"{n:,} events, {sum(len(r) for r in raws) / n:.0f} B avg; microseconds per event (best of 3):")
    for name, us in rows:
        print(f"  {name:<52}{us:8.2f} us   ({1e6 / us:>11,.0f} ev/s)")

    prof = cProfile.Profile()
    prof.enable()
    whole()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
