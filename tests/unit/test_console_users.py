"""Console users: Argon2id hashes, the users file's refusals, constant-work login, reloads, demo users."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from argon2 import PasswordHasher, Type, extract_parameters, profiles

from kinkyu.console.exceptions import ConsoleConfigError, ConsoleError, PasswordPolicyError, UserFileError
from kinkyu.console.users import (
    MAX_PASSWORD_LENGTH,
    DemoLogin,
    User,
    UserDirectory,
    UserRecord,
    default_hasher,
    hash_password,
    write_demo_logins,
    write_demo_users,
)
from kinkyu.exceptions import KinkyuError

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """A cheap hasher that counts verifications, to see the work a login does."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=4, salt_len=8)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002 - the library's parameter name
        self.verified += 1
        return super().verify(hash, password)


def _entry(username: str = "acme-security", role: str = "contractor", **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"username": username, "display_name": "担当者", "role": role}
    if role == "contractor":
        entry["org"] = "acme"
    if role == "city":
        entry["jurisdiction"] = "koganei"
    entry["password_hash"] = CHEAP.hash(PASSWORD)
    entry.update(extra)
    return entry


def _write(path: Path, entries: list[dict[str, Any]] | dict[str, Any], *, bump: bool = True) -> Path:
    data = entries if isinstance(entries, dict) else {"users": entries}
    old = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    if bump and old is not None:
        # An edit within the file system's timestamp granularity must still look like an edit.
        os.utime(path, ns=(old + 1_000_000_000, old + 1_000_000_000))
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(UserFileError) as info:
        UserDirectory.load(path, hasher=CHEAP)
    return str(info.value)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "users.yaml",
        [_entry(), _entry("koganei-city", "city"), _entry("reviewer", "reviewer", lang="en")],
    )


# -- hashing -----------------------------------------------------------------------------------------------


def test_the_production_hasher_is_argon2id_with_the_librarys_default_parameters() -> None:
    library = PasswordHasher()
    hasher = default_hasher()

    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len) == (
        library.time_cost,
        library.memory_cost,
        library.parallelism,
        library.hash_len,
        library.salt_len,
    )


def test_hash_password_makes_an_argon2id_phc_string_with_default_parameters() -> None:
    hashed = hash_password(PASSWORD)

    params = extract_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    assert params.type is Type.ID
    assert params.memory_cost == PasswordHasher().memory_cost
    assert PasswordHasher().verify(hashed, PASSWORD)


def test_hash_password_salts_every_hash() -> None:
    assert hash_password(PASSWORD, hasher=CHEAP) != hash_password(PASSWORD, hasher=CHEAP)


@pytest.mark.parametrize("password", ["", "Qz7!", "Qz7!" * MAX_PASSWORD_LENGTH, "Qz7!Qz7!\ud800"])
def test_hash_password_refuses_too_short_or_too_long_passwords_without_quoting_them(password: str) -> None:
    with pytest.raises(PasswordPolicyError) as info:
        hash_password(password, hasher=CHEAP)

    assert "characters" in str(info.value) or "not valid text" in str(info.value)
    if password:
        assert password not in str(info.value)


def test_console_errors_derive_from_kinkyu_error() -> None:
    assert issubclass(UserFileError, ConsoleConfigError)
    assert issubclass(ConsoleConfigError, ConsoleError)
    assert issubclass(PasswordPolicyError, ConsoleError)
    assert issubclass(ConsoleError, KinkyuError)


# -- authentication -------------------------------------------------------------------------------------------


