"""The acknowledgement links' seam: an opened link is recorded by the worker's notifier, not by the console.

Only the notifier knows what a link's message was (its outbox entry and
escalation chain): which report step it carried, whether the recipient is the
city's contact or the contractor's, and where the chain stands. It records the
acknowledgement on the timeline, moves the chain on and files the city's
acknowledgement of that one step (:meth:`notifiers.service.Notifier.acknowledge`).
The console checks the link's signature itself, shows the page, and hands the
token to the worker's endpoint (``POST /ack/<token>``, which records it; a GET
there only shows a confirmation page).
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

log = logging.getLogger("kinkyu.console.ack")

UNREACHABLE = 0  # what :meth:`AckRecorder.record` answers when the worker could not be asked


class AckRecorder(Protocol):
    """Where an opened acknowledgement link is recorded."""

    async def record(self, token: str) -> int:
        """The worker endpoint's HTTP status (200 recorded, 404 unknown message, …), or :data:`UNREACHABLE`."""
        ...


class HttpAckRecorder:
    """Records through the worker's acknowledgement endpoint over HTTP."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def record(self, token: str) -> int:
        """Ask the worker to record ``token``; its status, or UNREACHABLE (logged without the token)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.post(f"{self.base_url}/ack/{token}", allow_redirects=False) as resp,
            ):
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "the worker's acknowledgement endpoint did not answer",
                extra={"endpoint": self.base_url, "error": type(exc).__name__},
            )
            return UNREACHABLE
