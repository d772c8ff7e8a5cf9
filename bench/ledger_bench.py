"""The delivery ledger's cost and its remaining duplicate window, on a real broker and a real SMTP server.

One embedded ``tansu`` broker (the worker's topics created as a worker
creates them, ``--partitions`` for the ledger), an aiosmtpd server on
loopback in a thread of its own, and :class:`kinkyu.notifiers.service.Notifier`
in-process with its outbox on disk, sending ``--messages`` first reports
(one per incident) as fast as it can: once without a ledger, once with
:class:`kinkyu.notifiers.ledger.KafkaLedger`, alternating for ``--rounds``.
``--load`` access events per second go to the broker from another thread
meanwhile, so the ledger's reads and writes share the broker with traffic.

Measured, per message with the ledger:

- **window** = from the SMTP server's 250 (the transport returning) to the
  broker's ack of the ``delivered`` record (the local outbox's fsync of
  ``sent`` comes first, inside it). A worker killed inside this window leaves
  an intent alone, and the message is sent again after the lease: the only
  duplicate left;
- **claim** = appending the intents of a delivery pass (up to
  ``KINKYU_NOTIFY_BATCH``, 50) and reading them back, once per pass;
- **rate**: messages delivered per second with and without the ledger, and
  their ratio, one message at a time (``KINKYU_NOTIFY_CONCURRENCY=1``); and
  with the ledger and ``--concurrency`` incidents at once (each first report
  is its own incident), as a ratio to one at a time.

    .venv/bin/python bench/ledger_bench.py                      # 300 messages, 3 rounds, 2,000 ev/s of load
    .venv/bin/python bench/ledger_bench.py --messages 100 --load 0

Results: printed, and written to bench/results/ledger.json (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.notifiers.ledger import KafkaLedger, LedgerSettings
from kinkyu.notifiers.service import Notifier, NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings, SmtpTransport
from kinkyu.streams.app import ensure_topics
from kinkyu.streams.broker import EmbeddedBroker
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench's modules sit beside it, not in a package
from runtime import SinkThread

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "ledger.json"
KOGANEI: Final = "koganei-2026-017"
T0: Final = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)


class LoadThread:
    """``rate`` access events a second to the broker, from a thread with its own loop, until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load", daemon=True)

    def start(self) -> LoadThread:
        """Start sending (nothing with a rate of 0)."""
        if self.rate > 0:
            self._thread.start()
        return self

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=5)
        await producer.start()
        body = orjson.dumps({"event_id": "x", "contract_id": KOGANEI, "action": "read", "pad": "x" * 300})
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                for _ in range(self.rate // 10):
                    await producer.send(self.topic, body, key=KOGANEI.encode())
                self.sent += self.rate // 10
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
        finally:
            await producer.stop()

    def stop(self) -> None:
        """Stop sending."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


def record(n: int, tag: str) -> dict[str, Any]:
    """The ``notifications`` record of incident ``n``'s first report (``tag`` keeps passes apart)."""
    incident_id = f"INC-20261203-{n:04d}"
    return {
        "effect": "notify",
        "effect_id": f"{incident_id}/first_report/first_report/{tag}",
        "incident_id": incident_id,
        "contract_id": KOGANEI,
        "jurisdiction": "koganei",
        "step_id": "first_report",
        "audience": "city",
        "kind": "first_report",
        "due": (T0 + timedelta(hours=1)).isoformat(),
        "urgency": "直ちに",
        "article": "第19条第1項",
        "written": True,
        "possible": False,
        "items": [],
        "missing_items": [],
        "rule8": False,
        "task_id": None,
        "contract_ended": False,
        "queued_at": T0.isoformat(),
    }


def timed(claim_all: Callable[[list[str], datetime], Awaitable[None]], into: list[float]) -> Any:
    """``claim_all``, with each call's duration appended to ``into``."""

    async def wrapper(keys: list[str], now: datetime) -> None:
        started = time.monotonic()
        try:
            await claim_all(keys, now)
        finally:
            into.append(time.monotonic() - started)

    return wrapper


async def one_pass(
    broker: EmbeddedBroker,
    topics: Topics,
    smtp_port: int,
    folder: Path,
    n: int,
    *,
    with_ledger: bool,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Deliver ``n`` first reports from a fresh outbox, with or without the ledger, ``concurrency`` at once."""
    profiles = load_profiles([REPO / "samples" / "contracts"])
    ledger: KafkaLedger | None = None
    claims: list[float] = []
    if with_ledger:
        ledger = KafkaLedger(broker.bootstrap, topics.deliveries, worker=folder.name, settings=LedgerSettings())
        await ledger.start()
        ledger.claim_all = timed(ledger.claim_all, claims)  # type: ignore[method-assign]  # the bench's timing wrapper
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, security="none", from_address="Kinkyu <k@kinkyu.test>")
    notifier = Notifier(
        settings=NotifierSettings(
            ack_secret=SecretStr("ledger-bench-ack-secret-0123456789"), outbox_dir=folder, concurrency=concurrency
        ),
        profiles=lambda: profiles,
        email=SmtpTransport(smtp),
        ledger=ledger,
    )
    tag = uuid.uuid4().hex[:8]
    try:
        for i in range(n):
            await notifier.handle(record(i, tag))
        started = time.monotonic()
        while notifier.counts()["pending"]:
            await notifier.deliver()
        elapsed = time.monotonic() - started
    finally:
        notifier.close()
        if ledger is not None:
            await ledger.stop()
    out: dict[str, Any] = {
        "ledger": with_ledger,
        "concurrency": concurrency,
        "messages": n,
        "seconds": elapsed,
        "rate": n / elapsed,
    }
    if ledger is not None:
        out["window_ms"] = [w * 1000 for w in ledger.windows]
        out["claim_ms"] = [c * 1000 for c in claims]
    return out


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def commit() -> str:
    """The checkout's commit."""
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # git from PATH, as a developer runs it
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    return out.stdout.strip()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every pass, then the summary."""
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp_text:
        tmp = Path(tmp_text)
        with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
            topics = Topics(f"b{uuid.uuid4().hex[:6]}-")
            await ensure_topics(broker.bootstrap, topics, args.partitions)
            sink = SinkThread().start()
            load = LoadThread(broker.bootstrap, topics.access_log, args.load).start()
            passes: list[dict[str, Any]] = []
            try:
                for r in range(args.rounds):
                    # One message at a time (as before concurrent delivery), without and with the ledger; then
                    # with the ledger, --concurrency incidents at once.
                    for with_ledger, concurrency in ((False, 1), (True, 1), (True, args.concurrency)):
                        folder = tmp / f"outbox-{r}-{int(with_ledger)}-{concurrency}"
                        passes.append(
                            await one_pass(
                                broker,
                                topics,
                                sink.port,
                                folder,
                                args.messages,
                                with_ledger=with_ledger,
                                concurrency=concurrency,
                            )
                        )
            finally:
                load.stop()
                sink.stop()
    windows = [w for p in passes if p["ledger"] for w in p["window_ms"]]
    claims = [c for p in passes if p["ledger"] for c in p["claim_ms"]]
    plain = statistics.median(p["rate"] for p in passes if not p["ledger"])
    ledgered = statistics.median(p["rate"] for p in passes if p["ledger"] and p["concurrency"] == 1)
    concurrent = statistics.median(p["rate"] for p in passes if p["ledger"] and p["concurrency"] == args.concurrency)
    return {
        "when": datetime.now(UTC).isoformat(),
        "commit": commit(),
        "python": platform.python_version(),
        "args": vars(args),
        "rate_without_ledger": plain,
        "rate_with_ledger": ledgered,
        "ratio": ledgered / plain,
        "rate_with_ledger_concurrent": concurrent,
        "ratio_concurrent_over_one_at_a_time": concurrent / ledgered,
        "window_ms": {"p50": pct(windows, 0.5), "p99": pct(windows, 0.99), "max": max(windows), "n": len(windows)},
        "claim_ms": {"p50": pct(claims, 0.5), "p99": pct(claims, 0.99), "max": max(claims), "n": len(claims)},
        "passes": [{k: v for k, v in p.items() if not k.endswith("_ms")} for p in passes],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300, help="first reports per pass")
    parser.add_argument("--rounds", type=int, default=3, help="passes with and without the ledger, alternating")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the ledger (KINKYU_PARTITIONS)")
    parser.add_argument("--load", type=int, default=2000, help="access events a second to the broker meanwhile")
    parser.add_argument("--concurrency", type=int, default=8, help="incidents sent to at once in the third case")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    w, c = result["window_ms"], result["claim_ms"]
    print(f"messages/s without the ledger {result['rate_without_ledger']:.1f}, with {result['rate_with_ledger']:.1f}")
    print(f"ratio with/without: {result['ratio']:.2f}")
    print(
        f"with the ledger, {args.concurrency} incidents at once: {result['rate_with_ledger_concurrent']:.1f}/s, "
        f"{result['ratio_concurrent_over_one_at_a_time']:.2f}x one at a time"
    )
    print(f"duplicate window (250 -> ledger ack), ms: p50 {w['p50']:.1f}, p99 {w['p99']:.1f}, max {w['max']:.1f}")
    print(f"claim of a pass (intents + read back), ms: p50 {c['p50']:.1f}, p99 {c['p99']:.1f}, max {c['max']:.1f}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
