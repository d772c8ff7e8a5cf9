"""The message catalogue: every sentence people read that is built from codes, in their language.

The core records codes and parameters (a timeline entry's ``kind`` and ``data``, a task's owner, a
state); this package turns them into sentences through gettext message catalogues kept with Babel
(``kinkyu/locale/<lang>/LC_MESSAGES/kinkyu.po``). The message ids are the English sentences, so
English needs no catalogue of its own; Japanese is ``ja/kinkyu.po``. The ``.po`` files are compiled
when first used (Babel's ``read_po`` / ``write_mo``), so there is no compiled file to fall out of date.

Reports, e-mails, the console and ``kinkyu run``'s terminal all render through
:func:`kinkyu.messages.timeline.describe` and :func:`translator`; the texts an edge keeps under keys
(a report's words, a mail's subject tags, the terminal's lines) are a :class:`Texts` of English
message ids whose Japanese is in the catalogue under ``<prefix><key>``, so no edge keeps a
Japanese/English pair by hand; nor does the core, which looks its words up in the same catalogue
through :mod:`kinkyu.catalogue` (the lookups, a leaf below the core, re-exported here). Nothing here
reads personal data, and a parameter is a code, a count, an id, a date or a label already in the
catalogue.
"""

from __future__ import annotations

from kinkyu.catalogue import (
    C_,
    DEFAULT_PARTIES,
    DOMAIN,
    LOCALE_DIR,
    N_,
    P_,
    UNIT_WORDS,
    Lang,
    PartyWords,
    Texts,
    fill,
    gettext,
    party_fields,
    pgettext,
    po_path,
    translator,
    unit_word,
)

__all__ = [
    "C_",
    "DEFAULT_PARTIES",
    "DOMAIN",
    "LOCALE_DIR",
    "N_",
    "P_",
    "UNIT_WORDS",
    "Lang",
    "PartyWords",
    "Texts",
    "fill",
    "gettext",
    "party_fields",
    "pgettext",
    "po_path",
    "translator",
    "unit_word",
]
