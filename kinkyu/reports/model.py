# no copyright header in this project; Japanese text uses full-width punctuation
"""A written incident report (事故報告書) as data: every section, in the city's order, in one language.

Pure: no I/O and no clock (``now`` is passed in). :func:`build_report` reads a
:class:`StoredIncident` (the incident record, its playbook run, the contract
profile, the evidence manifest and any report facts people supplied) and
returns a :class:`ReportModel`; :mod:`kinkyu.reports.render` lays it out as
Markdown, HTML or PDF.

Sections, in order (the issue's list, which follows the cities' own report
forms; Koganei 第19条's four items 個人情報の内容, 件数, 発生場所, 発生状況 are
sections 2-4):

1. 契約及び当事者  2. 発生日時・発見日時・発生場所  3. 項目及び件数（本人の数）
4. 発生状況及び原因  5. 二次被害  6. 被害拡大防止  7. 本人への対応  8. 公表
9. 再発防止策  10. 契約条項と期限の遵守状況  11. 委員会への報告事項 (the nine
Rule 8(1) items, the assessment of both parties, both clocks)
12. タイムライン (phases against deadlines, and every entry)  13. 証拠の目録

Kinds: ``first`` (第一報: all provisional), ``progress`` (経過報告: contract and
dates final), ``final`` (最終報告: all final; a still-open incident and any
item still 調査中 are named in the header) and ``public`` (公表用).

What never appears: a filing's free text (``summary``, ``details``, a place
that is not a checked label): the incident record does not carry it, it is
in the sealed evidence only, and the report says so (届出の記載は封印された証拠).
Data items are item codes, shown by their labels. In ``public``: no account
ids, staff names (roles only), event, finding or task ids, system names,
network addresses, and no text a person typed (a place label, people's report
texts); codes, counts, categories and dates only. In every kind, people's
report texts pass :func:`kinkyu.core.legal.scrub` (e-mail addresses, phone and
long numbers); an account id or a containment target (text a log's writer
chose) is printed only when it is shaped like an id (:data:`ACCOUNT_MAX_CHARS`
characters of ASCII letters, digits, backslash and ``. _ - @ / : +``, nothing
``scrub`` would take out) or the contract registers it, else it reads
（ID省略）; and every text in the model passes
:func:`kinkyu.core.freetext.neutralise` (no control or bidi-override
characters reach a table cell or the PDF).

Unknown items read 調査中 (English: "under investigation (調査中)"), never blank.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import msgspec

from kinkyu.core.calendar import is_jp_holiday
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.contract import ContractProfile
from kinkyu.core.evidence import canonical_json
from kinkyu.core.freetext import neutralise
from kinkyu.core.incident import Incident, TimelineEntry
from kinkyu.core.jurisdictions import cite, head_title, unit_of
from kinkyu.core.labels import ITEM_LABELS, NOT_PERSONAL_DATA, item_labels, kind_label, nature_label, rule_label
from kinkyu.core.legal import (
    DEFAULT_CONTRACTOR_WITHIN,
    Assessment,
    ContractorState,
    ContractorStatus,
    PartyAssessment,
    Rule8Items,
    assess,
    breach_facts_from_incident,
    contractor_status,
    learned_date,
    notice_draft,
    ppc_deadlines,
    rule8_items,
    scrub,
)
from kinkyu.core.legal.triggers import ReportingParty, Trigger
from kinkyu.core.model import JST
from kinkyu.core.playbook import PlaybookRun, StepRun, document_name
from kinkyu.core.playbook.definition import Step
from kinkyu.core.playbook.ppc import datasets_snapshot, other_text
from kinkyu.core.rulebook import PERSONAL_DATA_NATURES, event_nature
from kinkyu.core.timefmt import doc_date
from kinkyu.core.timespan import CalendarRangeError
from kinkyu.messages import party_fields
from kinkyu.messages.timeline import describe, names_for, receipt_awaited
from kinkyu.reports.labels import (
    ACTION_LABELS,
    COMMAND_STATUS,
    ENTRY_KINDS,
    SEVERITY_LABELS,
    STATE_LABELS,
    TARGET_LABELS,
    TRIAGE_LABELS,
    Lang,
    Words,
)

ReportKind = Literal["first", "progress", "final", "public"]
REPORT_KINDS: tuple[ReportKind, ...] = ("first", "progress", "final", "public")
SectionStatus = Literal["final", "provisional"]
# Deadline verdicts: met / missed against a due time; done / open without one; skipped; waiting; na.
Verdict = Literal["met", "missed", "pending", "done", "open", "skipped", "waiting", "na"]

SECTION_KEYS: tuple[str, ...] = (
    "contract",
    "when_where",
    "data",
    "circumstances",
    "secondary_harm",
    "containment",
    "response",
    "publication",
    "prevention",
    "clauses",
    "ppc",
    "timeline",
    "evidence",
)
# Laid out after 以上 as 別紙 (attachments), in this order; the other sections are the numbered items under 記.
ATTACHMENT_KEYS: tuple[str, ...] = ("timeline", "evidence")
# Timeline entries only the city's side makes: their accounts are named as the city's, not the contractor's.
_CITY_ENTRY_KINDS = frozenset({"acknowledgement", "city_instruction", "report_request", "receipt"})
_SERIAL_DIGITS = 4
_KIND_NUMBERS = {"first": 1, "progress": 2, "final": 3, "public": 4}
# Which sections each kind reports as final (the header says so); "public" depends on closure.
_FINAL_SECTIONS: dict[str, frozenset[str]] = {
    "first": frozenset({"contract"}),
    "progress": frozenset({"contract", "when_where"}),
    "final": frozenset(SECTION_KEYS),
}
PHASE_KEYS: tuple[str, ...] = ("detected", "first_report", "written_report", "containment", "recovery", "closed")
_REPORT_STEP_KINDS = frozenset({"first_report", "written_report", "complaint_report"})
_SATURDAY = 5  # date.weekday(): Saturday and Sunday are days a city's office is closed, as are holidays


# -- input -------------------------------------------------------------------------------------------


# The free-text keys of ReportFacts (the store's "report" object).
REPORT_FACT_TEXTS: tuple[str, ...] = (
    "cause",
    "cause_party",
    "secondary_harm",
    "response",
    "publication",
    "prevention",
    "other",
    "medium",
    "course",
)


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What people found out that no record carries: the free-text Rule 8(1) items and two flags.

    Stored (optionally) under ``"report"`` in the incident store. Every text is
    a role or category description, screened with :func:`~kinkyu.core.legal.scrub`
    and left out of the ``public`` report. ``distinct_people`` is the count of
    distinct people when known (else the record sum is an upper bound);
    ``encrypted`` says all the data was strongly encrypted (高度な暗号化).
    """

    cause: str | None = None
    cause_party: str | None = None
    secondary_harm: str | None = None
    response: str | None = None
    publication: str | None = None
    prevention: str | None = None
    other: str | None = None
    medium: str | None = None
    course: str | None = None
    distinct_people: int | None = None
    encrypted: bool = False

    def to_json(self) -> dict[str, Any]:
        """Wire form (the store's ``"report"`` object)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """One sealed evidence bundle as its manifest describes it (no content)."""

    bundle_id: str
    items: int
    plaintext_sha256: str
    ciphertext_sha256: str
    sealed_at: datetime
    sealed_by: str
    key_id: str


@dataclass(frozen=True, slots=True)
class EvidenceInfo:
    """An incident's evidence manifest and custody-chain status, as read without the key.

    ``chain_status`` is ``intact``, ``broken`` or ``unreadable`` (a manifest or
    custody line that does not parse); ``problems`` name files and entries.
    ``authentication`` says what "intact" is worth: ``keyed`` (every entry's MAC
    verified with the integrity keys), ``unchecked`` (read without them: the
    hashes agree, which a rewrite that recomputes them also achieves),
    ``legacy`` (entries from before integrity keys, which carry no MAC) or
    ``empty``.
    """

    bundles: tuple[BundleInfo, ...]
    chain_status: str
    entries: int
    head_seq: int | None
    head_hash: str | None
    problems: tuple[str, ...] = ()
    authentication: str = "unchecked"


@dataclass(frozen=True, slots=True)
class StoredIncident:
    """Everything a report is built from: read by :class:`kinkyu.reports.store.IncidentStore`."""

    incident: Incident
    run: PlaybookRun | None
    profile: ContractProfile
    evidence: EvidenceInfo | None = None
    facts: ReportFacts = field(default_factory=ReportFacts)


# -- output ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """A labelled value; ``state`` is ``unknown`` (調査中), ``withheld`` (public version) or empty."""

    label: str
    value: str
    state: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """A table: ``classes`` gives each row a CSS class (a verdict), ``col_classes`` each column one."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    classes: tuple[str, ...] = ()
    col_classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    """One numbered section of the report."""

    key: str
    number: int
    title: str
    status: SectionStatus
    status_label: str
    rows: tuple[Row, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    attachment: str = ""  # 別紙1, 別紙2: laid out after 以上, referred to from the items


@dataclass(frozen=True, slots=True)
class Letter:
    """The report as official correspondence (a Japanese 報告書 to the head of the local body).

    文書番号 and date top right, the addressee by title, the sender block, 件名, the opening sentences,
    記 … 以上 around the numbered items, and the 別紙 after them.
    """

    number_label: str
    number: str
    date: str
    addressee: str
    sender: tuple[Row, ...]
    subject: str
    opening: tuple[str, ...]
    record: str  # 記
    end: str  # 以上
    attachments_label: str  # 添付資料
    attachments: tuple[str, ...]  # 別紙1　経過（タイムライン）, …


@dataclass(frozen=True, slots=True)
class Deadline:
    """One step's (or task's) deadline and whether it was met, as of the report."""

    key: str
    kind: str
    title: str
    article: str
    urgency: str | None
    due: datetime | None
    sent: datetime | None
    done: datetime | None
    verdict: Verdict
    verdict_label: str
    elapsed: timedelta | None  # from the contractor learning of the incident to done


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of the response for the timeline picture."""

    key: str
    label: str
    start: datetime | None
    end: datetime | None
    due: datetime | None
    verdict: Verdict
    verdict_label: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Marker:
    """A moment drawn across the timeline picture (occurred, learned, the PPC dates, now)."""

    key: str
    label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Chart:
    """What :func:`kinkyu.reports.svg.phase_chart` draws, with its words in the report's language."""

    lang: Lang
    title: str
    origin: datetime
    now: datetime
    phases: tuple[Phase, ...]
    markers: tuple[Marker, ...]
    axis_label: str
    due_label: str
    markers_label: str
    tick_labels: tuple[tuple[float, str], ...]  # (hours since origin, label)


@dataclass(frozen=True, slots=True)
class ReportModel:
    """A report, ready to lay out. :meth:`to_json` is the canonical content the footer hash covers."""

    incident_id: str
    kind: ReportKind
    lang: Lang
    generated_at: datetime
    title: str
    kind_label: str
    city: str
    contract_id: str
    header: tuple[Row, ...]
    notices: tuple[str, ...]
    sections: tuple[Section, ...]
    deadlines: tuple[Deadline, ...]
    rule8_missing: tuple[str, ...]
    chart: Chart
    timeline_entries: int
    words: dict[str, str]
    # The letter around the items (None: the public version, which is not addressed to anyone).
    letter: Letter | None = None
    # 本人通知: the draft notice to the people affected (Rule 8(1) items 1, 2, 4, 5, 9), for the city to
    # review and send; Kinkyu never sends it. Not in the public version.
    notice_draft: str | None = None

    def section(self, key: str) -> Section:
        """The section ``key`` (KeyError when absent)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """Every field as JSON-able data (datetimes as RFC 3339, durations as seconds)."""
        out = _jsonable(self)
        if not isinstance(out, dict):  # pragma: no cover - a dataclass always gives a dict
            raise TypeError("report model did not serialise to an object")
        return out

    def canonical_bytes(self) -> bytes:
        """The bytes the report hash is taken over: canonical JSON of :meth:`to_json` (sorted keys, ASCII)."""
        return canonical_json(self.to_json())

    def sha256(self) -> str:
        """The report hash printed in every rendering's footer: SHA-256 of :meth:`canonical_bytes`."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# -- helpers -----------------------------------------------------------------------------------------

# An account id or a containment target as a report prints it: an id, not prose. A log's writer chooses
# it (an attacker may write a resident's name and telephone number there); the event that carries it is
# in the sealed evidence, so an id of another shape is withheld rather than printed in an official report.
ACCOUNT_MAX_CHARS = 64
# Shorter, an id holds no name and telephone number, and replacing it in a text would garble the rest
# (an id "-" in every date).
_MIN_REPLACED_ID = 3
_ID_SHAPED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\\/:+-]*")


