"""Counts and times at the wire edge (kinkyu.core.bounds): plausible, or refused with a reason that names the field.

The live worker judges "the future" by its wall clock, replay by its own;
these tests pass the judging clock in (NOW), as both do.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from builders import (
    PLANTED,
    WORKDAY,
    access_example,
    at,
    dumps,
    epoch,
    incident_example,
    quiet_read,
    sample_policies,
    with_value,
)

from kinkyu.contracts import load_profiles
from kinkyu.core.bounds import MAX_ID_LENGTH, MAX_LIST_ITEMS, MAX_PEOPLE, MAX_RECORDS, MAX_SUBJECT_IDS
from kinkyu.core.model import AccessEvent, IncidentEvent
from kinkyu.core.wire import check_access, decode_access, decode_event, decode_incident, incident_from_obj
from kinkyu.exceptions import MalformedEventError
from kinkyu.replay import Rejected, replay
from kinkyu.sim import generate, to_jsonl_bytes

# The judging clock: a Sunday noon in Japan, after every example's time.
NOW = epoch("2026-11-22T12:00:00+09:00")
FAR_FUTURE = "9999-12-31T23:59:59+09:00"
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "contracts"


def _json(obj: Any) -> bytes:
    # The standard writer: orjson refuses integers past 64 bits, which is what an attacker sends.
    return json.dumps(obj, ensure_ascii=False).encode()


def _access(**changes: Any) -> bytes:
    obj = access_example()
    for dotted, value in changes.items():
        obj = with_value(obj, dotted.replace("__", "."), value)
    return _json(obj)


def _incident(**changes: Any) -> bytes:
    obj = incident_example()
    obj.update(changes)
    return _json(obj)


def _refused(decode: Any, raw: bytes, **clock: float) -> MalformedEventError:
    with pytest.raises(MalformedEventError) as info:
        decode(raw, **clock)
    return info.value


# -- counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("records", [2**64, MAX_RECORDS + 1], ids=["2^64", "one past the maximum"])
def test_a_record_count_past_the_maximum_is_out_of_range_naming_the_field_not_the_number(records: int) -> None:
    error = _refused(decode_access, _access(resource__records=records), now=NOW)

    assert error.reason == "out-of-range"
    assert "resource.records" in error.detail
    assert str(records) not in error.detail


def test_a_record_count_at_the_maximum_decodes() -> None:
    ev = decode_access(_access(resource__records=MAX_RECORDS), now=NOW)

    assert ev.records == MAX_RECORDS


def test_more_fields_than_a_list_may_hold_is_out_of_range() -> None:
    fields = [f"f{i}" for i in range(MAX_LIST_ITEMS + 1)]

    error = _refused(decode_access, _access(resource__fields=fields), now=NOW)

    assert (error.reason, "resource.fields" in error.detail) == ("out-of-range", True)


def test_more_subject_ids_than_one_event_may_carry_is_out_of_range() -> None:
    ev = msgspec.structs.replace(decode_access(dumps(access_example())), subject_ids=("s",) * (MAX_SUBJECT_IDS + 1))

    with pytest.raises(MalformedEventError) as info:
        check_access(ev, now=NOW)

    assert (info.value.reason, "resource.subject_ids" in info.value.detail) == ("out-of-range", True)


def test_a_filing_stating_more_records_affected_than_the_maximum_is_out_of_range() -> None:
    error = _refused(decode_incident, _incident(records_affected=2**64), now=NOW)

    assert (error.reason, "records_affected" in error.detail) == ("out-of-range", True)


@pytest.mark.parametrize("count", [-1, 2**64, MAX_PEOPLE + 1, 1e300], ids=["negative", "2^64", "past max", "1e300"])
def test_a_count_of_people_in_a_follow_ups_data_outside_the_range_is_out_of_range(count: float) -> None:
    error = _refused(decode_incident, _incident(data={"distinct_people": count}), now=NOW)

    assert (error.reason, "data.distinct_people" in error.detail) == ("out-of-range", True)


def test_a_number_that_is_not_a_number_in_data_is_out_of_range() -> None:
    # JSON cannot carry NaN, but the console builds filings as Python objects.
    obj = {**incident_example(), "data": {"distinct_people": float("nan")}}

    with pytest.raises(MalformedEventError) as info:
        incident_from_obj(obj, now=NOW)

    assert info.value.reason == "out-of-range"


def test_any_other_number_in_data_is_held_to_the_same_range_and_its_key_is_not_quoted() -> None:
    error = _refused(decode_incident, _incident(data={PLANTED: -5}), now=NOW)

    assert error.reason == "out-of-range"
    assert PLANTED not in error.detail


def test_a_list_in_data_longer_than_a_list_may_hold_is_out_of_range() -> None:
    datasets = [f"d{i}" for i in range(MAX_LIST_ITEMS + 1)]

    error = _refused(decode_incident, _incident(data={"datasets": datasets}), now=NOW)

    assert (error.reason, "datasets" in error.detail) == ("out-of-range", True)


def test_a_follow_up_with_its_counts_inside_the_range_decodes() -> None:
    ev = decode_incident(_incident(data={"distinct_people": MAX_PEOPLE, "encrypted": True}), now=NOW)

    assert ev.data == {"distinct_people": MAX_PEOPLE, "encrypted": True}


@pytest.mark.parametrize("field", ["event_id", "contract_id", "system", "actor__id", "source__host", "session_id"])
def test_an_identifier_longer_than_an_id_may_be_is_refused_naming_the_field(field: str) -> None:
    error = _refused(decode_access, _access(**{field: "x" * (MAX_ID_LENGTH + 1)}), now=NOW)

    assert error.reason == "invalid"
    assert error.detail.startswith(field.replace("__", "."))
    assert "xxx" not in error.detail


def test_an_identifier_of_the_maximum_length_decodes() -> None:
    ev = decode_access(_access(actor__id="u" * MAX_ID_LENGTH), now=NOW)

    assert len(ev.actor_id) == MAX_ID_LENGTH


def test_a_filer_id_longer_than_an_id_may_be_is_refused() -> None:
    obj = {**incident_example(), "reported_by": {"id": "x" * (MAX_ID_LENGTH + 1)}}

    error = _refused(decode_incident, _json(obj), now=NOW)

    assert (error.reason, error.detail.startswith("reported_by.id")) == ("invalid", True)


# -- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ts", ["1999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+09:00"])
def test_an_access_time_before_2000_is_out_of_range(ts: str) -> None:
    error = _refused(decode_access, _access(ts=ts), now=NOW)

    assert (error.reason, error.detail) == ("out-of-range", "ts is before 2000-01-01")


@pytest.mark.parametrize("ahead", [301.0, 10 * 365 * 86400.0], ids=["just past the skew", "ten years"])
def test_an_access_time_more_than_the_skew_ahead_of_the_clock_is_a_future_timestamp(ahead: float) -> None:
    ts = datetime.fromtimestamp(NOW + ahead).astimezone().isoformat()

    error = _refused(decode_access, _access(ts=ts), now=NOW, max_skew=300.0)

    assert error.reason == "future-timestamp"
    assert error.detail.startswith("ts is more than 300 s ahead")


def test_a_heartbeat_dated_9999_is_a_future_timestamp() -> None:
    beat = with_value(quiet_read("hb", FAR_FUTURE), "action", "heartbeat")

    error = _refused(decode_access, dumps(beat), now=NOW)

    assert error.reason == "future-timestamp"
    assert "9999" not in error.detail


def test_an_access_time_inside_the_skew_decodes() -> None:
    ts = datetime.fromtimestamp(NOW + 299).astimezone().isoformat()

    assert decode_access(_access(ts=ts), now=NOW, max_skew=300.0).t == pytest.approx(NOW + 299)


def test_without_a_judging_clock_no_time_is_in_the_future_and_the_other_bounds_still_hold() -> None:
    assert decode_access(_access(ts=FAR_FUTURE)).ts.year == 9999
    assert _refused(decode_access, _access(ts="1970-01-01T00:00:00+00:00")).reason == "out-of-range"


@pytest.mark.parametrize("field", ["ts", "occurred_at", "discovered_at"])
def test_a_filing_dated_year_1_is_out_of_range_naming_the_time(field: str) -> None:
    error = _refused(decode_incident, _incident(**{field: "0001-01-01T00:00:00+09:00"}), now=NOW)

    assert (error.reason, error.detail) == ("out-of-range", f"{field} is before 2000-01-01")


@pytest.mark.parametrize("field", ["ts", "occurred_at", "discovered_at"])
def test_a_filing_dated_past_the_skew_is_a_future_timestamp_naming_the_time(field: str) -> None:
    error = _refused(decode_incident, _incident(**{field: FAR_FUTURE}), now=NOW)

    assert error.reason == "future-timestamp"
    assert error.detail.startswith(f"{field} is more than")


def test_decode_event_judges_either_kind_by_the_clock_it_is_given() -> None:
    access, filing = _access(ts=FAR_FUTURE), _incident(ts=FAR_FUTURE)

    assert [_refused(decode_event, raw, now=NOW).reason for raw in (access, filing)] == ["future-timestamp"] * 2
    assert isinstance(decode_event(access), AccessEvent)
    assert isinstance(decode_event(filing), IncidentEvent)


# -- replay judges by its own clock ---------------------------------------------------------------


def test_replay_rejects_a_line_dated_past_its_own_clock_as_a_future_timestamp(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    lines = [quiet_read("e1", at(WORKDAY, "10:00")), quiet_read("e2", FAR_FUTURE)]
    log.write_bytes(b"".join(dumps(line) + b"\n" for line in lines))
    rejected: list[Rejected] = []

    result = replay(sample_policies(), [log], now=NOW, rejected=rejected.append)

    assert [(r.line, r.error.reason) for r in rejected] == [(2, "future-timestamp")]
    assert [i.actor for i in result.incidents.values()] == ["u9999"]
    assert result.stats.reasons == {"future-timestamp": 1}


# -- the simulator stays inside the bounds ---------------------------------------------------------


def test_every_event_the_simulator_writes_is_inside_the_bounds_judged_once_its_period_is_over() -> None:
    start = datetime.fromisoformat(at(WORKDAY, "08:00"))
    stream, planted = generate(load_profiles([SAMPLES]), events=20_000, seed=7, start=start)
    lines = [to_jsonl_bytes(ev) for ev in stream]
    over = max(decode_access(line).t for line in lines)  # the post-contract plants, after every contract ended

    decoded = [decode_access(line, now=over, max_skew=0.0) for line in lines]  # refuses nothing

    assert len(decoded) == len(lines)
    assert planted
