"""Fairness metrics against their references: fairlearn, scikit-learn, published values, dummy-variable OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from fairlearn.metrics import MetricFrame
from sklearn.metrics import ndcg_score

from lsc_utils import evaluation, fairness


def test_gini_reference_values() -> None:
    assert fairness.gini([0, 0, 1, 2, 7]) == pytest.approx(0.64)
    assert fairness.gini([1, 2, 7]) == pytest.approx(0.40)
    assert fairness.gini([3, 3, 3]) == 0.0 and fairness.gini([0, 0]) == 0.0


def test_calibration_kl_reference_values() -> None:
    history = np.array([0.7, 0.3])
    assert fairness.calibration_kl(history, [1.0, 0.0])[0] == pytest.approx(1.13398175, abs=1e-8)
    assert fairness.calibration_kl(history, [0.7, 0.3])[0] == pytest.approx(0.0, abs=1e-12)
    assert fairness.calibration_kl(history, [0.8, 0.2])[0] == pytest.approx(0.02754684, abs=1e-8)


def test_group_means_equal_fairlearn_metricframe_by_group() -> None:
    rng = np.random.default_rng(3)
    scores = pd.DataFrame({"ndcg": rng.random(300), "hit_rate": rng.integers(0, 2, 300).astype(float)})
    groups = pd.Series(rng.choice(["a", "b", "c"], 300))
    frame = fairness.group_means(scores, ["ndcg", "hit_rate"], groups)
    for metric in ("ndcg", "hit_rate"):
        reference = MetricFrame(
            metrics=lambda y_t, y_p: float(np.mean(y_t)),
            y_true=scores[metric].to_numpy(),
            y_pred=np.zeros(300),
            sensitive_features=groups.to_numpy(),
        )
        np.testing.assert_allclose(frame.by_group[metric].to_numpy(), reference.by_group.to_numpy(), atol=1e-12)
        expected = scores[metric].groupby(groups).mean()
        np.testing.assert_allclose(frame.by_group[metric].to_numpy(), expected.to_numpy(), atol=1e-12)


def test_per_user_ndcg_equals_sklearn_on_tie_free_scores() -> None:
    rng = np.random.default_rng(1)
    n_items, rows, truth = 30, [], []
    scores_matrix, relevance_matrix = [], []
    for u in range(20):
        score = rng.permutation(n_items).astype(float)  # tie-free
        relevant = rng.choice(n_items, size=4, replace=False)
        order = np.argsort(-score)[:10]
        rows += [{"user_id": f"u{u}", "item_id": f"i{i}", "rank": r + 1} for r, i in enumerate(order)]
        truth += [{"user_id": f"u{u}", "item_id": f"i{i}"} for i in relevant]
        relevance = np.zeros(n_items)
        relevance[relevant] = 1
        scores_matrix.append(score)
        relevance_matrix.append(relevance)
    per_user = evaluation.user_scores(pd.DataFrame(rows), pd.DataFrame(truth), k=10).set_index("user_id")
    for u in range(20):
        expected = ndcg_score([relevance_matrix[u]], [scores_matrix[u]], k=10)
        assert per_user.loc[f"u{u}", "ndcg"] == pytest.approx(expected, abs=1e-12)


def test_within_transformation_equals_dummy_variable_ols() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"item": rng.integers(0, 15, n), "day": rng.integers(0, 6, n), "g": rng.integers(0, 2, n)})
    frame["y"] = 0.05 * frame["g"] + 0.3 * frame["item"] / 15 - 0.1 * frame["day"] / 6 + rng.normal(0, 0.1, n)
    one_way = fairness.absorb(frame, ["y", "g"], ["item"])
    beta_within = float(np.linalg.lstsq(one_way[["g"]].to_numpy(), one_way["y"].to_numpy(), rcond=None)[0][0])
    dummies = pd.get_dummies(frame["item"], prefix="i", dtype=float)
    lsdv = sm.OLS(frame["y"], pd.concat([frame[["g"]].astype(float), dummies], axis=1)).fit()
    assert beta_within == pytest.approx(lsdv.params["g"], abs=1e-10)
    two_way = fairness.absorb(frame, ["y", "g"], ["item", "day"])
    beta_two = float(np.linalg.lstsq(two_way[["g"]].to_numpy(), two_way["y"].to_numpy(), rcond=None)[0][0])
    both = pd.concat([dummies, pd.get_dummies(frame["day"], prefix="d", drop_first=True, dtype=float)], axis=1)
    lsdv2 = sm.OLS(frame["y"], pd.concat([frame[["g"]].astype(float), both], axis=1)).fit()
    assert beta_two == pytest.approx(lsdv2.params["g"], abs=1e-10)


def test_price_gap_recovers_a_surcharge_hidden_by_cheaper_baskets() -> None:
    rng = np.random.default_rng(7)
    n_users, rows = 400, []
    for u in range(n_users):
        surcharged = u % 2
        for _ in range(8):
            item = rng.integers(0, 20) if surcharged else rng.integers(10, 30)  # the group buys cheaper items
            day = rng.integers(0, 10)
            price = (10 + 5 * item) * (1.05 if surcharged else 1.0) * np.exp(rng.normal(0, 0.02))
            rows.append({"user_id": u, "item_id": item, "day": day, "price": price, "g": surcharged})
    gap = fairness.price_gap(pd.DataFrame(rows), "g")
    assert gap["surcharge_low"] < 0.05 < gap["surcharge_high"] and gap["surcharge_low"] > 0
    assert gap["naive_gap"] < 0  # Simpson's paradox: the naive gap points the other way


def test_calibrated_rerank_never_raises_kl_as_lambda_grows_and_mmr_one_is_relevance_order() -> None:
    rng = np.random.default_rng(2)
    categories = np.array(list("aaaaaaabbbcccccddddd"))
    index = {c: j for j, c in enumerate("abcd")}
    history = np.array([0.4, 0.3, 0.2, 0.1])
    scores = np.sort(rng.random(categories.size))[::-1]
    previous = np.inf
    for lam in (0.0, 0.2, 0.5, 0.8, 0.95, 0.99):
        picks = fairness.calibrated_rerank(scores, categories, history, index, 10, lam)
        counts = np.bincount([index[c] for c in categories[picks]], minlength=4)
        kl = fairness.calibration_kl(history, counts / counts.sum())[0]
        assert kl <= previous + 1e-12
        previous = kl
    assert list(fairness.mmr_rerank(scores, categories, 10, 1.0)) == list(range(10))
    assert list(fairness.calibrated_rerank(scores, categories, history, index, 10, 0.0)) == list(range(10))


def _null_panel(rng: np.random.Generator, n_users: int = 300, lines: int = 6) -> pd.DataFrame:
    """Paid lines without any surcharge: the group buys cheaper items, every user has a persistent price
    level (so lines of one user are correlated and only user-clustered errors are honest)."""
    user = np.repeat(np.arange(n_users), lines)
    group = user % 3 == 0
    item = np.where(group, rng.integers(0, 25, user.size), rng.integers(10, 40, user.size))
    user_level = rng.normal(0, 0.05, n_users)[user]
    price = (10 + 5 * item) * np.exp(user_level + rng.normal(0, 0.03, user.size))
    return pd.DataFrame(
        {"user_id": user, "item_id": item, "day": rng.integers(0, 14, user.size), "price": price, "g": group}
    )


def test_price_gap_rejects_a_true_null_at_about_the_nominal_five_percent() -> None:
    trials = 200
    rejected = sum(
        fairness.price_gap(_null_panel(np.random.default_rng(s)), "g")["p_value"] < 0.05 for s in range(trials)
    )
    # binomial(200, 0.05): 95 % of runs fall in 5..16 rejections
    assert 0.02 <= rejected / trials <= 0.09, rejected


def test_within_group_bootstrap_keeps_small_groups_and_covers_a_known_gap() -> None:
    covered = 0
    trials = 120
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        values = np.concatenate([rng.normal(0.5, 0.2, 400), rng.normal(0.4, 0.2, 40)])
        groups = np.array(["big"] * 400 + ["small"] * 40)
        _, gaps = fairness.bootstrap_group_gaps(values, groups, n_boot=300, random_state=seed)
        _, low, high = gaps["worst_vs_rest"]
        covered += low <= -0.1 <= high
    assert 0.90 <= covered / trials <= 0.98


def test_selection_rates_four_fifths_and_fisher() -> None:
    groups = pd.Series(["a"] * 100 + ["b"] * 100)
    selected = np.r_[np.ones(50), np.zeros(50), np.ones(20), np.zeros(80)]
    table = fairness.selection_rates(selected, groups).set_index("group")
    assert table.loc["b", "ratio_to_best"] == pytest.approx(0.4) and not table.loc["b", "four_fifths_ok"]
    assert table.loc["b", "fisher_p"] < 1e-4 and table.loc["a", "four_fifths_ok"]


def test_exposure_counts_zero_exposure_items_and_head_shares() -> None:
    recs = pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["x", "y", "x"], "rank": [1, 2, 3]})
    exposure = fairness.item_exposure(recs, pd.Index(["x", "y", "z"]))
    assert exposure["z"] == 0.0 and exposure["x"] == pytest.approx(1.0 + 0.5)
    stats = fairness.concentration(exposure, pd.Series({"x": 10, "y": 5, "z": 5}))
    assert 0 < stats["gini_exposure"] < 1 and stats["top1_interaction_share"] == pytest.approx(0.5)


def test_exposure_by_model_separates_a_popularity_list_from_a_personal_one() -> None:
    catalogue = pd.Index([f"s{i}" for i in range(10)])
    viewers = pd.Series(np.arange(10, 0, -1), index=catalogue)  # s0 has the most viewers
    users = [f"u{i}" for i in range(10)]
    popular = pd.DataFrame({"model": "pop", "user_id": users, "item_id": "s0", "rank": 1})
    personal = pd.DataFrame({"model": "own", "user_id": users, "item_id": catalogue, "rank": 1})
    table = fairness.exposure_by_model(pd.concat([popular, personal]), catalogue, viewers, k=1).set_index("model")
    assert list(table.index) == ["pop", "own"]
    # all exposure on s0 (the top 10 % = one streamer with 10/55 of the viewers): amplification 5.5
    assert table.loc["pop", "top10_exposure_share"] == 1.0
    assert table.loc["pop", "amplification"] == pytest.approx(55 / 10)
    assert table.loc["pop", "coverage"] == 0.1 and table.loc["pop", "gini_exposure"] == pytest.approx(0.9)
    assert table.loc["own", "gini_exposure"] == 0.0 and table.loc["own", "coverage"] == 1.0
    assert table.loc["own", "amplification"] == pytest.approx(0.1 / (10 / 55))
    row = fairness.exposure_row(table.loc["pop"].to_dict(), "streamer", "viewers")
    assert (
        row["check"] == "streamer exposure"
        and row["verdict"] == "flag"
        and "streamers by viewers" in row["explanation"]
    )


def _rerank_lists_per_user(
    candidates: pd.DataFrame, history: pd.DataFrame, k: int, lam: float, method: str
) -> pd.DataFrame:
    """The former per-user loop of ``rerank_lists``: the reference its batched greedy steps must reproduce."""
    category_index = {c: j for j, c in enumerate(history.columns)}
    known = candidates[candidates["category"].isin(category_index)]
    rows = []
    for user, part in known.groupby("user_id", sort=True):
        scores = part["score"].to_numpy(dtype=float)
        spread = scores.max() - scores.min()
        relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        if method == "calibrated" and user in history.index:
            picks = fairness.calibrated_rerank(
                relevance, part["category"].to_numpy(), history.loc[user].to_numpy(), category_index, k, lam
            )
        else:
            picks = fairness.mmr_rerank(relevance, part["category"].to_numpy(), k, lam if method == "mmr" else 1.0)
        items = part["item_id"].to_numpy()[picks]
        rows.append(pd.DataFrame({"user_id": user, "item_id": items, "rank": np.arange(1, items.size + 1)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["user_id", "item_id", "rank"])


def test_rerank_lists_equals_the_per_user_greedy_re_ranking() -> None:
    rng = np.random.default_rng(9)
    n_users = 400
    sizes = rng.integers(1, 31, n_users)
    sizes[:20] = 1  # single candidate
    users = np.repeat([f"u{u:03d}" for u in rng.permutation(n_users)], sizes)  # rows not sorted by user
    n_rows = users.size
    scores = rng.random(n_rows)
    tied = rng.random(n_rows) < 0.4
    scores[tied] = rng.integers(0, 4, tied.sum()) / 4  # ties in scores
    flat = np.isin(users, [f"u{u:03d}" for u in range(20, 40)])
    scores[flat] = 0.25  # users whose scores are all equal
    candidates = pd.DataFrame(
        {
            "user_id": users,
            "item_id": [f"i{j}" for j in rng.integers(0, 2000, n_rows)],
            "score": scores,
            "category": rng.choice(list("abcdefgxy"), n_rows),  # x, y: not in the history
        }
    ).sample(frac=1.0, random_state=3, ignore_index=True)
    shares = rng.dirichlet(np.full(7, 0.5), n_users)
    shares[shares < 0.05] = 0.0
    history = pd.DataFrame(shares / shares.sum(axis=1, keepdims=True), columns=list("abcdefg"))
    history.index = [f"u{u:03d}" for u in range(n_users)]
    history = history.drop(index=[f"u{u:03d}" for u in range(0, n_users, 7)])  # users without history
    for method in ("calibrated", "mmr"):
        for lam in (0.0, 0.3, 1.0):
            pd.testing.assert_frame_equal(
                fairness.rerank_lists(candidates, history, 10, lam, method),
                _rerank_lists_per_user(candidates, history, 10, lam, method),
            )
    none_known = candidates.assign(category="x")
    pd.testing.assert_frame_equal(
        fairness.rerank_lists(none_known, history, 10, 0.5),
        _rerank_lists_per_user(none_known, history, 10, 0.5, "calibrated"),
    )
