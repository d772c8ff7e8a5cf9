"""Errors of the Kafka edge.

:class:`BrokerError`, :class:`BrokerSettingsError` and :class:`RecordRejectedError` belong to the broker seam the
console shares (:mod:`kinkyu.bus.exceptions`) and are re-exported here.
"""

from __future__ import annotations

from kinkyu.bus.exceptions import BrokerError, BrokerSettingsError, RecordRejectedError
from kinkyu.exceptions import KinkyuError, MalformedEventError

__all__ = [
    "BrokerError",
    "BrokerSettingsError",
    "KinkyuProcessError",
    "OutputEncodeError",
    "RecordRejectedError",
    "StreamsError",
    "TopicLayoutError",
]


class StreamsError(KinkyuError):
    """Base of the Kafka edge's errors."""


class KinkyuProcessError(StreamsError):
    """A ``kinkyu`` child process (a test's or a bench's worker) did not start, never became healthy, or exited."""


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
