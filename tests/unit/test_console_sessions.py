"""Console sessions: random ids and CSRF tokens, idle and absolute timeouts, rotation at sign-in, bounded memory.

Nobody who is not signed in gets a session: the login form's token is a signed, dated LoginTokens token.
"""

from __future__ import annotations

import hmac
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from kinkyu.console.exceptions import ConsoleConfigError
from kinkyu.console.sessions import LoginTokens, SessionStore, check_csrf
from kinkyu.console.users import User

T0 = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
ALICE = User("acme-security", "アクメ", "contractor", org="acme")
BOB = User("koganei-city", "小金井市", "city", jurisdiction="koganei", lang="en")
URLSAFE_32_BYTES = re.compile(r"[A-Za-z0-9_-]{43}")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SessionStore:
    return SessionStore(clock=clock)


# -- creation ---------------------------------------------------------------------------------------------------


def test_a_new_session_has_a_256_bit_id_and_its_own_csrf_token(store: SessionStore) -> None:
    session = store.create(ALICE)

    assert URLSAFE_32_BYTES.fullmatch(session.id)
    assert URLSAFE_32_BYTES.fullmatch(session.csrf_token)
    assert session.csrf_token != session.id
    assert session.username == "acme-security"
    assert session.authenticated
    assert session.created_at == session.last_seen == T0


def test_ids_and_tokens_never_repeat(store: SessionStore) -> None:
    made = [store.create(ALICE) for _ in range(200)]

    assert len({s.id for s in made}) == 200
    assert len({s.csrf_token for s in made}) == 200


def test_a_session_speaks_the_users_language_unless_told(store: SessionStore) -> None:
    assert store.create(ALICE).lang == "ja"
    assert store.create(BOB).lang == "en"
    assert store.create(BOB, lang="ja").lang == "ja"


def test_a_session_does_not_show_its_id_or_token_in_repr(store: SessionStore) -> None:
    session = store.create(ALICE)

    assert session.id not in repr(session)
    assert session.csrf_token not in repr(session)
    assert "acme-security" in repr(session)


# -- lookup and timeouts ------------------------------------------------------------------------------------------


def test_get_returns_the_live_session_and_marks_it_seen(store: SessionStore, clock: Clock) -> None:
    session = store.create(ALICE)
    clock.advance(minutes=5)

    found = store.get(session.id)

    assert found is session
    assert found.last_seen == T0 + timedelta(minutes=5)


@pytest.mark.parametrize("session_id", [None, "", "not-a-session", "x" * 10_000])
def test_get_of_an_unknown_id_gives_none(store: SessionStore, session_id: str | None) -> None:
    store.create(ALICE)

    assert store.get(session_id) is None


def test_a_session_idle_for_thirty_minutes_is_gone(store: SessionStore, clock: Clock) -> None:
    session = store.create(ALICE)

    clock.advance(minutes=29, seconds=59)
    assert store.get(session.id) is not None
    clock.advance(minutes=30)

    assert store.get(session.id) is None
    assert len(store) == 0


def test_activity_keeps_a_session_alive_until_twelve_hours_after_sign_in(store: SessionStore, clock: Clock) -> None:
    session = store.create(ALICE)

    for _ in range(11 * 3 + 2):  # every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert store.get(session.id) is not None
    clock.advance(minutes=20)

    assert store.get(session.id) is None


def test_timeouts_can_be_set_as_timedeltas_or_seconds(clock: Clock) -> None:
    store = SessionStore(idle=60, absolute=timedelta(minutes=3), clock=clock)
    session = store.create(ALICE)

    clock.advance(seconds=59)
    assert store.get(session.id) is not None
    clock.advance(seconds=61)
    assert store.get(session.id) is None
    assert store.idle == timedelta(seconds=60)
    assert store.absolute == timedelta(minutes=3)


@pytest.mark.parametrize(
    "kwargs", [{"idle": 0}, {"absolute": -1}, {"idle": timedelta(0)}, {"max_sessions": 0}, {"max_per_user": 0}]
)
def test_nonsense_settings_are_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConsoleConfigError):
        SessionStore(**kwargs)  # type: ignore[arg-type]  # each case passes one setting of mixed types


def test_purge_expired_drops_every_expired_session(store: SessionStore, clock: Clock) -> None:
    store.create(ALICE)
    store.create(BOB)
    clock.advance(minutes=20)
    alive = store.create(BOB)
    clock.advance(minutes=15)

    assert store.purge_expired() == 2
    assert len(store) == 1
    assert store.get(alive.id) is alive


# -- sign-in and sign-out --------------------------------------------------------------------------------------


def test_destroy_ends_a_session(store: SessionStore) -> None:
    session = store.create(ALICE)

    assert store.destroy(session.id) is session
    assert store.get(session.id) is None
    assert store.destroy(session.id) is None
    assert store.destroy(None) is None


