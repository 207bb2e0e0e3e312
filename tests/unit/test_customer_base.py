"""The simulator's planted customer-base process: BG/NBD purchasing and Gamma-Gamma spend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lsc_utils import portraits
from lsc_utils.simulate import MARKOV_STATES, SEGMENTS, build_transition_matrices, walk_markov_chains
from lsc_utils.simulate.customer_base import (
    BGNBD_TRUTH,
    GAMMA_GAMMA_TRUTH,
    draw_customer_latents,
    draw_purchase_times,
    match_items_to_budget,
    purchase_probabilities,
    random_round,
    rank_assign,
    realised_discount,
    split_spend,
)


def test_rank_assign_keeps_the_values_and_follows_the_scores() -> None:
    rng = np.random.default_rng(0)
    values, scores = rng.gamma(2.0, 1.0, 500), rng.normal(size=500)
    out = rank_assign(values, scores)
    np.testing.assert_array_equal(np.sort(out), np.sort(values))
    assert np.corrcoef(np.argsort(np.argsort(out)), np.argsort(np.argsort(scores)))[0, 1] == pytest.approx(1.0)


def test_latents_are_the_planted_distributions_whatever_the_segment_mix() -> None:
    rng = np.random.default_rng(1)
    segment = rng.integers(-1, len(SEGMENTS), 60_000)
    latents = draw_customer_latents(segment, SEGMENTS, 56, rng)
    assert not latents.is_customer[segment < 0].any()
    c = latents.is_customer
    rate, dropout, nu = latents.rate[c], latents.dropout[c], latents.spend_rate[c]
    r, alpha, a, b = (BGNBD_TRUTH[k] for k in ("r", "alpha", "a", "b"))
    assert rate.mean() == pytest.approx(r / alpha, rel=0.02) and rate.var() == pytest.approx(r / alpha**2, rel=0.06)
    assert dropout.mean() == pytest.approx(a / (a + b), rel=0.02)
    assert nu.mean() == pytest.approx(GAMMA_GAMMA_TRUTH["q"] / GAMMA_GAMMA_TRUTH["v"], rel=0.02)
    # rate, drop-out and spend are (nearly) uncorrelated, as BG/NBD and Gamma-Gamma assume: drop-out is
    # handed out at random; rate and spend ranks are shifted in different segments (|corr| ~0.035 here)
    for x, y in ((rate, dropout), (rate, nu), (dropout, nu)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.05
    # impulse buyers hold more of the high rates, big spenders more of the high spend
    seg = segment[c]
    assert rate[seg == SEGMENTS.index("impulse_buyer")].mean() > 1.3 * rate.mean()
    assert (1 / nu[seg == SEGMENTS.index("big_spender")]).mean() > 1.5 * (1 / nu).mean()
    assert (latents.first_day[c] < 56 / 3).all() and np.isnan(latents.first_day[~c]).all()


def test_purchase_times_follow_bgnbd_and_the_model_recovers_the_parameters() -> None:
    """Times drawn by thinning with a time-of-day profile: BG/NBD fitted on exact times finds the truth."""
    rng = np.random.default_rng(2)
    n, days, cal = 4000, 56, 37.0
    segment = np.full(n, SEGMENTS.index("bargain_hunter"))
    lat = draw_customer_latents(segment, SEGMENTS, days, rng)
    idx = np.flatnonzero(lat.is_customer)
    draws = draw_purchase_times(lat.rate[idx], lat.dropout[idx], lat.first_day[idx], np.full(idx.size, 20.0), days, rng)
    frame = pd.DataFrame({"c": draws.customer, "t": draws.day})
    assert frame.groupby("c")["t"].is_monotonic_increasing.all()
    assert (np.mod(frame["t"], 1) * 24).between(17, 23).mean() > 0.4  # around the peak hour 20:00
    cal_frame = frame[frame["t"] < cal]
    g = cal_frame.groupby("c")["t"]
    x, first, last = g.size() - 1, g.min(), g.max()
    model = portraits.BetaGeoModel().fit(x, last - first, cal - first)
    for name, value in BGNBD_TRUTH.items():
        assert abs(model.params_[name] - value) <= 3 * model.standard_errors_[name], (name, model.params_)


def test_purchase_probabilities_equal_monte_carlo_walks() -> None:
    matrices = build_transition_matrices()
    q = purchase_probabilities(matrices, MARKOV_STATES.index("pay"))
    cumulative = np.cumsum(matrices, axis=2)
    cumulative[:, :-1, -1] = 1.0
    rng = np.random.default_rng(3)
    segs = np.repeat(np.arange(len(SEGMENTS)), 20_000)
    states, lengths = walk_markov_chains(cumulative, segs, rng)
    owner = np.repeat(np.arange(segs.size), lengths)
    pays = np.zeros(segs.size, dtype=bool)
    pays[owner[states == MARKOV_STATES.index("pay")]] = True
    for s in range(len(SEGMENTS)):
        observed = pays[segs == s].mean()
        assert abs(observed - q[s]) < 4 * np.sqrt(q[s] * (1 - q[s]) / 20_000), (SEGMENTS[s], observed, q[s])


def test_spend_split_rounding_and_item_matching() -> None:
    rng = np.random.default_rng(4)
    spend = np.array([100.0, 50.0, 7.0])
    groups = np.array([0, 0, 1, 2, 2, 2])
    parts = split_spend(spend, groups, rng)
    np.testing.assert_allclose(np.bincount(groups, weights=parts), spend)
    assert random_round(np.full(100_000, 2.3), rng).mean() == pytest.approx(2.3, abs=0.01)
    item_category = np.array([0, 0, 0, 1, 1, 1])
    item_price = np.array([10.0, 20.0, 40.0, 100.0, 300.0, 310.0])
    popularity = np.array([1.0, 1.0, 1.0, 1.0, 3.0, 1.0])
    budgets = np.array([19.0, 33.0, 1.0, 1000.0, 170.0, 50.0])
    got = match_items_to_budget(budgets, np.array([0, 0, 0, 1, 1, 1]), item_category, item_price, popularity, rng)
    # 19 -> 20 and 33 -> 40 (in the window); 1 -> cheapest overall;
    # 1000 -> dearest of its category; 170 -> 300 (nothing in the window); 50 (below category 1) -> 100 overall
    np.testing.assert_array_equal(got, [1, 2, 0, 5, 4, 3])
    many = match_items_to_budget(
        np.full(4000, 295.0), np.ones(4000, dtype=np.int64), item_category, item_price, popularity, rng
    )
    assert set(many) == {4, 5} and (many == 4).mean() == pytest.approx(0.75, abs=0.03)  # by popularity
    d = realised_discount(np.array([90.0, 200.0, 1.0]), np.array([100.0, 100.0, 100.0]), np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(d, [0.1, 0.0, 0.9])
