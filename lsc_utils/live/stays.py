"""Viewer stays: one row per visit of a viewer to a live room, rebuilt from enter, leave and activity events.

Rules (all times half-open, a stay covers ``[enter_ts, leave_ts)``)
--------------------------------------------------------------------
Each viewer's events in a room (types in :data:`ACTIVITY_EVENTS`, i.e. every canonical type except
``impression``) are ordered by time, a ``leave_room`` before an ``enter_room`` at the same instant and
both before other events, then by input row. Every ``enter_room`` opens a *piece* that holds the events
up to the viewer's next ``enter_room`` in the room; events before the first entry open nothing. A piece
ends at the first of

* its ``leave_room`` (``closed_by = "leave"``); without one, its last event plus ``heartbeat``
  (``closed_by = "heartbeat"``): a leave is the viewer's own signal, so it is trusted even after a
  long quiet spell (passive viewers watch without interacting);
* the room's ``end_ts`` when a rooms table is given (``closed_by = "room_end"``);
* the viewer's next entry (a piece cut this way always merges with the next one, below).

Pieces of one viewer in one room whose gap (next enter minus previous end) is at most
``reconnect_gap`` merge into one stay, and the gap counts as watched; the stay keeps the
``closed_by`` of its last piece and ``n_entries`` says how many entries it holds. With a rooms table,
a stay starts no earlier than the room's ``start_ts``; a stay that falls wholly outside the room's
window keeps zero length.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lsc_utils.checks import missing_columns_error
from lsc_utils.live._input import (
    ACTIVITY_EVENTS,
    US_PER_SECOND,
    Connection,
    TableInput,
    as_engine,
    duration_us,
    live_connection,
    live_engine,
    register_events,
    register_rooms,
    sql_list,
)

CLOSING_RULES: tuple[str, ...] = ("leave", "heartbeat", "room_end")
"""Values of ``closed_by``: which rule ended a stay."""

DEFAULT_HEARTBEAT: str = "5min"
"""Default time a viewer counts as present after their last event when no leave is logged."""

DEFAULT_RECONNECT_GAP: str = "30s"
"""Default largest gap between a stay's end and a re-entry that still continues the same stay."""

STAY_COLUMNS_OUT: dict[str, str] = {
    "room_id": "room of the stay",
    "user_id": "viewer",
    "enter_ts": "start of the stay (UTC, inclusive)",
    "leave_ts": "end of the stay (UTC, exclusive)",
    "duration_s": "leave_ts - enter_ts in seconds",
    "closed_by": "rule that ended the stay: leave, heartbeat or room_end",
    "n_entries": "enter_room events merged into the stay (1 + reconnects)",
    "channel": "channel of the stay's first logged entry (null when the events have no channel)",
}
"""Data dictionary of :func:`build_stays` output."""


def _pieces_sql() -> str:
    """CTEs ``ordered``, ``pieces``, ``bounded`` and ``cut``: one row per entry with its end and closing rule."""
    return f"""
    ordered AS (
        SELECT room_id, user_id, t, _row, channel,
               CASE event_type WHEN 'leave_room' THEN 0 WHEN 'enter_room' THEN 1 ELSE 2 END AS kind
        FROM ev WHERE event_type IN {sql_list(ACTIVITY_EVENTS)}),
    numbered AS (
        SELECT *, SUM(CASE WHEN kind = 1 THEN 1 ELSE 0 END) OVER (
                   PARTITION BY room_id, user_id ORDER BY t, kind, _row ROWS UNBOUNDED PRECEDING) AS piece
        FROM ordered),
    pieces AS (
        SELECT room_id, user_id, piece, MIN(t) FILTER (WHERE kind = 1) AS enter_us,
               MIN(t) FILTER (WHERE kind = 0) AS leave_us, MAX(t) AS last_us,
               MIN(channel) FILTER (WHERE kind = 1) AS channel
        FROM numbered WHERE piece > 0 GROUP BY room_id, user_id, piece),
    bounded AS (
        SELECT p.room_id, p.user_id, p.piece, p.channel, GREATEST(p.enter_us, r.start_us) AS enter_us,
               COALESCE(p.leave_us, p.last_us + $heartbeat) AS natural_end,
               CASE WHEN p.leave_us IS NULL THEN 'heartbeat' ELSE 'leave' END AS natural_rule,
               LEAD(p.enter_us) OVER (PARTITION BY p.room_id, p.user_id ORDER BY p.piece) AS next_enter,
               r.end_us
        FROM pieces p LEFT JOIN rm r ON p.room_id = r.room_id),
    cut AS (
        SELECT room_id, user_id, piece, channel, enter_us, LEAST(natural_end, next_enter, end_us) AS end_cut,
               CASE WHEN LEAST(natural_end, next_enter, end_us) = natural_end THEN natural_rule
                    WHEN LEAST(natural_end, next_enter, end_us) = next_enter THEN 'reentry'
                    ELSE 'room_end' END AS closed_by
        FROM bounded)"""


