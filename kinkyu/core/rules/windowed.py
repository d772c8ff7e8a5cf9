"""Rules that add up events over a sliding event-time window.

Windows are kept per key (contract and actor, or contract and source IP) as
lists sorted by event time, so events that arrive out of order within the
engine's lateness land where they belong. "Within a window of length W"
means the events' times span at most W (both ends included). When an
interval of at most W that contains the new event reaches the threshold, the
rule fires once with every event of that interval and removes them, so the
next finding needs a fresh threshold's worth.

A redelivered event changes nothing: it is recognised while it is still in
its window, and after it has been used in a finding (its id is kept as
"spent" until it could no longer be accepted anyway). Events older than the
expiry horizon (watermark - window - lateness) are not windowed at all; the
horizon is each contract's, by its own event time, so no other contract's
events can move it.
Memory is bounded by keys times what one window holds, never by the total
number of events.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from kinkyu.core.model import Severity
from kinkyu.core.rules.base import Hit, Rule, Watermark
from kinkyu.core.rules.stateless import NO_HITS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kinkyu.core.contract import ContractPolicy
    from kinkyu.core.model import AccessEvent

# (t, event id, weight, system, tag a, tag b, subject ids); the tags are rule-specific categories, the
# subject ids the event's resource.subject_ids (None when it carried none) for the count of distinct people.
Entry = tuple[float, str, int, str, str, str, tuple[str, ...] | None]
Key = tuple[str, str]

BULK_ACTIONS: Final = frozenset({"export", "copy", "print", "media_write"})
BULK_WINDOW: Final = 3600.0

_t = itemgetter(0)
_NEVER = float("-inf")


class KeyedWindows:
    """Sorted event-time windows per key, with threshold detection and bounded memory."""

    __slots__ = ("entries", "expired_default", "expired_to", "spans", "spent")

    def __init__(self) -> None:
        """Start empty."""
        self.entries: dict[Key, list[Entry]] = {}
        # Event ids already used in a finding, with their time, per key.
        self.spent: dict[Key, dict[str, float]] = {}
        # Window length per contract, for expiry (profiles may differ).
        self.spans: dict[str, float] = {}
        # Events before this (minus their window) arrive too late to be windowed: per contract, and
        # for contracts not named there (expire() given one time for every contract).
        self.expired_to: dict[str, float] = {}
        self.expired_default = _NEVER

    def offer(self, key: Key, entry: Entry, span: float, threshold: int) -> list[Entry] | None:
        """Insert ``entry``; if an interval of at most ``span`` containing it reaches ``threshold``, take it out.

        Returns the interval's entries (sorted by time) when the threshold is
        reached, else None. A duplicate event id is ignored.
        """
        t, event_id = entry[0], entry[1]
        if t + span < self.expired_to.get(key[0], self.expired_default):
            return None
        spent = self.spent.get(key)
        if spent is not None and event_id in spent:
            return None
        entries = self.entries.get(key)
        if entries is None:
            entries = self.entries[key] = []
        n = len(entries)
        if n and entries[-1][0] <= t:
            # In-order arrival, the common case: only equal times can be duplicates.
            k = n - 1
            while k >= 0 and entries[k][0] == t:
                if entries[k][1] == event_id:
                    return None
                k -= 1
            p = bisect_right(entries, t, key=_t)
        else:
            p = bisect_left(entries, t, key=_t)
            k = p
            while k < n and entries[k][0] == t:
                if entries[k][1] == event_id:
                    return None
                k += 1
            p = k
        entries.insert(p, entry)
        n += 1
        lo = bisect_left(entries, t - span, key=_t)
        if p == n - 1:
            # Every interval containing the newest entry lies inside [t - span, t]; the widest is the largest.
            total = 0
            for k in range(lo, n):
                total += entries[k][2]
            if total >= threshold:
                return self._take(key, entries, lo, n - 1)
            return None
        # Slide the left end over every entry that can share an interval with the new one.
        j = lo - 1
        total = 0
        for i in range(lo, p + 1):
            limit = entries[i][0] + span
            while j + 1 < n and entries[j + 1][0] <= limit:
                j += 1
                total += entries[j][2]
            if total >= threshold:
                return self._take(key, entries, i, j)
            total -= entries[i][2]
        return None

    def _take(self, key: Key, entries: list[Entry], i: int, j: int) -> list[Entry]:
        taken = entries[i : j + 1]
        del entries[i : j + 1]
        if not entries:
            del self.entries[key]
        spent = self.spent.setdefault(key, {})
        for e in taken:
            spent[e[1]] = e[0]
        return taken

    def expire(self, watermark: Watermark, lateness: float, default_span: float) -> None:
        """Drop entries and spent ids older than ``watermark - span - lateness`` (each contract's), and empty keys."""
        if isinstance(watermark, Mapping):
            for contract_id, t in watermark.items():
                self.expired_to[contract_id] = t - lateness
        else:
            self.expired_to = {}
            self.expired_default = watermark - lateness
        expired_to, default = self.expired_to, self.expired_default
        spans = self.spans
        for key in list(self.entries):
            horizon = expired_to.get(key[0], default) - spans.get(key[0], default_span)
            entries = self.entries[key]
            cut = bisect_left(entries, horizon, key=_t)
            if cut:
                del entries[:cut]
                if not entries:
                    del self.entries[key]
        for key in list(self.spent):
            horizon = expired_to.get(key[0], default) - spans.get(key[0], default_span)
            spent = self.spent[key]
            for event_id in [e for e, t in spent.items() if t < horizon]:
                del spent[event_id]
            if not spent:
                del self.spent[key]

    def rewind(self, not_after: float, lateness: float) -> None:
        """Pull every horizon past ``not_after - lateness`` back to it (see :meth:`Rule.rewind`)."""
        limit = not_after - lateness
        self.expired_to = {c: min(t, limit) for c, t in self.expired_to.items()}
        self.expired_default = min(self.expired_default, limit)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "entries": [[c, k, [list(e) for e in entries]] for (c, k), entries in self.entries.items()],
            "spent": [[c, k, [[e, t] for e, t in spent.items()]] for (c, k), spent in self.spent.items()],
            "spans": dict(self.spans),
            # The horizon for contracts not in "horizons"; all there was before per-contract clocks.
            "expired_to": self.expired_default if self.expired_default != _NEVER else None,
            "horizons": dict(self.expired_to),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load :meth:`snapshot` output (also as written before per-contract horizons)."""
        self.entries = {(c, k): [_entry(e) for e in entries] for c, k, entries in data["entries"]}
        self.spent = {(c, k): {str(e): float(t) for e, t in spent} for c, k, spent in data["spent"]}
        self.spans = {str(c): float(s) for c, s in data["spans"].items()}
        default = data["expired_to"]
        self.expired_default = float(default) if default is not None else _NEVER
        self.expired_to = {str(c): float(t) for c, t in data.get("horizons", {}).items()}

    def __len__(self) -> int:
        """Entries held over all keys (for tests and metrics)."""
        return sum(len(e) for e in self.entries.values()) + sum(len(s) for s in self.spent.values())


def _entry(row: list[Any]) -> Entry:
    t, e, w, s, a, b = row[:6]
    # Checkpoints written before entries carried subject ids have six fields.
    ids = row[6] if len(row) > 6 else None  # noqa: PLR2004  # the seventh field
    return (float(t), str(e), int(w), str(s), str(a), str(b), None if ids is None else tuple(str(i) for i in ids))


class BulkExport(Rule):
    """``export``, ``copy``, ``print`` or ``media_write`` of at least ``bulk_records`` records.

    Either in one action (fires on that event alone, which is then not added
    to the window), or summed per contract and actor over any interval of at
    most one hour of event time (fires once with all events of the interval).
    Actions with no records are ignored. Severity high: unapproved 複写・複製
    of personal data at volume.
    """

    rule_id = "bulk-export"
    severity = Severity.HIGH
    actions = BULK_ACTIONS

    def __init__(self) -> None:
        """Start with empty windows."""
        self.windows = KeyedWindows()

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on one large action, or on an actor's hour of actions adding up."""
        if ev.action not in BULK_ACTIONS:
            return NO_HITS
        records = ev.records
        if not records:
            return NO_HITS
        threshold = policy.bulk_records
        if records >= threshold:
            return (
                Hit.on(ev, mode="single", action=ev.action, dataset=ev.dataset, records=records, threshold=threshold),
            )
        entry = (ev.t, ev.event_id, records, ev.system, ev.action, ev.dataset or "", ev.subject_ids)
        taken = self.windows.offer((ev.contract_id, ev.actor_id), entry, BULK_WINDOW, threshold)
        if taken is None:
            return NO_HITS
        total = sum(e[2] for e in taken)
        last = taken[-1]
        detail = {
            "mode": "window",
            "window_s": BULK_WINDOW,
            "events": len(taken),
            "records": total,
            "threshold": threshold,
            "actions": dict(sorted(Counter(e[4] for e in taken).items())),
            "datasets": sorted({e[5] for e in taken}),
        }
        # Every windowed event has records, so one without subject ids leaves the count incomplete.
        carried = [e[6] for e in taken if e[6] is not None]
        ids = tuple(chain.from_iterable(carried)) if carried else None
        missing = len(carried) < len(taken)
        return (Hit(tuple(e[1] for e in taken), last[0], ev.actor_id, last[3], total, detail, ids, missing),)

    def expire(self, watermark: Watermark, lateness: float) -> None:
        """Forget what no interval reaching back from ``watermark - lateness`` can contain."""
        self.windows.expire(watermark, lateness, BULK_WINDOW)

    def rewind(self, not_after: float, lateness: float) -> None:
        """Let events up to ``not_after`` into the windows again."""
        self.windows.rewind(not_after, lateness)

    def snapshot(self) -> Any:
        """The windows as JSON-able data."""
        return self.windows.snapshot()

    def restore(self, data: Any) -> None:
        """Load :meth:`snapshot` output."""
        self.windows.restore(data)


class CredentialAttack(Rule):
    """At least ``failed_logins.count`` ``login_failed`` within ``failed_logins.within``.

    Counted per contract and account, and independently per contract and
    source IP (password spraying tries many accounts from one place). Each
    key fires once with the failures of its interval, then starts afresh.
    When both keys fire on the same failures, one hit says so. The per-IP
    hit names the account when all failures were against one, else none.
    Severity high: a password or ID card may be compromised (直ちに無効).
    """

    rule_id = "credential-attack"
    severity = Severity.HIGH
    actions = frozenset({"login_failed"})

    def __init__(self) -> None:
        """Start with empty windows."""
        self.accounts = KeyedWindows()
        self.ips = KeyedWindows()

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Count a failed login against its account and its source IP."""
        if ev.action != "login_failed":
            return NO_HITS
        within = policy.failed_login_within
        count = policy.failed_login_count
        contract_id = ev.contract_id
        self.accounts.spans[contract_id] = within
        self.ips.spans[contract_id] = within
        entry = (ev.t, ev.event_id, 1, ev.system, ev.actor_id, ev.source_ip, None)
        by_account = self.accounts.offer((contract_id, ev.actor_id), entry, within, count)
        by_ip = self.ips.offer((contract_id, ev.source_ip), entry, within, count)
        if by_account is None and by_ip is None:
            return NO_HITS
        base = {"within_s": within, "threshold": count}
        if by_account is not None and by_ip is not None and [e[1] for e in by_account] == [e[1] for e in by_ip]:
            return (
                self._hit(by_account, ev.actor_id, {"key": "account+source_ip", "source_ip": ev.source_ip, **base}),
            )
        hits: list[Hit] = []
        if by_account is not None:
            ips = {e[5] for e in by_account}
            hits.append(self._hit(by_account, ev.actor_id, {"key": "account", "source_ips": len(ips), **base}))
        if by_ip is not None:
            accounts = {e[4] for e in by_ip}
            actor = next(iter(accounts)) if len(accounts) == 1 else None
            detail = {"key": "source_ip", "source_ip": ev.source_ip, "accounts": len(accounts), **base}
            hits.append(self._hit(by_ip, actor, detail))
        return tuple(hits)

    @staticmethod
    def _hit(taken: list[Entry], actor: str | None, detail: dict[str, Any]) -> Hit:
        last = taken[-1]
        detail["failures"] = len(taken)
        return Hit(tuple(e[1] for e in taken), last[0], actor, last[3], 0, detail)

    def expire(self, watermark: Watermark, lateness: float) -> None:
        """Forget failures no window reaching back from ``watermark - lateness`` can contain."""
        self.accounts.expire(watermark, lateness, 0.0)
        self.ips.expire(watermark, lateness, 0.0)

    def rewind(self, not_after: float, lateness: float) -> None:
        """Let failures up to ``not_after`` into the windows again."""
        self.accounts.rewind(not_after, lateness)
        self.ips.rewind(not_after, lateness)

    def snapshot(self) -> Any:
        """Both window sets as JSON-able data."""
        return {"accounts": self.accounts.snapshot(), "ips": self.ips.snapshot()}

    def restore(self, data: Any) -> None:
        """Load :meth:`snapshot` output."""
        self.accounts.restore(data["accounts"])
        self.ips.restore(data["ips"])
