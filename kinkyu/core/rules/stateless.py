"""Rules that judge one event on its own."""

from __future__ import annotations

from collections.abc import Iterable

from kinkyu.core.contract import ContractPolicy
from kinkyu.core.model import AccessEvent, Severity
from kinkyu.core.rules.base import Hit, Rule

_NONE: tuple[Hit, ...] = ()


class UnregisteredActor(Rule):
    """A data action by an account that is not in the contract's ``staff``."""

    rule_id = "unregistered-actor"
    severity = Severity.HIGH

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a data action by an account outside ``staff``."""
        if ev.is_data_action and ev.actor_id not in policy.staff:
            return (Hit.on(ev, action=ev.action, dataset=ev.dataset),)
        return _NONE
