"""The detection stage's per-batch path, given hostile batches: outputs or dead letters, never an exception.

``streams.detector.process_batch`` is the stage without a broker; these
properties feed it batches of mutated events (shared/spec/events.md's shape,
written by an attacker) and arbitrary bytes, and hold what the worker relies
on: it returns; every message is accounted for exactly once; every record it
returns can be sent (bounded size, headers that name no value); the engine it
leaves behind can be checkpointed, restored, and moved on by the clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import pytest
from builders import sample_policies
from hostile import (
    CHIBA,
    KOGANEI,
    OPEN_BUGS,
    PLANTED,
    access_bases,
    access_wire,
    any_bytes,
    emit,
    examples,
    incident_bases,
    incident_wire,
)
from hypothesis import given
from hypothesis import strategies as st

from kinkyu.core.engine import Engine
from kinkyu.core.wire import decode_access, decode_incident
from kinkyu.streams.codec import DLQ_REASON
from kinkyu.streams.detector import BatchResult, TopicKind, process_batch
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import CHECKPOINT_MAX_BYTES, Record

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

TOPICS = Topics("fuzz-")
POLICIES = sample_policies()
# The reasons a dead letter of the detection stage may carry; a new one must be added here on purpose.
STAGE_REASONS = frozenset(
    {
        "bad-json",
        "invalid",
        "out-of-range",
        "future-timestamp",
        "unknown-contract",
        "unknown-incident",
        "contract-mismatch",
        "unknown-data-item",
        "too-deep",
        "encode-error",
        "processing-error",
    }
)
# "processing-error" is the stage's name for a bug: an error-level log line with a traceback. Hostile
# input must find a reason of its own, never that one.
BUG = "processing-error"


@dataclass(frozen=True, slots=True)
class Msg:
    """A consumed message as process_batch reads it."""

    key: bytes | None
    value: bytes | None
    offset: int


def fresh_engine() -> Engine:
    """An engine over the sample contracts that has already opened the base filing's incident."""
    engine = Engine(POLICIES)
    run(engine, "incident", [emit(incident_bases()[0])])
    return engine


def run(engine: Engine, kind: TopicKind, values: Sequence[bytes | None], *, now: float | None = None) -> BatchResult:
    messages = [Msg(b"key", None if v is None else bytes(v), offset) for offset, v in enumerate(values)]
    clock = time.time() if now is None else now
    decode = partial(decode_access if kind == "access" else decode_incident, now=clock)
    return process_batch(engine, kind, messages, TOPICS, source=f"fuzz-{kind}", partition=0, decode=decode)


def sendable(result: BatchResult, batch_size: int) -> None:
    """What the stage sends for a batch: each message once, every record within the broker's limits."""
    set_aside = [d.offset for d in result.dead_letters]
    assert len(set_aside) == len(set(set_aside))
    assert all(0 <= o < batch_size for o in set_aside)
    for dead in result.dead_letters:
        assert dead.reason in STAGE_REASONS
        if dead.reason == BUG:
            assert dead.error in OPEN_BUGS, f"a bug ({dead.error}) instead of a reason:\n{dead.stack}"
        assert dict(dead.record.headers)[DLQ_REASON] == dead.reason.encode()
    for record, source in zip(result.records, result.sources, strict=True):
        assert isinstance(record, Record)
        size = len(record.value) + len(record.key or b"") + sum(len(k) + len(v) for k, v in record.headers)
        assert size <= CHECKPOINT_MAX_BYTES
        for _, header in record.headers:
            assert PLANTED.encode() not in header
        if record.topic != TOPICS.dead_letters:
            orjson.loads(record.value)
            # A message set aside contributes nothing else: its outputs would be sent twice on a retry.
            assert source not in set_aside


def checkpoint_round_trip(engine: Engine) -> Engine:
    """The engine's state as the stage checkpoints it, restored into a fresh engine (a restart)."""
    body = orjson.dumps({"v": 1, "partition": 0, "offsets": {}, "engine": engine.snapshot()})
    assert len(body) <= CHECKPOINT_MAX_BYTES
    restored = Engine(POLICIES)
    restored.restore(orjson.loads(body)["engine"])
    return restored


def clock_moves_on(engine: Engine) -> None:
    """The tick: event time runs on to an hour, then a month, from now, and what it fires can be written."""
    for ahead in (3600.0, 30 * 86400.0):
        out = engine.advance(time.time() + ahead)
        for finding in out.findings:
            orjson.dumps(finding.to_json())


