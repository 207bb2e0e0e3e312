"""Benchmark of rolling-origin cross-validated forecasts: 1,000 daily series x 365 days, three models.

Usage::

    python benchmarks/bench_forecast.py [--series 1000] [--days 365] [--windows 3] [--n-jobs 2]
    python benchmarks/bench_forecast.py --engine statsforecast   # in an environment with statsforecast

The series are Poisson counts around a level, a linear trend and a weekly season (seeded, no
lsc_utils needed to make them). ``--engine lsc`` times ``lsc_utils.forecast.cross_validate`` with
SeasonalNaive, AutoETS (statsmodels) and Theta (statsmodels); ``--engine statsforecast`` times
``StatsForecast.cross_validation`` with SeasonalNaive, AutoETS and AutoTheta on the same series.
statsforecast 2.x requires pandas < 3, so it cannot run in this project's environment: run it from a
separate virtual environment (pandas 2.3.3 + statsforecast 2.1.1) and compare the two printed lines.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

MODELS = ("SeasonalNaive", "AutoETS", "Theta")


def make_series(n_series: int, n_days: int, seed: int = 42) -> pd.DataFrame:
    """Poisson daily demand with a random level (5-80), trend (+-0.2 %/day) and weekly season."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    level = rng.uniform(5, 80, n_series)[:, None]
    trend = rng.uniform(-0.002, 0.002, n_series)[:, None]
    season = 1 + 0.25 * np.sin(2 * np.pi * (t[None, :] + rng.integers(0, 7, n_series)[:, None]) / 7)
    y = rng.poisson(level * (1 + trend * t[None, :]).clip(0.1) * season).astype(float)
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:05d}" for i in range(n_series)], n_days),
            "ds": np.tile(pd.date_range("2025-01-01", periods=n_days, freq="D"), n_series),
            "y": y.ravel(),
        }
    )


def run_lsc(frame: pd.DataFrame, windows: int, n_jobs: int) -> pd.DataFrame:
    from lsc_utils import forecast

    return forecast.cross_validate(frame, MODELS, h=7, n_windows=windows, season=7, progress=False, n_jobs=n_jobs)


def run_statsforecast(frame: pd.DataFrame, windows: int, n_jobs: int) -> pd.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    sf = StatsForecast(
        models=[SeasonalNaive(season_length=7), AutoETS(season_length=7), AutoTheta(season_length=7)],
        freq="D",
        n_jobs=n_jobs,
    )
    return sf.cross_validation(df=frame, h=7, n_windows=windows, step_size=7, level=[80, 95])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--engine", choices=("lsc", "statsforecast"), default="lsc")
    args = parser.parse_args()
    frame = make_series(args.series, args.days)
    run = run_lsc if args.engine == "lsc" else run_statsforecast
    if args.engine == "statsforecast":  # compile (numba-free in 2.x, but first-call setup) on a small cut
        run(frame[frame["unique_id"] == frame["unique_id"].iloc[0]], 1, 1)
    start = time.perf_counter()
    cv = run(frame, args.windows, args.n_jobs)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({"engine": args.engine, "series": args.series, "days": args.days, "windows": args.windows,
                      "n_jobs": args.n_jobs, "rows": len(cv), "seconds": round(seconds, 1),
                      "peak_rss_gb_main_process": round(peak_gb, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
