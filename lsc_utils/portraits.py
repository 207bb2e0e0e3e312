"""User portraits, segmentation and customer-lifetime value (CLV).

Three layers, each usable on its own:

1. :func:`build_portraits` turns a clean canonical dataset into one row per user (RFM, purchasing
   power, interests, loyalty, active hours, channel mix, engagement, lifecycle stage, consent) in a
   single DuckDB SQL statement over the events (pandas frames or Parquet paths).
2. :func:`segment_users` clusters the portraits (KMeans and Gaussian mixtures compared across k) and
   :func:`describe_segments` turns the clusters into persona cards with a suggested marketing action.
3. :class:`BetaGeoModel` (BG/NBD, Fader, Hardie & Lee 2005a) and :class:`GammaGammaModel`
   (Fader, Hardie & Lee 2005b) fitted by maximum likelihood on the summary of
   :func:`summarize_transactions`, combined by :func:`customer_lifetime_value`.

Conventions stated once
-----------------------
* A purchase is an event whose type is in :data:`lsc_utils.constants.PURCHASE_EVENTS` (``pay``).
  Its revenue is ``price * quantity`` with a null quantity read as 1. A purchase without a price is
  counted (``frequency``) but adds nothing to ``monetary``; ``monetary_coverage`` says which share
  of purchase lines had a price, and ``monetary`` is null for a buyer none of whose purchases had
  a price (taobao, for example, has no prices at all).
* ``frequency`` in the portraits is the number of distinct orders: distinct ``order_id`` values of
  the user's purchases, a purchase without ``order_id`` counting as an order of its own.
  ``n_purchase_days`` counts distinct purchase days (the BG/NBD convention, see below).
* Refunds (``refund`` events) are **not** subtracted from ``monetary`` (gross revenue); they are
  reported in ``refund_value`` (``price * |quantity|``) and ``net_monetary = monetary - refund_value``.
  The CLV models use purchases only.
* Hours, weekdays and days are taken in the ``timezone`` argument (default UTC; pass the dataset's
  time zone from ``dataset.yaml``). Weekday 0 is Monday.

References
----------
Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005a). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.

Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005b). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research, 42(4), 415-430.

Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from lsc_utils.constants import CHANNELS, DEFAULT_SESSION_GAP_MINUTES, EVENT_TYPES, PURCHASE_EVENTS, SEED
from lsc_utils.schema import DatasetError

TableSource = pd.DataFrame | str | Path
"""A canonical table given as a pandas frame, a Parquet file (or glob) or a dataset folder."""

ArrayLike = Sequence[float] | np.ndarray | pd.Series

US_PER_DAY: float = 86_400e6
"""Microseconds per day."""

EVENING_HOURS: tuple[int, int] = (18, 24)
"""Local hours counted as evening, as a half-open interval [18, 24)."""

TIER_LABELS: tuple[str, ...] = ("low", "mid", "high", "premium")
"""Purchasing-power tiers, lowest first."""

LIFECYCLE_STAGES: tuple[str, ...] = ("new", "active", "at_risk", "dormant", "churned")
"""Lifecycle stages, in the order the rules are applied."""

UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0}
"""Length in days of the time units of :func:`summarize_transactions` (M = mean Gregorian month)."""

DAYS_PER_MONTH: float = 365.25 / 12.0
"""Days in a month for the CLV horizon and monthly discounting."""

USER_COLUMNS: tuple[str, ...] = (
    "gender",
    "age",
    "region",
    "city_tier",
    "member_level",
    "device",
    "signup_ts",
    "consent_personalization",
    "consent_marketing",
)
"""Columns of the users table carried into the portraits (never the raw PII columns)."""

ENGAGEMENT_EVENTS: tuple[str, ...] = ("like", "comment", "share", "gift")
"""Event types counted as engagement with a live room."""

_OPTIONAL_EVENT_COLUMNS: dict[str, str] = {
    "item_id": "VARCHAR",
    "room_id": "VARCHAR",
    "session_id": "VARCHAR",
    "price": "DOUBLE",
    "quantity": "DOUBLE",
    "order_id": "VARCHAR",
    "channel": "VARCHAR",
}

PORTRAIT_COLUMNS: dict[str, str] = {
    "user_id": "pseudonymous user id",
    "n_events": "events of the user",
    "n_sessions": "distinct sessions (session_id; a 30-minute inactivity gap where it is null)",
    "events_per_session": "n_events / n_sessions",
    "first_seen": "first event (UTC)",
    "last_seen": "last event (UTC)",
    "tenure_days": "days from first_seen to as_of",
    "days_since_last_seen": "days from last_seen to as_of",
    "is_buyer": "at least one purchase",
    "frequency": "distinct orders (order_id; a purchase without order_id is an order of its own)",
    "n_purchase_days": "distinct local days with a purchase",
    "n_purchase_lines": "purchase events",
    "units": "purchased quantity (null quantity = 1)",
    "first_purchase": "first purchase (UTC)",
    "last_purchase": "last purchase (UTC)",
    "recency_days": "days from last purchase to as_of (null for non-buyers)",
    "days_since_first_purchase": "days from first purchase to as_of (null for non-buyers)",
    "mean_interpurchase_days": "(last - first purchase) / (n_purchase_days - 1); null below 2 purchase days",
    "monetary": "gross revenue sum(price * quantity) of purchases with a known price; 0 for non-buyers",
    "monetary_coverage": "share of purchase lines with a known price",
    "aov": "average order value: monetary / orders with a known price",
    "refund_value": "sum(price * |quantity|) of refund events",
    "net_monetary": "monetary - refund_value",
    "purchase_rate": "share of sessions with a purchase",
    "likes_per_session": "like events / n_sessions",
    "comments_per_session": "comment events / n_sessions",
    "shares_per_session": "share events / n_sessions",
    "engagement_per_session": "(like + comment + share + gift events) / n_sessions",
    "n_categories": "distinct item categories interacted with",
    "top_category_1..3": "most frequent categories of the user's item events (ties: alphabetical)",
    "top_category_k_share": "share of the user's categorised item events in that category",
    "top_brand": "most frequent brand of the user's item events",
    "top_brand_share": "share of the user's branded item events with top_brand",
    "brand_loyalty": "share of the user's branded purchase lines with their most purchased brand",
    "top_anchor_id": "anchor of the rooms with most of the user's room events",
    "anchor_event_share": "share of the user's room events (known anchor) with top_anchor_id",
    "anchor_purchase_share": "share of the user's room purchases (known anchor) with top_anchor_id",
    "peak_hour": "local hour with most events (ties: earliest)",
    "evening_share": "share of events in local hours [18, 24)",
    "peak_weekday": "local weekday with most events, 0 = Monday (ties: earliest)",
    "weekend_share": "share of events on Saturday or Sunday",
    "channel_share_<channel>": "share of events with a known channel that came from <channel>",
    "n_<event_type>": "events of each canonical type",
    "lifecycle_stage": "new / active / at_risk / dormant / churned (see LifecycleRules)",
    "purchasing_power": "low / mid / high / premium from the quantiles of monetary and AOV (null: unknown)",
    "r_score, f_score, m_score": "RFM quintile scores 1..5 among buyers (5 = best)",
    "rfm_cell": "the three scores as a string, e.g. '545' (null for non-buyers)",
    "gender, age, region, city_tier, member_level, device, signup_ts": "carried from users (null when unknown)",
    "consent_personalization, consent_marketing": "carried from users; null (unknown) without a users table",
}
"""Data dictionary of :func:`build_portraits` output."""


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------


def _sql_literal(text: str) -> str:
    """Quote a string as a SQL literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _parquet_path(source: str | Path, table: str) -> str:
    """Resolve a Parquet file, a glob or a dataset folder to the path DuckDB reads."""
    path = Path(source)
    if path.is_dir():
        path = path / f"{table}.parquet"
    if not any(ch in str(path) for ch in "*?[") and not path.is_file():
        raise DatasetError(f"{path}: the {table} Parquet file does not exist.")
    return str(path)


def _register_table(
    con: duckdb.DuckDBPyConnection, source: TableSource, table: str, registered: list[str]
) -> tuple[str, dict[str, str]]:
    """Expose a frame or Parquet path to DuckDB under a unique name; return the name and column types."""
    name = f"_lsc_{table}_{uuid.uuid4().hex[:12]}"
    if isinstance(source, pd.DataFrame):
        con.register(name, source)
    elif isinstance(source, str | Path):
        path = _parquet_path(source, table)
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet({_sql_literal(path)})")
    else:
        raise TypeError(
            f"The '{table}' argument must be a pandas DataFrame or a Parquet path. Got {type(source).__name__} instead."
        )
    registered.append(name)
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {name}").fetchall()}
    return name, types


def _release(con: duckdb.DuckDBPyConnection, registered: list[str]) -> None:
    """Drop the temporary views and registrations made for one call."""
    for name in registered:
        con.execute(f"DROP VIEW IF EXISTS {name}")
        try:
            con.unregister(name)
        except duckdb.Error:
            pass


def _require(types: dict[str, str], columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in types]
    if missing:
        raise DatasetError(
            f"{table}: required column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"missing (columns found: {', '.join(types)})."
        )


def _utc_ts_expr(types: dict[str, str], column: str, table: str) -> str:
    """SQL expression of a timestamp column as TIMESTAMPTZ (a naive timestamp is read as UTC)."""
    kind = types[column].upper()
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return column
    if kind.startswith("TIMESTAMP"):
        return f"timezone('UTC', CAST({column} AS TIMESTAMP))"
    if kind == "DATE":
        return f"timezone('UTC', CAST({column} AS TIMESTAMP))"
    raise DatasetError(
        f"{table}: column '{column}' must be a timestamp (datetime64[us, UTC]). Got {types[column]} instead."
    )


def _optional(types: dict[str, str], column: str, alias: str = "e") -> str:
    """A column of the events cast to its canonical SQL type, or a typed NULL when it is absent."""
    sql_type = _OPTIONAL_EVENT_COLUMNS[column]
    if column in types:
        return f"CAST({alias}.{column} AS {sql_type})"
    return f"CAST(NULL AS {sql_type})"


