"""Which clauses of each jurisdiction a rule relates to (shared/seeds/README.md).

Articles and labels are quoted from the clauses in shared/seeds/; the label is
a short Japanese gloss a reader can match against the clause text.
"""

from __future__ import annotations

from kinkyu.core.model import Clause

CITY_NAMES: dict[str, str] = {
    "okayama": "岡山市",
    "chiba": "千葉市",
    "yachiyo": "八千代市",
    "koganei": "小金井市",
    "toyota": "豊田市",
    "shinagawa": "品川区",
}

# rule id -> jurisdiction -> clauses.
CLAUSES: dict[str, dict[str, tuple[Clause, ...]]] = {
    "unregistered-actor": {
        "toyota": (Clause("豊田市 第10条(2)⑤", "作業責任者・作業従事者以外の者による取扱いの禁止"),),
        "koganei": (Clause("小金井市 第8条", "従事者の特定及び届出"),),
        "okayama": (Clause("岡山市 第11条2", "従事者以外の者による取扱いの禁止"),),
        "chiba": (Clause("千葉市 第4", "作業責任者等の届出"),),
        "yachiyo": (Clause("八千代市 技術的基準1", "アクセス権限の付与は必要最小限"),),
        "shinagawa": (Clause("品川区 第17", "事故の通知"),),
    },
}


def clauses_for(rule_id: str, jurisdiction: str) -> tuple[Clause, ...]:
    """The clauses of ``jurisdiction`` that ``rule_id`` relates to (empty if none)."""
    return CLAUSES.get(rule_id, {}).get(jurisdiction, ())
