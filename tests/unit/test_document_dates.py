"""One date style in what people read: 和暦 in every Japanese document, through kinkyu.core.timefmt.

A Japanese report (Markdown and the PDF's HTML), e-mail and acknowledgement page write no Gregorian
date (``2026年12月2日``, ``2026-12-02``, ``2026/12/02``) where a reader sees it. Machine parts are
left out: JSON, an element's attributes (``<time datetime="…">``), code spans (a command line, a file
name). The console's pages are checked in test_console_app.py with the same detector.
"""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from helpers import message_record

from kinkyu.core.model import JST
from kinkyu.notifiers.model import IncidentFacts, NotificationIn
from kinkyu.notifiers.render import MESSAGE_KINDS, build_email
from kinkyu.reports.model import build_report
from kinkyu.reports.render import render_html, render_markdown
from kinkyu.reports.sample import Sample, Scenario, build_sample
from kinkyu.web.ack_pages import recorded_page

JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")
# A year in the Western calendar written as a date: 2026年…, 2026-12-02, 2026/12/2.
GREGORIAN = re.compile(r"(?<![\d令和平成昭和])(?:1[89]|2\d)\d{2}(?:年|-[01]\d-[0-3]\d|/[01]?\d/[0-3]?\d)")


def gregorian_dates(text: str) -> list[str]:
    """The Gregorian dates a reader of ``text`` (Markdown or plain text) sees: code spans left out."""
    return GREGORIAN.findall(re.sub(r"`[^`]*`", "", text))


class _Seen(HTMLParser):
    """The text a reader sees in an HTML document: no tags, attributes, styles, scripts or code."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002  # the tag is enough
        self._hidden += tag in {"style", "script", "code"}

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in {"style", "script", "code"}

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def seen_in_html(html: str) -> str:
    """What a reader sees of ``html``."""
    page = _Seen()
    page.feed(html)
    return "\n".join(page.parts)


def test_the_detector_finds_gregorian_dates_but_not_wareki_ids_or_machine_parts() -> None:
    assert gregorian_dates("公表済み（2026年12月2日）") == ["2026年"]
    assert gregorian_dates("期限 2026-12-02 11:00 JST") == ["2026-12-02"]
    assert gregorian_dates("2026/12/2") == ["2026/12/2"]
    assert gregorian_dates("令和8年12月2日（水）14時30分 INC-20261120-0001 `--as-of 2026-11-20T10:00+09:00`") == []
    assert gregorian_dates(seen_in_html('<time datetime="2026-12-02T11:00:00+09:00">令和8年12月2日</time>')) == []


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("origin", ["filed", "detection"])
@pytest.mark.parametrize(("stage", "kind"), [("opened", "first"), ("progress", "progress"), ("closed", "final")])
def test_a_japanese_report_dates_in_wareki_only(jurisdiction: str, origin: str, stage: str, kind: str) -> None:
    s = build_sample(Scenario(jurisdiction, origin=origin, stage=stage, location="第2作業室"))

    model = build_report(s.stored(), kind=kind, lang="ja", now=s.now)  # type: ignore[arg-type]

    assert gregorian_dates(render_markdown(model)) == []
    assert gregorian_dates(seen_in_html(render_html(model))) == []


def _notification(s: Sample, kind: str) -> dict[str, Any]:
    # Every date a mail may carry: a due time, the PPC dates, and Rule 8 items with their done days.
    return message_record(
        s,
        kind,
        due=datetime(2026, 12, 2, 14, 30, tzinfo=JST).isoformat(),
        rule8=True,
        rule8_facts=s.run.rule8_facts().to_json(),
    )


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_a_japanese_email_dates_in_wareki_only(jurisdiction: str, kind: str) -> None:
    # A closed incident: published and its recurrence prevention done, so Rule 8 items 7 and 8 carry days.
    s = build_sample(Scenario(jurisdiction, stage="closed", location="第2作業室"))
    record = _notification(s, kind)

    mails = [
        build_email(
            NotificationIn.parse(record),
            contract=s.profile,
            recipient=s.profile.city.contacts[0],
            lang="ja",
            ack_url="https://console.example.jp/ack/TOKEN",
            incident_url=f"https://console.example.jp/incidents/{s.incident.incident_id}",
            now=s.now,
            key="0" * 32,
            facts=IncidentFacts.from_record(s.incident.to_json()),
            html=html,
            purpose="unanswered" if kind == "unanswered" else "notify",
            not_answered_by=("city:0", "city:9"),
        )
        for html in (False, True)
    ]

    for mail in mails:
        assert gregorian_dates(f"{mail.subject}\n{mail.text}") == []
        assert gregorian_dates(seen_in_html(mail.html or "")) == []


def test_the_rule8_items_date_publication_and_prevention_in_wareki() -> None:
    s = build_sample(Scenario("koganei", stage="closed"))
    facts = s.run.rule8_facts()
    assert facts.publication_done is not None  # the sample publishes: its day is written

    items = {i.key.value: i for i in facts.items()}

    assert "令和" in (items["publication"].ja or "")
    assert gregorian_dates(items["publication"].ja or "") == []
    assert gregorian_dates(items["prevention"].ja or "") == []


def test_the_acknowledgement_page_dates_the_receipt_in_wareki_in_japanese() -> None:
    page = recorded_page("INC-20261120-0001", datetime(2026, 12, 2, 14, 30, tzinfo=JST))
    assert page.text is not None
    japanese = seen_in_html(page.text.split("<hr>")[0])

    assert "令和8年12月2日（水）14時30分" in japanese
    assert gregorian_dates(japanese) == []
