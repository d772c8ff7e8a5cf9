"""Integration tier: a real Kafka-protocol broker (tansu) and real worker processes.

One broker per test session (it starts in milliseconds); every test gets a
fresh topic prefix and consumer group, so tests never see each other's data.
Workers run as subprocesses, exactly as ``kinkyu worker`` runs in production,
so a test can SIGKILL one.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kinkyu.streams.broker import EmbeddedBroker, free_port
from kinkyu.streams.process import KinkyuProcess
from kinkyu.streams.settings import Topics

REPO = Path(__file__).resolve().parents[2]
# Every worker MACs its evidence with this integrity key (a worker given an evidence key refuses to seal without one).
INTEGRITY_KEY = bytes(range(200, 232))
INTEGRITY_KEYS_JSON = orjson.dumps({"it": base64.b64encode(INTEGRITY_KEY).decode()}).decode()
CONTRACTS = REPO / "samples" / "contracts"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as b:
        yield b


@dataclass
class Pipeline:
    """A fresh namespace on the shared broker: topics, group, and helpers to use them."""

    broker: EmbeddedBroker
    prefix: str
    tmp: Path
    contracts: Path
    workers: list[KinkyuProcess] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    def worker(self, **env: str) -> KinkyuProcess:
        """A ``kinkyu worker`` on this namespace (not started), its settings overridden by ``env``."""
        web_port = free_port()
        full = {
            **os.environ,
            "KINKYU_BROKER": self.broker.bootstrap,
            "KINKYU_TOPIC_PREFIX": self.prefix,
            "KINKYU_GROUP": f"g-{self.prefix}",
            "KINKYU_WEB_PORT": str(web_port),
            "KINKYU_CONTRACTS": orjson.dumps([str(self.contracts)]).decode(),
            "KINKYU_DATA_DIR": str(self.tmp / "data"),
            # Its own acknowledgement endpoint: port 6067 may be held by another worker on this machine.
            "KINKYU_NOTIFY_ACK_PORT": str(free_port()),
            "KINKYU_CHECKPOINT_INTERVAL": "0.2",
            "KINKYU_CONTRACTS_POLL": "0.5",
            # tansu holds every JoinGroup for half the session timeout and keeps a SIGKILLed member
            # until its session expires: 2 s instead of production's 10 s makes a start take ~4 s, not ~8 s.
            "KINKYU_SESSION_TIMEOUT": "2",
            "KINKYU_INTEGRITY_KEYS": INTEGRITY_KEYS_JSON,
            **env,
        }
        log = self.tmp / f"worker-{len(self.workers)}.log"
        w = KinkyuProcess("worker", full, web_port, log, cwd=REPO, start_timeout=60.0)
        self.workers.append(w)
        return w

    async def produce(self, topic: str, values: list[bytes], key: bytes | None = None) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, acks=1, linger_ms=5)
        await producer.start()
        try:
            for v in values:
                await producer.send(topic, v, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    async def read(
        self,
        topic: str,
        until: Callable[[list[Any]], bool],
        timeout: float = 30.0,
        settle: float = 0.0,
    ) -> list[Any]:
        """Every record of ``topic`` from the start, once ``until(records)`` holds (then ``settle`` more s)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.broker.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            parts: set[int] = set()
            while not parts and time.monotonic() < deadline:
                await consumer._client.force_metadata_update()  # the public API has no refresh
                parts = consumer.partitions_for_topic(topic) or set()
                if not parts:
                    await asyncio.sleep(0.2)
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            settle_until: float | None = None
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for msgs in batch.values():
                    records.extend(msgs)
                if settle_until is None and until(records):
                    settle_until = time.monotonic() + settle
                if settle_until is not None and time.monotonic() >= settle_until:
                    return records
        finally:
            await consumer.stop()
        return records


@pytest.fixture
async def pipeline(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Pipeline]:
    p = Pipeline(broker, f"t{uuid.uuid4().hex[:8]}-", tmp_path, CONTRACTS)
    yield p
    for w in p.workers:
        if w.running:
            # The test is over, so nothing the worker still does can be checked: a graceful stop would
            # only wait for its report archive to finish rendering PDFs (up to ~10 s). Tests that check
            # a graceful stop call stop() themselves.
            w.kill()


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


def contracts_reporting_at_once(pipeline: Pipeline, tmp_path: Path, **response: Any) -> dict[str, dict[str, Any]]:
    """A copy of the sample contracts: no work hours, unregistered-actor reported at once, ``response`` set."""
    folder = tmp_path / "contracts"
    shutil.copytree(pipeline.contracts, folder)
    profiles = {}
    for path in folder.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile.pop("work_hours", None)
        profile["response"] = {"report_at_once": ["unregistered-actor"], **response}
        path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
        profiles[profile["contract_id"]] = profile
    pipeline.contracts = folder
    return profiles


def loss_filing(profile: dict[str, Any]) -> dict[str, Any]:
    """A loss of three residents' names and addresses, filed now by the contractor's security staff."""
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "ts": now,
        "contract_id": profile["contract_id"],
        "kind": "loss",
        "incident_id": None,
        "reported_by": {"id": "sec-07", "org": profile["contractor"]["org"], "role": "security"},
        "occurred_at": now,
        "discovered_at": now,
        "records_affected": 3,
        "data_items": ["name", "address"],
    }
