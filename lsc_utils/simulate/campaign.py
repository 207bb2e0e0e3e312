"""A randomised coupon campaign with planted per-user effects, depth elasticities and sleeping dogs.

``simulate(campaign=True)`` sends a campaign to every human user who consented to marketing, at
``t0 = end - HORIZON_DAYS`` (10:00 UTC): each is drawn at random into ``control`` or one of the coupon
arms ``coupon_10``, ``coupon_20``, ``coupon_30`` (10 %, 20 %, 30 % off), each with probability
:data:`ARM_PROBABILITY`, written to the canonical ``exposures`` table.

Every exposed user then makes at most one **campaign-window order** in ``[t0, t0 + HORIZON_DAYS)``
with probability ``p(arm) = clip(base + effect(arm), 0, 1)``, on top of (and independent of) the
ordinary purchases of the customer-base process, which do not depend on the arm. So the planted
effect of an arm on the expected number of orders in the window is exactly ``p(arm) - p(control)``,
and on revenue ``price * (p(arm) * (1 - depth) - p(control))`` with ``price`` the mean list price
of the featured items of the user's favourite category (where the order's item is drawn).

The coupon's scope is a product launch: :data:`FEATURED_PER_CATEGORY` new items per category, tagged
``campaign:C0001`` in ``items`` (:func:`featured_items`), which only campaign-window orders buy. Sales
of the featured items are the campaign's outcome, free of the noise of everything else users buy.

The effect is driven by observable traits (segment behaviour, member level, payment method):

* **persuadables** — bargain hunters (strong depth elasticity) and impulse buyers (weaker), whose
  effect grows linearly with depth: ``effect = elasticity * depth * payment_factor``; users paying
  with ``huabei`` (instalment credit) respond :data:`PAYMENT_FACTOR` times as strongly;
* **sure things** — loyal fans below gold and big spenders: high base, no effect;
* **sleeping dogs** — loyal fans at gold or platinum: high base, a contact *lowers* their
  purchase probability by :data:`SLEEPING_DOG_EFFECT` whatever the depth;
* **lost causes** — window shoppers: tiny base, no effect.

Planted truth: ``truth/campaign.yaml`` (parameters, elasticities, groups) and
``truth/campaign_users.parquet`` (per exposed user: arm, group, segment, base, the probability under
every arm, the effect of every coupon arm on orders and revenue, and the realised campaign order).
The campaign draws from its own seed (the fifth child of the simulation's seed), so every other
table is the same as without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.simulate.helpers import _format_ids, _format_ms_timestamps
from lsc_utils.simulate.vocab import PAYMENT_METHODS, SEGMENTS

DAY_MS: int = 86_400_000
HORIZON_DAYS: int = 14
"""Length of the campaign window (the last days of the simulation)."""
MIN_PRE_DAYS: int = 14
"""The campaign needs at least this many days of history before it starts."""
SEND_HOUR: int = 10
CAMPAIGN_ID: str = "C0001"
ARMS: tuple[str, ...] = ("control", "coupon_10", "coupon_20", "coupon_30")
DEPTHS: tuple[float, ...] = (0.0, 0.10, 0.20, 0.30)
ARM_PROBABILITY: float = 0.25
BASE: dict[str, float] = {
    "bargain_hunter": 0.06,
    "impulse_buyer": 0.10,
    "loyal_fan": 0.30,
    "big_spender": 0.25,
    "window_shopper": 0.02,
}
"""Planted probability of a campaign-window order without a coupon, by segment."""
ELASTICITY: dict[str, float] = {
    "bargain_hunter": 2.0,
    "impulse_buyer": 0.3,
    "loyal_fan": 0.0,
    "big_spender": 0.0,
    "window_shopper": 0.0,
}
"""Planted effect per unit of discount depth (0.2 off -> +0.4 for a bargain hunter), by segment."""
SLEEPING_DOG_LEVELS: tuple[str, ...] = ("gold", "platinum")
SLEEPING_DOG_EFFECT: float = -0.2
PAYMENT_FACTOR: dict[str, float] = {"huabei": 1.5}
"""Multiplier of the depth effect by payment method (others 1)."""
FEATURED_PER_CATEGORY: int = 3
"""New items launched by the campaign in every category (tag ``campaign:<id>``): the coupon's scope."""
PAY_DELAY_MS: int = 60_000
ORDER_ID_WIDTH: int = 8


