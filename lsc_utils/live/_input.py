"""Reading events, rooms and stays into DuckDB for the live-room analyses (frames or Parquet paths)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.checks import DatasetError, missing_columns_error
from lsc_utils.constants import EVENT_TYPES
from lsc_utils.io import existing_table, parquet_relation
from lsc_utils.sqlengine import DuckDBEngine, SqlEngine, as_engine, capped_connection, engine_scope

TableInput = pd.DataFrame | str | Path
"""A canonical table as a pandas DataFrame, a Parquet file, or a canonical dataset folder."""

US_PER_SECOND: int = 1_000_000
"""Microseconds per second (the resolution of canonical timestamps)."""

US_PER_MINUTE: int = 60 * US_PER_SECOND
"""Microseconds per minute."""

ACTIVITY_EVENTS: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "impression")
"""Room events that show a viewer is in the room (an impression is seen outside it, in a feed)."""

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "room_id", "ts", "event_type")
"""Event columns every live-room analysis needs."""

OPTIONAL_EVENT_COLUMNS: dict[str, str] = {
    "price": "DOUBLE",
    "quantity": "DOUBLE",
    "order_id": "VARCHAR",
    "item_id": "VARCHAR",
    "channel": "VARCHAR",
}
"""Event columns read when present (a typed NULL otherwise), with their SQL types."""

ROOM_COLUMNS: tuple[str, ...] = ("room_id", "start_ts", "end_ts")
"""Rooms columns the live-room analyses read."""

STAY_COLUMNS: tuple[str, ...] = ("room_id", "user_id", "enter_ts", "leave_ts")
"""Stays columns the concurrency and KPI functions read."""


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: Sequence[str]) -> str:
    """A parenthesised SQL list of string literals."""
    return "(" + ", ".join(sql_text(v) for v in values) + ")"


def duration_us(value: Any, name: str, owner: str, allow_zero: bool = False) -> int:
    """A duration parameter (``'5min'``, a timedelta) in whole microseconds, checked > 0 (or >= 0)."""
    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        delta = pd.NaT
    ok = isinstance(value, str | timedelta | pd.Timedelta) and not pd.isna(delta)
    if not ok or delta < pd.Timedelta(0) or (delta == pd.Timedelta(0) and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a duration {bound} such as '5min' or a timedelta. "
            f"Got {value!r} instead."
        )
    return int(delta // pd.Timedelta(microseconds=1))


DEFAULT_MEMORY_LIMIT: str = "2GB"
"""DuckDB's working-memory cap for the live-room queries (``LSC_DUCKDB_MEMORY_LIMIT`` overrides it):
joins and sorts beyond it spill to a temporary folder instead of growing the process, so the 10M-event
benchmark stays under 4 GB with the pandas results included."""


@contextmanager
def live_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection in UTC with a memory cap (spilling to disk above it), closed on exit."""
    con = capped_connection(DEFAULT_MEMORY_LIMIT)
    try:
        yield con
    finally:
        con.close()


def live_engine(engine: str, owner: str) -> AbstractContextManager[SqlEngine]:
    """The engine of the row-scale live-room SQL: DuckDB (:func:`live_connection`) or Spark.

    Spark runs the same statements transpiled (:func:`lsc_utils.sqlengine.spark_session`) and reads
    the events where they lie; its cached tables are released on exit, the session stays.
    """
    return engine_scope(engine, live_connection, owner)


Connection = duckdb.DuckDBPyConnection | SqlEngine
"""A DuckDB connection or an engine of :mod:`lsc_utils.sqlengine`."""


def _source_view(engine: SqlEngine, source: TableInput, table: str, owner: str) -> tuple[str, str]:
    """Register ``source`` as the raw view ``_raw_<table>`` (with a ``_row`` order column); return (view, label)."""
    raw = f"_raw_{table}"
    if isinstance(source, pd.DataFrame):
        try:
            arrow = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(f"{table}: a column has values of mixed types that cannot be read ({exc}).") from None
        arrow = arrow.append_column("_row", pa.array(np.arange(len(source), dtype=np.int64)))
        engine.register_frame(raw, arrow)
        return raw, table
    if isinstance(source, str | Path):
        file = existing_table(source, table)
        if not isinstance(engine, DuckDBEngine):
            engine.parquet_view(raw, file, "_row")
            return raw, file.name
        try:
            engine.view(
                raw, f"SELECT * EXCLUDE (file_row_number), file_row_number AS _row FROM {parquet_relation(file)}"
            )
        except duckdb.Error as exc:
            raise DatasetError(f"{file}: not a readable Parquet file ({exc}).") from None
        return raw, file.name
    raise TypeError(
        f"The '{table}' parameter of {owner} must be a pandas DataFrame or a Parquet path. "
        f"Got {type(source).__name__} instead."
    )


