"""Bring the message catalogues up to date with the code, like ``pybabel extract`` + ``pybabel update``.

    python scripts/catalogue.py

extracts every message marked in ``kinkyu/messages/`` and ``kinkyu/core/`` (``N_("…")`` sentences,
``C_("context", "code")`` labels, ``P_("context", "…")`` texts kept under keys), merges them into
``kinkyu/locale/ja/LC_MESSAGES/kinkyu.po`` (existing translations kept, new messages added
untranslated, messages the code no longer has dropped) and writes it back. Translate
the new entries in the ``.po`` itself; ``tests/unit/test_messages.py`` fails while one is untranslated
or the ``.po`` is behind the code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
# Folders whose every module may mark messages: the timeline's sentences and the core's names and texts.
SOURCES = ("kinkyu/messages", "kinkyu/core")
KEYWORDS = {"N_": None, "C_": ((1, "c"), 2), "P_": ((1, "c"), 2)}
# Besides those folders: modules that keep their texts under keys (P_) with the Japanese in the catalogue.
KEYED = (
    "kinkyu/catalogue.py",
    "kinkyu/console/i18n.py",
    "kinkyu/reports/labels.py",
    "kinkyu/web/ack_pages.py",
    "notifiers/render.py",
    "streams/runner.py",
)
PO = ROOT / "kinkyu" / "locale" / "ja" / "LC_MESSAGES" / "kinkyu.po"
# Fixed dates: the file changes only when a message does.
FIXED = datetime(2026, 12, 3, tzinfo=UTC)


def template() -> Catalog:
    """Every message the code marks (the ``.pot`` pybabel would write)."""
    pot = Catalog(project="kinkyu", copyright_holder="Kinkyu", creation_date=FIXED, revision_date=FIXED)
    for folder in SOURCES:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            pot.add(message, None, locations=[(f"{folder}/{filename}", lineno)], context=context)
    for source in KEYED:
        for lineno, message, _comments, context in extract_from_file("python", ROOT / source, keywords=KEYWORDS):
            pot.add(message, None, locations=[(source, lineno)], context=context)
    return pot


def updated() -> Catalog:
    """The Japanese catalogue merged with :func:`template`."""
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="ja", domain="kinkyu")
    catalog.update(template(), no_fuzzy_matching=True, update_creation_date=False)
    catalog.obsolete.clear()
    catalog.revision_date = FIXED
    return catalog


def main() -> None:
    """Write the merged catalogue."""
    catalog = updated()
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=120, omit_header=False, ignore_obsolete=True)


if __name__ == "__main__":
    main()
