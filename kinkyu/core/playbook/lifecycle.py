"""An incident's lifecycle: triage, confirmation, dismissal, closure and reopening, and which steps apply.

``new`` (only inside :func:`~kinkyu.core.playbook.run.start`) -> ``triage``
(waiting for a person to confirm or dismiss) -> ``responding`` -> ``closed``
(``outcome`` ``resolved`` or ``dismissed``); a closed incident that gains
findings or an instruction is reopened. Steps of phase ``open`` start when the
run does, those of phase ``confirmed`` when the incident is confirmed (by a
person, a severe rule, a filing, or a missed triage with
``report_when_triage_missed``), closure when it closes.
"""

from __future__ import annotations

from datetime import datetime

from kinkyu.core.playbook.context import DUE_UNKNOWN, SYSTEM, Ctx, iso, jst
from kinkyu.core.playbook.definition import Step
from kinkyu.core.playbook.followup import TriageDecision
from kinkyu.core.playbook.national_report import personal_data_involved, reassess
from kinkyu.core.playbook.state import MEASURED_KINDS, PlaybookRun, StepRun
from kinkyu.core.playbook.states import (
    CITY_REPORTS,
    CLOSED,
    FINAL_COMMAND,
    RESPONDING,
    TRIAGE,
    UNFINISHED,
    Outcome,
    RunState,
)
from kinkyu.core.playbook.steps import contain, start_step
from kinkyu.core.rulebook import event_nature


def set_state(ctx: Ctx, state: RunState, why: str, *, who: str = SYSTEM, ts: datetime | None = None) -> None:
    """Move the run to ``state``, on the timeline with why."""
    old = ctx.run.state
    ctx.run.state = state
    ctx.log(f"state {old} -> {state}: {why}", "state_changed", {"from": old, "to": state, "why": why}, who=who, ts=ts)


def add_applicable_steps(ctx: Ctx) -> list[StepRun]:
    """Add the playbook's steps that apply to the incident now and are not in the run yet."""
    run = ctx.run
    have = {s.step_id for s in run.steps}
    added = [
        StepRun(step.id, step.kind)
        for step in run.playbook.steps
        if step.id not in have and step.applies(run.facts.kind, run.facts.rules)
    ]
    if added:
        order = {s.id: i for i, s in enumerate(run.playbook.steps)}
        run.steps = sorted([*run.steps, *added], key=lambda s: order[s.step_id])
    return added


def at_once(run: PlaybookRun, rules: list[str]) -> list[str]:
    """The detected ``rules`` reported to the city at once, before any triage.

    A clause that names the risk of a breach too (``risk: true`` on its first
    report: 岡山市 第15条, 千葉市 第13, 八千代市 第8条 "又はおそれがある") is owed a
    report of every possible breach, so every rule is. Under a clause that names
    only an event that happened (小金井市 第19条, 豊田市 第13条, 品川区 第17),
    only the rules the policy's ``report_at_once`` lists go at once; the others
    wait for a person to confirm the event at triage.
    """
    st = run.clock_step()
    if st is not None and run.playbook.step(st.step_id).risk:
        return list(rules)
    return [r for r in rules if r in run.policy.report_at_once]


def confirm(ctx: Ctx, base: datetime, why: str, *, who: str = SYSTEM) -> None:
    """The incident is being reported: the steps of phase ``confirmed`` start, counting from ``base``."""
    run = ctx.run
    run.confirmed_at = ctx.now
    set_state(ctx, RESPONDING, why, who=who)
    for st in run.steps:
        if st.status == "waiting" and ctx.step_def(st).phase == "confirmed":
            start_step(ctx, st, base)


def city_told(ctx: Ctx) -> bool:
    """Whether a report has gone to the city."""
    return any(s.kind in CITY_REPORTS and s.status in {"sent", "done"} and s.sent for s in ctx.run.steps)


