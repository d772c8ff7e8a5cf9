"""``kinkyu console add-user``: an operator adds logins without editing hashes by hand."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from kinkyu.cli import main
from kinkyu.console.users import UserDirectory, write_demo_logins

PASSWORD = "correct horse battery"


def add(users: Path, monkeypatch: pytest.MonkeyPatch, *argv: str, password: str = PASSWORD) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["console", "add-user", *argv, "--users", str(users)])


def test_a_new_users_file_is_made_private_and_the_login_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "console" / "users.yaml"

    code = add(users, monkeypatch, "koganei-kacho", "--role", "city", "--jurisdiction", "koganei")

    assert code == 0
    assert users.stat().st_mode & 0o777 == 0o600
    login = UserDirectory.load(users).authenticate("koganei-kacho", PASSWORD)
    assert login is not None
    assert (login.role, login.jurisdiction) == ("city", "koganei")


def test_a_user_is_appended_and_the_administrators_comments_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = tmp_path / "users.yaml"
    write_demo_logins(users, hasher=PasswordHasher.from_parameters(CHEAPEST))
    users.write_text(users.read_text(encoding="utf-8") + "# reviewed by 情報政策課, 2026-12\n", encoding="utf-8")

    assert add(users, monkeypatch, "acme-ops", "--role", "contractor", "--org", "acme") == 0

    text = users.read_text(encoding="utf-8")
    assert "# Demo console users" in text
    assert "# reviewed by 情報政策課, 2026-12" in text
    directory = UserDirectory.load(users, hasher=PasswordHasher.from_parameters(CHEAPEST))
    assert directory.get("admin") is not None
    assert directory.get("acme-ops") is not None


def test_a_taken_username_is_refused_and_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.yaml"
    assert add(users, monkeypatch, "auditor", "--role", "reviewer") == 0
    before = users.read_bytes()

    assert add(users, monkeypatch, "auditor", "--role", "admin") == 3

    assert users.read_bytes() == before
    assert "exists already" in capsys.readouterr().err


def test_a_city_user_without_its_jurisdiction_is_refused_before_any_password_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.yaml"

    assert add(users, monkeypatch, "someone", "--role", "city", password="") == 2

    assert not users.exists()
    assert "needs jurisdiction" in capsys.readouterr().err


def test_a_short_password_is_refused_and_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.yaml"

    assert add(users, monkeypatch, "auditor", "--role", "reviewer", password="hunter2") == 2

    assert not users.exists()
    assert "hunter2" not in capsys.readouterr().err
