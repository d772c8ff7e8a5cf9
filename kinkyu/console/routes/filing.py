"""Filing an incident (one event without an incident id), and the page that waits for the stream to open it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from kinkyu.console import i18n, views
from kinkyu.console.forms import (
    FILING_KINDS,
    OFFERED_ITEMS,
    FormError,
    filing_event,
)
from kinkyu.console.pages import audit, console_of, form_dict, lang_of, refuse, render, reporter_for, user_of
from kinkyu.console.policy import allowed, role_allows
from kinkyu.console.producer import BrokerUnavailableError
from kinkyu.console.state import Console
from kinkyu.console.users import User
from kinkyu.core.contract import ContractProfile
from kinkyu.reports.model import StoredIncident

_FILED_LIMIT = 10_000


def _filing_contracts(console: Console, user: User) -> list[ContractProfile]:
    return [
        p
        for cid, p in sorted(console.profiles().items())
        if allowed(user, "incident.file", contract_id=cid, jurisdiction=p.jurisdiction, contractor_org=p.contractor.org)
    ]


def _file_page(
    request: web.Request,
    contracts: Sequence[ContractProfile],
    *,
    status: int = 200,
    values: Mapping[str, Any] | None = None,
    error: str | None = None,
    broker: bool = False,
) -> web.Response:
    return render(
        request,
        "file.html.j2",
        status=status,
        contracts=contracts,
        kinds=FILING_KINDS,
        items=OFFERED_ITEMS,
        values=values or {},
        error=error,
        broker=broker,
    )


async def file_get(request: web.Request) -> web.Response:
    """The filing form (contracts in the user's scope only)."""
    console = console_of(request)
    user = user_of(request)
    if not role_allows(user, "incident.file"):
        return await refuse(request, "incident.file", "-")
    return _file_page(request, _filing_contracts(console, user))


async def file_post(request: web.Request) -> web.Response:
    """File an incident: one event without incident_id; 303 to /filed/<event_id>."""
    console = console_of(request)
    user = user_of(request)
    if not role_allows(user, "incident.file"):
        return await refuse(request, "incident.file", "-")
    contracts = _filing_contracts(console, user)
    posted = await request.post()
    form = form_dict(posted)
    items = [str(v) for v in posted.getall("data_items", []) if isinstance(v, str)]
    values: dict[str, Any] = {**form, "data_items": items}
    target = form.get("contract_id", "-")[:200] or "-"
    lang = lang_of(request)
    try:
        event = filing_event(
            form,
            items,
            allowed_contracts=[p.contract_id for p in contracts],
            reporter=reporter_for(user),
            now=console.clock(),
        )
    except FormError as exc:
        if exc.field == "contract_id" and exc.code == "bad_choice":
            await audit(request, "incident.file", "invalid-contract", "refused", "out-of-scope")
        message = i18n.t(lang, f"error.form.{exc.code}", field=i18n.field_label(lang, exc.field))
        return _file_page(request, contracts, status=400, values=values, error=message)
    try:
        await console.producer.send_event(event)
    except BrokerUnavailableError:
        await audit(request, "incident.file", target, "refused", "broker-unavailable")
        return _file_page(
            request, contracts, status=503, values=values, error=i18n.t(lang, "error.broker.body"), broker=True
        )
    await audit(request, "incident.file", target, "allowed", f"event={event['event_id']}")
    console.filed[event["event_id"]] = user.username
    while len(console.filed) > _FILED_LIMIT:
        console.filed.popitem(last=False)
    raise web.HTTPSeeOther(f"/filed/{event['event_id']}")


async def _filed_incident(request: web.Request) -> StoredIncident | None:
    console = console_of(request)
    user = user_of(request)
    event_id = request.match_info["event_id"]
    stored_all = await asyncio.to_thread(console.store.all)
    stored = views.find_filed(stored_all, event_id)
    if stored is None or not allowed(user, "incident.view", **views.scope_of(stored)):
        return None
    return stored


async def filed_page(request: web.Request) -> web.Response:
    """The filing was sent; a link to the incident once the stream has opened it."""
    event_id = request.match_info["event_id"]
    stored = await _filed_incident(request)
    return render(
        request, "filed.html.j2", event_id=event_id, incident_id=stored.incident.incident_id if stored else None
    )


async def filed_json(request: web.Request) -> web.Response:
    """``{"incident_id": … or null}`` for the filed page's poll."""
    stored = await _filed_incident(request)
    return web.json_response({"incident_id": stored.incident.incident_id if stored is not None else None})
