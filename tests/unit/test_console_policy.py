"""Console policy: the role x action matrix, contract scope, allow-lists, and refusal of anything unknown."""

from __future__ import annotations

from typing import cast

import pytest

from kinkyu.console.policy import ACTIONS, Action, allowed, allowed_actions, can_see_contract, role_allows
from kinkyu.console.users import ROLES, Role, User

# Written out from CONSOLE.md, not derived from the module, so the table is the specification.
EXPECTED: dict[str, set[str]] = {
    "contractor": {
        "incident.list",
        "incident.view",
        "incident.details",
        "evidence.view",
        "report.download",
        "incident.file",
        "incident.triage",
        "incident.containment",
        "incident.update",
        "contract.view",
    },
    "city": {
        "incident.list",
        "incident.view",
        "incident.details",
        "evidence.view",
        "report.download",
        "city.acknowledge",
        "city.instruct",
        "city.request_report",
        "contract.view",
    },
    "reviewer": {
        "incident.list",
        "incident.view",
        "incident.details",
        "evidence.view",
        "evidence.verify",
        "report.download",
        "contract.view",
    },
    "admin": {
        "incident.list",
        "incident.view",
        "incident.details",
        "evidence.view",
        "evidence.verify",
        "report.download",
        "contract.view",
        "audit.view",
    },
}
EVERY_ACTION = {
    "incident.list",
    "incident.view",
    "incident.details",
    "evidence.view",
    "evidence.verify",
    "report.download",
    "incident.file",
    "incident.triage",
    "incident.containment",
    "incident.update",
    "city.acknowledge",
    "city.instruct",
    "city.request_report",
    "contract.view",
    "audit.view",
}
WRITES = {
    "incident.file",
    "incident.triage",
    "incident.containment",
    "incident.update",
    "city.acknowledge",
    "city.instruct",
    "city.request_report",
}

KOGANEI = {"contract_id": "koganei-2026-017", "jurisdiction": "koganei", "contractor_org": "acme"}
TOYOTA = {"contract_id": "toyota-2026-012", "jurisdiction": "toyota", "contractor_org": "acme"}
OTHER_ORG = {"contract_id": "koganei-2026-099", "jurisdiction": "koganei", "contractor_org": "globex"}

CONTRACTOR = User("acme-security", "アクメ", "contractor", org="acme")
KOGANEI_CITY = User("koganei-city", "小金井市", "city", jurisdiction="koganei")
TOYOTA_CITY = User("toyota-city", "豊田市", "city", jurisdiction="toyota")
REVIEWER = User("reviewer", "監査", "reviewer")
ADMIN = User("admin", "管理者", "admin")
IN_SCOPE_OF_KOGANEI: dict[str, User] = {
    "contractor": CONTRACTOR,
    "city": KOGANEI_CITY,
    "reviewer": REVIEWER,
    "admin": ADMIN,
}


def _narrowed(user: User, *contracts: str) -> User:
    return User(
        user.username, user.display_name, user.role, user.org, user.jurisdiction, frozenset(contracts), user.lang
    )


def test_the_actions_are_exactly_the_contracts_fifteen() -> None:
    assert set(ACTIONS) == EVERY_ACTION
    assert len(ACTIONS) == 15


def test_the_roles_are_exactly_four() -> None:
    assert set(ROLES) == set(EXPECTED)


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("action", sorted(EVERY_ACTION))
def test_matrix_on_a_contract_in_scope(role: str, action: str) -> None:
    user = IN_SCOPE_OF_KOGANEI[role]

    assert allowed(user, action, **KOGANEI) is (action in EXPECTED[role])


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("action", sorted(EVERY_ACTION))
def test_role_allows_follows_the_matrix_whatever_the_contract(role: str, action: str) -> None:
    assert role_allows(IN_SCOPE_OF_KOGANEI[role], action) is (action in EXPECTED[role])


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_allowed_actions_on_a_contract_in_scope_is_the_roles_row(role: str) -> None:
    assert allowed_actions(IN_SCOPE_OF_KOGANEI[role], **KOGANEI) == EXPECTED[role]


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_write_nothing(role: str) -> None:
    assert not WRITES & allowed_actions(IN_SCOPE_OF_KOGANEI[role], **KOGANEI)


