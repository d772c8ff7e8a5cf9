"""What the console's handlers share: the request's console, session, user and language; pages; audit entries.

A handler reads its incident through :func:`find_incident`, which also refuses (404
outside the user's scope, exactly as for an incident that does not exist) and audits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from kinkyu.console import i18n, views
from kinkyu.console.forms import (
    Reporter,
)
from kinkyu.console.policy import allowed_actions, role_allows
from kinkyu.console.sessions import Session
from kinkyu.console.state import CONSOLE, LANG_COOKIE, SESSION, USER, Console
from kinkyu.console.users import User
from kinkyu.evidence.exceptions import EvidenceAnchorError
from kinkyu.messages.codes import code_choices
from kinkyu.reports.exceptions import ReportStoreError
from kinkyu.reports.model import StoredIncident
from kinkyu.reports.store import valid_incident_id

log = logging.getLogger("kinkyu.console")


def console_of(request: web.Request) -> Console:
    """The application's :class:`Console`."""
    return request.app[CONSOLE]


def session_of(request: web.Request) -> Session | None:
    """The request's session (None when there is none), as the auth middleware found it."""
    session: Session | None = request.get(SESSION)
    return session


def user_of(request: web.Request) -> User:
    """The signed-in user (403 if there is none: only private routes ask)."""
    user: User | None = request.get(USER)
    if user is None:  # the auth middleware lets no handler of a private route run without one
        raise web.HTTPForbidden
    return user


def lang_of(request: web.Request) -> Literal["ja", "en"]:
    """The page language: the session's, else ``?lang=`` or the cookie chosen before signing in (Japanese first)."""
    session = session_of(request)
    if session is not None:
        return session.lang
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "ja"


def address_of(request: web.Request) -> str:
    """The client's address (``-`` when unknown), for the login limiter."""
    return request.remote or "-"


def _lang_switch(request: web.Request, lang: str) -> str:
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = "ja" if lang == "en" else "en"
    return f"{request.path}?{urlencode(query)}"


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page from ``templates/console/``, with the session's language, user, CSRF token and flash."""
    console = console_of(request)
    lang = lang_of(request)
    session = session_of(request)
    user: User | None = request.get(USER)
    flash = console.flashes.pop(session.id, None) if session is not None else None
    csrf_token = context.pop("csrf_token", None) or (session.csrf_token if session is not None else "")
    html = console.env.get_template(template).render(
        lang=lang,
        t=functools.partial(i18n.t, lang),
        jst=functools.partial(views.jst, lang=lang),
        day=functools.partial(views.day, lang=lang),
        code_choices=functools.partial(code_choices, lang),
        user=user,
        role_allows=functools.partial(role_allows, user) if user is not None else (lambda _a: False),
        csrf_token=csrf_token,
        lang_switch=_lang_switch(request, lang),
        flash=flash,
        path=request.path,
        **context,
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


async def audit(
    request: web.Request,
    action: str,
    target: str,
    outcome: Literal["allowed", "refused"],
    detail: str = "",
    *,
    who: str | None = None,
    role: str | None = None,
) -> None:
    """Append an audit entry (on a thread: it fsyncs). AuditLogError when it cannot be written."""
    console = console_of(request)
    user: User | None = request.get(USER)
    await asyncio.to_thread(
        console.audit.append,
        who=who or (user.username if user is not None else "anonymous"),
        role=role or (user.role if user is not None else "-"),
        action=action,
        target=target or "-",
        outcome=outcome,
        detail=detail,
    )


def error_page(request: web.Request, status: int, key: str, **context: Any) -> web.Response:
    """An error page: ``error.<key>.title`` / ``.body`` (a key with a dot names its messages itself)."""
    return render(request, "error.html.j2", status=status, key=key if "." in key else f"error.{key}", **context)


async def refuse(request: web.Request, action: str, target: str, *, hide: bool = False) -> web.Response:
    """A role or scope refusal: audited; 403 (権限がありません), or 404 when the target must not be revealed."""
    await audit(request, action, target, "refused", "not-found" if hide else "forbidden")
    if hide:
        return error_page(request, 404, "notfound")
    return error_page(request, 403, "forbidden")


def reporter_for(user: User, stored: StoredIncident | None = None) -> Reporter:
    """Who files an event: the user, with their organisation (a city user's jurisdiction)."""
    org = user.org or (stored.incident.jurisdiction if stored is not None and user.role == "city" else None)
    if org is None and user.role == "city":
        org = user.jurisdiction
    return Reporter(id=user.username, org=org, role=user.role)


def form_dict(form: MultiDictProxy[str | Any]) -> dict[str, str]:
    """A posted form's text fields, without the CSRF token."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


async def find_incident(request: web.Request, action: str) -> tuple[StoredIncident, frozenset[str]] | web.Response:
    """The incident of the URL if the user may take ``action`` on it; else the refusal (404 outside scope)."""
    console = console_of(request)
    user = user_of(request)
    incident_id = request.match_info["incident_id"]
    try:
        stored = await asyncio.to_thread(console.store.get, incident_id)
    except ReportStoreError:
        log.exception("stored incident unreadable", extra={"incident_id": incident_id})
        return error_page(request, 500, "store")
    target = incident_id if valid_incident_id(incident_id) else "invalid-id"
    actions = allowed_actions(user, **views.scope_of(stored)) if stored is not None else []
    if stored is None or not actions:
        # Missing, or outside the user's scope: one answer, one audit entry, so nothing tells them apart
        # (a GET or a POST alike).
        return await refuse(request, action, target, hide=True)
    if action not in actions:
        return await refuse(request, action, target)
    return stored, frozenset(actions)


async def read_anchors(console: Console) -> Mapping[str, Any] | None:
    """The chains' heads from outside the volume; None (logged) when they cannot be read now."""
    if console.anchors is None:
        return None
    try:
        return await console.anchors.read()
    except EvidenceAnchorError:
        log.warning("anchors not read; verifying without them", exc_info=True)
        return None
