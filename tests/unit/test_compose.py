"""docker-compose.yml: the production-like stack must be a file compose accepts, wired to real settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kinkyu.console.settings import ConsoleSettings, variable_of
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings
from kinkyu.streams.settings import WorkerSettings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_runs_kafka_in_kraft_mode_the_worker_the_console_and_mailpit() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]

    assert set(services) == {"kafka", "worker", "console", "mailpit"}
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def _settings_names() -> set[str]:
    """Every KINKYU_* variable a worker reads: its own settings, the SMTP ones and the notifier's."""
    names = {f"KINKYU_{name.upper()}" for name in WorkerSettings.model_fields}
    names |= {f"KINKYU_SMTP_{name.upper()}" for name in SmtpSettings.model_fields}
    names |= {f"KINKYU_NOTIFY_{name.upper()}" for name in NotifierSettings.model_fields}
    return names


def test_every_kinkyu_variable_the_worker_gets_is_a_real_setting() -> None:
    env = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["worker"]["environment"]

    assert {k for k in env if k.startswith("KINKYU_")} <= _settings_names()


def test_the_worker_mails_through_mailpit_with_links_to_the_published_console() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    env = services["worker"]["environment"]
    console = services["console"]["environment"]

    assert (env["KINKYU_SMTP_HOST"], str(env["KINKYU_SMTP_PORT"]), env["KINKYU_SMTP_SECURITY"]) == (
        "mailpit",
        "1025",
        "none",
    )
    assert "1025:1025" in services["mailpit"]["ports"]
    port = str(console["KINKYU_CONSOLE_PORT"])
    assert f"{port}:{port}" in services["console"]["ports"]
    assert env["KINKYU_NOTIFY_ACK_BASE_URL"].endswith(f":{port}")
    assert env["KINKYU_NOTIFY_CONSOLE_URL"].endswith(f":{port}")


def test_the_console_hands_links_to_the_workers_endpoint_with_the_same_secret_and_reads_its_store() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    worker, console = services["worker"], services["console"]

    assert worker["environment"]["KINKYU_NOTIFY_ACK_HOST"] == "0.0.0.0"
    assert console["environment"]["KINKYU_CONSOLE_NOTIFIER_URL"] == (
        f"http://worker:{worker['environment']['KINKYU_NOTIFY_ACK_PORT']}"
    )
    assert worker["environment"]["KINKYU_NOTIFY_ACK_SECRET"] == console["environment"]["KINKYU_NOTIFY_ACK_SECRET"]
    assert worker["environment"]["KINKYU_DATA_DIR"] == console["environment"]["KINKYU_DATA_DIR"]
    data = worker["environment"]["KINKYU_DATA_DIR"]
    assert f"kinkyu-data:{data}" in worker["volumes"]
    assert f"kinkyu-data:{data}" in console["volumes"]


def test_every_kinkyu_variable_the_console_gets_is_a_real_setting() -> None:
    env = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["console"]["environment"]
    names = {variable_of(name) for name in ConsoleSettings.model_fields}

    assert {k for k in env if k.startswith("KINKYU_")} <= names


def test_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here")
    # The file requires the shared acknowledgement secret; any value does for checking it.
    env = {**os.environ, "KINKYU_NOTIFY_ACK_SECRET": "compose-config-check-secret"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False, env=env
    )

    assert result.returncode == 0, result.stderr
