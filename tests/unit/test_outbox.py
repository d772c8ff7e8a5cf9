"""The outbox: idempotency keys, the retry schedule, transitions, and the journal that survives restarts."""

from __future__ import annotations

import asyncio
import errno
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from kinkyu.core.escalation import EscalationState
from kinkyu.core.outbox import (
    Backoff,
    Outbox,
    OutboxEntry,
    OutboxError,
    begin_attempt,
    failed,
    idempotency_key,
    new_entry,
    postpone,
    recover,
    succeeded,
)
from kinkyu.notifiers import journal
from kinkyu.notifiers.exceptions import OutboxJournalError
from kinkyu.notifiers.journal import Journal
from kinkyu.notifiers.outbox_store import ChainStore, OutboxStore

T0 = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
INC = "INC-20261121-0001"
EFFECT = f"{INC}/first_report/first_report/1"
BACKOFF = Backoff(base=timedelta(seconds=30), cap=timedelta(minutes=15), max_attempts=5)


def entry(recipient: str = "city:0", *, now: datetime = T0, effect: str = EFFECT) -> OutboxEntry:
    return new_entry(
        incident_id=INC,
        chain_id=effect,
        recipient=recipient,
        channel="email",
        payload={"subject": "s", "to": f"{recipient}@example.jp"},
        now=now,
        meta={"kind": "first_report"},
    )


# -- keys and schedule ------------------------------------------------------------------------


def test_the_idempotency_key_is_deterministic_and_tells_messages_apart() -> None:
    key = idempotency_key(INC, EFFECT, "city:0")
    assert key == idempotency_key(INC, EFFECT, "city:0", "email")
    assert len(key) == 32
    assert int(key, 16) >= 0
    others = {
        idempotency_key(INC, EFFECT, "city:1"),
        idempotency_key(INC, f"{INC}/escalate/1", "city:0"),
        idempotency_key("INC-20261121-0002", EFFECT, "city:0"),
        idempotency_key(INC, EFFECT, "city:0", "webhook"),
    }
    assert key not in others
    assert len(others) == 4


