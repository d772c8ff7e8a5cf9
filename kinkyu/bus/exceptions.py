"""Errors of the broker seam: it cannot be reached, or it refuses a record for what it is.

Messages name topics, counts and reason codes, never a record's content.
:mod:`kinkyu.streams.exceptions` re-exports them beside the worker's own errors.
"""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class BusError(KinkyuError):
    """Base of the broker seam's errors."""


class BrokerError(BusError):
    """The broker cannot be reached, started or used; the message says what to check."""


class BrokerSettingsError(BusError):
    """A ``KINKYU_BROKER_*`` setting cannot work (a missing CA file, a login without SASL): exit 3, not 4.

    The message names the variable, never its value.
    """


class RecordRejectedError(BusError):
    """The producer or the broker refused records for what they are (too large): sending again cannot help.

    ``rejected`` maps each refused record's index in the batch to a reason code
    (``record-too-large``); every other record of the batch was sent.
    """

    def __init__(self, rejected: dict[int, str]) -> None:
        super().__init__(f"{len(rejected)} record(s) refused by the broker: {sorted(set(rejected.values()))}")
        self.rejected = rejected
