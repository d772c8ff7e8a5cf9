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

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, Final

import orjson

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.contract import ContractPolicy, ContractProfile
from kinkyu.exceptions import KinkyuError
from kinkyu.streams.broker import EmbeddedBroker
from kinkyu.streams.process import peak_rss_mib
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from kafka_io import create_topics, load_topic
from latency import phase_latency
from replays import phase_replay
from report_table import report
from runtime import DEFAULT_CONTRACTS, REPO, bench_worker, machine
from throughput import (
    CEILING_PASSES,
    DIAG_PASSES,
    phase_ceiling,
    phase_worker,
    rate,
    summarize_ceiling,
    summarize_worker,
)
from traffic import DEFAULT_START, DataFile, file_messages, write_bench_files, write_sim_files

RESULTS: Final = REPO / "bench" / "results" / "latest.json"


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
            worker = bench_worker(
                bootstrap, prefix, contracts, tmp, group=f"bench-{run_id}-r{r}", extra_env=worker_env(args)
            )
            stack.callback(worker.stop)
            measure = partial(phase_worker, worker, bootstrap, n, data.planted, broker_pid, topics=Topics(prefix))
            got = attempt(f"worker, round {r}", measure)
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
        except (RuntimeError, OSError, ValueError, KinkyuError) as exc:
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
        lat_prefix = f"bl{run_id}-"
        lat = bench_worker(bootstrap, lat_prefix, contracts, tmp, extra_env=worker_env(args))
        stack.callback(lat.stop)
        measure = partial(phase_latency, lat, bootstrap, profiles, args, start, topics=Topics(lat_prefix))
        res["latency"] = attempt("latency", measure)
    if broker_pid is not None:
        res["broker_peak_rss_mb"] = peak_rss_mib(broker_pid)


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
