"""Playbook runs: the state machine an incident goes through, per jurisdiction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from kinkyu.core.incident import Incident, TimelineEntry, filed_incident
from kinkyu.core.model import JST, IncidentEvent, Person, Severity
from kinkyu.core.playbook import (
    Containment,
    Effect,
    Escalate,
    Notify,
    Playbook,
    PlaybookRun,
    PlaybookRunError,
    ResponsePolicy,
    SealEvidence,
    TimelineAppended,
    actions,
    apply,
    command_id,
    entries,
    next_due,
    on_record,
    playbooks_from_texts,
    record_seal,
    start,
    tick,
)
from kinkyu.core.playbook.follow_ups import reports_awaiting_receipt

REPO = Path(__file__).resolve().parents[2]
JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)
ENDS = date(2027, 3, 31)
INC = "INC-20261120-0001"
PLANTED = "山田太郎"
FIRST_REPORT_WITHIN = {
    "okayama": timedelta(hours=1),
    "chiba": timedelta(hours=24),
    "yachiyo": timedelta(hours=24),
    "koganei": timedelta(hours=1),
    "toyota": timedelta(hours=1),
    "shinagawa": timedelta(hours=1),
}

E = TypeVar("E")


@cache
def _all_playbooks() -> dict[str, Playbook]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "playbooks").glob("*.yaml")}
    return playbooks_from_texts(texts)


def pb(jurisdiction: str) -> Playbook:
    return _all_playbooks()[jurisdiction]


def detection(
    jurisdiction: str,
    rules: Sequence[str],
    *,
    incident_id: str = INC,
    actor: str | None = "u1042",
    system: str | None = "juki-portal",
    records: int = 0,
    data_items: Sequence[str] = (),
    events: Sequence[str] = ("ev-1",),
    ts: datetime = T0,
    change: str = "opened",
) -> dict[str, Any]:
    incident = Incident(
        incident_id=incident_id,
        contract_id=f"{jurisdiction}-2026-001",
        jurisdiction=jurisdiction,
        origin="detection",
        kind="detection",
        first_event_ts=ts,
        last_event_ts=ts,
        actor=actor,
        system=system,
        severity=Severity.HIGH,
        rules=list(rules),
        finding_ids=[f"F-{r}" for r in rules],
        event_ids=list(events),
        event_count=len(events),
        records=records,
        data_items=list(data_items),
    )
    for rule in rules:
        incident.timeline.append(TimelineEntry(ts, "kinkyu", f"finding {rule}", "finding", {"finding_id": f"F-{rule}"}))
    body = incident.to_json()
    body["change"] = change
    return body


def filed(
    jurisdiction: str,
    kind: str,
    *,
    records: int | None = 3,
    data_items: Sequence[str] = ("name", "address"),
    location: str | None = "Acme print centre",
    summary: str | None = "Notice mailed to the wrong address",
    discovered: datetime = T0,
    details: str | None = None,
) -> dict[str, Any]:
    event = IncidentEvent(
        event_id="filed-1",
        ts=discovered,
        contract_id=f"{jurisdiction}-2026-001",
        kind=kind,
        incident_id=None,
        reported_by=Person("sec-07", "acme", "security"),
        summary=summary,
        occurred_at=discovered - timedelta(hours=2),
        discovered_at=discovered,
        location=location,
        records_affected=records,
        data_items=tuple(data_items),
        details=details,
    )
    body = filed_incident(INC, jurisdiction, event).to_json()
    body["change"] = "opened"
    return body


def event(
    kind: str, data: dict[str, Any], *, ts: datetime, who: str = "sec-07", event_id: str | None = None
) -> dict[str, Any]:
    payload = dict(data)
    digest = hashlib.sha256(repr((kind, ts.isoformat(), sorted(data.items()))).encode()).hexdigest()[:16]
    payload["event_id"] = event_id or f"{kind}-{digest}"
    entry = TimelineEntry(ts, who, kind, kind, payload)
    return {"change": "event", "incident_id": INC, "entry": entry.to_json()}


def of(effects: Sequence[Effect], cls: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, cls)]


def notices(effects: Sequence[Effect], kind: str | None = None) -> list[Notify]:
    return [n for n in of(effects, Notify) if kind is None or n.kind == kind]


def kinds(effects: Sequence[Effect]) -> list[str]:
    return [e.kind for e in entries(list(effects))]


def begin(
    record: dict[str, Any], *, policy: ResponsePolicy | None = None, ends: date = ENDS, now: datetime = T0
) -> tuple[PlaybookRun, list[Effect]]:
    return start(record, pb(record["jurisdiction"]), policy or ResponsePolicy(), ends, now)


def record_measures(run: PlaybookRun, ts: datetime) -> None:
    """Record what was done for each containment and evidence step still open, as people would."""
    for st in run.steps:
        if st.kind in {"containment", "evidence"} and st.status == "active":
            apply(run, event("update", {"step": st.step_id, "done": True, "measure": "by-hand"}, ts=ts), ts)


def finish_steps(run: PlaybookRun, ts: datetime) -> None:
    """Mark recovery and recurrence prevention done and record the measures, as people would."""
    for step_id in ("recovery", "recurrence_prevention"):
        if run.step(step_id) is not None:
            apply(run, event("update", {"step": step_id, "done": True}, ts=ts), ts)
    record_measures(run, ts)


# -- per jurisdiction: the detection path ------------------------------------------


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_detection_reported_at_once_runs_the_playbook(jurisdiction: str) -> None:
    run, effects = begin(detection(jurisdiction, ["pii-email"], records=4, data_items=["name"]))
    assert run.state == "responding"
    assert run.triage == "not_needed"
    # Evidence at open, the contract's window on either side.
    (seal,) = of(effects, SealEvidence)
    assert seal.since == T0 - timedelta(hours=1)
    assert seal.until == T0 + timedelta(hours=1)
    assert seal.event_ids == ("ev-1",)
    assert seal.actor == "u1042"
    # Containment proposals for the account, none auto-executed by default.
    commands = [c.command for c in of(effects, Containment)]
    assert {(c.action, c.target_type, c.target) for c in commands} == {
        ("end_sessions", "account", "u1042"),
        ("disable_account", "account", "u1042"),
    }
    assert not any(c.auto for c in commands)
    assert all(c.command_id == command_id(INC, c.action, c.target_type, c.target) for c in commands)
    # The first report, due by the clause's word.
    (first,) = notices(effects, "first_report")
    assert first.audience == "city"
    assert first.due == T0 + FIRST_REPORT_WITHIN[jurisdiction]
    assert first.urgency == pb(jurisdiction).step("first_report").urgency
    assert first.possible
    # Every effect is on the timeline, after its entry.
    assert {"playbook_started", "seal_requested", "containment_proposed", "report_issued"} <= set(kinds(effects))
    assert [e.entry for e in of(effects, TimelineAppended)] == run.timeline
    # Deadline passes: one deadline_missed entry and one escalation, however often it ticks.
    late = first.due + timedelta(seconds=1)
    missed = tick(run, late)
    escalations = [e for e in of(missed, Escalate) if e.reason == "deadline_missed" and e.step_id == "first_report"]
    assert len(escalations) == 1
    assert "deadline_missed" in kinds(missed)
    logged = [e for e in entries(missed) if e.kind == "escalated" and e.data["effect_id"] == escalations[0].effect_id]
    assert len(logged) == 1
    again = tick(run, late + timedelta(hours=5))
    assert not [e for e in of(again, Escalate) if e.step_id == "first_report"]


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_acknowledged_first_report_is_done_and_not_chased(jurisdiction: str) -> None:
    run, _ = begin(detection(jurisdiction, ["bulk-export"], records=900))
    ack = apply(
        run, event("acknowledgement", {"step": "first_report"}, ts=T0 + timedelta(minutes=10), who="city-1"), T0
    )
    step = run.step("first_report")
    assert step is not None
    if pb(jurisdiction).step("first_report").written:
        # 書面 (小金井市 第19条, 豊田市 第13条): the e-mail's acknowledgement is not the report's receipt.
        assert step.status == "sent"
        assert "report_acknowledged" in kinds(ack)
        at = T0 + timedelta(minutes=20)
        ack = apply(run, event("acknowledgement", {"step": "first_report", "receipt": "console"}, ts=at), at)
    assert step.status == "done"
    assert "step_done" in kinds(ack)
    later = tick(run, T0 + timedelta(days=2))
    # (A Koganei report item still missing is chased as a task, not as the report.)
    assert [e for e in of(later, Escalate) if e.step_id == "first_report" and e.task_id is None] == []


def test_unacknowledged_first_report_escalates_after_the_ack_timeout() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    assert of(tick(run, T0 + timedelta(minutes=29)), Escalate) == []
    (esc,) = of(tick(run, T0 + timedelta(minutes=30)), Escalate)
    assert esc.reason == "no_acknowledgement"
    assert esc.level == 1
    (esc2,) = of(tick(run, T0 + timedelta(minutes=61)), Escalate)
    assert esc2.reason == "deadline_missed"
    assert esc2.level == 2


# -- triage policy -------------------------------------------------------------------


def test_rule_that_waits_for_triage_has_its_own_deadline() -> None:
    run, effects = begin(detection("koganei", ["off-hours"]))
    assert run.state == "triage"
    assert notices(effects, "first_report") == []
    (due,) = notices(effects, "triage_due")
    assert due.audience == "contractor"
    assert due.due == T0 + timedelta(hours=1)
    # Containment and evidence do not wait for triage.
    assert of(effects, SealEvidence)
    assert of(effects, Containment)
    missed = tick(run, T0 + timedelta(hours=1))
    (esc,) = of(missed, Escalate)
    assert (esc.reason, esc.step_id) == ("deadline_missed", "triage")
    assert run.state == "triage"  # escalated, not reported: report_when_triage_missed is off by default
    confirmed_at = T0 + timedelta(hours=2)
    effects = apply(run, event("update", {"triage": "confirm", "reason": "unexplained"}, ts=confirmed_at), confirmed_at)
    assert str(run.state) == "responding"
    (first,) = notices(effects, "first_report")
    assert first.due == confirmed_at + timedelta(hours=1)  # the clock starts at confirmation


def test_a_clause_that_names_the_risk_reports_every_detection_at_once() -> None:
    # 岡山市 第15条 "違反する事態が生じ、又はおそれがある場合は、直ちに甲へ報告": the playbook's risk flag.
    run, effects = begin(detection("okayama", ["off-hours"]))
    assert run.state == "responding"
    (first,) = notices(effects, "first_report")
    assert first.possible
    assert first.nature == "breach"


def test_a_clause_that_names_only_the_event_waits_for_triage_of_a_possible_one() -> None:
    # 小金井市 第19条 names 漏えい等の事故 that happened: off-hours access may be one, a person decides.
    run, effects = begin(detection("koganei", ["off-hours"]))
    assert run.state == "triage"
    assert notices(effects, "first_report") == []


def test_dismissed_triage_closes_without_telling_the_city() -> None:
    run, _ = begin(detection("shinagawa", ["outside-site"]))
    effects = apply(run, event("update", {"triage": "dismiss", "reason": "vpn"}, ts=T0), T0 + timedelta(minutes=5))
    assert run.state == "closed"
    assert run.outcome == "dismissed"
    assert notices(effects, "dismissal_report") == []
    assert notices(effects, "closure_report") == []
    step = run.step("first_report")
    assert step is not None
    assert step.status == "skipped"


def test_report_at_once_is_a_per_rule_policy() -> None:
    policy = ResponsePolicy(report_at_once=["off-hours"])
    run, effects = begin(detection("koganei", ["off-hours"]), policy=policy)
    assert run.state == "responding"
    assert notices(effects, "first_report")
    run2, effects2 = begin(detection("koganei", ["pii-email"]), policy=ResponsePolicy(report_at_once=[]))
    assert run2.state == "triage"
    assert notices(effects2, "first_report") == []


def test_report_when_triage_missed_reports_as_a_possible_breach() -> None:
    run, _ = begin(detection("koganei", ["scope-violation"]), policy=ResponsePolicy(report_when_triage_missed=True))
    effects = tick(run, T0 + timedelta(hours=1, minutes=5))
    assert run.state == "responding"
    (first,) = notices(effects, "first_report")
    assert first.possible
    assert first.due == T0 + timedelta(hours=2)  # from the triage deadline, not from the tick


def test_a_severe_finding_joining_a_triaged_incident_reports_at_once() -> None:
    run, _ = begin(detection("koganei", ["off-hours"]))
    later = T0 + timedelta(minutes=20)
    updated = detection("koganei", ["off-hours", "bulk-export"], events=("ev-1", "ev-2"), change="updated", ts=T0)
    updated["last_event_ts"] = later.isoformat()
    effects = apply(run, updated, later)
    assert run.state == "responding"
    (first,) = notices(effects, "first_report")
    assert first.due == later + timedelta(hours=1)
    (seal,) = of(effects, SealEvidence)
    assert seal.event_ids == ("ev-2",)
    triage = run.step("triage")
    assert triage is not None
    assert triage.status == "skipped"


def test_a_filed_incident_is_reported_at_once_not_as_a_possibility() -> None:
    run, effects = begin(filed("okayama", "leak"))
    assert run.state == "responding"
    (first,) = notices(effects, "first_report")
    assert not first.possible


# -- Okayama: おそれ ---------------------------------------------------------------------


def test_okayama_reports_the_risk_of_a_breach() -> None:
    run, effects = begin(detection("okayama", ["credential-attack"], actor="u1042"))
    step = pb("okayama").step("first_report")
    assert step.risk
    assert "おそれ" in pb("okayama").step("triage").clause.quote
    (first,) = notices(effects, "first_report")
    assert first.possible
    assert first.article == "第15条"
    report = next(e for e in entries(effects) if e.kind == "report_issued")
    assert "おそれ" in report.what
    assert report.data["possible"] is True
    assert run.possible


# -- Koganei: written report, items, complaints ---------------------------------------------


def test_koganei_written_report_names_its_four_items_and_tracks_missing_ones() -> None:
    run, effects = begin(filed("koganei", "misdelivery", location=None, records=3))
    (first,) = notices(effects, "first_report")
    assert first.written
    assert first.rule8
    assert first.items == ("content", "count", "place", "circumstances")
    assert first.missing_items == ("place",)
    assert first.due == T0 + timedelta(hours=1)
    assert [t.task_id for t in run.open_tasks() if t.source == "report_item"] == ["first_report:place"]
    record_measures(run, T0 + timedelta(hours=2))
    # It cannot close while the item is missing (nor recovery, recurrence prevention).
    refused = apply(run, event("resolution", {}, ts=T0 + timedelta(hours=2)), T0 + timedelta(hours=2))
    refusal = next(e for e in entries(refused) if e.kind == "closure_refused")
    assert "first_report:place" in refusal.data["open_tasks"]
    assert run.state == "responding"
    # Supplied later (追完): the task is done and the city gets a supplementary report.
    at = T0 + timedelta(hours=3)
    effects = apply(run, event("update", {"supplied": ["place"]}, ts=at), at)
    task = run.task("first_report:place")
    assert task is not None
    assert task.status == "done"
    (supplement,) = notices(effects, "supplementary_report")
    assert supplement.missing_items == ()


def test_koganei_detection_lacks_content_until_the_incident_says_it() -> None:
    run, effects = begin(detection("koganei", ["unencrypted-media"], records=0, data_items=()))
    (first,) = notices(effects, "first_report")
    assert first.missing_items == ("content", "count")
    updated = detection(
        "koganei", ["unencrypted-media"], records=12, data_items=["name", "birthdate"], change="updated"
    )
    effects = apply(run, updated, T0 + timedelta(minutes=10))
    assert {t.task_id: t.status for t in run.tasks if t.source == "report_item"} == {
        "first_report:content": "done",
        "first_report:count": "done",
    }
    assert notices(effects, "supplementary_report")


def test_koganei_complaint_is_reported_at_once_then_its_progress() -> None:
    policy = ResponsePolicy()
    run, effects = begin(filed("koganei", "complaint", records=None, data_items=()), policy=policy)
    (report,) = notices(effects, "complaint_report")
    assert report.due == T0 + timedelta(hours=1)
    assert report.audience == "city"
    assert run.state == "triage"  # is it also a 第19条 accident? a person decides
    assert notices(effects, "first_report") == []
    # Not an accident: the accident steps are skipped, complaint handling goes on.
    apply(run, event("update", {"triage": "dismiss"}, ts=T0 + timedelta(minutes=30)), T0 + timedelta(minutes=30))
    assert str(run.state) == "responding"
    week = policy.progress_interval
    assert notices(tick(run, T0 + week - timedelta(seconds=1)), "progress_report") == []
    (p1,) = notices(tick(run, T0 + week), "progress_report")
    assert p1.due == T0 + week
    assert notices(tick(run, T0 + week + timedelta(hours=1)), "progress_report") == []
    # A stage that slept three intervals sends one report, not three.
    assert len(notices(tick(run, T0 + 4 * week + timedelta(hours=1)), "progress_report")) == 1
    closed = apply(run, event("resolution", {}, ts=T0 + 5 * week), T0 + 5 * week)
    assert str(run.state) == "closed"
    assert notices(closed, "closure_report")
    assert notices(tick(run, T0 + 10 * week), "progress_report") == []


def test_koganei_complaint_confirmed_as_an_accident_runs_article_19() -> None:
    run, _ = begin(filed("koganei", "complaint", location=None))
    effects = apply(run, event("update", {"triage": "confirm"}, ts=T0), T0 + timedelta(minutes=5))
    (first,) = notices(effects, "first_report")
    assert first.written
    assert first.missing_items == ("place",)


def test_complaints_elsewhere_wait_for_triage_without_a_complaint_step() -> None:
    run, effects = begin(filed("okayama", "complaint"))
    assert run.state == "triage"
    assert notices(effects, "complaint_report") == []
    apply(run, event("update", {"triage": "dismiss"}, ts=T0), T0)
    assert str(run.state) == "closed"


# -- Toyota: system outage ------------------------------------------------------------------


def test_toyota_system_outage_detection() -> None:
    run, effects = begin(detection("toyota", ["system-outage"], actor=None, system="juki-portal"))
    assert run.state == "responding"
    (cmd,) = [c.command for c in of(effects, Containment)]
    assert (cmd.action, cmd.target_type, cmd.target, cmd.step_id) == (
        "failover",
        "system",
        "juki-portal",
        "outage_containment",
    )
    (first,) = notices(effects, "first_report")
    assert first.written
    assert first.items == ("circumstances",)
    assert first.missing_items == ()
    assert first.article == "第13条②"
    assert run.step("recovery") is not None
    assert run.task("recovery") is not None
    # The failover comes back done: the outage step is done.
    at = T0 + timedelta(minutes=15)
    apply(run, event("containment_result", {"command_id": cmd.command_id, "result": "done"}, ts=at), at)
    outage = run.step("outage_containment")
    assert outage is not None
    assert outage.status == "done"


def test_toyota_filed_outage_is_reported_at_once() -> None:
    run, effects = begin(filed("toyota", "system_outage", records=None, data_items=(), summary="portal down"))
    assert run.state == "responding"
    assert notices(effects, "first_report")
    outage = run.step("outage_containment")
    assert outage is not None
    assert outage.note is not None  # no system on a filing: contained by hand


def test_toyota_report_request_is_due_immediately() -> None:
    run, _ = begin(filed("toyota", "leak"))
    at = T0 + timedelta(hours=1)
    effects = apply(
        run, event("city_instruction", {"report_request": True, "task_id": "req-1"}, ts=at, who="city-1"), at
    )
    task = run.task("req-1")
    assert task is not None
    assert task.due == at + timedelta(hours=1)
    assert task.source == "report_request"
    (assigned,) = notices(effects, "task_assigned")
    assert assigned.audience == "contractor"
    assert assigned.task_id == "req-1"


# -- Chiba: a revoked credential's erasure, a containment step of its own --------------------


def test_chiba_revoked_credential_is_erased_by_its_own_step_without_a_deadline_of_its_own() -> None:
    # The basis is 特記事項 第3 (適正な管理): it sets no time word. The online-connection standard's
    # b(c) 直ちに binds the 相手方 of the connection, not the contractor (playbooks/chiba.yaml).
    run, effects = begin(detection("chiba", ["revoked-credential"], actor="u1043"))
    commands = [c.command for c in of(effects, Containment)]
    assert {c.step_id for c in commands} == {"containment_revoked"}
    step = run.step("containment_revoked")
    assert step is not None
    assert step.due is None
    general = run.step("containment")
    assert general is not None
    assert general.status == "skipped"  # nothing left for the general step: the commands are the other step's


# -- Shinagawa: two reports, two words --------------------------------------------------------


def test_shinagawa_notifies_at_once_and_reports_in_writing_without_delay() -> None:
    run, effects = begin(filed("shinagawa", "loss"))
    first, written = notices(effects, "first_report"), notices(effects, "written_report")
    assert [n.due for n in first] == [T0 + timedelta(hours=1)]
    assert [(n.due, n.written, n.items) for n in written] == [(T0 + timedelta(days=3), True, ("circumstances",))]
    # Acknowledging one report leaves the other open.
    apply(run, event("acknowledgement", {"step": "first_report"}, ts=T0), T0)
    w = run.step("written_report")
    assert w is not None
    assert w.status == "sent"


# -- contract ended ----------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_incident_on_an_ended_contract_still_runs(jurisdiction: str) -> None:
    run, effects = begin(detection(jurisdiction, ["post-contract-access"]), ends=date(2026, 3, 31))
    assert run.contract_ended
    (note,) = [e for e in entries(effects) if e.kind == "contract_ended"]
    clause = pb(jurisdiction).after_contract_end
    assert note.data["article"] == (clause.article if clause else None)
    (first,) = notices(effects, "first_report")
    assert first.contract_ended
    assert run.state == "responding"


def test_contract_ends_at_the_end_of_its_last_day_japan_time() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]), ends=T0.date())
    assert not run.contract_ended
    run2, _ = begin(detection("okayama", ["pii-email"]), ends=T0.date() - timedelta(days=1))
    assert run2.contract_ended


# -- city instructions, tasks and closure ---------------------------------------------------------


def test_city_instruction_blocks_closure_until_done() -> None:
    run, _ = begin(filed("chiba", "leak"))
    at = T0 + timedelta(hours=2)
    due = T0 + timedelta(days=2)
    apply(
        run,
        event(
            "city_instruction", {"task_id": "i-1", "owner": "作業責任者", "due": due.isoformat()}, ts=at, who="city-1"
        ),
        at,
    )
    task = run.task("i-1")
    assert task is not None
    assert (task.owner, task.due, task.source, task.status) == ("作業責任者", due, "city_instruction", "open")
    finish_steps(run, at)
    refused = apply(run, event("resolution", {}, ts=at), at)
    assert [e.data["open_tasks"] for e in entries(refused) if e.kind == "closure_refused"] == [["i-1"]]
    assert run.state == "responding"
    done_at = at + timedelta(hours=1)
    apply(run, event("containment_result", {"task_id": "i-1", "done": True}, ts=done_at), done_at)
    assert task.status == "done"
    assert task.done_by == "sec-07"
    closed = apply(run, event("resolution", {}, ts=done_at), done_at)
    assert str(run.state) == "closed"
    assert run.outcome == "resolved"
    assert notices(closed, "closure_report")
    closure = run.step("closure")
    assert closure is not None
    assert closure.status == "done"


def test_overdue_instruction_escalates_once() -> None:
    run, _ = begin(filed("okayama", "loss"))
    apply(run, event("city_instruction", {}, ts=T0, event_id="ci-1"), T0)
    task = run.task("instruction:ci-1")
    assert task is not None
    assert task.due == T0 + timedelta(hours=24)
    late = tick(run, T0 + timedelta(hours=25))
    assert [e.task_id for e in of(late, Escalate) if e.task_id] == ["instruction:ci-1"]
    assert [e.task_id for e in of(tick(run, T0 + timedelta(hours=26)), Escalate) if e.task_id] == []


def test_instruction_on_a_closed_incident_reopens_it() -> None:
    run, _ = begin(detection("koganei", ["off-hours"]))
    apply(run, event("update", {"triage": "dismiss"}, ts=T0), T0)
    assert run.closed
    apply(run, event("city_instruction", {"within": "2d"}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    assert run.state == "responding"
    assert [t.due for t in run.open_tasks()] == [T0 + timedelta(hours=1, days=2)]


def test_resolution_during_triage_is_refused() -> None:
    run, _ = begin(detection("koganei", ["off-hours"]))
    effects = apply(run, event("resolution", {}, ts=T0), T0)
    assert run.state == "triage"
    assert "closure_refused" in kinds(effects)


def test_publication_is_recorded_when_the_city_publishes() -> None:
    run, _ = begin(filed("koganei", "leak"))
    step = run.step("publication")
    assert step is not None
    assert step.status == "available"
    apply(run, event("update", {"step": "publication", "done": True}, ts=T0), T0)
    assert str(step.status) == "done"


# -- containment ----------------------------------------------------------------------------------


def test_auto_containment_only_where_the_profile_permits() -> None:
    policy = ResponsePolicy(auto_contain=["credential-attack"])
    record = detection("okayama", ["credential-attack", "off-hours"])
    record["source_ips"] = ["203.0.113.7"]
    _run, effects = begin(record, policy=policy)
    commands = {(c.command.action, c.command.target): c.command.auto for c in of(effects, Containment)}
    assert commands == {
        ("disable_account", "u1042"): True,
        ("block_ip", "203.0.113.7"): True,
        ("end_sessions", "u1042"): False,  # proposed by off-hours only
    }


def test_block_ip_needs_an_address_on_the_incident() -> None:
    _run, effects = begin(detection("okayama", ["credential-attack"]))
    assert {c.command.action for c in of(effects, Containment)} == {"disable_account"}
    untargeted = [e for e in entries(effects) if e.kind == "containment_untargeted"]
    assert untargeted
    assert untargeted[0].data["actions"] == ["block_ip (credential-attack)"]


def test_failed_containment_escalates_and_a_later_success_finishes_the_step() -> None:
    run, effects = begin(detection("okayama", ["off-hours"]))
    (cmd,) = [c.command for c in of(effects, Containment)]
    failed = apply(run, event("containment_result", {"command_id": cmd.command_id, "result": "failed"}, ts=T0), T0)
    assert [e.reason for e in of(failed, Escalate)] == ["containment_failed"]
    step = run.step("containment")
    assert step is not None
    assert step.status == "active"
    at = T0 + timedelta(minutes=5)
    apply(run, event("containment_result", {"command_id": cmd.command_id, "result": "done"}, ts=at), at)
    assert str(step.status) == "done"


# -- policy overrides -------------------------------------------------------------------------------


def test_durations_are_overridden_per_contract() -> None:
    policy = ResponsePolicy.model_validate(
        {"urgency": {"直ちに": "15m", "遅滞なく": "12h"}, "evidence_window": "2h", "triage_within": "30m"}
    )
    _run, effects = begin(filed("shinagawa", "leak"), policy=policy)
    assert [n.due for n in notices(effects, "first_report")] == [T0 + timedelta(minutes=15)]
    assert [n.due for n in notices(effects, "written_report")] == [T0 + timedelta(hours=12)]
    (seal,) = of(effects, SealEvidence)
    assert seal.window_before == timedelta(hours=2)
    _run2, effects2 = begin(detection("shinagawa", ["off-hours"]), policy=policy)
    assert [n.due for n in notices(effects2, "triage_due")] == [T0 + timedelta(minutes=30)]


def test_a_filing_counts_from_discovery() -> None:
    discovered = T0 - timedelta(hours=3)
    run, effects = begin(filed("koganei", "loss", discovered=discovered), now=T0)
    assert run.learned_at == discovered
    (first,) = notices(effects, "first_report")
    assert first.due == discovered + timedelta(hours=1)
    # Already late when it was filed: escalated at once.
    assert [e.step_id for e in of(effects, Escalate) if e.reason == "deadline_missed"][:1] == ["first_report"]


# -- redelivery and restart -------------------------------------------------------------------------


def test_redelivered_records_change_nothing() -> None:
    record = detection("koganei", ["bulk-export"], records=600, data_items=["name"])
    run, _ = begin(record)
    snapshot = run.to_json()
    assert apply(run, record, T0) == []
    assert run.to_json() == snapshot
    instruction = event("city_instruction", {"task_id": "i-1"}, ts=T0, event_id="ev-ci")
    first = apply(run, instruction, T0)
    assert first
    snapshot = run.to_json()
    assert apply(run, instruction, T0) == []
    assert run.to_json() == snapshot
    # The same follow-up inside an updated incident record (the detection stage sends both).
    updated = detection("koganei", ["bulk-export"], records=600, data_items=["name"], change="updated")
    updated["timeline"].append(instruction["entry"])
    assert apply(run, updated, T0) == []
    assert run.to_json() == snapshot


def test_follow_ups_in_the_opening_record_are_applied_once() -> None:
    record = filed("okayama", "leak")
    ack = TimelineEntry(T0 + timedelta(minutes=5), "city-1", "acknowledgement", "acknowledgement", {"event_id": "a-1"})
    record["timeline"].append(ack.to_json())
    run, _ = begin(record, now=T0 + timedelta(minutes=6))
    step = run.step("first_report")
    assert step is not None
    assert step.status == "done"
    assert apply(run, {"change": "event", "incident_id": INC, "entry": ack.to_json()}, T0 + timedelta(minutes=7)) == []


def _script() -> list[tuple[str, dict[str, Any] | None, datetime]]:
    return [
        ("tick", None, T0 + timedelta(minutes=31)),
        (
            "apply",
            event("city_instruction", {"task_id": "i-1", "within": "3h"}, ts=T0 + timedelta(minutes=40)),
            T0 + timedelta(minutes=40),
        ),
        ("tick", None, T0 + timedelta(hours=2)),
        ("apply", event("update", {"supplied": ["place"]}, ts=T0 + timedelta(hours=3)), T0 + timedelta(hours=3)),
        ("tick", None, T0 + timedelta(hours=5)),
        (
            "apply",
            event("update", {"task_id": "i-1", "done": True}, ts=T0 + timedelta(hours=6)),
            T0 + timedelta(hours=6),
        ),
        (
            "apply",
            event("update", {"step": "recovery", "done": True}, ts=T0 + timedelta(hours=6)),
            T0 + timedelta(hours=6),
        ),
        (
            "apply",
            event("update", {"step": "recurrence_prevention", "done": True}, ts=T0 + timedelta(days=1)),
            T0 + timedelta(days=1),
        ),
        *(
            (
                "apply",
                event("update", {"step": step, "done": True, "measure": "by-hand"}, ts=T0 + timedelta(days=1)),
                T0 + timedelta(days=1),
            )
            for step in ("evidence", "containment")
        ),
        ("apply", event("resolution", {}, ts=T0 + timedelta(days=1)), T0 + timedelta(days=1)),
    ]


def _play(run: PlaybookRun, script: list[tuple[str, dict[str, Any] | None, datetime]]) -> list[Effect]:
    out: list[Effect] = []
    for op, record, now in script:
        out.extend(tick(run, now) if op == "tick" or record is None else apply(run, record, now))
    return out


def test_restart_from_json_mid_playbook_gives_identical_effects() -> None:
    original, _ = begin(filed("koganei", "misdelivery", location=None))
    script = _script()
    _play(original, script[:2])
    # What a stage would store and read back (through bytes, as on a changelog topic).
    stored = orjson.loads(orjson.dumps(original.to_json()))
    restored = PlaybookRun.from_json(stored)
    assert restored.to_json() == original.to_json()
    rest_original = _play(original, script[2:])
    rest_restored = _play(restored, script[2:])
    assert rest_original == rest_restored
    assert [e.to_json() for e in rest_original] == [e.to_json() for e in rest_restored]
    assert original.to_json() == restored.to_json()
    assert original.state == "closed"


def test_runs_are_deterministic() -> None:
    a, ea = begin(detection("toyota", ["log-tampering"], events=("e1", "e2")))
    b, eb = begin(detection("toyota", ["log-tampering"], events=("e1", "e2")))
    assert ea == eb
    assert _play(a, _script()) == _play(b, _script())


# -- timeline, privacy, API glue ----------------------------------------------------------------------


def test_timeline_is_append_only() -> None:
    run, _ = begin(filed("koganei", "misdelivery", location=None))
    before = [e.to_json() for e in run.timeline]
    _play(run, _script())
    after = [e.to_json() for e in run.timeline]
    assert after[: len(before)] == before
    assert len(after) > len(before)
    for entry in run.timeline:
        assert entry.who
        assert entry.what
        assert entry.kind


def test_no_personal_data_in_effects_or_timeline() -> None:
    record = filed(
        "koganei",
        "misdelivery",
        summary=f"{PLANTED}様宛の通知を誤送付",
        location=f"{PLANTED}方",
        details=f"{PLANTED} 090-1234-5678",
    )
    record["details"] = f"{PLANTED} 090-1234-5678"
    run, effects = begin(record)
    at = T0 + timedelta(hours=1)
    effects += apply(
        run,
        event("update", {"triage": "confirm", "reason": f"{PLANTED}さんの誤り", "note": PLANTED}, ts=at),
        at,
    )
    effects += apply(run, event("city_instruction", {"title": "連絡先 090-1234-5678 へ電話"}, ts=at), at)
    dumped = json.dumps([e.to_json() for e in effects], ensure_ascii=False) + json.dumps(
        run.to_json(), ensure_ascii=False
    )
    assert PLANTED not in dumped
    assert "090-1234-5678" not in dumped


def test_effects_serialise_to_json() -> None:
    run, effects = begin(detection("koganei", ["pii-email"], records=2, data_items=["name"]))
    effects += tick(run, T0 + timedelta(hours=2))
    for effect in effects:
        data = effect.to_json()
        assert data["effect_id"]
        assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert {e.to_json()["effect"] for e in actions(effects)} == {"notify", "seal_evidence", "containment", "escalate"}


def test_on_record_routes_start_apply_and_orphan_events() -> None:
    playbook, policy = pb("okayama"), ResponsePolicy()
    orphan = event("acknowledgement", {}, ts=T0)
    assert on_record(None, orphan, playbook=playbook, policy=policy, contract_ends=ENDS, now=T0) == (None, [])
    run, effects = on_record(
        None, detection("okayama", ["pii-email"]), playbook=playbook, policy=policy, contract_ends=ENDS, now=T0
    )
    assert run is not None
    assert effects
    same, more = on_record(run, orphan, playbook=playbook, policy=policy, contract_ends=ENDS, now=T0)
    assert same is run
    assert "acknowledgement" in kinds(more)


def test_next_due_is_the_earliest_pending_moment() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    assert next_due(run) == T0 + timedelta(minutes=30)  # the acknowledgement timeout
    tick(run, T0 + timedelta(minutes=30))
    assert next_due(run) == T0 + timedelta(hours=1)
    apply(run, event("acknowledgement", {}, ts=T0 + timedelta(minutes=40)), T0 + timedelta(minutes=40))
    assert next_due(run) == T0 + timedelta(days=21)  # recurrence prevention


def test_records_for_another_incident_or_jurisdiction_are_refused() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    other = detection("okayama", ["pii-email"], incident_id="INC-20261120-0002")
    with pytest.raises(PlaybookRunError, match="applied to"):
        apply(run, other, T0)
    with pytest.raises(PlaybookRunError, match="playbook"):
        start(detection("chiba", ["pii-email"]), pb("okayama"), ResponsePolicy(), ENDS, T0)
    with pytest.raises(PlaybookRunError, match="unknown change"):
        apply(run, {"change": "deleted", "incident_id": INC}, T0)
    with pytest.raises(PlaybookRunError, match="aware"):
        tick(run, datetime(2026, 11, 20, 10, 0))  # noqa: DTZ001


# -- issue #15: the event's nature, measures on record, the written report's receipt --------


def test_a_toyota_outage_is_a_system_outage_and_no_ppc_matter() -> None:
    run, effects = begin(detection("toyota", ["system-outage"], actor=None))
    (first,) = notices(effects, "first_report")
    assert (run.nature, first.nature) == ("outage", "outage")
    assert run.ppc.assessment is None
    assert "ppc_not_applicable" in kinds(effects)


def test_a_leak_under_koganei_and_an_accident_under_shinagawa_are_named_as_their_clauses_do() -> None:
    assert begin(filed("koganei", "misdelivery"))[0].nature == "leak"
    assert begin(filed("shinagawa", "misdelivery"))[0].nature == "accident"
    assert begin(filed("koganei", "complaint"))[0].nature == "complaint"


def test_evidence_is_done_when_sealed_not_when_asked_for() -> None:
    run, _ = begin(filed("okayama", "leak"))
    step = run.step("evidence")
    assert step is not None
    assert step.status == "active"
    assert record_seal(run, T0 + timedelta(minutes=2)) == ["evidence"]
    assert (str(step.status), step.measure) == ("done", "sealed")


def test_a_containment_step_with_nothing_to_propose_needs_a_persons_measure_or_reason() -> None:
    run, effects = begin(filed("okayama", "misdelivery"))
    step = run.step("containment")
    assert step is not None
    assert step.status == "active"
    assert "measure_needed" in kinds(effects)
    bare = apply(run, event("update", {"step": "containment", "done": True}, ts=T0), T0)
    assert "step_done_refused" in kinds(bare)
    assert step.status == "active"
    at = T0 + timedelta(minutes=5)
    apply(run, event("update", {"step": "containment", "done": True, "reason": "letter-recovered"}, ts=at), at)
    assert (str(step.status), step.measure) == ("done", "none:letter-recovered")


def test_closure_is_refused_while_a_measure_is_missing() -> None:
    run, _ = begin(filed("okayama", "misdelivery"))
    finish_steps(run, T0)
    run.step("evidence").status = "active"  # type: ignore[union-attr]  # the seal never came back
    refused = apply(run, event("resolution", {}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    (entry,) = [e for e in entries(refused) if e.kind == "closure_refused"]
    assert entry.data["steps"] == ["evidence"]
    assert run.state == "responding"


def test_a_written_report_handed_over_is_done_and_one_never_received_is_overdue() -> None:
    run, _ = begin(filed("shinagawa", "leak"))
    step = run.step("written_report")
    assert step is not None
    assert step.status == "sent"
    apply(
        run, event("acknowledgement", {"step": "written_report"}, ts=T0 + timedelta(hours=1)), T0 + timedelta(hours=1)
    )
    assert step.status == "sent"  # the e-mail was acknowledged; the 事故報告書 not yet received
    missed = tick(run, T0 + timedelta(days=4))
    assert [e.step_id for e in of(missed, Escalate) if e.reason == "deadline_missed"] == ["written_report"]
    at = T0 + timedelta(days=5)
    apply(run, event("update", {"step": "written_report", "done": True, "receipt": "hand"}, ts=at), at)
    assert (str(step.status), step.received_at) == ("done", at)


def test_a_complaint_confirmed_as_an_accident_becomes_a_leak_with_a_ppc_assessment() -> None:
    run, effects = begin(filed("koganei", "complaint", location=None))
    assert (run.nature, run.ppc.assessment) == ("complaint", None)
    at = T0 + timedelta(minutes=5)
    effects = apply(run, event("update", {"triage": "confirm"}, ts=at), at)
    assert run.nature == "leak"
    assert run.ppc.assessment is not None
    (changed,) = [e for e in entries(effects) if e.kind == "nature_changed"]
    assert changed.data == {"from": "complaint", "to": "leak"}
    (first,) = notices(effects, "first_report")
    assert first.nature == "leak"


def test_an_outage_whose_data_sets_a_person_names_becomes_a_data_event() -> None:
    run, _ = begin(detection("toyota", ["system-outage"], actor=None))
    apply(run, event("update", {"datasets": ["residents"]}, ts=T0), T0)
    assert run.nature == "leak"
    assert run.ppc.assessment is not None


def test_a_receipt_that_is_not_console_or_hand_is_no_receipt() -> None:
    run, _ = begin(filed("koganei", "leak"))
    at = T0 + timedelta(minutes=5)
    apply(run, event("acknowledgement", {"step": "first_report", "receipt": "山田さんが受け取った"}, ts=at), at)
    step = run.step("first_report")
    assert step is not None
    assert (step.status, step.received_at) == ("sent", None)


def test_an_outages_rule8_item_1_says_the_ppc_report_does_not_apply() -> None:
    run, _ = begin(detection("toyota", ["system-outage"], actor=None))
    summary = run.rule8().items[0]
    assert summary.ja is not None
    assert "報告対象事態: 対象外（個人情報の漏えい等に当たらない事案）" in summary.ja
    assert "システム停止事故のおそれ" in summary.ja


def _closed_after_its_first_report_was_received(jurisdiction: str) -> tuple[PlaybookRun, list[Any]]:
    run, _ = begin(filed(jurisdiction, "misdelivery"))
    at = T0 + timedelta(minutes=30)
    apply(run, event("acknowledgement", {"receipt": "console"}, ts=at), at)
    finish_steps(run, at)
    end = T0 + timedelta(days=2)
    return run, apply(run, event("resolution", {}, ts=end), end)


def test_the_closure_of_a_city_that_wants_reports_in_writing_carries_the_final_written_report() -> None:
    _, closed = _closed_after_its_first_report_was_received("koganei")  # 第19条: 書面

    (closure,) = notices(closed, "closure_report")

    assert closure.written


def test_the_closure_of_a_city_that_wants_no_written_report_carries_none() -> None:
    _, closed = _closed_after_its_first_report_was_received("okayama")

    (closure,) = notices(closed, "closure_report")

    assert not closure.written


def test_the_final_reports_receipt_marks_the_final_report_received_not_the_first() -> None:
    run, _ = _closed_after_its_first_report_was_received("koganei")
    assert "final" in reports_awaiting_receipt(run)
    at = T0 + timedelta(days=3)

    received = apply(run, event("acknowledgement", {"receipt": "console", "report": "final"}, ts=at), at)

    (entry,) = [e for e in entries(received) if e.kind == "report_received"]
    assert entry.data == {"report": "final", "receipt": "console"}
    assert run.step("closure").received_at == at  # type: ignore[union-attr]  # the playbook has a closure
    assert "final" not in reports_awaiting_receipt(run)


def test_a_later_reports_receipt_leaves_a_first_report_still_awaiting_its_own() -> None:
    run, _ = begin(filed("koganei", "leak"))
    at = T0 + timedelta(minutes=5)

    apply(run, event("acknowledgement", {"receipt": "console", "report": "progress"}, ts=at), at)

    assert run.step("first_report").status == "sent"  # type: ignore[union-attr]  # koganei reports first
    assert reports_awaiting_receipt(run) == ["first"]
