"""Sample incidents for the report tests, the bench and demonstrations, made through the domain's own API.

Nothing here is hand-written deep JSON: an incident is an
:class:`~kinkyu.core.incident.Incident` (via :func:`~kinkyu.core.incident.filed_incident`
for a filing), its run comes from :func:`kinkyu.core.playbook.on_record` over
the ``incidents`` records the detection stage would send (the opening record,
then follow-up events: acknowledgements, containment results, city
instructions, steps done, a resolution), with the bundled playbooks
(``playbooks/``) and sample contracts (``samples/contracts/``).

Every value a test may want to look for (summary, location, account, reporter,
event ids, a filing's details) is a parameter, so a test can plant distinctive
strings and check where they (do not) come out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from kinkyu.contracts import load_profiles
from kinkyu.core.clauses import clauses_for
from kinkyu.core.contract import ContractProfile
from kinkyu.core.evidence import (
    EvidenceItem,
    canonical_items,
    encode_plaintext,
    make_bundle_id,
    seal_bundle,
    sha256_hex,
    source_of,
)
from kinkyu.core.incident import Incident, TimelineEntry, filed_incident
from kinkyu.core.integrity import Keyring
from kinkyu.core.model import JST, IncidentEvent, Person, Severity
from kinkyu.core.playbook import Playbook, PlaybookRun, on_record, playbooks_from_texts, record_seal, tick
from kinkyu.core.playbook.states import UNFINISHED
from kinkyu.evidence.store import EvidenceStore
from kinkyu.reports.exceptions import ReportError
from kinkyu.reports.model import ReportFacts, StoredIncident, merged_timeline
from kinkyu.reports.store import IncidentStore
from kinkyu.resources import PLAYBOOKS_DIR, SAMPLE_CONTRACTS_DIR

CONTRACTS_DIR = SAMPLE_CONTRACTS_DIR
# A Friday, 10:00 in Japan: not a holiday, inside work hours.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)
STAGES = ("opened", "progress", "closed")


@cache
def playbooks() -> dict[str, Playbook]:
    """The bundled playbooks, by jurisdiction."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(PLAYBOOKS_DIR.glob("*.yaml"))}
    return playbooks_from_texts(texts)


@cache
def profiles() -> dict[str, ContractProfile]:
    """The bundled sample contract profiles, by jurisdiction (one each)."""
    return {p.jurisdiction: p for p in load_profiles([CONTRACTS_DIR]).values()}


@dataclass(slots=True)
class Scenario:
    """What happens to a sample incident. Times are offsets from ``t0`` (when it was discovered)."""

    jurisdiction: str
    origin: str = "filed"  # "filed" or "detection"
    stage: str = "closed"  # "opened", "progress" or "closed"
    incident_id: str = "INC-20261120-0001"
    t0: datetime = T0
    kind: str = "misdelivery"  # for a filing
    rules: tuple[str, ...] = ("pii-email",)  # for a detection
    summary: str | None = "Notice for 3 residents mailed to the wrong address"
    location: str | None = "Acme print centre"
    details: str | None = "free text that may name a resident"
    actor: str | None = "u1042"
    system: str | None = "juki-portal"
    reporter: str = "sec-07"
    city_contact: str = "city-1"
    records: int = 3
    data_items: tuple[str, ...] = ("name", "address")
    event_ids: tuple[str, ...] = ("ev-0001",)
    first_ack_after: timedelta = timedelta(minutes=20)
    written_ack_after: timedelta = timedelta(days=4)
    timeline_entries: int = 0  # pad the timeline with updates up to this many entries (0: no padding)
    facts: ReportFacts = field(default_factory=ReportFacts)


@dataclass(slots=True)
class Sample:
    """A built sample: the records a store holds, and the parsed objects."""

    incident: Incident
    run: PlaybookRun
    profile: ContractProfile
    now: datetime
    facts: ReportFacts = field(default_factory=ReportFacts)

    @property
    def incident_json(self) -> dict[str, Any]:
        """The incident record (``Incident.to_json()``)."""
        return self.incident.to_json()

    @property
    def run_json(self) -> dict[str, Any]:
        """The run (``PlaybookRun.to_json()``)."""
        return self.run.to_json()

    def stored(self) -> StoredIncident:
        """As the store would read it back (without evidence)."""
        return StoredIncident(self.incident, self.run, self.profile, None, self.facts)


