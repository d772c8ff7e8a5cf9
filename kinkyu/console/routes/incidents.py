"""The incident list, an incident's page (with its live timeline) and its filed details."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from kinkyu.console import views
from kinkyu.console.forms import (
    CONTAINMENT_RESULTS,
    INSTRUCTION_CODES,
    TRIAGE_DECISIONS,
)
from kinkyu.console.pages import audit, console_of, find_incident, lang_of, refuse, render, user_of
from kinkyu.console.policy import allowed, role_allows
from kinkyu.core.jurisdictions import unit_of
from kinkyu.core.playbook.follow_ups import reports_awaiting_receipt
from kinkyu.evidence.exceptions import EvidenceError
from kinkyu.messages import party_fields
from kinkyu.reports.model import REPORT_KINDS

log = logging.getLogger("kinkyu.console")


async def incident_list(request: web.Request) -> web.Response:
    """The incidents the user may see, filtered."""
    console = console_of(request)
    user = user_of(request)
    if not role_allows(user, "incident.list"):
        return await refuse(request, "incident.list", "-")
    now = console.clock()
    stored_all = await asyncio.to_thread(console.store.all)
    visible = [s for s in stored_all if allowed(user, "incident.list", **views.scope_of(s))]
    rows = [views.incident_row(s, now, lang_of(request)) for s in visible]
    q = request.query
    filters = views.Filters(
        contract=q.get("contract", ""),
        city=q.get("city", ""),
        state=q.get("state", ""),
        severity=q.get("severity", ""),
        overdue=q.get("overdue") in {"1", "on", "true"},
    )
    return render(
        request,
        "incidents.html.j2",
        rows=views.filter_rows(rows, filters),
        filters=filters,
        contracts=sorted({r.contract_id for r in rows}),
        cities=sorted({r.jurisdiction for r in rows}),
        states=views.STATES,
        severities=views.SEVERITIES,
    )


async def incident_page(request: web.Request, *, verify: dict[str, Any] | None = None) -> web.Response:
    """The incident page (audited as incident.view and, for its #evidence section, evidence.view)."""
    found = await find_incident(request, "incident.view")
    if isinstance(found, web.Response):
        return found
    stored, actions = found
    console = console_of(request)
    lang = lang_of(request)
    page = await asyncio.to_thread(views.incident_page, stored, lang, console.clock())
    incident_id = stored.incident.incident_id
    await audit(request, "incident.view", incident_id, "allowed")
    if "evidence.view" in actions:
        await audit(request, "evidence.view", incident_id, "allowed", "incident-page")
    return render(
        request,
        "incident.html.j2",
        page=page,
        inc=stored.incident,
        run=stored.run,
        evidence=stored.evidence if "evidence.view" in actions else None,
        actions=actions,
        ppc=page.model.section("ppc"),
        report_kinds=REPORT_KINDS,
        decisions=TRIAGE_DECISIONS,
        results=CONTAINMENT_RESULTS,
        instruction_codes=INSTRUCTION_CODES,
        verify=verify,
        # The written reports (書面) sent and not yet received: the city records each one's receipt here.
        receipts_awaiting=reports_awaiting_receipt(stored.run) if stored.run is not None else [],
        # The parties as the run's playbook calls them (発注者の指示).
        party=party_fields(
            lang,
            unit_of(stored.incident.jurisdiction, stored.profile.city.name or None),
            stored.run.playbook.parties if stored.run is not None else None,
        ),
    )


async def incident_get(request: web.Request) -> web.Response:
    """GET /incidents/<id>."""
    return await incident_page(request)


async def timeline_json(request: web.Request) -> web.Response:
    """The timeline as JSON for the live page (polled: not audited again; the page view was)."""
    found = await find_incident(request, "incident.view")
    if isinstance(found, web.Response):
        return web.json_response({"error": "not available"}, status=found.status)
    stored, _ = found
    items = views.timeline_items(stored, lang_of(request))
    state = views.state_of(stored.run)
    return web.json_response({"entries": [i.to_json() for i in items], "state": state})


async def details(request: web.Request) -> web.Response:
    """The filed free text and identities (audited as incident.details)."""
    found = await find_incident(request, "incident.details")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = console_of(request)
    incident_id = stored.incident.incident_id
    # Recorded before anything is read or shown: without the audit entry, nothing is disclosed.
    await audit(request, "incident.details", incident_id, "allowed")
    try:
        evidence = console.store.store.evidence
        status, filed = await asyncio.to_thread(
            views.filed_texts, evidence, incident_id, stored.incident.event_ids, console.evidence_key
        )
    except (EvidenceError, OSError):  # tampered, another key, unreadable: the evidence page says which
        log.exception("filed details not read from the evidence", extra={"incident_id": incident_id})
        status, filed = "unreadable", []
    return render(
        request, "details.html.j2", inc=stored.incident, rows=views.details_of(stored), filed=filed, filed_status=status
    )
