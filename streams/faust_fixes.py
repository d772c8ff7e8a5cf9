"""A correction to faust's offset commits: never commit past a message a stream holds and has not acked.

Why. faust commits, per partition, the end of the first run of acked offsets.
faust-streaming 0.15.3 guards the head of that run with
``if committed: if min(acked) - committed > 1: return None``: when the
message at the committed offset itself is still being processed (a slow
playbook step, an e-mail in flight, a rebalance) the acked run starts one
past it, the difference is exactly 1, and faust commits over the unfinished
message. A kill or a rebalance before it is acked then loses it: the next
owner resumes after it and its effect (a playbook run, a first report) never
happens. The guard is also skipped for a committed offset of 0 (falsy).

- faust issue #606, "Wrong offset commit in case of gaps" (open):
  https://github.com/faust-streaming/faust/issues/606
- faust PR #707, "never commit past an in-flight (unacked) message" (open,
  the same rule as here): https://github.com/faust-streaming/faust/pull/707
- history of the guard: #312 / PR #313 (0.8.5) and #378 (0.9.0), which
  loosened it to let compacted topics' holes through.

The rule enforced here: the committed offset never passes a message a
stream has taken (faust tracks it in ``Consumer._unacked_messages``) and not
acked. An offset nobody holds below the acked run is a hole in the log (a
compacted record, a transaction marker) and does not stall commits, which is
what the upstream ``> 1`` tried to allow for (see :func:`_new_offset`).

Second, an ack from before a rebalance is not recorded as safe to commit:
faust acks, without running it, a message a stream takes while flow is
stopped for a rebalance or that was fetched in an earlier generation, and
that ack could later carry a commit past the same offset delivered again.
Such a message comes again from the committed offset if the partition stays
here, and goes to its new owner otherwise.

Third, the seek back to the committed offsets after a rebalance skips a
partition nobody has committed yet. faust clears what its streams had
buffered but not taken when a rebalance starts and relies on that seek to
read it again; aiokafka's ``seek_to_committed`` moves only partitions whose
committed offset is above 0 (``if offset and offset > 0``), so a partition
that kept its owner before its first commit resumed at the fetch position,
past the cleared records: an ``incidents`` record lost that way never got a
playbook run (issue #14, seen in the failover test with the stage topics
spread over four partitions, where a young partition often has no commit
when the first rebalance comes). Such a partition is read from its
beginning instead (the app's ``auto_offset_reset`` is ``earliest``; every
agent is safe to run twice). A partition revoked while the seek runs no
longer aborts the seek of the others (aiokafka raises
``IllegalStateError`` for it); its next owner reads it from the committed offset.

Fourth, a batch fetched across a rebalance is not handed to the streams
as if fetched after it. faust stamps a fetched batch with the consumer
generation current when the fetch *returns*, so records prefetched before
a rebalance reach the streams as current ones after the seek back to the
committed offsets; their offsets move faust's read offset past the records
that seek is about to deliver again, and faust drops those as already read
(faust issue #221, "Prefetched events cause out of order issue after
rebalance"; #216). Seen in the failover test: ``notifications`` and
``incidents`` records just before a hand-over never reached their agents.
Such a batch is discarded: the seek that follows every rebalance reads it again.
A table's changelog partitions in such a batch are sought back to its first
record: their only seek is the recovery's, to the last record the table
applied, which is where a fetch in flight started when the recovery had
applied nothing since its previous seek; aiokafka voids a fetch only when
the position *changes*, so that batch came back, and discarded it left the
position past records the recovery then waited for for ever. That is what
the failover test's rare stall looks like (3 runs in about 30 on the
notifier hand-over branch: "No event received for active tp …
playbook-runs-changelog" from a recovery started by a second rebalance 2 s
after the first, a first report never sent).

Fifth, a batch that returns while a rebalance is being completed does not
reach the streams' queues. faust resumes the stream partitions, then seeks
them to their committed offsets, then resumes the flow, which clears every
stream's queue. A fetch made before a partition's seek from the very offset
it seeks to (a partition just assigned starts there) is not voided by that
seek; returning after it, its records went into the queues, were cleared
with them, and the consumer's position stayed past them: no stream ever saw
them. Seen in the failover test with the notifier's hand-over (a worker
restarted after SIGKILL took the first ``notifications`` and ``incidents``
record of its new partition 0, which it handled, and never any of the
others). Such a batch's stream records are dropped and their partitions
sought back to their committed offsets once more; changelog records (a
table's recovery, while the stream partitions are paused) pass.

Checked against faust-streaming 0.15.3 (the version pinned in
pyproject.toml). :func:`apply` refuses any other version, and any change to
the source of the replaced methods, so an upgrade re-checks this module
against upstream (drop it once #707 or an equivalent fix is released).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from typing import TYPE_CHECKING, Any, Final

import faust
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import TP, Message, ack_lock
from mode.utils.futures import notify

from kinkyu.streams.exceptions import StreamsError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

log = logging.getLogger("kinkyu.faust_fixes")

__all__ = ["CHECKED_AGAINST", "FaustPatchError", "applied", "apply", "check_faust", "original"]

CHECKED_AGAINST: Final = "0.15.3"
# sha256 of inspect.getsource() of each method replaced, as in faust-streaming 0.15.3 installed here.
_SOURCES: Final = {
    "_new_offset": "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0",
    "ack": "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f",
    "seek_to_committed": "775ab0adc4b052abee204d5347a556412b1f77ed4de971adde69a55a1cb6f908",
    "_wait_next_records": "6218e1969a636b3ff504ad1b8e7ad58a113572e43d746cc96d684ed5153032c6",
}
# The class each replaced method belongs to: faust's Consumer, and its aiokafka driver's consumer thread.
_OWNERS: Final[dict[str, type]] = {
    "_new_offset": faust_consumer.Consumer,
    "ack": faust_consumer.Consumer,
    "seek_to_committed": faust_aiokafka.AIOKafkaConsumerThread,
    "_wait_next_records": faust_consumer.Consumer,
}

_ORIGINALS: dict[str, Callable[..., Any]] = {}


class FaustPatchError(StreamsError):
    """The installed faust is not the one :mod:`streams.faust_fixes` was checked against; re-check the patch."""


def _source_digest(name: str) -> str:
    return hashlib.sha256(inspect.getsource(original(name)).encode()).hexdigest()


def check_faust() -> None:
    """Raise :class:`FaustPatchError` unless faust and the methods replaced are those this was checked against."""
    if faust.__version__ != CHECKED_AGAINST:
        msg = (
            f"faust {faust.__version__} is installed; streams/faust_fixes.py was checked against {CHECKED_AGAINST}: "
            "re-check faust's Consumer._new_offset and Consumer.ack (faust issue #606, PR #707) and "
            "Consumer._wait_next_records and AIOKafkaConsumerThread.seek_to_committed, and update the patch"
        )
        raise FaustPatchError(msg)
    changed = sorted(name for name, digest in _SOURCES.items() if _source_digest(name) != digest)
    if changed:
        msg = f"faust's {', '.join(changed)} changed since streams/faust_fixes.py was written: re-check it"
        raise FaustPatchError(msg)


def _lowest_held(consumer: Any, tp: TP) -> int | None:  # a faust Consumer, used through its privates
    """The lowest offset of ``tp`` a stream took in this generation and has not acked, if any.

    A message of an earlier generation is read again from the committed offset (or by the partition's new owner).
    """
    generation = consumer.app.consumer_generation_id
    held = [
        m.offset
        for m in list(consumer._unacked_messages)  # noqa: SLF001  # faust's own bookkeeping
        if m.tp == tp and not m.acked and m.generation_id == generation
    ]
    return min(held) if held else None


def _new_offset(self: Any, tp: TP) -> int | None:  # replaces faust's Consumer._new_offset
    """The offset to commit for ``tp``: past the highest ack, never past a held message; or ``None``.

    Offsets of a partition reach the streams in order and a message is acked
    only once every stream subscribed has taken it, so an offset below an
    acked one is acked, held, or was never delivered (a hole of the log: a
    compacted record, a transaction marker). faust's own record of holes
    misses some (none is noted after a read of offset 0, nor at the committed
    offset itself), so it is not needed here; it is trimmed so it does not grow.
    """
    acked: list[int] = self._acked[tp]
    if not acked:
        return None
    acked.sort()
    end = acked[-1] + 1
    held = _lowest_held(self, tp)
    if held is not None and held < end:
        # The committed offset is the next one to read: stopping at the held message keeps it to be read again.
        end = held
    done = [offset for offset in acked if offset < end]
    if not done:
        return None
    del acked[: len(done)]
    self._acked_index[tp].difference_update(done)
    self._gap[tp].chop(0, end)
    return end


def _ack(self: Any, message: Message) -> bool:  # wraps faust's Consumer.ack
    """As faust's ``Consumer.ack``, but an ack from before a rebalance is not made safe to commit."""
    app = self.app
    with ack_lock:
        stale = message.generation_id != app.consumer_generation_id or not app.flow_control.is_active()
        if stale and not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            return False
    return bool(_ORIGINALS["ack"](self, message))


async def _wait_next_records(self: Any, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109  # faust's signature, replaced as is
    """As faust's ``Consumer._wait_next_records``, but a batch fetched across a rebalance comes back empty.

    The generation is read once flow is active, just before the fetch: a
    batch that returns in another generation, or with flow stopped for a
    rebalance, was fetched from positions the rebalance's seek has reset.
    One that returns while a rebalance is still being completed comes back
    without its stream records, read again from the committed offsets
    (:func:`_hold_back_streams`).
    """
    if not self.flow_active:
        await self.wait(self.can_resume_flow)
    try:
        self.not_waiting_next_records.set()
        client_only = self.app.client_only
        active = None if client_only else self._get_active_partitions()
        records: dict[Any, Any] = {}
        if client_only or active:
            generation = self.app.consumer_generation_id
            settling = self.app.rebalancing
            records = await self._getmany(active_partitions=active, timeout=timeout)
            if records and (self.app.consumer_generation_id != generation or not self.flow_active):
                await _rewind_changelogs(self, records)
                records = {}  # read again from the committed offsets by the seek every rebalance ends with
            elif records and (settling or self.app.rebalancing):
                records = await _hold_back_streams(self, records)
        else:
            await self.sleep(1)  # as faust: still release the loop
        return records, active
    finally:
        self.not_waiting_next_records.set()


async def _rewind_changelogs(self: Any, records: dict[Any, Any]) -> None:  # a faust Consumer
    """Seek the changelog partitions of a discarded batch back to its first record, unless sought since.

    Stream partitions are read again by the seek to the committed offsets;
    a changelog partition is sought only by its table's recovery, which may
    already have sought it to where this batch began (see the module docstring).
    """
    spans = {
        TopicPartition(tp.topic, tp.partition): (batch[0].offset, batch[-1].offset)
        for tp, batch in records.items()
        if batch and self._is_changelog_tp(tp)
    }
    if not spans:
        return
    thread = self._thread
    consumer = thread._ensure_consumer()  # noqa: SLF001  # faust's own aiokafka consumer, as _seek_to_committed uses it
    rewound = await thread.call_thread(rewind_consumer, consumer, spans)
    if not rewound:
        return
    log.info(
        "changelog records fetched across a rebalance are read again",
        extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in rewound)},
    )


