"""The console's words: Japanese first, English available (``?lang=en``). Pure.

:func:`t` looks a key up and fills ``{placeholders}``; a missing key shows as
the key itself (visible in review, never an exception on a live page). The
English texts are here, the Japanese in the message catalogue
(``kinkyu/locale/ja/LC_MESSAGES/kinkyu.po``, the key as ``msgctxt``), with the
timeline's sentences (:mod:`kinkyu.messages`).
Category labels (kinds, items, states, severities) come from the tables the
reports use, so the console and the written report name things alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from kinkyu.core.labels import ITEM_LABELS, KIND_LABELS
from kinkyu.messages import P_, Texts, pgettext
from kinkyu.reports.labels import SEVERITY_LABELS, STATE_LABELS, TRIAGE_LABELS

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

# The English texts; the Japanese are in kinkyu/locale/ja/LC_MESSAGES/kinkyu.po under the same key
# (msgctxt), looked up by t(). P_ marks each for the catalogue (python scripts/catalogue.py).
MESSAGES: dict[str, str] = {
    "app.name": P_("app.name", "Kinkyu incident desk"),
    "nav.skip": P_("nav.skip", "Skip to main content"),
    "nav.incidents": P_("nav.incidents", "Incidents"),
    "nav.file": P_("nav.file", "File an incident"),
    "nav.audit": P_("nav.audit", "Audit log"),
    "nav.logout": P_("nav.logout", "Log out"),
    "nav.lang": P_("nav.lang", "日本語"),
    "nav.signed_in": P_("nav.signed_in", "{name} ({role})"),
    "role.contractor": P_("role.contractor", "contractor security team"),
    "role.city": P_("role.city", "city official"),
    "role.reviewer": P_("role.reviewer", "reviewer (read-only)"),
    "role.admin": P_("role.admin", "administrator"),
    "login.title": P_("login.title", "Log in"),
    "login.username": P_("login.username", "Username"),
    "login.password": P_("login.password", "Password"),
    "login.submit": P_("login.submit", "Log in"),
    "login.failed": P_("login.failed", "The username or password is not correct."),
    "login.limited": P_("login.limited", "Too many failed logins. Please try again in {minutes} minutes."),
    "login.expired": P_("login.expired", "The form expired. Please log in again."),
    "error.forbidden.title": P_("error.forbidden.title", "You do not have access"),
    "error.forbidden.body": P_(
        "error.forbidden.body", "Your role does not allow this page or action. Ask an administrator if you need it."
    ),
    "error.csrf.title": P_("error.csrf.title", "The form cannot be accepted"),
    "error.csrf.body": P_(
        "error.csrf.body", "The form's security token is not valid. Reload the page and submit again."
    ),
    "error.notfound.title": P_("error.notfound.title", "Not found"),
    "error.notfound.body": P_("error.notfound.body", "There is no such page. Please choose again from the list."),
    "error.broker.title": P_("error.broker.title", "Not sent"),
    "error.broker.body": P_(
        "error.broker.body",
        "The event broker could not be reached, so nothing was recorded. Your input is kept in the "
        "form below: please submit it again in a few minutes. If it is urgent, report to the city "
        "by telephone.",
    ),
    "error.store.title": P_("error.store.title", "The incident cannot be read"),
    "error.store.body": P_(
        "error.store.body",
        "The incident's record could not be read. Please tell an administrator (the log has the details).",
    ),
    "error.audit.title": P_("error.audit.title", "The audit log cannot be written"),
    "error.audit.body": P_(
        "error.audit.body",
        "Views and actions must be recorded in the audit log, which cannot be written now. Tell an administrator.",
    ),
    "error.form": P_("error.form", "Please check the field: {field}"),
    "error.form.required": P_("error.form.required", "{field} is required."),
    "error.form.bad_choice": P_("error.form.bad_choice", "{field}: choose one of the options."),
    "error.form.bad_time": P_("error.form.bad_time", "{field} is not a valid date and time."),
    "error.form.after_discovery": P_("error.form.after_discovery", "The time it happened is after its discovery."),
    "error.form.in_future": P_("error.form.in_future", "{field} is in the future."),
    "error.form.too_early": P_("error.form.too_early", "{field} must be on or after 1 January 2000."),
    "error.form.not_a_number": P_("error.form.not_a_number", "{field} must be a whole number, 0 or more."),
    "error.form.too_long": P_("error.form.too_long", "{field} is too long."),
    "error.form.bad_duration": P_("error.form.bad_duration", "{field}: enter a duration such as 24h, 3d or 90m."),
    "error.form.too_far": P_("error.form.too_far", "{field}: at most 366 days (366d)."),
    "error.form.not_a_place": P_(
        "error.form.not_a_place",
        "{field}: enter a place name or site code of at most 40 characters (e.g. Main building 3F, "
        "koganei-hq-3f). No address, house number, telephone number or person's name: put those in "
        "the details, which are kept as evidence only.",
    ),
    "error.form.unknown_item": P_(
        "error.form.unknown_item",
        "{field}: choose items from the list; describe anything else in the details (kept as evidence only).",
    ),
    "back": P_("back", "Back"),
    "list.title": P_("list.title", "Incidents"),
    "list.filters": P_("list.filters", "Filters"),
    "list.any": P_("list.any", "any"),
    "list.overdue": P_("list.overdue", "Overdue only"),
    "list.apply": P_("list.apply", "Apply"),
    "list.empty": P_("list.empty", "No incidents match."),
    "list.count": P_("list.count", "{n} incident(s)"),
    "col.incident": P_("col.incident", "Incident"),
    "col.contract": P_("col.contract", "Contract"),
    "col.city": P_("col.city", "City"),
    "col.kind": P_("col.kind", "Kind"),
    "col.severity": P_("col.severity", "Severity"),
    "col.state": P_("col.state", "State"),
    "col.opened": P_("col.opened", "Opened"),
    "col.next_due": P_("col.next_due", "Next deadline"),
    "col.records": P_("col.records", "Records"),
    "overdue": P_("overdue", "overdue"),
    "inc.summary": P_("inc.summary", "Summary"),
    "inc.ppc": P_("inc.ppc", "Report to the PPC (assessment and clocks)"),
    "inc.deadlines": P_("inc.deadlines", "Deadlines"),
    "inc.timeline": P_("inc.timeline", "Timeline"),
    "inc.timeline_live": P_("inc.timeline_live", "updating live"),
    "inc.tasks": P_("inc.tasks", "Tasks"),
    "inc.no_tasks": P_("inc.no_tasks", "No tasks."),
    "inc.evidence": P_("inc.evidence", "Evidence (manifest)"),
    "inc.no_evidence": P_("inc.no_evidence", "No sealed evidence."),
    "inc.reports": P_("inc.reports", "Reports"),
    "inc.actions": P_("inc.actions", "Actions"),
    "inc.show_details": P_("inc.show_details", "Show the filed details (viewing is logged)"),
    "inc.show_evidence": P_("inc.show_evidence", "Evidence manifest page"),
    "inc.contract_page": P_("inc.contract_page", "Contract clauses and contacts"),
    "inc.no_run": P_("inc.no_run", "The playbook has not started yet."),
    "f.incident_id": P_("f.incident_id", "Incident"),
    "f.contract": P_("f.contract", "Contract"),
    "f.city": P_("f.city", "City"),
    "f.kind": P_("f.kind", "Kind"),
    "f.origin": P_("f.origin", "Origin"),
    "f.severity": P_("f.severity", "Severity"),
    "f.state": P_("f.state", "State"),
    "f.triage": P_("f.triage", "Triage"),
    "f.records": P_("f.records", "Records"),
    "f.records_value": P_("f.records_value", "{n}"),
    "f.data_items": P_("f.data_items", "Data items"),
    "f.first_event": P_("f.first_event", "First event"),
    "f.discovered": P_("f.discovered", "Discovered"),
    "f.rules": P_("f.rules", "Rules"),
    "origin.filed": P_("origin.filed", "filed"),
    "origin.detection": P_("origin.detection", "detected"),
    "dl.step": P_("dl.step", "Step"),
    "dl.article": P_("dl.article", "Clause"),
    "dl.due": P_("dl.due", "Due"),
    "dl.left": P_("dl.left", "Time left"),
    "dl.verdict": P_("dl.verdict", "Status"),
    "dl.none": P_("dl.none", "No deadlines."),
    "task.title": P_("task.title", "Task"),
    "task.owner": P_("task.owner", "Owner"),
    "task.due": P_("task.due", "Due"),
    "task.status": P_("task.status", "Status"),
    "task.source": P_("task.source", "From"),
    "ev.bundle": P_("ev.bundle", "Bundle"),
    "ev.items": P_("ev.items", "Items"),
    "ev.sha256": P_("ev.sha256", "SHA-256 (plaintext)"),
    "ev.sealed": P_("ev.sealed", "Sealed"),
    "ev.by": P_("ev.by", "Sealed by"),
    "ev.chain": P_("ev.chain", "Custody chain: {status}, {entries} entries"),
    "ev.verify": P_("ev.verify", "Verify evidence integrity"),
    "ev.intact": P_("ev.intact", "Intact: every bundle and the custody chain check out."),
    "ev.tampered": P_("ev.tampered", "Altered or missing:"),
    "ev.wrong_key": P_("ev.wrong_key", "Some bundles cannot be checked with this key:"),
    "ev.no_key": P_(
        "ev.no_key",
        "No evidence key (KINKYU_EVIDENCE_KEY) is configured, so the seals cannot be checked. Custody chain: {status}",
    ),
    "ev.none": P_("ev.none", "This incident has no evidence."),
    "ev.unkeyed": P_(
        "ev.unkeyed", "Nothing found altered, but sealed before integrity keys (unkeyed, legacy): not authenticated."
    ),
    "int.keyed": P_("int.keyed", "Authenticated by the integrity keys (MACs)."),
    "int.unkeyed": P_(
        "int.unkeyed", "Written before integrity keys (unkeyed, legacy): nothing found altered, but not authenticated."
    ),
    "int.unverifiable": P_("int.unverifiable", "Some entries could not be authenticated (above)."),
    "int.empty": P_("int.empty", "No entry yet."),
    "int.matches": P_("int.matches", "Matches its anchor outside the data volume."),
    "int.ahead": P_("int.ahead", "Entries newer than the anchor (not yet published); authenticated by their MACs."),
    "int.mismatch": P_("int.mismatch", "Does not match its anchor outside the data volume."),
    "int.none": P_("int.none", "No anchor was published (entries cut off the end could not be noticed)."),
    "int.not-checked": P_(
        "int.not-checked",
        "The anchor could not be read, so it was not compared (entries cut off the end could not be noticed).",
    ),
    "rep.kind.first": P_("rep.kind.first", "First report"),
    "rep.kind.progress": P_("rep.kind.progress", "Progress report"),
    "rep.kind.final": P_("rep.kind.final", "Final report"),
    "rep.kind.public": P_("rep.kind.public", "Public version"),
    "rep.lang.ja": P_("rep.lang.ja", "Japanese"),
    "rep.lang.en": P_("rep.lang.en", "English"),
    "rep.note": P_("rep.note", "Downloads are logged. A PDF takes a few seconds."),
    "triage.title": P_("triage.title", "Triage (is it a breach?)"),
    "triage.decision": P_("triage.decision", "Decision"),
    "triage.breach": P_("triage.breach", "Breach"),
    "triage.risk": P_("triage.risk", "Risk of a breach"),
    "triage.dismiss": P_("triage.dismiss", "Not a breach (give a reason)"),
    "triage.reason": P_("triage.reason", "Reason (a code such as false-positive; prose is kept as evidence)"),
    "triage.current": P_("triage.current", "Now: {state}"),
    "cont.title": P_("cont.title", "Containment result"),
    "cont.command": P_("cont.command", "Containment command"),
    "cont.result": P_("cont.result", "Result"),
    "cont.none": P_("cont.none", "There are no containment commands."),
    "cont.done": P_("cont.done", "done"),
    "cont.failed": P_("cont.failed", "failed"),
    "cont.declined": P_("cont.declined", "declined"),
    "upd.title": P_("upd.title", "Record progress (recovery, recurrence prevention, …)"),
    "upd.step": P_("upd.step", "Step"),
    "upd.task": P_("upd.task", "Task (optional)"),
    "upd.none": P_("upd.none", "(none)"),
    "upd.note": P_("upd.note", "Note (kept as evidence, never e-mailed)"),
    "upd.done": P_("upd.done", "Done"),
    "upd.measure": P_("upd.measure", "Measure taken (containment, evidence; a lower-case code)"),
    "upd.reason": P_("upd.reason", "Why no measure applies (a lower-case code)"),
    "upd.receipt": P_("upd.receipt", "The written report was handed over in person"),
    "res.title": P_("res.title", "Closure"),
    "res.submit": P_("res.submit", "Close the incident"),
    "ack.title": P_("ack.title", "Acknowledge receipt"),
    "ack.submit": P_("ack.submit", "We received the report (acknowledge)"),
    "receipt.title": P_("receipt.title", "Receipt of the written incident report"),
    "receipt.title_of": P_("receipt.title_of", "Receipt of the written incident report ({report})"),
    "receipt.note": P_(
        "receipt.note",
        "Record this once you have downloaded the written incident report above; "
        "the written report is made by this receipt.",
    ),
    "receipt.submit": P_("receipt.submit", "We received the incident report"),
    "ins.title": P_("ins.title", "Instruction from the {unit}"),
    "ins.what": P_("ins.what", "Instruction (a code such as submit-access-log; prose is kept as evidence)"),
    "ins.within": P_("ins.within", "Within (e.g. 24h, 3d)"),
    "ins.report_request": P_("ins.report_request", "Request a written report"),
    "ins.submit": P_("ins.submit", "Instruct"),
    "rr.title": P_("rr.title", "Request a report"),
    "rr.submit": P_("rr.submit", "Request a written report"),
    "submit": P_("submit", "Submit"),
    "flash.sent": P_("flash.sent", "Sent ({event_id}). It shows here within seconds."),
    "det.title": P_("det.title", "Filed details"),
    "det.notice": P_("det.notice", "This may contain personal information. Your viewing is recorded in the audit log."),
    "det.summary": P_("det.summary", "Summary (as filed)"),
    "det.location": P_("det.location", "Place"),
    "det.place": P_("det.place", "Place (as recorded)"),
    "det.reported_by": P_("det.reported_by", "Filed by"),
    "det.actor": P_("det.actor", "Account"),
    "det.system": P_("det.system", "System"),
    "det.filed": P_("det.filed", "As filed (from the sealed evidence)"),
    "det.filed.shown": P_(
        "det.filed.shown", "The filing is kept sealed as evidence; what follows is read back from the seal."
    ),
    "det.filed.no-key": P_(
        "det.filed.no-key",
        "This console has no evidence key (KINKYU_EVIDENCE_KEY), so the filing as written cannot be shown.",
    ),
    "det.filed.not-sealed": P_(
        "det.filed.not-sealed",
        "The filing is not sealed as evidence yet (it takes seconds to minutes). Open this page again later.",
    ),
    "det.filed.unreadable": P_(
        "det.filed.unreadable", "The sealed evidence could not be read. Check its integrity on the evidence page."
    ),
    "det.event_id": P_("det.event_id", "Event id"),
    "det.kind": P_("det.kind", "Kind"),
    "det.details": P_("det.details", "Details (free text)"),
    "det.occurred_at": P_("det.occurred_at", "Occurred"),
    "det.discovered_at": P_("det.discovered_at", "Discovered"),
    "det.records_affected": P_("det.records_affected", "Records"),
    "det.data_items": P_("det.data_items", "Data items"),
    "evp.title": P_("evp.title", "Evidence manifest"),
    "file.title": P_("file.title", "File an incident"),
    "file.contract": P_("file.contract", "Contract"),
    "file.kind": P_("file.kind", "Kind"),
    "file.summary": P_("file.summary", "Summary (what happened; no names please)"),
    "file.occurred": P_("file.occurred", "When it happened (Japan time)"),
    "file.discovered": P_("file.discovered", "When it was discovered (Japan time)"),
    "file.location": P_("file.location", "Place (a place name or site code; no address or person's name)"),
    "file.records": P_("file.records", "Records (people) affected"),
    "file.items": P_("file.items", "Data items"),
    "file.details": P_("file.details", "Details (kept as evidence only)"),
    "file.submit": P_("file.submit", "File"),
    "file.no_contracts": P_("file.no_contracts", "There is no contract you can file under."),
    "filed.title": P_("filed.title", "Filing sent"),
    "filed.body": P_(
        "filed.body", "Your filing ({event_id}) was sent. A link appears here once the incident is opened."
    ),
    "filed.waiting": P_("filed.waiting", "Waiting for the incident to open…"),
    "filed.open": P_("filed.open", "Open incident {incident_id}"),
    "con.title": P_("con.title", "Contract {contract_id}"),
    "con.clauses": P_("con.clauses", "Clauses (the playbook's steps and their grounds)"),
    "con.contacts": P_("con.contacts", "Contacts"),
    "con.playbook": P_("con.playbook", "Playbook"),
    "con.city_contacts": P_("con.city_contacts", "City"),
    "con.contractor_contacts": P_("con.contractor_contacts", "Contractor"),
    "con.no_playbook": P_("con.no_playbook", "There is no playbook for this local government."),
    "con.quote": P_("con.quote", "Text"),
    "con.urgency": P_("con.urgency", "Urgency"),
    "con.to": P_("con.to", "To"),
    "con.name": P_("con.name", "Name"),
    "con.role": P_("con.role", "Role"),
    "con.email": P_("con.email", "E-mail"),
    "con.period": P_("con.period", "Term"),
    "con.contractor": P_("con.contractor", "Contractor"),
    "con.document": P_("con.document", "Document"),
    "aud.title": P_("aud.title", "Audit log"),
    "aud.ts": P_("aud.ts", "Time"),
    "aud.who": P_("aud.who", "Who"),
    "aud.role": P_("aud.role", "Role"),
    "aud.action": P_("aud.action", "Action"),
    "aud.target": P_("aud.target", "Target"),
    "aud.outcome": P_("aud.outcome", "Outcome"),
    "aud.detail": P_("aud.detail", "Detail"),
    "aud.chain_ok": P_("aud.chain_ok", "Hash chain: intact"),
    "aud.chain_bad": P_("aud.chain_bad", "Hash chain problems:"),
    "aud.filter": P_("aud.filter", "Filter"),
    "ackp.title": P_("ackp.title", "Acknowledge"),
    "ackp.confirm": P_(
        "ackp.confirm", "Press the button to record that you received the message on incident {incident_id}."
    ),
    "ackp.submit": P_("ackp.submit", "Acknowledge"),
    "ackp.unconfigured.title": P_("ackp.unconfigured.title", "Acknowledgements cannot be taken here"),
    "ackp.unconfigured.body": P_(
        "ackp.unconfigured.body",
        "This console has no acknowledgement link secret (KINKYU_NOTIFY_ACK_SECRET). Please tell "
        "the sender by telephone.",
    ),
}


def t(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (ja or en) from the message catalogue, with ``{placeholders}`` filled."""
    english = MESSAGES.get(key)
    if english is None:
        return key
    text = english if lang == "en" else pgettext(lang, key, english)
    return text.format(**values) if values else text


