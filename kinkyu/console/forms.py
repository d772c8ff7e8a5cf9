"""Console forms as incident events (events.md + Kinkyu's ``data`` extension). Pure: no I/O, no clock.

Every write the console makes is one of these events. Follow-ups name their
``incident_id`` and carry only the ``data`` keys a playbook reads
(:data:`kinkyu.core.playbook.FOLLOW_UP_DATA_KEYS`); anything a person typed
as prose goes into ``details``, which stays with the evidence and is never
copied into a message. A filing's ``summary`` and ``details`` likewise live
only in the sealed evidence; its place must be a short non-personal label
(:func:`kinkyu.core.freetext.place_label`: a site code or a name such as
本庁舎3階, no address, telephone number or person) and its data items item
codes, both checked here as the detection stage checks them. ``reason`` and ``title`` travel in ``data`` only when
they are category codes (``false-positive``, ``submit-access-log``): the
playbook withholds any other text, because free text may name a resident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from kinkyu.core.bounds import EARLIEST_T
from kinkyu.core.freetext import data_item_code, place_label
from kinkyu.core.labels import ITEM_LABELS
from kinkyu.core.model import JST, OpeningKind
from kinkyu.core.timefmt import jst_iso
from kinkyu.core.wire import within_span
from kinkyu.exceptions import MalformedEventError

# The filing form's kinds: the domain's opening kinds, in events.md's order.
FILING_KINDS: tuple[str, ...] = get_args(OpeningKind)
# The data items offered as checkboxes: the common ones first, then the rest of the label table.
_COMMON_ITEMS = ("name", "address", "birthdate", "sex", "phone", "email", "my_number", "card_number", "health", "tax")
DATA_ITEMS: tuple[str, ...] = _COMMON_ITEMS + tuple(k for k in ITEM_LABELS if k not in _COMMON_ITEMS)


def _one_per_label(items: tuple[str, ...]) -> tuple[str, ...]:
    labels: set[str] = set()
    offered = []
    for item in items:
        label = ITEM_LABELS[item][0] if item in ITEM_LABELS else item
        if label not in labels:
            labels.add(label)
            offered.append(item)
    return tuple(offered)


# What the form shows: one box per item, so an alias (credit_card_number for card_number) is accepted, not offered.
OFFERED_ITEMS = _one_per_label(DATA_ITEMS)
TRIAGE_DECISIONS: tuple[str, ...] = ("breach", "risk", "dismiss")
CONTAINMENT_RESULTS: tuple[str, ...] = ("done", "failed", "declined")
# Suggested instruction titles (category codes); any code is accepted.
INSTRUCTION_CODES: tuple[str, ...] = (
    "submit-access-log",
    "submit-written-report",
    "stop-processing",
    "preserve-evidence",
    "notify-data-subjects",
    "report-progress",
    "on-site-inspection",
)
CODE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
_MAX_TEXT = 4000
_MAX_LINE = 200
_MAX_RECORDS = 100_000_000


class FormError(ValueError):
    """A form field is missing or wrong; ``field`` names it, ``code`` is the message key (never the value)."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who an event is ``reported_by``: the user's name, organisation and role."""

    id: str
    org: str | None
    role: str

    def to_json(self) -> dict[str, Any]:
        """events.md's ``reported_by``."""
        return {"id": self.id, "org": self.org, "role": self.role}


def new_event_id() -> str:
    """A fresh event id (uuid4)."""
    return str(uuid.uuid4())


def _text(form: Mapping[str, str], name: str, *, limit: int = _MAX_LINE, required: bool = False) -> str | None:
    value = (form.get(name) or "").strip()
    if not value:
        if required:
            raise FormError(name, "required")
        return None
    if len(value) > limit:
        raise FormError(name, "too_long")
    return value


