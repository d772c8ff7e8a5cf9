"""The console over real HTTP (aiohttp's test server and client): who may do what, and what each form sends.

The producer is a recording implementation of the seam; the real broker is the
browser tests' business. Acknowledgement links are recorded by the worker's own
endpoint (notifiers.ack_server), served here over HTTP with a recording callback.
The store holds two sample incidents made through the domain's own API: one of
Koganei, one of Toyota. Their evidence and the audit log are MAC'd with the
integrity key, and the anchors topic is an in-memory one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from pydantic import SecretStr
from test_document_dates import gregorian_dates, seen_in_html
from test_messages import ascii_sentences

from kinkyu.cli import main
from kinkyu.console.app import make_console_app
from kinkyu.console.audit import AuditLog
from kinkyu.console.producer import RecordingProducer
from kinkyu.console.settings import ConsoleSettings
from kinkyu.console.users import UserDirectory, write_demo_logins
from kinkyu.console.views import incident_page
from kinkyu.core.ack import AckClaim, make_ack_token
from kinkyu.core.integrity import Keyring
from kinkyu.evidence.anchor import MemoryAnchors
from kinkyu.evidence.store import EvidenceStore
from kinkyu.notifiers.ack_server import UnknownMessageError, make_ack_app
from kinkyu.reports.sample import CONTRACTS_DIR, Scenario, build_sample, playbooks, store_sample
from kinkyu.reports.store import IncidentStore
from kinkyu.resources import PLAYBOOKS_DIR

KOGANEI_INC = "INC-20261120-0001"
TOYOTA_INC = "INC-20261120-0002"
ACK_SECRET = "a-test-secret-of-enough-bytes"
UNKNOWN_MESSAGE = "msg-gone"  # a message the worker's outbox no longer has
FILED_SUMMARY = "Notice for 3 residents mailed to the wrong address"
FILED_DETAILS = "山田太郎様宛の通知を誤って別住所へ送付"  # personal information, as a filing's details may hold
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
MAC_KEY = bytes(range(64, 96))
KEYRING = Keyring({"k1": MAC_KEY}, "k1")


@dataclass
class Desk:
    """A running console and what it was built over."""

    server: TestServer
    producer: RecordingProducer
    audit: AuditLog
    store: IncidentStore
    logins: dict[str, tuple[str, str]]
    key: bytes
    clients: list[TestClient[web.Request, web.Application]]
    acks: list[AckClaim]  # what the worker's acknowledgement endpoint recorded
    topic: MemoryAnchors  # the anchors topic outside the data volume

    async def client(self) -> TestClient[web.Request, web.Application]:
        client = TestClient(self.server)
        await client.start_server()
        self.clients.append(client)
        return client

    async def login(self, who: str) -> TestClient[web.Request, web.Application]:
        """A client signed in as ``who`` (a demo username)."""
        client = await self.client()
        username, password = self.logins[who]
        token = await csrf(client, "/login")
        resp = await client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}, allow_redirects=False
        )
        assert resp.status == 303
        return client


async def csrf(client: TestClient[web.Request, web.Application], path: str) -> str:
    """The CSRF token on the page at ``path``."""
    resp = await client.get(path)
    found = _TOKEN.search(await resp.text())
    assert found is not None, f"no csrf token on {path}"
    return found.group(1)


class KeyedStore(IncidentStore):
    """The incident store with its evidence MAC'd and anchored, as the worker's collector writes it."""

    def __init__(self, root: Path, topic: MemoryAnchors | None) -> None:
        super().__init__(root)
        self.topic = topic

    @property
    def evidence(self) -> EvidenceStore:
        if self.topic is None:  # as sealed before integrity keys existed
            return EvidenceStore(self.root / "evidence")
        return EvidenceStore(self.root / "evidence", keyring=KEYRING, on_append=self.topic.offer)


def _store(root: Path, key: bytes, topic: MemoryAnchors | None) -> IncidentStore:
    store = KeyedStore(root, topic)
    koganei = build_sample(Scenario("koganei", stage="opened", origin="detection", incident_id=KOGANEI_INC))
    toyota = build_sample(Scenario("toyota", stage="opened", incident_id=TOYOTA_INC))
    store_sample(store, koganei, key=key)
    filed = {
        "event_id": toyota.incident.event_ids[0],
        "ts": toyota.incident.first_event_ts.isoformat(),
        "contract_id": toyota.incident.contract_id,
        "kind": toyota.incident.kind,
        "incident_id": None,
        "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
        "summary": FILED_SUMMARY,
        "details": FILED_DETAILS,
    }
    store_sample(store, toyota, key=key, raw=orjson.dumps(filed))
    return store


def _settings(tmp_path: Path, key: bytes, **changes: object) -> ConsoleSettings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "contracts": [CONTRACTS_DIR],
        "playbooks": PLAYBOOKS_DIR,
        "cookie_secure": False,  # aiohttp's client keeps Secure cookies for https only; one test checks the default
        "evidence_key": SecretStr(key.hex()),
        "ack_secret": SecretStr(ACK_SECRET),
        "integrity_keys": {"k1": SecretStr(MAC_KEY.hex())},
        "login_attempts": 3,
    }
    values.update(changes)
    return ConsoleSettings(**values)  # type: ignore[arg-type]  # field names, validated by pydantic


async def _desk(tmp_path: Path, *, fail: bool = False, legacy: bool = False, **changes: object) -> AsyncIterator[Desk]:
    key = secrets.token_bytes(32)
    topic = MemoryAnchors()
    store = _store(tmp_path / "store", key, None if legacy else topic)
    users_file = tmp_path / "console" / "users.yaml"
    # A cheap hasher: the tests check who may log in, not Argon2's cost.
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    logins = {x.username: (x.username, x.password) for x in write_demo_logins(users_file, hasher=hasher)}
    producer = RecordingProducer(fail=fail)
    audit = AuditLog(tmp_path / "console" / "audit.jsonl", keyring=KEYRING, on_append=topic.offer, anchored=topic.known)
    acks: list[AckClaim] = []

    async def on_ack(claim: AckClaim) -> None:
        if claim.message_id == UNKNOWN_MESSAGE:
            raise UnknownMessageError(claim.message_id)
        acks.append(claim)

    notifier = TestServer(make_ack_app(ACK_SECRET, on_ack))
    await notifier.start_server()
    changes.setdefault("notifier_url", str(notifier.make_url("")))
    app = make_console_app(
        _settings(tmp_path, key, **changes),
        producer=producer,
        users=UserDirectory.load(users_file, hasher=hasher),
        audit_log=audit,
        playbooks=playbooks(),
        anchors=topic,
    )
    server = TestServer(app)
    await server.start_server()
    desk = Desk(server, producer, audit, store, logins, key, [], acks, topic)
    try:
        yield desk
    finally:
        for client in desk.clients:
            await client.close()
        await notifier.close()
        await server.close()


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async for d in _desk(tmp_path):
        yield d


def _refused(audit: AuditLog, action: str) -> bool:
    return any(e.action == action and e.outcome == "refused" for e in audit.entries())


# -- without a session ------------------------------------------------------------------------------------


async def test_health_answers_without_login(desk: Desk) -> None:
    client = await desk.client()
    resp = await client.get("/health")
    assert resp.status == 200
    assert await resp.text() == "ok"


async def test_a_page_without_login_redirects_to_the_login_form_with_next(desk: Desk) -> None:
    client = await desk.client()
    resp = await client.get(f"/incidents/{KOGANEI_INC}", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login?next=")
    assert KOGANEI_INC in resp.headers["Location"]


async def test_a_post_without_login_is_refused(desk: Desk) -> None:
    client = await desk.client()
    token = await csrf(client, "/login")  # even with the login form's own token
    resp = await client.post(f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token})
    assert resp.status == 403
    assert desk.producer.events == []


async def test_a_wrong_password_gets_401_and_the_form_again_and_is_audited(desk: Desk) -> None:
    client = await desk.client()
    token = await csrf(client, "/login")
    resp = await client.post("/login", data={"username": "reviewer", "password": "nope", "csrf_token": token})
    assert resp.status == 401
    body = await resp.text()
    assert 'role="alert"' in body
    assert 'id="login"' in body
    assert _refused(desk.audit, "login")


async def test_logins_are_rate_limited_per_username_and_address(desk: Desk) -> None:
    client = await desk.client()
    for _ in range(3):
        token = await csrf(client, "/login")
        await client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": token})
    token = await csrf(client, "/login")
    username, password = desk.logins["admin"]
    resp = await client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status == 429


async def test_the_session_cookie_is_httponly_samesite_strict_and_secure_by_default(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, cookie_secure=True):
        client = await d.client()
        page = await client.get("/login")
        token = _TOKEN.search(await page.text())
        assert token is not None
        username, password = d.logins["reviewer"]
        # The client keeps Secure cookies for https only: the login form's cookie goes back by hand.
        resp = await client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
            cookies={"kinkyu_login": token.group(1)},
            allow_redirects=False,
        )
        for cookie in (page.headers["Set-Cookie"], resp.headers.getall("Set-Cookie")[0]):
            assert cookie.startswith(("kinkyu_login=", "kinkyu_session="))
            assert "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie
            assert "Secure" in cookie
        assert resp.headers.getall("Set-Cookie")[0].startswith("kinkyu_session=")


@pytest.mark.parametrize(
    ("wanted", "landed"),
    [
        (f"/incidents/{KOGANEI_INC}", f"/incidents/{KOGANEI_INC}"),
        ("//evil.example/x", "/incidents"),
        ("https://evil.example/", "/incidents"),
        ("/\\evil.example", "/incidents"),
    ],
)
async def test_after_login_only_a_local_next_is_followed(desk: Desk, wanted: str, landed: str) -> None:
    client = await desk.client()
    token = await csrf(client, "/login")
    username, password = desk.logins["reviewer"]
    form = {"username": username, "password": password, "csrf_token": token, "next": wanted}
    resp = await client.post("/login", data=form, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == landed


async def test_a_login_without_the_forms_csrf_token_is_refused(desk: Desk) -> None:
    client = await desk.client()
    await client.get("/login")
    username, password = desk.logins["reviewer"]
    resp = await client.post("/login", data={"username": username, "password": password})
    assert resp.status == 403


# -- headers ------------------------------------------------------------------------------------------------


async def test_pages_carry_the_security_headers_and_are_not_cached(desk: Desk) -> None:
    client = await desk.login("reviewer")
    resp = await client.get(f"/incidents/{KOGANEI_INC}")
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] in {"no-referrer", "same-origin"}
    assert "<script" not in (await resp.text()).split('<script src="/static/console.js" defer></script>', 1)[1]


async def test_acknowledgement_pages_send_no_referrer(desk: Desk) -> None:
    client = await desk.client()
    resp = await client.get("/ack/not-a-token")
    assert resp.status == 400
    assert resp.headers["Referrer-Policy"] == "no-referrer"


# -- scope and roles ----------------------------------------------------------------------------------------


async def test_a_city_official_lists_only_their_citys_incidents(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    body = await (await client.get("/incidents")).text()
    assert f'data-incident-id="{KOGANEI_INC}"' in body
    assert TOYOTA_INC not in body


async def test_another_citys_incident_is_not_found_for_a_city_official_and_the_refusal_is_audited(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    for path in ("", "/details", "/evidence", "/timeline.json", "/reports/first.ja.md"):
        resp = await client.get(f"/incidents/{TOYOTA_INC}{path}")
        assert resp.status == 404, path
    entries = desk.audit.entries(target=TOYOTA_INC)
    assert entries
    assert all(e.outcome == "refused" for e in entries)


async def test_a_city_official_cannot_write_to_another_citys_incident(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, "/incidents")
    resp = await client.post(f"/incidents/{TOYOTA_INC}/acknowledge", data={"csrf_token": token})
    assert resp.status in {403, 404}
    assert desk.producer.events == []


async def test_a_city_official_may_not_file_an_incident(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    resp = await client.get("/file")
    assert resp.status == 403
    assert "権限がありません" in await resp.text()
    assert _refused(desk.audit, "incident.file")


async def test_a_reviewer_may_not_triage(desk: Desk) -> None:
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/triage", data={"csrf_token": token, "decision": "breach"})
    assert resp.status == 403
    assert desk.producer.events == []
    assert _refused(desk.audit, "incident.triage")


async def test_a_contractor_may_not_acknowledge_for_the_city(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token})
    assert resp.status == 403
    assert desk.producer.events == []


async def test_only_an_admin_sees_the_audit_log(desk: Desk) -> None:
    for who in ("acme-security", "koganei-city", "reviewer"):
        client = await desk.login(who)
        assert (await client.get("/admin/audit")).status == 403, who
    client = await desk.login("admin")
    resp = await client.get("/admin/audit")
    assert resp.status == 200
    body = await resp.text()
    assert 'id="audit"' in body
    assert "audit.view" in body or "login" in body


async def test_pages_show_only_the_forms_the_role_may_use(desk: Desk) -> None:
    contractor = await (await (await desk.login("acme-security")).get(f"/incidents/{KOGANEI_INC}")).text()
    city = await (await (await desk.login("koganei-city")).get(f"/incidents/{KOGANEI_INC}")).text()
    reviewer = await (await (await desk.login("reviewer")).get(f"/incidents/{KOGANEI_INC}")).text()
    assert 'id="triage"' in contractor
    assert 'id="acknowledge"' not in contractor
    assert 'id="acknowledge"' in city
    assert 'id="instruct"' in city
    assert 'id="triage"' not in city
    assert 'id="verify-evidence"' in reviewer
    assert 'id="triage"' not in reviewer
    assert 'id="acknowledge"' not in reviewer


# -- CSRF and Origin ---------------------------------------------------------------------------------------


async def test_a_post_without_a_valid_csrf_token_is_refused(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    for data in ({}, {"csrf_token": "forged"}):
        resp = await client.post(f"/incidents/{KOGANEI_INC}/acknowledge", data=data)
        assert resp.status == 403
    assert desk.producer.events == []
    assert _refused(desk.audit, "post")


async def test_a_forged_post_to_a_path_the_audit_log_cannot_hold_verbatim_is_refused_and_recorded(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    resp = await client.post("/incidents/%E5%B1%B1%20x/acknowledge", data={"csrf_token": "forged"})
    assert resp.status == 403
    assert _refused(desk.audit, "post")


async def test_a_post_from_another_origin_is_refused(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(
        f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    assert desk.producer.events == []


# -- audit of views -----------------------------------------------------------------------------------------


async def test_viewing_an_incident_its_details_and_evidence_is_audited(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    assert (await client.get(f"/incidents/{KOGANEI_INC}")).status == 200
    details = await client.get(f"/incidents/{KOGANEI_INC}/details")
    assert details.status == 200
    assert (await client.get(f"/incidents/{KOGANEI_INC}/evidence")).status == 200
    actions = {(e.who, e.action, e.target, e.outcome) for e in desk.audit.entries()}
    for action in ("incident.view", "incident.details", "evidence.view"):
        assert ("koganei-city", action, KOGANEI_INC, "allowed") in actions


async def test_the_incident_page_keeps_the_filed_free_text_off_it(tmp_path: Path) -> None:
    async for d in _desk(tmp_path):
        client = await d.login("acme-security")
        page = await (await client.get(f"/incidents/{TOYOTA_INC}")).text()
        details = await (await client.get(f"/incidents/{TOYOTA_INC}/details")).text()
        summary = FILED_SUMMARY
        assert summary not in page
        assert summary in details
        assert 'id="show-details"' in page


async def test_the_details_page_reads_the_filing_back_from_its_sealed_evidence(desk: Desk) -> None:
    client = await desk.login("acme-security")
    page = await (await client.get(f"/incidents/{TOYOTA_INC}")).text()
    details = await (await client.get(f"/incidents/{TOYOTA_INC}/details")).text()

    assert FILED_DETAILS not in page
    assert 'data-status="shown"' in details
    assert FILED_DETAILS in details
    assert ("acme-security", "incident.details", TOYOTA_INC, "allowed") in {
        (e.who, e.action, e.target, e.outcome) for e in desk.audit.entries()
    }


async def test_without_the_evidence_key_the_details_page_says_the_filing_cannot_be_shown(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, evidence_key=None):
        client = await d.login("acme-security")
        details = await (await client.get(f"/incidents/{TOYOTA_INC}/details")).text()
        assert 'data-status="no-key"' in details
        assert FILED_DETAILS not in details


async def test_a_report_download_is_rendered_and_audited(desk: Desk) -> None:
    client = await desk.login("reviewer")
    resp = await client.get(f"/incidents/{KOGANEI_INC}/reports/first.en.md")
    assert resp.status == 200
    assert resp.content_type == "text/markdown"
    assert KOGANEI_INC in await resp.text()
    assert any(e.action == "report.download" and e.detail == "first.en.md" for e in desk.audit.entries())


# -- writes --------------------------------------------------------------------------------------------------


async def test_the_filing_form_produces_one_opening_incident_event(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, "/file")
    form = [
        ("csrf_token", token),
        ("contract_id", "koganei-2026-017"),
        ("kind", "misdelivery"),
        ("summary", "通知書の誤送付"),
        ("occurred_at", "2026-11-20T16:00"),
        ("discovered_at", "2026-11-21T09:40"),
        ("location", "印刷センター"),
        ("records_affected", "3"),
        ("data_items", "name"),
        ("data_items", "address"),
        ("details", "宛名の取り違え"),
    ]
    resp = await client.post("/file", data=form, allow_redirects=False)
    assert resp.status == 303
    [event] = desk.producer.events
    assert resp.headers["Location"] == f"/filed/{event['event_id']}"
    assert event["kind"] == "misdelivery"
    assert event["incident_id"] is None
    assert event["contract_id"] == "koganei-2026-017"
    assert event["reported_by"] == {"id": "acme-security", "org": "acme", "role": "contractor"}
    assert event["occurred_at"] == "2026-11-20T16:00:00+09:00"
    assert event["discovered_at"] == "2026-11-21T09:40:00+09:00"
    assert event["records_affected"] == 3
    assert event["data_items"] == ["name", "address"]
    assert event["details"] == "宛名の取り違え"
    filed = await client.get(f"/filed/{event['event_id']}.json")
    assert await filed.json() == {"incident_id": None}  # until the worker has stored the incident


async def test_a_filing_with_a_missing_summary_is_shown_again_and_nothing_is_sent(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, "/file")
    resp = await client.post(
        "/file", data={"csrf_token": token, "contract_id": "koganei-2026-017", "kind": "loss", "location": "倉庫"}
    )
    assert resp.status == 400
    body = await resp.text()
    assert 'role="alert"' in body
    assert 'value="倉庫"' in body
    assert desk.producer.events == []


async def test_with_the_broker_down_a_filing_is_shown_again_with_what_to_do(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, fail=True):
        client = await d.login("acme-security")
        token = await csrf(client, "/file")
        resp = await client.post(
            "/file",
            data={"csrf_token": token, "contract_id": "koganei-2026-017", "kind": "loss", "summary": "USBメモリ紛失"},
        )
        assert resp.status == 503
        body = await resp.text()
        assert 'data-error="broker"' in body
        assert 'value="USBメモリ紛失"' in body
        assert _refused(d.audit, "incident.file")


async def test_with_the_broker_down_a_follow_up_is_shown_again(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, fail=True):
        client = await d.login("koganei-city")
        token = await csrf(client, f"/incidents/{KOGANEI_INC}")
        resp = await client.post(
            f"/incidents/{KOGANEI_INC}/instruct", data={"csrf_token": token, "title": "submit-access-log"}
        )
        assert resp.status == 503
        assert 'value="submit-access-log"' in await resp.text()


async def test_the_city_acknowledges_receipt(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/incidents/{KOGANEI_INC}"
    [event] = desk.producer.events
    assert event["kind"] == "acknowledgement"
    assert event["incident_id"] == KOGANEI_INC
    assert event["contract_id"] == "koganei-2026-017"
    assert event["reported_by"] == {"id": "koganei-city", "org": "koganei", "role": "city"}
    page = await (await client.get(f"/incidents/{KOGANEI_INC}")).text()
    assert event["event_id"] in page  # the flash message names what was sent


async def test_the_city_records_receipt_of_the_written_report_it_downloaded(desk: Desk) -> None:
    # 小金井市 第19条: the first report is written; the e-mail's acknowledgement is not its receipt (受領).
    client = await desk.login("koganei-city")
    page = await (await client.get(f"/incidents/{KOGANEI_INC}")).text()
    assert 'id="receipt"' in page
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/receipt", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 303
    [event] = desk.producer.events
    assert event["kind"] == "acknowledgement"
    assert event["data"] == {"receipt": "console", "step": "first_report"}


async def test_the_receipt_of_a_later_report_names_that_report(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")

    resp = await client.post(
        f"/incidents/{KOGANEI_INC}/receipt", data={"csrf_token": token, "report": "final"}, allow_redirects=False
    )

    assert resp.status == 303
    [event] = desk.producer.events
    assert event["data"] == {"receipt": "console", "report": "final"}


async def test_a_contractor_may_not_record_the_citys_receipt(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/receipt", data={"csrf_token": token})
    assert resp.status == 403
    assert desk.producer.events == []


async def test_a_city_instruction_becomes_a_city_instruction_event(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    await client.post(
        f"/incidents/{KOGANEI_INC}/instruct",
        data={"csrf_token": token, "title": "submit-access-log", "within": "24h", "report_request": "on"},
    )
    [event] = desk.producer.events
    assert event["kind"] == "city_instruction"
    assert event["data"] == {"title": "submit-access-log", "within": "24h", "report_request": True}


async def test_an_instruction_in_prose_keeps_the_prose_out_of_the_data(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    await client.post(f"/incidents/{KOGANEI_INC}/instruct", data={"csrf_token": token, "title": "ログを提出すること"})
    [event] = desk.producer.events
    assert event["data"] == {}
    assert event["details"] == "ログを提出すること"


async def test_a_report_request_asks_for_a_written_report(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    await client.post(f"/incidents/{KOGANEI_INC}/request-report", data={"csrf_token": token})
    [event] = desk.producer.events
    assert event["kind"] == "city_instruction"
    assert event["data"]["report_request"] is True


async def test_dismissing_needs_a_reason(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/triage", data={"csrf_token": token, "decision": "dismiss"})
    assert resp.status == 400
    assert desk.producer.events == []


async def test_triage_decisions_become_update_events_the_playbook_reads(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    for decision, reason in (("breach", ""), ("risk", ""), ("dismiss", "false-positive")):
        await client.post(
            f"/incidents/{KOGANEI_INC}/triage", data={"csrf_token": token, "decision": decision, "reason": reason}
        )
    breach, risk, dismiss = desk.producer.events
    assert all(e["kind"] == "update" and e["incident_id"] == KOGANEI_INC for e in desk.producer.events)
    assert breach["data"]["triage"] == "confirm"
    assert risk["data"] == {"triage": "confirm", "reason": "risk-of-breach"}
    assert dismiss["data"] == {"triage": "dismiss", "reason": "false-positive"}


async def test_a_containment_result_names_a_command_of_the_incident(desk: Desk) -> None:
    stored = desk.store.read(KOGANEI_INC)
    assert stored.run is not None
    assert stored.run.commands
    command_id = stored.run.commands[0].command.command_id
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    bad = await client.post(
        f"/incidents/{KOGANEI_INC}/containment", data={"csrf_token": token, "command_id": "CMD-x", "result": "done"}
    )
    assert bad.status == 400
    await client.post(
        f"/incidents/{KOGANEI_INC}/containment", data={"csrf_token": token, "command_id": command_id, "result": "done"}
    )
    [event] = desk.producer.events
    assert event["kind"] == "containment_result"
    assert event["data"] == {"command_id": command_id, "result": "done"}


async def test_a_step_done_becomes_an_update_with_the_note_as_details(desk: Desk) -> None:
    client = await desk.login("acme-security")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    await client.post(
        f"/incidents/{KOGANEI_INC}/update",
        data={"csrf_token": token, "step": "recovery", "note": "システムを再起動した", "done": "on"},
    )
    [event] = desk.producer.events
    assert event["data"] == {"done": True, "step": "recovery"}
    assert event["details"] == "システムを再起動した"


# -- evidence ----------------------------------------------------------------------------------------------


async def test_a_reviewer_verifies_evidence_with_one_click(desk: Desk) -> None:
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})
    assert resp.status == 200
    body = await resp.text()
    assert 'id="evidence-result"' in body
    assert 'data-status="intact"' in body
    assert any(e.action == "evidence.verify" and e.detail == "result=intact" for e in desk.audit.entries())


async def test_altered_evidence_is_named_when_verified(desk: Desk) -> None:
    folder = desk.store.evidence.incident_dir(KOGANEI_INC)
    bundle = next(folder.rglob("*.bin"))
    raw = bytearray(bundle.read_bytes())
    raw[-1] ^= 0xFF
    bundle.chmod(0o600)
    bundle.write_bytes(bytes(raw))
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    body = await (await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})).text()
    assert 'data-status="tampered"' in body
    assert bundle.name in body


async def test_a_city_official_may_not_verify_evidence(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    resp = await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})
    assert resp.status == 403


# -- acknowledgement links ----------------------------------------------------------------------------------


def _token(
    incident_id: str = KOGANEI_INC,
    *,
    expires: timedelta = timedelta(days=1),
    message_id: str = "msg-0001",
    recipient: str = "city:0",
) -> str:
    return make_ack_token(incident_id, message_id, recipient, datetime.now(UTC) + expires, ACK_SECRET)


async def test_an_acknowledgement_link_shows_a_button_and_the_worker_records_it_on_post(desk: Desk) -> None:
    client = await desk.client()
    token = _token()
    page = await client.get(f"/ack/{token}")
    assert page.status == 200
    assert "<form" in await page.text()
    assert desk.acks == []  # a GET (a mail scanner) records nothing
    resp = await client.post(f"/ack/{token}")
    assert resp.status == 200
    assert "受領を記録いたしました" in await resp.text()
    [claim] = desk.acks
    assert (claim.incident_id, claim.message_id, claim.recipient) == (KOGANEI_INC, "msg-0001", "city:0")
    # The notifier, which knows the message's step and chain, files the city's acknowledgement: not the console.
    assert desk.producer.events == []


async def test_a_link_to_a_message_the_worker_no_longer_has_says_so(desk: Desk) -> None:
    client = await desk.client()
    resp = await client.post(f"/ack/{_token(message_id=UNKNOWN_MESSAGE)}")
    assert resp.status == 404
    assert desk.acks == []
    assert _refused(desk.audit, "ack.record")


async def test_a_link_opened_while_the_worker_is_unreachable_asks_to_try_again(tmp_path: Path) -> None:
    async for desk in _desk(tmp_path, notifier_url="http://127.0.0.1:9"):
        client = await desk.client()
        resp = await client.post(f"/ack/{_token()}")
        assert resp.status == 503
        assert _refused(desk.audit, "ack.record")


async def test_an_expired_or_altered_acknowledgement_link_is_refused(desk: Desk) -> None:
    client = await desk.client()
    assert (await client.get(f"/ack/{_token(expires=timedelta(seconds=-1))}")).status == 410
    assert (await client.post(f"/ack/{_token()}x")).status == 400
    assert desk.acks == []
    assert desk.producer.events == []


# -- language, timeline --------------------------------------------------------------------------------------


async def test_english_is_one_switch_away_and_is_remembered(desk: Desk) -> None:
    client = await desk.login("reviewer")
    ja = await (await client.get("/incidents")).text()
    assert '<html lang="ja">' in ja
    assert 'id="lang-switch"' in ja
    en = await (await client.get("/incidents?lang=en")).text()
    assert '<html lang="en">' in en
    assert '<html lang="en">' in await (await client.get(f"/incidents/{KOGANEI_INC}")).text()


async def test_the_timeline_json_lists_the_entries_the_page_shows(desk: Desk) -> None:
    client = await desk.login("reviewer")
    body = await (await client.get(f"/incidents/{KOGANEI_INC}/timeline.json")).json()
    page = await (await client.get(f"/incidents/{KOGANEI_INC}")).text()
    assert body["entries"]
    assert all(f'data-kind="{e["kind"]}"' in page for e in body["entries"])


async def test_the_contract_page_lists_clauses_contacts_and_playbook(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    body = await (await client.get("/contracts/koganei-2026-017")).text()
    for section in ('id="clauses"', 'id="contacts"', 'id="playbook"', "第19条"):
        assert section in body
    assert (await client.get("/contracts/toyota-2026-012")).status == 404


async def test_the_contract_page_heads_the_contacts_with_the_contracts_words_for_the_parties(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    body = await (await client.get("/contracts/koganei-2026-017")).text()

    # 小金井市's clauses say 委託者 / 受託者 and never 甲 / 乙.
    assert re.findall(r"<h3[^>]*>([^<]*)</h3>", body)[:2] == ["委託者", "受託者"]
    assert "甲" not in body


async def test_without_a_writable_audit_log_no_incident_is_shown(desk: Desk) -> None:
    client = await desk.login("reviewer")
    desk.audit.path.unlink()
    desk.audit.path.mkdir()  # appending now fails
    resp = await client.get(f"/incidents/{KOGANEI_INC}")
    assert resp.status == 503
    body = await resp.text()
    assert 'data-error="audit"' in body
    assert "INC-20261120-0001</h1>" not in body


# -- the command ----------------------------------------------------------------------------------------------


def test_kinkyu_console_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["console", "--help"])
    assert exit_.value.code == 0
    assert "hash-password" in capsys.readouterr().out


def test_a_bad_console_setting_exits_3_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KINKYU_CONSOLE_PORT", "eighty")
    assert main(["console"]) == 3
    assert "KINKYU_CONSOLE_PORT" in capsys.readouterr().err


def test_a_missing_users_file_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("kinkyu.logs.setup_logging", lambda *_a, **_k: None)  # keep pytest's log handlers

    assert main(["console", "--port", "0", "--users", str(tmp_path / "none.yaml")]) == 3
    assert "users file" in capsys.readouterr().err


class _Text(HTMLParser):
    """The text a person reads on a page (no tags, attributes, scripts or styles)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002  # HTMLParser passes the attributes; only the tag matters here
        if tag in {"script", "style"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


@pytest.mark.parametrize("incident", [KOGANEI_INC, TOYOTA_INC])
async def test_the_japanese_incident_page_has_no_english_sentence(desk: Desk, incident: str) -> None:
    client = await desk.login("reviewer")
    page = _Text()
    page.feed(await (await client.get(f"/incidents/{incident}")).text())
    timeline = orjson.loads(await (await client.get(f"/incidents/{incident}/timeline.json")).read())

    assert ascii_sentences("\n".join(page.parts)) == []
    assert [ascii_sentences(e["what"]) for e in timeline["entries"] if ascii_sentences(e["what"])] == []


@pytest.mark.parametrize("path", ["/incidents", f"/incidents/{KOGANEI_INC}"])
async def test_the_citys_japanese_pages_have_no_english_sentence(desk: Desk, path: str) -> None:
    client = await desk.login("koganei-city")  # the city's forms: acknowledgement, the report's receipt (受領)
    page = _Text()
    page.feed(await (await client.get(path)).text())

    assert ascii_sentences("\n".join(page.parts)) == []


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("reviewer", "/incidents"),
        ("reviewer", f"/incidents/{KOGANEI_INC}"),
        ("reviewer", f"/incidents/{TOYOTA_INC}"),
        ("reviewer", f"/incidents/{KOGANEI_INC}/evidence"),
        ("reviewer", f"/incidents/{KOGANEI_INC}/reports/final.ja.html"),
        ("koganei-city", f"/incidents/{KOGANEI_INC}"),
        ("koganei-city", "/contracts/koganei-2026-017"),
        ("admin", "/admin/audit"),
    ],
)
async def test_a_japanese_console_page_dates_in_wareki_only(desk: Desk, who: str, path: str) -> None:
    client = await desk.login(who)
    resp = await client.get(path)
    assert resp.status == 200

    # What a person reads: a countdown's <time datetime="…"> and a command in <code> are machine parts.
    assert gregorian_dates(seen_in_html(await resp.text())) == []


