"""What every handler of the console shares: the :class:`Console` (one per application), its keys, its cookies.

Also the Jinja environment of ``templates/console/``, with the labels and helpers every page uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import jinja2
from aiohttp import web

from kinkyu.console import i18n, views
from kinkyu.console.ack_link import AckRecorder
from kinkyu.console.audit import AuditLog
from kinkyu.console.producer import EventProducer
from kinkyu.console.ratelimit import LoginLimiter
from kinkyu.console.sessions import LoginTokens, Session, SessionStore
from kinkyu.console.settings import ConsoleSettings
from kinkyu.console.users import User, UserDirectory
from kinkyu.contracts import ContractFolder
from kinkyu.core.contract import ContractProfile
from kinkyu.core.freetext import neutralise_value
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import Playbook
from kinkyu.evidence.anchor import AnchorPublisher, AnchorSource
from kinkyu.exceptions import ContractError
from kinkyu.resources import bundled

log = logging.getLogger("kinkyu.console")


SESSION_COOKIE = "kinkyu_session"
LOGIN_COOKIE = "kinkyu_login"  # the login form's token: the only thing a visitor not signed in gets
LANG_COOKIE = "kinkyu_lang"  # the language chosen before signing in, kept by the browser

TEMPLATES_DIR = bundled("templates", "console")
STATIC_DIR = TEMPLATES_DIR / "static"

FLASH_LIMIT = 10_000


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
        while len(self.flashes) > FLASH_LIMIT:
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


def environment() -> jinja2.Environment:
    """The Jinja environment of ``templates/console/`` (autoescaped, strict, values neutralised)."""
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
