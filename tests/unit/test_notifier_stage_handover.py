"""The notifier stage runs the chains of the partitions it owns, publishes them, and hands on what is not its own.

The broker is a recording sink and an in-memory chain reader here; the
real-broker scenario (a worker killed for good) is
``tests/integration/test_notify_handover.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from helpers import Mailbox, MemorySink
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.ack import AckClaim, make_ack_token, verify_ack_token
from kinkyu.core.escalation import EscalationState
from kinkyu.core.handover import decode_board
from kinkyu.core.ledger import LedgerRecord
from kinkyu.core.outbox import idempotency_key
from kinkyu.exceptions import MalformedEventError
from kinkyu.notifiers.ledger import MemoryLedger
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.reports.sample import CONTRACTS_DIR, playbooks
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import FORWARDED_ACK, NotifierStage
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

TOPICS = Topics("t-")
PROFILES = load_profiles([CONTRACTS_DIR])
PARTITIONS = 4


class Boards:
    """``kinkyu-chains`` in memory: the newest board per incident, read by partition."""

    def __init__(self, stage_of: NotifierStage) -> None:
        self.by_incident: dict[str, list[EscalationState]] = {}
        self.partition_of = stage_of.partition_of

    def publish(self, records: list[Record]) -> None:
        for r in records:
            incident_id, chains = decode_board(r.value)
            self.by_incident[incident_id] = chains

    async def __call__(self, parts: frozenset[int]) -> Mapping[str, list[EscalationState]]:
        return {i: c for i, c in self.by_incident.items() if self.partition_of(i) in parts}


class SharedLedger(MemoryLedger):
    """The delivery ledger every worker shares, in memory, with the lifecycle the stage calls."""

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to disconnect."""


SECRET = "unit-test-ack-secret-0123456789"


def stage(tmp_path: Path, name: str, reader: Any = None, records: list[LedgerRecord] | None = None) -> NotifierStage:
    ledger = SharedLedger(name, records=records)
    s = NotifierStage(
        topics=TOPICS,
        sink=MemorySink(),
        metrics=Metrics(),
        settings=NotifierSettings(
            ack_secret=SecretStr(SECRET),
            ack_base_url="http://127.0.0.1:9",
            outbox_dir=tmp_path / name,
        ),
        profiles=lambda: PROFILES,
        playbooks=playbooks(),
        email=Mailbox(),
        chain_reader=reader or (lambda parts: _nothing()),
        ledger=cast("Any", ledger),  # the stage's type is the Kafka ledger; this one behaves alike
    )
    s.partitions = PARTITIONS
    return s


async def _nothing() -> Mapping[str, list[EscalationState]]:
    return {}


def incident_on(s: NotifierStage, partition: int) -> str:
    return next(i for n in range(1000) if s.partition_of(i := f"INC-20261121-{n:04d}") == partition)


def notification(incident_id: str) -> bytes:
    return orjson.dumps(
        {
            "effect": "notify",
            "effect_id": f"{incident_id}/first_report/first_report/1",
            "incident_id": incident_id,
            "contract_id": "koganei-2026-017",
            "jurisdiction": "koganei",
            "step_id": "first_report",
            "audience": "city",
            "kind": "first_report",
            "due": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "urgency": "直ちに",
            "article": "第19条第1項",
            "queued_at": datetime.now(UTC).isoformat(),
        }
    )


def sink_of(s: NotifierStage) -> MemorySink:
    assert isinstance(s.sink, MemorySink)
    return s.sink


async def test_a_handled_record_has_its_chain_on_the_shared_topic_before_it_returns(tmp_path: Path) -> None:
    s = stage(tmp_path, "a")
    try:
        incident_id = incident_on(s, 0)
        await s.handle(notification(incident_id))
        (board,) = sink_of(s).on(TOPICS.chains)
        assert board.key == incident_id.encode(), "keyed by incident: its partition's next owner reads it"
        assert [c.stage for c in decode_board(board.value)[1]] == [1]
    finally:
        await s.stop()


async def test_a_link_opened_on_a_worker_that_does_not_own_the_incident_is_handed_to_its_owner(
    tmp_path: Path,
) -> None:
    s = stage(tmp_path, "a")
    try:
        s.assign([1])
        incident_id = incident_on(s, 0)
        expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)  # as a token carries it
        claim = AckClaim(incident_id, "k" * 32, "city:0", expires)
        await s._on_ack(claim)
        (handed,) = sink_of(s).on(TOPICS.notifications)
        assert handed.key == incident_id.encode(), "on the incident's partition, in order with its messages"
        token = orjson.loads(handed.value)[FORWARDED_ACK]["token"]
        assert verify_ack_token(token, SECRET, datetime.now(UTC)) == claim, "signed: the owner checks it again"
    finally:
        await s.stop()


