"""The worker's child processes: Ctrl-C in the terminal is the worker's to handle, not theirs; they yield the CPU."""

from __future__ import annotations

import os
import signal

from kinkyu.streams.child import NICENESS, child_pool


def test_a_child_ignores_ctrl_c_so_a_stopping_worker_prints_no_traceback_from_it() -> None:
    pool = child_pool()
    try:
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
    finally:
        pool.shutdown()


def test_a_child_runs_below_the_worker_so_a_burst_of_renders_leaves_the_cores_to_the_first_reports() -> None:
    pool = child_pool()
    try:
        assert pool.submit(os.nice, 0).result(timeout=60) == min(os.nice(0) + NICENESS, 19)
    finally:
        pool.shutdown()
