"""A delivery pass takes the city's reports before other mail, so a burst's first reports are not queued behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from test_notifier_ledger import INC, PROFILES, Clock, Mailbox, first_report

from kinkyu.notifiers.service import Notifier, NotifierSettings


def task_mail() -> dict[str, Any]:
    """A task for the contractor's staff, queued before the first report."""
    return {
        **first_report(),
        "effect_id": f"{INC}/recovery/task_assigned/1",
        "step_id": "recovery",
        "audience": "contractor",
        "kind": "task_assigned",
        "task_id": "recovery",
        "written": False,
    }


async def test_a_pass_with_room_for_one_message_sends_the_citys_report_before_an_earlier_task_mail(
    tmp_path: Path,
) -> None:
    mailbox, clock = Mailbox(), Clock()
    notifier = Notifier(
        settings=NotifierSettings(
            ack_secret=SecretStr("unit-test-ack-secret-0123456789"), outbox_dir=tmp_path, batch=1
        ),
        profiles=lambda: PROFILES,
        email=mailbox,
        clock=clock,
    )
    try:
        await notifier.handle(task_mail())
        clock.advance(1)
        await notifier.handle(first_report())
        clock.advance(1)
        reports = {e.key for e in notifier.outbox.entries() if e.meta.get("kind") == "first_report"}

        await notifier.deliver()

        (sent,) = mailbox.received
        assert sent.removeprefix("<kinkyu.").split("@")[0] in reports, "the report, not the earlier task mail"
    finally:
        notifier.close()
