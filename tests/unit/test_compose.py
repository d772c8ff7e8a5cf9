"""docker-compose.yml: a production-like stack compose accepts, wired to real settings, published no wider than needed.

Docker may be missing here: the tests read the YAML (and run
``scripts/compose-secrets.sh``, which needs only openssl); ``docker compose
config`` checks the file where docker is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kinkyu.bus.clients import BrokerConnection, BrokerSecurity
from kinkyu.console.settings import ConsoleSettings, variable_of
from kinkyu.core.evidence import key_from_config
from kinkyu.evidence.settings import integrity_keyring
from kinkyu.notifiers.service import NotifierSettings
from kinkyu.notifiers.smtp import SmtpSettings
from kinkyu.streams.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DEV = REPO / "docker-compose.dev.yml"
SECRETS_SCRIPT = REPO / "scripts" / "compose-secrets.sh"
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _services(path: Path = COMPOSE) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    return services


def _resolve(value: object, env: dict[str, str] | None = None) -> str:
    """``value`` as compose would see it: ``${X:-default}`` is X or the default, ``${X:?…}`` is X (else "<X>")."""
    env = env or {}

    def one(m: re.Match[str]) -> str:
        name, kind, default = m.group(1), m.group(2), m.group(3)
        return env.get(name, default if kind == "-" else f"<{name}>")

    return _VARIABLE.sub(one, str(value))


def _required_variables() -> set[str]:
    return {m.group(1) for m in _VARIABLE.finditer(COMPOSE.read_text(encoding="utf-8")) if m.group(2) == "?"}


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


# -- the stack -------------------------------------------------------------------------------------------------


def test_compose_runs_kafka_in_kraft_mode_the_worker_the_console_and_mailpit() -> None:
    services = _services()

    assert set(services) == {"kafka", "worker", "console", "mailpit"}
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_only_the_console_is_published_and_on_loopback_unless_told_otherwise() -> None:
    services = _services()

    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"console"}
    assert [_resolve(p) for p in services["console"]["ports"]] == ["127.0.0.1:8080:8080"]


def test_the_dev_override_publishes_mailpit_the_workers_health_and_kafka_on_loopback_only() -> None:
    services = _services(DEV)

    ports = [str(p) for service in services.values() for p in service.get("ports", [])]
    assert "127.0.0.1:8025:8025" in ports
    assert "127.0.0.1:6066:6066" in ports
    assert all(p.startswith("127.0.0.1:") for p in ports)


def _settings_names() -> set[str]:
    """Every KINKYU_* variable a worker reads: its own settings, the broker's security, SMTP and the notifier's."""
    names = {f"KINKYU_{name.upper()}" for name in WorkerSettings.model_fields}
    names |= {f"KINKYU_BROKER_{name.upper()}" for name in BrokerSecurity.model_fields}
    names |= {f"KINKYU_SMTP_{name.upper()}" for name in SmtpSettings.model_fields}
    names |= {f"KINKYU_NOTIFY_{name.upper()}" for name in NotifierSettings.model_fields}
    return names


def test_every_kinkyu_variable_the_worker_gets_is_a_real_setting() -> None:
    env = _services()["worker"]["environment"]

    assert {k for k in env if k.startswith("KINKYU_")} <= _settings_names()


def test_every_kinkyu_variable_the_console_gets_is_a_real_setting() -> None:
    env = _services()["console"]["environment"]
    names = {variable_of(name) for name in ConsoleSettings.model_fields}
    names |= {f"KINKYU_BROKER_{name.upper()}" for name in BrokerSecurity.model_fields}

    assert {k for k in env if k.startswith("KINKYU_")} <= names


# -- the broker ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["worker", "console"])
def test_kinkyu_reaches_kafka_over_sasl_ssl_with_a_generated_password_and_ca(service: str) -> None:
    env = _services()[service]["environment"]
    broker = {k.removeprefix("KINKYU_BROKER_").lower(): _resolve(v) for k, v in env.items() if "_BROKER_" in k}

    security = BrokerSecurity.model_validate(broker)

    assert security.security == "SASL_SSL"
    assert str(env["KINKYU_BROKER_PASSWORD"]).startswith("${KINKYU_BROKER_PASSWORD:?")
    assert str(security.ca) in {str(v).split(":")[1] for v in _services()[service]["volumes"]}


def test_kafka_serves_clients_only_over_sasl_ssl_with_the_mechanism_kinkyu_uses() -> None:
    services = _services()
    kafka, worker = services["kafka"]["environment"], services["worker"]["environment"]
    protocols = dict(item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))

    for listener in kafka["KAFKA_LISTENERS"].split(","):
        name, address = listener.split("://")
        assert protocols[name] == "SASL_SSL" or address.startswith("127.0.0.1:"), listener
    assert f"SASL_SSL://{worker['KINKYU_BROKER']}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert worker["KINKYU_BROKER_SASL_MECHANISM"] in kafka["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
    assert "kafka_server_jaas.conf" in kafka["KAFKA_OPTS"]


# -- keys and links --------------------------------------------------------------------------------------------


def test_worker_and_console_share_the_generated_keys_and_secret() -> None:
    services = _services()
    worker, console = services["worker"]["environment"], services["console"]["environment"]

    for name in ("KINKYU_EVIDENCE_KEY", "KINKYU_INTEGRITY_KEYS", "KINKYU_INTEGRITY_KEY_ID", "KINKYU_NOTIFY_ACK_SECRET"):
        assert str(worker[name]).startswith(f"${{{name}:?"), name
        assert worker[name] == console[name], name


def test_the_worker_mails_through_mailpit_with_links_to_the_consoles_public_origin() -> None:
    services = _services()
    env = services["worker"]["environment"]
    origin = _resolve(services["console"]["environment"]["KINKYU_CONSOLE_PUBLIC_ORIGIN"])

    assert (env["KINKYU_SMTP_HOST"], str(env["KINKYU_SMTP_PORT"]), env["KINKYU_SMTP_SECURITY"]) == (
        "mailpit",
        "1025",
        "none",
    )
    assert origin == "http://localhost:8080"
    assert _resolve(env["KINKYU_NOTIFY_ACK_BASE_URL"]) == origin
    assert _resolve(env["KINKYU_NOTIFY_CONSOLE_URL"]) == origin


def test_the_console_hands_links_to_the_workers_endpoint_and_reads_its_store() -> None:
    services = _services()
    worker, console = services["worker"], services["console"]

    assert worker["environment"]["KINKYU_NOTIFY_ACK_HOST"] == "0.0.0.0"
    assert console["environment"]["KINKYU_CONSOLE_NOTIFIER_URL"] == (
        f"http://worker:{worker['environment']['KINKYU_NOTIFY_ACK_PORT']}"
    )
    assert worker["environment"]["KINKYU_DATA_DIR"] == console["environment"]["KINKYU_DATA_DIR"]
    data = worker["environment"]["KINKYU_DATA_DIR"]
    assert f"kinkyu-data:{data}" in worker["volumes"]
    assert f"kinkyu-data:{data}" in console["volumes"]


def test_the_generated_secrets_are_never_committed_nor_sent_to_a_docker_build() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()

    assert "/.env" in ignored
    assert "/secrets/" in ignored
    not_sent = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in not_sent
    assert "secrets/" in not_sent


# -- scripts/compose-secrets.sh --------------------------------------------------------------------------------


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed here")
    subprocess.run(["sh", str(SECRETS_SCRIPT), "--dir", str(tmp_path)], check=True, capture_output=True)
    return tmp_path


def _dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value.removeprefix("'").removesuffix("'")
    return values


def test_the_script_writes_a_private_env_with_every_variable_compose_requires(generated: Path) -> None:
    env = _dotenv(generated / ".env")

    assert stat.S_IMODE((generated / ".env").stat().st_mode) == 0o600
    assert stat.S_IMODE((generated / "secrets").stat().st_mode) == 0o700
    assert _required_variables() <= set(env)


def test_the_generated_keys_are_usable_and_the_integrity_key_is_not_the_evidence_key(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KINKYU_INTEGRITY_KEYS", "KINKYU_INTEGRITY_KEY_ID", "KINKYU_EVIDENCE_KEY"):
        monkeypatch.setenv(name, _dotenv(generated / ".env")[name])
    settings = WorkerSettings()
    assert settings.evidence_key is not None
    evidence_key = key_from_config(settings.evidence_key.get_secret_value())

    keyring = integrity_keyring(settings.integrity_keys, settings.integrity_key_id, separate_from=[evidence_key])

    assert keyring is not None


def test_the_brokers_certificate_is_trusted_for_the_name_kafka_given_the_generated_ca(generated: Path) -> None:
    kafka = generated / "secrets" / "kafka"
    password = (kafka / "keystore_creds").read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates((kafka / "kafka.p12").read_bytes(), password)
    assert key is not None
    assert cert is not None
    chain = generated / "server.pem"
    chain.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(chain)
    client = BrokerConnection("kafka:9094", BrokerSecurity(security="SSL", ca=generated / "secrets" / "ca.pem"))
    assert client.ssl_context is not None

    _handshake(client.ssl_context, server, "kafka")  # raises ssl.SSLCertVerificationError if not trusted

    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(client.ssl_context, server, "kafka.elsewhere.example")


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str) -> None:
    """A TLS handshake in memory between the two contexts, the client expecting ``host``."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=host)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for side, obj in (("c", c), ("s", s)):
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    pytest.fail("the handshake did not finish")


def test_the_script_keeps_an_existing_env(generated: Path) -> None:
    before = (generated / ".env").read_bytes()

    again = subprocess.run(["sh", str(SECRETS_SCRIPT), "--dir", str(generated)], capture_output=True, check=False)

    assert again.returncode == 1
    assert (generated / ".env").read_bytes() == before


def test_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed here")
    env = {**os.environ, **{name: f"compose-config-check-{name}" for name in _required_variables()}}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "-f", str(DEV), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )

    assert result.returncode == 0, result.stderr
