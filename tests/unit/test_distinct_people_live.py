"""The number of people on live incidents: distinct subject ids, counted by the engine, never published."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from builders import KOGANEI, SAMPLE_SPEC_CONTRACT, WORKDAY, access, at, dumps, quiet_read, sample_policies

import kinkyu.core.incident
from kinkyu.contracts import load_profiles
from kinkyu.core.engine import Engine, Output
from kinkyu.core.incident import Incident
from kinkyu.core.legal import PeopleCount, assess, breach_facts_from_incident
from kinkyu.core.model import AccessEvent
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.rules.windowed import BulkExport
from kinkyu.core.wire import decode_access

IDS = ("sid-a1", "sid-b2", "sid-c3", "sid-d4", "sid-e5")


def _engine() -> Engine:
    return Engine(sample_policies(), rules=[UnregisteredActor()])


def _read(event_id: str, clock: str, subject_ids: list[str] | None, *, records: int = 5) -> AccessEvent:
    obj = quiet_read(event_id, at(WORKDAY, clock))
    obj["resource"]["records"] = records
    if subject_ids is not None:
        obj["resource"]["subject_ids"] = subject_ids
    return access(obj)


def _export(event_id: str, clock: str, subject_ids: list[str] | None, *, records: int = 300) -> AccessEvent:
    obj = quiet_read(event_id, at(WORKDAY, clock), actor="u1042")
    obj["action"] = "export"
    obj["resource"]["records"] = records
    if subject_ids is not None:
        obj["resource"]["subject_ids"] = subject_ids
    return access(obj)


def _last(engine: Engine, events: list[AccessEvent]) -> Incident:
    incident: Incident | None = None
    for ev in events:
        out = engine.on_access(ev)
        if out.incidents:
            incident = out.incidents[-1]
    assert incident is not None
    return incident


def _people(incident: Incident) -> tuple[Any, Any, int]:
    record = incident.to_json()
    return record["distinct_people"], record["distinct_people_exact"], record["records"]


def test_people_in_several_events_are_counted_once() -> None:
    incident = _last(
        _engine(),
        [
            _read("e1", "10:00", ["sid-a1", "sid-b2"]),
            _read("e2", "10:05", ["sid-b2", "sid-c3"]),
            _read("e3", "10:10", ["sid-c3", "sid-d4", "sid-a1"]),
        ],
    )
    assert _people(incident) == (4, True, 15)


def test_subject_ids_decoded_on_the_hot_path_reach_the_incident() -> None:
    obj = quiet_read("e1", at(WORKDAY, "10:00"))
    obj["resource"]["subject_ids"] = ["sid-a1", "sid-a1", "sid-b2"]
    out = _engine().on_access(decode_access(dumps(obj)))
    assert _people(out.incidents[0])[:2] == (2, True)


def test_an_event_with_records_but_no_subject_ids_makes_the_count_a_lower_bound() -> None:
    incident = _last(
        _engine(),
        [_read("e1", "10:00", ["sid-a1", "sid-b2"]), _read("e2", "10:05", None, records=40)],
    )
    # 2 people known, up to 45: the run takes the record sum as the upper bound.
    assert _people(incident) == (2, False, 45)


def test_an_event_without_records_needs_no_subject_ids() -> None:
    incident = _last(_engine(), [_read("e1", "10:00", ["sid-a1"]), _read("e2", "10:05", None, records=0)])
    assert _people(incident) == (1, True, 5)


def test_no_subject_ids_at_all_leaves_the_number_of_people_unknown() -> None:
    incident = _last(_engine(), [_read("e1", "10:00", None)])
    assert _people(incident) == (None, False, 5)


def test_a_redelivered_event_changes_no_count() -> None:
    engine = _engine()
    first = _read("e1", "10:00", ["sid-a1", "sid-b2"])
    incident = _last(engine, [first, _read("e2", "10:05", ["sid-c3"])])
    before = incident.to_json()
    assert engine.on_access(first) == Output()
    assert incident.to_json() == before
    assert _people(incident) == (3, True, 10)


def test_a_window_of_exports_unions_the_subject_ids_of_its_events() -> None:
    engine = Engine(sample_policies(), rules=[BulkExport()])
    incident = _last(
        engine,
        [_export("x1", "10:00", ["sid-a1", "sid-b2"]), _export("x2", "10:20", ["sid-b2", "sid-c3"])],
    )
    assert incident.rules == ["bulk-export"]
    assert _people(incident) == (3, True, 600)


def test_a_window_with_an_export_without_subject_ids_is_a_lower_bound() -> None:
    engine = Engine(sample_policies(), rules=[BulkExport()])
    incident = _last(engine, [_export("x1", "10:00", ["sid-a1"]), _export("x2", "10:20", None)])
    assert _people(incident) == (1, False, 600)


def test_windows_keep_their_subject_ids_through_a_checkpoint() -> None:
    engine = Engine(sample_policies(), rules=[BulkExport()])
    assert engine.on_access(_export("x1", "10:00", ["sid-a1", "sid-b2"])) == Output()
    restored = Engine(sample_policies(), rules=[BulkExport()])
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    incident = _last(restored, [_export("x2", "10:20", ["sid-c3"])])
    assert _people(incident) == (3, True, 600)


def test_the_count_survives_a_checkpoint_and_goes_on_counting_the_same_people_once() -> None:
    engine = _engine()
    _last(engine, [_read("e1", "10:00", ["sid-a1", "sid-b2"])])
    checkpoint = orjson.dumps(engine.snapshot())
    restored = _engine()
    restored.restore(orjson.loads(checkpoint))
    incident = _last(restored, [_read("e2", "10:05", ["sid-b2", "sid-c3"])])
    assert _people(incident) == (3, True, 10)
    again = _engine()
    again.restore(orjson.loads(orjson.dumps(restored.snapshot())))
    assert orjson.dumps(again.snapshot()) == orjson.dumps(restored.snapshot())


def test_neither_the_record_nor_the_finding_nor_the_checkpoint_holds_a_subject_id() -> None:
    engine = _engine()
    out = engine.on_access(_read("e1", "10:00", list(IDS)))
    record = orjson.dumps(out.incidents[0].to_json())
    findings = orjson.dumps([f.to_json() for f in out.findings])
    checkpoint = orjson.dumps(engine.snapshot())
    for text in (record, findings, checkpoint):
        assert not any(i.encode() in text for i in IDS)
    assert b'"subjects"' not in record
    assert b'"subjects"' in checkpoint  # digests, to go on counting after a restart
    assert orjson.loads(record)["distinct_people"] == len(IDS)


def test_past_the_cap_the_count_is_a_lower_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinkyu.core.incident, "MAX_SUBJECT_IDS", 3)
    engine = _engine()
    incident = _last(engine, [_read("e1", "10:00", ["sid-a1", "sid-b2"]), _read("e2", "10:05", ["sid-a1"])])
    assert _people(incident) == (2, True, 10)
    incident = _last(engine, [_read("e3", "10:10", list(IDS))])
    assert _people(incident) == (3, False, 15)
    assert len(incident.subjects) == 3


def test_people_already_counted_do_not_reach_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinkyu.core.incident, "MAX_SUBJECT_IDS", 2)
    incident = _last(_engine(), [_read("e1", "10:00", ["sid-a1", "sid-b2"]), _read("e2", "10:05", ["sid-b2"])])
    assert _people(incident) == (2, True, 10)


def test_a_published_record_reads_back_with_its_count_but_no_digests() -> None:
    incident = _last(_engine(), [_read("e1", "10:00", ["sid-a1", "sid-b2"])])
    again = Incident.from_json(incident.to_json())
    assert again.to_json() == incident.to_json()
    assert again.subjects == set()


def test_a_record_of_before_the_count_reads_as_unknown() -> None:
    record = _last(_engine(), [_read("e1", "10:00", ["sid-a1"])]).to_json()
    for key in ("distinct_people", "distinct_people_exact", "encrypted", "improper_purpose", "datasets"):
        del record[key]
    old = Incident.from_json(record)
    assert (old.distinct_people, old.distinct_people_exact, old.improper_purpose) == (None, False, None)


def test_a_checkpoint_of_before_windows_carried_subject_ids_still_restores() -> None:
    engine = Engine(sample_policies(), rules=[BulkExport()])
    engine.on_access(_export("x1", "10:00", None))
    snap = orjson.loads(orjson.dumps(engine.snapshot()))
    for _c, _k, entries in snap["rules"]["bulk-export"]["entries"]:
        for entry in entries:
            del entry[6]
    restored = Engine(sample_policies(), rules=[BulkExport()])
    restored.restore(snap)
    incident = _last(restored, [_export("x2", "10:20", ["sid-a1"])])
    assert _people(incident) == (1, False, 600)


def test_an_assessment_made_from_the_incident_alone_takes_its_exact_count_and_stated_facts() -> None:
    profile = load_profiles([SAMPLE_SPEC_CONTRACT])[KOGANEI]
    exact = _last(_engine(), [_read("e1", "10:00", ["sid-a1", "sid-b2"])])
    bound = _last(_engine(), [_read("e1", "10:00", ["sid-a1"]), _read("e2", "10:05", None)])
    exact.state_facts({"improper_purpose": True})

    a = assess(breach_facts_from_incident(exact, profile))
    b = assess(breach_facts_from_incident(bound, profile))

    assert a.people == PeopleCount(2, upper_bound=False)
    assert a.improper_purpose
    assert b.people == PeopleCount(10, upper_bound=True)
