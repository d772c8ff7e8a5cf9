"""Contract profiles: what loads, what is refused and how the refusal reads, and reloading a folder."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from builders import KOGANEI, SAMPLE_CONTRACTS, SAMPLE_SPEC_CONTRACT, SPEC_CONTRACT

from kinkyu.contracts import ContractFolder, load_profile, load_profiles, profile_files
from kinkyu.core.contract import ContractProfile, WorkHours, parse_duration
from kinkyu.core.model import JST
from kinkyu.exceptions import ContractError

EXAMPLE_TEXT = SAMPLE_SPEC_CONTRACT.read_text(encoding="utf-8")
WORK_HOURS_LINE = 'work_hours: {days: [mon, tue, wed, thu, fri], start: "08:30", end: "18:00", holidays: jp}'


def _variant(tmp_path: Path, old: str, new: str, name: str = "contract.yaml") -> Path:
    assert old in EXAMPLE_TEXT, f"the example no longer contains {old!r}"
    path = tmp_path / name
    path.write_text(EXAMPLE_TEXT.replace(old, new, 1), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(ContractError) as info:
        load_profile(path)
    return str(info.value)


def _with_work_hours(tmp_path: Path, start: str, end: str) -> Path:
    return _variant(
        tmp_path,
        WORK_HOURS_LINE,
        f"work_hours: {{days: [mon, tue, wed, thu, fri], start: {start}, end: {end}, holidays: jp}}",
    )


# -- the spec's example --------------------------------------------------------------------


@pytest.mark.skipif(not SPEC_CONTRACT.exists(), reason="shared/ is not beside the repository")
def test_spec_example_contract_loads_unchanged() -> None:
    profile = load_profile(SPEC_CONTRACT)

    assert profile.contract_id == KOGANEI


@pytest.mark.skipif(not SPEC_CONTRACT.exists(), reason="shared/ is not beside the repository")
def test_the_tests_copy_of_the_spec_example_is_verbatim() -> None:
    assert SAMPLE_SPEC_CONTRACT.read_bytes() == SPEC_CONTRACT.read_bytes()


def test_example_contract_loads_with_every_value_it_states() -> None:
    p = load_profile(SAMPLE_SPEC_CONTRACT)

    assert p.contract_id == "koganei-2026-017"
    assert p.title == "住民記録システム運用保守業務委託"
    assert p.jurisdiction == "koganei"
    assert (p.starts, p.ends) == (date(2026, 4, 1), date(2027, 3, 31))
    assert (p.contractor.org, p.contractor.name) == ("acme", "株式会社アクメ")
    assert p.city.name == "小金井市"
    assert p.city.department == "市民課"
    assert [c.email for c in p.city.contacts] == ["tanto-a@city.example.jp", "kacho-b@city.example.jp"]
    assert [c.role for c in p.contractor_contacts] == ["作業責任者"]
    assert [s.id for s in p.staff] == ["u1001", "u1042", "u1043"]
    assert p.staff[2].revoked_at == datetime(2026, 10, 31, 18, 0, tzinfo=JST)
    assert p.approved_orgs == ["acme"]
    assert [(s.id, s.networks) for s in p.sites] == [("koganei-hq-3f", [IPv4Network("10.20.0.0/16")])]
    assert p.work_hours == WorkHours(
        days=["mon", "tue", "wed", "thu", "fri"], start=time(8, 30), end=time(18, 0), holidays="jp"
    )
    assert p.datasets["residents"].fields == ["name", "address", "birthdate", "sex", "phone"]
    assert p.datasets["residents"].sensitive is False
    assert p.thresholds.bulk_records == 500
    assert p.thresholds.failed_logins.count == 5
    assert p.thresholds.failed_logins.within == timedelta(minutes=10)
    assert p.thresholds.heartbeat_gap == timedelta(minutes=5)


def test_six_sample_contracts_load_one_per_jurisdiction() -> None:
    profiles = load_profiles([SAMPLE_CONTRACTS])

    assert len(profiles) == 6
    assert sorted(p.jurisdiction for p in profiles.values()) == sorted(
        ["okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa"]
    )


def test_minimal_profile_takes_default_thresholds() -> None:
    profile = ContractProfile.model_validate(
        {
            "contract_id": "x-1",
            "title": "t",
            "jurisdiction": "toyota",
            "starts": "2026-04-01",
            "ends": "2027-03-31",
            "contractor": {"org": "acme", "name": "n"},
            "city": {"name": "豊田市", "contacts": [{"name": "a", "role": "b"}]},
        }
    )

    assert profile.thresholds.bulk_records == 500
    assert profile.thresholds.failed_logins.count == 5
    assert profile.thresholds.failed_logins.within == timedelta(minutes=10)
    assert profile.thresholds.heartbeat_gap == timedelta(minutes=5)
    assert profile.work_hours is None


# -- refusals name the file, the key and the problem ----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("approved_orgs: [acme]", "approved_orgs: [acme]\napproved_org: [acme]", "approved_org"),
        ("  heartbeat_gap: 5m", "  heartbeat_gap: 5m\n  bulk_recrods: 3", "thresholds.bulk_recrods"),
        ("{id: u1001, name: 作業責任者 C, role: 作業責任者}", "{id: u1001, name: C, role: r, mail: m}", "staff.0.mail"),
        ("residents: {fields:", "residents: {sensitve: true, fields:", "datasets.residents.sensitve"),
    ],
)
def test_unknown_key_is_refused_naming_the_file_and_key_and_saying_unknown(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    path = _variant(tmp_path, old, new)

    message = _refusal(path)

    assert str(path) in message
    assert f"{key}: unknown key" in message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("bulk_records: 500", "bulk_records: lots", "thresholds.bulk_records"),
        ("starts: 2026-04-01", "starts: someday", "starts"),
        ("jurisdiction: koganei", "jurisdiction: osaka", "jurisdiction"),
        ("heartbeat_gap: 5m", "heartbeat_gap: five minutes", "thresholds.heartbeat_gap"),
        ("approved_orgs: [acme]", "approved_orgs: acme", "approved_orgs"),
        ("days: [mon, tue, wed, thu, fri]", "days: [mon, tue, wed, thu, fry]", "work_hours.days.4"),
        ("revoked_at: 2026-10-31T18:00:00+09:00", "revoked_at: 2026-10-31T18:00:00", "staff.2.revoked_at"),
    ],
)
def test_wrong_type_is_refused_naming_the_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = _variant(tmp_path, old, new)

    message = _refusal(path)

    assert str(path) in message
    assert f"  {key}: " in message


def test_bad_site_network_is_refused_naming_its_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, "networks: [10.20.0.0/16]", "networks: [not-a-network]")

    message = _refusal(path)

    assert "  sites.0.networks.0" in message
    assert "not a valid IPv4 or IPv6 network" in message


def test_bad_site_network_is_one_problem_with_a_plain_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, "networks: [10.20.0.0/16]", "networks: [not-a-network]")

    message = _refusal(path)

    assert "1 problem(s)" in message
    assert "  sites.0.networks.0: " in message
    assert "[" not in message.split("problem(s):", 1)[1]


def test_missing_required_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = _variant(tmp_path, "title: 住民記録システム運用保守業務委託\n", "")

    message = _refusal(path)

    assert "title: Field required" in message


def test_every_problem_of_a_profile_is_listed_at_once(tmp_path: Path) -> None:
    path = _variant(tmp_path, "bulk_records: 500", "bulk_records: lots\n  typo: 1")

    message = _refusal(path)

    assert "2 problem(s)" in message
    assert "thresholds.bulk_records" in message
    assert "thresholds.typo" in message


def test_bad_yaml_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    path = _variant(tmp_path, "title: 住民記録システム運用保守業務委託", "title: a: b")
    line = 1 + EXAMPLE_TEXT.splitlines().index("title: 住民記録システム運用保守業務委託")

    message = _refusal(path)

    assert str(path) in message
    assert "not valid YAML" in message
    assert f"line {line}," in message


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- contract_id: x\n", encoding="utf-8")

    assert "mapping" in _refusal(path)


def test_unreadable_profile_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert str(path) in _refusal(path)


def test_profile_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sjis.yaml"
    path.write_bytes(EXAMPLE_TEXT.encode("shift_jis"))

    message = _refusal(path)

    assert str(path) in message
    assert "UTF-8" in message


def test_contract_that_ends_before_it_starts_is_refused_naming_ends(tmp_path: Path) -> None:
    path = _variant(tmp_path, "ends: 2027-03-31", "ends: 2026-03-31")

    assert "  ends: " in _refusal(path)


# -- durations and clock times -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("5m", 300), ("1h", 3600), ("90s", 90), ("2d", 172_800), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_duration_text_parses_to_its_length(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_duration_given_as_a_number_is_seconds() -> None:
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration(2.5) == timedelta(seconds=2.5)


@pytest.mark.parametrize("value", ["10 minutes", "m10", "", "10", "1w", None, True, [10]])
def test_duration_in_another_form_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_durations_in_a_profile_reach_the_compiled_policy(tmp_path: Path) -> None:
    path = _variant(tmp_path, "failed_logins: {count: 5, within: 10m}", "failed_logins: {count: 3, within: 1h}")
    path.write_text(path.read_text(encoding="utf-8").replace("heartbeat_gap: 5m", "heartbeat_gap: 90s"))

    policy = load_profile(path).compile()

    assert policy.failed_login_count == 3
    assert policy.failed_login_within == 3600.0
    assert policy.heartbeat_gap == 90.0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("08:30", "18:00"),  # unquoted; PyYAML keeps a leading-zero 08:30 as text
        ("8:30", "18:00"),  # unquoted; YAML 1.1 reads these as base-60 integers 510 and 1080
        ('"08:30"', '"18:00"'),
    ],
)
def test_work_hours_clock_times_read_as_written_quoted_or_not(tmp_path: Path, start: str, end: str) -> None:
    profile = load_profile(_with_work_hours(tmp_path, start, end))

    assert profile.work_hours is not None
    assert (profile.work_hours.start, profile.work_hours.end) == (time(8, 30), time(18, 0))


def test_unquoted_clock_with_seconds_reads_as_that_time(tmp_path: Path) -> None:
    profile = load_profile(_with_work_hours(tmp_path, '"08:30"', "17:30:00"))

    assert profile.work_hours is not None
    assert profile.work_hours.end == time(17, 30)


def test_unquoted_clocks_with_seconds_load_as_plain_clock_times(tmp_path: Path) -> None:
    profile = load_profile(_with_work_hours(tmp_path, "8:30:00", "18:00:00"))

    assert profile.work_hours is not None
    assert profile.work_hours.start.tzinfo is None
    assert profile.work_hours.end.tzinfo is None


@pytest.mark.parametrize(("start", "end"), [('"18:00"', '"08:30"'), ('"09:00"', '"09:00"'), ("8:30", "8:00")])
def test_work_hours_ending_at_or_before_their_start_are_refused_naming_end(
    tmp_path: Path, start: str, end: str
) -> None:
    message = _refusal(_with_work_hours(tmp_path, start, end))

    assert "work_hours.end" in message
    assert "later than start" in message


# -- the compiled policy ------------------------------------------------------------------------


def test_policy_accepts_the_contractor_org_without_listing_it_as_approved(tmp_path: Path) -> None:
    path = _variant(tmp_path, "approved_orgs: [acme]", "approved_orgs: [beta-sub]")

    policy = load_profile(path).compile()

    assert policy.accepted_orgs == frozenset({"acme", "beta-sub"})


def test_policy_ends_data_access_at_midnight_japan_time_after_the_end_date() -> None:
    policy = load_profile(SAMPLE_SPEC_CONTRACT).compile()

    assert policy.ends_t == datetime(2027, 4, 1, 0, 0, tzinfo=JST).timestamp()


def test_policy_knows_staff_and_revocations() -> None:
    policy = load_profile(SAMPLE_SPEC_CONTRACT).compile()

    assert policy.staff == frozenset({"u1001", "u1042", "u1043"})
    assert policy.staff_revoked_t == {"u1043": datetime(2026, 10, 31, 18, 0, tzinfo=JST).timestamp()}
    assert policy.datasets == {"residents": frozenset({"name", "address", "birthdate", "sex", "phone"})}


# -- folders -----------------------------------------------------------------------------------


def test_duplicate_contract_id_across_files_is_refused_naming_both_files(tmp_path: Path) -> None:
    first = _variant(tmp_path, "title: 住民記録", "title: 一 住民記録", name="a.yaml")
    second = _variant(tmp_path, "title: 住民記録", "title: 二 住民記録", name="b.yaml")

    with pytest.raises(ContractError) as info:
        load_profiles([tmp_path])

    message = str(info.value)
    assert str(first) in message
    assert str(second) in message
    assert KOGANEI in message


def test_folder_without_profiles_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a profile", encoding="utf-8")

    with pytest.raises(ContractError, match="no contract profiles"):
        load_profiles([tmp_path])


def test_folder_yields_yaml_and_yml_files_in_name_order_skipping_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("b.yml", "a.yaml", ".hidden.yaml", "README.md", "c.yaml~"):
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    single = tmp_path / "single.txt"

    assert profile_files([tmp_path, single]) == [tmp_path / "a.yaml", tmp_path / "b.yml", single]


def _edit(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime on, so the change shows even on coarse clocks."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def _folder_with_example(tmp_path: Path) -> tuple[ContractFolder, Path]:
    path = _variant(tmp_path, "bulk_records: 500", "bulk_records: 500", name="koganei.yaml")
    folder = ContractFolder([tmp_path])
    folder.load()
    return folder, path


def test_contract_folder_loads_every_profile_and_sees_no_change_until_an_edit(tmp_path: Path) -> None:
    folder, _ = _folder_with_example(tmp_path)

    assert list(folder.profiles) == [KOGANEI]
    assert folder.changed() is False
    assert folder.reload_if_changed() is False


def test_contract_folder_picks_up_an_edit(tmp_path: Path) -> None:
    folder, path = _folder_with_example(tmp_path)

    _edit(path, EXAMPLE_TEXT.replace("bulk_records: 500", "bulk_records: 50"))

    assert folder.changed() is True
    assert folder.reload_if_changed() is True
    assert folder.profiles[KOGANEI].thresholds.bulk_records == 50
    assert folder.reload_if_changed() is False


def test_contract_folder_picks_up_an_added_and_a_removed_file(tmp_path: Path) -> None:
    folder, _ = _folder_with_example(tmp_path)
    other = tmp_path / "chiba.yaml"
    other.write_text((SAMPLE_CONTRACTS / "chiba-2026-021.yaml").read_text(encoding="utf-8"), encoding="utf-8")

    assert folder.reload_if_changed() is True
    assert sorted(folder.profiles) == ["chiba-2026-021", KOGANEI]

    other.unlink()
    assert folder.reload_if_changed() is True
    assert sorted(folder.profiles) == [KOGANEI]


def test_broken_edit_is_reported_once_and_the_previous_profiles_stay_in_force(tmp_path: Path) -> None:
    folder, path = _folder_with_example(tmp_path)
    before = folder.profiles

    _edit(path, EXAMPLE_TEXT.replace("bulk_records: 500", "bulk_records: lots"))

    with pytest.raises(ContractError, match=r"thresholds\.bulk_records"):
        folder.reload_if_changed()
    assert folder.profiles is before
    assert folder.profiles[KOGANEI].thresholds.bulk_records == 500
    # The same broken file is not reported again on the next poll …
    assert folder.reload_if_changed() is False
    # … and fixing it brings the fix into force.
    _edit(path, EXAMPLE_TEXT.replace("bulk_records: 500", "bulk_records: 70"))
    assert folder.reload_if_changed() is True
    assert folder.profiles[KOGANEI].thresholds.bulk_records == 70


def test_contract_folder_load_raises_on_a_bad_profile(tmp_path: Path) -> None:
    _variant(tmp_path, "bulk_records: 500", "bulk_records: lots")

    with pytest.raises(ContractError):
        ContractFolder([tmp_path]).load()
