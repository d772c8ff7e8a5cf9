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

from kinkyu.core.labels import ITEM_LABELS, NOT_PERSONAL_DATA, kind_label, nature_label, rule_label
from kinkyu.core.legal.triggers import Assessment, PeopleCount, ReportingParty
from kinkyu.core.timefmt import doc_date, doc_datetime

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

Lang = Literal["ja", "en"]

UNKNOWN = "調査中"
UNKNOWN_EN = "under investigation"
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

_LABELS: dict[Rule8Key, tuple[str, str]] = {
    Rule8Key.SUMMARY: ("概要", "Summary"),
    Rule8Key.DATA_ITEMS: (
        "漏えい等が発生し、又は発生したおそれがある個人データの項目",
        "Items of personal data leaked or possibly leaked (and medium)",
    ),
    Rule8Key.PEOPLE: ("本人の数", "Number of people affected"),
    Rule8Key.CAUSE: ("原因", "Cause"),
    Rule8Key.SECONDARY_HARM: (
        "二次被害又はそのおそれの有無及びその内容",
        "Secondary harm, actual or possible, and what it is",
    ),
    Rule8Key.RESPONSE: ("本人への対応の実施状況", "What has been done for the people affected"),
    Rule8Key.PUBLICATION: ("公表の実施状況", "Publication"),
    Rule8Key.PREVENTION: ("再発防止のための措置", "Measures to prevent recurrence (done and planned)"),
    Rule8Key.OTHER: ("その他参考となる事項", "Other relevant matters"),
}

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
        return _LABELS[self.key][0]

    @property
    def label_en(self) -> str:
        """The item's English name."""
        return _LABELS[self.key][1]

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
        return self.label_en if lang == "en" else self.label_ja

    def text(self, lang: Lang = "ja") -> str:
        """Return the text in ``lang``; 調査中 / "under investigation" when unknown."""
        if lang == "en":
            return self.en if self.en is not None else UNKNOWN_EN
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


def _what(kind: str | None, rules: list[str], *, possible: bool, nature: str | None = None) -> tuple[str, str] | None:
    if kind is None and not rules:
        return None
    ja_parts: list[str] = []
    en_parts: list[str] = []
    if kind is not None:
        ja, en = kind_label(kind)
        ja_parts.append(ja)
        en_parts.append(en)
    if rules:
        ja_parts.append("検知内容: " + "、".join(rule_label(r)[0] for r in rules))
        en_parts.append("detected: " + "; ".join(rule_label(r)[1] for r in rules))
    if nature is not None:
        # The clause's own kind of event (豊田市 システム停止事故, 岡山市 違反 …), not always a leak.
        occ_ja, occ_en = nature_label(nature, possible=possible)
    else:
        occ_ja = "漏えい等が発生したおそれ" if possible else "漏えい等が発生"
        occ_en = "possible breach" if possible else "breach"
    return f"{occ_ja}（{' / '.join(ja_parts)}）", f"{occ_en} ({'; '.join(en_parts)})"


# The city's side is named by what the law calls it (行政機関等: APPI Art. 68), never 市: a ward (品川区) is one too.
_PARTY_JA = {ReportingParty.CONTRACTOR: "受託者", ReportingParty.CITY: "委託元の地方公共団体"}
_PARTY_EN = {ReportingParty.CONTRACTOR: "contractor", ReportingParty.CITY: "city"}


