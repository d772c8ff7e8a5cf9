"""The browser tier's harness: the stack's processes, a real SMTP server, browser contexts signed in per role.

Kept out of ``conftest.py`` so that tests import it by a name of its own
(``browser.harness``); the fixtures that use it are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from kinkyu.console.users import hash_password
from kinkyu.notifiers.smtp_sink import ReceivedMessage, SinkHandler, SmtpSink
from kinkyu.streams.broker import EmbeddedBroker
from kinkyu.streams.process import KinkyuProcess

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "samples" / "contracts"
SCREENSHOTS = REPO / "build" / "test-artifacts" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Playwright adds --headless itself (headless=True) and gives every launch a fresh
# temporary profile (user-data dir), so no state leaks between runs.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACK_SECRET = "browser-tier-ack-secret-0123456789abcdef"
# Every wait is on an event (a page state, a response, a mail, a health answer); these only bound it.
UI_TIMEOUT_MS = 20_000
START_TIMEOUT = 90.0

Role = Literal["contractor", "city", "city-other", "reviewer", "admin"]


@dataclass(frozen=True)
class Login:
    username: str
    password: str


# The users the tests log in as; their passwords are fresh per run and known to the tests.
USERS: dict[Role, dict[str, Any]] = {
    "contractor": {"username": "acme-security", "display_name": "アクメ セキュリティ担当", "org": "acme"},
    "city": {"username": "koganei-city", "display_name": "小金井市 市民課", "jurisdiction": "koganei"},
    "city-other": {"username": "toyota-city", "display_name": "豊田市 市民課", "jurisdiction": "toyota"},
    "reviewer": {"username": "reviewer", "display_name": "監査担当"},
    "admin": {"username": "admin", "display_name": "管理者"},
}


def chromium_executable() -> str:
    """The chromium to drive: ``KINKYU_CHROMIUM`` or Debian's; fails (never skips) when it is missing."""
    path = os.environ.get("KINKYU_CHROMIUM", DEFAULT_CHROMIUM)
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"chromium not found at {path}: the browser tier needs Debian's chromium. "
            "Run `sh scripts/system-deps.sh` (what `make install` runs), or set KINKYU_CHROMIUM "
            "to a chromium executable.",
            pytrace=False,
        )
    return path


def write_users(path: Path) -> dict[Role, Login]:
    """The console's users file (YAML ``{users: [...]}``) with a random password per user."""
    logins: dict[Role, Login] = {}
    records = []
    for role, user in USERS.items():
        password = secrets.token_urlsafe(12)
        logins[role] = Login(user["username"], password)
        records.append(
            {**user, "role": "city" if role == "city-other" else role, "password_hash": hash_password(password)}
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"users": records}, allow_unicode=True), encoding="utf-8")
    path.chmod(0o600)  # as the console asks of a file holding password hashes
    return logins


# -- processes -----------------------------------------------------------------------------------------------


class _SignallingHandler(SinkHandler):
    """The sink's handler, telling waiting threads about every message it accepts."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        answer = await super().handle_DATA(server, session, envelope)
        with self.arrived:
            self.arrived.notify_all()
        return answer


class MailServer:
    """A real SMTP server (aiosmtpd) on a free loopback port, in its own thread and event loop."""

    def __init__(self, folder: Path) -> None:
        self.handler = _SignallingHandler(folder)
        self.sink = SmtpSink(handler=self.handler)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-server", daemon=True)

    @property
    def port(self) -> int:
        return self.sink.port

    def start(self) -> MailServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sink.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def wait_for(
        self, match: Callable[[ReceivedMessage], bool], what: str, timeout: float = 30.0
    ) -> list[ReceivedMessage]:
        """Every accepted message ``match`` holds for, once there is at least one."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while True:
                found = [m for m in self.sink.messages if match(m)]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    break
                self.handler.arrived.wait(left)
        if not found:
            got = [(m.recipients, m.subject) for m in self.sink.messages]
            pytest.fail(f"no mail {what} within {timeout}s; the server got {got}")
        return found


