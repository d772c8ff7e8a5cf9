"""A timeline entry as a sentence in the reader's language, from its kind and parameters.

The run records ``kind`` and ``data`` (codes, ids, counts, times) beside an English developer line
(``what``). Documents never print ``what``: :func:`describe` builds the sentence from ``kind`` and
``data`` through the catalogue. Entries stored by earlier releases carry the same kinds and data,
so they render the same way; an entry of a kind this module does not know is shown by its kind's
label (never its English line).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from kinkyu.core.escalation import contact_for
from kinkyu.core.jurisdictions import unit_of
from kinkyu.core.labels import kind_label, nature_label, rule_label
from kinkyu.core.legal.triggers import TRIGGER_NAMES
from kinkyu.core.playbook.definition import REPORT_ITEMS
from kinkyu.core.playbook.keys import WITHHELD
from kinkyu.core.playbook.tasks import STEP_TITLE, TASK_TITLES
from kinkyu.core.timefmt import doc_date, doc_datetime, parse_dt
from kinkyu.exceptions import KinkyuError
from kinkyu.messages import N_, Lang, PartyWords, gettext, party_fields, unit_word
from kinkyu.messages.codes import CODE_WORDS, code_label

if TYPE_CHECKING:
    from kinkyu.core.contract import ContractProfile
    from kinkyu.core.playbook import PlaybookRun
    from kinkyu.core.playbook.state import Task

_DATE_LENGTH = len("2026-11-20")


def _none(_: str) -> str | None:
    return None


def _same(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Names:
    """What a sentence may name, looked up by the caller (a report, a page, a message) from the run.

    ``ident`` is how an account or target id is printed (a report withholds some); ``unit`` is what
    the local body is (市, 区, 町): "the city" is never 市 for 品川区; ``parties`` what the contract
    calls the parties (the run's playbook; 甲 / 乙 when None).
    """

    lang: Lang = "ja"
    unit: str = "市"
    parties: PartyWords | None = None
    incident_kind: str | None = None
    step_title: Callable[[str], str | None] = _none
    task_title: Callable[[str], str | None] = _none
    command: Callable[[str], tuple[str, str, str] | None] = lambda _c: None
    recipient: Callable[[str], str | None] = _none
    ident: Callable[[str], str] = _same
    extra: Mapping[str, str] = field(default_factory=dict)

    def t(self, msgid: str, /, **params: object) -> str:
        """``msgid`` from the catalogue; the local body's and the parties' words as fields (``%(unit)s``, …)."""
        return gettext(self.lang, msgid, **(party_fields(self.lang, self.unit, self.parties) | params))

    @property
    def unit_word(self) -> str:
        """市 / 区 / 町 in Japanese; "city" / "ward" / "town" in English."""
        return unit_word(self.unit, self.lang)

    def code(self, context: str, value: object) -> str:
        """A code's label (``owner``, ``state``, ``action``, ``target``, …)."""
        return code_label(self.lang, context, str(value), self.unit, self.parties)

    def step(self, step_id: object) -> str:
        """A step by its title in the playbook, else its kind's label."""
        if not isinstance(step_id, str) or not step_id:
            return self.t(N_("(unknown step)"))
        return self.step_title(step_id) or self.code("step", step_id)

    def task(self, task_id: object) -> str:
        """A task by its title, else as a step (a step's task shares its id), else its id."""
        if not isinstance(task_id, str) or not task_id:
            return self.t(N_("(unknown task)"))
        return self.task_title(task_id) or self.step_title(task_id) or self.code("step", task_id)

    def instruction(self, code: str) -> str:
        """A city's instruction by its words; a code without words is not shown raw (it is in the record)."""
        if code in CODE_WORDS["instruction"].english:
            return self.code("instruction", code)
        return self.t(N_("(an instruction recorded separately)"))

    def when(self, value: object) -> str:
        """A stored time (ISO 8601; a bare date is a day) in the document style; 要確認 when there is none."""
        if isinstance(value, str) and len(value) == _DATE_LENGTH:
            return self.day(value)
        ts = parse_dt(value) if isinstance(value, str) else value if isinstance(value, datetime) else None
        if ts is None or ts.tzinfo is None:
            return self.t(N_("to be confirmed"))
        return doc_datetime(ts, self.lang)

    def day(self, value: object) -> str:
        """A stored date (``YYYY-MM-DD``) or time as its calendar day; 要確認 when there is none."""
        if isinstance(value, str) and len(value) == _DATE_LENGTH:
            try:
                return doc_date(date.fromisoformat(value), self.lang)
            except ValueError:
                return self.t(N_("to be confirmed"))
        ts = parse_dt(value) if isinstance(value, str) else None
        if ts is None or ts.tzinfo is None:
            return self.t(N_("to be confirmed"))
        return doc_date(ts, self.lang)

    def join(self, values: list[str]) -> str:
        """A list as the language writes it."""
        return ("、" if self.lang == "ja" else ", ").join(values)

    def rule(self, rule: object) -> str:
        """A detection rule's label."""
        ja, en = rule_label(str(rule))
        return ja if self.lang == "ja" else en


def _s(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _list(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _late(n: Names, data: Mapping[str, Any]) -> str:
    return n.t(N_(" (after its due time)")) if data.get("late") else ""


# -- one function per kind ---------------------------------------------------------------------


def _finding(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("Detected: %(rule)s"), rule=n.rule(_s(d, "rule")))


def _findings_counted(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("More than %(listed)s findings: further ones are counted, not listed"), listed=d.get("listed", "-"))


def _filed(n: Names, _d: Mapping[str, Any], what: str) -> str:
    kind = n.incident_kind or (what.split(": ", 1)[1] if what.startswith("filed: ") else "other")
    ja, en = kind_label(kind)
    return n.t(N_("Incident filed: %(kind)s"), kind=ja if n.lang == "ja" else en)


def _withheld(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("%(count)s data item(s) not recorded: not item codes (the filing as sent is kept in its sealed evidence)"),
        count=d.get("count", "-"),
    )


def _folded(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("More than %(n)s accounts within an hour on %(rule)s: further accounts are recorded in this incident"),
        n=d.get("accounts_open", "-"),
        rule=n.rule(_s(d, "rule")),
    )


def _playbook_started(n: Names, d: Mapping[str, Any], _w: str) -> str:
    steps = _list(d, "steps")
    rules = [n.rule(r) for r in _list(d, "rules")]
    if d.get("origin") == "detection":
        return n.t(
            N_("Response procedure started for a detection (%(rules)s); %(count)s step(s) apply"),
            rules=n.join(rules) or "-",
            count=len(steps),
        )
    ja, en = kind_label(_s(d, "kind") or "other")
    return n.t(
        N_("Response procedure started for a filed incident (%(kind)s); %(count)s step(s) apply"),
        kind=ja if n.lang == "ja" else en,
        count=len(steps),
    )


def _contract_ended(n: Names, d: Mapping[str, Any], _w: str) -> str:
    article = _s(d, "article")
    if article:
        return n.t(
            N_("The contract ended on %(ends)s; the duties continue after it ends (%(article)s)"),
            ends=n.when(d.get("ends")),
            article=article,
        )
    return n.t(
        N_("The contract ended on %(ends)s; the response runs all the same (no clause says so)"),
        ends=n.when(d.get("ends")),
    )


def _verdict(n: Names, party: object) -> str:
    if not isinstance(party, Mapping):
        return n.t(N_("to be confirmed"))
    if not party.get("reportable"):
        return n.t(N_("not reportable"))
    fired = [TRIGGER_NAMES.say(n.lang, f) for f in party.get("fired", []) if isinstance(f, str)]
    return n.t(N_("reportable (%(triggers)s)"), triggers=n.join(fired)) if fired else n.t(N_("reportable"))


def _ppc_assessment(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("Report to the PPC: contractor %(contractor)s; the %(unit)s %(city)s"),
        contractor=_verdict(n, d.get("contractor")),
        city=_verdict(n, d.get("city")),
    )


def _ppc_override(n: Names, d: Mapping[str, Any], _w: str) -> str:
    party = _s(d, "party")
    value = d.get("ppc_override")
    decided = (
        n.t(N_("reportable")) if str(value).lower() in {"true", "yes", "reportable"} else n.t(N_("not reportable"))
    )
    whom = n.code("party", party) if party else n.t(N_("both parties"))
    return n.t(N_("Report to the PPC decided by staff for %(whom)s: %(decided)s"), whom=whom, decided=decided)


def _ppc_override_refused(n: Names, _d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("A decision on the report to the PPC was not accepted"))


def _ppc_clock(n: Names, d: Mapping[str, Any], _w: str) -> str:
    if not d.get("learned"):
        return n.t(
            N_(
                "The %(unit)s learned of the incident (the contractor is released from its own report to the PPC); "
                "the dates of the %(unit)s's preliminary and final reports are to be confirmed"
            )
        )
    return n.t(
        N_(
            "The %(unit)s learned of the incident on %(learned)s (the contractor is released from its own report to "
            "the PPC): preliminary report due %(preliminary)s, final report due %(final)s (%(days)s days)"
        ),
        learned=n.day(d.get("learned")),
        preliminary=n.day(d.get("preliminary_due")),
        final=n.day(d.get("final_due")),
        days=d.get("final_days", "-"),
    )


def _ppc_reminder(n: Names, d: Mapping[str, Any], _w: str) -> str:
    report = n.code("ppc_report", _s(d, "report"))
    return n.t(
        N_("The %(unit)s is reminded: its %(report)s to the PPC is due %(due)s"), report=report, due=n.day(d.get("due"))
    )


def _ppc_reminder_skipped(n: Names, d: Mapping[str, Any], _w: str) -> str:
    report = n.code("ppc_report", _s(d, "report"))
    return n.t(
        N_("No reminder of the %(report)s to the PPC: it was due %(due)s"), report=report, due=n.day(d.get("due"))
    )


def _computation_failed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    subject = n.task(d.get("task_id")) if d.get("task_id") else n.step(d.get("step"))
    return n.t(
        N_("The %(computation)s of %(subject)s cannot be computed from the incident's times: %(outcome)s"),
        computation=n.code("computation", _s(d, "computation")),
        subject=subject,
        outcome=n.code("outcome", _s(d, "outcome")),
    )


def _seal_requested(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("Evidence sealing requested: %(events)s event(s) from %(since)s to %(until)s"),
        events=d.get("events", "-"),
        since=n.when(d.get("since")),
        until=n.when(d.get("until")),
    )


def _evidence_sealed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    # The bundle by its own hash part: the full id repeats the incident id, whose digits a document's
    # screen for personal data would blank; the evidence manifest lists the full id beside it.
    bundle = _s(d, "bundle_id").rsplit("-", 1)[-1] or "-"
    items = d.get("items")
    return n.t(
        N_("Evidence sealed: %(items)s event(s), bundle …-%(bundle)s"),
        items=items if isinstance(items, int) else "-",
        bundle=bundle,
    )


def _evidence_not_sealed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    reason = _s(d, "reason")
    if reason == "no-key":
        return n.t(N_("Evidence not sealed: no evidence key is configured"))
    if reason == "failed":
        return n.t(N_("Evidence not sealed: sealing failed (see the worker's log)"))
    return n.t(N_("Evidence: no event found in the window yet"))


def _target(n: Names, target_type: str, target: str) -> str:
    return n.t(N_("%(type)s %(target)s"), type=n.code("target", target_type), target=n.ident(target))


def _containment_proposed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    target = _target(n, _s(d, "target_type"), _s(d, "target"))
    action = n.code("action", _s(d, "action"))
    if d.get("auto"):
        return n.t(N_("Containment carried out automatically: %(action)s (%(target)s)"), action=action, target=target)
    return n.t(N_("Containment proposed for approval: %(action)s (%(target)s)"), action=action, target=target)


def _containment_untargeted(n: Names, d: Mapping[str, Any], _w: str) -> str:
    actions = [n.code("action", a.split(" ", 1)[0]) for a in _list(d, "actions")]
    return n.t(N_("Containment not proposed: the incident names no target (%(actions)s)"), actions=n.join(actions))


def _containment_result(n: Names, d: Mapping[str, Any], _w: str) -> str:
    result = n.code("command_status", _s(d, "result"))
    cmd = n.command(_s(d, "command_id"))
    if "event_id" in d:
        return n.t(N_("Containment result received: %(result)s"), result=result)
    if cmd is None:
        return n.t(N_("Containment result: %(result)s"), result=result)
    action, target_type, target = cmd
    return n.t(
        N_("Containment %(action)s (%(target)s): %(result)s"),
        action=n.code("action", action),
        target=_target(n, target_type, target),
        result=result,
    )


def _state_changed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("State: %(before)s → %(after)s"),
        before=n.code("state", _s(d, "from")),
        after=n.code("state", _s(d, "to")),
    )


def _step_started(n: Names, d: Mapping[str, Any], _w: str) -> str:
    step = n.step(d.get("step"))
    if d.get("next_due"):
        return n.t(N_("%(step)s: first due %(due)s"), step=step, due=n.when(d.get("next_due")))
    if "due" in d:
        return n.t(N_("%(step)s: due %(due)s"), step=step, due=n.when(d.get("due")))
    return n.t(N_("Step started: %(step)s"), step=step)


def _step_done(n: Names, d: Mapping[str, Any], what: str) -> str:
    step = n.step(d.get("step"))
    if d.get("commands") == 0:
        return n.t(N_("%(step)s: no measure could be derived from the incident; to be carried out by hand"), step=step)
    if d.get("receipt"):
        return n.t(N_("The %(unit)s received the written report: %(step)s%(late)s"), step=step, late=_late(n, d))
    if "acknowledged by the city" in what:
        return n.t(N_("The %(unit)s acknowledged receipt: %(step)s%(late)s"), step=step, late=_late(n, d))
    return n.t(N_("Step done: %(step)s%(late)s"), step=step, late=_late(n, d))


def _report_issued(n: Names, d: Mapping[str, Any], what: str) -> str:
    step = n.step(d.get("step"))
    if "possible breach was not one" in what:
        return n.t(N_("The %(unit)s is told that the incident was not a breach"))
    if what.startswith("closure reported"):
        return n.t(N_("The closure is reported to the %(unit)s"))
    if what.startswith("supplementary report"):
        return n.t(N_("Supplementary report to the %(unit)s: %(step)s"), step=step)
    if what.startswith("progress report") and "due" in d:
        return n.t(N_("Progress report to the %(unit)s due %(due)s"), due=n.when(d.get("due")))
    # The clause and its time word as the clause writes it: 第17「直ちに」.
    basis = _s(d, "article") + (f"「{_s(d, 'urgency')}」" if _s(d, "urgency") else "")
    text = n.t(N_("%(step)s sent to the %(unit)s; due %(due)s"), step=step, due=n.when(d.get("due")))
    if basis:
        text += n.t(N_(" (%(basis)s)"), basis=basis)
    if d.get("written"):
        text += n.t(N_("; in writing"))
    if d.get("possible"):
        text += n.t(N_("; as a possible breach"))
    missing = _list(d, "missing_items")
    if missing:
        text += n.t(N_("; %(count)s item(s) under investigation"), count=len(missing))
    return text


def _task_opened(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("Task opened: %(task)s (owner: %(owner)s; due %(due)s)"),
        task=n.task(d.get("task_id")),
        owner=n.code("owner", _s(d, "owner")),
        due=n.when(d.get("due")) if d.get("due") else n.t(N_("none set")),
    )


def _task_done(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("Task done: %(task)s%(late)s"), task=n.task(d.get("task_id")), late=_late(n, d))


def _task_cancelled(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("Task cancelled: %(task)s"), task=n.task(d.get("task_id")))


def _deadline_missed(n: Names, d: Mapping[str, Any], w: str) -> str:
    subject = n.task(d.get("task_id")) if d.get("task_id") else n.step(d.get("step"))
    if receipt_awaited("deadline_missed", d, w):
        # A report sent in time whose receipt was not recorded by then: the receipt is late, not the report.
        return n.t(
            N_("Receipt by the %(unit)s not yet recorded (sent; due %(due)s): %(subject)s"),
            subject=subject,
            due=n.when(d.get("due")),
        )
    return n.t(N_("Deadline missed: %(subject)s (due %(due)s)"), subject=subject, due=n.when(d.get("due")))


def receipt_awaited(kind: str, d: Mapping[str, Any], what: str) -> bool:
    """Whether a ``deadline_missed`` entry is of a report step that was sent and not yet received by the city.

    The run's line says so (its data is the same as for a step not done at all).
    """
    return kind == "deadline_missed" and not d.get("task_id") and ("not received" in what or "not acknowledged" in what)


def _ack_timeout(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("No acknowledgement of %(step)s: the next contact is told"), step=n.step(d.get("step")))


def _escalated(n: Names, d: Mapping[str, Any], _w: str) -> str:
    subject = n.task(d.get("task_id")) if d.get("task_id") else n.step(d.get("step"))
    return n.t(
        N_("Escalated (level %(level)s, %(reason)s): %(subject)s"),
        level=d.get("level", "-"),
        reason=n.code("reason", _s(d, "reason")),
        subject=subject,
    )


def _dismissed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(N_("Found not to be a breach (%(count)s step(s) not needed)"), count=len(_list(d, "skipped")))


def _closure_refused(n: Names, d: Mapping[str, Any], _w: str) -> str:
    why = _s(d, "why")
    if why == "open tasks":
        tasks = [n.task(t) for t in _list(d, "open_tasks")]
        return n.t(N_("Cannot close: open task(s): %(tasks)s"), tasks=n.join(tasks))
    if why == "triage pending":
        return n.t(N_("Cannot close: the triage decision is pending"))
    if why == "no measure recorded":
        steps = [n.step(s) for s in _list(d, "steps")]
        return n.t(N_("Cannot close: no measure on record for %(steps)s"), steps=n.join(steps))
    return n.t(N_("Closure requested for an incident already closed: no change"))


def _incident_updated(n: Names, d: Mapping[str, Any], _w: str) -> str:
    text = n.t(
        N_("Incident updated: %(findings)s new finding(s), %(events)s new event(s)"),
        findings=len(_list(d, "finding_ids")),
        events=len(_list(d, "event_ids")) if "event_ids" in d else d.get("events", 0),
    )
    rules = [n.rule(r) for r in _list(d, "rules")]
    if rules:
        text += n.t(N_("; new rule(s): %(rules)s"), rules=n.join(rules))
    return text


_NOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^no task "), N_("A completion named a task this incident does not have: not applied")),
    (re.compile(r"^no containment command "), N_("A result named a measure this incident does not have: not applied")),
    (re.compile(r"^containment result for "), N_("A containment result was not understood (done, failed, declined)")),
    (re.compile(r"^step .* cannot be marked done"), N_("A step that cannot be completed by an update: not applied")),
    (re.compile(r"^triage decision "), N_("A triage decision was not understood (confirm or dismiss)")),
    (
        re.compile(r"^triage .* after the incident"),
        N_("A triage decision after the incident was dismissed or closed: no change"),
    ),
    (re.compile(r"^triage confirm: "), N_("Triage confirmed: the incident is already being reported; no change")),
)


def _note(n: Names, _d: Mapping[str, Any], what: str) -> str:
    for pattern, message in _NOTES:
        if pattern.search(what):
            return n.t(message)
    return n.t(N_("Note: an input that was not applied"))


# The notifier's own entries reach a run as follow-ups it files under ``update``; the run's stored line
# keeps which one it was ("update received (message_sent)"), and that is all it keeps of it.
_RELAYED = re.compile(r"\((message_[a-z_]+|city_unanswered)\)$")
_RELAYED_TEXTS: dict[str, str] = {
    "message_sent": N_("The notifier reports: message delivered"),
    "message_failed": N_("The notifier reports: message not delivered"),
    "message_delayed": N_("The notifier reports: message delayed, retrying"),
    "message_acknowledged": N_("The notifier reports: message acknowledged"),
    "message_escalated": N_("The notifier reports: not acknowledged, the next contact is told"),
    "message_not_sent": N_("The notifier reports: message not sent"),
    "city_unanswered": N_("The notifier reports: no acknowledgement from the %(unit)s"),
}


def _received(n: Names, d: Mapping[str, Any], what: str, kind: str) -> str:
    if kind == "acknowledgement":
        step = d.get("step")
        if step:
            return n.t(N_("Acknowledgement received: %(step)s"), step=n.step(step))
        return n.t(N_("Acknowledgement received"))
    if kind == "city_instruction":
        title = _s(d, "title") or _s(d, "task_id")
        if title == WITHHELD:
            title = n.t(N_("(free text, not recorded: the instruction is in its sealed evidence)"))
        elif title:
            title = n.instruction(title)
        return n.t(N_("Instruction from the %(unit)s received: %(title)s"), title=title or "-")
    if kind == "resolution":
        return n.t(N_("Closure requested"))
    if kind == "triage":
        return n.t(N_("Triage decision received: %(decision)s"), decision=n.code("triage", _s(d, "triage")))
    if "step" in d and d.get("done"):
        return n.t(N_("Update received: %(step)s done"), step=n.step(d.get("step")))
    if "task_id" in d and d.get("done"):
        return n.t(N_("Update received: %(task)s done"), task=n.task(d.get("task_id")))
    relayed = _RELAYED.search(what)
    if kind == "update" and relayed is not None and relayed.group(1) in _RELAYED_TEXTS:
        return n.t(_RELAYED_TEXTS[relayed.group(1)])
    return n.t(N_("Update received"))


def _playbook_baseline(n: Names, _d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_(
            "No response procedure is loaded for this contract: the baseline steps run (report to the %(unit)s at "
            "once); check the clauses by hand"
        )
    )


def _contract_profile(n: Names, d: Mapping[str, Any], _w: str) -> str:
    if d.get("profile") == "retained":
        return n.t(N_("The contract is no longer loaded: its profile as last loaded is used"))
    return n.t(N_("The contract is not loaded: the default response applies until it is loaded again"))


def _message(n: Names, d: Mapping[str, Any], kind: str) -> str:
    who = n.recipient(_s(d, "recipient")) or n.t(N_("a contact"))
    message = n.code("message", _s(d, "message")) if d.get("message") else n.t(N_("The message"))
    if kind == "message_sent":
        text = n.t(N_("%(message)s delivered to %(who)s"), message=message, who=who)
        return text + (n.t(N_(" (it may have arrived twice)")) if d.get("uncertain") else "")
    if kind == "message_failed":
        return n.t(N_("%(message)s to %(who)s not delivered"), message=message, who=who)
    if kind == "message_delayed":
        return n.t(N_("%(message)s to %(who)s delayed; retrying"), message=message, who=who)
    if kind == "message_acknowledged":
        return n.t(N_("%(message)s acknowledged by %(who)s"), message=message, who=who)
    if kind == "message_escalated":
        return n.t(N_("Not acknowledged: the next contact is told"))
    if kind == "city_unanswered":
        return n.t(N_("The %(unit)s has not acknowledged: the contractor is alerted"))
    return n.t(N_("The message was not sent (%(reason)s)"), reason=n.code("not_sent", _s(d, "reason")))


def _nature(n: Names, value: object) -> str:
    ja, en = nature_label(str(value), possible=False, parties=n.parties)
    return ja if n.lang == "ja" else en


def _measure_needed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("%(step)s: no measure on record; record the measure taken or why none applies"), step=n.step(d.get("step"))
    )


