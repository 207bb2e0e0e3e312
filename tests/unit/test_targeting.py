"""Targeting: Qini / uplift curves equal to scikit-uplift's, meta-learners recover planted effects, IPW
policy values, arm effects, and the Hillstrom e-mail experiment's published arm effects."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from lsc_utils import targeting

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sklift import metrics as sk


def _seeded(n: int = 4000, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + 0.08 * t * (x > 0) - 0.04 * t * (x < -1)).astype(int)
    uplift = x + rng.normal(0, 0.5, n)
    return y, (np.round(uplift, 1) if ties else uplift), t


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curves_and_areas_equal_scikit_uplift(seed: int, ties: bool) -> None:
    y, u, t = _seeded(seed=seed, ties=ties)
    for ours, theirs in ((targeting.qini_curve, sk.qini_curve), (targeting.uplift_curve, sk.uplift_curve)):
        for a, b in zip(ours(y, u, t), theirs(y, u, t), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    for negative in (True, False):
        assert targeting.qini_auc_score(y, u, t, negative) == pytest.approx(
            sk.qini_auc_score(y, u, t, negative_effect=negative), rel=1e-9
        )
    assert targeting.uplift_auc_score(y, u, t) == pytest.approx(sk.uplift_auc_score(y, u, t), rel=1e-9)
    for strategy in ("overall", "by_group"):
        for k in (0.1, 0.3, 250):
            assert targeting.uplift_at_k(y, u, t, strategy, k) == pytest.approx(
                sk.uplift_at_k(y, u, t, strategy=strategy, k=k), rel=1e-9
            )


def test_curve_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="treatment must hold 0"):
        targeting.qini_auc_score([1, 0], [0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="one length"):
        targeting.qini_curve([1, 0, 1], [0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="'k' parameter"):
        targeting.uplift_at_k([1, 0], [0.1, 0.2], [1, 0], k=1.5)


def _linear_effects(n: int = 20000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """y = 1 + x0 + t * (2 + 3 x1) + noise: the effect is 2 + 3 x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    t = rng.integers(0, 2, n)
    tau = 2 + 3 * X[:, 1]
    y = 1 + X[:, 0] + t * tau + rng.normal(0, 0.5, n)
    return X, y, t, tau


def test_t_and_x_learners_recover_known_linear_effects() -> None:
    X, y, t, tau = _linear_effects()
    for learner in (targeting.TLearner(LinearRegression()), targeting.XLearner(LinearRegression(), LinearRegression())):
        pred = learner.fit(X, y, t).predict(X)
        assert np.abs(pred - tau).max() < 0.1, type(learner).__name__
    t_learner = targeting.TLearner(LinearRegression()).fit(X, y, t)
    slope = t_learner.model_treated_.coef_ - t_learner.model_control_.coef_
    np.testing.assert_allclose(slope, [0, 3], atol=0.02)


def test_s_learner_and_class_transformation_rank_the_effect() -> None:
    X, y, t, tau = _linear_effects()
    s_pred = targeting.SLearner(HistGradientBoostingRegressor(random_state=0)).fit(X, y, t).predict(X)
    ct_pred = targeting.ClassTransformation(LinearRegression()).fit(X, y, t).predict(X)
    for pred in (s_pred, ct_pred):
        assert np.corrcoef(pred, tau)[0, 1] > 0.9
    with pytest.raises(ValueError, match="both 0"):
        targeting.TLearner(LinearRegression()).fit(X, y, np.ones_like(t))


def test_ipw_policy_value_treating_everyone_equals_the_arm_mean_difference() -> None:
    rng = np.random.default_rng(5)
    n = 10000
    t = (rng.random(n) < 0.3).astype(int)
    y = rng.poisson(1 + 0.5 * t).astype(float)
    treat_all = targeting.ipw_policy_value(y, t, np.ones(n), 0.3)
    treat_none = targeting.ipw_policy_value(y, t, np.zeros(n), 0.3)
    assert treat_all - treat_none == pytest.approx(y[t == 1].sum() / (0.3 * n) - y[t == 0].sum() / (0.7 * n), rel=1e-12)
    assert treat_all == pytest.approx(y[t == 1].mean(), rel=0.05)
    with pytest.raises(ValueError, match="strictly between"):
        targeting.ipw_policy_value(y, t, np.ones(n), 1.0)


def test_arm_effects_are_differences_of_means_with_welch_intervals() -> None:
    frame = pd.DataFrame({"arm": ["c"] * 4 + ["a"] * 4, "y": [0, 1, 0, 1, 1, 1, 0, 1]})
    table = targeting.arm_effects(frame, "y", control="c").set_index("arm")
    assert table.loc["a", "effect"] == pytest.approx(0.25)
    se = np.sqrt(frame[frame.arm == "a"].y.var() / 4 + frame[frame.arm == "c"].y.var() / 4)
    assert table.loc["a", "high"] - table.loc["a", "effect"] == pytest.approx(1.959963984540054 * se)
    with pytest.raises(ValueError, match="not an arm"):
        targeting.arm_effects(frame, "y", control="none")


