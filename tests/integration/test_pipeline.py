"""The pipeline end to end on a real broker, as ``kinkyu worker`` runs it."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from conftest import Pipeline, values

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.engine import Engine
from kinkyu.core.wire import access_from_obj
from kinkyu.replay import replay
from kinkyu.streams.process import KinkyuProcess

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)  # a Friday, inside work hours
KOGANEI = "koganei-2026-017"


def access(
    actor: str = "u1042",
    *,
    at: datetime = T0,
    action: str = "read",
    records: int = 2,
    contract: str = KOGANEI,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An access event that breaks nothing unless told to (registered actor, site network, work hours)."""
    ev: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "ts": at.isoformat(),
        "contract_id": contract,
        "system": "juki-portal",
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": action,
        "outcome": "success",
    }
    if action != "heartbeat":
        ev["resource"] = {"dataset": "residents", "records": records, "fields": ["name", "address"]}
    return ev


def enc(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def opened(records: list[Any]) -> list[dict[str, Any]]:
    return [v for v in values(records) if v.get("change") == "opened"]


async def test_unregistered_actor_opens_an_incident_and_a_finding(pipeline: Pipeline) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.access_log, enc([access("u1042"), access("u9999", records=7)]))

    incidents = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1))
    findings = values(await pipeline.read(pipeline.topics.findings, lambda r: len(r) >= 1))

    assert [i["rules"] for i in incidents] == [["unregistered-actor"]]
    assert incidents[0]["actor"] == "u9999"
    assert re.fullmatch(r"INC-20261120-D[A-Z2-7]{7}", incidents[0]["incident_id"])
    assert incidents[0]["finding_count"] == 1
    assert findings[0]["rule"] == "unregistered-actor"
    assert findings[0]["clauses"], "a finding cites its jurisdiction's clauses"


async def test_malformed_event_goes_to_dead_letters_with_its_bytes_and_the_worker_goes_on(
    pipeline: Pipeline,
) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    bad = b'{"event_id": "x1", "ts": "yesterday"'
    missing = orjson.dumps({k: v for k, v in access().items() if k != "contract_id"})
    unknown = orjson.dumps(access(contract="nowhere-2026-001"))
    await pipeline.produce(pipeline.topics.access_log, [bad, missing, unknown, *enc([access("u9999")])])

    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 3)
    incidents = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1))

    assert [d.value for d in dead] == [bad, missing, unknown]
    reasons = [dict(d.headers)["kinkyu-reason"] for d in dead]
    assert reasons == [b"bad-json", b"invalid", b"unknown-contract"]
    assert b"contract_id" in dict(dead[1].headers)["kinkyu-detail"]
    assert len(incidents) == 1, "the valid event after the bad ones was processed"
    assert w.proc is not None
    assert w.proc.poll() is None


async def test_a_redelivered_event_changes_nothing(pipeline: Pipeline) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    event = enc([access("u9999", event_id="dup-1")])[0]
    await pipeline.produce(pipeline.topics.access_log, [event, event, *enc([access("u8888")])])

    incidents = await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 2, settle=1.0)
    findings = await pipeline.read(pipeline.topics.findings, lambda r: len(r) >= 2, settle=0.5)

    assert sorted(i["actor"] for i in opened(incidents)) == ["u8888", "u9999"]
    assert len(findings) == 2


async def test_filed_incident_opens_one_and_a_follow_up_lands_on_it(pipeline: Pipeline) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    filed = {
        "event_id": "filed-1",
        "ts": "2026-11-21T10:02:00+09:00",
        "contract_id": KOGANEI,
        "kind": "misdelivery",
        "incident_id": None,
        "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
        "summary": "notice mailed to the wrong address",
        "occurred_at": "2026-11-20T16:00:00+09:00",
        "discovered_at": "2026-11-21T09:40:00+09:00",
        "location": "print centre",
        "records_affected": 3,
        "data_items": ["name", "address"],
        "details": "free text",
    }
    await pipeline.produce(pipeline.topics.incident_events, [orjson.dumps(filed)])
    first = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1))
    incident_id = first[0]["incident_id"]
    ack = {
        "event_id": "ack-1",
        "ts": "2026-11-21T10:30:00+09:00",
        "contract_id": KOGANEI,
        "kind": "acknowledgement",
        "incident_id": incident_id,
        "reported_by": {"id": "tanto-a", "org": "koganei", "role": "担当"},
    }
    await pipeline.produce(pipeline.topics.incident_events, [orjson.dumps(ack)])

    def acknowledged(records: list[Any]) -> bool:
        # The notifier's delivery results are follow-ups on the same topic: wait for the city's, not any.
        return any(v.get("change") == "event" and v["entry"]["kind"] == "acknowledgement" for v in values(records))

    records = values(await pipeline.read(pipeline.topics.incidents, acknowledged))

    assert first[0]["origin"] == "filed"
    assert first[0]["kind"] == "misdelivery"
    assert first[0]["records"] == 3
    assert re.fullmatch(r"INC-20261121-F[A-Z2-7]{7}", incident_id)
    event = next(v for v in records if v.get("change") == "event" and v["entry"]["kind"] == "acknowledgement")
    assert event["incident_id"] == incident_id


