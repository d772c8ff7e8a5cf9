"""Rendering: a notification becomes an e-mail or a webhook body. Pure: no I/O but reading templates.

Render first, send second (like Zulip's ``build_email`` / ``send_email``):
:func:`build_email` and :func:`build_webhook` return values the outbox stores
and a transport sends unchanged, so a retry sends the same bytes.

No personal information leaves, by construction: templates receive only the
context :func:`message_context` builds, which copies named fields one by one
from the notification (:class:`~notifiers.model.NotificationIn`), the
incident's facts (:class:`~notifiers.model.IncidentFacts`: counts,
categories, times, rule ids, clause articles) and the contract profile
(contract id, title, city, the recipient's own role and name). An incident's
summary, details, location, actor and reporter are never in reach of a
template. :func:`assert_no_personal_data` is the test-side check.

Japanese first: a contact's ``lang`` picks the language (``ja`` by default);
the templates are ``templates/email/<kind>.<lang>.txt.j2``, each extending
``_layout.<lang>.txt.j2``; the HTML alternative wraps the text
(``_message.html.j2``, autoescaped) and adds an acknowledgement button.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from kinkyu.core.clauses import CITY_NAMES
from kinkyu.core.contract import Contact, ContractProfile
from kinkyu.core.escalation import Purpose, contact_for, parse_ref
from kinkyu.core.freetext import neutralise, neutralise_value
from kinkyu.core.jurisdictions import cite, honorific, unit_of
from kinkyu.core.labels import NATURE_LABELS, SEVERITY_LABELS, item_labels, kind_label, nature_label, rule_label
from kinkyu.core.legal.report import UNKNOWN, UNKNOWN_EN
from kinkyu.core.legal.triggers import Trigger, people_count
from kinkyu.core.model import JST
from kinkyu.core.playbook.definition import REPORT_ITEMS
from kinkyu.core.playbook.ppc import Rule8Facts
from kinkyu.core.timefmt import doc_date, doc_datetime
from kinkyu.messages import P_, PartyWords, Texts, party_fields, unit_word
from kinkyu.messages.codes import CODE_WORDS, code_label
from kinkyu.notifiers.exceptions import PersonalDataError, RenderError
from kinkyu.notifiers.model import (
    CITY_REPORTS,
    IncidentFacts,
    Lang,
    NotificationIn,
    OutboundEmail,
    PPCReminderIn,
    WebhookPayload,
)
from kinkyu.resources import bundled

TEMPLATES_DIR = bundled("templates", "email")
WEBHOOK_TYPE = "kinkyu.notification"

# Every sentence and label of a message: English here (the message id), Japanese in the catalogue under
# ``mail.<key>`` (python scripts/catalogue.py). ``{unit}`` is the local body (市 / 区; city / ward).
TEXTS = Texts(
    "mail.",
    {
        # Message kinds: the Notify kinds, "escalation" (a playbook's Escalate) and "unanswered"
        # (the final alert of a chain nobody acknowledged).
        "title.first_report": P_("mail.title.first_report", "First report: personal data incident"),
        "title.written_report": P_("mail.title.written_report", "Written incident report"),
        "title.complaint_report": P_("mail.title.complaint_report", "Complaint report"),
        "title.progress_report": P_("mail.title.progress_report", "Complaint progress report"),
        "title.supplementary_report": P_("mail.title.supplementary_report", "Supplement to the incident report"),
        "title.dismissal_report": P_("mail.title.dismissal_report", "Report: not a breach after all"),
        "title.closure_report": P_("mail.title.closure_report", "Report: incident closed"),
        "title.triage_due": P_("mail.title.triage_due", "Please triage a detection"),
        "title.task_assigned": P_("mail.title.task_assigned", "Task assigned to you"),
        "title.escalation": P_("mail.title.escalation", "Escalation"),
        "title.unanswered": P_("mail.title.unanswered", "The {unit} has not acknowledged"),
        "title.ppc_preliminary_reminder": P_(
            "mail.title.ppc_preliminary_reminder", "Reminder: preliminary report to the PPC due"
        ),
        "title.ppc_final_reminder": P_("mail.title.ppc_final_reminder", "Reminder: full report to the PPC due"),
        # A first report's subject names the event as the city's clause does (システム停止事故, 契約違反のおそれ …).
        "title.first_report_possible": P_(
            "mail.title.first_report_possible", "First report: possible personal data incident"
        ),
        "title.first_report_nature": P_("mail.title.first_report_nature", "First report: {nature}"),
        "reason.deadline_missed": P_("mail.reason.deadline_missed", "deadline missed"),
        "reason.no_acknowledgement": P_("mail.reason.no_acknowledgement", "not acknowledged"),
        "reason.containment_failed": P_("mail.reason.containment_failed", "containment failed"),
        "urgency.直ちに": P_("mail.urgency.直ちに", "immediately (直ちに)"),
        "urgency.速やかに": P_("mail.urgency.速やかに", "as soon as possible (速やかに)"),
        "urgency.遅滞なく": P_("mail.urgency.遅滞なく", "without undue delay (遅滞なく)"),
        "origin.detection": P_("mail.origin.detection", "detected by access-log monitoring"),
        "origin.filed": P_("mail.origin.filed", "filed by a person"),
        # A deadline the playbook could not compute from the incident's times: shown, not left out.
        "due_unknown": P_("mail.due_unknown", "to be confirmed (要確認)"),
        "span.days": P_("mail.span.days", "{n} day(s)"),
        "span.hours": P_("mail.span.hours", "{n} hour(s)"),
        "span.minutes": P_("mail.span.minutes", "{n} minutes"),
        "records": P_("mail.records", "{n} record(s)"),
        "role.city": P_("mail.role.city", "{unit} contact {n}"),
        "role.contractor": P_("mail.role.contractor", "contractor contact {n}"),
        "item.reported": P_("mail.item.reported", "in the written report"),
        "task.item": P_("mail.task.item", "supply '{item}' in {step}"),
        "task.instruction": P_("mail.task.instruction", "{instruction} ({step})"),
        # The subject names the matter and the contract, nothing else: no contract id, no severity of our
        # own scale, no deadline (whose?). 【緊急】 only where it is: the first report, an overdue escalation,
        # a chain nobody acknowledged, a task due within a day.
        "subject.line": P_("mail.subject.line", "{tag}{title} ({contract})"),
        "subject.tag.urgent": P_("mail.subject.tag.urgent", "[URGENT] "),
        "subject.tag.escalated": P_("mail.subject.tag.escalated", "[SENT AGAIN] "),
        "subject.tag.first_report": P_("mail.subject.tag.first_report", "[URGENT: FIRST REPORT] "),
        "subject.tag.written_report": P_("mail.subject.tag.written_report", "[WRITTEN REPORT] "),
        "subject.tag.complaint_report": P_("mail.subject.tag.complaint_report", "[FIRST REPORT] "),
        "subject.tag.progress_report": P_("mail.subject.tag.progress_report", "[PROGRESS REPORT] "),
        "subject.tag.supplementary_report": P_("mail.subject.tag.supplementary_report", "[SUPPLEMENT] "),
        "subject.tag.dismissal_report": P_("mail.subject.tag.dismissal_report", "[REPORT] "),
        "subject.tag.closure_report": P_("mail.subject.tag.closure_report", "[CLOSURE REPORT] "),
        "subject.tag.triage_due": P_("mail.subject.tag.triage_due", "[PLEASE CHECK] "),
        "subject.tag.task_assigned": P_("mail.subject.tag.task_assigned", "[TASK] "),
        "subject.tag.escalation": P_("mail.subject.tag.escalation", "[ACTION NEEDED] "),
        "subject.tag.ppc_preliminary_reminder": P_("mail.subject.tag.ppc_preliminary_reminder", "[DEADLINE] "),
        "subject.tag.ppc_final_reminder": P_("mail.subject.tag.ppc_final_reminder", "[DEADLINE] "),
        "subject.first_report": P_("mail.subject.first_report", "Report of a {nature}"),
        "subject.written_report": P_("mail.subject.written_report", "The written report (first report) on a {nature}"),
        "subject.supplementary_report": P_(
            "mail.subject.supplementary_report", "Supplement to our report on a {nature}"
        ),
        "subject.dismissal_report": P_("mail.subject.dismissal_report", "Not a {nature} after all"),
        "subject.closure_report": P_("mail.subject.closure_report", "Closure of the {nature}"),
        "subject.ppc_preliminary_reminder": P_(
            "mail.subject.ppc_preliminary_reminder", "Deadline of the preliminary report to the PPC"
        ),
        "subject.ppc_final_reminder": P_("mail.subject.ppc_final_reminder", "Deadline of the full report to the PPC"),
        "subject.task_assigned": P_("mail.subject.task_assigned", "Task: {step}"),
        "subject.reason": P_("mail.subject.reason", "{title}: {reason}"),
        "nature.default": P_("mail.nature.default", "personal data incident"),
        "nature.default_possible": P_("mail.nature.default_possible", "possible personal data incident"),
    },
)
MESSAGE_KINDS: tuple[str, ...] = (
    *CITY_REPORTS,
    "triage_due",
    "task_assigned",
    "escalation",
    "unanswered",
    "ppc_preliminary_reminder",
    "ppc_final_reminder",
)
# The written report (事故報告書) a message carries the link of: the first report and the written report it
# is (第一報), a supplement or a complaint's progress (経過報告), the closure (最終報告). The link names its own
# report, and the city's receipt on the console names the same one.
REPORT_OF_MESSAGE: dict[str, str] = {
    "first_report": "first",
    "written_report": "first",
    "complaint_report": "first",
    "progress_report": "progress",
    "supplementary_report": "progress",
    "closure_report": "final",
}
# The subjects that name the matter by its nature (the clause's words); the rest by their title.
_NATURE_SUBJECTS = frozenset(
    {"first_report", "written_report", "supplementary_report", "dismissal_report", "closure_report"}
)
# Escalations the subject calls urgent: something is overdue (a deadline, an acknowledgement).
_URGENT_REASONS = frozenset({"deadline_missed", "no_acknowledgement"})
# A task due within this is urgent; one due in three weeks is not.
_URGENT_WITHIN = timedelta(hours=24)
# Roles that say what a contact does, not a title a letter puts before the name.
_NO_TITLE = frozenset({"担当", "担当者", "contact"})


def _t(lang: Lang, key: str, unit: str = "市", parties: PartyWords | None = None, /, **values: object) -> str:
    return TEXTS.say(lang, key, unit, parties, **values)


def _title(kind: str, lang: Lang, unit: str, parties: PartyWords | None = None) -> str:
    return _t(lang, f"title.{kind}", unit, parties)


def _first_report_title(notification: NotificationIn, lang: Lang, parties: PartyWords | None) -> str | None:
    """A first report's subject names the event as the city's clause does (システム停止事故, 契約違反のおそれ …)."""
    if notification.nature is not None and notification.nature in NATURE_LABELS:
        ja, en = nature_label(notification.nature, possible=notification.possible, parties=parties)
        return _t(lang, "title.first_report_nature", nature=ja if lang == "ja" else en)
    return _t(lang, "title.first_report_possible", "市", parties) if notification.possible else None


_APOLOGETIC = frozenset(
    {"first_report", "written_report", "complaint_report", "progress_report", "supplementary_report", "closure_report"}
)


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    # A (Japanese, English) pair of names kept with the data (a step's titles, the core's category labels).
    return pair[0] if lang == "ja" else pair[1]


def _span(value: timedelta, lang: Lang) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes:
        return _t(lang, "span.days", n=minutes // 1440)
    if minutes % 60 == 0 and minutes:
        return _t(lang, "span.hours", n=minutes // 60)
    return _t(lang, "span.minutes", n=minutes)


def _day(d: date, lang: Lang) -> str:
    return doc_date(d, lang)


def _rule8_context(
    notification: NotificationIn, lang: Lang, parties: PartyWords | None, unit: str = "市"
) -> list[dict[str, Any]]:
    """The nine Rule 8(1) items, numbered, each its text or 調査中 / "under investigation".

    Built here from the record's codes, counts and dates (:class:`Rule8Facts`
    keeps nothing else), so no text from the record reaches the message.
    """
    facts = Rule8Facts.from_json(notification.rule8_facts)
    if facts is None:
        return []
    return [
        {"number": i.number, "label": i.label(lang), "value": i.text(lang), "known": i.known}
        for i in facts.items(parties, unit)
    ]


def _ppc_context(ppc: PPCReminderIn | None, lang: Lang) -> dict[str, Any] | None:
    if ppc is None:
        return None
    triggers = [Trigger(t) for t in ppc.triggers]
    return {
        "report": ppc.report,
        "learned": _day(ppc.learned, lang) if ppc.learned is not None else None,
        "due": _day(ppc.due, lang),
        "final_days": ppc.final_days,
        "improper_purpose": ppc.improper_purpose,
        "triggers": [t.label_ja if lang == "ja" else t.label_en for t in triggers],
    }


def _report_url(kind: str, incident_url: str, lang: Lang) -> str | None:
    """The console's link to the report this message carries (its own: first, progress or final).

    Every report to the city links its 事故報告書, written or not: a city whose clause asks no writing still
    reads the report there. Only a written one asks the city to record its receipt (``written``).
    """
    report = REPORT_OF_MESSAGE.get(kind)
    if not incident_url or report is None:
        return None
    return f"{incident_url}/reports/{report}.{lang}.pdf"


def _task_words(
    notification: NotificationIn, step: str | None, lang: Lang, unit: str, parties: PartyWords | None
) -> str | None:
    """A task as a person names it: 「事故の書面による報告（第一報）の記載事項「発生状況」の追完」, else its step.

    A city's instruction is named by its words (アクセス記録の提出（甲の指示に従う）), as the report names it;
    a code without words names the step only, never the code.
    """
    _, sep, item = (notification.task_id or "").partition(":")
    if sep and item in REPORT_ITEMS:
        return _t(lang, "task.item", step=step or "", item=_pick(REPORT_ITEMS[item], lang))
    code = notification.instruction
    if code is not None and code in CODE_WORDS["instruction"]:
        words = code_label(lang, "instruction", code, unit, parties)
        return _t(lang, "task.instruction", unit, parties, instruction=words, step=step or "")
    return step


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the message with idempotency ``key``: the same on every retry."""
    return f"<kinkyu.{key}@{domain}>"