def _report_acknowledged(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("The %(unit)s acknowledged the e-mail; the written report awaits its receipt: %(step)s"),
        step=n.step(d.get("step")),
    )


def _report_received(n: Names, d: Mapping[str, Any], _w: str) -> str:
    how = N_("handed over") if d.get("receipt") == "hand" else N_("on the console")
    return n.t(
        N_("The %(unit)s received the written report (%(report)s), %(how)s"),
        report=n.code("report", _s(d, "report")),
        how=n.t(how),
    )


_REFUSALS = {
    "measure-or-reason-required": N_("the measure taken, or why none applies, must be recorded"),
    "person-required": N_("a person must record it"),
    "receipt-required": N_("the written report must be received (on the console, or handed over)"),
}


def _step_done_refused(n: Names, d: Mapping[str, Any], _w: str) -> str:
    why = _REFUSALS.get(_s(d, "why"), N_("not accepted"))
    return n.t(N_("%(step)s not done: %(why)s"), step=n.step(d.get("step")), why=n.t(why))


def _nature_changed(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("Personal information is involved: the incident is now treated as %(nature)s"),
        nature=_nature(n, d.get("to")),
    )


def _ppc_not_applicable(n: Names, d: Mapping[str, Any], _w: str) -> str:
    return n.t(
        N_("A %(nature)s, not a leak of personal information: no report to the PPC is assessed"),
        nature=_nature(n, d.get("nature")),
    )


