"""``kinkyu replay`` over an archived log an attacker wrote: incidents and rejected lines, never an exception.

Replay is the same engine behind a file instead of a topic; one line it
cannot take must be a rejected line with a reason, and the run goes on.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from builders import sample_policies
from hostile import OPEN_BUGS, PLANTED, access_bases, access_wire, any_bytes, deep, emit, examples, incident_wire
from hypothesis import given
from hypothesis import strategies as st

from kinkyu.replay import Rejected, ReplayResult, incident_line, replay

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

POLICIES = sample_policies()


def replay_lines(lines: list[bytes]) -> tuple[ReplayResult, list[Rejected]]:
    rejected: list[Rejected] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.jsonl"
        path.write_bytes(b"".join(bytes(line).replace(b"\n", b" ") + b"\n" for line in lines))
        result = replay(POLICIES, [path], rejected=rejected.append, now=time.time())
    return result, rejected


@examples(40)
@given(st.lists(st.one_of(access_wire(), incident_wire(), any_bytes()), min_size=1, max_size=10))
def test_replay_of_any_lines_gives_incidents_and_rejected_lines(lines: list[bytes]) -> None:
    try:
        result, rejected = replay_lines(lines)
    except Exception as exc:
        if type(exc).__name__ not in OPEN_BUGS:
            raise
        return
    for r in rejected:
        assert r.error.reason
        assert PLANTED not in r.error.detail
    for incident in result.incidents.values():
        incident_line(incident)  # what --json prints


def test_replay_rejects_a_line_of_invalid_utf8_and_one_nested_too_deep_and_finds_the_breach_after_them() -> None:
    stranger = access_bases()[1]
    bad_bytes = emit({**stranger, "event_id": "bad-bytes"}).replace(b'"juki-portal"', b'"\xff"')
    too_deep = emit({**stranger, "event_id": "too-deep", "attrs": {"x": deep(10_000)}})
    breach = emit({**stranger, "event_id": "breach"})
    result, rejected = replay_lines([bad_bytes, too_deep, breach])
    assert [r.line for r in rejected] == [1, 2]
    assert any("breach" in i.event_ids for i in result.incidents.values())
