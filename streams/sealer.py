"""Evidence sealing off the playbook's path: a queue of seals, carried out in batches, results fed back as ticks.

Sealing reads the access log around an incident (seconds on a busy log),
and a playbook run must not wait for it: the first report to the city goes
out as soon as the incident opens. So the playbook stage hands each due seal
to a :class:`SealQueue` and goes on. The queue's task takes every seal
waiting (up to :data:`BATCH`), reads their evidence in one pass per partition
(:meth:`~streams.evidence_collector.EvidenceCollector.seal_many`) and sends
one result per seal to ``playbook-ticks``, keyed by incident id, so the
result reaches the run on the partition (and the worker) that owns it, where
the agent records it on the timeline and drops the pending seal.

Nothing is lost on a crash: a seal stays pending in the run's state until its
result is applied, and the stage's timer hands a pending seal that is due to
the queue again (every :data:`streams.playbook_stage._TICK_RESEND` seconds).
A seal carried out twice (the result was not applied before a crash, or two
workers held the partition in turn) stores nothing new: bundles are
idempotent by id, and a second result finds no pending seal to apply to.

A result names ids, counts and the bundle id only, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from kinkyu.core.playbook import SealEvidence
from kinkyu.core.timefmt import utcnow
from kinkyu.streams.evidence_collector import EvidenceCollector, SealResult
from kinkyu.streams.exceptions import BrokerError
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record, Sink

log = logging.getLogger("kinkyu.evidence.queue")

BATCH = 64  # seals read in one pass at most: bounds the pass's window and the time before a result is sent
RESULT = "seal_result"  # the key of a result on playbook-ticks


@dataclass(frozen=True, slots=True)
class SealOutcome:
    """A seal's result as the playbook stage applies it (the JSON under :data:`RESULT` on ``playbook-ticks``)."""

    effect_id: str
    phase: str
    at: datetime
    result: SealResult | None  # None: the seal failed (the worker's log says why)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        r = self.result
        return {
            "effect_id": self.effect_id,
            "phase": self.phase,
            "at": self.at.isoformat(),
            "ok": r is not None,
            "bundle_id": None if r is None else r.bundle_id,
            "items": 0 if r is None else r.items,
            "scanned": 0 if r is None else r.scanned,
            "truncated": False if r is None else r.truncated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SealOutcome:
        """Inverse of :meth:`to_json`."""
        result = (
            SealResult(data.get("bundle_id"), int(data["items"]), int(data["scanned"]), bool(data["truncated"]))
            if data.get("ok")
            else None
        )
        return cls(str(data["effect_id"]), str(data["phase"]), datetime.fromisoformat(data["at"]), result)


class SealQueue:
    """Seals waiting to be carried out, and the task that carries them out in batches."""

    def __init__(
        self,
        collector: EvidenceCollector,
        *,
        sink: Sink,
        topics: Topics,
        clock: Callable[[], datetime] = utcnow,
        batch: int = BATCH,
    ) -> None:
        self.collector = collector
        self.sink = sink
        self.topics = topics
        self.clock = clock
        self.batch = batch
        self._waiting: dict[tuple[str, str], SealEvidence] = {}
        self._running: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Seals waiting or being carried out."""
        return len(self._waiting) + len(self._running)

    def submit(self, seal: SealEvidence, phase: str) -> bool:
        """Queue ``seal`` (its ``phase``) unless it is queued or running already; whether it was queued."""
        key = (seal.effect_id, phase)
        if key in self._waiting or key in self._running:
            return False
        self._waiting[key] = seal
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        return True

    async def stop(self) -> None:
        """Stop carrying out seals (those left stay pending in their runs and are queued again after a restart)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                keys = list(self._waiting)[: self.batch]
                jobs = [(self._waiting.pop(k), k[1]) for k in keys]
                self._running.update(keys)
                try:
                    await self._carry_out(jobs)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the seals stay pending in their runs; the timer queues them again
                    log.exception("evidence seals failed", extra={"seals": len(jobs)})
                finally:
                    self._running.difference_update(keys)

    async def _carry_out(self, jobs: list[tuple[SealEvidence, str]]) -> None:
        now = self.clock()
        try:
            results: list[SealResult | Exception] = await self.collector.seal_many(jobs, now=now)
        except BrokerError:
            log.exception("evidence could not be read; the seals are tried again", extra={"seals": len(jobs)})
            results = [BrokerError("evidence could not be read")] * len(jobs)
        records = []
        for (seal, phase), result in zip(jobs, results, strict=True):
            if isinstance(result, Exception):
                ids = {"incident_id": seal.incident_id, "effect_id": seal.effect_id, "phase": phase}
                log.error("evidence seal failed", extra={**ids, "error": type(result).__name__})
                outcome = SealOutcome(seal.effect_id, phase, now, None)
            else:
                outcome = SealOutcome(seal.effect_id, phase, now, result)
            body = {"incident_id": seal.incident_id, "now": now.isoformat(), RESULT: outcome.to_json()}
            records.append(Record(self.topics.playbook_ticks, seal.incident_id.encode(), orjson.dumps(body)))
        await self.sink.send_all(records)
