"""``kinkyu run`` sends the bundled sample dated to the last few days, so nothing in it is ahead of the clock.

The sample is recorded on fixed dates; it is moved by whole days (times
of day, weekdays and 祝日 keep their meaning to the rules) to end just
before now, and opens the same incidents there as where it was recorded.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from builders import SAMPLE_EVENTS, sample_policies

from kinkyu.core.incident import Incident
from kinkyu.core.model import JST
from kinkyu.replay import replay
from kinkyu.streams.runner import SAMPLE_MARGIN, _sample_files, dated_sample

FILES = _sample_files(SAMPLE_EVENTS)
# Today (a Thursday night), a Monday morning, the Tuesday after a Monday 祝日 (成人の日 2027-01-11).
NOWS = ["2026-12-03T02:40:00+09:00", "2026-12-07T07:00:00+09:00", "2027-01-12T12:00:00+09:00"]


def _times(lines: list[bytes]) -> list[datetime]:
    out = []
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        out.append(datetime.fromisoformat(obj["ts"]))
    return out


def _what(incident: Incident) -> tuple[object, ...]:
    """An incident as the rules see it (its id carries its date, which moves)."""
    return (incident.contract_id, incident.kind, tuple(incident.rules), incident.actor, incident.finding_count)


@pytest.mark.parametrize("now", NOWS)
def test_the_dated_sample_ends_just_before_now_and_within_the_last_few_days(now: str) -> None:
    clock = datetime.fromisoformat(now)

    dated, _ = dated_sample(FILES, clock, sample_policies())

    last = max(t for _, lines in dated for t in _times(lines))
    assert clock - timedelta(days=8) < last <= clock - SAMPLE_MARGIN


@pytest.mark.parametrize("now", NOWS)
def test_the_dated_sample_opens_the_same_incidents_as_the_recorded_one(now: str, tmp_path: Path) -> None:
    clock = datetime.fromisoformat(now)
    dated, _ = dated_sample(FILES, clock, sample_policies())
    paths = []
    for name, lines in dated:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        paths.append(path)

    recorded = replay(sample_policies(), [path for _, path in FILES], now=clock.timestamp())
    moved = replay(sample_policies(), paths, now=clock.timestamp())

    assert Counter(map(_what, moved.incidents.values())) == Counter(map(_what, recorded.incidents.values()))
    assert moved.stats.reasons == recorded.stats.reasons == {"bad-json": 1}, "only the planted broken line"


def test_every_time_of_a_filing_moves_by_the_same_whole_days_as_the_log() -> None:
    dated, delta = dated_sample(FILES, datetime.fromisoformat(NOWS[0]), sample_policies())
    recorded = [orjson.loads(line) for line in (dict(FILES)["incident-events"]).read_bytes().splitlines()]
    moved = [orjson.loads(line) for line in dict(dated)["incident-events"]]

    assert delta == timedelta(days=delta.days)
    for before, after in zip(recorded, moved, strict=True):
        for field in ("ts", "occurred_at", "discovered_at"):
            if field in before:
                assert datetime.fromisoformat(after[field]) - datetime.fromisoformat(before[field]) == delta
        assert {k: v for k, v in after.items() if k not in {"ts", "occurred_at", "discovered_at"}} == {
            k: v for k, v in before.items() if k not in {"ts", "occurred_at", "discovered_at"}
        }


def test_a_line_that_is_not_json_is_sent_as_it_was_recorded() -> None:
    dated, _ = dated_sample(FILES, datetime.fromisoformat(NOWS[0]), sample_policies())

    broken = [line for line in dict(dated)["access-log"] if b"demo-broken-1" in line]

    assert broken == [line for line in dict(FILES)["access-log"].read_bytes().splitlines() if b"demo-broken-1" in line]


def test_after_the_contracts_end_the_sample_stays_inside_their_term() -> None:
    dated, _ = dated_sample(FILES, datetime(2027, 5, 1, 12, 0, tzinfo=JST), sample_policies())

    last = max(t for _, lines in dated for t in _times(lines))

    assert last < datetime(2027, 4, 1, tzinfo=JST)
