"""Containment for the faust agents: a record that makes a stage raise is set aside, not lost, not fatal.

faust acks a message whose handler raised, so an exception there would lose
the record; retrying it would stop the stage for good if the record itself
is the problem. :class:`RecordGuard` runs a stage's handler on one record and,
when the record makes it raise, sends the record to ``dead-letters``
(bounded, :func:`streams.codec.dead_letter`; the stage, reason and source
topic/partition/offset in headers), counts it
(``kinkyu_records_set_aside_total{stage,reason}``) and lets the stage go on.
Its log lines are budgeted (:mod:`streams.log_budget`): a few per reason a
minute, then one line summing up the rest.

An outage is not a bad record: the stage's outage errors (a broker that
cannot be reached, an outbox journal that refuses writes) are not set aside.
The stage has already asked the worker to stop (its ``on_fatal``), and a
restart redoes the record; the guard only logs that it passed it on.

:class:`IncidentFeed` is the incident feed's handler, separate from faust so
that it can be tested (and fuzzed) without a broker.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from kinkyu.exceptions import MalformedEventError
from kinkyu.streams.codec import dead_letter, decode_record
from kinkyu.streams.exceptions import BrokerError, RecordRejectedError
from kinkyu.streams.log_budget import LogBudget
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Sink

log = logging.getLogger("kinkyu.guard")

Handler = Callable[[bytes | None], Awaitable[None]]
OutageCallback = Callable[[BaseException], Awaitable[None]]


class SourceMessage(Protocol):
    """What the guard reads of a consumed message (faust's ``event.message`` has it)."""

    @property
    def topic(self) -> str: ...  # noqa: D102  # the message's own fields
    @property
    def partition(self) -> int: ...  # noqa: D102
    @property
    def offset(self) -> int: ...  # noqa: D102
    @property
    def key(self) -> bytes | None: ...  # noqa: D102
    @property
    def value(self) -> bytes | None: ...  # noqa: D102


def classify(exc: BaseException) -> tuple[MalformedEventError, bool]:
    """The dead-letter reason for ``exc`` and whether it is a bug (not the record's fault alone).

    Reasons name fields and codes, never values: an unexpected exception is
    described by its type only (its message may quote the record).
    """
    if isinstance(exc, MalformedEventError):
        return exc, False
    if isinstance(exc, RecordRejectedError):
        reason = min(exc.rejected.values(), default="record-too-large")
        return MalformedEventError(reason, "an output of this record is larger than the broker accepts"), False
    if isinstance(exc, RecursionError):
        return MalformedEventError("too-deep", "nested deeper than the stage can follow"), False
    return MalformedEventError("processing-error", f"{type(exc).__name__} while handling the record"), True


class RecordGuard:
    """Runs one stage's handler per record; sets aside the records that make it raise."""

    def __init__(
        self,
        *,
        stage: str,
        topics: Topics,
        sink: Sink,
        metrics: Metrics,
        on_outage: OutageCallback | None = None,
        outages: tuple[type[BaseException], ...] = (BrokerError,),
        log_budget: LogBudget | None = None,
    ) -> None:
        self.stage = stage
        self.topics = topics
        self.sink = sink
        self.metrics = metrics
        self.on_outage = on_outage
        self.outages = outages
        # A stream of bad records logs a few lines per reason a minute, then a sum (the metric counts all).
        self.log_budget = log_budget if log_budget is not None else LogBudget(log, f"records set aside by {stage}")

    async def run(self, message: SourceMessage, handler: Handler) -> bool:
        """``handler(message.value)``; False when the record was set aside instead. Raises only on cancellation."""
        try:
            await handler(message.value)
        except asyncio.CancelledError:
            raise
        except self.outages as exc:
            # The stage has asked the worker to stop; a restart redoes this record.
            log.warning(
                "record not handled: outage",
                extra={**self._where(message), "error": type(exc).__name__},
            )
            return True
        except Exception as exc:  # noqa: BLE001  # the record, not the stage, is what failed
            await self.set_aside(message, exc)
            return False
        return True

    async def set_aside(self, message: SourceMessage, exc: BaseException) -> None:
        """Send ``message`` to dead-letters with the reason ``exc`` gives, count and log it."""
        error, bug = classify(exc)
        where = self._where(message)
        self.metrics.set_aside.labels(self.stage, error.reason).inc()  # every one, whatever the log shows
        if self.log_budget.allow(error.reason, bug=bug):
            if bug:
                # A bug: error level with the frames (code locations), never the exception's message.
                stack = "".join(traceback.format_tb(exc.__traceback__))
                log.error(
                    "record set aside: the stage failed on it",
                    extra={**where, "reason": error.reason, "error": type(exc).__name__, "stack": stack},
                )
            else:
                log.warning("record set aside", extra={**where, "reason": error.reason})
        record = dead_letter(
            self.topics,
            source=str(message.topic),
            partition=int(message.partition),
            offset=int(message.offset),
            key=message.key,
            value=message.value,
            error=error,
            stage=self.stage,
        )
        try:
            await self.sink.send_all([record])
        except RecordRejectedError:
            log.warning("dead letter refused by the broker", extra=where)
        except BrokerError as outage:
            # The record can be neither handled nor set aside: stop, so a restart sees it again.
            log.error("record could not be set aside: the broker is unreachable; stopping", extra=where)  # noqa: TRY400  # an outage, not a bug
            if self.on_outage is not None:
                await self.on_outage(outage)

    def flush_log(self) -> None:
        """Sum up the lines the log held back, once their minute is over (the worker's tick calls it)."""
        self.log_budget.flush()

    def _where(self, message: SourceMessage) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "topic": str(message.topic),
            "partition": message.partition,
            "offset": message.offset,
        }


class IncidentFeed:
    """The incident feed's handler: each ``incidents`` record to the notifier's memory and the callback.

    Raises :class:`~kinkyu.exceptions.MalformedEventError` for a record that
    is not a JSON object; whatever the callbacks raise passes through (the
    guard sets the record aside).
    """

    def __init__(
        self,
        remember: Callable[[Mapping[str, Any]], None],
        on_incident: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.remember = remember
        self.on_incident = on_incident

    async def handle(self, value: bytes | None) -> None:
        """One record of ``incidents``."""
        record = decode_record(value)
        self.remember(record)
        if self.on_incident is not None:
            self.on_incident(record)
