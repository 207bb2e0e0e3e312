"""Best time to go live: room KPIs by local hour of the week, and ranked groups with bootstrap intervals.

* :func:`start_slots` places each room's start in a local weekday (0 = Monday) and hour, in the
  dataset's time zone (e.g. ``meta["timezone"]``); canonical timestamps are UTC, so a room starting
  at 17:00 UTC on a Sunday starts at 01:00 on Monday in Asia/Shanghai.
* :func:`hour_of_week_table` averages room KPIs (UV, GPM, conversion) over the rooms started in each
  slot; every room weighs the same, and a room with a null KPI (a zero denominator) is left out of
  that KPI's mean but counted in ``n_rooms``.
* :func:`rank_groups` ranks groups (category, anchor, slot, stream-length band...) by the mean of a
  value, with percentile bootstrap intervals: each group's rows are resampled with replacement,
  within the group, ``n_boot`` times from a seeded :class:`numpy.random.Generator` (one child seed
  per group, in sorted group order), so results are identical for the same input and seed. Groups
  with fewer than ``min_size`` rows are listed and flagged ``small`` but not ranked: a handful of
  rooms cannot support a "best" claim however high their mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.checks import DatasetError, check_int, check_timezone, missing_columns_error, require_columns

WEEKDAY_NAMES: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Short weekday names, index 0 = Monday (pandas ``day_of_week``)."""

HOUR_OF_WEEK_VALUES: tuple[str, ...] = ("uv", "gpm", "conversion_rate")
"""KPIs of :func:`lsc_utils.live.room_kpis` that :func:`hour_of_week_table` averages by default."""

BOOTSTRAP_CELLS: int = 2_000_000
"""Largest number of resampled values drawn at once by :func:`rank_groups` (bounds its memory)."""


