"""No single record can stop a stage: the detection stage's per-batch path, dead letters, the sink, the agents' guard.

Whatever one message holds, and whatever goes wrong decoding it, processing
it or writing its outputs, that message (and only it) becomes a bounded dead
letter with a reason code, and the stage goes on (issue #12).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from builders import KOGANEI, PLANTED, WORKDAY, at, dumps, incident_example, quiet_read, read_event, sample_policies
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.core.engine import Engine
from kinkyu.core.model import AccessEvent
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.wire import decode_access, decode_incident
from kinkyu.exceptions import MalformedEventError
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.reports.sample import CONTRACTS_DIR, playbooks
from kinkyu.streams.codec import (
    DEAD_LETTER_MAX_KEY,
    DEAD_LETTER_MAX_VALUE,
    DETAIL_MAX,
    DLQ_DETAIL,
    DLQ_KEY_TRUNCATED,
    DLQ_REASON,
    DLQ_SOURCE,
    DLQ_STAGE,
    DLQ_TRUNCATED,
    dead_letter,
    json_safe,
)
from kinkyu.streams.detector import DetectorStage, TopicKind, _Partition, process_batch
from kinkyu.streams.exceptions import BrokerError, RecordRejectedError
from kinkyu.streams.guard import IncidentFeed, RecordGuard
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import NotifierStage
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import KafkaSink, Record

TOPICS = Topics("t-")
HUGE = 2**64  # one past what a 64-bit JSON writer holds


@dataclass(frozen=True)
class Msg:
    value: bytes | None
    offset: int
    key: bytes | None = None
    topic: str = "t-access-log"
    partition: int = 0


def _msgs(*values: bytes | None) -> list[Msg]:
    return [Msg(v, i) for i, v in enumerate(values)]


def _batch(engine: Engine, *values: bytes | None, kind: TopicKind = "access", decode: Any = None) -> Any:
    return process_batch(
        engine,
        kind,
        _msgs(*values),
        TOPICS,
        source=f"t-{kind}",
        partition=0,
        decode=decode,
    )


def _engine() -> Engine:
    return Engine(sample_policies(), rules=[UnregisteredActor()])


def _huge_read(event_id: str, clock: str) -> AccessEvent:
    # Past the wire's own bounds: the stage must hold even if something lets such a value through.
    return msgspec.structs.replace(read_event(event_id, at(WORKDAY, clock)), records=HUGE)


def _decoder(events: dict[bytes, AccessEvent]) -> Any:
    return lambda raw: events[raw] if raw in events else decode_access(raw)


def _reasons(result: Any) -> list[str]:
    return [d.reason for d in result.dead_letters]


# -- the detection stage's per-batch path --------------------------------------------------------


def test_an_event_whose_finding_cannot_be_written_is_an_encode_error_and_the_breach_after_it_is_found() -> None:
    engine = _engine()
    decode = _decoder({b"huge": _huge_read("e1", "10:00")})
    breach = dumps(quiet_read("e2", at(WORKDAY, "10:05"), actor="u8888"))

    result = _batch(engine, b"huge", breach, decode=decode)

    assert _reasons(result) == ["encode-error"]
    assert result.dead_letters[0].offset == 0
    assert [f.event_ids for f in result.output.findings] == [("e2",)]
    opened = [orjson.loads(r.value) for r in result.records if r.topic == TOPICS.incidents]
    assert [(i["actor"], i["change"]) for i in opened] == [("u8888", "opened")]


def test_after_an_encode_error_the_engine_state_can_be_checkpointed_and_restored() -> None:
    engine = _engine()
    decode = _decoder({b"huge": _huge_read("e1", "10:00")})

    result = _batch(engine, b"huge", decode=decode)

    assert result.healed
    restored = _engine()
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    later = restored.on_access(read_event("e3", at(WORKDAY, "10:10")))
    assert orjson.dumps([i.to_json() for i in later.incidents])


def test_an_incident_holding_an_unwritable_value_is_still_sent_later_written_within_range() -> None:
    engine = _engine()
    # The first event's own finding is written; the sum it leaves behind is what cannot be.
    engine.on_access(msgspec.structs.replace(read_event("e1", at(WORKDAY, "10:00")), records=2**63))
    later = dumps(quiet_read("e2", at(WORKDAY, "10:01")))

    result = _batch(engine, later, decode=lambda raw: msgspec.structs.replace(decode_access(raw), records=2**63))

    assert _reasons(result) == []
    [incident] = [orjson.loads(r.value) for r in result.records if r.topic == TOPICS.incidents]
    assert incident["records"] == 2**63 - 1
    assert result.repaired == 1


def test_a_10000_deep_object_is_a_dead_letter_on_either_input_never_an_exception() -> None:
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000

    kinds: tuple[TopicKind, ...] = ("access", "incident")
    for kind in kinds:
        result = _batch(_engine(), deep, kind=kind)

        assert _reasons(result) in (["too-deep"], ["bad-json"])
        assert result.dead_letters[0].error is None, "malformed input, not a bug"


def test_a_message_without_a_value_is_a_bad_json_dead_letter() -> None:
    result = _batch(_engine(), None)

    assert _reasons(result) == ["bad-json"]


def test_a_failure_inside_the_engine_is_a_processing_error_that_names_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()

    def broken(ev: object) -> None:
        raise KeyError(PLANTED)

    monkeypatch.setattr(engine, "on_access", broken)
    good = dumps(quiet_read("e1", at(WORKDAY, "10:00")))

    [dead] = _batch(engine, good).dead_letters

    assert dead.reason == "processing-error"
    assert dead.error == "KeyError"
    assert dead.stack is not None
    assert PLANTED not in dead.stack
    assert all(PLANTED.encode() not in v for v in dict(dead.record.headers).values())


def test_every_message_is_either_in_the_outputs_or_a_dead_letter_and_dead_letters_come_first() -> None:
    engine = _engine()
    values = [
        dumps(quiet_read("e1", at(WORKDAY, "10:00"))),
        b"not json",
        dumps(quiet_read("e2", at(WORKDAY, "10:01"), contract_id="nowhere-2026-001")),
        dumps(quiet_read("e3", at(WORKDAY, "10:02"))),
    ]

    result = _batch(engine, *values)

    assert [(d.offset, d.reason) for d in result.dead_letters] == [(1, "bad-json"), (2, "unknown-contract")]
    assert [r.topic for r in result.records] == [
        TOPICS.dead_letters,
        TOPICS.dead_letters,
        TOPICS.findings,
        TOPICS.findings,
        TOPICS.incidents,  # one record per incident changed in the batch: its final state
    ]
    assert result.sources == [1, 2, 0, 3, 3]


def test_an_opened_filing_is_written_with_its_event_and_a_follow_up_after_it() -> None:
    engine = _engine()
    opening = incident_example()
    opening.update(event_id="f1", ts=at(WORKDAY, "10:00"))

    result = _batch(engine, dumps(opening), kind="incident", decode=decode_incident)

    assert _reasons(result) == []
    assert [orjson.loads(r.value)["change"] for r in result.records] == ["opened"]


# -- dead letters: bounded, and naming fields, never values -----------------------------------------


def test_a_dead_letter_of_an_oversized_event_is_cut_and_says_how_large_the_original_was() -> None:
    value = b"x" * 8_500_000
    key = b"k" * 8_500_000

    record = dead_letter(
        TOPICS, source="t-access-log", partition=0, offset=9, key=key, value=value,
        error=MalformedEventError("unknown-contract", "contract_id is not among the loaded contract profiles"),
    )  # fmt: skip

    headers = dict(record.headers)
    assert len(record.value) == DEAD_LETTER_MAX_VALUE
    assert record.key is not None
    assert len(record.key) == DEAD_LETTER_MAX_KEY
    assert headers[DLQ_TRUNCATED] == b"8500000"
    assert headers[DLQ_KEY_TRUNCATED] == b"8500000"
    assert len(record.value) + len(record.key) + sum(len(k) + len(v) for k, v in record.headers) < 1_000_000


def test_a_dead_letter_detail_is_cut_to_a_bounded_length() -> None:
    record = dead_letter(
        TOPICS, source="s", partition=0, offset=0, key=None, value=b"",
        error=MalformedEventError("invalid", "y" * 100_000),
    )  # fmt: skip

    assert len(dict(record.headers)[DLQ_DETAIL]) <= DETAIL_MAX


def test_an_8_5_mb_event_with_an_unknown_contract_becomes_a_dead_letter_under_a_megabyte() -> None:
    event = quiet_read("e1", at(WORKDAY, "10:00"), contract_id="佐藤次郎" * 700_000)
    raw = dumps(event)
    assert len(raw) > 8_000_000

    [dead] = _batch(_engine(), raw).dead_letters

    headers = dict(dead.record.headers)
    assert dead.reason in {"unknown-contract", "invalid", "out-of-range"}
    assert "佐藤次郎".encode() not in headers[DLQ_DETAIL]
    assert headers[DLQ_TRUNCATED] == str(len(raw)).encode()
    assert len(dead.record.value) + sum(len(v) for v in headers.values()) < 1_000_000


def test_an_unknown_incident_follow_up_names_the_field_not_the_id() -> None:
    follow_up = incident_example()
    follow_up.update(event_id="f2", ts=at(WORKDAY, "10:00"), kind="update", incident_id=f"INC-{PLANTED}")

    [dead] = _batch(_engine(), dumps(follow_up), kind="incident").dead_letters

    assert dead.reason == "unknown-incident"
    assert PLANTED.encode() not in dict(dead.record.headers)[DLQ_DETAIL]
    assert b"incident_id" in dict(dead.record.headers)[DLQ_DETAIL]


def test_a_validation_error_under_a_key_the_sender_chose_shows_the_key_as_a_placeholder() -> None:
    filing = incident_example()
    filing.update(event_id="f3", ts=at(WORKDAY, "10:00"), data={f"{PLANTED} 080-2222-3333": {"nested": 1}})

    [dead] = _batch(_engine(), dumps(filing), kind="incident").dead_letters

    detail = dict(dead.record.headers)[DLQ_DETAIL].decode()
    assert dead.reason == "invalid"
    assert "data.<key>" in detail
    assert PLANTED not in detail
    assert "080" not in detail


# -- json_safe ----------------------------------------------------------------------------------------


def test_json_safe_changes_only_what_json_cannot_hold() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    value = {"ok": [1, "a", 2.5, None, True], "big": HUGE, "neg": -HUGE, "bad": "a\ud800b", "nan": float("nan")}

    safe = json_safe({**value, "deep": deep})

    assert safe["ok"] == [1, "a", 2.5, None, True]
    assert (safe["big"], safe["neg"]) == (2**63 - 1, -(2**63))
    assert safe["bad"] == "a\ufffdb"
    assert safe["nan"] is None
    assert orjson.dumps(safe)


# -- the detection stage's checkpoint -------------------------------------------------------------


class RecordingSink:
    def __init__(self, refuse_topic: str | None = None) -> None:
        self.records: list[Record] = []
        self.refuse_topic = refuse_topic

    async def send_all(self, records: Any) -> None:
        refused = {i: "record-too-large" for i, r in enumerate(records) if r.topic == self.refuse_topic}
        self.records.extend(r for i, r in enumerate(records) if i not in refused)
        if refused:
            raise RecordRejectedError(refused)


def _stage(sink: RecordingSink) -> DetectorStage:
    return DetectorStage(
        bootstrap="127.0.0.1:9", group="g", topics=TOPICS, sink=sink, policies=sample_policies, metrics=Metrics()
    )


async def test_a_checkpoint_of_an_engine_holding_an_unwritable_value_is_written_after_healing_it() -> None:
    sink = RecordingSink()
    stage = _stage(sink)
    engine = _engine()
    engine.on_access(_huge_read("e1", "10:00"))
    stage.parts[0] = _Partition(engine)
    stage.parts[0].positions = {TOPICS.access_log: 1}

    await stage._checkpoint(force=True)

    [checkpoint] = sink.records
    body = orjson.loads(checkpoint.value)
    restored = _engine()
    restored.restore(body["engine"])
    assert body["offsets"] == {TOPICS.access_log: 1}


async def test_an_output_the_broker_refuses_becomes_a_dead_letter_of_its_event() -> None:
    sink = RecordingSink(refuse_topic=TOPICS.findings)
    stage = _stage(sink)
    stage.parts[0] = _Partition(_engine())
    tp = TopicPartition(TOPICS.access_log, 0)
    msgs = [
        Msg(dumps(quiet_read("e1", at(WORKDAY, "10:00"))), 0),
        Msg(dumps(quiet_read("e2", at(WORKDAY, "10:01"), actor="u1042")), 1),
    ]

    await stage._process({tp: msgs})

    dead = [r for r in sink.records if r.topic == TOPICS.dead_letters]
    assert [dict(r.headers)[DLQ_REASON] for r in dead] == [b"record-too-large"]
    assert dict(dead[0].headers)[DLQ_SOURCE] == f"{TOPICS.access_log}/0/0".encode()
    assert stage.parts[0].positions == {TOPICS.access_log: 2}


async def test_a_10000_deep_object_is_logged_at_warning_without_a_traceback_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink()
    stage = _stage(sink)
    stage.parts[0] = _Partition(_engine())
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000

    with caplog.at_level(logging.DEBUG, logger="kinkyu"):
        await stage._process({TopicPartition(TOPICS.access_log, 0): [Msg(deep, 0)]})

    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.WARNING, "event to dead-letters", None)
    ]
    [letter] = sink.records
    reason = dict(letter.headers)[DLQ_REASON].decode()
    assert reason in {"too-deep", "bad-json"}
    assert stage.metrics.registry.get_sample_value("kinkyu_dead_letters_total", {"reason": reason}) == 1


# -- the sink: refused records are reported, outages retried ------------------------------------------


class FakeProducer:
    """An aiokafka producer stand-in: refuses values over ``limit`` at send(), fails ``outages`` sends first."""

    def __init__(self, limit: int = 100, outages: int = 0) -> None:
        self.limit = limit
        self.outages = outages
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> Any:
        del topic, kwargs
        if len(value) > self.limit:
            raise MessageSizeTooLargeError
        future: Any = asyncio.get_running_loop().create_future()
        if self.outages:
            self.outages -= 1
            future.set_exception(KafkaConnectionError())
        else:
            self.sent.append(value)
            future.set_result(None)
        return future


def _sink(producer: FakeProducer) -> KafkaSink:
    sink = KafkaSink("127.0.0.1:9", attempts=3, backoff=0)
    sink._producer_ = producer
    return sink


async def test_a_record_too_large_is_reported_by_index_and_the_others_are_sent() -> None:
    producer = FakeProducer(limit=10)
    records = [Record("t", None, b"small"), Record("t", None, b"x" * 11), Record("t", None, b"also")]

    with pytest.raises(RecordRejectedError) as info:
        await _sink(producer).send_all(records)

    assert info.value.rejected == {1: "record-too-large"}
    assert producer.sent == [b"small", b"also"]


async def test_a_broker_outage_is_retried_then_a_broker_error() -> None:
    producer = FakeProducer(outages=1)

    await _sink(producer).send_all([Record("t", None, b"a")])
    assert producer.sent == [b"a"]

    with pytest.raises(BrokerError):
        await _sink(FakeProducer(outages=10)).send_all([Record("t", None, b"a")])


# -- the agents' guard ------------------------------------------------------------------------------------


def _guard(sink: Any, metrics: Metrics, outages: list[BaseException] | None = None) -> RecordGuard:
    async def on_outage(exc: BaseException) -> None:
        if outages is not None:
            outages.append(exc)

    return RecordGuard(stage="playbook", topics=TOPICS, sink=sink, metrics=metrics, on_outage=on_outage)


def _incident_msg(value: bytes | None) -> Msg:
    return Msg(value, 17, b"INC-1", topic=TOPICS.incidents, partition=0)


async def test_a_record_that_makes_a_stage_raise_is_set_aside_with_its_stage_reason_and_source() -> None:
    sink, metrics = RecordingSink(), Metrics()

    async def handler(value: bytes | None) -> None:
        raise MalformedEventError("bad-json", "not valid UTF-8 JSON (at byte 0)")

    handled = await _guard(sink, metrics).run(_incident_msg(b"{"), handler)

    assert not handled
    [record] = sink.records
    headers = dict(record.headers)
    assert (record.topic, record.value, record.key) == (TOPICS.dead_letters, b"{", b"INC-1")
    assert (headers[DLQ_STAGE], headers[DLQ_REASON]) == (b"playbook", b"bad-json")
    assert headers[DLQ_SOURCE] == f"{TOPICS.incidents}/0/17".encode()
    assert metrics.set_aside.labels("playbook", "bad-json")._value.get() == 1


async def test_a_bug_on_a_record_is_logged_at_error_with_its_frames_never_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink()

    async def handler(value: bytes | None) -> None:
        raise KeyError(PLANTED)

    with caplog.at_level(logging.WARNING, logger="kinkyu.guard"):
        await _guard(sink, Metrics()).run(_incident_msg(b"{}"), handler)

    [line] = caplog.records
    assert line.levelno == logging.ERROR
    assert line.exc_info is None
    assert "handler" in line.stack  # type: ignore[attr-defined]
    assert PLANTED not in line.getMessage() + str(line.__dict__)
    assert dict(sink.records[0].headers)[DLQ_REASON] == b"processing-error"


async def test_a_malformed_record_is_logged_at_warning_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kinkyu.guard"):
        await _guard(RecordingSink(), Metrics()).run(_incident_msg(b"["), IncidentFeed(lambda r: None).handle)

    [line] = caplog.records
    assert (line.levelno, line.exc_info) == (logging.WARNING, None)


async def test_an_outage_is_not_set_aside() -> None:
    sink = RecordingSink()

    async def handler(value: bytes | None) -> None:
        raise BrokerError("cannot send")

    assert await _guard(sink, Metrics()).run(_incident_msg(b"{}"), handler)
    assert sink.records == []


async def test_a_record_that_cannot_be_set_aside_for_an_outage_stops_the_worker() -> None:
    class DownSink:
        async def send_all(self, records: Any) -> None:
            del records
            raise BrokerError("down")

    outages: list[BaseException] = []

    async def handler(value: bytes | None) -> None:
        raise ValueError

    await _guard(DownSink(), Metrics(), outages).run(_incident_msg(b"{}"), handler)

    assert [type(e) for e in outages] == [BrokerError]


async def test_the_incident_feed_passes_an_object_on_and_refuses_anything_else() -> None:
    seen: list[Any] = []
    feed = IncidentFeed(seen.append, seen.append)

    await feed.handle(b'{"incident_id": "INC-1", "change": "opened"}')
    for bad in (None, b"", b"[1]", b"\xff", b'{"a":' * 2000 + b"1" + b"}" * 2000):
        with pytest.raises(MalformedEventError) as info:
            await feed.handle(bad)
        assert info.value.reason == "bad-json"

    assert seen == [{"incident_id": "INC-1", "change": "opened"}] * 2


async def test_the_notifier_stage_refuses_a_record_it_cannot_use_instead_of_skipping_it(tmp_path: Path) -> None:
    profiles = load_profiles([CONTRACTS_DIR])
    stage = NotifierStage(
        topics=TOPICS,
        sink=RecordingSink(),
        metrics=Metrics(),
        settings=NotifierSettings(
            ack_secret=SecretStr("unit-test-ack-secret-0123456789"),
            ack_base_url="http://127.0.0.1:9",
            console_url="http://127.0.0.1:9",
            outbox_dir=tmp_path / "outbox",
        ),
        profiles=lambda: profiles,
        playbooks=playbooks(),
        email=None,  # type: ignore[arg-type]  # nothing is sent
    )
    try:
        for bad, reason in ((b"nope", "bad-json"), (b'{"effect": "notify"}', "invalid")):
            with pytest.raises(MalformedEventError) as info:
                await stage.handle(bad)
            assert info.value.reason == reason
    finally:
        await stage.stop()


def test_unknown_contract_errors_keep_the_id_for_the_caller_but_not_in_their_text() -> None:
    with pytest.raises(MalformedEventError) as info:
        _engine().on_access(read_event("e1", at(WORKDAY, "10:00"), contract_id=f"{KOGANEI}-{PLANTED}"))

    assert PLANTED not in str(info.value)
    assert info.value.contract_id.endswith(PLANTED)  # type: ignore[attr-defined]