def message_kind(notification: NotificationIn, purpose: Purpose) -> str:
    """The template kind: the Notify kind, ``escalation`` or ``unanswered``."""
    if purpose == "unanswered":
        return "unanswered"
    if notification.effect == "escalate":
        return "escalation"
    if notification.kind is None:  # NotificationIn guarantees it for notify; kept for the type checker
        raise RenderError(f"notification {notification.effect_id} has no kind")
    return notification.kind


def _role(profile: ContractProfile, ref: str, lang: Lang, parties: PartyWords | None = None) -> str:
    # Who did not answer is named by role (担当, 個人情報保護責任者): a message forwarded
    # further up should not be a list of people's names.
    contact = contact_for(profile, ref)
    side, index = parse_ref(ref)
    if contact is not None:
        return contact.role
    unit = unit_of(profile.jurisdiction, profile.city.name)
    return _t(lang, "role.city" if side == "city" else "role.contractor", unit, parties, n=index + 1)


def _incident_context(facts: IncidentFacts | None, lang: Lang) -> dict[str, Any]:
    unknown = UNKNOWN if lang == "ja" else UNKNOWN_EN
    if facts is None:
        return {
            "kind": unknown,
            "origin": None,
            "severity": unknown,
            "severity_code": None,
            "first_event": None,
            "last_event": None,
            "discovered": None,
            "records": None,
            "people": None,
            "data_items": [],
            "other_items": 0,
            "rules": [],
            "clauses": [],
            "events": None,
            "findings": None,
        }
    records = facts.records
    people = people_count(facts.people, records or 0)
    ja_items, en_items = item_labels(facts.known_items)
    records_text = None if records is None else _t(lang, "records", n=f"{records:,}")
    return {
        "kind": _pick(kind_label(facts.kind), lang) if facts.kind else unknown,
        # A detection's kind label already says how it was found.
        "origin": _t(lang, f"origin.{facts.origin}") if facts.origin and facts.kind != "detection" else None,
        "severity": _pick(SEVERITY_LABELS[facts.severity.value], lang) if facts.severity else unknown,
        "severity_code": facts.severity.value if facts.severity else None,
        "first_event": doc_datetime(facts.first_event_ts, lang),
        "last_event": doc_datetime(facts.last_event_ts, lang),
        "discovered": doc_datetime(facts.discovered_at, lang),
        "records": records_text,
        "people": people.text(lang) if people is not None else None,
        "data_items": list(ja_items if lang == "ja" else en_items),
        "other_items": facts.other_items,
        "rules": [_pick(rule_label(r), lang) for r in facts.rules],
        "clauses": [c.article for c in facts.clauses],
        "events": facts.event_count,
        "findings": facts.finding_count,
    }


