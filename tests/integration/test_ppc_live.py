"""The national report, live: a real broker, a real ``kinkyu worker``, a real SMTP server.

A read by an unregistered account (reported at once; unauthorised access, so
an improper purpose: reportable for both parties, 確報 in 60 days) opens an
incident. The first report to the city must carry the nine Rule 8(1) items,
and the run on ``incident-state`` must show the assessment, the city's clock
started by that report's delivery, and a person's override filed on
``incident-events``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Pipeline
from test_notify_live import (
    INTRUDER,
    KOGANEI,
    address,
    breach_reported_at_once,
    mail_to,
    parsed,
    plain,
    run_state,
)

from kinkyu.core.legal import RULE8_ORDER, Rule8Item

pytestmark = pytest.mark.integration


def override(contract_id: str, incident_id: str, data: dict[str, Any]) -> bytes:
    """An ``update`` on ``incident-events`` carrying a PPC decision, as a person (or the console) files it."""
    return orjson.dumps(
        {
            "event_id": f"ppc-{uuid.uuid4().hex[:12]}",
            "ts": datetime.now(UTC).isoformat(),
            "contract_id": contract_id,
            "kind": "update",
            "incident_id": incident_id,
            "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
            "data": data,
        }
    )


async def test_the_first_report_carries_the_rule8_items_and_the_run_shows_the_ppc_assessment_and_override(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    async with breach_reported_at_once(pipeline, tmp_path, ack_timeout="1h") as (sink, _worker, koganei, incident_id):
        # The first report: all nine Rule 8(1) items, in order, 調査中 where unknown, no account id.
        first = await mail_to(sink, address(koganei, "city:0"), "the first report")
        assert "第一報" in parsed(first)["Subject"]
        text = plain(first)
        labels = [f"{n}. {Rule8Item(k, None, None).label_ja}\n" for n, k in enumerate(RULE8_ORDER, 1)]
        positions = [text.find(label) for label in labels]
        assert -1 not in positions, f"a Rule 8 item is missing from the first report:\n{text}"
        assert positions == sorted(positions)
        assert "4. 原因\n   調査中" in text
        assert "不正の目的" in text  # item 1 names the triggers: unauthorised access
        assert INTRUDER not in first.raw.decode("utf-8", "replace") + text

        # The run: the improper purpose the rule suggests is 暫定 (要確認), so not yet reportable nor 60 days;
        # the city's clock runs from the delivery all the same.
        state = await run_state(
            pipeline,
            incident_id,
            lambda s: s["run"]["ppc"]["city_learned_at"] is not None,
            "the city's clock started by the first report's delivery",
        )
        ppc = state["run"]["ppc"]
        assert (ppc["assessment"]["contractor_reportable"], ppc["assessment"]["city_reportable"]) == (False, False)
        assert ppc["assessment"]["city"]["provisional"] == ["improper_purpose"]
        assert ppc["learned_via"] == "message_sent"
        assert ppc["deadlines"]["final_days"] == 30
        assert ppc["contractor"]["state"] == "released"
        assert [i["number"] for i in ppc["rule8"]] == list(range(1, 10))

        # A person confirms the improper purpose: reportable for both, 60 days for the 確報.
        confirmation = [override(KOGANEI, incident_id, {"improper_purpose": True})]
        await pipeline.produce(pipeline.topics.incident_events, confirmation, key=KOGANEI.encode())
        state = await run_state(
            pipeline,
            incident_id,
            lambda s: s["run"]["ppc"]["assessment"]["city_reportable"],
            "the improper purpose confirmed by a person",
        )
        ppc = state["run"]["ppc"]
        assert (ppc["assessment"]["contractor_reportable"], ppc["assessment"]["city_reportable"]) == (True, True)
        assert ppc["deadlines"]["final_days"] == 60

        # A person decides the city need not report: refused without a reason, recorded with one.
        events = [
            override(KOGANEI, incident_id, {"ppc_override": "not_reportable", "party": "city"}),
            override(KOGANEI, incident_id, {"ppc_override": "not_reportable", "party": "city", "reason": "not-a-leak"}),
        ]
        await pipeline.produce(pipeline.topics.incident_events, events, key=KOGANEI.encode())

        def decided(s: dict[str, Any]) -> bool:
            return any(e["kind"] == "ppc_override" for e in s["run"]["timeline"])

        state = await run_state(pipeline, incident_id, decided, "the PPC override on the timeline")
        tl = state["run"]["timeline"]
        (refused,) = [e for e in tl if e["kind"] == "ppc_override_refused"]
        (entry,) = [e for e in tl if e["kind"] == "ppc_override"]
        assert tl.index(refused) < tl.index(entry)
        assert (entry["who"], entry["data"]["reason"], entry["data"]["party"]) == ("sec-07", "not-a-leak", "city")
        a = state["run"]["ppc"]["assessment"]
        assert (a["contractor_reportable"], a["city_reportable"]) == (True, False)
        assert a["city"]["computed_reportable"] is True  # the computation stays next to the decision
        assert state["run"]["ppc"]["reminders"] == []  # nothing to remind the city of any more
