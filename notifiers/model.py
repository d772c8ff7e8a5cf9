"""What the notifier reads and what it hands to a transport.

- :class:`NotificationIn`: one record of the ``notifications`` topic - a
  playbook's Notify or Escalate effect (``effect.to_json()``) plus
  ``incident_id``, ``contract_id``, ``jurisdiction`` and ``queued_at``. Unknown
  keys are ignored, so a record that one day carries more (even free text)
  cannot put it into a message: only the fields below are ever read.
- :class:`IncidentFacts`: the incident's facts a message may state, copied
  key by key from an incident record (:meth:`IncidentFacts.from_record`):
  counts, categories, times, rule ids, clause articles. Never the summary,
  details, location, actor or reporter.
- :class:`OutboundEmail` / :class:`WebhookPayload`: a rendered message, as
  the outbox stores it (JSON) and the transport sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kinkyu.core.bounds import MAX_LIST_ITEMS
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.labels import ITEM_LABELS, KIND_LABELS, RULE_LABELS
from kinkyu.core.legal.triggers import Trigger
from kinkyu.core.model import Severity
from kinkyu.core.playbook.definition import REPORT_ITEMS
from kinkyu.core.playbook.effects import EscalateReason, NotifyKind
from kinkyu.core.playbook.policy import UrgencyWord
from kinkyu.core.timefmt import iso
from kinkyu.notifiers.exceptions import RenderError

Lang = Literal["ja", "en"]
Channel = Literal["email", "webhook"]

# An id, reference or category code: what may appear in a message where the input is a string.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]{0,199}$"
# The reports a city receives (its contacts, its acknowledgement), in the order messages list them.
CITY_REPORTS: tuple[str, ...] = (
    "first_report",
    "written_report",
    "complaint_report",
    "progress_report",
    "supplementary_report",
    "dismissal_report",
    "closure_report",
)

_TOLERANT = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class PPCReminderIn(BaseModel):
    """What a reminder of the city's report to the PPC says: which report, learned and due dates, triggers."""

    model_config = _TOLERANT
    report: Literal["preliminary", "final"]
    learned: date | None = None
    due: date
    final_days: Literal[30, 60] = 30
    improper_purpose: bool = False
    triggers: list[str] = Field(default_factory=list)

    @field_validator("triggers")
    @classmethod
    def _known_triggers(cls, value: list[str]) -> list[str]:
        return [v for v in value if v in {t.value for t in Trigger}]


