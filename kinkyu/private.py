"""Everything Kinkyu writes is private to the account it runs as: umask 077.

The files Kinkyu writes hold what must not leak: e-mails with acknowledgement
links (credentials), logs, the incident store, the outbox, the console's
audit log and users file, sealed evidence. Each writer that knows this sets
0600 itself; the process umask makes it the default for every other file
and folder too (a log a library opens, a file a future change adds), so
nothing is world-readable by accident. Set once, first thing, by every entry
point (``kinkyu`` and ``python -m notifiers.smtp_sink``); child processes inherit it.
"""

from __future__ import annotations

import os

PRIVATE_UMASK = 0o077


def make_files_private() -> int:
    """Add 077 to the process umask (a stricter one stays stricter); the umask it replaced."""
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)
    return old
