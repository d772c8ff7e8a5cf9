"""The playbook agent's batches: one wait for the broker per batch, and every record as if handled alone.

A batch of ``incidents`` records and ticks is applied in order, its outputs
sent at once, and only once the broker has them is each incident's state
written to the table, in the context of the record that changed it (faust
decides the changelog partition from it). A bad record is set aside without
the rest of its batch (issue #14).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import faust.streams
import orjson
import pytest
from helpers import sample_profile
from test_playbook_run import T0, detection, pb

from kinkyu.core.playbook import PlaybookRun
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams import playbook_stage
from kinkyu.streams.app import as_current_event
from kinkyu.streams.exceptions import BrokerError, RecordRejectedError
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.playbook_stage import Incoming, PlaybookStage
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

OKAYAMA = "okayama-2026-003"
TOPICS = Topics()
A, B = "INC-20261120-0001", "INC-20261120-0002"


class Log:
    """What happened, in order: sends and table writes."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []
        self.context: Incoming | None = None


class Sink:
    """Records each ``send_all``; fails as told."""

    def __init__(self, log: Log, fail: Exception | None = None) -> None:
        self.log = log
        self.fail = fail
        self.sent: list[list[Record]] = []

    async def send_all(self, records: Sequence[Record]) -> None:
        self.log.steps.append(("send", len(records)))
        if self.fail is not None:
            raise self.fail
        self.sent.append(list(records))


