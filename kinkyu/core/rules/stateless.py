"""Rules that judge one event on its own.

Each ``observe`` is on the hot path of every access event: it starts with the
cheapest test that rules most events out, returns the shared empty tuple when
nothing fires, and only builds a :class:`Hit` (and its detail) when it does.
Details carry counts and categories (actions, datasets, field names, reasons),
never personal information.

A rule whose part of the profile is missing (no ``sites``, no ``work_hours``,
no ``datasets``) stays silent for that contract: an unconfigured check is not
evidence of a breach, and firing on every event would bury real findings.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import TYPE_CHECKING, Final

from kinkyu.core.calendar import clock_text, jp_holiday_name, jst_day_number, off_hours_reason, work_window
from kinkyu.core.calendar import day_from_number as _day
from kinkyu.core.contract import WEEKDAYS
from kinkyu.core.model import DATA_ACTIONS, JST, Severity
from kinkyu.core.rules.base import Hit, Rule

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kinkyu.core.contract import ContractPolicy
    from kinkyu.core.model import AccessEvent

NO_HITS: Final[tuple[Hit, ...]] = ()

EMAIL_ACTIONS: Final = frozenset({"email_send", "fax_send"})
MEDIA_ACTIONS: Final = frozenset({"media_write", "upload"})
AUDIT_LOG_DATASET: Final = "audit_log"
# Caches live on the policy; past this many entries they are dropped and refilled.
_CACHE_LIMIT: Final = 65_536
_UNKNOWN_DAY: Final[tuple[float, float]] = (0.0, -1.0)


def _fields(ev: AccessEvent, fields: Iterable[str] | None = None) -> dict[str, object]:
    """The ``fields`` of a detail (item codes), and ``fields_withheld`` when the event named items by other text.

    The wire keeps only item codes (a field name is the log writer's text); the count says the event
    named more than the finding can show, and the raw event is in the sealed evidence.
    """
    detail: dict[str, object] = {"fields": sorted(set(ev.fields or ()) if fields is None else fields)}
    if ev.fields_withheld:
        detail["fields_withheld"] = ev.fields_withheld
    return detail


class UnregisteredActor(Rule):
    """A data action by an account that is not in the contract's ``staff``.

    Severity high: someone who was never registered as 作業責任者/作業従事者
    touched the city's personal data.
    """

    rule_id = "unregistered-actor"
    severity = Severity.HIGH
    actions = DATA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a data action by an account outside ``staff``."""
        if ev.action in DATA_ACTIONS and ev.actor_id not in policy.staff:
            return (Hit.on(ev, action=ev.action, dataset=ev.dataset),)
        return NO_HITS


class RevokedCredential(Rule):
    """Any successful action by an account at or after its ``revoked_at``.

    Severity high: a credential that should have been 抹消 still works.
    Failed attempts do not fire (the credential did not work); a burst of
    them is ``credential-attack``'s business.
    """

    rule_id = "revoked-credential"
    severity = Severity.HIGH

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a successful action by a revoked account."""
        revoked = policy.staff_revoked_t
        if revoked and ev.outcome == "success":
            revoked_t = revoked.get(ev.actor_id)
            if revoked_t is not None and ev.t >= revoked_t:
                return (
                    Hit.on(
                        ev,
                        action=ev.action,
                        dataset=ev.dataset,
                        revoked_at=datetime.fromtimestamp(revoked_t, JST).isoformat(),
                    ),
                )
        return NO_HITS


class UnapprovedOrg(Rule):
    """Any action by an actor whose ``org`` is not approved (unapproved 再委託).

    The contractor's own org always counts as approved. An event without
    ``actor.org`` does not fire: the log does not say who employs the actor,
    and ``unregistered-actor`` still covers unknown accounts.
    Severity high: processing by a subcontractor the city never approved.
    """

    rule_id = "unapproved-org"
    severity = Severity.HIGH

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire when ``actor.org`` is given and not approved."""
        org = ev.actor_org
        if org is not None and org not in policy.accepted_orgs:
            return (Hit.on(ev, action=ev.action, dataset=ev.dataset, org=org),)
        return NO_HITS


def ip_verdict(ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str | None:
    """None when ``ip`` is inside one of ``networks``, else ``outside`` or ``unparsable``."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unparsable"
    # An IPv4 peer seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    for net in networks:
        if addr in net or (mapped is not None and mapped in net):
            return None
    return "outside"


class OutsideSite(Rule):
    """A data action from an IP outside every registered site network (作業場所).

    An IP that does not parse fires too (detail ``reason: unparsable``): the
    place of work cannot be shown. Verdicts are cached per policy by IP.
    Severity medium: the data may have left the registered place, though a
    mis-registered network looks the same.
    """

    rule_id = "outside-site"
    severity = Severity.MEDIUM
    actions = DATA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a data action whose ``source.ip`` is in no site network."""
        if ev.action not in DATA_ACTIONS or not policy.networks:
            return NO_HITS
        cache = policy.ip_verdicts
        ip = ev.source_ip
        try:
            reason = cache[ip]
        except KeyError:
            reason = ip_verdict(ip, policy.networks)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[ip] = reason
        if reason is None:
            return NO_HITS
        return (Hit.on(ev, action=ev.action, dataset=ev.dataset, reason=reason, source_ip=ip, site=ev.source_site),)


class OffHours(Rule):
    """A data action outside ``work_hours`` (in Japan time).

    Outside means: a weekday not in ``days``, a Japanese public holiday when
    ``holidays: jp``, or a time before ``start`` or at/after ``end``.
    No ``work_hours`` in the profile: never fires. Severity medium: against
    the designated hours (千葉市 第9第2項), often innocent overtime.
    """

    rule_id = "off-hours"
    severity = Severity.MEDIUM
    actions = DATA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a data action outside the working window of its JST day."""
        work_hours = policy.work_hours
        if work_hours is None or ev.action not in DATA_ACTIONS:
            return NO_HITS
        t = ev.t
        day = jst_day_number(t)
        windows = policy.work_windows
        window = windows.get(day, _UNKNOWN_DAY)
        if window is _UNKNOWN_DAY:
            window = work_window(work_hours, _day(day))
            if len(windows) >= _CACHE_LIMIT:
                windows.clear()
            windows[day] = window
        if window is not None and window[0] <= t < window[1]:
            return NO_HITS
        local = datetime.fromtimestamp(t, JST)
        detail: dict[str, object] = {
            "action": ev.action,
            "dataset": ev.dataset,
            "reason": off_hours_reason(work_hours, local),
            "local_time": local.strftime("%H:%M"),
            "weekday": WEEKDAYS[local.weekday()],
            "work_hours": f"{clock_text(work_hours.start)}-{clock_text(work_hours.end)}",
        }
        holiday = jp_holiday_name(local.date()) if work_hours.holidays == "jp" else None
        if holiday is not None:
            detail["holiday"] = holiday
        return (Hit.on(ev, **detail),)


class PiiEmail(Rule):
    """``email_send`` or ``fax_send`` carrying personal records (``records > 0``).

    Severity high: 豊田市 第10条(7) forbids it outright; elsewhere it is a
    transmission outside the agreed channels.
    """

    rule_id = "pii-email"
    severity = Severity.HIGH
    actions = EMAIL_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on e-mail or fax of personal records."""
        del policy
        if ev.action in EMAIL_ACTIONS and ev.records:
            return (
                Hit.on(
                    ev,
                    action=ev.action,
                    dataset=ev.dataset,
                    **_fields(ev),
                    encrypted=ev.encrypted,
                    outcome=ev.outcome,
                ),
            )
        return NO_HITS


class UnencryptedMedia(Rule):
    """``media_write`` or ``upload`` of personal records with ``encrypted`` not true.

    Missing ``encrypted`` counts as not encrypted: the log cannot show the
    required protection. Severity high: removable media and uploads are how
    data gets lost.
    """

    rule_id = "unencrypted-media"
    severity = Severity.HIGH
    actions = MEDIA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on personal records written to media or uploaded without encryption."""
        del policy
        if ev.action in MEDIA_ACTIONS and ev.records and ev.encrypted is not True:
            return (
                Hit.on(
                    ev,
                    action=ev.action,
                    dataset=ev.dataset,
                    **_fields(ev),
                    encrypted="unknown" if ev.encrypted is None else "no",
                    outcome=ev.outcome,
                ),
            )
        return NO_HITS


class ScopeViolation(Rule):
    """A data action on a dataset not in ``datasets``, or on fields outside that dataset's ``fields``.

    The detail lists the offending field names (categories such as
    ``my_number``), never values. A field named by something that is not an
    item code (counted in ``fields_withheld`` at the wire) is not one the
    contract lists (its fields are item codes), so it is outside too. No
    ``datasets`` in the profile: never fires. Severity medium: beyond the
    needed scope, not yet a leak.
    """

    rule_id = "scope-violation"
    severity = Severity.MEDIUM
    actions = DATA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on data actions outside the contract's datasets and fields."""
        datasets = policy.datasets
        if ev.action not in DATA_ACTIONS or not datasets:
            return NO_HITS
        allowed = datasets.get(ev.dataset)  # type: ignore[arg-type]  # data actions always name a dataset
        fields = ev.fields
        if allowed is None:
            return (Hit.on(ev, action=ev.action, dataset=ev.dataset, reason="dataset-not-in-contract", **_fields(ev)),)
        if (fields and not allowed.issuperset(fields)) or ev.fields_withheld:
            return (
                Hit.on(
                    ev,
                    action=ev.action,
                    dataset=ev.dataset,
                    reason="fields-outside-dataset",
                    **_fields(ev, set(fields or ()) - allowed),
                ),
            )
        return NO_HITS


class PostContractAccess(Rule):
    """A data action at or after the end of the contract's ``ends`` day (Japan time).

    Severity high: the data should have been returned or destroyed.
    """

    rule_id = "post-contract-access"
    severity = Severity.HIGH
    actions = DATA_ACTIONS

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a data action after the contract ended."""
        if ev.t >= policy.ends_t and ev.action in DATA_ACTIONS:
            return (
                Hit.on(
                    ev,
                    action=ev.action,
                    dataset=ev.dataset,
                    contract_ended=policy.profile.ends.isoformat(),
                    days_after_end=int((ev.t - policy.ends_t) // 86400) + 1,
                ),
            )
        return NO_HITS


class LogTampering(Rule):
    """``log_config_change``, or a ``delete``/``modify`` on the dataset ``audit_log``.

    Any outcome fires: a failed attempt on the log is as telling as a
    successful one. Severity critical: it destroys the evidence every other
    finding rests on (豊田市 第10条(10) 真正性・見読性・保存性).
    """

    rule_id = "log-tampering"
    severity = Severity.CRITICAL
    actions = frozenset({"log_config_change", "delete", "modify"})

    def observe(self, ev: AccessEvent, policy: ContractPolicy) -> Iterable[Hit]:
        """Fire on a log configuration change or a change to the audit log."""
        del policy
        action = ev.action
        if action == "log_config_change" or (
            ev.dataset == AUDIT_LOG_DATASET and (action == "delete" or action == "modify")  # noqa: PLR1714  # two str compares beat a set lookup here
        ):
            return (Hit.on(ev, action=action, dataset=ev.dataset, outcome=ev.outcome),)
        return NO_HITS
