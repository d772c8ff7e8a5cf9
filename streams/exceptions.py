"""Errors of the Kafka edge."""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError, MalformedEventError


class StreamsError(KinkyuError):
    """Base of the Kafka edge's errors."""


class BrokerError(StreamsError):
    """The broker cannot be reached, started or used; the message says what to check."""


class BrokerSettingsError(StreamsError):
    """A ``KINKYU_BROKER_*`` setting cannot work (a missing CA file, a login without SASL): exit 3, not 4.

    The message names the variable, never its value.
    """


class TopicLayoutError(StreamsError):
    """Existing topics do not have the layout the worker needs (e.g. partition counts differ)."""


class OutputEncodeError(StreamsError, MalformedEventError):
    """An output an event produced cannot be written as JSON; the event is a dead letter (``encode-error``).

    The message says which output, never its value.
    """

    def __init__(self, what: str) -> None:
        MalformedEventError.__init__(
            self,
            "encode-error",
            f"{what} it produced cannot be written as JSON "
            "(a number beyond 64 bits, an invalid string or nesting too deep)",
        )


class RecordRejectedError(StreamsError):
    """The producer or the broker refused records for what they are (too large): sending again cannot help.

    ``rejected`` maps each refused record's index in the batch to a reason code
    (``record-too-large``); every other record of the batch was sent.
    """

    def __init__(self, rejected: dict[int, str]) -> None:
        super().__init__(f"{len(rejected)} record(s) refused by the broker: {sorted(set(rejected.values()))}")
        self.rejected = rejected
