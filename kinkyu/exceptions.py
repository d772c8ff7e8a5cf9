"""The one base exception of Kinkyu, and the domain's own errors.

Every package has its own ``exceptions.py`` whose errors derive from
:class:`KinkyuError`, so a caller can catch everything Kinkyu raises in one
place while foreign errors are converted at the boundary (``raise … from exc``).
Messages never carry personal information: they name keys, ids and counts.
"""

from __future__ import annotations


class KinkyuError(Exception):
    """Base of every error Kinkyu raises on purpose."""


class MalformedEventError(KinkyuError):
    """An input event cannot be processed; permanent, so it goes to ``dead-letters``.

    ``reason`` is short and machine-groupable (``bad-json``, ``invalid``,
    ``unknown-contract`` …); ``detail`` says what to fix.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ContractError(KinkyuError):
    """A contract profile cannot be loaded; the message names the file, key and problem."""


class UnknownContractError(MalformedEventError):
    """An event names a contract that no loaded profile defines."""

    def __init__(self, contract_id: str) -> None:
        # The id is the sender's text, of any length and content: the message names the field only
        # (it goes into dead-letter headers and logs); the id stays on the exception for the caller.
        super().__init__(
            "unknown-contract",
            "contract_id is not among the loaded contract profiles; "
            "add its profile to the contracts folder (it is picked up without a restart)",
        )
        self.contract_id = contract_id
