"""Benchmark of :func:`lsc_utils.portraits.build_portraits` on synthetic canonical events.

Generates ``--events`` events with numpy (users, items, rooms, sessions, orders, prices, channels),
writes them with the items and rooms tables as Parquet into a temporary folder, then times
``build_portraits`` reading the Parquet paths, and ``summarize_transactions`` on the same file.

Usage::

    python benchmarks/bench_portraits.py [--events 10000000] [--users N] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lsc_utils.constants import CHANNELS, SEED
from lsc_utils.portraits import build_portraits, summarize_transactions

EVENT_MIX: dict[str, float] = {
    "impression": 0.25,
    "enter_room": 0.08,
    "leave_room": 0.06,
    "view_item": 0.30,
    "like": 0.10,
    "comment": 0.05,
    "share": 0.02,
    "follow": 0.01,
    "gift": 0.01,
    "favorite": 0.02,
    "add_to_cart": 0.05,
    "remove_from_cart": 0.01,
    "order": 0.02,
    "pay": 0.015,
    "refund": 0.005,
}
"""Share of each canonical event type in the synthetic log."""

PERIOD_DAYS = 60
"""Length of the synthetic log in days."""


def _ids(prefix: str, codes: np.ndarray) -> pa.Array:
    """String ids ``<prefix><code>`` built in Arrow (fast for tens of millions of rows)."""
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(codes), pa.string()), "")


def synthesize_events(n_events: int, n_users: int, seed: int = SEED) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Synthetic canonical events, items and rooms.

    Users have Zipf-like activity; events fall on random times within ``PERIOD_DAYS`` days; a
    session is a user's 2-hour block; the purchases of one session form one order.

    Returns
    -------
    events, items, rooms : pyarrow.Table
    """
    rng = np.random.default_rng(seed)
    n_items = max(100, n_events // 100)
    n_rooms = max(10, n_events // 2000)
    weights = 1.0 / np.arange(1, n_users + 1) ** 0.8
    user = rng.choice(n_users, size=n_events, p=weights / weights.sum())
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    t_us = start + rng.integers(0, PERIOD_DAYS * 86_400 * 1_000_000, size=n_events)
    types = np.array(list(EVENT_MIX))
    kind = rng.choice(len(types), size=n_events, p=np.array(list(EVENT_MIX.values())))
    is_pay = types[kind] == "pay"
    is_money = is_pay | (types[kind] == "refund")
    block = t_us // (2 * 3_600 * 1_000_000)
    item = rng.integers(0, n_items, size=n_events)
    room = rng.integers(0, n_rooms, size=n_events)
    in_room = rng.random(n_events) < 0.7
    price = np.where(is_money, np.round(rng.lognormal(3.0, 0.8, size=n_events), 2), np.nan)
    quantity = np.where(is_money, rng.integers(1, 4, size=n_events).astype(float), np.nan)
    quantity[types[kind] == "refund"] *= -1
    user_ids = _ids("u_", user)
    session = pc.binary_join_element_wise(user_ids, pc.cast(pa.array(block), pa.string()), "#")
    events = pa.table(
        {
            "user_id": user_ids,
            "ts": pa.array(t_us, pa.timestamp("us", tz="UTC")),
            "event_type": pa.array(types[kind]),
            "item_id": _ids("i_", item),
            "room_id": pc.if_else(pa.array(in_room), _ids("r_", room), pa.nulls(n_events, pa.string())),
            "session_id": session,
            "price": pa.array(price, from_pandas=True),
            "quantity": pa.array(quantity, from_pandas=True),
            "order_id": pc.if_else(pa.array(is_pay), session, pa.nulls(n_events, pa.string())),
            "channel": pa.array(np.array(CHANNELS)[rng.integers(0, len(CHANNELS), size=n_events)]),
        }
    )
    item_codes = np.arange(n_items)
    items = pa.table(
        {
            "item_id": _ids("i_", item_codes),
            "category": _ids("cat_", item_codes % 40),
            "brand": _ids("brand_", item_codes % 997),
        }
    )
    room_codes = np.arange(n_rooms)
    rooms = pa.table({"room_id": _ids("r_", room_codes), "anchor_id": _ids("a_", room_codes % max(5, n_rooms // 8))})
    return events, items, rooms


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads included (DuckDB runs in threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="number of synthetic events")
    parser.add_argument("--users", type=int, default=None, help="number of users (default events / 50)")
    parser.add_argument("--repeat", type=int, default=1, help="timed repetitions (best is reported)")
    args = parser.parse_args()
    n_users = args.users or max(100, args.events // 50)
    t0 = time.perf_counter()
    events, items, rooms = synthesize_events(args.events, n_users)
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench_portraits_") as tmp:
        folder = Path(tmp)
        pq.write_table(events, folder / "events.parquet", row_group_size=1_000_000)
        pq.write_table(items, folder / "items.parquet")
        pq.write_table(rooms, folder / "rooms.parquet")
        del events
        rows = []
        for label, run in (
            ("build_portraits", lambda: build_portraits(folder, items=folder, rooms=folder)),
            (
                "summarize_transactions",
                lambda: summarize_transactions(folder / "events.parquet", "2024-02-15", "W", "2024-02-29"),
            ),
        ):
            best, best_cpu, out_rows = np.inf, np.inf, 0
            for _ in range(args.repeat):
                cpu_start, start = _cpu_seconds(), time.perf_counter()
                out = run()
                best = min(best, time.perf_counter() - start)
                best_cpu = min(best_cpu, _cpu_seconds() - cpu_start)
                out_rows = len(out)
            rows.append((label, best, best_cpu, out_rows))
    print(f"cores: {os.cpu_count()}  events: {args.events:,}  users: {n_users:,}  generation: {gen_s:.1f} s")
    print(
        "wall = elapsed seconds; cpu = process CPU seconds over all threads (wall > cpu / cores means a busy machine)"
    )
    print(f"{'step':<24}{'wall s':>10}{'cpu s':>10}{'events/s':>14}{'output rows':>14}")
    for label, seconds, cpu, out_rows in rows:
        print(f"{label:<24}{seconds:>10.2f}{cpu:>10.2f}{args.events / seconds:>14,.0f}{out_rows:>14,}")


if __name__ == "__main__":
    main()
