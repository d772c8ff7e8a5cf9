"""Escalation chains: who is told a message, and who next when nobody acknowledges it.

One :class:`EscalationState` per message Kinkyu sends (a playbook's Notify
or Escalate effect): its *ladder* is the contacts to tell one after another,
in the contract profile's order (the profile lists contacts in escalation
order), and its *final* recipients are told once the whole ladder has been
silent - for a report to the city, the contractor's 作業責任者, told that the
city has not answered.

- the first contact is told at once;
- a contact who does not acknowledge within ``ack_timeout`` (the contract's
  ``response.ack_timeout``) is followed by the next one, who again gets the
  full timeout: a chain resumed late (after a restart) tells one contact per
  timeout, never the whole ladder at once;
- an acknowledgement by anyone in the chain stops it.

Recipients are references, not addresses: ``city:<i>`` is the i-th entry of
``city.contacts``, ``contractor:<i>`` the i-th of ``contractor_contacts``
(:func:`contact_for` resolves one). Pure and deterministic: ``now`` is always
passed in, and :meth:`EscalationState.to_json` / :meth:`EscalationState.from_json`
round-trip, so a chain restored after a restart continues exactly where it
stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import msgspec

from kinkyu.core.codec import Record
from kinkyu.core.contract import Contact, ContractProfile
from kinkyu.core.timespan import shift
from kinkyu.exceptions import KinkyuError

Purpose = Literal["notify", "escalated", "unanswered"]
Side = Literal["city", "contractor"]
RESPONSIBLE_ROLE = "作業責任者"


class EscalationError(KinkyuError):
    """A chain cannot be built or restored (bad reference, malformed JSON form)."""


def contact_ref(side: Side, index: int) -> str:
    """The reference of the ``index``-th contact on ``side``: ``city:0``, ``contractor:1``."""
    return f"{side}:{index}"


def parse_ref(ref: str) -> tuple[Side, int]:
    """Inverse of :func:`contact_ref`; EscalationError if ``ref`` is not a contact reference."""
    side, _, index = ref.partition(":")
    if side not in {"city", "contractor"} or not index.isdigit():
        raise EscalationError(f"not a contact reference: {ref!r} (expected city:<n> or contractor:<n>)")
    return ("city" if side == "city" else "contractor"), int(index)


def contact_for(profile: ContractProfile, ref: str) -> Contact | None:
    """The contact ``ref`` names in ``profile`` (None when the profile no longer has it)."""
    side, index = parse_ref(ref)
    contacts = profile.city.contacts if side == "city" else profile.contractor_contacts
    return contacts[index] if index < len(contacts) else None


def _reachable(contacts: list[Contact], side: Side) -> tuple[str, ...]:
    # A contact without an e-mail address cannot be told by this product: the ladder skips
    # them (the wiring records that on the timeline), keeping everyone else's position.
    return tuple(contact_ref(side, i) for i, c in enumerate(contacts) if c.email)


def city_ladder(profile: ContractProfile) -> tuple[str, ...]:
    """The city's contacts with an e-mail address, in the profile's (escalation) order."""
    return _reachable(profile.city.contacts, "city")


def contractor_ladder(profile: ContractProfile) -> tuple[str, ...]:
    """The contractor's contacts with an e-mail address, in the profile's order."""
    return _reachable(profile.contractor_contacts, "contractor")


def responsible(profile: ContractProfile) -> tuple[str, ...]:
    """The contractor's 作業責任者 (with an e-mail address), else every contractor contact that has one."""
    chosen = tuple(
        contact_ref("contractor", i)
        for i, c in enumerate(profile.contractor_contacts)
        if c.email and c.role == RESPONSIBLE_ROLE
    )
    return chosen or contractor_ladder(profile)


@dataclass(frozen=True, slots=True)
class Send:
    """Tell ``recipient`` about chain ``chain_id``.

    ``purpose``: ``notify`` (the first contact), ``escalated`` (a later
    contact, because ``not_answered_by`` did not acknowledge) or
    ``unanswered`` (a final recipient: nobody on the ladder answered).
    ``stage`` is the chain's stage this send belongs to (0 = the first).
    """

    chain_id: str
    incident_id: str
    recipient: str
    purpose: Purpose
    stage: int
    not_answered_by: tuple[str, ...] = ()


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise EscalationError("now must be an aware datetime")


