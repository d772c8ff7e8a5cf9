# the project carries no copyright header
"""Deadline arithmetic for breach reports (shared/spec/legal.md, "Deadlines").

The counting rules, as legal.md states them from APPI Rule 8 and the PPC
general guideline 3-5:

- **Day 1 is the day the organisation learned of the breach** (初日算入).
  This departs from the Civil Code's default (Art. 140, 初日不算入) on
  purpose: the guideline counts the day of learning as the first day, so a
  "30-day" period learned on 1 April ends on 30 April, not 1 May.
- Weekends and holidays inside the period count like any other day.
- Only the *last* day moves: when it falls on a Saturday, Sunday, Japanese
  public holiday (incl. 振替休日 and 国民の休日) or in the year-end closure
  (29 Dec - 3 Jan), the deadline is the next day that is none of these.

Public holidays come from :mod:`holidays` (``holidays.Japan``), never from a
hand-written list, so a new or moved holiday arrives with a package update.
That package knows the years :data:`~kinkyu.core.timespan.HOLIDAY_YEARS`
(1949-2099) only: a day outside them, or a period that would leave datetime's
range, raises :class:`~kinkyu.core.timespan.CalendarRangeError` (a code, never
the date) instead of a deadline that silently skips no holiday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from kinkyu.core.model import JST
from kinkyu.core.timespan import CalendarRangeError, require_holidays

# 速報 (preliminary report): the guideline reads 速やかに as "about 3-5 days".
# That is guidance, not a statutory period; the product reminds on day 3 and
# treats day 5 as the due date, both counted and moved like the 確報.
PRELIMINARY_REMINDER_DAY = 3
PRELIMINARY_DUE_DAY = 5
# 確報 (full report): Rule 8(2) - 30 days, or 60 days when the improper-purpose
# trigger applies (even alongside other triggers).
FINAL_DAYS = 30
FINAL_DAYS_IMPROPER_PURPOSE = 60
# The city is reminded of its 確報 a week before it is due: long enough to
# gather what the 速報 left 調査中 (追完), short enough not to be forgotten. A
# reminder that would fall on a non-working day comes on the working day before.
FINAL_REMINDER_DAYS_BEFORE = 7
# Reminders go out at 09:00 Japan time on their day: the start of office hours.
REMINDER_HOUR = 9

# The contractor's first report to the city is due 直ちに (immediately) under
# most of the seed clauses (okayama 第15条, koganei 第19条, toyota 第13条,
# shinagawa 第17). 直ちに is the strongest urgency word: any delay is a breach
# (legal.md "Urgency words"), so the product needs a concrete clock to chase.
# One hour is long enough to confirm a detection is not a false alarm and to
# reach a responsible person, short enough that nobody reads it as "today".
# Readings differ (and some cities write 速やかに), so it is configurable.
DEFAULT_CONTRACTOR_WITHIN = timedelta(hours=1)

_SATURDAY = 5


@lru_cache(maxsize=64)
def _jp_holidays(year: int) -> frozenset[date]:
    # One immutable set per year: cheap membership tests, safe to share
    # between threads (a holidays object fills itself in lazily).
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def _is_year_end_closure(d: date) -> bool:
    # 年末年始: 29 Dec - 3 Jan, the closure of public offices
    # (行政機関の休日に関する法律 Art. 1) that the guideline also skips.
    return (d.month == 12 and d.day >= 29) or (d.month == 1 and d.day <= 3)  # noqa: PLR2004


def is_jp_non_working_day(d: date) -> bool:
    """Tell whether ``d`` is a Saturday, Sunday, JP public holiday or in 29 Dec - 3 Jan.

    Public holidays are those of ``holidays`` for Japan (``JP``), which includes substitute
    holidays (振替休日) and citizens' holidays (国民の休日). CalendarRangeError
    (``no-holiday-calendar``) for a year outside :data:`~kinkyu.core.timespan.HOLIDAY_YEARS`.
    """
    if isinstance(d, datetime):
        # A datetime's date depends on its zone; make the caller say which.
        raise TypeError("pass a date (e.g. learned_date(ts)), not a datetime")
    require_holidays(d, "public holidays")
    return d.weekday() >= _SATURDAY or _is_year_end_closure(d) or d in _jp_holidays(d.year)


def next_working_day(d: date) -> date:
    """Return ``d`` when it is a working day, else the first working day after it."""
    while is_jp_non_working_day(d):
        d = _day_after(d, 1)
    return d


def previous_working_day(d: date) -> date:
    """Return ``d`` when it is a working day, else the last working day before it."""
    while is_jp_non_working_day(d):
        d = _day_after(d, -1)
    return d


def _day_after(d: date, days: int) -> date:
    try:
        return d + timedelta(days=days)
    except OverflowError as exc:
        raise CalendarRangeError("out-of-range", "a day count") from exc


def legal_deadline(learned: date, days: int) -> date:
    """Return the last day of a period of ``days`` days that starts on ``learned``.

    Day 1 is ``learned`` itself (初日算入, as APPI Rule 8 is read by the PPC
    general guideline 3-5), so the nominal last day is ``learned + days - 1``;
    weekends inside the period count. When that last day is not a working day
    (:func:`is_jp_non_working_day`) the deadline moves to the next working day.
    CalendarRangeError when a day of the count has no holiday calendar or no date.
    """
    if days < 1:
        raise ValueError(f"a period has at least one day, got {days}")
    # Checked before counting: 9999-12-31 plus 30 days is not a date at all.
    require_holidays(learned, "the day learned")
    return next_working_day(_day_after(learned, days - 1))


def learned_date(ts: datetime) -> date:
    """Return the Japan calendar date of the moment the organisation learned of a breach."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("learned_date needs an aware datetime (Japan dates depend on the zone)")
    try:
        return ts.astimezone(JST).date()
    except OverflowError as exc:
        raise CalendarRangeError("out-of-range", "the Japan date learned") from exc


