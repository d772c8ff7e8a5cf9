"""The routes anyone may open: ``/health``, ``/favicon.ico`` and ``/`` (to the incident list)."""

from __future__ import annotations

from aiohttp import web


async def health(_: web.Request) -> web.Response:
    """``ok``."""
    return web.Response(text="ok")


async def favicon(_: web.Request) -> web.Response:
    """No icon (and no 404 in the browser's console)."""
    return web.Response(status=204)


async def root(_: web.Request) -> web.Response:
    """To the incident list."""
    raise web.HTTPSeeOther("/incidents")
