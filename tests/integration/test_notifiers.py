"""The notifier on real parts: an aiosmtpd server on loopback, aiohttp servers, journals on disk.

No broker is needed: the notifier's input is the ``notifications`` record
(a dict), its outputs are e-mails, webhooks and timeline entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.ack import AckClaim, make_ack_token
from kinkyu.core.contract import ContractProfile
from kinkyu.core.incident import TimelineEntry, filed_incident
from kinkyu.core.model import JST, IncidentEvent, Person
from kinkyu.core.outbox import idempotency_key
from kinkyu.core.playbook import Escalate, Notify, Playbook, ResponsePolicy, playbooks_from_texts, start, tick
from kinkyu.notifiers.ack_server import bound_port, make_ack_app, start_ack_server
from kinkyu.notifiers.exceptions import NotifierPermanentError, NotifierTransientError, PersonalDataError
from kinkyu.notifiers.model import CITY_REPORTS, IncidentFacts, NotificationIn, OutboundEmail, WebhookPayload
from kinkyu.notifiers.render import MESSAGE_KINDS, assert_no_personal_data, build_email, build_webhook, message_id_for
from kinkyu.notifiers.service import Notifier, NotifierSettings, WebhookTarget
from kinkyu.notifiers.smtp import SmtpSettings, SmtpTransport
from kinkyu.notifiers.smtp_sink import ReceivedMessage, SinkHandler, SmtpSink
from kinkyu.notifiers.webhook import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookTransport,
    verify_signature,
)
from kinkyu.streams.broker import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROFILES = load_profiles([REPO / "samples" / "contracts"])
KOGANEI = "koganei-2026-017"
SECRET = "integration-test-ack-secret-0123456789"
HOOK_SECRET = "webhook-shared-secret"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=JST)
INC = "INC-20261121-0001"
DOMAIN = "kinkyu.test"

# Personal data planted in everything a message could be built from.
PII = (
    "山田太郎",
    "東京都小金井市本町6-6-3",
    "090-1234-5678",
    "123456789012",
    "yamada.taro@example.com",
)
FORBIDDEN = (*PII, "山田", "太郎", "本町6-6-3", "1234-5678", "yamada")


@cache
def playbooks() -> dict[str, Playbook]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "playbooks").glob("*.yaml")}
    return playbooks_from_texts(texts)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Recorder:
    timeline: list[tuple[str, TimelineEntry]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)

    async def on_timeline(self, incident_id: str, entry: TimelineEntry) -> None:
        self.timeline.append((incident_id, entry))

    async def on_ack(self, event: dict[str, Any]) -> None:
        self.acks.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for _, e in self.timeline]


def smtp_settings(port: int, **kw: Any) -> SmtpSettings:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "timeout": 5.0,
        "from_address": f"Kinkyu <kinkyu@{DOMAIN}>",
    }
    base.update(kw)
    return SmtpSettings(**base)


def notifier_settings(folder: Path, **kw: Any) -> NotifierSettings:
    base: dict[str, Any] = {
        "ack_secret": SecretStr(SECRET),
        "ack_base_url": "http://127.0.0.1:9",
        "console_url": "https://console.kinkyu.test",
        "outbox_dir": folder,
    }
    base.update(kw)
    return NotifierSettings(**base)


def make_notifier(
    folder: Path,
    port: int,
    clock: Callable[[], datetime],
    recorder: Recorder,
    *,
    profiles: dict[str, ContractProfile] | None = None,
    webhooks: WebhookTransport | None = None,
    targets: list[WebhookTarget] | None = None,
    **settings: Any,
) -> Notifier:
    chosen = profiles or PROFILES
    return Notifier(
        settings=notifier_settings(folder, webhooks=targets or [], **settings),
        profiles=lambda: chosen,
        email=SmtpTransport(smtp_settings(port)),
        webhooks=webhooks,
        playbooks=playbooks(),
        on_timeline=recorder.on_timeline,
        on_ack_event=recorder.on_ack,
        clock=clock,
        email_domain=DOMAIN,
    )


@contextlib.contextmanager
def closing(notifier: Notifier) -> Iterator[Notifier]:
    try:
        yield notifier
    finally:
        notifier.close()


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SmtpSink]:
    s = SmtpSink(folder=tmp_path / "mail")
    await s.start()
    yield s
    await s.stop()


def parsed(msg: ReceivedMessage) -> EmailMessage:
    m = message_from_bytes(msg.raw, policy=policy.default)
    assert isinstance(m, EmailMessage)
    return m


def plain(m: EmailMessage) -> str:
    body = m.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def everything(m: EmailMessage) -> str:
    """Every header (decoded) and every part's decoded content."""
    out = [f"{k}: {v}" for k, v in m.items()]
    for part in m.walk():
        if part.get_content_maintype() == "multipart":
            continue
        out.extend(f"{k}: {v}" for k, v in part.items())
        out.append(str(part.get_content()))
    return "\n".join(out)


