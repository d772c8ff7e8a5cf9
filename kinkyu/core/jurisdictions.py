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
