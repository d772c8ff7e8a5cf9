"""Per-contract response policy: the clocks and choices a playbook run uses.

It lives in the core beside the contract profile that carries it (not in the
playbook package, which reads it): :mod:`kinkyu.core.contract` imports it and
nothing here imports the contract, so the two do not import each other.

Every field has a default documented here and, with its reasoning, in
``playbooks/README.md``. A contract profile carries one under ``response:``
(:class:`kinkyu.core.contract.ContractProfile`); a profile without it gets the
defaults. The model refuses unknown keys, like the rest of the profile.

Urgency words (legal.md "Urgency words"), strongest first:

- 直ちに (immediately): **1 hour**. Missing it is a breach; an hour is enough to
  confirm a detection and reach a responsible person, short enough that nobody
  reads it as "today". The same default as
  :data:`kinkyu.core.legal.DEFAULT_CONTRACTOR_WITHIN`.
- 速やかに (as soon as possible): **24 hours**. Weaker than 直ちに; the city's own
  PPC 速報 (read as 3-5 days) starts only when the contractor's report reaches it,
  so the contractor's report must come well inside that: by the next day.
- 遅滞なく (without unjustified delay): **3 days**. Weakest in the majority view
  (Osaka High Court 1962; ワークブック法制執務); three days is the PPC's day-3
  reminder, so the city still has the written report for its own 速報. The
  minority view (林修三) ranks 遅滞なく above 速やかに: a contract that follows it
  sets ``urgency: {遅滞なく: 12h}`` (or anything it agreed).

Durations are written like the profile's thresholds: ``90s``, ``30m``, ``1h``,
``3d`` (or a number of seconds), and are at most :data:`MAX_DURATION` (ten
years): every one is added to a time, and a longer one says nothing a person
could act on while it can push a deadline out of datetime's range.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kinkyu.core.duration import MAX_DURATION
from kinkyu.core.duration import TOO_LONG as _TOO_LONG
from kinkyu.core.duration import BoundedDuration as Duration
from kinkyu.core.evidence import DEFAULT_WINDOW
from kinkyu.core.labels import KIND_LABELS, RULE_LABELS
from kinkyu.core.legal.deadlines import DEFAULT_CONTRACTOR_WITHIN

UrgencyWord = Literal["直ちに", "速やかに", "遅滞なく"]
URGENCY_WORDS: tuple[UrgencyWord, ...] = ("直ちに", "速やかに", "遅滞なく")

# Rule ids (shared/spec/rules.md) and incident kinds (events.md), taken from the
# label tables so this module stays free of the rule classes (which import the
# contract module, which imports this one).
RULE_IDS: frozenset[str] = frozenset(RULE_LABELS)
FILED_KINDS: frozenset[str] = frozenset(k for k in KIND_LABELS if k != "detection")


DEFAULT_URGENCY: dict[UrgencyWord, timedelta] = {
    "直ちに": DEFAULT_CONTRACTOR_WITHIN,
    "速やかに": timedelta(hours=24),
    "遅滞なく": timedelta(days=3),
}

# Findings of these rules are reported to the city at once, as a possible
# breach (おそれ): each shows personal data leaving control or the controls
# themselves failing, which no triage can make harmless in time.
DEFAULT_REPORT_AT_ONCE: tuple[str, ...] = (
    "log-tampering",
    "unapproved-org",
    "pii-email",
    "credential-attack",
    "post-contract-access",
    "unencrypted-media",
    "bulk-export",
    "revoked-credential",
    "system-outage",
)


def _check_rules(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - RULE_IDS)
    if unknown:
        msg = f"unknown rule id(s) {', '.join(unknown)}; known: {', '.join(sorted(RULE_IDS))}"
        raise ValueError(msg)
    return values


class ResponsePolicy(BaseModel):
    """How a contract's incidents are run: durations, triage and containment choices.

    Fields (defaults in brackets):

    - ``urgency`` [直ちに 1h, 速やかに 24h, 遅滞なく 3d]: the time each clause word
      allows; a partial mapping overrides only the words it names.
    - ``triage_within`` [1h]: a finding that is not reported at once must be
      confirmed or dismissed within this; the first report clock starts at
      confirmation.
    - ``report_at_once`` [the nine severe rules of :data:`DEFAULT_REPORT_AT_ONCE`]:
      rule ids whose findings are reported to the city at once as a possible
      breach (おそれ); other rules wait for triage.
    - ``triage_kinds`` [complaint, other]: filed incident kinds that wait for
      triage; every other filed kind is a known incident and is reported at once.
    - ``report_when_triage_missed`` [false]: when triage misses its deadline the
      run escalates; with true it also starts the report steps as a possible breach.
    - ``auto_contain`` [none]: rule ids whose containment commands the
      contractor's systems may execute without a person approving them.
    - ``evidence_window`` [1h]: evidence is sealed from this long before the
      first event to this long after the last.
    - ``ack_timeout`` [30m]: a report the city has not acknowledged within this
      is escalated to the next contact.
    - ``progress_interval`` [7d]: how often a complaint's progress (処理経過) is
      reported (適宜) until it is resolved.
    - ``instruction_within`` [24h]: due time of a city instruction that names none.
    - ``recurrence_prevention_within`` [21d]: due time of the recurrence-prevention
      measures (再発防止策), so the city has them for its 30-day 確報.
    - ``recovery_within`` [none]: due time of recovery (復旧); none by default,
      because it depends on the system and the contract's service levels.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    urgency: dict[UrgencyWord, Duration] = Field(default_factory=lambda: dict(DEFAULT_URGENCY))
    triage_within: Duration = timedelta(hours=1)
    report_at_once: list[str] = Field(default_factory=lambda: list(DEFAULT_REPORT_AT_ONCE))
    triage_kinds: list[str] = Field(default_factory=lambda: ["complaint", "other"])
    report_when_triage_missed: bool = False
    auto_contain: list[str] = Field(default_factory=list)
    evidence_window: Duration = DEFAULT_WINDOW
    ack_timeout: Duration = timedelta(minutes=30)
    progress_interval: Duration = timedelta(days=7)
    instruction_within: Duration = timedelta(hours=24)
    recurrence_prevention_within: Duration = timedelta(days=21)
    recovery_within: Duration | None = None

    @field_validator("urgency", mode="before")
    @classmethod
    def _merge_urgency(cls, value: Any) -> Any:
        # A contract that only re-reads one word keeps the defaults for the others.
        if isinstance(value, dict):
            return {**DEFAULT_URGENCY, **value}
        return value

    @field_validator("urgency")
    @classmethod
    def _positive_urgency(cls, value: dict[UrgencyWord, timedelta]) -> dict[UrgencyWord, timedelta]:
        for word, duration in value.items():
            if duration <= timedelta(0):
                msg = f"{word} must allow a positive duration"
                raise ValueError(msg)
            if duration > MAX_DURATION:
                msg = f"{word} {_TOO_LONG}"
                raise ValueError(msg)
        return value

    @field_validator("report_at_once", "auto_contain")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        return _check_rules(value)

    @field_validator("triage_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - FILED_KINDS)
        if unknown:
            msg = f"unknown incident kind(s) {', '.join(unknown)}; known: {', '.join(sorted(FILED_KINDS))}"
            raise ValueError(msg)
        return value

    @field_validator(
        "triage_within",
        "ack_timeout",
        "progress_interval",
        "instruction_within",
        "recurrence_prevention_within",
        "recovery_within",
    )
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            msg = "must be a positive duration"
            raise ValueError(msg)
        if value is not None and value > MAX_DURATION:
            raise ValueError(_TOO_LONG)
        return value

    @field_validator("evidence_window")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            msg = "must not be negative (0 seals exactly the incident's events)"
            raise ValueError(msg)
        if value > MAX_DURATION:
            raise ValueError(_TOO_LONG)
        return value

    def within(self, word: UrgencyWord) -> timedelta:
        """The time the urgency ``word`` allows under this contract."""
        return self.urgency[word]
