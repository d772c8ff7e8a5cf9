"""The detection stage's clocks: the wall clock judges "the future", and the tick moves each contract on its own.

No broker: the stage's batch path and tick run against a recording sink.
Wall time passing is simulated by moving back when a contract's newest
event was seen (the tick measures silence from there), never by sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import TopicPartition
from builders import CHIBA, KOGANEI, WORKDAY, at, dumps, quiet_read, sample_policies, with_value

from kinkyu.core.engine import Engine
from kinkyu.streams.codec import DLQ_REASON
from kinkyu.streams.detector import DetectorStage, _Partition
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

TOPICS = Topics("t-")
ACCESS = TopicPartition(TOPICS.access_log, 0)


@dataclass
class Msg:
    value: bytes
    offset: int
    key: bytes | None = None


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send_all(self, records: Any) -> None:
        self.records.extend(records)


def _stage(sink: RecordingSink, **settings: Any) -> DetectorStage:
    stage = DetectorStage(
        bootstrap="127.0.0.1:9",
        group="g",
        topics=TOPICS,
        sink=sink,
        policies=sample_policies,
        metrics=Metrics(),
        **settings,
    )
    stage.parts[0] = _Partition(Engine(sample_policies()))
    return stage


def _beat(event_id: str, ts: str, contract_id: str = KOGANEI) -> bytes:
    beat = with_value(quiet_read(event_id, ts, actor="svc-juki-portal", contract_id=contract_id), "action", "heartbeat")
    del beat["resource"]
    return dumps(beat)


def _read(event_id: str, ts: str, contract_id: str) -> bytes:
    """A read that breaks nothing: registered staff, from the contract's own site network."""
    read = quiet_read(event_id, ts, actor="u1042", contract_id=contract_id)
    if contract_id == CHIBA:
        read["source"] = {"ip": "10.40.3.4", "host": "pc-17", "site": "chiba-dc-2f"}
    return dumps(read)


def _opened_rules(sink: RecordingSink) -> list[tuple[str, list[str]]]:
    bodies = [orjson.loads(r.value) for r in sink.records if r.topic == TOPICS.incidents]
    return [(b["contract_id"], b["rules"]) for b in bodies if b.get("change") == "opened"]


async def test_an_event_dated_past_the_skew_of_the_wall_clock_is_a_future_timestamp_dead_letter() -> None:
    sink = RecordingSink()
    stage = _stage(sink, max_skew=300.0)
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

    await stage._process({ACCESS: [Msg(_read("e1", ahead, KOGANEI), 0)]})

    [dead] = [r for r in sink.records if r.topic == TOPICS.dead_letters]
    assert dict(dead.headers)[DLQ_REASON] == b"future-timestamp"


async def test_an_event_inside_the_skew_of_the_wall_clock_is_processed() -> None:
    sink = RecordingSink()
    stage = _stage(sink, max_skew=300.0)
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()

    await stage._process({ACCESS: [Msg(_read("e1", soon, KOGANEI), 0)]})

    assert [r for r in sink.records if r.topic == TOPICS.dead_letters] == []
    assert stage.parts[0].engine.clock(KOGANEI) > 0


async def test_the_tick_reports_a_silent_contracts_system_while_another_on_its_partition_keeps_sending() -> None:
    sink = RecordingSink()
    stage = _stage(sink, ingest_delay=30.0)
    part = stage.parts[0]
    await stage._process(
        {ACCESS: [Msg(_beat("hb", at(WORKDAY, "10:00")), 0), Msg(_read("c0", at(WORKDAY, "10:00"), CHIBA), 1)]}
    )

    for minute in range(1, 11):
        # A minute of wall time passes; Chiba keeps sending, Koganei's system has gone quiet.
        part.seen = {c: (t, wall - 60.0) for c, (t, wall) in part.seen.items()}
        ts = at(WORKDAY, f"10:{minute:02d}")
        await stage._process({ACCESS: [Msg(_read(f"c{minute}", ts, CHIBA), 1 + minute)]})
        await stage.tick()

    assert (KOGANEI, ["system-outage"]) in _opened_rules(sink)
    assert all(contract != CHIBA for contract, _ in _opened_rules(sink))


async def test_the_tick_leaves_a_contract_alone_while_its_own_events_keep_coming() -> None:
    sink = RecordingSink()
    stage = _stage(sink, ingest_delay=30.0)
    part = stage.parts[0]

    for minute in range(10):
        part.seen = {c: (t, wall - 60.0) for c, (t, wall) in part.seen.items()}
        await stage._process({ACCESS: [Msg(_beat(f"hb{minute}", at(WORKDAY, f"10:{minute:02d}")), minute)]})
        await stage.tick()

    assert _opened_rules(sink) == []
