"""Hypothesis strategies for input written by someone who wants Kinkyu to stop watching.

Shared by the ``test_hostile_*`` property tests. Values are built as Python
data and written by :func:`emit`, a JSON writer that can also say what
``json`` and ``orjson`` refuse to: integers past 64 bits, ``NaN`` and
``Infinity`` tokens, lone surrogates (escaped, or raw as invalid UTF-8), raw
invalid bytes inside a string, nesting ten thousand levels deep, truncation.
Every event starts from a valid one (shared/spec/events.md's shape, the
sample contracts) so that most mutations reach the engine, not just the parser.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kinkyu.core.ids import FILED, make_incident_id
from kinkyu.core.model import ACTIONS, FOLLOW_UP_KINDS, INCIDENT_KINDS

# Deterministic and database-free, so CI runs the same examples every time and writes nothing;
# KINKYU_HOSTILE_SCALE=20 runs twenty times the examples when hunting (the default keeps each file to seconds).
SCALE = float(os.environ.get("KINKYU_HOSTILE_SCALE", "1"))
HOSTILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def examples(n: int) -> settings:
    """:data:`HOSTILE` with ``n`` examples (times KINKYU_HOSTILE_SCALE, which scales a run up when hunting)."""
    return settings(HOSTILE, max_examples=max(1, round(n * SCALE)))


# Bugs hostile input still finds, by exception type, each pinned by a strict-xfail test until its owner
# fixes it. The properties tolerate exactly these as a stage's "processing-error" (a bug: an error-level
# log line), so that everything else they find still fails them; when the pinned test starts passing,
# strict xfail fails it, and its entry here goes with its xfail mark.
OPEN_BUGS: dict[str, str] = {}

KOGANEI = "koganei-2026-017"
CHIBA = "chiba-2026-021"
# A value that must never come back out in a header, a log line or an error text.
PLANTED = "山田太郎090-1234-5678"


@dataclass(frozen=True, slots=True, repr=False)
class Raw:
    """JSON text written verbatim (a token json refuses to write, or a deliberately broken one)."""

    text: bytes

    def __repr__(self) -> str:
        return f"Raw({self.text[:60]!r}{'…' if len(self.text) > 60 else ''} [{len(self.text):,} bytes])"


@dataclass(frozen=True, slots=True)
class Escaped:
    """A string written with ``\\uXXXX`` escapes only (so a lone surrogate is an escape, not bytes)."""

    text: str


def emit(value: Any) -> bytes:
    """``value`` as JSON bytes; strings raw UTF-8 (lone surrogates as the bytes ``surrogatepass`` gives)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Escaped):
        return json.dumps(value.text, ensure_ascii=True).encode()
    if value is None:
        return b"null"
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if value != value:  # noqa: PLR0124  # NaN is the one value unequal to itself
            return b"NaN"
        if value in {float("inf"), float("-inf")}:
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if isinstance(value, list | tuple):
        return b"[" + b",".join(emit(v) for v in value) + b"]"
    if isinstance(value, dict):
        return b"{" + b",".join(emit(str(k)) + b":" + emit(v) for k, v in value.items()) + b"}"
    raise TypeError(f"emit: no JSON form for {type(value).__name__}")


class Blob(bytes):
    """Bytes that print short: a failing example may be megabytes, and the report should still fit a screen."""

    __slots__ = ()

    def __repr__(self) -> str:
        head = bytes(self[:160])
        return f"Blob({head!r}{'…' if len(self) > len(head) else ''} [{len(self):,} bytes])"


def deep(depth: int, *, kind: str = "list") -> Raw:
    """Nesting ``depth`` levels deep, written without recursion."""
    if kind == "list":
        return Raw(b"[" * depth + b"]" * depth)
    return Raw(b'{"a":' * depth + b"1" + b"}" * depth)


# -- scalars ------------------------------------------------------------------------------------