class _Driver:
    def __init__(self, sc: Scenario, incident: Incident, profile: ContractProfile) -> None:
        self.sc = sc
        self.incident = incident
        self.profile = profile
        self.playbook = playbooks()[sc.jurisdiction]
        self.run: PlaybookRun | None = None
        self.now = sc.t0
        self.n = 0

    def record(self, record: dict[str, Any], now: datetime) -> None:
        self._tick_until(now)
        self.now = max(self.now, now)
        run, _ = on_record(
            self.run,
            record,
            playbook=self.playbook,
            policy=self.profile.response,
            contract_ends=self.profile.ends,
            now=self.now,
        )
        if run is not None:
            self.run = run

    def _tick_until(self, now: datetime) -> None:
        # The playbook stage's clock runs between events: a deadline that passes before the next event is
        # missed at its time, not when that event arrives.
        run = self.run
        while run is not None:
            dues = [t.due for t in run.tasks if t.status == "open" and t.due is not None and not t.missed]
            dues += [st.due for st in run.steps if st.status in UNFINISHED and st.due is not None and not st.missed]
            passed = sorted(d for d in dues if self.now < d <= now)
            if not passed:
                return
            self.now = passed[0]
            tick(run, self.now)

    def open(self) -> None:
        body = self.incident.to_json()
        body["change"] = "opened"
        self.record(body, self.sc.t0)

    def event(self, kind: str, data: dict[str, Any], at: timedelta, who: str | None = None) -> None:
        """A follow-up incident event, as the detection stage forwards it (also kept on the incident)."""
        self.n += 1
        ts = self.sc.t0 + at
        payload = {**data, "event_id": f"{self.sc.incident_id}-fu-{self.n:05d}"}
        entry = TimelineEntry(ts, who or self.sc.reporter, kind, kind, payload)
        self.incident.timeline.append(entry)
        self.record({"change": "event", "incident_id": self.sc.incident_id, "entry": entry.to_json()}, ts)

    def step_present(self, step_id: str) -> bool:
        return self.run is not None and self.run.step(step_id) is not None


def _detection(sc: Scenario) -> Incident:
    incident = Incident(
        incident_id=sc.incident_id,
        contract_id=profiles()[sc.jurisdiction].contract_id,
        jurisdiction=sc.jurisdiction,
        origin="detection",
        kind="detection",
        first_event_ts=sc.t0 - timedelta(minutes=5),
        last_event_ts=sc.t0 - timedelta(minutes=1),
        actor=sc.actor,
        system=sc.system,
        severity=Severity.HIGH,
        rules=list(sc.rules),
        finding_ids=[f"F-{sc.incident_id}-{r}" for r in sc.rules],
        event_ids=list(sc.event_ids),
        event_count=len(sc.event_ids),
        records=sc.records,
        data_items=list(sc.data_items),
    )
    for rule in sc.rules:
        incident.clauses.extend(c for c in clauses_for(rule, sc.jurisdiction) if c not in incident.clauses)
        incident.timeline.append(
            TimelineEntry(
                sc.t0 - timedelta(minutes=1),
                "kinkyu",
                f"finding {rule}",
                "finding",
                {"finding_id": f"F-{sc.incident_id}-{rule}", "rule": rule, "records": sc.records},
            )
        )
    return incident


def _filed(sc: Scenario) -> Incident:
    event = IncidentEvent(
        event_id=sc.event_ids[0],
        ts=sc.t0,
        contract_id=profiles()[sc.jurisdiction].contract_id,
        kind=sc.kind,
        incident_id=None,
        reported_by=Person(sc.reporter, "acme", "security"),
        summary=sc.summary,
        occurred_at=sc.t0 - timedelta(hours=18),
        discovered_at=sc.t0,
        location=sc.location,
        records_affected=sc.records,
        data_items=sc.data_items,
        details=sc.details,
    )
    return filed_incident(sc.incident_id, sc.jurisdiction, event)


def build_sample(sc: Scenario) -> Sample:
    """Run ``sc`` through the playbook of its jurisdiction and return the incident and its run."""
    if sc.stage not in STAGES:
        raise ReportError(f"unknown sample stage {sc.stage!r} ({', '.join(STAGES)})")
    profile = profiles()[sc.jurisdiction]
    incident = _detection(sc) if sc.origin == "detection" else _filed(sc)
    d = _Driver(sc, incident, profile)
    d.open()
    if sc.stage != "opened":
        _progress(d)
    if sc.stage == "closed":
        _close(d)
    if sc.timeline_entries:
        _pad(d, sc.timeline_entries)
    run = d.run
    if run is None:  # pragma: no cover - on_record always starts a run for an opening record
        raise ReportError("the sample incident did not start a playbook run")
    tick(run, d.now)
    return Sample(incident, run, profile, d.now, sc.facts)


def _progress(d: _Driver) -> None:
    sc = d.sc
    run = d.run
    assert run is not None  # open() always starts one
    # The evidence is sealed a minute after the incident opened, as the evidence stage does it: the bundle
    # (store_sample stores it), its entry on the timeline, and the step done. A report on the stored sample
    # then lists what the 完了 step preserved instead of saying the store holds nothing.
    _seal(d, sc.t0 + timedelta(minutes=1))
    d.event("acknowledgement", {"step": "first_report"}, sc.first_ack_after, who=sc.city_contact)
    first = run.step("first_report")
    if first is not None and first.status == "sent":
        # A written first report (書面) is made when the city receives the 事故報告書 from the console (受領).
        receipt = {"step": "first_report", "receipt": "console"}
        d.event("acknowledgement", receipt, sc.first_ack_after + timedelta(minutes=30), who=sc.city_contact)
    for cmd in list(run.commands):
        d.event("containment_result", {"command_id": cmd.command.command_id, "result": "done"}, timedelta(minutes=40))
    for st in list(run.steps):
        if st.kind == "containment" and st.status == "active" and not run.commands:
            # Nothing a command could do (a misdirected letter): the measure a person took, on record.
            measure = {"step": st.step_id, "done": True, "measure": "recovered-by-hand"}
            d.event("update", measure, timedelta(minutes=45))
    d.event(
        "city_instruction",
        {"task_id": "submit-log", "title": "submit-access-log", "owner": "contractor", "within": "24h"},
        timedelta(hours=1),
        who=sc.city_contact,
    )
    d.event("update", {"task_id": "submit-log", "done": True}, timedelta(hours=3))


