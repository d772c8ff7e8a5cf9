"""Contract profiles from files: the file edge around :mod:`kinkyu.core.contract`.

A folder of ``*.yaml``/``*.yml`` files, one profile each. A profile with an
error is refused with a message naming the file, the key and the problem.
:class:`ContractFolder` notices edits so a running worker picks them up
without a restart (and without losing state).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from kinkyu.core.contract import ContractPolicy, ContractProfile
from kinkyu.exceptions import ContractError


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = (
            "unknown key (not part of a contract profile; check its spelling)"
            if err["type"] == "extra_forbidden"
            else err["msg"]
        )
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def load_profile(path: Path) -> ContractProfile:
    """Load and validate one profile file; :class:`ContractError` names the key and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read the contract profile ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(f"{path}: not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ContractError(f"{path}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{path}: a contract profile is a YAML mapping of keys (contract_id, title, …)")
    try:
        return ContractProfile.model_validate(data)
    except ValidationError as exc:
        raise ContractError(
            f"{path}: the contract profile has {exc.error_count()} problem(s):\n{_describe(exc)}"
        ) from exc


def profile_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their profile files; files stay as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in {".yaml", ".yml"} and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def load_profiles(paths: Iterable[Path]) -> dict[str, ContractProfile]:
    """Load every profile under ``paths`` (files or folders), refusing duplicate contract ids."""
    profiles: dict[str, ContractProfile] = {}
    origin: dict[str, Path] = {}
    files = profile_files(paths)
    if not files:
        raise ContractError("no contract profiles found (expected *.yaml files); pass --contract FILE or a folder")
    for f in files:
        profile = load_profile(f)
        if profile.contract_id in profiles:
            raise ContractError(
                f"{f}: contract_id {profile.contract_id!r} is already defined in {origin[profile.contract_id]}"
            )
        profiles[profile.contract_id] = profile
        origin[profile.contract_id] = f
    return profiles


def compile_profiles(profiles: dict[str, ContractProfile]) -> dict[str, ContractPolicy]:
    """Policies for the engine, by contract id."""
    return {cid: p.compile() for cid, p in profiles.items()}


@dataclass
class ContractFolder:
    """Profiles under a set of paths, reloaded when a file changes.

    A reload that fails keeps the previous profiles in force and reports the
    error: a typo in one file must not stop detection for every contract.
    """

    paths: list[Path]
    profiles: dict[str, ContractProfile] = field(default_factory=dict)
    _stamp: tuple[tuple[str, int, int], ...] = ()

    def _current_stamp(self) -> tuple[tuple[str, int, int], ...]:
        stamp = []
        for f in profile_files(self.paths):
            try:
                st = f.stat()
            except OSError:
                continue
            stamp.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def load(self) -> dict[str, ContractProfile]:
        """Load now (raises :class:`ContractError` on a bad profile)."""
        stamp = self._current_stamp()
        self.profiles = load_profiles(self.paths)
        self._stamp = stamp
        return self.profiles

    def changed(self) -> bool:
        """Whether any profile file was added, removed or edited since the last load."""
        return self._current_stamp() != self._stamp

    def reload_if_changed(self) -> bool:
        """Reload when files changed; True if new profiles are in force."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp  # a broken edit is reported once, not on every poll
        self.profiles = load_profiles(self.paths)
        return True
