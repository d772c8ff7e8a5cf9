"""A playbook run: one incident's response, as a deterministic state machine.

The ``incidents`` topic carries the detection stage's records:
``Incident.to_json()`` plus ``"change": "opened" | "updated"``, and follow-ups
as ``{"change": "event", "incident_id": …, "entry": TimelineEntry json}``.
The playbook stage keeps one :class:`PlaybookRun` per incident and calls

- :func:`start` on the first record of an incident (``opened``, or
  ``updated`` when the ``opened`` one was missed),
- :func:`apply` on every later record,
- :func:`tick` when time passes (deadlines, acknowledgements, progress reports),

or simply :func:`on_record` for the first two. Each returns the effects
(:mod:`kinkyu.core.playbook.effects`) in order, timeline entries included.
``now`` is always passed in: the run never reads a clock, so the same inputs
give the same state and the same effects, and a run restored with
:meth:`PlaybookRun.from_json` continues exactly as the original would.

States: ``new`` (only inside :func:`start`) -> ``triage`` (waiting for a
person to confirm or dismiss) ->
``responding`` -> ``closed`` (``outcome`` ``resolved`` or ``dismissed``); a
closed incident that gains findings is reopened (``responding``).

Steps (see :mod:`kinkyu.core.playbook.definition`) have a status: ``waiting``
(not started), ``active`` (running: a triage, containment awaiting results, a
task), ``sent`` (a report issued to the city, awaiting acknowledgement),
``available`` (an optional step: publication), ``done``, ``skipped``. A step
or task with a due time that passes raises a ``deadline_missed`` entry and an
:class:`~kinkyu.core.playbook.effects.Escalate` effect, once.

Follow-up entries and what the run reads from their ``data`` (the detection
stage copies these structured keys from the filed incident event into the
entry's ``data``; see :data:`FOLLOW_UP_DATA_KEYS`; all are optional):

``acknowledgement``
    ``step`` - the report acknowledged; without it every report awaiting
    acknowledgement is. An acknowledged report is done: a report counts as
    made when the city confirms receiving it (an unread e-mail is no report).
``city_instruction``
    a task (甲の指示): ``task_id`` (default ``instruction:<event_id>``),
    ``title`` (a category code such as ``submit-access-log``),
    ``owner`` (a role or staff id; default ``contractor``), ``due`` (RFC 3339)
    or ``within`` (a duration; default: the ``report_request`` step's word
    when ``report_request`` is true, else the policy's ``instruction_within``).
``containment_result``
    ``command_id`` with ``result`` ``done`` | ``failed`` | ``declined``; and/or
    ``task_id`` with ``done: true``.
``update``
    ``triage``: ``confirm`` | ``dismiss`` with ``reason`` (a category code such
    as ``false-positive``); ``task_id`` with ``done: true`` completes a task; ``step`` with
    ``done: true`` completes a step (a report made by phone, recovery done,
    the city's publication); ``supplied``: report-item keys now in the report
    (追完); ``command_id`` with ``result`` as for ``containment_result``.
``update`` (national report, :mod:`kinkyu.core.playbook.ppc`)
    facts the PPC assessment reads: ``encrypted`` (true: all the data was
    strongly encrypted, 高度な暗号化), ``distinct_people`` (the number of
    distinct people, when someone counted them), ``improper_purpose`` (true:
    the breach was or may have been done with an improper purpose),
    ``datasets`` (the data sets involved). A person's decision:
    ``ppc_override`` ``reportable`` | ``not_reportable``, ``party`` ``city`` |
    ``contractor`` (absent: both) and ``reason`` (a category code such as
    ``key-not-compromised``; an override without one is refused with a note).
    The assessment is recomputed on every change of these facts and of the
    incident's; the timeline records it when the result changes.
``resolution``
    closes the incident when no task is open; otherwise a ``closure_refused``
    entry lists the open task ids and the incident stays open (a new
    resolution is needed once they are done).

Where each part lives (each module imports only the ones listed before it):
:mod:`.keys` (what a follow-up's data may hold), :mod:`.states` (the statuses),
:mod:`.state` (:class:`PlaybookRun` and its JSON), :mod:`.followup` (a follow-up
parsed into requests), :mod:`.context` (one call's run, ``now`` and effects),
:mod:`.tasks`, :mod:`.national_report` (the PPC report on a live run),
:mod:`.steps` (one handler per step kind), :mod:`.lifecycle` (triage,
confirmation, dismissal, closure), :mod:`.follow_ups` (acting on a follow-up),
:mod:`.clock` (deadlines), :mod:`.incident_record`, and this module, the router.

Robust in depth: a time the run cannot compute from an incident's times (a
deadline past year 9999, a PPC date outside the holiday calendar's years, an
evidence window off datetime's range; :mod:`kinkyu.core.timespan`) degrades
the one step that needs it, never the run. The step goes on without it (a
report still goes to the city, its deadline shown as unknown, 要確認; an
evidence window is clamped and the triggering events sealed by id), and a
``computation_failed`` entry records what could not be computed, as codes:
``computation``, ``step`` / ``task_id``, ``error`` (``out-of-range``,
``no-holiday-calendar``, ``invalid``) and ``outcome``; never a value or an
exception's text, which could echo the input. A step that fails to start for
such a reason is left for a person (a task, mailed to the contractor).

Applying a record twice changes nothing: follow-ups are recognised by their
``event_id`` (or, without one, by their content), incident records by the
facts they carry. Timeline entries hold ids, counts, categories, times and
clause references; never an event's ``summary`` or ``details``. A ``reason``
or ``title`` that is not a lower-case category code (``[a-z0-9][a-z0-9_.:-]*``)
is recorded as withheld: free text may name a resident. ``owner`` must be a
role or a staff id.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.model import JST
from kinkyu.core.playbook import clock
from kinkyu.core.playbook.baseline import is_baseline
from kinkyu.core.playbook.context import COMPUTATION_FAILED, DUE_UNKNOWN, SYSTEM, Ctx, require_aware
from kinkyu.core.playbook.definition import Playbook
from kinkyu.core.playbook.effects import Effect
from kinkyu.core.playbook.exceptions import PlaybookRunError
from kinkyu.core.playbook.follow_ups import follow_up
from kinkyu.core.playbook.incident_record import NOT_FOLLOW_UPS, incident_record
from kinkyu.core.playbook.keys import FOLLOW_UP_DATA_KEYS, PPC_FACT_KEYS, PPC_OVERRIDE_VALUES, WITHHELD
from kinkyu.core.playbook.lifecycle import (
    add_applicable_steps,
    at_once,
    confirm,
    set_state,
    start_triage,
    triage_step,
)
from kinkyu.core.playbook.national_report import reassess, record_ppc
from kinkyu.core.playbook.policy import ResponsePolicy
from kinkyu.core.playbook.ppc import PPCState, datasets_snapshot, reminder_effect_id
from kinkyu.core.playbook.state import CommandRun, Facts, PlaybookRun, StepRun, Task, facts_of
from kinkyu.core.playbook.states import ACK_CHASED, CLOSED, NEW, RESPONDING, TRIAGE, ProfileSource
from kinkyu.core.playbook.steps import start_step
from kinkyu.core.rulebook import event_nature
from kinkyu.core.timespan import jst_date, shift

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kinkyu.core.contract import Dataset

# Re-exported: callers import these from here (engine.py the keys, tests the kinds and states).
__all__ = [
    "CLOSED",
    "COMPUTATION_FAILED",
    "DUE_UNKNOWN",
    "FOLLOW_UP_DATA_KEYS",
    "NEW",
    "PPC_FACT_KEYS",
    "PPC_OVERRIDE_VALUES",
    "RESPONDING",
    "SYSTEM",
    "TRIAGE",
    "WITHHELD",
    "CommandRun",
    "Facts",
    "PlaybookRun",
    "ProfileSource",
    "StepRun",
    "Task",
    "apply",
    "contract_end",
    "next_due",
    "on_record",
    "start",
    "tick",
]


def contract_end(ends: date) -> datetime:
    """The moment a contract whose last day is ``ends`` is over: the next midnight, Japan time."""
    return datetime.combine(ends + timedelta(days=1), time(0), JST)


def start(
    incident: dict[str, Any],
    playbook: Playbook,
    policy: ResponsePolicy,
    profile_ends: date,
    now: datetime,
    *,
    datasets: Mapping[str, Dataset] | None = None,
    profile: ProfileSource = "loaded",
) -> tuple[PlaybookRun, list[Effect]]:
    """Open a run for ``incident`` (an ``incidents`` record: ``Incident.to_json()``, ``change`` opened).

    At open: evidence is sealed, containment proposed, a complaint reported,
    and either the report steps start (a rule in ``policy.report_at_once``, or
    a filed kind not in ``policy.triage_kinds``) or triage starts with its own
    deadline. A contract that ended before ``now`` is recorded and the run
    goes on: every clause's duty continues after the contract ends. Deadlines
    count from when the contractor learned of the incident: a filing's
    ``discovered_at`` (if earlier than ``now``), else ``now``. ``datasets``
    (the contract's data sets) feed the PPC assessment; the run keeps a copy.

    An incident always gets a run: ``profile`` other than ``loaded`` (the
    contract's profile was dropped by a reload, or is not known at all) and a
    baseline ``playbook`` (:mod:`kinkyu.core.playbook.baseline`, no playbook
    loaded for the jurisdiction) are recorded on the timeline, and the run goes
    on with what the caller could give.
    """
    require_aware(now)
    facts = facts_of(incident)
    if incident.get("jurisdiction") != playbook.jurisdiction:
        raise PlaybookRunError(
            f"incident {incident.get('incident_id')!r} is under {incident.get('jurisdiction')!r}, "
            f"not the playbook's {playbook.jurisdiction!r}"
        )
    learned = facts.discovered_at if facts.discovered_at is not None and facts.discovered_at <= now else now
    # now >= contract_end(profile_ends), without the day after 9999-12-31 a profile may name.
    ended = jst_date(now) > profile_ends
    run = PlaybookRun(
        incident_id=str(incident["incident_id"]),
        contract_id=str(incident["contract_id"]),
        jurisdiction=playbook.jurisdiction,
        playbook=playbook,
        policy=policy,
        opened_at=now,
        learned_at=learned,
        contract_ends=profile_ends,
        contract_ended=ended,
        facts=facts,
        ppc=PPCState(datasets=datasets_snapshot(datasets)),
        nature=event_nature(playbook.jurisdiction, facts.kind, facts.rules),
    )
    ctx = Ctx(run, now)
    record_ppc(ctx, incident)
    add_applicable_steps(ctx)
    ctx.log(
        f"playbook {playbook.jurisdiction} started for a {facts.origin} incident "
        f"({facts.kind}{': ' + ', '.join(facts.rules) if facts.rules else ''}); {len(run.steps)} step(s) apply",
        "playbook_started",
        {
            "jurisdiction": playbook.jurisdiction,
            "origin": facts.origin,
            "kind": facts.kind,
            "rules": list(facts.rules),
            "nature": run.nature,
            "steps": [s.step_id for s in run.steps],
            "learned_at": learned.isoformat(),
            "records": facts.records,
        },
    )
    _caveats(ctx, profile)
    if ended:
        clause = playbook.after_contract_end
        why = " (no clause says so; the safe side)"
        if clause is not None:
            why = f" ({clause.article})" if clause.scope == "emergency" else f" ({clause.article}: {clause.scope} only)"
        ctx.log(
            f"the contract ended on {profile_ends.isoformat()}; the response runs all the same" + why,
            "contract_ended",
            {
                "ends": profile_ends.isoformat(),
                "article": clause.article if clause else None,
                "scope": clause.scope if clause else None,
            },
        )
    if facts.origin == "detection":
        reported = at_once(run, facts.rules)
        needs_triage = not reported
        why = f"rule(s) reported at once as a possible breach (おそれ): {', '.join(reported)}"
    else:
        needs_triage = facts.kind in policy.triage_kinds
        why = f"filed {facts.kind}: reported at once"
    # Detections are reported as possible breaches; a filing reports what a person saw happen.
    run.possible = facts.origin == "detection"
    # Before any report goes out: the first report carries the assessment in its Rule 8 item 1.
    reassess(ctx)
    triage = triage_step(ctx)
    for st in run.steps:
        if ctx.step_def(st).phase == "open" and st.kind != "triage":
            start_step(ctx, st, learned)
    if needs_triage:
        run.triage = "pending"
        if triage is not None:
            start_triage(ctx, triage)
        set_state(
            ctx,
            TRIAGE,
            (
                f"rule(s) {', '.join(facts.rules)} wait for triage"
                if facts.rules
                else f"filed {facts.kind} waits for triage"
            ),
        )
    else:
        run.triage = "not_needed"
        if triage is not None:
            triage.status = "skipped"
            triage.note = why
        confirm(ctx, learned, why)
    for raw in incident.get("timeline") or []:
        if isinstance(raw, dict) and raw.get("kind") not in NOT_FOLLOW_UPS:
            try:
                follow_up(ctx, TimelineEntry.from_json(raw))
            except (KeyError, TypeError, ValueError):
                continue
    clock.tick(ctx)
    run.ppc.checked_at = now
    return run, ctx.out


def _caveats(ctx: Ctx, profile: ProfileSource) -> None:
    """Say on the timeline what the run started without: the city's own playbook, the contract's profile."""
    run = ctx.run
    if is_baseline(run.playbook):
        ctx.log(
            f"no playbook is loaded for {run.jurisdiction}: the baseline steps run (report to the city 直ちに); "
            "check the city's own clauses by hand",
            "playbook_baseline",
            {"jurisdiction": run.jurisdiction},
        )
    if profile == "retained":
        ctx.log(
            f"contract {run.contract_id} is no longer loaded: the run uses its profile as last loaded",
            "contract_profile",
            {"profile": profile},
        )
    elif profile == "missing":
        ctx.log(
            f"contract {run.contract_id} is not loaded: the default response policy applies, its end date is "
            "unknown, and messages cannot be addressed until the profile is loaded again",
            "contract_profile",
            {"profile": profile},
        )


def apply(run: PlaybookRun, record: dict[str, Any], now: datetime) -> list[Effect]:
    """Apply a later ``incidents`` record (``opened`` / ``updated`` incident, or a follow-up ``event``).

    Then checks deadlines at ``now`` as :func:`tick` does. A record applied
    twice changes nothing the second time.
    """
    ctx = Ctx(run, now)
    change = record.get("change")
    if record.get("incident_id") != run.incident_id:
        raise PlaybookRunError(f"record for incident {record.get('incident_id')!r} applied to {run.incident_id!r}")
    if change == "event":
        raw = record.get("entry")
        if not isinstance(raw, dict):
            raise PlaybookRunError("an event record carries its timeline entry under 'entry'")
        try:
            entry = TimelineEntry.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlaybookRunError(f"malformed timeline entry: {type(exc).__name__}") from exc
        follow_up(ctx, entry)
    elif change in {"opened", "updated", None}:
        incident_record(ctx, record)
    else:
        raise PlaybookRunError(f"unknown change {change!r} (opened, updated or event)")
    clock.tick(ctx)
    run.ppc.checked_at = now
    return ctx.out


def tick(run: PlaybookRun, now: datetime) -> list[Effect]:
    """Let time pass to ``now``: missed deadlines (once each), unacknowledged reports, progress reports."""
    ctx = Ctx(run, now)
    clock.tick(ctx)
    if ctx.out:
        run.ppc.checked_at = now
    return ctx.out


def on_record(
    run: PlaybookRun | None,
    record: dict[str, Any],
    *,
    playbook: Playbook,
    policy: ResponsePolicy,
    contract_ends: date,
    now: datetime,
    datasets: Mapping[str, Dataset] | None = None,
    profile: ProfileSource = "loaded",
) -> tuple[PlaybookRun | None, list[Effect]]:
    """Route one ``incidents`` record: :func:`start` a run or :func:`apply` to the existing one.

    An ``event`` record for an incident without a run returns ``(None, [])``:
    the incident record it belongs to carries the same entry in its timeline,
    and the run picks it up from there when it starts. ``datasets`` are the
    contract's data sets, for a run that starts, and ``profile`` where its
    contract's profile came from (see :func:`start`).
    """
    if run is not None:
        return run, apply(run, record, now)
    if record.get("change") == "event":
        return None, []
    return start(record, playbook, policy, contract_ends, now, datasets=datasets, profile=profile)


def next_due(run: PlaybookRun) -> datetime | None:
    """The earliest moment :func:`tick` would do something (None when nothing is pending).

    A stage can sleep until then instead of ticking on a fixed beat.
    """
    times: list[datetime] = []
    if run.triage != "dismissed" and run.outcome != "dismissed":
        done = set(run.ppc.reminded)
        times.extend(r.at for r in run.ppc.reminders() if reminder_effect_id(run.incident_id, r) not in done)
    if run.state == CLOSED:
        return min(times) if times else None
    for st in run.steps:
        if st.status in {"active", "sent"} and st.due is not None and not st.missed:
            times.append(st.due)
        chased = st.acknowledged_at is None
        if st.status == "sent" and st.kind in ACK_CHASED and chased and not st.ack_escalated and st.sent_at is not None:
            chase = shift(st.sent_at, run.policy.ack_timeout)
            if chase is not None:  # out of range: never chased (the run's timeline says so)
                times.append(chase)
        if st.kind == "progress_report" and st.status == "active" and st.next_due is not None:
            times.append(st.next_due)
    times.extend(t.due for t in run.tasks if t.status == "open" and t.due is not None and not t.missed)
    return min(times) if times else None
