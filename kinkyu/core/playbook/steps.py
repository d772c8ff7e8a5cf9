"""What starting a step does, one handler per step kind (:data:`HANDLERS`).

To change how a kind of step starts (a city's first report, evidence,
containment, ...) change its handler here; when steps start is the
lifecycle's business (:mod:`kinkyu.core.playbook.lifecycle`), and their
clocks are :mod:`kinkyu.core.playbook.clock`'s. Triage and closure are
started by the lifecycle itself: their handlers do nothing.

A time a handler cannot compute degrades only its step (:func:`start_step`):
the step is left to a person, and a report still goes to the city.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kinkyu.core.playbook.containment import propose
from kinkyu.core.playbook.context import DUE_UNKNOWN, RANGE_ERRORS, Ctx, failure_code, iso, jst, span
from kinkyu.core.playbook.definition import Step
from kinkyu.core.playbook.effects import Containment, SealEvidence
from kinkyu.core.playbook.ppc import CLOCK_STEP_KINDS
from kinkyu.core.playbook.state import CommandRun, PlaybookRun, StepRun
from kinkyu.core.playbook.states import CITY_REPORTS, FINAL_COMMAND, REPORT_NOTIFY, StepKind
from kinkyu.core.playbook.tasks import STEP_TITLE, item_known, open_task
from kinkyu.core.timespan import clamp, shift

# Start a step: the context, the step's run state, its definition, and when the clock counts from.
Handler = Callable[[Ctx, StepRun, Step, datetime], None]


def start_step(ctx: Ctx, st: StepRun, base: datetime) -> None:
    """Start ``st``; a time it cannot compute leaves this step to a person and every other step running."""
    try:
        step = ctx.step_def(st)
        st.started_at = ctx.now
        HANDLERS[step.kind](ctx, st, step, base)
    except RANGE_ERRORS as exc:
        step_failed(ctx, st, exc)


def step_failed(ctx: Ctx, st: StepRun, exc: BaseException) -> None:
    """``st`` could not be started: coded entry, a task for the contractor, and a report still goes out."""
    step = ctx.step_def(st)
    st.status = "active"
    st.done_at = None
    st.note = "could not be started automatically; do it by hand and record it with an update"
    ctx.cannot(
        "step",
        error=failure_code(exc),
        outcome="by-hand",
        how="left to a person (a task for the contractor)",
        step=st.step_id,
    )
    if st.kind in CITY_REPORTS and not st.sent:
        # The city hears of the incident all the same: what is known, the deadline 要確認.
        st.status = "sent"
        st.sent_at = ctx.now
        ctx.notify(st, REPORT_NOTIFY[st.kind], audience=step.to or "city", due_unknown=True)
    open_task(
        ctx,
        task_id=f"{st.step_id}:by-hand",
        title_key="by_hand",
        title_values={"step": st.step_id},
        owner="contractor",
        due=None,
        source="step",
        step_id=st.step_id,
    )


# -- the handlers ---------------------------------------------------------------------------


def _started_by_the_lifecycle(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:
    """Triage and closure: the lifecycle starts and ends them itself."""


def _evidence(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:  # noqa: ARG001  # a Handler
    seal(ctx, st, ctx.run.facts.event_ids, ctx.run.facts.first_event_ts)
    # A request is not a preserved record: the step is done when the evidence is sealed
    # (record_seal) or a person records what was preserved, or why nothing could be.
    st.status = "active"
    st.note = "sealing requested; done once sealed, or when a person records the measure"


def _containment(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:  # noqa: ARG001  # a Handler
    contain(ctx, st, ctx.run.facts.rules, base)


def _city_report(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:
    report(ctx, st, step, base)


def _progress_report(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:
    st.status = "active"
    st.next_due = None
    st.next_due = progress_due(ctx, st, base)
    ctx.log(
        f"progress reports (処理経過) to the city every {span(ctx.run.policy.progress_interval)}, "
        f"first {jst(st.next_due) if st.next_due else DUE_UNKNOWN} ({step.clause.article})",
        "step_started",
        {"step": st.step_id, "next_due": iso(st.next_due), "article": step.clause.article},
    )


def _instructions(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:  # noqa: ARG001  # a Handler
    st.status = "active"
    ctx.log(
        f"city instructions (甲の指示) are recorded as tasks ({step.clause.article})",
        "step_started",
        {"step": st.step_id, "article": step.clause.article},
    )


def _report_request(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:  # noqa: ARG001  # a Handler
    st.status = "active"
    ctx.log(
        f"city report requests are due {step.urgency} ({step.clause.article})",
        "step_started",
        {"step": st.step_id, "article": step.clause.article},
    )


def _task_step(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:
    """Recovery and recurrence prevention: a task for the contractor, due by the policy."""
    policy = ctx.run.policy
    within = policy.recurrence_prevention_within if step.kind == "recurrence_prevention" else policy.recovery_within
    st.status = "active"
    st.due = ctx.due_at(base, within, step=st.step_id) if within is not None else None
    open_task(
        ctx,
        task_id=st.step_id,
        title_key=STEP_TITLE,
        title_values={"step": st.step_id},
        owner="contractor",
        due=st.due,
        source="step",
        step_id=st.step_id,
    )


def _publication(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:  # noqa: ARG001  # a Handler
    st.status = "available"
    ctx.log(
        f"publication (公表) is the city's option ({step.clause.article}); record it with an update",
        "step_started",
        {"step": st.step_id, "article": step.clause.article},
    )


HANDLERS: dict[StepKind, Handler] = {
    "triage": _started_by_the_lifecycle,
    "evidence": _evidence,
    "containment": _containment,
    "complaint_report": _city_report,
    "progress_report": _progress_report,
    "instructions": _instructions,
    "report_request": _report_request,
    "first_report": _city_report,
    "written_report": _city_report,
    "recovery": _task_step,
    "recurrence_prevention": _task_step,
    "publication": _publication,
    "closure": _started_by_the_lifecycle,
}


# -- what the handlers do ------------------------------------------------------------------


def report(ctx: Ctx, st: StepRun, step: Step, base: datetime) -> None:
    """Issue a report to the city, due by the clause's word; each clause item not known opens a task."""
    run = ctx.run
    urgency = step.urgency
    due = ctx.due_at(base, run.policy.within(urgency), step=st.step_id) if urgency is not None else None
    unknown = urgency is not None and due is None
    st.status = "sent"
    st.due = due
    st.sent_at = ctx.now
    if unknown:
        st.note = f"deadline {DUE_UNKNOWN}: not computable from the incident's times"
    missing = tuple(i for i in step.items if not item_known(ctx, i))
    kind = REPORT_NOTIFY[step.kind]
    how = "in writing (書面)" if step.written else "report"
    ctx.log(
        f"{step.kind} to the {step.to} issued {how}; due {jst(due) if due else (DUE_UNKNOWN if unknown else '-')} "
        f"({urgency or 'no time word'}, {step.clause.article})"
        + (" as a possible breach (おそれ)" if run.possible and step.kind != "complaint_report" else "")
        + (f"; {len(missing)} clause item(s) under investigation (調査中)" if missing else ""),
        "report_issued",
        {
            "step": st.step_id,
            "due": iso(due),
            "urgency": urgency,
            "article": step.clause.article,
            "written": step.written,
            "possible": run.possible,
            "items": list(step.items),
            "missing_items": list(missing),
            "effect_id": f"{run.incident_id}/{st.step_id}/{kind}/{st.sent + 1}",
            **({"due_unknown": True} if unknown else {}),
        },
    )
    # The first word to the city carries the nine Rule 8(1) items: telling the city what it
    # knows of them releases the contractor from its own PPC report (legal.md).
    rule8 = run.rule8_facts() if step.kind in CLOCK_STEP_KINDS else None
    ctx.notify(st, kind, audience=step.to or "city", due=due, missing=missing, rule8=rule8, due_unknown=unknown)
    for item in missing:
        open_task(
            ctx,
            task_id=f"{st.step_id}:{item}",
            title_key="supply",
            title_values={"item": item},
            owner="contractor",
            due=due,
            source="report_item",
            step_id=st.step_id,
            item=item,
        )


