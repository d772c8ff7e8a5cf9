"""The wheel is Kinkyu: built from the checkout, installed elsewhere, run from a folder that holds nothing.

An installed Kinkyu must find its templates, playbooks and sample contracts
in the package (``kinkyu.resources``), never in the working directory, and
must install one import name (``kinkyu``): ``streams`` and ``notifiers`` are
other projects' names on the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(  # pip of the interpreter running the tests, on the checkout
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("kinkyu-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel alone; its dependencies are read from the test's own."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # our interpreter
    site = Path(
        subprocess.run(  # the new environment's interpreter
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # A path line, not a site dir: the checkout's editable-install finder in it is not activated.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(  # pip of the interpreter running the tests, into the new environment
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def clean_env() -> dict[str, str]:
    """The test's environment without Kinkyu's settings or a PYTHONPATH that would import a checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINKYU_", "PYTHON"))}
    return {**env, "PYTHONSAFEPATH": "1"}


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the installed kinkyu, with arguments from this test
        [str(venv / "bin" / "python"), "-P", "-m", "kinkyu", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_wheel_carries_templates_playbooks_and_sample_contracts_under_one_import_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}

    assert tops == {"kinkyu"}
    for expected in (
        "kinkyu/samples/events/access-log.jsonl",
        "kinkyu/templates/report/report.html.j2",
        "kinkyu/templates/email/first_report.ja.txt.j2",
        "kinkyu/templates/console/incident.html.j2",
        "kinkyu/playbooks/koganei.yaml",
        "kinkyu/samples/contracts/koganei-2026-017.yaml",
        "kinkyu/streams/detector.py",
        "kinkyu/notifiers/render.py",
        "kinkyu/py.typed",
    ):
        assert expected in names, expected


def test_an_installed_kinkyu_replays_and_reports_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(  # the installed interpreter
        [str(installed / "bin" / "python"), "-P", "-c", "import kinkyu; print(kinkyu.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(installed) in probe.stdout, "the installed package, not the checkout, is imported"

    store = tmp_path / "store"
    replay = run(
        installed,
        tmp_path,
        "replay",
        "--contract",
        str(REPO / "samples" / "contracts"),
        "--input",
        str(REPO / "samples" / "events" / "access-log.jsonl"),
        "--input",
        str(REPO / "samples" / "events" / "incident-events.jsonl"),
        "--json",
        "--out",
        str(store),
        "--no-progress",
    )
    assert replay.returncode == 0, replay.stderr
    incidents = [orjson.loads(line) for line in replay.stdout.splitlines() if line.startswith("{")]
    assert incidents, "the sample opens incidents"
    first = incidents[0]["incident_id"]

    report = run(installed, tmp_path, "report", "--store", str(store), "--format", "md", first)
    assert report.returncode == 0, report.stderr
    assert "事故報告書" in report.stdout or "報告" in report.stdout
    assert list(store.rglob("*.json")), "the playbook runs were stored (the bundled playbooks were found)"
    assert not list(tmp_path.glob("templates"))
    assert not list(tmp_path.glob("playbooks"))
