"""Server-side sessions, in memory: random ids, a CSRF token each, idle and absolute timeouts.

The cookie carries only the session id (``secrets.token_urlsafe(32)``: 256
random bits); everything else stays here. A session holds a username, not a
user, so the users file stays the authority (a user removed from it is
refused at the next request). Sign-in always starts a fresh session
(:meth:`SessionStore.rotate`), so an id planted before login is worthless.

Only signed-in people have a session. Someone not signed in yet gets no
server state at all: the login form's CSRF token is a :class:`LoginTokens`
token (signed, dated, and also set as a cookie), so any number of login-page
visits costs no memory and can evict nobody. Memory stays bounded: at most
``max_sessions`` sessions, ``max_per_user`` of them per user (so one account
signing in again and again pushes out only its own oldest), the least
recently used going first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from kinkyu.console.exceptions import ConsoleConfigError
from kinkyu.console.users import User
from kinkyu.core.timefmt import utcnow

Lang = Literal["ja", "en"]

DEFAULT_IDLE = timedelta(minutes=30)
DEFAULT_ABSOLUTE = timedelta(hours=12)
DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_MAX_PER_USER = 20
DEFAULT_LOGIN_TOKEN_AGE = timedelta(hours=1)
# Longer than any token_urlsafe(32) (43 characters): anything longer is not ours and is not looked up.
_MAX_ID_LENGTH = 64
_MAX_TOKEN_LENGTH = 128  # a login token is ~100 characters
_CLOCK_STEP_BACK = 60  # seconds a login token may seem to come from the future (the clock stepped back)


def _delta(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


@dataclass(slots=True)
class Session:
    """One signed-in browser's session. ``lang`` may be changed in place."""

    id: str
    username: str
    csrf_token: str
    created_at: datetime
    last_seen: datetime
    lang: Lang = "ja"

    @property
    def authenticated(self) -> bool:
        """Whether someone signed in to this session (always, now that nobody else gets one)."""
        return bool(self.username)

    def __repr__(self) -> str:
        # The id and the token are credentials: keep them out of logs and tracebacks.
        return f"Session(username={self.username!r}, created_at={self.created_at.isoformat()}, lang={self.lang!r})"


def check_csrf(session: Session | None, token: str | None) -> bool:
    """Whether ``token`` is the session's CSRF token, compared in constant time."""
    if session is None or not token:
        return False
    # compare_digest refuses non-ASCII str; bytes compare in constant time whatever was posted.
    return hmac.compare_digest(session.csrf_token.encode(), token.encode("utf-8", "surrogatepass"))


