"""``kinkyu console demo-users``: how ``kinkyu run`` gets its demo logins without importing the console."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kinkyu.cli import main
from kinkyu.console.users import UserDirectory
from kinkyu.streams.runner import _demo_logins


def test_each_printed_login_opens_the_users_file_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = tmp_path / "console" / "users.yaml"

    code = main(["console", "demo-users", "--users", str(users)])

    assert code == 0
    assert users.stat().st_mode & 0o777 == 0o600
    logins = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    directory = UserDirectory.load(users)
    assert {x["role"] for x in logins} == {"contractor", "city", "reviewer", "admin"}
    for x in logins:
        user = directory.authenticate(x["username"], x["password"])
        assert user is not None
        assert user.role == x["role"]


def test_kinkyu_run_reads_the_logins_from_the_consoles_command(tmp_path: Path) -> None:
    users = tmp_path / "console" / "users.yaml"

    logins = _demo_logins(users)

    assert not isinstance(logins, str)
    assert [(role, name) for role, name, _ in logins][:2] == [("contractor", "acme-security"), ("city", "koganei-city")]
    assert all(UserDirectory.load(users).authenticate(name, password) for _, name, password in logins)


def test_kinkyu_run_says_why_when_the_users_file_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")

    problem = _demo_logins(blocker / "users.yaml")

    assert isinstance(problem, str)
    assert "cannot write the demo users file" in problem
