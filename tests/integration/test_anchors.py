"""Anchors on a real broker: chain heads published to the compacted kinkyu-anchors topic and read back.

Verification trusts only what verifies under the integrity key: a record
someone wrote to the topic without it is ignored, an older one replayed does
not move the head back, and a publisher started later knows the heads
already anchored (so a writer notices a file cut while it was stopped).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from conftest import Pipeline

from kinkyu.core.integrity import Keyring, make_anchor
from kinkyu.evidence.anchor import AnchorPublisher, read_anchors

pytestmark = pytest.mark.integration

KEYRING = Keyring({"k1": bytes(range(64, 96))}, "k1")
NOT_THE_KEY = Keyring({"k1": bytes(32)}, "k1")


async def test_heads_are_published_compacted_and_read_back_newest_per_chain(pipeline: Pipeline) -> None:
    topic = pipeline.topics.anchors
    publisher = AnchorPublisher(pipeline.broker.bootstrap, topic, keyring=KEYRING)
    await publisher.start()
    try:
        for seq in (1, 2, 3):
            publisher.offer(make_anchor("evidence/INC-1", seq, "a" * 64, datetime.now(UTC), KEYRING))
        publisher.offer(make_anchor("audit/console", 7, "b" * 64, datetime.now(UTC), KEYRING))
        await publisher.flush(30)
    finally:
        await publisher.stop()

    anchors = await read_anchors(pipeline.broker.bootstrap, topic, KEYRING)

    assert {chain: a.seq for chain, a in anchors.items()} == {"evidence/INC-1": 3, "audit/console": 7}
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.broker.bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = {c[0]: c[1] for c in described.resources[0][4]}
    finally:
        await admin.close()
    assert configs.get("cleanup.policy") == "compact"


async def test_a_record_without_the_key_or_an_older_one_replayed_changes_nothing(pipeline: Pipeline) -> None:
    topic = pipeline.topics.anchors
    real = make_anchor("evidence/INC-2", 5, "c" * 64, datetime.now(UTC), KEYRING)
    older = make_anchor("evidence/INC-2", 2, "d" * 64, datetime.now(UTC), KEYRING)
    forged = make_anchor("evidence/INC-2", 9, "e" * 64, datetime.now(UTC), NOT_THE_KEY)
    publisher = AnchorPublisher(pipeline.broker.bootstrap, topic)
    await publisher.start()
    try:
        for anchor in (real, forged, older):  # the forged and the replayed one come after the real head
            publisher.offer(anchor)
            await publisher.flush(30)
    finally:
        await publisher.stop()

    anchors = await read_anchors(pipeline.broker.bootstrap, topic, KEYRING)

    assert anchors["evidence/INC-2"] == real


async def test_a_publisher_started_later_knows_the_heads_already_anchored(pipeline: Pipeline) -> None:
    topic = pipeline.topics.anchors
    first = AnchorPublisher(pipeline.broker.bootstrap, topic, keyring=KEYRING)
    await first.start()
    head = make_anchor("audit/console", 42, "f" * 64, datetime.now(UTC), KEYRING)
    try:
        first.offer(head)
        await first.flush(30)
    finally:
        await first.stop()

    restarted = AnchorPublisher(pipeline.broker.bootstrap, topic, keyring=KEYRING)
    await restarted.start(load_within=30)
    try:
        assert restarted.known("audit/console") == head
        assert restarted.known("evidence/INC-9") is None
    finally:
        await restarted.stop()
