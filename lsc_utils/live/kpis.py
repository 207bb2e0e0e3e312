"""Room KPIs of live commerce: traffic, attention, engagement and sales per live room.

Definitions are in :data:`KPI_DEFINITIONS` (one row per KPI: numerator and denominator). Counting
rules: a *view* (PV) is an ``enter_room`` event (revisits count); a *viewer* (UV) is a distinct user
with an ``enter_room`` in the room; a product view is a ``view_item`` event; an order is a distinct
``order_id`` of ``order`` events (an ``order`` without ``order_id`` counts alone); GMV is the paid
amount ``sum(price * quantity)`` of purchase events (:data:`lsc_utils.constants.PURCHASE_EVENTS`; a
null quantity counts 1, a null price 0; refunds are not deducted); interactions are ``like``,
``comment``, ``share`` and ``gift`` events; new followers are distinct users with a ``follow`` event
in the room. Watch times come from :func:`lsc_utils.live.build_stays`, PCU, ACU and live minutes from
:func:`lsc_utils.live.room_concurrency`. A ratio with a zero (or unknown) denominator is null.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.live._input import (
    TableInput,
    live_connection,
    live_engine,
    register_events,
    register_rooms,
    sql_list,
)
from lsc_utils.live.concurrency import room_concurrency
from lsc_utils.live.stays import DEFAULT_HEARTBEAT, DEFAULT_RECONNECT_GAP, stays_query

INTERACTION_EVENTS: tuple[str, ...] = ("like", "comment", "share", "gift")
"""Event types counted as interactions with a room."""

KPI_DEFINITIONS: pd.DataFrame = pd.DataFrame(
    [
        ("pv", "enter_room events (revisits counted)", "1"),
        ("uv", "distinct users with an enter_room", "1"),
        ("pcu", "peak concurrent viewers (sweep line over stays)", "1"),
        ("acu", "total watch seconds", "stream seconds"),
        ("avg_watch_s", "total watch seconds", "stays"),
        ("median_watch_s", "median stay length in seconds", "1"),
        ("ctr", "product views (view_item events)", "UV"),
        ("ctor", "orders (distinct order_id of order events)", "product views"),
        ("conversion_rate", "viewer buyers (distinct viewers who entered the room and paid in it)", "UV"),
        ("gmv", "sum(price * quantity) of pay events", "1"),
        ("gmv_per_live_minute", "GMV", "stream minutes"),
        ("gpm", "1,000 x GMV", "PV (enter_room events)"),
        ("uv_value", "GMV", "UV"),
        ("interaction_rate", "like + comment + share + gift events", "UV"),
        ("new_followers", "distinct users with a follow event", "1"),
    ],
    columns=["kpi", "numerator", "denominator"],
)
"""One row per KPI of :func:`room_kpis`: what is divided by what (``1`` for a count or a total)."""


ROOM_COUNTS: tuple[str, ...] = (
    "pv", "uv", "product_views", "orders", "buyers", "gmv", "interactions", "new_followers"
)  # fmt: skip
"""Per-room counts of the events, in the order :func:`_counts_sql` computes them."""


def _counts_sql() -> str:
    """Per-room event counts of the view ``ev`` (rooms of the view ``rm`` without events included).

    One pass groups the events by room and viewer; the room counts are sums and counts of those groups
    (a viewer counts once however many events), so only orders need a distinct count of their own.
    Five distinct counts over the events took five times as long at 10M events.
    """
    purchase = sql_list(PURCHASE_EVENTS)
    return f"""WITH per_viewer AS (
        SELECT room_id, user_id,
               COUNT(*) FILTER (WHERE event_type = 'enter_room') AS entries,
               COUNT(*) FILTER (WHERE event_type = 'view_item') AS product_views,
               COUNT(*) FILTER (WHERE event_type IN {purchase}) AS purchases,
               SUM(COALESCE(price, 0) * COALESCE(quantity, 1)) FILTER (WHERE event_type IN {purchase}) AS gmv,
               COUNT(*) FILTER (WHERE event_type IN {sql_list(INTERACTION_EVENTS)}) AS interactions,
               COUNT(*) FILTER (WHERE event_type = 'follow') AS follows
        FROM ev GROUP BY room_id, user_id),
    c AS (
        SELECT room_id, SUM(entries) AS pv, COUNT(*) FILTER (WHERE entries > 0) AS uv,
               SUM(product_views) AS product_views, COUNT(*) FILTER (WHERE purchases > 0) AS buyers,
               COALESCE(SUM(gmv), 0) AS gmv, SUM(interactions) AS interactions,
               COUNT(*) FILTER (WHERE follows > 0) AS new_followers,
               COUNT(*) FILTER (WHERE entries > 0 AND purchases > 0) AS viewer_buyers
        FROM per_viewer GROUP BY room_id),
    o AS (
        SELECT room_id, COUNT(DISTINCT COALESCE(order_id, '#row' || _row)) AS orders
        FROM ev WHERE event_type = 'order' GROUP BY room_id)
    SELECT COALESCE(c.room_id, r.room_id) AS room_id,
           {", ".join("COALESCE(o.orders, 0) AS orders" if count == "orders" else f"c.{count}" for count in ROOM_COUNTS)},
           c.viewer_buyers
    FROM c FULL OUTER JOIN rm r ON c.room_id = r.room_id LEFT JOIN o ON o.room_id = c.room_id"""


def _kpis_sql() -> str:
    """Join counts, watch statistics and concurrency (views ``counts``, ``stays``, ``conc``) into the KPIs."""
    return """WITH w AS (
        SELECT room_id, AVG(duration_s) AS avg_watch_s, MEDIAN(duration_s) AS median_watch_s
        FROM stays GROUP BY room_id)
    SELECT k.room_id, COALESCE(pv, 0) AS pv, COALESCE(uv, 0) AS uv, conc.pcu, conc.acu,
           w.avg_watch_s, w.median_watch_s, conc.stream_s / 60 AS live_minutes,
           COALESCE(product_views, 0) AS product_views, COALESCE(orders, 0) AS orders,
           COALESCE(buyers, 0) AS buyers, COALESCE(viewer_buyers, 0) AS viewer_buyers, COALESCE(gmv, 0) AS gmv,
           COALESCE(interactions, 0) AS interactions, COALESCE(new_followers, 0) AS new_followers,
           product_views / NULLIF(uv, 0) AS ctr,
           orders / NULLIF(product_views, 0) AS ctor,
           COALESCE(viewer_buyers, 0) / NULLIF(uv, 0) AS conversion_rate,
           gmv / NULLIF(conc.stream_s / 60, 0) AS gmv_per_live_minute,
           1000 * gmv / NULLIF(pv, 0) AS gpm,
           gmv / NULLIF(uv, 0) AS uv_value,
           interactions / NULLIF(uv, 0) AS interaction_rate
    FROM counts k LEFT JOIN w USING (room_id) LEFT JOIN conc USING (room_id)
    ORDER BY k.room_id"""


def room_kpis(
    events: TableInput,
    rooms: TableInput | None = None,
    heartbeat: Any = DEFAULT_HEARTBEAT,
    reconnect_gap: Any = DEFAULT_RECONNECT_GAP,
    stays: pd.DataFrame | None = None,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """KPIs of every live room (definitions in :data:`KPI_DEFINITIONS` and the module docstring).

    Parameters
    ----------
    events : pandas.DataFrame, str or Path
        Canonical events (frame, Parquet file or dataset folder) with ``user_id, room_id, ts,
        event_type``; ``price``, ``quantity`` and ``order_id`` are used when present.
    rooms : pandas.DataFrame, str, Path or None, default None
        Canonical rooms (``room_id, start_ts, end_ts``): stream windows, room-end closing of stays,
        and rooms without events (all counts 0).
    heartbeat, reconnect_gap : str or timedelta
        Stay rules of :func:`lsc_utils.live.build_stays`.
    stays : pandas.DataFrame, optional
        Stays already built by :func:`lsc_utils.live.build_stays` from the same events and rules
        (a notebook that shows them reuses them; ``heartbeat`` and ``reconnect_gap`` are then unused).
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the row-scale SQL (stays, per-room counts) runs: DuckDB on this machine, or the same SQL
        transpiled to Spark (:func:`lsc_utils.sqlengine.spark_session`). Concurrency and the ratios
        are computed from the per-room and per-stay results on this machine either way.

    Returns
    -------
    pandas.DataFrame
        One row per room: ``pv, uv, pcu, acu, avg_watch_s, median_watch_s, live_minutes,
        product_views, orders, buyers, viewer_buyers, gmv, interactions, new_followers, ctr, ctor, conversion_rate,
        gmv_per_live_minute, gpm, uv_value, interaction_rate`` (ratios null on a zero denominator).

    Raises
    ------
    DatasetError
        A required column is missing, a timestamp column holds no timestamps, or a table is empty.
    """
    with live_engine(engine, "room_kpis") as runner:
        register_events(runner, events, "room_kpis")
        register_rooms(runner, rooms, "room_kpis")
        if stays is None:
            stays = stays_query(runner, heartbeat, reconnect_gap)
        counts = runner.df(_counts_sql())
    conc = room_concurrency(stays, rooms)
    with live_connection() as con:
        con.register("counts", counts)
        con.register("stays", stays[["room_id", "duration_s"]])
        con.register("conc", conc[["room_id", "pcu", "acu", "stream_s"]])
        out = con.execute(_kpis_sql()).fetchdf()
    ints = ["pv", "uv", "product_views", "orders", "buyers", "viewer_buyers", "interactions", "new_followers"]
    return out.astype(dict.fromkeys(ints, "int64")).astype({"pcu": "Int64"})