async def test_a_follow_up_read_before_its_detection_joins_it_when_the_access_log_catches_up(
    pipeline: Pipeline,
) -> None:
    # The two topics are read in no fixed order (a restarted worker may re-read the access log behind
    # incident-events): a follow-up that comes first waits for its incident instead of being refused.
    intrusion = access("u9999", event_id="intrusion-1")
    engine = Engine(compile_profiles(load_profiles([pipeline.contracts])))
    [incident_id] = engine.on_access(access_from_obj(intrusion)).opened  # content-derived: any engine agrees
    ack = {
        "event_id": "ack-early",
        "ts": (T0 + timedelta(minutes=10)).isoformat(),
        "contract_id": KOGANEI,
        "kind": "acknowledgement",
        "incident_id": incident_id,
        "reported_by": {"id": "tanto-a", "org": "koganei", "role": "担当"},
    }
    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.incident_events, [orjson.dumps(ack)])
    await _wait_for_metric(w, f'kinkyu_events_in_total{{topic="{pipeline.topics.incident_events}"}} 1.0')

    await pipeline.produce(pipeline.topics.access_log, enc([intrusion]))
    records = values(
        await pipeline.read(pipeline.topics.incidents, lambda r: any(v.get("change") == "event" for v in values(r)))
    )

    assert [v["incident_id"] for v in records if v.get("change") == "opened"] == [incident_id]
    [event] = [v for v in records if v.get("change") == "event"]
    assert (event["incident_id"], event["entry"]["data"]["event_id"]) == (incident_id, "ack-early")


async def test_health_and_metrics_say_what_the_worker_is_doing(pipeline: Pipeline) -> None:
    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.access_log, enc([access("u9999"), access()]))
    await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1)

    status, body = w.get("/health")
    _, metrics = w.get("/metrics")

    assert status == 200
    assert orjson.loads(body)["status"] == "ok"
    text = metrics.decode()
    assert 'kinkyu_events_in_total{topic="' in text
    assert 'kinkyu_findings_total{rule="unregistered-actor"} 1.0' in text
    assert 'kinkyu_incidents_opened_total{origin="detection"} 1.0' in text
    assert "kinkyu_incidents_open " in text


async def test_an_edited_contract_is_picked_up_without_a_restart(pipeline: Pipeline, tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    shutil.copytree(pipeline.contracts, folder)
    pipeline.contracts = folder
    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.access_log, enc([access("u7777")]))
    await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1)

    profile_path = folder / f"{KOGANEI}.yaml"
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    profile["staff"].append({"id": "u7777", "name": "従事者 F", "role": "作業従事者"})
    profile_path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    later = T0 + timedelta(hours=3)
    # Wait for the reload to be applied before sending the next events.
    await _wait_for_metric(w, 'kinkyu_contract_reloads_total{result="ok"} 1.0')
    await pipeline.produce(pipeline.topics.access_log, enc([access("u7777", at=later), access("u6666", at=later)]))

    incidents = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 2, settle=1.0))

    assert [i["actor"] for i in incidents] == ["u7777", "u6666"], "u7777 is now registered staff"
    status, _ = w.get("/health")
    assert status == 200


async def _wait_for_metric(w: KinkyuProcess, line: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = w.get("/metrics")
        if line in body.decode():
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"metric never showed {line!r}")