async def test_the_task_table_names_each_tasks_state_and_origin_in_japanese(desk: Desk) -> None:
    client = await desk.login("reviewer")
    html = await (await client.get(f"/incidents/{KOGANEI_INC}")).text()
    rows = re.findall(r'<tr data-task-id="[^"]*" data-status="(\w+)"[^>]*>(.*?)</tr>', html, re.DOTALL)
    assert rows

    for status, row in rows:
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert cells[-2] == {"open": "未了", "done": "完了", "cancelled": "取消"}[status]
        # 小金井市's clauses say 委託者 (no 甲): its instructions are 委託者の指示.
        assert cells[-1] in {"委託者の指示", "委託者からの報告の求め", "報告の記載事項の補充", "対応手順"}


async def test_the_update_form_suggests_the_common_measures_in_the_readers_words(desk: Desk) -> None:
    client = await desk.login("acme-security")
    html = await (await client.get(f"/incidents/{KOGANEI_INC}")).text()

    assert '<option value="account-disabled">当該アカウントを停止しました</option>' in html
    assert '<option value="not-applicable">本件に該当する措置はありません</option>' in html


def test_the_incident_page_says_what_a_city_official_reads_not_ids_or_codes() -> None:
    s = build_sample(Scenario("koganei", origin="filed", stage="closed"))

    page = incident_page(s.stored(), "ja", s.now)
    summary = dict(page.summary)

    assert summary["事案番号"] == s.incident.incident_id
    assert summary["件数"] == "3件"
    assert "、" in summary["個人情報の項目"]
    assert {item.who for item in page.timeline} <= {"受託者の担当者", "市の担当者", "当社事故対応システム（自動記録）"}
    assert all(d.due != "-" for d in page.deadlines)
