"""A task's title and a playbook's document name are stored as codes and read in the reader's language.

Runs stored before they were codes (``日本語 / English`` strings) read as they did.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_messages import ascii_sentences

from kinkyu.core.playbook import PlaybookRun, Task, baseline_playbook, document_name
from kinkyu.core.playbook.keys import WITHHELD
from kinkyu.core.playbook.states import TaskSource
from kinkyu.messages.timeline import Names, names_for, task_text
from kinkyu.reports import sample
from kinkyu.reports.model import build_report
from kinkyu.reports.render import render_markdown
from kinkyu.reports.sample import playbooks

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
T = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
STEPS = {"recovery": ("復旧", "Recover"), "evidence": ("証拠保全", "Preserve the evidence")}


def _names(lang: str, unit: str = "市") -> Names:
    return Names(lang=lang, unit=unit, step_title=lambda s: STEPS[s][0 if lang == "ja" else 1] if s in STEPS else None)  # type: ignore[arg-type]


def _task(source: TaskSource = "step", step_id: str | None = "recovery", **title: Any) -> Task:
    return Task(
        task_id="t-1",
        title=title.pop("title", ""),
        owner="contractor",
        due=None,
        source=source,
        step_id=step_id,
        created_at=T,
        **title,
    )


@pytest.mark.parametrize(("lang", "expected"), [("ja", "復旧"), ("en", "Recover")])
def test_a_steps_own_task_is_stored_by_step_id_and_named_by_the_steps_title(lang: str, expected: str) -> None:
    task = _task(title_key="step", title_values={"step": "recovery"})

    assert task_text(task, _names(lang)) == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "書面報告の記載事項「発生場所」を補う"), ("en", "supply 'where it happened' in the written report")],
)
def test_a_missing_report_item_task_names_the_item_by_its_code(lang: str, expected: str) -> None:
    task = _task("report_item", "first_report", title_key="supply", title_values={"item": "place"})

    assert task_text(task, _names(lang)) == expected


@pytest.mark.parametrize(
    ("lang", "expected"), [("ja", "証拠保全を手作業で行う"), ("en", "do 'Preserve the evidence' by hand")]
)
def test_a_step_left_to_a_person_is_a_task_that_says_so(lang: str, expected: str) -> None:
    task = _task(step_id="evidence", title_key="by_hand", title_values={"step": "evidence"})

    assert task_text(task, _names(lang)) == expected


@pytest.mark.parametrize(("lang", "expected"), [("ja", "甲の指示"), ("en", "instruction from the ward")])
def test_a_wards_instruction_is_from_the_ward(lang: str, expected: str) -> None:
    task = _task("city_instruction", "instructions", title_key="instruction")

    assert task_text(task, _names(lang, unit="区")) == expected


def test_an_instruction_given_as_free_text_is_named_as_withheld_in_the_readers_language() -> None:
    task = _task("city_instruction", "instructions", title="(free text withheld: use a category code)")

    assert task_text(task, _names("ja")) == "（自由記述のため記録せず。原文は封印した証拠に保存）"


def test_a_title_the_city_gave_as_a_code_is_shown_in_its_words() -> None:
    task = _task("city_instruction", "instructions", title="submit-access-log")

    assert task_text(task, _names("ja")) == "アクセス記録の提出"


def test_a_code_without_words_is_not_shown_raw() -> None:
    task = _task("city_instruction", "instructions", title="x-unlisted-code")

    assert task_text(task, _names("ja")) == "（指示内容は別途記録）"


@pytest.mark.parametrize(
    ("source", "step_id", "lang", "expected"),
    [
        ("report_item", "first_report", "ja", "書面報告の記載事項「発生場所」を補う"),
        ("report_item", "first_report", "en", "supply 'where it happened' in the written report"),
        ("step", "recovery", "ja", "復旧"),
        ("step", "recovery", "en", "Recover"),
    ],
)
def test_a_title_stored_as_a_word_pair_by_an_earlier_release_reads_as_before(
    source: TaskSource, step_id: str, lang: str, expected: str
) -> None:
    pair = "書面報告の記載事項「発生場所」を補う / supply 'where it happened' in the written report"
    task = _task(source, step_id, title=pair if source == "report_item" else "復旧 / Recover")

    assert task_text(task, _names(lang)) == expected


def _release_tasks() -> list[tuple[PlaybookRun, Task]]:
    out: list[tuple[PlaybookRun, Task]] = []
    for path in sorted((GOLDEN / "playbook_run_release").glob("*.json")):
        run = PlaybookRun.from_json(orjson.loads(path.read_bytes()))
        out.extend((run, t) for t in run.tasks)
    return out


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_task_of_a_released_run_reads_as_its_stored_titles_half_in_the_language(lang: str) -> None:
    withheld = _names(lang).t("(free text, not recorded: the instruction is in its sealed evidence)")
    for run, task in _release_tasks():
        names = names_for(run, None, lang=lang)  # type: ignore[arg-type]
        ja, sep, en = task.title.partition(" / ")
        step = run.playbook.step(task.step_id) if task.source == "step" and task.step_id else None
        if step is not None:
            expected = step.title_ja if lang == "ja" else step.title_en
        elif task.title == WITHHELD:  # the marker, no title: said as a sentence, no longer printed as it is
            expected = withheld
        elif task.source == "city_instruction" and not sep:  # a city's code: said in its words
            expected = names.instruction(task.title)
        else:
            expected = (ja if lang == "ja" else en) if sep else ja

        assert names.task(task.task_id) == expected


def test_no_run_recorded_today_stores_a_word_pair() -> None:
    # Every recorded step (a start, a state, a change) as written: no task title or document as 日本語 / English.
    pair = re.compile(r'"(?:title|document)":"[^"]* / [^"]*"')
    found = [m for path in sorted((GOLDEN / "playbook").glob("*.jsonl")) for m in pair.findall(path.read_text())]

    assert found == []


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "基本手順（この自治体の対応手順が読み込まれていない）"), ("en", "baseline (no playbook loaded)")],
)
def test_the_baseline_names_its_document_in_the_readers_language(lang: str, expected: str) -> None:
    assert document_name(baseline_playbook("chiba"), lang) == expected


def test_a_baseline_run_stored_with_the_word_pair_names_its_document_as_a_new_one() -> None:
    old = baseline_playbook("chiba").model_copy(
        update={"document": "基本手順（この自治体のプレイブックが読み込まれていない） / baseline (no playbook loaded)"}
    )

    assert [document_name(old, lang) for lang in ("ja", "en")] == [
        document_name(baseline_playbook("chiba"), lang) for lang in ("ja", "en")
    ]


def test_a_citys_playbook_names_its_document_as_the_city_does() -> None:
    playbook = playbooks()["toyota"]

    assert document_name(playbook, "en") == playbook.document == document_name(playbook, "ja")


@pytest.mark.parametrize("stage", ["opened", "closed"])
def test_a_japanese_report_on_the_baseline_names_its_document_and_tasks_in_japanese(
    monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    # A deployment without the city's playbook file: the run goes on the baseline.
    monkeypatch.setattr(sample, "playbooks", lambda: {"koganei": baseline_playbook("koganei")})
    s = sample.build_sample(sample.Scenario("koganei", stage=stage, location="第2作業室"))

    text = render_markdown(build_report(s.stored(), kind="first", lang="ja", now=s.now))

    assert "基本手順（この自治体の対応手順が読み込まれていない）" in text
    assert ascii_sentences(text) == []
