"""environment.yml must pin exactly what pyproject.toml pins (runtime, dev and the spark extra)."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import REPO

PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_environment_yml_mirrors_pyproject_pins() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    expected = _pins(project["dependencies"] + extras["dev"] + extras["spark"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _pins(pip_section) == expected


def test_every_environment_dependency_has_a_comment() -> None:
    lines = [ln for ln in (REPO / "environment.yml").read_text().splitlines() if "==" in ln]
    assert lines and all("#" in ln.split("==", 1)[1] for ln in lines)


def test_no_deps_pins_are_documented_in_environment_yml() -> None:
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["lsc-lab"]["no-deps"]
    text = (REPO / "environment.yml").read_text()
    assert pins and all(f"pip install --no-deps {pin}" in text for pin in pins)