def record(
    kind: str = "first_report",
    *,
    incident_id: str = INC,
    contract_id: str = KOGANEI,
    jurisdiction: str = "koganei",
    step_id: str | None = None,
    audience: str | None = None,
    n: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A ``notifications`` record of a Notify effect (with free text planted where none is read)."""
    to_contractor = kind in {"triage_due", "task_assigned"}
    step = step_id or {"triage_due": "triage", "task_assigned": "instructions"}.get(kind, kind)
    body: dict[str, Any] = {
        "effect": "notify",
        "effect_id": f"{incident_id}/{step}/{kind}/{n}",
        "incident_id": incident_id,
        "contract_id": contract_id,
        "jurisdiction": jurisdiction,
        "step_id": step,
        "audience": audience or ("contractor" if to_contractor else "city"),
        "kind": kind,
        "due": (T0 + timedelta(hours=1)).isoformat(),
        "urgency": None if to_contractor else "直ちに",
        "article": "第19条第1項",
        "written": kind in {"first_report", "written_report"},
        "possible": False,
        "items": ["content", "count", "place", "circumstances"] if kind == "first_report" else [],
        "missing_items": ["place"] if kind == "first_report" else [],
        "rule8": kind == "first_report",
        "task_id": f"instruction:{incident_id}-t1" if kind == "task_assigned" else None,
        "contract_ended": False,
        "queued_at": T0.isoformat(),
        # Never read: proof that extra keys cannot reach a message.
        "summary": f"{PII[0]}様 {PII[1]}",
        "details": f"{PII[2]} {PII[3]} {PII[4]}",
    }
    body.update(extra)
    return body


def escalate_record(reason: str, *, step_id: str = "first_report", level: int = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "effect": "escalate",
        "effect_id": f"{INC}/escalate/{level}",
        "incident_id": INC,
        "contract_id": KOGANEI,
        "jurisdiction": "koganei",
        "reason": reason,
        "step_id": step_id,
        "task_id": None,
        "due": (T0 + timedelta(hours=1)).isoformat(),
        "level": level,
        "queued_at": T0.isoformat(),
        "summary": PII[0],
    }
    body.update(extra)
    return body


def pii_incident(incident_id: str = INC, contract_id: str = KOGANEI) -> dict[str, Any]:
    """An ``incidents`` record of a filed misdelivery whose free text is full of personal data."""
    event = IncidentEvent(
        event_id="filed-pii-1",
        ts=T0,
        contract_id=contract_id,
        kind="misdelivery",
        incident_id=None,
        reported_by=Person(PII[0], "acme", f"{PII[0]}（{PII[2]}）"),
        summary=f"{PII[0]}様宛の通知（{PII[1]}）を誤送付。連絡先 {PII[2]}、個人番号 {PII[3]}",
        occurred_at=T0 - timedelta(hours=2),
        discovered_at=T0,
        location=PII[1],
        records_affected=3,
        data_items=("name", "address", "my_number", f"{PII[0]}の電話番号 {PII[2]}", "yamada_taro"),
        details=f"{PII[0]} {PII[1]} {PII[2]} {PII[3]} {PII[4]}",
    )
    body = filed_incident(incident_id, "koganei", event).to_json()
    body["change"] = "opened"
    body["actor"] = PII[0]
    body["system"] = f"{PII[0]}のPC"
    body["clauses"] = [
        {"article": "小金井市 第19条第1項", "label": "事故報告"},
        {"article": f"{PII[0]} {PII[3]}", "label": PII[1]},
    ]
    body["timeline"].append({"ts": T0.isoformat(), "who": PII[0], "what": PII[1], "kind": "note", "data": {}})
    return body


async def tick_until(
    notifier: Notifier, done: Callable[[], bool], clock: Clock, *, step: float = 30.0, limit: int = 100
) -> None:
    for _ in range(limit):
        await notifier.tick()
        if done():
            return
        clock.advance(seconds=step)
    pytest.fail("condition not reached")


def ack_urls(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+/ack/[A-Za-z0-9_.-]+", text)


# -- e-mail on a real SMTP server ---------------------------------------------------------------------


async def test_email_reaches_a_real_smtp_server_in_japanese(sink: SmtpSink) -> None:
    profile = PROFILES[KOGANEI]
    note = NotificationIn.parse(record())
    facts = IncidentFacts.from_record(pii_incident())
    email = build_email(
        note,
        contract=profile,
        recipient=profile.city.contacts[0],
        ack_url="https://ack.kinkyu.test/ack/TOKEN",
        incident_url=f"https://console.kinkyu.test/incidents/{INC}",
        now=T0,
        key="0123456789abcdef0123456789abcdef",
        facts=facts,
        domain=DOMAIN,
    )
    result = await SmtpTransport(smtp_settings(sink.port)).send(email)
    assert result.channel == "email"
    assert result.detail == "smtp-250"

    [got] = sink.messages
    m = parsed(got)
    assert m["Subject"] == email.subject
    # The matter and the contract; no contract id, severity or deadline in the subject.
    assert m["Subject"] == "【緊急・第一報】個人情報の漏えい等の事故のご報告（住民記録システム運用保守業務委託）"
    assert m["Message-ID"] == f"<kinkyu.0123456789abcdef0123456789abcdef@{DOMAIN}>"
    assert m["X-Kinkyu-Incident"] == INC
    assert m["Auto-Submitted"] == "auto-generated"
    assert got.recipients == ("tanto-a@city.example.jp",)
    text = plain(m)
    assert text.startswith("小金井市 市民課\n中村 真理 様")
    for expected in (
        "小金井市 特記事項 第19条第1項に基づき直ちに第一報としてご報告いたします",
        "- 件数: 3件",
        "- 本人の数: 3人以内",
        "個人情報の項目: 氏名、住所、個人番号（マイナンバー）（ほか2項目は書面で報告）",
        "- 発生場所: 調査中",
        "https://ack.kinkyu.test/ack/TOKEN",
        f"https://console.kinkyu.test/incidents/{INC}",
    ):
        assert expected in text
    html_part = m.get_body(preferencelist=("html",))
    assert html_part is not None
    assert 'href="https://ack.kinkyu.test/ack/TOKEN"' in str(html_part.get_content())
    assert_no_personal_data(everything(m), FORBIDDEN)
    assert got.path is not None
    assert got.path.read_bytes() == got.raw


async def test_an_english_contact_gets_english(sink: SmtpSink) -> None:
    profile = PROFILES[KOGANEI]
    contact = profile.city.contacts[0].model_copy(update={"lang": "en"})
    email = build_email(
        NotificationIn.parse(record()),
        contract=profile,
        recipient=contact,
        ack_url=None,
        incident_url="https://console.kinkyu.test/incidents/x",
        now=T0,
        key="k1",
        domain=DOMAIN,
    )
    await SmtpTransport(smtp_settings(sink.port)).send(email)
    m = parsed(sink.messages[0])
    assert (
        email.subject == "[URGENT: FIRST REPORT] Report of a personal data incident (住民記録システム運用保守業務委託)"
    )
    assert plain(m).startswith("Dear 中村 真理 (担当, 小金井市 市民課),")
    assert m["Content-Language"] == "en"


async def test_starttls_required_but_not_offered_is_transient(sink: SmtpSink) -> None:
    email = build_email(
        NotificationIn.parse(record()),
        contract=PROFILES[KOGANEI],
        recipient=PROFILES[KOGANEI].city.contacts[0],
        ack_url=None,
        incident_url="https://console.kinkyu.test/incidents/x",
        now=T0,
        key="k2",
    )
    with pytest.raises(NotifierTransientError) as err:
        await SmtpTransport(smtp_settings(sink.port, security="starttls")).send(email)
    assert err.value.code in {"smtp-unsupported", "connection"}
    assert err.value.__cause__ is not None
    assert sink.messages == []


async def test_an_unreachable_server_is_transient_and_names_no_recipient() -> None:
    port = free_port()
    email = build_email(
        NotificationIn.parse(record()),
        contract=PROFILES[KOGANEI],
        recipient=PROFILES[KOGANEI].city.contacts[0],
        ack_url=None,
        incident_url="https://console.kinkyu.test/incidents/x",
        now=T0,
        key="k3",
    )
    with pytest.raises(NotifierTransientError) as err:
        await SmtpTransport(smtp_settings(port, timeout=2.0)).send(email)
    assert err.value.code in {"connection", "timeout"}
    assert isinstance(err.value.__cause__, OSError)
    assert "@" not in str(err.value)


class Peers(SinkHandler):
    """Notes the client address (host, port) each message came over: one port, one connection."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[object] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def simple_email(key: str) -> OutboundEmail:
    return build_email(
        NotificationIn.parse(record()),
        contract=PROFILES[KOGANEI],
        recipient=PROFILES[KOGANEI].city.contacts[0],
        ack_url=None,
        incident_url="https://console.kinkyu.test/incidents/x",
        now=T0,
        key=key,
    )


@pytest.fixture
async def peers_sink() -> AsyncIterator[tuple[SmtpSink, Peers]]:
    handler = Peers()
    server = SmtpSink(handler=handler)
    await server.start()
    yield server, handler
    await server.stop()


async def test_messages_one_after_another_share_one_connection(peers_sink: tuple[SmtpSink, Peers]) -> None:
    server, handler = peers_sink
    transport = SmtpTransport(smtp_settings(server.port))
    for n in range(3):
        await transport.send(simple_email(f"reuse{n}"))
    await transport.close()

    assert len(handler.peers) == 3
    assert len(set(map(str, handler.peers))) == 1


async def test_messages_at_the_same_time_each_get_a_connection_and_keep_it(
    peers_sink: tuple[SmtpSink, Peers],
) -> None:
    server, handler = peers_sink
    transport = SmtpTransport(smtp_settings(server.port))
    await asyncio.gather(*(transport.send(simple_email(f"both{n}")) for n in range(2)))
    await asyncio.gather(*(transport.send(simple_email(f"again{n}")) for n in range(2)))
    await transport.close()

    assert len(handler.peers) == 4
    assert len(set(map(str, handler.peers))) == 2


async def test_a_connection_the_server_dropped_is_replaced_and_the_message_sent_once(
    peers_sink: tuple[SmtpSink, Peers],
) -> None:
    server, handler = peers_sink
    transport = SmtpTransport(smtp_settings(server.port))
    await transport.send(simple_email("before"))
    await server.stop()  # drops the open connection, as a restarted server would
    await server.start()
    await transport.send(simple_email("after"))
    await transport.close()

    assert [parsed(m)["Message-ID"] for m in server.messages] == [
        message_id_for("before", "kinkyu.invalid"),
        message_id_for("after", "kinkyu.invalid"),
    ]
    assert len(set(map(str, handler.peers))) == 2


async def test_a_server_gone_for_good_after_a_message_is_a_clean_transient_error(
    peers_sink: tuple[SmtpSink, Peers],
) -> None:
    server, _ = peers_sink
    transport = SmtpTransport(smtp_settings(server.port, timeout=2.0))
    await transport.send(simple_email("last"))
    await server.stop()

    with pytest.raises(NotifierTransientError) as err:
        await transport.send(simple_email("never"))
    assert err.value.code in {"connection", "timeout"}
    assert "@" not in str(err.value)
    assert len(server.messages) == 1
    await server.start()  # the fixture stops it


class Refusing(SinkHandler):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        del server, session, envelope, address, rcpt_options
        return self.reply


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("550 5.1.1 mailbox unavailable", NotifierPermanentError, "smtp-5xx"),
        ("451 4.3.0 try again later", NotifierTransientError, "smtp-4xx"),
    ],
)
async def test_a_refused_recipient_is_permanent_on_5xx_and_transient_on_4xx(
    reply: str, error: type[Exception], code: str
) -> None:
    server = SmtpSink(handler=Refusing(reply))
    await server.start()
    try:
        email = build_email(
            NotificationIn.parse(record()),
            contract=PROFILES[KOGANEI],
            recipient=PROFILES[KOGANEI].city.contacts[0],
            ack_url=None,
            incident_url="https://console.kinkyu.test/incidents/x",
            now=T0,
            key="k4",
        )
        with pytest.raises(error) as err:
            await SmtpTransport(smtp_settings(server.port)).send(email)
        assert getattr(err.value, "code", None) == code
        assert "mailbox" not in str(err.value)  # the server's text is not repeated
    finally:
        await server.stop()


