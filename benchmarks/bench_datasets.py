"""Speed of the source adapters on synthetic raw files in the sources' exact formats.

Usage::

    python benchmarks/bench_datasets.py [--events N] [--chunk-rows N]

Writes a Taobao UserBehavior CSV and a REES46 monthly CSV with N rows each into a temporary folder,
converts them (both adapters stream in chunks) and prints wall and CPU seconds, rows per second and
the process's peak resident memory (CPU seconds show the cost when other jobs share the machine). Baseline: a plain ``pandas.read_csv`` of the same file (reading only,
no validation or writing).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.constants import SEED
from lsc_utils.datasets import convert

TAOBAO_BEHAVIOURS = np.array(["pv", "cart", "fav", "buy"])
TAOBAO_WEIGHTS = np.array([0.898, 0.053, 0.028, 0.021])
REES46_TYPES = np.array(["view", "cart", "remove_from_cart", "purchase"])
REES46_WEIGHTS = np.array([0.9, 0.06, 0.02, 0.02])


def write_taobao(path: Path, n: int, rng: np.random.Generator) -> Path:
    """A headerless UserBehavior CSV with ``n`` rows."""
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, max(n // 100, 2), n),
            "item_id": rng.integers(1, max(n // 20, 2), n),
            "category_id": rng.integers(1, 9_439, n),
            "behavior_type": rng.choice(TAOBAO_BEHAVIOURS, n, p=TAOBAO_WEIGHTS),
            "timestamp": rng.integers(1_511_539_200, 1_512_316_800, n),
        }
    )
    frame.to_csv(path, header=False, index=False)
    return path


def write_rees46(path: Path, n: int, rng: np.random.Generator) -> Path:
    """A REES46 monthly CSV with ``n`` rows."""
    seconds = np.sort(rng.integers(0, 31 * 86_400, n))
    frame = pd.DataFrame(
        {
            "event_time": (pd.Timestamp("2019-10-01") + pd.to_timedelta(seconds, unit="s")).strftime(
                "%Y-%m-%d %H:%M:%S UTC"
            ),
            "event_type": rng.choice(REES46_TYPES, n, p=REES46_WEIGHTS),
            "product_id": rng.integers(1_000_000, 1_000_000 + max(n // 20, 2), n),
            "category_id": rng.integers(2_053_013_552_326_770_905, 2_053_013_552_326_780_905, n),
            "category_code": rng.choice(["electronics.smartphone", "computers.notebook", ""], n),
            "brand": rng.choice(["samsung", "apple", "xiaomi", ""], n),
            "price": rng.integers(100, 200_000, n) / 100,
            "user_id": rng.integers(500_000_000, 500_000_000 + max(n // 50, 2), n),
            "user_session": rng.integers(0, max(n // 10, 2), n).astype(str),
        }
    )
    frame.to_csv(path, index=False)
    return path


def timed(task: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all threads) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    task()
    return time.perf_counter() - start, time.process_time() - cpu


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="rows per synthetic raw file")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000, help="rows per streamed chunk")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        taobao = write_taobao(folder / "UserBehavior.csv", args.events, rng)
        rees46 = write_rees46(folder / "2019-Oct.csv", args.events, rng)
        read_s = timed(lambda: pd.read_csv(taobao, header=None))
        rows.append(("pandas.read_csv (baseline)", "taobao", read_s))
        taobao_s = timed(lambda: convert("taobao", taobao, folder / "tb", chunk_rows=args.chunk_rows))
        rows.append(("datasets.convert", "taobao", taobao_s))
        read_s = timed(lambda: pd.read_csv(rees46))
        rows.append(("pandas.read_csv (baseline)", "rees46", read_s))
        rees_s = timed(lambda: convert("rees46", rees46, folder / "r46", chunk_rows=args.chunk_rows))
        rows.append(("datasets.convert", "rees46", rees_s))
    print(f"Adapters, {args.events:,} raw rows per file, chunk_rows={args.chunk_rows:,}")
    print(f"{'task':<28} {'source':<8} {'wall s':>8} {'CPU s':>8} {'rows/s (wall)':>14}")
    for task, source, (wall, cpu) in rows:
        print(f"{task:<28} {source:<8} {wall:>8.2f} {cpu:>8.2f} {args.events / wall:>14,.0f}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
