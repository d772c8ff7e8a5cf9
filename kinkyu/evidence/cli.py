"""``kinkyu evidence verify|list``: check and show an incident's sealed evidence.

Exit codes of ``evidence verify``: 0 every bundle and the custody chain are
intact; 6 something was altered, removed or added (each printed); 3 the key
is missing, malformed, or not the one the evidence was sealed with; 2 the
store holds no evidence for the incident; 1 the store cannot be read. ``evidence list`` exits 0, 6 when a
manifest or custody line is unreadable, 2 for an unknown incident.

The key comes from ``KINKYU_EVIDENCE_KEY`` (base64 of 32 bytes), the store from
``--store``, else ``KINKYU_EVIDENCE_DIR``, else ``var/store/evidence`` (the worker's default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kinkyu.core.evidence import check_incident_id, key_from_config
from kinkyu.evidence.exceptions import EvidenceError, EvidenceKeyError, EvidenceNotFoundError, EvidenceTamperedError
from kinkyu.evidence.store import EvidenceStore, VerifyReport

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NOT_FOUND = 2
EXIT_CONFIG = 3
EXIT_TAMPERED = 6

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
        "Exit codes of verify: 0 intact, 6 tampered, 3 key missing or wrong, 2 no such incident.",
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
        help="re-check every bundle's hashes and GCM tag and the custody chain; name anything altered",
        description=f"Needs the key the evidence was sealed with in ${KEY_ENV} (base64 of 32 bytes). "
        "Exit codes: 0 intact, 6 tampered, 3 key missing or wrong, 2 no such incident.",
    )
    store_opt(p)
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


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """``kinkyu evidence verify INCIDENT_ID``: 0 intact, 6 tampered, 3 key problem, 2 no such incident."""
    try:
        key = _key()
    except EvidenceKeyError as exc:
        _err(str(exc))
        return EXIT_CONFIG
    store = EvidenceStore(_store_dir(args))
    try:
        report = store.verify(args.incident_id, key)
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
        _out(_verify_text(report))
    if args.actor:
        # After printing: a store mounted read-only still gets its report, then the error.
        try:
            store.record_verification(report, args.actor)
        except EvidenceError as exc:
            _err(f"the verification could not be recorded in the custody log: {exc}")
            return EXIT_FAILURE
    if report.tampered:
        return EXIT_TAMPERED
    if report.key_problems:
        _err(f"the key in ${KEY_ENV} is not the one (all of) this evidence was sealed with")
        return EXIT_CONFIG
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


def _verify_text(report: VerifyReport) -> str:
    data = report.to_json()
    head = f"evidence of {report.incident_id}: {report.status.upper()}"
    if report.problems:
        head += f" ({len(report.problems)} problem(s))"
    lines = [head]
    lines.extend(
        f"  {b['bundle_id']}  {b['status']}  items={b['items']}  sha256={b['plaintext_sha256']}"
        for b in data["bundles"]
    )
    lines.append(_chain_line(data["custody"]))
    lines.extend(f"  ALTERED {p}" for p in report.problems)
    lines.extend(f"  KEY {p}" for p in report.key_problems)
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
