"""The national report on a live playbook run: assessment, overrides, the city's clock, reminders."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import builders
from builders import sample_policies
from test_playbook_run import INC, T0, begin, detection, event, filed, kinds, notices, of, pb

from kinkyu.core.contract import Dataset
from kinkyu.core.engine import Engine
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.legal import RULE8_ORDER, UNKNOWN, UNKNOWN_EN, Rule8Key
from kinkyu.core.model import JST
from kinkyu.core.playbook import Notify, PlaybookRun, ResponsePolicy, apply, entries, next_due, start, tick
from kinkyu.core.playbook.ppc import Rule8Facts
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.wire import incident_from_obj


def ppc_entries(run: PlaybookRun, kind: str = "ppc_assessment") -> list[TimelineEntry]:
    return [e for e in run.timeline if e.kind == kind]


def updated(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes, "change": "updated"}


def delivered(chain_id: str, *, ts: datetime, recipient: str = "city:0") -> dict[str, Any]:
    """The notifier's delivery result as it reaches the run (streams/notifier_stage.py)."""
    data = {
        "chain_id": chain_id,
        "recipient": recipient,
        "channel": "email",
        "event_id": f"notifier:message_sent:{recipient}:email:{chain_id}",
    }
    entry = TimelineEntry(ts, "kinkyu-notifier", "first report delivered", "message_sent", data)
    return {"change": "event", "incident_id": INC, "entry": entry.to_json()}


def reported(record: dict[str, Any], *, at: datetime = T0 + timedelta(minutes=3)) -> PlaybookRun:
    """A run whose first report reached the city at ``at``."""
    run, effects = begin(record)
    (first,) = notices(effects, "first_report")
    apply(run, delivered(first.effect_id, ts=at), at)
    return run


def reminders(effects: list[Any]) -> list[Notify]:
    return [n for n in of(effects, Notify) if n.kind.startswith("ppc_")]


def at9(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 9, tzinfo=JST)


# -- the assessment on the live run ---------------------------------------------------------------


def test_the_assessment_is_on_the_run_from_the_start_with_its_reasons() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150, data_items=["name"]))
    ppc = run.to_json()["ppc"]
    a = ppc["assessment"]
    # The improper purpose is inferred from the rule: 暫定 (要確認), not 報告対象 until a person confirms it.
    assert (a["contractor_reportable"], a["city_reportable"]) == (False, True)
    assert a["city"]["fired"] == ["over_100"]
    assert a["city"]["provisional"] == ["improper_purpose"]
    assert a["contractor"]["provisional"] == ["improper_purpose"]
    assert a["final_report_days"] == 30
    assert all(t["why"] for t in a["city"]["triggers"])
    (entry,) = ppc_entries(run)
    assert entry.data["city"] == {
        "reportable": True,
        "fired": ["over_100"],
        "overridden": False,
        "provisional": ["improper_purpose"],
    }


def test_a_provisional_improper_purpose_is_confirmed_by_a_person_and_stays_on_the_timeline() -> None:
    run, _ = begin(detection("koganei", ["bulk-export"], records=3, data_items=["name"]))
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city_provisional
    assert not run.ppc.assessment.contractor_reportable
    at = T0 + timedelta(minutes=10)
    effects = apply(run, event("update", {"triage": "confirm", "reason": "insider"}, ts=at), at)
    a = run.ppc.assessment
    assert a is not None
    assert (a.contractor_reportable, a.city_reportable, a.final_report_days) == (True, True, 60)
    (entry,) = [e for e in entries(effects) if e.kind == "ppc_assessment"]
    assert entry.data["previous"]["city"]["provisional"] == ["improper_purpose"]


def test_the_assessment_survives_a_json_round_trip() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    again = PlaybookRun.from_json(run.to_json())
    assert again.ppc.assessment == run.ppc.assessment
    assert again.to_json() == run.to_json()


