"""Chain planning: which escalation chain a ``notifications`` record starts (see :mod:`kinkyu.core.escalation`).

- a Notify to the city: the city's contacts in the profile's order, one per
  ``response.ack_timeout`` until one acknowledges, then the contractor's
  作業責任者 is told the city has not answered;
- a Notify to the contractor (triage, tasks): the contractor's contacts in order;
- an Escalate ``no_acknowledgement`` of a report: the report's own chain is
  moved on to the next contact now (:meth:`EscalationState.bump`) rather
  than starting a second chain; without one, a chain starts at the city's
  second contact;
- an Escalate ``deadline_missed`` of a city step: the city's contacts from
  the second one, then the 作業責任者; of a contractor step or task, and
  ``containment_failed``: the contractor's contacts in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState, Side, chain_for
from kinkyu.core.playbook import Playbook
from kinkyu.notifiers.model import CITY_REPORTS, IncidentFacts, NotificationIn
from kinkyu.notifiers.outbox_store import ChainStore

# Escalate effects of these reasons, on a city step, go to the city's contacts.
CITY_REPORT_KINDS = frozenset(CITY_REPORTS)


class ChainPlanner:
    """Plans chains against the journalled ones (``chains``) and the cities' playbooks (who a step is to)."""

    def __init__(self, chains: ChainStore, playbooks: Mapping[str, Playbook]) -> None:
        self.chains = chains
        self.playbooks = playbooks

    def plan(
        self, note: NotificationIn, facts: IncidentFacts | None, profile: ContractProfile, now: datetime
    ) -> EscalationState | None:
        """The chain for ``note`` (None when an existing chain took it over)."""
        payload: dict[str, Any] = {
            "notification": note.model_dump(mode="json"),
            "facts": facts.model_dump(mode="json") if facts is not None else None,
            "step_title": list(self.step_title(note) or ()) or None,
            # What the contract calls the parties: the mails name them so (a chain without it: 甲 / 乙).
            "parties": self.parties(note),
        }
        if note.effect == "notify":
            audience: Side = "city" if note.audience == "city" else "contractor"
            return chain_for(
                note.effect_id, note.incident_id, profile=profile, audience=audience, now=now, payload=payload
            )
        side = self.step_side(note)
        if note.reason == "no_acknowledgement":
            folded = self.bump_report_chain(note, now)
            if folded is not None:
                # Recorded as a finished chain: a redelivered record is recognised, nothing is sent twice.
                done = EscalationState.start(
                    note.effect_id,
                    note.incident_id,
                    ladder=(),
                    ack_timeout=profile.response.ack_timeout,
                    now=now,
                    payload={**payload, "folded_into": folded},
                )
                self.chains.put(done)
                return None
            side = "city"
        if note.reason == "containment_failed" or side is None:
            side = "contractor"
        return chain_for(
            note.effect_id,
            note.incident_id,
            profile=profile,
            audience=side,
            now=now,
            skip_first=side == "city",
            payload=payload,
        )

    def bump_report_chain(self, note: NotificationIn, now: datetime) -> str | None:
        """The chain of the report ``note`` escalates on, moved on to its next contact now; None if there is none.

        A chain already acknowledged (the playbook has not heard yet) or
        already through its whole ladder takes the escalation over too:
        telling the city again would only repeat what it was told.
        """
        for chain in reversed(self.chains.chains()):
            n = chain.payload.get("notification") or {}
            if (
                chain.incident_id == note.incident_id
                and n.get("effect") == "notify"
                and n.get("audience") == "city"
                and n.get("step_id") == note.step_id
            ):
                if chain.bump(now):
                    self.chains.put(chain)
                return chain.chain_id
        return None

    def step_side(self, note: NotificationIn) -> Side | None:
        """Whose step ``note`` is about (None when no playbook says)."""
        if note.task_id:
            return "contractor"
        playbook = self.playbooks.get(note.jurisdiction or "")
        if playbook is None or note.step_id is None:
            return "city" if note.step_id in CITY_REPORT_KINDS else None
        try:
            step = playbook.step(note.step_id)
        except KeyError:
            return None
        return "city" if step.to == "city" else "contractor"

    def parties(self, note: NotificationIn) -> dict[str, str] | None:
        """What the city's playbook calls the parties (``{"city": …, "contractor": …}``), if it is loaded."""
        playbook = self.playbooks.get(note.jurisdiction or "")
        return playbook.parties.model_dump() if playbook is not None else None

    def step_title(self, note: NotificationIn) -> tuple[str, str] | None:
        """The step's title (Japanese, English) from the city's playbook, if it has one."""
        playbook = self.playbooks.get(note.jurisdiction or "")
        if playbook is None or note.step_id is None:
            return None
        try:
            step = playbook.step(note.step_id)
        except KeyError:
            return None
        return step.title_ja, step.title_en
