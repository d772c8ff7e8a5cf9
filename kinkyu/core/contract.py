"""Contract profiles: what a contract allows, and the thresholds its rules use.

The profile model refuses unknown keys, so a typo in a profile is an error
that names the key rather than a rule that silently never fires. A file with
exactly the keys of shared/spec/contract.example.yaml must load.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    field_validator,
)

from kinkyu.core.duration import Duration
from kinkyu.core.duration import parse_duration as parse_duration  # noqa: PLC0414  # re-exported: the playbook run reads it here
from kinkyu.core.freetext import data_item_code
from kinkyu.core.jurisdictions import JURISDICTIONS as JURISDICTIONS  # noqa: PLC0414  # re-exported
from kinkyu.core.jurisdictions import Jurisdiction as Jurisdiction  # noqa: PLC0414  # re-exported
from kinkyu.core.model import JST
from kinkyu.core.response import ResponsePolicy

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_clock(value: object) -> object:
    # YAML 1.1 reads an unquoted 8:30 as the base-60 integer 510 and 17:30:00 as 63000.
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        if 0 <= value < 24 * 3600:
            return time(value // 3600, value // 60 % 60, value % 60)
        msg = 'expected a clock time such as "08:30"'
        raise ValueError(msg)
    return value


def _naive_clock(value: time) -> time:
    if value.tzinfo is not None:
        msg = "a clock time without a UTC offset: work hours are Japan time"
        raise ValueError(msg)
    return value


Clock = Annotated[time, BeforeValidator(_parse_clock), AfterValidator(_naive_clock)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Party(BaseModel):
    """The contractor (乙), and what its letters to the city are signed with.

    The sender block of the 事故報告書 and the signature of every e-mail: the contractor's own
    business address and contact, its representative and the 作業責任者 (the person the contract
    makes responsible). None of it is the protected personal information; all of it is optional
    (a profile without it signs with the contractor's name alone).
    """

    model_config = _STRICT
    org: str
    name: str
    address: str | None = None  # 所在地
    representative: str | None = None  # 代表者（職・氏名）
    responsible: str | None = None  # 作業責任者（職・氏名）
    contact: str | None = None  # 連絡先（部署・電話・電子メール）
    doc_prefix: str | None = None  # 文書番号の記号（例: アクメ情）


class Contact(BaseModel):
    """A person to tell; the list order is the escalation order."""

    model_config = _STRICT
    name: str
    role: str
    email: str | None = None
    lang: Literal["ja", "en"] = "ja"


class City(BaseModel):
    """The city (甲) and its contacts; ``head``: the addressee by title (default: the name + 長, 品川区長)."""

    model_config = _STRICT
    name: str
    head: str | None = None
    department: str | None = None
    contacts: list[Contact] = Field(min_length=1)


class StaffMember(BaseModel):
    """A registered 作業責任者 / 作業従事者."""

    model_config = _STRICT
    id: str
    name: str
    role: str
    revoked_at: AwareDatetime | None = None


class Site(BaseModel):
    """A registered work place (作業場所) and its networks."""

    model_config = _STRICT
    id: str
    networks: list[IPvAnyNetwork] = Field(min_length=1)


class WorkHours(BaseModel):
    """When work on the city's data is allowed."""

    model_config = _STRICT
    days: list[Weekday] = Field(min_length=1)
    start: Clock
    end: Clock
    holidays: Literal["jp", "none"] = "none"

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: time, info: Any) -> time:
        start = info.data.get("start")
        if start is not None and end <= start:
            msg = "end must be later than start (overnight shifts are not supported)"
            raise ValueError(msg)
        return end


def _item_code(value: str) -> str:
    # The wire keeps only item codes of an event's resource.fields: a field listed by any other name
    # could never match one, and every event touching it would be a scope-violation.
    code = data_item_code(value)
    if code is None:
        msg = "not a personal-information item code (name, address, birthdate, sex, phone, email, my_number, …)"
        raise ValueError(msg)
    return code


