"""The national report on a live run: the PPC assessment, both clocks, the Rule 8 items, reminders.

A :class:`PPCState` travels with each :class:`~kinkyu.core.playbook.run.PlaybookRun`
(``run.ppc``; JSON under ``"ppc"`` in :meth:`PlaybookRun.to_json`). It holds
what the assessment reads beyond the run's :class:`~kinkyu.core.playbook.run.Facts`
(the contract's data sets, and the facts follow-ups supply), the people's
overrides, the latest :class:`~kinkyu.core.legal.Assessment`, the moment the
city learned of the incident, and the reminders already sent. Everything
else (the 速報 / 確報 due dates, the contractor's status, the nine Rule 8(1)
items) is derived from it, so it is never stale.

Pure: the same state gives the same JSON; no clock is read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from kinkyu.catalogue import P_, PartyWords, Texts
from kinkyu.core.codec import Record, Screened
from kinkyu.core.labels import ITEM_LABELS, KIND_LABELS, RULE_LABELS
from kinkyu.core.legal import (
    DEFAULT_CONTRACTOR_WITHIN,
    RULE8_ORDER,
    UNKNOWN,
    UNKNOWN_EN,
    Assessment,
    ContractorStatus,
    Override,
    PartyAssessment,
    PeopleCount,
    PPCDeadlines,
    Reminder,
    ReportingParty,
    Rule8Item,
    Rule8Items,
    Trigger,
    TriggerResult,
    assess,
    breach_facts,
    contractor_status,
    learned_date,
    ppc_deadlines,
    ppc_reminders,
    rule8_items,
)
from kinkyu.core.model import JST
from kinkyu.core.playbook.definition import StepKind
from kinkyu.core.rulebook import EVENT_NATURES
from kinkyu.core.timefmt import doc_date
from kinkyu.core.timespan import CalendarRangeError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kinkyu.core.contract import Dataset

# The report steps whose delivery to the city starts its clock (legal.md: "when the contractor's first
# report reaches the city"). A complaint report tells the city of a complaint, not of a breach.
CLOCK_STEP_KINDS: frozenset[StepKind] = frozenset({"first_report", "written_report"})


def end_of_day(day: Any) -> datetime:
    """The last minute of a Japan calendar day: a day's deadline runs until then."""
    return datetime(day.year, day.month, day.day, 23, 59, tzinfo=JST)


def datasets_snapshot(datasets: Mapping[str, Dataset] | None) -> dict[str, dict[str, Any]] | None:
    """The contract's data sets as a run keeps them: fields and the ``sensitive`` flag (None: not given)."""
    if datasets is None:
        return None
    return {
        name: {"fields": list(ds.fields), "sensitive": ds.sensitive}
        # Only when set, so a run kept before the flag existed reads back as it was written.
        | ({"ordinance_sensitive": True} if ds.ordinance_sensitive else {})
        for name, ds in datasets.items()
    }


# What the run's facts say in the Rule 8 items: English here, Japanese in the catalogue under ``rule8.facts.<key>``.
FACT_WORDS = Texts(
    "rule8.facts.",
    {
        "who.detected": P_("rule8.facts.who.detected", "access-log monitoring"),
        "who.filed": P_("rule8.facts.who.filed", "a member of the contractor's staff"),
        "medium.detected": P_("rule8.facts.medium.detected", "electronic data"),
        "published": P_("rule8.facts.published", "published ({day})"),
        "prevention.done": P_("rule8.facts.prevention.done", "done ({day})"),
        "prevention.active": P_("rule8.facts.prevention.active", "being prepared"),
        # Item 9 says what was done, never the console's counters (issue #15): see other_text.
        "other.measures_taken": P_("rule8.facts.other.measures_taken", "Containment measures have been taken."),
        "other.measures_pending": P_(
            "rule8.facts.other.measures_pending",
            "Containment measures are being considered (we will report those taken as soon as they are known).",
        ),
        "other.evidence_started": P_(
            "rule8.facts.other.evidence_started", "Preserving the relevant records has begun."
        ),
        "other.evidence_done": P_("rule8.facts.other.evidence_done", "The relevant records have been preserved."),
    },
)


def other_text(lang: str, *, measures: int, evidence: str, extra: str | None = None) -> str:
    """Rule 8(1) item 9 (その他参考となる事項) in words: what was done to contain and to preserve, then ``extra``.

    ``measures``: containment measures carried out (commands done and measures people recorded);
    ``evidence``: ``done`` (sealed), ``started`` (sealing requested) or ``none``. The one wording of the
    item for the first report's e-mail (from a run's :class:`Rule8Facts`) and the written report.
    """
    parts = [FACT_WORDS.say(lang, "other.measures_taken" if measures else "other.measures_pending")]
    if evidence in {"done", "started"}:
        parts.append(FACT_WORDS.say(lang, f"other.evidence_{evidence}"))
    if extra:
        parts.append(extra)
    return ("" if lang == "ja" else " ").join(parts)


