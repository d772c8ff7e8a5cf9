"""The outbox: messages to deliver, each once, retried with backoff until sent or given up.

An :class:`OutboxEntry` is a message already rendered (``payload``, opaque
here: an e-mail or a webhook body), so every retry sends the very same
bytes, with the same Message-ID. Its ``key`` is the idempotency key,
derived from the incident, the effect (or chain) and the recipient
(:func:`idempotency_key`): the same message queued twice - a redelivered
Kafka record, a chain replayed after a restart - is one entry.

States: ``pending`` -> ``sent`` | ``failed`` (given up: a permanent error,
or ``max_attempts`` transient ones). An attempt is recorded as begun
(:func:`begin_attempt`, ``in_flight``) before the transport is called and as
finished after it answers, so an entry found ``in_flight`` after a crash is
one whose outcome is unknown: :func:`recover` makes it pending again and
marks it ``uncertain`` (it may have been delivered; the resend carries the
same Message-ID, so mail clients and the sink show it once).

Retries follow :class:`Backoff`: exponential, capped, deterministic (no
jitter), so the schedule is testable and survives a restart unchanged.
Pure: no clock, no I/O (:mod:`notifiers.outbox_store` journals entries).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import msgspec
from msgspec.structs import replace

from kinkyu.core.codec import Record
from kinkyu.exceptions import KinkyuError

State = Literal["pending", "sent", "failed"]
STATES: tuple[State, ...] = ("pending", "sent", "failed")


class OutboxError(KinkyuError):
    """An outbox entry cannot be built or restored, or a transition is not allowed."""


def idempotency_key(incident_id: str, effect_id: str, recipient: str, channel: str = "email") -> str:
    """The deterministic key of one message: 32 hex digits of SHA-256 over its identity.

    ``effect_id`` already contains the incident id for playbook effects; the
    incident is part of the key anyway so keys of different incidents never meet.
    """
    identity = f"{incident_id}\x1f{effect_id}\x1f{recipient}\x1f{channel}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry schedule: after the n-th failed attempt wait ``base * factor**(n-1)``, at most ``cap``.

    Defaults (30 s doubling to 15 min, 30 attempts) keep a message retried for
    about six and a half hours: an SMTP server down for minutes or a few hours
    delays mail without losing any, and a message that cannot go out in a
    working day is given up and shows as failed on the timeline.
    """

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 30

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base or self.factor < 1 or self.max_attempts < 1:
            raise OutboxError("backoff needs base > 0, cap >= base, factor >= 1 and max_attempts >= 1")

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt (1-based)."""
        # Past 64 doublings every delay is the cap anyway; bounding the exponent keeps the float finite.
        exponent = min(max(0, attempts - 1), 64)
        seconds = self.base.total_seconds() * self.factor**exponent
        return timedelta(seconds=min(seconds, self.cap.total_seconds()))

    def schedule(self) -> list[timedelta]:
        """Every wait between attempts, in order (for documentation and tests)."""
        return [self.delay(n) for n in range(1, self.max_attempts)]


class OutboxEntry(msgspec.Struct, Record, frozen=True, tag_field="v", tag=1):
    """One message to deliver once.

    ``chain_id`` is the playbook effect (or escalation chain) it belongs to,
    ``recipient`` a reference (``city:0``, ``webhook:chat``), ``channel``
    ``email`` or ``webhook``. ``last_error`` is a category code
    (``connection``, ``timeout``, ``smtp-4xx`` …), never a server's text,
    which may quote an address. ``detail`` is the transport's receipt (an
    SMTP reply code, an HTTP status).
    """

    key: str
    incident_id: str
    chain_id: str
    recipient: str
    channel: str
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    state: State = "pending"
    attempts: int = 0
    in_flight: bool = False
    uncertain: bool = False
    last_error: str | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    detail: str | None = None
    meta: dict[str, Any] = {}

    # A journal line begins with its format ("v": 1); one that does not parse is refused as an OutboxError.
    refused_as: ClassVar[tuple[type[Exception], str] | None] = (OutboxError, "not an outbox entry")
    refused_fields: ClassVar[dict[str, str]] = {"state": "unknown outbox state"}

    @property
    def done(self) -> bool:
        """Sent or given up: nothing more will be attempted."""
        return self.state != "pending"

    def is_due(self, now: datetime) -> bool:
        """Pending, no attempt running, and its next attempt time has come."""
        return self.state == "pending" and not self.in_flight and self.next_attempt_at <= now


def new_entry(
    *,
    incident_id: str,
    chain_id: str,
    recipient: str,
    channel: str,
    payload: dict[str, Any],
    now: datetime,
    meta: dict[str, Any] | None = None,
) -> OutboxEntry:
    """A pending entry, due at ``now``, keyed by :func:`idempotency_key`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise OutboxError("now must be an aware datetime")
    return OutboxEntry(
        key=idempotency_key(incident_id, chain_id, recipient, channel),
        incident_id=incident_id,
        chain_id=chain_id,
        recipient=recipient,
        channel=channel,
        payload=dict(payload),
        created_at=now,
        next_attempt_at=now,
        meta=dict(meta or {}),
    )


