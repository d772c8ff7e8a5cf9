"""The evidence store on disk and ``kinkyu evidence``: idempotent puts, append-only custody, tamper reports."""

from __future__ import annotations

import argparse
import base64
import json
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kinkyu.core.evidence import EvidenceItem, SealedBundle, key_id, seal_bundle
from kinkyu.core.integrity import Keyring
from kinkyu.core.model import JST
from kinkyu.evidence import cli as evidence_cli
from kinkyu.evidence.anchor import MemoryAnchors
from kinkyu.evidence.cli import (
    EXIT_CONFIG,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TAMPERED,
    add_evidence_parser,
    cmd_evidence,
    cmd_evidence_verify,
)
from kinkyu.evidence.exceptions import EvidenceKeyError, EvidenceNotFoundError, EvidenceTamperedError
from kinkyu.evidence.store import EvidenceStore

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
MAC_KEY = bytes(range(100, 132))
KEYRING = Keyring({"k1": MAC_KEY}, "k1")
INC = "INC-20261121-0001"
T0 = datetime(2026, 11, 21, 10, 5, tzinfo=JST)
NAME = "山田太郎"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _items(tag: str) -> list[EvidenceItem]:
    detail = json.dumps({"event_id": f"{tag}-1", "details": f"{NAME} 小金井市本町"}, ensure_ascii=False).encode()
    return [
        EvidenceItem("incident-events/0/7", f"{tag}-1", detail),
        EvidenceItem("access-log/0/1234", f"{tag}-2", b'{"event_id": "x", "action": "export"}'),
    ]


def _seal(tag: str = "a", *, key: bytes = KEY, incident: str = INC) -> SealedBundle:
    return seal_bundle(incident, _items(tag), key, sealed_at=T0, sealed_by="kinkyu", reason="incident opened")


@pytest.fixture
def topic() -> MemoryAnchors:
    """The anchors topic, in memory."""
    return MemoryAnchors()


@pytest.fixture
def store(tmp_path: Path, topic: MemoryAnchors) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", clock=Clock(), keyring=KEYRING, on_append=topic.offer)


def _filled(store: EvidenceStore) -> tuple[SealedBundle, SealedBundle]:
    a, b = _seal("a"), _seal("b")
    store.put_bundle(a, "kinkyu")
    store.put_bundle(b, "kinkyu")
    return a, b


def _folder(store: EvidenceStore) -> Path:
    return store.incident_dir(INC)


def _custody_lines(store: EvidenceStore) -> list[str]:
    return (_folder(store) / "custody.jsonl").read_text().splitlines()


def _write_custody_lines(store: EvidenceStore, lines: list[str]) -> None:
    assert lines != _custody_lines(store)
    (_folder(store) / "custody.jsonl").write_text("".join(line + "\n" for line in lines))


def _problems(store: EvidenceStore) -> list[str]:
    report = store.verify(INC, KEY)
    assert report.tampered
    assert report.status == "tampered"
    return list(report.problems)


# -- writing ------------------------------------------------------------------------------------------------------


def test_put_writes_blob_manifest_and_a_sealed_custody_entry(store: EvidenceStore) -> None:
    a = _seal("a")

    manifest = store.put_bundle(a, "kinkyu")

    bundles = _folder(store) / "bundles"
    assert (bundles / f"{a.bundle_id}.bin").read_bytes() == a.blob
    assert json.loads((bundles / f"{a.bundle_id}.manifest.json").read_text()) == manifest.to_json()
    assert manifest.content_json() == a.manifest.content_json()
    assert manifest.mac_key_id == "k1"  # MAC'd by the store with the integrity key
    [entry] = store.custody(INC)
    assert (entry.seq, entry.action, entry.actor, entry.bundle_id) == (1, "sealed", "kinkyu", a.bundle_id)
    assert entry.detail["manifest_sha256"] == a.manifest.sha256()
    assert entry.detail["items"] == 2
    assert stat.S_IMODE((bundles / f"{a.bundle_id}.bin").stat().st_mode) == 0o600
    assert stat.S_IMODE(_folder(store).stat().st_mode) == 0o700


