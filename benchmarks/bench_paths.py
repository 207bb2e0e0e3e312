"""Benchmark of shopping-path transition counts against pm4py's directly-follows graph.

Usage::

    python benchmarks/bench_paths.py [--events 10000000] [--pm4py-events 1000000] [--repeat 1]

Synthetic canonical events (string ids, UTC timestamps, canonical event types drawn from a fixed
first-order chain, sessions of geometric length) are timed through:

* ``MarkovPathModel(absorbing=False)`` -- the plain chain with START/END edges, whose counts equal
  pm4py's DFG plus start/end activities (checked here on the pm4py size);
* ``MarkovPathModel()`` -- absorbing chain cut at ``pay`` with the absorbing analysis;
* ``MarkovPathModel(order=2)``;
* the same from a Parquet file;
* ``funnel`` (view_item > add_to_cart > pay, 1-day window, ordered and strict);
* ``pm4py.format_dataframe`` + ``pm4py.discover_dfg`` (pandas), at ``--pm4py-events`` because it is
  much slower and needs several times the memory.

The table is printed; nothing is written except a temporary Parquet file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from lsc_utils.paths import END, START, MarkovPathModel, funnel

EVENT_CHAIN: dict[str, dict[str, float]] = {
    "enter_room": {"view_item": 0.5, "like": 0.2, "comment": 0.1, "leave_room": 0.2},
    "view_item": {"view_item": 0.4, "add_to_cart": 0.2, "favorite": 0.1, "leave_room": 0.3},
    "like": {"view_item": 0.5, "comment": 0.2, "leave_room": 0.3},
    "comment": {"view_item": 0.5, "like": 0.2, "leave_room": 0.3},
    "favorite": {"view_item": 0.6, "add_to_cart": 0.4},
    "add_to_cart": {"pay": 0.4, "view_item": 0.4, "remove_from_cart": 0.2},
    "remove_from_cart": {"view_item": 0.7, "leave_room": 0.3},
    "pay": {"view_item": 0.5, "leave_room": 0.5},
    "leave_room": {"enter_room": 1.0},
}
"""Planted first-order chain of the synthetic event types."""


def synthetic_events(n_events: int, seed: int = 42, mean_session_length: float = 12.0) -> pd.DataFrame:
    """Canonical events: ~n_events rows, sessions of geometric length, ~5 sessions per user."""
    rng = np.random.default_rng(seed)
    types = list(EVENT_CHAIN)
    code = {t: i for i, t in enumerate(types)}
    cumulative = np.zeros((len(types), len(types)))
    for source, targets in EVENT_CHAIN.items():
        for target, p in targets.items():
            cumulative[code[source], code[target]] = p
    cumulative = np.cumsum(cumulative, axis=1)
    n_sessions = max(1, int(n_events / mean_session_length))
    lengths = rng.geometric(1.0 / mean_session_length, n_sessions)
    lengths = lengths[np.cumsum(lengths) <= n_events]
    n_sessions, total = len(lengths), int(lengths.sum())
    session = np.repeat(np.arange(n_sessions), lengths)
    position = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    state = np.full(n_sessions, code["enter_room"])
    kinds = np.empty(total, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    for step in range(int(lengths.max())):
        alive = np.flatnonzero(lengths > step)
        kinds[starts[alive] + step] = state[alive]
        draw = rng.random(len(alive))
        state[alive] = (draw[:, None] > cumulative[state[alive]]).sum(axis=1)
    user = session // 5
    session_start = rng.integers(1_700_000_000, 1_702_600_000, n_sessions)
    gaps = rng.integers(0, 120, total)
    seconds = (
        np.repeat(session_start, lengths) + np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts] - gaps[starts], lengths)
    )
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(user).astype("str").radd("u"),
            "session_id": pd.Series(session).astype("str").radd("s"),
            "ts": pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[us, UTC]"),
            "event_type": pd.Categorical.from_codes(kinds, types).astype("str"),
            "position": position,
        }
    )
    return frame.drop(columns="position")


def timed(function: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall time and best process CPU time (all threads) of ``repeat`` runs, and the last result.

    CPU time is reported next to wall time because the benchmark machine may be shared: on a busy
    machine wall time grows while CPU time stays close to the work actually done.
    """
    best_wall, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def pm4py_dfg(events: pd.DataFrame) -> tuple[dict, dict, dict]:
    """pm4py's DFG, start and end activities with case = session, activity = event type."""
    import pm4py

    log = pm4py.format_dataframe(
        events[["session_id", "event_type", "ts"]].copy(),
        case_id="session_id",
        activity_key="event_type",
        timestamp_key="ts",
    )
    return pm4py.discover_dfg(log)


