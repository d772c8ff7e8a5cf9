"""Golden output of the playbook runs: the same inputs give byte-for-byte the same effects and state.

Recorded before the playbook package was split (issue #13) so that the split
is shown to change no behaviour: for every jurisdiction and scenario below,
each step's effects and the run's encoded state (``PlaybookRun.to_json()``)
are compared with ``tests/golden/playbook/<scenario>.<jurisdiction>.json``.

A deliberate change of behaviour re-records them::

    KINKYU_RECORD_GOLDEN=1 pytest tests/unit/test_playbook_golden.py

and the commit explains every difference. ``tests/golden/playbook_run_release/``
holds runs as the release before the split persisted them; they are never
re-recorded: state written then must still load and go on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_playbook_run import ENDS, INC, JURISDICTIONS, T0, detection, event, filed, pb

from kinkyu.core.model import JST
from kinkyu.core.playbook import (
    Effect,
    PlaybookRun,
    ProfileSource,
    ResponsePolicy,
    apply,
    baseline_playbook,
    command_id,
    start,
    tick,
)
from kinkyu.reports.sample import Scenario, build_sample

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PLAYBOOK_GOLDEN = GOLDEN / "playbook"
RELEASE = GOLDEN / "playbook_run_release"
RECORD = os.environ.get("KINKYU_RECORD_GOLDEN") == "1"
END_OF_TIME = datetime(9999, 12, 31, 23, 30, tzinfo=JST)

# One step of a scenario: ("apply", record, now) or ("tick", None, now).
Op = tuple[str, dict[str, Any] | None, datetime]


@dataclass(frozen=True, slots=True)
class Script:
    """A scenario: the opening record, the policy, when it opens, and what follows."""

    record: dict[str, Any]
    ops: list[Op]
    policy: ResponsePolicy | None = None
    now: datetime = T0
    baseline: bool = False
    profile: ProfileSource = "loaded"
    ends: date = ENDS

    def begin(self) -> tuple[PlaybookRun, list[Effect]]:
        """Start the run as a stage would."""
        j = self.record["jurisdiction"]
        playbook = baseline_playbook(j) if self.baseline else pb(j)
        policy = self.policy or ResponsePolicy()
        return start(self.record, playbook, policy, self.ends, self.now, profile=self.profile)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _ev(kind: str, data: dict[str, Any], minutes: float, who: str = "sec-07") -> Op:
    return ("apply", event(kind, data, ts=_at(minutes), who=who), _at(minutes))


def _tick(minutes: float) -> Op:
    return ("tick", None, _at(minutes))


def _detected_at_once(j: str) -> Script:
    """A severe rule: reported at once, chased, acknowledged, contained, instructed, assessed, closed."""
    record = detection(j, ["pii-email"], records=4, data_items=["name"])
    disable = command_id(INC, "disable_account", "account", "u1042")
    sessions = command_id(INC, "end_sessions", "account", "u1042")
    day = 24 * 60
    return Script(
        record,
        [
            _tick(29),
            _tick(31),
            _ev("message_sent", {"chain_id": f"{INC}/first_report/first_report/1", "recipient": "city:0"}, 32),
            _ev("acknowledgement", {"step": "first_report"}, 35, who="city-1"),
            _ev("containment_result", {"command_id": sessions, "result": "done"}, 40),
            _ev("containment_result", {"command_id": disable, "result": "failed"}, 41),
            _ev("update", {"command_id": disable, "result": "done"}, 50),
            _ev("update", {"command_id": "no-such-command", "result": "done"}, 51),
            _ev("update", {"command_id": disable, "result": "maybe"}, 52),
            _ev("city_instruction", {"task_id": "submit-log", "title": "submit-access-log", "within": "3h"}, 60),
            _ev("city_instruction", {"title": "free text 山田", "due": "2026-11-21T10:00:00+09:00"}, 61),
            _ev("city_instruction", {"report_request": True}, 62, who="city-1"),
            _tick(5 * 60),
            _ev("update", {"supplied": ["place", "not-an-item"]}, 6 * 60),
            _ev("update", {"distinct_people": 5, "encrypted": False, "datasets": ["residents"]}, 7 * 60),
            _ev("update", {"improper_purpose": True}, 8 * 60),
            _ev("update", {"ppc_override": "reportable", "party": "city", "reason": "key-compromised"}, 9 * 60),
            _ev("update", {"ppc_override": "not_reportable"}, 9 * 60 + 1),
            _ev("update", {"ppc_override": "maybe", "reason": "x"}, 9 * 60 + 2),
            _ev("update", {"ppc_override": "reportable", "party": "nobody", "reason": "x"}, 9 * 60 + 3),
            _ev("update", {"task_id": "submit-log", "done": True}, 10 * 60),
            _ev("update", {"task_id": "no-such-task", "done": True}, 10 * 60 + 1),
            _ev("resolution", {}, 11 * 60),
            _ev("update", {"step": "recovery", "done": True}, 2 * day),
            _ev("update", {"step": "recurrence_prevention", "done": True}, 3 * day),
            _ev("update", {"step": "publication", "done": True}, 3 * day + 1, who="city-1"),
            _ev("update", {"step": "triage", "done": True}, 3 * day + 2),
            _tick(4 * day),
            _ev("resolution", {}, 5 * day),
            _tick(6 * day),
            _ev("resolution", {}, 6 * day + 1),
            _tick(40 * day),
            _tick(70 * day),
        ],
    )


def _triaged_then_confirmed(j: str) -> Script:
    """A rule that waits for triage: the deadline passes, then a person confirms; updates follow."""
    record = detection(j, ["off-hours"], events=("ev-1", "ev-2"))
    updated = detection(j, ["off-hours"], events=("ev-1", "ev-2", "ev-3"), records=12, change="updated")
    updated["source_ips"] = ["10.20.3.4"]
    updated["devices"] = ["pc-17"]
    return Script(
        record,
        [
            _tick(59),
            _tick(60),
            _ev("resolution", {}, 70),
            ("apply", updated, _at(80)),
            _ev("update", {"triage": "confirm", "reason": "unexplained"}, 90),
            _ev("update", {"triage": "confirm"}, 91),
            _ev("update", {"triage": "maybe"}, 92),
            _tick(4 * 60),
            _ev("acknowledgement", {}, 5 * 60, who="city-1"),
            _tick(3 * 24 * 60),
        ],
    )


def _severe_rule_joins(j: str) -> Script:
    """A triaged incident that a severe rule joins: reported at once, with new containment."""
    joined = detection(j, ["off-hours", "pii-email"], events=("ev-1", "ev-9"), change="updated")
    return Script(
        detection(j, ["off-hours"]),
        [("apply", joined, _at(20)), _tick(90), _ev("update", {"triage": "dismiss", "reason": "late"}, 100)],
    )


def _triage_missed_reports(j: str) -> Script:
    """report_when_triage_missed: the missed triage deadline reports as a possible breach."""
    return Script(
        detection(j, ["off-hours"]),
        [_tick(61), _ev("update", {"triage": "dismiss", "reason": "false-positive"}, 120), _tick(3 * 60)],
        policy=ResponsePolicy(report_when_triage_missed=True, progress_interval=timedelta(hours=2)),
    )


def _dismissed(j: str) -> Script:
    """Triage dismisses: the city is not told, the run closes; a later finding reopens it."""
    reopened = detection(j, ["off-hours", "bulk-export"], events=("ev-1", "ev-5"), change="updated")
    return Script(
        detection(j, ["off-hours"]),
        [
            _ev("update", {"triage": "dismiss", "reason": "false-positive"}, 10),
            _ev("update", {"triage": "confirm"}, 11),
            ("apply", reopened, _at(30)),
            _tick(24 * 60),
        ],
    )


def _filed_misdelivery(j: str) -> Script:
    """A filing without a place: items missing, an instruction, supplied, finished and closed."""
    day = 24 * 60
    return Script(
        filed(j, "misdelivery", location=None),
        [
            _tick(31),
            _ev("city_instruction", {"task_id": "i-1", "within": "3h"}, 40),
            _tick(120),
            _ev("update", {"supplied": ["place"]}, 180),
            _tick(300),
            _ev("update", {"task_id": "i-1", "done": True}, 360),
            _ev("update", {"step": "recovery", "done": True}, 360),
            _ev("update", {"step": "recurrence_prevention", "done": True}, day),
            _ev("update", {"step": "written_report", "done": True}, day + 1),
            _ev("resolution", {}, day),
            _ev("city_instruction", {"task_id": "i-2", "owner": "sec-07"}, day + 10),
            _tick(3 * day),
        ],
    )


def _filed_complaint(j: str) -> Script:
    """A complaint: reported at once where a clause says so, else triaged; progress reports; confirmed."""
    return Script(
        filed(j, "complaint", records=None, data_items=()),
        [
            _tick(60),
            _tick(3 * 24 * 60),
            _ev("update", {"triage": "confirm", "reason": "accident"}, 3 * 24 * 60 + 5),
            _tick(10 * 24 * 60),
            _ev("update", {"triage": "dismiss", "reason": "no-breach"}, 10 * 24 * 60 + 5),
        ],
    )


def _filed_leak_discovered_earlier(j: str) -> Script:
    """A leak discovered two hours before it is filed, with an acknowledgement already in its record."""
    record = filed(j, "leak", discovered=T0 - timedelta(hours=2))
    record["timeline"].append(
        {
            "ts": (T0 - timedelta(minutes=5)).isoformat(),
            "who": "city-1",
            "what": "acknowledgement",
            "kind": "acknowledgement",
            "data": {"event_id": "a-1"},
        }
    )
    return Script(record, [_tick(60), _tick(30 * 24 * 60)], policy=ResponsePolicy(auto_contain=["pii-email"]))


def _end_of_time(j: str) -> Script:
    """Times at the end of datetime's range: every computation that cannot be made is recorded."""
    record = detection(j, ["credential-attack", "pii-email"], ts=END_OF_TIME)
    late = END_OF_TIME + timedelta(minutes=10)
    return Script(
        record,
        [
            ("apply", event("city_instruction", {"within": "3d"}, ts=late), late),
            ("apply", event("update", {"step": "first_report", "done": True}, ts=late), late),
            ("tick", None, late),
        ],
        now=END_OF_TIME,
    )


