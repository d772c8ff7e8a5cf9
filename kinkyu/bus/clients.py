"""The one place Kafka clients are made: the broker's address plus its TLS/SASL settings.

A managed Kafka cluster wants TLS and a login (SASL_SSL with SCRAM or PLAIN);
the embedded broker wants neither. :class:`BrokerSecurity` reads the
``KINKYU_BROKER_*`` settings, :class:`BrokerConnection` turns them into client
arguments once (one :class:`ssl.SSLContext`, made by aiokafka's
``create_ssl_context``) and builds every client Kinkyu opens: the faust app's
credentials, the detection stage's consumer, the producers of
:class:`~kinkyu.bus.sink.KafkaSink`, the evidence, checkpoint and state readers,
the anchor publisher and reader, the console's producer, ``kinkyu produce``
and topic creation. It lives in the broker seam so the worker and the console share it;
``tests/unit/test_broker_clients.py`` fails when a client
is constructed anywhere else, so a new one cannot forget the settings.

A client that cannot connect raises :class:`~kinkyu.bus.exceptions.BrokerError`
whose message says what to check (the CA, the login, the address), never a
password; a setting that cannot work (a CA file that is missing or not PEM, a
login without SASL) raises :class:`~kinkyu.bus.exceptions.BrokerSettingsError`
(``kinkyu`` exits 3) naming the variable, never its value.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.bus.exceptions import BrokerError, BrokerSettingsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from faust.types.auth import CredentialsT

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_TLS = frozenset({"SSL", "SASL_SSL"})
_SASL = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_PROBE_TIMEOUT = 5.0
# aiokafka's SCRAM code raises plain KeyError / ValueError on a server's error reply, not a KafkaError.
_SASL_FAILURES = (KeyError, ValueError)


def _env(field: str) -> str:
    return f"KINKYU_BROKER_{field.upper()}"


class BrokerSecurity(BaseSettings):
    """How clients talk to the broker: ``KINKYU_BROKER_SECURITY``, ``…_SASL_MECHANISM``, ``…_USERNAME`` and so on."""

    model_config = SettingsConfigDict(env_prefix="KINKYU_BROKER_", extra="ignore", frozen=True)

    security: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT (no TLS, no login: a broker on a private network only), SSL, SASL_PLAINTEXT, SASL_SSL",
    )
    sasl_mechanism: SaslMechanism = Field(default="SCRAM-SHA-512", description="with SASL_*: the login mechanism")
    username: str | None = Field(default=None, description="with SASL_*: the login name")
    password: SecretStr | None = Field(default=None, description="with SASL_*: the login password")
    ca: Path | None = Field(
        default=None,
        description="with SSL / SASL_SSL: PEM file of the CA(s) the broker's certificate must chain to "
        "(unset: the system's trust store)",
    )
    cert: Path | None = Field(default=None, description="with SSL / SASL_SSL: a client certificate (PEM), for mTLS")
    key: Path | None = Field(default=None, description="the client certificate's private key (PEM)")
    key_password: SecretStr | None = Field(default=None, description="the private key's password, if encrypted")

    @model_validator(mode="after")
    def _consistent(self) -> BrokerSecurity:
        # A TLS or login setting that the protocol ignores would look like protection that is not there.
        tls, sasl = self.security in _TLS, self.security in _SASL
        unused = [n for n in ("ca", "cert", "key", "key_password") if not tls and getattr(self, n) is not None]
        unused += [n for n in ("username", "password") if not sasl and getattr(self, n) is not None]
        if unused:
            names = ", ".join(_env(n) for n in unused)
            raise ValueError(f"{names} set, but KINKYU_BROKER_SECURITY={self.security} does not use it")
        if sasl and (not self.username or self.password is None or not self.password.get_secret_value()):
            raise ValueError(
                f"KINKYU_BROKER_SECURITY={self.security} needs KINKYU_BROKER_USERNAME and KINKYU_BROKER_PASSWORD"
            )
        if self.security == "SASL_PLAINTEXT" and self.sasl_mechanism == "PLAIN":
            raise ValueError(
                "KINKYU_BROKER_SASL_MECHANISM=PLAIN over SASL_PLAINTEXT sends the password unencrypted: "
                "use SASL_SSL, or a SCRAM mechanism"
            )
        if (self.key is not None or self.key_password is not None) and self.cert is None:
            raise ValueError("KINKYU_BROKER_KEY / _KEY_PASSWORD set without KINKYU_BROKER_CERT")
        return self

    @classmethod
    def load(cls, **values: Any) -> BrokerSecurity:
        """From the environment (and ``values``); BrokerSettingsError naming the variables, never their values."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise BrokerSettingsError(_describe(exc)) from exc

    @property
    def tls(self) -> bool:
        """Whether the connection is encrypted."""
        return self.security in _TLS

    @property
    def sasl(self) -> bool:
        """Whether clients log in."""
        return self.security in _SASL


