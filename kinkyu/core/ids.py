"""Incident ids: a function of an incident's content, never of when or where it was read.

An id reads ``INC-<JST date of the first event>-<origin><body><check>``:

- ``origin`` is ``D`` for a detection, ``F`` for a filing. The two come from
  two topics whose records may interleave any way; with separate letters a
  detection and a filing never compete for one id, so which topic is read
  first cannot change either id;
- ``body`` is the start of the base32 of a SHA-256 over the incident's
  content (its contract, origin and the rule, actor and finding or filing it
  opened on), five characters unless that id is taken (then longer, in a
  fixed order: the same content and the same taken ids give the same id);
- ``check`` is two characters derived from the contract, the date and the
  body, so a follow-up that names an incident of another contract is
  recognised as such from the id alone, on any partition and before the
  incident is known (a chance match, 1 in 1,024, is still refused when the
  incident's owner is compared).

Ids made before content-derived ids (``INC-<date>-<sequence>``) stay valid
wherever they were stored; no new one is made.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import count

DETECTION = "D"
FILED = "F"
ORIGIN_LETTERS = {"detection": DETECTION, "filed": FILED}
BODY_MIN = 5
BODY_MAX = 16  # past it (taken ids this long cannot happen by chance) the next content variant is tried
CHECK_LEN = 2
_SEP = "\x1f"  # cannot occur in an id, a rule name or an event id of the wire
_ID = re.compile(r"INC-(\d{8})-([DF])([A-Z2-7]{5,16})([A-Z2-7]{2})")  # BODY_MIN, BODY_MAX, CHECK_LEN


@dataclass(frozen=True, slots=True)
class ParsedId:
    """The parts of a content-derived incident id."""

    day: str
    origin: str  # DETECTION or FILED
    body: str
    check: str


def _b32(data: str) -> str:
    return base64.b32encode(hashlib.sha256(data.encode()).digest()).decode().rstrip("=")


def id_check(contract_id: str, day: str, stem: str) -> str:
    """The check characters of an id of ``contract_id`` on ``day`` whose origin and body are ``stem``."""
    return _b32(_SEP.join(("kinkyu-incident-check/1", contract_id, day, stem)))[:CHECK_LEN]


def make_incident_id(
    contract_id: str, day: str, origin: str, content: Iterable[str], taken: Callable[[str], bool]
) -> str:
    """The id of an incident of ``contract_id`` opened on JST ``day`` (``YYYYMMDD``) with ``content``.

    ``origin`` is :data:`DETECTION` or :data:`FILED`; ``content`` the strings
    that make this incident what it is (the same for a re-read of the same
    events). ``taken`` says whether an id is in use: a taken id lengthens the
    body one character at a time, then tries the content with a counter.
    """
    parts = (contract_id, origin, *content)
    for variant in count():
        digest = _b32(_SEP.join(("kinkyu-incident/1", *parts, *((str(variant),) if variant else ()))))
        for length in range(BODY_MIN, BODY_MAX + 1):
            stem = origin + digest[:length]
            candidate = f"INC-{day}-{stem}{id_check(contract_id, day, stem)}"
            if not taken(candidate):
                return candidate
    raise AssertionError  # pragma: no cover  # count() does not end


def parse_incident_id(incident_id: str) -> ParsedId | None:
    """The parts of a content-derived id, or None (an id of the old form, or no id at all)."""
    m = _ID.fullmatch(incident_id)
    if m is None:
        return None
    return ParsedId(m[1], m[2], m[3], m[4])


def owned_by(parsed: ParsedId, contract_id: str) -> bool:
    """Whether the id's check characters are those of ``contract_id`` (one chance in 1,024 for another)."""
    return id_check(contract_id, parsed.day, parsed.origin + parsed.body) == parsed.check
