"""Forecasting models for one demand series: baselines, ETS and Theta (statsmodels), intermittent methods.

Every model is a function ``model(y, h, season, levels) -> dict`` returning ``mean`` (``h`` values)
and, where the method defines them, ``lo-<level>`` / ``hi-<level>`` prediction intervals.

* ``Naive`` and ``SeasonalNaive`` follow statsforecast's definitions, intervals included: the
  residual standard deviation (``n - 1`` and ``n - season`` degrees of freedom) widened by
  ``sqrt(h)`` and ``sqrt(k + 1)`` (``k`` whole seasons ahead).
* ``AutoETS`` fits additive-error ETS models with statsmodels' ``ETSModel`` (no or damped additive
  trend; additive weekly season when the series holds at least two seasons and a few points more)
  and keeps the lowest AICc, with statsmodels' analytic prediction intervals. Initial states come
  from the heuristic of Hyndman et al. (2008) rather than being optimised with the smoothing
  parameters: with them, the optimiser (L-BFGS on numerical gradients) stops at points that differ
  by up to a unit of forecast between CPU kernels; without, forecasts agree to 1e-5. Multiplicative models
  are left out: demand series have zeros, and their intervals need simulation.
* ``Theta`` is statsmodels' ``ThetaModel`` (Assimakopoulos & Nikolopoulos 2000; Hyndman & Billah
  2003), additive deseasonalisation when the series has zeros.
* ``CrostonClassic``, ``CrostonSBA``, ``TSB`` and ``ADIDA`` are the intermittent-demand methods of
  statsforecast, re-implemented in a few lines of numpy because statsforecast 2.x requires pandas < 3
  (it cannot be installed beside this project's pandas): same recursions, same smoothing constants,
  checked against statsforecast's own values in the unit tests. They give no intervals (as in
  statsforecast without conformal intervals).

statsforecast's ETS and ARIMA (ports of R's ``forecast``) are therefore not used; statsmodels' ETS is
the same state-space model family (Hyndman et al. 2008) fitted by maximum likelihood.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import optimize, signal, stats

ModelResult = dict[str, np.ndarray]
Model = Callable[[np.ndarray, int, int, Sequence[int]], ModelResult]

SES_BOUNDS: tuple[float, float] = (0.1, 0.3)
"""Bounds of the optimised smoothing constant of ADIDA (statsforecast's)."""
CROSTON_ALPHA: float = 0.1
"""Smoothing constant of CrostonClassic and SBA (statsforecast's)."""
SBA_FACTOR: float = 0.95
"""Syntetos–Boylan bias correction ``1 - alpha / 2`` with alpha 0.1."""
TSB_ALPHA_D: float = 0.1
TSB_ALPHA_P: float = 0.1
MIN_EXTRA_POINTS_FOR_SEASON: int = 3
"""A seasonal ETS needs two whole seasons and this many more points (its initial states are estimated)."""


def _z(levels: Sequence[int]) -> np.ndarray:
    return stats.norm.ppf(0.5 + np.asarray(levels, dtype=float) / 200)


def _with_intervals(mean: np.ndarray, sigmah: np.ndarray, levels: Sequence[int]) -> ModelResult:
    out = {"mean": mean}
    for level, z in zip(levels, _z(levels), strict=True):
        out[f"lo-{level}"] = mean - z * sigmah
        out[f"hi-{level}"] = mean + z * sigmah
    return out


def _sigma(residuals: np.ndarray, dof: int) -> float:
    """statsforecast's residual scale: ``sqrt(nansum(r²) / dof)`` (0 without degrees of freedom)."""
    return float(np.sqrt(np.nansum(residuals**2) / dof)) if dof > 0 else 0.0


def naive(y: np.ndarray, h: int, season: int = 1, levels: Sequence[int] = ()) -> ModelResult:
    """Last value repeated; interval width grows with ``sqrt(h)``."""
    mean = np.full(h, y[-1], dtype=float)
    sigma = _sigma(np.diff(y), y.size - 1)
    return _with_intervals(mean, sigma * np.sqrt(np.arange(1, h + 1)), levels)


def seasonal_naive(y: np.ndarray, h: int, season: int = 7, levels: Sequence[int] = ()) -> ModelResult:
    """The last season tiled over the horizon; interval width grows with ``sqrt(k + 1)``."""
    if y.size < season:
        return naive(y, h, season, levels)
    mean = np.resize(y[-season:].astype(float), h)
    sigma = _sigma(y[season:] - y[:-season], y.size - season)
    return _with_intervals(mean, sigma * np.sqrt(np.arange(h) // season + 1), levels)


def ses_forecast(x: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """statsforecast's simple exponential smoothing: one-step forecast and fitted values.

    ``f[0] = x[0]``, ``f[i] = alpha * x[i-1] + (1 - alpha) * f[i-1]``; the forecast is ``f[n]``.
    """
    x = np.asarray(x, dtype=float)
    smoothed, _ = signal.lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])
    fitted = np.concatenate([[x[0]], smoothed[:-1]])
    return float(smoothed[-1]), fitted


def _ses_sse(alpha: float, x: np.ndarray) -> float:
    _, fitted = ses_forecast(x, alpha)
    return float(np.sum((x[1:] - fitted[1:]) ** 2))


def optimized_ses_forecast(x: np.ndarray, bounds: tuple[float, float] = SES_BOUNDS) -> tuple[float, float]:
    """SES with the smoothing constant in ``bounds`` that minimises the in-sample squared error."""
    if x.size < 2:
        return float(x[-1]), bounds[0]
    best = optimize.minimize_scalar(
        _ses_sse, bounds=bounds, args=(np.asarray(x, dtype=float),), method="bounded", options={"xatol": 1e-8}
    )
    return ses_forecast(x, float(best.x))[0], float(best.x)


def _intervals(y: np.ndarray) -> np.ndarray:
    """Periods between successive non-zero demands (the first counted from the start)."""
    return np.diff(np.flatnonzero(y != 0) + 1, prepend=0).astype(float)


def croston_classic(y: np.ndarray, h: int, season: int = 1, levels: Sequence[int] = ()) -> ModelResult:
    """Croston (1972): SES (alpha 0.1) of demand sizes over SES of the intervals between demands."""
    return {"mean": np.full(h, _croston_rate(y))}


def croston_sba(y: np.ndarray, h: int, season: int = 1, levels: Sequence[int] = ()) -> ModelResult:
    """Syntetos–Boylan approximation: Croston's rate times ``1 - alpha / 2``."""
    return {"mean": np.full(h, SBA_FACTOR * _croston_rate(y))}


def _croston_rate(y: np.ndarray) -> float:
    demand = y[y > 0].astype(float)
    if demand.size == 0:
        return float(y[-1])
    size, _ = ses_forecast(demand, CROSTON_ALPHA)
    interval, _ = ses_forecast(_intervals(y), CROSTON_ALPHA)
    return size / interval if interval != 0 else size


def tsb(y: np.ndarray, h: int, season: int = 1, levels: Sequence[int] = ()) -> ModelResult:
    """Teunter–Syntetos–Babai: SES of the demand probability (every period) times SES of demand sizes."""
    if not np.any(y != 0):
        return {"mean": np.zeros(h)}
    probability, _ = ses_forecast((y != 0).astype(float), TSB_ALPHA_P)
    size, _ = ses_forecast(y[y > 0].astype(float), TSB_ALPHA_D)
    return {"mean": np.full(h, probability * size)}


def adida(y: np.ndarray, h: int, season: int = 1, levels: Sequence[int] = ()) -> ModelResult:
    """ADIDA (Nikolopoulos et al. 2011): SES of sums over blocks of the mean inter-demand interval, spread back."""
    if not np.any(y != 0):
        return {"mean": np.zeros(h)}
    level = max(1, round(float(_intervals(y).mean())))
    n_blocks = y.size // level
    # whole blocks counted back from the last period (statsforecast's chunk_forecast drops the oldest rest)
    sums = y[y.size - n_blocks * level :].astype(float).reshape(n_blocks, level).sum(axis=1)
    forecast, _ = optimized_ses_forecast(sums)
    return {"mean": np.full(h, forecast / level)}


def auto_ets(y: np.ndarray, h: int, season: int = 7, levels: Sequence[int] = ()) -> ModelResult:
    """Additive-error ETS chosen by AICc among no / damped trend and no / additive season (statsmodels)."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = np.asarray(y, dtype=float)
    endog = pd.Series(y, index=pd.RangeIndex(y.size))
    seasonal = season > 1 and y.size >= 2 * season + MIN_EXTRA_POINTS_FOR_SEASON
    specs = [{"trend": None}, {"trend": "add", "damped_trend": True}]
    specs = [s | {"seasonal": "add", "seasonal_periods": season} for s in specs] if seasonal else specs
    best = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for spec in specs:
            try:
                fit = ETSModel(endog, error="add", initialization_method="heuristic", **spec).fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(fit.aicc) and (best is None or fit.aicc < best.aicc):
                best = fit
        if best is None:
            return naive(y, h, season, levels)
        prediction = best.get_prediction(start=y.size, end=y.size + h - 1)
        out = {"mean": np.asarray(prediction.predicted_mean, dtype=float)}
        for level in levels:
            frame = prediction.summary_frame(alpha=1 - level / 100)
            out[f"lo-{level}"] = frame["pi_lower"].to_numpy(dtype=float)
            out[f"hi-{level}"] = frame["pi_upper"].to_numpy(dtype=float)
    return out


def theta(y: np.ndarray, h: int, season: int = 7, levels: Sequence[int] = ()) -> ModelResult:
    """statsmodels' Theta method (SES with drift), deseasonalised when the series holds two seasons."""
    import pandas as pd
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = np.asarray(y, dtype=float)
    if np.all(y == y[0]):
        return naive(y, h, season, levels)
    seasonal = season > 1 and y.size >= 2 * season
    method = "additive" if np.any(y <= 0) else "auto"
    index = pd.RangeIndex(y.size)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = ThetaModel(
            pd.Series(y, index=index), period=season if seasonal else 1, deseasonalize=seasonal, method=method
        ).fit()
        out = {"mean": fit.forecast(h).to_numpy(dtype=float)}
        for level in levels:
            bounds = fit.prediction_intervals(h, alpha=1 - level / 100)
            out[f"lo-{level}"] = bounds["lower"].to_numpy(dtype=float)
            out[f"hi-{level}"] = bounds["upper"].to_numpy(dtype=float)
    return out


MODELS: dict[str, Model] = {
    "Naive": naive,
    "SeasonalNaive": seasonal_naive,
    "AutoETS": auto_ets,
    "Theta": theta,
    "CrostonClassic": croston_classic,
    "CrostonSBA": croston_sba,
    "TSB": tsb,
    "ADIDA": adida,
}
"""Every model by its statsforecast name."""

SMOOTH_MODELS: tuple[str, ...] = ("Naive", "SeasonalNaive", "AutoETS", "Theta")
INTERMITTENT_MODELS: tuple[str, ...] = ("Naive", "SeasonalNaive", "CrostonClassic", "CrostonSBA", "TSB", "ADIDA")
