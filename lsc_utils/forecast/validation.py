"""Rolling-origin cross-validation, MASE / sMAPE (utilsforecast's definitions), interval coverage, leaderboard.

Cross-validation follows statsforecast's ``cross_validation``: ``n_windows`` forecast origins
(cutoffs), ``step`` periods apart, the last one ``h`` periods before the end; every model is fitted
on the periods up to a cutoff and forecasts the ``h`` periods after it. The losses are those of
utilsforecast (a unit test checks equality to 1e-12):

* MASE of a series and window: mean absolute error over the ``h`` periods divided by the mean
  absolute ``season``-lag difference of that window's **training** periods (in-sample seasonal naive);
* sMAPE: the mean of ``|y - ŷ| / (|y| + |ŷ|)`` (0 where both are 0), in [0, 1]. It is reported for
  smooth series only: on intermittent series every zero period scores 1 whatever the forecast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from lsc_utils.checks import check_int, require_columns
from lsc_utils.forecast.models import MODELS

CV_COLUMNS: tuple[str, ...] = ("unique_id", "cutoff", "ds", "y", "model", "mean")


def cutoffs(n: int, h: int, n_windows: int, step: int) -> list[int]:
    """Training lengths of the windows (the last ends ``h`` periods before ``n``), oldest first."""
    return [n - h - step * k for k in range(n_windows - 1, -1, -1)]


def forecast_one(y: np.ndarray, h: int, season: int, models: Sequence[str], levels: Sequence[int]) -> pd.DataFrame:
    """Forecasts of every model for one series: one row per model and step (``step`` 1..h)."""
    frames = []
    for name in models:
        result = MODELS[name](np.asarray(y, dtype=float), h, season, levels)
        frame = pd.DataFrame({"model": name, "step": np.arange(1, h + 1), "mean": result["mean"]})
        for level in levels:
            for side in ("lo", "hi"):
                key = f"{side}-{level}"
                frame[key] = result.get(key, np.full(h, np.nan))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def cross_validate(
    series: pd.DataFrame,
    models: Sequence[str],
    *,
    h: int = 7,
    n_windows: int = 3,
    step: int | None = None,
    season: int = 7,
    levels: Sequence[int] = (80, 95),
    progress: bool = True,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Rolling-origin forecasts of every series and model.

    Parameters
    ----------
    series : pandas.DataFrame
        ``unique_id, ds, y`` on one calendar (:func:`~lsc_utils.forecast.series.demand_series`).
    models : sequence of str
        Names in :data:`~lsc_utils.forecast.models.MODELS`.
    h : int, default 7
        Forecast horizon (periods).
    n_windows : int, default 3
        Number of forecast origins.
    step : int, optional
        Periods between origins (default ``h``: windows do not overlap).
    season : int, default 7
        Season length (7 for daily data with a weekly cycle).
    levels : sequence of int, default (80, 95)
        Prediction-interval levels in percent.
    progress : bool, default True
        tqdm bar over series.
    n_jobs : int, default 1
        Worker processes (joblib); series are independent, so the result does not depend on it.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, cutoff, ds, y, model, mean, lo-<l>, hi-<l>, scale``; ``cutoff`` is the last
        training period, ``scale`` the in-sample seasonal-naive MAE of that window (MASE's scale).

    Raises
    ------
    ValueError
        A series is too short for the windows asked for (it needs ``h + step * (n_windows - 1)``
        periods to forecast plus ``season + 1`` to train on).
    """
    require_columns(series, ["unique_id", "ds", "y"], "series", "cross_validate")
    check_int(h, "h", "cross_validate", 1)
    check_int(n_windows, "n_windows", "cross_validate", 1)
    step = h if step is None else check_int(step, "step", "cross_validate", 1)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(
            f"The 'models' parameter of cross_validate has unknown models {unknown}; known: {sorted(MODELS)}."
        )
    check_int(n_jobs, "n_jobs", "cross_validate", 1)
    groups = [
        (uid, group["y"].to_numpy(dtype=float), group["ds"].to_numpy())
        for uid, group in series.sort_values(["unique_id", "ds"]).groupby("unique_id", sort=True)
    ]
    for uid, y, _ in groups:
        if cutoffs(y.size, h, n_windows, step)[0] < season + 1:
            raise ValueError(
                f"Series '{uid}' has {y.size} periods: too short for {n_windows} windows of h={h} "
                f"(step {step}) with a season of {season}; use fewer windows or a shorter horizon."
            )
    bar = tqdm(groups, desc="cross-validation", unit="series", disable=not progress)
    args = (h, n_windows, step, season, tuple(models), tuple(levels))
    if n_jobs == 1:
        parts = [_series_windows(uid, y, ds, *args) for uid, y, ds in bar]
    else:
        from joblib import Parallel, delayed

        run = Parallel(n_jobs=n_jobs, batch_size=8)
        parts = run(delayed(_series_windows)(uid, y, ds, *args) for uid, y, ds in bar)
    return pd.concat(parts, ignore_index=True)