def test_the_backoff_doubles_up_to_its_cap_without_jitter() -> None:
    backoff = Backoff()
    assert [backoff.delay(n).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert backoff.delay(10_000) == timedelta(minutes=15)
    schedule = backoff.schedule()
    assert len(schedule) == backoff.max_attempts - 1
    # Thirty attempts cover an outage of hours, not minutes.
    assert sum(schedule, timedelta()) > timedelta(hours=6)


def test_a_backoff_must_make_sense() -> None:
    with pytest.raises(OutboxError):
        Backoff(base=timedelta(0))
    with pytest.raises(OutboxError):
        Backoff(base=timedelta(minutes=5), cap=timedelta(minutes=1))
    with pytest.raises(OutboxError):
        Backoff(max_attempts=0)


# -- transitions ---------------------------------------------------------------------------------


def test_a_new_entry_is_pending_and_due_at_once() -> None:
    e = entry()
    assert e.state == "pending"
    assert e.attempts == 0
    assert e.is_due(T0)
    assert e.key == idempotency_key(INC, EFFECT, "city:0", "email")


def test_success_after_an_attempt() -> None:
    e = begin_attempt(entry(), T0)
    assert e.in_flight
    assert e.attempts == 1
    assert not e.is_due(T0)
    done = succeeded(e, T0 + timedelta(seconds=1), "smtp-250")
    assert done.state == "sent"
    assert done.done
    assert not done.in_flight
    assert done.sent_at == T0 + timedelta(seconds=1)
    with pytest.raises(OutboxError, match="it is sent"):
        begin_attempt(done, T0)


def test_transient_failures_back_off_then_give_up_at_max_attempts() -> None:
    e = entry()
    now = T0
    waits = []
    for _ in range(BACKOFF.max_attempts - 1):
        e = failed(begin_attempt(e, now), now, error="connection", permanent=False, backoff=BACKOFF)
        assert e.state == "pending"
        waits.append(e.next_attempt_at - now)
        assert not e.is_due(now)
        now = e.next_attempt_at
        assert e.is_due(now)
    assert [w.total_seconds() for w in waits] == [30, 60, 120, 240]
    e = failed(begin_attempt(e, now), now, error="connection", permanent=False, backoff=BACKOFF)
    assert e.state == "failed"
    assert e.attempts == BACKOFF.max_attempts
    assert e.last_error == "connection"


def test_a_permanent_failure_gives_up_at_once() -> None:
    e = failed(begin_attempt(entry(), T0), T0, error="smtp-5xx", permanent=True, backoff=BACKOFF, detail="550")
    assert e.state == "failed"
    assert e.failed_at == T0
    assert e.detail == "550"


def test_postpone_moves_the_next_attempt_without_counting_one() -> None:
    e = postpone(entry(), T0 + timedelta(minutes=1))
    assert e.attempts == 0
    assert e.next_attempt_at == T0 + timedelta(minutes=1)
    assert postpone(e, T0).next_attempt_at == T0 + timedelta(minutes=1)  # never earlier


def test_recover_makes_an_interrupted_attempt_pending_and_uncertain() -> None:
    e = recover(begin_attempt(entry(), T0))
    assert e.state == "pending"
    assert not e.in_flight
    assert e.uncertain
    assert e.is_due(T0)
    assert recover(entry()) == entry()  # nothing to recover


def test_entries_round_trip_through_json() -> None:
    e = failed(begin_attempt(entry(), T0), T0, error="timeout", permanent=False, backoff=BACKOFF)
    assert OutboxEntry.from_json(orjson.loads(orjson.dumps(e.to_json()))) == e
    with pytest.raises(OutboxError, match="not an outbox entry"):
        OutboxEntry.from_json({"key": "k"})
    with pytest.raises(OutboxError, match="unknown outbox state"):
        OutboxEntry.from_json({**e.to_json(), "state": "lost"})


def test_the_outbox_dedupes_by_key_and_orders_due_entries() -> None:
    box = Outbox()
    a, b = entry("city:0"), entry("city:1", now=T0 - timedelta(seconds=5))
    for e in (a, b):
        assert box.accepts(e)
        box.put(e)
    assert not box.accepts(entry("city:0", now=T0 + timedelta(hours=1)))
    assert [e.recipient for e in box.due(T0)] == ["city:1", "city:0"]
    assert box.due(T0, limit=1) == [b]
    box.put(failed(begin_attempt(b, T0), T0, error="connection", permanent=False, backoff=BACKOFF))
    assert box.due(T0) == [a]
    assert box.next_due() == T0
    assert box.counts() == {"pending": 2, "sent": 0, "failed": 0}


# -- the journal and the stores ------------------------------------------------------------------


def test_the_store_replays_every_change_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    store = OutboxStore(path, backoff=BACKOFF, now=T0)
    a, b, c = entry("city:0"), entry("city:1"), entry("contractor:0")
    for e in (a, b, c):
        assert store.add(e)
    store.begin(a.key, T0)
    store.sent(a.key, T0, "smtp-250")
    store.begin(b.key, T0)
    store.failed(b.key, T0, error="connection", permanent=False)
    store.begin(c.key, T0)  # the process dies during this attempt
    store.close()

    again = OutboxStore(path, backoff=BACKOFF, now=T0 + timedelta(minutes=1))
    try:
        assert again.get(a.key) is not None
        assert again.get(a.key).state == "sent"  # type: ignore[union-attr]
        assert not again.add(entry("city:0"))  # sent: never queued (nor sent) again
        assert again.get(b.key).next_attempt_at == T0 + timedelta(seconds=30)  # type: ignore[union-attr]
        assert [e.key for e in again.recovered] == [c.key]
        assert again.get(c.key).uncertain  # type: ignore[union-attr]
        assert {e.key for e in again.due(T0 + timedelta(minutes=1))} == {b.key, c.key}
    finally:
        again.close()


def test_the_journal_is_compacted_on_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    store = OutboxStore(path, backoff=BACKOFF, now=T0)
    e = entry()
    store.add(e)
    store.begin(e.key, T0)
    store.sent(e.key, T0)
    store.close()
    assert len(path.read_bytes().splitlines()) == 3
    OutboxStore(path, backoff=BACKOFF, now=T0).close()
    assert len(path.read_bytes().splitlines()) == 1
    # Past the retention, delivered entries are dropped.
    OutboxStore(path, backoff=BACKOFF, now=T0 + timedelta(days=31)).close()
    assert path.read_bytes() == b""


def test_a_torn_last_line_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    store = OutboxStore(path, backoff=BACKOFF, now=T0)
    e = entry()
    store.add(e)
    store.close()
    with path.open("ab") as fh:
        fh.write(orjson.dumps(begin_attempt(e, T0).to_json())[:40])  # killed mid-write
    again = OutboxStore(path, backoff=BACKOFF, now=T0)
    try:
        got = again.get(e.key)
        assert got is not None
        assert got.attempts == 0
        assert not got.uncertain
    finally:
        again.close()


def test_damage_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n' + orjson.dumps(entry().to_json()) + b"\n")
    journal = Journal(path)
    try:
        with pytest.raises(OutboxJournalError, match="line 2"):
            journal.read()
    finally:
        journal.close()


def test_a_missing_newline_after_a_complete_record_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"a": 1}')
    journal = Journal(path)
    try:
        assert journal.read() == [{"a": 1}]
        journal.append({"b": 2})
        assert journal.read() == [{"a": 1}, {"b": 2}]
    finally:
        journal.close()


