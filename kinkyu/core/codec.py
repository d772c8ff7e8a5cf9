"""The JSON form of the core's persisted state and wire records, by msgspec from their declarations.

A record is declared once, as a :class:`Record` (a :class:`msgspec.Struct`):
its fields, in the order they are written, their wire names
(``msgspec.field(name=...)``) and which are left out when empty
(``omit_defaults``). :func:`encode` and :func:`decode` (and a record's
:meth:`Record.to_json` / :meth:`Record.from_json`, which call them) do the
rest, so a field added to a record is written and restored with no further
edit. What msgspec is not left to, so that state written before the records
were declared still loads and golden output stays byte-equal:

- times are written as :meth:`datetime.isoformat` writes them (msgspec would
  write ``Z`` for UTC) and read by :meth:`datetime.fromisoformat` (msgspec
  refuses an offset with seconds, which Python, and so the follow-ups a run
  accepts, allow); an empty time reads as none, as the hand-written readers did;
- durations (``timedelta``) are written and read as seconds, not ISO 8601
  (whole seconds as an integer);
- pydantic models inside a record (a run's playbook and policy) are written by
  ``model_dump(mode="json")`` and read by ``model_validate``;
- an older shape is converted in one explicit place per record, its
  :meth:`Record.upgrade`, before the shape is checked;
- where a written form is not just the fields (a derived value written
  beside them, a field left out of the published record, a key written only
  when set, a command written inline), the record says so in class variables
  (:class:`Declared`), never in a method that lists its fields.

Records that come back from outside Kinkyu's own state (a report's Rule 8
facts) are :class:`Screened`: what fails a check reads as unknown rather
than refusing the record.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import sys
import types
from array import array
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, ClassVar, NamedTuple, Self, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import msgspec
from pydantic import BaseModel

__all__ = ["Declared", "Record", "Screened", "decode", "encode"]

S = TypeVar("S", bound=msgspec.Struct)
_BUILTIN = (datetime, date, timedelta)
_Reader = Callable[[Any], Any]
_Writer = Callable[[Any, Any], Any]


class Declared:
    """What :class:`Record` and :class:`Screened` share: the written form and its declared differences."""

    __slots__ = ()

    # How a record's written form differs from its fields, declared per record (all empty by default):
    # fields of engine state that a checkpoint carries and the published record does not;
    snapshot_only: ClassVar[frozenset[str]] = frozenset()
    # fields written only when they differ from their default, and computed properties only when not
    # empty (a key older readers never saw);
    omit_default: ClassVar[frozenset[str]] = frozenset()
    # properties written as if they were fields: each after the field (or property) named, None first;
    computed: ClassVar[dict[str, str | None]] = {}
    # a field holding a record whose fields are written in its place;
    inline: ClassVar[str | None] = None
    # fields written by a method of the record instead (the field's form plus what the record derives).
    written_by: ClassVar[dict[str, str]] = {}
    # How :meth:`from_json` refuses a bad record: what makes the error from its words, and the record's
    # name those words begin with (None: the ValueError or TypeError as it comes); words for one field.
    refused_as: ClassVar[tuple[Callable[[str], Exception], str] | None] = None
    refused_fields: ClassVar[dict[str, str]] = {}
    # Whether a field this version does not know is refused (a Struct says so with forbid_unknown_fields).
    refuse_unknown: ClassVar[bool] = False

    def to_json(self, *, snapshot: bool = False) -> dict[str, Any]:
        """The record as JSON-able data; ``snapshot`` adds the :attr:`snapshot_only` fields."""
        out = encode(cast("msgspec.Struct", self))
        if not snapshot:
            for name in self.snapshot_only:
                out.pop(name, None)
        return out

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """An older shape of the record as today's, before its shape is checked.

        The one place a record reads what it no longer writes (or checks what
        its declaration cannot say, such as two fields that go together).
        """
        return data


class Record(Declared):
    """A persisted or wire record: mixed into a :class:`msgspec.Struct` declared once (see the module).

    ``class Clause(msgspec.Struct, Record, frozen=True): ...`` gets :meth:`to_json`
    and :meth:`from_json`; a mixin rather than a base Struct so a record can be
    frozen, array-like or tagged as its own declaration says. A dataclass may
    mix it in as well (msgspec encodes those too), where callers rely on
    :func:`dataclasses.replace`: it has no wire names of its own.
    """

    __slots__ = ()

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Inverse of :meth:`to_json`, either form; the record's :attr:`refused_as` naming a field on a bad one.

        Without a declared refusal, ``ValueError`` (msgspec's ``ValidationError``) or ``TypeError``.
        """
        try:
            return cast("Self", decode(cast("type[msgspec.Struct]", cls), data))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            if cls.refused_as is None:
                raise
            error, what = cls.refused_as
            raise error(cls.refused_fields.get(_field_of(exc) or "") or _refusal(what, exc)) from exc


