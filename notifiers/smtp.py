"""E-mail delivery through aiosmtplib: settings, MIME assembly, and error conversion at the boundary.

:class:`SmtpTransport` sends one :class:`~notifiers.model.OutboundEmail` per
call over a fresh connection (messages are few and urgent; a pooled
connection that went stale would only add a failure mode). Security is
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

import logging
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


class SmtpTransport:
    """Sends e-mails through the server ``settings`` name."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, email: OutboundEmail) -> DeliveryResult:
        """Send ``email``; its receipt, or NotifierTransientError / NotifierPermanentError."""
        s = self.settings
        msg = mime_message(email, sender=s.from_address)
        where = f"{s.host}:{s.port}"
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password is not None else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                timeout=s.timeout,
                validate_certs=s.validate_certs,
                local_hostname=s.local_hostname,
            )
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
