"""PDF reports: WeasyPrint with Debian's Noto CJK fonts, read back with poppler's pdftotext and pdffonts.

Needs no broker. Skips (saying what is missing) only when WeasyPrint, the
fonts or poppler-utils are absent; ``make install`` (scripts/system-deps.sh)
puts them on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from kinkyu.reports import RendererMissingError
from kinkyu.reports.cli import add_report_parser
from kinkyu.reports.model import ReportModel, build_report
from kinkyu.reports.pdf import check_renderer
from kinkyu.reports.render import render
from kinkyu.reports.sample import Sample, Scenario, build_sample, store_sample
from kinkyu.reports.store import IncidentStore


@pytest.fixture(scope="module", autouse=True)
def renderer() -> None:
    try:
        check_renderer()
    except RendererMissingError as exc:
        pytest.skip(f"PDF renderer unavailable: {exc}")
    for tool in ("pdftotext", "pdffonts"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (poppler-utils) is not installed: run scripts/system-deps.sh")


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdffonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    return [line.split() for line in out.stdout.splitlines()[2:]]


def sample(jurisdiction: str = "koganei", **changes: object) -> Sample:
    sc = Scenario(jurisdiction, incident_id="INC-20261120-0007")
    for key, value in changes.items():
        setattr(sc, key, value)
    return build_sample(sc)


def model_of(s: Sample, kind: str = "final", lang: str = "ja") -> ReportModel:
    return build_report(s.stored(), kind=kind, lang=lang, now=s.now)  # type: ignore[arg-type]


def test_japanese_survives_in_the_pdf_with_page_numbers_and_the_hash(tmp_path: Path) -> None:
    model = model_of(sample("koganei", stage="progress"), "progress")
    pdf = render(model, "pdf")
    assert pdf.startswith(b"%PDF-")
    text = pdftotext(pdf, tmp_path)
    for heading in ("事故報告書", "発生日時", "発覚日時", "発生場所", "本人の数", "発生状況", "再発防止策", "調査中"):
        assert heading in text, heading
    # Every Rule 8(1) item's name, and the timeline picture's Japanese labels.
    for label in ("概要", "二次被害又はそのおそれの有無及びその内容", "公表の実施状況", "その他参考となる事項"):
        assert label in text, label
    assert "検知・受付" in text
    assert "被害拡大防止" in text
    # Footer on every page: the hash and "ページ n / N".
    pages = text.count("\f") or 1
    assert text.count(model.sha256()) >= pages
    assert f"ページ 1 / {pages}" in text


def test_a_cjk_font_is_embedded(tmp_path: Path) -> None:
    pdf = render(model_of(sample("toyota")), "pdf")
    fonts = pdffonts(pdf, tmp_path)
    cjk = [f for f in fonts if "CJK" in f[0]]
    assert cjk, fonts
    # The last columns are emb, sub, uni and the object id (two numbers): embedded (and subset).
    assert all(f[-5] == "yes" for f in cjk), cjk


def test_english_public_pdf(tmp_path: Path) -> None:
    s = sample("shinagawa", origin="detection", actor="acct-PLANTED-9")
    model = model_of(s, "public", "en")
    text = pdftotext(render(model, "pdf"), tmp_path)
    assert "Incident report (for publication)" in text
    assert "品川区" in text  # the city's own name stays in Japanese
    assert "acct-PLANTED-9" not in text
    assert model.sha256() in text


def test_cli_writes_a_pdf_into_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = sample("chiba")
    store_sample(IncidentStore(tmp_path), s)
    parser = argparse.ArgumentParser(prog="kinkyu")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", s.incident.incident_id, "--store", str(tmp_path), "--format", "pdf"])
    assert args.func(args) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "reports" / s.incident.incident_id / "final.ja.pdf"
    assert "事故報告書（最終報告）" in pdftotext(path.read_bytes(), tmp_path)
