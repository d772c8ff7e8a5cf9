"""E-mail delivery through aiosmtplib: settings, MIME assembly, and error conversion at the boundary.

:class:`SmtpTransport` sends one :class:`~notifiers.model.OutboundEmail` per
call, over a connection kept open from the previous message when there is
one (a burst of incidents makes hundreds of messages: a connection, EHLO,
STARTTLS and AUTH each time cost more than the message), checked with
``RSET`` before reuse and replaced when the server has closed it. Security is
``none`` (plain; loopback sinks), ``starttls`` (required, not opportunistic:
a server that does not offer it is an error) or ``tls`` (implicit TLS, port
465). Every foreign error becomes a :class:`~notifiers.exceptions.NotifierTransientError`
(connection refused, timeouts, 4xx, authentication) or a
:class:`~notifiers.exceptions.NotifierPermanentError` (5xx for this message),
raised ``from`` the original; messages name host, port and reply code, never
the server's text (it may quote an address) nor the body, which is never
logged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.notifiers.exceptions import NotifierPermanentError, NotifierTransientError
from kinkyu.notifiers.model import DeliveryResult, OutboundEmail

log = logging.getLogger("kinkyu.notifier.smtp")

Security = Literal["none", "starttls", "tls"]
_SMTP_TRANSIENT = range(400, 500)
IDLE = 30.0  # seconds an open connection waits for the next message before it is closed (servers drop them too)
PER_CONNECTION = 100  # messages over one connection before it is renewed (servers cap messages per session)
MAX_IDLE = 16  # open connections kept (the notifier sends at most KINKYU_NOTIFY_CONCURRENCY at once)


class SmtpSettings(BaseSettings):
    """SMTP submission settings: ``KINKYU_SMTP_*`` environment variables.

    ``security``: ``starttls`` (default; required), ``tls`` (implicit, usually
    port 465) or ``none`` (plain text: only for a sink on loopback, such as
    ``python -m notifiers.smtp_sink`` or Mailpit). ``timeout`` bounds each
    network step in seconds. ``from_address`` may carry a display name
    (``Kinkyu <kinkyu@example.jp>``); its domain also names the Message-IDs.
    """

    model_config = SettingsConfigDict(env_prefix="KINKYU_SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)
    from_address: str = "kinkyu@localhost"
    validate_certs: bool = True
    local_hostname: str | None = None

    @property
    def domain(self) -> str:
        """The domain of ``from_address`` (``localhost`` if it has none)."""
        _, address = parseaddr(self.from_address)
        return address.rpartition("@")[2] or "localhost"


def mime_message(email: OutboundEmail, *, sender: str) -> EmailMessage:
    """The MIME message for ``email``: text/plain (UTF-8), with an HTML alternative when rendered."""
    msg = EmailMessage()
    msg.set_content(email.text, charset="utf-8")
    if email.html is not None:
        msg.add_alternative(email.html, subtype="html", charset="utf-8")
    # Headers after the body: making the message multipart moves Content-* headers into the parts.
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    for name, value in email.headers.items():
        msg[name] = value
    return msg


def _code_class(code: int) -> str:
    return f"smtp-{code // 100}xx"


@dataclass(slots=True)
class _Session:
    """One connection to the server: how many messages it carried, since when it has been idle."""

    client: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = 0.0


async def _in_own_thread(call: Callable[[], str]) -> str:
    """``call()`` on a thread of its own: the loop's default executor may be queued up with other work."""
    done: concurrent.futures.Future[str] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(call())
        except Exception as exc:  # noqa: BLE001  # handed to the waiting coroutine, which raises it
            done.set_exception(exc)

    threading.Thread(target=run, name="kinkyu-smtp-hostname", daemon=True).start()
    return await asyncio.wrap_future(done)


