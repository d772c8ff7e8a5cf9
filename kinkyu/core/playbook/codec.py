"""The JSON form of a run's state records, by msgspec from their declarations.

:func:`encode` and :func:`decode` replace hand-written ``to_json`` /
``from_json`` pairs: a field added to a :class:`msgspec.Struct` is encoded and
restored with no further edit. Times are the one exception msgspec is not
left to: they are written as :meth:`datetime.isoformat` writes them (msgspec
would write ``Z`` for UTC, changing the bytes a stage persists) and read by
:meth:`datetime.fromisoformat` (msgspec refuses an offset with seconds, which
Python, and so the follow-ups a run accepts, allow), so state written before
the records were declared still loads.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import msgspec

S = TypeVar("S", bound=msgspec.Struct)
_TIMES = (datetime, date)


def encode(value: msgspec.Struct) -> dict[str, Any]:
    """``value`` as JSON-able data, fields in declaration order, times in ISO 8601 as Python writes them."""
    out = _iso(msgspec.to_builtins(value, builtin_types=_TIMES))
    if not isinstance(out, dict):  # pragma: no cover - a Struct encodes as an object
        raise TypeError(type(value).__name__)
    return out


def decode(kind: type[S], data: Any) -> S:
    """Inverse of :func:`encode`: msgspec validates the shape; times are read by Python's ISO parser."""
    if not isinstance(data, dict):
        raise TypeError(f"{kind.__name__} must be an object")
    times = _time_fields(kind)
    parsed = {k: (_time(v) if k in times else v) for k, v in data.items()}
    return msgspec.convert(parsed, kind, builtin_types=_TIMES)


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # msgspec keeps a tuple a tuple; JSON and the state compared with it have lists.
        return [_iso(v) for v in value]
    if isinstance(value, _TIMES):
        return value.isoformat()
    return value


def _time(value: Any) -> Any:
    # An empty time reads as none, as the hand-written readers did.
    if not value:
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@cache
def _time_fields(kind: type[msgspec.Struct]) -> frozenset[str]:
    """The fields of ``kind`` that hold a time (``datetime`` or ``datetime | None``)."""
    out = set()
    for name, hint in get_type_hints(kind).items():
        options = get_args(hint) if get_origin(hint) in {Union, types.UnionType} else (hint,)
        if datetime in options:
            out.add(name)
    return frozenset(out)
