"""The acknowledgement endpoint: a small aiohttp app the acknowledgement links of every message point at.

``GET /ack/{token}`` verifies the token (:func:`kinkyu.core.ack.verify_ack_token`)
and shows a confirmation page with one button; it records nothing. Mail
security gateways and link previewers open (GET) every link in a message: if
a GET recorded, a scanner would acknowledge the city's report on its behalf.
``POST /ack/{token}`` (the button, or the console handing on a link a person
confirmed there) verifies the token again, hands the claim to ``on_ack``
(which records who acknowledged what and when on the incident's timeline)
and answers with a short page, Japanese first:

- 200 受領確認しました / Acknowledged;
- 400 for a token that is malformed or whose signature does not match;
- 404 when ``on_ack`` does not know the message (:class:`UnknownMessageError`);
- 410 Gone for an expired link, saying what to do instead;
- 503 when ``on_ack`` failed (the person is asked to try again).

``GET /health`` answers ``ok``. HEAD is not routed (link checkers probe with
it). The token is never logged: it is the credential.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from kinkyu.core.ack import MIN_SECRET_BYTES, AckClaim, AckTokenError, verify_ack_token
from kinkyu.core.model import JST
from kinkyu.notifiers.exceptions import NotifierError

log = logging.getLogger("kinkyu.notifier.ack")

AckHandler = Callable[[AckClaim], Awaitable[None]]


class UnknownMessageError(NotifierError):
    """``on_ack`` does not know the message a valid token names (e.g. past the outbox's retention)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: no Referer to other sites, no indexing.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


def _page(  # noqa: PLR0917 - one page, two languages: the arguments read in the page's order
    status: int, title_ja: str, title_en: str, body_ja: str, body_en: str, extra: str = ""
) -> web.Response:
    text = f"""<!DOCTYPE html>
<html lang="ja">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title_ja)} / {html.escape(title_en)}</title></head>
<body style="font-family: sans-serif; line-height: 1.6; max-width: 40em; margin: 2em auto;">
<h1>{html.escape(title_ja)}</h1>
<p>{html.escape(body_ja)}</p>
{extra}
<hr>
<h2 lang="en">{html.escape(title_en)}</h2>
<p lang="en">{html.escape(body_en)}</p>
</body>
</html>
"""
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8", headers=_HEADERS)


def _jst(ts: datetime) -> str:
    return f"{ts.astimezone(JST):%Y-%m-%d %H:%M} JST"


# The pages, shared with the console's /ack/<token> (kinkyu.console.app): one wording for both.


def refused_page(reason: str) -> web.Response:
    """410 for an expired link (what to do instead); 400 for a malformed or altered one."""
    if reason == "expired":
        return _page(
            410,
            "リンクの有効期限が切れています",
            "This link has expired",
            "この受領確認リンクは有効期限を過ぎています。受領の記録は、送信元（受託者の作業責任者）に"
            "電話などでお伝えください。",
            "This acknowledgement link is past its expiry. Please tell the sender (the contractor's "
            "responsible manager) by telephone that you received the message.",
        )
    return _page(
        400,
        "無効なリンクです",
        "Invalid link",
        "この受領確認リンクは正しくありません（途中で切れているか、変更されています）。"
        "メールのリンクをそのまま開いてください。",
        "This acknowledgement link is not valid (it is cut short or was altered). "
        "Please open the link exactly as it appears in the e-mail.",
    )


def not_found_page() -> web.Response:
    """404: no record of the message the link names."""
    return _page(
        404,
        "メッセージが見つかりません",
        "Message not found",
        "このリンクに対応するメッセージの記録が見つかりません。送信元に電話などでお伝えください。",
        "No record of the message this link belongs to was found. Please tell the sender by telephone.",
    )


def unrecorded_page() -> web.Response:
    """503: recording failed; try again."""
    return _page(
        503,
        "受領確認を記録できませんでした",
        "The acknowledgement could not be recorded",
        "一時的な問題で記録できませんでした。しばらくしてからもう一度リンクを開いてください。",
        "A temporary problem prevented recording it. Please open the link again in a few minutes.",
    )


def recorded_page(incident_id: str, now: datetime) -> web.Response:
    """200 受領確認しました / Acknowledged."""
    return _page(
        200,
        "受領確認しました",
        "Acknowledged",
        f"インシデント {incident_id} のメッセージの受領を記録しました（{_jst(now)}）。ありがとうございました。",
        f"Your receipt of the message on incident {incident_id} is recorded ({_jst(now)}). Thank you.",
    )


def confirm_page(claim: AckClaim) -> web.Response:
    """200 with a button that POSTs the acknowledgement (one more click, but a link checker's GET records nothing)."""
    button = (
        '<form method="post"><button type="submit" style="font-size: 1.2em; padding: 0.5em 1.5em;">'
        "受領を確認する / Acknowledge</button></form>"
    )
    return _page(
        200,
        "受領確認",
        "Acknowledge",
        f"インシデント {claim.incident_id} のメッセージを受け取ったことを記録するには、ボタンを押してください。",
        f"Press the button to record that you received the message on incident {claim.incident_id}.",
        button,
    )


def make_ack_app(
    secret: str | bytes,
    on_ack: AckHandler,
    *,
    clock: Callable[[], datetime] = _utcnow,
) -> web.Application:
    """The acknowledgement app: ``GET /ack/{token}`` (a confirmation page), ``POST`` (records), ``GET /health``.

    ValueError at once if ``secret`` is shorter than the tokens require.
    """
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"the acknowledgement secret must be at least {MIN_SECRET_BYTES} bytes")

    def _claim(token: str) -> AckClaim | web.Response:
        try:
            return verify_ack_token(token, secret, clock())
        except AckTokenError as exc:
            log.info("acknowledgement link refused", extra={"reason": exc.reason})
            return refused_page(exc.reason)

    async def _record(claim: AckClaim) -> web.Response:
        try:
            await on_ack(claim)
        except UnknownMessageError:
            return not_found_page()
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
        return web.Response(text="ok", headers=_HEADERS)

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
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:  # noqa: PLR2004 - (host, port[, …])
            return int(address[1])
    raise NotifierError("the acknowledgement server is not listening on a TCP port")
