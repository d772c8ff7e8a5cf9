"""Queueing: one stage of a chain rendered once per recipient and put in the outbox under its idempotency key.

Each message carries its own acknowledgement link (a token signed with the
notifier's secret, naming the outbox key and the recipient). A key already in
the outbox is not queued again: after a restart the stored copy is the one
sent, so a message is never rendered twice with two different links.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kinkyu.core.ack import make_ack_token
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState, Send, contact_for
from kinkyu.core.outbox import idempotency_key, new_entry
from kinkyu.core.playbook.definition import Parties
from kinkyu.notifiers.model import IncidentFacts, NotificationIn
from kinkyu.notifiers.outbox_store import OutboxStore
from kinkyu.notifiers.render import build_email, build_webhook, message_kind
from kinkyu.notifiers.settings import NotifierSettings
from kinkyu.notifiers.timeline import TimelineWriter


def _chain_note(chain: EscalationState) -> tuple[NotificationIn, IncidentFacts | None]:
    note = NotificationIn.parse(chain.payload["notification"])
    facts_json = chain.payload.get("facts")
    facts = IncidentFacts.model_validate(facts_json) if isinstance(facts_json, dict) else None
    return note, facts


class SendQueue:
    """Renders a chain's sends into the ``outbox``; writes on the timeline when a contact has no address."""

    def __init__(
        self,
        *,
        settings: NotifierSettings,
        outbox: OutboxStore,
        ack_secret: bytes,
        email_domain: str,
        timeline: TimelineWriter,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.ack_secret = ack_secret
        self.email_domain = email_domain
        self.timeline = timeline

    async def email(self, chain: EscalationState, send: Send, profile: ContractProfile, now: datetime) -> int:
        """Queue the e-mail of ``send``; how many entries were added (0 or 1)."""
        note, facts = _chain_note(chain)
        title = chain.payload.get("step_title")
        step_title = (str(title[0]), str(title[1])) if isinstance(title, list) and len(title) == 2 else None  # noqa: PLR2004
        contact = contact_for(profile, send.recipient)
        if contact is None or not contact.email:
            await self.timeline.write(
                chain.incident_id,
                now,
                f"message not sent to {send.recipient}: the contract profile no longer lists an address for it",
                "message_not_sent",
                {"chain_id": chain.chain_id, "recipient": send.recipient, "reason": "no-address"},
            )
            return 0
        key = idempotency_key(chain.incident_id, chain.chain_id, send.recipient, "email")
        if key in self.outbox.outbox:
            return 0  # queued before a restart: the stored copy is the one to send
        expires = now + timedelta(seconds=self.settings.ack_ttl)
        token = make_ack_token(chain.incident_id, key, send.recipient, expires, self.ack_secret)
        email = build_email(
            note,
            contract=profile,
            recipient=contact,
            ack_url=self.settings.ack_url(token),
            incident_url=self.settings.incident_url(chain.incident_id),
            now=now,
            key=key,
            facts=facts,
            purpose=send.purpose,
            not_answered_by=send.not_answered_by,
            step_title=step_title,
            ack_expires=expires,
            parties=_parties(chain),
            domain=self.email_domain,
            html=self.settings.html,
        )
        meta = {"purpose": send.purpose, "stage": send.stage, "kind": message_kind(note, send.purpose)}
        entry = new_entry(
            incident_id=chain.incident_id,
            chain_id=chain.chain_id,
            recipient=send.recipient,
            channel="email",
            payload=email.to_json(),
            now=now,
            meta=meta,
        )
        return 1 if self.outbox.add(entry) else 0

    def webhooks(self, chain: EscalationState, send: Send, profile: ContractProfile, now: datetime) -> int:
        """Queue ``send``'s stage for every webhook target that wants the contract; how many entries were added."""
        note, facts = _chain_note(chain)
        queued = 0
        for target in self.settings.webhooks:
            if not target.wants(profile.contract_id):
                continue
            ref = f"webhook:{target.name}#{send.stage}"
            key = idempotency_key(chain.incident_id, chain.chain_id, ref, "webhook")
            if key in self.outbox.outbox:
                continue
            expires = now + timedelta(seconds=self.settings.ack_ttl)
            token = make_ack_token(chain.incident_id, key, ref, expires, self.ack_secret)
            payload = build_webhook(
                note,
                contract=profile,
                key=key,
                ack_url=self.settings.ack_url(token),
                incident_url=self.settings.incident_url(chain.incident_id),
                now=now,
                facts=facts,
                purpose=send.purpose,
                not_answered_by=send.not_answered_by if send.purpose != "unanswered" else chain.ladder,
            )
            entry = new_entry(
                incident_id=chain.incident_id,
                chain_id=chain.chain_id,
                recipient=ref,
                channel="webhook",
                payload={**payload.to_json(), "target": target.name},
                now=now,
                meta={"purpose": send.purpose, "stage": send.stage, "kind": message_kind(note, send.purpose)},
            )
            queued += 1 if self.outbox.add(entry) else 0
        return queued


def _parties(chain: EscalationState) -> Parties | None:
    """The parties' words the chain was planned with; None (甲 / 乙) for a chain planned before it kept them."""
    value = chain.payload.get("parties")
    if not isinstance(value, dict):
        return None
    try:
        return Parties.model_validate(value)
    except ValueError:
        return None