def test_the_right_password_gives_the_user_with_role_and_scope(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    user = users.authenticate("acme-security", PASSWORD)

    assert user == User(username="acme-security", display_name="担当者", role="contractor", org="acme")


def test_a_wrong_password_gives_none(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    assert users.authenticate("acme-security", PASSWORD + "!") is None
    assert users.authenticate("acme-security", "") is None


def test_an_unknown_username_gives_none(users_file: Path) -> None:
    assert UserDirectory.load(users_file, hasher=CHEAP).authenticate("mallory", PASSWORD) is None


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("acme-security", PASSWORD),
        ("acme-security", "wrong password"),
        ("mallory", PASSWORD),
        ("NOT A USERNAME!", PASSWORD),
        ("", ""),
        ("acme-security", "x" * (MAX_PASSWORD_LENGTH + 1)),
        ("acme-security", "pass\ud800word"),
    ],
)
def test_every_login_attempt_costs_exactly_one_verification(users_file: Path, username: str, password: str) -> None:
    hasher = CountingHasher()
    users = UserDirectory.load(users_file, hasher=hasher)

    users.authenticate(username, password)

    assert hasher.verified == 1


def test_an_over_long_password_is_refused_even_when_it_starts_right(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    assert users.authenticate("acme-security", PASSWORD + "x" * MAX_PASSWORD_LENGTH) is None


def test_usernames_are_matched_ignoring_case_and_surrounding_spaces(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    user = users.authenticate(" Acme-Security ", PASSWORD)

    assert user is not None
    assert user.username == "acme-security"


def test_get_returns_the_user_or_none(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    reviewer = users.get("reviewer")
    assert reviewer is not None
    assert reviewer.role == "reviewer"
    assert reviewer.lang == "en"
    assert users.get("mallory") is None
    assert users.get(" Reviewer") is reviewer
    assert users.usernames == ("acme-security", "koganei-city", "reviewer")
    assert len(users) == 3


def test_a_user_carries_no_password_hash_and_a_record_does_not_show_it(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)
    user = users.get("acme-security")
    record = UserRecord.model_validate(_entry())

    assert user is not None
    assert not hasattr(user, "password_hash")
    assert "$argon2" not in repr(user)
    assert "$argon2" not in repr(record)


def test_a_contracts_allow_list_becomes_a_frozenset(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.yaml", [_entry(contracts=["koganei-2026-017", "chiba-2026-021"])])

    user = UserDirectory.load(path, hasher=CHEAP).get("acme-security")

    assert user is not None
    assert user.contracts == frozenset({"koganei-2026-017", "chiba-2026-021"})


def test_a_hash_made_with_other_parameters_needs_a_rehash_and_login_says_so_once(
    users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    users = UserDirectory.load(users_file, hasher=stronger)

    with caplog.at_level(logging.WARNING, logger="kinkyu.console.users"):
        assert users.authenticate("acme-security", PASSWORD) is not None
        assert users.authenticate("acme-security", PASSWORD) is not None

    assert users.needs_rehash("acme-security")
    assert not users.needs_rehash("mallory")
    warnings = [r for r in caplog.records if "hash-password" in r.getMessage()]
    assert len(warnings) == 1
    assert getattr(warnings[0], "username", None) == "acme-security"


def test_a_hash_made_with_the_hasher_in_use_needs_no_rehash(users_file: Path) -> None:
    assert not UserDirectory.load(users_file, hasher=CHEAP).needs_rehash("acme-security")


def test_logins_never_log_a_password_or_a_hash(users_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    with caplog.at_level(logging.DEBUG):
        users = UserDirectory.load(users_file, hasher=stronger)
        users.authenticate("acme-security", PASSWORD)
        users.authenticate("acme-security", "wrong password")
        users.authenticate("mallory", PASSWORD)

    text = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert PASSWORD not in text
    assert "wrong password" not in text
    assert "$argon2" not in text


# -- the users file's refusals --------------------------------------------------------------------------------


def test_an_unknown_key_is_refused_naming_the_line_the_entry_and_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.yaml", [_entry(), _entry("koganei-city", "city", passwrod="hunter22")])

    line = 1 + path.read_text(encoding="utf-8").splitlines().index("  passwrod: hunter22")

    message = _refusal(path)

    assert f"line {line}: users[1] (username 'koganei-city'): passwrod: unknown key" in message
    assert "hunter22" not in message


def test_a_malformed_password_hash_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.yaml", [_entry(password_hash="plaintext-secret-123")])

    message = _refusal(path)

    assert "users[0] (username 'acme-security'): password_hash" in message
    assert "hash-password" in message
    assert "plaintext-secret-123" not in message


def test_an_argon2i_hash_is_refused_because_argon2id_is_required(tmp_path: Path) -> None:
    argon2i = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I).hash(PASSWORD)
    path = _write(tmp_path / "users.yaml", [_entry(password_hash=argon2i)])

    message = _refusal(path)

    assert "Argon2id" in message
    assert argon2i not in message
    assert argon2i.split("$")[-1] not in message


def test_a_key_that_looks_like_a_pasted_hash_is_not_quoted(tmp_path: Path) -> None:
    pasted = CHEAP.hash(PASSWORD)
    entry = _entry()
    entry[pasted] = "oops"
    path = _write(tmp_path / "users.yaml", [entry])

    message = _refusal(path)

    assert "(a key)" in message
    assert pasted not in message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"username": "acme", "display_name": "x", "role": "contractor"}, "needs org"),
        ({"username": "city", "display_name": "x", "role": "city"}, "needs jurisdiction"),
        ({"username": "city", "display_name": "x", "role": "city", "jurisdiction": "koganei", "org": "acme"}, "org"),
        ({"username": "rev", "display_name": "x", "role": "reviewer", "jurisdiction": "koganei"}, "jurisdiction"),
        ({"username": "rev", "display_name": "x", "role": "reviewer", "contracts": []}, "contracts is empty"),
        ({"username": "rev", "display_name": "x", "role": "superuser"}, "role"),
        ({"username": "Bad Name", "display_name": "x", "role": "reviewer"}, "username: a username is 1 to 64"),
        ({"username": "rev", "display_name": "", "role": "reviewer"}, "display_name"),
        ({"username": "rev", "display_name": "x", "role": "reviewer", "lang": "fr"}, "lang"),
        ({"display_name": "x", "role": "reviewer"}, "username: Field required"),
    ],
)
def test_an_entry_that_does_not_fit_its_role_or_shape_is_refused(
    tmp_path: Path, entry: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path / "users.yaml", [{**entry, "password_hash": CHEAP.hash(PASSWORD)}])

    message = _refusal(path)

    assert "users[0]" in message
    assert expected in message
    assert "$argon2" not in message


def test_a_username_that_appears_twice_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.yaml", [_entry(), _entry("acme-security", "reviewer")])

    message = _refusal(path)

    assert "'acme-security' appears twice" in message
    assert "users[1]" in message


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    assert "unknown key" in _refusal(_write(tmp_path / "users.yaml", {"users": [_entry()], "admins": []}))


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("- just a list\n", encoding="utf-8")

    assert "YAML mapping" in _refusal(path)


def test_invalid_yaml_is_refused_with_its_position_and_without_quoting_the_text(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text('users:\n  - username: a\n    password_hash: "$argon2id$secret\n', encoding="utf-8")

    message = _refusal(path)

    assert "not valid YAML at line" in message
    assert "secret" not in message


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    message = _refusal(tmp_path / "absent.yaml")

    assert "no users file" in message
    assert "hash-password" in message


def test_loading_a_file_readable_by_others_warns(users_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    users_file.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="kinkyu.console.users"):
        UserDirectory.load(users_file, hasher=CHEAP)

    assert any("chmod 600" in r.getMessage() for r in caplog.records)


# -- reloading --------------------------------------------------------------------------------------------------


def test_an_unchanged_file_is_not_reloaded(users_file: Path) -> None:
    assert not UserDirectory.load(users_file, hasher=CHEAP).reload_if_changed()


def test_an_edit_is_picked_up_without_a_restart(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)

    _write(users_file, [_entry(), _entry("toyota-city", "city", jurisdiction="toyota")])

    assert users.reload_if_changed()
    assert users.get("toyota-city") is not None
    assert users.get("koganei-city") is None  # removed users are refused at their next request
    assert not users.reload_if_changed()


def test_a_broken_edit_keeps_the_old_users_and_warns_once_without_secrets(
    users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)
    _write(users_file, [_entry(), _entry("new-user", "reviewer", password_hash="not-a-hash-secret")])

    with caplog.at_level(logging.WARNING, logger="kinkyu.console.users"):
        assert not users.reload_if_changed()
        assert not users.reload_if_changed()

    assert users.get("koganei-city") is not None
    assert users.get("new-user") is None
    assert users.authenticate("acme-security", PASSWORD) is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = f"{warnings[0].getMessage()} {vars(warnings[0])}"
    assert "users[1] (username 'new-user'): password_hash" in text
    assert "not-a-hash-secret" not in text
    assert "$argon2" not in text


def test_fixing_a_broken_edit_brings_the_new_users_in(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)
    _write(users_file, [_entry(password_hash="broken")])
    assert not users.reload_if_changed()

    _write(users_file, [_entry(), _entry("new-user", "reviewer")])

    assert users.reload_if_changed()
    assert users.get("new-user") is not None


def test_a_removed_file_keeps_the_old_users(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)
    users_file.unlink()

    assert not users.reload_if_changed()
    assert users.get("acme-security") is not None


# -- demo users --------------------------------------------------------------------------------------------------


def test_demo_users_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "console" / "users.yaml"

    write_demo_users(path, hasher=CHEAP)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["users.yaml"]  # no temporary file left behind


def test_demo_users_give_one_login_per_role(tmp_path: Path) -> None:
    logins = write_demo_users(tmp_path / "users.yaml", hasher=CHEAP)

    assert {role: name for role, (name, _) in logins.items()} == {
        "contractor": "acme-security",
        "city": "koganei-city",
        "reviewer": "reviewer",
        "admin": "admin",
    }


def test_every_demo_login_signs_in_with_its_scope(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    logins = write_demo_logins(path, hasher=CHEAP)
    users = UserDirectory.load(path, hasher=CHEAP)

    signed_in = {login.username: users.authenticate(login.username, login.password) for login in logins}

    assert {name: (u.role, u.org, u.jurisdiction) for name, u in signed_in.items() if u is not None} == {
        "acme-security": ("contractor", "acme", None),
        "koganei-city": ("city", None, "koganei"),
        "toyota-city": ("city", None, "toyota"),
        "reviewer": ("reviewer", None, None),
        "admin": ("admin", None, None),
    }


def test_demo_passwords_are_random_and_stored_only_as_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    first = write_demo_logins(path, hasher=CHEAP)
    second = write_demo_logins(path, hasher=CHEAP)
    text = path.read_text(encoding="utf-8")

    assert {login.password for login in first}.isdisjoint(login.password for login in second)
    assert len({login.password for login in second}) == 5
    assert all(len(login.password) >= 16 for login in second)
    assert not any(login.password in text for login in second)
    assert text.count("$argon2id$") == 5


def test_a_demo_login_does_not_show_its_password_in_repr() -> None:
    assert "s3cret-pass" not in repr(DemoLogin("admin", "admin", "s3cret-pass"))


def test_demo_users_file_that_cannot_be_written_is_a_user_file_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(UserFileError, match="cannot write"):
        write_demo_users(blocker / "users.yaml", hasher=CHEAP)


def test_logins_on_other_threads_never_see_half_a_reload(users_file: Path) -> None:
    users = UserDirectory.load(users_file, hasher=CHEAP)
    variants = [[_entry()], [_entry(), _entry("toyota-city", "city", jurisdiction="toyota")]]
    stop = threading.Event()
    failures: list[BaseException | None] = []

    def login() -> None:
        while not stop.is_set():
            try:
                if users.authenticate("acme-security", PASSWORD) is None:
                    failures.append(None)
            except BaseException as exc:  # noqa: BLE001 - any error on the login thread fails the test
                failures.append(exc)

    thread = threading.Thread(target=login)
    thread.start()
    try:
        for i in range(40):
            _write(users_file, variants[i % 2])
            assert users.reload_if_changed()
    finally:
        stop.set()
        thread.join()

    assert failures == []
