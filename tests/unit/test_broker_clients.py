"""TLS and SASL settings reach every Kafka client, through the one factory (:mod:`kinkyu.bus.clients`).

The real handshakes are in ``tests/integration/test_broker_security.py``
(TLS end to end; SASL only refused, since the embedded broker can hold no
user); here: which arguments each client gets, which settings are refused,
and that no client is made anywhere else.
"""

from __future__ import annotations

import ast
import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from kinkyu.bus.clients import BrokerConnection, BrokerSecurity, SaslMechanism
from kinkyu.cli import main
from kinkyu.streams.exceptions import BrokerSettingsError
from kinkyu.streams.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
SECRET = "s3cret-broker-password"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A self-signed CA certificate, as a PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit test ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def sasl_ssl(ca: Path, mechanism: SaslMechanism = "SCRAM-SHA-512") -> BrokerConnection:
    security = BrokerSecurity(
        security="SASL_SSL", sasl_mechanism=mechanism, username="kinkyu", password=SecretStr(SECRET), ca=ca
    )
    return BrokerConnection("kafka-1:9093,kafka-2:9093", security)


# -- one factory ---------------------------------------------------------------------------------------------


def _sources() -> list[Path]:
    # streams/ and notifiers/ are in the package through symlinks; read them where they are.
    return sorted(
        {p for d in ("kinkyu", "streams", "notifiers") for p in (REPO / d).rglob("*.py") if not p.is_symlink()}
    )