def _series_windows(
    uid: str, y: np.ndarray, ds: np.ndarray, h: int, n_windows: int, step: int, season: int,
    models: Sequence[str], levels: Sequence[int],
) -> pd.DataFrame:  # fmt: skip
    """Every window's forecasts of one series (one row per window, model and step)."""
    parts = []
    for end in cutoffs(y.size, h, n_windows, step):
        frame = forecast_one(y[:end], h, season, models, levels)
        steps = frame["step"].to_numpy() - 1
        frame.insert(0, "unique_id", uid)
        frame.insert(1, "cutoff", ds[end - 1])
        frame.insert(2, "ds", ds[end : end + h][steps])
        frame.insert(3, "y", y[end : end + h][steps])
        frame["scale"] = seasonal_scale(y[:end], season)
        parts.append(frame.drop(columns="step"))
    return pd.concat(parts, ignore_index=True)


def seasonal_scale(y: np.ndarray, season: int) -> float:
    """Mean absolute ``season``-lag difference (MASE's in-sample scale)."""
    return float(np.mean(np.abs(y[season:] - y[:-season]))) if y.size > season else np.nan


def window_losses(cv: pd.DataFrame) -> pd.DataFrame:
    """MASE and sMAPE of every series, window and model (utilsforecast's definitions).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, cutoff, model, mase, smape``; MASE is NaN where the scale is 0 (a constant
        training window).
    """
    frame = cv.assign(
        abs_err=(cv["y"] - cv["mean"]).abs(),
        denom=cv["y"].abs() + cv["mean"].abs(),
    )
    frame["sape"] = np.where(
        frame["denom"] == 0, 0.0, frame["abs_err"] / frame["denom"].where(frame["denom"] != 0, 1.0)
    )
    grouped = frame.groupby(["unique_id", "cutoff", "model"], sort=True)
    out = grouped.agg(mae=("abs_err", "mean"), smape=("sape", "mean"), scale=("scale", "first")).reset_index()
    out["mase"] = out["mae"] / out["scale"].where(out["scale"] > 0)
    return out[["unique_id", "cutoff", "model", "mase", "smape"]]


def interval_coverage(cv: pd.DataFrame, levels: Sequence[int] = (80, 95)) -> pd.DataFrame:
    """Share of held-out values inside each model's intervals (models without intervals are left out)."""
    rows = []
    for model, group in cv.groupby("model", sort=True):
        for level in levels:
            lo, hi = group.get(f"lo-{level}"), group.get(f"hi-{level}")
            if lo is None or lo.isna().all():
                continue
            inside = (group["y"] >= lo) & (group["y"] <= hi)
            rows.append({"model": model, "level": level, "coverage": float(inside.mean()), "points": len(group)})
    return pd.DataFrame(rows, columns=["model", "level", "coverage", "points"])


def leaderboard(cv: pd.DataFrame, demand_class: pd.Series, levels: Sequence[int] = (80, 95)) -> pd.DataFrame:
    """Mean MASE (and sMAPE for smooth series) per demand class and model, best first, with coverage.

    Parameters
    ----------
    cv : pandas.DataFrame
        Output of :func:`cross_validate`.
    demand_class : pandas.Series
        Class of every series (``smooth``, ``erratic``, ``intermittent``, ``lumpy``) by ``unique_id``.
    levels : sequence of int
        Interval levels whose coverage is reported.

    Returns
    -------
    pandas.DataFrame
        ``group, model, series, mase, mase_vs_seasonal_naive, smape, coverage_<l>``; sMAPE is NaN
        outside the ``smooth`` group; ``mase_vs_seasonal_naive`` < 1 means better than the baseline.
    """
    losses = window_losses(cv)
    losses["group"] = losses["unique_id"].map(demand_class).fillna("unknown").astype("str")
    table = (
        losses.groupby(["group", "model"], sort=True)
        .agg(series=("unique_id", "nunique"), mase=("mase", "mean"), smape=("smape", "mean"))
        .reset_index()
    )
    table.loc[table["group"] != "smooth", "smape"] = np.nan
    baseline = table[table["model"] == "SeasonalNaive"].set_index("group")["mase"]
    table["mase_vs_seasonal_naive"] = table["mase"] / table["group"].map(baseline)
    cv_group = cv.assign(group=cv["unique_id"].map(demand_class).fillna("unknown").astype("str"))
    for level in levels:
        key = f"lo-{level}"
        if key not in cv_group:
            continue
        inside = (cv_group["y"] >= cv_group[key]) & (cv_group["y"] <= cv_group[f"hi-{level}"])
        has = cv_group[key].notna()
        cov = inside[has].groupby([cv_group["group"][has], cv_group["model"][has]]).mean()
        table[f"coverage_{level}"] = [
            cov.get((g, m), np.nan) for g, m in zip(table["group"], table["model"], strict=True)
        ]
    return table.sort_values(["group", "mase", "model"], ignore_index=True)[
        ["group", "model", "series", "mase", "mase_vs_seasonal_naive", "smape"]
        + [c for c in table.columns if c.startswith("coverage_")]
    ]
