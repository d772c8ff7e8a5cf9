"""TLS and SASL to the broker: a worker and ``kinkyu produce`` over TLS, and the errors a wrong CA or login gives.

tansu 0.6 cannot serve TLS itself, so the broker sits behind a TLS front
(:mod:`tls`) and advertises it: every connection a client makes is a real TLS
handshake against a CA made by the test. tansu's ``--authentication`` makes
every client log in with SCRAM, but it keeps users in its storage and creates
them only over an authenticated connection, so a memory-storage broker has
no user: a login can be tested to fail clearly, not to succeed (the SASL
arguments themselves are unit-tested in ``tests/unit/test_broker_clients.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from conftest import CONTRACTS, REPO, Pipeline
from tls import Pki, TlsFront, make_pki

from kinkyu.bus.clients import BrokerConnection, BrokerSecurity
from kinkyu.streams.broker import EmbeddedBroker, free_port
from kinkyu.streams.settings import Topics

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
KOGANEI = "koganei-2026-017"
# The worker's start (two group joins on tansu, each half its 2 s session timeout) and a handful of events.
WITHIN = 60.0


@contextlib.contextmanager
def _fronted(pki: Pki, log: Path, *, authentication: bool = False) -> Iterator[EmbeddedBroker]:
    front_port = free_port()
    with EmbeddedBroker(log_path=log, advertised_port=front_port, authentication=authentication) as broker:
        front = TlsFront(pki, broker.port, port=front_port).start()
        try:
            yield broker
        finally:
            front.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with _fronted(pki, tmp_path_factory.mktemp("tls-broker") / "tansu.log") as broker:
        yield broker


def _tls_env(pki: Pki) -> dict[str, str]:
    return {"KINKYU_BROKER_SECURITY": "SSL", "KINKYU_BROKER_CA": str(pki.ca)}


def _event(actor: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "ts": datetime(2026, 11, 20, 10, 0, tzinfo=JST).isoformat(),  # a Friday, inside work hours
        "contract_id": KOGANEI,
        "system": "juki-portal",
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": "read",
        "outcome": "success",
        "resource": {"dataset": "residents", "records": 7, "fields": ["name", "address"]},
    }


def _kinkyu(*args: str, env: dict[str, str], timeout: float = WITHIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kinkyu", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _opened(connection: BrokerConnection, topic: str, within: float) -> list[dict[str, Any]]:
    """The incidents opened on ``topic``, read over ``connection`` until there is one (or ``within`` s pass)."""
    consumer = connection.consumer(enable_auto_commit=False, fetch_max_wait_ms=100)
    await connection.start(consumer, "the test's reader")
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + within
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while not found and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records = [orjson.loads(m.value) for msgs in batch.values() for m in msgs]
            found += [r for r in records if r.get("change") == "opened"]
    finally:
        await consumer.stop()
    return found


async def test_a_worker_and_kinkyu_produce_over_tls_detect_a_planted_breach(
    tls_broker: EmbeddedBroker, pki: Pki, tmp_path: Path
) -> None:
    pipeline = Pipeline(tls_broker, f"t{uuid.uuid4().hex[:8]}-", tmp_path, CONTRACTS)
    worker = pipeline.worker(**_tls_env(pki)).start()
    try:
        worker.wait_healthy()
        events = tmp_path / "events.jsonl"
        events.write_bytes(orjson.dumps(_event("u1042")) + b"\n" + orjson.dumps(_event("u9999")) + b"\n")

        sent = _kinkyu(
            "produce",
            "--topic",
            "access-log",
            str(events),
            env={"KINKYU_BROKER": tls_broker.bootstrap, "KINKYU_TOPIC_PREFIX": pipeline.prefix, **_tls_env(pki)},
        )
        connection = BrokerConnection(tls_broker.bootstrap, BrokerSecurity(security="SSL", ca=pki.ca))
        incidents = await _opened(connection, Topics(pipeline.prefix).incidents, WITHIN)
    finally:
        worker.kill()

    assert sent.returncode == 0, sent.stderr
    assert [(i["rules"], i["actor"]) for i in incidents] == [(["unregistered-actor"], "u9999")]


def test_a_broker_certificate_another_ca_signed_is_refused_by_name_without_a_traceback(
    tls_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    other = make_pki(tmp_path / "other", name="not the broker's ca")
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(_event("u9999")) + b"\n")

    result = _kinkyu(
        "produce", "--topic", "access-log", str(events), env={"KINKYU_BROKER": tls_broker.bootstrap, **_tls_env(other)}
    )

    assert result.returncode == 4  # the broker cannot be used
    assert "TLS certificate is not trusted" in result.stderr
    assert "KINKYU_BROKER_CA" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_given_the_wrong_ca_stops_with_exit_4_and_says_why(tls_broker: EmbeddedBroker, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", name="not the broker's ca")
    pipeline = Pipeline(tls_broker, f"t{uuid.uuid4().hex[:8]}-", tmp_path, CONTRACTS)
    worker = pipeline.worker(**_tls_env(other), KINKYU_LOG_FORMAT="text").start()
    assert worker.proc is not None

    code = worker.proc.wait(timeout=WITHIN)

    log = worker.log_path.read_text()
    assert code == 4
    assert "TLS certificate is not trusted" in log
    assert "Traceback" not in log


def test_a_login_the_broker_refuses_over_sasl_ssl_is_named_without_a_traceback(pki: Pki, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(_event("u9999")) + b"\n")
    with _fronted(pki, tmp_path / "tansu.log", authentication=True) as broker:
        result = _kinkyu(
            "produce",
            "--topic",
            "access-log",
            str(events),
            env={
                "KINKYU_BROKER": broker.bootstrap,
                "KINKYU_BROKER_SECURITY": "SASL_SSL",
                "KINKYU_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
                "KINKYU_BROKER_USERNAME": "kinkyu",
                "KINKYU_BROKER_PASSWORD": "not-the-password",
                "KINKYU_BROKER_CA": str(pki.ca),
            },
        )

    assert result.returncode == 4
    assert "refused the login" in result.stderr
    assert "KINKYU_BROKER_PASSWORD" in result.stderr
    assert "not-the-password" not in result.stderr
    assert "Traceback" not in result.stderr


def test_the_tls_front_is_really_tls(tls_broker: EmbeddedBroker) -> None:
    """A plaintext client cannot use the TLS listener: the tests above do go through TLS."""
    result = asyncio.run(_plaintext_bootstrap(tls_broker.bootstrap))

    assert result is not None


async def _plaintext_bootstrap(bootstrap: str) -> str | None:
    connection = BrokerConnection(bootstrap)
    producer = connection.producer(request_timeout_ms=3_000)
    try:
        async with asyncio.timeout(20):
            await connection.start(producer, "a plaintext producer")
    except Exception as exc:  # noqa: BLE001  # any failure is the point
        return type(exc).__name__
    await producer.stop()
    return None
