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

Its parties are 委託者 / 受託者: the words every reader knows without a contract (甲 / 乙 mean something
only where a contract defines them, and only some do). A caller that knows the contract's own words
passes them (``parties``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinkyu.catalogue import P_, PartyWords, Texts
from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.playbook.definition import Playbook, parse_playbook

# Marks the baseline (Playbook.seed): a run started with it says so on its timeline.
BASELINE_SEED = "kinkyu:baseline"
# The baseline's document, as runs store it: a code, named by document_name.
BASELINE_DOCUMENT = "baseline"
_ARTICLE = "緊急時対応計画（基本手順）"
_QUOTE = "連絡, 証拠保全, 被害拡大の防止, 復旧, 再発防止"
# Neutral words for the parties (the law's 委託 and every seed's 受託者), not a contract's abbreviation.
NEUTRAL_PARTIES: dict[str, str] = {"city": "委託者", "contractor": "受託者"}


# The baseline's words: English here, Japanese in the message catalogue under ``baseline.<key>``.
WORDS = Texts(
    "baseline.",
    {
        "triage": P_("baseline.triage", "Triage"),
        "evidence": P_("baseline.evidence", "Preserve the evidence"),
        "containment": P_("baseline.containment", "Contain the damage"),
        "first_report": P_("baseline.first_report", "First report to the {unit}"),
        "instructions": P_("baseline.instructions", "Follow the {unit}'s instructions"),
        "recovery": P_("baseline.recovery", "Recovery"),
        "recurrence_prevention": P_("baseline.recurrence_prevention", "Recurrence prevention"),
        "closure": P_("baseline.closure", "Closure"),
        "document": P_("baseline.document", "baseline (no playbook loaded)"),
    },
)


def _step(step_id: str, parties: PartyWords, **more: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "kind": step_id,
        "title_ja": WORDS.say("ja", step_id, "市", parties),
        "title_en": WORDS.say("en", step_id, "市", parties),
        "clause": {"article": _ARTICLE, "quote": _QUOTE},
        **more,
    }


def baseline_playbook(jurisdiction: str, parties: PartyWords | None = None) -> Playbook:
    """The baseline playbook for ``jurisdiction`` (PlaybookError when it is not a known jurisdiction).

    ``parties``: the contract's words for the parties, when known; 委託者 / 受託者 otherwise.
    """
    words = {"city": parties.city, "contractor": parties.contractor} if parties is not None else dict(NEUTRAL_PARTIES)
    named = _Words(words["city"], words["contractor"])
    return parse_playbook(
        {
            "jurisdiction": jurisdiction,
            "city": CITY_NAMES.get(jurisdiction, "-"),
            # A code: its name is the catalogue's, in the reader's language (document_name).
            "document": BASELINE_DOCUMENT,
            "seed": BASELINE_SEED,
            "parties": words,
            "steps": [
                _step("triage", named, to="contractor"),
                _step("evidence", named),
                _step("containment", named),
                _step("first_report", named, urgency="直ちに", to="city", risk=True),
                _step("instructions", named),
                _step("recovery", named),
                _step("recurrence_prevention", named),
                _step("closure", named),
            ],
        },
        source=f"baseline playbook ({jurisdiction if jurisdiction in CITY_NAMES else 'unknown jurisdiction'})",
    )


@dataclass(frozen=True, slots=True)
class _Words:
    city: str
    contractor: str


def is_baseline(playbook: Playbook) -> bool:
    """Whether ``playbook`` is the baseline rather than a jurisdiction's own file."""
    return playbook.seed == BASELINE_SEED


def document_name(playbook: Playbook, lang: str) -> str:
    """The document whose clauses ``playbook`` implements, as a reader of ``lang`` names it.

    A city's playbook names its clause document as the city does (a proper name, one language);
    the baseline's is a code named through the catalogue, whether the run stored the code or, before
    it was one, the ``日本語 / English`` pair.
    """
    if is_baseline(playbook):
        return WORDS.say(lang, "document")
    return playbook.document
