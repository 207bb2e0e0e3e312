"""Targeting under a budget, offers by group, and the targeting list.

A *policy* gives every exposed user an arm: ``control`` (not contacted) or an offer. Its value is
estimated **off-policy on the randomised campaign** by inverse probability weighting: a user counts
when the arm drawn for them is the arm the policy would give, with weight ``1 / P(that arm)``. The
incremental value of a policy is its value minus the value of contacting no one, so every policy is
compared at the same budget against the same baseline; intervals come from a user-level bootstrap.

Money: an order earns its paid price minus its cost, ``(1 - margin) * list price`` (the margin is a
share of the list price, so a coupon eats into it); a contact costs ``cost_per_contact``. The budget
buys ``floor(budget / cost_per_contact)`` contacts. Users without an explicit marketing consent are
never contacted (:mod:`lsc_utils.consent`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns
from lsc_utils.targeting.effects import arm_effects

CONTROL: str = "control"


def profit_outcome(frame: pd.DataFrame, margin: float) -> np.ndarray:
    """Gross profit of each user's window orders: paid revenue minus ``(1 - margin)`` of their list value."""
    require_columns(frame, ["revenue", "list_value"], "frame", "profit_outcome")
    if not 0 < margin < 1:
        raise ValueError(f"The 'margin' parameter must lie in (0, 1) (a share of the list price). Got {margin!r}.")
    return (frame["revenue"] - (1.0 - margin) * frame["list_value"]).to_numpy(dtype=float)


def max_contacts(budget: float, cost_per_contact: float, eligible: int) -> int:
    """Contacts the budget buys (all eligible users when contacts are free)."""
    if budget < 0 or cost_per_contact < 0:
        raise ValueError(f"budget and cost_per_contact must be >= 0. Got {budget!r} and {cost_per_contact!r}.")
    if cost_per_contact == 0:
        return int(eligible)
    return int(min(eligible, np.floor(budget / cost_per_contact + 1e-9)))


def rank_policy(
    score: np.ndarray, contacts: int, offer: str | np.ndarray, eligible: np.ndarray, only_positive: bool = False
) -> np.ndarray:
    """Contact the ``contacts`` eligible users with the highest score (ties by position) with ``offer``.

    ``only_positive`` also skips users whose score is not above zero (a predicted loss). Returns the
    arm of every user (``control`` for those not contacted).
    """
    score = np.asarray(score, dtype=float)
    ranked = np.where(np.asarray(eligible, dtype=bool), score, -np.inf)
    order = np.argsort(-ranked, kind="mergesort")[:contacts]
    order = order[np.isfinite(ranked[order])]
    if only_positive:
        order = order[ranked[order] > 0]
    offers = np.broadcast_to(np.asarray(offer, dtype=object), score.shape)
    policy = np.full(score.shape, CONTROL, dtype=object)
    policy[order] = offers[order]
    return policy


def _contributions(
    y: np.ndarray, arm: np.ndarray, policy: np.ndarray, probability: np.ndarray, predicted: pd.DataFrame | None
) -> np.ndarray:
    """Per-user contribution to value(policy) - value(contact no one): IPW, or doubly robust with predictions."""
    weight = 1.0 / probability
    on_policy, on_control = (arm == policy).astype(float), (arm == CONTROL).astype(float)
    if predicted is None:
        return weight * y * (on_policy - on_control)
    columns = {name: k for k, name in enumerate(predicted.columns)}
    values = predicted.to_numpy(dtype=float)
    rows = np.arange(len(y))
    mu_policy = values[rows, [columns[a] for a in policy]]
    mu_drawn = values[rows, [columns[a] for a in arm]]
    mu_control = values[:, columns[CONTROL]]
    return mu_policy - mu_control + weight * (y - mu_drawn) * (on_policy - on_control)


def ipw_arm_value(y: np.ndarray, arm: np.ndarray, policy: np.ndarray, probability: np.ndarray) -> float:
    """Mean outcome under a multi-arm ``policy``, by inverse probability weighting.

    ``probability`` is each user's probability of the arm they were drawn into (known by design); a
    user counts when that arm is the policy's arm. With a policy that gives everyone arm ``a`` this
    is the mean outcome of arm ``a`` (in expectation, and exactly when arm sizes match the design).
    """
    y, probability = np.asarray(y, dtype=float), np.asarray(probability, dtype=float)
    if np.any((probability <= 0) | (probability > 1)):
        raise ValueError("assignment probabilities must lie in (0, 1] for every user.")
    return float(np.sum((np.asarray(arm) == np.asarray(policy)) * y / probability) / y.size)


