# no copyright header in this project; Japanese text uses full-width punctuation
"""Whether a breach must be reported to the PPC, for the contractor and for the city.

shared/spec/legal.md, "When a breach must go to the national regulator":

- the contractor (a private business): APPI Art. 26, Rule 7 - 要配慮個人情報;
  possible financial harm; an act with an improper purpose; more than 1,000
  people;
- the city (a public body): APPI Art. 68, Rule 43 - the same three, more than
  100 people, and 条例要配慮個人情報 where the city's ordinance defines it.

Any one trigger suffices, for an actual breach **or a possible one** (おそれ).
Data protected by strong encryption (高度な暗号化) is exempt from all of them.

The assessment presumes a 漏えい等 (leak, loss, damage) happened or may have
happened; whether an incident is one at all is a human judgement, recorded
with :func:`apply_override` next to the computed result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

import msgspec
from msgspec.structs import replace

from kinkyu.catalogue import P_, Texts
from kinkyu.core.codec import Record
from kinkyu.core.labels import item_labels
from kinkyu.core.legal.deadlines import FINAL_DAYS, FINAL_DAYS_IMPROPER_PURPOSE, PPCDeadlines, ppc_deadlines

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date

    from kinkyu.core.incident import Incident


class Trigger(StrEnum):
    """A reason a breach must go to the PPC (Rule 7 / Rule 43)."""

    SENSITIVE = "sensitive"  # 要配慮個人情報
    FINANCIAL_HARM = "financial_harm"  # 財産的被害のおそれ
    IMPROPER_PURPOSE = "improper_purpose"  # 不正の目的
    OVER_1000 = "over_1000"  # 1,000人超 (private businesses)
    OVER_100 = "over_100"  # 100人超 (public bodies only)
    ORDINANCE_SENSITIVE = "ordinance_sensitive"  # 条例要配慮個人情報 (public bodies only)

    def label(self, lang: str) -> str:
        """The trigger's name in ``lang`` (the message catalogue's words)."""
        return TRIGGER_NAMES.say(lang, self.value)

    @property
    def label_ja(self) -> str:
        """Japanese name of the trigger."""
        return self.label("ja")

    @property
    def label_en(self) -> str:
        """English name of the trigger."""
        return self.label("en")


TRIGGER_NAMES = Texts(
    "trigger.",
    {
        "sensitive": P_("trigger.sensitive", "special-care-required personal information"),
        "financial_harm": P_("trigger.financial_harm", "possible financial harm"),
        "improper_purpose": P_("trigger.improper_purpose", "possible improper purpose"),
        "over_1000": P_("trigger.over_1000", "more than 1,000 people"),
        "over_100": P_("trigger.over_100", "more than 100 people"),
        "ordinance_sensitive": P_("trigger.ordinance_sensitive", "ordinance-defined special-care information"),
    },
)
"""The triggers' names: English here, Japanese in the message catalogue under ``trigger.<code>``."""


class ReportingParty(StrEnum):
    """Who owes the PPC a report."""

    CONTRACTOR = "contractor"  # 受託者: APPI Art. 26, Rule 7
    CITY = "city"  # 行政機関等: APPI Art. 68, Rule 43

    def law(self, lang: str) -> str:
        """The provisions that bind this party, in ``lang``."""
        return REASONS.say(lang, f"law.{self.value}")

    @property
    def law_ja(self) -> str:
        """The provisions that bind this party, in Japanese."""
        return self.law("ja")

    @property
    def law_en(self) -> str:
        """The provisions that bind this party, in English."""
        return self.law("en")


# The triggers each party's rule lists, in the order the rule lists them.
# The city has no "more than 1,000" trigger of its own: more than 100 covers it.
CONTRACTOR_TRIGGERS: tuple[Trigger, ...] = (
    Trigger.SENSITIVE,
    Trigger.FINANCIAL_HARM,
    Trigger.IMPROPER_PURPOSE,
    Trigger.OVER_1000,
)
CITY_TRIGGERS: tuple[Trigger, ...] = (
    Trigger.SENSITIVE,
    Trigger.FINANCIAL_HARM,
    Trigger.IMPROPER_PURPOSE,
    Trigger.OVER_100,
    Trigger.ORDINANCE_SENSITIVE,
)

