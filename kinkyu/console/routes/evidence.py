"""An incident's sealed evidence: the manifest page and re-verification (with the anchors, when configured)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kinkyu.console import i18n
from kinkyu.console.pages import audit, console_of, find_incident, lang_of, read_anchors, render
from kinkyu.console.routes.incidents import incident_page
from kinkyu.console.state import Console
from kinkyu.evidence.store import EvidenceStore

log = logging.getLogger("kinkyu.console")


async def evidence_page(request: web.Request) -> web.Response:
    """The evidence manifest (audited as evidence.view)."""
    found = await find_incident(request, "evidence.view")
    if isinstance(found, web.Response):
        return found
    stored, actions = found
    await audit(request, "evidence.view", stored.incident.incident_id, "allowed", "evidence-page")
    return render(
        request, "evidence.html.j2", inc=stored.incident, evidence=stored.evidence, actions=actions, verify=None
    )


def _verify(console: Console, incident_id: str, anchors: Mapping[str, Any] | None, lang: str) -> dict[str, Any]:
    evidence = EvidenceStore(console.store.store.evidence.root, keyring=console.keyring)
    if not evidence.has_incident(incident_id) and (anchors is None or f"evidence/{incident_id}" not in anchors):
        return {"status": "none", "problems": [], "key_problems": [], "notes": []}
    if console.evidence_key is None:
        info = console.store.store.evidence_info(incident_id)
        return {
            "status": "no-key",
            "chain": info.chain_status if info else "-",
            "problems": list(info.problems) if info else [],
            "key_problems": [],
            "notes": [],
        }
    # No actor: verifying from the console must not write the store (the audit log records it instead).
    report = evidence.verify(incident_id, console.evidence_key, anchors=anchors)
    return {
        "status": report.status,
        "problems": list(report.problems),
        "key_problems": list(report.key_problems),
        "notes": [*report.unkeyed, i18n.t(lang, f"int.{report.anchor.state.value}")],
    }


async def evidence_verify(request: web.Request) -> web.Response:
    """Re-check the incident's sealed evidence; the incident page with the result in #evidence-result."""
    found = await find_incident(request, "evidence.verify")
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    console = console_of(request)
    incident_id = stored.incident.incident_id
    try:
        anchors = await read_anchors(console)
        result = await asyncio.to_thread(_verify, console, incident_id, anchors, lang_of(request))
    except Exception:  # the reviewer must learn it could not be checked; the log has the trace
        log.exception("evidence verification failed", extra={"incident_id": incident_id})
        result = {"status": "error", "problems": [], "key_problems": [], "notes": []}
    await audit(request, "evidence.verify", incident_id, "allowed", f"result={result['status']}")
    return await incident_page(request, verify=result)