def printable_id(value: str, registered: frozenset[str] = frozenset()) -> str | None:
    """``value`` (an account id, a host, an address from a log) as a report may print it, or None to withhold it.

    Printed when the contract registers it (cut to :data:`ACCOUNT_MAX_CHARS`, with …) or when it is
    shaped like an id: at most :data:`ACCOUNT_MAX_CHARS` ASCII letters, digits, backslash and ``. _ - @ / : +``,
    starting with a letter or digit, that :func:`kinkyu.core.legal.scrub` leaves alone (no e-mail
    address, telephone or long number). A registered id is neutralised; an id-shaped one needs no neutralising.
    """
    if value in registered:
        text = neutralise(value).strip()
        return text if len(text) <= ACCOUNT_MAX_CHARS else text[: ACCOUNT_MAX_CHARS - 1] + "…"
    # The shape is judged on the value itself: neutralising first would print "u10<RLO>42" as a registered u1042.
    if len(value) <= ACCOUNT_MAX_CHARS and _ID_SHAPED.fullmatch(value) and scrub(value) == value:
        return value
    return None


def _free(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    return scrub(text.strip())


def judge(due: datetime | None, done: datetime | None, now: datetime, *, skipped: bool = False) -> Verdict:
    """Whether a deadline was met at ``now``: met/missed when due, done/open without a due time.

    Done on or before the due time is met; done after it, or not done when the
    due time has passed, is missed; not done before it is pending.
    """
    if skipped and done is None:
        return "skipped"
    if due is None:
        return "done" if done is not None else "open"
    if done is not None:
        return "met" if done <= due else "missed"
    return "missed" if now >= due else "pending"


def report_verdict(st: StepRun, now: datetime) -> Verdict:
    """A report step's verdict: its duty (直ちに, 遅滞なく …) is judged on the sending; the receipt is tracked apart.

    A report sent in time is met though the city records its receipt after the due time (a weekend, a
    holiday); not yet sent, it is pending or missed by the due time as any step.
    """
    if st.kind in _REPORT_STEP_KINDS and st.sent_at is not None and st.status != "skipped":
        return judge(st.due, st.sent_at, now)
    return judge(st.due, st.done_at, now, skipped=st.status == "skipped")


def _awaiting_receipt(st: StepRun) -> bool:
    # Sent and not yet received or acknowledged by the city.
    return st.kind in _REPORT_STEP_KINDS and st.sent_at is not None and st.done_at is None and st.status == "sent"


class _Builder:
    """One report's worth of work: the inputs, the language, and the values sections share."""

    def __init__(self, stored: StoredIncident, kind: ReportKind, lang: Lang, now: datetime) -> None:
        self.s = stored
        self.inc = stored.incident
        self.run = stored.run
        self.profile = stored.profile
        self.kind = kind
        self.public = kind == "public"
        self.w = Words(
            lang,
            unit_of(stored.incident.jurisdiction, stored.profile.city.name or None),
            stored.run.playbook.parties if stored.run is not None else None,
        )
        self.lang: Lang = lang
        self.now = now
        self.facts = stored.facts
        self.staff_ids = frozenset(member.id for member in self.profile.staff)
        self._withheld_ids = self._ids_to_withhold()
        self._city_ids = self._city_accounts()
        possible = self.run.possible if self.run is not None else self.inc.origin == "detection"
        self.possible = possible
        # The event as the city's clause names it (a code; the words are the labels').
        self.nature = (
            self.run.nature
            if self.run is not None
            else event_nature(self.profile.jurisdiction, self.inc.kind, list(self.inc.rules))
        )
        self.assessment: Assessment = self._assessment(possible=possible)
        # Whether a party has (or may have, pending a person's confirmation) to report to the PPC: without
        # one, the PPC's dates are shown as what would apply, never as deadlines now due.
        a = self.assessment
        self.ppc_due = any(
            a.reportable_to_ppc(p) or a.provisional_for(p) for p in (ReportingParty.CONTRACTOR, ReportingParty.CITY)
        )
        self.learned = (
            self.run.learned_at if self.run is not None else (self.inc.discovered_at or self.inc.first_event_ts)
        )
        self.first_step = self._first_report_step()
        # The city learned when the first report reached it: its delivery, as the run recorded it
        # (a run stored before it recorded deliveries: the city's acknowledgement).
        city_learned = self.run.ppc.city_learned_at if self.run is not None else None
        if city_learned is None and self.first_step is not None:
            city_learned = self.first_step.done_at
        self.city_learned_at = city_learned
        self.closed = self.run is not None and self.run.closed
        # 「最終報告」 only for a closed incident: a final report asked for before then is the next numbered one.
        self.later_number = self._later_number() if kind == "final" and not self.closed else None
        self.medium = self._medium()
        self.rule8: Rule8Items = self._rule8()
        self.names = names_for(
            self.run,
            self.profile,
            lang=lang,
            incident_kind=self.inc.kind,
            jurisdiction=self.inc.jurisdiction,
            ident=self._printable,
        )

    def _later_number(self) -> int:
        """The number (第N報) of a final report asked for before closure: after the first and each later one.

        Later reports sent before it are the supplements (追完) and the progress reports (処理経過) the run issued.
        """
        if self.run is None:
            return 2
        steps = {s.step_id: s.kind for s in self.run.steps}
        later = sum(
            1
            for e in self.run.timeline
            if e.kind == "report_issued"
            and e.ts <= self.now
            and isinstance(e.data, dict)
            # A supplement names the items still missing and has no due time (the first report's issue has one).
            and (
                ("missing_items" in e.data and "due" not in e.data)
                or steps.get(str(e.data.get("step"))) == "progress_report"
            )
        )
        return 2 + later

    def title_key(self, kind: str) -> tuple[str, dict[str, object]]:
        """The key (``title.<kind>``) and values of this report's title word: 第N報 for a final one before closure."""
        if kind == "final" and self.later_number is not None:
            return "title.later", {"n": self.later_number}
        return f"title.{kind}", {}

    def due(self, ts: datetime | None) -> str:
        """A due time as the report prints it: a closed day (土日・祝日) says so."""
        if ts is None:
            return "－"
        text = self.w.dt(ts)
        day = ts.astimezone(JST).date()
        closed = day.weekday() >= _SATURDAY or is_jp_holiday(day)
        return text + self.w.paren(self.w("dl.closed_day")) if closed else text

    def target(self, ts: datetime | None) -> str:
        """A due time Kinkyu derived from the clause's word (直ちに, 速やかに …): the contractor's own target."""
        return "－" if ts is None else self.w("dl.target", when=self.due(ts))

    def _printable(self, value: str) -> str:
        """An id a sentence names (an account, a measure's target): as the report prints it, else withheld."""
        return self.w("acct.withheld_short") if value in self._withheld_ids else value

    def _assessment(self, *, possible: bool) -> Assessment:
        """The run's assessment (one computation: the live one), unless the report facts add to it."""
        facts = self.facts
        ppc = self.run.ppc if self.run is not None else None
        if ppc is not None and ppc.assessment is not None:
            adds = (
                ppc.datasets is None
                or (facts.distinct_people is not None and ppc.distinct_people is None)
                or (facts.encrypted and not ppc.encrypted)
            )
            if not adds:
                return ppc.assessment
            # The same computation with what people put in the report facts (and the contract's data sets).
            merged = msgspec.structs.replace(
                ppc,
                datasets=ppc.datasets if ppc.datasets is not None else datasets_snapshot(self.profile.datasets),
                distinct_people=ppc.distinct_people if ppc.distinct_people is not None else facts.distinct_people,
                encrypted=ppc.encrypted or facts.encrypted,
            )
            return merged.compute(
                data_items=self.inc.data_items,
                rules=self.inc.rules,
                kind=self.inc.kind,
                records=self.inc.records,
                possible=possible,
            )
        breach = breach_facts_from_incident(
            self.inc,
            self.profile,
            distinct_people=facts.distinct_people,
            encrypted=facts.encrypted,
            possible=possible,
        )
        return assess(breach)

    # -- small helpers

    def step_def(self, st: StepRun) -> Step | None:
        if self.run is None:
            return None
        try:
            return self.run.playbook.step(st.step_id)
        except KeyError:
            return None

    def step_title(self, st: StepRun) -> str:
        step = self.step_def(st)
        if step is None:
            return st.step_id
        return self.w.pick((step.title_ja, step.title_en))

    def _first_report_step(self) -> StepRun | None:
        if self.run is None:
            return None
        for kind in ("first_report", "complaint_report"):
            st = next((s for s in self.run.steps if s.kind == kind), None)
            if st is not None:
                return st
        return None

    def unknown_row(self, label: str) -> Row:
        return Row(label, self.w.unknown, "unknown")

    def withheld_row(self, label: str) -> Row:
        return Row(label, self.w("withheld"), "withheld")

    def text_row(self, label: str, value: str | None) -> Row:
        return Row(label, value, "") if value is not None else self.unknown_row(label)

    def status(self, key: str) -> SectionStatus:
        if self.kind == "public":
            finals = _FINAL_SECTIONS["final"] if self.closed else _FINAL_SECTIONS["progress"]
        else:
            finals = _FINAL_SECTIONS[self.kind]
        return "final" if key in finals else "provisional"

    def section(
        self,
        key: str,
        rows: list[Row] | tuple[Row, ...] = (),
        tables: list[Table] | tuple[Table, ...] = (),
        notes: list[str] | tuple[str, ...] = (),
    ) -> Section:
        status = self.status(key)
        if status == "final" and any(r.state == "unknown" for r in rows):
            # A section still 調査中 is not reported as 確定, even in the final report.
            status = "provisional"
        if key in ATTACHMENT_KEYS:
            number = ATTACHMENT_KEYS.index(key) + 1
            attachment = self.w("letter.attachment", n=number)
        else:
            number = [k for k in SECTION_KEYS if k not in ATTACHMENT_KEYS].index(key) + 1
            attachment = ""
        # A system outage (豊田市 システム停止事故) is no 漏えい等: its data section says what the system holds.
        title_key = "sec.data_outage" if key == "data" and self.nature == "outage" else f"sec.{key}"
        return Section(
            key=key,
            number=number,
            title=self.w(title_key),
            status=status,
            status_label=self.w(f"status.{status}"),
            rows=tuple(rows),
            tables=tuple(tables),
            notes=tuple(notes),
            attachment=attachment,
        )

    def account(self, who: str) -> str:
        """An account id as this (non-public) report prints it: :func:`printable_id`, else （ID省略）."""
        return printable_id(who, self.staff_ids) or self.w("acct.withheld_short")

    def without_withheld_ids(self, text: str) -> str:
        """``text`` (a timeline entry's: it names accounts and targets) with each id the report withholds replaced."""
        for raw in self._withheld_ids:
            text = text.replace(raw, self.w("acct.withheld_short"))
        return text

    def _ids_to_withhold(self) -> tuple[str, ...]:
        """The incident's account ids, people and containment targets that :func:`printable_id` withholds."""
        inc = self.inc
        ids = {inc.actor, inc.reported_by, *(e.who for e in inc.timeline)}
        if self.run is not None:
            ids.update(e.who for e in self.run.timeline)
            ids.update(c.command.target for c in self.run.commands)
        withheld = {
            i for i in ids if i and len(i.strip()) >= _MIN_REPLACED_ID and printable_id(i, self.staff_ids) is None
        }
        return tuple(sorted(withheld, key=len, reverse=True))  # the longest first: one may contain another

    def _city_accounts(self) -> frozenset[str]:
        return _city_accounts(self.s)

    def role_of(self, who: str) -> str:
        """A role for ``who`` (an account or staff id): what a city reads instead of the id (sec-07, city-1)."""
        return _role(self.w, self.profile, self._city_ids, who)

    def reporter(self) -> str:
        if self.inc.origin == "detection":
            return self.w("finder.detection")
        role = self.role_of(self.inc.reported_by) if self.inc.reported_by else None
        return role if role and role != self.w("who.staff") else self.w("finder.staff")

    def user_text(self, text: str | None) -> str | None:
        """A people-supplied text for this kind: screened, or the withheld marker in the public version."""
        value = _free(text)
        if value is None:
            return None
        return self.w("withheld") if self.public else value

    # -- Rule 8

    def _publication_text(self) -> str | None:
        text = self.user_text(self.facts.publication)
        st = next((s for s in self.run.steps if s.kind == "publication"), None) if self.run else None
        if st is not None and st.status == "done" and st.done_at is not None:
            done = self.w("publication.done", when=self.w.day(st.done_at))
            return f"{done} {text}" if text else done
        return text

    def _prevention_text(self) -> str | None:
        text = self.user_text(self.facts.prevention)
        st = next((s for s in self.run.steps if s.kind == "recurrence_prevention"), None) if self.run else None
        status: str | None = None
        if st is not None and st.status == "done" and st.done_at is not None:
            status = self.w("prevention.done", when=self.w.day(st.done_at))
        elif st is not None and st.status == "active":
            status = (
                self.w("prevention.active", due=self.w.day(st.due))
                if st.due is not None
                else self.w("prevention.active_nodue")
            )
        parts = [p for p in (status, text) if p]
        if not parts:
            return None
        # A status without the measures themselves still tells the PPC they are under way.
        return " ".join(parts)

    def _other_text(self) -> str:
        # What was done, for the PPC, in the words the first report's e-mail uses (one function): measures
        # carried out and records preserved. The console's workflow counters are not the item's.
        cmds = self.run.commands if self.run is not None else []
        done = sum(1 for c in cmds if c.status == "done") + len(_measures(self.run, kept=True))
        bundles = self.s.evidence.bundles if self.s.evidence is not None else ()
        evidence_step = next((st for st in self.run.steps if st.kind == "evidence"), None) if self.run else None
        if bundles or (evidence_step is not None and evidence_step.status == "done"):
            evidence = "done"
        elif (self.run is not None and self.run.seals) or (
            evidence_step is not None and evidence_step.status == "active"
        ):
            evidence = "started"
        else:
            evidence = "none"
        return other_text(self.lang, measures=done, evidence=evidence, extra=self.user_text(self.facts.other))

    def _medium(self) -> str | None:
        inc = self.inc
        medium = self.user_text(self.facts.medium)
        if medium is None and inc.origin == "detection":
            # A detection is of electronic data by definition; the system name is internal.
            medium = (
                self.w("medium.electronic")
                if self.public or not inc.system
                else self.w("medium.electronic_system", system=inc.system)
            )
        return medium

    def _rule8(self) -> Rule8Items:
        inc = self.inc
        medium = self.medium
        # A filing's own description is sealed evidence: only what people supply for the report is shown.
        course = self.user_text(self.facts.course)
        return rule8_items(
            occurred_at=inc.first_event_ts,
            discovered_at=inc.discovered_at or self.learned,
            kind=inc.kind,
            rules=inc.rules,
            who_found=self.reporter(),
            assessment=self.assessment,
            contractor_involved=True,
            course=course,
            data_items=inc.data_items,
            medium=medium,
            cause=self.user_text(self.facts.cause),
            cause_party=self.user_text(self.facts.cause_party),
            secondary_harm=self.user_text(self.facts.secondary_harm),
            response=self.user_text(self.facts.response),
            publication=self._publication_text(),
            prevention=self._prevention_text(),
            other=self._other_text(),
            possible=self.possible,
            nature=self.nature,
            other_notice=self.user_text(self.facts.other),
            unit=self.w.unit,
            parties=self.w.parties,
        )

    def rule8_text(self, number: int) -> tuple[str, bool]:
        item = self.rule8.items[number - 1]
        if not item.known:
            return self.w.unknown, False
        text = item.text(self.lang)
        # rule8_items words a partly known item 1 with its own unknown marker; make it ours.
        if self.lang == "en":
            text = text.replace("under investigation", self.w.unknown)
        return text, True

    def rule8_row(self, number: int, label: str) -> Row:
        text, known = self.rule8_text(number)
        if not known:
            return self.unknown_row(label)
        return Row(label, text, "withheld" if text == self.w("withheld") else "")


# -- sections ----------------------------------------------------------------------------------------


def _title(b: _Builder, kind: str) -> str:
    """The report's title, naming the event as the city's clause does (システム停止事故, 契約違反のおそれ, …)."""
    nature = b.w.pick(nature_label(b.nature, possible=b.possible, parties=b.w.parties))
    if kind == "public":  # what a city publishes is titled by the matter: 「…の事故について（公表用）」
        return b.w("title.public_nature", nature=nature)
    key, values = b.title_key(kind)
    return b.w("title.nature", title=b.w(key, **values), nature=nature)


def _after_contract(b: _Builder) -> str:
    """The duties after the contract ended: continuing only where the city's clause says so (Toyota's does not)."""
    clause = b.run.playbook.after_contract_end if b.run is not None else None
    if clause is None:
        return b.w("contract.ended_no_clause")
    jurisdiction = b.run.jurisdiction if b.run is not None else ""
    if clause.scope == "confidentiality":
        return b.w("contract.ended_confidentiality", article=cite(jurisdiction, clause.article))
    return b.w("contract.ended", article=cite(jurisdiction, clause.article))


def _contract(b: _Builder) -> Section:
    w, p = b.w, b.profile
    city = p.city.name + (f" {p.city.department}" if p.city.department else "")
    rows = [
        Row(w("contract.city"), city),
        # The contractor by its name (its org code is Kinkyu's, not a name the city knows it by).
        Row(w("contract.contractor"), p.contractor.name),
        Row(w("contract.title"), p.title),
        Row(w("contract.id"), p.contract_id),
        Row(
            w("contract.period"),
            w(
                "contract.period_value",
                start=doc_date(_midday(p.starts), b.lang, weekday=False),
                end=doc_date(_midday(p.ends), b.lang, weekday=False),
            )
            + (w.paren(_after_contract(b)) if b.run is not None and b.run.contract_ended else ""),
        ),
    ]
    if b.run is not None:
        city_name = CITY_NAMES.get(b.run.jurisdiction, b.run.jurisdiction)
        document = document_name(b.run.playbook, b.lang)
        rows.append(Row(w("contract.document"), document if city_name in document else f"{city_name} {document}"))

    # A profile names the person responsible by the catalogue's word (作業責任者); the document uses the
    # contract's (取扱責任者, 個人情報受託管理責任者), as its sender block does.
    default_title = party_fields(b.lang, "市")["responsible_role"]
    own_title = party_fields(b.lang, "市", b.w.parties)["responsible_role"]

    def people(contacts: list[Any], *, contractor: bool = False) -> str:
        if not contacts:
            return w("none")
        roles = [own_title if contractor and c.role == default_title else c.role for c in contacts]
        if b.public:
            # Roles only: staff names are internal.
            return w.join(roles)
        return w.join(
            [f"{c.name}（{r}）" if b.lang == "ja" else f"{c.name} ({r})" for c, r in zip(contacts, roles, strict=True)]
        )

    rows.append(Row(w("contract.city_contacts"), people(list(p.city.contacts))))
    rows.append(Row(w("contract.contractor_contacts"), people(list(p.contractor_contacts), contractor=True)))
    return b.section("contract", rows)


def _midday(d: date) -> datetime:
    # A calendar date as a moment safely inside that Japan day, for the date formatter.
    return datetime(d.year, d.month, d.day, 12, tzinfo=JST)


def _when_where(b: _Builder) -> Section:
    w, inc = b.w, b.inc
    discovered = inc.discovered_at or b.learned
    rows = [
        Row(w("when.occurred"), w.dt(inc.first_event_ts)),
        Row(w("when.discovered"), w.dt(discovered)),
        Row(w("when.learned"), w.dt(b.learned)),
        Row(w("when.lag"), w.span(discovered - inc.first_event_ts)),
    ]
    if inc.last_event_ts != inc.first_event_ts:
        rows.append(Row(w("when.last"), w.dt(inc.last_event_ts)))
    label = w("when.place")
    if b.public:
        # A place label is typed by a person, and a system name is internal.
        rows.append(b.withheld_row(label) if inc.place or inc.system else b.unknown_row(label))
    elif inc.place:
        # A site code or a checked non-personal label (kinkyu.core.freetext.place_label); anything else
        # a filing said about the place is in its sealed evidence, and reads 調査中 here.
        rows.append(Row(label, inc.place))
    elif inc.system:
        rows.append(Row(label, w("when.system", system=inc.system)))
    else:
        rows.append(b.unknown_row(label))
    return b.section("when_where", rows)


def _data(b: _Builder) -> Section:
    w, inc = b.w, b.inc
    rows: list[Row] = []
    if inc.data_items:
        ja, en = item_labels(inc.data_items)
        shown = w.join(list(en if b.lang == "en" else ja))
        if inc.data_items_withheld:
            shown = w.join([shown, w("data.withheld", count=inc.data_items_withheld)])
        rows.append(Row(w("data.items"), shown))
    elif inc.data_items_withheld:
        rows.append(Row(w("data.items"), w("data.withheld", count=inc.data_items_withheld), "unknown"))
    else:
        contracted = sorted({f for ds in b.profile.datasets.values() for f in ds.fields})
        if contracted:
            labels = [w.pick(ITEM_LABELS.get(f, (f, f))) for f in contracted]
            rows.append(Row(w("data.items"), w("data.contract_items", items=w.join(labels)), "unknown"))
        else:
            rows.append(b.unknown_row(w("data.items")))
    rows.append(b.text_row(w("data.medium"), b.medium))
    rows.append(
        Row(w("data.records"), w("data.records_value", n=f"{inc.records:,}"))
        if inc.records > 0
        else b.unknown_row(w("data.records"))
    )
    rows.append(b.rule8_row(3, w("data.people")))
    sensitive = b.assessment.contractor.result(Trigger.SENSITIVE)
    rows.append(Row(w("data.sensitive"), sensitive.reason(w.lang)))
    return b.section("data", rows)


def facts_sentence(b: _Builder) -> str | None:
    """What happened, from the facts on record only (when, where, what kind, which items, how many).

    Never a filing's own words (sealed) nor any personal data: codes and counts, as the report shows them.
    None for a detection (its sentence is the detection's) or when not even the kind is known.
    """
    w, inc = b.w, b.inc
    if inc.origin == "detection":
        return None
    place = None if b.public else inc.place or (w("when.system", system=inc.system) if inc.system else None)
    items = ""
    if inc.data_items:
        # In the catalogue's order (氏名 before 住所), as forms list them.
        order = list(ITEM_LABELS)
        codes = sorted(set(inc.data_items), key=lambda c: (order.index(c) if c in order else len(order), c))
        items = ("・" if b.lang == "ja" else ", ").join(w.pick(ITEM_LABELS.get(c, (c, c))) for c in codes)
    what = (
        # An outage is the system's, whatever personal information it holds.
        w("facts.what_outage", kind=w.pick(kind_label(inc.kind)))
        if b.nature == "outage"
        else w(
            "facts.what",
            items=w("facts.items", items=items) if items else "",
            count=w("facts.count", n=f"{inc.records:,}") if inc.records > 0 else "",
            kind=w.pick(kind_label(inc.kind)),
        )
    )
    return w(
        "facts.sentence",
        when=w.dt(inc.first_event_ts),
        where=w("facts.where", place=place) if place else "",
        what=what,
        discovered=w.dt(inc.discovered_at or b.learned),
        reporter=b.reporter(),
    )


def _circumstances(b: _Builder) -> Section:
    w, inc = b.w, b.inc
    rows = [Row(w("circ.kind"), w.pick(kind_label(inc.kind)))]
    if inc.rules:
        rows.append(Row(w("circ.rules"), w.join([w.pick(rule_label(r)) for r in inc.rules])))
    label = w("circ.situation")
    rule_text = w.join([w.pick(rule_label(r)) for r in inc.rules])
    if inc.origin == "detection":
        system = inc.system if inc.system and not b.public else w("circ.detected_system")
        rows.append(Row(label, w("circ.detected_text", system=system, rules=rule_text, events=inc.event_count)))
    elif b.public:
        rows.append(b.withheld_row(label) if inc.has_summary or b.facts.course else b.unknown_row(label))
    elif (course := _free(b.facts.course)) is not None:
        rows.append(Row(label, course))
    elif (known := facts_sentence(b)) is not None:
        # What the record knows (when, where, what, how many) is said at once; only the rest is 調査中.
        # The filing's own words are sealed evidence (the console's details page reads them back).
        rest = w("circ.sealed") if inc.has_summary else w("facts.rest_unknown")
        rows.append(Row(label, f"{known}{rest}" if b.lang == "ja" else f"{known} {rest}"))
    else:
        rows.append(b.unknown_row(label))
    if inc.origin == "detection" or inc.finding_count:
        # The access log's share; a filing's one event is the filing itself, which says nothing to the city.
        rows.append(Row(w("circ.scale"), w("circ.scale_value", events=inc.event_count, findings=inc.finding_count)))
    if inc.actor:
        actor = None if b.public else printable_id(inc.actor, b.staff_ids)
        if b.public:
            rows.append(b.withheld_row(w("circ.actor")))
        elif actor is None:
            rows.append(Row(w("circ.actor"), w("acct.withheld"), "withheld"))
        else:
            rows.append(Row(w("circ.actor"), actor))
    # By role only: an account id (sec-07) means nothing to the city and names no one it could call.
    rows.append(Row(w("circ.reporter"), b.reporter()))
    rows.append(
        Row(
            w("circ.severity"),
            w.pick(SEVERITY_LABELS.get(inc.severity.value, (inc.severity.value, inc.severity.value))),
        )
    )
    if b.run is not None:
        rows.append(Row(w("circ.triage"), w.of(TRIAGE_LABELS, b.run.triage)))
    rows.append(b.rule8_row(4, w("circ.cause")))
    return b.section("circumstances", rows)


def _detected_sentence(b: _Builder) -> str:
    w, inc = b.w, b.inc
    system = inc.system if inc.system and not b.public else w("circ.detected_system")
    rule_text = w.join([w.pick(rule_label(r)) for r in inc.rules])
    detected = w("circ.detected_text", system=system, rules=rule_text, events=inc.event_count)
    return w("facts.detected", when=w.dt(inc.first_event_ts), detected=detected)


def _single(b: _Builder, key: str, number: int, label: str, extra: list[Row] | None = None) -> Section:
    return b.section(key, [b.rule8_row(number, label), *(extra or [])])


def _measures(run: PlaybookRun | None, *, kept: bool) -> list[str]:
    """The measures people recorded for containment steps: taken (``kept``), or the reasons none applies."""
    if run is None:
        return []
    recorded = [st.measure for st in run.steps if st.kind == "containment" and st.measure]
    # "commands": the step was done by its commands, which the report lists one by one.
    taken = [m for m in recorded if m != "commands" and not m.startswith("none:")]
    return taken if kept else [m.removeprefix("none:") for m in recorded if m.startswith("none:")]


def _containment(b: _Builder) -> Section:
    w = b.w
    run = b.run
    rows: list[Row] = []
    tables: list[Table] = []
    notes: list[str] = []
    if run is None:
        rows.append(b.unknown_row(w("cont.summary")))
        return b.section("containment", rows)
    cmds = run.commands
    counts = {s: sum(1 for c in cmds if c.status == s) for s in ("done", "proposed", "failed", "declined")}
    if cmds:
        # Without a command the counts are all 0: the measure a person recorded (or the note) says what was done.
        rows.append(Row(w("cont.summary"), w("cont.summary_value", total=len(cmds), **counts)))
    shown = [st for st in run.steps if st.kind == "containment"]
    if b.nature == "outage":
        # An outage's own containment (切替え等) when the playbook has one: account suspension is no outage's.
        own = [st for st in shown if (d := b.step_def(st)) is not None and d.applies_to is not None]
        shown = own or shown
    for st in shown:
        verdict = judge(st.due, st.done_at, b.now, skipped=st.status == "skipped")
        when = w.paren(w.dt(st.done_at)) if st.done_at else ""
        rows.append(Row(b.step_title(st), w(f"verdict.{verdict}") + when))
    # A step done by a person's record says what was recorded: never 完了 above "no measure".
    taken = _measures(run, kept=True)
    rows.extend(Row(w("cont.measure"), b.names.code("measure", m)) for m in taken)
    reasons = _measures(run, kept=False)
    rows.extend(Row(w("cont.no_measure"), b.names.code("measure_reason", r) if r else w.unknown) for r in reasons)
    if cmds:
        table_rows: list[tuple[str, ...]] = []
        classes: list[str] = []
        for c in cmds:
            cmd = c.command
            target = w.of(TARGET_LABELS, cmd.target_type)
            if not b.public:
                target = f"{target} {b.account(cmd.target)}"
            table_rows.append(
                (
                    w.of(ACTION_LABELS, cmd.action),
                    target,
                    w("cont.auto") if cmd.auto else w("cont.approval"),
                    w.of(COMMAND_STATUS, c.status),
                    w.dt(c.result_at) if c.result_at else "－",
                )
            )
            classes.append(c.status)
        tables.append(
            Table(
                caption=w("sec.containment"),
                columns=(w("cont.action"), w("cont.target"), w("cont.mode"), w("cont.result"), w("cont.when")),
                rows=tuple(table_rows),
                classes=tuple(classes),
            )
        )
    elif not taken:
        notes.append(w("cont.none"))
    return b.section("containment", rows, tables, notes)


def _deadlines(b: _Builder) -> list[Deadline]:
    run = b.run
    if run is None:
        return []
    out: list[Deadline] = []
    for st in run.steps:
        step = b.step_def(st)
        if st.kind in _INSTRUCTION_STEP_KINDS:
            # The step stands for the city's instructions: it says what they were and whether they were done.
            out.append(_instruction_deadline(b, st, step))
            continue
        skipped = st.status == "skipped"
        label_override: str | None = None
        if st.status == "waiting":
            verdict: Verdict = "waiting"
        elif st.kind == "publication" and st.status == "available":
            verdict = "na"
            label_override = b.w("publication.city_decides")
        else:
            verdict = report_verdict(st, b.now) if not skipped else judge(st.due, st.done_at, b.now, skipped=True)
        label = label_override or b.w(f"verdict.{verdict}")
        if _awaiting_receipt(st):
            # This very document may be that report: sent, its receipt awaited, never 未了.
            label = b.w("verdict.sent_met" if verdict == "met" else "verdict.sent_late")
        elif verdict == "met" and st.due is not None and st.done_at is not None and st.done_at > st.due:
            label = b.w("verdict.sent_met_received_later")
        if st.kind == "triage" and verdict == "skipped" and run.triage == "not_needed":
            # A filing is an incident as filed: nothing was left undone.
            label = b.w("verdict.triage_not_needed")
        out.append(
            Deadline(
                key=st.step_id,
                kind=st.kind,
                title=b.step_title(st),
                article=step.clause.article if step is not None else "",
                urgency=step.urgency if step is not None else None,
                due=st.due,
                sent=st.sent_at if st.kind in _REPORT_STEP_KINDS else None,
                done=st.done_at,
                verdict=verdict,
                verdict_label=label,
                elapsed=(st.done_at - b.learned) if st.done_at is not None else None,
            )
        )
    return out


# Steps whose work is the city's instructions (甲の指示) and report requests, each recorded as a task of the step.
_INSTRUCTION_STEP_KINDS = frozenset({"instructions", "report_request"})


def _instruction_deadline(b: _Builder, st: StepRun, step: Step | None) -> Deadline:
    """An instruction step as its instructions make it: none given, some open, or all done (when the last was).

    The run keeps the step open while instructions may come and skips it at closure; the instructions it
    received are its tasks, so those say whether the step was done (a stored run's too).
    """
    w = b.w
    tasks = [t for t in (b.run.tasks if b.run is not None else []) if t.step_id == st.step_id]
    tasks = [t for t in tasks if t.status != "cancelled"]
    due: datetime | None = None
    done: datetime | None = None
    if not tasks:
        verdict: Verdict = "na"
        label = w("verdict.no_request" if st.kind == "report_request" else "verdict.no_instruction")
    else:
        open_dues = [t.due for t in tasks if t.status == "open" and t.due is not None]
        if any(t.status == "open" for t in tasks):
            due = min(open_dues) if open_dues else None
            verdict = judge(due, None, b.now)
        else:
            done = max(t.done_at for t in tasks if t.done_at is not None) if any(t.done_at for t in tasks) else None
            verdicts = [judge(t.due, t.done_at, b.now) for t in tasks]
            verdict = "missed" if "missed" in verdicts else "met" if "met" in verdicts else "done"
            due = tasks[0].due if len(tasks) == 1 else None
        label = w("dl.instructions_value", verdict=w(f"verdict.{verdict}"), n=len(tasks))
    return Deadline(
        key=st.step_id,
        kind=st.kind,
        title=b.step_title(st),
        article=step.clause.article if step is not None else "",
        urgency=step.urgency if step is not None else None,
        due=due,
        sent=None,
        done=done,
        verdict=verdict,
        verdict_label=label,
        elapsed=(done - b.learned) if done is not None else None,
    )


def _clauses(b: _Builder, deadlines: list[Deadline]) -> Section:
    w, inc, run = b.w, b.inc, b.run
    tables: list[Table] = []
    rows: list[Row] = []
    notes: list[str] = []
    # Clauses engaged: those the detections cite, then those the playbook's steps implement.
    seen: dict[str, tuple[str, list[str]]] = {}
    for clause in inc.clauses:
        rules = [r for r in inc.rules if r]
        basis = w.join([w("cl.basis_rule", rule=w.pick(rule_label(r))) for r in rules]) if rules else ""
        seen.setdefault(clause.article, (clause.label, []))[1].append(basis)
    if run is not None:
        for st in run.steps:
            step = b.step_def(st)
            if step is None:
                continue
            article = cite(inc.jurisdiction, step.clause.article)
            seen.setdefault(article, (step.clause.quote, []))[1].append(
                w("cl.basis_step", step=w.pick((step.title_ja, step.title_en)))
            )
    if seen:
        tables.append(
            Table(
                caption=w("cl.article"),
                columns=(w("cl.article"), w("cl.content"), w("cl.basis")),
                rows=tuple((article, label, w.join([x for x in bs if x])) for article, (label, bs) in seen.items()),
            )
        )
    if run is None:
        notes.append(w("dl.no_run"))
        return b.section("clauses", rows, tables, notes)
    first = b.first_step
    if first is None:
        rows.append(Row(w("dl.first_sent"), w("dl.first_none")))
    else:
        sent = first.sent_at
        step = b.step_def(first)
        due_text = ""
        if first.due is not None:
            # The clause's word is the duty; the hours Kinkyu derives from it are the contractor's own target.
            word = step.urgency if step is not None and step.urgency else ""
            target = w("dl.target_within", span=w.span(first.due - b.learned))
            due_text = w.paren(
                f"{word}。{target}" if word and b.lang == "ja" else f"{word}; {target}" if word else target
            )
        # The duty is the sending; the city's acknowledgement is when it was known to have arrived.
        verdict = report_verdict(first, b.now)
        rows.append(
            Row(
                w("dl.first_sent"),
                (w.span(sent - b.learned) if sent else w("dl.not_yet")) + due_text + " " + w(f"verdict.{verdict}"),
            )
        )
        done = first.done_at
        rows.append(Row(w("dl.first_ack"), w.span(done - b.learned) if done else w("dl.awaiting_receipt")))
    table_rows: list[tuple[str, ...]] = []
    classes: list[str] = []
    for d in deadlines:
        table_rows.append(
            (
                d.title,
                cite(inc.jurisdiction, d.article) + (f" {d.urgency}" if d.urgency else ""),
                # A step's due time is derived by the contractor (from the clause's word or its own policy);
                # a city instruction's is the city's.
                b.due(d.due) if d.kind in _INSTRUCTION_STEP_KINDS else b.target(d.due),
                w.dt(d.sent) if d.sent else "－",
                w.dt(d.done) if d.done else "－",
                w.span(d.elapsed) if d.elapsed is not None else "－",
                d.verdict_label,
            )
        )
        classes.append(d.verdict)
    tables.append(
        Table(
            caption=w("dl.step"),
            columns=(
                w("dl.step"),
                w("dl.clause"),
                w("dl.due"),
                w("dl.sent"),
                w("dl.done"),
                w("dl.elapsed"),
                w("dl.verdict"),
            ),
            rows=tuple(table_rows),
            classes=tuple(classes),
        )
    )
    tasks = run.tasks
    if tasks:
        verdicts = [judge(t.due, t.done_at, b.now, skipped=t.status == "cancelled") for t in tasks]
        rows.append(
            Row(
                w("dl.tasks"),
                w(
                    "dl.tasks_value",
                    total=len(tasks),
                    met=sum(1 for v in verdicts if v in {"met", "done"}),
                    missed=sum(1 for v in verdicts if v == "missed"),
                    open=sum(1 for t in tasks if t.status == "open"),
                    cancelled=sum(1 for t in tasks if t.status == "cancelled"),
                ),
            )
        )
        if not b.public:
            # Task ids and titles may carry event ids: the public version gives the counts only.
            tables.append(
                Table(
                    caption=w("dl.tasks"),
                    columns=(w("dl.task"), w("dl.owner"), w("dl.due"), w("dl.done"), w("dl.verdict")),
                    rows=tuple(
                        (
                            b.names.task(t.task_id),
                            b.names.code("owner", t.owner),
                            b.due(t.due) if t.source in {"city_instruction", "report_request"} else b.target(t.due),
                            w.dt(t.done_at) if t.done_at else "－",
                            w(f"verdict.{v}"),
                        )
                        for t, v in zip(tasks, verdicts, strict=True)
                    ),
                    classes=tuple(verdicts),
                )
            )
    notes.append(w("legend"))
    return b.section("clauses", rows, tables, notes)


def _party_rows(b: _Builder, pa: PartyAssessment, label_key: str) -> tuple[Row, Table]:
    w = b.w
    a = b.assessment
    reportable = a.reportable_to_ppc(pa.party)
    if a.encrypted_exempt:
        verdict = w("ppc.encrypted")
    elif reportable:
        names = [w.pick((t.label_ja, t.label_en)) for t in pa.fired] or [w("none")]
        verdict = w("ppc.reportable", triggers=w.join(names))
    else:
        verdict = w("ppc.not_reportable")
    if not a.encrypted_exempt and pa.provisional and a.override_for(pa.party) is None:
        # Inferred from a detection rule: shown, and counted only once a person confirms it at triage.
        names = [w.pick((t.label_ja, t.label_en)) for t in pa.provisional]
        verdict += w("ppc.provisional", triggers=w.join(names))
    override = a.override_for(pa.party)
    if override is not None:
        decided = w("ppc.decided_yes") if override.reportable else w("ppc.not_reportable")
        verdict += w("ppc.override", verdict=decided)
    table = Table(
        caption=w(label_key),
        columns=(w("ppc.trigger"), w("ppc.fired"), w("ppc.reason")),
        rows=tuple(
            (
                w.pick((t.trigger.label_ja, t.trigger.label_en)),
                (w("ppc.provisional_mark") if t.provisional else w("yes")) if t.fired else w("no"),
                t.reason(w.lang),
            )
            for t in pa.triggers
        ),
        classes=tuple("fired" if t.fired else "" for t in pa.triggers),
    )
    return Row(w(label_key), verdict), table


def _ppc_not_applicable(b: _Builder) -> Section:
    """A stopped system or a complaint is no 漏えい等 of personal data: nothing to assess for the PPC.

    Until a person finds personal data involved, and the event's nature changes with it.
    """
    nature = b.w.pick(nature_label(b.nature, possible=b.possible, parties=b.w.parties))
    return b.section("ppc", [Row(b.w("ppc.party_city"), b.w("ppc.not_applicable", nature=nature))], [])


def _contractor_state(b: _Builder, status: ContractorStatus | None) -> str:
    """Where the contractor's own report to the city stands (the PPC Q&A's release), in a sentence."""
    w = b.w
    if status is None:
        return w.unknown
    if status.state is ContractorState.RELEASED and status.reported_at is not None:
        released = w("ppc.state_released", reported=w.dt(status.reported_at))
        return released + w("ppc.state_late") if status.reported_late else released
    # Sent but not yet acknowledged is not "not reported": the city's receipt is what is awaited.
    clock = b.run.clock_step() if b.run is not None else None
    sent = clock.sent_at if clock is not None else None
    overdue = status.state is ContractorState.OVERDUE
    if sent is not None:
        return w("ppc.state_sent_overdue" if overdue else "ppc.state_sent", sent=w.dt(sent))
    return w("ppc.state_overdue" if overdue else "ppc.state_pending")


def _ppc(b: _Builder) -> Section:
    if b.nature not in PERSONAL_DATA_NATURES:
        return _ppc_not_applicable(b)
    w = b.w
    rows: list[Row] = []
    tables: list[Table] = []
    row, table = _party_rows(b, b.assessment.contractor, "ppc.party_contractor")
    rows.append(row)
    tables.append(table)
    row, table = _party_rows(b, b.assessment.city, "ppc.party_city")
    rows.append(row)
    tables.append(table)
    # The contractor's clock: its report to the city, due by the first-report step's word.
    first = b.first_step
    step = b.step_def(first) if first is not None else None
    within = (
        b.run.policy.within(step.urgency)
        if b.run is not None and step is not None and step.urgency is not None
        else DEFAULT_CONTRACTOR_WITHIN
    )
    reported = b.city_learned_at
    try:
        status: ContractorStatus | None = contractor_status(b.learned, now=b.now, reported_at=reported, within=within)
    except CalendarRangeError:
        status = None  # the due time is past datetime's range: 調査中 in the report, not a report that fails
    state = _contractor_state(b, status)
    word = step.urgency if step is not None and step.urgency else "直ちに"
    rows.append(
        Row(
            w("ppc.contractor_clock"),
            w(
                "ppc.contractor_clock_value",
                due=w.dt(status.due_at if status is not None else None),
                word=word,
                state=state,
            ),
        )
    )
    # The city's clock starts when its staff know: when the first report reached it.
    try:
        city_learned = learned_date(reported) if reported is not None else None
        dl = ppc_deadlines(city_learned, improper_purpose=b.assessment.improper_purpose) if city_learned else None
    except CalendarRangeError:
        city_learned, dl = None, None  # no calendar answers for that day: 調査中, as the run's timeline says
    if reported is not None and dl is None:
        rows.append(Row(w("ppc.city_clock"), w.unknown))
    elif city_learned is None or dl is None:
        pending = "ppc.city_clock_pending" if b.ppc_due else "ppc.city_clock_none_pending"
        rows.append(Row(w("ppc.city_clock"), w(pending, days=b.assessment.final_report_days)))
    else:
        rows.append(
            Row(
                w("ppc.city_clock"),
                w(
                    # Neither party has to report: the dates are what would apply, not deadlines now due.
                    "ppc.city_clock_value" if b.ppc_due else "ppc.city_clock_none",
                    learned=w.day(_midday(city_learned)),
                    # One day when the window's first and last days meet (a holiday moved the first).
                    prelim=w.day(_midday(dl.preliminary_due))
                    if dl.preliminary_reminder == dl.preliminary_due
                    else w(
                        "ppc.range",
                        start=w.day(_midday(dl.preliminary_reminder)),
                        end=w.day(_midday(dl.preliminary_due)),
                    ),
                    final_due=w.day(_midday(dl.final_due)),
                    days=dl.final_days,
                ),
            )
        )
    missing = [w.pick((i.label_ja, i.label_en)) for i in b.rule8.missing()]
    rows.append(Row(w("ppc.missing"), w.join(missing) if missing else w("ppc.complete"), "unknown" if missing else ""))
    items: list[tuple[str, ...]] = []
    classes: list[str] = []
    for item in b.rule8.items:
        text, known = b.rule8_text(item.number)
        items.append((str(item.number), w.pick((item.label_ja, item.label_en)), text))
        classes.append("" if known else "unknown")
    tables.append(
        Table(
            caption=w("sec.ppc"),
            columns=(w("ppc.no"), w("ppc.item"), w("ppc.value")),
            rows=tuple(items),
            classes=tuple(classes),
            col_classes=("num", "label", "pre"),
        )
    )
    if b.public:
        # The nine items, but not our assessment of each party's duty: whether the city reports to the PPC
        # is the city's to say when it publishes.
        return b.section("ppc", [Row(w("ppc.public_label"), w("ppc.public_value"))], (tables[2],))
    # The nine items go first: they are what the city copies into its own report.
    return b.section("ppc", rows, (tables[2], tables[0], tables[1]))


def merged_timeline(incident: Incident, run: PlaybookRun | None) -> list[TimelineEntry]:
    """Every timeline entry once, oldest first.

    The run's timeline holds everything the playbook did and every follow-up
    (re-logged as it was applied); the incident's adds the findings and the
    filing, which the run does not copy. Without a run the incident's is all there is.
    """
    if run is None:
        entries = list(incident.timeline)
    else:
        entries = [e for e in incident.timeline if e.kind in {"finding", "filed"}] + list(run.timeline)
    return sorted(entries, key=lambda e: e.ts)  # stable: same-time entries keep their logged order


def _public_what(b: _Builder, e: TimelineEntry) -> str:
    # The public version says what kind of thing happened, from categories only: never `what`
    # (it names accounts, targets, task and event ids).
    w = b.w
    data = e.data if isinstance(e.data, dict) else {}
    if e.kind == "finding" and isinstance(data.get("rule"), str):
        return w.pick(rule_label(data["rule"]))
    if e.kind == "filed":
        return w.pick(kind_label(b.inc.kind))
    if e.kind == "state_changed" and isinstance(data.get("to"), str):
        return f"{w.of(STATE_LABELS, str(data.get('from', '')))} → {w.of(STATE_LABELS, data['to'])}"
    if e.kind == "containment_proposed" and isinstance(data.get("action"), str):
        return w.of(ACTION_LABELS, data["action"])
    task_id = data.get("task_id")
    if e.kind in {"task_opened", "task_done"} and isinstance(task_id, str):
        # The task's own title (from codes, never a person's text): not the step it belongs to.
        return b.names.task(task_id)
    step_id = data.get("step")
    if isinstance(step_id, str) and b.run is not None:
        st = b.run.step(step_id)
        if st is not None:
            return b.step_title(st)
    # The kind column already says what happened; repeating it would be a row without content.
    return w("withheld")


def _city_words(b: _Builder, e: TimelineEntry) -> tuple[str, str] | None:
    """The kind and sentence of an entry the city reads, where the staff's words would not do.

    The console's sentences name internal states (状態: A → B) and tell staff what to record; the
    city's document says what happened instead. None: the entry's own sentence serves.
    """
    w = b.w
    data = e.data if isinstance(e.data, dict) else {}
    if e.kind == "state_changed":
        key = {
            ("new", "responding"): "started",
            ("triage", "responding"): "started",
            ("new", "triage"): "triage",
            ("closed", "responding"): "reopened",
        }.get((str(data.get("from")), str(data.get("to"))))
        if data.get("to") == "closed":
            key = "closed"
        return (w("tlc.kind.response"), w(f"tlc.{key}")) if key else None
    if e.kind == "measure_needed":
        return w("tlc.kind.containment"), w("tlc.measure_pending")
    if e.kind == "resolution":
        return w("tlc.kind.closure"), w("tlc.closure_asked")
    if e.kind == "closure_refused":
        return w("tlc.kind.closure"), w("tlc.closure_held")
    if e.kind == "playbook_started":
        if b.inc.origin == "detection":
            return w("tlc.kind.response"), w("tlc.response_started_detection")
        return w("tlc.kind.response"), w("tlc.response_started", kind=w.pick(kind_label(b.inc.kind)))
    return None


def _timeline(b: _Builder, chart: Chart) -> Section:
    w = b.w
    entries = merged_timeline(b.inc, b.run)
    rows: list[tuple[str, ...]] = []
    for e in entries:
        # A role, never the account id: the city reads 「貴市の担当者」, not city-1.
        who = b.role_of(e.who)
        city = _city_words(b, e)
        if city is not None:
            kind_text, what = city
        else:
            what = _public_what(b, e) if b.public else (_free(describe(e.kind, e.data, e.what, b.names)) or "")
            data = e.data if isinstance(e.data, dict) else {}
            kind_text = w.of(ENTRY_KINDS, "receipt_awaited" if receipt_awaited(e.kind, data, e.what) else e.kind)
        if b.public and what == kind_text:  # 「証拠保全 | 証拠保全」: a row that only repeats its kind
            what = w("withheld")
        rows.append((w.dt(e.ts), who, kind_text, what))
    phases_shown = _phases_shown(b, chart)
    phases = Table(
        caption=w("tl.phases"),
        columns=(w("tl.phases"), w("tl.start"), w("tl.end"), w("dl.due"), w("dl.verdict")),
        rows=tuple(
            (
                p.label + (w.paren(p.note) if p.note else ""),
                w.dt(p.start) if p.start else "－",
                w.dt(p.end) if p.end else "－",
                b.target(p.due),
                p.verdict_label,
            )
            for p in phases_shown
        ),
        classes=tuple(p.verdict for p in phases_shown),
        col_classes=("", "when", "when", "when", ""),
    )
    markers = Table(
        caption=w("tl.markers"),
        columns=("#", w("tl.marker"), w("tl.when")),
        # The city's PPC deadlines are days: the day, without a time.
        rows=tuple(
            (str(i), m.label, w("dl.by_day", day=w.day(m.at)) if m.key in _DAY_MARKERS else w.dt(m.at))
            for i, m in enumerate(chart.markers, 1)
        ),
        col_classes=("num", "", "when"),
    )
    full = Table(
        caption=w("tl.count", n=len(entries)),
        columns=(w("tl.when"), w("tl.who"), w("tl.kind"), w("tl.what")),
        rows=tuple(rows),
        col_classes=("when", "who", "kind", "what"),
    )
    notes = [w("legend")] if entries else [w("tl.empty"), w("legend")]
    return b.section("timeline", [], (phases, markers, full), notes)


def _phases_shown(b: _Builder, chart: Chart) -> list[Phase]:
    """The phases as the table lists them: a first report that is the written one is one row (第一報（書面）)."""
    written = next((p for p in chart.phases if p.key == "written_report"), None)
    if written is None or written.note != b.w("phase.written_in_first"):
        return list(chart.phases)
    return [
        replace(p, label=p.label + b.w.paren(b.w("phase.in_writing"))) if p.key == "first_report" else p
        for p in chart.phases
        if p is not written
    ]


def _evidence(b: _Builder) -> Section:
    w = b.w
    ev = b.s.evidence
    if ev is None:
        return b.section("evidence", [Row(w("ev.summary"), w("ev.none"))])
    rows = [
        Row(w("ev.summary"), w("ev.summary_value", n=len(ev.bundles), items=sum(x.items for x in ev.bundles))),
    ]
    if ev.chain_status == "intact" and ev.entries:
        # "Intact" without the keys only means the hashes agree: the wording says which it is.
        label = {"keyed": "ev.chain_intact", "legacy": "ev.chain_intact_legacy"}.get(
            ev.authentication, "ev.chain_intact_unchecked"
        )
        chain = w(label, entries=ev.entries, seq=ev.head_seq, hash=ev.head_hash)
        state = "" if ev.authentication == "keyed" else "unauthenticated"
    elif ev.chain_status == "intact":
        chain, state = w("ev.chain_empty"), ""
    elif b.public:
        chain, state = w("ev.chain_broken_public", n=len(ev.problems)), "broken"
    elif ev.chain_status == "unreadable":
        chain, state = w("ev.unreadable", problems="; ".join(ev.problems)), "broken"
    else:
        chain, state = w("ev.chain_broken", n=len(ev.problems), problems="; ".join(ev.problems)), "broken"
    rows.append(Row(w("ev.chain"), chain, state))
    if b.public:
        columns: tuple[str, ...] = (w("ev.bundle"), w("ev.items"), w("ev.plain"), w("ev.sealed_at"))
        table_rows: tuple[tuple[str, ...], ...] = tuple(
            (x.bundle_id, str(x.items), x.plaintext_sha256, w.dt(x.sealed_at)) for x in ev.bundles
        )
        col_classes: tuple[str, ...] = ("hash", "num", "hash", "when")
    else:
        columns = (
            w("ev.bundle"),
            w("ev.items"),
            w("ev.plain"),
            w("ev.cipher"),
            w("ev.sealed_at"),
            w("ev.sealed_by"),
            w("ev.key"),
        )
        table_rows = tuple(
            (
                x.bundle_id,
                str(x.items),
                x.plaintext_sha256,
                x.ciphertext_sha256,
                w.dt(x.sealed_at),
                b.role_of(x.sealed_by),
                x.key_id,
            )
            for x in ev.bundles
        )
        col_classes = ("hash", "num", "hash", "hash", "when", "who", "hash")
    tables = [Table(w("sec.evidence"), columns, table_rows, col_classes=col_classes)] if ev.bundles else []
    return b.section("evidence", rows, tables, [w("ev.note")])


# -- the picture -----------------------------------------------------------------------------------


def _steps_of(run: PlaybookRun | None, kind: str) -> list[StepRun]:
    return [s for s in run.steps if s.kind == kind] if run is not None else []


def _phase(b: _Builder, key: str, steps: list[StepRun], note: str = "") -> Phase:
    w = b.w
    label = w(f"phase.{key}")
    live = [s for s in steps if s.status not in {"waiting", "skipped"}]
    if not live:
        verdict: Verdict = "skipped" if steps else "na"
        return Phase(key, label, None, None, None, verdict, w(f"verdict.{verdict}"), note)
    start = min((s.started_at for s in live if s.started_at is not None), default=None)
    dones = [s.done_at for s in live]
    end = max(d for d in dones if d is not None) if all(d is not None for d in dones) else None
    dues = [s.due for s in live if s.due is not None]
    due = min(dues) if dues else None
    # The phase is late when any of its steps was (a report on its sending).
    verdicts = [report_verdict(s, b.now) for s in live]
    verdict = next((v for v in ("missed", "pending", "open", "met", "done") if v in verdicts), "done")
    return Phase(key, label, start, end, due, verdict, w(f"verdict.{verdict}"), note)


def _chart(b: _Builder) -> Chart:
    w, inc, run = b.w, b.inc, b.run
    origin = min(inc.first_event_ts, b.learned)
    # Detected / opened: from the first event to the incident's confirmation (triage, when it had one).
    triage = _steps_of(run, "triage")
    if run is not None:
        confirmed = run.confirmed_at
        t = triage[0] if triage else None
        due = t.due if t is not None and t.status != "skipped" else None
        end = confirmed or (t.done_at if t is not None else None)
        verdict = judge(due, end, b.now) if due is not None else ("done" if end is not None else "open")
        detected = Phase(
            "detected", w("phase.detected"), inc.first_event_ts, end, due, verdict, w(f"verdict.{verdict}")
        )
    else:
        detected = Phase(
            "detected", w("phase.detected"), inc.first_event_ts, b.learned, None, "done", w("verdict.done")
        )
    first_steps = _steps_of(run, "first_report") or _steps_of(run, "complaint_report")
    first = _phase(b, "first_report", first_steps[:1])
    written_steps = _steps_of(run, "written_report")
    if written_steps:
        written = _phase(b, "written_report", written_steps)
    else:
        first_def = b.step_def(first_steps[0]) if first_steps else None
        if first_def is not None and first_def.written:
            written = _phase(b, "written_report", first_steps[:1], w("phase.written_in_first"))
        else:
            written = Phase(
                "written_report",
                w("phase.written_report"),
                None,
                None,
                None,
                "na",
                w("verdict.na"),
                w("phase.not_required"),
            )
    containment = _phase(b, "containment", _steps_of(run, "containment"))
    recovery = _phase(b, "recovery", _steps_of(run, "recovery"))
    closure = _steps_of(run, "closure")
    if closure and closure[0].status == "done":
        at = closure[0].done_at
        closed = Phase("closed", w("phase.closed"), at, at, None, "done", w("verdict.done"))
    else:
        closed = Phase("closed", w("phase.closed"), None, None, None, "open", w("verdict.open"))
    markers = [Marker("occurred", w("marker.occurred"), inc.first_event_ts)]
    markers.append(Marker("discovered", w("marker.discovered"), b.learned))
    if b.city_learned_at is not None:
        try:
            dl = ppc_deadlines(learned_date(b.city_learned_at), improper_purpose=b.assessment.improper_purpose)
        except CalendarRangeError:
            dl = None  # no calendar answers for that day: the chart shows no PPC deadline rather than failing
        if dl is not None:
            # A day's deadline runs to the end of that Japan day: the last minute of it.
            # Without a party to report, the dates are those that would apply (該当する場合).
            cond = "" if b.ppc_due else w("marker.if_reportable")
            markers.append(Marker("ppc_prelim", w("marker.ppc_prelim") + cond, _end_of(dl.preliminary_due)))
            markers.append(Marker("ppc_final", w("marker.ppc_final") + cond, _end_of(dl.final_due)))
    markers.append(Marker("now", w("marker.now"), b.now))
    markers.sort(key=lambda m: m.at)
    ticks = (
        (0.0, "0"),
        (1.0, w("span.hours", n=1)),
        (6.0, w("span.hours", n=6)),
        (24.0, w("span.days", n=1)),
        (72.0, w("span.days", n=3)),
        (168.0, w("span.weeks", n=1)),
        (720.0, w("span.days", n=30)),
        (1440.0, w("span.days", n=60)),
    )
    return Chart(
        lang=b.lang,
        title=w("tl.chart"),
        origin=origin,
        now=b.now,
        phases=(detected, first, written, containment, recovery, closed),
        markers=tuple(markers),
        axis_label=w("tl.axis"),
        due_label=w("tl.due"),
        markers_label=w("tl.markers"),
        tick_labels=ticks,
    )


_DAY_MARKERS = frozenset({"ppc_prelim", "ppc_final"})


def _end_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 23, 59, tzinfo=JST)


