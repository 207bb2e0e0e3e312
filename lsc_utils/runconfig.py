"""Run configs and notebook parameters, checked before any kernel starts.

A run config (``configs/*.yaml``) is validated against :class:`RunConfig` (pydantic): an unknown key
is refused with the nearest valid one (``paramters`` → ``parameters``), a value of the wrong kind with
its key. Notebook parameters, from the config or from ``-p NAME=VALUE``, are checked against the type
each notebook declares in its ``parameters`` cell (``RANDOM_STATE: int = 42``), and text parameters
whose help says they hold a date (``ISO``) or a duration (``duration``) must parse as one. Every
problem is one line naming the file or flag, the parameter, the notebook, what was expected and what
was given.
"""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator


class ConfigError(Exception):
    """A config or parameter problem found before anything runs (a usage error, exit status 2)."""


class RunConfig(BaseModel):
    """The keys of a run config; any other key is an error."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    data: str | None = None
    notebooks: str | list[str] = "all"
    parameters: dict[str, Any] = {}
    notebook_parameters: dict[str, dict[str, Any]] = {}

    @field_validator("parameters", "notebook_parameters", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("notebooks", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v).zfill(2) if isinstance(v, int) else v for v in value]
        return "all" if value is None else value


def nearest(name: str, candidates: list[str] | set[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _describe_error(file: Path, error: dict[str, Any]) -> str:
    """One line for the first problem pydantic found."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        return f"config file {file}: unknown key '{where}'{nearest(key, set(RunConfig.model_fields))}."
    return f"config file {file}: '{where}' {error['msg'].lower()} (got {error.get('input')!r})."


def read_config(file: Path) -> dict[str, Any]:
    """Read and validate a run config; problems are one-line :class:`ConfigError` messages."""
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {file} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {file} must hold a mapping (name, data, parameters ...).")
    try:
        config = RunConfig.model_validate(raw).model_dump()
    except ValidationError as exc:
        raise ConfigError(_describe_error(file, exc.errors()[0])) from None
    config["name"] = config["name"] or file.stem
    return config


TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}
"""Python values accepted for each type a notebook can declare (a float parameter accepts 30)."""


def _format_problem(value: Any, spec: dict[str, Any]) -> str | None:
    """What is wrong with a text value whose help declares a date or a duration, or None."""
    help_text = str(spec.get("help") or "")
    if not isinstance(value, str) or not value.strip():
        return None
    if "ISO" in help_text:
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return "an ISO date or moment such as 2024-05-01 or 2024-05-01T20:00"
    if "duration" in help_text:
        try:
            pd.Timedelta(value)
        except (ValueError, TypeError):
            return "a duration such as 30min, 1D or 2h"
    return None


def coerce_parameter(value: Any, spec: dict[str, Any]) -> Any:
    """Read a value as the declared type where that is lossless: a YAML date for a text parameter
    becomes its ISO text (``CALIBRATION_END: 2024-05-01`` unquoted), an integer for a float parameter
    a float. Anything else is left for :func:`check_parameter` to judge."""
    declared = spec.get("inferred_type_name")
    if declared == "str" and isinstance(value, dt.date):
        return value.isoformat()
    if declared == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_parameter(name: str, value: Any, spec: dict[str, Any], notebook: str, source: str) -> None:
    """Refuse a value that does not fit the type (or date/duration format) a notebook declares.

    Parameters
    ----------
    name, value
        The parameter and its value as given.
    spec : dict
        The declaration read by ``papermill.inspect_notebook`` (``inferred_type_name``, ``help``).
    notebook : str
        The notebook declaring it (named in the message).
    source : str
        Where the value came from (``-p``, ``config 'parameters'`` ...).

    Raises
    ------
    ConfigError
        One line naming source, parameter, notebook, expected type and value.
    """
    declared = str(spec.get("inferred_type_name") or "None")
    accepted = TYPES.get(declared)
    wrong_type = accepted is not None and (
        not isinstance(value, accepted) or (declared != "bool" and isinstance(value, bool))
    )
    if wrong_type:
        raise ConfigError(
            f"{source}: parameter {name} of {notebook} must be {declared}, got {value!r} ({type(value).__name__})."
        )
    expected = _format_problem(value, spec)
    if expected:
        raise ConfigError(f"{source}: parameter {name} of {notebook} must be {expected}, got {value!r}.")
