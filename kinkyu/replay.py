"""``kinkyu replay``: the live pipeline's domain code, in-process, over archived JSON-lines logs.

Lines are put in event-time order through a reorder buffer as deep as the
lateness allowance (logs are nearly ordered; memory stays bounded by the
events of that span, not by the file). A line that is not a valid event is
counted and reported by line number and reason, never by content, and
optionally written to a dead-letter file with its reason; the run goes on.

Counts and times are held to the same bounds as live (kinkyu.core.bounds):
a line dated more than the allowed skew past replay's own clock (taken once,
when the replay starts) is rejected as ``future-timestamp``, as a live worker
would dead-letter it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO

import orjson

from kinkyu.core.bounds import DEFAULT_MAX_SKEW
from kinkyu.core.contract import ContractPolicy
from kinkyu.core.engine import DEFAULT_LATENESS, Engine, Output
from kinkyu.core.incident import Incident
from kinkyu.core.model import AccessEvent, IncidentEvent
from kinkyu.core.wire import decode_event
from kinkyu.exceptions import MalformedEventError, UnknownContractError

Progress = Callable[["ReplayStats"], None]


@dataclass
class ReplayStats:
    """Counts of a replay, for progress lines and the summary."""

    lines: int = 0
    events: int = 0
    malformed: int = 0
    late: int = 0
    findings: int = 0
    started: float = field(default_factory=time.monotonic)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Lines per second so far."""
        elapsed = time.monotonic() - self.started
        return self.lines / elapsed if elapsed > 0 else 0.0


@dataclass(slots=True)
class Rejected:
    """A line that is not a valid event: where, and why (no content)."""

    source: str
    line: int
    error: MalformedEventError
    raw: bytes


def _event_time(ev: AccessEvent | IncidentEvent) -> float:
    return ev.t if isinstance(ev, AccessEvent) else ev.ts.timestamp()


# (event time, line number, file name, event): line numbers make the first two unique within a file.
Located = tuple[float, int, str, AccessEvent | IncidentEvent]


def read_events(
    paths: Iterable[Path | str],
    stats: ReplayStats,
    rejected: Callable[[Rejected], None],
    contracts: Container[str],
    *,
    now: float,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> Iterator[Located]:
    """Decode every line of every file (``-`` is stdin), in file order; reject unknown contracts here.

    Rejecting them at read time keeps the line number in the report. ``now`` is the clock a line
    more than ``max_skew`` ahead of is judged ``future-timestamp`` by.
    """
    for path in paths:
        name = str(path)
        with _open(path) as fh:
            for number, raw in enumerate(fh, start=1):
                stats.lines += 1
                if not raw.strip():
                    continue
                try:
                    ev = decode_event(raw, now=now, max_skew=max_skew)
                    if ev.contract_id not in contracts:
                        raise UnknownContractError(ev.contract_id)  # reported like any bad line
                except MalformedEventError as exc:
                    rejected(Rejected(name, number, exc, raw))
                else:
                    yield (_event_time(ev), number, name, ev)


def _open(path: Path | str) -> IO[bytes]:
    if str(path) == "-":
        import sys  # noqa: PLC0415  # only stdin replays need it

        return sys.stdin.buffer
    return Path(path).open("rb")


def in_event_time_order(events: Iterable[Located], lateness: float, stats: ReplayStats) -> Iterator[Located]:
    """Re-order events whose times are out of order by at most ``lateness`` seconds.

    Later stragglers are still yielded (non-windowed rules count them), just
    not in order; they are counted as ``late``.
    """
    heap: list[Located] = []
    push, pop = heapq.heappush, heapq.heappop
    newest = float("-inf")
    released = float("-inf")
    for item in events:
        t = item[0]
        if t < released:
            stats.late += 1
        push(heap, item)
        newest = max(newest, t)
        horizon = newest - lateness
        while heap and heap[0][0] <= horizon:
            released = heap[0][0]
            yield pop(heap)
    while heap:
        yield pop(heap)


@dataclass
class ReplayResult:
    """What a replay found."""

    incidents: dict[str, Incident]
    stats: ReplayStats


def replay(
    policies: Mapping[str, ContractPolicy],
    paths: Iterable[Path | str],
    *,
    lateness: float = DEFAULT_LATENESS,
    rejected: Callable[[Rejected], None] | None = None,
    progress: Progress | None = None,
    progress_every: int = 250_000,
    now: float | None = None,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> ReplayResult:
    """Run every event through one engine in event-time order; return the incidents it opened.

    ``now`` (POSIX seconds; default: the wall clock as the replay starts) judges what is in the future.
    """
    judged_at = time.time() if now is None else now
    stats = ReplayStats()
    engine = Engine(policies, lateness=lateness)
    incidents: dict[str, Incident] = {}

    def on_rejected(r: Rejected) -> None:
        stats.malformed += 1
        stats.reasons[r.error.reason] = stats.reasons.get(r.error.reason, 0) + 1
        if rejected is not None:
            rejected(r)

    # Where each follow-up came from, by event id: one refused after it waited is reported at its own line.
    lines: dict[str, tuple[str, int]] = {}

    def collect(out: Output) -> None:
        stats.findings += len(out.findings)
        for refusal in out.refused:
            name, line = lines.get(refusal.event_id, ("", 0))
            on_rejected(Rejected(name, line, MalformedEventError(refusal.reason, refusal.detail), b""))
        for incident in out.incidents:
            incidents.setdefault(incident.incident_id, incident)
        for incident_id, entry in out.events:
            incident = incidents[incident_id]
            if not any(e is entry for e in incident.timeline):
                incident.timeline.append(entry)

    on_access, on_filed = engine.on_access, engine.on_incident_event
    # Each file is put in order on its own, then the files are merged by event time.
    streams = [
        in_event_time_order(
            read_events([path], stats, on_rejected, policies, now=judged_at, max_skew=max_skew), lateness, stats
        )
        for path in paths
    ]
    for _t, line, name, ev in heapq.merge(*streams, key=itemgetter(0)):
        stats.events += 1
        if isinstance(ev, IncidentEvent) and ev.incident_id is not None:
            lines[ev.event_id] = (name, line)
        try:
            out = on_access(ev) if type(ev) is AccessEvent else on_filed(ev)  # type: ignore[arg-type]  # by type
        except MalformedEventError as exc:
            on_rejected(Rejected(name, line, exc, b""))
            continue
        if out:
            collect(out)
        if progress is not None and stats.events % progress_every == 0:
            progress(stats)
    # Each contract's absences up to where its own events left its clock; no contract runs on another's.
    collect(engine.advance_each(engine.clocks))
    # No event is left to open what follow-ups still wait for.
    collect(engine.flush_pending())
    return ReplayResult(incidents, stats)


def incident_line(incident: Incident) -> bytes:
    """One line of ``kinkyu replay --json``."""
    return orjson.dumps(incident.to_json())
