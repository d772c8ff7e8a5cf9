"""Issue #12, findings 3 and 4 on a real broker: an event's own time cannot blind the worker or overflow a deadline.

Events here are dated by the wall clock (the worker judges "the future"
by its own): a credential attack happening now, beside events dated far
ahead. Both contracts are on the one partition (KINKYU_PARTITIONS=1).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from conftest import Pipeline, values

pytestmark = pytest.mark.integration

KOGANEI = "koganei-2026-017"
CHIBA = "chiba-2026-021"
SITES = {KOGANEI: ("10.20.3.4", "koganei-hq-3f"), CHIBA: ("10.40.3.4", "chiba-dc-2f")}
FAR_FUTURE = "9999-12-31T23:59:59+09:00"


def _event(contract: str, action: str, at: str, *, actor: str = "u1042", **fields: Any) -> bytes:
    ip, site = SITES[contract]
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "ts": at,
        "contract_id": contract,
        "system": "juki-portal",
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": ip, "host": "pc-17", "site": site},
        "action": action,
        "outcome": "failure" if action == "login_failed" else "success",
        **fields,
    }
    return orjson.dumps(event)


def _attack_now(contract: str = KOGANEI) -> list[bytes]:
    """Five failed logins of one account in the last five minutes: the sample contracts' threshold."""
    now = datetime.now(UTC)
    return [_event(contract, "login_failed", (now - timedelta(minutes=5 - i)).isoformat()) for i in range(5)]


def _opened(records: list[Any]) -> list[dict[str, Any]]:
    return [v for v in values(records) if v.get("change") == "opened"]


def _has_rule(rule: str) -> Any:
    return lambda records: any(rule in i["rules"] for i in _opened(records))


async def test_a_heartbeat_dated_9999_on_one_contract_leaves_a_real_time_attack_on_another_detected(
    pipeline: Pipeline,
) -> None:
    # Before per-contract clocks and the wire bounds, the heartbeat moved the partition's one clock to
    # 9999: every later failed login fell outside the windows and the attack opened nothing.
    w = pipeline.worker().start()
    w.wait_healthy()
    beat = _event(CHIBA, "heartbeat", FAR_FUTURE, actor="svc-juki-portal")
    await pipeline.produce(pipeline.topics.access_log, [beat, *_attack_now(KOGANEI)])

    incidents = _opened(await pipeline.read(pipeline.topics.incidents, _has_rule("credential-attack"), timeout=60))
    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 1)

    attacks = [i for i in incidents if "credential-attack" in i["rules"]]
    assert [(i["contract_id"], i["actor"]) for i in attacks] == [(KOGANEI, "u1042")]
    assert [(d.value, dict(d.headers)["kinkyu-reason"]) for d in dead] == [(beat, b"future-timestamp")]


async def test_an_event_ahead_within_the_allowed_skew_on_one_contract_does_not_blind_another(
    pipeline: Pipeline,
) -> None:
    # A day of allowed skew lets a Chiba event twelve hours ahead through: it moves Chiba's clock only.
    w = pipeline.worker(KINKYU_MAX_CLOCK_SKEW="86400").start()
    w.wait_healthy()
    ahead = (datetime.now(UTC) + timedelta(hours=12)).isoformat()
    await pipeline.produce(
        pipeline.topics.access_log, [_event(CHIBA, "heartbeat", ahead, actor="svc-juki-portal"), *_attack_now(KOGANEI)]
    )

    incidents = _opened(await pipeline.read(pipeline.topics.incidents, _has_rule("credential-attack"), timeout=60))

    assert [i["contract_id"] for i in incidents if "credential-attack" in i["rules"]] == [KOGANEI]


async def test_a_breach_dated_9999_is_a_dead_letter_and_opens_nothing(pipeline: Pipeline) -> None:
    # Before the bounds it opened an incident whose playbook overflowed computing a deadline.
    w = pipeline.worker().start()
    w.wait_healthy()
    resource = {"resource": {"dataset": "residents", "records": 5, "fields": ["name"]}}
    breach = _event(KOGANEI, "read", FAR_FUTURE, actor="u9998", **resource)
    after = _event(KOGANEI, "read", datetime.now(UTC).isoformat(), actor="u9999", **resource)
    await pipeline.produce(pipeline.topics.access_log, [breach, after])

    # The second event's incident shows the first was dealt with (one partition, in order).
    incidents = _opened(await pipeline.read(pipeline.topics.incidents, lambda r: len(_opened(r)) >= 1))
    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= 1)

    assert [i["actor"] for i in incidents] == ["u9999"]
    assert [(d.value, dict(d.headers)["kinkyu-reason"]) for d in dead] == [(breach, b"future-timestamp")]
    assert b"9999" not in dict(dead[0].headers)["kinkyu-detail"]