class Screened(Declared):
    """A record read from what anyone may have written: its :meth:`upgrade` keeps only what it can check.

    :meth:`from_json` never refuses: a value that is not an object reads as
    None, and what the screen drops reads as the field's default.
    """

    __slots__ = ()

    @classmethod
    def from_json(cls, data: Any) -> Self | None:
        """The screened record, or None when ``data`` is not an object."""
        if not isinstance(data, dict):
            return None
        return cast("Self", decode(cast("type[msgspec.Struct]", cls), data))


_NO_UPGRADE = getattr(Declared.upgrade, "__func__", None)


def encode(value: msgspec.Struct) -> dict[str, Any]:
    """``value`` as JSON-able data, fields in declaration order, times as Python writes them."""
    out = encode_any(value)
    if not isinstance(out, dict):  # an array-like record: encode_any
        raise TypeError(type(value).__name__)
    return out


def encode_any(value: msgspec.Struct) -> Any:
    """Like :func:`encode`, for a record declared ``array_like`` (a JSON array)."""
    out = msgspec.to_builtins(value, builtin_types=_BUILTIN, enc_hook=_enc_hook)
    writer = _writer(type(value))
    return writer(out, value) if writer is not None else out


def decode(kind: type[S], data: Any) -> S:
    """Inverse of :func:`encode`: older shapes upgraded, times and durations read as written, then validated."""
    reader = _reader(kind)
    prepared = reader(data) if reader is not None else data
    return msgspec.convert(prepared, kind, builtin_types=_BUILTIN, dec_hook=_dec_hook)


class Digests(set[int]):
    """A set of 64-bit digests, written as one base64 text of their sorted big-endian bytes (8 a digest).

    Packed rather than a JSON list: 10,000 people's digests are ~110 KB of a
    checkpoint instead of ~200 KB.
    """

    WIDTH = 8

    @staticmethod
    def pack(digests: Iterable[int]) -> str:
        """The written form of ``digests``."""
        # One array of unsigned 64-bit words, made big-endian: a checkpoint holds up to 10,000 a incident.
        words = array(_WORD, sorted(digests))
        if sys.byteorder == "little":
            words.byteswap()
        return base64.b64encode(words.tobytes()).decode()

    @classmethod
    def unpack(cls, text: str) -> Digests:
        """Inverse of :meth:`pack`."""
        raw = base64.b64decode(text)
        if len(raw) % cls.WIDTH:  # not written by pack: read as it always was, a short last digest too
            return cls(int.from_bytes(raw[i : i + cls.WIDTH]) for i in range(0, len(raw), cls.WIDTH))
        words = array(_WORD)
        words.frombytes(raw)
        if sys.byteorder == "little":
            words.byteswap()
        return cls(words)


# The array type code of an unsigned 64-bit word ("L" is 64 bits on some platforms, "Q" on all).
_WORD = "Q"


_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_AT = re.compile(r" - at `\$\.([A-Za-z0-9_]+)")


