"""08_precision_targeting on a campaign simulation (planted per-user effects, sleeping dogs, depth
elasticities), on the small shared simulation (no campaign: uplift not testable), and on the real
Hillstrom e-mail experiment through its config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lsc_utils import nbtools
from tests.conftest import REPO
from tests.notebooks.conftest import run_notebook

NAME = "08_precision_targeting"
QINI_SHARE_OF_ORACLE = 0.60
"""The issue's bar: the best uplift model's Qini coefficient reaches 60 % of the oracle's (ranking by
the planted effect); measured on this simulation: see the closing note of the issue."""


@pytest.fixture(scope="module")
def campaign_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3000 users over 42 days with a randomised coupon campaign over the last 14 days (seed 7)."""
    from lsc_utils.simulate import simulate

    return simulate(
        tmp_path_factory.mktemp("campaign") / "data", n_users=3000, n_days=42, seed=7, campaign=True, progress=False
    )


@pytest.fixture(scope="module")
def study(campaign_study: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    run_dir = tmp_path_factory.mktemp("campaign_run")
    return run_notebook(NAME, run_dir, DATA_DIR=str(campaign_study), with_upstream=True), run_dir


def test_average_effect_intervals_cover_the_planted_effects(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    assert metrics["status"] == "ok" and metrics["skipped_sections"] == []
    check = pd.DataFrame(metrics["ate_check"])
    assert len(check) == 3 and check["covered"].all(), check


def test_best_uplift_model_reaches_sixty_percent_of_the_oracle_qini(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    table = pd.DataFrame(metrics["uplift_models"]).set_index("model")
    oracle = table.loc["oracle (planted effect)", "qini"]
    best = table.loc[metrics["best_uplift_model"], "qini"]
    assert oracle > 0.1 and best >= QINI_SHARE_OF_ORACLE * oracle, table
    assert best > table.loc["random", "qini"] + 0.1


def test_uplift_targeting_earns_more_planted_profit_than_response_targeting(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    policies = pd.DataFrame(metrics["policies"]).set_index("policy")
    assert policies.loc["uplift", "planted_profit"] > policies.loc["response", "planted_profit"], policies
    assert policies.loc["uplift", "planted_profit"] > policies.loc["random", "planted_profit"], policies
    assert policies.loc["uplift", "contacts"] <= 800
    summary = metrics["targeting_summary"]
    low, high = summary["incremental_orders_ci"]
    assert low <= summary["incremental_orders"] <= high and low > 0


def test_sleeping_dogs_get_negative_predicted_uplift(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    groups = metrics["planted_group_uplift"]
    assert groups["sleeping_dog"] < 0 < groups["persuadable"], groups
    assert groups["persuadable"] > max(groups["sure_thing"], groups["lost_cause"]) + 0.1


def test_propensity_beats_the_rfm_ranking(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    auc = metrics["propensity_auc"]
    assert max(auc["gradient_boosting"], auc["logistic"]) > auc["rfm_score"], auc


def test_price_sensitive_band_has_the_steepest_depth_response(study: tuple[dict, Path]) -> None:
    metrics, _ = study
    slopes = pd.DataFrame(metrics["depth_slopes"])
    bands = slopes[slopes["by"] == "price_band"].set_index("segment")["slope_per_unit_depth"]
    # planted: bargain hunters (who took the deepest past discounts) respond 2.0 per unit depth, others <= 0.3
    assert bands.idxmax() == "deal seeker" and bands["deal seeker"] > 1.0, bands


def test_targeting_list_is_pseudonymous_and_respects_consent(study: tuple[dict, Path]) -> None:
    _, run_dir = study
    listed = pd.read_parquet(run_dir / NAME / "tables" / "targeting_list.parquet")
    assert list(listed.columns) == ["user_id", "propensity", "uplift", "decile", "action", "offer"]
    assert listed["user_id"].str.fullmatch(r"u_[0-9a-f]{16}").all()
    users = pd.read_parquet(run_dir / "01_data_cleaning" / "clean" / "users.parquet")
    opted_out = set(users.loc[users["consent_marketing"] != True, "user_id"])  # noqa: E712 (nullable)
    assert not set(listed.loc[listed["action"] == "contact", "user_id"]) & opted_out
    assert set(listed.loc[listed["action"] == "contact", "offer"]) <= {"coupon_10", "coupon_20", "coupon_30"}


def test_small_simulation_without_a_campaign_says_not_testable(small_sim: Path, small_run: Path) -> None:
    metrics = run_notebook(NAME, small_run, DATA_DIR=str(small_sim))
    assert metrics["status"] == "ok" and metrics["has_campaign"] is False
    assert {"campaign_effects", "uplift", "budget_targeting", "offers"} <= set(metrics["skipped_sections"])
    assert "propensity_auc" in metrics


@pytest.mark.realdata
def test_hillstrom_config_reproduces_the_published_effects_and_ranks_uplift_models(
    shared_data: Path, tmp_path: Path
) -> None:
    """64,000 randomised customers: the published arm effects, Qini over 20 seeded 70/30 splits against a
    response model and random order (measured: best learner mean 0.036-0.037, response 0.021, random
    0.001), and incremental visits when 30 % of the customers are e-mailed."""
    from lsc_utils.datasets import convert
    from lsc_utils.run import run_collection

    data = convert("hillstrom", shared_data / "hillstrom_email" / "hillstrom.csv", tmp_path / "hill")
    run_dir = run_collection(REPO / "configs" / "hillstrom.yaml", data=data, out=tmp_path / "run", progress=False)
    m = nbtools.read_metrics(run_dir / NAME)
    assert m["status"] == "ok" and m["skipped_sections"] == ["propensity"]  # no history before the send
    effects = pd.DataFrame(m["arm_effects"]).set_index(["outcome", "arm"])
    mens = effects.xs("mens_email", level="arm")
    # published: visit 18.28 % vs 10.62 %, conversion 1.253 % vs 0.573 %, spend $1.423 vs $0.653
    assert mens.loc["visited", "effect"] == pytest.approx(0.0766, abs=5e-4)
    assert mens.loc["converted", "effect"] == pytest.approx(0.0068, abs=5e-4)
    assert mens.loc["revenue", "effect"] == pytest.approx(0.77, abs=0.01)
    repeats = pd.DataFrame(m["qini_repeats"]).set_index("model")
    learners = repeats.drop(index=["random", "response_model"])
    best = learners["mean"].idxmax()
    assert learners.loc[best, "mean"] > repeats.loc["random", "high"], repeats
    assert learners.loc[best, "mean"] > repeats.loc["response_model", "mean"], repeats
    policies = pd.DataFrame(m["policies"]).set_index("policy")
    assert (policies["contacts"] == 19200).all()  # 30 % of 64,000
    assert policies.loc["uplift", "visited_low"] > 0
