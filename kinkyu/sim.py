"""Simulated access-log traffic for contracts, with known breaches planted in it.

Pure and deterministic: the same profiles, ``events``, ``seed``, ``start`` and
``plant`` give the same events, byte for byte. No I/O; :func:`to_jsonl_bytes`
turns an event into a line for a file or a Kafka message.

Benign traffic follows each profile so that no rule fires on it: registered,
unrevoked staff log in on working days inside ``work_hours`` (Japan time,
public holidays off when ``holidays: jp``) from their site networks, read and
search within the contract's datasets and fields, make small exports that stay
under half of ``bulk_records`` per actor and hour, rarely mistype a password
once, and every system sends a heartbeat at a steady interval (a minute, or a
third of ``heartbeat_gap`` if that is shorter), day and night. Staff traffic
stops at the end of the contract; heartbeats go on.

With ``plant=True`` every contract gets one planted breach per rule id, each
in its own time slot on a working day (the off-hours one at night, the
post-contract one after every contract has ended), so each becomes its own
incident. :class:`Planted` lists them with their event ids. A plant is left
out when the profile cannot show it: ``revoked-credential`` needs a staff
member revoked before its slot, ``outside-site`` needs ``sites``,
``off-hours`` needs ``work_hours``, ``scope-violation`` needs ``datasets``
(those rules stay silent without that part of the profile).

The iterator is lazy: it builds one simulated day at a time, so millions of
events never sit in memory together.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

import orjson

from kinkyu.core.calendar import day_from_number, jst_day_number, work_window
from kinkyu.core.contract import WorkHours
from kinkyu.core.model import JST
from kinkyu.core.rules.stateless import ip_verdict

if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Iterator, Mapping

    from kinkyu.core.contract import ContractProfile

SYSTEMS: Final = ("juki-portal", "file-gateway")
# Used for benign traffic when a profile names no work hours (off-hours then never fires anyway).
DEFAULT_WORK_HOURS: Final = WorkHours(
    days=["mon", "tue", "wed", "thu", "fri"], start=time(9), end=time(17), holidays="jp"
)
DEFAULT_DATASETS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (("residents", ("name", "address")),)
# Places no benign traffic comes from; the first not inside a site network is used.
OUTSIDE_IPS: Final = ("203.0.113.77", "198.51.100.200", "192.0.2.200", "2001:db8::77")
ATTACKER_IP: Final = "198.51.100.23"
FIELDS_OUT_OF_SCOPE: Final = ("my_number", "health", "tax", "card_number")

_MINUTE: Final = 60_000
_HOUR: Final = 60 * _MINUTE
_DAY: Final = 24 * _HOUR
_SLOT_SPACING: Final = 100 * _MINUTE  # between plants of one contract
_QUIET: Final = 65 * _MINUTE  # a plant's actor does nothing benign this close to it
_MEAN_GAP_S: Final = 45.0  # mean seconds between a logged-in person's actions
_SLOT_RULES: Final = (
    "outside-site",
    "unregistered-actor",
    "bulk-export",
    "revoked-credential",
    "pii-email",
    "credential-attack",
    "unapproved-org",
    "unencrypted-media",
    "scope-violation",
    "log-tampering",
    "system-outage",  # last: a long heartbeat_gap must not swallow another plant
)
# Benign action mix: (action, weight).
_MIX: Final = (
    ("read", 50),
    ("search", 30),
    ("modify", 6),
    ("print", 4),
    ("export", 4),
    ("copy", 2),
    ("email_send", 2),
    ("media_write", 1),
    ("upload", 1),
)
_BULK_ACTIONS: Final = frozenset({"export", "copy", "print", "media_write"})
_GATEWAY_ACTIONS: Final = frozenset({"print", "export", "copy", "media_write", "email_send", "upload"})


@dataclass(frozen=True, slots=True)
class Planted:
    """One planted breach: which rule must find it, and the events it consists of."""

    contract_id: str
    rule: str
    actor: str | None
    event_ids: tuple[str, ...]
    ts: datetime  # the first planted event's time

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (for a ``planted.json`` next to the simulated log)."""
        return {
            "contract_id": self.contract_id,
            "rule": self.rule,
            "actor": self.actor,
            "event_ids": list(self.event_ids),
            "ts": self.ts.isoformat(),
        }