# "More than": exactly 1,000 (or 100) people does not trigger.
CONTRACTOR_PEOPLE_THRESHOLD = 1000
CITY_PEOPLE_THRESHOLD = 100

# 要配慮個人情報 (APPI Art. 2(3), Cabinet Order Art. 2, Rule 5), as item names.
SENSITIVE_ITEMS = frozenset(
    {
        "race",  # 人種
        "creed",  # 信条
        "religion",  # 信条 (religious belief is the common case)
        "social_status",  # 社会的身分
        "medical_history",  # 病歴
        "medical",  # 医師等による診療・調剤の情報
        "health",  # 健康診断等の結果
        "disability",  # 身体・知的・精神障害等
        "criminal_record",  # 犯罪の経歴
        "criminal_proceedings",  # 被疑者・被告人としての刑事手続
        "juvenile_proceedings",  # 少年保護事件の手続
        "victim_of_crime",  # 犯罪により害を被った事実
    }
)

# Items whose leak could cause financial harm (財産的被害, Rule 7(2) / 43(2)).
FINANCIAL_HARM_ITEMS = frozenset(
    {
        "card_number",  # クレジットカード番号: the guideline's own example
        "credit_card",
        "credit_card_number",
        "bank_account",  # 口座番号 (with name: fraudulent debits, phishing)
        "bank_account_number",
        "payment_credentials",  # 送金・決済機能のあるサービスのID・パスワード (guideline example)
        # My Number is 特定個人情報 with its own regime (番号法); Kinkyu also
        # treats it as financial harm because it can enable impersonation and
        # fraud (e.g. opening accounts, tax and benefit procedures).
        "my_number",
    }
)

# Detection rules (shared/spec/rules.md) whose firing means the breach may
# have been caused by an act with an improper purpose (不正の目的: unauthorised
# access, theft, insider removal, ransomware - legal.md). おそれ suffices, so a
# rule that *may* show such an act counts; a human can override.
IMPROPER_PURPOSE_RULES = frozenset(
    {
        "unregistered-actor",  # data action by an account not registered as staff: unauthorised access
        "revoked-credential",  # success with a revoked credential: access nobody is entitled to any more
        "unapproved-org",  # handling by an unapproved subcontractor: unauthorised provision (再委託)
        "credential-attack",  # bursts of failed logins: password guessing is an attack by definition
        "bulk-export",  # bulk copy/export may be insider removal (持ち出し); possible until triage says otherwise
        "log-tampering",  # changing the access log hides what was done: an act to conceal
        "post-contract-access",  # data access after the contract ended has no lawful purpose under it
    }
)
# Rules deliberately absent: off-hours, outside-site, pii-email, unencrypted-media,
# scope-violation and system-outage are usually mistakes or policy breaches;
# they still feed the other triggers (items, people) and the human review.

# Filed incident kinds (shared/spec/events.md) that name an improper act.
IMPROPER_PURPOSE_KINDS = frozenset({"unauthorized_access", "tampering"})


def _items(values: Iterable[str]) -> frozenset[str]:
    # Item names arrive from profiles, events and people: compare them folded.
    return frozenset(v.strip().lower() for v in values if v and v.strip())


@dataclass(frozen=True, slots=True)
class BreachFacts:
    """What is known about a breach that decides whether it goes to the PPC.

    ``distinct_people`` is the count of distinct subject ids; set it only when
    every event involved carried subject ids (see :func:`distinct_people`),
    otherwise leave it ``None`` and ``records_upper_bound`` (the sum of record
    counts) is used as an upper bound. ``encrypted`` is True only when *all*
    the data involved was strongly encrypted and the key was not compromised
    with it. ``possible`` says whether the breach is only possible (おそれ);
    actual and possible breaches trigger alike, the flag changes the wording.
    ``confirmed``: a person confirmed the facts (at triage); until then a
    trigger inferred from a detection rule alone is provisional (暫定・要確認).
    """

    data_items: frozenset[str] = frozenset()
    any_sensitive_dataset: bool = False
    any_ordinance_sensitive_dataset: bool = False
    rules: frozenset[str] = frozenset()
    kind: str | None = None
    filed_improper_purpose: bool | None = None
    distinct_people: int | None = None
    records_upper_bound: int = 0
    encrypted: bool = False
    ordinance_sensitive_items: frozenset[str] = frozenset()
    possible: bool = True
    confirmed: bool = False

    def __post_init__(self) -> None:
        """Fold item names; refuse negative counts."""
        if self.distinct_people is not None and self.distinct_people < 0:
            raise ValueError("distinct_people must not be negative")
        if self.records_upper_bound < 0:
            raise ValueError("records_upper_bound must not be negative")
        object.__setattr__(self, "data_items", _items(self.data_items))
        object.__setattr__(self, "ordinance_sensitive_items", _items(self.ordinance_sensitive_items))
        object.__setattr__(self, "rules", frozenset(self.rules))


