"""The console's only way to write: incident events on ``incident-events``, keyed by contract id.

:class:`EventProducer` is the seam (the app takes any implementation; the unit
tests pass a recording one). :class:`KafkaEventProducer` sends through
:class:`kinkyu.bus.sink.KafkaSink`, connecting lazily so the console starts (and
shows incidents) while the broker is down; a form posted then gets
:class:`BrokerUnavailableError` within ``timeout`` seconds and the page says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import orjson

from kinkyu.bus.clients import BrokerConnection
from kinkyu.bus.exceptions import BrokerError
from kinkyu.bus.sink import KafkaSink, Record
from kinkyu.bus.topics import Topics
from kinkyu.console.exceptions import ConsoleError

log = logging.getLogger("kinkyu.console.producer")


class BrokerUnavailableError(ConsoleError):
    """The event was not accepted by the broker (nothing was recorded)."""


class EventProducer(Protocol):
    """Sends one incident event and returns once the broker has it."""

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send ``event`` (events.md format) keyed by its ``contract_id``; BrokerUnavailableError if not accepted."""

    async def close(self) -> None:
        """Flush and disconnect."""


class KafkaEventProducer:
    """:class:`EventProducer` over aiokafka (through the broker seam's :class:`~kinkyu.bus.sink.KafkaSink`)."""

    def __init__(self, bootstrap: BrokerConnection | str, topic_prefix: str = "", *, timeout: float = 10.0) -> None:
        self.topic = Topics(topic_prefix).incident_events
        self._bootstrap = bootstrap
        self._timeout = timeout
        self._sink: KafkaSink | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> KafkaSink:
        async with self._lock:
            if self._sink is None:
                sink = KafkaSink(self._bootstrap, attempts=2, backoff=0.5)
                try:
                    await sink.start()
                except BrokerError:
                    await sink.stop()
                    raise
                self._sink = sink
            return self._sink

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send ``event``; BrokerUnavailableError when the broker cannot be reached or refuses it in time."""
        record = Record(self.topic, str(event["contract_id"]).encode(), orjson.dumps(event))
        try:
            async with asyncio.timeout(self._timeout):
                sink = await self._connected()
                await sink.send_all([record])
        except (BrokerError, TimeoutError) as exc:
            log.warning(
                "incident event not sent", extra={"event_id": event.get("event_id"), "error": type(exc).__name__}
            )
            await self._reset()
            raise BrokerUnavailableError("the broker did not accept the event") from exc

    async def _reset(self) -> None:
        async with self._lock:
            sink, self._sink = self._sink, None
        if sink is not None:
            try:
                await sink.stop()
            except Exception:  # a broken connection may not close cleanly; a new one is made next time
                log.debug("producer did not stop cleanly", exc_info=True)

    async def close(self) -> None:
        """Flush and disconnect (idempotent)."""
        await self._reset()


class RecordingProducer:
    """An :class:`EventProducer` that keeps what it was given (tests, and a console without a broker)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail

    async def send_event(self, event: dict[str, Any]) -> None:
        """Record ``event`` (or raise BrokerUnavailableError when ``fail`` is set)."""
        if self.fail:
            raise BrokerUnavailableError("the broker did not accept the event")
        self.events.append(event)

    async def close(self) -> None:
        """Nothing to close."""
