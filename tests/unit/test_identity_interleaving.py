"""Identity is a function of content: however the two input topics interleave, the same incidents (issue #14).

One engine owns one partition number of both ``access-log`` and
``incident-events``; the detector reads them in batches, in whatever order the
broker hands them over, and a worker may restart (or another take over) from a
checkpoint at any batch. These properties take one pair of per-topic sequences
(each topic's own order is kept: that is all Kafka promises) and run them
through :func:`kinkyu.streams.detector.process_batch` under any interleaving,
any split into batches and any restart points (snapshot → JSON → a fresh
engine), against one plain run of the same records; they must agree on:

- every incident's id, contract and content: findings, events, counts, dates
  (the record without its timeline, which also lists the follow-ups);
- the follow-ups attached to each incident, in their topic's order (what the
  playbook runs on);
- the follow-ups refused, and why (a dead letter now or a deferred one later);
- the follow-ups still waiting at the end.

The sequences mix two contracts, strangers and staff, hours of gaps and days
of jumps, redeliveries, filings, follow-ups of detections and of filings
(before and long after their incident), follow-ups naming no incident, and
follow-ups naming another contract's incident, which must be refused as
``contract-mismatch`` whatever the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from builders import CHIBA, KOGANEI, WORKDAY, at, epoch, incident_example, quiet_read, sample_policies
from hostile import examples
from hypothesis import given
from hypothesis import strategies as st

from kinkyu.core.engine import Engine
from kinkyu.core.ids import DETECTION, make_incident_id
from kinkyu.core.model import JST
from kinkyu.core.wire import access_from_obj, incident_from_obj
from kinkyu.streams.codec import DLQ_REASON
from kinkyu.streams.detector import BatchResult, TopicKind, process_batch
from kinkyu.streams.settings import Topics

TOPICS = Topics("order-")
POLICIES = sample_policies()
T0 = epoch(at(WORKDAY, "10:00"))
CONTRACTS = (KOGANEI, CHIBA)
ACTORS = ("u9001", "u9002", "u9003", "u1042")  # strangers, and staff whose reads find nothing
# Minutes from one access event to the next: same minute, minutes, past the correlation hour, a day and more.
STEPS = (0, 1, 4, 20, 61, 200, 1500)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, JST).isoformat()


@dataclass(frozen=True, slots=True)
class _Msg:
    offset: int
    value: bytes
    key: bytes | None = None


@dataclass
class Scenario:
    """One partition's two input sequences, as written to the topics."""

    access: list[bytes]
    filed: list[bytes]
    filed_ids: list[str]  # the event id of each incident-events record, by offset


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Per-topic sequences whose follow-ups name incidents the access log will (or will not) open."""
    access: list[dict[str, Any]] = []
    t = T0
    for n in range(draw(st.integers(1, 24))):
        if access and draw(st.integers(0, 9)) == 0:
            access.append(access[draw(st.integers(0, len(access) - 1))])  # a redelivery
            continue
        t += 60 * draw(st.sampled_from(STEPS))
        jitter = 60 * draw(st.integers(0, 3))  # a little out of order, as logs from several hosts are
        contract, actor = draw(st.sampled_from(CONTRACTS)), draw(st.sampled_from(ACTORS))
        access.append(quiet_read(f"a{n}", _iso(t - jitter), actor=actor, contract_id=contract))
    detections = _detections(access)

    filed: list[dict[str, Any]] = []
    filings: list[tuple[str, str, float]] = []  # (incident id, contract, time) of each filing so far
    for n in range(draw(st.integers(0, 12))):
        if filed and draw(st.integers(0, 9)) == 0:
            filed.append(filed[draw(st.integers(0, len(filed) - 1))])  # a redelivery
            continue
        what = draw(st.sampled_from(["filing", "detection", "detection", "filing-follow-up", "nothing", "other"]))
        contract = draw(st.sampled_from(CONTRACTS))
        # Follow-ups are dated from their incident: after it mostly, a little before, or days before (stale).
        offset = 60 * draw(st.sampled_from([-3000, -30, 0, 5, 90, 600, 2000]))
        obj = incident_example()
        obj.update(event_id=f"f{n}", kind="update", contract_id=contract, discovered_at=None)
        if what == "filing" or (what == "filing-follow-up" and not filings):
            ts = T0 + 60 * draw(st.integers(0, 600))
            obj.update(ts=_iso(ts), occurred_at=_iso(ts - 600), kind=draw(st.sampled_from(["leak", "misdelivery"])))
            obj["incident_id"] = None
            filings.append((_filed_id(obj), contract, ts))
        elif what == "filing-follow-up":
            incident_id, contract, ts = filings[draw(st.integers(0, len(filings) - 1))]
            obj.update(ts=_iso(max(ts, ts + offset)), incident_id=incident_id, contract_id=contract)
        elif what in {"detection", "other"} and detections:
            incident_id, owner, first = detections[draw(st.integers(0, len(detections) - 1))]
            named = owner if what == "detection" else next(c for c in CONTRACTS if c != owner)
            obj.update(ts=_iso(first + offset), incident_id=incident_id, contract_id=named)
        else:  # an id of the right form and contract that no event opens
            ghost = make_incident_id(contract, "20261120", DETECTION, ("never", str(n)), lambda _: False)
            obj.update(ts=_iso(T0 + offset + 60 * draw(st.integers(0, 600))), incident_id=ghost)
        filed.append(obj)
    return Scenario(
        [orjson.dumps(o) for o in access], [orjson.dumps(o) for o in filed], [str(o["event_id"]) for o in filed]
    )


def _detections(access: Sequence[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(id, contract, first event time) of what the access log alone opens: no filing changes a detection."""
    engine = Engine(POLICIES)
    found: list[tuple[str, str, float]] = []
    for obj in access:
        out = engine.on_access(access_from_obj(obj))
        found += [
            (i.incident_id, i.contract_id, i.first_event_ts.timestamp())
            for i in out.incidents
            if i.incident_id in out.opened
        ]
    return found