def test_new_facts_on_the_incident_recompute_the_assessment() -> None:
    record = detection("okayama", ["pii-email"], records=40, data_items=["name"])
    run, _ = begin(record)
    before = run.ppc.assessment
    assert before is not None
    assert not before.city_reportable
    effects = apply(run, updated(record, records=150), T0 + timedelta(minutes=5))
    after = run.ppc.assessment
    assert after is not None
    assert after.city_reportable
    assert not after.contractor_reportable
    assert "ppc_assessment" in kinds(effects)
    assert len(ppc_entries(run)) == 2


def test_a_record_that_does_not_change_the_result_adds_no_assessment_entry() -> None:
    record = detection("okayama", ["pii-email"], records=150, data_items=["name"])
    run, _ = begin(record)
    effects = apply(run, updated(record, records=180), T0 + timedelta(minutes=5))
    assert "incident_updated" in kinds(effects)
    assert "ppc_assessment" not in kinds(effects)
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.people is not None
    assert run.ppc.assessment.people.count == 180  # the wording follows the facts all the same


def test_a_sensitive_data_set_of_the_contract_triggers_both_parties() -> None:
    datasets = {"kenshin": Dataset(fields=["name", "health"], sensitive=True)}
    record = detection("okayama", ["pii-email"], records=2)
    run, _ = start(record, pb("okayama"), ResponsePolicy(), date(2027, 3, 31), T0, datasets=datasets)
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city.fired[0].value == "sensitive"
    assert run.ppc.assessment.contractor_reportable
    assert run.to_json()["ppc"]["datasets"] == {"kenshin": {"fields": ["name", "health"], "sensitive": True}}