def message_context(
    notification: NotificationIn,
    *,
    contract: ContractProfile,
    recipient: Contact | None,
    lang: Lang,
    ack_url: str | None,
    incident_url: str,
    now: datetime,
    facts: IncidentFacts | None = None,
    purpose: Purpose = "notify",
    not_answered_by: Sequence[str] = (),
    step_title: tuple[str, str] | None = None,
    ack_expires: datetime | None = None,
    parties: PartyWords | None = None,
) -> dict[str, Any]:
    """The allow-listed context templates render: plain strings, numbers and lists, field by field.

    This is the one place a template's data comes from; it never passes an
    object through, so nothing a template could reach holds personal data. ``parties``: what the
    city's playbook calls the parties (発注者 / 受注者; 甲 / 乙 when not given).
    """
    if facts is not None and facts.incident_id != notification.incident_id:
        raise RenderError(f"facts of {facts.incident_id} given for a message of {notification.incident_id}")
    unknown = UNKNOWN if lang == "ja" else UNKNOWN_EN
    kind = message_kind(notification, purpose)
    original = message_kind(notification, "notify")
    city = contract.city.name or CITY_NAMES.get(contract.jurisdiction, contract.jurisdiction)
    unit = unit_of(contract.jurisdiction, contract.city.name)
    original_title = _first_report_title(notification, lang, parties) if original == "first_report" else None
    original_title = original_title or _title(original, lang, unit, parties)
    title = original_title if kind == original else _title(kind, lang, unit, parties)
    # The document is named with the article (豊田市 特記事項 第13条②): a city has several.
    clause = cite(contract.jurisdiction, notification.article) if notification.article else None
    ladder_roles = [_role(contract, ref, lang, parties) for ref in not_answered_by]
    words = party_fields(lang, unit, parties)
    reported = set(notification.items) - set(notification.missing_items)
    items = [
        {
            "label": _pick(REPORT_ITEMS[i], lang),
            "status": _t(lang, "item.reported") if i in reported else unknown,
        }
        for i in notification.items
    ]
    step = None
    if step_title is not None:
        step = _pick(step_title, lang)
    elif notification.step_id:
        step = notification.step_id
    recipient_ctx = None
    if recipient is not None:
        # By address, not equality: a caller may pass a copy (another language, say).
        city_addresses = {c.email for c in contract.city.contacts if c.email}
        side = "city" if recipient.email in city_addresses else "contractor"
        recipient_ctx = {
            "name": recipient.name,
            "role": recipient.role,
            "side": side,
            # The role goes before the name as a title (個人情報保護責任者　渡辺 浩 様), but not twice
            # (「作業責任者 作業責任者 C 様」) and not when it is no title at all (「担当 中村 様」).
            "title": "" if recipient.name.startswith(recipient.role) or recipient.role in _NO_TITLE else recipient.role,
        }
    return {
        "lang": lang,
        "kind": kind,
        "effect": notification.effect,
        "purpose": purpose,
        "title": title,
        "original_title": original_title,
        "unknown": unknown,
        "contract": {
            "id": contract.contract_id,
            "title": contract.title,
            "city": city,
            "department": contract.city.department,
            "contractor": contract.contractor.name,
            "ended": notification.contract_ended,
            # 貴市 / 貴区, 市 / 区: a ward is never called a city.
            "honorific": honorific(contract.jurisdiction, contract.city.name),
            "unit": unit,
            # What an English message calls the local body: "the ward" for 品川区, never "the city".
            "unit_word": unit_word(unit, lang),
            # The parties as the contract calls them (委託者 / 受託者, 発注者 / 受注者).
            "city_role": words["city_role"],
            "contractor_role": words["contractor_role"],
            # The contract's title for the person responsible (取扱責任者, 個人情報受託管理責任者, …).
            "responsible_role": words["responsible_role"],
        },
        # The signature: the contractor's own business contact from the profile (not the protected data).
        "sign": {
            "name": contract.contractor.name,
            "responsible": contract.contractor.responsible,
            "contact": contract.contractor.contact,
            "address": contract.contractor.address,
            # A profile with the firm's name alone: the signature says so instead of ending at the name.
            "missing": not any(
                (contract.contractor.address, contract.contractor.responsible, contract.contractor.contact)
            ),
        },
        # A report on an incident to the city opens with an apology; reminders and internal notices do not.
        "apology": kind in _APOLOGETIC and (recipient_ctx is None or recipient_ctx["side"] == "city"),
        "audience": notification.audience or ("contractor" if purpose == "unanswered" else None),
        "recipient": recipient_ctx,
        "clause": clause,
        "urgency": _t(lang, f"urgency.{notification.urgency}") if notification.urgency else None,
        "immediate": notification.urgency == "直ちに",
        "written": notification.written,
        "possible": notification.possible,
        "nature": notification.nature,
        "nature_label": (
            _pick(nature_label(notification.nature, possible=notification.possible, parties=parties), lang)
            if notification.nature is not None and notification.nature in NATURE_LABELS
            else None
        ),
        # What a dismissal says the matter is not: the event itself in the clause's words, not its おそれ.
        "dismissed_nature": (
            _pick(nature_label(notification.nature, possible=False, parties=parties), lang)
            if notification.nature is not None and notification.nature in NATURE_LABELS
            else _t(lang, "nature.default", unit, parties)
        ),
        # The subject's words for the event, named as the contract names its data (豊田市: 個人情報等).
        "subject_natures": {
            "possible": _subject_nature(notification.nature, lang, parties, possible=True),
            "actual": _subject_nature(notification.nature, lang, parties, possible=False),
        },
        "rule8": notification.rule8,
        "rule8_items": _rule8_context(notification, lang, parties, unit),
        "ppc": _ppc_context(notification.ppc, lang),
        "items": items,
        "due": doc_datetime(notification.due, lang) or (_t(lang, "due_unknown") if notification.due_unknown else None),
        "due_soon": notification.due is not None and notification.due - now <= _URGENT_WITHIN,
        "step": step,
        "task_id": notification.task_id,
        # The task in words, never its code (first_report:circumstances, recovery): a report item's task is
        # named by the item, any other by its step.
        "task_words": _task_words(notification, step, lang, unit, parties),
        "reason": _t(lang, f"reason.{notification.reason}") if notification.reason else None,
        "reason_code": notification.reason,
        "level": notification.level,
        "not_answered_by": ladder_roles,
        "ack_timeout": _span(contract.response.ack_timeout, lang),
        "incident_id": notification.incident_id,
        "incident": _incident_context(facts, lang),
        "ack_url": ack_url,
        "ack_expires": doc_datetime(ack_expires, lang),
        "incident_url": incident_url,
        # A written report (書面) is the 事故報告書 on the console: the city downloads it there and
        # records its receipt (受領), which is what completes the step.
        "report_url": _report_url(original, incident_url, lang),
        "sent_at": doc_datetime(now, lang),
    }