def _as_utc_timestamp(value: Any, name: str) -> pd.Timestamp:
    """Parse a date-like argument to a UTC timestamp (naive values are read as UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' parameter must be a date or timestamp. Got {value!r} instead.") from None
    if pd.isna(ts):
        raise ValueError(f"The '{name}' parameter must be a date or timestamp. Got {value!r} instead.")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _as_local_date(value: Any, name: str, timezone: str) -> pd.Timestamp:
    """A date-like argument as a local calendar day (naive values are already local days)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' parameter must be a date. Got {value!r} instead.") from None
    if pd.isna(ts):
        raise ValueError(f"The '{name}' parameter must be a date. Got {value!r} instead.")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone).tz_localize(None)
    return ts.normalize()


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
    ts = _utc_ts_expr(types, "ts", "events")
    pay_list = ", ".join(_sql_literal(t) for t in PURCHASE_EVENTS)
    session_expr, gap_flag = _session_key_sql(needs_gap_sessions, gap_minutes)
    ctes = [
        *_coded_side_ctes("it", items, item_types, "item_id", ("category", "brand")),
        *_coded_side_ctes("rm", rooms, room_types, "room_id", ("anchor_id",)),
    ]
    raw_cols = [
        "CAST(e.user_id AS VARCHAR) AS user_id",
        f"epoch_us({ts}) AS t_us",
        f"timezone({_sql_literal(timezone)}, {ts}) AS lt",
        "CAST(e.event_type AS VARCHAR) AS event_type",
        *(f"{_optional(types, c)} AS {c}" for c in _OPTIONAL_EVENT_COLUMNS),
    ]
    cutoff = f" WHERE epoch_us({ts}) <= {as_of_us}" if as_of_us is not None else ""
    ctes.append(f"raw AS (SELECT {', '.join(raw_cols)} FROM {events} e{cutoff})")
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
    ctes.append(f"base AS (SELECT {', '.join(_base_aggregates())} FROM ev GROUP BY user_id)")
    ctes.extend(_affinity_ctes())
    if users:
        user_sel = ", ".join(f"min({c}) AS {c}" for c in USER_COLUMNS if c in user_types)
        ctes.append(
            f"us AS (SELECT CAST(user_id AS VARCHAR) AS user_id, count(*) AS n_user_rows{', ' + user_sel if user_sel else ''} "
            f"FROM {users} GROUP BY 1)"
        )
    user_cols = [f"us.{c}" for c in USER_COLUMNS if users and c in user_types]
    user_join = "LEFT JOIN us USING (user_id)" if users else ""
    n_user_rows = ["us.n_user_rows"] if users else []
    select = ", ".join(
        [
            "base.*",
            "pay.* EXCLUDE (user_id)",
            "cat_top.* EXCLUDE (user_id)",
            "brand_top.* EXCLUDE (user_id)",
            "brand_loyal.brand_loyalty",
            "anchor_top.* EXCLUDE (user_id)",
            *n_user_rows,
            *user_cols,
        ]
    )
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
    SELECT {select}
    FROM base
    LEFT JOIN pay USING (user_id)
    LEFT JOIN cat_top USING (user_id)
    LEFT JOIN brand_top USING (user_id)
    LEFT JOIN brand_loyal USING (user_id)
    LEFT JOIN anchor_top USING (user_id)
    {user_join}
    ORDER BY user_id"""
    )


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


def _count_missing_sessions(con: duckdb.DuckDBPyConnection, events: str, types: dict[str, str]) -> int:
    """Events without a session id (all of them when the column is absent)."""
    if "session_id" not in types:
        return -1
    return int(con.execute(f"SELECT count(*) - count(session_id) FROM {events}").fetchone()[0])


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
    rules = lifecycle if lifecycle is not None else LifecycleRules()
    _check_tier_quantiles(tier_quantiles)
    as_of_us = None if as_of is None else int(_as_utc_timestamp(as_of, "as_of").value // 1000)
    if session_gap_minutes <= 0:
        raise ValueError(
            f"The 'session_gap_minutes' parameter of build_portraits must be > 0. Got {session_gap_minutes} instead."
        )
    own = con is None
    connection = duckdb.connect() if own else con
    registered: list[str] = []
    notes: list[str] = []
    try:
        ev_name, ev_types = _register_table(connection, events, "events", registered)
        _require(ev_types, ["user_id", "ts", "event_type"], "events")
        sides: dict[str, tuple[str | None, dict[str, str]]] = {}
        for table, source, key in (
            ("items", items, "item_id"),
            ("rooms", rooms, "room_id"),
            ("users", users, "user_id"),
        ):
            if source is None:
                sides[table] = (None, {})
                continue
            name, types = _register_table(connection, source, table, registered)
            _require(types, [key], table)
            sides[table] = (name, types)
        missing_sessions = _count_missing_sessions(connection, ev_name, ev_types)
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
        per_user = connection.execute(sql).df()
    finally:
        _release(connection, registered)
        if own:
            connection.close()
    if per_user.empty:
        when = "" if as_of is None else f" on or before as_of={as_of}"
        raise DatasetError(f"events: the events table has no rows{when}, so there are no users to portray.")
    if "n_user_rows" in per_user and (per_user["n_user_rows"] > 1).any():
        dup = per_user.loc[per_user["n_user_rows"] > 1, "user_id"].head(5).tolist()
        raise DatasetError(
            f"users: column 'user_id' repeats {int((per_user['n_user_rows'] > 1).sum())} ids of event users (e.g. {dup})."
        )
    notes.extend(_input_notes(sides, missing_sessions, session_gap_minutes))
    return _finish_portraits(per_user, as_of_us, rules, tier_quantiles, timezone, notes)


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


# ---------------------------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------------------------

DEFAULT_SEGMENT_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "n_sessions",
    "events_per_session",
    "purchase_rate",
    "engagement_per_session",
)
"""Features :func:`segment_users` uses unless told otherwise."""

HEAVY_TAILED_FEATURES: frozenset[str] = frozenset(
    {
        "recency_days",
        "days_since_last_seen",
        "tenure_days",
        "frequency",
        "n_purchase_days",
        "n_purchase_lines",
        "units",
        "monetary",
        "net_monetary",
        "aov",
        "refund_value",
        "n_events",
        "n_sessions",
        "events_per_session",
        "engagement_per_session",
        "likes_per_session",
        "comments_per_session",
        "shares_per_session",
        "n_categories",
        "mean_interpurchase_days",
        *(f"n_{t}" for t in EVENT_TYPES),
    }
)
"""Features transformed with log1p before scaling (counts, money, durations)."""

BUYER_ONLY_FEATURES: frozenset[str] = frozenset(
    {
        "recency_days",
        "days_since_first_purchase",
        "mean_interpurchase_days",
        "aov",
        "monetary_coverage",
        "brand_loyalty",
        "anchor_purchase_share",
    }
)
"""Features only meaningful for buyers: persona z-scores compare a segment's buyers with all buyers."""

LATEST_IS_MISSING: frozenset[str] = frozenset({"recency_days", "mean_interpurchase_days"})
"""Features where a null means "never" (non-buyers) and is filled with the column maximum."""


@dataclass
class FeatureScaler:
    """Robust standardisation of portrait features, fitted on one population and reusable.

    Per feature: ``log1p`` for heavy-tailed features, nulls filled (see :func:`prepare_features`),
    then ``(x - median) / (IQR / 1.349)`` (the IQR of a normal distribution is 1.349 standard
    deviations, so units are comparable to z-scores); where the IQR is 0 the standard deviation is
    used instead.

    Attributes
    ----------
    features : list of str
        Features used, in column order of the transformed matrix.
    log_features : list of str
        The subset transformed with ``log1p``.
    fill_buyer, fill_never : dict of str to float
        Fill value of a null, for buyers and for non-buyers (after ``log1p``).
    center, scale : ndarray
        Median and robust scale per feature.
    """

    features: list[str]
    log_features: list[str]
    fill_buyer: dict[str, float]
    fill_never: dict[str, float]
    center: np.ndarray
    scale: np.ndarray

    def transform(self, portraits: pd.DataFrame) -> np.ndarray:
        """Scaled feature matrix (n_users, n_features)."""
        raw = _logged(portraits, self.features, self.log_features)
        filled = _fill(raw, _is_buyer(portraits), self.fill_buyer, self.fill_never)
        return (filled.to_numpy(dtype=float) - self.center) / self.scale


def _is_buyer(portraits: pd.DataFrame) -> np.ndarray:
    if "frequency" in portraits:
        return portraits["frequency"].fillna(0).to_numpy(dtype=float) > 0
    return np.ones(len(portraits), dtype=bool)


def _logged(portraits: pd.DataFrame, features: list[str], log_features: list[str]) -> pd.DataFrame:
    missing = [f for f in features if f not in portraits]
    if missing:
        raise ValueError(
            f"The 'features' {missing} are not columns of the portraits (columns: {', '.join(map(str, portraits.columns))})."
        )
    frame = portraits[features].astype(float)
    for f in log_features:
        if (frame[f] < 0).any():
            raise ValueError(f"Feature '{f}' is log1p-transformed and must be >= 0. Got min {frame[f].min()} instead.")
        frame[f] = np.log1p(frame[f])
    return frame


def _fill(
    frame: pd.DataFrame, buyer: np.ndarray, fill_buyer: dict[str, float], fill_never: dict[str, float]
) -> pd.DataFrame:
    out = frame.copy()
    for f in frame.columns:
        values = out[f].to_numpy(dtype=float, copy=True)
        nan = np.isnan(values)
        values[nan & buyer] = fill_buyer[f]
        values[nan & ~buyer] = fill_never[f]
        out[f] = values
    return out


