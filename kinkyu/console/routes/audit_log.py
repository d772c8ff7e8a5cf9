"""The audit log's page (admin only), newest first, with the state of its hash chain and anchor."""

from __future__ import annotations

import asyncio

from aiohttp import web

from kinkyu.console import i18n
from kinkyu.console.audit import CHAIN as AUDIT_CHAIN
from kinkyu.console.audit import AuditReport
from kinkyu.console.pages import audit, console_of, lang_of, read_anchors, refuse, render, user_of
from kinkyu.console.policy import role_allows


async def audit_page(request: web.Request) -> web.Response:
    """The audit log, newest first (admin only), with the hash chain's state."""
    console = console_of(request)
    user = user_of(request)
    if not role_allows(user, "audit.view"):
        return await refuse(request, "audit.view", "audit-log")
    who = request.query.get("who") or None
    target = request.query.get("target") or None
    entries = await asyncio.to_thread(console.audit.entries, 500, None, who, target)
    anchors = await read_anchors(console)
    anchor = anchors.get(AUDIT_CHAIN) if anchors is not None else None
    report = await asyncio.to_thread(console.audit.report, anchor, anchor_checked=anchors is not None)
    await audit(request, "audit.view", "audit-log", "allowed")
    return render(
        request,
        "audit.html.j2",
        entries=entries,
        problems=[*report.problems, *report.key_problems],
        integrity=_audit_integrity(report, lang_of(request)),
        who=who or "",
        target=target or "",
    )


def _audit_integrity(report: AuditReport, lang: str) -> dict[str, str]:
    """The audit log's integrity in one line: keyed or unkeyed (legacy), and the anchor."""
    keyed = {"unkeyed": "int.unkeyed", "intact": "int.keyed", "empty": "int.empty"}.get(
        report.status, "int.unverifiable"
    )
    anchor = f"int.{report.anchor.state.value}"
    return {"status": report.status, "text": f"{i18n.t(lang, keyed)} {i18n.t(lang, anchor)}"}
