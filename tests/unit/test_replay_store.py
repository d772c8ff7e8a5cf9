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


def _find(store: IncidentStore, **facts: object) -> str:
    """The one stored incident with these facts (ids are content-derived: found by what they are)."""
    [found] = [i for i in store.list() if all(getattr(store.read(i).incident, k) == v for k, v in facts.items())]
    return found


def _stranger_read(replayed: Path) -> str:
    """The sample's read by a stranger (u9900) at Koganei on 2026-11-16."""
    return _find(IncidentStore(replayed), contract_id="koganei-2026-017", actor="u9900", rules=["unregistered-actor"])


def test_replay_out_keeps_every_incident_with_its_playbook_run(replayed: Path) -> None:
    store = IncidentStore(replayed)
    ids = store.list()

    assert len(ids) == 27  # the sample has no post-contract plant: it would be dated after 2027-03-31
    stored = store.read(_stranger_read(replayed))
    assert stored.run is not None
    assert stored.incident.rules == ["unregistered-actor"]


def test_replay_out_seals_evidence_that_verifies_intact(replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    # A replay is offline: there is no anchor to compare with.
    code = main(["evidence", "verify", _stranger_read(replayed), "--store", str(replayed / "evidence"), "--no-anchor"])

    assert code == 0
    assert "INTACT" in capsys.readouterr().out


def test_a_report_renders_from_the_replay_store(replayed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    complaint = _find(IncidentStore(replayed), kind="complaint")
    capsys.readouterr()

    code = main(["report", complaint, "--store", str(replayed), "--format", "md", "--kind", "first"])

    text = capsys.readouterr().out
    assert code == 0
    assert "事故報告書" in text
    assert "調査中" in text
