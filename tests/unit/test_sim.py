from __future__ import annotations

import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from helpers import SAMPLE_FILES, at, sample_profiles

from kinkyu.contracts import load_profile
from kinkyu.core.engine import Engine
from kinkyu.core.rules import RULE_IDS
from kinkyu.core.wire import decode_access
from kinkyu.sim import Planted, generate, to_jsonl_bytes

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kinkyu.core.contract import ContractProfile
    from kinkyu.core.model import Finding

START = at("2026-11-20 00:00")  # a Friday; the period holds a weekend and 勤労感謝の日 (11/23)
TICK = 30.0  # seconds of event time between timer ticks


def run(profiles: Mapping[str, ContractProfile], stream: Iterable[dict[str, Any]]) -> list[Finding]:
    """Replay ``stream`` through an engine as a worker would: in order, with timer ticks."""
    engine = Engine({cid: p.compile() for cid, p in profiles.items()})
    findings: list[Finding] = []
    ticked = float("-inf")
    t = 0.0
    for raw in stream:
        ev = decode_access(to_jsonl_bytes(raw))
        t = ev.t
        if t - ticked >= TICK:
            findings.extend(engine.advance(t).findings)
            ticked = t
        findings.extend(engine.on_access(ev).findings)
    findings.extend(engine.advance(t).findings)
    return findings


def unexplained(findings: list[Finding], planted: list[Planted]) -> list[Finding]:
    """Findings whose events are not all from one plant of their contract."""
    owner = {(p.contract_id, e): p for p in planted for e in p.event_ids}
    return [
        f
        for f in findings
        if len({owner.get((f.contract_id, e)) for e in f.event_ids} - {None}) != 1
        or any((f.contract_id, e) not in owner for e in f.event_ids)
    ]


def missed(findings: list[Finding], planted: list[Planted]) -> list[Planted]:
    """Plants whose events the findings of their rule do not cover."""
    out = []
    for p in planted:
        mine = [
            f
            for f in findings
            if f.rule == p.rule and f.contract_id == p.contract_id and set(f.event_ids) <= set(p.event_ids)
        ]
        covered = set().union(*(f.event_ids for f in mine))
        if covered != set(p.event_ids) or any(f.actor != p.actor for f in mine):
            out.append(p)
    return out


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_planted_breach_is_found_and_benign_traffic_opens_nothing(path: Any) -> None:
    profile = load_profile(path)
    profiles = {profile.contract_id: profile}
    stream, planted = generate(profiles, events=30_000, seed=11, start=START)
    findings = run(profiles, stream)
    assert sorted(p.rule for p in planted) == sorted(RULE_IDS)
    assert missed(findings, planted) == []
    assert unexplained(findings, planted) == []


def test_benign_traffic_alone_gives_no_findings() -> None:
    profiles = sample_profiles()
    stream, planted = generate(profiles, events=60_000, seed=5, start=START, plant=False)
    assert planted == []
    assert run(profiles, stream) == []


def test_plants_of_several_contracts_in_one_stream_are_all_found() -> None:
    profiles = sample_profiles()
    stream, planted = generate(profiles, events=60_000, seed=3, start=START)
    findings = run(profiles, stream)
    assert Counter(p.rule for p in planted) == dict.fromkeys(RULE_IDS, len(profiles))
    assert missed(findings, planted) == []
    assert unexplained(findings, planted) == []


def test_the_stream_has_exactly_the_requested_number_of_events_in_time_order() -> None:
    stream, _ = generate(sample_profiles(), events=5_000, seed=1, start=START, plant=False)
    events = list(stream)
    assert len(events) == 5_000
    times = [decode_access(to_jsonl_bytes(e)).t for e in events]
    assert times == sorted(times)
    assert len({e["event_id"] for e in events}) == 5_000
    assert all(e["ts"].endswith("+09:00") for e in events)


def test_the_same_seed_gives_the_same_events_and_another_seed_other_events() -> None:
    profiles = sample_profiles()

    def first(seed: int) -> tuple[list[bytes], list[Planted]]:
        stream, planted = generate(profiles, events=100_000, seed=seed, start=START)
        return [to_jsonl_bytes(e) for e in itertools.islice(stream, 2_000)], planted

    assert first(1) == first(1)
    assert first(1)[0] != first(2)[0]


def test_a_million_events_are_generated_lazily() -> None:
    stream, planted = generate(sample_profiles(), events=1_000_000, seed=1, start=START)
    head = list(itertools.islice(stream, 10))
    assert len(head) == 10
    assert len(planted) == 13 * 6


def test_to_jsonl_bytes_writes_one_line_of_json() -> None:
    stream, _ = generate(sample_profiles(), events=1, seed=1, start=START, plant=False)
    line = to_jsonl_bytes(next(stream))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1


def test_a_start_after_a_contract_ended_is_refused() -> None:
    with pytest.raises(ValueError, match="ended before start"):
        generate(sample_profiles(), events=10, seed=1, start=at("2027-06-01 00:00"))
