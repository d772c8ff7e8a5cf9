"""E-mails of the national report: the Rule 8 items in the first report, the PPC reminders; no personal data."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from test_playbook_run import INC, T0, begin, detection, filed, notices

from kinkyu.contracts import load_profiles
from kinkyu.core.contract import ContractProfile
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.legal import RULE8_ORDER, Rule8Item
from kinkyu.core.model import JST
from kinkyu.core.playbook import Notify, apply, tick
from kinkyu.notifiers.model import IncidentFacts, NotificationIn
from kinkyu.notifiers.render import TEXTS, assert_no_personal_data, build_email, build_webhook

REPO = Path(__file__).resolve().parents[2]
PII = ("山田太郎", "東京都小金井市本町6-6-3", "090-1234-5678", "123456789012", "yamada.taro@example.com")
FORBIDDEN = (*PII, "山田", "太郎", "本町6-6-3", "1234-5678", "yamada")


def koganei() -> ContractProfile:
    profiles = load_profiles([REPO / "samples" / "contracts"])
    return next(p for p in profiles.values() if p.jurisdiction == "koganei")


def as_record(n: Notify, profile: ContractProfile, **planted: Any) -> dict[str, Any]:
    body = {**n.to_json(), "contract_id": profile.contract_id, "queued_at": T0.isoformat()}
    body.update(planted)
    return body


def render(body: dict[str, Any], profile: ContractProfile, lang: str, facts: IncidentFacts | None = None) -> str:
    note = NotificationIn.parse(body)
    email = build_email(
        note,
        contract=profile,
        recipient=profile.city.contacts[0],
        lang=lang,  # type: ignore[arg-type]
        ack_url="https://ack.kinkyu.test/ack/TOKEN",
        incident_url=f"https://console.kinkyu.test/incidents/{INC}",
        now=T0,
        key="0123456789abcdef",
        facts=facts,
    )
    hook = build_webhook(note, contract=profile, key="k", ack_url=None, incident_url="https://c", now=T0, facts=facts)
    return "\n".join([email.subject, email.text, email.html or "", *email.headers.values(), str(hook.body)])


def first_report(record: dict[str, Any]) -> Notify:
    _, effects = begin(record)
    (first,) = notices(effects, "first_report")
    return first


def pii_record() -> dict[str, Any]:
    """A filed leak whose free text and item names are full of personal data."""
    record = filed(
        "koganei",
        "leak",
        records=150,
        data_items=["name", "my_number", f"{PII[0]}の電話番号 {PII[2]}"],
        location=PII[1],
        summary=f"{PII[0]}様（{PII[1]}）宛の通知を誤送付。個人番号 {PII[3]}、{PII[4]}",
    )
    record["contract_id"] = koganei().contract_id
    return record


@pytest.mark.parametrize(("lang", "unknown"), [("ja", "調査中"), ("en", "under investigation")])
def test_the_first_report_email_lists_the_nine_rule8_items_in_order(lang: str, unknown: str) -> None:
    profile = koganei()
    text = render(as_record(first_report(pii_record()), profile), profile, lang)
    labels = [Rule8Item(k, None, None).label(lang) for k in RULE8_ORDER]  # type: ignore[arg-type]
    positions = [text.index(f"{n}. {label}\n") for n, label in enumerate(labels, 1)]
    assert positions == sorted(positions)
    assert f"4. {labels[3]}\n   {unknown}" in text  # the cause is still under investigation
    assert ("150人以内" if lang == "ja" else "up to 150 people") in text
    assert_no_personal_data(text, FORBIDDEN)


def test_rule8_texts_planted_in_the_record_never_reach_the_email() -> None:
    profile = koganei()
    first = first_report(pii_record())
    assert first.rule8_facts is not None
    planted = {
        **first.rule8_facts,
        "kind": PII[0],
        "rules": [PII[1]],
        "data_items": ["name", PII[0]],
        "people": {"count": PII[3]},
        "triggers": {"city": [PII[4]], "contractor": []},
        "summary": PII[0],
    }
    body = as_record(first, profile, rule8_facts=planted, rule8_items=[{"key": "summary", "ja": PII[0]}])
    for lang in ("ja", "en"):
        text = render(body, profile, lang)
        assert_no_personal_data(text, FORBIDDEN)
        assert "1. " in text  # the items are still there, built from what could be checked


def test_a_first_report_whose_rule8_facts_are_not_an_object_goes_out_without_the_items() -> None:
    profile = koganei()
    text = render(as_record(first_report(pii_record()), profile, rule8_facts="nonsense"), profile, "ja")
    assert "■ 個人情報保護委員会への報告に必要な事項" not in text
    assert "第一報" in text


def reminder_records(profile: ContractProfile) -> list[dict[str, Any]]:
    record = detection("koganei", ["bulk-export"], records=150)
    record["contract_id"] = profile.contract_id
    run, effects = begin(record)
    (first,) = notices(effects, "first_report")
    data = {"chain_id": first.effect_id, "recipient": "city:0", "event_id": "notifier:message_sent:city:0:x"}
    entry = TimelineEntry(T0, "kinkyu-notifier", "delivered", "message_sent", data)
    apply(run, {"change": "event", "incident_id": INC, "entry": entry.to_json()}, T0)
    # A person confirms the improper purpose the rule suggested: the 60-day 確報.
    confirmed = TimelineEntry(T0, "sec-07", "update", "update", {"improper_purpose": True, "event_id": "u-1"})
    apply(run, {"change": "event", "incident_id": INC, "entry": confirmed.to_json()}, T0)
    out: list[dict[str, Any]] = []
    for day in (date(2026, 11, 24), date(2027, 1, 8)):
        sent = notices(tick(run, datetime(day.year, day.month, day.day, 9, tzinfo=JST)))
        out.extend(as_record(n, profile, summary=PII[0], details=PII[4]) for n in sent)
    return out


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_ppc_reminders_name_the_report_its_due_date_and_no_personal_data(lang: str) -> None:
    profile = koganei()
    prelim, final = reminder_records(profile)
    assert (prelim["kind"], final["kind"]) == ("ppc_preliminary_reminder", "ppc_final_reminder")
    facts = IncidentFacts.from_record(pii_record())
    prelim_text = render(prelim, profile, lang, facts)
    final_text = render(final, profile, lang, facts)
    assert TEXTS.say(lang, "title.ppc_preliminary_reminder") in prelim_text
    assert ("令和8年11月24日" if lang == "ja" else "24 Nov 2026") in prelim_text
    assert ("令和9年1月18日" if lang == "ja" else "18 Jan 2027") in final_text
    assert ("60日" if lang == "ja" else "60 days") in final_text
    for text in (prelim_text, final_text):
        assert "{{" not in text
        assert_no_personal_data(text, FORBIDDEN)


def test_a_reminder_without_readable_dates_still_goes_out_and_says_where_to_look() -> None:
    profile = koganei()
    prelim, _ = reminder_records(profile)
    text = render({**prelim, "ppc": {"report": "soon", "due": PII[3]}}, profile, "ja")
    assert "事案の詳細でご確認ください" in text
    assert_no_personal_data(text, FORBIDDEN)


def test_reminders_are_addressed_to_the_city_with_deterministic_ids() -> None:
    profile = koganei()
    ids = [r["effect_id"] for r in reminder_records(profile)]
    assert ids == [f"{INC}/ppc/preliminary/2026-11-24", f"{INC}/ppc/final/2027-01-18"]
    assert {r["audience"] for r in reminder_records(profile)} == {"city"}


def _profile(jurisdiction: str) -> ContractProfile:
    profiles = load_profiles([REPO / "samples" / "contracts"])
    return next(p for p in profiles.values() if p.jurisdiction == jurisdiction)


def test_a_toyota_outage_is_mailed_as_a_system_outage_citing_the_document() -> None:
    profile = _profile("toyota")
    record = detection("toyota", ["system-outage"], actor=None)
    record["contract_id"] = profile.contract_id
    text = render(as_record(first_report(record), profile), profile, "ja")
    assert "第一報（システム停止事故のおそれ）" in text
    assert "個人情報の漏えい等の事故" not in text.split("■")[0]  # the subject and the opening sentence
    assert "豊田市 特記事項 第13条②" in text


def test_a_written_first_report_links_the_report_on_the_console_for_its_receipt() -> None:
    profile = koganei()
    text = render(as_record(first_report(pii_record()), profile), profile, "ja")
    assert f"https://console.kinkyu.test/incidents/{INC}/reports/first.ja.pdf" in text
    assert "事故報告書を受領しました" in text
