"""Market demand with planted level, trend, weekly season, a hot category and live-room uplift.

A few thousand simulated users buy too little for demand forecasting to mean anything per category
and day, and their purchases follow a customer-base process (02's BG/NBD truth), not a demand curve.
``simulate(demand_study=True)`` therefore adds the orders of an anonymous **market** (buyer ids
``M…``, not in ``users``; order ids ``MO…``) whose expected units per category and day are planted:

* ``expected(c, d) = level_c * (1 + trend_c * d) * weekly[d mod 7] * hot(c, d)``, ``d`` the day
  index from the first simulated day, ``weekly`` a weekly profile of mean 1 (weekend peak) shared by
  every category;
* one **hot** category takes off at day ``n_days // 2``: ``hot`` ramps linearly from 1 to
  :data:`HOT_MULTIPLIER` over :data:`HOT_RAMP_DAYS` days and stays there; the other categories have
  ``hot = 1``;
* a category's demand is split over its items with Zipf shares (exponent :data:`ITEM_ZIPF`), so a
  few items sell every day and the long tail is **intermittent** (expected under one unit a day);
* on **live days** (each item, a random :data:`LIVE_DAY_SHARE` of the days on which a room of its
  category broadcasts) the item's demand is multiplied by :data:`LIVE_UPLIFT`, and
  :data:`LIVE_ROOM_SHARE` of that day's units are sold inside the broadcast (``room_id`` set, time
  inside the room); every other order has no room and a time uniform over the day;
* units per item and day are Poisson; every order is one unit at the list price, logged as an
  ``order`` and a ``pay`` one minute later.

Planted truth: ``truth/demand.yaml`` (parameters, hot category, takeoff day, uplift),
``truth/demand_categories.parquet`` (expected units per category and day) and
``truth/demand_items.parquet`` (expected units per item and day, live-day flag, intermittent flag).
The market draws from its own seed (the fourth child of the simulation's seed), so every other table
is the same as without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.simulate.helpers import _format_ids, _format_ms_timestamps
from lsc_utils.simulate.vocab import CATEGORIES

DAY_MS: int = 86_400_000
LEVEL_RANGE: tuple[float, float] = (20.0, 60.0)
"""Range of a category's planted expected units per day at day 0."""
TREND_RANGE: tuple[float, float] = (-0.004, 0.006)
"""Range of a category's planted linear trend, as a share of its level per day."""
WEEKLY_PROFILE: tuple[float, ...] = (0.9, 0.85, 0.9, 0.95, 1.05, 1.2, 1.15)
"""Monday..Sunday multipliers of every category's demand (mean 1)."""
HOT_MULTIPLIER: float = 2.5
HOT_RAMP_DAYS: int = 7
ITEM_ZIPF: float = 1.2
INTERMITTENT_BELOW: float = 1.0
"""An item whose mean expected demand is under this many units a day is intermittent in the truth."""
LIVE_DAY_SHARE: float = 0.25
LIVE_UPLIFT: float = 1.6
LIVE_ROOM_SHARE: float = 0.7
PAY_DELAY_MS: int = 60_000
BUYER_ID_WIDTH: int = 7
ORDER_ID_WIDTH: int = 9
MARKET_CHANNELS: tuple[str, ...] = ("search", "recommend_feed", "ad", "direct")
MARKET_PAYMENTS: tuple[str, ...] = ("alipay", "wechat_pay", "card")


def weekly_factor(start: pd.Timestamp, n_days: int) -> np.ndarray:
    """The planted weekly multiplier of every simulated day (``start`` is day 0)."""
    weekday = (start.day_of_week + np.arange(n_days)) % 7
    profile = np.asarray(WEEKLY_PROFILE) / np.mean(WEEKLY_PROFILE)
    return profile[weekday]


def hot_factor(n_days: int) -> tuple[np.ndarray, int]:
    """Multiplier of the hot category per day and its takeoff day (the middle of the period)."""
    takeoff = n_days // 2
    ramp = np.clip((np.arange(n_days) - takeoff + 1) / HOT_RAMP_DAYS, 0.0, 1.0)
    return 1.0 + (HOT_MULTIPLIER - 1.0) * ramp, takeoff


