"""A partition checkpoint larger than Kafka's 1 MiB default is sent and read back whole.

An incident counting distinct people keeps up to MAX_SUBJECT_IDS digests in
its partition's checkpoint (~108 KB each), so a busy partition's checkpoint
can pass 1 MiB: the producer and the checkpoints topic allow it.
"""

from __future__ import annotations

import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kinkyu.streams.app import ensure_topics
from kinkyu.streams.broker import EmbeddedBroker
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import KafkaSink, Record

pytestmark = pytest.mark.integration


async def test_a_checkpoint_of_several_mebibytes_is_sent_and_read_back_whole(broker: EmbeddedBroker) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:8]}-")
    await ensure_topics(broker.bootstrap, topics, 1)
    state = os.urandom(3 * 1024 * 1024)  # incompressible, as digests are
    sink = KafkaSink(broker.bootstrap)
    await sink.start()
    try:
        await sink.send_all([Record(topics.checkpoints, b"partition-0", state)])
    finally:
        await sink.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topics.checkpoints, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        batch = await consumer.getmany(tp, timeout_ms=10_000)
    finally:
        await consumer.stop()
    assert [m.value for m in batch[tp]] == [state]
