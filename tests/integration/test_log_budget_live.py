"""A flood of bad events does not flood a real worker's log, and every one is still counted (issue #12).

Before, each dead letter logged a line: 500 hostile events, 500 lines. The
worker now logs the first 10 of each reason in each minute (the summary of
the rest comes when the minute is over: the unit tier checks it with a fake
clock), while the metric, the dead-letter topic and detection are exact.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from conftest import Pipeline, values

pytestmark = pytest.mark.integration

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=JST)  # a Friday, inside work hours, in the past
FLOOD = 500
PER_MINUTE = 10


def _breach(actor: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "ts": T0.isoformat(),
            "contract_id": "koganei-2026-017",
            "system": "juki-portal",
            "actor": {"id": actor, "org": "acme", "role": "operator"},
            "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
            "action": "read",
            "outcome": "success",
            "resource": {"dataset": "residents", "records": 2, "fields": ["name"]},
        }
    )


def _dead_letter_lines(log: str) -> int:
    count = 0
    for line in log.splitlines():
        if line.startswith("{") and orjson.loads(line).get("msg") == "event to dead-letters":
            count += 1
    return count


async def test_a_flood_of_bad_events_logs_a_few_lines_while_every_one_is_counted_and_detection_goes_on(
    pipeline: Pipeline,
) -> None:
    w = pipeline.worker().start()
    started = time.monotonic()
    w.wait_healthy()
    flood = [b'{"event_id": "' + str(n).encode() for n in range(FLOOD)]
    await pipeline.produce(pipeline.topics.access_log, [*flood, _breach("u9999")])

    incidents = await pipeline.read(
        pipeline.topics.incidents,
        lambda r: any(v.get("actor") == "u9999" for v in values(r)),
        timeout=90,
    )
    dead = await pipeline.read(pipeline.topics.dead_letters, lambda r: len(r) >= FLOOD, timeout=60)
    _, metrics = w.get("/metrics")

    assert any(v.get("actor") == "u9999" for v in values(incidents)), "the breach after the flood was found"
    assert len(dead) == FLOOD
    assert f'kinkyu_dead_letters_total{{reason="bad-json"}} {float(FLOOD)}' in metrics.decode()
    # Ten a minute for the one reason, in each minute the worker has run.
    minutes = math.ceil((time.monotonic() - started) / 60)
    assert 1 <= _dead_letter_lines(w.log_path.read_text()) <= PER_MINUTE * minutes