def _seal(d: _Driver, at: datetime) -> None:
    run = d.run
    assert run is not None  # open() always starts one
    items = _evidence_items(d.incident)
    if not items:
        return
    requested = next((e.data for e in run.timeline if e.kind == "seal_requested" and e.data), {})
    data = {
        "effect_id": requested.get("effect_id"),
        "phase": "initial",
        "items": len(items),
        "scanned": len(items),
        "truncated": False,
        "since": requested.get("since"),
        "until": requested.get("until"),
        "again_after": None,
        "bundle_id": sample_bundle_id(d.incident),
    }
    what = f"evidence sealed (証拠保全): bundle {data['bundle_id']}, {len(items)} event(s)"
    run.timeline.append(TimelineEntry(at, "kinkyu", what, "evidence_sealed", data))
    record_seal(run, at)


def _evidence_items(incident: Incident, raw: bytes | None = None) -> list[EvidenceItem]:
    """The sample's evidence: each of the incident's events, as the evidence stage reads them from the topic."""
    return [
        EvidenceItem(source_of("incident-events", 0, n), event_id, raw or b'{"sample": true}')
        for n, event_id in enumerate(incident.event_ids)
    ]


def sample_bundle_id(incident: Incident, raw: bytes | None = None) -> str:
    """The id of the bundle :func:`store_sample` seals (it depends on the incident and the items, not the key)."""
    plaintext = encode_plaintext(incident.incident_id, canonical_items(_evidence_items(incident, raw)))
    return make_bundle_id(incident.incident_id, sha256_hex(plaintext))


def _close(d: _Driver) -> None:
    sc = d.sc
    events: list[tuple[timedelta, str, dict[str, Any], str | None]] = []
    if d.step_present("written_report"):
        # The city downloads the 事故報告書 from the console and acknowledges receiving it (受領).
        receipt = {"step": "written_report", "receipt": "console"}
        events.append((sc.written_ack_after, "acknowledgement", receipt, sc.city_contact))
    for step_id, at in (("recovery", timedelta(days=2)), ("recurrence_prevention", timedelta(days=10))):
        if d.step_present(step_id):
            events.append((at, "update", {"step": step_id, "done": True}, None))
    if d.step_present("publication"):
        events.append((timedelta(days=12), "update", {"step": "publication", "done": True}, sc.city_contact))
    events.append((timedelta(days=14), "resolution", {}, None))
    # In the order they happen, as the playbook stage receives them.
    for at, kind, data, who in sorted(events, key=lambda e: e[0]):
        d.event(kind, data, at, who=who)


def _pad(d: _Driver, target: int) -> None:
    # Plain updates, one a minute from the last event: each adds one entry to the run's timeline.
    run = d.run
    assert run is not None
    start = d.now - d.sc.t0
    i = 0
    while len(merged_timeline(d.incident, run)) < target:
        i += 1
        d.event("update", {}, start + timedelta(minutes=i))


def store_sample(
    store: IncidentStore,
    sample: Sample,
    *,
    key: bytes | None = None,
    raw: bytes | None = None,
    nonce: bytes | None = None,
    keyring: Keyring | None = None,
) -> None:
    """Write ``sample`` to ``store`` and seal one evidence bundle of its events into the store's evidence.

    The bundle is sealed when the run says the evidence was sealed (else a minute after the first event).
    ``nonce`` is for tests only (a fixed one makes the manifest reproducible); with ``keyring`` the custody
    entry is signed with it and dated at the sealing, else the store's own evidence store writes it now.
    """
    store.write(sample.incident_json, sample.run_json, sample.profile, facts=sample.facts)
    incident = sample.incident
    items = _evidence_items(incident, raw)
    if items:
        sealed_at = next(
            (st.done_at for st in sample.run.steps if st.kind == "evidence" and st.measure == "sealed" and st.done_at),
            incident.first_event_ts + timedelta(minutes=1),
        )
        sealed = seal_bundle(
            incident.incident_id,
            items,
            key or secrets.token_bytes(32),
            sealed_at=sealed_at,
            sealed_by="kinkyu",
            reason="playbook evidence step",
            nonce=nonce,
        )
        evidence = store.evidence
        if keyring is not None:
            # Its custody entry signed with ``keyring`` and dated when sealed: the same log on every run.
            evidence = EvidenceStore(evidence.root, clock=lambda: sealed_at, keyring=keyring)
        evidence.put_bundle(sealed, "kinkyu")
