"""Free text at Kinkyu's edges: what of it may be kept, and how what reaches a page is made harmless.

A filing's ``summary``, ``details`` and ``location`` are written by people
and may name a resident, an address or a telephone number. They live only in
the sealed evidence (the filing as it arrived); every record Kinkyu writes
(topics, checkpoints, the store, reports) carries codes, counts and
categories instead. Three things here decide that, and one makes safe what
does reach a page:

- :func:`place_label`: the one kind of place text a record keeps, a short
  non-personal label (a site code such as ``koganei-hq-3f`` or a name such
  as ``本庁舎3階``). Anything else becomes None, which reports show as 調査中.
- :func:`data_item_codes`: ``data_items`` are item codes from the report
  labels' vocabulary (:data:`kinkyu.core.labels.ITEM_LABELS`, aliases
  included). On the wire (:func:`split_data_items`) an unknown entry is
  withheld and counted, never kept: a leak report must still reach the city,
  and the filing as it arrived stays in the sealed evidence. The console's
  form, where a person can correct it, refuses it (:func:`data_item_codes`,
  ``unknown-data-item``, naming its position, never its value).
- :func:`known_data_items`: the same vocabulary as a filter, for records
  written before the wire refused unknown items.
- :func:`split_item_codes`: an access event's ``resource.fields`` against the
  same vocabulary: the codes are kept, the rest counted (a log line's field
  name is the writer's text, and findings, incidents and reports copy fields).
- :func:`neutralise`: control characters and bidirectional-formatting
  characters in any text that reaches a page, a report or a message (a
  person's label, an account or system id from a log) are neutralised; every
  renderer (report, e-mail, console) applies it to every value it prints,
  through :func:`neutralise_value` as its Jinja2 ``finalize``.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from kinkyu.core.labels import ITEM_LABELS
from kinkyu.exceptions import MalformedEventError

# -- neutralising ------------------------------------------------------------------------------------

# Bidirectional formatting: embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069), the
# marks (U+200E, U+200F, U+061C). An override reverses how the rest of a line reads (a PDF table cell
# "ABC" then shows "CBA"), so they are dropped: the text then reads in its stored order.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
REPLACEMENT = "\ufffd"
# C0 controls but tab and line feed, DEL, and the C1 controls (U+0080-U+009F) but NEL, which is a
# line break like CR, LS and PS.
_CONTROLS = frozenset({*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0))}) - {"\t", "\n", "\x85"}
_BREAKS = ("\r\n", "\r", "\x85", "\u2028", "\u2029")
_UNSAFE = re.compile(
    "[" + re.escape("".join(sorted(BIDI_CONTROLS | _CONTROLS | {"\r", "\x85", "\u2028", "\u2029"}))) + "]"
)
_TABLE = str.maketrans({**dict.fromkeys(BIDI_CONTROLS), **dict.fromkeys(_CONTROLS, REPLACEMENT)})


def neutralise(text: str) -> str:
    """``text`` made safe to lay out: one kind of line break, no control or bidi-formatting characters.

    CR LF, a bare CR, NEL and the Unicode line and paragraph separators become
    a line feed (a renderer that puts a value in a table cell turns that into its own
    line break, or escapes it); the other C0 and C1 control characters become
    U+FFFD, so something visibly stood there; the bidi embeddings, overrides,
    isolates and marks are removed. Tabs stay. Idempotent.
    """
    if _UNSAFE.search(text) is None:
        return text  # the common case: one scan, no copy
    for brk in _BREAKS:
        text = text.replace(brk, "\n")
    return text.translate(_TABLE)


def neutralise_value(value: object) -> object:
    """Jinja2 ``finalize``: a plain string neutralised; markup and non-strings as they are.

    Markup (``markupsafe.Markup``, a macro's output) was built from values
    that passed here already; it is a ``str`` subclass, and making it a plain
    ``str`` would get it escaped twice, so only exact ``str`` values change.
    """
    if type(value) is str:
        return neutralise(value)
    return value


# -- places --------------------------------------------------------------------------------------------

PLACE_MAX_CHARS = 40
# Letters and digits of any script, space and the punctuation a building or room name uses.
_PLACE_CHARS = re.compile(r"[\w .,'&()/#・、-]+")
_MAX_PLACE_DIGITS = 6
_DASHES = "-‐‑‒–—―−ー"
_ADDRESS_LIKE = re.compile(
    rf"\d\s*[{_DASHES}]\s*\d"  # 本町6-6-3, 184-8504, 090-1234
    r"|〒|丁目|番地|号室"
    r"|[\d〇一二三四五六七八九十]+番[\d〇一二三四五六七八九十]+"  # 6番3号
    r"|様|さん|ちゃん|くん|殿$"  # a person, politely (殿 inside a name: 御殿山)
    r"|[方宅邸]$"  # c/o, someone's home
    r"|\b(?:mr|mrs|ms|miss)\b",
    re.IGNORECASE,
)


def place_label(text: str | None) -> str | None:
    """The place label a record may keep, or None (a report then says 調査中).

    Accepted, after NFKC folding (full-width letters and digits become
    ASCII) and joining runs of spaces: at most :data:`PLACE_MAX_CHARS`
    characters, only letters and digits of any script, spaces and
    ``. , ' & ( ) / # ・ 、 -``, at most six digits in all, and nothing
    address- or person-like: no digit-dash-digit (house numbers, postal codes,
    phone numbers), 〒, 丁目, 番地, 号室, ``6番3``, no honorific (様, さん,
    ちゃん, くん, Mr, Ms, …; 殿 at the end) and no ending in 方, 宅 or 邸. An e-mail
    address or a URL fails on its ``@`` or ``:``. Site codes
    (``koganei-hq-3f``) and names (``本庁舎3階``, ``Acme print centre,
    Fuchu``) pass.

    A safety net, not a proof: a bare name (山田太郎) is letters like any
    other. The console's form asks for a place name, never a person's, and
    refuses what fails here; on the wire a failing place is kept out of the
    record (the filing itself stays in the sealed evidence).
    """
    if text is None:
        return None
    label = re.sub(" +", " ", unicodedata.normalize("NFKC", text)).strip()
    if not label or len(label) > PLACE_MAX_CHARS or _PLACE_CHARS.fullmatch(label) is None:
        return None
    if sum(ch.isdigit() for ch in label) > _MAX_PLACE_DIGITS or _ADDRESS_LIKE.search(label):
        return None
    return label


# -- data items ---------------------------------------------------------------------------------------


def data_item_code(value: object) -> str | None:
    """The item code ``value`` names (case and surrounding spaces ignored), or None when it names none."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower()
    return code if code in ITEM_LABELS else None


def data_item_codes(items: Iterable[str] | None, field: str = "data_items") -> tuple[str, ...]:
    """The item codes of a filing, each once, in order; ``unknown-data-item`` names the first unknown one's position.

    The vocabulary is :data:`kinkyu.core.labels.ITEM_LABELS` (``name``,
    ``address``, ``phone``, ``my_number``, ``card_number`` and its alias
    ``credit_card_number``, …). Free text such as a resident's name is not an
    item, and a report would print it: it is refused, never kept.
    """
    codes: dict[str, None] = {}
    for i, item in enumerate(items or ()):
        code = data_item_code(item)
        if code is None:
            raise MalformedEventError(
                "unknown-data-item",
                f"{field}[{i}] is not a known data item code (name, address, birthdate, phone, email, "
                "my_number, card_number, health, tax, …: kinkyu.core.labels.ITEM_LABELS); "
                "describe anything else in details, which is kept sealed as evidence",
            )
        codes[code] = None
    return tuple(codes)


def split_data_items(items: Iterable[object] | None) -> tuple[tuple[str, ...], int]:
    """The item codes among ``items`` (each once, in order) and how many entries were not codes.

    The detection stage opens a filing whose data items hold free text (a
    resident's name typed as an item) instead of refusing it: what a report
    may print is the codes, and the count of the rest ("ほか N 項目は書面で報告").
    """
    codes: dict[str, None] = {}
    withheld = 0
    for item in items or ():
        code = data_item_code(item)
        if code is None:
            withheld += 1
        else:
            codes[code] = None
    return tuple(codes), withheld


_ITEM_CODES = frozenset(ITEM_LABELS)


def split_item_codes(values: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """The item codes among an event's ``resource.fields``, in order, and how many entries were not codes.

    Each entry is read as :func:`data_item_code` reads it. The detection stage's hot path: a tuple of
    codes written as codes comes back as it is.
    """
    if _ITEM_CODES.issuperset(values):
        return values, 0
    kept = tuple(code for code in map(data_item_code, values) if code is not None)
    return kept, len(values) - len(kept)


def known_data_items(items: Iterable[object]) -> list[str]:
    """The known item codes among ``items``, each once, in order; the rest (free text) is dropped."""
    codes: dict[str, None] = {}
    for item in items:
        code = data_item_code(item)
        if code is not None:
            codes[code] = None
    return list(codes)


__all__ = [
    "BIDI_CONTROLS",
    "PLACE_MAX_CHARS",
    "REPLACEMENT",
    "data_item_code",
    "data_item_codes",
    "known_data_items",
    "neutralise",
    "neutralise_value",
    "place_label",
    "split_data_items",
    "split_item_codes",
]