def to_jsonl_bytes(event: dict[str, Any]) -> bytes:
    """One event as a JSON-lines line (UTF-8, newline-terminated)."""
    return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)


def _ts(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, JST).isoformat(timespec="milliseconds")


def _host_ip(networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network], k: int) -> str:
    net = networks[k % len(networks)]
    size = net.num_addresses
    if size <= 2:  # noqa: PLR2004  # /31, /32 (and v6 equivalents) have no network/broadcast to avoid
        return str(net[k % size])
    return str(net[1 + k % min(size - 2, 60_000)])


@dataclass(slots=True)
class _Actor:
    id: str
    ip: str
    host: str
    site: str | None
    bulk: deque[tuple[int, int]] = field(default_factory=deque)  # (t_ms, records) of recent bulk actions


@dataclass(slots=True)
class _Contract:
    """One contract's simulation parameters and plan."""

    profile: ContractProfile
    index: int
    work_hours: WorkHours
    actors: list[_Actor]
    server_ip: str
    site: str | None
    datasets: tuple[tuple[str, tuple[str, ...]], ...]
    hb_ms: int
    hb_offsets: tuple[int, ...]
    bulk_cap: int
    may_fail_login: bool
    ends_ms: int
    quiet: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    silence: dict[str, tuple[int, int]] = field(default_factory=dict)  # system -> (t0, t1), exclusive
    hb_ids: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def contract_id(self) -> str:
        return self.profile.contract_id

    def muted(self, actor: str, system: str, t: int) -> bool:
        for lo, hi in self.quiet.get(actor, ()):
            if lo <= t <= hi:
                return True
        gap = self.silence.get(system)
        return gap is not None and gap[0] < t < gap[1]


