"""Shopping paths: Markov chains, absorbing analysis, attribution, funnels, sequence and basket mining.

Every row-scale step is one DuckDB SQL query over the canonical ``events`` table (a pandas DataFrame
or a Parquet file); pandas and numpy only handle the aggregated results (transition counts, distinct
sequences, per-user funnel rows, basket-item pairs).

Event order
-----------
Everything that depends on the order of events orders them by ``ts`` and breaks ties by the **row
order of the input** (the DataFrame's row position, or the row number within the Parquet file). This
is the order pm4py uses after ``pm4py.format_dataframe`` (a stable sort by case and timestamp), so
directly-follows counts agree with pm4py exactly, ties included.

Session paths
-------------
A session (key ``user_id``, ``session_id``; sessions are filled by the cleaning step) becomes the path
``START, s_1, ..., s_m, T`` where

* ``s_i`` are the states of its events in event order: ``state_map[value]`` of the ``state_column``
  (default: ``event_type``, mapped identically over the canonical event types); values without a
  state are dropped (``unmapped="drop"``) or become ``"other"`` (``unmapped="other"``); with
  ``collapse_repeats`` consecutive equal states (after dropping) collapse into one;
* with ``absorbing=True`` the path is cut at the session's first conversion event (``event_type ==
  conversion_event``, default ``"pay"``): only events strictly before it give states and ``T`` is
  ``CONVERSION``; a session without a conversion ends in ``T = NULL``;
* with ``absorbing=False`` nothing is cut (sessions may continue after a payment) and ``T = END``.

A chain of order ``k`` has as states the histories of the last ``k`` path elements, joined by
``" > "`` (``"view_item > add_to_cart"``); histories near the start are shorter and begin with
``START``, so every session starts in the state ``START`` whatever the order, and the terminal
elements stay single states. For ``k = 1`` the states are the path elements themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from sklearn.base import BaseEstimator

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import EVENT_TYPES, PURCHASE_EVENTS
from lsc_utils.schema import DatasetError

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
    file = Path(path)
    if file.is_dir():
        file = file / "events.parquet"
    if not file.is_file():
        raise DatasetError(f"{file}: events file does not exist.")
    return file


def _missing_columns_error(source: str, missing: list[str], found: Sequence[str], owner: str) -> DatasetError:
    plural = "s" if len(missing) > 1 else ""
    return DatasetError(
        f"{source}: required column{plural} {', '.join(repr(c) for c in missing)} missing for {owner} "
        f"(columns found: {', '.join(map(str, found))})."
    )


def _register_frame(con: duckdb.DuckDBPyConnection, events: pd.DataFrame, columns: Sequence[str], owner: str) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise _missing_columns_error("events", missing, list(events.columns), owner)
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
    source = f"read_parquet({_sql_text(str(file))}, file_row_number = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise DatasetError(f"{file}: not a readable Parquet file ({exc}).") from None
    types = {row[0]: str(row[1]) for row in described}
    missing = [c for c in columns if c not in types]
    if missing:
        raise _missing_columns_error(file.name, missing, [c for c in types if c != "file_row_number"], owner)
    if "ts" in columns and not types["ts"].startswith("TIMESTAMP"):
        raise DatasetError(f"{file.name}: column 'ts' must hold timestamps; got type {types['ts']} instead.")
    selected = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"CREATE VIEW events AS SELECT {selected}, file_row_number AS _row FROM {source}")


@contextmanager
def _events_connection(events: EventsInput, columns: Sequence[str], owner: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection (UTC) with the view ``events`` of the needed columns plus ``_row``."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
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


def _register_state_map(con: duckdb.DuckDBPyConnection, spec: _PathSpec) -> None:
    mapping = spec.state_map
    if mapping is not None:
        frame = pd.DataFrame({"key": list(mapping), "state": list(mapping.values())}, dtype="str")
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


def _count_transitions(events: EventsInput, spec: _PathSpec, order: int = 1) -> pd.DataFrame:
    """Transition counts of the order-``order`` chain of session paths (one DuckDB query).

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` filled.
    spec : _PathSpec
        Path definition (built by :class:`MarkovPathModel` from its parameters).
    order : int, default 1
        Order of the chain (1 uses the one-pass query, higher orders the path-steps query).

    Returns
    -------
    pandas.DataFrame
        ``from_state``, ``to_state``, ``count`` (int64), sorted by ``from_state``, ``to_state``.
    """
    sql = _first_order_counts_sql(spec) if order == 1 else _transition_counts_sql(spec, order)
    with _events_connection(events, spec.columns, "MarkovPathModel.fit") as con:
        _check_no_null_sessions(con)
        _register_state_map(con, spec)
        counts = con.execute(sql, {"conversion_event": spec.conversion_event}).df()
    counts = counts.astype({"from_state": "str", "to_state": "str", "count": "int64"})
    return counts.sort_values(["from_state", "to_state"], ignore_index=True)


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


# --------------------------------------------------------------------------------------------------
# Absorbing Markov chains
# --------------------------------------------------------------------------------------------------


def _solve_absorbing(
    matrix: sp.csr_matrix, transient: np.ndarray, absorbing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Absorption probabilities ``B = N R`` and expected steps ``t = N 1`` with ``N = (I - Q)^-1``.

    Solves ``(I - Q) [B t] = [R 1]`` by one sparse LU factorisation instead of inverting.
    """
    q = matrix[transient][:, transient]
    r = matrix[transient][:, absorbing].toarray()
    system = (sp.identity(len(transient), format="csc") - q.tocsc()).tocsc()
    try:
        lu = spla.splu(system)
    except RuntimeError:
        raise ValueError(
            "The transition matrix has transient states that never reach an absorbing state (I - Q is singular)."
        ) from None
    rhs = np.column_stack([r, np.ones(len(transient))])
    solution = lu.solve(rhs)
    return solution[:, :-1], solution[:, -1]


def _check_transition_matrix(matrix: pd.DataFrame, absorbing_states: Sequence[str], owner: str) -> None:
    if not isinstance(matrix, pd.DataFrame) or list(matrix.index) != list(matrix.columns):
        raise ValueError(
            f"The 'transition_matrix' parameter of {owner} must be a square DataFrame with the same states as "
            "index and columns, in the same order."
        )
    values = matrix.to_numpy(dtype=float)
    sums = values.sum(axis=1)
    if (values < 0).any() or not np.allclose(sums, 1.0, atol=1e-9):
        worst = matrix.index[int(np.argmax(np.abs(sums - 1.0)))]
        raise ValueError(
            f"The 'transition_matrix' parameter of {owner} must have non-negative rows summing to 1. "
            f"Row {worst!r} sums to {float(sums[matrix.index.get_loc(worst)]):.6g}."
        )
    unknown = [s for s in absorbing_states if s not in matrix.index]
    if unknown or not absorbing_states:
        raise ValueError(
            f"The 'absorbing_states' parameter of {owner} must name states of the matrix. "
            f"Got {list(absorbing_states)!r} ({unknown!r} unknown)."
        )


def _split_states(matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    absorbing = np.array([matrix.index.get_loc(s) for s in absorbing_states])
    transient = np.setdiff1d(np.arange(len(matrix)), absorbing)
    return transient, absorbing


def absorption_probabilities(transition_matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> pd.DataFrame:
    """Probability of ending in each absorbing state, from each transient state.

    With ``Q`` the transient-to-transient and ``R`` the transient-to-absorbing blocks of the
    transition matrix, the fundamental matrix is ``N = (I - Q)^-1`` and the absorption probabilities
    are ``B = N R`` (Kemeny & Snell, *Finite Markov Chains*, ch. III).

    Parameters
    ----------
    transition_matrix : pandas.DataFrame
        Square row-stochastic matrix, states as index and columns.
    absorbing_states : sequence of str
        The absorbing states (their rows are ignored).

    Returns
    -------
    pandas.DataFrame
        Transient states as index, absorbing states as columns; rows sum to 1.
    """
    _check_transition_matrix(transition_matrix, absorbing_states, "absorption_probabilities")
    transient, absorbing = _split_states(transition_matrix, absorbing_states)
    matrix = sp.csr_matrix(transition_matrix.to_numpy(dtype=float))
    probabilities, _ = _solve_absorbing(matrix, transient, absorbing)
    return pd.DataFrame(probabilities, index=transition_matrix.index[transient], columns=list(absorbing_states))


def expected_steps_to_absorption(transition_matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> pd.Series:
    """Expected number of transitions until absorption, from each transient state (``t = N 1``).

    Parameters
    ----------
    transition_matrix : pandas.DataFrame
        Square row-stochastic matrix, states as index and columns.
    absorbing_states : sequence of str
        The absorbing states.

    Returns
    -------
    pandas.Series
        Indexed by transient state, named ``expected_steps``.
    """
    _check_transition_matrix(transition_matrix, absorbing_states, "expected_steps_to_absorption")
    transient, absorbing = _split_states(transition_matrix, absorbing_states)
    matrix = sp.csr_matrix(transition_matrix.to_numpy(dtype=float))
    _, steps = _solve_absorbing(matrix, transient, absorbing)
    return pd.Series(steps, index=transition_matrix.index[transient], name="expected_steps")


def _order_states(counts: pd.DataFrame, terminals: Sequence[str]) -> list[str]:
    """START first, then the other transient states by name, then the terminal states."""
    seen = set(counts["from_state"]) | set(counts["to_state"])
    transient = sorted(seen - {START, *terminals})
    return [START, *transient, *terminals]


def _stochastic_matrix(counts: pd.DataFrame, states: list[str], absorbing: Sequence[str]) -> sp.csr_matrix:
    """Row-normalised transition counts; absorbing states get a probability-1 self-loop."""
    position = {s: i for i, s in enumerate(states)}
    rows = counts["from_state"].map(position).to_numpy()
    cols = counts["to_state"].map(position).to_numpy()
    values = counts["count"].to_numpy(dtype=float)
    loops = np.array([position[s] for s in absorbing], dtype=np.int64)
    rows = np.concatenate([rows, loops])
    cols = np.concatenate([cols, loops])
    values = np.concatenate([values, np.ones(len(loops))])
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(states), len(states)))
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / totals) @ matrix)


def _matrix_frame(matrix: sp.csr_matrix, states: list[str]) -> pd.DataFrame:
    index = pd.Index(states, name="from_state", dtype="str")
    columns = pd.Index(states, name="to_state", dtype="str")
    if len(states) <= MAX_DENSE_STATES:
        return pd.DataFrame(matrix.toarray(), index=index, columns=columns)
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, index=index, columns=columns)
    return frame


def _last_element(label: str) -> str:
    return label.rsplit(SEPARATOR, 1)[-1]


class MarkovPathModel(BaseEstimator):
    """Markov chain of session paths, with absorbing analysis (scikit-learn estimator conventions).

    Parameters
    ----------
    order : int, default 1
        Order of the chain; states of an order-``k`` chain are histories of the last ``k`` path
        elements joined by ``" > "`` (see the module docstring).
    conversion_event : str, default "pay"
        ``event_type`` that converts a session.
    state_map : mapping of str to str, optional
        Value of ``state_column`` -> state. Default: identity over the canonical event types (or over
        all values when ``state_column`` is not ``event_type``).
    collapse_repeats : bool, default False
        Collapse consecutive equal states into one.
    absorbing : bool, default True
        Cut paths at the first conversion event into ``CONVERSION`` and end the others in ``NULL``.
        With False, nothing is cut and every path ends in ``END`` (the plain chain over the states,
        e.g. to compare with a simulator's planted event-type matrix; with ``order=1``,
        ``collapse_repeats=False`` its counts are pm4py's directly-follows counts plus the START and
        END edges).
    unmapped : {"drop", "other"}, default "drop"
        What happens to events whose value has no state.
    state_column : str, default "event_type"
        Event column the states come from (``"item_id"`` for item-level paths, ``"channel"`` ...).

    Attributes
    ----------
    transition_counts_ : pandas.DataFrame
        ``from_state``, ``to_state``, ``count``.
    states_ : list of str
        ``START``, the other transient states by name, then the terminal states (``CONVERSION``,
        ``NULL``, or ``END``), always present.
    transition_matrix_ : pandas.DataFrame
        Square, ``states_`` as index and columns, rows sum to 1; terminal states loop on themselves.
        Sparse columns above ``MAX_DENSE_STATES`` states.
    absorption_probabilities_ : pandas.DataFrame
        Transient states x terminal states (absorbing mode: ``CONVERSION``, ``NULL``; else ``END``).
    conversion_probability_ : pandas.Series
        Per transient state, the probability of converting: absorption into ``CONVERSION``
        (``B = N R``). With ``absorbing=False``: the probability of reaching a state whose latest
        element is the conversion event's state before ``END`` (1 for those states; 0 everywhere
        when the conversion event has no state in the chain).
    expected_steps_ : pandas.Series
        Per transient state, expected number of transitions until absorption (``t = N 1``).
    n_sessions_ : int
        Number of sessions (paths).
    """

    def __init__(
        self,
        order: int = 1,
        conversion_event: str = "pay",
        state_map: Mapping[str, str] | None = None,
        collapse_repeats: bool = False,
        absorbing: bool = True,
        unmapped: str = "drop",
        state_column: str = "event_type",
    ) -> None:
        self.order = order
        self.conversion_event = conversion_event
        self.state_map = state_map
        self.collapse_repeats = collapse_repeats
        self.absorbing = absorbing
        self.unmapped = unmapped
        self.state_column = state_column

    def _spec(self) -> _PathSpec:
        return _path_spec(
            "MarkovPathModel",
            self.state_column,
            self.state_map,
            self.unmapped,
            self.collapse_repeats,
            self.conversion_event,
            self.absorbing,
        )

    @property
    def terminal_states(self) -> list[str]:
        """The terminal (absorbing) states of the chain."""
        return [CONVERSION, NULL] if self.absorbing else [END]

    def fit(self, events: EventsInput, y: None = None) -> MarkovPathModel:
        """Count transitions of all session paths and analyse the absorbing chain.

        Parameters
        ----------
        events : DataFrame or path
            Clean canonical events (``user_id``, ``session_id``, ``ts``, ``event_type`` and the
            ``state_column``), or a Parquet file / dataset folder holding them.
        y : None
            Ignored (scikit-learn convention).

        Returns
        -------
        MarkovPathModel
            self.
        """
        spec = self._spec()
        order = _check_int(self.order, "order", "MarkovPathModel", 1)
        counts = _count_transitions(events, spec, order)
        terminals = self.terminal_states
        states = _order_states(counts, terminals)
        matrix = _stochastic_matrix(counts, states, terminals)
        self.transition_counts_ = counts
        self.states_ = states
        self.transition_matrix_ = _matrix_frame(matrix, states)
        self.n_sessions_ = int(counts.loc[counts["from_state"] == START, "count"].sum())
        self._analyse_absorption(matrix, spec)
        return self

    def _analyse_absorption(self, matrix: sp.csr_matrix, spec: _PathSpec) -> None:
        states = np.array(self.states_, dtype=object)
        terminals = self.terminal_states
        absorbing = np.array([self.states_.index(s) for s in terminals])
        transient = np.arange(len(states) - len(terminals))
        probabilities, steps = _solve_absorbing(matrix, transient, absorbing)
        index = pd.Index(states[transient], name="state", dtype="str")
        self.absorption_probabilities_ = pd.DataFrame(probabilities, index=index, columns=terminals)
        self.expected_steps_ = pd.Series(steps, index=index, name="expected_steps")
        if self.absorbing:
            conversion = probabilities[:, 0]
        else:
            conversion = self._hitting_probabilities(matrix, transient, spec.conversion_state)
        self.conversion_probability_ = pd.Series(conversion, index=index, name="conversion_probability")

    def _hitting_probabilities(self, matrix: sp.csr_matrix, transient: np.ndarray, target: str | None) -> np.ndarray:
        """Probability of reaching a state whose latest element is ``target`` before END."""
        labels = [self.states_[i] for i in transient]
        hit = np.array([target is not None and _last_element(s) == target for s in labels], dtype=bool)
        result = hit.astype(float)
        if hit.any() and not hit.all():
            others = transient[~hit]
            targets_sum = sp.csr_matrix(matrix[:, transient[hit]].sum(axis=1))
            end_col = sp.csr_matrix(matrix[:, [len(self.states_) - 1]])
            reduced = sp.hstack([matrix[:, others], targets_sum, end_col], format="csr")[others]
            n = len(others)
            square = sp.vstack([reduced, sp.csr_matrix(([1.0, 1.0], ([0, 1], [n, n + 1])), shape=(2, n + 2))])
            probabilities, _ = _solve_absorbing(sp.csr_matrix(square), np.arange(n), np.array([n, n + 1]))
            result[~hit] = probabilities[:, 0]
        return result


def _check_fitted(model: Any, owner: str) -> None:
    if not isinstance(model, MarkovPathModel) or not hasattr(model, "transition_counts_"):
        raise ValueError(f"The 'model' parameter of {owner} must be a fitted MarkovPathModel. Got {model!r} instead.")


def transitions_table(model: MarkovPathModel) -> pd.DataFrame:
    """The transitions file of the paths notebook: ``from_state``, ``to_state``, ``count``, ``probability``.

    Parameters
    ----------
    model : MarkovPathModel
        A fitted model.

    Returns
    -------
    pandas.DataFrame
        One row per observed transition, sorted by ``from_state``, ``to_state``; ``probability`` is
        the count over the row total of ``from_state``.
    """
    _check_fitted(model, "transitions_table")
    table = model.transition_counts_.copy()
    totals = table.groupby("from_state")["count"].transform("sum")
    table["probability"] = table["count"] / totals
    return table


def sankey_flows(model: MarkovPathModel, top_n: int = 20) -> pd.DataFrame:
    """The ``top_n`` largest transitions as (source, target, value) rows of a flow figure.

    Self-loops are left out (a flow figure cannot show them); ties in ``value`` are broken by
    ``source`` then ``target``. The chain may contain cycles (``view_item -> add_to_cart ->
    view_item``): draw sources and targets as separate columns of nodes.

    Parameters
    ----------
    model : MarkovPathModel
        A fitted model.
    top_n : int, default 20
        Number of flows.

    Returns
    -------
    pandas.DataFrame
        ``source``, ``target``, ``value`` (transition count), largest first.
    """
    _check_fitted(model, "sankey_flows")
    top_n = _check_int(top_n, "top_n", "sankey_flows", 1)
    counts = model.transition_counts_
    flows = counts[counts["from_state"] != counts["to_state"]]
    flows = flows.rename(columns={"from_state": "source", "to_state": "target", "count": "value"})
    flows = flows.sort_values(["value", "source", "target"], ascending=[False, True, True])
    return flows.head(top_n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Markov attribution over channels
# --------------------------------------------------------------------------------------------------


def build_channel_journeys(
    events: EventsInput,
    conversion_event: str = "pay",
    channel_column: str = "channel",
) -> pd.DataFrame:
    """Channel journeys of users, aggregated per distinct path (ChannelAttribution's input format).

    A session's touchpoint is the channel of its first event with a channel (sessions ordered by
    their first event, ties by row order). A user's journey is the sequence of touchpoints of
    consecutive sessions up to and including the first session with a conversion event; it then
    counts as one conversion and the next session starts a new journey. Sessions after the user's
    last conversion form an unconverted journey (one null). Sessions without any channel give no
    touchpoint; a journey without touchpoints is left out (it has no channel to credit).

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` and the channel column.
    conversion_event : str, default "pay"
        ``event_type`` that converts a session.
    channel_column : str, default "channel"
        Event column holding the touchpoint channel.

    Returns
    -------
    pandas.DataFrame
        ``path`` (channels joined by ``" > "``), ``conversions``, ``nulls``, sorted by ``path``.
    """
    owner = "build_channel_journeys"
    conversion_event = _check_text(conversion_event, "conversion_event", owner)
    channel_column = _check_column_name(channel_column, "channel_column", owner)
    columns = ("user_id", "session_id", "ts", "event_type", channel_column)
    sql = f"""WITH
        touch AS (
            SELECT user_id, session_id, MIN(ts) AS start_ts, MIN(_row) AS start_row,
                   arg_min("{channel_column}", [epoch_us(ts), _row]) FILTER (WHERE "{channel_column}" IS NOT NULL)
                       AS channel,
                   BOOL_OR(event_type = $conversion_event) AS converted
            FROM events GROUP BY user_id, session_id),
        ordered AS (
            SELECT *, COALESCE(SUM(CAST(converted AS INTEGER)) OVER (PARTITION BY user_id ORDER BY start_ts, start_row
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS journey
            FROM touch),
        journeys AS (
            SELECT user_id, journey,
                   string_agg(CAST(channel AS VARCHAR), {_sql_text(SEPARATOR)} ORDER BY start_ts, start_row)
                       FILTER (WHERE channel IS NOT NULL) AS path,
                   BOOL_OR(converted) AS converted
            FROM ordered GROUP BY user_id, journey)
        SELECT path, CAST(SUM(CAST(converted AS INTEGER)) AS BIGINT) AS conversions,
               CAST(SUM(CAST(NOT converted AS INTEGER)) AS BIGINT) AS nulls
        FROM journeys WHERE path IS NOT NULL GROUP BY path ORDER BY path"""
    with _events_connection(events, columns, owner) as con:
        _check_no_null_sessions(con)
        journeys = con.execute(sql, {"conversion_event": conversion_event}).df()
    return journeys.astype({"path": "str", "conversions": "int64", "nulls": "int64"})


def _check_journeys(journeys: Any, path_column: str, conversions_column: str, nulls_column: str) -> pd.DataFrame:
    owner = "markov_attribution"
    if not isinstance(journeys, pd.DataFrame):
        raise ValueError(f"The 'journeys' parameter of {owner} must be a DataFrame. Got {type(journeys).__name__}.")
    missing = [c for c in (path_column, conversions_column, nulls_column) if c not in journeys.columns]
    if missing:
        raise _missing_columns_error("journeys", missing, list(journeys.columns), owner)
    frame = journeys[[path_column, conversions_column, nulls_column]].dropna(subset=[path_column])
    frame.columns = ["path", "conversions", "nulls"]
    for column in ("conversions", "nulls"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise DatasetError(f"journeys: column '{column}' must hold non-negative counts.")
        frame[column] = values.astype(float)
    if frame["conversions"].sum() <= 0:
        raise DatasetError("journeys: there are no conversions, so removal effects are undefined.")
    return frame


def _journey_transitions(paths: pd.DataFrame) -> pd.DataFrame:
    """Weighted transitions START -> c_1 -> ... -> c_n -> CONVERSION / NULL of aggregated paths."""
    elements = paths["path"].str.split(SEPARATOR, regex=False)
    rows = []
    for channels, conv, null in zip(elements, paths["conversions"], paths["nulls"], strict=True):
        sequence = [START, *channels]
        for source, target in itertools.pairwise(sequence):
            rows.append((source, target, conv + null))
        rows.append((sequence[-1], CONVERSION, conv))
        rows.append((sequence[-1], NULL, null))
    frame = pd.DataFrame(rows, columns=["from_state", "to_state", "count"])
    frame = frame[frame["count"] > 0]
    return frame.groupby(["from_state", "to_state"], as_index=False)["count"].sum()


def _conversion_probability_without(matrix: sp.csr_matrix, states: list[str], removed: str | None) -> float:
    """P(CONVERSION | START) of the chain where transitions into ``removed`` go to NULL instead."""
    position = {s: i for i, s in enumerate(states)}
    dense = matrix.toarray()
    if removed is not None:
        k = position[removed]
        dense[:, position[NULL]] += dense[:, k]
        dense[:, k] = 0.0
        dense[k, :] = 0.0
        dense[k, position[NULL]] = 1.0
    absorbing = np.array([position[CONVERSION], position[NULL]])
    transient = np.setdiff1d(np.arange(len(states)), absorbing)
    probabilities, _ = _solve_absorbing(sp.csr_matrix(dense), transient, absorbing)
    return float(probabilities[int(np.searchsorted(transient, position[START])), 0])


def _heuristic_credits(paths: pd.DataFrame, channels: list[str]) -> pd.DataFrame:
    """First-touch, last-touch and linear credit of the conversions."""
    converting = paths[paths["conversions"] > 0]
    elements = converting["path"].str.split(SEPARATOR, regex=False)
    credit = pd.DataFrame(
        0.0, index=pd.Index(channels, name="channel"), columns=["first_touch", "last_touch", "linear"]
    )
    for chain, conv in zip(elements, converting["conversions"], strict=True):
        credit.loc[chain[0], "first_touch"] += conv
        credit.loc[chain[-1], "last_touch"] += conv
        for channel in chain:
            credit.loc[channel, "linear"] += conv / len(chain)
    return credit


def markov_attribution(
    journeys: pd.DataFrame,
    path_column: str = "path",
    conversions_column: str = "conversions",
    nulls_column: str = "nulls",
) -> pd.DataFrame:
    """First-order Markov attribution by removal effects, next to first-touch, last-touch and linear.

    The chain over ``START``, the channels, ``CONVERSION`` and ``NULL`` is estimated from the
    journeys (every journey contributes its transitions, weighted by its count). The removal effect
    of channel ``c`` is ``1 - P_c(conv) / P(conv)``, where ``P(conv)`` is the absorption probability
    into ``CONVERSION`` from ``START`` and ``P_c`` the same in the chain where every transition into
    ``c`` goes to ``NULL`` instead, both solved exactly (``B = (I - Q)^-1 R``). Attributed
    conversions are the total conversions times the normalised removal effects (ChannelAttribution,
    Anderl et al. 2016).

    Parameters
    ----------
    journeys : pandas.DataFrame
        One row per path (as from :func:`build_channel_journeys`): channels joined by ``" > "``,
        conversion and null counts.
    path_column, conversions_column, nulls_column : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        The removal-effects file: ``channel``, ``removal_effect``, ``conversion_probability_without``,
        ``markov_conversions``, ``first_touch``, ``last_touch``, ``linear``, sorted by channel.
    """
    paths = _check_journeys(journeys, path_column, conversions_column, nulls_column)
    counts = _journey_transitions(paths)
    states = _order_states(counts, [CONVERSION, NULL])
    channels = states[1:-2]
    matrix = _stochastic_matrix(counts, states, [CONVERSION, NULL])
    base = _conversion_probability_without(matrix, states, None)
    without = np.array([_conversion_probability_without(matrix, states, c) for c in channels])
    removal = 1.0 - without / base
    total = paths["conversions"].sum()
    table = pd.DataFrame(
        {
            "channel": pd.array(channels, dtype="str"),
            "removal_effect": removal,
            "conversion_probability_without": without,
            "markov_conversions": total * removal / removal.sum(),
        }
    )
    heuristics = _heuristic_credits(paths, channels).reset_index(drop=True)
    return pd.concat([table, heuristics], axis=1)


# --------------------------------------------------------------------------------------------------
# Funnels
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FunnelSpec:
    steps: tuple[str, ...]
    window_us: int
    order: str
    by: str | None
    step_column: str

    @property
    def columns(self) -> tuple[str, ...]:
        extra = (self.by,) if self.by else ()
        return tuple(dict.fromkeys(("user_id", "ts", self.step_column, *extra)))


def _funnel_spec(owner: str, steps: Any, window: Any, order: Any, by: Any, step_column: Any) -> _FunnelSpec:
    if isinstance(steps, str) or not isinstance(steps, Sequence) or len(steps) < 2:
        raise ValueError(f"The 'steps' parameter of {owner} must be a sequence of >= 2 step names. Got {steps!r}.")
    steps = tuple(_check_text(s, "steps", owner) for s in steps)
    order = _check_choice(order, "order", owner, FUNNEL_ORDERS)
    if order == "any" and len(set(steps)) != len(steps):
        raise ValueError(f"The 'steps' parameter of {owner} must not repeat a step with order='any'. Got {steps!r}.")
    by = None if by is None else _check_column_name(by, "by", owner)
    return _FunnelSpec(
        steps, _window_us(window, "window", owner), order, by, _check_column_name(step_column, "step_column", owner)
    )


def _funnel_events_cte(spec: _FunnelSpec, only_steps: bool) -> str:
    by = f'CAST("{spec.by}" AS VARCHAR)' if spec.by else "CAST(NULL AS VARCHAR)"
    where = f'WHERE list_contains($steps, CAST("{spec.step_column}" AS VARCHAR))' if only_steps else ""
    return f"""fev AS (
        SELECT user_id, ts, epoch_us(ts) AS tsu, _row, {by} AS by_value,
               CAST("{spec.step_column}" AS VARCHAR) AS step_value,
               ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts, _row) AS ord
        FROM events {where})"""


def _step_table_ctes(spec: _FunnelSpec) -> str:
    return ",\n".join(
        f"e{j} AS (SELECT user_id, ord, tsu FROM fev WHERE step_value = $step{j})"
        for j in range(1, len(spec.steps) + 1)
    )


def _ordered_funnel_sql(spec: _FunnelSpec) -> str:
    """Chains built step by step with ASOF joins: the next step event after the previous one.

    A step-1 event only starts a chain if no other step-1 event (same user and breakdown value) comes
    strictly before the first step-2 event after it: that later start reaches every step the earlier
    one reaches, with more room in the window. (When steps 1 and 2 are the same event type, the next
    step-1 event may be that step-2 event itself, which is why equality keeps the earlier start.)
    """
    k = len(spec.steps)
    ctes = [_funnel_events_cte(spec, only_steps=True), _step_table_ctes(spec)]
    ctes.append(
        """starts AS (
        SELECT s.user_id, s.by_value, s.ord AS ord_1, s.tsu AS t_1, n.ord AS raw_ord_2,
               LEAD(s.ord) OVER (PARTITION BY s.user_id, s.by_value ORDER BY s.ord) AS next_start
        FROM fev s ASOF LEFT JOIN e2 n ON s.user_id = n.user_id AND s.ord < n.ord
        WHERE s.step_value = $step1)"""
    )
    ctes.append(
        "c1 AS (SELECT user_id, by_value, ord_1, t_1 FROM starts WHERE next_start IS NULL OR next_start >= raw_ord_2)"
    )
    for j in range(2, k + 1):
        within = f"n.tsu - c.t_1 <= {spec.window_us}"
        ctes.append(
            f"""c{j} AS (
            SELECT c.*, CASE WHEN {within} THEN n.ord END AS ord_{j}, CASE WHEN {within} THEN n.tsu END AS t_{j}
            FROM c{j - 1} c ASOF LEFT JOIN e{j} n ON c.user_id = n.user_id AND c.ord_{j - 1} < n.ord)"""
        )
    level = " + ".join(["1", *[f"CAST(ord_{j} IS NOT NULL AS INTEGER)" for j in range(2, k + 1)]])
    times = ", ".join(f"t_{j}" for j in range(1, k + 1))
    joined = ",\n".join(ctes)
    return f"""WITH {joined}
        SELECT user_id, by_value, {level} AS level, ord_1 AS start_ord, {times} FROM c{k}"""


def _strict_funnel_sql(spec: _FunnelSpec) -> str:
    """Each step event must be followed directly (no other event between) by the next step."""
    k = len(spec.steps)
    window = "PARTITION BY user_id ORDER BY ts, _row"
    leads = ", ".join(
        f"LEAD(step_value, {j}) OVER ({window}) AS s_{j + 1}, LEAD(tsu, {j}) OVER ({window}) AS u_{j + 1}"
        for j in range(1, k)
    )
    ok = [f"(s_{j} = $step{j} AND u_{j} - tsu <= {spec.window_us})" for j in range(2, k + 1)]
    reached = [" AND ".join(ok[: j - 1]) for j in range(2, k + 1)]
    level = " + ".join(["1", *[f"CAST(COALESCE({r}, FALSE) AS INTEGER)" for r in reached]])
    times = ", ".join(
        [
            "tsu AS t_1",
            *[f"CASE WHEN COALESCE({reached[j - 2]}, FALSE) THEN u_{j} END AS t_{j}" for j in range(2, k + 1)],
        ]
    )
    return f"""WITH {_funnel_events_cte(spec, only_steps=False)},
        led AS (SELECT *, {leads} FROM fev)
        SELECT user_id, by_value, {level} AS level, ord AS start_ord, {times}
        FROM led WHERE step_value = $step1"""


def _any_order_funnel_sql(spec: _FunnelSpec) -> str:
    """From every step event, the first occurrence of each step at or after it, within the window."""
    k = len(spec.steps)
    ctes = [_funnel_events_cte(spec, only_steps=True), _step_table_ctes(spec)]
    ctes.append("a0 AS (SELECT user_id, by_value, ord AS start_ord, tsu AS t0 FROM fev)")
    for j in range(1, k + 1):
        ctes.append(
            f"""a{j} AS (
            SELECT c.*, CASE WHEN n.tsu - c.t0 <= {spec.window_us} THEN n.tsu END AS f_{j}
            FROM a{j - 1} c ASOF LEFT JOIN e{j} n ON c.user_id = n.user_id AND c.start_ord <= n.ord)"""
        )
    found = ", ".join(f"f_{j}" for j in range(1, k + 1))
    times = ", ".join(f"found[{j}] AS t_{j}" for j in range(1, k + 1))
    joined = ",\n".join(ctes)
    return f"""WITH {joined},
        sorted AS (SELECT user_id, by_value, start_ord,
                          list_sort(list_filter([{found}], lambda x: x IS NOT NULL)) AS found FROM a{k})
        SELECT user_id, by_value, CAST(len(found) AS INTEGER) AS level, start_ord, {times} FROM sorted"""


def _funnel_user_rows(events: EventsInput, spec: _FunnelSpec, owner: str) -> pd.DataFrame:
    """Best chain of every (user, breakdown value): furthest step, then earliest start."""
    builder = {"ordered": _ordered_funnel_sql, "strict": _strict_funnel_sql, "any": _any_order_funnel_sql}[spec.order]
    times = ", ".join(f"t_{j}" for j in range(1, len(spec.steps) + 1))
    sql = f"""WITH chains AS ({builder(spec)})
        SELECT user_id, by_value, level, {times} FROM chains
        QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, by_value ORDER BY level DESC, start_ord) = 1
        ORDER BY by_value NULLS FIRST, user_id"""
    params: dict[str, Any] = {f"step{j}": s for j, s in enumerate(spec.steps, start=1)}
    if "$steps" in sql:
        params["steps"] = list(spec.steps)
    with _events_connection(events, spec.columns, owner) as con:
        rows = con.execute(sql, params).df()
    return rows


def funnel_conversion_times(
    events: EventsInput,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Per user (and breakdown value): the furthest funnel step reached and when each step was reached.

    Counting (as PostHog): a user reaches step ``i`` if there are events ``e_1, ..., e_i`` of the
    step types, in event order (``ts``, then input row order), with ``ts(e_i) - ts(e_1) <= window``.

    * ``order="ordered"`` (PostHog's sequential funnel): other events may occur between steps.
      Chains are built step by step: from each step-1 event, the next step-``j`` event after the
      step-``j-1`` event (the earliest next one is optimal for reaching further).
    * ``order="strict"``: step ``j`` must be the very next event of the user (any type) after step
      ``j-1``.
    * ``order="any"`` (PostHog's unordered funnel): step ``i`` means "any ``i`` distinct steps"
      within the window after the first of them; the ``t_i`` are the times the ``i``-th distinct
      step was first reached.

    With ``by``, the breakdown value is the one of the step-1 event of the chain (PostHog's first-touch
    attribution) and each (user, value) is counted separately. The reported chain of a (user, value)
    is the one reaching the furthest step; among those, the one starting earliest; in ordered mode a
    start is only considered if no other step-1 event comes before its step-2 event (so the time from
    step 1 to 2 is the time from the last step-1 event before the conversion).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (``user_id``, ``ts``, the step column, and ``by`` if given).
    steps : sequence of str, default ("view_item", "add_to_cart", "pay")
        Step values of ``step_column``.
    window : str or timedelta, default "1D"
        Conversion window from the step-1 event (inclusive).
    order : {"ordered", "strict", "any"}, default "ordered"
        Step order, see above.
    by : str, optional
        Breakdown column of the events (channel, device, segment ...).
    step_column : str, default "event_type"
        Event column holding the step values.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``by_value`` (if ``by``), ``steps_reached``, ``step_<j>_ts`` (UTC timestamps,
        NaT beyond the furthest step) and ``seconds_to_step_<j>`` (from step 1) for j = 1..len(steps).
    """
    spec = _funnel_spec("funnel_conversion_times", steps, window, order, by, step_column)
    rows = _funnel_user_rows(events, spec, "funnel_conversion_times")
    return _format_user_rows(rows, spec)


