"""What the console's pages show, built from the incident store (pure apart from :class:`StoreView`'s reads).

The report model (:func:`kinkyu.reports.model.build_report`) supplies the PPC
assessment, both clocks and every deadline, so the console and the written
report say the same thing. Nothing here carries an incident's free text
except :func:`details_of`, which only the audit-logged details page uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from kinkyu.console import i18n
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.evidence import open_bundle
from kinkyu.core.freetext import neutralise
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import PlaybookRun
from kinkyu.core.timefmt import doc_date, doc_datetime
from kinkyu.evidence.store import EvidenceStore
from kinkyu.messages.timeline import describe, names_for
from kinkyu.reports.exceptions import IncidentNotFoundError, ReportStoreError
from kinkyu.reports.labels import Lang, entry_kind
from kinkyu.reports.model import ReportModel, StoredIncident, account_roles, build_report, merged_timeline
from kinkyu.reports.store import IncidentStore, valid_incident_id

log = logging.getLogger("kinkyu.console.views")

_UNFINISHED = frozenset({"waiting", "active", "sent"})
# Steps a person marks done from the update form (the others are done by the playbook or the city).
UPDATABLE_KINDS = frozenset(
    {"recovery", "recurrence_prevention", "publication", "evidence", "progress_report", "instructions"}
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
STATES: tuple[str, ...] = ("triage", "responding", "closed")


class StoreView:
    """The incident store, re-read per request: a file is parsed again only when its mtime or size changed."""

    def __init__(self, root: Path, *, keyring: Keyring | None = None) -> None:
        # With the integrity keys, a report's custody status is authenticated (every MAC checked), not just hashed.
        self.store = IncidentStore(root, keyring=keyring)
        self._cache: dict[str, tuple[tuple[int, int], StoredIncident]] = {}
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        """Every stored incident id (an unreadable folder reads as empty, and is logged)."""
        try:
            return self.store.list()
        except ReportStoreError:
            log.exception("incident store cannot be listed")
            return []

    def get(self, incident_id: str) -> StoredIncident | None:
        """The stored incident, or None when absent (or not a valid id). ReportStoreError when unreadable."""
        if not valid_incident_id(incident_id):
            return None
        path = self.store.incident_path(incident_id)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReportStoreError(f"cannot read {path}: {exc.strerror}") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(incident_id)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            stored = self.store.read(incident_id)
        except IncidentNotFoundError:
            return None
        with self._lock:
            self._cache[incident_id] = (stamp, stored)
        return stored

    def all(self) -> list[StoredIncident]:
        """Every readable incident (an unreadable one is logged and left out of lists)."""
        out = []
        for incident_id in self.ids():
            try:
                stored = self.get(incident_id)
            except ReportStoreError:
                log.exception("stored incident unreadable", extra={"incident_id": incident_id})
                continue
            if stored is not None:
                out.append(stored)
        return out


def scope_of(stored: StoredIncident) -> dict[str, str]:
    """The policy's scope keywords for a stored incident."""
    return {
        "contract_id": stored.incident.contract_id,
        "jurisdiction": stored.incident.jurisdiction,
        "contractor_org": stored.profile.contractor.org,
    }


def city_name(jurisdiction: str) -> str:
    """The city's name (Japanese; the report tables name cities the same way)."""
    return CITY_NAMES.get(jurisdiction, jurisdiction)


def jst(ts: datetime | None, lang: str = "ja") -> str:
    """A time as people read it here, in the documents' one style: ``令和8年11月21日（土）9時40分``."""
    if ts is None:
        return i18n.dash(lang)
    return doc_datetime(ts, "en" if lang == "en" else "ja")


def day(value: date, lang: str = "ja") -> str:
    """A calendar day as people read it here, in the documents' one style: ``令和8年4月1日（水）``."""
    return doc_date(value, "en" if lang == "en" else "ja")


def iso(ts: datetime | None) -> str:
    """A time for the countdown script (RFC 3339), or empty."""
    return ts.isoformat() if ts is not None else ""


