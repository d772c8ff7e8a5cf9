"""The topic names, shared by the worker, the console and the evidence anchors."""

from __future__ import annotations


class Topics:
    """The topic names, with an optional prefix (tests use a fresh prefix each)."""

    def __init__(self, prefix: str = "") -> None:
        self.access_log = f"{prefix}access-log"
        self.incident_events = f"{prefix}incident-events"
        self.findings = f"{prefix}findings"
        self.incidents = f"{prefix}incidents"
        self.notifications = f"{prefix}notifications"
        self.dead_letters = f"{prefix}dead-letters"
        self.checkpoints = f"{prefix}kinkyu-checkpoints"
        self.containment_commands = f"{prefix}containment-commands"
        self.playbook_ticks = f"{prefix}playbook-ticks"
        self.incident_state = f"{prefix}incident-state"
        # Compacted, keyed by a message's idempotency key: what every worker sent (kinkyu.notifiers.ledger).
        self.deliveries = f"{prefix}kinkyu-deliveries"
        # Compacted, keyed by incident id: every incident's escalation chains, for its partition's next owner
        # (kinkyu.notifiers.handover).
        self.chains = f"{prefix}kinkyu-chains"
        # Compacted: which store (folder) the workers of this deployment share (kinkyu.streams.store_identity).
        self.stores = f"{prefix}kinkyu-stores"
        # Not in `all`: created compacted by its publisher (kinkyu.evidence.anchor), and the console writes it too.
        self.anchors = f"{prefix}kinkyu-anchors"

    @property
    def inputs(self) -> tuple[str, str]:
        """The two co-partitioned input topics the detection stage consumes."""
        return (self.access_log, self.incident_events)

    @property
    def stage(self) -> tuple[str, ...]:
        """The playbook and notifier stages' topics, keyed by incident id and co-partitioned with each other.

        Each has as many partitions as ``incidents``, so one incident's records,
        ticks, state and messages share one partition number and one worker.
        """
        return (
            self.incidents,
            self.playbook_ticks,
            self.notifications,
            self.incident_state,
            self.containment_commands,
            self.chains,
        )

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic the worker needs."""
        return (
            self.access_log,
            self.incident_events,
            self.findings,
            self.incidents,
            self.notifications,
            self.dead_letters,
            self.checkpoints,
            self.containment_commands,
            self.playbook_ticks,
            self.incident_state,
            self.deliveries,
            self.stores,
            self.chains,
        )
