"""Stock-out risk and reorder suggestions from a demand forecast, and the demand uplift of live-room days.

**Stock-out risk.** Demand over the lead time ``L`` (days) is a sum of daily demands. For a smooth
series its forecast distribution is normal with mean the sum of the forecast means and variance the
sum of the daily forecast variances (read from the 95 % interval: ``σ = (hi - lo) / (2 × 1.96)``;
treating days as independent slightly understates the spread of ETS forecasts, whose errors are
correlated). For intermittent demand a normal is wrong (most days are 0): lead-time demand is
negative binomial with the forecast's mean and the variance-to-mean ratio of the item's own
``L``-day sums in the history (Poisson when that ratio is at most 1). Then

* ``p_stockout = P(D_L > stock)``;
* ``reorder_point`` = the ``service_level`` quantile of ``D_L`` (safety stock = it minus the mean);
* ``order_up_to`` = the ``service_level`` quantile of demand over ``L + review`` days, and
  ``suggested_order = max(0, ceil(order_up_to - stock))`` (periodic review, order-up-to policy).

**Live-room days.** An item-day is a *live day* when some of that day's units were sold inside a live
room. The uplift is the rate ratio of units on live days vs other days from a Poisson regression
with item and category-by-week fixed effects (so trends, seasons and item size cancel) and
cluster-robust standard errors by item (statsmodels). Because a live day is recognised by a sale in
a room, items selling under ``min_daily_units`` a day are left out: for them a day without sales
can never be a live day, which inflates the ratio.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from lsc_utils.checks import check_int, require_columns

Z95: float = float(stats.norm.ppf(0.975))
MIN_OFF_LIVE_SELLING_SHARE: float = 0.5
"""An item enters the live-day comparison only if it sells on at least this share of its other days."""


def _check_service_level(value: float, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 <= value < 1:
        raise ValueError(
            f"The 'service_level' parameter of {owner} must be a number in [0.5, 1). Got {value!r} instead."
        )
    return float(value)


def lead_time_dispersion(history: np.ndarray, days: int) -> float:
    """Variance-to-mean ratio of the sums of ``days`` consecutive periods of ``history`` (at least 1)."""
    if history.size < days + 1:
        return 1.0
    sums = np.convolve(history, np.ones(days), mode="valid")
    mean = sums.mean()
    return max(1.0, float(sums.var(ddof=1) / mean)) if mean > 0 else 1.0


def demand_quantile(mean: float, spread: float, q: float, kind: str) -> float:
    """The ``q`` quantile of demand: normal (``spread`` = sd) or negative binomial (``spread`` = var/mean)."""
    if mean <= 0:
        return 0.0
    if kind == "normal":
        return float(max(0.0, stats.norm.ppf(q, loc=mean, scale=max(spread, 1e-12))))
    return float(_count_distribution(mean, spread).ppf(q))


def exceed_probability(mean: float, spread: float, stock: float, kind: str) -> float:
    """P(demand > stock) under the same distributions as :func:`demand_quantile`."""
    if mean <= 0:
        return 0.0
    if kind == "normal":
        return float(stats.norm.sf(stock, loc=mean, scale=max(spread, 1e-12)))
    return float(_count_distribution(mean, spread).sf(math.floor(stock)))


def _count_distribution(mean: float, dispersion: float) -> stats.rv_discrete:
    """Poisson (dispersion <= 1) or negative binomial with ``var = dispersion * mean``."""
    if dispersion <= 1.0 + 1e-9:
        return stats.poisson(mean)
    p = 1.0 / dispersion
    return stats.nbinom(mean * p / (1 - p), p)


def stockout_risk(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    stock: pd.Series,
    demand_class: pd.Series,
    *,
    lead_time: int = 7,
    review: int = 7,
    service_level: float = 0.95,
) -> pd.DataFrame:
    """Probability of running out within the lead time, reorder point and suggested order per series.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        ``unique_id, model, step, mean, lo-95, hi-95`` for at least ``lead_time + review`` steps
        (one model per series: the one chosen for it).
    history : pandas.DataFrame
        ``unique_id, ds, y``: the observed daily demand.
    stock : pandas.Series
        Units on hand (and on order) by ``unique_id``; series without stock are left out.
    demand_class : pandas.Series
        Demand class by ``unique_id``; ``smooth``/``erratic`` use the normal, others the count model.
    lead_time, review : int, default 7
        Days until an order arrives, and days between two orders.
    service_level : float, default 0.95
        Probability of not running out before the next order arrives.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, model, stock, lead_time_demand, p_stockout, reorder_point, safety_stock,
        order_up_to, suggested_order, distribution``, riskiest first.
    """
    require_columns(forecasts, ["unique_id", "model", "step", "mean", "lo-95", "hi-95"], "forecasts", "stockout_risk")
    check_int(lead_time, "lead_time", "stockout_risk", 1)
    check_int(review, "review", "stockout_risk", 0)
    q = _check_service_level(service_level, "stockout_risk")
    rows = []
    past = {uid: part["y"].to_numpy(dtype=float) for uid, part in history.groupby("unique_id", sort=False)}
    for uid, group in forecasts.sort_values("step").groupby("unique_id", sort=True):
        if uid not in stock.index or group["step"].max() < lead_time + review:
            continue
        y = past.get(uid, np.zeros(0))
        rows.append(_risk_row(uid, group, y, float(stock[uid]), demand_class.get(uid, "smooth"), lead_time, review, q))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["p_stockout", "unique_id"], ascending=[False, True], ignore_index=True)


def _risk_row(
    uid: str,
    group: pd.DataFrame,
    y: np.ndarray,
    on_hand: float,
    demand_class: str,
    lead_time: int,
    review: int,
    q: float,
) -> dict:
    """One series' risk and reorder numbers."""
    mean = group["mean"].clip(lower=0).to_numpy()
    sd = ((group["hi-95"] - group["lo-95"]) / (2 * Z95)).to_numpy()
    smooth = demand_class in ("smooth", "erratic") and np.isfinite(sd).all()
    kind = "normal" if smooth else "count"

    def spread(days: int) -> float:
        return float(np.sqrt(np.sum(sd[:days] ** 2))) if smooth else lead_time_dispersion(y, days)

    mu_l, mu_lr = float(mean[:lead_time].sum()), float(mean[: lead_time + review].sum())
    rop = demand_quantile(mu_l, spread(lead_time), q, kind)
    up_to = demand_quantile(mu_lr, spread(lead_time + review), q, kind)
    return {
        "unique_id": uid,
        "model": group["model"].iloc[0],
        "stock": on_hand,
        "lead_time_demand": mu_l,
        "p_stockout": exceed_probability(mu_l, spread(lead_time), on_hand, kind),
        "reorder_point": rop,
        "safety_stock": rop - mu_l,
        "order_up_to": up_to,
        "suggested_order": max(0, math.ceil(up_to - on_hand - 1e-9)),
        "distribution": "normal" if smooth else "negative binomial / Poisson",
    }


