"""``kinkyu run``'s terminal lines: Japanese first, from the message catalogue; English with --lang en or LANG=en…."""

from __future__ import annotations

from datetime import datetime

import pytest
from test_messages import ascii_sentences

from kinkyu.core.incident import TimelineEntry
from kinkyu.core.model import JST
from kinkyu.streams.runner import _print_delivery, _print_effect, _print_incident, terminal_lang

INC = "INC-20261120-0001"
OPENED = {
    "change": "opened",
    "incident_id": INC,
    "contract_id": "shinagawa-2026-005",
    "jurisdiction": "shinagawa",
    "rules": ["unregistered-actor"],
    "kind": "detection",
    "severity": "high",
    "actor": "u1234",
    "records": 5,
    "first_event_ts": "2026-11-20T10:00:00+09:00",
}
EFFECTS = [
    {
        "effect": "notify",
        "effect_id": f"{INC}/first_report/first_report/1",
        "incident_id": INC,
        "jurisdiction": "shinagawa",
        "kind": "first_report",
        "audience": "city",
        "due": "2026-11-20T11:00:00+09:00",
        "urgency": "直ちに",
        "article": "第17",
    },
    {
        "effect": "notify",
        "effect_id": f"{INC}/recovery/task_assigned/1",
        "incident_id": INC,
        "jurisdiction": "shinagawa",
        "kind": "task_assigned",
        "audience": "contractor",
        "due": None,
        "task_id": "recovery",
    },
    {
        "effect": "escalate",
        "effect_id": f"{INC}/escalate/1",
        "incident_id": INC,
        "reason": "deadline_missed",
        "step_id": "first_report",
        "due": "2026-11-20T11:00:00+09:00",
        "level": 1,
    },
    {
        "effect": "containment",
        "effect_id": f"{INC}/c1",
        "incident_id": INC,
        "auto": False,
        "action": "disable_account",
        "target_type": "account",
        "target": "u1234",
        "command_id": "cmd-1",
        "reason": "unregistered-actor",
    },
    {
        "effect": "evidence_sealed",
        "effect_id": f"{INC}/seal/1",
        "incident_id": INC,
        "bundle_id": "b-1",
        "items": 3,
        "phase": "initial",
    },
]
SENT = TimelineEntry(
    ts=datetime(2026, 11, 20, 10, 1, tzinfo=JST),
    who="kinkyu-notifier",
    what="first_report sent to city:0",
    kind="message_sent",
    data={"event_id": "e1", "recipient": "city:0", "message": "first_report"},
)


def _printed(capsys: pytest.CaptureFixture[str], lang: str) -> str:
    _print_incident(OPENED, set(), lang)  # type: ignore[arg-type]  # a Lang
    for effect in EFFECTS:
        _print_effect(effect, set(), lang)  # type: ignore[arg-type]
    _print_delivery(INC, SENT, set(), lang)  # type: ignore[arg-type]
    return capsys.readouterr().out


def test_the_terminal_lines_are_japanese_without_an_english_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    out = _printed(capsys, "ja")

    assert len(out.splitlines()) == 1 + len(EFFECTS) + 1
    assert ascii_sentences(out) == []
    assert "品川区への「第一報" in out


def test_the_terminal_lines_are_english_on_request_and_call_a_ward_a_ward(capsys: pytest.CaptureFixture[str]) -> None:
    out = _printed(capsys, "en")

    assert "to the ward falls due" in out
    assert "to the city" not in out


def test_the_english_lines_name_actions_targets_steps_and_deliveries_in_words_not_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _printed(capsys, "en")

    assert "disabling the account on account u1234" in out
    assert "step first report" in out
    assert "first report delivered to" in out
    assert "(3 events, first seal)" in out
    assert [code for code in ("disable_account", "first_report", "deadline_missed") if code in out] == []


@pytest.mark.parametrize(
    ("wanted", "env", "lang"),
    [(None, "ja_JP.UTF-8", "ja"), (None, "C.UTF-8", "ja"), (None, "en_US.UTF-8", "en"), ("ja", "en_GB.UTF-8", "ja")],
)
def test_the_terminal_is_japanese_unless_asked_or_lang_says_english(
    wanted: str | None, env: str, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", env)

    assert terminal_lang(wanted) == lang
