"""The bench's Kafka side: one producer configuration, topic creation and loading, bare consumers that drain or read.

Every topic is loaded with one producer configuration (acks=1, linger 5 ms, 256 KB batches), and every read
is a bare consumer with no group, so that the bench's own Kafka work is the same in every measurement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

MB: Final = 1024 * 1024
FETCH_BYTES: Final = 4 * MB
STALL: Final = 60.0  # seconds without progress before a phase gives up


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """The one producer configuration the bench loads every topic with (acks=0 is broken on tansu)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=256 * 1024)


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Create single-partition topics (the worker's default layout)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in names])
    finally:
        await admin.close()


async def load_topic(bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> tuple[int, float]:
    """Send every message with ``send_batch`` (partition 0); the count and seconds taken."""
    producer = make_producer(bootstrap)
    await producer.start()
    n = 0
    started = time.perf_counter()
    try:
        futures = []
        batch = producer.create_batch()
        for key, value in messages:
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=0))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            n += 1
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=0))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n, time.perf_counter() - started


def bare_consumer(bootstrap: str, *, wait_ms: int = 100) -> AIOKafkaConsumer:
    """A consumer with no group, reading from the earliest offset, 4 MB per partition per fetch."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=wait_ms,
        max_partition_fetch_bytes=FETCH_BYTES,
    )


Handler = Callable[[list[Any]], None]


async def drain(bootstrap: str, topic: str, n: int, handle: Handler) -> float:
    """Seconds a fresh bare consumer takes to read ``n`` messages of ``topic`` from the start."""
    consumer = bare_consumer(bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        count = 0
        started = last = time.perf_counter()
        while count < n:
            batches = await consumer.getmany(timeout_ms=1000)
            for msgs in batches.values():
                handle(msgs)
                count += len(msgs)
            now = time.perf_counter()
            if batches:
                last = now
            elif now - last > STALL:
                raise RuntimeError(f"drain stalled at {count:,} of {n:,} messages")
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def read_opened(
    bootstrap: str, topic: str, expected: int, within: float, since_ms: int = 0
) -> list[dict[str, Any]]:
    """The ``opened`` records written since ``since_ms``, once ``expected`` are there (or ``within`` s passed).

    Rounds of (b) share the topics (a fresh group each), so earlier rounds' records are left out by time.
    """
    consumer = bare_consumer(bootstrap, wait_ms=20)
    await consumer.start()
    opened: list[dict[str, Any]] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for msgs in batches.values():
                for m in msgs:
                    if m.timestamp < since_ms:
                        continue
                    rec = orjson.loads(m.value)
                    if rec.get("change") == "opened":
                        opened.append(rec)
            if len(opened) >= expected and not batches:
                break
    finally:
        await consumer.stop()
    return opened
