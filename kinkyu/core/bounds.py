"""What a plausible number or time is, judged once at the wire edge.

Attackers write the logs Kinkyu reads. A count past 2^63 cannot be written
back out, a time in year 9999 stops every window and deadline; so every
count and time an event carries is checked here before the engine sees it,
and one outside these bounds is a dead letter with a reason code
(``out-of-range``, ``future-timestamp``) that names the field, never its
value. The same bounds serve the console's filing form and replay.

Pure: the caller passes the clock it judges "the future" against (the
worker's wall clock live; replay its own clock, the same way).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from kinkyu.exceptions import MalformedEventError

# No access log or filing Kinkyu reads predates this; older is a broken or hostile clock.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_T = EARLIEST.timestamp()
# How far ahead of the judging clock an event's time may be (source clocks drift; a few minutes is
# generous for NTP-synchronised hosts). KINKYU_MAX_CLOCK_SKEW overrides it.
DEFAULT_MAX_SKEW = 300.0
# The judging clock of a caller that judges no time "in the future" (unit tests, offline tools given
# old or simulated logs): every other bound still holds.
NO_CLOCK = math.inf
# Personal records one event (or filing) may say it touched: more than every resident of Japan
# several times over, and far inside the 64-bit range sums are written in.
MAX_RECORDS = 1_000_000_000
# People one filing may state; the same reasoning.
MAX_PEOPLE = 1_000_000_000
# Subject ids one event may carry: an export of a whole city's residents fits.
MAX_SUBJECT_IDS = 1_000_000
# Items of a list field (fields, data_items, datasets) one event may carry.
MAX_LIST_ITEMS = 256
# Characters of an identifier (event, contract, account, organisation, role, system, host, site, address,
# dataset, field, subject, session, incident): no system issues longer ones, and each is kept in
# incidents and checkpoints, so a megabyte "account id" would grow them past what a broker takes.
MAX_ID_LENGTH = 256
# Characters of a destination (an e-mail address, a host or a URL).
MAX_ADDRESS_LENGTH = 2048
# How far past a follow-up's own time a deadline it sets may lie (a city instruction's data.due or
# data.within): instructions run days to months, so a year is generous; a later one is a typo or an
# attack, a task that would never fall due and so never be chased.
MAX_DUE_AHEAD = 366 * 86_400.0


def check_count(field: str, value: int | None, maximum: int) -> None:
    """Refuse a count outside ``0..maximum`` (``out-of-range``); None passes (the field is absent)."""
    if value is not None and not 0 <= value <= maximum:
        raise MalformedEventError("out-of-range", f"{field} must be between 0 and {maximum:,}")


def check_number(field: str, value: float, maximum: int) -> None:
    """Refuse a number outside ``0..maximum`` (``out-of-range``), NaN and infinities included; booleans pass."""
    # A comparison with NaN is false and an infinity is past any maximum: no isfinite (which cannot take a huge int).
    if not (isinstance(value, bool) or 0 <= value <= maximum):
        raise MalformedEventError("out-of-range", f"{field} must be a number between 0 and {maximum:,}")


def check_length(field: str, size: int | None, maximum: int) -> None:
    """Refuse a list longer than ``maximum`` (``out-of-range``)."""
    if size is not None and size > maximum:
        raise MalformedEventError("out-of-range", f"{field} may hold at most {maximum:,} items")


def check_time(field: str, value: datetime | None, *, now: float, max_skew: float = DEFAULT_MAX_SKEW) -> None:
    """Refuse a time before :data:`EARLIEST` (``out-of-range``) or ahead of ``now`` by more than ``max_skew``.

    ``now`` is a POSIX timestamp of the judging clock; None passes (the field is absent).
    """
    if value is None:
        return
    t = value.timestamp()
    if t < EARLIEST_T:
        raise MalformedEventError("out-of-range", f"{field} is before {EARLIEST.date().isoformat()}")
    if t > now + max_skew:
        raise MalformedEventError(
            "future-timestamp",
            f"{field} is more than {max_skew:g} s ahead of the clock judging it (the worker's, or replay's); "
            "check the source's clock (KINKYU_MAX_CLOCK_SKEW sets the tolerance)",
        )


def check_due(field: str, value: datetime, *, since: datetime) -> None:
    """Refuse a deadline before :data:`EARLIEST` or more than :data:`MAX_DUE_AHEAD` after ``since`` (``out-of-range``).

    ``since`` is the time of the event that sets it (itself already judged by :func:`check_time`).
    """
    t = value.timestamp()
    if not EARLIEST_T <= t <= since.timestamp() + MAX_DUE_AHEAD:
        raise MalformedEventError(
            "out-of-range",
            f"{field} must be after {EARLIEST.date().isoformat()} and at most {MAX_DUE_AHEAD / 86_400:g} days "
            "after the event's ts",
        )


def check_span(field: str, seconds: float) -> None:
    """Refuse a duration outside ``0..MAX_DUE_AHEAD`` seconds, NaN included (``out-of-range``)."""
    if not 0 <= seconds <= MAX_DUE_AHEAD:
        raise MalformedEventError("out-of-range", f"{field} must be at most {MAX_DUE_AHEAD / 86_400:g} days")


def plausible_time(t: float, *, now: float, max_skew: float = DEFAULT_MAX_SKEW) -> bool:
    """Whether POSIX time ``t`` is inside the window :func:`check_time` accepts (for the hot path)."""
    return EARLIEST_T <= t <= now + max_skew
