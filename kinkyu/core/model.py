"""Domain values: the events Kinkyu consumes and the findings it emits.

These are plain slotted classes, not pydantic models: the hot path builds
one per access-log event and the per-object cost decides the throughput.
The pydantic wire models in :mod:`kinkyu.core.wire` are the authority on
what is valid; they build these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, ClassVar, Literal, get_args

import msgspec

from kinkyu.core.codec import Record

JST = timezone(timedelta(hours=9), "JST")

# The action and kind vocabularies of shared/spec/events.md; the Literals type the wire models,
# the frozensets serve membership tests on the hot path.
Action = Literal[
    "login",
    "login_failed",
    "logout",
    "read",
    "search",
    "export",
    "print",
    "copy",
    "modify",
    "delete",
    "email_send",
    "fax_send",
    "media_write",
    "upload",
    "permission_change",
    "log_config_change",
    "heartbeat",
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))

# Actions that touch personal data; rules.md's "data action".
DATA_ACTIONS = frozenset(
    {
        "read",
        "search",
        "export",
        "print",
        "copy",
        "modify",
        "delete",
        "email_send",
        "fax_send",
        "media_write",
        "upload",
    }
)

OpeningKind = Literal[
    "leak",
    "loss",
    "misdelivery",
    "unauthorized_access",
    "tampering",
    "system_outage",
    "complaint",
    "other",
]
# Kinds that only make sense on an incident that already exists.
FollowUpKind = Literal["update", "city_instruction", "acknowledgement", "containment_result", "resolution"]
INCIDENT_KINDS: frozenset[str] = frozenset(get_args(OpeningKind))
FOLLOW_UP_KINDS: frozenset[str] = frozenset(get_args(FollowUpKind))


class Severity(StrEnum):
    """How bad a finding or incident looks; orders as written (low < critical)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order low, medium, high, critical."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class AccessEvent(msgspec.Struct, frozen=True, gc=False):
    """One access-log event (shared/spec/events.md), decoded and validated.

    A msgspec Struct rather than a dataclass: the hot path builds one per
    event and a frozen dataclass's ``__init__`` costs three times as much.
    ``gc=False`` is safe because it holds only immutable values.
    """

    event_id: str
    ts: datetime
    t: float  # ts as POSIX seconds, for window arithmetic
    contract_id: str
    system: str
    actor_id: str
    actor_org: str | None
    actor_role: str | None
    source_ip: str
    source_host: str | None
    source_site: str | None
    action: str
    outcome: str
    dataset: str | None = None
    records: int | None = None
    fields: tuple[str, ...] | None = None
    subject_ids: tuple[str, ...] | None = None
    destination: str | None = None
    encrypted: bool | None = None
    session_id: str | None = None
    # Entries of resource.fields that were not item codes: counted, never kept (the writer's text).
    fields_withheld: int = 0

    @property
    def is_data_action(self) -> bool:
        """True for actions that touch personal data (rules.md's "data action")."""
        return self.action in DATA_ACTIONS

    @property
    def record_count(self) -> int:
        """Records touched, 0 when the event does not say."""
        return self.records or 0


@dataclass(slots=True, frozen=True)
class Person:
    """Who filed an incident event (a staff member, never a resident)."""

    id: str
    org: str | None = None
    role: str | None = None


@dataclass(slots=True, frozen=True)
class IncidentEvent:
    """One filed incident event (shared/spec/events.md), decoded and validated.

    ``details`` may hold personal information: it is kept as evidence and
    never copied into a message, a log line or an incident summary.
    """

    event_id: str
    ts: datetime
    contract_id: str
    kind: str
    incident_id: str | None
    reported_by: Person
    summary: str | None = None
    occurred_at: datetime | None = None
    discovered_at: datetime | None = None
    location: str | None = None
    records_affected: int | None = None
    data_items: tuple[str, ...] = ()
    details: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    data_items_withheld: int = 0  # entries of data_items that were not item codes (kept sealed only)


class Clause(msgspec.Struct, Record, frozen=True):
    """A contract clause a finding relates to, e.g. ``豊田市 第10条(7)``."""

    article: str
    label: str


class Finding(msgspec.Struct, Record, frozen=True):
    """One rule firing on one action (or on a window of actions).

    ``finding_id`` is derived from the rule and the triggering event ids, so a
    redelivered event reproduces the same id and is recognised as known.
    ``detail`` carries counts and categories only: no personal information.
    ``subject_ids`` (the events' pseudonymous ``resource.subject_ids``, None
    when none carried any) feed the incident's count of distinct people and
    are never in :meth:`to_json` (the wire form on the ``findings`` topic and in
    replay output); ``subjects_missing`` says some event with records behind
    the finding carried none.
    """

    finding_id: str
    rule: str
    contract_id: str
    jurisdiction: str
    actor: str | None
    system: str
    event_ids: tuple[str, ...]
    ts: datetime
    severity: Severity
    clauses: tuple[Clause, ...]
    records: int = 0
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    subject_ids: tuple[str, ...] | None = None
    subjects_missing: bool = False

    snapshot_only: ClassVar[frozenset[str]] = frozenset({"subject_ids", "subjects_missing"})


def finding_id(rule: str, event_ids: tuple[str, ...]) -> str:
    """A stable id for the finding of ``rule`` on these events."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(rule.encode())
    for event_id in sorted(event_ids):
        digest.update(b"\x00")
        digest.update(event_id.encode())
    return "F-" + digest.hexdigest()
