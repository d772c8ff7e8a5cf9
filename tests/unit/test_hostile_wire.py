"""The wire decoders, given anything at all, decode it or refuse it with a reason: they raise nothing else.

A decoder that raises anything but MalformedEventError sends the event down
a stage's "bug" path (an error-level log line and a ``processing-error``
dead letter) instead of a clear reason, and stops ``kinkyu replay`` outright;
and no refusal may quote a value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hostile import OPEN_BUGS, PLANTED, Raw, access_wire, any_bytes, deep, emit, examples, incident_wire
from hypothesis import given

from kinkyu.core.wire import decode_access, decode_event, decode_incident
from kinkyu.exceptions import MalformedEventError

# A failing example may be a 100,000-deep document: Hypothesis warns before printing it, which must not
# hide the failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

# The reasons a decoder gives; anything else is a new code nobody routes or counts.
DECODER_REASONS = frozenset({"bad-json", "invalid", "out-of-range", "future-timestamp", "unknown-data-item"})


def decoded_or_refused(decode: Callable[[bytes], Any], raw: bytes) -> None:
    refused: MalformedEventError | None = None
    try:
        decode(bytes(raw))
    except MalformedEventError as exc:
        refused = exc
    except Exception as exc:
        if type(exc).__name__ not in OPEN_BUGS:
            raise
    if refused is not None:
        assert refused.reason in DECODER_REASONS
        assert PLANTED not in refused.detail


def decoders(*choices: Callable[..., Any]) -> list[Callable[[bytes], Any]]:
    """Each decoder as the stages call it: without a clock (tests, offline tools) and judged by now."""
    return [d for c in choices for d in (c, partial(c, now=time.time()))]


@examples(150)
@given(any_bytes())
def test_arbitrary_bytes_are_decoded_or_refused_with_a_reason(raw: bytes) -> None:
    for decode in decoders(decode_access, decode_incident, decode_event):
        decoded_or_refused(decode, raw)


@examples(150)
@given(access_wire())
def test_hostile_access_events_are_decoded_or_refused_with_a_reason(raw: bytes) -> None:
    for decode in decoders(decode_access, decode_event):
        decoded_or_refused(decode, raw)


@examples(150)
@given(incident_wire())
def test_hostile_incident_events_are_decoded_or_refused_with_a_reason(raw: bytes) -> None:
    for decode in decoders(decode_incident, decode_event):
        decoded_or_refused(decode, raw)


def _access(**changes: Any) -> bytes:
    event: dict[str, Any] = {
        "event_id": "e-1",
        "ts": "2026-11-20T10:00:00+09:00",
        "contract_id": "koganei-2026-017",
        "system": "juki-portal",
        "actor": {"id": "u1042", "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4"},
        "action": "read",
        "resource": {"dataset": "residents", "records": 5, "fields": ["name"]},
        "outcome": "success",
    }
    event.update(changes)
    return emit(event)


@pytest.mark.parametrize("decode", [decode_access, decode_event], ids=["decode_access", "decode_event"])
@pytest.mark.parametrize("nesting", [deep(10_000), deep(10_000, kind="object")], ids=["list", "object"])
def test_an_unknown_field_nested_ten_thousand_deep_is_refused(decode: Callable[[bytes], Any], nesting: Raw) -> None:
    with pytest.raises(MalformedEventError) as caught:
        decode(_access(attrs={"x": nesting}))
    assert caught.value.reason in DECODER_REASONS


@pytest.mark.parametrize("decode", [decode_access, decode_event], ids=["decode_access", "decode_event"])
def test_invalid_utf8_inside_a_string_is_refused_as_bad_json(decode: Callable[[bytes], Any]) -> None:
    raw = _access().replace(b'"u1042"', b'"\xff\xfe"')
    with pytest.raises(MalformedEventError) as caught:
        decode(raw)
    assert caught.value.reason == "bad-json"