def prepare_features(
    portraits: pd.DataFrame, features: Sequence[str] | None = None
) -> tuple[FeatureScaler, dict[str, str]]:
    """Fit the robust scaling of :class:`FeatureScaler` and report features that cannot be used.

    Null handling (stated): for ``recency_days`` and ``mean_interpurchase_days`` a null means
    "never" and becomes the column maximum. For other features a non-buyer's null becomes 0 (no
    spend, no loyalty) and a buyer's null (e.g. unknown prices) the median of known buyer values.
    A feature with no usable value, or constant after filling, is dropped.

    Returns
    -------
    scaler : FeatureScaler
    dropped : dict of str to str
        Dropped feature -> reason.
    """
    wanted = list(features) if features is not None else [f for f in DEFAULT_SEGMENT_FEATURES if f in portraits]
    if not wanted:
        raise ValueError("The 'features' parameter must name at least one portrait column. Got none instead.")
    log_features = [f for f in wanted if f in HEAVY_TAILED_FEATURES]
    raw = _logged(portraits, wanted, log_features)
    buyer = _is_buyer(portraits)
    fill_buyer, fill_never, dropped = _null_fill_values(raw, buyer)
    kept = [f for f in wanted if f not in dropped]
    center, scale = _robust_center_scale(_fill(raw[kept], buyer, fill_buyer, fill_never).to_numpy(dtype=float))
    dropped.update({f: "constant" for f, sc in zip(kept, scale, strict=True) if sc <= 0})
    keep = scale > 0
    final = [f for f, k in zip(kept, keep, strict=True) if k]
    if not final:
        raise ValueError(f"No usable segmentation feature among {wanted}: {dropped}.")
    scaler = FeatureScaler(
        features=final,
        log_features=[f for f in log_features if f in final],
        fill_buyer={f: fill_buyer[f] for f in final},
        fill_never={f: fill_never[f] for f in final},
        center=center[keep],
        scale=scale[keep],
    )
    return scaler, dropped


def _null_fill_values(
    raw: pd.DataFrame, buyer: np.ndarray
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Fill values of nulls for buyers and non-buyers per feature, and the features that cannot be filled."""
    fill_buyer: dict[str, float] = {}
    fill_never: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for f in raw.columns:
        values = raw[f].to_numpy(dtype=float)
        known = ~np.isnan(values)
        known_buyer = known & buyer
        if not known.any():
            dropped[f] = "no known value"
        elif f in LATEST_IS_MISSING:
            fill_buyer[f] = fill_never[f] = float(values[known].max())
        elif (~known & buyer).any() and not known_buyer.any():
            dropped[f] = "unknown for every buyer (e.g. no prices)"
        else:
            fill_never[f] = 0.0
            fill_buyer[f] = float(np.median(values[known_buyer])) if known_buyer.any() else 0.0
    return fill_buyer, fill_never, dropped


def _robust_center_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR / 1.349 per column (standard deviation where the IQR is 0)."""
    if values.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    q25, median, q75 = np.percentile(values, [25, 50, 75], axis=0)
    scale = (q75 - q25) / 1.349
    return median, np.where(scale > 0, scale, values.std(axis=0))


@dataclass
class SegmentationResult:
    """Outcome of :func:`segment_users`.

    Attributes
    ----------
    labels : Series of int
        Segment per user (index of the portraits), 0 = largest segment.
    method : str
        ``"kmeans"`` or ``"gmm"``: the model whose labels are returned.
    n_segments : int
        Chosen k.
    model : KMeans or GaussianMixture
        The final model, fitted on all users (cluster ids before relabelling by size).
    scaler : FeatureScaler
        The feature transform (use :meth:`predict` for new users).
    kmeans_scores, gmm_scores : DataFrame
        Model-selection tables per k: KMeans silhouette and inertia; GMM BIC, AIC and silhouette.
    criterion : str
        The stated selection rule.
    dropped_features : dict
        Requested features that could not be used, with the reason.
    """

    labels: pd.Series
    method: str
    n_segments: int
    model: KMeans | GaussianMixture
    scaler: FeatureScaler
    kmeans_scores: pd.DataFrame
    gmm_scores: pd.DataFrame
    criterion: str
    dropped_features: dict[str, str] = field(default_factory=dict)
    label_map: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def features(self) -> list[str]:
        """Features used."""
        return self.scaler.features

    def predict(self, portraits: pd.DataFrame) -> pd.Series:
        """Segment of (new) users with the fitted transform and model."""
        with threadpool_limits(limits=1):
            raw = self.model.predict(self.scaler.transform(portraits))
        return pd.Series(self.label_map[raw], index=portraits.index, name="segment")


def _sample_rows(n: int, size: int, random_state: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))


def _silhouette(x: np.ndarray, labels: np.ndarray, sample: int, random_state: int) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_score(x, labels, sample_size=min(sample, len(x)), random_state=random_state))


def _fit_kmeans(x: np.ndarray, k: int, random_state: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=5, random_state=random_state).fit(x)


def _fit_gmm(x: np.ndarray, k: int, random_state: int) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            n_components=k, covariance_type="full", reg_covar=1e-3, n_init=2, random_state=random_state
        ).fit(x)


