"""The console survives abuse, over real HTTP: floods, forged headers, probing, broken bodies; and its integrity checks.

Built on the desk of test_console_app (a real aiohttp server, the recording
producer, keyed evidence and audit log, an in-memory anchors topic).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_console_app import KOGANEI_INC, TOYOTA_INC, Desk, _desk, csrf

from kinkyu.console.app import CONSOLE
from kinkyu.console.audit import CHAIN
from kinkyu.console.ratelimit import LoginLimiter, address_key


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async for d in _desk(tmp_path):
        yield d


def _sessions(desk: Desk) -> int:
    return len(desk.server.app[CONSOLE].sessions)


# -- anonymous visitors cost nothing ------------------------------------------------------------------------


async def test_a_flood_of_cookieless_login_page_visits_stores_nothing_and_locks_nobody_out(desk: Desk) -> None:
    signed_in = await desk.login("reviewer")
    waiting = await desk.client()
    token = await csrf(waiting, "/login")  # someone opened the login page before the flood
    flood = await desk.client()

    for _ in range(2_000):
        flood.session.cookie_jar.clear()  # cookieless, as a script would be
        assert (await flood.get("/login")).status == 200

    assert _sessions(desk) == 1  # the reviewer's, and nothing for 2,000 visits
    assert (await signed_in.get("/incidents")).status == 200
    username, password = desk.logins["koganei-city"]
    form = {"username": username, "password": password, "csrf_token": token}
    assert (await waiting.post("/login", data=form, allow_redirects=False)).status == 303


async def test_a_login_form_token_is_bound_to_its_cookie(desk: Desk) -> None:
    mine, theirs = await desk.client(), await desk.client()
    token = await csrf(mine, "/login")
    await theirs.get("/login")  # a cookie of their own
    username, password = desk.logins["reviewer"]

    resp = await theirs.post("/login", data={"username": username, "password": password, "csrf_token": token})

    assert resp.status == 403


# -- the rate limiter cannot be flushed --------------------------------------------------------------------


async def test_failures_on_other_usernames_do_not_unlock_a_locked_account(desk: Desk) -> None:
    client = await desk.client()
    for _ in range(3):
        token = await csrf(client, "/login")
        await client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": token})
    token = await csrf(client, "/login")
    for n in range(2_000):  # other names; the address limit stops them soon, the account stays locked
        await client.post("/login", data={"username": f"user-{n}", "password": "x", "csrf_token": token})

    username, password = desk.logins["admin"]
    resp = await client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    assert resp.status == 429
    assert any(e.detail == "rate-limited-account" for e in desk.audit.entries(who="admin"))


async def test_one_address_trying_many_usernames_is_limited_by_address(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, login_address_attempts=5):
        client = await d.client()
        token = await csrf(client, "/login")
        statuses = [
            (await client.post("/login", data={"username": f"user-{n}", "password": "x", "csrf_token": token})).status
            for n in range(6)
        ]

        assert statuses == [401] * 5 + [429]


def test_ten_thousand_failures_from_everywhere_leave_a_locked_account_locked_and_the_tables_bounded() -> None:
    now = [0.0]
    limiter = LoginLimiter(5, 900, address_attempts=50, max_addresses=1_000, max_unknown=1_000, clock=lambda: now[0])
    for _ in range(5):
        limiter.failed("koganei-city", "203.0.113.7", known=True)

    for n in range(10_000):  # other names from other addresses: every table entry the attacker can make
        limiter.failed(f"user-{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", known=False)

    assert limiter.blocked("koganei-city", "198.51.100.1", known=True) == "account"
    accounts, unknown, addresses = limiter.sizes()
    assert (accounts, unknown, addresses) == (1, 1_000, 1_000)
    now[0] += 901
    assert limiter.blocked("koganei-city", "198.51.100.1", known=True) is None  # the window passes


def test_an_ipv6_machine_counts_as_its_slash_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


# -- origins -------------------------------------------------------------------------------------------------


async def test_a_forged_host_with_a_matching_origin_is_refused(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    forged = {"Host": "evil.example", "Origin": "http://evil.example"}

    resp = await client.post(f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token}, headers=forged)

    assert resp.status == 403
    assert desk.producer.events == []
    assert any(e.detail == "origin" and e.outcome == "refused" for e in desk.audit.entries())


async def test_the_loopback_origin_of_the_port_served_is_accepted(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")
    origin = {"Origin": f"http://localhost:{desk.server.port}"}

    resp = await client.post(
        f"/incidents/{KOGANEI_INC}/acknowledge", data={"csrf_token": token}, headers=origin, allow_redirects=False
    )

    assert resp.status == 303
    assert len(desk.producer.events) == 1


async def test_with_a_public_origin_configured_only_that_origin_is_accepted(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, public_origin="https://kinkyu.example.jp"):
        client = await d.login("koganei-city")
        token = await csrf(client, f"/incidents/{KOGANEI_INC}")
        path = f"/incidents/{KOGANEI_INC}/acknowledge"
        loopback = {"Origin": f"http://127.0.0.1:{d.server.port}"}
        public = {"Origin": "https://kinkyu.example.jp", "Host": "kinkyu.example.jp"}

        assert (await client.post(path, data={"csrf_token": token}, headers=loopback)).status == 403
        resp = await client.post(path, data={"csrf_token": token}, headers=public, allow_redirects=False)
        assert resp.status == 303


# -- an incident outside the scope answers as a missing one ---------------------------------------------------


async def test_an_out_of_scope_incident_answers_exactly_like_a_missing_one_and_both_are_audited(desk: Desk) -> None:
    client = await desk.login("koganei-city")
    missing = "INC-20261120-0999"
    answers = {}
    for incident_id in (TOYOTA_INC, missing):
        resp = await client.get(f"/incidents/{incident_id}")
        body = (await resp.text()).replace(incident_id, "INCIDENT")  # the language link repeats the URL asked for
        answers[incident_id] = (resp.status, body, resp.headers["Content-Type"])

    assert answers[TOYOTA_INC] == answers[missing]
    assert answers[missing][0] == 404
    for incident_id in (TOYOTA_INC, missing):
        [entry] = desk.audit.entries(target=incident_id)
        assert (entry.action, entry.outcome, entry.detail) == ("incident.view", "refused", "not-found")


async def test_out_of_scope_and_missing_take_the_same_work(desk: Desk) -> None:
    """Both go through one audit append, the bulk of the work (no timing is asserted: that is bench/'s business)."""
    client = await desk.login("koganei-city")
    before = len(desk.audit.entries(limit=10_000))
    await client.get(f"/incidents/{TOYOTA_INC}")
    middle = len(desk.audit.entries(limit=10_000))
    await client.get("/incidents/INC-20261120-0999")
    after = len(desk.audit.entries(limit=10_000))

    assert middle - before == after - middle == 1


# -- broken bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "application/x-www-form-urlencoded; charset=bogus"],
)
async def test_a_form_that_cannot_be_read_is_a_400_with_a_clear_message(desk: Desk, content_type: str) -> None:
    for client in (await desk.client(), await desk.login("acme-security")):
        for path in ("/login", "/file", f"/incidents/{KOGANEI_INC}/triage"):
            resp = await client.post(path, data=b"csrf_token=x", headers={"Content-Type": content_type})
            text = await resp.text()
            assert resp.status == 400, (path, text)
            assert "could not be read as a form" in text
            assert "フォームとして読み取れませんでした" in text
            assert "Traceback" not in text