class NotificationIn(BaseModel):
    """A ``notifications`` record: a Notify or Escalate effect of a playbook run, with its incident's ids.

    Fields as in :meth:`kinkyu.core.playbook.effects.Notify.to_json` and
    :meth:`~kinkyu.core.playbook.effects.Escalate.to_json`; Notify-only
    fields default for an Escalate and the other way round.
    """

    model_config = _TOLERANT

    effect: Literal["notify", "escalate"]
    effect_id: str = Field(pattern=ID_PATTERN)
    incident_id: str = Field(pattern=ID_PATTERN)
    contract_id: str = Field(pattern=ID_PATTERN)
    jurisdiction: str | None = Field(default=None, pattern=r"^[a-z]{1,40}$")
    step_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,59}$")
    due: AwareDatetime | None = None
    queued_at: AwareDatetime | None = None
    # Notify
    audience: Literal["city", "contractor"] | None = None
    kind: NotifyKind | None = None
    urgency: UrgencyWord | None = None
    article: str | None = Field(default=None, max_length=60)
    written: bool = False
    possible: bool = False
    # The event's nature under the city's clause (kinkyu.core.rulebook.EventNature); None from older runs.
    nature: str | None = Field(default=None, pattern=r"^[a-z]{1,20}$")
    items: list[str] = Field(default_factory=list)
    missing_items: list[str] = Field(default_factory=list)
    rule8: bool = False
    task_id: str | None = Field(default=None, pattern=ID_PATTERN)
    contract_ended: bool = False
    # The report's deadline could not be computed from the incident's times: the message says 要確認.
    due_unknown: bool = False
    # What the nine Rule 8(1) items are built from (codes, counts, dates): read with
    # kinkyu.core.playbook.ppc.Rule8Facts.from_json, which keeps only Kinkyu's own codes.
    rule8_facts: dict[str, Any] | None = None
    ppc: PPCReminderIn | None = None
    # A task mail for a city's instruction: its category code (submit-access-log), put in words by the mail.
    instruction: str | None = None
    # Escalate
    reason: EscalateReason | None = None
    level: int | None = Field(default=None, ge=0)

    @field_validator("items", "missing_items")
    @classmethod
    def _report_items(cls, value: list[str]) -> list[str]:
        # Report-item keys only (content, count, place, circumstances): anything else is dropped.
        return [v for v in value if v in REPORT_ITEMS]

    @field_validator("rule8_facts", mode="before")
    @classmethod
    def _rule8_object(cls, value: Any) -> dict[str, Any] | None:
        # Not an object: the first report goes out without the items rather than not at all.
        return value if isinstance(value, dict) else None

    @field_validator("ppc", mode="before")
    @classmethod
    def _reminder(cls, value: Any) -> PPCReminderIn | None:
        if value is None:
            return None
        try:
            return PPCReminderIn.model_validate(value)
        except ValidationError:
            return None  # the reminder still goes out; its template says to look the dates up

    @field_validator("instruction", mode="before")
    @classmethod
    def _instruction_code(cls, value: Any) -> str | None:
        # A category code or nothing: the task mail still goes out, naming the step only.
        return value if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9-]{0,59}", value) else None

    @field_validator("article")
    @classmethod
    def _article(cls, value: str | None) -> str | None:
        # Articles come from the playbooks ("第19条第1項", "第10条(10)・⑥"): no digits run that could be a number.
        if value is not None and re.search(r"\d{5,}|@", value):
            msg = "an article is a clause reference, not free text"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _complete(self) -> NotificationIn:
        if self.effect == "notify" and (self.kind is None or self.audience is None):
            msg = "a notify record needs kind and audience"
            raise ValueError(msg)
        if self.effect == "escalate" and self.reason is None:
            msg = "an escalate record needs a reason"
            raise ValueError(msg)
        return self

    @classmethod
    def parse(cls, record: dict[str, Any]) -> NotificationIn:
        """Validate a decoded record; RenderError naming the fields (never their values) if it is not one."""
        try:
            return cls.model_validate(record)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) or "record" for e in exc.errors(include_input=False)})
            raise RenderError(f"not a notification record: invalid {', '.join(fields)}") from None


class ClauseFact(BaseModel):
    """A clause the incident relates to: the article and its short gloss (both from Kinkyu's tables)."""

    model_config = _TOLERANT
    article: str = Field(max_length=120)
    label: str = Field(default="", max_length=200)


# The incident-record keys a message may use. Everything else (summary, details, location,
# actor, reported_by, event ids, timeline …) is never copied: see IncidentFacts.from_record.
FACT_KEYS: tuple[str, ...] = (
    "incident_id",
    "contract_id",
    "jurisdiction",
    "origin",
    "kind",
    "severity",
    "rules",
    "clauses",
    "first_event_ts",
    "last_event_ts",
    "discovered_at",
    "records",
    "event_count",
    "finding_count",
    "data_items",
    "data_items_withheld",
    "people",
)


