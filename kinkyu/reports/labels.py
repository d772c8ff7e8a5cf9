# no copyright header in this project; Japanese text uses full-width punctuation
"""The words of a written incident report: English here, Japanese in the message catalogue.

Every text is kept under a key (``WORDS["sec.data"]``) as its English message id, marked with
``P_`` for ``kinkyu/locale/ja/LC_MESSAGES/kinkyu.po`` (``python scripts/catalogue.py``), where its
Japanese is kept under the same key (the message context). :mod:`kinkyu.reports.model` picks one
language per report, so templates only lay out strings they are given.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from kinkyu.core.labels import SEVERITY_LABELS as SEVERITY_LABELS  # noqa: PLC0414  # re-exported
from kinkyu.core.timefmt import doc_date, doc_datetime
from kinkyu.messages import P_, PartyWords, Texts, fill

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

# Shown for an item nobody knows yet. The English report keeps the Japanese word as well, so a
# reader (or a test) finds the same marker in either language.
UNKNOWN_JA = "調査中"
UNKNOWN_EN_TEXT = "under investigation (調査中)"


# The report's texts by key: English here (the message id), Japanese in the catalogue under
# ``report.<key>``. ``{unit}`` / ``{Unit}`` is the local body (市 / 区 in Japanese; city / ward in English).
WORDS = Texts(
    "report.",
    {
        "title.first": P_("report.title.first", "Incident report (first report)"),
        "title.progress": P_("report.title.progress", "Incident report (progress report)"),
        "title.final": P_("report.title.final", "Incident report (final report)"),
        "title.public": P_("report.title.public", "Incident report (for publication)"),
        "title.nature": P_("report.title.nature", "{title}: {nature}"),
        "title.public_nature": P_("report.title.public_nature", "Incident report (for publication): {nature}"),
        "kind.first": P_("report.kind.first", "first report"),
        "kind.progress": P_("report.kind.progress", "progress report"),
        "kind.final": P_("report.kind.final", "final report"),
        "kind.public": P_("report.kind.public", "for publication"),
        "notice.first": P_(
            "report.notice.first",
            "First report: the facts known so far. Everything but the contract and parties is provisional; items "
            "marked 'under investigation' will be supplied as they become known.",
        ),
        "notice.progress": P_(
            "report.notice.progress",
            "Progress report: the contract and parties and the dates and place are final; everything else is "
            "provisional.",
        ),
        "notice.final": P_("report.notice.final", "Final report: every section is reported as final."),
        "notice.final_partly": P_(
            "report.notice.final_partly",
            "Final report: every section is reported as final except those marked provisional, whose items are "
            "still under investigation.",
        ),
        "notice.public": P_(
            "report.notice.public",
            "Version for publication: no information identifying a person, no account or event ids, no staff "
            "names (roles only) and no free text (summary, details, place descriptions). Counts, categories and "
            "dates remain.",
        ),
        "notice.public_final": P_("report.notice.public_final", "The incident is closed; the content is final."),
        "notice.public_provisional": P_(
            "report.notice.public_provisional", "The incident is still open; the content is provisional."
        ),
        "notice.not_closed": P_(
            "report.notice.not_closed", "The incident is still being handled; the final report follows at closure."
        ),
        "notice.still_missing": P_(
            "report.notice.still_missing", "These report items are still under investigation: {items}."
        ),
        "status.final": P_("report.status.final", "final"),
        "status.provisional": P_("report.status.provisional", "provisional"),
        "withheld": P_("report.withheld", "(withheld in the public version)"),
        "acct.withheld": P_(
            "report.acct.withheld", "(not shown: not shaped like an id; the record is in the sealed evidence)"
        ),
        "acct.withheld_short": P_("report.acct.withheld_short", "(id not shown)"),
        "none": P_("report.none", "none"),
        "yes": P_("report.yes", "yes"),
        "no": P_("report.no", "no"),
        "not_recorded": P_("report.not_recorded", "not recorded"),
        "head.incident": P_("report.head.incident", "Incident"),
        "head.generated": P_("report.head.generated", "As of"),
        "head.to": P_("report.head.to", "To"),
        "head.from": P_("report.head.from", "From"),
        "head.sections": P_("report.head.sections", "Final/provisional"),
        "col.item": P_("report.col.item", "Item"),
        "col.value": P_("report.col.value", "Value"),
        "notice_draft.title": P_(
            "report.notice_draft.title",
            "Appendix: draft notice to the people affected (the {unit} reviews and sends it; Kinkyu does not)",
        ),
        "letter.number_label": P_("report.letter.number_label", "Ref."),
        "letter.number": P_("report.letter.number", "{prefix}{number}"),
        "letter.addressee": P_("report.letter.addressee", "To: {head}"),
        "letter.sender": P_("report.letter.sender", "From"),
        "letter.address": P_("report.letter.address", "Address"),
        "letter.representative": P_("report.letter.representative", "Representative"),
        "letter.responsible": P_("report.letter.responsible", "Person responsible"),
        "letter.contact": P_("report.letter.contact", "Contact"),
        "letter.sender_missing": P_("report.letter.sender_missing", "(sender details not set in the contract profile)"),
        "letter.subject": P_("report.letter.subject", "Submission: {title}, concerning a {nature}"),
        "letter.apology": P_(
            "report.letter.apology", "We sincerely apologise for the concern and trouble this incident is causing."
        ),
        "letter.opening_basis": P_(
            "report.letter.opening_basis", 'Under {basis}, we report on this incident in "{contract}" as follows.'
        ),
        "letter.opening": P_("report.letter.opening", 'We report on this incident in "{contract}" as follows.'),
        "letter.record": P_("report.letter.record", "Details"),
        "letter.end": P_("report.letter.end", "End"),
        "letter.attachment": P_("report.letter.attachment", "Attachment {n}"),
        "letter.attachments": P_("report.letter.attachments", "Attachments"),
        "footer.hash": P_("report.footer.hash", "Check value of this report (SHA-256)"),
        "footer.page": P_("report.footer.page", "Page"),
        # Said in words: the command that recomputes it (the model's hash_command) is for our own staff.
        "footer.hash_note": P_(
            "report.footer.hash_note",
            "We can recompute this value from the same records and compare it, to show the report was not "
            "altered; please ask us if you wish it checked.",
        ),
        "sec.contract": P_("report.sec.contract", "Contract and parties"),
        "sec.when_where": P_("report.sec.when_where", "When and where"),
        "sec.data": P_("report.sec.data", "Personal information involved and the number of people (本人の数)"),
        "sec.circumstances": P_("report.sec.circumstances", "What happened and why"),
        "sec.secondary_harm": P_("report.sec.secondary_harm", "Secondary harm or its risk"),
        "sec.containment": P_("report.sec.containment", "Containment (被害拡大防止)"),
        "sec.response": P_("report.sec.response", "What has been done for the people affected"),
        "sec.publication": P_("report.sec.publication", "Publication (公表)"),
        "sec.prevention": P_("report.sec.prevention", "Recurrence prevention (再発防止策)"),
        "sec.clauses": P_("report.sec.clauses", "Contract clauses engaged and deadlines met"),
        "sec.ppc": P_(
            "report.sec.ppc", "What the report to the PPC needs (the {unit}: APPI Rule 44; the contractor: Rule 8(1))"
        ),
        "sec.timeline": P_("report.sec.timeline", "Timeline"),
        "sec.evidence": P_("report.sec.evidence", "Evidence preserved (manifest)"),
        "contract.city": P_("report.contract.city", "{city_party_title}"),
        "contract.contractor": P_("report.contract.contractor", "{contractor_party_title}"),
        "contract.title": P_("report.contract.title", "Contract"),
        "contract.id": P_("report.contract.id", "Contract id"),
        "contract.period": P_("report.contract.period", "Contract period"),
        # `kinkyu contracts`: a contract's term as a listing for people says it.
        "contracts.term": P_("report.contracts.term", "{start} to {end}"),
        "contract.ended": P_("report.contract.ended", "after the contract ended (duties continue: {article})"),
        "contract.ended_confidentiality": P_(
            "report.contract.ended_confidentiality",
            "after the contract ended (confidentiality continues: {article}; the reporting duty's continuation is"
            " not stated, handled on the safe side)",
        ),
        "contract.ended_no_clause": P_(
            "report.contract.ended_no_clause",
            "after the contract ended (no clause says the duties continue; handled on the safe side)",
        ),
        "contract.document": P_("report.contract.document", "Clauses in force"),
        "contract.city_contacts": P_("report.contract.city_contacts", "{Unit} contacts"),
        "contract.contractor_contacts": P_("report.contract.contractor_contacts", "Contractor contacts"),
        "when.occurred": P_("report.when.occurred", "Occurred (発生日時)"),
        "when.discovered": P_("report.when.discovered", "Discovered (発覚日時)"),
        "when.learned": P_("report.when.learned", "Contractor learned of it (deadlines count from here)"),
        "when.lag": P_("report.when.lag", "Occurrence to discovery"),
        "when.last": P_("report.when.last", "Last related event"),
        "when.place": P_("report.when.place", "Place (発生場所)"),
        "when.system": P_("report.when.system", "system: {system}"),
        "data.items": P_("report.data.items", "Items of personal information"),
        "data.medium": P_("report.data.medium", "Medium"),
        "data.records": P_("report.data.records", "Records (件数)"),
        "data.people": P_("report.data.people", "Number of people (本人の数)"),
        "data.sensitive": P_("report.data.sensitive", "Special-care-required information"),
        "data.withheld": P_(
            "report.data.withheld", "{count} more item(s) (written as free text in the filing; see the sealed evidence)"
        ),
        "data.contract_items": P_(
            "report.data.contract_items", "Items under investigation. The contracted data holds: {items}"
        ),
        "medium.electronic": P_("report.medium.electronic", "electronic data"),
        "medium.electronic_system": P_("report.medium.electronic_system", "electronic data (system: {system})"),
        "circ.kind": P_("report.circ.kind", "Kind of incident"),
        "circ.rules": P_("report.circ.rules", "Detected"),
        "circ.situation": P_("report.circ.situation", "What happened (発生状況)"),
        "circ.sealed": P_(
            "report.circ.sealed",
            "As filed: kept only in the sealed evidence, since it may name people (the incident desk's details "
            "page shows it)",
        ),
        "circ.actor": P_("report.circ.actor", "Account involved"),
        "circ.reporter": P_("report.circ.reporter", "Found / filed by"),
        "circ.severity": P_("report.circ.severity", "Severity"),
        "circ.scale": P_("report.circ.scale", "Events and findings"),
        "circ.scale_value": P_("report.circ.scale_value", "{events} event(s), {findings} finding(s)"),
        "circ.cause": P_("report.circ.cause", "Cause (原因)"),
        "circ.cause_party": P_("report.circ.cause_party", "Party at which the cause lies"),
        "circ.detected_text": P_(
            "report.circ.detected_text", "Kinkyu detected {rules} on {system} ({events} event(s))."
        ),
        "circ.detected_system": P_("report.circ.detected_system", "the contracted system"),
        "circ.triage": P_("report.circ.triage", "Triage"),
        "finder.detection": P_("report.finder.detection", "Kinkyu (automated access-log monitoring)"),
        "finder.staff": P_("report.finder.staff", "a member of the contractor's staff"),
        "harm.value": P_("report.harm.value", "Secondary harm or its risk"),
        "response.value": P_("report.response.value", "What has been done for the people affected"),
        "publication.value": P_("report.publication.value", "Publication"),
        "publication.step": P_("report.publication.step", "Publication (the {unit}'s decision)"),
        "publication.done": P_("report.publication.done", "published ({when}, as recorded)"),
        "prevention.value": P_("report.prevention.value", "Measures to prevent recurrence"),
        "prevention.step": P_("report.prevention.step", "Recurrence prevention"),
        "prevention.done": P_("report.prevention.done", "done (completed {when})"),
        "prevention.active": P_("report.prevention.active", "in progress (due {due})"),
        "prevention.active_nodue": P_("report.prevention.active_nodue", "in progress"),
        "cont.step": P_("report.cont.step", "Step"),
        "cont.action": P_("report.cont.action", "Action"),
        "cont.target": P_("report.cont.target", "Target"),
        "cont.mode": P_("report.cont.mode", "How"),
        "cont.result": P_("report.cont.result", "Result"),
        "cont.when": P_("report.cont.when", "Result at"),
        "cont.auto": P_("report.cont.auto", "automatic (allowed by the contract)"),
        "cont.approval": P_("report.cont.approval", "on approval"),
        "cont.none": P_("report.cont.none", "No containment measure is recorded yet."),
        "cont.measure": P_("report.cont.measure", "Measure taken (as recorded)"),
        "cont.no_measure": P_("report.cont.no_measure", "Why no measure was taken (as recorded)"),
        "other.measures_done": P_("report.other.measures_done", "{n} carried out"),
        "other.none": P_("report.other.none", "nothing further at present"),
        "cont.summary": P_("report.cont.summary", "Status"),
        "cont.summary_value": P_(
            "report.cont.summary_value",
            "{total} command(s): {done} done, {proposed} awaiting approval, {failed} failed, {declined} declined",
        ),
        "cl.article": P_("report.cl.article", "Clause"),
        "cl.content": P_("report.cl.content", "What it says"),
        "cl.basis": P_("report.cl.basis", "Engaged by"),
        "cl.basis_rule": P_("report.cl.basis_rule", "detection: {rule}"),
        "cl.basis_step": P_("report.cl.basis_step", "step: {step}"),
        "dl.step": P_("report.dl.step", "Step"),
        "dl.clause": P_("report.dl.clause", "Clause / time word"),
        "dl.due": P_("report.dl.due", "Due"),
        "dl.sent": P_("report.dl.sent", "Sent"),
        "dl.done": P_("report.dl.done", "Done (acknowledged)"),
        "dl.elapsed": P_("report.dl.elapsed", "Time from learning"),
        "dl.verdict": P_("report.dl.verdict", "Verdict"),
        "dl.no_run": P_(
            "report.dl.no_run", "No playbook run is recorded; whether deadlines were met is under investigation."
        ),
        "dl.first_sent": P_("report.dl.first_sent", "Learning to first report sent"),
        "dl.first_ack": P_("report.dl.first_ack", "Learning to first report acknowledged"),
        "dl.first_none": P_("report.dl.first_none", "no first-report step"),
        "dl.not_yet": P_("report.dl.not_yet", "not yet"),
        "dl.tasks": P_("report.dl.tasks", "Tasks"),
        "dl.task": P_("report.dl.task", "Task"),
        "dl.owner": P_("report.dl.owner", "Owner"),
        "dl.tasks_value": P_(
            "report.dl.tasks_value", "{total} task(s): {met} met, {missed} missed, {open} open, {cancelled} cancelled"
        ),
        "verdict.met": P_("report.verdict.met", "○ met"),
        "verdict.missed": P_("report.verdict.missed", "× missed"),
        "verdict.pending": P_("report.verdict.pending", "△ pending"),
        "verdict.done": P_("report.verdict.done", "○ done (no deadline)"),
        "verdict.open": P_("report.verdict.open", "- open (no deadline)"),
        "verdict.skipped": P_("report.verdict.skipped", "- skipped"),
        "verdict.na": P_("report.verdict.na", "- not applicable"),
        "verdict.waiting": P_("report.verdict.waiting", "- not started"),
        "ppc.public_label": P_("report.ppc.public_label", "Report to the PPC"),
        "ppc.public_value": P_("report.ppc.public_value", "(to be stated by the {unit})"),
        "ppc.party_contractor": P_("report.ppc.party_contractor", "Contractor's duty (APPI Art. 26, Rule 7)"),
        "ppc.party_city": P_("report.ppc.party_city", "{Unit}'s duty (APPI Art. 68, Rule 43)"),
        "ppc.reportable": P_("report.ppc.reportable", "reportable ({triggers})"),
        "ppc.not_reportable": P_("report.ppc.not_reportable", "not reportable"),
        "ppc.decided_yes": P_("report.ppc.decided_yes", "reportable"),
        "ppc.override": P_("report.ppc.override", " (decided by staff: {verdict})"),
        "ppc.trigger": P_("report.ppc.trigger", "Trigger"),
        "ppc.fired": P_("report.ppc.fired", "Applies"),
        "ppc.reason": P_("report.ppc.reason", "Reason"),
        "ppc.encrypted": P_("report.ppc.encrypted", "exempt: strong encryption"),
        "ppc.contractor_clock": P_("report.ppc.contractor_clock", "Contractor's clock (report to the {unit})"),
        "ppc.contractor_clock_value": P_("report.ppc.contractor_clock_value", "due {due} ({word}). {state}"),
        "ppc.state_released": P_(
            "report.ppc.state_released",
            "Reported to the {unit} {reported}: having told the {unit} the items it knows, the contractor need not"
            " report to the PPC nor notify individuals, should the event be reportable"
            " (APPI Art. 26(1) proviso, 26(2)).",
        ),
        "ppc.state_late": P_("report.ppc.state_late", " (after the deadline)"),
        "ppc.state_sent": P_(
            "report.ppc.state_sent",
            "Sent to the {unit} on {sent}; its acknowledgement is awaited (within the deadline).",
        ),
        "ppc.state_sent_overdue": P_(
            "report.ppc.state_sent_overdue", "Sent to the {unit} on {sent}; not acknowledged by the deadline."
        ),
        "ppc.state_pending": P_("report.ppc.state_pending", "Not yet reported to the {unit} (within the deadline)."),
        "ppc.state_overdue": P_("report.ppc.state_overdue", "Not yet reported to the {unit}: overdue."),
        "ppc.city_clock": P_("report.ppc.city_clock", "{Unit}'s clock (report to the PPC)"),
        "ppc.city_clock_value": P_(
            "report.ppc.city_clock_value",
            "Day 1 {learned} (the first report reached the {unit}). Preliminary (APPI Rule 44(1), promptly): "
            "{prelim} (about 3-5 days); final (Rule 44(2)): {final_due} ({days} days)",
        ),
        "ppc.range": P_("report.ppc.range", "{start} to {end}"),
        "ppc.city_clock_pending": P_(
            "report.ppc.city_clock_pending",
            "The {unit}'s deadlines count from the day the first report reaches it (not yet). Preliminary (APPI "
            "Rule 44(1)): promptly (about 3-5 days); final (Rule 44(2)): within {days} days (60 with a possible "
            "improper purpose)",
        ),
        "ppc.final_days": P_("report.ppc.final_days", "Final-report period"),
        "ppc.final_days_value": P_("report.ppc.final_days_value", "{days} days{why}"),
        "ppc.provisional": P_(
            "report.ppc.provisional", "; provisional (to be confirmed): {triggers} (counted once a person confirms it)"
        ),
        "ppc.provisional_mark": P_("report.ppc.provisional_mark", "provisional"),
        "ppc.not_applicable": P_(
            "report.ppc.not_applicable",
            "a {nature}, not a leak of personal information: no report to the PPC is due (assessed again if "
            "personal information turns out to be involved)",
        ),
        "ppc.improper": P_("report.ppc.improper", " (60: possible improper purpose)"),
        "ppc.no": P_("report.ppc.no", "No."),
        "ppc.item": P_("report.ppc.item", "Item"),
        "ppc.value": P_("report.ppc.value", "Content"),
        "ppc.missing": P_("report.ppc.missing", "Items under investigation"),
        "ppc.complete": P_("report.ppc.complete", "every item is known"),
        "tl.chart": P_("report.tl.chart", "Phases against their deadlines"),
        "tl.axis": P_("report.tl.axis", "Time since the first event (log scale)"),
        "tl.due": P_("report.tl.due", "due"),
        "tl.markers": P_("report.tl.markers", "Numbered lines"),
        "tl.phases": P_("report.tl.phases", "Phase"),
        "tl.marker": P_("report.tl.marker", "Moment"),
        "tl.start": P_("report.tl.start", "Start"),
        "tl.end": P_("report.tl.end", "End"),
        "tl.when": P_("report.tl.when", "When"),
        "tl.who": P_("report.tl.who", "Who"),
        "tl.kind": P_("report.tl.kind", "Kind"),
        "tl.what": P_("report.tl.what", "What"),
        "tl.count": P_("report.tl.count", "{n} entries"),
        "tl.empty": P_("report.tl.empty", "no entries"),
        "phase.detected": P_("report.phase.detected", "Detected / opened"),
        "phase.first_report": P_("report.phase.first_report", "First report"),
        "phase.written_report": P_("report.phase.written_report", "Written report"),
        "phase.containment": P_("report.phase.containment", "Containment"),
        "phase.recovery": P_("report.phase.recovery", "Recovery"),
        "phase.closed": P_("report.phase.closed", "Closed"),
        "phase.written_in_first": P_("report.phase.written_in_first", "the first report is written"),
        "phase.not_required": P_("report.phase.not_required", "not required by the clauses"),
        "marker.occurred": P_("report.marker.occurred", "occurred"),
        "marker.discovered": P_("report.marker.discovered", "contractor learned"),
        "marker.now": P_("report.marker.now", "this report"),
        "marker.ppc_prelim": P_("report.marker.ppc_prelim", "{unit}'s preliminary report due (guideline)"),
        "marker.ppc_final": P_("report.marker.ppc_final", "{unit}'s final report due"),
        "who.system": P_("report.who.system", "Kinkyu (system)"),
        "who.staff": P_("report.who.staff", "staff"),
        "who.city": P_("report.who.city", "{unit} staff"),
        "ev.none": P_("report.ev.none", "The evidence store holds nothing for this incident."),
        "ev.bundle": P_("report.ev.bundle", "Bundle id"),
        "ev.items": P_("report.ev.items", "Items"),
        "ev.plain": P_("report.ev.plain", "Plaintext SHA-256"),
        "ev.cipher": P_("report.ev.cipher", "Ciphertext SHA-256"),
        "ev.sealed_at": P_("report.ev.sealed_at", "Sealed at"),
        "ev.sealed_by": P_("report.ev.sealed_by", "Sealed by"),
        "ev.key": P_("report.ev.key", "Key id"),
        "ev.chain": P_("report.ev.chain", "Custody chain"),
        "ev.chain_intact": P_(
            "report.ev.chain_intact",
            "intact and authenticated (all {entries} entries' MACs verified with the integrity keys; head seq "
            "{seq}, SHA-256 {hash}; entries cut off the end show only against the anchor: kinkyu evidence verify)",
        ),
        "ev.chain_intact_unchecked": P_(
            "report.ev.chain_intact_unchecked",
            "hash chain consistent ({entries} entries, head seq {seq}, SHA-256 {hash}) but NOT authenticated: "
            "this report was made without the integrity keys, so a rewrite with recomputed hashes would not show "
            "here; kinkyu evidence verify (needs the integrity keys) authenticates it",
        ),
        "ev.chain_intact_legacy": P_(
            "report.ev.chain_intact_legacy",
            "hash chain consistent ({entries} entries, head seq {seq}, SHA-256 {hash}) but NOT authenticated: "
            "recorded before integrity keys (unkeyed, legacy), without MACs",
        ),
        "ev.chain_empty": P_("report.ev.chain_empty", "no entries"),
        "ev.chain_broken": P_("report.ev.chain_broken", "BROKEN ({n} problem(s)): {problems}"),
        "ev.chain_broken_public": P_("report.ev.chain_broken_public", "BROKEN ({n} problem(s))"),
        "ev.unreadable": P_("report.ev.unreadable", "unreadable records: {problems}"),
        "ev.summary": P_("report.ev.summary", "Bundles"),
        "ev.summary_value": P_("report.ev.summary_value", "{n} bundle(s), {items} item(s) in all"),
        "ev.note": P_(
            "report.ev.note", "Bundles are stored encrypted; kinkyu evidence verify re-checks them (needs the key)."
        ),
        "span.days": P_("report.span.days", "{n} d"),
        "span.hours": P_("report.span.hours", "{n} h"),
        "span.minutes": P_("report.span.minutes", "{n} min"),
        "span.weeks": P_("report.span.weeks", "{n} wk"),
        "data.records_value": P_("report.data.records_value", "{n}"),
        "span.under_a_minute": P_("report.span.under_a_minute", "under 1 min"),
        # A final report asked for before closure is the next numbered report (第N報), never 最終報告.
        "title.later": P_("report.title.later", "Incident report (report no. {n})"),
        "kind.later": P_("report.kind.later", "report no. {n}"),
        "notice.later": P_(
            "report.notice.later",
            "Report no. {n}: every section is reported as final as of this report except those marked provisional, "
            "whose items are still under investigation.",
        ),
        # The city's instructions (report requests) a step stands for: none, or how many were carried out.
        "verdict.no_instruction": P_("report.verdict.no_instruction", "- no instruction given"),
        "verdict.no_request": P_("report.verdict.no_request", "- no request made"),
        "dl.instructions_value": P_("report.dl.instructions_value", "{verdict} ({n} received)"),
        "verdict.triage_not_needed": P_("report.verdict.triage_not_needed", "- not needed (an incident as filed)"),
        # A report sent, its receipt (受領) by the city not yet recorded: the sending is what the clause asks.
        "verdict.sent_met": P_("report.verdict.sent_met", "○ sent in time (receipt awaited)"),
        "verdict.sent_late": P_("report.verdict.sent_late", "× sent late (receipt awaited)"),
        "dl.awaiting_receipt": P_("report.dl.awaiting_receipt", "receipt awaited"),
        "verdict.sent_met_received_later": P_(
            "report.verdict.sent_met_received_later", "○ sent in time (receipt recorded after the due time)"
        ),
        "dl.closed_day": P_("report.dl.closed_day", "a day the {unit} office is closed"),
        "dl.target": P_("report.dl.target", "our target: {when}"),
        "dl.target_within": P_("report.dl.target_within", "our target: within {span} of learning"),
        "dl.by_day": P_("report.dl.by_day", "by {day}"),
        "ppc.city_clock_none": P_(
            "report.ppc.city_clock_none",
            "No deadline: not a situation to report (should it become one: preliminary {prelim}, final {final_due})",
        ),
        "marker.if_reportable": P_("report.marker.if_reportable", " (if it becomes reportable)"),
        "contract.period_value": P_("report.contract.period_value", "{start} to {end}"),
        "publication.city_decides": P_(
            "report.publication.city_decides", "for the {unit} to decide (not published so far)"
        ),
        "legend": P_(
            "report.legend",
            "○ done in time  △ not done, before the due time  × past the due time  - no due time, or not applicable",
        ),
        "phase.in_writing": P_("report.phase.in_writing", "in writing"),
        # The opening sentence and 発生状況 from the facts on record (never a filing's own words).
        "facts.sentence": P_(
            "report.facts.sentence",
            "Around {when}{where}, {what} occurred; it came to light on {discovered} ({reporter}).",
        ),
        "facts.where": P_("report.facts.where", " at {place}"),
        "facts.what": P_("report.facts.what", "a {kind} of personal information{items}{count}"),
        "facts.items": P_("report.facts.items", " ({items})"),
        "facts.count": P_("report.facts.count", ", {n} record(s)"),
        "facts.rest_unknown": P_(
            "report.facts.rest_unknown", "The rest of the course of events is under investigation."
        ),
        "facts.detected": P_("report.facts.detected", "From {when}: {detected}"),
        "facts.what_outage": P_("report.facts.what_outage", "a {kind}"),
        # Timeline entries in the city's words (kinkyu.reports.model._city_words).
        "tlc.kind.response": P_("report.tlc.kind.response", "response"),
        "tlc.kind.containment": P_("report.tlc.kind.containment", "containment"),
        "tlc.kind.closure": P_("report.tlc.kind.closure", "closure"),
        "tlc.started": P_("report.tlc.started", "Response started"),
        "tlc.triage": P_("report.tlc.triage", "Judging whether this is an incident"),
        "tlc.reopened": P_("report.tlc.reopened", "Response resumed"),
        "tlc.closed": P_("report.tlc.closed", "Response completed"),
        "tlc.measure_pending": P_(
            "report.tlc.measure_pending", "Containment measures being considered (reported as they are recorded)"
        ),
        "tlc.closure_asked": P_("report.tlc.closure_asked", "Closure proposed"),
        "tlc.closure_held": P_("report.tlc.closure_held", "Closure held over: matters still open"),
        "tlc.response_started": P_(
            "report.tlc.response_started", "On the filing ({kind}), response started under the emergency plan"
        ),
        "tlc.response_started_detection": P_(
            "report.tlc.response_started_detection", "On the detection, response started under the emergency plan"
        ),
        "sec.data_outage": P_(
            "report.sec.data_outage",
            "Personal information the stopped system handles, and how much (no leak or the like found)",
        ),
        "letter.apology_outage": P_(
            "report.letter.apology_outage",
            "We sincerely apologise for the concern and trouble the stoppage of the system of the contracted work is "
            "causing.",
        ),
        "ppc.city_clock_none_pending": P_(
            "report.ppc.city_clock_none_pending",
            "No deadline: not a situation to report (should it become one: counted from the day the first report "
            "reaches the {unit}, preliminary promptly, final within {days} days)",
        ),
    },
)

# Timeline entry kinds (kinkyu.core.playbook.run, kinkyu.core.incident): the 種別 column of a timeline.
ENTRY_KINDS = Texts(
    "entry.",
    {
        "finding": P_("entry.finding", "finding"),
        "filed": P_("entry.filed", "filed"),
        "playbook_started": P_("entry.playbook_started", "playbook started"),
        "contract_ended": P_("entry.contract_ended", "contract had ended"),
        "seal_requested": P_("entry.seal_requested", "evidence sealed"),
        "evidence_sealed": P_("entry.evidence_sealed", "evidence bundle sealed"),
        "evidence_not_sealed": P_("entry.evidence_not_sealed", "evidence not sealed"),
        "containment_proposed": P_("entry.containment_proposed", "containment proposed"),
        "containment_untargeted": P_("entry.containment_untargeted", "containment without target"),
        "containment_result": P_("entry.containment_result", "containment result"),
        "report_issued": P_("entry.report_issued", "report to the {unit}"),
        "state_changed": P_("entry.state_changed", "state changed"),
        "step_started": P_("entry.step_started", "step started"),
        "step_done": P_("entry.step_done", "step done"),
        "task_opened": P_("entry.task_opened", "task opened"),
        "task_done": P_("entry.task_done", "task done"),
        "task_cancelled": P_("entry.task_cancelled", "task cancelled"),
        "deadline_missed": P_("entry.deadline_missed", "deadline missed"),
        "escalated": P_("entry.escalated", "escalated"),
        "ack_timeout": P_("entry.ack_timeout", "not acknowledged"),
        "acknowledgement": P_("entry.acknowledgement", "acknowledged by the {unit}"),
        "city_instruction": P_("entry.city_instruction", "{unit} instruction"),
        "update": P_("entry.update", "update"),
        "resolution": P_("entry.resolution", "resolution"),
        "dismissed": P_("entry.dismissed", "dismissed"),
        "closure_refused": P_("entry.closure_refused", "closure refused"),
        "measure_needed": P_("entry.measure_needed", "measure needed"),
        "report_acknowledged": P_("entry.report_acknowledged", "e-mail acknowledged (written report not yet received)"),
        "report_received": P_("entry.report_received", "written report received"),
        "step_done_refused": P_("entry.step_done_refused", "step not done"),
        "nature_changed": P_("entry.nature_changed", "nature of the incident changed"),
        "ppc_not_applicable": P_("entry.ppc_not_applicable", "no PPC report applies"),
        "incident_updated": P_("entry.incident_updated", "incident updated"),
        "note": P_("entry.note", "note"),
        "ppc_assessment": P_("entry.ppc_assessment", "PPC reporting assessment"),
        "ppc_override": P_("entry.ppc_override", "PPC reporting decided by staff"),
        "ppc_override_refused": P_("entry.ppc_override_refused", "PPC decision refused"),
        "ppc_clock": P_("entry.ppc_clock", "day the {unit} learned (PPC clock)"),
        "ppc_reminder": P_("entry.ppc_reminder", "PPC deadline reminder to the {unit}"),
        "ppc_reminder_skipped": P_("entry.ppc_reminder_skipped", "PPC reminder skipped (past due)"),
        # Not a run's kind: a deadline_missed entry of a report sent in time whose receipt is awaited.
        "receipt_awaited": P_("entry.receipt_awaited", "receipt awaited"),
    },
)

# Containment commands, their targets and their states, as a report's table names them.
ACTION_LABELS = Texts(
    "report.action.",
    {
        "disable_account": P_("report.action.disable_account", "disable the account"),
        "end_sessions": P_("report.action.end_sessions", "end the sessions"),
        "block_ip": P_("report.action.block_ip", "block the source address"),
        "quarantine_device": P_("report.action.quarantine_device", "quarantine the device"),
        "revoke_media": P_("report.action.revoke_media", "revoke removable media"),
        "suspend_subcontractor": P_("report.action.suspend_subcontractor", "suspend the subcontractor"),
        "restore_logging": P_("report.action.restore_logging", "restore logging"),
        "failover": P_("report.action.failover", "fail over"),
    },
)

TARGET_LABELS = Texts(
    "report.target.",
    {
        "account": P_("report.target.account", "account"),
        "system": P_("report.target.system", "system"),
        "ip": P_("report.target.ip", "address"),
        "device": P_("report.target.device", "device"),
    },
)

COMMAND_STATUS = Texts(
    "report.command_status.",
    {
        "proposed": P_("report.command_status.proposed", "awaiting approval"),
        "done": P_("report.command_status.done", "done"),
        "failed": P_("report.command_status.failed", "failed"),
        "declined": P_("report.command_status.declined", "declined"),
    },
)

# A run's states and triage statuses, as reports and the console name them.
STATE_LABELS = Texts(
    "report.state.",
    {
        "new": P_("report.state.new", "new"),
        "triage": P_("report.state.triage", "awaiting triage"),
        "responding": P_("report.state.responding", "responding"),
        "closed": P_("report.state.closed", "closed"),
        "resolved": P_("report.state.resolved", "resolved"),
        "dismissed": P_("report.state.dismissed", "dismissed"),
    },
)

TRIAGE_LABELS = Texts(
    "report.triage.",
    {
        "pending": P_("report.triage.pending", "pending"),
        "not_needed": P_("report.triage.not_needed", "not needed (reported at once)"),
        "confirmed": P_("report.triage.confirmed", "confirmed"),
        "dismissed": P_("report.triage.dismissed", "dismissed"),
    },
)


def entry_kind(kind: str, lang: str, unit: str, parties: PartyWords | None = None) -> str:
    """A timeline entry kind's label (``{unit}`` filled: 区への報告 for 品川区); the kind itself when unknown."""
    text = ENTRY_KINDS.get(lang, kind)
    return kind if text is None else fill(text, lang, unit, parties)


