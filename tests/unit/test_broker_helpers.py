"""The process helpers every edge and harness shares: a child's health, waited for without guessing."""

from __future__ import annotations

import subprocess
import sys

from kinkyu.streams.broker import free_port, stop_process, wait_healthy


def test_a_child_that_exits_is_reported_at_once_with_its_exit_code() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()

    assert wait_healthy(proc, f"http://127.0.0.1:{free_port()}/health", timeout=30) == "exited with 3"


def test_a_child_that_never_answers_is_reported_after_the_timeout() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert wait_healthy(proc, f"http://127.0.0.1:{free_port()}/health", timeout=0.3) == "not healthy within 0.3s"
    finally:
        stop_process(proc)


def test_a_child_whose_health_page_answers_is_healthy() -> None:
    port = free_port()
    server = "import http.server as h; h.HTTPServer(('127.0.0.1', %d), h.SimpleHTTPRequestHandler).serve_forever()"
    proc = subprocess.Popen([sys.executable, "-c", server % port], stderr=subprocess.DEVNULL)
    try:
        assert wait_healthy(proc, f"http://127.0.0.1:{port}/", timeout=30) is None
    finally:
        stop_process(proc)