def _filed_id(obj: dict[str, Any]) -> str:
    [incident_id] = Engine(POLICIES).on_incident_event(incident_from_obj(obj)).opened
    return incident_id


@dataclass
class Seen:
    """What the records of a whole run say, order of arrival aside."""

    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last record, without timeline
    attached: dict[str, list[str]] = field(default_factory=dict)  # id -> follow-up event ids, in order
    refused: set[tuple[str, str]] = field(default_factory=set)  # (follow-up event id, reason)
    waiting: set[str] = field(default_factory=set)

    def take(self, result: BatchResult, kind: TopicKind, scenario: Scenario) -> None:
        for dead in result.dead_letters:
            assert kind == "incident", f"an access event was refused: {dict(dead.record.headers)[DLQ_REASON]!r}"
            self.refused.add((scenario.filed_ids[dead.offset], dead.reason))
        self.refused |= {(r.event_id, r.reason) for r in result.deferred}
        for incident in result.output.incidents:
            record = incident.to_json()
            del record["timeline"]
            self.incidents[incident.incident_id] = record
        for incident_id, entry in result.output.events:
            self.attached.setdefault(incident_id, []).append(entry.data["event_id"])


def _run(scenario: Scenario, schedule: Sequence[tuple[TopicKind, int]], restarts: set[int]) -> Seen:
    """Feed the topics batch by batch as ``schedule`` says, restarting from a checkpoint after the given batches."""
    engine = Engine(POLICIES)
    seen = Seen()
    position = {"access": 0, "incident": 0}
    inputs = {"access": scenario.access, "incident": scenario.filed}
    for index, (kind, size) in enumerate(schedule):
        start = position[kind]
        msgs = [_Msg(start + i, v) for i, v in enumerate(inputs[kind][start : start + size])]
        position[kind] = start + len(msgs)
        if not msgs:
            continue
        result = process_batch(engine, kind, msgs, TOPICS, source=kind, partition=0)
        seen.take(result, kind, scenario)
        if index in restarts:
            checkpoint = orjson.dumps(engine.snapshot())
            engine = Engine(POLICIES)
            engine.restore(orjson.loads(checkpoint))
    assert position == {"access": len(scenario.access), "incident": len(scenario.filed)}
    seen.waiting = {p[0] for p in engine.snapshot()["pending"]}
    return seen