def test_sign_in_rotates_the_session_the_browser_came_with(store: SessionStore) -> None:
    before = store.create(BOB, lang="en")

    after = store.rotate(before.id, ALICE)

    assert store.get(before.id) is None
    assert after.id != before.id
    assert after.csrf_token != before.csrf_token
    assert after.username == "acme-security"
    assert after.lang == "en"  # the language chosen before carries over


def test_sign_in_without_a_previous_session_just_creates_one(store: SessionStore) -> None:
    session = store.rotate(None, BOB)

    assert store.get(session.id) is session
    assert session.lang == "en"


def test_signing_in_as_someone_else_destroys_the_old_signed_in_session(store: SessionStore) -> None:
    old = store.create(ALICE)

    new = store.rotate(old.id, BOB)

    assert store.get(old.id) is None
    assert store.get(new.id) is not None


def test_a_session_is_always_someone_signed_in(store: SessionStore) -> None:
    session = store.create(ALICE)

    assert session.authenticated
    assert session.username == "acme-security"
    assert check_csrf(session, session.csrf_token)


def test_destroy_user_signs_someone_out_everywhere(store: SessionStore) -> None:
    mine = [store.create(ALICE) for _ in range(3)]
    theirs = store.create(BOB)

    assert store.destroy_user("acme-security") == 3
    assert all(store.get(s.id) is None for s in mine)
    assert store.get(theirs.id) is theirs
    assert store.destroy_user("") == 0


# -- CSRF ---------------------------------------------------------------------------------------------------------


def test_the_sessions_own_csrf_token_passes(store: SessionStore) -> None:
    session = store.create(ALICE)

    assert check_csrf(session, session.csrf_token)
    assert store.check_csrf(session, session.csrf_token)


@pytest.mark.parametrize("token", [None, "", "wrong", "ü" * 43, "\ud800"])
def test_a_missing_wrong_or_non_ascii_csrf_token_fails(store: SessionStore, token: str | None) -> None:
    assert not check_csrf(store.create(ALICE), token)


def test_another_sessions_csrf_token_fails(store: SessionStore) -> None:
    assert not check_csrf(store.create(ALICE), store.create(ALICE).csrf_token)


def test_no_session_means_no_csrf_pass() -> None:
    assert not check_csrf(None, "anything")


def test_csrf_tokens_are_compared_in_constant_time(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    session = store.create(ALICE)

    assert not check_csrf(session, "x" + session.csrf_token[1:])
    assert len(calls) == 1


# -- bounded memory -------------------------------------------------------------------------------------------


def test_the_least_recently_used_session_goes_when_the_cap_is_reached(clock: Clock) -> None:
    store = SessionStore(max_sessions=3, clock=clock)
    first, second, third = (store.create(ALICE) for _ in range(3))
    clock.advance(seconds=1)
    store.get(first.id)  # used again, so second is now the oldest

    fourth = store.create(BOB)

    assert len(store) == 3
    assert store.get(second.id) is None
    assert all(store.get(s.id) is not None for s in (first, third, fourth))


def test_a_flood_of_login_page_visits_stores_nothing(clock: Clock) -> None:
    store = SessionStore(max_sessions=5, clock=clock)
    tokens = LoginTokens(clock=clock)
    signed_in = [store.create(ALICE) for _ in range(5)]

    issued = [tokens.issue() for _ in range(10_000)]

    assert len(store) == 5
    assert all(store.get(s.id) is not None for s in signed_in)
    assert tokens.check(issued[0], issued[0])  # the first form shown still works


def test_one_user_signing_in_again_and_again_pushes_out_only_their_own_oldest(clock: Clock) -> None:
    store = SessionStore(max_sessions=100, max_per_user=3, clock=clock)
    bob = store.create(BOB)
    alices = [store.create(ALICE) for _ in range(50)]

    assert len(store) == 4
    assert store.get(bob.id) is bob
    assert [store.get(a.id) is not None for a in alices[-4:]] == [False, True, True, True]


def test_a_login_token_must_match_its_cookie_be_signed_here_and_be_young(clock: Clock) -> None:
    tokens = LoginTokens(clock=clock, max_age=timedelta(hours=1))
    token, other = tokens.issue(), tokens.issue()
    forged_elsewhere = LoginTokens(clock=clock).issue()

    assert tokens.check(token, token)
    assert not tokens.check(token, other)  # a form from another browser
    assert not tokens.check(None, token)  # a cross-site post carries no Strict cookie
    assert not tokens.check(forged_elsewhere, forged_elsewhere)  # not signed with this process's secret
    assert not tokens.check(token[:-1] + ("0" if token[-1] != "0" else "1"), token[:-1] + "0")
    clock.advance(hours=1, seconds=1)
    assert not tokens.check(token, token)
    assert "secret" not in repr(tokens)


def test_concurrent_creates_respect_the_cap(clock: Clock) -> None:
    store = SessionStore(max_sessions=50, max_per_user=1_000, clock=clock)

    def work() -> None:
        for _ in range(100):
            store.create(ALICE)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(store) == 50
