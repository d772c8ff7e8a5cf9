"""Console users: the users file, password hashes (Argon2id) and authentication.

The users file is YAML, ``{users: [...]}``, one entry per login, validated
strictly (unknown keys are refused). Passwords are stored only as Argon2id
PHC strings made by argon2-cffi's :class:`~argon2.PasswordHasher` with the
library's default parameters; ``kinkyu console hash-password`` (through
:func:`hash_password`) makes them.

Tests pass a cheap hasher (``PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)``)
wherever a ``hasher`` is accepted; production code leaves it out and gets the default.

Nothing here logs or raises with a password or a hash in it: errors name the
file, the line, the user entry (by username) and the key.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from argon2 import PasswordHasher, extract_parameters
from argon2 import Type as Argon2Type
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from kinkyu.console.exceptions import PasswordPolicyError, UserFileError

log = logging.getLogger(__name__)

Role = Literal["contractor", "city", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("contractor", "city", "reviewer", "admin")

USERNAME_PATTERN = r"^[a-z0-9._-]{1,64}$"
_USERNAME_RE = re.compile(USERNAME_PATTERN)
MIN_PASSWORD_LENGTH = 8
# Argon2 pre-hashes any length, but a megabyte "password" is a cheap way to burn server time.
MAX_PASSWORD_LENGTH = 1024

_FILE_MODE = 0o600
_DIR_MODE = 0o700

_default_hasher = PasswordHasher()  # argon2-cffi's defaults (Argon2id, RFC 9106 low-memory profile)


def default_hasher() -> PasswordHasher:
    """The production hasher: argon2-cffi's :class:`PasswordHasher` with the library's default parameters."""
    return _default_hasher


def _encodable(password: str) -> bool:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """An Argon2id PHC string for ``password``, for the users file (``kinkyu console hash-password``).

    Raises :class:`PasswordPolicyError` for a password shorter than
    :data:`MIN_PASSWORD_LENGTH` or longer than :data:`MAX_PASSWORD_LENGTH` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    if not _encodable(password):
        raise PasswordPolicyError("the password is not valid text (it holds a lone surrogate); type it again")
    return (hasher or _default_hasher).hash(password)


