"""Benchmark of the live-room analyses over a large simulated event log, beside plain pandas.

Usage::

    python benchmarks/bench_live.py [--events 10000000] [--showcase-rooms 40] [--batch-rows 10000]

A dataset of about ``--events`` events is simulated (registered users plus guest audiences in
showcase rooms), its ``ts`` text cast to timestamps once into a Parquet file, and each stage runs in
its own process so that its peak RSS is its own:

* ``room_kpis`` -- stays, sweep-line PCU/ACU and every room KPI, from the Parquet path (DuckDB);
* ``timelines`` -- per-minute activity of every room and per-minute concurrency of every room;
* ``replay`` -- the streaming replay in micro-batches (throughput in events/s);
* ``pandas`` -- a plain pandas implementation of the same per-room counts and per-minute activity
  (the whole table loaded into a DataFrame, as a notebook without DuckDB would do).

The table is printed (paste it into ``benchmarks/RESULTS.md``); temporary files are removed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

STAGES = ("room_kpis", "timelines", "replay", "pandas")


def _stage(name: str, events: str, rooms: str, batch_rows: int) -> dict:
    """Run one stage in this process and return its wall time and result size."""
    import pandas as pd

    from lsc_utils import live

    start = time.perf_counter()
    if name == "room_kpis":
        out = {"rooms": len(live.room_kpis(events, rooms))}
    elif name == "timelines":
        activity = live.minute_activity(events)
        series = live.concurrency_series(live.build_stays(events, rooms), rooms)
        out = {"activity_rows": len(activity), "series_rows": len(series)}
    elif name == "replay":
        activity, batches = live.replay_minute_activity(events, batch_rows=batch_rows)
        out = {"activity_rows": len(activity), "batches": len(batches), "events": int(batches["events"].sum())}
    else:
        frame = pd.read_parquet(events, columns=["user_id", "room_id", "ts", "event_type", "price", "quantity"])
        frame = frame[frame["room_id"].notna()]
        frame["minute"] = frame["ts"].dt.floor("min")
        frame["gmv"] = frame["price"].fillna(0) * frame["quantity"].fillna(1) * frame["event_type"].eq("pay")
        per_room = frame.groupby("room_id").agg(
            pv=("event_type", lambda s: (s == "enter_room").sum()), users=("user_id", "nunique"), gmv=("gmv", "sum")
        )
        per_minute = pd.crosstab([frame["room_id"], frame["minute"]], frame["event_type"])
        out = {"rooms": len(per_room), "activity_rows": len(per_minute)}
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)  # Linux: KiB
    return out


def _prepare(n_events: int, showcase_rooms: int, folder: Path) -> tuple[Path, Path, int]:
    """Simulate about ``n_events`` events and write ``events.parquet`` with timestamp ``ts``."""
    import duckdb

    from lsc_utils.simulate import simulate, users_for_events

    data = simulate(
        folder / "data",
        n_users=users_for_events(n_events, 56),
        n_days=56,
        showcase_rooms=showcase_rooms,
        progress=False,
        dirty=False,
    )
    events = folder / "events.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT * REPLACE (CAST(ts AS TIMESTAMPTZ) AS ts) FROM '{data / "events.parquet"}')
            TO '{events}' (FORMAT parquet)"""
    )
    n = con.execute(f"SELECT COUNT(*) FROM '{events}'").fetchone()[0]
    return events, data / "rooms.parquet", int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--showcase-rooms", type=int, default=40)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--keep", help="keep the prepared events in this folder (reused when present)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # child process: one stage, its peak RSS measured by the parent
        print(json.dumps(_stage(args.stage, args.paths[0], args.paths[1], args.batch_rows)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = Path(args.keep or tmp)
        if (folder / "events.parquet").exists():
            events, rooms = folder / "events.parquet", folder / "data" / "rooms.parquet"
            n = pq.ParquetFile(events).metadata.num_rows
        else:
            events, rooms, n = _prepare(args.events, args.showcase_rooms, folder)
        print(f"{n:,} events simulated and cast in {time.perf_counter() - start:.0f} s")
        print("| stage | wall (s) | peak RSS (GB) | result |")
        print("|---|---|---|---|")
        for stage in args.stages.split(","):
            cmd = [sys.executable, __file__, "--stage", stage, "--paths", str(events), str(rooms)]
            cmd += ["--batch-rows", str(args.batch_rows)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            seconds, peak = result.pop("seconds"), result.pop("peak_gb")
            print(f"| {stage} | {seconds} | {peak} | {result} |")


if __name__ == "__main__":
    main()
