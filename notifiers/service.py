"""The notifier: ``notifications`` records in, e-mails and webhooks out, acknowledgements back.

One :class:`Notifier` per worker process wires the pieces of this package
together; the faust wiring only calls it:

- :meth:`Notifier.handle` for each ``notifications`` record (a playbook's
  Notify or Escalate effect plus ids; optionally the incident's facts):
  :mod:`notifiers.plan` decides who is told, in which order;
- :meth:`Notifier.tick` on a timer (every few seconds): escalation chains
  that are due tell their next contact (:mod:`notifiers.enqueue` renders
  and queues each send), outbox entries that are due are attempted
  (:mod:`notifiers.delivery`);
- :meth:`Notifier.ack_app` served beside the worker (``/ack/{token}``);
  an acknowledgement stops the chain, goes on the timeline and, for a
  city's acknowledgement of a report, is handed to ``on_ack_event``
  (:mod:`notifiers.acks`);
- :meth:`Notifier.acknowledge_step` when a report was acknowledged another
  way (by telephone, recorded as a follow-up): its chain stops too.

Every send is rendered once (:mod:`notifiers.render`), queued in the outbox
under its idempotency key (:mod:`notifiers.outbox_store`) and delivered with
retries; chains are journalled too, so a restart resumes both. Results go to
``on_timeline`` (:mod:`notifiers.timeline`) with ids, roles and categories only.
Settings are :class:`~notifiers.settings.NotifierSettings`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from kinkyu.core.ack import MIN_SECRET_BYTES, AckClaim
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState
from kinkyu.core.handover import merge_chain, sends_of_stage
from kinkyu.core.outbox import idempotency_key
from kinkyu.core.playbook import Playbook
from kinkyu.core.timefmt import utcnow
from kinkyu.notifiers.ack_server import make_ack_app
from kinkyu.notifiers.acks import AckEventCallback, Acknowledgements, ack_incident_event
from kinkyu.notifiers.delivery import Delivery, EmailSender, WebhookSender
from kinkyu.notifiers.enqueue import SendQueue
from kinkyu.notifiers.exceptions import NotifierError, OutboxJournalError, RenderError
from kinkyu.notifiers.ledger import Ledger
from kinkyu.notifiers.model import IncidentFacts, NotificationIn
from kinkyu.notifiers.outbox_store import ChainStore, OutboxStore
from kinkyu.notifiers.plan import ChainPlanner
from kinkyu.notifiers.settings import NotifierSettings, WebhookTarget
from kinkyu.notifiers.timeline import WHO, TimelineCallback, TimelineWriter
from kinkyu.web.ack_pages import contractor_contact

__all__ = [
    "WHO",
    "AckEventCallback",
    "EmailSender",
    "Notifier",
    "NotifierSettings",
    "TimelineCallback",
    "WebhookSender",
    "WebhookTarget",
    "ack_incident_event",
]

log = logging.getLogger("kinkyu.notifier")


def _everything(incident_id: str) -> bool:
    del incident_id
    return True


class Notifier:
    """See the module docstring. One event loop; not thread-safe."""

    def __init__(
        self,
        *,
        settings: NotifierSettings,
        profiles: Callable[[], Mapping[str, ContractProfile]],
        email: EmailSender,
        webhooks: WebhookSender | None = None,
        playbooks: Mapping[str, Playbook] | None = None,
        on_timeline: TimelineCallback | None = None,
        on_ack_event: AckEventCallback | None = None,
        clock: Callable[[], datetime] = utcnow,
        email_domain: str = "kinkyu.invalid",
        ledger: Ledger | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        # Whether this worker runs an incident's chains and mail now (its partition's owner); None: every incident.
        self.owns: Callable[[str], bool] = owns if owns is not None else _everything
        self.profiles = profiles
        self.email = email
        self.webhooks = webhooks
        self.playbooks = dict(playbooks or {})
        self.on_timeline = on_timeline
        self.on_ack_event = on_ack_event
        self.clock = clock
        self.email_domain = email_domain
        self.ledger = ledger
        if settings.ack_secret is not None:
            self.ack_secret = settings.ack_secret.get_secret_value().encode()
            if len(self.ack_secret) < MIN_SECRET_BYTES:
                raise NotifierError(f"KINKYU_NOTIFY_ACK_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        else:
            log.warning("KINKYU_NOTIFY_ACK_SECRET is not set: acknowledgement links stop working after a restart")
            self.ack_secret = secrets.token_bytes(32)
        now = clock()
        retention = timedelta(days=settings.retention_days)
        folder = settings.outbox_dir
        self.outbox = OutboxStore(folder / "outbox.jsonl", backoff=settings.backoff(), retention=retention, now=now)
        try:
            self.chains = ChainStore(folder / "chains.jsonl", retention=retention, now=now)
        except BaseException:
            self.outbox.close()
            raise
        # Chains change under one lock (an acknowledgement must not be overwritten by a stage computed
        # from an older copy); delivery passes under another (the Delivery's own), so a slow SMTP server
        # never delays the acknowledgement page. Store calls are synchronous, so the two never interleave.
        self._lock = asyncio.Lock()
        self.timeline = TimelineWriter(on_timeline=on_timeline, profiles=profiles, chains=self.chains, clock=clock)
        self.planner = ChainPlanner(self.chains, self.playbooks)
        self.queue = SendQueue(
            settings=settings,
            outbox=self.outbox,
            ack_secret=self.ack_secret,
            email_domain=email_domain,
            timeline=self.timeline,
        )
        self.delivery = Delivery(
            settings=settings,
            outbox=self.outbox,
            email=email,
            webhooks=webhooks,
            clock=clock,
            timeline=self.timeline,
            ledger=ledger,
            owns=self.owns,
        )
        self.acks = Acknowledgements(
            outbox=self.outbox,
            chains=self.chains,
            timeline=self.timeline,
            on_ack_event=on_ack_event,
            clock=clock,
            lock=self._lock,
        )

    # -- input -----------------------------------------------------------------------------

    async def handle(
        self, record: Mapping[str, Any], incident: Mapping[str, Any] | None = None, *, sync: bool = True
    ) -> bool:
        """Take one ``notifications`` record; False if it was a duplicate or could not be used (logged).

        ``incident`` is the incident's record (an ``incidents`` or
        ``incident-state`` value); only :data:`notifiers.model.FACT_KEYS`
        are read from it. A record may also carry it under ``incident``.
        What it queued is on the disk when it returns; ``sync=False`` leaves
        that to :meth:`durable`, which a caller taking many records at once
        awaits once for them all.
        """
        taken = await self._handle(record, incident)
        if sync:
            await self.durable()
        return taken

    async def durable(self) -> None:
        """Return once every change to the outbox and the chains made so far is fsynced."""
        await asyncio.gather(self.outbox.durable(), self.chains.durable())

    async def _handle(self, record: Mapping[str, Any], incident: Mapping[str, Any] | None) -> bool:
        try:
            note = NotificationIn.parse(dict(record))
        except RenderError as exc:
            log.warning("notification record refused", extra={"error": str(exc)})
            return False
        source = incident if incident is not None else record.get("incident")
        facts = IncidentFacts.from_record(dict(source)) if isinstance(source, Mapping) else None
        if facts is not None and facts.incident_id != note.incident_id:
            facts = None
        async with self._lock:
            if note.effect_id in self.chains:
                log.info("notification already handled", extra={"effect_id": note.effect_id})
                return False
            now = self.clock()
            profile = self.profiles().get(note.contract_id)
            if profile is None:
                log.warning(
                    "notification for an unknown contract; not sent",
                    extra={"effect_id": note.effect_id, "contract_id": note.contract_id},
                )
                await self.timeline.write(
                    note.incident_id,
                    now,
                    f"message not sent: contract {note.contract_id} is not loaded",
                    "message_not_sent",
                    {"effect_id": note.effect_id, "reason": "unknown-contract"},
                )
                return False
            chain = self.planner.plan(note, facts, profile, now)
            if chain is None:
                return True
            self.chains.put(chain)
            if not chain.ladder and not chain.final:
                await self.timeline.write(
                    note.incident_id,
                    now,
                    "message not sent: no contact with an e-mail address in the contract profile",
                    "message_not_sent",
                    {"effect_id": note.effect_id, "reason": "no-contact"},
                )
            await self._advance_logged(chain, now)
        return True

    # -- time -------------------------------------------------------------------------------

    async def tick(self) -> None:
        """One pass: advance every due chain, then attempt every due outbox entry."""
        await self.advance()
        await self.deliver()

    async def run(self, interval: float = 1.0) -> None:
        """Tick every ``interval`` seconds until cancelled; a failed pass is logged and the next one runs.

        For a worker without its own timer: ``asyncio.create_task(notifier.run())``.
        """
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass retries; the log has what went wrong
                log.exception("notifier pass failed")
            await asyncio.sleep(interval)

    def counts(self) -> dict[str, int]:
        """Outbox entries by state (``pending``, ``sent``, ``failed``): for the ``kinkyu_messages_queued`` gauge."""
        return self.outbox.outbox.counts()

    def next_due(self) -> datetime | None:
        """When :meth:`tick` next has something to do."""
        times = [t for t in (c.next_due() for c in self.chains.active()) if t is not None]
        outbox = self.outbox.next_due()
        if outbox is not None:
            times.append(outbox)
        return min(times) if times else None

    async def advance(self) -> int:
        """Carry out the chain stages due now; how many sends were queued (on the disk when it returns)."""
        async with self._lock:
            now = self.clock()
            queued = 0
            for chain in self.chains.active():
                if not self.owns(chain.incident_id):
                    continue  # another worker runs it now (notifiers.handover): it continues from the shared copy
                due = chain.next_due()
                if due is not None and due <= now:
                    queued += await self._advance_logged(chain, now)
        await self.durable()
        return queued

    async def _advance_logged(self, chain: EscalationState, now: datetime) -> int:
        """:meth:`_advance`, with a failure logged: the stage stays due and is tried again on the next pass."""
        try:
            return await self._advance(chain, now)
        except OutboxJournalError:
            raise  # the disk refuses: nothing can be promised any more; the caller must know
        except Exception:  # one chain's bad data must not stop the others
            log.exception("escalation stage could not be queued", extra={"chain_id": chain.chain_id})
            return 0

    async def _advance(self, chain: EscalationState, now: datetime) -> int:
        """Queue ``chain``'s due stage (outbox first, then the chain: a crash in between re-queues the same keys)."""
        before = EscalationState.from_json(chain.to_json())
        sends = chain.next_step(now)
        if not sends:
            return 0
        profile = self.timeline.profile_of(chain)
        queued = 0
        if profile is not None:
            for send in sends:
                queued += await self.queue.email(chain, send, profile, now)
            if self.webhooks is not None:
                queued += self.queue.webhooks(chain, sends[0], profile, now)
        else:
            log.warning("chain of an unloaded contract: nobody told", extra={"chain_id": chain.chain_id})
        self.chains.put(chain)
        await self.timeline.chain_stage(before, sends, profile, now)
        return queued

    async def deliver(self) -> int:
        """Attempt the due outbox entries (at most ``batch``); how many were delivered."""
        return await self.delivery.deliver()

    async def take_over(self, chains: Iterable[EscalationState], settled: Callable[[str], bool]) -> int:
        """Continue ``chains`` as another worker left them (their shared copy); how many sends were queued again.

        Each is merged with this journal's copy (:func:`kinkyu.core.handover.merge_chain`: no stage twice,
        no acknowledgement lost), and every send its carried-out stages made that is neither in this
        outbox nor ``settled`` (delivered or given up, says the delivery ledger) is queued again: the
        worker that queued it may be gone. The ledger keeps one it delivered from going twice.
        """
        async with self._lock:
            now = self.clock()
            queued = 0
            for theirs in chains:
                mine = self.chains.get(theirs.chain_id)
                chain = theirs if mine is None else merge_chain(mine, theirs)
                if mine is None or chain.to_json() != mine.to_json():
                    self.chains.put(chain)
                try:
                    queued += await self._requeue(chain, settled, now)
                except OutboxJournalError:
                    raise
                except Exception:  # one chain's bad data must not stop the hand-over of the others
                    log.exception("chain taken over could not be queued again", extra={"chain_id": chain.chain_id})
        await self.durable()
        return queued

    async def _requeue(self, chain: EscalationState, settled: Callable[[str], bool], now: datetime) -> int:
        profile = self.timeline.profile_of(chain)
        if profile is None:
            return 0
        queued = 0
        for stage in range(min(chain.stage, chain.stages)):
            sends = sends_of_stage(chain, stage)
            for send in sends:
                key = idempotency_key(chain.incident_id, chain.chain_id, send.recipient, "email")
                if key in self.outbox.outbox or settled(key):
                    continue
                queued += await self.queue.email(chain, send, profile, now)
            if self.webhooks is not None and sends:
                queued += self.queue.webhooks(chain, sends[0], profile, now)
        return queued

    # -- acknowledgements ------------------------------------------------------------------------

    def ack_app(self) -> web.Application:
        """The acknowledgement endpoint for this notifier (see :func:`notifiers.ack_server.make_ack_app`)."""
        return make_ack_app(
            self.ack_secret, self.acknowledge, clock=self.clock, contact=lambda: contractor_contact(self.profiles())
        )

    async def acknowledge(self, claim: AckClaim) -> None:
        """Record an opened acknowledgement link (see :meth:`notifiers.acks.Acknowledgements.acknowledge`)."""
        await self.acks.acknowledge(claim)
        await self.durable()

    async def acknowledge_step(self, incident_id: str, step_id: str, *, by: str, at: datetime) -> int:
        """The city acknowledged ``step_id`` another way (telephone): stop its chains; how many stopped."""
        stopped = await self.acks.acknowledge_step(incident_id, step_id, by=by, at=at)
        await self.durable()
        return stopped

    def close(self) -> None:
        """Close the journals."""
        self.outbox.close()
        self.chains.close()
