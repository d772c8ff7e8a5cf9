"""Acknowledgement links: signed, expiring tokens that say who was sent which message.

Every message Kinkyu sends carries a link ``<ack base>/ack/<token>``; opening
it records on the incident's timeline that the recipient has the message
(a report counts as made when the city confirms receiving it).

The token is ``<payload>.<mac>``, both URL-safe base64 without padding:

- payload: compact JSON ``{"v": 1, "i": incident id, "m": message id,
  "r": recipient, "x": expiry in POSIX seconds}``;
- mac: HMAC-SHA256 of the payload segment (its ASCII text) under the
  server's secret.

Nothing in it is personal information, and nothing in it is secret: the
recipient is a reference such as ``city:0`` (the first city contact of the
contract profile), never an address, because links get forwarded, pasted
into tickets and logged by proxies. The signature is what makes it
trustworthy; the expiry bounds how long a leaked link works.

Pure: no clock (``now`` is passed in), no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson

from kinkyu.exceptions import KinkyuError

TOKEN_VERSION = 1
# The shortest secret accepted: 128 bits. Generate one with
# `python -c "import secrets; print(secrets.token_urlsafe(32))"`.
MIN_SECRET_BYTES = 16
# Ids in a token are references, never text a person typed: this keeps an
# e-mail address or a name from being put into a link by mistake.
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/#-]{0,199}")

AckErrorReason = Literal["malformed", "bad-signature", "expired"]


class AckTokenError(KinkyuError):
    """An acknowledgement token cannot be accepted; ``reason`` says why (malformed, bad-signature, expired)."""

    def __init__(self, reason: AckErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: AckErrorReason = reason


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a valid token says: ``recipient`` was sent message ``message_id`` of ``incident_id``."""

    incident_id: str
    message_id: str
    recipient: str
    expires_at: datetime


def _secret_bytes(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        msg = f"the acknowledgement secret must be at least {MIN_SECRET_BYTES} bytes"
        raise ValueError(msg)
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # Strict alphabet check first: urlsafe_b64decode silently drops characters it does not know.
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not URL-safe base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()


def _check_ref(name: str, value: str) -> None:
    if not _REF.fullmatch(value):
        msg = f"{name} must be an id or reference ([A-Za-z0-9_.:/#-], at most 200 characters), not free text"
        raise ValueError(msg)


def make_ack_token(incident_id: str, message_id: str, recipient: str, expires_at: datetime, secret: str | bytes) -> str:
    """A signed token for ``recipient``'s copy of ``message_id``, valid until ``expires_at``.

    ``recipient`` is a reference (``city:0``, ``contractor:1``, ``webhook:chat``),
    never an address: ValueError if any id looks like free text, if
    ``expires_at`` is naive or if the secret is shorter than 16 bytes.
    """
    for name, value in (("incident_id", incident_id), ("message_id", message_id), ("recipient", recipient)):
        _check_ref(name, value)
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError("expires_at must be an aware datetime")
    key = _secret_bytes(secret)
    body = {"v": TOKEN_VERSION, "i": incident_id, "m": message_id, "r": recipient, "x": int(expires_at.timestamp())}
    payload = _b64encode(orjson.dumps(body))
    return f"{payload}.{_b64encode(_mac(key, payload))}"


def verify_ack_token(token: str, secret: str | bytes, now: datetime) -> AckClaim:
    """The claim of ``token`` if its signature is right and it has not expired at ``now``.

    Raises :class:`AckTokenError` with ``reason`` ``malformed`` (not a token),
    ``bad-signature`` (altered, or signed with another secret) or ``expired``.
    The signature is checked before anything in the payload is believed.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    key = _secret_bytes(secret)
    parts = token.split(".")
    if len(parts) != 2 or not parts[0] or not parts[1]:  # noqa: PLR2004 - payload and signature
        raise AckTokenError("malformed", "not an acknowledgement token: expected <payload>.<signature>")
    payload, signature = parts
    try:
        given = _b64decode(signature)
        raw = _b64decode(payload)
    except (ValueError, binascii.Error) as exc:
        raise AckTokenError("malformed", "not an acknowledgement token: the link is incomplete or altered") from exc
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise AckTokenError("bad-signature", "the acknowledgement link's signature does not match: it was altered")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AckTokenError("malformed", "the acknowledgement token's payload is not JSON") from exc
    claim = _claim(body)
    if now >= claim.expires_at:
        raise AckTokenError(
            "expired",
            f"the acknowledgement link expired at {claim.expires_at.isoformat()}; "
            "ask the sender to send the message again or acknowledge by telephone",
        )
    return claim


def _claim(body: object) -> AckClaim:
    if not isinstance(body, dict) or body.get("v") != TOKEN_VERSION:
        raise AckTokenError("malformed", f"the acknowledgement token is not version {TOKEN_VERSION}")
    ids = [body.get(k) for k in ("i", "m", "r")]
    expiry = body.get("x")
    if not all(isinstance(v, str) and v for v in ids) or not isinstance(expiry, int) or isinstance(expiry, bool):
        raise AckTokenError("malformed", "the acknowledgement token lacks its incident, message, recipient or expiry")
    incident_id, message_id, recipient = (str(v) for v in ids)
    try:
        expires_at = datetime.fromtimestamp(expiry, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise AckTokenError("malformed", "the acknowledgement token's expiry is out of range") from exc
    return AckClaim(incident_id, message_id, recipient, expires_at)
