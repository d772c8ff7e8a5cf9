"""Issue #12, finding 5: a filing's free text stays in the sealed evidence, on a real broker and worker.

A filing whose summary, details and place name a resident and a telephone
number, and one whose data item is a resident's name and number: none of it
reaches ``incidents``, ``kinkyu-checkpoints``, ``incident-state``, the store
the worker writes, the reports rendered from it, or a dead-letter header. The
sealed evidence still holds the filing as written (the console's details page
reads it back from there).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Pipeline, values

from kinkyu.console.views import filed_texts
from kinkyu.core.evidence import key_from_config
from kinkyu.reports.model import build_report
from kinkyu.reports.render import render
from kinkyu.reports.store import IncidentStore

pytestmark = pytest.mark.integration

CONTRACT = "koganei-2026-017"
NAME, PHONE, ADDRESS = "山田太郎", "090-1234-5678", "東京都小金井市本町6-6-3"
OTHER_NAME, OTHER_PHONE = "佐藤花子", "080-2222-3333"
PERSONAL = (NAME, PHONE, ADDRESS, OTHER_NAME, OTHER_PHONE)


def filing(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "event_id": str(uuid.uuid4()),
        "ts": now.isoformat(),
        "contract_id": CONTRACT,
        "kind": "misdelivery",
        "incident_id": None,
        "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
        "discovered_at": (now - timedelta(minutes=5)).isoformat(),
        "records_affected": 1,
        **fields,
    }


def leaks(data: bytes) -> list[str]:
    """The planted values found in ``data`` (as UTF-8, and as JSON that may escape non-ASCII)."""
    texts = [data.decode("utf-8", "replace")]
    with contextlib.suppress(orjson.JSONDecodeError):
        texts.append(orjson.dumps(orjson.loads(data)).decode())
    return [p for p in PERSONAL if any(p in t for t in texts)]


async def until_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"{path.name} was never written"
        await asyncio.sleep(0.2)


async def test_personal_data_in_a_filing_reaches_no_topic_store_report_or_dead_letter_header(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    key_text = base64.b64encode(secrets.token_bytes(32)).decode()
    w = pipeline.worker(KINKYU_EVIDENCE_KEY=key_text, KINKYU_TICK_INTERVAL="0.5").start()
    w.wait_healthy()
    good = filing(
        summary=f"{NAME}様宛の通知を誤送付。連絡先 {PHONE}",
        details=f"{NAME} {PHONE} {ADDRESS}",
        location=f"{ADDRESS} {NAME}方",
        data_items=["name", "address", "phone"],
    )
    bad = filing(summary="誤送付", data_items=["name", f"{OTHER_NAME} {OTHER_PHONE}"])
    await pipeline.produce(
        pipeline.topics.incident_events, [orjson.dumps(bad), orjson.dumps(good)], key=CONTRACT.encode()
    )

    def opened(records: list[Any], filing: dict[str, Any] = good) -> list[dict[str, Any]]:
        return [v for v in values(records) if v.get("change") == "opened" and filing["event_id"] in v["event_ids"]]

    incidents = await pipeline.read(pipeline.topics.incidents, lambda r: bool(opened(r)) and bool(opened(r, bad)))
    [incident] = opened(incidents)
    [withheld] = opened(incidents, bad)
    incident_id = incident["incident_id"]
    checkpoints = await pipeline.read(
        pipeline.topics.checkpoints, lambda r: any(incident_id.encode() in c.value for c in r)
    )

    def sealed(records: list[Any]) -> bool:
        return any(
            v["incident_id"] == incident_id and any(e["kind"] == "evidence_sealed" for e in v["run"]["timeline"])
            for v in values(records)
        )

    states = await pipeline.read(pipeline.topics.incident_state, sealed, timeout=60)
    store_root = pipeline.tmp / "data" / "store"
    await until_file(store_root / "reports" / incident_id / "first.ja.md")

    # The filing with a resident in its data items still opens an incident (a leak report must reach
    # the city): the code is kept, the free-text entry counted and left in the sealed filing only.
    assert withheld["data_items"] == ["name"]
    assert withheld["data_items_withheld"] == 1
    assert not leaks(orjson.dumps(withheld))
    # The record carries codes and counts: no summary, no place, the item codes.
    assert incident["has_summary"] is True
    assert incident["place"] is None
    assert incident["data_items"] == ["name", "address", "phone"]
    for topic, records in (("incidents", incidents), ("kinkyu-checkpoints", checkpoints), ("incident-state", states)):
        found = [(r.offset, leaks(r.value)) for r in records if leaks(r.value)]
        assert not found, f"{topic}: {found}"
    assert sealed(states), "the run recorded its sealed evidence"
    # Every file the worker stored (records, manifests, custody, the city's first report); the PDF is
    # compressed, so what it says is checked through the Markdown and HTML renders below.
    stored = [p for p in store_root.rglob("*") if p.is_file() and p.suffix != ".pdf"]
    assert any(p.name == f"{incident_id}.json" for p in stored)
    found_in_store = {str(p.relative_to(store_root)): leaks(p.read_bytes()) for p in stored}
    assert not any(found_in_store.values()), found_in_store
    store = IncidentStore(store_root)
    for kind in ("first", "final", "public"):
        for lang in ("ja", "en"):
            model = build_report(store.read(incident_id), kind=kind, lang=lang, now=datetime.now(UTC))
            for fmt in ("md", "html", "json"):
                assert not leaks(render(model, fmt)), (kind, lang, fmt)
    # The filing as written is still there, sealed: the console's details page reads it back.
    status, filed = filed_texts(store.evidence, incident_id, incident["event_ids"], key_from_config(key_text))
    assert status == "shown"
    assert [(f["summary"], f["details"], f["location"]) for f in filed] == [
        (good["summary"], good["details"], good["location"])
    ]