def category_demand(
    start: pd.Timestamp, n_days: int, hot_candidates: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected units per category (rows, in :data:`CATEGORIES` order) and day (columns), and the parameters.

    The hot category is drawn among ``hot_candidates`` (category codes with items to sell).
    """
    n_cat = len(CATEGORIES)
    level = rng.uniform(*LEVEL_RANGE, size=n_cat).round(1)
    trend = rng.uniform(*TREND_RANGE, size=n_cat).round(4)
    hot = int(rng.choice(hot_candidates))
    trend[hot] = 0.0  # the hot category's rise is the takeoff, not a slope
    days = np.arange(n_days)
    expected = level[:, None] * (1.0 + trend[:, None] * days[None, :]) * weekly_factor(start, n_days)[None, :]
    multiplier, takeoff = hot_factor(n_days)
    expected[hot] *= multiplier
    params = {
        "categories": [c.name for c in CATEGORIES],
        "level": level.tolist(),
        "trend_per_day": trend.tolist(),
        "weekly_profile_mon_to_sun": [round(float(v / np.mean(WEEKLY_PROFILE)), 6) for v in WEEKLY_PROFILE],
        "hot_category": CATEGORIES[hot].name,
        "hot_takeoff_day": int(takeoff),
        "hot_takeoff_date": (start + pd.Timedelta(days=takeoff)).strftime("%Y-%m-%d"),
        "hot_multiplier": HOT_MULTIPLIER,
        "hot_ramp_days": HOT_RAMP_DAYS,
        "live_uplift": LIVE_UPLIFT,
        "live_day_share": LIVE_DAY_SHARE,
        "live_room_share": LIVE_ROOM_SHARE,
        "intermittent_below_units_per_day": INTERMITTENT_BELOW,
    }
    return expected, params


def item_shares(item_category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Share of its category's demand for every item (Zipf over a random order within the category)."""
    share = np.zeros(item_category.size)
    for c in np.unique(item_category):
        members = np.flatnonzero(item_category == c)
        weights = 1.0 / (rng.permutation(members.size) + 1.0) ** ITEM_ZIPF
        share[members] = weights / weights.sum()
    return share


def live_days(
    item_category: np.ndarray, room_category: np.ndarray, room_day: np.ndarray, n_days: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """For every item and day, whether it is a live day and the room it is sold in (-1 on other days).

    An item can be live only on days when a room of its category broadcasts; of those days, each is
    live with probability :data:`LIVE_DAY_SHARE`, in one of that day's rooms of the category at random.
    """
    n_items = item_category.size
    room = np.full((n_items, n_days), -1, dtype=np.int64)
    for c in np.unique(item_category):
        members = np.flatnonzero(item_category == c)
        for d in range(n_days):
            candidates = np.flatnonzero((room_category == c) & (room_day == d))
            if candidates.size == 0:
                continue
            live = members[rng.random(members.size) < LIVE_DAY_SHARE]
            room[live, d] = rng.choice(candidates, size=live.size)
    return room >= 0, room


def market_orders(
    expected_items: np.ndarray,
    live_room: np.ndarray,
    room_start: np.ndarray,
    room_end: np.ndarray,
    start_ms: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per unit sold: item, order time (ms), room index (-1 without).

    Parameters
    ----------
    expected_items : numpy.ndarray
        Expected units per item (rows) and day (columns), live uplift included.
    live_room : numpy.ndarray
        Room index of each item's live days, -1 on other days.
    room_start, room_end : numpy.ndarray
        Broadcast start and end (ms) of every room.
    start_ms : int
        First simulated day, ms since the epoch.
    rng : numpy.random.Generator
        Random source.
    """
    units = rng.poisson(expected_items)
    item, day = np.nonzero(units)
    counts = units[item, day]
    item, day = np.repeat(item, counts), np.repeat(day, counts)
    room = live_room[item, day]
    in_room = (room >= 0) & (rng.random(item.size) < LIVE_ROOM_SHARE)
    day_start = start_ms + day * DAY_MS
    ts = day_start + (rng.random(item.size) * (DAY_MS - PAY_DELAY_MS)).astype(np.int64)
    r = np.where(in_room, room, 0)
    lo, hi = np.maximum(room_start[r], day_start), np.minimum(room_end[r], day_start + DAY_MS) - PAY_DELAY_MS
    in_room &= hi > lo
    ts = np.where(in_room, lo + (rng.random(item.size) * np.maximum(hi - lo, 1)).astype(np.int64), ts)
    frame = pd.DataFrame({"item": item, "ts_ms": ts, "room": np.where(in_room, room, -1)})
    return frame.sort_values(["ts_ms", "item"], kind="stable", ignore_index=True)


def market_events(
    orders: pd.DataFrame, item_ids: pa.Array, item_price: np.ndarray, room_ids: pa.Array, rng: np.random.Generator
) -> pa.Table:
    """Raw ``order`` and ``pay`` events of the market orders (events schema columns, ISO ``ts`` text)."""
    n = len(orders)
    n_buyers = max(1, n // 3)
    buyer = _format_ids("M", rng.integers(1, n_buyers + 1, size=n), BUYER_ID_WIDTH)
    order_id = _format_ids("MO", np.arange(1, n + 1), ORDER_ID_WIDTH)
    channel = np.asarray(MARKET_CHANNELS, dtype=object)[rng.integers(len(MARKET_CHANNELS), size=n)]
    payment = np.asarray(MARKET_PAYMENTS, dtype=object)[rng.integers(len(MARKET_PAYMENTS), size=n)]
    item = orders["item"].to_numpy()
    room = orders["room"].to_numpy()
    room_text = room_ids.take(pa.array(np.where(room >= 0, room, 0))).to_numpy(zero_copy_only=False)
    room_text = np.where(room >= 0, room_text, None)
    ts = orders["ts_ms"].to_numpy()
    rows = np.concatenate([np.arange(n), np.arange(n)])
    is_pay = np.repeat([False, True], n)
    order = np.lexsort((is_pay, rows))
    rows, is_pay = rows[order], is_pay[order]
    return pa.table(
        {
            "user_id": buyer.take(pa.array(rows)),
            "ts": _format_ms_timestamps(ts[rows] + np.where(is_pay, PAY_DELAY_MS, 0)),
            "event_type": pa.array(np.where(is_pay, "pay", "order").astype(object), type=pa.string()),
            "item_id": item_ids.take(pa.array(item[rows])),
            "room_id": pa.array(room_text[rows], type=pa.string()),
            "price": pa.array(item_price[item[rows]], type=pa.float64()),
            "quantity": pa.array(np.ones(rows.size), type=pa.float64()),
            "order_id": order_id.take(pa.array(rows)),
            "channel": pa.array(channel[rows], type=pa.string()),
            "payment_method": pa.array(np.where(is_pay, payment[rows], None), type=pa.string()),
        }
    )


def demand_truth_tables(
    start: pd.Timestamp,
    expected_cat: np.ndarray,
    expected_items: np.ndarray,
    is_live: np.ndarray,
    item_category: np.ndarray,
    item_ids: pa.Array,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``truth/demand_categories.parquet`` and ``truth/demand_items.parquet`` in long form (one row per day)."""
    n_cat, n_days = expected_cat.shape
    dates = pd.date_range(start.tz_convert(None), periods=n_days, freq="D")
    names = np.asarray([c.name for c in CATEGORIES], dtype=object)
    categories = pd.DataFrame(
        {
            "category": pd.Series(np.repeat(names, n_days), dtype="str"),
            "date": np.tile(dates, n_cat),
            "expected_units": expected_cat.ravel(),
        }
    )
    n_items = expected_items.shape[0]
    mean_units = expected_items.mean(axis=1)
    items = pd.DataFrame(
        {
            "item_id": pd.Series(np.repeat(item_ids.to_numpy(zero_copy_only=False), n_days), dtype="str"),
            "category": pd.Series(np.repeat(names[item_category], n_days), dtype="str"),
            "date": np.tile(dates, n_items),
            "expected_units": expected_items.ravel(),
            "live_day": is_live.ravel(),
            "intermittent": np.repeat(mean_units < INTERMITTENT_BELOW, n_days),
        }
    )
    return categories, items


def simulate_market(
    start: pd.Timestamp,
    n_days: int,
    item_category: np.ndarray,
    room_category: np.ndarray,
    room_start: np.ndarray,
    room_end: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Plant the market's demand and draw its orders.

    Returns
    -------
    dict
        ``params`` (for ``truth/demand.yaml``), ``expected_categories`` and ``expected_items``
        (arrays, rows x days), ``is_live`` and ``orders`` (:func:`market_orders`).
    """
    counts = np.bincount(item_category, minlength=len(CATEGORIES))
    expected_cat, params = category_demand(start, n_days, np.flatnonzero(counts >= 3), rng)
    share = item_shares(item_category, rng)
    start_ms = int(start.value // 1_000_000)
    room_day = (room_start - start_ms) // DAY_MS
    is_live, live_room = live_days(item_category, room_category, room_day, n_days, rng)
    base = share[:, None] * expected_cat[item_category]
    expected_items = base * np.where(is_live, LIVE_UPLIFT, 1.0)
    # the category truth is what its items are expected to sell, live days included
    expected_cat = np.vstack([expected_items[item_category == c].sum(axis=0) for c in range(len(CATEGORIES))])
    orders = market_orders(expected_items, live_room, room_start, room_end, start_ms, rng)
    return {
        "params": params,
        "expected_categories": expected_cat,
        "expected_items": expected_items,
        "is_live": is_live,
        "orders": orders,
    }
