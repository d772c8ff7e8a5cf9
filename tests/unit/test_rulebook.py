"""The rulebook is the one list of rules: every table keyed by rule id names exactly its rules."""

from __future__ import annotations

from kinkyu.core.clauses import CLAUSES
from kinkyu.core.jurisdictions import CITY_NAMES, JURISDICTIONS
from kinkyu.core.legal.labels import RULE_LABELS
from kinkyu.core.playbook.containment import CONTAINMENT
from kinkyu.core.playbook.policy import DEFAULT_REPORT_AT_ONCE
from kinkyu.core.playbook.policy import RULE_IDS as POLICY_RULE_IDS
from kinkyu.core.rulebook import RULE_IDS, RULES
from kinkyu.core.rules import RULE_CLASSES


def test_the_detection_classes_are_the_rulebook_rules_in_its_order() -> None:
    assert tuple(cls.rule_id for cls in RULE_CLASSES) == RULE_IDS


def test_the_rulebook_has_one_entry_per_rule_id() -> None:
    assert tuple(RULES) == RULE_IDS


def test_labels_and_clauses_are_read_from_the_rulebook() -> None:
    assert {rule: facts.label for rule, facts in RULES.items()} == {rule: en for rule, (_ja, en) in RULE_LABELS.items()}
    assert {rule: dict(facts.clauses) for rule, facts in RULES.items()} == CLAUSES


def test_every_rule_cites_a_clause_of_every_jurisdiction() -> None:
    for rule, facts in RULES.items():
        assert set(facts.clauses) == set(JURISDICTIONS), rule
        assert all(facts.clauses.values()), rule


def test_the_playbook_policy_knows_the_same_rules() -> None:
    assert frozenset(RULE_IDS) == POLICY_RULE_IDS
    assert set(DEFAULT_REPORT_AT_ONCE) <= set(RULE_IDS)


def test_containment_proposes_only_for_rules_of_the_rulebook() -> None:
    assert set(CONTAINMENT) <= set(RULE_IDS)


def test_every_jurisdiction_has_a_name_and_no_other_does() -> None:
    assert tuple(CITY_NAMES) == JURISDICTIONS
