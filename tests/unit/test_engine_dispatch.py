"""The engine calls a rule only for the actions it declares: declaring too few would hide findings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.model import ACTIONS, AccessEvent
from kinkyu.core.rules import RULE_CLASSES, Rule

JST = timezone(timedelta(hours=9))
POLICY = compile_profiles(load_profiles([Path(__file__).resolve().parents[2] / "samples" / "contracts"]))[
    "koganei-2026-017"
]


def _worst(action: str, actor: str, at: datetime) -> AccessEvent:
    """An event that breaks every condition a rule could look at, with the given action."""
    return AccessEvent(
        event_id=f"{action}-{actor}-{at.isoformat()}",
        ts=at,
        t=at.timestamp(),
        contract_id=POLICY.contract_id,
        system="juki-portal",
        actor_id=actor,
        actor_org="shadow-co",
        actor_role=None,
        source_ip="203.0.113.9",
        source_host=None,
        source_site=None,
        action=action,
        outcome="success",
        dataset="audit_log",
        records=100_000,
        fields=("my_number", "health"),
        destination="someone@example.com",
        encrypted=False,
    )


# A Sunday night after the contract ended (2027-03-31), and a national holiday night inside it.
TIMES = (datetime(2027, 4, 4, 3, 0, tzinfo=JST), datetime(2026, 11, 23, 3, 0, tzinfo=JST))


@pytest.mark.parametrize("rule_class", [c for c in RULE_CLASSES if c.actions is not None], ids=lambda c: c.rule_id)
def test_a_rule_neither_fires_nor_keeps_state_for_actions_it_does_not_declare(rule_class: type[Rule]) -> None:
    rule = rule_class()
    declared = rule_class.actions or frozenset()
    before = rule.snapshot()
    for action in sorted(ACTIONS - declared):
        for actor in ("u9999", "u1043"):
            for at in TIMES:
                assert list(rule.observe(_worst(action, actor, at), POLICY)) == [], action
    assert rule.snapshot() == before
