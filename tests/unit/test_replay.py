"""Replay: archived JSON lines in event-time order through one engine; bad lines reported by number and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import (
    KOGANEI,
    WORKDAY,
    at,
    incident_example,
    quiet_read,
    read_event,
    sample_policies,
    with_value,
    without,
    write_jsonl,
)

from kinkyu.core import engine as engine_module
from kinkyu.core.engine import Engine
from kinkyu.core.ids import DETECTION, make_incident_id
from kinkyu.core.model import AccessEvent, IncidentEvent
from kinkyu.core.rules import Rule
from kinkyu.core.rules.stateless import UnregisteredActor
from kinkyu.core.wire import incident_from_obj
from kinkyu.replay import Located, Rejected, ReplayResult, ReplayStats, in_event_time_order, incident_line, replay


@pytest.fixture(autouse=True)
def only_unregistered_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays here run only ``unregistered-actor``, so each stranger's read is one incident."""

    def rules() -> list[Rule]:
        return [UnregisteredActor()]

    monkeypatch.setattr(engine_module, "make_rules", rules)


def _run(*paths: Path, lateness: float = 300.0) -> tuple[ReplayResult, list[Rejected]]:
    rejected: list[Rejected] = []
    result = replay(sample_policies(), list(paths), lateness=lateness, rejected=rejected.append)
    return result, rejected


def _actors_in_opening_order(result: ReplayResult) -> list[str | None]:
    # Ids are content-derived and say nothing of order; the result keeps incidents in the order they opened.
    return [incident.actor for incident in result.incidents.values()]


def _read(actor: str, clock: str, event_id: str | None = None) -> dict[str, Any]:
    return quiet_read(event_id or f"{actor}-{clock}", at(WORKDAY, clock), actor=actor)


# -- event-time order -------------------------------------------------------------------------


def _located(events: list[AccessEvent | IncidentEvent]) -> list[Located]:
    """Events as read_events yields them: (event time, line, file, event)."""
    return [
        (ev.t if isinstance(ev, AccessEvent) else ev.ts.timestamp(), line, "f.jsonl", ev)
        for line, ev in enumerate(events, start=1)
    ]


def test_out_of_order_lines_within_the_lateness_are_processed_in_event_time_order(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [_read("u9002", "10:02"), _read("u9001", "10:00"), _read("u9003", "10:01")],
    )

    result, rejected = _run(path)

    assert rejected == []
    assert _actors_in_opening_order(result) == ["u9001", "u9003", "u9002"]
    assert result.stats.late == 0


def test_line_later_than_the_lateness_is_still_processed_and_counted_as_late(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [_read("u9001", "10:00"), _read("u9002", "10:02"), _read("u9004", "10:10"), _read("u9003", "10:01")],
    )

    result, _ = _run(path, lateness=60.0)

    assert result.stats.late == 1
    # 10:01 arrived after 10:02 had been processed: it is handled at once, out of order.
    assert _actors_in_opening_order(result) == ["u9001", "u9002", "u9003", "u9004"]


def test_two_files_are_merged_by_event_time(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [_read("u9001", "10:00"), _read("u9003", "10:02")])
    second = write_jsonl(tmp_path / "b.jsonl", [_read("u9002", "10:01")])

    result, _ = _run(first, second)

    assert _actors_in_opening_order(result) == ["u9001", "u9002", "u9003"]


def test_each_file_is_reordered_on_its_own_before_the_merge(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [_read("u9003", "10:03"), _read("u9001", "10:00")])
    second = write_jsonl(tmp_path / "b.jsonl", [_read("u9004", "10:04"), _read("u9002", "10:01")])

    result, _ = _run(first, second)

    assert _actors_in_opening_order(result) == ["u9001", "u9002", "u9003", "u9004"]


def test_reorder_buffer_releases_events_in_time_order() -> None:
    stats = ReplayStats()
    events: list[AccessEvent | IncidentEvent] = [
        read_event("b", at(WORKDAY, "10:02")),
        read_event("a", at(WORKDAY, "10:00")),
        read_event("d", at(WORKDAY, "10:10")),
        read_event(
            "c", at(WORKDAY, "10:03")
        ),  # behind the newest by more than the lateness, but nothing later left yet
    ]

    assert [loc[3].event_id for loc in in_event_time_order(_located(events), 300.0, stats)] == ["a", "b", "c", "d"]
    assert stats.late == 0


def test_straggler_behind_an_event_already_released_is_yielded_at_once_and_counted_late() -> None:
    stats = ReplayStats()
    events: list[AccessEvent | IncidentEvent] = [
        read_event("a", at(WORKDAY, "10:00")),
        read_event("c", at(WORKDAY, "10:02")),
        read_event("d", at(WORKDAY, "10:10")),  # releases a and c
        read_event("b", at(WORKDAY, "10:01")),  # too late to go before c
    ]

    assert [loc[3].event_id for loc in in_event_time_order(_located(events), 300.0, stats)] == ["a", "c", "b", "d"]
    assert stats.late == 1


def test_reorder_buffer_with_room_for_everything_sorts_completely() -> None:
    stats = ReplayStats()
    events: list[AccessEvent | IncidentEvent] = [
        read_event("c", at(WORKDAY, "10:03")),
        read_event("a", at(WORKDAY, "10:00")),
        read_event("b", at(WORKDAY, "10:01")),
    ]

    assert [loc[3].event_id for loc in in_event_time_order(_located(events), 3600.0, stats)] == ["a", "b", "c"]
    assert stats.late == 0


# -- bad lines ------------------------------------------------------------------------------------


