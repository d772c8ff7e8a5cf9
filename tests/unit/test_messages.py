"""The message catalogue (kinkyu.messages): timeline entries, tasks and owners in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from babel.messages.pofile import read_po

from kinkyu.console import i18n
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook import PlaybookRun
from kinkyu.messages import party_fields, po_path
from kinkyu.messages.codes import CODES, code_label
from kinkyu.messages.timeline import DESCRIBERS, MESSAGES, RECEIVED, Names, describe, names_for, task_title
from kinkyu.reports.model import build_report
from kinkyu.reports.render import render_html, render_markdown
from kinkyu.reports.sample import Scenario, build_sample

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
JURISDICTIONS = ("okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa")

# Two or more English words in a row: a sentence. Ids (digits, hyphens), codes (snake_case), URLs and
# `code spans` are not words here.
ASCII_SENTENCE = re.compile(r"(?<![\w/.@:-])[A-Za-z][a-z]+(?:[ ,;'()]+[A-Za-z][a-z]+){1,}(?![\w-])")


def ascii_sentences(text: str) -> list[str]:
    """The English sentences in a Japanese text (code spans left out)."""
    return ASCII_SENTENCE.findall(re.sub(r"`[^`]*`", "", text))


class _Text(HTMLParser):
    """The text a reader sees in an HTML document (no tags, attributes, styles; code left out, as in Markdown)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._style = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002  # the tag is enough
        self._style += tag in {"style", "code"}

    def handle_endtag(self, tag: str) -> None:
        self._style -= tag in {"style", "code"}

    def handle_data(self, data: str) -> None:
        if not self._style:
            self.parts.append(data)


def _load_catalogue() -> Any:
    with po_path("ja").open("rb") as fh:
        return read_po(fh, locale="ja")