@dataclass(frozen=True, slots=True)
class PPCDeadlines:
    """The dates of the reports to the PPC (APPI Art. 26 / Art. 68, Rule 8).

    ``preliminary_reminder`` (day 3) and ``preliminary_due`` (day 5) bound the
    速報 window the guideline describes as "about 3-5 days"; ``final_due`` is
    the 確報 deadline (day 30, or day 60 with an improper purpose). All are
    counted from ``learned`` as day 1 and moved past non-working days.
    """

    learned: date
    improper_purpose: bool
    preliminary_reminder: date
    preliminary_due: date
    final_due: date

    @property
    def final_days(self) -> int:
        """Length of the 確報 period: 60 with an improper purpose, else 30."""
        return FINAL_DAYS_IMPROPER_PURPOSE if self.improper_purpose else FINAL_DAYS


def ppc_deadlines(learned: date, *, improper_purpose: bool) -> PPCDeadlines:
    """Compute the 速報 window and 確報 deadline for a breach learned of on ``learned``.

    The 速報 is due 速やかに (Rule 8(1)); the PPC guideline's "3-5 days" is
    guidance, so the product uses day 5 as the due date and day 3 as the
    reminder. The 確報 is due in 30 days, or 60 days when the breach was (or
    may have been) caused by an act with an improper purpose (Rule 8(2)),
    whatever other triggers also apply.
    """
    final_days = FINAL_DAYS_IMPROPER_PURPOSE if improper_purpose else FINAL_DAYS
    return PPCDeadlines(
        learned=learned,
        improper_purpose=improper_purpose,
        preliminary_reminder=legal_deadline(learned, PRELIMINARY_REMINDER_DAY),
        preliminary_due=legal_deadline(learned, PRELIMINARY_DUE_DAY),
        final_due=legal_deadline(learned, final_days),
    )


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder to the city before one of its PPC reports is due.

    ``report`` is ``preliminary`` (速報) or ``final`` (確報); ``at`` is when it
    goes out (09:00 JST on ``day``); ``due`` the report's due date.
    """

    report: str
    day: date
    due: date

    @property
    def at(self) -> datetime:
        """The moment the reminder is due: :data:`REMINDER_HOUR` o'clock Japan time on ``day``."""
        return datetime(self.day.year, self.day.month, self.day.day, REMINDER_HOUR, tzinfo=JST)


