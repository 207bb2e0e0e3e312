"""Benchmark of the LSC simulator: wall time, throughput and peak memory for a target event count.

Usage::

    python benchmarks/bench_simulate.py                      # default notebook size (3000 users, 28 days)
    python benchmarks/bench_simulate.py --events 1000000     # about 1M event rows
    python benchmarks/bench_simulate.py --events 10000000 --out /tmp/sim10m

Each size runs in a fresh subprocess so that the peak RSS (``resource.getrusage``) belongs to that
size alone. Targets: 1M events < 60 s, 10M events < 10 min and peak RSS < 4 GB on 2 cores. The
table also shows the rows and peak memory that :func:`lsc_utils.simulate.estimate_size` expected (the
estimate behind ``simulate``'s memory refusal must stay above the measured peak).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from lsc_utils.simulate import DEFAULT_DIRTY_RATES, estimate_size, simulate, users_for_events

TARGET_SECONDS = {1_000_000: 60.0, 10_000_000: 600.0}
TARGET_RSS_MB = 4096.0


def run_one(out_dir: Path, n_users: int, n_days: int, chunk_events: int) -> dict[str, float]:
    """Simulate once in this process and measure time, rows, output size and peak RSS."""
    started = time.perf_counter()
    simulate(out_dir, n_users=n_users, n_days=n_days, chunk_events=chunk_events, progress=False)
    seconds = time.perf_counter() - started
    events = pq.ParquetFile(out_dir / "events.parquet").metadata.num_rows
    size_mb = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) / 2**20
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n_users": n_users,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "peak_rss_mb": peak_mb,
        "output_mb": size_mb,
    }


def measure_in_subprocess(out_dir: Path, n_users: int, n_days: int, chunk_events: int) -> dict[str, float]:
    """Run :func:`run_one` in a fresh interpreter (clean peak-RSS accounting)."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from bench_simulate import run_one; "
        "print(json.dumps(run_one(Path(sys.argv[2]), *map(int, sys.argv[3:]))))"
    )
    argv = [str(Path(__file__).parent), str(out_dir), str(n_users), str(n_days), str(chunk_events)]
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments, run the requested sizes and print a results table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="*", default=None, help="target event rows (several allowed)")
    parser.add_argument("--days", type=int, default=28, help="simulated days")
    parser.add_argument("--chunk-events", type=int, default=1_000_000, help="rows per Parquet row group")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary folder, removed)")
    args = parser.parse_args()

    sizes = [(None, 3000)] if not args.events else [(n, users_for_events(n, args.days)) for n in args.events]
    rows = []
    for target, n_users in sizes:
        base = args.out or Path(tempfile.mkdtemp(prefix="bench_sim_"))
        out_dir = base / f"sim_{n_users}u_{args.days}d"
        try:
            result = measure_in_subprocess(out_dir, n_users, args.days, args.chunk_events)
        finally:
            if args.out is None:
                shutil.rmtree(base, ignore_errors=True)
        result["target"] = target or 0
        estimate = estimate_size(n_users, args.days, max(20, n_users // 40), args.chunk_events, DEFAULT_DIRTY_RATES)
        result["estimated_rows"] = estimate.rows
        result["estimated_mb"] = estimate.memory_bytes / 2**20
        rows.append(result)

    print(f"\n## Simulator (lsc_utils.simulate.simulate), {args.days} days, chunk_events={args.chunk_events}\n")
    print(
        "| target events | n_users | events written (estimated) | seconds | events/s "
        "| peak RSS (MB) (estimated) | output (MB) | target |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        limit = TARGET_SECONDS.get(int(r["target"]))
        verdict = (
            "-" if limit is None else ("met" if r["seconds"] < limit and r["peak_rss_mb"] < TARGET_RSS_MB else "MISSED")
        )
        print(
            f"| {int(r['target']) or '-'} | {int(r['n_users'])} | {int(r['events'])} ({int(r['estimated_rows'])}) | "
            f"{r['seconds']:.1f} | {r['events_per_s']:,.0f} | {r['peak_rss_mb']:.0f} ({r['estimated_mb']:.0f}) | "
            f"{r['output_mb']:.1f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