# Text a person or a shipper should never send: controls, bidi overrides, BOMs, line separators,
# lone surrogates (raw and escaped), invalid UTF-8 inside the quotes, a resident's name and number.
NASTY_TEXT: tuple[Any, ...] = (
    "",
    " ",
    "\x00",
    "\r",
    "a\rb",
    "\r\n|---|",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\u2066x\u2069",
    "\ufeff",
    "\u2028\u2029",
    "\U0001f6a8" * 3,
    "e\u0301" * 50,
    "\ud800",
    "\udfff",
    "a\udc80b",
    Escaped("\ud800"),
    Escaped("\udbff\udbff"),
    Escaped("x\udfffx"),
    Raw(b'"\xff\xfe"'),
    Raw(b'"\xc0\xaf"'),
    Raw(b'"\xed\xa0\x80"'),
    Raw(b'"\\u00"'),
    Raw(b'"\\x41"'),
    "%s%s%n{0}{{}}",
    "'; DROP TABLE incidents; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    PLANTED,
    f"contract {PLANTED}",
)

# (unit, times): built when drawn, so no strategy's repr holds 70 kB.
HUGE_TEXT: tuple[tuple[str, int], ...] = (("x", 70_000), (PLANTED, 4_000), ("\u202e", 10_000))

NASTY_NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    2**64 + 1,
    -(2**63) - 1,
    10**400,
    -(10**400),
    0.5,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    Raw(b"1e400"),
    Raw(b"-1e400"),
    Raw(b"1E-400"),
    Raw(b"01"),
    Raw(b"0x10"),
    Raw(b"+1"),
    Raw(b".5"),
    Raw(b"1."),
    Raw(b"NaN"),
    Raw(b"-Infinity"),
    Raw(b"1" * 5000),
)

DEEP: tuple[Raw, ...] = (
    deep(64),
    deep(1_000),
    deep(1_025),
    deep(10_000),
    deep(10_000, kind="object"),
    deep(100_000),
)


@st.composite
def weighted(draw: st.DrawFn, *options: tuple[int, st.SearchStrategy[Any]]) -> Any:
    """One of ``options`` drawn in proportion to its weight.

    Most of a hostile event must still parse, or every example ends at the JSON parser
    and nothing behind it is ever tried: the breaking choices get the small weights.
    """
    pick = draw(st.integers(min_value=0, max_value=sum(w for w, _ in options) - 1))
    for weight, strategy in options:
        if pick < weight:
            return draw(strategy)
        pick -= weight
    raise AssertionError(pick)


def text() -> st.SearchStrategy[Any]:
    """Odd text: any code point (surrogates too), the nasty samples, now and then a huge one."""
    return weighted(
        (6, st.text(max_size=30)),
        (2, st.text(st.characters(codec=None, categories=["Cc", "Cf", "Co", "Cn", "Zl", "Zp"]), max_size=12)),
        (4, st.sampled_from(NASTY_TEXT)),
        (1, st.text(st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=3)),
        (1, st.sampled_from(HUGE_TEXT).map(lambda unit: unit[0] * unit[1])),
    )


def number() -> st.SearchStrategy[Any]:
    """Counts that are not counts: huge, negative, fractional, NaN, tokens JSON does not allow."""
    return weighted(
        (3, st.integers()),
        (3, st.sampled_from(NASTY_NUMBERS)),
        (1, st.floats(allow_nan=True, allow_infinity=True)),
    )


_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)) if m else UTC
)
NASTY_TIMES: tuple[str, ...] = (
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59+09:00",
    "2038-01-19T03:14:08Z",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999+09:00",
    "2026-11-21T09:15:02",
    "2026-11-21",
    "2026-11-21T24:00:00+09:00",
    "2026-11-21T23:59:60+09:00",
    "2026-02-30T10:00:00+09:00",
    "2026-11-21T09:15:02.123456789+09:00",
    "2026-11-21T09:15:02+24:00",
    "2026-11-21T09:15:02-00:00",
    "2026-11-21t09:15:02z",
    "+12026-11-21T09:15:02Z",
    "1795220102",
    "",
)


def timestamp() -> st.SearchStrategy[Any]:
    """Times far past and far future, at every offset, in odd spellings, or not times at all."""
    return st.one_of(
        st.builds(
            lambda dt, tz, sep: dt.replace(tzinfo=tz).isoformat(sep=sep),
            st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # noqa: DTZ001  # naive on purpose: the offset is drawn apart
            _OFFSETS,
            st.sampled_from(["T", " ", "t"]),
        ),
        st.sampled_from(NASTY_TIMES),
        number(),
    )


