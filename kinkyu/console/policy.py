"""Who may do what, on which contract: the console's authorisation, as pure functions.

Two questions, both answered on the server for every read and write:

* scope (:func:`can_see_contract`): a contractor sees the contracts of their
  organisation, a city official the contracts of their city, a reviewer or an
  administrator every contract; a user's ``contracts`` allow-list narrows any role;
* role (:func:`role_allows`): the role x action matrix below.

:func:`allowed` is both at once. Anything unknown (role, action, an empty
scope value) is refused. No I/O here: callers pass the contract's
jurisdiction and contractor org.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from kinkyu.console.users import Role, User

Action = Literal[
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
]
ACTIONS: tuple[Action, ...] = get_args(Action)

_READ: frozenset[Action] = frozenset(
    {"incident.list", "incident.view", "incident.details", "evidence.view", "report.download", "contract.view"}
)
_REVIEWER: frozenset[Action] = _READ | {"evidence.verify"}

MATRIX: Mapping[Role, frozenset[Action]] = {
    "contractor": _READ | {"incident.file", "incident.triage", "incident.containment", "incident.update"},
    "city": _READ | {"city.acknowledge", "city.instruct", "city.request_report"},
    "reviewer": _REVIEWER,
    "admin": _REVIEWER | {"audit.view"},
}


def role_allows(user: User, action: str) -> bool:
    """Whether the user's role may take ``action`` at all, whatever the contract.

    For pages that are not about one contract (the incident list, the filing
    form's link, the audit log); anything about a contract uses :func:`allowed`.
    """
    return action in MATRIX.get(user.role, frozenset())


def can_see_contract(user: User, contract_id: str, jurisdiction: str, contractor_org: str) -> bool:
    """Whether the contract (and so its incidents) is within the user's scope."""
    if not contract_id:
        return False
    if user.contracts is not None and contract_id not in user.contracts:
        return False
    role: str = user.role  # a plain str: a User built in code is not validated, so refuse what is not a Role
    if role == "contractor":
        return bool(user.org) and contractor_org == user.org
    if role == "city":
        return bool(user.jurisdiction) and jurisdiction == user.jurisdiction
    return role in {"reviewer", "admin"}


def allowed(user: User, action: str, *, contract_id: str, jurisdiction: str, contractor_org: str) -> bool:
    """Whether the user may take ``action`` on this contract: in scope and allowed to the role."""
    return role_allows(user, action) and can_see_contract(user, contract_id, jurisdiction, contractor_org)


def allowed_actions(user: User, *, contract_id: str, jurisdiction: str, contractor_org: str) -> frozenset[Action]:
    """Every action the user may take on this contract (empty outside their scope); templates show only these."""
    if not can_see_contract(user, contract_id, jurisdiction, contractor_org):
        return frozenset()
    return MATRIX.get(user.role, frozenset())
