"""The national report (個人情報保護委員会への報告) on a live run: facts, assessment, overrides, the city's clock.

The assessment and the deadlines themselves are :mod:`kinkyu.core.playbook.ppc`
and :mod:`kinkyu.core.legal`; this module feeds them the run's facts, records
each change of result on the timeline, starts the city's clock when the city
learns of the incident, and reminds the city of its reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinkyu.core.legal import Assessment, Override, ReportingParty
from kinkyu.core.playbook.context import DUE_UNKNOWN, Ctx
from kinkyu.core.playbook.effects import Notify as NotifyEffect
from kinkyu.core.playbook.followup import Delivered, PPCFacts, PPCOverride
from kinkyu.core.playbook.keys import CODE, PPC_OVERRIDE_VALUES, WITHHELD, ids, people
from kinkyu.core.playbook.ppc import CLOCK_STEP_KINDS, end_of_day, party_of, reminder_effect_id
from kinkyu.core.rulebook import PERSONAL_DATA_NATURES, data_event_nature

# Notify effect ids are "<incident>/<step>/<kind>/<n>" (Ctx.notify).
_EFFECT_ID_PARTS = 4


def verdicts(a: Assessment) -> str:
    """One line per party for the timeline: reportable or not, and why (trigger codes)."""
    if a.encrypted_exempt and not a.overrides:
        return "not reportable for either party: exempt, strong encryption (高度な暗号化)"
    parts = []
    for party in ReportingParty:
        fired = ", ".join(t.value for t in a.party(party).fired)
        verdict = "reportable" if a.reportable_to_ppc(party) else "not reportable"
        decided = " (decided by a person)" if a.override_for(party) is not None else ""
        undecided = a.override_for(party) is None
        provisional = ", ".join(t.value for t in a.party(party).provisional) if undecided else ""
        parts.append(
            f"{party.value} {verdict}{decided}"
            + (f" ({fired})" if fired else "")
            + (f"; provisional, to be confirmed (暫定・要確認): {provisional}" if provisional else "")
        )
    return "; ".join(parts)


def record_ppc(ctx: Ctx, record: dict[str, Any]) -> None:
    """Take the PPC facts an incident record carries, when it does.

    ``distinct_people`` counts as the number of people only when
    ``distinct_people_exact`` is not false (a record without the flag is
    taken at its word); a lower bound (some event carried no subject ids,
    or the count was capped) is dropped, and the record sum stands as the
    upper bound (最大).
    """
    p = ctx.run.ppc
    if isinstance(record.get("datasets"), list):
        p.involved = [v for v in ids(record["datasets"]) if CODE.fullmatch(v)]
    count = people(record.get("distinct_people"))
    if record.get("distinct_people_exact") is False:
        p.distinct_people = None
    elif count is not None:
        p.distinct_people = count
    for key in ("encrypted", "improper_purpose"):
        if isinstance(record.get(key), bool):
            setattr(p, key, record[key])


def reassess(ctx: Ctx, *, quiet: bool = False) -> None:
    """Recompute the PPC assessment; record it on the timeline when the result changed."""
    run = ctx.run
    f = run.facts
    p = run.ppc
    if run.nature not in PERSONAL_DATA_NATURES:
        # A stopped system or a complaint is not a 漏えい等 of personal data: no PPC report is assessed
        # (legal.md); a person who finds personal data involved records it, and the nature changes.
        if p.assessment is not None or not quiet:
            p.assessment = None
            if not any(e.kind == "ppc_not_applicable" for e in run.timeline):
                ctx.log(
                    f"PPC report not assessed: the event is a {run.nature}, not a 漏えい等 of personal data",
                    "ppc_not_applicable",
                    {"nature": run.nature},
                )
        return
    new = p.compute(data_items=f.data_items, rules=f.rules, kind=f.kind, records=f.records, possible=run.possible)
    old = p.assessment
    p.assessment = new
    if quiet or (old is not None and old.signature() == new.signature()):
        return
    ctx.log(
        "PPC report (個人情報保護委員会への報告): " + verdicts(new),
        "ppc_assessment",
        {
            **new.signature(),
            "people": new.people.to_json() if new.people is not None else None,
            "previous": old.signature() if old is not None else None,
        },
    )


def take_facts(ctx: Ctx, facts: PPCFacts) -> None:
    """Facts a follow-up gave (encryption, people, purpose, data sets), then the assessment again."""
    p = ctx.run.ppc
    if facts.encrypted is not None:
        p.encrypted = facts.encrypted
    if facts.distinct_people is not None:
        p.distinct_people = facts.distinct_people
    if facts.improper_purpose is not None:
        p.improper_purpose = facts.improper_purpose
    if facts.datasets is not None:
        p.involved = list(facts.datasets)
        if facts.datasets:
            personal_data_involved(ctx)
    reassess(ctx)


def personal_data_involved(ctx: Ctx) -> None:
    """A person says personal data is involved (data sets named, a complaint confirmed as an accident).

    An outage or a complaint becomes what the city's clause calls such an event (漏えい等の事故, 違反 …),
    on the timeline, and the PPC assessment applies from now on.
    """
    run = ctx.run
    if run.nature in PERSONAL_DATA_NATURES:
        return
    old, run.nature = run.nature, data_event_nature(run.jurisdiction)
    ctx.log(
        f"the event is now a {run.nature} (was a {old}): personal data is involved",
        "nature_changed",
        {"from": old, "to": run.nature},
    )


def override(ctx: Ctx, given: PPCOverride, who: str, ts: datetime) -> None:
    """A person decides for a party (or both): on the record only with a value, a party and a reason code."""
    value, reason = given.value, given.reason
    why: str | None = None
    party: ReportingParty | None = None
    if value not in PPC_OVERRIDE_VALUES:
        why = "ppc_override must be reportable or not_reportable"
    else:
        try:
            party = party_of(given.party)
        except ValueError:
            why = "party must be city or contractor (or absent for both)"
    if why is None and (reason is None or reason == WITHHELD):
        # The decision is on the record only with its reason; free text may name a resident.
        why = "an override needs a reason, as a category code (e.g. key-not-compromised)"
    if why is not None:
        ctx.log(f"PPC override refused: {why}", "ppc_override_refused", {"why": why}, who=who)
        return
    reportable = PPC_OVERRIDE_VALUES[str(value)]
    ctx.run.ppc.overrides.append(Override(reportable=reportable, reason=str(reason), by=who, at=ts, party=party))
    reassess(ctx, quiet=True)
    a = ctx.run.ppc.assessment
    for_whom = f"the {party.value}" if party is not None else "both parties"
    ctx.log(
        f"PPC assessment overridden for {for_whom}: {'reportable' if reportable else 'not reportable'} "
        f"(reason: {reason}); now " + (verdicts(a) if a is not None else "-"),
        "ppc_override",
        {
            "ppc_override": value,
            "party": party.value if party is not None else None,
            "reason": reason,
            **(a.signature() if a is not None else {}),
        },
        who=who,
        ts=ts,
    )


def delivered(ctx: Ctx, delivery: Delivered, ts: datetime) -> None:
    """A delivery result: the first report's delivery to a city contact is when the city learned."""
    chain_id, recipient = delivery.chain_id, delivery.recipient
    if chain_id is None or recipient is None or not recipient.startswith("city:"):
        return
    parts = chain_id.split("/")
    if len(parts) == _EFFECT_ID_PARTS and parts[0] == ctx.run.incident_id and parts[2] in CLOCK_STEP_KINDS:
        city_learned(ctx, ts, "message_sent", parts[1])


