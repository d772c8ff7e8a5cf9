"""The times a follow-up's ``data`` sets for a playbook are bounded at the wire edge, like every other time.

A city instruction's ``data.due`` (RFC 3339 with an offset) or ``data.within``
(a duration such as ``3d``) becomes a task's deadline. One in year 9999 is a
task that never falls due and so is never chased; a duration of a hundred
billion days does not fit a clock at all. So both are held to
:data:`kinkyu.core.bounds.MAX_DUE_AHEAD` (a year) after the event's own time,
``due`` to 2000 and later, and each must have the one shape the playbook
reads: ``out-of-range`` and ``invalid`` otherwise, naming the field, never the
value. The console's instruction form refuses what the stage would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import KOGANEI, PLANTED, dumps, incident_example

from kinkyu.console.forms import FormError, Reporter, instruction_event
from kinkyu.core.bounds import MAX_DUE_AHEAD
from kinkyu.core.model import IncidentEvent
from kinkyu.core.wire import decode_incident
from kinkyu.exceptions import MalformedEventError

TS = "2026-11-21T10:00:00+09:00"
AT = datetime.fromisoformat(TS)


def _instruction(data: dict[str, Any]) -> bytes:
    event = {**incident_example(), "ts": TS, "kind": "city_instruction", "incident_id": "INC-20261121-0001"}
    return dumps({**event, "data": {"task_id": "submit-log", **data}})


def _refusal(data: dict[str, Any]) -> MalformedEventError:
    with pytest.raises(MalformedEventError) as refused:
        decode_incident(_instruction(data))
    return refused.value


def _accepted(data: dict[str, Any]) -> IncidentEvent:
    return decode_incident(_instruction(data))


def test_a_due_time_within_a_year_of_the_instruction_is_accepted() -> None:
    due = (AT + timedelta(days=30)).isoformat()

    assert _accepted({"due": due}).data["due"] == due


def test_a_due_time_before_the_instruction_is_accepted() -> None:
    # An instruction given by telephone is entered afterwards: its deadline may already have passed.
    assert _accepted({"due": "2026-11-20T17:00:00+09:00"}).data["due"] == "2026-11-20T17:00:00+09:00"


@pytest.mark.parametrize(
    "due",
    [
        "9999-12-31T23:59:59+09:00",
        (AT + timedelta(seconds=MAX_DUE_AHEAD + 1)).isoformat(),
        "1999-12-31T23:59:59+09:00",
        "0001-01-01T00:00:00+09:00",
    ],
)
def test_a_due_time_past_a_year_after_the_instruction_or_before_2000_is_out_of_range(due: str) -> None:
    refused = _refusal({"due": due})

    assert refused.reason == "out-of-range"
    assert "data.due" in refused.detail


@pytest.mark.parametrize("due", ["2026-12-01T17:00:00", "2026-12-01", "next friday", PLANTED, 1796000000, True, ["x"]])
def test_a_due_that_is_not_a_time_with_an_offset_is_invalid_and_not_quoted(due: object) -> None:
    refused = _refusal({"due": due})

    assert refused.reason == "invalid"
    assert "data.due" in refused.detail
    assert PLANTED not in refused.detail


@pytest.mark.parametrize("within", ["3d", "24h", "90m", "366d"])
def test_a_duration_of_a_year_or_less_is_accepted(within: str) -> None:
    assert _accepted({"within": within}).data["within"] == within


@pytest.mark.parametrize("within", ["367d", "99999999999d", "9" * 400 + "d"])
def test_a_duration_past_a_year_is_out_of_range(within: str) -> None:
    refused = _refusal({"within": within})

    assert (refused.reason, "data.within" in refused.detail) == ("out-of-range", True)


@pytest.mark.parametrize("within", ["tomorrow", PLANTED, 3, -1, 1e300, False])
def test_a_within_that_is_not_a_duration_string_is_invalid_and_not_quoted(within: object) -> None:
    refused = _refusal({"within": within})

    assert refused.reason == "invalid"
    assert PLANTED not in refused.detail


def test_a_null_due_or_within_is_absent() -> None:
    assert _accepted({"due": None, "within": None}).data == {"task_id": "submit-log", "due": None, "within": None}


def test_an_opening_filing_is_held_to_the_same_bounds() -> None:
    event = {**incident_example(), "ts": TS, "data": {"due": "9999-12-31T23:59:59+09:00"}}

    with pytest.raises(MalformedEventError) as refused:
        decode_incident(dumps(event))

    assert refused.value.reason == "out-of-range"


# -- the console's instruction form refuses what the detection stage would -----------------------------


def _form(within: str) -> dict[str, Any]:
    return instruction_event(
        {"title": "submit-access-log", "within": within},
        incident_id="INC-20261121-0001",
        contract_id=KOGANEI,
        reporter=Reporter("city-1", None, "city"),
        now=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("within", ["367d", "99999999999d"])
def test_the_instruction_form_refuses_a_duration_past_a_year(within: str) -> None:
    with pytest.raises(FormError) as refused:
        _form(within)

    assert (refused.value.field, refused.value.code) == ("within", "too_far")


def test_what_the_instruction_form_accepts_the_wire_accepts() -> None:
    event = _form("366d")

    assert decode_incident(dumps(event)).data["within"] == "366d"
