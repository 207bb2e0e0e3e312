"""SQL that turns events into ordered paths and transition counts (DuckDB; Spark-compatible)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.constants import EVENT_TYPES
from lsc_utils.paths._events import (
    CONVERSION,
    END,
    NULL,
    OTHER,
    SEPARATOR,
    START,
    EventsInput,
    _check_bool,
    _check_column_name,
    _check_no_null_sessions,
    _check_state_map,
    _check_text,
    _events_connection,
    _sql_text,
)
from lsc_utils.schema import DatasetError

# --------------------------------------------------------------------------------------------------
# Path SQL
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PathSpec:
    """How events of a session become path states (see the module docstring)."""

    state_column: str = "event_type"
    state_map: Mapping[str, str] | None = None
    unmapped: str = "drop"
    collapse_repeats: bool = False
    conversion_event: str = "pay"
    absorbing: bool = True

    @property
    def mapping(self) -> Mapping[str, str] | None:
        """The state map in force: the given one, the identity over canonical types, or None (identity)."""
        if self.state_map is not None:
            return self.state_map
        if self.state_column == "event_type":
            return {t: t for t in EVENT_TYPES}
        return None

    @property
    def columns(self) -> tuple[str, ...]:
        """Event columns the path queries read."""
        return tuple(dict.fromkeys(("user_id", "session_id", "ts", "event_type", self.state_column)))

    @property
    def conversion_state(self) -> str | None:
        """The state the conversion event maps to (None if it has none)."""
        if self.state_column != "event_type":
            return None
        mapping = self.mapping
        return mapping.get(self.conversion_event, OTHER if self.unmapped == "other" else None) if mapping else None


def _state_map_frame(spec: _PathSpec) -> pd.DataFrame | None:
    """The state map as a ``key, state`` table (None without a map)."""
    mapping = spec.state_map
    if mapping is None:
        return None
    return pd.DataFrame({"key": list(mapping), "state": list(mapping.values())}, dtype="str")


def _register_state_map(con: duckdb.DuckDBPyConnection, spec: _PathSpec) -> None:
    frame = _state_map_frame(spec)
    if frame is not None:
        con.register("state_map", frame)


def _base_cte(spec: _PathSpec) -> str:
    """CTE ``base``: every event with its state (NULL when unmapped and dropped) and conversion flag."""
    column = f'e."{spec.state_column}"'
    if spec.state_map is None and spec.state_column == "event_type":
        canonical = ", ".join(_sql_text(t) for t in EVENT_TYPES)
        raw, join = f"CASE WHEN {column} IN ({canonical}) THEN CAST({column} AS VARCHAR) END", ""
    elif spec.mapping is not None:
        raw, join = "m.state", f"LEFT JOIN state_map m ON CAST({column} AS VARCHAR) = m.key"
    else:
        raw, join = f"CAST({column} AS VARCHAR)", ""
    state = raw if spec.unmapped == "drop" else f"COALESCE({raw}, {_sql_text(OTHER)})"
    return f"""base AS (
        SELECT e.user_id, e.session_id, e.ts, e._row, {state} AS state,
               e.event_type = $conversion_event AS is_conv
        FROM events e {join})"""


def _kept_states_ctes(spec: _PathSpec) -> str:
    """CTEs ``base`` (all events), ``sessions`` (one row per session) and ``kept`` (the states of paths)."""
    ctes = [
        _base_cte(spec),
        """sessions AS (
            SELECT user_id, session_id, BOOL_OR(is_conv) AS converted FROM base GROUP BY user_id, session_id)""",
    ]
    if spec.absorbing or spec.collapse_repeats:
        conditions = ["state IS NOT NULL"]
        if spec.absorbing:
            conditions.append("convs_upto = 0")
        if spec.collapse_repeats:
            conditions.append("prev_state IS DISTINCT FROM state")
        ctes.append(
            """flagged AS (
            SELECT *,
                   SUM(CAST(is_conv AS INTEGER)) OVER (PARTITION BY user_id, session_id ORDER BY ts, _row
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS convs_upto,
                   LAG(state IGNORE NULLS) OVER (PARTITION BY user_id, session_id ORDER BY ts, _row) AS prev_state
            FROM base)"""
        )
        ctes.append(
            f"kept AS (SELECT user_id, session_id, ts, _row, state FROM flagged WHERE {' AND '.join(conditions)})"
        )
    else:
        ctes.append("kept AS (SELECT user_id, session_id, ts, _row, state FROM base WHERE state IS NOT NULL)")
    return ",\n".join(ctes)


def _path_steps_ctes(spec: _PathSpec) -> str:
    """The kept-state CTEs plus ``steps``: START, the states and the terminal element of every session."""
    if spec.absorbing:
        terminal = f"CASE WHEN converted THEN {_sql_text(CONVERSION)} ELSE {_sql_text(NULL)} END"
    else:
        terminal = _sql_text(END)
    steps = f"""steps AS (
        SELECT user_id, session_id, 0 AS phase, NULL AS ts, CAST(-1 AS BIGINT) AS _row, {_sql_text(START)} AS state
        FROM sessions
        UNION ALL SELECT user_id, session_id, 1 AS phase, ts, _row, state FROM kept
        UNION ALL SELECT user_id, session_id, 2 AS phase, NULL AS ts, CAST(-1 AS BIGINT) AS _row, {terminal} AS state
        FROM sessions)"""
    return _kept_states_ctes(spec) + ",\n" + steps


def _transition_counts_sql(spec: _PathSpec, order: int) -> str:
    lags = ", ".join(
        f"LAG(state, {j}) OVER (PARTITION BY user_id, session_id ORDER BY phase, ts, _row) AS l{j}"
        for j in range(1, order + 1)
    )
    sep = _sql_text(SEPARATOR)
    from_state = f"concat_ws({sep}, {', '.join(f'l{j}' for j in range(order, 0, -1))})"
    to_parts = [f"l{j}" for j in range(order - 1, 0, -1)] + ["state"]
    to_state = f"CASE WHEN phase = 2 THEN state ELSE concat_ws({sep}, {', '.join(to_parts)}) END"
    return f"""WITH {_path_steps_ctes(spec)},
        lagged AS (SELECT phase, state, {lags} FROM steps)
        SELECT {from_state} AS from_state, {to_state} AS to_state, COUNT(*) AS count
        FROM lagged WHERE phase > 0 GROUP BY ALL"""


def _path_spec(
    owner: str,
    state_column: Any = "event_type",
    state_map: Any = None,
    unmapped: Any = "drop",
    collapse_repeats: Any = False,
    conversion_event: Any = "pay",
    absorbing: Any = True,
) -> _PathSpec:
    return _PathSpec(
        state_column=_check_column_name(state_column, "state_column", owner),
        state_map=_check_state_map(state_map, owner),
        unmapped=_check_choice(unmapped, "unmapped", owner, ("drop", "other")),
        collapse_repeats=_check_bool(collapse_repeats, "collapse_repeats", owner),
        conversion_event=_check_text(conversion_event, "conversion_event", owner),
        absorbing=_check_bool(absorbing, "absorbing", owner),
    )


def _first_order_counts_sql(spec: _PathSpec) -> str:
    """Order-1 transition counts in a single window pass (the fast path of the common case).

    Every event row emits the transition *into* its state (from the previous state, ignoring
    unmapped rows, or START) and, if it is the last row of its session, the transition from the
    last state to the terminal element. Same result as the generic path-steps query.
    """
    window = "PARTITION BY user_id, session_id ORDER BY ts, _row"
    start = _sql_text(START)
    incoming = ["state IS NOT NULL"]
    into_conversion = "FALSE"
    ends_unconverted = "TRUE"
    if spec.absorbing:
        incoming.append("convs_before = 0")
        into_conversion = "(convs_before = 0 AND is_conv)"
        ends_unconverted = "(convs_before = 0 AND NOT is_conv)"
    if spec.collapse_repeats:
        incoming.append("prev_state IS DISTINCT FROM state")
    terminal = _sql_text(NULL if spec.absorbing else END)
    convs_before = (
        f"""COALESCE(SUM(CAST(is_conv AS INTEGER)) OVER ({window}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS convs_before,"""
        if spec.absorbing
        else ""
    )
    return f"""WITH {_base_cte(spec)},
        flagged AS (
            SELECT state, is_conv,
                   LAG(state IGNORE NULLS) OVER ({window}) AS prev_state,
                   {convs_before}
                   LEAD(_row) OVER ({window}) IS NULL AS is_last
            FROM base),
        emitted AS (
            SELECT CASE WHEN {into_conversion} OR ({" AND ".join(incoming)})
                        THEN COALESCE(prev_state, {start}) END AS from_state,
                   CASE WHEN {into_conversion} THEN {_sql_text(CONVERSION)} ELSE state END AS to_state,
                   CASE WHEN is_last AND {ends_unconverted} THEN COALESCE(state, prev_state, {start}) END AS end_from
            FROM flagged),
        grouped AS (
            SELECT from_state, to_state, end_from, COUNT(*) AS n FROM emitted
            WHERE from_state IS NOT NULL OR end_from IS NOT NULL GROUP BY ALL)
        SELECT from_state, to_state, SUM(n) AS count FROM (
            SELECT from_state, to_state, n FROM grouped WHERE from_state IS NOT NULL
            UNION ALL SELECT end_from, {terminal}, n FROM grouped WHERE end_from IS NOT NULL)
        GROUP BY from_state, to_state"""


def _count_transitions(events: EventsInput, spec: _PathSpec, order: int = 1, engine: str = "duckdb") -> pd.DataFrame:
    """Transition counts of the order-``order`` chain of session paths (one DuckDB query).

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` filled.
    spec : _PathSpec
        Path definition (built by :class:`MarkovPathModel` from its parameters).
    order : int, default 1
        Order of the chain (1 uses the one-pass query, higher orders the path-steps query).
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the query runs (Spark: :func:`lsc_utils.sqlengine.spark_session`, events from Parquet).

    Returns
    -------
    pandas.DataFrame
        ``from_state``, ``to_state``, ``count`` (int64), sorted by ``from_state``, ``to_state``.
    """
    sql = _first_order_counts_sql(spec) if order == 1 else _transition_counts_sql(spec, order)
    if engine == "spark":
        counts = _count_transitions_on_spark(events, spec, sql)
    else:
        with _events_connection(events, spec.columns, "MarkovPathModel.fit") as con:
            _check_no_null_sessions(con)
            _register_state_map(con, spec)
            counts = con.execute(sql, {"conversion_event": spec.conversion_event}).df()
    counts = counts.astype({"from_state": "str", "to_state": "str", "count": "int64"})
    return counts.sort_values(["from_state", "to_state"], ignore_index=True)


def _count_transitions_on_spark(events: EventsInput, spec: _PathSpec, sql: str) -> pd.DataFrame:
    """The transition-count SQL run on Spark (transpiled by sqlglot) over a Parquet file or folder."""
    from lsc_utils.io import existing_table, sql_literal
    from lsc_utils.sqlengine import SparkEngine, spark_session

    if not isinstance(events, (str, Path)):
        raise ValueError(f"engine='spark' reads the events from Parquet: give a path, not a {type(events).__name__}.")
    engine = SparkEngine(spark_session())
    try:
        types = engine.parquet_view("_events_all", existing_table(events, "events"), "_row")
        missing = [c for c in spec.columns if c not in types]
        if missing:
            raise DatasetError(f"events: column '{missing[0]}' is missing (MarkovPathModel.fit).")
        columns = ", ".join('"' + c + '"' for c in spec.columns)
        engine.view("events", f"SELECT {columns}, _row FROM _events_all")
        nulls = int(engine.fetchone("SELECT COUNT(*) FROM events WHERE session_id IS NULL")[0])
        if nulls:
            raise DatasetError(f"events: column 'session_id' has {nulls} null values; sessionize the events first.")
        frame = _state_map_frame(spec)
        if frame is not None:
            engine.register_frame("state_map", frame)
        return engine.df(sql.replace("$conversion_event", sql_literal(spec.conversion_event)))
    finally:
        engine.close()


def build_session_paths(
    events: EventsInput,
    conversion_event: str = "pay",
    state_map: Mapping[str, str] | None = None,
    collapse_repeats: bool = False,
    absorbing: bool = True,
    unmapped: str = "drop",
    state_column: str = "event_type",
) -> pd.DataFrame:
    """The path of every session, as defined in the module docstring.

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` filled.
    conversion_event, state_map, collapse_repeats, absorbing, unmapped, state_column
        As in :class:`MarkovPathModel`.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``session_id``, ``path`` (elements joined by ``" > "``, from ``START`` to the
        terminal element), ``n_states`` (states between them) and ``converted`` (the session reached
        the conversion event), sorted by ``user_id``, ``session_id``.
    """
    spec = _path_spec(
        "build_session_paths", state_column, state_map, unmapped, collapse_repeats, conversion_event, absorbing
    )
    sql = f"""WITH {_path_steps_ctes(spec)}
        SELECT s.user_id, s.session_id,
               string_agg(s.state, {_sql_text(SEPARATOR)} ORDER BY s.phase, s.ts, s._row) AS path,
               CAST(COUNT(*) - 2 AS BIGINT) AS n_states, ANY_VALUE(x.converted) AS converted
        FROM steps s JOIN sessions x USING (user_id, session_id)
        GROUP BY s.user_id, s.session_id ORDER BY s.user_id, s.session_id"""
    with _events_connection(events, spec.columns, "build_session_paths") as con:
        _check_no_null_sessions(con)
        _register_state_map(con, spec)
        paths = con.execute(sql, {"conversion_event": spec.conversion_event}).df()
    return paths.astype({"path": "str", "n_states": "int64", "converted": "bool"})
