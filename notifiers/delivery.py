"""Delivery: due outbox entries attempted through the transports, with retries on the outbox's backoff.

An entry is marked in flight before its attempt and sent or failed after it,
so a stop in between is recognised on restart (and the timeline says the
message may have arrived twice). With a delivery ledger shared by every worker
(:mod:`notifiers.ledger`) an entry is claimed there before its attempt and
settled there after it, so no other worker sends it again. A transport error that means the server, not
the message (:data:`SERVER_DOWN`), makes the rest of the pass skip that
server: those entries are not attempted, so they spend no retry.

Different incidents' entries are attempted at the same time (at most
``concurrency`` incidents), one incident's one after another in their order,
so a slow answer for one incident holds back only that incident's messages.
Passes overlap: a pass takes the due entries no running pass holds, of
incidents no running pass is sending, so what a burst queues during a pass
goes out without waiting for that pass's slowest message. Every message
waits for one of the ``concurrency`` slots on its own, the city's reports
first (:class:`PriorityGate`), so one incident's task mails never hold a
slot another incident's first report is waiting for.
After the earliest entry, a pass takes the city's reports first, then
escalations, then the rest (contractor tasks, reminders), so a burst of
incidents does not queue its first reports behind the mail that follows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

from kinkyu.core.outbox import OutboxEntry
from kinkyu.notifiers.exceptions import NotifierPermanentError, NotifierTransientError
from kinkyu.notifiers.ledger import Ledger, claim_all, consult, settle
from kinkyu.notifiers.model import CITY_REPORTS, DeliveryResult, OutboundEmail, WebhookPayload
from kinkyu.notifiers.outbox_store import OutboxStore
from kinkyu.notifiers.settings import NotifierSettings
from kinkyu.notifiers.timeline import TimelineWriter

log = logging.getLogger("kinkyu.notifier")

# Transport errors that mean the server, not the message: the rest of the pass waits.
SERVER_DOWN = frozenset({"connection", "timeout", "smtp-auth", "smtp-unsupported"})


class EmailSender(Protocol):
    """What delivers e-mail (:class:`notifiers.smtp.SmtpTransport`)."""

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        """Send one e-mail."""
        ...


class WebhookSender(Protocol):
    """What posts webhooks (:class:`notifiers.webhook.WebhookTransport`)."""

    async def post(self, url: str, payload: WebhookPayload, secret: str | bytes) -> DeliveryResult:
        """Post one payload."""
        ...


def _urgency(entry: OutboxEntry) -> int:
    """0 for a report to the city, 1 for an escalation or an unanswered notice, 2 for any other message."""
    kind = entry.meta.get("kind")
    if kind in CITY_REPORTS:
        return 0
    return 1 if kind in {"escalation", "unanswered"} else 2


class PriorityGate:
    """At most ``slots`` holders at once; waiters get a free slot by priority (lowest first), then in order."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        """Hold a slot while the block runs."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, granted = heapq.heappop(self._waiting)
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1


