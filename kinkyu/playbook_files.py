"""Playbooks from files: the file edge around :mod:`kinkyu.core.playbook` (as contracts.py is for profiles)."""

from __future__ import annotations

from pathlib import Path

from kinkyu.core.playbook import Playbook, PlaybookError, playbooks_from_texts


def load_playbooks(folder: Path) -> dict[str, Playbook]:
    """The playbooks in ``folder`` (``*.yaml``), by jurisdiction; PlaybookError naming the problem."""
    try:
        texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))}
    except OSError as exc:
        raise PlaybookError(f"{folder}: cannot read the playbooks ({exc.strerror})") from exc
    if not texts:
        raise PlaybookError(f"{folder}: no playbook files (*.yaml); set KINKYU_PLAYBOOKS to the playbooks folder")
    return playbooks_from_texts(texts)
