"""The bench's traffic: benign access-log events that no rule fires on, with planted breaches, and data files of them.

:class:`EventGen` makes the bench's own events (see bench/README.md, "The data"); :func:`write_bench_files`
and :func:`write_sim_files` write N (and 2N) of them, or ``kinkyu.sim``'s, as JSON lines.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from heapq import heappop, heappush
from pathlib import Path
from typing import Any, Final

import orjson

from kinkyu.core.calendar import work_window
from kinkyu.core.contract import ContractProfile
from kinkyu.core.model import JST

DEFAULT_START: Final = "2026-11-20T08:30:00+09:00"  # a Friday, at the start of work hours

Msg = tuple[bytes, bytes, str | None]  # key, value, event id if planted


_JST_MS: Final = 9 * 3_600_000
_DAY_MS: Final = 86_400_000
_EPOCH: Final = date(1970, 1, 1)
SYSTEMS: Final = ("juki-portal", "file-gateway")


@lru_cache(maxsize=4096)
def _day_text(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).isoformat()


def _ts(t_ms: int) -> str:
    """RFC 3339 in Japan time with milliseconds, e.g. ``2026-11-20T09:15:02.123+09:00``."""
    day, ms = divmod(t_ms + _JST_MS, _DAY_MS)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{_day_text(day)}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}+09:00"


@dataclass(frozen=True, slots=True)
class _Staff:
    actor: dict[str, str | None]
    sources: tuple[dict[str, str], ...]


@dataclass(slots=True)
class _Shape:
    """What benign traffic of one contract looks like, read off its profile."""

    contract_id: str
    org: str
    staff: list[_Staff]
    sources: tuple[dict[str, str], ...]  # inside the site networks
    dataset: str
    field_sets: list[list[str]]
    beat_sources: dict[str, dict[str, str]]
    beat_actors: dict[str, dict[str, str]]
    beat_every_ms: int
    key: bytes
    profile: ContractProfile


def _shape(profile: ContractProfile, index: int) -> _Shape:
    nets = [(site.id, net) for site in profile.sites for net in site.networks]
    sources: list[dict[str, str]] = []
    for k in range(16):
        if nets:
            site_id, net = nets[k % len(nets)]
            ip = str(net[(k * 37) % max(1, net.num_addresses - 2) + 1]) if net.num_addresses > 2 else str(net[0])
            sources.append({"ip": ip, "host": f"pc-{index:02d}{k:02d}", "site": site_id})
        else:
            sources.append({"ip": f"10.250.{index}.{k + 10}", "host": f"pc-{index:02d}{k:02d}"})
    org = profile.contractor.org
    staff = [
        _Staff(
            {"id": s.id, "org": org, "role": "operator"},
            tuple(sources[(j * 3 + i) % len(sources)] for i in range(3)),
        )
        for j, s in enumerate(profile.staff)
        if s.revoked_at is None
    ]
    if profile.datasets:
        dataset, spec = next(iter(profile.datasets.items()))
        fields = list(spec.fields) or ["name"]
    else:
        dataset, fields = "residents", ["name", "address"]
    field_sets = [fields[k : k + 2] for k in range(max(1, len(fields) - 1))] + [fields[:1], fields[:3]]
    gap_ms = int(profile.thresholds.heartbeat_gap.total_seconds() * 1000)
    beat_sources = {
        system: {
            "ip": sources[k]["ip"],
            "host": system,
            **({"site": sources[k]["site"]} if "site" in sources[k] else {}),
        }
        for k, system in enumerate(SYSTEMS)
    }
    return _Shape(
        contract_id=profile.contract_id,
        org=org,
        staff=staff,
        sources=tuple(sources),
        dataset=dataset,
        field_sets=field_sets,
        beat_sources=beat_sources,
        beat_actors={system: {"id": f"svc-{system}", "org": org, "role": "system"} for system in SYSTEMS},
        key=profile.contract_id.encode(),
        beat_every_ms=max(1000, min(60_000, gap_ms // 3)),
        profile=profile,
    )


class EventGen:
    """Benign access-log traffic that no rule fires on, with unregistered actors planted in it.

    Registered, unrevoked staff of every contract read and search the
    contract's dataset (within its fields) from its site networks, inside
    the work hours every contract shares, on working days (Japanese public
    holidays off), from ``start`` on; every system of every contract sends a
    heartbeat at a steady interval day and night, so no outage is seen.
    Every ``plant_every``-th event is instead a read by an account nobody
    registered, a new one each time, so each is its own incident
    (``unregistered-actor``). ``pace`` is events per second of event time.
    The stream is deterministic, and a longer run starts with a shorter one.
    """

    def __init__(
        self,
        profiles: dict[str, ContractProfile],
        *,
        seed: int,
        start: datetime,
        plant_every: int,
        pace: float = 25.0,
        tag: str = "x",
    ) -> None:
        self.shapes = [_shape(profiles[cid], k) for k, cid in enumerate(sorted(profiles))]
        self.active = [s for s in self.shapes if s.staff]
        if not self.active:
            raise SystemExit("bench: no contract has registered, unrevoked staff to make benign traffic with")
        self.rng = random.Random(seed)  # a reproducible workload, not a secret
        self.plant_every = plant_every
        self.step_ms = max(1, round(1000 / pace))
        self.tag = tag
        self.t_ms = round(start.timestamp() * 1000)
        self.window = self._window_from(self.t_ms)
        self.t_ms = max(self.t_ms, self.window[0])
        self.beats: list[tuple[int, int, str]] = []
        for k, shape in enumerate(self.shapes):
            for j, system in enumerate(SYSTEMS):
                offset = (k * len(SYSTEMS) + j) * 997 % shape.beat_every_ms
                heappush(self.beats, (self.t_ms + offset, k, system))
        self.accesses = 0
        self.planted = 0

    def _window_from(self, t_ms: int) -> tuple[int, int]:
        """The next span of work hours every contract shares that ends after ``t_ms``, in epoch ms."""
        day = datetime.fromtimestamp(t_ms / 1000, JST).date()
        for _ in range(60):
            lo = datetime.combine(day, datetime.min.time(), JST).timestamp()
            hi = lo + 86400
            for shape in self.active:
                profile = shape.profile
                if not profile.starts <= day <= profile.ends:
                    hi = lo  # outside the contract: no benign work that day
                    break
                if profile.work_hours is not None:
                    win = work_window(profile.work_hours, day)
                    if win is None:
                        hi = lo
                        break
                    lo, hi = max(lo, win[0]), min(hi, win[1])
            if lo < hi and hi * 1000 > t_ms:
                return round(lo * 1000), round(hi * 1000)
            day += timedelta(days=1)
        raise SystemExit("bench: no shared working time within 60 days of --start; check the contracts")

    def _event_id(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        beats = self.beats
        if beats[0][0] <= self.t_ms:
            t, k, system = heappop(beats)
            shape = self.shapes[k]
            heappush(beats, (t + shape.beat_every_ms, k, system))
            return self._beat(t, shape, system)
        rnd = self.rng.random
        self.accesses += 1
        shape = self.active[int(rnd() * len(self.active))]
        planted = self.plant_every > 0 and self.accesses % self.plant_every == 0
        ev = self._access(shape, planted=planted)
        self.t_ms += int(rnd() * 2 * self.step_ms)
        if self.t_ms >= self.window[1]:
            self.window = self._window_from(self.window[1] + 1)
            self.t_ms = self.window[0] + int(rnd() * 60_000)
        return shape.key, orjson.dumps(ev), ev["event_id"] if planted else None

    def _beat(self, t: int, shape: _Shape, system: str) -> Msg:
        ev = {
            "event_id": self._event_id(),
            "ts": _ts(t),
            "contract_id": shape.contract_id,
            "system": system,
            "actor": shape.beat_actors[system],
            "source": shape.beat_sources[system],
            "action": "heartbeat",
            "outcome": "success",
        }
        return shape.key, orjson.dumps(ev), None

    def _access(self, shape: _Shape, *, planted: bool) -> dict[str, Any]:
        rnd = self.rng.random
        if planted:
            self.planted += 1
            actor: dict[str, str | None] = {"id": f"{self.tag}{self.planted:07d}", "org": shape.org, "role": "operator"}
            source = shape.sources[int(rnd() * len(shape.sources))]
        else:
            staff = shape.staff[int(rnd() * len(shape.staff))]
            actor = staff.actor
            source = staff.sources[int(rnd() * len(staff.sources))]
        search = rnd() < 0.3
        return {
            "event_id": self._event_id(),
            "ts": _ts(self.t_ms),
            "contract_id": shape.contract_id,
            "system": SYSTEMS[rnd() < 0.2],
            "actor": actor,
            "source": source,
            "action": "search" if search else "read",
            "resource": {
                "dataset": shape.dataset,
                "records": int(rnd() * 40) if search else 1 + int(rnd() * 3),
                "fields": shape.field_sets[int(rnd() * len(shape.field_sets))],
            },
            "outcome": "success",
        }


@dataclass
class DataFile:
    """A JSON-lines file of events, and what is in it."""

    path: Path
    events: int
    planted: int
    bytes: int


def write_bench_files(
    profiles: dict[str, ContractProfile], n: int, *, seed: int, start: datetime, plant_every: int, paths: list[Path]
) -> list[DataFile]:
    """Write ``n`` events to ``paths[0]`` and (if given) ``2n`` to ``paths[1]``: one stream, the first a prefix."""
    gen = EventGen(profiles, seed=seed, start=start, plant_every=plant_every)
    out: list[DataFile] = []
    files = [p.open("wb") for p in paths]
    chunk: list[bytes] = []

    def flush(k: int) -> None:
        if chunk:
            data = b"\n".join(chunk) + b"\n"
            for f in files[k:]:
                f.write(data)
            chunk.clear()

    try:
        written = size = planted = 0
        for k, target in enumerate((n, 2 * n)[: len(paths)]):
            while written < target:
                _, value, p = next(gen)
                chunk.append(value)
                written += 1
                size += len(value)
                planted += p is not None
                if len(chunk) >= 4096:
                    flush(k)
            flush(k)
            out.append(DataFile(paths[k], written, planted, size))
    finally:
        for f in files:
            f.close()
    return out


def write_sim_files(
    profiles: dict[str, ContractProfile], n: int, *, seed: int, start: datetime, paths: list[Path]
) -> list[DataFile]:
    """The same files from ``kinkyu.sim`` (its plants: one breach per rule and contract)."""
    try:
        from kinkyu import sim  # noqa: PLC0415  # optional: another module, maybe not there yet
    except ImportError as exc:
        raise SystemExit(f"bench: --events-from-sim needs kinkyu.sim ({exc})") from exc
    out: list[DataFile] = []
    for k, path in enumerate(paths):
        events, planted = sim.generate(profiles, events=n * (k + 1), seed=seed, start=start)
        count = size = 0
        with path.open("wb") as f:
            for ev in events:
                line = sim.to_jsonl_bytes(ev)
                f.write(line)
                count += 1
                size += len(line) - 1
        out.append(DataFile(path, count, len(planted), size))
    return out


def file_messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) for each line: keyed by contract_id like every producer of access-log."""
    loads = orjson.loads
    with path.open("rb") as f:
        for raw in f:
            line = raw.rstrip(b"\n")
            if line:
                yield str(loads(line)["contract_id"]).encode(), line