def test_smtp_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "KINKYU_SMTP_HOST": "smtp.example.jp",
        "KINKYU_SMTP_PORT": "465",
        "KINKYU_SMTP_SECURITY": "tls",
        "KINKYU_SMTP_USERNAME": "kinkyu",
        "KINKYU_SMTP_PASSWORD": "pw",
        "KINKYU_SMTP_TIMEOUT": "3.5",
        "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <noreply@acme.example.co.jp>",
    }.items():
        monkeypatch.setenv(name, value)
    s = SmtpSettings()
    assert (s.host, s.port, s.security, s.username, s.timeout) == ("smtp.example.jp", 465, "tls", "kinkyu", 3.5)
    assert s.password is not None
    assert s.password.get_secret_value() == "pw"
    assert "pw" not in repr(s)
    assert s.domain == "acme.example.co.jp"


# -- the outbox: outages and restarts ------------------------------------------------------------------


def records_for_outage() -> list[dict[str, Any]]:
    return [
        record("first_report", incident_id="INC-20261121-0001"),
        record("complaint_report", incident_id="INC-20261121-0002"),
        record("triage_due", incident_id="INC-20261121-0003"),
        record("first_report", incident_id="INC-20261121-0004", contract_id="toyota-2026-012", jurisdiction="toyota"),
    ]


