"""Builders for the unit tier: canonical wire objects, domain events, compiled sample contracts.

Every builder returns a fresh value, so a test may mutate what it gets.
The canonical objects are the examples of shared/spec/events.md, verbatim.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kinkyu.contracts import compile_profiles, load_profiles
from kinkyu.core.contract import ContractPolicy
from kinkyu.core.model import AccessEvent, IncidentEvent
from kinkyu.core.wire import access_from_obj, incident_from_obj

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CONTRACTS = REPO / "samples" / "contracts"
SAMPLE_EVENTS = REPO / "samples" / "events"
# shared/ sits beside the repository (in this workspace and in a fresh clone).
SPEC_DIR = (REPO / ".." / "shared" / "spec").resolve()
SPEC_CONTRACT = SPEC_DIR / "contract.example.yaml"
# A verbatim copy of the spec example (tested against shared/ when it is beside the repository), so a clone without
# shared/ tests it too; samples/contracts/koganei-2026-017.yaml grew from it (the sender block a letter needs).
SAMPLE_SPEC_CONTRACT = REPO / "tests" / "unit" / "data" / "contract.example.yaml"

KOGANEI = "koganei-2026-017"
CHIBA = "chiba-2026-021"
# A Friday inside work hours (2026-11-20 is not a public holiday in Japan).
WORKDAY = "2026-11-20"
# Someone not in any sample contract's staff, of the contractor's own org.
STRANGER = "u9999"
# A distinctive value planted in bad fields: no error text may ever contain it.
PLANTED = "山田太郎"

_ACCESS_EXAMPLE: dict[str, Any] = {
    "event_id": "a7f3c2e0-1b7e-4d8e-9a51-0c2f1f3b9e10",
    "ts": "2026-11-21T09:15:02.123+09:00",
    "contract_id": "koganei-2026-017",
    "system": "juki-portal",
    "actor": {"id": "u1042", "org": "acme", "role": "operator"},
    "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
    "action": "export",
    "resource": {"dataset": "residents", "records": 1200, "fields": ["name", "address", "birthdate"]},
    "outcome": "success",
    "session_id": "s-88a1",
    "destination": None,
    "encrypted": None,
    "attrs": {},
}

_INCIDENT_EXAMPLE: dict[str, Any] = {
    "event_id": "5d2b0c4e-6f0a-4a7b-8a0e-1f9e2d3c4b5a",
    "ts": "2026-11-21T10:02:00+09:00",
    "contract_id": "koganei-2026-017",
    "kind": "misdelivery",
    "incident_id": None,
    "reported_by": {"id": "sec-07", "org": "acme", "role": "security"},
    "summary": "Notice for 3 residents mailed to the wrong address",
    "occurred_at": "2026-11-20T16:00:00+09:00",
    "discovered_at": "2026-11-21T09:40:00+09:00",
    "location": "Acme print centre, Fuchu",
    "records_affected": 3,
    "data_items": ["name", "address"],
    "details": "free text, may contain personal information",
}


def access_example() -> dict[str, Any]:
    """The access-log example of events.md, as parsed JSON."""
    return copy.deepcopy(_ACCESS_EXAMPLE)


def incident_example() -> dict[str, Any]:
    """The incident-event example of events.md, as parsed JSON."""
    return copy.deepcopy(_INCIDENT_EXAMPLE)


def without(obj: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A copy of ``obj`` without the (possibly nested) key ``a.b``."""
    out = copy.deepcopy(obj)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    del node[last]
    return out


def with_value(obj: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the (possibly nested) key ``a.b`` set to ``value``."""
    out = copy.deepcopy(obj)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out


def dumps(obj: Any) -> bytes:
    """JSON bytes as a producer would send them."""
    return orjson.dumps(obj)


def at(day: str, clock: str) -> str:
    """RFC 3339 text in Japan time, e.g. ``at(WORKDAY, "10:00")``."""
    return f"{day}T{clock}:00+09:00"


def quiet_read(
    event_id: str,
    ts: str,
    *,
    actor: str = STRANGER,
    contract_id: str = KOGANEI,
    system: str = "juki-portal",
) -> dict[str, Any]:
    """A small ``read`` of allowed fields on an allowed dataset from the koganei site network.

    With ``actor`` outside ``staff`` and ``ts`` in work hours on a weekday, it fires
    only ``unregistered-actor``; with a registered actor it fires nothing.
    """
    return {
        "event_id": event_id,
        "ts": ts,
        "contract_id": contract_id,
        "system": system,
        "actor": {"id": actor, "org": "acme", "role": "operator"},
        "source": {"ip": "10.20.3.4", "host": "pc-17", "site": "koganei-hq-3f"},
        "action": "read",
        "resource": {"dataset": "residents", "records": 5, "fields": ["name", "address"]},
        "outcome": "success",
    }


def access(obj: dict[str, Any]) -> AccessEvent:
    """Decode a wire object into the domain event."""
    return access_from_obj(obj)


def read_event(event_id: str, ts: str, *, actor: str = STRANGER, contract_id: str = KOGANEI) -> AccessEvent:
    """:func:`quiet_read` as a domain event."""
    return access(quiet_read(event_id, ts, actor=actor, contract_id=contract_id))


def filed(
    event_id: str,
    ts: str,
    *,
    kind: str = "misdelivery",
    incident_id: str | None = None,
    contract_id: str = KOGANEI,
    occurred_at: str | None = None,
    discovered_at: str | None = None,
) -> IncidentEvent:
    """An incident event: a new filing when ``incident_id`` is None, else a follow-up."""
    obj = incident_example()
    obj.update(
        event_id=event_id,
        ts=ts,
        kind=kind,
        incident_id=incident_id,
        contract_id=contract_id,
        occurred_at=occurred_at or ts,
        discovered_at=discovered_at or ts,
    )
    return incident_from_obj(obj)


def epoch(ts: str) -> float:
    """POSIX seconds of RFC 3339 text."""
    return datetime.fromisoformat(ts).timestamp()


def sample_policies() -> dict[str, ContractPolicy]:
    """Freshly compiled policies of the six sample contracts (rule caches empty)."""
    return compile_profiles(load_profiles([SAMPLE_CONTRACTS]))


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | bytes | str]) -> Path:
    """Write one JSON object (or a raw line, for malformed input) per line."""
    with path.open("wb") as fh:
        for line in lines:
            if isinstance(line, dict):
                fh.write(orjson.dumps(line))
            elif isinstance(line, str):
                fh.write(line.encode())
            else:
                fh.write(line)
            fh.write(b"\n")
    return path
