"""The message catalogue's lookups: gettext over ``kinkyu/locale/<lang>/LC_MESSAGES/kinkyu.po``, nothing else.

A leaf below the core (it imports nothing of Kinkyu), so the core names things by code and looks their
words up here, the same catalogue the edges render through (:mod:`kinkyu.messages` re-exports all of
this and adds the timeline's sentences). The message ids are the English texts, so English needs no
catalogue of its own; Japanese is ``ja/kinkyu.po``. The ``.po`` is compiled when first used (Babel's
``read_po`` / ``write_mo``), so there is no compiled file to fall out of date. A text kept under a key
(a code's label, a report's words) is a :class:`Texts`: its English here, its Japanese in the catalogue
under ``<prefix><key>``.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal, Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Lang = Literal["ja", "en"]
DOMAIN = "kinkyu"
# Found like kinkyu.resources finds the package's files (a leaf imports nothing of Kinkyu).
LOCALE_DIR: Path = Path(str(files("kinkyu").joinpath("locale")))


def po_path(lang: str) -> Path:
    """The catalogue source of ``lang``."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translator(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English: the message ids themselves)."""
    if lang != "ja":
        return NullTranslations()
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(lang: str, msgid: str, /, **params: object) -> str:
    """``msgid`` in ``lang``, its ``%(name)s`` fields filled from ``params``."""
    text = translator(lang).gettext(msgid)
    return text % params if params else text


def pgettext(lang: str, context: str, message: str) -> str:
    """``message`` (a code's label, or a text kept under a key) in ``context``; ``message`` itself when unknown."""
    return str(translator(lang).pgettext(context, message))


UNIT_WORDS: dict[str, str] = {"市": "city", "区": "ward", "町": "town", "村": "village"}
"""The English for what a local body is (:func:`kinkyu.core.jurisdictions.unit_of`): 品川区 is a ward."""


def unit_word(unit: str, lang: str) -> str:
    """The local body's word in ``lang``: 市 / 区 / 町 in Japanese, "city" / "ward" / "town" in English."""
    return unit if lang == "ja" else UNIT_WORDS.get(unit, "city")


class PartyWords(Protocol):
    """What a contract calls its two parties in Japanese (甲 / 乙, 委託者 / 受託者, 発注者 / 受注者).

    A playbook carries them (``parties``, :class:`kinkyu.core.playbook.definition.Parties`): a city's
    officer reads 「発注者の指示」 in a report on a contract that says 発注者, never a 甲 it does not define.
    """

    @property
    def city(self) -> str:
        """The word for the city (甲, 委託者, 発注者)."""
        ...

    @property
    def contractor(self) -> str:
        """The word for the contractor (乙, 受託者, 受注者)."""
        ...


@dataclass(frozen=True, slots=True)
class DefaultParties:
    """The words for the parties when a playbook names none (one stored before playbooks could): 甲 and 乙."""

    city: str = "甲"
    contractor: str = "乙"


DEFAULT_PARTIES = DefaultParties()


def N_(message: str) -> str:  # noqa: N802  # gettext's name for "mark for extraction, translate later"
    """``message`` unchanged: marks it for the catalogue; :func:`gettext` translates it where it is shown."""
    return message


def C_(context: str, code: str) -> tuple[str, str]:  # noqa: N802  # like N_, for a code's label in a context
    """``(context, code)`` unchanged: marks a code for the catalogue; :func:`pgettext` gives its label."""
    return context, code


def P_(context: str, message: str) -> str:  # noqa: N802  # like N_, for a text kept under a key (its context)
    """``message`` unchanged: marks it for the catalogue under ``context``; :func:`pgettext` translates it."""
    del context  # read by the extractor (scripts/catalogue.py), not here
    return message


