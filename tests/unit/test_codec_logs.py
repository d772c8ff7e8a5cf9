"""Kafka records built from domain outputs (dead letters above all), and the JSON log formatter."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path

from builders import PLANTED, WORKDAY, at, read_event, sample_policies

from kinkyu.core.engine import Engine
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.exceptions import MalformedEventError
from kinkyu.logs import JsonFormatter
from kinkyu.streams.codec import DLQ_DETAIL, DLQ_REASON, DLQ_SOURCE, dead_letter, output_records
from kinkyu.streams.settings import Topics

# -- dead letters -----------------------------------------------------------------------------------


def test_dead_letter_keeps_the_original_bytes_and_key_and_puts_the_reason_in_headers() -> None:
    raw = b'{"event_id": "e1", "ts": "' + PLANTED.encode() + b'"}\xff'
    error = MalformedEventError("invalid", "ts: Input should be a valid datetime")

    record = dead_letter(
        Topics(), source="access-log", partition=3, offset=42, key=b"koganei-2026-017", value=raw, error=error
    )

    assert record.topic == "dead-letters"
    assert record.key == b"koganei-2026-017"
    assert record.value == raw
    headers = dict(record.headers)
    assert headers[DLQ_REASON] == b"invalid"
    assert headers[DLQ_DETAIL] == b"ts: Input should be a valid datetime"
    assert headers[DLQ_SOURCE] == b"access-log/3/42"
    assert datetime.fromisoformat(headers["kinkyu-at"].decode()).tzinfo is not None
    assert all(PLANTED.encode() not in value for value in headers.values())


def test_dead_letter_of_an_empty_message_has_an_empty_value() -> None:
    record = dead_letter(
        Topics(),
        source="incident-events",
        partition=0,
        offset=7,
        key=None,
        value=None,
        error=MalformedEventError("bad-json", "not valid UTF-8 JSON (at byte 0)"),
    )

    assert record.value == b""
    assert record.key is None
    assert dict(record.headers)[DLQ_REASON] == b"bad-json"


def test_dead_letter_goes_to_the_prefixed_topic() -> None:
    record = dead_letter(
        Topics("t1-"),
        source="t1-access-log",
        partition=0,
        offset=0,
        key=None,
        value=b"x",
        error=MalformedEventError("bad-json", "d"),
    )

    assert record.topic == "t1-dead-letters"
    assert dict(record.headers)[DLQ_SOURCE] == b"t1-access-log/0/0"


# -- output records -----------------------------------------------------------------------------------


def test_output_records_key_findings_by_contract_and_incidents_by_id_marking_new_ones_opened() -> None:
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])
    opened = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))
    joined = engine.on_access(read_event("e2", at(WORKDAY, "10:01")))

    first = output_records(opened, Topics())
    second = output_records(joined, Topics())

    assert [(r.topic, r.key) for r in first] == [
        ("findings", b"koganei-2026-017"),
        ("incidents", opened.opened[0].encode()),
    ]
    assert json.loads(first[1].value)["change"] == "opened"
    assert json.loads(second[1].value)["change"] == "updated"
    assert json.loads(second[1].value)["finding_count"] == 2


# -- JSON logs ------------------------------------------------------------------------------------------


def _record(msg: str, *, extra: dict[str, object] | None = None, exc: bool = False) -> logging.LogRecord:
    logger = logging.getLogger("kinkyu.test")
    exc_info = sys.exc_info() if exc else None
    return logger.makeRecord("kinkyu.test", logging.WARNING, __file__, 1, msg, (), exc_info, extra=extra)


def test_json_formatter_emits_one_json_object_with_the_extra_fields() -> None:
    line = JsonFormatter().format(_record("event to dead-letters", extra={"offset": 42, "reason": "invalid"}))

    assert "\n" not in line
    body = json.loads(line)
    assert body["msg"] == "event to dead-letters"
    assert body["level"] == "warning"
    assert body["logger"] == "kinkyu.test"
    assert body["offset"] == 42
    assert body["reason"] == "invalid"
    assert datetime.fromisoformat(body["ts"]).tzinfo is not None
    assert "args" not in body
    assert "levelno" not in body
    assert "error" not in body


def test_json_formatter_renders_values_json_cannot_hold_as_text() -> None:
    body = json.loads(JsonFormatter().format(_record("x", extra={"path": Path("/a/b"), "at": date(2026, 11, 20)})))

    assert body["path"] == "/a/b"
    assert body["at"] == "2026-11-20"


def _raise_with_planted_message() -> None:
    msg = f"resident {PLANTED} not found"
    raise ValueError(msg)


def test_json_formatter_gives_exception_type_and_frames_but_never_the_message() -> None:
    try:
        _raise_with_planted_message()
    except ValueError:
        line = JsonFormatter().format(_record("event processing failed", exc=True, extra={"offset": 3}))

    body = json.loads(line)
    assert body["error"] == "ValueError"
    assert "_raise_with_planted_message" in body["trace"]
    assert "test_codec_logs.py" in body["trace"]
    assert body["offset"] == 3
    assert PLANTED not in line
