"""faust's offset commits and seeks (streams.faust_fixes): never past a message a stream holds, holes of the log do not
stall, a rebalance reads again what faust cleared.

A faust Consumer's commit bookkeeping for one partition is driven directly,
no broker: deliveries (what a stream takes, in offset order, holes between),
acks in any order, commits. The committed offset is Kafka's: the next one to read.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any
from weakref import WeakSet

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types.tuples import TP, Message
from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree  # type: ignore[import-untyped]  # faust's dependency ships no types

from kinkyu.streams import faust_fixes
from kinkyu.streams.faust_fixes import FaustPatchError

faust_fixes.apply()

PART = TP("incidents", 0)


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that only yields to the loop (faust's ``_add_gap`` sleeps 0) to its end."""
    try:
        while True:
            coro.send(None)
    except StopIteration:
        pass


class Commits:
    """The commit bookkeeping of a faust Consumer for ``PART``, as after a seek to ``committed``."""

    def __init__(self, committed: int | None, *, upstream: bool = False) -> None:
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset[PART] = committed
        self._unacked_messages: WeakSet[Message] = WeakSet()
        self._waiting_for_ack = None
        self._n_acked = 0
        self.flowing = True
        self.app = SimpleNamespace(
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
            consumer_generation_id=1,
            flow_control=SimpleNamespace(is_active=lambda: self.flowing),
        )
        self.upstream = upstream
        self.read: int | None = committed  # faust's read offset after a seek: the committed one
        self.held: dict[int, Message] = {}

    @property
    def committed(self) -> int | None:
        return self._committed_offset[PART]

    def deliver(self, offset: int) -> Message:
        """faust reads ``offset`` (noting a hole since the last read, as ``_drain_messages``); a stream takes it."""
        if self.read and offset - self.read > 1:
            run(Consumer._add_gap(self, PART, self.read + 1, offset))  # type: ignore[arg-type]
        self.read = offset
        message = Message(PART.topic, PART.partition, offset, 0.0, 0, None, None, b"{}", None, tp=PART, generation_id=1)
        message.generation_id = self.app.consumer_generation_id
        message.tracked = True
        self._unacked_messages.add(message)
        self.held[offset] = message
        return message

    def ack(self, offset: int) -> None:
        ack: Callable[..., Any] = faust_fixes.original("ack") if self.upstream else Consumer.ack
        ack(self, self.held.pop(offset))

    def commit(self) -> int | None:
        new_offset: Callable[..., Any] = faust_fixes.original("_new_offset") if self.upstream else Consumer._new_offset
        offset = new_offset(self, PART)
        if offset is not None and Consumer._should_commit(self, PART, offset):  # type: ignore[arg-type]
            self._committed_offset[PART] = offset
        return self.committed


def test_upstream_faust_commits_past_the_message_held_at_the_committed_head() -> None:
    """The bug the patch is for (faust #606); if this fails, faust fixed it: re-check and drop the patch."""
    c = Commits(committed=40, upstream=True)
    for offset in range(40, 45):
        c.deliver(offset)
    for offset in range(41, 45):
        c.ack(offset)
    assert c.commit() == 45, "offset 40, still held, is committed over"


def test_a_message_held_at_the_committed_head_holds_the_commit_until_it_is_acked() -> None:
    c = Commits(committed=40)
    for offset in range(40, 45):
        c.deliver(offset)
    for offset in range(41, 45):
        c.ack(offset)
    assert c.commit() == 40
    c.ack(40)
    assert c.commit() == 45


def test_a_held_message_at_offset_zero_holds_the_commit_too() -> None:
    c = Commits(committed=0)
    for offset in range(3):
        c.deliver(offset)
    c.ack(1)
    c.ack(2)
    assert c.commit() == 0


def test_a_held_message_inside_the_acked_run_caps_the_commit_at_it() -> None:
    c = Commits(committed=None)
    for offset in range(6):
        c.deliver(offset)
    for offset in (0, 1, 3, 4, 5):
        c.ack(offset)
    assert c.commit() == 2


