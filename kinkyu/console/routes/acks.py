"""Acknowledgement links opened on the console: a button on GET; the POST is recorded through the worker's notifier."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web

from kinkyu.console.pages import audit, console_of, error_page
from kinkyu.core.ack import AckTokenError, verify_ack_token
from kinkyu.web import ack_pages

log = logging.getLogger("kinkyu.console")


def _claim(request: web.Request) -> Any:
    console = console_of(request)
    if console.ack_secret is None:
        return error_page(request, 503, "ackp.unconfigured")
    try:
        return verify_ack_token(request.match_info["token"], console.ack_secret, console.clock())
    except AckTokenError as exc:
        log.info("acknowledgement link refused", extra={"reason": exc.reason})
        return ack_pages.refused_page(exc.reason, ack_pages.contractor_contact(console.profiles()))


async def ack_get(request: web.Request) -> web.StreamResponse:
    """The acknowledgement page: a button (a GET never records: mail scanners open links)."""
    claim = _claim(request)
    if isinstance(claim, web.StreamResponse):
        return claim
    return ack_pages.confirm_page(claim)


async def ack_post(request: web.Request) -> web.StreamResponse:
    """Record the acknowledgement through the worker's notifier (see :mod:`kinkyu.console.ack_link`)."""
    console = console_of(request)
    claim = _claim(request)
    if isinstance(claim, web.StreamResponse):
        return claim
    status = await console.acks.record(request.match_info["token"])
    audited = {"who": "ack-link", "role": claim.recipient.split(":", 1)[0]}
    if status == HTTPStatus.OK:
        await audit(request, "ack.record", claim.incident_id, "allowed", f"link:{claim.recipient}", **audited)
        return ack_pages.recorded_page(claim.incident_id, console.clock())
    if status == HTTPStatus.NOT_FOUND:
        await audit(request, "ack.record", claim.incident_id, "refused", "unknown-message", **audited)
        return ack_pages.not_found_page(ack_pages.contractor_contact(console.profiles()))
    await audit(request, "ack.record", claim.incident_id, "refused", f"notifier-{status or 'unreachable'}", **audited)
    return ack_pages.unrecorded_page()
