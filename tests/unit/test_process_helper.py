"""The one helper tests and benches start ``kinkyu`` commands with: health, metrics and failures read plainly."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinkyu.streams.broker import free_port
from kinkyu.streams.exceptions import KinkyuProcessError
from kinkyu.streams.process import KinkyuProcess

METRICS = b"""# HELP kinkyu_events_in_total Events read.
kinkyu_events_in_total{topic="t-access-log"} 1234.0
kinkyu_events_in_total{topic="t-incident-events"} 5.0
kinkyu_messages_queued 3.0
"""


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's hook name
        status, body = (200, METRICS) if self.path == "/metrics" else (503, b"starting")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # the base class's parameter name
        del format, args


@pytest.fixture
def pages() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def _process(port: int, tmp_path: Path, command: str = "worker") -> KinkyuProcess:
    return KinkyuProcess(command, dict(os.environ), port, tmp_path / "child.log")


def test_a_labelled_series_is_read_off_the_metrics_page(pages: int, tmp_path: Path) -> None:
    child = _process(pages, tmp_path)

    assert child.metric('kinkyu_events_in_total{topic="t-access-log"}') == 1234.0
    assert child.metric("kinkyu_messages_queued") == 3.0


def test_a_series_the_metrics_page_does_not_show_reads_as_zero(pages: int, tmp_path: Path) -> None:
    assert _process(pages, tmp_path).metric('kinkyu_events_in_total{topic="other"}') == 0.0


def test_metrics_read_as_none_when_nothing_answers(tmp_path: Path) -> None:
    assert _process(free_port(), tmp_path).metric("kinkyu_messages_queued") is None


def test_a_get_answered_with_an_error_status_returns_the_status(pages: int, tmp_path: Path) -> None:
    assert _process(pages, tmp_path).get("/health") == (503, b"starting")


def test_a_command_that_exits_at_start_fails_the_wait_with_its_exit_code_and_log(tmp_path: Path) -> None:
    child = _process(free_port(), tmp_path, command="no-such-command").start()

    with pytest.raises(KinkyuProcessError, match=r"exited with 2") as failed:
        child.wait_healthy(timeout=60)

    assert "invalid choice" in str(failed.value), "the log's tail says why"
    assert not child.running


def test_a_process_never_started_stops_as_a_no_op(tmp_path: Path) -> None:
    child = _process(free_port(), tmp_path)

    assert child.stop() is None
    with pytest.raises(KinkyuProcessError, match="not started"):
        child.wait_healthy()