def _checked_types(
    engine: SqlEngine, raw: str, label: str, columns: Sequence[str], ts_columns: Sequence[str], owner: str
) -> dict[str, str]:
    """Column types of a raw view; raise a one-line DatasetError on a missing column, a non-timestamp or no rows."""
    types = engine.column_types(raw)
    missing = [c for c in columns if c not in types]
    if missing:
        raise missing_columns_error(label, missing, [c for c in types if c != "_row"], owner)
    for column in ts_columns:
        if not types[column].upper().startswith("TIMESTAMP"):
            raise DatasetError(
                f"{label}: column '{column}' must hold timestamps (canonical dtype datetime64[us, UTC]); "
                f"got {types[column]} instead."
            )
    if engine.fetchone(f"SELECT COUNT(*) FROM {raw}")[0] == 0:
        raise DatasetError(f"{label}: the table is empty (no rows); {owner} needs at least one row.")
    return types


def _utc(column: str, sql_type: str) -> str:
    """A timestamp column as TIMESTAMPTZ (a naive timestamp is read as UTC)."""
    if "TIME ZONE" in sql_type.upper():
        return column
    return f"timezone('UTC', CAST({column} AS TIMESTAMP))"


def register_events(con: Connection, events: TableInput, owner: str) -> None:
    """Create the view ``ev``: room events with user, room and timestamp (rows missing any are ignored).

    Columns: ``user_id, room_id, ts (TIMESTAMPTZ), t (epoch microseconds), event_type, price, quantity,
    order_id, _row`` (input row order, the tie-breaker of equal timestamps).
    """
    engine = as_engine(con)
    raw, label = _source_view(engine, events, "events", owner)
    types = _checked_types(engine, raw, label, EVENT_COLUMNS, ("ts",), owner)
    optional = ", ".join(
        f"CAST({c} AS {kind}) AS {c}" if c in types else f"CAST(NULL AS {kind}) AS {c}"
        for c, kind in OPTIONAL_EVENT_COLUMNS.items()
    )
    ts = _utc("ts", types["ts"])
    engine.view(
        "ev",
        f"""SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(room_id AS VARCHAR) AS room_id, {ts} AS ts,
               epoch_us({ts}) AS t, CAST(event_type AS VARCHAR) AS event_type, {optional}, _row
        FROM {raw} WHERE user_id IS NOT NULL AND room_id IS NOT NULL AND ts IS NOT NULL""",
    )


def register_rooms(con: Connection, rooms: TableInput | None, owner: str) -> None:
    """Create the view ``rm`` (``room_id, start_us, end_us``; empty when ``rooms`` is None)."""
    engine = as_engine(con)
    if rooms is None:
        engine.view(
            "rm",
            "SELECT CAST(NULL AS VARCHAR) AS room_id, CAST(NULL AS BIGINT) AS start_us, CAST(NULL AS BIGINT) AS end_us LIMIT 0",
        )
        return
    raw, label = _source_view(engine, rooms, "rooms", owner)
    types = _checked_types(engine, raw, label, ROOM_COLUMNS, ("start_ts", "end_ts"), owner)
    engine.view(
        "rm",
        f"""SELECT CAST(room_id AS VARCHAR) AS room_id, epoch_us({_utc("start_ts", types["start_ts"])}) AS start_us,
               epoch_us({_utc("end_ts", types["end_ts"])}) AS end_us
        FROM {raw} WHERE room_id IS NOT NULL""",
    )


def register_stays(con: duckdb.DuckDBPyConnection, stays: pd.DataFrame, owner: str) -> None:
    """Create the view ``st`` (``room_id, user_id, a, b``: enter and leave in epoch microseconds)."""
    if not isinstance(stays, pd.DataFrame):
        raise TypeError(
            f"The 'stays' parameter of {owner} must be a pandas DataFrame. Got {type(stays).__name__} instead."
        )
    raw, label = _source_view(DuckDBEngine(con), stays, "stays", owner)
    types = DuckDBEngine(con).column_types(raw)
    missing = [c for c in STAY_COLUMNS if c not in types]
    if missing:
        raise missing_columns_error(label, missing, [c for c in types if c != "_row"], owner)
    for column in ("enter_ts", "leave_ts"):
        if not types[column].upper().startswith("TIMESTAMP"):
            raise DatasetError(f"{label}: column '{column}' must hold timestamps; got {types[column]} instead.")
    con.execute(
        f"""CREATE VIEW st AS
        SELECT CAST(room_id AS VARCHAR) AS room_id, CAST(user_id AS VARCHAR) AS user_id,
               epoch_us({_utc("enter_ts", types["enter_ts"])}) AS a, epoch_us({_utc("leave_ts", types["leave_ts"])}) AS b
        FROM {raw} WHERE room_id IS NOT NULL AND enter_ts IS NOT NULL AND leave_ts IS NOT NULL"""
    )