class Dataset(BaseModel):
    """A data set the contract covers, and the personal-information items in it (item codes).

    ``sensitive``: it holds 要配慮個人情報 (APPI Art. 2(3)); ``ordinance_sensitive``:
    it holds 条例要配慮個人情報, information the city's own ordinance requires
    special care for (APPI Art. 60(5)), a PPC trigger for the city only (Rule 43).
    """

    model_config = _STRICT
    fields: list[Annotated[str, AfterValidator(_item_code)]] = Field(default_factory=list)
    sensitive: bool = False
    ordinance_sensitive: bool = False


class FailedLogins(BaseModel):
    """``credential-attack`` threshold."""

    model_config = _STRICT
    count: int = Field(ge=1)
    within: Duration


class Thresholds(BaseModel):
    """Rule thresholds; defaults are the example profile's."""

    model_config = _STRICT
    bulk_records: int = Field(default=500, ge=1)
    failed_logins: FailedLogins = FailedLogins(count=5, within=timedelta(minutes=10))
    heartbeat_gap: Duration = timedelta(minutes=5)


class ContractProfile(BaseModel):
    """One contract profile (shared/spec/contract.example.yaml and what Kinkyu adds)."""

    model_config = _STRICT
    contract_id: str = Field(min_length=1)
    title: str
    jurisdiction: Jurisdiction
    starts: date
    ends: date
    contractor: Party
    city: City
    contractor_contacts: list[Contact] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    approved_orgs: list[str] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    work_hours: WorkHours | None = None
    datasets: dict[str, Dataset] = Field(default_factory=dict)
    thresholds: Thresholds = Thresholds()
    response: ResponsePolicy = ResponsePolicy()

    @field_validator("ends")
    @classmethod
    def _ends_after_starts(cls, ends: date, info: Any) -> date:
        starts = info.data.get("starts")
        if starts is not None and ends < starts:
            msg = "ends must not be before starts"
            raise ValueError(msg)
        return ends

    def compile(self) -> ContractPolicy:
        """The profile in the form rules consult on the hot path."""
        return ContractPolicy(self)


class ContractPolicy:
    """A profile pre-digested for rule evaluation: sets, epoch seconds, parsed networks."""

    __slots__ = (
        "accepted_orgs",
        "approved_orgs",
        "bulk_records",
        "contract_id",
        "datasets",
        "ends_t",
        "failed_login_count",
        "failed_login_within",
        "heartbeat_gap",
        "ip_verdicts",
        "jurisdiction",
        "networks",
        "profile",
        "staff",
        "staff_revoked_t",
        "work_hours",
        "work_windows",
    )

    def __init__(self, profile: ContractProfile) -> None:
        """Digest ``profile``."""
        self.profile = profile
        self.contract_id = profile.contract_id
        self.jurisdiction: Jurisdiction = profile.jurisdiction
        self.staff = frozenset(s.id for s in profile.staff)
        self.staff_revoked_t = {s.id: s.revoked_at.timestamp() for s in profile.staff if s.revoked_at is not None}
        self.approved_orgs = frozenset(profile.approved_orgs)
        self.networks = tuple(n for site in profile.sites for n in site.networks)
        self.datasets = {name: frozenset(ds.fields) for name, ds in profile.datasets.items()}
        # Obligations continue after `ends`, but data access does not: the contract
        # is over at the end of that day, Japan time.
        self.ends_t = datetime.combine(profile.ends + timedelta(days=1), time(0), JST).timestamp()
        # The contractor (乙) itself never needs approval as a 再委託先.
        self.accepted_orgs = self.approved_orgs | {profile.contractor.org}
        self.work_hours = profile.work_hours
        thresholds = profile.thresholds
        self.bulk_records = thresholds.bulk_records
        self.failed_login_count = thresholds.failed_logins.count
        self.failed_login_within = thresholds.failed_logins.within.total_seconds()
        self.heartbeat_gap = thresholds.heartbeat_gap.total_seconds()
        # Caches the rules fill on the hot path; a reloaded profile starts them afresh.
        # source ip -> None (inside a site network), "outside" or "unparsable".
        self.ip_verdicts: dict[str, str | None] = {}
        # JST day number -> [start, end) of work in epoch seconds, None on a day off.
        self.work_windows: dict[int, tuple[float, float] | None] = {}

    @property
    def thresholds(self) -> Thresholds:
        """The profile's rule thresholds."""
        return self.profile.thresholds
