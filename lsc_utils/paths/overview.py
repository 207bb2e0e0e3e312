"""What an event file holds, and per-user attributes joined to it, in DuckDB (no event enters pandas).

Notebook 04 reads the clean events as a Parquet path. These helpers answer the questions it asks before
each analysis (how many sessions, is there a channel, a conversion, an order with several items) and
write narrow copies of the event file with one user attribute (device, segment) for breakdowns and
per-group fits, streamed by ``COPY`` in the file's row order (ties in time keep their order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.io import parquet_relation
from lsc_utils.paths._events import _resolve_parquet, _sql_text
from lsc_utils.schema import DatasetError
from lsc_utils.sqlengine import capped_connection

ATTRIBUTE_COLUMNS: tuple[str, ...] = ("user_id", "ts", "event_type", "session_id", "item_id", "channel", "order_id")
"""Event columns kept in the copies with a user attribute (those present in the file)."""


@dataclass(frozen=True)
class EventOverview:
    """Counts of an event file (see :func:`event_overview`)."""

    events: int
    sessions: int
    users: int
    event_types: dict[str, int] = field(default_factory=dict)
    with_channel: int = 0
    with_item: int = 0

    def has(self, event_type: str) -> bool:
        """Whether any event has this type."""
        return self.event_types.get(event_type, 0) > 0


def _connect() -> duckdb.DuckDBPyConnection:
    return capped_connection()


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def event_overview(events: str | Path) -> EventOverview:
    """Events, sessions, users, events per type, and events with a channel or an item, of a Parquet file."""
    file = _resolve_parquet(events)
    source = f"read_parquet({_sql_text(str(file))})"
    with _connect() as con:
        columns = _columns(con, source)
        counted = {c: f"count({c})" if c in columns else "0" for c in ("channel", "item_id")}
        sessions = "count(DISTINCT session_id)" if "session_id" in columns else "0"
        n, sessions, users, channel, item = con.execute(
            f"""SELECT count(*), {sessions}, count(DISTINCT user_id), {counted["channel"]}, {counted["item_id"]}
            FROM {source}"""
        ).fetchone()
        types = con.execute(f"SELECT event_type, count(*) FROM {source} GROUP BY 1 ORDER BY 1").fetchall()
    return EventOverview(int(n), int(sessions), int(users), {str(t): int(c) for t, c in types}, int(channel), int(item))


def choose_basket(events: str | Path, purchase_events: Sequence[str] = PURCHASE_EVENTS) -> str | None:
    """Basket key of association rules: ``order_id`` when some order holds several distinct items, else
    ``session_id``; None when no purchase event has an item."""
    file = _resolve_parquet(events)
    source = f"read_parquet({_sql_text(str(file))})"
    kinds = ", ".join(_sql_text(k) for k in purchase_events)
    with _connect() as con:
        columns = _columns(con, source)
        if "item_id" not in columns:
            return None
        bought = f"FROM {source} WHERE event_type IN ({kinds}) AND item_id IS NOT NULL"
        if not con.execute(f"SELECT count(*) {bought}").fetchone()[0]:
            return None
        if "order_id" in columns:
            multi = con.execute(
                f"SELECT count(*) FROM (SELECT order_id {bought} AND order_id IS NOT NULL "
                "GROUP BY order_id HAVING count(DISTINCT item_id) > 1)"
            ).fetchone()[0]
            if multi:
                return "order_id"
    return "session_id"


def _attribute_source(
    con: duckdb.DuckDBPyConnection, events: str | Path, values: pd.Series, name: str
) -> tuple[str, str]:
    """Register the user -> value table; return the SELECT of events with the attribute and its FROM."""
    if name in ATTRIBUTE_COLUMNS:
        raise ValueError(f"The attribute name {name!r} is an event column; choose another name.")
    file = _resolve_parquet(events)
    source = parquet_relation(file)
    kept = [c for c in ATTRIBUTE_COLUMNS if c in _columns(con, source)]
    if "user_id" not in kept:
        raise DatasetError(f"{file.name}: column 'user_id' is missing.")
    mapping = pd.DataFrame({"user_id": values.index.astype(str), name: values.astype("str").to_numpy()})
    con.register("_user_attribute", mapping.drop_duplicates("user_id"))
    select = ", ".join(f"e.{c}" for c in kept)
    return select, f"{source} AS e LEFT JOIN _user_attribute AS a ON e.user_id = a.user_id"


def events_with_user_attribute(
    events: str | Path, values: pd.Series, name: str, out: str | Path, missing: str = "unknown"
) -> Path:
    """A copy of the event file's analysis columns plus ``name``: each event's user's value.

    Parameters
    ----------
    events : str or Path
        Clean event file (or a dataset folder holding ``events.parquet``).
    values : pandas.Series
        Attribute per user: index ``user_id``, values (e.g. device, segment).
    name : str
        Column name of the attribute in the copy.
    out : str or Path
        Parquet file written (rows in the source's order).
    missing : str, default "unknown"
        Value of events whose user has none.

    Returns
    -------
    Path
        ``out``.
    """
    with _connect() as con:
        select, source = _attribute_source(con, events, values, name)
        con.execute(
            f"""COPY (SELECT {select}, COALESCE(a.{name}, {_sql_text(missing)}) AS {name} FROM {source}
            ORDER BY e.file_row_number) TO {_sql_text(str(out))} (FORMAT parquet)"""
        )
    return Path(out)


def split_events_by_user_attribute(events: str | Path, values: pd.Series, out_dir: str | Path) -> dict[Any, Path]:
    """One event file per attribute value that has events (users without a value left out), in row order.

    Returns
    -------
    dict
        Attribute value (sorted) -> Parquet file of the events of its users.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[Any, Path] = {}
    with _connect() as con:
        select, source = _attribute_source(con, events, values, "_group")
        present = {row[0] for row in con.execute(f"SELECT DISTINCT a._group FROM {source}").fetchall()}
        for i, value in enumerate(v for v in sorted(pd.unique(values.dropna())) if str(v) in present):
            path = folder / f"group_{i}.parquet"
            con.execute(
                f"""COPY (SELECT {select} FROM {source} WHERE a._group = {_sql_text(str(value))}
                ORDER BY e.file_row_number) TO {_sql_text(str(path))} (FORMAT parquet)"""
            )
            out[value] = path
    return out
