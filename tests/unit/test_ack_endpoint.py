"""Acknowledgement is a POST everywhere: opening a link (what mail scanners do) records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kinkyu.core.ack import AckClaim, make_ack_token
from kinkyu.notifiers.ack_server import make_ack_app
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.reports.sample import profiles as sample_profiles
from kinkyu.streams.app import notifier_settings
from kinkyu.streams.settings import WorkerSettings
from kinkyu.web.ack_pages import contractor_contact

SECRET = "an-acknowledgement-secret-0123456789"
INC = "INC-20261121-0001"


async def test_a_get_shows_a_button_and_records_nothing_a_post_records() -> None:
    claims: list[AckClaim] = []

    async def on_ack(claim: AckClaim) -> None:
        claims.append(claim)

    token = make_ack_token(INC, "m1", "city:0", datetime.now(UTC) + timedelta(hours=1), SECRET)
    async with TestClient(TestServer(make_ack_app(SECRET, on_ack))) as client:
        for _ in range(5):  # a scanner, a previewer, the person: nobody acknowledges by opening
            page = await client.get(f"/ack/{token}")
            assert page.status == 200
            assert '<form method="post">' in await page.text()
        assert (await client.head(f"/ack/{token}")).status == 405
        assert claims == []

        recorded = await client.post(f"/ack/{token}")

        assert recorded.status == 200
        assert "受領を記録いたしました" in await recorded.text()
    assert [(c.incident_id, c.recipient) for c in claims] == [(INC, "city:0")]


async def test_a_forged_link_is_refused_on_get_and_post() -> None:
    async def on_ack(_: AckClaim) -> None:
        raise AssertionError("never called")

    async with TestClient(TestServer(make_ack_app(SECRET, on_ack))) as client:
        assert (await client.get("/ack/not-a-token")).status == 400
        assert (await client.post("/ack/not-a-token")).status == 400


async def test_an_expired_link_tells_the_official_whom_to_call_from_the_contract() -> None:
    async def on_ack(_: AckClaim) -> None:
        raise AssertionError("never called")

    contact = f"株式会社アクメ {sample_profiles()['koganei'].contractor.contact}"
    token = make_ack_token(INC, "m1", "city:0", datetime.now(UTC) - timedelta(hours=1), SECRET)
    app = make_ack_app(SECRET, on_ack, contact=lambda: contractor_contact(sample_profiles()))
    async with TestClient(TestServer(app)) as client:
        page = await client.get(f"/ack/{token}")

        assert page.status == 410
        text = await page.text()
    assert f"{contact}までお電話で" in text
    assert "電話 03-0000-0000" in text


def test_links_point_at_the_console_when_one_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINKYU_NOTIFY_CONSOLE_URL", "https://desk.kinkyu.example")
    monkeypatch.delenv("KINKYU_NOTIFY_ACK_BASE_URL", raising=False)

    settings = notifier_settings(WorkerSettings(), NotifierSettings())

    assert settings.ack_base_url == "https://desk.kinkyu.example"


def test_without_a_console_links_point_at_the_endpoint_and_an_explicit_base_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KINKYU_NOTIFY_CONSOLE_URL", raising=False)
    monkeypatch.delenv("KINKYU_NOTIFY_ACK_BASE_URL", raising=False)
    assert notifier_settings(WorkerSettings(), NotifierSettings()).ack_base_url == "http://127.0.0.1:6067"

    monkeypatch.setenv("KINKYU_NOTIFY_CONSOLE_URL", "https://desk.kinkyu.example")
    monkeypatch.setenv("KINKYU_NOTIFY_ACK_BASE_URL", "https://ack.kinkyu.example")
    assert notifier_settings(WorkerSettings(), NotifierSettings()).ack_base_url == "https://ack.kinkyu.example"
