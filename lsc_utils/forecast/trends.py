"""Hot and cooling series: growth of the last window over the one before (with an interval), a robust
trend slope (Theil–Sen) with a Mann–Kendall test, and new risers.

Growth is the ratio of units sold in the last ``window`` periods to the ``window`` periods before.
Its 95 % interval is the Poisson log-rate-ratio interval widened by the overdispersion of the daily
counts (Pearson χ² over a weekday-by-window mean, floored at 1), so a noisy series gets a wider
interval than Poisson alone would give. Series are ranked by the **lower** bound of that interval:
a small series that went from 2 to 6 units does not outrank a large one that grew by half with
certainty.

The slope and the Mann–Kendall test run on weekly totals when the series covers at least
:data:`MIN_WEEKS_FOR_WEEKLY` weeks (weekly seasonality and day-to-day autocorrelation would otherwise
overstate significance), on the periods themselves otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lsc_utils.checks import check_int, require_columns

MIN_WEEKS_FOR_WEEKLY: int = 6
"""Weeks of data from which the slope and the trend test use weekly totals."""

TREND_ALPHA: float = 0.05
"""Significance level of the Mann–Kendall test and of the growth interval (95 %)."""

STATUSES: tuple[str, ...] = ("hot", "cooling", "steady", "too few sales")


def _overdispersion(y: np.ndarray, weekday: np.ndarray, window_of: np.ndarray) -> float:
    """Pearson dispersion of counts around their weekday-by-window means, at least 1."""
    frame = pd.DataFrame({"y": y, "g": weekday * 2 + window_of})
    fitted = frame.groupby("g")["y"].transform("mean").to_numpy()
    keep = fitted > 0
    n_groups = frame["g"].nunique()
    dof = int(keep.sum()) - n_groups
    if dof < 1:
        return 1.0
    return max(1.0, float(np.sum((y[keep] - fitted[keep]) ** 2 / fitted[keep]) / dof))


def growth_interval(last: float, previous: float, dispersion: float = 1.0) -> tuple[float, float, float]:
    """Ratio of units ``last / previous`` with its 95 % interval (log scale, 0.5 added to an empty window).

    Parameters
    ----------
    last, previous : float
        Units sold in the last window and the window before.
    dispersion : float, default 1.0
        Variance-to-mean ratio of the counts (1 = Poisson).

    Returns
    -------
    tuple of float
        ``(ratio, low, high)``.
    """
    a, b = (last, previous) if last > 0 and previous > 0 else (last + 0.5, previous + 0.5)
    se = np.sqrt(dispersion * (1.0 / a + 1.0 / b))
    z = stats.norm.ppf(1 - TREND_ALPHA / 2)
    ratio = a / b
    return float(ratio), float(ratio * np.exp(-z * se)), float(ratio * np.exp(z * se))


def trend_test(y: np.ndarray) -> tuple[float, float, float, float]:
    """Theil–Sen slope per step (with its 95 % interval) and the Mann–Kendall p-value of ``y`` over time.

    Returns
    -------
    tuple of float
        ``(slope, slope_low, slope_high, p_value)``; NaN when ``y`` has fewer than 3 values or is constant.
    """
    if y.size < 3 or np.all(y == y[0]):
        return (0.0, 0.0, 0.0, 1.0) if y.size >= 3 else (np.nan, np.nan, np.nan, np.nan)
    x = np.arange(y.size, dtype=float)
    slope, _, low, high = stats.theilslopes(y, x, alpha=1 - TREND_ALPHA)
    p_value = stats.kendalltau(x, y).pvalue  # Mann–Kendall: Kendall's tau of the values against time
    return float(slope), float(low), float(high), float(p_value)


def _weekly(group: pd.DataFrame) -> np.ndarray:
    """Totals of whole weeks counted back from the last period (a partial first week is dropped)."""
    y = group["y"].to_numpy(dtype=float)
    n_weeks = y.size // 7
    return y[y.size - 7 * n_weeks :].reshape(n_weeks, 7).sum(axis=1)


def rank_trends(series: pd.DataFrame, window: int = 28, min_units: float = 30.0) -> pd.DataFrame:
    """Growth, trend slope and status of every series, ranked hottest first.

    Parameters
    ----------
    series : pandas.DataFrame
        ``unique_id, ds, y`` on one daily calendar (:func:`~lsc_utils.forecast.series.demand_series`).
    window : int, default 28
        Periods in the last window and in the window before it.
    min_units : float, default 30
        Series selling fewer units over the two windows are listed as ``too few sales``, unranked.

    Returns
    -------
    pandas.DataFrame
        One row per series: ``unique_id, units_last, units_previous, growth, growth_low,
        growth_high, dispersion, slope_per_week, slope_pct_per_week, slope_low, slope_high,
        trend_p_value, trend_on, status, rank`` (rank 1 = highest lower bound of growth).
    """
    require_columns(series, ["unique_id", "ds", "y"], "series", "rank_trends")
    check_int(window, "window", "rank_trends", 2)
    rows = []
    for uid, group in series.sort_values("ds").groupby("unique_id", sort=True):
        rows.append(_trend_row(uid, group, window, min_units))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ranked = table["status"] != "too few sales"
    order = table[ranked].sort_values(["growth_low", "unique_id"], ascending=[False, True]).index
    table["rank"] = pd.Series(np.arange(1, len(order) + 1), index=order).reindex(table.index).astype("Int64")
    return table.sort_values(["rank", "unique_id"], na_position="last", ignore_index=True)


def _trend_row(uid: str, group: pd.DataFrame, window: int, min_units: float) -> dict:
    """Growth, slope and status of one series."""
    y = group["y"].to_numpy(dtype=float)
    n = min(window, y.size // 2)
    last = float(y[-n:].sum()) if n else 0.0
    previous = float(y[-2 * n : -n].sum()) if n else 0.0
    weekday = group["ds"].dt.day_of_week.to_numpy()[-2 * n :]
    dispersion = _overdispersion(y[-2 * n :], weekday, np.repeat([0, 1], n)) if n else 1.0
    growth, low, high = growth_interval(last, previous, dispersion)
    weekly = y.size >= 7 * MIN_WEEKS_FOR_WEEKLY
    values = _weekly(group) if weekly else y
    slope, s_low, s_high, p_value = trend_test(values)
    per_week = 1.0 if weekly else 7.0
    mean = float(values.mean()) if values.size else np.nan
    if last + previous < min_units:
        status = "too few sales"
    elif low > 1 and p_value < TREND_ALPHA and slope > 0:
        status = "hot"
    elif high < 1 and p_value < TREND_ALPHA and slope < 0:
        status = "cooling"
    else:
        status = "steady"
    return {
        "unique_id": uid,
        "units_last": last,
        "units_previous": previous,
        "window": n,
        "growth": growth,
        "growth_low": low,
        "growth_high": high,
        "dispersion": dispersion,
        "slope_per_week": slope * per_week,
        "slope_pct_per_week": 100 * slope / mean if mean > 0 else np.nan,
        "slope_low": s_low * per_week,
        "slope_high": s_high * per_week,
        "trend_p_value": p_value,
        "trend_on": "weekly totals" if weekly else "periods",
        "status": status,
    }


def new_risers(series: pd.DataFrame, window: int = 28, top: int = 10) -> pd.DataFrame:
    """Series whose first sale falls in the last ``window`` periods, by units sold since (new in catalogue).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, first_sale, units_last, days_selling, units_per_day`` of the ``top`` risers.
    """
    require_columns(series, ["unique_id", "ds", "y"], "series", "new_risers")
    check_int(window, "window", "new_risers", 1)
    sold = series[series["y"] > 0]
    if sold.empty:
        return pd.DataFrame(columns=["unique_id", "first_sale", "units_last", "days_selling", "units_per_day"])
    last_day = series["ds"].max()
    start = last_day - pd.Timedelta(days=window - 1)
    first = sold.groupby("unique_id")["ds"].min()
    new = first[first >= start]
    units = sold[sold["unique_id"].isin(new.index)].groupby("unique_id")["y"].sum()
    table = pd.DataFrame({"first_sale": new, "units_last": units}).rename_axis("unique_id").reset_index()
    table["days_selling"] = (last_day - table["first_sale"]).dt.days + 1
    table["units_per_day"] = table["units_last"] / table["days_selling"]
    return table.sort_values(["units_last", "unique_id"], ascending=[False, True]).head(top).reset_index(drop=True)