def test_bad_lines_are_reported_by_line_number_and_reason_counted_and_the_run_goes_on(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            _read("u9001", "10:00"),  # 1
            b"{not json",  # 2
            b"",  # 3: blank lines are skipped silently
            without(_read("u9002", "10:01"), "actor"),  # 4
            b"[1, 2, 3]",  # 5
            {"event_id": "x", "ts": at(WORKDAY, "10:02")},  # 6: neither access nor incident event
            _read("u9003", "10:03"),  # 7
        ],
    )

    result, rejected = _run(path)

    assert [(r.source, r.line, r.error.reason) for r in rejected] == [
        (str(path), 2, "bad-json"),
        (str(path), 4, "invalid"),
        (str(path), 5, "bad-json"),
        (str(path), 6, "invalid"),
    ]
    assert "actor" in rejected[1].error.detail
    assert result.stats.malformed == 4
    assert result.stats.reasons == {"bad-json": 2, "invalid": 2}
    assert result.stats.lines == 7
    assert result.stats.events == 2
    assert _actors_in_opening_order(result) == ["u9001", "u9003"]


def test_rejected_line_keeps_its_original_bytes(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [b'{"action": "read", "x": "\xe5\xb1\xb1"}'])

    _, rejected = _run(path)

    [r] = rejected
    assert r.raw.rstrip(b"\n") == b'{"action": "read", "x": "\xe5\xb1\xb1"}'


def test_line_of_an_unknown_contract_is_rejected_at_read_time_with_its_line_number(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            _read("u9001", "10:00"),
            quiet_read("e2", at(WORKDAY, "10:01"), contract_id="osaka-2026-001"),
            _read("u9003", "10:02"),
        ],
    )

    result, rejected = _run(path)

    assert [(r.line, r.error.reason) for r in rejected] == [(2, "unknown-contract")]
    assert result.stats.events == 2
    assert len(result.incidents) == 2


def test_filed_event_lines_open_incidents_and_their_follow_ups_join_the_timeline(tmp_path: Path) -> None:
    opening = with_value(with_value(incident_example(), "ts", at(WORKDAY, "10:00")), "discovered_at", None)
    # The id is the filing's content's: any engine gives it.
    [incident_id] = Engine(sample_policies()).on_incident_event(incident_from_obj(opening)).opened
    follow_up = {
        **incident_example(),
        "event_id": "ack-1",
        "ts": at(WORKDAY, "10:30"),
        "kind": "acknowledgement",
        "incident_id": incident_id,
    }
    path = write_jsonl(tmp_path / "filed.jsonl", [opening, follow_up])

    result, rejected = _run(path)

    assert rejected == []
    [incident] = result.incidents.values()
    assert incident.incident_id == incident_id
    assert incident.origin == "filed"
    assert [e.kind for e in incident.timeline] == ["filed", "acknowledgement"]


def test_replay_line_of_an_incident_carries_the_ids_rules_and_counts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [_read("u9001", "10:00"), _read("u9001", "10:05")])

    result, _ = _run(path)

    [incident] = result.incidents.values()
    line = incident_line(incident)
    assert line.startswith(
        b'{"incident_id":"' + incident.incident_id.encode() + b'","contract_id":"' + KOGANEI.encode()
    )
    assert b'"finding_count":2' in line
    assert b"\n" not in line


def test_progress_is_reported_every_so_many_events(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [_read(f"u90{n:02d}", f"10:{n:02d}") for n in range(10)])
    seen: list[int] = []

    replay(sample_policies(), [path], progress=lambda s: seen.append(s.events), progress_every=4)

    assert seen == [4, 8]


def test_line_whose_action_is_not_a_string_is_rejected_not_fatal(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [with_value(_read("u9001", "10:00"), "action", ["read"])])

    _, rejected = _run(path)

    assert [(r.line, r.error.reason) for r in rejected] == [(1, "invalid")]


def test_follow_up_of_an_unknown_incident_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    stray = {**incident_example(), "kind": "update", "incident_id": "INC-20261120-0042", "ts": at(WORKDAY, "10:00")}
    path = write_jsonl(tmp_path / "a.jsonl", [_read("u9001", "09:59"), stray])

    result, rejected = _run(path)

    assert result.stats.malformed == 1
    assert [(r.source, r.line, r.error.reason) for r in rejected] == [(str(path), 2, "unknown-incident")]


def test_follow_up_of_an_unknown_incident_is_counted_as_rejected_and_the_run_goes_on(tmp_path: Path) -> None:
    stray = {**incident_example(), "kind": "update", "incident_id": "INC-20261120-0042", "ts": at(WORKDAY, "10:00")}
    path = write_jsonl(tmp_path / "a.jsonl", [stray, _read("u9001", "10:01")])

    result, rejected = _run(path)

    assert [r.error.reason for r in rejected] == ["unknown-incident"]
    assert result.stats.reasons == {"unknown-incident": 1}
    assert len(result.incidents) == 1


def test_follow_up_still_waiting_for_its_detection_at_the_end_is_reported_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    never_opened = make_incident_id(KOGANEI, "20261120", DETECTION, ("no such finding",), lambda _: False)
    waiting = {**incident_example(), "kind": "update", "incident_id": never_opened, "ts": at(WORKDAY, "10:00")}
    path = write_jsonl(tmp_path / "a.jsonl", [_read("u9001", "09:59"), waiting, _read("u9002", "10:01")])

    result, rejected = _run(path)

    assert [(r.source, r.line, r.error.reason) for r in rejected] == [(str(path), 2, "unknown-incident")]
    assert result.stats.reasons == {"unknown-incident": 1}
