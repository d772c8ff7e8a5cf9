from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from helpers import KOGANEI, at, make_event, sample_policy, sample_profiles

from kinkyu.core.calendar import is_jp_holiday, is_working_time, jp_holiday_name
from kinkyu.core.clauses import CITY_NAMES, clauses_for
from kinkyu.core.contract import JURISDICTIONS, ContractPolicy
from kinkyu.core.engine import Engine
from kinkyu.core.model import AccessEvent
from kinkyu.core.rules import RULE_CLASSES, RULE_IDS, Hit, Rule, make_rules
from kinkyu.core.rules.outage import SystemOutage
from kinkyu.core.rules.stateless import (
    LogTampering,
    OffHours,
    OutsideSite,
    PiiEmail,
    PostContractAccess,
    RevokedCredential,
    ScopeViolation,
    UnapprovedOrg,
    UnencryptedMedia,
    UnregisteredActor,
)
from kinkyu.core.rules.windowed import BulkExport, CredentialAttack

RULES_MD_ORDER = (
    "unregistered-actor",
    "revoked-credential",
    "unapproved-org",
    "outside-site",
    "off-hours",
    "bulk-export",
    "pii-email",
    "unencrypted-media",
    "credential-attack",
    "scope-violation",
    "post-contract-access",
    "system-outage",
    "log-tampering",
)
LATENESS = 300.0


@pytest.fixture(scope="module")
def policy() -> ContractPolicy:
    return sample_policy()


def hits(rule: Rule, ev: AccessEvent, policy: ContractPolicy) -> list[Hit]:
    return list(rule.observe(ev, policy))


def feed(rule: Rule, events: list[AccessEvent], policy: ContractPolicy) -> list[Hit]:
    out: list[Hit] = []
    for ev in events:
        out.extend(rule.observe(ev, policy))
    return out


def exports(times: list[str], records: int, *, actor: str = "u1042") -> list[AccessEvent]:
    return [make_event(action="export", ts=f"2026-11-24 {hm}", records=records, actor=actor) for hm in times]


# -- registry and clauses ----------------------------------------------------------


def test_registry_lists_the_thirteen_rule_ids_in_rules_md_order() -> None:
    assert RULE_IDS == RULES_MD_ORDER
    assert len({cls.rule_id for cls in RULE_CLASSES}) == 13


@pytest.mark.parametrize("rule_id", RULES_MD_ORDER)
@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_rule_cites_clauses_of_every_jurisdiction(rule_id: str, jurisdiction: str) -> None:
    clauses = clauses_for(rule_id, jurisdiction)
    assert clauses
    for clause in clauses:
        assert clause.article.startswith(CITY_NAMES[jurisdiction] + " ")
        assert clause.label


def test_each_finding_cites_the_clauses_of_its_jurisdiction() -> None:
    profiles = sample_profiles()
    engine = Engine({cid: p.compile() for cid, p in profiles.items()})
    seen = set()
    for cid, profile in profiles.items():
        out = engine.on_access(make_event(contract_id=cid, action="log_config_change", ts="2026-11-24 10:00"))
        (finding,) = out.findings
        assert finding.jurisdiction == profile.jurisdiction
        assert finding.clauses == clauses_for("log-tampering", profile.jurisdiction)
        seen.add(profile.jurisdiction)
    assert seen == set(JURISDICTIONS)


def test_a_benign_working_hours_read_fires_no_rule(policy: ContractPolicy) -> None:
    ev = make_event(action="read", ts="2026-11-24 10:00", fields=("name", "address"))
    for rule in make_rules():
        assert hits(rule, ev, policy) == []


def test_a_rule_returns_the_same_empty_tuple_when_nothing_fires(policy: ContractPolicy) -> None:
    ev = make_event(action="heartbeat", actor="svc-juki")
    results = [rule.observe(ev, policy) for rule in make_rules()]
    assert all(r == () for r in results)


# -- calendar ----------------------------------------------------------------------


