"""What the notifier writes on an incident's timeline: ids, roles and categories only, never an address.

Entries are :class:`~kinkyu.core.incident.TimelineEntry` values by
``kinkyu-notifier``, of kinds ``message_sent``, ``message_delayed``,
``message_failed``, ``message_escalated``, ``city_unanswered``,
``message_acknowledged`` and ``message_not_sent``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState, Send, contact_for
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.outbox import OutboxEntry
from kinkyu.notifiers.outbox_store import ChainStore
from kinkyu.notifiers.render import TEXTS

log = logging.getLogger("kinkyu.notifier")

WHO = "kinkyu-notifier"
TimelineCallback = Callable[[str, TimelineEntry], Awaitable[None]]


def role_of(profile: ContractProfile | None, ref: str) -> str:
    """The role behind a contact reference (``city:1``), or a webhook's name; the reference when unknown."""
    if ref.startswith("webhook:"):
        return ref.split(":", 1)[1].split("#", 1)[0]
    contact = contact_for(profile, ref) if profile is not None else None
    return contact.role if contact is not None else ref


def kind_title(meta: Mapping[str, Any]) -> str:
    """The English title of a queued message's kind (``message`` when unknown)."""
    return TEXTS.get("en", f"title.{meta.get('kind')}") or "message"


class TimelineWriter:
    """Hands entries to ``on_timeline`` (none: nothing is written); a failure is logged, never raised."""

    def __init__(
        self,
        *,
        on_timeline: TimelineCallback | None,
        profiles: Callable[[], Mapping[str, ContractProfile]],
        chains: ChainStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.on_timeline = on_timeline
        self.profiles = profiles
        self.chains = chains
        self.clock = clock

    def profile_of(self, chain: EscalationState | None) -> ContractProfile | None:
        """The contract profile of ``chain``'s notification, if it is loaded."""
        if chain is None:
            return None
        return self.profiles().get(str((chain.payload.get("notification") or {}).get("contract_id")))

    async def write(
        self,
        incident_id: str,
        now: datetime,
        what: str,
        kind: str,
        data: dict[str, Any],
        *,
        who: str = WHO,
    ) -> None:
        """One entry on ``incident_id``'s timeline."""
        if self.on_timeline is None:
            return
        try:
            await self.on_timeline(incident_id, TimelineEntry(now, who, what, kind, data))
        except Exception:  # delivery goes on; the log keeps the entry's ids
            log.exception("timeline entry not recorded", extra={"incident_id": incident_id, "kind": kind})

    async def chain_stage(
        self, before: EscalationState, sends: list[Send], profile: ContractProfile | None, now: datetime
    ) -> None:
        """A chain moved on to ``sends``: an escalation or the city's silence is written; a first stage is not."""
        first = sends[0]
        roles = [role_of(profile, s.recipient) for s in sends]
        silent = [role_of(profile, r) for r in first.not_answered_by]
        data = {
            "chain_id": before.chain_id,
            "stage": first.stage,
            "recipients": [s.recipient for s in sends],
            "not_answered_by": list(first.not_answered_by),
        }
        if first.purpose == "escalated":
            what = f"not acknowledged by {', '.join(silent)}: told the next contact, {', '.join(roles)}"
            await self.write(before.incident_id, now, what, "message_escalated", data)
        elif first.purpose == "unanswered":
            what = (
                f"the city has not acknowledged ({', '.join(silent) or 'no contact reachable'}): "
                f"alerted {', '.join(roles)}"
            )
            await self.write(before.incident_id, now, what, "city_unanswered", data)

    async def delivery(self, entry: OutboxEntry, code: str | None) -> None:
        """The outcome of an attempt at ``entry`` (``code``: the transport's error code, None when sent)."""
        now = self.clock()
        chain = self.chains.get(entry.chain_id)
        role = role_of(self.profile_of(chain), entry.recipient)
        title = kind_title(entry.meta)
        data = {
            "key": entry.key,
            "chain_id": entry.chain_id,
            "recipient": entry.recipient,
            "channel": entry.channel,
            "attempts": entry.attempts,
            "purpose": entry.meta.get("purpose"),
            "message": entry.meta.get("kind"),  # the message kind: the timeline names it in words
        }
        if entry.state == "sent":
            uncertain = entry.uncertain
            what = f"{title} delivered by {entry.channel} to {role} ({entry.recipient})"
            if uncertain:
                what += "; it may have arrived twice (a stop interrupted an earlier attempt)"
            await self.write(entry.incident_id, now, what, "message_sent", {**data, "uncertain": uncertain})
        elif entry.state == "failed":
            what = f"{title} to {role} ({entry.recipient}) not delivered after {entry.attempts} attempt(s): {code}"
            await self.write(entry.incident_id, now, what, "message_failed", {**data, "error": code})
        elif entry.attempts == 1:
            # Only the first delay goes on the timeline: an outage of hours would otherwise fill it.
            what = f"{title} to {role} ({entry.recipient}) delayed ({code}); retrying at {entry.next_attempt_at}"
            await self.write(
                entry.incident_id,
                now,
                what,
                "message_delayed",
                {**data, "error": code, "next_attempt_at": entry.next_attempt_at.isoformat()},
            )