def state_of(run: PlaybookRun | None) -> str:
    """The run's state (``triage``, ``responding``, ``closed``); ``new`` before the playbook started."""
    return run.state if run is not None else "new"


def open_deadlines(run: PlaybookRun | None) -> list[datetime]:
    """Due times of unfinished steps and open tasks."""
    if run is None:
        return []
    dues = [s.due for s in run.steps if s.due is not None and s.status in _UNFINISHED]
    dues += [t.due for t in run.tasks if t.due is not None and t.status == "open"]
    return sorted(dues)


def is_overdue(run: PlaybookRun | None, now: datetime) -> bool:
    """Whether an unfinished step or an open task is past its due time."""
    return any(due <= now for due in open_deadlines(run))


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One row of the incident list."""

    incident_id: str
    contract_id: str
    jurisdiction: str
    city: str
    kind: str
    severity: str
    state: str
    opened: str
    opened_at: datetime
    next_due: datetime | None
    overdue: bool
    records: int


def incident_row(stored: StoredIncident, now: datetime, lang: str = "ja") -> IncidentRow:
    """The list's row for an incident."""
    inc, run = stored.incident, stored.run
    dues = open_deadlines(run)
    opened = inc.discovered_at or inc.first_event_ts
    return IncidentRow(
        incident_id=inc.incident_id,
        contract_id=inc.contract_id,
        jurisdiction=inc.jurisdiction,
        city=city_name(inc.jurisdiction),
        kind=inc.kind,
        severity=inc.severity.value,
        state=state_of(run),
        opened=jst(opened, lang),
        opened_at=opened,
        next_due=dues[0] if dues else None,
        overdue=bool(dues) and dues[0] <= now,
        records=inc.records,
    )


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters (empty: any)."""

    contract: str = ""
    city: str = ""
    state: str = ""
    severity: str = ""
    overdue: bool = False

    def match(self, row: IncidentRow) -> bool:
        """Whether ``row`` passes every filter."""
        return (
            (not self.contract or row.contract_id == self.contract)
            and (not self.city or row.jurisdiction == self.city)
            and (not self.state or row.state == self.state)
            and (not self.severity or row.severity == self.severity)
            and (not self.overdue or row.overdue)
        )


def filter_rows(rows: Iterable[IncidentRow], filters: Filters) -> list[IncidentRow]:
    """The rows that pass, newest first."""
    return sorted((r for r in rows if filters.match(r)), key=lambda r: (r.opened_at, r.incident_id), reverse=True)


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One timeline entry for the page and for ``timeline.json`` (no free text: the run never records any)."""

    key: str
    ts: str
    at: str
    who: str
    kind: str
    label: str
    what: str

    def to_json(self) -> dict[str, str]:
        """The JSON the live timeline script appends."""
        return {
            "key": self.key,
            "ts": self.ts,
            "at": self.at,
            "who": self.who,
            "kind": self.kind,
            "label": self.label,
            "what": self.what,
        }


