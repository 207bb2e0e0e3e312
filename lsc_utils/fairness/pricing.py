"""Differentiated-pricing audit: is a group charged more for the same item at the same time?

:func:`price_gap` regresses the log paid unit price on a group indicator with **item and day fixed
effects** (absorbed by alternating within-transformations, equal to dummy-variable OLS) and standard
errors **clustered by user** (statsmodels; the small-sample factor counts the absorbed levels, as
reghdfe does). The surcharge is ``exp(beta) - 1`` with its 95 % interval. Beside it, the naive gap
(mean log price of the group minus the rest) mixes the surcharge with *what* each group buys: a group
that is surcharged but buys cheaper items shows a negative naive gap (Simpson's paradox).

:func:`selection_rates` checks eligibility (coupon, VIP tier, being on a targeting list) by group
with the four-fifths rule and Fisher's exact test of each group against everyone else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from lsc_utils.checks import require_columns

FOUR_FIFTHS: float = 0.8


def absorb(
    frame: pd.DataFrame, columns: list[str], effects: list[str], tol: float = 1e-12, max_iter: int = 1000
) -> pd.DataFrame:
    """Remove the fixed effects ``effects`` from ``columns`` by alternating demeaning (method of alternating projections).

    One effect is a single exact demeaning; two or more iterate until no column moves by more than
    ``tol``. The result equals the residuals of a regression on the effects' dummies.
    """
    values = frame[columns].astype(float).copy()
    keys = [frame[e].to_numpy() for e in effects]
    for _ in range(max_iter if len(effects) > 1 else 1):
        before = values.to_numpy().copy()
        for key in keys:
            values = values - values.groupby(key).transform("mean")
        if np.max(np.abs(values.to_numpy() - before)) < tol:
            break
    return values


def price_gap(
    paid: pd.DataFrame, group: str, effects: tuple[str, ...] = ("item_id", "day"), cluster: str = "user_id"
) -> dict[str, float]:
    """Fixed-effects surcharge of ``group`` (0/1) on the log paid unit price, and the naive gap.

    Parameters
    ----------
    paid : pandas.DataFrame
        One row per paid line: ``price`` (unit price > 0), the 0/1 column ``group``, the ``effects``
        columns and ``cluster``.

    Returns
    -------
    dict
        ``beta, se, low, high, p_value`` (log points), ``surcharge, surcharge_low, surcharge_high``
        (``exp - 1``), ``naive_gap`` (difference of mean log prices), ``naive_ratio`` (``exp - 1``),
        ``rows, users, clusters``.
    """
    require_columns(paid, ["price", group, *effects, cluster], "paid", "price_gap")
    data = paid[paid["price"] > 0].copy()
    data["log_price"] = np.log(data["price"].astype(float))
    data[group] = data[group].astype(float)
    within = absorb(data, ["log_price", group], list(effects))
    model = sm.OLS(within["log_price"].to_numpy(), within[[group]].to_numpy())
    clusters = pd.factorize(data[cluster])[0]
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": clusters})
    n, absorbed = len(data), sum(data[e].nunique() for e in effects) - (len(effects) - 1)
    correction = (n - 1) / max(n - 1 - absorbed, 1)  # statsmodels counted K = 1; add the absorbed levels
    se = float(np.sqrt(fit.cov_params()[0, 0] * correction))
    beta = float(fit.params[0])
    t_crit = float(stats.t.ppf(0.975, df=max(len(np.unique(clusters)) - 1, 1)))
    naive = float(data.loc[data[group] == 1, "log_price"].mean() - data.loc[data[group] == 0, "log_price"].mean())
    return {
        "beta": beta,
        "se": se,
        "low": beta - t_crit * se,
        "high": beta + t_crit * se,
        "p_value": float(2 * stats.t.sf(abs(beta / se), df=max(len(np.unique(clusters)) - 1, 1))) if se > 0 else np.nan,
        "surcharge": float(np.expm1(beta)),
        "surcharge_low": float(np.expm1(beta - t_crit * se)),
        "surcharge_high": float(np.expm1(beta + t_crit * se)),
        "naive_gap": naive,
        "naive_ratio": float(np.expm1(naive)),
        "rows": int(n),
        "users": int(data[cluster].nunique()),
    }


def selection_rates(selected: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """Selection rate per group, its ratio to the best group (four-fifths rule) and Fisher's exact p.

    Returns
    -------
    pandas.DataFrame
        ``group, users, selected, rate, ratio_to_best, four_fifths_ok, fisher_p`` (each group against
        all other users).
    """
    selected = pd.Series(np.asarray(selected, dtype=bool), index=groups.index)
    table = selected.groupby(groups).agg(users="size", selected="sum")
    table["rate"] = table["selected"] / table["users"]
    best = table["rate"].max()
    table["ratio_to_best"] = table["rate"] / best if best > 0 else np.nan
    table["four_fifths_ok"] = table["ratio_to_best"] >= FOUR_FIFTHS
    total_users, total_selected = int(table["users"].sum()), int(table["selected"].sum())
    p_values = []
    for _, row in table.iterrows():
        a, b = int(row["selected"]), int(row["users"] - row["selected"])
        c, d = total_selected - a, (total_users - total_selected) - b
        p_values.append(float(stats.fisher_exact([[a, b], [c, d]])[1]))
    table["fisher_p"] = p_values
    return table.rename_axis("group").reset_index()