def parse_local_time(value: str | None, field: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-11-21T09:40``) read as Japan time; None when empty.

    Held to the stream's bounds (:data:`kinkyu.core.bounds.EARLIEST`), so the form never accepts a
    filing the detection stage would refuse, nor one Japan time cannot hold (year 1 at +14:00).
    """
    if not value or not value.strip():
        return None
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise FormError(field, "bad_time") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=JST)
    try:
        ts.astimezone(JST)
        early = ts.timestamp() < EARLIEST_T
    except (OverflowError, ValueError) as exc:
        raise FormError(field, "too_early") from exc
    if early:
        raise FormError(field, "too_early")
    return ts


def _base(
    *, kind: str, contract_id: str, reporter: Reporter, now: datetime, incident_id: str | None, event_id: str | None
) -> dict[str, Any]:
    return {
        "event_id": event_id or new_event_id(),
        "ts": jst_iso(now),
        "contract_id": contract_id,
        "kind": kind,
        "incident_id": incident_id,
        "reported_by": reporter.to_json(),
    }


def filing_event(
    form: Mapping[str, str],
    data_items: Sequence[str],
    *,
    allowed_contracts: Sequence[str],
    reporter: Reporter,
    now: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The event a filing form makes (opens an incident). FormError naming the first bad field."""
    contract_id = _text(form, "contract_id", required=True) or ""
    if contract_id not in allowed_contracts:
        raise FormError("contract_id", "bad_choice")
    kind = _text(form, "kind", required=True) or ""
    if kind not in FILING_KINDS:
        raise FormError("kind", "bad_choice")
    summary = _text(form, "summary", required=True)
    occurred = parse_local_time(form.get("occurred_at"), "occurred_at")
    discovered = parse_local_time(form.get("discovered_at"), "discovered_at")
    if occurred is not None and discovered is not None and occurred > discovered:
        raise FormError("occurred_at", "after_discovery")
    if discovered is not None and discovered > now:
        raise FormError("discovered_at", "in_future")
    if occurred is not None and occurred > now:
        raise FormError("occurred_at", "in_future")
    records_text = _text(form, "records_affected")
    records: int | None = None
    if records_text is not None:
        try:
            records = int(records_text)
        except ValueError as exc:
            raise FormError("records_affected", "not_a_number") from exc
        if not 0 <= records <= _MAX_RECORDS:
            raise FormError("records_affected", "not_a_number")
    codes = [data_item_code(i) for i in dict.fromkeys(data_items) if i]
    items = [c for c in dict.fromkeys(codes) if c is not None]
    if None in codes:
        # The detection stage would refuse the filing (unknown-data-item): say so while it can be fixed.
        raise FormError("data_items", "unknown_item")
    location_text = _text(form, "location")
    location = place_label(location_text)
    if location_text is not None and location is None:
        # Kept on the record only as a checked label: an address or a name would be dropped (調査中).
        raise FormError("location", "not_a_place")
    event = _base(kind=kind, contract_id=contract_id, reporter=reporter, now=now, incident_id=None, event_id=event_id)
    event.update(
        {
            "summary": summary,
            "occurred_at": jst_iso(occurred) if occurred is not None else None,
            "discovered_at": jst_iso(discovered) if discovered is not None else None,
            "location": location,
            "records_affected": records,
            "data_items": items,
            "details": _text(form, "details", limit=_MAX_TEXT),
        }
    )
    return event