def campaign_start(start: pd.Timestamp, n_days: int) -> pd.Timestamp:
    """The send time ``t0``: 10:00 UTC, :data:`HORIZON_DAYS` before the end of the simulation."""
    return start + pd.Timedelta(days=n_days - HORIZON_DAYS, hours=SEND_HOUR)


def check_campaign_days(n_days: int) -> None:
    """Refuse a simulation too short for the campaign (history before it and its window)."""
    if n_days < MIN_PRE_DAYS + HORIZON_DAYS:
        raise ValueError(
            f"The 'campaign' option of simulate needs n_days >= {MIN_PRE_DAYS + HORIZON_DAYS} "
            f"({MIN_PRE_DAYS} days of history and a {HORIZON_DAYS}-day window). Got n_days={n_days}."
        )


def planted_group(segment: np.ndarray, member_level: np.ndarray) -> np.ndarray:
    """The marketer's four groups from the planted rules (segment names and member levels)."""
    dog = (segment == "loyal_fan") & np.isin(member_level, SLEEPING_DOG_LEVELS)
    elastic = np.array([ELASTICITY.get(s, 0.0) > 0 for s in segment], dtype=bool)
    high_base = np.array([BASE.get(s, 0.0) >= 0.2 for s in segment], dtype=bool)
    return np.where(
        dog, "sleeping_dog", np.where(elastic, "persuadable", np.where(high_base, "sure_thing", "lost_cause"))
    )


def response_probabilities(segment: np.ndarray, member_level: np.ndarray, payment: np.ndarray) -> np.ndarray:
    """P(campaign-window order) of every user (rows) under every arm (columns, :data:`ARMS` order)."""
    base = np.array([BASE[s] for s in segment])
    slope = np.array([ELASTICITY[s] for s in segment]) * np.array([PAYMENT_FACTOR.get(p, 1.0) for p in payment])
    dog = (segment == "loyal_fan") & np.isin(member_level, SLEEPING_DOG_LEVELS)
    depth = np.asarray(DEPTHS)
    effect = np.where(dog[:, None], SLEEPING_DOG_EFFECT, slope[:, None] * depth[None, :])
    effect[:, 0] = 0.0
    return np.clip(base[:, None] + effect, 0.0, 1.0)


