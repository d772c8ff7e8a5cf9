"""Golden documents: per jurisdiction, the first and final 事故報告書 (Markdown) and the first e-mail (Japanese).

Each is what a city's 個人情報保護担当 reads; they were read line by line against the city's clauses
(shared/seeds/) and shared/spec/legal.md, and are committed as the expected output. A deliberate change
re-records them::

    KINKYU_RECORD_GOLDEN=1 pytest tests/unit/test_golden_documents.py

and the commit says what changed in the documents and why.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import message_record
from test_messages import ascii_sentences

from kinkyu.core.contract import Party
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import Notify, on_record
from kinkyu.notifiers.model import IncidentFacts, NotificationIn, OutboundEmail
from kinkyu.notifiers.render import MESSAGE_KINDS, build_email
from kinkyu.reports.model import StoredIncident, build_report, document_serial
from kinkyu.reports.render import render_markdown
from kinkyu.reports.sample import Sample, Scenario, build_sample, playbooks, store_sample
from kinkyu.reports.store import IncidentStore

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "documents"
RECORD = os.environ.get("KINKYU_RECORD_GOLDEN") == "1"
JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")
# The evidence key, nonce and custody integrity keys of the golden store: fixed, so its manifest and
# custody head are the same on every run (a real store draws a fresh nonce for every bundle).
EVIDENCE_KEY = bytes(range(32))
NONCE = bytes(12)
KEYRING = Keyring({"k1": bytes(range(64, 96))}, "k1")


def _scenario(jurisdiction: str, stage: str) -> Scenario:
    # A misdirected notice, filed by the contractor's staff: the case every city's clauses cover.
    return Scenario(jurisdiction, origin="filed", stage=stage, location="第2作業室", summary=None, details=None)


def _report(s: Sample, kind: str, stored: StoredIncident | None = None) -> str:
    stored = stored or s.stored()
    return render_markdown(build_report(stored, kind=kind, lang="ja", now=s.now))  # type: ignore[arg-type]


def _with_evidence(s: Sample, root: Path) -> StoredIncident:
    """``s`` as a real store reads it back: with the bundle its evidence step sealed and its custody log."""
    store = IncidentStore(root, keyring=KEYRING)
    store_sample(store, s, key=EVIDENCE_KEY, nonce=NONCE, keyring=KEYRING)
    return store.read(s.incident.incident_id)


def _first_email(s: Sample) -> str:
    body = s.incident.to_json()
    body["change"] = "opened"
    opened_at = s.incident.discovered_at or s.incident.first_event_ts
    _, effects = on_record(
        None,
        body,
        playbook=playbooks()[s.incident.jurisdiction],
        policy=s.profile.response,
        contract_ends=s.profile.ends,
        now=opened_at,
    )
    first = next(e for e in effects if isinstance(e, Notify) and e.kind in {"first_report", "complaint_report"})
    email = _mail(s, first.to_json())
    return f"Subject: {email.subject}\n\n{email.text}"


def _mail(s: Sample, record: dict[str, Any], **extra: Any) -> OutboundEmail:
    """The city's first contact's Japanese mail for ``record``, at the incident's discovery, as text."""
    return build_email(
        NotificationIn.parse(record),
        contract=s.profile,
        recipient=s.profile.city.contacts[0],
        lang="ja",
        ack_url="https://console.example.jp/ack/TOKEN",
        incident_url=f"https://console.example.jp/incidents/{s.incident.incident_id}",
        now=s.incident.discovered_at or s.incident.first_event_ts,
        key="0" * 32,
        facts=IncidentFacts.from_record(s.incident.to_json()),
        html=False,
        # As the notifier plans it: the parties as the city's playbook calls them.
        parties=playbooks()[s.incident.jurisdiction].parties,
        **extra,
    )


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if RECORD:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: record it with KINKYU_RECORD_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_the_first_report_is_the_reviewed_document(jurisdiction: str) -> None:
    _check(f"{jurisdiction}.first.md", _report(build_sample(_scenario(jurisdiction, "opened")), "first"))


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_the_final_report_is_the_reviewed_document(jurisdiction: str, tmp_path: Path) -> None:
    s = build_sample(_scenario(jurisdiction, "closed"))
    _check(f"{jurisdiction}.final.md", _report(s, "final", _with_evidence(s, tmp_path)))


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_the_final_report_lists_what_its_completed_evidence_step_preserved(jurisdiction: str) -> None:
    md = (GOLDEN / f"{jurisdiction}.final.md").read_text(encoding="utf-8")
    s = build_sample(_scenario(jurisdiction, "closed"))
    evidence = next(st for st in s.run.steps if st.kind == "evidence")

    assert evidence.measure == "sealed"
    assert "この事案について保全した証拠はまだありません" not in md
    assert any(e.kind == "evidence_sealed" and e.data["bundle_id"] in md for e in s.run.timeline)


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_the_first_email_is_the_reviewed_message(jurisdiction: str) -> None:
    _check(f"{jurisdiction}.first_email.ja.txt", _first_email(build_sample(_scenario(jurisdiction, "opened"))))


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*")) or ["-"])
def test_no_golden_document_has_an_english_sentence(name: str) -> None:
    if name == "-":
        pytest.skip("no golden documents recorded yet")
    text = (GOLDEN / name).read_text(encoding="utf-8")
    # Subject tags and the message's machine lines are ids; the rest is Japanese.
    assert ascii_sentences(text) == []


