"""Japanese working time: public holidays and a contract's ``work_hours``, in Japan time.

Holidays come from the maintained ``holidays`` package (``holidays.Japan``),
which follows the 国民の祝日に関する法律 including 振替休日 and 国民の休日.
Only public holidays count: the year-end closure of city offices (12/29–1/3)
is not a public holiday and is not treated as one.

Everything here is cached per date: the off-hours rule asks once per JST day
per contract, not once per event.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from holidays.countries.japan import Japan

from kinkyu.core.contract import WEEKDAYS, WorkHours
from kinkyu.core.model import JST

JST_OFFSET = 9 * 3600  # seconds east of UTC; Japan has no daylight saving time
_EPOCH_DAY = date(1970, 1, 1)
_JP_HOLIDAYS = Japan(language="ja")


def jst_day_number(t: float) -> int:
    """Days since 1970-01-01 of the JST calendar date at POSIX time ``t``."""
    return int((t + JST_OFFSET) // 86400)


def day_from_number(day_number: int) -> date:
    """The JST calendar date of a :func:`jst_day_number`."""
    return _EPOCH_DAY + timedelta(days=day_number)


@lru_cache(maxsize=4096)
def jp_holiday_name(day: date) -> str | None:
    """The Japanese name of the public holiday on ``day`` (e.g. 勤労感謝の日), or None."""
    name = _JP_HOLIDAYS.get(day)
    return str(name) if name is not None else None


def is_jp_holiday(day: date) -> bool:
    """Whether ``day`` is a Japanese public holiday (振替休日 and 国民の休日 included)."""
    return jp_holiday_name(day) is not None


def is_working_day(work_hours: WorkHours, day: date) -> bool:
    """Whether ``work_hours`` allows work on ``day`` at all (its weekday, and holidays when ``holidays: jp``)."""
    if WEEKDAYS[day.weekday()] not in work_hours.days:
        return False
    return not (work_hours.holidays == "jp" and is_jp_holiday(day))


def work_window(work_hours: WorkHours, day: date) -> tuple[float, float] | None:
    """``[start, end)`` of work on ``day`` as POSIX seconds, or None when ``day`` is not a working day."""
    if not is_working_day(work_hours, day):
        return None
    start = datetime.combine(day, work_hours.start, JST).timestamp()
    end = datetime.combine(day, work_hours.end, JST).timestamp()
    return start, end


def is_working_time(work_hours: WorkHours, when: datetime) -> bool:
    """Whether ``when`` (any offset; judged in Japan time) falls inside ``work_hours``."""
    return off_hours_reason(work_hours, when) is None


def off_hours_reason(work_hours: WorkHours, when: datetime) -> str | None:
    """Why ``when`` is outside ``work_hours`` (``holiday``, ``day-off``, ``before-start``, ``after-end``), or None."""
    local = when.astimezone(JST)
    day = local.date()
    if work_hours.holidays == "jp" and is_jp_holiday(day) and WEEKDAYS[day.weekday()] in work_hours.days:
        return "holiday"
    if WEEKDAYS[day.weekday()] not in work_hours.days:
        return "day-off"
    clock = local.time().replace(tzinfo=None)
    if clock < work_hours.start:
        return "before-start"
    if clock >= work_hours.end:
        return "after-end"
    return None


def clock_text(value: time) -> str:
    """``08:30`` style text for a clock time."""
    return value.strftime("%H:%M")