def build_subject(ctx: dict[str, Any]) -> str:
    """The subject line (one line, whatever the profile's texts hold): a tag, the matter and the contract.

    ``【緊急・第一報】個人情報の漏えい等の事故のご報告（住民記録システム運用保守業務委託）``; English:
    ``[URGENT: FIRST REPORT] Report of a personal data incident (…)``. The matter is named by the
    nature the city's clause uses (契約違反, システム停止事故 …); no contract id, severity or deadline.
    """
    return _one_line(neutralise(_subject(ctx)))


def _one_line(text: str) -> str:
    # A line break in a header value would end the header (and could start another).
    return re.sub(r"[\r\n\t\v\f]+", " ", text)


def _subject_nature(nature: str | None, lang: Lang, parties: PartyWords | None, *, possible: bool) -> str:
    if nature is not None and nature in NATURE_LABELS:
        return _pick(nature_label(nature, possible=possible, parties=parties), lang)
    return _t(lang, "nature.default_possible" if possible else "nature.default", "市", parties)


def _subject(ctx: dict[str, Any]) -> str:
    purpose = ctx["purpose"]
    lang = ctx["lang"]
    kind = ctx["kind"]
    title = ctx["title"]
    if kind in _NATURE_SUBJECTS:
        # What turned out not to be, or was closed, is the event itself, not its おそれ.
        possible = ctx["possible"] and kind not in {"dismissal_report", "closure_report"}
        title = _t(lang, f"subject.{kind}", nature=ctx["subject_natures"]["possible" if possible else "actual"])
    elif kind in {"ppc_preliminary_reminder", "ppc_final_reminder"}:
        title = _t(lang, f"subject.{kind}")
    elif kind == "task_assigned" and ctx["step"]:
        title = _t(lang, "subject.task_assigned", step=ctx["step"])
    elif kind == "escalation" and ctx["reason"]:
        title = _t(lang, "subject.reason", title=title, reason=ctx["reason"])
    urgent = (
        kind == "unanswered"
        or (kind == "escalation" and ctx["reason_code"] in _URGENT_REASONS)
        or (kind == "task_assigned" and ctx["due_soon"])
    )
    tag = _t(lang, "subject.tag.urgent" if urgent else f"subject.tag.{kind}")
    if purpose == "escalated":
        tag = _t(lang, "subject.tag.escalated") + tag
    return _t(lang, "subject.line", tag=tag, title=title, contract=ctx["contract"]["title"])


