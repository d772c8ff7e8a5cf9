"""No single event stops detection, on a real broker and a real worker (issue #12, findings 1 and 2).

Each event here took a worker down before (it exited, and exited again on
every restart because its checkpoint stayed before the event): it must now be
one bounded dead letter, with the worker up and a breach sent after it found.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from conftest import Pipeline, values

from kinkyu.streams.codec import DEAD_LETTER_MAX_VALUE, DLQ_REASON, DLQ_SOURCE, DLQ_STAGE, DLQ_TRUNCATED

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)  # a Friday, inside work hours, in the past
KOGANEI = "koganei-2026-017"


def _access(actor: str, *, at: datetime, records: int = 2, contract: str = KOGANEI) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "ts": at.isoformat(),
        "contract_id": contract,
        "system": "juki-portal",
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": "read",
        "outcome": "success",
        "resource": {"dataset": "residents", "records": records, "fields": ["name", "address"]},
    }


async def _produce_large(pipeline: Pipeline, topic: str, values_: list[bytes]) -> None:
    # Up to the worker's own record limit: an attacker's producer is not bound by the 1 MiB default.
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.broker.bootstrap, acks=1, max_request_size=16 * 1024 * 1024)
    await producer.start()
    try:
        for v in values_:
            await producer.send(topic, v)
        await producer.flush()
    finally:
        await producer.stop()


def _opened_by(records: list[Any], actor: str) -> list[dict[str, Any]]:
    return [v for v in values(records) if v.get("change") == "opened" and v.get("actor") == actor]


async def test_an_event_with_2_to_the_64_records_is_a_dead_letter_and_a_breach_after_it_is_found(
    pipeline: Pipeline,
) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    # orjson cannot even write it: this is what an attacker's own JSON writer sends.
    huge = json.dumps(_access("u7777", at=T0, records=2**64)).encode()
    breach = orjson.dumps(_access("u9999", at=T0 + timedelta(minutes=5)))
    await pipeline.produce(pipeline.topics.access_log, [huge, breach])

    incidents = await pipeline.read(pipeline.topics.incidents, lambda r: bool(_opened_by(r, "u9999")), timeout=60)
    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 1)

    assert _opened_by(incidents, "u9999"), "the breach sent after the event was found"
    assert not _opened_by(incidents, "u7777"), "the event's own outputs were not sent"
    assert [d.value for d in dead] == [huge]
    # The wire edge refuses such a count now; the stage holds even when something lets one through (unit tier).
    assert dict(dead[0].headers)[DLQ_REASON] in {b"encode-error", b"out-of-range", b"invalid"}
    assert dict(dead[0].headers)[DLQ_SOURCE] == f"{pipeline.topics.access_log}/0/0".encode()
    assert w.proc is not None
    assert w.proc.poll() is None, "the worker is still running"
    assert w.get("/health")[0] == 200


async def test_an_8_5_mb_event_of_an_unknown_contract_is_a_bounded_dead_letter_and_the_worker_goes_on(
    pipeline: Pipeline,
) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    contract = "佐藤次郎" * 700_000  # 8.4 MB of UTF-8, repeated by the old dead letter's detail header
    big = orjson.dumps(_access("u1042", at=T0, contract=contract))
    assert len(big) > 8_000_000
    breach = orjson.dumps(_access("u9999", at=T0 + timedelta(minutes=5)))
    await _produce_large(pipeline, pipeline.topics.access_log, [big, breach])

    incidents = await pipeline.read(pipeline.topics.incidents, lambda r: bool(_opened_by(r, "u9999")), timeout=60)
    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 1)

    assert _opened_by(incidents, "u9999"), "the breach sent after the event was found"
    [letter] = dead
    headers = dict(letter.headers)
    assert letter.value == big[:DEAD_LETTER_MAX_VALUE]
    assert headers[DLQ_TRUNCATED] == str(len(big)).encode()
    assert headers[DLQ_REASON] in {b"unknown-contract", b"invalid", b"out-of-range"}
    assert all("佐藤次郎".encode() not in v for k, v in headers.items()), "headers name fields, never values"
    assert len(letter.value) + sum(len(v) for v in headers.values()) < 1_000_000
    assert w.proc is not None
    assert w.proc.poll() is None, "the worker is still running"


async def test_a_record_the_stages_cannot_use_is_set_aside_by_each_and_the_next_incident_is_handled(
    pipeline: Pipeline,
) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.incidents, [b"\xff not json"], key=b"INC-x")
    await pipeline.produce(pipeline.topics.notifications, [b'{"effect": "notify"}'], key=b"INC-y")
    await pipeline.produce(pipeline.topics.access_log, [orjson.dumps(_access("u9999", at=T0))])

    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 3, timeout=60)
    state = await pipeline.read(pipeline.topics.incident_state, lambda r: len(r) >= 1, timeout=60)

    stages = sorted((dict(d.headers)[DLQ_STAGE], dict(d.headers)[DLQ_REASON], d.key) for d in dead)
    assert stages == [
        (b"incident-feed", b"bad-json", b"INC-x"),
        (b"notifier", b"invalid", b"INC-y"),
        (b"playbook", b"bad-json", b"INC-x"),
    ]
    sources = {dict(d.headers)[DLQ_STAGE]: dict(d.headers)[DLQ_SOURCE] for d in dead}
    assert sources[b"notifier"] == f"{pipeline.topics.notifications}/0/0".encode()
    assert values(state)[0]["incident"]["actor"] == "u9999", "the playbook went on to the next incident"
    _, metrics = w.get("/metrics")
    assert 'kinkyu_records_set_aside_total{reason="bad-json",stage="playbook"} 1.0' in metrics.decode()
    assert w.proc is not None
    assert w.proc.poll() is None
