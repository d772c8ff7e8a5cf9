"""Written incident reports (事故報告書): the pure model, Markdown and HTML, the store, the SVG, the CLI."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import orjson
import pytest

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.legal import RULE8_ORDER, Rule8Item, Rule8Key
from kinkyu.core.model import JST
from kinkyu.core.playbook import apply
from kinkyu.reports import IncidentNotFoundError, RendererMissingError, ReportStoreError, cli, pdf
from kinkyu.reports.cli import add_report_parser, render_and_store
from kinkyu.reports.model import (
    REPORT_KINDS,
    SECTION_KEYS,
    ReportFacts,
    ReportModel,
    StoredIncident,
    account_roles,
    build_report,
    judge,
    merged_timeline,
)
from kinkyu.reports.render import FORMATS, css_string, md_escape, render, render_html, render_markdown
from kinkyu.reports.sample import T0, Sample, Scenario, build_sample, store_sample
from kinkyu.reports.store import IncidentStore
from kinkyu.reports.svg import phase_chart

JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")
LANGS = ("ja", "en")
SVG = "{http://www.w3.org/2000/svg}"

# Distinctive strings planted in every field a public report must not show.
P_SUMMARY = "PLANTEDSUMMARY 山田花子が住所を誤送付"
P_LOCATION = "PLANTEDLOCATION 府中プリントセンター"
P_DETAILS = "PLANTEDDETAILS 山田花子 090-1234-5678"
P_ACTOR = "acct-PLANTED-9"
P_SYSTEM = "sys-PLANTED-5"
P_REPORTER = "rep-PLANTED-7"
P_CITY = "cityc-PLANTED-3"
P_EVENT = "evt-PLANTED-1"
P_CAUSE = "PLANTEDCAUSE 作業手順の不備"
STAFF_NAMES = ("中村 真理", "渡辺 浩", "加藤 修")
PUBLIC_FORBIDDEN = (P_SUMMARY, P_LOCATION, P_DETAILS, P_ACTOR, P_SYSTEM, P_REPORTER, P_CITY, P_EVENT, P_CAUSE)

JA_HEADINGS = (
    "事故報告書",
    "契約及び当事者",
    "発生日時",
    "発覚日時",
    "発生場所",
    "漏えい等した個人情報の項目",
    "件数",
    "本人の数",
    "発生状況",
    "原因",
    "二次被害",
    "被害拡大防止",
    "本人への対応",
    "公表",
    "再発防止策",
    "契約条項",
    "期限",
    "タイムライン",
    "証拠",
)
EN_HEADINGS = (
    "Incident report",
    "Contract and parties",
    "Occurred",
    "Discovered",
    "Place",
    "Personal information involved",
    "Number of people",
    "What happened",
    "Cause",
    "Secondary harm",
    "Containment",
    "What has been done for the people affected",
    "Publication",
    "Recurrence prevention",
    "Contract clauses",
    "Timeline",
    "Evidence",
)


def scenario(jurisdiction: str, origin: str = "filed", **changes: object) -> Scenario:
    sc = Scenario(
        jurisdiction,
        origin=origin,
        incident_id=f"INC-20261120-{JURISDICTIONS.index(jurisdiction) + 1:04d}",
        summary=P_SUMMARY,
        location=P_LOCATION,
        details=P_DETAILS,
        actor=P_ACTOR,
        system=P_SYSTEM,
        reporter=P_REPORTER,
        city_contact=P_CITY,
        event_ids=(P_EVENT,),
        facts=ReportFacts(cause=P_CAUSE),
    )
    return dataclasses.replace(sc, **changes)  # type: ignore[arg-type]  # test keywords are Scenario's fields


@cache
def sample(jurisdiction: str, origin: str = "filed", stage: str = "closed") -> Sample:
    return build_sample(scenario(jurisdiction, origin, stage=stage))


def report(s: Sample, kind: str = "final", lang: str = "ja", now: datetime | None = None) -> ReportModel:
    return build_report(s.stored(), kind=kind, lang=lang, now=now or s.now)  # type: ignore[arg-type]


def rendered(model: ReportModel) -> Iterator[tuple[str, str]]:
    yield "md", render_markdown(model)
    yield "html", render_html(model)


# -- every jurisdiction, kind and language ------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", REPORT_KINDS)
@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_kind_and_language_renders_the_required_items(jurisdiction: str, kind: str, lang: str) -> None:
    for origin in ("filed", "detection"):
        s = sample(jurisdiction, origin)
        model = report(s, kind, lang)
        assert [sec.key for sec in model.sections] == list(SECTION_KEYS)
        # The items under 記 are numbered 1-11; the timeline and the evidence manifest are 別紙1 and 別紙2.
        assert [sec.number for sec in model.sections if not sec.attachment] == list(range(1, 12))
        assert [(sec.key, sec.number) for sec in model.sections if sec.attachment] == [("timeline", 1), ("evidence", 2)]
        for fmt, text in rendered(model):
            headings: tuple[str, ...] = JA_HEADINGS if lang == "ja" else EN_HEADINGS
            if kind == "public" and lang == "ja":  # titled by the matter: 「…の事故について（公表用）」
                headings = headings[1:]
            missing = [h for h in headings if h not in text]
            assert not missing, (fmt, missing)
            # The nine Rule 8(1) items, each under its own name, in order.
            labels = [Rule8Item(k, None, None).label(lang) for k in RULE8_ORDER]  # type: ignore[arg-type]
            at = text.find(md_escape(model.section("ppc").title) if fmt == "md" else model.section("ppc").title)
            for label in labels:
                at = text.find(md_escape(label) if fmt == "md" else label, at + 1)
                assert at >= 0, (fmt, label)
            assert model.sha256() in text
            assert "調査中" in text  # the cause is never on a record: 調査中 in either language


def test_sections_follow_the_citys_order_and_say_final_or_provisional() -> None:
    s = sample("koganei")
    first, progress, final = (report(s, k) for k in ("first", "progress", "final"))
    # The final report is final but where an item is still 調査中: that section stays provisional.
    still_open = {x.key for x in final.sections if any(r.state == "unknown" for r in x.rows)}
    assert {x.key for x in final.sections if x.status == "provisional"} == still_open
    assert "contract" not in still_open
    assert [x.key for x in first.sections if x.status == "final"] == ["contract"]
    assert [x.key for x in progress.sections if x.status == "final"] == ["contract", "when_where"]
    assert "第一報" in first.title
    assert "経過報告" in progress.title
    assert "最終報告" in final.title
    assert "暫定" in first.notices[0]
    assert "確定" in final.notices[0]
    assert ("〔暫定〕と付した項目" in final.notices[0]) == bool(still_open)
    # The header lists which sections are final and which provisional.
    assert any("確定" in r.value and "暫定" in r.value for r in first.header)


def test_a_final_report_asked_for_before_closure_is_the_next_numbered_report() -> None:
    s = sample("toyota", "filed", "progress")
    assert not s.run.closed
    model = report(s, "final")
    assert "最終報告" not in model.title
    assert "（第2報）" in model.title
    assert model.kind_label == "第2報"
    assert "なお、本件は現在も対応中であり、終結した時点で最終報告をいたします。" in model.notices
    assert not any("状態" in n for n in model.notices)  # never an internal state name
    assert any("調査中であり" in n for n in model.notices)  # items still missing are named


# -- 調査中 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_unknown_items_read_chousachu_never_blank(lang: str) -> None:
    s = build_sample(
        scenario("okayama", stage="opened", summary=None, location=None, records=0, data_items=(), facts=ReportFacts())
    )
    model = report(s, "first", lang)
    word = "調査中" if lang == "ja" else "under investigation (調査中)"
    when = model.section("when_where")
    place = next(r for r in when.rows if r.label.startswith("発生場所" if lang == "ja" else "Place"))
    assert (place.value, place.state) == (word, "unknown")
    circumstances = model.section("circumstances")
    cause = next(r for r in circumstances.rows if r.label.startswith("原因" if lang == "ja" else "Cause"))
    assert (cause.value, cause.state) == (word, "unknown")
    data = model.section("data")
    records = next(r for r in data.rows if r.label.startswith("件数" if lang == "ja" else "Records"))
    assert records.state == "unknown"
    assert word in records.value
    (nine, _, _) = model.section("ppc").tables
    values = {row[1]: row[2] for row in nine.rows}
    labels = {k: Rule8Item(k, None, None).label(lang) for k in RULE8_ORDER}  # type: ignore[arg-type]
    for key in (Rule8Key.PEOPLE, Rule8Key.CAUSE, Rule8Key.SECONDARY_HARM, Rule8Key.RESPONSE):
        assert values[labels[key]] == word
    assert len(model.rule8_missing) >= 4
    for fmt, text in rendered(model):
        # No empty table cell anywhere.
        if fmt == "md":
            for line in text.splitlines():
                if line.startswith("|") and not line.startswith("|---"):
                    cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                    assert all(cells), line
        else:
            assert "<td></td>" not in text
            assert "<td> </td>" not in text


def test_people_supplied_items_fill_the_report_and_are_screened() -> None:
    facts = ReportFacts(
        cause="誤った宛名ラベルの貼付（担当者の確認漏れ）",
        cause_party="受託者",
        secondary_harm="なし（誤送付先から回収済み）",
        response="本人へ謝罪文を送付済み。問合せ先 info@example.jp",
        publication="公表予定なし",
        prevention="ダブルチェックの手順を導入",
        other="特になし",
        distinct_people=3,
    )
    s = build_sample(scenario("koganei", facts=facts))
    model = report(s, "final")
    (nine, _, _) = model.section("ppc").tables
    texts = [row[2] for row in nine.rows]
    assert "誤った宛名ラベル" in texts[3]
    assert "受託者" in texts[3]
    assert texts[2] == "3人"  # distinct people known: no upper bound wording
    assert "info@example.jp" not in render_markdown(model)  # scrubbed
    assert "公表済み" in texts[6]  # the run recorded the city's publication (Koganei 第19条第3項)
    assert "ダブルチェック" in texts[7]
    assert not model.rule8_missing


# -- public ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_public_version_has_no_personal_data_ids_or_free_text(jurisdiction: str) -> None:
    for origin in ("filed", "detection"):
        s = sample(jurisdiction, origin)
        for lang in LANGS:
            model = report(s, "public", lang)
            for fmt, text in [*rendered(model), ("json", render(model, "json").decode())]:
                leaked = [p for p in (*PUBLIC_FORBIDDEN, *STAFF_NAMES) if p in text]
                assert not leaked, (origin, lang, fmt, leaked)
                # Follow-up event ids (…-fu-00001) and finding ids never show either.
                assert "-fu-" not in text
                assert "F-INC" not in text
            assert any(r.state == "withheld" for sec in model.sections for r in sec.rows)


def test_the_planted_values_do_reach_the_non_public_report() -> None:
    # Proves the public test above is not vacuous: the same incident's reviewer report shows them.
    s = sample("koganei", "filed")
    text = render_markdown(report(s, "progress"))
    for planted in ("PLANTEDLOCATION", "PLANTEDCAUSE", "中村 真理"):
        assert planted in text, planted
    # Accounts are named by role in every kind: the city reads 「受託者の担当者」, not an account id.
    assert P_REPORTER not in text
    assert P_CITY not in text
    detected = render_markdown(report(sample("chiba", "detection"), "progress"))
    assert P_ACTOR in detected
    assert P_SYSTEM in detected


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_details_of_a_filing_never_appear_in_any_kind(kind: str, tmp_path: Path) -> None:
    s = sample("shinagawa", "filed")
    store = IncidentStore(tmp_path)
    # Even a record that (wrongly) carries the filing's details is read without them.
    record = {**s.incident_json, "details": P_DETAILS}
    path = store.write(record, s.run_json, s.profile)
    assert b"PLANTEDDETAILS" not in path.read_bytes()
    stored = store.read(s.incident.incident_id)
    for lang in LANGS:
        model = build_report(stored, kind=kind, lang=lang, now=s.now)  # type: ignore[arg-type]
        for _, text in [*rendered(model), ("json", render(model, "json").decode())]:
            assert "PLANTEDDETAILS" not in text
            assert "090-1234-5678" not in text


def test_free_text_is_escaped_in_html_and_markdown() -> None:
    s = build_sample(scenario("koganei", facts=ReportFacts(cause="<script>alert(1)</script> | a*b_c")))
    model = report(s, "progress")
    html = render_html(model)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    md = render_markdown(model)
    assert "<script>" not in md
    assert "\\| a\\*b\\_c" in md


# -- deadlines ---------------------------------------------------------------------------------------------


def test_judge() -> None:
    due = T0 + timedelta(hours=1)
    assert judge(due, due, T0) == "met"
    assert judge(due, due + timedelta(seconds=1), T0) == "missed"
    assert judge(due, None, due) == "missed"
    assert judge(due, None, due - timedelta(seconds=1)) == "pending"
    assert judge(None, T0, T0) == "done"
    assert judge(None, None, T0) == "open"
    assert judge(due, None, T0, skipped=True) == "skipped"


def _deadline(model: ReportModel, step_id: str) -> tuple[str, timedelta | None]:
    d = next(d for d in model.deadlines if d.key == step_id)
    return d.verdict, d.elapsed


@pytest.mark.parametrize("jurisdiction", ["okayama", "chiba", "yachiyo"])
def test_the_instruction_step_is_done_when_the_citys_instructions_were(jurisdiction: str) -> None:
    s = sample(jurisdiction)
    assert s.run.closed
    instruction = next(t for t in s.run.tasks if t.source == "city_instruction")
    row = next(d for d in report(s).deadlines if d.kind == "instructions")

    assert (row.verdict, row.done) == ("met", instruction.done_at)
    assert row.verdict_label == "○ 期限内（指示 1件に対応）"
    closure = next(d for d in report(s).deadlines if d.kind == "closure")
    assert closure.verdict == "done"  # 指示の完了を確認 agrees with the step above


def test_an_instruction_step_without_instructions_says_none_was_given() -> None:
    model = report(sample("chiba", stage="opened"), "first")
    rows = {d.kind: d.verdict_label for d in model.deadlines}
    assert rows["instructions"] == "－ 指示なし"
    assert rows["report_request"] == "－ 求めなし"
    assert "対象外・未実施" not in rows.values()


@pytest.mark.parametrize("after", [timedelta(minutes=20), timedelta(hours=2)])
def test_the_first_report_is_judged_on_its_sending_and_its_acknowledgement_shown_apart(after: timedelta) -> None:
    # Okayama 第15条 直ちに: the duty is to report, done when sent; the city's acknowledgement is shown as it came.
    s = build_sample(scenario("okayama", first_ack_after=after))
    model = report(s)
    assert _deadline(model, "first_report") == ("met", after)
    rows = {r.label: r.value for r in model.section("clauses").rows}
    assert rows["認知から第一報の送付まで"].endswith("○ 期限内")
    assert "直ちに。当社目標：認知から1時間以内" in rows["認知から第一報の送付まで"]
    assert rows["認知から第一報の受領確認まで"] == report_span(after)


def report_span(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}時間" if hours else "") + (f"{minutes}分" if minutes else "")


@pytest.mark.parametrize(
    ("after", "label"),
    [(timedelta(days=2), "○ 期限内"), (timedelta(days=4), "○ 期限内に送付（受領の記録は期限後）")],
)
def test_shinagawa_written_report_sent_at_once_is_in_time_whenever_the_ward_records_its_receipt(
    after: timedelta, label: str
) -> None:
    # Shinagawa 第17 遅滞なく 書面: sent with the first report; the ward's receipt after a holiday weekend is
    # the ward's record, not a late report.
    s = build_sample(scenario("shinagawa", written_ack_after=after))
    model = report(s)
    row = next(d for d in model.deadlines if d.key == "written_report")
    assert (row.verdict, row.verdict_label) == ("met", label)
    written = next(p for p in model.chart.phases if p.key == "written_report")
    assert written.verdict == "met"


def test_a_contractor_target_on_a_closed_day_says_so() -> None:
    # 遅滞なく = 3 days from Friday 20 November 2026: Monday 23 November, 勤労感謝の日.
    md = render_markdown(report(build_sample(scenario("shinagawa")), "final"))
    assert "当社目標 令和8年11月23日（月）10時00分（閉庁日）" in md


def test_the_overdue_record_is_stamped_at_the_deadline() -> None:
    s = build_sample(scenario("shinagawa", written_ack_after=timedelta(days=4)))
    missed = [e for e in s.run.timeline if e.kind == "deadline_missed"]
    assert missed
    assert all(e.ts == datetime.fromisoformat(e.data["due"]) for e in missed)


def test_an_unacknowledged_report_is_sent_awaiting_its_receipt() -> None:
    s = build_sample(scenario("koganei", stage="opened"))
    due = s.run.step("first_report").due  # type: ignore[union-attr]
    assert due is not None
    for now in (due - timedelta(minutes=1), due):
        model = report(s, "first", now=now)
        row = next(d for d in model.deadlines if d.key == "first_report")
        assert (row.verdict, row.verdict_label) == ("met", "○ 期限内に送付済み（受領確認待ち）")
        rows = {r.label: r.value for r in model.section("clauses").rows}
        assert rows["認知から第一報の受領確認まで"] == "受領確認待ち"


def test_both_clocks_and_the_ppc_assessment() -> None:
    s = build_sample(scenario("chiba", "detection", rules=("bulk-export",), records=1200))
    model = report(s, "final", now=s.now)
    rows = {r.label: r.value for r in model.section("ppc").rows}
    contractor = rows["受注者の報告義務（個人情報保護法第26条・施行規則第7条）"]
    city = rows["市の報告義務（個人情報保護法第68条・施行規則第43条）"]
    assert contractor.startswith("報告対象")
    assert "1,000人超" in contractor
    assert "100人超" in city
    # Bulk export may be insider removal: 暫定 until a person confirms it, so not yet the 60-day 確報.
    assert "暫定（要確認）: 不正の目的" in city
    assert "確報の期限の日数" not in rows  # the days are in the city's clock
    # The contractor is released once the city acknowledged its report; the city's clock starts that day.
    assert "貴市へ報告いたしました" in rows["受注者の期限（市への報告）"]
    assert "起算日 令和8年11月20日" in rows["市の期限（委員会への報告）"]
    assert "確報（同条第2項）: 令和8年12月21日（月）（30日）" in rows["市の期限（委員会への報告）"]  # 60 once confirmed
    assert "速報（施行規則第44条第1項、速やかに）" in rows["市の期限（委員会への報告）"]


def test_no_ppc_deadline_is_due_when_neither_party_has_to_report() -> None:
    # The golden documents' misdirected notice: three records of name and address, reportable by neither party.
    s = build_sample(
        Scenario("koganei", origin="filed", stage="closed", location="第2作業室", summary=None, details=None)
    )
    model = report(s, "final")
    rows = {r.label: r.value for r in model.section("ppc").rows}
    assert rows["市の期限（委員会への報告）"] == (
        "報告対象事態に該当しないため期限はありません"
        "（該当が判明した場合：速報 令和8年11月24日（火）、確報 令和8年12月21日（月））"
    )
    labels = [m.label for m in model.chart.markers if m.key.startswith("ppc_")]
    assert labels == ["市の速報期限（目安）（該当する場合）", "市の確報期限（該当する場合）"]


def _follow_up(s: Sample, kind: str, data: dict[str, object], at: datetime, who: str = "sec-07") -> None:
    assert s.run is not None
    entry = TimelineEntry(at, who, kind, kind, {**data, "event_id": f"{kind}-{at.isoformat()}"})
    apply(s.run, {"change": "event", "incident_id": s.run.incident_id, "entry": entry.to_json()}, at)


def test_the_report_shows_the_runs_assessment_with_a_persons_override() -> None:
    s = build_sample(scenario("chiba", "detection", rules=("bulk-export",), records=1200, stage="opened"))
    assert s.run is not None
    data: dict[str, object] = {"ppc_override": "not_reportable", "party": "contractor", "reason": "not-a-leak"}
    _follow_up(s, "update", data, s.now)
    model = build_report(s.stored(), kind="progress", lang="ja", now=s.now)
    assert s.run.ppc.assessment is not None
    assert not s.run.ppc.assessment.contractor_reportable
    rows = {r.label: r.value for r in model.section("ppc").rows}
    assert "担当者の判断" in rows["受注者の報告義務（個人情報保護法第26条・施行規則第7条）"]
    assert rows["市の報告義務（個人情報保護法第68条・施行規則第43条）"].startswith("報告対象")


def test_the_city_clock_in_the_report_starts_on_the_first_reports_delivery() -> None:
    s = build_sample(scenario("chiba", "detection", rules=("bulk-export",), records=1200, stage="opened"))
    assert s.run is not None
    first = s.run.step("first_report")
    assert first is not None
    # Delivered on Friday 27 Nov, acknowledged (if ever) later: the delivery is the day the city learned.
    delivered = datetime(2026, 11, 27, 16, 0, tzinfo=JST)
    chain = f"{s.run.incident_id}/first_report/first_report/1"
    entry = TimelineEntry(
        delivered, "kinkyu-notifier", "sent", "message_sent", {"chain_id": chain, "recipient": "city:0"}
    )
    apply(s.run, {"change": "event", "incident_id": s.run.incident_id, "entry": entry.to_json()}, delivered)
    rows = {r.label: r.value for r in report(s, "progress", now=delivered).section("ppc").rows}
    assert "起算日 令和8年11月27日" in rows["市の期限（委員会への報告）"]
    assert "貴市へ報告いたしました" in rows["受注者の期限（市への報告）"]


@pytest.mark.parametrize("lang", LANGS)
def test_the_report_carries_a_draft_notice_for_the_city_to_send_with_items_1_2_4_5_9(lang: str) -> None:
    s = sample("koganei")
    model = report(s, "progress", lang)
    assert model.notice_draft is not None
    labels = {k: Rule8Item(k, None, None).label(lang) for k in RULE8_ORDER}  # type: ignore[arg-type]
    shown = [k for k, label in labels.items() if f"■ {label}" in model.notice_draft]
    assert shown == [Rule8Key.SUMMARY, Rule8Key.DATA_ITEMS, Rule8Key.CAUSE, Rule8Key.SECONDARY_HARM, Rule8Key.OTHER]
    not_sent = "本人へはまだ通知しておりません" if lang == "ja" else "it has not been sent to anyone"
    assert not_sent in model.notice_draft
    for fmt, text in rendered(model):
        assert model.words["notice_title"] in text.replace("&amp;", "&"), fmt


def test_a_stopped_system_has_no_draft_notice() -> None:
    # No personal data leaked: a notice telling residents theirs did would be false, and the city might send it.
    s = build_sample(scenario("toyota", kind="system_outage", stage="opened"))
    assert report(s, "first").notice_draft is None


def test_the_public_version_has_no_draft_notice() -> None:
    model = report(sample("koganei"), "public")
    assert model.notice_draft is None
    assert all(model.words["notice_title"] not in text for _, text in rendered(model))


def test_city_clock_waits_for_the_first_report() -> None:
    s = build_sample(scenario("yachiyo", stage="opened", records=1200))
    rows = {r.label: r.value for r in report(s, "first").section("ppc").rows}
    assert "未到達" in rows["市の期限（委員会への報告）"]


# -- timeline ----------------------------------------------------------------------------------------------


def test_the_timeline_holds_every_entry_once_in_order() -> None:
    s = sample("toyota", "detection")
    entries = merged_timeline(s.incident, s.run)
    assert len(entries) == len(s.run.timeline) + sum(1 for e in s.incident.timeline if e.kind == "finding")
    assert [e.ts for e in entries] == sorted(e.ts for e in entries)
    model = report(s)
    full = model.section("timeline").tables[-1]
    assert len(full.rows) == len(entries) == model.timeline_entries


def test_a_thousand_entry_timeline_renders() -> None:
    s = build_sample(scenario("koganei", timeline_entries=1000))
    model = report(s)
    assert model.timeline_entries == 1000
    md = render_markdown(model)
    assert md.count("\n| 令和") >= 1000  # one table row per entry, each starting with its date


# -- the picture ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_svg_is_well_formed_and_shows_each_phase_against_its_deadline(jurisdiction: str, lang: str) -> None:
    model = report(sample(jurisdiction, "detection"), "final", lang)
    svg = phase_chart(model.chart)
    root = ET.fromstring(svg)  # our own output
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    phases = (
        ("検知・受付", "第一報", "書面報告", "被害拡大防止", "復旧", "終結")
        if lang == "ja"
        else ("Detected / opened", "First report", "Written report", "Containment", "Recovery", "Closed")
    )
    for label in phases:
        assert label in texts, label
    # Each phase's verdict is written out, not only coloured.
    for p in model.chart.phases:
        assert p.verdict_label in texts
    assert ("期限" if lang == "ja" else "due") in texts  # a due marker's word
    assert root.find(f"{SVG}title") is not None


def test_svg_marks_a_missed_deadline_in_words_and_hatching() -> None:
    s = build_sample(scenario("okayama", first_ack_after=timedelta(hours=3)))
    first = s.run.step("first_report")
    assert first is not None
    assert first.due is not None
    first.sent_at = first.due + timedelta(hours=1)  # a first report sent after its due time
    svg = phase_chart(report(s).chart)
    ET.fromstring(svg)
    assert "× 期限超過" in svg
    assert 'fill="url(#hatch)"' in svg


def test_html_embeds_the_svg_and_print_css() -> None:
    html = render_html(report(sample("koganei")))
    assert "<svg" in html
    assert "size: A4" in html
    assert "counter(page)" in html
    assert "counter(pages)" in html


def test_css_string_cannot_break_out_of_the_style_element() -> None:
    assert str(css_string('a"b</style>')) == '"a\\22 b\\3c /style\\3e "'


# -- hash --------------------------------------------------------------------------------------------------


def test_the_hash_covers_the_model_and_is_in_every_format() -> None:
    s = sample("chiba")
    a, b = report(s), report(s)
    assert a.sha256() == b.sha256()
    assert hashlib.sha256(render(a, "json")).hexdigest() == a.sha256()
    assert json.loads(render(a, "json"))["incident_id"] == s.incident.incident_id
    assert report(s, now=s.now + timedelta(minutes=1)).sha256() != a.sha256()
    # The report's time is whole minutes, as printed: seconds do not change the report.
    assert report(s, now=s.now + timedelta(seconds=37)).sha256() == a.sha256()
    for _, text in rendered(a):
        assert a.sha256() in text


# -- store -------------------------------------------------------------------------------------------------


def test_store_round_trip(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    s = sample("toyota", "detection")
    store_sample(store, s)
    assert store.list() == [s.incident.incident_id]
    stored = store.read(s.incident.incident_id)
    assert stored.incident.to_json() == s.incident_json
    assert stored.run is not None
    assert stored.run.to_json() == s.run_json
    assert stored.profile == s.profile
    assert stored.evidence is not None
    (bundle,) = stored.evidence.bundles
    assert stored.evidence.chain_status == "intact"
    body = orjson.loads((tmp_path / "incidents" / f"{s.incident.incident_id}.json").read_bytes())
    assert set(body) == {"format", "incident", "run", "contract", "report"}
    assert not list(tmp_path.rglob(".tmp-*"))  # every write renamed into place
    model = build_report(stored, kind="final", lang="ja", now=s.now)
    text = render_markdown(model)
    assert bundle.bundle_id in text
    assert bundle.plaintext_sha256 in text
    assert "記録のつながりは一致" in text  # sealed without integrity keys: consistent, not called authenticated


def test_store_shows_a_broken_custody_chain(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    s = sample("okayama", "detection")
    store_sample(store, s)
    custody = tmp_path / "evidence" / s.incident.incident_id / "custody.jsonl"
    custody.write_bytes(custody.read_bytes().replace(b'"kinkyu"', b'"mallory"'))
    stored = store.read(s.incident.incident_id)
    assert stored.evidence is not None
    assert stored.evidence.chain_status == "broken"
    text = render_markdown(build_report(stored, kind="final", lang="ja", now=s.now))
    assert "異常あり" in text


def test_store_errors(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    with pytest.raises(IncidentNotFoundError):
        store.read("INC-20261120-0099")
    with pytest.raises(ReportStoreError, match="not usable"):
        store.read("../etc/passwd")
    (tmp_path / "incidents").mkdir(mode=0o700)
    (tmp_path / "incidents" / "INC-20261120-0098.json").write_text("{not json")
    with pytest.raises(ReportStoreError, match="not valid JSON"):
        store.read("INC-20261120-0098")
    s = sample("koganei")
    with pytest.raises(ReportStoreError, match="contract"):
        store.write({**s.incident_json, "contract_id": "another"}, s.run_json, s.profile)
    with pytest.raises(ReportStoreError, match="unknown key"):
        store.write(s.incident_json, s.run_json, s.profile, facts={"nonsense": "x"})


def test_stored_reports_have_one_place_each(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    s = sample("chiba")
    store_sample(store, s)
    path = render_and_store(store, s.incident.incident_id, "first", "ja", "md")
    assert path == tmp_path / "reports" / s.incident.incident_id / "first.ja.md"
    assert "事故報告書（第一報）" in path.read_text(encoding="utf-8")
    assert render_and_store(store, s.incident.incident_id, "final", "en", "html").name == "final.en.html"
    with pytest.raises(ReportStoreError):
        store.report_path(s.incident.incident_id, "first", "fr", "md")


# -- CLI ---------------------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kinkyu")
    sub = parser.add_subparsers(dest="command", required=True)
    add_report_parser(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Sample]:
    s = sample("koganei")
    store_sample(IncidentStore(tmp_path), s)
    return tmp_path, s


def test_cli_choices_match_the_model_and_renderer() -> None:
    # The CLI spells them out to keep `kinkyu --help` from importing the report machinery.
    assert cli.REPORT_KINDS == REPORT_KINDS
    assert cli.FORMATS == FORMATS
    assert cli.LANGS == LANGS


def test_cli_markdown_to_stdout(stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str]) -> None:
    root, s = stored
    as_of = s.now.isoformat()
    assert run_cli(["report", s.incident.incident_id, "--store", str(root), "--format", "md", "--as-of", as_of]) == 0
    out = capsys.readouterr().out
    assert "に係る事故報告書（最終報告）の提出について" in out  # the incident is closed: final by default
    model = build_report(IncidentStore(root).read(s.incident.incident_id), kind="final", lang="ja", now=s.now)
    assert model.sha256() in out


def test_cli_html_to_a_file_and_json(stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str]) -> None:
    root, s = stored
    out = root / "out" / "r.html"
    argv = ["report", s.incident.incident_id, "--store", str(root), "--format", "html", "--lang", "en"]
    assert run_cli([*argv, "--kind", "public", "--out", str(out)]) == 0
    assert "Incident report (for publication)" in out.read_text(encoding="utf-8")
    assert run_cli(["report", s.incident.incident_id, "--store", str(root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "final"


def test_the_models_command_recomputes_the_printed_hash(
    stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, s = stored
    monkeypatch.setenv("KINKYU_STORE_DIR", str(root))
    # One time for both runs: the two renderings are of the same model.
    argv = [
        "report",
        s.incident.incident_id,
        "--kind",
        "progress",
        "--lang",
        "en",
        "--as-of",
        "2026-11-21T10:00:00+09:00",
    ]
    assert run_cli([*argv, "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "sha256sum" not in md  # the command is our staff's, not the city's to read
    assert run_cli([*argv, "--format", "json"]) == 0
    command = re.fullmatch(
        r"(kinkyu report .*) \| sha256sum", json.loads(capsys.readouterr().out)["words"]["hash_command"]
    )
    assert command is not None
    printed = command.group(1).split()[1:]
    assert run_cli(printed) == 0
    digest = hashlib.sha256(capsys.readouterr().out.encode()).hexdigest()
    assert f"`{digest}`" in md


def test_cli_store_from_the_environment(
    stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, s = stored
    monkeypatch.setenv("KINKYU_STORE_DIR", str(root))
    assert run_cli(["report", s.incident.incident_id, "--format", "md", "--kind", "first"]) == 0
    assert "第一報" in capsys.readouterr().out


def test_cli_unknown_incident_and_usage(stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = stored
    assert run_cli(["report", "INC-20261120-0999", "--store", str(root), "--format", "md"]) == 2
    assert "no incident INC-20261120-0999" in capsys.readouterr().err
    assert run_cli(["report", "../x", "--store", str(root), "--format", "md"]) == 2
    assert run_cli(["report", "INC-20261120-0001", "--store", str(root), "--format", "md", "--as-of", "noon"]) == 2
    with pytest.raises(SystemExit) as exc:
        run_cli(["report", "INC-20261120-0001", "--format", "docx"])
    assert exc.value.code == 2


def test_cli_pdf_without_the_renderer_exits_3_with_advice(
    stored: tuple[Path, Sample], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise RendererMissingError(f"PDF output needs the Japanese font: {pdf._HOW}")

    monkeypatch.setattr(pdf, "check_renderer", missing)
    root, s = stored
    assert run_cli(["report", s.incident.incident_id, "--store", str(root), "--format", "pdf"]) == 3
    err = capsys.readouterr().err
    assert "make install" in err
    assert "Traceback" not in err


def test_missing_weasyprint_or_fonts_say_make_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # makes `import weasyprint` fail
    with pytest.raises(RendererMissingError, match="make install"):
        pdf.check_renderer()
    monkeypatch.delitem(sys.modules, "weasyprint")
    monkeypatch.setattr(pdf, "_weasyprint", lambda: pdf)
    monkeypatch.setattr(pdf, "_ready", False)
    monkeypatch.setattr(pdf, "cjk_fonts_present", lambda: False)
    with pytest.raises(RendererMissingError, match=r"fonts-noto-cjk.*make install"):
        render(report(sample("koganei")), "pdf")


def test_a_report_without_a_run_still_has_every_section() -> None:
    s = sample("yachiyo", "detection")
    stored = StoredIncident(s.incident, None, s.profile)
    model = build_report(stored, kind="progress", lang="ja", now=s.now)
    text = render_markdown(model)
    assert "対応手順の記録がありません" in text
    assert "調査中" in text


def test_both_reports_are_named_with_their_rule_before_the_city_clock_starts() -> None:
    s = build_sample(scenario("koganei", "filed", stage="opened", records=1200))
    rows = {r.label: r.value for r in report(s, "first", now=s.now).section("ppc").rows}
    clock = rows["市の期限（委員会への報告）"]
    assert "速報（施行規則第44条第1項）" in clock
    assert "確報（同条第2項）" in clock


def test_a_toyota_outage_report_names_the_system_outage_and_owes_the_ppc_nothing() -> None:
    s = build_sample(scenario("toyota", "detection", rules=("system-outage",), stage="opened"))
    model = report(s, "first", now=s.now)
    assert model.title == "事故報告書（第一報）：システム停止事故のおそれ"
    (row,) = model.section("ppc").rows
    assert "個人情報保護委員会への報告の対象外" in row.value


def test_a_containment_step_done_by_a_recorded_measure_names_that_measure() -> None:
    # The misdirected-letter sample: nothing a command could do; a person recorded recovered-by-hand.
    s = build_sample(Scenario("toyota", stage="closed", location="第2作業室"))

    section = report(s, "final").section("containment")

    assert ("講じた措置（記録による）", "誤送付物を回収しました") in [(r.label, r.value) for r in section.rows]
    assert "現時点で記録された措置はありません。" not in section.notes


def test_a_recorded_measure_is_named_in_the_readers_words_and_an_unknown_code_as_given() -> None:
    s = build_sample(Scenario("toyota", stage="closed", location="第2作業室"))
    (step,) = [st for st in s.run.steps if st.kind == "containment"]

    english = report(s, "final", lang="en").section("containment")
    step.measure = "door-locked"
    unknown = report(s, "final").section("containment")

    assert ("Measure taken (as recorded)", "the misdelivered item was retrieved") in [
        (r.label, r.value) for r in english.rows
    ]
    assert ("講じた措置（記録による）", "door-locked") in [(r.label, r.value) for r in unknown.rows]


@pytest.mark.parametrize("stage", ["opened", "closed"])
def test_rule8_item_9_says_what_was_done_without_the_consoles_workflow_counts(stage: str) -> None:
    s = build_sample(Scenario("koganei", stage=stage, location="第2作業室"))

    items = next(t for t in report(s, "final").section("ppc").tables if t.columns[0] == "No.")

    number, _label, text = items.rows[-1]
    assert number == "9"
    assert not any(word in text for word in ("承認待ち", "見送り", "失敗"))
    assert text == (
        "被害拡大の防止の措置を検討しております（講じた措置は判明次第ご報告いたします。）。関係記録の保全を開始しております。"
        if stage == "opened"
        else "被害拡大の防止の措置を講じました。関係記録を保全いたしました。"
    )


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_the_first_mail_and_the_first_report_of_one_moment_say_the_same_items_8_and_9(jurisdiction: str) -> None:
    s = build_sample(Scenario(jurisdiction, stage="opened", location="第2作業室", summary=None, details=None))
    mail = s.run.rule8_facts().items()  # what the notifier words the first report's e-mail from
    table = next(t for t in report(s, "first").section("ppc").tables if t.columns[0] == "No.")
    written = {row[0]: row[2] for row in table.rows}
    assert written["8"] == mail.items[7].ja == "検討中"
    assert written["9"] == mail.items[8].ja


def test_the_record_follows_the_opening_and_the_particulars_come_under_it() -> None:
    md = render_markdown(report(sample("koganei", stage="opened"), "first"))
    opening = md.index("下記のとおり報告いたします。")
    record = md.index('<p align="center">記</p>')
    assert opening < record < md.index("| 事案番号 |")
    assert "本報告は第一報であり" in md[record:]


def test_status_tables_carry_the_legend_of_their_marks() -> None:
    model = report(sample("koganei", stage="opened"), "first")
    legend = "判定の記号：○ 期限内に完了　△ 期限前で未了　× 期限を超過　－ 期限の定めなし又は該当なし"
    assert legend in model.section("clauses").notes
    assert legend in model.section("timeline").notes


def test_a_first_report_in_writing_is_one_phase_row_and_prevention_one_row() -> None:
    model = report(sample("koganei", stage="opened"), "first")
    phases = [row[0] for row in model.section("timeline").tables[0].rows]
    assert "第一報（書面）" in phases
    assert not any(p.startswith("書面報告") for p in phases)
    assert [r.label for r in model.section("prevention").rows] == ["再発防止のための措置"]


def test_the_contract_period_and_the_citys_publication_read_as_a_letter_does() -> None:
    model = report(sample("koganei", stage="opened"), "first")
    contract = {r.label: r.value for r in model.section("contract").rows}
    assert contract["契約期間"] == "令和8年4月1日から令和9年3月31日まで"
    publication = {r.label: r.value for r in model.section("publication").rows}
    assert publication["委託者による公表"] == "貴市のご判断による（現時点で未実施）"


def test_the_first_report_says_what_happened_from_the_facts_on_record() -> None:
    # Toyota 第13条② and Koganei 第19条 ask for 発生状況 at once: the known facts make it, 調査中 only the rest.
    s = build_sample(
        Scenario("toyota", origin="filed", stage="opened", location="第2作業室", summary=None, details=None)
    )
    model = report(s, "first")
    known = (
        "令和8年11月19日（木）16時00分頃、第2作業室において、氏名・住所を含む個人情報3件の誤送付・誤送信が発生した"
        "ことが、令和8年11月20日（金）10時00分、受託者の担当者の届出により判明いたしました。"
    )
    assert model.letter is not None
    assert model.letter.opening[1] == known
    situation = next(r for r in model.section("circumstances").rows if r.label == "発生状況")
    assert (situation.value, situation.state) == (known + "経緯等の詳細は調査中です。", "")


def test_an_unknown_filed_kind_is_named_other_never_its_code() -> None:
    s = build_sample(scenario("toyota", stage="opened", kind="outage"))
    md = render_markdown(report(s, "first"))
    assert "その他（種別未登録）" in md
    assert "outage" not in md


def test_a_toyota_system_outage_reads_as_an_outage_not_a_leak() -> None:
    s = build_sample(Scenario("toyota", stage="opened", kind="system_outage", location="第2作業室", summary=None))
    model = report(s, "first")
    assert model.letter is not None
    assert model.letter.opening[0].startswith("このたびは、貴市の委託業務に係るシステムの停止により")
    assert "システム停止が発生したこと" in model.letter.opening[1]
    assert (
        model.section("data").title
        == "停止したシステムで取り扱う個人情報等の項目及び件数（漏えい等は確認されていません）"
    )
    assert "漏えい等した" not in render_markdown(model).split("別紙1")[0]
    containment = [r.label for r in model.section("containment").rows]
    assert "システム停止事故への対処（切替え等）" in containment
    assert not any("アカウント停止" in label for label in containment)


def test_the_timeline_the_city_reads_names_no_internal_state_and_gives_staff_no_orders() -> None:
    s = build_sample(Scenario("koganei", stage="closed", location="第2作業室", summary=None, details=None))
    timeline = report(s, "final").section("timeline").tables[-1]
    text = "\n".join(" ".join(row) for row in timeline.rows)
    for word in ("状態:", "→", "してください", "終結の申出", "終結できず", "該当する手順"):
        assert word not in text
    assert "対応を開始" in text


def test_the_public_version_is_titled_by_the_matter_and_leaves_the_ppc_duty_to_the_city() -> None:
    model = report(sample("koganei"), "public")
    ppc = model.section("ppc")

    assert model.title == "個人情報の漏えい等の事故について（公表用）"
    assert [r.label for r in ppc.rows] == ["個人情報保護委員会への報告"]
    assert [t.caption for t in ppc.tables] == [ppc.title]  # the nine items only, no duty assessment


def test_no_public_timeline_row_only_repeats_its_kind() -> None:
    [table] = [
        t for t in report(sample("koganei"), "public").section("timeline").tables if t.col_classes[-1:] == ("what",)
    ]

    assert [r for r in table.rows if r[2] == r[3]] == []


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("kinkyu", "当社事故対応システム（自動記録）"),
        ("kinkyu-notifier", "当社事故対応システム（自動記録）"),
        ("city:1", "市の担当者"),
        (P_CITY, "市の担当者"),  # it acknowledged for the city in the sample
        (P_REPORTER, "受託者の担当者"),
    ],
)
def test_an_account_is_named_by_its_role(who: str, role: str) -> None:
    assert account_roles(sample("koganei").stored(), "ja")(who) == role
