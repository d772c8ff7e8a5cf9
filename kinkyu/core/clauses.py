"""Which clauses of each jurisdiction a rule relates to (shared/seeds/README.md).

The clauses themselves are kept with each rule's other facts in :mod:`kinkyu.core.rulebook`;
this module says how they are cited and answers :func:`clauses_for`.

Articles and labels are quoted from the clauses in shared/seeds/; the label is
a short Japanese gloss a reader can match against the clause text. Where a
jurisdiction has no clause aimed at what a rule detects, the rule cites that
jurisdiction's most relevant general clause (safe management, third-party
provision), so every finding names at least one clause of its contract.

Documents and how articles are written:

* 岡山市: 市の保有する個人情報の取扱委託に関する覚書, ``第N条``.
* 千葉市: 個人情報取扱特記事項, ``第N`` (no 条); and the 千葉市個人情報オンライン結合基準,
  whose items are named by their heading in the seed (管理的な措置・不当なアクセスの防止, …)
  and their own letters, e.g. b(c), (エ).
* 八千代市: 個人情報の取扱いに関する事項, ``第N条``; and the 八千代市個人情報オンライン結合基準,
  named the same way, e.g. イ(ウ), ④.
* 小金井市: 個人情報取扱特記事項, ``第N条`` with items ⑴….
* 豊田市: 個人情報の取扱い及び情報セキュリティに関する特記, ``第N条(n)``; the circled
  numbers are the concrete procedures (具体的に実施しなければならない事務及び手続) of that article.
* 品川区: 個人情報の保護に関する特記事項, ``第N``.
"""

from __future__ import annotations

from kinkyu.core.jurisdictions import CITY_NAMES
from kinkyu.core.model import Clause
from kinkyu.core.rulebook import RULES

__all__ = ["CITY_NAMES", "CLAUSES", "clauses_for"]


# rule id -> jurisdiction -> clauses, as kept with each rule in kinkyu.core.rulebook.
CLAUSES: dict[str, dict[str, tuple[Clause, ...]]] = {rule: dict(facts.clauses.items()) for rule, facts in RULES.items()}


def clauses_for(rule_id: str, jurisdiction: str) -> tuple[Clause, ...]:
    """The clauses of ``jurisdiction`` that ``rule_id`` relates to (empty if none)."""
    return CLAUSES.get(rule_id, {}).get(jurisdiction, ())
