"""The report's custody chain status says whether "intact" was authenticated (every MAC checked) or only hashed.

A rewrite of the custody log with its hashes recomputed keeps the hash chain
consistent: a report made without the integrity keys must not call that
改ざんなし / intact, and one made with them names the rewrite.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kinkyu.core.evidence import EvidenceItem, seal_bundle, source_of
from kinkyu.core.integrity import Keyring
from kinkyu.evidence.store import EvidenceStore
from kinkyu.reports.labels import Lang
from kinkyu.reports.model import build_report
from kinkyu.reports.render import render_markdown
from kinkyu.reports.sample import Sample, Scenario, build_sample
from kinkyu.reports.store import IncidentStore

KEYRING = Keyring({"k1": bytes(range(32))}, "k1")


@pytest.fixture
def sample() -> Sample:
    return build_sample(Scenario("koganei", origin="detection"))


def _store(root: Path, sample: Sample, keyring: Keyring | None) -> None:
    """The incident, and one bundle of its events sealed into an evidence store MAC'd with ``keyring`` (or not)."""
    IncidentStore(root).write(sample.incident_json, sample.run_json, sample.profile, facts=sample.facts)
    incident = sample.incident
    items = [
        EvidenceItem(source_of("incident-events", 0, n), event_id, b'{"sample": true}')
        for n, event_id in enumerate(incident.event_ids)
    ]
    sealed = seal_bundle(
        incident.incident_id,
        items,
        secrets.token_bytes(32),
        sealed_at=incident.first_event_ts + timedelta(minutes=1),
        sealed_by="kinkyu",
        reason="playbook evidence step",
    )
    EvidenceStore(root / "evidence", keyring=keyring).put_bundle(sealed, "kinkyu")


def _custody_text(root: Path, sample: Sample, keyring: Keyring | None, lang: Lang = "ja") -> str:
    stored = IncidentStore(root, keyring=keyring).read(sample.incident.incident_id)
    text = render_markdown(build_report(stored, kind="final", lang=lang, now=sample.now))
    label = "管理記録" if lang == "ja" else "Custody chain"
    return next(line for line in text.splitlines() if label in line)


def _rewrite_actor_and_rechain(root: Path, sample: Sample) -> None:
    """What someone with the volume and no key does: change the seal's actor, recompute every hash."""
    path = root / "evidence" / sample.incident.incident_id / "custody.jsonl"
    entries: list[dict[str, Any]] = [json.loads(x) for x in path.read_text().splitlines()]
    entries[0]["actor"] = "someone-else"
    prev = "0" * 64
    for entry in entries:
        entry["prev_hash"] = prev
        body = {k: v for k, v in entry.items() if k not in {"entry_hash", "mac"}}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        entry["entry_hash"] = prev = hashlib.sha256(canonical).hexdigest()
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_keyed_evidence_read_with_the_keys_is_intact_and_authenticated(tmp_path: Path, sample: Sample) -> None:
    _store(tmp_path, sample, KEYRING)

    line = _custody_text(tmp_path, sample, KEYRING)

    assert "改ざんのないことを確認済み" in line
    assert "当社の検証用の鍵で照合" in line


def test_keyed_evidence_read_without_the_keys_is_consistent_but_not_called_authenticated(
    tmp_path: Path, sample: Sample
) -> None:
    _store(tmp_path, sample, KEYRING)

    ja, en = _custody_text(tmp_path, sample, None), _custody_text(tmp_path, sample, None, "en")

    assert "改ざんのないことを確認済み" not in ja
    assert "検証用の鍵を用いずに作成した報告" in ja
    assert "NOT authenticated" in en
    assert "intact" not in en


def test_a_rewrite_with_hashes_recomputed_is_not_reported_intact_with_or_without_the_keys(
    tmp_path: Path, sample: Sample
) -> None:
    _store(tmp_path, sample, KEYRING)
    _rewrite_actor_and_rechain(tmp_path, sample)

    with_keys, without = _custody_text(tmp_path, sample, KEYRING), _custody_text(tmp_path, sample, None)

    assert "異常あり" in with_keys
    assert "MAC does not verify" in with_keys
    assert "改ざんのないことを確認済み" not in without
    assert "検証用の鍵を用いずに作成した報告" in without


def test_evidence_sealed_before_integrity_keys_is_called_legacy_and_unauthenticated(
    tmp_path: Path, sample: Sample
) -> None:
    _store(tmp_path, sample, None)

    ja, en = _custody_text(tmp_path, sample, KEYRING), _custody_text(tmp_path, sample, KEYRING, "en")

    assert "検証用の鍵の導入前の記録" in ja
    assert "改ざんのないことは鍵により確認されていません" in ja
    assert "recorded before integrity keys (unkeyed, legacy)" in en