def test_one_process_per_journal(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    store = OutboxStore(path, now=T0)
    try:
        with pytest.raises(OutboxJournalError, match="another process"):
            OutboxStore(path, now=T0)
    finally:
        store.close()
    OutboxStore(path, now=T0).close()  # released on close


def test_a_journal_that_cannot_be_written_is_an_outbox_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = OutboxStore(tmp_path / "outbox.jsonl", now=T0)
    try:

        def broken_disk(path: Path, *, truncate: bool = False) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(journal, "_open", broken_disk)
        e = entry()
        with pytest.raises(OutboxJournalError, match="cannot append"):
            store.add(e)
        assert store.get(e.key) is None  # not in memory either: journal first
    finally:
        monkeypatch.undo()
        store.close()


async def test_a_disk_that_refuses_the_fsync_is_an_outbox_error_when_the_change_is_awaited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OutboxStore(tmp_path / "outbox.jsonl", now=T0)
    try:

        def broken_disk(fd: int) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(os, "fsync", broken_disk)
        store.add(entry())
        with pytest.raises(OutboxJournalError, match="cannot append"):
            await store.durable()
    finally:
        monkeypatch.undo()
        store.close()


async def test_one_fsync_covers_every_change_made_before_it_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OutboxStore(tmp_path / "outbox.jsonl", now=T0)
    fsyncs: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        fsyncs.append(fd)
        real(fd)

    try:
        monkeypatch.setattr(os, "fsync", counting)
        for n in range(5):
            store.add(entry(f"city:{n}"))
        await asyncio.gather(*(store.durable() for _ in range(5)))
        assert len(fsyncs) == 1
        await store.durable()  # nothing new: no fsync
        assert len(fsyncs) == 1
    finally:
        monkeypatch.undo()
        store.close()


def test_chains_survive_a_restart_and_copies_change_only_when_put(tmp_path: Path) -> None:
    path = tmp_path / "chains.jsonl"
    store = ChainStore(path, now=T0)
    chain = EscalationState.start("c1", INC, ladder=("city:0", "city:1"), ack_timeout=timedelta(minutes=30), now=T0)
    store.put(chain)
    copy = store.get("c1")
    assert copy is not None
    copy.next_step(T0)
    assert store.get("c1").stage == 0  # type: ignore[union-attr]
    store.put(copy)
    store.close()
    again = ChainStore(path, now=T0)
    try:
        restored = again.get("c1")
        assert restored == copy
        assert [c.chain_id for c in again.active()] == ["c1"]
    finally:
        again.close()