class EscalationState(msgspec.Struct, Record, tag_field="v", tag=1):
    """One message's chain. Build with :meth:`start`; drive with :meth:`next_step` and :meth:`acknowledge`.

    ``stage`` counts the stages carried out: stage *k* < ``len(ladder)`` tells
    ``ladder[k]``; the stage after the ladder tells every ``final`` recipient
    (when there are any). ``payload`` is the caller's, carried unchanged
    through the JSON form (the notifier keeps what it needs to render the
    chain's later messages after a restart). The JSON form begins with its
    format (``"v": 1``) and has ``ack_timeout`` in seconds.
    """

    chain_id: str
    incident_id: str
    ladder: tuple[str, ...]
    final: tuple[str, ...]
    ack_timeout: timedelta
    started_at: datetime
    stage: int = 0
    last_sent_at: datetime | None = None
    bumped_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    payload: dict[str, Any] = {}

    refused_as: ClassVar[tuple[type[Exception], str] | None] = (EscalationError, "not an escalation chain")

    @classmethod
    def start(
        cls,
        chain_id: str,
        incident_id: str,
        *,
        ladder: tuple[str, ...],
        final: tuple[str, ...] = (),
        ack_timeout: timedelta,
        now: datetime,
        payload: dict[str, Any] | None = None,
    ) -> EscalationState:
        """A new chain whose first stage is due at ``now``."""
        _aware(now)
        if ack_timeout <= timedelta(0):
            raise EscalationError("ack_timeout must be positive")
        for ref in (*ladder, *final):
            parse_ref(ref)
        return cls(
            chain_id=chain_id,
            incident_id=incident_id,
            ladder=tuple(ladder),
            final=tuple(final),
            ack_timeout=ack_timeout,
            started_at=now,
            payload=dict(payload or {}),
        )

    # -- reading -----------------------------------------------------------------

    @property
    def stages(self) -> int:
        """How many stages the chain has: one per ladder contact, plus one for the final recipients."""
        return len(self.ladder) + (1 if self.final else 0)

    @property
    def acknowledged(self) -> bool:
        """Someone acknowledged: the chain tells nobody else."""
        return self.acknowledged_at is not None

    @property
    def exhausted(self) -> bool:
        """Every stage was carried out."""
        return self.stage >= self.stages

    @property
    def active(self) -> bool:
        """Neither acknowledged nor exhausted: there is someone left to tell."""
        return not self.acknowledged and not self.exhausted

    @property
    def told(self) -> tuple[str, ...]:
        """Everyone told so far, in order."""
        out = list(self.ladder[: self.stage])
        if self.final and self.stage > len(self.ladder):
            out.extend(self.final)
        return tuple(out)

    def next_due(self) -> datetime | None:
        """When :meth:`next_step` next has something to send (None: nothing ever will).

        A timeout that ends past datetime's range never comes: None too, unless
        the chain was bumped (a playbook escalation still moves it on).
        """
        if not self.active:
            return None
        if self.stage == 0 or self.last_sent_at is None:
            return self.started_at
        due = shift(self.last_sent_at, self.ack_timeout)
        if due is None:
            return self.bumped_at
        if self.bumped_at is not None and self.bumped_at < due:
            return self.bumped_at
        return due

    # -- changing ----------------------------------------------------------------

    def next_step(self, now: datetime) -> list[Send]:
        """The sends due at ``now`` (one stage at most), marking them done; [] when nothing is due."""
        _aware(now)
        due = self.next_due()
        if due is None or now < due:
            return []
        k = self.stage
        silent = self.ladder[:k]
        if k < len(self.ladder):
            purpose: Purpose = "notify" if k == 0 else "escalated"
            sends = [Send(self.chain_id, self.incident_id, self.ladder[k], purpose, k, silent)]
        else:
            sends = [Send(self.chain_id, self.incident_id, r, "unanswered", k, silent) for r in self.final]
        self.stage = k + 1
        self.last_sent_at = now
        self.bumped_at = None
        return sends

    def bump(self, now: datetime) -> bool:
        """Escalate now rather than at the timeout, unless the chain already went past its first contact.

        For a playbook's own "not acknowledged" escalation of the same message:
        the chain and the playbook agree that the next contact is due, and the
        next contact is told once. True if that changed the next due time.
        """
        _aware(now)
        if not self.active or self.stage != 1:
            return False
        due = self.next_due()
        if due is not None and due <= now:
            return False
        self.bumped_at = now
        return True

    def acknowledge(self, by: str, at: datetime) -> bool:
        """``by`` acknowledged at ``at``: stop the chain. False if it was already acknowledged."""
        _aware(at)
        if self.acknowledged:
            return False
        self.acknowledged_by = by
        self.acknowledged_at = at
        return True


def chain_for(
    chain_id: str,
    incident_id: str,
    *,
    profile: ContractProfile,
    audience: Side,
    now: datetime,
    skip_first: bool = False,
    payload: dict[str, Any] | None = None,
) -> EscalationState:
    """The chain for a message to ``audience`` under ``profile``.

    - ``city``: the city's contacts in order, then the contractor's 作業責任者
      (:func:`responsible`) is told the city has not answered;
      ``skip_first`` starts at the second contact ("the next contact up", for
      an escalation of a report the first contact already has), unless the
      city has only one;
    - ``contractor``: the contractor's contacts in order, nobody after them.
    """
    if audience == "city":
        ladder = city_ladder(profile)
        if skip_first and len(ladder) > 1:
            ladder = ladder[1:]
        final = responsible(profile)
    else:
        ladder, final = contractor_ladder(profile), ()
    return EscalationState.start(
        chain_id,
        incident_id,
        ladder=ladder,
        final=final,
        ack_timeout=profile.response.ack_timeout,
        now=now,
        payload=payload,
    )
