"""Keyed, anchored evidence: an insider with write access to the data volume cannot rewrite it unnoticed.

Every attack runs on a *copy* of a sealed store, the way someone with shell
access to the volume would: edit the files, recompute every SHA-256 and
re-chain the custody log. What they do not have is the integrity key (it is
configuration, not data) nor the anchors topic (the broker is another system).
The anchors topic is the in-memory one the store published to.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kinkyu.core.evidence import EvidenceItem, seal_bundle
from kinkyu.core.integrity import (
    Anchor,
    Keyring,
    keyring_from_config,
    make_anchor,
    newest_anchors,
    parse_anchor,
)
from kinkyu.core.model import JST
from kinkyu.evidence import cli as evidence_cli
from kinkyu.evidence.anchor import KafkaAnchorSource, MemoryAnchors
from kinkyu.evidence.cli import EXIT_OK, EXIT_TAMPERED, EXIT_UNKEYED, add_evidence_parser, cmd_evidence_verify
from kinkyu.evidence.exceptions import IntegrityKeyError
from kinkyu.evidence.store import EvidenceStore, VerifyReport, evidence_chain
from kinkyu.streams.broker import free_port

AES_KEY = bytes(range(32))
MAC_KEY = bytes(range(64, 96))
NEW_MAC_KEY = bytes(range(128, 160))
KEYRING = Keyring({"k1": MAC_KEY}, "k1")
INC = "INC-20261121-0001"
T0 = datetime(2026, 11, 21, 10, 5, tzinfo=JST)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _seal(tag: str, *, key: bytes = AES_KEY) -> Any:
    items = [
        EvidenceItem("access-log/0/10", f"{tag}-1", json.dumps({"event_id": f"{tag}-1", "action": "export"}).encode()),
        EvidenceItem("access-log/0/11", f"{tag}-2", json.dumps({"event_id": f"{tag}-2", "action": "login"}).encode()),
    ]
    return seal_bundle(INC, items, key, sealed_at=T0, sealed_by="kinkyu:kinkyu", reason="playbook evidence (initial)")


@pytest.fixture
def topic() -> MemoryAnchors:
    return MemoryAnchors()


@pytest.fixture
def sealed(tmp_path: Path, topic: MemoryAnchors) -> Path:
    """A store as the worker leaves it: two bundles, a view and a verification, each entry anchored."""
    store = EvidenceStore(tmp_path / "original", clock=Clock(), keyring=KEYRING, on_append=topic.offer)
    a, b = _seal("a"), _seal("b")
    store.put_bundle(a, "kinkyu:kinkyu")
    store.put_bundle(b, "kinkyu:kinkyu")
    store.view(INC, a.bundle_id, AES_KEY, "auditor")
    store.verify(INC, AES_KEY, actor="auditor")
    return store.root


def _copy(root: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(root, target)
    return target


def _verify(root: Path, topic: MemoryAnchors | None, keyring: Keyring | None = KEYRING) -> VerifyReport:
    """Verify as a reviewer would: another process (a restart), the keys from configuration, the anchors read."""
    anchors = newest_anchors(topic.records) if topic is not None else None
    return EvidenceStore(root, keyring=keyring).verify(INC, AES_KEY, anchors=anchors)


# -- what an insider does: edit, recompute every hash, re-chain ---------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class Volume:
    """The incident folder of a copied store, with the tools of someone who can write it but holds no key."""

    def __init__(self, root: Path) -> None:
        self.folder = root / INC
        self.custody_path = self.folder / "custody.jsonl"
        self.entries: list[dict[str, Any]] = [json.loads(x) for x in self.custody_path.read_text().splitlines()]

    def manifest_path(self, bundle_id: str) -> Path:
        return self.folder / "bundles" / f"{bundle_id}.manifest.json"

    def bundle_ids(self) -> list[str]:
        return [e["bundle_id"] for e in self.entries if e["action"] == "sealed"]

    def edit_manifest(self, bundle_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Edit a manifest and record its new SHA-256 in its sealed entry, as the verifier would look for it."""
        path = self.manifest_path(bundle_id)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        content = {k: v for k, v in data.items() if k not in {"mac", "mac_key_id"}}
        for entry in self.entries:
            if entry["action"] == "sealed" and entry["bundle_id"] == bundle_id:
                entry["detail"]["manifest_sha256"] = _sha(_canonical(content))

    def delete_bundle(self, bundle_id: str) -> None:
        for suffix in (".bin", ".manifest.json"):
            (self.folder / "bundles" / f"{bundle_id}{suffix}").unlink()
        self.entries = [e for e in self.entries if e["bundle_id"] != bundle_id]

    def rechain(self, *, strip_macs: bool = False) -> None:
        """Renumber from 1 and recompute every prev_hash and entry_hash: the chain is consistent again."""
        prev = "0" * 64
        for seq, entry in enumerate(self.entries, 1):
            entry["seq"] = seq
            entry["prev_hash"] = prev
            if strip_macs:
                entry.pop("mac", None)
                entry.pop("key_id", None)
                entry["detail"].pop("manifest_mac", None)
            body = {k: v for k, v in entry.items() if k not in {"entry_hash", "mac"}}
            entry["entry_hash"] = prev = _sha(_canonical(body))
        if strip_macs:
            for bundle_id in self.bundle_ids():
                path = self.manifest_path(bundle_id)
                if path.exists():
                    data = json.loads(path.read_text())
                    data.pop("mac", None)
                    data.pop("mac_key_id", None)
                    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def save(self) -> None:
        self.custody_path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in self.entries))