def test_a_follow_up_saying_the_data_was_strongly_encrypted_exempts_it() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    effects = apply(run, event("update", {"encrypted": True}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    a = run.ppc.assessment
    assert a is not None
    assert a.encrypted_exempt
    assert not a.city_reportable
    assert not a.contractor_reportable
    (entry,) = [e for e in entries(effects) if e.kind == "ppc_assessment"]
    assert entry.data["encrypted_exempt"] is True
    assert entry.data["previous"]["city"]["reportable"] is True


def test_distinct_people_from_a_follow_up_replace_the_record_upper_bound() -> None:
    run, _ = begin(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city_reportable
    apply(run, event("update", {"distinct_people": 80}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    assert run.ppc.assessment.people is not None
    assert (run.ppc.assessment.people.count, run.ppc.assessment.people.upper_bound) == (80, False)
    assert not run.ppc.assessment.city_reportable


def test_a_follow_up_filing_an_improper_purpose_makes_the_full_report_sixty_days() -> None:
    run = reported(filed("okayama", "misdelivery", records=3))
    assert run.to_json()["ppc"]["deadlines"]["final_days"] == 30
    apply(run, event("update", {"improper_purpose": True}, ts=T0 + timedelta(hours=2)), T0 + timedelta(hours=2))
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city_reportable
    assert run.to_json()["ppc"]["deadlines"]["final_days"] == 60


# -- a person's override ------------------------------------------------------------------------------


def test_an_override_with_a_reason_decides_for_the_party_and_is_on_the_timeline() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    apply(run, event("update", {"improper_purpose": True}, ts=T0), T0)  # a person confirms the purpose
    data = {"ppc_override": "not_reportable", "party": "city", "reason": "not-a-leak"}
    ts = T0 + timedelta(hours=1)
    effects = apply(run, event("update", data, ts=ts, who="sec-07"), ts)
    a = run.ppc.assessment
    assert a is not None
    assert not a.city_reportable
    assert a.contractor_reportable  # the other party stays as computed
    assert a.city.computed_reportable  # and the computation is kept next to the decision
    (entry,) = [e for e in entries(effects) if e.kind == "ppc_override"]
    assert (entry.who, entry.ts, entry.data["reason"], entry.data["party"]) == ("sec-07", ts, "not-a-leak", "city")
    assert run.to_json()["ppc"]["overrides"] == [
        {"reportable": False, "reason": "not-a-leak", "by": "sec-07", "at": ts.isoformat(), "party": "city"}
    ]


def test_an_override_without_a_party_decides_for_both() -> None:
    run, _ = begin(detection("okayama", ["pii-email"], records=3, data_items=["name"]))
    data = {"ppc_override": "reportable", "reason": "key-compromised"}
    apply(run, event("update", data, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city_reportable
    assert run.ppc.assessment.contractor_reportable


def test_an_override_without_a_reason_is_refused_with_a_note() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    effects = apply(run, event("update", {"ppc_override": "not_reportable"}, ts=T0), T0)
    assert run.ppc.overrides == []
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.city_reportable
    (note,) = [e for e in entries(effects) if e.kind == "ppc_override_refused"]
    assert "reason" in note.what


def test_an_override_whose_reason_is_free_text_is_refused_and_the_text_not_kept() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    data = {"ppc_override": "not_reportable", "reason": "山田太郎さんに確認済み"}
    apply(run, event("update", data, ts=T0), T0)
    assert run.ppc.overrides == []
    assert "山田" not in str(run.to_json())


def test_an_override_with_an_unknown_value_or_party_is_refused() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    apply(run, event("update", {"ppc_override": "maybe", "reason": "x"}, ts=T0), T0)
    apply(run, event("update", {"ppc_override": "reportable", "party": "ppc", "reason": "x"}, ts=T0), T0)
    assert run.ppc.overrides == []
    assert len(ppc_entries(run, "ppc_override_refused")) == 2


# -- the city's clock and the contractor's ------------------------------------------------------------


def test_the_city_learned_when_the_first_report_was_delivered_to_a_city_contact() -> None:
    # Friday 20 Nov 2026: day 3 is Sunday, day 5 Tuesday (Monday 23 Nov is a holiday); day 30 is
    # Saturday 19 Dec, so the 確報 moves to Monday 21 Dec.
    run = reported(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    ppc = run.to_json()["ppc"]
    assert ppc["city_learned_at"] == (T0 + timedelta(minutes=3)).isoformat()
    assert ppc["learned_via"] == "message_sent"
    assert ppc["deadlines"] == {
        "learned": "2026-11-20",
        "preliminary_reminder": "2026-11-24",
        "preliminary_due": "2026-11-24",
        "final_due": "2026-12-21",
        "final_days": 30,
        "improper_purpose": False,
    }
    assert ppc["contractor"]["state"] == "released"
    assert ppc["contractor"]["reported_at"] == ppc["city_learned_at"]
    (clock,) = ppc_entries(run, "ppc_clock")
    assert clock.data["final_due"] == "2026-12-21"


def test_a_delivery_to_the_contractor_or_of_another_message_does_not_start_the_city_clock() -> None:
    run, effects = begin(detection("okayama", ["pii-email"], records=150))
    (first,) = notices(effects, "first_report")
    apply(run, delivered(first.effect_id, ts=T0, recipient="contractor:0"), T0)
    apply(run, delivered(f"{INC}/triage/triage_due/1", ts=T0), T0)
    assert run.ppc.city_learned_at is None
    assert run.to_json()["ppc"]["deadlines"] is None
    assert run.to_json()["ppc"]["contractor"]["state"] == "pending"


def test_a_second_delivery_of_the_first_report_does_not_move_the_clock() -> None:
    run, effects = begin(detection("okayama", ["pii-email"], records=150))
    (first,) = notices(effects, "first_report")
    apply(run, delivered(first.effect_id, ts=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    apply(run, delivered(first.effect_id, ts=T0 + timedelta(days=2), recipient="city:1"), T0 + timedelta(days=2))
    assert run.ppc.city_learned_at == T0 + timedelta(minutes=1)
    assert len(ppc_entries(run, "ppc_clock")) == 1


def test_a_first_report_made_by_phone_starts_the_city_clock_too() -> None:
    run, _ = begin(detection("okayama", ["pii-email"], records=150))
    ts = T0 + timedelta(minutes=20)
    apply(run, event("update", {"step": "first_report", "done": True}, ts=ts), ts)
    assert run.ppc.city_learned_at == ts
    assert run.ppc.learned_via == "step_done"


def test_the_contractor_is_overdue_once_its_window_passed_without_a_delivery() -> None:
    run, _ = begin(detection("okayama", ["pii-email"], records=150))
    tick(run, T0 + timedelta(hours=2))
    assert run.to_json()["ppc"]["contractor"]["state"] == "overdue"


# -- reminders ---------------------------------------------------------------------------------------


def test_the_city_is_reminded_of_its_preliminary_and_full_report_once_each() -> None:
    run = reported(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    assert next_due(run) is not None
    assert reminders(tick(run, at9(date(2026, 11, 24)) - timedelta(minutes=1))) == []
    (prelim,) = reminders(tick(run, at9(date(2026, 11, 24))))
    assert prelim.kind == "ppc_preliminary_reminder"
    assert prelim.audience == "city"
    assert prelim.effect_id == f"{INC}/ppc/preliminary/2026-11-24"
    assert prelim.ppc is not None
    assert (prelim.ppc["due"], prelim.ppc["learned"], prelim.ppc["triggers"]) == (
        "2026-11-24",
        "2026-11-20",
        ["over_100"],
    )
    assert reminders(tick(run, at9(date(2026, 11, 24)) + timedelta(hours=1))) == []
    # The 確報 (21 Dec) is reminded a week before: Monday 14 Dec.
    (final,) = reminders(tick(run, at9(date(2026, 12, 14))))
    assert final.kind == "ppc_final_reminder"
    assert final.effect_id == f"{INC}/ppc/final/2026-12-21"
    assert final.ppc is not None
    assert final.ppc["final_days"] == 30
    assert reminders(tick(run, at9(date(2026, 12, 20)))) == []
    assert [e.data["report"] for e in ppc_entries(run, "ppc_reminder")] == ["preliminary", "final"]


def test_with_an_improper_purpose_the_full_report_reminder_follows_the_sixty_day_deadline() -> None:
    # Day 60 from 20 Nov 2026 is Monday 18 Jan 2027; a week before is 成人の日 (11 Jan), so Friday 8 Jan.
    run = reported(detection("okayama", ["bulk-export"], records=150))
    apply(run, event("update", {"improper_purpose": True}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    # Not on the 30-day reminder's day (the 速報 reminder, past due by then, is skipped).
    assert reminders(tick(run, at9(date(2026, 12, 14)))) == []
    (final,) = reminders(tick(run, at9(date(2027, 1, 8))))
    assert final.effect_id == f"{INC}/ppc/final/2027-01-18"
    assert final.ppc is not None
    assert (final.ppc["final_days"], final.ppc["improper_purpose"]) == (60, True)


def test_no_reminder_when_the_city_is_not_reportable() -> None:
    run = reported(detection("okayama", ["pii-email"], records=3, data_items=["name"]))
    assert run.ppc.assessment is not None
    assert not run.ppc.assessment.city_reportable
    assert run.to_json()["ppc"]["reminders"] == []
    assert reminders(tick(run, at9(date(2026, 11, 24)))) == []
    assert reminders(tick(run, at9(date(2026, 12, 14)))) == []


def test_no_reminder_once_a_person_decided_the_city_is_not_reportable() -> None:
    run = reported(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    data = {"ppc_override": "not_reportable", "party": "city", "reason": "not-a-leak"}
    apply(run, event("update", data, ts=T0 + timedelta(days=1)), T0 + timedelta(days=1))
    assert reminders(tick(run, at9(date(2026, 11, 24)))) == []


def test_reminders_already_sent_are_not_sent_again_after_a_restart() -> None:
    run = reported(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    assert len(reminders(tick(run, at9(date(2026, 11, 24))))) == 1
    restored = PlaybookRun.from_json(run.to_json())
    assert reminders(tick(restored, at9(date(2026, 11, 24)) + timedelta(minutes=5))) == []


def test_a_reminder_whose_report_is_already_past_due_is_skipped_with_a_note() -> None:
    run = reported(detection("okayama", ["pii-email"], records=150, data_items=["name"]))
    late = reminders(tick(run, at9(date(2026, 11, 26))))
    assert late == []
    assert [e.data["report"] for e in ppc_entries(run, "ppc_reminder_skipped")] == ["preliminary"]


# -- the Rule 8 items ---------------------------------------------------------------------------------


def test_the_first_report_to_the_city_carries_the_nine_rule8_items_in_order() -> None:
    _, effects = begin(detection("okayama", ["bulk-export"], records=150, data_items=["name", "my_number"]))
    (first,) = notices(effects, "first_report")
    facts = Rule8Facts.from_json(first.rule8_facts)
    assert facts is not None
    items = facts.items()
    assert [i.key for i in items] == list(RULE8_ORDER)
    people = items[Rule8Key.PEOPLE]
    assert (people.ja, people.en) == (
        "150人以内（件数の合計。同一人の重複は確認中）",
        "up to 150 people (upper bound: sum of record counts)",
    )
    assert "個人番号" in items[Rule8Key.DATA_ITEMS].value
    assert "improper purpose (provisional)" in items[Rule8Key.SUMMARY].text("en")
    assert not items[Rule8Key.CAUSE].known  # 調査中 until people supply it in the written report


def test_rule8_facts_keep_only_codes_counts_and_dates() -> None:
    planted = {
        "origin": "filed",
        "kind": "山田太郎",
        "rules": ["bulk-export", "山田太郎"],
        "data_items": ["name", "山田太郎の住所"],
        "occurred_at": "yesterday",
        "people": {"count": "many"},
        "triggers": {"city": ["over_100", "山田"]},
        "assessed": True,
        "commands": -5,
    }
    facts = Rule8Facts.from_json(planted)
    assert facts is not None
    assert (facts.kind, facts.rules, facts.data_items) == (None, ("bulk-export",), ("name",))
    assert (facts.occurred_at, facts.people, facts.city_triggers, facts.commands) == (None, None, ("over_100",), 0)
    assert "山田" not in facts.items().render("ja") + facts.items().render("en")
    assert Rule8Facts.from_json("not an object") is None


def test_the_run_shows_each_rule8_item_as_a_value_or_under_investigation() -> None:
    run, _ = begin(detection("okayama", ["bulk-export"], records=150))
    rule8 = run.to_json()["ppc"]["rule8"]
    assert [i["number"] for i in rule8] == list(range(1, 10))
    cause = rule8[3]
    assert (cause["key"], cause["known"], cause["ja"], cause["en"]) == ("cause", False, UNKNOWN, UNKNOWN_EN)
    assert rule8[0]["known"]
    assert "improper" in rule8[0]["en"] or "不正" in rule8[0]["ja"]


def test_rule8_items_name_only_category_codes_never_what_a_filer_typed() -> None:
    record = filed("okayama", "leak", data_items=["name", "山田太郎の住所"], records=2)
    run, effects = begin(record)
    (first,) = notices(effects, "first_report")
    assert "山田" not in repr(first.rule8_facts)
    assert "山田" not in str(run.to_json()["ppc"])


# -- through the detection stage -------------------------------------------------------------------------


def test_the_detection_stage_passes_the_national_report_keys_on_and_nothing_else() -> None:
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])
    [incident_id] = engine.on_incident_event(builders.filed("f1", builders.at(builders.WORKDAY, "10:00"))).opened
    obj = {**builders.incident_example(), "event_id": "f2", "kind": "update", "incident_id": incident_id}
    obj["data"] = {
        "ppc_override": "not_reportable",
        "party": "city",
        "reason": "not-a-leak",
        "encrypted": True,
        "distinct_people": 12,
        "improper_purpose": False,
        "datasets": ["residents"],
        "note": "山田太郎 said so",
    }
    [(_, entry)] = engine.on_incident_event(incident_from_obj(obj)).events
    assert entry.data == {**{k: v for k, v in obj["data"].items() if k != "note"}, "event_id": "f2"}


def test_a_report_started_by_new_facts_carries_the_assessment_of_those_facts() -> None:
    # Waits for triage (off-hours); then a rule reported at once joins, and the first report goes out.
    record = detection("koganei", ["off-hours"], records=3, data_items=["name"])
    run, effects = begin(record)
    assert notices(effects, "first_report") == []
    joined = updated(record, rules=["off-hours", "log-tampering"], finding_ids=["F-off-hours", "F-log-tampering"])
    effects = apply(run, joined, T0 + timedelta(minutes=5))
    (first,) = notices(effects, "first_report")
    facts = Rule8Facts.from_json(first.rule8_facts)
    assert facts is not None
    assert "improper_purpose" in facts.provisional_triggers  # log tampering: the new rule's trigger, 暫定


def _detected_by_the_engine(*subject_ids: list[str] | None) -> list[dict[str, Any]]:
    """The incident records the engine sends for reads by a stranger, one per read (5 records each)."""
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])
    records = []
    for n, ids in enumerate(subject_ids):
        obj = builders.quiet_read(f"e{n}", builders.at(builders.WORKDAY, f"10:0{n}"))
        if ids is not None:
            obj["resource"]["subject_ids"] = ids
        out = engine.on_access(builders.access(obj))
        body = out.incidents[0].to_json()
        body["change"] = "opened" if out.opened else "updated"
        records.append(body)
    return records


def test_distinct_people_the_engine_counted_are_the_number_of_people_not_a_bound() -> None:
    [record] = _detected_by_the_engine(["sid-a", "sid-b", "sid-a"])
    run, _ = begin(record)
    people = run.rule8()[Rule8Key.PEOPLE]
    assert (people.ja, people.en) == ("2人", "2 people")
    assert run.ppc.assessment is not None
    assert run.ppc.assessment.people is not None
    assert run.ppc.assessment.people.upper_bound is False


def test_an_event_without_subject_ids_leaves_the_record_sum_as_the_upper_bound() -> None:
    first, second = _detected_by_the_engine(["sid-a", "sid-b"], None)
    run, _ = begin(first)
    apply(run, second, T0 + timedelta(minutes=1))
    people = run.rule8()[Rule8Key.PEOPLE]
    assert (people.ja, people.en) == (
        "10人以内（件数の合計。同一人の重複は確認中）",
        "up to 10 people (upper bound: sum of record counts)",
    )


def _filed_by_the_engine(data: dict[str, Any]) -> dict[str, Any]:
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])
    obj = {**builders.incident_example(), "event_id": "f1", "data": data}
    obj.update(ts=builders.at(builders.WORKDAY, "10:00"), discovered_at=builders.at(builders.WORKDAY, "10:00"))
    out = engine.on_incident_event(incident_from_obj(obj))
    body = out.incidents[0].to_json()
    body["change"] = "opened"
    assert body["incident_id"].startswith("INC-20261120-F")
    # The fixtures here (effect ids, follow-ups) name INC; the engine's id is the filing's content's.
    body["incident_id"] = INC
    return body


def test_a_filing_that_says_improper_purpose_is_assessed_so_from_the_start() -> None:
    plain = reported(_filed_by_the_engine({}))
    assert plain.to_json()["ppc"]["deadlines"]["final_days"] == 30

    run = reported(_filed_by_the_engine({"improper_purpose": True}))
    a = run.ppc.assessment
    assert a is not None
    assert a.improper_purpose
    assert "improper_purpose" in [t.value for t in a.city.fired]
    assert run.to_json()["ppc"]["deadlines"]["final_days"] == 60  # 確報 in 60 days (Rule 8(2))


def test_a_filing_that_counted_the_people_and_encrypted_the_data_is_exempt_with_that_count() -> None:
    run, _ = begin(_filed_by_the_engine({"distinct_people": 3, "encrypted": True}))
    a = run.ppc.assessment
    assert a is not None
    assert a.encrypted_exempt
    assert not a.city_reportable
    assert a.people is not None
    assert (a.people.count, a.people.upper_bound) == (3, False)