def check_equal_to_pm4py(model: MarkovPathModel, dfg: tuple[dict, dict, dict]) -> bool:
    """Whether the model's counts are pm4py's DFG plus start and end activities."""
    edges, starts, ends = dfg
    counts = model.transition_counts_
    ours = {(f, t): c for f, t, c in counts.itertuples(index=False) if f != START and t != END}
    our_starts = dict(counts.loc[counts["from_state"] == START, ["to_state", "count"]].itertuples(index=False))
    our_ends = dict(counts.loc[counts["to_state"] == END, ["from_state", "count"]].itertuples(index=False))
    return ours == {k: int(v) for k, v in edges.items()} and our_starts == starts and our_ends == ends


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="synthetic events for lsc_utils")
    parser.add_argument("--pm4py-events", type=int, default=1_000_000, help="synthetic events for pm4py (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (best is reported)")
    args = parser.parse_args()

    rows: list[tuple[str, int, float, float, str]] = []
    start = time.perf_counter()
    events = synthetic_events(args.events)
    print(f"generated {len(events):,} events in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        parquet = Path(folder) / "events.parquet"
        events.to_parquet(parquet, index=False)
        cases = [
            ("MarkovPathModel(absorbing=False) DataFrame", lambda: MarkovPathModel(absorbing=False).fit(events)),
            ("MarkovPathModel() absorbing DataFrame", lambda: MarkovPathModel().fit(events)),
            ("MarkovPathModel(order=2) DataFrame", lambda: MarkovPathModel(order=2).fit(events)),
            ("MarkovPathModel(absorbing=False) Parquet", lambda: MarkovPathModel(absorbing=False).fit(parquet)),
            ("MarkovPathModel() absorbing Parquet", lambda: MarkovPathModel().fit(parquet)),
            ("funnel view>cart>pay 1D ordered DataFrame", lambda: funnel(events, window="1D")),
            ("funnel view>cart>pay 1D strict DataFrame", lambda: funnel(events, window="1D", order="strict")),
        ]
        for name, run in cases:
            wall, cpu, _ = timed(run, args.repeat)
            rows.append((name, len(events), wall, cpu, ""))

    if args.pm4py_events:
        small = events if args.pm4py_events >= len(events) else synthetic_events(args.pm4py_events, seed=7)
        ours_wall, ours_cpu, model = timed(lambda: MarkovPathModel(absorbing=False).fit(small), args.repeat)
        pm_wall, pm_cpu, dfg = timed(lambda: pm4py_dfg(small), args.repeat)
        same = "equal counts" if check_equal_to_pm4py(model, dfg) else "COUNTS DIFFER"
        rows.append(("MarkovPathModel(absorbing=False) DataFrame", len(small), ours_wall, ours_cpu, same))
        rows.append(("pm4py format_dataframe + discover_dfg", len(small), pm_wall, pm_cpu, same))

    print(f"\n{'case':<46} {'events':>12} {'wall s':>8} {'CPU s':>8} {'M ev/s (wall)':>14}  note")
    for name, n, wall, cpu, note in rows:
        print(f"{name:<46} {n:>12,} {wall:>8.2f} {cpu:>8.2f} {n / wall / 1e6:>14.2f}  {note}")
    print(f"\ncores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
