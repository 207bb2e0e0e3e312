"""The planted customer-base process of the simulator: BG/NBD purchasing and Gamma-Gamma spend.

The simulator (:mod:`lsc_utils.simulate`) draws every purchase of a human user from the generative
process of the BG/NBD model (Fader, Hardie & Lee 2005) and the value of every purchase from the
Gamma-Gamma model (Fader & Hardie 2013), so that notebook 02 can be checked against known
parameters:

* a share of each segment are *customers* (:data:`CUSTOMER_SHARE`); the others never buy;
* a customer makes a first (trial) purchase at a uniform time in the first
  :data:`FIRST_PURCHASE_WINDOW` of the simulated period, independent of everything else;
* while alive, repeat purchases follow a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
  per day (shape ``r``, rate ``alpha``); after every repeat purchase the customer drops out with
  probability ``p ~ Beta(a, b)`` and buys nothing more (browsing goes on);
* the value of every purchase is ``z ~ Gamma(p_gg, nu)`` with ``nu ~ Gamma(q_gg, v)`` per customer.

Segments shape *who* gets the large rates and the large spend without changing the population
distributions: the Gamma draws of all customers are handed out by rank of a segment-shifted normal
score (a rank copula), so the set of rates is an i.i.d. Gamma(r, alpha) sample whatever the segment
mix, and impulse buyers and loyal fans hold more of the high rates while big spenders hold more of
the high spend. Rates and spend are shifted for different segments (a segment shifts at most one of
them), and the drop-out probabilities are handed out at random, so rate, drop-out and spend are
nearly uncorrelated (|correlation| below 0.05), as both models assume.

Purchase times follow the intensity ``lambda * h(t)``, where ``h`` is a von Mises profile of the
time of day around the user's peak hour with mean 1 over every day: purchases come at the hours
the user is active, and over whole days the expected count is ``lambda`` per day, as BG/NBD assumes.
A *transaction* in the sense of the models is a shopping session with at least one payment, timed
at its first payment (:func:`lsc_utils.portraits.summarize_transactions` with
``transaction="session"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BGNBD_TRUTH: dict[str, float] = {"r": 2.0, "alpha": 10.0, "a": 1.2, "b": 3.6}
"""Planted BG/NBD parameters (time unit: days): mean rate r / alpha = 0.2 purchases per day,
mean drop-out probability a / (a + b) = 0.25 after each repeat purchase."""

GAMMA_GAMMA_TRUTH: dict[str, float] = {"p": 6.0, "q": 4.0, "v": 120.0}
"""Planted Gamma-Gamma parameters: mean spend per transaction p * v / (q - 1) = 240."""

FIRST_PURCHASE_WINDOW: float = 1.0 / 3.0
"""Share of the simulated period (from its start) in which customers make their first purchase."""

HOUR_CONCENTRATION: float = 4.0
"""Von Mises concentration of purchase times around the user's peak hour (0 = any hour)."""

CUSTOMER_SHARE: dict[str, float] = {
    "bargain_hunter": 0.95,
    "loyal_fan": 0.95,
    "impulse_buyer": 0.98,
    "window_shopper": 0.12,
    "big_spender": 0.98,
}
"""Share of each segment's users who become customers during the period."""

RATE_SHIFT: dict[str, float] = {
    "bargain_hunter": 0.0,
    "loyal_fan": 0.5,
    "impulse_buyer": 1.0,
    "window_shopper": -1.0,
    "big_spender": 0.0,
}
"""Shift of the normal score that ranks customers for the purchase rates (higher: faster buyers)."""

SPEND_SHIFT: dict[str, float] = {
    "bargain_hunter": -0.8,
    "loyal_fan": 0.0,
    "impulse_buyer": 0.0,
    "window_shopper": 0.0,
    "big_spender": 3.0,
}
"""Shift of the normal score that ranks customers for the spend per purchase (higher: spends more)."""

