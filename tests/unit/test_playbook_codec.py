"""The state records' JSON form: declared once, encoded by msgspec, times as Python writes and reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kinkyu.core.playbook.codec import decode, encode
from kinkyu.core.playbook.containment import ContainmentCommand
from kinkyu.core.playbook.state import CommandRun, StepRun, Task

T = datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=9)))


def test_a_record_encodes_its_fields_in_declaration_order() -> None:
    assert list(encode(StepRun("first_report", "first_report"))) == [
        "step_id",
        "kind",
        "status",
        "due",
        "started_at",
        "sent_at",
        "done_at",
        "missed",
        "ack_escalated",
        "next_due",
        "sent",
        "note",
        "measure",
        "acknowledged_at",
        "received_at",
    ]


def test_a_utc_time_is_written_with_its_offset_as_before_not_as_z() -> None:
    step = StepRun("first_report", "first_report", due=datetime(2026, 11, 20, 1, 0, tzinfo=UTC))

    assert encode(step)["due"] == "2026-11-20T01:00:00+00:00"


@pytest.mark.parametrize("offset", [timedelta(hours=9), timedelta(hours=5, minutes=30, seconds=10), timedelta(0)])
def test_a_time_in_any_offset_python_accepts_comes_back_equal(offset: timedelta) -> None:
    task = Task("i-1", "submit-access-log", "contractor", T.astimezone(timezone(offset)), "city_instruction", None, T)

    back = decode(Task, encode(task))

    assert back == task
    assert back.due is not None
    assert back.due.utcoffset() == offset


def test_a_command_and_its_rules_come_back_as_they_were() -> None:
    command = ContainmentCommand(
        command_id="CMD-1",
        incident_id="INC-1",
        contract_id="c-1",
        action="disable_account",
        target_type="account",
        target="u1042",
        auto=False,
        reason="r",
        rules=("r",),
        step_id="s",
    )
    run = CommandRun(command, "failed", T, escalated=True)

    encoded = encode(run)

    assert encoded["command"]["rules"] == ["r"]
    assert decode(CommandRun, encoded) == run


def test_an_unknown_status_is_refused_as_a_value_error() -> None:
    encoded = encode(StepRun("first_report", "first_report"))
    encoded["status"] = "lost"

    with pytest.raises(ValueError, match="status"):
        decode(StepRun, encoded)
