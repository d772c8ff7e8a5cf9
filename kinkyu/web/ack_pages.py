"""The pages an acknowledgement link answers with, Japanese first: one wording wherever the link is opened.

Served by the worker's acknowledgement endpoint (:mod:`kinkyu.notifiers.ack_server`)
and by the console's ``/ack/<token>`` (:mod:`kinkyu.console.app`).
"""

from __future__ import annotations

import html
from datetime import datetime

from aiohttp import web

from kinkyu.core.ack import AckClaim
from kinkyu.core.timefmt import jst_text

HEADERS = {  # every answer of an acknowledgement link, the health check included
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
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8", headers=HEADERS)


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
        f"インシデント {incident_id} のメッセージの受領を記録しました（{jst_text(now)}）。ありがとうございました。",
        f"Your receipt of the message on incident {incident_id} is recorded ({jst_text(now)}). Thank you.",
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
