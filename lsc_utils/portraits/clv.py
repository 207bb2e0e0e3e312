"""Customer-lifetime value from BG/NBD x Gamma-Gamma, high-value users and fit diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from lsc_utils.portraits._input import DAYS_PER_MONTH, UNIT_DAYS, ArrayLike
from lsc_utils.portraits.bgnbd import BetaGeoModel, GammaGammaModel

# ---------------------------------------------------------------------------------------------
# CLV and high-value users
# ---------------------------------------------------------------------------------------------


def describe_fit(
    model: BetaGeoModel | GammaGammaModel, planted: Mapping[str, float] | None = None, digits: int = 4
) -> pd.DataFrame:
    """Fitted parameters at the precision the optimiser delivers, beside planted values when known.

    Estimates and standard errors are rounded to ``digits`` significant digits (a maximum-likelihood
    optimum found from the same data agrees across machines to far more digits, while the likelihood
    surface limits what is meaningful). A parameter is ``identified`` when its standard error is
    finite and smaller than the estimate; one that is not (the optimum sits at the edge of the
    parameter space, e.g. no drop-out in the data) is a finding, not a number to rely on.

    Parameters
    ----------
    model : BetaGeoModel or GammaGammaModel
        A fitted model.
    planted : mapping, optional
        True parameter values (simulated data): adds ``planted``, ``z`` (estimate - planted in standard
        errors) and ``relative_error``.
    digits : int
        Significant digits of the shown estimates.

    Returns
    -------
    DataFrame
        Indexed by parameter name.
    """
    if not hasattr(model, "params_"):
        raise AttributeError(f"This {type(model).__name__} is not fitted yet: call fit first.")

    def rounded(value: float) -> float:
        return float(f"{value:.{digits}g}") if np.isfinite(value) else float("nan")

    names = list(model.params_)
    estimate = np.array([model.params_[n] for n in names])
    se = np.array([model.standard_errors_.get(n, np.nan) for n in names], dtype=float)
    out = pd.DataFrame(
        {
            "estimate": [rounded(v) for v in estimate],
            "standard_error": [rounded(v) for v in se],
            "identified": np.isfinite(se) & (se < estimate),
        },
        index=pd.Index(names, name="parameter"),
    )
    if planted is not None:
        truth = np.array([float(planted[n]) for n in names])
        out["planted"] = truth
        out["z"] = np.round((estimate - truth) / se, 2)
        out["relative_error"] = np.round(estimate / truth - 1.0, 3)
    return out


def customer_lifetime_value(
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    unit: Literal["D", "W", "M"] = "W",
    margin: float = 1.0,
    periods_per_month: float | None = None,
) -> np.ndarray | pd.Series:
    """Discounted expected value over the next ``horizon_months`` months.

    ``CLV = margin * E[spend | x, m] * sum_{k=1..H} (E[Y(k P)] - E[Y((k-1) P)]) / (1 + d)^k`` where
    ``E[Y(t)]`` is the BG/NBD conditional expectation, ``P`` the model time units in a month
    (``365.25/12`` days expressed in ``unit``, or ``periods_per_month``) and ``d`` the monthly
    discount rate. This is the discounting of ``lifetimes`` (which uses 30 days or 4.345 weeks a
    month: pass ``periods_per_month`` to reproduce it).

    Parameters
    ----------
    transaction_model : BetaGeoModel
        Fitted BG/NBD model (same time unit as recency and T).
    spend_model : GammaGammaModel
        Fitted Gamma-Gamma model.
    frequency, recency, T, monetary_value : array-like
        Calibration summary (see :func:`summarize_transactions`).
    horizon_months : int
    discount_rate : float
        Monthly discount rate (0.01 is about 12.7 % a year).
    unit : {"D", "W", "M"}
        Time unit of recency and T.
    margin : float
        Profit margin applied to spend.
    periods_per_month : float, optional
        Override of the units per month.

    Returns
    -------
    ndarray, or Series with the index of ``frequency`` when that is a Series.
    """
    if not isinstance(horizon_months, int | np.integer) or horizon_months < 1:
        raise ValueError(f"The 'horizon_months' parameter must be an int >= 1. Got {horizon_months!r} instead.")
    if discount_rate <= -1:
        raise ValueError(f"The 'discount_rate' parameter must be > -1. Got {discount_rate} instead.")
    if unit not in UNIT_DAYS:
        raise ValueError(f"The 'unit' parameter must be one of {list(UNIT_DAYS)}. Got {unit!r} instead.")
    per_month = periods_per_month if periods_per_month is not None else DAYS_PER_MONTH / UNIT_DAYS[unit]
    x = np.asarray(frequency, dtype=float)[:, None]
    t_x = np.asarray(recency, dtype=float)[:, None]
    big_t = np.asarray(T, dtype=float)[:, None]
    months = np.arange(horizon_months + 1, dtype=float)[None, :]
    cumulative = transaction_model.predict_purchases(months * per_month, x, t_x, big_t)
    per_month_purchases = np.diff(cumulative, axis=1)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon_months + 1, dtype=float)
    spend = spend_model.conditional_expected_average_profit(frequency, monetary_value)
    clv = margin * spend * (per_month_purchases @ discount)
    if isinstance(frequency, pd.Series):
        return pd.Series(clv, index=frequency.index, name="clv")
    return clv


def score_customers(
    summary: pd.DataFrame,
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Per-customer P(alive), expected purchases and spend over the horizon, and CLV.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_transactions` (its ``attrs["unit"]`` sets the time unit).

    Returns
    -------
    DataFrame
        ``p_alive``, ``expected_purchases`` (next ``horizon_months``), ``expected_spend`` (mean per
        transaction), ``clv`` (discounted), indexed like ``summary`` and sorted by CLV (descending).
    """
    unit = summary.attrs.get("unit", "W")
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    horizon = horizon_months * DAYS_PER_MONTH / UNIT_DAYS[unit]
    out = pd.DataFrame(index=summary.index)
    out["p_alive"] = transaction_model.probability_alive(x, t_x, big_t)
    out["expected_purchases"] = transaction_model.predict_purchases(horizon, x, t_x, big_t)
    out["expected_spend"] = spend_model.conditional_expected_average_profit(x, summary["monetary_value"])
    out["clv"] = customer_lifetime_value(
        transaction_model,
        spend_model,
        x,
        t_x,
        big_t,
        summary["monetary_value"],
        horizon_months,
        discount_rate,
        unit,
        margin,
    )
    return out.sort_values("clv", ascending=False, kind="stable")


