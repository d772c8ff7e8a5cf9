"""``kinkyu replay --out DIR``: keep what a replay found where ``kinkyu report --store DIR`` reads it.

Each incident is stored with its playbook run as it stood when the incident
was opened (in event time: a review is about what happened then) and with
the follow-ups its timeline holds. With an evidence key, a second pass over
the input files seals each incident's evidence (its events and the actor's
and system's events within the evidence window) into the store's evidence
folder, with the custody log, exactly as the live worker does.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kinkyu.core.bounds import DEFAULT_MAX_SKEW, NO_CLOCK
from kinkyu.core.contract import ContractProfile
from kinkyu.core.evidence import EvidenceItem, evidence_window, in_evidence_scope, seal_bundle
from kinkyu.core.incident import Incident
from kinkyu.core.integrity import Keyring
from kinkyu.core.model import AccessEvent
from kinkyu.core.playbook import Playbook, on_record
from kinkyu.core.wire import decode_event
from kinkyu.evidence.store import EvidenceStore
from kinkyu.exceptions import MalformedEventError
from kinkyu.reports.store import IncidentStore

# A replay's evidence is capped like the live worker's; the seal reason says when it was cut.
MAX_ITEMS = 10_000


@dataclass
class StoreSummary:
    """What ``--out`` wrote."""

    incidents: int = 0
    runs: int = 0
    bundles: int = 0
    sealed_events: int = 0
    unread: list[str] = field(default_factory=list)  # inputs the evidence pass could not re-read


def _opened_at(incident: Incident) -> datetime:
    return incident.discovered_at or incident.first_event_ts


def write_store(
    out: Path,
    incidents: Iterable[Incident],
    profiles: Mapping[str, ContractProfile],
    playbooks: Mapping[str, Playbook],
    *,
    inputs: Iterable[Path | str] = (),
    evidence_key: bytes | None = None,
    integrity: Keyring | None = None,
    now: float = NO_CLOCK,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> StoreSummary:
    """Store every incident (record, playbook run, contract) and, with a key, seal its evidence.

    With ``integrity`` keys the custody entries and manifests are MAC'd (no anchor: a replay is offline);
    without, the evidence is unkeyed and verifies as such. ``now`` and ``max_skew`` are the replay's
    judging clock: a line the replay refused as ``future-timestamp`` is no evidence either.
    """
    store = IncidentStore(out)
    summary = StoreSummary()
    kept = list(incidents)
    for incident in kept:
        profile = profiles[incident.contract_id]
        record = {**incident.to_json(), "change": "opened"}
        playbook = playbooks.get(incident.jurisdiction)
        run = None
        if playbook is not None:
            run, _ = on_record(
                None,
                record,
                playbook=playbook,
                policy=profile.response,
                contract_ends=profile.ends,
                now=_opened_at(incident),
                datasets=profile.datasets,
            )
        store.write(record, run.to_json() if run is not None else None, profile)
        summary.incidents += 1
        summary.runs += run is not None
    if evidence_key is not None and kept:
        _seal_all(
            store,
            kept,
            profiles,
            inputs=inputs,
            key=evidence_key,
            summary=summary,
            keyring=integrity,
            clock=(now, max_skew),
        )
    return summary


def _seal_all(
    store: IncidentStore,
    incidents: list[Incident],
    profiles: Mapping[str, ContractProfile],
    *,
    inputs: Iterable[Path | str],
    key: bytes,
    summary: StoreSummary,
    keyring: Keyring | None = None,
    clock: tuple[float, float] = (NO_CLOCK, DEFAULT_MAX_SKEW),
) -> None:
    judged_at, max_skew = clock
    windows: dict[str, timedelta] = {i.incident_id: profiles[i.contract_id].response.evidence_window for i in incidents}
    spans = sorted((evidence_window(i, windows[i.incident_id])[0], n) for n, i in enumerate(incidents))
    starts = [s for s, _ in spans]
    widest = max(windows.values()) * 2
    slack = _span_slack(incidents)
    found: dict[str, list[EvidenceItem]] = {i.incident_id: [] for i in incidents}
    cut: set[str] = set()
    # A filed incident's own event may come long after its window (filed a day later): look it up by id.
    triggered: dict[str, list[int]] = {}
    for n, incident in enumerate(incidents):
        for event_id in incident.event_ids:
            triggered.setdefault(event_id, []).append(n)
    for path in inputs:
        name = str(path)
        if name == "-":
            summary.unread.append(name)  # stdin was consumed by the replay: it cannot be read twice
            continue
        with Path(path).open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip(b"\n")
                if not line.strip():
                    continue
                try:
                    ev = decode_event(line, now=judged_at, max_skew=max_skew)
                except MalformedEventError:
                    continue  # already reported by the replay itself
                actor, system = (ev.actor_id, ev.system) if isinstance(ev, AccessEvent) else (None, None)
                # Only incidents whose window could contain ts: those starting at most `widest` before it.
                lo = bisect.bisect_left(starts, ev.ts - widest - slack)
                hi = bisect.bisect_right(starts, ev.ts)
                candidates = {n for _, n in spans[lo:hi]} | set(triggered.get(ev.event_id, ()))
                for n in sorted(candidates):
                    incident = incidents[n]
                    if ev.contract_id != incident.contract_id:
                        continue
                    if in_evidence_scope(
                        incident,
                        event_id=ev.event_id,
                        ts=ev.ts,
                        actor=actor,
                        system=system,
                        window=windows[incident.incident_id],
                    ):
                        items = found[incident.incident_id]
                        if len(items) < MAX_ITEMS:
                            items.append(EvidenceItem(f"file:{name}:{number}", ev.event_id, line))
                        else:
                            cut.add(incident.incident_id)
    now = datetime.now(UTC)
    evidence = EvidenceStore(store.evidence.root, keyring=keyring) if keyring is not None else store.evidence
    for incident_id, items in found.items():
        if not items:
            continue
        reason = "replay of archived logs"
        if incident_id in cut:
            reason += f"; capped at {MAX_ITEMS} events"
        sealed = seal_bundle(incident_id, items, key, sealed_at=now, sealed_by="kinkyu replay", reason=reason)
        evidence.put_bundle(sealed, actor="kinkyu replay")
        summary.bundles += 1
        summary.sealed_events += len(items)


def _span_slack(incidents: list[Incident]) -> timedelta:
    """The longest incident span: a window starts before first_event_ts and ends after last_event_ts."""
    return max((i.last_event_ts - i.first_event_ts for i in incidents), default=timedelta(0))