Describer = Callable[[Names, Mapping[str, Any], str], str]

DESCRIBERS: dict[str, Describer] = {
    "finding": _finding,
    "findings_counted": _findings_counted,
    "filed": _filed,
    "data_items_withheld": _withheld,
    "accounts_folded": _folded,
    "playbook_started": _playbook_started,
    "contract_ended": _contract_ended,
    "ppc_assessment": _ppc_assessment,
    "ppc_override": _ppc_override,
    "ppc_override_refused": _ppc_override_refused,
    "ppc_clock": _ppc_clock,
    "ppc_reminder": _ppc_reminder,
    "ppc_reminder_skipped": _ppc_reminder_skipped,
    "computation_failed": _computation_failed,
    "seal_requested": _seal_requested,
    "evidence_sealed": _evidence_sealed,
    "evidence_not_sealed": _evidence_not_sealed,
    "containment_proposed": _containment_proposed,
    "containment_untargeted": _containment_untargeted,
    "containment_result": _containment_result,
    "state_changed": _state_changed,
    "step_started": _step_started,
    "step_done": _step_done,
    "report_issued": _report_issued,
    "task_opened": _task_opened,
    "task_done": _task_done,
    "task_cancelled": _task_cancelled,
    "deadline_missed": _deadline_missed,
    "ack_timeout": _ack_timeout,
    "escalated": _escalated,
    "dismissed": _dismissed,
    "closure_refused": _closure_refused,
    "measure_needed": _measure_needed,
    "report_acknowledged": _report_acknowledged,
    "report_received": _report_received,
    "step_done_refused": _step_done_refused,
    "nature_changed": _nature_changed,
    "ppc_not_applicable": _ppc_not_applicable,
    "incident_updated": _incident_updated,
    "note": _note,
    "playbook_baseline": _playbook_baseline,
    "contract_profile": _contract_profile,
}
RECEIVED = frozenset({"acknowledgement", "city_instruction", "update", "resolution", "triage", "ppc"})
MESSAGES = frozenset(
    {
        "message_sent",
        "message_failed",
        "message_delayed",
        "message_acknowledged",
        "message_escalated",
        "city_unanswered",
        "message_not_sent",
    }
)


