# no copyright header in this project; Japanese text uses full-width punctuation
"""The names of the categories reports may mention, as codes whose words are in the message catalogue.

Reports name categories (which items, what kind of incident, which rule),
never the personal information itself. Each table here is a
:class:`~kinkyu.catalogue.Texts`: the English name of each code, its Japanese
in ``kinkyu/locale/ja/LC_MESSAGES/kinkyu.po`` under ``<prefix><code>`` (one
source of words for the core and every edge). The ``*_LABELS`` mappings give
a code's (Japanese, English) names, looked up when read. Unknown codes are
shown as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from kinkyu.catalogue import P_, PartyWords, Texts, fill
from kinkyu.core.rulebook import EVENT_NATURES, PERSONAL_DATA_NATURES, RULES

if TYPE_CHECKING:
    from collections.abc import Iterable

ITEMS = Texts(
    "item.",
    {
        "name": P_("item.name", "name"),
        "address": P_("item.address", "address"),
        "birthdate": P_("item.birthdate", "date of birth"),
        "sex": P_("item.sex", "sex"),
        "phone": P_("item.phone", "phone number"),
        "email": P_("item.email", "e-mail address"),
        "my_number": P_("item.my_number", "My Number (individual number)"),
        "card_number": P_("item.card_number", "credit card number"),
        "credit_card": P_("item.credit_card", "credit card details"),
        "credit_card_number": P_("item.credit_card_number", "credit card number"),
        "bank_account": P_("item.bank_account", "bank account details"),
        "bank_account_number": P_("item.bank_account_number", "bank account number"),
        "payment_credentials": P_("item.payment_credentials", "payment service login credentials"),
        "health": P_("item.health", "health check results"),
        "medical": P_("item.medical", "medical treatment information"),
        "medical_history": P_("item.medical_history", "medical history"),
        "disability": P_("item.disability", "disability information"),
        "criminal_record": P_("item.criminal_record", "criminal record"),
        "criminal_proceedings": P_("item.criminal_proceedings", "criminal proceedings"),
        "juvenile_proceedings": P_("item.juvenile_proceedings", "juvenile proceedings"),
        "victim_of_crime": P_("item.victim_of_crime", "having been a victim of crime"),
        "race": P_("item.race", "race"),
        "creed": P_("item.creed", "creed"),
        "religion": P_("item.religion", "religion"),
        "social_status": P_("item.social_status", "social status"),
        "tax": P_("item.tax", "tax information"),
        "income": P_("item.income", "income information"),
        "benefits": P_("item.benefits", "benefit information"),
        "family": P_("item.family", "household and family information"),
        "waon_number": P_("item.waon_number", "WAON number"),
    },
)
"""Personal-information item names (events.md ``resource.fields`` / ``data_items``)."""

KINDS = Texts(
    "kind.",
    {
        "leak": P_("kind.leak", "leak"),
        "loss": P_("kind.loss", "loss"),
        "misdelivery": P_("kind.misdelivery", "misdelivery"),
        "unauthorized_access": P_("kind.unauthorized_access", "unauthorised access"),
        "tampering": P_("kind.tampering", "tampering"),
        "system_outage": P_("kind.system_outage", "system outage"),
        "complaint": P_("kind.complaint", "complaint"),
        "other": P_("kind.other", "other"),
        "detection": P_("kind.detection", "detected by access-log monitoring"),
    },
)
"""Incident kinds (events.md) and "detection" (an incident opened by a finding)."""

NATURES = Texts(
    "nature.",
    {
        "leak": P_("nature.leak", "leak or other accident involving personal information"),
        "accident": P_("nature.accident", "incident involving personal information"),
        "outage": P_("nature.outage", "system outage"),
        "breach": P_("nature.breach", "breach of the contract's personal-information terms"),
        "complaint": P_("nature.complaint", "complaint"),
    },
)
"""The event's nature under the city's clause (:data:`kinkyu.core.rulebook.EventNature`)."""

POSSIBLE = Texts("nature.", {"possible": P_("nature.possible", "possible {nature}")})
"""A nature that may have happened (おそれ): a detection's wording."""

