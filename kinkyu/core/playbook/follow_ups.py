"""Acting on a follow-up: each request :mod:`~kinkyu.core.playbook.followup` read from it, in order.

A follow-up is applied once (recognised by its ``event_id``, else by its
content) and always recorded on the timeline with its screened data.
"""

from __future__ import annotations

from datetime import datetime

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook.context import SYSTEM, Ctx
from kinkyu.core.playbook.followup import (
    Acknowledged,
    CommandResultGiven,
    Delivered,
    FollowUp,
    Instruction,
    PPCFacts,
    PPCOverride,
    Request,
    Resolution,
    StepDone,
    Supplied,
    TaskDone,
    TriageDecision,
    parse,
)
from kinkyu.core.playbook.keys import ID_LIMIT, WITHHELD
from kinkyu.core.playbook.lifecycle import decide, reopen, resolve
from kinkyu.core.playbook.national_report import city_learned, delivered, override, take_facts
from kinkyu.core.playbook.ppc import CLOCK_STEP_KINDS
from kinkyu.core.playbook.state import MEASURED_KINDS, PlaybookRun, StepRun
from kinkyu.core.playbook.states import CLOSED, UNFINISHED, CommandResult
from kinkyu.core.playbook.steps import refresh_containment
from kinkyu.core.playbook.tasks import complete_task, open_task, recheck_items
from kinkyu.core.timespan import shift

_RESULTS: dict[str, CommandResult] = {"done": "done", "failed": "failed", "declined": "declined"}


def follow_up(ctx: Ctx, entry: TimelineEntry) -> None:
    """Apply a follow-up entry once: record it, then act on each of its requests."""
    fu = parse(entry)
    if fu.key in ctx.seen:
        return
    ctx.seen.add(fu.key)
    ctx.run.seen.append(fu.key)
    ctx.log(
        f"{fu.kind} received" + (f" ({fu.raw_kind})" if fu.kind != fu.raw_kind else ""),
        fu.kind,
        fu.data,
        who=fu.who,
        ts=fu.ts,
    )
    for request in fu.requests:
        _act(ctx, fu, request)


def _act(ctx: Ctx, fu: FollowUp, request: Request) -> None:  # one case per request type
    who, ts = fu.who, fu.ts
    match request:
        case Delivered():
            delivered(ctx, request, ts)
        case Acknowledged(receipt=receipt, report=report) if receipt and report in LATER_REPORTS:
            later_report_received(ctx, report, receipt, who, ts)
        case Acknowledged(step=step_id, receipt=receipt):
            acknowledge(ctx, step_id, who, ts, receipt=receipt)
        case Instruction():
            instruction(ctx, request, who, ts)
        case Resolution():
            resolve(ctx, who)
        case PPCFacts():
            take_facts(ctx, request)
        case PPCOverride():
            override(ctx, request, who, ts)
        case TriageDecision():
            decide(ctx, request, who, ts)
        case CommandResultGiven(command_id=command_id, result=result):
            command_result(ctx, command_id, result, who, ts)
        case Supplied(items=items):
            supply(ctx, items, who, ts)
        case StepDone():
            step_done(ctx, request, who, ts)
        case TaskDone(task_id=task_id):
            task = ctx.run.task(task_id)
            if task is None:
                ctx.log(f"no task {task_id} on this incident", "note", {}, who=who)
            elif task.status == "open":
                complete_task(ctx, task, who=who, ts=ts, how=fu.kind)


LATER_REPORTS = frozenset({"progress", "final"})


def later_report_received(ctx: Ctx, report: str, receipt: str, who: str, ts: datetime) -> None:
    """The city received a later written report (a 追完's progress report, the final one sent with the closure).

    It is recorded as that report's receipt (受領); the first report's steps are left as they are (their own
    receipt completes them). The final report's receipt is the closure step's.
    """
    if report == "final":
        closure = next((s for s in ctx.run.steps if s.kind == "closure"), None)
        if closure is not None and closure.received_at is None:
            closure.received_at = ts
    ctx.log(
        f"the city received the {report} written report (受領: {receipt})",
        "report_received",
        {"report": report, "receipt": receipt},
        who=who,
        ts=ts,
    )