def describe(kind: str, data: Mapping[str, Any] | None, what: str, names: Names) -> str:
    """The entry as a sentence in ``names.lang``: built from ``kind`` and ``data``, never from ``what``.

    ``what`` (the English line the run stored) only tells apart entries of one kind that a release
    recorded with the same data; it is never printed.
    """
    d: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    describer = DESCRIBERS.get(kind)
    if describer is not None:
        return describer(names, d, what)
    if kind in MESSAGES:
        return _message(names, d, kind)
    if kind in RECEIVED:
        return _received(names, d, what, kind)
    return names.code("entry", kind)


def task_title(title: str, lang: Lang) -> str:
    """A task title stored before titles were codes, in ``lang``: ``日本語 / English``; one without both is as given."""
    ja, sep, en = title.partition(" / ")
    if not sep:
        return title
    return ja if lang == "ja" else en


def task_text(task: Task, names: Names) -> str:
    """``task``'s title in ``names.lang``: its key and codes named through the catalogue (a step by its title).

    A task stored before titles were codes (no key) reads as it did: a step's task by its step's
    title, any other by its stored ``日本語 / English`` title's half in the language.
    """
    key = task.title_key
    values = task.title_values or {}
    if key == STEP_TITLE:
        return names.step(values.get("step") or task.step_id)
    if key is not None and key in TASK_TITLES:
        named = {
            name: names.step(code) if name == "step" else REPORT_ITEMS.say(code, names.lang) if name == "item" else code
            for name, code in values.items()
        }
        return TASK_TITLES.say(names.lang, key, names.unit, names.parties, **named)
    if task.title == WITHHELD:
        return names.t(N_("(free text, not recorded: the instruction is in its sealed evidence)"))
    if task.source == "step" and task.step_id:
        return names.step_title(task.step_id) or task_title(task.title, names.lang)
    if task.source == "city_instruction" and " / " not in task.title:
        return names.instruction(task.title)
    return task_title(task.title, names.lang) or task.task_id