@pytest.mark.parametrize("action", sorted(EVERY_ACTION))
def test_a_city_official_is_refused_every_action_on_another_citys_contract(action: str) -> None:
    assert not allowed(KOGANEI_CITY, action, **TOYOTA)
    assert not allowed(TOYOTA_CITY, action, **KOGANEI)


def test_a_city_official_sees_only_their_own_citys_contracts() -> None:
    assert can_see_contract(KOGANEI_CITY, "koganei-2026-017", "koganei", "acme")
    assert not can_see_contract(KOGANEI_CITY, "toyota-2026-012", "toyota", "acme")
    assert allowed_actions(KOGANEI_CITY, **TOYOTA) == frozenset()
    assert allowed_actions(TOYOTA_CITY, **TOYOTA) == EXPECTED["city"]


def test_a_city_is_matched_by_jurisdiction_not_by_the_contractor() -> None:
    # Same contractor org, other city: the org is irrelevant to a city official.
    assert not can_see_contract(KOGANEI_CITY, "toyota-2026-012", "toyota", "koganei")


@pytest.mark.parametrize("action", sorted(EVERY_ACTION))
def test_a_contractor_is_refused_every_action_on_another_organisations_contract(action: str) -> None:
    assert not allowed(CONTRACTOR, action, **OTHER_ORG)


def test_a_contractor_sees_every_contract_of_their_organisation_in_any_city() -> None:
    assert can_see_contract(CONTRACTOR, **KOGANEI)
    assert can_see_contract(CONTRACTOR, **TOYOTA)
    assert not can_see_contract(CONTRACTOR, **OTHER_ORG)


@pytest.mark.parametrize("user", [REVIEWER, ADMIN])
def test_reviewers_and_admins_see_every_contract(user: User) -> None:
    assert all(can_see_contract(user, **scope) for scope in (KOGANEI, TOYOTA, OTHER_ORG))


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_a_contracts_allow_list_narrows_every_role(role: str) -> None:
    user = _narrowed(IN_SCOPE_OF_KOGANEI[role], "koganei-2026-017")

    assert can_see_contract(user, **KOGANEI)
    assert not can_see_contract(user, "koganei-2026-018", "koganei", "acme")
    assert allowed_actions(user, contract_id="koganei-2026-018", jurisdiction="koganei", contractor_org="acme") == (
        frozenset()
    )


def test_an_allow_list_never_widens_a_scope() -> None:
    user = _narrowed(KOGANEI_CITY, "toyota-2026-012")

    assert not can_see_contract(user, **TOYOTA)
    assert not can_see_contract(user, **KOGANEI)


def test_an_empty_allow_list_allows_nothing() -> None:
    assert not can_see_contract(_narrowed(ADMIN), **KOGANEI)


def test_an_unknown_role_is_refused_everything() -> None:
    ghost = User("ghost", "?", cast("Role", "superuser"))

    assert not can_see_contract(ghost, **KOGANEI)
    assert not any(role_allows(ghost, action) for action in EVERY_ACTION)
    assert not any(allowed(ghost, action, **KOGANEI) for action in EVERY_ACTION)
    assert allowed_actions(ghost, **KOGANEI) == frozenset()


@pytest.mark.parametrize("action", ["incident.delete", "audit.edit", "", "INCIDENT.VIEW", "incident.view "])
def test_an_unknown_action_is_refused_even_to_an_admin(action: str) -> None:
    assert not role_allows(ADMIN, action)
    assert not allowed(ADMIN, cast("Action", action), **KOGANEI)


def test_a_user_with_no_org_or_jurisdiction_matches_no_blank_contract() -> None:
    # A User built in code skips the users file's validation; blanks must not match blanks.
    assert not can_see_contract(User("c", "c", "contractor", org=None), "x", "", "")
    assert not can_see_contract(User("c", "c", "contractor", org=""), "x", "", "")
    assert not can_see_contract(User("k", "k", "city", jurisdiction=""), "x", "", "")


@pytest.mark.parametrize("user", [CONTRACTOR, KOGANEI_CITY, REVIEWER, ADMIN])
def test_a_blank_contract_id_is_out_of_everyones_scope(user: User) -> None:
    assert not can_see_contract(user, "", "koganei", "acme")
