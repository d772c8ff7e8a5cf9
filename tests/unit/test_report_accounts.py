"""Account ids in a report are ids: printed when shaped like one (or registered), withheld otherwise.

A log's writer chooses ``actor.id`` and a filing's ``reported_by.id``; an
attacker may write a resident's name and telephone number there, and the
reviewer's report (to the city, an official document) would print it in
its account, reporter, timeline and containment rows. The report prints an id
the contract registers, or one shaped like an id (at most 64 ASCII letters,
digits and ``. _ - @ \\ / : +``, with no e-mail address, telephone or long
number in it); any other reads （ID省略）, and the event it came from is in the
sealed evidence. Every id printed is neutralised.
"""

from __future__ import annotations

from typing import Any

import pytest

from kinkyu.reports.model import ACCOUNT_MAX_CHARS, REPORT_KINDS, build_report, printable_id
from kinkyu.reports.render import render_html, render_markdown
from kinkyu.reports.sample import Scenario, build_sample

NAME = "佐藤花子"
PHONE = "080-2222-3333"


def _texts(origin: str, **changes: Any) -> dict[str, str]:
    """Every non-public kind of the sample incident, Markdown and HTML, in both languages."""
    s = build_sample(Scenario("koganei", origin=origin, **changes))
    texts = {}
    for kind in REPORT_KINDS:
        if kind == "public":
            continue
        for lang in ("ja", "en"):
            model = build_report(s.stored(), kind=kind, lang=lang, now=s.now)
            texts[f"{kind}/{lang}/md"] = render_markdown(model)
            texts[f"{kind}/{lang}/html"] = render_html(model)
    return texts


@pytest.mark.parametrize("origin", ["detection", "filed"])
def test_an_account_id_holding_a_residents_name_and_phone_is_in_no_report(origin: str) -> None:
    hostile = f"{NAME} {PHONE}"

    texts = _texts(origin, actor=hostile, reporter=hostile)

    for where, text in texts.items():
        assert NAME not in text, where
        assert PHONE not in text, where
    if origin == "detection":  # the actor's row says it is withheld; a filer is named by role only
        assert any("ID省略" in t or "IDの形式でない" in t for t in texts.values())


def test_an_account_id_shaped_like_one_is_printed() -> None:
    texts = _texts("detection", actor="x-intruder.77")

    assert all("x-intruder.77" in text for text in texts.values())


def test_an_unregistered_account_row_says_why_it_is_withheld() -> None:
    s = build_sample(Scenario("koganei", origin="detection", actor=f"{NAME} {PHONE}"))
    model = build_report(s.stored(), kind="progress", lang="ja", now=s.now)

    [row] = [r for sec in model.sections for r in sec.rows if r.label == "関係するアカウント"]
    assert row.state == "withheld"
    assert "封印された証拠" in row.value


@pytest.mark.parametrize(
    "value",
    [
        "u1042",
        "svc-juki-portal",
        "ACME\\tanaka",
        "tanaka@acme",
        "10.20.3.4",
        "2001:db8::77",
        "a" * ACCOUNT_MAX_CHARS,
    ],
)
def test_ids_are_printed_as_they_are(value: str) -> None:
    assert printable_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        NAME,
        f"yamada taro {PHONE}",
        "tanaka@acme.co.jp",
        "12345678901",
        "u10\u202e42",
        "u1042\r\nx",
        "a" * (ACCOUNT_MAX_CHARS + 1),
        "-rf",
        "",
    ],
)
def test_anything_else_is_withheld(value: str) -> None:
    assert printable_id(value) is None


def test_a_registered_id_is_printed_neutralised_and_cut_to_the_cap() -> None:
    registered = frozenset({"作業者\u202e01", "s" * 100})

    assert printable_id("作業者\u202e01", registered) == "作業者01"
    assert printable_id("s" * 100, registered) == "s" * (ACCOUNT_MAX_CHARS - 1) + "…"
