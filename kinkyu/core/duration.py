"""Durations as contracts and playbooks write them: ``90s``, ``30m``, ``1h``, ``3d`` (or a number of seconds).

One module below both :mod:`kinkyu.core.contract` (thresholds) and
:mod:`kinkyu.core.response` (response clocks), so neither imports the
other to read a duration. Both fields serialise as whole seconds (``"5400s"``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

# The longest response clock a policy accepts: every one is added to a time, and a longer one says
# nothing a person could act on while it can push a deadline out of datetime's range.
MAX_DURATION = timedelta(days=3650)
TOO_LONG = "must be at most 3650d (ten years)"


def parse_duration(value: object) -> timedelta:
    """``10m``, ``5m``, ``1h``, ``90s``, ``2d`` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        msg = "a duration such as 10m, 1h or 90s"
        raise ValueError(msg)  # noqa: TRY004  # pydantic wants ValueError to report it
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    msg = "expected a duration such as 10m, 1h or 90s"
    raise ValueError(msg)


def format_duration(value: timedelta) -> str:
    """``value`` as whole seconds, the form :func:`parse_duration` reads back (``"5400s"``)."""
    return f"{int(value.total_seconds())}s"


def _bounded(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except OverflowError as exc:
        # timedelta's own limit: pydantic reports only ValueError as a field's problem.
        raise ValueError(TOO_LONG) from exc


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
"""A contract threshold's duration (``within``, ``heartbeat_gap``)."""

BoundedDuration = Annotated[timedelta, BeforeValidator(_bounded), PlainSerializer(format_duration, return_type=str)]
"""A response policy's clock: past timedelta's range is refused as longer than :data:`MAX_DURATION`."""
