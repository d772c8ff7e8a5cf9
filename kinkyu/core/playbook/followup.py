"""A follow-up entry, parsed once: what it asks of the run, as small frozen types.

A follow-up (acknowledgement, city instruction, containment result, update,
resolution, a delivery result) is screened (:func:`screen`: known keys, ids
and category codes only) and read into the requests below, in the order the
run acts on them (:func:`parse`). The run never looks at the raw ``data``
again, so what a follow-up can do is listed here and nowhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.model import FOLLOW_UP_KINDS
from kinkyu.core.playbook.definition import REPORT_ITEMS
from kinkyu.core.playbook.keys import CODE, FOLLOW_UP_DATA_KEYS, ID_LIMIT, PPC_FACT_KEYS, code, ids, people

# How the city receives a written report: downloaded from the console and acknowledged, or by hand.
RECEIPTS = frozenset({"console", "hand"})
# Which written report (事故報告書) a receipt is of: the first (第一報), a later progress report (a 追完) or the
# final one (sent with the closure). A receipt without one is of the first report, as before.
REPORTS = frozenset({"first", "progress", "final"})


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message was delivered (``message_sent``): to whom, and which effect's chain."""

    chain_id: str | None
    recipient: str | None


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The city acknowledged ``step`` (None: every report awaiting acknowledgement).

    ``receipt`` (``console``: the city downloaded the 事故報告書 and acknowledged
    receiving it, 受領) completes a written report; without it the city
    acknowledged the e-mail.
    """

    step: str | None
    receipt: str | None = None
    report: str | None = None


@dataclass(frozen=True, slots=True)
class Instruction:
    """A city instruction (甲の指示) or report request: a task for someone.

    ``due`` is an aware time when one was given; ``within`` a duration when it
    was given and readable; ``task_id``, ``title``, ``owner`` as given (or None).
    """

    task_id: str | None
    event_id: str | None
    title: str | None
    owner: str | None
    due: datetime | None
    within: timedelta | None
    report_request: bool


@dataclass(frozen=True, slots=True)
class Resolution:
    """Someone asks to close the incident."""


@dataclass(frozen=True, slots=True)
class PPCFacts:
    """Facts the national report's assessment reads (None: not said)."""

    encrypted: bool | None
    distinct_people: int | None
    improper_purpose: bool | None
    datasets: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class PPCOverride:
    """A person's decision on the national report, as given (checked by the run)."""

    value: str | None
    party: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TriageDecision:
    """``confirm`` or ``dismiss`` (anything else is noted as not understood)."""

    decision: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class CommandResultGiven:
    """A containment command's result, as given (``done``, ``failed``, ``declined``; else noted)."""

    command_id: str
    result: str


@dataclass(frozen=True, slots=True)
class Supplied:
    """Report items now known (追完)."""

    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StepDone:
    """A step was done another way (a report by phone, recovery, the city's publication).

    ``measure`` is what was done (a category code, e.g. ``account-disabled``);
    ``reason`` why no measure applies; ``receipt`` how the city received a
    written report (``hand``: delivered by hand). A containment or evidence
    step needs a measure or a reason (:func:`~kinkyu.core.playbook.follow_ups.step_done`).
    """

    step_id: str
    measure: str | None = None
    reason: str | None = None
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class TaskDone:
    """A task was done."""

    task_id: str