class Delivery:
    """Attempts the ``outbox``'s due entries, one pass at a time, and writes each outcome on the timeline."""

    def __init__(
        self,
        *,
        settings: NotifierSettings,
        outbox: OutboxStore,
        email: EmailSender,
        webhooks: WebhookSender | None,
        clock: Callable[[], datetime],
        timeline: TimelineWriter,
        ledger: Ledger | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.owns = owns
        self.ledger = ledger
        self.outbox = outbox
        self.email = email
        self.webhooks = webhooks
        self.clock = clock
        self.timeline = timeline
        # A pass chooses and claims its entries under this lock, not the chains' one (a slow SMTP server never
        # delays an acknowledgement), then sends them outside it: passes overlap, so what a burst queues while
        # one pass waits on a slow answer goes out at once in the next, never behind the whole of the first.
        self._lock = asyncio.Lock()
        self._gate: PriorityGate | None = None  # sends at once, over every pass
        self._taken: set[str] = set()  # keys a running pass will attempt
        self._busy: dict[str, int] = {}  # incidents with entries in a running pass: their next waits (order)

    async def deliver(self) -> int:
        """Attempt the due outbox entries no running pass holds (at most ``batch``); how many were delivered."""
        async with self._lock:
            now = self.clock()
            due = [e for e in self.outbox.due(now) if e.key not in self._taken and e.incident_id not in self._busy]
            if self.owns is not None:  # another worker's partition: its owner queues and sends these (handover)
                due = [e for e in due if self.owns(e.incident_id)]
            # The earliest first (alone, it finds a server that is down: in an outage every entry takes its turn
            # at that), then the city's reports (the contract's 直ちに), escalations, the rest, earliest first in
            # each: a burst of incidents no longer queues its first reports behind its task mails.
            due = [*due[:1], *sorted(due[1:], key=_urgency)][: self.settings.batch]
            if not due:
                return 0
            if self.ledger is not None:  # one round trip to the ledger for the whole pass
                await claim_all(self.ledger, due, self.clock())
            for entry in due:
                self._taken.add(entry.key)
                self._busy[entry.incident_id] = self._busy.get(entry.incident_id, 0) + 1
        try:
            return await self._send_pass(due)
        finally:
            for entry in due:
                self._taken.discard(entry.key)
                left = self._busy.get(entry.incident_id, 1) - 1
                if left > 0:
                    self._busy[entry.incident_id] = left
                else:
                    self._busy.pop(entry.incident_id, None)

    async def _send_pass(self, due: list[OutboxEntry]) -> int:
        """Attempt ``due``: different incidents at once (bounded), one incident's messages in their order."""
        # A slow server answer for one incident no longer holds every other incident's report behind it.
        by_incident: dict[str, list[OutboxEntry]] = {}
        for entry in due:
            by_incident.setdefault(entry.incident_id, []).append(entry)
        groups = list(by_incident.values())
        down: set[str] = set()
        # One message alone first: a server that is down is found by one attempt, not by `concurrency`.
        delivered = await self._try(groups[0][0], down)
        groups[0] = groups[0][1:]
        if self._gate is None:
            self._gate = PriorityGate(self.settings.concurrency)
        gate = self._gate

        async def one_incident(entries: list[OutboxEntry]) -> int:
            sent = 0
            for entry in entries:
                # A slot per message, not per incident: a report of another incident waiting for a slot goes
                # before this incident's task mail, in this pass or in any other.
                async with gate.slot(_urgency(entry)):
                    sent += await self._try(entry, down)
            return sent

        for sent in await asyncio.gather(*(one_incident(entries) for entries in groups if entries)):
            delivered += sent
        return delivered

    async def _try(self, entry: OutboxEntry, down: set[str]) -> int:
        """Attempt ``entry`` unless its server was found down in this pass (it stays due); 1 if delivered."""
        target = str(entry.payload.get("target", "")) if entry.channel == "webhook" else "smtp"
        if target in down:
            return 0  # its server is down: not an attempt, it stays due for the next pass
        ok, code = await self._attempt(entry)
        if code in SERVER_DOWN:
            down.add(target)
        return ok

    async def _attempt(self, entry: OutboxEntry) -> tuple[int, str | None]:
        now = self.clock()
        if self.ledger is not None:  # another worker may have sent it, or be sending it (notifiers.ledger)
            settled = await consult(self.ledger, self.outbox, entry, now)
            if settled is not None:
                if settled.done:
                    await self.outbox.durable()
                    await self.timeline.delivery(settled, settled.last_error)
                return 0, None
        entry = self.outbox.begin(entry.key, now)
        # On the disk before the server hears of it: a crash from here on finds the attempt, uncertain.
        await self.outbox.durable()
        try:
            result = await self._send(entry)
        except NotifierPermanentError as exc:
            done = self.outbox.failed(entry.key, self.clock(), error=exc.code, permanent=True, detail=exc.detail)
            log.error("message refused for good", extra={"key": entry.key, "code": exc.code})  # noqa: TRY400
            await self._finish(done, exc.code)
            return 0, exc.code
        except NotifierTransientError as exc:
            done = self.outbox.failed(entry.key, self.clock(), error=exc.code, permanent=False, detail=exc.detail)
            log.warning(
                "message not delivered yet" if done.state == "pending" else "message given up",
                extra={"key": entry.key, "code": exc.code, "attempts": done.attempts},
            )
            await self._finish(done, exc.code)
            return 0, exc.code
        except (KeyError, TypeError, ValueError):  # a stored payload that no longer parses: give it up, visibly
            log.exception("message cannot be sent: its stored form is invalid", extra={"key": entry.key})
            done = self.outbox.failed(entry.key, self.clock(), error="invalid", permanent=True)
            await self._finish(done, "invalid")
            return 0, "invalid"
        except Exception:  # a bug in a transport: retried on the backoff, never left "in flight"
            log.exception("message attempt failed unexpectedly", extra={"key": entry.key})
            done = self.outbox.failed(entry.key, self.clock(), error="internal", permanent=False)
            await self._finish(done, "internal")
            return 0, "internal"
        answered = time.monotonic()
        done = self.outbox.sent(entry.key, self.clock(), result.detail)
        await self._finish(done, None, since=answered)
        return 1, None

    async def _finish(self, done: OutboxEntry, code: str | None, *, since: float | None = None) -> None:
        """The outcome on the disk first, then the ledger and the timeline (two topics: both waited for at once)."""
        await self.outbox.durable()
        await asyncio.gather(self._settle(done, since=since), self.timeline.delivery(done, code))

    async def _settle(self, entry: OutboxEntry, *, since: float | None = None) -> None:
        """Tell the other workers (the ledger) that ``entry`` is delivered or given up; pending: nothing."""
        if self.ledger is not None and entry.done:
            await settle(self.ledger, entry, since=since)

    async def _send(self, entry: OutboxEntry) -> DeliveryResult:
        if entry.channel == "email":
            return await self.email.send(OutboundEmail.from_json(entry.payload))
        target = next((t for t in self.settings.webhooks if t.name == entry.payload.get("target")), None)
        if target is None or self.webhooks is None:
            raise NotifierPermanentError("webhook target no longer configured", code="no-target")
        payload = WebhookPayload.from_json(entry.payload)
        return await self.webhooks.post(target.url, payload, target.secret.get_secret_value())