class DistinctPeople(NamedTuple):
    """Distinct people across events: ``number`` (None if no event said) and ``complete``."""

    number: int | None
    complete: bool


def distinct_people(subject_id_lists: Iterable[Iterable[str] | None]) -> DistinctPeople:
    """Count distinct subject ids across events (本人の数, Rule 8(1) item 3).

    Each element is one event's ``resource.subject_ids`` (None when the event
    did not carry them). The same person in several events counts once.
    ``complete`` is True only when every event carried ids; otherwise the
    count is a lower bound and the record sum is the better figure for the
    thresholds. No ids at all gives ``(None, False)``.
    """
    seen: set[str] = set()
    complete = True
    any_ids = False
    for ids in subject_id_lists:
        if ids is None:
            complete = False
            continue
        any_ids = True
        seen.update(ids)
    if not any_ids:
        return DistinctPeople(None, complete=False)
    return DistinctPeople(len(seen), complete=complete)


class PeopleCount(msgspec.Struct, Record, frozen=True):
    """The number of people affected, and whether it is only an upper bound (最大)."""

    count: int
    upper_bound: bool

    def exceeds(self, threshold: int) -> bool:
        """Tell whether the count is more than ``threshold`` (the rules say "more than")."""
        return self.count > threshold

    def text(self, lang: str = "ja") -> str:
        """Render as ``1,200人`` or ``最大1,200人（レコード数の合計による上限）``; English likewise."""
        return REASONS.say(lang, "people.upper_bound" if self.upper_bound else "people.count", count=f"{self.count:,}")


def people_count(distinct: int | None, records_upper_bound: int) -> PeopleCount | None:
    """Return distinct people when known, else the record sum as an upper bound; None if neither."""
    if distinct is not None:
        return PeopleCount(distinct, upper_bound=False)
    if records_upper_bound > 0:
        return PeopleCount(records_upper_bound, upper_bound=True)
    return None


class TriggerResult(msgspec.Struct, Record, frozen=True):
    """One trigger for one party: whether it fired and why, as a code (``why``) and its ``values``.

    The reason's words are looked up when it is shown (:meth:`reason`), in the reader's language.
    ``reason_ja`` / ``reason_en`` are what a run stored before reasons were codes: such a run shows
    them as they were.
    """

    trigger: Trigger
    fired: bool
    why: str = ""
    values: dict[str, Any] | None = None
    # Inferred from a detection rule and not yet confirmed by a person: it drives the reminders, not
    # the verdict (報告対象) nor the 60-day 確報.
    provisional: bool = False
    reason_ja: str = ""
    reason_en: str = ""

    omit_default: ClassVar[frozenset[str]] = frozenset({"why", "values", "provisional", "reason_ja", "reason_en"})

    def reason(self, lang: str) -> str:
        """Why, in ``lang``: from the code and its values, or the text a run stored before there was one."""
        if self.why:
            return reason_text(self.why, self.values or {}, lang)
        return self.reason_en if lang == "en" else self.reason_ja


