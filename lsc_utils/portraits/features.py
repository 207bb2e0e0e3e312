"""One row per user: RFM, purchasing power, interests, loyalty, active hours, channels, lifecycle, consent (one DuckDB SQL statement)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from lsc_utils.constants import CHANNELS, DEFAULT_SESSION_GAP_MINUTES, EVENT_TYPES, PURCHASE_EVENTS
from lsc_utils.portraits._input import (
    _OPTIONAL_EVENT_COLUMNS,
    ENGAGEMENT_EVENTS,
    EVENING_HOURS,
    LIFECYCLE_STAGES,
    TIER_LABELS,
    US_PER_DAY,
    USER_COLUMNS,
    Register,
    TableSource,
    _as_utc_timestamp,
    _engine_scope,
    _optional,
    _require,
    _sql_literal,
    _utc_ts_expr,
)
from lsc_utils.schema import DatasetError
from lsc_utils.sqlengine import SqlEngine

# ---------------------------------------------------------------------------------------------
# Portraits
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleRules:
    """Rules of the lifecycle stage, applied in order; the first that matches wins.

    1. ``new``: the user's first purchase (a non-buyer: first event) is at most ``new_days`` days
       before ``as_of``.
    2. Otherwise the user's *gap* is the days since the last purchase (non-buyer: since the last
       event) and three thresholds split it into ``active`` (gap <= t1), ``at_risk`` (<= t2),
       ``dormant`` (<= t3) and ``churned`` (> t3).
    3. The thresholds are ``(active_days, at_risk_days, dormant_days)``; with ``relative=True`` a
       buyer with at least ``min_purchase_days`` purchase days uses their own rhythm instead:
       ``multipliers * mean_interpurchase_days`` (each at least one day). With the default
       multipliers a weekly buyer is at risk after 1.5 weeks without a purchase and churned after
       6 weeks, a quarterly buyer at risk only after 4.5 months.

    Parameters
    ----------
    new_days : float
        Window of the ``new`` stage in days.
    active_days, at_risk_days, dormant_days : float
        Fixed thresholds in days (increasing).
    relative : bool
        Use the buyer's own mean inter-purchase time when available.
    multipliers : tuple of float
        Multiples of the inter-purchase time for (active, at_risk, dormant).
    min_purchase_days : int
        Purchase days a buyer needs (two gaps by default) before their own rhythm is trusted.
    """

    new_days: float = 30.0
    active_days: float = 30.0
    at_risk_days: float = 90.0
    dormant_days: float = 180.0
    relative: bool = True
    multipliers: tuple[float, float, float] = (1.5, 3.0, 6.0)
    min_purchase_days: int = 3

    def __post_init__(self) -> None:
        fixed = (self.active_days, self.at_risk_days, self.dormant_days)
        if not (0 <= fixed[0] <= fixed[1] <= fixed[2]):
            raise ValueError(
                f"The fixed thresholds of LifecycleRules must satisfy 0 <= active_days <= at_risk_days <= dormant_days. Got {fixed} instead."
            )
        if len(self.multipliers) != 3 or not (0 < self.multipliers[0] <= self.multipliers[1] <= self.multipliers[2]):
            raise ValueError(
                f"The 'multipliers' of LifecycleRules must be 3 increasing positive numbers. Got {self.multipliers} instead."
            )
        if self.new_days < 0:
            raise ValueError(f"The 'new_days' of LifecycleRules must be >= 0. Got {self.new_days} instead.")
        if self.min_purchase_days < 2:
            raise ValueError(
                f"The 'min_purchase_days' of LifecycleRules must be an int >= 2. Got {self.min_purchase_days} instead."
            )


def _session_key_sql(needs_gap_sessions: bool, gap_minutes: float) -> tuple[str, str]:
    """SQL of the session key, and of the new-session flag column when session ids must be derived.

    A derived session of a user starts at their first event and after every gap of more than
    ``gap_minutes``; its key is ``<user_id>#gap<n>``, used only where ``session_id`` is null.
    """
    if not needs_gap_sessions:
        return "session_id", ""
    gap_us = int(gap_minutes * 60e6)
    window = "PARTITION BY user_id ORDER BY t_us ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    expr = f"coalesce(session_id, user_id || '#gap' || CAST(sum(new_session) OVER ({window}) AS VARCHAR))"
    flag = f"CASE WHEN t_us - lag(t_us) OVER (PARTITION BY user_id ORDER BY t_us) <= {gap_us} THEN 0 ELSE 1 END AS new_session"
    return expr, flag


def _portrait_sql(
    events: str,
    types: dict[str, str],
    items: str | None,
    item_types: dict[str, str],
    rooms: str | None,
    room_types: dict[str, str],
    users: str | None,
    user_types: dict[str, str],
    timezone: str,
    needs_gap_sessions: bool,
    gap_minutes: float,
    as_of_us: int | None = None,
) -> str:
    """The single SQL statement of :func:`build_portraits` (events after ``as_of_us`` are left out)."""
    event_ctes = _event_ctes(events, types, timezone, needs_gap_sessions, gap_minutes, as_of_us)
    ctes = [
        *_coded_side_ctes("it", items, item_types, "item_id", ("category", "brand")),
        *_coded_side_ctes("rm", rooms, room_types, "room_id", ("anchor_id",)),
        *event_ctes,
    ]
    ctes.append(f"base AS (SELECT {', '.join(_base_aggregates())} FROM ev GROUP BY user_id)")
    ctes.extend(_affinity_ctes())
    if users:
        ctes.append(_user_cte(users, user_types))
    return "WITH " + ",\n".join(ctes) + _portrait_select(users, user_types)


def _event_ctes(
    events: str,
    types: dict[str, str],
    timezone: str,
    needs_gap_sessions: bool,
    gap_minutes: float,
    as_of_us: int | None,
) -> list[str]:
    """CTEs ``raw`` (and ``raw_gap``) and ``ev``: the events up to ``as_of_us`` with local time parts.

    Parameters
    ----------
    events : str
        Name of the registered events view.
    types : dict of str to str
        DuckDB type of each events column.
    timezone : str
        IANA time zone of hours, weekdays and days.
    needs_gap_sessions : bool
        Derive sessions from inactivity gaps where ``session_id`` is null.
    gap_minutes : float
        Inactivity gap of derived sessions.
    as_of_us : int, optional
        Last included event time (microseconds since the epoch); None keeps every event.

    Returns
    -------
    list of str
        The CTEs, in dependency order.
    """
    ts = _utc_ts_expr(types, "ts", "events")
    pay_list = ", ".join(_sql_literal(t) for t in PURCHASE_EVENTS)
    session_expr, gap_flag = _session_key_sql(needs_gap_sessions, gap_minutes)
    raw_cols = [
        "CAST(e.user_id AS VARCHAR) AS user_id",
        f"epoch_us({ts}) AS t_us",
        f"timezone({_sql_literal(timezone)}, {ts}) AS lt",
        "CAST(e.event_type AS VARCHAR) AS event_type",
        *(f"{_optional(types, c)} AS {c}" for c in _OPTIONAL_EVENT_COLUMNS),
    ]
    cutoff = f" WHERE epoch_us({ts}) <= {as_of_us}" if as_of_us is not None else ""
    ctes = [f"raw AS (SELECT {', '.join(raw_cols)} FROM {events} e{cutoff})"]
    if gap_flag:
        ctes.append(f"raw_gap AS (SELECT *, {gap_flag} FROM raw)")
    source = "raw_gap" if gap_flag else "raw"
    ctes.append(
        f"""ev AS MATERIALIZED (
        SELECT raw.user_id, raw.t_us, hour(raw.lt) AS hr, isodow(raw.lt) - 1 AS dow, CAST(raw.lt AS DATE) AS day,
               raw.event_type, raw.event_type IN ({pay_list}) AS is_pay,
               {session_expr} AS session_key, raw.order_id, raw.channel,
               CASE WHEN raw.event_type IN ({pay_list}) THEN raw.price * coalesce(raw.quantity, 1) END AS revenue,
               CASE WHEN raw.event_type IN ({pay_list}) THEN coalesce(raw.quantity, 1) END AS units,
               CASE WHEN raw.event_type = 'refund' THEN raw.price * abs(coalesce(raw.quantity, 1)) END AS refund_value,
               it.category, it.brand, rm.anchor_id
        FROM {source} AS raw LEFT JOIN it ON it.item_id = raw.item_id LEFT JOIN rm ON rm.room_id = raw.room_id)"""
    )
    return ctes


def _user_cte(users: str, user_types: dict[str, str]) -> str:
    """CTE ``us``: one row per user id with its row count and the user attributes present.

    Parameters
    ----------
    users : str
        Name of the registered users view.
    user_types : dict of str to str
        DuckDB type of each users column.

    Returns
    -------
    str
        The CTE.
    """
    user_sel = ", ".join(f"min({c}) AS {c}" for c in USER_COLUMNS if c in user_types)
    return (
        f"us AS (SELECT CAST(user_id AS VARCHAR) AS user_id, count(*) AS n_user_rows{', ' + user_sel if user_sel else ''} "
        f"FROM {users} GROUP BY 1)"
    )


def _portrait_select(users: str | None, user_types: dict[str, str]) -> str:
    """Final SELECT of the portrait statement: the per-user CTEs joined on ``user_id``, sorted by it.

    Parameters
    ----------
    users : str, optional
        Name of the registered users view (None: no users table, so no ``us`` join).
    user_types : dict of str to str
        DuckDB type of each users column.

    Returns
    -------
    str
        The statement's tail after its CTEs.
    """
    user_cols = [f"us.{c}" for c in USER_COLUMNS if users and c in user_types]
    user_join = "LEFT JOIN us USING (user_id)" if users else ""
    n_user_rows = ["us.n_user_rows"] if users else []
    select = ", ".join(["base.*", *_AFFINITY_OUTPUT, *n_user_rows, *user_cols])
    return f"""
    SELECT {select}
    FROM base
    LEFT JOIN pay USING (user_id)
    LEFT JOIN cat_top USING (user_id)
    LEFT JOIN brand_top USING (user_id)
    LEFT JOIN brand_loyal USING (user_id)
    LEFT JOIN anchor_top USING (user_id)
    {user_join}
    ORDER BY user_id"""


def _coded_side_ctes(
    alias: str, table: str | None, types: dict[str, str], key: str, attributes: tuple[str, ...]
) -> list[str]:
    """CTEs of a side table (items or rooms) whose string attributes become integer codes.

    ``<attribute>_dict`` maps each distinct label to a code in alphabetical order, so ranking by code
    breaks ties alphabetically while grouping and sorting on integers stays fast. A missing table or
    column gives an empty dictionary and null codes. Duplicate keys keep the smallest label.
    """
    if table is None:
        cols = ", ".join(f"CAST(NULL AS VARCHAR) AS {a}" for a in attributes)
        raw = f"{alias}_raw AS (SELECT CAST(NULL AS VARCHAR) AS {key}, {cols} WHERE false)"
    else:
        cols = ", ".join(
            f"min(CAST({a} AS VARCHAR)) AS {a}" if a in types else f"CAST(NULL AS VARCHAR) AS {a}" for a in attributes
        )
        raw = f"{alias}_raw AS (SELECT CAST({key} AS VARCHAR) AS {key}, {cols} FROM {table} GROUP BY 1)"
    dicts = [
        f"{a}_dict AS (SELECT {a} AS label, CAST(row_number() OVER (ORDER BY {a}) AS INTEGER) AS code "
        f"FROM (SELECT DISTINCT {a} FROM {alias}_raw WHERE {a} IS NOT NULL))"
        for a in attributes
    ]
    joins = " ".join(f"LEFT JOIN {a}_dict ON {a}_dict.label = r.{a}" for a in attributes)
    codes = ", ".join(f"{a}_dict.code AS {a}" for a in attributes)
    return [raw, *dicts, f"{alias} AS (SELECT r.{key}, {codes} FROM {alias}_raw r {joins})"]


def _base_aggregates() -> list[str]:
    """Per-user aggregates over all events (counts, first/last seen, money sums, histograms)."""
    aggs = [
        "user_id",
        "count(*) AS n_events",
        "count(DISTINCT session_key) AS n_sessions",
        "min(t_us) AS first_seen_us",
        "max(t_us) AS last_seen_us",
        "sum(revenue) AS revenue",
        "sum(units) AS units",
        "coalesce(sum(refund_value), 0) AS refund_value",
        "count(channel) AS n_channel_known",
    ]
    aggs += [f"count(*) FILTER (WHERE event_type = {_sql_literal(t)}) AS n_{t}" for t in EVENT_TYPES]
    aggs += [f"count(*) FILTER (WHERE hr = {h}) AS _hour_{h}" for h in range(24)]
    aggs += [f"count(*) FILTER (WHERE dow = {d}) AS _dow_{d}" for d in range(7)]
    aggs += [f"count(*) FILTER (WHERE channel = {_sql_literal(c)}) AS _channel_{c}" for c in CHANNELS]
    return aggs


PURCHASE_AGGREGATES: tuple[str, ...] = (
    "count(DISTINCT session_key) AS n_purchase_sessions",
    "min(t_us) AS first_purchase_us",
    "max(t_us) AS last_purchase_us",
    "count(*) AS n_purchase_lines",
    "count(revenue) AS n_priced_lines",
    "count(DISTINCT order_id) + count(*) FILTER (WHERE order_id IS NULL) AS frequency",
    "count(DISTINCT order_id) FILTER (WHERE revenue IS NOT NULL)"
    " + count(*) FILTER (WHERE revenue IS NOT NULL AND order_id IS NULL) AS n_priced_orders",
    "count(DISTINCT day) AS n_purchase_days",
)
"""Per-user aggregates over purchase events only (orders, purchase days, purchase sessions)."""


_SHIFT: int = 2**32
"""Multiplier that packs a count above a 32-bit code in a ranking key."""

_MASK: int = 2**32 - 1
"""Largest 32-bit code; keys store ``_MASK - code`` so that smaller codes win ties."""


_AFFINITY_OUTPUT: tuple[str, ...] = (
    *(f"pay.{aggregate.rsplit(' AS ', 1)[1]}" for aggregate in PURCHASE_AGGREGATES),
    "cat_top.n_categories",
    *(f"cat_top.top_category_{k}{share}" for k in (1, 2, 3) for share in ("", "_share")),
    "brand_top.top_brand",
    "brand_top.top_brand_share",
    "brand_loyal.brand_loyalty",
    "anchor_top.top_anchor_id",
    "anchor_top.anchor_event_share",
    "anchor_top.anchor_purchase_share",
)
"""Columns of the purchase and affinity CTEs in the portrait statement, named one by one (both engines)."""


def _affinity_ctes() -> list[str]:
    """Category top-3, brand, brand loyalty and anchor loyalty, each a small group-by over ``ev``.

    Ranking packs (count, code) into one integer key, ``count * 2^32 + (2^32 - 1 - code)``, whose
    maximum is the most frequent code with ties going to the smallest code (alphabetical label); a
    plain ``max(key, 3)`` then gives the top 3 without sorting, far faster than window functions.
    Anchor keys also carry the purchase count as the second tie-break (HUGEINT).
    """
    top3 = ", ".join(
        f"c{k}.label AS top_category_{k}, CAST(ks[{k}] // {_SHIFT} AS DOUBLE) / tot AS top_category_{k}_share"
        for k in (1, 2, 3)
    )
    top3_joins = " ".join(
        f"LEFT JOIN category_dict c{k} ON c{k}.code = {_MASK} - ks[{k}] % {_SHIFT}" for k in (1, 2, 3)
    )
    anchor_key = f"CAST(n AS HUGEINT) * {_SHIFT * _SHIFT} + CAST(n_pay AS HUGEINT) * {_SHIFT} + ({_MASK} - anchor_id)"
    return [
        f"pay AS (SELECT user_id, {', '.join(PURCHASE_AGGREGATES)} FROM ev WHERE is_pay GROUP BY user_id)",
        f"cat_n AS (SELECT user_id, count(*) * {_SHIFT} + ({_MASK} - category) AS key FROM ev WHERE category IS NOT NULL GROUP BY user_id, category)",
        f"cat_l AS (SELECT user_id, max(key, 3) AS ks, sum(key // {_SHIFT}) AS tot, count(*) AS n_categories FROM cat_n GROUP BY user_id)",
        f"cat_top AS (SELECT user_id, n_categories, {top3} FROM cat_l {top3_joins})",
        f"brand_n AS (SELECT user_id, count(*) * {_SHIFT} + ({_MASK} - brand) AS key FROM ev WHERE brand IS NOT NULL GROUP BY user_id, brand)",
        f"brand_l AS (SELECT user_id, max(key) AS key, sum(key // {_SHIFT}) AS tot FROM brand_n GROUP BY user_id)",
        f"brand_top AS (SELECT user_id, brand_dict.label AS top_brand, CAST(key // {_SHIFT} AS DOUBLE) / tot AS top_brand_share "
        f"FROM brand_l LEFT JOIN brand_dict ON brand_dict.code = {_MASK} - key % {_SHIFT})",
        "brand_pay AS (SELECT user_id, brand, count(*) AS n FROM ev WHERE is_pay AND brand IS NOT NULL GROUP BY user_id, brand)",
        "brand_loyal AS (SELECT user_id, CAST(max(n) AS DOUBLE) / sum(n) AS brand_loyalty FROM brand_pay GROUP BY user_id)",
        "anchor_n AS (SELECT user_id, anchor_id, count(*) AS n, count(*) FILTER (WHERE is_pay) AS n_pay "
        "FROM ev WHERE anchor_id IS NOT NULL GROUP BY user_id, anchor_id)",
        f"anchor_l AS (SELECT user_id, max({anchor_key}) AS key, sum(n) AS tot, sum(n_pay) AS tot_pay FROM anchor_n GROUP BY user_id)",
        f"anchor_top AS (SELECT user_id, anchor_id_dict.label AS top_anchor_id, "
        f"CAST(key // {_SHIFT * _SHIFT} AS DOUBLE) / tot AS anchor_event_share, "
        f"CASE WHEN tot_pay > 0 THEN CAST(key // {_SHIFT} % {_SHIFT} AS DOUBLE) / tot_pay END AS anchor_purchase_share "
        f"FROM anchor_l LEFT JOIN anchor_id_dict ON anchor_id_dict.code = {_MASK} - key % {_SHIFT})",
    ]


def _count_missing_sessions(engine: SqlEngine, events: str, types: dict[str, str]) -> int:
    """Events without a session id (all of them when the column is absent)."""
    if "session_id" not in types:
        return -1
    return int(engine.fetchone(f"SELECT count(*) - count(session_id) FROM {events}")[0])


def build_portraits(
    events: TableSource,
    users: TableSource | None = None,
    items: TableSource | None = None,
    rooms: TableSource | None = None,
    as_of: Any = None,
    con: duckdb.DuckDBPyConnection | None = None,
    timezone: str = "UTC",
    lifecycle: LifecycleRules | None = None,
    tier_quantiles: tuple[float, float, float] = (0.5, 0.8, 0.95),
    session_gap_minutes: float = DEFAULT_SESSION_GAP_MINUTES,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """One row per user: RFM, purchasing power, interests, loyalty, habits, lifecycle and consent.

    All per-user aggregation is one DuckDB SQL statement over the events (joined to items and rooms);
    pandas only derives ratios, stages and tiers from the per-user result, column-wise.

    Parameters
    ----------
    events : DataFrame, str or Path
        Clean canonical events, or a Parquet file / glob / dataset folder holding ``events.parquet``.
        Needs ``user_id``, ``ts`` and ``event_type``; the optional columns may be absent.
    users, items, rooms : DataFrame, str or Path, optional
        Canonical tables (frames, Parquet files or dataset folders). Without ``users`` the
        demographic and consent columns are null (unknown); without ``items`` there is no category
        or brand affinity; without ``rooms`` no anchor loyalty.
    as_of : date-like, optional
        Reference time of recency and lifecycle; events after it are left out, so a past ``as_of``
        gives the portraits as they were then (default: the last event in the data). A naive value
        is read as UTC.
    con : duckdb.DuckDBPyConnection, optional
        Connection to run on (default: a private in-memory connection). Temporary views are removed.
    timezone : str
        IANA time zone of hours, weekdays and purchase days.
    lifecycle : LifecycleRules, optional
        Lifecycle rules (default ``LifecycleRules()``).
    tier_quantiles : tuple of 3 floats
        Quantiles of the purchasing-power score that separate low | mid | high | premium.
    session_gap_minutes : float
        Inactivity gap that defines sessions for events without ``session_id``.
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the per-user statement runs: DuckDB (``con``), or the same SQL transpiled to Spark
        (:func:`lsc_utils.sqlengine.spark_session`; ``con`` unused), for events beyond one machine.

    Returns
    -------
    DataFrame
        Columns described in :data:`PORTRAIT_COLUMNS`, sorted by ``user_id``. ``attrs["notes"]`` lists
        the conventions and every degradation (missing tables, unknown prices, derived sessions);
        ``attrs["as_of"]`` is the reference time used.

    Raises
    ------
    DatasetError
        If a required column is missing, ``ts`` is not a timestamp, the events are empty or the users
        table repeats a ``user_id``.
    """
    rules, as_of_us = _check_portrait_arguments(lifecycle, tier_quantiles, as_of, session_gap_minutes)
    per_user, sides, missing_sessions = _query_per_user(
        events, users, items, rooms, con, timezone, session_gap_minutes, as_of_us, engine
    )
    _check_per_user(per_user, as_of)
    notes = _input_notes(sides, missing_sessions, session_gap_minutes)
    return _finish_portraits(per_user, as_of_us, rules, tier_quantiles, timezone, notes)


_Sides = dict[str, tuple[str | None, dict[str, str]]]
"""Registered view name (None when the table is not given) and column types of items, rooms and users."""


def _check_portrait_arguments(
    lifecycle: LifecycleRules | None,
    tier_quantiles: tuple[float, float, float],
    as_of: Any,
    session_gap_minutes: float,
) -> tuple[LifecycleRules, int | None]:
    """Check the arguments of :func:`build_portraits` that need no data.

    Returns
    -------
    rules : LifecycleRules
        ``lifecycle``, or the default rules.
    as_of_us : int or None
        ``as_of`` in microseconds since the epoch (UTC), None without ``as_of``.
    """
    rules = lifecycle if lifecycle is not None else LifecycleRules()
    _check_tier_quantiles(tier_quantiles)
    as_of_us = None if as_of is None else int(_as_utc_timestamp(as_of, "as_of").value // 1000)
    if session_gap_minutes <= 0:
        raise ValueError(
            f"The 'session_gap_minutes' parameter of build_portraits must be > 0. Got {session_gap_minutes} instead."
        )
    return rules, as_of_us


def _query_per_user(
    events: TableSource,
    users: TableSource | None,
    items: TableSource | None,
    rooms: TableSource | None,
    con: duckdb.DuckDBPyConnection | None,
    timezone: str,
    session_gap_minutes: float,
    as_of_us: int | None,
    engine: str = "duckdb",
) -> tuple[pd.DataFrame, _Sides, int]:
    """Register the tables, run the portrait SQL on ``engine`` and remove the views (closing a private connection).

    Returns
    -------
    per_user : DataFrame
        The SQL result, one row per event user.
    sides : dict
        View name and column types of items, rooms and users.
    missing_sessions : int
        Events without ``session_id`` (-1 when the column is absent).
    """
    with _engine_scope(con, engine) as (runner, register):
        ev_name, ev_types = register(events, "events")
        _require(ev_types, ["user_id", "ts", "event_type"], "events")
        sides = _register_sides(register, items, rooms, users)
        missing_sessions = _count_missing_sessions(runner, ev_name, ev_types)
        sql = _portrait_sql(
            ev_name,
            ev_types,
            *sides["items"],
            *sides["rooms"],
            *sides["users"],
            timezone=timezone,
            needs_gap_sessions=missing_sessions != 0,
            gap_minutes=session_gap_minutes,
            as_of_us=as_of_us,
        )
        per_user = runner.df(sql)
    return per_user, sides, missing_sessions


def _register_sides(
    register: Register,
    items: TableSource | None,
    rooms: TableSource | None,
    users: TableSource | None,
) -> _Sides:
    """Register the optional items, rooms and users tables (in that order) and check their key columns.

    Returns
    -------
    dict
        ``{"items" | "rooms" | "users": (view name or None, column types)}``.
    """
    sides: _Sides = {}
    for table, source, key in (
        ("items", items, "item_id"),
        ("rooms", rooms, "room_id"),
        ("users", users, "user_id"),
    ):
        if source is None:
            sides[table] = (None, {})
            continue
        name, types = register(source, table)
        _require(types, [key], table)
        sides[table] = (name, types)
    return sides


def _check_per_user(per_user: pd.DataFrame, as_of: Any) -> None:
    """Raise a DatasetError when there are no event users or the users table repeats an event user's id."""
    if per_user.empty:
        when = "" if as_of is None else f" on or before as_of={as_of}"
        raise DatasetError(f"events: the events table has no rows{when}, so there are no users to portray.")
    if "n_user_rows" in per_user and (per_user["n_user_rows"] > 1).any():
        dup = per_user.loc[per_user["n_user_rows"] > 1, "user_id"].head(5).tolist()
        raise DatasetError(
            f"users: column 'user_id' repeats {int((per_user['n_user_rows'] > 1).sum())} ids of event users (e.g. {dup})."
        )


