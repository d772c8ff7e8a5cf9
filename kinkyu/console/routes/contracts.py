"""A contract's page: its clauses (the playbook steps with their grounds), contacts and playbook."""

from __future__ import annotations

import asyncio

from aiohttp import web

from kinkyu.console.pages import audit, console_of, error_page, lang_of, refuse, render, user_of
from kinkyu.console.policy import allowed_actions
from kinkyu.core.jurisdictions import unit_of
from kinkyu.messages import party_fields


async def contract_page(request: web.Request) -> web.Response:
    """A contract's clauses (the playbook steps with their grounds), contacts and playbook."""
    console = console_of(request)
    user = user_of(request)
    contract_id = request.match_info["contract_id"]
    profile = console.profiles().get(contract_id)
    if profile is None:
        stored = next(
            (s for s in await asyncio.to_thread(console.store.all) if s.profile.contract_id == contract_id), None
        )
        profile = stored.profile if stored is not None else None
    target = contract_id if len(contract_id) <= 120 and contract_id.isascii() else "invalid-id"  # noqa: PLR2004 - an id
    if profile is None:
        return error_page(request, 404, "notfound")
    scope = {"contract_id": contract_id, "jurisdiction": profile.jurisdiction, "contractor_org": profile.contractor.org}
    actions = allowed_actions(user, **scope)
    if not actions:
        return await refuse(request, "contract.view", target, hide=True)
    if "contract.view" not in actions:
        return await refuse(request, "contract.view", target)
    await audit(request, "contract.view", contract_id, "allowed")
    playbook = console.playbooks.get(profile.jurisdiction)
    # The parties as the contract calls them (発注者 / 受注者): the contacts' headings name them so.
    party = party_fields(
        lang_of(request),
        unit_of(profile.jurisdiction, profile.city.name or None),
        playbook.parties if playbook is not None else None,
    )
    return render(request, "contract.html.j2", profile=profile, playbook=playbook, party=party)