def timeline_items(stored: StoredIncident, lang: str = "ja") -> list[TimelineItem]:
    """Every timeline entry, oldest first, each with a stable key the script de-duplicates by.

    ``label`` names the entry's kind in ``lang`` and ``what`` says what happened, from the entry's kind and
    parameters through the message catalogue (as the written report does; ids, counts and categories only).
    """
    out = []
    seen: dict[str, int] = {}
    language: Lang = "en" if lang == "en" else "ja"
    names = names_for(
        stored.run,
        stored.profile,
        lang=language,
        incident_kind=stored.incident.kind,
        jurisdiction=stored.incident.jurisdiction,
    )
    role = account_roles(stored, language)
    for entry in merged_timeline(stored.incident, stored.run):
        base = f"{entry.ts.isoformat()}|{entry.kind}|{entry.what}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(
            TimelineItem(
                key=neutralise(f"{base}|{n}"),
                label=neutralise(entry_kind(entry.kind, lang, names.unit, names.parties)),
                ts=entry.ts.isoformat(),
                at=jst(entry.ts, lang),
                # By role, never the account id (a city official reads it); the live script inserts it as
                # text, outside Jinja2's finalize.
                who=neutralise(role(entry.who)),
                kind=neutralise(entry.kind),
                what=neutralise(describe(entry.kind, entry.data, entry.what, names)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class DeadlineItem:
    """A deadline with what the countdown needs."""

    title: str
    article: str
    urgency: str
    due: str
    due_at: str
    due_iso: str
    verdict: str
    verdict_label: str
    overdue: bool
    open: bool


def deadline_items(model: ReportModel, now: datetime, lang: str = "ja") -> list[DeadlineItem]:
    """The report model's deadlines (steps and tasks), each marked overdue when past due and not done."""
    out = []
    for d in model.deadlines:
        still_open = d.done is None and d.verdict not in {"skipped", "na", "done", "met"}
        overdue = d.verdict == "missed" or (still_open and d.due is not None and d.due <= now)
        out.append(
            DeadlineItem(
                title=d.title,
                article=d.article,
                urgency=d.urgency or "",
                due=jst(d.due, lang),
                due_at=iso(d.due),
                due_iso=iso(d.due) if still_open else "",
                verdict=d.verdict,
                verdict_label=d.verdict_label,
                overdue=overdue,
                open=still_open,
            )
        )
    return out


@dataclass(slots=True)
class IncidentPage:
    """Everything the incident page shows (apart from the forms' own choices)."""

    stored: StoredIncident
    model: ReportModel
    summary: list[tuple[str, str]]
    deadlines: list[DeadlineItem]
    timeline: list[TimelineItem]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, str]] = field(default_factory=list)
    steps: list[dict[str, str]] = field(default_factory=list)
    open_task_ids: list[tuple[str, str]] = field(default_factory=list)


def incident_page(stored: StoredIncident, lang: str, now: datetime) -> IncidentPage:
    """The incident page's content as of ``now``, in ``lang``."""
    inc, run = stored.incident, stored.run
    # The public kind: the assessment, clocks and deadlines without the filed free text (summary, place),
    # which only the audit-logged details page shows.
    model = build_report(stored, kind="public", lang="en" if lang == "en" else "ja", now=now)
    # The reports' style: 「氏名、住所」, 「3件」, one dash symbol.
    items = i18n.separator(lang).join(i18n.item_label(lang, i) for i in inc.data_items) or i18n.dash(lang)
    summary = [
        (i18n.t(lang, "f.incident_id"), inc.incident_id),
        (i18n.t(lang, "f.contract"), f"{inc.contract_id} {stored.profile.title}"),
        (i18n.t(lang, "f.city"), city_name(inc.jurisdiction)),
        (i18n.t(lang, "f.origin"), i18n.t(lang, f"origin.{inc.origin}")),
        (i18n.t(lang, "f.kind"), i18n.kind_label(lang, inc.kind)),
        (i18n.t(lang, "f.severity"), i18n.severity_label(lang, inc.severity.value)),
        (i18n.t(lang, "f.state"), i18n.state_label(lang, run.outcome or run.state if run else "new")),
        (i18n.t(lang, "f.triage"), i18n.triage_label(lang, run.triage if run else None)),
        (i18n.t(lang, "f.records"), i18n.t(lang, "f.records_value", n=f"{inc.records:,}")),
        (i18n.t(lang, "f.data_items"), items),
        (i18n.t(lang, "f.first_event"), jst(inc.first_event_ts, lang)),
        (i18n.t(lang, "f.discovered"), jst(inc.discovered_at, lang)),
    ]
    if inc.rules:
        summary.append((i18n.t(lang, "f.rules"), i18n.separator(lang).join(inc.rules)))
    page = IncidentPage(
        stored=stored,
        model=model,
        summary=summary,
        deadlines=deadline_items(model, now, lang),
        timeline=timeline_items(stored, lang),
    )
    if run is not None:
        names = names_for(run, stored.profile, lang="en" if lang == "en" else "ja", jurisdiction=inc.jurisdiction)
        page.tasks = [
            {
                "task_id": t.task_id,
                "title": names.task(t.task_id),
                "owner": names.code("owner", t.owner),
                "due": jst(t.due, lang),
                "due_iso": iso(t.due) if t.status == "open" else "",
                "status": t.status,
                "source": t.source,
                # The codes stay on the row's attributes; people read their labels.
                "status_label": names.code("task_status", t.status),
                "source_label": names.code("task_source", t.source),
                "overdue": t.status == "open" and t.due is not None and t.due <= now,
            }
            for t in run.tasks
        ]
        page.commands = [
            {
                "command_id": c.command.command_id,
                "label": f"{names.code('action', c.command.action)} {names.code('target', c.command.target_type)} "
                f"{c.command.target} ({names.code('command_status', c.status)})",
                "status": c.status,
            }
            for c in run.commands
        ]
        titles = {s.id: i18n.pick(lang, (s.title_ja, s.title_en)) for s in run.playbook.steps}
        page.steps = [
            {"step_id": s.step_id, "label": titles.get(s.step_id, s.step_id)}
            for s in run.steps
            if s.kind in UPDATABLE_KINDS and s.status in {"waiting", "active", "available"}
        ]
        page.open_task_ids = [(t.task_id, names.task(t.task_id)) for t in run.open_tasks()]
    return page