async def rewind_consumer(consumer: Any, spans: Mapping[Any, tuple[int, int]]) -> list[Any]:  # an AIOKafkaConsumer
    """Seek each partition of ``spans`` (first, last offset fetched) back to its first, if still past its last.

    Past, not just past: on a compacted changelog a batch's next offset can
    lie beyond its last record. A partition sought meanwhile (a recovery
    seeks to what its table applied, before this batch) or revoked is left
    alone. Returns the partitions sought back.
    """
    rewound = []
    for tp, (first, last) in sorted(spans.items()):
        try:
            if await consumer.position(tp) > last:
                consumer.seek(tp, first)
                rewound.append(tp)
        except IllegalStateError:
            continue  # revoked: its next owner's recovery reads it
    return rewound


async def _hold_back_streams(self: Any, records: dict[Any, Any]) -> dict[Any, Any]:  # a faust Consumer
    """``records`` without the stream partitions' ones, those partitions sought back to their committed offsets.

    A fetch that returns while a rebalance is being completed (the stream
    partitions resumed, the seek to the committed offsets running, the
    streams' queues not yet cleared by the flow's resume) was made from
    positions that seek may already have left as they were: delivered, its
    records would be cleared with the queues while the consumer's position
    stays past them, and no stream would ever see them. Changelog records
    (a table's recovery) pass.
    """
    streams = {tp for tp in records if not self._is_changelog_tp(tp)}
    if not streams:
        return records
    thread = self._thread
    consumer = thread._ensure_consumer()  # noqa: SLF001  # faust's own aiokafka consumer, as _seek_to_committed uses it
    committed = await thread.call_thread(seek_consumer_to_committed, consumer, streams)
    # As faust's perform_seek: offsets from the committed one on are read as new, not dropped as already read.
    self._read_offset.update({tp: None if offset is None or offset < 0 else offset for tp, offset in committed.items()})
    log.info(
        "records fetched while a rebalance completed are read again from the committed offsets",
        extra={
            "partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in streams),
            "records": sum(len(records[tp]) for tp in streams),
        },
    )
    return {tp: batch for tp, batch in records.items() if tp not in streams}


