"""What a started aiohttp server listens on."""

from __future__ import annotations

from aiohttp import web


def listening_port(runner: web.AppRunner) -> int | None:
    """The TCP port ``runner`` listens on; None when it listens on none (a Unix socket, or not started)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:  # noqa: PLR2004 - (host, port[, …])
            return int(address[1])
    return None
