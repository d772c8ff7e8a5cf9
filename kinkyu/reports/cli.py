"""``kinkyu report INCIDENT_ID``: the written incident report (事故報告書) of a stored incident.

    kinkyu report INCIDENT_ID --format pdf|html|md|json [--lang ja|en]
                  [--kind first|progress|final|public] [--out FILE] [--store DIR] [--as-of TIME]

The store is ``--store``, else ``KINKYU_STORE_DIR``, else ``var/store`` (the
layout of :mod:`kinkyu.reports.store`; ``kinkyu replay … --out DIR`` writes it).
Markdown, HTML and JSON go to stdout without ``--out``; a PDF goes to
``--out`` or, without it, to the store's ``reports/<id>/<kind>.<lang>.pdf``, and
the path is printed. ``--kind`` defaults to ``final`` for a closed incident,
else ``progress``. ``json`` prints the report model: the bytes the footer hash covers.

Exit codes: 0 done; 2 no such incident, or wrong usage; 3 PDF asked for and
WeasyPrint or the Japanese fonts missing (run ``make install``), or
``KINKYU_INTEGRITY_KEYS`` set but not valid; 1 the store cannot be read or written.

With the integrity keys (``KINKYU_INTEGRITY_KEYS``) the report's custody chain
status is authenticated (every entry's MAC checked); without them it says the
chain's hashes agree but that this is not authenticated.

:func:`~kinkyu.reports.archive.render_and_store` (re-exported here) is what the
live stage calls when the playbook's written-report step comes due (``first``)
and at closure (``final``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinkyu.reports.archive import FORMATS, LANGS, REPORT_KINDS, render_and_store
from kinkyu.reports.exceptions import IncidentNotFoundError, RendererMissingError, ReportError, ReportStoreError

if TYPE_CHECKING:
    from kinkyu.reports.labels import Lang
    from kinkyu.reports.model import ReportKind
    from kinkyu.reports.render import Format

# The choices and render_and_store live in kinkyu.reports.archive (the live stage needs no command line);
# they are exported here too, where the command's callers have always found them.
__all__ = [
    "DEFAULT_DIR",
    "DIR_ENV",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_RENDERER",
    "EXIT_USAGE",
    "FORMATS",
    "LANGS",
    "REPORT_KINDS",
    "add_report_parser",
    "cmd_report",
    "render_and_store",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_RENDERER = 3

DIR_ENV = "KINKYU_STORE_DIR"
DEFAULT_DIR = "var/store"


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to ``kinkyu``'s subparsers; the parser (``func`` is called as ``args.func(args)``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="render an incident's written report (事故報告書) as PDF, HTML or Markdown",
        description="The written incident report of a stored incident, in the city's order and language. "
        "Exit codes: 0 ok, 2 no such incident or wrong usage, 3 PDF renderer or Japanese fonts missing "
        "(run `make install`), 1 the store cannot be read or written.",
    )
    parser.add_argument("incident_id", metavar="INCIDENT_ID")
    parser.add_argument(
        "--store", type=Path, metavar="DIR", help=f"incident store folder (default: ${DIR_ENV} or {DEFAULT_DIR})"
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        required=True,
        choices=FORMATS,
        help="pdf, html, md, or json (the report model: the bytes the footer hash covers)",
    )
    parser.add_argument("--lang", choices=LANGS, default="ja", help="ja (default) or en")
    parser.add_argument(
        "--kind",
        choices=REPORT_KINDS,
        help="first (第一報), progress (経過報告), final (最終報告) or public (公表用, redacted); "
        "default: final for a closed incident, else progress",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (default: stdout; a PDF goes to the store's reports/)"
    )
    parser.add_argument(
        "--as-of",
        dest="as_of",
        metavar="TIME",
        help="the report's time, RFC 3339 with offset (default: now); deadlines are judged at this time",
    )
    parser.set_defaults(func=cmd_report)
    return parser


def _store_dir(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return Path(args.store)
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("--as-of is not an RFC 3339 time (e.g. 2026-11-21T10:00:00+09:00)") from exc
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("--as-of needs a UTC offset, e.g. 2026-11-21T10:00:00+09:00")
    return ts


def cmd_report(args: argparse.Namespace) -> int:
    """``kinkyu report``: 0 done, 2 no such incident or usage, 3 PDF renderer/fonts missing, 1 store trouble."""
    try:
        now = _now(args.as_of)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    from kinkyu.reports.model import build_report  # noqa: PLC0415  # see REPORT_KINDS
    from kinkyu.reports.render import EXTENSIONS, render  # noqa: PLC0415
    from kinkyu.reports.store import IncidentStore, valid_incident_id  # noqa: PLC0415

    if not valid_incident_id(args.incident_id):
        # No stored incident can have such an id (it could not be a file name).
        _err(f"{args.incident_id!r} is not an incident id (e.g. INC-20261121-0001)")
        return EXIT_USAGE
    from kinkyu.evidence.exceptions import EvidenceKeyError  # noqa: PLC0415
    from kinkyu.evidence.settings import IntegritySettings, integrity_keyring  # noqa: PLC0415

    try:
        integrity = IntegritySettings.load()
        keyring = integrity_keyring(integrity.integrity_keys, integrity.integrity_key_id)
    except EvidenceKeyError as exc:
        _err(str(exc))
        return EXIT_RENDERER
    store = IncidentStore(_store_dir(args), keyring=keyring)
    fmt: Format = args.fmt
    lang: Lang = args.lang
    try:
        stored = store.read(args.incident_id)
        kind: ReportKind = args.kind or ("final" if stored.run is not None and stored.run.closed else "progress")
        model = build_report(stored, kind=kind, lang=lang, now=now)
        data = render(model, fmt)
        if args.out is not None:
            _write(args.out, data)
        elif fmt == "pdf":
            # PDF bytes on a terminal help nobody: keep them with the incident and say where.
            path = store.write_report(args.incident_id, kind, lang, EXTENSIONS[fmt], data)
            _out_line(str(path))
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    except IncidentNotFoundError as exc:
        _err(f"{exc} (set --store or ${DIR_ENV})")
        return EXIT_USAGE
    except RendererMissingError as exc:
        _err(str(exc))
        return EXIT_RENDERER
    except ReportStoreError as exc:
        _err(str(exc))
        return EXIT_FAILURE
    except ReportError as exc:
        _err(str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise ReportStoreError(f"cannot write {path}: {exc.strerror}") from exc


def _out_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(msg: str) -> None:
    sys.stderr.write(f"kinkyu: {msg}\n")
