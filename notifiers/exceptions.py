"""Errors of the outbound edge."""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class NotifierError(KinkyuError):
    """A message could not be rendered or delivered."""
