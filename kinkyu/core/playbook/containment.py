"""Containment (被害拡大の防止): the commands proposed for an incident, per rule.

Each rule proposes actions on targets derived from the incident: the account
(``actor``), the system, and, where the incident record carries them, source
addresses (``source_ips``) and device ids (``devices``). Today's
:class:`~kinkyu.core.incident.Incident` carries the account and the system
only, so ``block_ip`` and ``quarantine_device`` are proposed only when a
record adds those keys; the run's timeline says which actions had no target.
Targets are ids (accounts, systems, addresses, devices), never resident data.

A command is a proposal unless the contract's ``response.auto_contain`` lists
a rule that proposed it: then ``auto`` is true and the contractor's systems
may execute it without a person approving. Results come back as
``containment_result`` incident events (see :mod:`kinkyu.core.playbook.run`).

Actions on an ``account`` target act on that account: ``suspend_subcontractor``
suspends the organisation the account belongs to (the incident names the
account, the contractor's directory knows its organisation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import msgspec

from kinkyu.core.codec import Record

Action = Literal[
    "disable_account",
    "end_sessions",
    "block_ip",
    "quarantine_device",
    "revoke_media",
    "suspend_subcontractor",
    "restore_logging",
    "failover",
]
TargetType = Literal["account", "system", "ip", "device"]

# rule id -> the actions it proposes, in order, with the kind of target each acts on.
CONTAINMENT: dict[str, tuple[tuple[Action, TargetType], ...]] = {
    # Someone who should not be in: shut the door and end what is open.
    "unregistered-actor": (("disable_account", "account"), ("end_sessions", "account")),
    "revoked-credential": (("disable_account", "account"), ("end_sessions", "account")),
    "unapproved-org": (
        ("suspend_subcontractor", "account"),
        ("disable_account", "account"),
        ("end_sessions", "account"),
    ),
    # A registered person in the wrong place or at the wrong time: end the session, keep the account.
    "outside-site": (("end_sessions", "account"), ("block_ip", "ip")),
    "off-hours": (("end_sessions", "account"),),
    "scope-violation": (("end_sessions", "account"),),
    # Data leaving control: stop the account before more goes.
    "bulk-export": (("end_sessions", "account"), ("disable_account", "account")),
    "pii-email": (("end_sessions", "account"), ("disable_account", "account")),
    "unencrypted-media": (
        ("revoke_media", "account"),
        ("quarantine_device", "device"),
        ("end_sessions", "account"),
    ),
    "credential-attack": (("disable_account", "account"), ("block_ip", "ip")),
    "post-contract-access": (("disable_account", "account"), ("end_sessions", "account")),
    "system-outage": (("failover", "system"),),
    # The record of what happened is under attack: restore it first.
    "log-tampering": (
        ("restore_logging", "system"),
        ("disable_account", "account"),
        ("end_sessions", "account"),
    ),
}


def command_id(incident_id: str, action: str, target_type: str, target: str) -> str:
    """A stable id for ``action`` on ``target`` in ``incident_id``: redelivery reproduces it."""
    digest = hashlib.blake2b(digest_size=10)
    for part in (incident_id, action, target_type, target):
        digest.update(part.encode())
        digest.update(b"\x00")
    return "CMD-" + digest.hexdigest()


class ContainmentCommand(msgspec.Struct, Record, frozen=True):
    """One containment action for the contractor's systems (topic ``containment-commands``).

    ``auto`` says the contract allows executing it without a person approving;
    ``reason`` is the first rule that proposed it and ``rules`` all of them.
    """

    command_id: str
    incident_id: str
    contract_id: str
    action: str
    target_type: str
    target: str
    auto: bool
    reason: str
    rules: tuple[str, ...]
    step_id: str


@dataclass(frozen=True, slots=True)
class Targets:
    """What an incident offers to act on: ids only."""

    account: str | None = None
    system: str | None = None
    ips: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    def of(self, target_type: str) -> tuple[str, ...]:
        """The targets of ``target_type`` (empty when the incident does not carry one)."""
        if target_type == "account":
            return (self.account,) if self.account else ()
        if target_type == "system":
            return (self.system,) if self.system else ()
        if target_type == "ip":
            return self.ips
        return self.devices


@dataclass(frozen=True, slots=True)
class Proposal:
    """The commands proposed for some rules, and the actions that had no target."""

    commands: tuple[ContainmentCommand, ...]
    untargeted: tuple[tuple[str, str], ...]  # (rule, action)


def propose(
    *,
    incident_id: str,
    contract_id: str,
    rules: Iterable[str],
    targets: Targets,
    auto_rules: Iterable[str],
    step_id: str,
    known: Iterable[str] = (),
) -> Proposal:
    """The commands ``rules`` propose for ``targets``, skipping command ids in ``known``.

    One command per (action, target) however many rules propose it; it is
    ``auto`` when any proposing rule is in ``auto_rules``.
    """
    skip = set(known)
    auto_set = set(auto_rules)
    order: list[str] = []
    found: dict[str, tuple[str, str, str, list[str]]] = {}
    untargeted: list[tuple[str, str]] = []
    for rule in rules:
        for action, target_type in CONTAINMENT.get(rule, ()):
            ids = targets.of(target_type)
            if not ids:
                untargeted.append((rule, action))
                continue
            for target in ids:
                cid = command_id(incident_id, action, target_type, target)
                if cid in skip:
                    continue
                if cid not in found:
                    order.append(cid)
                    found[cid] = (action, target_type, target, [])
                found[cid][3].append(rule)
    commands = tuple(
        ContainmentCommand(
            command_id=cid,
            incident_id=incident_id,
            contract_id=contract_id,
            action=found[cid][0],
            target_type=found[cid][1],
            target=found[cid][2],
            auto=any(r in auto_set for r in found[cid][3]),
            reason=found[cid][3][0],
            rules=tuple(found[cid][3]),
            step_id=step_id,
        )
        for cid in order
    )
    return Proposal(commands, tuple(untargeted))
