"""和暦 (the Japanese era calendar), as Japanese official documents date things.

A city dates its correspondence in its era (令和8年12月2日), so the documents
Kinkyu writes for a city do too. The era is computed from :data:`ERAS`, the
day each era began, never written into a template: a new era is one row here.

An era's first year is written 元年 (令和元年5月1日), as official documents do.
Before 明治 there is no era in this table: such a date is written in the
Western calendar (西暦), which no incident reaches in practice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["ERAS", "Era", "era_of", "wareki_year"]


@dataclass(frozen=True, slots=True)
class Era:
    """An era (元号) and the first day it names (by the Gregorian calendar)."""

    name: str
    starts: date


ERAS: tuple[Era, ...] = (
    # 明治 was applied back to the first day of 慶応4年 (1868-01-25 in the Gregorian calendar).
    Era("明治", date(1868, 1, 25)),
    Era("大正", date(1912, 7, 30)),
    Era("昭和", date(1926, 12, 25)),
    Era("平成", date(1989, 1, 8)),
    Era("令和", date(2019, 5, 1)),
)
"""The eras since 明治, oldest first; each lasts until the next one's first day."""


def era_of(day: date) -> Era | None:
    """The era ``day`` falls in; None before 明治."""
    found = None
    for era in ERAS:
        if day >= era.starts:
            found = era
    return found


def wareki_year(day: date) -> str:
    """``day``'s year as a document writes it: ``令和8年``, ``令和元年``; ``1867年`` before 明治."""
    era = era_of(day)
    if era is None:
        return f"{day.year}年"
    n = day.year - era.starts.year + 1
    return f"{era.name}{'元' if n == 1 else n}年"