def test_calendar_knows_japanese_public_holidays_including_substitute_days() -> None:
    assert jp_holiday_name(date(2026, 11, 23)) == "勤労感謝の日"
    assert is_jp_holiday(date(2026, 5, 6))  # 振替休日 for 2026-05-03 (Sunday)
    assert not is_jp_holiday(date(2026, 11, 24))
    assert not is_jp_holiday(date(2027, 1, 2))  # city offices close, but it is not a public holiday


def test_calendar_judges_working_time_in_japan_time(policy: ContractPolicy) -> None:
    work_hours = policy.work_hours
    assert work_hours is not None
    assert is_working_time(work_hours, at("2026-11-24T01:00:00+00:00"))  # 10:00 JST
    assert not is_working_time(work_hours, at("2026-11-24T10:00:00+00:00"))  # 19:00 JST


# -- unregistered-actor, revoked-credential, unapproved-org --------------------------


def test_unregistered_actor_fires_on_a_data_action_by_an_account_not_in_staff(policy: ContractPolicy) -> None:
    ev = make_event(actor="u9999")
    (hit,) = hits(UnregisteredActor(), ev, policy)
    assert hit.event_ids == (ev.event_id,)
    assert hit.actor == "u9999"


def test_unregistered_actor_ignores_non_data_actions(policy: ContractPolicy) -> None:
    assert hits(UnregisteredActor(), make_event(action="login", actor="u9999"), policy) == []


def test_revoked_credential_fires_on_a_successful_action_at_or_after_revocation(policy: ContractPolicy) -> None:
    ev = make_event(actor="u1043", action="login", ts="2026-10-31 18:00")
    (hit,) = hits(RevokedCredential(), ev, policy)
    assert hit.actor == "u1043"
    assert hit.detail["revoked_at"] == "2026-10-31T18:00:00+09:00"


def test_revoked_credential_ignores_failures_and_actions_before_revocation(policy: ContractPolicy) -> None:
    rule = RevokedCredential()
    assert hits(rule, make_event(actor="u1043", action="login_failed", outcome="failure"), policy) == []
    assert hits(rule, make_event(actor="u1043", ts="2026-10-31 17:59"), policy) == []


def test_unapproved_org_fires_on_any_action_by_an_unapproved_org(policy: ContractPolicy) -> None:
    (hit,) = hits(UnapprovedOrg(), make_event(action="login", org="shadow-subco"), policy)
    assert hit.detail["org"] == "shadow-subco"


def test_unapproved_org_accepts_the_contractor_and_a_missing_org() -> None:
    policy = sample_policy(approved_orgs=["approved-sub"])
    rule = UnapprovedOrg()
    assert hits(rule, make_event(org="acme"), policy) == []  # the contractor itself
    assert hits(rule, make_event(org="approved-sub"), policy) == []
    assert hits(rule, make_event(org=None), policy) == []


# -- outside-site ------------------------------------------------------------------


def test_outside_site_fires_on_a_data_action_from_outside_every_site_network(policy: ContractPolicy) -> None:
    (hit,) = hits(OutsideSite(), make_event(ip="203.0.113.7"), policy)
    assert hit.detail["reason"] == "outside"


def test_outside_site_fires_on_an_unparsable_ip(policy: ContractPolicy) -> None:
    (hit,) = hits(OutsideSite(), make_event(ip="10.20.3.4:5555"), policy)
    assert hit.detail["reason"] == "unparsable"


def test_outside_site_accepts_site_addresses_also_when_ipv4_mapped(policy: ContractPolicy) -> None:
    rule = OutsideSite()
    assert hits(rule, make_event(ip="10.20.250.1"), policy) == []
    assert hits(rule, make_event(ip="::ffff:10.20.3.4"), policy) == []
    assert hits(rule, make_event(ip="10.20.3.4", action="login"), policy) == []


def test_outside_site_caches_verdicts_per_policy_within_a_bound(policy: ContractPolicy) -> None:
    fresh = sample_policy()
    rule = OutsideSite()
    for k in range(70_000):
        rule.observe(make_event(ip=f"10.20.{k // 256 % 256}.{k % 256}", event_id="x"), fresh)
    assert 0 < len(fresh.ip_verdicts) <= 65_536
    assert policy.ip_verdicts is not fresh.ip_verdicts


