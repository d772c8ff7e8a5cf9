"""How domain outputs become Kafka records (and dead letters), in one place.

Two rules hold for everything written here, because the input is written by
people who may want Kinkyu to stop:

- encoding never takes the worker down. :func:`encode` is strict and says
  what could not be written as :class:`~streams.exceptions.OutputEncodeError`
  (an ``encode-error`` dead letter for the event that produced it);
  :func:`json_safe` turns any JSON-like value into one that encodes, for the
  state that must be written whatever it holds (checkpoints, incident records);
- a dead letter is bounded: its value and key are cut to
  :data:`DEAD_LETTER_MAX_VALUE` / :data:`DEAD_LETTER_MAX_KEY` bytes (the
  headers say so and give the original sizes), and its headers name fields
  and reason codes, never values, at most :data:`DETAIL_MAX` bytes each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from kinkyu.core.engine import Output, Refusal
from kinkyu.core.incident import Incident
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.exceptions import OutputEncodeError
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

DLQ_REASON = "kinkyu-reason"
DLQ_DETAIL = "kinkyu-detail"
DLQ_SOURCE = "kinkyu-source"
DLQ_STAGE = "kinkyu-stage"
DLQ_AT = "kinkyu-at"
DLQ_TRUNCATED = "kinkyu-truncated"  # the value was cut; the header holds its original size in bytes
DLQ_KEY_TRUNCATED = "kinkyu-key-truncated"  # the key was cut; its original size in bytes
# The value is Kinkyu's summary of a follow-up refused after it waited (ids only); the original is at the source.
DLQ_DEFERRED = "kinkyu-deferred"

# Kafka's default max.message.bytes is ~1 MB, and a dead letter must fit any dead-letters topic: half of
# it for the original bytes leaves room for the key and headers. Enough to see what was wrong.
DEAD_LETTER_MAX_VALUE = 512 * 1024
DEAD_LETTER_MAX_KEY = 1024
# A detail is a sentence naming fields; anything longer is not one of ours.
DETAIL_MAX = 1024
REASON_MAX = 64

# What orjson writes: integers in [-2**63, 2**64 - 1], strings without lone surrogates, nesting up to 255.
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1  # int64, not uint64: every consumer's JSON reader keeps it an integer
_MAX_DEPTH = 200
_CUT = "…"


def encode(body: Any, what: str) -> bytes:
    """``body`` as JSON bytes, or :class:`OutputEncodeError` naming ``what`` (never the value)."""
    try:
        return orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise OutputEncodeError(what) from exc


def json_safe(value: Any, _depth: int = 0) -> Any:
    """``value`` made encodable by :func:`encode`, changing only what could not be written.

    Integers are clamped to the signed 64-bit range, lone surrogates become
    U+FFFD, non-finite floats become None, keys become strings, nesting past
    200 levels becomes ``"…"``, any other object its JSON (if orjson can
    write it) or ``"…"``. Pure; never raises.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return min(max(value, _INT_MIN), _INT_MAX)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _safe_str(value)
    if _depth >= _MAX_DEPTH:
        return _CUT
    if isinstance(value, Mapping):
        return {_safe_key(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, _depth + 1) for v in value]
    try:  # datetimes, enums, dataclasses: what orjson writes natively
        return orjson.loads(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError, ValueError, OverflowError, RecursionError):
        return _CUT


def _safe_str(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the input's JSON)
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _safe_key(key: Any) -> str:
    return _safe_str(key) if isinstance(key, str) else _safe_str(str(json_safe(key, _MAX_DEPTH)))


def encode_lenient(body: Any) -> bytes:
    """``body`` as JSON bytes even when :func:`encode` refuses it (through :func:`json_safe`)."""
    try:
        return orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError, ValueError, OverflowError, RecursionError):
        return orjson.dumps(json_safe(body))


def finding_records(out: Output, topics: Topics) -> list[Record]:
    """Each finding keyed by contract; :class:`OutputEncodeError` if one cannot be written."""
    return [Record(topics.findings, f.contract_id.encode(), encode(f.to_json(), "a finding")) for f in out.findings]


def event_records(out: Output, topics: Topics) -> list[Record]:
    """Each follow-up as ``{"change": "event"}`` keyed by incident id; :class:`OutputEncodeError` if not writable."""
    return [
        Record(
            topics.incidents,
            incident_id.encode(),
            encode({"change": "event", "incident_id": incident_id, "entry": entry.to_json()}, "a follow-up"),
        )
        for incident_id, entry in out.events
    ]