class IncidentFacts(BaseModel):
    """An incident's facts that a message may state: counts, categories, times, rules, clauses.

    Strings are kept only when they are one of Kinkyu's own codes (incident
    kinds, rule ids, item names with a label) or a clause article of its
    tables; everything else is dropped (items: counted as "other").

    ``people`` is the number of distinct people when known (``subject_ids``);
    otherwise messages give ``records`` as the upper bound (最大).
    """

    model_config = _TOLERANT

    incident_id: str = Field(pattern=ID_PATTERN)
    contract_id: str | None = Field(default=None, pattern=ID_PATTERN)
    jurisdiction: str | None = Field(default=None, pattern=r"^[a-z]{1,40}$")
    origin: Literal["detection", "filed"] | None = None
    kind: str | None = None
    severity: Severity | None = None
    rules: list[str] = Field(default_factory=list)
    clauses: list[ClauseFact] = Field(default_factory=list)
    first_event_ts: AwareDatetime | None = None
    last_event_ts: AwareDatetime | None = None
    discovered_at: AwareDatetime | None = None
    records: int | None = Field(default=None, ge=0)
    event_count: int | None = Field(default=None, ge=0)
    finding_count: int | None = Field(default=None, ge=0)
    data_items: list[str] = Field(default_factory=list)
    data_items_withheld: int = Field(default=0, ge=0, le=MAX_LIST_ITEMS)
    people: int | None = Field(default=None, ge=0)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        return value if value in KIND_LABELS else None

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        return [v for v in value if v in RULE_LABELS]

    @field_validator("clauses", mode="before")
    @classmethod
    def _clauses(cls, value: Any) -> Any:
        # Clause articles come from Kinkyu's tables and start with the city ("小金井市 第8条");
        # anything else did not come from there and is not shown.
        if not isinstance(value, list):
            return value
        return [
            c
            for c in value
            if isinstance(c, dict)
            and isinstance(c.get("article"), str)
            and any(c["article"].startswith(f"{city} ") for city in CITY_NAMES.values())
        ]

    @field_validator("data_items")
    @classmethod
    def _items(cls, value: list[str]) -> list[str]:
        # Item names are category codes Kinkyu has labels for (name, address, my_number …). A filer
        # may have typed anything here, even a name: other entries are counted, not shown.
        return [v if v in ITEM_LABELS else "" for v in value]

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> IncidentFacts | None:
        """The facts of an ``incidents`` / ``incident-state`` record, or None if it names no incident.

        Accepts the incident itself or an ``incident-state`` record (whose
        ``incident`` key holds it). Copies the :data:`FACT_KEYS` only, then
        validates; a value that does not validate is dropped, not the record.
        """
        inner = record.get("incident")
        source = inner if isinstance(inner, dict) else record
        picked = {k: source[k] for k in FACT_KEYS if k in source}
        if "incident_id" not in picked and isinstance(record.get("incident_id"), str):
            picked["incident_id"] = record["incident_id"]
        while True:
            try:
                return cls.model_validate(picked)
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors(include_input=False) if e["loc"]}
                if "incident_id" in bad or not bad & set(picked):
                    return None
                for key in bad:
                    picked.pop(key, None)

    @property
    def known_items(self) -> list[str]:
        """The data-item codes that may be shown."""
        return [i for i in self.data_items if i]

    @property
    def other_items(self) -> int:
        """How many data items were not category codes (withheld)."""
        return self.data_items_withheld + sum(1 for i in self.data_items if not i)


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """A rendered e-mail: what the SMTP transport sends, and what the outbox stores to resend identically.

    ``headers`` hold Message-ID (derived from the idempotency ``key``, so a
    retry keeps it), Date, X-Kinkyu-Incident, X-Kinkyu-Kind,
    Auto-Submitted and Content-Language; the transport adds From and To.
    """

    key: str
    to: str
    subject: str
    text: str
    lang: Lang
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None

    @property
    def message_id(self) -> str:
        """The Message-ID header."""
        return self.headers["Message-ID"]

    def to_json(self) -> dict[str, Any]:
        """JSON form (an outbox payload)."""
        return {
            "key": self.key,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "lang": self.lang,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundEmail:
        """Inverse of :meth:`to_json`."""
        lang: Lang = "en" if data.get("lang") == "en" else "ja"
        return cls(
            key=str(data["key"]),
            to=str(data["to"]),
            subject=str(data["subject"]),
            text=str(data["text"]),
            lang=lang,
            headers={str(k): str(v) for k, v in dict(data.get("headers") or {}).items()},
            html=data.get("html"),
        )


@dataclass(frozen=True, slots=True)
class WebhookPayload:
    """A rendered webhook message: ``body`` is the JSON object posted, ``key`` its idempotency key."""

    key: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON form (an outbox payload)."""
        return {"key": self.key, "body": self.body}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebhookPayload:
        """Inverse of :meth:`to_json`."""
        return cls(key=str(data["key"]), body=dict(data["body"]))


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A transport's receipt: the message ``key``, the channel, when, and a short ``detail`` (a reply code)."""

    key: str
    channel: Channel
    delivered_at: datetime
    detail: str | None = None
    attempts: int = 1

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "key": self.key,
            "channel": self.channel,
            "delivered_at": iso(self.delivered_at),
            "detail": self.detail,
            "attempts": self.attempts,
        }