def test_outside_site_stays_silent_when_the_profile_names_no_sites() -> None:
    assert hits(OutsideSite(), make_event(ip="203.0.113.7"), sample_policy(sites=[])) == []


# -- off-hours ---------------------------------------------------------------------


def test_off_hours_fires_on_a_jp_public_holiday(policy: ContractPolicy) -> None:
    (hit,) = hits(OffHours(), make_event(ts="2026-11-23 10:00"), policy)
    assert hit.detail["reason"] == "holiday"
    assert hit.detail["holiday"] == "勤労感謝の日"


def test_off_hours_fires_on_saturday(policy: ContractPolicy) -> None:
    (hit,) = hits(OffHours(), make_event(ts="2026-11-28 10:00"), policy)
    assert hit.detail["reason"] == "day-off"
    assert hit.detail["weekday"] == "sat"


def test_off_hours_fires_before_start_and_at_end_but_not_inside(policy: ContractPolicy) -> None:
    rule = OffHours()
    (before,) = hits(rule, make_event(ts="2026-11-24 08:29:59"), policy)
    assert before.detail["reason"] == "before-start"
    assert hits(rule, make_event(ts="2026-11-24 08:30"), policy) == []
    assert hits(rule, make_event(ts="2026-11-24 17:59:59"), policy) == []
    (after,) = hits(rule, make_event(ts="2026-11-24 18:00"), policy)
    assert after.detail["reason"] == "after-end"


def test_off_hours_judges_the_time_in_japan_whatever_the_event_offset(policy: ContractPolicy) -> None:
    rule = OffHours()
    assert hits(rule, make_event(ts="2026-11-24T01:00:00+00:00"), policy) == []
    (hit,) = hits(rule, make_event(ts="2026-11-24T10:00:00+00:00"), policy)
    assert hit.detail["local_time"] == "19:00"


def test_off_hours_treats_holidays_as_working_days_when_holidays_is_none() -> None:
    policy = sample_policy(
        work_hours={"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:30", "end": "18:00", "holidays": "none"}
    )
    assert hits(OffHours(), make_event(ts="2026-11-23 10:00"), policy) == []


def test_off_hours_never_fires_without_work_hours() -> None:
    assert hits(OffHours(), make_event(ts="2026-11-28 03:00"), sample_policy(work_hours=None)) == []


def test_off_hours_ignores_non_data_actions(policy: ContractPolicy) -> None:
    assert hits(OffHours(), make_event(action="heartbeat", ts="2026-11-28 03:00"), policy) == []


# -- bulk-export -------------------------------------------------------------------


def test_bulk_export_fires_on_one_action_at_the_threshold(policy: ContractPolicy) -> None:
    ev = make_event(action="print", records=500)
    (hit,) = hits(BulkExport(), ev, policy)
    assert hit.event_ids == (ev.event_id,)
    assert hit.records == 500
    assert hit.detail["mode"] == "single"


def test_bulk_export_does_not_add_a_single_bulk_action_to_the_window_sum(policy: ContractPolicy) -> None:
    rule = BulkExport()
    assert len(hits(rule, make_event(action="export", records=600, ts="2026-11-24 10:00"), policy)) == 1
    assert hits(rule, make_event(action="export", records=100, ts="2026-11-24 10:10"), policy) == []


def test_bulk_export_fires_when_one_actor_sums_past_threshold_within_an_hour(policy: ContractPolicy) -> None:
    events = exports(["10:00", "10:20", "10:40"], 200)
    found = feed(BulkExport(), events, policy)
    (hit,) = found
    assert hit.event_ids == tuple(ev.event_id for ev in events)
    assert hit.records == 600
    assert hit.actor == "u1042"
    assert hit.t == events[-1].t
    assert hit.detail["actions"] == {"export": 3}