class PPCState(msgspec.Struct, Record):
    """A run's national-report state; see the module docstring.

    ``datasets`` is the contract's data sets when the run started (None: the
    run was started without them, and the data set facts are unknown);
    ``involved`` the data sets the incident touched (None: not known, every
    data set counts); ``distinct_people``, ``encrypted`` and
    ``improper_purpose`` what people (or records) said. ``learned_via`` says
    how the city's learning was recorded: ``message_sent`` (the first report's
    delivery), ``acknowledgement`` or ``step_done`` (a report made by phone).
    """

    datasets: dict[str, dict[str, Any]] | None = None
    involved: list[str] | None = None
    distinct_people: int | None = None
    encrypted: bool = False
    improper_purpose: bool | None = None
    overrides: list[Override] = []
    assessment: Assessment | None = None
    city_learned_at: datetime | None = None
    learned_via: str | None = None
    clock_step: str | None = None
    reminded: list[str] = []
    checked_at: datetime | None = None
    # A person confirmed the facts (at triage): triggers inferred from a detection rule are no longer 暫定.
    confirmed: bool = False

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """A run stored before the state existed has none (an empty one); a null flag or list reads as empty.

        A stored state without ``confirmed`` predates provisional triggers and reads as confirmed.
        """
        if not data:
            return {}
        if not isinstance(data, dict):
            return data
        empty = {"encrypted", "overrides", "assessment", "reminded"}
        upgraded = {k: v for k, v in data.items() if not (k in empty and not v)}
        # A run kept before provisional triggers existed took every trigger as confirmed: it goes on so.
        upgraded["confirmed"] = data.get("confirmed", True) is True
        return upgraded

    # -- derived ---------------------------------------------------------------------------

    def compute(
        self, *, data_items: list[str], rules: list[str], kind: str, records: int, possible: bool
    ) -> Assessment:
        """The assessment of these facts under this state's inputs, overrides applied."""
        datasets = {n: (d.get("fields") or [], bool(d.get("sensitive"))) for n, d in (self.datasets or {}).items()}
        ordinance = [n for n, d in (self.datasets or {}).items() if d.get("ordinance_sensitive") is True]
        facts = breach_facts(
            data_items=data_items,
            rules=rules,
            kind=kind,
            records=records,
            datasets=datasets,
            involved=self.involved,
            distinct_people=self.distinct_people,
            encrypted=self.encrypted,
            filed_improper_purpose=self.improper_purpose,
            possible=possible,
            ordinance_datasets=ordinance,
            confirmed=self.confirmed,
        )
        computed = assess(facts)
        if not self.overrides:
            return computed
        return Assessment(
            contractor=computed.contractor,
            city=computed.city,
            encrypted_exempt=computed.encrypted_exempt,
            improper_purpose=computed.improper_purpose,
            people=computed.people,
            possible=computed.possible,
            overrides=tuple(self.overrides),
        )

    def deadlines(self) -> PPCDeadlines | None:
        """The city's 速報 / 確報 dates, once the city has learned (day 1: the Japan date it did).

        None too when they cannot be computed (:meth:`deadlines_problem` says why):
        the dates are then unknown (要確認), and no reminder goes out.
        """
        try:
            return self._deadlines()
        except CalendarRangeError:
            return None

    def deadlines_problem(self) -> str | None:
        """Why the city's dates cannot be computed (``out-of-range``, ``no-holiday-calendar``), or None."""
        try:
            self._deadlines()
        except CalendarRangeError as exc:
            return exc.code
        return None

    def _deadlines(self) -> PPCDeadlines | None:
        if self.city_learned_at is None:
            return None
        improper = self.assessment.improper_purpose if self.assessment is not None else False
        return ppc_deadlines(learned_date(self.city_learned_at), improper_purpose=improper)

    def reminders(self) -> tuple[Reminder, ...]:
        """The reminders to the city, when it has learned and is (or may be) reportable; else none.

        A provisional trigger (暫定・要確認) reminds too: the city should know its dates
        while a person has yet to confirm or rule it out.
        """
        dl = self.deadlines()
        a = self.assessment
        if dl is None or a is None or not (a.city_reportable or a.city_provisional):
            return ()
        return ppc_reminders(dl)

    def contractor(self, discovered_at: datetime, within: timedelta | None) -> ContractorStatus:
        """The contractor's status on its report to the city, as of the last change (``checked_at``).

        CalendarRangeError when its due time is out of datetime's range.
        """
        now = self.checked_at or discovered_at
        return contractor_status(
            discovered_at,
            now=now,
            reported_at=self.city_learned_at,
            within=within if within is not None else DEFAULT_CONTRACTOR_WITHIN,
        )


