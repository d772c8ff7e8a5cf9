"""A stored incident's written report, rendered and kept beside it in the store.

:func:`render_and_store` is what the live stage (:mod:`kinkyu.streams.report_archive`)
calls when the playbook's written-report step comes due (``first``) and at
closure (``final``); ``kinkyu report`` (:mod:`kinkyu.reports.cli`) shares its
choices. Importing this module stays cheap: the report machinery (jinja2, the
legal calendar, …) loads on the first render.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kinkyu.reports.exceptions import ReportError

if TYPE_CHECKING:
    from kinkyu.reports.labels import Lang
    from kinkyu.reports.model import ReportKind
    from kinkyu.reports.render import Format
    from kinkyu.reports.store import IncidentStore

# The choices, spelt out here so that building `kinkyu`'s parser does not import the report
# machinery (jinja2, the legal calendar, …): every command's --help would pay for it.
# tests/unit/test_reports.py checks they equal the model's and the renderer's.
REPORT_KINDS: tuple[ReportKind, ...] = ("first", "progress", "final", "public")
LANGS: tuple[Lang, ...] = ("ja", "en")
FORMATS: tuple[Format, ...] = ("pdf", "html", "md", "json")


def render_and_store(store: IncidentStore, incident_id: str, kind: str, lang: str, fmt: str) -> Path:
    """Render the report of a stored incident and keep it in ``store``; the path written.

    For the live stage: ``first`` when the playbook's written-report step comes
    due, ``final`` at closure. The report's time is now. Raises
    :class:`IncidentNotFoundError`, :class:`RendererMissingError` (PDF without
    WeasyPrint or the fonts) and :class:`ReportError`.
    """
    from kinkyu.reports.model import build_report  # noqa: PLC0415
    from kinkyu.reports.render import EXTENSIONS, render  # noqa: PLC0415

    if kind not in REPORT_KINDS:
        raise ReportError(f"unknown report kind {kind!r} ({', '.join(REPORT_KINDS)})")
    if lang not in LANGS:
        raise ReportError(f"unknown report language {lang!r} (ja or en)")
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r} ({', '.join(FORMATS)})")
    stored = store.read(incident_id)
    model = build_report(stored, kind=kind, lang=lang, now=datetime.now(UTC))
    data = render(model, fmt)
    return store.write_report(incident_id, kind, lang, EXTENSIONS[fmt], data)