async def _seek_to_committed(self: Any) -> dict[Any, int | None]:  # replaces AIOKafkaConsumerThread's
    """Seek every assigned partition to its committed offset, one never committed to its beginning.

    Returns the committed offsets found (``None``: none), as aiokafka's own
    ``seek_to_committed`` does, for faust's read offsets.
    """
    changelogs = frozenset(self.consumer.app.tables.changelog_topics)  # as faust's Consumer._is_changelog_tp
    return dict(await self.call_thread(seek_consumer_to_committed, self._ensure_consumer(), changelogs=changelogs))


async def seek_consumer_to_committed(
    consumer: Any,  # an AIOKafkaConsumer
    only: Collection[Any] | None = None,
    *,
    changelogs: Collection[str] = (),
) -> dict[Any, int | None]:
    """The seek of :func:`_seek_to_committed` on one aiokafka consumer (run in its thread); ``only``: these partitions.

    A stream partition whose committed offset is missing or 0 is read from
    its beginning, as ``auto_offset_reset=earliest`` would; one revoked
    meanwhile is left out. A table's changelog partition (``changelogs``, never committed:
    faust recovers it by its own offsets) is left where it is, as upstream:
    sent back to its beginning, a recovery in progress would start over.
    """
    committed: dict[Any, int | None] = {}
    for tp in sorted(consumer.assignment()):
        if only is not None and tp not in only:
            continue
        try:
            offset = await consumer.committed(tp)
            if offset is not None and offset > 0:
                consumer.seek(tp, offset)
            elif tp.topic not in changelogs:
                await consumer.seek_to_beginning(tp)
        except IllegalStateError:
            continue  # revoked while this ran: its next owner reads it from the committed offset
        committed[tp] = offset
    return committed


