"""Wire formats of shared/spec/events.md: what decodes, what is refused, and what an error may say."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from builders import PLANTED, access_example, dumps, incident_example, with_value, without
from pydantic import ValidationError

from kinkyu.core.model import FOLLOW_UP_KINDS, AccessEvent, IncidentEvent, Person
from kinkyu.core.wire import (
    AccessLogEventIn,
    _fast_decode,
    decode_access,
    decode_incident,
)
from kinkyu.exceptions import MalformedEventError

JST = timezone(timedelta(hours=9))


def _refusal(raw: bytes, *, incident: bool = False) -> MalformedEventError:
    decode: Callable[[bytes], object] = decode_incident if incident else decode_access
    with pytest.raises(MalformedEventError) as info:
        decode(raw)
    return info.value


# -- the examples of events.md ------------------------------------------------------------


def test_access_example_of_the_spec_decodes_to_exactly_its_values() -> None:
    ev = decode_access(dumps(access_example()))

    ts = datetime(2026, 11, 21, 9, 15, 2, 123000, tzinfo=JST)
    assert ev == AccessEvent(
        event_id="a7f3c2e0-1b7e-4d8e-9a51-0c2f1f3b9e10",
        ts=ts,
        t=ts.timestamp(),
        contract_id="koganei-2026-017",
        system="juki-portal",
        actor_id="u1042",
        actor_org="acme",
        actor_role="operator",
        source_ip="10.20.3.4",
        source_host="pc-17",
        source_site="koganei-hq-3f",
        action="export",
        outcome="success",
        dataset="residents",
        records=1200,
        fields=("name", "address", "birthdate"),
        subject_ids=None,
        destination=None,
        encrypted=None,
        session_id="s-88a1",
    )
    assert ev.ts.utcoffset() == timedelta(hours=9)


def test_incident_example_of_the_spec_decodes_to_exactly_its_values() -> None:
    ev = decode_incident(dumps(incident_example()))

    assert ev == IncidentEvent(
        event_id="5d2b0c4e-6f0a-4a7b-8a0e-1f9e2d3c4b5a",
        ts=datetime(2026, 11, 21, 10, 2, tzinfo=JST),
        contract_id="koganei-2026-017",
        kind="misdelivery",
        incident_id=None,
        reported_by=Person("sec-07", "acme", "security"),
        summary="Notice for 3 residents mailed to the wrong address",
        occurred_at=datetime(2026, 11, 20, 16, 0, tzinfo=JST),
        discovered_at=datetime(2026, 11, 21, 9, 40, tzinfo=JST),
        location="Acme print centre, Fuchu",
        records_affected=3,
        data_items=("name", "address"),
        details="free text, may contain personal information",
    )


def test_access_event_with_unknown_fields_top_level_and_nested_decodes_as_without_them() -> None:
    obj = access_example()
    obj["shipper"] = {"name": "fluent-bit", "version": 3}
    obj["actor"]["department"] = "ops"
    obj["source"]["mac"] = "00:11:22:33:44:55"
    obj["resource"]["table"] = "jumin"

    assert decode_access(dumps(obj)) == decode_access(dumps(access_example()))


def test_incident_event_with_unknown_fields_top_level_and_nested_decodes_as_without_them() -> None:
    obj = incident_example()
    obj["ticket"] = "HD-1234"
    obj["reported_by"]["phone_ext"] = "1234"

    assert decode_incident(dumps(obj)) == decode_incident(dumps(incident_example()))


# -- required fields --------------------------------------------------------------------

ACCESS_REQUIRED = [
    "event_id",
    "ts",
    "contract_id",
    "system",
    "actor",
    "actor.id",
    "source",
    "source.ip",
    "action",
    "outcome",
]


@pytest.mark.parametrize("field", ACCESS_REQUIRED)
def test_access_event_missing_a_required_field_is_invalid_naming_the_field(field: str) -> None:
    err = _refusal(dumps(without(access_example(), field)))

    assert err.reason == "invalid"
    assert field in err.detail


@pytest.mark.parametrize("field", ["event_id", "contract_id", "system", "actor.id", "source.ip"])
def test_access_event_with_an_empty_required_string_is_invalid_naming_the_field(field: str) -> None:
    err = _refusal(dumps(with_value(access_example(), field, "")))

    assert err.reason == "invalid"
    assert field in err.detail


INCIDENT_REQUIRED = ["event_id", "ts", "contract_id", "kind", "reported_by", "reported_by.id"]


@pytest.mark.parametrize("field", INCIDENT_REQUIRED)
def test_incident_event_missing_a_required_field_is_invalid_naming_the_field(field: str) -> None:
    err = _refusal(dumps(without(incident_example(), field)), incident=True)

    assert err.reason == "invalid"
    assert field in err.detail


@pytest.mark.parametrize("action", ["read", "search", "export", "print", "copy", "email_send", "media_write"])
def test_data_action_without_resource_is_invalid_naming_resource(action: str) -> None:
    obj = without(with_value(access_example(), "action", action), "resource")

    err = _refusal(dumps(obj))

    assert err.reason == "invalid"
    assert "resource" in err.detail


@pytest.mark.parametrize("missing", ["resource.dataset", "resource.records"])
def test_data_action_whose_resource_lacks_dataset_or_records_is_invalid_naming_it(missing: str) -> None:
    err = _refusal(dumps(without(access_example(), missing)))

    assert err.reason == "invalid"
    assert missing in err.detail


@pytest.mark.parametrize("action", ["login", "login_failed", "logout", "heartbeat", "permission_change"])
def test_non_data_action_needs_no_resource(action: str) -> None:
    obj = without(with_value(access_example(), "action", action), "resource")

    ev = decode_access(dumps(obj))

    assert ev.action == action
    assert ev.dataset is None
    assert ev.records is None


def test_unknown_action_is_invalid_naming_action() -> None:
    err = _refusal(dumps(with_value(access_example(), "action", "teleport")))

    assert err.reason == "invalid"
    assert "action" in err.detail


def test_negative_record_count_is_invalid_naming_resource_records() -> None:
    err = _refusal(dumps(with_value(access_example(), "resource.records", -1)))

    assert err.reason == "invalid"
    assert "resource.records" in err.detail


# -- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize("ts", ["2026-11-21T09:15:02.123", "2026-11-21T09:15:02", "2026-11-21"])
def test_access_event_without_offset_in_ts_is_rejected_naming_the_field(ts: str) -> None:
    err = _refusal(dumps(with_value(access_example(), "ts", ts)))

    assert err.reason == "invalid"
    assert "ts" in err.detail


def test_incident_event_without_offset_in_ts_is_rejected_naming_the_field() -> None:
    err = _refusal(dumps(with_value(incident_example(), "ts", "2026-11-21T10:02:00")), incident=True)

    assert err.reason == "invalid"
    assert "ts" in err.detail


def test_utc_ts_is_the_same_instant_as_its_japan_time() -> None:
    utc = decode_access(dumps(with_value(access_example(), "ts", "2026-11-21T00:15:02.123Z")))
    jst = decode_access(dumps(access_example()))

    assert utc.t == jst.t
    assert utc.ts.utcoffset() == timedelta(0)


def test_event_time_t_is_posix_seconds_of_ts() -> None:
    ev = decode_access(dumps(access_example()))

    assert ev.t == datetime(2026, 11, 21, 0, 15, 2, 123000, tzinfo=UTC).timestamp()


# -- incident kinds --------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FOLLOW_UP_KINDS))
def test_follow_up_kind_without_incident_id_is_invalid_naming_incident_id(kind: str) -> None:
    obj = with_value(incident_example(), "kind", kind)

    err = _refusal(dumps(obj), incident=True)

    assert err.reason == "invalid"
    assert "incident_id" in err.detail


@pytest.mark.parametrize("kind", sorted(FOLLOW_UP_KINDS))
def test_follow_up_kind_with_incident_id_decodes(kind: str) -> None:
    obj = with_value(with_value(incident_example(), "kind", kind), "incident_id", "INC-20261121-0001")

    ev = decode_incident(dumps(obj))

    assert ev.kind == kind
    assert ev.incident_id == "INC-20261121-0001"


@pytest.mark.parametrize(
    "kind", ["leak", "loss", "misdelivery", "unauthorized_access", "tampering", "system_outage", "complaint", "other"]
)
def test_opening_kind_decodes_without_incident_id(kind: str) -> None:
    ev = decode_incident(dumps(with_value(incident_example(), "kind", kind)))

    assert ev.kind == kind
    assert ev.incident_id is None


def test_unknown_incident_kind_is_invalid_naming_kind() -> None:
    err = _refusal(dumps(with_value(incident_example(), "kind", "rumour")), incident=True)

    assert err.reason == "invalid"
    assert "kind" in err.detail


def test_incident_event_with_only_required_fields_decodes_with_empty_optionals() -> None:
    obj = {key: incident_example()[key] for key in ("event_id", "ts", "contract_id", "kind", "reported_by")}

    ev = decode_incident(dumps(obj))

    assert ev.summary is None
    assert ev.occurred_at is None
    assert ev.discovered_at is None
    assert ev.records_affected is None
    assert ev.data_items == ()
    assert ev.details is None


# -- not JSON, not an object -------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"{", b"{not json}", b"\xff\xfe{}", b'{"a": 1} trailing'])
def test_bytes_that_are_not_json_are_rejected_as_bad_json(raw: bytes) -> None:
    assert _refusal(raw).reason == "bad-json"
    assert _refusal(raw, incident=True).reason == "bad-json"


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"event"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected_as_bad_json(raw: bytes) -> None:
    assert _refusal(raw).reason == "bad-json"
    assert _refusal(raw, incident=True).reason == "bad-json"


# -- errors never echo input values ------------------------------------------------------

PLANTED_ACCESS: list[tuple[str, Any]] = [
    ("ts", PLANTED),
    ("ts", f"2026-11-21T{PLANTED}"),
    ("action", PLANTED),
    ("outcome", PLANTED),
    ("actor", PLANTED),
    ("actor.id", {"name": PLANTED}),
    ("source", PLANTED),
    ("source.ip", [PLANTED]),
    ("resource", PLANTED),
    ("resource.records", PLANTED),
    ("resource.fields", PLANTED),
    ("resource.fields", [PLANTED, 7]),
    ("resource.subject_ids", {"who": PLANTED}),
    ("encrypted", PLANTED),
    ("attrs", PLANTED),
    ("event_id", [PLANTED]),
    ("session_id", {"k": PLANTED}),
    ("destination", [PLANTED]),
]


def _assert_no_echo(err: MalformedEventError) -> None:
    assert PLANTED not in str(err)
    assert PLANTED not in err.detail
    assert PLANTED not in repr(err)
    assert all(PLANTED not in str(arg) for arg in err.args)


@pytest.mark.parametrize(("field", "value"), PLANTED_ACCESS)
def test_access_error_names_the_bad_field_but_never_its_value(field: str, value: Any) -> None:
    err = _refusal(dumps(with_value(access_example(), field, value)))

    assert err.reason == "invalid"
    assert field.split(".", maxsplit=1)[0] in err.detail
    _assert_no_echo(err)


PLANTED_INCIDENT: list[tuple[str, Any]] = [
    ("kind", PLANTED),
    ("ts", PLANTED),
    ("occurred_at", PLANTED),
    ("discovered_at", f"2026-11-21T09:40:00 {PLANTED}"),
    ("records_affected", PLANTED),
    ("data_items", PLANTED),
    ("reported_by", PLANTED),
    ("details", {"text": PLANTED}),
    ("summary", [PLANTED]),
]


@pytest.mark.parametrize(("field", "value"), PLANTED_INCIDENT)
def test_incident_error_names_the_bad_field_but_never_its_value(field: str, value: Any) -> None:
    err = _refusal(dumps(with_value(incident_example(), field, value)), incident=True)

    assert err.reason == "invalid"
    assert field in err.detail
    _assert_no_echo(err)


def test_bad_json_error_never_quotes_the_text_around_the_fault() -> None:
    raw = ('{"actor": {"id": "u1", "name": "' + PLANTED + '"}, oops').encode()

    err = _refusal(raw)

    assert err.reason == "bad-json"
    _assert_no_echo(err)


def test_follow_up_without_incident_id_error_never_quotes_the_details() -> None:
    obj = with_value(incident_example(), "kind", "update")
    obj["details"] = PLANTED

    err = _refusal(dumps(obj), incident=True)

    _assert_no_echo(err)


# -- the fast path and the pydantic path agree --------------------------------------------


def _variants_taking_the_fast_path() -> list[tuple[str, dict[str, Any]]]:
    ex = access_example()
    heartbeat = without(with_value(ex, "action", "heartbeat"), "resource")
    v: list[tuple[str, dict[str, Any]]] = [
        ("canonical", ex),
        (
            "without optional top-level fields",
            {k: ex[k] for k in ex if k not in {"session_id", "destination", "encrypted", "attrs"}},
        ),
        ("optional top-level fields null", {**ex, "session_id": None, "attrs": None}),
        ("records 0", with_value(ex, "resource.records", 0)),
        ("fields absent", without(ex, "resource.fields")),
        ("fields null", with_value(ex, "resource.fields", None)),
        ("fields empty", with_value(ex, "resource.fields", [])),
        ("subject ids", with_value(ex, "resource.subject_ids", ["h:1a2b", "h:3c4d"])),
        ("actor with id only", with_value(ex, "actor", {"id": "u1042"})),
        ("actor org and role null", with_value(ex, "actor", {"id": "u1042", "org": None, "role": None})),
        ("source with ip only", with_value(ex, "source", {"ip": "10.20.3.4"})),
        ("source host and site null", with_value(ex, "source", {"ip": "10.20.3.4", "host": None, "site": None})),
        ("heartbeat without resource", heartbeat),
        ("login with null resource", with_value(with_value(ex, "action", "login"), "resource", None)),
        ("logout with empty resource", with_value(with_value(ex, "action", "logout"), "resource", {})),
        ("failure outcome", with_value(ex, "outcome", "failure")),
        ("UTC designator", with_value(ex, "ts", "2026-11-21T00:15:02.123Z")),
        ("no fraction", with_value(ex, "ts", "2026-11-21T09:15:02+09:00")),
        ("microseconds", with_value(ex, "ts", "2026-11-21T09:15:02.123456+09:00")),
        ("negative offset", with_value(ex, "ts", "2026-11-20T19:15:02-05:00")),
        ("nested attrs", with_value(ex, "attrs", {"a": {"b": [1, 2, None]}, "c": "d"})),
        ("extra fields", {**ex, "x": 1, "actor": {**ex["actor"], "y": [1]}}),
    ]
    for action in ("email_send", "fax_send", "upload", "media_write"):
        sent = with_value(ex, "action", action)
        sent["destination"] = "device-7"
        sent["encrypted"] = True
        v.append((f"{action} with destination, encrypted", sent))
    v.append(("encrypted false", with_value(ex, "encrypted", value=False)))
    return v


FAST_VARIANTS = _variants_taking_the_fast_path()


@pytest.mark.parametrize("obj", [o for _, o in FAST_VARIANTS], ids=[n for n, _ in FAST_VARIANTS])
def test_fast_path_gives_the_same_event_as_the_pydantic_model(obj: dict[str, Any]) -> None:
    fast = _fast_decode(dumps(obj))
    slow = AccessLogEventIn.model_validate(obj).to_domain()

    assert fast is not None, "a canonical shape should not need the slow path"
    assert fast == slow
    assert fast.ts.utcoffset() == slow.ts.utcoffset()


LENIENT_VARIANTS: list[tuple[str, str, Any]] = [
    ("records as a numeric string", "resource.records", "5"),
    ("records as a float", "resource.records", 5.0),
    ("encrypted as a string", "encrypted", "true"),
    ("ts with a space separator", "ts", "2026-11-21 09:15:02+09:00"),
]


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for _, f, v in LENIENT_VARIANTS], ids=[n for n, _, _ in LENIENT_VARIANTS]
)
def test_shapes_the_fast_path_declines_are_decided_by_the_pydantic_model(field: str, value: Any) -> None:
    obj = with_value(access_example(), field, value)

    assert decode_access(dumps(obj)) == AccessLogEventIn.model_validate(obj).to_domain()


REFUSED_VARIANTS: list[tuple[str, str, Any]] = [
    ("naive ts", "ts", "2026-11-21T09:15:02"),
    ("ts not a time", "ts", "yesterday"),
    ("ts a number", "ts", [1]),
    ("negative records", "resource.records", -3),
    ("records text", "resource.records", "many"),
    ("fields a string", "resource.fields", "name"),
    ("fields of numbers", "resource.fields", [1, 2]),
    ("subject ids a string", "resource.subject_ids", "h:1"),
    ("actor a string", "actor", "u1042"),
    ("actor id a number", "actor.id", 1042),
    ("org a list", "actor.org", ["acme"]),
    ("source ip null", "source.ip", None),
    ("host a number", "source.host", 17),
    ("attrs a list", "attrs", [1]),
    ("outcome unknown", "outcome", "partial"),
    ("destination a number", "destination", 1),
    ("encrypted a word", "encrypted", "perhaps"),
    ("contract null", "contract_id", None),
]


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for _, f, v in REFUSED_VARIANTS], ids=[n for n, _, _ in REFUSED_VARIANTS]
)
def test_fast_path_never_accepts_what_the_pydantic_model_refuses(field: str, value: Any) -> None:
    obj = with_value(access_example(), field, value)

    assert _fast_decode(dumps(obj)) is None
    with pytest.raises(MalformedEventError) as info:
        decode_access(dumps(obj))
    assert info.value.reason == "invalid"


@pytest.mark.parametrize(
    "ts",
    [
        "20261121T091502+0900",  # ISO 8601 basic format
        "2026-W47-6T09:15:02+09:00",  # ISO week date
        "2026-11-21T09:15:02+09",  # offset without minutes
        "2026-11-21T09+09:00",  # hour only
    ],
)
def test_fast_path_refuses_ts_forms_the_pydantic_model_refuses(ts: str) -> None:
    obj = with_value(access_example(), "ts", ts)
    with pytest.raises(ValidationError):
        AccessLogEventIn.model_validate(obj)  # the authority says no ...
    assert _fast_decode(dumps(obj)) is None
    try:
        decode_access(dumps(obj))
    except MalformedEventError as exc:
        verdict: str | None = exc.reason
    else:
        verdict = None
    assert verdict == "invalid"  # ... so the decoder must say no as well


@pytest.mark.parametrize("action", [["read"], {"name": "read"}])
def test_action_that_is_not_a_string_is_invalid_not_a_crash(action: Any) -> None:
    err = _refusal(dumps(with_value(access_example(), "action", action)))

    assert err.reason == "invalid"
    assert "action" in err.detail
