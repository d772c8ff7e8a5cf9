"""The integrity keys and the anchors topic, from ``KINKYU_*`` settings (pydantic-settings).

``KINKYU_INTEGRITY_KEYS`` is a JSON object of key id to key (32+ random bytes
in base64 or hex), e.g. ``{"2026-04": "…"}``; ``KINKYU_INTEGRITY_KEY_ID``
names the key new entries are signed with (optional when there is one key).
Rotation: add a new key, point ``KINKYU_INTEGRITY_KEY_ID`` at it, and keep
the old ones in ``KINKYU_INTEGRITY_KEYS`` as long as what they signed must
verify. The keys must not be the evidence encryption key and must not live on
the data volume: whoever holds them can rewrite the records they protect.

The worker (:class:`streams.settings.WorkerSettings`) and the console
(:class:`kinkyu.console.settings.ConsoleSettings`) carry the same two
settings; :class:`IntegritySettings` is for the commands that need nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinkyu.core.integrity import Keyring, keyring_from_config
from kinkyu.evidence.exceptions import IntegrityKeyError

if TYPE_CHECKING:
    from kinkyu.bus.clients import BrokerConnection

KEYS_ENV = "KINKYU_INTEGRITY_KEYS"
KEY_ID_ENV = "KINKYU_INTEGRITY_KEY_ID"


class IntegritySettings(BaseSettings):
    """The integrity keys and where the anchors are (``KINKYU_INTEGRITY_*``, ``KINKYU_BROKER``, its prefix)."""

    model_config = SettingsConfigDict(env_prefix="KINKYU_", extra="ignore")

    integrity_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="integrity (HMAC) keys by id, as a JSON object"
    )
    integrity_key_id: str | None = Field(default=None, description="the id of the key new entries are signed with")
    broker: str = "127.0.0.1:9092"
    topic_prefix: str = ""

    @classmethod
    def load(cls) -> IntegritySettings:
        """From the environment; IntegrityKeyError naming the variable (never its value) when it does not parse."""
        try:
            return cls()
        except ValidationError as exc:
            fields = sorted({f"KINKYU_{str(e['loc'][0]).upper()}" for e in exc.errors() if e["loc"]})
            raise IntegrityKeyError(
                f"{', '.join(fields) or KEYS_ENV}: not valid "
                '(KINKYU_INTEGRITY_KEYS is a JSON object such as {"2026-04": "<32 random bytes in base64>"})'
            ) from exc

    @property
    def bootstrap(self) -> str:
        """The broker list without faust's ``kafka://`` scheme."""
        return self.broker.removeprefix("kafka://").replace(";", ",")

    def broker_connection(self) -> BrokerConnection:
        """The broker with the ``KINKYU_BROKER_*`` TLS/SASL settings (BrokerSettingsError names a bad one)."""
        from kinkyu.bus.clients import BrokerConnection, BrokerSecurity  # noqa: PLC0415  # aiokafka is slow to import

        return BrokerConnection(self.bootstrap, BrokerSecurity.load())


def integrity_keyring(
    keys: Mapping[str, SecretStr], key_id: str | None, *, separate_from: Iterable[bytes | None] = ()
) -> Keyring | None:
    """The keyring from the settings' values (None when no key is configured); IntegrityKeyError says what to fix."""
    return keyring_from_config(
        {k: v.get_secret_value() for k, v in keys.items()},
        key_id or None,
        separate_from=[k for k in separate_from if k],
    )