def _triggers(assessment: Assessment | None) -> tuple[str, str]:
    if assessment is None:
        return UNKNOWN, UNKNOWN_EN
    if assessment.encrypted_exempt:
        ja, en = "高度な暗号化により報告対象外", "exempt: protected by strong encryption"
    else:
        # Per party: the city's rule (Art. 68) has triggers the contractor's lacks.
        parts_ja: list[str] = []
        parts_en: list[str] = []
        for party in ReportingParty:
            fired = assessment.party(party).fired
            maybe = assessment.party(party).provisional if assessment.override_for(party) is None else ()
            names_ja = "、".join([*(t.label_ja for t in fired), *(f"{t.label_ja}（暫定・要確認）" for t in maybe)])
            names_en = ", ".join([*(t.label_en for t in fired), *(f"{t.label_en} (provisional)" for t in maybe)])
            names_ja = names_ja or "該当なし"
            names_en = names_en or "none"
            parts_ja.append(f"{_PARTY_JA[party]}（{party.law_ja}）: {names_ja}")
            parts_en.append(f"{_PARTY_EN[party]} ({party.law_en}): {names_en}")
        ja, en = " / ".join(parts_ja), "; ".join(parts_en)
    if assessment.overrides:
        latest = assessment.overrides[-1]
        verdict_ja = "報告対象" if latest.reportable else "報告対象外"
        verdict_en = "reportable" if latest.reportable else "not reportable"
        ja += f"。担当者の判断により{verdict_ja}"
        en += f"; decided by staff: {verdict_en}"
    return ja, en


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
    """
    if possible is None:
        possible = assessment.possible if assessment is not None else True
    rule_list = _ordered(rules)
    what = _what(kind, rule_list, possible=possible, nature=nature)
    who = _free(who_found)
    course_text = _free(course)
    trig_ja, trig_en = _triggers(assessment)
    if assessment is None and nature in NOT_PERSONAL_DATA:
        # A stopped system or a complaint: no PPC report is assessed, which is not "under investigation".
        trig_ja = "対象外（個人情報の漏えい等に当たらない事案）"
        trig_en = "not applicable (no leak of personal information)"
    involved_ja = "あり（業務の委託先）" if contractor_involved else "なし"
    involved_en = "yes (the contracted service provider)" if contractor_involved else "no"

    summary: Rule8Item
    if what is None:
        summary = Rule8Item(Rule8Key.SUMMARY, None, None)
    else:
        common_ja: list[tuple[str, str | None]] = [
            ("発生日時", _when(occurred_at, "ja")),
            ("発覚日時", _when(discovered_at, "ja")),
            ("事案", what[0]),
        ]
        common_en: list[tuple[str, str | None]] = [
            ("Occurred", _when(occurred_at, "en")),
            ("Discovered", _when(discovered_at, "en")),
            ("What happened", what[1]),
        ]
        # The finder and the PPC triggers matter to the regulator, not to the person.
        full_ja = [*common_ja, ("発見者", who), ("報告対象事態", trig_ja), ("委託先の関与", involved_ja)]
        full_en = [*common_en, ("Found by", who), ("Reporting triggers", trig_en), ("Contractor involved", involved_en)]
        notice_ja = [*common_ja, ("委託先の関与", involved_ja)]
        notice_en = [*common_en, ("Contractor involved", involved_en)]
        summary = Rule8Item(
            Rule8Key.SUMMARY,
            _lines([*full_ja, ("経緯", course_text)], UNKNOWN, ": "),
            _lines([*full_en, ("Course of events", course_text)], UNKNOWN_EN, ": "),
            _lines([*notice_ja, ("経緯", course_text)], UNKNOWN, ": "),
            _lines([*notice_en, ("Course of events", course_text)], UNKNOWN_EN, ": "),
        )

    items = _ordered(data_items)
    medium_text = _free(medium)
    data: Rule8Item
    if not items and medium_text is None:
        data = Rule8Item(Rule8Key.DATA_ITEMS, None, None)
    else:
        labels = [ITEM_LABELS.get(i, (scrub(i), scrub(i))) for i in items]
        names_ja = "、".join(lbl[0] for lbl in labels) if labels else UNKNOWN
        names_en = ", ".join(lbl[1] for lbl in labels) if labels else UNKNOWN_EN
        data = Rule8Item(
            Rule8Key.DATA_ITEMS,
            f"{names_ja}（媒体: {medium_text or UNKNOWN}）",
            f"{names_en} (medium: {medium_text or UNKNOWN_EN})",
        )

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
        cause_item = Rule8Item(
            Rule8Key.CAUSE, f"{cause_text}（原因のある当事者: {party_text}）", f"{cause_text} (at: {party_text})"
        )

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
                notice_ja=_free(other_notice) or "特になし",
                notice_en=_free(other_notice) or "nothing further at present",
            ),
        ),
        contractor_involved=contractor_involved,
        possible=possible,
    )


def notice_draft(items: Rule8Items, lang: Lang = "ja", *, sender: str | None = None, contact: str | None = None) -> str:
    """Draft, as plain text, the notice to the people affected (本人通知).

    It carries Rule 8(1) items 1, 2, 4, 5 and 9 only, limited to what the
    person needs (legal.md). The city sends it, by letter or e-mail, after
    review; Kinkyu never sends it. ``sender`` (the city's name) and
    ``contact`` (the city's enquiry line) default to placeholders to fill in.
    """
    if lang not in ("ja", "en"):
        raise ValueError(f"lang must be 'ja' or 'en', not {lang!r}")
    chosen = [items[k] for k in NOTICE_KEYS]
    if lang == "en":
        who = sender or "[name of the local government]"
        where = "a service provider contracted by " + who if items.contractor_involved else who
        happened = "may have been leaked" if items.possible else "was leaked"
        head = [
            "[DRAFT - to be reviewed and sent by the local government; Kinkyu does not send it]",
            "",
            "Notice concerning your personal information",
            "",
            f"We regret to inform you that your personal information {happened} at {where}.",
            "We sincerely apologise for the concern and inconvenience this causes.",
            "What we know at present is as follows.",
        ]
        tail = ["", f"Enquiries: {contact or '[enquiry line of the local government]'}", "", who]
    else:
        who = sender or "［市区町村名］"
        where = f"{who}が業務を委託している事業者" if items.contractor_involved else who
        happened = "漏えい等が発生したおそれがある" if items.possible else "漏えい等が発生した"
        head = [
            "［下書き：委託元が内容を確認のうえ送付してください。受託者の事故対応システム（Kinkyu）からは送付しません。］",
            "",
            "個人情報の取扱いに関するお知らせ",
            "",
            f"このたび、{where}において、あなたの個人情報の{happened}ことが判明しました。",
            "ご心配とご迷惑をおかけしますことを、深くお詫び申し上げます。",
            "現時点で判明している内容は次のとおりです。",
        ]
        tail = ["", f"お問い合わせ先: {contact or '［お問い合わせ窓口］'}", "", who]
    body: list[str] = []
    for item in chosen:
        body += ["", f"■ {item.label(lang)}", item.notice_text(lang)]
    return "\n".join([*head, *body, *tail]) + "\n"
