"""Concurrent viewers of live rooms: a sweep line over stays (PCU, ACU) and a per-minute series.

Each room's *stream window* is ``[start_ts, end_ts)`` from the rooms table, or, for a room without
one (no rooms table, or null times), from its first stay's entry to its last stay's end. Stays are
clipped to the window. Every stay gives a ``+1`` at its entry and a ``-1`` at its end; ordered by
time with the ``-1`` first at equal instants (half-open stays: ``[0, 10)`` and ``[10, 20)`` never
overlap), the running sum is the number of viewers present, and its maximum is the **PCU** (peak
concurrent users). The **ACU** (average concurrent users) is the time average of that step
function over the window, which equals ``total watch seconds / stream seconds`` exactly; it is
computed that way, from integer microseconds.
"""

from __future__ import annotations

import pandas as pd

from lsc_utils.live._input import (
    US_PER_MINUTE,
    US_PER_SECOND,
    TableInput,
    live_connection,
    register_rooms,
    register_stays,
)

CONCURRENCY_COLUMNS: dict[str, str] = {
    "room_id": "room",
    "stream_start": "start of the stream window (UTC)",
    "stream_end": "end of the stream window (UTC)",
    "stream_s": "stream_end - stream_start in seconds",
    "watch_s": "total watch seconds of the room's stays, clipped to the window",
    "n_stays": "stays with positive length inside the window",
    "pcu": "peak concurrent viewers (sweep line, leaves before enters at equal instants)",
    "acu": "average concurrent viewers = watch_s / stream_s (null for an empty window)",
}
"""Data dictionary of :func:`room_concurrency` output."""

SERIES_COLUMNS: dict[str, str] = {
    "room_id": "room",
    "minute": "start of the minute (UTC)",
    "seconds": "seconds of the minute inside the stream window (60 except at the window's edges)",
    "viewers_start": "viewers present at the minute's first instant inside the window",
    "viewers_peak": "most viewers present at any instant of the minute",
    "viewers_avg": "time-average of viewers over the minute's part inside the window",
}
"""Data dictionary of :func:`concurrency_series` output."""


def _sweep_ctes() -> str:
    """CTEs ``win`` (room windows), ``clipped`` (stays in them) and ``running`` (the sweep line)."""
    return """
    span AS (SELECT room_id, MIN(a) AS a0, MAX(b) AS b0 FROM st GROUP BY room_id),
    win AS (
        SELECT COALESCE(r.room_id, p.room_id) AS room_id, COALESCE(r.start_us, p.a0) AS w0,
               COALESCE(r.end_us, p.b0) AS w1
        FROM rm r FULL OUTER JOIN span p ON r.room_id = p.room_id),
    clipped AS (
        SELECT s.room_id, GREATEST(s.a, w.w0) AS a, LEAST(s.b, w.w1) AS b
        FROM st s JOIN win w ON s.room_id = w.room_id
        WHERE LEAST(s.b, w.w1) > GREATEST(s.a, w.w0)),
    deltas AS (
        SELECT room_id, a AS t, 1 AS d FROM clipped UNION ALL SELECT room_id, b AS t, -1 AS d FROM clipped),
    running AS (
        SELECT room_id, t, d, SUM(d) OVER (PARTITION BY room_id ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c
        FROM deltas)"""


def _concurrency_sql() -> str:
    return f"""WITH {_sweep_ctes()},
    peak AS (SELECT room_id, MAX(c) AS pcu FROM running GROUP BY room_id),
    watch AS (SELECT room_id, SUM(b - a) AS watch_us, COUNT(*) AS n_stays FROM clipped GROUP BY room_id)
    SELECT w.room_id, make_timestamp(w.w0)::TIMESTAMPTZ AS stream_start,
           make_timestamp(w.w1)::TIMESTAMPTZ AS stream_end, (w.w1 - w.w0) / {US_PER_SECOND} AS stream_s,
           COALESCE(watch_us, 0) / {US_PER_SECOND} AS watch_s, COALESCE(n_stays, 0) AS n_stays,
           COALESCE(pcu, 0) AS pcu,
           CAST(COALESCE(watch_us, 0) AS DOUBLE) / NULLIF(w.w1 - w.w0, 0) AS acu
    FROM win w LEFT JOIN peak USING (room_id) LEFT JOIN watch USING (room_id)
    WHERE w.w0 IS NOT NULL AND w.w1 IS NOT NULL AND w.w1 >= w.w0
    ORDER BY w.room_id"""


ROOMS_PER_QUERY: int = 2000
"""Rooms whose per-minute series one DuckDB query builds: a 10M-event log has ~50k rooms and ~12M room
minutes, and one query over all of them holds gigabytes before the first row is returned."""


