"""The worker's child processes: Ctrl-C in the terminal is the worker's to handle, not theirs."""

from __future__ import annotations

import signal

from kinkyu.streams.child import child_pool


def test_a_child_ignores_ctrl_c_so_a_stopping_worker_prints_no_traceback_from_it() -> None:
    pool = child_pool()
    try:
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
    finally:
        pool.shutdown()
