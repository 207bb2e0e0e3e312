"""03_collaborative_filtering on planted data and without optional tables (MovieLens 100k: test_03_movielens.py; Twitch: test_09)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lsc_utils import io
from lsc_utils import recsys as rs
from tests.notebooks.conftest import run_notebook

NAME = "03_collaborative_filtering"
PSEUDONYM = r"u_[0-9a-f]{16}"
MODELS = {"popularity", "item_knn", "user_knn", "als", "bpr", "content", "hybrid"}
METRIC_FUNCTIONS = {
    "precision": rs.precision_at_k,
    "recall": rs.recall_at_k,
    "ndcg": rs.ndcg_at_k,
    "map": rs.mean_average_precision,
    "map_at_k": rs.map_at_k,
    "hit_rate": rs.hit_rate_at_k,
}


@pytest.fixture(scope="module")
def sim_metrics(small_sim: Path, small_run: Path) -> dict:
    """The notebook executed once on the small simulation (with its defaults)."""
    return run_notebook(NAME, small_run, DATA_DIR=str(small_sim))


def _tables(run_dir: Path) -> Path:
    return run_dir / NAME / "tables"


def _figures(run_dir: Path) -> Path:
    return run_dir / NAME / "figures"


def _served_metrics(run_dir: Path, k: int) -> dict[str, float]:
    """Accuracy metrics recomputed from the saved recommendation and test files."""
    recs = pd.read_parquet(_tables(run_dir) / "recommendations.parquet")
    test = pd.read_parquet(_tables(run_dir) / "test_interactions.parquet")
    return {name: fn(recs, test, k) for name, fn in METRIC_FUNCTIONS.items()}


def test_matrix_factorization_beats_popularity_by_30_percent_ndcg(sim_metrics: dict) -> None:
    table = {row["model"]: row for row in sim_metrics["model_metrics"]}
    assert set(table) == MODELS
    lift = sim_metrics["ndcg_lift_best_mf_vs_popularity"]
    assert lift >= 0.30
    best_mf = max(table["als"]["ndcg"], table["bpr"]["ndcg"])
    assert best_mf / table["popularity"]["ndcg"] - 1 == pytest.approx(lift, rel=1e-4)
    assert sim_metrics["best_ndcg"] == max(row["ndcg"] for row in table.values())
    # beyond accuracy: the bestseller list covers the fewest items and is the most popularity-biased
    assert min(table, key=lambda m: table[m]["catalog_coverage"]) == "popularity"
    assert max(table, key=lambda m: table[m]["popularity_percentile"]) == "popularity"
    assert all(row["n_users"] == sim_metrics["n_test_users"] for row in table.values())


def test_recommendations_hold_only_pseudonyms_and_opted_out_users_get_popularity(
    small_sim: Path, small_run: Path, sim_metrics: dict
) -> None:
    recs = pd.read_parquet(_tables(small_run) / "recommendations.parquet")
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "model"]
    assert recs["user_id"].str.fullmatch(PSEUDONYM).all()
    raw_ids = set(pd.read_parquet(small_sim / "users.parquet")["user_id"])
    assert not raw_ids & set(recs["user_id"])
    users = pd.read_parquet(small_run / "01_data_cleaning" / "clean" / "users.parquet")
    consent = users.set_index("user_id")["consent_personalization"].astype("boolean").fillna(False)
    opted_out = recs[~consent.reindex(recs["user_id"]).fillna(False).to_numpy(dtype=bool)]
    assert opted_out["user_id"].nunique() == sim_metrics["opted_out_users"] > 0
    assert (opted_out["model"] == "popularity").all()
    lists = opted_out.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].agg(list)
    assert all(items == sim_metrics["popularity_top_items"] for items in lists)
    personalized = recs[~recs["user_id"].isin(opted_out["user_id"])]
    assert (personalized["model"] == sim_metrics["best_model"]).all()
    assert personalized.groupby("user_id")["item_id"].agg(tuple).nunique() > 100  # really personal lists


def test_saved_files_reproduce_the_glued_metrics(small_run: Path, sim_metrics: dict) -> None:
    recomputed = _served_metrics(small_run, 10)
    for name, value in recomputed.items():
        assert value == pytest.approx(sim_metrics["served_metrics"][name], rel=1e-5), name
    best = next(r for r in sim_metrics["model_metrics"] if r["model"] == sim_metrics["best_model"])
    assert recomputed["ndcg"] < best["ndcg"]  # opted-out users get the weaker popularity list
    csv = pd.read_csv(_tables(small_run) / "metrics.csv")
    assert set(csv["model"]) == MODELS and csv["ndcg"].is_monotonic_decreasing
    test = pd.read_parquet(_tables(small_run) / "test_interactions.parquet")
    assert len(test) == sim_metrics["n_test_pairs"] and not test.duplicated().any()


def test_live_rooms_rerank_and_next_stream_use_repeat_consumption(sim_metrics: dict) -> None:
    rooms = {row["variant"]: row for row in sim_metrics["room_hit_rate"]}
    assert rooms["recommend_rooms"]["users"] >= 50
    assert rooms["recommend_rooms"]["hit_rate"] >= rooms["live popularity"]["hit_rate"] + 0.1
    assert rooms["recommend_rooms"]["ndcg"] >= rooms["live popularity"]["ndcg"] + 0.1
    # repeat awareness alone (the anchors a viewer already watched) beats a random order of the live rooms
    assert rooms["anchor affinity only"]["hit_rate"] >= rooms["anchor affinity only"]["chance_hit_rate"] + 0.1
    moved_up = [r for r in sim_metrics["rerank_example"] if r["live_trend"] > 0 and r["rank_after"] < r["rank_before"]]
    assert moved_up, "a trending item must climb in the re-ranked list"
    streams = {row["model"]: row for row in sim_metrics["next_stream_hit_rate"]}
    assert streams["repeat_aware"]["hit_rate"] > streams["popularity"]["hit_rate"] + 0.1
    assert streams["repeat_aware"]["hit_rate_repeat"] > 0.9


def test_deep_models_are_compared_with_tuned_baselines(small_run: Path, sim_metrics: dict) -> None:
    """Mult-VAE within 0.05 of EASE's precision@10, SASRec above popularity on the next item and streamer."""
    products = {row["model"]: row for row in sim_metrics["deep_product_comparison"]}
    assert set(products) == {"popularity", "ease", "als", "mult_vae"}
    assert products["mult_vae"]["seeds"] == products["als"]["seeds"] == 3 and products["ease"]["seeds"] == 1
    assert abs(sim_metrics["vae_precision_gap_vs_ease"]) <= 0.05
    assert sim_metrics["vae_precision_gap_vs_ease"] == pytest.approx(
        products["ease"]["precision"] - products["mult_vae"]["precision"], abs=1e-9
    )
    assert products["mult_vae"]["precision"] > products["popularity"]["precision"] + 0.02
    assert products["mult_vae"]["precision_sd"] < 0.02  # the seeds agree
    # every tuned value is the grid's best on the validation split (never the test split)
    tuning = pd.DataFrame(sim_metrics["deep_tuning"])
    for name, part in tuning.groupby("model"):
        best = part.loc[part["validation_ndcg"].idxmax()]
        assert products[name]["tuned"] == f"{best['parameter']} = {best['value']:g}"
    items = {row["model"].split(" ")[0]: row for row in sim_metrics["deep_next_item"]}
    assert set(items) == {"popularity", "ease", "sasrec"}
    assert items["sasrec"]["hit_rate"] > items["popularity"]["hit_rate"] + 0.03
    assert items["sasrec"]["ndcg"] > items["popularity"]["ndcg"]
    rooms = {row["model"]: row for row in sim_metrics["deep_next_streamer"]}
    assert rooms["sasrec"]["hit_rate"] > rooms["popularity"]["hit_rate"] + 0.1
    assert rooms["repeat_last"]["hit_rate"] > rooms["popularity"]["hit_rate"]  # repeat consumption, planted
    assert set(rooms) == {"popularity", "popularity of the hour", "repeat_aware", "repeat_last", "sasrec"}
    assert rooms["popularity of the hour"]["hit_rate"] > rooms["popularity"]["hit_rate"]  # what is live now
    curves = pd.read_csv(_tables(small_run) / "deep_training_curves.csv")
    assert set(curves["model"]) == {"Mult-VAE (products)", "SASRec (next item)", "SASRec (next streamer)"}
    kept = curves[curves["best"]].groupby(["model", "run"])
    assert (kept.size() == 1).all()  # one kept epoch per run, the best validation NDCG of the run
    best = curves.groupby(["model", "run"])["validation_ndcg"].max()
    assert (kept["validation_ndcg"].first() == best).all()
    assert (_figures(small_run) / "deep_training_curves.png").is_file()


