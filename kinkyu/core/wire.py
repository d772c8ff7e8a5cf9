"""Wire models for shared/spec/events.md, and the decoders the processors call.

The pydantic models are the authority on validity and tolerate unknown
fields (log shippers add their own). :func:`decode_access` first tries a
msgspec decoder of the same shape, which parses and validates in one pass,
and falls back to the pydantic model for anything it refuses, so the hot
path pays ~1-2 µs per event while every rejection still gets pydantic's
precise reason. Error texts name fields and problems, never the
offending values: those may be personal information.

Every count and time is then held to :mod:`kinkyu.core.bounds` (``out-of-range``,
``future-timestamp``). The decoders are pure: the caller passes the clock
"the future" is judged against (``now``, POSIX seconds; the live worker
passes its wall clock). Without one, only the lower bounds and the counts
are judged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from kinkyu.core.bounds import (
    DEFAULT_MAX_SKEW,
    EARLIEST_T,
    MAX_ADDRESS_LENGTH,
    MAX_ID_LENGTH,
    MAX_LIST_ITEMS,
    MAX_PEOPLE,
    MAX_RECORDS,
    MAX_SUBJECT_IDS,
    NO_CLOCK,
    check_count,
    check_due,
    check_length,
    check_number,
    check_span,
    check_time,
)
from kinkyu.core.duration import parse_duration
from kinkyu.core.freetext import split_data_items, split_item_codes
from kinkyu.core.model import (
    DATA_ACTIONS,
    FOLLOW_UP_KINDS,
    INCIDENT_KINDS,
    AccessEvent,
    Action,
    FollowUpKind,
    IncidentEvent,
    OpeningKind,
    Person,
)
from kinkyu.exceptions import MalformedEventError

IncidentKind = OpeningKind | FollowUpKind

_TOLERANT = ConfigDict(extra="allow", frozen=True)
# Identifiers (see kinkyu.core.bounds.MAX_ID_LENGTH): a required one is never empty.
_Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
_Name = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
_Address = Annotated[str, Field(max_length=MAX_ADDRESS_LENGTH)]


class ActorIn(BaseModel):
    """``actor``: the account that acted."""

    model_config = _TOLERANT
    id: _Id
    org: _Name | None = None
    role: _Name | None = None


class SourceIn(BaseModel):
    """``source``: where the access came from; ``ip`` is required."""

    model_config = _TOLERANT
    ip: _Id
    host: _Name | None = None
    site: _Name | None = None


class ResourceIn(BaseModel):
    """``resource``: the data touched."""

    model_config = _TOLERANT
    dataset: _Name | None = None
    records: int | None = Field(default=None, ge=0)
    subject_ids: list[_Name] | None = None
    fields: list[_Name] | None = None


class AccessLogEventIn(BaseModel):
    """An access-log event as it arrives on ``access-log``."""

    model_config = _TOLERANT
    event_id: _Id
    ts: AwareDatetime
    contract_id: _Id
    system: _Id
    actor: ActorIn
    source: SourceIn
    action: Action
    resource: ResourceIn | None = None
    outcome: Literal["success", "failure"]
    session_id: _Name | None = None
    destination: _Address | None = None
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
        """The domain value for this event (field names that are not item codes withheld and counted)."""
        res = self.resource
        fields, withheld = split_item_codes(tuple(res.fields)) if res and res.fields is not None else (None, 0)
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
            fields=fields,
            subject_ids=tuple(res.subject_ids) if res and res.subject_ids is not None else None,
            destination=self.destination,
            encrypted=self.encrypted,
            session_id=self.session_id,
            fields_withheld=withheld,
        )


class PersonIn(BaseModel):
    """``reported_by``: the staff member who filed the event."""

    model_config = _TOLERANT
    id: _Id
    org: _Name | None = None
    role: _Name | None = None


class IncidentEventIn(BaseModel):
    """A filed incident event as it arrives on ``incident-events``."""

    model_config = _TOLERANT
    event_id: _Id
    ts: AwareDatetime
    contract_id: _Id
    kind: IncidentKind
    incident_id: _Name | None = None
    reported_by: PersonIn
    # Free text (summary, location, details): accepted as events.md writes it, kept only in the sealed
    # evidence; the incident record keeps whether there was a summary and a checked place label
    # (kinkyu.core.freetext.place_label).
    summary: str | None = None
    occurred_at: AwareDatetime | None = None
    discovered_at: AwareDatetime | None = None
    location: str | None = None
    records_affected: int | None = Field(default=None, ge=0)
    data_items: list[str] | None = None
    details: str | None = None
    # Kinkyu's extension for follow-ups: structured facts a playbook acts on (triage decision,
    # task ids, containment results; see kinkyu.core.playbook.run). Category codes, not prose.
    data: dict[str, str | int | float | bool | list[str] | None] | None = None

    @model_validator(mode="after")
    def _follow_ups_name_their_incident(self) -> IncidentEventIn:
        if self.kind in FOLLOW_UP_KINDS and not self.incident_id:
            msg = f"kind {self.kind!r} adds to an existing incident, so incident_id is required"
            raise ValueError(msg)
        return self

    def to_domain(self) -> IncidentEvent:
        """The domain value for this event (data items that are not item codes withheld and counted)."""
        items, withheld = split_data_items(self.data_items)
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
            # Item codes only: free text here would be printed in every report. Refusing the filing
            # would keep a leak report from the city, so the rest is counted and stays sealed.
            data_items=items,
            data_items_withheld=withheld,
            details=self.details,
            data=dict(self.data or {}),
        )


def describe_validation_error(exc: ValidationError) -> str:
    """Name each failing field and its problem, without echoing any input value."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(_loc_part(err["loc"], i) for i in range(len(err["loc"]))) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


