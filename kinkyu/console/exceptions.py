"""Errors of the console (the incident desk).

Messages name files, keys, user entries (by username) and log lines; they
never carry a password, a password hash, a session id or a CSRF token.
"""

from __future__ import annotations

from kinkyu.exceptions import KinkyuError


class ConsoleError(KinkyuError):
    """Base of every error the console raises on purpose."""


class ConsoleConfigError(ConsoleError):
    """The console's configuration cannot be used as given; the message says what to fix."""


class UserFileError(ConsoleConfigError):
    """The users file cannot be read or is invalid; the message names the line, the user entry and the key."""


class PasswordPolicyError(ConsoleError):
    """A new password is refused (too short or too long); the message says the limits, never the password."""


class AuditLogError(ConsoleError):
    """The audit log cannot be written or read, or an entry is refused (a field that is not a short code)."""
