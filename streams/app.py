"""The faust worker: hosts the detection, playbook and notifier stages, the incident feed, timers, health and metrics.

The high-volume detection stage runs as a faust service with its own batch
consumer (see :mod:`streams.detector`); faust's agents, tables and timers
carry the low-volume work: the playbook stage (:mod:`streams.playbook_stage`,
a table of runs, deadlines by timer), the notifier stage
(:mod:`streams.notifier_stage`: e-mail and webhooks through an outbox, the
acknowledgement endpoint beside the worker) and the incident feed. Every
agent catches per event: faust acks a message whose handler raised, so an
exception there would lose it. Each agent runs its handler through a
:class:`streams.guard.RecordGuard`: a record that makes the stage raise is set
aside to ``dead-letters`` (reason, stage and source in headers) and counted,
and the agent goes on; an outage stops the worker so a restart redoes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import faust
import faust.streams
import orjson
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faust.tables import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.web import Request, Response, View
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kinkyu.bus.clients import BrokerConnection, as_connection
from kinkyu.contracts import ContractFolder, compile_profiles
from kinkyu.core.contract import ContractPolicy
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.exceptions import ContractError
from kinkyu.notifiers.exceptions import OutboxJournalError
from kinkyu.notifiers.handover import follow_boards, read_boards
from kinkyu.notifiers.ledger import LEDGER_TOPIC_CONFIGS, KafkaLedger, LedgerSettings, worker_id
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings, SmtpTransport
from kinkyu.notifiers.webhook import WebhookTransport
from kinkyu.playbook_files import load_playbooks
from kinkyu.reports.store import IncidentStore
from kinkyu.streams import faust_fixes
from kinkyu.streams.detector import DetectorStage, OnOutput
from kinkyu.streams.evidence_collector import EvidenceCollector, evidence_collector
from kinkyu.streams.exceptions import BrokerError, TopicLayoutError
from kinkyu.streams.guard import IncidentFeed, RecordGuard
from kinkyu.streams.metrics import Metrics
from kinkyu.streams.notifier_stage import TICK, NotifierStage
from kinkyu.streams.notifier_stage import TimelineCallback as NotifierCallback
from kinkyu.streams.playbook_stage import Incoming, PlaybookCallback, PlaybookStage, ProfileMemory
from kinkyu.streams.report_archive import ReportArchive
from kinkyu.streams.settings import Topics, WorkerSettings
from kinkyu.streams.sink import CHECKPOINT_MAX_BYTES, KafkaSink
from kinkyu.streams.store_identity import check_shared_stores

log = logging.getLogger("kinkyu.worker")

IncidentCallback = Callable[[dict[str, Any]], None]

_FAST_FETCH_MS = 100
_patched = False

# The playbook agent takes up to this many records at once, waiting at most this long (seconds) for more: the
# wait is added to a lone record's path (the first report), the batch saves a broker round trip per record.
PLAYBOOK_BATCH = 200
PLAYBOOK_WITHIN = 0.02
# The notifier agent's batches likewise (streams.notifier_stage.NotifierStage.handle_batch).
NOTIFIER_BATCH = 200
NOTIFIER_WITHIN = 0.02


@contextlib.contextmanager
def as_current_event(item: Incoming) -> Iterator[None]:
    """Make ``item``'s faust event the current one while the playbook stage writes the table for it.

    faust sends a table write to the changelog partition of ``current_event()``
    (``Collection.partition_for_key``), a context variable that the stream sets
    in the task iterating it. ``take_events`` iterates in a task of its own, so
    the agent has none, and a batch holds records of several partitions: each
    incident's state must go to the changelog partition of its own record (the
    partition its recovery reads), as when records were handled one by one.
    faust's private variable: the version is pinned (:func:`streams.faust_fixes.check_faust`).
    """
    var = faust.streams._current_event  # noqa: SLF001  # the variable current_event() reads; no public setter
    token = var.set(weakref.ref(cast("Any", item.source)))
    try:
        yield
    finally:
        var.reset(token)


def _patch_faust_fetch_wait() -> None:
    """Make faust's consumer wait at most 100 ms per fetch.

    faust hard-codes ``fetch_max_wait_ms=1500`` and tansu sleeps through all
    of it, which puts a second of latency on every low-volume agent.
    """
    global _patched  # noqa: PLW0603  # patch once per process
    if _patched:
        return
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread._create_worker_consumer  # noqa: SLF001  # the one place faust builds its consumer

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = _FAST_FETCH_MS  # noqa: SLF001  # read by aiokafka at start()
        return consumer

    thread._create_worker_consumer = create  # type: ignore[method-assign]  # noqa: SLF001  # the patch itself
    _patched = True


class _TableManager(TableManager):
    """faust's table manager without the second it sleeps at start.

    faust waits 1 s so that agents and tables declared late can still
    register before it subscribes; every agent and table here is declared
    before the app starts (:meth:`Worker._make_app`), so the wait only
    delays each start and restart (faust's group join begins after it).
    """

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def _topic_configs(topic: str, topics: Topics, compacted: set[str]) -> dict[str, str]:
    configs = {"cleanup.policy": "compact"} if topic in compacted else {}
    if topic == topics.checkpoints:
        # One record per partition holds its whole engine state (see kinkyu.bus.sink.CHECKPOINT_MAX_BYTES).
        configs["max.message.bytes"] = str(CHECKPOINT_MAX_BYTES)
    if topic == topics.deliveries:
        configs.update(LEDGER_TOPIC_CONFIGS)
    return configs


async def ensure_topics(bootstrap: BrokerConnection | str, topics: Topics, partitions: int) -> int:
    """Create missing topics; refuse input or stage topics whose partition counts differ.

    The inputs and the playbook/notifier stage's topics (:attr:`Topics.stage`)
    are made with ``partitions`` partitions. Returns the stage's partition
    count, which is that of the existing ``incidents`` topic when there is one
    (a topic's partitions are never changed here: that would move incidents
    between partitions under running workers).
    """
    connection = as_connection(bootstrap)
    admin = connection.admin(request_timeout_ms=10_000)
    # BrokerError says what to check (the address, the CA, the login).
    await connection.start(admin, "the topic admin client")
    try:
        existing = set(await admin.list_topics())
        compacted = {
            topics.checkpoints,
            topics.incidents,
            topics.incident_state,
            topics.deliveries,
            topics.stores,
            topics.chains,
        }
        spread = {*topics.inputs, *topics.stage, topics.deliveries}
        missing = [
            NewTopic(
                t,
                partitions if t in spread else 1,
                1,
                topic_configs=_topic_configs(t, topics, compacted),
            )
            for t in topics.all
            if t not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(missing)
        described = await admin.describe_topics([*topics.inputs, *topics.stage])
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        inputs = {t: counts[t] for t in topics.inputs if t in counts}
        if len(set(inputs.values())) > 1:
            raise TopicLayoutError(
                f"{topics.access_log} and {topics.incident_events} must have the same number of partitions "
                f"(found {inputs}); one engine per partition number owns both"
            )
        stage = {t: counts[t] for t in topics.stage if t in counts}
        if len(set(stage.values())) > 1:
            raise TopicLayoutError(
                f"the playbook and notifier topics must have the same number of partitions (found {stage}): "
                "one incident's records, ticks, state and messages must share a partition; give them all "
                "the same count (kafka-topics --alter --partitions) before starting workers"
            )
    finally:
        await admin.close()
    return stage.get(topics.incidents, partitions)


class Worker:
    """Everything one worker process runs, wired together (faust app, stage, contracts)."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        on_output: OnOutput | None = None,
        on_incident: IncidentCallback | None = None,
        on_playbook: PlaybookCallback | None = None,
        on_notifier: NotifierCallback | None = None,
        smtp: SmtpSettings | None = None,
        notify: NotifierSettings | None = None,
        connection: BrokerConnection | None = None,
    ) -> None:
        _patch_faust_fetch_wait()
        # Every client below is made from this one (address, TLS context, SASL login).
        self.connection = connection if connection is not None else settings.broker_connection()
        (settings.data_dir / settings.group).mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.topics = settings.topics
        self.metrics = Metrics()
        self.contracts = ContractFolder(list(settings.contracts))
        self.contracts.load()  # a bad profile at start is fatal: better than running without it
        self._policies: Mapping[str, ContractPolicy] = compile_profiles(self.contracts.profiles)
        self.sink = KafkaSink(self.connection)
        self.stage = DetectorStage(
            bootstrap=self.connection,
            group=settings.group,
            topics=self.topics,
            sink=self.sink,
            policies=lambda: self._policies,
            metrics=self.metrics,
            lateness=settings.lateness,
            max_skew=settings.max_clock_skew,
            checkpoint_interval=settings.checkpoint_interval,
            ingest_delay=settings.ingest_delay,
            max_records=settings.fetch_max_records,
            session_timeout=settings.session_timeout,
            on_output=on_output,
        )
        self.on_incident = on_incident
        playbooks = load_playbooks(settings.playbooks)  # a broken playbook at start is fatal, like a contract
        # An incident's run, store entry and messages keep a profile a reload dropped (its duties go on).
        profiles = ProfileMemory(lambda: self.contracts.profiles)
        self.playbook = PlaybookStage(
            bootstrap=self.connection,
            topics=self.topics,
            sink=self.sink,
            profiles=profiles,
            playbooks=playbooks,
            collector=self._evidence_collector(),
            metrics=self.metrics,
            lateness=settings.lateness,
            deadline_warning=settings.deadline_warning,
            on_event=on_playbook,
            on_fatal=self._crash,
            # With the integrity keys, the archived reports' custody status is authenticated, not just hashed.
            reports=ReportArchive(
                IncidentStore(
                    settings.store_dir,
                    keyring=integrity_keyring(settings.integrity_keys, settings.integrity_key_id),
                ),
                profiles,
            ),
        )
        self.smtp = smtp if smtp is not None else SmtpSettings()
        self.notify_settings = notifier_settings(settings, notify if notify is not None else NotifierSettings())
        # Shared by every worker: what one sent, no other sends again (kinkyu.notifiers.ledger).
        self.ledger = KafkaLedger(
            self.connection,
            self.topics.deliveries,
            worker=worker_id(self.notify_settings.outbox_dir),
            settings=LedgerSettings(),
        )
        self.notifier = NotifierStage(
            topics=self.topics,
            sink=self.sink,
            metrics=self.metrics,
            settings=self.notify_settings,
            profiles=profiles,
            playbooks=playbooks,
            email=SmtpTransport(self.smtp),
            webhooks=WebhookTransport() if self.notify_settings.webhooks else None,
            email_domain=self.smtp.domain,
            incident_fallback=self._incident_of_run,
            on_timeline=on_notifier,
            on_fatal=self._crash,
            ledger=self.ledger,
            chain_reader=functools.partial(read_boards, self.connection, self.topics.chains),
            chain_follower=functools.partial(
                follow_boards, self.connection, self.topics.chains, skip=self.ledger.worker.encode()
            ),
        )
        self.feed = IncidentFeed(self.notifier.remember, self._on_incident)
        self.guards = {
            stage: RecordGuard(
                stage=stage,
                topics=self.topics,
                sink=self.sink,
                metrics=self.metrics,
                on_outage=self._crash,
                outages=(BrokerError, OutboxJournalError),
            )
            for stage in ("incident-feed", "playbook", "notifier")
        }
        self._prepared = False
        self.app = self._make_app()

    async def run_playbooks(self, events: list[Any]) -> None:  # faust events
        """One batch of the playbook agent: the stage's :meth:`~PlaybookStage.handle_batch`, bad records set aside."""
        guard = self.guards["playbook"]

        async def set_aside(item: Incoming, exc: BaseException) -> None:
            await guard.set_aside(cast("Any", item.source).message, exc)

        batch = [Incoming(e.message.topic, e.message.value, e) for e in events if self.current(e)]
        try:
            await self.playbook.handle_batch(batch, set_aside=set_aside, writing=as_current_event)
        except BrokerError:
            # The stage asked the worker to stop (on_fatal): hold the batch unacked until it does, so no commit
            # can pass records whose outputs the broker never took; a restart redoes them.
            await asyncio.Future()
        except Exception as exc:  # noqa: BLE001  # a bug: the batch is set aside as one record would be, the agent goes on
            for item in batch:
                await set_aside(item, exc)

    def current(self, event: Any) -> bool:  # a faust event
        """Whether ``event`` was delivered in the consumer's current generation.

        One taken before a rebalance and handled after it is not: its ack is
        not recorded as safe to commit (:mod:`streams.faust_fixes`), and it is
        read again from the committed offset here or by its partition's new owner.
        """
        return bool(event.message.generation_id == self.app.consumer_generation_id)

    def _on_incident(self, record: dict[str, Any]) -> None:
        if self.on_incident is not None:
            self.on_incident(record)

    def _evidence_collector(self) -> EvidenceCollector | None:
        """The evidence collector, or None without a key (then the timeline says evidence was not sealed)."""
        s = self.settings
        if s.evidence_key is None:
            log.warning(
                "no evidence key configured (KINKYU_EVIDENCE_KEY): evidence will not be sealed; "
                "each incident's timeline records it"
            )
            return None
        # MAC'd with the integrity keys and anchored on the broker; without those keys: IntegrityKeyError (exit 3).
        return evidence_collector(s, self.topics, self.connection)

    async def _crash(self, exc: BaseException) -> None:
        await self.app.crash(exc)

    def _incident_of_run(self, incident_id: str) -> dict[str, Any] | None:
        """The incident's facts as the playbook table holds them (for messages of incidents the feed has not shown)."""
        table = self.playbook.table
        raw = table.get(incident_id.encode()) if table is not None else None
        if not raw:
            return None
        incident = orjson.loads(raw).get("incident")
        return incident if isinstance(incident, dict) else None

    def _make_app(self) -> faust.App:
        # faust 0.15.3 can commit past a message an agent still holds (a rebalance or kill then loses it).
        faust_fixes.apply()
        s = self.settings
        app = faust.App(
            s.group,
            broker=self.connection.faust_broker,
            broker_credentials=self.connection.faust_credentials(),
            web_host=s.web_host,
            web_port=s.web_port,
            web_bind=s.web_host,
            datadir=str(s.data_dir / s.group),
            store="memory://",
            # The stage topics' count (prepare() corrects it to the existing topics' before faust starts).
            topic_partitions=s.partitions,
            autodiscover=False,
            value_serializer="raw",
            key_serializer="raw",
            broker_session_timeout=s.session_timeout,
            broker_heartbeat_interval=s.heartbeat_interval,
            consumer_auto_offset_reset="earliest",
            producer_acks=1,
            # Every agent is safe to run twice, so a stop or rebalance need not wait for in-flight events:
            # faust clears agents' buffers without acking what they held, and when two agents share a
            # topic (incidents) a cleared message stays unacked and the wait never ends (a SIGTERM
            # during a burst then hangs until SIGKILL). Unfinished events are redelivered instead.
            stream_wait_empty=False,
            TableManager=_TableManager,
            # No standby copies of the table: with one, faust's assignor keeps each worker's partitions up
            # to ceil(P / N), so a worker joining 2 workers on 4 partitions would get none. A partition
            # that moves is restored from the changelog and incident-state (PlaybookStage.assign).
            table_standby_replicas=0,
        )
        worker = self
        incidents_topic = app.topic(self.topics.incidents, value_serializer="raw", key_serializer="raw")
        # One agent reads both, so the table's partition is the one of every message that changes it.
        playbook_topic = app.topic(
            self.topics.incidents, self.topics.playbook_ticks, value_serializer="raw", key_serializer="raw"
        )
        # bytes keys and values: raw serializers; the stage writes and reads the JSON itself.
        self._table = app.Table(
            "playbook-runs",
            default=None,
            partitions=s.partitions,
            key_type=bytes,
            value_type=bytes,
            help="playbook runs",
        )
        self.playbook.table = self._table
        # Which incidents this worker runs follows faust's assignment (co-partitioned: partition i of every
        # stage topic goes to one worker); until the first one, none.
        self.playbook.owned = frozenset()
        self.notifier.owned = frozenset()

        @app.on_partitions_assigned.connect
        async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            del sender, signal, kwargs
            assigned = args[0]  # the whole new assignment (faust sends it as the one argument)
            worker.playbook.assign(tp.partition for tp in assigned if tp.topic == worker.topics.incidents)

        @app.service
        class DetectionService(Service):
            """Hosts :class:`DetectorStage`; input ``access-log``, ``incident-events``."""

            _task: asyncio.Task[None] | None = None

            async def on_start(self) -> None:
                await worker.prepare()
                self._task = asyncio.ensure_future(worker._run_stage())

            async def on_stop(self) -> None:
                # Stop consuming first, then checkpoint what was processed, then disconnect.
                if self._task is not None:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
                await worker.stage.stop()
                await worker.playbook.stop()
                await worker.notifier.stop()  # before the sink: its last results go to the timeline through it
                await worker.sink.stop()

        @app.agent(incidents_topic)
        async def incident_feed(stream: Any) -> None:
            """Input ``incidents``; output: callbacks and logs only. Safe to run twice: yes (read-only)."""
            guard = worker.guards["incident-feed"]
            async for event in stream.events():
                await guard.run(event.message, worker.feed.handle)

        @app.agent(playbook_topic)
        async def playbook(stream: Any) -> None:
            """Input ``incidents``, ``playbook-ticks``; table ``playbook-runs``.

            Output ``notifications``, ``containment-commands``, ``incident-state``,
            sealed evidence. Safe to run twice: yes (a run ignores what it has
            seen; effects carry stable ids; see :mod:`streams.playbook_stage`).
            """
            # A batch waits for the broker once, not once per record (issue #14); take_events acks its events
            # only after this body returns, so no offset is committed before the batch's outputs are acknowledged.
            async for events in stream.take_events(PLAYBOOK_BATCH, PLAYBOOK_WITHIN):
                await worker.run_playbooks(events)

        @app.timer(s.tick_interval)  # type: ignore[untyped-decorator]  # faust's timer is untyped
        async def playbook_clock() -> None:
            """Tick every run with a deadline or a seal due (tables change only inside the agent)."""
            try:
                await worker.playbook.scan()
            except Exception:  # the next pass tries again
                log.exception("playbook timer pass failed")

        @app.timer(s.tick_interval)  # type: ignore[untyped-decorator]  # faust's timer is untyped
        async def tick() -> None:
            """Let event time run on while systems are silent, so outages are seen; sum up held-back log lines."""
            for guard in worker.guards.values():
                guard.flush_log()
            try:
                await worker.stage.tick()
            except BrokerError as exc:  # as in the detection stage: stop, a restart resumes from the checkpoint
                log.error("detection tick could not send; stopping the worker", extra={"error": str(exc)})  # noqa: TRY400  # an outage
                await worker.app.crash(exc)
            except Exception:  # the next tick tries again
                log.exception("detection tick failed")

        @app.timer(s.contracts_poll)  # type: ignore[untyped-decorator]  # faust's timer is untyped
        async def reload_contracts() -> None:
            """Pick up edited contract profiles; a broken edit keeps the previous ones in force."""
            worker.reload_contracts()

        @app.page("/health")
        class Health(View):
            async def get(self, request: Request) -> Response:
                del request
                ready = worker.stage.ready.is_set()
                body = {
                    "status": "ok" if ready else "starting",
                    "partitions": sorted(worker.stage.parts),
                    # The stage topics' partitions whose playbooks and messages this worker runs.
                    "playbook_partitions": sorted(worker.playbook.owned or ()),
                    "ack_endpoint": "listening" if worker.notifier.ack_listening else "not listening (see the log)",
                }
                return self.json(body, status=200 if ready else 503)

        @app.page("/metrics")
        class MetricsView(View):
            async def get(self, request: Request) -> Response:
                del request
                # aiohttp refuses a charset in content_type=, so the header goes in as is.
                body = generate_latest(worker.metrics.registry)
                return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        del DetectionService, incident_feed, playbook, playbook_clock, tick, reload_contracts, Health, MetricsView
        del on_assigned
        self._add_notifier(app)
        return app

    def _add_notifier(self, app: faust.App) -> None:
        """The notifier stage's agent, timer and endpoint service (see :mod:`streams.notifier_stage`)."""
        worker = self
        notifications_topic = app.topic(self.topics.notifications, value_serializer="raw", key_serializer="raw")

        # The chains and mail this worker runs follow faust's assignment of `notifications` (notifiers.handover).
        @app.on_partitions_assigned.connect
        async def notifier_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            del sender, signal, kwargs
            worker.notifier.assign(tp.partition for tp in args[0] if tp.topic == worker.topics.notifications)

        @app.on_partitions_revoked.connect
        async def notifier_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            del sender, signal, kwargs
            # At once, not at the next assignment: another worker may take them over before that arrives here.
            worker.notifier.revoke(tp.partition for tp in args[0] if tp.topic == worker.topics.notifications)

        @app.service
        class NotifierService(Service):
            """Hosts the acknowledgement endpoint of :class:`NotifierStage` (``/ack/{token}``)."""

            async def on_start(self) -> None:
                await worker.notifier.start()

            async def on_stop(self) -> None:
                await worker.notifier.stop()

        @app.agent(notifications_topic)
        async def notifier(stream: Any) -> None:
            """Input ``notifications``; output e-mail and webhooks (through the outbox), results on ``incidents``.

            Acknowledgements opened on the endpoint go to ``incident-events``.
            Safe to run twice: yes (the outbox dedupes by idempotency key, the
            chain journal by effect id, the delivery ledger across workers; see
            :mod:`streams.notifier_stage`).
            """
            guard = worker.guards["notifier"]
            # A burst's records share one wait for the broker (their chains published at once) rather than one
            # each (issue #14); take_events acks the batch only after the body returns, chains published.
            async for events in stream.take_events(NOTIFIER_BATCH, NOTIFIER_WITHIN):
                await worker.notifier.handle_batch([e.message for e in events if worker.current(e)], guard.run)

        @app.timer(TICK)  # type: ignore[untyped-decorator]  # faust's timer is untyped
        async def notifier_clock() -> None:
            """Move escalation chains on and retry the outbox; ``messages_queued`` follows the outbox."""
            try:
                await worker.notifier.tick()
            except Exception:  # the next pass tries again
                log.exception("notifier timer pass failed")

        del NotifierService, notifier, notifier_clock, notifier_assigned, notifier_revoked

    async def prepare(self) -> None:
        """Create topics and join the detection group; idempotent.

        Called before faust starts (see :func:`streams.runner.run_worker`) so
        the stage's group join (half the session timeout on tansu) overlaps faust's own.
        """
        if self._prepared:
            return
        self._prepared = True
        stage_partitions = await ensure_topics(self.connection, self.topics, self.settings.partitions)
        if stage_partitions != self.settings.partitions:
            log.warning(
                "the playbook and notifier topics keep the partition count they were made with",
                extra={"partitions": stage_partitions, "KINKYU_PARTITIONS": self.settings.partitions},
            )
        await self._check_stores()
        # Before faust starts: it makes the table's changelog with this count and checks it against the inputs'.
        self._table.partitions = stage_partitions
        self.app.conf.topic_partitions = stage_partitions
        self.playbook.partitions = stage_partitions
        self.notifier.partitions = stage_partitions
        await self.sink.start()
        await self.playbook.start()
        await self.stage.start()

    async def _check_stores(self) -> None:
        """Refuse to start on a store folder other than the one this deployment's workers share (exit 3)."""
        s = self.settings
        folders = {"store": s.store_dir}
        if s.evidence_key is not None:
            folders["evidence"] = s.evidence_path
        setting = {"store": "KINKYU_STORE (or KINKYU_DATA_DIR)", "evidence": "KINKYU_EVIDENCE_DIR"}
        await check_shared_stores(self.connection, self.topics.stores, folders, setting=setting)

    async def _run_stage(self) -> None:
        try:
            await self.stage.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Nothing was committed past what was sent; stopping is safe and loses nothing.
            log.exception("detection stage stopped on an error; stopping the worker")
            await self.app.crash(RuntimeError("detection stage failed"))
            raise

    def reload_contracts(self) -> bool:
        """Reload contract profiles if their files changed; state in every engine is kept."""
        try:
            if not self.contracts.reload_if_changed():
                return False
        except ContractError as exc:
            self.metrics.contract_reloads.labels("refused").inc()
            log.error("contract change refused; previous profiles stay in force", extra={"error": str(exc)})  # noqa: TRY400  # the message says it all
            return False
        self._policies = compile_profiles(self.contracts.profiles)
        self.stage.set_policies(self._policies)
        self.metrics.contract_reloads.labels("ok").inc()
        log.info("contracts reloaded", extra={"contracts": sorted(self._policies)})
        return True


def notifier_settings(settings: WorkerSettings, notify: NotifierSettings) -> NotifierSettings:
    """``notify`` with the worker's defaults filled in where the environment left them unset.

    The outbox goes under ``data_dir`` (not under the group: a worker of a
    new group re-reads ``notifications`` from the start, and the outbox is
    what recognises those messages as sent); links point at the endpoint's
    own port unless ``KINKYU_NOTIFY_ACK_BASE_URL`` says where it is reached.
    """
    update: dict[str, Any] = {}
    if "outbox_dir" not in notify.model_fields_set:
        update["outbox_dir"] = settings.data_dir / "notifier"
    if "ack_base_url" not in notify.model_fields_set:
        host = "127.0.0.1" if notify.ack_host in {"0.0.0.0", "::", ""} else notify.ack_host  # noqa: S104  # compared, not bound
        update["ack_base_url"] = f"http://{host}:{notify.ack_port}"
    return notify.model_copy(update=update) if update else notify