class PartyAssessment(msgspec.Struct, Record, frozen=True):
    """The computed triggers for one party, in the order its rule lists them."""

    party: ReportingParty
    triggers: tuple[TriggerResult, ...]

    # Written with what the triggers give (read back, they are recomputed): party, computed_reportable, fired,
    # triggers, provisional.
    computed: ClassVar[dict[str, str | None]] = {
        "computed_reportable": "party",
        "fired": "computed_reportable",
        "provisional": "triggers",  # only when some are: a confirmed assessment reads as before
    }
    omit_default: ClassVar[frozenset[str]] = frozenset({"provisional"})

    @property
    def computed_reportable(self) -> bool:
        """True when any trigger fired on confirmed facts (before any human override)."""
        return bool(self.fired)

    @property
    def fired(self) -> tuple[Trigger, ...]:
        """The triggers that fired on confirmed facts."""
        return tuple(t.trigger for t in self.triggers if t.fired and not t.provisional)

    @property
    def provisional(self) -> tuple[Trigger, ...]:
        """The triggers inferred from a detection rule, awaiting a person's confirmation (暫定・要確認)."""
        return tuple(t.trigger for t in self.triggers if t.fired and t.provisional)

    def result(self, trigger: Trigger) -> TriggerResult:
        """Return the result for ``trigger`` (KeyError if this party's rule does not list it)."""
        for t in self.triggers:
            if t.trigger is trigger:
                return t
        raise KeyError(f"{trigger} is not a trigger for the {self.party}")


class Override(msgspec.Struct, Record, frozen=True):
    """A person's decision on reportability, recorded next to the computed result."""

    reportable: bool
    reason: str
    by: str
    at: datetime
    party: ReportingParty | None = None  # None: both parties


class Assessment(msgspec.Struct, Record, frozen=True, kw_only=True):
    """Whether each party must report to the PPC, why, and any human override.

    The computed triggers are never changed by an override; ``reportable_to_ppc``
    gives the effective answer (latest override for the party, else computed).
    ``improper_purpose`` is the improper-purpose signal itself, kept even under
    the encryption exemption, because it decides the 60-day 確報 period if a
    person overrides the exemption (e.g. the key leaked too).
    """

    encrypted_exempt: bool
    improper_purpose: bool
    possible: bool
    people: PeopleCount | None
    contractor: PartyAssessment
    city: PartyAssessment
    overrides: tuple[Override, ...] = ()

    # Written with the effective answers first (what a screen shows), then the computed detail; the
    # derived keys are recomputed when read, not read.
    computed: ClassVar[dict[str, str | None]] = {
        "contractor_reportable": None,
        "city_reportable": "contractor_reportable",
        "final_report_days": "improper_purpose",
    }

    def party(self, party: ReportingParty) -> PartyAssessment:
        """Return the computed assessment for ``party``."""
        return self.contractor if party is ReportingParty.CONTRACTOR else self.city

    def override_for(self, party: ReportingParty) -> Override | None:
        """Return the latest override that applies to ``party``, if any."""
        for o in reversed(self.overrides):
            if o.party is None or o.party is party:
                return o
        return None

    def reportable_to_ppc(self, party: ReportingParty) -> bool:
        """Tell whether ``party`` must report: a human override wins over the computation."""
        o = self.override_for(party)
        return o.reportable if o is not None else self.party(party).computed_reportable

    @property
    def contractor_reportable(self) -> bool:
        """Effective answer: the contractor must report to the PPC (APPI Art. 26)."""
        return self.reportable_to_ppc(ReportingParty.CONTRACTOR)

    @property
    def city_reportable(self) -> bool:
        """Effective answer: the city must report to the PPC (APPI Art. 68)."""
        return self.reportable_to_ppc(ReportingParty.CITY)

    def provisional_for(self, party: ReportingParty) -> bool:
        """Whether ``party`` may have to report on a trigger not yet confirmed (暫定・要確認), no one having decided."""
        return (
            not self.reportable_to_ppc(party)
            and self.override_for(party) is None
            and bool(self.party(party).provisional)
        )

    @property
    def city_provisional(self) -> bool:
        """The city may have to report: a provisional trigger fired and no person has decided yet."""
        return self.provisional_for(ReportingParty.CITY)

    @property
    def sixty_day_rule(self) -> bool:
        """True when the 確報 is due in 60 days, not 30 (Rule 8(2): improper purpose)."""
        return self.improper_purpose

    @property
    def final_report_days(self) -> int:
        """The 確報 period in days: 60 with an improper purpose, else 30."""
        return FINAL_DAYS_IMPROPER_PURPOSE if self.improper_purpose else FINAL_DAYS

    def deadlines(self, learned: date) -> PPCDeadlines:
        """Return the PPC deadlines for a party that learned of the breach on ``learned``."""
        return ppc_deadlines(learned, improper_purpose=self.improper_purpose)

    def signature(self) -> dict[str, Any]:
        """The result as it matters to people: per party, reportable or not and which triggers fired.

        Two assessments with the same signature differ only in wording (a new
        record count under the threshold, say); a run logs a change of this.
        """
        return {
            party.value: {
                "reportable": self.reportable_to_ppc(party),
                "fired": [t.value for t in self.party(party).fired],
                "overridden": self.override_for(party) is not None,
            }
            | (
                {"provisional": [t.value for t in self.party(party).provisional]}
                if self.party(party).provisional
                else {}
            )
            for party in ReportingParty
        } | {"encrypted_exempt": self.encrypted_exempt, "final_days": self.final_report_days}


