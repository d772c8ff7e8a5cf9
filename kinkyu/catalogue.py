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
from typing import Literal

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

    def say(self, lang: str, key: str, unit: str = "市", **values: object) -> str:
        """``key``'s text in ``lang`` with its fields filled (:func:`fill`); ``key`` itself when unknown."""
        text = self.get(lang, key)
        return key if text is None else fill(text, lang, unit, **values)

    def __contains__(self, key: object) -> bool:
        return key in self.english

    def keys(self) -> list[str]:
        """The keys, in their order here."""
        return list(self.english)


def fill(text: str, lang: str, unit: str, **values: object) -> str:
    """``text`` with its ``{fields}`` filled, ``{unit}`` / ``{Unit}`` the local body's word in ``lang``."""
    word = unit_word(unit, lang)
    return text.format(unit=word, Unit=word[:1].upper() + word[1:], **values)