def _calls(path: Path) -> list[tuple[str, ast.Call]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            found.append((name, node))
    return found


def test_no_kafka_client_is_constructed_outside_the_factory() -> None:
    made = [
        f"{path.relative_to(REPO)}:{call.lineno} {name}"
        for path in _sources()
        if path.name != "clients.py"
        for name, call in _calls(path)
        if name in CLIENTS
    ]

    assert made == [], "make Kafka clients with BrokerConnection.producer/consumer/admin (kinkyu/bus/clients.py)"


def test_every_faust_app_is_given_the_broker_credentials() -> None:
    apps = [(path, call) for path in _sources() for name, call in _calls(path) if name == "App"]

    assert apps, "the worker's faust.App was found"
    for path, call in apps:
        keywords = {k.arg for k in call.keywords}
        assert "broker_credentials" in keywords, f"{path.relative_to(REPO)}:{call.lineno}"


def test_the_sources_are_scanned_where_they_live() -> None:
    scanned = {p.relative_to(REPO).as_posix() for p in _sources()}

    assert {
        "kinkyu/bus/sink.py",
        "streams/detector.py",
        "kinkyu/evidence/anchor.py",
        "kinkyu/bus/clients.py",
    } <= scanned


# -- the arguments -------------------------------------------------------------------------------------------


def test_plaintext_is_the_default_and_carries_no_tls_or_login() -> None:
    kwargs = BrokerConnection("kafka://a:9092;b:9092").client_kwargs()

    assert kwargs == {"bootstrap_servers": "a:9092,b:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_gives_the_login_and_one_verifying_tls_context(ca: Path) -> None:
    connection = sasl_ssl(ca, "SCRAM-SHA-256")

    kwargs = connection.client_kwargs()

    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_username"] == "kinkyu"
    assert kwargs["sasl_plain_password"] == SECRET
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert connection.client_kwargs()["ssl_context"] is context, "one context, shared by every client"


def test_ssl_alone_gives_tls_and_no_login(ca: Path) -> None:
    kwargs = BrokerConnection("k:9093", BrokerSecurity(security="SSL", ca=ca)).client_kwargs()

    assert kwargs["security_protocol"] == "SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in kwargs


async def test_producers_consumers_and_admin_clients_carry_the_settings(ca: Path) -> None:
    connection = sasl_ssl(ca)
    producer, consumer, admin = connection.producer(acks=1), connection.consumer(), connection.admin()

    try:
        for client in (producer.client, consumer._client, admin._client):
            assert client._security_protocol == "SASL_SSL"
            assert client._sasl_mechanism == "SCRAM-SHA-512"
            assert client._sasl_plain_username == "kinkyu"
            assert client._ssl_context is connection.ssl_context
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.close()


def test_faust_gets_the_same_arguments_as_every_other_client(ca: Path) -> None:
    connection = sasl_ssl(ca)

    credentials = connection.faust_credentials()

    assert isinstance(credentials, SASLCredentials)
    faust_kwargs = dict(credentials_to_aiokafka_auth(credentials))
    ours = {k: v for k, v in connection.client_kwargs().items() if k != "bootstrap_servers"}
    assert faust_kwargs == ours


def test_faust_gets_tls_credentials_for_ssl_and_none_for_plaintext(ca: Path) -> None:
    tls = BrokerConnection("k:9093", BrokerSecurity(security="SSL", ca=ca)).faust_credentials()

    assert isinstance(tls, SSLCredentials)
    assert dict(credentials_to_aiokafka_auth(tls))["security_protocol"] == "SSL"
    assert BrokerConnection("k:9092").faust_credentials() is None


def test_the_connection_shows_no_password(ca: Path) -> None:
    connection = sasl_ssl(ca)

    assert SECRET not in f"{connection} {connection!r} {connection.security!r}"


# -- settings ------------------------------------------------------------------------------------------------


def test_the_settings_come_from_kinkyu_broker_variables(monkeypatch: pytest.MonkeyPatch, ca: Path) -> None:
    monkeypatch.setenv("KINKYU_BROKER", "kafka.example.jp:9096")
    monkeypatch.setenv("KINKYU_BROKER_SECURITY", "SASL_SSL")
    monkeypatch.setenv("KINKYU_BROKER_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KINKYU_BROKER_USERNAME", "kinkyu")
    monkeypatch.setenv("KINKYU_BROKER_PASSWORD", SECRET)
    monkeypatch.setenv("KINKYU_BROKER_CA", str(ca))

    kwargs = WorkerSettings().broker_connection().client_kwargs()

    assert kwargs["bootstrap_servers"] == "kafka.example.jp:9096"
    assert (kwargs["security_protocol"], kwargs["sasl_mechanism"]) == ("SASL_SSL", "PLAIN")
    assert kwargs["sasl_plain_password"] == SECRET


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KINKYU_BROKER_SECURITY": "SASL_SSL", "KINKYU_BROKER_USERNAME": "kinkyu"}, "KINKYU_BROKER_PASSWORD"),
        ({"KINKYU_BROKER_PASSWORD": SECRET}, "KINKYU_BROKER_PASSWORD"),
        ({"KINKYU_BROKER_CA": "/etc/ssl/ca.pem"}, "KINKYU_BROKER_CA"),
        (
            {
                "KINKYU_BROKER_SECURITY": "SASL_PLAINTEXT",
                "KINKYU_BROKER_SASL_MECHANISM": "PLAIN",
                "KINKYU_BROKER_USERNAME": "kinkyu",
                "KINKYU_BROKER_PASSWORD": SECRET,
            },
            "unencrypted",
        ),
        ({"KINKYU_BROKER_SECURITY": "SSL", "KINKYU_BROKER_KEY": "/k.pem"}, "KINKYU_BROKER_CERT"),
        ({"KINKYU_BROKER_SECURITY": "TLS"}, "KINKYU_BROKER_SECURITY"),
    ],
    ids=["sasl-without-password", "password-without-sasl", "ca-without-tls", "plain-in-clear", "key-alone", "typo"],
)
def test_a_setting_that_cannot_work_is_refused_by_name_never_by_value(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(BrokerSettingsError) as caught:
        BrokerSecurity.load()

    assert named in str(caught.value)
    assert SECRET not in str(caught.value)


def test_produce_with_a_missing_ca_file_exits_3_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("KINKYU_BROKER_SECURITY", "SSL")
    monkeypatch.setenv("KINKYU_BROKER_CA", str(tmp_path / "no-such-ca.pem"))

    code = main(["produce", "--topic", "access-log", str(events)])

    assert code == 3
    assert "KINKYU_BROKER_CA: no such file" in capsys.readouterr().err


def test_a_ca_file_that_is_not_pem_is_a_setting_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate", encoding="utf-8")

    with pytest.raises(BrokerSettingsError, match="KINKYU_BROKER_CA"):
        BrokerConnection("k:9093", BrokerSecurity(security="SSL", ca=not_pem))
