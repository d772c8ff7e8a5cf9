"""Every incident that opens reaches a person: a run whose times cannot be computed degrades a step, not the run.

A time an incident carries can be anything ``datetime`` holds (the wire edge
refuses implausible ones; these tests bypass it, as a record written straight
onto ``incidents`` would). Each failure mode below leaves the incident with a
run, a report to the city with what is known, and a coded
``computation_failed`` entry on its timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import sample_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_playbook_run import ENDS, INC, T0, begin, detection, event, filed, kinds, notices, of, pb

from kinkyu.console.views import incident_page, incident_row
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationError, EscalationState
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.legal import legal_deadline, ppc_deadlines
from kinkyu.core.model import JST
from kinkyu.core.playbook import (
    COMPUTATION_FAILED,
    Escalate,
    Notify,
    PlaybookRun,
    ResponsePolicy,
    SealEvidence,
    apply,
    baseline_playbook,
    clock,
    entries,
    next_due,
    start,
    steps,
    tick,
)
from kinkyu.core.playbook.context import Ctx
from kinkyu.core.timespan import EARLIEST, LATEST, CalendarRangeError, jst_text, shift
from kinkyu.reports.model import build_report
from kinkyu.reports.store import IncidentStore
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.playbook_stage import PlaybookStage, ProfileMemory, RunState
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

# The last half hour datetime holds in Japan time: an hour later is not a datetime.
END_OF_TIME = datetime(9999, 12, 31, 23, 30, tzinfo=JST)
# A year the holiday calendar does not know (the holidays package covers 1949-2099).
NO_HOLIDAYS = datetime(2100, 1, 5, 10, 0, tzinfo=JST)


def dated(record: dict[str, Any], ts: datetime) -> dict[str, Any]:
    """``record`` with every time it carries set to ``ts``, as a record written past the wire edge could."""
    out = dict(record)
    out["first_event_ts"] = out["last_event_ts"] = ts.isoformat()
    if out.get("discovered_at") is not None:
        out["discovered_at"] = ts.isoformat()
    out["timeline"] = [{**e, "ts": ts.isoformat()} for e in out.get("timeline") or []]
    return out


def failures(run: PlaybookRun) -> list[dict[str, Any]]:
    return [e.data for e in run.timeline if e.kind == COMPUTATION_FAILED]


def failure(run: PlaybookRun, computation: str, **ids: str | None) -> dict[str, Any]:
    (found,) = [
        f
        for f in failures(run)
        if f["computation"] == computation and all(f.get(key) == value for key, value in ids.items())
    ]
    return found


def roundtrips(run: PlaybookRun) -> None:
    """The run is stored and restored as any other (incident-state, the store, the console)."""
    snapshot = run.to_json()
    assert PlaybookRun.from_json(snapshot).to_json() == snapshot
    next_due(run)


# -- the incident's own times ---------------------------------------------------------------------


def test_a_breach_dated_year_9999_is_reported_to_the_city_and_its_evidence_window_clamped() -> None:
    run, effects = begin(detection("okayama", ["credential-attack"], ts=END_OF_TIME))

    (first,) = notices(effects, "first_report")
    assert first.audience == "city"
    assert first.due == T0 + timedelta(hours=1), "the report's clock runs from when the contractor learned"
    (seal,) = of(effects, SealEvidence)
    assert EARLIEST <= seal.since <= seal.until <= LATEST
    assert seal.event_ids == ("ev-1",), "the incident's own events are sealed by id whatever the window"
    assert failure(run, "evidence_window", step="evidence") == {
        "computation": "evidence_window",
        "step": "evidence",
        "task_id": None,
        "error": "out-of-range",
        "outcome": "window-clamped",
    }
    roundtrips(run)


def test_a_filing_dated_year_1_east_of_japan_is_reported_to_the_city() -> None:
    # 0001-01-01T00:00+14:00 is 0000-12-31 in UTC: no datetime can say it in Japan time either.
    dawn = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    run, effects = begin(dated(filed("koganei", "misdelivery"), dawn))

    (first,) = notices(effects, "first_report")
    assert first.due_unknown is True, "an hour after that dawn is still before any time the clocks keep"
    assert failure(run, "evidence_window", step="evidence")["outcome"] == "window-clamped"
    roundtrips(run)


def test_a_report_deadline_past_year_9999_is_sent_with_its_deadline_unknown() -> None:
    run, effects = begin(filed("koganei", "misdelivery", discovered=END_OF_TIME), now=END_OF_TIME)

    (first,) = notices(effects, "first_report")
    assert first.due is None
    assert first.due_unknown is True
    assert first.to_json()["due_unknown"] is True
    step = run.step("first_report")
    assert step is not None
    assert step.status == "sent"
    assert "要確認" in (step.note or "")
    assert failure(run, "deadline", step="first_report")["outcome"] == "due-unknown"
    roundtrips(run)


def test_a_report_with_a_deadline_carries_no_due_unknown_key() -> None:
    _, effects = begin(detection("okayama", ["pii-email"]))

    (first,) = notices(effects, "first_report")
    assert "due_unknown" not in first.to_json(), "a normal report's record is as before"


def test_a_triage_deadline_past_year_9999_leaves_triage_open_without_one() -> None:
    run, effects = begin(detection("koganei", ["unregistered-actor"], ts=END_OF_TIME), now=END_OF_TIME)

    assert run.state == "triage"
    (ask,) = notices(effects, "triage_due")
    assert ask.audience == "contractor"
    assert ask.due is None
    assert failure(run, "deadline", step="triage")["outcome"] == "due-unknown"
    roundtrips(run)


def test_a_contract_whose_last_day_is_9999_12_31_has_not_ended() -> None:
    run, effects = begin(detection("okayama", ["pii-email"]), ends=date(9999, 12, 31))

    assert run.contract_ended is False
    assert "contract_ended" not in kinds(effects)


# -- the city's PPC clock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("learned", "code"),
    [
        (NO_HOLIDAYS, "no-holiday-calendar"),
        (datetime(1, 1, 1, 5, tzinfo=timezone(timedelta(hours=14))), "out-of-range"),
    ],
    ids=["year-2100", "year-1"],
)
def test_a_city_that_learned_where_no_calendar_answers_has_its_ppc_dates_unknown(learned: datetime, code: str) -> None:
    run, _ = begin(detection("okayama", ["pii-email"], records=2000, data_items=["name"]))
    ack = event("acknowledgement", {"step": "first_report"}, ts=learned, who="city-1")

    effects = apply(run, ack, T0)

    (clock,) = [e for e in entries(effects) if e.kind == "ppc_clock"]
    assert clock.data["preliminary_due"] is None
    assert "要確認" in clock.what
    assert failure(run, "ppc_deadlines") == {
        "computation": "ppc_deadlines",
        "step": None,
        "task_id": None,
        "error": code,
        "outcome": "dates-unknown",
    }
    assert run.ppc_json()["deadlines"] is None
    assert run.ppc_json()["reminders"] == []
    roundtrips(run)


# -- follow-ups and time passing -----------------------------------------------------------------


def test_a_city_instruction_due_past_year_9999_opens_its_task_without_a_due_time() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    instruction = event("city_instruction", {"task_id": "submit-log", "within": "3d"}, ts=END_OF_TIME, who="city-1")

    apply(run, instruction, T0)

    task = run.task("submit-log")
    assert task is not None
    assert task.status == "open"
    assert task.due is None
    assert failure(run, "deadline", task_id="submit-log")["outcome"] == "due-unknown"


def test_a_city_instruction_whose_within_is_no_duration_falls_due_by_the_policy() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    at = T0 + timedelta(minutes=5)
    instruction = event("city_instruction", {"task_id": "submit-log", "within": "99999999999d"}, ts=at, who="city-1")

    apply(run, instruction, T0)

    task = run.task("submit-log")
    assert task is not None
    assert task.due == at + ResponsePolicy().instruction_within


def test_a_report_whose_acknowledgement_timeout_ends_past_year_9999_is_not_chased_but_still_due() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]), now=datetime(9999, 12, 31, 23, 50, tzinfo=JST))

    later = tick(run, datetime(9999, 12, 31, 23, 59, tzinfo=JST))

    assert [e for e in of(later, Escalate) if e.reason == "no_acknowledgement"] == []
    assert failure(run, "acknowledgement_timeout", step="first_report")["outcome"] == "not-chased"
    roundtrips(run)


def test_progress_reports_stop_with_a_note_when_the_next_one_falls_past_year_9999() -> None:
    opened = datetime(9999, 12, 20, tzinfo=JST)
    run, _ = start(filed("koganei", "complaint", discovered=opened), pb("koganei"), ResponsePolicy(), ENDS, opened)

    due = tick(run, opened + timedelta(days=7))

    assert len(notices(due, "progress_report")) == 1, "the report due inside time goes out"
    step = run.step("complaint_progress")
    assert step is not None
    assert step.next_due is None
    assert failure(run, "progress_schedule", step="complaint_progress")["outcome"] == "no-schedule"
    roundtrips(run)


def test_a_failure_is_recorded_once_however_often_the_run_ticks() -> None:
    run, _ = begin(detection("okayama", ["pii-email"]), now=datetime(9999, 12, 31, 23, 50, tzinfo=JST))

    for minute in range(51, 60):
        tick(run, datetime(9999, 12, 31, 23, minute, tzinfo=JST))

    assert len([f for f in failures(run) if f["computation"] == "acknowledgement_timeout"]) == 1


def test_a_failure_entry_names_codes_never_the_value_nor_the_exception() -> None:
    run, _ = begin(detection("okayama", ["credential-attack"], ts=END_OF_TIME), now=END_OF_TIME)

    recorded = [e for e in run.timeline if e.kind == COMPUTATION_FAILED]
    assert recorded
    for e in recorded:
        assert set(e.data) == {"computation", "step", "task_id", "error", "outcome"}
        assert "9999" not in e.what
        assert "out of range" not in e.what, "not OverflowError's text: a code"


# -- one step failing -------------------------------------------------------------------------------


def test_a_step_that_cannot_start_is_left_to_a_person_and_the_others_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def overflow(*_: object, **__: object) -> None:
        raise OverflowError

    monkeypatch.setattr(steps, "contain", overflow)

    run, effects = begin(detection("okayama", ["pii-email"]))

    step = run.step("containment")
    assert step is not None
    assert step.status == "active"
    assert failure(run, "step", step="containment") == {
        "computation": "step",
        "step": "containment",
        "task_id": None,
        "error": "out-of-range",
        "outcome": "by-hand",
    }
    (task,) = [t for t in notices(effects, "task_assigned") if t.task_id == "containment:by-hand"]
    assert task.audience == "contractor"
    assert len(notices(effects, "first_report")) == 1, "the other steps ran"


def test_a_report_step_that_cannot_start_still_reaches_the_city(monkeypatch: pytest.MonkeyPatch) -> None:
    def invalid(*_: object, **__: object) -> None:
        raise ValueError

    monkeypatch.setattr(steps, "report", invalid)

    run, effects = begin(detection("okayama", ["pii-email"]))

    (first,) = notices(effects, "first_report")
    assert first.audience == "city"
    assert first.due_unknown is True
    assert failure(run, "step", step="first_report")["error"] == "invalid"


def test_one_steps_clock_failing_leaves_the_other_deadlines_running(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = begin(detection("okayama", ["pii-email"]))
    apply(run, event("city_instruction", {"task_id": "submit-log", "within": "1h"}, ts=T0, who="city-1"), T0)
    real = clock.tick_step

    def broken_report_clock(ctx: Ctx, st: Any) -> None:
        if st.step_id == "first_report":
            raise OverflowError
        real(ctx, st)

    monkeypatch.setattr(clock, "tick_step", broken_report_clock)

    later = tick(run, T0 + timedelta(hours=2))

    assert [e.task_id for e in of(later, Escalate)] == ["submit-log"]
    assert failure(run, "clock", step="first_report")["outcome"] == "step-not-checked"


# -- what stands in for a missing playbook or profile ---------------------------------------------


def test_a_jurisdiction_without_its_playbook_runs_the_baseline_and_reports_at_once() -> None:
    record = detection("toyota", ["pii-email"])

    _, effects = start(record, baseline_playbook("toyota"), ResponsePolicy(), ENDS, T0)

    (first,) = notices(effects, "first_report")
    assert first.audience == "city"
    assert first.urgency == "直ちに"
    assert first.due == T0 + timedelta(hours=1)
    assert "playbook_baseline" in kinds(effects)


def test_a_run_without_its_contract_profile_says_so_and_still_reports() -> None:
    record = detection("okayama", ["pii-email"])

    run, effects = start(record, pb("okayama"), ResponsePolicy(), date.max, T0, profile="missing")

    (note,) = [e for e in entries(effects) if e.kind == "contract_profile"]
    assert note.data == {"profile": "missing"}
    assert len(notices(effects, "first_report")) == 1
    assert run.contract_ended is False


OKAYAMA = "okayama-2026-003"


class _Unsent:
    """A sink nobody reads: these tests look at the run the stage starts, not at what it sends."""

    async def send_all(self, records: Sequence[Record]) -> None:
        del records


def stage_with(
    profiles: Mapping[str, ContractProfile] | ProfileMemory, playbooks: Mapping[str, Any] | None = None
) -> PlaybookStage:
    return PlaybookStage(
        bootstrap="127.0.0.1:9",
        topics=Topics(),
        sink=_Unsent(),
        profiles=(lambda: profiles) if not isinstance(profiles, ProfileMemory) else profiles,
        playbooks={"okayama": pb("okayama")} if playbooks is None else playbooks,
        collector=None,
        metrics=Metrics(),
        lateness=1.0,
    )


def opened(jurisdiction: str = "okayama") -> dict[str, Any]:
    return {**detection(jurisdiction, ["pii-email"]), "contract_id": OKAYAMA}


def started(stage: PlaybookStage, record: dict[str, Any]) -> tuple[RunState, list[str]]:
    state, effects, _ = stage._apply(None, record, T0)  # the stage's domain call, without a broker
    assert state is not None, "every incident gets a run"
    assert notices(effects, "first_report"), "and the city is told"
    return state, kinds(effects)


def test_the_stage_starts_a_run_for_a_contract_it_never_loaded() -> None:
    state, logged = started(stage_with({}), opened())

    assert "contract_profile" in logged
    assert state.run.policy == ResponsePolicy()


def test_the_stage_keeps_running_a_contract_a_reload_dropped_on_its_last_profile() -> None:
    profile = sample_profile(OKAYAMA)
    loaded = {OKAYAMA: profile}
    memory = ProfileMemory(lambda: loaded)
    memory()
    loaded = {}

    state, logged = started(stage_with(memory), opened())

    assert "contract_profile" in logged
    assert state.run.policy == profile.response
    assert state.run.contract_ends == profile.ends


def test_the_stage_runs_the_baseline_for_a_jurisdiction_without_a_playbook() -> None:
    state, logged = started(stage_with({OKAYAMA: sample_profile(OKAYAMA)}, playbooks={}), opened())

    assert "playbook_baseline" in logged
    assert state.run.jurisdiction == "okayama"


def test_the_contracts_jurisdiction_decides_the_playbook_not_the_records() -> None:
    state, _ = started(stage_with({OKAYAMA: sample_profile(OKAYAMA)}), opened("chiba"))

    assert state.run.playbook == pb("okayama")
    assert state.incident["jurisdiction"] == "okayama"


def test_a_profile_a_reload_dropped_is_kept_and_known_as_retained() -> None:
    koganei, chiba = object(), object()
    loaded: dict[str, Any] = {"koganei-2026-017": koganei, "chiba-2026-021": chiba}
    memory = ProfileMemory(lambda: loaded)
    memory()

    loaded = {"chiba-2026-021": chiba}

    assert memory()["koganei-2026-017"] is koganei
    assert memory.retained("koganei-2026-017")
    assert not memory.retained("chiba-2026-021")


@pytest.mark.parametrize("when", [END_OF_TIME, datetime(1, 1, 1, tzinfo=JST)], ids=["year-9999", "year-1"])
def test_the_store_entry_of_such_an_incident_reads_back_as_reports_and_a_console_page(
    tmp_path: Path, when: datetime
) -> None:
    record = {**dated(detection("okayama", ["pii-email"]), when), "contract_id": OKAYAMA}
    run, _ = start(record, pb("okayama"), ResponsePolicy(), ENDS, T0)
    apply(run, event("acknowledgement", {"step": "first_report"}, ts=when, who="city-1"), T0)
    store = IncidentStore(tmp_path)
    store.write({k: v for k, v in record.items() if k != "change"}, run.to_json(), sample_profile(OKAYAMA))

    stored = store.read(INC)

    for kind in ("first", "final", "public"):
        assert build_report(stored, kind=kind, lang="ja", now=T0).sections
    assert incident_row(stored, T0).incident_id == INC
    assert incident_page(stored, "ja", T0)


# -- the building blocks --------------------------------------------------------------------------


def test_policy_durations_beyond_ten_years_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 3650d"):
        ResponsePolicy(ack_timeout="3651d")  # type: ignore[arg-type]  # parsed by the model


def test_a_legal_deadline_outside_the_holiday_calendar_is_refused_with_a_code() -> None:
    with pytest.raises(CalendarRangeError) as caught:
        legal_deadline(date(2099, 12, 20), 30)
    assert caught.value.code == "no-holiday-calendar"
    with pytest.raises(CalendarRangeError):
        ppc_deadlines(date(9999, 12, 31), improper_purpose=True)


def test_a_chain_whose_timeout_ends_past_year_9999_is_never_due() -> None:
    chain = EscalationState.start(
        "c-1", INC, ladder=("city:0", "city:1"), ack_timeout=timedelta(days=3650), now=END_OF_TIME
    )
    chain.next_step(END_OF_TIME)

    assert chain.next_due() is None


def test_a_chain_stored_with_an_unrepresentable_timeout_is_refused_by_name() -> None:
    stored = EscalationState.start("c-1", INC, ladder=("city:0",), ack_timeout=timedelta(hours=1), now=T0).to_json()
    stored["ack_timeout"] = float("inf")

    with pytest.raises(EscalationError, match="OverflowError"):
        EscalationState.from_json(stored)


def test_time_at_the_ends_of_the_range_is_shown_in_its_own_offset() -> None:
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-10)))

    assert jst_text(late) == late.isoformat()
    assert shift(late, timedelta(hours=1)) is None
    assert shift(T0, timedelta(hours=1)) == T0 + timedelta(hours=1)


# -- any time at all --------------------------------------------------------------------------------

OFFSETS = st.sampled_from([timezone(timedelta(hours=h)) for h in (-12, -10, 0, 9, 14)])
ANY_TIME = st.datetimes(timezones=OFFSETS) | st.sampled_from(
    [END_OF_TIME, datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC), NO_HOLIDAYS]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=ANY_TIME, now=st.sampled_from([T0, END_OF_TIME, NO_HOLIDAYS]), later=ANY_TIME)
def test_no_time_an_incident_carries_stops_its_run(when: datetime, now: datetime, later: datetime) -> None:
    for record in (
        detection("koganei", ["credential-attack"], ts=when),
        detection("chiba", ["unregistered-actor"], ts=when),
        dated(filed("koganei", "complaint"), when),
    ):
        run, effects = start(record, pb(record["jurisdiction"]), ResponsePolicy(), ENDS, now)
        assert [n for n in of(effects, Notify) if n.audience == "city" or n.kind == "triage_due"], "someone is told"
        for follow_up in (
            event("acknowledgement", {"step": "first_report"}, ts=when, who="city-1"),
            event("city_instruction", {"task_id": "t-1", "within": "3d", "due": when.isoformat()}, ts=when),
            event("update", {"triage": "confirm", "reason": "checked"}, ts=when),
            {
                "change": "event",
                "incident_id": INC,
                "entry": TimelineEntry(
                    when,
                    "kinkyu",
                    "sent",
                    "message_sent",
                    {"event_id": "m-1", "chain_id": f"{INC}/first_report/first_report/1", "recipient": "city:0"},
                ).to_json(),
            },
        ):
            apply(run, follow_up, now)
        tick(run, later)
        roundtrips(run)