@functools.cache
def environment(folder: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """The Jinja2 environment over ``folder``: strict undefined, HTML autoescaped, text not."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        # The text bodies are plain text (escaping would put &amp; into URLs); HTML is escaped.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Every printed value (a profile's names and titles, ids): no control or bidi-override characters.
        finalize=neutralise_value,
    )


def render_text(ctx: dict[str, Any], folder: Path = TEMPLATES_DIR) -> str:
    """The plain-text body for ``ctx`` (``<kind>.<lang>.txt.j2``)."""
    name = f"{ctx['kind']}.{ctx['lang']}.txt.j2"
    try:
        return environment(folder).get_template(name).render(ctx)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"no template {name} in {folder}") from exc
    except jinja2.UndefinedError as exc:
        # The message names a context key, never a value.
        raise RenderError(f"template {name}: {exc.message}") from exc


def render_html(ctx: dict[str, Any], text: str, folder: Path = TEMPLATES_DIR) -> str:
    """The HTML alternative: the text body, escaped, and an acknowledgement button."""
    try:
        return environment(folder).get_template("_message.html.j2").render({**ctx, "text": text})
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"no template _message.html.j2 in {folder}") from exc


def build_email(
    notification: NotificationIn,
    *,
    contract: ContractProfile,
    recipient: Contact,
    lang: Lang | None = None,
    ack_url: str | None,
    incident_url: str,
    now: datetime,
    key: str,
    facts: IncidentFacts | None = None,
    purpose: Purpose = "notify",
    not_answered_by: Sequence[str] = (),
    step_title: tuple[str, str] | None = None,
    ack_expires: datetime | None = None,
    parties: PartyWords | None = None,
    domain: str = "kinkyu.invalid",
    html: bool = True,
    folder: Path = TEMPLATES_DIR,
) -> OutboundEmail:
    """The e-mail to ``recipient`` (in ``lang``, default the contact's own) for ``notification``.

    ``key`` is the outbox idempotency key: the Message-ID derives from it.
    ``purpose`` and ``not_answered_by`` say where in the escalation chain this
    copy is (see :class:`kinkyu.core.escalation.Send`). RenderError when the
    recipient has no address or a template is missing.
    """
    if not recipient.email:
        raise RenderError(f"contact with role {recipient.role} has no e-mail address")
    language: Lang = lang or recipient.lang
    ctx = message_context(
        notification,
        contract=contract,
        recipient=recipient,
        lang=language,
        ack_url=ack_url,
        incident_url=incident_url,
        now=now,
        facts=facts,
        purpose=purpose,
        not_answered_by=not_answered_by,
        step_title=step_title,
        ack_expires=ack_expires,
        parties=parties,
    )
    text = render_text(ctx, folder)
    headers = {
        "Message-ID": message_id_for(key, domain),
        "Date": format_datetime(now.astimezone(JST)),
        "X-Kinkyu-Incident": notification.incident_id,
        "X-Kinkyu-Contract": contract.contract_id,
        "X-Kinkyu-Kind": ctx["kind"],
        "X-Kinkyu-Effect": notification.effect_id,
        # RFC 3834: an automatic message; out-of-office replies should not answer it.
        "Auto-Submitted": "auto-generated",
        "Content-Language": language,
    }
    return OutboundEmail(
        key=key,
        to=recipient.email,
        subject=build_subject(ctx),
        text=text,
        lang=language,
        headers=headers,
        html=render_html(ctx, text, folder) if html else None,
    )


def build_webhook(
    notification: NotificationIn,
    *,
    contract: ContractProfile,
    key: str,
    ack_url: str | None,
    incident_url: str,
    now: datetime,
    facts: IncidentFacts | None = None,
    purpose: Purpose = "notify",
    not_answered_by: Sequence[str] = (),
    step_title: tuple[str, str] | None = None,
) -> WebhookPayload:
    """The JSON body posted to chat and ticket systems: the same allow-listed facts as the e-mail.

    ``text`` is a one-line Japanese summary followed by the English one (for
    chat systems that show a ``text`` field); the structured fields are for
    ticket systems.
    """
    ja, en = (
        message_context(
            notification,
            contract=contract,
            recipient=None,
            lang=lang,
            ack_url=ack_url,
            incident_url=incident_url,
            now=now,
            facts=facts,
            purpose=purpose,
            not_answered_by=not_answered_by,
            step_title=step_title,
        )
        for lang in ("ja", "en")
    )
    inc = ja["incident"]
    body: dict[str, Any] = {
        "type": WEBHOOK_TYPE,
        "version": 1,
        "message_id": key,
        "effect_id": notification.effect_id,
        "incident_id": notification.incident_id,
        "contract_id": contract.contract_id,
        "jurisdiction": contract.jurisdiction,
        "city": ja["contract"]["city"],
        "effect": notification.effect,
        "kind": ja["kind"],
        "purpose": purpose,
        "title": {"ja": ja["title"], "en": en["title"]},
        "subject": {"ja": build_subject(ja), "en": build_subject(en)},
        "severity": inc["severity_code"],
        "audience": ja["audience"],
        "urgency": notification.urgency,
        "article": ja["clause"],
        "possible": notification.possible,
        "due": notification.due.isoformat() if notification.due else None,
        "reason": notification.reason,
        "level": notification.level,
        "step_id": notification.step_id,
        "task_id": notification.task_id,
        "not_answered_by": list(ja["not_answered_by"]),
        "records": facts.records if facts else None,
        "people": inc["people"],
        "data_items": list(facts.known_items) if facts else [],
        "rules": list(facts.rules) if facts else [],
        "ack_url": ack_url,
        "incident_url": incident_url,
        "sent_at": now.isoformat(),
        "text": f"{build_subject(ja)}\n{build_subject(en)}\n{incident_url}",
    }
    return WebhookPayload(key=key, body=body)


def assert_no_personal_data(text: str, forbidden: Iterable[str]) -> None:
    """Raise PersonalDataError if any ``forbidden`` value occurs in ``text`` (also after NFKC folding).

    The error names the positions of the values found in ``forbidden``, never the values.
    """
    folded = unicodedata.normalize("NFKC", text)
    hits = [
        i
        for i, value in enumerate(forbidden)
        if value and (value in text or unicodedata.normalize("NFKC", value) in folded)
    ]
    if hits:
        raise PersonalDataError(f"the message contains forbidden value(s) at position(s) {hits}")
