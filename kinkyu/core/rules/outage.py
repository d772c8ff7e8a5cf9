"""The rule that fires on the absence of events: a system that stopped (システム停止事故)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kinkyu.core.model import JST, Severity
from kinkyu.core.rules.base import Hit, Rule, Watermark, time_of
from kinkyu.core.rules.stateless import NO_HITS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kinkyu.core.contract import ContractPolicy
    from kinkyu.core.model import AccessEvent

# A system silent this long after its outage finding is forgotten; its next heartbeat watches it again.
FORGET_AFTER = 7 * 86400.0


class _Watch:
    """What is known about one watched system: its latest event, and whether its silence was reported."""

    __slots__ = ("fired_t", "last_id", "last_t")

    def __init__(self, last_t: float, last_id: str, fired_t: float | None = None) -> None:
        self.last_t = last_t
        self.last_id = last_id
        self.fired_t = fired_t  # the reported outage's start (last_t + gap), None while armed


class SystemOutage(Rule):
    """No event at all from a watched system for longer than ``heartbeat_gap``.

    Watched systems are those that have sent at least one ``heartbeat``: only
    they promise a steady stream, a system that merely logs data actions now
    and then may be silent for hours without anything being wrong. From its
    first heartbeat on, any event from the system (not only heartbeats)
    shows it is alive; out-of-order events count by their time (the latest
    wins).

    ``advance`` fires when the contract's event time is more than
    ``heartbeat_gap`` past the latest event: one hit naming that event, at ``last + gap``, with no
    actor. It does not fire again for the system until an event from after
    the reported outage's start arrives (a late event from inside the gap
    does not re-arm it). Once event time passes the contract's end, the
    contract's systems are no longer watched: they are the contractor's to
    run only while the contract lasts, and a stream replayed across the end
    would otherwise report every system as down.

    Severity high: 豊田市 第13条 requires a 直ちに written report of a
    システム停止事故 regardless of fault.
    """

    rule_id = "system-outage"
    severity = Severity.HIGH

    def __init__(self) -> None:
        """Start watching nothing."""
        self._systems: dict[str, dict[str, _Watch]] = {}

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Note that the event's system is alive at the event's time."""
        systems = self._systems.get(ev.contract_id)
        if systems is not None:
            watch = systems.get(ev.system)
            if watch is not None:
                t = ev.t
                if t > watch.last_t:
                    watch.last_t = t
                    watch.last_id = ev.event_id
                    fired_t = watch.fired_t
                    if fired_t is not None and t > fired_t:
                        watch.fired_t = None
                return NO_HITS
        if ev.action == "heartbeat" and ev.t < policy.ends_t:
            if systems is None:
                systems = self._systems[ev.contract_id] = {}
            systems[ev.system] = _Watch(ev.t, ev.event_id)
        return NO_HITS

    def advance(self, watermark: Watermark, policies: Mapping[str, ContractPolicy]) -> Iterable[tuple[str, Hit]]:
        """Report each watched system silent for more than its contract's ``heartbeat_gap``."""
        out: list[tuple[str, Hit]] = []
        ended: list[str] = []
        # The engine asks for one contract at a time as its events pass: look up that one, not every one.
        if isinstance(watermark, Mapping):
            due = [(c, t, self._systems[c]) for c, t in watermark.items() if c in self._systems]
        else:
            due = [(c, watermark, systems) for c, systems in self._systems.items()]
        for contract_id, now, systems in due:
            policy = policies.get(contract_id)
            if policy is None:
                continue
            if now >= policy.ends_t:
                ended.append(contract_id)
                continue
            gap = policy.heartbeat_gap
            for system, watch in systems.items():
                if watch.fired_t is None and now - watch.last_t > gap:
                    start = watch.last_t + gap
                    watch.fired_t = start
                    detail = {
                        "last_seen": datetime.fromtimestamp(watch.last_t, JST).isoformat(),
                        "heartbeat_gap_s": gap,
                    }
                    out.append((contract_id, Hit((watch.last_id,), start, None, system, 0, detail)))
        for contract_id in ended:
            del self._systems[contract_id]
        return out

    def expire(self, watermark: Watermark, lateness: float) -> None:
        """Forget systems that stayed silent long after their outage was reported."""
        for contract_id in list(self._systems):
            now = time_of(watermark, contract_id)
            if now is None:
                continue
            horizon = now - lateness - FORGET_AFTER
            systems = self._systems[contract_id]
            for system in [s for s, w in systems.items() if w.fired_t is not None and w.last_t < horizon]:
                del systems[system]
            if not systems:
                del self._systems[contract_id]

    def rewind(self, not_after: float, lateness: float) -> None:
        """Pull each system's latest event (and reported outage) back to ``not_after`` at the latest."""
        del lateness
        for systems in self._systems.values():
            for watch in systems.values():
                watch.last_t = min(watch.last_t, not_after)
                if watch.fired_t is not None:
                    watch.fired_t = min(watch.fired_t, not_after)

    @property
    def watched(self) -> int:
        """How many systems are watched (for tests and metrics)."""
        return sum(len(s) for s in self._systems.values())

    def snapshot(self) -> Any:
        """Watched systems as JSON-able data."""
        return [
            [contract_id, system, w.last_t, w.last_id, w.fired_t]
            for contract_id, systems in self._systems.items()
            for system, w in systems.items()
        ]

    def restore(self, data: Any) -> None:
        """Load :meth:`snapshot` output."""
        self._systems = {}
        for contract_id, system, last_t, last_id, fired_t in data:
            self._systems.setdefault(contract_id, {})[system] = _Watch(
                float(last_t), str(last_id), None if fired_t is None else float(fired_t)
            )