class Words:
    """One language's words and formats for a report.

    ``unit``: the local body (市 / 区 / 町); ``parties``: what the contract calls the parties (甲 / 乙 when None).
    """

    def __init__(self, lang: Lang, unit: str = "市", parties: PartyWords | None = None) -> None:
        self.lang: Lang = lang
        self.unit = unit
        self.parties = parties

    def __call__(self, key: str, **values: object) -> str:
        """The text of ``key`` in this language, its ``{fields}`` filled from ``values`` (and the local body)."""
        return self.text(WORDS, key, **values)

    def text(self, table: Texts, key: str, **values: object) -> str:
        """``key``'s text in ``table`` in this language, filled; ``key`` itself when the table does not know it."""
        text = table.get(self.lang, key)
        return key if text is None else fill(text, self.lang, self.unit, self.parties, **values)

    def pick(self, pair: tuple[str, str]) -> str:
        """The member of a (Japanese, English) pair of names kept with the data (a playbook's step titles)."""
        return pair[1] if self.lang == "en" else pair[0]

    def of(self, table: Texts, key: str) -> str:
        """``key``'s label in ``table``, or ``key`` itself when the table does not know it."""
        return self.text(table, key)

    @property
    def unknown(self) -> str:
        """調査中, in this language."""
        return UNKNOWN_EN_TEXT if self.lang == "en" else UNKNOWN_JA

    def dt(self, ts: datetime | None) -> str:
        """A moment: ``令和8年11月20日（金）10時05分`` / ``Fri 20 Nov 2026 10:05 JST``; 調査中 when None."""
        if ts is None:
            return self.unknown
        return doc_datetime(ts, self.lang)

    def day(self, ts: datetime | None) -> str:
        """A Japan calendar date: ``令和8年11月20日（金）`` / ``Fri 20 Nov 2026``."""
        if ts is None:
            return self.unknown
        return doc_date(ts, self.lang)

    def span(self, value: timedelta) -> str:
        """A duration: ``1日2時間5分`` / ``1 d 2 h 5 min``; negative spans get a sign."""
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        seconds = abs(seconds)
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        parts = [
            self(key, n=n) for key, n in (("span.days", days), ("span.hours", hours), ("span.minutes", minutes)) if n
        ]
        if not parts:
            return self("span.under_a_minute")
        return sign + (" ".join(parts) if self.lang == "en" else "".join(parts))

    def paren(self, text: str) -> str:
        """``text`` in brackets as the language writes them: ``（…）`` / `` (…)``."""
        return f"（{text}）" if self.lang == "ja" else f" ({text})"

    def join(self, values: list[str] | tuple[str, ...]) -> str:
        """A list as the language writes it."""
        return ", ".join(values) if self.lang == "en" else "、".join(values)
