"""Failed logins, counted per account and per address, in separate bounded tables.

One table keyed by (username, address) could be flushed: enough failures on
other names evicted the entry of the account under attack. Here:

- **accounts**: the failures of each account in the users file, in a table
  only those accounts enter (so it is bounded by the users file, and nothing
  anyone types can push an entry out). A name that is no account gets the
  same treatment in a separate bounded table, so that "too many attempts"
  answers the same whether or not the name exists;
- **addresses**: the failures from each address (an IPv6 address counts by
  its /64, which one machine usually owns whole), in a bounded table of its
  own; its limit is higher, since people behind one proxy share an address.

A login is refused while either its account or its address has used up its
attempts within the sliding window. Memory per entry is bounded too: only the
newest ``attempts`` failure times are kept.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Literal

DEFAULT_MAX_ADDRESSES = 10_000
DEFAULT_MAX_UNKNOWN = 10_000
_IPV6_PREFIX = 64

Blocked = Literal["account", "address"]


def address_key(address: str) -> str:
    """What an address counts as: itself (IPv4), its /64 (IPv6), or the text as given when it is not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip)


class _Window:
    """Failure times per key within a sliding window; at most ``cap`` keys (least recently failed go first)."""

    def __init__(self, attempts: int, window: float, cap: int | None, clock: Callable[[], float]) -> None:
        self.attempts = attempts
        self.window = window
        self.cap = cap
        self._clock = clock
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._fails)

    def count(self, key: str) -> int:
        q = self._fails.get(key)
        if q is None:
            return 0
        cutoff = self._clock() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        if not q:
            del self._fails[key]
            return 0
        return len(q)

    def full(self, key: str) -> bool:
        return self.count(key) >= self.attempts

    def add(self, key: str) -> None:
        self.count(key)  # drop what has left the window
        q = self._fails.setdefault(key, deque(maxlen=self.attempts))
        q.append(self._clock())
        self._fails.move_to_end(key)
        while self.cap is not None and len(self._fails) > self.cap:
            self._fails.popitem(last=False)

    def clear(self, key: str) -> None:
        self._fails.pop(key, None)


class LoginLimiter:
    """Failed logins per account (``attempts`` per ``window`` seconds) and per address (``address_attempts``)."""

    def __init__(
        self,
        attempts: int,
        window: float,
        *,
        address_attempts: int | None = None,
        max_addresses: int = DEFAULT_MAX_ADDRESSES,
        max_unknown: int = DEFAULT_MAX_UNKNOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._accounts = _Window(attempts, window, None, clock)  # bounded by the users file: only accounts enter
        self._unknown = _Window(attempts, window, max_unknown, clock)
        self._addresses = _Window(address_attempts or attempts * 10, window, max_addresses, clock)

    def _names(self, known: bool) -> _Window:  # noqa: FBT001  # one flag, named at every call site
        return self._accounts if known else self._unknown

    def blocked(self, username: str, address: str, *, known: bool) -> Blocked | None:
        """Why a login of ``username`` from ``address`` is refused now (``account`` / ``address``), or None.

        ``known``: whether ``username`` is an account in the users file.
        """
        with self._lock:
            if self._names(known).full(username):
                return "account"
            if self._addresses.full(address_key(address)):
                return "address"
            return None

    def failed(self, username: str, address: str, *, known: bool) -> None:
        """Count a failed login against its account and its address."""
        with self._lock:
            self._names(known).add(username)
            self._addresses.add(address_key(address))

    def succeeded(self, username: str) -> None:
        """Forget the account's failures (the address's stay until they leave the window)."""
        with self._lock:
            self._accounts.clear(username)

    def sizes(self) -> tuple[int, int, int]:
        """How many accounts, unknown names and addresses have failures on record (bounded; for tests and metrics)."""
        with self._lock:
            return len(self._accounts), len(self._unknown), len(self._addresses)