def seal(ctx: Ctx, st: StepRun, event_ids: list[str], since_ts: datetime, until_ts: datetime | None = None) -> None:
    """Ask for the events ``event_ids`` and the policy's window around them to be sealed (証拠保全)."""
    run = ctx.run
    window = run.policy.evidence_window
    last = until_ts or run.facts.last_event_ts
    since, until = shift(since_ts, -window), shift(last, window)
    if since is None or until is None:
        # The triggering events are sealed by id whatever the window; the window keeps inside time.
        ctx.cannot(
            "evidence_window",
            error="out-of-range",
            outcome="window-clamped",
            how="the window is clamped to datetime's range; the incident's own events are sealed by id",
            step=st.step_id,
        )
        since = since if since is not None else clamp(since_ts)
        until = until if until is not None else clamp(last)
    run.seals += 1
    effect = SealEvidence(
        effect_id=f"{run.incident_id}/seal/{run.seals}",
        incident_id=run.incident_id,
        contract_id=run.contract_id,
        since=min(since, until),
        until=until,
        window_before=window,
        window_after=window,
        event_ids=tuple(event_ids),
        actor=run.facts.actor,
        system=run.facts.system,
    )
    step = ctx.step_def(st)
    ctx.log(
        f"evidence sealing (証拠保全) requested: {len(event_ids)} event(s), "
        f"{jst(effect.since)} to {jst(effect.until)} ({step.clause.article})",
        "seal_requested",
        {
            "step": st.step_id,
            "effect_id": effect.effect_id,
            "since": effect.since.isoformat(),
            "until": effect.until.isoformat(),
            "events": len(event_ids),
        },
    )
    ctx.out.append(effect)


