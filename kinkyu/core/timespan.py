"""The span the response clocks work in, and what to do at its ends.

A time taken from an event or a filing can be anything ``datetime`` holds
(year 1 to 9999, any offset), and a deadline, an evidence window or a
calendar lookup computed from it can fall outside what ``datetime`` or the
public-holiday calendar can answer. The wire edge refuses implausible times;
this module is the defence in depth behind it, so that a run computing a
deadline gets "unknown" instead of an exception:

- :func:`shift` adds a duration, or answers None outside
  :data:`EARLIEST`..:data:`LATEST`; :func:`clamp` moves a time inside;
- :func:`jst_text` / :func:`jst_date` show a time in Japan time, falling back
  to its own offset where Japan time does not exist (9999-12-31T23:00-10:00);
- :data:`HOLIDAY_YEARS` are the years whose public holidays are known, and
  :class:`CalendarRangeError` says (as a code, never the value) that a date
  computation left them.

Pure: no clock, no I/O; importable from every core module (no other core import
but the model's time zone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from holidays.countries.japan import Japan

from kinkyu.core.model import JST
from kinkyu.exceptions import KinkyuError

# The years the holidays package knows Japan's public holidays for; outside them it answers
# "no holiday" for every day, which would silently move no deadline past a holiday.
HOLIDAY_YEARS = range(Japan.start_year, Japan.end_year + 1)
# datetime's own range less a day at each end: a consumer that widens a time by its lateness
# (seconds to minutes: the evidence reader, the stage's after-window seal) still gets a datetime.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

RangeCode = Literal["out-of-range", "no-holiday-calendar"]


class CalendarRangeError(KinkyuError, ValueError):
    """A time or date cannot be computed: outside datetime's span, or a year without a holiday calendar.

    ``code`` is ``out-of-range`` or ``no-holiday-calendar``; the message names
    the computation, never the value (the value came from an event).
    """

    def __init__(self, code: RangeCode, what: str) -> None:
        super().__init__(f"{what}: {code}")
        self.code: RangeCode = code


def in_span(ts: datetime) -> bool:
    """Whether ``ts`` lies inside :data:`EARLIEST`..:data:`LATEST`."""
    return EARLIEST <= ts <= LATEST


def shift(ts: datetime, delta: timedelta) -> datetime | None:
    """``ts + delta``, or None when the result falls outside :data:`EARLIEST`..:data:`LATEST`."""
    try:
        out = ts + delta
    except OverflowError:
        return None
    return out if in_span(out) else None


def clamp(ts: datetime) -> datetime:
    """``ts`` moved inside :data:`EARLIEST`..:data:`LATEST` (the same object when it already is)."""
    return max(EARLIEST, min(ts, LATEST))


def jst_text(ts: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``ts`` in Japan time as ``fmt`` plus `` JST``; where Japan time does not exist, ISO text in its own offset."""
    try:
        return f"{ts.astimezone(JST):{fmt}} JST"
    except OverflowError:
        # 9999-12-31T23:00-10:00 is past Japan's last representable minute; its own offset still says when.
        return ts.isoformat()


def jst_date(ts: datetime) -> date:
    """The Japan calendar date of ``ts``; where Japan time does not exist, its date in its own offset."""
    try:
        return ts.astimezone(JST).date()
    except OverflowError:
        return ts.date()


def require_holidays(day: date, what: str) -> None:
    """CalendarRangeError (``no-holiday-calendar``) unless ``day``'s year has a known holiday calendar."""
    if day.year not in HOLIDAY_YEARS:
        raise CalendarRangeError("no-holiday-calendar", what)