def test_put_is_idempotent_for_the_same_events_sealed_again(store: EvidenceStore) -> None:
    first = _seal("a")
    stored = store.put_bundle(first, "kinkyu")
    blob_path = _folder(store) / "bundles" / f"{first.bundle_id}.bin"
    before = sorted(p.name for p in blob_path.parent.iterdir())

    again = seal_bundle(
        INC, list(reversed(_items("a"))), KEY, sealed_at=T0 + timedelta(hours=1), sealed_by="worker-2", reason="r"
    )
    assert again.bundle_id == first.bundle_id
    assert again.blob != first.blob
    manifest = store.put_bundle(again, "worker-2")

    assert manifest == stored  # the first seal stands
    assert blob_path.read_bytes() == first.blob
    assert sorted(p.name for p in blob_path.parent.iterdir()) == before
    assert [e.action for e in store.custody(INC)] == ["sealed"]


def test_put_completes_an_interrupted_put_without_a_second_sealed_entry(store: EvidenceStore) -> None:
    a = _seal("a")
    store.put_bundle(a, "kinkyu")
    # As if the process died after writing the files, before the custody entry.
    (_folder(store) / "custody.jsonl").unlink()

    store.put_bundle(_seal("a"), "kinkyu")
    store.put_bundle(_seal("a"), "kinkyu")

    assert [e.action for e in store.custody(INC)] == ["sealed"]
    assert store.verify(INC, KEY).ok