def _describe(exc: ValidationError) -> str:
    """What is wrong, by variable name; pydantic's own text would repeat the input (a password among it)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = _env(str(error["loc"][0])) if error["loc"] else "KINKYU_BROKER_*"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(message if not error["loc"] else f"{where}: {message}")
    return "invalid broker setting: " + "; ".join(problems)


def _ssl_context(security: BrokerSecurity) -> ssl.SSLContext:
    """The TLS context every client shares; BrokerSettingsError when a file is missing or unusable."""
    for name in ("ca", "cert", "key"):
        path: Path | None = getattr(security, name)
        if path is not None and not path.is_file():
            raise BrokerSettingsError(f"{_env(name)}: no such file ({path})")
    password = security.key_password.get_secret_value() if security.key_password is not None else None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=security.ca, certfile=security.cert, keyfile=security.key, password=password
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        which = "KINKYU_BROKER_CA" if security.cert is None else "KINKYU_BROKER_CA, _CERT or _KEY"
        raise BrokerSettingsError(
            f"{which}: not usable as PEM certificate/key files ({type(exc).__name__}: {getattr(exc, 'reason', None)})"
        ) from exc
    return context


class _Startable(Protocol):
    async def start(self) -> None: ...


class BrokerConnection:
    """Where the broker is and how to reach it; the factory of every Kafka client (see the module docstring).

    ``str()`` is the bootstrap list (for messages); nothing secret is in it.
    """

    def __init__(self, bootstrap: str, security: BrokerSecurity | None = None) -> None:
        self.bootstrap = bootstrap.removeprefix("kafka://").replace(";", ",")
        self.security = security if security is not None else BrokerSecurity.model_construct()
        # Built once, eagerly: a missing or broken CA file stops the command at start, not at first use.
        self.ssl_context = _ssl_context(self.security) if self.security.tls else None

    def __str__(self) -> str:
        return self.bootstrap

    def __repr__(self) -> str:
        return f"BrokerConnection({self.bootstrap!r}, security={self.security.security})"

    @property
    def faust_broker(self) -> str:
        """The broker list in faust's URL form."""
        return ";".join(f"kafka://{h}" for h in self.bootstrap.split(","))

    def client_kwargs(self) -> dict[str, Any]:
        """The aiokafka arguments for the bootstrap servers and the security settings."""
        s = self.security
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": s.security}
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        if s.sasl:
            kwargs["sasl_mechanism"] = s.sasl_mechanism
            kwargs["sasl_plain_username"] = s.username
            kwargs["sasl_plain_password"] = s.password.get_secret_value() if s.password is not None else None
        return kwargs

    def producer(self, **kwargs: Any) -> AIOKafkaProducer:
        """An aiokafka producer (not started) with ``kwargs`` for everything but the connection."""
        return AIOKafkaProducer(**self.client_kwargs(), **kwargs)

    def consumer(self, *topics: str, **kwargs: Any) -> AIOKafkaConsumer:
        """An aiokafka consumer (not started) of ``topics`` (none: assign partitions later)."""
        return AIOKafkaConsumer(*topics, **self.client_kwargs(), **kwargs)

    def admin(self, **kwargs: Any) -> AIOKafkaAdminClient:
        """An aiokafka admin client (not started), for topic creation and description."""
        return AIOKafkaAdminClient(**self.client_kwargs(), **kwargs)

    def faust_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials`` for the same settings (None: PLAINTEXT)."""
        from faust.auth import SASLCredentials, SSLCredentials  # noqa: PLC0415  # only the worker needs faust

        s = self.security
        if s.sasl:
            return SASLCredentials(
                username=s.username,
                password=s.password.get_secret_value() if s.password is not None else None,
                ssl_context=self.ssl_context,
                mechanism=s.sasl_mechanism,
            )
        if self.ssl_context is not None:
            return SSLCredentials(self.ssl_context)
        return None

    async def start(self, client: _Startable, what: str = "a client") -> None:
        """``client.start()``; BrokerError saying what to check when it cannot connect or log in.

        aiokafka reports a failed TLS handshake only as "unable to bootstrap",
        and a refused SCRAM login sometimes as a KeyError: the message here
        names the likely cause (probing the TLS handshake itself) and the
        setting to fix.
        """
        try:
            await client.start()
        except (KafkaError, OSError, *_SASL_FAILURES) as exc:
            with contextlib.suppress(Exception):
                stop = getattr(client, "stop", None) or getattr(client, "close", None)
                if stop is not None:
                    await stop()
            raise BrokerError(await self.explain(exc, what)) from exc

    async def explain(self, exc: BaseException, what: str = "a client") -> str:
        """Why ``exc`` kept ``what`` from connecting, in words that say which setting to check."""
        s = self.security
        base = f"cannot connect {what} to the Kafka broker at {self.bootstrap} (KINKYU_BROKER_SECURITY={s.security})"
        if self.ssl_context is not None:
            problem = await self._probe_tls()
            if problem is not None:
                return f"{base}: {problem}"
        name = type(exc).__name__
        if s.sasl and (isinstance(exc, _SASL_FAILURES) or "Sasl" in name or "Authentication" in name):
            return (
                f"{base}: the broker refused the login ({s.sasl_mechanism}, {name}); check KINKYU_BROKER_USERNAME, "
                "KINKYU_BROKER_PASSWORD and KINKYU_BROKER_SASL_MECHANISM"
            )
        hint = " (or unset it: `make run` starts an embedded broker)" if s.security == "PLAINTEXT" else ""
        return f"{base}: {name}; check KINKYU_BROKER{hint} and that the broker is up and speaks {s.security}"

    async def _probe_tls(self) -> str | None:
        """A TLS handshake with the first bootstrap server: what went wrong, or None when it succeeds."""
        host, _, port = self.bootstrap.split(",")[0].rpartition(":")
        host = host.strip("[]")
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                _, writer = await asyncio.open_connection(host, int(port), ssl=self.ssl_context)
        except ssl.SSLCertVerificationError as exc:
            return (
                f"the broker's TLS certificate is not trusted ({exc.verify_message}); check KINKYU_BROKER_CA "
                "and that the certificate names this host"
            )
        except ssl.SSLError as exc:
            return f"the TLS handshake failed ({exc.reason}); is the broker's listener TLS?"
        except (OSError, TimeoutError, ValueError):
            return None  # not a TLS problem: the caller names the original error
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
        return None


def as_connection(broker: BrokerConnection | str) -> BrokerConnection:
    """``broker`` itself, or a bare bootstrap list as an unencrypted, anonymous connection (the embedded broker)."""
    return broker if isinstance(broker, BrokerConnection) else BrokerConnection(broker)


async def read_to_end(
    bootstrap: BrokerConnection | str, topic: str, what: str, partitions: Iterable[int] | None = None
) -> AsyncIterator[Any]:
    """Every record of ``topic`` (only ``partitions`` of it when given), from the start to its end, without a group.

    ``what`` names the reader in errors ("the incident-state reader"). Records with an empty value (tombstones)
    are passed over. BrokerError when the broker cannot be reached.
    """
    connection = as_connection(bootstrap)
    reader = connection.consumer(enable_auto_commit=False, fetch_max_wait_ms=100)
    await connection.start(reader, what)
    try:
        cluster = await reader._client.fetch_all_metadata()  # noqa: SLF001  # no public call for a topic's partitions
        numbers = cluster.partitions_for_topic(topic) or set()
        if partitions is not None:
            numbers = numbers & set(partitions)
        tps = [TopicPartition(topic, p) for p in sorted(numbers)]
        if not tps:
            return
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(tps)
        # Some brokers report end offsets short of the last batch: read until a fetch comes back empty too.
        while True:
            batch = await reader.getmany(timeout_ms=300)
            for msgs in batch.values():
                for msg in msgs:
                    if msg.value:
                        yield msg
            if not batch and all([await reader.position(tp) >= ends[tp] for tp in tps]):
                break
    finally:
        await reader.stop()


@functools.lru_cache(maxsize=10_000)  # murmur2 is pure Python, and the stages ask it of every chain and message
def partition_for(key: str, partitions: int) -> int:
    """The partition of ``partitions`` a record keyed ``key`` goes to (the producer's default partitioner)."""
    digest: int = murmur2(key.encode())
    return (digest & 0x7FFFFFFF) % partitions
