"""``kinkyu replay --max-clock-skew``: replay judges "the future" by its own clock, as a worker does by its.

The tolerance comes from ``--max-clock-skew``, else ``KINKYU_MAX_CLOCK_SKEW``
(the worker's setting), else 300 s, and is at most a day. A line dated past
it is rejected as ``future-timestamp``; with ``--out``, the evidence pass
(which reads the inputs again) judges by the same clock, so a line the replay
refused is never sealed as evidence either.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import SAMPLE_CONTRACTS, STRANGER, quiet_read, write_jsonl

from kinkyu.cli import EXIT_CONFIG, EXIT_MALFORMED, EXIT_OK, EXIT_USAGE, main
from kinkyu.evidence.store import EvidenceStore
from kinkyu.reports.store import IncidentStore

KEY = base64.b64encode(bytes(range(32))).decode()
INTEGRITY_KEY = base64.b64encode(bytes(range(64, 96))).decode()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _ahead(tmp_path: Path, seconds: float) -> Path:
    """A breach now, and the same account's next read ``seconds`` ahead of the clock."""
    now = time.time()
    return write_jsonl(
        tmp_path / "ahead.jsonl",
        [quiet_read("now", _iso(now - 60), actor=STRANGER), quiet_read("ahead", _iso(now + seconds), actor=STRANGER)],
    )


def _replay(*args: str | Path) -> int:
    return main(["replay", "--contract", str(SAMPLE_CONTRACTS), "--no-progress", "--strict", *map(str, args)])


def test_help_says_what_the_flag_judges(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert "--max-clock-skew SECONDS" in text
    assert "future-timestamp" in text
    assert "KINKYU_MAX_CLOCK_SKEW" in text


def test_a_line_past_the_default_skew_of_replays_clock_is_rejected_as_future_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _replay("--input", _ahead(tmp_path, 1800)) == EXIT_MALFORMED

    assert "1 lines rejected (future-timestamp 1)" in capsys.readouterr().err


def test_the_flag_widens_the_tolerance(tmp_path: Path) -> None:
    assert _replay("--input", _ahead(tmp_path, 1800), "--max-clock-skew", "3600") == EXIT_OK


def test_the_flag_narrows_the_tolerance(tmp_path: Path) -> None:
    assert _replay("--input", _ahead(tmp_path, 120), "--max-clock-skew", "60") == EXIT_MALFORMED


def test_the_workers_setting_sets_it_when_the_flag_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINKYU_MAX_CLOCK_SKEW", "3600")

    assert _replay("--input", _ahead(tmp_path, 1800)) == EXIT_OK


def test_the_flag_wins_over_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINKYU_MAX_CLOCK_SKEW", "3600")

    assert _replay("--input", _ahead(tmp_path, 1800), "--max-clock-skew", "300") == EXIT_MALFORMED


@pytest.mark.parametrize("value", ["soon", "-1", "86401", "nan"])
def test_a_flag_that_is_no_tolerance_is_wrong_usage(tmp_path: Path, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        _replay("--input", _ahead(tmp_path, 0), "--max-clock-skew", value)

    assert info.value.code == EXIT_USAGE


@pytest.mark.parametrize("value", ["soon", "86401"])
def test_a_setting_that_is_no_tolerance_exits_3_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("KINKYU_MAX_CLOCK_SKEW", value)

    assert _replay("--input", _ahead(tmp_path, 0)) == EXIT_CONFIG
    assert "KINKYU_MAX_CLOCK_SKEW" in capsys.readouterr().err


def test_a_line_the_replay_refused_as_future_is_not_sealed_as_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINKYU_EVIDENCE_KEY", KEY)
    monkeypatch.setenv("KINKYU_INTEGRITY_KEYS", f'{{"replay": "{INTEGRITY_KEY}"}}')
    out = tmp_path / "store"

    # Within the incident's evidence window (the same account, 30 minutes on), but past the skew.
    assert _replay("--input", _ahead(tmp_path, 1800), "--out", out) == EXIT_MALFORMED

    [incident_id] = IncidentStore(out).list()
    [manifest] = EvidenceStore(out / "evidence").manifests(incident_id)
    assert [item.event_id for item in manifest.items] == ["now"]
