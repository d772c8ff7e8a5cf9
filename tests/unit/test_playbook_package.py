"""The playbook package's shape: one start handler per step kind, and modules that import only downward."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from kinkyu.core.playbook.states import StepKind
from kinkyu.core.playbook.steps import HANDLERS

PACKAGE = Path(__file__).resolve().parents[2] / "kinkyu" / "core" / "playbook"
# Lowest first: a module may import only those before it. The definitions below the run
# (definition, policy, effects, ...) are not the run's layers and come first.
LAYERS = (
    "exceptions",
    "policy",
    "definition",
    "baseline",
    "containment",
    "effects",
    "ppc",
    "keys",
    "states",
    "codec",
    "state",
    "followup",
    "context",
    "tasks",
    "national_report",
    "steps",
    "lifecycle",
    "follow_ups",
    "clock",
    "incident_record",
    "run",
)


def _imported(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.startswith("kinkyu.core.playbook."):
                out.add(node.module.removeprefix("kinkyu.core.playbook.").split(".")[0])
            elif node.module == "kinkyu.core.playbook":
                out.update(alias.name for alias in node.names)
    return out


def test_every_step_kind_has_one_start_handler() -> None:
    assert set(HANDLERS) == set(get_args(StepKind))


def test_every_module_of_the_package_is_placed_in_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}

    assert modules == set(LAYERS)


@pytest.mark.parametrize("module", LAYERS)
def test_a_module_imports_only_the_layers_below_it(module: str) -> None:
    below = set(LAYERS[: LAYERS.index(module)])

    assert _imported(module) - {module} <= below, f"{module} imports a module above it"