class SessionStore:
    """Sessions by id, in this process's memory (a restart signs everyone out).

    ``idle`` and ``absolute`` are timedeltas or seconds: a session unused for
    ``idle`` or older than ``absolute`` is gone. ``clock`` returns an aware
    datetime (tests pass a fake one). Safe to use from several threads.
    """

    def __init__(
        self,
        *,
        idle: timedelta | float = DEFAULT_IDLE,
        absolute: timedelta | float = DEFAULT_ABSOLUTE,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_per_user: int = DEFAULT_MAX_PER_USER,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.idle = _delta(idle)
        self.absolute = _delta(absolute)
        if self.idle <= timedelta(0) or self.absolute <= timedelta(0):
            raise ConsoleConfigError("session timeouts must be positive (KINKYU_CONSOLE_SESSION_IDLE / _SESSION_MAX)")
        if max_sessions < 1 or max_per_user < 1:
            raise ConsoleConfigError("session caps must be at least 1")
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self._clock = clock
        self._lock = threading.Lock()
        self._signed_in: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        with self._lock:
            return len(self._signed_in)

    def _new(self, username: str, lang: Lang) -> Session:
        if not username:
            raise ConsoleConfigError("a session is for someone signed in: a username is needed")
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            username=username,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            lang=lang,
        )
        table = self._signed_in
        with self._lock:
            self._purge_front_locked(table, now)
            own = [sid for sid, s in table.items() if s.username == username]  # least recently used first
            for sid in own[: max(0, len(own) - self.max_per_user + 1)]:
                del table[sid]
            while len(table) >= self.max_sessions:
                table.popitem(last=False)
            table[session.id] = session
        return session

    def create(self, user: User, *, lang: Lang | None = None) -> Session:
        """A fresh signed-in session for ``user`` (language: ``lang``, else the user's own)."""
        return self._new(user.username, lang or user.lang)

    def rotate(self, old_id: str | None, user: User, *, lang: Lang | None = None) -> Session:
        """Sign-in: destroy the session the browser came with (if any) and create a fresh one for ``user``.

        The old session's language carries over unless ``lang`` is given.
        """
        old = self.destroy(old_id) if old_id else None
        return self.create(user, lang=lang or (old.lang if old is not None else None))

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, its ``last_seen`` now; None if unknown, idle too long or too old."""
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return None
        now = self._clock()
        with self._lock:
            table = self._signed_in
            session = table.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del table[session_id]
                return None
            session.last_seen = now
            table.move_to_end(session_id)
            return session

    def destroy(self, session_id: str | None) -> Session | None:
        """End a session (sign-out); the session it was, or None if there was none."""
        if not session_id:
            return None
        with self._lock:
            return self._signed_in.pop(session_id, None)

    def destroy_user(self, username: str) -> int:
        """End every session of ``username`` (signed out everywhere); how many there were."""
        if not username:
            return 0
        with self._lock:
            ids = [sid for sid, s in self._signed_in.items() if s.username == username]
            for sid in ids:
                del self._signed_in[sid]
        return len(ids)

    def purge_expired(self) -> int:
        """Drop every expired session now; how many went (creating a session does this too)."""
        with self._lock:
            return self._purge_locked(self._clock())

    check_csrf = staticmethod(check_csrf)

    def _expired(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen >= self.idle or now - session.created_at >= self.absolute

    def _purge_front_locked(self, table: OrderedDict[str, Session], now: datetime) -> None:
        # Least recently used first, so the idle-expired ones are at the front: cheap enough for every create.
        while table:
            sid, session = next(iter(table.items()))
            if not self._expired(session, now):
                return
            del table[sid]

    def _purge_locked(self, now: datetime) -> int:
        expired = [sid for sid, s in self._signed_in.items() if self._expired(s, now)]
        for sid in expired:
            del self._signed_in[sid]
        return len(expired)


class LoginTokens:
    """The login form's CSRF tokens, kept by nobody: ``<issued>.<nonce>.<HMAC>`` under a per-process secret.

    The login page sets the token as a cookie (SameSite=Strict) and in the
    form; a login POST must bring both, equal, with a good signature, not
    older than ``max_age``. A forged or replayed-from-elsewhere form fails (a
    cross-site POST carries no Strict cookie), and a flood of login-page
    visits stores nothing. A restart invalidates the forms shown before it.
    """

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        max_age: timedelta | float = DEFAULT_LOGIN_TOKEN_AGE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.max_age = _delta(max_age)
        self._clock = clock

    def __repr__(self) -> str:
        return f"LoginTokens(max_age={self.max_age})"

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A fresh token for a login form (and its cookie)."""
        body = f"{int(self._clock().timestamp())}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def check(self, cookie: str | None, posted: str | None) -> bool:
        """Whether the posted token is the cookie's, signed here, and young enough (constant-time compares)."""
        if not cookie or not posted or len(cookie) > _MAX_TOKEN_LENGTH:
            return False
        if not hmac.compare_digest(cookie.encode(), posted.encode("utf-8", "surrogatepass")):
            return False
        issued, _, rest = cookie.partition(".")
        nonce, _, mac = rest.partition(".")
        if (
            not issued.isdigit()
            or not nonce
            or not hmac.compare_digest(self._mac(f"{issued}.{nonce}").encode(), mac.encode())
        ):
            return False
        age = self._clock().timestamp() - int(issued)
        return -_CLOCK_STEP_BACK <= age <= self.max_age.total_seconds()