def test_holes_of_a_compacted_topic_at_the_head_and_between_do_not_stall_commits() -> None:
    c = Commits(committed=10)
    for offset in (13, 14, 18):
        c.deliver(offset)
    for offset in (13, 14, 18):
        c.ack(offset)
    assert c.commit() == 19


def test_an_ack_from_before_a_rebalance_does_not_make_its_offset_safe_to_commit() -> None:
    c = Commits(committed=5)
    c.deliver(5)
    c.app.consumer_generation_id = 2  # a rebalance: the partition stays here, faust reads again from 5
    c.ack(5)  # faust acks, unprocessed, what a stream takes from before the rebalance
    assert c.commit() == 5
    c.deliver(5)
    c.ack(5)
    assert c.commit() == 6


def test_an_ack_while_flow_is_stopped_for_a_rebalance_does_not_make_its_offset_safe_to_commit() -> None:
    c = Commits(committed=5)
    c.deliver(5)
    c.flowing = False
    c.ack(5)
    assert c.commit() == 5


class Partitions:
    """An aiokafka consumer's positions after a rebalance, as the seek back to committed offsets sees them.

    ``position`` is where fetching resumes: past the records faust had
    buffered and cleared when the rebalance began. ``revoked`` partitions
    leave the assignment while the seek runs (aiokafka raises for them).
    """

    def __init__(self, committed: dict[int, int | None], position: dict[int, int], revoked: set[int] = set()) -> None:  # noqa: B006  # never mutated
        self._committed = {TopicPartition("incidents", p): o for p, o in committed.items()}
        self.position = {TopicPartition("incidents", p): o for p, o in position.items()}
        self.revoked = {TopicPartition("incidents", p) for p in revoked}
        self._subscription = SimpleNamespace(assigned_partitions=self.assignment)
        self._fetcher = SimpleNamespace(seek_to=self.seek)

    def assignment(self) -> set[TopicPartition]:
        return set(self._committed)

    async def committed(self, tp: TopicPartition) -> int | None:
        if tp in self.revoked:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        return self._committed[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.position[tp] = 0

    def at(self, partition: int) -> int:
        return self.position[TopicPartition("incidents", partition)]


def seek(
    consumer: Partitions, *, upstream: bool = False, changelogs: frozenset[str] = frozenset()
) -> dict[Any, int | None]:
    if upstream:
        return asyncio.run(AIOKafkaConsumer.seek_to_committed(consumer))  # a stand-in consumer (aiokafka is untyped)
    return asyncio.run(faust_fixes.seek_consumer_to_committed(consumer, changelogs=changelogs))


def test_upstream_seek_leaves_a_partition_never_committed_past_the_records_faust_cleared() -> None:
    consumer = Partitions(committed={0: None, 1: 0}, position={0: 10, 1: 4})
    seek(consumer, upstream=True)
    assert (consumer.at(0), consumer.at(1)) == (10, 4), "records before the fetch position are never read again"


def test_a_partition_never_committed_is_read_again_from_its_beginning() -> None:
    consumer = Partitions(committed={0: None, 1: 0}, position={0: 10, 1: 4})
    assert seek(consumer) == {TopicPartition("incidents", 0): None, TopicPartition("incidents", 1): 0}
    assert (consumer.at(0), consumer.at(1)) == (0, 0)


def test_a_table_changelog_partition_is_left_where_its_recovery_has_it() -> None:
    consumer = Partitions(committed={0: None}, position={0: 10})
    changelog = TopicPartition("g-playbook-runs-changelog", 0)
    consumer._committed[changelog] = None
    consumer.position[changelog] = 7
    seek(consumer, changelogs=frozenset({changelog.topic}))
    assert consumer.position[changelog] == 7, "a recovery in progress is not sent back to the start"
    assert consumer.at(0) == 0


def test_a_committed_partition_is_read_again_from_its_committed_offset() -> None:
    consumer = Partitions(committed={2: 7}, position={2: 12})
    seek(consumer)
    assert consumer.at(2) == 7


def test_a_partition_revoked_during_the_seek_does_not_stop_the_seek_of_the_others() -> None:
    consumer = Partitions(committed={0: 3, 1: 5}, position={0: 9, 1: 9}, revoked={0})
    assert seek(consumer) == {TopicPartition("incidents", 1): 5}
    assert consumer.at(1) == 5


def test_the_worker_seeks_through_the_patched_consumer_thread() -> None:
    assert AIOKafkaConsumerThread.seek_to_committed is not faust_fixes.original("seek_to_committed")
    assert Consumer._wait_next_records is not faust_fixes.original("_wait_next_records")
    faust_fixes.check_faust()  # the replaced methods' sources are those the patch was checked against


class Fetching:
    """A faust Consumer's fetch step: a batch comes back, a rebalance may happen while it is on its way.

    ``completing``: the batch returns while a rebalance of its generation is
    being completed (the stream partitions resumed, their seek to the
    committed offsets done or running, the streams' queues not yet cleared).
    """

    def __init__(
        self,
        *,
        rebalance_during_fetch: bool,
        completing: bool = False,
        batch: dict[TP, list[int]] | None = None,
        aiokafka: Partitions | None = None,
    ) -> None:
        self.flow_active = True
        self.app = SimpleNamespace(client_only=False, consumer_generation_id=1, rebalancing=completing)
        self.not_waiting_next_records = asyncio.Event()
        self.rebalance = rebalance_during_fetch
        self.batch = batch if batch is not None else {PART: [45, 46]}
        self.aiokafka = aiokafka if aiokafka is not None else Partitions(committed={0: 45}, position={0: 47})
        self._thread = SimpleNamespace(call_thread=self._call_thread, _ensure_consumer=lambda: self.aiokafka)
        self._read_offset: dict[TP, int | None] = {PART: 46}

    @staticmethod
    async def _call_thread(method: Callable[..., Any], *args: Any) -> Any:
        return await method(*args)

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")

    def _get_active_partitions(self) -> set[TP]:
        return set(self.batch)

    async def _getmany(self, active_partitions: set[TP], timeout: float) -> dict[TP, list[int]]:
        del active_partitions, timeout
        if self.rebalance:
            self.app.consumer_generation_id = 2  # then the seek back to the committed offsets
        return dict(self.batch)


def fetch(consumer: Fetching, *, upstream: bool = False) -> Any:
    wait: Callable[..., Any] = faust_fixes.original("_wait_next_records") if upstream else Consumer._wait_next_records
    return asyncio.run(wait(consumer, 1.0))


def test_upstream_hands_a_batch_fetched_across_a_rebalance_to_the_streams_as_current() -> None:
    records, _ = fetch(Fetching(rebalance_during_fetch=True), upstream=True)
    assert records == {PART: [45, 46]}, "stamped with the new generation, they move the read offset past the seek"


def test_a_batch_fetched_across_a_rebalance_is_discarded_to_be_read_again_after_the_seek() -> None:
    records, active = fetch(Fetching(rebalance_during_fetch=True))
    assert (records, active) == ({}, {PART})


def test_a_batch_fetched_within_one_generation_reaches_the_streams() -> None:
    records, _ = fetch(Fetching(rebalance_during_fetch=False))
    assert records == {PART: [45, 46]}


def test_upstream_hands_a_batch_returning_while_a_rebalance_completes_to_queues_about_to_be_cleared() -> None:
    consumer = Fetching(rebalance_during_fetch=False, completing=True)
    records, _ = fetch(consumer, upstream=True)
    assert records == {PART: [45, 46]}, "cleared with the queues when flow resumes"
    assert consumer.aiokafka.at(0) == 47, "and the position stays past them: no stream ever sees them"


def test_a_batch_returning_while_a_rebalance_completes_is_read_again_from_the_committed_offset() -> None:
    consumer = Fetching(rebalance_during_fetch=False, completing=True)
    records, _ = fetch(consumer)
    assert records == {}
    assert consumer.aiokafka.at(0) == 45
    assert consumer._read_offset[PART] == 45, "read again as new, not dropped as already read"


def test_changelog_records_returning_while_a_rebalance_completes_reach_the_table() -> None:
    changelog = TP("g-playbook-runs-changelog", 0)
    aiokafka = Partitions(committed={0: 45}, position={0: 47})
    consumer = Fetching(
        rebalance_during_fetch=False, completing=True, batch={changelog: [3], PART: [45]}, aiokafka=aiokafka
    )
    records, _ = fetch(consumer)
    assert records == {changelog: [3]}
    assert aiokafka.at(0) == 45


def test_the_patch_refuses_a_faust_it_was_not_checked_against(monkeypatch: pytest.MonkeyPatch) -> None:
    faust_fixes.check_faust()
    monkeypatch.setattr(faust, "__version__", "0.15.4")
    with pytest.raises(FaustPatchError, match=r"checked against 0\.15\.3"):
        faust_fixes.check_faust()


def test_the_worker_applies_the_patch_once() -> None:
    assert faust_fixes.applied()
    patched = Consumer._new_offset
    faust_fixes.apply()
    assert Consumer._new_offset is patched


@st.composite
def histories(draw: st.DrawFn) -> tuple[int | None, list[int], list[tuple[str, int]]]:
    """A committed offset, the offsets present in the log after it (holes between), and a run of steps."""
    committed = draw(st.one_of(st.none(), st.integers(0, 3)))
    start = committed or 0
    present = sorted(draw(st.sets(st.integers(start, start + 25), min_size=1, max_size=15)))
    steps = draw(st.lists(st.tuples(st.sampled_from(["deliver", "ack", "commit"]), st.integers(0, 30)), max_size=80))
    return committed, present, steps


@given(histories())
def test_the_commit_never_passes_a_held_message_and_reaches_the_end_once_all_are_acked(
    history: tuple[int | None, list[int], list[tuple[str, int]]],
) -> None:
    committed, present, steps = history
    c = Commits(committed=committed)
    unread = list(present)
    for step, n in steps:
        if step == "deliver" and unread:
            c.deliver(unread.pop(0))
        elif step == "ack" and c.held:
            c.ack(sorted(c.held)[n % len(c.held)])
        else:
            c.commit()
        if c.held and c.committed is not None:
            assert c.committed <= min(c.held), f"committed {c.committed} past held {sorted(c.held)}"
    for offset in unread:
        c.deliver(offset)
    for offset in sorted(c.held):
        c.ack(offset)
    assert c.commit() == present[-1] + 1


class Positions:
    """An aiokafka consumer's changelog positions, for the rewind of a discarded batch."""

    def __init__(self, position: dict[TP, int]) -> None:
        self.at = {TopicPartition(tp.topic, tp.partition): o for tp, o in position.items()}

    async def position(self, tp: TopicPartition) -> int:
        return self.at[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset


CHANGELOG = TP("g-playbook-runs-changelog", 3)


def changelog_batch_across_a_rebalance(position: int) -> tuple[Any, Positions]:
    """A batch of changelog records 0-2 and a stream record fetched across a rebalance; the rewind's consumer."""
    positions = Positions({CHANGELOG: position})
    batch: dict[TP, list[Any]] = {CHANGELOG: [SimpleNamespace(offset=o) for o in (0, 1, 2)], PART: [45]}
    consumer = Fetching(rebalance_during_fetch=True, batch=batch)
    consumer._thread.call_thread = lambda method, *args: method(positions, *args[1:])
    return fetch(consumer), positions


def test_changelog_records_of_a_batch_fetched_across_a_rebalance_are_read_again_from_its_first() -> None:
    (records, _), positions = changelog_batch_across_a_rebalance(position=3)
    assert records == {}
    assert positions.at[TopicPartition(CHANGELOG.topic, CHANGELOG.partition)] == 0, (
        "the recovery sought it where the fetch began, which did not void the fetch: it waits for these records"
    )


def test_a_changelog_partition_sought_since_the_fetch_is_left_where_its_recovery_sought_it() -> None:
    (records, _), positions = changelog_batch_across_a_rebalance(position=1)
    assert records == {}
    assert positions.at[TopicPartition(CHANGELOG.topic, CHANGELOG.partition)] == 1


def test_a_compacted_changelog_batch_whose_next_offset_lies_beyond_its_last_record_is_read_again_too() -> None:
    (records, _), positions = changelog_batch_across_a_rebalance(position=7)
    assert records == {}
    assert positions.at[TopicPartition(CHANGELOG.topic, CHANGELOG.partition)] == 0
