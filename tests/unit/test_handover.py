"""Escalation chains handed from worker to worker: two copies fold into one, and a new owner knows what it owes.

The pure rules are :mod:`kinkyu.core.handover`; the notifier side
(:meth:`kinkyu.notifiers.service.Notifier.take_over`) is exercised with two
notifiers, each with its own outbox, sharing an in-memory delivery ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import first_report_notification
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.ack import AckClaim
from kinkyu.core.escalation import EscalationError, EscalationState
from kinkyu.core.handover import decode_board, encode_board, merge_chain, merge_chains, told_sends
from kinkyu.core.ledger import LedgerRecord
from kinkyu.core.outbox import idempotency_key
from kinkyu.notifiers.exceptions import NotifierTransientError
from kinkyu.notifiers.ledger import MemoryLedger, worker_id
from kinkyu.notifiers.model import DeliveryResult, OutboundEmail
from kinkyu.notifiers.service import Notifier, NotifierSettings

REPO = Path(__file__).resolve().parents[2]
PROFILES = load_profiles([REPO / "samples" / "contracts"])
KOGANEI = "koganei-2026-017"
INC = "INC-20261203-DABCDE12"
T0 = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=10)


def chain() -> EscalationState:
    return EscalationState.start(
        "c1",
        INC,
        ladder=("city:0", "city:1", "city:2"),
        final=("contractor:0", "contractor:1"),
        ack_timeout=TIMEOUT,
        now=T0,
        payload={"notification": {"effect_id": "e1"}},
    )


# One step of a worker running its copy: seconds later, then carry out what is due, bump it, or acknowledge it.
steps = st.lists(
    st.tuples(st.integers(0, 1500), st.sampled_from(["next", "bump", "ack"]), st.sampled_from(["city:0", "city:1"])),
    max_size=8,
)


def run(moves: list[tuple[int, str, str]]) -> tuple[EscalationState, list[Any]]:
    """A copy of the chain driven by ``moves``, and every send its next_step calls made."""
    copy, now, made = chain(), T0, []
    for seconds, move, who in moves:
        now += timedelta(seconds=seconds)
        if move == "next":
            made.extend(copy.next_step(now))
        elif move == "bump":
            copy.bump(now)
        else:
            copy.acknowledge(who, now)
    return copy, made


def same(a: EscalationState, b: EscalationState) -> bool:
    return a.to_json() == b.to_json()


@given(steps, steps)
def test_merging_two_copies_does_not_depend_on_which_comes_first(a: Any, b: Any) -> None:
    x, y = run(a)[0], run(b)[0]
    assert same(merge_chain(x, y), merge_chain(y, x))


@given(steps, steps, steps)
def test_merging_three_copies_does_not_depend_on_how_they_are_grouped(a: Any, b: Any, c: Any) -> None:
    x, y, z = run(a)[0], run(b)[0], run(c)[0]
    assert same(merge_chain(merge_chain(x, y), z), merge_chain(x, merge_chain(y, z)))


@given(steps)
def test_merging_a_copy_with_itself_changes_nothing(a: Any) -> None:
    x = run(a)[0]
    assert same(merge_chain(x, x), x)


@given(steps, steps)
def test_a_merge_never_loses_a_stage_or_an_acknowledgement(a: Any, b: Any) -> None:
    x, y = run(a)[0], run(b)[0]
    merged = merge_chain(x, y)
    assert merged.stage == max(x.stage, y.stage), "no stage is carried out twice"
    assert merged.acknowledged == (x.acknowledged or y.acknowledged), "a chain stopped anywhere stays stopped"


@given(steps)
def test_the_sends_a_new_owner_checks_are_exactly_those_the_chain_made(moves: Any) -> None:
    copy, made = run(moves)
    assert told_sends(copy) == made


def test_merging_copies_of_two_different_chains_is_refused() -> None:
    other = EscalationState.start("c2", INC, ladder=("city:0",), ack_timeout=TIMEOUT, now=T0)
    with pytest.raises(EscalationError, match="copies of one chain"):
        merge_chain(chain(), other)


def test_merging_two_sides_keeps_every_chain_of_either() -> None:
    other = EscalationState.start("c2", INC, ladder=("city:0",), ack_timeout=TIMEOUT, now=T0)
    assert sorted(merge_chains([chain()], [chain(), other])) == ["c1", "c2"]


def test_a_board_round_trips_every_chain_of_its_incident() -> None:
    told = chain()
    told.next_step(T0)
    incident_id, chains = decode_board(encode_board(INC, [told]))
    assert incident_id == INC
    assert [c.to_json() for c in chains] == [told.to_json()]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{", "not JSON"),
        (b'{"v": 9, "incident_id": "x", "chains": []}', "no known format"),
        (b'{"v": 1, "chains": []}', "needs incident_id"),
        (orjson.dumps({"v": 1, "incident_id": "INC-other", "chains": [chain().to_json()]}), "another incident"),
    ],
)
def test_a_record_that_is_no_board_is_refused_naming_what_is_wrong(value: bytes, reason: str) -> None:
    with pytest.raises(EscalationError, match=reason):
        decode_board(value)


# -- two workers ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Mailbox:
    """An SMTP server: what it accepted, by Message-ID; ``down`` refuses connections."""

    def __init__(self) -> None:
        self.received: list[OutboundEmail] = []
        self.down = False

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        if self.down:
            raise NotifierTransientError("unreachable", code="connection")
        self.received.append(email)
        return DeliveryResult(key=email.key, channel="email", delivered_at=T0, detail="smtp-250")


def first_report() -> dict[str, Any]:
    return first_report_notification(INC, T0)


class Machines:
    """Two workers (an outbox folder and a mail server each) sharing one ledger and one clock."""

    def __init__(self, tmp: Path) -> None:
        self.clock = Clock()
        self.records: list[LedgerRecord] = []
        self.mail = {"a": Mailbox(), "b": Mailbox()}
        self.ledgers: dict[str, MemoryLedger] = {}
        self.notifiers = {name: self._notifier(tmp / name, name) for name in ("a", "b")}

    def _notifier(self, folder: Path, name: str) -> Notifier:
        ledger = MemoryLedger(worker_id(folder), records=self.records, lease=timedelta(seconds=60), clock=self.clock)
        self.ledgers[name] = ledger
        return Notifier(
            settings=NotifierSettings(ack_secret=SecretStr("unit-test-ack-secret-0123456789"), outbox_dir=folder),
            profiles=lambda: PROFILES,
            email=self.mail[name],
            clock=self.clock,
            ledger=ledger,
        )

    def received(self) -> list[str]:
        return [m.message_id for box in self.mail.values() for m in box.received]

    def close(self) -> None:
        for n in self.notifiers.values():
            n.close()


@pytest.fixture
def machines(tmp_path: Path) -> Any:
    m = Machines(tmp_path)
    yield m
    m.close()


async def test_a_message_queued_on_a_worker_that_is_gone_is_sent_once_by_the_worker_that_takes_its_chains(
    machines: Machines,
) -> None:
    a, b = machines.notifiers["a"], machines.notifiers["b"]
    machines.mail["a"].down = True
    await a.handle(first_report())
    await a.deliver()  # refused: the first report waits in a's outbox, and a's machine is then lost
    shared = a.chains.of_incident(INC)
    queued = await b.take_over(shared, machines.ledgers["b"].final)
    await b.deliver()
    assert queued == 1
    assert machines.received() == [], "a's attempt still holds it on the ledger: delayed, not lost"
    machines.clock.now += timedelta(seconds=61)  # a's lease has run out
    await b.deliver()
    assert len(machines.received()) == 1


async def test_a_message_the_old_owner_delivered_is_not_queued_again_by_the_new_one(machines: Machines) -> None:
    a, b = machines.notifiers["a"], machines.notifiers["b"]
    await a.handle(first_report())
    await a.deliver()
    queued = await b.take_over(a.chains.of_incident(INC), machines.ledgers["b"].final)
    assert queued == 0
    assert len(machines.received()) == 1


async def test_the_new_owner_continues_the_chain_to_the_next_contact_when_nobody_answers(machines: Machines) -> None:
    a, b = machines.notifiers["a"], machines.notifiers["b"]
    await a.handle(first_report())
    await a.deliver()
    await b.take_over(a.chains.of_incident(INC), machines.ledgers["b"].final)
    machines.clock.now += PROFILES[KOGANEI].response.ack_timeout
    await b.tick()
    to = [m.to for m in machines.mail["b"].received]
    assert len(to) == 1, "the next contact up is told by the new owner"
    assert to[0] == PROFILES[KOGANEI].city.contacts[1].email


async def test_a_link_to_a_message_the_old_owner_sent_stops_the_chain_on_the_new_owner(machines: Machines) -> None:
    a, b = machines.notifiers["a"], machines.notifiers["b"]
    await a.handle(first_report())
    await a.deliver()
    await b.take_over(a.chains.of_incident(INC), machines.ledgers["b"].final)
    (c,) = b.chains.of_incident(INC)
    key = idempotency_key(INC, c.chain_id, "city:0", "email")
    await b.acknowledge(AckClaim(INC, key, "city:0", T0 + timedelta(days=7)))
    (stopped,) = b.chains.of_incident(INC)
    assert stopped.acknowledged_by == "city:0"
    machines.clock.now += PROFILES[KOGANEI].response.ack_timeout
    await b.tick()
    assert machines.mail["b"].received == [], "nobody else is told"
