"""Demand series from clean events: units and GMV per day (or hour) by category, item or room category.

Row-scale work is one DuckDB query over the events Parquet file (the items and rooms tables are
joined in SQL); pandas only receives the aggregated series, one row per series and period, with the
periods without a sale filled with zeros (utilsforecast's ``fill_gaps`` over one common calendar).
Periods are cut in the dataset's time zone: a sale at 23:30 UTC is on the next day in Shanghai.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from utilsforecast.preprocessing import fill_gaps

from lsc_utils.checks import DatasetError, check_choice, check_timezone
from lsc_utils.io import table_file

DEMAND_EVENTS: tuple[str, ...] = ("pay", "order")
"""Event types that carry demand, in order of preference: paid units where the log has payments."""

LEVELS: tuple[str, ...] = ("total", "category", "item", "room_category")
"""What a demand series is keyed by."""

FREQUENCIES: dict[str, str] = {"D": "day", "h": "hour"}
"""Supported period lengths (pandas alias -> SQL ``date_trunc`` part)."""

TOTAL_ID: str = "all"
NO_ROOM_ID: str = "(no room)"
UNKNOWN_ID: str = "(unknown)"
SERIES_COLUMNS: tuple[str, ...] = ("unique_id", "ds", "y", "gmv")
ADI_CUTOFF: float = 1.32
"""Average demand interval above which demand is intermittent (Syntetos, Boylan & Croston 2005)."""
CV2_CUTOFF: float = 0.49
"""Squared coefficient of variation of demand sizes above which demand is erratic or lumpy."""


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_path(path)})").fetchall()
    return {name: str(sql_type) for name, sql_type, *_ in rows}


def _events_file(events: str | Path) -> Path:
    path = table_file(events, "events")
    if not path.exists():
        raise DatasetError(f"{path}: no events Parquet file (expected a clean dataset's events.parquet).")
    return path


def demand_event_type(events: str | Path) -> str | None:
    """``'pay'`` when the events hold payments, else ``'order'`` when they hold orders, else None."""
    path = _events_file(events)
    with duckdb.connect() as con:
        found = {
            row[0]
            for row in con.execute(
                f"SELECT DISTINCT event_type FROM read_parquet({_sql_path(path)}) WHERE event_type IN ('pay', 'order')"
            ).fetchall()
        }
    return next((kind for kind in DEMAND_EVENTS if kind in found), None)


def _key_sql(level: str, cols: dict[str, str], has_items: bool, has_rooms: bool) -> tuple[str, str]:
    """SQL of the series key and the joins it needs."""
    if level == "total":
        return f"'{TOTAL_ID}'", ""
    if level == "item":
        return f"COALESCE(CAST(e.item_id AS VARCHAR), '{UNKNOWN_ID}')", ""
    if level == "category":
        if not has_items or "item_id" not in cols:
            raise DatasetError("demand by category needs the items table (item_id, category) and events with item_id.")
        return f"COALESCE(CAST(i.category AS VARCHAR), '{UNKNOWN_ID}')", "LEFT JOIN it i ON i.item_id = e.item_id"
    if not has_rooms or "room_id" not in cols:
        raise DatasetError("demand by room category needs the rooms table (room_id, category) and events with room_id.")
    key = f"CASE WHEN e.room_id IS NULL THEN '{NO_ROOM_ID}' ELSE COALESCE(CAST(r.category AS VARCHAR), '{UNKNOWN_ID}') END"
    return key, "LEFT JOIN rm r ON r.room_id = e.room_id"


def demand_series(
    events: str | Path,
    *,
    level: str = "category",
    items: pd.DataFrame | None = None,
    rooms: pd.DataFrame | None = None,
    freq: str = "D",
    timezone: str = "UTC",
    event_type: str | None = None,
    end: pd.Timestamp | None = None,
    room_units: bool = False,
) -> pd.DataFrame:
    """Units and GMV per series and period, zero-filled on one calendar for every series.

    Parameters
    ----------
    events : str or Path
        Clean events Parquet file (or the clean dataset folder).
    level : {"total", "category", "item", "room_category"}, default "category"
        Series key: everything, the item's category, the item, or the category of the live room the
        sale happened in (sales outside a room form the series ``"(no room)"``).
    items, rooms : pandas.DataFrame, optional
        ``item_id, category`` and ``room_id, category`` (needed by the category levels).
    freq : {"D", "h"}, default "D"
        Period length.
    timezone : str, default "UTC"
        IANA zone in which days (hours) are cut; ``ds`` is that zone's local time, without zone.
    event_type : {"pay", "order"}, optional
        Which events carry demand; default :func:`demand_event_type`.
    end : Timestamp, optional
        End of the observed period (exclusive, e.g. ``dataset.yaml``'s ``period.end``): a last period
        that it cuts short is dropped, so a half-observed day is not read as a fall in demand.
    room_units : bool, default False
        Also return ``room_y``, the units sold inside a live room (0 when the events have no ``room_id``).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds, y, gmv`` (and ``room_y``): ``y`` units (quantity, 1 where missing), ``gmv``
        units x paid price (0 where the price is missing), sorted by series and period.

    Raises
    ------
    DatasetError
        No demand events, or a table the level needs is missing.
    """
    check_choice(level, "level", "demand_series", LEVELS)
    check_choice(freq, "freq", "demand_series", tuple(FREQUENCIES))
    check_timezone(timezone, "timezone", "demand_series")
    path = _events_file(events)
    kind = event_type or demand_event_type(path)
    if kind is None:
        raise DatasetError(f"{path}: no 'pay' or 'order' events, so there is no demand to count.")
    check_choice(kind, "event_type", "demand_series", DEMAND_EVENTS)
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{timezone}'")
        cols = _columns(con, path)
        if items is not None:
            con.register("it", items[["item_id", "category"]].drop_duplicates("item_id"))
        if rooms is not None:
            con.register("rm", rooms[["room_id", "category"]].drop_duplicates("room_id"))
        key, join = _key_sql(level, cols, items is not None, rooms is not None)
        ts = "e.ts" if "TIME ZONE" in cols.get("ts", "").upper() else "timezone('UTC', CAST(e.ts AS TIMESTAMP))"
        units = "COALESCE(CAST(e.quantity AS DOUBLE), 1.0)" if "quantity" in cols else "1.0"
        price = "CAST(e.price AS DOUBLE)" if "price" in cols else "NULL"
        room_sum = f"COALESCE(SUM({units}) FILTER (WHERE e.room_id IS NOT NULL), 0.0)" if "room_id" in cols else "0.0"
        query = f"""
            SELECT {key} AS unique_id,
                   CAST(date_trunc('{FREQUENCIES[freq]}', {ts}) AS TIMESTAMP) AS ds,
                   SUM({units}) AS y,
                   SUM(COALESCE({price} * {units}, 0.0)) AS gmv,
                   {room_sum} AS room_y
            FROM read_parquet({_sql_path(path)}) e {join}
            WHERE e.event_type = '{kind}' AND e.ts IS NOT NULL
            GROUP BY ALL
            ORDER BY unique_id, ds
        """
        frame = con.execute(query).df()
    filled = _zero_filled(frame, freq, end, timezone)
    return filled if room_units else filled.drop(columns="room_y")


def _zero_filled(frame: pd.DataFrame, freq: str, end: pd.Timestamp | None, timezone: str) -> pd.DataFrame:
    """Every series on the common calendar (zeros where nothing sold), the short last period dropped."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in (*SERIES_COLUMNS, "room_y")}).astype(
            {"unique_id": "str", "ds": "datetime64[us]"}
        )
    frame["ds"] = pd.to_datetime(frame["ds"]).astype("datetime64[us]")
    frame["unique_id"] = frame["unique_id"].astype("str")
    filled = fill_gaps(frame, freq=freq, start="global", end="global", id_col="unique_id", time_col="ds")
    filled[["y", "gmv", "room_y"]] = filled[["y", "gmv", "room_y"]].fillna(0.0)
    if end is not None:
        end = pd.Timestamp(end)  # a date without zone is a local date of the dataset
        local_end = (end.tz_convert(timezone) if end.tzinfo is not None else end).tz_localize(None)
        period = pd.Timedelta(1, unit="D" if freq == "D" else "h")
        filled = filled[filled["ds"] + period <= local_end]
    return filled.sort_values(["unique_id", "ds"], ignore_index=True)[[*SERIES_COLUMNS, "room_y"]]


