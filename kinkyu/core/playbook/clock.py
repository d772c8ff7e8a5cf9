"""Time passing on a run: missed deadlines (once each), unacknowledged reports, progress reports, reminders.

One step's clock failing (a time out of range) leaves that step unchecked and
every other step's and task's deadlines running.
"""

from __future__ import annotations

from datetime import datetime

from kinkyu.core.playbook.context import RANGE_ERRORS, Ctx, failure_code, jst, span
from kinkyu.core.playbook.lifecycle import confirm
from kinkyu.core.playbook.national_report import remind
from kinkyu.core.playbook.state import StepRun
from kinkyu.core.playbook.states import ACK_CHASED, CLOSED, TRIAGE
from kinkyu.core.playbook.steps import progress_due
from kinkyu.core.timespan import shift


def tick(ctx: Ctx) -> None:
    """Check every deadline at ``ctx.now``."""
    run = ctx.run
    now = ctx.now
    # The city's duties to the PPC outlast the contractor's response: remind even when closed.
    remind(ctx)
    if run.state == CLOSED:
        return
    for st in list(run.steps):
        try:
            tick_step(ctx, st)
        except RANGE_ERRORS as exc:
            # One step's clock must not stop the others' (nor the tasks' below).
            ctx.cannot(
                "clock",
                error=failure_code(exc),
                outcome="step-not-checked",
                how="this step's deadlines are not checked; see to it by hand",
                step=st.step_id,
            )
    for task in run.tasks:
        if task.status == "open" and task.due is not None and not task.missed and now >= task.due:
            task.missed = True
            ctx.log(
                f"deadline missed: task {task.task_id} ({task.owner}) was due {jst(task.due)}",
                "deadline_missed",
                {"task_id": task.task_id, "due": task.due.isoformat()},
            )
            ctx.escalate("deadline_missed", step_id=task.step_id, task_id=task.task_id, due=task.due)


def tick_step(ctx: Ctx, st: StepRun) -> None:
    """One step's deadlines at ``now``: missed, unacknowledged, a progress report due."""
    run = ctx.run
    now = ctx.now
    step = ctx.step_def(st)
    if st.kind == "triage":
        _tick_triage(ctx, st)
        return
    chased = st.acknowledged_at is None  # a written report whose e-mail was acknowledged waits for its receipt
    if st.status == "sent" and st.kind in ACK_CHASED and chased and not st.ack_escalated and st.sent_at is not None:
        chase = ack_due(ctx, st)
        if chase is not None and now >= chase:
            st.ack_escalated = True
            ctx.log(
                f"{st.kind} not acknowledged within {span(run.policy.ack_timeout)}: escalating to the next contact",
                "ack_timeout",
                {"step": st.step_id, "sent_at": st.sent_at.isoformat()},
            )
            ctx.escalate("no_acknowledgement", step_id=st.step_id, due=st.due)
    if st.status in {"active", "sent"} and st.due is not None and not st.missed and now >= st.due:
        st.missed = True
        what = "not done"
        if st.status == "sent":
            what = "not received (受領) by the city" if step.written else "not acknowledged by the city"
        ctx.log(
            f"deadline missed: {st.kind} {what} by {jst(st.due)} ({step.urgency or 'policy'}, {step.clause.article})",
            "deadline_missed",
            {"step": st.step_id, "due": st.due.isoformat(), "urgency": step.urgency},
        )
        ctx.escalate("deadline_missed", step_id=st.step_id, due=st.due)
    if st.kind == "progress_report" and st.status == "active" and st.next_due is not None and now >= st.next_due:
        due = st.next_due
        ctx.log(
            f"progress report (処理経過) to the city due {jst(due)} ({step.clause.article})",
            "report_issued",
            {"step": st.step_id, "due": due.isoformat()},
        )
        ctx.notify(st, "progress_report", due=due)
        st.next_due = progress_due(ctx, st, now)


def _tick_triage(ctx: Ctx, st: StepRun) -> None:
    """A missed triage escalates; with ``report_when_triage_missed`` it reports as a possible breach."""
    run = ctx.run
    if st.status == "active" and st.due is not None and not st.missed and ctx.now >= st.due:
        st.missed = True
        ctx.log(
            f"deadline missed: triage was due {jst(st.due)}",
            "deadline_missed",
            {"step": st.step_id, "due": st.due.isoformat()},
        )
        ctx.escalate("deadline_missed", step_id=st.step_id, due=st.due)
        if run.policy.report_when_triage_missed and run.state == TRIAGE:
            st.status = "done"
            st.done_at = ctx.now
            st.note = "triage deadline missed; reported as a possible breach"
            run.triage = "not_needed"
            run.possible = True
            confirm(ctx, st.due, "triage deadline missed (report_when_triage_missed)")


def ack_due(ctx: Ctx, st: StepRun) -> datetime | None:
    """When an unacknowledged report of ``st`` is chased (None: out of range, recorded once)."""
    at = shift(st.sent_at, ctx.run.policy.ack_timeout) if st.sent_at is not None else None
    if at is None:
        ctx.cannot(
            "acknowledgement_timeout",
            error="out-of-range",
            outcome="not-chased",
            how="an unacknowledged report is not chased; its deadline still is",
            step=st.step_id,
        )
    return at
