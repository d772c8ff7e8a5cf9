"""Console audit log: hash-chained JSON lines, fsynced, 0600, continued after a restart, tampering named by verify."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kinkyu.console.audit import GENESIS, MAX_ENTRIES, AuditEntry, AuditLog, Outcome, as_code
from kinkyu.console.exceptions import AuditLogError, ConsoleError

T0 = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
INC = "INC-20261121-0001"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "console" / "audit.jsonl"


@pytest.fixture
def log(path: Path) -> AuditLog:
    return AuditLog(path, clock=Clock())


def _view(log: AuditLog, who: str = "koganei-city", target: str = INC, outcome: Outcome = "allowed") -> AuditEntry:
    return log.append(who=who, role="city", action="incident.view", target=target, outcome=outcome)


def _fill(log: AuditLog, n: int) -> list[AuditEntry]:
    return [_view(log, target=f"INC-20261121-{i:04d}") for i in range(1, n + 1)]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines(keepends=True)


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="ascii")


def _rehash(line: str, **changes: Any) -> str:
    body = json.loads(line)
    body.update(changes)
    body.pop("hash")
    body["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"


# -- writing ----------------------------------------------------------------------------------------------------


def test_an_entry_records_who_what_when_and_the_outcome(log: AuditLog) -> None:
    entry = log.append(
        who="koganei-city", role="city", action="incident.details", target=INC, outcome="refused", detail="scope"
    )

    assert (entry.seq, entry.who, entry.role, entry.action, entry.target, entry.outcome, entry.detail) == (
        1,
        "koganei-city",
        "city",
        "incident.details",
        INC,
        "refused",
        "scope",
    )
    assert entry.ts == T0 + timedelta(seconds=1)
    assert entry.prev == GENESIS


def test_each_line_is_canonical_json_whose_hash_covers_everything_but_the_hash(log: AuditLog, path: Path) -> None:
    entry = _view(log)

    (line,) = _lines(path)
    body = json.loads(line)
    assert line == json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"
    assert body == entry.to_json()
    assert body["ts"] == "2026-11-21T01:00:01.000000+00:00"
    without_hash = {k: v for k, v in body.items() if k != "hash"}
    canonical = json.dumps(without_hash, sort_keys=True, separators=(",", ":")).encode()
    assert body["hash"] == hashlib.sha256(canonical).hexdigest()


def test_entries_are_chained_by_the_previous_hash_and_numbered(log: AuditLog) -> None:
    first, second, third = _fill(log, 3)

    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert second.prev == first.hash
    assert third.prev == second.hash


def test_the_file_is_0600_in_a_0700_folder(log: AuditLog, path: Path) -> None:
    _view(log)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_file_readable_by_others_is_tightened_to_0600(path: Path) -> None:
    path.parent.mkdir()
    path.touch(mode=0o644)
    path.chmod(0o644)

    _view(AuditLog(path))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_append_is_fsynced(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    _view(log)
    after_first = len(synced)
    _view(log)
    _view(log)

    assert after_first >= 1
    assert len(synced) - after_first == 2


def test_the_chain_continues_after_a_restart(path: Path) -> None:
    before = _fill(AuditLog(path, clock=Clock()), 3)

    restarted = AuditLog(path, clock=Clock())
    entry = _view(restarted)

    assert entry.seq == 4
    assert entry.prev == before[-1].hash
    assert restarted.verify() == []


def test_two_writers_on_one_file_keep_one_chain(path: Path) -> None:
    a, b = AuditLog(path), AuditLog(path)

    for _ in range(5):
        _view(a)
        _view(b)

    assert [e.seq for e in a.entries()] == list(range(10, 0, -1))
    assert a.verify() == []
    assert b.verify() == []


def test_concurrent_appends_from_threads_get_distinct_seqs_and_keep_the_chain(log: AuditLog) -> None:
    def work() -> None:
        for _ in range(25):
            _view(log)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(e.seq for e in log.entries(limit=1000)) == list(range(1, 201))
    assert log.verify() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("detail", "山田太郎"),
        ("detail", "called Taro Yamada"),
        ("target", "INC-1 and more"),
        ("target", "x" * 201),
        ("who", "a\nb"),
        ("action", ""),
        ("role", "r" * 33),
    ],
)
def test_free_text_is_refused_and_nothing_is_written(log: AuditLog, path: Path, field: str, value: str) -> None:
    fields: dict[str, Any] = {
        "who": "koganei-city",
        "role": "city",
        "action": "incident.view",
        "target": INC,
        "outcome": "allowed",
        "detail": "",
    }
    fields[field] = value

    with pytest.raises(AuditLogError) as info:
        log.append(**fields)

    assert value not in str(info.value) or not value
    assert not path.exists()


def test_an_unknown_outcome_is_refused(log: AuditLog) -> None:
    with pytest.raises(AuditLogError, match="outcome"):
        log.append(who="a", role="city", action="incident.view", target=INC, outcome="maybe")  # type: ignore[arg-type]  # the runtime check is what is tested


def test_ids_and_codes_are_accepted(log: AuditLog) -> None:
    entry = log.append(
        who="acme-security",
        role="contractor",
        action="report.download",
        target="INC-20261121-0001/reports/first.ja.pdf",
        outcome="allowed",
        detail="contract=koganei-2026-017",
    )

    assert entry.target == "INC-20261121-0001/reports/first.ja.pdf"


def test_as_code_makes_any_value_fit_and_leaves_ids_alone(log: AuditLog) -> None:
    odd = as_code("/incidents/小金井 x?y=1" + "z" * 300)

    entry = log.append(who="a", role="city", action="post", target=odd, outcome="refused", detail=as_code("é", limit=5))

    assert entry.target.startswith("/incidents/____x_y=1zz")
    assert len(entry.target) == 200
    assert entry.detail == "_"
    assert as_code("INC-20261121-0001/reports/first.ja.pdf") == "INC-20261121-0001/reports/first.ja.pdf"


def test_a_naive_clock_is_refused(path: Path) -> None:
    with pytest.raises(AuditLogError, match="aware"):
        _view(AuditLog(path, clock=lambda: datetime(2026, 11, 21, 10, 0)))  # noqa: DTZ001 - the naive clock is the fault under test


def test_a_file_that_cannot_be_written_is_an_audit_log_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(AuditLogError, match="cannot append"):
        _view(AuditLog(blocker / "audit.jsonl"))


def test_audit_log_errors_are_console_errors() -> None:
    assert issubclass(AuditLogError, ConsoleError)


# -- reading ----------------------------------------------------------------------------------------------------


def test_entries_come_newest_first_up_to_the_limit(log: AuditLog) -> None:
    _fill(log, 5)

    assert [e.seq for e in log.entries()] == [5, 4, 3, 2, 1]
    assert [e.seq for e in log.entries(limit=2)] == [5, 4]
    assert log.entries(limit=0) == []


def test_entries_filter_by_who_target_action_outcome_and_time(log: AuditLog) -> None:
    _view(log, who="koganei-city", target="INC-A")
    _view(log, who="toyota-city", target="INC-A", outcome="refused")
    _view(log, who="koganei-city", target="INC-B")
    log.append(who="admin", role="admin", action="audit.view", target="", outcome="allowed")

    assert [e.seq for e in log.entries(who="koganei-city")] == [3, 1]
    assert [e.seq for e in log.entries(target="INC-A")] == [2, 1]
    assert [e.seq for e in log.entries(action="audit.view")] == [4]
    assert [e.seq for e in log.entries(outcome="refused")] == [2]
    assert [e.seq for e in log.entries(since=T0 + timedelta(seconds=3))] == [4, 3]
    assert [e.seq for e in log.entries(who="koganei-city", target="INC-B")] == [3]


def test_entries_since_needs_an_aware_time(log: AuditLog) -> None:
    with pytest.raises(AuditLogError, match="aware"):
        log.entries(since=datetime(2026, 11, 21))  # noqa: DTZ001 - the naive time is the fault under test


def test_entries_are_capped(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kinkyu.console.audit.MAX_ENTRIES", 3)
    _fill(log, 5)

    assert len(log.entries(limit=MAX_ENTRIES)) == 3


def test_entries_across_many_read_chunks(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kinkyu.console.audit._CHUNK", 100)  # smaller than one line
    _fill(log, 20)

    assert [e.seq for e in log.entries()] == list(range(20, 0, -1))
    assert log.head() == (20, log.entries(limit=1)[0].hash)


def test_a_log_not_written_yet_is_empty_and_intact(log: AuditLog) -> None:
    assert log.entries() == []
    assert log.verify() == []
    assert log.head() is None


def test_entries_skip_lines_that_are_not_entries(log: AuditLog, path: Path) -> None:
    _fill(log, 2)
    with path.open("a", encoding="ascii") as fh:
        fh.write("not json\n")

    assert [e.seq for e in log.entries()] == [2, 1]


# -- verification ---------------------------------------------------------------------------------------------------


def test_an_untouched_log_verifies(log: AuditLog) -> None:
    _fill(log, 5)

    assert log.verify() == []


def test_an_edited_line_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 3)
    lines = _lines(path)
    lines[1] = lines[1].replace('"outcome":"allowed"', '"outcome":"refused"')
    _rewrite(path, lines)

    problems = AuditLog(path).verify()

    assert len(problems) == 1
    assert problems[0].startswith("line 2 (seq 2):")
    assert "edited" in problems[0]


def test_an_edited_and_re_hashed_line_breaks_the_link_to_the_next(log: AuditLog, path: Path) -> None:
    _fill(log, 3)
    lines = _lines(path)
    lines[1] = _rehash(lines[1], who="reviewer")
    _rewrite(path, lines)

    problems = AuditLog(path).verify()

    assert len(problems) == 1
    assert problems[0].startswith("line 3 (seq 3): does not link to line 2")


def test_a_removed_line_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 4)
    lines = _lines(path)
    del lines[1]
    _rewrite(path, lines)

    problems = AuditLog(path).verify()

    assert problems == ["line 2 (seq 3): follows seq 1; seq 2 missing (1 entry removed, or moved later)"]


def test_removing_the_first_lines_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 4)
    _rewrite(path, _lines(path)[2:])

    problems = AuditLog(path).verify()

    assert len(problems) == 1
    assert "seq 1-2 missing (2 entries removed" in problems[0]


def test_reordered_lines_are_named(log: AuditLog, path: Path) -> None:
    _fill(log, 4)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    _rewrite(path, lines)

    problems = AuditLog(path).verify()

    assert any(p.startswith("line 2 (seq 3)") and "missing" in p for p in problems)
    assert any(p.startswith("line 3 (seq 2)") and "reordered" in p for p in problems)
    assert len(problems) == 2  # seq 4 still links to seq 3: one swap, two findings, no cascade


def test_a_duplicated_line_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 3)
    lines = _lines(path)
    _rewrite(path, [*lines[:2], lines[1], lines[2]])

    problems = AuditLog(path).verify()

    assert problems == ["line 3 (seq 2): comes after seq 2 (lines were reordered or duplicated)"]


def test_an_inserted_forged_line_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 2)
    lines = _lines(path)
    forged = _rehash(lines[1], seq=3, prev="f" * 64)
    _rewrite(path, [*lines, forged])

    problems = AuditLog(path).verify()

    assert problems == ["line 3 (seq 3): does not link to line 2 (an entry was replaced, or edited and re-hashed)"]


def test_a_foreign_line_is_named(log: AuditLog, path: Path) -> None:
    _fill(log, 2)
    lines = _lines(path)
    _rewrite(path, [lines[0], '{"note": "hello"}\n', lines[1]])

    assert AuditLog(path).verify() == ["line 2: not an audit entry (the line was edited, inserted or damaged)"]


def test_removing_the_newest_lines_is_noticed_by_the_console_that_wrote_them(log: AuditLog, path: Path) -> None:
    _fill(log, 4)
    _rewrite(path, _lines(path)[:2])

    problems = log.verify()

    assert problems == ["the log ends at seq 2 but this console wrote up to seq 4: the newest entries were removed"]


def test_removing_the_newest_lines_stays_noticed_after_the_next_append(log: AuditLog, path: Path) -> None:
    _fill(log, 4)
    _rewrite(path, _lines(path)[:2])

    entry = _view(log)

    assert entry.seq == 3
    assert any("newest entries were removed" in p for p in log.verify())


def test_a_torn_last_line_is_named_and_the_next_entry_starts_on_its_own_line(log: AuditLog, path: Path) -> None:
    _fill(log, 2)
    with path.open("a", encoding="ascii") as fh:
        fh.write('{"action":"incident.vi')  # a crash mid-write
    assert AuditLog(path).verify() == ["line 3: the last line is incomplete (torn by a crash mid-write?)"]

    restarted = AuditLog(path)
    entry = _view(restarted)

    assert entry.seq == 3
    assert _lines(path)[3] == json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
    assert restarted.verify() == ["line 3: not an audit entry (the line was edited, inserted or damaged)"]


def test_a_file_with_no_whole_entry_cannot_be_continued(path: Path) -> None:
    path.parent.mkdir()
    path.write_text("garbage\nmore garbage\n", encoding="ascii")

    with pytest.raises(AuditLogError, match="chain cannot be continued"):
        _view(AuditLog(path))
    assert path.read_text(encoding="ascii") == "garbage\nmore garbage\n"


def test_verify_messages_carry_no_field_values(log: AuditLog, path: Path) -> None:
    _view(log, who="koganei-city", target="INC-SECRET-0001")
    lines = _lines(path)
    _rewrite(path, [lines[0].replace("INC-SECRET-0001", "INC-SECRET-0002")])

    problems = AuditLog(path).verify()

    assert problems
    assert not any("SECRET" in p or "koganei-city" in p for p in problems)


def test_a_wrecked_file_gives_a_bounded_list_of_problems(
    log: AuditLog, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kinkyu.console.audit.MAX_PROBLEMS", 5)
    _view(log)
    with path.open("a", encoding="ascii") as fh:
        fh.write("junk\n" * 12)

    problems = AuditLog(path).verify()

    assert len(problems) == 6
    assert problems[-1] == "… and 7 more problem(s)"


def test_verify_while_another_thread_appends_finds_nothing_wrong(log: AuditLog) -> None:
    _fill(log, 5)
    done = threading.Event()

    def work() -> None:
        while not done.is_set():
            _view(log)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        results = [log.verify() for _ in range(20)]
    finally:
        done.set()
        thread.join()

    assert all(r == [] for r in results)
    assert log.verify() == []


def test_two_processes_appending_at_once_keep_one_chain(path: Path, tmp_path: Path) -> None:
    go, ready = tmp_path / "go", tmp_path / "ready"
    script = (
        "import sys, time; from pathlib import Path; from kinkyu.console.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "Path(sys.argv[3] + '-' + sys.argv[2]).touch()\n"
        "while not Path(sys.argv[4]).exists(): time.sleep(0.001)\n"
        "for _ in range(150):\n"
        "    log.append(who=sys.argv[2], role='city', action='incident.view', target='x', outcome='allowed')\n"
    )
    _view(AuditLog(path))
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), who, str(ready), str(go)]) for who in ("a", "b")
    ]
    while not all((tmp_path / f"ready-{who}").exists() for who in ("a", "b")):
        assert all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()  # both start appending at the same moment
    assert [p.wait(timeout=60) for p in procs] == [0, 0]

    log = AuditLog(path)
    assert log.verify() == []
    assert sorted(e.seq for e in log.entries(limit=1000)) == list(range(1, 302))
    assert {e.who for e in log.entries(limit=1000)} == {"koganei-city", "a", "b"}
