"""Average effects of a randomised campaign and the off-policy value of a targeting rule.

* :func:`arm_effects`: for each arm, the mean outcome and its difference from control with a 95 %
  interval (unequal variances, normal approximation: the arms of a marketing experiment hold
  thousands of users).
* :func:`ipw_policy_value`: the mean outcome a targeting rule would have produced, estimated on the
  randomised data by inverse probability weighting (Horvitz–Thompson): users whose random arm agrees
  with the rule count with weight 1 / P(that arm). With a rule that treats everyone it equals the
  treated arm's mean (with known assignment probability), so the value of treating everyone minus
  treating no one equals the plain difference of arm means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lsc_utils.checks import require_columns

Z95: float = float(stats.norm.ppf(0.975))


def arm_effects(frame: pd.DataFrame, outcome: str, arm: str = "arm", control: str = "control") -> pd.DataFrame:
    """Mean ``outcome`` per arm and each arm's difference from ``control`` with a 95 % interval.

    Returns
    -------
    pandas.DataFrame
        ``arm, users, mean, effect, low, high, p_value`` (the control row has no effect).
    """
    require_columns(frame, [outcome, arm], "frame", "arm_effects")
    if control not in set(frame[arm]):
        raise ValueError(f"The 'control' parameter of arm_effects names {control!r}, which is not an arm of {arm!r}.")
    stats_by_arm = frame.groupby(arm)[outcome].agg(users="size", mean="mean", var="var")
    base = stats_by_arm.loc[control]
    rows = []
    for name, row in stats_by_arm.iterrows():
        if name == control:
            rows.append({"arm": name, "users": int(row["users"]), "mean": row["mean"]})
            continue
        effect = row["mean"] - base["mean"]
        se = float(np.sqrt(row["var"] / row["users"] + base["var"] / base["users"]))
        rows.append(
            {
                "arm": name,
                "users": int(row["users"]),
                "mean": row["mean"],
                "effect": effect,
                "low": effect - Z95 * se,
                "high": effect + Z95 * se,
                "p_value": float(2 * stats.norm.sf(abs(effect) / se)) if se > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def ipw_policy_value(
    y: np.ndarray, treatment: np.ndarray, policy: np.ndarray, treated_probability: float | np.ndarray
) -> float:
    """Mean outcome under ``policy`` (1 = contact) from randomised data, by inverse probability weighting.

    Parameters
    ----------
    y : numpy.ndarray
        Observed outcomes.
    treatment : numpy.ndarray
        The randomised arm (1 treated, 0 control).
    policy : numpy.ndarray
        The rule's decision for each user (1 contact, 0 not).
    treated_probability : float or numpy.ndarray
        P(treated) of each user under the randomisation (known by design).
    """
    y, t, d = np.asarray(y, dtype=float), np.asarray(treatment), np.asarray(policy)
    p = np.broadcast_to(np.asarray(treated_probability, dtype=float), y.shape)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("treated_probability must lie strictly between 0 and 1 for every user.")
    weight = np.where(t == 1, 1 / p, 1 / (1 - p)) * (t == d)
    return float(np.sum(weight * y) / y.size)
