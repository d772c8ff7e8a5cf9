"""``kinkyu replay --out DIR``: what a reviewer replays can be reported on and its evidence verified."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kinkyu.cli import main
from kinkyu.reports.store import IncidentStore

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
KEY = base64.b64encode(bytes(range(32))).decode()
INTEGRITY_KEY = base64.b64encode(bytes(range(64, 96))).decode()


@pytest.fixture
def replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("KINKYU_EVIDENCE_KEY", KEY)
    monkeypatch.setenv("KINKYU_INTEGRITY_KEYS", f'{{"replay": "{INTEGRITY_KEY}"}}')
    out = tmp_path / "store"
    code = main(
        [
            "replay",
            "--contract",
            str(SAMPLES / "contracts"),
            "--input",
            str(SAMPLES / "events" / "access-log.jsonl"),
            "--input",
            str(SAMPLES / "events" / "incident-events.jsonl"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    return out


def test_replay_out_keeps_every_incident_with_its_playbook_run(replayed: Path) -> None:
    store = IncidentStore(replayed)
    ids = store.list()

    assert len(ids) == 27  # the sample has no post-contract plant: it would be dated after 2027-03-31
    stored = store.read("INC-20261116-0003")
    assert stored.run is not None
    assert stored.incident.rules == ["unregistered-actor"]


def test_replay_out_seals_evidence_that_verifies_intact(replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    # A replay is offline: there is no anchor to compare with.
    code = main(["evidence", "verify", "INC-20261116-0003", "--store", str(replayed / "evidence"), "--no-anchor"])

    assert code == 0
    assert "INTACT" in capsys.readouterr().out


def test_a_report_renders_from_the_replay_store(replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    code = main(["report", "INC-20261117-0011", "--store", str(replayed), "--format", "md", "--kind", "first"])

    text = capsys.readouterr().out
    assert code == 0
    assert "事故報告書" in text
    assert "調査中" in text
