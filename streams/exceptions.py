"""Errors of the Kafka edge."""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class StreamsError(KinkyuError):
    """Base of the Kafka edge's errors."""


class BrokerError(StreamsError):
    """The broker cannot be reached, started or used; the message says what to check."""


class TopicLayoutError(StreamsError):
    """Existing topics do not have the layout the worker needs (e.g. partition counts differ)."""
