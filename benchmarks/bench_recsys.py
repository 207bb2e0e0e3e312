"""Speed of lsc_utils.recsys on synthetic implicit feedback: matrix build, model fits, batch scoring, evaluation.

Run ``python benchmarks/bench_recsys.py [--events N]`` (default 1,000,000 events). Targets: ALS fit on
1M interactions under 30 s on 2 cores; evaluation of 100k users vectorized (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from lsc_utils import recsys as rs
from lsc_utils.constants import SEED

EVENT_MIX = {"view_item": 0.80, "like": 0.08, "add_to_cart": 0.07, "pay": 0.05}


def synthetic_events(n_events: int, n_users: int, n_items: int, seed: int = SEED) -> pd.DataFrame:
    """Canonical-looking events: Zipf item popularity, lognormal user activity, 30 days of timestamps."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    users = rng.choice(n_users, size=n_events, p=activity / activity.sum())
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=n_events, p=popularity / popularity.sum())
    types = rng.choice(list(EVENT_MIX), size=n_events, p=list(EVENT_MIX.values()))
    seconds = rng.integers(0, 30 * 86400, size=n_events)
    return pd.DataFrame(
        {
            "user_id": pd.Series(users).map("u{:07d}".format).astype("str"),
            "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"),
            "event_type": pd.Series(types).astype("str"),
            "item_id": pd.Series(items).map("i{:06d}".format).astype("str"),
        }
    )


def synthetic_evaluation(n_users: int, n_items: int, k: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Top-k lists and 1-20 relevant items for each of ``n_users`` users."""
    rng = np.random.default_rng(seed)
    users = pd.Series(np.arange(n_users)).map("u{:07d}".format).astype("str")
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(users.to_numpy(), k),
            "item_id": rng.integers(0, n_items, n_users * k),
            "rank": np.tile(np.arange(1, k + 1), n_users),
        }
    )
    sizes = rng.integers(1, 21, n_users)
    test = pd.DataFrame(
        {"user_id": np.repeat(users.to_numpy(), sizes), "item_id": rng.integers(0, n_items, int(sizes.sum()))}
    )
    return recs, test


def timed(label: str, rows: list[dict[str, Any]], action: Callable[[], Any], **info: Any) -> Any:
    """Run ``action`` once, record its wall time and CPU time (all threads) under ``label``."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = action()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rows.append({"step": label, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), **info})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="number of synthetic events")
    parser.add_argument("--users", type=int, default=100_000, help="number of users")
    parser.add_argument("--items", type=int, default=20_000, help="number of items")
    parser.add_argument("--eval-users", type=int, default=100_000, help="users in the evaluation benchmark")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    events = synthetic_events(args.events, args.users, args.items)
    inter = timed(
        "build_interactions (30-day half-life)", rows, lambda: rs.build_interactions(events, half_life_days=30)
    )
    shape = f"{inter.n_users}x{inter.n_items}, nnz {inter.matrix.nnz:,}"
    rows[-1]["detail"] = shape
    als = timed(
        "ALSRecommender.fit (64 factors, 15 it)",
        rows,
        lambda: rs.ALSRecommender().fit(inter),
        detail=f"{os.cpu_count()} cores",
    )
    timed("BPRRecommender.fit (64 factors, 60 it, 1 thread)", rows, lambda: rs.BPRRecommender().fit(inter))
    timed("ItemKNNRecommender.fit (cosine, K=20)", rows, lambda: rs.ItemKNNRecommender().fit(inter))
    sample = inter.user_index[:: max(1, inter.n_users // 10_000)]
    timed(
        "ALS recommend k=10, exclude seen", rows, lambda: als.recommend(sample, k=10), detail=f"{len(sample):,} users"
    )
    timed(
        "ALS recommend k=10, exclude seen (all users)",
        rows,
        lambda: als.recommend(k=10),
        detail=f"{inter.n_users:,} users",
    )
    user_knn = rs.UserKNNRecommender().fit(inter)
    small = inter.user_index[:: max(1, inter.n_users // 2_000)]
    timed("UserKNN recommend k=10", rows, lambda: user_knn.recommend(small, k=10), detail=f"{len(small):,} users")
    recs, test = synthetic_evaluation(args.eval_users, args.items, 10)
    timed(
        "evaluate (accuracy + beyond-accuracy)",
        rows,
        lambda: rs.evaluate(recs, test, 10, train=inter),
        detail=f"{args.eval_users:,} users, {len(recs):,} rec rows, {len(test):,} test rows",
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench_recsys: {args.events:,} events, {args.users:,} users, {args.items:,} items; load avg {load:.1f}")
    print(pd.DataFrame(rows).fillna("").to_string(index=False))


if __name__ == "__main__":
    main()