def test_same_data_and_parameters_give_identical_outputs(
    small_sim: Path, small_run: Path, sim_metrics: dict, tmp_path: Path
) -> None:
    (tmp_path / "01_data_cleaning").symlink_to(small_run / "01_data_cleaning")
    again = run_notebook(NAME, tmp_path, DATA_DIR=str(small_sim))
    assert again == sim_metrics
    for table in ("recommendations.parquet", "test_interactions.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(_tables(tmp_path) / table), pd.read_parquet(_tables(small_run) / table)
        )


def test_without_items_rooms_and_users_the_notebook_degrades(small_run: Path, tmp_path: Path) -> None:
    clean = tmp_path / "01_data_cleaning" / "clean"
    clean.mkdir(parents=True)
    shutil.copy(small_run / "01_data_cleaning" / "clean" / "events.parquet", clean)
    meta = yaml.safe_load((small_run / "01_data_cleaning" / "clean" / "dataset.yaml").read_text(encoding="utf-8"))
    (clean / "dataset.yaml").write_text(yaml.safe_dump({**meta, "tables": ["events"]}), encoding="utf-8")
    (tmp_path / "01_data_cleaning" / "truth").mkdir()  # real data: 01 publishes an empty truth folder
    (tmp_path / "no_raw_data").mkdir()  # a dataset without tables: the notebook reads only the run folder
    (tmp_path / "no_raw_data" / "dataset.yaml").write_text("name: none\ntables: []\n", encoding="utf-8")
    # the neural models run too, briefly (one seed, two epochs): products and next item, no next streamer
    brief = {"DEEP_SEEDS": 1, "VAE_EPOCHS": 2, "SASREC_EPOCHS": 2}
    metrics = run_notebook(NAME, tmp_path, DATA_DIR=str(tmp_path / "no_raw_data"), **brief)
    assert metrics["status"] == "ok"
    assert {row["model"] for row in metrics["deep_product_comparison"]} == {"popularity", "ease", "als", "mult_vae"}
    assert len(metrics["deep_next_item"]) == 3 and "deep_next_streamer" not in metrics
    assert {"content_based", "live_rooms", "rerank", "next_stream", "consent"} <= set(metrics["skipped_sections"])
    assert {row["model"] for row in metrics["model_metrics"]} == MODELS - {"content"}
    assert all("intra_list_diversity" not in row for row in metrics["model_metrics"])
    assert metrics["ndcg_lift_best_mf_vs_popularity"] >= 0.30
    assert "room_hit_rate" not in metrics and "next_stream_hit_rate" not in metrics
    recs = pd.read_parquet(_tables(tmp_path) / "recommendations.parquet")
    assert (recs["model"] == metrics["best_model"]).all() and metrics["opted_out_users"] == 0


