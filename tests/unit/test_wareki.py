"""和暦 and the one document date style (kinkyu.core.wareki, kinkyu.core.timefmt)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kinkyu.core.model import JST
from kinkyu.core.timefmt import doc_date, doc_datetime, doc_time, iso
from kinkyu.core.wareki import ERAS, era_of, wareki_year


def test_the_last_day_of_heisei_is_heisei_31() -> None:
    assert doc_date(date(2019, 4, 30)) == "平成31年4月30日（火）"


def test_the_first_day_of_reiwa_is_reiwa_gannen() -> None:
    assert doc_date(date(2019, 5, 1)) == "令和元年5月1日（水）"


def test_the_second_year_of_reiwa_is_numbered() -> None:
    assert wareki_year(date(2020, 1, 1)) == "令和2年"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(1868, 1, 25), "明治元年"),
        (date(1912, 7, 29), "明治45年"),
        (date(1912, 7, 30), "大正元年"),
        (date(1926, 12, 24), "大正15年"),
        (date(1926, 12, 25), "昭和元年"),
        (date(1989, 1, 7), "昭和64年"),
        (date(1989, 1, 8), "平成元年"),
    ],
)
def test_every_era_begins_on_its_first_day(day: date, expected: str) -> None:
    assert wareki_year(day) == expected


def test_a_day_before_meiji_is_written_in_the_western_calendar() -> None:
    assert era_of(date(1868, 1, 24)) is None
    assert wareki_year(date(1868, 1, 24)) == "1868年"


def test_the_era_table_is_in_order() -> None:
    assert [e.starts for e in ERAS] == sorted(e.starts for e in ERAS)


def test_a_document_moment_is_wareki_with_weekday_and_japan_time() -> None:
    assert doc_datetime(datetime(2026, 12, 2, 5, 30, tzinfo=UTC)) == "令和8年12月2日（水）14時30分"


def test_minutes_are_two_digits_and_hours_are_not_padded() -> None:
    assert doc_time(datetime(2026, 12, 2, 9, 5, tzinfo=JST)) == "9時05分"


def test_a_japan_date_is_taken_from_an_aware_time() -> None:
    # 2026-12-01 20:00 UTC is already 2 December in Japan.
    assert doc_date(datetime(2026, 12, 1, 20, 0, tzinfo=UTC), weekday=False) == "令和8年12月2日"


def test_english_documents_write_the_western_date_and_jst() -> None:
    assert doc_datetime(datetime(2026, 12, 2, 14, 30, tzinfo=JST), "en") == "Wed 2 Dec 2026 14:30 JST"


def test_machine_output_is_iso_8601_with_its_offset() -> None:
    assert iso(datetime(2026, 12, 2, 14, 30, tzinfo=JST)) == "2026-12-02T14:30:00+09:00"


def test_a_time_where_japan_time_does_not_exist_keeps_its_own_offset() -> None:
    assert doc_datetime(datetime.max.replace(tzinfo=UTC)).endswith("23時59分（UTC+0000）")
