"""A Kinkyu command (``python -m kinkyu worker``, ``… console``) as a child process, for tests and benches.

Tests and benches start the real command, exactly as production runs it, rather than an app in their own
process: a test can SIGKILL it, and a bench measures what ships. This is the one place that knows how to
start one, wait for its ``/health`` page, read its ``/metrics`` and stop it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from kinkyu.streams.broker import stop_process, wait_healthy
from kinkyu.streams.exceptions import KinkyuProcessError

_HTTP_OK = 200


class KinkyuProcess:
    """``python -m kinkyu <command>`` with ``env``, its output in ``log_path``, a ``/health`` page on ``port``.

    ``cwd``: where it runs (the caller's directory by default). ``new_session``: its own session, so that
    Ctrl-C reaches only the caller, which then stops it in order (a bench); without, Ctrl-C in a terminal
    stops both at once (a test run). ``start_timeout``: how long :meth:`wait_healthy` waits by default.
    """

    def __init__(  # each a setting of the child, all keyword but the four every caller gives
        self,
        command: str,
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        *,
        cwd: Path | None = None,
        new_session: bool = False,
        start_timeout: float = 90.0,
    ) -> None:
        self.command = command
        self.env = dict(env)
        self.port = port
        self.log_path = log_path
        self.cwd = cwd
        self.new_session = new_session
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() at start()

    @property
    def url(self) -> str:
        """Its web root, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        """Its ``/health`` page."""
        return f"{self.url}/health"

    @property
    def pid(self) -> int:
        """Its process id; only once started."""
        if self.proc is None:
            raise KinkyuProcessError(f"kinkyu {self.command} was not started")
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        """Start the command (without waiting for it to be healthy)."""
        with self.log_path.open("ab") as out:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(  # noqa: S603  # our own command, with the interpreter running us
                [sys.executable, "-m", "kinkyu", self.command],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        return self

    def log_tail(self, chars: int = 3000) -> str:
        """The last ``chars`` characters of its output."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float | None = None, *, interval: float = 0.1) -> float:
        """Seconds from :meth:`start` until ``/health`` answered 200; raises with its log's tail if it never did."""
        if self.proc is None:
            raise KinkyuProcessError(f"kinkyu {self.command} was not started")
        limit = self.start_timeout if timeout is None else timeout
        problem = wait_healthy(self.proc, self.health_url, limit, interval=interval)
        if problem is not None:
            raise KinkyuProcessError(f"kinkyu {self.command} {problem} (log {self.log_path}):\n{self.log_tail()}")
        return time.monotonic() - self.started_at

    def check_running(self) -> None:
        """Raise, with its log's tail, if it is not running (never started, or exited)."""
        if not self.running:
            code = None if self.proc is None else self.proc.returncode
            raise KinkyuProcessError(
                f"kinkyu {self.command} is not running (exit code {code}; log {self.log_path}):\n{self.log_tail()}"
            )

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET ``path`` on its web port: the status and body, also of an error status; 0 if nothing answers."""
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=timeout) as resp:  # noqa: S310  # loopback
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()
        except OSError:
            return 0, b""

    def metric(self, series: str) -> float | None:
        """The value of ``series`` on ``/metrics``: 0 if absent, None if ``/metrics`` does not answer 200.

        ``series`` is a name with its labels, as ``/metrics`` writes it: ``kinkyu_events_in_total{topic="…"}``.
        """
        status, body = self.get("/metrics")
        if status != _HTTP_OK:
            return None
        prefix = series + " "
        for line in body.decode().splitlines():
            if line.startswith(prefix):
                return float(line[len(prefix) :].split()[0])
        return 0.0

    def cpu_seconds(self) -> float | None:
        """User and system CPU seconds it has used so far; None if not running (or not on Linux)."""
        return cpu_seconds(self.proc.pid) if self.running and self.proc is not None else None

    def peak_rss_mib(self) -> float | None:
        """Its peak resident set size so far, in MiB; None if not running (or not on Linux)."""
        return peak_rss_mib(self.proc.pid) if self.running and self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash would, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM, SIGKILL after ``grace`` seconds; its exit code (None if it was never started)."""
        if self.proc is None:
            return None
        return stop_process(self.proc, grace=grace)


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident set size of a live process (``VmHWM``), in MiB; None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds a live process has used; None if they cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