def scalar() -> st.SearchStrategy[Any]:
    """Any value of the wrong type: null, booleans, numbers, text, deep nesting, empty containers."""
    return weighted(
        (2, st.none()),
        (2, st.booleans()),
        (4, number()),
        (6, text()),
        (1, st.sampled_from(DEEP)),
        (1, st.just([])),
        (1, st.just({})),
        (2, st.lists(st.text(max_size=8), max_size=4)),
        (2, st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
    )


def json_value() -> st.SearchStrategy[Any]:
    """Arbitrary JSON-ish values, nested a few levels, with the hostile scalars at the leaves."""
    return st.recursive(
        scalar(),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
        max_leaves=12,
    )


# -- events -------------------------------------------------------------------------------------

# Valid events of the sample contracts, in the past of any clock that runs these tests, each
# reaching a different part of the engine (no rule, unregistered actor, failed logins, export, outage).
BASE_TS = "2026-11-20T10:00:00+09:00"


def access_bases() -> list[dict[str, Any]]:
    """Valid access-log events (fresh copies)."""
    read = {
        "event_id": "base-read",
        "ts": BASE_TS,
        "contract_id": KOGANEI,
        "system": "juki-portal",
        "actor": {"id": "u1042", "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": "read",
        "resource": {"dataset": "residents", "records": 5, "fields": ["name", "address"]},
        "outcome": "success",
    }
    stranger = {**read, "event_id": "base-stranger", "actor": {"id": "u9999", "org": "acme", "role": "operator"}}
    export = {
        **read,
        "event_id": "base-export",
        "action": "export",
        "resource": {"dataset": "residents", "records": 1200, "fields": ["name", "address", "birthdate"]},
        "session_id": "s-88a1",
        "destination": None,
        "encrypted": None,
        "attrs": {},
    }
    failed = {**read, "event_id": "base-failed", "action": "login_failed", "outcome": "failure"}
    del failed["resource"]
    beat = {
        "event_id": "base-beat",
        "ts": BASE_TS,
        "contract_id": CHIBA,
        "system": "juki-portal",
        "actor": {"id": "svc-juki-portal", "org": "acme", "role": "system"},
        "source": {"ip": "10.30.0.3"},
        "action": "heartbeat",
        "outcome": "success",
    }
    subjects = {
        **stranger,
        "event_id": "base-subjects",
        "resource": {"dataset": "residents", "records": 3, "subject_ids": ["s1", "s2", "s3"], "fields": ["name"]},
    }
    return [read, stranger, export, failed, beat, subjects]


def incident_bases() -> list[dict[str, Any]]:
    """Valid incident events: an opening filing, and follow-ups of the incident it opens."""
    filing = {
        "event_id": "base-filing",
        "ts": BASE_TS,
        "contract_id": KOGANEI,
        "kind": "misdelivery",
        "incident_id": None,
        "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
        "summary": "Notice for 3 residents mailed to the wrong address",
        "occurred_at": "2026-11-19T16:00:00+09:00",
        "discovered_at": "2026-11-20T09:40:00+09:00",
        "location": "Acme print centre, Fuchu",
        "records_affected": 3,
        "data_items": ["name", "address"],
        "details": "free text, may contain personal information",
    }
    # The id the filing opens on an empty engine: its content's (day of discovery, kind, event id).
    opened = make_incident_id(KOGANEI, "20261120", FILED, ("misdelivery", "base-filing"), lambda _: False)
    update = {
        "event_id": "base-update",
        "ts": BASE_TS,
        "contract_id": KOGANEI,
        "kind": "update",
        "incident_id": opened,
        "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
        "data": {"distinct_people": 3, "encrypted": False, "datasets": ["residents"], "triage": "confirm"},
    }
    ack = {**update, "event_id": "base-ack", "kind": "acknowledgement", "data": {"step": "first_report"}}
    return [filing, update, ack]


ACCESS_PATHS: tuple[str, ...] = (
    "event_id",
    "ts",
    "contract_id",
    "system",
    "actor",
    "actor.id",
    "actor.org",
    "actor.role",
    "source",
    "source.ip",
    "source.host",
    "source.site",
    "action",
    "resource",
    "resource.dataset",
    "resource.records",
    "resource.subject_ids",
    "resource.fields",
    "outcome",
    "session_id",
    "destination",
    "encrypted",
    "attrs",
    "attrs.x",
    "unknown_field",
)
INCIDENT_PATHS: tuple[str, ...] = (
    "event_id",
    "ts",
    "contract_id",
    "kind",
    "incident_id",
    "reported_by",
    "reported_by.id",
    "summary",
    "occurred_at",
    "discovered_at",
    "location",
    "records_affected",
    "data_items",
    "details",
    "data",
    "data.distinct_people",
    "data.encrypted",
    "data.datasets",
    "data.improper_purpose",
    "data.ppc_override",
    "data.party",
    "data.reason",
    "data.triage",
    "data.step",
    "data.task_id",
    "data.title",
    "data.within",
    "unknown_field",
)
_TIME_FIELDS = frozenset({"ts", "occurred_at", "discovered_at"})
_COUNT_FIELDS = frozenset({"resource.records", "records_affected", "data.distinct_people"})


def _value_for(path: str) -> st.SearchStrategy[Any]:
    """A replacement for ``path``: mostly of its own kind (a time, a count, a code), else anything."""
    own: st.SearchStrategy[Any]
    if path in _TIME_FIELDS:
        own = timestamp()
    elif path in _COUNT_FIELDS:
        own = number()
    elif path == "action":
        own = st.sampled_from(sorted(ACTIONS))
    elif path == "kind":
        own = st.sampled_from(sorted(INCIDENT_KINDS | FOLLOW_UP_KINDS))
    elif path == "contract_id":
        own = st.one_of(st.sampled_from([KOGANEI, CHIBA, "toyota-2026-012"]), text())
    elif path in {"resource.fields", "resource.subject_ids", "data_items", "data.datasets"}:
        own = st.one_of(
            st.lists(st.one_of(st.sampled_from(["name", "address", "my_number", "card_number"]), text()), max_size=5),
            st.integers(min_value=257, max_value=300).map(lambda n: ["name"] * n),
            st.integers(min_value=2_000, max_value=2_001).map(lambda n: [f"s{k}" for k in range(n)]),
        )
    elif path.endswith("id"):
        own = st.one_of(text(), st.sampled_from(["INC-20261120-0001", "INC-99999999-9999", "u1042", "u9999"]))
    else:
        own = text()
    return weighted((4, own), (1, json_value()))


def _set(obj: dict[str, Any], path: str, value: Any, *, delete: bool) -> None:
    *parents, last = path.split(".")
    node: Any = obj
    for key in parents:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    if delete:
        node.pop(last, None)
    else:
        node[last] = value


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]], paths: tuple[str, ...]) -> dict[str, Any]:
    """A valid base event with up to four fields deleted or replaced by hostile values."""
    event: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(bases))))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        path = draw(st.sampled_from(paths))
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            _set(event, path, None, delete=True)
        else:
            _set(event, path, draw(_value_for(path)), delete=False)
    if draw(st.booleans()):
        # Most events need an id of their own: the engine recognises a redelivered id and skips it.
        event["event_id"] = f"ev-{draw(st.integers(min_value=0, max_value=10**6))}"
    return event


def wire(event_strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Events as the bytes a topic carries: whole, truncated, padded, or as another JSON type."""
    whole = event_strategy.map(emit)
    return weighted(
        (16, whole),
        (1, st.tuples(whole, st.floats(min_value=0, max_value=1)).map(lambda p: p[0][: int(len(p[0]) * p[1])])),
        (1, whole.map(lambda b: b + b" trailing")),
        (1, whole.map(lambda b: b"[" + b + b"]")),
        (1, whole.map(lambda b: b"\xef\xbb\xbf" + b)),
    ).map(Blob)


def access_wire() -> st.SearchStrategy[bytes]:
    """``access-log`` messages: mutated sample events as bytes."""
    return wire(mutated(access_bases(), ACCESS_PATHS))


def incident_wire() -> st.SearchStrategy[bytes]:
    """``incident-events`` messages: mutated filings and follow-ups as bytes."""
    return wire(mutated(incident_bases(), INCIDENT_PATHS))


def any_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and arbitrary JSON documents of any type."""
    return st.one_of(st.binary(max_size=512), json_value().map(emit), st.sampled_from(DEEP).map(emit)).map(Blob)
