"""The delivery ledger's rules: which worker may send a message, decided from the ledger's records alone (pure).

Every worker keeps its own outbox (:mod:`kinkyu.core.outbox`), so a worker
that takes over a dead one's work, or a restarted worker whose outbox still
holds what a survivor already sent, would send a message again. The ledger is
one log all workers share (a compacted topic keyed by the message's
idempotency key, :mod:`kinkyu.notifiers.ledger`); around each send a worker
appends:

- ``intent`` before it calls the transport: a claim on the key for ``lease``;
- ``delivered`` after the server's 250 (or a webhook's 2xx), ``failed`` when
  the message is given up. Both are final: nobody sends the key again.

A worker appends its intent, reads the log up to it, and sends only if
:func:`decide` says the key is its own. Every worker folds the same log in
the same order (:meth:`LedgerBook.apply`), so they agree:

- the first intent holds the key until its lease runs out (timed by the
  record's own timestamp, the broker's clock); another worker's intent
  within the lease is ignored, one after it takes the key over. An intent
  with no ``delivered`` after it (its worker died, or is still sending) is
  therefore resent after the lease, never lost;
- a worker's intent always replaces its own earlier one: a worker id names an
  outbox folder, which one process at a time holds (its journal is locked),
  so an older intent of the same worker is from a run that is gone;
- after a final record, intents change nothing (a worker that appended one
  without knowing re-appends the final record, :attr:`KeyState.restate`, so
  compaction, which keeps a key's last record, keeps the final one).

What remains: a worker that dies after the server accepted a message and
before its ``delivered`` record is on the broker leaves an intent alone, and
the message is sent again once the lease has passed (with the same
Message-ID). That window is measured in ``bench/ledger_bench.py``. A send
that outlasts its lease could also meet a second sender: the lease must be
longer than the longest send (the SMTP timeout times its steps).

No clock and no I/O here; records carry ids, codes and times only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from kinkyu.exceptions import KinkyuError

LedgerState = Literal["intent", "delivered", "failed"]
FINAL: frozenset[str] = frozenset({"delivered", "failed"})
_STATES: frozenset[str] = frozenset({"intent", "delivered", "failed"})
_MAX_DETAIL = 40  # a reply code or a category; never a server's text
_CODE = re.compile(r"[A-Za-z0-9._:,-]+")


class LedgerError(KinkyuError):
    """A ledger record cannot be read, or the ledger cannot be reached."""


def code_only(detail: object) -> str | None:
    """``detail``'s leading code (``smtp-250``, ``http-204``, ``550``): a server's words may quote an address."""
    if detail is None:
        return None
    found = _CODE.match(str(detail))
    return found.group(0)[:_MAX_DETAIL] if found else None


def _aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise LedgerError("ledger times must be aware datetimes")


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One ledger record: ``state`` of message ``key`` by ``worker`` at ``at``.

    ``lease`` counts for intents only. ``detail`` is a reply code (``250``) or
    an error category, never a server's words (they may quote an address).
    """

    key: str
    state: LedgerState
    worker: str
    at: datetime
    lease: timedelta = timedelta(0)
    detail: str | None = None

    def __post_init__(self) -> None:
        _aware(self.at)
        if self.state not in _STATES:
            raise LedgerError(f"unknown ledger state {self.state!r}")
        if not self.key or not self.worker:
            raise LedgerError("a ledger record needs a key and a worker")
        if self.lease < timedelta(0):
            raise LedgerError("a lease cannot be negative")

    @property
    def final(self) -> bool:
        """Delivered or given up: the key is settled."""
        return self.state in FINAL

    @property
    def holds_until(self) -> datetime:
        """When an intent's lease runs out."""
        return self.at + self.lease

    def value(self) -> bytes:
        """The record's value on the topic (its key and time travel as the Kafka key and timestamp)."""
        body: dict[str, Any] = {"v": 1, "state": self.state, "worker": self.worker}
        if self.state == "intent":
            body["lease_ms"] = int(self.lease.total_seconds() * 1000)
        detail = code_only(self.detail)
        if detail is not None:
            body["detail"] = detail
        return orjson.dumps(body)

    @classmethod
    def parse(cls, key: bytes | None, value: bytes | None, at: datetime) -> LedgerRecord:
        """A record read from the topic; LedgerError naming the field when it is not one."""
        if not key:
            raise LedgerError("a ledger record needs a key")
        try:
            body = orjson.loads(value or b"")
        except orjson.JSONDecodeError as exc:
            raise LedgerError("a ledger record's value is not JSON") from exc
        if not isinstance(body, dict):
            raise LedgerError("a ledger record's value is not an object")
        state, worker, lease_ms = body.get("state"), body.get("worker"), body.get("lease_ms", 0)
        if state not in _STATES:
            raise LedgerError("a ledger record's state is unknown")
        if not isinstance(worker, str):
            raise LedgerError("a ledger record's worker is missing")
        if not isinstance(lease_ms, int) or isinstance(lease_ms, bool) or lease_ms < 0:
            raise LedgerError("a ledger record's lease_ms is not a count of milliseconds")
        return cls(
            key=key.decode("ascii", errors="replace"),
            state=state,
            worker=worker,
            at=at,
            lease=timedelta(milliseconds=lease_ms),
            detail=code_only(body.get("detail")),
        )


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the ledger says of one key: the final record, else the intent holding it; and the last record."""

    final: LedgerRecord | None
    holder: LedgerRecord | None
    last: LedgerRecord

    @property
    def restate(self) -> bool:
        """Settled, but its last record says otherwise: compaction keeps the last one, so the final is re-appended."""
        return self.final is not None and self.last.state != self.final.state


def apply(state: KeyState | None, record: LedgerRecord) -> KeyState:
    """``state`` after ``record``, the next record of its key in log order (see the module docstring)."""
    if state is not None and state.final is not None:
        return KeyState(state.final, state.holder, record)
    if record.final:
        return KeyState(record, state.holder if state else None, record)
    holder = state.holder if state is not None else None
    if holder is None or holder.worker == record.worker or record.at >= holder.holds_until:
        return KeyState(None, record, record)
    return KeyState(None, holder, record)  # another worker's live lease: this intent loses


Verdict = Literal["send", "delivered", "failed", "wait", "claim"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a worker does with a message.

    ``send`` it (the key is its own), record it ``delivered`` or ``failed`` as
    the ledger says (without sending), ``wait`` until ``until`` (another worker
    holds it), or ``claim`` it (append an intent, then decide again).
    """

    verdict: Verdict
    until: datetime | None = None
    by: str | None = None
    detail: str | None = None
    restate: bool = False


