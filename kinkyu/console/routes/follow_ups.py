"""Follow-ups on an incident (triage, containment, updates, resolution; the city's acknowledgement and instructions).

Each is one incident event sent through the producer; a form that does not
parse, or a broker that is away, shows the input again to be sent once more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from kinkyu.console import i18n
from kinkyu.console.forms import (
    FormError,
    Reporter,
    acknowledgement_event,
    containment_event,
    instruction_event,
    resolution_event,
    triage_event,
    update_event,
)
from kinkyu.console.pages import (
    audit,
    console_of,
    find_incident,
    form_dict,
    lang_of,
    render,
    reporter_for,
    session_of,
    user_of,
)
from kinkyu.console.producer import BrokerUnavailableError
from kinkyu.reports.model import StoredIncident


async def _send(
    request: web.Request,
    event: dict[str, Any],
    *,
    action: str,
    target: str,
    form: Mapping[str, str],
    back: str,
) -> web.Response | None:
    """Send ``event``; None when the broker took it, else the page that shows the input again (audited)."""
    console = console_of(request)
    try:
        await console.producer.send_event(event)
    except BrokerUnavailableError:
        await audit(request, action, target, "refused", "broker-unavailable")
        return _resubmit(request, 503, "broker", form, back)
    await audit(request, action, target, "allowed", f"event={event['event_id']}")
    return None


def _resubmit(
    request: web.Request, status: int, key: str, form: Mapping[str, str], back: str, *, field_error: str | None = None
) -> web.Response:
    """The form's input shown again, with what went wrong (``key``: ``broker`` or ``form``), to send it once more."""
    return render(
        request,
        "resubmit.html.j2",
        status=status,
        key=key,
        form=form,
        labels={k: i18n.field_label(lang_of(request), k) for k in form},
        action_url=request.path,
        back=back,
        field_error=field_error,
    )


async def _follow_up(
    request: web.Request,
    action: str,
    build: Callable[[StoredIncident, Mapping[str, str], Reporter], dict[str, Any]],
) -> web.Response:
    found = await find_incident(request, action)
    if isinstance(found, web.Response):
        return found
    stored, _ = found
    user = user_of(request)
    form = form_dict(await request.post())
    incident_id = stored.incident.incident_id
    back = f"/incidents/{incident_id}"
    try:
        event = build(stored, form, reporter_for(user, stored))
    except FormError as exc:
        lang = lang_of(request)
        message = i18n.t(lang, f"error.form.{exc.code}", field=i18n.field_label(lang, exc.field))
        await audit(request, action, incident_id, "refused", f"invalid-{exc.field}")
        return _resubmit(request, 400, "form", form, back, field_error=message)
    failed = await _send(request, event, action=action, target=incident_id, form=form, back=back)
    if failed is not None:
        return failed
    session = session_of(request)
    if session is not None:
        console_of(request).flash(session, i18n.t(lang_of(request), "flash.sent", event_id=event["event_id"]))
    raise web.HTTPSeeOther(back)


def _common(stored: StoredIncident, reporter: Reporter, now: datetime) -> dict[str, Any]:
    return {
        "incident_id": stored.incident.incident_id,
        "contract_id": stored.incident.contract_id,
        "reporter": reporter,
        "now": now,
    }


async def post_triage(request: web.Request) -> web.Response:
    """Contractor: confirm (breach / risk of one) or dismiss with a reason."""
    now = console_of(request).clock()
    return await _follow_up(request, "incident.triage", lambda s, f, r: triage_event(f, **_common(s, r, now)))


async def post_containment(request: web.Request) -> web.Response:
    """Contractor: a containment command's result."""
    now = console_of(request).clock()

    def build(s: StoredIncident, f: Mapping[str, str], r: Reporter) -> dict[str, Any]:
        commands = [c.command.command_id for c in s.run.commands] if s.run is not None else []
        return containment_event(f, commands=commands, **_common(s, r, now))

    return await _follow_up(request, "incident.containment", build)


async def post_update(request: web.Request) -> web.Response:
    """Contractor: a step or task done (recovery, recurrence prevention, …), with a note kept as evidence."""
    now = console_of(request).clock()

    def build(s: StoredIncident, f: Mapping[str, str], r: Reporter) -> dict[str, Any]:
        steps = [st.step_id for st in s.run.steps] if s.run is not None else []
        tasks = [t.task_id for t in s.run.tasks] if s.run is not None else []
        return update_event(f, steps=steps, tasks=tasks, **_common(s, r, now))

    return await _follow_up(request, "incident.update", build)


async def post_resolve(request: web.Request) -> web.Response:
    """Contractor: close the incident (the playbook refuses while tasks are open)."""
    now = console_of(request).clock()
    return await _follow_up(request, "incident.update", lambda s, _f, r: resolution_event(**_common(s, r, now)))


async def post_acknowledge(request: web.Request) -> web.Response:
    """City: 受領確認 of the reports sent."""
    now = console_of(request).clock()
    return await _follow_up(request, "city.acknowledge", lambda s, _f, r: acknowledgement_event(**_common(s, r, now)))


async def post_receipt(request: web.Request) -> web.Response:
    """City: 受領 of the written report (事故報告書) downloaded here: the written report step is done."""
    now = console_of(request).clock()

    def build(s: StoredIncident, f: Mapping[str, str], r: Reporter) -> dict[str, Any]:
        report = f.get("report")
        if report in {"progress", "final"}:
            # A later report (追完, 最終報告): its receipt names it, and leaves the first report's steps alone.
            return acknowledgement_event(data={"receipt": "console", "report": report}, **_common(s, r, now))
        # The written reports awaiting their receipt; none named: every report sent (the playbook sorts it out).
        waiting = [
            st.step_id
            for st in (s.run.steps if s.run is not None else [])
            if st.status == "sent" and s.run is not None and s.run.playbook.step(st.step_id).written
        ]
        data: dict[str, Any] = {"receipt": "console"}
        if len(waiting) == 1:
            data["step"] = waiting[0]
        return acknowledgement_event(data=data, **_common(s, r, now))

    return await _follow_up(request, "city.acknowledge", build)


async def post_instruct(request: web.Request) -> web.Response:
    """City: 甲の指示, which becomes a task."""
    now = console_of(request).clock()
    return await _follow_up(request, "city.instruct", lambda s, f, r: instruction_event(f, **_common(s, r, now)))


async def post_request_report(request: web.Request) -> web.Response:
    """City: ask for a written report."""
    now = console_of(request).clock()
    return await _follow_up(
        request,
        "city.request_report",
        lambda s, f, r: instruction_event(f, report_request=True, **_common(s, r, now)),
    )
