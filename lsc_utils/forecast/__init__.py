"""Trends and demand (notebook 07): demand series, hot and cooling categories, forecasts with
rolling-origin cross-validation, stock-out risk and live-room uplift.

Files: ``series`` (DuckDB demand series, demand classes), ``trends`` (growth with intervals,
Theil–Sen / Mann–Kendall, new risers), ``models`` (baselines, statsmodels ETS and Theta,
intermittent methods), ``validation`` (cross-validation, MASE / sMAPE, coverage, leaderboard),
``stock`` (stock-out risk, reorder points, live-day uplift), ``planning`` (the notebook's steps that
combine them: series picked, best model per group, final forecasts, stock backtest, truth checks).
"""

from lsc_utils.forecast.models import INTERMITTENT_MODELS, MODELS, SMOOTH_MODELS
from lsc_utils.forecast.planning import (
    assumed_stock,
    best_models,
    calibration,
    final_forecasts,
    min_periods_for_cv,
    pick_items,
    planted_demand_checks,
    read_stock,
    stockout_backtest,
)
from lsc_utils.forecast.series import demand_event_type, demand_series, item_live_days, series_summary
from lsc_utils.forecast.stock import live_day_uplift, stockout_risk
from lsc_utils.forecast.trends import new_risers, rank_trends
from lsc_utils.forecast.validation import cross_validate, forecast_one, interval_coverage, leaderboard, window_losses

__all__ = [
    "assumed_stock",
    "best_models",
    "calibration",
    "final_forecasts",
    "min_periods_for_cv",
    "pick_items",
    "planted_demand_checks",
    "read_stock",
    "stockout_backtest",
    "INTERMITTENT_MODELS",
    "MODELS",
    "SMOOTH_MODELS",
    "cross_validate",
    "demand_event_type",
    "demand_series",
    "forecast_one",
    "interval_coverage",
    "item_live_days",
    "leaderboard",
    "live_day_uplift",
    "new_risers",
    "rank_trends",
    "series_summary",
    "stockout_risk",
    "window_losses",
]
