"""The baseline playbook: what runs for an incident whose jurisdiction has no playbook loaded.

Every jurisdiction has a playbook file, but a deployment can miss one (a
playbooks folder copied without it): an incident of that jurisdiction must
still reach a person. The baseline is the response every seed's clauses share
and the 総務省 guideline's emergency plan lists (legal.md, "Emergency response
plans": 連絡, 証拠保全, 被害拡大の防止, 復旧, 再発防止): triage, evidence,
containment, a first report to the city at the strongest urgency word
(直ちに, the safe side), the city's instructions, recovery, recurrence
prevention, closure. Its steps cite that guideline, not a clause: the city's
own clause is for a person to check, and the run's timeline says so
(``playbook_baseline``).
"""

from __future__ import annotations

from typing import Any

from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.playbook.definition import Playbook, parse_playbook

# Marks the baseline (Playbook.seed): a run started with it says so on its timeline.
BASELINE_SEED = "kinkyu:baseline"
_ARTICLE = "緊急時対応計画（基本手順）"
_QUOTE = "連絡, 証拠保全, 被害拡大の防止, 復旧, 再発防止"


def _step(step_id: str, title_ja: str, title_en: str, **more: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "kind": step_id,
        "title_ja": title_ja,
        "title_en": title_en,
        "clause": {"article": _ARTICLE, "quote": _QUOTE},
        **more,
    }


def baseline_playbook(jurisdiction: str) -> Playbook:
    """The baseline playbook for ``jurisdiction`` (PlaybookError when it is not a known jurisdiction)."""
    return parse_playbook(
        {
            "jurisdiction": jurisdiction,
            "city": CITY_NAMES.get(jurisdiction, "-"),
            "document": "基本手順（この自治体のプレイブックが読み込まれていない） / baseline (no playbook loaded)",
            "seed": BASELINE_SEED,
            "steps": [
                _step("triage", "検知内容の確認（トリアージ）", "Triage", to="contractor"),
                _step("evidence", "証拠保全", "Preserve the evidence"),
                _step("containment", "被害拡大の防止", "Contain the damage"),
                _step(
                    "first_report",
                    "甲への報告（第一報）",
                    "First report to the city",
                    urgency="直ちに",
                    to="city",
                    risk=True,
                ),
                _step("instructions", "甲の指示に従う", "Follow the city's instructions"),
                _step("recovery", "復旧", "Recovery"),
                _step("recurrence_prevention", "再発防止策", "Recurrence prevention"),
                _step("closure", "終結", "Closure"),
            ],
        },
        source=f"baseline playbook ({jurisdiction if jurisdiction in CITY_NAMES else 'unknown jurisdiction'})",
    )


def is_baseline(playbook: Playbook) -> bool:
    """Whether ``playbook`` is the baseline rather than a jurisdiction's own file."""
    return playbook.seed == BASELINE_SEED
