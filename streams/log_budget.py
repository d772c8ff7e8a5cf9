"""A budget of log lines per reason: the first few each minute, then one summary line for the rest.

Kinkyu reads logs an attacker may be writing. When every dead letter logs a
line, 100,000 hostile events make 100,000 lines: a log pipeline's quota
spent, a disk filled, and the few lines that matter buried. A
:class:`LogBudget` lets the first ``per_window`` lines of each reason through
in each window (a minute by default) and counts the rest; once the window has
passed, one line sums them up ("… not logged one by one: 99,990 (bad-json:
99,000, out-of-range: 990)"). The metrics (``kinkyu_dead_letters_total``,
``kinkyu_records_set_aside_total``) still count every one, and the dead
letters themselves are all on their topic.

The summary is logged at the next :meth:`LogBudget.allow` after the window
ends, or by :meth:`LogBudget.flush`, which the worker's tick calls, so a
burst followed by silence is summed up too. It is at error level when a line
it stands for was (a bug), else at warning. Reasons are codes: a summary
names no value.

The clock is passed in (monotonic seconds), so tests move it by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# Lines of one reason logged in one window: enough to see what is arriving and from where.
DEFAULT_PER_WINDOW = 10
DEFAULT_WINDOW = 60.0


class LogBudget:
    """Decides, line by line, whether a repeated log line is written or counted for a summary."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        per_window: int = DEFAULT_PER_WINDOW,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what`` names the lines in the summary (e.g. ``"dead letters"``); ``logger`` writes it."""
        self.logger = logger
        self.what = what
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._start = clock()
        self._shown: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._bugs = False

    def allow(self, reason: str, *, bug: bool = False) -> bool:
        """Whether to log this line of ``reason``; when not, it is counted for the window's summary.

        ``bug``: the line would be at error level (the summary then is too).
        """
        self.flush()
        shown = self._shown.get(reason, 0)
        if shown < self.per_window:
            self._shown[reason] = shown + 1
            return True
        self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
        self._bugs = self._bugs or bug
        return False

    def flush(self) -> None:
        """If the window has ended: log its summary (one line, only when lines were held back) and start a new one."""
        now = self.clock()
        elapsed = now - self._start
        if elapsed < self.window:
            return
        if self._suppressed:
            total = sum(self._suppressed.values())
            counts = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(self._suppressed.items()))
            self.logger.log(
                logging.ERROR if self._bugs else logging.WARNING,
                "%s not logged one by one in the last %.0f s: %s (%s); the metrics count every one",
                self.what,
                elapsed,
                f"{total:,}",
                counts,
                extra={"suppressed": dict(self._suppressed), "suppressed_total": total, "window_seconds": elapsed},
            )
        self._start = now
        self._shown.clear()
        self._suppressed = {}
        self._bugs = False


__all__ = ["DEFAULT_PER_WINDOW", "DEFAULT_WINDOW", "LogBudget"]