def _field_of(exc: Exception) -> str | None:
    """The top-level field a msgspec error names (missing, or ``- at `$.state```), if any."""
    if not isinstance(exc, msgspec.ValidationError):
        return None
    text = str(exc)
    found = _MISSING.search(text) or _AT.search(text)
    return found.group(1) if found else None


def _refusal(what: str, exc: Exception) -> str:
    """Words for a refused record: the field's name and the exception's type, never the value (it may quote one)."""
    unknown = _UNKNOWN.search(str(exc)) if isinstance(exc, msgspec.ValidationError) else None
    if unknown is not None:
        # A field this version does not know: named, as the strict records (evidence) refuse it.
        return f"{what}: unexpected field {unknown.group(1)!r}"
    field = _field_of(exc)
    where = f"field {field!r} is missing or not valid" if field else "not valid"
    return f"{what}: {where} ({type(exc).__name__})"


def _enc_hook(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise NotImplementedError(type(value).__name__)


def _dec_hook(kind: type, value: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind.model_validate(value)
    if kind is Digests:
        if not isinstance(value, str):
            raise TypeError("digests must be text")
        return Digests.unpack(value)
    raise NotImplementedError(kind.__name__)


def _plain(value: Any) -> Any:
    # Where the declaration does not say (a union of records): every value looked at.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _duration(value)


def _time(value: Any) -> Any:
    # An empty time reads as none, as the hand-written readers did.
    if not value:
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _day(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _seconds(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


_READ_LEAVES: dict[Any, _Reader] = {datetime: _time, timedelta: _seconds, date: _day}


@cache
def _reader(kind: Any) -> _Reader | None:
    """What prepares a value of type ``kind`` for msgspec (None: nothing to do), from the declaration."""
    if kind in _READ_LEAVES:
        return _READ_LEAVES[kind]
    origin = get_origin(kind)
    if origin in {Union, types.UnionType}:
        options = [a for a in get_args(kind) if a is not type(None)]
        if datetime in options:
            return _time
        readers = [r for r in map(_reader, options) if r is not None]
        return readers[0] if len(readers) == 1 and len(options) == 1 else None
    if origin in {list, tuple, set, frozenset}:
        args = [a for a in get_args(kind) if a is not Ellipsis]
        item = _reader(args[0]) if len(args) == 1 else None
        return None if item is None else (lambda v: [item(x) for x in v] if isinstance(v, list) else v)
    if origin is dict:
        value = _reader(get_args(kind)[1])
        return None if value is None else (lambda v: {k: value(x) for k, x in v.items()} if isinstance(v, dict) else v)
    if _is_record_type(kind):
        return _struct_reader(kind)
    return None


def _write_time(value: Any, _: Any = None) -> Any:
    return value.isoformat() if isinstance(value, _TIME_TYPES) else value


_TIME_TYPES = (datetime, date)
# Writers that never look at the value the builtins came from.
_OBJECT_FREE: set[_Writer] = set()


def _duration(value: Any, _: Any = None) -> Any:
    if not isinstance(value, timedelta):
        return value
    seconds = value.total_seconds()
    # Whole seconds as an integer, as the windows on an effect always were.
    return int(seconds) if seconds.is_integer() else seconds


def _packed(value: Any, _: Any = None) -> Any:
    return Digests.pack(value) if isinstance(value, list | tuple | set) else value


def _listed(value: Any, _: Any = None) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _builtin(value: Any) -> Any:
    """Any value (a computed property's) as JSON-able data."""
    out = msgspec.to_builtins(value, builtin_types=_BUILTIN, enc_hook=_enc_hook)
    writer = _writer(type(value)) if isinstance(value, msgspec.Struct) else None
    return writer(out, value) if writer is not None else _plain(out)


def _dynamic(value: Any, obj: Any) -> Any:
    # A union of records (or of anything): decided by the value at hand.
    writer = _writer(type(obj)) if isinstance(obj, msgspec.Struct) else None
    return writer(value, obj) if writer is not None else _plain(value)


_WRITE_LEAVES: dict[Any, _Writer] = {datetime: _write_time, date: _write_time, timedelta: _duration, Digests: _packed}


@cache
def _writer(kind: Any) -> _Writer | None:
    """What finishes msgspec's builtins of a value of type ``kind`` (None: nothing to do), from the declaration.

    msgspec leaves times, durations and tuples as they are when told to
    (``builtin_types``) and writes a set subclass as a list before a hook could
    see it; this pass, planned once per type and given the builtins beside the
    value they came from, writes times as Python does, durations in seconds,
    tuples as lists, digests packed and each record's declared shape
    (:class:`Record`), and touches nothing else (a 1,000-id list is not walked).
    """
    if kind in _WRITE_LEAVES:
        return _WRITE_LEAVES[kind]
    origin = get_origin(kind)
    if origin in {Union, types.UnionType}:
        options = [a for a in get_args(kind) if a is not type(None)]
        if len(options) == 1:
            one = _writer(options[0])
            if one is None or one in _WRITE_LEAVES.values():
                return one  # a leaf passes None (and anything not its type) through
            return lambda v, o: one(v, o) if o is not None else v
        return _dynamic if any(_writer(a) is not None for a in options) else None
    if origin in {list, tuple}:
        args = [a for a in get_args(kind) if a is not Ellipsis]
        item = _writer(args[0]) if len(args) == 1 else _dynamic
        if item is None:
            return None if origin is list else _listed
        if item in _OBJECT_FREE:
            # A list of records that write their times only (a timeline): each entry finished in place.
            return lambda v, _: [item(x, None) for x in v] if isinstance(v, list | tuple) else v
        return lambda v, o: [item(x, y) for x, y in zip(v, o, strict=True)] if isinstance(v, list | tuple) else v
    if origin is dict:
        value_writer = _writer(get_args(kind)[1])
        if value_writer is None:
            return None
        return lambda v, o: (
            {k: value_writer(x, y) for (k, x), y in zip(v.items(), o.values(), strict=True)}
            if isinstance(v, dict)
            else v
        )
    if _is_record_type(kind):
        return _struct_writer(kind)
    return None


class _Layout(NamedTuple):
    """How a record type is written: its fields (attribute, wire name, default), array or object, tag."""

    fields: list[tuple[str, str, Any]]
    array_like: bool
    tag: str | None
    unknown_refused: bool


@cache
def _layout(kind: type) -> _Layout:
    refuse = issubclass(kind, Declared) and kind.refuse_unknown
    if issubclass(kind, msgspec.Struct):
        config = kind.__struct_config__
        infos = msgspec.structs.fields(kind)
        fields = [(f.name, f.encode_name, f.default) for f in infos]
        return _Layout(fields, config.array_like, config.tag_field, config.forbid_unknown_fields or refuse)
    # A dataclass: written under its attribute names, as an object.
    fields = [(f.name, f.name, f.default) for f in dataclasses.fields(cast("Any", kind))]
    return _Layout(fields, array_like=False, tag=None, unknown_refused=refuse)


def _is_record_type(kind: Any) -> bool:
    return isinstance(kind, type) and (issubclass(kind, msgspec.Struct) or dataclasses.is_dataclass(kind))


def _struct_writer(kind: type) -> _Writer | None:
    hints = get_type_hints(kind)
    layout = _layout(kind)
    plan = [(i, a, n, w) for i, (a, n, _) in enumerate(layout.fields) if (w := _writer(hints[a])) is not None]
    record = kind if issubclass(kind, Declared) else None
    omit = record.omit_default if record is not None else frozenset()
    omitted = [(a, n, default) for a, n, default in layout.fields if a in omit]
    shaped = record is not None and bool(record.computed or record.inline or record.written_by)
    if not (plan or omitted or shaped):
        return None
    array_like = layout.array_like
    tag = layout.tag
    times = [name for _, _, name, w in plan if w is _write_time]
    if len(times) == len(plan) and not (omitted or shaped or array_like):

        def write_times(value: Any, _: Any) -> Any:
            # Only times to finish (the many timeline entries): no look at the record itself.
            if isinstance(value, dict):
                for name in times:
                    when = value.get(name)
                    if isinstance(when, _TIME_TYPES):
                        value[name] = when.isoformat()
            return value

        _OBJECT_FREE.add(write_times)
        return write_times

    def write(value: Any, obj: Any) -> Any:
        if array_like and isinstance(value, list):
            for i, attr, _, w in plan:
                if i < len(value):
                    value[i] = w(value[i], getattr(obj, attr))
            return value
        if not isinstance(value, dict):
            return value
        for _, attr, name, w in plan:
            if name in value:
                value[name] = w(value[name], getattr(obj, attr))
        for attr, name, default in omitted:
            if getattr(obj, attr) == default:
                value.pop(name, None)
        return _shape(cast("type[Declared]", record), tag, value, obj) if shaped else value

    return write


def _shape(record: type[Declared], tag: str | None, value: dict[str, Any], obj: Any) -> dict[str, Any]:
    """The record's computed properties put in place and its inline record's fields spliced into it."""
    out: dict[str, Any] = {}

    def computed_after(key: str | None) -> None:
        for name, after in record.computed.items():
            if after == key:
                computed = getattr(obj, name)
                if computed or name not in record.omit_default:  # an empty one in omit_default is left out
                    out[name] = _builtin(computed)
                computed_after(name)

    if tag is not None and tag in value:
        out[tag] = value.pop(tag)
    computed_after(None)
    for key, item in value.items():
        if key == record.inline:
            out.update(item)
        elif key in record.written_by:
            out[key] = _builtin(getattr(obj, record.written_by[key])())
        else:
            out[key] = item
        computed_after(key)
    return out


def _struct_reader(kind: type) -> _Reader:
    hints = get_type_hints(kind)
    layout = _layout(kind)
    fields = [(name, _reader(hints[attr])) for attr, name, _ in layout.fields]
    plan = [(name, r) for name, r in fields if r is not None]
    positions = [(i, name, r) for i, (name, r) in enumerate(fields) if r is not None]
    # A record that reads no older shape is not asked to (a timeline of thousands of entries).
    upgrade = getattr(kind, "upgrade", None) if issubclass(kind, Declared) else None
    if getattr(upgrade, "__func__", None) is _NO_UPGRADE:
        upgrade = None
    # msgspec refuses unknown fields of a Struct that forbids them itself; a dataclass's are checked here.
    known = None if issubclass(kind, msgspec.Struct) or not layout.unknown_refused else {n for _, n, _ in layout.fields}

    def read(value: Any) -> Any:
        if upgrade is not None:
            value = upgrade(value)
        if layout.array_like:
            if not isinstance(value, list):
                return value
            row = list(value)
            for i, name, r in positions:
                if i < len(row):
                    row[i] = _read_field(name, r, row[i])
            return row
        if not isinstance(value, dict):
            return value
        if known is not None:
            extra = sorted(k for k in value if k not in known)
            if extra:
                raise msgspec.ValidationError(f"Object contains unknown field `{extra[0]}`")
        if not plan:
            return value
        out = dict(value)
        name = ""
        try:
            for name, r in plan:
                if name in out:
                    out[name] = r(out[name])
        except ValueError as exc:
            raise _refused_field(name) from exc
        return out

    return read


def _read_field(name: str, reader: _Reader, value: Any) -> Any:
    try:
        return reader(value)
    except ValueError as exc:
        raise _refused_field(name) from exc


def _refused_field(name: str) -> msgspec.ValidationError:
    # As msgspec names a field it refuses (Python's parser would quote the value).
    return msgspec.ValidationError(f"Invalid value - at `$.{name}`")