def _score_k_range(
    sample: np.ndarray, ks: list[int], random_state: int, silhouette_sample: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KMeans (silhouette, inertia) and GMM (BIC, AIC, silhouette) tables over the candidate k."""
    km_rows, gm_rows = [], []
    for k in ks:
        km = _fit_kmeans(sample, k, random_state)
        km_rows.append(
            {
                "k": k,
                "silhouette": _silhouette(sample, km.labels_, silhouette_sample, random_state),
                "inertia": float(km.inertia_),
            }
        )
        gm = _fit_gmm(sample, k, random_state)
        gm_rows.append(
            {
                "k": k,
                "bic": float(gm.bic(sample)),
                "aic": float(gm.aic(sample)),
                "silhouette": _silhouette(sample, gm.predict(sample), silhouette_sample, random_state),
            }
        )
    return pd.DataFrame(km_rows), pd.DataFrame(gm_rows)


def segment_users(
    portraits: pd.DataFrame,
    features: Sequence[str] | None = None,
    k_range: Sequence[int] = range(2, 11),
    random_state: int = SEED,
    method: Literal["auto", "kmeans", "gmm"] = "auto",
    selection_sample: int = 20_000,
    silhouette_sample: int = 5_000,
) -> SegmentationResult:
    """Cluster users on robustly standardised portrait features, choosing k by a stated criterion.

    Criterion: for every k in ``k_range`` KMeans (k-means++, 5 starts) is scored by its silhouette
    and a full-covariance Gaussian mixture by its BIC, both fitted on the same seeded sample of at
    most ``selection_sample`` users. KMeans takes the k of the highest silhouette, the mixture the k
    of the lowest BIC. With ``method="auto"`` the one of the two winners with the higher
    silhouette (on the same silhouette sample) is kept (KMeans on ties); ``"kmeans"`` or ``"gmm"``
    force a family. The kept model is refitted on all users and its clusters are renumbered by size
    (0 = largest). Models run single-threaded (threadpoolctl) so that labels do not depend on the
    machine's core count and small fits do not suffer thread oversubscription on shared machines.

    Parameters
    ----------
    portraits : DataFrame
        Output of :func:`build_portraits` (or any frame with the feature columns).
    features : sequence of str, optional
        Columns to cluster on (default :data:`DEFAULT_SEGMENT_FEATURES` present in the frame).
    k_range : sequence of int
        Candidate numbers of segments (each >= 2 and < number of users).
    random_state : int
        Seed of sampling and of both model families.
    method : {"auto", "kmeans", "gmm"}
        Family whose labels are returned.
    selection_sample : int
        Users used to compare k (all when fewer).
    silhouette_sample : int
        Users used for each silhouette score.

    Returns
    -------
    SegmentationResult
    """
    if method not in ("auto", "kmeans", "gmm"):
        raise ValueError(
            f"The 'method' parameter of segment_users must be 'auto', 'kmeans' or 'gmm'. Got {method!r} instead."
        )
    ks = sorted({int(k) for k in k_range})
    if not ks or ks[0] < 2 or ks[-1] >= len(portraits):
        raise ValueError(
            f"The 'k_range' parameter of segment_users must hold ints in [2, n_users - 1] = [2, {len(portraits) - 1}]. Got {list(k_range)} instead."
        )
    scaler, dropped = prepare_features(portraits, features)
    x = scaler.transform(portraits)
    with threadpool_limits(limits=1):
        km_table, gm_table = _score_k_range(
            x[_sample_rows(len(x), selection_sample, random_state)], ks, random_state, silhouette_sample
        )
        k_km = int(km_table.loc[km_table["silhouette"].fillna(-np.inf).idxmax(), "k"])
        k_gm = int(gm_table.loc[gm_table["bic"].idxmin(), "k"])
        sil_km = float(km_table.set_index("k").loc[k_km, "silhouette"])
        sil_gm = float(gm_table.set_index("k").loc[k_gm, "silhouette"])
        chosen = (
            method
            if method != "auto"
            else ("gmm" if np.nan_to_num(sil_gm, nan=-1) > np.nan_to_num(sil_km, nan=-1) else "kmeans")
        )
        k = k_km if chosen == "kmeans" else k_gm
        model: KMeans | GaussianMixture = (
            _fit_kmeans(x, k, random_state) if chosen == "kmeans" else _fit_gmm(x, k, random_state)
        )
        raw_labels = model.predict(x)
    label_map = _relabel_by_size(raw_labels, k)
    criterion = (
        f"KMeans: k with the highest silhouette (k={k_km}, silhouette={sil_km:.3f}); "
        f"GMM: k with the lowest BIC (k={k_gm}, silhouette={sil_gm:.3f}); "
        f"kept {chosen} ({'higher silhouette' if method == 'auto' else 'forced by method'}), refitted on all {len(x)} users."
    )
    return SegmentationResult(
        labels=pd.Series(label_map[raw_labels], index=portraits.index, name="segment"),
        method=chosen,
        n_segments=k,
        model=model,
        scaler=scaler,
        kmeans_scores=km_table,
        gmm_scores=gm_table,
        criterion=criterion,
        dropped_features=dropped,
        label_map=label_map,
    )


def _relabel_by_size(raw: np.ndarray, k: int) -> np.ndarray:
    """Map raw cluster ids to 0..k-1 by decreasing size (ties: lower raw id first)."""
    counts = np.bincount(raw, minlength=k)
    order = np.argsort(-counts, kind="stable")
    mapping = np.empty(k, dtype=int)
    mapping[order] = np.arange(k)
    return mapping


PERSONA_ACTIONS: dict[str, str] = {
    "big spender": "VIP care: early access, premium bundles and anchor shout-outs; reward with perks, not discounts.",
    "loyal regular": "Membership or subscription offers and cross-sell of adjacent categories.",
    "lapsed customer": "Win-back: personalised reminder of past purchases with a time-limited coupon.",
    "bargain hunter": "Coupons, flash sales and bundle deals announced in live rooms.",
    "engaged fan": "Interactive formats (lucky draws, Q&A) and room-exclusive offers to convert engagement.",
    "window shopper": "Retarget viewed items, first-order coupon and social proof (reviews, sales counts).",
    "casual buyer": "Onboarding journey and a second-purchase incentive within their usual rhythm.",
    "low-engagement visitor": "Low-cost broad reach only (feed ads); avoid expensive incentives.",
}
"""Suggested marketing action per persona name."""


def _persona_name(z: pd.Series, buyer_segment: bool) -> str:
    """First rule that matches, on segment means in population z-units."""

    def get(name: str) -> float:
        return float(z.get(name, 0.0)) if pd.notna(z.get(name, 0.0)) else 0.0

    if buyer_segment and (get("monetary") >= 0.8 or (get("aov") >= 0.8 and get("frequency") >= 0.0)):
        return "big spender"
    if buyer_segment and get("frequency") >= 0.8 and get("recency_days") <= 0.0:
        return "loyal regular"
    if buyer_segment and get("recency_days") >= 0.5:
        return "lapsed customer"
    if buyer_segment and get("aov") <= -0.5:
        return "bargain hunter"
    if get("engagement_per_session") >= 0.8:
        return "engaged fan"
    if not buyer_segment and (get("events_per_session") >= 0.0 or get("n_sessions") >= 0.0):
        return "window shopper"
    if buyer_segment:
        return "casual buyer"
    return "low-engagement visitor"


def describe_segments(
    portraits: pd.DataFrame, labels: ArrayLike, features: Sequence[str] | None = None, n_traits: int = 3
) -> pd.DataFrame:
    """Persona cards: size, share, key traits in z-units, a rule-based name and a marketing action.

    Traits: each feature is log1p-transformed when heavy-tailed and null-filled as in
    :func:`prepare_features`; a segment's trait value is its mean in population z-units
    (``(segment mean - population mean) / population std``), where for the features of
    :data:`BUYER_ONLY_FEATURES` (AOV, recency, ...) both means are over buyers only (a segment
    without buyers has no value). The ``n_traits`` features with the
    largest absolute value are the key traits. Naming rules (first match; a *buyer segment* has a
    median ``frequency`` >= 1): big spender (monetary >= +0.8 or AOV >= +0.8 with frequency >= 0),
    loyal regular (frequency >= +0.8 and recency <= 0), lapsed customer (recency >= +0.5),
    bargain hunter (AOV <= -0.5), engaged fan (engagement >= +0.8, any segment), window shopper
    (non-buyers with events per session or sessions >= 0), casual buyer, low-engagement visitor.
    Repeated names get a number (``"casual buyer 2"``).

    Parameters
    ----------
    portraits : DataFrame
    labels : array-like of int
        Segment of each portrait row (e.g. ``SegmentationResult.labels``).
    features : sequence of str, optional
        Trait features (default :data:`DEFAULT_SEGMENT_FEATURES` present).
    n_traits : int
        Traits listed per card.

    Returns
    -------
    DataFrame
        One row per segment (largest first): ``segment``, ``name``, ``size``, ``share``,
        ``key_traits``, ``action``, ``median_<feature>`` and ``z_<feature>`` per feature.
    """
    labels_arr = np.asarray(labels)
    if len(labels_arr) != len(portraits):
        raise ValueError(
            f"The 'labels' parameter must have one label per portrait row ({len(portraits)}). Got {len(labels_arr)} instead."
        )
    scaler, _ = prepare_features(portraits, features)
    used = scaler.features
    z = _segment_z_scores(portraits, labels_arr, scaler)
    sizes = pd.Series(labels_arr).value_counts().reindex(z.index)
    medians = portraits[used].astype(float).groupby(labels_arr, sort=True).median().reindex(z.index)
    freq_median = (
        portraits["frequency"].groupby(labels_arr, sort=True).median().reindex(z.index)
        if "frequency" in portraits
        else pd.Series(0.0, index=z.index)
    )
    names = [_persona_name(z.loc[s], bool(freq_median.loc[s] >= 1)) for s in z.index]
    cards = pd.DataFrame(
        {
            "segment": z.index.to_numpy(),
            "name": names,
            "size": sizes.to_numpy(dtype="int64"),
            "share": sizes.to_numpy(dtype=float) / len(portraits),
            "key_traits": [_trait_text(z.loc[s], n_traits) for s in z.index],
            "action": [PERSONA_ACTIONS[n] for n in names],
        }
    )
    cards = pd.concat(
        [cards, medians.add_prefix("median_").reset_index(drop=True), z.add_prefix("z_").reset_index(drop=True)],
        axis=1,
    )
    cards = cards.sort_values(["size", "segment"], ascending=[False, True], kind="stable").reset_index(drop=True)
    cards["name"] = _number_repeats(cards["name"])
    return cards


def _segment_z_scores(portraits: pd.DataFrame, labels: np.ndarray, scaler: FeatureScaler) -> pd.DataFrame:
    """Segment means of the transformed features in population z-units (buyer-only features among buyers)."""
    buyer = _is_buyer(portraits)
    filled = _fill(
        _logged(portraits, scaler.features, scaler.log_features), buyer, scaler.fill_buyer, scaler.fill_never
    )
    for f in scaler.features:
        if f in BUYER_ONLY_FEATURES:
            filled.loc[~buyer, f] = np.nan
    values = filled.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    std = np.where(std > 0, std, 1.0)
    frame = pd.DataFrame((values - mean) / std, columns=scaler.features)
    return frame.groupby(labels, sort=True).mean()


def _trait_text(z: pd.Series, n: int) -> str:
    known = z.dropna()
    top = known.reindex(known.abs().sort_values(ascending=False, kind="stable").index[:n])
    return ", ".join(f"{name} {value:+.1f}σ" for name, value in top.items())


def _number_repeats(names: pd.Series) -> pd.Series:
    rank = names.groupby(names).cumcount() + 1
    return names.where(rank == 1, names + " " + rank.astype("str"))


# ---------------------------------------------------------------------------------------------
# Transaction summaries (the frequency / recency / T convention of Fader & Hardie)
# ---------------------------------------------------------------------------------------------


def summarize_transactions(
    events: TableSource,
    calibration_end: Any,
    unit: Literal["D", "W", "M"] = "W",
    observation_end: Any = None,
    timezone: str = "UTC",
    con: duckdb.DuckDBPyConnection | None = None,
    transaction: Literal["day", "session"] = "day",
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value (BG/NBD, Gamma-Gamma inputs).

    The convention of Fader, Hardie & Lee (2005a) and of the ``lifetimes`` library with daily
    periods: a customer's purchases are grouped by local calendar day (several purchases on one day
    are one transaction whose value is their sum). With the calibration period ending on the day
    ``calibration_end`` (inclusive):

    * ``frequency`` = purchase days after the first one (repeat transactions);
    * ``recency`` = time from the first to the last purchase day (0 without repeat);
    * ``T`` = time from the first purchase day to ``calibration_end``;
    * ``monetary_value`` = mean value of the repeat transactions (0 without repeat, as in
      ``lifetimes``; null when no repeat transaction has a known price);

    all times in ``unit`` (D days, W weeks = 7 days, M months = 365.25/12 days). Only customers
    whose first purchase is on or before ``calibration_end`` are included. With ``observation_end``
    the holdout columns ``frequency_holdout`` (purchase days in (calibration_end, observation_end]),
    ``monetary_value_holdout`` and ``duration_holdout`` are added. Refunds are ignored.

    With ``transaction="session"`` a transaction is instead a shopping session (``session_id``) with
    at least one purchase, timed at its first purchase and worth the sum of its purchases; recency
    and T are then exact times (fractions of ``unit``), T running to the end of the day
    ``calibration_end`` (local midnight). Live-commerce customers often buy in two broadcasts of
    one day, which the day convention would count as one transaction.

    Parameters
    ----------
    events : DataFrame, str or Path
        Canonical events (frame or Parquet path); only purchases are read.
    calibration_end, observation_end : date-like
        Last day of the calibration / observation period (local days of ``timezone``).
    unit : {"D", "W", "M"}
        Time unit of recency and T.
    timezone : str
        Time zone of the calendar days.
    con : duckdb.DuckDBPyConnection, optional
    transaction : {"day", "session"}
        What one transaction is: a local calendar day with purchases (Fader, Hardie & Lee; ``lifetimes``)
        or a session with purchases (needs ``session_id``).

    Returns
    -------
    DataFrame
        Indexed by ``user_id`` (sorted).
    """
    if transaction not in ("day", "session"):
        raise ValueError(
            "The 'transaction' parameter of summarize_transactions must be 'day' or 'session'. "
            f"Got {transaction!r} instead."
        )
    if unit not in UNIT_DAYS:
        raise ValueError(
            f"The 'unit' parameter of summarize_transactions must be one of {list(UNIT_DAYS)}. Got {unit!r} instead."
        )
    cal_end = _as_local_date(calibration_end, "calibration_end", timezone)
    obs_end = _as_local_date(observation_end, "observation_end", timezone) if observation_end is not None else cal_end
    if obs_end < cal_end:
        raise ValueError(
            f"The 'observation_end' parameter ({obs_end.date()}) must not be before calibration_end ({cal_end.date()})."
        )
    own = con is None
    connection = duckdb.connect() if own else con
    registered: list[str] = []
    try:
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["user_id", "ts", "event_type"], "events")
        ts = _utc_ts_expr(types, "ts", "events")
        value = f"{_optional(types, 'price')} * coalesce({_optional(types, 'quantity')}, 1)"
        pay_list = ", ".join(_sql_literal(t) for t in PURCHASE_EVENTS)
        cal, obs = _sql_literal(str(cal_end.date())), _sql_literal(str(obs_end.date()))
        if transaction == "session":
            _require(types, ["session_id"], "events")
            sql = _session_transactions_sql(name, ts, value, pay_list, cal_end, obs_end, timezone)
        else:
            sql = _day_transactions_sql(name, ts, value, pay_list, cal, obs, timezone)
        raw = connection.execute(sql).df()
    finally:
        _release(connection, registered)
        if own:
            connection.close()
    return _transactions_frame(raw, unit, cal_end, obs_end, observation_end is not None)