def ppc_reminders(deadlines: PPCDeadlines) -> tuple[Reminder, Reminder]:
    """The two reminders to the city: the 速報 on day 3 (due day 5), the 確報 a week before it is due.

    The 速報 reminder is the guideline's "3-5 days" lower bound
    (:data:`PRELIMINARY_REMINDER_DAY`, moved past non-working days like the due
    date); the 確報 reminder comes :data:`FINAL_REMINDER_DAYS_BEFORE` days before
    its due date, on the working day before when that day is not one.
    """
    final_day = previous_working_day(deadlines.final_due - timedelta(days=FINAL_REMINDER_DAYS_BEFORE))
    return (
        Reminder("preliminary", deadlines.preliminary_reminder, deadlines.preliminary_due),
        Reminder("final", max(final_day, deadlines.learned), deadlines.final_due),
    )


class ContractorState(StrEnum):
    """Where the contractor stands with its first report to the city."""

    PENDING = "pending"  # not reported yet, still inside the 直ちに window
    OVERDUE = "overdue"  # not reported and the window has passed
    RELEASED = "released"  # reported the Rule 8 items it knows to the city


@dataclass(frozen=True, slots=True)
class ContractorStatus:
    """The contractor's clock: its report to the city, due 直ちに.

    A contractor that is a private business has its own APPI Art. 26 duty; it
    is released from reporting to the PPC and from notifying individuals once
    it tells the city the Rule 8 items it knows (PPC Q&A on 委託, legal.md).
    """

    discovered_at: datetime
    due_at: datetime
    reported_at: datetime | None
    state: ContractorState

    @property
    def released(self) -> bool:
        """True once the contractor has reported to the city."""
        return self.state is ContractorState.RELEASED

    @property
    def reported_late(self) -> bool:
        """True when the report reached the city after ``due_at``."""
        return self.reported_at is not None and self.reported_at > self.due_at

    @property
    def city_learned(self) -> date | None:
        """Day 1 of the city's own deadlines: the Japan date its staff were told.

        legal.md: the city's deadlines start when any one of its staff knows,
        that is, when the contractor's first report reaches the city.
        """
        return learned_date(self.reported_at) if self.reported_at is not None else None


def _require_aware(name: str, ts: datetime) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def contractor_status(
    discovered_at: datetime,
    *,
    now: datetime,
    reported_at: datetime | None = None,
    within: timedelta = DEFAULT_CONTRACTOR_WITHIN,
) -> ContractorStatus:
    """Compute the contractor's status on its report to the city at ``now``.

    The report is due 直ちに; the product represents that as ``discovered_at +
    within`` (default :data:`DEFAULT_CONTRACTOR_WITHIN`, one hour, configurable
    per contract because readings of the urgency words differ). Once
    ``reported_at`` is set the contractor is released (APPI Art. 26(1) proviso
    as read by the PPC Q&A on 委託), late or not.
    """
    _require_aware("discovered_at", discovered_at)
    _require_aware("now", now)
    if reported_at is not None:
        _require_aware("reported_at", reported_at)
    if within < timedelta(0):
        raise ValueError("within must not be negative")
    try:
        due_at = discovered_at + within
    except OverflowError as exc:
        raise CalendarRangeError("out-of-range", "the contractor's due time") from exc
    if reported_at is not None:
        state = ContractorState.RELEASED
    elif now > due_at:
        state = ContractorState.OVERDUE
    else:
        state = ContractorState.PENDING
    return ContractorStatus(discovered_at=discovered_at, due_at=due_at, reported_at=reported_at, state=state)