# -- entry point -------------------------------------------------------------------------------------


def build_report(stored: StoredIncident, *, kind: ReportKind, lang: Lang, now: datetime) -> ReportModel:
    """Build the report of ``kind`` in ``lang`` as of ``now`` (an aware datetime).

    Pure and deterministic: the same inputs give the same model and so the same hash.
    """
    if kind not in REPORT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(REPORT_KINDS)}, not {kind!r}")
    if lang not in ("ja", "en"):
        raise ValueError(f"lang must be 'ja' or 'en', not {lang!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    # The report's time is whole minutes in Japan time, as its header prints it: `--as-of` with that time
    # rebuilds the same model (and hash) from the same records.
    now = now.astimezone(JST).replace(second=0, microsecond=0)
    b = _Builder(stored, kind, lang, now)
    w = b.w
    deadlines = _deadlines(b)
    chart = _chart(b)
    sections = (
        _contract(b),
        _when_where(b),
        _data(b),
        _circumstances(b),
        _single(b, "secondary_harm", 5, w("harm.value")),
        _containment(b),
        _single(b, "response", 6, w("response.value")),
        _single(b, "publication", 7, w("publication.value"), _step_rows(b, "publication")),
        # Item 8 says where recurrence prevention stands; its step (and due time) is in section 10's table.
        _single(b, "prevention", 8, w("prevention.value")),
        _clauses(b, deadlines),
        _ppc(b),
        _timeline(b, chart),
        _evidence(b),
    )
    partly = kind == "final" and any(s.status == "provisional" for s in sections)
    if b.later_number is not None:
        notices = [w("notice.later", n=b.later_number)]
    else:
        notices = [w("notice.final_partly" if partly else f"notice.{kind}")]
    if kind == "public":
        notices.append(w("notice.public_final") if b.closed else w("notice.public_provisional"))
    if b.later_number is not None:
        # Never an internal state name: still being handled, and the final report comes at closure.
        notices.append(w("notice.not_closed"))
    missing = tuple(w.pick((i.label_ja, i.label_en)) for i in b.rule8.missing())
    if kind in {"final", "public"} and missing:
        notices.append(w("notice.still_missing", items=w.join(list(missing))))
    finals = [s.title for s in sections if s.status == "final"]
    provisional = [s.title for s in sections if s.status == "provisional"]
    city = CITY_NAMES.get(b.inc.jurisdiction, b.profile.city.name)
    header = [
        Row(w("head.incident"), b.inc.incident_id),
        Row(w("head.generated"), w.dt(now)),
    ]
    header.append(
        Row(
            w("head.sections"),
            f"{w('status.final')}: {w.join(finals) or w('none')} / "
            f"{w('status.provisional')}: {w.join(provisional) or w('none')}",
        )
    )
    model = ReportModel(
        incident_id=b.inc.incident_id,
        kind=kind,
        lang=lang,
        generated_at=now,
        title=_title(b, kind),
        kind_label=w("kind.later", n=b.later_number) if b.later_number is not None else w(f"kind.{kind}"),
        city=city,
        contract_id=b.profile.contract_id,
        header=tuple(header),
        notices=tuple(notices),
        sections=sections,
        deadlines=tuple(deadlines),
        rule8_missing=missing,
        chart=chart,
        timeline_entries=len(merged_timeline(b.inc, b.run)),
        words={
            "hash": w("footer.hash"),
            "page": w("footer.page"),
            "hash_note": w("footer.hash_note"),
            "hash_command": f"kinkyu report {b.inc.incident_id} --kind {kind} --lang {lang} --format json "
            f"--as-of {now.astimezone(JST).isoformat(timespec='minutes')} | sha256sum",
            "unknown": w.unknown,
            "item": w("col.item"),
            "value": w("col.value"),
            "notice_title": w("notice_draft.title"),
        },
        # No notice where no personal data leaked (a stopped system, a complaint): a draft telling residents
        # their data leaked would be false, and the city might send it.
        notice_draft=None
        if b.public or b.nature in NOT_PERSONAL_DATA
        else notice_draft(b.rule8, lang, sender=b.profile.city.name, unit=w.unit),
    )
    if not b.public:
        model = replace(model, letter=_letter(b, kind, now, sections))
    # Ids from logs, labels and people's report texts reach every rendering (and the hash) through here.
    neutral: ReportModel = _neutral(model)
    return neutral


def _basis(b: _Builder) -> str:
    """The clause the written report answers (the city's document and article), or empty."""
    if b.run is None:
        return ""
    for kind in ("written_report", "first_report", "complaint_report"):
        st = next((s for s in b.run.steps if s.kind == kind), None)
        step = b.step_def(st) if st is not None else None
        if step is not None:
            city = b.profile.city.name
            document = document_name(b.run.playbook, b.lang)
            # 「豊田市個人情報の…特記」 names its city already: not 豊田市「豊田市…」.
            return f"{'' if city and city in document else city}「{document}」{step.clause.article}"
    return ""


def _city_accounts(stored: StoredIncident) -> frozenset[str]:
    """The accounts that spoke for the city: whoever acknowledged, received or instructed on its behalf."""
    entries = [*stored.incident.timeline, *(stored.run.timeline if stored.run is not None else ())]
    return frozenset(e.who for e in entries if e.kind in _CITY_ENTRY_KINDS and e.who and e.who != "kinkyu")


def _role(w: Words, profile: ContractProfile, city_ids: frozenset[str], who: str) -> str:
    # The worker's own stages (kinkyu, kinkyu-notifier) record as the system; a link's acknowledgement
    # records as the contact it was sent to (city:1).
    if who == "kinkyu" or who.startswith("kinkyu-"):
        return w("who.system")
    for member in profile.staff:
        if member.id == who:
            return member.role
    if who in city_ids or who.startswith("city:"):
        return w("who.city")
    return w("who.staff")


def account_roles(stored: StoredIncident, lang: Lang) -> Callable[[str], str]:
    """Who recorded an entry, by role (受託者の担当者, 市の担当者, 当社事故対応システム): what a city reads."""
    w = Words(
        lang,
        unit_of(stored.incident.jurisdiction, stored.profile.city.name or None),
        stored.run.playbook.parties if stored.run is not None else None,
    )
    city_ids = _city_accounts(stored)
    return lambda who: _role(w, stored.profile, city_ids, who)


def document_serial(incident_id: str) -> str:
    """The incident's part of a 文書番号: its date and four digits, never the raw id between 第 and 号.

    An id of the old form (``INC-20261120-0001``) keeps its sequence; a content-derived one
    (``INC-20261120-F3KQ7AB``) gives four digits of a hash of itself. The 事案番号 itself is in the
    report's first table, so the number only has to be read out and filed, not to be unique by itself.
    """
    _, _, rest = incident_id.partition("-")
    day, _, tail = rest.partition("-")
    if not day.isdigit():
        day = ""
    if not (tail.isdigit() and len(tail) == _SERIAL_DIGITS):
        digest = hashlib.sha256(incident_id.encode()).digest()
        tail = f"{int.from_bytes(digest[:4], 'big') % 10**_SERIAL_DIGITS:0{_SERIAL_DIGITS}d}"
    return f"{day}-{tail}" if day else tail


def _letter(b: _Builder, kind: ReportKind, now: datetime, sections: tuple[Section, ...]) -> Letter:
    w = b.w
    p = b.profile
    contractor = p.contractor
    head = p.city.head or head_title(b.inc.jurisdiction, p.city.name)
    sender = [Row(w("letter.sender"), contractor.name)]
    for key, value in (
        ("letter.address", contractor.address),
        ("letter.representative", contractor.representative),
        ("letter.responsible", contractor.responsible),
        ("letter.contact", contractor.contact),
    ):
        if value:
            sender.append(Row(w(key), value))
    if len(sender) == 1:
        # A letter signed with the firm's name alone gives the city no one to call back: said on the
        # letter itself, so the gap in the profile is seen before the letter goes out, not after.
        sender.append(Row(w("letter.contact"), w("letter.sender_missing")))
    key, values = b.title_key(kind)
    title = w(key, **values)
    basis = _basis(b)
    # The letter says first what happened, from the facts on record (a detection: what was detected).
    happened = facts_sentence(b)
    if happened is None and b.inc.origin == "detection":
        happened = _detected_sentence(b)
    opening = [
        w("letter.apology_outage" if b.nature == "outage" else "letter.apology"),
        *([happened] if happened else []),
        w("letter.opening_basis", contract=p.title, basis=basis) if basis else w("letter.opening", contract=p.title),
    ]
    return Letter(
        number_label=w("letter.number_label"),
        number=w(
            "letter.number",
            prefix=contractor.doc_prefix or "",
            number=f"{document_serial(b.inc.incident_id)}-{_KIND_NUMBERS[kind]}",
        ),
        date=doc_date(now, b.lang, weekday=False),
        addressee=w("letter.addressee", head=head),
        sender=tuple(sender),
        # 件名 names the event as the clause does (システム停止事故, 契約違反のおそれ, 苦情 …), from the run's nature.
        subject=w(
            "letter.subject",
            title=title,
            nature=w.pick(nature_label(b.nature, possible=b.possible, parties=b.w.parties)),
        ),
        opening=tuple(opening),
        record=w("letter.record"),
        end=w("letter.end"),
        attachments_label=w("letter.attachments"),
        attachments=tuple(f"{s.attachment}　{s.title}" for s in sections if s.attachment),
    )


def _neutral(value: Any) -> Any:
    """``value`` with every string in it passed through :func:`~kinkyu.core.freetext.neutralise`."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, tuple):
        return tuple(_neutral(v) for v in value)
    if isinstance(value, dict):
        return {k: _neutral(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _neutral(getattr(value, f.name)) for f in fields(value) if f.init})
    return value


def _step_rows(b: _Builder, kind: str) -> list[Row]:
    w = b.w
    rows: list[Row] = []
    for st in _steps_of(b.run, kind):
        if st.status == "available" and kind == "publication":
            # Publishing is the city's to decide: not "not applicable", which reads as "will not publish".
            rows.append(Row(b.step_title(st), w("publication.city_decides")))
            continue
        if st.status == "available":
            verdict: Verdict = "na"
        elif st.status == "waiting":
            verdict = "waiting"
        else:
            verdict = judge(st.due, st.done_at, b.now, skipped=st.status == "skipped")
        due = f" {w('dl.due')}: {w.dt(st.due)}" if st.due else ""
        rows.append(Row(b.step_title(st), w(f"verdict.{verdict}") + due))
    return rows


__all__ = [
    "ACCOUNT_MAX_CHARS",
    "PHASE_KEYS",
    "REPORT_FACT_TEXTS",
    "REPORT_KINDS",
    "SECTION_KEYS",
    "BundleInfo",
    "Chart",
    "Deadline",
    "EvidenceInfo",
    "Marker",
    "Phase",
    "ReportFacts",
    "ReportKind",
    "ReportModel",
    "Row",
    "Section",
    "StoredIncident",
    "Table",
    "build_report",
    "judge",
    "merged_timeline",
    "printable_id",
]
