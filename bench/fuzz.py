"""Kinkyu's fuzz run: 100,000 mutated events through a real worker on the embedded broker, verdicts counted.

What it does (bench/README.md has the figures):

1. Generates ``--events`` mutated events (default 100,000): the bench's benign
   access-log traffic (``traffic.EventGen``, heartbeats left out) and the sample
   filings, each changed by one to three mutations: fields deleted, types
   swapped, counts huge or negative (2^63, 2^64, 10^30, -1), NaN and Infinity
   tokens, times far past and far future, wrong offsets, nesting 1,000 to
   100,000 deep, strings of 16-300 KB, odd Unicode (controls, bidi overrides,
   lone surrogates escaped), invalid UTF-8 inside strings, truncation,
   duplicate keys, another JSON type, a BOM.
2. Judges every mutated event with the pure stage (``streams.detector.process_batch``
   on a scratch engine, with the clock the worker will use): refused (its
   reason) or accepted. It keeps only events whose verdict holds in any
   order and at any wall-clock time, so the worker's verdicts can be
   counted exactly: every refused one, and accepted access events that are
   still a ``read`` or ``search`` and fire no rule (accepted ones that would
   fire, change the action, or open an incident are drawn again; a
   future time is always a day or more ahead, never near the skew limit).
   The whole kept stream then runs once more through one engine, in order,
   to confirm the count.
3. Starts ``tansu``, an SMTP sink and ``kinkyu worker`` (runtime.bench_worker),
   produces the stream, waits until the worker has consumed it and the
   dead letters are in, then sends a planted breach (an unregistered account
   reading residents right after the stream) and ``--hostile-plants`` more
   (default 20) whose account, system, host, site, role, fields and attrs
   carry controls, bidi overrides, markup, template syntax or a resident's
   name; waits for each incident, the playbook stage's state of it, and the
   e-mail to settle.
4. Checks: the worker alive and ``/health`` 200; the detection stage's dead
   letters equal to the refused count, reason by reason; no record set aside
   by another stage; every planted incident opened (and no other) and taken
   up by the playbook stage; no control or bidi character in any e-mail; no
   error-level line in the worker's log. Prints the figures; exit 0 only if
   every check holds, 1 otherwise. Bounded: ``--timeout`` (default 900 s)
   ends the run, and every process it started is stopped, also on Ctrl-C.

Results go to ``bench/results/fuzz.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.bounds import DEFAULT_MAX_SKEW
from kinkyu.core.engine import Engine
from kinkyu.core.wire import decode_access, decode_incident
from kinkyu.exceptions import KinkyuError
from kinkyu.streams.broker import EmbeddedBroker, free_port
from kinkyu.streams.codec import DLQ_REASON, DLQ_STAGE
from kinkyu.streams.detector import BatchResult, TopicKind, process_batch
from kinkyu.streams.process import KinkyuProcess
from kinkyu.streams.settings import Topics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kafka_io import load_topic
from runtime import DEFAULT_CONTRACTS, SinkThread, bench_worker, machine
from traffic import DEFAULT_START, EventGen

REPO: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = REPO / "bench" / "results" / "fuzz.json"
SAMPLE_FILINGS: Final = REPO / "samples" / "events" / "incident-events.jsonl"
INCIDENT_SHARE: Final = 0.05  # of the events, mutated filings and follow-ups on incident-events
BENIGN_ACTIONS: Final = frozenset({"read", "search"})  # what the base traffic does; no windowed rule counts them
POLL: Final = 0.5
STALL: Final = 60.0  # seconds without a new dead letter before counting stops short of the expected number
PLANT_WAIT: Final = 120.0  # seconds the planted breach's incident may take


# -- a JSON writer for what json refuses to write ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text written verbatim: a token JSON does not allow, or nesting too deep to build as objects."""

    text: bytes


