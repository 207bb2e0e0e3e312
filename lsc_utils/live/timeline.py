"""Per-minute room timelines, product slots, and a streaming replay equal to the batch computation.

* :func:`minute_activity`: entries, leaves, product views, orders, interactions, comments and GMV of
  every room minute (DuckDB over the events; a minute is ``[hh:mm:00, hh:mm+1:00)`` in UTC).
* :func:`room_timeline`: one room's minutes on a complete grid over its stream window, with the
  concurrency of :func:`lsc_utils.live.concurrency_series` beside the activity.
* :func:`product_slots`: which product was on show when (first and last minute an item was viewed,
  carted or ordered in the room, with its views, orders and GMV).
* :func:`replay_minute_activity`: the same per-minute activity computed as a live dashboard would,
  from events fed in arrival order in micro-batches; a minute is final once an event of a later
  minute has arrived. Its result equals :func:`minute_activity` exactly: counts are integers and GMV
  is summed in integer cents (``round(price * quantity * 100)``), so the order of additions cannot
  change a digit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lsc_utils.checks import check_int
from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.live._input import (
    US_PER_MINUTE,
    TableInput,
    live_connection,
    register_events,
    sql_list,
)
from lsc_utils.live.concurrency import concurrency_series
from lsc_utils.live.kpis import INTERACTION_EVENTS

ACTIVITY_COUNTS: dict[str, tuple[str, ...]] = {
    "entries": ("enter_room",),
    "leaves": ("leave_room",),
    "product_views": ("view_item",),
    "carts": ("add_to_cart",),
    "orders": ("order",),
    "comments": ("comment",),
    "interactions": INTERACTION_EVENTS,
}
"""Per-minute counts of :func:`minute_activity`: column -> event types counted (events, not users)."""

ACTIVITY_COLUMNS: tuple[str, ...] = ("room_id", "minute", *ACTIVITY_COUNTS, "gmv_cents")
"""Columns of :func:`minute_activity` (``gmv_cents``: paid amount of the minute in integer cents)."""

SLOT_EVENTS: tuple[str, ...] = ("view_item", "add_to_cart", "order", "pay")
"""Events that show an item was on show in a room (:func:`product_slots`)."""

DEFAULT_BATCH_ROWS: int = 10_000
"""Events per micro-batch of :func:`replay_minute_activity`."""


def _gmv_cents_sql() -> str:
    purchase = sql_list(PURCHASE_EVENTS)
    return (
        f"CAST(ROUND(COALESCE(price, 0) * COALESCE(quantity, 1) * 100) AS BIGINT) "
        f"* CAST(event_type IN {purchase} AS BIGINT)"
    )


def _activity_select() -> str:
    counts = ", ".join(
        f"CAST(COUNT(*) FILTER (WHERE event_type IN {sql_list(types)}) AS BIGINT) AS {name}"
        for name, types in ACTIVITY_COUNTS.items()
    )
    return f"{counts}, CAST(SUM({_gmv_cents_sql()}) AS BIGINT) AS gmv_cents"


def _room_filter(room_ids: Sequence[str] | None) -> str:
    return "" if room_ids is None else f" AND room_id IN {sql_list([str(r) for r in room_ids] or [''])}"


def minute_activity(events: TableInput, room_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Activity of every room minute that has at least one event.

    Parameters
    ----------
    events : pandas.DataFrame, str or Path
        Canonical events (a frame, a Parquet file or a dataset folder).
    room_ids : sequence of str, optional
        Only these rooms (default: all).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ACTIVITY_COLUMNS`, ``minute`` as UTC timestamps, sorted by room and minute.
    """
    with live_connection() as con:
        register_events(con, events, "minute_activity")
        out = con.execute(
            f"""SELECT room_id, make_timestamp(t - t % {US_PER_MINUTE})::TIMESTAMPTZ AS minute, {_activity_select()}
            FROM ev WHERE TRUE{_room_filter(room_ids)} GROUP BY ALL ORDER BY room_id, minute"""
        ).fetchdf()
    return out.astype({c: "int64" for c in ACTIVITY_COLUMNS[2:]})


