"""The detection engine: events in, findings and incidents out.

One engine owns the state of one partition (or of a whole replay): rule
windows, the incidents still open to correlation, the ids it has given and
the follow-ups waiting for their incident. It is deterministic: the same
state and the same events give the same findings and the same incident ids,
which is what makes at-least-once delivery safe. More than that, identity
is a function of content (:mod:`kinkyu.core.ids`): an incident's id and
members depend on its events, not on how the two input topics interleave,
on batch boundaries or on which partition or worker reads them.
A worker checkpoints ``snapshot()`` with the offsets it covers; after a
crash it restores and reprocesses, and everything it re-emits carries the
ids it had the first time.

Event time is kept per contract: each contract's clock is the newest event
time of its own access events (and what the detector's wall-clock tick adds
for a silent contract). Windows expire, outages show and incidents leave
correlation by their own contract's clock only, so an event dated far ahead
on one contract cannot blind the rules of another (issue #12); the wire
bounds keep any one event from moving even its own contract's clock more
than the allowed skew past the worker's clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import msgspec

from kinkyu.core.bounds import NO_CLOCK
from kinkyu.core.clauses import clauses_for
from kinkyu.core.codec import Record, decode, encode_any
from kinkyu.core.contract import ContractPolicy
from kinkyu.core.ids import DETECTION, ORIGIN_LETTERS, make_incident_id, owned_by, parse_incident_id
from kinkyu.core.incident import Incident, TimelineEntry, filed_incident, incident_day
from kinkyu.core.model import ACTIONS, FOLLOW_UP_KINDS, JST, AccessEvent, Finding, IncidentEvent, finding_id
from kinkyu.core.playbook.keys import FOLLOW_UP_DATA_KEYS, PPC_FACT_KEYS
from kinkyu.core.rules import Hit, Rule, make_rules
from kinkyu.exceptions import MalformedEventError, UnknownContractError

CORRELATION_WINDOW = 3600.0  # rules.md: same actor and rule within an hour
DEFAULT_LATENESS = 300.0
# Recently emitted finding ids and filed event ids, to recognise redeliveries.
# Findings are rare next to events, so this bounds memory by findings, not events.
RECENT_LIMIT = 100_000
# Distinct accounts with an incident of their own open for one contract and rule. Past it, further
# accounts' findings go to one incident for the contract and rule (actor unknown: many accounts), so
# reads by thousands of made-up accounts are one incident for the city, not thousands, and the
# checkpoint stays bounded (an incident is ~1 KB of it, the topic takes 16 MiB).
MAX_OPEN_PER_RULE = 25
# Incident id -> contract, for follow-ups: the newest this many are kept (~40 bytes each).
KNOWN_LIMIT = 100_000
# How often, in event time, rules that fire on absence (system-outage) are asked to look.
ADVANCE_EVERY = 15.0
# Expiry is cheap but not free: run it once a minute of event time, not per event.
EXPIRE_EVERY = 60.0
# A follow-up naming a detection this engine has not opened yet waits for it (the two input topics
# interleave any way: after a crash the access log may be re-read behind incident-events) until its
# contract's event time is this far past the follow-up's own time; then it is a dead letter.
PENDING_WINDOW = 86_400.0
# ... and at most this many wait at once (the oldest is refused first): ~300 bytes each in the checkpoint.
PENDING_LIMIT = 1_000
# Follow-up kinds whose data the playbook run does not read as national-report facts.
_NO_FACT_KINDS = frozenset({"acknowledgement", "city_instruction", "resolution"})


@dataclass(slots=True)
class Output:
    """What one call produced, in the order it should be sent on."""

    findings: list[Finding] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)  # opened or changed
    opened: list[str] = field(default_factory=list)  # ids among ``incidents`` that are new
    events: list[tuple[str, TimelineEntry]] = field(default_factory=list)  # follow-ups by incident id
    refused: list[Refusal] = field(default_factory=list)  # follow-ups that waited, refused after all

    def __bool__(self) -> bool:
        return bool(self.findings or self.incidents or self.events or self.refused)

    def extend(self, other: Output) -> None:
        """Append another call's output."""
        self.findings.extend(other.findings)
        for incident in other.incidents:
            # The same object may change twice in one batch; identity, not a deep comparison.
            if not any(mine is incident for mine in self.incidents):
                self.incidents.append(incident)
        self.opened.extend(other.opened)
        self.events.extend(other.events)
        self.refused.extend(other.refused)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A follow-up that waited for its incident and is refused after all: a dead letter, later than its event.

    ``ref`` is what the caller passed with the event (the detector: its offset on
    ``incident-events``), so the dead letter can point at the original record.
    """

    event_id: str
    contract_id: str
    incident_id: str
    kind: str
    reason: str
    detail: str
    ref: int | None = None


class _Pending(msgspec.Struct, Record, array_like=True):
    """A follow-up waiting for its detection to open: only what would go on ``incidents`` (no free text).

    Written as a JSON array in the checkpoint (array-like): a thousand may wait, keys would double them.
    """

    event_id: str
    contract_id: str
    incident_id: str
    kind: str
    deadline: float  # the contract's event time at which it stops waiting (a whole minute)
    entry: TimelineEntry
    ref: int | None

    def refusal(self, reason: str, detail: str) -> Refusal:
        return Refusal(self.event_id, self.contract_id, self.incident_id, self.kind, reason, detail, self.ref)


_WAITED = (
    "incident_id names no incident Kinkyu opened for this contract by the time its events had reached "
    "the follow-up's time plus the pending window; file the event without incident_id to open a new incident"
)
_MISMATCH = (
    "incident_id names an incident of another contract than contract_id; "
    "a follow-up carries the contract_id of its incident"
)
_UNKNOWN = "incident_id names no incident Kinkyu opened; file the event without incident_id to open a new incident"


def _next_expiry(t: float) -> float:
    # On whole minutes of event time, not a minute after the last pass: an engine restored from a
    # checkpoint then expires at the same event times as one that never stopped (same late events in).
    return (t // EXPIRE_EVERY + 1) * EXPIRE_EVERY


class _Clock:
    """One contract's event time, its newest event's time, and when its expiry and absence checks are due."""

    __slots__ = ("expire_due", "newest", "next_advance", "t")

    def __init__(self, t: float = 0.0, newest: float | None = None) -> None:
        self.t = t
        # What the contract's own events said; ``t`` may be ahead of it by what advance() added.
        self.newest = t if newest is None else newest
        self.expire_due = _next_expiry(t)
        self.next_advance = float("-inf")


_EMPTY = Output()
# What on_access returns when nothing happened; callers may test `is NOTHING` (cheaper than truth).
# Never mutate it.
NOTHING = _EMPTY


class Engine:
    """Detection and correlation for a set of contracts; pure, deterministic, snapshot-able."""

    def __init__(
        self,
        policies: Mapping[str, ContractPolicy],
        *,
        lateness: float = DEFAULT_LATENESS,
        partition: int = 0,
        partitions: int = 1,
        rules: list[Rule] | None = None,
    ) -> None:
        self.policies: dict[str, ContractPolicy] = dict(policies)
        self.lateness = lateness
        # Where the engine runs, for the caller's logs: no id depends on it (ids are content-derived).
        self.partition = partition
        self.partitions = partitions
        self.rules = rules if rules is not None else make_rules()
        self._by_action: dict[str, tuple[Rule, ...]] = {
            action: tuple(r for r in self.rules if r.actions is None or action in r.actions) for action in ACTIONS
        }
        self._clocks: dict[str, _Clock] = {}  # contract id -> its event time
        # contract id -> (policy, clock): the hot path finds both with the one lookup it always made.
        self._contracts: dict[str, tuple[ContractPolicy, _Clock]] = {}
        self._active: dict[str, Incident] = {}
        self._keys: dict[tuple[str, str | None, str], str] = {}
        self._recent_findings: OrderedDict[str, str] = OrderedDict()
        self._recent_filed: OrderedDict[str, str] = OrderedDict()
        self._known: OrderedDict[str, str] = OrderedDict()  # incident id -> contract id
        # (contract, rule) -> how many accounts have an incident of their own open for it; and the
        # incident further accounts are folded into once that reaches MAX_OPEN_PER_RULE.
        self._per_rule: dict[tuple[str, str], int] = {}
        self._floods: dict[tuple[str, str], str] = {}
        # Detection id -> its contract's event time when it opened: a follow-up dated more than
        # PENDING_WINDOW before that is refused, as it would have been had it been read first.
        # In whole minutes (deadlines are whole minutes, so the comparison is exact): the checkpoint
        # holds one small integer per known id, not another table of ids.
        self._opened_at: dict[str, int] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()  # by the follow-up's event id, oldest first
        self._deferred: list[Refusal] = []  # refusals an expiry pass made, for the caller's next output

    # -- contracts ---------------------------------------------------------

    def set_contracts(self, policies: Mapping[str, ContractPolicy]) -> None:
        """Swap the contract profiles; all state (windows, incidents, clocks) is kept."""
        self.policies = dict(policies)
        self._contracts = {}

    def policy(self, contract_id: str) -> ContractPolicy:
        """The policy of ``contract_id``, or :class:`UnknownContractError`."""
        try:
            return self.policies[contract_id]
        except KeyError:
            raise UnknownContractError(contract_id) from None

    # -- access events -----------------------------------------------------

    def on_access(self, ev: AccessEvent) -> Output:
        """Run every rule on one access event and correlate what fires."""
        known = self._contracts.get(ev.contract_id)
        policy, clock = known if known is not None else self._contract(ev.contract_id)
        hits: list[tuple[Rule, Hit]] | None = None
        for rule in self._by_action[ev.action]:
            found = rule.observe(ev, policy)
            if found:  # most calls return an empty tuple: test it rather than iterate it
                if hits is None:
                    hits = []
                hits.extend((rule, hit) for hit in found)
        t = ev.t
        if t > clock.newest:  # the clock is never behind its newest event: most events move both
            clock.newest = t
            if t > clock.t:
                # Only this contract's clock moves: another contract's windows and outages keep their own time.
                clock.t = t
                if t >= clock.expire_due:
                    self._expire()
        out = (
            _EMPTY
            if hits is None
            else self._correlate(policy, [self._finding(policy, rule, hit) for rule, hit in hits])
        )
        if clock.t >= clock.next_advance:
            # Absence shows only as time passes: look every ADVANCE_EVERY of event time, so a gap
            # inside a backlog read at full speed is seen as surely as one in a live stream.
            advanced = self._advance({ev.contract_id: clock.t})
            if advanced:
                if out is _EMPTY:
                    out = advanced
                else:
                    merged = Output()
                    merged.extend(out)
                    merged.extend(advanced)
                    out = merged
        if self._deferred:  # an expiry pass ran and follow-ups stopped waiting: rare, off the hot path
            out = self._with_deferred(out)
        return out

    def _with_deferred(self, out: Output) -> Output:
        merged = Output()
        merged.extend(out)
        merged.refused.extend(self._deferred)
        self._deferred = []
        return merged

    def _contract(self, contract_id: str) -> tuple[ContractPolicy, _Clock]:
        policy = self.policies.get(contract_id)
        if policy is None:
            raise UnknownContractError(contract_id)
        clock = self._clocks.get(contract_id)
        if clock is None:
            clock = self._clocks[contract_id] = _Clock()
        self._contracts[contract_id] = (policy, clock)
        return policy, clock

    def advance(self, now: float) -> Output:
        """Let every contract's event time reach ``now`` and fire what absence shows (tests, simulations)."""
        return self.advance_each(dict.fromkeys(self.policies.keys() | self._clocks.keys(), now))

    def advance_each(self, times: Mapping[str, float]) -> Output:
        """Let each contract's event time reach its time in ``times`` and fire what absence shows there.

        The detector's wall-clock tick moves each silent contract by the wall time it has been silent;
        replay's end passes :attr:`clocks` (each contract where its own events left it). A time behind
        a contract's clock leaves the clock where it is; contracts not named are not looked at.
        """
        out = self._advance(times)
        self._expire()
        return self._with_deferred(out) if self._deferred else out

    def _advance(self, times: Mapping[str, float]) -> Output:
        # Without expiry: on_access looks every ADVANCE_EVERY per contract and expires every
        # EXPIRE_EVERY on its own; a whole pass each time one contract is looked at would cost more.
        moved: dict[str, float] = {}
        for contract_id, now in times.items():
            clock = self._clocks.get(contract_id)
            if clock is None:
                clock = self._clocks[contract_id] = _Clock()
            clock.t = max(clock.t, now)
            clock.next_advance = clock.t + ADVANCE_EVERY
            moved[contract_id] = clock.t
        out = Output()
        for rule in self.rules:
            for contract_id, hit in rule.advance(moved, self.policies):
                policy = self.policies.get(contract_id)
                if policy is not None:
                    out.extend(self._correlate(policy, [self._finding(policy, rule, hit)]))
        return out

    def clock(self, contract_id: str) -> float:
        """The event time of ``contract_id`` (0.0 before its first event)."""
        clock = self._clocks.get(contract_id)
        return 0.0 if clock is None else clock.t

    @property
    def clocks(self) -> Mapping[str, float]:
        """Every contract's event time, by contract id (a snapshot: later events do not change it)."""
        return MappingProxyType({contract_id: clock.t for contract_id, clock in self._clocks.items()})

    @property
    def newest(self) -> Mapping[str, float]:
        """Every contract's newest event time: its clock less what :meth:`advance_each` added (a snapshot).

        The detector's tick measures a contract's silence from here: measured from a clock it had
        itself moved, each tick would take the ingest delay off again and a silent contract's time
        would stand still.
        """
        return MappingProxyType({contract_id: clock.newest for contract_id, clock in self._clocks.items()})

    def _finding(self, policy: ContractPolicy, rule: Rule, hit: Hit) -> Finding:
        return Finding(
            finding_id=finding_id(rule.rule_id, hit.event_ids),
            rule=rule.rule_id,
            contract_id=policy.contract_id,
            jurisdiction=policy.jurisdiction,
            actor=hit.actor,
            system=hit.system,
            event_ids=hit.event_ids,
            ts=datetime.fromtimestamp(hit.t, JST),
            severity=rule.severity,
            clauses=clauses_for(rule.rule_id, policy.jurisdiction),
            records=hit.records,
            detail=hit.detail,
            subject_ids=hit.subject_ids,
            subjects_missing=hit.subjects_missing,
        )

    def _correlate(self, policy: ContractPolicy, findings: list[Finding]) -> Output:
        """One action's findings go to one incident: an open match, or a new one."""
        fresh = [f for f in findings if f.finding_id not in self._recent_findings]
        if not fresh:
            return _EMPTY
        target: Incident | None = None
        for f in fresh:
            incident_id = self._keys.get((f.contract_id, f.actor, f.rule))
            incident = self._active.get(incident_id) if incident_id else None
            if (
                incident is not None
                and abs(f.ts.timestamp() - incident.last_event_ts.timestamp()) <= CORRELATION_WINDOW
            ):
                target = incident
                break
        out = Output(findings=fresh)
        folded = False
        if target is None:
            folded = all(self._per_rule.get((policy.contract_id, f.rule), 0) >= MAX_OPEN_PER_RULE for f in fresh)
            if folded:
                target = self._flood_incident(policy, fresh, out)
            else:
                first = min(fresh, key=lambda f: f.ts)
                target = self._open_detection(policy, first, first.actor)
                out.opened.append(target.incident_id)
        for f in fresh:
            target.add_finding(f)
            if not folded:
                key = (f.contract_id, f.actor, f.rule)
                if key not in self._keys:
                    self._per_rule[(f.contract_id, f.rule)] = self._per_rule.get((f.contract_id, f.rule), 0) + 1
                self._keys[key] = target.incident_id
            self._remember(self._recent_findings, f.finding_id, target.incident_id)
        if out.opened and self._pending:
            # After its findings: the incident then reads as it does when the follow-up comes later.
            self._attach_pending(target, out)
        out.incidents.append(target)
        return out

    def _open_detection(self, policy: ContractPolicy, first: Finding, actor: str | None) -> Incident:
        # Content, not arrival: the same first finding gives the same id on any worker, in any order.
        content = (first.rule, actor or "", first.finding_id)
        incident = Incident(
            incident_id=make_incident_id(policy.contract_id, incident_day(first.ts), DETECTION, content, self._taken),
            contract_id=policy.contract_id,
            jurisdiction=policy.jurisdiction,
            origin="detection",
            kind="detection",
            first_event_ts=first.ts,
            last_event_ts=first.ts,
            actor=actor,
            system=first.system,
            severity=first.severity,
        )
        self._active[incident.incident_id] = incident
        self._know(incident.incident_id, policy.contract_id)
        self._opened_at[incident.incident_id] = int(self.clock(policy.contract_id) // 60)
        return incident

    def _taken(self, incident_id: str) -> bool:
        return incident_id in self._known or incident_id in self._active

    def _attach_pending(self, incident: Incident, out: Output) -> None:
        """The follow-ups that waited for ``incident``, in the order they came: attached, or refused."""
        waiting = [p for p in self._pending.values() if p.incident_id == incident.incident_id]
        for p in waiting:
            del self._pending[p.event_id]
            if p.contract_id != incident.contract_id:
                out.refused.append(p.refusal("contract-mismatch", _MISMATCH))
                continue
            self._remember(self._recent_filed, p.event_id, incident.incident_id)
            self._apply_follow_up(incident, p.kind, p.entry)
            out.events.append((incident.incident_id, p.entry))

    def _flood_incident(self, policy: ContractPolicy, fresh: list[Finding], out: Output) -> Incident:
        """The one incident of a contract and rule that already has MAX_OPEN_PER_RULE accounts' open."""
        rule = min(f.rule for f in fresh)
        first = min(fresh, key=lambda f: f.ts)
        incident = self._active.get(self._floods.get((policy.contract_id, rule), ""))
        if (
            incident is not None
            and abs(first.ts.timestamp() - incident.last_event_ts.timestamp()) <= CORRELATION_WINDOW
        ):
            return incident
        incident = self._open_detection(policy, first, None)
        incident.timeline.append(
            TimelineEntry(
                first.ts,
                "kinkyu",
                f"more than {MAX_OPEN_PER_RULE} accounts within an hour on {rule}: further accounts are "
                "folded into this incident",
                "accounts_folded",
                {"rule": rule, "accounts_open": MAX_OPEN_PER_RULE},
            )
        )
        self._floods[(policy.contract_id, rule)] = incident.incident_id
        out.opened.append(incident.incident_id)
        return incident

    # -- filed incident events --------------------------------------------

    def on_incident_event(self, ev: IncidentEvent, *, ref: int | None = None) -> Output:
        """Open an incident from a filed event, or add a follow-up to one.

        A follow-up naming a detection not opened yet waits for it (see
        :data:`PENDING_WINDOW`): the two input topics are read in no fixed
        order, and what a follow-up joins must not depend on that. ``ref`` (the
        detector passes the event's offset) comes back on a :class:`Refusal`
        if it is refused later. Whatever the order, a follow-up is attached
        exactly when its incident opened (for its own contract) before its
        contract's event time reached the follow-up's time plus the window.
        """
        policy = self.policy(ev.contract_id)
        if ev.event_id in self._recent_filed or ev.event_id in self._pending:
            return _EMPTY
        if ev.incident_id is None:
            # An opening filing may state the national report's facts from the start (improper purpose, …).
            facts = {k: ev.data[k] for k in PPC_FACT_KEYS if k in ev.data}
            day = incident_day(ev.discovered_at or ev.ts)
            incident_id = make_incident_id(
                policy.contract_id, day, ORIGIN_LETTERS["filed"], (ev.kind, ev.event_id), self._taken
            )
            incident = filed_incident(incident_id, policy.jurisdiction, ev, facts)
            self._know(incident.incident_id, policy.contract_id)
            self._active[incident.incident_id] = incident
            self._remember(self._recent_filed, ev.event_id, incident.incident_id)
            return Output(incidents=[incident], opened=[incident.incident_id])
        incident_id = ev.incident_id
        parsed = parse_incident_id(incident_id)
        if parsed is not None and not owned_by(parsed, ev.contract_id):
            # Decided by the id alone: the same answer on every partition, before or after the incident.
            if any(owned_by(parsed, c) for c in self.policies if c != ev.contract_id):
                raise MalformedEventError("contract-mismatch", _MISMATCH)
            raise MalformedEventError("unknown-incident", _UNKNOWN)
        kind = ev.kind if ev.kind in FOLLOW_UP_KINDS else f"update:{ev.kind}"
        # Only the keys a playbook reads travel on: a follow-up's free text stays with the evidence.
        data = {k: ev.data[k] for k in FOLLOW_UP_DATA_KEYS if k in ev.data}
        data["event_id"] = ev.event_id
        entry = TimelineEntry(ev.ts, ev.reported_by.id, kind, ev.kind, data)
        deadline = _next_expiry(ev.ts.timestamp() + PENDING_WINDOW)
        owner = self._known.get(incident_id)
        if owner is None:
            if parsed is None or parsed.origin != DETECTION:
                # A filing and its follow-ups share a topic and a partition: a filed incident not known
                # now never will be; an old-form id is never made again.
                raise MalformedEventError("unknown-incident", _UNKNOWN)
            if self.clock(ev.contract_id) >= deadline:
                # What an expiry pass would have done, had the follow-up been read earlier.
                raise MalformedEventError("unknown-incident", _WAITED)
            self._wait(_Pending(ev.event_id, ev.contract_id, incident_id, ev.kind, deadline, entry, ref))
            return self._with_deferred(_EMPTY) if self._deferred else _EMPTY
        opened_at = self._opened_at.get(incident_id)
        if opened_at is not None and opened_at * 60 >= deadline:
            # Had the follow-up been read before its incident, it would have stopped waiting first.
            raise MalformedEventError("unknown-incident", _WAITED)
        if owner != ev.contract_id:
            # Fields, not values: the detail goes into dead-letter headers and logs.
            raise MalformedEventError("contract-mismatch", _MISMATCH)
        self._remember(self._recent_filed, ev.event_id, incident_id)
        out = Output(events=[(incident_id, entry)])
        active = self._active.get(incident_id)
        if active is not None:
            self._apply_follow_up(active, ev.kind, entry)
            out.incidents.append(active)
        return out

    def _apply_follow_up(self, incident: Incident, kind: str, entry: TimelineEntry) -> None:
        incident.timeline.append(entry)
        # The record says what was stated last: it is re-sent with every change, and a run takes
        # its facts each time, so an opening's word must not outlive a later follow-up's.
        if kind not in _NO_FACT_KINDS:
            incident.state_facts(entry.data)

    def _wait(self, pending: _Pending) -> None:
        self._pending[pending.event_id] = pending
        if len(self._pending) > PENDING_LIMIT:
            _, oldest = self._pending.popitem(last=False)
            self._deferred.append(
                oldest.refusal(
                    "unknown-incident", "more follow-ups wait for incidents not yet opened than Kinkyu keeps"
                )
            )

    def flush_pending(self) -> Output:
        """Refuse every follow-up still waiting (the end of a replay: no event can open their incidents now)."""
        out = self._with_deferred(Output()) if self._deferred else Output()
        out.refused.extend(p.refusal("unknown-incident", _UNKNOWN) for p in self._pending.values())
        self._pending.clear()
        return out

    # -- ids, memory -------------------------------------------------------

    def _know(self, incident_id: str, contract_id: str) -> None:
        self._known[incident_id] = contract_id
        if len(self._known) > KNOWN_LIMIT:
            gone, _ = self._known.popitem(last=False)
            self._opened_at.pop(gone, None)

    @staticmethod
    def _remember(recent: OrderedDict[str, str], key: str, value: str) -> None:
        recent[key] = value
        if len(recent) > RECENT_LIMIT:
            recent.popitem(last=False)

    def _expire(self) -> None:
        # One pass for every contract (not one per contract that is due): contracts that advance
        # together then expire once a minute together.
        clocks: dict[str, float] = {}
        for contract_id, clock in self._clocks.items():
            clocks[contract_id] = clock.t
            clock.expire_due = _next_expiry(clock.t)
        for rule in self.rules:
            rule.expire(clocks, self.lateness)
        late = CORRELATION_WINDOW + self.lateness
        stale = [
            i
            for i, inc in self._active.items()
            if inc.last_event_ts.timestamp() < clocks.get(inc.contract_id, 0.0) - late
        ]
        for incident_id in stale:
            del self._active[incident_id]
        if stale:
            gone = set(stale)
            self._keys = {k: v for k, v in self._keys.items() if v not in gone}
            self._floods = {k: v for k, v in self._floods.items() if v not in gone}
            self._count_per_rule()
        if self._pending:
            # A whole minute of the contract's event time: the pass that crosses it always runs (see
            # on_access), so "stopped waiting" means exactly "the clock reached the deadline".
            done = [p for p in self._pending.values() if p.deadline <= clocks.get(p.contract_id, 0.0)]
            for p in done:
                del self._pending[p.event_id]
                self._deferred.append(p.refusal("unknown-incident", _WAITED))

    def _count_per_rule(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for contract_id, _actor, rule in self._keys:
            counts[(contract_id, rule)] = counts.get((contract_id, rule), 0) + 1
        self._per_rule = counts

    @property
    def active_incidents(self) -> int:
        """Incidents still open to correlation."""
        return len(self._active)

    # -- snapshots -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """All state as JSON-able data; :meth:`restore` on a fresh engine resumes from it."""
        clocks = {contract_id: clock.t for contract_id, clock in self._clocks.items()}
        return {
            "v": 2,
            # What a release before per-contract clocks restores from (one clock for the partition).
            "watermark": max(clocks.values(), default=0.0),
            "clocks": clocks,
            "newest": {contract_id: clock.newest for contract_id, clock in self._clocks.items()},
            # The snapshot form: with the subject digests behind each count of people.
            "active": [inc.to_json(snapshot=True) for inc in self._active.values()],
            "keys": [[c, a, r, i] for (c, a, r), i in self._keys.items()],
            "recent_findings": list(self._recent_findings.items()),
            "recent_filed": list(self._recent_filed.items()),
            "known": dict(self._known),
            "floods": [[c, r, i] for (c, r), i in self._floods.items()],
            # Beside "known", in its order: a minute for a detection, null for a filing or an old id.
            "opened_at": [self._opened_at.get(i) for i in self._known],
            "pending": [encode_any(p) for p in self._pending.values()],
            "rules": {rule.rule_id: rule.snapshot() for rule in self.rules},
        }

    def restore(self, data: Mapping[str, Any], *, not_after: float = NO_CLOCK) -> None:
        """Load a :meth:`snapshot`; unknown rules in it are ignored, missing ones start empty.

        A snapshot written before per-contract clocks has one ``watermark``: it becomes the clock of
        every contract in the policies, as it was. Any clock (and any horizon a rule keeps) later
        than ``not_after`` is pulled back to it: the live worker passes its wall clock plus the
        allowed skew, so a checkpoint written while a far-future event had moved time on (before the
        wire bounds) or while the host's clock ran ahead does not keep today's events out.
        """
        clocks = data.get("clocks")
        if clocks is None:
            watermark = float(data["watermark"])
            clocks = dict.fromkeys(self.policies, watermark) if watermark > 0 else {}
        newest = data.get("newest", {})
        self._clocks = {
            str(c): _Clock(min(float(t), not_after), min(float(newest.get(c, t)), not_after)) for c, t in clocks.items()
        }
        self._contracts = {}
        self._active = {d["incident_id"]: Incident.from_json(d) for d in data["active"]}
        self._keys = {(c, a, r): i for c, a, r, i in data["keys"]}
        self._recent_findings = OrderedDict((k, v) for k, v in data["recent_findings"])
        self._recent_filed = OrderedDict((k, v) for k, v in data["recent_filed"])
        self._known = OrderedDict(data["known"])
        self._floods = {(c, r): i for c, r, i in data.get("floods", [])}
        self._count_per_rule()
        # A snapshot from before content-derived ids has "seq" instead: its ids stay known (old form), and
        # its follow-ups were never waiting. Refusals not yet handed out were in no snapshot: none now.
        minutes = data.get("opened_at", [])
        self._opened_at = {i: int(m) for i, m in zip(self._known, minutes, strict=False) if m is not None}
        self._pending = OrderedDict((p.event_id, p) for p in (decode(_Pending, p) for p in data.get("pending", [])))
        self._deferred = []
        states = data.get("rules", {})
        for rule in self.rules:
            if states.get(rule.rule_id) is not None:
                rule.restore(states[rule.rule_id])
            if not_after != NO_CLOCK:
                rule.rewind(not_after, self.lateness)


def run_all(engine: Engine, events: Iterable[AccessEvent | IncidentEvent]) -> Output:
    """Feed events in order (a convenience for tests and small inputs)."""
    out = Output()
    for ev in events:
        out.extend(engine.on_access(ev) if isinstance(ev, AccessEvent) else engine.on_incident_event(ev))
    return out
