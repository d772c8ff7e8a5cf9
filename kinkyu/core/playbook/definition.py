"""Playbook files: one per jurisdiction, each step citing the clause it implements.

A playbook (``playbooks/<jurisdiction>.yaml``) is data a reviewer reads next to
the clause: every step names its kind, a Japanese and English title, the
clause (article and a short verbatim quote from the seed text), the urgency
word where the clause has one, who it goes to, whether it is written and
which items it must carry, and which incidents it applies to.

The models refuse unknown keys, so a misspelt key is an error naming it
rather than a step that silently never runs. Parsing is pure: the caller reads
the file and passes its text (:func:`playbook_from_yaml`) or the loaded
mapping (:func:`parse_playbook`).

Step kinds and when they start (see :mod:`kinkyu.core.playbook.run`):

========================  ==========  =================================================
kind                      starts      what it does
========================  ==========  =================================================
``triage``                open        confirm or dismiss a finding that is not reported
                                      at once; has its own deadline
``evidence``              open        seal the evidence (証拠保全) around the events
``containment``           open        propose containment commands (被害拡大の防止)
``complaint_report``      open        report a complaint (苦情) to the city at once
``progress_report``       open        report a complaint's progress (処理経過) periodically
``instructions``          open        record the city's instructions (甲の指示) as tasks
``report_request``        open        a city request for a report, due by the clause word
``first_report``          confirmed   the first report (第一報) to the city
``written_report``        confirmed   a written report (書面) with the clause's items
``recovery``              confirmed   recovery (復旧), a task
``recurrence_prevention`` confirmed   recurrence prevention (再発防止策), a task
``publication``           confirmed   publication by the city (公表), optional, recorded
``closure``               resolution  close when no task is open
========================  ==========  =================================================

"open" steps start when the incident opens; "confirmed" steps when it is
confirmed (at once for a finding reported as a possible breach, or for a filed
incident; after triage otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kinkyu.catalogue import DEFAULT_PARTIES, P_, Texts
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.jurisdictions import Jurisdiction
from kinkyu.core.labels import KIND_LABELS, Labels
from kinkyu.core.playbook.exceptions import PlaybookError
from kinkyu.core.playbook.policy import RULE_IDS, UrgencyWord

StepKind = Literal[
    "triage",
    "evidence",
    "containment",
    "complaint_report",
    "progress_report",
    "instructions",
    "report_request",
    "first_report",
    "written_report",
    "recovery",
    "recurrence_prevention",
    "publication",
    "closure",
]
Phase = Literal["open", "confirmed", "resolution"]
Audience = Literal["city", "contractor"]

PHASE: dict[StepKind, Phase] = {
    "triage": "open",
    "evidence": "open",
    "containment": "open",
    "complaint_report": "open",
    "progress_report": "open",
    "instructions": "open",
    "report_request": "open",
    "first_report": "confirmed",
    "written_report": "confirmed",
    "recovery": "confirmed",
    "recurrence_prevention": "confirmed",
    "publication": "confirmed",
    "closure": "resolution",
}

# Steps that send something to someone: they must say to whom.
REPORT_KINDS: frozenset[StepKind] = frozenset({"first_report", "written_report", "complaint_report", "progress_report"})
# Steps whose deadline is the clause's urgency word: the word must be given.
URGENT_KINDS: frozenset[StepKind] = frozenset({"first_report", "written_report", "complaint_report", "report_request"})
# Every playbook needs these, exactly once.
REQUIRED_ONCE: tuple[StepKind, ...] = ("triage", "evidence", "instructions", "closure")
# ... and at least one of these.
REQUIRED_SOME: tuple[StepKind, ...] = ("first_report", "containment")

# The items a clause may name for a written report (Koganei 第19条 names all four;
# Toyota 第13条 and Shinagawa 第17 name the situation, 発生状況).
ReportItem = Literal["content", "count", "place", "circumstances"]
# Their names: English here, Japanese in the message catalogue under ``report_item.<code>``.
REPORT_ITEMS = Labels(
    Texts(
        "report_item.",
        {
            "content": P_("report_item.content", "what personal information is involved"),
            "count": P_("report_item.count", "number of records"),
            "place": P_("report_item.place", "where it happened"),
            "circumstances": P_("report_item.circumstances", "how it happened"),
        },
    )
)

INCIDENT_KINDS_AND_DETECTION: frozenset[str] = frozenset(KIND_LABELS)

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ClauseRef(BaseModel):
    """The clause a step implements: its article and a short verbatim quote from the seed text."""

    model_config = _STRICT
    article: str = Field(min_length=1, max_length=60)
    quote: str = Field(min_length=2, max_length=200)


class AfterContract(ClauseRef):
    """The clause that says duties continue after the contract ends, and which.

    ``scope``: ``emergency`` when the emergency clause itself continues (岡山市 第15条,
    千葉市 第13, 小金井市 第19条 "…後においても同様とする"); ``confidentiality`` when only the
    duty of confidentiality does (品川区 第4). A playbook without one names no such clause
    (豊田市): the run goes on all the same, on the safe side, and says so.
    """

    scope: Literal["emergency", "confidentiality"] = "emergency"


class AppliesTo(BaseModel):
    """Which incidents a step applies to: any listed kind, or any listed rule.

    Kinds are the filed incident kinds of events.md plus ``detection`` (any
    incident opened by a finding); rules are rule ids of rules.md.
    """

    model_config = _STRICT
    kinds: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - INCIDENT_KINDS_AND_DETECTION)
        if unknown:
            msg = f"unknown incident kind(s) {', '.join(unknown)}; known: {', '.join(sorted(KIND_LABELS))}"
            raise ValueError(msg)
        return value

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - RULE_IDS)
        if unknown:
            msg = f"unknown rule id(s) {', '.join(unknown)}; known: {', '.join(sorted(RULE_IDS))}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> AppliesTo:
        if not self.kinds and not self.rules:
            msg = "name at least one kind or rule (leave applies_to out for every incident)"
            raise ValueError(msg)
        return self

    def matches(self, kind: str, rules: list[str] | tuple[str, ...]) -> bool:
        """True when the incident's ``kind`` or any of its ``rules`` is listed."""
        return kind in self.kinds or any(r in self.rules for r in rules)


