"""The notifier in the live worker: a real broker, a real ``kinkyu worker``, a real SMTP server, real HTTP.

The SMTP server is :class:`notifiers.smtp_sink.SmtpSink` (aiosmtpd) on a free
loopback port in the test's own event loop, so the test can stop and start
it to make an outage. Contracts are copies of the samples without work hours,
reporting ``unregistered-actor`` at once (no triage step) and with a short
``ack_timeout`` where the test needs escalation within its run.

Koganei's profile lists two city contacts (担当 ``city:0``, then
個人情報保護責任者 ``city:1``) and one contractor contact (作業責任者
``contractor:0``). A detection reported at once sends the first report to
``city:0`` and two task notices (recovery, recurrence prevention) to
``contractor:0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import Pipeline, contracts_reporting_at_once, values

from kinkyu.notifiers.smtp_sink import ReceivedMessage, SmtpSink
from kinkyu.streams.broker import free_port
from kinkyu.streams.process import KinkyuProcess

pytestmark = pytest.mark.integration

KOGANEI = "koganei-2026-017"
CHIBA = "chiba-2026-021"
INTRUDER = "x7777"
SECRET = "live-notifier-test-ack-secret-0123456789"
ACK_LINK = re.compile(r"http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9_.-]+")


# -- the world ----------------------------------------------------------------------------------------


def address(profile: dict[str, Any], ref: str) -> str:
    side, index = ref.split(":")
    contacts = profile["city"]["contacts"] if side == "city" else profile["contractor_contacts"]
    return str(contacts[int(index)]["email"])


def intrusion(profile: dict[str, Any]) -> dict[str, Any]:
    """A read by an account nobody registered, from the contract's own site, now."""
    site = profile["sites"][0]
    ip = site["networks"][0].split("/")[0].rsplit(".", 2)[0] + ".3.4"
    return {
        "event_id": str(uuid.uuid4()),
        "ts": datetime.now(UTC).isoformat(),
        "contract_id": profile["contract_id"],
        "system": "juki-portal",
        "actor": {"id": INTRUDER, "org": "acme", "role": "operator"},
        "source": {"ip": ip, "host": "pc-17", "site": site["id"]},
        "action": "read",
        "resource": {"dataset": "residents", "records": 2, "fields": ["name", "address"]},
        "outcome": "success",
    }


def notifier_env(smtp_port: int, ack_port: int, **extra: str) -> dict[str, str]:
    return {
        "KINKYU_SMTP_HOST": "127.0.0.1",
        "KINKYU_SMTP_PORT": str(smtp_port),
        "KINKYU_SMTP_SECURITY": "none",
        "KINKYU_SMTP_TIMEOUT": "5",
        "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <kinkyu@kinkyu.test>",
        "KINKYU_NOTIFY_ACK_PORT": str(ack_port),
        "KINKYU_NOTIFY_ACK_SECRET": SECRET,
        "KINKYU_TICK_INTERVAL": "0.5",
        "KINKYU_LATENESS": "1",
        **extra,
    }


# -- reading what arrived ------------------------------------------------------------------------------


def parsed(msg: ReceivedMessage) -> EmailMessage:
    m = message_from_bytes(msg.raw, policy=policy.default)
    assert isinstance(m, EmailMessage)
    return m


def plain(msg: ReceivedMessage) -> str:
    body = parsed(msg).get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def to(msg: ReceivedMessage) -> str:
    return ",".join(msg.recipients)


async def mail_to(sink: SmtpSink, recipient: str, what: str, timeout: float = 30.0) -> ReceivedMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in sink.messages if to(m) == recipient]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    got = [(to(m), parsed(m)["Subject"]) for m in sink.messages]
    pytest.fail(f"no mail to {recipient} ({what}) within {timeout}s; got {got}")


