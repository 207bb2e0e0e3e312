"""Install the packages pinned in ``[tool.lsc-lab] no-deps`` of pyproject.toml without their dependencies.

pycanon (the reference of the anonymity measures in tests) pins exact numpy, pandas and scipy versions
that conflict with ours; its code runs on our pins, so it is installed with ``--no-deps``.
Usage: ``python scripts/install_nodeps.py`` (``make venv`` runs it).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path


def no_deps_pins(pyproject: Path) -> list[str]:
    """The exact pins listed under ``[tool.lsc-lab] no-deps``."""
    return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["lsc-lab"]["no-deps"])


def main() -> int:
    pins = no_deps_pins(Path(__file__).resolve().parents[1] / "pyproject.toml")
    if not pins:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *pins])


if __name__ == "__main__":
    sys.exit(main())
