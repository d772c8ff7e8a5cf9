# no copyright header in this project; Japanese text uses full-width punctuation
"""The Rule 8(1) report items and the draft notice to the people affected.

The nine items, in the order APPI Rule 8(1) lists them (shared/spec/legal.md,
"What a report contains"), are what a 速報 or 確報 to the PPC carries - and
what the contractor's report to the city should carry, because telling the
city the items it knows releases the contractor from its own APPI Art. 26
duty (PPC Q&A on 委託). Items not known yet read 調査中 and are supplied later
(追完).

Values hold categories, counts, dates and roles only, never personal
information. Free text passed in by people is screened: anything that looks
like an e-mail address, a phone number or a long number (My Number, card,
account) is replaced before it reaches a report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from kinkyu.catalogue import P_, PartyWords, Texts
from kinkyu.core.labels import ITEM_LABELS, NOT_PERSONAL_DATA, item_order, kind_label, nature_label, rule_label
from kinkyu.core.legal.triggers import Assessment, PeopleCount, ReportingParty
from kinkyu.core.timefmt import doc_date, doc_datetime

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

Lang = Literal["ja", "en"]

# The report items' words: English here, Japanese in the message catalogue under ``rule8.<key>``.
WORDS = Texts(
    "rule8.",
    {
        "unknown": P_("rule8.unknown", "under investigation"),
        "label.summary": P_("rule8.label.summary", "Summary"),
        "label.data_items": P_(
            "rule8.label.data_items",
            "Items of personal data leaked or possibly leaked (and medium)",
        ),
        "label.people": P_("rule8.label.people", "Number of people affected"),
        "label.cause": P_("rule8.label.cause", "Cause"),
        "label.secondary_harm": P_("rule8.label.secondary_harm", "Secondary harm, actual or possible, and what it is"),
        "label.response": P_("rule8.label.response", "What has been done for the people affected"),
        "label.publication": P_("rule8.label.publication", "Publication"),
        "label.prevention": P_("rule8.label.prevention", "Measures to prevent recurrence (done and planned)"),
        "label.other": P_("rule8.label.other", "Other relevant matters"),
        "row.occurred": P_("rule8.row.occurred", "Occurred"),
        "row.discovered": P_("rule8.row.discovered", "Discovered"),
        "row.what": P_("rule8.row.what", "What happened"),
        "row.found_by": P_("rule8.row.found_by", "Found by"),
        "row.triggers": P_("rule8.row.triggers", "Reporting triggers"),
        "row.involved": P_("rule8.row.involved", "Contractor involved"),
        "row.course": P_("rule8.row.course", "Course of events"),
        "sep.list": P_("rule8.sep.list", ", "),
        "sep.rules": P_("rule8.sep.rules", "; "),
        "sep.parts": P_("rule8.sep.parts", "; "),
        "what": P_("rule8.what", "{occurrence} ({parts})"),
        "what.detected": P_("rule8.what.detected", "detected: {rules}"),
        "occurrence.possible": P_("rule8.occurrence.possible", "possible breach"),
        "occurrence.actual": P_("rule8.occurrence.actual", "breach"),
        # The contract's words (受注者, 乙's role 受託者) and the local body (市 / 区), as in the rest of the
        # report; the law is cited beside each, so the city's officer copies the line into its own report.
        "party.contractor": P_("rule8.party.contractor", "contractor"),
        "party.city": P_("rule8.party.city", "{unit}"),
        "party.triggers": P_("rule8.party.triggers", "{party} ({law}): {names}"),
        "trigger.provisional": P_("rule8.trigger.provisional", "{name} (provisional)"),
        "trigger.none": P_("rule8.trigger.none", "none"),
        "exempt": P_("rule8.exempt", "exempt: protected by strong encryption"),
        "decided": P_("rule8.decided", "{assessed}; decided by staff: {verdict}"),
        "reportable": P_("rule8.reportable", "reportable"),
        "not_reportable": P_("rule8.not_reportable", "not reportable"),
        "not_applicable": P_("rule8.not_applicable", "not applicable (no leak of personal information)"),
        "involved.yes": P_("rule8.involved.yes", "yes (it happened at the contractor, in the contracted work)"),
        "involved.no": P_("rule8.involved.no", "no"),
        "data_items": P_("rule8.data_items", "{items} (medium: {medium})"),
        "cause": P_("rule8.cause", "{cause} (at: {party})"),
        "other.notice": P_("rule8.other.notice", "nothing further at present"),
        "notice.draft": P_(
            "rule8.notice.draft",
            "[DRAFT - for {who} to review and send; it has not been sent to anyone]",
        ),
        "notice.sender": P_("rule8.notice.sender", "[name of the local government]"),
        "notice.where": P_("rule8.notice.where", "a service provider contracted by {who}"),
        "notice.possible": P_("rule8.notice.possible", "may have been leaked"),
        "notice.actual": P_("rule8.notice.actual", "was leaked"),
        "notice.title": P_("rule8.notice.title", "Notice concerning your personal information"),
        "notice.lead": P_(
            "rule8.notice.lead",
            "We regret to inform you that your personal information {happened} at {where}.",
        ),
        "notice.apology": P_(
            "rule8.notice.apology",
            "We sincerely apologise for the concern and inconvenience this causes.",
        ),
        "notice.known": P_("rule8.notice.known", "What we know at present is as follows."),
        "notice.enquiries": P_("rule8.notice.enquiries", "Enquiries: {contact}"),
        "notice.contact": P_("rule8.notice.contact", "[enquiry line of the local government]"),
    },
)
LANGS: tuple[Lang, ...] = ("ja", "en")

# The marker an unknown item carries in stored runs and reports: the catalogue's Japanese for ``unknown``.
UNKNOWN = "調査中"
UNKNOWN_EN = WORDS.english["unknown"]

REDACTED = "［個人情報の可能性があるため削除］"


class Rule8Key(StrEnum):
    """The nine items of APPI Rule 8(1), in order."""

    SUMMARY = "summary"  # 1 概要
    DATA_ITEMS = "data_items"  # 2 項目 (and medium)
    PEOPLE = "people"  # 3 本人の数
    CAUSE = "cause"  # 4 原因
    SECONDARY_HARM = "secondary_harm"  # 5 二次被害
    RESPONSE = "response"  # 6 本人への対応
    PUBLICATION = "publication"  # 7 公表
    PREVENTION = "prevention"  # 8 再発防止策
    OTHER = "other"  # 9 その他


RULE8_ORDER: tuple[Rule8Key, ...] = tuple(Rule8Key)

# 本人通知 carries items 1, 2, 4, 5 and 9 only (legal.md, "Notifying the people affected").
NOTICE_KEYS: tuple[Rule8Key, ...] = (
    Rule8Key.SUMMARY,
    Rule8Key.DATA_ITEMS,
    Rule8Key.CAUSE,
    Rule8Key.SECONDARY_HARM,
    Rule8Key.OTHER,
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)0\d{1,4}-\d{1,4}-\d{3,4}(?!\d)")
# Eleven or more digits, possibly split by spaces or hyphens: My Number (12),
# card numbers (14-16), account and phone numbers. Dates and counts are shorter.
_LONG_NUMBER = re.compile(r"(?<!\d)(?:\d[ -]?){10,18}\d(?!\d)")


def scrub(text: str) -> str:
    """Replace what looks like personal information in ``text`` by :data:`REDACTED`.

    A safety net for free text typed by people, not a guarantee: callers
    still pass categories, counts, dates and roles only.
    """
    for pattern in (_EMAIL, _PHONE, _LONG_NUMBER):
        text = pattern.sub(REDACTED, text)
    return text


def _free(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    return scrub(text.strip())


@dataclass(frozen=True, slots=True)
class Rule8Item:
    """One Rule 8(1) item: its text in Japanese and English, or unknown (None).

    ``notice_ja`` / ``notice_en`` hold a shorter text for the notice to the
    people affected when it differs (only what the person needs).
    """

    key: Rule8Key
    ja: str | None
    en: str | None
    notice_ja: str | None = None
    notice_en: str | None = None

    @property
    def number(self) -> int:
        """The item's number in Rule 8(1), 1 to 9."""
        return RULE8_ORDER.index(self.key) + 1

    @property
    def label_ja(self) -> str:
        """The item's Japanese name as Rule 8(1) words it."""
        return self.label("ja")

    @property
    def label_en(self) -> str:
        """The item's English name."""
        return self.label("en")

    @property
    def known(self) -> bool:
        """False while the item is 調査中."""
        return self.ja is not None

    @property
    def value(self) -> str:
        """The Japanese text, or :data:`UNKNOWN` (調査中)."""
        return self.ja if self.ja is not None else UNKNOWN

    def label(self, lang: Lang = "ja") -> str:
        """Return the item's name in ``lang``."""
        return WORDS.say(lang, f"label.{self.key.value}")

    def text(self, lang: Lang = "ja") -> str:
        """Return the text in ``lang``; 調査中 / "under investigation" when unknown."""
        if lang == "en":
            return self.en if self.en is not None else WORDS.say("en", "unknown")
        return self.value

    def notice_text(self, lang: Lang = "ja") -> str:
        """Return the text for the notice to the people affected."""
        notice = self.notice_en if lang == "en" else self.notice_ja
        return notice if notice is not None else self.text(lang)


