"""Escalation chains on the broker: the compacted topic a partition's next owner continues them from.

The rules are pure (:mod:`kinkyu.core.handover`); this is the Kafka edge.
``<prefix>kinkyu-chains`` is keyed by incident id and co-partitioned with
``notifications`` (the producer's default partitioner, so one incident's
chains share its partition number); each record holds every chain of one
incident (:func:`kinkyu.core.handover.encode_board`), so compaction keeps the
newest copy of them all. The notifier stage publishes an incident's chains
after each change and before the ``notifications`` record that caused it is
committed; a worker that gains a partition reads that partition of the topic
to its end (:func:`read_boards`) and continues the chains from there; it
also follows the topic (:func:`follow_boards`), so a board the old owner
publishes after that read still reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from kinkyu.bus.clients import BrokerConnection, as_connection, read_to_end
from kinkyu.core.escalation import EscalationError, EscalationState
from kinkyu.core.handover import decode_board

log = logging.getLogger("kinkyu.notifier.handover")


async def read_boards(
    bootstrap: BrokerConnection | str, topic: str, partitions: Iterable[int]
) -> dict[str, list[EscalationState]]:
    """The newest chains of every incident on ``partitions`` of ``topic``, read to the end, without a group.

    A record that is not a board is logged (by offset) and skipped; BrokerError when the broker cannot be reached.
    """
    found: dict[str, list[EscalationState]] = {}
    async for msg in read_to_end(bootstrap, topic, "the escalation chains' reader", partitions):
        try:
            incident_id, chains = decode_board(msg.value)
        except EscalationError as exc:
            log.warning("chain board ignored", extra={"offset": msg.offset, "error": str(exc)})
            continue
        found[incident_id] = chains
    return found


BoardCallback = Callable[[str, list[EscalationState]], Awaitable[None]]
# The header naming the worker that published a board: a worker skips its own without decoding them.
PUBLISHER = "kinkyu-publisher"


async def follow_boards(
    bootstrap: BrokerConnection | str, topic: str, on_board: BoardCallback, *, skip: bytes | None = None
) -> None:
    """Hand every board published on ``topic`` from now on to ``on_board``, until cancelled.

    A worker that takes a partition over reads it once (:func:`read_boards`);
    a record the old owner still had in hand when the partition was revoked
    may be published after that read, and this is how the new owner still
    gets its chain. Boards whose :data:`PUBLISHER` header is ``skip`` (this
    worker's own) are passed over. Read errors are logged and retried;
    BrokerError when the broker cannot be reached at the start.
    """
    connection = as_connection(bootstrap)
    reader = connection.consumer(enable_auto_commit=False, fetch_max_wait_ms=100)
    await connection.start(reader, "the escalation chains' follower")
    try:
        numbers: set[int] = set()
        while not numbers:
            cluster = await reader._client.fetch_all_metadata()  # noqa: SLF001  # no public call for a topic's partitions
            numbers = cluster.partitions_for_topic(topic) or set()
            if not numbers:
                await asyncio.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(numbers)]
        reader.assign(tps)
        await reader.seek_to_end(*tps)
        while True:
            try:
                batch = await reader.getmany(timeout_ms=1_000)
            except KafkaError:
                log.exception("escalation chains could not be read; retrying")
                await asyncio.sleep(1.0)
                continue
            for msgs in batch.values():
                for msg in msgs:
                    if not msg.value or (skip is not None and (PUBLISHER, skip) in (msg.headers or ())):
                        continue
                    try:
                        incident_id, chains = decode_board(msg.value)
                    except EscalationError as exc:
                        log.warning("chain board ignored", extra={"offset": msg.offset, "error": str(exc)})
                        continue
                    await on_board(incident_id, chains)
    finally:
        with contextlib.suppress(KafkaError, OSError):
            await reader.stop()
