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


DOCUMENT_NAMES: dict[str, str] = {
    "okayama": "覚書",
    "chiba": "特記事項",
    "yachiyo": "取扱事項",
    "koganei": "特記事項",
    "toyota": "特記事項",
    "shinagawa": "特記事項",
}
"""The short name of each jurisdiction's contract document, as a citation names it (豊田市 特記事項 第13条②).

岡山市 覚書 (市の保有する個人情報の取扱委託に関する覚書); 千葉市 個人情報取扱特記事項; 八千代市
個人情報の取扱いに関する事項; 小金井市 個人情報取扱特記事項; 豊田市 個人情報の取扱い及び情報
セキュリティに関する特記; 品川区 個人情報の保護に関する特記事項.
"""

# Articles of another document than the contract's (the online-connection standards) name it themselves.
_OWN_DOCUMENT = ("オンライン結合基準",)


def cite(jurisdiction: str, article: str) -> str:
    """``article`` of ``jurisdiction``'s contract as a reader finds it: city, document, article.

    An article that names its own document (``オンライン結合基準 …``) is cited with the city only.
    """
    city = CITY_NAMES.get(jurisdiction, jurisdiction)
    if article.startswith(_OWN_DOCUMENT) or jurisdiction not in DOCUMENT_NAMES:
        return f"{city} {article}"
    return f"{city} {DOCUMENT_NAMES[jurisdiction]} {article}"
