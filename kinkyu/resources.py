"""Files shipped inside the package: templates, playbooks, the sample contracts and events.

They are found through :mod:`importlib.resources`, so an installed Kinkyu
(a wheel in any virtual environment, the image) renders its mail, reports and
pages and runs its playbooks from any working directory; a checkout finds the
same files through the package's symlinks (``kinkyu/templates -> ../templates``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled(*parts: str) -> Path:
    """The path of a file or folder shipped in the ``kinkyu`` package (never the working directory's)."""
    return Path(str(files("kinkyu").joinpath(*parts)))


TEMPLATES_DIR = bundled("templates")
PLAYBOOKS_DIR = bundled("playbooks")
SAMPLE_CONTRACTS_DIR = bundled("samples", "contracts")
SAMPLE_EVENTS_DIR = bundled("samples", "events")  # what `kinkyu run` sends

__all__ = ["PLAYBOOKS_DIR", "SAMPLE_CONTRACTS_DIR", "SAMPLE_EVENTS_DIR", "TEMPLATES_DIR", "bundled"]