async def test_smtp_outage_delays_messages_then_delivers_each_exactly_once(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    await sink.stop()  # the server is down before anything is sent
    with closing(make_notifier(tmp_path / "notifier", sink.port, clock, rec)) as notifier:
        for body in records_for_outage():
            assert await notifier.handle(body)
        await notifier.tick()
        entries = notifier.outbox.entries()
        assert len(entries) == 4
        assert all(e.state == "pending" for e in entries)
        attempted = [e for e in entries if e.attempts]
        # One attempt found the server down; the rest of the pass waited instead of hammering it.
        assert len(attempted) == 1
        assert attempted[0].next_attempt_at == T0 + timedelta(seconds=30)
        assert rec.kinds().count("message_delayed") == 1

        for _ in range(6):  # minutes of outage: retried with backoff, nothing lost
            clock.advance(seconds=45)
            await notifier.tick()
        assert all(e.state == "pending" for e in notifier.outbox.entries())
        assert max(e.attempts for e in notifier.outbox.entries()) >= 2

        await sink.start()  # back on the same port
        await tick_until(notifier, lambda: all(e.state == "sent" for e in notifier.outbox.entries()), clock)
        for _ in range(5):
            clock.advance(seconds=60)
            await notifier.tick()

    ids = Counter(parsed(m)["Message-ID"] for m in sink.messages)
    expected = {message_id_for(e.key, DOMAIN) for e in entries}
    assert set(ids) == expected
    assert all(n == 1 for n in ids.values())
    assert rec.kinds().count("message_sent") == 4
    assert "message_failed" not in rec.kinds()


async def test_a_restarted_notifier_sends_nothing_twice(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    folder = tmp_path / "notifier"
    bodies = records_for_outage()
    with closing(make_notifier(folder, sink.port, clock, rec)) as first:
        for body in bodies[:2]:
            await first.handle(body)
        await first.tick()
    assert len(sink.messages) == 2

    await sink.stop()
    with closing(make_notifier(folder, sink.port, clock, rec)) as second:
        for body in bodies:  # the broker redelivers everything not committed, including the two sent
            await second.handle(body)
        pending = [e for e in second.outbox.entries() if e.state == "pending"]
        assert len(pending) == 2
        # Killed in the middle of an attempt: the journal says "in flight".
        second.outbox.begin(pending[0].key, clock())

    await sink.start()
    clock.advance(minutes=5)
    with closing(make_notifier(folder, sink.port, clock, rec)) as third:
        assert [e.key for e in third.outbox.recovered] == [pending[0].key]
        for body in bodies:
            assert not await third.handle(body)
        await tick_until(third, lambda: all(e.state == "sent" for e in third.outbox.entries()), clock)
        assert third.outbox.get(pending[0].key).uncertain  # type: ignore[union-attr]

    with closing(make_notifier(folder, sink.port, clock, rec)) as fourth:
        clock.advance(hours=1)  # past every backoff, not past any ack timeout of an acknowledged chain
        await fourth.deliver()

    ids = Counter(parsed(m)["Message-ID"] for m in sink.messages)
    assert len(ids) == 4
    assert all(n == 1 for n in ids.values())
    assert any(e.data.get("uncertain") for _, e in rec.timeline if e.kind == "message_sent")


_CHILD = r"""
import asyncio, json, sys
from datetime import timedelta
from pathlib import Path
from pydantic import SecretStr
from kinkyu.contracts import load_profiles
from kinkyu.notifiers.service import Notifier, NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings, SmtpTransport

folder, port, records = Path(sys.argv[1]), int(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
profiles = load_profiles([Path("samples/contracts")])

async def main():
    settings = NotifierSettings(
        ack_secret=SecretStr("integration-test-ack-secret-0123456789"), outbox_dir=folder,
        retry_base=0.2, retry_cap=0.5, max_attempts=1000,
        # One send at a time: stopping the server cuts at most one between its 250 and the journal (the
        # "uncertain" window, tested on its own); with several in flight it can cut as many.
        concurrency=1,
    )
    smtp = SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=2,
                                      from_address="kinkyu@kinkyu.test"))
    notifier = Notifier(settings=settings, profiles=lambda: profiles, email=smtp, email_domain="kinkyu.test")
    for body in records:
        await notifier.handle(body)
    print("handled", flush=True)
    while True:
        await notifier.tick()
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


def journal_states(path: Path) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                item = orjson.loads(line)
                latest[item["key"]] = item
    return latest


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition not reached in time")


class Slow(SinkHandler):
    """Takes its time over each message, so a test can stop the server part-way through a batch."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
async def slow_sink() -> AsyncIterator[SmtpSink]:
    s = SmtpSink(handler=Slow())
    await s.start()
    yield s
    await s.stop()


async def test_a_worker_killed_during_an_outage_loses_nothing_and_duplicates_nothing(
    slow_sink: SmtpSink, tmp_path: Path
) -> None:
    sink = slow_sink
    folder = tmp_path / "notifier"
    bodies = [record("first_report", incident_id=f"INC-20261121-{i:04d}") for i in range(1, 7)]
    records_file = tmp_path / "records.json"
    records_file.write_text(json.dumps(bodies))
    log = (tmp_path / "child.log").open("wb")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        str(folder),
        str(sink.port),
        str(records_file),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        journal = folder / "outbox.jsonl"
        # Let a few through, then take the server down while the worker keeps trying.
        await wait_for(lambda: len(sink.messages) >= 2)
        await sink.stop()

        def settled() -> bool:
            states = journal_states(journal)
            sent = sum(1 for s in states.values() if s["state"] == "sent")
            retrying = any(s["last_error"] == "connection" for s in states.values())
            return sent == len(sink.messages) and retrying

        await wait_for(settled)
        child.send_signal(signal.SIGKILL)  # no goodbye: the journal is all that is left
        assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        log.close()

    before = len(sink.messages)
    assert before < len(bodies), "everything was sent before the outage; nothing left to prove"
    await sink.start()
    clock, rec = Clock(datetime.now(UTC)), Recorder()
    with closing(make_notifier(folder, sink.port, clock, rec)) as restarted:
        for body in bodies:  # redelivered by the broker: none of them is a new message
            assert not await restarted.handle(body)
        await tick_until(restarted, lambda: all(e.state == "sent" for e in restarted.outbox.entries()), clock)
    ids = Counter(parsed(m)["Message-ID"] for m in sink.messages)
    expected = {message_id_for(idempotency_key(b["incident_id"], b["effect_id"], "city:0"), DOMAIN) for b in bodies}
    assert set(ids) == expected
    assert all(n == 1 for n in ids.values()), ids


# -- escalation and acknowledgement ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def ack_server(notifier: Notifier) -> AsyncIterator[str]:
    runner = await start_ack_server(notifier.ack_app(), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    notifier.settings.ack_base_url = base
    try:
        yield base
    finally:
        await runner.cleanup()


async def test_an_unacknowledged_report_goes_to_the_next_contact_then_to_the_responsible_manager(
    sink: SmtpSink, tmp_path: Path
) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        await notifier.handle(record(), pii_incident())
        await notifier.tick()
        assert [m.recipients for m in sink.messages] == [("tanto-a@city.example.jp",)]

        clock.advance(minutes=29)
        await notifier.tick()
        assert len(sink.messages) == 1

        clock.advance(minutes=1)
        await notifier.tick()
        second = parsed(sink.messages[1])
        assert sink.messages[1].recipients == ("kacho-b@city.example.jp",)
        assert second["Subject"].startswith("【再送】【緊急・第一報】")
        assert "【再通知】担当から30分以内に受領確認がなかったため" in plain(second)

        clock.advance(minutes=30)
        await notifier.tick()
        third = parsed(sink.messages[2])
        assert sink.messages[2].recipients == ("sekinin-c@acme.example.co.jp",)
        assert third["Subject"].startswith("【緊急】市の受領確認がありません")
        assert "小金井市の連絡先（担当、個人情報保護責任者）のいずれからも" in plain(third)

        clock.advance(hours=5)
        await notifier.tick()
        assert len(sink.messages) == 3
    assert "message_escalated" in rec.kinds()
    assert "city_unanswered" in rec.kinds()
    for m in sink.messages:
        assert_no_personal_data(everything(parsed(m)), FORBIDDEN)


async def test_opening_the_ack_link_stops_the_chain_and_files_the_citys_acknowledgement(
    sink: SmtpSink, tmp_path: Path
) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        async with ack_server(notifier) as base:
            await notifier.handle(record(), pii_incident())
            await notifier.tick()
            [url] = ack_urls(plain(parsed(sink.messages[0])))
            assert url.startswith(f"{base}/ack/")
            clock.advance(minutes=12)
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as opened:  # opening the link shows the button; the button records
                    assert opened.status == 200
                    assert "<form" in await opened.text()
                async with http.post(url) as resp:
                    page = await resp.text()
                    assert resp.status == 200
                    assert "受領を記録いたしました" in page
                    assert "Acknowledged" in page
                    assert page.index("受領を記録いたしました") < page.index("Acknowledged")
                    assert resp.headers["Cache-Control"] == "no-store"
                async with http.post(url) as again:  # a second click changes nothing
                    assert again.status == 200

        clock.advance(hours=2)
        await notifier.tick()
        assert len(sink.messages) == 1  # nobody else is told

    acks = [e for _, e in rec.timeline if e.kind == "message_acknowledged"]
    assert acks[0].who == "city:0"
    assert acks[0].ts == T0 + timedelta(minutes=12)
    assert acks[0].data["chain_stopped"] is True
    assert "(again)" in acks[1].what
    [event] = rec.acks
    assert event["kind"] == "acknowledgement"
    assert event["incident_id"] == INC
    assert event["data"] == {"step": "first_report"}
    assert event["reported_by"] == {"id": "city:0", "org": "koganei", "role": "担当"}
    assert event["ts"] == (T0 + timedelta(minutes=12)).isoformat()


async def test_a_playbook_no_acknowledgement_escalation_moves_the_report_chain_on_once(
    sink: SmtpSink, tmp_path: Path
) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        await notifier.handle(record())
        await notifier.tick()
        clock.advance(minutes=20)
        assert await notifier.handle(escalate_record("no_acknowledgement"))
        await notifier.tick()
        clock.advance(minutes=15)  # the chain's own timeout would have come now: no second copy
        await notifier.tick()
        assert not await notifier.handle(escalate_record("no_acknowledgement"))  # redelivered
        await notifier.tick()
    assert [m.recipients[0] for m in sink.messages] == ["tanto-a@city.example.jp", "kacho-b@city.example.jp"]


async def test_a_late_no_acknowledgement_escalation_of_an_acknowledged_report_tells_nobody(
    sink: SmtpSink, tmp_path: Path
) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        await notifier.handle(record())
        await notifier.tick()
        await notifier.acknowledge_step(INC, "first_report", by="city:0", at=T0 + timedelta(minutes=29))
        clock.advance(minutes=30)  # the playbook has not heard of the acknowledgement yet
        assert await notifier.handle(escalate_record("no_acknowledgement"))
        clock.advance(hours=3)
        await notifier.tick()
    assert len(sink.messages) == 1


async def test_a_missed_deadline_of_a_contractor_task_goes_to_the_contractor(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        body = escalate_record("deadline_missed", step_id="instructions", task_id=f"instruction:{INC}-t1")
        await notifier.handle(body)
        await notifier.tick()
    [got] = sink.messages
    assert got.recipients == ("sekinin-c@acme.example.co.jp",)
    m = parsed(got)
    assert m["Subject"].startswith("【緊急】社内上位者への報告（期限超過）")
    # The task by its step's words, never its code.
    assert "の期限（令和" in plain(m)
    assert f"instruction:{INC}-t1" not in plain(m)


async def test_a_missed_report_deadline_goes_to_the_next_city_contact_then_the_responsible_manager(
    sink: SmtpSink, tmp_path: Path
) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        await notifier.handle(escalate_record("deadline_missed", step_id="first_report"), pii_incident())
        await notifier.tick()
        clock.advance(minutes=30)
        await notifier.tick()
    assert [m.recipients[0] for m in sink.messages] == ["kacho-b@city.example.jp", "sekinin-c@acme.example.co.jp"]
    assert "「事故の書面による報告（第一報）」の期限（令和8年11月21日（土）11時00分）を過ぎました" in plain(
        parsed(sink.messages[0])
    )


async def test_a_report_acknowledged_by_telephone_stops_its_chain(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        await notifier.handle(record())
        await notifier.tick()
        assert await notifier.acknowledge_step(INC, "first_report", by="city:0", at=T0 + timedelta(minutes=3)) == 1
        clock.advance(hours=2)
        await notifier.tick()
    assert len(sink.messages) == 1


async def test_records_that_cannot_be_used_are_refused_without_sending(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        assert not await notifier.handle({"effect": "notify", "summary": PII[0]})
        assert not await notifier.handle(record(contract_id="nowhere-2026-001"))
        assert not await notifier.handle(record(kind="gossip"))
        await notifier.tick()
    assert sink.messages == []
    assert rec.kinds() == ["message_not_sent"]


async def test_ack_endpoint_records_on_post_and_answers_expired_bad_head_and_health() -> None:
    claims: list[AckClaim] = []

    async def on_ack(claim: AckClaim) -> None:
        claims.append(claim)

    now = datetime.now(UTC)
    runner = await start_ack_server(make_ack_app(SECRET, on_ack), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    good = make_ack_token(INC, "m1", "city:1", now + timedelta(hours=1), SECRET)
    expired = make_ack_token(INC, "m1", "city:1", now - timedelta(seconds=1), SECRET)
    forged = make_ack_token(INC, "m1", "city:1", now + timedelta(hours=1), "another-secret-0123456789")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.head(f"{base}/ack/{good}") as resp:
                assert resp.status == 405  # a link checker's probe is not a person
            assert claims == []
            async with http.post(f"{base}/ack/{good}") as resp:
                assert resp.status == 200
            assert claims == [AckClaim(INC, "m1", "city:1", claims[0].expires_at)]
            async with http.post(f"{base}/ack/{expired}") as resp:
                assert resp.status == 410
                assert "有効期限が切れています" in await resp.text()
            async with http.post(f"{base}/ack/{forged}") as resp:
                assert resp.status == 400
            async with http.get(f"{base}/ack/not-a-token") as resp:
                assert resp.status == 400
            async with http.get(f"{base}/health") as resp:
                assert resp.status == 200
                assert await resp.text() == "ok"
        assert len(claims) == 1
    finally:
        await runner.cleanup()


async def test_a_get_on_the_ack_endpoint_shows_a_button_and_records_nothing() -> None:
    claims: list[AckClaim] = []

    async def on_ack(claim: AckClaim) -> None:
        claims.append(claim)

    runner = await start_ack_server(make_ack_app(SECRET, on_ack), "127.0.0.1", 0)
    token = make_ack_token(INC, "m1", "city:0", datetime.now(UTC) + timedelta(hours=1), SECRET)
    url = f"http://127.0.0.1:{bound_port(runner)}/ack/{token}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200
                assert "<form" in await resp.text()
            assert claims == []
            async with http.post(url) as resp:
                assert resp.status == 200
        assert [c.recipient for c in claims] == ["city:0"]
    finally:
        await runner.cleanup()


async def test_an_ack_for_an_unknown_message_is_404(tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", free_port(), clock, rec)) as notifier:
        async with ack_server(notifier) as base:
            token = make_ack_token(INC, "unknown", "city:0", T0 + timedelta(days=1), SECRET)
            async with aiohttp.ClientSession() as http, http.post(f"{base}/ack/{token}") as resp:
                assert resp.status == 404


# -- webhooks --------------------------------------------------------------------------------------------


@dataclass
class HookServer:
    statuses: list[int]
    bodies: list[bytes] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.bodies.append(raw)
        self.message_ids.append(request.headers.get(MESSAGE_ID_HEADER, ""))
        self.verified.append(
            verify_signature(
                HOOK_SECRET,
                raw,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                now=time.time(),
            )
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status < 300}, status=status)


@contextlib.asynccontextmanager
async def hook_server(statuses: list[int]) -> AsyncIterator[tuple[str, HookServer]]:
    hook = HookServer(list(statuses))
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/hook", hook
    finally:
        await runner.cleanup()


def payload() -> WebhookPayload:
    return build_webhook(
        NotificationIn.parse(record()),
        contract=PROFILES[KOGANEI],
        key="hook-key-1",
        ack_url="https://ack.kinkyu.test/ack/T",
        incident_url=f"https://console.kinkyu.test/incidents/{INC}",
        now=T0,
        facts=IncidentFacts.from_record(pii_incident()),
    )


async def test_a_webhook_is_signed_and_retried_after_a_500() -> None:
    async with hook_server([500]) as (url, hook):
        transport = WebhookTransport(pause=0.01)
        try:
            result = await transport.post(url, payload(), HOOK_SECRET)
        finally:
            await transport.close()
    assert result.attempts == 2
    assert result.detail == "http-200"
    assert hook.verified == [True, True]
    assert hook.message_ids == ["hook-key-1", "hook-key-1"]
    body = orjson.loads(hook.bodies[-1])
    assert body["type"] == "kinkyu.notification"
    assert body["incident_id"] == INC
    assert body["severity"] == "high"
    assert body["records"] == 3
    assert body["text"].startswith("【緊急・第一報】")
    assert_no_personal_data(hook.bodies[-1].decode(), FORBIDDEN)
    # A tampered body does not verify.
    ts = str(int(time.time()))
    assert not verify_signature(HOOK_SECRET, hook.bodies[-1] + b" ", ts, "sha256=00", now=time.time())


async def test_a_webhook_4xx_is_permanent_and_retries_are_bounded() -> None:
    async with hook_server([400]) as (url, hook):
        transport = WebhookTransport(pause=0.01)
        try:
            with pytest.raises(NotifierPermanentError):
                await transport.post(url, payload(), HOOK_SECRET)
        finally:
            await transport.close()
    assert len(hook.bodies) == 1
    async with hook_server([503, 503, 503, 503]) as (url, hook):
        transport = WebhookTransport(pause=0.01, attempts=3)
        try:
            with pytest.raises(NotifierTransientError) as err:
                await transport.post(url, payload(), HOOK_SECRET)
        finally:
            await transport.close()
    assert len(hook.bodies) == 3
    assert err.value.code == "http-503"


async def test_the_notifier_posts_webhooks_through_the_outbox(sink: SmtpSink, tmp_path: Path) -> None:
    clock, rec = Clock(T0), Recorder()
    async with hook_server([500, 500]) as (url, hook):
        transport = WebhookTransport(pause=0.01, attempts=1)
        target = WebhookTarget(name="chat", url=url, secret=SecretStr(HOOK_SECRET))
        try:
            with closing(
                make_notifier(tmp_path / "n", sink.port, clock, rec, webhooks=transport, targets=[target])
            ) as notifier:
                await notifier.handle(record(), pii_incident())
                await tick_until(notifier, lambda: all(e.state == "sent" for e in notifier.outbox.entries()), clock)
        finally:
            await transport.close()
    assert len(hook.bodies) == 3  # two 500s, retried by the outbox, then delivered
    assert all(hook.verified)
    assert len(set(hook.message_ids)) == 1
    assert len(sink.messages) == 1
    assert {e.data["channel"] for _, e in rec.timeline if e.kind == "message_sent"} == {"email", "webhook"}


# -- no personal information in any message -------------------------------------------------------------


def every_notification() -> list[dict[str, Any]]:
    """A record of every Notify kind, to the city and to the contractor, and every Escalate reason."""
    out = [record(kind, n=i) for i, kind in enumerate((*CITY_REPORTS, "triage_due", "task_assigned"), 1)]
    out.append(record("first_report", n=99, possible=True, contract_ended=True))
    # The national report: the Rule 8(1) facts (planted where only codes may be) and the PPC reminders.
    planted = {"kind": PII[0], "rules": [PII[1]], "data_items": ["name", PII[0]], "people": {"count": PII[3]}}
    out.append(record("first_report", n=98, rule8_facts={"origin": "filed", "assessed": True, **planted}))
    out += [
        record(
            kind,
            step_id="first_report",
            ppc={"report": report, "learned": "2026-11-21", "due": "2026-12-21", "triggers": ["over_100", PII[0]]},
        )
        for kind, report in (("ppc_preliminary_reminder", "preliminary"), ("ppc_final_reminder", "final"))
    ]
    out += [
        escalate_record(reason, level=i, task_id=f"instruction:{INC}-t{i}" if i == 2 else None)
        for i, reason in enumerate(("deadline_missed", "no_acknowledgement", "containment_failed"), 1)
    ]
    return out


def test_every_message_kind_in_both_languages_is_free_of_personal_data() -> None:
    profile = PROFILES[KOGANEI]
    facts = IncidentFacts.from_record(pii_incident())
    assert facts is not None
    assert facts.other_items == 2  # the two item names that were prose are counted, not shown
    assert [c.article for c in facts.clauses] == ["小金井市 第19条第1項"]
    rendered: set[str] = set()
    for body in every_notification():
        note = NotificationIn.parse(body)
        for purpose, not_answered in (("notify", ()), ("escalated", ("city:0",)), ("unanswered", ("city:0", "city:1"))):
            for lang in ("ja", "en"):
                for recipient in (profile.city.contacts[1], profile.contractor_contacts[0]):
                    email = build_email(
                        note,
                        contract=profile,
                        recipient=recipient,
                        lang=lang,
                        ack_url="https://ack.kinkyu.test/ack/TOKEN",
                        incident_url=f"https://console.kinkyu.test/incidents/{INC}",
                        now=T0,
                        key="0123456789abcdef",
                        facts=facts,
                        purpose=purpose,  # type: ignore[arg-type]
                        not_answered_by=not_answered,
                        step_title=("事故の書面による報告（第一報）", "Written first report of the incident"),
                        ack_expires=T0 + timedelta(days=7),
                    )
                    text = "\n".join([email.subject, email.text, email.html or "", *email.headers.values()])
                    assert_no_personal_data(text, FORBIDDEN)
                    assert "{{" not in email.text
                    assert INC in email.text
                    rendered.add(email.headers["X-Kinkyu-Kind"])
            hook = build_webhook(
                note,
                contract=profile,
                key="k",
                ack_url="https://ack.kinkyu.test/ack/TOKEN",
                incident_url=f"https://console.kinkyu.test/incidents/{INC}",
                now=T0,
                facts=facts,
                purpose=purpose,  # type: ignore[arg-type]
                not_answered_by=not_answered,
            )
            assert_no_personal_data(json.dumps(hook.body, ensure_ascii=False), FORBIDDEN)
    assert rendered == set(MESSAGE_KINDS)


# Two or more English words in a row (as tests/unit/test_messages.py): ids, codes and URLs are not words.
_ASCII_SENTENCE = re.compile(r"(?<![\w/.@:-])[A-Za-z][a-z]+(?:[ ,;'()]+[A-Za-z][a-z]+){1,}(?![\w-])")


def test_every_japanese_message_kind_reads_without_an_english_sentence() -> None:
    profile = PROFILES[KOGANEI]
    facts = IncidentFacts.from_record(pii_incident())
    found: dict[str, list[str]] = {}
    for body in every_notification():
        note = NotificationIn.parse(body)
        for purpose, not_answered in (("notify", ()), ("escalated", ("city:0",)), ("unanswered", ("city:0", "city:1"))):
            for recipient in (profile.city.contacts[1], profile.contractor_contacts[0]):
                email = build_email(
                    note,
                    contract=profile,
                    recipient=recipient,
                    lang="ja",
                    ack_url="https://ack.kinkyu.test/ack/TOKEN",
                    incident_url=f"https://console.kinkyu.test/incidents/{INC}",
                    now=T0,
                    key="0123456789abcdef",
                    facts=facts,
                    purpose=purpose,  # type: ignore[arg-type]
                    not_answered_by=not_answered,
                    step_title=("事故の書面による報告（第一報）", "Written first report of the incident"),
                    ack_expires=T0 + timedelta(days=7),
                    html=False,
                )
                english = _ASCII_SENTENCE.findall(f"{email.subject}\n{email.text}")
                if english:
                    found[email.headers["X-Kinkyu-Kind"]] = english
    assert found == {}


def test_the_guard_finds_planted_values_and_does_not_echo_them() -> None:
    with pytest.raises(PersonalDataError) as err:
        assert_no_personal_data(f"本文 {PII[0]} 本文", FORBIDDEN)
    assert PII[0] not in str(err.value)
    with pytest.raises(PersonalDataError):
        assert_no_personal_data("電話 ０９０-１２３４-５６７８", FORBIDDEN)  # full-width digits fold to the same
    assert_no_personal_data("件数: 3件", FORBIDDEN)


async def test_playbook_messages_of_a_breach_full_of_personal_data_reach_the_server_without_it(
    sink: SmtpSink, tmp_path: Path
) -> None:
    incident = pii_incident()
    run, effects = start(incident, playbooks()["koganei"], ResponsePolicy(), PROFILES[KOGANEI].ends, T0)
    effects += tick(run, T0 + timedelta(hours=3))
    bodies = []
    for effect in effects:
        if isinstance(effect, Notify | Escalate):
            body = effect.to_json()
            body.update(incident_id=run.incident_id, contract_id=KOGANEI, jurisdiction="koganei")
            bodies.append(body)
    assert {b["effect"] for b in bodies} == {"notify", "escalate"}

    clock, rec = Clock(T0), Recorder()
    with closing(make_notifier(tmp_path / "n", sink.port, clock, rec)) as notifier:
        for body in bodies:
            await notifier.handle(body, incident)
        for _ in range(8):  # through every escalation stage
            await notifier.tick()
            clock.advance(minutes=30)
    assert len(sink.messages) >= len(bodies)
    for got in sink.messages:
        assert_no_personal_data(everything(parsed(got)), FORBIDDEN)
        assert_no_personal_data(got.raw.decode("ascii", "replace"), FORBIDDEN)
    timeline = json.dumps([e.to_json() for _, e in rec.timeline], ensure_ascii=False)
    assert_no_personal_data(timeline, FORBIDDEN)
    journals = b"".join(p.read_bytes() for p in (tmp_path / "n").glob("*.jsonl")).decode()
    assert_no_personal_data(journals, FORBIDDEN)


# -- the sink for `make run` --------------------------------------------------------------------------------


async def test_the_smtp_sink_command_writes_eml_files_and_prints_a_line_per_message(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "mail"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kinkyu.notifiers.smtp_sink",
        "--port",
        str(port),
        "--dir",
        str(folder),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert f"127.0.0.1:{port}" in first.decode()
        email = build_email(
            NotificationIn.parse(record()),
            contract=PROFILES[KOGANEI],
            recipient=PROFILES[KOGANEI].city.contacts[0],
            ack_url=None,
            incident_url="https://console.kinkyu.test/incidents/x",
            now=T0,
            key="sinkkey",
            domain=DOMAIN,
        )
        await SmtpTransport(smtp_settings(port)).send(email)
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert f"<kinkyu.sinkkey@{DOMAIN}>" in line
        assert "to=tanto-a@city.example.jp" in line
        assert "subject=【緊急・第一報】" in line
        [eml] = folder.glob("*.eml")
        assert parsed(ReceivedMessage(1, "", "", (), "", eml.read_bytes(), eml))["Subject"] == email.subject
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