def dismiss(ctx: Ctx, who: str, ts: datetime, reason: str | None) -> None:
    """Not a breach: the accident steps and their tasks end; a city already told is told so."""
    run = ctx.run
    run.triage = "dismissed"
    run.triage_reason = reason
    told = city_told(ctx)
    skipped = []
    for st in run.steps:
        # Not a breach, by a person's decision with its reason: nothing left to contain or preserve either.
        waiting_measure = st.kind in MEASURED_KINDS and st.status == "active"
        if (ctx.step_def(st).phase == "confirmed" and st.status in UNFINISHED) or waiting_measure:
            st.status = "skipped"
            st.note = "dismissed"
            skipped.append(st.step_id)
    for task in run.tasks:
        if task.status == "open" and task.source in {"report_item", "step"}:
            task.status = "cancelled"
            ctx.log(f"task {task.task_id} cancelled: dismissed", "task_cancelled", {"task_id": task.task_id}, who=who)
    ctx.log(
        f"dismissed: not a breach ({len(skipped)} step(s) skipped)",
        "dismissed",
        {"reason": reason, "skipped": skipped},
        who=who,
        ts=ts,
    )
    if told:
        st = next(s for s in run.steps if s.kind in CITY_REPORTS and s.sent)
        ctx.log("the city is told the possible breach was not one", "report_issued", {"step": st.step_id})
        ctx.notify(st, "dismissal_report")
    ongoing = [s for s in run.steps if s.kind == "progress_report" and s.status == "active"]
    if not run.open_tasks() and not ongoing:
        close(ctx, "dismissed", who=who)
    elif run.state == TRIAGE:
        set_state(ctx, RESPONDING, "dismissed; open tasks or complaint handling remain", who=who)


def resolve(ctx: Ctx, who: str) -> None:
    """A resolution: closes the incident unless triage is pending or a task is open (then refused, noted)."""
    run = ctx.run
    if run.state == CLOSED:
        ctx.log("resolution on a closed incident: no change", "closure_refused", {"why": "already closed"}, who=who)
        return
    if run.state == TRIAGE:
        ctx.log(
            "cannot close: triage pending (confirm or dismiss first)",
            "closure_refused",
            {"why": "triage pending"},
            who=who,
        )
        return
    unmeasured = [s.step_id for s in run.steps if s.kind in MEASURED_KINDS and s.status not in {"done", "skipped"}]
    if unmeasured:
        # 被害拡大の防止 and 証拠保全 are on record as done, or as not applicable with a person's reason.
        ctx.log(
            f"cannot close: no measure recorded for {', '.join(unmeasured)} (record it, or why none applies)",
            "closure_refused",
            {"why": "no measure recorded", "steps": unmeasured},
            who=who,
        )
        return
    open_ids = [t.task_id for t in run.open_tasks()]
    if open_ids:
        ctx.log(
            f"cannot close: {len(open_ids)} open task(s): {', '.join(open_ids)}",
            "closure_refused",
            {"why": "open tasks", "open_tasks": open_ids},
            who=who,
        )
        return
    close(ctx, "resolved", who=who)


def close(ctx: Ctx, outcome: Outcome, *, who: str) -> None:
    """Close the run: unfinished steps are skipped, progress reports stop, a city already told is told."""
    run = ctx.run
    told = city_told(ctx)
    for st in run.steps:
        if st.kind == "closure":
            st.status = "done"
            st.done_at = ctx.now
        elif st.kind == "progress_report" and st.status == "active":
            st.status = "done"
            st.done_at = ctx.now
            st.note = "stopped at closure"
        elif st.status in UNFINISHED:
            st.status = "skipped"
            st.note = "not done before closure"
    pending = [c.command.command_id for c in run.commands if c.status not in FINAL_COMMAND]
    run.outcome = outcome
    set_state(
        ctx, CLOSED, outcome + (f"; {len(pending)} containment command(s) without result" if pending else ""), who=who
    )
    closure = next((s for s in run.steps if s.kind == "closure"), None)
    if told and closure is not None:
        ctx.log("closure reported to the city", "report_issued", {"step": closure.step_id})
        # Where the clauses want reports in writing, the closure carries the final 事故報告書 (最終報告).
        ctx.notify(closure, "closure_report", written=any(s.written for s in run.playbook.steps))


