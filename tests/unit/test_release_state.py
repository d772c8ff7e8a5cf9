"""State written by the release before the core's records were declared (d138954) loads and writes back the same.

The files in ``data/release-state`` were written by that release's hand-written
``to_json`` (a detection checkpoint with people told apart and a waiting
follow-up, outbox journal lines, an escalation chain, evidence manifests, a
custody log and an anchor). Each is read by today's declared records and
written again: byte for byte, except where a difference is named.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from builders import sample_policies

from kinkyu.core.engine import Engine
from kinkyu.core.escalation import EscalationState
from kinkyu.core.evidence import CustodyEntry, Manifest, verify_chain
from kinkyu.core.integrity import Keyring, parse_anchor
from kinkyu.core.outbox import OutboxEntry
from kinkyu.core.rules.stateless import UnregisteredActor

RELEASE = Path(__file__).parent / "data" / "release-state"
RING = Keyring({"k1": bytes(range(32))}, "k1")


def _lines(name: str) -> list[bytes]:
    return (RELEASE / name).read_bytes().splitlines()


def test_the_release_s_checkpoint_restores_and_is_written_back_byte_for_byte() -> None:
    stored = (RELEASE / "engine-checkpoint.json").read_bytes()
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])

    engine.restore(orjson.loads(stored))

    assert orjson.dumps(engine.snapshot()) == stored


def test_the_release_s_checkpoint_keeps_its_people_and_its_waiting_follow_up() -> None:
    engine = Engine(sample_policies(), rules=[UnregisteredActor()])
    engine.restore(orjson.loads((RELEASE / "engine-checkpoint.json").read_bytes()))

    snapshot = engine.snapshot()

    assert [i["distinct_people"] for i in snapshot["active"]] == [3, None]
    assert [p[0] for p in snapshot["pending"]] == ["f1"]


def test_the_release_s_outbox_journal_lines_are_read_and_written_back_byte_for_byte() -> None:
    for line in _lines("outbox.jsonl"):
        assert orjson.dumps(OutboxEntry.from_json(orjson.loads(line)).to_json()) == line


def test_the_release_s_escalation_chain_is_read_back_equal_its_timeout_now_in_whole_seconds() -> None:
    stored = orjson.loads((RELEASE / "escalation.json").read_bytes())

    again = EscalationState.from_json(stored).to_json()

    assert again == stored
    assert (orjson.dumps(stored["ack_timeout"]), orjson.dumps(again["ack_timeout"])) == (b"1800.0", b"1800")


def test_the_release_s_manifests_are_read_and_written_back_byte_for_byte_with_the_same_hash() -> None:
    for name in ("manifest.json", "manifest-unkeyed.json"):
        stored = (RELEASE / name).read_bytes()

        manifest = Manifest.from_json(orjson.loads(stored))

        assert orjson.dumps(manifest.to_json()) == stored
    assert Manifest.from_json(orjson.loads((RELEASE / "manifest.json").read_bytes())).check_mac(RING) is not None


def test_the_release_s_custody_log_verifies_and_is_written_back_byte_for_byte() -> None:
    entries = [CustodyEntry.from_json(orjson.loads(line)) for line in _lines("custody.jsonl")]

    report = verify_chain(entries, keyring=RING)

    assert [orjson.dumps(e.to_json()) for e in entries] == _lines("custody.jsonl")
    assert report.ok
    assert report.to_json()["unkeyed_entries"] == 1


def test_the_release_s_anchor_parses_under_its_key_and_is_written_back_byte_for_byte() -> None:
    stored = (RELEASE / "anchor.json").read_bytes()

    anchor = parse_anchor(stored, RING)

    assert anchor is not None
    assert anchor.to_bytes() == stored