# -- integrity on the console: the verify button and the audit page ---------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


async def test_the_verify_button_names_a_rewrite_made_with_every_hash_recomputed(desk: Desk) -> None:
    folder = desk.store.evidence.incident_dir(KOGANEI_INC)
    manifest_path = next(folder.rglob("*.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    manifest["sealed_by"] = "someone-else"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    custody = folder / "custody.jsonl"
    [entry] = [json.loads(x) for x in custody.read_text().splitlines()]
    entry["detail"]["manifest_sha256"] = _sha(
        _canonical({k: v for k, v in manifest.items() if k not in {"mac", "mac_key_id"}})
    )
    entry["entry_hash"] = _sha(_canonical({k: v for k, v in entry.items() if k not in {"entry_hash", "mac"}}))
    custody.write_text(json.dumps(entry) + "\n")
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")

    body = await (await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})).text()

    assert 'data-status="tampered"' in body
    assert "MAC does not verify (the manifest was edited)" in body
    assert "entry 1: MAC does not verify" in body
    assert any(e.detail == "result=tampered" for e in desk.audit.entries(action="evidence.verify"))


async def test_the_verify_button_catches_a_cut_off_custody_log_against_the_anchor(desk: Desk) -> None:
    custody = desk.store.evidence.incident_dir(KOGANEI_INC) / "custody.jsonl"
    custody.write_text("")
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")

    body = await (await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})).text()

    assert 'data-status="tampered"' in body
    assert "the anchor outside the volume records seq 1" in body


async def test_intact_keyed_evidence_says_it_matches_its_anchor(desk: Desk) -> None:
    client = await desk.login("reviewer")
    token = await csrf(client, f"/incidents/{KOGANEI_INC}")

    body = await (await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})).text()

    assert 'data-status="intact"' in body
    assert "データ領域の外の記録（アンカー）と一致しています。" in body


async def test_evidence_sealed_before_keys_is_labelled_unkeyed_not_intact(tmp_path: Path) -> None:
    async for d in _desk(tmp_path, legacy=True):
        client = await d.login("reviewer")
        token = await csrf(client, f"/incidents/{KOGANEI_INC}")

        body = await (await client.post(f"/incidents/{KOGANEI_INC}/evidence/verify", data={"csrf_token": token})).text()

        assert 'data-status="unkeyed"' in body
        assert "unkeyed, legacy" in body
        assert 'data-status="intact"' not in body


async def test_every_audit_entry_is_anchored_and_the_audit_page_says_so(desk: Desk) -> None:
    client = await desk.login("admin")

    body = await (await client.get("/admin/audit")).text()

    assert 'id="audit-integrity" data-status="intact"' in body
    assert "完全性の鍵（MAC）で認証済みです。" in body
    anchors = [a for a in desk.topic.records if a.chain == CHAIN]
    assert [a.seq for a in anchors] == list(range(1, len(anchors) + 1))
    assert anchors[-1].seq == desk.audit.head()[0]  # type: ignore[index]  # the log has entries


async def test_refusals_removed_from_the_audit_log_with_the_chain_recomputed_show_on_the_audit_page(
    desk: Desk,
) -> None:
    probe = await desk.login("koganei-city")
    for _ in range(3):
        await probe.get(f"/incidents/{TOYOTA_INC}")  # refused, and audited
    kept = [json.loads(x) for x in desk.audit.path.read_text().splitlines()]
    kept = [e for e in kept if e["outcome"] != "refused"]
    prev = "0" * 64
    for seq, e in enumerate(kept, 1):
        e["seq"], e["prev"] = seq, prev
        e["hash"] = prev = _sha(_canonical({k: v for k, v in e.items() if k not in {"hash", "mac"}}))
    desk.audit.path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in kept))
    admin = await desk.login("admin")

    body = await (await admin.get("/admin/audit")).text()

    assert 'id="audit-chain" data-status="broken"' in body
    # The console found its file cut below the anchored head before writing the admin's entries, and said so.
    assert "did not hold the head anchored outside the volume" in body