async def test_sigkill_mid_stream_loses_no_event_and_duplicates_no_incident(pipeline: Pipeline) -> None:
    # 60 intruders, each once, spread through a long benign stream: 60 incidents expected, no more.
    # One every 5 minutes of event time: 13 open at once, under the 25 accounts past which further
    # accounts fold into one incident (issue #12), so each intruder has an incident of its own.
    events: list[dict[str, Any]] = []
    intruders = [f"x{i:03d}" for i in range(60)]
    for i in range(60_000):
        at = T0 + timedelta(seconds=i * 0.3)
        events.append(access("u1042" if i % 2 else "u1001", at=at))
        if i % 1000 == 500:
            events.append(access(intruders[i // 1000], at=at))
    archive = pipeline.tmp / "archive.jsonl"
    archive.write_bytes(b"\n".join(enc(events)) + b"\n")
    offline = replay(compile_profiles(load_profiles([pipeline.contracts])), [archive])

    w = pipeline.worker(KINKYU_CHECKPOINT_INTERVAL="0.5").start()
    w.wait_healthy()
    payloads = enc(events)

    async def trickle() -> None:
        # The stream keeps flowing while the worker dies and comes back, as a log shipper's would.
        for start in range(0, len(payloads), 1000):
            await pipeline.produce(pipeline.topics.access_log, payloads[start : start + 1000])
            await asyncio.sleep(0.15)

    feeding = asyncio.create_task(trickle())
    await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 5, timeout=60)
    w.kill()
    seen_before = len(opened(await pipeline.read(pipeline.topics.incidents, lambda r: True)))

    w2 = pipeline.worker().start()
    await asyncio.to_thread(w2.wait_healthy)  # not on the loop: the trickle goes on while it starts
    await feeding
    records = await pipeline.read(
        pipeline.topics.incidents, lambda r: len({v["incident_id"] for v in opened(r)}) >= 60, timeout=90, settle=2.0
    )

    ids_by_actor: dict[str, set[str]] = {}
    for v in opened(records):
        ids_by_actor.setdefault(v["actor"], set()).add(v["incident_id"])
    assert seen_before < 60, "the worker was killed mid-stream"
    assert sorted(ids_by_actor) == intruders, "no intruder was lost"
    assert all(len(ids) == 1 for ids in ids_by_actor.values()), "no incident was opened twice under two ids"
    assert len({i for ids in ids_by_actor.values() for i in ids}) == 60
    same_as_replay = {inc.actor: {inc.incident_id} for inc in offline.incidents.values()}
    assert ids_by_actor == same_as_replay, "live after a crash and offline replay agree on every id"


def _fast_contracts(pipeline: Pipeline, tmp_path: Path, **thresholds: Any) -> None:
    """A copy of the sample contracts with Koganei's thresholds changed, used by the worker."""
    folder = tmp_path / "contracts"
    shutil.copytree(pipeline.contracts, folder)
    path = folder / f"{KOGANEI}.yaml"
    profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile["thresholds"].update(thresholds)
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    pipeline.contracts = folder


async def test_a_silent_system_is_reported_by_the_timer_without_any_further_event(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    _fast_contracts(pipeline, tmp_path, heartbeat_gap="3s")
    w = pipeline.worker(KINKYU_TICK_INTERVAL="0.5", KINKYU_INGEST_DELAY="0").start()
    w.wait_healthy()
    beats = [access(at=T0 + timedelta(seconds=i), action="heartbeat") for i in range(3)]
    await pipeline.produce(pipeline.topics.access_log, enc(beats))

    incidents = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1, timeout=30))

    assert incidents[0]["rules"] == ["system-outage"]
    assert incidents[0]["system"] == "juki-portal"
    assert incidents[0]["event_ids"] == [beats[-1]["event_id"]]


async def test_a_restarted_worker_resumes_a_half_filled_window(pipeline: Pipeline, tmp_path: Path) -> None:
    def failed(i: int) -> dict[str, Any]:
        return access("u1042", at=T0 + timedelta(seconds=30 * i), action="login_failed") | {"outcome": "failure"}

    w = pipeline.worker().start()
    w.wait_healthy()
    await pipeline.produce(pipeline.topics.access_log, enc([failed(i) for i in range(3)]))
    await _wait_for_metric(w, f'kinkyu_events_in_total{{topic="{pipeline.topics.access_log}"}} 3.0')
    assert w.stop() == 0

    w2 = pipeline.worker().start()
    w2.wait_healthy()
    await pipeline.produce(pipeline.topics.access_log, enc([failed(i) for i in range(3, 5)]))

    incidents = opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(opened(r)) >= 1, timeout=30))

    assert incidents[0]["rules"] == ["credential-attack"]
    assert incidents[0]["event_count"] == 5, "the three failures before the restart still count"