def decide(state: KeyState | None, worker: str, now: datetime) -> Decision:
    """What ``worker`` does with a key in ``state`` at ``now`` (its own clock, used only to wait)."""
    _aware(now)
    if state is None:
        return Decision("claim")
    if state.final is not None:
        final = state.final
        return Decision(final.state, by=final.worker, detail=final.detail, restate=state.restate)  # type: ignore[arg-type]  # final is delivered or failed
    holder = state.holder
    if holder is None:
        return Decision("claim")
    if holder.worker == worker:
        return Decision("send", until=holder.holds_until, by=worker)
    if now < holder.holds_until:
        return Decision("wait", until=holder.holds_until, by=holder.worker)
    return Decision("claim")


class LedgerBook:
    """Every key's :class:`KeyState`, folded from the records in log order: the pure core of the Kafka ledger."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyState] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def apply(self, record: LedgerRecord) -> KeyState:
        """Fold ``record`` in (records of one key must come in their log order)."""
        state = apply(self._keys.get(record.key), record)
        self._keys[record.key] = state
        return state

    def keys(self) -> list[str]:
        """Every key the ledger has a record of."""
        return list(self._keys)

    def get(self, key: str) -> KeyState | None:
        """What the ledger says of ``key`` so far."""
        return self._keys.get(key)

    def decide(self, key: str, worker: str, now: datetime) -> Decision:
        """:func:`decide` for ``key``."""
        return decide(self._keys.get(key), worker, now)