def _day_transactions_sql(name: str, ts: str, value: str, pay_list: str, cal: str, obs: str, timezone: str) -> str:
    """Per-customer calibration and holdout counts with local calendar days as transactions."""
    return f"""
        WITH daily AS (
            SELECT CAST(e.user_id AS VARCHAR) AS user_id, CAST(timezone({_sql_literal(timezone)}, {ts}) AS DATE) AS day,
                   sum({value}) AS value
            FROM {name} e WHERE e.event_type IN ({pay_list})
            GROUP BY 1, 2 HAVING day <= DATE {obs}
        ),
        firsts AS (SELECT user_id, min(day) AS first_day FROM daily WHERE day <= DATE {cal} GROUP BY user_id)
        SELECT d.user_id,
               count(*) FILTER (WHERE day <= DATE {cal}) - 1 AS frequency,
               date_diff('day', first_day, max(day) FILTER (WHERE day <= DATE {cal})) AS recency_days,
               date_diff('day', first_day, DATE {cal}) AS T_days,
               avg(value) FILTER (WHERE day > first_day AND day <= DATE {cal}) AS repeat_value,
               count(value) FILTER (WHERE day > first_day AND day <= DATE {cal}) AS n_priced_repeat,
               count(*) FILTER (WHERE day > DATE {cal}) AS frequency_holdout,
               avg(value) FILTER (WHERE day > DATE {cal}) AS monetary_value_holdout
        FROM daily d JOIN firsts USING (user_id)
        GROUP BY d.user_id, first_day
        ORDER BY d.user_id"""


def _session_transactions_sql(
    name: str, ts: str, value: str, pay_list: str, cal_end: pd.Timestamp, obs_end: pd.Timestamp, timezone: str
) -> str:
    """Per-customer calibration and holdout counts with purchase sessions as transactions (exact times)."""
    cal = _local_midnight_after(cal_end, timezone)
    obs = _local_midnight_after(obs_end, timezone)
    return f"""
        WITH tx AS (
            SELECT CAST(e.user_id AS VARCHAR) AS user_id, e.session_id, min({ts}) AS ts, sum({value}) AS value
            FROM {name} e WHERE e.event_type IN ({pay_list})
            GROUP BY 1, 2 HAVING min({ts}) < TIMESTAMPTZ {obs}
        ),
        firsts AS (SELECT user_id, min(ts) AS first_ts FROM tx WHERE ts < TIMESTAMPTZ {cal} GROUP BY user_id)
        SELECT d.user_id,
               count(*) FILTER (WHERE ts < TIMESTAMPTZ {cal}) - 1 AS frequency,
               (epoch(max(ts) FILTER (WHERE ts < TIMESTAMPTZ {cal})) - epoch(first_ts)) / 86400.0 AS recency_days,
               (epoch(TIMESTAMPTZ {cal}) - epoch(first_ts)) / 86400.0 AS T_days,
               avg(value) FILTER (WHERE ts > first_ts AND ts < TIMESTAMPTZ {cal}) AS repeat_value,
               count(value) FILTER (WHERE ts > first_ts AND ts < TIMESTAMPTZ {cal}) AS n_priced_repeat,
               count(*) FILTER (WHERE ts >= TIMESTAMPTZ {cal}) AS frequency_holdout,
               avg(value) FILTER (WHERE ts >= TIMESTAMPTZ {cal}) AS monetary_value_holdout
        FROM tx d JOIN firsts USING (user_id)
        GROUP BY d.user_id, first_ts
        ORDER BY d.user_id"""


def _local_midnight_after(day: pd.Timestamp, timezone: str) -> str:
    """SQL literal of the UTC instant at which the local calendar day ``day`` ends."""
    end = (day.normalize() + pd.Timedelta(days=1)).tz_localize(timezone).tz_convert("UTC")
    return _sql_literal(end.strftime("%Y-%m-%d %H:%M:%S+00"))


def _transactions_frame(
    raw: pd.DataFrame, unit: str, cal_end: pd.Timestamp, obs_end: pd.Timestamp, with_holdout: bool
) -> pd.DataFrame:
    """Frequency, recency, T and monetary columns in ``unit`` from the per-customer SQL result."""
    days = UNIT_DAYS[unit]
    out = pd.DataFrame(index=pd.Index(raw["user_id"].astype("str"), name="user_id"))
    frequency = raw["frequency"].to_numpy(dtype="int64")
    out["frequency"] = frequency
    out["recency"] = raw["recency_days"].to_numpy(dtype=float) / days
    out["T"] = raw["T_days"].to_numpy(dtype=float) / days
    repeat_value = raw["repeat_value"].to_numpy(dtype=float)
    out["monetary_value"] = np.where(frequency == 0, 0.0, repeat_value)
    if with_holdout:
        out["frequency_holdout"] = raw["frequency_holdout"].to_numpy(dtype="int64")
        out["monetary_value_holdout"] = raw["monetary_value_holdout"].to_numpy(dtype=float)
        out["duration_holdout"] = float((obs_end - cal_end).days) / days
    out.attrs["unit"] = unit
    out.attrs["calibration_end"] = cal_end
    out.attrs["observation_end"] = obs_end if with_holdout else None
    return out


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------


def _check_rft(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    x, t_x, big_t = np.broadcast_arrays(x, t_x, big_t)
    problems = []
    if not np.all(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(big_t)):
        problems.append("frequency, recency and T must be finite")
    elif (x < 0).any() or (x != np.round(x)).any():
        problems.append(f"'frequency' must hold ints >= 0 (got e.g. {x[(x < 0) | (x != np.round(x))][:3].tolist()})")
    elif (t_x < 0).any() or (t_x > big_t + 1e-9).any():
        problems.append("'recency' must satisfy 0 <= recency <= T")
    elif ((x == 0) & (t_x != 0)).any():
        problems.append("'recency' must be 0 where frequency is 0")
    if problems:
        raise ValueError(f"{where}: {'; '.join(problems)}.")
    return x, t_x, big_t


def bg_nbd_log_likelihood(
    params: dict[str, float], frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, equation (6) of Fader, Hardie & Lee (2005a) in log form.

    ``ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4))`` with
    ``A1 = ln G(r+x) - ln G(r) + r ln a``, ``A2 = ln B(a, b+x) - ln B(a, b)``,
    ``A3 = -(r+x) ln(alpha+T)`` and ``A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)``.

    Parameters
    ----------
    params : dict
        ``r``, ``alpha``, ``a``, ``b`` (all > 0).
    frequency, recency, T : array-like
        Repeat transactions x, time of the last one t_x and observation time T per customer.

    Returns
    -------
    ndarray
    """
    x, t_x, big_t = _check_rft(frequency, recency, T, "bg_nbd_log_likelihood")
    return _bg_terms(
        np.array([params["r"], params["alpha"], params["a"], params["b"]], dtype=float), x, t_x, big_t, gradient=False
    )[0]


def _bg_terms(
    theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-likelihood per customer and (optionally) its gradient with respect to (r, alpha, a, b)."""
    r, alpha, a, b = theta
    rx = r + x
    repeat = x > 0
    a1 = special.gammaln(rx) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    log_at, log_atx = np.log(alpha + big_t), np.log(alpha + t_x)
    a3 = -rx * log_at
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - rx * log_atx, -np.inf)
    tail = np.logaddexp(a3, a4)
    ll = a1 + a2 + tail
    if not gradient:
        return ll, None
    w3 = np.exp(a3 - tail)
    w4 = np.exp(a4 - tail)
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    d_r = special.digamma(rx) - special.digamma(r) + np.log(alpha) + w3 * (-log_at) + w4 * (-log_atx)
    d_alpha = r / alpha + w3 * (-rx / (alpha + big_t)) + w4 * (-rx / (alpha + t_x))
    d_a = special.digamma(a + b) - special.digamma(a + b + x) + w4 / a
    d_b = special.digamma(a + b) + special.digamma(b + x) - special.digamma(b) - special.digamma(a + b + x) - w4 / b_x1
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def _compress(*columns: np.ndarray, weights: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the columns with summed weights (customers sharing a history count once)."""
    stacked = np.column_stack(columns)
    w = np.ones(len(stacked)) if weights is None else np.asarray(weights, dtype=float)
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=w, minlength=len(uniq))
    return [uniq[:, i] for i in range(uniq.shape[1])], summed


def _numerical_hessian(objective: Any, log_theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Hessian of the objective by central differences of its analytic gradient (symmetrised)."""
    k = len(log_theta)
    hess = np.empty((k, k))
    for i in range(k):
        shift = np.zeros(k)
        shift[i] = step
        hess[:, i] = (objective(log_theta + shift)[1] - objective(log_theta - shift)[1]) / (2 * step)
    return (hess + hess.T) / 2.0


def _maximize(objective: Any, x0: np.ndarray, max_iter: int, tol: float, name: str) -> tuple[np.ndarray, bool, str]:
    """Minimise a smooth objective over log-parameters.

    L-BFGS-B with the analytic gradient gets close; up to five Newton steps with a finite-difference
    Hessian of the gradient then polish to machine precision (quadratic convergence), each kept only
    if it does not increase the objective. Converged means max |gradient| < ``tol``.
    """
    first = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-8}
    )
    x, (fx, grad) = first.x, objective(first.x)
    for _ in range(5):
        if np.max(np.abs(grad)) < tol * 1e-3:
            break
        try:
            step = np.linalg.solve(_numerical_hessian(objective, x), grad)
        except np.linalg.LinAlgError:
            break
        candidate = x - step
        f_new, g_new = objective(candidate)
        if not np.isfinite(f_new) or f_new > fx + 1e-15 * abs(fx):
            break
        x, fx, grad = candidate, f_new, g_new
    converged = bool(np.all(np.isfinite(x)) and np.max(np.abs(grad)) < tol)
    if not converged:
        warnings.warn(
            f"{name} did not converge (max |gradient| {np.max(np.abs(grad)):.2e}): {first.message}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return x, converged, str(first.message)


def _standard_errors(objective: Any, log_theta: np.ndarray, n: float, names: Sequence[str]) -> dict[str, float]:
    """Delta-method standard errors from the observed information of the total log-likelihood."""
    try:
        cov_log = np.linalg.inv(_numerical_hessian(objective, log_theta) * n)
    except np.linalg.LinAlgError:
        return dict.fromkeys(names, float("nan"))
    theta = np.exp(log_theta)
    se = theta * np.sqrt(np.clip(np.diag(cov_log), 0, None))
    return {name: float(s) for name, s in zip(names, se, strict=True)}


class BetaGeoModel(BaseEstimator):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005a), fitted by maximum likelihood.

    While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after
    each repeat purchase they drop out with probability ``p ~ Beta(a, b)``. Fitting maximises the
    log-likelihood over log-parameters (L-BFGS-B with the analytic gradient, polished with BFGS);
    customers with identical (frequency, recency, T) are evaluated once with a weight.

    Parameters
    ----------
    penalizer_coef : float
        L2 penalty on the parameters added to the mean negative log-likelihood (0 = plain MLE,
        as ``lifetimes``' ``penalizer_coef``).
    max_iter : int
        Iteration limit of each optimiser.
    tol : float
        Convergence criterion: max |gradient| of the mean negative log-likelihood over log-parameters.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Total log-likelihood at ``params_`` (without penalty).
    standard_errors_ : dict
        Delta-method standard errors from the observed information.
    n_customers_ : int
    converged_ : bool
    """

    param_names: tuple[str, ...] = ("r", "alpha", "a", "b")

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000, tol: float = 1e-7) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> BetaGeoModel:
        """Fit to per-customer (frequency, recency, T) in one time unit.

        Returns
        -------
        BetaGeoModel
            self
        """
        if self.penalizer_coef < 0:
            raise ValueError(
                f"The 'penalizer_coef' parameter of BetaGeoModel must be >= 0. Got {self.penalizer_coef} instead."
            )
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.fit")
        if x.size == 0:
            raise ValueError("BetaGeoModel.fit needs at least one customer. Got 0 instead.")
        (x, t_x, big_t), w = _compress(
            x.ravel(), t_x.ravel(), big_t.ravel(), weights=None if weights is None else np.asarray(weights)
        )
        total = w.sum()
        penalty = self.penalizer_coef

        def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = _bg_terms(theta, x, t_x, big_t, gradient=True)
            value = -(w @ ll) / total + penalty * np.sum(theta**2)
            g = -(grad @ w) / total * theta + penalty * 2 * theta**2
            if not np.isfinite(value):
                return np.inf, np.zeros_like(log_theta)
            return float(value), g

        log_theta, self.converged_, self.message_ = _maximize(
            objective, np.zeros(4), self.max_iter, self.tol, "BetaGeoModel"
        )
        theta = np.exp(log_theta)
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = float(w @ _bg_terms(theta, x, t_x, big_t, gradient=False)[0])
        self.standard_errors_ = _standard_errors(objective, log_theta, total, self.param_names)
        self.n_customers_ = int(round(total))
        return self

    def _theta(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise AttributeError("This BetaGeoModel is not fitted yet: call fit(frequency, recency, T) first.")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        return bg_nbd_log_likelihood(self.params_, frequency, recency, T)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), eq. (11)."""
        r, alpha, a, b = self._theta()
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.probability_alive")
        return 1.0 / (1.0 + self._odds_dead(x, t_x, big_t, r, alpha, a, b))

    @staticmethod
    def _odds_dead(
        x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, r: float, alpha: float, a: float, b: float
    ) -> np.ndarray:
        repeat = x > 0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
            )
            return np.where(repeat, np.exp(log_odds), 0.0)

    def predict_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (T, T + t] given the history, eq. (10) of FHL (2005a).

        ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``.
        All arguments broadcast against each other.
        """
        r, alpha, a, b = self._theta()
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.predict_purchases")
        horizon = np.asarray(t, dtype=float)
        if (horizon < 0).any():
            raise ValueError("The 't' parameter of predict_purchases must be >= 0.")
        horizon, x, t_x, big_t = np.broadcast_arrays(horizon, x, t_x, big_t)
        rx = r + x
        z = horizon / (alpha + big_t + horizon)
        decay = np.exp(rx * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
        bracket = 1.0 - decay * special.hyp2f1(rx, b + x, a + b + x - 1.0, z)
        expected = (a + b + x - 1.0) / (a - 1.0) * bracket
        return expected / (1.0 + self._odds_dead(x, t_x, big_t, r, alpha, a, b))

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a new customer, eq. (9) of FHL (2005a)."""
        r, alpha, a, b = self._theta()
        horizon = np.asarray(t, dtype=float)
        z = horizon / (alpha + horizon)
        decay = (alpha / (alpha + horizon)) ** r
        return (a + b - 1.0) / (a - 1.0) * (1.0 - decay * special.hyp2f1(r, b, a + b - 1.0, z))


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------


