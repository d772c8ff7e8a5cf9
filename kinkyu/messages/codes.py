"""The codes a run records whose labels people read: English words here, Japanese in the catalogue.

Each context (``owner``, ``state``, ``action``, …) is a :class:`~kinkyu.messages.Texts` of its codes'
English labels, their Japanese in ``kinkyu/locale/ja/LC_MESSAGES/kinkyu.po`` under ``code.<context>.<code>``;
:func:`code_label` gives a label in the reader's language. A code without a label here shows as itself.
The core's own codes (data items, kinds, rules, PPC triggers) have their names where the core keeps
them: :mod:`kinkyu.core.labels` and :mod:`kinkyu.core.legal.triggers`.
"""

from __future__ import annotations

from kinkyu.messages import P_, PartyWords, Texts, pgettext

CODE_WORDS: dict[str, Texts] = {
    "owner": Texts(
        "code.owner.",
        {
            "contractor": P_("code.owner.contractor", "contractor"),
            "city": P_("code.owner.city", "client"),
            "both": P_("code.owner.both", "contractor and client"),
        },
    ),
    "state": Texts(
        "code.state.",
        {
            "new": P_("code.state.new", "started"),
            "triage": P_("code.state.triage", "awaiting triage"),
            "responding": P_("code.state.responding", "responding"),
            "closed": P_("code.state.closed", "closed"),
            "resolved": P_("code.state.resolved", "resolved"),
            "dismissed": P_("code.state.dismissed", "not an incident"),
        },
    ),
    "triage": Texts(
        "code.triage.",
        {
            "confirm": P_("code.triage.confirm", "confirmed as an incident"),
            "dismiss": P_("code.triage.dismiss", "not an incident"),
        },
    ),
    "action": Texts(
        "code.action.",
        {
            "disable_account": P_("code.action.disable_account", "disabling the account"),
            "end_sessions": P_("code.action.end_sessions", "ending the sessions"),
            "block_ip": P_("code.action.block_ip", "blocking the source IP address"),
            "quarantine_device": P_("code.action.quarantine_device", "isolating the device"),
            "revoke_media": P_("code.action.revoke_media", "stopping removable media"),
            "suspend_subcontractor": P_("code.action.suspend_subcontractor", "stopping the subcontractor's work"),
            "restore_logging": P_("code.action.restore_logging", "restoring logging"),
            "failover": P_("code.action.failover", "switching to the standby system"),
        },
    ),
    "target": Texts(
        "code.target.",
        {
            "account": P_("code.target.account", "account"),
            "system": P_("code.target.system", "system"),
            "ip": P_("code.target.ip", "IP address"),
            "device": P_("code.target.device", "device"),
            "org": P_("code.target.org", "organisation"),
        },
    ),
    "task_status": Texts(
        "code.task_status.",
        {
            "open": P_("code.task_status.open", "open"),
            "done": P_("code.task_status.done", "done"),
            "cancelled": P_("code.task_status.cancelled", "cancelled"),
        },
    ),
    "task_source": Texts(
        "code.task_source.",
        {
            "city_instruction": P_("code.task_source.city_instruction", "instruction from the client"),
            "report_request": P_("code.task_source.report_request", "report requested by the client"),
            "report_item": P_("code.task_source.report_item", "item missing from a report"),
            "step": P_("code.task_source.step", "response step"),
        },
    ),
    "command_status": Texts(
        "code.command_status.",
        {
            "proposed": P_("code.command_status.proposed", "awaiting approval"),
            "done": P_("code.command_status.done", "done"),
            "failed": P_("code.command_status.failed", "failed"),
            "declined": P_("code.command_status.declined", "declined"),
        },
    ),
    "party": Texts(
        "code.party.",
        {
            "contractor": P_("code.party.contractor", "contractor"),
            "city": P_("code.party.city", "client"),
        },
    ),
    "ppc_report": Texts(
        "code.ppc_report.",
        {
            "preliminary": P_("code.ppc_report.preliminary", "preliminary report"),
            "final": P_("code.ppc_report.final", "final report"),
        },
    ),
    "computation": Texts(
        "code.computation.",
        {
            "deadline": P_("code.computation.deadline", "deadline"),
            "acknowledgement_timeout": P_("code.computation.acknowledgement_timeout", "acknowledgement wait"),
            "evidence_window": P_("code.computation.evidence_window", "evidence period"),
            "ppc_deadlines": P_("code.computation.ppc_deadlines", "PPC report deadlines"),
            "progress_schedule": P_("code.computation.progress_schedule", "progress report schedule"),
            "clock": P_("code.computation.clock", "start of the deadline clock"),
            "step": P_("code.computation.step", "step"),
        },
    ),
    "outcome": Texts(
        "code.outcome.",
        {
            "due-unknown": P_("code.outcome.due-unknown", "the step goes on, its deadline to be confirmed"),
            "not-chased": P_("code.outcome.not-chased", "acknowledgement not chased (the deadline is kept)"),
            "window-clamped": P_(
                "code.outcome.window-clamped",
                "period kept within the date range; the incident's events sealed by id",
            ),
            "dates-unknown": P_("code.outcome.dates-unknown", "deadlines to be confirmed (no reminders sent)"),
            "no-schedule": P_("code.outcome.no-schedule", "no regular reports scheduled"),
            "by-hand": P_("code.outcome.by-hand", "a person checks it"),
            "step-not-checked": P_("code.outcome.step-not-checked", "this step's deadline is not checked"),
        },
    ),
    "reason": Texts(
        "code.reason.",
        {
            "deadline_missed": P_("code.reason.deadline_missed", "deadline missed"),
            "no_acknowledgement": P_("code.reason.no_acknowledgement", "no acknowledgement"),
            "containment_failed": P_("code.reason.containment_failed", "containment failed"),
        },
    ),
    # Measures a person records for a containment or evidence step (follow-up `measure`): the common ones
    # have words, any other lower-case code is shown as given.
    "measure": Texts(
        "code.measure.",
        {
            "account-disabled": P_("code.measure.account-disabled", "the account was disabled"),
            "sessions-ended": P_("code.measure.sessions-ended", "the account's sessions were ended"),
            "credentials-changed": P_("code.measure.credentials-changed", "the credentials were changed"),
            "access-blocked": P_("code.measure.access-blocked", "access from the source was blocked"),
            "system-isolated": P_("code.measure.system-isolated", "the system was disconnected from the network"),
            "failed-over": P_("code.measure.failed-over", "operation was switched to the standby system"),
            "recovered-by-hand": P_("code.measure.recovered-by-hand", "the misdelivered item was retrieved"),
            "deletion-requested": P_(
                "code.measure.deletion-requested", "the recipient was asked to delete what was sent in error"
            ),
            "media-recovered": P_("code.measure.media-recovered", "the lost medium was recovered"),
            "logs-preserved": P_("code.measure.logs-preserved", "the access logs were preserved"),
            "sealed": P_("code.measure.sealed", "the evidence was sealed"),
        },
    ),
    # Why no measure applies (follow-up `reason`, recorded as the measure "none:<reason>").
    "measure_reason": Texts(
        "code.measure_reason.",
        {
            "not-applicable": P_("code.measure_reason.not-applicable", "no measure applies to this incident"),
            "already-stopped": P_("code.measure_reason.already-stopped", "the damage could not spread any further"),
            "no-account": P_("code.measure_reason.no-account", "no account or system was involved"),
        },
    ),
    "not_sent": Texts(
        "code.not_sent.",
        {
            "unknown-contract": P_("code.not_sent.unknown-contract", "the contract's settings are not loaded"),
            "no-contact": P_("code.not_sent.no-contact", "the contract names no e-mail address for the recipient"),
            "no-address": P_("code.not_sent.no-address", "no e-mail address for the recipient"),
        },
    ),
    "report": Texts(
        "code.report.",
        {
            "first": P_("code.report.first", "first report"),
            "progress": P_("code.report.progress", "progress report"),
            "final": P_("code.report.final", "final report"),
        },
    ),
    "message": Texts(
        "code.message.",
        {
            "first_report": P_("code.message.first_report", "first report"),
            "written_report": P_("code.message.written_report", "written report"),
            "complaint_report": P_("code.message.complaint_report", "complaint report"),
            "progress_report": P_("code.message.progress_report", "progress report"),
            "supplementary_report": P_("code.message.supplementary_report", "supplementary report"),
            "dismissal_report": P_("code.message.dismissal_report", "report that it is not an incident"),
            "closure_report": P_("code.message.closure_report", "closure report"),
            "triage_due": P_("code.message.triage_due", "request for triage"),
            "task_assigned": P_("code.message.task_assigned", "task request"),
            "escalation": P_("code.message.escalation", "escalation"),
            "unanswered": P_("code.message.unanswered", "notice of no acknowledgement"),
            "ppc_preliminary_reminder": P_(
                "code.message.ppc_preliminary_reminder",
                "preliminary report deadline reminder",
            ),
            "ppc_final_reminder": P_("code.message.ppc_final_reminder", "final report deadline reminder"),
        },
    ),
    "phase": Texts(
        "code.phase.",
        {
            "initial": P_("code.phase.initial", "first seal"),
            "after-window": P_("code.phase.after-window", "sealed again after the evidence period"),
        },
    ),
    # A city's instruction is recorded as a category code (free text may name a resident); the city reads
    # its words, never the code (submit-access-log → アクセス記録の提出).
    "instruction": Texts(
        "code.instruction.",
        {
            "submit-access-log": P_("code.instruction.submit-access-log", "submission of the access logs"),
            "submit-written-report": P_("code.instruction.submit-written-report", "submission of a written report"),
            "stop-processing": P_("code.instruction.stop-processing", "stopping the processing"),
            "preserve-evidence": P_("code.instruction.preserve-evidence", "preservation of evidence"),
            "notify-data-subjects": P_("code.instruction.notify-data-subjects", "notice to the people concerned"),
            "report-progress": P_("code.instruction.report-progress", "report on progress"),
            "on-site-inspection": P_("code.instruction.on-site-inspection", "on-site inspection"),
        },
    ),
    "step": Texts(
        "code.step.",
        {
            "triage": P_("code.step.triage", "triage"),
            "evidence": P_("code.step.evidence", "evidence preservation"),
            "containment": P_("code.step.containment", "containment"),
            "first_report": P_("code.step.first_report", "first report"),
            "written_report": P_("code.step.written_report", "written report"),
            "complaint_report": P_("code.step.complaint_report", "complaint report"),
            "progress_report": P_("code.step.progress_report", "progress reports"),
            "instructions": P_("code.step.instructions", "following instructions"),
            "recovery": P_("code.step.recovery", "recovery"),
            "recurrence_prevention": P_("code.step.recurrence_prevention", "recurrence prevention"),
            "publication": P_("code.step.publication", "publication"),
            "closure": P_("code.step.closure", "closure"),
        },
    ),
}

CODES: tuple[tuple[str, str], ...] = tuple(
    (context, code) for context, texts in CODE_WORDS.items() for code in texts.english
)
"""Every (context, code) with a label."""


def code_label(lang: str, context: str, code: str, unit: str = "市", parties: PartyWords | None = None) -> str:
    """``code``'s label in ``context``, in ``lang``; else its catalogue entry under ``context``, else itself.

    A label naming a party names it as the contract does (``parties``; 甲 / 乙 when None).
    """
    texts = CODE_WORDS.get(context)
    if texts is not None and code in texts:
        return texts.say(lang, code, unit, parties)
    return pgettext(lang, context, code)


def code_choices(lang: str, context: str) -> list[tuple[str, str]]:
    """Every code of ``context`` with its label in ``lang``, in the catalogue's order (a form's suggestions)."""
    texts = CODE_WORDS[context]
    return [(code, texts.say(lang, code)) for code in texts.english]