# The Twitch run of 03 (next stream, live-room lists) shares one run with 09's streamer-exposure audit:
# tests/notebooks/test_09_fairness_audit.py::test_twitch_next_stream_and_streamer_exposure.


def test_above_max_events_a_sample_of_whole_users_is_used(small_sim: Path, small_run: Path, tmp_path: Path) -> None:
    """Past MAX_EVENTS the notebook keeps a keyed sample of users with all their events and says so; past
    DEEP_MAX_ITEMS the product part of section 8 is skipped (EASE's dense inverse)."""
    shutil.copytree(small_run / "01_data_cleaning", tmp_path / "01_data_cleaning")
    events = pd.read_parquet(tmp_path / "01_data_cleaning" / "clean" / "events.parquet", columns=["user_id"])
    budget = len(events) // 2
    brief = {"DEEP_SEEDS": 1, "SASREC_EPOCHS": 2, "DEEP_MAX_ITEMS": 10}  # too many items for EASE: skipped
    metrics = run_notebook(NAME, tmp_path, DATA_DIR=str(small_sim), MAX_EVENTS=budget, **brief)
    assert "deep_products" in metrics["skipped_sections"] and "deep_product_comparison" not in metrics
    assert "deep_next_item" not in metrics
    sample = metrics["events_sample"]
    assert sample["of_rows"] == len(events) and budget * 0.8 < sample["rows"] <= budget
    assert sample["of_users"] == events["user_id"].nunique() > sample["users"]
    assert metrics["n_train_users"] <= sample["users"]
    kept, _ = io.sampled_users(tmp_path / "01_data_cleaning" / "clean" / "events.parquet", budget, seed=42)
    served = pd.read_parquet(_tables(tmp_path) / "recommendations.parquet")["user_id"]
    assert len(kept) == sample["users"] and served.isin(kept).all()  # RANDOM_STATE (42) seeds the sample
