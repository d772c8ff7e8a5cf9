"""Signing in and out: the login form (its CSRF token in a cookie), rate-limited logins, session rotation."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web

from kinkyu.console import i18n
from kinkyu.console.pages import address_of, audit, console_of, lang_of, render, session_of
from kinkyu.console.sessions import Session
from kinkyu.console.state import LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, USER, Console


def _safe_next(value: str | None) -> str:
    # A local path only: never another host (//host, /\\host) and nothing a header could be split on.
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)  # noqa: PLR2004 - control characters
        or len(value) > 2000  # noqa: PLR2004 - no real path of this desk is longer
    ):
        return "/incidents"
    return value


def _set_session_cookie(response: web.StreamResponse, console: Console, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        secure=console.settings.cookie_secure,
        samesite="Strict",
        path="/",
    )


def _login_page(
    request: web.Request, *, status: int = 200, next_url: str, error: str | None, token: str | None = None
) -> web.Response:
    """The login form with its token, in the form and in its cookie: nothing is stored here.

    ``token``: the one just posted (valid, and already the browser's cookie), kept for the form shown again.
    """
    console = console_of(request)
    fresh = token is None
    token = token or console.login_tokens.issue()
    response = render(request, "login.html.j2", status=status, next=next_url, error=error, csrf_token=token)
    secure = console.settings.cookie_secure
    max_age = int(console.login_tokens.max_age.total_seconds())
    if fresh:
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, secure=secure, samesite="Strict", path="/login", max_age=max_age
        )
    wanted = request.query.get("lang")
    if wanted in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, wanted, httponly=True, secure=secure, samesite="Strict", path="/")
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    """The login form (its token and the language live in the browser's cookies, not here)."""
    if request.get(USER) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return _login_page(request, next_url=_safe_next(request.query.get("next")), error=None)


async def login_post(request: web.Request) -> web.StreamResponse:
    """Sign in: 303 to ``next``; 401 with the form again; 429 when rate-limited."""
    console = console_of(request)
    form = await request.post()
    username = str(form.get("username") or "").strip()[:64].lower()
    password = str(form.get("password") or "")
    next_url = _safe_next(str(form.get("next") or ""))
    posted = str(form.get("csrf_token") or "") or None  # checked by the middleware: valid, and the cookie's
    address = address_of(request)
    console.users.reload_if_changed()
    known = console.users.get(username) is not None
    # An unknown name may be a password typed in the wrong box: the audit log never holds it.
    who = username if known else "unknown-user"
    blocked = console.limiter.blocked(username, address, known=known)
    if blocked is not None:
        await audit(request, "login", "-", "refused", f"rate-limited-{blocked}", who=who, role="-")
        minutes = max(1, int(console.limiter.window // 60))
        error = i18n.t(lang_of(request), "login.limited", minutes=minutes)
        return _login_page(request, status=429, next_url=next_url, error=error, token=posted)
    user = await asyncio.to_thread(console.users.authenticate, username, password)
    if user is None:
        console.limiter.failed(username, address, known=known)
        await audit(request, "login", "-", "refused", "bad-credentials", who=who, role="-")
        error = i18n.t(lang_of(request), "login.failed")
        return _login_page(request, status=401, next_url=next_url, error=error, token=posted)
    console.limiter.succeeded(username)
    old = session_of(request)
    chosen = request.cookies.get(LANG_COOKIE)
    lang: Literal["ja", "en"] | None = "en" if chosen == "en" else ("ja" if chosen == "ja" else None)
    session = console.sessions.rotate(
        old.id if old is not None else None, user, lang=lang or (old.lang if old else None)
    )
    request[USER] = user
    await audit(request, "login", "-", "allowed")
    response = web.HTTPSeeOther(next_url)
    _set_session_cookie(response, console, session)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """Sign out everywhere this browser was signed in."""
    console = console_of(request)
    session = session_of(request)
    if session is not None:
        console.sessions.destroy(session.id)
    await audit(request, "logout", "-", "allowed")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