@dataclass(frozen=True, slots=True)
class Rule8Items:
    """The nine Rule 8(1) items, in order, plus what the notice wording needs."""

    items: tuple[Rule8Item, ...]
    contractor_involved: bool = True
    possible: bool = True

    def __post_init__(self) -> None:
        """Refuse anything but the nine items in Rule 8(1) order."""
        if tuple(i.key for i in self.items) != RULE8_ORDER:
            raise ValueError("Rule8Items needs the nine Rule 8(1) items in order")

    def __iter__(self) -> Iterator[Rule8Item]:
        """Iterate over the items in Rule 8(1) order."""
        return iter(self.items)

    def __len__(self) -> int:
        """Return nine: the number of Rule 8(1) items."""
        return len(self.items)

    def __getitem__(self, key: Rule8Key) -> Rule8Item:
        """Return the item for ``key``."""
        return self.items[RULE8_ORDER.index(key)]

    def missing(self) -> tuple[Rule8Item, ...]:
        """Return the items still unknown (調査中), in order: what remains to be supplied (追完)."""
        return tuple(i for i in self.items if not i.known)

    @property
    def complete(self) -> bool:
        """True when no item is 調査中 (a complete 速報 can serve as the 確報)."""
        return not self.missing()

    def render(self, lang: Lang = "ja") -> str:
        """Render all nine items as numbered plain text, for a report to the city or the PPC."""
        return "\n\n".join(f"{i.number}. {i.label(lang)}\n{i.text(lang)}" for i in self.items)