def apply_override(
    assessment: Assessment,
    *,
    reportable: bool,
    reason: str,
    by: str,
    at: datetime,
    party: ReportingParty | None = None,
) -> Assessment:
    """Return a copy of ``assessment`` with a person's decision recorded (both parties unless ``party``).

    The computed triggers stay as they were, so the record shows both what the
    rules of APPI Rule 7 / Rule 43 gave and what was decided, by whom and why.
    """
    if not reason.strip():
        raise ValueError("an override needs a reason")
    if not by.strip():
        raise ValueError("an override needs the person who made it")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be an aware datetime")
    o = Override(reportable=reportable, reason=reason, by=by, at=at, party=party)
    return replace(assessment, overrides=(*assessment.overrides, o))


# What the assessment says, and why: English here, Japanese in the message catalogue under ``ppc.<key>``.
# ``{People}`` is a count of people (PeopleCount.text) as a sentence begins with it.
REASONS = Texts(
    "ppc.",
    {
        "law.contractor": P_("ppc.law.contractor", "APPI Art. 26, Rule 7"),
        "law.city": P_("ppc.law.city", "APPI Art. 68, Rule 43"),
        "people.count": P_("ppc.people.count", "{count} people"),
        "people.upper_bound": P_("ppc.people.upper_bound", "up to {count} people (upper bound: sum of record counts)"),
        "sensitive.none": P_(
            "ppc.sensitive.none",
            "No special-care-required personal information among the known items",
        ),
        "sensitive.dataset": P_("ppc.sensitive.dataset", "a data set the contract marks sensitive"),
        "sensitive.possible": P_(
            "ppc.sensitive.possible",
            "Special-care-required personal information possibly involved ({items})",
        ),
        "sensitive.actual": P_("ppc.sensitive.actual", "Special-care-required personal information involved ({items})"),
        "financial.none": P_("ppc.financial.none", "No item that could cause financial harm among the known items"),
        "financial.fired": P_(
            "ppc.financial.fired",
            "Includes items whose misuse could cause financial harm ({items})",
        ),
        "improper.detected": P_("ppc.improper.detected", "detected: {rules}"),
        "improper.filed_kind": P_("ppc.improper.filed_kind", "filed kind: {kind}"),
        "improper.filed": P_("ppc.improper.filed", "filed as improper purpose"),
        "improper.none": P_("ppc.improper.none", "No detection or filing indicates an improper purpose"),
        "improper.provisional": P_(
            "ppc.improper.provisional",
            "Provisional (to be confirmed): possibly an improper purpose ({sources})",
        ),
        "improper.fired": P_(
            "ppc.improper.fired",
            "Caused by an act possibly done with an improper purpose ({sources})",
        ),
        "people.unknown": P_("ppc.people.unknown", "Number of people not yet known"),
        "people.not_over": P_("ppc.people.not_over", "{People}: not more than {threshold}"),
        "people.possibly_over": P_("ppc.people.possibly_over", "{People}: possibly more than {threshold}"),
        "people.over": P_("ppc.people.over", "{People}: more than {threshold}"),
        "ordinance.dataset": P_(
            "ppc.ordinance.dataset",
            "Involves a data set the contract marks as ordinance-defined special-care information",
        ),
        "ordinance.not_configured": P_(
            "ppc.ordinance.not_configured",
            "No ordinance-defined special-care items are configured",
        ),
        "ordinance.none": P_("ppc.ordinance.none", "No ordinance-defined special-care item among the known items"),
        "ordinance.fired": P_("ppc.ordinance.fired", "Includes ordinance-defined special-care items ({items})"),
        "exempt": P_("ppc.exempt", "Exempt: protected by strong encryption (高度な暗号化)"),
        "exempt.otherwise": P_("ppc.exempt.otherwise", "{reason}; would otherwise apply: {otherwise}"),
        "list": P_("ppc.list", "{a}, {b}"),
    },
)


