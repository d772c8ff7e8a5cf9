"""A delivery pass takes the city's reports before other mail, so a burst's first reports are not queued behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from test_notifier_ledger import INC, PROFILES, Clock, Mailbox, first_report

from kinkyu.notifiers.service import Notifier, NotifierSettings


def task_mail(step: str) -> dict[str, Any]:
    """A task for the contractor's staff, queued before the first report."""
    return {
        **first_report(),
        "effect_id": f"{INC}/{step}/task_assigned/1",
        "step_id": step,
        "audience": "contractor",
        "kind": "task_assigned",
        "task_id": step,
        "written": False,
    }


async def test_a_pass_with_room_for_two_messages_takes_the_citys_report_before_a_second_earlier_task_mail(
    tmp_path: Path,
) -> None:
    mailbox, clock = Mailbox(), Clock()
    notifier = Notifier(
        settings=NotifierSettings(
            ack_secret=SecretStr("unit-test-ack-secret-0123456789"), outbox_dir=tmp_path, batch=2
        ),
        profiles=lambda: PROFILES,
        email=mailbox,
        clock=clock,
    )
    try:
        await notifier.handle(task_mail("recovery"))
        clock.advance(1)
        await notifier.handle(task_mail("recurrence_prevention"))
        clock.advance(1)
        await notifier.handle(first_report())
        clock.advance(1)
        kinds = {e.key: e.meta.get("kind") for e in notifier.outbox.entries()}

        await notifier.deliver()

        sent = [m.removeprefix("<kinkyu.").split("@")[0] for m in mailbox.received]
        # The earliest goes first (it finds a server that is down), then the report before the other task mail.
        assert [kinds[k] for k in sent] == ["task_assigned", "first_report"]
    finally:
        notifier.close()