@dataclass
class Stack:
    """The running system the browser talks to."""

    tmp: Path
    broker: EmbeddedBroker
    mail: MailServer
    worker: KinkyuProcess
    console: KinkyuProcess
    logins: dict[Role, Login]
    prefix: str
    store: Path
    # The session cookie of each role's first form login; later contexts start from it.
    signed_in: dict[Role, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.console.url


# -- the browser ---------------------------------------------------------------------------------------------


@dataclass
class Desk:
    """Opens fresh browser contexts on the console (one per person) and closes them after the test."""

    browser: Browser
    stack: Stack
    contexts: list[BrowserContext] = field(default_factory=list)

    def context(self, **options: Any) -> BrowserContext:
        ctx = self.browser.new_context(
            base_url=self.stack.url, locale="ja-JP", timezone_id="Asia/Tokyo", accept_downloads=True, **options
        )
        ctx.set_default_timeout(UI_TIMEOUT_MS)
        self.contexts.append(ctx)
        return ctx

    def page(self, **options: Any) -> Page:
        """A page in a fresh context, logged in as nobody."""
        return self.context(**options).new_page()

    def login(self, role: Role, *, fresh: bool = False, form: bool = False, **options: Any) -> Page:
        """A page in a fresh context signed in as ``role``, left on /incidents.

        ``form``: through the login form, as a person does; otherwise the context posts the
        same form itself (1-2 s less), and a role's later contexts reuse that session cookie,
        unless ``fresh`` asks for a session of its own (a test that changes what the session
        remembers, such as the language, or ends it).
        """
        state = None if fresh or form else self.stack.signed_in.get(role)
        if state is not None:
            page = self.context(storage_state=state, **options).new_page()
        elif form:
            page = self.page(**options)
            login_as(page, self.stack.logins[role])
            return page
        else:
            ctx = self.context(**options)
            post_login(ctx, self.stack.logins[role])
            if not fresh:
                self.stack.signed_in[role] = ctx.storage_state()
            page = ctx.new_page()
        page.goto("/incidents")
        return page

    def keep_failure(self, test_name: str) -> None:
        """Screenshots of every page still open, under build/test-artifacts/failures/, for a failed test."""
        folder = SCREENSHOTS.parent / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        pages = [page for ctx in self.contexts for page in ctx.pages]
        for n, page in enumerate(pages):
            with contextlib.suppress(PlaywrightError):  # a page that cannot be drawn any more has nothing to show
                page.screenshot(path=str(folder / f"{test_name[:100]}-{n}.png"), full_page=True)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def post_login(ctx: BrowserContext, login: Login) -> None:
    """Sign ``ctx`` in by posting the login form (with its CSRF token) from the context's own HTTP client."""
    page = ctx.request.get("/login")
    token = _CSRF_FIELD.search(page.text())
    assert token, "GET /login has no csrf_token field"
    answer = ctx.request.post(
        "/login",
        form={"csrf_token": token.group(1), "username": login.username, "password": login.password},
        max_redirects=0,
    )
    assert answer.status == 303, f"POST /login as {login.username}: {answer.status}"


def login_as(page: Page, login: Login) -> None:
    """Sign in through the login form, as a person does."""
    page.goto("/login")
    form = page.locator("form#login")
    form.locator("input[name=username]").fill(login.username)
    form.locator("input[name=password]").fill(login.password)
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/incidents")


# -- the stream, artefacts -----------------------------------------------------------------------------------


def read_topic(
    stack: Stack, topic: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every record of ``topic`` from its start (JSON values), once ``until`` holds for them or ``timeout`` passed.

    It runs aiokafka in a thread of its own: the sync Playwright API keeps an event loop
    marked running on this one.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _read_topic(stack.broker.bootstrap, topic, until, timeout)).result()


async def _read_topic(
    bootstrap: str, topic: str, until: Callable[[list[dict[str, Any]]], bool], timeout: float
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    records: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] = set()
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # the public API has no refresh
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await asyncio.sleep(0.1)  # the topic is created by the console's first send
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(orjson.loads(m.value) for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()
    return records


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artefact (``build/test-artifacts/screenshots/<name>.png``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
