"""Circular time of day, feature choice and the habits of segments."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.portraits._input import (
    US_PER_DAY,
    ArrayLike,
    TableSource,
    _duckdb_scope,
    _register_table,
    _require,
    _sql_literal,
    _utc_ts_expr,
)
from lsc_utils.portraits.segments import DEFAULT_SEGMENT_FEATURES

# ---------------------------------------------------------------------------------------------
# Circular time of day, feature choice and segment habits
# ---------------------------------------------------------------------------------------------

ACTIVE_HOUR_COLUMNS: dict[str, str] = {
    "hour_sin": "mean of sin(2 pi * local time of day / 24 h) over the user's events",
    "hour_cos": "mean of cos(2 pi * local time of day / 24 h) over the user's events",
    "mean_hour": "circular mean local time of day in hours [0, 24) (null when the events show no preferred time)",
    "hour_concentration": "mean resultant length in [0, 1]: 1 = always the same time, 0 = spread around the clock",
}
"""Data dictionary of :func:`summarize_active_hours` output (besides ``user_id``)."""

NO_DIRECTION_TOLERANCE: float = 1e-9
"""Mean resultant length below which a set of times has no defined mean time of day."""


def _active_hours_sql(events: str, types: dict[str, str], timezone: str) -> str:
    """The single SQL statement of :func:`summarize_active_hours`.

    The local time of day is taken in [-12 h, 12 h) so that times symmetric around midnight give
    exactly opposite angles (23:00 and 01:00 cancel to a sine of exactly 0).
    """
    ts = _utc_ts_expr(types, "ts", "events")
    day_us = int(US_PER_DAY)
    half_day_us = day_us // 2
    local_us = f"epoch_us(timezone({_sql_literal(timezone)}, {ts}))"
    return f"""
        WITH clock AS (
            SELECT CAST(e.user_id AS VARCHAR) AS user_id,
                   ((({local_us} % {day_us}) + {day_us} + {half_day_us}) % {day_us}) - {half_day_us} AS tod_us
            FROM {events} e
            WHERE e.ts IS NOT NULL
        ),
        angles AS (
            SELECT user_id, 2 * pi() * CAST(tod_us AS DOUBLE) / {US_PER_DAY!r} AS theta FROM clock
        ),
        resultant AS (
            SELECT user_id, avg(sin(theta)) AS hour_sin, avg(cos(theta)) AS hour_cos
            FROM angles
            GROUP BY user_id
        ),
        hours AS (
            SELECT user_id, hour_sin, hour_cos,
                   sqrt(hour_sin * hour_sin + hour_cos * hour_cos) AS hour_concentration,
                   atan2(hour_sin, hour_cos) * 12 / pi() AS signed_hour
            FROM resultant
        )
        SELECT user_id, hour_sin, hour_cos,
               CASE
                   WHEN hour_concentration < {NO_DIRECTION_TOLERANCE!r} THEN NULL
                   WHEN signed_hour < 0 AND signed_hour + 24 < 24 THEN signed_hour + 24
                   WHEN signed_hour < 0 THEN 0.0
                   ELSE signed_hour
               END AS mean_hour,
               least(hour_concentration, 1.0) AS hour_concentration
        FROM hours
        ORDER BY user_id
    """


def summarize_active_hours(
    events: TableSource, timezone: str = "UTC", con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """Circular mean time of day of each user's events, in one DuckDB query.

    Each event is a point on the 24-hour clock circle at angle ``2 pi * t / 24 h`` (``t`` the local
    time of day, minutes and seconds included). The mean of the unit vectors gives ``hour_sin`` and
    ``hour_cos``; its direction is the circular mean hour (23:00 and 01:00 average to midnight, not
    noon) and its length the concentration (1: always the same time; 0: no preferred time, in which
    case ``mean_hour`` is null).

    Parameters
    ----------
    events : DataFrame, str or Path
        Canonical events, or a Parquet file / glob / dataset folder holding ``events.parquet``.
        Needs ``user_id`` and ``ts``.
    timezone : str
        IANA time zone of the local time of day (daylight saving time included).
    con : duckdb.DuckDBPyConnection, optional
        Connection to run on (default: a private in-memory connection). Temporary views are removed.

    Returns
    -------
    DataFrame
        One row per user sorted by ``user_id``: ``user_id`` and the columns of
        :data:`ACTIVE_HOUR_COLUMNS`.

    Raises
    ------
    DatasetError
        If ``user_id`` or ``ts`` is missing or ``ts`` is not a timestamp.
    """
    with _duckdb_scope(con) as (connection, registered):
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["user_id", "ts"], "events")
        hours = connection.execute(_active_hours_sql(name, types, timezone)).df()
    hours["user_id"] = hours["user_id"].astype("str")
    for column in ACTIVE_HOUR_COLUMNS:
        hours[column] = hours[column].astype(float)
    return hours.reset_index(drop=True)


def _unusable_reason(portraits: pd.DataFrame, feature: str) -> str | None:
    """Why a portrait column cannot be a clustering feature, or None when it can."""
    if feature not in portraits:
        return "not a portrait column"
    column = portraits[feature]
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        return "not numeric"
    known = column.dropna()
    if known.empty:
        return "no known value"
    if known.nunique() <= 1:
        return "constant"
    return None


def _split_usable(portraits: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The usable features (order kept, duplicates removed) and the reason of each unusable one."""
    usable: list[str] = []
    dropped: dict[str, str] = {}
    for feature in dict.fromkeys(features):
        reason = _unusable_reason(portraits, feature)
        if reason is None:
            usable.append(feature)
        else:
            dropped[feature] = reason
    return usable, dropped


