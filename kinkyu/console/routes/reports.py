"""Written reports downloaded: rendered on request by the code ``kinkyu report --store`` runs."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from kinkyu.console.pages import audit, console_of, error_page, find_incident
from kinkyu.reports.exceptions import ReportError

log = logging.getLogger("kinkyu.console")


# A rendered report: its own inline CSS and SVG, never a script.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
_REPORT_TYPES = {"pdf": "application/pdf", "html": "text/html", "md": "text/markdown"}

REPORT_NAME = "{kind:first|progress|final|public}.{rlang:ja|en}.{ext:pdf|html|md}"


async def report_download(request: web.Request) -> web.StreamResponse:
    """A written report, rendered now by the code ``kinkyu report --store`` runs (PDF on a thread, one at a time)."""
    found = await find_incident(request, "report.download")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = console_of(request)
    kind, rlang, ext = (request.match_info[k] for k in ("kind", "rlang", "ext"))
    incident_id = stored.incident.incident_id
    from kinkyu.reports.model import build_report  # noqa: PLC0415  # the report stack loads on first download
    from kinkyu.reports.render import render as render_report  # noqa: PLC0415

    def work() -> bytes:
        model = build_report(stored, kind=kind, lang=rlang, now=console.clock())  # type: ignore[arg-type]  # matched by the route
        return render_report(model, ext)  # type: ignore[arg-type]  # likewise

    try:
        if ext == "pdf":
            async with console.pdf_lock:
                data = await asyncio.to_thread(work)
        else:
            data = await asyncio.to_thread(work)
    except ReportError:
        log.exception("report not rendered", extra={"incident_id": incident_id, "kind": kind, "format": ext})
        return error_page(request, 500, "store")
    await audit(request, "report.download", incident_id, "allowed", f"{kind}.{rlang}.{ext}")
    filename = f"{incident_id}-{kind}.{rlang}.{ext}"
    headers = {"Content-Disposition": f'{"inline" if ext == "html" else "attachment"}; filename="{filename}"'}
    if ext == "html":
        headers["Content-Security-Policy"] = _REPORT_CSP
    return web.Response(
        body=data, content_type=_REPORT_TYPES[ext], charset="utf-8" if ext != "pdf" else None, headers=headers
    )