def test_a_ward_is_addressed_as_a_ward() -> None:
    md = (GOLDEN / "shinagawa.final.md").read_text(encoding="utf-8")
    mail = (GOLDEN / "shinagawa.first_email.ja.txt").read_text(encoding="utf-8")

    assert "品川区長　様" in md
    assert "貴区" in md
    assert "貴区" in mail
    assert "貴市" not in md + mail
    assert "市の" not in md + mail


def _email(s: Sample, record: dict[str, Any], purpose: str = "notify") -> str:
    email = _mail(s, record, purpose=purpose, not_answered_by=("city:0", "city:9"))
    return f"{email.subject}\n{email.text}"


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_every_japanese_email_has_no_english_sentence(jurisdiction: str, kind: str) -> None:
    s = build_sample(_scenario(jurisdiction, "opened"))
    record = message_record(s, kind, nature="outage", due_unknown=True)

    text = _email(s, record, "unanswered" if kind == "unanswered" else "notify")

    assert ascii_sentences(text) == []


@pytest.mark.parametrize(
    ("kind", "report"), [("first_report", "first"), ("supplementary_report", "progress"), ("closure_report", "final")]
)
def test_a_written_reports_mail_links_its_own_report(kind: str, report: str) -> None:
    s = build_sample(_scenario("koganei", "opened"))
    record: dict[str, object] = {
        "effect": "notify",
        "effect_id": f"{s.incident.incident_id}/x/{kind}/1",
        "incident_id": s.incident.incident_id,
        "contract_id": s.profile.contract_id,
        "jurisdiction": "koganei",
        "audience": "city",
        "kind": kind,
        "written": True,
    }

    text = _email(s, record)

    linked = [r for r in ("first", "progress", "final") if f"/reports/{r}.ja.pdf" in text]
    assert linked == [report]


def test_a_profile_without_the_senders_details_says_so_in_the_letter_and_the_signature() -> None:
    s = build_sample(_scenario("koganei", "opened"))
    bare = replace(s, profile=s.profile.model_copy(update={"contractor": Party(org="acme", name="株式会社アクメ")}))

    letter = _report(bare, "first")
    mail = _mail(bare, message_record(bare, "first_report")).text

    assert '<p align="right">株式会社アクメ<br>連絡先　（差出人情報未設定）</p>' in letter
    assert "--\n株式会社アクメ\n（差出人情報未設定）\n" in mail


def test_the_document_number_holds_no_raw_incident_id() -> None:
    md = (GOLDEN / "koganei.first.md").read_text(encoding="utf-8")

    assert "文書番号　アクメ情第20261120-0001-1号" in md
    # A content-derived id: its date and four digits, no letters between 第 and 号.
    assert re.fullmatch(r"20261120-\d{4}", document_serial("INC-20261120-FABCDE2K"))


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_a_subject_names_the_matter_and_the_contract_and_no_id_severity_or_deadline(kind: str) -> None:
    s = build_sample(_scenario("okayama", "opened"))

    subject = _mail(s, message_record(s, kind, possible=False, due="2026-12-11T10:00:00+09:00")).subject

    assert subject.endswith(f"（{s.profile.title}）")
    for internal in (s.profile.contract_id, "[", "重大度", "期限 ", "令和"):
        assert internal not in subject


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_only_the_first_report_and_what_is_overdue_are_urgent_in_the_subject(kind: str) -> None:
    s = build_sample(_scenario("okayama", "opened"))
    # A task due in three weeks; an escalation for a missed deadline.
    record = message_record(s, kind, possible=False, due="2026-12-11T10:00:00+09:00")
    if kind == "escalation":
        record["reason"] = "deadline_missed"

    subject = _mail(s, record).subject

    assert ("緊急" in subject) == (kind in {"first_report", "escalation", "unanswered"})


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_citys_first_mail_links_the_report_and_asks_a_receipt_only_where_writing_is_required(
    jurisdiction: str,
) -> None:
    mail = (GOLDEN / f"{jurisdiction}.first_email.ja.txt").read_text(encoding="utf-8")
    written = "書面により報告" in mail  # the clause's own words in the summary

    assert "https://console.example.jp/incidents/INC-20261120-0001/reports/first.ja.pdf" in mail
    assert ("「事故報告書を受領しました」の記録をお願いいたします" in mail) == written


def test_the_written_report_that_follows_the_notice_only_delivers_the_report() -> None:
    s = build_sample(_scenario("shinagawa", "opened"))

    mail = _mail(s, message_record(s, "written_report", rule8=True)).text

    assert "/reports/first.ja.pdf" in mail
    assert "「事故報告書を受領しました」で受領の記録をお願いいたします" in mail
    assert "■ 概要" not in mail
    assert "■ 個人情報保護委員会への報告に必要な事項" not in mail


# Words of our own making a city's official would have to ask about.
DEVELOPER_WORDS = (
    "インシデント",
    "Kinkyu",
    "トリアージ",
    "レコード",
    "タスク",
    "エスカレーション",
    "レベル",
    "契約で定められた方法",
)


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_no_japanese_mail_uses_a_developer_word_or_a_raw_task_code(kind: str) -> None:
    s = build_sample(_scenario("koganei", "opened"))
    record = message_record(s, kind, task_id="first_report:circumstances", reason="deadline_missed")
    if kind == "escalation":
        record["reason"] = "deadline_missed"

    text = _email(s, record, "unanswered" if kind == "unanswered" else "notify")

    assert [w for w in DEVELOPER_WORDS if w in text] == []
    assert "first_report:circumstances" not in text
