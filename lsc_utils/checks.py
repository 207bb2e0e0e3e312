"""Parameter and column checks shared by every module; messages name the parameter, its owner and the value.

This is a leaf module: it imports only the standard library and numpy/pandas, so every tier may use it.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


class DatasetError(ValueError):
    """A dataset, table or file cannot be used as given; the message says where and why."""


def check_int(value: Any, name: str, owner: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an int >= ``minimum`` (bools refused), else raise a ValueError.

    Example message: ``The 'min_support' parameter of frequent_paths must be an int >= 1. Got 0 instead.``
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_choice(value: Any, name: str, owner: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them."""
    if value not in choices:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {', '.join(map(repr, choices))}. Got {value!r} instead."
        )
    return str(value)


def check_timezone(value: Any, name: str, owner: str) -> str:
    """Return ``value`` if it is an IANA time-zone name (``'Asia/Shanghai'``), else raise a ValueError."""
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        ok = False
    else:
        ok = isinstance(value, str) and bool(value)
    if not ok:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be an IANA time-zone name such as 'Asia/Shanghai'. "
            f"Got {value!r} instead."
        )
    return value


def check_positive(value: Any, name: str, owner: str) -> float:
    """Return ``value`` as float if it is a number > 0 (bools refused), else raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not value > 0:
        raise ValueError(f"The '{name}' parameter of {owner} must be a number > 0. Got {value!r} instead.")
    return float(value)


def require_columns(frame: Any, columns: Sequence[str], table: str, owner: str | None = None) -> None:
    """Raise one clear error if ``frame`` is not a DataFrame or lacks any of ``columns``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to check.
    columns : sequence of str
        Required column names.
    table : str
        What the table is called in the message: a parameter name (``"recs"``) or a file name.
    owner : str, optional
        The function that needs the columns, named in the message when given.

    Raises
    ------
    TypeError
        ``frame`` is not a pandas DataFrame.
    DatasetError
        Columns are missing; the message lists them and the columns found, on one line.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"The {table} table must be a pandas DataFrame. Got {type(frame).__name__} instead.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise missing_columns_error(table, missing, list(frame.columns), owner)


def missing_columns_error(
    table: str, missing: Sequence[str], found: Sequence[Any], owner: str | None = None
) -> DatasetError:
    """The one-line error of missing required columns (also for tables known only by their schema).

    Example: ``events: required column 'ts' missing for funnel (columns found: user_id, event_type).``
    """
    needed_by = f" for {owner}" if owner else ""
    return DatasetError(
        f"{table}: required column{'s' if len(missing) > 1 else ''} "
        f"{', '.join(repr(c) for c in missing)} missing{needed_by} "
        f"(columns found: {', '.join(map(str, found))})."
    )


RESIDENT_ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"
"""GB 11643-1999 (ISO 7064 MOD 11-2): check character = ``RESIDENT_ID_CHECK[sum(d_i * w_i) mod 11]``."""


def resident_id_check_character(body: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident identity number."""
    return RESIDENT_ID_CHECK[sum(int(d) * w for d, w in zip(body[:17], RESIDENT_ID_WEIGHTS, strict=True)) % 11]