def _stays_sql() -> str:
    """The query of :func:`build_stays` (parameters ``$heartbeat`` and ``$gap`` in microseconds)."""
    return f"""WITH {_pieces_sql()},
    pieces_cut AS (
        SELECT room_id, user_id, piece, channel, enter_us, GREATEST(end_cut, enter_us) AS leave_us, closed_by
        FROM cut),
    flagged AS (
        SELECT *, CASE WHEN enter_us - LAG(leave_us) OVER w <= $gap THEN 0 ELSE 1 END AS is_new
        FROM pieces_cut WINDOW w AS (PARTITION BY room_id, user_id ORDER BY piece)),
    grouped AS (
        SELECT *, SUM(is_new) OVER (PARTITION BY room_id, user_id ORDER BY piece ROWS UNBOUNDED PRECEDING) AS stay
        FROM flagged),
    stays AS (
        SELECT room_id, user_id, MIN(enter_us) AS enter_us, MAX(leave_us) AS leave_us,
               arg_max(closed_by, piece) AS closed_by, COUNT(*) AS n_entries, arg_min(channel, piece) AS channel
        FROM grouped GROUP BY room_id, user_id, stay)
    SELECT room_id, user_id, make_timestamp(enter_us)::TIMESTAMPTZ AS enter_ts,
           make_timestamp(leave_us)::TIMESTAMPTZ AS leave_ts,
           (leave_us - enter_us) / {US_PER_SECOND} AS duration_s, closed_by, n_entries, channel
    FROM stays ORDER BY room_id, user_id, enter_ts"""


def stays_query(
    con: Connection, heartbeat: Any = DEFAULT_HEARTBEAT, reconnect_gap: Any = DEFAULT_RECONNECT_GAP
) -> pd.DataFrame:
    """Run the stays query on a connection or engine that holds the views ``ev`` and ``rm`` (see :func:`build_stays`)."""
    heartbeat_us = duration_us(heartbeat, "heartbeat", "build_stays")
    gap_us = duration_us(reconnect_gap, "reconnect_gap", "build_stays", allow_zero=True)
    sql = _stays_sql().replace("$heartbeat", str(heartbeat_us)).replace("$gap", str(gap_us))  # whole microseconds
    stays = as_engine(con).df(sql)
    stays["n_entries"] = stays["n_entries"].astype("int64")
    return stays


def build_stays(
    events: TableInput,
    rooms: TableInput | None = None,
    heartbeat: Any = DEFAULT_HEARTBEAT,
    reconnect_gap: Any = DEFAULT_RECONNECT_GAP,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """One row per viewer stay in a live room (rules in the module docstring).

    Parameters
    ----------
    events : pandas.DataFrame, str or Path
        Canonical events (a frame, a Parquet file or a dataset folder) with ``user_id, room_id, ts,
        event_type``; rows without user, room or timestamp are ignored.
    rooms : pandas.DataFrame, str, Path or None, default None
        Canonical rooms with ``room_id, start_ts, end_ts``; the room's end closes open stays and its
        start clips early entries. Without it no room-end rule applies.
    heartbeat : str or timedelta, default ``"5min"``
        Presence after a viewer's last event in a piece without a ``leave_room``.
    reconnect_gap : str or timedelta, default ``"30s"``
        Largest gap between a stay's end and the viewer's next entry that merges the two (>= 0).
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the query runs: DuckDB on this machine, or the same SQL transpiled to Spark
        (:func:`lsc_utils.sqlengine.spark_session`) for events beyond one machine.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`STAY_COLUMNS_OUT`, sorted by room, user and entry.

    Raises
    ------
    DatasetError
        A required column is missing, ``ts``/``start_ts``/``end_ts`` are not timestamps, or a table is empty.
    """
    with live_engine(engine, "build_stays") as runner:
        register_events(runner, events, "build_stays")
        register_rooms(runner, rooms, "build_stays")
        return stays_query(runner, heartbeat, reconnect_gap)


def summarize_stays(stays: pd.DataFrame) -> pd.DataFrame:
    """Count stays by closing rule, with reconnect merges.

    Parameters
    ----------
    stays : pandas.DataFrame
        Output of :func:`build_stays`.

    Returns
    -------
    pandas.DataFrame
        One row per rule of :data:`CLOSING_RULES` (zero counts included) and a ``total`` row; columns
        ``closed_by, n_stays, share`` (of all stays), ``n_entries`` (entries in those stays) and
        ``reconnects`` (entries merged into an earlier stay: ``n_entries - n_stays``).
    """
    missing = [c for c in ("closed_by", "n_entries") if c not in stays.columns]
    if missing:
        raise missing_columns_error("stays", missing, list(stays.columns), "summarize_stays")
    rules = pd.DataFrame({"closed_by": list(CLOSING_RULES)})
    with live_connection() as con:
        con.register("s", stays[["closed_by", "n_entries"]])
        con.register("rules", rules)
        out = con.execute(
            """WITH c AS (SELECT closed_by, COUNT(*) AS n_stays, SUM(n_entries) AS n_entries FROM s GROUP BY closed_by),
                   r AS (SELECT rules.closed_by, COALESCE(n_stays, 0) AS n_stays, COALESCE(n_entries, 0) AS n_entries
                         FROM rules LEFT JOIN c USING (closed_by)),
                   t AS (SELECT * FROM r UNION ALL SELECT 'total', SUM(n_stays), SUM(n_entries) FROM r)
               SELECT closed_by, CAST(n_stays AS BIGINT) AS n_stays,
                      n_stays / NULLIF(SUM(n_stays) FILTER (WHERE closed_by <> 'total') OVER (), 0) AS share,
                      CAST(n_entries AS BIGINT) AS n_entries, CAST(n_entries - n_stays AS BIGINT) AS reconnects
               FROM t"""
        ).fetchdf()
    order = {rule: i for i, rule in enumerate((*CLOSING_RULES, "total"))}
    return out.sort_values("closed_by", key=lambda s: s.map(order)).reset_index(drop=True)
