"""Every incident that opens reaches a person, even one whose times no clock can compute with (issue #12, finding 4).

The record is written straight onto ``incidents``, past the wire edge that
refuses implausible times, as a record from an older worker or a bug upstream
could arrive: the playbook stage is the last line, and must hold by itself.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from conftest import Pipeline, values

from kinkyu.core.incident import Incident
from kinkyu.core.model import JST, Severity
from kinkyu.notifiers.smtp_sink import SmtpSink
from kinkyu.streams.broker import free_port

pytestmark = pytest.mark.integration

OKAYAMA = "okayama-2026-003"
CITY_FIRST_CONTACT = "tanto-a@okayama.city.example.jp"
INCIDENT_ID = "INC-99991231-0001"
# An hour after this is no datetime: the evidence window around it (±1 h) cannot be computed.
BREACH_AT = datetime(9999, 12, 31, 23, 30, tzinfo=JST)


def breach_dated_year_9999() -> dict[str, Any]:
    """An ``opened`` record of a detection whose events are dated the last half hour of year 9999."""
    incident = Incident(
        incident_id=INCIDENT_ID,
        contract_id=OKAYAMA,
        jurisdiction="okayama",
        origin="detection",
        kind="detection",
        first_event_ts=BREACH_AT,
        last_event_ts=BREACH_AT,
        actor="x9999",
        system="juki-portal",
        severity=Severity.HIGH,
        rules=["credential-attack"],
        finding_ids=["F-credential-attack-1"],
        event_ids=["ev-9999"],
        event_count=1,
        records=0,
        data_items=[],
    )
    return {**incident.to_json(), "change": "opened"}


def contracts_without_work_hours(pipeline: Pipeline, tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    shutil.copytree(pipeline.contracts, folder)
    for path in folder.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile.pop("work_hours", None)
        path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    pipeline.contracts = folder


async def incident_state(pipeline: Pipeline, ok: Any, what: str) -> dict[str, Any]:
    def newest(records: list[Any]) -> dict[str, Any] | None:
        mine = [v for v in values(records) if v["incident_id"] == INCIDENT_ID]
        return max(mine, key=lambda v: v["version"]) if mine else None

    state = newest(await pipeline.read(pipeline.topics.incident_state, lambda r: bool(ok(newest(r))), timeout=40))
    assert ok(state), f"incident-state never showed {what}: {state and [e['kind'] for e in state['run']['timeline']]}"
    assert state is not None
    return state


def _read(path: Path) -> dict[str, Any] | None:
    return orjson.loads(path.read_bytes()) if path.is_file() else None


async def stored(path: Path, ok: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = await asyncio.to_thread(_read, path)
        if body is not None and ok(body):
            return body
        await asyncio.sleep(0.1)
    pytest.fail(f"the store never held {path.name} as expected")


async def first_mail_to(sink: SmtpSink, recipient: str, timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in sink.messages:
            if recipient in m.recipients:
                parsed = message_from_bytes(m.raw, policy=policy.default)
                return str(parsed["Subject"]) + "\n" + str(parsed.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
    pytest.fail(f"no mail to {recipient}; got {[m.recipients for m in sink.messages]}")


def failed(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["data"] for e in run["timeline"] if e["kind"] == "computation_failed"]


async def test_a_breach_dated_year_9999_gets_a_run_a_first_report_mailed_and_a_store_entry(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    contracts_without_work_hours(pipeline, tmp_path)
    sink = SmtpSink(folder=tmp_path / "mail")
    await sink.start()
    try:
        w = pipeline.worker(
            KINKYU_SMTP_HOST="127.0.0.1",
            KINKYU_SMTP_PORT=str(sink.port),
            KINKYU_SMTP_SECURITY="none",
            KINKYU_SMTP_TIMEOUT="5",
            KINKYU_SMTP_FROM_ADDRESS="Kinkyu <kinkyu@kinkyu.test>",
            KINKYU_NOTIFY_ACK_PORT=str(free_port()),
            KINKYU_NOTIFY_ACK_SECRET="degraded-live-test-ack-secret-0123456789",
            KINKYU_TICK_INTERVAL="0.5",
        ).start()
        await asyncio.to_thread(w.wait_healthy)

        await pipeline.produce(
            pipeline.topics.incidents, [orjson.dumps(breach_dated_year_9999())], key=INCIDENT_ID.encode()
        )

        # A run, with the computation it could not make on its timeline as codes.
        state = await incident_state(pipeline, lambda s: s is not None and failed(s["run"]), "a coded failure")
        assert {"computation": "evidence_window", "step": "evidence", "task_id": None} | {
            "error": "out-of-range",
            "outcome": "window-clamped",
        } in failed(state["run"])
        first = next(s for s in state["run"]["steps"] if s["step_id"] == "first_report")
        assert first["status"] == "sent"

        # The first report reached the city's first contact.
        mail = await first_mail_to(sink, CITY_FIRST_CONTACT)
        assert "第一報" in mail
        assert INCIDENT_ID in mail

        # The store entry the console and `kinkyu report` read, failure included.
        store = tmp_path / "data" / "store" / "incidents" / f"{INCIDENT_ID}.json"
        body = await stored(store, lambda b: b.get("run") is not None and failed(b["run"]))
        assert body["incident"]["incident_id"] == INCIDENT_ID
        assert body["run"]["state"] == "responding"
    finally:
        await sink.stop()
