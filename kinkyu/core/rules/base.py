"""The contract every detection rule follows.

A rule looks at one access event at a time (``observe``) and, for rules that
fire on the absence of events, at the passing of event time (``advance``).
Event time is each contract's own (see :data:`Watermark`): a rule judges a
contract's state by that contract's time only, so one contract's clock
(moved by an event dated far ahead, say) never expires another's windows.
It returns :class:`Hit` values; the engine turns them into findings, adding
the contract, jurisdiction, clauses and a stable id. Rule state is keyed by
contract and bounded: ``expire`` drops whatever the watermark has made
irrelevant, and ``snapshot``/``restore`` round-trip it through JSON so a
restarted worker resumes with it.

A hit carries the ``resource.subject_ids`` of its events (pseudonymous ids
of the people whose records were touched) so the incident can count
distinct people; only hits pay for that, never the events that fire nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from kinkyu.core.contract import ContractPolicy
from kinkyu.core.model import AccessEvent, Severity

Watermark: TypeAlias = float | Mapping[str, float]
"""Event time: each contract's own, by contract id (the engine's), or one time for every contract.

A contract missing from the mapping has no time yet: rules leave its state alone.
"""


def time_of(watermark: Watermark, contract_id: str) -> float | None:
    """The event time of ``contract_id`` under ``watermark`` (None: none yet)."""
    if isinstance(watermark, Mapping):
        return watermark.get(contract_id)
    return watermark


@dataclass(slots=True, frozen=True)
class Hit:
    """A rule firing: the events behind it and what to say about it (no personal data in ``detail``).

    ``subject_ids`` are the events' subject ids together (None when no event
    carried any; duplicates allowed, the incident counts them once);
    ``subjects_missing`` is True when an event with records carried none, so
    a count of distinct people is not complete.
    """

    event_ids: tuple[str, ...]
    t: float
    actor: str | None
    system: str
    records: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    subject_ids: tuple[str, ...] | None = None
    subjects_missing: bool = False

    @classmethod
    def on(cls, ev: AccessEvent, **detail: Any) -> Hit:
        """A hit on a single event."""
        ids = ev.subject_ids
        return cls(
            (ev.event_id,), ev.t, ev.actor_id, ev.system, ev.record_count, detail, ids, ids is None and bool(ev.records)
        )


class Rule:
    """Base of every rule; stateless rules override only :meth:`observe`."""

    rule_id: ClassVar[str]
    severity: ClassVar[Severity]
    # The actions the rule can fire or keep state on; None for every action. The engine calls a
    # rule only for these, which skips most rules for the commonest events (heartbeats, reads).
    actions: ClassVar[frozenset[str] | None] = None

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Hits caused by this event (most rules: none, as an empty tuple)."""
        raise NotImplementedError

    def advance(self, watermark: Watermark, policies: Mapping[str, ContractPolicy]) -> Iterable[tuple[str, Hit]]:
        """Hits caused by event time reaching ``watermark``, as ``(contract_id, hit)``.

        With a mapping, only the contracts in it are looked at.
        """
        del watermark, policies
        return ()

    def expire(self, watermark: Watermark, lateness: float) -> None:
        """Drop state that events at or after ``watermark - lateness`` (each contract's) can no longer need."""
        del watermark, lateness

    def rewind(self, not_after: float, lateness: float) -> None:
        """Pull every time and horizon kept past ``not_after`` back to it.

        A checkpoint written while a clock ran ahead (an event dated far ahead, before the wire
        bounds; a host clock set wrong) must not keep later events out once it is restored.
        """
        del not_after, lateness

    def snapshot(self) -> Any:
        """The rule's state as JSON-able data (None for stateless rules)."""
        return None

    def restore(self, data: Any) -> None:
        """Load state written by :meth:`snapshot`."""
        del data
