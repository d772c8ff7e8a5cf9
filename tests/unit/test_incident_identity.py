"""Incident identity is a function of content: ids, follow-ups that come before their incident, old checkpoints.

The order-independence itself is a property (tests/unit/test_hostile_interleaving.py);
these are its single behaviours, one each.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pytest
from builders import CHIBA, KOGANEI, WORKDAY, at, epoch, filed, quiet_read, read_event, sample_policies
from hostile import incident_bases

from kinkyu.core import engine as engine_module
from kinkyu.core.engine import PENDING_WINDOW, Engine, Output
from kinkyu.core.ids import DETECTION, FILED, id_check, make_incident_id, owned_by, parse_incident_id
from kinkyu.core.model import JST
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.wire import incident_from_obj
from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.codec import DLQ_DEFERRED, DLQ_REASON, DLQ_SOURCE
from kinkyu.streams.detector import process_batch
from kinkyu.streams.settings import Topics

# Written by the engine of 986ad27 (ids numbered by arrival): a detection INC-20261120-0001 by u9999
# at 10:00 and a filing INC-20261120-0002 at 10:05, both of Koganei.
OLD_SNAPSHOT = Path(__file__).parent / "data" / "engine-snapshot-seq.json"


def _engine() -> Engine:
    return Engine(sample_policies(), rules=[UnregisteredActor()])


def _opened(out: Output) -> str:
    [incident_id] = out.opened
    return incident_id


def _never_taken(_: str) -> bool:
    return False


# -- the ids themselves ------------------------------------------------------------------------


def test_an_id_is_the_date_the_origin_five_characters_and_two_check_characters() -> None:
    incident_id = make_incident_id(KOGANEI, "20261120", DETECTION, ("rule", "actor", "finding"), _never_taken)

    parsed = parse_incident_id(incident_id)

    assert parsed is not None
    assert (parsed.day, parsed.origin, len(parsed.body), len(parsed.check)) == ("20261120", "D", 5, 2)
    assert incident_id == f"INC-20261120-D{parsed.body}{parsed.check}"


def test_the_same_content_gives_the_same_id_and_other_content_another() -> None:
    def one(*content: str) -> str:
        return make_incident_id(KOGANEI, "20261120", DETECTION, content, _never_taken)

    assert one("a", "b") == one("a", "b")
    assert one("a", "b") != one("a", "c")
    assert one("ab", "") != one("a", "b"), "content parts are separated, not concatenated"


def test_a_taken_id_lengthens_the_body_one_character_at_a_time_the_same_way_every_time() -> None:
    content = ("rule", "actor", "finding")
    first = make_incident_id(KOGANEI, "20261120", FILED, content, _never_taken)

    second = make_incident_id(KOGANEI, "20261120", FILED, content, lambda i: i == first)
    third = make_incident_id(KOGANEI, "20261120", FILED, content, lambda i: i in {first, second})

    bodies = [parse_incident_id(i) for i in (first, second, third)]
    assert [len(b.body) for b in bodies if b is not None] == [5, 6, 7]
    assert second == make_incident_id(KOGANEI, "20261120", FILED, content, lambda i: i == first)


def test_every_length_taken_still_gives_a_free_id() -> None:
    content = ("x",)
    taken: set[str] = set()
    for _ in range(15):
        taken.add(make_incident_id(KOGANEI, "20261120", DETECTION, content, taken.__contains__))

    assert len(taken) == 15


def test_the_check_characters_tell_an_id_of_one_contract_from_another_s() -> None:
    incident_id = make_incident_id(KOGANEI, "20261120", DETECTION, ("x",), _never_taken)
    parsed = parse_incident_id(incident_id)
    assert parsed is not None

    assert owned_by(parsed, KOGANEI)
    assert not owned_by(parsed, CHIBA)
    assert id_check(CHIBA, parsed.day, parsed.origin + parsed.body) != parsed.check


@pytest.mark.parametrize("text", ["INC-20261120-0001", "INC-20261120-DABCD", "INC-2026112-DABCDEFG", "anything"])
def test_old_form_and_malformed_ids_do_not_parse(text: str) -> None:
    assert parse_incident_id(text) is None


def test_one_contract_s_detection_and_filing_never_compete_for_an_id() -> None:
    engine = _engine()

    filing = _opened(engine.on_incident_event(filed("f1", at(WORKDAY, "10:00"))))
    detection = _opened(engine.on_access(read_event("e1", at(WORKDAY, "10:01"))))

    assert filing.startswith("INC-20261120-F")
    assert detection.startswith("INC-20261120-D")


# -- follow-ups and their incident, in either order ---------------------------------------------


def _detection_id() -> str:
    """The id e1 (a stranger's read at 10:00) opens, as any engine names it."""
    return _opened(_engine().on_access(read_event("e1", at(WORKDAY, "10:00"))))


def test_a_follow_up_read_before_its_detection_waits_and_joins_it_when_it_opens() -> None:
    engine = _engine()
    incident_id = _detection_id()
    ack = filed("f1", at(WORKDAY, "10:10"), kind="city_instruction", incident_id=incident_id)

    waiting = engine.on_incident_event(ack)
    opened = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    assert not waiting
    assert opened.opened == [incident_id]
    assert [(target, entry.data["event_id"]) for target, entry in opened.events] == [(incident_id, "f1")]
    [incident] = opened.incidents
    assert [e.kind for e in incident.timeline][-1] == "city_instruction", "after the findings, as when read later"


def test_a_follow_up_waiting_past_the_window_of_its_contract_s_time_is_refused_as_unknown_incident() -> None:
    engine = _engine()
    incident_id = _detection_id()
    engine.on_incident_event(filed("f1", at(WORKDAY, "10:10"), kind="update", incident_id=incident_id), ref=41)

    out = engine.advance(epoch(at(WORKDAY, "10:10")) + PENDING_WINDOW + 60)

    [refusal] = out.refused
    assert (refusal.event_id, refusal.incident_id, refusal.reason, refusal.ref) == (
        "f1",
        incident_id,
        "unknown-incident",
        41,
    )
    assert incident_id not in refusal.detail


def test_a_follow_up_dated_a_window_before_its_detection_opened_is_refused_read_before_or_after() -> None:
    incident_id = _detection_id()
    stale = filed("f1", at("2026-11-18", "10:00"), kind="update", incident_id=incident_id)
    before, after = _engine(), _engine()

    before.on_incident_event(stale)
    refused = before.on_access(read_event("e1", at(WORKDAY, "10:00"))).refused
    after.on_access(read_event("e1", at(WORKDAY, "10:00")))
    with pytest.raises(MalformedEventError) as info:
        after.on_incident_event(stale)

    assert [r.reason for r in refused] == [info.value.reason] == ["unknown-incident"]


def test_a_follow_up_naming_another_contract_s_incident_is_refused_before_that_incident_is_known() -> None:
    incident_id = _detection_id()  # Koganei's
    engine = _engine()  # has seen nothing, as the engine of another partition

    with pytest.raises(MalformedEventError) as info:
        engine.on_incident_event(filed("f1", at(WORKDAY, "10:10"), incident_id=incident_id, contract_id=CHIBA))

    assert info.value.reason == "contract-mismatch"
    assert incident_id not in info.value.detail


def test_a_follow_up_naming_a_filing_not_known_is_refused_at_once() -> None:
    # A filing and its follow-ups share a topic and a partition: the filing is read first or never.
    unknown = make_incident_id(KOGANEI, "20261120", FILED, ("misdelivery", "f0"), _never_taken)

    with pytest.raises(MalformedEventError) as info:
        _engine().on_incident_event(filed("f1", at(WORKDAY, "10:10"), kind="update", incident_id=unknown))

    assert info.value.reason == "unknown-incident"


def test_a_redelivered_waiting_follow_up_changes_nothing() -> None:
    engine = _engine()
    ack = filed("f1", at(WORKDAY, "10:10"), kind="update", incident_id=_detection_id())
    engine.on_incident_event(ack)

    again = engine.on_incident_event(ack)
    opened = engine.on_access(read_event("e1", at(WORKDAY, "10:00")))

    assert not again
    assert [entry.data["event_id"] for _, entry in opened.events] == ["f1"]


def test_a_waiting_follow_up_survives_a_checkpoint() -> None:
    engine = _engine()
    incident_id = _detection_id()
    engine.on_incident_event(filed("f1", at(WORKDAY, "10:10"), kind="update", incident_id=incident_id))
    restored = _engine()

    restored.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    opened = restored.on_access(read_event("e1", at(WORKDAY, "10:00")))

    assert [(target, entry.data["event_id"]) for target, entry in opened.events] == [(incident_id, "f1")]


def test_past_the_limit_the_oldest_waiting_follow_up_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PENDING_LIMIT", 2)
    engine = _engine()
    ids = [make_incident_id(KOGANEI, "20261120", DETECTION, (str(n),), _never_taken) for n in range(3)]
    outs = [
        engine.on_incident_event(filed(f"f{n}", at(WORKDAY, "10:10"), kind="update", incident_id=i))
        for n, i in enumerate(ids)
    ]

    assert [r.event_id for out in outs for r in out.refused] == ["f0"]


def test_a_refusal_after_waiting_is_a_dead_letter_that_points_at_the_follow_up_s_record() -> None:
    topics = Topics("t-")
    engine = _engine()
    engine.on_incident_event(filed("f1", at(WORKDAY, "10:10"), kind="update", incident_id=_detection_id()), ref=7)
    # Registered staff's read a day later: it moves the contract's clock past the window and finds nothing.
    past = datetime.fromtimestamp(epoch(at(WORKDAY, "10:10")) + PENDING_WINDOW + 60, JST).isoformat()
    message = _Msg(3, orjson.dumps(quiet_read("e10", past, actor="u1042")))

    result = process_batch(engine, "access", [message], topics, source="t-access-log", partition=2)

    assert result.dead_letters == []
    [refusal] = result.deferred
    assert refusal.event_id == "f1"
    [record] = [r for r in result.records if r.topic == topics.dead_letters]
    headers = dict(record.headers)
    assert headers[DLQ_SOURCE] == b"t-incident-events/2/7"
    assert headers[DLQ_REASON] == b"unknown-incident"
    assert headers[DLQ_DEFERRED] == b"1"
    assert orjson.loads(record.value)["event_id"] == "f1"


class _Msg:
    """A consumed message as process_batch reads it."""

    def __init__(self, offset: int, value: bytes) -> None:
        self.offset = offset
        self.value = value
        self.key = None


# -- checkpoints from before content-derived ids -------------------------------------------------


def _old_engine() -> Engine:
    engine = _engine()
    engine.restore(orjson.loads(OLD_SNAPSHOT.read_bytes()))
    return engine


def test_an_old_checkpoint_restores_and_its_open_detection_goes_on_under_its_old_id() -> None:
    engine = _old_engine()

    out = engine.on_access(read_event("e2", at(WORKDAY, "10:20")))

    assert out.opened == []
    assert [i.incident_id for i in out.incidents] == ["INC-20261120-0001"]
    assert out.incidents[0].finding_count == 2


def test_an_old_checkpoint_s_incidents_still_take_follow_ups() -> None:
    engine = _old_engine()

    out = engine.on_incident_event(filed("f2", at(WORKDAY, "10:30"), kind="update", incident_id="INC-20261120-0002"))

    assert [target for target, _ in out.events] == ["INC-20261120-0002"]


def test_after_an_old_checkpoint_new_incidents_get_content_ids() -> None:
    engine = _old_engine()

    out = engine.on_access(read_event("e3", at(WORKDAY, "10:40"), actor="u9002"))

    assert _opened(out).startswith("INC-20261120-D")
    assert "seq" not in engine.snapshot()


def test_the_hostile_bases_follow_ups_name_the_incident_their_filing_opens() -> None:
    # The property tests start their follow-ups from these: they must reach the incident, not a dead letter.
    filing, update, ack = incident_bases()
    engine = _engine()
    [incident_id] = engine.on_incident_event(incident_from_obj(filing)).opened

    assert update["incident_id"] == ack["incident_id"] == incident_id
    assert [target for target, _ in engine.on_incident_event(incident_from_obj(update)).events] == [incident_id]
