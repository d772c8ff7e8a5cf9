"""The parties are named as each contract names them: 甲 / 乙, 委託者 / 受託者 or 発注者 / 受注者.

A city's officer reading 「甲の指示」 about a contract that never says 甲 asks what 甲 is: the playbook
says what its clauses call the parties, and every Japanese sentence naming one goes through it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kinkyu.core.labels import nature_label
from kinkyu.core.playbook import Playbook, PlaybookError, PlaybookRun, Task, parse_playbook
from kinkyu.core.playbook.definition import Parties
from kinkyu.core.playbook.states import TaskSource
from kinkyu.messages import fill, party_fields
from kinkyu.messages.codes import code_label
from kinkyu.messages.timeline import Names, describe, task_text
from kinkyu.notifiers.enqueue import _parties as chain_parties
from kinkyu.notifiers.model import NotificationIn
from kinkyu.notifiers.plan import ChainPlanner
from kinkyu.reports.model import build_report
from kinkyu.reports.sample import Scenario, build_sample, playbooks

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"
T = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
# What each seed calls the parties (read in shared/seeds/: the preambles and the clauses' own wording).
SEED_WORDS = {
    "okayama": ("甲", "乙"),
    "toyota": ("甲", "乙"),
    "shinagawa": ("甲", "乙"),
    "koganei": ("委託者", "受託者"),
    "chiba": ("発注者", "受注者"),
    "yachiyo": ("委託者", "受託者"),
}
# Where in seed 001 each city's own clauses are (the file holds both cities' documents).
SECTIONS = {"chiba": "【個人情報取扱特記事項】（千葉市）", "yachiyo": "【個人情報の取扱いに関する事項】(八千代市)"}


def _okayama() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "playbooks" / "okayama.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _task(owner: str = "contractor", source: TaskSource = "city_instruction") -> Task:
    return Task("t-1", "", owner, None, source, "instructions", T, title_key="instruction")


@pytest.mark.parametrize("jurisdiction", sorted(SEED_WORDS))
def test_each_playbook_names_the_parties_as_its_seed_does(jurisdiction: str) -> None:
    parties = playbooks()[jurisdiction].parties

    assert (parties.city, parties.contractor) == SEED_WORDS[jurisdiction]


@pytest.mark.parametrize("jurisdiction", sorted(SEED_WORDS))
def test_the_words_are_the_ones_the_city_s_own_clauses_use(jurisdiction: str) -> None:
    if not SEEDS.is_dir():
        pytest.skip("shared/seeds is not beside the repository")
    playbook = playbooks()[jurisdiction]
    text = (SEEDS / playbook.seed).read_text(encoding="utf-8")
    if jurisdiction in SECTIONS:
        start = text.index(SECTIONS[jurisdiction])
        following = [text.find(s, start + 1) for s in SECTIONS.values()]
        text = text[start : min((i for i in following if i > start), default=len(text))]
    city, contractor = playbook.parties.city, playbook.parties.contractor

    assert re.search(f"{city}[はにのがへ]", text), city
    assert re.search(f"{contractor}[はにのがへ]", text), contractor


@pytest.mark.parametrize("jurisdiction", sorted(SEED_WORDS))
def test_the_person_responsible_is_titled_as_the_city_s_clauses_title_them(jurisdiction: str) -> None:
    if not SEEDS.is_dir():
        pytest.skip("shared/seeds is not beside the repository")
    playbook = playbooks()[jurisdiction]
    # The seeds break lines inside words (個人情報の取扱いの責任\n\n者).
    text = re.sub(r"\s+", "", (SEEDS / playbook.seed).read_text(encoding="utf-8"))

    assert playbook.parties.responsible is not None
    assert playbook.parties.responsible in text


def test_a_letter_names_the_person_responsible_by_the_contract_s_title() -> None:
    words = party_fields("ja", "市", playbooks()["koganei"].parties)

    assert words["responsible_role"] == "取扱責任者"
    assert party_fields("ja", "市")["responsible_role"] == "作業責任者"  # a contract that gives none
    assert party_fields("en", "市", playbooks()["koganei"].parties)["responsible_role"] == "person responsible"


def test_a_ward_that_is_ko_without_a_role_word_is_named_by_its_name() -> None:
    # 品川区's clauses: 「品川区（以下「甲」という。）」, and no 委託者 anywhere.
    words = party_fields("ja", "区", playbooks()["shinagawa"].parties)

    assert words["city_party_title"] == "品川区（甲）"
    assert words["city_party"] == "甲"


def test_a_playbook_without_parties_says_ko_and_otsu() -> None:
    data = _okayama()
    data.pop("parties", None)

    parties = parse_playbook(data).parties

    assert (parties.city, parties.contractor) == ("甲", "乙")


@pytest.mark.parametrize(
    "parties",
    [{"city": "client", "contractor": "乙"}, {"city": "甲", "contractor": "甲"}, {"city": "", "contractor": "乙"}],
)
def test_parties_must_be_two_different_japanese_words(parties: dict[str, str]) -> None:
    with pytest.raises(PlaybookError, match="parties"):
        parse_playbook(_okayama() | {"parties": parties})


def test_a_misspelt_party_key_is_refused() -> None:
    with pytest.raises(PlaybookError, match="unknown key"):
        parse_playbook(_okayama() | {"parties": {"city": "甲", "contractor": "乙", "ward": "区"}})


@pytest.mark.parametrize(
    ("words", "instruction", "owner", "title"),
    [
        (Parties(), "甲の指示", "受託者", "委託者（甲）"),
        (Parties(city="委託者", contractor="受託者"), "委託者の指示", "受託者", "委託者"),
        (Parties(city="発注者", contractor="受注者"), "発注者の指示", "受注者", "発注者"),
    ],
)
def test_a_sentence_names_a_party_as_the_contract_does(
    words: Parties, instruction: str, owner: str, title: str
) -> None:
    names = Names(lang="ja", parties=words)

    assert task_text(_task(), names) == instruction
    assert code_label("ja", "owner", "contractor", "市", words) == owner
    assert code_label("ja", "task_source", "report_request", "市", words) == f"{words.city}からの報告の求め"
    assert party_fields("ja", "市", words)["city_party_title"] == title


def test_english_names_the_city_or_ward_and_the_contractor_whatever_the_contract_says() -> None:
    words = Parties(city="発注者", contractor="受注者")

    assert task_text(_task(), Names(lang="en", unit="区", parties=words)) == "instruction from the ward"
    assert fill("{city_party_title} / {contractor_role}", "en", "市", words) == "City / contractor"


def test_a_timeline_sentence_names_the_contractor_as_the_contract_does() -> None:
    names = Names(lang="ja", parties=Parties(city="発注者", contractor="受注者"))

    assert describe("city_unanswered", {}, "", names) == "市の受領確認がないため、受注者へ連絡"


def test_a_run_stored_before_playbooks_named_the_parties_reads_ko_and_otsu() -> None:
    s = build_sample(Scenario("chiba", origin="filed", stage="opened"))
    assert s.run is not None
    stored = s.run.to_json()
    del stored["playbook"]["parties"]

    run = PlaybookRun.from_json(stored)

    assert isinstance(run.playbook, Playbook)
    assert (run.playbook.parties.city, run.playbook.parties.contractor) == ("甲", "乙")


@pytest.mark.parametrize(
    ("jurisdiction", "city", "contractor"),
    [("okayama", "委託者（甲）", "受託者（乙）"), ("koganei", "委託者", "受託者"), ("chiba", "発注者", "受注者")],
)
def test_the_reports_party_table_names_the_parties_as_the_contract_does(
    jurisdiction: str, city: str, contractor: str
) -> None:
    s = build_sample(Scenario(jurisdiction, origin="filed", stage="opened"))
    model = build_report(s.stored(), kind="first", lang="ja", now=s.now)

    labels = [r.label for r in model.section("contract").rows]

    assert labels[:2] == [city, contractor]


def test_a_notification_chain_keeps_the_parties_it_was_planned_with() -> None:
    class Chain:
        def __init__(self, payload: dict[str, Any]) -> None:
            self.payload = payload

    planned = chain_parties(Chain({"parties": {"city": "発注者", "contractor": "受注者"}}))  # type: ignore[arg-type]
    before = chain_parties(Chain({}))  # type: ignore[arg-type]
    broken = chain_parties(Chain({"parties": {"city": "A"}}))  # type: ignore[arg-type]

    assert planned is not None
    assert planned.city == "発注者"
    assert before is None
    assert broken is None


def test_a_chain_is_planned_with_the_city_playbooks_words_for_the_parties() -> None:
    planner = ChainPlanner(None, playbooks())  # type: ignore[arg-type]  # parties() reads no chain
    note = NotificationIn.parse(
        {
            "effect": "notify",
            "effect_id": "INC-1/first_report/1",
            "incident_id": "INC-1",
            "contract_id": "chiba-2026-021",
            "jurisdiction": "chiba",
            "audience": "city",
            "kind": "first_report",
            "step_id": "first_report",
        }
    )

    words = planner.parties(note)
    assert words is not None
    assert (words["city"], words["contractor"], words["responsible"]) == ("発注者", "受注者", "個人情報管理責任者")
    assert planner.parties(note.model_copy(update={"jurisdiction": "nowhere"})) is None


def test_the_event_names_the_data_as_the_contract_does() -> None:
    """豊田市's 特記 第10条(10) defines 「個人情報等の漏えい等の事故」: its documents say 個人情報等."""
    toyota = playbooks()["toyota"].parties

    assert nature_label("leak", possible=True, parties=toyota)[0] == "個人情報等の漏えい等の事故のおそれ"


def test_a_playbook_without_a_data_word_names_personal_information() -> None:
    """A playbook (or a stored run) that names no data word says 個人情報, as before the field existed."""
    assert nature_label("leak", possible=False, parties=Parties())[0] == "個人情報の漏えい等の事故"
    assert nature_label("leak", possible=False)[0] == "個人情報の漏えい等の事故"
