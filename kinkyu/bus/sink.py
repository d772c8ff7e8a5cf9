"""The producer seam: everything the worker (and the console) sends goes through a :class:`Sink`.

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
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.bus.exceptions import BrokerError, RecordRejectedError

# The largest record Kinkyu produces and the checkpoints topic accepts (its ``max.message.bytes``).
CHECKPOINT_MAX_BYTES = 16 * 1024 * 1024

log = logging.getLogger("kinkyu.sink")

Headers = Sequence[tuple[str, bytes]]

# Errors that say a record is refused for what it is: sending it again cannot help, so they are
# reported (RecordRejectedError) rather than retried like an outage.
_REFUSED = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


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

    def __init__(self, bootstrap: BrokerConnection | str, *, attempts: int = 5, backoff: float = 0.5) -> None:
        self._bootstrap = as_connection(bootstrap)
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
        producer = self._bootstrap.producer(
            acks=1,
            linger_ms=5,
            max_batch_size=256 * 1024,
            # A partition's checkpoint is one record holding its engine state, and an incident counting
            # distinct people keeps up to MAX_SUBJECT_IDS digests (~108 KB): the 1 MiB default would stop
            # the worker at about nine such incidents. The checkpoints topic allows the same size.
            max_request_size=CHECKPOINT_MAX_BYTES,
            request_timeout_ms=15_000,
        )
        await self._bootstrap.start(producer, "a producer")  # BrokerError says what to check
        self._producer_ = producer

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer_ is not None:
            await self._producer_.stop()
            self._producer_ = None

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record; retry transient failures (sends are idempotent by key), report refused ones.

        A broker outage is retried a bounded number of times, then
        :class:`BrokerError`. A record the producer or the broker refuses for
        what it is (too large) is not retried: the others are sent, then
        :class:`RecordRejectedError` names the refused ones by index, so the
        caller can set aside what produced them instead of stopping.
        """
        if not records:
            return
        pending = list(range(len(records)))
        rejected: dict[int, str] = {}
        for attempt in range(1, self._attempts + 1):
            failed, error = await self._send_once(records, pending, rejected)
            if not failed:
                break
            if attempt == self._attempts:
                raise BrokerError(
                    f"could not send {len(failed)} record(s) after {attempt} attempts: {error}"
                ) from error
            log.warning("send failed, retrying", extra={"attempt": attempt, "error": type(error).__name__})
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            pending = failed
        if rejected:
            raise RecordRejectedError(rejected)

    async def _send_once(
        self, records: Sequence[Record], pending: list[int], rejected: dict[int, str]
    ) -> tuple[list[int], KafkaError | None]:
        """One pass over ``pending``: refused records into ``rejected``; the indices to retry and the last error."""
        failed: list[int] = []
        error: KafkaError | None = None
        sent: list[tuple[int, asyncio.Future[object]]] = []
        for i in pending:
            try:
                sent.append((i, await self._send(records[i])))
            except _REFUSED:
                rejected[i] = "record-too-large"
            except KafkaError as exc:
                failed.append(i)
                error = exc
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        suspects: list[int] = []
        for (i, _), result in zip(sent, results, strict=True):
            if isinstance(result, _REFUSED):
                suspects.append(i)
            elif isinstance(result, KafkaError):
                failed.append(i)
                error = result
            elif isinstance(result, BaseException):
                raise result
        # A broker refuses a whole batch for one record in it: each suspect alone tells which.
        for i in suspects:
            try:
                await (await self._send(records[i]))
            except _REFUSED:
                rejected[i] = "record-too-large"
            except KafkaError as exc:
                failed.append(i)
                error = exc
        return failed, error

    async def _send(self, r: Record) -> asyncio.Future[object]:
        future: asyncio.Future[object] = await self._producer.send(
            r.topic, r.value, key=r.key, headers=list(r.headers) or None
        )
        return future