def _utc(values: pd.Series, column: str, table: str) -> pd.Series:
    """A timestamp column in UTC (naive values read as UTC), else a one-line DatasetError."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        raise DatasetError(f"{table}: column '{column}' must hold timestamps; got {values.dtype} instead.")
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")


def start_slots(rooms: pd.DataFrame, timezone: str = "UTC") -> pd.DataFrame:
    """Local weekday and hour of each room's start.

    Parameters
    ----------
    rooms : pandas.DataFrame
        Canonical rooms with ``room_id, start_ts``; or stays with ``room_id, enter_ts`` (output of
        :func:`lsc_utils.live.build_stays`), when a room's start is taken as its first entry.
    timezone : str, default "UTC"
        IANA time zone of the local clock, e.g. the dataset's ``meta["timezone"]``.

    Returns
    -------
    pandas.DataFrame
        One row per room with a start, sorted by room: ``room_id, start_local`` (timestamp in
        ``timezone``), ``weekday`` (0 = Monday), ``weekday_name``, ``hour`` (0-23) and
        ``hour_of_week`` (``24 * weekday + hour``).

    Raises
    ------
    DatasetError
        ``room_id`` and both ``start_ts`` and ``enter_ts`` are missing, or the start is no timestamp.
    """
    owner = "start_slots"
    timezone = check_timezone(timezone, "timezone", owner)
    if not isinstance(rooms, pd.DataFrame):
        raise TypeError(f"The rooms table must be a pandas DataFrame. Got {type(rooms).__name__} instead.")
    column = "start_ts" if "start_ts" in rooms.columns else "enter_ts"
    if "room_id" not in rooms.columns or column not in rooms.columns:
        missing = [c for c in ("room_id", "start_ts") if c not in rooms.columns]
        raise missing_columns_error("rooms", missing, list(rooms.columns), owner)
    frame = pd.DataFrame({"room_id": rooms["room_id"], "start": _utc(rooms[column], column, "rooms")})
    frame = frame.dropna().groupby("room_id", sort=True)["start"].min().reset_index()
    local = frame["start"].dt.tz_convert(timezone)
    weekday = local.dt.day_of_week.astype("int64")
    hour = local.dt.hour.astype("int64")
    return pd.DataFrame(
        {
            "room_id": frame["room_id"],
            "start_local": local,
            "weekday": weekday,
            "weekday_name": weekday.map(dict(enumerate(WEEKDAY_NAMES))),
            "hour": hour,
            "hour_of_week": 24 * weekday + hour,
        }
    )


def hour_of_week_table(
    rooms: pd.DataFrame,
    kpis: pd.DataFrame,
    timezone: str = "UTC",
    values: Sequence[str] = HOUR_OF_WEEK_VALUES,
) -> pd.DataFrame:
    """Mean room KPIs by local weekday and hour of the room's start.

    Parameters
    ----------
    rooms : pandas.DataFrame
        Rooms (``room_id, start_ts``) or stays (``room_id, enter_ts``), as in :func:`start_slots`.
    kpis : pandas.DataFrame
        One row per room with ``room_id`` and the ``values`` columns (output of
        :func:`lsc_utils.live.room_kpis`).
    timezone : str, default "UTC"
        IANA time zone of the local clock, e.g. the dataset's ``meta["timezone"]``.
    values : sequence of str, default ``("uv", "gpm", "conversion_rate")``
        KPI columns to average.

    Returns
    -------
    pandas.DataFrame
        One row per slot with at least one room, sorted by ``hour_of_week``: ``weekday,
        weekday_name, hour, hour_of_week, n_rooms`` (rooms started in the slot) and ``<value>_mean``
        per value (mean over the slot's rooms with a non-null value).

    Raises
    ------
    DatasetError
        A required column is missing or the start is no timestamp.
    """
    owner = "hour_of_week_table"
    values = list(values)
    require_columns(kpis, ["room_id", *values], "kpis", owner)
    slots = start_slots(rooms, timezone)
    kpi = kpis[["room_id", *values]].drop_duplicates("room_id")
    merged = slots.merge(kpi, on="room_id", how="left")
    merged[values] = merged[values].astype("float64")
    keys = ["weekday", "weekday_name", "hour", "hour_of_week"]
    out = merged.groupby(keys, sort=True).agg(n_rooms=("room_id", "size"), **{f"{v}_mean": (v, "mean") for v in values})
    out = out.reset_index().sort_values("hour_of_week", ignore_index=True)
    return out.astype({"n_rooms": "int64"})


def _bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` means of resamples of ``x`` with replacement, drawn in chunks of at most :data:`BOOTSTRAP_CELLS`."""
    n = len(x)
    chunk = max(1, BOOTSTRAP_CELLS // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def _check_rank_args(frame: Any, value: str, by: list[str], confidence: Any, owner: str) -> pd.Series:
    """Check the table and ``confidence``; return ``value`` as float64."""
    require_columns(frame, [value, *by], "frame", owner)
    if not by:
        raise ValueError(f"The 'by' parameter of {owner} must name at least one column. Got [] instead.")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.floating) or not 0 < confidence < 1:
        raise ValueError(
            f"The 'confidence' parameter of {owner} must be a number in (0, 1). Got {confidence!r} instead."
        )
    column = frame[value]
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        raise DatasetError(f"frame: column '{value}' must be numeric for {owner}; got {column.dtype} instead.")
    return column.astype("float64")


def rank_groups(
    frame: pd.DataFrame,
    value: str,
    by: str | Sequence[str],
    confidence: float = 0.95,
    n_boot: int = 1000,
    random_state: int = 0,
    min_size: int = 30,
) -> pd.DataFrame:
    """Groups ranked by the mean of ``value``, with percentile bootstrap confidence intervals.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per unit (room, stay...) with ``value`` and the ``by`` columns.
    value : str
        Numeric column to average (watch time, GPM, a 0/1 retention flag...); null values are dropped.
    by : str or sequence of str
        Group columns (category, anchor, weekday and hour...); null keys form their own group.
    confidence : float, default 0.95
        Level of the intervals.
    n_boot : int, default 1000
        Bootstrap resamples per group.
    random_state : int, default 0
        Seed of the :class:`numpy.random.Generator`; one child seed per group in sorted group order.
    min_size : int, default 30
        Groups with fewer non-null values are flagged ``small`` and not ranked.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n`` (non-null values), ``mean``, ``ci_low``,
        ``ci_high`` (percentiles of the bootstrap means; equal to the mean for one value, null for
        none), ``small`` and ``rank`` (1 = highest mean among groups that are not small; null for
        small groups). Ranked groups come first by rank, then small groups by mean, descending.

    Raises
    ------
    DatasetError
        A required column is missing or ``value`` is not numeric.
    """
    owner = "rank_groups"
    keys = [by] if isinstance(by, str) else list(by)
    x_all = _check_rank_args(frame, value, keys, confidence, owner)
    n_boot = check_int(n_boot, "n_boot", owner)
    random_state = check_int(random_state, "random_state", owner, minimum=0)
    min_size = check_int(min_size, "min_size", owner)
    data = frame[keys].assign(_x=x_all.to_numpy())
    groups = list(data.groupby(keys, sort=True, dropna=False))
    seeds = np.random.SeedSequence(random_state).spawn(len(groups))
    alpha = (1 - float(confidence)) / 2
    rows = []
    for (key, part), seed in zip(groups, seeds, strict=True):
        x = part["_x"].dropna().to_numpy()
        mean = low = high = float("nan")
        if len(x):
            mean = float(x.mean())
            boot = _bootstrap_means(x, n_boot, np.random.default_rng(seed))
            low, high = (float(q) for q in np.quantile(boot, [alpha, 1 - alpha]))
        rows.append({**dict(zip(keys, key, strict=True)), "n": len(x), "mean": mean, "ci_low": low, "ci_high": high})
    out = pd.DataFrame(rows, columns=[*keys, "n", "mean", "ci_low", "ci_high"])
    out["small"] = out["n"] < min_size
    out = out.sort_values(["small", "mean"], ascending=[True, False], na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    ranked = (~out["small"]).cumsum().where(~out["small"])
    out["rank"] = ranked.astype("Int64")
    return out.astype({"n": "int64"})
