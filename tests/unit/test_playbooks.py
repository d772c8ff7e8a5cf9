"""The six playbook files: they load, cite their clauses verbatim, and say what the clauses say."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.contract import ContractProfile
from kinkyu.core.playbook import (
    DEFAULT_REPORT_AT_ONCE,
    Playbook,
    PlaybookError,
    ResponsePolicy,
    parse_playbook,
    playbook_from_yaml,
    playbooks_from_texts,
)

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
SEEDS = REPO.parent / "shared" / "seeds"
JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")


def _texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(PLAYBOOKS.glob("*.yaml"))}


def _playbooks() -> dict[str, Playbook]:
    return playbooks_from_texts(_texts())


def _normalise(text: str) -> str:
    # The seed texts break lines (and pages) inside sentences; compare without any whitespace.
    return "".join(text.split())


def _minimal() -> dict[str, Any]:
    data = yaml.safe_load((PLAYBOOKS / "okayama.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_one_playbook_per_jurisdiction_and_all_load() -> None:
    playbooks = _playbooks()
    assert sorted(playbooks) == sorted(JURISDICTIONS)
    for jurisdiction, playbook in playbooks.items():
        assert (PLAYBOOKS / f"{jurisdiction}.yaml").is_file()
        assert playbook.city == CITY_NAMES[jurisdiction]


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_step_cites_a_clause_with_titles(jurisdiction: str) -> None:
    playbook = _playbooks()[jurisdiction]
    for step in playbook.steps:
        assert step.clause.article
        assert step.clause.quote
        assert step.title_ja
        assert step.title_en


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_header_comment_names_the_seed_file(jurisdiction: str) -> None:
    text = (PLAYBOOKS / f"{jurisdiction}.yaml").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    playbook = _playbooks()[jurisdiction]
    assert text.startswith("#")
    assert any(playbook.seed in line for line in header)
    assert any("Clauses implemented" in line for line in header)


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_quotes_occur_verbatim_in_the_seed_text(jurisdiction: str) -> None:
    playbook = _playbooks()[jurisdiction]
    seed_file = SEEDS / playbook.seed
    if not SEEDS.is_dir():
        pytest.skip("shared/seeds is not beside the repository")
    seed = _normalise(seed_file.read_text(encoding="utf-8"))
    quotes = [(s.id, s.clause.quote) for s in playbook.steps]
    if playbook.after_contract_end is not None:
        quotes.append(("after_contract_end", playbook.after_contract_end.quote))
    missing = [(step_id, quote) for step_id, quote in quotes if _normalise(quote) not in seed]
    assert missing == []


def test_urgency_words_follow_the_clauses() -> None:
    playbooks = _playbooks()
    first = {j: playbooks[j].first_of("first_report") for j in JURISDICTIONS}
    assert {j: s.urgency for j, s in first.items() if s is not None} == {
        "okayama": "直ちに",
        "chiba": "速やかに",
        "yachiyo": "速やかに",
        "koganei": "直ちに",
        "toyota": "直ちに",
        "shinagawa": "直ちに",
    }
    shinagawa_written = playbooks["shinagawa"].first_of("written_report")
    assert shinagawa_written is not None
    assert shinagawa_written.urgency == "遅滞なく"
    assert shinagawa_written.written


def test_written_reports_and_their_items() -> None:
    playbooks = _playbooks()
    koganei = playbooks["koganei"].step("first_report")
    assert koganei.written
    assert koganei.items == ["content", "count", "place", "circumstances"]
    toyota = playbooks["toyota"].step("first_report")
    assert toyota.written
    assert toyota.items == ["circumstances"]
    for j in ("okayama", "chiba", "yachiyo"):
        assert not any(s.written for s in playbooks[j].steps)


def test_publication_only_where_the_clause_allows_it() -> None:
    playbooks = _playbooks()
    with_publication = {j for j, p in playbooks.items() if p.first_of("publication") is not None}
    assert with_publication == {"chiba", "koganei", "toyota"}
    for j in with_publication:
        step = playbooks[j].first_of("publication")
        assert step is not None
        assert step.optional


def test_outage_and_complaint_steps() -> None:
    playbooks = _playbooks()
    outage = playbooks["toyota"].step("outage_containment")
    assert outage.applies_to is not None
    assert outage.applies("system_outage", [])
    assert outage.applies("detection", ["system-outage"])
    assert not outage.applies("detection", ["pii-email"])
    koganei = playbooks["koganei"]
    assert koganei.step("complaint_report").applies("complaint", [])
    assert not koganei.step("complaint_report").applies("leak", [])
    assert koganei.step("complaint_progress").kind == "progress_report"


def test_after_contract_end_cited_where_the_clause_says_it() -> None:
    playbooks = _playbooks()
    cited = {j for j, p in playbooks.items() if p.after_contract_end is not None}
    # Toyota's 第13条 does not say it; its runs continue all the same (see the run tests).
    assert cited == {"okayama", "chiba", "yachiyo", "koganei", "shinagawa"}


def test_a_step_without_a_clause_is_refused_naming_it() -> None:
    data = _minimal()
    del data["steps"][3]["clause"]
    with pytest.raises(PlaybookError) as err:
        parse_playbook(data, source="okayama.yaml")
    text = str(err.value)
    assert "okayama.yaml" in text
    assert "steps.3.clause" in text
    assert "first_report" in text
    assert "every step must cite a clause" in text


def test_an_unknown_key_is_refused_naming_it() -> None:
    data = _minimal()
    data["steps"][0]["deadline"] = "1h"
    with pytest.raises(PlaybookError, match=r"steps\.0\.deadline.*unknown key"):
        parse_playbook(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][3].update(urgency="至急"), "urgency"),
        (lambda d: d["steps"][3].pop("urgency"), "urgency word"),
        (lambda d: d["steps"][3].pop("to"), "who it goes to"),
        (lambda d: d["steps"][3].update(items=["count"]), "written"),
        (lambda d: d["steps"].pop(0), "exactly one triage"),
        (lambda d: d.update(city="千葉市"), "city must be 岡山市"),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "unique"),
        (lambda d: d["steps"][2].update(applies_to={"rules": ["no-such-rule"]}), "unknown rule"),
        (lambda d: d["steps"][2].update(applies_to={"kinds": ["flood"]}), "unknown incident kind"),
        (lambda d: d["steps"][0]["clause"].update(quote=""), "quote"),
    ],
)
def test_malformed_playbooks_are_refused(change: Any, message: str) -> None:
    data = _minimal()
    change(data)
    with pytest.raises(PlaybookError, match=message):
        parse_playbook(data)


def test_yaml_errors_name_the_source_and_line() -> None:
    with pytest.raises(PlaybookError, match=r"x\.yaml: not valid YAML at line \d+"):
        playbook_from_yaml("steps:\n  - id: [unclosed\n", source="x.yaml")
    with pytest.raises(PlaybookError, match="mapping"):
        playbook_from_yaml("- a\n- b\n", source="x.yaml")


def test_two_files_for_one_jurisdiction_are_refused() -> None:
    text = (PLAYBOOKS / "okayama.yaml").read_text(encoding="utf-8")
    with pytest.raises(PlaybookError, match="already has a playbook"):
        playbooks_from_texts({"a.yaml": text, "b.yaml": text})


def test_policy_defaults_are_documented_values() -> None:
    policy = ResponsePolicy()
    assert policy.within("直ちに") == timedelta(hours=1)
    assert policy.within("速やかに") == timedelta(hours=24)
    assert policy.within("遅滞なく") == timedelta(days=3)
    assert policy.triage_within == timedelta(hours=1)
    assert policy.evidence_window == timedelta(hours=1)
    assert policy.ack_timeout == timedelta(minutes=30)
    assert policy.auto_contain == []
    assert set(policy.report_at_once) == set(DEFAULT_REPORT_AT_ONCE)
    assert "off-hours" not in policy.report_at_once


def test_policy_overrides_merge_and_refuse_unknowns() -> None:
    policy = ResponsePolicy.model_validate({"urgency": {"遅滞なく": "12h"}, "ack_timeout": "10m"})
    assert policy.within("遅滞なく") == timedelta(hours=12)
    assert policy.within("直ちに") == timedelta(hours=1)
    assert policy.ack_timeout == timedelta(minutes=10)
    for bad in (
        {"urgency": {"至急": "1h"}},
        {"report_at_once": ["no-such-rule"]},
        {"auto_contain": ["nope"]},
        {"triage_kinds": ["flood"]},
        {"triage_within": "0s"},
        {"ack_timout": "5m"},
    ):
        with pytest.raises(ValueError, match=r"validation error"):
            ResponsePolicy.model_validate(bad)


def test_contract_profile_carries_a_response_policy() -> None:
    example = REPO / "samples" / "contracts" / "koganei-2026-017.yaml"
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert ContractProfile.model_validate(data).response == ResponsePolicy()
    data["response"] = {"urgency": {"直ちに": "15m"}, "auto_contain": ["credential-attack"]}
    profile = ContractProfile.model_validate(data)
    assert profile.response.within("直ちに") == timedelta(minutes=15)
    assert profile.response.auto_contain == ["credential-attack"]
    # The profile round-trips through its JSON dump (snapshots, reloads).
    assert ContractProfile.model_validate(profile.model_dump(mode="json")) == profile
    data["response"] = {"urgncy": {}}
    with pytest.raises(ValueError, match="urgncy"):
        ContractProfile.model_validate(data)
