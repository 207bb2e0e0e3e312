"""Steps of notebook 07 that combine the parts: which series to forecast, the best model per group,
final forecasts with dates, stock on hand, a stock-out backtest and the planted-truth checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.checks import DatasetError, require_columns
from lsc_utils.forecast.stock import stockout_risk
from lsc_utils.forecast.validation import forecast_one

SMOOTH_CLASSES: tuple[str, ...] = ("smooth", "erratic")
INTERMITTENT_CLASSES: tuple[str, ...] = ("intermittent", "lumpy")


def min_periods_for_cv(h: int, n_windows: int, season: int) -> int:
    """Shortest series that :func:`~lsc_utils.forecast.validation.cross_validate` accepts with these settings,
    plus two whole seasons so that seasonal models are fitted in every window."""
    return h * n_windows + 2 * season + 1


def pick_items(summary: pd.DataFrame, top_items: int, max_intermittent: int) -> dict[str, list[str]]:
    """The best-selling smooth/erratic items and the best-selling intermittent/lumpy items (ids, sorted)."""
    by_units = summary.sort_values(["units", "unique_id"], ascending=[False, True])
    smooth = by_units[by_units["demand_class"].isin(SMOOTH_CLASSES)].head(top_items)
    sparse = by_units[by_units["demand_class"].isin(INTERMITTENT_CLASSES) & (by_units["units"] > 0)]
    return {
        "top items": sorted(smooth["unique_id"]),
        "intermittent items": sorted(sparse.head(max_intermittent)["unique_id"]),
    }


def best_models(board: pd.DataFrame) -> pd.Series:
    """Model with the lowest mean MASE in each leaderboard group (ties: the name first in alphabetical order)."""
    ranked = board.dropna(subset=["mase"]).sort_values(["group", "mase", "model"])
    return ranked.groupby("group", sort=True)["model"].first()


def final_forecasts(
    series: pd.DataFrame, model_by_id: Mapping[str, str], h: int, season: int, levels: Sequence[int] = (80, 95)
) -> pd.DataFrame:
    """Forecasts after the last period of every series in ``model_by_id`` with its model, dated.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, model, step, ds, mean, lo-<l>, hi-<l>``.
    """
    parts = []
    for uid, group in series[series["unique_id"].isin(list(model_by_id))].groupby("unique_id", sort=True):
        group = group.sort_values("ds")
        frame = forecast_one(group["y"].to_numpy(dtype=float), h, season, [model_by_id[uid]], levels)
        frame.insert(0, "unique_id", uid)
        frame.insert(3, "ds", group["ds"].iloc[-1] + pd.to_timedelta(frame["step"], unit="D"))
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def assumed_stock(series: pd.DataFrame, cover_days: float, window: int = 28) -> pd.Series:
    """Stock on hand assumed to cover ``cover_days`` of the mean daily demand of the last ``window`` days."""
    recent = series.sort_values("ds").groupby("unique_id").tail(window)
    return (recent.groupby("unique_id")["y"].mean() * cover_days).round()


def read_stock(path: str | Path) -> pd.DataFrame:
    """A stock file (CSV or Parquet) with ``item_id, stock`` (units on hand and on order), checked.

    Raises
    ------
    DatasetError
        Missing file or columns, or a stock that is not a number >= 0 (one line naming the file).
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{file}: the stock file does not exist (expected CSV or Parquet with item_id, stock).")
    frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file, dtype={"item_id": "str"})
    require_columns(frame, ["item_id", "stock"], str(file))
    stock = pd.to_numeric(frame["stock"], errors="coerce")
    bad = stock.isna() | (stock < 0)
    if bad.any():
        raise DatasetError(
            f"{file}: column 'stock' has {int(bad.sum())} values that are not numbers >= 0 "
            f"(e.g. {frame.loc[bad, 'stock'].iloc[0]!r})."
        )
    return frame.assign(item_id=frame["item_id"].astype("str"), stock=stock)


def stockout_backtest(
    series: pd.DataFrame,
    model_by_id: Mapping[str, str],
    demand_class: pd.Series,
    *,
    lead_time: int,
    cover_days: float,
    service_level: float,
    season: int = 7,
) -> pd.DataFrame:
    """Predicted stock-out probabilities at ``lead_time`` days before the end vs what then happened.

    Each series is cut ``lead_time`` days before its end; stock is set to ``cover_days`` of its recent
    demand; the predicted probability of running out within the lead time is compared with whether
    the demand of the held-out days exceeded that stock.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, stock, p_stockout, lead_time_demand, actual_demand, stocked_out``.
    """
    last = series.groupby("unique_id")["ds"].transform("max")
    cut = series["ds"] <= last - pd.Timedelta(days=lead_time)
    train, held = series[cut], series[~cut]
    stock = assumed_stock(train, cover_days)
    forecasts = final_forecasts(train, model_by_id, lead_time, season, levels=(95,))
    risk = stockout_risk(
        forecasts, train, stock, demand_class, lead_time=lead_time, review=0, service_level=service_level
    )
    if risk.empty:
        return risk
    actual = held.groupby("unique_id")["y"].sum()
    risk["actual_demand"] = risk["unique_id"].map(actual).fillna(0.0)
    risk["stocked_out"] = risk["actual_demand"] > risk["stock"]
    return risk[["unique_id", "stock", "p_stockout", "lead_time_demand", "actual_demand", "stocked_out"]]


def calibration(backtest: pd.DataFrame) -> dict[str, float]:
    """Mean predicted stock-out probability, observed stock-out share, and the Brier score."""
    p, hit = backtest["p_stockout"].to_numpy(dtype=float), backtest["stocked_out"].to_numpy(dtype=float)
    return {
        "series": len(backtest),
        "mean_predicted": float(p.mean()),
        "observed_share": float(hit.mean()),
        "brier": float(np.mean((p - hit) ** 2)),
    }


def planted_demand_checks(
    truth: Mapping[str, Any], trends: pd.DataFrame, board: pd.DataFrame, uplift: Mapping[str, Any]
) -> dict[str, Any]:
    """Recovered vs planted: the hot category's rank, MASE of the best smooth model vs seasonal naive,
    95 % interval coverage of the best smooth model, and the live-day uplift."""
    ranked = trends.dropna(subset=["rank"]).set_index("unique_id")["rank"]
    smooth = board[board["group"] == "smooth"].set_index("model")
    best = smooth["mase"].idxmin() if len(smooth) else None
    checks: dict[str, Any] = {
        "hot_category": truth["hot_category"],
        "hot_category_rank": int(ranked.get(truth["hot_category"], -1)),
        "best_smooth_model": best,
    }
    if best is not None:
        checks["best_smooth_mase"] = float(smooth.loc[best, "mase"])
        checks["seasonal_naive_mase"] = float(smooth.loc["SeasonalNaive", "mase"])
        with_intervals = smooth.dropna(subset=["coverage_95"])
        covering = best if best in with_intervals.index else with_intervals["mase"].idxmin()
        checks["coverage_model"] = covering
        checks["coverage_95"] = float(with_intervals.loc[covering, "coverage_95"])
        checks["coverage_80"] = float(with_intervals.loc[covering, "coverage_80"])
    checks["planted_uplift"] = float(truth["live_uplift"])
    checks["uplift"] = uplift.get("uplift")
    checks["uplift_interval"] = [uplift.get("low"), uplift.get("high")]
    return checks