Request = (
    Delivered
    | Acknowledged
    | Instruction
    | Resolution
    | PPCFacts
    | PPCOverride
    | TriageDecision
    | CommandResultGiven
    | Supplied
    | StepDone
    | TaskDone
)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One follow-up entry: its identity, what the timeline records of it, and its requests in order.

    ``kind`` is the follow-up kind the run files it under (``update`` for a
    kind it does not know, ``raw_kind`` the entry's own); ``data`` the
    screened data the timeline keeps.
    """

    key: str
    kind: str
    raw_kind: str
    who: str
    ts: datetime
    data: dict[str, Any]
    requests: tuple[Request, ...]


def entry_key(entry: TimelineEntry) -> str:
    """What makes a follow-up the same one again: its ``event_id``, else its content."""
    event_id = entry.data.get("event_id") if isinstance(entry.data, dict) else None
    if isinstance(event_id, str) and event_id:
        return "ev:" + event_id
    digest = hashlib.blake2b(orjson.dumps(entry.to_json(), option=orjson.OPT_SORT_KEYS), digest_size=12)
    return "h:" + digest.hexdigest()


def screen(data: dict[str, Any]) -> dict[str, Any]:
    """The follow-up data the run records: known keys, ids and categories, screened."""
    out: dict[str, Any] = {}
    for key in FOLLOW_UP_DATA_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key == "receipt":
            # How a written report reached the city: only these two ways count as its receipt (受領).
            if value in RECEIPTS:
                out[key] = value
        elif key == "report":
            if value in REPORTS:
                out[key] = value
        elif key in {"reason", "title", "measure"}:
            text = code(value)
            if text is not None:
                out[key] = text
        elif key == "supplied":
            out[key] = [v for v in ids(value) if v in REPORT_ITEMS]
        elif key in {"done", "report_request"}:
            out[key] = value is True
        elif key in {"encrypted", "improper_purpose"}:
            if isinstance(value, bool):
                out[key] = value
        elif key == "distinct_people":
            count = people(value)
            if count is not None:
                out[key] = count
        elif key == "datasets":
            out[key] = [v for v in ids(value) if CODE.fullmatch(v)]
        elif key in {"ppc_override", "party"}:
            # Codes only: anything else is recorded as withheld and refused by the override.
            text = code(value)
            if text is not None:
                out[key] = text
        elif isinstance(value, str):
            out[key] = value[:ID_LIMIT]
    return out


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        return None
    return due if due.tzinfo is not None and due.utcoffset() is not None else None


def _duration(value: Any) -> timedelta | None:
    if not isinstance(value, str):
        return None
    from kinkyu.core.contract import parse_duration  # noqa: PLC0415  # avoids an import cycle

    try:
        return parse_duration(value)
    except (ValueError, OverflowError):
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _instruction(data: dict[str, Any]) -> Instruction:
    return Instruction(
        task_id=_str(data.get("task_id")),
        event_id=_str(data.get("event_id")),
        title=_str(data.get("title")),
        owner=_str(data.get("owner")),
        due=_aware(data.get("due")),
        within=_duration(data.get("within")),
        report_request=data.get("report_request") is True,
    )


def _updates(data: dict[str, Any], raw: dict[str, Any]) -> list[Request]:
    # The national report's facts first: a report the triage starts carries them.
    out: list[Request] = []
    if any(k in data for k in PPC_FACT_KEYS):
        datasets = data.get("datasets")
        out.append(
            PPCFacts(
                encrypted=data["encrypted"] is True if "encrypted" in data else None,
                distinct_people=data.get("distinct_people"),
                improper_purpose=data["improper_purpose"] is True if "improper_purpose" in data else None,
                datasets=tuple(datasets) if datasets is not None else None,
            )
        )
    if "ppc_override" in raw:
        out.append(PPCOverride(data.get("ppc_override"), data.get("party"), data.get("reason")))
    if "triage" in data:
        out.append(TriageDecision(str(data["triage"]), data.get("reason")))
    if "command_id" in data:
        out.append(CommandResultGiven(str(data["command_id"]), str(data.get("result", ""))))
    if "supplied" in data:
        out.append(Supplied(tuple(data["supplied"])))
    if "step" in data and data.get("done") is True:
        out.append(StepDone(str(data["step"]), data.get("measure"), data.get("reason"), data.get("receipt")))
    return out


def parse(entry: TimelineEntry) -> FollowUp:
    """Read a follow-up entry once: its screened data and its requests, in the order the run acts on them."""
    raw = entry.data if isinstance(entry.data, dict) else {}
    data = screen(raw)
    kind = entry.kind if entry.kind in FOLLOW_UP_KINDS else "update"
    requests: list[Request] = []
    if entry.kind == "message_sent":
        requests.append(Delivered(_str(raw.get("chain_id")), _str(raw.get("recipient"))))
    if kind == "acknowledgement":
        requests.append(Acknowledged(data.get("step"), data.get("receipt"), data.get("report")))
    elif kind == "city_instruction":
        requests.append(_instruction(data))
    elif kind == "resolution":
        requests.append(Resolution())
    else:
        requests.extend(_updates(data, raw))
    if kind != "city_instruction" and "task_id" in data and data.get("done") is True:
        requests.append(TaskDone(str(data["task_id"])))
    return FollowUp(entry_key(entry), kind, entry.kind, entry.who, entry.ts, data, tuple(requests))
