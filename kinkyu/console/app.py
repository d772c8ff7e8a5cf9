"""The console's aiohttp application: the incident desk, built from its parts (CONSOLE.md).

Reads come from the incident store the worker writes (:class:`~kinkyu.console.views.StoreView`);
writes are incident events through the :class:`~kinkyu.console.producer.EventProducer` seam,
never the store. Every route but ``/health``, ``/static/*`` and ``/ack/*``
needs a signed-in session; every POST needs the session's CSRF token (the
login form a signed, dated token also set as a cookie: nobody who is not
signed in gets server state) and, when the browser sends one, an ``Origin``
equal to the configured public origin (``KINKYU_CONSOLE_PUBLIC_ORIGIN``; else
the loopback addresses of the port the request came in on: never the
``Host`` header, which the client chooses). A form that cannot be read
(a multipart body without a boundary, an unknown charset) is a 400. Roles and scope are
checked by :mod:`kinkyu.console.policy` on each read and write, and every
view of an incident, its details or its evidence, every download and write,
every refusal and every login lands in the audit log. An incident outside
the user's scope answers exactly as one that does not exist: the same 404
page, and an audit entry either way. Failed logins are limited per account
and per address (:mod:`kinkyu.console.ratelimit`).

Where things live: :mod:`kinkyu.console.state` (what every handler shares),
:mod:`kinkyu.console.pages` (rendering, auditing, refusing),
:mod:`kinkyu.console.middleware` (headers, sessions, Origin and CSRF checks),
and :mod:`kinkyu.console.routes` (one module per area: auth, incidents,
evidence, reports, follow-ups, filing, contracts, the audit log, acknowledgement
links, with the route table). This module builds the application: :func:`make_console_app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from kinkyu.bus.topics import Topics
from kinkyu.console import views
from kinkyu.console.ack_link import AckRecorder, HttpAckRecorder
from kinkyu.console.audit import AuditLog
from kinkyu.console.exceptions import AuditLogError
from kinkyu.console.middleware import auth_middleware, security_middleware
from kinkyu.console.pages import render
from kinkyu.console.producer import EventProducer
from kinkyu.console.ratelimit import LoginLimiter
from kinkyu.console.routes import add_routes
from kinkyu.console.sessions import SessionStore
from kinkyu.console.settings import ConsoleSettings
from kinkyu.console.state import CONSOLE, SESSION_COOKIE, Console, environment
from kinkyu.console.users import UserDirectory
from kinkyu.contracts import ContractFolder
from kinkyu.core.evidence import key_from_config
from kinkyu.core.playbook import Playbook
from kinkyu.core.timefmt import utcnow
from kinkyu.evidence.anchor import AnchorPublisher, AnchorSource, KafkaAnchorSource
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.reports.exceptions import ReportError

log = logging.getLogger("kinkyu.console")


# -- the application -----------------------------------------------------------------------------------


def _load_pdf_renderer() -> None:
    try:
        from kinkyu.reports.pdf import check_renderer  # noqa: PLC0415  # heavy; only in the background

        check_renderer()
    except ReportError:
        log.warning("PDF reports unavailable (WeasyPrint or the Japanese fonts missing: run make install)")


def make_console_app(
    settings: ConsoleSettings,
    *,
    producer: EventProducer,
    store: views.StoreView | None = None,
    users: UserDirectory | None = None,
    sessions: SessionStore | None = None,
    audit_log: AuditLog | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
    acks: AckRecorder | None = None,
    anchors: AnchorSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The console application. Raises ConsoleConfigError / ContractError / PlaybookError for unusable settings.

    With integrity keys (``KINKYU_INTEGRITY_KEYS``) the audit log is MAC'd and its head published to the
    anchors topic after each entry; ``anchors`` is where verification reads the heads (default: that topic).
    EvidenceKeyError (IntegrityKeyError) for malformed keys.
    """
    from kinkyu.playbook_files import load_playbooks  # noqa: PLC0415  # only when not given (tests pass theirs)

    contracts = ContractFolder(list(settings.contracts))
    contracts.load()
    evidence_key = key_from_config(settings.evidence_key.get_secret_value()) if settings.evidence_key else None
    keyring = integrity_keyring(settings.integrity_keys, settings.integrity_key_id, separate_from=[evidence_key])
    ack_secret = settings.ack_secret.get_secret_value().encode() if settings.ack_secret else None
    if ack_secret is None:
        log.warning("KINKYU_NOTIFY_ACK_SECRET unset: acknowledgement links cannot be checked here")
    publisher: AnchorPublisher | None = None
    topic = Topics(settings.topic_prefix).anchors
    if keyring is None:
        log.warning(
            "KINKYU_INTEGRITY_KEYS unset: the audit log is written without MACs (unkeyed) and keyed evidence "
            "cannot be authenticated here"
        )
    else:
        connection = settings.broker_connection()  # KINKYU_BROKER with its TLS/SASL settings
        if audit_log is None:  # the publisher serves the audit log made here (tests bring their own)
            publisher = AnchorPublisher(connection, topic, keyring=keyring)
        if anchors is None:
            anchors = KafkaAnchorSource(connection, topic, keyring, timeout=settings.send_timeout)
    if audit_log is None:
        audit_log = AuditLog(
            settings.audit_path,
            keyring=keyring,
            on_append=publisher.offer if publisher is not None else None,
            anchored=publisher.known if publisher is not None else None,
        )
    console = Console(
        settings=settings,
        producer=producer,
        store=store or views.StoreView(settings.store_path, keyring=keyring),
        users=users or UserDirectory.load(settings.users_path),
        sessions=sessions or SessionStore(idle=settings.session_idle, absolute=settings.session_max),
        audit=audit_log,
        contracts=contracts,
        playbooks=playbooks if playbooks is not None else load_playbooks(settings.playbooks),
        evidence_key=evidence_key,
        ack_secret=ack_secret,
        acks=acks or HttpAckRecorder(settings.notifier_base, timeout=settings.send_timeout),
        limiter=LoginLimiter(
            settings.login_attempts, settings.login_window, address_attempts=settings.login_address_attempts
        ),
        clock=clock,
        env=environment(),
        keyring=keyring,
        anchors=anchors,
        publisher=publisher,
    )
    app = web.Application(middlewares=[security_middleware, auth_middleware], client_max_size=256 * 1024)
    app[CONSOLE] = console
    add_routes(app)

    async def close_producer(_: web.Application) -> None:
        await producer.close()

    warm: list[asyncio.Task[None]] = []

    async def warm_pdf(_: web.Application) -> None:
        # WeasyPrint takes seconds to import: load it in the background so the first PDF download is quick.
        warm.append(asyncio.ensure_future(asyncio.to_thread(_load_pdf_renderer)))

    async def stop_warming(_: web.Application) -> None:
        for task in warm:
            if not task.done():
                task.cancel()

    async def start_anchoring(_: web.Application) -> None:
        if publisher is not None:
            await publisher.start()  # the broker may be away: heads wait, and are sent when it is back

    async def stop_anchoring(_: web.Application) -> None:
        if publisher is not None:
            await publisher.stop()

    app.on_startup.append(warm_pdf)
    app.on_startup.append(start_anchoring)
    app.on_cleanup.append(stop_warming)
    app.on_cleanup.append(stop_anchoring)
    app.on_cleanup.append(close_producer)
    return app


__all__ = ["CONSOLE", "SESSION_COOKIE", "AuditLogError", "Console", "make_console_app", "render"]
