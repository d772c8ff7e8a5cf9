"""The console's aiohttp application: the incident desk (routes in the module's ``_routes``; CONSOLE.md).

Reads come from the incident store the worker writes (:class:`~kinkyu.console.views.StoreView`);
writes are incident events through the :class:`~kinkyu.console.producer.EventProducer` seam,
never the store. Every route but ``/health``, ``/static/*`` and ``/ack/*``
needs a signed-in session; every POST needs the session's CSRF token (the
login form a signed, dated token also set as a cookie: nobody who is not
signed in gets server state) and, when the browser sends one, an ``Origin``
equal to the configured public origin (``KINKYU_CONSOLE_PUBLIC_ORIGIN``; else
the loopback addresses of the port the request came in on: never the
``Host`` header, which the client chooses). A form that cannot be read
(a multipart body without a boundary, an unknown charset) is a 400. Roles and scope are
checked by :mod:`kinkyu.console.policy` on each read and write, and every
view of an incident, its details or its evidence, every download and write,
every refusal and every login lands in the audit log. An incident outside
the user's scope answers exactly as one that does not exist: the same 404
page, and an audit entry either way. Failed logins are limited per account
and per address (:mod:`kinkyu.console.ratelimit`).

Referrer-Policy is ``same-origin`` on the desk's pages and ``no-referrer`` on
``/ack/*``: with ``no-referrer`` browsers send ``Origin: null`` on every POST,
which would make the Origin check useless; ``same-origin`` still sends no
Referer to any other site, and only ``/ack/*`` URLs hold a credential.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from kinkyu.bus.topics import Topics
from kinkyu.console import i18n, views
from kinkyu.console.ack_link import AckRecorder, HttpAckRecorder
from kinkyu.console.audit import CHAIN as AUDIT_CHAIN
from kinkyu.console.audit import AuditLog, AuditReport, as_code
from kinkyu.console.exceptions import AuditLogError
from kinkyu.console.forms import (
    CONTAINMENT_RESULTS,
    FILING_KINDS,
    INSTRUCTION_CODES,
    OFFERED_ITEMS,
    TRIAGE_DECISIONS,
    FormError,
    Reporter,
    acknowledgement_event,
    containment_event,
    filing_event,
    instruction_event,
    resolution_event,
    triage_event,
    update_event,
)
from kinkyu.console.policy import allowed, allowed_actions, role_allows
from kinkyu.console.producer import BrokerUnavailableError, EventProducer
from kinkyu.console.ratelimit import LoginLimiter
from kinkyu.console.sessions import LoginTokens, Session, SessionStore
from kinkyu.console.settings import ConsoleSettings
from kinkyu.console.users import User, UserDirectory
from kinkyu.contracts import ContractFolder
from kinkyu.core.ack import AckTokenError, verify_ack_token
from kinkyu.core.contract import ContractProfile
from kinkyu.core.evidence import key_from_config
from kinkyu.core.freetext import neutralise_value
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import Playbook
from kinkyu.core.timefmt import utcnow
from kinkyu.evidence.anchor import AnchorPublisher, AnchorSource, KafkaAnchorSource
from kinkyu.evidence.exceptions import EvidenceAnchorError, EvidenceError
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.evidence.store import EvidenceStore
from kinkyu.exceptions import ContractError
from kinkyu.reports.exceptions import ReportError, ReportStoreError
from kinkyu.reports.model import REPORT_KINDS, StoredIncident
from kinkyu.reports.store import valid_incident_id
from kinkyu.resources import bundled
from kinkyu.web import ack_pages

log = logging.getLogger("kinkyu.console")

SESSION_COOKIE = "kinkyu_session"
LOGIN_COOKIE = "kinkyu_login"  # the login form's token: the only thing a visitor not signed in gets
LANG_COOKIE = "kinkyu_lang"  # the language chosen before signing in, kept by the browser


TEMPLATES_DIR = bundled("templates", "console")
STATIC_DIR = TEMPLATES_DIR / "static"

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# A rendered report: its own inline CSS and SVG, never a script.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
_ACK_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
_PUBLIC_PREFIXES = ("/static/", "/ack/")
# Served to anyone, with no session checks (the login form has its own CSRF check).
_OPEN_PATHS = frozenset({"/health", "/favicon.ico"})
_REPORT_TYPES = {"pdf": "application/pdf", "html": "text/html", "md": "text/markdown"}
_FLASH_LIMIT = 10_000
_FILED_LIMIT = 10_000


# -- state ---------------------------------------------------------------------------------------------


@dataclass
class Console:
    """Everything the handlers share (one per application)."""

    settings: ConsoleSettings
    producer: EventProducer
    store: views.StoreView
    users: UserDirectory
    sessions: SessionStore
    audit: AuditLog
    contracts: ContractFolder
    playbooks: Mapping[str, Playbook]
    evidence_key: bytes | None
    ack_secret: bytes | None
    acks: AckRecorder
    limiter: LoginLimiter
    clock: Callable[[], datetime]
    env: jinja2.Environment
    login_tokens: LoginTokens = field(default_factory=LoginTokens)
    keyring: Keyring | None = None  # the integrity keys: audit log MACs, evidence verification
    anchors: AnchorSource | None = None  # where verification reads the chains' heads (None: not checked)
    publisher: AnchorPublisher | None = None  # publishes the audit log's head after each entry
    pdf_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flashes: OrderedDict[str, str] = field(default_factory=OrderedDict)
    filed: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def flash(self, session: Session, message: str) -> None:
        """A message for the session's next page."""
        self.flashes[session.id] = message
        while len(self.flashes) > _FLASH_LIMIT:
            self.flashes.popitem(last=False)

    def profiles(self) -> Mapping[str, ContractProfile]:
        """The contract profiles in force (a broken edit keeps the previous ones, and is logged)."""
        try:
            self.contracts.reload_if_changed()
        except ContractError:
            log.exception("contract profiles not reloaded; the previous ones stay in force")
        return self.contracts.profiles


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
USER: web.RequestKey[User | None] = web.RequestKey("user")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Ids from logs and labels people typed: no control or bidi-override characters on a page.
        finalize=neutralise_value,
    )
    env.globals.update(
        kind_label=i18n.kind_label,
        item_label=i18n.item_label,
        state_label=i18n.state_label,
        severity_label=i18n.severity_label,
        triage_label=i18n.triage_label,
        city_name=views.city_name,
        pick=i18n.pick,
        jst=views.jst,
    )
    return env


