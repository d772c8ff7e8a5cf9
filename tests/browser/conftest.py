"""Browser tier: Debian's chromium, driven by Playwright, against a running ``kinkyu console``.

One stack per test module, started once (the tests share it, each in a fresh
browser context): a real tansu broker, a real SMTP server (aiosmtpd, in its
own thread) that keeps every message, a ``kinkyu worker`` subprocess over the
bundled sample contracts, and a ``kinkyu console`` subprocess reading the
worker's store, each exactly as ``make run`` starts them. The users file is
written here with known passwords (argon2id via
:func:`kinkyu.console.users.hash_password`).

Playwright never downloads a browser here: it launches the chromium that
``scripts/system-deps.sh`` installs (``/usr/bin/chromium``, or
``KINKYU_CHROMIUM``). A missing chromium fails the tier, it does not skip it:
CI must really run these tests.

The sync Playwright API is used from plain (sync) tests and fixtures: it runs
its own event loop, which must not be nested in pytest-asyncio's.
Screenshots go to ``build/test-artifacts/screenshots/``; a failed test leaves its
pages in ``build/test-artifacts/failures/`` and the services' logs in
``build/test-artifacts/logs/``.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from browser.harness import (
    ACK_SECRET,
    CHROMIUM_ARGS,
    CONTRACTS,
    REPO,
    SCREENSHOTS,
    START_TIMEOUT,
    UI_TIMEOUT_MS,
    Desk,
    MailServer,
    Stack,
    chromium_executable,
    write_users,
)
from kinkyu.streams.broker import EmbeddedBroker, free_port
from kinkyu.streams.process import KinkyuProcess


def _evidence_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("browser-stack")
    chromium_executable()  # fail before minutes of start-up when the browser is missing
    logins = write_users(tmp / "console" / "users.yaml")
    prefix = f"b{secrets.token_hex(4)}-"
    data = tmp / "data"
    store = data / "store"
    worker_port, console_port = free_port(), free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
        mail = MailServer(tmp / "mail").start()
        shared = {
            # Only the settings below: a KINKYU_* the developer's shell exports would change what is tested.
            **{k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")},
            "KINKYU_BROKER": broker.bootstrap,
            "KINKYU_TOPIC_PREFIX": prefix,
            "KINKYU_CONTRACTS": orjson.dumps([str(CONTRACTS)]).decode(),
            "KINKYU_DATA_DIR": str(data),
            "KINKYU_NOTIFY_ACK_SECRET": ACK_SECRET,
            # The worker's acknowledgement endpoint: the console hands opened links to it.
            "KINKYU_NOTIFY_ACK_PORT": str(free_port()),
            "KINKYU_EVIDENCE_KEY": _evidence_key(),
            # Evidence and the audit log are MAC'd with it (a worker given an evidence key refuses to seal without).
            "KINKYU_INTEGRITY_KEYS": orjson.dumps({"browser": _evidence_key()}).decode(),
            "KINKYU_LOG_FORMAT": "json",
        }
        worker = KinkyuProcess(
            "worker",
            {
                **shared,
                "KINKYU_GROUP": f"g-{prefix}",
                "KINKYU_WEB_PORT": str(worker_port),
                "KINKYU_CHECKPOINT_INTERVAL": "0.2",
                "KINKYU_CONTRACTS_POLL": "0.5",
                "KINKYU_TICK_INTERVAL": "0.5",
                "KINKYU_LATENESS": "1",
                "KINKYU_SMTP_HOST": "127.0.0.1",
                "KINKYU_SMTP_PORT": str(mail.port),
                "KINKYU_SMTP_SECURITY": "none",
                "KINKYU_SMTP_TIMEOUT": "5",
                "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <kinkyu@kinkyu.test>",
                # Mail points people at the console, which serves the acknowledgement links too.
                "KINKYU_NOTIFY_ACK_BASE_URL": console_url,
                "KINKYU_NOTIFY_CONSOLE_URL": console_url,
            },
            worker_port,
            tmp / "worker.log",
            cwd=REPO,
            start_timeout=START_TIMEOUT,
        )
        console = KinkyuProcess(
            "console",
            {
                **shared,
                "KINKYU_CONSOLE_HOST": "127.0.0.1",
                "KINKYU_CONSOLE_PORT": str(console_port),
                "KINKYU_CONSOLE_USERS": str(tmp / "console" / "users.yaml"),
                "KINKYU_CONSOLE_AUDIT": str(tmp / "console" / "audit.jsonl"),
                "KINKYU_CONSOLE_STORE": str(store),
            },
            console_port,
            tmp / "console.log",
            cwd=REPO,
            start_timeout=START_TIMEOUT,
        )
        try:
            worker.start()
            console.start()
            worker.wait_healthy()
            console.wait_healthy()
            yield Stack(tmp, broker, mail, worker, console, logins, prefix, store)
        finally:
            console.stop(grace=20)
            worker.stop(grace=20)
            mail.stop()
            _keep_logs(tmp)


def _keep_logs(tmp: Path) -> None:
    """Copy the services' logs next to the screenshots, for a failed CI run to be read afterwards."""
    logs = SCREENSHOTS.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("worker.log", "console.log", "tansu.log"):
        if (tmp / name).exists():
            shutil.copyfile(tmp / name, logs / name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed test call, for :func:`desk` to keep what its pages showed."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def desk(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Desk]:
    d = Desk(browser, stack)
    try:
        yield d
    finally:
        if request.node.stash.get(_FAILED, False):
            d.keep_failure(request.node.name)
        d.close()
