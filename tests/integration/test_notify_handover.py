"""A worker whose mail cannot leave dies for good: the survivor sends what it had queued, once, and runs its chains on.

Two workers share the broker (4 partitions) and the ledger; each has its own
data folder and outbox, as on two machines. The victim's SMTP server never
answers, so every first report of its partitions waits in its outbox; the
survivor's reaches the test's SMTP server. An acknowledgement link of one of
the survivor's reports is opened on the *victim's* endpoint, which hands it to
the survivor. Then the victim is SIGKILLed and never restarted: its
partitions, its chains (``kinkyu-chains``) and the messages it had queued
become the survivor's.

The test waits for observable ends (messages on the server, records on the
timeline), never a fixed time.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Pipeline, contracts_reporting_at_once, loss_filing, values

from kinkyu.bus.clients import partition_for
from kinkyu.notifiers.smtp_sink import SmtpSink
from kinkyu.streams.broker import free_port
from kinkyu.streams.process import KinkyuProcess

pytestmark = pytest.mark.integration

DOMAIN = "kinkyu.test"
PARTITIONS = 4
FILINGS_PER_CONTRACT = 2
ACK_TIMEOUT = "15s"  # long enough to open a link before the chain moves on, short enough for a test
_TOKEN = re.compile(r"/ack/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


def env(smtp_port: int) -> dict[str, str]:
    return {
        "KINKYU_PARTITIONS": str(PARTITIONS),
        "KINKYU_SMTP_HOST": "127.0.0.1",
        "KINKYU_SMTP_PORT": str(smtp_port),
        "KINKYU_SMTP_SECURITY": "none",
        "KINKYU_SMTP_TIMEOUT": "2",
        "KINKYU_SMTP_FROM_ADDRESS": f"Kinkyu <kinkyu@{DOMAIN}>",
        # One secret for the deployment: a link made by one worker is verified by the other's endpoint.
        "KINKYU_NOTIFY_ACK_SECRET": "handover-test-ack-secret-0123456789",
        "KINKYU_TICK_INTERVAL": "0.5",
        "KINKYU_LATENESS": "1",
        # The victim's refused attempts leave intents behind; the survivor sends those after this.
        "KINKYU_NOTIFY_LEDGER_LEASE": "5",
    }


def partition_of(incident_id: str) -> int:
    return partition_for(incident_id, PARTITIONS)


def parsed(raw: bytes) -> EmailMessage:
    m = message_from_bytes(raw, policy=policy.default)
    assert isinstance(m, EmailMessage)
    return m


async def until(ok: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"{what()} not within {timeout}s")
        await asyncio.sleep(0.1)


async def health(w: KinkyuProcess) -> dict[str, Any]:
    status, body = await asyncio.to_thread(w.get, "/health")
    return orjson.loads(body) if status == 200 else {}


async def queued(w: KinkyuProcess) -> float:
    status, body = await asyncio.to_thread(w.get, "/metrics")
    assert status == 200
    return sum(
        float(line.split()[-1]) for line in body.decode().splitlines() if line.startswith("kinkyu_messages_queued")
    )


def post(url: str) -> int:
    request = urllib.request.Request(url, data=b"", method="POST")  # loopback, the test's own
    with urllib.request.urlopen(request, timeout=10) as resp:  # loopback, the test's own
        return int(resp.status)


async def test_a_dead_workers_queued_mail_and_chains_go_on_from_the_survivor_and_any_endpoint_stops_a_chain(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    profiles = contracts_reporting_at_once(pipeline, tmp_path, ack_timeout=ACK_TIMEOUT)
    sink = SmtpSink(folder=tmp_path / "mail")
    await sink.start()
    nowhere = free_port()  # nothing listens: the victim's mail cannot leave
    try:
        survivor, victim = (
            pipeline.worker(
                **env(port), KINKYU_DATA_DIR=str(tmp_path / f"machine-{n}"), KINKYU_STORE=str(tmp_path / "store")
            ).start()
            for n, port in enumerate((sink.port, nowhere))
        )
        await asyncio.gather(*(asyncio.to_thread(w.wait_healthy) for w in (survivor, victim)))
        shares: dict[str, set[int]] = {}

        async def split() -> bool:
            for name, w in (("survivor", survivor), ("victim", victim)):
                shares[name] = set((await health(w)).get("playbook_partitions") or ())
            return all(shares.values()) and len(shares["survivor"] | shares["victim"]) == PARTITIONS

        deadline = time.monotonic() + 60
        while not await split():
            assert time.monotonic() < deadline, f"the partitions were never split between the two: {shares}"
            await asyncio.sleep(0.2)

        for profile in profiles.values():
            body = [orjson.dumps(loss_filing(profile)) for _ in range(FILINGS_PER_CONTRACT)]
            await pipeline.produce(pipeline.topics.incident_events, body, profile["contract_id"].encode())
        expected = FILINGS_PER_CONTRACT * len(profiles)
        records = await pipeline.read(
            pipeline.topics.incidents,
            lambda r: sum(1 for v in values(r) if v.get("change") == "opened") >= expected,
            timeout=60,
        )
        contract_of = {v["incident_id"]: v["contract_id"] for v in values(records) if v.get("change") == "opened"}
        victims = {i for i in contract_of if partition_of(i) in shares["victim"]}
        mine = set(contract_of) - victims
        assert victims, "some incidents are the victim's"
        assert mine, "some incidents are the survivor's"

        def mail() -> list[EmailMessage]:
            return [parsed(m.raw) for m in sink.messages]

        def first_contact(incident_id: str) -> str:
            return str(profiles[contract_of[incident_id]]["city"]["contacts"][0]["email"])

        def reports() -> dict[str, EmailMessage]:
            """Each incident's first report to its city's first contact (the chain's first stage)."""
            return {
                m["X-Kinkyu-Incident"]: m
                for m in mail()
                if m["X-Kinkyu-Kind"] == "first_report"
                and m["To"].addresses[0].addr_spec == first_contact(m["X-Kinkyu-Incident"])
            }

        def escalated() -> set[str]:
            """Incidents whose first report's chain went on to another contact."""
            return {
                m["X-Kinkyu-Incident"]
                for m in mail()
                if m["X-Kinkyu-Kind"] == "first_report"
                and m["To"].addresses[0].addr_spec != first_contact(m["X-Kinkyu-Incident"])
            }

        # The survivor reports its own; the victim's wait in its outbox (its server never answers).
        await until(lambda: mine <= set(reports()), 60, lambda: "the survivor's first reports")
        await until_queued(victim, len(victims))
        assert not victims & set(reports()), "nothing of the victim's left its machine"

        # A link in one of the survivor's reports, opened on the victim's endpoint: the survivor's chain stops.
        acked = min(mine)
        token = _TOKEN.search(reports()[acked].get_body(("plain",)).get_content())  # type: ignore[union-attr]
        assert token is not None, "the report carries an acknowledgement link"
        victim_port = victim.env["KINKYU_NOTIFY_ACK_PORT"]
        assert await asyncio.to_thread(post, f"http://127.0.0.1:{victim_port}/ack/{token.group(1)}") == 200
        await pipeline.read(
            pipeline.topics.incidents,
            lambda r: any(stopped(v, acked) for v in values(r)),
            timeout=30,
        )

        victim.kill()  # and never started again

        await until(
            lambda: set(contract_of) <= set(reports()),
            90,
            lambda: f"first reports of {sorted(set(contract_of) - set(reports()))}",
        )
        await until(
            lambda: set(contract_of) - {acked} <= escalated(),
            90,
            lambda: f"escalations of {sorted(set(contract_of) - {acked} - escalated())}",
        )
        received = mail()
    finally:
        await sink.stop()

    copies = Counter(m["Message-ID"] for m in received)
    assert [mid for mid, n in copies.items() if n > 1] == [], "no message arrived twice"
    for incident_id, report in reports().items():
        assert report["X-Kinkyu-Contract"] == contract_of[incident_id], "to its own city, about its own contract"
    assert acked not in escalated(), "the acknowledged chain told nobody else, though every other chain went on"


def stopped(value: dict[str, Any], incident_id: str) -> bool:
    entry = value.get("entry") or {}
    data = entry.get("data") or {}
    return (
        value.get("incident_id") == incident_id
        and entry.get("kind") == "message_acknowledged"
        and data.get("chain_stopped") is True
    )


async def until_queued(w: KinkyuProcess, count: int) -> None:
    deadline = time.monotonic() + 60
    while await queued(w) < count:
        assert time.monotonic() < deadline, f"the victim never queued its {count} first reports"
        await asyncio.sleep(0.2)
