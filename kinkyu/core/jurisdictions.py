"""The jurisdictions Kinkyu knows (the cities whose clauses are in shared/seeds/), and their names.

Contracts (:mod:`kinkyu.core.contract`), playbooks (:mod:`kinkyu.core.playbook.definition`)
and the clause table (:mod:`kinkyu.core.clauses`) all read them here: a new city is added
once, on this page, and the type checker then shows every table that needs a row for it.
"""

from __future__ import annotations

from typing import Literal, get_args

Jurisdiction = Literal["okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa"]
JURISDICTIONS: tuple[Jurisdiction, ...] = get_args(Jurisdiction)

CITY_NAMES: dict[str, str] = {
    "okayama": "岡山市",
    "chiba": "千葉市",
    "yachiyo": "八千代市",
    "koganei": "小金井市",
    "toyota": "豊田市",
    "shinagawa": "品川区",
}
"""Each jurisdiction's name as its documents write it, in :data:`JURISDICTIONS` order."""


MUNICIPALITY_UNITS: dict[str, str] = {
    "okayama": "市",
    "chiba": "市",
    "yachiyo": "市",
    "koganei": "市",
    "toyota": "市",
    "shinagawa": "区",
}
"""What kind of local body each jurisdiction is (市, 区 or 町): its documents say 区長 and 貴区, never 市."""


def unit_of(jurisdiction: str, name: str | None = None) -> str:
    """区, 市, 町 or 村 for ``jurisdiction`` (an unknown one: from the last character of its name, else 市)."""
    unit = MUNICIPALITY_UNITS.get(jurisdiction)
    if unit is not None:
        return unit
    last = (name or CITY_NAMES.get(jurisdiction, ""))[-1:]
    return last if last in {"区", "市", "町", "村"} else "市"


def head_title(jurisdiction: str, name: str | None = None) -> str:
    """The head of the local body by title, as a letter is addressed: 小金井市長, 品川区長."""
    name = name or CITY_NAMES.get(jurisdiction, jurisdiction)
    return f"{name}長"


def honorific(jurisdiction: str, name: str | None = None) -> str:
    """How a letter to the local body calls it: 貴市, 貴区, 貴町."""
    return f"貴{unit_of(jurisdiction, name)}"