# Fields whose keys the sender chooses: a key is input (it may be a name), so a location shows "<key>".
_FREE_KEYED = frozenset({"data", "attrs"})


def _loc_part(loc: tuple[int | str, ...], i: int) -> str:
    if i > 0 and loc[i - 1] in _FREE_KEYED and isinstance(loc[i], str):
        return "<key>"
    return str(loc[i])


def _reason(exc: ValidationError) -> str:
    """``out-of-range`` for a count too large to be an integer at all (JSON past 2^64 is a float), else ``invalid``."""
    if any(err["type"] == "int_parsing_size" for err in exc.errors(include_url=False, include_input=False)):
        return "out-of-range"
    return "invalid"


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # The position is safe to show; the text around it may not be.
        raise MalformedEventError("bad-json", f"not valid UTF-8 JSON (at byte {exc.pos})") from exc
    if not isinstance(obj, dict):
        raise MalformedEventError("bad-json", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _validate_access(obj: dict[str, Any], now: float, max_skew: float) -> AccessEvent:
    try:
        ev = AccessLogEventIn.model_validate(obj).to_domain()
    except ValidationError as exc:
        # Not chained: a ValidationError's text quotes the input, which may be personal data.
        raise MalformedEventError(_reason(exc), describe_validation_error(exc)) from None
    check_access(ev, now=now, max_skew=max_skew)
    return ev


def check_access(ev: AccessEvent, *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> None:
    """Hold an access event's counts and time to :mod:`kinkyu.core.bounds` (``out-of-range``, ``future-timestamp``)."""
    check_time("ts", ev.ts, now=now, max_skew=max_skew)
    check_count("resource.records", ev.records, MAX_RECORDS)
    check_length("resource.subject_ids", None if ev.subject_ids is None else len(ev.subject_ids), MAX_SUBJECT_IDS)
    check_length("resource.fields", None if ev.fields is None else len(ev.fields) + ev.fields_withheld, MAX_LIST_ITEMS)


def check_incident(ev: IncidentEvent, *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> None:
    """Hold a filed event's counts and times to :mod:`kinkyu.core.bounds`, the numbers in ``data`` included."""
    check_time("ts", ev.ts, now=now, max_skew=max_skew)
    check_time("occurred_at", ev.occurred_at, now=now, max_skew=max_skew)
    check_time("discovered_at", ev.discovered_at, now=now, max_skew=max_skew)
    check_count("records_affected", ev.records_affected, MAX_RECORDS)
    check_length("data", len(ev.data), MAX_LIST_ITEMS)
    check_follow_up_times(ev.data, since=ev.ts)
    for key, value in ev.data.items():
        # The key is the sender's text: say which kind of entry failed, not its name.
        if key in _FOLLOW_UP_TIMES:
            continue
        if isinstance(value, int | float):
            # Every number a follow-up states is a count (distinct_people the one a playbook reads).
            check_number("data.distinct_people" if key == "distinct_people" else "a number in data", value, MAX_PEOPLE)
        elif isinstance(value, list):
            check_length("datasets" if key == "datasets" else "a list in data", len(value), MAX_LIST_ITEMS)


# The times a playbook reads from a follow-up's data (kinkyu.core.playbook.run: a city instruction's deadline).
_FOLLOW_UP_TIMES = frozenset({"due", "within"})


def check_follow_up_times(data: Mapping[str, object], *, since: datetime) -> None:
    """Hold the times a playbook reads from a follow-up's ``data`` to :mod:`kinkyu.core.bounds`.

    ``due`` is an RFC 3339 time with an offset, ``within`` a duration such as
    ``3d``, ``24h`` or ``90m`` (the only forms the playbook reads; null is
    absent): ``invalid`` otherwise. Either deadline more than
    :data:`~kinkyu.core.bounds.MAX_DUE_AHEAD` after ``since`` (the event's
    ``ts``), or a ``due`` before 2000, is ``out-of-range``.
    """
    due = data.get("due")
    if due is not None:
        check_due("data.due", _aware_time("data.due", due), since=since)
    within = data.get("within")
    if within is not None:
        within_span(within)


def within_span(value: object, field: str = "data.within") -> timedelta:
    """``value`` as the duration a playbook reads for ``within``; :class:`MalformedEventError` says why not.

    ``invalid`` for anything but a duration such as ``3d`` (a string), ``out-of-range`` past
    :data:`~kinkyu.core.bounds.MAX_DUE_AHEAD`. The console's instruction form refuses the same.
    """
    if not isinstance(value, str):
        raise MalformedEventError("invalid", f"{field} must be a duration such as 3d, 24h or 90m (a string)")
    try:
        span = parse_duration(value)
    except OverflowError:
        span = timedelta.max  # more digits than a timedelta holds: past any bound
    except ValueError:
        raise MalformedEventError("invalid", f"{field} must be a duration such as 3d, 24h or 90m") from None
    check_span(field, span.total_seconds())
    return span


def _aware_time(field: str, value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # the playbook's own parser
        except ValueError:
            pass
        else:
            if parsed.utcoffset() is not None:
                return parsed
    raise MalformedEventError("invalid", f"{field} must be an RFC 3339 time with an offset (e.g. +09:00)")


_IdFast = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
_NameFast = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]


class _ActorFast(msgspec.Struct, frozen=True, gc=False):
    id: _IdFast
    org: _NameFast | None = None
    role: _NameFast | None = None


class _SourceFast(msgspec.Struct, frozen=True, gc=False):
    ip: _IdFast
    host: _NameFast | None = None
    site: _NameFast | None = None


class _ResourceFast(msgspec.Struct, frozen=True, gc=False):
    # The bounds cost nothing here; what is past them goes to pydantic, and check_access says why.
    dataset: _NameFast | None = None
    records: Annotated[int, msgspec.Meta(ge=0, le=MAX_RECORDS)] | None = None
    subject_ids: Annotated[tuple[_NameFast, ...], msgspec.Meta(max_length=MAX_SUBJECT_IDS)] | None = None
    fields: Annotated[tuple[_NameFast, ...], msgspec.Meta(max_length=MAX_LIST_ITEMS)] | None = None


class _AccessFast(msgspec.Struct, frozen=True, gc=False):
    """The same shape as :class:`AccessLogEventIn`, for msgspec's decoder (unknown fields are ignored)."""

    event_id: _IdFast
    ts: Annotated[datetime, msgspec.Meta(tz=True)]
    contract_id: _IdFast
    system: _IdFast
    actor: _ActorFast
    source: _SourceFast
    action: Action
    outcome: Literal["success", "failure"]
    resource: _ResourceFast | None = None
    session_id: _NameFast | None = None
    destination: Annotated[str, msgspec.Meta(max_length=MAX_ADDRESS_LENGTH)] | None = None
    encrypted: bool | None = None
    attrs: dict[str, Any] | None = None


_fast_decoder = msgspec.json.Decoder(_AccessFast)


def _fast_decode(raw: bytes, latest: float = NO_CLOCK) -> AccessEvent | None:
    """The event straight from canonical bytes, or None to let pydantic judge (and explain) them.

    msgspec validates while it parses (~1 µs for a whole event); it is
    stricter than pydantic's lax mode, never looser, so anything it refuses
    is re-judged by the authority rather than rejected here. So is a time
    outside ``EARLIEST_T..latest`` (two float comparisons on the hot path).
    """
    try:
        ev = _fast_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # DecodeError includes ValidationError. msgspec raises the other two for nesting past its depth
        # and for invalid UTF-8 inside a string: orjson then refuses them as bad-json, with a position.
        return None
    res = ev.resource
    withheld = 0
    if res is None:
        if ev.action in DATA_ACTIONS:
            return None
        dataset = records = fields = subject_ids = None
    else:
        dataset, records, fields, subject_ids = res.dataset, res.records, res.fields, res.subject_ids
        if (dataset is None or records is None) and ev.action in DATA_ACTIONS:
            return None
        if fields is not None:
            # A field name is the log writer's text and findings copy it: item codes only (one set test).
            fields, withheld = split_item_codes(fields)
    actor, source, ts = ev.actor, ev.source, ev.ts
    t = ts.timestamp()
    if not EARLIEST_T <= t <= latest:
        return None
    return AccessEvent(
        ev.event_id,
        ts,
        t,
        ev.contract_id,
        ev.system,
        actor.id,
        actor.org,
        actor.role,
        source.ip,
        source.host,
        source.site,
        ev.action,
        ev.outcome,
        dataset,
        records,
        fields,
        subject_ids,
        ev.destination,
        ev.encrypted,
        ev.session_id,
        withheld,
    )


def access_from_obj(obj: dict[str, Any], *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> AccessEvent:
    """Validate an already-parsed JSON object as an access-log event (``now``: the judging clock)."""
    return _validate_access(obj, now, max_skew)


def decode_access(raw: bytes, *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> AccessEvent:
    """Decode one ``access-log`` message; :class:`MalformedEventError` says why not.

    ``now`` (POSIX seconds) is the clock a time more than ``max_skew`` ahead of is refused by
    (``future-timestamp``); the default judges no time to be in the future.
    """
    return _fast_decode(raw, now + max_skew) or _validate_access(_load_object(raw), now, max_skew)


def access_decoder(*, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> Callable[[bytes], AccessEvent]:
    """:func:`decode_access` with its judging clock fixed: the live stage makes one a batch.

    The hot path then pays one closure call and no keyword arguments per event.
    """
    latest = now + max_skew
    fast, authority, load = _fast_decode, _validate_access, _load_object

    def decode(raw: bytes) -> AccessEvent:
        return fast(raw, latest) or authority(load(raw), now, max_skew)

    return decode


def decode_event(
    raw: bytes, *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW
) -> AccessEvent | IncidentEvent:
    """Either kind of event from one JSON line, told apart by its fields (``action`` or ``kind``)."""
    if b'"action"' in raw:
        ev = _fast_decode(raw, now + max_skew)
        if ev is not None:
            return ev
    obj = _load_object(raw)
    if "action" in obj:
        return _validate_access(obj, now, max_skew)
    if "kind" in obj:
        return incident_from_obj(obj, now=now, max_skew=max_skew)
    raise MalformedEventError("invalid", "neither an access-log event (no action) nor an incident event (no kind)")


def incident_from_obj(
    obj: dict[str, Any], *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW
) -> IncidentEvent:
    """Validate an already-parsed JSON object as an incident event (``now``: the judging clock)."""
    try:
        ev = IncidentEventIn.model_validate(obj).to_domain()
    except ValidationError as exc:
        # Not chained, as above.
        raise MalformedEventError(_reason(exc), describe_validation_error(exc)) from None
    check_incident(ev, now=now, max_skew=max_skew)
    return ev


def decode_incident(raw: bytes, *, now: float = NO_CLOCK, max_skew: float = DEFAULT_MAX_SKEW) -> IncidentEvent:
    """Decode one ``incident-events`` message; :class:`MalformedEventError` says why not (``now``: decode_access)."""
    return incident_from_obj(_load_object(raw), now=now, max_skew=max_skew)


__all__ = [
    "INCIDENT_KINDS",
    "AccessLogEventIn",
    "IncidentEventIn",
    "access_decoder",
    "access_from_obj",
    "check_access",
    "check_follow_up_times",
    "check_incident",
    "decode_access",
    "decode_event",
    "decode_incident",
    "describe_validation_error",
    "incident_from_obj",
    "within_span",
]