def _listed(lang: str, parts: Iterable[str]) -> str:
    """``parts`` as a list in ``lang`` (、 in Japanese, commas in English)."""
    out = ""
    for part in parts:
        out = REASONS.say(lang, "list", a=out, b=part) if out else part
    return out


def _item_names(codes: Iterable[str], lang: str) -> list[str]:
    ja, en = item_labels(codes)
    return list(ja if lang == "ja" else en)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _source(source: Mapping[str, Any], lang: str) -> str:
    if "rules" in source:
        return REASONS.say(lang, "improper.detected", rules=", ".join(source["rules"]))
    if "kind" in source:
        return REASONS.say(lang, "improper.filed_kind", kind=source["kind"])
    return REASONS.say(lang, "improper.filed")


def reason_text(why: str, values: Mapping[str, Any], lang: str) -> str:
    """A trigger's reason ``why`` (a key of :data:`REASONS`) with its ``values``, in ``lang``."""
    if why in {"sensitive.possible", "sensitive.actual"}:
        names = _item_names(values.get("items", ()), lang)
        if values.get("dataset"):
            names.append(REASONS.say(lang, "sensitive.dataset"))
        return REASONS.say(lang, why, items=_listed(lang, names))
    if why in {"financial.fired", "ordinance.fired"}:
        return REASONS.say(lang, why, items=_listed(lang, _item_names(values.get("items", ()), lang)))
    if why in {"improper.provisional", "improper.fired"}:
        return REASONS.say(lang, why, sources="; ".join(_source(s, lang) for s in values.get("sources", ())))
    if why in {"people.not_over", "people.possibly_over", "people.over"}:
        counted = PeopleCount(int(values["count"]), upper_bound=bool(values.get("upper_bound"))).text(lang)
        counted = counted if lang == "ja" else _cap(counted)
        return REASONS.say(lang, why, People=counted, threshold=f"{int(values['threshold']):,}")
    if why == "exempt" and isinstance(values.get("otherwise"), Mapping):
        otherwise = values["otherwise"]
        return REASONS.say(
            lang,
            "exempt.otherwise",
            reason=REASONS.say(lang, "exempt"),
            otherwise=reason_text(str(otherwise.get("why", "")), otherwise.get("values", {}), lang),
        )
    return REASONS.say(lang, why)


def _result(trigger: Trigger, *, fired: bool, why: str, **values: Any) -> TriggerResult:
    return TriggerResult(trigger, fired, why=why, values=values or None)


def _sensitive(facts: BreachFacts) -> TriggerResult:
    found = sorted(facts.data_items & SENSITIVE_ITEMS)
    if not found and not facts.any_sensitive_dataset:
        return _result(Trigger.SENSITIVE, fired=False, why="sensitive.none")
    # Actual and possible breaches trigger alike (legal.md); only the words differ.
    why = "sensitive.possible" if facts.possible else "sensitive.actual"
    more = {"dataset": True} if facts.any_sensitive_dataset else {}
    return _result(Trigger.SENSITIVE, fired=True, why=why, items=found, **more)


def _financial(facts: BreachFacts) -> TriggerResult:
    found = sorted(facts.data_items & FINANCIAL_HARM_ITEMS)
    if not found:
        return _result(Trigger.FINANCIAL_HARM, fired=False, why="financial.none")
    return _result(Trigger.FINANCIAL_HARM, fired=True, why="financial.fired", items=found)


def _improper_sources(facts: BreachFacts) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rules = sorted(facts.rules & IMPROPER_PURPOSE_RULES)
    if rules:
        out.append({"rules": rules})
    if facts.kind in IMPROPER_PURPOSE_KINDS:
        out.append({"kind": facts.kind})
    if facts.filed_improper_purpose:
        out.append({"filed": True})
    return out


