"""The incident store: incidents, their playbook runs and contracts, their evidence and their rendered reports.

Layout under ``root`` (``kinkyu replay … --out DIR`` and the live stage write it;
``kinkyu report --store DIR`` reads it)::

    incidents/<incident_id>.json       {"format": "kinkyu-incident-store/1",
                                        "incident": Incident.to_json(),
                                        "run": PlaybookRun.to_json() or null,
                                        "contract": ContractProfile.model_dump(mode="json"),
                                        "report": {...} (optional: ReportFacts people supplied)}
    evidence/                          an EvidenceStore root (kinkyu.evidence.store)
    reports/<incident_id>/<kind>.<lang>.<ext>   stored renders (first.ja.pdf, final.en.html, …)

Every file is written whole: a temporary file in the same folder, fsync, then
rename, so a reader never sees half a file and a crash leaves the old one.
Incident ids are checked before they become file names (letters, digits, ``-``, ``_``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from kinkyu.core.contract import ContractProfile
from kinkyu.core.evidence import check_incident_id
from kinkyu.core.incident import Incident
from kinkyu.core.integrity import Keyring
from kinkyu.core.playbook import PlaybookRun
from kinkyu.evidence.exceptions import EvidenceError, EvidenceTamperedError
from kinkyu.evidence.store import EvidenceStore
from kinkyu.reports.exceptions import IncidentNotFoundError, ReportStoreError
from kinkyu.reports.model import (
    REPORT_FACT_TEXTS,
    BundleInfo,
    EvidenceInfo,
    ReportFacts,
    StoredIncident,
)

STORE_FORMAT = "kinkyu-incident-store/1"
INCIDENTS = "incidents"
EVIDENCE = "evidence"
REPORTS = "reports"
REPORT_EXTS = frozenset({"pdf", "html", "md", "json"})
_KINDS = frozenset({"first", "progress", "final", "public"})
_LANGS = frozenset({"ja", "en"})

# Keys of an incident record the store never writes: "change" is the topic's, the rest free text.
_FREE_TEXT = frozenset({"change", "details", "summary", "location"})
# Incident records and reports may hold personal information: private to the service account.
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def _check_id(incident_id: str) -> str:
    try:
        return check_incident_id(incident_id)
    except EvidenceError as exc:
        raise ReportStoreError(str(exc)) from exc


def valid_incident_id(incident_id: str) -> bool:
    """Whether ``incident_id`` can name a stored incident (1-128 letters, digits, ``-``, ``_``)."""
    try:
        check_incident_id(incident_id)
    except EvidenceError:
        return False
    return True


def _facts(data: Any, where: str) -> ReportFacts:
    if data is None:
        return ReportFacts()
    if not isinstance(data, dict):
        raise ReportStoreError(f"{where}: 'report' must be an object")
    unknown = sorted(set(data) - {*REPORT_FACT_TEXTS, "distinct_people", "encrypted"})
    if unknown:
        raise ReportStoreError(f"{where}: unknown key(s) in 'report': {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key in REPORT_FACT_TEXTS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ReportStoreError(f"{where}: report.{key} must be text or null")
        values[key] = value
    people = data.get("distinct_people")
    if people is not None and (not isinstance(people, int) or isinstance(people, bool) or people < 0):
        raise ReportStoreError(f"{where}: report.distinct_people must be a non-negative whole number or null")
    encrypted = data.get("encrypted", False)
    if not isinstance(encrypted, bool):
        raise ReportStoreError(f"{where}: report.encrypted must be true or false")
    return ReportFacts(**values, distinct_people=people, encrypted=encrypted)


class IncidentStore:
    """Incidents on disk under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: Path | str, *, keyring: Keyring | None = None) -> None:
        self.root = Path(root)
        # With the integrity keys, a report's custody status is authenticated (every MAC checked), not just hashed.
        self.keyring = keyring

    # -- paths

    @property
    def evidence(self) -> EvidenceStore:
        """The evidence store inside this store (``root/evidence``)."""
        return EvidenceStore(self.root / EVIDENCE)

    def incident_path(self, incident_id: str) -> Path:
        """Where the incident's record is (whether or not it exists)."""
        return self.root / INCIDENTS / f"{_check_id(incident_id)}.json"

    def report_path(self, incident_id: str, kind: str, lang: str, ext: str) -> Path:
        """Where a render of the incident's report is stored: ``reports/<id>/<kind>.<lang>.<ext>``."""
        if kind not in _KINDS or lang not in _LANGS or ext not in REPORT_EXTS:
            raise ReportStoreError(f"no stored report of kind {kind!r}, language {lang!r} and format {ext!r}")
        return self.root / REPORTS / _check_id(incident_id) / f"{kind}.{lang}.{ext}"

    # -- writing

    def write(
        self,
        incident_json: Mapping[str, Any],
        run_json: Mapping[str, Any] | None,
        profile: ContractProfile,
        *,
        facts: ReportFacts | Mapping[str, Any] | None = None,
    ) -> Path:
        """Store (or replace) an incident: its record, its playbook run (or None) and its contract profile.

        ``incident_json`` is :meth:`Incident.to_json` (a record from the ``incidents``
        topic may carry ``change``; it is dropped), ``run_json`` :meth:`PlaybookRun.to_json`.
        ``facts`` are report items people supplied (:class:`ReportFacts`). Returns the file written.
        """
        incident_id = incident_json.get("incident_id")
        if not isinstance(incident_id, str):
            raise ReportStoreError("the incident record has no incident_id")
        if incident_json.get("contract_id") != profile.contract_id:
            raise ReportStoreError(
                f"incident {incident_id} is under contract {incident_json.get('contract_id')!r}, "
                f"not the profile's {profile.contract_id!r}"
            )
        if run_json is not None and run_json.get("incident_id") != incident_id:
            raise ReportStoreError(f"the playbook run given for {incident_id} is of {run_json.get('incident_id')!r}")
        # A filing's free text stays with the evidence: even a record that carries it (one written before
        # records stopped carrying a summary and a place) is stored without; a summary leaves only its trace.
        record = {k: v for k, v in incident_json.items() if k not in _FREE_TEXT}
        if incident_json.get("summary") and "has_summary" not in record:
            record["has_summary"] = True
        if isinstance(facts, ReportFacts):
            report: dict[str, Any] | None = facts.to_json()
        elif facts is not None:
            report = _facts(dict(facts), "facts").to_json()
        else:
            report = None
        body: dict[str, Any] = {
            "format": STORE_FORMAT,
            "incident": record,
            "run": dict(run_json) if run_json is not None else None,
            "contract": profile.model_dump(mode="json"),
        }
        if report is not None:
            body["report"] = report
        path = self.incident_path(incident_id)
        try:
            data = orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise ReportStoreError(f"incident {incident_id}: the record is not JSON-able ({exc})") from exc
        _write_atomic(self.root, path, data + b"\n")
        return path

    def write_report(self, incident_id: str, kind: str, lang: str, ext: str, data: bytes) -> Path:
        """Store a rendered report; the path written (an earlier render of the same name is replaced)."""
        path = self.report_path(incident_id, kind, lang, ext)
        _write_atomic(self.root, path, data)
        return path

    # -- reading

    def list(self) -> list[str]:
        """The ids of the stored incidents, sorted."""
        folder = self.root / INCIDENTS
        try:
            names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        except OSError as exc:
            raise ReportStoreError(f"cannot list {folder}: {exc.strerror}") from exc
        return [n.removesuffix(".json") for n in names if n.endswith(".json") and not n.startswith(".")]

    def has(self, incident_id: str) -> bool:
        """Whether the store holds the incident."""
        return self.incident_path(incident_id).is_file()

    def read(self, incident_id: str) -> StoredIncident:
        """The stored incident, its run, contract, evidence manifest and report facts.

        IncidentNotFoundError when absent; ReportStoreError naming the file and key
        when it does not parse (never quoting values).
        """
        path = self.incident_path(incident_id)
        where = f"{INCIDENTS}/{path.name}"
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise IncidentNotFoundError(f"no incident {incident_id} in the store {self.root}") from exc
        except OSError as exc:
            raise ReportStoreError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ReportStoreError(f"{where}: not valid JSON") from exc
        if not isinstance(body, dict):
            raise ReportStoreError(f"{where}: not a JSON object")
        for key in ("incident", "contract"):
            if not isinstance(body.get(key), dict):
                raise ReportStoreError(f"{where}: '{key}' is missing or not an object")
        try:
            incident = Incident.from_json(body["incident"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportStoreError(f"{where}: 'incident' is not an incident record ({type(exc).__name__})") from exc
        if incident.incident_id != incident_id:
            raise ReportStoreError(f"{where}: holds incident {incident.incident_id}, not {incident_id}")
        try:
            profile = ContractProfile.model_validate(body["contract"])
        except ValidationError as exc:
            keys = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)})
            raise ReportStoreError(f"{where}: 'contract' is not a contract profile (keys: {', '.join(keys)})") from exc
        run: PlaybookRun | None = None
        if body.get("run") is not None:
            if not isinstance(body["run"], dict):
                raise ReportStoreError(f"{where}: 'run' must be an object or null")
            try:
                run = PlaybookRun.from_json(body["run"])
            except (KeyError, TypeError, ValueError) as exc:
                # pydantic's ValidationError is a ValueError: the playbook inside the run did not load.
                raise ReportStoreError(f"{where}: 'run' is not a playbook run ({type(exc).__name__})") from exc
        return StoredIncident(
            incident=incident,
            run=run,
            profile=profile,
            evidence=self.evidence_info(incident_id),
            facts=_facts(body.get("report"), where),
        )

    def evidence_info(self, incident_id: str) -> EvidenceInfo | None:
        """The incident's evidence manifest and custody status (no key needed); None when there is none."""
        evidence = self.evidence
        try:
            if not evidence.has_incident(incident_id):
                return None
            manifests = evidence.manifests(incident_id)
            chain = evidence.chain_report(incident_id, keyring=self.keyring)
        except EvidenceTamperedError as exc:
            # An unreadable manifest is itself a finding the report must show, not a reason to fail.
            return EvidenceInfo((), "unreadable", 0, None, None, exc.problems)
        except EvidenceError as exc:
            raise ReportStoreError(f"cannot read the evidence of {incident_id}: {exc}") from exc
        bundles = tuple(
            BundleInfo(
                bundle_id=m.bundle_id,
                items=m.item_count,
                plaintext_sha256=m.plaintext_sha256,
                ciphertext_sha256=m.ciphertext_sha256,
                sealed_at=m.sealed_at,
                sealed_by=m.sealed_by,
                key_id=m.key_id,
            )
            for m in manifests
        )
        return EvidenceInfo(
            bundles=bundles,
            chain_status="intact" if chain.ok else "broken",
            entries=chain.entry_count,
            head_seq=chain.head_seq,
            head_hash=chain.head_hash,
            problems=tuple(p.message for p in chain.problems),
            authentication=chain.authentication,
        )


def _write_atomic(root: Path, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: temporary file in the same folder, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = root
        for part in path.parent.relative_to(root).parts:
            folder /= part
            folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportStoreError(f"cannot write {path}: {exc.strerror}") from exc
