"""The live report archive: the store stays current while reports render, and bursts are coalesced."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from helpers import sample_profiles
from test_playbook_run import INC, T0, begin, detection, event

from kinkyu.core.contract import ContractProfile
from kinkyu.core.playbook import PlaybookRun, apply
from kinkyu.reports.model import ReportFacts
from kinkyu.reports.store import IncidentStore
from kinkyu.streams.report_archive import ReportArchive

OTHER = "INC-20261120-0002"


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


class HeldRender:
    """A render that waits until released, recording what it was asked for."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, store: IncidentStore, incident_id: str, kind: str, lang: str, fmt: str) -> Path:
        self.calls.append((incident_id, kind, fmt))
        self.release.wait(10)
        return store.root / f"{incident_id}.{kind}.{lang}.{fmt}"


class HeldStore(IncidentStore):
    """A store whose first write waits until released, recording every run state written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()
        self.written: list[tuple[str, str]] = []

    def write(
        self,
        incident_json: Mapping[str, Any],
        run_json: Mapping[str, Any] | None,
        profile: ContractProfile,
        *,
        facts: ReportFacts | Mapping[str, Any] | None = None,
    ) -> Path:
        if not self.written:
            self.release.wait(10)
        self.written.append((incident_json["incident_id"], run_json["state"] if run_json else "-"))
        return super().write(incident_json, run_json, profile, facts=facts)


def koganei(incident_id: str = INC) -> tuple[dict[str, Any], PlaybookRun, list[object]]:
    """A Koganei detection confirmed by triage: its first report is written (第19条), so it asks for a render."""
    record = {**detection("koganei", ["unregistered-actor"], incident_id=incident_id, records=3)}
    record["contract_id"] = "koganei-2026-017"  # a contract the archive has a profile for
    run, _ = begin(record)
    effects = apply(run, {**event("update", {"triage": "confirm"}, ts=T0), "incident_id": incident_id}, T0)
    return record, run, list(effects)


def test_an_incident_is_stored_while_another_incidents_report_is_still_rendering(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    render = HeldRender()
    archive = ReportArchive(store, sample_profiles, render=render)
    try:
        archive.keep(*koganei())
        assert eventually(lambda: bool(render.calls))

        record, run, _ = koganei(OTHER)
        archive.keep(record, run, [])

        assert eventually(lambda: store.has(OTHER))
        assert render.calls == [(INC, "first", "md")]
    finally:
        render.release.set()
        archive.close()
    assert [(i, k) for i, k, _ in render.calls] == [(INC, "first"), (INC, "first")]


def test_a_burst_of_changes_to_one_incident_is_written_once_with_its_latest_state(tmp_path: Path) -> None:
    store = HeldStore(tmp_path)
    render = HeldRender()
    render.release.set()
    archive = ReportArchive(store, sample_profiles, render=render)
    record, run, _ = koganei()
    other_record, other_run, _ = koganei(OTHER)
    try:
        archive.keep(other_record, other_run, [])  # holds the write lane
        for state in ("triage", "responding", "closed"):
            run.state = state
            archive.keep(record, run, [])
    finally:
        store.release.set()
        archive.close()

    assert store.written == [(OTHER, other_run.state), (INC, "closed")]
    assert store.read(INC).run is not None
    assert store.read(INC).run.state == "closed"  # type: ignore[union-attr]  # checked on the line above


def test_a_report_asked_for_by_a_change_that_was_coalesced_away_is_still_rendered(tmp_path: Path) -> None:
    store = HeldStore(tmp_path)
    render = HeldRender()
    render.release.set()
    archive = ReportArchive(store, sample_profiles, render=render)
    record, run, effects = koganei()
    other_record, other_run, _ = koganei(OTHER)
    try:
        archive.keep(other_record, other_run, [])  # holds the write lane
        archive.keep(record, run, effects)  # the first report falls due …
        archive.keep(record, run, [])  # … and a later change replaces that state before it is written
    finally:
        store.release.set()
        archive.close()

    assert (INC, "first", "md") in render.calls
    assert (INC, "first", "pdf") in render.calls


def test_a_change_after_the_archive_closed_is_still_written_to_the_store(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    render = HeldRender()
    render.release.set()
    archive = ReportArchive(store, sample_profiles, render=render)
    archive.close()

    record, run, effects = koganei()
    archive.keep(record, run, effects)

    assert store.has(INC)
    assert render.calls == []
