"""The console's audit log, keyed and anchored: what an insider removes or rewrites is named, hashes recomputed or not.

Each attack edits a *copy* of the log with the tools of someone who can write
the data volume but holds neither the integrity key nor the anchors topic,
and verifies it as a restarted console would (a new AuditLog, no memory of
what it wrote).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kinkyu.console.audit import CHAIN, AuditLog, AuditReport
from kinkyu.core.integrity import Anchor, Keyring, newest_anchors, parse_anchor
from kinkyu.evidence.anchor import MemoryAnchors

T0 = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
KEYRING = Keyring({"k1": bytes(range(64, 96))}, "k1")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Anchor]]:
    """A day at the desk, written once: 600 views, 263 refusals among them, each entry anchored."""
    path = tmp_path_factory.mktemp("day") / "audit.jsonl"
    published = MemoryAnchors()
    log = AuditLog(path, clock=Clock(), keyring=KEYRING, on_append=published.offer)
    for n in range(600):
        refused = n % 2 == 1 and n < 527
        log.append(
            who="toyota-city" if refused else "koganei-city",
            role="city",
            action="incident.view",
            target=f"INC-20261121-{n % 50:04d}",
            outcome="refused" if refused else "allowed",
            detail="not-found" if refused else "",
        )
    return path, published.records


@pytest.fixture
def topic(day: tuple[Path, list[Anchor]]) -> MemoryAnchors:
    """The anchors topic as the day left it."""
    copy = MemoryAnchors()
    copy.records.extend(day[1])
    return copy


@pytest.fixture
def original(day: tuple[Path, list[Anchor]], tmp_path: Path) -> Path:
    """This test's own copy of the day's log."""
    return Path(shutil.copy(day[0], tmp_path / "audit.jsonl"))


def _copy(path: Path, tmp_path: Path, name: str = "copy.jsonl") -> Path:
    target = tmp_path / name
    shutil.copy(path, target)
    return target


def _check(path: Path, topic: MemoryAnchors | None, keyring: Keyring | None = KEYRING) -> AuditReport:
    log = AuditLog(path, keyring=keyring)  # a restarted console: it remembers nothing it wrote
    if topic is None:
        return log.report()
    return log.report(newest_anchors(topic.records).get(CHAIN), anchor_checked=True)


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _save(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries))


def _rechain(entries: list[dict[str, Any]], *, strip_macs: bool = False) -> list[dict[str, Any]]:
    """What an insider does after editing: renumber, relink, recompute every hash."""
    prev = "0" * 64
    for seq, entry in enumerate(entries, 1):
        entry["seq"], entry["prev"] = seq, prev
        if strip_macs:
            entry.pop("mac", None)
            entry.pop("key_id", None)
        body = {k: v for k, v in entry.items() if k not in {"hash", "mac"}}
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        entry["hash"] = prev = hashlib.sha256(raw).hexdigest()
    return entries


def test_an_untouched_log_is_intact_keyed_and_matches_its_anchor(original: Path, topic: MemoryAnchors) -> None:
    report = _check(original, topic)

    assert report.status == "intact"
    assert report.anchor.state.value == "matches"
    assert report.entries == 600


def test_removing_the_263_refusals_and_recomputing_the_chain_is_named(
    original: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    copy = _copy(original, tmp_path)
    kept = [e for e in _entries(copy) if e["outcome"] != "refused"]
    assert len(kept) == 600 - 263
    _save(copy, _rechain(kept))

    report = _check(copy, topic)

    assert report.status == "tampered"
    assert any("its MAC does not verify" in p for p in report.problems)
    assert any("the anchor outside the volume records seq 600" in p for p in report.problems)


def test_removing_the_refusals_and_stripping_every_mac_is_caught_by_the_anchor(
    original: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    copy = _copy(original, tmp_path)
    _save(copy, _rechain([e for e in _entries(copy) if e["outcome"] != "refused"], strip_macs=True))

    assert _check(copy, topic).status == "tampered"
    offline = _check(copy, None)
    assert offline.status == "unkeyed"  # without the anchor: labelled unauthenticated, never intact


def test_a_refusal_turned_into_an_allowed_view_is_named(original: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    copy = _copy(original, tmp_path)
    entries = _entries(copy)
    entries[1]["outcome"], entries[1]["detail"] = "allowed", ""
    _save(copy, _rechain(entries))

    report = _check(copy, topic)

    assert "line 2 (seq 2): its MAC does not verify (the line was rewritten)" in report.problems


def test_stripping_the_mac_of_one_line_is_named(original: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    copy = _copy(original, tmp_path)
    entries = _entries(copy)
    entries[-1].pop("mac")
    entries[-1].pop("key_id")
    _save(copy, _rechain(entries))

    assert any("has no MAC although earlier entries do" in p for p in _check(copy, topic).problems)


def test_cutting_the_newest_lines_off_is_caught_after_a_restart(
    original: Path, topic: MemoryAnchors, tmp_path: Path
) -> None:
    copy = _copy(original, tmp_path)
    _save(copy, _entries(copy)[:-10])

    report = _check(copy, topic)

    assert report.status == "tampered"
    published = newest_anchors(topic.records)[CHAIN].at.isoformat()
    expected = (
        f"the audit log ends at seq 590, but the anchor outside the volume records seq 600 (published {published}): "
        "entries were removed from the end, or the file was replaced"
    )
    assert report.problems == (expected,)


def test_deleting_the_log_is_caught_by_the_anchor(original: Path, topic: MemoryAnchors, tmp_path: Path) -> None:
    report = _check(tmp_path / "gone.jsonl", topic)

    assert report.status == "tampered"
    assert "holds no entry" in report.problems[0]


def test_an_entry_written_after_the_last_anchor_is_not_tampering(original: Path, topic: MemoryAnchors) -> None:
    AuditLog(original, clock=Clock(), keyring=KEYRING).append(
        who="admin", role="admin", action="audit.view", target="audit-log", outcome="allowed"
    )  # no publisher: as if the broker was away

    report = _check(original, topic)

    assert report.status == "intact"
    assert report.anchor.state.value == "ahead"


def test_each_entry_hands_its_head_on_as_an_anchor(original: Path, topic: MemoryAnchors) -> None:
    anchors: list[Anchor] = topic.records

    assert [a.seq for a in anchors] == list(range(1, 601))
    assert {a.chain for a in anchors} == {CHAIN}
    assert all(parse_anchor(a.to_bytes(), KEYRING) == a for a in anchors[-3:])
    assert anchors[-1].head == _entries(original)[-1]["hash"]


def test_a_log_written_before_keys_is_unkeyed_legacy(tmp_path: Path) -> None:
    path = tmp_path / "legacy.jsonl"
    legacy = AuditLog(path, clock=Clock())
    legacy.append(who="admin", role="admin", action="audit.view", target="audit-log", outcome="allowed")

    report = _check(path, None)

    assert report.status == "unkeyed"
    assert report.problems == ()


def test_a_keyed_log_without_the_keys_cannot_be_checked(original: Path) -> None:
    report = _check(original, None, keyring=None)

    assert report.status == "wrong-key"


def test_after_rotation_both_keys_verify_and_a_missing_one_is_named(original: Path, topic: MemoryAnchors) -> None:
    rotated = Keyring({"k1": KEYRING.keys["k1"], "k2": bytes(range(128, 160))}, "k2")
    AuditLog(original, clock=Clock(), keyring=rotated, on_append=topic.offer).append(
        who="admin", role="admin", action="audit.view", target="audit-log", outcome="allowed"
    )

    assert _check(original, topic, rotated).status == "intact"
    only_new = _check(original, topic, Keyring({"k2": rotated.keys["k2"]}, "k2"))
    assert only_new.status == "wrong-key"
    assert "signed with integrity key id k1, not configured here" in only_new.key_problems[0]


def test_fuzz_flips_and_rewrites_at_random_places_are_all_detected(tmp_path: Path) -> None:
    rng = random.Random(16)  # reproducible places
    original, topic = tmp_path / "audit.jsonl", MemoryAnchors()
    log = AuditLog(original, clock=Clock(), keyring=KEYRING, on_append=topic.offer)
    for n in range(40):
        log.append(who="koganei-city", role="city", action="incident.view", target=f"INC-{n}", outcome="allowed")
    base = original.read_bytes()
    kinds: Counter[str] = Counter()
    missed: list[str] = []
    for n in range(120):
        copy = tmp_path / f"fuzz-{n}.jsonl"
        kind = rng.choice(("flip", "flip", "rewrite", "delete", "swap", "truncate", "strip"))
        if kind == "flip":
            data = bytearray(base)
            at = rng.randrange(len(data))
            data[at] ^= 1 << rng.randrange(8)
            copy.write_bytes(bytes(data))
            what = f"flip at {at}"
        else:
            copy.write_bytes(base)
            entries = _entries(copy)
            i = rng.randrange(len(entries))
            if kind == "rewrite":
                name = rng.choice(("who", "role", "action", "target", "outcome", "detail", "ts"))
                entries[i][name] = {"outcome": "refused" if entries[i]["outcome"] == "allowed" else "allowed"}.get(
                    name, f"{entries[i][name]}x"
                )
            elif kind == "delete":
                del entries[i]
            elif kind == "swap":
                j = (i + rng.randrange(1, len(entries))) % len(entries)
                entries[i], entries[j] = entries[j], entries[i]
            elif kind == "truncate":
                entries = entries[:i]
            _save(copy, _rechain(entries, strip_macs=kind == "strip" or rng.random() < 0.2))
            what = f"{kind} at line {i + 1}"
        kinds[kind] += 1
        if _check(copy, topic).status == "intact":
            missed.append(what)

    assert missed == []
    assert kinds.total() >= 100
    assert set(kinds) == {"flip", "rewrite", "delete", "swap", "truncate", "strip"}


def test_a_console_restarted_on_a_cut_log_records_the_break_so_going_on_does_not_launder_it(
    original: Path, topic: MemoryAnchors
) -> None:
    _save(original, _entries(original)[:-10])  # cut while the console was stopped

    restarted = AuditLog(original, clock=Clock(), keyring=KEYRING, on_append=topic.offer, anchored=topic.known)
    for _ in range(20):  # well past the old anchored seq: the newest anchor is now the console's own
        restarted.append(who="admin", role="admin", action="audit.view", target="audit-log", outcome="allowed")

    report = _check(original, topic)
    assert report.status == "tampered"
    assert report.anchor.state.value == "matches"  # the topic's newest head is the one just written
    [problem] = report.problems
    assert "line 591 (seq 591): when it was written the log did not hold the head anchored" in problem
    assert "anchored-seq=600,found-seq=590" in problem


def test_a_rewritten_log_is_caught_on_restart_even_when_it_is_as_long_as_the_anchor(
    original: Path, topic: MemoryAnchors
) -> None:
    entries = _entries(original)
    entries[-1]["target"] = "INC-elsewhere"
    _save(original, _rechain(entries, strip_macs=True))

    AuditLog(original, clock=Clock(), keyring=KEYRING, anchored=topic.known).append(
        who="admin", role="admin", action="audit.view", target="audit-log", outcome="allowed"
    )

    assert any("anchored-seq=600,rewritten" in p for p in _check(original, None).problems)
