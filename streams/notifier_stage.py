"""The notifier stage: the playbooks' messages delivered, and acknowledgements fed back.

Input: ``notifications`` (the playbook stage's Notify and Escalate effects,
keyed by incident id). The stage hands each record to
:class:`notifiers.service.Notifier` with the incident's latest facts, kept in
memory from the ``incidents`` feed (at most :data:`MAX_INCIDENTS`, the
oldest forgotten first) or, for an incident the feed has not shown this
process, from the playbook table's copy. Outputs:

- e-mails (and webhooks) through the notifier's outbox, on disk under
  ``<data_dir>/notifier`` unless ``KINKYU_NOTIFY_OUTBOX_DIR`` says otherwise;
- ``incidents``: each delivery result (sent, delayed, failed, escalated,
  acknowledged …) as a follow-up ``{"change": "event", "incident_id",
  "entry"}`` keyed by incident id, so the playbook run logs it on its
  timeline. The entry's ``data`` gains an ``event_id`` naming the result,
  the recipient reference and the chain (``notifier:message_sent:city:0:<effect id>``):
  the run keeps that key (it drops the notifier's others) and recognises a
  repeated entry by it;
- ``incident-events``: a city's acknowledgement of a report, keyed by
  contract id; the detection stage turns it into an ``acknowledgement``
  follow-up, and the playbook marks the report done.

An ``acknowledgement`` follow-up seen on the ``incidents`` feed (the console's
受領確認 button or its acknowledgement links, or any other tool's event) stops
the incident's escalation chains too (:meth:`NotifierStage.acknowledged`):
those of its ``step``, or, without one, of every report sent to the city, as
the playbook marks every such report done.

A timer (:meth:`NotifierStage.tick`, every second) moves escalation chains
on and retries the outbox; a record just handled is delivered at once
rather than on the next tick. The acknowledgement endpoint
(:mod:`notifiers.ack_server`) listens on ``KINKYU_NOTIFY_ACK_HOST`` /
``KINKYU_NOTIFY_ACK_PORT``; a port in use is logged and tried again every
:data:`ACK_RETRY` seconds rather than stopping the worker, so mail still goes
out while someone else holds the port.

Partitions (:meth:`NotifierStage.assign`): the stage runs the chains and
mail of the ``notifications`` partitions its worker owns. Every chain change
goes on the compacted ``kinkyu-chains`` topic before the record that caused
it is committed; a worker that gains a partition continues its chains from
there and queues again what the ledger does not show settled, so a worker
that dies for good delays its mail and chains, it does not lose them. An
acknowledgement link opened on a worker that does not own the incident is
handed to the owner as a ``notifications`` record (:data:`FORWARDED_ACK`).
See :mod:`notifiers.handover`.

Safe to run twice: yes. The notifier knows every effect id it has taken
(its chain journal) and every message by its idempotency key (the outbox),
so a redelivered record, or the same record after a restart, sends nothing
again; across workers, each with its own outbox, the delivery ledger
(:mod:`notifiers.ledger`, read at :meth:`NotifierStage.start`) keeps a
message one worker delivered from being sent by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from kinkyu.bus.clients import partition_for
from kinkyu.bus.exceptions import BrokerError
from kinkyu.core.ack import AckClaim, AckTokenError, make_ack_token, verify_ack_token
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState
from kinkyu.core.handover import encode_board
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.playbook import Playbook
from kinkyu.exceptions import MalformedEventError
from kinkyu.notifiers.ack_server import UnknownMessageError, bound_port, make_ack_app, start_ack_server
from kinkyu.notifiers.exceptions import OutboxJournalError
from kinkyu.notifiers.handover import PUBLISHER
from kinkyu.notifiers.ledger import KafkaLedger, reconcile
from kinkyu.notifiers.service import EmailSender, Notifier, NotifierSettings
from kinkyu.notifiers.webhook import WebhookTransport
from kinkyu.streams.codec import decode_record
from kinkyu.streams.guard import SourceMessage
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.playbook_stage import incident_fields
from kinkyu.streams.settings import Topics
from kinkyu.streams.sink import Record, Sink
from kinkyu.web.ack_pages import contractor_contact

log = logging.getLogger("kinkyu.notifier.stage")

TimelineCallback = Callable[[str, TimelineEntry], None]
FatalCallback = Callable[[BaseException], Awaitable[None]]
IncidentLookup = Callable[[str], Mapping[str, Any] | None]
# Reads the shared chains of the given partitions (notifiers.handover.read_boards), by incident id.
ChainReader = Callable[[frozenset[int]], Awaitable[Mapping[str, list[EscalationState]]]]
# Hands every chain board published from now on to the callback (notifiers.handover.follow_boards).
ChainFollower = Callable[[Callable[[str, list[EscalationState]], Awaitable[None]]], Awaitable[None]]

# The guard's run (streams.guard.RecordGuard.run): the handler on a message's value; set aside if it raises.
GuardedRun = Callable[[SourceMessage, Callable[[bytes | None], Awaitable[None]]], Awaitable[bool]]

# A ``notifications`` record carrying an acknowledgement another worker's endpoint received (see _on_ack).
FORWARDED_ACK = "forwarded_ack"
# Its expiry was checked by the endpoint that received the link; the owner checks only the signature.
_SIGNED_ANY_TIME = datetime(1970, 1, 1, tzinfo=UTC)

TICK = 1.0  # seconds between notifier passes: escalation and retry times are this coarse
PASSES = 4  # delivery passes kicked by records that may run at once (they share KINKYU_NOTIFY_CONCURRENCY)
MAX_INCIDENTS = 10_000  # incidents whose facts are kept in memory for messages
ACK_RETRY = 10.0  # seconds between attempts to listen when the acknowledgement port is taken
_STOP_WAIT = 30.0  # seconds stop() waits for a pass in progress (an SMTP timeout) before closing the journals
# Notifier timeline kinds and the `result` label they count under in kinkyu_messages_total.
_RESULTS = {
    "message_sent": "sent",
    "message_delayed": "delayed",
    "message_failed": "failed",
    "message_escalated": "escalated",
    "city_unanswered": "unanswered",
    "message_acknowledged": "acknowledged",
    "message_not_sent": "not_sent",
}


def _always(key: str) -> bool:
    del key
    return True


def entry_event_id(entry: TimelineEntry) -> str:
    """A stable id for a notifier timeline entry: its kind, recipient(s), channel, chain and stage.

    The same result reported twice (after a restart) gets the same id, so the
    playbook run records it once; a second acknowledgement of the same
    message is the same fact and is recorded once too.
    """
    data = entry.data if isinstance(entry.data, dict) else {}
    recipients = data.get("recipient") or ",".join(str(r) for r in data.get("recipients") or ())
    parts = [
        "notifier",
        entry.kind,
        str(recipients or "-"),
        str(data.get("channel") or ""),
        str(data.get("chain_id") or data.get("effect_id") or "-"),
    ]
    if data.get("stage") is not None:
        parts.append(f"stage{data['stage']}")
    return ":".join(p for p in parts if p)


class NotifierStage:
    """The faust-facing side of :class:`~notifiers.service.Notifier`: records in, timeline and acks out."""

    def __init__(
        self,
        *,
        topics: Topics,
        sink: Sink,
        metrics: Metrics,
        settings: NotifierSettings,
        profiles: Callable[[], Mapping[str, ContractProfile]],
        playbooks: Mapping[str, Playbook],
        email: EmailSender,
        webhooks: WebhookTransport | None = None,
        email_domain: str = "kinkyu.invalid",
        incident_fallback: IncidentLookup | None = None,
        on_timeline: TimelineCallback | None = None,
        on_fatal: FatalCallback | None = None,
        ledger: KafkaLedger | None = None,
        chain_reader: ChainReader | None = None,
        chain_follower: ChainFollower | None = None,
    ) -> None:
        self.topics = topics
        self.chain_reader = chain_reader
        self.chain_follower = chain_follower
        self._following: asyncio.Task[None] | None = None
        # The stage topics' partition count, and the partitions whose chains and mail this worker runs
        # (None: every one, as when one stage runs alone; the worker sets both, see assign()).
        self.partitions = 1
        self.owned: frozenset[int] | None = None
        self._loaded_parts: frozenset[int] = frozenset()
        self._loaded = asyncio.Event()
        self._loaded.set()
        self._load_task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.ledger = ledger
        if ledger is not None:
            ledger.on_window = metrics.ledger_window.observe
        self.sink = sink
        self.metrics = metrics
        self.settings = settings
        self.incident_fallback = incident_fallback
        self.on_timeline = on_timeline
        self.on_fatal = on_fatal
        self.webhooks = webhooks
        # Opens (and locks) the outbox and chain journals: a second worker on the same folder fails here, at start.
        self.notifier = Notifier(
            settings=settings,
            profiles=profiles,
            email=email,
            webhooks=webhooks,
            playbooks=playbooks,
            on_timeline=self._timeline,
            on_ack_event=self._ack_event,
            email_domain=email_domain,
            ledger=ledger,
            owns=self.owns,
        )
        self._incidents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._ack: web.AppRunner | None = None
        self._ack_tried = float("-inf")
        self.ack_port: int | None = None
        self._kicked = False
        self._passes: set[asyncio.Task[None]] = set()  # delivery passes kicked by records (see _kick)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._failed = False  # on_fatal was called: the worker is stopping
        self._acks: set[asyncio.Task[int]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the delivery ledger, then start the acknowledgement endpoint (a port in use is retried by :meth:`tick`).

        What this outbox settled while the ledger did not hear of it (a crash
        in between) is recorded in the ledger first.
        """
        if self.ledger is not None:
            await self.ledger.start()
            await reconcile(self.ledger, self.notifier.outbox)
        if self.chain_follower is not None and self._following is None:
            self._following = asyncio.ensure_future(self.chain_follower(self._board))
        self._started.set()
        await self._listen()

    async def _board(self, incident_id: str, chains: list[EscalationState]) -> None:
        """A board another worker (or this one) published: merged in if the incident is this worker's."""
        if self._closed or not self.owns(incident_id):
            return
        await self._loaded.wait()
        if not self.owns(incident_id):
            return
        settled: Callable[[str], bool] = self.ledger.final if self.ledger is not None else _always
        async with self._working():
            try:
                queued = await self.notifier.take_over(chains, settled)
                await self._publish()
            except OutboxJournalError as exc:
                await self._fatal(exc, "chain journal refuses writes; stopping")
                return
            except Exception:  # the next board of the incident, or the next take-over, tries again
                log.exception("a published chain could not be merged", extra={"incident_id": incident_id})
                return
        if queued:
            log.info("chain published late by another worker taken over", extra={"incident_id": incident_id})
            self._kick()

    # -- partitions ----------------------------------------------------------------------

    def assign(self, partitions: Iterable[int]) -> None:
        """The partitions of ``notifications`` this worker now owns (after a rebalance).

        Chains and queued mail of partitions lost stay here, dormant: their
        new owner continues them from the shared copy
        (:mod:`notifiers.handover`). Those of partitions gained are read from
        ``kinkyu-chains`` and continued here; records wait until that is done.
        """
        owned = frozenset(partitions)
        self.owned = owned
        self._loaded_parts &= owned
        gained = owned - self._loaded_parts
        log.info("notifier partitions assigned", extra={"partitions": sorted(owned), "gained": sorted(gained)})
        if not gained or self.chain_reader is None:
            self._loaded_parts = owned
            return
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            gained = owned  # the cancelled read's partitions are read again
        self._loaded.clear()
        self._load_task = asyncio.ensure_future(self._take_over(gained))

    def revoke(self, partitions: Iterable[int]) -> None:
        """Stop running ``partitions`` now (a rebalance began): their chains are published no more from here.

        They stay read: a partition assigned back at the end of the same
        rebalance had no other owner in between, so it is not read again and
        its records do not wait (the next assignment drops those that moved).
        """
        if self.owned is None:
            return
        self.owned = self.owned - frozenset(partitions)

    def partition_of(self, incident_id: str) -> int:
        """The partition an incident's records are on (the producer's default partitioner, by key)."""
        return partition_for(incident_id, self.partitions)

    def owns(self, incident_id: str) -> bool:
        """Whether this worker runs ``incident_id``'s chains and mail now."""
        return self.owned is None or self.partition_of(incident_id) in self.owned

    async def _take_over(self, parts: frozenset[int]) -> None:
        me = asyncio.current_task()
        try:
            await self._started.wait()
            if self.chain_reader is None:
                return
            boards = await self.chain_reader(parts)
            ledger = self.ledger
            # Without a shared ledger nothing says what the old owner delivered: queue nothing again.
            settled: Callable[[str], bool] = ledger.final if ledger is not None else _always
            # Every chain of the partitions read, whoever owns them by now: a rebalance that began during the
            # read revoked them, and one kept through it is not read again (they count as loaded below). Chains
            # of a partition that moved on stay dormant here, as a revoked partition's do.
            chains = [
                c for incident_id, found in boards.items() if self.partition_of(incident_id) in parts for c in found
            ]
            async with self._working():
                queued = await self.notifier.take_over(chains, settled)
                await self._publish()
            self._loaded_parts |= parts
            log.info(
                "escalation chains taken over",
                extra={"partitions": sorted(parts), "chains": len(chains), "queued_again": queued},
            )
            if queued:
                self._kick()
        except asyncio.CancelledError:
            raise
        except Exception:  # records go on; the chains of these partitions are read again on the next assignment
            log.exception("escalation chains could not be taken over", extra={"partitions": sorted(parts)})
        finally:
            if self._load_task is None or self._load_task is me:
                self._loaded.set()

    async def _publish(self) -> None:
        """Put the chains of every incident that changed on ``kinkyu-chains`` (BrokerError if refused).

        Only the owner advances chains, but a record in hand when its
        partition is revoked is still handled here and committed: its chain
        must reach the topic too, or the next owner would never know it.
        """
        changed = self.notifier.chains.changed
        if not changed or self.chain_reader is None:
            changed.clear()
            return
        ids = sorted(changed)
        changed.clear()
        by = ((PUBLISHER, self.ledger.worker.encode()),) if self.ledger is not None else ()
        records = [
            Record(self.topics.chains, i.encode(), encode_board(i, self.notifier.chains.of_incident(i)), by)
            for i in ids
        ]
        try:
            await self.sink.send_all(records)
        except BaseException:
            changed.update(ids)  # published with the next change, or at the next pass
            raise

    async def _listen(self) -> None:
        if self._ack is not None or self._closed:
            return
        if time.monotonic() - self._ack_tried < ACK_RETRY:
            return
        self._ack_tried = time.monotonic()
        s = self.settings
        try:
            app = make_ack_app(
                self.notifier.ack_secret,
                self._on_ack,
                clock=self.notifier.clock,
                contact=lambda: contractor_contact(self.notifier.profiles()),
            )
            self._ack = await start_ack_server(app, s.ack_host, s.ack_port)
        except OSError as exc:
            log.error(  # noqa: TRY400  # the reason is the whole story; no trace needed
                "acknowledgement endpoint cannot listen; retrying (set KINKYU_NOTIFY_ACK_PORT)",
                extra={"host": s.ack_host, "port": s.ack_port, "error": exc.strerror, "retry_s": ACK_RETRY},
            )
            return
        self.ack_port = bound_port(self._ack)
        log.info("acknowledgement endpoint listening", extra={"host": s.ack_host, "port": self.ack_port})

    @property
    def ack_listening(self) -> bool:
        """Whether the acknowledgement endpoint is up."""
        return self._ack is not None

    async def stop(self) -> None:
        """Stop the endpoint, wait for a pass in progress, close the journals. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ack is not None:
            runner, self._ack = self._ack, None
            await runner.cleanup()
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._following
        for task in self._passes:
            task.cancel()
        for task in self._passes:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A pass still writing would reopen a journal after close: let it finish (bounded by the SMTP timeout).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), _STOP_WAIT)
        self.notifier.close()
        if self.ledger is not None:
            await self.ledger.stop()
        if self.webhooks is not None:
            await self.webhooks.close()
        # The SMTP transport keeps connections open between messages (notifiers.smtp): QUIT them.
        close_email = getattr(self.notifier.email, "close", None)
        if close_email is not None:
            with contextlib.suppress(Exception):
                await close_email()

    @contextlib.asynccontextmanager
    async def _working(self) -> AsyncIterator[None]:
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    # -- the incidents feed --------------------------------------------------------------------

    def remember(self, record: Mapping[str, Any]) -> None:
        """Keep an ``incidents`` record's facts (opened / updated; free text left out) for its messages.

        An acknowledgement follow-up stops the incident's chains (:meth:`acknowledged`, in the background).
        """
        change = record.get("change")
        if change == "event":
            self._watch_acknowledgement(record)
            return
        # A change that is not a string (a list or an object from a hostile feed) is no change we know.
        if not isinstance(change, str) or change not in {"opened", "updated"}:
            return
        incident_id = record.get("incident_id")
        if not isinstance(incident_id, str):
            return
        self._incidents[incident_id] = incident_fields(record)
        self._incidents.move_to_end(incident_id)
        while len(self._incidents) > MAX_INCIDENTS:
            self._incidents.popitem(last=False)

    def incident(self, incident_id: str) -> Mapping[str, Any] | None:
        """The latest facts known of ``incident_id``: the feed's, else the fallback's (the playbook table)."""
        found = self._incidents.get(incident_id)
        if found is not None:
            return found
        if self.incident_fallback is None:
            return None
        try:
            return self.incident_fallback(incident_id)
        except Exception:  # the message goes out without facts rather than not at all
            log.exception("incident facts could not be read", extra={"incident_id": incident_id})
            return None

    def _watch_acknowledgement(self, record: Mapping[str, Any]) -> None:
        entry = record.get("entry")
        incident_id = record.get("incident_id")
        if not isinstance(entry, dict) or entry.get("kind") != "acknowledgement" or not isinstance(incident_id, str):
            return
        raw = entry.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        step = data.get("step") if isinstance(data.get("step"), str) else None
        try:
            at = datetime.fromisoformat(str(entry.get("ts")))
            loop = asyncio.get_running_loop()
        except (ValueError, RuntimeError):
            return
        if at.tzinfo is None:
            return
        task = loop.create_task(self.acknowledged(incident_id, step, by=str(entry.get("who") or "city"), at=at))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def acknowledged(self, incident_id: str, step_id: str | None, *, by: str, at: datetime) -> int:
        """The city acknowledged ``step_id`` (None: every report sent to it): stop those chains; how many stopped."""
        if self._closed:
            return 0
        if step_id is not None:
            steps = [step_id]
        else:
            steps = sorted(
                {
                    str(note["step_id"])
                    for chain in self.notifier.chains.active()
                    if chain.incident_id == incident_id
                    and isinstance(note := chain.payload.get("notification") or {}, dict)
                    and note.get("audience") == "city"
                    and isinstance(note.get("step_id"), str)
                }
            )
        stopped = 0
        async with self._working():
            try:
                for step in steps:
                    stopped += await self.notifier.acknowledge_step(incident_id, step, by=by, at=at)
                await self._publish()
            except OutboxJournalError as exc:
                await self._fatal(exc, "chain journal refuses writes; stopping")
                return stopped
        if stopped:
            log.info("escalation stopped: acknowledged", extra={"incident_id": incident_id, "chains": stopped})
        return stopped

    # -- records ---------------------------------------------------------------------------------

    async def handle(self, value: bytes | None) -> None:
        """One ``notifications`` record.

        Raises :class:`~kinkyu.exceptions.MalformedEventError` for a record
        that is not a JSON object with an ``incident_id``;
        :class:`OutboxJournalError` (after ``on_fatal``) when the outbox
        journal refuses to write; and whatever else the notifier raised on
        the record. The worker's guard (:mod:`streams.guard`) sets such a
        record aside to ``dead-letters``. Once the stage is stopping it never
        returns: the record is left to the agent's cancellation, unacked.
        """
        taken = await self._take(value)
        async with self._working():
            await self._durable()
            # On the broker before the record is committed: whoever owns the partition next continues the chain.
            await self._publish()
        self._count_queued()
        if taken:
            self._kick()

    async def _durable(self) -> None:
        """What the records taken so far queued, on the disk (one fsync for a whole batch)."""
        try:
            await self.notifier.durable()
        except OutboxJournalError as exc:
            await self._fatal(exc, "notifications not queued: the outbox journal refuses writes; stopping")
            raise

    async def handle_batch(self, messages: Sequence[SourceMessage], run: GuardedRun) -> None:
        """Several ``notifications`` records: each handled as :meth:`handle` does, their chains published once.

        ``run`` is the guard's (:meth:`streams.guard.RecordGuard.run`): a
        record the stage fails on is set aside alone and the others go on.
        Every chain the batch changed goes on ``kinkyu-chains`` in one send
        before this returns (and the agent acks the batch); a broker that
        refuses it, or a journal that refused a write, stops the worker with
        the batch held unacked, so a restart handles it again (issue #14: one
        wait for the broker per batch, not per record, in a burst).
        """
        taken = False

        async def one(value: bytes | None) -> None:
            nonlocal taken
            taken = await self._take(value) or taken

        for message in messages:
            await run(message, one)
        async with self._working():
            try:
                await self._durable()
                await self._publish()
            except OutboxJournalError:
                pass  # on_fatal was called: the batch is held below
            except BrokerError as exc:
                await self._fatal(exc, "escalation chains could not be published; stopping")
        if self._failed:
            # on_fatal is stopping the worker: never ack what may not be queued or published.
            await asyncio.get_running_loop().create_future()
        self._count_queued()
        if taken:
            self._kick()

    async def _take(self, value: bytes | None) -> bool:
        """Queue one record's messages (journals written); whether anything was taken. Publishing is the caller's."""
        if self._closed:
            # faust acks a record whose handler returns, and would commit it unqueued: wait to be
            # cancelled with the agent instead, so the record is read again by whoever owns it next.
            await asyncio.get_running_loop().create_future()
        record = decode_record(value)
        if not isinstance(record.get("incident_id"), str):
            raise MalformedEventError("invalid", "incident_id is missing or not a string")
        incident_id = record["incident_id"]
        await self._loaded.wait()
        if FORWARDED_ACK in record:
            await self._forwarded_ack(incident_id, record[FORWARDED_ACK])
            return False
        async with self._working():
            try:
                return await self.notifier.handle(record, incident=self.incident(incident_id), sync=False)
            except OutboxJournalError as exc:
                await self._fatal(exc, "notification not queued: the outbox journal refuses writes; stopping")
                raise

    def _kick(self) -> None:
        """Deliver now what was just queued, in the background (the agent must not wait on SMTP).

        Up to :data:`PASSES` passes run at once (each takes what the others
        do not hold, :mod:`notifiers.delivery`): a burst's new reports start
        while an earlier pass still waits on its slowest server answer.
        """
        self._kicked = True
        self._passes = {t for t in self._passes if not t.done()}
        if len(self._passes) < PASSES:
            self._passes.add(asyncio.ensure_future(self._deliver_kicked()))

    async def drain(self) -> None:
        """Wait until the delivery passes kicked so far have finished (stop() cancels them instead)."""
        while pending := {t for t in self._passes if not t.done()}:
            await asyncio.wait(pending)

    async def _deliver_kicked(self) -> None:
        while self._kicked and not self._closed:
            self._kicked = False
            async with self._working():
                try:
                    delivered = await self.notifier.deliver()
                except asyncio.CancelledError:
                    raise
                except OutboxJournalError as exc:
                    await self._fatal(exc, "outbox journal refuses writes; stopping")
                    return
                except Exception:  # the timer's next pass tries again
                    log.exception("delivery pass failed")
                    continue
                finally:
                    self._count_queued()
            if delivered:
                # Its incidents' later messages waited for it (one incident's go in order): their turn now.
                self._kicked = True

    async def tick(self) -> None:
        """The timer's pass: listen if not yet, move chains on, retry the outbox, update the gauge."""
        if self._closed:
            return
        await self._listen()
        async with self._working():
            try:
                await self.notifier.advance()
                await self._publish()
                await self.notifier.deliver()
            except OutboxJournalError as exc:
                await self._fatal(exc, "outbox journal refuses writes; stopping")
                return
            finally:
                self._count_queued()

    def _count_queued(self) -> None:
        """``kinkyu_messages_queued``: what this worker still has to send (a lost partition's is its new owner's).

        Set whenever the outbox changes (records taken, a pass done, a tick),
        not only at the tick: a tick can wait on a slow pass for seconds, and
        a gauge that old said "nothing queued" while a burst's mail waited.
        """
        owned = sum(1 for e in self.notifier.outbox.outbox.pending() if self.owns(e.incident_id))
        self.metrics.messages_queued.set(owned)

    async def _fatal(self, exc: BaseException, what: str) -> None:
        # Nothing more can be promised about delivery; a restart replays the journal as far as it got.
        self._failed = True
        log.error(what, extra={"error": str(exc)})
        if self.on_fatal is not None:
            await self.on_fatal(exc)

    # -- acknowledgement links -------------------------------------------------------------------

    async def _on_ack(self, claim: AckClaim) -> None:
        """An opened link: recorded here when this worker runs the incident, else handed to the one that does.

        Handed over as a record on ``notifications`` (keyed by incident id, so
        it reaches the partition's owner, in order with the incident's
        messages): a chain stops whichever worker's endpoint the link reached.
        """
        if self.owns(claim.incident_id) and self._loaded.is_set():
            async with self._working():
                await self.notifier.acknowledge(claim)
                await self._publish()
            return
        # Signed again with the shared secret, so a forged record on the topic cannot stop a chain.
        token = make_ack_token(
            claim.incident_id, claim.message_id, claim.recipient, claim.expires_at, self.notifier.ack_secret
        )
        body = {"incident_id": claim.incident_id, FORWARDED_ACK: {"token": token}}
        await self.sink.send_all([Record(self.topics.notifications, claim.incident_id.encode(), orjson.dumps(body))])
        log.info("acknowledgement handed to the incident's worker", extra={"incident_id": claim.incident_id})

    async def _forwarded_ack(self, incident_id: str, raw: object) -> None:
        """An acknowledgement another worker's endpoint received; its signature is checked again here."""
        token = raw.get("token") if isinstance(raw, dict) else None
        if not isinstance(token, str):
            raise MalformedEventError("invalid", f"{FORWARDED_ACK} needs its token")
        try:
            claim = verify_ack_token(token, self.notifier.ack_secret, _SIGNED_ANY_TIME)
        except AckTokenError as exc:
            # Signed by a worker with another secret, or forged: every worker needs one KINKYU_NOTIFY_ACK_SECRET.
            raise MalformedEventError("invalid", f"{FORWARDED_ACK} is not signed with this worker's secret") from exc
        if claim.incident_id != incident_id:
            raise MalformedEventError("invalid", f"{FORWARDED_ACK} names another incident than its record")
        if not self.owns(incident_id):
            # The partition moved on again before this record was read: hand it on to its owner now.
            await self._on_ack(claim)
            return
        async with self._working():
            try:
                await self.notifier.acknowledge(claim)
            except UnknownMessageError:
                log.warning("acknowledgement of an unknown message ignored", extra={"incident_id": incident_id})
                return
            await self._publish()

    # -- the notifier's callbacks ----------------------------------------------------------------

    async def _timeline(self, incident_id: str, entry: TimelineEntry) -> None:
        data = dict(entry.data) if isinstance(entry.data, dict) else {}
        data["event_id"] = entry_event_id(entry)
        stamped = TimelineEntry(entry.ts, entry.who, entry.what, entry.kind, data)
        body = {"change": "event", "incident_id": incident_id, "entry": stamped.to_json()}
        # A BrokerError here is logged by the notifier with the ids; delivery goes on (the outbox has the result).
        await self.sink.send_all([Record(self.topics.incidents, incident_id.encode(), orjson.dumps(body))])
        # Counted once the broker has it: the metric says what is on the timeline, and a test that kills the
        # worker when the count is reached must not lose the last result.
        result = _RESULTS.get(entry.kind)
        if result is not None:
            self.metrics.messages.labels(result).inc()
        if self.on_timeline is not None:
            self.on_timeline(incident_id, stamped)

    async def _ack_event(self, event: dict[str, Any]) -> None:
        contract_id = str(event.get("contract_id", ""))
        await self.sink.send_all([Record(self.topics.incident_events, contract_id.encode(), orjson.dumps(event))])
        log.info(
            "acknowledgement filed",
            extra={"incident_id": event.get("incident_id"), "event_id": event.get("event_id")},
        )
