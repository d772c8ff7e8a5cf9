# no copyright header in this project; Japanese text uses full-width punctuation
"""The national report: deadlines, PPC triggers, Rule 8 items, 本人通知 draft (shared/spec/legal.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import holidays
import pytest

from kinkyu.core.contract import ContractProfile
from kinkyu.core.incident import Incident
from kinkyu.core.legal import (
    IMPROPER_PURPOSE_RULES,
    RULE8_ORDER,
    UNKNOWN,
    UNKNOWN_EN,
    BreachFacts,
    ContractorState,
    ReportingParty,
    Rule8Item,
    Rule8Items,
    Rule8Key,
    Trigger,
    TriggerResult,
    apply_override,
    assess,
    breach_facts,
    breach_facts_from_incident,
    contractor_status,
    distinct_people,
    is_jp_non_working_day,
    learned_date,
    legal_deadline,
    notice_draft,
    ppc_deadlines,
    ppc_reminders,
    previous_working_day,
    rule8_items,
    scrub,
)
from kinkyu.core.model import JST, Severity

CONTRACTOR = ReportingParty.CONTRACTOR
CITY = ReportingParty.CITY
AT = datetime(2026, 11, 21, 10, 0, tzinfo=JST)


def facts(*items: str, **kwargs: Any) -> BreachFacts:
    return BreachFacts(data_items=frozenset(items), **kwargs)


# --- the calendar -------------------------------------------------------------


def test_golden_week_2027_is_what_the_holidays_package_says() -> None:
    # The expectations below were worked out by hand from this calendar.
    jp = holidays.country_holidays("JP", years=2027)
    assert date(2027, 4, 29) in jp
    assert date(2027, 5, 3) in jp
    assert date(2027, 5, 4) in jp
    assert date(2027, 5, 5) in jp
    assert date(2027, 5, 6) not in jp
    assert date(2027, 7, 19) in jp  # 海の日, a Monday
    assert date(2027, 3, 22) in jp  # 振替休日 for 春分の日 on Sunday 21 March


@pytest.mark.parametrize(
    "day",
    [
        date(2027, 5, 1),  # Saturday
        date(2027, 5, 2),  # Sunday
        date(2027, 5, 4),  # みどりの日
        date(2027, 3, 22),  # 振替休日
        date(2026, 9, 22),  # 国民の休日 (between two holidays)
        date(2026, 12, 29),  # year-end closure, a Tuesday
        date(2027, 1, 3),  # New Year closure
    ],
)
def test_weekends_holidays_and_the_year_end_closure_are_non_working_days(day: date) -> None:
    assert is_jp_non_working_day(day)


@pytest.mark.parametrize("day", [date(2027, 5, 6), date(2026, 12, 28), date(2027, 1, 4)])
def test_ordinary_weekdays_are_working_days(day: date) -> None:
    assert not is_jp_non_working_day(day)


def test_non_working_day_check_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        is_jp_non_working_day(datetime(2027, 5, 6, tzinfo=JST))


# --- legal_deadline -------------------------------------------------------------


def test_the_day_learned_is_day_one() -> None:
    assert legal_deadline(date(2027, 6, 10), 1) == date(2027, 6, 10)
    assert legal_deadline(date(2027, 6, 1), 30) == date(2027, 6, 30)


def test_weekends_inside_the_period_count() -> None:
    # Thu 10 June: days 2-5 are Fri, Sat, Sun, Mon.
    assert legal_deadline(date(2027, 6, 10), 5) == date(2027, 6, 14)


def test_thirty_days_ending_on_a_golden_week_holiday_move_past_golden_week() -> None:
    # 5 April + 29 days = Tue 4 May (みどりの日); 5 May is a holiday too.
    assert legal_deadline(date(2027, 4, 5), 30) == date(2027, 5, 6)


def test_thirty_days_ending_on_the_saturday_before_golden_week_move_past_it() -> None:
    # 2 April + 29 days = Sat 1 May; Sun 2, Mon 3 - Wed 5 May are all off.
    assert legal_deadline(date(2027, 4, 2), 30) == date(2027, 5, 6)


def test_a_saturday_deadline_before_a_monday_holiday_moves_to_tuesday() -> None:
    # 18 June + 29 days = Sat 17 July; Mon 19 July is 海の日.
    assert legal_deadline(date(2027, 6, 18), 30) == date(2027, 7, 20)


def test_a_saturday_deadline_before_a_substitute_holiday_moves_to_tuesday() -> None:
    # 19 Feb + 29 days = Sat 20 March; Mon 22 March is 振替休日.
    assert legal_deadline(date(2027, 2, 19), 30) == date(2027, 3, 23)


def test_a_deadline_in_the_year_end_closure_moves_to_the_fourth_of_january() -> None:
    # 1 Dec 2026 + 29 days = Wed 30 Dec; Mon 4 Jan 2027 is the first working day.
    assert legal_deadline(date(2026, 12, 1), 30) == date(2027, 1, 4)


def test_a_deadline_in_the_closure_moves_past_a_weekend_fourth_of_january() -> None:
    # 27 Dec 2025 + 4 days = Wed 31 Dec; 4 Jan 2026 is a Sunday.
    assert legal_deadline(date(2025, 12, 27), 5) == date(2026, 1, 5)


def test_the_twenty_eighth_of_december_is_not_part_of_the_closure() -> None:
    # 29 Nov 2026 + 29 days = Mon 28 Dec.
    assert legal_deadline(date(2026, 11, 29), 30) == date(2026, 12, 28)


def test_a_period_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        legal_deadline(date(2027, 6, 10), 0)


# --- ppc_deadlines ----------------------------------------------------------------


def test_preliminary_report_is_due_on_day_five_with_a_reminder_on_day_three() -> None:
    d = ppc_deadlines(date(2027, 6, 7), improper_purpose=False)  # a Monday
    assert d.preliminary_reminder == date(2027, 6, 9)
    assert d.preliminary_due == date(2027, 6, 11)


def test_preliminary_window_moves_past_golden_week() -> None:
    # Learned Thu 29 April (昭和の日): day 3 = Sat 1 May, day 5 = Mon 3 May.
    d = ppc_deadlines(date(2027, 4, 29), improper_purpose=False)
    assert d.preliminary_reminder == date(2027, 5, 6)
    assert d.preliminary_due == date(2027, 5, 6)


def test_full_report_is_due_in_thirty_days() -> None:
    d = ppc_deadlines(date(2027, 4, 5), improper_purpose=False)
    assert d.final_days == 30
    assert d.final_due == date(2027, 5, 6)


def test_full_report_is_due_in_sixty_days_with_an_improper_purpose() -> None:
    # 10 June + 59 days = Sun 8 Aug 2027, so Mon 9 Aug.
    d = ppc_deadlines(date(2027, 6, 10), improper_purpose=True)
    assert d.final_days == 60
    assert d.final_due == date(2027, 8, 9)


# --- reminders to the city ---------------------------------------------------------


def test_the_city_is_reminded_on_day_three_and_a_week_before_the_full_report_at_nine() -> None:
    prelim, final = ppc_reminders(ppc_deadlines(date(2027, 6, 7), improper_purpose=False))  # a Monday
    assert (prelim.report, prelim.day, prelim.due) == ("preliminary", date(2027, 6, 9), date(2027, 6, 11))
    assert prelim.at == datetime(2027, 6, 9, 9, tzinfo=JST)
    # Day 30 is Tue 6 July; a week before is Tue 29 June.
    assert (final.report, final.day, final.due) == ("final", date(2027, 6, 29), date(2027, 7, 6))


def test_a_full_report_reminder_falling_in_golden_week_comes_on_the_working_day_before() -> None:
    # Learned Mon 12 April 2027: day 30 is Tue 11 May; a week before is Tue 4 May (みどりの日), and
    # 1-3 May are a weekend and 憲法記念日, so Fri 30 April.
    _, final = ppc_reminders(ppc_deadlines(date(2027, 4, 12), improper_purpose=False))
    assert final.due == date(2027, 5, 11)
    assert final.day == date(2027, 4, 30)


def test_the_sixty_day_rule_moves_the_full_report_reminder_too() -> None:
    _, thirty = ppc_reminders(ppc_deadlines(date(2027, 6, 10), improper_purpose=False))
    _, sixty = ppc_reminders(ppc_deadlines(date(2027, 6, 10), improper_purpose=True))
    assert sixty.due == date(2027, 8, 9)
    assert sixty.day == date(2027, 8, 2)
    assert thirty.due < sixty.due


def test_previous_working_day_skips_the_year_end_closure_backwards() -> None:
    assert previous_working_day(date(2027, 1, 2)) == date(2026, 12, 28)
    assert previous_working_day(date(2027, 6, 9)) == date(2027, 6, 9)


def test_learned_date_is_the_japan_date() -> None:
    assert learned_date(datetime(2026, 11, 21, 23, 59, tzinfo=JST)) == date(2026, 11, 21)
    assert learned_date(datetime.fromisoformat("2026-11-21T15:30:00+00:00")) == date(2026, 11, 22)


def test_learned_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        learned_date(datetime(2026, 11, 21, 9, 0))  # noqa: DTZ001


# --- the contractor's clock ---------------------------------------------------------


def test_contractor_report_is_due_an_hour_after_discovery_by_default() -> None:
    status = contractor_status(AT, now=AT)
    assert status.due_at == AT + timedelta(hours=1)
    assert status.state is ContractorState.PENDING


def test_contractor_is_overdue_once_the_window_has_passed_without_a_report() -> None:
    status = contractor_status(AT, now=AT + timedelta(minutes=61))
    assert status.state is ContractorState.OVERDUE
    assert not status.released


def test_contractor_is_released_once_it_has_reported_to_the_city() -> None:
    status = contractor_status(AT, now=AT + timedelta(hours=5), reported_at=AT + timedelta(minutes=20))
    assert status.released
    assert not status.reported_late


def test_a_late_report_still_releases_the_contractor_but_is_marked_late() -> None:
    status = contractor_status(AT, now=AT + timedelta(hours=5), reported_at=AT + timedelta(hours=2))
    assert status.released
    assert status.reported_late


def test_contractor_window_is_configurable() -> None:
    status = contractor_status(AT, now=AT + timedelta(minutes=20), within=timedelta(minutes=15))
    assert status.due_at == AT + timedelta(minutes=15)
    assert status.state is ContractorState.OVERDUE


def test_city_clock_starts_on_the_japan_date_the_report_reached_it() -> None:
    reported = datetime.fromisoformat("2026-11-21T15:30:00+00:00")  # 00:30 on the 22nd in Japan
    status = contractor_status(AT, now=reported, reported_at=reported)
    assert status.city_learned == date(2026, 11, 22)
    assert contractor_status(AT, now=AT).city_learned is None


def test_contractor_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        contractor_status(datetime(2026, 11, 21, 9, 0), now=AT)  # noqa: DTZ001


# --- triggers, one at a time ----------------------------------------------------------


def test_ordinary_items_for_few_people_trigger_nothing() -> None:
    a = assess(facts("name", "address", distinct_people=3))
    assert not a.contractor_reportable
    assert not a.city_reportable
    assert a.contractor.fired == ()
    assert a.city.fired == ()


@pytest.mark.parametrize("item", ["health", "medical", "disability", "criminal_record", "race", "creed"])
def test_a_sensitive_item_triggers_both_parties(item: str) -> None:
    a = assess(facts("name", item))
    assert a.contractor.fired == (Trigger.SENSITIVE,)
    assert a.city.fired == (Trigger.SENSITIVE,)


def test_a_dataset_the_contract_marks_sensitive_triggers_both_parties() -> None:
    a = assess(facts("name", any_sensitive_dataset=True))
    assert a.contractor.fired == (Trigger.SENSITIVE,)
    assert "要配慮" in a.contractor.result(Trigger.SENSITIVE).reason("ja")


@pytest.mark.parametrize("item", ["card_number", "bank_account", "my_number"])
def test_an_item_that_could_cause_financial_harm_triggers_both_parties(item: str) -> None:
    a = assess(facts("name", item))
    assert a.contractor.fired == (Trigger.FINANCIAL_HARM,)
    assert a.city.fired == (Trigger.FINANCIAL_HARM,)


def test_item_names_are_compared_case_and_space_insensitively() -> None:
    assert assess(facts(" Health ")).contractor.fired == (Trigger.SENSITIVE,)


@pytest.mark.parametrize("rule", sorted(IMPROPER_PURPOSE_RULES))
def test_each_improper_purpose_rule_triggers_both_parties_once_confirmed(rule: str) -> None:
    a = assess(facts("name", rules=frozenset({rule}), confirmed=True))
    assert a.contractor.fired == (Trigger.IMPROPER_PURPOSE,)
    assert a.city.fired == (Trigger.IMPROPER_PURPOSE,)
    assert rule in a.contractor.result(Trigger.IMPROPER_PURPOSE).reason("en")


def test_the_improper_purpose_rules_are_the_documented_seven() -> None:
    assert (
        frozenset(
            {
                "unregistered-actor",
                "revoked-credential",
                "unapproved-org",
                "credential-attack",
                "bulk-export",
                "log-tampering",
                "post-contract-access",
            }
        )
        == IMPROPER_PURPOSE_RULES
    )


@pytest.mark.parametrize("rule", ["off-hours", "outside-site", "pii-email", "unencrypted-media", "scope-violation"])
def test_policy_breach_rules_do_not_imply_an_improper_purpose(rule: str) -> None:
    assert not assess(facts("name", rules=frozenset({rule}))).improper_purpose


@pytest.mark.parametrize("kind", ["unauthorized_access", "tampering"])
def test_a_filed_kind_that_names_an_improper_act_triggers_improper_purpose(kind: str) -> None:
    a = assess(facts("name", kind=kind))
    assert a.contractor.fired == (Trigger.IMPROPER_PURPOSE,)


def test_a_misdelivery_is_not_an_improper_purpose() -> None:
    assert not assess(facts("name", kind="misdelivery")).improper_purpose


def test_a_filed_improper_purpose_flag_triggers_improper_purpose() -> None:
    a = assess(facts("name", kind="loss", filed_improper_purpose=True))
    assert a.improper_purpose
    assert "届出" in a.city.result(Trigger.IMPROPER_PURPOSE).reason("ja")


@pytest.mark.parametrize("rule", sorted(IMPROPER_PURPOSE_RULES))
def test_an_improper_purpose_inferred_from_a_rule_is_provisional_until_a_person_confirms_it(rule: str) -> None:
    a = assess(facts("name", rules=frozenset({rule})))
    assert a.city.fired == ()
    assert a.city.provisional == (Trigger.IMPROPER_PURPOSE,)
    assert a.city_provisional
    assert not a.city_reportable  # not 報告対象 yet
    assert a.final_report_days == 30  # nor the 60-day 確報
    assert a.city.result(Trigger.IMPROPER_PURPOSE).reason("ja").startswith("暫定（要確認）")


def test_a_filed_no_does_not_switch_off_a_detected_improper_purpose() -> None:
    a = assess(facts("name", rules=frozenset({"bulk-export"}), filed_improper_purpose=False, confirmed=True))
    assert a.improper_purpose


def test_more_than_100_people_triggers_the_city_only() -> None:
    a = assess(facts("name", distinct_people=101))
    assert a.contractor.fired == ()
    assert a.city.fired == (Trigger.OVER_100,)
    assert not a.contractor_reportable
    assert a.city_reportable


def test_exactly_100_people_does_not_trigger_the_city() -> None:
    assert assess(facts("name", distinct_people=100)).city.fired == ()


def test_more_than_1000_people_triggers_both_parties() -> None:
    a = assess(facts("name", distinct_people=1001))
    assert a.contractor.fired == (Trigger.OVER_1000,)
    assert a.city.fired == (Trigger.OVER_100,)


def test_exactly_1000_people_does_not_trigger_the_contractor() -> None:
    a = assess(facts("name", distinct_people=1000))
    assert a.contractor.fired == ()
    assert a.city.fired == (Trigger.OVER_100,)


def test_the_city_rule_has_no_1000_trigger_and_the_contractor_rule_no_100_trigger() -> None:
    a = assess(facts("name"))
    with pytest.raises(KeyError):
        a.city.result(Trigger.OVER_1000)
    with pytest.raises(KeyError):
        a.contractor.result(Trigger.OVER_100)


def test_distinct_people_are_preferred_over_record_counts() -> None:
    a = assess(facts("name", distinct_people=50, records_upper_bound=5000))
    assert a.people is not None
    assert a.people.count == 50
    assert not a.people.upper_bound
    assert a.city.fired == ()


def test_record_counts_are_an_upper_bound_and_worded_so() -> None:
    a = assess(facts("name", records_upper_bound=1200))
    assert a.people is not None
    assert a.people.upper_bound
    assert a.people.text() == "1,200人以内（件数の合計。同一人の重複は確認中）"
    assert a.people.text("en").startswith("up to 1,200 people")
    reason = a.contractor.result(Trigger.OVER_1000)
    assert reason.fired
    assert "人以内" in reason.reason("ja")
    assert "おそれ" in reason.reason("ja")


def test_an_unknown_number_of_people_triggers_no_count_and_says_so() -> None:
    a = assess(facts("name"))
    assert a.people is None
    assert a.city.result(Trigger.OVER_100).reason("ja") == "本人の数は調査中"


def test_ordinance_sensitive_items_trigger_the_city_only() -> None:
    a = assess(facts("name", "tax", ordinance_sensitive_items=frozenset({"tax"})))
    assert a.contractor.fired == ()
    assert a.city.fired == (Trigger.ORDINANCE_SENSITIVE,)


def test_without_an_ordinance_definition_the_ordinance_trigger_says_none_is_configured() -> None:
    result = assess(facts("tax")).city.result(Trigger.ORDINANCE_SENSITIVE)
    assert not result.fired
    assert "定めの記載がない" in result.reason("ja")


def test_an_actual_breach_is_worded_as_having_happened() -> None:
    assert "おそれ" not in assess(facts("health", possible=False)).city.result(Trigger.SENSITIVE).reason("ja")
    assert "おそれ" in assess(facts("health", possible=True)).city.result(Trigger.SENSITIVE).reason("ja")


def test_every_trigger_result_carries_a_japanese_and_an_english_reason() -> None:
    a = assess(facts("health", "card_number", distinct_people=2000, rules=frozenset({"bulk-export"})))
    for party in (a.contractor, a.city):
        for result in party.triggers:
            assert result.reason("ja")
            assert result.reason("en")


# --- triggers in combination ----------------------------------------------------------------


def test_several_triggers_fire_together_in_the_order_the_rules_list_them() -> None:
    a = assess(
        facts(
            "health",
            "card_number",
            distinct_people=2000,
            rules=frozenset({"unregistered-actor"}),
            ordinance_sensitive_items=frozenset({"health"}),
            confirmed=True,
        )
    )
    assert a.contractor.fired == (
        Trigger.SENSITIVE,
        Trigger.FINANCIAL_HARM,
        Trigger.IMPROPER_PURPOSE,
        Trigger.OVER_1000,
    )
    assert a.city.fired == (
        Trigger.SENSITIVE,
        Trigger.FINANCIAL_HARM,
        Trigger.IMPROPER_PURPOSE,
        Trigger.OVER_100,
        Trigger.ORDINANCE_SENSITIVE,
    )


def test_improper_purpose_makes_the_full_report_sixty_days_even_with_other_triggers() -> None:
    a = assess(facts("health", "card_number", distinct_people=5000, rules=frozenset({"bulk-export"}), confirmed=True))
    assert a.sixty_day_rule
    assert a.final_report_days == 60
    assert a.deadlines(date(2027, 6, 10)).final_due == date(2027, 8, 9)


def test_without_improper_purpose_the_full_report_is_thirty_days() -> None:
    a = assess(facts("health", distinct_people=5000, rules=frozenset({"off-hours"})))
    assert not a.sixty_day_rule
    assert a.final_report_days == 30
    assert a.deadlines(date(2027, 4, 5)).final_due == date(2027, 5, 6)


# --- the encryption exemption ---------------------------------------------------------------


def test_strong_encryption_switches_every_trigger_off() -> None:
    a = assess(
        facts(
            "health",
            "card_number",
            distinct_people=5000,
            rules=frozenset({"bulk-export"}),
            ordinance_sensitive_items=frozenset({"health"}),
            encrypted=True,
        )
    )
    assert a.encrypted_exempt
    assert a.contractor.fired == ()
    assert a.city.fired == ()
    assert not a.contractor_reportable
    assert not a.city_reportable


def test_the_encryption_exemption_is_the_stated_reason_and_names_what_would_apply() -> None:
    a = assess(facts("health", "name", encrypted=True))
    sensitive = a.city.result(Trigger.SENSITIVE)
    assert "高度な暗号化" in sensitive.reason("ja")
    assert "暗号化がなければ該当" in sensitive.reason("ja")
    assert "strong encryption" in sensitive.reason("en")
    assert "暗号化がなければ" not in a.city.result(Trigger.FINANCIAL_HARM).reason("ja")


def test_the_improper_purpose_signal_survives_the_exemption_for_the_deadline() -> None:
    a = assess(facts("name", rules=frozenset({"bulk-export"}), encrypted=True, confirmed=True))
    assert a.improper_purpose
    assert a.final_report_days == 60


# --- human override -------------------------------------------------------------------------------


def test_an_override_decides_reportability_and_keeps_the_computed_result() -> None:
    computed = assess(facts("health"))
    decided = apply_override(computed, reportable=False, reason="誤検知（テストデータ）", by="sec-07", at=AT)
    assert not decided.contractor_reportable
    assert not decided.city_reportable
    assert decided.contractor.computed_reportable
    assert decided.city.fired == (Trigger.SENSITIVE,)
    assert decided.overrides[0].reason == "誤検知（テストデータ）"
    assert decided.overrides[0].by == "sec-07"
    assert decided.overrides[0].at == AT
    assert computed.overrides == ()


def test_an_override_can_make_an_exempt_breach_reportable() -> None:
    computed = assess(facts("health", encrypted=True))
    decided = apply_override(computed, reportable=True, reason="鍵も漏えい", by="sec-07", at=AT)
    assert decided.city_reportable
    assert not decided.city.computed_reportable


def test_an_override_for_one_party_leaves_the_other_computed() -> None:
    decided = apply_override(
        assess(facts("health")), reportable=False, reason="市が判断", by="kacho-b", at=AT, party=CITY
    )
    assert not decided.city_reportable
    assert decided.contractor_reportable


def test_the_latest_override_wins() -> None:
    a = assess(facts("name"))
    a = apply_override(a, reportable=True, reason="念のため", by="sec-07", at=AT)
    a = apply_override(a, reportable=False, reason="調査の結果、漏えいなし", by="sec-07", at=AT + timedelta(days=1))
    assert not a.reportable_to_ppc(CONTRACTOR)
    assert len(a.overrides) == 2


def test_an_override_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        apply_override(assess(facts("name")), reportable=False, reason=" ", by="sec-07", at=AT)


def test_an_override_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        apply_override(
            assess(facts("name")),
            reportable=False,
            reason="誤検知",
            by="sec-07",
            at=datetime(2026, 11, 21, 10, 0),  # noqa: DTZ001
        )


# --- counting people ------------------------------------------------------------------------------


def test_a_person_in_several_events_is_counted_once() -> None:
    assert distinct_people([["h1", "h2"], ["h2", "h3"], ["h1"]]) == (3, True)


def test_events_without_subject_ids_make_the_count_incomplete() -> None:
    counted = distinct_people([["h1", "h2"], None])
    assert counted.number == 2
    assert not counted.complete


def test_no_subject_ids_at_all_give_no_count() -> None:
    assert distinct_people([None, None]) == (None, False)
    assert distinct_people([]) == (None, False)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        BreachFacts(records_upper_bound=-1)


# --- facts from an incident ------------------------------------------------------------------------


def _profile(*, sensitive: bool) -> ContractProfile:
    return ContractProfile.model_validate(
        {
            "contract_id": "koganei-2026-017",
            "title": "住民記録システム運用保守業務委託",
            "jurisdiction": "koganei",
            "starts": "2026-04-01",
            "ends": "2027-03-31",
            "contractor": {"org": "acme", "name": "株式会社アクメ"},
            "city": {"name": "小金井市", "contacts": [{"name": "担当者 A", "role": "担当"}]},
            "datasets": {
                "residents": {"fields": ["name", "address", "birthdate"], "sensitive": False},
                "health_checks": {"fields": ["name", "health"], "sensitive": sensitive},
            },
        }
    )


def _incident(*, data_items: list[str] | None = None, rules: list[str] | None = None) -> Incident:
    return Incident(
        incident_id="INC-20261121-0001",
        contract_id="koganei-2026-017",
        jurisdiction="koganei",
        origin="detection",
        kind="detection",
        first_event_ts=AT,
        last_event_ts=AT,
        actor="u1042",
        system="juki-portal",
        severity=Severity.HIGH,
        rules=rules or [],
        records=1200,
        data_items=data_items or [],
    )


def test_incident_facts_take_the_incident_items_rules_and_records() -> None:
    f = breach_facts_from_incident(
        _incident(data_items=["name", "address"], rules=["bulk-export"]),
        _profile(sensitive=False),
        datasets=["residents"],
    )
    assert f.data_items == frozenset({"name", "address"})
    assert f.rules == frozenset({"bulk-export"})
    assert f.records_upper_bound == 1200
    assert f.kind == "detection"


def test_incident_facts_use_the_dataset_fields_when_the_incident_names_no_items() -> None:
    f = breach_facts_from_incident(_incident(), _profile(sensitive=False), datasets=["residents"])
    assert f.data_items == frozenset({"name", "address", "birthdate"})


def test_incident_facts_mark_a_sensitive_dataset() -> None:
    profile = _profile(sensitive=True)
    assert breach_facts_from_incident(_incident(), profile, datasets=["health_checks"]).any_sensitive_dataset
    assert not breach_facts_from_incident(_incident(), profile, datasets=["residents"]).any_sensitive_dataset


def test_incident_facts_count_every_dataset_when_the_datasets_are_unknown() -> None:
    f = breach_facts_from_incident(_incident(), _profile(sensitive=True))
    assert f.any_sensitive_dataset
    assert "health" in f.data_items


# --- Rule 8 items -----------------------------------------------------------------------------------


def test_rule8_items_come_in_the_order_of_rule_8() -> None:
    items = rule8_items()
    assert [i.key for i in items] == list(RULE8_ORDER)
    assert [i.number for i in items] == list(range(1, 10))
    assert [i.label_ja for i in items] == [
        "概要",
        "漏えい等が発生し、又は発生したおそれがある保有個人情報（個人データ）の項目",
        "本人の数",
        "原因",
        "二次被害又はそのおそれの有無及びその内容",
        "本人への対応の実施状況",
        "公表の実施状況",
        "再発防止のための措置",
        "その他参考となる事項",
    ]
    assert all(i.label_en for i in items)


def test_unknown_items_read_under_investigation() -> None:
    items = rule8_items()
    assert [i.value for i in items] == [UNKNOWN] * 9
    assert UNKNOWN == "調査中"
    assert items[Rule8Key.CAUSE].text("en") == UNKNOWN_EN
    assert len(items.missing()) == 9
    assert not items.complete


def test_missing_lists_only_the_items_not_yet_known_in_order() -> None:
    items = rule8_items(kind="misdelivery", data_items=["name", "address"], medium="郵便物", cause="封入誤り")
    assert [i.key for i in items.missing()] == [
        Rule8Key.PEOPLE,
        Rule8Key.SECONDARY_HARM,
        Rule8Key.RESPONSE,
        Rule8Key.PUBLICATION,
        Rule8Key.PREVENTION,
        Rule8Key.OTHER,
    ]


def test_all_items_known_make_the_report_complete() -> None:
    items = rule8_items(
        kind="misdelivery",
        data_items=["name", "address"],
        medium="郵便物",
        people=assess(facts("name", distinct_people=3)).people,
        cause="封入誤り",
        secondary_harm="現時点で確認されていない",
        response="本人へ謝罪し回収済み",
        publication="予定なし",
        prevention="ダブルチェックの徹底",
        other="なし",
    )
    assert items.complete


def test_summary_names_dates_what_happened_finder_triggers_and_contractor() -> None:
    a = assess(facts("health", distinct_people=150))
    summary = rule8_items(
        occurred_at=datetime(2026, 11, 20, 16, 0, tzinfo=JST),
        discovered_at=datetime(2026, 11, 21, 9, 40, tzinfo=JST),
        kind="misdelivery",
        who_found="受託者の作業責任者",
        assessment=a,
    )[Rule8Key.SUMMARY]
    assert "令和8年11月20日（金）16時00分" in summary.value
    assert "令和8年11月21日（土）9時40分" in summary.value
    assert "誤送付" in summary.value
    assert "受託者の作業責任者" in summary.value
    assert "要配慮個人情報" in summary.value
    assert "本人の数が100人超" in summary.value
    assert "委託先の関与: あり" in summary.value
    assert "経緯: 調査中" in summary.value


def test_summary_dates_are_japan_dates() -> None:
    utc = datetime.fromisoformat("2026-11-21T15:30:00+00:00")
    summary = rule8_items(kind="leak", discovered_at=utc)[Rule8Key.SUMMARY]
    assert "令和8年11月22日（日）0時30分" in summary.value
    assert "Sun 22 Nov 2026 00:30 JST" in summary.text("en")


def test_summary_names_detection_rules_as_categories() -> None:
    summary = rule8_items(kind="detection", rules=["bulk-export", "off-hours"])[Rule8Key.SUMMARY]
    assert "大量の複写・持ち出し" in summary.value
    assert "bulk copy or export" in summary.text("en")


def test_summary_mentions_a_human_decision() -> None:
    a = apply_override(assess(facts("health")), reportable=False, reason="誤検知", by="sec-07", at=AT)
    assert "担当者の判断により報告対象外" in rule8_items(kind="leak", assessment=a)[Rule8Key.SUMMARY].value


def test_data_items_are_named_by_category_with_the_medium() -> None:
    item = rule8_items(data_items=["name", "birthdate", "my_number"], medium="電子媒体（USBメモリ）")[
        Rule8Key.DATA_ITEMS
    ]
    assert item.value == "氏名、生年月日、個人番号（マイナンバー）（媒体: 電子媒体（USBメモリ））"
    assert item.text("en") == "name, date of birth, My Number (individual number) (medium: 電子媒体（USBメモリ）)"


def test_an_unknown_medium_reads_under_investigation() -> None:
    assert rule8_items(data_items=["name"])[Rule8Key.DATA_ITEMS].value == "氏名（媒体: 調査中）"


def test_number_of_people_uses_the_upper_bound_wording_when_only_records_are_known() -> None:
    a = assess(facts("name", records_upper_bound=1200))
    assert rule8_items(assessment=a)[Rule8Key.PEOPLE].value == "1,200人以内（件数の合計。同一人の重複は確認中）"


def test_number_of_people_is_exact_when_distinct_people_are_known() -> None:
    a = assess(facts("name", distinct_people=3, records_upper_bound=40))
    assert rule8_items(assessment=a)[Rule8Key.PEOPLE].value == "3人"


def test_cause_names_the_party_it_lies_with() -> None:
    item = rule8_items(cause="作業手順の不遵守", cause_party="受託者")[Rule8Key.CAUSE]
    assert item.value == "作業手順の不遵守（原因のある当事者: 受託者）"


def test_personal_information_in_free_text_is_removed() -> None:
    items = rule8_items(
        cause="作業従事者が taro@example.jp に送信",
        secondary_harm="090-1234-5678 から問合せ",
        other="番号 1234 5678 9012 を含む",
    )
    text = items.render()
    assert "taro@example.jp" not in text
    assert "090-1234-5678" not in text
    assert "1234 5678 9012" not in text


def test_scrub_keeps_dates_and_counts() -> None:
    assert scrub("2026-11-21 に 1,200件") == "2026-11-21 に 1,200件"


def test_rule8_items_refuse_a_wrong_order() -> None:
    items = tuple(Rule8Item(k, None, None) for k in reversed(RULE8_ORDER))
    with pytest.raises(ValueError, match="order"):
        Rule8Items(items)


def test_render_numbers_all_nine_items() -> None:
    text = rule8_items().render("en")
    for n in range(1, 10):
        assert f"{n}. " in text


# --- 本人通知 draft -------------------------------------------------------------------------------------


def _full_items() -> Rule8Items:
    return rule8_items(
        kind="misdelivery",
        who_found="受託者の作業責任者",
        assessment=assess(facts("name", "address", distinct_people=3)),
        data_items=["name", "address"],
        medium="郵便物",
        cause="封入誤り",
        secondary_harm="二次被害は確認されていない",
        response="RESPONSE-MARK",
        publication="PUBLICATION-MARK",
        prevention="PREVENTION-MARK",
        other="OTHER-MARK",
        other_notice="NOTICE-MARK",
    )


def test_notice_draft_carries_items_1_2_4_5_and_9_only() -> None:
    text = notice_draft(_full_items())
    for key in (Rule8Key.SUMMARY, Rule8Key.DATA_ITEMS, Rule8Key.CAUSE, Rule8Key.SECONDARY_HARM, Rule8Key.OTHER):
        assert f"■ {_full_items()[key].label_ja}" in text
    for key in (Rule8Key.PEOPLE, Rule8Key.RESPONSE, Rule8Key.PUBLICATION, Rule8Key.PREVENTION):
        assert _full_items()[key].label_ja not in text
    assert "封入誤り" in text
    assert "NOTICE-MARK" in text  # item 9 as written for the people, not the report's own (OTHER-MARK)
    assert "OTHER-MARK" not in text
    for absent in ("3人", "RESPONSE-MARK", "PUBLICATION-MARK", "PREVENTION-MARK"):
        assert absent not in text


def test_notice_draft_leaves_out_what_only_the_regulator_needs() -> None:
    text = notice_draft(_full_items())
    assert "報告対象事態" not in text
    assert "受託者の作業責任者" not in text


def test_notice_draft_is_marked_as_a_draft_the_city_sends() -> None:
    text = notice_draft(_full_items())
    assert text.startswith("［案：")
    assert "本人へはまだ通知しておりません" in text


def test_notice_draft_names_the_city_and_its_enquiry_line_when_given() -> None:
    text = notice_draft(_full_items(), sender="小金井市", contact="市民課 個人情報相談窓口")
    # The city signs the notice: it names itself 本市 in the text and by name at the foot.
    assert "本市が業務を委託している事業者" in text
    assert text.rstrip().endswith("小金井市")
    assert "お問い合わせ先: 市民課 個人情報相談窓口" in text


def test_notice_draft_of_a_ward_says_honku() -> None:
    text = notice_draft(_full_items(), sender="品川区", unit="区")
    assert "本区が業務を委託している事業者" in text


def test_notice_draft_in_english_uses_english_labels() -> None:
    text = notice_draft(_full_items(), "en")
    assert "■ Summary" in text
    assert "■ Cause" in text
    assert "■ Number of people affected" not in text
    assert "may have been leaked" in text


def test_notice_draft_for_an_actual_breach_says_it_happened() -> None:
    items = rule8_items(kind="leak", assessment=assess(facts("name", possible=False)))
    assert "漏えい等が発生したことが判明" in notice_draft(items)


def test_notice_draft_shows_unknown_items_as_under_investigation() -> None:
    text = notice_draft(rule8_items(kind="loss"))
    assert "■ 原因\n調査中" in text


def test_notice_draft_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="lang"):
        notice_draft(_full_items(), "fr")  # type: ignore[arg-type]


def test_a_data_set_the_contract_marks_ordinance_sensitive_triggers_the_city_only() -> None:
    a = assess(
        breach_facts(
            data_items=[],
            rules=[],
            kind="leak",
            records=3,
            datasets={"welfare": (["name"], False)},
            ordinance_datasets=["welfare"],
        )
    )
    assert a.city.fired == (Trigger.ORDINANCE_SENSITIVE,)
    assert a.contractor.fired == ()


def test_notice_item_9_carries_no_internal_counters() -> None:
    items = rule8_items(kind="leak", other="被害拡大防止措置 2件（完了 0件）、証拠保全の依頼 1回")
    text = notice_draft(items)
    assert "証拠保全" not in text
    assert "件（完了" not in text
    assert "■ その他参考となる事項\n特になし" in text


def test_a_trigger_keeps_its_reason_as_a_code_and_says_it_in_the_readers_language() -> None:
    result = assess(facts("health", "name", possible=True)).city.result(Trigger.SENSITIVE)

    assert (result.why, result.values) == ("sensitive.possible", {"items": ["health"]})
    assert result.reason("ja") == "要配慮個人情報（健康診断等の結果）を含む漏えい等が発生したおそれがある"
    assert result.reason("en") == "Special-care-required personal information possibly involved (health check results)"


def test_a_reason_stored_as_text_by_an_earlier_release_reads_as_it_was_stored() -> None:
    stored = TriggerResult.from_json(
        {"trigger": "sensitive", "fired": False, "reason_ja": "保存された理由", "reason_en": "the stored reason"}
    )

    assert (stored.reason("ja"), stored.reason("en")) == ("保存された理由", "the stored reason")
    assert stored.to_json() == {
        "trigger": "sensitive",
        "fired": False,
        "reason_ja": "保存された理由",
        "reason_en": "the stored reason",
    }