def test_custody_is_append_only_earlier_bytes_never_change(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    path = _folder(store) / "custody.jsonl"
    before = path.read_bytes()

    entry = store.record_access(INC, "sec-07", "viewed", a.bundle_id)
    store.record_access(INC, "sec-07", "exported", a.bundle_id, detail={"to": "city-audit"})

    after = path.read_bytes()
    assert after.startswith(before)
    assert entry.seq == 3
    assert [e.action for e in store.custody(INC)] == ["sealed", "sealed", "viewed", "exported"]
    assert store.verify(INC, KEY).ok


def test_record_access_needs_a_known_incident_and_bundle(store: EvidenceStore) -> None:
    with pytest.raises(EvidenceNotFoundError):
        store.record_access(INC, "sec-07", "viewed")
    _filled(store)
    with pytest.raises(EvidenceNotFoundError, match="no bundle"):
        store.record_access(INC, "sec-07", "viewed", f"EVB-{INC}-{'0' * 16}")


def test_view_records_the_access_and_returns_the_items(store: EvidenceStore) -> None:
    a, _ = _filled(store)

    items = store.view(INC, a.bundle_id, KEY, "sec-07")

    assert {i.event_id for i in items} == {"a-1", "a-2"}
    last = store.custody(INC)[-1]
    assert (last.action, last.actor, last.bundle_id) == ("viewed", "sec-07", a.bundle_id)


def test_manifests_and_summary_list_bundles_and_chain_status_without_content(store: EvidenceStore) -> None:
    a, b = _filled(store)

    assert {m.bundle_id for m in store.manifests(INC)} == {a.bundle_id, b.bundle_id}
    summary = store.summary(INC)
    assert summary["custody"]["status"] == "intact"
    assert summary["custody"]["entries"] == 2
    assert NAME not in json.dumps(summary, ensure_ascii=False)


def test_nothing_outside_the_blobs_holds_the_personal_data(store: EvidenceStore) -> None:
    _filled(store)
    a = store.manifests(INC)[0]
    store.view(INC, a.bundle_id, KEY, "sec-07")
    store.verify(INC, KEY, actor="auditor")

    for path in _folder(store).rglob("*"):
        if path.is_file():
            assert NAME.encode() not in path.read_bytes()


# -- verification -------------------------------------------------------------------------------------------------


def test_verify_is_ok_for_untouched_evidence(store: EvidenceStore) -> None:
    a, b = _filled(store)

    report = store.verify(INC, KEY)

    assert report.ok
    assert report.status == "intact"
    assert [s.status for s in report.bundles] == ["intact", "intact"]
    assert {s.bundle_id for s in report.bundles} == {a.bundle_id, b.bundle_id}
    assert report.chain.head_seq == 2


def test_verify_names_a_blob_with_a_flipped_byte(store: EvidenceStore) -> None:
    a, b = _filled(store)
    path = _folder(store) / "bundles" / f"{a.bundle_id}.bin"
    data = bytearray(path.read_bytes())
    data[40] ^= 0x80
    path.write_bytes(bytes(data))

    problems = _problems(store)

    expected = "fails AES-GCM authentication and its SHA-256 does not match the manifest: altered or replaced"
    assert problems == [f"bundles/{a.bundle_id}.bin: {expected}"]
    assert {s.bundle_id: s.status for s in store.verify(INC, KEY).bundles}[b.bundle_id] == "intact"


def test_verify_names_an_edited_custody_line(store: EvidenceStore) -> None:
    _filled(store)
    lines = _custody_lines(store)
    lines[1] = lines[1].replace('"actor":"kinkyu"', '"actor":"mallory"')
    _write_custody_lines(store, lines)

    assert _problems(store) == [
        "custody.jsonl: entry 2: hash does not match its content",
        "custody.jsonl: entry 2: MAC does not verify (the entry was rewritten)",
    ]


def test_verify_names_a_deleted_custody_line(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    store.record_access(INC, "sec-07", "viewed", a.bundle_id)
    lines = _custody_lines(store)
    del lines[1]
    _write_custody_lines(store, lines)

    problems = _problems(store)

    assert "custody.jsonl: gap after seq 1: next is seq 3" in problems
    assert "custody.jsonl: entry 3: prev_hash does not match entry 1" in problems
    # The deleted line was a bundle's 'sealed' entry: that bundle is named too.
    assert any("no 'sealed' entry" in p for p in problems)


def test_verify_names_a_custody_line_that_is_not_json(store: EvidenceStore) -> None:
    _filled(store)
    lines = _custody_lines(store)
    lines[0] = lines[0][:-5]
    _write_custody_lines(store, lines)

    problems = _problems(store)

    assert "custody.jsonl: line 1: not a JSON custody entry" in problems


def test_verify_names_an_edited_manifest(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    path = _folder(store) / "bundles" / f"{a.bundle_id}.manifest.json"
    data = json.loads(path.read_text())
    data["sealed_by"] = "someone-else"
    path.write_text(json.dumps(data))

    problems = _problems(store)

    assert problems == [
        f"bundles/{a.bundle_id}.manifest.json: MAC does not verify (the manifest was edited)",
        f"bundles/{a.bundle_id}.manifest.json: differs from the manifest recorded when it was sealed (custody entry 1)",
    ]


def test_verify_names_an_edited_item_hash_in_a_manifest(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    path = _folder(store) / "bundles" / f"{a.bundle_id}.manifest.json"
    data = json.loads(path.read_text())
    data["items"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))

    problems = _problems(store)

    assert any(p.startswith(f"bundles/{a.bundle_id}.manifest.json: item 1 (event a-2): SHA-256") for p in problems)


def test_verify_names_missing_and_unexpected_files(store: EvidenceStore) -> None:
    a, b = _filled(store)
    bundles = _folder(store) / "bundles"
    (bundles / f"{a.bundle_id}.bin").unlink()
    (bundles / "notes.txt").write_text("x")

    problems = _problems(store)

    assert f"bundles/{a.bundle_id}.bin: missing (sealed at custody entry 1)" in problems
    assert "bundles/notes.txt: not an evidence file" in problems
    assert not any(b.bundle_id in p for p in problems)


def test_verify_names_a_blob_swapped_from_another_bundle(store: EvidenceStore) -> None:
    a, b = _filled(store)
    bundles = _folder(store) / "bundles"
    (bundles / f"{b.bundle_id}.bin").write_bytes((bundles / f"{a.bundle_id}.bin").read_bytes())

    problems = _problems(store)

    assert len(problems) == 1
    assert problems[0].startswith(f"bundles/{b.bundle_id}.bin: fails AES-GCM authentication")


def test_verify_with_another_key_is_a_key_problem_not_tampering(store: EvidenceStore) -> None:
    _filled(store)

    report = store.verify(INC, OTHER_KEY)

    assert not report.tampered
    assert not report.ok
    assert report.status == "wrong-key"
    assert len(report.key_problems) == 2
    assert key_id(OTHER_KEY) in report.key_problems[0]


def test_verify_with_a_short_key_or_an_unknown_incident_raises(store: EvidenceStore) -> None:
    _filled(store)
    with pytest.raises(EvidenceKeyError):
        store.verify(INC, KEY[:16])
    with pytest.raises(EvidenceNotFoundError):
        store.verify("INC-20261121-0099", KEY)


def test_verify_as_an_actor_records_the_result(store: EvidenceStore) -> None:
    _filled(store)

    store.verify(INC, KEY, actor="auditor")

    last = store.custody(INC)[-1]
    assert (last.action, last.actor, last.detail["result"]) == ("verified", "auditor", "intact")
    assert store.verify(INC, KEY).ok


def test_verify_names_an_added_field_in_a_custody_line_or_manifest(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    lines = _custody_lines(store)
    lines[1] = lines[1][:-1] + ',"note":"ok"}'
    _write_custody_lines(store, lines)
    path = _folder(store) / "bundles" / f"{a.bundle_id}.manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "approved": True}))

    problems = _problems(store)

    assert "custody.jsonl: line 2: entry: unexpected field 'note'" in problems
    assert f"bundles/{a.bundle_id}.manifest.json: manifest: unexpected field 'approved'" in problems


def test_strict_custody_read_refuses_a_broken_line(store: EvidenceStore) -> None:
    _filled(store)
    _write_custody_lines(store, [*_custody_lines(store), "{oops"])

    with pytest.raises(EvidenceTamperedError, match="line 3"):
        store.custody(INC)


def test_an_append_after_a_torn_last_line_starts_a_new_line(store: EvidenceStore) -> None:
    a, _ = _filled(store)
    path = _folder(store) / "custody.jsonl"
    with path.open("ab") as fh:
        fh.write(b'{"seq": 3, "at"')  # a crash mid-write

    store.record_access(INC, "sec-07", "viewed", a.bundle_id)

    problems = _problems(store)
    assert problems == ["custody.jsonl: line 3: not a JSON custody entry"]
    assert json.loads(path.read_text().splitlines()[-1])["seq"] == 3


def test_a_path_like_incident_id_is_refused(store: EvidenceStore) -> None:
    with pytest.raises(Exception, match="incident id"):
        store.verify("../../etc", KEY)


# -- the command line -------------------------------------------------------------------------------------------


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kinkyu")
    add_evidence_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, store: EvidenceStore, topic: MemoryAnchors) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KINKYU_EVIDENCE_KEY", base64.b64encode(KEY).decode())
    monkeypatch.setenv("KINKYU_EVIDENCE_DIR", str(store.root))
    monkeypatch.setenv("KINKYU_INTEGRITY_KEYS", json.dumps({"k1": base64.b64encode(MAC_KEY).decode()}))
    monkeypatch.delenv("KINKYU_INTEGRITY_KEY_ID", raising=False)
    monkeypatch.setattr(evidence_cli, "anchor_source", lambda _settings, _keyring: topic)

    async def publish(_settings: object, anchor: object) -> None:
        topic.offer(anchor)  # type: ignore[arg-type]  # an Anchor, as the CLI passes it

    monkeypatch.setattr(evidence_cli, "publish_anchor", publish)
    return monkeypatch


def test_cli_verify_exits_0_when_intact(
    env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = _filled(store)

    assert cmd_evidence_verify(_args(["evidence", "verify", INC])) == EXIT_OK

    out = capsys.readouterr().out
    assert f"evidence of {INC}: INTACT" in out
    assert a.bundle_id in out
    assert "custody chain: intact, 2 entries" in out


def test_cli_verify_exits_6_and_prints_what_was_altered(
    env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _filled(store)
    lines = _custody_lines(store)
    lines[0] = lines[0].replace('"actor":"kinkyu"', '"actor":"mallory"')
    _write_custody_lines(store, lines)

    assert cmd_evidence_verify(_args(["evidence", "verify", INC])) == EXIT_TAMPERED

    out = capsys.readouterr().out
    assert "TAMPERED" in out
    assert "custody.jsonl: entry 1: hash does not match its content" in out


def test_cli_verify_json(env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = _filled(store)
    path = _folder(store) / "bundles" / f"{a.bundle_id}.bin"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")

    code = cmd_evidence(_args(["evidence", "verify", INC, "--json"]))

    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_TAMPERED
    assert data["status"] == "tampered"
    assert data["problems"][0].startswith(f"bundles/{a.bundle_id}.bin:")
    assert data["custody"]["status"] == "intact"


def test_cli_verify_exits_3_without_a_key_saying_how_to_set_it(
    env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _filled(store)
    env.delenv("KINKYU_EVIDENCE_KEY")

    assert cmd_evidence_verify(_args(["evidence", "verify", INC])) == EXIT_CONFIG

    assert "set KINKYU_EVIDENCE_KEY" in capsys.readouterr().err


def test_cli_verify_exits_3_for_a_malformed_or_wrong_key_without_printing_it(
    env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]
) -> None:
    _filled(store)
    short = base64.b64encode(b"k" * 16).decode()
    env.setenv("KINKYU_EVIDENCE_KEY", short)
    assert cmd_evidence_verify(_args(["evidence", "verify", INC])) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "KINKYU_EVIDENCE_KEY" in err
    assert "16 bytes" in err
    assert short not in err

    wrong = base64.b64encode(OTHER_KEY).decode()
    env.setenv("KINKYU_EVIDENCE_KEY", wrong)
    assert cmd_evidence_verify(_args(["evidence", "verify", INC])) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert wrong not in captured.out + captured.err
    assert key_id(OTHER_KEY) in captured.out


def test_cli_verify_exits_2_for_an_unknown_incident(
    env: pytest.MonkeyPatch, store: EvidenceStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _filled(store)

    assert cmd_evidence_verify(_args(["evidence", "verify", "INC-20261121-0099"])) == EXIT_NOT_FOUND
    assert "no evidence for incident INC-20261121-0099" in capsys.readouterr().err
    assert cmd_evidence_verify(_args(["evidence", "verify", "../x"])) == EXIT_NOT_FOUND
    empty = ["--store", str(tmp_path / "empty"), "--no-anchor"]
    assert cmd_evidence_verify(_args(["evidence", "verify", INC, *empty])) == EXIT_NOT_FOUND


def test_cli_verify_as_records_the_verification(env: pytest.MonkeyPatch, store: EvidenceStore) -> None:
    _filled(store)

    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--as", "auditor"])) == EXIT_OK

    assert store.custody(INC)[-1].action == "verified"


def test_cli_store_flag_beats_the_environment(env: pytest.MonkeyPatch, store: EvidenceStore, tmp_path: Path) -> None:
    _filled(store)
    env.setenv("KINKYU_EVIDENCE_DIR", str(tmp_path / "elsewhere"))

    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--store", str(store.root)])) == EXIT_OK
    assert cmd_evidence_verify(_args(["evidence", "verify", INC, "--no-anchor"])) == EXIT_NOT_FOUND


def test_cli_list_shows_manifests_and_chain_status(
    env: pytest.MonkeyPatch, store: EvidenceStore, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _filled(store)
    env.delenv("KINKYU_EVIDENCE_KEY")  # listing needs no key

    args = _args(["evidence", "list", INC])
    assert args.func(args) == EXIT_OK
    out = capsys.readouterr().out
    assert a.bundle_id in out
    assert b.manifest.plaintext_sha256 in out
    assert "custody chain: intact" in out

    assert cmd_evidence(_args(["evidence", "list", INC, "--json"])) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert {m["bundle_id"] for m in data["bundles"]} == {a.bundle_id, b.bundle_id}
    assert cmd_evidence(_args(["evidence", "list", "INC-20261121-0099"])) == EXIT_NOT_FOUND


def test_the_parser_wires_func_for_each_action() -> None:
    verify = _args(["evidence", "verify", INC, "--json", "--store", "/x"])
    listing = _args(["evidence", "list", INC])

    assert verify.func is cmd_evidence_verify
    assert (verify.incident_id, verify.json, verify.store, verify.actor) == (INC, True, Path("/x"), None)
    assert listing.evidence_command == "list"
    with pytest.raises(SystemExit):
        _args(["evidence"])
