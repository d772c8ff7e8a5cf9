"""Everything Kinkyu writes is private to its account: umask 077 (mail sink .eml files, store, evidence, logs)."""

from __future__ import annotations

import base64
import os
import smtplib
import stat
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from kinkyu.private import PRIVATE_UMASK, make_files_private
from kinkyu.streams.broker import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")}
    return {**clean, **extra}


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The shell's usual 022, so that only Kinkyu's own umask can make the files private."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_every_file_and_folder_a_replay_writes_is_private(tmp_path: Path) -> None:
    out = tmp_path / "store"
    key = base64.b64encode(os.urandom(32)).decode()
    done = subprocess.run(
        [sys.executable, "-m", "kinkyu", "replay", "--contract", "samples/contracts", "--input",
         "samples/events/access-log.jsonl", "--out", str(out), "--no-progress"],
        cwd=REPO, env=_env(KINKYU_EVIDENCE_KEY=key), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    modes = _modes(out)
    assert any(name.endswith(".bin") for name in modes), "evidence was sealed"
    files = {n: m for n, m in modes.items() if (out / n).is_file()}
    folders = {n: m for n, m in modes.items() if (out / n).is_dir()}
    assert set(files.values()) == {0o600}, files
    assert set(folders.values()) == {0o700}, folders


@pytest.mark.usefixtures("permissive_umask")
def test_the_mail_sinks_eml_files_are_private(tmp_path: Path) -> None:
    folder, port = tmp_path / "mail", free_port()
    sink = subprocess.Popen(  # our own module, with the interpreter running us
        [sys.executable, "-u", "-m", "kinkyu.notifiers.smtp_sink", "--port", str(port), "--dir", str(folder)],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert sink.stdout is not None
        assert b"listening" in sink.stdout.readline()  # it says so once it listens
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "k@kinkyu.test", "city@city.test", "受領確認"
        message.set_content("https://desk.kinkyu.test/ack/TOKEN")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)  # answered once the file is written
    finally:
        stop_process(sink)
        if sink.stdout is not None:
            sink.stdout.close()

    [eml] = folder.glob("*.eml")
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_stricter_umask_stays_stricter() -> None:
    old = os.umask(0o277)
    try:
        make_files_private()
        assert os.umask(0o022) == 0o277 | PRIVATE_UMASK
    finally:
        os.umask(old)
