"""Deep recommenders on MovieLens 100k against the baselines measured in the same run (issue #24).

Run ``python benchmarks/bench_recsys_deep.py [--data DIR]`` (default ``$LSC_SHARED_DATA/movielens_100k``,
``../shared/data`` beside the repository).

1. Top-k, the MovieLens config's protocol (every rating one implicit positive, per-user stratified
   75/25 split, seed 42, seen items excluded): Mult-VAE (package defaults: [600, 200], early stopping on
   10 % of each user's training items) against EASE (lambda 500): precision@10, NDCG@10, seconds.
2. Next item (leave-last-out: last rating test, second-to-last validation; equal timestamps in a seeded
   random order; the held-out item ranked against all items, the user's history excluded): SASRec
   (2 blocks, d = 64, window 50, early stopping on the validation items) against popularity and EASE
   (lambda 200): HR@10, NDCG@10, seconds.

Targets: Mult-VAE <= 30 s, SASRec <= 3 min on 2 cores. Issue reference values: EASE 0.419 / 0.484,
Mult-VAE about 0.39 / 0.45; next item: popularity 0.073 / 0.039, EASE 0.135 / 0.067, SASRec 0.180 / 0.096.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd

from lsc_utils import recsys as rs
from lsc_utils.constants import SEED
from lsc_utils.datasets import movielens

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LSC_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_events(folder: Path) -> pd.DataFrame:
    """MovieLens 100k ratings as canonical ``view_item`` events (the adapter's mapping, no files written)."""
    ratings = movielens.read_table(folder / "u.data", movielens.RATING_COLUMNS, "\t", "utf-8")
    return movielens.build_events(ratings)


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    """Result and wall seconds of ``action``."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def top_k_rows(events: pd.DataFrame) -> list[dict[str, Any]]:
    """Mult-VAE and EASE on the 75/25 per-user split: precision@10, NDCG@10, fit + recommend seconds."""
    split = rs.split_interactions(
        events, method="stratified", test_fraction=0.25, weights=rs.event_weight_scheme("uniform"), random_state=SEED
    )
    users = pd.Index(split.test["user_id"].unique())
    rows = []
    for name, model in {"EASE (lambda 500)": rs.EASERecommender(l2=500.0), "Mult-VAE": rs.MultVAERecommender()}.items():
        fitted, seconds = timed(lambda model=model: model.fit(split.train))
        recs, rec_seconds = timed(lambda fitted=fitted: fitted.recommend(users, k=10))
        metrics = rs.evaluate(recs, split.test, 10)
        epochs = f"{len(fitted.history_)} epochs, best {fitted.best_epoch_}" if hasattr(fitted, "history_") else ""
        rows.append(
            {
                "protocol": "top-10, 75/25",
                "model": name,
                "metric_1": f"P@10 {metrics['precision']:.3f}",
                "metric_2": f"NDCG@10 {metrics['ndcg']:.3f}",
                "seconds": round(seconds + rec_seconds, 1),
                "detail": epochs,
            }
        )
    return rows


def next_item_rows(events: pd.DataFrame) -> list[dict[str, Any]]:
    """SASRec, popularity and EASE on the leave-last-out protocol: HR@10, NDCG@10, fit + scoring seconds."""
    split = rs.leave_last_out_split(rs.order_sequences(events, random_state=SEED))
    history = split.train_validation
    models = {
        "popularity": rs.MatrixNextRecommender(rs.PopularityRecommender()),
        "EASE (lambda 200)": rs.MatrixNextRecommender(rs.EASERecommender(l2=200.0)),
        "SASRec": rs.SASRecRecommender(),
    }
    rows = []
    for name, model in models.items():
        started = time.perf_counter()
        fitted = model.fit(history)
        result = rs.evaluate_next_item({name: fitted}, split.test, k=10).iloc[0]
        seconds = time.perf_counter() - started
        epochs = f"{len(fitted.history_)} epochs, best {fitted.best_epoch_}" if hasattr(fitted, "history_") else ""
        rows.append(
            {
                "protocol": f"next item, {int(result['n_users'])} users",
                "model": name,
                "metric_1": f"HR@10 {result['hit_rate']:.3f}",
                "metric_2": f"NDCG@10 {result['ndcg']:.3f}",
                "seconds": round(seconds, 1),
                "detail": epochs,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "movielens_100k", help="the ml-100k folder (u.data)")
    args = parser.parse_args()
    events = load_events(args.data)
    rows = top_k_rows(events) + next_item_rows(events)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench_recsys_deep: MovieLens 100k, {len(events):,} ratings; {os.cpu_count()} cores, load avg {load:.1f}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