def test_bulk_export_does_not_fire_across_more_than_an_hour(policy: ContractPolicy) -> None:
    events = exports(["10:00", "10:45", "11:30", "12:15"], 200)
    assert feed(BulkExport(), events, policy) == []


def test_bulk_export_counts_an_interval_of_exactly_one_hour(policy: ContractPolicy) -> None:
    events = exports(["10:00", "10:30", "11:00"], 200)
    assert len(feed(BulkExport(), events, policy)) == 1


def test_bulk_export_handles_out_of_order_events_within_lateness(policy: ContractPolicy) -> None:
    late_middle = exports(["09:30", "11:05", "10:40"], 250)
    (hit,) = feed(BulkExport(), late_middle, policy)
    assert set(hit.event_ids) == {late_middle[1].event_id, late_middle[2].event_id}


def test_bulk_export_does_not_count_a_redelivered_event_twice(policy: ContractPolicy) -> None:
    rule = BulkExport()
    (ev,) = exports(["10:00"], 300)
    assert feed(rule, [ev, ev], policy) == []


def test_bulk_export_ignores_a_redelivery_of_an_event_already_reported(policy: ContractPolicy) -> None:
    rule = BulkExport()
    first = exports(["10:00", "10:10"], 300)
    assert len(feed(rule, first, policy)) == 1
    assert feed(rule, [first[0], *exports(["10:20"], 300)], policy) == []


def test_bulk_export_fires_once_then_needs_a_fresh_threshold_worth(policy: ContractPolicy) -> None:
    rule = BulkExport()
    assert len(feed(rule, exports(["10:00", "10:05"], 250), policy)) == 1
    assert feed(rule, exports(["10:10"], 250), policy) == []
    assert len(feed(rule, exports(["10:15"], 250), policy)) == 1


def test_bulk_export_counts_each_actor_separately(policy: ContractPolicy) -> None:
    events = [*exports(["10:00"], 300, actor="u1042"), *exports(["10:05"], 300, actor="u1001")]
    assert feed(BulkExport(), events, policy) == []


def test_bulk_export_ignores_reads_and_actions_without_records(policy: ContractPolicy) -> None:
    rule = BulkExport()
    assert hits(rule, make_event(action="read", records=5000), policy) == []
    assert hits(rule, make_event(action="export", records=0), policy) == []


# -- pii-email, unencrypted-media ----------------------------------------------------


def test_pii_email_fires_on_email_or_fax_with_personal_records(policy: ContractPolicy) -> None:
    rule = PiiEmail()
    (hit,) = hits(rule, make_event(action="email_send", records=3, destination="x@example.net"), policy)
    assert "x@example.net" not in json.dumps(hit.detail)
    assert len(hits(rule, make_event(action="fax_send", records=1), policy)) == 1


def test_pii_email_ignores_mail_without_personal_records(policy: ContractPolicy) -> None:
    assert hits(PiiEmail(), make_event(action="email_send", records=0), policy) == []


def test_unencrypted_media_fires_when_encrypted_is_false_or_missing(policy: ContractPolicy) -> None:
    rule = UnencryptedMedia()
    (no,) = hits(rule, make_event(action="media_write", records=10, encrypted=False), policy)
    (unknown,) = hits(rule, make_event(action="upload", records=10, encrypted=None), policy)
    assert no.detail["encrypted"] == "no"
    assert unknown.detail["encrypted"] == "unknown"


def test_unencrypted_media_accepts_encrypted_writes_and_empty_ones(policy: ContractPolicy) -> None:
    rule = UnencryptedMedia()
    assert hits(rule, make_event(action="media_write", records=10, encrypted=True), policy) == []
    assert hits(rule, make_event(action="upload", records=0), policy) == []


# -- credential-attack -------------------------------------------------------------


def failures(times: list[str], *, actor: str = "u1042", ip: str = "198.51.100.9") -> list[AccessEvent]:
    return [
        make_event(action="login_failed", outcome="failure", ts=f"2026-11-24 {hm}", actor=actor, ip=ip) for hm in times
    ]


