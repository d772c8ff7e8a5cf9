"""Hostile input cannot flood the log: a few lines per reason a minute, then one line summing up the rest.

Every dead letter used to log a line, so 100,000 hostile events made
100,000 lines. The detection stage and the agents' guard now log the first
lines of each reason in each minute and sum up the rest in one line once the
minute is over (at the next line, or at the worker's tick), while the
metrics still count every one. Time is a fake clock moved by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition
from builders import sample_policies

from kinkyu.core.engine import Engine
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.detector import DetectorStage, _Partition
from kinkyu.streams.guard import RecordGuard
from kinkyu.streams.log_budget import LogBudget
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

TOPICS = Topics("t-")
LOG = logging.getLogger("kinkyu.test-budget")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Msg:
    value: bytes | None
    offset: int
    key: bytes | None = None
    topic: str = TOPICS.access_log
    partition: int = 0


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send_all(self, records: Any) -> None:
        self.records.extend(records)


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


# -- the budget ----------------------------------------------------------------------------------------


def test_the_first_lines_of_each_reason_in_a_window_are_let_through_and_the_rest_held_back() -> None:
    budget = LogBudget(LOG, "dead letters", per_window=3, clock=Clock())

    assert [budget.allow("bad-json") for _ in range(5)] == [True, True, True, False, False]
    assert [budget.allow("out-of-range") for _ in range(4)] == [True, True, True, False]


def test_when_the_window_is_over_one_line_sums_up_what_was_held_back_by_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    budget = LogBudget(LOG, "dead letters", per_window=1, window=60.0, clock=clock)
    for reason, n in (("bad-json", 1001), ("out-of-range", 3)):
        for _ in range(n):
            budget.allow(reason)

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        clock.now += 59.0
        budget.flush()
        clock.now += 1.0
        budget.flush()

    [line] = caplog.records
    assert (line.levelno, line.getMessage()) == (
        logging.WARNING,
        (
            "dead letters not logged one by one in the last 60 s: 1,002 (bad-json: 1,000, out-of-range: 2); "
            "the metrics count every one"
        ),
    )
    assert line.suppressed == {"bad-json": 1000, "out-of-range": 2}  # type: ignore[attr-defined]


def test_a_new_window_lets_lines_through_again_and_sums_up_the_last_one_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    budget = LogBudget(LOG, "dead letters", per_window=1, clock=clock)
    budget.allow("bad-json")
    budget.allow("bad-json")
    clock.now += 61.0

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        allowed = budget.allow("bad-json")

    assert allowed
    assert [m for _, m in _lines(caplog)] == [
        "dead letters not logged one by one in the last 61 s: 1 (bad-json: 1); the metrics count every one"
    ]


def test_a_window_with_nothing_held_back_logs_no_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    budget = LogBudget(LOG, "dead letters", per_window=2, clock=clock)
    budget.allow("bad-json")
    clock.now += 120.0

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        budget.flush()

    assert caplog.records == []


def test_a_summary_that_stands_for_a_bug_is_at_error_level(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    budget = LogBudget(LOG, "dead letters", per_window=1, clock=clock)
    budget.allow("processing-error", bug=True)
    budget.allow("processing-error", bug=True)
    clock.now += 60.0

    with caplog.at_level(logging.DEBUG, logger=LOG.name):
        budget.flush()

    assert [level for level, _ in _lines(caplog)] == [logging.ERROR]


# -- the detection stage ----------------------------------------------------------------------------------


def _stage(sink: RecordingSink, clock: Clock) -> DetectorStage:
    stage = DetectorStage(
        bootstrap="127.0.0.1:9",
        group="g",
        topics=TOPICS,
        sink=sink,
        policies=sample_policies,
        metrics=Metrics(),
        log_budget=LogBudget(logging.getLogger("kinkyu.detector"), "dead letters", per_window=3, clock=clock),
    )
    stage.parts[0] = _Partition(Engine(sample_policies()))
    return stage


async def test_a_flood_of_bad_events_logs_three_lines_and_one_sum_while_every_dead_letter_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, clock = RecordingSink(), Clock()
    stage = _stage(sink, clock)
    flood = [Msg(b"{not json", offset) for offset in range(1000)]

    with caplog.at_level(logging.DEBUG, logger="kinkyu"):
        await stage._process({TopicPartition(TOPICS.access_log, 0): flood})
        clock.now += 60.0
        await stage.tick()

    assert _lines(caplog) == [(logging.WARNING, "event to dead-letters")] * 3 + [
        (
            logging.WARNING,
            "dead letters not logged one by one in the last 60 s: 997 (bad-json: 997); the metrics count every one",
        )
    ]
    assert stage.metrics.registry.get_sample_value("kinkyu_dead_letters_total", {"reason": "bad-json"}) == 1000
    assert sum(r.topic == TOPICS.dead_letters for r in sink.records) == 1000


async def test_the_tick_before_the_minute_is_over_sums_up_nothing_yet(caplog: pytest.LogCaptureFixture) -> None:
    sink, clock = RecordingSink(), Clock()
    stage = _stage(sink, clock)
    await stage._process({TopicPartition(TOPICS.access_log, 0): [Msg(b"[", n) for n in range(10)]})
    caplog.clear()

    with caplog.at_level(logging.DEBUG, logger="kinkyu"):
        clock.now += 30.0
        await stage.tick()

    assert caplog.records == []


# -- the agents' guard --------------------------------------------------------------------------------------


async def test_the_guard_budgets_its_lines_and_the_workers_tick_sums_them_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, metrics, clock = RecordingSink(), Metrics(), Clock()
    guard = RecordGuard(
        stage="playbook",
        topics=TOPICS,
        sink=sink,
        metrics=metrics,
        log_budget=LogBudget(logging.getLogger("kinkyu.guard"), "records set aside", per_window=2, clock=clock),
    )

    async def handler(value: bytes | None) -> None:
        raise MalformedEventError("bad-json", "not valid UTF-8 JSON (at byte 0)")

    with caplog.at_level(logging.DEBUG, logger="kinkyu.guard"):
        for offset in range(50):
            await guard.run(Msg(b"{", offset, topic=TOPICS.incidents), handler)
        clock.now += 60.0
        guard.flush_log()

    assert _lines(caplog) == [(logging.WARNING, "record set aside")] * 2 + [
        (
            logging.WARNING,
            "records set aside not logged one by one in the last 60 s: 48 (bad-json: 48); the metrics count every one",
        )
    ]
    assert metrics.set_aside.labels("playbook", "bad-json")._value.get() == 50
