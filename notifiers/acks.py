"""Acknowledgements: an opened link (or a telephone call on the record) stops its chain.

An acknowledgement goes on the timeline and, by a recipient on the chain's
ladder, stops the chain. The city's own acknowledgement of a report is also
handed to ``on_ack_event`` as an ``incident-events`` ``acknowledgement``
record (:func:`ack_incident_event`), so the playbook run marks the report done.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kinkyu.core.ack import AckClaim
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState, parse_ref
from kinkyu.core.handover import told_sends
from kinkyu.core.outbox import idempotency_key
from kinkyu.notifiers.ack_server import UnknownMessageError
from kinkyu.notifiers.exceptions import RenderError
from kinkyu.notifiers.model import NotificationIn
from kinkyu.notifiers.outbox_store import ChainStore, OutboxStore
from kinkyu.notifiers.plan import CITY_REPORT_KINDS
from kinkyu.notifiers.render import message_kind
from kinkyu.notifiers.timeline import TimelineWriter, kind_title, role_of

log = logging.getLogger("kinkyu.notifier")

AckEventCallback = Callable[[dict[str, Any]], Awaitable[None]]
_CHANNELS = ("email", "webhook")


def ack_incident_event(
    *, incident_id: str, contract_id: str, step_id: str, recipient: str, role: str | None, at: datetime, org: str
) -> dict[str, Any]:
    """The ``incident-events`` record saying the city acknowledged ``step_id`` (pure).

    ``event_id`` is derived from the incident, step and recipient, so opening
    the link twice files one event; ``reported_by.id`` is the contact
    reference (``city:1``), never a name or an address.
    """
    digest = hashlib.sha256(f"{incident_id}\x1f{step_id}\x1f{recipient}".encode()).hexdigest()[:24]
    return {
        "event_id": f"ack-{digest}",
        "ts": at.isoformat(),
        "contract_id": contract_id,
        "kind": "acknowledgement",
        "incident_id": incident_id,
        "reported_by": {"id": recipient, "org": org, "role": role},
        "data": {"step": step_id},
    }


class Acknowledgements:
    """Records acknowledgements against the ``outbox`` and ``chains``, under the chains' ``lock``."""

    def __init__(
        self,
        *,
        outbox: OutboxStore,
        chains: ChainStore,
        timeline: TimelineWriter,
        on_ack_event: AckEventCallback | None,
        clock: Callable[[], datetime],
        lock: asyncio.Lock,
    ) -> None:
        self.outbox = outbox
        self.chains = chains
        self.timeline = timeline
        self.on_ack_event = on_ack_event
        self.clock = clock
        self.lock = lock

    async def acknowledge(self, claim: AckClaim) -> None:
        """Record an opened acknowledgement link: timeline, chain stopped, city acknowledgement filed.

        UnknownMessageError if the outbox has no such message (past the retention).
        """
        async with self.lock:
            entry = self.outbox.get(claim.message_id)
            if entry is not None and (entry.incident_id != claim.incident_id or entry.recipient != claim.recipient):
                raise UnknownMessageError(f"no message {claim.message_id} of incident {claim.incident_id}")
            if entry is not None:
                chain, key, chain_id, meta = self.chains.get(entry.chain_id), entry.key, entry.chain_id, entry.meta
            else:
                # Sent by another worker (before a hand-over): the chain, shared, names the message by its key.
                found = self._sent_by_chain(claim)
                if found is None:
                    raise UnknownMessageError(f"no message {claim.message_id} of incident {claim.incident_id}")
                chain, meta = found
                key, chain_id = claim.message_id, chain.chain_id
            now = self.clock()
            profile = self.timeline.profile_of(chain)
            role = role_of(profile, claim.recipient)
            stopped = False
            first = True
            if chain is not None:
                if claim.recipient in chain.ladder:
                    first = chain.acknowledge(claim.recipient, now)
                    stopped = first
                    self.chains.put(chain)
                else:
                    # A final recipient or a chat channel: on the record, but the city has still not answered.
                    first = True
            title = kind_title(meta)
            await self.timeline.write(
                claim.incident_id,
                now,
                f"{title} acknowledged by {role} ({claim.recipient})" + ("" if first else " (again)"),
                "message_acknowledged",
                {
                    "key": key,
                    "chain_id": chain_id,
                    "recipient": claim.recipient,
                    "role": role,
                    "chain_stopped": stopped,
                    "message": meta.get("kind"),  # the message kind: the timeline names it in words
                },
                who=claim.recipient,
            )
            if stopped and chain is not None and profile is not None:
                await self._file_city_ack(chain, claim.recipient, role, profile, now)

    def _sent_by_chain(self, claim: AckClaim) -> tuple[EscalationState, dict[str, Any]] | None:
        """The chain that told ``claim.recipient`` message ``claim.message_id``, and the message's kind (or None)."""
        for chain in self.chains.of_incident(claim.incident_id):
            keys = {idempotency_key(chain.incident_id, chain.chain_id, claim.recipient, ch) for ch in _CHANNELS}
            if claim.message_id not in keys:
                continue
            meta: dict[str, Any] = {}
            send = next((s for s in told_sends(chain) if s.recipient == claim.recipient), None)
            note = chain.payload.get("notification")
            if send is not None and isinstance(note, dict):
                with contextlib.suppress(RenderError):
                    meta = {
                        "purpose": send.purpose,
                        "stage": send.stage,
                        "kind": message_kind(NotificationIn.parse(note), send.purpose),
                    }
            return chain, meta
        return None

    async def _file_city_ack(
        self, chain: EscalationState, recipient: str, role: str, profile: ContractProfile, now: datetime
    ) -> None:
        note = chain.payload.get("notification") or {}
        step_id = note.get("step_id")
        side, _ = parse_ref(recipient)
        # Only the city's own acknowledgement of a step makes the report count as made; never without
        # a step (an acknowledgement without one acknowledges every report awaiting one).
        if side != "city" or not isinstance(step_id, str) or self.on_ack_event is None:
            return
        if note.get("effect") == "notify" and note.get("kind") not in CITY_REPORT_KINDS:
            return
        event = ack_incident_event(
            incident_id=chain.incident_id,
            contract_id=profile.contract_id,
            step_id=step_id,
            recipient=recipient,
            role=role,
            at=now,
            org=profile.jurisdiction,
        )
        try:
            await self.on_ack_event(event)
        except Exception:  # the timeline has it; the playbook run is told when the wiring retries
            log.exception("acknowledgement event not filed", extra={"incident_id": chain.incident_id})

    async def acknowledge_step(self, incident_id: str, step_id: str, *, by: str, at: datetime) -> int:
        """The city acknowledged ``step_id`` another way (telephone): stop its chains; how many stopped."""
        async with self.lock:
            stopped = 0
            for chain in self.chains.active():
                note = chain.payload.get("notification") or {}
                if chain.incident_id == incident_id and note.get("step_id") == step_id and chain.acknowledge(by, at):
                    self.chains.put(chain)
                    stopped += 1
            return stopped