@pytest.mark.realdata
def test_hillstrom_arm_effects_reproduce_the_published_figures(shared_data: Path) -> None:
    """Men's e-mail over no e-mail: visit +7.66 pp, conversion +0.68 pp, spend +$0.77 (the challenge's
    published figures); women's e-mail: visit +4.52 pp. A T-learner with logistic regressions ranks
    women's e-mail visitors well above random on a seeded 70/30 split (scikit-uplift's Qini coefficient)."""
    frame = pd.read_csv(shared_data / "hillstrom_email" / "hillstrom.csv")
    assert len(frame) == 64000
    effects = {
        outcome: targeting.arm_effects(frame, outcome, arm="segment", control="No E-Mail").set_index("arm")
        for outcome in ("visit", "conversion", "spend")
    }
    assert round(100 * effects["visit"].loc["Mens E-Mail", "effect"], 2) == 7.66
    assert round(100 * effects["conversion"].loc["Mens E-Mail", "effect"], 2) == 0.68
    assert round(effects["spend"].loc["Mens E-Mail", "effect"], 2) == 0.77
    assert round(100 * effects["visit"].loc["Womens E-Mail", "effect"], 2) == 4.52
    assert 0.069 < effects["visit"].loc["Mens E-Mail", "low"] < 0.0766  # 95 % CI 6.99-8.33 pp

    women = frame[frame["segment"] != "Mens E-Mail"].reset_index(drop=True)
    X = pd.get_dummies(
        women[["recency", "history", "mens", "womens", "newbie", "zip_code", "channel"]], dtype=float
    ).to_numpy()
    t = (women["segment"] == "Womens E-Mail").to_numpy().astype(int)
    y = women["visit"].to_numpy()
    rng = np.random.default_rng(0)
    test = rng.random(len(women)) < 0.3
    model = targeting.TLearner(LogisticRegression(max_iter=1000)).fit(X[~test], y[~test], t[~test])
    uplift = model.predict(X[test])
    ours = targeting.qini_auc_score(y[test], uplift, t[test])
    assert ours == pytest.approx(sk.qini_auc_score(y[test], uplift, t[test]), rel=1e-9)
    random_qini = targeting.qini_auc_score(y[test], rng.random(test.sum()), t[test])
    assert ours > random_qini + 0.03, (ours, random_qini)


def _tiny_events(tmp_path: Path, extra_rows: list[tuple] | None = None) -> Path:
    rows = [
        ("u1", "2026-03-01 10:00", "view_item", None, None),
        ("u1", "2026-03-02 10:00", "add_to_cart", None, None),
        ("u1", "2026-03-02 10:05", "pay", 10.0, 2.0),
        ("u2", "2026-03-05 09:00", "enter_room", None, None),
        ("u2", "2026-03-11 09:00", "pay", 5.0, None),  # in the label window
        ("u1", "2026-03-20 09:00", "pay", 5.0, 1.0),  # after the label window
    ] + (extra_rows or [])
    frame = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "price", "quantity"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_propensity_features_use_only_the_past_and_the_label_only_the_window(tmp_path: Path) -> None:
    from lsc_utils.targeting import propensity as pr

    cutoff = pd.Timestamp("2026-03-10", tz="UTC")
    frame = pr.propensity_frame(_tiny_events(tmp_path), cutoff, horizon_days=7).set_index("user_id")
    assert frame.loc["u1", "orders"] == 1 and frame.loc["u1", "spend"] == 20.0 and frame.loc["u1", "carts"] == 1
    assert frame.loc["u1", "recency_days"] == pytest.approx(7 + 14 / 24 - 5 / 1440)
    assert frame.loc["u2", "room_entries"] == 1 and frame.loc["u2", "orders"] == 0
    assert frame["buys"].to_dict() == {"u1": 0, "u2": 1}
    # a burst of activity after the cutoff (the label period and later) changes no feature
    later = [("u1", "2026-03-12 10:00", "view_item", None, None), ("u2", "2026-03-12 10:00", "add_to_cart", None, None)]
    (tmp_path / "b").mkdir()
    again = pr.propensity_frame(_tiny_events(tmp_path / "b", later), cutoff, horizon_days=7).set_index("user_id")
    pd.testing.assert_frame_equal(again.drop(columns="buys"), frame.drop(columns="buys"))


def test_a_leaky_extra_feature_is_refused_and_a_past_one_is_joined(tmp_path: Path) -> None:
    from lsc_utils.targeting import propensity as pr

    cutoff = pd.Timestamp("2026-03-10", tz="UTC")
    frame = pr.propensity_frame(_tiny_events(tmp_path), cutoff, horizon_days=7)
    leaky = pd.DataFrame({"user_id": ["u1", "u2"], "crm_score": [0.0, 1.0], "as_of": ["2026-03-15", "2026-03-15"]})
    with pytest.raises(ValueError, match=r"\['crm_score'\]: 2 rows are known at or after the cutoff"):
        pr.join_extra_features(frame, leaky, cutoff)
    past = leaky.assign(as_of="2026-03-01")
    assert pr.join_extra_features(frame, past, cutoff)["crm_score"].tolist() == [0.0, 1.0]


def test_lift_by_decile_and_scores() -> None:
    from lsc_utils.targeting import propensity as pr

    rng = np.random.default_rng(0)
    score = rng.random(1000)
    y = (rng.random(1000) < score).astype(int)
    table = pr.lift_by_decile(y, score)
    assert table["users"].sum() == 1000 and table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert table["lift"].iloc[0] > 1.5 > table["lift"].iloc[-1]
    metrics, reliability = pr.propensity_scores(y, {"p": score, "rank": score * 10})
    metrics = metrics.set_index("ranking")
    assert metrics.loc["p", "roc_auc"] == pytest.approx(metrics.loc["rank", "roc_auc"])
    assert np.isnan(metrics.loc["rank", "brier"]) and set(reliability["ranking"]) == {"p"}
    assert np.abs(reliability["predicted"] - reliability["observed"]).max() < 0.15
