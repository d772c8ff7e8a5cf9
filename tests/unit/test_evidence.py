"""Evidence preservation, the pure part: sealing, opening, tamper detection, keys, the custody chain."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from kinkyu.core.evidence import (
    CUSTODY_ACTIONS,
    GENESIS_HASH,
    CustodyEntry,
    EvidenceItem,
    Manifest,
    SealedBundle,
    append_entry,
    check_bundle,
    encode_plaintext,
    evidence_window,
    in_evidence_scope,
    key_from_config,
    key_id,
    open_bundle,
    seal_bundle,
    sha256_hex,
    source_of,
    verify_chain,
)
from kinkyu.core.incident import Incident
from kinkyu.core.model import JST, Severity
from kinkyu.evidence.exceptions import EvidenceError, EvidenceKeyError, EvidenceTamperedError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NONCE = b"\x01" * 12
INC = "INC-20261121-0001"
SEALED_AT = datetime(2026, 11, 21, 10, 5, tzinfo=JST)
# Personal information as it would arrive in an event: it must never leave the ciphertext.
NAME = "山田太郎"
ADDRESS = "小金井市本町6-6-3"


def _raw(event_id: str, details: str = f"{NAME} {ADDRESS}") -> bytes:
    return json.dumps({"event_id": event_id, "details": details}, ensure_ascii=False).encode()


def _items() -> list[EvidenceItem]:
    return [
        EvidenceItem("incident-events/0/7", "ev-2", _raw("ev-2")),
        EvidenceItem("access-log/0/1234", "ev-1", _raw("ev-1", "export 1200 records")),
        EvidenceItem("access-log/1/99", "ev-3", b"\xff\x00 not even UTF-8"),
    ]


def _seal(items: list[EvidenceItem] | None = None, /, **changes: object) -> SealedBundle:
    kwargs: dict[str, object] = {
        "sealed_at": SEALED_AT,
        "sealed_by": "kinkyu",
        "reason": "incident opened: rule bulk-export",
        "nonce": NONCE,
    }
    kwargs.update(changes)
    return seal_bundle(INC, items if items is not None else _items(), KEY, **kwargs)  # type: ignore[arg-type]


def _with_manifest(sealed: SealedBundle, **changes: object) -> SealedBundle:
    return SealedBundle(replace(sealed.manifest, **changes), sealed.blob)  # type: ignore[arg-type]


def _tamper_problems(sealed: SealedBundle, key: bytes = KEY) -> str:
    with pytest.raises(EvidenceTamperedError) as info:
        open_bundle(sealed, key)
    return str(info.value)


# -- sealing and opening --------------------------------------------------------------------------------------


def test_seal_then_open_gives_the_items_back_byte_for_byte_in_bundle_order() -> None:
    sealed = _seal()

    items = open_bundle(sealed, KEY)

    assert items == sorted(_items(), key=lambda i: (i.source, i.event_id))
    assert sealed.manifest.item_count == 3
    assert [i.event_id for i in sealed.manifest.items] == ["ev-1", "ev-3", "ev-2"]
    assert sealed.manifest.items[0].sha256 == sha256_hex(_raw("ev-1", "export 1200 records"))
    assert sealed.manifest.key_id == key_id(KEY)
    assert sealed.manifest.cipher == "AES-256-GCM"
    assert check_bundle(sealed, KEY).ok


def test_the_blob_is_nonce_then_ciphertext_and_tag_and_its_hash_is_in_the_manifest() -> None:
    sealed = _seal()
    plaintext = encode_plaintext(INC, open_bundle(sealed, KEY))

    assert sealed.blob[:12] == NONCE
    assert len(sealed.blob) == 12 + len(plaintext) + 16
    assert sealed.manifest.ciphertext_sha256 == sha256_hex(sealed.blob)
    assert sealed.manifest.plaintext_sha256 == sha256_hex(plaintext)


def test_the_plaintext_is_documented_json_lines_with_base64_raw_and_hashes() -> None:
    items = sorted(_items(), key=lambda i: (i.source, i.event_id))
    lines = encode_plaintext(INC, items).decode("ascii").splitlines()

    assert json.loads(lines[0]) == {"format": "kinkyu-evidence-bundle/1", "incident_id": INC, "items": 3}
    first = json.loads(lines[1])
    assert first["source"] == "access-log/0/1234"
    assert base64.b64decode(first["raw"]) == items[0].raw
    assert first["sha256"] == sha256_hex(items[0].raw)


def test_bundle_id_is_deterministic_whatever_the_order_duplicates_nonce_or_time() -> None:
    first = _seal()
    again = _seal(
        [*reversed(_items()), _items()[0]],
        nonce=None,
        sealed_at=SEALED_AT + timedelta(hours=3),
        sealed_by="worker-2",
    )

    assert again.bundle_id == first.bundle_id
    assert again.manifest.plaintext_sha256 == first.manifest.plaintext_sha256
    assert again.blob != first.blob  # a fresh nonce every seal
    assert first.bundle_id == f"EVB-{INC}-{first.manifest.plaintext_sha256[:16]}"


def test_bundle_id_differs_for_other_events_or_another_incident() -> None:
    base = _seal()
    fewer = _seal(_items()[:2])
    elsewhere = seal_bundle("INC-20261121-0002", _items(), KEY, sealed_at=SEALED_AT, sealed_by="k", reason="r")
    changed = _seal([*_items()[:2], EvidenceItem("access-log/1/99", "ev-3", b"\xff\x00 not even UTF-8!")])

    assert len({base.bundle_id, fewer.bundle_id, elsewhere.bundle_id, changed.bundle_id}) == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sealed_at": datetime(2026, 11, 21, 10, 5)}, "UTC offset"),  # noqa: DTZ001
        ({"nonce": b"short"}, "nonce"),
        ({"reason": ""}, "reason"),
    ],
)
def test_sealing_refuses_bad_arguments(changes: dict[str, object], message: str) -> None:
    with pytest.raises(EvidenceError, match=message):
        _seal(**changes)


def test_sealing_refuses_no_items_a_bad_incident_id_and_a_short_key() -> None:
    with pytest.raises(EvidenceError, match="nothing to seal"):
        _seal([])
    with pytest.raises(EvidenceError, match="incident id"):
        seal_bundle("../etc", _items(), KEY, sealed_at=SEALED_AT, sealed_by="k", reason="r")
    with pytest.raises(EvidenceKeyError, match="32 bytes"):
        seal_bundle(INC, _items(), KEY[:16], sealed_at=SEALED_AT, sealed_by="k", reason="r")


# -- tampering ------------------------------------------------------------------------------------------------


def test_every_flipped_byte_of_the_blob_is_caught_and_names_the_ciphertext() -> None:
    sealed = _seal([EvidenceItem("access-log/0/1", "ev-1", b"x")])

    for i in range(len(sealed.blob)):
        blob = bytearray(sealed.blob)
        blob[i] ^= 0x01
        message = _tamper_problems(SealedBundle(sealed.manifest, bytes(blob)))
        assert "ciphertext" in message
        assert "AES-GCM" in message


def test_a_truncated_blob_is_caught() -> None:
    sealed = _seal()

    assert "truncated" in _tamper_problems(SealedBundle(sealed.manifest, sealed.blob[:20]))


def test_an_altered_ciphertext_hash_in_the_manifest_is_named() -> None:
    sealed = _seal()

    message = _tamper_problems(_with_manifest(sealed, ciphertext_sha256="0" * 64))

    assert "manifest: ciphertext_sha256 does not match" in message


def test_an_altered_plaintext_hash_in_the_manifest_is_named() -> None:
    sealed = _seal()

    message = _tamper_problems(_with_manifest(sealed, plaintext_sha256="f" * 64))

    assert "manifest: plaintext_sha256 does not match the sealed content" in message


def test_an_altered_item_hash_or_event_id_in_the_manifest_names_the_item() -> None:
    sealed = _seal()
    items = list(sealed.manifest.items)
    items[1] = replace(items[1], sha256="a" * 64)
    items[2] = replace(items[2], event_id="ev-forged")

    message = _tamper_problems(_with_manifest(sealed, items=tuple(items)))

    assert "item 2 (event ev-3): SHA-256 does not match the sealed item" in message
    assert "item 3: event_id does not match" in message


def test_a_dropped_item_in_the_manifest_is_named() -> None:
    sealed = _seal()

    message = _tamper_problems(_with_manifest(sealed, items=sealed.manifest.items[:2]))

    assert "lists 2 items; the bundle holds 3" in message


def test_associated_data_stops_a_ciphertext_being_swapped_into_another_bundle() -> None:
    a = _seal()
    b = _seal(_items()[:2])
    # Swap the blob and even fix up the hash the manifest records: the tag still fails.
    swapped = SealedBundle(replace(b.manifest, ciphertext_sha256=a.manifest.ciphertext_sha256), a.blob)

    message = _tamper_problems(swapped)

    assert "fails AES-GCM authentication" in message
    assert b.bundle_id in message


def test_associated_data_stops_a_bundle_being_moved_to_another_incident() -> None:
    sealed = _seal()

    message = _tamper_problems(_with_manifest(sealed, incident_id="INC-20261121-0002"))

    assert "fails AES-GCM authentication" in message


def test_a_wrong_key_is_a_key_error_naming_key_ids_not_the_key() -> None:
    sealed = _seal()

    with pytest.raises(EvidenceKeyError) as info:
        open_bundle(sealed, OTHER_KEY)

    message = str(info.value)
    assert key_id(KEY) in message
    assert key_id(OTHER_KEY) in message
    for secret in (OTHER_KEY, KEY):
        assert base64.b64encode(secret).decode() not in message
        assert secret.hex() not in message
    assert not check_bundle(sealed, OTHER_KEY).ok


def test_a_wrong_key_with_a_forged_key_id_fails_authentication() -> None:
    sealed = _seal()

    message = _tamper_problems(_with_manifest(sealed, key_id=key_id(OTHER_KEY)), OTHER_KEY)

    assert "AES-GCM" in message
    assert OTHER_KEY.hex() not in message


# -- no personal data outside the ciphertext ------------------------------------------------------------------


def test_neither_manifest_nor_its_json_nor_any_repr_carries_raw_content() -> None:
    sealed = _seal()
    texts = [
        json.dumps(sealed.manifest.to_json(), ensure_ascii=False),
        json.dumps(sealed.manifest.to_json()),
        repr(sealed),
        repr(sealed.manifest),
        repr(_items()),
        repr(open_bundle(sealed, KEY)),
    ]

    for text in texts:
        assert NAME not in text
        assert ADDRESS not in text
        assert "export 1200 records" not in text
        assert "details" not in text
        assert base64.b64encode(_raw("ev-2")).decode()[:20] not in text
    assert NAME.encode() not in sealed.blob


def test_manifest_json_round_trips_and_has_the_fields_a_report_shows() -> None:
    manifest = _seal().manifest
    data = json.loads(json.dumps(manifest.to_json()))

    assert Manifest.from_json(data) == manifest
    assert {"bundle_id", "incident_id", "item_count", "plaintext_sha256", "ciphertext_sha256", "key_id"} <= set(data)
    assert data["items"][0] == {"source": "access-log/0/1234", "event_id": "ev-1", "sha256": manifest.items[0].sha256}


def test_a_manifest_that_does_not_parse_names_the_field() -> None:
    data = _seal().manifest.to_json()
    del data["plaintext_sha256"]

    with pytest.raises(EvidenceTamperedError, match="'plaintext_sha256'"):
        Manifest.from_json(data)
    with pytest.raises(EvidenceTamperedError, match="item_count"):
        Manifest.from_json({**_seal().manifest.to_json(), "item_count": 2})


# -- keys -----------------------------------------------------------------------------------------------------


def test_key_from_config_accepts_base64_urlsafe_unpadded_and_hex() -> None:
    key = bytes([0xFB, 0xFF] * 16)

    assert key_from_config(base64.b64encode(key).decode()) == key
    assert key_from_config(" " + base64.b64encode(key).decode() + "\n") == key
    assert key_from_config(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key
    assert key_from_config(key.hex()) == key
    assert key_from_config(key.hex().upper()) == key


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (base64.b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
        (base64.b64encode(b"k" * 48).decode(), "decodes to 48 bytes"),
        ("not base64 at all!!", "neither base64 nor 64 hex digits"),
        ("   ", "empty"),
    ],
)
def test_key_from_config_says_what_is_wrong_without_quoting_the_key(secret: str, message: str) -> None:
    with pytest.raises(EvidenceKeyError) as info:
        key_from_config(secret)

    assert message in str(info.value)
    assert "openssl rand -base64 32" in str(info.value)
    if secret.strip():
        assert secret not in str(info.value)


def test_key_id_is_the_first_eight_hex_of_the_keys_sha256() -> None:
    assert key_id(KEY) == sha256_hex(KEY)[:8]
    assert key_id(KEY) != key_id(OTHER_KEY)


# -- what to seal ---------------------------------------------------------------------------------------------


def _incident(actor: str | None = "u1042", system: str | None = "juki-portal") -> Incident:
    ts = datetime(2026, 11, 21, 9, 15, tzinfo=JST)
    return Incident(
        incident_id=INC,
        contract_id="koganei-2026-017",
        jurisdiction="小金井市",
        origin="detection",
        kind="detection",
        first_event_ts=ts,
        last_event_ts=ts + timedelta(minutes=10),
        actor=actor,
        system=system,
        severity=Severity.HIGH,
        event_ids=["trigger"],
    )


def test_the_window_is_an_hour_either_side_of_the_incidents_events_by_default() -> None:
    incident = _incident()

    start, end = evidence_window(incident)

    assert start == incident.first_event_ts - timedelta(hours=1)
    assert end == incident.last_event_ts + timedelta(hours=1)
    assert evidence_window(incident, timedelta(minutes=5))[0] == incident.first_event_ts - timedelta(minutes=5)


def test_scope_takes_the_triggers_and_the_actors_and_systems_events_in_the_window() -> None:
    incident = _incident()
    inside = incident.first_event_ts - timedelta(minutes=59)
    outside = incident.last_event_ts + timedelta(minutes=61)

    def scope(event_id: str, ts: datetime, actor: str | None, system: str | None) -> bool:
        return in_evidence_scope(incident, event_id=event_id, ts=ts, actor=actor, system=system)

    assert scope("trigger", outside, "someone", "elsewhere")
    assert scope("e", inside, "u1042", "other-system")
    assert scope("e", inside, "u9999", "juki-portal")
    assert not scope("e", inside, "u9999", "other-system")
    assert not scope("e", outside, "u1042", "juki-portal")
    assert not in_evidence_scope(_incident(actor=None, system=None), event_id="e", ts=inside, actor=None, system=None)


def test_source_names_topic_partition_offset() -> None:
    assert source_of("access-log", 0, 1234) == "access-log/0/1234"


# -- custody chain --------------------------------------------------------------------------------------------


def _chain(n: int = 5) -> list[CustodyEntry]:
    entries: list[CustodyEntry] = []
    bundle = _seal().bundle_id
    actions = ["sealed", "viewed", "exported", "verified", "viewed", "viewed", "viewed"]
    for i in range(n):
        entries.append(
            append_entry(
                entries[-1] if entries else None,
                at=SEALED_AT + timedelta(minutes=i),
                actor="kinkyu" if i == 0 else f"sec-0{i}",
                action=actions[i],
                incident_id=INC,
                bundle_id=bundle,
                detail={"n": i},
            )
        )
    return entries


def _messages(entries: list[CustodyEntry]) -> list[str]:
    report = verify_chain(entries, incident_id=INC)
    assert not report.ok
    return [p.message for p in report.problems]


def test_an_intact_chain_is_ok_and_reports_its_head() -> None:
    entries = _chain()

    report = verify_chain(entries, incident_id=INC)

    assert report.ok
    assert report.entry_count == 5
    assert report.head_seq == 5
    assert report.head_hash == entries[-1].entry_hash
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert report.to_json()["status"] == "intact"


def test_entry_hash_covers_every_field_including_prev_hash() -> None:
    entry = _chain(2)[1]
    for change in (
        {"seq": 9},
        {"at": entry.at + timedelta(seconds=1)},
        {"actor": "mallory"},
        {"action": "exported"},
        {"bundle_id": None},
        {"incident_id": "INC-20261121-0002"},
        {"detail": {"n": 2}},
        {"prev_hash": "1" * 64},
    ):
        assert replace(entry, **change).computed_hash() != entry.entry_hash


def test_an_altered_entry_is_named_by_seq() -> None:
    entries = _chain()
    entries[2] = replace(entries[2], actor="mallory")

    assert _messages(entries) == ["entry 3: hash does not match its content"]


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = _chain()
    forged = replace(entries[2], actor="mallory")
    entries[2] = replace(forged, entry_hash=forged.computed_hash())

    assert _messages(entries) == ["entry 4: prev_hash does not match entry 3"]


def test_a_deleted_entry_shows_as_a_gap_and_a_broken_link() -> None:
    entries = _chain()
    del entries[2]

    assert _messages(entries) == ["gap after seq 2: next is seq 4", "entry 4: prev_hash does not match entry 2"]


def test_a_deleted_first_entry_is_caught() -> None:
    entries = _chain()[1:]

    messages = _messages(entries)

    assert "gap before seq 2: the chain does not start at seq 1" in messages
    assert "entry 2: prev_hash is not the start of a chain" in messages


def test_reordered_entries_are_named() -> None:
    entries = _chain()
    entries[2], entries[3] = entries[3], entries[2]

    assert _messages(entries) == [
        "gap after seq 2: next is seq 4",
        "entry 4: prev_hash does not match entry 2",
        "entry 3: out of order (follows seq 4)",
        "entry 3: prev_hash does not match entry 4",
        "entry 5: prev_hash does not match entry 3",
    ]


def test_a_repeated_entry_is_named() -> None:
    entries = _chain()
    entries.insert(3, entries[2])

    assert _messages(entries) == ["entry 3: seq repeated", "entry 3: prev_hash does not match entry 3"]


def test_an_entry_from_another_incidents_log_is_named() -> None:
    entries = _chain(2)
    stranger = append_entry(entries[-1], at=SEALED_AT, actor="x", action="viewed", incident_id=INC)
    stranger = replace(stranger, incident_id="INC-20261121-0002")
    stranger = replace(stranger, entry_hash=stranger.computed_hash())

    assert _messages([*entries, stranger]) == ["entry 3: belongs to incident INC-20261121-0002"]


def test_custody_entries_round_trip_through_json() -> None:
    entries = _chain()
    back = [CustodyEntry.from_json(json.loads(json.dumps(e.to_json()))) for e in entries]

    assert back == entries
    assert verify_chain(back).ok


def test_append_entry_refuses_bad_input() -> None:
    first = _chain(1)[0]
    with pytest.raises(EvidenceError, match="cannot follow"):
        append_entry(first, at=SEALED_AT, actor="a", action="viewed", incident_id="INC-20261121-0002")
    with pytest.raises(EvidenceError, match="lower-case"):
        append_entry(None, at=SEALED_AT, actor="a", action="Viewed; rm", incident_id=INC)
    with pytest.raises(EvidenceError, match="JSON-able"):
        append_entry(None, at=SEALED_AT, actor="a", action="viewed", incident_id=INC, detail={"x": object()})
    with pytest.raises(EvidenceError, match="UTC offset"):
        append_entry(None, at=datetime(2026, 11, 21), actor="a", action="viewed", incident_id=INC)  # noqa: DTZ001
    with pytest.raises(EvidenceError, match="bundle id"):
        append_entry(None, at=SEALED_AT, actor="a", action="viewed", incident_id=INC, bundle_id="../x")
    assert {"sealed", "viewed", "exported", "verified"} <= CUSTODY_ACTIONS