def _baseline_without_profile(j: str) -> Script:
    """No playbook loaded for the city, no profile for the contract, and the contract ended."""
    return Script(
        detection(j, ["bulk-export"], records=700),
        [_ev("acknowledgement", {}, 20, who="city-1"), _tick(2 * 24 * 60)],
        baseline=True,
        profile="missing",
        ends=date(2026, 3, 31),
    )


def _retained_profile(j: str) -> Script:
    """A profile a reload dropped: the run goes on with it as last loaded."""
    return Script(filed(j, "loss"), [_tick(90)], profile="retained")


SCRIPTS: dict[str, Callable[[str], Script]] = {
    "baseline_without_profile": _baseline_without_profile,
    "retained_profile": _retained_profile,
    "detected_at_once": _detected_at_once,
    "triaged_then_confirmed": _triaged_then_confirmed,
    "severe_rule_joins": _severe_rule_joins,
    "triage_missed_reports": _triage_missed_reports,
    "dismissed": _dismissed,
    "filed_misdelivery": _filed_misdelivery,
    "filed_complaint": _filed_complaint,
    "filed_leak_discovered_earlier": _filed_leak_discovered_earlier,
    "end_of_time": _end_of_time,
}


def _effects(effects: list[Effect]) -> list[dict[str, Any]]:
    return [e.to_json() for e in effects]