def _check_spend(frequency: ArrayLike, monetary_value: ArrayLike, where: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    bad_x = ~np.isfinite(x) | (x <= 0)
    if bad_x.any():
        raise ValueError(
            f"{where}: 'frequency' must be > 0 (repeat customers only). Got {int(bad_x.sum())} values <= 0 or null (e.g. {x[bad_x][:3].tolist()})."
        )
    bad_m = ~np.isfinite(m) | (m <= 0)
    if bad_m.any():
        raise ValueError(
            f"{where}: 'monetary_value' must be > 0. Got {int(bad_m.sum())} values <= 0 or null (e.g. {m[bad_m][:3].tolist()}); "
            "fit on repeat customers with a positive known mean spend."
        )
    return x, m


def gamma_gamma_log_likelihood(params: dict[str, float], frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend (Fader & Hardie 2013, eq. 1a).

    ``ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(x m + v)``.
    """
    x, m = _check_spend(frequency, monetary_value, "gamma_gamma_log_likelihood")
    return _gg_terms(np.array([params["p"], params["q"], params["v"]], dtype=float), x, m, gradient=False)[0]


def _gg_terms(theta: np.ndarray, x: np.ndarray, m: np.ndarray, gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, v = theta
    px = p * x
    log_xmv = np.log(x * m + v)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_xmv
    )
    if not gradient:
        return ll, None
    d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(m) + np.log(x) - log_xmv)
    d_q = special.digamma(px + q) - special.digamma(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    return ll, np.stack([d_p, d_q, d_v])


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of the mean transaction value (Fader, Hardie & Lee 2005b; Fader & Hardie 2013).

    A customer's transaction values are ``Gamma(p, nu)`` around their mean ``p / nu`` with
    ``nu ~ Gamma(q, v)`` across customers; fitted by maximum likelihood on repeat customers'
    mean repeat-transaction value. It assumes spend is independent of frequency (check their
    correlation first).

    Parameters
    ----------
    penalizer_coef : float
        L2 penalty on the parameters (0 = plain MLE).
    max_iter : int
    tol : float

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
    standard_errors_ : dict
    n_customers_ : int
    converged_ : bool
    """

    param_names: tuple[str, ...] = ("p", "q", "v")

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000, tol: float = 1e-7) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaModel:
        """Fit to repeat customers' frequency (> 0) and mean repeat-transaction value (> 0).

        Returns
        -------
        GammaGammaModel
            self
        """
        if self.penalizer_coef < 0:
            raise ValueError(
                f"The 'penalizer_coef' parameter of GammaGammaModel must be >= 0. Got {self.penalizer_coef} instead."
            )
        x, m = _check_spend(frequency, monetary_value, "GammaGammaModel.fit")
        if x.size == 0:
            raise ValueError("GammaGammaModel.fit needs at least one repeat customer. Got 0 instead.")
        (x, m), w = _compress(x.ravel(), m.ravel(), weights=None if weights is None else np.asarray(weights))
        total = w.sum()
        penalty = self.penalizer_coef

        def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = _gg_terms(theta, x, m, gradient=True)
            value = -(w @ ll) / total + penalty * np.sum(theta**2)
            if not np.isfinite(value):
                return np.inf, np.zeros_like(log_theta)
            return float(value), -(grad @ w) / total * theta + penalty * 2 * theta**2

        log_theta, self.converged_, self.message_ = _maximize(
            objective, np.zeros(3), self.max_iter, self.tol, "GammaGammaModel"
        )
        theta = np.exp(log_theta)
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = float(w @ _gg_terms(theta, x, m, gradient=False)[0])
        self.standard_errors_ = _standard_errors(objective, log_theta, total, self.param_names)
        self.n_customers_ = int(round(total))
        return self

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """E[mean spend | x, m] = (q-1)/(px+q-1) * v p/(q-1) + px/(px+q-1) * m (eq. 5 of Fader & Hardie 2013).

        Customers with ``frequency`` 0 get the population mean ``v p / (q - 1)`` (their
        ``monetary_value`` is ignored). Needs q > 1 for a finite population mean.
        """
        if not hasattr(self, "params_"):
            raise AttributeError("This GammaGammaModel is not fitted yet: call fit(frequency, monetary_value) first.")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        if q <= 1:
            raise ValueError(f"The fitted q = {q:.4g} <= 1: the population mean spend v p / (q - 1) is not finite.")
        x = np.asarray(frequency, dtype=float)
        m = np.nan_to_num(np.asarray(monetary_value, dtype=float), nan=0.0)
        x, m = np.broadcast_arrays(x, m)
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * (v * p / (q - 1.0)) + weight * m


# ---------------------------------------------------------------------------------------------
# CLV and high-value users
# ---------------------------------------------------------------------------------------------


def describe_fit(
    model: BetaGeoModel | GammaGammaModel, planted: Mapping[str, float] | None = None, digits: int = 4
) -> pd.DataFrame:
    """Fitted parameters at the precision the optimiser delivers, beside planted values when known.

    Estimates and standard errors are rounded to ``digits`` significant digits (a maximum-likelihood
    optimum found from the same data agrees across machines to far more digits, while the likelihood
    surface limits what is meaningful). A parameter is ``identified`` when its standard error is
    finite and smaller than the estimate; one that is not (the optimum sits at the edge of the
    parameter space, e.g. no drop-out in the data) is a finding, not a number to rely on.

    Parameters
    ----------
    model : BetaGeoModel or GammaGammaModel
        A fitted model.
    planted : mapping, optional
        True parameter values (simulated data): adds ``planted``, ``z`` (estimate - planted in standard
        errors) and ``relative_error``.
    digits : int
        Significant digits of the shown estimates.

    Returns
    -------
    DataFrame
        Indexed by parameter name.
    """
    if not hasattr(model, "params_"):
        raise AttributeError(f"This {type(model).__name__} is not fitted yet: call fit first.")

    def rounded(value: float) -> float:
        return float(f"{value:.{digits}g}") if np.isfinite(value) else float("nan")

    names = list(model.params_)
    estimate = np.array([model.params_[n] for n in names])
    se = np.array([model.standard_errors_.get(n, np.nan) for n in names], dtype=float)
    out = pd.DataFrame(
        {
            "estimate": [rounded(v) for v in estimate],
            "standard_error": [rounded(v) for v in se],
            "identified": np.isfinite(se) & (se < estimate),
        },
        index=pd.Index(names, name="parameter"),
    )
    if planted is not None:
        truth = np.array([float(planted[n]) for n in names])
        out["planted"] = truth
        out["z"] = np.round((estimate - truth) / se, 2)
        out["relative_error"] = np.round(estimate / truth - 1.0, 3)
    return out


def customer_lifetime_value(
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    unit: Literal["D", "W", "M"] = "W",
    margin: float = 1.0,
    periods_per_month: float | None = None,
) -> np.ndarray | pd.Series:
    """Discounted expected value over the next ``horizon_months`` months.

    ``CLV = margin * E[spend | x, m] * sum_{k=1..H} (E[Y(k P)] - E[Y((k-1) P)]) / (1 + d)^k`` where
    ``E[Y(t)]`` is the BG/NBD conditional expectation, ``P`` the model time units in a month
    (``365.25/12`` days expressed in ``unit``, or ``periods_per_month``) and ``d`` the monthly
    discount rate. This is the discounting of ``lifetimes`` (which uses 30 days or 4.345 weeks a
    month: pass ``periods_per_month`` to reproduce it).

    Parameters
    ----------
    transaction_model : BetaGeoModel
        Fitted BG/NBD model (same time unit as recency and T).
    spend_model : GammaGammaModel
        Fitted Gamma-Gamma model.
    frequency, recency, T, monetary_value : array-like
        Calibration summary (see :func:`summarize_transactions`).
    horizon_months : int
    discount_rate : float
        Monthly discount rate (0.01 is about 12.7 % a year).
    unit : {"D", "W", "M"}
        Time unit of recency and T.
    margin : float
        Profit margin applied to spend.
    periods_per_month : float, optional
        Override of the units per month.

    Returns
    -------
    ndarray, or Series with the index of ``frequency`` when that is a Series.
    """
    if not isinstance(horizon_months, int | np.integer) or horizon_months < 1:
        raise ValueError(f"The 'horizon_months' parameter must be an int >= 1. Got {horizon_months!r} instead.")
    if discount_rate <= -1:
        raise ValueError(f"The 'discount_rate' parameter must be > -1. Got {discount_rate} instead.")
    if unit not in UNIT_DAYS:
        raise ValueError(f"The 'unit' parameter must be one of {list(UNIT_DAYS)}. Got {unit!r} instead.")
    per_month = periods_per_month if periods_per_month is not None else DAYS_PER_MONTH / UNIT_DAYS[unit]
    x = np.asarray(frequency, dtype=float)[:, None]
    t_x = np.asarray(recency, dtype=float)[:, None]
    big_t = np.asarray(T, dtype=float)[:, None]
    months = np.arange(horizon_months + 1, dtype=float)[None, :]
    cumulative = transaction_model.predict_purchases(months * per_month, x, t_x, big_t)
    per_month_purchases = np.diff(cumulative, axis=1)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon_months + 1, dtype=float)
    spend = spend_model.conditional_expected_average_profit(frequency, monetary_value)
    clv = margin * spend * (per_month_purchases @ discount)
    if isinstance(frequency, pd.Series):
        return pd.Series(clv, index=frequency.index, name="clv")
    return clv


