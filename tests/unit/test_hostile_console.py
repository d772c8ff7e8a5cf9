"""The console's filing form, given anything a browser (or a script posing as one) can send.

It refuses with a :class:`~kinkyu.console.forms.FormError` naming the field,
or it makes an event; and an event it makes is one the detection stage takes:
the form must not accept what the stream then dead-letters (a person would
see 受け付けました for a filing nobody ever hears of).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import pytest
from builders import sample_policies
from hostile import KOGANEI, PLANTED, examples, text, weighted
from hypothesis import given
from hypothesis import strategies as st

from kinkyu.console.forms import FILING_KINDS, OFFERED_ITEMS, FormError, Reporter, filing_event
from kinkyu.core.engine import Engine
from kinkyu.core.wire import decode_incident
from kinkyu.streams.detector import process_batch
from kinkyu.streams.settings import Topics

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

REPORTER = Reporter("acme-security", "acme", "contractor")
TOPICS = Topics("fuzz-")
POLICIES = sample_policies()
# Local times as a datetime-local input sends them, and as a hand-made POST might.
LOCAL_TIMES = (
    "2026-11-20T09:40",
    "0001-01-01T00:00",
    "0001-01-01T00:00+14:00",
    "1999-12-31T23:59",
    "9999-12-31T23:59",
    "9999-12-31T23:59-14:00",
    "2026-11-20T09:40:00.123456+09:00",
    "2026-11-20 09:40",
    "2026-11-20",
    "2026-W47-5",
    "20261120T0940",
    "2026-11-20T24:00",
    "２０２６-11-20T09:40",
)


@dataclass(frozen=True, slots=True)
class Msg:
    key: bytes | None
    value: bytes | None
    offset: int


def local_time() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(LOCAL_TIMES),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(  # noqa: DTZ001  # a form sends local time without an offset
            lambda dt: dt.isoformat(timespec="minutes")
        ),
        st.text(max_size=20),
    )


def field_value(name: str) -> st.SearchStrategy[Any]:
    own: st.SearchStrategy[Any]
    if name in {"occurred_at", "discovered_at"}:
        own = local_time()
    elif name == "records_affected":
        own = st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70).map(str),
            st.sampled_from(["", " 3 ", "1_000", "١٢", "3.0", "1e3", "0x10", "9" * 4301, "-0"]),
        )
    elif name == "kind":
        own = st.sampled_from([*FILING_KINDS, "update", "resolution", ""])
    elif name == "contract_id":
        own = st.sampled_from([KOGANEI, "chiba-2026-021", "", f"{KOGANEI} "])
    else:
        own = st.one_of(st.sampled_from(["", "Acme print centre", "調査中", PLANTED]), text())
    return st.one_of(own, own, text()).filter(form_text)


def form_text(value: object) -> bool:
    """What aiohttp can hand the console: text, never a lone surrogate (it decodes %ED%A0%80 as U+FFFD)."""
    return isinstance(value, str) and not any("\ud800" <= c <= "\udfff" for c in value)


FIELDS = ("contract_id", "kind", "summary", "occurred_at", "discovered_at", "records_affected", "location", "details")


def forms() -> st.SearchStrategy[dict[str, str]]:
    """Forms that mostly pass the required fields, so that what follows them is tried too."""
    usual = {
        "contract_id": st.just(KOGANEI),
        "kind": st.sampled_from(FILING_KINDS),
        "summary": st.just("USB stick lost"),
    }
    required = {name: weighted((4, strategy), (1, field_value(name))) for name, strategy in usual.items()}
    optional = {name: field_value(name) for name in FIELDS if name not in usual}
    return st.fixed_dictionaries(required, optional=optional)


def items() -> st.SearchStrategy[list[str]]:
    return st.lists(
        st.one_of(st.sampled_from(OFFERED_ITEMS), st.sampled_from(["credit_card_number", ""]), text().filter(form_text))
    )


def now_utc() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


@examples(300)
@given(forms(), items())
def test_the_filing_form_refuses_naming_a_field_or_makes_an_event(form: dict[str, str], data_items: list[str]) -> None:
    refused: FormError | None = None
    try:
        event = filing_event(form, data_items, allowed_contracts=[KOGANEI], reporter=REPORTER, now=now_utc())
    except FormError as exc:
        refused = exc
    if refused is None:
        orjson.dumps(event)
    else:
        assert refused.field in {*FIELDS, "data_items"}
        assert PLANTED not in str(refused)


@examples(300)
@given(forms(), items())
def test_a_filing_the_form_accepts_is_one_the_detection_stage_opens_an_incident_for(
    form: dict[str, str], data_items: list[str]
) -> None:
    now = now_utc()
    try:
        event = filing_event(form, data_items, allowed_contracts=[KOGANEI], reporter=REPORTER, now=now)
    except FormError:
        return
    decode = partial(decode_incident, now=now.timestamp())
    batch = process_batch(
        Engine(POLICIES),
        "incident",
        [Msg(b"k", orjson.dumps(event), 0)],
        TOPICS,
        source="f",
        partition=0,
        decode=decode,
    )
    assert [d.reason for d in batch.dead_letters] == []
    assert len(batch.output.opened) == 1


@pytest.mark.parametrize("field", ["occurred_at", "discovered_at"])
def test_a_time_at_the_start_of_the_calendar_is_refused_naming_its_field(field: str) -> None:
    form = {"contract_id": KOGANEI, "kind": "loss", "summary": "USB stick lost", field: "0001-01-01T00:00+14:00"}
    with pytest.raises(FormError) as refused:
        filing_event(form, [], allowed_contracts=[KOGANEI], reporter=REPORTER, now=now_utc())
    assert refused.value.field == field