SEVERITIES = Texts(
    "severity.",
    {
        "low": P_("severity.low", "low"),
        "medium": P_("severity.medium", "medium"),
        "high": P_("severity.high", "high"),
        "critical": P_("severity.critical", "critical"),
    },
)
"""Incident severities (:class:`kinkyu.core.model.Severity`), as mail, reports and the console show them."""

RULE_NAMES = Texts("rule.", {rule: facts.label for rule, facts in RULES.items()})
"""Detection rules (shared/spec/rules.md): their names are marked in :mod:`kinkyu.core.rulebook`."""


class Labels(Mapping[str, tuple[str, str]]):
    """A code's Japanese and English names, looked up in the catalogue when read (``LABELS[code]``)."""

    __slots__ = ("_texts",)

    def __init__(self, texts: Texts) -> None:
        """Name the codes of ``texts``."""
        self._texts = texts

    def __getitem__(self, code: str) -> tuple[str, str]:
        """``code``'s (Japanese, English) names; KeyError when it is not one of these codes."""
        english = self._texts.get("en", code)
        if english is None:
            raise KeyError(code)
        return self._texts.get("ja", code) or english, english

    def __iter__(self) -> Iterator[str]:
        """The codes, in their order here."""
        return iter(self._texts.keys())

    def __len__(self) -> int:
        """How many codes there are."""
        return len(self._texts.keys())

    def say(self, code: str, lang: str) -> str:
        """``code``'s name in ``lang``; the code itself when unknown."""
        return self._texts.get(lang, code) or code


ITEM_LABELS = Labels(ITEMS)
KIND_LABELS = Labels(KINDS)
NATURE_LABELS = Labels(NATURES)
SEVERITY_LABELS = Labels(SEVERITIES)
RULE_LABELS = Labels(RULE_NAMES)

# The natures that are no 漏えい等 of personal data (no PPC report is assessed for them).
NOT_PERSONAL_DATA: frozenset[str] = frozenset(EVENT_NATURES) - PERSONAL_DATA_NATURES


def nature_label(nature: str, *, possible: bool, parties: PartyWords | None = None) -> tuple[str, str]:
    """The nature's Japanese and English words; a possible one (おそれ) says so.

    ``parties``: the contract's words (its playbook's); the event names the data as the contract does
    (豊田市: 個人情報等の漏えい等の事故), 個人情報 when not given.
    """
    ja, en = NATURE_LABELS.get(nature, (nature, nature))
    ja, en = fill(ja, "ja", "市", parties), fill(en, "en", "市", parties)
    if not possible or nature == "complaint":
        return ja, en
    return POSSIBLE.say("ja", "possible", nature=ja), POSSIBLE.say("en", "possible", nature=en)


def _label(table: Labels, key: str) -> tuple[str, str]:
    return table.get(key, (key, key))


def item_order(items: Iterable[str]) -> list[str]:
    """``items`` once each, in the catalogue's order (氏名, 住所, 生年月日, … as forms list them); others last, sorted.

    Every document names the same items in the same order: a report that says 氏名、住所 in one place and
    住所、氏名 in the next makes a reader ask whether they are different lists.
    """
    known = ITEMS.keys()
    return sorted(set(items), key=lambda i: (known.index(i), "") if i in known else (len(known), i))


def item_labels(items: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the Japanese and English labels of ``items``, in the catalogue's order (:func:`item_order`)."""
    pairs = [_label(ITEM_LABELS, i) for i in item_order(items)]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


# A kind no table knows (a filing's unchecked code) is named as such, never shown as the raw code.
UNREGISTERED_KIND = Texts("kind.", {"unregistered": P_("kind.unregistered", "other (kind not registered)")})


def kind_label(kind: str) -> tuple[str, str]:
    """Return the Japanese and English label of an incident kind; その他（種別未登録） for an unknown one."""
    found = KIND_LABELS.get(kind)
    if found is not None:
        return found
    return Labels(UNREGISTERED_KIND)["unregistered"]


def rule_label(rule: str) -> tuple[str, str]:
    """Return the Japanese and English label of a detection rule id."""
    return _label(RULE_LABELS, rule)
