""":func:`simulate`: parameters, user blocks, Parquet sinks, truth files and ``dataset.yaml``."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from tqdm.auto import tqdm

from lsc_utils.checks import check_int
from lsc_utils.constants import CHANNELS, DEFAULT_SESSION_GAP_MINUTES, EVENT_TYPES, SEED
from lsc_utils.io import write_meta
from lsc_utils.simulate.audience import guest_audience, live_rooms_truth, pick_showcase_rooms
from lsc_utils.simulate.campaign import campaign_events, check_campaign_days, featured_items, simulate_campaign
from lsc_utils.simulate.chains import transition_table
from lsc_utils.simulate.customer_base import (
    GAMMA_GAMMA_TRUTH,
    customer_base_truth,
)
from lsc_utils.simulate.demand import demand_truth_tables, market_events, simulate_market
from lsc_utils.simulate.helpers import _format_ids, _format_ms_timestamps, _take_strings
from lsc_utils.simulate.limits import check_days, check_size
from lsc_utils.simulate.noise import build_bot_events, compose_comments, inject_dirty_rows
from lsc_utils.simulate.pii_benchmark import pii_benchmark
from lsc_utils.simulate.sessions import BlockOutput, Counters, Events, _concat, _take, build_session_events
from lsc_utils.simulate.vocab import (
    CATEGORIES,
    DEFAULT_DIRTY_RATES,
    DIRTY_KINDS,
    DISCRIMINATION_CATEGORIES,
    DISCRIMINATION_CHEAPER_TILT,
    DISCRIMINATION_GROUP_COLUMN,
    DISCRIMINATION_GROUP_VALUE,
    DISCRIMINATION_SURCHARGE,
    EVENT_VOCABULARY,
    LANGUAGES,
    PAYMENT_METHODS,
    PII_KINDS,
    SEGMENT_PROFILES,
    SEGMENTS,
    SENTIMENT_LABELS,
    SESSION_EVENT_TYPES,
    TRUTH_DIR,
    UNDERSERVED_EXPLORE_SHARE,
    UNDERSERVED_GROUP_COLUMN,
    UNDERSERVED_GROUP_VALUE,
    UNPARSEABLE_TIMESTAMPS,
    USERS_PER_BLOCK,
)
from lsc_utils.simulate.world import SimulationParams, World, build_world

EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("ts", pa.string()),
        ("event_type", pa.string()),
        ("item_id", pa.string()),
        ("room_id", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("order_id", pa.string()),
        ("channel", pa.string()),
        ("payment_method", pa.string()),
    ]
)
COMMENTS_SCHEMA = pa.schema(
    [
        ("comment_id", pa.string()),
        ("room_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("text", pa.string()),
        ("lang", pa.string()),
    ]
)
SESSIONS_SCHEMA = pa.schema([("event_row", pa.int64()), ("session", pa.string())])
LABELS_SCHEMA = pa.schema([("comment_id", pa.string()), ("label", pa.string()), ("lang", pa.string())])
PII_SCHEMA = pa.schema([("comment_id", pa.string()), ("kind", pa.string()), ("value", pa.string())])
ORDER_ID_WIDTH = 9
SESSION_ID_WIDTH = 8
COMMENT_ID_WIDTH = 8


def simulate_block(world: World, users: np.ndarray, counters: Counters, rng: np.random.Generator) -> BlockOutput:
    """Simulate the users of one block and render their rows as Arrow tables.

    ``counters`` (global row, session, order and comment numbers) are advanced in place.
    """
    params = world.params
    humans = users[~world.user_is_bot[users]]
    bots = users[world.user_is_bot[users]]
    human_events, n_sessions, purchases = build_session_events(world, humans, rng)
    human_events["session"] += counters.sessions
    human_events["order"] = np.where(human_events["order"] >= 0, human_events["order"] + counters.orders, -1)
    n_orders = int((human_events["etype"] == SESSION_EVENT_TYPES.index("order")).sum())
    merged = _concat([human_events, build_bot_events(world, bots, rng)])
    order = np.lexsort((merged["ts"], merged["user"]))
    merged = _take(merged, order)
    is_bot_row = world.user_is_bot[merged["user"]]
    if params.dirty:
        merged, kind = inject_dirty_rows(merged, is_bot_row, params.dirty_rates, rng)
    else:
        kind = np.where(is_bot_row, DIRTY_KINDS.index("bot_user"), -1)

    rows = counters.rows + np.arange(merged["user"].size, dtype=np.int64)
    clean = kind < 0
    sessions = pa.table(
        {
            "event_row": pa.array(rows[clean]),
            "session": _format_ids("S", merged["session"][clean] + 1, SESSION_ID_WIDTH),
        },
        schema=SESSIONS_SCHEMA,
    )
    dirty = pd.DataFrame({"row": rows[~clean], "kind": kind[~clean]})
    comment_rows = np.flatnonzero(clean & (merged["etype"] == SESSION_EVENT_TYPES.index("comment")))
    comments = _comment_tables(world, merged, comment_rows, counters.comments, rng)
    events = _events_table(world, merged)

    counters.rows += merged["user"].size
    counters.sessions += n_sessions
    counters.orders += n_orders
    counters.comments += comment_rows.size
    return BlockOutput(events, sessions, comments[0], comments[1], comments[2], dirty, purchases)


def _events_table(world: World, events: Events) -> pa.Table:
    """Render internal event columns as the canonical raw events table (``ts`` as ISO strings)."""
    ts_text = events["ts_text"]
    ts = _format_ms_timestamps(events["ts"])
    if (ts_text >= 0).any():
        garbage = _take_strings(pa.array(UNPARSEABLE_TIMESTAMPS, type=pa.string()), ts_text)
        ts = pc.if_else(pa.array(ts_text >= 0), garbage, ts)
    order = events["order"]
    return pa.table(
        {
            "user_id": _take_strings(world.user_ids, events["user"]),
            "ts": ts,
            "event_type": _take_strings(pa.array(EVENT_VOCABULARY, type=pa.string()), events["etype"]),
            "item_id": _take_strings(world.item_ids, events["item"]),
            "room_id": _take_strings(world.room_ids, events["room"]),
            "price": pa.array(events["price"], mask=np.isnan(events["price"])),
            "quantity": pa.array(events["quantity"], mask=np.isnan(events["quantity"])),
            "order_id": pc.if_else(
                pa.array(order >= 0),
                _format_ids("O", np.maximum(order, 0) + 1, ORDER_ID_WIDTH),
                pa.scalar(None, pa.string()),
            ),
            "channel": _take_strings(pa.array(CHANNELS, type=pa.string()), events["channel"]),
            "payment_method": _take_strings(pa.array(PAYMENT_METHODS, type=pa.string()), events["payment"]),
        },
        schema=EVENTS_SCHEMA,
    )


def _comment_tables(
    world: World,
    events: Events,
    rows: np.ndarray,
    first_number: int,
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Comments table, sentiment labels and planted PII of the comment events at ``rows``."""
    users, rooms = events["user"][rows], events["room"][rows]
    composed = compose_comments(world, users, rooms, rng)
    ids = _format_ids("C", first_number + np.arange(1, rows.size + 1), COMMENT_ID_WIDTH)
    lang = _take_strings(pa.array(LANGUAGES, type=pa.string()), composed["lang"])
    comments = pa.table(
        {
            "comment_id": ids,
            "room_id": _take_strings(world.room_ids, rooms),
            "user_id": _take_strings(world.user_ids, users),
            "ts": pa.array(events["ts"][rows] * 1000, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "text": composed["text"],
            "lang": lang,
        },
        schema=COMMENTS_SCHEMA,
    )
    labels = pa.table(
        {
            "comment_id": ids,
            "label": _take_strings(pa.array(SENTIMENT_LABELS, type=pa.string()), composed["label"]),
            "lang": lang,
        },
        schema=LABELS_SCHEMA,
    )
    pii = pa.table(
        {
            "comment_id": pc.take(ids, pa.array(composed["pii_rows"], type=pa.int64())),
            "kind": _take_strings(pa.array(PII_KINDS, type=pa.string()), composed["pii_kind"]),
            "value": composed["pii_value"],
        },
        schema=PII_SCHEMA,
    )
    return comments, labels, pii


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


class ParquetSink:
    """Append Arrow tables to one Parquet file, one row group per ``min_rows`` buffered rows."""

    def __init__(self, path: Path, schema: pa.Schema, min_rows: int) -> None:
        self.path = path
        self.schema = schema
        self.min_rows = min_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._writer = pq.ParquetWriter(path, schema)
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        """Buffer ``table``; flush a row group once enough rows are buffered."""
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= self.min_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        if self._buffer:
            table = pa.concat_tables(self._buffer)
            if table.num_rows:
                self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self.rows += table.num_rows
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """Flush and close the file (an empty table is still a valid Parquet file)."""
        self.flush()
        self._writer.close()


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _iter_blocks(n_users: int) -> Iterator[np.ndarray]:
    for first in range(0, n_users, USERS_PER_BLOCK):
        yield np.arange(first, min(first + USERS_PER_BLOCK, n_users))


def _checked_dirty_rates(dirty_rates: Mapping[str, float] | None) -> dict[str, float]:
    """:data:`DEFAULT_DIRTY_RATES` with the given overrides, each a known kind with a rate in [0, 0.05]."""
    rates = dict(DEFAULT_DIRTY_RATES)
    if dirty_rates is None:
        return rates
    unknown = sorted(set(dirty_rates) - set(DIRTY_KINDS))
    if unknown:
        raise ValueError(
            f"The 'dirty_rates' parameter of simulate has unknown kinds {unknown}. Expected keys among {list(DIRTY_KINDS)}."
        )
    for kind, rate in dirty_rates.items():
        if not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 0.05:
            raise ValueError(
                f"The 'dirty_rates' parameter of simulate must map kinds to rates in [0, 0.05]. Got {kind}={rate!r} instead."
            )
        rates[kind] = float(rate)
    return rates


def check_params(
    n_users: int,
    n_days: int,
    seed: int,
    start: str | pd.Timestamp,
    discrimination: bool,
    dirty: bool,
    chunk_events: int,
    n_items: int | None,
    n_anchors: int | None,
    dirty_rates: Mapping[str, float] | None,
    showcase_rooms: int = 0,
    demand_study: bool = False,
    campaign: bool = False,
) -> SimulationParams:
    """Validate the arguments of :func:`simulate` and fill derived defaults.

    ``n_days`` is capped at :data:`~lsc_utils.simulate.limits.MAX_DAYS` (:func:`~lsc_utils.simulate.limits.check_days`).

    Raises
    ------
    ValueError
        Naming the parameter, what was expected and what was given.
    """
    check_int(n_users, "n_users", "simulate", 50)
    check_int(n_days, "n_days", "simulate", 1)
    check_int(seed, "seed", "simulate", 0)
    check_int(chunk_events, "chunk_events", "simulate", 1000)
    check_int(showcase_rooms, "showcase_rooms", "simulate", 0)
    flags = (
        ("discrimination", discrimination),
        ("dirty", dirty),
        ("demand_study", demand_study),
        ("campaign", campaign),
    )
    for name, value in flags:
        if not isinstance(value, bool):
            raise ValueError(f"The '{name}' parameter of simulate must be a bool. Got {value!r} instead.")
    try:
        start_ts = pd.Timestamp(start)
    except (TypeError, ValueError):
        raise ValueError(
            f"The 'start' parameter of simulate must be an ISO date like '2026-03-02'. Got {start!r} instead."
        ) from None
    start_ts = start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts.tz_convert("UTC")
    start_ts = start_ts.normalize()
    check_days(int(n_days), start_ts)
    if n_items is None:
        n_items = max(200, n_users // 4)
    if n_anchors is None:
        n_anchors = max(20, n_users // 40)
    check_int(n_items, "n_items", "simulate", 20)
    check_int(n_anchors, "n_anchors", "simulate", 5)
    rates = _checked_dirty_rates(dirty_rates)
    if campaign:
        check_campaign_days(int(n_days))
    return SimulationParams(
        n_users=int(n_users),
        n_days=int(n_days),
        seed=int(seed),
        start=start_ts,
        discrimination=discrimination,
        dirty=dirty,
        chunk_events=int(chunk_events),
        n_items=int(n_items),
        n_anchors=int(n_anchors),
        dirty_rates=rates,
        showcase_rooms=int(showcase_rooms),
        demand_study=demand_study,
        campaign=campaign,
    )


def simulate(
    out_dir: str | Path,
    *,
    n_users: int = 3000,
    n_days: int = 56,
    seed: int = SEED,
    start: str | pd.Timestamp = "2026-03-02",
    discrimination: bool = True,
    dirty: bool = True,
    chunk_events: int = 1_000_000,
    progress: bool = True,
    n_items: int | None = None,
    n_anchors: int | None = None,
    dirty_rates: Mapping[str, float] | None = None,
    showcase_rooms: int = 0,
    demand_study: bool = False,
    campaign: bool = False,
) -> Path:
    """Simulate a live-streaming-commerce platform and write a canonical dataset with planted truth.

    Parameters
    ----------
    out_dir : str or Path
        Dataset folder to write: new, empty, or an earlier dataset folder (whose files of the same
        names are replaced). Any other non-empty folder, or a file, is refused with the rule of
        ``convert`` (:func:`lsc_utils.datasets._common.check_output_folder`).
    n_users : int, default 3000
        Users, bots included (>= 50). :func:`users_for_events` converts a target number of events.
        A size whose estimated peak memory exceeds the memory available is refused before anything
        is generated (:func:`lsc_utils.simulate.limits.check_size`).
    n_days : int, default 56
        Simulated days, starting at ``start`` 00:00 UTC; at most
        :data:`~lsc_utils.simulate.limits.MAX_DAYS` (ten years).
    seed : int, default 42
        Seed of the only random source, ``numpy.random.SeedSequence(seed)``.
    start : str or Timestamp, default "2026-03-02"
        First simulated day (UTC).
    discrimination : bool, default True
        Plant the iOS price surcharge of :data:`DISCRIMINATION_SURCHARGE` in
        :data:`DISCRIMINATION_CATEGORIES`; False gives every user the same price rule.
    dirty : bool, default True
        Inject dirty rows and bot users (recorded in ``truth/dirty_rows.parquet``).
    chunk_events : int, default 1_000_000
        Rows buffered before a Parquet row group is written (bounds memory; does not change content).
    progress : bool, default True
        Show a tqdm progress bar over user blocks.
    n_items, n_anchors : int, optional
        Catalogue size and number of anchors (defaults ``max(200, n_users // 4)`` and
        ``max(20, n_users // 40)``).
    dirty_rates : mapping of str to float, optional
        Override entries of :data:`DEFAULT_DIRTY_RATES`.
    showcase_rooms : int, default 0
        Rooms given a passive guest audience (logged entries and leaves) with planted incidents
        (:mod:`lsc_utils.simulate.audience`; truth in ``truth/live_rooms.parquet`` and
        ``truth/stays.parquet``); 0 leaves every table as without it.
    demand_study : bool, default False
        Add market orders with planted demand (:mod:`lsc_utils.simulate.demand`, ``truth/demand*``).
    campaign : bool, default False
        Add a randomised coupon campaign over the last 14 days with planted per-user effects
        (:mod:`lsc_utils.simulate.campaign`): the ``exposures`` table, campaign-window orders and
        ``truth/campaign*``. Needs ``n_days >= 28``.

    Returns
    -------
    Path
        The dataset folder.

    Examples
    --------
    >>> from lsc_utils.simulate import simulate
    >>> path = simulate("data/sim", n_users=3000, n_days=28, progress=False)  # doctest: +SKIP
    """
    params = check_params(
        n_users, n_days, seed, start, discrimination, dirty, chunk_events, n_items, n_anchors, dirty_rates,
        showcase_rooms, demand_study, campaign,
    )  # fmt: skip
    check_size(params)
    return _write_atomically(Path(out_dir), params, progress)


def _write_atomically(out: Path, params: SimulationParams, progress: bool) -> Path:
    """Write the dataset into a staging folder beside ``out``, then rename it: never a half-written dataset."""
    _check_output_folder(out)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        _write_dataset(staging, params, progress)
        if out.exists():
            shutil.rmtree(out)  # an earlier dataset (check_output_folder allowed nothing else)
        staging.rename(out)
    except OSError as exc:  # name the folder the user asked for, not the staging one
        raise OSError(exc.errno, exc.strerror, str(out)) from None
    finally:
        if staging.exists():  # interrupted or failed: no half-written dataset is left behind
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_dataset(out: Path, params: SimulationParams, progress: bool) -> None:
    """Generate every table, the truth files and ``dataset.yaml`` into ``out`` (a staging folder)."""
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    # a third child for the guest audience, a fourth for the market, a fifth for the campaign and a sixth for
    # the PII benchmark: the first two (and so every other table) do not change
    seeds = np.random.SeedSequence(params.seed).spawn(6)
    world_seed, blocks_seed, audience_seed, market_seed, campaign_seed, pii_seed = seeds
    world, tables = build_world(params, np.random.default_rng(world_seed))
    offered = _campaign(out, truth, params, world, tables, np.random.default_rng(campaign_seed))
    for name in ("users", "items", "rooms"):
        _write_frame(tables[name], out / f"{name}.parquet")
    counters = Counters()
    guests = _showcase_audience(truth, params, world, np.random.default_rng(audience_seed))
    market = _market_demand(truth, params, world, np.random.default_rng(market_seed))
    parts = [t for t in (guests, market, offered) if t is not None]
    extra_events = pa.concat_tables(parts) if parts else None
    dirty_parts, pii_values, purchase_parts = _simulate_blocks(
        out, truth, params, world, blocks_seed, counters, progress, extra_events
    )
    dirty_rows = pd.concat(dirty_parts, ignore_index=True)
    _write_truth(truth, params, world, tables, dirty_rows, pii_values)
    _write_customer_truth(truth, params, world, tables["users"], purchase_parts)
    _write_frame(pii_benchmark(np.random.default_rng(pii_seed)), truth / "pii_benchmark.parquet")
    _write_dataset_meta(out, params, counters)


def _check_output_folder(out: Path) -> None:
    """Refuse an output path that is a file or a non-empty folder other than a dataset: the rule of ``convert``.

    The rule lives in :func:`lsc_utils.datasets._common.check_output_folder` (one rule for every writer of
    a dataset folder); it is imported here, when used, so that importing the simulator does not import
    every dataset adapter.
    """
    from lsc_utils.datasets._common import check_output_folder

    check_output_folder(out)


def _open_sinks(out: Path, truth: Path, chunk_events: int) -> dict[str, ParquetSink]:
    """One Parquet sink per streamed table, keyed by the :class:`BlockOutput` attribute it receives.

    Parameters
    ----------
    out, truth : Path
        Dataset folder and its truth folder.
    chunk_events : int
        Rows buffered before a row group is written.

    Returns
    -------
    dict of str to ParquetSink
        Sinks of events and comments (dataset) and sessions, comment labels and comment PII (truth).
    """
    return {
        "events": ParquetSink(out / "events.parquet", EVENTS_SCHEMA, chunk_events),
        "comments": ParquetSink(out / "comments.parquet", COMMENTS_SCHEMA, chunk_events),
        "sessions": ParquetSink(truth / "sessions.parquet", SESSIONS_SCHEMA, chunk_events),
        "comment_labels": ParquetSink(truth / "comment_labels.parquet", LABELS_SCHEMA, chunk_events),
        "comment_pii": ParquetSink(truth / "comment_pii.parquet", PII_SCHEMA, chunk_events),
    }


def _simulate_blocks(
    out: Path,
    truth: Path,
    params: SimulationParams,
    world: World,
    blocks_seed: np.random.SeedSequence,
    counters: Counters,
    progress: bool,
    extra_events: pa.Table | None = None,
) -> tuple[list[pd.DataFrame], list[pa.Array], list[dict[str, np.ndarray]]]:
    """Simulate the user blocks in order, each with its own child seed, streaming their tables to Parquet.

    Parameters
    ----------
    out, truth : Path
        Dataset folder and its truth folder.
    params : SimulationParams
        Checked simulation parameters.
    world : World
        The shared simulated world.
    blocks_seed : numpy.random.SeedSequence
        Parent of the blocks' seeds (one child per block).
    counters : Counters
        Running counters, updated by every block.
    progress : bool
        Show a tqdm progress bar over user blocks.
    extra_events : pyarrow.Table or None
        Events appended after the user blocks, with no sessions and no dirt: guest audiences, market
        orders and campaign-window orders.

    Returns
    -------
    dirty_parts : list of pandas.DataFrame
        Dirty rows injected by each block.
    pii_values : list of pyarrow.Array
        Comment PII values of each block.
    purchase_parts : list of dict of numpy.ndarray
        Purchases of each block.
    """
    n_blocks = math.ceil(params.n_users / USERS_PER_BLOCK)
    block_seeds = blocks_seed.spawn(n_blocks)
    sinks = _open_sinks(out, truth, params.chunk_events)
    dirty_parts: list[pd.DataFrame] = []
    pii_values: list[pa.Array] = []
    purchase_parts: list[dict[str, np.ndarray]] = []
    try:
        blocks = tqdm(_iter_blocks(params.n_users), total=n_blocks, desc="simulate", unit="block", disable=not progress)
        for users, block_seed in zip(blocks, block_seeds, strict=True):
            block = simulate_block(world, users, counters, np.random.default_rng(block_seed))
            for name in sinks:
                sinks[name].add(getattr(block, name))
            dirty_parts.append(block.dirty_rows)
            purchase_parts.append(block.purchases)
            pii_values.append(block.comment_pii.column("value").combine_chunks())
        if extra_events is not None:
            sinks["events"].add(extra_events)
            counters.rows += extra_events.num_rows
    finally:
        for sink in sinks.values():
            sink.close()
    return dirty_parts, pii_values, purchase_parts


def _showcase_audience(
    truth: Path, params: SimulationParams, world: World, rng: np.random.Generator
) -> pa.Table | None:
    """Guest events of the showcase rooms (full events schema), their truth written to ``truth``."""
    if not params.showcase_rooms:
        return None
    showcase = pick_showcase_rooms(world.room_start, world.room_end, params.showcase_rooms, rng)
    events, stays = guest_audience(showcase, world.room_start, world.room_end, world.room_ids, rng)
    _write_frame(live_rooms_truth(showcase, world.room_ids), truth / "live_rooms.parquet")
    _write_frame(stays, truth / "stays.parquet")
    n = events.num_rows
    columns = {f.name: events[f.name] if f.name in events.column_names else pa.nulls(n, f.type) for f in EVENTS_SCHEMA}
    return pa.table(columns, schema=EVENTS_SCHEMA)


def _market_demand(truth: Path, params: SimulationParams, world: World, rng: np.random.Generator) -> pa.Table | None:
    """Market order events of the demand study (full events schema), their truth written to ``truth``."""
    if not params.demand_study:
        return None
    market = simulate_market(
        params.start, params.n_days, world.item_category, world.room_category, world.room_start, world.room_end, rng
    )
    events = market_events(market["orders"], world.item_ids, world.item_price, world.room_ids, rng)
    categories, items = demand_truth_tables(
        params.start,
        market["expected_categories"],
        market["expected_items"],
        market["is_live"],
        world.item_category,
        world.item_ids,
    )
    _write_frame(categories, truth / "demand_categories.parquet")
    _write_frame(items, truth / "demand_items.parquet")
    (truth / "demand.yaml").write_text(yaml.safe_dump(market["params"], sort_keys=False), encoding="utf-8")
    return events.select(EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA)


def _campaign(
    out: Path,
    truth: Path,
    params: SimulationParams,
    world: World,
    tables: dict[str, pd.DataFrame],
    rng: np.random.Generator,
) -> pa.Table | None:
    """Campaign-window order events (full events schema); featured items appended to ``tables["items"]``,
    ``exposures.parquet`` and the truth written."""
    if not params.campaign:
        return None
    featured = featured_items(tables["items"], world.item_category, rng)
    tables["items"] = pd.concat([tables["items"], featured], ignore_index=True)
    codes = {c.name: k for k, c in enumerate(CATEGORIES)}
    featured_category = featured["category"].map(codes).to_numpy(dtype=np.int64)
    result = simulate_campaign(
        tables["users"], world.user_segment, world.user_is_bot, world.user_payment, world.user_fav_category,
        featured_category, featured["list_price"].to_numpy(dtype=float), params.start, params.n_days, rng,
    )  # fmt: skip
    _write_frame(result["exposures"], out / "exposures.parquet")
    _write_frame(result["truth"], truth / "campaign_users.parquet")
    (truth / "campaign.yaml").write_text(yaml.safe_dump(result["params"], sort_keys=False), encoding="utf-8")
    featured_ids = pa.array(featured["item_id"].to_numpy(dtype=object), type=pa.string())
    return campaign_events(result["orders"], world.user_ids, featured_ids)


def _write_truth(
    truth: Path,
    params: SimulationParams,
    world: World,
    tables: dict[str, pd.DataFrame],
    dirty_rows: pd.DataFrame,
    pii_values: list[pa.Array],
) -> None:
    """Write the small truth files (segments, traits, transitions, pricing, dirty rows, bots, canaries)."""
    traits = tables["user_traits"]
    _write_frame(traits[["user_id", "segment"]], truth / "segments.parquet")
    _write_frame(traits, truth / "user_traits.parquet")
    _write_frame(transition_table(), truth / "transitions.parquet")
    dirty = pd.DataFrame(
        {
            "table": pd.Series(["events"] * len(dirty_rows), dtype="str"),
            "row": dirty_rows["row"].astype(np.int64),
            "kind": pd.Series(np.asarray(DIRTY_KINDS)[dirty_rows["kind"].to_numpy(dtype=np.int64)], dtype="str"),
        }
    )
    _write_frame(dirty, truth / "dirty_rows.parquet")
    bots = np.flatnonzero(world.user_is_bot)
    bot_table = pd.DataFrame(
        {
            "user_id": tables["users"]["user_id"].to_numpy()[bots],
            "n_events": world.bot_events[bots] // np.maximum(world.bot_stretches[bots], 1) * world.bot_stretches[bots],
            "n_stretches": world.bot_stretches[bots],
        }
    )
    bot_table["user_id"] = bot_table["user_id"].astype("str")
    _write_frame(bot_table, truth / "bots.parquet")
    (truth / "pricing.yaml").write_text(yaml.safe_dump(pricing_truth(params), sort_keys=False), encoding="utf-8")
    (truth / "fairness.yaml").write_text(yaml.safe_dump(fairness_truth(), sort_keys=False), encoding="utf-8")
    canaries = tables["canaries"]
    values = pd.concat(
        [canaries["token"], canaries["name"], canaries["phone"], canaries["email"]]
        + [pd.Series(v.to_pylist(), dtype="str") for v in pii_values],
        ignore_index=True,
    )
    values = values.drop_duplicates().tolist()
    (truth / "canaries.json").write_text(json.dumps(values, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def _write_customer_truth(
    truth: Path, params: SimulationParams, world: World, users: pd.DataFrame, parts: list[dict[str, np.ndarray]]
) -> None:
    """Write ``truth/clv.yaml`` (planted parameters) and ``truth/customers.parquet`` (per-user latents)."""
    (truth / "clv.yaml").write_text(
        yaml.safe_dump(customer_base_truth(params.n_days), sort_keys=False), encoding="utf-8"
    )
    buyer = np.concatenate([p["user"] for p in parts])
    ts = np.concatenate([p["ts"] for p in parts])
    value = np.concatenate([p["value"] for p in parts])
    n = world.user_segment.size
    count = np.bincount(buyer, minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, buyer, ts)
    dropout = np.full(n, -1, dtype=np.int64)
    dropout[np.concatenate([p["dropped_user"] for p in parts])] = np.concatenate([p["dropout_ms"] for p in parts])
    human = ~world.user_is_bot
    customer = world.user_is_customer
    frame = pd.DataFrame(
        {
            "user_id": users["user_id"].astype("str"),
            "is_customer": customer,
            "purchase_rate_per_day": world.user_rate,
            "dropout_probability": world.user_dropout,
            "spend_rate": world.user_spend_rate,
            "mean_spend": np.where(
                customer, GAMMA_GAMMA_TRUTH["p"] / np.where(customer, world.user_spend_rate, 1.0), np.nan
            ),
            "n_purchases": count,
            "total_spend": np.bincount(buyer, weights=value, minlength=n),
            "first_purchase_ts": pd.to_datetime(np.where(count > 0, first, 0), unit="ms", utc=True),
            "dropout_ts": pd.to_datetime(np.where(dropout >= 0, dropout, 0), unit="ms", utc=True),
        }
    )
    frame.loc[count == 0, "first_purchase_ts"] = pd.NaT
    frame.loc[dropout < 0, "dropout_ts"] = pd.NaT
    _write_frame(frame[human].reset_index(drop=True), truth / "customers.parquet")


def pricing_truth(params: SimulationParams) -> dict[str, Any]:
    """The planted pricing rules as written to ``truth/pricing.yaml``."""
    return {
        "price_formula": "paid unit price = round(list_price * (1 - discount) * (1 + surcharge), 2) on order and pay events",
        "discrimination": params.discrimination,
        "rules": (
            [
                {
                    "table": "users",
                    "group_column": DISCRIMINATION_GROUP_COLUMN,
                    "group_value": DISCRIMINATION_GROUP_VALUE,
                    "categories": list(DISCRIMINATION_CATEGORIES),
                    "surcharge": DISCRIMINATION_SURCHARGE,
                    "note": "device is drawn independently of segment, so the surcharge is not confounded by discounts",
                }
            ]
            if params.discrimination
            else []
        ),
        "buys_cheaper": {
            "group_column": DISCRIMINATION_GROUP_COLUMN,
            "group_value": DISCRIMINATION_GROUP_VALUE,
            "favourite_category_price_tilt": DISCRIMINATION_CHEAPER_TILT,
            "note": "with or without the surcharge, the group's favourite category is drawn tilted towards cheap "
            "categories; within a category it buys and is priced like everyone else, so its naive mean price is "
            "lower although it pays more for the same item (Simpson's paradox)",
        },
        "baseline_discounts": {
            s: {
                "probability": SEGMENT_PROFILES[s].discount_probability,
                "levels": list(SEGMENT_PROFILES[s].discount_levels),
                "level_choice": "uniform",
            }
            for s in SEGMENTS
        },
    }


def fairness_truth() -> dict[str, Any]:
    """The planted under-served group as written to ``truth/fairness.yaml``."""
    return {
        "underserved": {
            "table": "users",
            "group_column": UNDERSERVED_GROUP_COLUMN,
            "group_value": UNDERSERVED_GROUP_VALUE,
            "explore_share": UNDERSERVED_EXPLORE_SHARE,
            "note": "this share of the group's item views is an item drawn uniformly from the whole catalogue, "
            "so its histories predict its next items worse than other users' and recommendation quality is lower",
        }
    }


def _write_dataset_meta(out: Path, params: SimulationParams, counters: Counters) -> None:
    end = params.start + pd.Timedelta(days=params.n_days)
    meta = {
        "name": f"lsc_simulated_seed{params.seed}",
        "source": "simulated",
        "licence": "CC0-1.0 (synthetic data generated by lsc_utils.simulate)",
        "timezone": "UTC",
        "tables": ["users", "items", "rooms", "events", "comments"] + (["exposures"] if params.campaign else []),
        "event_types": [t for t in EVENT_TYPES if t in SESSION_EVENT_TYPES],
        "period": {"start": params.start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "simulated": True,
        "seed": params.seed,
        "params": params.to_meta(),
        "rows": {
            "events": counters.rows,
            "comments": counters.comments,
            "sessions": counters.sessions,
            "orders": counters.orders,
        },
        "session_gap_minutes": DEFAULT_SESSION_GAP_MINUTES,
        "truth": sorted(p.name for p in (out / TRUTH_DIR).iterdir()),
    }
    write_meta(meta, out)
