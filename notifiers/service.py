"""The notifier: ``notifications`` records in, e-mails and webhooks out, acknowledgements back.

One :class:`Notifier` per worker process ties the pieces together; the
faust wiring only calls it:

- :meth:`Notifier.handle` for each ``notifications`` record (a playbook's
  Notify or Escalate effect plus ids; optionally the incident's facts);
- :meth:`Notifier.tick` on a timer (every few seconds): escalation chains
  that are due tell their next contact, outbox entries that are due are
  attempted;
- :meth:`Notifier.ack_app` served beside the worker (``/ack/{token}``);
  an acknowledgement stops the chain, goes on the timeline and, for a
  city's acknowledgement of a report, is handed to ``on_ack_event`` as an
  ``incident-events`` ``acknowledgement`` record so the playbook run marks
  the report done;
- :meth:`Notifier.acknowledge_step` when a report was acknowledged another
  way (by telephone, recorded as a follow-up): its chain stops too.

Who is told (see :mod:`kinkyu.core.escalation`):

- a Notify to the city: the city's contacts in the profile's order, one per
  ``response.ack_timeout`` until one acknowledges, then the contractor's
  作業責任者 is told the city has not answered;
- a Notify to the contractor (triage, tasks): the contractor's contacts in order;
- an Escalate ``no_acknowledgement`` of a report: the report's own chain is
  moved on to the next contact now (:meth:`EscalationState.bump`) rather
  than starting a second chain; without one, a chain starts at the city's
  second contact;
- an Escalate ``deadline_missed`` of a city step: the city's contacts from
  the second one, then the 作業責任者; of a contractor step or task, and
  ``containment_failed``: the contractor's contacts in order.

Every send is rendered once (:mod:`notifiers.render`), queued in the outbox
under its idempotency key (:mod:`notifiers.outbox_store`) and delivered by
:meth:`Notifier.deliver` with retries; chains are journalled too, so a
restart resumes both. Results go to ``on_timeline`` as
:class:`~kinkyu.core.incident.TimelineEntry` values (who ``kinkyu-notifier``;
kinds ``message_sent``, ``message_delayed``, ``message_failed``,
``message_escalated``, ``city_unanswered``, ``message_acknowledged``,
``message_not_sent``), with ids, roles and categories only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.core.ack import MIN_SECRET_BYTES, AckClaim, make_ack_token
from kinkyu.core.contract import ContractProfile
from kinkyu.core.escalation import EscalationState, Send, Side, chain_for, contact_for, parse_ref
from kinkyu.core.incident import TimelineEntry
from kinkyu.core.outbox import Backoff, OutboxEntry, idempotency_key, new_entry
from kinkyu.core.playbook import Playbook
from kinkyu.core.timefmt import utcnow
from kinkyu.notifiers.ack_server import UnknownMessageError, make_ack_app
from kinkyu.notifiers.exceptions import (
    NotifierError,
    NotifierPermanentError,
    NotifierTransientError,
    OutboxJournalError,
    RenderError,
)
from kinkyu.notifiers.model import DeliveryResult, IncidentFacts, NotificationIn, OutboundEmail, WebhookPayload
from kinkyu.notifiers.outbox_store import ChainStore, OutboxStore
from kinkyu.notifiers.render import KIND_TITLES, build_email, build_webhook, message_kind

log = logging.getLogger("kinkyu.notifier")

WHO = "kinkyu-notifier"
TimelineCallback = Callable[[str, TimelineEntry], Awaitable[None]]
AckEventCallback = Callable[[dict[str, Any]], Awaitable[None]]
# Escalate effects of these reasons, on a city step, go to the city's contacts.
_CITY_REPORT_KINDS = frozenset(
    {
        "first_report",
        "written_report",
        "complaint_report",
        "progress_report",
        "supplementary_report",
        "dismissal_report",
        "closure_report",
    }
)
# Transport errors that mean the server, not the message: the rest of the pass waits.
_SERVER_DOWN = frozenset({"connection", "timeout", "smtp-auth", "smtp-unsupported"})


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


class WebhookTarget(BaseModel):
    """A chat or ticket system: ``name`` (a reference), ``url``, ``secret``; ``contracts`` limits it (empty: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    contracts: list[str] = Field(default_factory=list)

    def wants(self, contract_id: str) -> bool:
        """Whether messages of ``contract_id`` go to this target."""
        return not self.contracts or contract_id in self.contracts


class NotifierSettings(BaseSettings):
    """Notifier settings: ``KINKYU_NOTIFY_*`` environment variables.

    - ``ack_secret``: signs acknowledgement links (at least 16 bytes; keep it
      stable, or links already sent stop working). Unset: a random secret per
      process, with a warning - fine for ``make run``, not for production;
    - ``ack_base_url`` (links point at ``<ack_base_url>/ack/<token>``; unset,
      the console when ``console_url`` is set, where a person confirms with
      a button, else this endpoint, whose GET also only shows a button),
      ``ack_host`` / ``ack_port`` (where the endpoint listens), ``ack_ttl``
      (seconds a link stays valid, default 7 days);
    - ``console_url``: incident links are ``<console_url>/incidents/<id>``;
    - ``outbox_dir``: the outbox and chain journals;
    - ``webhooks``: JSON list of ``{"name", "url", "secret", "contracts"}``;
    - ``retry_base`` / ``retry_cap`` (seconds) and ``max_attempts``: the
      outbox backoff (30 s doubling to 15 min, 30 attempts: about 6.5 hours);
    - ``retention_days``: how long delivered entries are kept to recognise
      redelivered records (30);
    - ``batch``: entries attempted per pass (50); ``html``: add an HTML part.
    """

    model_config = SettingsConfigDict(env_prefix="KINKYU_NOTIFY_", extra="ignore")

    ack_secret: SecretStr | None = None
    ack_base_url: str = "http://127.0.0.1:6067"
    ack_host: str = "127.0.0.1"
    ack_port: int = Field(default=6067, ge=0, le=65535)
    ack_ttl: float = Field(default=7 * 86400.0, gt=0)
    console_url: str = "http://127.0.0.1:6066"
    outbox_dir: Path = Path("var/notifier")
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    retry_base: float = Field(default=30.0, gt=0)
    retry_cap: float = Field(default=900.0, gt=0)
    max_attempts: int = Field(default=30, ge=1)
    retention_days: float = Field(default=30.0, gt=0)
    batch: int = Field(default=50, ge=1)
    html: bool = True

    @model_validator(mode="after")
    def _links_to_the_console(self) -> NotifierSettings:
        # Set through the attribute so it counts as set: the worker's own default (its endpoint) then stays out.
        if "ack_base_url" not in self.model_fields_set and "console_url" in self.model_fields_set:
            self.ack_base_url = self.console_url
        return self

    def backoff(self) -> Backoff:
        """The outbox retry schedule."""
        base = timedelta(seconds=self.retry_base)
        return Backoff(base=base, cap=max(base, timedelta(seconds=self.retry_cap)), max_attempts=self.max_attempts)


def ack_incident_event(
    *, incident_id: str, contract_id: str, step_id: str, recipient: str, role: str | None, at: datetime, org: str
) -> dict[str, Any]:
    """The ``incident-events`` record saying the city acknowledged ``step_id`` (pure).

    ``event_id`` is derived from the incident, step and recipient, so opening
    the link twice files one event; ``reported_by.id`` is the contact
    reference (``city:1``), never a name or an address.
    """
    digest = hashlib.sha256(f"{incident_id}\x1f{step_id}\x1f{recipient}".encode()).hexdigest()[:24]
    return {
        "event_id": f"ack-{digest}",
        "ts": at.isoformat(),
        "contract_id": contract_id,
        "kind": "acknowledgement",
        "incident_id": incident_id,
        "reported_by": {"id": recipient, "org": org, "role": role},
        "data": {"step": step_id},
    }


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
    ) -> None:
        self.settings = settings
        self.profiles = profiles
        self.email = email
        self.webhooks = webhooks
        self.playbooks = dict(playbooks or {})
        self.on_timeline = on_timeline
        self.on_ack_event = on_ack_event
        self.clock = clock
        self.email_domain = email_domain
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
        # from an older copy); delivery passes under another, so a slow SMTP server never delays the
        # acknowledgement page. Store calls are synchronous, so the two never interleave inside one.
        self._lock = asyncio.Lock()
        self._deliver_lock = asyncio.Lock()

    # -- input -----------------------------------------------------------------------------

    async def handle(self, record: Mapping[str, Any], incident: Mapping[str, Any] | None = None) -> bool:
        """Take one ``notifications`` record; False if it was a duplicate or could not be used (logged).

        ``incident`` is the incident's record (an ``incidents`` or
        ``incident-state`` value); only :data:`notifiers.model.FACT_KEYS`
        are read from it. A record may also carry it under ``incident``.
        """
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
                await self._timeline(
                    note.incident_id,
                    now,
                    f"message not sent: contract {note.contract_id} is not loaded",
                    "message_not_sent",
                    {"effect_id": note.effect_id, "reason": "unknown-contract"},
                )
                return False
            chain = self._plan(note, facts, profile, now)
            if chain is None:
                return True
            self.chains.put(chain)
            if not chain.ladder and not chain.final:
                await self._timeline(
                    note.incident_id,
                    now,
                    "message not sent: no contact with an e-mail address in the contract profile",
                    "message_not_sent",
                    {"effect_id": note.effect_id, "reason": "no-contact"},
                )
            await self._advance_logged(chain, now)
        return True

    def _plan(
        self, note: NotificationIn, facts: IncidentFacts | None, profile: ContractProfile, now: datetime
    ) -> EscalationState | None:
        """The chain for ``note`` (None when an existing chain took it over)."""
        payload: dict[str, Any] = {
            "notification": note.model_dump(mode="json"),
            "facts": facts.model_dump(mode="json") if facts is not None else None,
            "step_title": list(self._step_title(note) or ()) or None,
        }
        if note.effect == "notify":
            audience: Side = "city" if note.audience == "city" else "contractor"
            return chain_for(
                note.effect_id, note.incident_id, profile=profile, audience=audience, now=now, payload=payload
            )
        side = self._step_side(note)
        if note.reason == "no_acknowledgement":
            folded = self._bump_report_chain(note, now)
            if folded is not None:
                # Recorded as a finished chain: a redelivered record is recognised, nothing is sent twice.
                done = EscalationState.start(
                    note.effect_id,
                    note.incident_id,
                    ladder=(),
                    ack_timeout=profile.response.ack_timeout,
                    now=now,
                    payload={**payload, "folded_into": folded},
                )
                self.chains.put(done)
                return None
            side = "city"
        if note.reason == "containment_failed" or side is None:
            side = "contractor"
        return chain_for(
            note.effect_id,
            note.incident_id,
            profile=profile,
            audience=side,
            now=now,
            skip_first=side == "city",
            payload=payload,
        )

    def _bump_report_chain(self, note: NotificationIn, now: datetime) -> str | None:
        """The chain of the report ``note`` escalates on, moved on to its next contact now; None if there is none.

        A chain already acknowledged (the playbook has not heard yet) or
        already through its whole ladder takes the escalation over too:
        telling the city again would only repeat what it was told.
        """
        for chain in reversed(self.chains.chains()):
            n = chain.payload.get("notification") or {}
            if (
                chain.incident_id == note.incident_id
                and n.get("effect") == "notify"
                and n.get("audience") == "city"
                and n.get("step_id") == note.step_id
            ):
                if chain.bump(now):
                    self.chains.put(chain)
                return chain.chain_id
        return None

    def _step_side(self, note: NotificationIn) -> Side | None:
        if note.task_id:
            return "contractor"
        playbook = self.playbooks.get(note.jurisdiction or "")
        if playbook is None or note.step_id is None:
            return "city" if note.step_id in _CITY_REPORT_KINDS else None
        try:
            step = playbook.step(note.step_id)
        except KeyError:
            return None
        return "city" if step.to == "city" else "contractor"

    def _step_title(self, note: NotificationIn) -> tuple[str, str] | None:
        playbook = self.playbooks.get(note.jurisdiction or "")
        if playbook is None or note.step_id is None:
            return None
        try:
            step = playbook.step(note.step_id)
        except KeyError:
            return None
        return step.title_ja, step.title_en

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
        """Carry out the chain stages due now; how many sends were queued."""
        async with self._lock:
            now = self.clock()
            queued = 0
            for chain in self.chains.active():
                due = chain.next_due()
                if due is not None and due <= now:
                    queued += await self._advance_logged(chain, now)
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
        profile = self.profiles().get(str((chain.payload.get("notification") or {}).get("contract_id")))
        queued = 0
        if profile is not None:
            for send in sends:
                queued += await self._queue_email(chain, send, profile, now)
            queued += self._queue_webhooks(chain, sends[0], profile, now)
        else:
            log.warning("chain of an unloaded contract: nobody told", extra={"chain_id": chain.chain_id})
        self.chains.put(chain)
        await self._chain_timeline(before, sends, profile, now)
        return queued

    async def _queue_email(self, chain: EscalationState, send: Send, profile: ContractProfile, now: datetime) -> int:
        note = NotificationIn.parse(chain.payload["notification"])
        facts_json = chain.payload.get("facts")
        facts = IncidentFacts.model_validate(facts_json) if isinstance(facts_json, dict) else None
        title = chain.payload.get("step_title")
        step_title = (str(title[0]), str(title[1])) if isinstance(title, list) and len(title) == 2 else None  # noqa: PLR2004
        contact = contact_for(profile, send.recipient)
        if contact is None or not contact.email:
            await self._timeline(
                chain.incident_id,
                now,
                f"message not sent to {send.recipient}: the contract profile no longer lists an address for it",
                "message_not_sent",
                {"chain_id": chain.chain_id, "recipient": send.recipient, "reason": "no-address"},
            )
            return 0
        key = idempotency_key(chain.incident_id, chain.chain_id, send.recipient, "email")
        if key in self.outbox.outbox:
            return 0  # queued before a restart: the stored copy is the one to send
        expires = now + timedelta(seconds=self.settings.ack_ttl)
        token = make_ack_token(chain.incident_id, key, send.recipient, expires, self.ack_secret)
        email = build_email(
            note,
            contract=profile,
            recipient=contact,
            ack_url=f"{self.settings.ack_base_url.rstrip('/')}/ack/{token}",
            incident_url=self._incident_url(chain.incident_id),
            now=now,
            key=key,
            facts=facts,
            purpose=send.purpose,
            not_answered_by=send.not_answered_by,
            step_title=step_title,
            ack_expires=expires,
            domain=self.email_domain,
            html=self.settings.html,
        )
        meta = {"purpose": send.purpose, "stage": send.stage, "kind": message_kind(note, send.purpose)}
        entry = new_entry(
            incident_id=chain.incident_id,
            chain_id=chain.chain_id,
            recipient=send.recipient,
            channel="email",
            payload=email.to_json(),
            now=now,
            meta=meta,
        )
        return 1 if self.outbox.add(entry) else 0

    def _queue_webhooks(self, chain: EscalationState, send: Send, profile: ContractProfile, now: datetime) -> int:
        if self.webhooks is None:
            return 0
        note = NotificationIn.parse(chain.payload["notification"])
        facts_json = chain.payload.get("facts")
        facts = IncidentFacts.model_validate(facts_json) if isinstance(facts_json, dict) else None
        queued = 0
        for target in self.settings.webhooks:
            if not target.wants(profile.contract_id):
                continue
            ref = f"webhook:{target.name}#{send.stage}"
            key = idempotency_key(chain.incident_id, chain.chain_id, ref, "webhook")
            if key in self.outbox.outbox:
                continue
            expires = now + timedelta(seconds=self.settings.ack_ttl)
            token = make_ack_token(chain.incident_id, key, ref, expires, self.ack_secret)
            payload = build_webhook(
                note,
                contract=profile,
                key=key,
                ack_url=f"{self.settings.ack_base_url.rstrip('/')}/ack/{token}",
                incident_url=self._incident_url(chain.incident_id),
                now=now,
                facts=facts,
                purpose=send.purpose,
                not_answered_by=send.not_answered_by if send.purpose != "unanswered" else chain.ladder,
            )
            entry = new_entry(
                incident_id=chain.incident_id,
                chain_id=chain.chain_id,
                recipient=ref,
                channel="webhook",
                payload={**payload.to_json(), "target": target.name},
                now=now,
                meta={"purpose": send.purpose, "stage": send.stage, "kind": message_kind(note, send.purpose)},
            )
            queued += 1 if self.outbox.add(entry) else 0
        return queued

    def _incident_url(self, incident_id: str) -> str:
        return f"{self.settings.console_url.rstrip('/')}/incidents/{incident_id}"

    async def deliver(self) -> int:
        """Attempt the due outbox entries (at most ``batch``); how many were delivered."""
        async with self._deliver_lock:
            delivered = 0
            down: set[str] = set()
            for entry in self.outbox.due(self.clock(), self.settings.batch):
                target = str(entry.payload.get("target", "")) if entry.channel == "webhook" else "smtp"
                if target in down:
                    continue  # its server is down: not an attempt, it stays due for the next pass
                ok, code = await self._attempt(entry)
                delivered += ok
                if code in _SERVER_DOWN:
                    down.add(target)
            return delivered

    async def _attempt(self, entry: OutboxEntry) -> tuple[int, str | None]:
        now = self.clock()
        entry = self.outbox.begin(entry.key, now)
        try:
            result = await self._send(entry)
        except NotifierPermanentError as exc:
            done = self.outbox.failed(entry.key, self.clock(), error=exc.code, permanent=True, detail=exc.detail)
            log.error("message refused for good", extra={"key": entry.key, "code": exc.code})  # noqa: TRY400
            await self._delivery_timeline(done, exc.code)
            return 0, exc.code
        except NotifierTransientError as exc:
            done = self.outbox.failed(entry.key, self.clock(), error=exc.code, permanent=False, detail=exc.detail)
            log.warning(
                "message not delivered yet" if done.state == "pending" else "message given up",
                extra={"key": entry.key, "code": exc.code, "attempts": done.attempts},
            )
            await self._delivery_timeline(done, exc.code)
            return 0, exc.code
        except (KeyError, TypeError, ValueError):  # a stored payload that no longer parses: give it up, visibly
            log.exception("message cannot be sent: its stored form is invalid", extra={"key": entry.key})
            done = self.outbox.failed(entry.key, self.clock(), error="invalid", permanent=True)
            await self._delivery_timeline(done, "invalid")
            return 0, "invalid"
        except Exception:  # a bug in a transport: retried on the backoff, never left "in flight"
            log.exception("message attempt failed unexpectedly", extra={"key": entry.key})
            done = self.outbox.failed(entry.key, self.clock(), error="internal", permanent=False)
            await self._delivery_timeline(done, "internal")
            return 0, "internal"
        done = self.outbox.sent(entry.key, self.clock(), result.detail)
        await self._delivery_timeline(done, None)
        return 1, None

    async def _send(self, entry: OutboxEntry) -> DeliveryResult:
        if entry.channel == "email":
            return await self.email.send(OutboundEmail.from_json(entry.payload))
        target = next((t for t in self.settings.webhooks if t.name == entry.payload.get("target")), None)
        if target is None or self.webhooks is None:
            raise NotifierPermanentError("webhook target no longer configured", code="no-target")
        payload = WebhookPayload.from_json(entry.payload)
        return await self.webhooks.post(target.url, payload, target.secret.get_secret_value())

    # -- acknowledgements ------------------------------------------------------------------------

    def ack_app(self) -> web.Application:
        """The acknowledgement endpoint for this notifier (see :func:`notifiers.ack_server.make_ack_app`)."""
        return make_ack_app(self.ack_secret, self.acknowledge, clock=self.clock)

    async def acknowledge(self, claim: AckClaim) -> None:
        """Record an opened acknowledgement link: timeline, chain stopped, city acknowledgement filed.

        UnknownMessageError if the outbox has no such message (past the retention).
        """
        async with self._lock:
            entry = self.outbox.get(claim.message_id)
            if entry is None or entry.incident_id != claim.incident_id or entry.recipient != claim.recipient:
                raise UnknownMessageError(f"no message {claim.message_id} of incident {claim.incident_id}")
            chain = self.chains.get(entry.chain_id)
            now = self.clock()
            profile = self._profile_of(chain)
            role = self._role(profile, claim.recipient)
            stopped = False
            first = True
            if chain is not None:
                if claim.recipient in chain.ladder:
                    first = chain.acknowledge(claim.recipient, now)
                    stopped = first
                    self.chains.put(chain)
                else:
                    # A final recipient or a chat channel: on the record, but the city has still not answered.
                    first = True
            title = KIND_TITLES.get(str(entry.meta.get("kind")), ("", "message"))[1]
            await self._timeline(
                entry.incident_id,
                now,
                f"{title} acknowledged by {role} ({claim.recipient})" + ("" if first else " (again)"),
                "message_acknowledged",
                {
                    "key": entry.key,
                    "chain_id": entry.chain_id,
                    "recipient": claim.recipient,
                    "role": role,
                    "chain_stopped": stopped,
                },
                who=claim.recipient,
            )
            if stopped and chain is not None and profile is not None:
                await self._file_city_ack(chain, claim.recipient, role, profile, now)

    async def _file_city_ack(
        self, chain: EscalationState, recipient: str, role: str, profile: ContractProfile, now: datetime
    ) -> None:
        note = chain.payload.get("notification") or {}
        step_id = note.get("step_id")
        side, _ = parse_ref(recipient)
        # Only the city's own acknowledgement of a step makes the report count as made; never without
        # a step (an acknowledgement without one acknowledges every report awaiting one).
        if side != "city" or not isinstance(step_id, str) or self.on_ack_event is None:
            return
        if note.get("effect") == "notify" and note.get("kind") not in _CITY_REPORT_KINDS:
            return
        event = ack_incident_event(
            incident_id=chain.incident_id,
            contract_id=profile.contract_id,
            step_id=step_id,
            recipient=recipient,
            role=role,
            at=now,
            org=profile.jurisdiction,
        )
        try:
            await self.on_ack_event(event)
        except Exception:  # the timeline has it; the playbook run is told when the wiring retries
            log.exception("acknowledgement event not filed", extra={"incident_id": chain.incident_id})

    async def acknowledge_step(self, incident_id: str, step_id: str, *, by: str, at: datetime) -> int:
        """The city acknowledged ``step_id`` another way (telephone): stop its chains; how many stopped."""
        async with self._lock:
            stopped = 0
            for chain in self.chains.active():
                note = chain.payload.get("notification") or {}
                if chain.incident_id == incident_id and note.get("step_id") == step_id and chain.acknowledge(by, at):
                    self.chains.put(chain)
                    stopped += 1
            return stopped

    # -- timeline ------------------------------------------------------------------------------

    def _profile_of(self, chain: EscalationState | None) -> ContractProfile | None:
        if chain is None:
            return None
        return self.profiles().get(str((chain.payload.get("notification") or {}).get("contract_id")))

    @staticmethod
    def _role(profile: ContractProfile | None, ref: str) -> str:
        if ref.startswith("webhook:"):
            return ref.split(":", 1)[1].split("#", 1)[0]
        contact = contact_for(profile, ref) if profile is not None else None
        return contact.role if contact is not None else ref

    async def _timeline(
        self,
        incident_id: str,
        now: datetime,
        what: str,
        kind: str,
        data: dict[str, Any],
        *,
        who: str = WHO,
    ) -> None:
        if self.on_timeline is None:
            return
        try:
            await self.on_timeline(incident_id, TimelineEntry(now, who, what, kind, data))
        except Exception:  # delivery goes on; the log keeps the entry's ids
            log.exception("timeline entry not recorded", extra={"incident_id": incident_id, "kind": kind})

    async def _chain_timeline(
        self, before: EscalationState, sends: list[Send], profile: ContractProfile | None, now: datetime
    ) -> None:
        first = sends[0]
        roles = [self._role(profile, s.recipient) for s in sends]
        silent = [self._role(profile, r) for r in first.not_answered_by]
        data = {
            "chain_id": before.chain_id,
            "stage": first.stage,
            "recipients": [s.recipient for s in sends],
            "not_answered_by": list(first.not_answered_by),
        }
        if first.purpose == "escalated":
            what = f"not acknowledged by {', '.join(silent)}: told the next contact, {', '.join(roles)}"
            await self._timeline(before.incident_id, now, what, "message_escalated", data)
        elif first.purpose == "unanswered":
            what = (
                f"the city has not acknowledged ({', '.join(silent) or 'no contact reachable'}): "
                f"alerted {', '.join(roles)}"
            )
            await self._timeline(before.incident_id, now, what, "city_unanswered", data)

    async def _delivery_timeline(self, entry: OutboxEntry, code: str | None) -> None:
        now = self.clock()
        chain = self.chains.get(entry.chain_id)
        role = self._role(self._profile_of(chain), entry.recipient)
        title = KIND_TITLES.get(str(entry.meta.get("kind")), ("", "message"))[1]
        data = {
            "key": entry.key,
            "chain_id": entry.chain_id,
            "recipient": entry.recipient,
            "channel": entry.channel,
            "attempts": entry.attempts,
            "purpose": entry.meta.get("purpose"),
        }
        if entry.state == "sent":
            uncertain = entry.uncertain
            what = f"{title} delivered by {entry.channel} to {role} ({entry.recipient})"
            if uncertain:
                what += "; it may have arrived twice (a stop interrupted an earlier attempt)"
            await self._timeline(entry.incident_id, now, what, "message_sent", {**data, "uncertain": uncertain})
        elif entry.state == "failed":
            what = f"{title} to {role} ({entry.recipient}) not delivered after {entry.attempts} attempt(s): {code}"
            await self._timeline(entry.incident_id, now, what, "message_failed", {**data, "error": code})
        elif entry.attempts == 1:
            # Only the first delay goes on the timeline: an outage of hours would otherwise fill it.
            what = f"{title} to {role} ({entry.recipient}) delayed ({code}); retrying at {entry.next_attempt_at}"
            await self._timeline(
                entry.incident_id,
                now,
                what,
                "message_delayed",
                {**data, "error": code, "next_attempt_at": entry.next_attempt_at.isoformat()},
            )

    def close(self) -> None:
        """Close the journals."""
        self.outbox.close()
        self.chains.close()
