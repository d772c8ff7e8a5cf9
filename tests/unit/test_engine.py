"""The engine: findings become incidents, ids are stable, state survives a restart, redeliveries change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from builders import (
    CHIBA,
    KOGANEI,
    STRANGER,
    WORKDAY,
    access,
    access_example,
    at,
    epoch,
    filed,
    incident_example,
    quiet_read,
    read_event,
    sample_policies,
    with_value,
    without,
)

from kinkyu.core.contract import ContractPolicy
from kinkyu.core.engine import Engine, Output
from kinkyu.core.model import JST, AccessEvent, IncidentEvent, Severity
from kinkyu.core.rules import Hit, Rule, make_rules
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.wire import incident_from_obj
from kinkyu.exceptions import MalformedEventError, UnknownContractError

# A content-derived id: Japan date, origin (D detection, F filing), five characters, two of the contract.
DETECTION_ID = re.compile(r"INC-(\d{8})-D[A-Z2-7]{7}")
FILED_ID = re.compile(r"INC-(\d{8})-F[A-Z2-7]{7}")


def _new_detection(out: Output, day: str, *, not_one_of: Iterable[str] = ()) -> str:
    """The one incident ``out`` opened: a detection dated ``day`` whose id is none of ``not_one_of``."""
    [incident_id] = out.opened
    m = DETECTION_ID.fullmatch(incident_id)
    assert m is not None, incident_id
    assert m[1] == day
    assert incident_id not in set(not_one_of)
    return incident_id


def _engine(**kwargs: Any) -> Engine:
    """An engine over the sample contracts that runs only ``unregistered-actor``."""
    return Engine(sample_policies(), rules=[UnregisteredActor()], **kwargs)


def _as_json(out: Output) -> dict[str, Any]:
    """Everything an output says, frozen at the moment of the call."""
    return {
        "findings": [f.to_json() for f in out.findings],
        "incidents": [i.to_json() for i in out.incidents],
        "opened": list(out.opened),
        "events": [(incident_id, entry.to_json()) for incident_id, entry in out.events],
    }


def _feed(engine: Engine, events: Iterable[AccessEvent | IncidentEvent]) -> list[dict[str, Any]]:
    return [
        _as_json(engine.on_access(ev) if isinstance(ev, AccessEvent) else engine.on_incident_event(ev)) for ev in events
    ]


class _FlagsReads(Rule):
    """A test rule: every ``read`` and ``export`` is a low finding."""

    rule_id = "test-flags-reads"
    severity = Severity.LOW

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        del policy
        return (Hit.on(ev),) if ev.action in {"read", "export"} else ()


class _AlsoFlagsReads(_FlagsReads):
    """A second test rule firing on the same actions, more severe."""

    rule_id = "test-also-flags-reads"
    severity = Severity.CRITICAL


class _FlagsLogins(Rule):
    """A test rule: every ``login`` is a low finding."""

    rule_id = "test-flags-logins"
    severity = Severity.LOW

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        del policy
        return (Hit.on(ev),) if ev.action == "login" else ()


# -- opening an incident ----------------------------------------------------------------------


def test_the_quiet_read_of_a_stranger_fires_exactly_unregistered_actor_among_all_rules() -> None:
    engine = Engine(sample_policies())

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    assert [f.rule for f in out.findings] == ["unregistered-actor"]


def test_the_quiet_read_of_registered_staff_fires_nothing_among_all_rules() -> None:
    engine = Engine(sample_policies())

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00"), actor="u1042"))

    assert not out
    assert out.findings == []
    assert out.incidents == []


def test_finding_opens_an_incident_named_by_its_japan_date_and_eight_characters() -> None:
    engine = _engine()

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    _new_detection(out, "20261120")
    [finding] = out.findings
    [incident] = out.incidents
    assert finding.rule == "unregistered-actor"
    assert finding.event_ids == ("e1",)
    assert finding.jurisdiction == "koganei"
    assert incident.incident_id == out.opened[0]
    assert incident.origin == "detection"
    assert incident.contract_id == KOGANEI
    assert incident.jurisdiction == "koganei"
    assert incident.rules == ["unregistered-actor"]
    assert incident.actor == STRANGER
    assert incident.system == "juki-portal"
    assert incident.severity is Severity.HIGH
    assert incident.finding_count == 1
    assert incident.finding_ids == [finding.finding_id]
    assert incident.event_ids == ["e1"]
    assert incident.first_event_ts == datetime(2026, 11, 20, 10, 0, tzinfo=JST)
    assert incident.clauses, "every finding names at least one clause of its contract"


def test_incident_id_date_is_the_japan_date_even_when_the_event_is_stamped_in_utc() -> None:
    engine = _engine()

    out = engine.on_access(access(quiet_read("e1", "2026-11-20T16:30:00Z")))  # 2026-11-21 01:30 in Japan

    _new_detection(out, "20261121")


def test_incidents_of_one_japan_date_get_distinct_ids_of_that_date() -> None:
    engine = _engine()

    first = _new_detection(engine.on_access(read_event("e1", at(WORKDAY, "10:00"), actor="u9001")), "20261120")
    second = engine.on_access(read_event("e2", at(WORKDAY, "10:01"), actor="u9002"))
    next_day = engine.on_access(read_event("e3", at("2026-11-21", "10:00"), actor="u9003"))

    _new_detection(second, "20261120", not_one_of=[first])
    _new_detection(next_day, "20261121")


def test_event_with_no_finding_gives_an_empty_output() -> None:
    engine = _engine()

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00"), actor="u1001"))

    assert not out
    assert engine.active_incidents == 0


# -- correlation ------------------------------------------------------------------------------


def test_second_finding_of_the_same_actor_and_rule_within_the_hour_joins_the_incident() -> None:
    engine = _engine()
    first = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    second = engine.on_access(read_event("e2", at(WORKDAY, "10:59")))

    assert second.opened == []
    [incident] = second.incidents
    assert incident.incident_id == first.opened[0]
    assert incident.finding_count == 2
    assert incident.event_ids == ["e1", "e2"]
    assert incident.last_event_ts == datetime(2026, 11, 20, 10, 59, tzinfo=JST)
    assert len(second.findings) == 1


def test_finding_exactly_an_hour_after_the_last_one_still_joins() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    out = engine.on_access(read_event("e2", at(WORKDAY, "11:00")))

    assert out.opened == []
    assert out.incidents[0].finding_count == 2


def test_finding_more_than_an_hour_after_the_last_one_opens_a_new_incident() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    out = engine.on_access(access(quiet_read("e2", "2026-11-20T11:00:01+09:00")))

    _new_detection(out, "20261120")
    assert out.incidents[0].finding_count == 1


def test_the_hour_is_counted_from_the_incidents_latest_finding() -> None:
    engine = _engine()
    opened = engine.on_access(read_event("e1", at(WORKDAY, "10:00"))).opened

    engine.on_access(read_event("e2", at(WORKDAY, "10:50")))
    out = engine.on_access(read_event("e3", at(WORKDAY, "11:40")))

    assert out.opened == []
    assert out.incidents[0].incident_id == opened[0]
    assert out.incidents[0].finding_count == 3


def test_finding_of_a_different_actor_opens_a_new_incident() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00"), actor="u9001"))

    out = engine.on_access(read_event("e2", at(WORKDAY, "10:01"), actor="u9002"))

    _new_detection(out, "20261120")
    assert out.incidents[0].actor == "u9002"


def test_finding_of_the_same_actor_on_another_contract_opens_a_new_incident() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    out = engine.on_access(read_event("e2", at(WORKDAY, "10:01"), contract_id=CHIBA))

    _new_detection(out, "20261120")
    assert out.incidents[0].contract_id == CHIBA
    assert out.incidents[0].jurisdiction == "chiba"


def test_finding_of_the_same_actor_under_another_rule_opens_a_new_incident() -> None:
    engine = Engine(sample_policies(), rules=[UnregisteredActor(), _FlagsLogins()])
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))  # unregistered-actor only
    login = without(with_value(quiet_read("e2", at(WORKDAY, "10:01")), "action", "login"), "resource")

    out = engine.on_access(access(login))  # test-flags-logins only

    assert [f.rule for f in out.findings] == ["test-flags-logins"]
    _new_detection(out, "20261120")
    assert out.incidents[0].actor == STRANGER


def test_one_action_firing_several_rules_opens_one_incident_listing_them_all() -> None:
    engine = Engine(sample_policies(), rules=[_FlagsReads(), _AlsoFlagsReads()])

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00"), actor="u1042"))

    assert [f.rule for f in out.findings] == ["test-flags-reads", "test-also-flags-reads"]
    _new_detection(out, "20261120")
    [incident] = out.incidents
    assert incident.rules == ["test-flags-reads", "test-also-flags-reads"]
    assert incident.finding_count == 2
    assert incident.severity is Severity.CRITICAL  # the worst of its findings


def test_one_action_firing_several_rules_counts_its_records_and_event_once() -> None:
    engine = Engine(sample_policies(), rules=[_FlagsReads(), _AlsoFlagsReads()])
    export = with_value(with_value(quiet_read("e1", at(WORKDAY, "10:00")), "action", "export"), "resource.records", 600)

    [incident] = engine.on_access(access(export)).incidents

    assert incident.event_ids == ["e1"]
    assert incident.records == 600
    assert incident.event_count == 1


def test_incident_closed_to_correlation_after_an_hour_and_the_lateness_has_passed() -> None:
    engine = _engine(lateness=300.0)
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))
    assert engine.active_incidents == 1

    engine.advance(epoch(at(WORKDAY, "11:06")))

    assert engine.active_incidents == 0


# -- redelivery -------------------------------------------------------------------------------


def test_redelivered_access_event_gives_an_empty_output_and_changes_nothing() -> None:
    engine = _engine()
    ev = read_event("e1", at(WORKDAY, "10:00"))
    [incident] = engine.on_access(ev).incidents

    again = engine.on_access(ev)

    assert not again
    assert again.findings == []
    assert again.opened == []
    assert incident.finding_count == 1
    _new_detection(engine.on_access(read_event("e2", at(WORKDAY, "10:01"), actor="u9002")), "20261120")


def test_redelivered_filed_event_gives_an_empty_output() -> None:
    engine = _engine()
    ev = filed("f1", at(WORKDAY, "10:00"))
    engine.on_incident_event(ev)

    assert not engine.on_incident_event(ev)


def test_redelivered_follow_up_gives_an_empty_output() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened
    ack = filed("f2", at(WORKDAY, "10:30"), kind="acknowledgement", incident_id=incident_id)
    engine.on_incident_event(ack)

    assert not engine.on_incident_event(ack)


# -- snapshots ----------------------------------------------------------------------------------


def _day_of_events() -> list[AccessEvent | IncidentEvent]:
    # Its id is its content's: any engine that opens it from f1 names it the same.
    [f1_incident] = _engine().on_incident_event(filed("f1", at(WORKDAY, "10:06"))).opened
    return [
        read_event("e1", at(WORKDAY, "10:00"), actor="u9001"),
        read_event("e2", at(WORKDAY, "10:05"), actor="u9002"),
        filed("f1", at(WORKDAY, "10:06")),
        read_event("e3", at(WORKDAY, "10:20"), actor="u9001"),
        # --- restart here ---
        read_event("e3", at(WORKDAY, "10:20"), actor="u9001"),  # redelivered after the restart
        read_event("e4", at(WORKDAY, "10:40"), actor="u9001"),
        filed("f2", at(WORKDAY, "10:41"), kind="acknowledgement", incident_id=f1_incident),
        read_event("e5", at(WORKDAY, "11:30"), actor="u9002"),
        read_event("e6", at(WORKDAY, "13:00"), actor="u9001"),
        read_event("e7", at(WORKDAY, "13:01"), actor="u9003"),
    ]


def test_snapshot_survives_a_json_round_trip_unchanged() -> None:
    engine = _engine()
    _feed(engine, _day_of_events()[:4])

    snap = engine.snapshot()
    restored = _engine()
    restored.restore(orjson.loads(orjson.dumps(snap)))

    assert orjson.dumps(restored.snapshot()) == orjson.dumps(snap)


def test_engine_restored_from_a_snapshot_continues_exactly_like_one_that_never_stopped() -> None:
    events = _day_of_events()
    steady = _engine()
    steady_out = _feed(steady, events)
    crashed = _engine()
    _feed(crashed, events[:4])
    checkpoint = orjson.dumps(crashed.snapshot())

    restored = _engine()
    restored.restore(orjson.loads(checkpoint))
    restored_out = _feed(restored, events[4:])

    assert restored_out == steady_out[4:]
    assert restored.snapshot() == steady.snapshot()


def test_restored_engine_recognises_events_it_had_seen_before_the_restart() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))
    restored = _engine()
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))

    assert not restored.on_access(read_event("e1", at(WORKDAY, "10:00")))
    assert restored.on_access(read_event("e2", at(WORKDAY, "10:01"))).incidents[0].finding_count == 2


def _busy_day() -> list[AccessEvent | IncidentEvent]:
    """Traffic that keeps windowed rules busy: exports summing past a threshold, failed logins, heartbeats."""
    out: list[AccessEvent | IncidentEvent] = []
    for minute in range(40):
        ts = f"{WORKDAY}T10:{minute:02d}:00+09:00"
        beat = with_value(quiet_read(f"hb{minute}", ts, actor="system"), "action", "heartbeat")
        del beat["resource"]
        out.append(access(beat))
        export = with_value(quiet_read(f"x{minute}", ts, actor="u1042"), "action", "export")
        out.append(access(with_value(export, "resource.records", 40)))
        if minute % 2 == 0:
            fail = with_value(quiet_read(f"lf{minute}", ts, actor="u1001"), "action", "login_failed")
            del fail["resource"]
            out.append(access(with_value(fail, "outcome", "failure")))
    out.append(read_event("late", f"{WORKDAY}T10:50:00+09:00"))
    return out


def test_restore_resumes_every_rules_windows_so_outputs_match_an_engine_that_never_stopped() -> None:
    events = _busy_day()
    cut = len(events) // 2
    steady = Engine(sample_policies())
    steady_out = _feed(steady, events)
    steady_out.append(_as_json(steady.advance(epoch(f"{WORKDAY}T11:30:00+09:00"))))

    crashed = Engine(sample_policies())
    _feed(crashed, events[:cut])
    restored = Engine(sample_policies())
    restored.restore(orjson.loads(orjson.dumps(crashed.snapshot())))
    restored_out = _feed(restored, events[cut:])
    restored_out.append(_as_json(restored.advance(epoch(f"{WORKDAY}T11:30:00+09:00"))))

    fired = {f["rule"] for out in steady_out for f in out["findings"]}
    assert {"bulk-export", "credential-attack", "system-outage"} <= fired, "the traffic should exercise rule state"
    assert restored_out == steady_out[cut:]


def test_restore_ignores_state_of_rules_the_engine_does_not_run() -> None:
    full = Engine(sample_policies(), rules=make_rules())
    full.on_access(read_event("e1", at(WORKDAY, "10:00")))
    snap = orjson.loads(orjson.dumps(full.snapshot()))
    snap["rules"]["no-such-rule"] = {"anything": 1}

    narrow = _engine()
    narrow.restore(snap)

    assert narrow.on_access(read_event("e2", at(WORKDAY, "10:01"))).opened == []


def test_snapshot_does_not_change_when_the_engine_goes_on() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))
    snap = engine.snapshot()
    frozen = orjson.dumps(snap)

    engine.on_access(read_event("e2", at(WORKDAY, "10:01"), actor="u9002"))

    assert orjson.dumps(snap) == frozen


# -- contracts ---------------------------------------------------------------------------------


def test_access_event_of_an_unknown_contract_is_refused_as_unknown_contract() -> None:
    engine = _engine()

    with pytest.raises(UnknownContractError) as info:
        engine.on_access(read_event("e1", at(WORKDAY, "10:00"), contract_id="osaka-2026-001"))

    assert info.value.reason == "unknown-contract"
    assert info.value.contract_id == "osaka-2026-001"
    assert isinstance(info.value, MalformedEventError)


def test_incident_event_of_an_unknown_contract_is_refused_as_unknown_contract() -> None:
    engine = _engine()

    with pytest.raises(UnknownContractError) as info:
        engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"), contract_id="osaka-2026-001"))

    assert info.value.reason == "unknown-contract"


def test_set_contracts_keeps_open_incidents_and_their_correlation() -> None:
    engine = _engine()
    [incident_id] = engine.on_access(read_event("e1", at(WORKDAY, "10:00"))).opened

    engine.set_contracts(sample_policies())
    out = engine.on_access(read_event("e2", at(WORKDAY, "10:01")))

    assert out.opened == []
    assert out.incidents[0].incident_id == incident_id
    assert out.incidents[0].finding_count == 2
    _new_detection(
        engine.on_access(read_event("e3", at(WORKDAY, "10:02"), actor="u9002")), "20261120", not_one_of=[incident_id]
    )


def test_set_contracts_without_a_contract_makes_its_events_unknown() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))
    policies = sample_policies()
    del policies[KOGANEI]

    engine.set_contracts(policies)

    with pytest.raises(UnknownContractError):
        engine.on_access(read_event("e2", at(WORKDAY, "10:01")))


# -- filed incident events --------------------------------------------------------------------------


def test_filed_incident_event_opens_a_filed_incident() -> None:
    engine = _engine()
    ev = filed(
        "f1",
        at(WORKDAY, "10:02"),
        occurred_at=at("2026-11-19", "16:00"),
        discovered_at=at(WORKDAY, "09:40"),
    )

    out = engine.on_incident_event(ev)

    # The spec leaves open whether a filed incident is dated by occurred_at (11-19, its first_event_ts)
    # or by discovered_at (11-20, what the engine uses today).
    assert re.fullmatch(r"INC-2026112[01]-F[A-Z2-7]{7}", out.opened[0])
    assert out.findings == []
    [incident] = out.incidents
    assert incident.origin == "filed"
    assert incident.kind == "misdelivery"
    assert incident.contract_id == KOGANEI
    assert incident.jurisdiction == "koganei"
    assert incident.severity is Severity.HIGH
    assert incident.records == 3
    assert incident.data_items == ["name", "address"]
    assert incident.first_event_ts == datetime(2026, 11, 19, 16, 0, tzinfo=JST)
    assert incident.discovered_at == datetime(2026, 11, 20, 9, 40, tzinfo=JST)
    assert incident.reported_by == "sec-07"
    assert incident.event_ids == ["f1"]
    assert [e.kind for e in incident.timeline] == ["filed"]


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        ("leak", Severity.CRITICAL),
        ("unauthorized_access", Severity.CRITICAL),
        ("loss", Severity.HIGH),
        ("complaint", Severity.MEDIUM),
        ("other", Severity.MEDIUM),
    ],
)
def test_filed_incident_starts_at_the_severity_of_its_kind(kind: str, severity: Severity) -> None:
    out = _engine().on_incident_event(filed("f1", at(WORKDAY, "10:00"), kind=kind))

    assert out.incidents[0].severity is severity


def test_filed_and_detected_incidents_are_told_apart_by_the_letter_after_the_date() -> None:
    engine = _engine()

    first = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00")))
    second = engine.on_access(read_event("e1", at(WORKDAY, "10:01")))

    assert FILED_ID.fullmatch(first.opened[0])
    assert DETECTION_ID.fullmatch(second.opened[0])


def test_filed_incident_never_joins_a_detected_one() -> None:
    engine = _engine()
    engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    out = engine.on_incident_event(filed("f1", at(WORKDAY, "10:01"), kind="unauthorized_access"))

    [incident_id] = out.opened
    assert FILED_ID.fullmatch(incident_id)
    assert out.incidents[0].origin == "filed"


def test_acknowledgement_of_a_known_incident_yields_an_event_entry_for_it() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened

    out = engine.on_incident_event(filed("f2", at(WORKDAY, "10:30"), kind="acknowledgement", incident_id=incident_id))

    assert out.opened == []
    [(target, entry)] = out.events
    assert target == incident_id
    assert entry.kind == "acknowledgement"
    assert entry.what == "acknowledgement"
    assert entry.who == "sec-07"
    assert entry.ts == datetime(2026, 11, 20, 10, 30, tzinfo=JST)
    assert entry.data == {"event_id": "f2"}
    [incident] = out.incidents
    assert incident.timeline[-1] is entry


def test_follow_up_on_a_detected_incident_is_accepted() -> None:
    engine = _engine()
    [incident_id] = engine.on_access(read_event("e1", at(WORKDAY, "10:00"))).opened

    out = engine.on_incident_event(filed("f1", at(WORKDAY, "10:10"), kind="city_instruction", incident_id=incident_id))

    assert [target for target, _ in out.events] == [incident_id]


def test_a_follow_up_carries_the_playbook_keys_of_its_data_and_nothing_else() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened
    obj = {**incident_example(), "event_id": "f2", "kind": "update", "incident_id": incident_id}
    obj["data"] = {"triage": "confirm", "reason": "insider", "note": "山田太郎 said so"}

    [(_, entry)] = engine.on_incident_event(incident_from_obj(obj)).events

    assert entry.data == {"triage": "confirm", "reason": "insider", "event_id": "f2"}


def _filing(event_id: str, data: dict[str, Any], **fields: Any) -> IncidentEvent:
    obj = {**incident_example(), "event_id": event_id, "ts": at(WORKDAY, "10:00"), **fields, "data": data}
    return incident_from_obj(obj)


def test_an_opening_filing_states_the_national_report_facts_on_the_incident_record() -> None:
    data = {"improper_purpose": True, "encrypted": False, "distinct_people": 3, "datasets": ["residents"]}

    [incident] = _engine().on_incident_event(_filing("f1", {**data, "triage": "confirm"})).incidents

    record = incident.to_json()
    assert {k: record[k] for k in data} == data
    assert record["distinct_people_exact"] is True  # a person counted them


def test_an_opening_filing_passes_on_no_free_text_and_no_value_of_the_wrong_type() -> None:
    data = {
        "improper_purpose": "yes",
        "distinct_people": "12",  # a count out of range is refused at the wire (out-of-range)
        "datasets": ["residents", "山田太郎の台帳", "Residents 2"],
        "note": "山田太郎 said so",
    }

    [incident] = _engine().on_incident_event(_filing("f1", data)).incidents

    record = incident.to_json()
    assert (record["improper_purpose"], record["distinct_people"], record["datasets"]) == (None, None, ["residents"])
    assert "山田" not in orjson.dumps(record).decode()


def test_a_follow_up_restates_the_facts_the_re_sent_incident_record_carries() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(_filing("f1", {"improper_purpose": True, "distinct_people": 3})).opened
    update = _filing("f2", {"improper_purpose": False, "distinct_people": 7}, kind="update", incident_id=incident_id)

    [incident] = engine.on_incident_event(update).incidents
    ack = _filing("f3", {"distinct_people": 9}, kind="acknowledgement", incident_id=incident_id)
    [again] = engine.on_incident_event(ack).incidents

    # The record goes out again with every follow-up: it must not bring back what the opening said.
    assert again is incident
    record = incident.to_json()
    assert (record["improper_purpose"], record["distinct_people"], record["distinct_people_exact"]) == (False, 7, True)


def test_a_stated_number_of_people_survives_a_checkpoint() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(_filing("f1", {"distinct_people": 3})).opened
    restored = _engine()
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))

    ack = _filing("f2", {}, kind="acknowledgement", incident_id=incident_id)
    [incident] = restored.on_incident_event(ack).incidents

    assert (incident.distinct_people, incident.distinct_people_exact, incident.stated_people) == (3, True, 3)


def test_opening_kind_naming_an_existing_incident_is_recorded_as_an_update_of_that_kind() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened

    out = engine.on_incident_event(filed("f2", at(WORKDAY, "10:10"), kind="leak", incident_id=incident_id))

    assert out.opened == []
    [(_, entry)] = out.events
    assert entry.what == "update:leak"
    assert entry.kind == "leak"


def test_follow_up_on_an_incident_closed_to_correlation_still_yields_its_event_entry() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened
    engine.advance(epoch(at(WORKDAY, "15:00")))
    assert engine.active_incidents == 0

    out = engine.on_incident_event(filed("f2", at(WORKDAY, "15:00"), kind="resolution", incident_id=incident_id))

    assert [target for target, _ in out.events] == [incident_id]
    assert out.incidents == []


def test_follow_up_on_an_unknown_incident_is_refused_as_unknown_incident() -> None:
    engine = _engine()

    with pytest.raises(MalformedEventError) as info:
        engine.on_incident_event(
            filed("f1", at(WORKDAY, "10:00"), kind="acknowledgement", incident_id="INC-20261120-0042")
        )

    assert info.value.reason == "unknown-incident"
    assert not isinstance(info.value, UnknownContractError)


def test_follow_up_under_another_contract_is_refused_as_contract_mismatch() -> None:
    engine = _engine()
    [incident_id] = engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))).opened

    with pytest.raises(MalformedEventError) as info:
        engine.on_incident_event(
            filed("f2", at(WORKDAY, "10:30"), kind="update", incident_id=incident_id, contract_id=CHIBA)
        )

    assert info.value.reason == "contract-mismatch"
    # Fields, not values: the detail goes into dead-letter headers.
    assert "contract_id" in info.value.detail
    assert incident_id not in info.value.detail
    assert CHIBA not in info.value.detail


# -- ids across partitions and over time --------------------------------------------------------


@pytest.mark.parametrize(("partition", "partitions"), [(0, 1), (0, 2), (1, 2), (2, 3)])
def test_the_same_events_get_the_same_ids_on_any_partition_of_any_count(partition: int, partitions: int) -> None:
    events = [read_event(f"e{n}", at(WORKDAY, f"10:0{n}"), actor=f"u900{n}") for n in range(3)]
    alone = _engine()
    engine = _engine(partition=partition, partitions=partitions)

    opened = [engine.on_access(ev).opened[0] for ev in events]

    assert opened == [alone.on_access(ev).opened[0] for ev in events]
    assert len(set(opened)) == 3


def test_incident_ids_are_never_reused_even_for_a_day_long_past() -> None:
    engine = _engine()
    [first] = engine.on_incident_event(
        filed("f1", at("2026-11-01", "10:00"), discovered_at=at("2026-11-01", "09:00"))
    ).opened
    engine.advance(epoch(at(WORKDAY, "10:00")))

    [second] = engine.on_incident_event(
        filed("f2", at(WORKDAY, "10:00"), discovered_at=at("2026-11-01", "12:00"))
    ).opened

    assert FILED_ID.fullmatch(first)
    assert first.startswith("INC-20261101-")
    assert second.startswith("INC-20261101-")
    assert second != first


def test_a_late_event_joins_the_incident_of_its_own_hour() -> None:
    engine = _engine()
    engine.on_access(read_event("e2", at(WORKDAY, "10:30")))

    out = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    assert out.opened == []
    [incident] = out.incidents
    assert incident.first_event_ts == datetime(2026, 11, 20, 10, 0, tzinfo=JST)
    assert incident.last_event_ts == datetime(2026, 11, 20, 10, 30, tzinfo=JST)
    assert incident.first_event_ts + timedelta(minutes=30) == incident.last_event_ts


def test_a_silent_system_inside_a_backlog_is_found_without_any_timer_tick() -> None:
    engine = Engine(sample_policies())
    found = []
    for minute in range(60):
        ts = f"{WORKDAY}T10:{minute:02d}:00+09:00"
        if not 20 <= minute < 40:  # juki-portal falls silent for 20 minutes, then comes back
            found += engine.on_access(_heartbeat(f"hb-{minute}", ts, "juki-portal")).findings
        found += engine.on_access(_heartbeat(f"other-{minute}", ts, "tax-portal")).findings

    assert [(f.rule, f.system) for f in found] == [("system-outage", "juki-portal")]


def _heartbeat(event_id: str, ts: str, system: str) -> AccessEvent:
    obj = {**access_example(), "event_id": event_id, "ts": ts, "system": system, "action": "heartbeat"}
    del obj["resource"]
    return access(obj)