def city_learned(ctx: Ctx, ts: datetime, via: str, step_id: str) -> None:
    """The city learned of the incident at ``ts`` (the earliest such moment counts): its PPC clock starts."""
    p = ctx.run.ppc
    if p.city_learned_at is not None and p.city_learned_at <= ts:
        return
    p.city_learned_at = ts
    p.learned_via = via
    p.clock_step = step_id
    dl = p.deadlines()
    if dl is None:
        _dates_unknown(ctx, ts, via, step_id)
        return
    ctx.log(
        f"the city learned of the incident on {dl.learned.isoformat()} ({via.replace('_', ' ')}, {step_id}): "
        f"the contractor has told the city (released from its own PPC report); the city's 速報 is due "
        f"{dl.preliminary_due.isoformat()}, its 確報 {dl.final_due.isoformat()} ({dl.final_days} days)",
        "ppc_clock",
        {
            "city_learned_at": ts.isoformat(),
            "learned": dl.learned.isoformat(),
            "via": via,
            "step": step_id,
            "preliminary_due": dl.preliminary_due.isoformat(),
            "final_due": dl.final_due.isoformat(),
            "final_days": dl.final_days,
        },
    )


def _dates_unknown(ctx: Ctx, ts: datetime, via: str, step_id: str) -> None:
    """The city learned, but its PPC dates cannot be computed: say so, and that they are 要確認."""
    ctx.log(
        f"the city learned of the incident ({via.replace('_', ' ')}, {step_id}): the contractor has told the "
        f"city (released from its own PPC report); the city's 速報 and 確報 dates are {DUE_UNKNOWN}",
        "ppc_clock",
        {
            "city_learned_at": ts.isoformat(),
            "learned": None,
            "via": via,
            "step": step_id,
            "preliminary_due": None,
            "final_due": None,
            "final_days": None,
        },
    )
    ctx.cannot(
        "ppc_deadlines",
        error=ctx.run.ppc.deadlines_problem() or "out-of-range",
        outcome="dates-unknown",
        how=f"the city's PPC report dates are {DUE_UNKNOWN}; no reminder is sent",
    )


