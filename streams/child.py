"""Child processes for the worker's heavy work (sealing evidence, rendering PDFs) that never outlive it.

``spawn`` starts each child fresh (the worker's threads and event loop stay
behind). A child of a pool waits on a pipe for work, and a worker killed with
SIGKILL (a crash, a test's teardown) would leave it waiting for ever: so each
child asks the kernel for SIGTERM when its parent dies (Linux
``PR_SET_PDEATHSIG``; elsewhere it relies on the pool's own shutdown).

Each child also runs :data:`NICENESS` steps below the worker in the
scheduler: a burst of incidents renders a PDF (about a second of CPU) and
seals evidence for each, and at equal priority that work took the cores
from the detection, playbook and mail that the first reports wait for
(issue #14: a burst of 100 breaches on two cores). The children's work is
off that path; it finishes later when the cores are busy, never lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1
NICENESS = 10  # added to the worker's own: the kernel gives such a child the CPU the worker leaves


def _die_with_parent(parent: int) -> None:
    """In the child: SIGTERM when the parent goes (and at once if it went already); Ctrl-C is the parent's; nicer.

    A Ctrl-C in a terminal reaches the whole process group: a child that took
    it would print a KeyboardInterrupt traceback while the worker stops it
    in order (the pool's shutdown), so the child ignores it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def child_pool(processes: int = 1) -> ProcessPoolExecutor:
    """``processes`` child processes, started fresh, that end with the worker."""
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
