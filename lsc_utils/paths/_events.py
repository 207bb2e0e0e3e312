"""Parameter checks and the DuckDB view of events every path analysis reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.checks import missing_columns_error
from lsc_utils.io import existing_table, parquet_relation
from lsc_utils.schema import DatasetError
from lsc_utils.sqlengine import capped_connection

START: str = "START"
"""First state of every path."""

CONVERSION: str = "CONVERSION"
"""Absorbing state of a path that reached the conversion event."""

NULL: str = "NULL"
"""Absorbing state of a path that ended without conversion (ChannelAttribution's name)."""

END: str = "END"
"""Terminal state of every path of a non-absorbing chain."""

OTHER: str = "other"
"""State of events whose value has no entry in the state map, with ``unmapped="other"``."""

SEPARATOR: str = " > "
"""Separator of path elements in labels (``"search > ad"``, ``"view_item > add_to_cart"``)."""

MARKERS: tuple[str, ...] = (START, CONVERSION, NULL, END)
"""Reserved labels that a state map must not produce."""

MAX_DENSE_STATES: int = 3000
"""Above this many states, ``transition_matrix_`` holds sparse columns instead of dense ones."""

FUNNEL_ORDERS: tuple[str, ...] = ("strict", "ordered", "any")
"""Funnel step orders, as in PostHog: consecutive, in order (loose), any order (unordered)."""

EventsInput = pd.DataFrame | str | Path
"""Canonical events as a DataFrame, a Parquet file, or a canonical dataset folder."""

US_PER_SECOND: float = 1e6


# --------------------------------------------------------------------------------------------------
# Parameter checks
# --------------------------------------------------------------------------------------------------


def _check_fraction(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 < value <= 1:
        raise ValueError(f"The '{name}' parameter of {owner} must be a float in (0, 1]. Got {value!r} instead.")
    return float(value)


def _check_text(value: Any, name: str, owner: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"The '{name}' parameter of {owner} must be a non-empty str. Got {value!r} instead.")
    return value


def _check_bool(value: Any, name: str, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"The '{name}' parameter of {owner} must be a bool. Got {value!r} instead.")
    return bool(value)


def _check_column_name(value: Any, name: str, owner: str) -> str:
    text = _check_text(value, name, owner)
    if not text.replace("_", "").isalnum():
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a column name of letters, digits and '_'. Got {value!r} instead."
        )
    return text


def _to_timedelta(value: Any, name: str, owner: str) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError):
        delta = pd.NaT
    if not isinstance(value, (str, timedelta, pd.Timedelta)) or pd.isna(delta) or delta <= pd.Timedelta(0):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a positive duration such as '1D' or a timedelta. "
            f"Got {value!r} instead."
        )
    return delta


def _window_us(window: Any, name: str, owner: str) -> int:
    """A positive duration in whole microseconds (the resolution of canonical timestamps)."""
    return int(_to_timedelta(window, name, owner) // pd.Timedelta(microseconds=1))


def _check_state_map(state_map: Any, owner: str) -> dict[str, str] | None:
    if state_map is None:
        return None
    if not isinstance(state_map, Mapping) or not state_map:
        raise ValueError(
            f"The 'state_map' parameter of {owner} must be None or a non-empty mapping of value -> state. "
            f"Got {state_map!r} instead."
        )
    clean: dict[str, str] = {}
    for key, state in state_map.items():
        if not isinstance(state, str) or not state or state in MARKERS or SEPARATOR in state:
            raise ValueError(
                f"The 'state_map' parameter of {owner} maps {key!r} to {state!r}; states must be non-empty str, "
                f"not one of {', '.join(MARKERS)} and without {SEPARATOR!r}."
            )
        clean[str(key)] = state
    return clean


def _sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------------
# Events input: a DuckDB connection with a view `events` (needed columns + `_row` tie-breaker)
# --------------------------------------------------------------------------------------------------


def _resolve_parquet(path: str | Path) -> Path:
    return existing_table(path, "events")


def _register_frame(con: duckdb.DuckDBPyConnection, events: pd.DataFrame, columns: Sequence[str], owner: str) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise missing_columns_error("events", missing, list(events.columns), owner)
    if "ts" in columns and not pd.api.types.is_datetime64_any_dtype(events["ts"].dtype):
        raise DatasetError(
            f"events: column 'ts' must hold timestamps (canonical dtype datetime64[us, UTC]); "
            f"got dtype {events['ts'].dtype} instead."
        )
    try:
        table = pa.Table.from_pandas(events[list(columns)], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"events: a column has values of mixed types that cannot be read ({exc}).") from None
    table = table.append_column("_row", pa.array(np.arange(len(events), dtype=np.int64)))
    con.register("events", table)


def _register_parquet(con: duckdb.DuckDBPyConnection, path: str | Path, columns: Sequence[str], owner: str) -> None:
    file = _resolve_parquet(path)
    source = parquet_relation(file)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise DatasetError(f"{file}: not a readable Parquet file ({exc}).") from None
    types = {row[0]: str(row[1]) for row in described}
    missing = [c for c in columns if c not in types]
    if missing:
        raise missing_columns_error(file.name, missing, [c for c in types if c != "file_row_number"], owner)
    if "ts" in columns and not types["ts"].startswith("TIMESTAMP"):
        raise DatasetError(f"{file.name}: column 'ts' must hold timestamps; got type {types['ts']} instead.")
    selected = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"CREATE VIEW events AS SELECT {selected}, file_row_number AS _row FROM {source}")


@contextmanager
def _events_connection(events: EventsInput, columns: Sequence[str], owner: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection (UTC) with the view ``events`` of the needed columns plus ``_row``."""
    con = capped_connection()
    try:
        if isinstance(events, pd.DataFrame):
            _register_frame(con, events, columns, owner)
        elif isinstance(events, (str, Path)):
            _register_parquet(con, events, columns, owner)
        else:
            raise ValueError(
                f"The 'events' parameter of {owner} must be a pandas DataFrame or a Parquet path. "
                f"Got {type(events).__name__} instead."
            )
        yield con
    finally:
        con.close()


def _check_no_null_sessions(con: duckdb.DuckDBPyConnection) -> None:
    nulls = con.execute("SELECT COUNT(*) FROM events WHERE session_id IS NULL").fetchall()[0][0]
    if nulls:
        raise DatasetError(
            f"events: column 'session_id' has {nulls} null values; sessionize the events first "
            "(the cleaning step fills session_id)."
        )
