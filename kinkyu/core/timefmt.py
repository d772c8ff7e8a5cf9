"""Times as Kinkyu writes and reads them: one home for the helpers every layer used to copy.

- :func:`iso` / :func:`parse_dt`: a time in persisted state and records (RFC 3339 with its
  offset, None for none), and back; :func:`jst_iso`: a time as a person's filing carries it
  (RFC 3339 in Japan time, to the second);
- :func:`jst_text` / :func:`jst_date`: a time shown in Japan time (from :mod:`kinkyu.core.timespan`,
  which knows where Japan time does not exist);
- :func:`doc_datetime` / :func:`doc_date`: a time or day in a document people read (reports, mail, the
  console): 和暦 in Japanese (``令和8年12月2日（水）14時30分``), ``Wed 2 Dec 2026 14:30 JST`` in English.
  Machine output (JSON, headers, records) keeps :func:`iso`. There is no other date style;
- :func:`utcnow`: the wall clock, for the edges. The core itself never reads it: it is handed ``now``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal, overload

from kinkyu.core.model import JST
from kinkyu.core.timespan import jst_date, jst_text
from kinkyu.core.wareki import wareki_year

__all__ = ["doc_date", "doc_datetime", "doc_time", "iso", "jst_date", "jst_iso", "jst_text", "parse_dt", "utcnow"]

DocLang = Literal["ja", "en"]
_WEEKDAYS_JA = "月火水木金土日"


def iso(ts: datetime | None) -> str | None:
    """``ts`` as ISO 8601 text in its own offset (what :func:`parse_dt` reads back); None stays None."""
    return ts.isoformat() if ts is not None else None


def jst_iso(ts: datetime) -> str:
    """``ts`` as RFC 3339 text in Japan time to the second, as the console's filings write times."""
    return ts.astimezone(JST).isoformat(timespec="seconds")


def parse_dt(value: Any) -> datetime | None:
    """A time written by :func:`iso`; None for None, an empty string or anything that is not text."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def _local(ts: datetime) -> tuple[datetime, bool]:
    # At the ends of datetime's range Japan time may not exist: the time in its own offset still says when.
    try:
        return ts.astimezone(JST), True
    except OverflowError:
        return ts, False


def doc_date(day: date | datetime, lang: DocLang = "ja", *, weekday: bool = True) -> str:
    """A calendar day in a document: ``令和8年12月2日（水）`` / ``Wed 2 Dec 2026`` (a datetime: its Japan date).

    The era and its 元年 come from :mod:`kinkyu.core.wareki`; ``weekday=False`` leaves the day of the week out.
    """
    if isinstance(day, datetime):
        day = jst_date(day)
    if lang == "en":
        return f"{day:%a} {day.day} {day:%b %Y}" if weekday else f"{day.day} {day:%b %Y}"
    text = f"{wareki_year(day)}{day.month}月{day.day}日"
    return f"{text}（{_WEEKDAYS_JA[day.weekday()]}）" if weekday else text


def doc_time(ts: datetime, lang: DocLang = "ja") -> str:
    """A time of day in Japan time: ``14時30分`` / ``14:30 JST``."""
    local, japan = _local(ts)
    if lang == "en":
        return f"{local:%H:%M} " + ("JST" if japan else f"UTC{local:%z}")
    return f"{local.hour}時{local.minute:02d}分" + ("" if japan else f"（UTC{local:%z}）")


@overload
def doc_datetime(ts: datetime, lang: DocLang = ..., *, weekday: bool = ...) -> str: ...
@overload
def doc_datetime(ts: None, lang: DocLang = ..., *, weekday: bool = ...) -> None: ...
@overload
def doc_datetime(ts: datetime | None, lang: DocLang = ..., *, weekday: bool = ...) -> str | None: ...
def doc_datetime(ts: datetime | None, lang: DocLang = "ja", *, weekday: bool = True) -> str | None:
    """A moment in a document: ``令和8年12月2日（水）14時30分`` / ``Wed 2 Dec 2026 14:30 JST``; None stays None."""
    if ts is None:
        return None
    local, _ = _local(ts)
    return f"{doc_date(local.date(), lang, weekday=weekday)}{' ' if lang == 'en' else ''}{doc_time(ts, lang)}"
