"""The notifier stage stops an incident's escalation chains when an acknowledgement follow-up reaches it.

An acknowledgement filed from the console (its 受領確認 button or one of its
acknowledgement links) travels incident-events -> detection -> incidents like
any follow-up; the stage sees it on the incidents feed. E-mail goes to a
recording sender here (the SMTP path is the integration tier's).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import Mailbox, MemorySink
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.model import JST
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.reports.sample import CONTRACTS_DIR, playbooks
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import NotifierStage
from kinkyu.streams.settings import Topics

INC = "INC-20261121-0001"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=JST)


def _notification(kind: str, step: str, audience: str) -> bytes:
    return orjson.dumps(
        {
            "effect": "notify",
            "effect_id": f"{INC}/{step}/{kind}/1",
            "incident_id": INC,
            "contract_id": "koganei-2026-017",
            "jurisdiction": "koganei",
            "step_id": step,
            "audience": audience,
            "kind": kind,
            "due": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "urgency": "直ちに" if audience == "city" else None,
            "article": "第19条第1項",
            "queued_at": datetime.now(UTC).isoformat(),
        }
    )


def _stage(tmp_path: Path) -> NotifierStage:
    profiles = load_profiles([CONTRACTS_DIR])
    return NotifierStage(
        topics=Topics("t-"),
        sink=MemorySink(),
        metrics=Metrics(),
        settings=NotifierSettings(
            ack_secret=SecretStr("unit-test-ack-secret-0123456789"),
            ack_base_url="http://127.0.0.1:9",
            console_url="http://127.0.0.1:9",
            outbox_dir=tmp_path / "outbox",
        ),
        profiles=lambda: profiles,
        playbooks=playbooks(),
        email=Mailbox(),
    )


def _chains(stage: NotifierStage) -> dict[str, bool]:
    return {
        str((c.payload.get("notification") or {}).get("step_id")): c.active
        for c in stage.notifier.chains.chains()
        if c.incident_id == INC
    }


def _ack(step: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"event_id": "ack-from-console"}
    if step is not None:
        data["step"] = step
    entry = {"ts": T0.isoformat(), "who": "koganei-city", "what": "acknowledgement", "kind": "acknowledgement"}
    return {"change": "event", "incident_id": INC, "entry": {**entry, "data": data}}


async def _settle(stage: NotifierStage) -> None:
    await asyncio.gather(*stage._acks)


async def test_an_acknowledgement_without_a_step_stops_every_chain_to_the_city(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    try:
        await stage.handle(_notification("first_report", "first_report", "city"))
        await stage.handle(_notification("complaint_report", "complaint_report", "city"))
        assert _chains(stage) == {"first_report": True, "complaint_report": True}
        stage.remember(_ack(None))
        await _settle(stage)
        assert _chains(stage) == {"first_report": False, "complaint_report": False}
    finally:
        await stage.stop()


async def test_an_acknowledgement_of_a_step_stops_that_steps_chain_only(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    try:
        await stage.handle(_notification("first_report", "first_report", "city"))
        await stage.handle(_notification("complaint_report", "complaint_report", "city"))
        stage.remember(_ack("first_report"))
        await _settle(stage)
        assert _chains(stage) == {"first_report": False, "complaint_report": True}
    finally:
        await stage.stop()


async def test_other_follow_ups_stop_nothing(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    try:
        await stage.handle(_notification("first_report", "first_report", "city"))
        record = _ack(None)
        record["entry"]["kind"] = "update"
        stage.remember(record)
        await _settle(stage)
        assert _chains(stage) == {"first_report": True}
    finally:
        await stage.stop()


async def test_a_notification_that_reaches_a_stopping_stage_is_never_taken_as_done(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    await stage.stop()

    # Returning would let faust ack and commit it unqueued; it ends only by the agent's cancellation.
    handling = asyncio.ensure_future(stage.handle(_notification("first_report", "first_report", "city")))
    await asyncio.sleep(0)  # one turn of the loop: a handler that returns has returned by now
    handling.cancel()

    with pytest.raises(asyncio.CancelledError):
        await handling
    assert _chains(stage) == {}
