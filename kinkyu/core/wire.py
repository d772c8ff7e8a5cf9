"""Wire models for shared/spec/events.md, and the decoders the processors call.

The pydantic models are the authority on validity and tolerate unknown
fields (log shippers add their own). :func:`decode_access` takes a fast path
for the canonical shape and falls back to the pydantic model for anything
else, so the hot path pays ~1 µs per event while every rejection still gets
pydantic's precise reason. Error texts name fields and problems, never the
offending values: those may be personal information.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from kinkyu.core.model import (
    ACTIONS,
    DATA_ACTIONS,
    FOLLOW_UP_KINDS,
    INCIDENT_KINDS,
    AccessEvent,
    IncidentEvent,
    Person,
)
from kinkyu.exceptions import MalformedEventError

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
IncidentKind = Literal[
    "leak",
    "loss",
    "misdelivery",
    "unauthorized_access",
    "tampering",
    "system_outage",
    "complaint",
    "other",
    "update",
    "city_instruction",
    "acknowledgement",
    "containment_result",
    "resolution",
]

_TOLERANT = ConfigDict(extra="allow", frozen=True)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)\Z")


class ActorIn(BaseModel):
    """``actor``: the account that acted."""

    model_config = _TOLERANT
    id: str = Field(min_length=1)
    org: str | None = None
    role: str | None = None


class SourceIn(BaseModel):
    """``source``: where the access came from; ``ip`` is required."""

    model_config = _TOLERANT
    ip: str = Field(min_length=1)
    host: str | None = None
    site: str | None = None


class ResourceIn(BaseModel):
    """``resource``: the data touched."""

    model_config = _TOLERANT
    dataset: str | None = None
    records: int | None = Field(default=None, ge=0)
    subject_ids: list[str] | None = None
    fields: list[str] | None = None


class AccessLogEventIn(BaseModel):
    """An access-log event as it arrives on ``access-log``."""

    model_config = _TOLERANT
    event_id: str = Field(min_length=1)
    ts: AwareDatetime
    contract_id: str = Field(min_length=1)
    system: str = Field(min_length=1)
    actor: ActorIn
    source: SourceIn
    action: Action
    resource: ResourceIn | None = None
    outcome: Literal["success", "failure"]
    session_id: str | None = None
    destination: str | None = None
    encrypted: bool | None = None
    attrs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _data_actions_name_their_data(self) -> AccessLogEventIn:
        if self.action in DATA_ACTIONS and (
            self.resource is None or self.resource.dataset is None or self.resource.records is None
        ):
            msg = f"action {self.action!r} touches data, so resource.dataset and resource.records are required"
            raise ValueError(msg)
        return self

    def to_domain(self) -> AccessEvent:
        """The domain value for this event."""
        res = self.resource
        return AccessEvent(
            event_id=self.event_id,
            ts=self.ts,
            t=self.ts.timestamp(),
            contract_id=self.contract_id,
            system=self.system,
            actor_id=self.actor.id,
            actor_org=self.actor.org,
            actor_role=self.actor.role,
            source_ip=self.source.ip,
            source_host=self.source.host,
            source_site=self.source.site,
            action=self.action,
            outcome=self.outcome,
            dataset=res.dataset if res else None,
            records=res.records if res else None,
            fields=tuple(res.fields) if res and res.fields is not None else None,
            subject_ids=tuple(res.subject_ids) if res and res.subject_ids is not None else None,
            destination=self.destination,
            encrypted=self.encrypted,
            session_id=self.session_id,
        )


class PersonIn(BaseModel):
    """``reported_by``: the staff member who filed the event."""

    model_config = _TOLERANT
    id: str = Field(min_length=1)
    org: str | None = None
    role: str | None = None


class IncidentEventIn(BaseModel):
    """A filed incident event as it arrives on ``incident-events``."""

    model_config = _TOLERANT
    event_id: str = Field(min_length=1)
    ts: AwareDatetime
    contract_id: str = Field(min_length=1)
    kind: IncidentKind
    incident_id: str | None = None
    reported_by: PersonIn
    summary: str | None = None
    occurred_at: AwareDatetime | None = None
    discovered_at: AwareDatetime | None = None
    location: str | None = None
    records_affected: int | None = Field(default=None, ge=0)
    data_items: list[str] | None = None
    details: str | None = None

    @model_validator(mode="after")
    def _follow_ups_name_their_incident(self) -> IncidentEventIn:
        if self.kind in FOLLOW_UP_KINDS and not self.incident_id:
            msg = f"kind {self.kind!r} adds to an existing incident, so incident_id is required"
            raise ValueError(msg)
        return self

    def to_domain(self) -> IncidentEvent:
        """The domain value for this event."""
        return IncidentEvent(
            event_id=self.event_id,
            ts=self.ts,
            contract_id=self.contract_id,
            kind=self.kind,
            incident_id=self.incident_id,
            reported_by=Person(self.reported_by.id, self.reported_by.org, self.reported_by.role),
            summary=self.summary,
            occurred_at=self.occurred_at,
            discovered_at=self.discovered_at,
            location=self.location,
            records_affected=self.records_affected,
            data_items=tuple(self.data_items or ()),
            details=self.details,
        )


def describe_validation_error(exc: ValidationError) -> str:
    """Name each failing field and its problem, without echoing any input value."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # The position is safe to show; the text around it may not be.
        raise MalformedEventError("bad-json", f"not valid UTF-8 JSON (at byte {exc.pos})") from exc
    if not isinstance(obj, dict):
        raise MalformedEventError("bad-json", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _validate_access(obj: dict[str, Any]) -> AccessEvent:
    try:
        return AccessLogEventIn.model_validate(obj).to_domain()
    except ValidationError as exc:
        # Not chained: a ValidationError's text quotes the input, which may be personal data.
        raise MalformedEventError("invalid", describe_validation_error(exc)) from None


def _opt_str(value: object) -> bool:
    return value is None or type(value) is str


def _fast_access(obj: dict[str, Any]) -> AccessEvent | None:
    """Build the event straight from the canonical shape, or None to defer to pydantic."""
    actor = obj.get("actor")
    source = obj.get("source")
    res = obj.get("resource")
    event_id = obj.get("event_id")
    contract_id = obj.get("contract_id")
    system = obj.get("system")
    action = obj.get("action")
    outcome = obj.get("outcome")
    ts_raw = obj.get("ts")
    if not (
        type(actor) is dict
        and type(source) is dict
        and type(event_id) is str
        and event_id
        and type(contract_id) is str
        and contract_id
        and type(system) is str
        and system
        and type(action) is str
        and action in ACTIONS
        and (outcome == "success" or outcome == "failure")  # noqa: PLR1714  # exact str compare, cheaper than a set for 2
        and type(ts_raw) is str
    ):
        return None
    actor_id = actor.get("id")
    ip = source.get("ip")
    org = actor.get("org")
    role = actor.get("role")
    host = source.get("host")
    site = source.get("site")
    if not (type(actor_id) is str and actor_id and type(ip) is str and ip):
        return None
    if not (_opt_str(org) and _opt_str(role) and _opt_str(host) and _opt_str(site)):
        return None
    dataset = records = fields = subject_ids = None
    if res is not None:
        if type(res) is not dict:
            return None
        dataset = res.get("dataset")
        records = res.get("records")
        fields = res.get("fields")
        subject_ids = res.get("subject_ids")
        if not (
            _opt_str(dataset)
            and (records is None or (type(records) is int and records >= 0))
            and (fields is None or (type(fields) is list and all(type(f) is str for f in fields)))
            and (subject_ids is None or (type(subject_ids) is list and all(type(s) is str for s in subject_ids)))
        ):
            return None
    if action in DATA_ACTIONS and (dataset is None or records is None):
        return None
    destination = obj.get("destination")
    encrypted = obj.get("encrypted")
    session_id = obj.get("session_id")
    attrs = obj.get("attrs")
    if not (
        _opt_str(destination)
        and (encrypted is None or type(encrypted) is bool)
        and _opt_str(session_id)
        and (attrs is None or type(attrs) is dict)
    ):
        return None
    # fromisoformat takes ISO 8601 forms RFC 3339 does not (week dates, +09); let pydantic judge those.
    if _RFC3339.match(ts_raw) is None:
        return None
    try:
        ts = datetime.fromisoformat(ts_raw)
    except ValueError:
        return None
    return AccessEvent(
        event_id=event_id,
        ts=ts,
        t=ts.timestamp(),
        contract_id=contract_id,
        system=system,
        actor_id=actor_id,
        actor_org=org,
        actor_role=role,
        source_ip=ip,
        source_host=host,
        source_site=site,
        action=action,
        outcome=outcome,
        dataset=dataset,
        records=records,
        fields=tuple(fields) if fields is not None else None,
        subject_ids=tuple(subject_ids) if subject_ids is not None else None,
        destination=destination,
        encrypted=encrypted,
        session_id=session_id,
    )


def access_from_obj(obj: dict[str, Any]) -> AccessEvent:
    """Validate an already-parsed JSON object as an access-log event."""
    return _fast_access(obj) or _validate_access(obj)


def decode_access(raw: bytes) -> AccessEvent:
    """Decode one ``access-log`` message; :class:`MalformedEventError` says why not."""
    return access_from_obj(_load_object(raw))


def incident_from_obj(obj: dict[str, Any]) -> IncidentEvent:
    """Validate an already-parsed JSON object as an incident event."""
    try:
        return IncidentEventIn.model_validate(obj).to_domain()
    except ValidationError as exc:
        # Not chained, as above.
        raise MalformedEventError("invalid", describe_validation_error(exc)) from None


def decode_incident(raw: bytes) -> IncidentEvent:
    """Decode one ``incident-events`` message; :class:`MalformedEventError` says why not."""
    return incident_from_obj(_load_object(raw))


__all__ = [
    "INCIDENT_KINDS",
    "AccessLogEventIn",
    "IncidentEventIn",
    "access_from_obj",
    "decode_access",
    "decode_incident",
    "describe_validation_error",
    "incident_from_obj",
]