def room_timeline(events: TableInput, stays: pd.DataFrame, rooms: TableInput, room_id: str) -> pd.DataFrame:
    """One room minute by minute over its stream window: concurrency, activity (zeros filled) and GMV.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`lsc_utils.live.concurrency_series` and of :func:`minute_activity`, plus
        ``gmv`` (currency units) and ``minute_of_stream`` (0 at the first minute).
    """
    series = concurrency_series(stays[stays["room_id"] == room_id], _room_rows(rooms, room_id))
    activity = minute_activity(events, [room_id])
    out = series.merge(activity, on=["room_id", "minute"], how="left")
    counts = [*ACTIVITY_COUNTS, "gmv_cents"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["gmv"] = out["gmv_cents"] / 100
    out["minute_of_stream"] = np.arange(len(out))
    return out


def _room_rows(rooms: TableInput, room_id: str) -> pd.DataFrame:
    frame = rooms if isinstance(rooms, pd.DataFrame) else pd.read_parquet(rooms)
    return frame[frame["room_id"] == room_id]


def product_slots(events: TableInput, room_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """When each product was on show in a room: first and last minute with a view, cart or order.

    Returns
    -------
    pandas.DataFrame
        ``room_id, item_id, first_minute, last_minute, views, carts, orders, gmv``, by room and first minute.
    """
    with live_connection() as con:
        register_events(con, events, "product_slots")
        out = con.execute(
            f"""SELECT room_id, item_id,
                   make_timestamp(MIN(t) - MIN(t) % {US_PER_MINUTE})::TIMESTAMPTZ AS first_minute,
                   make_timestamp(MAX(t) - MAX(t) % {US_PER_MINUTE})::TIMESTAMPTZ AS last_minute,
                   CAST(COUNT(*) FILTER (WHERE event_type = 'view_item') AS BIGINT) AS views,
                   CAST(COUNT(*) FILTER (WHERE event_type = 'add_to_cart') AS BIGINT) AS carts,
                   CAST(COUNT(*) FILTER (WHERE event_type = 'order') AS BIGINT) AS orders,
                   CAST(SUM({_gmv_cents_sql()}) AS BIGINT) / 100.0 AS gmv
            FROM ev WHERE item_id IS NOT NULL AND event_type IN {sql_list(SLOT_EVENTS)}{_room_filter(room_ids)}
            GROUP BY room_id, item_id ORDER BY room_id, first_minute, item_id"""
        ).fetchdf()
    return out.astype({"views": "int64", "carts": "int64", "orders": "int64"})


def _batch_activity(batch: pd.DataFrame) -> pd.DataFrame:
    """Per-minute activity of one micro-batch (``room_id, t, event_type, gmv_cents`` rows)."""
    frame = pd.DataFrame({"room_id": batch["room_id"], "m": batch["t"] - batch["t"] % US_PER_MINUTE})
    for name, types in ACTIVITY_COUNTS.items():
        frame[name] = batch["event_type"].isin(types).astype("int64")
    frame["gmv_cents"] = batch["gmv_cents"].astype("int64")
    return _sum_by_minute(frame)


def _sum_by_minute(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts summed by ``room_id, m`` as plain columns (a MultiIndex would keep every room ever seen
    in its levels, and aligning on it grows with the stream)."""
    return frame.groupby(["room_id", "m"], sort=False, as_index=False).sum()


def replay_minute_activity(
    events: TableInput, batch_rows: int = DEFAULT_BATCH_ROWS, room_ids: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay the events in arrival order in micro-batches and keep per-minute activity up to date.

    The state holds only the minutes still open (those of the newest event's minute); a minute is
    emitted, final, once a batch ends with an event of a later minute (event time order, ties by input
    row). Each batch's latency is the time to fold it into the state and emit the closed minutes.

    Parameters
    ----------
    events : pandas.DataFrame, str or Path
        Canonical events.
    batch_rows : int, default 10_000
        Events per micro-batch (>= 1).
    room_ids : sequence of str, optional
        Only these rooms.

    Returns
    -------
    activity : pandas.DataFrame
        Equal to :func:`minute_activity` (same columns, order and values).
    batches : pandas.DataFrame
        One row per micro-batch: ``batch, events, closed_minutes, latency_ms``.
    """
    batch_rows = check_int(batch_rows, "batch_rows", "replay_minute_activity", minimum=1)
    emitted: list[pd.DataFrame] = []
    stats = []
    open_minutes: pd.DataFrame | None = None
    with live_connection() as con:
        register_events(con, events, "replay_minute_activity")
        reader = con.sql(
            f"""SELECT room_id, t, event_type, {_gmv_cents_sql()} AS gmv_cents
            FROM ev WHERE TRUE{_room_filter(room_ids)} ORDER BY t, _row"""
        ).to_arrow_reader(batch_rows)
        for number, batch in enumerate(reader):
            start = time.perf_counter()
            frame = batch.to_pandas()
            part = _batch_activity(frame)
            open_minutes = part if open_minutes is None else _sum_by_minute(pd.concat([open_minutes, part]))
            newest = int(frame["t"].iloc[-1]) - int(frame["t"].iloc[-1]) % US_PER_MINUTE
            closed = (open_minutes["m"] < newest).to_numpy()
            emitted.append(open_minutes[closed])
            open_minutes = open_minutes[~closed]
            stats.append((number, len(frame), int(closed.sum()), 1000 * (time.perf_counter() - start)))
    emitted.append(open_minutes)  # the end of the stream closes the last minutes
    batches = pd.DataFrame(stats, columns=["batch", "events", "closed_minutes", "latency_ms"])
    if not stats:
        return minute_activity(events, room_ids), batches  # no event: the (empty) batch answer
    activity = pd.concat(emitted, ignore_index=True)
    activity["minute"] = pd.to_datetime(activity.pop("m"), unit="us", utc=True)
    activity = activity[list(ACTIVITY_COLUMNS)].sort_values(["room_id", "minute"], ignore_index=True)
    return activity.astype({c: "int64" for c in ACTIVITY_COLUMNS[2:]}), batches
