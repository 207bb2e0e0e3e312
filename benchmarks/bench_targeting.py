"""Benchmark of the targeting models over 1M users: propensity (gradient boosting + logistic) and uplift.

Usage::

    python benchmarks/bench_targeting.py [--users 1000000] [--features 16]

Users are synthetic rows (seeded, no simulation needed): ``features`` numeric behaviour features, a
purchase label driven by a few of them, a randomised 50/50 treatment and an outcome whose uplift
depends on two features (positive for some users, negative for others). Timed, each on all users:
the two propensity models of :func:`lsc_utils.targeting.propensity_models` (fit + predict), and the
uplift T-learner, class transformation and X-learner over the regularised gradient boosting of
:func:`lsc_utils.targeting.campaign.uplift_learners` (fit + predict), plus the Qini coefficient of
each. Prints one JSON line per step and the total.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def make_users(
    n: int, n_features: int, seed: int = 42
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, purchase label, treatment, campaign outcome and the planted uplift."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"f{k}" for k in range(n_features)])
    logit = -1.0 + 0.8 * X["f0"] - 0.5 * X["f1"] + 0.3 * X["f2"] * X["f3"]
    buys = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    treatment = rng.integers(0, 2, size=n)
    uplift = np.clip(0.08 * X["f4"].to_numpy() + 0.05 * (X["f5"].to_numpy() > 0), -0.1, 0.2)
    base = 1 / (1 + np.exp(-(-2.0 + 0.6 * X["f0"].to_numpy())))
    outcome = (rng.random(n) < np.clip(base + treatment * uplift, 0, 1)).astype(float)
    return X, buys, treatment, outcome, uplift


def timed(label: str, fn: Callable[[], Any], results: list[dict]) -> Any:
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    results.append({"step": label, "seconds": round(seconds, 1), "peak_rss_gb": round(peak_gb, 2)})
    print(json.dumps(results[-1]), flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=16)
    args = parser.parse_args()

    from lsc_utils import targeting
    from lsc_utils.targeting import campaign

    results: list[dict] = []
    X, buys, treatment, outcome, uplift = timed("make users", lambda: make_users(args.users, args.features), results)
    for name, model in targeting.propensity_models(42).items():
        fitted = timed(f"propensity {name}: fit", lambda m=model: m.fit(X, buys), results)
        score = timed(f"propensity {name}: predict", lambda f=fitted: f.predict_proba(X)[:, 1], results)
        print(
            json.dumps(
                {
                    "propensity": name,
                    "roc_auc": round(float(targeting.propensity_scores(buys, {name: score})[0]["roc_auc"].iloc[0]), 4),
                }
            )
        )
    learners = campaign.uplift_learners(42)
    values = X.to_numpy()
    for name in ("t_learner_boosting", "class_transformation_boosting", "x_learner_boosting"):
        fitted = timed(f"uplift {name}: fit", lambda m=learners[name]: m.fit(values, outcome, treatment), results)
        predicted = timed(f"uplift {name}: predict", lambda f=fitted: f.predict(values), results)
        qini = targeting.qini_auc_score(outcome, predicted, treatment)
        print(
            json.dumps(
                {
                    "uplift": name,
                    "qini": round(qini, 4),
                    "oracle_qini": round(targeting.qini_auc_score(outcome, uplift, treatment), 4),
                }
            )
        )
    models = [r for r in results if r["step"] != "make users"]
    print(json.dumps({"users": args.users, "total_model_seconds": round(sum(r["seconds"] for r in models), 1)}))


if __name__ == "__main__":
    main()
