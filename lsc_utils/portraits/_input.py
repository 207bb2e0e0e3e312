"""Column contracts of portraits and reading event tables (pandas frames or Parquet paths) into DuckDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from lsc_utils.checks import missing_columns_error
from lsc_utils.io import existing_table
from lsc_utils.schema import DatasetError
from lsc_utils.sqlengine import DuckDBEngine, SparkEngine, SqlEngine, capped_connection, engine_scope

TableSource = pd.DataFrame | str | Path
"""A canonical table given as a pandas frame, a Parquet file (or glob) or a dataset folder."""

ArrayLike = Sequence[float] | np.ndarray | pd.Series

US_PER_DAY: float = 86_400e6
"""Microseconds per day."""

EVENING_HOURS: tuple[int, int] = (18, 24)
"""Local hours counted as evening, as a half-open interval [18, 24)."""

TIER_LABELS: tuple[str, ...] = ("low", "mid", "high", "premium")
"""Purchasing-power tiers, lowest first."""

LIFECYCLE_STAGES: tuple[str, ...] = ("new", "active", "at_risk", "dormant", "churned")
"""Lifecycle stages, in the order the rules are applied."""

UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0}
"""Length in days of the time units of :func:`summarize_transactions` (M = mean Gregorian month)."""

DAYS_PER_MONTH: float = 365.25 / 12.0
"""Days in a month for the CLV horizon and monthly discounting."""

USER_COLUMNS: tuple[str, ...] = (
    "gender",
    "age",
    "region",
    "city_tier",
    "member_level",
    "device",
    "signup_ts",
    "consent_personalization",
    "consent_marketing",
)
"""Columns of the users table carried into the portraits (never the raw PII columns)."""

ENGAGEMENT_EVENTS: tuple[str, ...] = ("like", "comment", "share", "gift")
"""Event types counted as engagement with a live room."""

_OPTIONAL_EVENT_COLUMNS: dict[str, str] = {
    "item_id": "VARCHAR",
    "room_id": "VARCHAR",
    "session_id": "VARCHAR",
    "price": "DOUBLE",
    "quantity": "DOUBLE",
    "order_id": "VARCHAR",
    "channel": "VARCHAR",
}

PORTRAIT_COLUMNS: dict[str, str] = {
    "user_id": "pseudonymous user id",
    "n_events": "events of the user",
    "n_sessions": "distinct sessions (session_id; a 30-minute inactivity gap where it is null)",
    "events_per_session": "n_events / n_sessions",
    "first_seen": "first event (UTC)",
    "last_seen": "last event (UTC)",
    "tenure_days": "days from first_seen to as_of",
    "days_since_last_seen": "days from last_seen to as_of",
    "is_buyer": "at least one purchase",
    "frequency": "distinct orders (order_id; a purchase without order_id is an order of its own)",
    "n_purchase_days": "distinct local days with a purchase",
    "n_purchase_lines": "purchase events",
    "units": "purchased quantity (null quantity = 1)",
    "first_purchase": "first purchase (UTC)",
    "last_purchase": "last purchase (UTC)",
    "recency_days": "days from last purchase to as_of (null for non-buyers)",
    "days_since_first_purchase": "days from first purchase to as_of (null for non-buyers)",
    "mean_interpurchase_days": "(last - first purchase) / (n_purchase_days - 1); null below 2 purchase days",
    "monetary": "gross revenue sum(price * quantity) of purchases with a known price; 0 for non-buyers",
    "monetary_coverage": "share of purchase lines with a known price",
    "aov": "average order value: monetary / orders with a known price",
    "refund_value": "sum(price * |quantity|) of refund events",
    "net_monetary": "monetary - refund_value",
    "purchase_rate": "share of sessions with a purchase",
    "likes_per_session": "like events / n_sessions",
    "comments_per_session": "comment events / n_sessions",
    "shares_per_session": "share events / n_sessions",
    "engagement_per_session": "(like + comment + share + gift events) / n_sessions",
    "n_categories": "distinct item categories interacted with",
    "top_category_1..3": "most frequent categories of the user's item events (ties: alphabetical)",
    "top_category_k_share": "share of the user's categorised item events in that category",
    "top_brand": "most frequent brand of the user's item events",
    "top_brand_share": "share of the user's branded item events with top_brand",
    "brand_loyalty": "share of the user's branded purchase lines with their most purchased brand",
    "top_anchor_id": "anchor of the rooms with most of the user's room events",
    "anchor_event_share": "share of the user's room events (known anchor) with top_anchor_id",
    "anchor_purchase_share": "share of the user's room purchases (known anchor) with top_anchor_id",
    "peak_hour": "local hour with most events (ties: earliest)",
    "evening_share": "share of events in local hours [18, 24)",
    "peak_weekday": "local weekday with most events, 0 = Monday (ties: earliest)",
    "weekend_share": "share of events on Saturday or Sunday",
    "channel_share_<channel>": "share of events with a known channel that came from <channel>",
    "n_<event_type>": "events of each canonical type",
    "lifecycle_stage": "new / active / at_risk / dormant / churned (see LifecycleRules)",
    "purchasing_power": "low / mid / high / premium from the quantiles of monetary and AOV (null: unknown)",
    "r_score, f_score, m_score": "RFM quintile scores 1..5 among buyers (5 = best)",
    "rfm_cell": "the three scores as a string, e.g. '545' (null for non-buyers)",
    "gender, age, region, city_tier, member_level, device, signup_ts": "carried from users (null when unknown)",
    "consent_personalization, consent_marketing": "carried from users; null (unknown) without a users table",
}
"""Data dictionary of :func:`build_portraits` output."""


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------


def _sql_literal(text: str) -> str:
    """Quote a string as a SQL literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _parquet_path(source: str | Path, table: str) -> str:
    """Resolve a Parquet file, a glob or a dataset folder to the path DuckDB reads."""
    if any(ch in str(source) for ch in "*?["):
        return str(source)
    return str(existing_table(source, table))