def pick(lang: str, pair: tuple[str, str]) -> str:
    """One of a (ja, en) pair."""
    return pair[1] if lang == "en" else pair[0]


def dash(lang: str) -> str:
    """What an empty value shows: the reports' one dash symbol (－) in Japanese."""
    return "-" if lang == "en" else "－"


def separator(lang: str) -> str:
    """Between the items of a list: 「、」 in Japanese, as the reports write it."""
    return ", " if lang == "en" else "、"


def _label(table: Mapping[str, tuple[str, str]], lang: str, key: str | None) -> str:
    if key is None:
        return dash(lang)
    pair = table.get(key)
    return pick(lang, pair) if pair is not None else key


def kind_label(lang: str, kind: str | None) -> str:
    """An incident kind's name."""
    return _label(KIND_LABELS, lang, kind)


def item_label(lang: str, item: str | None) -> str:
    """A data item's name."""
    return _label(ITEM_LABELS, lang, item)


def _text(table: Texts, lang: str, key: str | None) -> str:
    if key is None:
        return dash(lang)
    text = table.get(lang, key)
    return key if text is None else text


def state_label(lang: str, state: str | None) -> str:
    """A run state's (or outcome's) name."""
    return _text(STATE_LABELS, lang, state)


def severity_label(lang: str, severity: str | None) -> str:
    """A severity's name."""
    return _label(SEVERITY_LABELS, lang, severity)


def triage_label(lang: str, triage: str | None) -> str:
    """A triage status's name."""
    return _text(TRIAGE_LABELS, lang, triage)


def field_label(lang: str, field: str) -> str:
    """The label of a form field, for error messages."""
    names = {
        "contract_id": "file.contract",
        "kind": "file.kind",
        "summary": "file.summary",
        "occurred_at": "file.occurred",
        "discovered_at": "file.discovered",
        "location": "file.location",
        "records_affected": "file.records",
        "data_items": "file.items",
        "details": "file.details",
        "decision": "triage.decision",
        "reason": "triage.reason",
        "command_id": "cont.command",
        "result": "cont.result",
        "step": "upd.step",
        "task_id": "upd.task",
        "note": "upd.note",
        "title": "ins.what",
        "within": "ins.within",
    }
    return t(lang, names.get(field, field))
