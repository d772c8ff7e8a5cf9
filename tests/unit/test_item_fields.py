"""An access event's ``resource.fields`` are item codes: anything else is counted at the wire, never kept.

A field name is text the log's writer chose, and findings, incidents and
reports copy fields. The wire keeps the item codes of events.md's list
(:data:`kinkyu.core.legal.labels.ITEM_LABELS`, read as the console reads a
data item: case and surrounding spaces ignored) and counts the rest in
``fields_withheld``; the event itself is still detected on. Contracts list
their datasets' fields in the same vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import KOGANEI, PLANTED, STRANGER, WORKDAY, at, dumps, quiet_read, sample_policies, with_value

from kinkyu.contracts import load_profile
from kinkyu.core.engine import Engine
from kinkyu.core.model import AccessEvent
from kinkyu.core.wire import decode_access, decode_event
from kinkyu.exceptions import ContractError, MalformedEventError

NAME_AS_FIELD = f"{PLANTED} 090-1234-5678"


def _read(fields: list[str], *, actor: str = "u1042", action: str = "read") -> bytes:
    event = quiet_read("e-1", at(WORKDAY, "10:00"), actor=actor)
    event["action"] = action
    return dumps(with_value(event, "resource.fields", fields))


def _both_paths(raw: bytes) -> list[AccessEvent]:
    """The event as the hot path decodes it and as the authority (pydantic) does.

    A count written as a string is one msgspec refuses and pydantic's lax mode reads.
    """
    slow = raw.replace(b'"records":5', b'"records":"5"', 1)
    assert slow != raw
    either = decode_event(raw)
    assert isinstance(either, AccessEvent)
    return [decode_access(raw), either, decode_access(slow)]


@pytest.mark.parametrize("decoded", _both_paths(_read(["name", NAME_AS_FIELD, "address", "x" * 200])))
def test_a_field_that_is_not_an_item_code_is_counted_and_not_kept(decoded: AccessEvent) -> None:
    assert (decoded.fields, decoded.fields_withheld) == (("name", "address"), 2)


@pytest.mark.parametrize("decoded", _both_paths(_read(["Name", " my_number ", "credit_card_number"])))
def test_item_codes_are_read_as_the_console_reads_them(decoded: AccessEvent) -> None:
    assert (decoded.fields, decoded.fields_withheld) == (("name", "my_number", "credit_card_number"), 0)


def test_an_event_whose_every_field_is_unknown_keeps_an_empty_list_and_the_count() -> None:
    decoded = decode_access(_read([NAME_AS_FIELD]))

    assert (decoded.fields, decoded.fields_withheld) == ((), 1)


def test_no_fields_stays_no_fields() -> None:
    event = quiet_read("e-1", at(WORKDAY, "10:00"))
    del event["resource"]["fields"]

    decoded = decode_access(dumps(event))

    assert (decoded.fields, decoded.fields_withheld) == (None, 0)


def test_unknown_fields_count_toward_the_bound_on_the_list() -> None:
    with pytest.raises(MalformedEventError) as refused:
        decode_access(_read(["name"] + [NAME_AS_FIELD] * 256))

    assert refused.value.reason == "out-of-range"
    assert PLANTED not in refused.value.detail


def _findings_of(raw: bytes) -> list[dict[str, object]]:
    engine = Engine(sample_policies())
    out = engine.on_access(decode_access(raw))
    return [{"rule": f.rule, **f.detail} for f in out.findings]


def test_the_event_is_still_detected_on_and_no_finding_carries_the_unknown_name() -> None:
    found = _findings_of(_read(["name", NAME_AS_FIELD], actor=STRANGER))

    assert "unregistered-actor" in {f["rule"] for f in found}
    assert PLANTED not in repr(found)


def test_an_unknown_field_is_outside_the_contracted_dataset_and_counted_on_the_finding() -> None:
    found = _findings_of(_read(["name", NAME_AS_FIELD]))

    [scope] = [f for f in found if f["rule"] == "scope-violation"]
    assert (scope["reason"], scope["fields"], scope["fields_withheld"]) == ("fields-outside-dataset", [], 1)


def test_known_fields_outside_the_dataset_are_named_beside_the_count() -> None:
    found = _findings_of(_read(["name", "my_number", NAME_AS_FIELD]))

    [scope] = [f for f in found if f["rule"] == "scope-violation"]
    assert (scope["fields"], scope["fields_withheld"]) == (["my_number"], 1)


def test_fields_the_dataset_lists_fire_nothing_and_carry_no_count() -> None:
    assert _findings_of(_read(["name", "address"])) == []


def test_a_finding_that_lists_fields_lists_only_item_codes() -> None:
    raw = _read(["name", NAME_AS_FIELD], action="email_send")

    [pii] = [f for f in _findings_of(raw) if f["rule"] == "pii-email"]

    assert (pii["fields"], pii["fields_withheld"]) == (["name"], 1)


def test_the_hot_path_returns_a_tuple_of_codes_as_it_came() -> None:
    # The common case costs one set test: no new tuple per event.
    from kinkyu.core.freetext import split_item_codes  # noqa: PLC0415  # the function under test alone

    fields = ("name", "address")
    kept, withheld = split_item_codes(fields)

    assert (kept is fields, withheld) == (True, 0)


def test_a_contract_whose_dataset_lists_a_field_that_is_not_an_item_code_is_refused(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "samples" / "contracts" / f"{KOGANEI}.yaml").read_text()
    path = tmp_path / "contract.yaml"
    path.write_text(example.replace("fields: [name, address,", "fields: [name, kana, address,", 1), encoding="utf-8")

    with pytest.raises(ContractError) as refused:
        load_profile(path)

    assert "datasets.residents.fields.1" in str(refused.value)
    assert "item code" in str(refused.value)
