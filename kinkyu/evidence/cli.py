"""``kinkyu evidence verify|list``: check and show an incident's sealed evidence.

Exit codes of ``evidence verify``: 0 every bundle and the custody chain are
intact and authenticated by the integrity keys (and match the anchor, unless
``--no-anchor``); 6 something was altered, removed or added (each printed); 8
nothing was found altered but the evidence carries no MACs (unkeyed, sealed
before integrity keys: consistent, not authenticated); 3 a key is missing,
malformed, or not one the evidence was sealed or MAC'd with; 4 the anchors
could not be read from the broker (``--no-anchor`` verifies without them); 2
the store holds no evidence for the incident; 1 the store cannot be read.
``evidence list`` exits 0, 6 when a manifest or custody line is unreadable, 2
for an unknown incident.

The encryption key comes from ``KINKYU_EVIDENCE_KEY`` (base64 of 32 bytes), the
integrity keys from ``KINKYU_INTEGRITY_KEYS`` / ``KINKYU_INTEGRITY_KEY_ID``
(:mod:`kinkyu.evidence.settings`), the anchors from the ``kinkyu-anchors``
topic at ``KINKYU_BROKER`` (under ``KINKYU_TOPIC_PREFIX``), the store from
``--store``, else ``KINKYU_EVIDENCE_DIR``, else ``var/store/evidence`` (the worker's default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kinkyu.bus.exceptions import BrokerSettingsError
from kinkyu.core.evidence import check_incident_id, key_from_config
from kinkyu.core.integrity import Anchor, AnchorState, Keyring
from kinkyu.evidence.anchor import AnchorPublisher, AnchorSource, KafkaAnchorSource, anchors_topic
from kinkyu.evidence.exceptions import (
    EvidenceAnchorError,
    EvidenceError,
    EvidenceKeyError,
    EvidenceNotFoundError,
    EvidenceTamperedError,
)
from kinkyu.evidence.settings import IntegritySettings, integrity_keyring
from kinkyu.evidence.store import EvidenceStore, VerifyReport

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NOT_FOUND = 2
EXIT_CONFIG = 3
EXIT_BROKER = 4
EXIT_TAMPERED = 6
EXIT_UNKEYED = 8  # 7 is produce's (some lines not sent)

KEY_ENV = "KINKYU_EVIDENCE_KEY"
DIR_ENV = "KINKYU_EVIDENCE_DIR"
DEFAULT_DIR = "var/store/evidence"


def add_evidence_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evidence verify`` and ``evidence list`` to ``kinkyu``'s subparsers; the ``evidence`` parser.

    Each leaf sets ``func`` (called by ``kinkyu.cli.main`` as ``args.func(args)``);
    :func:`cmd_evidence` dispatches the same way for callers that prefer one entry.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evidence",
        help="verify and list an incident's sealed evidence (証拠保全)",
        description="Sealed evidence: encrypted bundles of the events around an incident, and their custody log. "
        "Exit codes of verify: 0 intact and authenticated, 6 tampered, 8 unkeyed (legacy: not authenticated), "
        "3 key missing or wrong, 4 anchors unreadable, 2 no such incident.",
    )
    sub = parser.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")

    def store_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("incident_id", metavar="INCIDENT_ID")
        p.add_argument(
            "--store",
            type=Path,
            metavar="DIR",
            help=f"evidence store folder (default: ${DIR_ENV} or {DEFAULT_DIR})",
        )
        p.add_argument("--json", action="store_true", help="one JSON object on stdout")

    p = sub.add_parser(
        "verify",
        help="re-check every bundle, the custody chain, their MACs and the anchor; name anything altered",
        description=f"Needs the key the evidence was sealed with in ${KEY_ENV} (base64 of 32 bytes) and the "
        "integrity keys in $KINKYU_INTEGRITY_KEYS; compares the custody chain with its anchor on the broker "
        "($KINKYU_BROKER). Exit codes: 0 intact and authenticated, 6 tampered, 8 unkeyed (legacy), "
        "3 key missing or wrong, 4 anchors unreadable, 2 no such incident.",
    )
    store_opt(p)
    p.add_argument(
        "--no-anchor",
        action="store_true",
        help="do not read the anchors from the broker (offline; entries cut off the end then go unnoticed)",
    )
    p.add_argument(
        "--as",
        dest="actor",
        metavar="ACTOR",
        help="record this verification and its result in the custody log as ACTOR",
    )
    p.set_defaults(func=cmd_evidence_verify)

    p = sub.add_parser("list", help="the incident's bundle manifests (ids, SHA-256, items) and custody chain status")
    store_opt(p)
    p.set_defaults(func=cmd_evidence_list)
    return parser


def cmd_evidence(args: argparse.Namespace) -> int:
    """Run the ``evidence`` action ``args`` names (``verify`` or ``list``)."""
    if args.evidence_command == "verify":
        return cmd_evidence_verify(args)
    return cmd_evidence_list(args)


def anchor_source(settings: IntegritySettings, keyring: Keyring) -> AnchorSource:
    """Where ``verify`` reads the anchors (the tests replace it with an in-memory topic)."""
    return KafkaAnchorSource(settings.broker_connection(), anchors_topic(settings.topic_prefix), keyring)


async def publish_anchor(settings: IntegritySettings, anchor: Anchor) -> None:
    """Publish the head ``verify --as`` wrote (the tests replace it with an in-memory topic)."""
    publisher = AnchorPublisher(settings.broker_connection(), anchors_topic(settings.topic_prefix))
    await publisher.start()
    try:
        publisher.offer(anchor)
        await publisher.flush(15)
    finally:
        await publisher.stop()


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """``kinkyu evidence verify INCIDENT_ID``: 0 intact, 6 tampered, 8 unkeyed, 3 key problem, 4 no anchors, 2 none."""
    try:
        key = _key()
        settings = IntegritySettings.load()
        keyring = integrity_keyring(settings.integrity_keys, settings.integrity_key_id, separate_from=[key])
    except EvidenceKeyError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    anchors: Mapping[str, Anchor] | None = None
    if not args.no_anchor:
        if keyring is None:
            _err(
                "no integrity keys (KINKYU_INTEGRITY_KEYS): the anchors cannot be authenticated; "
                "set them, or pass --no-anchor"
            )
            return EXIT_CONFIG
        # aiokafka logs each failed connection attempt; the one line below says what matters.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        try:
            anchors = asyncio.run(anchor_source(settings, keyring).read())
        except BrokerSettingsError as exc:
            _err(str(exc))
            return EXIT_CONFIG
        except EvidenceAnchorError as exc:
            _err(f"{exc}; check KINKYU_BROKER, or verify without the anchors with --no-anchor")
            return EXIT_BROKER
    # With --as a custody entry is written: a log found not to hold its anchored head gets a chain_break first.
    store = EvidenceStore(_store_dir(args), keyring=keyring, anchored=anchors.get if anchors is not None else None)
    try:
        report = store.verify(args.incident_id, key, anchors=anchors)
    except EvidenceKeyError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    except EvidenceNotFoundError as exc:
        _err(f"{exc} (set --store or ${DIR_ENV})")
        return EXIT_NOT_FOUND
    except EvidenceError as exc:
        # A malformed incident id (no such incident can exist) or an unreadable store.
        _err(str(exc))
        return EXIT_NOT_FOUND if not _valid_id(args.incident_id) else EXIT_FAILURE
    if args.json:
        _out(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _out(_verify_text(report, keyring))
    if args.actor:
        code = _record(store, report, args.actor, settings, publish=not args.no_anchor)
        if code != EXIT_OK:
            return code
    return _exit_code(report)


def _exit_code(report: VerifyReport) -> int:
    if report.tampered:
        return EXIT_TAMPERED
    if report.key_problems:
        _err(f"a key in ${KEY_ENV} / $KINKYU_INTEGRITY_KEYS is not one (all of) this evidence was sealed with")
        return EXIT_CONFIG
    if report.unkeyed:
        _err("nothing was found altered, but this evidence carries no MACs (unkeyed, legacy): it is not authenticated")
        return EXIT_UNKEYED
    return EXIT_OK


def _record(
    store: EvidenceStore, report: VerifyReport, actor: str, settings: IntegritySettings, *, publish: bool
) -> int:
    # After printing: a store mounted read-only still gets its report, then the error.
    try:
        entry = store.record_verification(report, actor)
    except EvidenceError as exc:
        _err(f"the verification could not be recorded in the custody log: {exc}")
        return EXIT_FAILURE
    anchor = store.head_anchor(entry.incident_id) if publish else None
    if anchor is not None:
        try:
            asyncio.run(publish_anchor(settings, anchor))
        except BrokerSettingsError as exc:
            _err(f"the verification is recorded (custody entry {entry.seq}) but its anchor is not published: {exc}")
            return EXIT_CONFIG
        except EvidenceAnchorError as exc:
            _err(f"the verification is recorded (custody entry {entry.seq}) but its anchor is not published: {exc}")
            return EXIT_BROKER
    return EXIT_OK


def cmd_evidence_list(args: argparse.Namespace) -> int:
    """``kinkyu evidence list INCIDENT_ID``: the manifests and the custody chain status (no key needed)."""
    store = EvidenceStore(_store_dir(args))
    try:
        summary = store.summary(args.incident_id)
    except EvidenceNotFoundError as exc:
        _err(f"{exc} (set --store or ${DIR_ENV})")
        return EXIT_NOT_FOUND
    except EvidenceTamperedError as exc:
        _err(str(exc))
        return EXIT_TAMPERED
    except EvidenceError as exc:
        _err(str(exc))
        return EXIT_NOT_FOUND if not _valid_id(args.incident_id) else EXIT_FAILURE
    if args.json:
        _out(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        lines = [f"evidence of {summary['incident_id']}: {len(summary['bundles'])} bundle(s)"]
        lines.extend(
            f"  {m['bundle_id']}  items={m['item_count']}  sha256={m['plaintext_sha256']}  "
            f"sealed={m['sealed_at']} by {m['sealed_by']}  key={m['key_id']}  reason: {m['reason']}"
            for m in summary["bundles"]
        )
        lines.append(_chain_line(summary["custody"]))
        _out("\n".join(lines))
    return EXIT_OK if summary["custody"]["status"] == "intact" else EXIT_TAMPERED


_STATUS_TEXT = {
    "intact": "INTACT (authenticated by the integrity keys)",
    "tampered": "TAMPERED",
    "wrong-key": "CANNOT BE CHECKED with the keys given",
    "unkeyed": "UNKEYED (legacy): nothing found altered, but not authenticated",
}


def _verify_text(report: VerifyReport, keyring: Keyring | None) -> str:
    data = report.to_json()
    head = f"evidence of {report.incident_id}: {_STATUS_TEXT.get(report.status, report.status.upper())}"
    if report.problems:
        head += f" ({len(report.problems)} problem(s))"
    lines = [head]
    lines.extend(
        f"  {b['bundle_id']}  {b['status']}  items={b['items']}  sha256={b['plaintext_sha256']}"
        for b in data["bundles"]
    )
    lines.append(_chain_line(data["custody"]))
    keys = f"key ids {', '.join(keyring.ids)}" if keyring is not None else "no integrity keys configured"
    lines.append(f"  integrity: {report.chain.authentication} ({keys})")
    if report.anchor.state is not AnchorState.MISMATCH:  # a mismatch is listed with the problems
        lines.append(f"  {report.anchor.describe()}")
    lines.extend(f"  ALTERED {p}" for p in report.problems)
    lines.extend(f"  KEY {p}" for p in report.key_problems)
    lines.extend(f"  UNKEYED {p}" for p in report.unkeyed)
    return "\n".join(lines)


def _chain_line(chain: dict[str, Any]) -> str:
    head = f", head seq {chain['head_seq']} {chain['head_hash']}" if chain["head_seq"] is not None else ""
    return f"  custody chain: {chain['status']}, {chain['entries']} entries{head}"


def _valid_id(incident_id: str) -> bool:
    try:
        check_incident_id(incident_id)
    except EvidenceError:
        return False
    return True


def _key() -> bytes:
    secret = os.environ.get(KEY_ENV)
    if not secret:
        raise EvidenceKeyError(
            f"no evidence key: set {KEY_ENV} to the base64 AES-256 key the evidence was sealed with "
            "(32 bytes; a new one comes from `openssl rand -base64 32`)"
        )
    try:
        return key_from_config(secret)
    except EvidenceKeyError as exc:
        raise EvidenceKeyError(f"{KEY_ENV}: {exc}") from exc


def _store_dir(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return Path(args.store)
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(msg: str) -> None:
    sys.stderr.write(f"kinkyu: {msg}\n")