def play(script: Script) -> list[dict[str, Any]]:
    """Each step of ``script``: what it was, its effects and the run's state after it.

    The first step carries the whole state; each later one the top-level keys
    that changed (the timeline as its length: its entries are the
    ``TimelineAppended`` effects), and the last one the whole state again.
    """
    run, effects = script.begin()
    state = run.to_json()
    steps = [{"op": "start", "now": script.now.isoformat(), "effects": _effects(effects), "state": state}]
    for op, record, now in script.ops:
        out = tick(run, now) if record is None else apply(run, record, now)
        state, before = run.to_json(), state
        steps.append({"op": op, "now": now.isoformat(), "effects": _effects(out), "changed": changed(before, state)})
    steps.append({"op": "end", "state": state})
    return steps


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of ``after`` whose value differs from ``before`` (the timeline by its length)."""
    out = {k: v for k, v in after.items() if k != "timeline" and before.get(k) != v}
    out["timeline"] = len(after["timeline"])
    return out


def encode(steps: list[dict[str, Any]]) -> bytes:
    """The golden files' bytes: JSON Lines, one step a line, in the encoder's own key order."""
    return b"".join(orjson.dumps(step) + b"\n" for step in steps)


def check(path: Path, actual: bytes) -> None:
    """Byte-equality with the recorded file (or record it, with KINKYU_RECORD_GOLDEN=1)."""
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"{path.name} not recorded: run with KINKYU_RECORD_GOLDEN=1"
    expected = path.read_bytes()
    if actual != expected:
        # The first differing line, not megabytes of JSON.
        pairs = zip(expected.decode().splitlines(), actual.decode().splitlines(), strict=False)
        line, (want, got) = next(((n, p) for n, p in enumerate(pairs, 1) if p[0] != p[1]), (0, ("", "")))
        pytest.fail(f"{path.name} differs at line {line}:\n- {want}\n+ {got}")


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("scenario", sorted(SCRIPTS))
def test_a_scenario_gives_its_recorded_effects_and_states(scenario: str, jurisdiction: str) -> None:
    steps = play(SCRIPTS[scenario](jurisdiction))

    check(PLAYBOOK_GOLDEN / f"{scenario}.{jurisdiction}.jsonl", encode(steps))


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("origin", ["filed", "detection"])
def test_the_report_sample_gives_its_recorded_run(origin: str, jurisdiction: str) -> None:
    sample = build_sample(Scenario(jurisdiction, origin=origin))

    check(PLAYBOOK_GOLDEN / f"sample-{origin}.{jurisdiction}.jsonl", encode([sample.run_json]))


@pytest.mark.parametrize("scenario", sorted(SCRIPTS))
def test_a_run_restored_after_any_step_goes_on_as_recorded(scenario: str) -> None:
    script = SCRIPTS[scenario]("koganei")
    lines = (PLAYBOOK_GOLDEN / f"{scenario}.koganei.jsonl").read_bytes().splitlines()
    recorded = [orjson.loads(line) for line in lines]
    original, _ = script.begin()

    for (op, record, now), step in zip(script.ops, recorded[1:], strict=False):
        before = orjson.loads(orjson.dumps(original.to_json()))
        restored = PlaybookRun.from_json(before)
        out = tick(restored, now) if record is None else apply(restored, record, now)
        _ = tick(original, now) if record is None else apply(original, record, now)

        assert (op, _effects(out), changed(before, restored.to_json())) == (
            step["op"],
            step["effects"],
            step["changed"],
        )
    assert original.to_json() == recorded[-1]["state"]


def _release_files() -> list[Path]:
    return sorted(RELEASE.glob("*.json"))


# Keys a run's JSON gained after the release (issue #15), each derived for a run stored without it:
# the event's nature (from its kind and rules), a step's measure and its written report's
# acknowledgement and receipt (none recorded), and whether a person confirmed the PPC facts.
_ADDED_TOP = ("nature",)
_ADDED_STEP = ("measure", "acknowledged_at", "received_at")
_ADDED_PPC = ("confirmed",)


def _as_released(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without the keys added since the release, and without the Rule 8 texts derived anew."""
    out = {k: v for k, v in state.items() if k not in _ADDED_TOP}
    out["steps"] = [{k: v for k, v in s.items() if k not in _ADDED_STEP} for s in state["steps"]]
    # Item 1's words now name the event as the city's clause does: derived, never stored.
    out["ppc"] = {k: v for k, v in state["ppc"].items() if k not in (*_ADDED_PPC, "rule8")}
    # The parties' words are new too: a run stored without them reads 甲 / 乙 (the default).
    out["playbook"] = {k: v for k, v in state["playbook"].items() if k != "parties"}
    after = state["playbook"].get("after_contract_end")
    if isinstance(after, dict):  # its scope (emergency duties, or confidentiality only) is new too
        out["playbook"]["after_contract_end"] = {k: v for k, v in after.items() if k != "scope"}
    return out


