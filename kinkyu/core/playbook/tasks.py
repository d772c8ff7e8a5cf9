"""Tasks: what a person must do (an instruction, a missing report item, a step), and report items known.

Open tasks block closure. A task of ``source`` ``step`` is its step's work:
the step is done with it.
"""

from __future__ import annotations

from datetime import datetime

from kinkyu.catalogue import P_, Texts
from kinkyu.core.playbook.context import SYSTEM, Ctx, iso, jst
from kinkyu.core.playbook.state import Task
from kinkyu.core.playbook.states import TaskSource

# The titles of the tasks a run opens: English here, Japanese in the message catalogue under ``task.<key>``.
# A run stores the key and its values (codes: a step id, a report item); the reader's language names
# them where the task is shown (kinkyu.messages.timeline.task_text).
TASK_TITLES = Texts(
    "task.",
    {
        "by_hand": P_("task.by_hand", "do '{step}' by hand"),
        "supply": P_("task.supply", "supply '{item}' in the written report"),
        "report_request": P_("task.report_request", "report requested by the {unit}"),
        "instruction": P_("task.instruction", "instruction from the {unit}"),
    },
)
# The key of a step's own task (recovery, recurrence prevention): titled as its step.
STEP_TITLE = "step"


def item_known(ctx: Ctx, item: str) -> bool:
    """Whether the run knows report item ``item`` (content, count, place, circumstances) or it was supplied."""
    f = ctx.run.facts
    if item in ctx.run.supplied:
        return True
    if item == "content":
        return bool(f.data_items)
    if item == "count":
        return f.records > 0
    if item == "place":
        # For a detection the place is the system that logged it.
        return f.has_location or (f.origin == "detection" and bool(f.system))
    # circumstances: a detection knows what, when and where; a filing needs its description.
    return f.origin == "detection" or f.has_summary


def open_task(  # a task's fields, all named at every call
    ctx: Ctx,
    *,
    task_id: str,
    title_key: str | None,
    title_values: dict[str, str] | None = None,
    title: str = "",
    owner: str,
    due: datetime | None,
    source: TaskSource,
    step_id: str | None,
    item: str | None = None,
    who: str = SYSTEM,
    instruction: str | None = None,
) -> Task | None:
    """Open ``task_id`` (once) and tell its owner, unless it is a report item (the report names those).

    Its title is ``title_key`` with ``title_values`` (codes), or, without a key, ``title`` as given.
    ``instruction``: the city's instruction (its category code) the task carries out, named in the mail.
    """
    if ctx.run.task(task_id) is not None:
        return None
    task = Task(
        task_id,
        title,
        owner,
        due,
        source,
        step_id,
        ctx.now,
        item=item,
        title_key=title_key,
        title_values=dict(title_values) if title_values else None,
    )
    ctx.run.tasks.append(task)
    ctx.log(
        f"task {task_id} opened for {owner}; due {jst(due) if due else '-'}",
        "task_opened",
        {"task_id": task_id, "owner": owner, "due": iso(due), "source": source, "step": step_id, "item": item},
        who=who,
    )
    if source != "report_item":
        st = ctx.run.step(step_id) if step_id else None
        if st is not None:
            ctx.notify(st, "task_assigned", audience="contractor", due=due, task_id=task_id, instruction=instruction)
    return task


def complete_task(ctx: Ctx, task: Task, *, who: str, ts: datetime, how: str) -> None:
    """Mark ``task`` done; a step that exists for its task is done with it."""
    task.status = "done"
    task.done_at = ts
    task.done_by = who
    late = task.due is not None and ts > task.due
    ctx.log(
        f"task {task.task_id} done ({how})" + (" after its due time" if late else ""),
        "task_done",
        {"task_id": task.task_id, "late": late, "how": how},
        who=who,
        ts=ts,
    )
    if task.source == "step" and task.step_id:
        st = ctx.run.step(task.step_id)
        if st is not None and st.status == "active":
            st.status = "done"
            st.done_at = ts


def recheck_items(ctx: Ctx, *, who: str = SYSTEM, ts: datetime | None = None) -> None:
    """Close the report-item tasks now known; a report already sent gets its supplement (追完)."""
    supplied_steps: list[str] = []
    for task in ctx.run.tasks:
        if task.status == "open" and task.source == "report_item" and task.item and item_known(ctx, task.item):
            complete_task(ctx, task, who=who, ts=ts or ctx.now, how="item now known")
            if task.step_id and task.step_id not in supplied_steps:
                supplied_steps.append(task.step_id)
    for step_id in supplied_steps:
        st = ctx.run.step(step_id)
        if st is None or not st.sent:
            continue
        step = ctx.step_def(st)
        missing = tuple(i for i in step.items if not item_known(ctx, i))
        ctx.log(
            f"supplementary report (追完) to the city: {len(step.items) - len(missing)} of {len(step.items)} "
            "clause items now known",
            "report_issued",
            {"step": step_id, "missing_items": list(missing)},
        )
        ctx.notify(st, "supplementary_report", missing=missing)