def evaluate_policies(
    frame: pd.DataFrame,
    policies: Mapping[str, np.ndarray],
    outcomes: Mapping[str, np.ndarray],
    cost_per_contact: float = 0.0,
    cost_outcome: str | None = None,
    n_boot: int = 500,
    random_state: int = 42,
    predictions: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Incremental totals of every policy over the exposed users, with 95 % bootstrap intervals.

    With ``predictions`` (per outcome, each user's predicted outcome under every arm, cross-fitted)
    the estimate is doubly robust (Dudík, Langford & Li 2011): the model's predicted difference plus
    the inverse-probability-weighted residuals, unbiased when either the assignment probabilities
    (known here by design) or the model is right, and far less noisy than plain IPW when the model
    explains part of the outcome. Without them it is plain IPW.

    Parameters
    ----------
    frame : pandas.DataFrame
        The campaign frame (``arm``, ``assignment_probability``).
    policies : mapping of str to numpy.ndarray
        Each policy's arm per user.
    outcomes : mapping of str to numpy.ndarray
        Outcomes per user (orders, profit ...); totals are scaled to all exposed users.
    cost_per_contact : float, default 0
        Subtracted once per contacted user from ``cost_outcome`` (e.g. the profit).
    cost_outcome : str, optional
        The outcome the contact cost is charged to.
    n_boot : int, default 500
        Bootstrap resamples of users (percentile intervals).
    random_state : int, default 42
        Seed of the resampling (the same resamples for every policy, so differences are paired).
    predictions : mapping of str to pandas.DataFrame, optional
        Per outcome, one column per arm (``control`` included) of predicted outcomes.

    Returns
    -------
    pandas.DataFrame
        ``policy, contacts`` and for each outcome ``<outcome>``, ``<outcome>_low``, ``<outcome>_high``.
    """
    require_columns(frame, ["arm", "assignment_probability"], "frame", "evaluate_policies")
    arm = frame["arm"].to_numpy(dtype=object)
    probability = frame["assignment_probability"].to_numpy(dtype=float)
    n = len(frame)
    rng = np.random.default_rng(random_state)
    resamples = [rng.integers(0, n, size=n) for _ in range(n_boot)]
    rows = []
    for name, policy in policies.items():
        contacted = int(np.sum(np.asarray(policy) != CONTROL))
        row: dict[str, float | int | str] = {"policy": name, "contacts": contacted}
        for outcome, y in outcomes.items():
            predicted = predictions.get(outcome) if predictions else None
            contribution = _contributions(
                np.asarray(y, dtype=float), arm, np.asarray(policy, dtype=object), probability, predicted
            )
            cost = cost_per_contact * contacted if outcome == cost_outcome else 0.0
            boot = np.array([contribution[idx].mean() for idx in resamples]) * n - cost
            row[outcome] = float(contribution.mean() * n - cost)
            row[f"{outcome}_low"], row[f"{outcome}_high"] = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
        rows.append(row)
    return pd.DataFrame(rows)


def offers_by_group(frame: pd.DataFrame, group: str, outcome: str, min_users: int = 30) -> pd.DataFrame:
    """Effect of every offer against control within each level of ``group``, with 95 % intervals.

    Groups with fewer than ``min_users`` users in some arm are left out (their intervals would be noise).
    """
    require_columns(frame, [group, "arm", outcome], "frame", "offers_by_group")
    parts = []
    for level, members in frame.groupby(group, observed=True):
        if members["arm"].value_counts().min() < min_users or CONTROL not in set(members["arm"]):
            continue
        table = arm_effects(members, outcome, control=CONTROL)
        parts.append(table.assign(**{group: level}))
    if not parts:
        return pd.DataFrame(columns=[group, "arm", "users", "mean", "effect", "low", "high", "p_value"])
    table = pd.concat(parts, ignore_index=True)
    return table.loc[table["arm"] != CONTROL, [group, "arm", "users", "mean", "effect", "low", "high", "p_value"]]


def best_offers(effects: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per group, the offer with the highest estimated effect, and whether its interval excludes zero."""
    best = effects.sort_values([group, "effect"], ascending=[True, False]).groupby(group, observed=True).head(1)
    best = best.assign(pays_off=best["low"] > 0, loses=best["high"] < 0)
    return best.reset_index(drop=True)


def targeting_list(
    frame: pd.DataFrame, propensity: np.ndarray, uplift: np.ndarray, policy: np.ndarray, allowed: np.ndarray
) -> pd.DataFrame:
    """The list that leaves the run: pseudonymous id, propensity, predicted uplift, decile, action, offer.

    ``action`` is ``contact`` (on the list), ``hold`` (not worth the budget) or ``do_not_contact`` (no
    explicit marketing consent); decile 1 holds the highest predicted uplift.
    """
    uplift = np.asarray(uplift, dtype=float)
    order = np.argsort(-uplift, kind="mergesort")
    decile = np.empty(len(order), dtype=int)
    decile[order] = np.arange(len(order)) * 10 // max(len(order), 1) + 1
    policy = np.asarray(policy, dtype=object)
    allowed = np.asarray(allowed, dtype=bool)
    action = np.where(~allowed, "do_not_contact", np.where(policy != CONTROL, "contact", "hold"))
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].to_numpy(),
            "propensity": np.round(np.asarray(propensity, dtype=float), 4),
            "uplift": np.round(uplift, 4),
            "decile": decile,
            "action": action,
            "offer": np.where(action == "contact", policy, ""),
        }
    ).sort_values(["decile", "uplift"], ascending=[True, False], ignore_index=True)