def _contract(profile: ContractProfile, index: int) -> _Contract:
    networks = [n for site in profile.sites for n in site.networks]
    site = profile.sites[0].id if profile.sites else None
    actors = []
    for k, member in enumerate(m for m in profile.staff if m.revoked_at is None):
        ip = _host_ip(networks, 10 + k) if networks else f"192.0.2.{10 + k % 200}"
        actors.append(_Actor(member.id, ip, f"pc-{k + 1:02d}", site))
    if not actors:
        raise ValueError(f"{profile.contract_id}: no unrevoked staff to simulate benign traffic with")
    gap_ms = round(profile.thresholds.heartbeat_gap.total_seconds() * 1000)
    hb_ms = max(1000, min(_MINUTE, gap_ms // 3))
    datasets = tuple((name, tuple(ds.fields)) for name, ds in profile.datasets.items()) or DEFAULT_DATASETS
    return _Contract(
        profile=profile,
        index=index,
        work_hours=profile.work_hours or DEFAULT_WORK_HOURS,
        actors=actors,
        server_ip=_host_ip(networks, 2) if networks else "192.0.2.2",
        site=site,
        datasets=datasets,
        hb_ms=hb_ms,
        hb_offsets=tuple((7_000 + 20_000 * s + 3_000 * index) % hb_ms for s in range(len(SYSTEMS))),
        bulk_cap=(profile.thresholds.bulk_records - 1) // 2,
        may_fail_login=profile.thresholds.failed_logins.count >= 3,  # noqa: PLR2004  # one slip must stay well below
        ends_ms=round(datetime.combine(profile.ends + timedelta(days=1), time(0), JST).timestamp() * 1000),
    )


class _Ids:
    """Deterministic UUID-shaped event ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _event(
    event_id: str,
    t_ms: int,
    c: _Contract,
    *,
    system: str,
    actor: dict[str, Any],
    source: dict[str, Any],
    action: str,
    resource: dict[str, Any] | None = None,
    outcome: str = "success",
    session_id: str | None = None,
    destination: str | None = None,
    encrypted: bool | None = None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_id": event_id,
        "ts": _ts(t_ms),
        "contract_id": c.contract_id,
        "system": system,
        "actor": actor,
        "source": source,
        "action": action,
    }
    if resource is not None:
        ev["resource"] = resource
    ev["outcome"] = outcome
    ev["session_id"] = session_id
    ev["destination"] = destination
    ev["encrypted"] = encrypted
    ev["attrs"] = {}
    return ev


def _staff_actor(c: _Contract, actor_id: str, org: str | None = None) -> dict[str, Any]:
    return {"id": actor_id, "org": org or c.profile.contractor.org, "role": "operator"}


# -- benign traffic -----------------------------------------------------------------


class _Benign:
    """Generates one JST day of benign traffic per contract."""

    def __init__(self, contracts: list[_Contract], rng: random.Random, start_ms: int) -> None:
        self.contracts = contracts
        self.rng = rng
        self.ids = _Ids(rng)
        self.start_ms = start_ms
        self.seq = 0
        self.actions = [a for a, _ in _MIX]
        self.weights = [w for _, w in _MIX]

    def day(self, day_number: int) -> list[tuple[int, int, dict[str, Any]]]:
        out: list[tuple[int, int, dict[str, Any]]] = []
        for c in self.contracts:
            self._heartbeats(c, day_number, out)
            window = work_window(c.work_hours, day_from_number(day_number))
            if window is not None:
                for actor in c.actors:
                    self._session(c, actor, window, out)
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    def _add(self, out: list[tuple[int, int, dict[str, Any]]], t: int, ev: dict[str, Any]) -> None:
        self.seq += 1
        out.append((t, self.seq, ev))

    def _heartbeats(self, c: _Contract, day_number: int, out: list[tuple[int, int, dict[str, Any]]]) -> None:
        lo = max(day_number * _DAY - 9 * _HOUR, self.start_ms)
        hi = (day_number + 1) * _DAY - 9 * _HOUR
        for s, system in enumerate(SYSTEMS):
            offset = c.hb_offsets[s]
            actor = {"id": f"svc-{system}", "org": c.profile.contractor.org, "role": "system"}
            source = {"ip": c.server_ip, "host": system, "site": c.site}
            gap = c.silence.get(system)
            t = offset + math.ceil((lo - offset) / c.hb_ms) * c.hb_ms
            while t < hi:
                if gap is None or not gap[0] < t < gap[1]:
                    event_id = c.hb_ids.get((system, t)) or self.ids()
                    self._add(
                        out, t, _event(event_id, t, c, system=system, actor=actor, source=source, action="heartbeat")
                    )
                t += c.hb_ms

    def _session(
        self, c: _Contract, a: _Actor, window: tuple[float, float], out: list[tuple[int, int, dict[str, Any]]]
    ) -> None:
        rng = self.rng
        ws, we = round(window[0] * 1000), round(window[1] * 1000)
        login = ws + 5 * _MINUTE + rng.randrange(40 * _MINUTE)
        logout = we - 5 * _MINUTE - rng.randrange(30 * _MINUTE)
        if logout - login < 30 * _MINUTE:
            return
        noon = ws - (ws + 9 * _HOUR) % _DAY + 12 * _HOUR
        lunch = (noon, noon + _HOUR) if ws <= noon and noon + _HOUR <= we else None
        actor = _staff_actor(c, a.id)
        source = {"ip": a.ip, "host": a.host, "site": a.site}
        session = f"s-{rng.getrandbits(32):08x}"
        portal, gateway = SYSTEMS

        def emit(t: int, system: str, action: str, **kw: Any) -> None:
            kw.setdefault("session_id", session)
            if self.start_ms <= t < c.ends_ms and not c.muted(a.id, system, t):
                self._add(
                    out,
                    t,
                    _event(
                        self.ids(),
                        t,
                        c,
                        system=system,
                        actor=actor,
                        source=source,
                        action=action,
                        **kw,
                    ),
                )

        if c.may_fail_login and rng.random() < 0.05:  # noqa: PLR2004  # a rare mistyped password
            emit(login - rng.randrange(10_000, 40_000), portal, "login_failed", outcome="failure", session_id=None)
        emit(login, portal, "login")
        t = login + 1000 + round(rng.expovariate(1 / _MEAN_GAP_S) * 1000)
        while t < logout:
            if lunch is not None and lunch[0] <= t < lunch[1]:
                t = lunch[1] + rng.randrange(5 * _MINUTE)
                continue
            action, kw = self._action(c, a, t)
            emit(t, gateway if action in _GATEWAY_ACTIONS else portal, action, **kw)
            t += 1000 + round(rng.expovariate(1 / _MEAN_GAP_S) * 1000)
        emit(logout, portal, "logout")

    def _action(self, c: _Contract, a: _Actor, t: int) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        action = rng.choices(self.actions, self.weights)[0]
        name, fields = c.datasets[rng.randrange(len(c.datasets))]
        chosen = sorted(rng.sample(fields, rng.randint(1, min(3, len(fields))))) if fields else None
        kw: dict[str, Any] = {}
        if action == "search":
            records = rng.randrange(41)
        elif action in _BULK_ACTIONS:
            records = rng.randint(1, max(1, c.profile.thresholds.bulk_records // 20))
            while a.bulk and a.bulk[0][0] < t - _HOUR:
                a.bulk.popleft()
            if sum(r for _, r in a.bulk) + records > c.bulk_cap:
                action, records = "read", rng.randint(1, 3)
            else:
                a.bulk.append((t, records))
                if action == "media_write":
                    kw = {"encrypted": True, "destination": f"usb-{a.host}"}
        elif action == "email_send":
            records, chosen = 0, None  # notices without personal records
            kw = {"destination": "liaison@city.example.jp"}
        elif action == "upload":
            records = rng.randint(1, 5)
            kw = {"encrypted": True, "destination": "https://exchange.city.example.jp/inbox"}
        else:
            records = rng.randint(1, 3)
        resource: dict[str, Any] = {"dataset": name, "records": records}
        if chosen is not None:
            resource["fields"] = chosen
        kw["resource"] = resource
        return action, kw


# -- plants -------------------------------------------------------------------------


def _slots(c: _Contract, start_ms: int, count: int) -> list[int]:
    """Plant times: working days, inside work hours, apart enough to be separate incidents."""
    out: list[int] = []
    day = jst_day_number(start_ms / 1000)
    while len(out) < count:
        window = work_window(c.work_hours, day_from_number(day))
        if window is not None:
            ws, we = round(window[0] * 1000), round(window[1] * 1000)
            t = ws + _HOUR + 2 * _MINUTE * c.index
            while t + 40 * _MINUTE <= we - 5 * _MINUTE and len(out) < count:
                if t >= start_ms + _HOUR:
                    out.append(t)
                t += _SLOT_SPACING
        day += 1
        if day * _DAY > c.ends_ms + 400 * _DAY:
            raise ValueError(f"{c.contract_id}: no working days left to place plants before the contract ends")
    if out and out[-1] + _DAY > c.ends_ms:
        raise ValueError(f"{c.contract_id}: the contract ends too soon after start to place every plant")
    return out


def _near_work(c: _Contract, t: int, margin: int) -> bool:
    day = jst_day_number(t / 1000)
    for d in (day - 1, day, day + 1):
        window = work_window(c.work_hours, day_from_number(d))
        if window is not None and window[0] * 1000 - margin <= t < window[1] * 1000 + margin:
            return True
    return False


def _night(c: _Contract, after_ms: int) -> int:
    """The first off-hours time after ``after_ms``, two hours clear of work if there is such a time."""
    for margin, step in ((2 * _HOUR, 30 * _MINUTE), (0, _MINUTE)):
        t = after_ms - after_ms % step
        for _ in range(14 * _DAY // step):
            t += step
            if not _near_work(c, t, margin):
                return t
    raise ValueError(f"{c.contract_id}: work_hours leave no off-hours time to plant an off-hours access in")


class _Planter:
    """Builds each contract's plants: their events, the quiet they need, and the :class:`Planted` records."""

    def __init__(self, rng: random.Random) -> None:
        self.ids = _Ids(rng)
        self.rng = rng
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.planted: list[Planted] = []
        self.must_reach = 0

    def plan(self, c: _Contract, start_ms: int, after_all_ends_ms: int) -> None:
        slots = dict(zip(_SLOT_RULES, _slots(c, start_ms, len(_SLOT_RULES)), strict=True))
        for rule, t in slots.items():
            getattr(self, "_" + rule.replace("-", "_"))(c, t)
        if c.profile.work_hours is not None:
            self._off_hours(c, _night(c, slots[_SLOT_RULES[0]]))
        self._post_contract_access(c, _post_contract_slot(c, after_all_ends_ms))

    # helpers

    def _emit(
        self, c: _Contract, rule: str, actor: str | None, evs: list[tuple[int, dict[str, Any]]], *, late: bool = False
    ) -> None:
        self.events.extend(evs)
        self.planted.append(
            Planted(
                c.contract_id,
                rule,
                actor,
                tuple(e["event_id"] for _, e in evs),
                datetime.fromtimestamp(evs[0][0] / 1000, JST),
            )
        )
        if not late:
            self.must_reach = max(self.must_reach, *(t for t, _ in evs))

    def _quiet(self, c: _Contract, actor: str, t: int) -> None:
        c.quiet.setdefault(actor, []).append((t - _QUIET, t + _QUIET))

    def _data(
        self,
        c: _Contract,
        t: int,
        actor: dict[str, Any],
        ip: str,
        *,
        action: str,
        records: int,
        dataset: str | None = None,
        fields: list[str] | None = None,
        system: str = SYSTEMS[0],
        **kw: Any,
    ) -> tuple[int, dict[str, Any]]:
        name, allowed = c.datasets[0]
        resource: dict[str, Any] = {"dataset": dataset or name, "records": records}
        chosen = fields if fields is not None else list(allowed[:2])
        if chosen:
            resource["fields"] = chosen
        source = self._source(c, ip)
        return t, _event(
            self.ids(),
            t,
            c,
            system=system,
            actor=actor,
            source=source,
            action=action,
            resource=resource,
            session_id=self._session_id(),
            **kw,
        )

    def _plain(
        self, c: _Contract, t: int, actor: dict[str, Any], ip: str, action: str, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        source = self._source(c, ip)
        return t, _event(self.ids(), t, c, system=SYSTEMS[0], actor=actor, source=source, action=action, **kw)

    def _source(self, c: _Contract, ip: str) -> dict[str, Any]:
        host = next((a.host for a in c.actors if a.ip == ip), f"pc-{self.rng.randrange(50, 99)}")
        return {"ip": ip, "host": host, "site": c.site}

    def _session_id(self) -> str:
        return f"s-{self.rng.getrandbits(32):08x}"

    # one method per rule id

    def _outside_site(self, c: _Contract, t: int) -> None:
        networks = [n for site in c.profile.sites for n in site.networks]
        if not networks:
            return
        ip = next(ip for ip in OUTSIDE_IPS if ip_verdict(ip, tuple(networks)) is not None)
        a = c.actors[0]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        self._emit(
            c,
            "outside-site",
            a.id,
            [
                self._data(c, t, who, ip, action="read", records=2),
                self._data(c, t + 90_000, who, ip, action="search", records=12),
            ],
        )

    def _unregistered_actor(self, c: _Contract, t: int) -> None:
        staff = {m.id for m in c.profile.staff}
        actor_id = next(f"u99{k:02d}" for k in range(100) if f"u99{k:02d}" not in staff)
        who = _staff_actor(c, actor_id)
        ip = c.actors[0].ip
        self._emit(
            c,
            "unregistered-actor",
            actor_id,
            [
                self._data(c, t, who, ip, action="read", records=3),
                self._data(c, t + 60_000, who, ip, action="search", records=20),
            ],
        )

    def _bulk_export(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        self._quiet(c, a.id, t)
        threshold = c.profile.thresholds.bulk_records
        pieces = 3 if threshold >= 3 else 1  # noqa: PLR2004  # a sum needs pieces each under the threshold
        size = -(-threshold // pieces)
        who = _staff_actor(c, a.id)
        evs = [
            self._data(c, t + k * 8 * _MINUTE, who, a.ip, action="export", records=size, system=SYSTEMS[1])
            for k in range(pieces)
        ]
        self._emit(c, "bulk-export", a.id, evs)

    def _revoked_credential(self, c: _Contract, t: int) -> None:
        revoked = [m for m in c.profile.staff if m.revoked_at is not None and m.revoked_at.timestamp() * 1000 <= t]
        if not revoked:
            return
        member = min(revoked, key=lambda m: m.revoked_at or datetime.max.replace(tzinfo=JST))
        who = _staff_actor(c, member.id)
        ip = c.actors[0].ip
        evs = [
            self._plain(c, t, who, ip, "login", session_id=self._session_id()),
            self._data(c, t + 45_000, who, ip, action="read", records=1),
        ]
        self._emit(c, "revoked-credential", member.id, evs)

    def _pii_email(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        ev = self._data(
            c,
            t,
            who,
            a.ip,
            action="email_send",
            records=4,
            system=SYSTEMS[1],
            destination="someone@example.net",
            encrypted=False,
        )
        self._emit(c, "pii-email", a.id, [ev])

    def _credential_attack(self, c: _Contract, t: int) -> None:
        a = c.actors[-1]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        count = c.profile.thresholds.failed_logins.count
        within_ms = c.profile.thresholds.failed_logins.within.total_seconds() * 1000
        step = max(1, min(15_000, int(within_ms / (2 * count))))
        evs = [self._plain(c, t + k * step, who, ATTACKER_IP, "login_failed", outcome="failure") for k in range(count)]
        self._emit(c, "credential-attack", a.id, evs)

    def _unapproved_org(self, c: _Contract, t: int) -> None:
        accepted = {*c.profile.approved_orgs, c.profile.contractor.org}
        org = next(f"subco-unapproved-{k}" for k in range(100) if f"subco-unapproved-{k}" not in accepted)
        who = _staff_actor(c, "sub-3001", org)
        ip = c.actors[0].ip
        evs = [
            self._plain(c, t, who, ip, "login", session_id=self._session_id()),
            self._data(c, t + 50_000, who, ip, action="read", records=2),
        ]
        self._emit(c, "unapproved-org", "sub-3001", evs)

    def _unencrypted_media(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        records = max(1, min(20, c.profile.thresholds.bulk_records - 1))
        ev = self._data(
            c,
            t,
            who,
            a.ip,
            action="media_write",
            records=records,
            system=SYSTEMS[1],
            destination="usb-e1",
            encrypted=False,
        )
        self._emit(c, "unencrypted-media", a.id, [ev])

    def _scope_violation(self, c: _Contract, t: int) -> None:
        if not c.profile.datasets:
            return
        a = c.actors[0]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        name, allowed = c.datasets[0]
        extra = next((f for f in FIELDS_OUT_OF_SCOPE if f not in allowed), None)
        if extra is None:
            dataset = next(f"tax_records_{k}" for k in range(100) if f"tax_records_{k}" not in c.profile.datasets)
            ev = self._data(c, t, who, a.ip, action="read", records=1, dataset=dataset, fields=["name"])
        else:
            ev = self._data(c, t, who, a.ip, action="read", records=1, dataset=name, fields=[*allowed[:1], extra])
        self._emit(c, "scope-violation", a.id, [ev])

    def _log_tampering(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        self._quiet(c, a.id, t)
        ev = self._plain(c, t, _staff_actor(c, a.id), a.ip, "log_config_change", session_id=self._session_id())
        self._emit(c, "log-tampering", a.id, [ev])

    def _system_outage(self, c: _Contract, t: int) -> None:
        system = SYSTEMS[0]
        offset = c.hb_offsets[0]
        t0 = offset + (t - offset) // c.hb_ms * c.hb_ms
        gap_ms = c.profile.thresholds.heartbeat_gap.total_seconds() * 1000
        t1 = t0 + c.hb_ms * (math.ceil(gap_ms / c.hb_ms) + 2)
        c.silence[system] = (t0, t1)
        event_id = self.ids()
        c.hb_ids[(system, t0)] = event_id
        self.planted.append(
            Planted(c.contract_id, "system-outage", None, (event_id,), datetime.fromtimestamp(t0 / 1000, JST))
        )
        self.must_reach = max(self.must_reach, t1 + c.hb_ms)

    def _off_hours(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        self._quiet(c, a.id, t)
        who = _staff_actor(c, a.id)
        self._emit(
            c,
            "off-hours",
            a.id,
            [
                self._data(c, t, who, a.ip, action="read", records=2),
                self._data(c, t + 120_000, who, a.ip, action="search", records=8),
            ],
        )

    def _post_contract_access(self, c: _Contract, t: int) -> None:
        a = c.actors[0]
        who = _staff_actor(c, a.id)
        evs = [
            self._data(c, t, who, a.ip, action="read", records=3),
            self._data(c, t + 120_000, who, a.ip, action="search", records=15),
        ]
        self._emit(c, "post-contract-access", a.id, evs, late=True)


def _post_contract_slot(c: _Contract, after_ms: int) -> int:
    """A working-hours time on the first working day after ``after_ms`` (so no other rule fires)."""
    day = jst_day_number(after_ms / 1000)
    while True:
        window = work_window(c.work_hours, day_from_number(day))
        if window is not None:
            t = round(window[0] * 1000) + _HOUR + 2 * _MINUTE * c.index
            if t >= after_ms:
                return t
        day += 1


# -- the stream ---------------------------------------------------------------------


def generate(
    profiles: Mapping[str, ContractProfile],
    *,
    events: int,
    seed: int,
    start: datetime,
    plant: bool = True,
) -> tuple[Iterator[dict[str, Any]], list[Planted]]:
    """Simulated access-log events for ``profiles`` from ``start``, in time order, and the plants among them.

    The iterator yields exactly ``events`` events, or more when that many are
    too few to reach the last planted breach (then it stops right after it).
    ``start`` without an offset is taken as Japan time. Post-contract plants
    come last, on the first working day after every contract has ended; the
    stream jumps there if the benign traffic stopped earlier.
    """
    if events < 0:
        raise ValueError("events must not be negative")
    if start.tzinfo is None:
        start = start.replace(tzinfo=JST)
    start_ms = round(start.timestamp() * 1000)
    contracts = [_contract(profiles[cid], k) for k, cid in enumerate(sorted(profiles))]
    rng = random.Random(seed)  # noqa: S311  # a reproducible simulation, not a secret
    planter = _Planter(random.Random(seed * 1_000_003 + 17))  # noqa: S311  # likewise
    if plant and contracts:
        after_all_ends = max(c.ends_ms for c in contracts)
        for c in contracts:
            if c.ends_ms <= start_ms:
                raise ValueError(f"{c.contract_id}: the contract ended before start; benign traffic would be breaches")
            planter.plan(c, start_ms, after_all_ends)
    plants = sorted(planter.events, key=lambda e: e[0])
    benign_budget = max(0, events - len(plants))
    stream = _stream(_Benign(contracts, rng, start_ms), plants, benign_budget, planter.must_reach, start_ms)
    return stream, sorted(planter.planted, key=lambda p: (p.ts, p.contract_id, p.rule))


def _stream(
    benign: _Benign,
    plants: list[tuple[int, dict[str, Any]]],
    budget: int,
    must_reach: int,
    start_ms: int,
) -> Iterator[dict[str, Any]]:
    k = 0
    for t, ev in _benign_until(benign, budget, must_reach, start_ms):
        while k < len(plants) and plants[k][0] <= t:
            yield plants[k][1]
            k += 1
        yield ev
    while k < len(plants):
        yield plants[k][1]
        k += 1


def _benign_until(benign: _Benign, budget: int, must_reach: int, start_ms: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Benign events until ``budget`` are out and event time has passed ``must_reach``."""
    if not benign.contracts:
        return
    count = 0
    day = jst_day_number(start_ms / 1000)
    while True:
        for t, _, ev in benign.day(day):
            if count >= budget and t > must_reach:
                return
            yield t, ev
            count += 1
        day += 1