async def leave_a_report_queued(old: NotifierStage, boards: Boards) -> None:
    """``old`` queues a first report for an incident of partition 2, publishes its chain, and dies before sending it."""
    old.assign(range(PARTITIONS))
    old.notifier.delivery.email = Mailbox()  # never called: the old owner dies before its delivery pass
    old._closed = True  # its kick does nothing any more: the message stays queued on the old machine
    await old.notifier.handle(orjson.loads(notification(incident_on(old, 2))))
    await old._publish()
    boards.publish(sink_of(old).on(TOPICS.chains))


async def test_a_new_owner_continues_the_chains_and_sends_the_mail_the_old_owner_left_queued(tmp_path: Path) -> None:
    records: list[LedgerRecord] = []
    old = stage(tmp_path, "old", records=records)
    boards = Boards(old)
    new = stage(tmp_path, "new", boards, records)
    try:
        await leave_a_report_queued(old, boards)
        await new.start()
        new.assign([2])
        await new._loaded.wait()
        await new.drain()  # the take-over kicked a pass
        await new.notifier.deliver()
        mailbox = new.notifier.delivery.email
        assert isinstance(mailbox, Mailbox)
        assert [m.key for m in mailbox.sent] == [e.key for e in old.notifier.outbox.entries()], "once, by the new owner"
    finally:
        old._closed = False
        await old.stop()
        await new.stop()


async def test_a_forwarded_link_to_a_message_another_worker_sent_stops_the_chain_on_the_owner(tmp_path: Path) -> None:
    records: list[LedgerRecord] = []
    a = stage(tmp_path, "a", records=records)
    boards = Boards(a)
    b = stage(tmp_path, "b", boards, records)
    try:
        incident_id = incident_on(a, 3)
        await a.handle(notification(incident_id))
        boards.publish(sink_of(a).on(TOPICS.chains))
        await b.start()
        b.assign([3])
        await b._loaded.wait()
        (chain,) = b.notifier.chains.of_incident(incident_id)
        key = idempotency_key(incident_id, chain.chain_id, "city:0", "email")
        token = make_ack_token(incident_id, key, "city:0", datetime.now(UTC) + timedelta(days=1), SECRET)
        await b.handle(orjson.dumps({"incident_id": incident_id, FORWARDED_ACK: {"token": token}}))
        (stopped,) = b.notifier.chains.of_incident(incident_id)
        assert stopped.acknowledged_by == "city:0"
        (last,) = [r for r in sink_of(b).on(TOPICS.chains) if r.key == incident_id.encode()][-1:]
        assert decode_board(last.value)[1][0].acknowledged, "published: the next owner knows it stopped"
    finally:
        await asyncio.gather(a.stop(), b.stop())


async def test_a_forwarded_acknowledgement_not_signed_with_the_shared_secret_is_refused_and_the_chain_runs_on(
    tmp_path: Path,
) -> None:
    s = stage(tmp_path, "a")
    try:
        incident_id = incident_on(s, 0)
        await s.handle(notification(incident_id))
        (chain,) = s.notifier.chains.of_incident(incident_id)
        key = idempotency_key(incident_id, chain.chain_id, "city:0", "email")
        forged = make_ack_token(incident_id, key, "city:0", datetime.now(UTC) + timedelta(days=1), "x" * 32)
        with pytest.raises(MalformedEventError, match="secret"):
            await s.handle(orjson.dumps({"incident_id": incident_id, FORWARDED_ACK: {"token": forged}}))
        (running,) = s.notifier.chains.of_incident(incident_id)
        assert not running.acknowledged, "a record on the topic alone cannot stop a chain"
    finally:
        await s.stop()


class SlowBoards(Boards):
    """``kinkyu-chains`` read slowly: a rebalance begins (and revokes) while the read is on its way."""

    def __init__(self, stage_of: NotifierStage) -> None:
        super().__init__(stage_of)
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, parts: frozenset[int]) -> Mapping[str, list[EscalationState]]:
        self.reading.set()
        await self.release.wait()
        return await super().__call__(parts)


async def test_a_partition_revoked_while_its_chains_are_read_and_kept_by_the_rebalance_still_gets_them(
    tmp_path: Path,
) -> None:
    records: list[LedgerRecord] = []
    old = stage(tmp_path, "old", records=records)
    boards = SlowBoards(old)
    new = stage(tmp_path, "new", boards, records)
    try:
        await leave_a_report_queued(old, boards)
        await new.start()
        new.assign([0, 2])
        await boards.reading.wait()
        new.revoke([0, 2])  # the next rebalance begins before the read returns
        boards.release.set()
        await new._loaded.wait()
        new.assign([2])  # and ends with partition 2 kept: not read again
        await new.drain()
        await new.notifier.deliver()
        mailbox = new.notifier.delivery.email
        assert isinstance(mailbox, Mailbox)
        assert [m.key for m in mailbox.sent] == [e.key for e in old.notifier.outbox.entries()], "the report goes out"
    finally:
        old._closed = False
        await old.stop()
        await new.stop()