def remind(ctx: Ctx) -> None:
    """Remind the city's contacts of their PPC reports before each is due, once each."""
    run = ctx.run
    p = run.ppc
    if run.triage == "dismissed" or run.outcome == "dismissed":
        return
    a = p.assessment
    dl = p.deadlines()
    learned = dl.learned.isoformat() if dl is not None else None
    for r in p.reminders():
        effect_id = reminder_effect_id(run.incident_id, r)
        if effect_id in p.reminded or ctx.now < r.at:
            continue
        p.reminded.append(effect_id)
        due = end_of_day(r.due)
        name = "速報 (preliminary report)" if r.report == "preliminary" else "確報 (full report)"
        if ctx.now > due:
            ctx.log(
                f"reminder of the city's PPC {name} not sent: it was due {r.due.isoformat()}",
                "ppc_reminder_skipped",
                {"report": r.report, "due": r.due.isoformat(), "effect_id": effect_id},
            )
            continue
        final_days = a.final_report_days if a is not None else 30
        ctx.log(
            f"the city is reminded: its PPC {name} is due {r.due.isoformat()}"
            + (f" ({final_days} days)" if r.report == "final" else ""),
            "ppc_reminder",
            {"report": r.report, "due": r.due.isoformat(), "effect_id": effect_id},
        )
        clock = run.clock_step()
        ctx.out.append(
            NotifyEffect(
                effect_id=effect_id,
                incident_id=run.incident_id,
                contract_id=run.contract_id,
                jurisdiction=run.jurisdiction,
                step_id=p.clock_step or (clock.step_id if clock is not None else "first_report"),
                audience="city",
                kind="ppc_preliminary_reminder" if r.report == "preliminary" else "ppc_final_reminder",
                due=due,
                possible=run.possible,
                contract_ended=run.contract_ended,
                nature=run.nature,
                ppc={
                    "report": r.report,
                    "learned": learned,
                    "due": r.due.isoformat(),
                    "final_days": final_days,
                    "improper_purpose": a.improper_purpose if a is not None else False,
                    "triggers": [t.value for t in a.city.fired] if a is not None else [],
                },
            )
        )
