"""Prometheus metrics of a worker (served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per worker, so tests running several workers do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_in = Counter("kinkyu_events_in", "Events consumed, by topic", ["topic"], registry=self.registry)
        self.findings = Counter("kinkyu_findings", "Findings emitted, by rule", ["rule"], registry=self.registry)
        self.incidents_opened = Counter(
            "kinkyu_incidents_opened", "Incidents opened, by origin", ["origin"], registry=self.registry
        )
        self.incidents_open = Gauge(
            "kinkyu_incidents_open", "Incidents still open to correlation", registry=self.registry
        )
        self.dead_letters = Counter(
            "kinkyu_dead_letters", "Events sent to dead-letters, by reason", ["reason"], registry=self.registry
        )
        self.set_aside = Counter(
            "kinkyu_records_set_aside",
            "Records a stage could not handle, sent to dead-letters, by stage (incident-feed, playbook, notifier) "
            "and reason",
            ["stage", "reason"],
            registry=self.registry,
        )
        self.deadlines_at_risk = Gauge(
            "kinkyu_deadlines_at_risk",
            "Playbook deadlines and the city's PPC report deadlines due within the warning window",
            registry=self.registry,
        )
        self.messages_queued = Gauge(
            "kinkyu_messages_queued", "Outbound messages waiting for delivery", registry=self.registry
        )
        self.messages = Counter(
            "kinkyu_messages",
            "Outbound message results put on the timeline, by result "
            "(sent, delayed, failed, escalated, unanswered, acknowledged, not_sent)",
            ["result"],
            registry=self.registry,
        )
        self.ledger_window = Histogram(
            "kinkyu_ledger_window_seconds",
            "From a server's acceptance of a message to the broker's ack of its delivered record in the delivery "
            "ledger: a worker killed inside it leaves the message to be sent again after the lease",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.checkpoints = Counter("kinkyu_checkpoints", "State checkpoints written", registry=self.registry)
        self.effects = Counter("kinkyu_effects", "Playbook effects sent on, by kind", ["kind"], registry=self.registry)
        self.evidence_seals = Counter(
            "kinkyu_evidence_seals",
            "Evidence seals attempted, by result (sealed, empty, failed, no-key)",
            ["result"],
            registry=self.registry,
        )
        self.runs_rebuilt = Counter(
            "kinkyu_playbook_runs_rebuilt",
            "Playbook runs taken from incident-state because the table's copy was missing or behind",
            registry=self.registry,
        )
        self.contract_reloads = Counter(
            "kinkyu_contract_reloads", "Contract folder reloads, by result", ["result"], registry=self.registry
        )