def reports_awaiting_receipt(run: PlaybookRun) -> list[str]:
    """The written reports sent to the city and not yet received (受領): ``first``, ``progress``, ``final``.

    The first: a written report step sent and not done. A later one: a supplement (追完) of a written step,
    or the closure of a run whose playbook reports in writing, each until its receipt is recorded.
    """
    out: list[str] = []
    if any(s.status == "sent" and run.playbook.step(s.step_id).written for s in run.steps):
        out.append("first")
    if not any(s.written for s in run.playbook.steps):
        return out
    received = {e.data.get("report") for e in run.timeline if e.kind == "report_received"}
    kinds = {s.step_id: s.kind for s in run.steps}
    for e in run.timeline:
        if e.kind != "report_issued" or not isinstance(e.data, dict):
            continue
        step_kind = kinds.get(str(e.data.get("step")))
        report = "final" if step_kind == "closure" else "progress" if "missing_items" in e.data else None
        if report is not None and report not in received and report not in out:
            out.append(report)
    return out


def acknowledge(ctx: Ctx, step_id: str | None, who: str, ts: datetime, *, receipt: str | None = None) -> None:
    """The city acknowledged a report (``step_id``; None: every report awaiting it): the report is made.

    A written report (書面: 小金井市 第19条, 豊田市 第13条, 品川区 第17) is made only when
    the city receives the 事故報告書 itself: an acknowledgement with ``receipt``
    (``console``: downloaded from the console and acknowledged as 受領). The
    acknowledgement of the e-mail that carried its link tells that the city
    learned of the incident (its clock starts) and leaves the step waiting for
    the receipt, overdue after its due time.
    """
    targets = [
        s
        for s in ctx.run.steps
        if s.status == "sent" and (step_id is None or s.step_id == step_id) and ctx.step_def(s).to == "city"
    ]
    for st in targets:
        if st.kind in CLOCK_STEP_KINDS:
            city_learned(ctx, ts, "acknowledgement", st.step_id)
        if ctx.step_def(st).written and receipt is None:
            if st.acknowledged_at is None:
                st.acknowledged_at = ts
                ctx.log(
                    f"{st.kind}: the city acknowledged the e-mail; the written report (書面) awaits its receipt (受領)",
                    "report_acknowledged",
                    {"step": st.step_id, "awaiting": "receipt"},
                    who=who,
                    ts=ts,
                )
            continue
        st.status = "done"
        st.done_at = ts
        if ctx.step_def(st).written:
            st.received_at = ts
            st.acknowledged_at = st.acknowledged_at or ts
        late = st.due is not None and ts > st.due
        received = {"receipt": receipt} if receipt is not None else {}
        ctx.log(
            f"{st.kind} acknowledged by the city"
            + (f" (written report received, 受領: {receipt})" if receipt is not None else "")
            + (" after its due time" if late else ""),
            "step_done",
            {"step": st.step_id, "late": late, **received},
            who=who,
            ts=ts,
        )


def instruction(ctx: Ctx, given: Instruction, who: str, ts: datetime) -> None:
    """A city instruction or report request becomes a task, due as given or by the clause or the policy."""
    run = ctx.run
    step = next((s for s in run.steps if s.kind == "report_request"), None) if given.report_request else None
    if step is None:
        step = next((s for s in run.steps if s.kind == "instructions"), None)
    step_def = ctx.step_def(step) if step is not None else None
    due = given.due
    if due is None and given.within is not None:
        due = shift(ts, given.within)
    task_id = given.task_id or f"instruction:{given.event_id or len(run.tasks) + 1}"
    if due is None:
        if step_def is not None and step_def.kind == "report_request" and step_def.urgency is not None:
            due = ctx.due_at(ts, run.policy.within(step_def.urgency), task_id=task_id)
        else:
            due = ctx.due_at(ts, run.policy.instruction_within, task_id=task_id)
    if run.state == CLOSED:
        reopen(ctx, "a city instruction arrived")
    open_task(
        ctx,
        task_id=task_id,
        # The city's own title (a code) as given; else what the task is, in the reader's language.
        title_key=None if given.title else "report_request" if given.report_request else "instruction",
        title=given.title or "",
        owner=given.owner or "contractor",
        due=due,
        source="report_request" if given.report_request else "city_instruction",
        step_id=step.step_id if step is not None else None,
        who=who,
        # The mail names the instruction itself, not only the step (委託者の指示に従う); a code, never free text.
        instruction=given.title if given.title and given.title != WITHHELD else None,
    )