def names_for(
    run: PlaybookRun | None,
    profile: ContractProfile | None,
    *,
    lang: Lang,
    incident_kind: str | None = None,
    jurisdiction: str | None = None,
    ident: Callable[[str], str] = _same,
) -> Names:
    """What a sentence about ``run`` may name: its steps and tasks by title, its measures, the contacts by role."""
    juris = jurisdiction or (run.jurisdiction if run is not None else None) or (profile.jurisdiction if profile else "")
    name = profile.city.name if profile is not None and profile.city.name else None

    def step_title(step_id: str) -> str | None:
        if run is None:
            return None
        try:
            step = run.playbook.step(step_id)
        except KeyError:
            return None
        return step.title_ja if lang == "ja" else step.title_en

    def task_of(task_id: str) -> str | None:
        if run is None:
            return None
        task = run.task(task_id)
        if task is None:
            return None
        return task_text(task, names)

    def command(command_id: str) -> tuple[str, str, str] | None:
        if run is None:
            return None
        for c in run.commands:
            if c.command.command_id == command_id:
                return c.command.action, c.command.target_type, c.command.target
        return None

    def recipient(ref: str) -> str | None:
        if profile is None or not ref:
            return None
        try:
            contact = contact_for(profile, ref)
        except KinkyuError:
            return None
        return contact.role if contact is not None else None

    names = Names(
        lang=lang,
        unit=unit_of(juris, name),
        parties=run.playbook.parties if run is not None else None,
        incident_kind=incident_kind,
        step_title=step_title,
        task_title=task_of,
        command=command,
        recipient=recipient,
        ident=ident,
    )
    return names