def contain(ctx: Ctx, st: StepRun, rules: list[str], base: datetime, fresh: list[str] | None = None) -> None:
    """Propose the commands of ``rules`` not proposed yet; report untargeted actions of ``fresh`` rules."""
    run = ctx.run
    step = ctx.step_def(st)
    if step.applies_to is not None and step.applies_to.rules:
        rules = [r for r in rules if r in step.applies_to.rules]
    proposal = propose(
        incident_id=run.incident_id,
        contract_id=run.contract_id,
        rules=rules,
        targets=run.facts.targets,
        auto_rules=run.policy.auto_contain,
        step_id=st.step_id,
        known=[c.command.command_id for c in run.commands],
    )
    for cmd in proposal.commands:
        run.commands.append(CommandRun(cmd))
        ctx.log(
            f"containment {'executed automatically' if cmd.auto else 'proposed for approval'}: "
            f"{cmd.action} on {cmd.target_type} {cmd.target} ({cmd.reason}, {step.clause.article})",
            "containment_proposed",
            {
                "step": st.step_id,
                "command_id": cmd.command_id,
                "action": cmd.action,
                "target_type": cmd.target_type,
                "target": cmd.target,
                "auto": cmd.auto,
                "rules": list(cmd.rules),
            },
        )
        ctx.out.append(Containment(cmd))
    pairs = sorted({f"{action} ({rule})" for rule, action in proposal.untargeted if fresh is None or rule in fresh})
    if pairs:
        ctx.log(
            "containment not proposed, the incident names no target: " + ", ".join(pairs),
            "containment_untargeted",
            {"step": st.step_id, "actions": pairs},
        )
    mine = [c for c in run.commands if c.command.step_id == st.step_id]
    pending = [c for c in mine if c.status not in FINAL_COMMAND]
    if proposal.commands and step.urgency is not None and st.due is None:
        st.due = ctx.due_at(base, run.policy.within(step.urgency), step=st.step_id)
    if pending:
        st.status = "active"
        st.done_at = None
    elif st.status in {"waiting", "active"}:
        if any(c.status == "done" for c in mine):
            st.status = "done"
            st.done_at = ctx.now
            st.measure = "commands"
        elif not mine and st.status == "waiting" and run.commands:
            # Another containment step of the playbook holds the commands (千葉市 資格の抹消 …).
            st.status = "skipped"
            st.note = "contained by " + ", ".join(sorted({c.command.step_id for c in run.commands}))
        elif not mine and st.status == "waiting":
            # Nothing to propose is not damage contained: a person records the measure taken, or why none applies.
            st.status = "active"
            st.note = "no command derivable from the incident; record the measure taken or why none applies"
            ctx.log(
                "containment: no command derivable from the incident (no account or system); "
                f"record the measure taken by hand, or why none applies ({step.clause.article})",
                "measure_needed",
                {"step": st.step_id, "commands": 0},
            )


def refresh_containment(ctx: Ctx, st: StepRun, ts: datetime) -> None:
    """A containment step is done once every command of it has a final result."""
    mine = [c for c in ctx.run.commands if c.command.step_id == st.step_id]
    if st.status != "active" or not mine or not all(c.status in FINAL_COMMAND for c in mine):
        return
    if any(c.status == "done" for c in mine):
        st.status = "done"
        st.done_at = ts
        st.measure = "commands"
        ctx.log(f"containment step {st.step_id} done: every command has a result", "step_done", {"step": st.step_id})
    else:
        # Every command declined: nothing was contained; a person records what was done instead, or why not.
        st.note = "every command declined; record the measure taken or why none applies"
        ctx.log(
            f"containment step {st.step_id}: every command declined; a measure or a reason is needed",
            "measure_needed",
            {"step": st.step_id, "commands": len(mine)},
        )


def record_seal(run: PlaybookRun, ts: datetime) -> list[str]:
    """The evidence of ``run`` was sealed at ``ts``: its evidence steps are done; the step ids it completed.

    Called by the stage that carries out a :class:`SealEvidence` when a bundle
    is sealed (the stage records the sealing on the timeline itself). A seal
    that found nothing, or no key to seal with, completes nothing.
    """
    done = []
    for st in run.steps:
        if st.kind == "evidence" and st.status == "active":
            st.status = "done"
            st.done_at = ts
            st.measure = "sealed"
            st.note = None
            done.append(st.step_id)
    return done


def progress_due(ctx: Ctx, st: StepRun, after: datetime) -> datetime | None:
    """The next progress-report time later than ``after``, on ``st``'s grid (None: out of range, recorded).

    The first one is an interval after ``after``; later ones keep the grid
    of the first: one report however long the stage slept.
    """
    interval = ctx.run.policy.progress_interval
    if st.next_due is None:
        at = shift(after, interval)
    else:
        at = shift(st.next_due, interval * ((after - st.next_due) // interval + 1))
    if at is None:
        ctx.cannot(
            "progress_schedule",
            error="out-of-range",
            outcome="no-schedule",
            how="no further progress report (処理経過) is scheduled; report by hand",
            step=st.step_id,
        )
    return at
