"""The acknowledgement endpoint: a small aiohttp app the acknowledgement links of every message point at.

``GET /ack/{token}`` verifies the token (:func:`kinkyu.core.ack.verify_ack_token`)
and shows a confirmation page with one button; it records nothing. Mail
security gateways and link previewers open (GET) every link in a message: if
a GET recorded, a scanner would acknowledge the city's report on its behalf.
``POST /ack/{token}`` (the button, or the console handing on a link a person
confirmed there) verifies the token again, hands the claim to ``on_ack``
(which records who acknowledged what and when on the incident's timeline)
and answers with a short page, Japanese first:

- 200 受領を記録いたしました / Acknowledged;
- 400 for a token that is malformed or whose signature does not match;
- 404 when ``on_ack`` does not know the message (:class:`UnknownMessageError`);
- 410 Gone for an expired link, saying what to do instead;
- 503 when ``on_ack`` failed (the person is asked to try again).

``GET /health`` answers ``ok``. HEAD is not routed (link checkers probe with
it). The token is never logged: it is the credential. The pages are
:mod:`kinkyu.web.ack_pages`, shared with the console's ``/ack/<token>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from kinkyu.core.ack import MIN_SECRET_BYTES, AckClaim, AckTokenError, verify_ack_token
from kinkyu.core.timefmt import utcnow
from kinkyu.notifiers.exceptions import NotifierError
from kinkyu.web.ack_pages import (
    HEADERS,
    confirm_page,
    not_found_page,
    recorded_page,
    refused_page,
    unrecorded_page,
)
from kinkyu.web.server import listening_port

log = logging.getLogger("kinkyu.notifier.ack")

AckHandler = Callable[[AckClaim], Awaitable[None]]


class UnknownMessageError(NotifierError):
    """``on_ack`` does not know the message a valid token names (e.g. past the outbox's retention)."""


def make_ack_app(
    secret: str | bytes,
    on_ack: AckHandler,
    *,
    clock: Callable[[], datetime] = utcnow,
    contact: Callable[[], str | None] = lambda: None,
) -> web.Application:
    """The acknowledgement app: ``GET /ack/{token}`` (a confirmation page), ``POST`` (records), ``GET /health``.

    ``contact``: whom a page tells the official to call (:func:`kinkyu.web.ack_pages.contractor_contact`
    of the profiles in force). ValueError at once if ``secret`` is shorter than the tokens require.
    """
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"the acknowledgement secret must be at least {MIN_SECRET_BYTES} bytes")

    def _claim(token: str) -> AckClaim | web.Response:
        try:
            return verify_ack_token(token, secret, clock())
        except AckTokenError as exc:
            log.info("acknowledgement link refused", extra={"reason": exc.reason})
            return refused_page(exc.reason, contact())

    async def _record(claim: AckClaim) -> web.Response:
        try:
            await on_ack(claim)
        except UnknownMessageError:
            return not_found_page(contact())
        except Exception:  # the person must learn it was not recorded; the log has the trace
            log.exception("acknowledgement could not be recorded", extra={"incident_id": claim.incident_id})
            return unrecorded_page()
        now = clock()
        log.info("acknowledged", extra={"incident_id": claim.incident_id, "message_id": claim.message_id})
        return recorded_page(claim.incident_id, now)

    async def ack(request: web.Request) -> web.Response:
        claim = _claim(request.match_info["token"])
        if isinstance(claim, web.Response):
            return claim
        return confirm_page(claim)  # a GET records nothing: scanners open every link

    async def ack_post(request: web.Request) -> web.Response:
        claim = _claim(request.match_info["token"])
        if isinstance(claim, web.Response):
            return claim
        return await _record(claim)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok", headers=HEADERS)

    app = web.Application()
    app.router.add_get("/ack/{token}", ack, allow_head=False)
    app.router.add_post("/ack/{token}", ack_post)
    app.router.add_get("/health", health, allow_head=False)
    return app


async def start_ack_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (port 0: any free port; read it from the runner's addresses).

    Access logging is off: the request line holds the token. Call ``await runner.cleanup()`` to stop.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port ``runner`` listens on."""
    port = listening_port(runner)
    if port is None:
        raise NotifierError("the acknowledgement server is not listening on a TCP port")
    return port