def reminder_effect_id(incident_id: str, reminder: Reminder) -> str:
    """The id of a reminder's Notify effect: one per report and due date (a 60-day rule gives a new one)."""
    return f"{incident_id}/ppc/{reminder.report}/{reminder.due.isoformat()}"


def known_items(data_items: list[str]) -> list[str]:
    """The data items a message may name: Kinkyu's category codes (a filer may have typed anything)."""
    return [i for i in data_items if i.strip().lower() in ITEM_LABELS]


_TRIGGERS = frozenset(t.value for t in Trigger)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_COUNT = 1_000_000_000


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT else 0


def _aware(value: Any) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return ts if ts is not None and ts.utcoffset() is not None else None


def _day_of(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _codes(value: Any, known: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v in known] if isinstance(value, list) else []


class PartyTriggers(msgspec.Struct, Screened, frozen=True):
    """The fired trigger codes per party, as a report to the city carries them."""

    contractor: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    provisional: tuple[str, ...] = ()  # the city's, inferred from a detection rule and not yet confirmed


class Rule8Facts(msgspec.Struct, Screened, frozen=True):
    """What the nine Rule 8(1) items are built from on a live run: codes, counts and dates only.

    A report to the city carries these (``Notify.rule8_facts``), not texts, so
    the notifier builds the items itself from what it can check
    (:meth:`from_json` keeps only Kinkyu's own codes, see :meth:`upgrade`):
    nothing a person typed can reach an e-mail this way. ``triggers`` are the
    fired trigger codes per party; ``decided`` the latest override's answer
    (None: no override).
    """

    origin: str | None = None
    kind: str | None = None
    rules: tuple[str, ...] = ()
    occurred_at: datetime | None = None
    discovered_at: datetime | None = None
    data_items: tuple[str, ...] = ()
    people: PeopleCount | None = None
    triggers: PartyTriggers = msgspec.field(default_factory=PartyTriggers)
    assessed: bool = False
    encrypted_exempt: bool = False
    decided: bool | None = None
    publication_done: date | None = None
    prevention_done: date | None = None
    prevention_active: bool = False
    commands: int = 0
    commands_done: int = 0
    seals: int = 0
    possible: bool = True
    nature: str | None = None

    @property
    def contractor_triggers(self) -> tuple[str, ...]:
        """The contractor's fired trigger codes."""
        return self.triggers.contractor

    @property
    def city_triggers(self) -> tuple[str, ...]:
        """The city's fired trigger codes."""
        return self.triggers.city

    @property
    def provisional_triggers(self) -> tuple[str, ...]:
        """The trigger codes inferred from a detection rule and not yet confirmed (暫定・要確認)."""
        return self.triggers.provisional

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """The screen: only Kinkyu's own codes, counts in range, aware times and dates; anything else as unknown.

        The wire form comes back from a topic anyone with access may write, so
        this is the one place its fields are looked at one by one, and never
        refused: a value that fails its check reads as not known.
        """
        if not isinstance(data, dict):
            return data
        d = data
        raw_people = d.get("people")
        people: dict[str, Any] = raw_people if isinstance(raw_people, dict) else {}
        count = _count(people.get("count"))
        raw = d.get("triggers")
        triggers: dict[str, Any] = raw if isinstance(raw, dict) else {}
        decided = d.get("decided")
        return {
            "origin": d.get("origin") if d.get("origin") in {"detection", "filed"} else None,
            "kind": d.get("kind") if d.get("kind") in KIND_LABELS else None,
            "rules": _codes(d.get("rules"), RULE_LABELS),
            "occurred_at": _aware(d.get("occurred_at")),
            "discovered_at": _aware(d.get("discovered_at")),
            "data_items": _codes(d.get("data_items"), ITEM_LABELS),
            "people": {"count": count, "upper_bound": people.get("upper_bound") is True} if count > 0 else None,
            "triggers": {
                "contractor": _codes(triggers.get("contractor"), _TRIGGERS),
                "city": _codes(triggers.get("city"), _TRIGGERS),
                "provisional": _codes(triggers.get("provisional"), _TRIGGERS),
            },
            "assessed": d.get("assessed") is True,
            "encrypted_exempt": d.get("encrypted_exempt") is True,
            "decided": decided if isinstance(decided, bool) else None,
            "publication_done": _day_of(d.get("publication_done")),
            "prevention_done": _day_of(d.get("prevention_done")),
            "prevention_active": d.get("prevention_active") is True,
            "commands": _count(d.get("commands")),
            "commands_done": _count(d.get("commands_done")),
            "seals": _count(d.get("seals")),
            "possible": d.get("possible") is not False,
            "nature": d.get("nature") if d.get("nature") in EVENT_NATURES else None,
        }

    def _assessment(self) -> Assessment | None:
        # Item 1 names the fired triggers per party and any decision: that much of an assessment.
        if not self.assessed:
            return None

        def party(p: ReportingParty, codes: tuple[str, ...]) -> PartyAssessment:
            confirmed = tuple(TriggerResult(Trigger(c), fired=True) for c in codes)
            maybe = tuple(
                TriggerResult(Trigger(c), fired=True, provisional=True)
                for c in self.provisional_triggers
                if c not in codes
            )
            return PartyAssessment(p, confirmed + maybe)

        decided = () if self.decided is None else (Override(self.decided, "-", "-", _EPOCH),)
        return Assessment(
            contractor=party(ReportingParty.CONTRACTOR, self.contractor_triggers),
            city=party(ReportingParty.CITY, self.city_triggers),
            encrypted_exempt=self.encrypted_exempt,
            improper_purpose=Trigger.IMPROPER_PURPOSE.value in self.city_triggers,
            people=self.people,
            possible=self.possible,
            overrides=decided,
        )

    def items(self, parties: PartyWords | None = None, unit: str = "市") -> Rule8Items:
        """The nine Rule 8(1) items in Japanese and English; 調査中 where nothing is known.

        ``parties``: what the contract calls the parties (the finder is 受注者の担当者 under 千葉市's clauses);
        ``unit``: the local body (市 / 区).
        """
        assessment = self._assessment()

        def build(lang: str) -> Rule8Items:
            ja = lang == "ja"

            def day(d: date) -> str:
                # The documents' one date style (和暦 in Japanese); no weekday inside the item's parentheses.
                return doc_date(d, "ja" if ja else "en", weekday=False)

            def say(key: str, **values: str) -> str:
                return FACT_WORDS.say(lang, key, unit, parties, **values)

            detected = self.origin == "detection"
            # A filing is made by the contractor's staff (the written report says the same).
            who = say("who.detected") if detected else say("who.filed") if self.origin == "filed" else None
            medium = say("medium.detected") if detected else None
            pub = None
            if self.publication_done is not None:
                pub = say("published", day=day(self.publication_done))
            prev = None
            if self.prevention_done is not None:
                prev = say("prevention.done", day=day(self.prevention_done))
            elif self.prevention_active:
                prev = say("prevention.active")
            other = other_text(lang, measures=self.commands_done, evidence="started" if self.seals else "none")
            return rule8_items(
                occurred_at=self.occurred_at,
                discovered_at=self.discovered_at,
                kind=self.kind,
                rules=self.rules,
                who_found=who,
                assessment=assessment,
                contractor_involved=True,
                data_items=self.data_items,
                medium=medium,
                people=self.people,
                publication=pub,
                prevention=prev,
                other=other,
                possible=self.possible,
                nature=self.nature,
                unit=unit,
                parties=parties,
            )

        return rule8_pair(build)


def rule8_pair(build: Any) -> Rule8Items:
    """The nine items in both languages from ``build(lang)`` (texts people cannot write in both)."""
    ja, en = build("ja"), build("en")
    items = tuple(
        Rule8Item(key, a.ja, b.en, a.notice_ja, b.notice_en) for key, a, b in zip(RULE8_ORDER, ja, en, strict=True)
    )
    return Rule8Items(items, contractor_involved=ja.contractor_involved, possible=ja.possible)


def rule8_json(items: Rule8Items) -> list[dict[str, Any]]:
    """The nine items as the run's JSON shows them: number, key, labels, known, and the text or 調査中."""
    return [
        {
            "number": i.number,
            "key": i.key.value,
            "label_ja": i.label_ja,
            "label_en": i.label_en,
            "known": i.known,
            "ja": i.ja if i.ja is not None else UNKNOWN,
            "en": i.en if i.en is not None else UNKNOWN_EN,
        }
        for i in items
    ]


def party_of(value: Any) -> ReportingParty | None:
    """The party an override names (``city`` / ``contractor``); None for both; ValueError otherwise."""
    if value is None or value == "":
        return None
    return ReportingParty(str(value))


__all__ = [
    "CLOCK_STEP_KINDS",
    "PPCState",
    "Rule8Facts",
    "datasets_snapshot",
    "end_of_day",
    "known_items",
    "party_of",
    "reminder_effect_id",
    "rule8_items",
    "rule8_json",
    "rule8_pair",
]