def score_customer_value(
    summary: pd.DataFrame,
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel | None,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> tuple[pd.DataFrame, str]:
    """Score customers by CLV when spend can be modelled, else by expected purchases.

    The Gamma-Gamma spend model needs repeat customers with prices and a finite mean spend
    (``q > 1``); without it the money value of a customer is unknown, and the honest ranking is
    by the BG/NBD expected number of purchases over the same horizon.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_transactions` (its ``attrs["unit"]`` sets the time unit).
    transaction_model : BetaGeoModel
        Fitted on ``summary``.
    spend_model : GammaGammaModel or None
        Fitted on the repeat customers of ``summary``; None when it could not be fitted.
    horizon_months, discount_rate
        As in :func:`score_customers`.

    Returns
    -------
    tuple
        The scores (as :func:`score_customers`; ``expected_spend`` and ``clv`` null in the fallback)
        and the name of the column to rank by: ``"clv"`` or ``"expected_purchases"``.
    """
    if spend_model is not None and spend_model.params_["q"] > 1:
        return score_customers(summary, transaction_model, spend_model, horizon_months, discount_rate), "clv"
    unit = summary.attrs.get("unit", "W")
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    horizon = horizon_months * DAYS_PER_MONTH / UNIT_DAYS[unit]
    scores = pd.DataFrame(
        {
            "p_alive": transaction_model.probability_alive(x, t_x, big_t),
            "expected_purchases": transaction_model.predict_purchases(horizon, x, t_x, big_t),
        },
        index=summary.index,
    ).assign(expected_spend=np.nan, clv=np.nan)
    return scores, "expected_purchases"


def compare_calibration_holdout(
    transaction_model: BetaGeoModel, summary: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual vs expected holdout purchases grouped by calibration frequency (FHL 2005a, Fig. 4).

    Parameters
    ----------
    transaction_model : BetaGeoModel
        Fitted on the calibration columns of ``summary``.
    summary : DataFrame
        :func:`summarize_transactions` output with ``observation_end`` (holdout columns).
    max_frequency : int
        Frequencies above are pooled into the last group (labelled ``"7+"`` by default).

    Returns
    -------
    DataFrame
        ``frequency`` (label), ``n_customers``, ``actual``, ``expected`` (means per customer).
    """
    needed = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    missing = [c for c in needed if c not in summary]
    if missing:
        raise ValueError(
            f"compare_calibration_holdout needs summary columns {missing}: call summarize_transactions with observation_end."
        )
    expected = transaction_model.predict_purchases(
        summary["duration_holdout"], summary["frequency"], summary["recency"], summary["T"]
    )
    bucket = np.minimum(summary["frequency"].to_numpy(), max_frequency)
    frame = pd.DataFrame(
        {"bucket": bucket, "actual": summary["frequency_holdout"].to_numpy(dtype=float), "expected": expected}
    )
    table = frame.groupby("bucket", sort=True).agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean")
    )
    labels = [str(int(b)) if b < max_frequency else f"{max_frequency}+" for b in table.index]
    return table.reset_index(drop=True).assign(frequency=labels)[["frequency", "n_customers", "actual", "expected"]]


@dataclass
class HighValueUsers:
    """Top customers by predicted CLV.

    Attributes
    ----------
    table : DataFrame
        All customers ranked by CLV: ``rank``, ``clv``, ``cum_clv_share``, ``revenue``,
        ``cum_revenue_share`` and ``is_top``.
    n_top : int
        Customers in the top group.
    clv_share : float
        Share of total predicted CLV carried by the top group.
    revenue_share : float
        Share of historical revenue carried by the top group (NaN without revenue).
    """

    table: pd.DataFrame
    n_top: int
    clv_share: float
    revenue_share: float


def rank_high_value_users(
    clv: pd.Series, revenue: pd.Series | None = None, top_fraction: float = 0.1
) -> HighValueUsers:
    """Rank customers by predicted CLV and measure what the top ``top_fraction`` carries.

    Parameters
    ----------
    clv : Series
        Predicted CLV indexed by user id.
    revenue : Series, optional
        Historical revenue per user id (e.g. portraits' ``monetary``); missing users count as 0.
    top_fraction : float
        Share of customers in the top group (rounded up to at least one customer).

    Returns
    -------
    HighValueUsers
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"The 'top_fraction' parameter must be in (0, 1]. Got {top_fraction} instead.")
    ranked = clv.astype(float).sort_values(ascending=False, kind="stable")
    n_top = max(1, int(np.ceil(top_fraction * len(ranked))))
    table = pd.DataFrame({"rank": np.arange(1, len(ranked) + 1), "clv": ranked.to_numpy()}, index=ranked.index)
    table["cum_clv_share"] = table["clv"].cumsum() / table["clv"].sum()
    if revenue is not None:
        rev = revenue.astype(float).reindex(ranked.index).fillna(0.0)
        table["revenue"] = rev.to_numpy()
        total = float(rev.sum())
        table["cum_revenue_share"] = table["revenue"].cumsum() / total if total > 0 else np.nan
    else:
        table["revenue"] = np.nan
        table["cum_revenue_share"] = np.nan
    table["is_top"] = table["rank"] <= n_top
    return HighValueUsers(
        table=table,
        n_top=n_top,
        clv_share=float(table["cum_clv_share"].iloc[n_top - 1]),
        revenue_share=float(table["cum_revenue_share"].iloc[n_top - 1]) if revenue is not None else float("nan"),
    )


def person_versus_accounts(
    person_value: pd.Series, account_value: pd.Series, account_person: pd.Series, top_fraction: float = 0.1
) -> tuple[dict[str, float | int], pd.DataFrame]:
    """How a value score changes when a customer is a person rather than one of their accounts.

    Parameters
    ----------
    person_value : pandas.Series
        Value per person (e.g. CLV), indexed by person id.
    account_value : pandas.Series
        The same score fitted on the account view, indexed by account id.
    account_person : pandas.Series
        Person of every account (index: account id).
    top_fraction : float, default 0.1
        Share of customers in the high-value group of each view.

    Returns
    -------
    summary : dict
        ``persons``, ``accounts`` (customers counted in each view), ``multi_account_persons`` (persons whose
        value is spread over 2+ accounts), ``median_best_account_share`` (for those: share of the person's
        value their best account carries, on the account model), ``top_persons_missed`` (share of the
        person-view high-value group none of whose accounts is in the account-view high-value group).
    table : pandas.DataFrame
        Per person: ``person_value``, ``accounts``, ``best_account_value``, ``sum_account_value``.
    """
    owner = account_person.reindex(account_value.index)
    grouped = account_value.groupby(owner)
    table = pd.DataFrame(
        {
            "person_value": person_value,
            "accounts": grouped.size(),
            "best_account_value": grouped.max(),
            "sum_account_value": grouped.sum(),
        }
    ).dropna(subset=["person_value"])
    table["accounts"] = table["accounts"].fillna(0).astype(int)
    multi = table[table["accounts"] >= 2]
    top_persons = person_value.nlargest(max(1, round(top_fraction * len(person_value)))).index
    top_accounts = account_value.nlargest(max(1, round(top_fraction * len(account_value)))).index
    reached = set(owner.reindex(top_accounts).dropna())
    summary: dict[str, float | int] = {
        "persons": len(person_value),
        "accounts": len(account_value),
        "multi_account_persons": len(multi),
        "median_best_account_share": float((multi["best_account_value"] / multi["sum_account_value"]).median())
        if len(multi)
        else float("nan"),
        "top_persons_missed": float(np.mean([p not in reached for p in top_persons])),
    }
    return summary, table
