"""Webhooks for chat and ticket systems: a JSON POST, signed with HMAC-SHA256, retried a few times.

Each request carries

- ``X-Kinkyu-Timestamp``: POSIX seconds when it was signed;
- ``X-Kinkyu-Signature``: ``sha256=<hex>``, the HMAC-SHA256 under the
  endpoint's shared secret of ``<timestamp>.`` followed by the raw body bytes.
  The timestamp is inside the MAC so a captured request cannot be replayed
  later with a fresh timestamp; receivers reject timestamps older than a few
  minutes (:func:`verify_signature` does both checks);
- ``X-Kinkyu-Message-Id``: the idempotency key, for receivers that dedupe
  (a message may arrive twice: see :mod:`notifiers.outbox_store`).

:meth:`WebhookTransport.post` retries 5xx, 408, 429, timeouts and connection
errors a bounded number of times with doubling pauses, then raises
:class:`~notifiers.exceptions.NotifierTransientError` (the outbox retries
later, on its own schedule); other 4xx raise
:class:`~notifiers.exceptions.NotifierPermanentError` at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
import orjson
from yarl import URL

from kinkyu.notifiers.exceptions import DeliveryError, NotifierPermanentError, NotifierTransientError
from kinkyu.notifiers.model import DeliveryResult, WebhookPayload

log = logging.getLogger("kinkyu.notifier.webhook")

SIGNATURE_HEADER = "X-Kinkyu-Signature"
TIMESTAMP_HEADER = "X-Kinkyu-Timestamp"
MESSAGE_ID_HEADER = "X-Kinkyu-Message-Id"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts between signing and receiving
_RETRY_STATUSES = frozenset({408, 425, 429})


def _key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ValueError("a webhook secret must not be empty")
    return raw


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True if ``signature`` signs ``body`` at ``timestamp`` and the timestamp is within ``tolerance`` of ``now``.

    For receivers (and tests): pass the raw body bytes and the two header values as received.
    """
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    ts = int(timestamp)
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class WebhookTransport:
    """Posts webhook payloads with one aiohttp session (created on first use; :meth:`close` it)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        pause: float = 0.5,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.timeout = timeout
        self.attempts = attempts
        self.pause = pause
        self.clock = clock
        self._session = session
        self._own_session = session is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._own_session = True
        return self._session

    async def post(self, url: str, payload: WebhookPayload, secret: str | bytes) -> DeliveryResult:
        """POST ``payload`` to ``url`` signed with ``secret``; retried on 5xx/408/429/timeouts, bounded."""
        body = orjson.dumps(payload.body)
        last: DeliveryError | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.pause * 2 ** (attempt - 2))
            try:
                return await self._once(url, payload.key, body, secret, attempt)
            except NotifierTransientError as exc:
                last = exc
                log.info(
                    "webhook attempt failed; retrying" if attempt < self.attempts else "webhook attempts exhausted",
                    extra={"key": payload.key, "attempt": attempt, "code": exc.code},
                )
        if last is None:  # attempts >= 1 always sets it; kept for the type checker
            raise NotifierTransientError("webhook not attempted", code="internal")
        raise last

    async def _once(self, url: str, key: str, body: bytes, secret: str | bytes, attempt: int) -> DeliveryResult:
        ts = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: sign(secret, ts, body),
            MESSAGE_ID_HEADER: key,
        }
        host = URL(url).host or "?"
        try:
            async with self._client().post(url, data=body, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except TimeoutError as exc:
            raise NotifierTransientError(f"webhook {host} timed out", code="timeout") from exc
        except aiohttp.ClientError as exc:
            raise NotifierTransientError(
                f"webhook {host} unreachable ({type(exc).__name__})", code="connection"
            ) from exc
        if 200 <= status < 300:  # noqa: PLR2004 - the success class
            return DeliveryResult(
                key=key, channel="webhook", delivered_at=datetime.now(UTC), detail=f"http-{status}", attempts=attempt
            )
        if status >= 500 or status in _RETRY_STATUSES:  # noqa: PLR2004 - server errors are worth retrying
            raise NotifierTransientError(f"webhook {host} answered {status}", code=f"http-{status}", detail=str(status))
        raise NotifierPermanentError(f"webhook {host} refused the message ({status})", code=f"http-{status}")

    async def close(self) -> None:
        """Close the session this transport created."""
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()