def _when(value: datetime | date | None, lang: Lang) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("report times must be aware datetimes")
        return doc_datetime(value, lang)
    return doc_date(value, lang)


def _ordered(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        key = v.strip().lower()
        if key:
            seen.setdefault(key, None)
    return list(seen)


def _both(
    key: str, unit: str = "市", parties: PartyWords | None = None, /, **values: str | tuple[str, str]
) -> tuple[str, str]:
    """``key``'s text in Japanese and in English; a value given as a pair is (Japanese, English).

    ``unit`` / ``parties``: the local body and the contract's words for the parties (``{unit}``, ``{contractor_role}``).
    """
    out = [
        WORDS.say(lang, key, unit, parties, **{k: v[i] if isinstance(v, tuple) else v for k, v in values.items()})
        for i, lang in enumerate(LANGS)
    ]
    return out[0], out[1]


def _joined(sep: str, parts: list[tuple[str, str]]) -> tuple[str, str]:
    """``parts`` joined by the separator ``sep.<sep>`` of each language."""
    return WORDS.say("ja", f"sep.{sep}").join(p[0] for p in parts), WORDS.say("en", f"sep.{sep}").join(
        p[1] for p in parts
    )


def _what(
    kind: str | None,
    rules: list[str],
    *,
    possible: bool,
    nature: str | None = None,
    parties: PartyWords | None = None,
) -> tuple[str, str] | None:
    if kind is None and not rules:
        return None
    parts: list[tuple[str, str]] = []
    if kind is not None:
        parts.append(kind_label(kind))
    if rules:
        parts.append(_both("what.detected", rules=_joined("rules", [rule_label(r) for r in rules])))
    if nature is not None:
        # The clause's own kind of event (豊田市 システム停止事故, 岡山市 違反 …), not always a leak.
        occurrence = nature_label(nature, possible=possible, parties=parties)
    else:
        occurrence = _both("occurrence.possible" if possible else "occurrence.actual")
    return _both("what", occurrence=occurrence, parts=_joined("parts", parts))


# Each party is named as the report names it (the contract's word for the contractor, 市 / 区 for the city),
# with the provisions that bind it beside the name: the law's own terms stay in the law cited.
def _triggers(assessment: Assessment | None, unit: str = "市", parties: PartyWords | None = None) -> tuple[str, str]:
    if assessment is None:
        return _both("unknown")
    if assessment.encrypted_exempt:
        ja, en = _both("exempt")
    else:
        # Per party: the city's rule (Art. 68) has triggers the contractor's lacks.
        parts: list[tuple[str, str]] = []
        for party in ReportingParty:
            fired = assessment.party(party).fired
            maybe = assessment.party(party).provisional if assessment.override_for(party) is None else ()
            names = [
                *((t.label_ja, t.label_en) for t in fired),
                *(_both("trigger.provisional", name=(t.label_ja, t.label_en)) for t in maybe),
            ]
            listed = _joined("list", names) if names else _both("trigger.none")
            law = (party.law_ja, party.law_en)
            name = _both(f"party.{party.value}", unit, parties)
            parts.append(_both("party.triggers", party=name, law=law, names=listed))
        ja, en = _joined("parts", parts)
    if assessment.overrides:
        verdict = _both("reportable" if assessment.overrides[-1].reportable else "not_reportable")
        ja, en = _both("decided", assessed=(ja, en), verdict=verdict)
    return ja, en


_ROWS = ("occurred", "discovered", "what", "found_by", "triggers", "involved", "course")


def _lines(rows: list[tuple[str, str | None]], unknown: str, sep: str) -> str:
    return "\n".join(f"{label}{sep}{value if value is not None else unknown}" for label, value in rows)


def rule8_items(
    *,
    occurred_at: datetime | date | None = None,
    discovered_at: datetime | date | None = None,
    kind: str | None = None,
    rules: Iterable[str] = (),
    who_found: str | None = None,
    assessment: Assessment | None = None,
    contractor_involved: bool = True,
    course: str | None = None,
    data_items: Iterable[str] = (),
    medium: str | None = None,
    people: PeopleCount | None = None,
    cause: str | None = None,
    cause_party: str | None = None,
    secondary_harm: str | None = None,
    response: str | None = None,
    publication: str | None = None,
    prevention: str | None = None,
    other: str | None = None,
    possible: bool | None = None,
    nature: str | None = None,
    other_notice: str | None = None,
    unit: str = "市",
    parties: PartyWords | None = None,
) -> Rule8Items:
    """Build the nine Rule 8(1) items from what is known; the rest read 調査中.

    ``nature`` (a :data:`kinkyu.core.rulebook.EventNature` code) names the
    event as the city's clause does in item 1; without it, 漏えい等.
    ``other_notice`` is what item 9 tells the people affected: what a person
    wrote for them, never the report's own counts (commands, seals), which
    mean nothing to a resident; none reads 特になし.

    Item 1 (概要) is built from the dates, the incident ``kind`` and detection
    ``rules`` (as category names), the finder's role, the triggers in
    ``assessment`` and whether a contractor is involved; it is unknown until
    the kind or a rule is. Item 3 uses ``people`` or, failing that, the
    assessment's count, worded 最大 when only an upper bound is known.
    ``who_found``, ``course``, ``medium``, ``cause``, ``cause_party`` and items
    5-9 are free text for roles and categories; they are screened by
    :func:`scrub`. ``possible`` defaults to the assessment's (else True).
    ``unit`` (市 / 区) and ``parties`` (the contract's words) name the parties in item 1.
    """
    if possible is None:
        possible = assessment.possible if assessment is not None else True
    rule_list = _ordered(rules)
    what = _what(kind, rule_list, possible=possible, nature=nature, parties=parties)
    who = _free(who_found)
    course_text = _free(course)
    trig_ja, trig_en = _triggers(assessment, unit, parties)
    if assessment is None and nature in NOT_PERSONAL_DATA:
        # A stopped system or a complaint: no PPC report is assessed, which is not "under investigation".
        trig_ja, trig_en = _both("not_applicable")
    involved_ja, involved_en = _both("involved.yes" if contractor_involved else "involved.no", unit, parties)
    row = {lang: {k: WORDS.say(lang, f"row.{k}") for k in _ROWS} for lang in LANGS}
    unknown_ja, unknown_en = _both("unknown")

    summary: Rule8Item
    if what is None:
        summary = Rule8Item(Rule8Key.SUMMARY, None, None)
    else:
        ja, en = row["ja"], row["en"]
        common_ja: list[tuple[str, str | None]] = [
            (ja["occurred"], _when(occurred_at, "ja")),
            (ja["discovered"], _when(discovered_at, "ja")),
            (ja["what"], what[0]),
        ]
        common_en: list[tuple[str, str | None]] = [
            (en["occurred"], _when(occurred_at, "en")),
            (en["discovered"], _when(discovered_at, "en")),
            (en["what"], what[1]),
        ]
        # The finder, the PPC triggers and the contractor's part matter to the regulator, not to the person
        # (the notice's opening sentence already says where it happened). A resident reads what happened to
        # the data (漏えい等), not the contract's name for it (契約違反).
        full_ja = [*common_ja, (ja["found_by"], who), (ja["triggers"], trig_ja), (ja["involved"], involved_ja)]
        full_en = [*common_en, (en["found_by"], who), (en["triggers"], trig_en), (en["involved"], involved_en)]
        plain = _what(kind, rule_list, possible=possible) or what
        notice_ja = [*common_ja[:2], (ja["what"], plain[0])]
        notice_en = [*common_en[:2], (en["what"], plain[1])]
        summary = Rule8Item(
            Rule8Key.SUMMARY,
            _lines([*full_ja, (ja["course"], course_text)], unknown_ja, ": "),
            _lines([*full_en, (en["course"], course_text)], unknown_en, ": "),
            _lines([*notice_ja, (ja["course"], course_text)], unknown_ja, ": "),
            _lines([*notice_en, (en["course"], course_text)], unknown_en, ": "),
        )

    items = item_order(_ordered(data_items))
    medium_text = _free(medium)
    data: Rule8Item
    if not items and medium_text is None:
        data = Rule8Item(Rule8Key.DATA_ITEMS, None, None)
    else:
        labels = [ITEM_LABELS.get(i, (scrub(i), scrub(i))) for i in items]
        names = _joined("list", labels) if labels else (unknown_ja, unknown_en)
        medium_pair = (medium_text, medium_text) if medium_text else (unknown_ja, unknown_en)
        data = Rule8Item(Rule8Key.DATA_ITEMS, *_both("data_items", items=names, medium=medium_pair))

    count = people if people is not None else (assessment.people if assessment is not None else None)
    people_item = (
        Rule8Item(Rule8Key.PEOPLE, count.text("ja"), count.text("en"))
        if count is not None
        else Rule8Item(Rule8Key.PEOPLE, None, None)
    )

    cause_text = _free(cause)
    party_text = _free(cause_party)
    cause_item: Rule8Item
    if cause_text is None:
        cause_item = Rule8Item(Rule8Key.CAUSE, None, None)
    elif party_text is None:
        cause_item = Rule8Item(Rule8Key.CAUSE, cause_text, cause_text)
    else:
        cause_item = Rule8Item(Rule8Key.CAUSE, *_both("cause", cause=cause_text, party=party_text))

    def free_item(key: Rule8Key, text: str | None) -> Rule8Item:
        # People write these in one language; the English report shows it as written.
        value = _free(text)
        return Rule8Item(key, value, value)

    return Rule8Items(
        (
            summary,
            data,
            people_item,
            cause_item,
            free_item(Rule8Key.SECONDARY_HARM, secondary_harm),
            free_item(Rule8Key.RESPONSE, response),
            free_item(Rule8Key.PUBLICATION, publication),
            free_item(Rule8Key.PREVENTION, prevention),
            replace(
                free_item(Rule8Key.OTHER, other),
                notice_ja=_free(other_notice) or WORDS.say("ja", "other.notice"),
                notice_en=_free(other_notice) or WORDS.say("en", "other.notice"),
            ),
        ),
        contractor_involved=contractor_involved,
        possible=possible,
    )


def notice_draft(
    items: Rule8Items, lang: Lang = "ja", *, sender: str | None = None, contact: str | None = None, unit: str = "市"
) -> str:
    """Draft, as plain text, the notice to the people affected (本人通知).

    It carries Rule 8(1) items 1, 2, 4, 5 and 9 only, limited to what the
    person needs (legal.md). The city sends it, by letter or e-mail, after
    review; Kinkyu never sends it. ``sender`` (the city's name) and
    ``contact`` (the city's enquiry line) default to placeholders to fill in;
    ``unit`` (市 / 区) is how the city names itself in it (本市, 本区).
    """
    if lang not in ("ja", "en"):
        raise ValueError(f"lang must be 'ja' or 'en', not {lang!r}")
    chosen = [items[k] for k in NOTICE_KEYS]

    def say(key: str, **values: str) -> str:
        return WORDS.say(lang, f"notice.{key}", unit, None, **values)

    who = sender or say("sender")
    where = say("where", who=who) if items.contractor_involved else who
    head = [
        say("draft", who=who),
        "",
        say("title"),
        "",
        say("lead", happened=say("possible" if items.possible else "actual"), where=where),
        say("apology"),
        say("known"),
    ]
    tail = ["", say("enquiries", contact=contact or say("contact")), "", who]
    body: list[str] = []
    for item in chosen:
        body += ["", f"■ {item.label(lang)}", item.notice_text(lang)]
    return "\n".join([*head, *body, *tail]) + "\n"
