"""Incidents as the detection stage sees them: opened, correlated, added to.

An incident opens on a finding (or several, when one action fires several
rules) or on a filed incident event. Findings about the same contract, actor
and rule within an hour of the incident's last one join it. Ids are stable
and human-readable: ``INC-<JST date of the first event>-<8 characters>``,
derived from the incident's content (:mod:`kinkyu.core.ids`).

The playbook stage (deadlines, reports, escalation) builds on the incident
records this module emits; here an incident carries what was observed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import msgspec

from kinkyu.core.codec import Digests, Record
from kinkyu.core.freetext import place_label, split_data_items
from kinkyu.core.model import JST, Clause, Finding, IncidentEvent, Severity

# Each incident keeps at most this many triggering event ids; the count goes on.
MAX_EVENT_IDS = 1000
# ... and at most this many finding ids, and a timeline entry for its first findings only: an actor
# who keeps an incident open for a day must not grow its record (re-sent with every change) and the
# checkpoint without bound. The counts (finding_count, event_count, records) go on.
MAX_FINDING_IDS = 1000
MAX_FINDING_ENTRIES = 50
# Each incident tells at most this many distinct people apart; past it the count is a lower bound
# (and the record sum the upper one). The people thresholds are 100 and 1,000, so the cap decides
# nothing; what it bounds is the checkpoint: 8 bytes a person, ~110 KB at the cap, against the
# producer's 1 MiB record limit for a partition's whole engine state.
MAX_SUBJECT_IDS = 10_000
_DIGEST_BYTES = 8
_MAX_PEOPLE = 1_000_000_000
_MAX_DATASETS = 64
_CODE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


def subject_digest(subject_id: str) -> int:
    """A stable 64-bit digest of a subject id: the incident keeps these, never the ids themselves.

    Stable across processes (unlike ``hash``), so a restored checkpoint keeps
    telling the same people apart; 10,000 people collide with odds of ~3e-12.
    """
    return int.from_bytes(hashlib.blake2b(subject_id.encode(), digest_size=_DIGEST_BYTES).digest())


def _dataset_code(value: Any) -> bool:
    # Data set names are codes (as the playbook run screens them); anything else may be free text.
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


class TimelineEntry(msgspec.Struct, Record):
    """One append-only entry: who, when, what (counts and categories, no personal data)."""

    ts: datetime
    who: str
    what: str
    kind: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Incident(msgspec.Struct, Record, kw_only=True):
    """An incident's observed facts, as carried on the ``incidents`` topic.

    The number of people: ``distinct_people`` is the count of distinct
    ``resource.subject_ids`` across the incident's events (None when no event
    carried any), or the number a filing stated; ``distinct_people_exact`` is
    True only when a person stated it or every event with records carried
    subject ids and the count stayed under :data:`MAX_SUBJECT_IDS`. Otherwise
    the count is a lower bound and ``records`` the upper one. The digests
    behind the count (``subjects``) are engine state: they are in
    ``to_json(snapshot=True)`` (checkpoints, :attr:`snapshot_only`) and never in the record.
    ``encrypted``, ``improper_purpose`` and ``datasets`` are what a filing
    stated for the national report (None: it did not say).

    No free text: a filing's summary, place and details stay in its sealed
    evidence. The record says whether there was a summary (``has_summary``)
    and keeps a place only as a checked label (``place``: a site code or a
    short non-personal name, :func:`kinkyu.core.freetext.place_label`;
    None reads 調査中). ``data_items`` are item codes only.
    """

    incident_id: str
    contract_id: str
    jurisdiction: str
    origin: str  # "detection" or "filed"
    kind: str  # a filed kind, or "detection"
    rules: list[str] = []
    actor: str | None
    system: str | None
    severity: Severity
    first_event_ts: datetime
    last_event_ts: datetime
    # Findings folded in, past MAX_FINDING_IDS too; the record's finding_count (see __post_init__).
    findings_total: int = msgspec.field(default=0, name="finding_count")
    finding_ids: list[str] = []
    event_ids: list[str] = []
    event_count: int = 0
    records: int = 0
    data_items: list[str] = []
    data_items_withheld: int = 0
    clauses: list[Clause] = []
    discovered_at: datetime | None = None
    place: str | None = None
    has_summary: bool = False
    reported_by: str | None = None
    timeline: list[TimelineEntry] = []
    distinct_people: int | None = None
    distinct_people_exact: bool = False
    encrypted: bool | None = None
    improper_purpose: bool | None = None
    datasets: list[str] | None = None
    # Engine state behind distinct_people, in snapshots only.
    subjects: Digests = msgspec.field(default_factory=Digests)
    subjects_missing: bool = False  # an event with records carried no subject ids
    subjects_capped: bool = False  # a person past MAX_SUBJECT_IDS was not told apart
    stated_people: int | None = None  # a person's count, which wins over the events'

    snapshot_only: ClassVar[frozenset[str]] = frozenset(
        {"subjects", "subjects_missing", "subjects_capped", "stated_people"}
    )

    def __post_init__(self) -> None:
        # The record's finding_count is the count, never less than the ids listed (an incident built
        # with its first finding ids and no count yet).
        self.findings_total = max(self.findings_total, len(self.finding_ids))

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """Screen a record's free text, as older records carried it and any writer may still send it.

        An older record's ``summary`` is read only as ``has_summary`` and its
        ``location`` not at all (it may be an address; unknown keys are
        ignored); data items that are not item codes are counted in
        ``data_items_withheld``, never kept; ``place`` is kept only as a
        checked label.
        """
        if not isinstance(data, dict):
            return data
        out = dict(data)
        out.pop("summary", None)
        out["has_summary"] = bool(data.get("has_summary") or data.get("summary"))
        if "data_items" in data:
            items, withheld = split_data_items(data["data_items"])
            out["data_items"] = list(items)
            out["data_items_withheld"] = int(data.get("data_items_withheld") or 0) + withheld
        out["place"] = place_label(data.get("place"))
        return out

    @property
    def finding_count(self) -> int:
        """How many findings were folded into the incident (ids are kept for the first ones only)."""
        return max(self.findings_total, len(self.finding_ids))

    def add_finding(self, finding: Finding) -> None:
        """Fold a finding in: rules, clauses, events, severity, time span."""
        count = self.finding_count + 1
        self.findings_total = count
        if len(self.finding_ids) < MAX_FINDING_IDS:
            self.finding_ids.append(finding.finding_id)
        if finding.rule not in self.rules:
            self.rules.append(finding.rule)
        for clause in finding.clauses:
            if clause not in self.clauses:
                self.clauses.append(clause)
        known = set(self.event_ids)
        new = [e for e in finding.event_ids if e not in known]
        if new:
            # One action firing several rules is one set of records, counted once. Past the id cap
            # events count as new: an over-count is the safe side for the "number of people" bound.
            self.records += finding.records
            self.event_count += len(new)
            self.event_ids.extend(new[: max(0, MAX_EVENT_IDS - len(self.event_ids))])
            if finding.subjects_missing:
                self.subjects_missing = True
            if finding.subject_ids:
                self.add_subjects(finding.subject_ids)
            self._count_people()
        if finding.severity.rank > self.severity.rank:
            self.severity = finding.severity
        self.first_event_ts = min(self.first_event_ts, finding.ts)
        self.last_event_ts = max(self.last_event_ts, finding.ts)
        if count <= MAX_FINDING_ENTRIES:
            self.timeline.append(
                TimelineEntry(
                    finding.ts,
                    "kinkyu",
                    f"finding {finding.rule}",
                    "finding",
                    {"finding_id": finding.finding_id, "rule": finding.rule, "records": finding.records},
                )
            )
        elif count == MAX_FINDING_ENTRIES + 1:
            self.timeline.append(
                TimelineEntry(
                    finding.ts,
                    "kinkyu",
                    f"more than {MAX_FINDING_ENTRIES} findings: further ones are counted, not listed",
                    "findings_counted",
                    {"listed": MAX_FINDING_ENTRIES},
                )
            )

    def add_subjects(self, subject_ids: Iterable[str]) -> None:
        """Tell these people apart from those already counted, up to :data:`MAX_SUBJECT_IDS`."""
        if self.subjects_capped:
            return  # the count is a lower bound already; hashing more would not change it
        seen = self.subjects
        for subject_id in subject_ids:
            digest = subject_digest(subject_id)
            if digest not in seen:
                if len(seen) >= MAX_SUBJECT_IDS:
                    self.subjects_capped = True
                    return
                seen.add(digest)

    def _count_people(self) -> None:
        if self.stated_people is not None:
            self.distinct_people, self.distinct_people_exact = self.stated_people, True
        elif self.subjects:
            self.distinct_people = len(self.subjects)
            self.distinct_people_exact = not (self.subjects_missing or self.subjects_capped)
        else:
            self.distinct_people, self.distinct_people_exact = None, False

    def state_facts(self, data: Mapping[str, Any]) -> None:
        """Take the national-report facts a filing states; other keys are ignored.

        The facts are ``encrypted``, ``improper_purpose``, ``distinct_people``
        and ``datasets`` (the playbook run's ``PPC_FACT_KEYS``). Values of the
        wrong type are ignored too: the record carries only booleans, a count
        and data set codes, never text a person typed.
        """
        for key in ("encrypted", "improper_purpose"):
            value = data.get(key)
            if isinstance(value, bool):
                setattr(self, key, value)
        people = data.get("distinct_people")
        if isinstance(people, int) and not isinstance(people, bool) and 0 <= people <= _MAX_PEOPLE:
            self.stated_people = people
            self._count_people()
        names = data.get("datasets")
        if isinstance(names, list):
            self.datasets = [n for n in names if _dataset_code(n)][:_MAX_DATASETS]


# Severity of an incident someone filed, by kind, before triage says otherwise.
FILED_SEVERITY: dict[str, Severity] = {
    "leak": Severity.CRITICAL,
    "unauthorized_access": Severity.CRITICAL,
    "tampering": Severity.HIGH,
    "loss": Severity.HIGH,
    "misdelivery": Severity.HIGH,
    "system_outage": Severity.HIGH,
    "complaint": Severity.MEDIUM,
    "other": Severity.MEDIUM,
}


def incident_day(ts: datetime) -> str:
    """The ``YYYYMMDD`` part of an incident id: the Japan date of ``ts``."""
    return ts.astimezone(JST).strftime("%Y%m%d")


def filed_incident(
    incident_id: str, jurisdiction: str, ev: IncidentEvent, facts: Mapping[str, Any] | None = None
) -> Incident:
    """A new incident from a filed event (``leak``, ``misdelivery``, …).

    ``facts`` are the national-report facts the filing's ``data`` states
    (see :meth:`Incident.state_facts`); the detection stage passes only those keys.
    The filing's free text is not copied: the summary becomes ``has_summary``,
    the place a checked label or None, the data items their codes.
    """
    occurred = ev.occurred_at or ev.discovered_at or ev.ts
    items, withheld = split_data_items(ev.data_items)
    incident = Incident(
        incident_id=incident_id,
        contract_id=ev.contract_id,
        jurisdiction=jurisdiction,
        origin="filed",
        kind=ev.kind,
        first_event_ts=occurred,
        last_event_ts=occurred,
        actor=None,
        system=None,
        severity=FILED_SEVERITY.get(ev.kind, Severity.MEDIUM),
        event_ids=[ev.event_id],
        event_count=1,
        records=ev.records_affected or 0,
        data_items=list(items),
        data_items_withheld=ev.data_items_withheld + withheld,
        discovered_at=ev.discovered_at or ev.ts,
        place=place_label(ev.location),
        has_summary=bool(ev.summary and ev.summary.strip()),
        reported_by=ev.reported_by.id,
    )
    if facts:
        incident.state_facts(facts)
    incident.timeline.append(
        TimelineEntry(ev.ts, ev.reported_by.id, f"filed: {ev.kind}", "filed", {"event_id": ev.event_id})
    )
    if incident.data_items_withheld:
        incident.timeline.append(
            TimelineEntry(
                ev.ts,
                "kinkyu",
                f"{incident.data_items_withheld} data item(s) refused (unknown-data-item): not item codes, "
                "so not kept; the filing as sent is in its sealed evidence",
                "data_items_withheld",
                {"event_id": ev.event_id, "count": incident.data_items_withheld, "reason": "unknown-data-item"},
            )
        )
    return incident