def emit(value: Any) -> bytes:
    """``value`` as JSON bytes; :class:`Raw` verbatim; big integers as written (orjson stops at 64 bits)."""
    if isinstance(value, Raw):
        return value.text
    if value is None or isinstance(value, bool):
        return b"null" if value is None else (b"true" if value else b"false")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return json.dumps(value).encode()  # NaN and Infinity as JavaScript writes them
    if isinstance(value, str):
        # ensure_ascii: a lone surrogate becomes an escape (\ud800), which the parsers must refuse.
        return json.dumps(value, ensure_ascii=True).encode()
    if isinstance(value, list):
        return b"[" + b",".join(emit(v) for v in value) + b"]"
    if isinstance(value, dict):
        return b"{" + b",".join(emit(str(k)) + b":" + emit(v) for k, v in value.items()) + b"}"
    raise TypeError(f"no JSON form for {type(value).__name__}")


# -- mutations -----------------------------------------------------------------------------------------------

ODD_TEXT: Final = (
    "\x00",
    "a\rb",
    "\r\n|---|",
    "\u202eevil",
    "\u2066x\u2069",
    "\ufeff",
    "\u2028",
    "\U0001f6a8",
    "e\u0301" * 30,
    "\ud800",
    "x\udfffx",
    "%s%n{0}",
    "<script>",
    "山田太郎 090-1234-5678",
)
HUGE_NUMBERS: Final = (2**63 - 1, 2**63, 2**64, 2**64 + 1, 10**30, -1, -(2**63) - 1, 1e308, 0.5, -0.0)
TOKENS: Final = (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"01", b"+1", b".5", b"0x10", b"1" * 400)
FAR_TIMES: Final = (
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59+09:00",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+09:00",
    "2038-01-19T03:14:08Z",
)
BAD_OFFSETS: Final = ("+24:00", "+09:60", "-00:00", "", "z", "+0900", "+23:59", "-23:59", "Z", "+09:00:00")
INVALID_UTF8: Final = (b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80")
ACTIONS: Final = ("read", "search", "export", "login_failed", "heartbeat", "delete", "upload", "bogus", "")


def _paths(obj: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in obj.items():
        out.append(prefix + key)
        if isinstance(value, dict) and value:
            out.extend(_paths(value, f"{prefix}{key}."))
    return out


def _node(obj: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    return node, last


class Mutator:
    """Deterministic mutations of valid events (``rng`` seeds them), as values and as bytes."""

    def __init__(self, rng: random.Random, now: float) -> None:
        self.rng = rng
        self.now = now
        self.value_ops = [
            (6, "delete", self._delete),
            (6, "type-swap", self._type_swap),
            (5, "huge-number", self._huge_number),
            (3, "bad-token", self._bad_token),
            (5, "far-time", self._far_time),
            (4, "bad-offset", self._bad_offset),
            (5, "odd-unicode", self._odd_unicode),
            (3, "action", self._action),
            (3, "unknown-field", self._unknown_field),
            (1, "deep", self._deep),
            (1, "huge-string", self._huge_string),
            (2, "huge-list", self._huge_list),
        ]
        self.byte_ops = [
            (3, "invalid-utf8", self._invalid_utf8),
            (3, "truncate", self._truncate),
            (1, "duplicate-key", self._duplicate_key),
            (1, "not-an-object", self._not_an_object),
            (1, "bom", lambda raw: b"\xef\xbb\xbf" + raw),
        ]
        self._value_weights = [w for w, _, _ in self.value_ops]
        self._byte_weights = [w for w, _, _ in self.byte_ops]

    def mutate(self, event: dict[str, Any]) -> tuple[bytes, list[str]]:
        """One to three mutations of ``event`` (changed in place): the bytes to send and the mutations' names."""
        rng = self.rng
        names = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if rng.random() < 0.85:
                _, name, op = rng.choices(self.value_ops, self._value_weights)[0]
                op(event)
                names.append(name)
        raw = emit(event)
        if not names or rng.random() < 0.12:
            _, name, byte_op = rng.choices(self.byte_ops, self._byte_weights)[0]
            raw = byte_op(raw)
            names.append(name)
        return raw, names

    # value mutations: each picks a field of the event

    def _field(self, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return _node(event, self.rng.choice(_paths(event) or ["event_id"]))

    def _delete(self, event: dict[str, Any]) -> None:
        node, key = self._field(event)
        node.pop(key, None)

    def _type_swap(self, event: dict[str, Any]) -> None:
        node, key = self._field(event)
        node[key] = self.rng.choice([None, True, 0, 1.5, "", "x", [], {}, ["a", 1], {"k": "v"}, Raw(b"[[]]")])

    def _huge_number(self, event: dict[str, Any]) -> None:
        target = self.rng.choice(["resource.records", "records_affected", "data.distinct_people", None])
        node, key = _node(event, target) if target else self._field(event)
        node[key] = self.rng.choice(HUGE_NUMBERS)

    def _bad_token(self, event: dict[str, Any]) -> None:
        node, key = self._field(event)
        node[key] = Raw(self.rng.choice(TOKENS))

    def _time_field(self, event: dict[str, Any]) -> str:
        return self.rng.choice([f for f in ("ts", "occurred_at", "discovered_at") if f in event] or ["ts"])

    def _far_time(self, event: dict[str, Any]) -> None:
        rng = self.rng
        choice = rng.random()
        if choice < 0.6:
            value = rng.choice(FAR_TIMES)
        else:
            # Ahead of the worker's clock by a day or more: never near the skew limit, whenever the run starts.
            ahead = timedelta(days=rng.choice((1, 2, 30, 365, 3650)), seconds=rng.randrange(86_400))
            value = (datetime.fromtimestamp(self.now, UTC) + ahead).isoformat()
        event[self._time_field(event)] = value

    def _bad_offset(self, event: dict[str, Any]) -> None:
        name = self._time_field(event)
        ts = event.get(name)
        if isinstance(ts, str) and len(ts) > 19:
            event[name] = ts[:19] + self.rng.choice(BAD_OFFSETS)

    def _odd_unicode(self, event: dict[str, Any]) -> None:
        strings = [p for p in _paths(event) if isinstance(_get(event, p), str)]
        if strings:
            node, key = _node(event, self.rng.choice(strings))
            text = self.rng.choice(ODD_TEXT)
            node[key] = text + node[key] if self.rng.random() < 0.5 else node[key] + text

    def _action(self, event: dict[str, Any]) -> None:
        event["action" if "action" in event else "kind"] = self.rng.choice(
            ACTIONS if "action" in event else ("leak", "update", "acknowledgement", "resolution", "bogus")
        )

    def _unknown_field(self, event: dict[str, Any]) -> None:
        event[f"x_{self.rng.randrange(1000)}"] = self.rng.choice([1, "two", [3], {"four": 4}, None])

    def _deep(self, event: dict[str, Any]) -> None:
        # Past orjson's 1,024 levels and msgspec's; 100,000 deep (up to 500 KB) now and then.
        depth = 100_000 if self.rng.random() < 0.02 else self.rng.choice((200, 1_000, 1_025, 5_000, 10_000))
        nest = b"[" * depth + b"]" * depth if self.rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
        event.setdefault("attrs", {})
        if not isinstance(event["attrs"], dict):
            event["attrs"] = {}
        event["attrs"]["deep"] = Raw(nest)

    def _huge_string(self, event: dict[str, Any]) -> None:
        strings = [p for p in _paths(event) if isinstance(_get(event, p), str)] or ["event_id"]
        node, key = _node(event, self.rng.choice(strings))
        size = 300_000 if self.rng.random() < 0.02 else self.rng.randrange(8_000, 32_000)
        node[key] = self.rng.choice("xyz山") * size

    def _huge_list(self, event: dict[str, Any]) -> None:
        target = self.rng.choice(["resource.fields", "resource.subject_ids", "data_items"])
        node, key = _node(event, target)
        node[key] = ["name"] * (5_000 if self.rng.random() < 0.05 else self.rng.choice((257, 300, 1_000)))

    # byte mutations: on the written event

    def _invalid_utf8(self, raw: bytes) -> bytes:
        at = raw.find(b'":"', self.rng.randrange(max(1, len(raw) // 2)))
        if at < 0:
            return raw + self.rng.choice(INVALID_UTF8)
        return raw[: at + 3] + self.rng.choice(INVALID_UTF8) + raw[at + 3 :]

    def _truncate(self, raw: bytes) -> bytes:
        return raw[: self.rng.randrange(len(raw))] if raw else raw

    def _duplicate_key(self, raw: bytes) -> bytes:
        if raw.startswith(b"{") and len(raw) > 2:
            return b'{"contract_id":"nobody-0000-000",' + raw[1:]
        return raw

    def _not_an_object(self, raw: bytes) -> bytes:
        return self.rng.choice([b"[" + raw + b"]", b"", b"   ", b"null", b"42", b'"' + raw[:20] + b'"'])


def _get(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


# -- judging: the pure stage decides what the worker must do ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Msg:
    """A message as process_batch reads it."""

    key: bytes | None
    value: bytes | None
    offset: int


@dataclass
class Plan:
    """The stream to send and what the worker must make of it."""

    access: list[tuple[bytes, bytes]] = field(default_factory=list)
    incidents: list[tuple[bytes, bytes]] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # reason -> count
    accepted: int = 0
    by_mutation: dict[str, Counter[str]] = field(default_factory=dict)  # mutation -> refused/accepted
    redrawn: Counter[str] = field(default_factory=Counter)  # why a mutated event was drawn again
    bugs: Counter[str] = field(default_factory=Counter)  # processing-error by exception type
    bytes: int = 0
    last_ts: str = DEFAULT_START


def _batch(engine: Engine, kind: TopicKind, values: list[bytes], now: float, skew: float) -> BatchResult:
    decode = partial(decode_access if kind == "access" else decode_incident, now=now, max_skew=skew)
    messages = [Msg(None, v, i) for i, v in enumerate(values)]
    return process_batch(engine, kind, messages, Topics("fuzz-"), source=kind, partition=0, decode=decode)


def generate(n: int, seed: int, now: float, skew: float, contracts: Path) -> Plan:
    """``n`` mutated events whose verdicts are known, and what the pure stage makes of them."""
    profiles = load_profiles([contracts])
    policies = compile_profiles(profiles)
    rng = random.Random(seed)  # a reproducible run, not a secret
    mutator = Mutator(rng, now)
    base = EventGen(profiles, seed=seed, start=datetime.fromisoformat(DEFAULT_START), plant_every=0)
    filings = [orjson.loads(line) for line in SAMPLE_FILINGS.read_bytes().splitlines() if line.strip()]
    plan = Plan()
    while len(plan.access) + len(plan.incidents) < n:
        if rng.random() < INCIDENT_SHARE:
            kind: TopicKind = "incident"
            event = json.loads(json.dumps(rng.choice(filings)))
            event["event_id"] = f"fuzz-filing-{uuid.UUID(int=rng.getrandbits(128))}"
            if rng.random() < 0.3:
                event.update(kind="update", incident_id=f"INC-20261120-{rng.randrange(10_000):04d}")
            key = str(event.get("contract_id", "")).encode()
        else:
            kind = "access"
            key, value, _ = next(base)
            event = orjson.loads(value)
            if event["action"] == "heartbeat":
                continue  # a watched system's silence would be an outage the wall clock decides
            plan.last_ts = event["ts"]
        raw, names = mutator.mutate(event)
        result = _batch(Engine(policies), kind, [raw], now, skew)
        if result.dead_letters:
            [dead] = result.dead_letters
            verdict = dead.reason
            if dead.error is not None:
                plan.bugs[dead.error] += 1
        elif kind == "incident":
            plan.redrawn["accepted filing (would open an incident)"] += 1
            continue
        elif result.output.findings or result.output.incidents:
            plan.redrawn["accepted, fires a rule"] += 1
            continue
        elif not _stays_benign(raw):
            plan.redrawn["accepted, no longer a read or search"] += 1
            continue
        else:
            verdict = "accepted"
        for name in names:
            plan.by_mutation.setdefault(name, Counter())["accepted" if verdict == "accepted" else "refused"] += 1
        if verdict == "accepted":
            plan.accepted += 1
        else:
            plan.refused[verdict] += 1
        plan.bytes += len(raw)
        (plan.access if kind == "access" else plan.incidents).append((key, raw))
    _confirm(plan, policies, now, skew)
    return plan


def _stays_benign(raw: bytes) -> bool:
    with contextlib.suppress(orjson.JSONDecodeError):
        obj = orjson.loads(raw)
        return isinstance(obj, dict) and obj.get("action") in BENIGN_ACTIONS
    return False


def _confirm(plan: Plan, policies: Any, now: float, skew: float) -> None:
    """The kept stream through one engine, in order: the same verdicts, and not one finding."""
    engine = Engine(policies)
    refused: Counter[str] = Counter()
    findings = 0
    for kind, stream in (("access", plan.access), ("incident", plan.incidents)):
        for start in range(0, len(stream), 5_000):
            result = _batch(engine, kind, [v for _, v in stream[start : start + 5_000]], now, skew)  # type: ignore[arg-type]  # kind is a TopicKind
            refused.update(d.reason for d in result.dead_letters)
            findings += len(result.output.findings)
    if refused != plan.refused or findings:
        raise SystemExit(f"fuzz: the stream judged in order differs (refused {dict(refused)}, findings {findings})")


# -- the run ---------------------------------------------------------------------------------------------------


class Deadline:
    """The run's time budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (0 when spent)."""
        return max(0.0, self.end - time.monotonic())

    def check(self, what: str) -> None:
        """Stop the run if the budget is spent."""
        if not self.left():
            raise TimeoutError(f"out of time while {what}")


def wait_consumed(worker: KinkyuProcess, counts: dict[str, int], deadline: Deadline) -> float:
    """Seconds until the worker's ``kinkyu_events_in_total`` reached ``counts`` for every input topic."""
    started = time.monotonic()
    while True:
        worker.check_running()  # raises with the log's tail if the worker died
        seen = {t: worker.metric(f'kinkyu_events_in_total{{topic="{t}"}}') for t in counts}
        done = all(got is not None and got >= counts[t] for t, got in seen.items())
        if done:
            return time.monotonic() - started
        deadline.check("waiting for the worker to consume the stream")
        time.sleep(POLL)


async def read_dead_letters(bootstrap: str, topic: str, expected: int, deadline: Deadline) -> list[dict[str, str]]:
    """The headers of every dead letter, once ``expected`` are there and a fetch comes back empty."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        last = time.monotonic()
        while deadline.left() and time.monotonic() - last < STALL:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                found.extend({k: v.decode(errors="replace") for k, v in (m.headers or ())} for m in msgs)
                last = time.monotonic()
            if len(found) >= expected and not batch:
                break
    finally:
        await consumer.stop()
    return found


# Accepted, yet written to hurt what comes after detection: the incident record, the playbook, the
# reports, the e-mail (controls, bidi overrides, markup, a resident's name, long text).
HOSTILE_VALUES: Final = (
    "u\u202eevil",
    "a\rb\r\n|x|",
    "x\x00\x1b]0;t\x07y",
    "<script>alert(1)</script>",
    "山田太郎 090-1234-5678",
    "\U0001f6a8" * 8,
    "e\u0301" * 40,
    "{{ 7*7 }}{% raw %}",
    "../../etc/passwd",
    "=cmd|' /C calc'!A0",
)


@dataclass
class Planted:
    """The planted breaches: the plain one, the hostile ones, and what became of them."""

    plain: str = ""
    hostile: list[str] = field(default_factory=list)
    incidents: dict[str, str] = field(default_factory=dict)  # event id -> incident id
    opened: int = 0
    runs: set[str] = field(default_factory=set)  # incident ids the playbook stage wrote a state for
    seconds: float = 0.0


def _breach(event_id: str, ts: str, actor: str, **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "ts": ts,
        "contract_id": "koganei-2026-017",
        "system": "juki-portal",
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": "read",
        "resource": {"dataset": "residents", "records": 3, "fields": ["name"]},
        "outcome": "success",
    }
    for dotted, value in changes.items():
        node, key = _node(event, dotted.replace("__", "."))
        node[key] = value
    return event


def breaches(ts: str, hostile: int, rng: random.Random) -> tuple[Planted, list[tuple[bytes, bytes]]]:
    """The plain planted breach and ``hostile`` more (odd strings everywhere a person reads), each its own incident."""
    at = (datetime.fromisoformat(ts) + timedelta(seconds=1)).isoformat()
    planted = Planted(plain=f"fuzz-planted-{uuid.UUID(int=rng.getrandbits(128))}")
    events = [_breach(planted.plain, at, "fuzz-intruder")]
    for k in range(hostile):
        value = HOSTILE_VALUES[k % len(HOSTILE_VALUES)]
        event_id = f"fuzz-hostile-{k}-{uuid.UUID(int=rng.getrandbits(128))}"
        events.append(
            _breach(
                event_id,
                at,
                f"intruder-{k}-{value}",
                system=f"sys-{value}",
                source__host=value,
                source__site=value,
                actor__role=value,
                resource__fields=["name", value],
                session_id=value,
                attrs={"note": value},
            )
        )
        planted.hostile.append(event_id)
    sent = []
    for event in events:
        raw = orjson.dumps(event)
        with contextlib.suppress(Exception):
            decode_access(raw, now=time.time())
            sent.append((b"koganei-2026-017", raw))
            continue
        if event["event_id"] in planted.hostile:
            planted.hostile.remove(event["event_id"])  # refused at the edge: not a breach to wait for
    return planted, sent


async def plant_breaches(
    bootstrap: str, topics: Topics, planted: Planted, sent: list[tuple[bytes, bytes]], deadline: Deadline
) -> None:
    """Send the planted breaches; wait for each one's incident and for the playbook stage's state of it."""
    started = time.monotonic()
    await load_topic(bootstrap, topics.access_log, sent)
    wanted = {planted.plain, *planted.hostile}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    opened: set[str] = set()
    try:
        tps = [TopicPartition(topics.incidents, 0), TopicPartition(topics.incident_state, 0)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while deadline.left() and time.monotonic() - started < PLANT_WAIT:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                for m in msgs:
                    record = orjson.loads(m.value) if m.value else {}
                    if tp.topic == topics.incident_state:
                        planted.runs.add(m.key.decode() if m.key else "")
                    elif record.get("change") == "opened":
                        opened.add(record["incident_id"])
                        for event_id in wanted.intersection(record.get("event_ids") or []):
                            planted.incidents[event_id] = record["incident_id"]
            if len(planted.incidents) == len(wanted) and set(planted.incidents.values()) <= planted.runs:
                break
    finally:
        await consumer.stop()
    planted.opened = len(opened)
    planted.seconds = time.monotonic() - started


# What no e-mail may carry, however an event spelled its strings: C0 controls but tab and newline, DEL,
# C1, bidi embeddings, overrides and isolates.
_CONTROLS: Final = frozenset(
    [chr(c) for c in range(32) if chr(c) not in "\t\n"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


def settle_mail(sink: SinkThread, deadline: Deadline) -> dict[str, Any]:
    """Wait until no e-mail has arrived for 10 s (at most PLANT_WAIT); what arrived, and which carry controls."""
    started = last_change = time.monotonic()
    count = -1
    while deadline.left() and time.monotonic() - started < PLANT_WAIT and time.monotonic() - last_change < 10:
        if len(sink.handler.messages) != count:
            count, last_change = len(sink.handler.messages), time.monotonic()
        time.sleep(POLL)
    flagged = []
    for received in list(sink.handler.messages):
        mail = message_from_bytes(received.raw, policy=email_policy.default)
        texts = [str(v) for _, v in mail.items()]
        texts += [str(part.get_content()) for part in mail.walk() if part.get_content_maintype() == "text"]
        bad = sorted({f"U+{ord(c):04X}" for text in texts for c in text if c in _CONTROLS})
        if bad:
            flagged.append({"subject": str(mail.get("Subject", ""))[:80], "characters": bad})
    return {"received": len(sink.handler.messages), "with_controls": flagged}


def log_lines(path: Path) -> tuple[list[str], Counter[str]]:
    """The worker log's error-level lines (JSON level error/critical, or a bare traceback), and messages by level."""
    errors: list[str] = []
    levels: Counter[str] = Counter()
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode(errors="replace").rstrip()
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                if "Traceback" in line or "ERROR" in line or "CRITICAL" in line:
                    errors.append(line[:300])
                continue
            if not isinstance(entry, dict):
                continue
            level = str(entry.get("level", "?"))
            levels[f"{level}: {entry.get('msg')}"] += 1
            if level in {"error", "critical"}:
                errors.append(line[:300])
    return errors, levels


def run(args: argparse.Namespace, tmp: Path, res: dict[str, Any]) -> bool:
    """One fuzz run; True when every check holds."""
    deadline = Deadline(args.timeout)
    now = time.time()
    started = time.perf_counter()
    plan = generate(args.events, args.seed, now, DEFAULT_MAX_SKEW, args.contracts)
    res["generate_s"] = round(time.perf_counter() - started, 1)
    refused = sum(plan.refused.values())
    res["plan"] = {
        "events": len(plan.access) + len(plan.incidents),
        "access_log": len(plan.access),
        "incident_events": len(plan.incidents),
        "bytes": plan.bytes,
        "refused": refused,
        "accepted": plan.accepted,
        "refused_by_reason": dict(plan.refused.most_common()),
        "processing_errors_by_type": dict(plan.bugs),
        "redrawn": dict(plan.redrawn),
        "by_mutation": {k: dict(v) for k, v in sorted(plan.by_mutation.items())},
    }
    print(
        f"-- {res['plan']['events']:,} mutated events ({plan.bytes / 1e6:.1f} MB): {refused:,} must be refused, "
        f"{plan.accepted:,} accepted (judged in {res['generate_s']} s)",
        flush=True,
    )
    prefix = f"fuzz{uuid.uuid4().hex[:6]}-"
    topics = Topics(prefix)
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(log_path=tmp / "broker.log"))
        sink = SinkThread().start()
        stack.callback(sink.stop)
        worker = bench_worker(
            broker.bootstrap,
            prefix,
            args.contracts,
            tmp,
            extra_env={
                "KINKYU_SMTP_HOST": "127.0.0.1",
                "KINKYU_SMTP_PORT": str(sink.port),
                "KINKYU_SMTP_SECURITY": "none",
                "KINKYU_SMTP_FROM_ADDRESS": "Kinkyu <kinkyu@kinkyu.fuzz>",
                "KINKYU_NOTIFY_ACK_PORT": str(free_port()),
                "KINKYU_NOTIFY_ACK_SECRET": secrets.token_urlsafe(32),
                **dict(item.split("=", 1) for item in args.worker_env),
            },
        ).start()
        stack.callback(worker.stop)
        res["time_to_healthy_s"] = round(worker.wait_healthy(timeout=min(120.0, deadline.left())), 1)
        t = time.perf_counter()
        asyncio.run(load_topic(broker.bootstrap, topics.access_log, plan.access))
        asyncio.run(load_topic(broker.bootstrap, topics.incident_events, plan.incidents))
        res["produce_s"] = round(time.perf_counter() - t, 1)
        consumed = wait_consumed(
            worker, {topics.access_log: len(plan.access), topics.incident_events: len(plan.incidents)}, deadline
        )
        res["consume_s"] = round(consumed + res["produce_s"], 1)
        res["events_per_s"] = round(res["plan"]["events"] / res["consume_s"])
        letters = asyncio.run(read_dead_letters(broker.bootstrap, topics.dead_letters, refused, deadline))
        detector = Counter(h.get(DLQ_REASON, "?") for h in letters if DLQ_STAGE not in h)
        others = Counter(f"{h.get(DLQ_STAGE)}:{h.get(DLQ_REASON)}" for h in letters if DLQ_STAGE in h)
        planted, sent = breaches(plan.last_ts, args.hostile_plants, random.Random(args.seed))
        asyncio.run(plant_breaches(broker.bootstrap, topics, planted, sent, deadline))
        mails = settle_mail(sink, deadline)
        status, _ = worker.get("/health")
        alive = worker.proc is not None and worker.proc.poll() is None
        res["worker_peak_rss_mib"] = worker.peak_rss_mib()
        errors, levels = log_lines(worker.log_path)
    res["dead_letters"] = {"detector": sum(detector.values()), "by_reason": dict(detector.most_common())}
    res["set_aside_by_other_stages"] = dict(others)
    res["planted"] = {
        "plain_incident": planted.incidents.get(planted.plain),
        "hostile_sent": len(planted.hostile),
        "hostile_found": sum(e in planted.incidents for e in planted.hostile),
        "incidents_opened": planted.opened,
        "playbook_states": len(set(planted.incidents.values()) & planted.runs),
        "seconds": round(planted.seconds, 2),
    }
    res["health"] = {"alive": alive, "status": status}
    res["mail"] = mails
    res["log"] = {"error_lines": len(errors), "first_errors": errors[:5], "by_level": dict(levels.most_common(12))}
    checks = {
        "worker alive and /health 200": alive and status == 200,
        "dead letters = refused, reason by reason": detector == plan.refused,
        "nothing set aside by another stage": not others,
        "planted breach found": planted.plain in planted.incidents,
        "every hostile breach opened its incident": all(e in planted.incidents for e in planted.hostile),
        "the playbook stage took up each of them": set(planted.incidents.values()) <= planted.runs,
        "no other incident opened": planted.opened == len(planted.incidents),
        "no error-level log line": not errors,
        "no control or bidi character in any e-mail": not mails["with_controls"],
    }
    res["checks"] = checks
    return all(checks.values())


def report(res: dict[str, Any]) -> None:
    """The figures, for a person."""
    plan = res["plan"]
    print(f"\n== fuzz: {plan['events']:,} mutated events, seed {res['args']['seed']}")
    print(
        f"   judged refused {plan['refused']:,} / accepted {plan['accepted']:,}; by reason {plan['refused_by_reason']}"
    )
    if plan["processing_errors_by_type"]:
        print(f"   refused as processing-error (a bug) by type: {plan['processing_errors_by_type']}")
    print(f"   redrawn (verdict not countable): {plan['redrawn']}")
    if "dead_letters" in res:
        print(
            f"   worker: healthy after {res['time_to_healthy_s']} s; produce {res['produce_s']} s, "
            f"consumed in {res['consume_s']} s ({res['events_per_s']:,} ev/s); "
            f"peak RSS {res['worker_peak_rss_mib']:.0f} MiB"
        )
        print(
            f"   dead letters (detection stage): {res['dead_letters']['detector']:,} {res['dead_letters']['by_reason']}"
        )
        print(f"   set aside by other stages: {res['set_aside_by_other_stages'] or 'none'}")
        print(f"   planted breaches: {res['planted']}")
        print(f"   e-mail: {res['mail']['received']} received; with controls: {res['mail']['with_controls'][:3]}")
        print(f"   log: {res['log']['error_lines']} error-level lines; {res['log']['first_errors'][:2]}")
        for name, ok in res["checks"].items():
            print(f"   [{'ok' if ok else 'FAIL'}] {name}")
    print(f"   total {res.get('total_s', '?')} s", flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=100_000, help="mutated events to send (default 100,000)")
    p.add_argument("--seed", type=int, default=12, help="mutation seed (default 12: issue #12)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds the whole run may take (default 900)")
    p.add_argument("--contracts", type=Path, default=DEFAULT_CONTRACTS, help="contract profiles folder")
    p.add_argument(
        "--hostile-plants",
        type=int,
        default=20,
        help="breaches sent after the plain one with odd strings wherever a person reads them (default 20)",
    )
    p.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the worker only (repeatable); PYTHONSAFEPATH=1 and PYTHONPATH=<another checkout> "
        "fuzz that checkout's worker with this stream",
    )
    p.add_argument("--judge-only", action="store_true", help="generate and judge the stream; start nothing")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (worker and broker logs)")
    return p


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run, report, write results; exit 0 when every check holds."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    res: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "when": datetime.now(UTC).isoformat()}
    res["args"]["seed"] = args.seed
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="kinkyu-fuzz-"))
    ok = False
    try:
        if args.judge_only:
            plan = generate(args.events, args.seed, time.time(), DEFAULT_MAX_SKEW, args.contracts)
            res["plan"] = {
                "events": len(plan.access) + len(plan.incidents),
                "refused": sum(plan.refused.values()),
                "accepted": plan.accepted,
                "refused_by_reason": dict(plan.refused.most_common()),
                "processing_errors_by_type": dict(plan.bugs),
                "redrawn": dict(plan.redrawn),
            }
            ok = not plan.bugs
        else:
            ok = run(args, tmp, res)
    except (TimeoutError, RuntimeError, KinkyuError, KeyboardInterrupt) as exc:
        res["error"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
        print(f"fuzz: stopped: {res['error']}", file=sys.stderr)
    finally:
        res["total_s"] = round(time.perf_counter() - started, 1)
        res["machine"] = machine()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2, default=str))
        if "plan" in res:
            report(res)
        if args.keep:
            print(f"   logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
