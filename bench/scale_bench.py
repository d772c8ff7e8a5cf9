"""Playbook runs per second with one worker and with two, with and without evidence sealing, in one run.

One embedded ``tansu`` broker, topics with ``--partitions`` partitions (4),
an aiosmtpd sink for the mail (:class:`notify_bench.SinkThread`), and the
sample contracts without work hours (:func:`notify_bench.prepare_contracts`).
Each case gets a fresh topic prefix and group on the same broker:

1. start the case's workers (``kinkyu worker`` subprocesses, each with a data
   folder and outbox of its own, one shared incident store as the README
   asks) and wait until each owns stage partitions;
2. produce ``--incidents`` breaches (reads by never-registered accounts, five
   minutes apart per contract so none fold together) and, with sealing, the
   contracts' benign traffic around them (a read every ``--benign-every``
   seconds of event time per contract, so each seal has events to read);
3. read ``incidents`` and ``incident-state`` back: a run *starts* with its
   first ``incident-state`` record, and is *sealed* with the first record
   whose timeline has ``evidence_sealed``. Rate = incidents / (the last
   start, or seal, − the first ``opened`` record), from the records'
   broker timestamps (no polling in the figure).

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
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))  # notify_bench beside this file

from notify_bench import Contract, access, machine, prepare_contracts  # after the path
from runtime import SinkThread  # after the path

from kinkyu.streams.broker import EmbeddedBroker, free_port  # after the path
from kinkyu.streams.process import KinkyuProcess  # after the path
from kinkyu.streams.settings import Topics  # after the path

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "scale.json"


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


async def produce(bootstrap: str, topic: str, values: list[tuple[str, bytes]]) -> None:
    """Send every event keyed by its contract."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for cid, value in values:
            await producer.send(topic, value, key=cid.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def watch(bootstrap: str, topics: Topics, n: int, *, sealed: bool, within: float) -> dict[str, Any]:
    """Read ``incidents`` and ``incident-state`` until every run has started (and been sealed); the times."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    opened: dict[str, float] = {}
    started: dict[str, float] = {}
    seal_done: dict[str, float] = {}
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
                        opened.setdefault(iid, at)
                    elif tp.topic == topics.incident_state:
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
    return {
        "opened": len(opened),
        "started": len(started),
        "sealed_runs": len(seal_done),
        "opened_per_s": rate(opened),
        "runs_per_s": rate(started),
        "seals_per_s": rate(seal_done) if sealed else None,
        "start_lag_s": {"p50": round(lag[len(lag) // 2], 2), "max": round(lag[-1], 2)} if lag else None,
    }


def run_case(
    broker: EmbeddedBroker,
    tmp: Path,
    sink: SinkThread,
    args: argparse.Namespace,
    *,
    workers: int,
    sealed: bool,
    side: str = "",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One case: fresh topics, ``workers`` workers, the incidents produced at once, the rates.

    ``env``: settings over the bench's own environment for the workers (the baseline's ``PYTHONPATH``);
    ``side`` names it in the case's name.
    """
    name = f"{side}w{workers}{'-sealed' if sealed else ''}"
    prefix = f"sb{uuid.uuid4().hex[:6]}-"
    topics = Topics(prefix)
    base = {
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
        "KINKYU_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    if sealed:
        base["KINKYU_EVIDENCE_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        base["KINKYU_INTEGRITY_KEYS"] = f'{{"bench": "{key}"}}'
    procs: list[KinkyuProcess] = []
    try:
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            owned = [orjson.loads(p.get("/health")[1] or b"{}").get("playbook_partitions") or [] for p in procs]
            if all(owned) and sum(len(o) for o in owned) == args.partitions:
                break
            time.sleep(0.2)
        values = events(
            prepare_contracts_cached(tmp),
            args.incidents,
            args.benign_every if sealed else 0,
            seed=name.removeprefix(side)[:3],
        )
        cpu0 = [p.cpu_seconds() or 0.0 for p in procs]
        t0 = time.monotonic()
        asyncio.run(produce(broker.bootstrap, topics.access_log, values))
        result = asyncio.run(watch(broker.bootstrap, topics, args.incidents, sealed=sealed, within=args.timeout))
        wall = time.monotonic() - t0
        cpu = [round((p.cpu_seconds() or 0.0) - c, 1) for p, c in zip(procs, cpu0, strict=True)]
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.stop(grace=15)
    per_worker = {
        k: (round(v / workers, 1) if isinstance(v, float) else None) for k, v in result.items() if "per_s" in k
    }
    return {
        "case": name,
        "side": side.rstrip("-") or "branch",
        "workers": workers,
        "sealed": sealed,
        "events": len(values),
        **result,
        "per_worker": per_worker,
        "worker_cpu_s": cpu,
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
    for side in sides:
        for suffix in ("", "-sealed"):
            one, two = by.get(f"{side}w1{suffix}"), by.get(f"{side}w2{suffix}")
            if one and two and one["runs_per_s"] and two["runs_per_s"]:
                ratios[f"{side}runs_2_over_1{suffix}"] = round(two["runs_per_s"] / one["runs_per_s"], 2)
            if one and two and one.get("seals_per_s") and two.get("seals_per_s"):
                ratios[f"{side}seals_2_over_1{suffix}"] = round(two["seals_per_s"] / one["seals_per_s"], 2)
    for r in results:
        old = by.get(f"base-{r['case']}")
        for k in ("runs_per_s", "seals_per_s"):
            if old and r.get(k) and old.get(k):
                ratios[f"{r['case']}_{k}_branch_over_base"] = round(r[k] / old[k], 2)
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
                for workers, sealed in cases:
                    for side, env in sides:
                        what = f"{workers} worker(s), sealing {'on' if sealed else 'off'}"
                        print(f"scale bench: {side or ('branch ' if baseline else '')}{what} …", flush=True)
                        r = run_case(broker, tmp, sink, args, workers=workers, sealed=sealed, side=side, env=env)
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
        r["started"] >= args.incidents and (not r["sealed"] or r["sealed_runs"] >= args.incidents) for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