def test_credential_attack_fires_once_on_count_failures_within_the_window(policy: ContractPolicy) -> None:
    events = failures(["10:00", "10:01", "10:02", "10:03", "10:04"])
    (hit,) = feed(CredentialAttack(), events, policy)
    assert hit.event_ids == tuple(ev.event_id for ev in events)
    assert hit.actor == "u1042"
    assert hit.detail["key"] == "account+source_ip"
    assert hit.detail["failures"] == 5


def test_credential_attack_does_not_fire_when_failures_spread_beyond_the_window(policy: ContractPolicy) -> None:
    events = failures(["10:00", "10:03", "10:06", "10:09", "10:10:01"])
    assert feed(CredentialAttack(), events, policy) == []


def test_credential_attack_counts_one_account_across_several_ips(policy: ContractPolicy) -> None:
    events = [
        f
        for k, hm in enumerate(["10:00", "10:01", "10:02", "10:03", "10:04"])
        for f in failures([hm], ip=f"10.20.0.{k}")
    ]
    (hit,) = feed(CredentialAttack(), events, policy)
    assert hit.detail["key"] == "account"
    assert hit.detail["source_ips"] == 5


def test_credential_attack_counts_one_ip_across_several_accounts_without_naming_one(policy: ContractPolicy) -> None:
    events = [
        f for k, hm in enumerate(["10:00", "10:01", "10:02", "10:03", "10:04"]) for f in failures([hm], actor=f"u{k}")
    ]
    (hit,) = feed(CredentialAttack(), events, policy)
    assert hit.detail["key"] == "source_ip"
    assert hit.detail["accounts"] == 5
    assert hit.actor is None


def test_credential_attack_handles_out_of_order_and_redelivered_failures(policy: ContractPolicy) -> None:
    rule = CredentialAttack()
    events = failures(["10:04", "10:00", "10:02", "10:01"])
    assert feed(rule, [*events, events[0], events[2]], policy) == []
    (hit,) = feed(rule, failures(["10:03"]), policy)
    assert len(hit.event_ids) == 5


def test_credential_attack_ignores_successful_logins(policy: ContractPolicy) -> None:
    events = [make_event(action="login", ts=f"2026-11-24 10:0{k}") for k in range(6)]
    assert feed(CredentialAttack(), events, policy) == []


# -- scope-violation, post-contract-access, log-tampering ----------------------------


def test_scope_violation_fires_on_a_dataset_not_in_the_contract(policy: ContractPolicy) -> None:
    (hit,) = hits(ScopeViolation(), make_event(dataset="tax_2026", fields=("name", "tax")), policy)
    assert hit.detail["reason"] == "dataset-not-in-contract"
    assert hit.detail["fields"] == ["name", "tax"]


def test_scope_violation_lists_only_the_names_of_fields_outside_the_dataset(policy: ContractPolicy) -> None:
    (hit,) = hits(ScopeViolation(), make_event(fields=("name", "my_number", "health")), policy)
    assert hit.detail["reason"] == "fields-outside-dataset"
    assert hit.detail["fields"] == ["health", "my_number"]


def test_scope_violation_accepts_allowed_fields_and_unlisted_fields(policy: ContractPolicy) -> None:
    rule = ScopeViolation()
    assert hits(rule, make_event(fields=("name", "phone")), policy) == []
    assert hits(rule, make_event(fields=None), policy) == []


def test_scope_violation_stays_silent_when_the_profile_names_no_datasets() -> None:
    assert hits(ScopeViolation(), make_event(dataset="anything"), sample_policy(datasets={})) == []


def test_post_contract_access_fires_on_a_data_action_after_the_ends_day(policy: ContractPolicy) -> None:
    rule = PostContractAccess()
    assert hits(rule, make_event(ts="2027-03-31 23:59:59"), policy) == []
    (hit,) = hits(rule, make_event(ts="2027-04-01 00:00"), policy)
    assert hit.detail["contract_ended"] == "2027-03-31"
    assert hits(rule, make_event(action="logout", ts="2027-04-02 10:00"), policy) == []


