"""``kinkyu produce``: a refused line is named and the rest is sent; every command honours the topic prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import PLANTED, WORKDAY, at, quiet_read, write_jsonl

from kinkyu.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from kinkyu.streams import produce
from kinkyu.streams.exceptions import RecordRejectedError
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record

LIMIT = 1_000  # the fake broker's record size limit


class FakeSink:
    """A started KafkaSink stand-in: keeps what it is sent, refuses records over LIMIT bytes."""

    sent: list[Record]

    def __init__(self, bootstrap: str, **kwargs: Any) -> None:
        del bootstrap, kwargs

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_all(self, records: list[Record]) -> None:
        refused = {i: "record-too-large" for i, r in enumerate(records) if len(r.value) > LIMIT}
        FakeSink.sent.extend(r for i, r in enumerate(records) if i not in refused)
        if refused:
            raise RecordRejectedError(refused)


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> type[FakeSink]:
    monkeypatch.setattr(produce, "KafkaSink", FakeSink)
    FakeSink.sent = []
    monkeypatch.delenv("KINKYU_TOPIC_PREFIX", raising=False)
    return FakeSink


def _lines(tmp_path: Path) -> Path:
    oversized = quiet_read("e2", at(WORKDAY, "10:01"))
    oversized["attrs"] = {"note": PLANTED * 1_000}
    return write_jsonl(
        tmp_path / "events.jsonl",
        [quiet_read("e1", at(WORKDAY, "10:00")), b"", oversized, quiet_read("e3", at(WORKDAY, "10:02"))],
    )


def test_produce_names_a_refused_line_by_number_and_size_sends_the_rest_and_exits_7(
    sink: type[FakeSink], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _lines(tmp_path)

    code = main(["produce", "--topic", "access-log", str(path)])

    err = capsys.readouterr().err
    assert code == EXIT_PARTIAL == 7
    assert [r.key for r in sink.sent] == [b"koganei-2026-017"] * 2
    assert [r.value.count(b'"event_id":"e') for r in sink.sent] == [1, 1]
    assert f"{path}:3: not sent: record-too-large (" in err
    assert "2 messages sent to access-log; 1 line(s) not sent" in err
    assert PLANTED not in err


def test_produce_of_a_file_that_fits_exits_0(sink: type[FakeSink], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [quiet_read("e1", at(WORKDAY, "10:00"))])

    assert main(["produce", "--topic", "access-log", str(path)]) == EXIT_OK
    assert len(sink.sent) == 1


def test_produce_of_a_missing_file_is_wrong_usage(sink: type[FakeSink], tmp_path: Path) -> None:
    assert main(["produce", "--topic", "access-log", str(tmp_path / "nope.jsonl")]) == EXIT_USAGE
    assert sink.sent == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_produce_sends_to_the_prefixed_topic(
    how: str, sink: type[FakeSink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [quiet_read("e1", at(WORKDAY, "10:00"))])
    args = ["produce", "--topic", "access-log", str(path)]
    if how == "flag":
        args[1:1] = ["--topic-prefix", "p1-"]
    else:
        monkeypatch.setenv("KINKYU_TOPIC_PREFIX", "p1-")

    main(args)

    assert [r.topic for r in sink.sent] == ["p1-access-log"]


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("command", ["worker", "run"])
def test_worker_and_run_read_and_write_the_topics_produce_writes(
    command: str, how: str, sink: type[FakeSink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kinkyu.streams import runner  # noqa: PLC0415  # faust is slow to import: only these tests need it

    seen: list[Topics] = []

    def started(settings: Any, samples: Path | None = None, lang: str = "ja") -> int:
        del samples, lang
        seen.append(settings.topics)
        return 0

    monkeypatch.setattr(runner, "run_worker", started)
    monkeypatch.setattr(runner, "run_demo", started)
    path = write_jsonl(tmp_path / "ok.jsonl", [quiet_read("e1", at(WORKDAY, "10:00"))])
    flag = ["--topic-prefix", "p1-"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("KINKYU_TOPIC_PREFIX", "p1-")

    main([command, *flag])
    main(["produce", *flag, "--topic", "access-log", str(path)])

    [topics] = seen
    assert topics.access_log == sink.sent[0].topic == "p1-access-log"


def test_the_console_files_to_the_prefixed_incident_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kinkyu.console.cli import load_settings  # noqa: PLC0415
    from kinkyu.console.producer import KafkaEventProducer  # noqa: PLC0415

    monkeypatch.setenv("KINKYU_TOPIC_PREFIX", "p1-")
    monkeypatch.setenv("KINKYU_DATA_DIR", str(tmp_path))
    settings = load_settings()

    producer = KafkaEventProducer(settings.broker, settings.topic_prefix)

    assert producer.topic == Topics("p1-").incident_events


async def test_produce_files_numbers_lines_across_chunks_and_skips_blank_ones(
    sink: type[FakeSink], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(produce, "CHUNK_LINES", 2)
    big = b'{"contract_id": "c", "x": "' + b"y" * LIMIT + b'"}'
    path = write_jsonl(tmp_path / "mixed.jsonl", [b"{}", b"  ", b"{}", b"{}", big, b"{}"])

    result = await produce.produce_files("127.0.0.1:9", "t", [path])

    assert result.sent == 4
    assert [(r.line, r.size, r.reason) for r in result.refused] == [(5, len(big), "record-too-large")]
