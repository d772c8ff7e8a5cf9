"""``kinkyu produce``: JSON-lines files to a topic, one message a line, keyed by contract.

A line the producer or the broker refuses for what it is (too large) is not
the end of the file: it is named by file and line number and size (never by
its content, which may be personal information), and every other line is
still sent. A broker that cannot be reached stops the command
(:class:`~streams.exceptions.BrokerError`), as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from kinkyu.bus.clients import BrokerConnection
from kinkyu.streams.exceptions import RecordRejectedError
from kinkyu.streams.sink import KafkaSink, Record, Sink

# Lines sent per round trip: few enough to keep memory small, many enough to batch well.
CHUNK_LINES = 5_000
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RefusedLine:
    """A line that was not sent: where it is, how large, and why (a reason code)."""

    path: Path
    line: int
    size: int
    reason: str


@dataclass(slots=True)
class Produced:
    """What :func:`produce_files` did."""

    sent: int = 0
    refused: list[RefusedLine] = field(default_factory=list)


def key_of(line: bytes) -> bytes | None:
    """The line's ``contract_id``, the co-partitioning key (None if it has none)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    cid = obj.get("contract_id") if isinstance(obj, dict) else None
    return cid.encode() if isinstance(cid, str) else None


async def produce_files(
    bootstrap: BrokerConnection | str, topic: str, files: Iterable[Path], *, sink: Sink | None = None
) -> Produced:
    """Send each non-blank line of ``files`` to ``topic``; lines refused for their size are listed, not fatal."""
    own: KafkaSink | None = None
    if sink is None:
        own = KafkaSink(bootstrap)
        await own.start()
        sink = own
    result = Produced()
    try:
        for path in files:
            await _produce_file(sink, topic, path, result)
    finally:
        if own is not None:
            await own.stop()
    return result


async def _produce_file(sink: Sink, topic: str, path: Path, result: Produced) -> None:
    records: list[Record] = []
    where: list[tuple[int, int]] = []  # line number and size of each record
    size = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip()  # the newline is framing, not content
            if not line:
                continue
            records.append(Record(topic, key_of(line), line))
            where.append((number, len(line)))
            size += len(line)
            if len(records) >= CHUNK_LINES or size >= CHUNK_BYTES:
                await _send(sink, path, records, where, result)
                records, where, size = [], [], 0
    await _send(sink, path, records, where, result)


async def _send(sink: Sink, path: Path, records: list[Record], where: list[tuple[int, int]], result: Produced) -> None:
    if not records:
        return
    try:
        await sink.send_all(records)
    except RecordRejectedError as exc:
        for index, reason in sorted(exc.rejected.items()):
            line, size = where[index]
            result.refused.append(RefusedLine(path, line, size, reason))
        result.sent += len(records) - len(exc.rejected)
    else:
        result.sent += len(records)