def details_of(stored: StoredIncident) -> list[tuple[str, str | None]]:
    """The incident's place label and identities, for the audit-logged details page only.

    The filing's own words (summary, details, place as written) are not on the
    record: :func:`filed_texts` reads them back from the sealed evidence.
    """
    inc = stored.incident
    return [
        ("det.place", inc.place),
        ("det.reported_by", inc.reported_by),
        ("det.actor", inc.actor),
        ("det.system", inc.system),
    ]


# The filed event's fields the details page shows, in this order (events.md's incident event).
FILED_FIELDS = ("summary", "details", "location", "occurred_at", "discovered_at", "records_affected", "data_items")


def filed_texts(
    evidence: EvidenceStore, incident_id: str, event_ids: Iterable[str], key: bytes | None
) -> tuple[str, list[dict[str, Any]]]:
    """The filed events as people wrote them, read back from the incident's sealed evidence.

    The worker keeps a filing's free text (``summary``, ``details``) out of
    every record it writes; the sealed bundle holds the event as it arrived.
    Opened without a custody entry: the console does not write the store, and
    its audit log records who viewed it. Returns a status (``shown``,
    ``no-key``, ``not-sealed``) and one dict per filed event found.
    """
    if key is None:
        return "no-key", []
    if not evidence.has_incident(incident_id):
        return "not-sealed", []
    wanted = set(event_ids)
    found: dict[str, dict[str, Any]] = {}
    for manifest in evidence.manifests(incident_id):
        if not any(item.event_id in wanted and item.event_id not in found for item in manifest.items):
            continue
        for item in open_bundle(evidence.load_bundle(incident_id, manifest.bundle_id), key):
            if item.event_id not in wanted or item.event_id in found:
                continue
            try:
                event = orjson.loads(item.raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and "kind" in event and "reported_by" in event:  # an incident event
                found[item.event_id] = {
                    "event_id": item.event_id,
                    "kind": event.get("kind"),
                    "reported_by": (event.get("reported_by") or {}).get("id"),
                    **{f: event.get(f) for f in FILED_FIELDS},
                }
    return ("shown" if found else "not-sealed"), list(found.values())


def find_filed(stores: Iterable[StoredIncident], event_id: str) -> StoredIncident | None:
    """The incident a filed event opened (its event ids include it), if the worker has stored it yet."""
    for stored in stores:
        if event_id in stored.incident.event_ids:
            return stored
    return None