def apply() -> None:
    """Install the corrected commit arithmetic on faust's Consumer; once per process, before the app is made.

    Raises :class:`FaustPatchError` if faust is not the version this was checked against.
    """
    if _ORIGINALS:
        return
    check_faust()
    cls = faust_consumer.Consumer
    thread = faust_aiokafka.AIOKafkaConsumerThread
    _ORIGINALS["_new_offset"] = cls._new_offset
    _ORIGINALS["ack"] = cls.ack
    _ORIGINALS["seek_to_committed"] = thread.seek_to_committed
    _ORIGINALS["_wait_next_records"] = cls._wait_next_records
    cls._new_offset = _new_offset  # type: ignore[method-assign]  # the point of this module
    cls.ack = _ack  # type: ignore[method-assign]  # the point of this module
    cls._wait_next_records = _wait_next_records  # type: ignore[method-assign]  # the point of this module
    thread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign,assignment]  # the point of this module; offsets may be None


def applied() -> bool:
    """Whether :func:`apply` has installed the patch in this process."""
    return bool(_ORIGINALS)


def original(name: str) -> Callable[..., Any]:
    """Faust's own method ``name`` (a key of the source check), patched or not.

    For the tests that show the bugs, and the source check.
    """
    return _ORIGINALS.get(name) or getattr(_OWNERS[name], name)
