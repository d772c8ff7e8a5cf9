"""Worker configuration, from ``KINKYU_*`` environment variables (pydantic-settings).

Two groups of the worker's settings live beside the outbound edge they
configure and are read there: ``KINKYU_SMTP_*`` (:class:`notifiers.smtp.SmtpSettings`:
server, security, login, timeout, sender) and ``KINKYU_NOTIFY_*``
(:class:`notifiers.service.NotifierSettings`: acknowledgement endpoint and
links, outbox, retries, webhooks). The worker fills in two defaults from
this module's settings (:func:`streams.app.notifier_settings`): the outbox
under ``data_dir`` and links pointing at the endpoint's own port. The topic
names (:class:`Topics`) are the broker seam's (:mod:`kinkyu.bus.topics`),
re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.bus.topics import Topics
from kinkyu.core.bounds import DEFAULT_MAX_SKEW
from kinkyu.resources import PLAYBOOKS_DIR, SAMPLE_CONTRACTS_DIR

__all__ = ["Topics", "WorkerSettings"]

if TYPE_CHECKING:
    from kinkyu.bus.clients import BrokerConnection


class WorkerSettings(BaseSettings):
    """Everything a worker needs to know; each field is ``KINKYU_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="KINKYU_", extra="forbid", env_nested_delimiter="__")

    broker: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    contracts: list[Path] = Field(
        default_factory=lambda: [SAMPLE_CONTRACTS_DIR],
        description="contract profile files or folders; edits are picked up without a restart",
    )
    topic_prefix: str = ""
    group: str = Field(default="kinkyu", description="consumer group and faust app id")
    partitions: int = Field(default=1, ge=1, description="partitions of topics the worker creates")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    data_dir: Path = Path("var")
    lateness: float = Field(default=300.0, ge=0, description="seconds an event may arrive out of order")
    # Capped at a day: a wider tolerance would let one event's time run that far ahead of the others'.
    max_clock_skew: float = Field(
        default=DEFAULT_MAX_SKEW,
        ge=0,
        le=86_400,
        description=(
            "seconds an event's time may be ahead of this worker's clock; later is a dead letter (future-timestamp)"
        ),
    )
    checkpoint_interval: float = Field(default=1.0, gt=0, description="seconds between state checkpoints")
    tick_interval: float = Field(default=5.0, gt=0, description="seconds between outage/deadline ticks")
    ingest_delay: float = Field(
        default=30.0, ge=0, description="how far wall-clock ticks trail real time, for events still in flight"
    )
    contracts_poll: float = Field(default=2.0, gt=0, description="seconds between checks for edited contracts")
    fetch_max_records: int = Field(default=10_000, ge=1)
    # A trade-off: shorter hands a dead worker's partitions on sooner (and on tansu, which holds each
    # JoinGroup for half of it, joins faster) but a worker stalled that long is needlessly rebalanced.
    # Kafka accepts 6 s to 30 min by default; the integration tests run workers with 2 s on tansu.
    session_timeout: float = Field(
        default=10.0,
        ge=1,
        le=1800,
        description=(
            "seconds a worker may go unheard before its consumer groups give its partitions away; "
            "heartbeats go every fifth of it"
        ),
    )
    playbooks: Path = Field(default=PLAYBOOKS_DIR, description="folder of per-jurisdiction playbook files")
    store: Path | None = Field(
        default=None,
        description="the incident store folder (default: <data_dir>/store); with several workers, one shared "
        "folder all of them write (checked at start, see streams.store_identity)",
    )
    evidence_dir: Path | None = Field(
        default=None, description="evidence store folder (default: <store>/evidence); shared like the store"
    )
    evidence_key: SecretStr | None = Field(
        default=None, description="AES-256 key sealing evidence: 32 random bytes in base64 (or 64 hex digits)"
    )
    evidence_max_items: int = Field(default=10_000, ge=1, description="events sealed into one bundle at most")
    integrity_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HMAC keys by key id (JSON object; 32+ random bytes in base64 each) authenticating evidence "
        "custody logs, manifests and anchors; kept off the data volume, separate from the evidence key",
    )
    integrity_key_id: str | None = Field(
        default=None, description="the integrity key new entries are signed with (optional with one key)"
    )
    deadline_warning: float = Field(
        default=900.0, ge=0, description="seconds before a deadline a run counts as at risk (metrics)"
    )
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        # Accept faust-style URLs too: kafka://host:port;host:port
        return value.removeprefix("kafka://").replace(";", ",")

    @property
    def topics(self) -> Topics:
        """Topic names under this worker's prefix."""
        return Topics(self.topic_prefix)

    @property
    def evidence_path(self) -> Path:
        """Where sealed evidence is stored: ``evidence_dir``, else the report store's evidence folder."""
        return self.evidence_dir if self.evidence_dir is not None else self.store_dir / "evidence"

    @property
    def store_dir(self) -> Path:
        """The incident store ``kinkyu report --store`` reads: ``store``, else ``<data_dir>/store``."""
        return self.store if self.store is not None else self.data_dir / "store"

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between consumer-group heartbeats: a fifth of ``session_timeout``."""
        return self.session_timeout / 5

    @property
    def faust_broker(self) -> str:
        """The broker list in faust's URL form."""
        return ";".join(f"kafka://{h}" for h in self.broker.split(","))

    def broker_connection(self) -> BrokerConnection:
        """``broker`` with the ``KINKYU_BROKER_*`` TLS/SASL settings: what every client is made from.

        BrokerSettingsError (exit 3) names a setting that cannot work (e.g. a missing CA file).
        """
        from kinkyu.bus.clients import BrokerConnection, BrokerSecurity  # noqa: PLC0415  # aiokafka is slow to import

        return BrokerConnection(self.broker, BrokerSecurity.load())
