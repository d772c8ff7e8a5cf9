"""One source of words: no module keeps a Japanese text beside its English one; the catalogue does."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# kinkyu/ reaches streams/, notifiers/ and templates/ through its symlinks; notifiers/ is named for clarity.
SCANNED = (ROOT / "kinkyu", ROOT / "notifiers")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff60]")
LETTER = re.compile(r"[A-Za-z]")
# An English sentence or name: two words in a row, or a capitalised word. A code (snake_case, dotted,
# hyphenated) is none.
ENGLISH = re.compile(r"[A-Za-z][a-z]+[ ,;'()]+[A-Za-z][a-z]+|\b[A-Z][a-z]+\b")


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _japanese(text: str | None) -> bool:
    return text is not None and len(CJK.findall(text)) > len(LETTER.findall(text))


def _english(text: str | None) -> bool:
    return text is not None and not CJK.search(text) and ENGLISH.search(text) is not None


def pairs(source: str) -> list[tuple[int, str, str]]:
    """The (line, Japanese, English) literals side by side in ``source``: a tuple, a call's arguments, an if/else."""
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple):
            values = [_text(e) for e in node.elts]
        elif isinstance(node, ast.Call):
            values = [_text(a) for a in node.args] + [_text(k.value) for k in node.keywords]
        elif isinstance(node, ast.IfExp):
            values = [_text(node.body), _text(node.orelse)]
        else:
            continue
        for a, b in itertools.pairwise(values):
            for ja, en in ((a, b), (b, a)):
                if _japanese(ja) and _english(en):
                    assert ja is not None
                    assert en is not None
                    found.append((node.lineno, ja, en))
    return sorted(found)


def _modules() -> list[Path]:
    seen: set[Path] = set()
    out: list[Path] = []
    for root in SCANNED:
        for path in sorted(root.rglob("*.py")):
            real = path.resolve()
            if real not in seen and ".venv" not in real.parts:
                seen.add(real)
                out.append(path)
    return out


def test_the_scan_finds_a_label_pair_a_sentence_pair_keyword_pairs_and_a_choice_by_language() -> None:
    source = """
ITEMS = {"my_number": ("個人番号（マイナンバー）", "My Number (individual number)")}
page(410, "リンクの有効期限が切れています", "This link has expired")
result(fired=False, ja="本人の数は調査中", en="Number of people not yet known")
medium = "電子データ" if ja else "electronic data"
"""
    assert [line for line, _ja, _en in pairs(source)] == [2, 3, 4, 5]


def test_the_scan_leaves_codes_beside_japanese_and_english_glosses_alone() -> None:
    source = """
step("triage", "検知内容の確認")
user("reviewer", "reviewer", "監査担当（デモ）", None, None)
note("progress reports (処理経過) to the city", "step_started")
"""
    assert pairs(source) == []


def test_no_module_keeps_a_japanese_english_pair_of_literals() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {ja!r} / {en!r}"
        for path in _modules()
        for line, ja, en in pairs(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "keep the English under a key and the Japanese in kinkyu.po:\n" + "\n".join(found)
