"""Two notifiers, each with its own outbox, share one delivery ledger: a message goes out once between them.

The ledger here is :class:`kinkyu.notifiers.ledger.MemoryLedger` (one list of
records both notifiers append to and read); the Kafka ledger is exercised by
``tests/integration/test_failover_delivery.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import first_report_notification
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.ledger import LedgerRecord
from kinkyu.notifiers.ledger import MemoryLedger, reconcile, worker_id
from kinkyu.notifiers.model import DeliveryResult, OutboundEmail
from kinkyu.notifiers.service import Notifier, NotifierSettings

REPO = Path(__file__).resolve().parents[2]
PROFILES = load_profiles([REPO / "samples" / "contracts"])
KOGANEI = "koganei-2026-017"
INC = "INC-20261203-DABCDE12"
T0 = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Mailbox:
    """An SMTP server both workers reach: every message it accepted, by Message-ID."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        self.received.append(email.message_id)
        return DeliveryResult(key=email.key, channel="email", delivered_at=T0, detail="smtp-250")


class Timeline:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    async def __call__(self, incident_id: str, entry: TimelineEntry) -> None:
        del incident_id
        self.kinds.append(entry.kind)


def first_report() -> dict[str, Any]:
    return first_report_notification(INC, T0)


class World:
    """One SMTP server, one ledger, one clock; a notifier per worker folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.clock = Clock()
        self.mailbox = Mailbox()
        self.records: list[LedgerRecord] = []
        self.timelines: dict[str, Timeline] = {}
        self.ledgers: dict[str, MemoryLedger] = {}

    def notifier(self, name: str) -> Notifier:
        folder = self.tmp / name
        ledger = MemoryLedger(worker_id(folder), records=self.records, lease=LEASE, clock=self.clock)
        self.ledgers[name] = ledger
        timeline = self.timelines.setdefault(name, Timeline())
        return Notifier(
            settings=NotifierSettings(ack_secret=SecretStr("unit-test-ack-secret-0123456789"), outbox_dir=folder),
            profiles=lambda: PROFILES,
            email=self.mailbox,
            on_timeline=timeline,
            clock=self.clock,
            ledger=ledger,
        )


async def test_a_message_one_worker_delivered_is_not_sent_again_by_the_worker_that_takes_over(tmp_path: Path) -> None:
    world = World(tmp_path)
    a, b = world.notifier("a"), world.notifier("b")
    await a.handle(first_report())
    await a.deliver()
    # The survivor reads the same notifications record again (its offset was not committed).
    await b.handle(first_report())
    await b.deliver()
    assert len(world.mailbox.received) == 1
    assert b.counts()["sent"] == 1, "the survivor's outbox records it as sent, not pending"
    assert "message_sent" in world.timelines["b"].kinds, "the timeline hears of it even if the first worker died"
    a.close()
    b.close()


async def test_an_intent_without_a_delivery_makes_others_wait_out_its_lease_then_resend(tmp_path: Path) -> None:
    world = World(tmp_path)
    b = world.notifier("b")
    await b.handle(first_report())
    (entry,) = b.outbox.entries()
    # Another worker claimed it and died before the server answered: only its intent is on the ledger.
    world.records.append(LedgerRecord(entry.key, "intent", "dead-worker", T0, LEASE))

    await b.deliver()
    assert world.mailbox.received == [], "the claim is respected while its lease runs"
    assert b.outbox.get(entry.key).next_attempt_at == T0 + LEASE  # type: ignore[union-attr]

    world.clock.advance(LEASE.total_seconds())
    await b.deliver()
    assert len(world.mailbox.received) == 1, "past the lease the report is sent: never lost"
    b.close()


async def test_a_restarted_worker_records_what_the_survivor_delivered_without_sending_it(tmp_path: Path) -> None:
    world = World(tmp_path)
    a = world.notifier("a")
    await a.handle(first_report())
    (entry,) = a.outbox.entries()
    a.outbox.begin(entry.key, T0)  # killed mid-attempt, before the server answered
    a.close()
    b = world.notifier("b")
    world.clock.advance(LEASE.total_seconds())
    await b.handle(first_report())
    await b.deliver()

    restarted = world.notifier("a")
    assert restarted.outbox.get(entry.key).uncertain  # type: ignore[union-attr]
    await restarted.deliver()

    assert len(world.mailbox.received) == 1
    assert restarted.counts()["sent"] == 1
    b.close()
    restarted.close()


async def test_a_worker_resends_its_own_interrupted_attempt_without_waiting_for_its_lease(tmp_path: Path) -> None:
    world = World(tmp_path)
    a = world.notifier("a")
    await a.handle(first_report())
    (entry,) = a.outbox.entries()
    world.records.append(LedgerRecord(entry.key, "intent", world.ledgers["a"].worker, T0, LEASE))
    a.outbox.begin(entry.key, T0)
    a.close()

    restarted = world.notifier("a")
    await restarted.deliver()

    assert len(world.mailbox.received) == 1, "its own earlier run is gone: nobody else can be sending it"
    restarted.close()


async def test_nothing_is_sent_while_the_ledger_cannot_be_reached(tmp_path: Path) -> None:
    world = World(tmp_path)
    a = world.notifier("a")
    await a.handle(first_report())
    world.ledgers["a"].available = False
    await a.deliver()
    assert world.mailbox.received == []
    assert a.counts()["pending"] == 1, "still queued, not given up"

    world.ledgers["a"].available = True
    world.clock.advance(10)
    await a.deliver()
    assert len(world.mailbox.received) == 1
    a.close()


async def test_a_delivery_the_ledger_missed_is_recorded_at_the_next_start(tmp_path: Path) -> None:
    world = World(tmp_path)
    a = world.notifier("a")
    await a.handle(first_report())
    await a.deliver()
    (entry,) = a.outbox.entries()
    # Killed after the outbox said sent, before the delivered record reached the broker.
    del world.records[-1]
    a.close()

    restarted = world.notifier("a")
    assert await reconcile(world.ledgers["a"], restarted.outbox) == 1
    assert world.ledgers["a"].final(entry.key)
    restarted.close()


def test_a_worker_id_is_made_once_per_outbox_folder(tmp_path: Path) -> None:
    first = worker_id(tmp_path / "outbox")
    assert worker_id(tmp_path / "outbox") == first
    assert worker_id(tmp_path / "other") != first