def _improper(facts: BreachFacts) -> TriggerResult:
    # A filed "no improper purpose" does not switch off a detected signal:
    # おそれ suffices, and dismissing it is a decision for apply_override.
    sources = _improper_sources(facts)
    if not sources:
        return _result(Trigger.IMPROPER_PURPOSE, fired=False, why="improper.none")
    # Inferred from a detection rule alone (a filing or a person says nothing of it): 暫定 until triage.
    stated = facts.kind in IMPROPER_PURPOSE_KINDS or bool(facts.filed_improper_purpose)
    if not stated and not facts.confirmed:
        return TriggerResult(
            Trigger.IMPROPER_PURPOSE,
            fired=True,
            why="improper.provisional",
            values={"sources": sources},
            provisional=True,
        )
    return _result(Trigger.IMPROPER_PURPOSE, fired=True, why="improper.fired", sources=sources)


def _over(trigger: Trigger, people: PeopleCount | None, threshold: int) -> TriggerResult:
    if people is None:
        return _result(trigger, fired=False, why="people.unknown")
    counted = {"count": people.count, "upper_bound": people.upper_bound, "threshold": threshold}
    if not people.exceeds(threshold):
        return _result(trigger, fired=False, why="people.not_over", **counted)
    # An upper bound over the threshold is a possible excess: おそれ counts.
    why = "people.possibly_over" if people.upper_bound else "people.over"
    return _result(trigger, fired=True, why=why, **counted)


def _ordinance(facts: BreachFacts) -> TriggerResult:
    if facts.any_ordinance_sensitive_dataset:
        # The contract marks a data set involved as 条例要配慮個人情報 (Dataset.ordinance_sensitive).
        return _result(Trigger.ORDINANCE_SENSITIVE, fired=True, why="ordinance.dataset")
    if not facts.ordinance_sensitive_items:
        return _result(Trigger.ORDINANCE_SENSITIVE, fired=False, why="ordinance.not_configured")
    found = sorted(facts.data_items & facts.ordinance_sensitive_items)
    if not found:
        return _result(Trigger.ORDINANCE_SENSITIVE, fired=False, why="ordinance.none")
    return _result(Trigger.ORDINANCE_SENSITIVE, fired=True, why="ordinance.fired", items=found)


def _exempt(result: TriggerResult) -> TriggerResult:
    if not result.fired:
        return TriggerResult(result.trigger, fired=False, why="exempt")
    otherwise = {"why": result.why, "values": result.values or {}}
    return TriggerResult(result.trigger, fired=False, why="exempt", values={"otherwise": otherwise})


def assess(facts: BreachFacts) -> Assessment:
    """Which PPC-report triggers apply, for the contractor and for the city.

    Contractor: APPI Art. 26 and Rule 7 (要配慮, financial harm, improper
    purpose, more than 1,000 people). City: APPI Art. 68 and Rule 43 (the
    same three, more than 100 people, 条例要配慮個人情報). Improper purpose
    comes from :data:`IMPROPER_PURPOSE_RULES`, :data:`IMPROPER_PURPOSE_KINDS`
    or ``filed_improper_purpose``; it also makes the 確報 due in 60 days
    (Rule 8(2)). With ``encrypted`` (高度な暗号化) every trigger is off and
    says why, naming what would otherwise have applied.
    """
    people = people_count(facts.distinct_people, facts.records_upper_bound)
    sensitive = _sensitive(facts)
    financial = _financial(facts)
    improper = _improper(facts)
    computed = {
        ReportingParty.CONTRACTOR: (
            sensitive,
            financial,
            improper,
            _over(Trigger.OVER_1000, people, CONTRACTOR_PEOPLE_THRESHOLD),
        ),
        ReportingParty.CITY: (
            sensitive,
            financial,
            improper,
            _over(Trigger.OVER_100, people, CITY_PEOPLE_THRESHOLD),
            _ordinance(facts),
        ),
    }
    if facts.encrypted:
        computed = {p: tuple(_exempt(r) for r in results) for p, results in computed.items()}
    return Assessment(
        contractor=PartyAssessment(ReportingParty.CONTRACTOR, computed[ReportingParty.CONTRACTOR]),
        city=PartyAssessment(ReportingParty.CITY, computed[ReportingParty.CITY]),
        encrypted_exempt=facts.encrypted,
        # The 60-day 確報 only on a confirmed improper purpose; a provisional one drives reminders only.
        improper_purpose=improper.fired and not improper.provisional,
        people=people,
        possible=facts.possible,
    )


