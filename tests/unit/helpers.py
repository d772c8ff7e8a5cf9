"""Builders shared by the unit tests: sample profiles and access events with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinkyu.contracts import load_profile, load_profiles
from kinkyu.core.contract import ContractPolicy, ContractProfile
from kinkyu.core.model import DATA_ACTIONS, JST, AccessEvent
from kinkyu.notifiers.model import DeliveryResult, OutboundEmail
from kinkyu.reports.sample import Sample
from kinkyu.streams.sink import Record

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "contracts"
SAMPLE_FILES = sorted(SAMPLES.glob("*.yaml"))
KOGANEI = "koganei-2026-017"

_ids = itertools.count(1)


def sample_profiles() -> dict[str, ContractProfile]:
    """Every sample contract profile, by contract id."""
    return load_profiles([SAMPLES])


def sample_profile(contract_id: str = KOGANEI) -> ContractProfile:
    """One sample profile (koganei unless told)."""
    return load_profile(SAMPLES / f"{contract_id}.yaml")


def sample_policy(contract_id: str = KOGANEI, **changes: object) -> ContractPolicy:
    """A sample profile compiled, with top-level keys replaced by ``changes``."""
    profile = sample_profile(contract_id)
    if changes:
        profile = ContractProfile.model_validate({**profile.model_dump(), **changes})
    return profile.compile()


def at(text: str) -> datetime:
    """``2026-11-24 10:00`` (Japan time) or a full RFC 3339 string as an aware datetime."""
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=JST)


def make_event(
    *,
    action: str = "read",
    ts: str | datetime = "2026-11-24 10:00",
    actor: str = "u1042",
    org: str | None = "acme",
    ip: str = "10.20.3.4",
    dataset: str | None = None,
    records: int | None = None,
    fields: tuple[str, ...] | None = ("name", "address"),
    contract_id: str = KOGANEI,
    system: str = "juki-portal",
    outcome: str = "success",
    encrypted: bool | None = None,
    destination: str | None = None,
    event_id: str | None = None,
) -> AccessEvent:
    """An access event; data actions default to 1 record of ``residents``, others to no resource."""
    when = ts if isinstance(ts, datetime) else at(ts)
    data = action in DATA_ACTIONS
    return AccessEvent(
        event_id=event_id or f"ev-{next(_ids)}",
        ts=when,
        t=when.timestamp(),
        contract_id=contract_id,
        system=system,
        actor_id=actor,
        actor_org=org,
        actor_role="operator",
        source_ip=ip,
        source_host="pc-01",
        source_site="koganei-hq-3f",
        action=action,
        outcome=outcome,
        dataset=dataset if dataset is not None or not data else "residents",
        records=records if records is not None or not data else 1,
        fields=fields if data else None,
        destination=destination,
        encrypted=encrypted,
    )


def first_report_notification(incident_id: str, at: datetime, contract_id: str = KOGANEI) -> dict[str, Any]:
    """A ``notifications`` record for a Koganei first report, queued at ``at`` (the notifier's unit tests)."""
    return {
        "effect": "notify",
        "effect_id": f"{incident_id}/first_report/first_report/1",
        "incident_id": incident_id,
        "contract_id": contract_id,
        "jurisdiction": "koganei",
        "step_id": "first_report",
        "audience": "city",
        "kind": "first_report",
        "due": (at + timedelta(hours=1)).isoformat(),
        "urgency": "直ちに",
        "article": "第19条第1項",
        "written": True,
        "possible": False,
        "items": [],
        "missing_items": [],
        "rule8": False,
        "task_id": None,
        "contract_ended": False,
        "queued_at": at.isoformat(),
    }


class Mailbox:
    """An SMTP server that accepts every message: what was sent, in order."""

    def __init__(self) -> None:
        self.sent: list[OutboundEmail] = []

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        self.sent.append(email)
        return DeliveryResult(key=email.key, channel="email", delivered_at=datetime.now(UTC), detail="250")


class MemorySink:
    """A stage's sink that keeps every record it was given (``on``: those of one topic)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send_all(self, records: Any) -> None:
        self.records.extend(records)

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]


def message_record(s: Sample, kind: str, **fields: Any) -> dict[str, Any]:
    """A ``notifications`` record of message ``kind`` for sample ``s``'s incident, to the city; ``fields`` added.

    Escalations (``escalation``, ``unanswered``) are Escalate records; the PPC reminders carry their report.
    """
    record: dict[str, Any] = {
        "effect": "notify",
        "effect_id": f"{s.incident.incident_id}/x/{kind}/1",
        "incident_id": s.incident.incident_id,
        "contract_id": s.profile.contract_id,
        "jurisdiction": s.incident.jurisdiction,
        "audience": "city",
        "kind": kind,
        "urgency": "直ちに",
        "article": "第1条",
        "written": True,
        "possible": True,
        "items": ["content", "count"],
        "missing_items": ["count"],
        "task_id": "recovery",
        "step_id": "first_report",
        **fields,
    }
    if kind in {"escalation", "unanswered"}:
        record.update(effect="escalate", kind=None, reason="no_acknowledgement", level=1)
    if kind.startswith("ppc_"):
        report = "final" if "final" in kind else "preliminary"
        record["ppc"] = {"report": report, "learned": "2026-11-20", "due": "2026-11-25", "triggers": ["over_100"]}
    return record