def _input_notes(sides: dict[str, tuple[str | None, dict[str, str]]], missing_sessions: int, gap: float) -> list[str]:
    notes = [
        "frequency = distinct orders (order_id; a purchase without order_id is its own order); "
        "n_purchase_days = distinct purchase days.",
        "monetary = gross revenue of purchases with a known price; refunds are not subtracted (see net_monetary).",
    ]
    if sides["users"][0] is None:
        notes.append("No users table: demographics and consent flags are unknown (null) for every user.")
    if sides["items"][0] is None:
        notes.append("No items table: category and brand affinity and brand loyalty are unknown.")
    if sides["rooms"][0] is None:
        notes.append("No rooms table: anchor loyalty is unknown.")
    if missing_sessions != 0:
        what = "no session_id column" if missing_sessions < 0 else f"{missing_sessions} events without session_id"
        notes.append(f"Sessions: {what}; those events are grouped by a {gap:g}-minute inactivity gap.")
    return notes


def _check_tier_quantiles(q: tuple[float, float, float]) -> None:
    if len(q) != 3 or not 0 < q[0] < q[1] < q[2] < 1:
        raise ValueError(f"The 'tier_quantiles' parameter must be 3 increasing numbers in (0, 1). Got {q} instead.")


def _us_to_timestamp(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("Int64"), unit="us", utc=True).astype("datetime64[us, UTC]")


