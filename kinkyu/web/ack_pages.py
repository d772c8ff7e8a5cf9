"""The pages an acknowledgement link answers with, Japanese first: one wording wherever the link is opened.

Served by the worker's acknowledgement endpoint (:mod:`kinkyu.notifiers.ack_server`)
and by the console's ``/ack/<token>`` (:mod:`kinkyu.console.app`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

from kinkyu.catalogue import P_, Texts
from kinkyu.core.ack import AckClaim
from kinkyu.core.contract import ContractProfile
from kinkyu.core.timefmt import doc_datetime

HEADERS = {  # every answer of an acknowledgement link, the health check included
    "Cache-Control": "no-store",
    # The token is in the URL: no Referer to other sites, no indexing.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


# The pages' words: English here, Japanese in the message catalogue under ``ackpage.<key>``; a page shows both.
WORDS = Texts(
    "ackpage.",
    {
        "expired.title": P_("ackpage.expired.title", "This link has expired"),
        "expired.body": P_(
            "ackpage.expired.body",
            "This acknowledgement link is past its expiry. Please tell the sender (the contractor's "
            "responsible manager) by telephone that you received the message.",
        ),
        # With the contractor's contact from its contract profile: whom to call, and the number.
        "expired.body_contact": P_(
            "ackpage.expired.body_contact",
            "This acknowledgement link is past its expiry. Please tell us by telephone that you received the "
            "e-mail: {contact}.",
        ),
        "invalid.title": P_("ackpage.invalid.title", "Invalid link"),
        "invalid.body": P_(
            "ackpage.invalid.body",
            "This acknowledgement link is not valid (it is cut short or was altered). "
            "Please open the link exactly as it appears in the e-mail.",
        ),
        "not_found.title": P_("ackpage.not_found.title", "Message not found"),
        "not_found.body": P_(
            "ackpage.not_found.body",
            "No record of the message this link belongs to was found. Please tell the sender by telephone.",
        ),
        "not_found.body_contact": P_(
            "ackpage.not_found.body_contact",
            "No record of the e-mail this link belongs to was found. Please let us know by telephone: {contact}.",
        ),
        "unrecorded.title": P_("ackpage.unrecorded.title", "The acknowledgement could not be recorded"),
        "unrecorded.body": P_(
            "ackpage.unrecorded.body",
            "A temporary problem prevented recording it. Please open the link again in a few minutes.",
        ),
        "recorded.title": P_("ackpage.recorded.title", "Acknowledged"),
        "recorded.body": P_(
            "ackpage.recorded.body",
            "Your receipt of the message on incident {incident_id} is recorded ({at}). Thank you.",
        ),
        "confirm.title": P_("ackpage.confirm.title", "Acknowledge"),
        "confirm.body": P_(
            "ackpage.confirm.body",
            "Press the button to record that you received the message on incident {incident_id}.",
        ),
        "confirm.button": P_("ackpage.confirm.button", "Acknowledge"),
    },
)


def contractor_contact(profiles: Mapping[str, ContractProfile]) -> str | None:
    """Whom a city official calls about a link: the contractor's name and contact line from its profiles.

    The contractor runs this system for all its contracts, so any profile that gives a contact gives
    the same one; None when none does (the pages then say 「送信元」 without a number).
    """
    for _, profile in sorted(profiles.items()):
        party = profile.contractor
        if party.contact:
            return f"{party.name} {party.contact}"
    return None


def _page(
    status: int, page: str, extra: str = "", at: datetime | None = None, contact: str | None = None, **values: str
) -> web.Response:
    title_ja, title_en = (WORDS.say(lang, f"{page}.title") for lang in ("ja", "en"))
    body = f"{page}.body_contact" if contact and f"{page}.body_contact" in WORDS.english else f"{page}.body"
    # A time in each language's document style (和暦 in Japanese), as the reports and mails write it.
    body_ja, body_en = (
        WORDS.say(
            lang,
            body,
            **values,
            **({"at": doc_datetime(at, lang)} if at is not None else {}),
            **({"contact": contact} if contact else {}),
        )
        for lang in ("ja", "en")
    )
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


def refused_page(reason: str, contact: str | None = None) -> web.Response:
    """410 for an expired link (whom to call instead); 400 for a malformed or altered one."""
    if reason == "expired":
        return _page(410, "expired", contact=contact)
    return _page(400, "invalid")


def not_found_page(contact: str | None = None) -> web.Response:
    """404: no record of the message the link names (and whom to call)."""
    return _page(404, "not_found", contact=contact)


def unrecorded_page() -> web.Response:
    """503: recording failed; try again."""
    return _page(503, "unrecorded")


def recorded_page(incident_id: str, now: datetime) -> web.Response:
    """200 受領を記録いたしました / Acknowledged."""
    return _page(200, "recorded", incident_id=incident_id, at=now)


def confirm_page(claim: AckClaim) -> web.Response:
    """200 with a button that POSTs the acknowledgement (one more click, but a link checker's GET records nothing)."""
    label = f"{WORDS.say('ja', 'confirm.button')} / {WORDS.say('en', 'confirm.button')}"
    button = (
        '<form method="post"><button type="submit" style="font-size: 1.2em; padding: 0.5em 1.5em;">'
        f"{html.escape(label)}</button></form>"
    )
    return _page(200, "confirm", button, incident_id=claim.incident_id)