def score_customers(
    summary: pd.DataFrame,
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Per-customer P(alive), expected purchases and spend over the horizon, and CLV.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_transactions` (its ``attrs["unit"]`` sets the time unit).

    Returns
    -------
    DataFrame
        ``p_alive``, ``expected_purchases`` (next ``horizon_months``), ``expected_spend`` (mean per
        transaction), ``clv`` (discounted), indexed like ``summary`` and sorted by CLV (descending).
    """
    unit = summary.attrs.get("unit", "W")
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    horizon = horizon_months * DAYS_PER_MONTH / UNIT_DAYS[unit]
    out = pd.DataFrame(index=summary.index)
    out["p_alive"] = transaction_model.probability_alive(x, t_x, big_t)
    out["expected_purchases"] = transaction_model.predict_purchases(horizon, x, t_x, big_t)
    out["expected_spend"] = spend_model.conditional_expected_average_profit(x, summary["monetary_value"])
    out["clv"] = customer_lifetime_value(
        transaction_model,
        spend_model,
        x,
        t_x,
        big_t,
        summary["monetary_value"],
        horizon_months,
        discount_rate,
        unit,
        margin,
    )
    return out.sort_values("clv", ascending=False, kind="stable")


def compare_calibration_holdout(
    transaction_model: BetaGeoModel, summary: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual vs expected holdout purchases grouped by calibration frequency (FHL 2005a, Fig. 4).

    Parameters
    ----------
    transaction_model : BetaGeoModel
        Fitted on the calibration columns of ``summary``.
    summary : DataFrame
        :func:`summarize_transactions` output with ``observation_end`` (holdout columns).
    max_frequency : int
        Frequencies above are pooled into the last group (labelled ``"7+"`` by default).

    Returns
    -------
    DataFrame
        ``frequency`` (label), ``n_customers``, ``actual``, ``expected`` (means per customer).
    """
    needed = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    missing = [c for c in needed if c not in summary]
    if missing:
        raise ValueError(
            f"compare_calibration_holdout needs summary columns {missing}: call summarize_transactions with observation_end."
        )
    expected = transaction_model.predict_purchases(
        summary["duration_holdout"], summary["frequency"], summary["recency"], summary["T"]
    )
    bucket = np.minimum(summary["frequency"].to_numpy(), max_frequency)
    frame = pd.DataFrame(
        {"bucket": bucket, "actual": summary["frequency_holdout"].to_numpy(dtype=float), "expected": expected}
    )
    table = frame.groupby("bucket", sort=True).agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean")
    )
    labels = [str(int(b)) if b < max_frequency else f"{max_frequency}+" for b in table.index]
    return table.reset_index(drop=True).assign(frequency=labels)[["frequency", "n_customers", "actual", "expected"]]


@dataclass
class HighValueUsers:
    """Top customers by predicted CLV.

    Attributes
    ----------
    table : DataFrame
        All customers ranked by CLV: ``rank``, ``clv``, ``cum_clv_share``, ``revenue``,
        ``cum_revenue_share`` and ``is_top``.
    n_top : int
        Customers in the top group.
    clv_share : float
        Share of total predicted CLV carried by the top group.
    revenue_share : float
        Share of historical revenue carried by the top group (NaN without revenue).
    """

    table: pd.DataFrame
    n_top: int
    clv_share: float
    revenue_share: float


def rank_high_value_users(
    clv: pd.Series, revenue: pd.Series | None = None, top_fraction: float = 0.1
) -> HighValueUsers:
    """Rank customers by predicted CLV and measure what the top ``top_fraction`` carries.

    Parameters
    ----------
    clv : Series
        Predicted CLV indexed by user id.
    revenue : Series, optional
        Historical revenue per user id (e.g. portraits' ``monetary``); missing users count as 0.
    top_fraction : float
        Share of customers in the top group (rounded up to at least one customer).

    Returns
    -------
    HighValueUsers
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"The 'top_fraction' parameter must be in (0, 1]. Got {top_fraction} instead.")
    ranked = clv.astype(float).sort_values(ascending=False, kind="stable")
    n_top = max(1, int(np.ceil(top_fraction * len(ranked))))
    table = pd.DataFrame({"rank": np.arange(1, len(ranked) + 1), "clv": ranked.to_numpy()}, index=ranked.index)
    table["cum_clv_share"] = table["clv"].cumsum() / table["clv"].sum()
    if revenue is not None:
        rev = revenue.astype(float).reindex(ranked.index).fillna(0.0)
        table["revenue"] = rev.to_numpy()
        total = float(rev.sum())
        table["cum_revenue_share"] = table["revenue"].cumsum() / total if total > 0 else np.nan
    else:
        table["revenue"] = np.nan
        table["cum_revenue_share"] = np.nan
    table["is_top"] = table["rank"] <= n_top
    return HighValueUsers(
        table=table,
        n_top=n_top,
        clv_share=float(table["cum_clv_share"].iloc[n_top - 1]),
        revenue_share=float(table["cum_revenue_share"].iloc[n_top - 1]) if revenue is not None else float("nan"),
    )


# ---------------------------------------------------------------------------------------------
# Circular time of day, feature choice and segment habits
# ---------------------------------------------------------------------------------------------

ACTIVE_HOUR_COLUMNS: dict[str, str] = {
    "hour_sin": "mean of sin(2 pi * local time of day / 24 h) over the user's events",
    "hour_cos": "mean of cos(2 pi * local time of day / 24 h) over the user's events",
    "mean_hour": "circular mean local time of day in hours [0, 24) (null when the events show no preferred time)",
    "hour_concentration": "mean resultant length in [0, 1]: 1 = always the same time, 0 = spread around the clock",
}
"""Data dictionary of :func:`summarize_active_hours` output (besides ``user_id``)."""

NO_DIRECTION_TOLERANCE: float = 1e-9
"""Mean resultant length below which a set of times has no defined mean time of day."""


def _active_hours_sql(events: str, types: dict[str, str], timezone: str) -> str:
    """The single SQL statement of :func:`summarize_active_hours`.

    The local time of day is taken in [-12 h, 12 h) so that times symmetric around midnight give
    exactly opposite angles (23:00 and 01:00 cancel to a sine of exactly 0).
    """
    ts = _utc_ts_expr(types, "ts", "events")
    day_us = int(US_PER_DAY)
    half_day_us = day_us // 2
    local_us = f"epoch_us(timezone({_sql_literal(timezone)}, {ts}))"
    return f"""
        WITH clock AS (
            SELECT CAST(e.user_id AS VARCHAR) AS user_id,
                   ((({local_us} % {day_us}) + {day_us} + {half_day_us}) % {day_us}) - {half_day_us} AS tod_us
            FROM {events} e
            WHERE e.ts IS NOT NULL
        ),
        angles AS (
            SELECT user_id, 2 * pi() * CAST(tod_us AS DOUBLE) / {US_PER_DAY!r} AS theta FROM clock
        ),
        resultant AS (
            SELECT user_id, avg(sin(theta)) AS hour_sin, avg(cos(theta)) AS hour_cos
            FROM angles
            GROUP BY user_id
        ),
        hours AS (
            SELECT user_id, hour_sin, hour_cos,
                   sqrt(hour_sin * hour_sin + hour_cos * hour_cos) AS hour_concentration,
                   atan2(hour_sin, hour_cos) * 12 / pi() AS signed_hour
            FROM resultant
        )
        SELECT user_id, hour_sin, hour_cos,
               CASE
                   WHEN hour_concentration < {NO_DIRECTION_TOLERANCE!r} THEN NULL
                   WHEN signed_hour < 0 AND signed_hour + 24 < 24 THEN signed_hour + 24
                   WHEN signed_hour < 0 THEN 0.0
                   ELSE signed_hour
               END AS mean_hour,
               least(hour_concentration, 1.0) AS hour_concentration
        FROM hours
        ORDER BY user_id
    """


def summarize_active_hours(
    events: TableSource, timezone: str = "UTC", con: duckdb.DuckDBPyConnection | None = None
) -> pd.DataFrame:
    """Circular mean time of day of each user's events, in one DuckDB query.

    Each event is a point on the 24-hour clock circle at angle ``2 pi * t / 24 h`` (``t`` the local
    time of day, minutes and seconds included). The mean of the unit vectors gives ``hour_sin`` and
    ``hour_cos``; its direction is the circular mean hour (23:00 and 01:00 average to midnight, not
    noon) and its length the concentration (1: always the same time; 0: no preferred time, in which
    case ``mean_hour`` is null).

    Parameters
    ----------
    events : DataFrame, str or Path
        Canonical events, or a Parquet file / glob / dataset folder holding ``events.parquet``.
        Needs ``user_id`` and ``ts``.
    timezone : str
        IANA time zone of the local time of day (daylight saving time included).
    con : duckdb.DuckDBPyConnection, optional
        Connection to run on (default: a private in-memory connection). Temporary views are removed.

    Returns
    -------
    DataFrame
        One row per user sorted by ``user_id``: ``user_id`` and the columns of
        :data:`ACTIVE_HOUR_COLUMNS`.

    Raises
    ------
    DatasetError
        If ``user_id`` or ``ts`` is missing or ``ts`` is not a timestamp.
    """
    own = con is None
    connection = duckdb.connect() if own else con
    registered: list[str] = []
    try:
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["user_id", "ts"], "events")
        hours = connection.execute(_active_hours_sql(name, types, timezone)).df()
    finally:
        _release(connection, registered)
        if own:
            connection.close()
    hours["user_id"] = hours["user_id"].astype("str")
    for column in ACTIVE_HOUR_COLUMNS:
        hours[column] = hours[column].astype(float)
    return hours.reset_index(drop=True)


def _unusable_reason(portraits: pd.DataFrame, feature: str) -> str | None:
    """Why a portrait column cannot be a clustering feature, or None when it can."""
    if feature not in portraits:
        return "not a portrait column"
    column = portraits[feature]
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        return "not numeric"
    known = column.dropna()
    if known.empty:
        return "no known value"
    if known.nunique() <= 1:
        return "constant"
    return None


def _split_usable(portraits: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The usable features (order kept, duplicates removed) and the reason of each unusable one."""
    usable: list[str] = []
    dropped: dict[str, str] = {}
    for feature in dict.fromkeys(features):
        reason = _unusable_reason(portraits, feature)
        if reason is None:
            usable.append(feature)
        else:
            dropped[feature] = reason
    return usable, dropped


def choose_segment_features(
    portraits: pd.DataFrame,
    preferred: Sequence[str],
    fallback: Sequence[str] = DEFAULT_SEGMENT_FEATURES,
    min_features: int = 2,
) -> tuple[list[str], dict[str, str]]:
    """Keep the preferred clustering features the data supports, else fall back to a default set.

    A feature is usable when it is a numeric portrait column with at least two distinct known
    values (a constant column, e.g. ``hour_sin`` of date-only data, or an all-null one, e.g.
    ``anchor_event_share`` without rooms, cannot separate users).

    Parameters
    ----------
    portraits : DataFrame
        Output of :func:`build_portraits` (plus any added columns).
    preferred : sequence of str
        Features wanted, in order.
    fallback : sequence of str
        Features used instead when fewer than ``min_features`` preferred ones are usable
        (default :data:`DEFAULT_SEGMENT_FEATURES`); its unusable features are left out as well.
    min_features : int
        Usable preferred features needed to keep them.

    Returns
    -------
    features : list of str
        The usable preferred features, or the usable fallback features (possibly empty).
    dropped : dict of str to str
        Each left-out feature with the reason (``"not a portrait column"``, ``"not numeric"``,
        ``"no known value"`` or ``"constant"``).

    Raises
    ------
    ValueError
        If ``min_features`` is not an int >= 1.
    """
    if isinstance(min_features, bool) or not isinstance(min_features, int | np.integer) or min_features < 1:
        raise ValueError(
            f"The 'min_features' parameter of choose_segment_features must be an int >= 1. Got {min_features!r} instead."
        )
    features, dropped = _split_usable(portraits, preferred)
    if len(features) >= min_features:
        return features, dropped
    features, dropped_fallback = _split_usable(portraits, fallback)
    return features, {**dropped, **dropped_fallback}


def _clock_components(portraits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (sin, cos) of the time of day: ``hour_sin``/``hour_cos``, else from ``mean_hour``, else null."""
    n = len(portraits)
    if {"hour_sin", "hour_cos"} <= set(portraits.columns):
        return portraits["hour_sin"].to_numpy(dtype=float), portraits["hour_cos"].to_numpy(dtype=float)
    if "mean_hour" in portraits:
        theta = 2 * np.pi * portraits["mean_hour"].to_numpy(dtype=float) / 24.0
        return np.sin(theta), np.cos(theta)
    return np.full(n, np.nan), np.full(n, np.nan)


def _typical_hours(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.DataFrame:
    """Circular mean hour and concentration of each segment (null without known hours)."""
    sin, cos = _clock_components(portraits)
    means = pd.DataFrame({"s": sin, "c": cos}).groupby(labels, sort=True).mean().reindex(segments)
    s, c = means["s"].to_numpy(dtype=float), means["c"].to_numpy(dtype=float)
    concentration = np.hypot(s, c)
    hour = np.mod(np.arctan2(s, c) * 12.0 / np.pi, 24.0)
    hour = np.where(hour >= 24.0, 0.0, hour)
    defined = np.isfinite(concentration) & (concentration >= NO_DIRECTION_TOLERANCE)
    return pd.DataFrame(
        {"typical_hour": np.where(defined, hour, np.nan), "hour_concentration": np.minimum(concentration, 1.0)}
    )


def _main_channels(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.DataFrame:
    """Channel with the largest mean share in each segment (ties: alphabetical), and that share."""
    prefix = "channel_share_"
    columns = sorted(c for c in portraits.columns if c.startswith(prefix))
    if not columns:
        return pd.DataFrame(
            {"main_channel": pd.Series([None] * len(segments), dtype="str"), "main_channel_share": np.nan}
        )
    means = portraits[columns].astype(float).groupby(labels, sort=True).mean().reindex(segments)
    values = means.to_numpy(dtype=float)
    known = ~np.isnan(values).all(axis=1)
    best = np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)
    names = np.array([c[len(prefix) :] for c in columns], dtype=object)
    share = np.where(known, values[np.arange(len(segments)), best], np.nan)
    channel = pd.Series(np.where(known, names[best], None), dtype="str")
    return pd.DataFrame({"main_channel": channel, "main_channel_share": share})


def _top_categories(portraits: pd.DataFrame, labels: np.ndarray, segments: np.ndarray) -> pd.Series:
    """Most frequent ``top_category_1`` of each segment (ties: alphabetical; null when unknown)."""
    if "top_category_1" not in portraits:
        return pd.Series([None] * len(segments), dtype="str")
    frame = pd.DataFrame({"segment": labels, "category": portraits["top_category_1"].astype("str").to_numpy()})
    counts = frame.dropna().groupby(["segment", "category"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["segment", "n", "category"], ascending=[True, False, True], kind="stable")
    top = counts.drop_duplicates("segment").set_index("segment")["category"]
    return pd.Series(top.reindex(segments).to_numpy(), dtype="str")


def describe_segment_habits(portraits: pd.DataFrame, labels: ArrayLike) -> pd.DataFrame:
    """When, through which channel and for which category each segment shows up.

    Parameters
    ----------
    portraits : DataFrame
        Portraits with the columns of :func:`summarize_active_hours` (``hour_sin``/``hour_cos``, or
        ``mean_hour``), the ``channel_share_<channel>`` columns and ``top_category_1``; an absent
        column gives null habits.
    labels : array-like of int
        Segment of each portrait row (e.g. ``SegmentationResult.labels``).

    Returns
    -------
    DataFrame
        One row per segment (ascending): ``segment``; ``typical_hour``, the circular mean of the
        members' mean times of day in hours [0, 24) (null when undefined) and
        ``hour_concentration``, its mean resultant length; ``main_channel``, the channel with the
        largest mean share (ties: alphabetical) and ``main_channel_share``, that mean share; and
        ``top_category``, the most frequent ``top_category_1`` (ties: alphabetical).

    Raises
    ------
    ValueError
        If ``labels`` does not have one label per portrait row.
    """
    labels_arr = np.asarray(labels)
    if len(labels_arr) != len(portraits):
        raise ValueError(
            f"The 'labels' parameter must have one label per portrait row ({len(portraits)}). Got {len(labels_arr)} instead."
        )
    segments = np.unique(labels_arr)
    habits = pd.concat(
        [
            pd.DataFrame({"segment": segments}),
            _typical_hours(portraits, labels_arr, segments),
            _main_channels(portraits, labels_arr, segments),
        ],
        axis=1,
    )
    habits["top_category"] = _top_categories(portraits, labels_arr, segments)
    return habits