def incident_body(incident: Incident, *, opened: bool) -> dict[str, Any]:
    """An incident's record on ``incidents``: its facts and whether it was just opened."""
    body = incident.to_json()
    body["change"] = "opened" if opened else "updated"
    return body


def incident_record(incident: Incident, topics: Topics, *, opened: bool) -> Record:
    """An incident keyed by its id (a compacted view); :class:`OutputEncodeError` if it cannot be written."""
    body = incident_body(incident, opened=opened)
    return Record(topics.incidents, incident.incident_id.encode(), encode(body, "an incident"))


def output_records(out: Output, topics: Topics) -> list[Record]:
    """Findings keyed by contract, incident records keyed by incident id (a compacted view).

    Strict: :class:`OutputEncodeError` if any of them cannot be written.
    """
    opened = set(out.opened)
    incidents = [incident_record(i, topics, opened=i.incident_id in opened) for i in out.incidents]
    return [*finding_records(out, topics), *incidents, *event_records(out, topics)]


def decode_record(value: bytes | None) -> dict[str, Any]:
    """A stage's input record (one JSON object), or :class:`MalformedEventError` (``bad-json``) naming no value."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise MalformedEventError("bad-json", "the record has no value")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedEventError("bad-json", f"not valid UTF-8 JSON (at byte {exc.pos})") from exc
    if not isinstance(record, dict):
        raise MalformedEventError("bad-json", f"expected a JSON object, got {type(record).__name__}")
    return record


def _cut_text(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw
    return raw[: limit - len(_CUT.encode())].decode("utf-8", "ignore").encode() + _CUT.encode()


def dead_letter(
    topics: Topics,
    *,
    source: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: MalformedEventError,
    stage: str | None = None,
) -> Record:
    """The original bytes (cut to a bounded size) with the reason in headers, so it can be fixed and re-fed.

    The detail is the error's, which names fields and never values; it is
    still cut to :data:`DETAIL_MAX` bytes, as is everything else that did
    not come from Kinkyu itself.
    """
    value = value if isinstance(value, bytes) else b""
    key = key if isinstance(key, bytes) else None
    where = f"{source}/{partition}/{offset}"
    headers = [
        (DLQ_REASON, _cut_text(error.reason, REASON_MAX)),
        (DLQ_DETAIL, _cut_text(error.detail, DETAIL_MAX)),
        (DLQ_SOURCE, _cut_text(where, DETAIL_MAX)),
        (DLQ_AT, datetime.now(UTC).isoformat().encode()),
    ]
    if stage is not None:
        headers.append((DLQ_STAGE, _cut_text(stage, REASON_MAX)))
    if len(value) > DEAD_LETTER_MAX_VALUE:
        headers.append((DLQ_TRUNCATED, str(len(value)).encode()))
        value = value[:DEAD_LETTER_MAX_VALUE]
    if key is not None and len(key) > DEAD_LETTER_MAX_KEY:
        headers.append((DLQ_KEY_TRUNCATED, str(len(key)).encode()))
        key = key[:DEAD_LETTER_MAX_KEY]
    return Record(topics.dead_letters, key, value, tuple(headers))


def refusal_record(topics: Topics, refusal: Refusal, *, partition: int) -> Record:
    """A follow-up refused after it waited for its incident, as a dead letter.

    Its bytes were read long before, and the engine keeps only what would
    have gone on ``incidents``: the value is a summary of ids (event,
    contract, incident, kind), ``kinkyu-source`` names the original record on
    ``incident-events`` and ``kinkyu-deferred`` says so.
    """
    summary = {
        "event_id": refusal.event_id,
        "contract_id": refusal.contract_id,
        "incident_id": refusal.incident_id,
        "kind": refusal.kind,
    }
    record = dead_letter(
        topics,
        source=topics.incident_events,
        partition=partition,
        offset=-1 if refusal.ref is None else refusal.ref,
        key=refusal.contract_id.encode(),
        value=encode_lenient(json_safe(summary)),
        error=MalformedEventError(refusal.reason, refusal.detail),
    )
    return Record(record.topic, record.key, record.value, (*record.headers, (DLQ_DEFERRED, b"1")))