# -- the file's shape -------------------------------------------------------------------------------------

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class UserRecord(BaseModel):
    """One entry of the users file (a login), as written by an administrator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: Username
    display_name: NonEmpty
    role: Role
    password_hash: str = Field(repr=False)
    org: NonEmpty | None = None
    jurisdiction: NonEmpty | None = None
    contracts: list[NonEmpty] | None = None
    lang: Literal["ja", "en"] = "ja"

    @field_validator("password_hash")
    @classmethod
    def _argon2id(cls, value: str) -> str:
        # The message must not quote the value: it is the one secret-adjacent thing in the file.
        hint = "make one with `kinkyu console hash-password`"
        try:
            params = extract_parameters(value)
        except InvalidHashError:
            raise ValueError(f"not an Argon2id hash in PHC form; {hint}") from None
        if params.type is not Argon2Type.ID:
            raise ValueError(f"an Argon2id hash is required (this one is another Argon2 variant); {hint}")
        return value

    @model_validator(mode="after")
    def _scope_fits_role(self) -> Self:
        if self.role == "contractor" and self.org is None:
            raise ValueError("a contractor user needs org (the contract's contractor.org, e.g. acme)")
        if self.role == "city" and self.jurisdiction is None:
            raise ValueError("a city user needs jurisdiction (the contract's jurisdiction, e.g. koganei)")
        if self.org is not None and self.role != "contractor":
            raise ValueError("org applies only to contractor users; use contracts to narrow other roles")
        if self.jurisdiction is not None and self.role != "city":
            raise ValueError("jurisdiction applies only to city users; use contracts to narrow other roles")
        if self.contracts is not None and not self.contracts:
            raise ValueError("contracts is empty, which would allow no contract; leave it out to allow every one")
        return self


class UsersFile(BaseModel):
    """The users file: ``{users: [UserRecord, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    users: list[UserRecord]


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person as the console sees them: identity, role and scope; no password hash."""

    username: str
    display_name: str
    role: Role
    org: str | None = None
    jurisdiction: str | None = None
    contracts: frozenset[str] | None = None
    lang: Literal["ja", "en"] = "ja"

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        """The user an entry of the users file describes."""
        return cls(
            username=record.username,
            display_name=record.display_name,
            role=record.role,
            org=record.org,
            jurisdiction=record.jurisdiction,
            contracts=None if record.contracts is None else frozenset(record.contracts),
            lang=record.lang,
        )


# -- loading ----------------------------------------------------------------------------------------------

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_]{1,40}$")


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (the deepest one found), for error messages."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            key, node = match
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _entry_name(data: Any, index: int) -> str:
    """``users[2] (username 'x')``: names the entry without quoting anything but a well-formed username."""
    name = f"users[{index}]"
    entries = data.get("users") if isinstance(data, dict) else None
    if isinstance(entries, list) and 0 <= index < len(entries) and isinstance(entries[index], dict):
        username = entries[index].get("username")
        if isinstance(username, str) and _USERNAME_RE.match(username):
            name += f" (username {username!r})"
    return name


def _describe(exc: ValidationError, data: Any, root: yaml.Node | None) -> str:
    lines: list[tuple[int, str]] = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = tuple(err["loc"])
        parts: list[str] = []
        rest = loc
        if len(loc) >= 2 and loc[0] == "users" and isinstance(loc[1], int):  # noqa: PLR2004 - users[i]
            parts.append(_entry_name(data, loc[1]))
            rest = loc[2:]
        # A mistyped key could be anything, even a pasted hash: quote it only if it looks like a key.
        parts.extend(str(p) if isinstance(p, int) or _SAFE_KEY.match(p) else "(a key)" for p in rest)
        where = ": ".join([".".join(parts[:1]), ".".join(parts[1:])]) if len(parts) > 1 else "".join(parts)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a user entry has username, display_name, role, password_hash, org, jurisdiction, "
            msg += "contracts, lang)"
        elif err["type"] == "string_pattern_mismatch" and loc[-1:] == ("username",):
            msg = "a username is 1 to 64 characters of a-z, 0-9, '.', '_' and '-'"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        line = _node_line(root, loc)
        at = f"line {line}: " if line is not None else ""
        lines.append((line or 0, f"  {at}{where or '(top level)'}: {msg}"))
    return "\n".join(text for _, text in sorted(lines, key=lambda item: item[0]))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserFileError(
            f"{path}: no users file; add a user with `kinkyu console add-user` (or write the file with hashes from "
            "`kinkyu console hash-password`), or let `make run` create the demo users"
        ) from exc
    except OSError as exc:
        raise UserFileError(f"{path}: cannot read the users file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise UserFileError(f"{path}: not UTF-8 text") from exc


def _parse(path: Path) -> dict[str, UserRecord]:
    return _parse_text(_read(path), path)


def _parse_text(text: str, path: Path) -> dict[str, UserRecord]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UserFileError(f"{path}: not valid YAML{where}") from None  # the parser's text may quote a hash
    if not isinstance(data, dict):
        raise UserFileError(f"{path}: the users file is a YAML mapping with one key, users (a list of user entries)")
    try:
        parsed = UsersFile.model_validate(data)
    except ValidationError as exc:
        raise UserFileError(
            f"{path}: the users file has {exc.error_count()} problem(s):\n{_describe(exc, data, root)}"
        ) from None  # pydantic's own text would quote the values
    records: dict[str, UserRecord] = {}
    for index, record in enumerate(parsed.users):
        if record.username in records:
            line = _node_line(root, ("users", index))
            raise UserFileError(
                f"{path}: line {line}: users[{index}]: username {record.username!r} appears twice; usernames are unique"
            )
        records[record.username] = record
    return records


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass(frozen=True, slots=True)
class _InForce:
    records: Mapping[str, UserRecord]
    users: Mapping[str, User]

    @classmethod
    def of(cls, records: Mapping[str, UserRecord]) -> _InForce:
        return cls(dict(records), {name: User.from_record(r) for name, r in records.items()})


class UserDirectory:
    """The users in force, loaded from the users file and reloaded when it changes.

    ``hasher`` verifies passwords and makes the dummy hash that unknown
    usernames are checked against; leave it out in production (argon2-cffi's
    defaults). A reload swaps the users whole, so sessions (which hold only a
    username) survive it, and a user removed from the file is refused at the
    next request that looks them up.
    """

    def __init__(
        self,
        path: Path,
        records: Mapping[str, UserRecord],
        *,
        hasher: PasswordHasher | None = None,
        stamp: tuple[int, int, int] | None = None,
    ) -> None:
        self.path = Path(path)
        self._hasher = hasher or _default_hasher
        # One object swapped whole by a reload, so a login on another thread never sees half of each.
        self._in_force = _InForce.of(records)
        self._seen_stamp = stamp
        # Unknown usernames are verified against this so a login costs the same whether or not the name exists.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self._rehash_logged: set[str] = set()

    @classmethod
    def load(cls, path: Path, *, hasher: PasswordHasher | None = None) -> UserDirectory:
        """Load the users file; :class:`UserFileError` names the line, the user entry and the key at fault."""
        path = Path(path)
        stamp = _stamp(path)
        records = _parse(path)
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = 0
        if mode & 0o077:
            log.warning(
                "console users file is readable by other accounts; chmod 600 it",
                extra={"path": str(path), "mode": oct(mode)},
            )
        return cls(path, records, hasher=hasher, stamp=stamp)

    def __len__(self) -> int:
        return len(self._in_force.users)

    @property
    def usernames(self) -> tuple[str, ...]:
        """Every username in force, in file order."""
        return tuple(self._in_force.users)

    def get(self, username: str) -> User | None:
        """The user with this username (matched as :meth:`authenticate` does), or None (also once removed)."""
        return self._in_force.users.get(username.strip().lower())

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None.

        Does one Argon2 verification whatever the outcome (a dummy hash for an
        unknown or malformed username, or an over-long or non-text password) so the answer's
        timing does not tell which usernames exist. Usernames are matched
        case-insensitively (phones capitalise the first letter).
        """
        name = username.strip().lower()
        in_force = self._in_force
        record = in_force.records.get(name)
        unusable = len(password) > MAX_PASSWORD_LENGTH or not _encodable(password)
        stored = record.password_hash if record is not None and not unusable else self._dummy_hash
        try:
            self._hasher.verify(stored, "" if unusable else password)
        except (VerificationError, InvalidHashError):
            return None
        if record is None or unusable:
            return None  # the dummy hash's password is random and never given out; this is belt and braces
        if self._hasher.check_needs_rehash(stored) and name not in self._rehash_logged:
            self._rehash_logged.add(name)
            log.warning(
                "console user's password hash uses other Argon2 parameters than the console; make a new one with "
                "`kinkyu console hash-password` and put it in the users file",
                extra={"username": name},
            )
        return in_force.users[name]

    def needs_rehash(self, username: str) -> bool:
        """Whether this user's stored hash was made with other parameters than the hasher in use."""
        record = self._in_force.records.get(username.strip().lower())
        return record is not None and self._hasher.check_needs_rehash(record.password_hash)

    def reload_if_changed(self) -> bool:
        """Reload when the file changed (inode, mtime, size); True if new users are in force.

        A broken edit (or a removed file) keeps the previous users, logs one
        warning naming the problem (never a secret) and returns False.
        """
        stamp = _stamp(self.path)
        if stamp == self._seen_stamp:
            return False
        self._seen_stamp = stamp  # a broken edit is reported once, not on every poll
        try:
            records = _parse(self.path)
        except UserFileError as exc:
            log.warning(
                "console users file not reloaded; the previous users stay in force",
                extra={"path": str(self.path), "problem": str(exc)},
            )
            return False
        self._in_force = _InForce.of(records)
        self._rehash_logged.clear()
        log.info("console users reloaded", extra={"path": str(self.path), "users": len(records)})
        return True


# -- demo users for make run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A demo login written by :func:`write_demo_logins`; the password is left out of ``repr``."""

    username: str
    role: Role
    password: str = field(repr=False)


# (username, role, display name, scope key, scope value)
_DEMO_USERS: tuple[tuple[str, Role, str, str | None, str | None], ...] = (
    ("acme-security", "contractor", "アクメ セキュリティチーム（デモ）", "org", "acme"),
    ("koganei-city", "city", "小金井市 情報システム課（デモ）", "jurisdiction", "koganei"),
    ("toyota-city", "city", "豊田市 情報システム課（デモ）", "jurisdiction", "toyota"),
    ("reviewer", "reviewer", "監査担当（デモ）", None, None),
    ("admin", "admin", "管理者（デモ）", None, None),
)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole with mode 0600: a temporary file beside it, fsync, rename, fsync the folder."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=_DIR_MODE, parents=True)
        folder.chmod(_DIR_MODE)  # mkdir's mode is filtered by the umask
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_demo_logins(path: Path, *, hasher: PasswordHasher | None = None) -> tuple[DemoLogin, ...]:
    """Write the demo users file (replacing any) with fresh random passwords; every login, in file order.

    The file is 0600; a folder this creates is 0700 (an existing folder is left as it is).
    Raises :class:`UserFileError` when the file cannot be written.
    """
    path = Path(path)
    logins = tuple(DemoLogin(name, role, secrets.token_urlsafe(12)) for name, role, *_ in _DEMO_USERS)
    entries: list[dict[str, Any]] = []
    for (name, role, display, key, value), login in zip(_DEMO_USERS, logins, strict=True):
        entry: dict[str, Any] = {"username": name, "display_name": display, "role": role}
        if key is not None:
            entry[key] = value
        entry["password_hash"] = hash_password(login.password, hasher=hasher)
        entries.append(entry)
    header = (
        "# Demo console users written by `make run` (kinkyu.console.users.write_demo_logins).\n"
        "# The passwords were printed once when this file was made; they are stored only as Argon2id hashes.\n"
    )
    body = header + yaml.safe_dump({"users": entries}, allow_unicode=True, sort_keys=False, width=200)
    try:
        _write_private(path, body.encode("utf-8"))
    except OSError as exc:
        raise UserFileError(f"{path}: cannot write the demo users file ({exc.strerror})") from exc
    return logins


def write_demo_users(path: Path, *, hasher: PasswordHasher | None = None) -> dict[Role, tuple[str, str]]:
    """Write the demo users file; ``{role: (username, password)}``, the first login of each role.

    The city entry is ``koganei-city``; :func:`write_demo_logins` returns every
    login, ``toyota-city`` included.
    """
    out: dict[Role, tuple[str, str]] = {}
    for login in write_demo_logins(path, hasher=hasher):
        out.setdefault(login.role, (login.username, login.password))
    return out


def add_user(path: Path, record: UserRecord) -> None:
    """Append ``record`` to the users file at ``path`` (made 0600 when new), keeping what is there.

    The new entry goes at the end of the ``users`` list as written, so an
    administrator's comments stay; the whole file is validated again before it
    replaces the old one. Raises :class:`UserFileError` when the username is
    taken or the file is unusable (the message says what to fix).
    """
    path = Path(path)
    entry = record.model_dump(exclude_none=True, exclude_defaults=False)
    line = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, default_flow_style=None, width=10_000)
    if path.exists():
        text = _read(path)
        existing = _parse_text(text, path)
        if record.username in existing:
            raise UserFileError(
                f"{path}: a user {record.username!r} exists already; to change its password, replace its "
                "password_hash with one from `kinkyu console hash-password`"
            )
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        users = next(v for k, v in root.value if k.value == "users") if isinstance(root, yaml.MappingNode) else None
        if isinstance(users, yaml.SequenceNode) and not users.flow_style and users.value:
            indent = " " * users.start_mark.column  # where its first "-" stands
            # A block sequence continues with an entry at its own indentation after its last line.
            lines = text[: users.end_mark.index].rstrip("\n").splitlines()
            rest = text[users.end_mark.index :]
            new = "\n".join([*lines, *(indent + ln for ln in line.rstrip("\n").splitlines()), ""]) + rest.lstrip("\n")
        else:  # an empty or flow-style list: written anew (comments in it cannot be kept)
            records = [r.model_dump(exclude_none=True) for r in existing.values()] + [entry]
            new = yaml.safe_dump({"users": records}, allow_unicode=True, sort_keys=False, width=200)
    else:
        new = "# Console users (kinkyu console add-user). Passwords are stored only as Argon2id hashes.\nusers:\n"
        new += "".join("  " + ln + "\n" for ln in line.rstrip("\n").splitlines())
    added = _parse_text(new, path)
    if record.username not in added or len(added) != (len(_parse(path)) if path.exists() else 0) + 1:
        raise UserFileError(f"{path}: the users list could not be extended as written; add the entry by hand")
    try:
        _write_private(path, new.encode("utf-8"))
    except OSError as exc:
        raise UserFileError(f"{path}: cannot write the users file ({exc.strerror})") from exc
