"""docker-compose.yml: the production-like stack must be a file compose accepts, wired to real settings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from notifiers.service import NotifierSettings
from notifiers.smtp import SmtpSettings
from streams.settings import WorkerSettings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_runs_kafka_in_kraft_mode_the_worker_and_mailpit() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]

    assert set(services) == {"kafka", "worker", "mailpit"}
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


def test_the_worker_mails_through_mailpit_and_publishes_its_acknowledgement_endpoint() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    env = services["worker"]["environment"]

    assert (env["KINKYU_SMTP_HOST"], str(env["KINKYU_SMTP_PORT"]), env["KINKYU_SMTP_SECURITY"]) == (
        "mailpit",
        "1025",
        "none",
    )
    assert "1025:1025" in services["mailpit"]["ports"]
    assert env["KINKYU_NOTIFY_ACK_HOST"] == "0.0.0.0"
    port = str(env["KINKYU_NOTIFY_ACK_PORT"])
    assert f"{port}:{port}" in services["worker"]["ports"]
    assert env["KINKYU_NOTIFY_ACK_BASE_URL"].endswith(f":{port}")


def test_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here")
    result = subprocess.run([*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
