"""A task mail for a city's instruction names the instruction in words, not only the step it falls under."""

from __future__ import annotations

from typing import Any

from test_notify_ppc import as_record, koganei
from test_playbook_run import INC, T0, begin, event, filed, notices

from kinkyu.core.playbook import Notify, apply
from kinkyu.notifiers.model import NotificationIn
from kinkyu.notifiers.render import build_email
from kinkyu.reports.sample import playbooks


def instruction_mail(data: dict[str, Any]) -> Notify:
    run, _ = begin(filed("koganei", "loss"))
    effects = apply(run, event("city_instruction", data, ts=T0, event_id="ci-1"), T0)
    (mail,) = notices(effects, "task_assigned")
    return mail


def render(record: dict[str, Any]) -> str:
    """The Japanese mail to the contractor, its step titled as the koganei playbook titles it."""
    profile = koganei()
    step = playbooks()["koganei"].step("instructions")
    email = build_email(
        NotificationIn.parse(record),
        contract=profile,
        recipient=profile.contractor_contacts[0],
        lang="ja",
        ack_url=None,
        incident_url=f"https://console.kinkyu.test/incidents/{INC}",
        now=T0,
        key="0123456789abcdef",
        step_title=(step.title_ja, step.title_en),
    )
    return email.text


def test_the_task_mail_names_the_citys_instruction_in_words() -> None:
    text = render(as_record(instruction_mail({"title": "submit-access-log"}), koganei()))

    assert "対応事項: アクセス記録の提出（委託者の指示に従う）" in text
    assert "submit-access-log" not in text


def test_an_instruction_code_without_words_names_the_step_only() -> None:
    record = as_record(instruction_mail({"title": "call-the-mayor"}), koganei())

    text = render(record)

    assert "対応事項: 委託者の指示に従う\n" in text
    assert "call-the-mayor" not in text


def test_free_text_planted_as_the_instruction_never_reaches_the_mail() -> None:
    record = as_record(instruction_mail({}), koganei(), instruction="山田太郎に連絡")

    text = render(record)

    assert "山田" not in text
    assert "対応事項: 委託者の指示に従う\n" in text
