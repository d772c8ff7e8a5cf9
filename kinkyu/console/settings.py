"""Console settings: ``KINKYU_CONSOLE_*`` plus the worker's settings the console shares (pydantic-settings).

The console's own settings carry the ``KINKYU_CONSOLE_`` prefix; the ones it
shares with the worker keep the worker's names (``KINKYU_BROKER``,
``KINKYU_TOPIC_PREFIX``, ``KINKYU_DATA_DIR``, ``KINKYU_CONTRACTS``,
``KINKYU_PLAYBOOKS``, ``KINKYU_EVIDENCE_KEY``, ``KINKYU_INTEGRITY_KEYS`` /
``KINKYU_INTEGRITY_KEY_ID``, ``KINKYU_NOTIFY_ACK_SECRET``,
``KINKYU_NOTIFY_ACK_HOST`` / ``_PORT``) so one environment configures both.
Unknown keys are refused; :func:`describe_settings_error` names the variable
to fix without echoing its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.resources import PLAYBOOKS_DIR, SAMPLE_CONTRACTS_DIR

if TYPE_CHECKING:
    from kinkyu.bus.clients import BrokerConnection

_SHARED = {
    "broker": "KINKYU_BROKER",
    "topic_prefix": "KINKYU_TOPIC_PREFIX",
    "data_dir": "KINKYU_DATA_DIR",
    "contracts": "KINKYU_CONTRACTS",
    "playbooks": "KINKYU_PLAYBOOKS",
    "evidence_key": "KINKYU_EVIDENCE_KEY",
    "integrity_keys": "KINKYU_INTEGRITY_KEYS",
    "integrity_key_id": "KINKYU_INTEGRITY_KEY_ID",
    "ack_secret": "KINKYU_NOTIFY_ACK_SECRET",
    "notify_ack_host": "KINKYU_NOTIFY_ACK_HOST",
    "notify_ack_port": "KINKYU_NOTIFY_ACK_PORT",
    "log_format": "KINKYU_LOG_FORMAT",
    "log_level": "KINKYU_LOG_LEVEL",
}


def _shared(name: str) -> AliasChoices:
    # The environment name, or the field name when the settings are built in code (make run, tests).
    return AliasChoices(_SHARED[name], name)


class ConsoleSettings(BaseSettings):
    """Everything ``kinkyu console`` needs; see the module docstring for the variable names."""

    model_config = SettingsConfigDict(env_prefix="KINKYU_CONSOLE_", extra="forbid", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0: any free port (the bound one is printed)")
    users: Path | None = Field(default=None, description="users YAML (default <data_dir>/console/users.yaml)")
    audit: Path | None = Field(default=None, description="audit log (default <data_dir>/console/audit.jsonl)")
    store: Path | None = Field(default=None, description="incident store (default <data_dir>/store)")
    cookie_secure: bool = True
    session_idle: float = Field(default=1800.0, gt=0, description="seconds a session may sit unused")
    session_max: float = Field(default=12 * 3600.0, gt=0, description="seconds a session lives at most")
    login_attempts: int = Field(default=5, ge=1, description="failed logins per account per window")
    login_address_attempts: int = Field(
        default=50, ge=1, description="failed logins per address (IPv6: per /64) per window, whatever the usernames"
    )
    login_window: float = Field(default=900.0, gt=0, description="seconds of the login rate-limit window")
    public_origin: str | None = Field(
        default=None,
        description="scheme://host[:port] browsers use (the Origin check compares with it; unset: "
        "http://127.0.0.1, localhost or [::1] on the port the request came in on)",
    )
    send_timeout: float = Field(default=10.0, gt=0, description="seconds a form waits for the broker")
    notifier_url: str | None = Field(
        default=None,
        description="the worker's acknowledgement endpoint, which records opened links "
        "(default http://<KINKYU_NOTIFY_ACK_HOST>:<KINKYU_NOTIFY_ACK_PORT>)",
    )

    broker: str = Field(default="127.0.0.1:9092", validation_alias=_shared("broker"))
    topic_prefix: str = Field(default="", validation_alias=_shared("topic_prefix"))
    data_dir: Path = Field(default=Path("var"), validation_alias=_shared("data_dir"))
    contracts: list[Path] = Field(default_factory=lambda: [SAMPLE_CONTRACTS_DIR], validation_alias=_shared("contracts"))
    playbooks: Path = Field(default=PLAYBOOKS_DIR, validation_alias=_shared("playbooks"))
    evidence_key: SecretStr | None = Field(default=None, validation_alias=_shared("evidence_key"))
    integrity_keys: dict[str, SecretStr] = Field(
        default_factory=dict, validation_alias=_shared("integrity_keys"), description="MACs the audit log"
    )
    integrity_key_id: str | None = Field(default=None, validation_alias=_shared("integrity_key_id"))
    ack_secret: SecretStr | None = Field(default=None, validation_alias=_shared("ack_secret"))
    notify_ack_host: str = Field(default="127.0.0.1", validation_alias=_shared("notify_ack_host"))
    notify_ack_port: int = Field(default=6067, ge=1, le=65535, validation_alias=_shared("notify_ack_port"))
    log_format: Literal["json", "text"] = Field(default="json", validation_alias=_shared("log_format"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_shared("log_level")
    )

    @field_validator("broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        return value.removeprefix("kafka://").replace(";", ",")

    @field_validator("notifier_url")
    @classmethod
    def _notifier(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. http://worker:6067")
        return value.rstrip("/")

    @field_validator("public_origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or value.count("/") != 2:  # noqa: PLR2004 - scheme://host
            raise ValueError("must be scheme://host[:port], e.g. https://kinkyu.example.jp")
        return value

    def broker_connection(self) -> BrokerConnection:
        """``broker`` with the worker's ``KINKYU_BROKER_*`` TLS/SASL settings (BrokerSettingsError names a bad one)."""
        from kinkyu.bus.clients import BrokerConnection, BrokerSecurity  # noqa: PLC0415  # aiokafka is slow to import

        return BrokerConnection(self.broker, BrokerSecurity.load())

    @property
    def users_path(self) -> Path:
        """The users file."""
        return self.users if self.users is not None else self.data_dir / "console" / "users.yaml"

    @property
    def audit_path(self) -> Path:
        """The audit log file."""
        return self.audit if self.audit is not None else self.data_dir / "console" / "audit.jsonl"

    @property
    def notifier_base(self) -> str:
        """Where the worker's acknowledgement endpoint listens."""
        if self.notifier_url is not None:
            return self.notifier_url
        wildcard = self.notify_ack_host in {"0.0.0.0", "::", ""}  # noqa: S104  # compared, not bound
        host = "127.0.0.1" if wildcard else self.notify_ack_host
        return f"http://{host}:{self.notify_ack_port}"

    @property
    def store_path(self) -> Path:
        """The incident store the worker writes."""
        return self.store if self.store is not None else self.data_dir / "store"


def variable_of(field: str) -> str:
    """The environment variable that sets ``field``."""
    if field in _SHARED:
        return _SHARED[field]
    if field.startswith("KINKYU_"):
        return field
    return f"KINKYU_CONSOLE_{field.upper()}"


def describe_settings_error(exc: ValidationError) -> str:
    """Which variables to fix and why, without their values."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = str(err["loc"][0]) if err["loc"] else "settings"
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {variable_of(field)}: {msg}")
    return "invalid console setting(s):\n" + "\n".join(lines)