def choose_segment_features(
    portraits: pd.DataFrame,
    preferred: Sequence[str],
    fallback: Sequence[str] = DEFAULT_SEGMENT_FEATURES,
    min_features: int = 2,
) -> tuple[list[str], dict[str, str]]:
    """Keep the preferred clustering features the data supports, else fall back to a default set.

    A feature is usable when it is a numeric portrait column with at least two distinct known
    values (a constant column, e.g. ``hour_sin`` of date-only data, or an all-null one, e.g.
    ``anchor_event_share`` without rooms, cannot separate users).

    Parameters
    ----------
    portraits : DataFrame
        Output of :func:`build_portraits` (plus any added columns).
    preferred : sequence of str
        Features wanted, in order.
    fallback : sequence of str
        Features used instead when fewer than ``min_features`` preferred ones are usable
        (default :data:`DEFAULT_SEGMENT_FEATURES`); its unusable features are left out as well.
    min_features : int
        Usable preferred features needed to keep them.

    Returns
    -------
    features : list of str
        The usable preferred features, or the usable fallback features (possibly empty).
    dropped : dict of str to str
        Each left-out feature with the reason (``"not a portrait column"``, ``"not numeric"``,
        ``"no known value"`` or ``"constant"``).

    Raises
    ------
    ValueError
        If ``min_features`` is not an int >= 1.
    """
    if isinstance(min_features, bool) or not isinstance(min_features, int | np.integer) or min_features < 1:
        raise ValueError(
            f"The 'min_features' parameter of choose_segment_features must be an int >= 1. Got {min_features!r} instead."
        )
    features, dropped = _split_usable(portraits, preferred)
    if len(features) >= min_features:
        return features, dropped
    features, dropped_fallback = _split_usable(portraits, fallback)
    return features, {**dropped, **dropped_fallback}