class SmtpTransport:
    """Sends e-mails through the server ``settings`` name, keeping connections open between messages.

    A connection is reused for the next message (``RSET`` first, which also
    finds one the server closed: a fresh connection is made then, nothing of
    the message having been sent), for at most :data:`PER_CONNECTION`
    messages and while idle at most :data:`IDLE` seconds; one that met any
    error is closed, never reused. ``reuse=False`` opens a connection per
    message (QUIT after it), as a one-off sender does.
    """

    def __init__(self, settings: SmtpSettings, *, reuse: bool = True) -> None:
        self.settings = settings
        self.reuse = reuse
        self._idle: list[_Session] = []
        self._local_hostname = settings.local_hostname

    async def _hostname(self) -> str:
        # aiosmtplib asks socket.getfqdn() at every connect, on the loop's default executor: in a busy
        # worker that queue holds evidence sealing's jobs, and a connect waited up to 17 s behind them.
        if self._local_hostname is None:
            self._local_hostname = await _in_own_thread(socket.getfqdn) or "localhost"
        return self._local_hostname

    async def _session(self) -> _Session:
        """An open connection: an idle one that still answers ``RSET``, else a new one."""
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()  # the most recently used: the likeliest to be alive
            if now - session.idle_since > IDLE or not session.client.is_connected:
                session.client.close()
                continue
            try:
                await session.client.rset()
            except (aiosmtplib.SMTPException, OSError):  # closed by the server meanwhile: nothing was sent on it
                session.client.close()
                continue
            return session
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            validate_certs=s.validate_certs,
            local_hostname=await self._hostname(),
        )
        await client.connect()  # EHLO, STARTTLS and AUTH as the settings say
        return _Session(client)

    async def _release(self, session: _Session) -> None:
        """After a message went through: keep the connection for the next one, or say goodbye."""
        session.sent += 1
        if self.reuse and session.sent < PER_CONNECTION and len(self._idle) < MAX_IDLE:
            session.idle_since = time.monotonic()
            self._idle.append(session)
            return
        await self._quit(session)

    @staticmethod
    async def _quit(session: _Session) -> None:
        try:
            await session.client.quit()
        except (aiosmtplib.SMTPException, OSError):  # the message went through; a failed goodbye changes nothing
            session.client.close()

    async def close(self) -> None:
        """QUIT every idle connection (the worker is stopping)."""
        idle, self._idle = self._idle, []
        for session in idle:
            await self._quit(session)

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        """Send ``email``; its receipt, or NotifierTransientError / NotifierPermanentError."""
        s = self.settings
        msg = mime_message(email, sender=s.from_address)
        where = f"{s.host}:{s.port}"
        try:
            session = await self._session()
            try:
                await session.client.send_message(msg)
            except BaseException:
                # After an error the server's state is unknown (a reply mid-transaction, a timeout): not reused.
                session.client.close()
                raise
            await self._release(session)
        except TimeoutError as exc:  # aiosmtplib's timeouts are TimeoutErrors too
            raise NotifierTransientError(f"SMTP server {where} timed out", code="timeout") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            detail = ",".join(str(c) for c in codes)
            if codes and all(c in _SMTP_TRANSIENT for c in codes):
                raise NotifierTransientError(
                    f"SMTP server {where} deferred the recipient ({detail})", code="smtp-4xx", detail=detail
                ) from exc
            raise NotifierPermanentError(
                f"SMTP server {where} refused the recipient ({detail})", code="smtp-5xx", detail=detail
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # The sender's configuration, not this message: retried, so a fixed password delivers it.
            raise NotifierTransientError(
                f"SMTP server {where} refused the login ({exc.code})", code="smtp-auth", detail=str(exc.code)
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            kind = NotifierTransientError if exc.code in _SMTP_TRANSIENT else NotifierPermanentError
            if exc.code < 400:  # noqa: PLR2004 - a reply outside the error classes: retry rather than drop
                kind = NotifierTransientError
            raise kind(
                f"SMTP server {where} answered {exc.code}", code=_code_class(exc.code), detail=str(exc.code)
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise NotifierTransientError(
                f"SMTP server {where} does not support what the settings require (security={s.security})",
                code="smtp-unsupported",
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused or reset, DNS failure, disconnect mid-transaction: try again later.
            raise NotifierTransientError(
                f"SMTP server {where} unreachable ({type(exc).__name__})", code="connection"
            ) from exc
        log.info("e-mail accepted", extra={"key": email.key, "message_id": email.message_id, "server": where})
        return DeliveryResult(key=email.key, channel="email", delivered_at=datetime.now(UTC), detail="smtp-250")
