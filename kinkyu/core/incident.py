"""Incidents as the detection stage sees them: opened, correlated, added to.

An incident opens on a finding (or several, when one action fires several
rules) or on a filed incident event. Findings about the same contract, actor
and rule within an hour of the incident's last one join it. Ids are stable
and human-readable: ``INC-<JST date of the first event>-<sequence>``.

The playbook stage (deadlines, reports, escalation) builds on the incident
records this module emits; here an incident carries what was observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kinkyu.core.model import JST, Clause, Finding, IncidentEvent, Severity

# Each incident keeps at most this many triggering event ids; the count goes on.
MAX_EVENT_IDS = 1000


@dataclass(slots=True)
class TimelineEntry:
    """One append-only entry: who, when, what (counts and categories, no personal data)."""

    ts: datetime
    who: str
    what: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"ts": self.ts.isoformat(), "who": self.who, "what": self.what, "kind": self.kind, "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TimelineEntry:
        """Inverse of :meth:`to_json`."""
        return cls(datetime.fromisoformat(data["ts"]), data["who"], data["what"], data["kind"], data.get("data", {}))


@dataclass(slots=True)
class Incident:
    """An incident's observed facts, as carried on the ``incidents`` topic."""

    incident_id: str
    contract_id: str
    jurisdiction: str
    origin: str  # "detection" or "filed"
    kind: str  # a filed kind, or "detection"
    first_event_ts: datetime
    last_event_ts: datetime
    actor: str | None
    system: str | None
    severity: Severity
    rules: list[str] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    finding_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    event_count: int = 0
    records: int = 0
    data_items: list[str] = field(default_factory=list)
    discovered_at: datetime | None = None
    location: str | None = None
    summary: str | None = None
    reported_by: str | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def finding_count(self) -> int:
        """How many findings the incident holds."""
        return len(self.finding_ids)

    def add_finding(self, finding: Finding) -> None:
        """Fold a finding in: rules, clauses, events, severity, time span."""
        self.finding_ids.append(finding.finding_id)
        if finding.rule not in self.rules:
            self.rules.append(finding.rule)
        for clause in finding.clauses:
            if clause not in self.clauses:
                self.clauses.append(clause)
        known = set(self.event_ids)
        new = [e for e in finding.event_ids if e not in known]
        if new:
            # One action firing several rules is one set of records, counted once. Past the id cap
            # events count as new: an over-count is the safe side for the "number of people" bound.
            self.records += finding.records
            self.event_count += len(new)
            self.event_ids.extend(new[: max(0, MAX_EVENT_IDS - len(self.event_ids))])
        if finding.severity.rank > self.severity.rank:
            self.severity = finding.severity
        self.first_event_ts = min(self.first_event_ts, finding.ts)
        self.last_event_ts = max(self.last_event_ts, finding.ts)
        self.timeline.append(
            TimelineEntry(
                finding.ts,
                "kinkyu",
                f"finding {finding.rule}",
                "finding",
                {"finding_id": finding.finding_id, "rule": finding.rule, "records": finding.records},
            )
        )

    def to_json(self) -> dict[str, Any]:
        """The record on the ``incidents`` topic and the line ``kinkyu replay --json`` prints."""
        return {
            "incident_id": self.incident_id,
            "contract_id": self.contract_id,
            "jurisdiction": self.jurisdiction,
            "origin": self.origin,
            "kind": self.kind,
            "rules": list(self.rules),
            "actor": self.actor,
            "system": self.system,
            "severity": self.severity.value,
            "first_event_ts": self.first_event_ts.isoformat(),
            "last_event_ts": self.last_event_ts.isoformat(),
            "finding_count": self.finding_count,
            "finding_ids": list(self.finding_ids),
            "event_ids": list(self.event_ids),
            "event_count": self.event_count,
            "records": self.records,
            "data_items": list(self.data_items),
            "clauses": [c.to_json() for c in self.clauses],
            "discovered_at": self.discovered_at.isoformat() if self.discovered_at else None,
            "location": self.location,
            "summary": self.summary,
            "reported_by": self.reported_by,
            "timeline": [e.to_json() for e in self.timeline],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incident:
        """Inverse of :meth:`to_json` (for snapshots and downstream stages)."""
        discovered = data.get("discovered_at")
        return cls(
            incident_id=data["incident_id"],
            contract_id=data["contract_id"],
            jurisdiction=data["jurisdiction"],
            origin=data["origin"],
            kind=data["kind"],
            first_event_ts=datetime.fromisoformat(data["first_event_ts"]),
            last_event_ts=datetime.fromisoformat(data["last_event_ts"]),
            actor=data["actor"],
            system=data["system"],
            severity=Severity(data["severity"]),
            rules=list(data["rules"]),
            clauses=[Clause(c["article"], c["label"]) for c in data["clauses"]],
            finding_ids=list(data["finding_ids"]),
            event_ids=list(data["event_ids"]),
            event_count=data["event_count"],
            records=data["records"],
            data_items=list(data["data_items"]),
            discovered_at=datetime.fromisoformat(discovered) if discovered else None,
            location=data.get("location"),
            summary=data.get("summary"),
            reported_by=data.get("reported_by"),
            timeline=[TimelineEntry.from_json(e) for e in data["timeline"]],
        )


# Severity of an incident someone filed, by kind, before triage says otherwise.
FILED_SEVERITY: dict[str, Severity] = {
    "leak": Severity.CRITICAL,
    "unauthorized_access": Severity.CRITICAL,
    "tampering": Severity.HIGH,
    "loss": Severity.HIGH,
    "misdelivery": Severity.HIGH,
    "system_outage": Severity.HIGH,
    "complaint": Severity.MEDIUM,
    "other": Severity.MEDIUM,
}


def incident_day(ts: datetime) -> str:
    """The ``YYYYMMDD`` part of an incident id: the Japan date of ``ts``."""
    return ts.astimezone(JST).strftime("%Y%m%d")


def filed_incident(incident_id: str, jurisdiction: str, ev: IncidentEvent) -> Incident:
    """A new incident from a filed event (``leak``, ``misdelivery``, …)."""
    occurred = ev.occurred_at or ev.discovered_at or ev.ts
    incident = Incident(
        incident_id=incident_id,
        contract_id=ev.contract_id,
        jurisdiction=jurisdiction,
        origin="filed",
        kind=ev.kind,
        first_event_ts=occurred,
        last_event_ts=occurred,
        actor=None,
        system=None,
        severity=FILED_SEVERITY.get(ev.kind, Severity.MEDIUM),
        event_ids=[ev.event_id],
        event_count=1,
        records=ev.records_affected or 0,
        data_items=list(ev.data_items),
        discovered_at=ev.discovered_at or ev.ts,
        location=ev.location,
        summary=ev.summary,
        reported_by=ev.reported_by.id,
    )
    incident.timeline.append(
        TimelineEntry(ev.ts, ev.reported_by.id, f"filed: {ev.kind}", "filed", {"event_id": ev.event_id})
    )
    return incident
