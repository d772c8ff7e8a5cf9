"""Volume as an attack: every event valid, each one its own incident, all inside one correlation hour.

An attacker who can write the access log needs no malformed byte: reads by
thousands of made-up accounts are each a true ``unregistered-actor``
finding, and the engine keeps every incident open to correlation for an
hour, in the one checkpoint record of its partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from builders import sample_policies
from hostile import access_bases

from kinkyu.core.engine import MAX_OPEN_PER_RULE, Engine
from kinkyu.core.incident import MAX_FINDING_ENTRIES, MAX_FINDING_IDS
from kinkyu.streams.detector import process_batch
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import CHECKPOINT_MAX_BYTES

TOPICS = Topics("flood-")


@dataclass(frozen=True, slots=True)
class Msg:
    key: bytes | None
    value: bytes | None
    offset: int


def flood(n: int) -> list[Msg]:
    """``n`` valid reads, each by a made-up account, in the same few seconds."""
    stranger = access_bases()[1]
    return [
        Msg(None, orjson.dumps({**stranger, "event_id": f"flood-{k}", "actor": {"id": f"x{k:06d}", "org": "acme"}}), k)
        for k in range(n)
    ]


def test_fifteen_thousand_made_up_accounts_in_an_hour_keep_the_checkpoint_within_the_topic_limit() -> None:
    engine = Engine(sample_policies())
    messages = flood(15_000)
    result = process_batch(engine, "access", messages, TOPICS, source="flood", partition=0)
    assert not result.dead_letters
    checkpoint = orjson.dumps({"v": 1, "partition": 0, "offsets": {}, "engine": engine.snapshot()})
    assert len(checkpoint) <= CHECKPOINT_MAX_BYTES


def test_past_the_per_rule_limit_further_accounts_are_one_incident_for_the_city_not_thousands() -> None:
    engine = Engine(sample_policies())
    messages = flood(3_000)

    result = process_batch(engine, "access", messages, TOPICS, source="flood", partition=0)

    assert len(result.output.opened) == MAX_OPEN_PER_RULE + 1
    folded = [i for i in result.output.incidents if i.actor is None]
    assert {i.incident_id for i in folded} == {result.output.opened[-1]}
    many = folded[-1]
    assert many.finding_count == 3_000 - MAX_OPEN_PER_RULE
    assert "accounts_folded" in [e.kind for e in many.timeline]


def test_an_incident_fed_for_hours_keeps_its_record_bounded_while_its_counts_go_on() -> None:
    engine = Engine(sample_policies())
    one_actor = [Msg(None, orjson.dumps({**access_bases()[1], "event_id": f"same-{k}"}), k) for k in range(5_000)]

    result = process_batch(engine, "access", one_actor, TOPICS, source="flood", partition=0)

    [incident_id] = result.output.opened
    [incident] = [i for i in result.output.incidents if i.incident_id == incident_id][-1:]
    assert incident.finding_count == 5_000
    assert len(incident.finding_ids) == MAX_FINDING_IDS
    assert len(incident.timeline) <= MAX_FINDING_ENTRIES + 1
    assert len(orjson.dumps(incident.to_json())) < 200_000


def test_a_restored_engine_folds_the_next_account_into_the_same_incident() -> None:
    engine = Engine(sample_policies())
    messages = flood(MAX_OPEN_PER_RULE + 2)
    first = process_batch(engine, "access", messages[:-1], TOPICS, source="flood", partition=0)
    restored = Engine(sample_policies())
    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))

    second = process_batch(restored, "access", messages[-1:], TOPICS, source="flood", partition=0)

    assert second.output.opened == []
    assert [i.incident_id for i in second.output.incidents] == [first.output.opened[-1]]
