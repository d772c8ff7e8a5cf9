"""make run keeps its demo keys in var/ (0600) and reuses them, so its evidence verifies after the run."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from kinkyu.evidence.demo_keys import DEMO_KEYS, demo_keys
from kinkyu.evidence.exceptions import EvidenceKeyError
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.streams.evidence_collector import evidence_collector
from kinkyu.streams.runner import _demo_keys
from kinkyu.streams.settings import WorkerSettings


def test_the_demo_keys_are_written_0600_once_and_reused(tmp_path: Path) -> None:
    first, path = demo_keys(tmp_path)
    again, _ = demo_keys(tmp_path)

    assert path == tmp_path / DEMO_KEYS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again == first
    assert first.evidence_key not in repr(first)


def test_the_keys_file_can_be_sourced_as_settings(tmp_path: Path) -> None:
    keys, path = demo_keys(tmp_path)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]

    values = {name: value.strip("'") for name, _, value in (line.partition("=") for line in lines)}

    assert values == keys.env()
    assert orjson.loads(values["KINKYU_INTEGRITY_KEYS"]) == {keys.key_id: keys.integrity_key}


def test_kinkyu_run_seals_with_the_demo_keys_unless_the_environment_sets_them(tmp_path: Path) -> None:
    settings, how = _demo_keys(WorkerSettings(data_dir=tmp_path))
    keys, path = demo_keys(tmp_path)

    assert settings.evidence_key is not None
    assert settings.evidence_key.get_secret_value() == keys.evidence_key
    assert integrity_keyring(settings.integrity_keys, settings.integrity_key_id) is not None
    assert str(path) in how
    assert "--no-anchor" in how
    evidence_collector(settings, settings.topics)  # a worker with these settings seals

    own = WorkerSettings(
        data_dir=tmp_path / "other",
        evidence_key=SecretStr(keys.evidence_key),
        integrity_keys={"mine": SecretStr(keys.integrity_key)},
    )
    assert _demo_keys(own)[0] is own
    assert not (tmp_path / "other" / DEMO_KEYS).exists()


def test_a_damaged_keys_file_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    (tmp_path / DEMO_KEYS).write_text("KINKYU_EVIDENCE_KEY='x'\n")

    with pytest.raises(EvidenceKeyError, match="delete it to start afresh"):
        demo_keys(tmp_path)