def featured_items(items: pd.DataFrame, item_category: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """The campaign's new items: :data:`FEATURED_PER_CATEGORY` per category, each a copy of a random item
    of that category (brand, price) with a new id and the tag ``campaign:<id>``; nobody buys them outside
    the campaign window, so their sales are the campaign's outcome."""
    rows = []
    for code in np.unique(item_category):
        members = np.flatnonzero(item_category == code)
        rows.append(rng.choice(members, size=FEATURED_PER_CATEGORY, replace=members.size < FEATURED_PER_CATEGORY))
    source = np.concatenate(rows)
    featured = items.iloc[source].reset_index(drop=True).copy()
    width = max(5, len(str(len(items) + len(featured))))
    featured["item_id"] = [f"I{len(items) + k + 1:0{width}d}" for k in range(len(featured))]
    featured["tags"] = f"campaign:{CAMPAIGN_ID}"
    return featured


def simulate_campaign(
    users: pd.DataFrame,
    segment: np.ndarray,
    is_bot: np.ndarray,
    payment: np.ndarray,
    fav_category: np.ndarray,
    item_category: np.ndarray,
    item_price: np.ndarray,
    start: pd.Timestamp,
    n_days: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Assign the consenting human users to arms and draw their campaign-window orders.

    Parameters
    ----------
    users : pandas.DataFrame
        The canonical users table (``user_id``, ``member_level``, ``consent_marketing``).
    segment, is_bot, payment, fav_category : numpy.ndarray
        Latent segment index (into :data:`SEGMENTS`, -1 for bots), bot flag, payment index (into
        :data:`PAYMENT_METHODS`) and favourite category code of every user.
    item_category, item_price : numpy.ndarray
        Category code and list price of every item that can be ordered in the window (the featured items).
    start : Timestamp
        First simulated day (UTC).
    n_days : int
        Simulated days; at least ``MIN_PRE_DAYS + HORIZON_DAYS``.
    rng : numpy.random.Generator
        The campaign's own random source.

    Returns
    -------
    dict
        ``exposures`` (canonical table), ``truth`` (per exposed user), ``params`` (for the yaml) and
        ``orders`` (``user``, ``item``, ``ts_ms``, ``price``, ``arm``) of the campaign-window orders.
    """
    check_campaign_days(n_days)
    eligible = np.flatnonzero(~is_bot & users["consent_marketing"].to_numpy(dtype=bool))
    seg_names = np.asarray(SEGMENTS, dtype=object)[segment[eligible]]
    level = users["member_level"].to_numpy(dtype=object)[eligible]
    pay_names = np.asarray(PAYMENT_METHODS, dtype=object)[payment[eligible]]
    prob = response_probabilities(seg_names, level, pay_names)
    arm = rng.integers(len(ARMS), size=eligible.size)
    buys = rng.random(eligible.size) < prob[np.arange(eligible.size), arm]
    n_codes = int(max(item_category.max(), fav_category.max())) + 1
    mean_price = _category_mean_price(item_category, item_price, n_codes)[fav_category[eligible]]
    t0 = campaign_start(start, n_days)
    t0_ms = int(t0.value // 1_000_000)
    window_ms = HORIZON_DAYS * DAY_MS - SEND_HOUR * 3_600_000 - 2 * PAY_DELAY_MS
    buyer = np.flatnonzero(buys)
    item = _draw_items(fav_category[eligible][buyer], item_category, rng)
    depth = np.asarray(DEPTHS)[arm[buyer]]
    orders = pd.DataFrame(
        {
            "user": eligible[buyer],
            "item": item,
            "ts_ms": t0_ms + 1_000 + rng.integers(0, window_ms, size=buyer.size),
            "price": np.round(item_price[item] * (1.0 - depth), 2),
            "payment": payment[eligible[buyer]],
        }
    )
    user_ids = users["user_id"].to_numpy(dtype=object)[eligible]
    exposures = pd.DataFrame(
        {
            "user_id": pd.Series(user_ids, dtype="str"),
            "campaign_id": CAMPAIGN_ID,
            "arm": pd.Series(np.asarray(ARMS, dtype=object)[arm], dtype="str"),
            "ts": pd.Timestamp(t0).tz_convert("UTC"),
            "assignment_probability": ARM_PROBABILITY,
        }
    )
    truth = _truth_table(exposures, seg_names, level, pay_names, prob, mean_price, buys)
    return {"exposures": exposures, "truth": truth, "params": campaign_params(t0), "orders": orders}


def _category_mean_price(item_category: np.ndarray, item_price: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(item_category, minlength=n)
    totals = np.bincount(item_category, weights=item_price, minlength=n)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.mean(item_price))


def _draw_items(category: np.ndarray, item_category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform item of each buyer's favourite category (any item when the category has none)."""
    order = np.argsort(item_category, kind="mergesort")
    n = int(max(item_category.max(), category.max(initial=0))) + 1
    counts = np.bincount(item_category, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts[category] > 0
    pick = first[category] + np.floor(rng.random(category.size) * np.maximum(counts[category], 1)).astype(np.int64)
    any_item = rng.integers(item_category.size, size=category.size)
    return np.where(has, order[np.minimum(pick, item_category.size - 1)], any_item)


def _truth_table(
    exposures: pd.DataFrame,
    segment: np.ndarray,
    level: np.ndarray,
    payment: np.ndarray,
    prob: np.ndarray,
    mean_price: np.ndarray,
    buys: np.ndarray,
) -> pd.DataFrame:
    """``truth/campaign_users.parquet``: planted probabilities and effects of every exposed user."""
    frame = pd.DataFrame(
        {
            "user_id": exposures["user_id"],
            "arm": exposures["arm"],
            "group": pd.Series(planted_group(segment, level), dtype="str"),
            "segment": pd.Series(segment, dtype="str"),
            "member_level": pd.Series(level, dtype="str"),
            "payment_method": pd.Series(payment, dtype="str"),
            "mean_price": mean_price,
            "campaign_order": buys,
        }
    )
    for j, name in enumerate(ARMS):
        frame[f"p_{name}"] = prob[:, j]
    for j, name in enumerate(ARMS[1:], start=1):
        frame[f"tau_orders_{name}"] = prob[:, j] - prob[:, 0]
        frame[f"tau_revenue_{name}"] = mean_price * (prob[:, j] * (1.0 - DEPTHS[j]) - prob[:, 0])
    return frame


def campaign_params(t0: pd.Timestamp) -> dict[str, Any]:
    """The planted campaign as written to ``truth/campaign.yaml``."""
    return {
        "campaign_id": CAMPAIGN_ID,
        "sent_at": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "horizon_days": HORIZON_DAYS,
        "arms": list(ARMS),
        "depths": list(DEPTHS),
        "assignment_probability": ARM_PROBABILITY,
        "eligible": "human users with consent_marketing true (opted-out users are never sent anything)",
        "outcome": "at most one campaign-window order per user, on top of the ordinary purchases (independent of the arm)",
        "base_by_segment": dict(BASE),
        "elasticity_by_segment": dict(ELASTICITY),
        "payment_factor": dict(PAYMENT_FACTOR),
        "sleeping_dogs": {
            "segment": "loyal_fan",
            "member_levels": list(SLEEPING_DOG_LEVELS),
            "effect": SLEEPING_DOG_EFFECT,
        },
        "effect_formula": "p(arm) = clip(base + effect, 0, 1); effect = elasticity * depth * payment_factor, "
        "or the sleeping-dog effect; effect on revenue = mean_price * (p(arm) * (1 - depth) - p(control))",
    }


def campaign_events(orders: pd.DataFrame, user_ids: pa.Array, item_ids: pa.Array) -> pa.Table:
    """Raw ``order`` and ``pay`` events of the campaign-window orders (events schema columns, ISO ``ts``)."""
    n = len(orders)
    rows = np.repeat(np.arange(n), 2)
    is_pay = np.tile([False, True], n)
    order_id = _format_ids("CO", np.arange(1, n + 1), ORDER_ID_WIDTH)
    payment = np.asarray(PAYMENT_METHODS, dtype=object)[orders["payment"].to_numpy()]
    return pa.table(
        {
            "user_id": user_ids.take(pa.array(orders["user"].to_numpy()[rows])),
            "ts": _format_ms_timestamps(orders["ts_ms"].to_numpy()[rows] + np.where(is_pay, PAY_DELAY_MS, 0)),
            "event_type": pa.array(np.where(is_pay, "pay", "order").astype(object), type=pa.string()),
            "item_id": item_ids.take(pa.array(orders["item"].to_numpy()[rows])),
            "room_id": pa.nulls(2 * n, pa.string()),
            "price": pa.array(orders["price"].to_numpy()[rows], type=pa.float64()),
            "quantity": pa.array(np.ones(2 * n), type=pa.float64()),
            "order_id": order_id.take(pa.array(rows)),
            "channel": pa.array(np.full(2 * n, "ad", dtype=object), type=pa.string()),
            "payment_method": pa.array(np.where(is_pay, payment[rows], None), type=pa.string()),
        }
    )