class Step(BaseModel):
    """One step of a playbook."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    kind: StepKind
    title_ja: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    clause: ClauseRef
    urgency: UrgencyWord | None = None
    to: Audience | None = None
    written: bool = False
    items: list[ReportItem] = Field(default_factory=list)
    rule8: bool = False
    risk: bool = False
    applies_to: AppliesTo | None = None
    optional: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.kind in REPORT_KINDS and self.to is None:
            msg = f"a {self.kind} step must say who it goes to (to: city or contractor)"
            raise ValueError(msg)
        if self.kind in URGENT_KINDS and self.urgency is None:
            msg = f"a {self.kind} step needs the clause's urgency word (直ちに, 速やかに or 遅滞なく)"
            raise ValueError(msg)
        if self.kind == "written_report" and not self.written:
            msg = "a written_report step is written: set written: true"
            raise ValueError(msg)
        if (self.items or self.rule8) and not self.written:
            msg = "items and rule8 belong to a written report: set written: true"
            raise ValueError(msg)
        if self.kind == "publication" and not self.optional:
            msg = "publication (公表) is the city's choice: set optional: true"
            raise ValueError(msg)
        if self.optional and self.kind != "publication":
            msg = "only a publication step is optional"
            raise ValueError(msg)
        if len(set(self.items)) != len(self.items):
            msg = "items are listed once each"
            raise ValueError(msg)
        return self

    @property
    def phase(self) -> Phase:
        """When the step starts: at open, at confirmation, or at resolution."""
        return PHASE[self.kind]

    def applies(self, kind: str, rules: list[str] | tuple[str, ...]) -> bool:
        """True when this step applies to an incident of ``kind`` with ``rules``."""
        return self.applies_to is None or self.applies_to.matches(kind, rules)


# A party's word is a few Japanese characters (甲, 委託者, 発注者): no Latin letters, digits or spaces.
_PARTY_WORD = r"^[^\sA-Za-z0-9]{1,6}$"
# A role's title is longer (個人情報受託管理責任者, 個人情報の取扱いの責任者), of the same characters.
_ROLE_TITLE = r"^[^\sA-Za-z0-9]{1,16}$"


class Parties(BaseModel):
    """What the contract calls its parties, as its text does: every Japanese sentence naming one uses it.

    岡山市, 豊田市 and 品川区 write 甲 / 乙; 小金井市 and 八千代市 委託者 / 受託者; 千葉市 発注者 / 受注者.
    Left out (and in a run stored before playbooks named them) it is 甲 / 乙.

    ``city_role``: what prose calls the city when its word is an abbreviation the contract defines for
    something other than the catalogue's 委託者 (品川区: 「品川区（以下「甲」という。）」, no 委託者).
    ``responsible``: the contract's title for the contractor's person responsible (岡山市 第3条
    個人情報受託管理責任者, 小金井市 第8条 取扱責任者 …); left out, the catalogue's (作業責任者).
    ``data``: the contract's word for the data it protects, which names the event (豊田市 特記 第10条(10):
    「個人情報等の漏えい等の事故」); left out (and in a stored run), 個人情報.
    """

    model_config = _STRICT
    city: str = Field(default=DEFAULT_PARTIES.city, pattern=_PARTY_WORD)
    contractor: str = Field(default=DEFAULT_PARTIES.contractor, pattern=_PARTY_WORD)
    city_role: str | None = Field(default=None, pattern=_PARTY_WORD)
    responsible: str | None = Field(default=None, pattern=_ROLE_TITLE)
    data: str | None = Field(default=None, pattern=_ROLE_TITLE)

    @model_validator(mode="after")
    def _distinct(self) -> Parties:
        if self.city == self.contractor:
            msg = "the city and the contractor need different words"
            raise ValueError(msg)
        return self


class Playbook(BaseModel):
    """One jurisdiction's emergency clauses as steps."""

    model_config = _STRICT
    jurisdiction: Jurisdiction
    city: str
    document: str = Field(min_length=1)
    seed: str = Field(min_length=1)
    parties: Parties = Field(default_factory=Parties)
    after_contract_end: AfterContract | None = None
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _well_formed(self) -> Playbook:
        expected = CITY_NAMES[self.jurisdiction]
        if self.city != expected:
            msg = f"city must be {expected} for jurisdiction {self.jurisdiction}"
            raise ValueError(msg)
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            msg = f"step ids must be unique; repeated: {', '.join(dupes)}"
            raise ValueError(msg)
        kinds: list[str] = [s.kind for s in self.steps]
        for kind in REQUIRED_ONCE:
            if kinds.count(kind) != 1:
                msg = f"a playbook has exactly one {kind} step (found {kinds.count(kind)})"
                raise ValueError(msg)
        for kind in REQUIRED_SOME:
            if kind not in kinds:
                msg = f"a playbook needs at least one {kind} step"
                raise ValueError(msg)
        return self

    def step(self, step_id: str) -> Step:
        """The step with ``step_id`` (KeyError if none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def first_of(self, kind: str) -> Step | None:
        """The first step of ``kind``, if any."""
        return next((s for s in self.steps if s.kind == kind), None)


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # Name the step by its id as well as its position: "steps.3 (first_report)".
        parts = list(err["loc"])
        if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):  # noqa: PLR2004
            steps = data.get("steps")
            if isinstance(steps, list) and parts[1] < len(steps) and isinstance(steps[parts[1]], dict):
                step_id = steps[parts[1]].get("id")
                if step_id:
                    loc = f"{loc} (step {step_id})"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of a playbook; check its spelling)"
        elif err["type"] == "missing" and parts and parts[-1] == "clause":
            msg = "every step must cite a clause: {article: …, quote: <a short verbatim quote>}"
        else:
            msg = err["msg"]
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_playbook(data: Mapping[str, Any], *, source: str = "playbook") -> Playbook:
    """Validate a loaded playbook mapping; :class:`PlaybookError` names the source, key and problem."""
    if not isinstance(data, Mapping):
        raise PlaybookError(f"{source}: a playbook is a mapping of keys (jurisdiction, city, steps, …)")
    try:
        return Playbook.model_validate(dict(data))
    except ValidationError as exc:
        raise PlaybookError(
            f"{source}: the playbook has {exc.error_count()} problem(s):\n{_describe(exc, data)}"
        ) from exc


def playbook_from_yaml(text: str, *, source: str = "playbook") -> Playbook:
    """Parse and validate the YAML text of one playbook file (``source`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise PlaybookError(f"{source}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{source}: a playbook is a YAML mapping of keys (jurisdiction, city, steps, …)")
    return parse_playbook(data, source=source)


def playbooks_from_texts(texts: Mapping[str, str]) -> dict[str, Playbook]:
    """Parse several playbook files (source name -> YAML text), one per jurisdiction.

    The caller reads the files (``{p.name: p.read_text("utf-8") for p in
    Path("playbooks").glob("*.yaml")}``); two files for one jurisdiction are an error.
    """
    out: dict[str, Playbook] = {}
    origin: dict[str, str] = {}
    for source in sorted(texts):
        playbook = playbook_from_yaml(texts[source], source=source)
        if playbook.jurisdiction in out:
            first = origin[playbook.jurisdiction]
            raise PlaybookError(f"{source}: jurisdiction {playbook.jurisdiction!r} already has a playbook in {first}")
        out[playbook.jurisdiction] = playbook
        origin[playbook.jurisdiction] = source
    return out