# -- helpers -------------------------------------------------------------------------------------------


def _console(request: web.Request) -> Console:
    return request.app[CONSOLE]


def _session(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION)
    return session


def _user(request: web.Request) -> User:
    user: User | None = request.get(USER)
    if user is None:  # the auth middleware lets no handler of a private route run without one
        raise web.HTTPForbidden
    return user


def _lang(request: web.Request) -> Literal["ja", "en"]:
    session = _session(request)
    if session is not None:
        return session.lang
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "ja"


def _address(request: web.Request) -> str:
    return request.remote or "-"


def _lang_switch(request: web.Request, lang: str) -> str:
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = "ja" if lang == "en" else "en"
    return f"{request.path}?{urlencode(query)}"


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page from ``templates/console/``, with the session's language, user, CSRF token and flash."""
    console = _console(request)
    lang = _lang(request)
    session = _session(request)
    user: User | None = request.get(USER)
    flash = console.flashes.pop(session.id, None) if session is not None else None
    csrf_token = context.pop("csrf_token", None) or (session.csrf_token if session is not None else "")
    html = console.env.get_template(template).render(
        lang=lang,
        t=functools.partial(i18n.t, lang),
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
    console = _console(request)
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


def _reporter(user: User, stored: StoredIncident | None = None) -> Reporter:
    org = user.org or (stored.incident.jurisdiction if stored is not None and user.role == "city" else None)
    if org is None and user.role == "city":
        org = user.jurisdiction
    return Reporter(id=user.username, org=org, role=user.role)


def _form_dict(form: MultiDictProxy[str | Any]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


# -- middlewares ---------------------------------------------------------------------------------------


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
    console = _console(request)
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


# -- login ---------------------------------------------------------------------------------------------


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
    console = _console(request)
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
    console = _console(request)
    form = await request.post()
    username = str(form.get("username") or "").strip()[:64].lower()
    password = str(form.get("password") or "")
    next_url = _safe_next(str(form.get("next") or ""))
    posted = str(form.get("csrf_token") or "") or None  # checked by the middleware: valid, and the cookie's
    address = _address(request)
    console.users.reload_if_changed()
    known = console.users.get(username) is not None
    # An unknown name may be a password typed in the wrong box: the audit log never holds it.
    who = username if known else "unknown-user"
    blocked = console.limiter.blocked(username, address, known=known)
    if blocked is not None:
        await audit(request, "login", "-", "refused", f"rate-limited-{blocked}", who=who, role="-")
        minutes = max(1, int(console.limiter.window // 60))
        error = i18n.t(_lang(request), "login.limited", minutes=minutes)
        return _login_page(request, status=429, next_url=next_url, error=error, token=posted)
    user = await asyncio.to_thread(console.users.authenticate, username, password)
    if user is None:
        console.limiter.failed(username, address, known=known)
        await audit(request, "login", "-", "refused", "bad-credentials", who=who, role="-")
        error = i18n.t(_lang(request), "login.failed")
        return _login_page(request, status=401, next_url=next_url, error=error, token=posted)
    console.limiter.succeeded(username)
    old = _session(request)
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
    console = _console(request)
    session = _session(request)
    if session is not None:
        console.sessions.destroy(session.id)
    await audit(request, "logout", "-", "allowed")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# -- public --------------------------------------------------------------------------------------------


async def health(_: web.Request) -> web.Response:
    """``ok``."""
    return web.Response(text="ok")


async def favicon(_: web.Request) -> web.Response:
    """No icon (and no 404 in the browser's console)."""
    return web.Response(status=204)


async def root(_: web.Request) -> web.Response:
    """To the incident list."""
    raise web.HTTPSeeOther("/incidents")


# -- incidents -----------------------------------------------------------------------------------------


async def incident_list(request: web.Request) -> web.Response:
    """The incidents the user may see, filtered."""
    console = _console(request)
    user = _user(request)
    if not role_allows(user, "incident.list"):
        return await refuse(request, "incident.list", "-")
    now = console.clock()
    stored_all = await asyncio.to_thread(console.store.all)
    visible = [s for s in stored_all if allowed(user, "incident.list", **views.scope_of(s))]
    rows = [views.incident_row(s, now) for s in visible]
    q = request.query
    filters = views.Filters(
        contract=q.get("contract", ""),
        city=q.get("city", ""),
        state=q.get("state", ""),
        severity=q.get("severity", ""),
        overdue=q.get("overdue") in {"1", "on", "true"},
    )
    return render(
        request,
        "incidents.html.j2",
        rows=views.filter_rows(rows, filters),
        filters=filters,
        contracts=sorted({r.contract_id for r in rows}),
        cities=sorted({r.jurisdiction for r in rows}),
        states=views.STATES,
        severities=views.SEVERITIES,
    )


async def _incident(request: web.Request, action: str) -> tuple[StoredIncident, frozenset[str]] | web.Response:
    """The incident of the URL if the user may take ``action`` on it; else the refusal (404 outside scope)."""
    console = _console(request)
    user = _user(request)
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


async def incident_page(request: web.Request, *, verify: dict[str, Any] | None = None) -> web.Response:
    """The incident page (audited as incident.view and, for its #evidence section, evidence.view)."""
    found = await _incident(request, "incident.view")
    if isinstance(found, web.Response):
        return found
    stored, actions = found
    console = _console(request)
    lang = _lang(request)
    page = await asyncio.to_thread(views.incident_page, stored, lang, console.clock())
    incident_id = stored.incident.incident_id
    await audit(request, "incident.view", incident_id, "allowed")
    if "evidence.view" in actions:
        await audit(request, "evidence.view", incident_id, "allowed", "incident-page")
    return render(
        request,
        "incident.html.j2",
        page=page,
        inc=stored.incident,
        run=stored.run,
        evidence=stored.evidence if "evidence.view" in actions else None,
        actions=actions,
        ppc=page.model.section("ppc"),
        report_kinds=REPORT_KINDS,
        decisions=TRIAGE_DECISIONS,
        results=CONTAINMENT_RESULTS,
        instruction_codes=INSTRUCTION_CODES,
        verify=verify,
    )


async def incident_get(request: web.Request) -> web.Response:
    """GET /incidents/<id>."""
    return await incident_page(request)


async def timeline_json(request: web.Request) -> web.Response:
    """The timeline as JSON for the live page (polled: not audited again; the page view was)."""
    found = await _incident(request, "incident.view")
    if isinstance(found, web.Response):
        return web.json_response({"error": "not available"}, status=found.status)
    stored, _ = found
    items = views.timeline_items(stored, _lang(request))
    state = views.state_of(stored.run)
    return web.json_response({"entries": [i.to_json() for i in items], "state": state})


async def details(request: web.Request) -> web.Response:
    """The filed free text and identities (audited as incident.details)."""
    found = await _incident(request, "incident.details")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = _console(request)
    incident_id = stored.incident.incident_id
    # Recorded before anything is read or shown: without the audit entry, nothing is disclosed.
    await audit(request, "incident.details", incident_id, "allowed")
    try:
        evidence = console.store.store.evidence
        status, filed = await asyncio.to_thread(
            views.filed_texts, evidence, incident_id, stored.incident.event_ids, console.evidence_key
        )
    except (EvidenceError, OSError):  # tampered, another key, unreadable: the evidence page says which
        log.exception("filed details not read from the evidence", extra={"incident_id": incident_id})
        status, filed = "unreadable", []
    return render(
        request, "details.html.j2", inc=stored.incident, rows=views.details_of(stored), filed=filed, filed_status=status
    )


async def evidence_page(request: web.Request) -> web.Response:
    """The evidence manifest (audited as evidence.view)."""
    found = await _incident(request, "evidence.view")
    if isinstance(found, web.Response):
        return found
    stored, actions = found
    await audit(request, "evidence.view", stored.incident.incident_id, "allowed", "evidence-page")
    return render(
        request, "evidence.html.j2", inc=stored.incident, evidence=stored.evidence, actions=actions, verify=None
    )


def _verify(console: Console, incident_id: str, anchors: Mapping[str, Any] | None, lang: str) -> dict[str, Any]:
    evidence = EvidenceStore(console.store.store.evidence.root, keyring=console.keyring)
    if not evidence.has_incident(incident_id) and (anchors is None or f"evidence/{incident_id}" not in anchors):
        return {"status": "none", "problems": [], "key_problems": [], "notes": []}
    if console.evidence_key is None:
        info = console.store.store.evidence_info(incident_id)
        return {
            "status": "no-key",
            "chain": info.chain_status if info else "-",
            "problems": list(info.problems) if info else [],
            "key_problems": [],
            "notes": [],
        }
    # No actor: verifying from the console must not write the store (the audit log records it instead).
    report = evidence.verify(incident_id, console.evidence_key, anchors=anchors)
    return {
        "status": report.status,
        "problems": list(report.problems),
        "key_problems": list(report.key_problems),
        "notes": [*report.unkeyed, i18n.t(lang, f"int.{report.anchor.state.value}")],
    }


async def _read_anchors(console: Console) -> Mapping[str, Any] | None:
    """The chains' heads from outside the volume; None (logged) when they cannot be read now."""
    if console.anchors is None:
        return None
    try:
        return await console.anchors.read()
    except EvidenceAnchorError:
        log.warning("anchors not read; verifying without them", exc_info=True)
        return None


async def evidence_verify(request: web.Request) -> web.Response:
    """Re-check the incident's sealed evidence; the incident page with the result in #evidence-result."""
    found = await _incident(request, "evidence.verify")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = _console(request)
    incident_id = stored.incident.incident_id
    try:
        anchors = await _read_anchors(console)
        result = await asyncio.to_thread(_verify, console, incident_id, anchors, _lang(request))
    except Exception:  # the reviewer must learn it could not be checked; the log has the trace
        log.exception("evidence verification failed", extra={"incident_id": incident_id})
        result = {"status": "error", "problems": [], "key_problems": [], "notes": []}
    await audit(request, "evidence.verify", incident_id, "allowed", f"result={result['status']}")
    return await incident_page(request, verify=result)


_REPORT_NAME = "{kind:first|progress|final|public}.{rlang:ja|en}.{ext:pdf|html|md}"


async def report_download(request: web.Request) -> web.StreamResponse:
    """A written report, rendered now by the code ``kinkyu report --store`` runs (PDF on a thread, one at a time)."""
    found = await _incident(request, "report.download")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = _console(request)
    kind, rlang, ext = (request.match_info[k] for k in ("kind", "rlang", "ext"))
    incident_id = stored.incident.incident_id
    from kinkyu.reports.model import build_report  # noqa: PLC0415  # the report stack loads on first download
    from kinkyu.reports.render import render as render_report  # noqa: PLC0415

    def work() -> bytes:
        model = build_report(stored, kind=kind, lang=rlang, now=console.clock())  # type: ignore[arg-type]  # matched by the route
        return render_report(model, ext)  # type: ignore[arg-type]  # likewise

    try:
        if ext == "pdf":
            async with console.pdf_lock:
                data = await asyncio.to_thread(work)
        else:
            data = await asyncio.to_thread(work)
    except ReportError:
        log.exception("report not rendered", extra={"incident_id": incident_id, "kind": kind, "format": ext})
        return error_page(request, 500, "store")
    await audit(request, "report.download", incident_id, "allowed", f"{kind}.{rlang}.{ext}")
    filename = f"{incident_id}-{kind}.{rlang}.{ext}"
    headers = {"Content-Disposition": f'{"inline" if ext == "html" else "attachment"}; filename="{filename}"'}
    if ext == "html":
        headers["Content-Security-Policy"] = _REPORT_CSP
    return web.Response(
        body=data, content_type=_REPORT_TYPES[ext], charset="utf-8" if ext != "pdf" else None, headers=headers
    )


# -- writes --------------------------------------------------------------------------------------------


async def _send(
    request: web.Request,
    event: dict[str, Any],
    *,
    action: str,
    target: str,
    form: Mapping[str, str],
    back: str,
) -> web.Response | None:
    """Send ``event``; None when the broker took it, else the page that shows the input again (audited)."""
    console = _console(request)
    try:
        await console.producer.send_event(event)
    except BrokerUnavailableError:
        await audit(request, action, target, "refused", "broker-unavailable")
        return _resubmit(request, 503, "broker", form, back)
    await audit(request, action, target, "allowed", f"event={event['event_id']}")
    return None


def _resubmit(
    request: web.Request, status: int, key: str, form: Mapping[str, str], back: str, *, field_error: str | None = None
) -> web.Response:
    """The form's input shown again, with what went wrong (``key``: ``broker`` or ``form``), to send it once more."""
    return render(
        request,
        "resubmit.html.j2",
        status=status,
        key=key,
        form=form,
        labels={k: i18n.field_label(_lang(request), k) for k in form},
        action_url=request.path,
        back=back,
        field_error=field_error,
    )


async def _follow_up(
    request: web.Request,
    action: str,
    build: Callable[[StoredIncident, Mapping[str, str], Reporter], dict[str, Any]],
) -> web.Response:
    found = await _incident(request, action)
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    user = _user(request)
    form = _form_dict(await request.post())
    incident_id = stored.incident.incident_id
    back = f"/incidents/{incident_id}"
    try:
        event = build(stored, form, _reporter(user, stored))
    except FormError as exc:
        lang = _lang(request)
        message = i18n.t(lang, f"error.form.{exc.code}", field=i18n.field_label(lang, exc.field))
        await audit(request, action, incident_id, "refused", f"invalid-{exc.field}")
        return _resubmit(request, 400, "form", form, back, field_error=message)
    failed = await _send(request, event, action=action, target=incident_id, form=form, back=back)
    if failed is not None:
        return failed
    session = _session(request)
    if session is not None:
        _console(request).flash(session, i18n.t(_lang(request), "flash.sent", event_id=event["event_id"]))
    raise web.HTTPSeeOther(back)


def _common(stored: StoredIncident, reporter: Reporter, now: datetime) -> dict[str, Any]:
    return {
        "incident_id": stored.incident.incident_id,
        "contract_id": stored.incident.contract_id,
        "reporter": reporter,
        "now": now,
    }


async def post_triage(request: web.Request) -> web.Response:
    """Contractor: confirm (breach / risk of one) or dismiss with a reason."""
    now = _console(request).clock()
    return await _follow_up(request, "incident.triage", lambda s, f, r: triage_event(f, **_common(s, r, now)))


async def post_containment(request: web.Request) -> web.Response:
    """Contractor: a containment command's result."""
    now = _console(request).clock()

    def build(s: StoredIncident, f: Mapping[str, str], r: Reporter) -> dict[str, Any]:
        commands = [c.command.command_id for c in s.run.commands] if s.run is not None else []
        return containment_event(f, commands=commands, **_common(s, r, now))

    return await _follow_up(request, "incident.containment", build)


async def post_update(request: web.Request) -> web.Response:
    """Contractor: a step or task done (recovery, recurrence prevention, …), with a note kept as evidence."""
    now = _console(request).clock()

    def build(s: StoredIncident, f: Mapping[str, str], r: Reporter) -> dict[str, Any]:
        steps = [st.step_id for st in s.run.steps] if s.run is not None else []
        tasks = [t.task_id for t in s.run.tasks] if s.run is not None else []
        return update_event(f, steps=steps, tasks=tasks, **_common(s, r, now))

    return await _follow_up(request, "incident.update", build)


async def post_resolve(request: web.Request) -> web.Response:
    """Contractor: close the incident (the playbook refuses while tasks are open)."""
    now = _console(request).clock()
    return await _follow_up(request, "incident.update", lambda s, _f, r: resolution_event(**_common(s, r, now)))


async def post_acknowledge(request: web.Request) -> web.Response:
    """City: 受領確認 of the reports sent."""
    now = _console(request).clock()
    return await _follow_up(request, "city.acknowledge", lambda s, _f, r: acknowledgement_event(**_common(s, r, now)))


async def post_instruct(request: web.Request) -> web.Response:
    """City: 甲の指示, which becomes a task."""
    now = _console(request).clock()
    return await _follow_up(request, "city.instruct", lambda s, f, r: instruction_event(f, **_common(s, r, now)))


async def post_request_report(request: web.Request) -> web.Response:
    """City: ask for a written report."""
    now = _console(request).clock()
    return await _follow_up(
        request,
        "city.request_report",
        lambda s, f, r: instruction_event(f, report_request=True, **_common(s, r, now)),
    )


# -- filing --------------------------------------------------------------------------------------------


def _filing_contracts(console: Console, user: User) -> list[ContractProfile]:
    return [
        p
        for cid, p in sorted(console.profiles().items())
        if allowed(user, "incident.file", contract_id=cid, jurisdiction=p.jurisdiction, contractor_org=p.contractor.org)
    ]


def _file_page(
    request: web.Request,
    contracts: Sequence[ContractProfile],
    *,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    error: str | None = None,
    broker: bool = False,
) -> web.Response:
    return render(
        request,
        "file.html.j2",
        status=status,
        contracts=contracts,
        kinds=FILING_KINDS,
        items=OFFERED_ITEMS,
        values=values or {},
        error=error,
        broker=broker,
    )


async def file_get(request: web.Request) -> web.Response:
    """The filing form (contracts in the user's scope only)."""
    console = _console(request)
    user = _user(request)
    if not role_allows(user, "incident.file"):
        return await refuse(request, "incident.file", "-")
    return _file_page(request, _filing_contracts(console, user))


async def file_post(request: web.Request) -> web.Response:
    """File an incident: one event without incident_id; 303 to /filed/<event_id>."""
    console = _console(request)
    user = _user(request)
    if not role_allows(user, "incident.file"):
        return await refuse(request, "incident.file", "-")
    contracts = _filing_contracts(console, user)
    posted = await request.post()
    form = _form_dict(posted)
    items = [str(v) for v in posted.getall("data_items", []) if isinstance(v, str)]
    values: dict[str, Any] = {**form, "data_items": items}
    target = form.get("contract_id", "-")[:200] or "-"
    lang = _lang(request)
    try:
        event = filing_event(
            form,
            items,
            allowed_contracts=[p.contract_id for p in contracts],
            reporter=_reporter(user),
            now=console.clock(),
        )
    except FormError as exc:
        if exc.field == "contract_id" and exc.code == "bad_choice":
            await audit(request, "incident.file", "invalid-contract", "refused", "out-of-scope")
        message = i18n.t(lang, f"error.form.{exc.code}", field=i18n.field_label(lang, exc.field))
        return _file_page(request, contracts, status=400, values=values, error=message)
    try:
        await console.producer.send_event(event)
    except BrokerUnavailableError:
        await audit(request, "incident.file", target, "refused", "broker-unavailable")
        return _file_page(
            request, contracts, status=503, values=values, error=i18n.t(lang, "error.broker.body"), broker=True
        )
    await audit(request, "incident.file", target, "allowed", f"event={event['event_id']}")
    console.filed[event["event_id"]] = user.username
    while len(console.filed) > _FILED_LIMIT:
        console.filed.popitem(last=False)
    raise web.HTTPSeeOther(f"/filed/{event['event_id']}")


async def _filed_incident(request: web.Request) -> StoredIncident | None:
    console = _console(request)
    user = _user(request)
    event_id = request.match_info["event_id"]
    stored_all = await asyncio.to_thread(console.store.all)
    stored = views.find_filed(stored_all, event_id)
    if stored is None or not allowed(user, "incident.view", **views.scope_of(stored)):
        return None
    return stored


async def filed_page(request: web.Request) -> web.Response:
    """The filing was sent; a link to the incident once the stream has opened it."""
    event_id = request.match_info["event_id"]
    stored = await _filed_incident(request)
    return render(
        request, "filed.html.j2", event_id=event_id, incident_id=stored.incident.incident_id if stored else None
    )


async def filed_json(request: web.Request) -> web.Response:
    """``{"incident_id": … or null}`` for the filed page's poll."""
    stored = await _filed_incident(request)
    return web.json_response({"incident_id": stored.incident.incident_id if stored is not None else None})


# -- contracts, audit ----------------------------------------------------------------------------------


async def contract_page(request: web.Request) -> web.Response:
    """A contract's clauses (the playbook steps with their grounds), contacts and playbook."""
    console = _console(request)
    user = _user(request)
    contract_id = request.match_info["contract_id"]
    profile = console.profiles().get(contract_id)
    if profile is None:
        stored = next(
            (s for s in await asyncio.to_thread(console.store.all) if s.profile.contract_id == contract_id), None
        )
        profile = stored.profile if stored is not None else None
    target = contract_id if len(contract_id) <= 120 and contract_id.isascii() else "invalid-id"  # noqa: PLR2004 - an id
    if profile is None:
        return error_page(request, 404, "notfound")
    scope = {"contract_id": contract_id, "jurisdiction": profile.jurisdiction, "contractor_org": profile.contractor.org}
    actions = allowed_actions(user, **scope)
    if not actions:
        return await refuse(request, "contract.view", target, hide=True)
    if "contract.view" not in actions:
        return await refuse(request, "contract.view", target)
    await audit(request, "contract.view", contract_id, "allowed")
    return render(request, "contract.html.j2", profile=profile, playbook=console.playbooks.get(profile.jurisdiction))


async def audit_page(request: web.Request) -> web.Response:
    """The audit log, newest first (admin only), with the hash chain's state."""
    console = _console(request)
    user = _user(request)
    if not role_allows(user, "audit.view"):
        return await refuse(request, "audit.view", "audit-log")
    who = request.query.get("who") or None
    target = request.query.get("target") or None
    entries = await asyncio.to_thread(console.audit.entries, 500, None, who, target)
    anchors = await _read_anchors(console)
    anchor = anchors.get(AUDIT_CHAIN) if anchors is not None else None
    report = await asyncio.to_thread(console.audit.report, anchor, anchor_checked=anchors is not None)
    await audit(request, "audit.view", "audit-log", "allowed")
    return render(
        request,
        "audit.html.j2",
        entries=entries,
        problems=[*report.problems, *report.key_problems],
        integrity=_audit_integrity(report, _lang(request)),
        who=who or "",
        target=target or "",
    )


def _audit_integrity(report: AuditReport, lang: str) -> dict[str, str]:
    """The audit log's integrity in one line: keyed or unkeyed (legacy), and the anchor."""
    keyed = {"unkeyed": "int.unkeyed", "intact": "int.keyed", "empty": "int.empty"}.get(
        report.status, "int.unverifiable"
    )
    anchor = f"int.{report.anchor.state.value}"
    return {"status": report.status, "text": f"{i18n.t(lang, keyed)} {i18n.t(lang, anchor)}"}


# -- acknowledgement links -----------------------------------------------------------------------------


def _claim(request: web.Request) -> Any:
    console = _console(request)
    if console.ack_secret is None:
        return error_page(request, 503, "ackp.unconfigured")
    try:
        return verify_ack_token(request.match_info["token"], console.ack_secret, console.clock())
    except AckTokenError as exc:
        log.info("acknowledgement link refused", extra={"reason": exc.reason})
        return ack_pages.refused_page(exc.reason)


async def ack_get(request: web.Request) -> web.StreamResponse:
    """The acknowledgement page: a button (a GET never records: mail scanners open links)."""
    claim = _claim(request)
    if isinstance(claim, web.StreamResponse):
        return claim
    return ack_pages.confirm_page(claim)


async def ack_post(request: web.Request) -> web.StreamResponse:
    """Record the acknowledgement through the worker's notifier (see :mod:`kinkyu.console.ack_link`)."""
    console = _console(request)
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
        return ack_pages.not_found_page()
    await audit(request, "ack.record", claim.incident_id, "refused", f"notifier-{status or 'unreachable'}", **audited)
    return ack_pages.unrecorded_page()


# -- the application -----------------------------------------------------------------------------------


def _load_pdf_renderer() -> None:
    try:
        from kinkyu.reports.pdf import check_renderer  # noqa: PLC0415  # heavy; only in the background

        check_renderer()
    except ReportError:
        log.warning("PDF reports unavailable (WeasyPrint or the Japanese fonts missing: run make install)")


def _routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/health", health, allow_head=False)
    r.add_get("/favicon.ico", favicon, allow_head=False)
    r.add_static("/static/", STATIC_DIR, append_version=False)
    r.add_get("/", root)
    r.add_get("/login", login_get)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/incidents", incident_list)
    r.add_get("/incidents/{incident_id}", incident_get)
    r.add_get("/incidents/{incident_id}/timeline.json", timeline_json)
    r.add_get("/incidents/{incident_id}/details", details)
    r.add_get("/incidents/{incident_id}/evidence", evidence_page)
    r.add_post("/incidents/{incident_id}/evidence/verify", evidence_verify)
    r.add_get("/incidents/{incident_id}/reports/" + _REPORT_NAME, report_download)
    r.add_post("/incidents/{incident_id}/triage", post_triage)
    r.add_post("/incidents/{incident_id}/containment", post_containment)
    r.add_post("/incidents/{incident_id}/update", post_update)
    r.add_post("/incidents/{incident_id}/resolve", post_resolve)
    r.add_post("/incidents/{incident_id}/acknowledge", post_acknowledge)
    r.add_post("/incidents/{incident_id}/instruct", post_instruct)
    r.add_post("/incidents/{incident_id}/request-report", post_request_report)
    r.add_get("/file", file_get)
    r.add_post("/file", file_post)
    r.add_get("/filed/{event_id:[A-Za-z0-9-]{1,64}}.json", filed_json)
    r.add_get("/filed/{event_id:[A-Za-z0-9-]{1,64}}", filed_page)
    r.add_get("/contracts/{contract_id}", contract_page)
    r.add_get("/admin/audit", audit_page)
    r.add_get("/ack/{token}", ack_get, allow_head=False)
    r.add_post("/ack/{token}", ack_post)


def make_console_app(
    settings: ConsoleSettings,
    *,
    producer: EventProducer,
    store: views.StoreView | None = None,
    users: UserDirectory | None = None,
    sessions: SessionStore | None = None,
    audit_log: AuditLog | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
    acks: AckRecorder | None = None,
    anchors: AnchorSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The console application. Raises ConsoleConfigError / ContractError / PlaybookError for unusable settings.

    With integrity keys (``KINKYU_INTEGRITY_KEYS``) the audit log is MAC'd and its head published to the
    anchors topic after each entry; ``anchors`` is where verification reads the heads (default: that topic).
    EvidenceKeyError (IntegrityKeyError) for malformed keys.
    """
    from kinkyu.playbook_files import load_playbooks  # noqa: PLC0415  # only when not given (tests pass theirs)

    contracts = ContractFolder(list(settings.contracts))
    contracts.load()
    evidence_key = key_from_config(settings.evidence_key.get_secret_value()) if settings.evidence_key else None
    keyring = integrity_keyring(settings.integrity_keys, settings.integrity_key_id, separate_from=[evidence_key])
    ack_secret = settings.ack_secret.get_secret_value().encode() if settings.ack_secret else None
    if ack_secret is None:
        log.warning("KINKYU_NOTIFY_ACK_SECRET unset: acknowledgement links cannot be checked here")
    publisher: AnchorPublisher | None = None
    topic = Topics(settings.topic_prefix).anchors
    if keyring is None:
        log.warning(
            "KINKYU_INTEGRITY_KEYS unset: the audit log is written without MACs (unkeyed) and keyed evidence "
            "cannot be authenticated here"
        )
    else:
        connection = settings.broker_connection()  # KINKYU_BROKER with its TLS/SASL settings
        if audit_log is None:  # the publisher serves the audit log made here (tests bring their own)
            publisher = AnchorPublisher(connection, topic, keyring=keyring)
        if anchors is None:
            anchors = KafkaAnchorSource(connection, topic, keyring, timeout=settings.send_timeout)
    if audit_log is None:
        audit_log = AuditLog(
            settings.audit_path,
            keyring=keyring,
            on_append=publisher.offer if publisher is not None else None,
            anchored=publisher.known if publisher is not None else None,
        )
    console = Console(
        settings=settings,
        producer=producer,
        store=store or views.StoreView(settings.store_path, keyring=keyring),
        users=users or UserDirectory.load(settings.users_path),
        sessions=sessions or SessionStore(idle=settings.session_idle, absolute=settings.session_max),
        audit=audit_log,
        contracts=contracts,
        playbooks=playbooks if playbooks is not None else load_playbooks(settings.playbooks),
        evidence_key=evidence_key,
        ack_secret=ack_secret,
        acks=acks or HttpAckRecorder(settings.notifier_base, timeout=settings.send_timeout),
        limiter=LoginLimiter(
            settings.login_attempts, settings.login_window, address_attempts=settings.login_address_attempts
        ),
        clock=clock,
        env=_environment(),
        keyring=keyring,
        anchors=anchors,
        publisher=publisher,
    )
    app = web.Application(middlewares=[security_middleware, auth_middleware], client_max_size=256 * 1024)
    app[CONSOLE] = console
    _routes(app)

    async def close_producer(_: web.Application) -> None:
        await producer.close()

    warm: list[asyncio.Task[None]] = []

    async def warm_pdf(_: web.Application) -> None:
        # WeasyPrint takes seconds to import: load it in the background so the first PDF download is quick.
        warm.append(asyncio.ensure_future(asyncio.to_thread(_load_pdf_renderer)))

    async def stop_warming(_: web.Application) -> None:
        for task in warm:
            if not task.done():
                task.cancel()

    async def start_anchoring(_: web.Application) -> None:
        if publisher is not None:
            await publisher.start()  # the broker may be away: heads wait, and are sent when it is back

    async def stop_anchoring(_: web.Application) -> None:
        if publisher is not None:
            await publisher.stop()

    app.on_startup.append(warm_pdf)
    app.on_startup.append(start_anchoring)
    app.on_cleanup.append(stop_warming)
    app.on_cleanup.append(stop_anchoring)
    app.on_cleanup.append(close_producer)
    return app


__all__ = ["CONSOLE", "SESSION_COOKIE", "AuditLogError", "Console", "make_console_app", "render"]
