"""A worker that is to seal evidence refuses to start without integrity keys (exit 3), naming the setting."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from kinkyu.evidence.exceptions import IntegrityKeyError
from kinkyu.streams.evidence_collector import evidence_collector
from kinkyu.streams.settings import Topics, WorkerSettings

EVIDENCE_KEY = base64.b64encode(bytes(range(32))).decode()
MAC_KEY = base64.b64encode(bytes(range(64, 96))).decode()
REPO = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, **changes: object) -> WorkerSettings:
    values: dict[str, object] = {"data_dir": tmp_path, "evidence_key": SecretStr(EVIDENCE_KEY)}
    values.update(changes)
    return WorkerSettings(**values)  # type: ignore[arg-type]  # field names, validated by pydantic


def test_sealing_without_integrity_keys_is_refused_saying_which_setting(tmp_path: Path) -> None:
    with pytest.raises(IntegrityKeyError, match="KINKYU_INTEGRITY_KEYS"):
        evidence_collector(_settings(tmp_path), Topics())


def test_the_integrity_key_may_not_be_the_evidence_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path, integrity_keys={"k1": SecretStr(EVIDENCE_KEY)})

    with pytest.raises(IntegrityKeyError, match="separate keys") as caught:
        evidence_collector(settings, Topics())
    assert EVIDENCE_KEY not in str(caught.value)


def test_with_integrity_keys_the_store_macs_and_anchors_on_the_prefixed_topic(tmp_path: Path) -> None:
    settings = _settings(tmp_path, integrity_keys={"k1": SecretStr(MAC_KEY)}, topic_prefix="t-")

    collector = evidence_collector(settings, settings.topics)

    assert collector.store.keyring is not None
    assert collector.store.keyring.current == "k1"
    assert collector.anchors is not None
    assert collector.anchors.topic == "t-kinkyu-anchors"


def test_kinkyu_worker_exits_3_without_integrity_keys(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "KINKYU_EVIDENCE_KEY": EVIDENCE_KEY,
        "KINKYU_DATA_DIR": str(tmp_path),
        "KINKYU_BROKER": "127.0.0.1:9",  # never reached: the settings are refused first
        "KINKYU_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "kinkyu", "worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 3, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any("KINKYU_INTEGRITY_KEYS" in line["msg"] for line in lines)
    assert EVIDENCE_KEY not in done.stderr
