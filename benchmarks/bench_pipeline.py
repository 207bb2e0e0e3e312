"""Benchmark: the row-scale pipeline at full size — simulate, clean, portraits, paths, room KPIs.

Usage: ``python benchmarks/bench_pipeline.py --events 10000000 [--days 28] [--memory-limit 4GB]
[--engine duckdb|spark] [--work DIR]``

The simulator (:func:`lsc_utils.simulate.simulate`, planted dirt, bots and rooms; generated in blocks of
users and written in Parquet row groups) writes the raw dataset; then every stage runs **in its own
process** on the files the previous one wrote, so each stage's peak RSS (``VmHWM``) is its own:

1. ``simulate``: the raw dataset (not counted in the pipeline's time: a user brings their own logs);
2. ``clean``: :func:`lsc_utils.cleaning.clean_dataset_out_of_core` (DuckDB SQL over Parquet, spilling
   above ``--memory-limit``): validation, quarantine, bots, pseudonyms, sessions;
3. ``portraits``: :func:`lsc_utils.portraits.build_portraits` over the clean Parquet files;
4. ``paths``: :class:`lsc_utils.paths.MarkovPathModel` (absorbing, first order) over the clean events;
5. ``room_kpis``: :func:`lsc_utils.live.room_kpis` (stays, concurrency and per-room counts).

Targets of issue #18: at 100M events, peak RSS ≤ 8 GB per stage and ≤ 20 minutes for stages 2-5 on
2 cores. The table printed at the end goes to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = b"benchmark-key-0123456789"
STAGES: tuple[str, ...] = ("simulate", "clean", "portraits", "paths", "room_kpis")
TARGET_STAGE_RSS_GB = 8.0
TARGET_PIPELINE_MINUTES = 20.0


def peak_rss_gb() -> float:
    """This process's peak resident memory (``VmHWM``) in GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_stage(stage: str, work: Path, events: int, days: int, memory_limit: str, engine: str) -> dict[str, object]:
    """Run one stage in this process; return seconds, peak RSS and a few counts that show it did its work."""
    raw, clean = work / "raw", work / "clean" / "clean"
    started = time.perf_counter()
    if stage == "simulate" and (raw / "dataset.yaml").is_file():  # --work of an earlier run: reuse its raw data
        import pyarrow.parquet as pq

        return {"stage": "simulate (reused)", "seconds": 0.0, "peak_rss_gb": 0.0,
                "events": pq.ParquetFile(raw / "events.parquet").metadata.num_rows}  # fmt: skip
    if stage == "simulate":
        from lsc_utils.simulate import simulate, users_for_events

        simulate(raw, n_users=users_for_events(events, days), n_days=days, progress=False)
        import pyarrow.parquet as pq

        detail = {"events": pq.ParquetFile(raw / "events.parquet").metadata.num_rows}
    elif stage == "clean":
        from lsc_utils import cleaning

        result = cleaning.clean_dataset_out_of_core(raw, work / "clean", KEY, memory_limit=memory_limit, engine=engine)
        ledger = result.ledger.set_index("table").loc["events"]
        detail = {"kept": int(ledger["kept_rows"]), "quarantined": int(ledger["quarantined_rows"])}
    elif stage == "portraits":
        from lsc_utils.portraits import build_portraits

        sides = {t: clean / f"{t}.parquet" for t in ("users", "items", "rooms")}
        detail = {"users": len(build_portraits(clean / "events.parquet", **sides, engine=engine))}
    elif stage == "paths":
        from lsc_utils.paths import MarkovPathModel

        model = MarkovPathModel(absorbing=True, engine=engine).fit(clean / "events.parquet")
        detail = {"sessions": int(model.n_sessions_), "transitions": int(model.transition_counts_["count"].sum())}
    else:
        from lsc_utils import live

        kpis = live.room_kpis(clean / "events.parquet", clean / "rooms.parquet", engine=engine)
        detail = {"rooms": len(kpis), "pv": int(kpis["pv"].sum())}
    return {"stage": stage, "seconds": time.perf_counter() - started, "peak_rss_gb": peak_rss_gb(), **detail}


def measure(stage: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    """Run a stage in a fresh interpreter and read its JSON line."""
    argv = [sys.executable, __file__, "--child", stage, str(work), "--events", str(args.events)]
    argv += ["--days", str(args.days), "--memory-limit", args.memory_limit, "--engine", args.engine]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="simulated event rows (about)")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit of the cleaning")
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument(
        "--work", type=Path, default=None, help="working folder, kept (its raw data is reused); default: temporary"
    )
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, work = args.child
        print(json.dumps(run_stage(stage, Path(work), args.events, args.days, args.memory_limit, args.engine)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        rows = []
        for stage in STAGES:
            rows.append(measure(stage, work, args))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    pipeline = [r for r in rows if not str(r["stage"]).startswith("simulate")]
    minutes = sum(float(r["seconds"]) for r in pipeline) / 60
    worst = max(float(r["peak_rss_gb"]) for r in pipeline)
    print(f"\n## Pipeline at {rows[0]['events']:,} simulated events ({args.engine}, {args.days} days)\n")
    print("| stage | seconds | peak RSS (GB) | what it produced |")
    print("|---|---:|---:|---|")
    for r in rows:
        detail = ", ".join(f"{k} {v:,}" for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_gb"))
        print(f"| {r['stage']} | {float(r['seconds']):.1f} | {float(r['peak_rss_gb']):.2f} | {detail} |")
    verdict = "met" if minutes <= TARGET_PIPELINE_MINUTES and worst <= TARGET_STAGE_RSS_GB else "not met"
    print(f"\nclean + portraits + paths + room KPIs: {minutes:.1f} min, worst stage {worst:.2f} GB "
          f"(targets ≤ {TARGET_PIPELINE_MINUTES:.0f} min, ≤ {TARGET_STAGE_RSS_GB:.0f} GB per stage: {verdict})")  # fmt: skip


if __name__ == "__main__":
    main()