def _pending(entry: OutboxEntry, action: str) -> None:
    if entry.state != "pending":
        raise OutboxError(f"cannot {action} outbox entry {entry.key}: it is {entry.state}")


def begin_attempt(entry: OutboxEntry, now: datetime) -> OutboxEntry:
    """The entry with an attempt begun at ``now`` (journal this before calling the transport)."""
    _pending(entry, "attempt")
    return replace(entry, attempts=entry.attempts + 1, in_flight=True, next_attempt_at=now)


def succeeded(entry: OutboxEntry, now: datetime, detail: str | None = None) -> OutboxEntry:
    """The entry delivered at ``now``; ``detail`` is the transport's receipt."""
    _pending(entry, "mark sent")
    return replace(entry, state="sent", in_flight=False, sent_at=now, last_error=None, detail=detail)


def failed(
    entry: OutboxEntry, now: datetime, *, error: str, permanent: bool, backoff: Backoff, detail: str | None = None
) -> OutboxEntry:
    """The entry after a failed attempt: retried after the backoff, or given up.

    Given up (``failed``) when ``permanent`` or when ``max_attempts`` attempts
    have been made; ``error`` is a category code.
    """
    _pending(entry, "mark failed")
    attempts = max(entry.attempts, 1)
    if permanent or attempts >= backoff.max_attempts:
        return replace(
            entry, state="failed", in_flight=False, failed_at=now, last_error=error, detail=detail, attempts=attempts
        )
    return replace(
        entry,
        in_flight=False,
        last_error=error,
        detail=detail,
        attempts=attempts,
        next_attempt_at=now + backoff.delay(attempts),
    )


def postpone(entry: OutboxEntry, until: datetime) -> OutboxEntry:
    """The entry, not attempted, due again at ``until`` (the transport is known to be down)."""
    _pending(entry, "postpone")
    return replace(entry, next_attempt_at=max(entry.next_attempt_at, until))


def recover(entry: OutboxEntry) -> OutboxEntry:
    """After a restart: an attempt that never reported back is pending again and ``uncertain``."""
    if not entry.in_flight or entry.state != "pending":
        return entry
    return replace(entry, in_flight=False, uncertain=True, last_error="interrupted")


class Outbox:
    """The entries by key, in memory: the pure core of :class:`notifiers.outbox_store.OutboxStore`."""

    def __init__(self, entries: list[OutboxEntry] | None = None) -> None:
        self._entries: dict[str, OutboxEntry] = {}
        for entry in entries or []:
            self._entries[entry.key] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> OutboxEntry | None:
        """The entry with ``key``, if any."""
        return self._entries.get(key)

    def entries(self) -> list[OutboxEntry]:
        """Every entry, oldest first."""
        return sorted(self._entries.values(), key=lambda e: (e.created_at, e.key))

    def accepts(self, entry: OutboxEntry) -> bool:
        """True when ``entry``'s key is new (a known key is the same message: it is not queued again)."""
        return entry.key not in self._entries

    def put(self, entry: OutboxEntry) -> None:
        """Store ``entry`` (new, or a new version of one already here)."""
        self._entries[entry.key] = entry

    def due(self, now: datetime, limit: int | None = None) -> list[OutboxEntry]:
        """Entries due at ``now``, earliest first (ties by creation, then key: deterministic)."""
        out = sorted(
            (e for e in self._entries.values() if e.is_due(now)),
            key=lambda e: (e.next_attempt_at, e.created_at, e.key),
        )
        return out if limit is None else out[:limit]

    def next_due(self) -> datetime | None:
        """The earliest next attempt among pending entries (None when nothing is pending)."""
        times = [e.next_attempt_at for e in self._entries.values() if e.state == "pending" and not e.in_flight]
        return min(times) if times else None

    def pending(self) -> list[OutboxEntry]:
        """The entries not yet sent or given up, in no particular order."""
        return [e for e in self._entries.values() if e.state == "pending"]

    def counts(self) -> dict[str, int]:
        """How many entries are in each state."""
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for e in self._entries.values():
            out[e.state] += 1
        return out