def test_log_tampering_fires_on_log_config_change_and_on_changes_to_the_audit_log(policy: ContractPolicy) -> None:
    rule = LogTampering()
    assert len(hits(rule, make_event(action="log_config_change"), policy)) == 1
    assert len(hits(rule, make_event(action="delete", dataset="audit_log"), policy)) == 1
    assert len(hits(rule, make_event(action="modify", dataset="audit_log", outcome="failure"), policy)) == 1
    assert hits(rule, make_event(action="read", dataset="audit_log"), policy) == []
    assert hits(rule, make_event(action="delete", dataset="residents"), policy) == []


# -- system-outage -----------------------------------------------------------------


def heartbeat(ts: str, *, system: str = "juki-portal", event_id: str | None = None) -> AccessEvent:
    return make_event(action="heartbeat", ts=ts, system=system, actor="svc", event_id=event_id)


def policies_of(policy: ContractPolicy) -> dict[str, ContractPolicy]:
    return {policy.contract_id: policy}


def test_system_outage_fires_via_advance_without_further_events_and_only_once(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    last = heartbeat("2026-11-24 10:00", event_id="hb-last")
    rule.observe(heartbeat("2026-11-24 09:59"), policy)
    rule.observe(last, policy)
    assert list(rule.advance(at("2026-11-24 10:05").timestamp(), policies_of(policy))) == []
    ((contract_id, hit),) = rule.advance(at("2026-11-24 10:05:01").timestamp(), policies_of(policy))
    assert contract_id == KOGANEI
    assert hit.event_ids == ("hb-last",)
    assert hit.t == last.t + 300
    assert hit.actor is None
    assert hit.system == "juki-portal"
    assert list(rule.advance(at("2026-11-24 11:00").timestamp(), policies_of(policy))) == []


def test_system_outage_counts_any_event_from_the_system_as_a_sign_of_life(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(heartbeat("2026-11-24 10:00"), policy)
    rule.observe(make_event(action="read", ts="2026-11-24 10:04", system="juki-portal"), policy)
    assert list(rule.advance(at("2026-11-24 10:08").timestamp(), policies_of(policy))) == []


def test_system_outage_does_not_watch_a_system_that_never_sent_a_heartbeat(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(make_event(action="read", ts="2026-11-24 10:00", system="batch"), policy)
    assert list(rule.advance(at("2026-11-24 12:00").timestamp(), policies_of(policy))) == []


def test_system_outage_fires_again_after_the_system_came_back_and_stopped_again(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(heartbeat("2026-11-24 10:00"), policy)
    assert len(list(rule.advance(at("2026-11-24 10:06").timestamp(), policies_of(policy)))) == 1
    rule.observe(heartbeat("2026-11-24 10:10", event_id="hb-back"), policy)
    ((_, hit),) = rule.advance(at("2026-11-24 10:16").timestamp(), policies_of(policy))
    assert hit.event_ids == ("hb-back",)


def test_system_outage_is_not_rearmed_by_a_late_event_from_inside_the_gap(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(heartbeat("2026-11-24 10:00"), policy)
    assert len(list(rule.advance(at("2026-11-24 10:06").timestamp(), policies_of(policy)))) == 1
    rule.observe(heartbeat("2026-11-24 10:02"), policy)  # arrives late
    assert list(rule.advance(at("2026-11-24 10:08").timestamp(), policies_of(policy))) == []


def test_system_outage_keeps_the_latest_time_when_events_arrive_out_of_order(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(heartbeat("2026-11-24 10:04", event_id="hb-latest"), policy)
    rule.observe(heartbeat("2026-11-24 10:00"), policy)
    assert list(rule.advance(at("2026-11-24 10:09").timestamp(), policies_of(policy))) == []
    ((_, hit),) = rule.advance(at("2026-11-24 10:09:01").timestamp(), policies_of(policy))
    assert hit.event_ids == ("hb-latest",)


def test_system_outage_stops_watching_once_the_contract_has_ended(policy: ContractPolicy) -> None:
    rule = SystemOutage()
    rule.observe(heartbeat("2027-03-31 23:50"), policy)
    assert list(rule.advance(at("2027-04-01 00:10").timestamp(), policies_of(policy))) == []
    assert rule.watched == 0


# -- expiry and snapshots ----------------------------------------------------------


def test_expire_keeps_windowed_state_bounded(policy: ContractPolicy) -> None:
    bulk, creds = BulkExport(), CredentialAttack()
    start = at("2026-11-24 09:00")
    for k in range(2000):
        when = start + timedelta(seconds=30 * k)
        bulk.observe(make_event(action="export", records=1, ts=when), policy)
        creds.observe(make_event(action="login_failed", outcome="failure", ts=when, actor=f"u{k % 7}"), policy)
        if k % 20 == 0:
            bulk.expire(when.timestamp(), LATENESS)
            creds.expire(when.timestamp(), LATENESS)
    # An hour (plus lateness) of one export every 30 s, not all 2000.
    assert len(bulk.windows) <= (3600 + LATENESS) / 30 + 21
    assert len(creds.accounts) + len(creds.ips) <= 2 * ((600 + LATENESS) / 30 + 21)
    end = (start + timedelta(seconds=30 * 2000 + 3600 + 2 * LATENESS)).timestamp()
    bulk.expire(end, LATENESS)
    creds.expire(end, LATENESS)
    assert len(bulk.windows) == 0
    assert len(creds.accounts) == len(creds.ips) == 0
    assert bulk.windows.entries == {}


def test_events_older_than_the_expiry_horizon_are_not_windowed(policy: ContractPolicy) -> None:
    rule = BulkExport()
    rule.expire(at("2026-11-24 15:00").timestamp(), LATENESS)
    assert feed(rule, exports(["10:00", "10:01"], 300), policy) == []
    assert len(rule.windows) == 0


def test_snapshot_and_restore_resume_a_half_filled_bulk_window(policy: ContractPolicy) -> None:
    before = BulkExport()
    first = exports(["10:00", "10:10"], 200)
    feed(before, first, policy)
    data = json.loads(json.dumps(before.snapshot()))
    after = BulkExport()
    after.restore(data)
    assert after.snapshot() == data
    last = exports(["10:20"], 200)
    (hit,) = feed(after, last, policy)
    assert hit.event_ids == tuple(ev.event_id for ev in [*first, *last])


def test_snapshot_and_restore_resume_credential_windows_and_spent_ids(policy: ContractPolicy) -> None:
    before = CredentialAttack()
    fired = failures(["10:00", "10:01", "10:02", "10:03", "10:04"])
    feed(before, [*fired, *failures(["10:05"])], policy)
    data = json.loads(json.dumps(before.snapshot()))
    after = CredentialAttack()
    after.restore(data)
    assert after.snapshot() == data
    assert feed(after, fired, policy) == []  # redelivered after a restart: already reported
    assert len(feed(after, failures(["10:06", "10:07", "10:08", "10:09"]), policy)) == 1


def test_snapshot_and_restore_resume_an_outage_watch(policy: ContractPolicy) -> None:
    before = SystemOutage()
    before.observe(heartbeat("2026-11-24 10:00", event_id="hb-1"), policy)
    data = json.loads(json.dumps(before.snapshot()))
    after = SystemOutage()
    after.restore(data)
    assert after.snapshot() == data
    ((_, hit),) = after.advance(at("2026-11-24 10:06").timestamp(), policies_of(policy))
    assert hit.event_ids == ("hb-1",)


def test_engine_snapshot_of_every_rule_round_trips_through_json() -> None:
    policy = sample_policy()
    engine = Engine(policies_of(policy))
    for ev in [heartbeat("2026-11-24 10:00"), *exports(["10:01"], 100), *failures(["10:02", "10:03"])]:
        engine.on_access(ev)
    data = json.loads(json.dumps(engine.snapshot()))
    restored = Engine(policies_of(policy))
    restored.restore(data)
    assert restored.snapshot() == data
    assert set(data["rules"]) == set(RULE_IDS)
