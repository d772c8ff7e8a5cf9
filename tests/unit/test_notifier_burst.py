"""A burst of incidents: the notifier stage takes records in batches and delivery passes overlap (issue #14).

A batch of ``notifications`` records waits for the broker once (every chain
it changed on ``kinkyu-chains`` in one send), a record the stage fails on is
set aside alone; a report queued while a pass waits on a slow server answer
goes out in the next pass, and one incident's messages still go in order.
The broker is a recording sink; the real-broker path is the failover test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from helpers import first_report_notification
from pydantic import SecretStr
from test_delivery_order import task_mail
from test_notifier_ledger import INC, PROFILES, Clock, first_report

from kinkyu.core.escalation import EscalationState
from kinkyu.core.handover import decode_board
from kinkyu.notifiers.model import DeliveryResult, OutboundEmail
from kinkyu.notifiers.service import Notifier, NotifierSettings
from kinkyu.reports.sample import playbooks
from kinkyu.streams.guard import RecordGuard
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import NotifierStage
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

TOPICS = Topics("t-")
SECRET = SecretStr("unit-test-ack-secret-0123456789")
OTHER = "INC-20261203-DOTHER34"
THIRD = "INC-20261203-DTHIRD56"


class Sends:
    """A sink that keeps each ``send_all`` call apart: how many waits for the broker, with what."""

    def __init__(self) -> None:
        self.calls: list[list[Record]] = []

    async def send_all(self, records: Sequence[Record]) -> None:
        self.calls.append(list(records))

    def to(self, topic: str) -> list[list[Record]]:
        return [[r for r in call if r.topic == topic] for call in self.calls if any(r.topic == topic for r in call)]


class Accepting:
    """An SMTP server that accepts every message at once."""

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        return DeliveryResult(key=email.key, channel="email", delivered_at=datetime.now(UTC), detail="250")


@dataclass
class Message:
    """What the guard reads of a faust message."""

    value: bytes | None
    offset: int
    topic: str = TOPICS.notifications
    partition: int = 0
    key: bytes | None = None


async def _no_chains(parts: frozenset[int]) -> Mapping[str, list[EscalationState]]:
    del parts
    return {}


def stage_and_guard(tmp_path: Path) -> tuple[NotifierStage, RecordGuard, Sends]:
    sink, metrics = Sends(), Metrics()
    stage = NotifierStage(
        topics=TOPICS,
        sink=sink,
        metrics=metrics,
        settings=NotifierSettings(ack_secret=SECRET, ack_base_url="http://127.0.0.1:9", outbox_dir=tmp_path),
        profiles=lambda: PROFILES,
        playbooks=playbooks(),
        email=Accepting(),
        chain_reader=_no_chains,
    )
    return stage, RecordGuard(stage="notifier", topics=TOPICS, sink=sink, metrics=metrics), sink


def report_of(incident_id: str) -> bytes:
    return orjson.dumps(first_report_notification(incident_id, datetime.now(UTC)))


async def test_a_batch_of_records_publishes_every_chain_it_made_in_one_wait_for_the_broker(tmp_path: Path) -> None:
    stage, guard, sink = stage_and_guard(tmp_path)
    incidents = [f"INC-20261203-DBURST{n}A" for n in range(3)]
    try:
        await stage.handle_batch([Message(report_of(i), n) for n, i in enumerate(incidents)], guard.run)

        [published] = sink.to(TOPICS.chains)
        assert sorted(decode_board(r.value)[0] for r in published) == incidents
    finally:
        await stage.stop()


async def test_a_record_the_stage_fails_on_is_set_aside_alone_and_the_rest_of_its_batch_goes_on(
    tmp_path: Path,
) -> None:
    stage, guard, sink = stage_and_guard(tmp_path)
    try:
        batch = [Message(report_of(INC), 0), Message(b"{not json", 1), Message(report_of(OTHER), 2)]
        await stage.handle_batch(batch, guard.run)

        [dead] = [r for call in sink.to(TOPICS.dead_letters) for r in call]
        assert dict(dead.headers)["kinkyu-stage"] == b"notifier"
        [published] = sink.to(TOPICS.chains)
        assert sorted(decode_board(r.value)[0] for r in published) == sorted([INC, OTHER])
    finally:
        await stage.stop()


class Held:
    """An SMTP server whose answer for one incident waits until the test releases it."""

    def __init__(self, slow: str) -> None:
        self.slow = slow
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()
        self.received: list[tuple[str, str]] = []  # incident, kind

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        incident = email.headers["X-Kinkyu-Incident"]
        if incident == self.slow:
            self.waiting.set()
            await self.release.wait()
        self.received.append((incident, email.headers["X-Kinkyu-Kind"]))
        return DeliveryResult(key=email.key, channel="email", delivered_at=datetime.now(UTC), detail="250")


def held_notifier(tmp_path: Path, server: Held) -> Notifier:
    return Notifier(
        settings=NotifierSettings(ack_secret=SECRET, outbox_dir=tmp_path), profiles=lambda: PROFILES, email=server
    )


async def test_a_report_queued_while_a_pass_waits_on_a_slow_answer_goes_out_in_the_next_pass(tmp_path: Path) -> None:
    server = Held(slow=INC)
    notifier = held_notifier(tmp_path, server)
    try:
        await notifier.handle(first_report())
        first = asyncio.ensure_future(notifier.deliver())
        await server.waiting.wait()
        await notifier.handle({**first_report(), "incident_id": OTHER, "effect_id": f"{OTHER}/first_report/1"})

        assert await notifier.deliver() == 1
        assert server.received == [(OTHER, "first_report")]

        server.release.set()
        assert await first == 1
        assert sorted(server.received) == sorted([(OTHER, "first_report"), (INC, "first_report")])
    finally:
        notifier.close()


async def test_an_incidents_next_message_waits_for_the_pass_sending_its_earlier_one(tmp_path: Path) -> None:
    server, clock = Held(slow=INC), Clock()
    notifier = Notifier(
        settings=NotifierSettings(ack_secret=SECRET, outbox_dir=tmp_path),
        profiles=lambda: PROFILES,
        email=server,
        clock=clock,
    )
    try:
        await notifier.handle(first_report())
        first = asyncio.ensure_future(notifier.deliver())
        await server.waiting.wait()
        clock.advance(1)
        await notifier.handle(task_mail("recovery"))

        assert await notifier.deliver() == 0, "the same incident's later mail does not overtake its report"

        server.release.set()
        await first
        await notifier.deliver()
        assert server.received == [(INC, "first_report"), (INC, "task_assigned")]
    finally:
        notifier.close()


def report_for(incident_id: str) -> dict[str, object]:
    return {**first_report(), "incident_id": incident_id, "effect_id": f"{incident_id}/first_report/1"}


async def test_a_report_waiting_for_a_slot_goes_before_another_incidents_task_mail(tmp_path: Path) -> None:
    server, clock = Held(slow="nobody"), Clock()
    notifier = Notifier(
        settings=NotifierSettings(ack_secret=SECRET, outbox_dir=tmp_path, concurrency=1),
        profiles=lambda: PROFILES,
        email=server,
        clock=clock,
    )
    try:
        for body in (report_for(OTHER), first_report(), task_mail("recovery"), report_for(THIRD)):
            await notifier.handle(body)
            clock.advance(1)

        await notifier.deliver()

        assert server.received == [
            (OTHER, "first_report"),  # the earliest, alone
            (INC, "first_report"),
            (THIRD, "first_report"),  # before INC's task mail, which waited for the one slot behind it
            (INC, "task_assigned"),
        ]
    finally:
        notifier.close()


async def test_the_queued_gauge_counts_a_batchs_mail_as_soon_as_the_batch_is_handled(tmp_path: Path) -> None:
    stage, guard, _ = stage_and_guard(tmp_path)
    try:
        await stage.handle_batch([Message(report_of(INC), 0), Message(report_of(OTHER), 1)], guard.run)

        # Before any pass or tick: a drain check reading the gauge must see them.
        assert stage.metrics.registry.get_sample_value("kinkyu_messages_queued") == 2
    finally:
        await stage.stop()
