"""Times as Kinkyu writes and reads them: one home for the helpers every layer used to copy.

- :func:`iso` / :func:`parse_dt`: a time in persisted state and records (RFC 3339 with its
  offset, None for none), and back;
- :func:`jst_text` / :func:`jst_date`: a time shown in Japan time (from :mod:`kinkyu.core.timespan`,
  which knows where Japan time does not exist);
- :func:`utcnow`: the wall clock, for the edges. The core itself never reads it: it is handed ``now``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kinkyu.core.timespan import jst_date, jst_text

__all__ = ["iso", "jst_date", "jst_text", "parse_dt", "utcnow"]


def iso(ts: datetime | None) -> str | None:
    """``ts`` as ISO 8601 text in its own offset (what :func:`parse_dt` reads back); None stays None."""
    return ts.isoformat() if ts is not None else None


def parse_dt(value: Any) -> datetime | None:
    """A time written by :func:`iso`; None for None, an empty string or anything that is not text."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)
