"""The evidence collector's kept window: many seals served from one pass, and what it can no longer serve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import TopicPartition

from kinkyu.core.playbook import SealEvidence
from kinkyu.streams.evidence_collector import _decode, _Scope, _Window
from kinkyu.streams.sealer import SealOutcome

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
TP = TopicPartition("access-log", 0)


def event(n: int, *, contract: str = "c1", actor: str = "u1", system: str = "s1", minutes: int = 0) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e{n}",
            "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
            "contract_id": contract,
            "actor": {"id": actor},
            "system": system,
        }
    )


def seal(incident: str, *, contract: str = "c1", actor: str = "u1", triggers: tuple[str, ...] = ()) -> SealEvidence:
    return SealEvidence(
        effect_id=f"fx-{incident}",
        incident_id=incident,
        contract_id=contract,
        since=T0 - timedelta(minutes=10),
        until=T0 + timedelta(minutes=10),
        window_before=timedelta(hours=1),
        window_after=timedelta(hours=1),
        event_ids=triggers,
        actor=actor,
        system=None,
    )


def window(values: list[bytes]) -> _Window:
    w = _Window(floor=T0 - timedelta(hours=2), first_offset=0, next_offset=0)
    for offset, value in enumerate(values):
        ev = _decode(value)
        assert ev is not None
        w.add(offset, ev, value)
        w.next_offset = offset + 1
    return w


def test_one_window_serves_each_seal_its_own_contracts_actors_events_and_its_triggers() -> None:
    w = window(
        [
            event(1, actor="u1"),
            event(2, actor="u2"),
            event(3, actor="u1", contract="c2"),
            event(4, actor="u2", contract="c2"),
            event(5, actor="u1", minutes=30),  # after the window
        ]
    )
    scope = _Scope([seal("INC-A", actor="u1", triggers=("e5",)), seal("INC-B", contract="c2", actor="u2")], 100)

    scope.take_window(w, TP)

    assert [i.event_id for i in scope.found[0].items] == ["e1", "e5"]
    assert [i.event_id for i in scope.found[1].items] == ["e4"]
    assert not scope.missing_triggers()


def test_a_trimmed_window_no_longer_covers_the_times_it_dropped() -> None:
    w = window([event(n, minutes=n) for n in range(10)])

    w.trim(4)

    assert [offset for offset, _, _ in w.events] == [6, 7, 8, 9]
    assert w.covers(T0 + timedelta(minutes=6))
    assert not w.covers(T0 + timedelta(minutes=5))
    assert w.by_contract["c1"] == w.events


def test_a_seal_outcome_survives_its_trip_through_playbook_ticks() -> None:
    failed = SealOutcome("fx-1", "initial", T0, None)

    assert SealOutcome.from_json(orjson.loads(orjson.dumps(failed.to_json()))) == failed
