"""The notifier's settings: ``KINKYU_NOTIFY_*`` environment variables, and the webhook targets they list."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.core.outbox import Backoff


class WebhookTarget(BaseModel):
    """A chat or ticket system: ``name`` (a reference), ``url``, ``secret``; ``contracts`` limits it (empty: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    contracts: list[str] = Field(default_factory=list)

    def wants(self, contract_id: str) -> bool:
        """Whether messages of ``contract_id`` go to this target."""
        return not self.contracts or contract_id in self.contracts


class NotifierSettings(BaseSettings):
    """Notifier settings: ``KINKYU_NOTIFY_*`` environment variables.

    - ``ack_secret``: signs acknowledgement links (at least 16 bytes; keep it
      stable, or links already sent stop working). Unset: a random secret per
      process, with a warning - fine for ``make run``, not for production;
    - ``ack_base_url`` (links point at ``<ack_base_url>/ack/<token>``; unset,
      the console when ``console_url`` is set, where a person confirms with
      a button, else this endpoint, whose GET also only shows a button),
      ``ack_host`` / ``ack_port`` (where the endpoint listens), ``ack_ttl``
      (seconds a link stays valid, default 7 days);
    - ``console_url``: incident links are ``<console_url>/incidents/<id>``;
    - ``outbox_dir``: the outbox and chain journals;
    - ``webhooks``: JSON list of ``{"name", "url", "secret", "contracts"}``;
    - ``retry_base`` / ``retry_cap`` (seconds) and ``max_attempts``: the
      outbox backoff (30 s doubling to 15 min, 30 attempts: about 6.5 hours);
    - ``retention_days``: how long delivered entries are kept to recognise
      redelivered records (30);
    - ``batch``: entries attempted per pass (50); ``html``: add an HTML part;
    - ``concurrency``: incidents whose messages are sent at the same time (8);
      one incident's messages still go one after another, in order.
    """

    model_config = SettingsConfigDict(env_prefix="KINKYU_NOTIFY_", extra="ignore")

    ack_secret: SecretStr | None = None
    ack_base_url: str = "http://127.0.0.1:6067"
    ack_host: str = "127.0.0.1"
    ack_port: int = Field(default=6067, ge=0, le=65535)
    ack_ttl: float = Field(default=7 * 86400.0, gt=0)
    console_url: str = "http://127.0.0.1:6066"
    outbox_dir: Path = Path("var/notifier")
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    retry_base: float = Field(default=30.0, gt=0)
    retry_cap: float = Field(default=900.0, gt=0)
    max_attempts: int = Field(default=30, ge=1)
    retention_days: float = Field(default=30.0, gt=0)
    batch: int = Field(default=50, ge=1)
    concurrency: int = Field(default=8, ge=1)
    html: bool = True

    @model_validator(mode="after")
    def _links_to_the_console(self) -> NotifierSettings:
        # Set through the attribute so it counts as set: the worker's own default (its endpoint) then stays out.
        if "ack_base_url" not in self.model_fields_set and "console_url" in self.model_fields_set:
            self.ack_base_url = self.console_url
        return self

    def backoff(self) -> Backoff:
        """The outbox retry schedule."""
        base = timedelta(seconds=self.retry_base)
        return Backoff(base=base, cap=max(base, timedelta(seconds=self.retry_cap)), max_attempts=self.max_attempts)

    def ack_url(self, token: str) -> str:
        """The acknowledgement link carrying ``token``."""
        return f"{self.ack_base_url.rstrip('/')}/ack/{token}"

    def incident_url(self, incident_id: str) -> str:
        """The console page of ``incident_id``."""
        return f"{self.console_url.rstrip('/')}/incidents/{incident_id}"