MAX_DISCOUNT: float = 0.9
"""Largest realised discount when an order's paid price is fitted to its planned spend."""


@dataclass
class CustomerLatents:
    """Latent purchase traits of every user (zeros for non-customers and bots).

    Attributes
    ----------
    is_customer : ndarray of bool
    rate : ndarray of float
        Purchase rate per day while alive (lambda).
    dropout : ndarray of float
        Drop-out probability after each repeat purchase (p).
    spend_rate : ndarray of float
        Gamma-Gamma rate nu; the mean spend per purchase is ``p_gg / nu``.
    first_day : ndarray of float
        Time of the first purchase in days from the start of the period (NaN for non-customers).
    """

    is_customer: np.ndarray
    rate: np.ndarray
    dropout: np.ndarray
    spend_rate: np.ndarray
    first_day: np.ndarray


def rank_assign(values: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Hand ``values`` out so that the largest value goes to the largest score (a rank copula).

    The multiset of values is unchanged, so their distribution is exactly that of the draws.
    """
    out = np.empty_like(values)
    out[np.argsort(scores, kind="stable")] = np.sort(values, kind="stable")
    return out


def draw_customer_latents(
    segment: np.ndarray, segments: Sequence[str], n_days: int, rng: np.random.Generator
) -> CustomerLatents:
    """Draw the customer flag, purchase rate, drop-out probability, spend rate and first purchase time.

    Parameters
    ----------
    segment : ndarray of int
        Segment code of every user (-1 for bots, who never buy).
    segments : sequence of str
        Segment names in code order.
    n_days : int
        Length of the simulated period.
    rng : numpy.random.Generator
    """
    n = segment.size
    seg = np.maximum(segment, 0)
    share = np.array([CUSTOMER_SHARE[s] for s in segments])[seg]
    is_customer = (segment >= 0) & (rng.random(n) < share)
    idx = np.flatnonzero(is_customer)
    m = idx.size
    bg, gg = BGNBD_TRUTH, GAMMA_GAMMA_TRUTH
    rate_shift = np.array([RATE_SHIFT[s] for s in segments])[seg[idx]]
    spend_shift = np.array([SPEND_SHIFT[s] for s in segments])[seg[idx]]
    rate, dropout, spend_rate = np.zeros(n), np.zeros(n), np.zeros(n)
    rate[idx] = rank_assign(rng.gamma(bg["r"], 1.0 / bg["alpha"], m), rate_shift + rng.standard_normal(m))
    dropout[idx] = rng.beta(bg["a"], bg["b"], m)
    # nu is a rate: the biggest spenders get the smallest nu
    spend_rate[idx] = rank_assign(rng.gamma(gg["q"], 1.0 / gg["v"], m), -(spend_shift + rng.standard_normal(m)))
    first_day = np.full(n, np.nan)
    first_day[idx] = rng.random(m) * FIRST_PURCHASE_WINDOW * n_days
    return CustomerLatents(is_customer, rate, dropout, spend_rate, first_day)


def _hour_profile(hours: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Von Mises time-of-day profile with mean 1 over a day."""
    angle = 2.0 * np.pi * (hours - peak) / 24.0
    return np.exp(HOUR_CONCENTRATION * np.cos(angle)) / np.i0(HOUR_CONCENTRATION)


def _profile_hour(peak: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time of day (hours) drawn from the profile around ``peak``."""
    return np.mod(peak + rng.vonmises(0.0, HOUR_CONCENTRATION, peak.size) * 24.0 / (2.0 * np.pi), 24.0)


@dataclass
class PurchaseDraws:
    """Purchases of a group of customers: one row per purchase, plus per-customer outcomes."""

    customer: np.ndarray
    """Position (in the input arrays) of the customer of every purchase."""
    day: np.ndarray
    """Time of every purchase in days from the start of the period."""
    dropout_day: np.ndarray
    """Per customer: time of the purchase after which they dropped out (NaN: alive at the end)."""


def draw_purchase_times(
    rate: np.ndarray,
    dropout: np.ndarray,
    first_day: np.ndarray,
    peak_hour: np.ndarray,
    n_days: int,
    rng: np.random.Generator,
) -> PurchaseDraws:
    """Draw the purchase times of customers in ``[0, n_days)`` (days) by thinning.

    Candidates come at rate ``lambda * max(h)``; a candidate at time ``t`` is kept with probability
    ``h(t) / max(h)``, which gives the intensity ``lambda * h(t)``. The trial purchase is on its
    day ``floor(first_day)`` at an hour drawn from the profile. After every kept repeat purchase the
    customer drops out with probability ``p``.
    """
    n = rate.size
    top = np.exp(HOUR_CONCENTRATION) / np.i0(HOUR_CONCENTRATION)
    t = np.floor(first_day) + _profile_hour(peak_hour, rng) / 24.0
    customers: list[np.ndarray] = []
    days: list[np.ndarray] = []
    dropout_day = np.full(n, np.nan)
    active = np.flatnonzero(t < n_days)
    customers.append(active)
    days.append(t[active])
    active = active[rate[active] > 0]
    while active.size:
        t[active] += rng.exponential(1.0, active.size) / (rate[active] * top)
        active = active[t[active] < n_days]
        hours = np.mod(t[active], 1.0) * 24.0
        kept = rng.random(active.size) * top < _hour_profile(hours, peak_hour[active])
        bought = active[kept]
        customers.append(bought)
        days.append(t[bought])
        drops = bought[rng.random(bought.size) < dropout[bought]]
        dropout_day[drops] = t[drops]
        active = np.setdiff1d(active, drops, assume_unique=True)
    customer = np.concatenate(customers)
    day = np.concatenate(days)
    order = np.lexsort((day, customer))
    return PurchaseDraws(customer[order], day[order], dropout_day)


def purchase_probabilities(matrices: np.ndarray, pay_state: int) -> np.ndarray:
    """Probability that a session of each segment's chain reaches ``pay`` (START = state 0, END = last).

    Solves ``h = P h`` with ``h(pay) = 1`` and ``h(END) = 0`` for every segment.
    """
    n_seg, n, _ = matrices.shape
    out = np.empty(n_seg)
    for s in range(n_seg):
        system = np.eye(n) - matrices[s]
        rhs = np.zeros(n)
        for absorbing in (pay_state, n - 1):
            system[absorbing] = 0.0
            system[absorbing, absorbing] = 1.0
        rhs[pay_state] = 1.0
        out[s] = np.linalg.solve(system, rhs)[0]
    return out


def random_round(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round to integers up or down at random so that the expectation is unchanged."""
    low = np.floor(values)
    return (low + (rng.random(values.shape) < values - low)).astype(np.int64)


def split_spend(spend: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split each group's spend over its members with uniform Dirichlet weights (sums are exact).

    Parameters
    ----------
    spend : ndarray
        Spend of every group.
    groups : ndarray of int
        Group of every member (sorted or not); every group has at least one member.
    """
    weight = rng.exponential(1.0, groups.size)
    total = np.bincount(groups, weights=weight, minlength=spend.size)
    return spend[groups] * weight / total[groups]


PRICE_WINDOW: float = 1.3
"""A paid order's item is drawn by popularity among the items priced up to this factor above its budget."""


def match_items_to_budget(
    budget: np.ndarray,
    category: np.ndarray,
    item_category: np.ndarray,
    item_price: np.ndarray,
    popularity: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """An item of ``category`` priced at or a little above each ``budget``, drawn by popularity.

    Candidates are the items of the category with a list price in ``[budget, PRICE_WINDOW * budget]``,
    drawn in proportion to ``popularity`` (so bestsellers stay bestsellers); paying the budget for one
    takes a discount at least as deep as planned. Without a candidate the cheapest item at or above
    the budget is taken (the dearest when the budget is above every price); a budget below the
    cheapest item of the category is matched in the whole catalogue instead (an order does not take
    a 90 % discount on jewellery to fit a small budget).
    """
    n_cat = int(item_category.max()) + 1
    category = category.copy()
    cheapest = np.full(n_cat, np.inf)
    np.minimum.at(cheapest, item_category, item_price)
    too_small = budget < cheapest[category]
    # the whole catalogue is one more "category" (code n_cat)
    all_category = np.concatenate([item_category, np.full(item_category.size, n_cat)])
    all_price = np.concatenate([item_price, item_price])
    all_weight = np.concatenate([popularity, popularity])
    all_item = np.concatenate([np.arange(item_price.size), np.arange(item_price.size)])
    category[too_small] = n_cat
    order = np.lexsort((all_price, all_category))
    sorted_cat, sorted_price = all_category[order], all_price[order]
    first = np.searchsorted(sorted_cat, np.arange(n_cat + 1), side="left")
    last = np.searchsorted(sorted_cat, np.arange(n_cat + 1), side="right") - 1
    key = sorted_cat * 100.0 + np.log(sorted_price)
    target = category * 100.0 + np.log(np.maximum(budget, 1e-6))
    low = np.searchsorted(key, target, side="left")
    high = np.searchsorted(key, target + np.log(PRICE_WINDOW), side="right")
    fallback = np.clip(low, first[category], last[category])
    cum = np.concatenate(([0.0], np.cumsum(all_weight[order])))
    has_window = high > low
    u = cum[low] + rng.random(budget.size) * (cum[np.maximum(high, low)] - cum[low])
    drawn = np.clip(np.searchsorted(cum, u, side="right") - 1, low, np.maximum(high - 1, low))
    pick = np.where(has_window, drawn, fallback)
    return all_item[order[pick]]


def realised_discount(paid_target: np.ndarray, list_price: np.ndarray, surcharge: np.ndarray) -> np.ndarray:
    """Discount that makes ``list_price * (1 - d) * (1 + surcharge)`` equal the target unit price."""
    return np.clip(1.0 - paid_target / (list_price * (1.0 + surcharge)), 0.0, MAX_DISCOUNT)


def customer_base_truth(n_days: int) -> dict[str, Any]:
    """The planted customer-base parameters as written to ``truth/clv.yaml``."""
    return {
        "model": "BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013)",
        "time_unit": "D",
        "bgnbd": dict(BGNBD_TRUTH),
        "gamma_gamma": dict(GAMMA_GAMMA_TRUTH),
        "transaction": "a session with at least one pay event, timed at its first pay; value = sum of its pays",
        "first_purchase_window_days": FIRST_PURCHASE_WINDOW * n_days,
        "customer_share": dict(CUSTOMER_SHARE),
        "rate_shift": dict(RATE_SHIFT),
        "spend_shift": dict(SPEND_SHIFT),
        "hour_concentration": HOUR_CONCENTRATION,
        "notes": [
            "rates, drop-out probabilities and spend rates are i.i.d. draws of the stated distributions, "
            "handed out to customers by a segment-shifted rank (rates, spend) or at random (drop-out)",
            "dropped-out customers keep browsing but never pay again",
            "paid unit price = list_price * (1 - discount) * (1 + surcharge); the item and the discount of a "
            "paid order are chosen so that the session's payments add up to its planted spend",
        ],
    }


def expected_mixture_counts(purchases: np.ndarray, q: Mapping[int, float] | np.ndarray) -> np.ndarray:
    """Browsing sessions that keep a segment's sessions paying at the chain's own rate ``q``.

    With ``P`` purchase sessions (walks that reach ``pay``), ``P (1 - q) / q`` sessions that do not
    make the mix of walks the same as unconditioned walks of the chain, so transition counts
    estimate the planted chain without bias.
    """
    q = np.asarray(q, dtype=float)
    return purchases * (1.0 - q) / q