def live_day_uplift(item_days: pd.DataFrame, min_daily_units: float = 3.0) -> dict:
    """Rate ratio of units on live-room days vs other days, with a 95 % interval (Poisson, fixed effects).

    Parameters
    ----------
    item_days : pandas.DataFrame
        ``item_id, category, ds, units, live`` for every item and day (zero days included).
    min_daily_units : float, default 3.0
        Items selling fewer units a day on average are left out (see the module notes).

    Returns
    -------
    dict
        ``uplift, low, high, p_value, items, item_days, live_days`` or, when there is nothing to
        compare, ``{"uplift": None, "reason": ...}``.
    """
    import statsmodels.api as sm

    require_columns(item_days, ["item_id", "category", "ds", "units", "live"], "item_days", "live_day_uplift")
    rate = item_days.groupby("item_id")["units"].transform("mean")
    frame = item_days[rate >= min_daily_units].copy()
    live_share = frame.groupby("item_id")["live"].transform("mean")
    off_days = frame[~frame["live"]]
    sells_off_live = (off_days["units"] > 0).groupby(off_days["item_id"]).mean()
    comparable = frame["item_id"].map(sells_off_live).fillna(0.0) >= MIN_OFF_LIVE_SELLING_SHARE
    frame = frame[(live_share > 0) & (live_share < 1) & comparable]
    if frame.empty or frame["item_id"].nunique() < 2:
        reason = (
            f"no two items sell {min_daily_units:g}+ units a day and also sell outside live rooms on at least "
            f"{MIN_OFF_LIVE_SELLING_SHARE:.0%} of their days without a broadcast (where nearly every sale is in a "
            "room, a day without a room is simply a day without sales, and the ratio would measure only that)"
        )
        return {"uplift": None, "reason": reason}
    design = _fixed_effects_design(frame)
    groups = pd.factorize(frame["item_id"])[0]
    fit = sm.GLM(frame["units"].to_numpy(dtype=float), design.to_numpy(), family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    beta, se = float(fit.params[1]), float(fit.bse[1])
    return {
        "uplift": float(np.exp(beta)),
        "low": float(np.exp(beta - Z95 * se)),
        "high": float(np.exp(beta + Z95 * se)),
        "p_value": float(fit.pvalues[1]),
        "items": int(frame["item_id"].nunique()),
        "item_days": len(frame),
        "live_days": int(frame["live"].sum()),
    }


def _fixed_effects_design(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns ``const, live``, item dummies (first item dropped) and category-by-week dummies without
    each category's first week (the item dummies already carry the category level: full rank)."""
    week = frame["ds"].dt.to_period("W").astype("str")
    cat_week = frame["category"].astype("str") + "|" + week
    first_week = week.groupby(frame["category"]).transform("min")
    items = pd.get_dummies(frame["item_id"], prefix="item", drop_first=True, dtype=float)
    weeks = pd.get_dummies(cat_week.where(week != first_week), prefix="week", dtype=float)
    design = pd.concat([items, weeks], axis=1)
    design.insert(0, "live", frame["live"].astype(float).to_numpy())
    design.insert(0, "const", 1.0)
    return design