def command_result(ctx: Ctx, command_id: str, result: str, who: str, ts: datetime) -> None:
    """A containment command's result; a failure escalates once; the step is done when all have one."""
    cmd = ctx.run.command(command_id)
    if cmd is None:
        ctx.log(f"no containment command {command_id[:ID_LIMIT]} on this incident", "note", {}, who=who)
        return
    status = _RESULTS.get(result)
    if status is None:
        ctx.log(f"containment result for {command_id} not understood (done, failed, declined)", "note", {}, who=who)
        return
    cmd.status = status
    cmd.result_at = ts
    ctx.log(
        f"containment {cmd.command.action} on {cmd.command.target_type} {cmd.command.target}: {result}",
        "containment_result",
        {"command_id": command_id, "result": result},
        who=who,
        ts=ts,
    )
    if status == "failed" and not cmd.escalated:
        cmd.escalated = True
        ctx.escalate("containment_failed", step_id=cmd.command.step_id)
    st = ctx.run.step(cmd.command.step_id)
    if st is not None:
        refresh_containment(ctx, st, ts)


def step_done(ctx: Ctx, given: StepDone, who: str, ts: datetime) -> None:
    """A step done another way (a report by phone, recovery, the city's publication); its task with it.

    Containment and evidence are done only with what was done (``measure``)
    or why nothing applies (``reason``), said by a person; a written report
    only when it was handed over (``receipt: hand``).
    """
    step_id = given.step_id
    st = ctx.run.step(step_id)
    if st is None or st.status not in UNFINISHED or st.kind in {"triage", "closure"}:
        ctx.log(f"step {step_id[:ID_LIMIT]} cannot be marked done here", "note", {}, who=who)
        return
    refused = _unmeasured(ctx, st, given, who)
    if refused is not None:
        ctx.log(
            f"step {st.step_id} not done: {refused}", "step_done_refused", {"step": st.step_id, "why": refused}, who=who
        )
        return
    if st.kind in MEASURED_KINDS:
        st.measure = given.measure if given.measure not in {None, WITHHELD} else f"none:{given.reason}"
    if ctx.step_def(st).written:
        st.received_at = ts
    st.status = "done"
    st.done_at = ts
    if st.kind in CLOCK_STEP_KINDS:
        # A report made another way (by phone) reached the city too.
        city_learned(ctx, ts, "step_done", st.step_id)
    late = st.due is not None and ts > st.due
    ctx.log(
        f"step {step_id} done" + (" after its due time" if late else ""),
        "step_done",
        {"step": step_id, "late": late},
        who=who,
        ts=ts,
    )
    task = ctx.run.task(step_id)
    if task is not None and task.status == "open":
        complete_task(ctx, task, who=who, ts=ts, how="step done")


def _unmeasured(ctx: Ctx, st: StepRun, given: StepDone, who: str) -> str | None:
    """Why ``given`` cannot complete ``st`` (a code-like phrase), or None when it can."""
    unusable = {None, WITHHELD}  # nothing said, or free text (which may name a resident)
    if st.kind in MEASURED_KINDS:
        if who == SYSTEM:
            return "person-required"
        if given.measure in unusable and given.reason in unusable:
            return "measure-or-reason-required"
    if ctx.step_def(st).written and st.kind in CLOCK_STEP_KINDS | {"written_report"} and given.receipt != "hand":
        return "receipt-required"
    return None


def supply(ctx: Ctx, items: tuple[str, ...], who: str, ts: datetime) -> None:
    """Report items now known (追完): their tasks close and the city gets a supplementary report."""
    for item in items:
        if item not in ctx.run.supplied:
            ctx.run.supplied.append(item)
    recheck_items(ctx, who=who, ts=ts)
