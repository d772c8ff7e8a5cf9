"""The console's middlewares: security headers on every response; session, login, Origin and CSRF checks.

Referrer-Policy is ``same-origin`` on the desk's pages and ``no-referrer`` on
``/ack/*``: with ``no-referrer`` browsers send ``Origin: null`` on every POST,
which would make the Origin check useless; ``same-origin`` still sends no
Referer to any other site, and only ``/ack/*`` URLs hold a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from kinkyu.console import i18n
from kinkyu.console.audit import as_code
from kinkyu.console.exceptions import AuditLogError
from kinkyu.console.pages import audit, console_of, error_page
from kinkyu.console.sessions import SessionStore
from kinkyu.console.state import LOGIN_COOKIE, SESSION, SESSION_COOKIE, USER, Console
from kinkyu.console.users import User

log = logging.getLogger("kinkyu.console")

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The acknowledgement pages (kinkyu.web.ack_pages): their own inline CSS and one form posting to themselves.
_ACK_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
_PUBLIC_PREFIXES = ("/static/", "/ack/")
# Served to anyone, with no session checks (the login form has its own CSRF check).
_OPEN_PATHS = frozenset({"/health", "/favicon.ico"})


def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    ack = request.path.startswith("/ack/")
    headers.setdefault("Content-Security-Policy", _ACK_CSP if ack else _CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers["Referrer-Policy"] = "no-referrer" if ack else "same-origin"
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "public, max-age=300")
    else:
        headers["Cache-Control"] = "no-store"


@web.middleware
async def security_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Security headers on every response, errors included; an audit log that cannot be written shuts the page."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _security_headers(request, exc)
        raise
    except AuditLogError:
        # Every view of details or evidence must be on the record: without the log, nothing is shown.
        log.exception("audit log not written; request refused", extra={"path": request.path[:200]})
        response = error_page(request, 503, "audit")
    _security_headers(request, response)
    return response


def _own_origins(request: web.Request, console: Console) -> frozenset[str]:
    """The origins this desk is reached at: the configured public origin, else loopback on the port served.

    Never derived from ``Host``: the client chooses that header, so comparing ``Origin`` with it checks nothing.
    """
    if console.settings.public_origin:
        return frozenset({console.settings.public_origin})
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else console.settings.port  # noqa: PLR2004  # (host, port[, …])
    return frozenset(f"http://{host}:{port}" for host in ("127.0.0.1", "localhost", "[::1]"))


def _origin_ok(request: web.Request, console: Console) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # older clients and scripts send none; the CSRF token still has to match
    return origin in _own_origins(request, console)


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Session, language, login, Origin and CSRF checks before any handler of a private route runs."""
    console = console_of(request)
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    user: User | None = None
    if session is not None and session.authenticated:
        console.users.reload_if_changed()
        user = console.users.get(session.username)
        if user is None:  # removed from the users file: signed out
            console.sessions.destroy(session.id)
            session = None
    request[SESSION] = session
    request[USER] = user
    wanted = request.query.get("lang")
    if session is not None and wanted in i18n.LANGS:
        session.lang = "en" if wanted == "en" else "ja"
    if request.path.startswith(_PUBLIC_PREFIXES) or request.path in _OPEN_PATHS:
        return await handler(request)
    if request.method == "POST":
        if not _origin_ok(request, console):
            await audit(request, "post", as_code(request.path), "refused", "origin")
            return error_page(request, 403, "csrf")
        try:
            form = await request.post()
        except (ValueError, LookupError) as exc:  # no multipart boundary, an unknown charset, …
            log.info("form not readable", extra={"path": request.path[:200], "error": type(exc).__name__})
            return _unreadable_form()
        token = form.get("csrf_token")
        posted = token if isinstance(token, str) else None
        if request.path == "/login":
            valid = console.login_tokens.check(request.cookies.get(LOGIN_COOKIE), posted)
        else:
            valid = SessionStore.check_csrf(session, posted)
        if not valid:
            await audit(request, "post", as_code(request.path), "refused", "csrf" if user else "unauthenticated")
            return error_page(request, 403, "csrf")
    if request.path == "/login":
        return await handler(request)
    if user is None:
        if request.method == "POST":
            return error_page(request, 403, "forbidden")
        target = request.path_qs
        raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
    return await handler(request)


def _unreadable_form() -> web.Response:
    """400: the body is not a form this desk can read (said plainly, Japanese first; no traceback)."""
    text = (
        "送信された内容をフォームとして読み取れませんでした（multipart の boundary がない、文字コードが不明など）。"
        "ページを開き直して、もう一度送信してください。\n"
        "The request body could not be read as a form (a multipart body without a boundary, an unknown charset, "
        "…). Reload the page and send it again.\n"
    )
    return web.Response(status=400, text=text, content_type="text/plain", charset="utf-8")
