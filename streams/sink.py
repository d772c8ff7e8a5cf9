"""The producer seam: everything the worker sends goes through a :class:`Sink`.

Outputs are built first (pure), sent second. The Kafka implementation
batches and waits for every send before offsets move on, so a crash between
the two re-sends rather than loses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.exceptions import BrokerError

# The largest record Kinkyu produces and the checkpoints topic accepts (its ``max.message.bytes``).
CHECKPOINT_MAX_BYTES = 16 * 1024 * 1024

log = logging.getLogger("kinkyu.sink")

Headers = Sequence[tuple[str, bytes]]


@dataclass(slots=True, frozen=True)
class Record:
    """One message to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()


class Sink(Protocol):
    """Where the worker's output goes."""

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record and return once the broker has acknowledged all of them."""


class KafkaSink:
    """A :class:`Sink` over an aiokafka producer, retrying transient failures a bounded number of times."""

    def __init__(self, bootstrap: str, *, attempts: int = 5, backoff: float = 0.5) -> None:
        self._bootstrap = bootstrap
        self._producer_: AIOKafkaProducer | None = None
        self._attempts = attempts
        self._backoff = backoff

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._producer_ is None:
            raise BrokerError("KafkaSink used before start()")
        return self._producer_

    async def start(self) -> None:
        """Connect to the broker (aiokafka clients must be made inside the running loop)."""
        # acks=1: tansu breaks acks=0 and lacks idempotent producers; effects are idempotent anyway.
        self._producer_ = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks=1,
            linger_ms=5,
            max_batch_size=256 * 1024,
            # A partition's checkpoint is one record holding its engine state, and an incident counting
            # distinct people keeps up to MAX_SUBJECT_IDS digests (~108 KB): the 1 MiB default would stop
            # the worker at about nine such incidents. The checkpoints topic allows the same size.
            max_request_size=CHECKPOINT_MAX_BYTES,
            request_timeout_ms=15_000,
        )
        try:
            await self._producer.start()
        except KafkaError as exc:
            raise BrokerError(f"cannot connect a producer to the broker: {exc}") from exc

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer_ is not None:
            await self._producer_.stop()
            self._producer_ = None

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record; retry the whole batch on a transient error (sends are idempotent by key)."""
        if not records:
            return
        for attempt in range(1, self._attempts + 1):
            try:
                futures = [
                    await self._producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None)
                    for r in records
                ]
                await asyncio.gather(*futures)
            except KafkaError as exc:
                if attempt == self._attempts:
                    raise BrokerError(
                        f"could not send {len(records)} record(s) after {attempt} attempts: {exc}"
                    ) from exc
                log.warning("send failed, retrying", extra={"attempt": attempt, "error": type(exc).__name__})
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            else:
                return
