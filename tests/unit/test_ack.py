"""Acknowledgement tokens: signed, expiring, and free of personal information."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from kinkyu.core.ack import AckClaim, AckTokenError, make_ack_token, verify_ack_token

SECRET = "s3cret-for-tests-only-0123456789"
NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
INC = "INC-20261121-0001"
MSG = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"


def token(**changes: object) -> str:
    args: dict[str, object] = {
        "incident_id": INC,
        "message_id": MSG,
        "recipient": "city:0",
        "expires_at": EXPIRES,
        "secret": SECRET,
    }
    args.update(changes)
    return make_ack_token(**args)  # type: ignore[arg-type]


def test_a_token_round_trips_to_its_claim() -> None:
    claim = verify_ack_token(token(), SECRET, NOW)
    assert claim == AckClaim(INC, MSG, "city:0", EXPIRES)


def test_the_token_is_url_safe_and_deterministic() -> None:
    t = token()
    assert t == token()
    assert all(c.isalnum() or c in "-_." for c in t)
    assert t.count(".") == 1


def test_the_payload_holds_references_only() -> None:
    payload = token().split(".")[0]
    body = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body == {"v": 1, "i": INC, "m": MSG, "r": "city:0", "x": int(EXPIRES.timestamp())}


@pytest.mark.parametrize("recipient", ["tanto-a@city.example.jp", "山田太郎", "city 0", "", "x" * 201, "a\nb"])
def test_free_text_or_an_address_is_refused_as_recipient(recipient: str) -> None:
    with pytest.raises(ValueError, match="recipient"):
        token(recipient=recipient)


def test_a_naive_expiry_or_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        token(expires_at=datetime(2026, 11, 28, 10, 0))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError, match="16 bytes"):
        token(secret="short")
    with pytest.raises(ValueError, match="16 bytes"):
        verify_ack_token(token(), b"short", NOW)


def test_expired_token_is_refused_with_reason_expired() -> None:
    t = token()
    assert verify_ack_token(t, SECRET, EXPIRES - timedelta(seconds=1)).incident_id == INC
    with pytest.raises(AckTokenError, match="expired") as err:
        verify_ack_token(t, SECRET, EXPIRES)
    assert err.value.reason == "expired"


def test_another_secret_is_a_bad_signature() -> None:
    with pytest.raises(AckTokenError) as err:
        verify_ack_token(token(), "another-secret-of-enough-length", NOW)
    assert err.value.reason == "bad-signature"


def test_an_altered_payload_is_a_bad_signature() -> None:
    payload, sig = token().split(".")
    other_payload = token(recipient="city:1").split(".")[0]
    with pytest.raises(AckTokenError) as err:
        verify_ack_token(f"{other_payload}.{sig}", SECRET, NOW)
    assert err.value.reason == "bad-signature"
    assert payload != other_payload


def test_an_altered_expiry_is_caught_by_the_signature() -> None:
    payload, sig = token(expires_at=NOW - timedelta(days=1)).split(".")
    body = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["x"] += 10 * 86400
    forged = base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode()
    with pytest.raises(AckTokenError) as err:
        verify_ack_token(f"{forged}.{sig}", SECRET, NOW)
    assert err.value.reason == "bad-signature"


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "a.b.c", ".sig", "payload.", "!!!.###", "a b.c d"],
)
def test_malformed_tokens_are_refused_as_malformed(bad: str) -> None:
    with pytest.raises(AckTokenError) as err:
        verify_ack_token(bad, SECRET, NOW)
    assert err.value.reason in {"malformed", "bad-signature"}
    assert str(err.value)


def test_a_validly_signed_payload_of_the_wrong_shape_is_malformed() -> None:
    import hashlib  # noqa: PLC0415 - only this test signs by hand
    import hmac  # noqa: PLC0415

    def signed(body: object) -> str:
        payload = base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode()
        mac = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    for body in ([1, 2], {"v": 2, "i": INC, "m": MSG, "r": "city:0", "x": 1}, {"v": 1, "i": INC, "x": 1}):
        with pytest.raises(AckTokenError) as err:
            verify_ack_token(signed(body), SECRET, NOW)
        assert err.value.reason == "malformed"


def test_error_messages_do_not_echo_the_token() -> None:
    t = token(expires_at=NOW)
    with pytest.raises(AckTokenError) as err:
        verify_ack_token(t, SECRET, NOW)
    assert t not in str(err.value)
    assert t.split(".")[1] not in str(err.value)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        verify_ack_token(token(), SECRET, datetime(2026, 11, 21, 10, 0))  # noqa: DTZ001 - naive on purpose
