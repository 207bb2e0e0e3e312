"""Judging uplift rankings and targeting lists: Qini tables, repeated splits, the four groups, depth slopes.

* :func:`uplift_scores`: Qini coefficient, AUUC and uplift at 30 % of every ranking (scikit-uplift's
  definitions, :mod:`lsc_utils.targeting.curves`).
* :func:`repeated_split_qini`: each learner trained on 70 % and scored on 30 % over repeated seeded
  splits stratified by arm and response, for a mean and an interval instead of one lucky split.
* :func:`uplift_groups`: persuadables, sleeping dogs, sure things and lost causes from predicted
  uplift and predicted outcome without contact.
* :func:`price_bands`: tertiles of the average discount a user took before the send.
* :func:`depth_slopes`: the effect per unit of discount depth in each segment.
* :func:`planted_policy_profit`: a list's incremental profit under the simulator's planted truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from lsc_utils.checks import check_int, require_columns
from lsc_utils.targeting.curves import qini_auc_score, uplift_at_k, uplift_auc_score

GROUPS: tuple[str, ...] = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")


def uplift_scores(y: np.ndarray, rankings: pd.DataFrame, treatment: np.ndarray, k: float = 0.3) -> pd.DataFrame:
    """Qini coefficient, AUUC and uplift at ``k`` of every ranking (one column of ``rankings`` each)."""
    y, t = np.asarray(y, dtype=float), np.asarray(treatment, dtype=int)
    rows = []
    for name in rankings.columns:
        score = rankings[name].to_numpy(dtype=float)
        rows.append(
            {
                "model": name,
                "qini": qini_auc_score(y, score, t),
                "auuc": uplift_auc_score(y, score, t),
                f"uplift_at_{round(k * 100)}": uplift_at_k(y, score, t, k=k),
            }
        )
    return pd.DataFrame(rows).sort_values("qini", ascending=False, ignore_index=True)


def repeated_split_qini(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    treatment: np.ndarray,
    learners: Mapping[str, Any],
    n_repeats: int = 20,
    random_state: int = 42,
    response_estimator: Any | None = None,
) -> pd.DataFrame:
    """Qini coefficient of every learner on the 30 % hold-out of ``n_repeats`` seeded 70/30 splits.

    Splits are stratified by arm and response and seeded ``random_state + r``. Besides the learners,
    each split scores a random ordering and, with ``response_estimator``, a response model (the
    outcome among treated users, fitted on the treated 70 %).

    Returns
    -------
    pandas.DataFrame
        ``repeat, model, qini`` (long form).
    """
    check_int(n_repeats, "n_repeats", "repeated_split_qini", 1)
    X, y, t = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(treatment, dtype=int)
    strata = t * 2 + (y > 0)
    rows = []
    for r in range(n_repeats):
        train, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=strata, random_state=random_state + r)
        scores = {name: clone(m).fit(X[train], y[train], t[train]).predict(X[test]) for name, m in learners.items()}
        if response_estimator is not None:
            rows_t = train[t[train] == 1]
            scores["response_model"] = clone(response_estimator).fit(X[rows_t], y[rows_t]).predict(X[test])
        scores["random"] = np.random.default_rng(random_state + r).random(test.size)
        rows += [
            {"repeat": r, "model": name, "qini": qini_auc_score(y[test], s, t[test])} for name, s in scores.items()
        ]
    return pd.DataFrame(rows)


def uplift_groups(uplift: np.ndarray, baseline: np.ndarray, average_effect: float) -> np.ndarray:
    """Label users persuadable, sleeping dog, sure thing or lost cause.

    Persuadable: predicted uplift at least half the absolute average effect; sleeping dog: at most
    minus that; the rest are sure things when their predicted outcome without contact is above the
    median, lost causes otherwise.
    """
    uplift, baseline = np.asarray(uplift, dtype=float), np.asarray(baseline, dtype=float)
    margin = 0.5 * abs(float(average_effect))
    high = baseline > np.median(baseline)
    return np.where(
        uplift >= margin,
        "persuadable",
        np.where(uplift <= -margin, "sleeping_dog", np.where(high, "sure_thing", "lost_cause")),
    )


def price_bands(frame: pd.DataFrame) -> pd.Series:
    """Tertiles of ``avg_discount`` among users with a purchase before the send; ``no purchase`` otherwise."""
    require_columns(frame, ["avg_discount", "orders_before"], "frame", "price_bands")
    buyers = frame["orders_before"] > 0
    bands = pd.Series("no purchase", index=frame.index, dtype="object")
    if buyers.sum() >= 3:
        ranks = frame.loc[buyers, "avg_discount"].rank(method="first")
        bands.loc[buyers] = pd.qcut(ranks, 3, labels=["full price", "some discount", "deal seeker"]).astype(str)
    return bands.astype("str")


def depth_slopes(effects: pd.DataFrame) -> pd.DataFrame:
    """Least-squares slope of the effect against discount depth through the origin, per segment.

    ``effects`` holds ``by, segment, depth, effect`` (one row per offer, e.g. from
    :func:`lsc_utils.targeting.budget.offers_by_group` with a ``depth`` column). A segment whose
    offers all have depth 0 (contacts without a discount) gets no slope.
    """
    require_columns(effects, ["by", "segment", "depth", "effect"], "effects", "depth_slopes")
    rows = []
    for (by, segment), part in effects.groupby(["by", "segment"], observed=True):
        depth = part["depth"].to_numpy(dtype=float)
        if not np.any(depth > 0):
            continue
        slope = float(np.sum(depth * part["effect"].to_numpy()) / np.sum(depth**2))
        rows.append({"by": by, "segment": segment, "slope_per_unit_depth": slope, "offers": len(part)})
    return pd.DataFrame(rows, columns=["by", "segment", "slope_per_unit_depth", "offers"])


def planted_policy_profit(
    planted: pd.DataFrame,
    policies: Mapping[str, np.ndarray],
    depths: Mapping[str, float],
    margin: float,
    cost_per_contact: float,
) -> dict[str, float]:
    """Incremental profit of every list under the simulator's planted probabilities.

    ``planted`` holds, per user in the policies' order, ``mean_price`` and ``p_<arm>`` for every arm
    (``truth/campaign_users.parquet``): contacting with arm ``a`` earns
    ``mean_price * (p_a * (margin - d_a) - p_control * margin) - cost_per_contact``.
    """
    price = planted["mean_price"].to_numpy(dtype=float)
    base = planted["p_control"].to_numpy(dtype=float)
    out = {}
    for name, policy in policies.items():
        policy = np.asarray(policy, dtype=object)
        total = 0.0
        for arm, depth in depths.items():
            chosen = policy == arm
            if arm == "control" or not chosen.any():
                continue
            gain = price * (planted[f"p_{arm}"].to_numpy(dtype=float) * (margin - depth) - base * margin)
            total += float(gain[chosen].sum()) - cost_per_contact * int(chosen.sum())
        out[name] = total
    return out
