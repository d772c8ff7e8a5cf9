"""Errors of the outbound edge.

Foreign errors (aiosmtplib, aiohttp, OSError) are converted where they are
caught (``raise … from exc``) into one of these. Messages name hosts, ports,
reply codes, ids and categories; never a recipient's address, a body or a
server's reply text (which may quote an address).
"""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class NotifierError(KinkyuError):
    """A message could not be rendered or delivered."""


class RenderError(NotifierError):
    """A message cannot be rendered: a missing template, an unknown kind, an unknown contact."""


class PersonalDataError(NotifierError):
    """A rendered message contains a value that must never leave (the PII guard)."""


class DeliveryError(NotifierError):
    """A delivery attempt failed. ``code`` is a category for the outbox (``connection``, ``smtp-5xx`` …)."""

    def __init__(self, message: str, *, code: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class NotifierTransientError(DeliveryError):
    """Worth retrying: the server was unreachable, timed out or answered 4xx (or HTTP 5xx / 429)."""


class NotifierPermanentError(DeliveryError):
    """Not worth retrying: the server refused this message for good (SMTP 5xx, HTTP 4xx)."""


class OutboxJournalError(NotifierError):
    """The outbox journal cannot be read or written (path, line number and problem in the message)."""
