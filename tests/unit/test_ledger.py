"""The delivery ledger's rules (kinkyu.core.ledger): who may send a message, from the shared log alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinkyu.core.ledger import KeyState, LedgerBook, LedgerError, LedgerRecord, apply, decide

T0 = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
KEY = "0123456789abcdef0123456789abcdef"


def intent(worker: str, s: float, key: str = KEY, lease: timedelta = LEASE) -> LedgerRecord:
    return LedgerRecord(key, "intent", worker, T0 + timedelta(seconds=s), lease)


def final(worker: str, s: float, state: str = "delivered", key: str = KEY) -> LedgerRecord:
    return LedgerRecord(key, state, worker, T0 + timedelta(seconds=s), detail="250")  # type: ignore[arg-type]


def fold(*records: LedgerRecord) -> KeyState | None:
    state: KeyState | None = None
    for r in records:
        state = apply(state, r)
    return state


# -- one key, by example ---------------------------------------------------------------------------------


def test_a_key_nobody_claimed_is_to_be_claimed() -> None:
    assert decide(None, "a", T0).verdict == "claim"


def test_the_first_intent_holds_the_key_for_its_worker() -> None:
    state = fold(intent("a", 0))
    assert decide(state, "a", T0).verdict == "send"


def test_another_workers_intent_within_the_lease_loses() -> None:
    state = fold(intent("a", 0), intent("b", 10))
    assert decide(state, "b", T0 + timedelta(seconds=10)).verdict == "wait"
    assert decide(state, "a", T0 + timedelta(seconds=10)).verdict == "send"


def test_a_worker_waits_until_the_holders_lease_runs_out() -> None:
    state = fold(intent("a", 0), intent("b", 10))
    decision = decide(state, "b", T0 + timedelta(seconds=10))
    assert decision.until == T0 + LEASE
    assert decision.by == "a"


def test_an_intent_left_alone_past_its_lease_is_taken_over_so_the_message_is_never_lost() -> None:
    state = fold(intent("a", 0), intent("b", 61))
    assert decide(state, "b", T0 + timedelta(seconds=61)).verdict == "send"
    assert decide(state, "a", T0 + timedelta(seconds=61)).verdict == "wait"


def test_a_workers_new_intent_replaces_its_own_older_one_at_once() -> None:
    # A restarted worker (same outbox folder, same id) need not wait out its dead run's lease.
    state = fold(intent("a", 0), intent("b", 5), intent("a", 6))
    assert decide(state, "a", T0 + timedelta(seconds=6)).verdict == "send"


def test_a_delivered_record_settles_the_key_for_every_worker() -> None:
    state = fold(intent("a", 0), final("a", 1))
    for worker in ("a", "b"):
        decision = decide(state, worker, T0 + timedelta(seconds=2))
        assert (decision.verdict, decision.by, decision.detail) == ("delivered", "a", "250")


def test_a_given_up_record_settles_the_key_too() -> None:
    state = fold(intent("a", 0), final("a", 1, "failed"))
    assert decide(state, "b", T0 + timedelta(hours=1)).verdict == "failed"


def test_intents_after_the_final_record_change_nothing() -> None:
    state = fold(intent("a", 0), final("a", 1), intent("b", 200))
    assert decide(state, "b", T0 + timedelta(seconds=200)).verdict == "delivered"


def test_an_intent_after_the_final_record_asks_for_the_final_record_again() -> None:
    # Compaction keeps a key's last record: it must be the final one.
    state = fold(intent("a", 0), final("a", 1), intent("b", 2))
    assert decide(state, "b", T0 + timedelta(seconds=2)).restate
    assert not decide(fold(intent("a", 0), final("a", 1)), "b", T0).restate


# -- the record on the wire -----------------------------------------------------------------------------------


def test_a_record_reads_back_from_its_key_value_and_timestamp() -> None:
    for record in (intent("a", 0), final("b", 3)):
        assert LedgerRecord.parse(record.key.encode(), record.value(), record.at) == record


def test_a_records_value_holds_ids_codes_and_times_only() -> None:
    record = LedgerRecord(KEY, "delivered", "a", T0, detail="250 2.0.0 Ok: queued as ABC for yamada@example.jp")
    assert orjson.loads(record.value()) == {"v": 1, "state": "delivered", "worker": "a", "detail": "250"}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b"not json", "JSON"),
        (b"[]", "object"),
        (b'{"state": "sent", "worker": "a"}', "state"),
        (b'{"state": "intent"}', "worker"),
        (b'{"state": "intent", "worker": "a", "lease_ms": -1}', "lease_ms"),
    ],
)
def test_a_record_that_is_not_one_is_refused_naming_the_field(value: bytes, field: str) -> None:
    with pytest.raises(LedgerError, match=field):
        LedgerRecord.parse(KEY.encode(), value, T0)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(LedgerError, match="aware"):
        LedgerRecord(KEY, "intent", "a", datetime(2026, 12, 3, 5, 0), LEASE)  # noqa: DTZ001  # the naive time under test


# -- properties over any log ----------------------------------------------------------------------------------

WORKERS = ("a", "b", "c")
KEYS = ("k1", "k2")


@st.composite
def logs(draw: st.DrawFn) -> list[LedgerRecord]:
    """A log in append order: times never go back (the broker stamps them), any mix of keys, workers and states."""
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KEYS),
                st.sampled_from(WORKERS),
                st.sampled_from(("intent", "intent", "intent", "delivered", "failed")),
                st.integers(min_value=0, max_value=90),  # seconds since the previous record
                st.integers(min_value=1, max_value=120),  # the intent's lease, seconds
            ),
            max_size=40,
        )
    )
    out: list[LedgerRecord] = []
    at = T0
    for key, worker, state, gap, lease in steps:
        at += timedelta(seconds=gap)
        held = timedelta(seconds=lease) if state == "intent" else timedelta(0)
        out.append(LedgerRecord(key, state, worker, at, held))  # type: ignore[arg-type]
    return out


@given(logs())
def test_two_workers_never_hold_one_key_at_once(log: list[LedgerRecord]) -> None:
    # Each intent that makes its worker the holder starts a send; a second worker's only when the first's
    # lease has run out (or it is the same worker's later run), and never once the key is settled.
    book = LedgerBook()
    holders: dict[str, LedgerRecord] = {}
    for record in log:
        before = book.get(record.key)
        state = book.apply(record)
        won = record.state == "intent" and state.holder is record
        if not won:
            continue
        assert before is None or before.final is None, "no send starts after a final record"
        previous = holders.get(record.key)
        if previous is not None and previous.worker != record.worker:
            assert record.at >= previous.holds_until, "a second sender waits out the first one's lease"
        holders[record.key] = record


@given(logs())
def test_every_worker_reading_the_same_log_decides_the_same(log: list[LedgerRecord]) -> None:
    # The fold of a key depends on that key's records alone: reading the keys interleaved or one by one agrees.
    together = LedgerBook()
    for record in log:
        together.apply(record)
    for key in KEYS:
        alone = LedgerBook()
        for record in (r for r in log if r.key == key):
            alone.apply(record)
        assert alone.get(key) == together.get(key)


@given(logs())
def test_once_settled_a_key_stays_settled_whatever_follows(log: list[LedgerRecord]) -> None:
    book = LedgerBook()
    settled: dict[str, LedgerRecord] = {}
    for record in log:
        state = book.apply(record)
        if record.key in settled:
            assert state.final is settled[record.key]
        elif state.final is not None:
            settled[record.key] = state.final
    for key, record in settled.items():
        assert book.decide(key, "z", log[-1].at + timedelta(days=1)).verdict == record.state


@given(logs())
def test_restating_the_final_record_leaves_it_last_so_compaction_keeps_it(log: list[LedgerRecord]) -> None:
    book = LedgerBook()
    for record in log:
        book.apply(record)
    compacted: dict[str, LedgerRecord] = {}
    for key in KEYS:
        state = book.get(key)
        if state is None:
            continue
        last = state.last
        if state.restate:
            assert state.final is not None
            last = book.apply(state.final).last  # what the worker that noticed appends
        compacted[key] = last
    for key, last in compacted.items():
        state = book.get(key)
        assert state is not None
        if state.final is not None:
            # Compaction keeps only `last`: folding it alone settles the key the same way.
            kept = apply(None, last).final
            assert kept is not None
            assert kept.state == state.final.state


@given(logs(), st.sampled_from(WORKERS))
def test_a_held_key_makes_others_wait_no_longer_than_the_lease(log: list[LedgerRecord], worker: str) -> None:
    book = LedgerBook()
    for record in log:
        book.apply(record)
    now = log[-1].at if log else T0
    for key in KEYS:
        decision = book.decide(key, worker, now)
        if decision.verdict == "wait":
            state = book.get(key)
            assert state is not None
            assert state.holder is not None
            assert decision.until == state.holder.holds_until
            assert decision.until is not None
            assert decision.until > now
