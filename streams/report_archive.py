"""The live stage's report archive: every incident kept where ``kinkyu report --store`` reads it.

After each change the playbook stage hands the incident's state here. The
record and run are written to the incident store; when the playbook's
written-report step falls due the first report is rendered and stored, and
at closure the final one (Japanese, as the city files it; Markdown and PDF).

Two lanes, each one thread, both off the event loop:

- **writes** (a JSON file, milliseconds): the console and ``kinkyu report``
  read the store, so it must stay current. A burst of changes to one incident
  is coalesced: only its latest state is written, once.
- **renders** (a PDF takes about a second): queued by the write lane after the
  incident's state is on disk, so a render always reads what it reports on.
  One thread because the PDF renderer's warning filter is process-wide; the
  rendering itself runs in a child process (:func:`streams.child.child_pool`): a
  second of pure-Python layout per PDF holds the interpreter's lock, and in
  a thread it stalled the event loop, so every first report and playbook
  run behind it waited (issue #14).

With one lane, writes queued behind renders: after the bundled sample's burst
of first reports, an incident filed in the console took about 80 s to appear.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kinkyu.core.contract import ContractProfile
from kinkyu.core.playbook import Notify, PlaybookRun
from kinkyu.exceptions import KinkyuError
from kinkyu.reports.archive import render_and_store
from kinkyu.reports.store import IncidentStore
from kinkyu.streams.child import child_pool

log = logging.getLogger("kinkyu.reports.live")

# Written reports the city files: Markdown always, PDF when the renderer and fonts are installed.
FORMATS = ("md", "pdf")

# (store, incident id, kind, lang, format) -> the stored file; kinkyu.reports.archive.render_and_store.
Render = Callable[[IncidentStore, str, str, str, str], Path]


class ReportArchive:
    """Keeps incidents and their written reports in an :class:`IncidentStore`."""

    def __init__(
        self,
        store: IncidentStore,
        profiles: Callable[[], Mapping[str, ContractProfile]],
        *,
        render: Render = render_and_store,
    ) -> None:
        self.store = store
        self.profiles = profiles
        self._render = render
        # The default renderer runs in a child process (made on first use); a test's stand-in runs here.
        self._process: Executor | None = None
        self._in_process = render is render_and_store
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinkyu-store")
        self._renders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinkyu-reports")
        self._lock = threading.Lock()
        # incident id -> its latest state not yet written, and the report kinds asked for since.
        self._pending: dict[str, tuple[dict[str, Any], dict[str, Any], ContractProfile, set[str]]] = {}
        self._rendered: set[tuple[str, str]] = set()  # touched by the render lane only
        self._closed = False

    def keep(
        self,
        incident: Mapping[str, Any],
        run: PlaybookRun,
        effects: Iterable[object],
        *,
        snapshot: dict[str, Any] | None = None,
    ) -> None:
        """Queue storing the incident's state (and the first report when due, the final one at closure).

        Returns at once: the playbook agent must not wait for disk and PDF work. ``snapshot``:
        ``run.to_json()`` when the caller has it already, never changed after (encoding a long
        timeline again costs milliseconds per change).
        """
        profile = self.profiles().get(run.contract_id)
        if profile is None:
            return
        # The stage keeps the incident's facts without free text or the detector's timeline (the store
        # drops an older record's summary and place itself).
        record = {"timeline": [], **incident}
        kinds = set()
        # Some clauses make the first report itself the written one (Koganei 第19条: 直ちに, in writing).
        if any(isinstance(e, Notify) and (e.kind == "written_report" or e.written) for e in effects):
            kinds.add("first")
        if run.state == "closed":
            kinds.add("final")
        # The run goes on changing in the agent: the lane gets a snapshot.
        if snapshot is None:
            snapshot = run.to_json()
        if self._closed:
            # The worker stops its stages before faust's agents hand over their last record: the store
            # must still get it (the console reads it), so write it here; reports render on demand.
            self._pending[run.incident_id] = (record, snapshot, profile, set())
            self._flush(run.incident_id)
            return
        with self._lock:
            queued = self._pending.get(run.incident_id)
            self._pending[run.incident_id] = (record, snapshot, profile, kinds | (queued[3] if queued else set()))
        if queued is None:
            self._writes.submit(self._flush, run.incident_id)

    def _flush(self, incident_id: str) -> None:
        with self._lock:
            record, run_json, profile, kinds = self._pending.pop(incident_id)
        try:
            self.store.write(record, run_json, profile)
        except Exception:  # a thread's exception would vanish with its future: log it (ids only)
            log.exception("incident could not be stored", extra={"incident_id": incident_id})
            return
        for kind in ("first", "final"):
            if kind in kinds and not self._closed:
                self._renders.submit(self._render_kind, incident_id, kind)

    def _render_kind(self, incident_id: str, kind: str) -> None:
        if (incident_id, kind) in self._rendered:
            return
        for fmt in FORMATS:
            try:
                path = self._render_one(incident_id, kind, fmt)
            except KinkyuError as exc:
                # A missing PDF renderer must not stop the Markdown report nor the stage.
                log.warning(
                    "report not rendered",
                    extra={"incident_id": incident_id, "kind": kind, "format": fmt, "error": type(exc).__name__},
                )
                continue
            except Exception:  # likewise: logged with ids only, the lane goes on
                log.exception("report render failed", extra={"incident_id": incident_id, "kind": kind})
                continue
            log.info("report stored", extra={"incident_id": incident_id, "kind": kind, "path": str(path)})
        self._rendered.add((incident_id, kind))

    def _render_one(self, incident_id: str, kind: str, fmt: str) -> Path:
        if not self._in_process:
            return self._render(self.store, incident_id, kind, "ja", fmt)
        if self._process is None:
            self._process = child_pool()
        # The render lane's thread waits without the interpreter's lock; the child's errors come back as raised.
        return self._process.submit(render_and_store, self.store, incident_id, kind, "ja", fmt).result()

    def close(self) -> None:
        """Finish the writes queued, then the renders they queued; later changes are written at once."""
        self._writes.shutdown(wait=True)
        self._closed = True
        self._renders.shutdown(wait=True)
        if self._process is not None:
            self._process.shutdown(wait=True)