def _format_user_rows(rows: pd.DataFrame, spec: _FunnelSpec) -> pd.DataFrame:
    out = pd.DataFrame({"user_id": rows["user_id"]})
    if spec.by:
        out["by_value"] = rows["by_value"].astype("str")
    out["steps_reached"] = rows["level"].astype("int64")
    k = len(spec.steps)
    micros = [rows[f"t_{j}"].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for j in range(1, k + 1)]
    for j in range(1, k + 1):
        out[f"step_{j}_ts"] = pd.to_datetime(micros[j - 1], unit="us", utc=True).astype("datetime64[us, UTC]")
    for j in range(1, k + 1):
        out[f"seconds_to_step_{j}"] = (micros[j - 1] - micros[0]) / US_PER_SECOND
    return out.reset_index(drop=True)


def _summarise_funnel(users: pd.DataFrame, spec: _FunnelSpec) -> pd.DataFrame:
    k = len(spec.steps)
    reached = users["steps_reached"].to_numpy()
    seconds = np.column_stack([users[f"seconds_to_step_{j}"].to_numpy() for j in range(1, k + 1)])
    rows = []
    for j in range(1, k + 1):
        at = reached >= j
        from_previous = seconds[at, j - 1] - seconds[at, j - 2] if j > 1 else np.array([])
        rows.append(
            {
                "step": j,
                "step_name": spec.steps[j - 1] if spec.order != "any" else f"any {j} of {k}",
                "users": int(at.sum()),
                "median_seconds_from_previous": float(np.median(from_previous)) if from_previous.size else np.nan,
                "median_seconds_from_start": float(np.median(seconds[at, j - 1])) if j > 1 and at.any() else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    first = table["users"].iloc[0]
    previous = table["users"].shift(1).fillna(first)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["overall_conversion"] = np.where(first > 0, table["users"] / max(first, 1), np.nan)
        table["step_conversion"] = np.where(previous > 0, table["users"] / previous.clip(lower=1), np.nan)
    table["dropped"] = (previous - table["users"]).astype("int64")
    columns = ["step", "step_name", "users", "overall_conversion", "step_conversion", "dropped"]
    return table[columns + ["median_seconds_from_previous", "median_seconds_from_start"]]


def funnel(
    events: EventsInput,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Funnel table (PostHog-like): users reaching each step, conversion rates and median times.

    Counting and parameters as in :func:`funnel_conversion_times`; users reaching step ``i`` are
    those whose furthest step is ``>= i``.

    Returns
    -------
    pandas.DataFrame
        The funnel file: (``by_value`` if ``by``), ``step`` (1-based), ``step_name``, ``users``,
        ``overall_conversion`` (users / users at step 1), ``step_conversion`` (users / users at the
        previous step; 1 at step 1), ``dropped`` (users lost since the previous step),
        ``median_seconds_from_previous`` and ``median_seconds_from_start`` (over the users reaching
        the step; NaN at step 1).
    """
    spec = _funnel_spec("funnel", steps, window, order, by, step_column)
    users = _format_user_rows(_funnel_user_rows(events, spec, "funnel"), spec)
    if not spec.by:
        return _summarise_funnel(users, spec)
    parts = []
    for value, group in users.groupby("by_value", sort=True, dropna=False):
        part = _summarise_funnel(group, spec)
        part.insert(0, "by_value", value)
        parts.append(part)
    if not parts:
        empty = _summarise_funnel(users, spec).iloc[:0]
        empty.insert(0, "by_value", pd.Series(dtype="str"))
        return empty
    return pd.concat(parts, ignore_index=True)


def funnel_dropoffs(
    events: EventsInput,
    step: int,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Drop-off cohort: users who reached funnel step ``step`` but not step ``step + 1``.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    step : int
        1-based step, ``1 <= step < len(steps)``.
    steps, window, order, by, step_column
        As in :func:`funnel_conversion_times`.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` (and ``by_value``) and ``step_<step>_ts``, sorted.
    """
    spec = _funnel_spec("funnel_dropoffs", steps, window, order, by, step_column)
    step = _check_int(step, "step", "funnel_dropoffs", 1)
    if step >= len(spec.steps):
        raise ValueError(
            f"The 'step' parameter of funnel_dropoffs must be < the number of steps ({len(spec.steps)}). Got {step}."
        )
    users = _format_user_rows(_funnel_user_rows(events, spec, "funnel_dropoffs"), spec)
    keep = ["user_id", *(["by_value"] if spec.by else []), f"step_{step}_ts"]
    return users.loc[users["steps_reached"] == step, keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Frequent path patterns (PrefixSpan)
# --------------------------------------------------------------------------------------------------


@dataclass
class _SequenceIndex:
    """Flat numpy index of integer-coded sequences for pseudo-projected PrefixSpan."""

    pair_item: np.ndarray
    pair_last: np.ndarray
    seq_start: np.ndarray
    seq_len: np.ndarray
    occ_key: np.ndarray
    occ_pos: np.ndarray
    n_items: int
    stride: int


def _index_sequences(codes: list[np.ndarray], n_items: int) -> _SequenceIndex:
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    seq = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
    item = np.concatenate(codes).astype(np.int64) if codes else np.zeros(0, dtype=np.int64)
    pos = np.arange(len(item), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    stride = int(lengths.max(initial=0)) + 2
    occ_key = (seq * n_items + item) * stride + pos
    order = np.argsort(occ_key, kind="stable")
    occ_key, occ_pos = occ_key[order], pos[order]
    pair_key = seq * n_items + item
    last_of_pair = np.r_[pair_key[order][1:] != pair_key[order][:-1], True]
    pair_seq = seq[order][last_of_pair]
    pair_item, pair_last = item[order][last_of_pair], pos[order][last_of_pair]
    seq_len = np.bincount(pair_seq, minlength=len(codes)).astype(np.int64)
    seq_start = np.cumsum(seq_len) - seq_len
    return _SequenceIndex(pair_item, pair_last, seq_start, seq_len, occ_key, occ_pos, n_items, stride)


def _count_extensions(
    index: _SequenceIndex, seqs: np.ndarray, positions: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted number of projected sequences containing each item after their projection point.

    Returns the support per item code and, for every (projected sequence, item) pair alive, the
    projection row and the item code (to build the child projections without recounting).
    """
    lengths = index.seq_len[seqs]
    row = np.repeat(np.arange(len(seqs)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pair = index.seq_start[seqs][row] + offsets
    alive = index.pair_last[pair] > positions[row]
    row, items = row[alive], index.pair_item[pair[alive]]
    support = np.bincount(items, weights=weights[seqs[row]], minlength=index.n_items)
    return support, row, items


def _project(index: _SequenceIndex, seqs: np.ndarray, positions: np.ndarray, item: int) -> np.ndarray:
    """Position of the first occurrence of ``item`` after each projection point."""
    keys = (seqs * index.n_items + item) * index.stride + positions
    return index.occ_pos[np.searchsorted(index.occ_key, keys, side="right")]


def prefixspan(
    sequences: Sequence[Sequence[Any]],
    min_support: int,
    max_length: int | None = None,
    weights: Sequence[int] | None = None,
) -> list[tuple[tuple[Any, ...], int]]:
    """Frequent subsequences by PrefixSpan (Pei et al. 2001) with pseudo-projection in numpy.

    A pattern ``(a_1, ..., a_n)`` is supported by a sequence that contains it as a subsequence (in
    order, gaps allowed); its support is the (weighted) number of such sequences.

    Parameters
    ----------
    sequences : sequence of sequences of hashable
        The database (pass each distinct sequence once and its multiplicity as weight).
    min_support : int
        Minimum absolute support (>= 1).
    max_length : int, optional
        Longest pattern length (default: unlimited).
    weights : sequence of int, optional
        Multiplicity of each sequence (default 1).

    Returns
    -------
    list of (pattern tuple, support)
        In depth-first order with items in sorted order.
    """
    owner = "prefixspan"
    min_support = _check_int(min_support, "min_support", owner, 1)
    limit = np.inf if max_length is None else _check_int(max_length, "max_length", owner, 1)
    w = np.ones(len(sequences), dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    if len(w) != len(sequences) or (w < 0).any():
        raise ValueError(f"The 'weights' parameter of {owner} must hold one non-negative int per sequence.")
    vocabulary = sorted({x for s in sequences for x in s})
    if not vocabulary:
        return []
    code = {x: i for i, x in enumerate(vocabulary)}
    codes = [np.array([code[x] for x in s], dtype=np.int64) for s in sequences]
    index = _index_sequences(codes, len(vocabulary))
    weights_f = w.astype(float)
    results: list[tuple[tuple[Any, ...], int]] = []
    start = np.flatnonzero(index.seq_len > 0)
    stack = [((), start, np.full(len(start), -1, dtype=np.int64))]
    while stack:
        prefix, seqs, positions = stack.pop()
        support, rows, items = _count_extensions(index, seqs, positions, weights_f)
        frequent = np.flatnonzero(support >= min_support)
        children = []
        for item in frequent:
            pattern = (*prefix, vocabulary[item])
            results.append((pattern, int(round(support[item]))))
            if len(pattern) < limit:
                selected = rows[items == item]
                sub_seqs = seqs[selected]
                children.append((pattern, sub_seqs, _project(index, sub_seqs, positions[selected], item)))
        stack.extend(reversed(children))
    return results


def frequent_paths(
    events: EventsInput,
    min_support: int,
    max_length: int = 4,
    state_map: Mapping[str, str] | None = None,
    collapse_repeats: bool = False,
    unmapped: str = "drop",
    state_column: str = "event_type",
) -> pd.DataFrame:
    """Frequent path patterns over session state sequences (PrefixSpan on distinct sequences).

    Each session gives its full sequence of states (mapped, optionally collapsed; not cut at the
    conversion event, no START / terminal markers). Identical sequences are counted once in DuckDB
    before mining.

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` filled.
    min_support : int
        Minimum number of sessions containing a pattern (>= 1).
    max_length : int, default 4
        Longest pattern.
    state_map, collapse_repeats, unmapped, state_column
        As in :class:`MarkovPathModel`.

    Returns
    -------
    pandas.DataFrame
        ``pattern`` (states joined by ``" > "``), ``length``, ``support`` (sessions) and
        ``support_share`` (of sessions with at least one state), sorted by support (descending),
        length, pattern.
    """
    owner = "frequent_paths"
    min_support = _check_int(min_support, "min_support", owner, 1)
    max_length = _check_int(max_length, "max_length", owner, 1)
    spec = _path_spec(owner, state_column, state_map, unmapped, collapse_repeats, "pay", False)
    sql = f"""WITH {_kept_states_ctes(spec)},
        sequences AS (SELECT list(state ORDER BY ts, _row) AS seq FROM kept GROUP BY user_id, session_id)
        SELECT seq, COUNT(*) AS sessions FROM sequences GROUP BY seq"""
    with _events_connection(events, spec.columns, owner) as con:
        _check_no_null_sessions(con)
        _register_state_map(con, spec)
        distinct = con.execute(sql, {"conversion_event": spec.conversion_event}).df()
    mined = prefixspan(list(distinct["seq"]), min_support, max_length, distinct["sessions"].to_numpy())
    n_sessions = int(distinct["sessions"].sum())
    table = pd.DataFrame(
        {
            "pattern": pd.array([SEPARATOR.join(p) for p, _ in mined], dtype="str"),
            "length": np.array([len(p) for p, _ in mined], dtype=np.int64),
            "support": np.array([s for _, s in mined], dtype=np.int64),
        }
    )
    table["support_share"] = table["support"] / n_sessions if n_sessions else np.nan
    table = table.sort_values(["support", "length", "pattern"], ascending=[False, True, True])
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Basket analysis
# --------------------------------------------------------------------------------------------------


@dataclass
class BasketMatrix:
    """Binary basket x item matrix.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
        ``matrix[b, i] = 1`` if basket ``b`` holds item ``i`` (int64 ones).
    items : numpy.ndarray
        Item ids of the columns, sorted.
    baskets : numpy.ndarray
        Basket keys of the rows, sorted.
    """

    matrix: sp.csc_matrix
    items: np.ndarray
    baskets: np.ndarray


def build_basket_matrix(
    events: EventsInput,
    basket: str = "order_id",
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> BasketMatrix:
    """Baskets of purchase events as a sparse binary matrix.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    basket : {"order_id", "session_id"}, default "order_id"
        Basket key. With ``"order_id"``, events without an order id fall back to their session.
    item_column : str, default "item_id"
        Item column.
    event_types : sequence of str, default ("pay",)
        Event types whose items are in the basket.

    Returns
    -------
    BasketMatrix
    """
    owner = "build_basket_matrix"
    basket = _check_choice(basket, "basket", owner, ("order_id", "session_id"))
    item_column = _check_column_name(item_column, "item_column", owner)
    if isinstance(event_types, str) or not event_types:
        raise ValueError(f"The 'event_types' parameter of {owner} must be a non-empty sequence of event types.")
    session_key = "'session ' || CAST(user_id AS VARCHAR) || ' ' || CAST(session_id AS VARCHAR)"
    if basket == "order_id":
        key = f"CASE WHEN order_id IS NOT NULL THEN 'order ' || CAST(order_id AS VARCHAR) ELSE {session_key} END"
        columns = ("user_id", "session_id", "order_id", "event_type", item_column)
    else:
        key, columns = session_key, ("user_id", "session_id", "event_type", item_column)
    sql = f"""SELECT DISTINCT {key} AS basket, CAST("{item_column}" AS VARCHAR) AS item FROM events
        WHERE list_contains($types, event_type) AND "{item_column}" IS NOT NULL AND ({key}) IS NOT NULL"""
    with _events_connection(events, columns, owner) as con:
        pairs = con.execute(sql, {"types": list(event_types)}).fetchnumpy()
    baskets, rows = np.unique(np.asarray(pairs["basket"], dtype=object).astype(str), return_inverse=True)
    items, cols = np.unique(np.asarray(pairs["item"], dtype=object).astype(str), return_inverse=True)
    if len(baskets) == 0:
        raise DatasetError(f"events: no events of types {list(event_types)} with an item and a basket key.")
    ones = np.ones(len(rows), dtype=np.int64)
    matrix = sp.csc_matrix((ones, (rows.ravel(), cols.ravel())), shape=(len(baskets), len(items)))
    return BasketMatrix(matrix, items, baskets)


def _mine_itemsets(baskets: BasketMatrix, min_support: float, max_len: int) -> pd.DataFrame:
    """Apriori by sparse algebra: level-k indicator columns times the item matrix count level k+1.

    Support is ``count / n_baskets`` compared with ``>= min_support`` exactly as mlxtend does.
    """
    n = baskets.matrix.shape[0]
    counts = np.asarray(baskets.matrix.sum(axis=0)).ravel()
    frequent = np.flatnonzero(counts / n >= min_support)
    items = baskets.matrix[:, frequent].tocsc()
    found: list[tuple[tuple[int, ...], int]] = [((int(i),), int(counts[f])) for i, f in enumerate(frequent)]
    level_sets = [(int(i),) for i in range(len(frequent))]
    level_columns = items
    for _ in range(2, max_len + 1):
        if not level_sets:
            break
        co = (level_columns.T @ items).tocoo()
        last = np.array([s[-1] for s in level_sets])
        keep = (co.col > last[co.row]) & (co.data / n >= min_support)
        rows, cols, data = co.row[keep], co.col[keep], co.data[keep]
        order = np.lexsort((cols, rows))
        rows, cols, data = rows[order], cols[order], data[order]
        level_sets = [(*level_sets[r], int(c)) for r, c in zip(rows, cols, strict=True)]
        found.extend((s, int(d)) for s, d in zip(level_sets, data, strict=True))
        level_columns = level_columns[:, rows].multiply(items[:, cols]).tocsc()
    labels = baskets.items[frequent]
    return pd.DataFrame(
        {
            "itemsets": [tuple(labels[list(s)]) for s, _ in found],
            "length": np.array([len(s) for s, _ in found], dtype=np.int64),
            "count": np.array([c for _, c in found], dtype=np.int64),
            "support": np.array([c for _, c in found], dtype=float) / n,
        }
    )


def frequent_itemsets(
    events: EventsInput,
    min_support: float,
    max_len: int = 2,
    basket: str = "order_id",
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> pd.DataFrame:
    """Frequent itemsets of purchase baskets (apriori, equal to mlxtend's ``apriori``).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    min_support : float
        Minimum share of baskets, in (0, 1].
    max_len : int, default 2
        Largest itemset size.
    basket, item_column, event_types
        As in :func:`build_basket_matrix`.

    Returns
    -------
    pandas.DataFrame
        ``itemsets`` (sorted tuples of item ids), ``length``, ``count`` (baskets), ``support``.
    """
    min_support = _check_fraction(min_support, "min_support", "frequent_itemsets")
    max_len = _check_int(max_len, "max_len", "frequent_itemsets", 1)
    baskets = build_basket_matrix(events, basket, item_column, event_types)
    return _mine_itemsets(baskets, min_support, max_len)


def _rules_from_itemsets(itemsets: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    support = dict(zip(itemsets["itemsets"], itemsets["support"], strict=True))
    count = dict(zip(itemsets["itemsets"], itemsets["count"], strict=True))
    rows = []
    for itemset in itemsets.loc[itemsets["length"] >= 2, "itemsets"]:
        for size in range(1, len(itemset)):
            for antecedent in itertools.combinations(itemset, size):
                consequent = tuple(x for x in itemset if x not in antecedent)
                rows.append(
                    (antecedent, consequent, support[antecedent], support[consequent], support[itemset], count[itemset])
                )
    columns = ["antecedents", "consequents", "antecedent_support", "consequent_support", "support", "count"]
    rules = pd.DataFrame(rows, columns=columns)
    s_a, s_c, s_ac = rules["antecedent_support"], rules["consequent_support"], rules["support"]
    rules["confidence"] = s_ac / s_a
    rules["lift"] = rules["confidence"] / s_c
    rules["leverage"] = s_ac - s_a * s_c
    with np.errstate(divide="ignore"):
        rules["conviction"] = np.where(rules["confidence"] >= 1.0, np.inf, (1.0 - s_c) / (1.0 - rules["confidence"]))
    rules = rules[rules["confidence"] >= min_confidence]
    order = ["antecedents", "consequents", "antecedent_support", "consequent_support", "support", "confidence"]
    rules = rules[[*order, "lift", "leverage", "conviction", "count"]]
    return rules.sort_values(["lift", "antecedents", "consequents"], ascending=[False, True, True], ignore_index=True)


def association_rules(
    events: EventsInput,
    basket: str = "order_id",
    min_support: float = 0.01,
    min_confidence: float = 0.5,
    max_len: int = 2,
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> pd.DataFrame:
    """Association rules of purchase baskets (equal to mlxtend's ``apriori`` + ``association_rules``).

    Every frequent itemset of size >= 2 yields one rule per non-empty proper subset as antecedent;
    support = share of baskets holding antecedent and consequent, confidence = support / support(A),
    lift = confidence / support(C), leverage = support - support(A) support(C), conviction =
    (1 - support(C)) / (1 - confidence) (inf when confidence = 1).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    basket : {"order_id", "session_id"}, default "order_id"
        Basket key (order, falling back to the session for events without an order id).
    min_support : float, default 0.01
        Minimum itemset support (share of baskets).
    min_confidence : float, default 0.5
        Minimum rule confidence.
    max_len : int, default 2
        Largest itemset size (2: pair rules; 3: also two-item antecedents / consequents ...).
    item_column, event_types
        As in :func:`build_basket_matrix`.

    Returns
    -------
    pandas.DataFrame
        The association-rules file: ``antecedents``, ``consequents`` (sorted tuples of item ids),
        ``antecedent_support``, ``consequent_support``, ``support``, ``confidence``, ``lift``,
        ``leverage``, ``conviction``, ``count`` (baskets), sorted by lift (descending).
    """
    owner = "association_rules"
    min_support = _check_fraction(min_support, "min_support", owner)
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)) or not 0 <= min_confidence <= 1:
        raise ValueError(
            f"The 'min_confidence' parameter of {owner} must be a float in [0, 1]. Got {min_confidence!r}."
        )
    max_len = _check_int(max_len, "max_len", owner, 2)
    baskets = build_basket_matrix(events, basket, item_column, event_types)
    return _rules_from_itemsets(_mine_itemsets(baskets, min_support, max_len), float(min_confidence))


# --------------------------------------------------------------------------------------------------
# Viewed but not bought
# --------------------------------------------------------------------------------------------------


def viewed_not_bought(
    events: EventsInput,
    level: str = "item",
    window: str | timedelta | None = None,
    view_event: str = "view_item",
    purchase_event: str = "pay",
) -> pd.DataFrame:
    """Items and users with views that were not followed by a purchase of the same item.

    A (user, item) pair with a view is *bought* if the user paid for the item at or after one of
    its views (event order: ``ts``, then input row order) and, with ``window``, no later than
    ``window`` after that view; otherwise it is *viewed but not bought*.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (``user_id``, ``ts``, ``event_type``, ``item_id``).
    level : {"item", "user", "pair"}, default "item"
        Aggregate per item, per user, or list the (user, item) pairs.
    window : str or timedelta, optional
        Longest time from the view to the purchase (default: any time later).
    view_event, purchase_event : str
        Event types of a view and of a purchase.

    Returns
    -------
    pandas.DataFrame
        ``item``: ``item_id``, ``viewers``, ``buyers`` (viewers who bought), ``viewed_not_bought``,
        ``not_bought_rate``; ``user``: ``user_id``, ``items_viewed``, ``items_bought``,
        ``viewed_not_bought``, ``not_bought_rate``; ``pair``: ``user_id``, ``item_id``, ``views``,
        ``first_view_ts``, ``bought``. Aggregates sorted by ``viewed_not_bought`` (descending), id.
    """
    owner = "viewed_not_bought"
    level = _check_choice(level, "level", owner, ("item", "user", "pair"))
    view_event = _check_text(view_event, "view_event", owner)
    purchase_event = _check_text(purchase_event, "purchase_event", owner)
    limit = "TRUE" if window is None else f"p.tsu - v.tsu <= {_window_us(window, 'window', owner)}"
    sql = f"""WITH
        rel AS (
            SELECT user_id, item_id, ts, epoch_us(ts) AS tsu, event_type = $view AS is_view,
                   ROW_NUMBER() OVER (PARTITION BY user_id, item_id ORDER BY ts, _row) AS ord
            FROM events WHERE item_id IS NOT NULL AND event_type IN ($view, $pay)),
        views AS (SELECT * FROM rel WHERE is_view),
        pays AS (SELECT * FROM rel WHERE NOT is_view),
        matched AS (
            SELECT DISTINCT p.user_id, p.item_id FROM pays p
            ASOF JOIN views v ON p.user_id = v.user_id AND p.item_id = v.item_id AND p.ord > v.ord
            WHERE {limit}),
        pairs AS (
            SELECT v.user_id, v.item_id, COUNT(*) AS views, MIN(v.ts) AS first_view_ts,
                   BOOL_OR(m.user_id IS NOT NULL) AS bought
            FROM views v LEFT JOIN matched m ON v.user_id = m.user_id AND v.item_id = m.item_id
            GROUP BY v.user_id, v.item_id)"""
    if level == "pair":
        sql += " SELECT * FROM pairs ORDER BY user_id, item_id"
    else:
        key, n_label, b_label = (
            ("item_id", "viewers", "buyers") if level == "item" else ("user_id", "items_viewed", "items_bought")
        )
        sql += f""" SELECT {key}, COUNT(*) AS {n_label}, CAST(SUM(CAST(bought AS INTEGER)) AS BIGINT) AS {b_label},
                CAST(SUM(CAST(NOT bought AS INTEGER)) AS BIGINT) AS viewed_not_bought,
                SUM(CAST(NOT bought AS INTEGER)) / COUNT(*) AS not_bought_rate
            FROM pairs GROUP BY {key} ORDER BY viewed_not_bought DESC, {key}"""
    with _events_connection(events, ("user_id", "ts", "event_type", "item_id"), owner) as con:
        # Through Arrow: DuckDB's own pandas conversion of TIMESTAMPTZ warns under pandas 3.
        return con.sql(sql, params={"view": view_event, "pay": purchase_event}).to_arrow_table().to_pandas()