def _follow_up(
    kind: str,
    data: dict[str, Any],
    *,
    incident_id: str,
    contract_id: str,
    reporter: Reporter,
    now: datetime,
    details: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    event = _base(
        kind=kind, contract_id=contract_id, reporter=reporter, now=now, incident_id=incident_id, event_id=event_id
    )
    event["data"] = data
    if details:
        event["details"] = details
    return event


def _code_or_details(value: str | None, default: str | None) -> tuple[str | None, str | None]:
    """A category code for ``data``, and the prose (if the person wrote prose) for ``details``."""
    if value is None:
        return default, None
    if CODE.fullmatch(value):
        return value, None
    return default, value


def triage_event(
    form: Mapping[str, str], *, incident_id: str, contract_id: str, reporter: Reporter, now: datetime
) -> dict[str, Any]:
    """Triage: ``breach`` and ``risk`` confirm (a breach, or the risk of one: おそれ), ``dismiss`` needs a reason."""
    decision = _text(form, "decision", required=True)
    if decision not in TRIAGE_DECISIONS:
        raise FormError("decision", "bad_choice")
    reason_text = _text(form, "reason", limit=_MAX_TEXT, required=decision == "dismiss")
    default = {"breach": "breach-confirmed", "risk": "risk-of-breach", "dismiss": "see-details"}[decision]
    reason, details = _code_or_details(reason_text, default)
    data = {"triage": "dismiss" if decision == "dismiss" else "confirm", "reason": reason}
    return _follow_up(
        "update", data, incident_id=incident_id, contract_id=contract_id, reporter=reporter, now=now, details=details
    )


def containment_event(
    form: Mapping[str, str],
    *,
    commands: Sequence[str],
    incident_id: str,
    contract_id: str,
    reporter: Reporter,
    now: datetime,
) -> dict[str, Any]:
    """A containment command's result: ``done``, ``failed`` or ``declined``."""
    command_id = _text(form, "command_id", required=True) or ""
    if command_id not in commands:
        raise FormError("command_id", "bad_choice")
    result = _text(form, "result", required=True)
    if result not in CONTAINMENT_RESULTS:
        raise FormError("result", "bad_choice")
    return _follow_up(
        "containment_result",
        {"command_id": command_id, "result": result},
        incident_id=incident_id,
        contract_id=contract_id,
        reporter=reporter,
        now=now,
    )


def update_event(
    form: Mapping[str, str],
    *,
    steps: Sequence[str],
    tasks: Sequence[str],
    incident_id: str,
    contract_id: str,
    reporter: Reporter,
    now: datetime,
) -> dict[str, Any]:
    """Progress on a step (recovery, recurrence prevention, …) or a task; the note goes to ``details``."""
    step = _text(form, "step")
    task = _text(form, "task_id")
    if step is None and task is None:
        raise FormError("step", "required")
    if step is not None and step not in steps:
        raise FormError("step", "bad_choice")
    if task is not None and task not in tasks:
        raise FormError("task_id", "bad_choice")
    done = form.get("done") in {"on", "true", "1", "yes"}
    data: dict[str, Any] = {"done": done}
    if step is not None:
        data["step"] = step
    if task is not None:
        data["task_id"] = task
    # What was done for containment or evidence (a code), or why nothing applies (a code); prose goes to
    # details with the note: the playbook needs one of the codes to count the step done (issue #15).
    notes = [_text(form, "note", limit=_MAX_TEXT)]
    for key in ("measure", "reason"):
        value, prose = _code_or_details(_text(form, key, limit=_MAX_TEXT), None)
        if value is not None:
            data[key] = value
        notes.append(prose)
    if form.get("receipt") in {"on", "true", "1", "yes"}:
        data["receipt"] = "hand"  # the written report was handed to the city (受領 by hand delivery)
    details = "\n".join(n for n in notes if n) or None
    return _follow_up(
        "update",
        data,
        incident_id=incident_id,
        contract_id=contract_id,
        reporter=reporter,
        now=now,
        details=details,
    )


def resolution_event(*, incident_id: str, contract_id: str, reporter: Reporter, now: datetime) -> dict[str, Any]:
    """Close the incident (the playbook refuses while tasks are open, and says so on the timeline)."""
    return _follow_up("resolution", {}, incident_id=incident_id, contract_id=contract_id, reporter=reporter, now=now)


def acknowledgement_event(
    *,
    incident_id: str,
    contract_id: str,
    reporter: Reporter,
    now: datetime,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """受領確認: the city has every report sent so far (no ``step``: the playbook marks each one sent done)."""
    return _follow_up(
        "acknowledgement",
        dict(data or {}),
        incident_id=incident_id,
        contract_id=contract_id,
        reporter=reporter,
        now=now,
        event_id=event_id,
    )


def instruction_event(
    form: Mapping[str, str],
    *,
    incident_id: str,
    contract_id: str,
    reporter: Reporter,
    now: datetime,
    report_request: bool = False,
) -> dict[str, Any]:
    """甲の指示 (a task for the contractor): a title (a code; prose goes to ``details``), ``within``, report request."""
    title_text = _text(form, "title", limit=_MAX_TEXT, required=not report_request)
    # Prose leaves the title to the playbook's default (甲の指示 / 甲からの報告の求め) and goes to details.
    title, details = _code_or_details(title_text, None)
    within = _text(form, "within")
    data: dict[str, Any] = {"title": title} if title is not None else {}
    if within is not None:
        try:
            within_span(within, "within")  # as the detection stage judges it: a year at most
        except MalformedEventError as exc:
            raise FormError("within", "bad_duration" if exc.reason == "invalid" else "too_far") from exc
        data["within"] = within
    if report_request or form.get("report_request") in {"on", "true", "1", "yes"}:
        data["report_request"] = True
    return _follow_up(
        "city_instruction",
        data,
        incident_id=incident_id,
        contract_id=contract_id,
        reporter=reporter,
        now=now,
        details=details,
    )
