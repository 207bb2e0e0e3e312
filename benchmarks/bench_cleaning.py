"""Benchmark: cleaning (validation, quarantine, bot detection, pseudonyms, sessionization).

Usage: ``python benchmarks/bench_cleaning.py [--events 1000000 10000000]``

Synthetic canonical events (string timestamps as a raw source would have them, 0.1% dirty rows) are
written to Parquet, loaded with ``load_dataset(strict=False)`` and cleaned; prints seconds per stage,
rows/s and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.cleaning import clean_dataset
from lsc_utils.io import Dataset, load_dataset, save_dataset


def synthetic_events(n: int, seed: int = 0) -> pd.DataFrame:
    """n events of n/50 users over 30 days, with a few null ids, bad timestamps and unknown types."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(n // 50, 1), n)
    ts = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s")
    types = np.array(["view_item", "like", "add_to_cart", "pay", "enter_room", "leave_room"])
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(users).astype("str"),
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event_type": types[rng.integers(0, len(types), n)],
            "item_id": pd.Series(rng.integers(0, 50_000, n)).astype("str"),
            "room_id": pd.Series(rng.integers(0, 2_000, n)).astype("str"),
            "price": rng.gamma(2.0, 30.0, n),
        }
    )
    bad = rng.choice(n, size=max(n // 1000, 3), replace=False)
    frame.loc[bad[0::3], "user_id"] = None
    frame.loc[bad[1::3], "ts"] = "yesterday"
    frame.loc[bad[2::3], "event_type"] = "clickk"
    return frame


def run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        save_dataset(
            Dataset(
                {"name": "bench", "timezone": "UTC", "period": {"start": "2026-03-01", "end": "2026-03-31"}},
                {"events": synthetic_events(n)},
            ),
            folder,
        )
        t0 = time.perf_counter()
        raw = load_dataset(folder, strict=False)
        t1 = time.perf_counter()
        result = clean_dataset(raw, b"benchmark-key-0123456789")
        t2 = time.perf_counter()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    assert result.ledger["balanced"].all()
    return {
        "events": n,
        "load_validate_s": t1 - t0,
        "clean_s": t2 - t1,
        "rows_per_s": n / (t2 - t0),
        "peak_rss_gb": rss_gb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    rows = [run(n) for n in args.events]
    print(pd.DataFrame(rows).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