def reopen(ctx: Ctx, why: str) -> None:
    """A closed run responds again (new findings, a city instruction)."""
    run = ctx.run
    run.outcome = None
    for st in run.steps:
        if st.kind == "closure":
            st.status = "waiting"
            st.done_at = None
    set_state(ctx, RESPONDING, f"reopened: {why}")


# -- triage ---------------------------------------------------------------------------------


def triage_step(ctx: Ctx) -> StepRun | None:
    """The run's triage step, if the playbook has one that applies."""
    return next((s for s in ctx.run.steps if s.kind == "triage"), None)


def start_triage(ctx: Ctx, st: StepRun) -> None:
    """Triage starts with its own deadline; the contractor is told to confirm or dismiss."""
    step = ctx.step_def(st)
    st.status = "active"
    st.started_at = ctx.now
    st.due = ctx.due_at(ctx.now, ctx.run.policy.triage_within, step=st.step_id)
    ctx.log(
        f"triage: confirm or dismiss by {jst(st.due) if st.due else DUE_UNKNOWN} ({step.clause.article})",
        "step_started",
        {"step": st.step_id, "due": iso(st.due), "rules": list(ctx.run.facts.rules)},
    )
    ctx.notify(st, "triage_due", audience="contractor", due=st.due)


def decide(ctx: Ctx, given: TriageDecision, who: str, ts: datetime) -> None:
    """A person's triage decision: confirm (report) or dismiss (not a breach)."""
    run = ctx.run
    decision = given.decision
    st = triage_step(ctx)
    if decision not in {"confirm", "dismiss"}:
        ctx.log(f"triage decision {decision[:20]!r} not understood (confirm or dismiss)", "note", {}, who=who)
        return
    if run.triage == "dismissed" or run.state == CLOSED:
        ctx.log(f"triage {decision} after the incident was dismissed or closed: no change", "note", {}, who=who)
        return
    if st is not None and st.status == "active":
        st.status = "done"
        st.done_at = ts
    if decision == "confirm":
        if run.nature == "complaint":
            # A complaint confirmed as an accident (小金井市 第18条 → 第19条): personal data is involved.
            personal_data_involved(ctx)
        # A person confirmed the facts: triggers inferred from the detection rules are no longer 暫定.
        run.ppc.confirmed = True
        reassess(ctx)
        if run.state == TRIAGE:
            run.triage = "confirmed"
            run.triage_reason = given.reason
            confirm(ctx, ctx.now, "confirmed by triage", who=who)
        else:
            ctx.log("triage confirm: the incident is already being reported; no change", "note", {}, who=who)
    else:
        dismiss(ctx, who, ts, given.reason)


# -- steps that begin to apply later ------------------------------------------------------------


def new_rules(ctx: Ctx, rules: list[str], *, targets_changed: bool) -> None:
    """Steps that now apply start; containment covers the new rules (all rules when targets changed)."""
    run = ctx.run
    added = {s.step_id for s in add_applicable_steps(ctx)}
    for st in run.steps:
        step = ctx.step_def(st)
        if st.step_id in added:
            start_added(ctx, st, step)
        elif step.kind == "containment" and st.status != "skipped":
            contain(ctx, st, list(run.facts.rules) if targets_changed else rules, ctx.now, fresh=rules)
    run.nature = event_nature(run.jurisdiction, run.facts.kind, run.facts.rules)
    now_at_once = at_once(run, rules)
    if run.state == TRIAGE and now_at_once:
        triage = triage_step(ctx)
        if triage is not None and triage.status == "active":
            triage.status = "skipped"
            triage.note = "a rule reported at once joined the incident"
        run.triage = "not_needed"
        confirm(ctx, ctx.now, f"rule(s) reported at once joined: {', '.join(now_at_once)}")


def start_added(ctx: Ctx, st: StepRun, step: Step) -> None:
    """Start a step that began to apply after the incident opened, as far as the run has come."""
    if step.kind == "triage":
        st.status = "skipped"
        st.note = "began to apply after triage was decided"
    elif step.phase == "open":
        start_step(ctx, st, ctx.now)
    elif step.phase == "confirmed":
        if ctx.run.triage == "dismissed":
            st.status = "skipped"
            st.note = "dismissed"
        elif ctx.run.state == RESPONDING:
            start_step(ctx, st, ctx.now)
