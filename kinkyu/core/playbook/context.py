"""One call's worth of work on a run: the run, ``now``, and the effects produced so far.

:class:`Ctx` is all the modules above share: they change ``ctx.run`` and
produce effects through :meth:`Ctx.log`, :meth:`Ctx.notify`,
:meth:`Ctx.escalate` and :meth:`Ctx.cannot`, so every effect is on the
timeline in the order it happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook.definition import Step
from kinkyu.core.playbook.effects import Audience, Effect, EscalateReason, NotifyKind, TimelineAppended
from kinkyu.core.playbook.effects import Escalate as EscalateEffect
from kinkyu.core.playbook.effects import Notify as NotifyEffect
from kinkyu.core.playbook.exceptions import PlaybookRunError
from kinkyu.core.playbook.ppc import Rule8Facts
from kinkyu.core.playbook.state import PlaybookRun, StepRun
from kinkyu.core.timespan import CalendarRangeError, jst_text, shift

SYSTEM = "kinkyu"
# The timeline kind of a computation the run could not make (kinkyu.core.playbook.run's docstring).
COMPUTATION_FAILED = "computation_failed"
# What a person reads where a deadline could not be computed.
DUE_UNKNOWN = "要確認 (to be confirmed)"
# The errors a time computation raises: datetime's range (OverflowError), a date or a calendar
# outside what is known (ValueError, CalendarRangeError). Anything else is a bug, not input.
RANGE_ERRORS = (ArithmeticError, ValueError)


def failure_code(exc: BaseException) -> str:
    """The code of a computation's failure, never ``str(exc)``: a ValueError's text can quote its value."""
    if isinstance(exc, CalendarRangeError):
        return exc.code
    if isinstance(exc, ArithmeticError):
        return "out-of-range"
    return "invalid"


def span(value: timedelta) -> str:
    """A duration as a person writes it: ``30m``, ``1h``, ``7d``."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def jst(ts: datetime) -> str:
    """A time on the timeline: Japan time."""
    return jst_text(ts)


def iso(ts: datetime | None) -> str | None:
    """A time in an entry's data (None stays None)."""
    return ts.isoformat() if ts is not None else None


def require_aware(now: datetime) -> None:
    """Refuse a naive ``now``: every deadline is a moment, not a wall-clock reading."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise PlaybookRunError("now must be an aware datetime")


class Ctx:
    """The run, ``now``, the effects so far and the follow-ups already seen."""

    def __init__(self, run: PlaybookRun, now: datetime) -> None:
        require_aware(now)
        self.run = run
        self.now = now
        self.out: list[Effect] = []
        self.seen = set(run.seen)

    def step_def(self, st: StepRun) -> Step:
        """The playbook's definition of ``st``."""
        return self.run.playbook.step(st.step_id)

    def log(
        self, what: str, kind: str, data: dict[str, Any] | None = None, *, who: str = SYSTEM, ts: datetime | None = None
    ) -> TimelineEntry:
        """Append a timeline entry and its :class:`TimelineAppended` effect."""
        entry = TimelineEntry(ts or self.now, who, what, kind, dict(data or {}))
        self.run.timeline.append(entry)
        self.out.append(TimelineAppended(self.run.incident_id, len(self.run.timeline) - 1, entry))
        return entry

    def notify(
        self,
        st: StepRun,
        kind: NotifyKind,
        *,
        audience: Audience = "city",
        due: datetime | None = None,
        task_id: str | None = None,
        missing: tuple[str, ...] = (),
        rule8: Rule8Facts | None = None,
        due_unknown: bool = False,
        written: bool | None = None,
        instruction: str | None = None,
    ) -> NotifyEffect:
        """A message about ``st``; its effect id counts the step's messages.

        ``written``: the message carries a written report (its link), by default when the step is written.
        """
        run = self.run
        step = run.playbook.step(st.step_id)
        st.sent += 1
        effect = NotifyEffect(
            effect_id=f"{run.incident_id}/{st.step_id}/{kind}/{st.sent}",
            incident_id=run.incident_id,
            contract_id=run.contract_id,
            jurisdiction=run.jurisdiction,
            step_id=st.step_id,
            audience=audience,
            kind=kind,
            due=due,
            urgency=step.urgency,
            article=step.clause.article,
            written=step.written if written is None else written,
            possible=run.possible,
            items=tuple(step.items),
            missing_items=missing,
            rule8=step.rule8,
            task_id=task_id,
            contract_ended=run.contract_ended,
            rule8_facts=rule8.to_json() if rule8 is not None else None,
            due_unknown=due_unknown,
            nature=run.nature,
            instruction=instruction,
        )
        self.out.append(effect)
        return effect

    def escalate(
        self, reason: EscalateReason, *, step_id: str | None, task_id: str | None = None, due: datetime | None = None
    ) -> None:
        """Escalate one level: an entry and an :class:`~kinkyu.core.playbook.effects.Escalate` effect."""
        run = self.run
        run.escalations += 1
        effect_id = f"{run.incident_id}/escalate/{run.escalations}"
        subject = f"task {task_id}" if task_id else f"step {step_id}"
        self.log(
            f"escalated to level {run.escalations} ({reason.replace('_', ' ')}: {subject})",
            "escalated",
            {"reason": reason, "level": run.escalations, "step": step_id, "task_id": task_id, "effect_id": effect_id},
        )
        self.out.append(
            EscalateEffect(
                effect_id=effect_id,
                incident_id=run.incident_id,
                contract_id=run.contract_id,
                reason=reason,
                step_id=step_id,
                task_id=task_id,
                due=due,
                level=run.escalations,
            )
        )

    def cannot(
        self,
        computation: str,
        *,
        error: str,
        outcome: str,
        how: str,
        step: str | None = None,
        task_id: str | None = None,
    ) -> None:
        """Record, once per computation and step (or task), that the run could not compute it, and what it did.

        ``how`` is the human sentence of ``outcome``. Codes and ids only: the
        value and the exception's text stay out (they may echo the input).
        """
        for e in self.run.timeline:
            if e.kind == COMPUTATION_FAILED and (
                e.data.get("computation"),
                e.data.get("step"),
                e.data.get("task_id"),
            ) == (computation, step, task_id):
                return
        subject = f"task {task_id}" if task_id else (f"step {step}" if step else "the incident")
        self.log(
            f"{computation.replace('_', ' ')} of {subject} cannot be computed from the incident's times "
            f"({error}): {how}",
            COMPUTATION_FAILED,
            {"computation": computation, "step": step, "task_id": task_id, "error": error, "outcome": outcome},
        )

    def due_at(
        self, base: datetime, within: timedelta, *, step: str | None = None, task_id: str | None = None
    ) -> datetime | None:
        """``base + within`` as a deadline; None (unknown, 要確認) and a coded entry when it is out of range."""
        due = shift(base, within)
        if due is None:
            self.cannot(
                "deadline",
                error="out-of-range",
                outcome="due-unknown",
                how=f"due {DUE_UNKNOWN}; the step goes on without a deadline",
                step=step,
                task_id=task_id,
            )
        return due