def series_summary(series: pd.DataFrame) -> pd.DataFrame:
    """Per series: periods, units, share of zero periods, ADI, CV² and the Syntetos–Boylan demand class.

    ADI is the mean interval between periods with demand; CV² the squared coefficient of variation
    of the non-zero demand sizes. Classes (Syntetos, Boylan & Croston 2005): ``smooth`` (ADI < 1.32,
    CV² < 0.49), ``erratic`` (ADI < 1.32), ``intermittent`` (CV² < 0.49), else ``lumpy``.
    """
    rows = []
    for uid, group in series.groupby("unique_id", sort=True):
        y = group["y"].to_numpy(dtype=float)
        nonzero = y[y > 0]
        positions = np.flatnonzero(y > 0)
        adi = float(np.diff(positions + 1, prepend=0).mean()) if positions.size else np.inf
        cv2 = float((nonzero.std() / nonzero.mean()) ** 2) if nonzero.size > 1 else 0.0
        smooth_timing = adi < ADI_CUTOFF
        regular_size = cv2 < CV2_CUTOFF
        kind = (
            ("smooth" if regular_size else "erratic")
            if smooth_timing
            else ("intermittent" if regular_size else "lumpy")
        )
        rows.append((uid, y.size, float(y.sum()), float((y == 0).mean()), adi, cv2, kind))
    return pd.DataFrame(rows, columns=["unique_id", "periods", "units", "zero_share", "adi", "cv2", "demand_class"])


def item_live_days(
    events: str | Path,
    items: pd.DataFrame,
    *,
    timezone: str = "UTC",
    event_type: str | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Units per item and day with a ``live`` flag: some of the day's units were sold inside a live room.

    Returns
    -------
    pandas.DataFrame
        ``item_id, category, ds, units, live`` on the common daily calendar (days without sales:
        0 units, not live); empty when the events have no ``room_id`` column.
    """
    path = _events_file(events)
    with duckdb.connect() as con:
        has_rooms = "room_id" in _columns(con, path)
    if not has_rooms:
        return pd.DataFrame(columns=["item_id", "category", "ds", "units", "live"])
    frame = demand_series(path, level="item", timezone=timezone, event_type=event_type, end=end, room_units=True)
    # sales without an item id form the series "(unknown)", which is no item: never a live day of one
    frame["live"] = (frame["room_y"] > 0) & (frame["unique_id"] != UNKNOWN_ID)
    frame = frame.rename(columns={"unique_id": "item_id", "y": "units"})
    frame["category"] = frame["item_id"].map(items.drop_duplicates("item_id").set_index("item_id")["category"])
    frame["category"] = frame["category"].fillna(UNKNOWN_ID).astype("str")
    return frame[["item_id", "category", "ds", "units", "live"]]
