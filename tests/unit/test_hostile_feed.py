"""The incident feed, given any record on ``incidents``: handled, or set aside with a reason, never raised.

The feed (:class:`streams.guard.IncidentFeed` under the worker's
:class:`streams.guard.RecordGuard`) hands each record to the notifier's
memory and, under ``kinkyu run``, to the line it prints. A record it cannot
use goes to dead-letters with a reason code; one that makes it raise
something else is a bug (an error-level log line), which hostile input must
not be able to cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hostile import PLANTED, any_bytes, emit, examples, json_value, text, timestamp
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from kinkyu.contracts import load_profiles
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.reports.sample import CONTRACTS_DIR, playbooks
from kinkyu.streams.codec import DLQ_REASON
from kinkyu.streams.guard import IncidentFeed, RecordGuard
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import NotifierStage
from kinkyu.streams.runner import _print_incident
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

TOPICS = Topics("fuzz-")
BUG = "processing-error"


@dataclass(frozen=True, slots=True)
class Msg:
    value: bytes | None
    offset: int = 7
    key: bytes | None = b"INC-1"
    topic: str = TOPICS.incidents
    partition: int = 0


class Sink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send_all(self, records: Any) -> None:
        self.records.extend(records)


@contextlib.contextmanager
def notifier() -> Iterator[NotifierStage]:
    profiles = load_profiles([CONTRACTS_DIR])
    with tempfile.TemporaryDirectory() as folder:
        stage = NotifierStage(
            topics=TOPICS,
            sink=Sink(),
            metrics=Metrics(),
            settings=NotifierSettings(
                ack_secret=SecretStr("unit-test-ack-secret-0123456789"),
                ack_base_url="http://127.0.0.1:9",
                console_url="http://127.0.0.1:9",
                outbox_dir=Path(folder) / "outbox",
            ),
            profiles=lambda: profiles,
            playbooks=playbooks(),
            email=None,  # type: ignore[arg-type]  # nothing is sent
        )
        try:
            yield stage
        finally:
            asyncio.run(stage.stop())


def incidents_records() -> st.SearchStrategy[bytes]:
    """Records shaped like ``incidents`` (opened / updated / a follow-up event), every field hostile."""
    entry = st.fixed_dictionaries(
        {},
        optional={
            "kind": st.one_of(st.sampled_from(["acknowledgement", "update", "message_sent"]), json_value()),
            "ts": timestamp(),
            "who": st.one_of(text(), json_value()),
            "data": st.one_of(
                st.fixed_dictionaries({}, optional={"step": st.one_of(text(), json_value()), "x": json_value()}),
                json_value(),
            ),
        },
    )
    record = st.fixed_dictionaries(
        {},
        optional={
            "change": st.one_of(st.sampled_from(["opened", "updated", "event"]), json_value()),
            "incident_id": st.one_of(st.just("INC-20261120-0001"), text(), json_value()),
            "entry": st.one_of(entry, json_value()),
            "contract_id": st.one_of(st.just("koganei-2026-017"), json_value()),
            "jurisdiction": st.one_of(st.just("koganei"), json_value()),
            "rules": st.one_of(st.just(["unregistered-actor"]), json_value()),
            "kind": st.one_of(st.just("detection"), json_value()),
            "severity": st.one_of(st.just("high"), json_value()),
            "actor": st.one_of(st.just("u9999"), text(), json_value()),
            "records": json_value(),
            "first_event_ts": timestamp(),
        },
    )
    return st.one_of(record.map(emit), any_bytes())


def feed_through_guard(feed: IncidentFeed, value: bytes) -> list[Record]:
    sink = Sink()
    guard = RecordGuard(stage="incident-feed", topics=TOPICS, sink=sink, metrics=Metrics())

    async def one() -> bool:
        handled = await guard.run(Msg(bytes(value)), feed.handle)
        await asyncio.sleep(0)  # let a background acknowledgement the record started run (and fail) now
        return handled

    with contextlib.redirect_stdout(io.StringIO()):
        handled = asyncio.run(one())
    assert handled == (not sink.records)
    for record in sink.records:
        headers = dict(record.headers)
        assert all(PLANTED.encode() not in v for v in headers.values())
        if headers[DLQ_REASON] == BUG.encode():
            raise AssertionError("a bug instead of a reason: the record made the feed raise")
    return sink.records


def test_the_worker_feed_handles_or_sets_aside_any_record_with_a_reason() -> None:
    with notifier() as stage:
        feed = IncidentFeed(stage.remember)

        @examples(150)
        @given(incidents_records())
        def any_record(value: bytes) -> None:
            feed_through_guard(feed, value)

        any_record()


@pytest.mark.parametrize("change", [[], {}], ids=["list", "object"])
def test_a_record_whose_change_is_not_a_string_is_handled_or_set_aside_with_a_reason(change: Any) -> None:
    with notifier() as stage:
        feed_through_guard(IncidentFeed(stage.remember), orjson.dumps({"change": change}))


def test_the_feed_of_kinkyu_run_handles_or_sets_aside_any_record_with_a_reason() -> None:
    with notifier() as stage:
        seen: set[str] = set()
        feed = IncidentFeed(stage.remember, lambda record: _print_incident(record, seen))

        @examples(100)
        @given(incidents_records())
        def any_record(value: bytes) -> None:
            feed_through_guard(feed, value)

        any_record()


def test_kinkyu_run_prints_no_control_character_an_event_carried() -> None:
    record = {
        "change": "opened",
        "incident_id": "INC-20261120-0001",
        "contract_id": "koganei-2026-017",
        "jurisdiction": "koganei",
        "rules": ["unregistered-actor"],
        "kind": "detection",
        "severity": "high",
        "actor": "u9999\x1b]0;pwned\x07\x1b[8m\r\u202e",
        "records": 5,
        "first_event_ts": "2026-11-20T10:00:00+09:00",
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_incident(record, set())
    printed = out.getvalue()
    assert "u9999" in printed
    assert not any(c in printed for c in "\x1b\x07\r\u202e")