def _register_table(
    con: duckdb.DuckDBPyConnection, source: TableSource, table: str, registered: list[str]
) -> tuple[str, dict[str, str]]:
    """Expose a frame or Parquet path to DuckDB under a unique name; return the name and column types."""
    name = f"_lsc_{table}_{uuid.uuid4().hex[:12]}"
    if isinstance(source, pd.DataFrame):
        con.register(name, source)
    elif isinstance(source, str | Path):
        path = _parquet_path(source, table)
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet({_sql_literal(path)})")
    else:
        raise TypeError(
            f"The '{table}' argument must be a pandas DataFrame or a Parquet path. Got {type(source).__name__} instead."
        )
    registered.append(name)
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {name}").fetchall()}
    return name, types


@contextmanager
def _duckdb_scope(con: duckdb.DuckDBPyConnection | None) -> Iterator[tuple[duckdb.DuckDBPyConnection, list[str]]]:
    """A connection for one call (the caller's, or a new one closed afterwards) and the list of views
    the call registers, dropped on exit whatever happens."""
    own = con is None
    connection = capped_connection() if own else con
    registered: list[str] = []
    try:
        yield connection, registered
    finally:
        _release(connection, registered)
        if own:
            connection.close()


Register = Callable[[TableSource, str], tuple[str, dict[str, str]]]
"""Expose a table (frame or Parquet path) to the engine under a unique name: ``(name, column types)``."""


@contextmanager
def _engine_scope(con: duckdb.DuckDBPyConnection | None, engine: str) -> Iterator[tuple[SqlEngine, Register]]:
    """The engine of one call and how to register its tables on it.

    ``"duckdb"`` runs on ``con`` (or a private connection) and drops its views on exit; ``"spark"``
    runs the same statements, transpiled, on :func:`lsc_utils.sqlengine.spark_session` (frames become
    Spark tables, Parquet paths are read where they lie).
    """
    views: list[list[str]] = []  # the list of views _duckdb_scope drops on exit

    @contextmanager
    def open_duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
        with _duckdb_scope(con) as (connection, registered):
            views.append(registered)
            yield connection

    with engine_scope(engine, open_duckdb) as runner:
        if isinstance(runner, DuckDBEngine):
            yield runner, lambda source, table: _register_table(runner.con, source, table, views[0])
        else:
            yield runner, lambda source, table: _register_on_spark(runner, source, table)


def _register_on_spark(spark: SparkEngine, source: TableSource, table: str) -> tuple[str, dict[str, str]]:
    """Expose a frame or Parquet path to Spark under a unique name; return the name and column types."""
    name = f"_lsc_{table}_{uuid.uuid4().hex[:12]}"
    if isinstance(source, pd.DataFrame):
        spark.register_frame(name, source)
    elif isinstance(source, str | Path):
        spark.view(name, f"SELECT * FROM read_parquet({_sql_literal(_parquet_path(source, table))})")
    else:
        raise TypeError(
            f"The '{table}' argument must be a pandas DataFrame or a Parquet path. Got {type(source).__name__} instead."
        )
    return name, spark.column_types(name)


def _release(con: duckdb.DuckDBPyConnection, registered: list[str]) -> None:
    """Drop the temporary views and registrations made for one call."""
    for name in registered:
        con.execute(f"DROP VIEW IF EXISTS {name}")
        try:
            con.unregister(name)
        except duckdb.Error:
            pass


def _require(types: dict[str, str], columns: Sequence[str], table: str) -> None:
    """Raise the one-line missing-columns error when ``types`` (column -> SQL type) lacks any of ``columns``."""
    missing = [c for c in columns if c not in types]
    if missing:
        raise missing_columns_error(table, missing, list(types))


def _utc_ts_expr(types: dict[str, str], column: str, table: str) -> str:
    """SQL expression of a timestamp column as TIMESTAMPTZ (a naive timestamp is read as UTC)."""
    kind = types[column].upper()
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return column
    if kind.startswith("TIMESTAMP"):
        return f"timezone('UTC', CAST({column} AS TIMESTAMP))"
    if kind == "DATE":
        return f"timezone('UTC', CAST({column} AS TIMESTAMP))"
    raise DatasetError(
        f"{table}: column '{column}' must be a timestamp (datetime64[us, UTC]). Got {types[column]} instead."
    )


def _optional(types: dict[str, str], column: str, alias: str = "e") -> str:
    """A column of the events cast to its canonical SQL type, or a typed NULL when it is absent."""
    sql_type = _OPTIONAL_EVENT_COLUMNS[column]
    if column in types:
        return f"CAST({alias}.{column} AS {sql_type})"
    return f"CAST(NULL AS {sql_type})"


def _as_utc_timestamp(value: Any, name: str) -> pd.Timestamp:
    """Parse a date-like argument to a UTC timestamp (naive values are read as UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' parameter must be a date or timestamp. Got {value!r} instead.") from None
    if pd.isna(ts):
        raise ValueError(f"The '{name}' parameter must be a date or timestamp. Got {value!r} instead.")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _as_local_date(value: Any, name: str, timezone: str) -> pd.Timestamp:
    """A date-like argument as a local calendar day (naive values are already local days)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' parameter must be a date. Got {value!r} instead.") from None
    if pd.isna(ts):
        raise ValueError(f"The '{name}' parameter must be a date. Got {value!r} instead.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone).tz_localize(None)
    return ts.normalize()
