"""The package's layer rules, read from its imports (README, "Design notes": layers).

Tiers, from the bottom: ``leaf`` (constants, parameter checks) ← ``data`` (schema, io, adapters,
simulator) ← ``shared`` (personal-data primitives, cleaning) ← ``analysis`` (one module or subpackage
per notebook area) ← ``face`` (runner, report, CLI). ``support`` (notebook helpers, plotting) stands
beside them and imports only leaves and itself. No arrow runs upward, and no analysis imports another
analysis. A module missing from :data:`TIERS` fails the test until it is given a tier.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "lsc_utils"

TIERS: dict[str, str] = {
    "__init__": "leaf",
    "constants": "leaf",
    "checks": "leaf",
    "nbtools": "support",
    "plotting": "support",
    "schema": "data",
    "io": "data",
    "datasets": "data",
    "simulate": "data",
    "pii": "shared",
    "evaluation": "shared",
    "consent": "shared",
    "cleaning": "shared",
    "sqlengine": "shared",
    "identity": "shared",
    "portraits": "analysis",
    "recsys": "analysis",
    "paths": "analysis",
    "text": "analysis",
    "privacy": "analysis",
    "live": "analysis",
    "forecast": "analysis",
    "targeting": "analysis",
    "fairness": "analysis",
    "run": "face",
    "runconfig": "face",
    "runfolder": "face",
    "report": "face",
    "__main__": "face",
}
"""Tier of every top-level module or subpackage of ``lsc_utils``."""

ALLOWED: dict[str, set[str]] = {
    "leaf": {"leaf"},
    "support": {"leaf", "support"},
    "data": {"leaf", "data"},
    "shared": {"leaf", "data", "shared"},
    "analysis": {"leaf", "data", "shared", "support"},
    "face": {"leaf", "support", "data", "shared", "analysis", "face"},
}
"""Tiers each tier may import (an analysis may import itself, never another analysis)."""


def _top_level(path: Path) -> str:
    """Top-level unit of a file: the module name, or the subpackage a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    """Top-level ``lsc_utils`` units imported anywhere in a file (lazy imports included)."""
    units: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lsc_utils":
                names = [f"lsc_utils.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        units |= {name.split(".")[1] for name in names if name.startswith("lsc_utils.")}
    return units


FILES = sorted(p for p in PACKAGE.rglob("*.py") if "resources" not in p.parts)


def test_every_module_has_a_tier() -> None:
    assert {_top_level(p) for p in FILES} <= set(TIERS), sorted({_top_level(p) for p in FILES} - set(TIERS))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layer_rules(path: Path) -> None:
    unit = _top_level(path)
    tier = TIERS[unit]
    for imported in _imported_units(path) - {unit}:
        other = TIERS[imported]
        assert other in ALLOWED[tier], f"{unit} ({tier}) imports {imported} ({other})"
        assert not (tier == "analysis" and other == "analysis"), f"analysis {unit} imports analysis {imported}"


def test_the_rules_can_fail(tmp_path: Path) -> None:
    """The reader finds lazy imports inside functions, so an upward arrow cannot hide."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from lsc_utils.recsys import evaluate\n    import lsc_utils.run\n")
    assert _imported_units(probe) == {"recsys", "run"}


def test_personal_data_primitives_have_one_home() -> None:
    from lsc_utils import cleaning, pii, privacy, sqlengine, text

    assert text.mask_pii is pii.mask_pii and text.find_pii is pii.find_pii
    assert privacy.pseudonymize is pii.pseudonymize and privacy.load_pseudonym_key is pii.load_pseudonym_key
    assert cleaning.core.pseudonymize is pii.pseudonymize and sqlengine.pseudonymize is pii.pseudonymize


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 900, 80
"""Size limits of the house rules: a module a reader can hold, a function that does one thing."""


def _long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions (methods and nested ones included) of a file longer than ``limit`` lines, docstring included."""
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_900_lines_and_no_function_over_80(path: Path) -> None:
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path.name}: {n_lines} lines"
    assert _long_functions(path) == []


def test_the_size_rule_can_fail(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("class A:\n    def m(self):\n" + "        x = 1\n" * 80)
    assert _long_functions(probe) == ["m (81 lines)"]
