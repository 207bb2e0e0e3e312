"""Train/test splits of interactions (temporal and stratified random)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.constants import SEED
from lsc_utils.recsys._common import _check_float, _scalar_to_days, _to_days
from lsc_utils.schema import DatasetError

# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def temporal_split(
    events: pd.DataFrame,
    test_fraction: float | None = None,
    cutoff: Any = None,
    time_col: str = "ts",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split events at one global time: train = before the cutoff, test = at or after it.

    Parameters
    ----------
    events : pandas.DataFrame
        Rows with a time column.
    test_fraction : float, optional
        Share of rows (by time order) to put in the test set, in (0, 1); the cutoff is the time of
        the first test row, so rows tied with it also go to test.
    cutoff : timestamp or number, optional
        Explicit cutoff time. Exactly one of ``test_fraction`` and ``cutoff`` must be given.
    time_col : str, default "ts"
        Time column.

    Returns
    -------
    train, test : pandas.DataFrame
    """
    owner = "temporal_split"
    _require_columns(events, [time_col], "events")
    if (test_fraction is None) == (cutoff is None):
        raise ValueError(f"{owner} needs exactly one of 'test_fraction' and 'cutoff'. Got both or neither.")
    times = events[time_col]
    if test_fraction is not None:
        fraction = _check_float(test_fraction, "test_fraction", owner, 0.0, 1.0, low_open=True)
        if fraction >= 1.0:
            raise ValueError(f"The 'test_fraction' parameter of {owner} must be < 1. Got {test_fraction!r} instead.")
        ordered = np.sort(_to_days(times))
        position = min(len(ordered) - 1, int(math.floor(len(ordered) * (1.0 - fraction))))
        is_test = _to_days(times) >= ordered[position]
    else:
        is_test = _to_days(times) >= _scalar_to_days(cutoff, times)
    return events[~is_test], events[is_test]


def stratified_random_split(
    data: pd.DataFrame,
    test_size: float = 0.25,
    random_state: int | None = SEED,
    user_col: str = "user_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split, as Microsoft Recommenders' ``python_stratified_split``.

    Each user's rows are shuffled; a row goes to train when its position / the user's row count
    is <= 1 - test_size, so every user keeps about (1 - test_size) of their rows in train (a user
    with a single row lands in test, as in the reference).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per interaction.
    test_size : float, default 0.25
        Share of each user's rows that goes to test, in (0, 1).
    random_state : int, optional
        Seed (numpy ``default_rng``).
    user_col : str, default "user_id"
        User column.

    Returns
    -------
    train, test : pandas.DataFrame
        Rows of ``data`` in their original order.
    """
    _require_columns(data, [user_col], "data")
    test_size = _check_float(test_size, "test_size", "stratified_random_split", 0.0, 1.0, low_open=True)
    if test_size >= 1.0:
        raise ValueError(f"The 'test_size' parameter of stratified_random_split must be < 1. Got {test_size!r}.")
    if data[user_col].isna().any():
        raise DatasetError(f"data: column '{user_col}' has {int(data[user_col].isna().sum())} null values.")
    codes, _ = pd.factorize(data[user_col], sort=True)
    noise = np.random.default_rng(random_state).random(len(data))
    order = np.lexsort((noise, codes))
    sorted_codes = codes[order]
    rank = np.arange(len(data)) - np.searchsorted(sorted_codes, sorted_codes, side="left") + 1
    share = np.empty(len(data), dtype=np.float64)
    share[order] = rank / np.bincount(codes)[sorted_codes]
    in_train = share <= 1.0 - test_size
    return data[in_train], data[~in_train]
