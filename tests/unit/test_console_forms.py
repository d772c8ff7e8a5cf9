"""The console's forms as incident events (pure): what each field becomes, and what is refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from kinkyu.console.forms import (
    DATA_ITEMS,
    OFFERED_ITEMS,
    FormError,
    Reporter,
    filing_event,
    instruction_event,
    triage_event,
    update_event,
)
from kinkyu.core.legal.labels import ITEM_LABELS
from kinkyu.core.model import JST
from kinkyu.core.wire import IncidentEventIn

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=JST)
WHO = Reporter("acme-security", "acme", "contractor")
BASE = {"contract_id": "koganei-2026-017", "kind": "loss", "summary": "USB memory lost"}


def _file(**fields: str) -> dict[str, object]:
    return filing_event({**BASE, **fields}, [], allowed_contracts=["koganei-2026-017"], reporter=WHO, now=NOW)


def test_a_filing_is_an_incident_event_the_wire_model_accepts() -> None:
    event = _file(occurred_at="2026-11-20T16:00", records_affected="12")
    parsed = IncidentEventIn.model_validate(event)
    assert parsed.kind == "loss"
    assert parsed.incident_id is None
    assert parsed.occurred_at == datetime(2026, 11, 20, 16, 0, tzinfo=JST)
    assert parsed.records_affected == 12


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"contract_id": "toyota-2026-012"}, "contract_id", "bad_choice"),
        ({"kind": "update"}, "kind", "bad_choice"),
        ({"summary": " "}, "summary", "required"),
        ({"occurred_at": "2026-11-21T09:00", "discovered_at": "2026-11-21T08:00"}, "occurred_at", "after_discovery"),
        ({"discovered_at": "2026-11-22T08:00"}, "discovered_at", "in_future"),
        ({"occurred_at": "yesterday"}, "occurred_at", "bad_time"),
        ({"records_affected": "-1"}, "records_affected", "not_a_number"),
        ({"records_affected": "many"}, "records_affected", "not_a_number"),
    ],
)
def test_a_filing_names_the_field_it_refuses(fields: dict[str, str], field: str, code: str) -> None:
    with pytest.raises(FormError) as err:
        _file(**fields)
    assert (err.value.field, err.value.code) == (field, code)


def test_unknown_data_items_are_refused() -> None:
    with pytest.raises(FormError) as err:
        filing_event(BASE, ["name", "shoe-size"], allowed_contracts=["koganei-2026-017"], reporter=WHO, now=NOW)
    assert err.value.field == "data_items"


def test_follow_ups_name_their_incident_and_pass_the_wire_model() -> None:
    common: dict[str, Any] = {
        "incident_id": "INC-20261121-0001",
        "contract_id": "koganei-2026-017",
        "reporter": WHO,
        "now": NOW,
    }
    events = [
        triage_event({"decision": "dismiss", "reason": "誤検知でした"}, **common),
        update_event({"task_id": "t1", "done": "on"}, steps=[], tasks=["t1"], **common),
        instruction_event({"title": "submit-access-log", "within": "3d"}, **common),
    ]
    for event in events:
        parsed = IncidentEventIn.model_validate(event)
        assert parsed.incident_id == "INC-20261121-0001"
    triage, update, instruction = events
    assert triage["data"] == {"triage": "dismiss", "reason": "see-details"}
    assert triage["details"] == "誤検知でした"
    assert update["data"] == {"done": True, "task_id": "t1"}
    assert instruction["data"] == {"title": "submit-access-log", "within": "3d"}


def test_an_instruction_with_a_duration_that_is_not_one_is_refused() -> None:
    with pytest.raises(FormError) as err:
        instruction_event(
            {"title": "x", "within": "tomorrow"},
            incident_id="INC-20261121-0001",
            contract_id="koganei-2026-017",
            reporter=WHO,
            now=NOW,
        )
    assert (err.value.field, err.value.code) == ("within", "bad_duration")


def test_the_form_offers_each_data_item_once_and_still_accepts_an_alias() -> None:
    labels = [ITEM_LABELS[i][0] for i in OFFERED_ITEMS]

    assert len(labels) == len(set(labels))
    assert "card_number" in OFFERED_ITEMS
    assert "credit_card_number" not in OFFERED_ITEMS
    assert "credit_card_number" in DATA_ITEMS


def test_a_measure_or_a_reason_is_recorded_as_a_code_and_prose_goes_to_details() -> None:
    common: dict[str, Any] = {
        "incident_id": "INC-20261121-0001",
        "contract_id": "koganei-2026-017",
        "reporter": WHO,
        "now": NOW,
    }
    coded = update_event(
        {"step": "containment", "done": "on", "measure": "account-disabled"}, steps=["containment"], tasks=[], **common
    )
    assert coded["data"] == {"done": True, "step": "containment", "measure": "account-disabled"}
    prose = update_event(
        {"step": "containment", "done": "on", "reason": "山田さんの手紙は回収済み"},
        steps=["containment"],
        tasks=[],
        **common,
    )
    assert "reason" not in prose["data"]  # free text may name a resident: kept as evidence only
    assert prose["details"] == "山田さんの手紙は回収済み"
    handed = update_event(
        {"step": "first_report", "done": "on", "receipt": "on"}, steps=["first_report"], tasks=[], **common
    )
    assert handed["data"]["receipt"] == "hand"
