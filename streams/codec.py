"""How domain outputs become Kafka records (and dead letters), in one place."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from kinkyu.core.engine import Output
from kinkyu.exceptions import MalformedEventError
from streams.settings import Topics
from streams.sink import Record

DLQ_REASON = "kinkyu-reason"
DLQ_DETAIL = "kinkyu-detail"
DLQ_SOURCE = "kinkyu-source"


def output_records(out: Output, topics: Topics) -> list[Record]:
    """Findings keyed by contract, incident records keyed by incident id (a compacted view)."""
    records = [Record(topics.findings, f.contract_id.encode(), orjson.dumps(f.to_json())) for f in out.findings]
    opened = set(out.opened)
    for incident in out.incidents:
        body = incident.to_json()
        body["change"] = "opened" if incident.incident_id in opened else "updated"
        records.append(Record(topics.incidents, incident.incident_id.encode(), orjson.dumps(body)))
    for incident_id, entry in out.events:
        body = {"change": "event", "incident_id": incident_id, "entry": entry.to_json()}
        records.append(Record(topics.incidents, incident_id.encode(), orjson.dumps(body)))
    return records


def dead_letter(
    topics: Topics,
    *,
    source: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: MalformedEventError,
) -> Record:
    """The original bytes, untouched, with the reason in headers so it can be fixed and re-fed."""
    where = f"{source}/{partition}/{offset}"
    return Record(
        topics.dead_letters,
        key,
        value or b"",
        (
            (DLQ_REASON, error.reason.encode()),
            (DLQ_DETAIL, error.detail.encode()),
            (DLQ_SOURCE, where.encode()),
            ("kinkyu-at", datetime.now(UTC).isoformat().encode()),
        ),
    )
