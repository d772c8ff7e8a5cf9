"""The command line, in-process: help, exit codes, and what replay and contracts print."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from builders import (
    PLANTED,
    SAMPLE_CONTRACTS,
    SAMPLE_EVENTS,
    SAMPLE_SPEC_CONTRACT,
    WORKDAY,
    at,
    quiet_read,
    with_value,
    write_jsonl,
)

from kinkyu.cli import EXIT_CONFIG, EXIT_MALFORMED, EXIT_OK, EXIT_USAGE, main

SUBCOMMANDS = ["worker", "run", "replay", "simulate", "produce", "contracts"]
INCIDENT_KEYS = {"incident_id", "contract_id", "rules", "actor", "system", "first_event_ts", "finding_count"}


def _exit_code(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def _good_lines(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "good.jsonl",
        [quiet_read("e1", at(WORKDAY, "10:00")), quiet_read("e2", at(WORKDAY, "10:01"), actor="u1042")],
    )


def _replay(*args: str | Path, contracts: Path = SAMPLE_CONTRACTS) -> int:
    return main(["replay", "--contract", str(contracts), "--no-progress", *map(str, args)])


# -- help and usage -----------------------------------------------------------------------------


def test_top_level_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code([command, "--help"]) == 0
    assert f"kinkyu {command}" in capsys.readouterr().out


def test_version_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out.startswith("kinkyu ")


def test_no_subcommand_is_wrong_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code([]) == EXIT_USAGE
    assert "COMMAND" in capsys.readouterr().err


def test_replay_without_input_is_wrong_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["replay", "--contract", str(SAMPLE_CONTRACTS)]) == EXIT_USAGE
    assert "--input" in capsys.readouterr().err


# -- contracts ------------------------------------------------------------------------------------


def test_contracts_lists_the_six_sample_contracts_with_their_terms_in_wareki(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["contracts", str(SAMPLE_CONTRACTS), "--lang", "ja"]) == EXIT_OK

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert sorted(line.split("\t")[1] for line in lines) == sorted(
        ["okayama", "chiba", "yachiyo", "koganei", "toyota", "shinagawa"]
    )
    term = "令和8年4月1日から令和9年3月31日まで"
    assert f"koganei-2026-017\tkoganei\t小金井市\t{term}\t住民記録システム運用保守業務委託" in lines


def test_contracts_in_english_name_the_term_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", str(SAMPLE_CONTRACTS), "--lang", "en"]) == EXIT_OK

    assert "\t1 Apr 2026 to 31 Mar 2027\t" in capsys.readouterr().out


def test_contracts_as_json_give_iso_dates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", str(SAMPLE_CONTRACTS), "--json"]) == EXIT_OK

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    koganei = next(r for r in rows if r["contract_id"] == "koganei-2026-017")
    assert (koganei["starts"], koganei["ends"]) == ("2026-04-01", "2027-03-31")


def _typo_contract(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    text = SAMPLE_SPEC_CONTRACT.read_text(encoding="utf-8").replace("approved_orgs:", "aproved_orgs:")
    (folder / "koganei.yaml").write_text(text, encoding="utf-8")
    return folder


def test_contracts_with_an_unknown_key_exits_3_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _typo_contract(tmp_path)

    assert main(["contracts", str(folder)]) == EXIT_CONFIG

    err = capsys.readouterr().err
    assert "aproved_orgs: unknown key" in err
    assert str(folder / "koganei.yaml") in err


def test_replay_with_a_contract_with_an_unknown_key_exits_3_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _typo_contract(tmp_path)

    assert _replay("--input", _good_lines(tmp_path), contracts=folder) == EXIT_CONFIG

    captured = capsys.readouterr()
    assert "aproved_orgs" in captured.err
    assert captured.out == ""


def test_contracts_of_a_missing_path_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", str(tmp_path / "absent.yaml")]) == EXIT_CONFIG
    assert "absent.yaml" in capsys.readouterr().err


# -- replay ---------------------------------------------------------------------------------------


def test_replay_json_over_the_samples_prints_one_incident_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _replay(
        "--json",
        "--input",
        SAMPLE_EVENTS / "access-log.jsonl",
        "--input",
        SAMPLE_EVENTS / "incident-events.jsonl",
    )

    assert code == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines, "the samples contain incidents"
    incidents = [json.loads(line) for line in lines]
    for incident in incidents:
        assert incident.keys() >= INCIDENT_KEYS
        assert isinstance(incident["rules"], list)
        assert isinstance(incident["finding_count"], int)
        assert incident["incident_id"].startswith("INC-")
    ids = [i["incident_id"] for i in incidents]
    assert len(set(ids)) == len(ids)
    assert any(i["origin"] == "filed" and i["kind"] == "misdelivery" for i in incidents)
    assert any(i["origin"] == "detection" and i["rules"] for i in incidents)


def test_replay_prints_a_summary_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _replay("--input", _good_lines(tmp_path)) == EXIT_OK

    captured = capsys.readouterr()
    assert "2 events, 1 findings, 1 incidents" in captured.err
    assert re.match(r"INC-20261120-D[A-Z2-7]{7}  koganei-2026-017", captured.out)


def _lines_with_one_bad(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            quiet_read("e1", at(WORKDAY, "10:00")),
            with_value(quiet_read("e2", at(WORKDAY, "10:01")), "ts", PLANTED),
        ],
    )


def test_replay_with_a_bad_line_exits_0_and_says_how_many_were_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _replay("--input", _lines_with_one_bad(tmp_path)) == EXIT_OK

    err = capsys.readouterr().err
    assert "1 lines rejected (invalid 1)" in err


def test_replay_strict_with_a_bad_line_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _replay("--strict", "--input", _lines_with_one_bad(tmp_path)) == EXIT_MALFORMED

    captured = capsys.readouterr()
    assert re.search(r"INC-20261120-D[A-Z2-7]{7}  ", captured.out), "the incidents found are still printed"


def test_replay_strict_without_bad_lines_exits_0(tmp_path: Path) -> None:
    assert _replay("--strict", "--input", _good_lines(tmp_path)) == EXIT_OK


def test_replay_verbose_names_each_rejected_line_by_number_and_reason_never_by_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _lines_with_one_bad(tmp_path)

    assert _replay("--verbose", "--input", path) == EXIT_OK

    err = capsys.readouterr().err
    assert f"{path}:2: invalid: ts:" in err
    assert PLANTED not in err


def test_replay_dead_letters_file_keeps_each_rejected_line_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _lines_with_one_bad(tmp_path)
    dead = tmp_path / "dead.jsonl"

    assert _replay("--dead-letters", dead, "--input", path) == EXIT_OK

    [record] = [json.loads(line) for line in dead.read_text(encoding="utf-8").splitlines()]
    assert record["dead_letter"]["source"] == str(path)
    assert record["dead_letter"]["line"] == 2
    assert record["dead_letter"]["reason"] == "invalid"
    assert json.loads(record["raw"])["ts"] == PLANTED  # the evidence is kept, to be fixed and re-fed
    assert PLANTED not in capsys.readouterr().err


def test_replay_of_a_missing_input_file_is_wrong_usage_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _replay("--input", tmp_path / "absent.jsonl")

    assert code == EXIT_USAGE
    assert "absent.jsonl" in capsys.readouterr().err
