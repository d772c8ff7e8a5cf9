"""Errors of the playbook domain.

Messages name files, keys, step ids and incident ids; never personal information.
"""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class PlaybookError(KinkyuError):
    """A playbook cannot be loaded: the message names the source, the key and the problem."""


class PlaybookRunError(KinkyuError):
    """A record cannot be applied to a playbook run (wrong incident, malformed record)."""
