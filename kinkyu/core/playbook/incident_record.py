"""An incident record (``opened`` / ``updated``) applied to a running run.

New findings, events, rules or facts update the run's facts: the assessment
is recomputed, new events are sealed, steps that now apply start, containment
covers new rules and targets, report items now known close their tasks, and a
closed incident with new findings reopens. The follow-ups in the record's
timeline are applied (once each) after that.
"""

from __future__ import annotations

from typing import Any

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook.context import Ctx
from kinkyu.core.playbook.follow_ups import follow_up
from kinkyu.core.playbook.lifecycle import new_rules, reopen
from kinkyu.core.playbook.national_report import reassess, record_ppc
from kinkyu.core.playbook.state import facts_of
from kinkyu.core.playbook.states import CLOSED
from kinkyu.core.playbook.steps import seal
from kinkyu.core.playbook.tasks import recheck_items

# Timeline entries of an incident record that are the detection's own, not follow-ups.
NOT_FOLLOW_UPS = frozenset({"finding", "filed"})


def incident_record(ctx: Ctx, record: dict[str, Any]) -> None:
    """Apply an ``opened`` / ``updated`` record of the run's incident."""
    run = ctx.run
    new = facts_of(record)
    old = run.facts
    known_findings = set(old.finding_ids)
    known_events = set(old.event_ids)
    new_findings = [i for i in new.finding_ids if i not in known_findings]
    added_rules = [r for r in new.rules if r not in old.rules]
    new_events = [e for e in new.event_ids if e not in known_events]
    changed = [
        name
        for name, a, b in (
            ("records", old.records, new.records),
            ("data_items", sorted(old.data_items), sorted(new.data_items)),
            ("location", old.has_location, new.has_location),
            ("summary", old.has_summary, new.has_summary),
            ("severity", old.severity, new.severity),
            ("source_ips", old.source_ips, new.source_ips),
            ("devices", old.devices, new.devices),
        )
        if a != b
    ]
    if new_findings or new_events or changed:
        if run.state == CLOSED and (new_findings or new_events):
            reopen(ctx, f"{len(new_findings)} new finding(s)")
        old_first, old_last = old.first_event_ts, old.last_event_ts
        old.rules.extend(added_rules)
        old.finding_ids.extend(new_findings)
        old.event_ids.extend(new_events)
        old.first_event_ts = min(old.first_event_ts, new.first_event_ts)
        old.last_event_ts = max(old.last_event_ts, new.last_event_ts)
        old.records = new.records
        old.data_items = list(new.data_items)
        old.has_location = new.has_location
        old.has_summary = new.has_summary
        old.severity = new.severity
        old.source_ips = list(new.source_ips)
        old.devices = list(new.devices)
        ctx.log(
            f"incident updated: {len(new_findings)} new finding(s), {len(new_events)} new event(s)"
            + (f", new rule(s) {', '.join(added_rules)}" if added_rules else "")
            + (f", changed: {', '.join(changed)}" if changed else ""),
            "incident_updated",
            {
                "finding_ids": new_findings,
                "rules": added_rules,
                "events": len(new_events),
                "changed": changed,
                "records": old.records,
                "severity": old.severity,
            },
        )
        # Before any step the new facts start: a report they trigger carries the new assessment.
        record_ppc(ctx, record)
        reassess(ctx)
        evidence = next((s for s in run.steps if s.kind == "evidence"), None)
        if new_events and evidence is not None:
            since = old.first_event_ts if old.first_event_ts < old_first else old_last
            seal(ctx, evidence, new_events, since)
        targets_changed = "source_ips" in changed or "devices" in changed
        if added_rules or targets_changed:
            new_rules(ctx, added_rules, targets_changed=targets_changed)
        recheck_items(ctx)
    record_ppc(ctx, record)
    reassess(ctx)
    timeline_follow_ups(ctx, record)


def timeline_follow_ups(ctx: Ctx, record: dict[str, Any]) -> None:
    """Apply the follow-ups an incident record carries in its timeline (each once; malformed ones skipped)."""
    for raw in record.get("timeline") or []:
        if not isinstance(raw, dict) or raw.get("kind") in NOT_FOLLOW_UPS:
            continue
        try:
            entry = TimelineEntry.from_json(raw)
        except (KeyError, TypeError, ValueError):
            continue
        follow_up(ctx, entry)
