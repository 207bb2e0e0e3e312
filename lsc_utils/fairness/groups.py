"""Quality of recommendations by user group, with user-level bootstrap intervals resampled within groups.

:func:`group_means` runs fairlearn's ``MetricFrame`` (the engine of group metrics) over per-user
scores (``lsc_utils.evaluation.user_scores``): one mean per group and the overall mean.
:func:`bootstrap_group_gaps` resamples users **within each group** (every group keeps its size in
every resample, so a small group never vanishes) and gives 95 % percentile intervals for each group's
mean, the gap between the best and the worst group (``difference``, between groups) and the worst
group's mean over the best's (``ratio``, between groups; fairlearn's ``method="between_groups"``),
and each group's ratio to the overall mean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from lsc_utils.checks import check_int

MIN_GROUP_USERS: int = 20
"""Groups with fewer users are reported but not judged (their interval is too wide to mean anything)."""


def group_means(scores: pd.DataFrame, metrics: list[str], groups: pd.Series) -> MetricFrame:
    """fairlearn ``MetricFrame`` of the mean of each per-user metric by group.

    The per-user values go in as ``y_true`` (a 2-D array, one column per metric; ``y_pred`` is
    unused), so ``by_group``, ``overall``, ``difference()`` and ``ratio()`` are fairlearn's own.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per user with the metric columns (no NaN).
    metrics : list of str
        Columns of ``scores`` to average.
    groups : pandas.Series
        Group label of each row of ``scores``.
    """
    columns = {m: k for k, m in enumerate(metrics)}

    def column_mean(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
        def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
            del y_pred
            return float(np.mean(np.asarray(y_true)[:, columns[name]]))

        return metric

    return MetricFrame(
        metrics={m: column_mean(m) for m in metrics},
        y_true=scores[metrics].to_numpy(dtype=float),
        y_pred=np.zeros(len(scores)),
        sensitive_features=pd.Series(np.asarray(groups, dtype=object), name="group"),
    )


def bootstrap_group_gaps(
    values: np.ndarray, groups: np.ndarray, n_boot: int = 1000, random_state: int = 42
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Group means with within-group bootstrap intervals, and the between-group difference and ratio.

    Parameters
    ----------
    values : numpy.ndarray
        One value per user (e.g. NDCG@10).
    groups : numpy.ndarray
        Group label per user.
    n_boot : int, default 1000
        Resamples; each resamples every group's users with replacement, keeping group sizes.
    random_state : int, default 42

    Returns
    -------
    table : pandas.DataFrame
        ``group, users, mean, low, high, ratio_to_overall, ratio_low, ratio_high`` (judged groups only
        enter the gap: at least :data:`MIN_GROUP_USERS` users).
    gaps : dict
        ``best, worst, difference, difference_low, difference_high, ratio, ratio_low, ratio_high``.
    """
    check_int(n_boot, "n_boot", "bootstrap_group_gaps", 10)
    values, groups = np.asarray(values, dtype=float), np.asarray(groups, dtype=object)
    rng = np.random.default_rng(random_state)
    labels = sorted(pd.unique(groups), key=str)
    sizes = {g: int(np.sum(groups == g)) for g in labels}
    boot = {}
    for g in labels:
        members = values[groups == g]
        draws = rng.integers(0, members.size, size=(n_boot, members.size))
        boot[g] = members[draws].mean(axis=1)
    totals = sum(boot[g] * sizes[g] for g in labels) / len(values)
    rows = []
    for g in labels:
        mean = float(values[groups == g].mean())
        ratio = boot[g] / totals
        rows.append(
            {
                "group": g,
                "users": sizes[g],
                "mean": mean,
                "low": float(np.percentile(boot[g], 2.5)),
                "high": float(np.percentile(boot[g], 97.5)),
                "ratio_to_overall": mean / float(values.mean()) if values.mean() else np.nan,
                "ratio_low": float(np.percentile(ratio, 2.5)),
                "ratio_high": float(np.percentile(ratio, 97.5)),
            }
        )
    table = pd.DataFrame(rows)
    judged = table[table["users"] >= MIN_GROUP_USERS]
    if len(judged) < 2:
        return table, {}
    best, worst = judged.loc[judged["mean"].idxmax(), "group"], judged.loc[judged["mean"].idxmin(), "group"]
    stacked = np.column_stack([boot[g] for g in judged["group"]])
    difference = stacked.max(axis=1) - stacked.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(stacked.max(axis=1) > 0, stacked.min(axis=1) / stacked.max(axis=1), np.nan)
    gaps = {
        "best": best,
        "worst": worst,
        "difference": float(judged["mean"].max() - judged["mean"].min()),
        "difference_low": float(np.nanpercentile(difference, 2.5)),
        "difference_high": float(np.nanpercentile(difference, 97.5)),
        "ratio": float(judged["mean"].min() / judged["mean"].max()) if judged["mean"].max() > 0 else np.nan,
        "ratio_low": float(np.nanpercentile(ratio, 2.5)),
        "ratio_high": float(np.nanpercentile(ratio, 97.5)),
        "worst_vs_rest": _worst_vs_rest(values, groups, worst, boot, sizes),
    }
    return table, gaps


def _worst_vs_rest(
    values: np.ndarray, groups: np.ndarray, worst: object, boot: dict, sizes: dict
) -> tuple[float, float, float]:
    """The worst group's mean minus everyone else's, with its bootstrap interval (the flag's test)."""
    rest = [g for g in boot if g != worst]
    rest_boot = sum(boot[g] * sizes[g] for g in rest) / sum(sizes[g] for g in rest)
    gap = boot[worst] - rest_boot
    point = float(values[groups == worst].mean() - values[groups != worst].mean())
    return point, float(np.percentile(gap, 2.5)), float(np.percentile(gap, 97.5))