@st.composite
def schedules(draw: st.DrawFn, scenario: Scenario) -> tuple[list[tuple[TopicKind, int]], set[int]]:
    """Any interleaving of the two topics in batches of any size (each topic's own order kept), and restarts."""
    left: dict[TopicKind, int] = {"access": len(scenario.access), "incident": len(scenario.filed)}
    schedule: list[tuple[TopicKind, int]] = []
    while any(left.values()):
        kind = draw(st.sampled_from([k for k, n in left.items() if n]))
        size = draw(st.integers(1, left[kind]))
        schedule.append((kind, size))
        left[kind] -= size
    restarts = set(draw(st.lists(st.integers(0, len(schedule) - 1), max_size=3)))
    return schedule, restarts


def _plainly(scenario: Scenario) -> Seen:
    """The reference: the whole access log in one batch, then every filing, no restart."""
    return _run(scenario, [("access", len(scenario.access)), ("incident", len(scenario.filed))], set())


@given(st.data())
@examples(300)
def test_any_interleaving_batching_and_restart_gives_the_same_incidents_ids_and_members(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    schedule, restarts = data.draw(schedules(scenario))

    reference, this = _plainly(scenario), _run(scenario, schedule, restarts)

    assert this.incidents.keys() == reference.incidents.keys()
    for incident_id, record in reference.incidents.items():
        assert this.incidents[incident_id] == record, incident_id
    assert this.attached == reference.attached
    assert this.refused == reference.refused
    assert this.waiting == reference.waiting


@given(st.data())
@examples(150)
def test_a_follow_up_naming_another_contract_s_incident_is_refused_as_contract_mismatch_in_any_order(
    data: st.DataObject,
) -> None:
    scenario = data.draw(scenarios())
    schedule, restarts = data.draw(schedules(scenario))
    crossing = {
        str(obj["event_id"])
        for obj in map(orjson.loads, scenario.filed)
        if obj["incident_id"] is not None and _owner(scenario, obj["incident_id"]) not in {None, obj["contract_id"]}
    }

    seen = _run(scenario, schedule, restarts)

    assert {event_id for event_id, reason in seen.refused if reason == "contract-mismatch"} == crossing
    for incident_id, event_ids in seen.attached.items():
        assert not crossing & set(event_ids), incident_id


def _owner(scenario: Scenario, incident_id: str) -> str | None:
    """The contract of the incident ``incident_id`` names, as the access log and the filings open it."""
    access = [orjson.loads(v) for v in scenario.access]
    for found, contract, _ in _detections(access):
        if found == incident_id:
            return contract
    for obj in map(orjson.loads, scenario.filed):
        if obj["incident_id"] is None and _filed_id(obj) == incident_id:
            return str(obj["contract_id"])
    return None


def test_the_scenarios_reach_what_the_property_is_about() -> None:
    """A guard on the generator: follow-ups that wait, join, are refused either way and cross contracts."""
    reasons: set[str] = set()
    attached_late = False

    @given(st.data())
    @examples(150)
    def look(data: st.DataObject) -> None:
        nonlocal attached_late
        scenario = data.draw(scenarios())
        first_filed = _run(scenario, [("incident", len(scenario.filed)), ("access", len(scenario.access))], set())
        reasons.update(reason for _, reason in first_filed.refused)
        attached_late = attached_late or any("-D" in incident_id for incident_id in first_filed.attached)

    look()

    assert {"contract-mismatch", "unknown-incident"} <= reasons
    assert attached_late, "some follow-up read before its detection joined it"
