"""Several workers share the playbook and notifier work: each runs the incidents of the partitions it owns.

Four partitions, workers with their own data folders (as on separate
machines). Breaches by unregistered accounts open one incident each; their
ids (content-derived, so the same every run) spread over the four
partitions of the stage topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from conftest import Pipeline, values

from kinkyu.streams.process import KinkyuProcess

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)  # a Friday, inside work hours
KOGANEI = "koganei-2026-017"
PARTITIONS = 4


def breaches(batch: int, n: int) -> list[bytes]:
    """``n`` reads by never-registered accounts, each its own incident (fixed ids: the same incidents every run).

    Five minutes apart, so that no more than a dozen are open at once (many
    unknown accounts at once fold into one incident).
    """
    out = []
    for i in range(n):
        ev: dict[str, Any] = {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kinkyu-scale-out/{batch}/{i}")),
            "ts": (T0 + timedelta(minutes=5 * (batch * n + i))).isoformat(),
            "contract_id": KOGANEI,
            "system": "juki-portal",
            "actor": {"id": f"x{batch}-{i:03d}", "org": "acme", "role": "operator"},
            "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
            "action": "read",
            "outcome": "success",
            "resource": {"dataset": "residents", "records": 2, "fields": ["name", "address"]},
        }
        out.append(orjson.dumps(ev))
    return out


def start(pipeline: Pipeline, name: str, store: str = "shared-store") -> KinkyuProcess:
    """A worker with a data folder (outbox) of its own, writing the incident store ``store``."""
    return pipeline.worker(
        KINKYU_PARTITIONS=str(PARTITIONS),
        KINKYU_DATA_DIR=str(pipeline.tmp / f"data-{name}"),
        KINKYU_STORE=str(pipeline.tmp / store),
    ).start()


def health(w: KinkyuProcess) -> dict[str, Any]:
    status, body = w.get("/health")
    assert status == 200
    data: dict[str, Any] = orjson.loads(body)
    return data


def effects(w: KinkyuProcess) -> float:
    """Playbook effects this worker sent on (``kinkyu_effects_total``, every kind)."""
    _, body = w.get("/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines() if line.startswith("kinkyu_effects_total{")
    )


async def until(what: str, check: Any, timeout: float = 60.0) -> None:
    """Poll ``check()`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"not seen within {timeout:.0f} s: {what}")


def owned(w: KinkyuProcess) -> set[int]:
    return set(health(w)["playbook_partitions"])


async def messages(pipeline: Pipeline, n: int) -> dict[str, set[str]]:
    """Incident id -> its messages' effect ids on ``notifications``, once ``n`` incidents have one."""

    def by_incident(records: list[Any]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for v in values(records):
            out.setdefault(v["incident_id"], set()).add(v["effect_id"])
        return out

    found = by_incident(
        await pipeline.read(pipeline.topics.notifications, lambda r: len(by_incident(r)) >= n, timeout=90)
    )
    assert len(found) == n, f"{len(found)} of {n} incidents had a message"
    return found


async def test_two_workers_share_the_playbooks_and_a_third_takes_a_share_when_it_joins(pipeline: Pipeline) -> None:
    a, b = start(pipeline, "a"), start(pipeline, "b")
    a.wait_healthy()
    b.wait_healthy()
    await until("both workers owning stage partitions", lambda: bool(owned(a)) and bool(owned(b)))
    assert owned(a) | owned(b) == set(range(PARTITIONS))
    assert not owned(a) & owned(b)

    await pipeline.produce(pipeline.topics.access_log, breaches(0, 24), key=KOGANEI.encode())
    await messages(pipeline, 24)
    await until("both workers sending effects", lambda: effects(a) > 0 and effects(b) > 0)

    c = start(pipeline, "c")
    c.wait_healthy()
    await until("the third worker owning a stage partition", lambda: bool(owned(c)))
    await until(
        "the three workers' partitions covering all, none twice",
        lambda: sorted([*owned(a), *owned(b), *owned(c)]) == list(range(PARTITIONS)),
    )
    await pipeline.produce(pipeline.topics.access_log, breaches(1, 24), key=KOGANEI.encode())
    await messages(pipeline, 48)
    await until("the third worker sending effects", lambda: effects(c) > 0)


async def test_a_worker_whose_store_is_not_the_shared_one_refuses_to_start(pipeline: Pipeline) -> None:
    a = start(pipeline, "a")
    a.wait_healthy()

    stray = start(pipeline, "b", store="data-b/store")
    assert stray.proc is not None
    assert stray.proc.wait(60) == 3
    log = stray.log_path.read_text()
    assert "share the store folder" in log
    assert "KINKYU_STORE" in log