batches_of = partial(st.lists, min_size=1, max_size=8)


@examples(60)
@given(batches_of(access_wire()))
def test_a_batch_of_hostile_access_events_gives_outputs_or_dead_letters(values: list[bytes]) -> None:
    engine = fresh_engine()
    sendable(run(engine, "access", values), len(values))


@examples(60)
@given(batches_of(incident_wire()))
def test_a_batch_of_hostile_incident_events_gives_outputs_or_dead_letters(values: list[bytes]) -> None:
    engine = fresh_engine()
    sendable(run(engine, "incident", values), len(values))


@examples(60)
@given(batches_of(any_bytes()), st.sampled_from(["access", "incident"]))
def test_a_batch_of_arbitrary_bytes_gives_dead_letters_with_reasons(values: list[bytes], kind: TopicKind) -> None:
    engine = fresh_engine()
    sendable(run(engine, kind, values), len(values))


@examples(30)
@given(batches_of(access_wire()), batches_of(incident_wire()))
def test_after_any_hostile_batches_the_engine_checkpoints_restores_and_its_clock_moves_on(
    accesses: list[bytes], filings: list[bytes]
) -> None:
    engine = fresh_engine()
    run(engine, "access", accesses)
    run(engine, "incident", filings)
    clock_moves_on(checkpoint_round_trip(engine))
    clock_moves_on(engine)


@examples(30)
@given(batches_of(access_wire(), max_size=4))
def test_hostile_events_do_not_hide_a_breach_sent_after_them(values: list[bytes]) -> None:
    engine = fresh_engine()
    run(engine, "access", values)
    breach = {**access_bases()[1], "event_id": "planted-breach", "ts": time_now_text()}
    after = run(engine, "access", [emit(breach)])
    assert not after.dead_letters
    assert any("planted-breach" in f.event_ids for f in after.output.findings)


def time_now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


# -- what the properties found, pinned one by one ------------------------------------------------------


def _beat(ts: str, **changes: Any) -> bytes:
    return emit({**access_bases()[4], "event_id": f"beat-{ts}", "ts": ts, **changes})


@pytest.mark.parametrize(
    "ts",
    ["0001-01-01T00:00:00+23:59", "0182-12-08T03:12:18-00:55", "9999-12-31T23:59:59-23:59"],
    ids=["year-1-east", "year-182", "year-9999-west"],
)
def test_a_heartbeat_at_the_edge_of_the_calendar_is_refused_and_the_outage_clock_runs_on(ts: str) -> None:
    # Before the wire bounds it was accepted: the outage rule then raised (year 0 / 10000) on every
    # advance of that partition, so no outage was ever seen again and every tick raised.
    engine = fresh_engine()
    result = run(engine, "access", [_beat(ts)])
    assert [d.reason for d in result.dead_letters] in (["out-of-range"], ["future-timestamp"])
    clock_moves_on(engine)


def test_events_of_a_megabyte_each_do_not_grow_a_checkpoint_past_the_topic_limit() -> None:
    # Each under the 1 MiB a producer sends by default, each from a different unregistered account:
    # every one opens its own incident holding the account id twice, and the engine keeps them all
    # for the correlation hour. 20 of them made a 36 MB checkpoint, which no broker takes.
    engine = fresh_engine()
    reads = [
        emit({**access_bases()[1], "event_id": f"big-{k}", "actor": {"id": f"{k:02d}" + "A" * 900_000, "org": "acme"}})
        for k in range(20)
    ]
    for value in reads:
        run(engine, "access", [value])
    checkpoint_round_trip(engine)


@pytest.mark.parametrize("contract", [KOGANEI, CHIBA])
def test_a_follow_up_naming_an_incident_that_does_not_exist_names_no_value(contract: str) -> None:
    follow_up = {**incident_bases()[1], "contract_id": contract, "incident_id": f"INC-{PLANTED}"}
    result = run(fresh_engine(), "incident", [emit(follow_up)])
    assert [d.reason for d in result.dead_letters] == ["unknown-incident"]
    sendable(result, 1)


def test_an_event_for_a_contract_nobody_loaded_names_no_value() -> None:
    event = {**access_bases()[0], "contract_id": PLANTED}
    result = run(fresh_engine(), "access", [emit(event)])
    assert [d.reason for d in result.dead_letters] == ["unknown-contract"]
    sendable(result, 1)