def _clock_components(portraits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (sin, cos) of the time of day: ``hour_sin``/``hour_cos``, else from ``mean_hour``, else null."""
    n = len(portraits)
    if {"hour_sin", "hour_cos"} <= set(portraits.columns):
        return portraits["hour_sin"].to_numpy(dtype=float), portraits["hour_cos"].to_numpy(dtype=float)
    if "mean_hour" in portraits:
        theta = 2 * np.pi * portraits["mean_hour"].to_numpy(dtype=float) / 24.0
        return np.sin(theta), np.cos(theta)
    return np.full(n, np.nan), np.full(n, np.nan)


def _typical_hours(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.DataFrame:
    """Circular mean hour and concentration of each segment (null without known hours)."""
    sin, cos = _clock_components(portraits)
    means = pd.DataFrame({"s": sin, "c": cos}).groupby(labels, sort=True).mean().reindex(segments)
    s, c = means["s"].to_numpy(dtype=float), means["c"].to_numpy(dtype=float)
    concentration = np.hypot(s, c)
    hour = np.mod(np.arctan2(s, c) * 12.0 / np.pi, 24.0)
    hour = np.where(hour >= 24.0, 0.0, hour)
    defined = np.isfinite(concentration) & (concentration >= NO_DIRECTION_TOLERANCE)
    return pd.DataFrame(
        {"typical_hour": np.where(defined, hour, np.nan), "hour_concentration": np.minimum(concentration, 1.0)}
    )


def _main_channels(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.DataFrame:
    """Channel with the largest mean share in each segment (ties: alphabetical), and that share."""
    prefix = "channel_share_"
    columns = sorted(c for c in portraits.columns if c.startswith(prefix))
    if not columns:
        return pd.DataFrame(
            {"main_channel": pd.Series([None] * len(segments), dtype="str"), "main_channel_share": np.nan}
        )
    means = portraits[columns].astype(float).groupby(labels, sort=True).mean().reindex(segments)
    values = means.to_numpy(dtype=float)
    known = ~np.isnan(values).all(axis=1)
    best = np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)
    names = np.array([c[len(prefix) :] for c in columns], dtype=object)
    share = np.where(known, values[np.arange(len(segments)), best], np.nan)
    channel = pd.Series(np.where(known, names[best], None), dtype="str")
    return pd.DataFrame({"main_channel": channel, "main_channel_share": share})


def _top_categories(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.Series:
    """Most frequent ``top_category_1`` of each segment (ties: alphabetical; null when unknown)."""
    if "top_category_1" not in portraits:
        return pd.Series([None] * len(segments), dtype="str")
    frame = pd.DataFrame({"segment": labels, "category": portraits["top_category_1"].astype("str").to_numpy()})
    counts = frame.dropna().groupby(["segment", "category"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["segment", "n", "category"], ascending=[True, False, True], kind="stable")
    top = counts.drop_duplicates("segment").set_index("segment")["category"]
    return pd.Series(top.reindex(segments).to_numpy(), dtype="str")


def describe_segment_habits(portraits: pd.DataFrame, labels: ArrayLike) -> pd.DataFrame:
    """When, through which channel and for which category each segment shows up.

    Parameters
    ----------
    portraits : DataFrame
        Portraits with the columns of :func:`summarize_active_hours` (``hour_sin``/``hour_cos``, or
        ``mean_hour``), the ``channel_share_<channel>`` columns and ``top_category_1``; an absent
        column gives null habits.
    labels : array-like of int
        Segment of each portrait row (e.g. ``SegmentationResult.labels``).

    Returns
    -------
    DataFrame
        One row per segment (ascending): ``segment``; ``typical_hour``, the circular mean of the
        members' mean times of day in hours [0, 24) (null when undefined) and
        ``hour_concentration``, its mean resultant length; ``main_channel``, the channel with the
        largest mean share (ties: alphabetical) and ``main_channel_share``, that mean share; and
        ``top_category``, the most frequent ``top_category_1`` (ties: alphabetical).

    Raises
    ------
    ValueError
        If ``labels`` does not have one label per portrait row.
    """
    labels_arr = np.asarray(labels)
    if len(labels_arr) != len(portraits):
        raise ValueError(
            f"The 'labels' parameter must have one label per portrait row ({len(portraits)}). Got {len(labels_arr)} instead."
        )
    segments = np.unique(labels_arr)
    habits = pd.concat(
        [
            pd.DataFrame({"segment": segments}),
            _typical_hours(portraits, labels_arr, segments),
            _main_channels(portraits, labels_arr, segments),
        ],
        axis=1,
    )
    habits["top_category"] = _top_categories(portraits, labels_arr, segments)
    return habits


def hour_weekday_shares(
    events: TableSource, timezone: str = "UTC", con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """Share of all events by local weekday and hour of day, in one DuckDB aggregate.

    Parameters
    ----------
    events : DataFrame, str or Path
        Canonical events, or a Parquet file / glob / dataset folder holding ``events.parquet``. Needs ``ts``.
    timezone : str
        IANA time zone of the local clock (daylight saving time included).
    con : duckdb.DuckDBPyConnection, optional
        Connection to run on (default: a private in-memory connection).

    Returns
    -------
    DataFrame
        Rows 0 (Monday) to 6 (Sunday), columns the hours 0 to 23, every cell present (0 when no event);
        the cells sum to 1 (``pandas.crosstab(..., normalize=True)`` of the local weekday and hour).
        ``attrs["clock_minutes"]`` is the number of distinct local times of day (hour and minute): 1 when
        the source records dates only.
    """
    with _duckdb_scope(con) as (connection, registered):
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["ts"], "events")
        local = f"timezone({_sql_literal(timezone)}, {_utc_ts_expr(types, 'ts', 'events')})"
        counts = connection.execute(
            f"""SELECT isodow({local}) - 1 AS weekday, hour({local}) AS hour, count(*) AS n
            FROM {name} WHERE ts IS NOT NULL GROUP BY ALL"""
        ).df()
        minutes = connection.execute(
            f"SELECT count(DISTINCT hour({local}) * 60 + minute({local})) FROM {name} WHERE ts IS NOT NULL"
        ).fetchone()[0]
    table = counts.pivot(index="weekday", columns="hour", values="n").reindex(index=range(7), columns=range(24))
    table = table.fillna(0.0).astype(float)
    total = table.to_numpy().sum()
    table = table / total if total else table
    table.attrs["clock_minutes"] = int(minutes)
    return table


def purchase_day_range(
    events: TableSource,
    timezone: str = "UTC",
    purchase_events: Sequence[str] = PURCHASE_EVENTS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last local calendar day with a purchase event (naive local midnights), or None.

    Parameters
    ----------
    events : DataFrame, str or Path
        Canonical events or a Parquet path. Needs ``ts`` and ``event_type``.
    timezone : str
        IANA time zone of the local calendar.
    purchase_events : sequence of str
        Event types that are purchases.
    con : duckdb.DuckDBPyConnection, optional
    """
    with _duckdb_scope(con) as (connection, registered):
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["ts", "event_type"], "events")
        local = f"timezone({_sql_literal(timezone)}, {_utc_ts_expr(types, 'ts', 'events')})"
        kinds = ", ".join(_sql_literal(k) for k in purchase_events)
        first, last = connection.execute(
            f"SELECT min({local}), max({local}) FROM {name} WHERE event_type IN ({kinds})"
        ).fetchone()
    if first is None:
        return None
    return pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
