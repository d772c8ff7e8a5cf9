"""The demo's keys (``kinkyu run`` / ``make run``): kept in ``<data dir>/demo-keys.env``, mode 0600.

So that a newcomer can verify the demo's evidence after the run (``set -a; .
var/demo-keys.env; set +a; kinkyu evidence verify INC --no-anchor``), the
demo keeps its evidence key and integrity key beside its data, and reuses
them on the next run (the evidence of earlier runs stays verifiable).

That is exactly what production must not do: a key kept on the data volume
protects nothing against whoever can write that volume. Only ``kinkyu run``
reads this file; ``kinkyu worker`` and the console take keys from their
environment only, and a worker refuses to seal without them.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from kinkyu.evidence.exceptions import EvidenceKeyError

DEMO_KEYS = "demo-keys.env"
_KEY_ID = "demo-1"


@dataclass(frozen=True, slots=True)
class DemoKeys:
    """The demo's evidence (AES) key and its integrity (HMAC) key, as configured texts."""

    evidence_key: str = field(repr=False)
    integrity_key: str = field(repr=False)
    key_id: str = _KEY_ID

    def env(self) -> dict[str, str]:
        """As ``KINKYU_*`` settings."""
        return {
            "KINKYU_EVIDENCE_KEY": self.evidence_key,
            "KINKYU_INTEGRITY_KEYS": orjson.dumps({self.key_id: self.integrity_key}).decode(),
            "KINKYU_INTEGRITY_KEY_ID": self.key_id,
        }


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def demo_keys(data_dir: Path) -> tuple[DemoKeys, Path]:
    """The demo keys from ``<data_dir>/demo-keys.env``, created (0600) on the first run; and the file.

    EvidenceKeyError when the file exists but cannot be read or is not the demo's.
    """
    path = data_dir / DEMO_KEYS
    if path.exists():
        return _read(path), path
    keys = DemoKeys(_new_key(), _new_key())
    lines = [
        "# Kinkyu demo keys (make run). Never for production: keys on the data volume protect nothing.\n",
        "# Verify after the run: set -a; . var/demo-keys.env; set +a; kinkyu evidence verify INC --no-anchor\n",
    ]
    lines.extend(f"{name}='{value}'\n" for name, value in keys.env().items())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.writelines(lines)
    except OSError as exc:
        raise EvidenceKeyError(f"cannot write the demo keys to {path}: {exc.strerror}") from exc
    return keys, path


def _read(path: Path) -> DemoKeys:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceKeyError(f"cannot read the demo keys in {path}; delete the file to start afresh") from exc
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip().strip("'")
    try:
        keys = orjson.loads(values["KINKYU_INTEGRITY_KEYS"])
        key_id = values["KINKYU_INTEGRITY_KEY_ID"]
        return DemoKeys(values["KINKYU_EVIDENCE_KEY"], str(keys[key_id]), key_id)
    except (KeyError, orjson.JSONDecodeError, TypeError) as exc:
        raise EvidenceKeyError(f"{path} is not the demo's keys file; delete it to start afresh") from exc
