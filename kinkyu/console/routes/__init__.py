"""The console's routes, one module per area, and the table that maps every URL to its handler."""

from __future__ import annotations

from aiohttp import web

from kinkyu.console.routes import (
    acks,
    audit_log,
    auth,
    contracts,
    evidence,
    filing,
    follow_ups,
    incidents,
    public,
    reports,
)
from kinkyu.console.state import STATIC_DIR


def add_routes(app: web.Application) -> None:
    """Every route of the console on ``app``."""
    r = app.router
    r.add_get("/health", public.health, allow_head=False)
    r.add_get("/favicon.ico", public.favicon, allow_head=False)
    r.add_static("/static/", STATIC_DIR, append_version=False)
    r.add_get("/", public.root)
    r.add_get("/login", auth.login_get)
    r.add_post("/login", auth.login_post)
    r.add_post("/logout", auth.logout)
    r.add_get("/incidents", incidents.incident_list)
    r.add_get("/incidents/{incident_id}", incidents.incident_get)
    r.add_get("/incidents/{incident_id}/timeline.json", incidents.timeline_json)
    r.add_get("/incidents/{incident_id}/details", incidents.details)
    r.add_get("/incidents/{incident_id}/evidence", evidence.evidence_page)
    r.add_post("/incidents/{incident_id}/evidence/verify", evidence.evidence_verify)
    r.add_get("/incidents/{incident_id}/reports/" + reports.REPORT_NAME, reports.report_download)
    r.add_post("/incidents/{incident_id}/triage", follow_ups.post_triage)
    r.add_post("/incidents/{incident_id}/containment", follow_ups.post_containment)
    r.add_post("/incidents/{incident_id}/update", follow_ups.post_update)
    r.add_post("/incidents/{incident_id}/resolve", follow_ups.post_resolve)
    r.add_post("/incidents/{incident_id}/acknowledge", follow_ups.post_acknowledge)
    r.add_post("/incidents/{incident_id}/receipt", follow_ups.post_receipt)
    r.add_post("/incidents/{incident_id}/instruct", follow_ups.post_instruct)
    r.add_post("/incidents/{incident_id}/request-report", follow_ups.post_request_report)
    r.add_get("/file", filing.file_get)
    r.add_post("/file", filing.file_post)
    r.add_get("/filed/{event_id:[A-Za-z0-9-]{1,64}}.json", filing.filed_json)
    r.add_get("/filed/{event_id:[A-Za-z0-9-]{1,64}}", filing.filed_page)
    r.add_get("/contracts/{contract_id}", contracts.contract_page)
    r.add_get("/admin/audit", audit_log.audit_page)
    r.add_get("/ack/{token}", acks.ack_get, allow_head=False)
    r.add_post("/ack/{token}", acks.ack_post)