class Table(dict[bytes, bytes]):
    """The faust table as the stage sees it, noting each write and the record it was made for."""

    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log
        self.writes: list[tuple[str, Incoming | None]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.log.steps.append(("table", key.decode()))
        self.writes.append((key.decode(), self.log.context))
        super().__setitem__(key, value)


class Clock:
    """Eleven days on at every reading: each record of a batch is handled at its own time, deadlines pass."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(days=11)
        return self.now


def stage(sink_fail: Exception | None = None) -> tuple[PlaybookStage, Sink, Table, Log]:
    log = Log()
    sink = Sink(log, sink_fail)
    s = PlaybookStage(
        bootstrap="127.0.0.1:9",
        topics=TOPICS,
        sink=sink,
        profiles=lambda: {OKAYAMA: sample_profile(OKAYAMA)},
        playbooks={"okayama": pb("okayama")},
        collector=None,
        metrics=Metrics(),
        lateness=1.0,
        clock=Clock(),
    )
    table = Table(log)
    s.table = table
    s._loaded.set()  # no incident-state to read: no broker here
    return s, sink, table, log


def opened(incident_id: str, change: str = "opened", events: Sequence[str] = ("ev-1",)) -> Incoming:
    record = {
        **detection("okayama", ["pii-email"], incident_id=incident_id, events=events, change=change),
        "contract_id": OKAYAMA,
    }
    return Incoming(TOPICS.incidents, orjson.dumps(record), f"{incident_id}/{change}/{len(events)}")


def ticked(incident_id: str) -> Incoming:
    body = {"incident_id": incident_id, "now": T0.isoformat()}  # the stage applies a tick at its own clock
    return Incoming(TOPICS.playbook_ticks, orjson.dumps(body), f"{incident_id}/tick")


class SetAside:
    def __init__(self) -> None:
        self.items: list[tuple[Incoming, BaseException]] = []

    async def __call__(self, item: Incoming, exc: BaseException) -> None:
        self.items.append((item, exc))


def writing(log: Log) -> Any:
    @contextlib.contextmanager
    def within(item: Incoming) -> Iterator[None]:
        log.context = item
        try:
            yield
        finally:
            log.context = None

    return within


def stored(table: Table, incident_id: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(table[incident_id.encode()])
    return data


def outgoing(sent: list[list[Record]], topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for batch in sent for r in batch if r.topic == topic]


async def one_by_one(items: Sequence[Incoming]) -> tuple[Table, Sink]:
    s, sink, table, _ = stage()
    for item in items:
        await s.handle(item.topic, item.value)
    return table, sink


async def test_a_batch_waits_for_the_broker_once_and_stores_only_after_it_has_the_outputs() -> None:
    s, sink, table, log = stage()

    await s.handle_batch([opened(A), opened(B)], set_aside=SetAside())

    assert [kind for kind, _ in log.steps] == ["send", "table", "table"]
    assert {A, B} == {k.decode() for k in table}
    assert {n["incident_id"] for n in outgoing(sink.sent, TOPICS.notifications)} == {A, B}


async def test_records_of_one_incident_in_one_batch_end_as_they_do_one_by_one() -> None:
    items = [opened(A), opened(A, "updated", ("ev-1", "ev-2")), ticked(A), opened(B)]
    s, sink, table, _ = stage()

    await s.handle_batch(items, set_aside=SetAside())

    alone, alone_sink = await one_by_one(items)
    assert stored(table, A) == stored(alone, A)
    assert stored(table, B) == stored(alone, B)
    assert outgoing(sink.sent, TOPICS.notifications) == outgoing(alone_sink.sent, TOPICS.notifications)


async def test_the_batch_sends_each_incidents_state_once_with_every_entry_it_added() -> None:
    items = [opened(A), opened(A, "updated", ("ev-1", "ev-2")), ticked(A)]
    s, sink, _, _ = stage()

    await s.handle_batch(items, set_aside=SetAside())

    (state,) = outgoing(sink.sent, TOPICS.incident_state)
    _, alone_sink = await one_by_one(items)
    alone = outgoing(alone_sink.sent, TOPICS.incident_state)
    assert state["version"] == alone[-1]["version"]
    assert state["run"] == alone[-1]["run"]
    assert state["appended"] == [entry for each in alone for entry in each["appended"]]


async def test_each_incidents_state_is_written_in_the_context_of_the_last_record_that_changed_it() -> None:
    first, second, other = opened(A), opened(A, "updated", ("ev-1", "ev-2")), opened(B)
    s, _, table, log = stage()

    await s.handle_batch([first, other, second], set_aside=SetAside(), writing=writing(log))

    assert dict(table.writes) == {A: second, B: other}


async def test_a_bad_record_is_set_aside_and_the_rest_of_its_batch_goes_on() -> None:
    bad = Incoming(TOPICS.incidents, b"nope", "bad")
    s, _, table, _ = stage()
    aside = SetAside()

    await s.handle_batch([opened(A), bad, opened(B)], set_aside=aside)

    ((item, exc),) = aside.items
    assert item is bad
    assert isinstance(exc, MalformedEventError)
    assert exc.reason == "bad-json"
    assert {A, B} == {k.decode() for k in table}


async def test_a_record_that_fails_half_way_leaves_its_incident_as_if_it_never_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_tick(run: PlaybookRun, now: object) -> list[object]:
        del now
        run.timeline.pop()  # the domain changed the run before it failed
        msg = "failed half way"
        raise ValueError(msg)

    monkeypatch.setattr(playbook_stage, "tick", broken_tick)
    items = [opened(A), ticked(A), opened(A, "updated", ("ev-1", "ev-2"))]
    s, _, table, _ = stage()
    aside = SetAside()

    await s.handle_batch(items, set_aside=aside)

    assert [item for item, _ in aside.items] == [items[1]]
    # A tick of an incident nobody runs changes nothing but reads the clock, as the failed one did.
    alone, _ = await one_by_one([items[0], ticked("INC-20261120-0009"), items[2]])
    assert stored(table, A) == stored(alone, A)


async def test_nothing_is_stored_when_the_batch_cannot_be_sent() -> None:
    s, _, table, _ = stage(BrokerError("down"))
    fatal: list[BaseException] = []

    async def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)

    s.on_fatal = on_fatal

    with pytest.raises(BrokerError):
        await s.handle_batch([opened(A), opened(B)], set_aside=SetAside())

    assert not table
    assert len(fatal) == 1


async def test_a_record_whose_output_the_broker_refuses_is_set_aside_and_its_incident_not_stored() -> None:
    s, _, table, log = stage()
    first = opened(A)
    records_of_a = 0

    class Refusing(Sink):
        async def send_all(self, records: Sequence[Record]) -> None:
            nonlocal records_of_a
            records_of_a = next(i for i, r in enumerate(records) if r.key == A.encode())
            self.sent.append(list(records))
            raise RecordRejectedError({records_of_a: "record-too-large"})

    s.sink = Refusing(log)
    aside = SetAside()

    await s.handle_batch([first, opened(B)], set_aside=aside)

    assert [item for item, _ in aside.items] == [first]
    assert [k.decode() for k in table] == [B]


def test_a_records_table_write_goes_where_faust_would_put_it_for_that_record() -> None:
    class Event:
        """Stands for faust's event: faust keeps a weak reference to the current one."""

    event = Event()
    assert faust.streams.current_event() is None

    with as_current_event(Incoming(TOPICS.incidents, b"{}", event)):
        assert faust.streams.current_event() is cast("object", event)

    assert faust.streams.current_event() is None


async def test_an_incident_whose_state_cannot_be_encoded_is_set_aside_and_the_others_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encode = playbook_stage.RunState.to_json

    def refuse_a(self: playbook_stage.RunState) -> dict[str, Any]:
        if self.run.incident_id == A:
            msg = "cannot encode"
            raise TypeError(msg)
        return encode(self)

    monkeypatch.setattr(playbook_stage.RunState, "to_json", refuse_a)
    first, second = opened(A), opened(B)
    s, sink, table, _ = stage()
    aside = SetAside()

    await s.handle_batch([first, second], set_aside=aside)

    assert [item for item, _ in aside.items] == [first]
    assert [k.decode() for k in table] == [B]
    assert {r.key for batch in sink.sent for r in batch} == {B.encode()}