def _entries(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if {"ts", "who", "what", "kind"} <= value.keys():
            yield value
            return
        for v in value.values():
            yield from _entries(v)
    elif isinstance(value, list):
        for v in value:
            yield from _entries(v)


def _recorded_entries() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((GOLDEN / "playbook").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            out.extend(_entries(orjson.loads(line)))
    for path in sorted((GOLDEN / "playbook_run_release").glob("*.json")):
        out.extend(_entries(orjson.loads(path.read_bytes())))
    return out


def test_the_detector_finds_an_english_sentence_but_not_ids_codes_or_urls() -> None:
    assert ascii_sentences("状態: update received (message_sent)") != []
    assert ascii_sentences("INC-20261120-0001 first_report https://example.org/ack/abc `kinkyu report x y`") == []


def test_every_message_in_the_code_has_a_japanese_translation_with_the_same_fields() -> None:
    catalogue = _load_catalogue()
    field = re.compile(r"%\((\w+)\)s")
    missing = [m.id for m in catalogue if m.id and not m.string]
    assert missing == []
    for m in catalogue:
        if m.id and not m.context:
            # Every sentence may name the local body and the parties as the contract does (甲, 発注者).
            assert set(field.findall(m.string)) <= set(field.findall(m.id)) | set(party_fields("ja", "市")), m.id


def test_the_catalogue_has_every_message_the_code_marks_and_no_other() -> None:
    import importlib.util  # noqa: PLC0415  # the script is not a package module

    spec = importlib.util.spec_from_file_location("catalogue", ROOT / "scripts" / "catalogue.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marked = {(m.context, m.id) for m in module.template() if m.id}
    committed = {(m.context, m.id) for m in _load_catalogue() if m.id}

    assert committed == marked


def test_every_code_label_is_in_the_catalogue_in_japanese_and_has_english_words() -> None:
    for context, code in CODES:
        assert code_label("ja", context, code) != code_label("en", context, code), (context, code)
        assert ascii_sentences(code_label("ja", context, code)) == [], (context, code)
        assert "_" not in code_label("en", context, code), (context, code)


def test_every_kind_the_runs_record_has_a_sentence() -> None:
    kinds = {e["kind"] for e in _recorded_entries()}

    unknown = sorted(k for k in kinds if k not in DESCRIBERS and k not in MESSAGES and k not in RECEIVED)

    assert unknown == []


def test_every_recorded_entry_reads_in_japanese_without_an_english_sentence() -> None:
    names = Names(lang="ja")
    for entry in _recorded_entries():
        text = describe(entry["kind"], entry.get("data"), entry["what"], names)
        assert ascii_sentences(text) == [], (entry["kind"], text)


def test_an_entry_stored_by_an_earlier_release_renders_from_its_kind_and_data() -> None:
    entry = TimelineEntry.from_json(
        {
            "ts": "2026-11-20T10:00:00+09:00",
            "who": "kinkyu",
            "what": "task recovery opened for contractor; due -",
            "kind": "task_opened",
            "data": {"task_id": "recovery", "owner": "contractor", "due": None, "source": "step", "step": "recovery"},
        }
    )

    assert (
        describe(entry.kind, entry.data, entry.what, Names(lang="ja"))
        == "対応事項を登録: 復旧（担当: 受託者、期限: 定めなし）"
    )


def test_english_is_the_message_id() -> None:
    text = describe("task_done", {"task_id": "recovery", "late": True}, "", Names(lang="en"))

    assert text == "Task done: recovery (after its due time)"


def test_a_ward_is_never_called_a_city() -> None:
    names = Names(lang="ja", unit="区")

    assert describe("report_issued", {"step": "x"}, "closure reported to the city", names) == "区に事故対応の完了を報告"


def test_a_stored_bilingual_task_title_shows_one_language() -> None:
    assert task_title("復旧 / Recover", "ja") == "復旧"
    assert task_title("復旧 / Recover", "en") == "Recover"
    assert task_title("submit-access-log", "ja") == "submit-access-log"


def test_a_steps_task_is_named_by_the_steps_title_in_the_playbook() -> None:
    s = build_sample(Scenario("koganei", stage="progress", origin="detection"))
    names = names_for(s.run, s.profile, lang="ja")

    assert names.task("recovery") == s.run.playbook.step("recovery").title_ja


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
@pytest.mark.parametrize("origin", ["filed", "detection"])
@pytest.mark.parametrize(("stage", "kind"), [("opened", "first"), ("closed", "final")])
def test_a_japanese_report_has_no_english_sentence(jurisdiction: str, origin: str, stage: str, kind: str) -> None:
    s = build_sample(Scenario(jurisdiction, origin=origin, stage=stage, location="第2作業室"))

    model = build_report(s.stored(), kind=kind, lang="ja", now=s.now)  # type: ignore[arg-type]
    page = _Text()
    page.feed(render_html(model))

    assert ascii_sentences(render_markdown(model)) == []
    assert ascii_sentences("\n".join(page.parts)) == []


def test_a_run_from_the_release_still_renders_its_timeline_in_japanese() -> None:
    path = GOLDEN / "playbook_run_release" / "sample-closed-shinagawa.json"
    run = PlaybookRun.from_json(orjson.loads(path.read_bytes()))
    names = names_for(run, None, lang="ja")

    texts = [describe(e.kind, e.data, e.what, names) for e in run.timeline]

    assert all(ascii_sentences(t) == [] for t in texts)
    assert any(t.startswith("区") for t in texts)  # 品川区: the ward, not 市


def test_a_delivered_message_is_named_by_its_kind_and_the_recipient_by_role() -> None:
    names = Names(lang="ja", recipient=lambda ref: "担当" if ref == "city:0" else None)

    text = describe("message_sent", {"recipient": "city:0", "message": "first_report"}, "", names)

    assert text == "担当へ「第一報」を送信"


def test_every_console_text_reads_in_japanese_from_the_catalogue() -> None:
    untranslated = [key for key, english in i18n.MESSAGES.items() if i18n.t("ja", key) == english]

    assert untranslated == []