@dataclass(frozen=True, slots=True)
class Texts:
    """Texts kept under keys: the English of each, its Japanese in the catalogue under ``prefix + key``."""

    prefix: str
    english: Mapping[str, str]

    def get(self, lang: str, key: str) -> str | None:
        """``key``'s text in ``lang`` (``{fields}`` unfilled), or None when there is no such key."""
        english = self.english.get(key)
        if english is None:
            return None
        return english if lang == "en" else pgettext(lang, self.prefix + key, english)

    def say(self, lang: str, key: str, unit: str = "市", parties: PartyWords | None = None, /, **values: object) -> str:
        """``key``'s text in ``lang`` with its fields filled (:func:`fill`); ``key`` itself when unknown."""
        text = self.get(lang, key)
        return key if text is None else fill(text, lang, unit, parties, **values)

    def __contains__(self, key: object) -> bool:
        return key in self.english

    def keys(self) -> list[str]:
        """The keys, in their order here."""
        return list(self.english)


# A one-character word is an abbreviation the contract defines for a role (委託者 甲; 受託者（以下「乙」
# という。）): prose names the role (受託者の連絡先), the instruction names the abbreviation (甲の指示) as the
# contract does, and a heading both (委託者（甲）). A word of its own (委託者, 発注者) is all three.
PARTY_ROLES: dict[str, str] = {
    "city": P_("party.role.city", "{unit}"),
    "contractor": P_("party.role.contractor", "contractor"),
}
PARTY_TITLE = P_("party.title.abbreviation", "{role} ({word})")
# The contractor's person responsible when the contract gives no title of its own.
RESPONSIBLE = P_("party.responsible", "person responsible")
# The data the contract protects when it gives no word of its own (豊田市's 特記 defines 個人情報等).
PROTECTED_DATA = P_("party.data", "personal information")


def party_fields(lang: str, unit: str, parties: PartyWords | None = None) -> dict[str, str]:
    """The local body's and the parties' words as a message's fields.

    ``unit`` / ``Unit``: 市 / 区 (city / ward). ``city_party`` / ``contractor_party``: the contract's word
    (甲の指示, 発注者の指示); ``city_role`` / ``contractor_role``: the role it stands for (委託者, 受注者);
    ``city_party_title`` / ``contractor_party_title``: a heading (委託者（甲）, 発注者). English names the
    city (ward) and the contractor. ``responsible_role``: the contract's title for the contractor's person
    responsible (取扱責任者, 個人情報受託管理責任者; 作業責任者 when it gives none). ``data``: the contract's
    word for the data it protects (豊田市: 個人情報等; 個人情報 when it gives none).
    """
    words = parties if parties is not None else DEFAULT_PARTIES
    word = unit_word(unit, lang)
    fields = {"unit": word, "Unit": word[:1].upper() + word[1:]}
    own_data = getattr(words, "data", None)
    fields["data"] = own_data if lang == "ja" and own_data else pgettext(lang, "party.data", PROTECTED_DATA)
    own_title = getattr(words, "responsible", None)
    fields["responsible_role"] = (
        own_title if lang == "ja" and own_title else pgettext(lang, "party.responsible", RESPONSIBLE)
    )
    for role in ("city", "contractor"):
        if lang == "ja":
            own: str = getattr(words, role)
            abbreviation = len(own) == 1
            named = getattr(words, f"{role}_role", None)
            name = named or (pgettext(lang, f"party.role.{role}", PARTY_ROLES[role]) if abbreviation else own)
            title = pgettext(lang, "party.title.abbreviation", PARTY_TITLE).format(role=name, word=own)
            fields |= {
                f"{role}_party": own,
                f"{role}_role": name,
                f"{role}_party_title": title if abbreviation else own,
            }
        else:
            name = word if role == "city" else PARTY_ROLES[role]
            fields |= {f"{role}_party": name, f"{role}_role": name, f"{role}_party_title": name[:1].upper() + name[1:]}
    return fields


def fill(text: str, lang: str, unit: str, parties: PartyWords | None = None, /, **values: object) -> str:
    """``text`` with its ``{fields}`` filled from ``values`` and :func:`party_fields`.

    ``{unit}`` / ``{Unit}`` is the local body's word in ``lang``; ``{city_party}``, ``{contractor_role}``,
    ``{city_party_title}`` … the contract's words for the parties.
    """
    return text.format(**party_fields(lang, unit, parties), **values)