def _safe_ratio(num: pd.Series | np.ndarray, den: pd.Series | np.ndarray) -> np.ndarray:
    """num / den as floats with NaN where den is 0 or null."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(num.shape, np.nan)
    ok = np.isfinite(den) & (den > 0)
    out[ok] = num[ok] / den[ok]
    return out


_ZERO_IF_MISSING: list[str] = [
    "frequency",
    "n_priced_orders",
    "n_purchase_days",
    "n_purchase_lines",
    "n_priced_lines",
    "n_purchase_sessions",
    "n_categories",
]
"""Per-user counts that are null (no matching rows) in the SQL result and mean 0."""


def _finish_portraits(
    per_user: pd.DataFrame,
    as_of_us: int | None,
    rules: LifecycleRules,
    tier_quantiles: tuple[float, float, float],
    timezone: str,
    notes: list[str],
) -> pd.DataFrame:
    """Column-wise derivations on the per-user aggregates."""
    p = per_user.copy()
    p[_ZERO_IF_MISSING] = p[_ZERO_IF_MISSING].fillna(0)
    if as_of_us is None:
        as_of_us = int(p["last_seen_us"].max())
        notes.append("as_of = the last event in the data.")
    else:
        notes.append("Events after as_of are left out (a point-in-time portrait).")
    out = pd.concat(
        [
            _activity_columns(p, as_of_us),
            _purchase_columns(p, as_of_us),
            _affinity_columns(p),
            _time_profile(p),
            _channel_mix(p),
        ],
        axis=1,
    )
    for t in EVENT_TYPES:
        out[f"n_{t}"] = p[f"n_{t}"].astype("int64")
    out["lifecycle_stage"] = assign_lifecycle_stage(out, rules)
    out["purchasing_power"] = assign_purchasing_power(out["monetary"], out["aov"], tier_quantiles)
    out = pd.concat([out, score_rfm(out)], axis=1)
    out = pd.concat([out, _user_attributes(p)], axis=1)
    _note_monetary(out, notes)
    notes.append(f"Hours, weekdays and purchase days in time zone {timezone}.")
    out.attrs["notes"] = notes
    out.attrs["as_of"] = pd.Timestamp(as_of_us, unit="us", tz="UTC")
    return out


def _activity_columns(p: pd.DataFrame, as_of_us: int) -> pd.DataFrame:
    """Identity, volume, sessions, first/last seen and engagement per session."""
    out = pd.DataFrame({"user_id": p["user_id"].astype("str")}, index=p.index)
    out["n_events"] = p["n_events"].astype("int64")
    out["n_sessions"] = p["n_sessions"].astype("int64")
    out["events_per_session"] = _safe_ratio(p["n_events"], p["n_sessions"])
    out["first_seen"] = _us_to_timestamp(p["first_seen_us"])
    out["last_seen"] = _us_to_timestamp(p["last_seen_us"])
    out["tenure_days"] = (as_of_us - p["first_seen_us"].astype(float)) / US_PER_DAY
    out["days_since_last_seen"] = (as_of_us - p["last_seen_us"].astype(float)) / US_PER_DAY
    for kind in ("like", "comment", "share"):
        out[f"{kind}s_per_session"] = _safe_ratio(p[f"n_{kind}"], p["n_sessions"])
    engagement = p[[f"n_{t}" for t in ENGAGEMENT_EVENTS]].sum(axis=1)
    out["engagement_per_session"] = _safe_ratio(engagement, p["n_sessions"])
    return out


def _purchase_columns(p: pd.DataFrame, as_of_us: int) -> pd.DataFrame:
    """RFM, money, refunds and purchase rhythm."""
    out = pd.DataFrame(index=p.index)
    frequency = p["frequency"].astype("int64")
    out["is_buyer"] = frequency > 0
    out["frequency"] = frequency
    out["n_purchase_days"] = p["n_purchase_days"].astype("int64")
    out["n_purchase_lines"] = p["n_purchase_lines"].astype("int64")
    out["units"] = p["units"].astype(float).fillna(0.0)
    out["first_purchase"] = _us_to_timestamp(p["first_purchase_us"])
    out["last_purchase"] = _us_to_timestamp(p["last_purchase_us"])
    out["recency_days"] = (as_of_us - p["last_purchase_us"].astype(float)) / US_PER_DAY
    out["days_since_first_purchase"] = (as_of_us - p["first_purchase_us"].astype(float)) / US_PER_DAY
    span = (p["last_purchase_us"].astype(float) - p["first_purchase_us"].astype(float)) / US_PER_DAY
    out["mean_interpurchase_days"] = _safe_ratio(span, p["n_purchase_days"].astype(float) - 1)
    revenue = p["revenue"].astype(float)
    out["monetary"] = np.where(frequency == 0, 0.0, revenue)
    out["monetary_coverage"] = _safe_ratio(p["n_priced_lines"], p["n_purchase_lines"])
    out["aov"] = _safe_ratio(revenue, p["n_priced_orders"])
    out["refund_value"] = p["refund_value"].astype(float)
    out["net_monetary"] = out["monetary"] - out["refund_value"]
    out["purchase_rate"] = _safe_ratio(p["n_purchase_sessions"], p["n_sessions"])
    return out


def _affinity_columns(p: pd.DataFrame) -> pd.DataFrame:
    """Category top-3, brand, brand loyalty and anchor loyalty."""
    out = pd.DataFrame({"n_categories": p["n_categories"].astype("int64")}, index=p.index)
    for k in (1, 2, 3):
        out[f"top_category_{k}"] = p[f"top_category_{k}"].astype("str")
        out[f"top_category_{k}_share"] = p[f"top_category_{k}_share"].astype(float)
    out["top_brand"] = p["top_brand"].astype("str")
    out["top_brand_share"] = p["top_brand_share"].astype(float)
    out["brand_loyalty"] = p["brand_loyalty"].astype(float)
    out["top_anchor_id"] = p["top_anchor_id"].astype("str")
    out["anchor_event_share"] = p["anchor_event_share"].astype(float)
    out["anchor_purchase_share"] = p["anchor_purchase_share"].astype(float)
    return out


def _time_profile(p: pd.DataFrame) -> pd.DataFrame:
    """Peak hour, evening share, peak weekday and weekend share from the per-user histograms."""
    hours = p[[f"_hour_{h}" for h in range(24)]].to_numpy(dtype=float)
    days = p[[f"_dow_{d}" for d in range(7)]].to_numpy(dtype=float)
    total = hours.sum(axis=1)
    lo, hi = EVENING_HOURS
    return pd.DataFrame(
        {
            "peak_hour": hours.argmax(axis=1).astype("int64"),
            "evening_share": _safe_ratio(hours[:, lo:hi].sum(axis=1), total),
            "peak_weekday": days.argmax(axis=1).astype("int64"),
            "weekend_share": _safe_ratio(days[:, 5:7].sum(axis=1), total),
        },
        index=p.index,
    )


def _channel_mix(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {f"channel_share_{c}": _safe_ratio(p[f"_channel_{c}"], p["n_channel_known"]) for c in CHANNELS}, index=p.index
    )


def _user_attributes(p: pd.DataFrame) -> pd.DataFrame:
    """Demographics and consent flags; null (unknown) when the users table or the column is absent."""
    dtypes = {
        "gender": "str",
        "age": "Int64",
        "region": "str",
        "city_tier": "Int64",
        "member_level": "str",
        "device": "str",
        "signup_ts": "datetime64[us, UTC]",
        "consent_personalization": "boolean",
        "consent_marketing": "boolean",
    }
    out = {}
    for column in USER_COLUMNS:
        if column in p:
            values = p[column]
            if dtypes[column].startswith("datetime") and isinstance(values.dtype, pd.DatetimeTZDtype):
                values = values.dt.tz_convert("UTC")
            out[column] = values.astype(dtypes[column])
        else:
            out[column] = pd.Series(pd.NA if dtypes[column] != "str" else None, index=p.index, dtype=dtypes[column])
    return pd.DataFrame(out, index=p.index)


def _note_monetary(out: pd.DataFrame, notes: list[str]) -> None:
    buyers = out["is_buyer"]
    if not buyers.any():
        notes.append("No purchases: frequency is 0 and monetary 0 for every user.")
        return
    unknown = buyers & out["monetary"].isna()
    if unknown.all() or unknown[buyers].all():
        notes.append(
            "No purchase has a price: monetary, AOV and purchasing power are unknown; frequency still counts purchases."
        )
    elif unknown.any() or (out.loc[buyers, "monetary_coverage"] < 1).any():
        share = float(out.loc[buyers, "monetary_coverage"].mean())
        notes.append(f"Some purchases lack a price (mean coverage {share:.1%}): monetary sums known prices only.")


def assign_lifecycle_stage(portraits: pd.DataFrame, rules: LifecycleRules | None = None) -> pd.Series:
    """Lifecycle stage of every user by the stated :class:`LifecycleRules`.

    Parameters
    ----------
    portraits : DataFrame
        Needs ``is_buyer``, ``tenure_days``, ``days_since_last_seen``, ``days_since_first_purchase``,
        ``recency_days``, ``n_purchase_days`` and ``mean_interpurchase_days`` (all in days to ``as_of``).
    rules : LifecycleRules, optional
        The rules (default ``LifecycleRules()``).

    Returns
    -------
    Series of str
        One of :data:`LIFECYCLE_STAGES` per user.
    """
    r = rules if rules is not None else LifecycleRules()
    buyer = portraits["is_buyer"].to_numpy(dtype=bool)
    age = np.where(
        buyer,
        portraits["days_since_first_purchase"].to_numpy(dtype=float),
        portraits["tenure_days"].to_numpy(dtype=float),
    )
    gap = np.where(
        buyer, portraits["recency_days"].to_numpy(dtype=float), portraits["days_since_last_seen"].to_numpy(dtype=float)
    )
    thresholds = np.tile(np.array([r.active_days, r.at_risk_days, r.dormant_days], dtype=float), (len(portraits), 1))
    if r.relative:
        ipt = portraits["mean_interpurchase_days"].to_numpy(dtype=float)
        own = buyer & (portraits["n_purchase_days"].to_numpy() >= r.min_purchase_days) & np.isfinite(ipt)
        rhythm = np.maximum(np.outer(np.nan_to_num(ipt), np.asarray(r.multipliers, dtype=float)), 1.0)
        thresholds = np.where(own[:, None], rhythm, thresholds)
    stage = np.select(
        [age <= r.new_days, gap <= thresholds[:, 0], gap <= thresholds[:, 1], gap <= thresholds[:, 2]],
        list(LIFECYCLE_STAGES[:4]),
        default=LIFECYCLE_STAGES[4],
    )
    return pd.Series(stage, index=portraits.index, name="lifecycle_stage", dtype="str")


def assign_purchasing_power(
    monetary: pd.Series, aov: pd.Series, quantiles: tuple[float, float, float] = (0.5, 0.8, 0.95)
) -> pd.Series:
    """Purchasing-power tier from monetary and AOV.

    Score = mean of the percentile ranks of ``monetary`` and ``aov`` among users with a positive
    known monetary value; tiers cut the score at its ``quantiles`` (default: bottom 50 % low,
    next 30 % mid, next 15 % high, top 5 % premium). Users without a known positive monetary
    value (non-buyers, unknown prices) get a null tier.

    Returns
    -------
    Series
        Ordered categorical with categories :data:`TIER_LABELS`.
    """
    _check_tier_quantiles(quantiles)
    known = monetary.notna() & aov.notna() & (monetary > 0)
    tiers = pd.Series(
        pd.Categorical([None] * len(monetary), categories=list(TIER_LABELS), ordered=True), index=monetary.index
    )
    if known.sum() == 0:
        return tiers.rename("purchasing_power")
    score = (monetary[known].rank(pct=True) + aov[known].rank(pct=True)) / 2.0
    cuts = np.quantile(score.to_numpy(), quantiles)
    codes = np.searchsorted(cuts, score.to_numpy(), side="left")
    tiers[known] = pd.Categorical.from_codes(codes, categories=list(TIER_LABELS), ordered=True)
    return tiers.rename("purchasing_power")


def score_rfm(portraits: pd.DataFrame, n_bins: int = 5) -> pd.DataFrame:
    """Classic RFM scores 1..``n_bins`` among buyers (``n_bins`` = most recent / most frequent / highest spend).

    Scores are ``ceil(percentile rank * n_bins)`` with average ranks for ties, so equal values share a
    score. Recency is ranked descending (fewer days = higher score). Non-buyers and unknown monetary
    values get null scores.

    Returns
    -------
    DataFrame
        ``r_score``, ``f_score``, ``m_score`` (nullable Int64) and ``rfm_cell`` such as ``"545"``.
    """
    if not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"The 'n_bins' parameter of score_rfm must be an int >= 2. Got {n_bins!r} instead.")
    buyer = portraits["frequency"] > 0

    def scores(values: pd.Series, ascending: bool) -> pd.Series:
        ok = buyer & values.notna()
        out = pd.Series(pd.NA, index=values.index, dtype="Int64")
        if ok.any():
            pct = values[ok].rank(pct=True, ascending=ascending)
            out[ok] = np.clip(np.ceil(pct.to_numpy() * n_bins), 1, n_bins).astype("int64")
        return out

    r = scores(portraits["recency_days"], ascending=False)
    f = scores(portraits["frequency"].astype(float), ascending=True)
    m = scores(portraits["monetary"], ascending=True)
    cell = r.astype("str").str.cat([f.astype("str"), m.astype("str")]).where(r.notna() & f.notna() & m.notna())
    return pd.DataFrame(
        {"r_score": r, "f_score": f, "m_score": m, "rfm_cell": cell.astype("str")}, index=portraits.index
    )