@pytest.mark.parametrize("path", _release_files(), ids=lambda p: p.stem)
def test_a_run_persisted_by_the_release_before_the_split_still_loads_unchanged(path: Path) -> None:
    stored = orjson.loads(path.read_bytes())

    again = PlaybookRun.from_json(stored).to_json()

    assert _as_released(again) == _as_released(stored)
    assert again["ppc"]["confirmed"] is True  # the release took every trigger as confirmed: so does the run
    assert all(s["measure"] is None for s in again["steps"])


@pytest.mark.parametrize("path", _release_files(), ids=lambda p: p.stem)
def test_a_run_persisted_by_the_release_before_the_split_goes_on_ticking(path: Path) -> None:
    stored = orjson.loads(path.read_bytes())
    run = PlaybookRun.from_json(stored)
    opened = datetime.fromisoformat(stored["opened_at"])
    # Ninety days on, or as far as datetime reaches for a run opened at the end of time.
    later = opened + timedelta(days=90) if opened.year < END_OF_TIME.year else opened + timedelta(minutes=20)

    effects = tick(run, later)

    assert run.to_json()["timeline"][: len(stored["timeline"])] == stored["timeline"]
    assert [e.to_json() for e in effects] == [e.to_json() for e in tick(PlaybookRun.from_json(stored), later)]


def test_the_release_runs_are_committed() -> None:
    assert len(_release_files()) >= len(JURISDICTIONS)
