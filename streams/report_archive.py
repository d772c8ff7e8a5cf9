"""The live stage's report archive: every incident kept where ``kinkyu report --store`` reads it.

After each change the playbook stage hands the incident's state here. The
record and run are written to the incident store; when the playbook's
written-report step falls due the first report is rendered and stored, and
at closure the final one (Japanese, as the city files it; Markdown and PDF).
Rendering is blocking work (a PDF takes about a second), so it runs on one
worker thread of its own, off the event loop; one thread also because the
PDF renderer's warning filter is process-wide.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kinkyu.core.contract import ContractProfile
from kinkyu.core.playbook import Notify, PlaybookRun
from kinkyu.exceptions import KinkyuError
from kinkyu.reports.cli import render_and_store
from kinkyu.reports.store import IncidentStore

log = logging.getLogger("kinkyu.reports.live")

# Written reports the city files: Markdown always, PDF when the renderer and fonts are installed.
FORMATS = ("md", "pdf")


class ReportArchive:
    """Keeps incidents and their written reports in an :class:`IncidentStore`."""

    def __init__(self, store: IncidentStore, profiles: Callable[[], Mapping[str, ContractProfile]]) -> None:
        self.store = store
        self.profiles = profiles
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinkyu-reports")
        self._rendered: set[tuple[str, str]] = set()

    def keep(self, incident: Mapping[str, Any], run: PlaybookRun, effects: Iterable[object]) -> None:
        """Queue storing the incident's state (and the first report when due, the final one at closure).

        Returns at once: the playbook agent must not wait for disk and PDF work (a render takes about a
        second, and first reports of other incidents would queue behind it). One worker thread keeps
        each incident's writes in order.
        """
        profile = self.profiles().get(run.contract_id)
        if profile is None:
            return
        # The stage keeps the incident's facts without free text or the detector's timeline.
        record = {"summary": None, "timeline": [], **incident}
        kinds = []
        # Some clauses make the first report itself the written one (Koganei 第19条: 直ちに, in writing).
        if any(isinstance(e, Notify) and (e.kind == "written_report" or e.written) for e in effects):
            kinds.append("first")
        if run.state == "closed":
            kinds.append("final")
        # The run goes on changing in the agent: hand the thread a snapshot.
        self._pool.submit(self._write, record, run.incident_id, run.to_json(), profile, kinds)

    def _write(
        self,
        record: dict[str, Any],
        incident_id: str,
        run_json: dict[str, Any],
        profile: ContractProfile,
        kinds: list[str],
    ) -> None:
        try:
            self._store(record, incident_id, run_json, profile, kinds)
        except Exception:  # a thread's exception would vanish with its future: log it (ids only)
            log.exception("report archive failed", extra={"incident_id": incident_id})

    def _store(
        self,
        record: dict[str, Any],
        incident_id: str,
        run_json: dict[str, Any],
        profile: ContractProfile,
        kinds: list[str],
    ) -> None:
        try:
            self.store.write(record, run_json, profile)
        except KinkyuError:
            log.exception("incident could not be stored", extra={"incident_id": incident_id})
            return
        for kind in kinds:
            if (incident_id, kind) in self._rendered:
                continue
            for fmt in FORMATS:
                try:
                    path = render_and_store(self.store, incident_id, kind, "ja", fmt)
                except KinkyuError as exc:
                    # A missing PDF renderer must not stop the Markdown report nor the stage.
                    log.warning(
                        "report not rendered",
                        extra={"incident_id": incident_id, "kind": kind, "format": fmt, "error": type(exc).__name__},
                    )
                    continue
                log.info("report stored", extra={"incident_id": incident_id, "kind": kind, "path": str(path)})
            self._rendered.add((incident_id, kind))

    def close(self) -> None:
        """Finish renders in progress."""
        self._pool.shutdown(wait=True)