def _tampered(report: VerifyReport, *expected: str) -> None:
    assert report.status == "tampered"
    text = "\n".join(report.problems)
    for fragment in expected:
        assert fragment in text


# -- the rewrites the issue tried, now caught -----------------------------------------------------------------


def test_an_untouched_copy_verifies_as_intact_and_authenticated(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    report = _verify(_copy(sealed, tmp_path), topic)

    assert report.status == "intact"
    assert report.chain.authentication == "keyed"
    assert report.anchor.state.value == "matches"


def test_a_seals_actor_and_time_rewritten_with_hashes_recomputed_is_named(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries[0]["actor"] = "someone-else"
    vol.entries[0]["at"] = (T0 - timedelta(days=1)).isoformat()
    vol.rechain()
    vol.save()

    _tampered(_verify(vol.folder.parent, topic), "custody.jsonl: entry 1: MAC does not verify")


@pytest.mark.parametrize(
    ("field", "value"),
    [("sealed_by", "contractor-admin"), ("sealed_at", "2026-11-22T00:00:00+09:00"), ("reason", "routine backup")],
)
def test_a_manifest_rewritten_with_its_recorded_hash_recomputed_is_named(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path, field: str, value: str
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    first = vol.bundle_ids()[0]
    vol.edit_manifest(first, lambda m: m.__setitem__(field, value))
    vol.rechain()
    vol.save()

    _tampered(
        _verify(vol.folder.parent, topic),
        f"bundles/{first}.manifest.json: MAC does not verify (the manifest was edited)",
        "custody.jsonl: entry 1: MAC does not verify",
    )


def test_deleting_the_first_of_two_bundles_and_re_chaining_is_named(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.delete_bundle(vol.bundle_ids()[0])
    vol.rechain()
    vol.save()

    _tampered(_verify(vol.folder.parent, topic), "entry 1: MAC does not verify", "anchor outside the volume")


def test_deleting_a_bundle_and_stripping_every_mac_is_caught_by_the_anchor(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.delete_bundle(vol.bundle_ids()[0])
    vol.rechain(strip_macs=True)
    vol.save()

    report = _verify(vol.folder.parent, topic)

    _tampered(report, "records seq 4")
    assert report.anchor.state.value == "mismatch"


def test_stripping_every_mac_without_the_anchor_is_unkeyed_never_intact(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries[0]["actor"] = "someone-else"
    vol.rechain(strip_macs=True)
    vol.save()

    report = _verify(vol.folder.parent, None)

    assert report.status == "unkeyed"
    assert not report.ok


def test_a_keyed_manifest_beside_an_unkeyed_custody_entry_is_a_stripped_mac(sealed: Path, tmp_path: Path) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    for entry in vol.entries:
        entry.pop("mac")
        entry.pop("key_id")
    vol.rechain()
    vol.save()

    report = _verify(vol.folder.parent, None)  # even offline: the manifests' MACs remain

    _tampered(report, "carries a MAC but its 'sealed' custody entry 1 does not")


def test_a_manifest_whose_mac_was_removed_is_named(sealed: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    first = vol.bundle_ids()[0]

    def strip(manifest: dict[str, Any]) -> None:
        del manifest["mac"], manifest["mac_key_id"]

    vol.edit_manifest(first, strip)
    vol.save()

    _tampered(_verify(vol.folder.parent, topic), f"bundles/{first}.manifest.json: has no MAC although")


def test_an_unkeyed_entry_after_keyed_ones_is_a_removed_mac(sealed: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries[-1].pop("mac")
    vol.entries[-1].pop("key_id")
    vol.rechain()
    vol.save()

    _tampered(_verify(vol.folder.parent, topic), "entry 4: has no MAC although earlier entries do")


def test_reordered_entries_re_chained_are_named(sealed: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries[0], vol.entries[1] = vol.entries[1], vol.entries[0]
    vol.rechain()
    vol.save()

    _tampered(_verify(vol.folder.parent, topic), "entry 1: MAC does not verify", "entry 2: MAC does not verify")


def test_cutting_the_newest_entries_off_is_caught_by_the_anchor(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries = vol.entries[:2]  # the view and the verification vanish; what is left is a valid chain
    vol.save()

    report = _verify(vol.folder.parent, topic)

    _tampered(report, "custody.jsonl ends at seq 2, but the anchor outside the volume records seq 4")


def test_replacing_the_custody_log_with_an_older_copy_is_caught_by_the_anchor(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    older = _copy(sealed, tmp_path, "older")
    store = EvidenceStore(sealed, clock=Clock(), keyring=KEYRING, on_append=topic.offer)
    store.record_access(INC, "auditor", "exported", detail={"to": "city-audit"})
    shutil.copy(older / INC / "custody.jsonl", sealed / INC / "custody.jsonl")

    _tampered(_verify(sealed, topic), "records seq 5")


def test_deleting_the_whole_incident_folder_is_reported_not_unknown(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    copy = _copy(sealed, tmp_path)
    shutil.rmtree(copy / INC)

    _tampered(_verify(copy, topic), f"the evidence folder of {INC} is missing", "it was deleted")


def test_an_anchor_forged_without_the_key_is_ignored(sealed: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries = vol.entries[:2]
    vol.save()
    without_the_key = Keyring({"k1": bytes(32)}, "k1")
    forged = make_anchor(evidence_chain(INC), 2, vol.entries[1]["entry_hash"], T0 + timedelta(hours=1), without_the_key)

    assert parse_anchor(forged.to_bytes(), KEYRING) is None  # the topic's reader drops it
    _tampered(_verify(vol.folder.parent, topic), "records seq 4")


def test_an_older_anchor_replayed_onto_the_topic_does_not_move_it_back(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries = vol.entries[:2]
    vol.save()
    topic.records.append(next(a for a in topic.records if a.seq == 2))  # replayed later on the topic

    _tampered(_verify(vol.folder.parent, topic), "records seq 4")


# -- keys: rotation, legacy, configuration -----------------------------------------------------------------------


def test_after_rotation_every_configured_key_verifies_what_it_signed(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    rotated = Keyring({"k1": MAC_KEY, "k2": NEW_MAC_KEY}, "k2")
    EvidenceStore(sealed, clock=Clock(), keyring=rotated, on_append=topic.offer).put_bundle(_seal("c"), "kinkyu")
    entries = Volume(sealed).entries

    assert [e["key_id"] for e in entries] == ["k1", "k1", "k1", "k1", "k2"]
    assert _verify(sealed, topic, rotated).status == "intact"
    only_new = _verify(sealed, None, Keyring({"k2": NEW_MAC_KEY}, "k2"))
    assert only_new.status == "wrong-key"
    assert any("integrity key id k1, not configured here" in p for p in only_new.key_problems)


def test_evidence_sealed_before_keys_is_unkeyed_legacy_clearly_labelled(tmp_path: Path) -> None:
    legacy = EvidenceStore(tmp_path / "legacy", clock=Clock())  # as every store was before this change
    legacy.put_bundle(_seal("a"), "kinkyu")

    report = _verify(legacy.root, None)

    assert report.status == "unkeyed"
    assert report.chain.authentication == "legacy"
    assert not report.ok
    assert report.problems == ()


def test_keyed_entries_after_a_legacy_prefix_leave_the_prefix_labelled_legacy(tmp_path: Path) -> None:
    root = tmp_path / "upgraded"
    EvidenceStore(root, clock=Clock()).put_bundle(_seal("a"), "kinkyu")
    EvidenceStore(root, clock=Clock(), keyring=KEYRING).put_bundle(_seal("b"), "kinkyu")

    report = _verify(root, None)

    assert report.status == "unkeyed"  # the old entry is not vouched for by the new key
    assert report.chain.unkeyed == 1


def test_keyed_evidence_without_the_integrity_keys_cannot_be_checked(sealed: Path) -> None:
    report = EvidenceStore(sealed).verify(INC, AES_KEY)

    assert report.status == "wrong-key"
    assert any("no integrity keys are configured here" in p for p in report.key_problems)


def test_the_integrity_key_must_not_be_the_encryption_key() -> None:
    secret = base64.b64encode(AES_KEY).decode()

    with pytest.raises(IntegrityKeyError, match="evidence encryption key") as caught:
        keyring_from_config({"k1": secret}, None, separate_from=[AES_KEY])
    assert secret not in str(caught.value)


def test_several_keys_need_the_current_key_id_and_a_short_key_is_refused() -> None:
    keys = {"a": base64.b64encode(MAC_KEY).decode(), "b": base64.b64encode(NEW_MAC_KEY).decode()}

    with pytest.raises(IntegrityKeyError, match="KINKYU_INTEGRITY_KEY_ID"):
        keyring_from_config(keys, None)
    assert keyring_from_config(keys, "b") == Keyring({"a": MAC_KEY, "b": NEW_MAC_KEY}, "b")
    with pytest.raises(IntegrityKeyError, match="16 bytes"):
        keyring_from_config({"a": base64.b64encode(b"x" * 16).decode()}, None)
    assert keyring_from_config({}, None) is None


def test_a_keyring_never_shows_its_keys() -> None:
    assert MAC_KEY.hex() not in repr(KEYRING)
    assert str(list(MAC_KEY)) not in repr(KEYRING)


# -- the command line ----------------------------------------------------------------------------------------------


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kinkyu")
    add_evidence_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, topic: MemoryAnchors) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KINKYU_EVIDENCE_KEY", base64.b64encode(AES_KEY).decode())
    monkeypatch.setenv("KINKYU_INTEGRITY_KEYS", json.dumps({"k1": base64.b64encode(MAC_KEY).decode()}))
    monkeypatch.delenv("KINKYU_INTEGRITY_KEY_ID", raising=False)
    monkeypatch.setattr(evidence_cli, "anchor_source", lambda _settings, _keyring: topic)
    return monkeypatch


def test_cli_exits_6_for_a_rewrite_and_names_it(
    env: pytest.MonkeyPatch, sealed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vol = Volume(_copy(sealed, tmp_path))
    vol.entries[0]["actor"] = "someone-else"
    vol.rechain()
    vol.save()

    code = cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(vol.folder.parent)]))

    out = capsys.readouterr().out
    assert code == EXIT_TAMPERED
    assert "TAMPERED" in out
    assert "ALTERED custody.jsonl: entry 1: MAC does not verify" in out


def test_cli_says_what_it_checked_for_an_intact_store(
    env: pytest.MonkeyPatch, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(sealed)])) == EXIT_OK

    out = capsys.readouterr().out
    assert "INTACT (authenticated by the integrity keys)" in out
    assert "integrity: keyed (key ids k1)" in out
    assert "anchor outside the volume: matches (seq 4)" in out


def test_cli_exits_8_for_legacy_evidence_and_labels_it(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = EvidenceStore(tmp_path / "legacy", clock=Clock())
    legacy.put_bundle(_seal("a"), "kinkyu")

    code = cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(legacy.root)]))

    captured = capsys.readouterr()
    assert code == EXIT_UNKEYED
    assert "UNKEYED (legacy): nothing found altered, but not authenticated" in captured.out
    assert "anchor outside the volume: none published" in captured.out
    assert "not authenticated" in captured.err


def test_cli_without_the_anchor_says_so(
    env: pytest.MonkeyPatch, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(sealed), "--no-anchor"]))

    assert code == EXIT_OK
    assert "anchor outside the volume: not checked (entries cut off the end could not be noticed)" in (
        capsys.readouterr().out
    )


def test_cli_exits_4_when_the_anchors_cannot_be_read(
    env: pytest.MonkeyPatch, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("KINKYU_BROKER", f"127.0.0.1:{free_port()}")  # nothing listens there
    env.setattr(  # the real reader, giving up soon
        evidence_cli,
        "anchor_source",
        lambda settings, keyring: KafkaAnchorSource(settings.bootstrap, "anchors", keyring, timeout=2),
    )

    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(sealed)])) == 4
    assert "--no-anchor" in capsys.readouterr().err


def test_cli_refuses_malformed_integrity_keys_without_echoing_them(
    env: pytest.MonkeyPatch, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("KINKYU_INTEGRITY_KEYS", '{"k1": "c2VjcmV0LXNob3J0"}')

    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(sealed)])) == 3
    err = capsys.readouterr().err
    assert "integrity key k1" in err
    assert "c2VjcmV0LXNob3J0" not in err


# -- fuzz: flips and rewrites at random places, every one detected --------------------------------------------


def _flip(vol: Volume, rng: random.Random) -> str:
    files = sorted(p for p in vol.folder.rglob("*") if p.is_file())
    path = rng.choice(files)
    data = bytearray(path.read_bytes())
    at = rng.randrange(len(data))
    data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return f"flip {path.name}@{at}"


_ENTRY_FIELDS = ("actor", "at", "action", "detail", "bundle_id", "key_id")
_MANIFEST_FIELDS = ("sealed_by", "sealed_at", "reason", "key_id", "cipher", "plaintext_sha256", "items")


def _other(value: Any, rng: random.Random) -> Any:
    if isinstance(value, str) and value.endswith("+09:00"):
        return (datetime.fromisoformat(value) - timedelta(minutes=rng.randint(1, 600))).isoformat()
    if isinstance(value, dict):
        return {**value, "items": rng.randint(0, 9), "to": "elsewhere"}
    if isinstance(value, list):
        return value[:-1] if value else [{"event_id": "x", "sha256": "0" * 64, "source": "access-log/0/1"}]
    return f"{value}-{rng.randrange(1000)}"


def _rewrite_entry(vol: Volume, rng: random.Random) -> str:
    entry = rng.choice(vol.entries)
    name = rng.choice(_ENTRY_FIELDS)
    entry[name] = _other(entry.get(name), rng)
    strip = rng.random() < 0.3
    vol.rechain(strip_macs=strip)
    vol.save()
    return f"rewrite entry {entry['seq']} {name}{' and strip MACs' if strip else ''}"


def _rewrite_manifest(vol: Volume, rng: random.Random) -> str:
    bundle_id = rng.choice(vol.bundle_ids())
    name = rng.choice(_MANIFEST_FIELDS)

    def change(m: dict[str, Any]) -> None:
        m[name] = _other(m[name], rng)
        if name == "items":
            m["item_count"] = len(m["items"])

    vol.edit_manifest(bundle_id, change)
    strip = rng.random() < 0.3
    vol.rechain(strip_macs=strip)
    vol.save()
    return f"rewrite manifest {name}{' and strip MACs' if strip else ''}"


def _delete_entry(vol: Volume, rng: random.Random) -> str:
    n = rng.randrange(len(vol.entries))
    del vol.entries[n]
    vol.rechain(strip_macs=rng.random() < 0.3)
    vol.save()
    return f"delete entry {n + 1}"


def _reorder(vol: Volume, rng: random.Random) -> str:
    i, j = rng.sample(range(len(vol.entries)), 2)
    vol.entries[i], vol.entries[j] = vol.entries[j], vol.entries[i]
    vol.rechain(strip_macs=rng.random() < 0.3)
    vol.save()
    return f"swap entries {i + 1} and {j + 1}"


def _truncate(vol: Volume, rng: random.Random) -> str:
    keep = rng.randrange(len(vol.entries))
    vol.entries = vol.entries[:keep]
    vol.save()
    return f"keep {keep} entries"


def _delete_bundle(vol: Volume, rng: random.Random) -> str:
    bundle_id = rng.choice(vol.bundle_ids())
    vol.delete_bundle(bundle_id)
    vol.rechain(strip_macs=rng.random() < 0.3)
    vol.save()
    return f"delete bundle {bundle_id}"


_MUTATIONS = (
    _flip,
    _flip,
    _flip,
    _rewrite_entry,
    _rewrite_manifest,
    _delete_entry,
    _reorder,
    _truncate,
    _delete_bundle,
)


def test_fuzz_every_flip_and_rewrite_at_random_places_is_detected(
    sealed: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    rng = random.Random(16)  # reproducible places, not secrets
    missed: list[str] = []
    kinds: Counter[str] = Counter()
    for n in range(150):
        vol = Volume(_copy(sealed, tmp_path, f"fuzz-{n}"))
        what = rng.choice(_MUTATIONS)(vol, rng)
        kinds[what.split()[0]] += 1
        if _verify(vol.folder.parent, topic).status == "intact":
            missed.append(what)
        shutil.rmtree(vol.folder.parent)

    assert missed == [], f"undetected: {missed}"
    assert kinds.total() >= 100
    assert set(kinds) == {"flip", "rewrite", "delete", "swap", "keep"}  # every kind of attack was tried


def test_anchors_are_chain_heads_macd_and_carry_no_content(sealed: Path, topic: MemoryAnchors) -> None:
    anchor: Anchor = newest_anchors(topic.records)[evidence_chain(INC)]

    assert anchor.seq == 4
    assert set(json.loads(anchor.to_bytes())) == {"format", "chain", "seq", "head", "at", "key_id", "mac"}
    assert parse_anchor(anchor.to_bytes(), KEYRING) == anchor


def test_a_worker_finding_its_custody_log_cut_records_the_break_before_sealing_on(
    sealed: Path, topic: MemoryAnchors
) -> None:
    vol = Volume(sealed)
    vol.entries = vol.entries[:2]  # cut while the worker was stopped
    vol.save()
    worker = EvidenceStore(sealed, clock=Clock(), keyring=KEYRING, on_append=topic.offer, anchored=topic.known)

    worker.put_bundle(_seal("c"), "kinkyu:kinkyu")
    worker.record_access(INC, "auditor", "viewed", vol.bundle_ids()[0])
    worker.record_access(INC, "auditor", "exported")

    report = _verify(sealed, topic)  # the topic's newest head is now the worker's own: the anchor matches
    assert report.anchor.state.value == "matches"
    _tampered(report, "entry 3: when it was written the log did not hold the head anchored outside the volume (seq 4")
    assert [e["action"] for e in Volume(sealed).entries][2:4] == ["chain_break", "sealed"]