async def mails(sink: SmtpSink, n: int, timeout: float) -> list[ReceivedMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len({m.message_id for m in sink.messages}) >= n:
            break
        await asyncio.sleep(0.1)
    return list(sink.messages)


async def metric(w: KinkyuProcess, line: str) -> float:
    status, body = await asyncio.to_thread(w.get, "/metrics")
    assert status == 200
    for text in body.decode().splitlines():
        if text.startswith(line + " "):
            return float(text.split()[1])
    return 0.0


async def wait_metric(
    w: KinkyuProcess, line: str, value: float, timeout: float = 30.0, *, at_most: bool = False
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = await metric(w, line)
        if (now <= value) if at_most else (now >= value):
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"{line} never reached {value} within {timeout}s (now {await metric(w, line)})")


async def opened_incident(pipeline: Pipeline, contract_id: str) -> str:
    def hits(records: list[Any]) -> list[dict[str, Any]]:
        return [
            v
            for v in values(records)
            if v.get("change") == "opened" and v["actor"] == INTRUDER and v["contract_id"] == contract_id
        ]

    found = hits(await pipeline.read(pipeline.topics.incidents, lambda r: bool(hits(r)), timeout=30))
    assert found, "the incident never opened"
    return str(found[0]["incident_id"])


def latest(records: list[Any], incident_id: str) -> dict[str, Any] | None:
    mine = [v for v in values(records) if v["incident_id"] == incident_id]
    return max(mine, key=lambda v: v["version"]) if mine else None


async def run_state(pipeline: Pipeline, incident_id: str, ok: Any, what: str, timeout: float = 20.0) -> dict[str, Any]:
    def done(records: list[Any]) -> bool:
        state = latest(records, incident_id)
        return state is not None and bool(ok(state))

    state = latest(await pipeline.read(pipeline.topics.incident_state, done, timeout=timeout), incident_id)
    assert state is not None
    assert ok(state), f"incident-state of {incident_id} never showed {what}: {timeline(state)}"
    return state


def timeline(state: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["who"], e["kind"], e["what"]) for e in state["run"]["timeline"]]


def step(state: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in state["run"]["steps"] if s["step_id"] == step_id)


def notifier_results(state: dict[str, Any], result: str) -> list[dict[str, Any]]:
    """The run's timeline entries recording a notifier result (``message_sent`` …), as the run logged them."""
    return [e for e in state["run"]["timeline"] if e["kind"] == "update" and e["what"].endswith(f"({result})")]


# -- the tests -----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def breach_reported_at_once(
    pipeline: Pipeline, tmp_path: Path, *, ack_timeout: str
) -> AsyncIterator[tuple[SmtpSink, KinkyuProcess, dict[str, Any], str]]:
    """A worker mailing a real SMTP server, and an intrusion on Koganei's contract (reported at once) opened.

    Yields the SMTP server, the worker, Koganei's profile and the incident id.
    """
    profiles = contracts_reporting_at_once(pipeline, tmp_path, ack_timeout=ack_timeout)
    koganei = profiles[KOGANEI]
    sink = SmtpSink(folder=tmp_path / "mail")
    await sink.start()
    try:
        w = pipeline.worker(**notifier_env(sink.port, free_port())).start()
        await asyncio.to_thread(w.wait_healthy)
        await pipeline.produce(pipeline.topics.access_log, [orjson.dumps(intrusion(koganei))], key=KOGANEI.encode())
        yield sink, w, koganei, await opened_incident(pipeline, KOGANEI)
    finally:
        await sink.stop()