def breach_facts(
    *,
    data_items: Iterable[str],
    rules: Iterable[str],
    kind: str | None,
    records: int,
    datasets: Mapping[str, tuple[Iterable[str], bool]],
    involved: Iterable[str] | None = None,
    ordinance_datasets: Iterable[str] = (),
    distinct_people: int | None = None,
    encrypted: bool = False,
    filed_improper_purpose: bool | None = None,
    ordinance_sensitive_items: Iterable[str] = (),
    possible: bool = True,
    confirmed: bool = False,
) -> BreachFacts:
    """Derive :class:`BreachFacts` from what an incident and its contract say.

    ``datasets`` maps each data set of the contract to its fields and its
    ``sensitive`` flag. ``involved`` names the data sets involved; None means
    not known, and then every data set of the contract counts (a possible
    breach is reportable, so the product leans towards reporting and a person
    can override). When ``data_items`` is empty, the fields of those data sets
    are the items that may have been exposed. ``ordinance_datasets`` names the
    data sets the contract marks ``ordinance_sensitive`` (条例要配慮個人情報).
    """
    names = list(datasets) if involved is None else [d for d in involved if d in datasets]
    items = list(data_items)
    if not items:
        items = [f for name in names for f in datasets[name][0]]
    return BreachFacts(
        data_items=frozenset(items),
        any_sensitive_dataset=any(datasets[name][1] for name in names),
        any_ordinance_sensitive_dataset=bool(set(names) & set(ordinance_datasets)),
        rules=frozenset(rules),
        kind=kind,
        filed_improper_purpose=filed_improper_purpose,
        distinct_people=distinct_people,
        records_upper_bound=max(0, records),
        encrypted=encrypted,
        ordinance_sensitive_items=frozenset(ordinance_sensitive_items),
        possible=possible,
        confirmed=confirmed,
    )


class _Dataset(Protocol):
    @property
    def fields(self) -> list[str]: ...
    @property
    def sensitive(self) -> bool: ...
    @property
    def ordinance_sensitive(self) -> bool: ...


class DatasetsOf(Protocol):
    """What the assessment reads of a contract profile (:class:`kinkyu.core.contract.ContractProfile`): its data sets.

    Named here rather than imported, so the law does not import the contract
    module, which imports the response policy, which reads the law's deadlines.
    """

    @property
    def datasets(self) -> Mapping[str, _Dataset]:
        """The contract's data sets by name: their item codes and whether they are sensitive."""
        ...


def breach_facts_from_incident(
    incident: Incident,
    profile: DatasetsOf,
    *,
    datasets: Iterable[str] | None = None,
    distinct_people: int | None = None,
    encrypted: bool = False,
    filed_improper_purpose: bool | None = None,
    ordinance_sensitive_items: Iterable[str] = (),
    possible: bool = True,
) -> BreachFacts:
    """Derive the :class:`BreachFacts` of an incident under its contract profile (see :func:`breach_facts`).

    What is not given comes from the incident record: its data sets, its
    encryption and improper purpose as a filing stated them, and its
    ``distinct_people`` when exact (a lower bound is left out, so the record
    sum stands as the upper bound).
    """
    if distinct_people is None and incident.distinct_people_exact:
        distinct_people = incident.distinct_people
    return breach_facts(
        data_items=incident.data_items,
        rules=incident.rules,
        kind=incident.kind,
        records=incident.records,
        datasets={name: (ds.fields, ds.sensitive) for name, ds in profile.datasets.items()},
        involved=datasets if datasets is not None else incident.datasets,
        ordinance_datasets=[name for name, ds in profile.datasets.items() if ds.ordinance_sensitive],
        distinct_people=distinct_people,
        encrypted=encrypted or incident.encrypted is True,
        filed_improper_purpose=(
            filed_improper_purpose if filed_improper_purpose is not None else incident.improper_purpose
        ),
        ordinance_sensitive_items=ordinance_sensitive_items,
        possible=possible,
    )