def _series_sql() -> str:
    """Per-minute viewers from the step function of the sweep line, in time linear in stays + minutes.

    ``seg`` keeps the positive-length steps ``[t, next change)`` with ``c`` viewers (the count after
    every change at an instant); each step is cut at minute boundaries, so no stay is paired with every
    minute of its room.
    """
    m = US_PER_MINUTE
    return f"""WITH {_sweep_ctes()},
    grid AS (
        SELECT room_id, w0, w1, UNNEST(generate_series(w0 - (w0 % {m}), w1 - 1, {m})) AS m
        FROM win WHERE w1 > w0),
    part AS (SELECT room_id, m, GREATEST(m, w0) AS p0, LEAST(m + {m}, w1) AS p1 FROM grid),
    seg AS (
        SELECT room_id, t AS a, c, LEAD(t) OVER (PARTITION BY room_id ORDER BY t, d, c * d) AS b FROM running),
    pieces AS (
        SELECT s.room_id, s.a, s.b, s.c, w.w0,
               UNNEST(generate_series(s.a - (s.a % {m}), s.b - 1 - ((s.b - 1) % {m}), {m})) AS m
        FROM seg s JOIN win w USING (room_id) WHERE s.b > s.a AND s.c > 0),
    agg AS (
        SELECT room_id, m, SUM(c * (LEAST(b, m + {m}) - GREATEST(a, m))) AS watch_us, MAX(c) AS peak,
               MAX(CASE WHEN a <= GREATEST(m, w0) THEN c END) AS at_start
        FROM pieces GROUP BY room_id, m)
    SELECT p.room_id, make_timestamp(p.m)::TIMESTAMPTZ AS minute, (p.p1 - p.p0) / {US_PER_SECOND} AS seconds,
           COALESCE(g.at_start, 0) AS viewers_start, COALESCE(g.peak, 0) AS viewers_peak,
           CAST(COALESCE(g.watch_us, 0) AS DOUBLE) / (p.p1 - p.p0) AS viewers_avg
    FROM part p LEFT JOIN agg g USING (room_id, m)
    ORDER BY p.room_id, p.m"""


def room_concurrency(stays: pd.DataFrame, rooms: TableInput | None = None) -> pd.DataFrame:
    """PCU and ACU of every room by a sweep line over its stays (definitions in the module docstring).

    Parameters
    ----------
    stays : pandas.DataFrame
        Stays with ``room_id, user_id, enter_ts, leave_ts`` (the output of :func:`build_stays`).
    rooms : pandas.DataFrame, str, Path or None, default None
        Canonical rooms (``room_id, start_ts, end_ts``) giving the stream windows; rooms without
        stays appear with PCU 0 and ACU 0.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`CONCURRENCY_COLUMNS`, one row per room with a window.
    """
    with live_connection() as con:
        register_stays(con, stays, "room_concurrency")
        register_rooms(con, rooms, "room_concurrency")
        out = con.execute(_concurrency_sql()).fetchdf()
    return out.astype({"n_stays": "int64", "pcu": "int64"})


def concurrency_series(stays: pd.DataFrame, rooms: TableInput | None = None) -> pd.DataFrame:
    """Concurrent viewers of every room minute by minute over its stream window.

    Parameters
    ----------
    stays : pandas.DataFrame
        Stays with ``room_id, user_id, enter_ts, leave_ts`` (the output of :func:`build_stays`).
    rooms : pandas.DataFrame, str, Path or None, default None
        Canonical rooms giving the stream windows (see :func:`room_concurrency`).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`SERIES_COLUMNS`, one row per room and calendar minute touching its window;
        the ``seconds``-weighted mean of ``viewers_avg`` is the room's ACU and the maximum of
        ``viewers_peak`` its PCU.
    """
    with live_connection() as con:
        register_stays(con, stays, "concurrency_series")
        register_rooms(con, rooms, "concurrency_series")
        con.execute("ALTER VIEW st RENAME TO st_all")
        con.execute("ALTER VIEW rm RENAME TO rm_all")
        con.execute(
            f"""CREATE TEMP TABLE room_part AS
            SELECT room_id, (DENSE_RANK() OVER (ORDER BY room_id) - 1) // {ROOMS_PER_QUERY} AS part
            FROM (SELECT room_id FROM st_all UNION SELECT room_id FROM rm_all)"""
        )
        n_parts = con.execute("SELECT COALESCE(MAX(part) + 1, 0) FROM room_part").fetchone()[0]
        parts = []
        for part in range(max(1, n_parts)):  # room groups in room_id order: the results concatenate sorted
            for view, source in (("st", "st_all"), ("rm", "rm_all")):
                con.execute(
                    f"""CREATE OR REPLACE TEMP VIEW {view} AS SELECT x.* FROM {source} x
                    WHERE x.room_id IN (SELECT room_id FROM room_part WHERE part = {part})"""
                )
            parts.append(con.execute(_series_sql()).fetchdf())
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out.astype({"viewers_start": "int64", "viewers_peak": "int64"})
