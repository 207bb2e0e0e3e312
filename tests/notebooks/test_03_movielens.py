"""03_collaborative_filtering on MovieLens 100k (its own file: two test workers run it beside the simulated-data tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsc_utils import nbtools
from tests.conftest import REPO
from tests.notebooks.test_03_collaborative_filtering import NAME, _served_metrics


@pytest.mark.realdata
def test_movielens_100k_reaches_published_accuracy_and_files_reproduce_it(shared_data: Path, tmp_path: Path) -> None:
    from lsc_utils.datasets import convert
    from lsc_utils.run import run_collection

    data = convert("movielens", shared_data / "movielens_100k", tmp_path / "movielens")
    run = run_collection(
        REPO / "configs" / "movielens100k.yaml", data=data, out=tmp_path / "run", only="01,03", progress=False
    )
    cleaning = nbtools.read_metrics(run / "01_data_cleaning")
    assert all(row["quarantined_rows"] == 0 for row in cleaning["ledger"])
    metrics = nbtools.read_metrics(run / NAME)
    assert metrics["split"] == "stratified" and metrics["n_train_users"] == 943
    assert metrics["n_train_cells"] + metrics["n_test_pairs"] == 100_000  # every rating once, train or test
    assert metrics["best_precision"] >= 0.35 and metrics["best_ndcg"] >= 0.40
    assert metrics["opted_out_users"] == 0
    best = next(r for r in metrics["model_metrics"] if r["model"] == metrics["best_model"])
    for name, value in _served_metrics(run, 10).items():
        assert value == pytest.approx(best[name], rel=1e-5), name
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["notebooks"][1]["parameters"]["EVENT_WEIGHTS"] == "uniform"
    # section 8 against the values measured for issue #24 on this split (EASE 0.419 / 0.484, Mult-VAE 0.390-0.393
    # / 0.450; next item: popularity 0.073, EASE 0.135, SASRec 0.180 HR@10), with room for other core counts
    deep = {row["model"]: row for row in metrics["deep_product_comparison"]}
    assert deep["ease"]["precision"] >= 0.40 and deep["mult_vae"]["precision"] >= 0.37
    assert abs(metrics["vae_precision_gap_vs_ease"]) <= 0.05  # Mult-VAE trails the tuned EASE, within 0.05
    items = {row["model"].split(" ")[0]: row["hit_rate"] for row in metrics["deep_next_item"]}
    assert items["sasrec"] >= 0.15 and items["sasrec"] > items["ease"] > items["popularity"]
