"""Transaction summaries for CLV models (frequency / recency / T of Fader & Hardie), with holdout."""

from __future__ import annotations

from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.portraits._input import (
    UNIT_DAYS,
    TableSource,
    _as_local_date,
    _duckdb_scope,
    _optional,
    _register_table,
    _require,
    _sql_literal,
    _utc_ts_expr,
)

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
    cal_end, obs_end = _check_transaction_arguments(transaction, unit, calibration_end, observation_end, timezone)
    with _duckdb_scope(con) as (connection, registered):
        name, types = _register_table(connection, events, "events", registered)
        _require(types, ["user_id", "ts", "event_type"], "events")
        raw = connection.execute(_transactions_sql(name, types, transaction, cal_end, obs_end, timezone)).df()
    return _transactions_frame(raw, unit, cal_end, obs_end, observation_end is not None)


def _check_transaction_arguments(
    transaction: str, unit: str, calibration_end: Any, observation_end: Any, timezone: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Check the arguments of :func:`summarize_transactions` that need no data.

    Returns
    -------
    cal_end, obs_end : Timestamp
        Last local day of the calibration and of the observation period (``cal_end`` without
        ``observation_end``).
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
    return cal_end, obs_end


def _transactions_sql(
    name: str,
    types: dict[str, str],
    transaction: str,
    cal_end: pd.Timestamp,
    obs_end: pd.Timestamp,
    timezone: str,
) -> str:
    """SQL of the per-customer transaction summary, by purchase day or by purchase session.

    Parameters
    ----------
    name : str
        Name of the registered events view.
    types : dict of str to str
        DuckDB type of each events column.
    transaction : {"day", "session"}
        What one transaction is.
    cal_end, obs_end : Timestamp
        Last local day of the calibration and of the observation period.
    timezone : str
        Time zone of the calendar days.

    Returns
    -------
    str
        The statement.
    """
    ts = _utc_ts_expr(types, "ts", "events")
    value = f"{_optional(types, 'price')} * coalesce({_optional(types, 'quantity')}, 1)"
    pay_list = ", ".join(_sql_literal(t) for t in PURCHASE_EVENTS)
    cal, obs = _sql_literal(str(cal_end.date())), _sql_literal(str(obs_end.date()))
    if transaction == "session":
        _require(types, ["session_id"], "events")
        return _session_transactions_sql(name, ts, value, pay_list, cal_end, obs_end, timezone)
    return _day_transactions_sql(name, ts, value, pay_list, cal, obs, timezone)


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