async def test_a_report_is_mailed_at_once_escalated_when_unacknowledged_and_stopped_by_the_ack_link(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    ack_timeout = 6.0
    async with breach_reported_at_once(pipeline, tmp_path, ack_timeout=f"{ack_timeout:.0f}s") as (
        sink,
        w,
        koganei,
        incident_id,
    ):
        # (a) The first report goes to the city's first contact at once, in Japanese, without personal data.
        first = await mail_to(sink, address(koganei, "city:0"), "the first report")
        first_at = time.monotonic()
        m = parsed(first)
        assert "第一報" in m["Subject"]
        assert m["X-Kinkyu-Contract"] == KOGANEI
        assert m["Content-Language"] == "ja"
        assert m["X-Kinkyu-Incident"] == incident_id
        text = plain(first)
        assert "小金井市" in text
        assert INTRUDER not in first.raw.decode("utf-8", "replace") + text, "the account id stays out of the mail"
        assert len(ACK_LINK.findall(text)) == 1, "one acknowledgement link, on this worker's endpoint"
        await mail_to(sink, address(koganei, "contractor:0"), "the task notices")
        sent = await run_state(
            pipeline, incident_id, lambda s: notifier_results(s, "message_sent"), "a delivery result on the timeline"
        )
        assert any(e["who"] == "kinkyu-notifier" for e in notifier_results(sent, "message_sent"))

        # (b) Nobody acknowledges within the ack timeout: the city's next contact is told, once.
        second = await mail_to(sink, address(koganei, "city:1"), "the escalation", timeout=ack_timeout + 15)
        waited = time.monotonic() - first_at
        assert waited >= ack_timeout - 1.5, f"escalated after {waited:.1f}s, before the {ack_timeout}s ack timeout"
        assert "再通知" in plain(second), "the next contact is told who did not answer"

        # (c) The next contact opens the link and presses its button: recorded, and the chain stops (no 作業責任者
        # 'unanswered' mail). Opening alone records nothing (a mail scanner opens every link).
        (link,) = ACK_LINK.findall(plain(second))
        async with aiohttp.ClientSession() as http, http.post(link) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        assert "受領を記録いたしました" in page
        before = Counter(msg.message_id for msg in sink.messages)
        state = await run_state(
            pipeline,
            incident_id,
            lambda s: (
                step(s, "first_report")["acknowledged_at"] is not None and notifier_results(s, "message_acknowledged")
            ),
            "the acknowledgement",
        )
        # 小金井市 第19条 asks for a written report: the e-mail is acknowledged, the 事故報告書 awaits its receipt.
        acked = [e for e in state["run"]["timeline"] if e["kind"] == "report_acknowledged" and e["who"] == "city:1"]
        assert acked, timeline(state)
        assert "the city acknowledged the e-mail" in acked[0]["what"]
        assert step(state, "first_report")["status"] == "sent"
        assert [e["who"] for e in notifier_results(state, "message_acknowledged")] == ["city:1"]
        await asyncio.sleep(ack_timeout * 2 + 2)  # past the time the chain's next stage was due

        after = Counter(msg.message_id for msg in sink.messages)
        assert after == before, "nothing was sent after the acknowledgement"
        assert set(after.values()) == {1}, "each message arrived once"
        recipients = sorted(to(msg) for msg in sink.messages)
        assert recipients == sorted(
            [address(koganei, "city:0"), address(koganei, "city:1")] + [address(koganei, "contractor:0")] * 2
        )
        assert await metric(w, 'kinkyu_messages_total{result="acknowledged"}') == 1
        assert await metric(w, "kinkyu_messages_queued") == 0


async def test_an_smtp_outage_across_a_worker_kill_delays_mail_but_loses_and_duplicates_none(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    profiles = contracts_reporting_at_once(pipeline, tmp_path, ack_timeout="1h")
    sink = SmtpSink(folder=tmp_path / "mail")
    await sink.start()
    await sink.stop()  # down before anything falls due; the port is kept for its return
    env = notifier_env(sink.port, free_port(), KINKYU_NOTIFY_RETRY_BASE="0.5", KINKYU_NOTIFY_RETRY_CAP="1.5")
    w1 = pipeline.worker(**env).start()
    await asyncio.to_thread(w1.wait_healthy)
    events = [(c, intrusion(profiles[c])) for c in (KOGANEI, CHIBA)]
    for contract_id, event in events:
        await pipeline.produce(pipeline.topics.access_log, [orjson.dumps(event)], key=contract_id.encode())
    expected = 6  # per incident: the first report to city:0, two task notices to contractor:0

    # Every message is queued and has failed at least once; then the worker dies mid-outage.
    await wait_metric(w1, "kinkyu_messages_queued", expected)
    await wait_metric(w1, 'kinkyu_messages_total{result="delayed"}', expected)
    w1.kill()
    w2 = pipeline.worker(**env).start()
    await asyncio.to_thread(w2.wait_healthy)
    await wait_metric(w2, "kinkyu_messages_queued", expected)
    await asyncio.sleep(3)  # retries against the dead server, from the restored outbox
    assert sink.messages == []

    await sink.start()  # the server comes back on the same port
    try:
        received = await mails(sink, expected, timeout=30)
        await asyncio.sleep(4)  # anything sent twice would arrive now
        received = list(sink.messages)
    finally:
        await sink.stop()

    copies = Counter(m.message_id for m in received)
    assert len(copies) == expected, f"{len(copies)} distinct messages arrived: {sorted(copies)}"
    assert set(copies.values()) == {1}, f"a message arrived twice: {copies}"
    for contract_id, _ in events:
        profile = profiles[contract_id]
        mine = [m for m in received if parsed(m)["X-Kinkyu-Contract"] == contract_id]
        assert sorted(to(m) for m in mine) == sorted(
            [address(profile, "city:0")] + [address(profile, "contractor:0")] * 2
        )
    assert await metric(w2, 'kinkyu_messages_total{result="sent"}') == expected
    await wait_metric(w2, "kinkyu_messages_queued", 0, timeout=5, at_most=True)
    for incident_id in [await opened_incident(pipeline, c) for c, _ in events]:
        state = await run_state(
            pipeline,
            incident_id,
            lambda s: len(notifier_results(s, "message_sent")) == 3,
            "three deliveries",
        )
        assert len(notifier_results(state, "message_delayed")) == 3, "each delay is recorded once, across the restart"
