"""Seeded live-streaming-commerce (LSC) platform simulator with planted ground truth.

:func:`simulate` writes a canonical dataset folder (``users``, ``items``, ``rooms``, ``events``,
``comments`` Parquet files and ``dataset.yaml``) plus a ``truth/`` folder holding everything that was
planted, so that every notebook can be checked against a known answer:

``truth/segments.parquet``
    Latent behavioural segment of every human user (``user_id``, ``segment``).
``truth/user_traits.parquet``
    Further latent traits (favourite anchor and category, peak hour, activity, language).
``truth/transitions.parquet``
    The segment-specific first-order Markov chains that generated every session
    (``segment``, ``from_state``, ``to_state``, ``probability``), states ``START`` and ``END`` included.
``truth/sessions.parquet``
    The true session of every clean event row (``event_row``, ``session``); a 30-minute inactivity
    sessionization of the clean rows recovers these sessions exactly.
``truth/pricing.yaml``
    The planted price discrimination (group column and value, categories, surcharge) and the
    baseline discount behaviour of each segment.
``truth/comment_labels.parquet``, ``truth/comment_pii.parquet``
    Sentiment label of every comment and the personal data planted in a few of them.
``truth/dirty_rows.parquet``, ``truth/bots.parquet``
    The dirty event rows injected (0-based row of ``events.parquet`` and kind) and the bot users.
``truth/canaries.json``
    Every personal-data string that must never leak into a released output.
``truth/clv.yaml``, ``truth/customers.parquet``
    The planted customer-base process (BG/NBD purchasing and Gamma-Gamma spend, see
    :mod:`lsc_utils.customer_base`) and every user's latent purchase rate, drop-out probability,
    spend rate, number of purchases and drop-out time.

Sessions come in two kinds. Every planted purchase becomes a *purchase session*: a walk of the
user's chain that reaches ``pay``, placed so that its first payment falls at the planted time (in a
live broadcast). *Browsing sessions* are walks that never pay; each segment gets ``P (1 - q) / q`` of
them for its ``P`` purchase sessions, where ``q`` is the probability that a walk of its chain pays,
so the mix of walks is that of the unconditioned chain and transition counts estimate the planted
chain without bias. Session volume therefore follows purchases.

Generation is vectorized with numpy: users are processed in fixed blocks of
:data:`USERS_PER_BLOCK`; inside a block, all sessions step through their Markov chains together,
one numpy step per chain position (never a Python loop per event). Each block draws from its own
child of ``numpy.random.SeedSequence(seed)``, so the content of the data does not depend on
``chunk_events`` (which only sets how many rows are buffered before a Parquet row group is written).

Dirty rows are *added* next to the clean rows they were copied from (the clean rows are never
modified), so dropping exactly the rows listed in ``truth/dirty_rows.parquet`` gives back the clean
simulation, whose sessions follow the planted chains exactly. Every dirty kind with a positive rate
gets at least one row per block, so very small simulations carry a higher dirty share than the
rates say. Comments are written for clean comment events only (one row each, same user, room, ts).

Layout and clock: ``events.parquet`` is ordered by (``user_id``, ``ts``) with each dirty copy right
after its source row; ``ts`` is stored as ISO 8601 text (``2026-03-02T18:03:11.250Z``) because some
dirty rows hold unparseable timestamps. The simulated platform keeps its clock in UTC, so hours of
day (evening peak around 20:00) read directly from the UTC timestamps.

The default ``simulate(out, n_users=3000, n_days=56)`` writes about 470,000 event rows, 39,000
comments and 56,000 sessions in a few seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from tqdm.auto import tqdm

from lsc_utils.constants import CHANNELS, DEFAULT_SESSION_GAP_MINUTES, EVENT_TYPES, SEED
from lsc_utils.customer_base import (
    GAMMA_GAMMA_TRUTH,
    customer_base_truth,
    draw_customer_latents,
    draw_purchase_times,
    expected_mixture_counts,
    match_items_to_budget,
    purchase_probabilities,
    random_round,
    realised_discount,
    split_spend,
)
from lsc_utils.io import write_meta

# ----------------------------------------------------------------------------------------------
# Vocabularies and planted parameters
# ----------------------------------------------------------------------------------------------

SEGMENTS: tuple[str, ...] = ("bargain_hunter", "loyal_fan", "impulse_buyer", "window_shopper", "big_spender")
"""Latent behavioural segments of human users."""

SESSION_EVENT_TYPES: tuple[str, ...] = (
    "enter_room",
    "view_item",
    "like",
    "comment",
    "share",
    "follow",
    "gift",
    "favorite",
    "add_to_cart",
    "remove_from_cart",
    "order",
    "pay",
    "leave_room",
)
"""Canonical event types produced by the session Markov chains."""

START_STATE: str = "START"
END_STATE: str = "END"
MARKOV_STATES: tuple[str, ...] = (START_STATE, *SESSION_EVENT_TYPES, END_STATE)
"""States of the planted chains: ``START``, the session event types, ``END``."""

ITEM_EVENT_TYPES: tuple[str, ...] = ("view_item", "favorite", "add_to_cart", "remove_from_cart", "order", "pay")
"""Event types that carry an ``item_id``."""

BOT_EVENT_TYPES: tuple[str, ...] = ("view_item", "like", "enter_room", "share", "follow")
BOT_EVENT_WEIGHTS: tuple[float, ...] = (0.55, 0.30, 0.05, 0.05, 0.05)

PAYMENT_METHODS: tuple[str, ...] = ("alipay", "wechat_pay", "card", "cod", "huabei")
PAYMENT_WEIGHTS: tuple[float, ...] = (0.42, 0.38, 0.08, 0.05, 0.07)

DEVICES: tuple[str, ...] = ("ios", "android", "web")
DEVICE_WEIGHTS: tuple[float, ...] = (0.35, 0.55, 0.10)

MEMBER_LEVELS: tuple[str, ...] = ("none", "silver", "gold", "platinum")

LANGUAGES: tuple[str, ...] = ("zh", "en")
ENGLISH_USER_SHARE: float = 0.3
OWN_LANGUAGE_SHARE: float = 0.9

SENTIMENT_LABELS: tuple[str, ...] = ("positive", "neutral", "negative")

REGIONS: tuple[str, ...] = (
    "Guangdong",
    "Zhejiang",
    "Jiangsu",
    "Shanghai",
    "Beijing",
    "Shandong",
    "Sichuan",
    "Henan",
    "Hubei",
    "Fujian",
    "Hunan",
    "Anhui",
    "Hebei",
    "Shaanxi",
    "Chongqing",
    "Liaoning",
)
REGION_WEIGHTS: tuple[float, ...] = (14, 10, 9, 7, 7, 8, 7, 7, 5, 5, 5, 4, 4, 3, 3, 2)

DIRTY_KINDS: tuple[str, ...] = (
    "duplicate",
    "null_id",
    "unparseable_ts",
    "ts_out_of_range",
    "negative_price",
    "unknown_event_type",
    "bot_user",
)
"""Kinds of dirty event rows recorded in ``truth/dirty_rows.parquet``."""

DEFAULT_DIRTY_RATES: dict[str, float] = {
    "duplicate": 0.004,
    "null_id": 0.001,
    "unparseable_ts": 0.0005,
    "ts_out_of_range": 0.0005,
    "negative_price": 0.0003,
    "unknown_event_type": 0.001,
    "bot_user": 0.004,
}
"""Dirty rows of each kind as a share of the clean event rows (bots: share of all rows, approximately)."""

UNPARSEABLE_TIMESTAMPS: tuple[str, ...] = (
    "yesterday",
    "2026-13-45",
    "",
    "N/A",
    "2026-02-30T10:00:00Z",
    "32/03/2026 25:61",
    "tomorrow 9am",
    "not a timestamp",
)
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("clickk", "purchase_v2", "pageview_legacy", "evt_undefined", "likee")
EVENT_VOCABULARY: tuple[str, ...] = (*SESSION_EVENT_TYPES, *UNKNOWN_EVENT_TYPES)
"""Event-type codes used internally: session types first, then the unknown types of dirty rows."""

USERS_PER_BLOCK: int = 2000
"""Users generated together from one random stream (fixed, so content is independent of chunking)."""

MIN_SESSION_GAP_MINUTES: int = 60
"""Smallest gap between two sessions of one user (well above the 30-minute sessionization gap)."""
MIN_EVENT_GAP_MS: int = 1000
MAX_EVENT_GAP_MS: int = 10 * 60 * 1000
"""Intra-session gaps are ``1 s + Exponential(mean)`` capped at 10 minutes."""

HOUR_MS: int = 3_600_000
DAY_MS: int = 24 * HOUR_MS
WEEKDAY_SESSION_WEIGHTS: tuple[float, ...] = (0.9, 0.9, 0.95, 1.0, 1.1, 1.3, 1.25)
"""Relative session volume Monday..Sunday."""
WEEKDAY_LIVE_FACTORS: tuple[float, ...] = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 1.25)
"""Relative chance that an anchor broadcasts, Monday..Sunday."""
ANCHOR_START_HOURS: tuple[int, ...] = (9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23)
ANCHOR_START_WEIGHTS: tuple[float, ...] = (2, 3, 5, 6, 5, 4, 4, 3, 8, 12, 14, 10, 8, 6)
"""Broadcast start hours of anchors: an evening peak, plus noon, afternoon and late-night shows."""

ROOM_CATEGORY_SHARE: float = 0.85
"""Share of viewed items taken from the live room's category (the rest from the user's favourite)."""
FAVOURITE_CATEGORY_ROOM_SHARE: float = 0.6
"""Share of non-favourite-anchor sessions that look for a room of the user's favourite category."""
FOLLOW_CHANNEL_SHARE: float = 0.6
"""Share of favourite-anchor sessions that arrive through the ``follow`` channel."""
PII_COMMENT_SHARE: float = 0.015
"""Share of comments that carry personal data (phone, email, WeChat id, QQ number)."""
ACTIVITY_SIGMA: float = 0.35
"""Log-scale spread of the per-user activity multiplier of the session rate (mean 1)."""


@dataclass(frozen=True)
class CategorySpec:
    """One item category: price level, catalogue share and words used in comments and tags."""

    name: str
    median_price: float
    price_sigma: float
    share: float
    item_en: str
    item_zh: str
    tags: tuple[str, ...]


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("apparel", 159.0, 0.5, 0.18, "dress", "裙子", ("cotton", "oversize", "summer", "slim-fit", "linen")),
    CategorySpec("beauty", 129.0, 0.6, 0.16, "lipstick", "口红", ("matte", "long-lasting", "hydrating", "vegan")),
    CategorySpec("food", 39.0, 0.5, 0.14, "snack box", "零食", ("spicy", "organic", "low-sugar", "family-pack")),
    CategorySpec("electronics", 699.0, 0.8, 0.08, "earbuds", "耳机", ("wireless", "noise-cancelling", "fast-charge")),
    CategorySpec("home", 199.0, 0.6, 0.10, "bedding set", "四件套", ("minimalist", "storage", "nordic", "washable")),
    CategorySpec("baby", 149.0, 0.5, 0.07, "stroller", "婴儿车", ("newborn", "foldable", "bpa-free", "soft")),
    CategorySpec("sports", 179.0, 0.6, 0.08, "yoga mat", "瑜伽垫", ("breathable", "running", "quick-dry", "outdoor")),
    CategorySpec("jewelry", 899.0, 0.9, 0.05, "necklace", "项链", ("gold", "silver", "handmade", "pearl")),
    CategorySpec("pets", 89.0, 0.5, 0.07, "cat food", "猫粮", ("grain-free", "cat", "dog", "natural")),
    CategorySpec("books", 49.0, 0.4, 0.07, "book", "书", ("self-help", "kids", "classic", "hardcover")),
)
"""Item categories with lognormal list prices around ``median_price``."""

GENERIC_TAGS: tuple[str, ...] = ("new", "bestseller", "limited", "gift", "discount")

DISCRIMINATION_GROUP_COLUMN: str = "device"
DISCRIMINATION_GROUP_VALUE: str = "ios"
DISCRIMINATION_CATEGORIES: tuple[str, ...] = ("beauty", "electronics", "jewelry")
DISCRIMINATION_SURCHARGE: float = 0.08
"""Planted price discrimination: iOS users pay 8 % more in three categories."""


@dataclass(frozen=True)
class SegmentProfile:
    """Behaviour of one latent segment.

    Attributes
    ----------
    share : float
        Share of human users in the segment.
    favourite_anchor_share : float
        Share of sessions spent in a broadcast of the user's favourite anchor.
    peak_hour, hour_spread : float
        Centre and spread (hours) of the segment's active hours.
    gap_mean_seconds : float
        Mean of the exponential part of intra-session gaps.
    channel_weights : tuple of float
        Weights of :data:`lsc_utils.constants.CHANNELS` for a session's entry channel.
    discount_probability : float
        Probability that an order gets a discount.
    discount_levels : tuple of float
        Discount fractions drawn uniformly when an order is discounted.
    price_tilt : float
        Exponent on (list price / category median) in item choice: > 0 prefers expensive items.
    category_tilt : float
        Exponent on a category's median price in the choice of the favourite category.
    extra_quantity_mean : float
        Mean of the Poisson number of units bought beyond the first.
    sentiment_weights : tuple of float
        Probabilities of positive, neutral, negative comments.
    member_weights : tuple of float
        Probabilities of :data:`MEMBER_LEVELS`.
    age_mean, age_sd : float
        Age distribution.
    transition_multipliers : tuple
        ``((from_state or "*", to_state), factor)`` adjustments of the base transition weights.
    """

    share: float
    favourite_anchor_share: float
    peak_hour: float
    hour_spread: float
    gap_mean_seconds: float
    channel_weights: tuple[float, ...]
    discount_probability: float
    discount_levels: tuple[float, ...]
    price_tilt: float
    category_tilt: float
    extra_quantity_mean: float
    sentiment_weights: tuple[float, float, float]
    member_weights: tuple[float, float, float, float]
    age_mean: float
    age_sd: float
    transition_multipliers: tuple[tuple[tuple[str, str], float], ...]


SEGMENT_PROFILES: dict[str, SegmentProfile] = {
    "bargain_hunter": SegmentProfile(
        share=0.24,
        favourite_anchor_share=0.12,
        peak_hour=12.5,
        hour_spread=1.3,
        gap_mean_seconds=30,
        channel_weights=(0.25, 0.45, 0.05, 0.10, 0.10, 0.05),
        discount_probability=0.85,
        discount_levels=(0.15, 0.2, 0.3, 0.4),
        price_tilt=-0.6,
        category_tilt=-0.4,
        extra_quantity_mean=0.3,
        sentiment_weights=(0.30, 0.40, 0.30),
        member_weights=(0.45, 0.35, 0.15, 0.05),
        age_mean=37,
        age_sd=9,
        transition_multipliers=(
            (("*", "view_item"), 1.3),
            (("*", "favorite"), 1.6),
            (("*", "remove_from_cart"), 2.5),
            (("*", "like"), 0.6),
            (("*", "gift"), 0.3),
        ),
    ),
    "loyal_fan": SegmentProfile(
        share=0.20,
        favourite_anchor_share=0.88,
        peak_hour=20.5,
        hour_spread=1.0,
        gap_mean_seconds=35,
        channel_weights=(0.15, 0.03, 0.62, 0.05, 0.02, 0.13),
        discount_probability=0.2,
        discount_levels=(0.05, 0.1),
        price_tilt=0.0,
        category_tilt=0.0,
        extra_quantity_mean=0.2,
        sentiment_weights=(0.55, 0.30, 0.15),
        member_weights=(0.15, 0.35, 0.35, 0.15),
        age_mean=29,
        age_sd=7,
        transition_multipliers=(
            (("*", "like"), 2.5),
            (("*", "comment"), 2.0),
            (("*", "gift"), 3.0),
            (("*", "follow"), 1.5),
            (("*", "share"), 2.0),
            (("*", "order"), 0.8),
        ),
    ),
    "impulse_buyer": SegmentProfile(
        share=0.20,
        favourite_anchor_share=0.15,
        peak_hour=22.0,
        hour_spread=1.0,
        gap_mean_seconds=20,
        channel_weights=(0.40, 0.05, 0.05, 0.10, 0.35, 0.05),
        discount_probability=0.2,
        discount_levels=(0.05, 0.1),
        price_tilt=-0.3,
        category_tilt=-0.5,
        extra_quantity_mean=0.1,
        sentiment_weights=(0.50, 0.30, 0.20),
        member_weights=(0.40, 0.35, 0.20, 0.05),
        age_mean=25,
        age_sd=5,
        transition_multipliers=(
            (("*", "order"), 4.0),
            (("*", "add_to_cart"), 1.8),
            (("*", "view_item"), 0.7),
            (("*", "remove_from_cart"), 0.3),
            (("*", END_STATE), 1.5),
        ),
    ),
    "window_shopper": SegmentProfile(
        share=0.26,
        favourite_anchor_share=0.12,
        peak_hour=15.5,
        hour_spread=1.5,
        gap_mean_seconds=45,
        channel_weights=(0.60, 0.15, 0.05, 0.10, 0.05, 0.05),
        discount_probability=0.25,
        discount_levels=(0.05, 0.1),
        price_tilt=0.0,
        category_tilt=0.0,
        extra_quantity_mean=0.0,
        sentiment_weights=(0.30, 0.50, 0.20),
        member_weights=(0.60, 0.30, 0.08, 0.02),
        age_mean=24,
        age_sd=6,
        transition_multipliers=(
            (("*", "view_item"), 1.6),
            (("*", "favorite"), 2.5),
            (("*", "add_to_cart"), 0.35),
            (("*", "order"), 0.06),
            (("order", "pay"), 0.5),
            (("*", END_STATE), 0.75),
        ),
    ),
    "big_spender": SegmentProfile(
        share=0.10,
        favourite_anchor_share=0.2,
        peak_hour=19.0,
        hour_spread=1.2,
        gap_mean_seconds=30,
        channel_weights=(0.15, 0.15, 0.15, 0.05, 0.10, 0.40),
        discount_probability=0.15,
        discount_levels=(0.05,),
        price_tilt=2.0,
        category_tilt=1.5,
        extra_quantity_mean=1.5,
        sentiment_weights=(0.45, 0.35, 0.20),
        member_weights=(0.05, 0.15, 0.45, 0.35),
        age_mean=39,
        age_sd=8,
        transition_multipliers=(
            (("*", "order"), 3.0),
            (("*", "add_to_cart"), 1.5),
            (("*", "gift"), 2.0),
        ),
    ),
}
"""Planted behaviour of every segment (shares sum to 1)."""

BASE_TRANSITION_WEIGHTS: dict[str, dict[str, float]] = {
    START_STATE: {"enter_room": 0.8, "view_item": 0.2},
    "enter_room": {
        "view_item": 0.40,
        "like": 0.18,
        "comment": 0.10,
        "share": 0.02,
        "follow": 0.03,
        "gift": 0.02,
        "add_to_cart": 0.05,
        "leave_room": 0.06,
        END_STATE: 0.04,
    },
    "view_item": {
        "view_item": 0.30,
        "like": 0.06,
        "comment": 0.05,
        "share": 0.02,
        "favorite": 0.08,
        "add_to_cart": 0.18,
        "order": 0.06,
        "leave_room": 0.05,
        END_STATE: 0.10,
    },
    "like": {
        "like": 0.40,
        "view_item": 0.22,
        "comment": 0.10,
        "gift": 0.05,
        "follow": 0.03,
        "leave_room": 0.05,
        END_STATE: 0.06,
    },
    "comment": {"comment": 0.20, "like": 0.25, "view_item": 0.25, "gift": 0.05, "leave_room": 0.07, END_STATE: 0.08},
    "share": {"view_item": 0.35, "like": 0.25, "leave_room": 0.15, END_STATE: 0.15},
    "follow": {"like": 0.35, "view_item": 0.35, "comment": 0.10, "leave_room": 0.05, END_STATE: 0.10},
    "gift": {"gift": 0.25, "like": 0.30, "comment": 0.20, "view_item": 0.10, "leave_room": 0.05, END_STATE: 0.05},
    "favorite": {"view_item": 0.40, "add_to_cart": 0.25, "leave_room": 0.10, END_STATE: 0.15},
    "add_to_cart": {
        "order": 0.35,
        "view_item": 0.30,
        "remove_from_cart": 0.08,
        "add_to_cart": 0.05,
        "leave_room": 0.05,
        END_STATE: 0.10,
    },
    "remove_from_cart": {"view_item": 0.50, "leave_room": 0.20, END_STATE: 0.30},
    "order": {"pay": 0.85, "view_item": 0.05, "leave_room": 0.03, END_STATE: 0.07},
    "pay": {"view_item": 0.30, "like": 0.15, "comment": 0.10, "leave_room": 0.20, END_STATE: 0.25},
    "leave_room": {"enter_room": 0.15, END_STATE: 0.85},
}
"""Base transition weights; segments multiply them (``transition_multipliers``), rows are normalized."""

COMMENT_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "positive"): (
        "666",
        "W",
        "take my money",
        "love it",
        "so pretty",
        "just ordered",
        "best deal ever",
        "yyds",
        "this is fire",
        "great quality",
        "need this",
        "obsessed",
        "not bad at all, love it",
        "can't wait to get mine",
        "worth every penny",
        "10/10 would buy again",
        "love this {item}",
        "the {item} looks amazing",
        "just bought the {item}",
    ),
    ("en", "neutral"): (
        "does it come in blue?",
        "how much?",
        "link pls",
        "size M available?",
        "when does it ship?",
        "hi from Shanghai",
        "what's the fabric?",
        "is it in stock?",
        "first time here",
        "any coupon code?",
        "is shipping free?",
        "which one is #3?",
        "how much is the {item}?",
        "can you show the {item} again?",
        "what colors does the {item} have?",
    ),
    ("en", "negative"): (
        "not worth it",
        "too expensive",
        "scam",
        "looks cheap",
        "mine broke after 2 days",
        "overpriced",
        "L",
        "terrible quality",
        "don't buy",
        "waste of money",
        "so disappointed",
        "never arrived",
        "the {item} is not good",
        "returned the {item}, so bad",
        "fake {item}",
    ),
    ("zh", "positive"): (
        "666",
        "冲",
        "冲冲冲",
        "绝了",
        "yyds",
        "太好看了",
        "已下单",
        "买买买",
        "性价比超高",
        "爱了爱了",
        "主播好美",
        "必须支持",
        "质量很好",
        "不贵，爱了",
        "回购第三次了",
        "这个{item}绝了",
        "{item}好好看",
        "已拍{item}，冲",
    ),
    ("zh", "neutral"): (
        "多少钱?",
        "有蓝色吗?",
        "几号发货?",
        "链接在哪",
        "主播多高?",
        "M码有吗?",
        "来了来了",
        "在吗",
        "包邮吗?",
        "有优惠券吗?",
        "3号链接是什么?",
        "刚来，讲到哪了",
        "{item}多少钱?",
        "能再看一下{item}吗?",
        "{item}有几个颜色?",
    ),
    ("zh", "negative"): (
        "不好看",
        "太贵了",
        "质量太差",
        "退货了",
        "假货吧",
        "不值这个价",
        "垃圾",
        "等了半天没货",
        "不推荐",
        "骗人的",
        "客服不理人",
        "收到就坏了",
        "失望",
        "{item}一点都不好",
        "{item}质量太差了",
    ),
}
"""Bullet-screen comment templates by (language, sentiment); ``{item}`` is the room category's item word."""

COMMENT_EMOJI: dict[str, tuple[str, ...]] = {
    "positive": ("😍", "🔥", "👍", "❤️", "🥰", "👏", "💯"),
    "neutral": ("🤔", "👀", "🙋"),
    "negative": ("😒", "👎", "😡", "💔", "🙄"),
}
EMOJI_SHARE: float = 0.45

PII_KINDS: tuple[str, ...] = ("phone", "email", "wechat", "qq")
PII_TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {
    ("en", "phone"): ("call me ", " for wholesale"),
    ("en", "email"): ("email me at ", " pls"),
    ("en", "wechat"): ("add me vx: ", " for the group"),
    ("en", "qq"): ("QQ ", " add me"),
    ("zh", "phone"): ("加我电话", "私聊"),
    ("zh", "email"): ("邮箱", "发我资料"),
    ("zh", "wechat"): ("加vx: ", " 拉你进群"),
    ("zh", "qq"): ("QQ号", "进群领券"),
}
"""(prefix, suffix) around the planted personal value of a PII comment (always neutral)."""

GIVEN_NAMES_ZH: tuple[str, ...] = (
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Jun",
    "Yang",
    "Yan",
    "Xiu",
    "Hui",
    "Ting",
    "Hao",
    "Yu",
)
GIVEN_NAMES_EN: tuple[str, ...] = ("Emma", "Olivia", "Liam", "Noah", "Ava", "Mia", "Lucas", "Ethan", "Chloe", "Grace")
FAMILY_NAMES: tuple[str, ...] = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
)
EMAIL_DOMAINS: tuple[str, ...] = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com")
ANCHOR_NICKNAMES: tuple[str, ...] = (
    "小鹿",
    "Coco",
    "阿杰",
    "Mia",
    "大米",
    "Leo",
    "甜甜",
    "Kiki",
    "老王",
    "Luna",
    "一一",
    "Max",
)
TITLE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("", "{cat}专场 | 全场包邮"),
    ("", "宠粉福利夜 {cat}"),
    ("", "{cat}限时秒杀"),
    ("", "新品首发 {cat}"),
    ("", " {cat} flash sale"),
    ("", " weekend {cat} haul"),
    ("", " new arrivals: {cat}"),
)

TRUTH_DIR = "truth"


# ----------------------------------------------------------------------------------------------
# Markov chains
# ----------------------------------------------------------------------------------------------


def build_transition_matrices() -> np.ndarray:
    """Planted transition matrices, one per segment.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(SEGMENTS), len(MARKOV_STATES), len(MARKOV_STATES))``; entry ``[s, i, j]`` is
        the probability of moving from state ``i`` to state ``j`` in segment ``s``. Rows of the
        transient states (all but ``END``) sum to 1; the ``END`` row is all zeros. ``pay`` is only
        reachable from ``order``, ``START`` never leads directly to ``END``.
    """
    index = {s: i for i, s in enumerate(MARKOV_STATES)}
    n = len(MARKOV_STATES)
    base = np.zeros((n, n))
    for source, targets in BASE_TRANSITION_WEIGHTS.items():
        for target, weight in targets.items():
            base[index[source], index[target]] = weight
    matrices = np.zeros((len(SEGMENTS), n, n))
    for s, segment in enumerate(SEGMENTS):
        weights = base.copy()
        for (source, target), factor in SEGMENT_PROFILES[segment].transition_multipliers:
            rows = slice(None) if source == "*" else index[source]
            weights[rows, index[target]] *= factor
        not_order = np.arange(n) != index["order"]
        weights[not_order, index["pay"]] = 0.0
        totals = weights.sum(axis=1, keepdims=True)
        matrices[s] = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return matrices


def transition_table(matrices: np.ndarray | None = None) -> pd.DataFrame:
    """The planted chains as a long table (``segment, from_state, to_state, probability``).

    Every transient state (``START`` and the event types) appears as ``from_state`` with every
    event type and ``END`` as ``to_state`` (zeros included), so rows sum to 1 per segment and state.
    """
    matrices = build_transition_matrices() if matrices is None else matrices
    sources = MARKOV_STATES[:-1]
    targets = MARKOV_STATES[1:]
    seg, src, dst = np.meshgrid(
        np.arange(len(SEGMENTS)), np.arange(len(sources)), np.arange(len(targets)), indexing="ij"
    )
    return pd.DataFrame(
        {
            "segment": pd.Series(np.asarray(SEGMENTS)[seg.ravel()], dtype="str"),
            "from_state": pd.Series(np.asarray(sources)[src.ravel()], dtype="str"),
            "to_state": pd.Series(np.asarray(targets)[dst.ravel()], dtype="str"),
            "probability": matrices[seg.ravel(), src.ravel(), dst.ravel() + 1],
        }
    )


def expected_session_lengths(matrices: np.ndarray | None = None) -> np.ndarray:
    """Expected number of events per session of every segment (fundamental matrix of the chain)."""
    matrices = build_transition_matrices() if matrices is None else matrices
    transient = slice(0, len(MARKOV_STATES) - 1)
    lengths = np.empty(len(SEGMENTS))
    for s in range(len(SEGMENTS)):
        q = matrices[s, transient, transient]
        visits = np.linalg.solve(np.eye(q.shape[0]) - q.T, np.eye(q.shape[0])[0])
        lengths[s] = visits[1:].sum()
    return lengths


def expected_events_per_user_day(n_days: int = 28) -> float:
    """Expected clean events per human user and day under the planted profiles.

    Session volume follows purchases (each segment's browsing sessions keep it paying at its chain's
    rate), so this runs the planted purchase process for a fixed sample of 20,000 users (seed 0:
    the same answer every call) and converts purchases to events with the chains' session lengths.
    """
    rng = np.random.default_rng(0)
    n = 20_000
    shares = np.array([SEGMENT_PROFILES[s].share for s in SEGMENTS])
    segment = _choice(rng, n, shares)
    latents = draw_customer_latents(segment, SEGMENTS, n_days, rng)
    idx = np.flatnonzero(latents.is_customer)
    draws = draw_purchase_times(
        latents.rate[idx], latents.dropout[idx], latents.first_day[idx], np.full(idx.size, 20.0), n_days, rng
    )
    purchases = np.bincount(segment[idx][draws.customer], minlength=len(SEGMENTS))
    matrices = build_transition_matrices()
    q = purchase_probabilities(matrices, MARKOV_STATES.index("pay"))
    events = (purchases / q * expected_session_lengths(matrices)).sum()
    return float(events / n / n_days)


def users_for_events(n_events: int, n_days: int = 28) -> int:
    """Number of users that makes :func:`simulate` write about ``n_events`` event rows.

    Parameters
    ----------
    n_events : int
        Target number of event rows (>= 1000).
    n_days : int, default 28
        Simulated days.

    Returns
    -------
    int
        ``n_users`` to pass to :func:`simulate`.
    """
    _check_int("n_events", n_events, 1000, "users_for_events")
    _check_int("n_days", n_days, 1, "users_for_events")
    per_user = expected_events_per_user_day(n_days) * n_days * (1 + sum(DEFAULT_DIRTY_RATES.values()))
    return max(50, math.ceil(n_events / per_user))


def walk_markov_chains(
    cumulative: np.ndarray,
    segments: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one chain per session from ``START`` to ``END``, all sessions stepping together.

    Parameters
    ----------
    cumulative : numpy.ndarray
        Row-wise cumulative transition probabilities, shape ``(n_segments, n_states, n_states)``,
        last column exactly 1.
    segments : numpy.ndarray
        Segment code of every session.
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    states : numpy.ndarray of int8
        Visited states (``START``/``END`` excluded), session after session, in visiting order.
    lengths : numpy.ndarray of int64
        Number of events of every session.
    """
    end = len(MARKOV_STATES) - 1
    n = len(segments)
    active = np.arange(n)
    state = np.zeros(n, dtype=np.int64)
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    while active.size:
        u = rng.random(active.size)
        rows = cumulative[segments[active], state]
        nxt = (rows <= u[:, None]).sum(axis=1)
        going = nxt != end
        active, state = active[going], nxt[going]
        if active.size:
            steps.append((active, state))
    lengths = np.zeros(n, dtype=np.int64)
    for ids, _ in steps:
        lengths[ids] += 1
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    states = np.empty(int(lengths.sum()), dtype=np.int8)
    for k, (ids, values) in enumerate(steps):
        states[offsets[ids] + k] = values
    return states, lengths


# ----------------------------------------------------------------------------------------------
# Vectorized helpers
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupedSampler:
    """Weighted sampling of one member within a group, vectorized over many draws.

    Members of group ``g`` own the interval ``(g, g + 1]`` of a sorted key array, split in
    proportion to their weights, so one ``searchsorted`` answers all draws at once.
    """

    keys: np.ndarray
    members: np.ndarray
    sizes: np.ndarray

    @classmethod
    def build(cls, groups: np.ndarray, members: np.ndarray, weights: np.ndarray, n_groups: int) -> GroupedSampler:
        """Index ``members`` (with ``weights``) by ``groups`` (ints in ``[0, n_groups)``)."""
        keep = weights > 0
        order = np.lexsort((members[keep], groups[keep]))
        g = groups[keep][order].astype(np.int64)
        m = members[keep][order].astype(np.int64)
        w = weights[keep][order].astype(np.float64)
        sizes = np.bincount(g, minlength=n_groups)
        if g.size == 0:
            return cls(np.zeros(0), np.zeros(0, dtype=np.int64), sizes)
        totals = np.bincount(g, weights=w, minlength=n_groups)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        filled = sizes > 0
        cum = np.cumsum(w)
        before = np.repeat(cum[starts[filled]] - w[starts[filled]], sizes[filled])
        share = (cum - before) / totals[g]
        share[ends[filled] - 1] = 1.0
        return cls(g + share, m, sizes)

    def sample(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One member per entry of ``groups``; -1 where a group is empty or the group is < 0."""
        groups = np.asarray(groups, dtype=np.int64)
        u = np.minimum(rng.random(groups.size), 1.0 - 1e-9)
        valid = groups >= 0
        valid[valid] = self.sizes[groups[valid]] > 0
        out = np.full(groups.size, -1, dtype=np.int64)
        if valid.any():
            idx = np.searchsorted(self.keys, groups[valid] + u[valid], side="right")
            out[valid] = self.members[np.minimum(idx, self.members.size - 1)]
        return out


def _split_runs(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offset of every run of a flat array cut in runs of ``lengths``, and the run of every element."""
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    owner = np.repeat(np.arange(lengths.size), lengths)
    return offsets, owner


def _gather_ranges(offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the concatenated ranges ``offsets[i] .. offsets[i] + lengths[i]``."""
    total = int(lengths.sum())
    new_offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.repeat(offsets - new_offsets, lengths) + np.arange(total)


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids (``U000123``) from integers, as an Arrow array."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width=width, padding="0"), "")


def _id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n, 1))))


def _take_strings(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` with nulls where ``codes < 0``."""
    codes = np.asarray(codes, dtype=np.int64)
    return pc.take(values, pa.array(codes, mask=codes < 0))


def _format_ms_timestamps(ms: np.ndarray) -> pa.Array:
    """ISO 8601 strings with milliseconds and ``Z`` (``2026-03-02T18:03:11.250Z``)."""
    stamps = pa.array(np.asarray(ms, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("ms"))
    return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")


def _unique_random_ints(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct random integers in ``[low, high)`` (redraws collisions; order random)."""
    values = rng.integers(low, high, size=n)
    while True:
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return values
        values[dup] = rng.integers(low, high, size=int(dup.sum()))


def _fixed_width_strings(alphabet: str, codes: np.ndarray) -> np.ndarray:
    """Strings from a matrix of character codes (one row per string), without a Python loop."""
    chars = np.asarray(list(alphabet), dtype="<U1")[codes]
    return np.ascontiguousarray(chars).view(f"<U{codes.shape[1]}").ravel()


def _hex_tokens(rng: np.random.Generator, n: int, prefix: str, digits: int) -> pd.Series:
    """``n`` distinct random tokens ``prefix`` + ``digits`` lowercase hex characters."""
    numbers = _unique_random_ints(rng, n, 0, 16**digits)
    codes = (numbers[:, None] >> (4 * np.arange(digits - 1, -1, -1))[None, :]) & 15
    return prefix + pd.Series(_fixed_width_strings("0123456789abcdef", codes), dtype="str")


def _random_words(rng: np.random.Generator, n: int, length: int) -> pd.Series:
    """``n`` random lowercase words of ``length`` letters."""
    codes = rng.integers(0, 26, size=(n, length))
    return pd.Series(_fixed_width_strings("abcdefghijklmnopqrstuvwxyz", codes), dtype="str")


def _circular_hours(values: np.ndarray) -> np.ndarray:
    return np.mod(values, 24.0)


def _hour_affinity(hours: np.ndarray, peak: float, spread: float) -> np.ndarray:
    d = np.abs(_circular_hours(hours - peak))
    d = np.minimum(d, 24.0 - d)
    return np.exp(-0.5 * (d / spread) ** 2)


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(p.size, size=n, p=p / p.sum())


def _choice_by_row(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row of a probability matrix (rows sum to 1)."""
    cum = np.cumsum(probabilities, axis=1)
    cum[:, -1] = 1.0
    return (cum <= rng.random(len(probabilities))[:, None]).sum(axis=1)


# ----------------------------------------------------------------------------------------------
# The world: catalogue, anchors, rooms, users
# ----------------------------------------------------------------------------------------------


@dataclass
class SimulationParams:
    """Validated parameters of one simulation (also written to ``dataset.yaml``)."""

    n_users: int
    n_days: int
    seed: int
    start: pd.Timestamp
    discrimination: bool
    dirty: bool
    chunk_events: int
    n_items: int
    n_anchors: int
    dirty_rates: dict[str, float]

    @property
    def start_ms(self) -> int:
        return int(self.start.value // 1_000_000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.n_days * DAY_MS

    def to_meta(self) -> dict[str, Any]:
        return {
            "n_users": self.n_users,
            "n_days": self.n_days,
            "seed": self.seed,
            "start": self.start.strftime("%Y-%m-%d"),
            "discrimination": self.discrimination,
            "dirty": self.dirty,
            "chunk_events": self.chunk_events,
            "n_items": self.n_items,
            "n_anchors": self.n_anchors,
            "dirty_rates": dict(self.dirty_rates),
        }


@dataclass
class World:
    """Everything shared by all user blocks: catalogue, anchors, rooms, users and samplers."""

    params: SimulationParams
    cumulative_transitions: np.ndarray
    item_category: np.ndarray
    item_price: np.ndarray
    item_popularity: np.ndarray
    item_sampler: GroupedSampler
    popular_item_sampler: GroupedSampler
    room_category: np.ndarray
    room_start: np.ndarray
    room_end: np.ndarray
    room_by_slot_category: GroupedSampler
    room_by_slot: GroupedSampler
    room_any: GroupedSampler
    room_by_anchor: GroupedSampler
    room_by_slot_anchor: GroupedSampler
    user_segment: np.ndarray
    user_is_bot: np.ndarray
    user_device: np.ndarray
    user_activity: np.ndarray
    user_peak_hour: np.ndarray
    user_fav_category: np.ndarray
    user_fav_anchor: np.ndarray
    user_language: np.ndarray
    user_payment: np.ndarray
    bot_events: np.ndarray
    bot_stretches: np.ndarray
    user_ids: pa.Array
    item_ids: pa.Array
    room_ids: pa.Array
    surcharge_by_category: np.ndarray
    user_is_customer: np.ndarray
    user_rate: np.ndarray
    user_dropout: np.ndarray
    user_spend_rate: np.ndarray
    user_first_day: np.ndarray
    pay_probability: np.ndarray


def generate_items(params: SimulationParams, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Item catalogue with Zipf-like popularity.

    Returns
    -------
    items : pandas.DataFrame
        ``item_id, category, brand, list_price, tags``.
    category : numpy.ndarray
        Category code of every item.
    popularity : numpy.ndarray
        Zipf weight of every item (rank exponent 1.1, ranks in random order).
    """
    n = params.n_items
    shares = np.array([c.share for c in CATEGORIES])
    category = _choice(rng, n, shares)
    median = np.array([c.median_price for c in CATEGORIES])[category]
    sigma = np.array([c.price_sigma for c in CATEGORIES])[category]
    price = np.maximum(np.round(median * np.exp(sigma * rng.standard_normal(n))) - 0.1, 1.9)
    popularity = 1.0 / (rng.permutation(n) + 1.0) ** 1.1
    brands = _brand_names(rng, 8)
    brand = np.asarray(brands, dtype=object)[category, rng.integers(0, 8, size=n)]
    ids = _format_ids("I", np.arange(1, n + 1), _id_width(n, 5))
    items = pd.DataFrame(
        {
            "item_id": pd.Series(ids.to_pylist(), dtype="str"),
            "category": pd.Series(np.asarray([c.name for c in CATEGORIES])[category], dtype="str"),
            "brand": pd.Series(brand, dtype="str"),
            "list_price": price.astype(np.float64),
            "tags": _item_tags(rng, category),
        }
    )
    return items, category, popularity


def _brand_names(rng: np.random.Generator, per_category: int) -> list[list[str]]:
    """Invented brand names, ``per_category`` for every category (no two alike)."""
    first = np.array(["Lu", "No", "Ve", "Ka", "Mi", "Zo", "Ari", "Be", "Cy", "Da", "El", "Fe", "Gi", "Ho", "Ix", "Jo"])
    second = np.array(["na", "va", "ra", "lo", "mi", "xo", "ta", "ko", "ne", "ly", "so", "ri", "mo", "ze", "pa", "qu"])
    n = len(CATEGORIES) * per_category
    codes = rng.choice(first.size * second.size, size=n, replace=False)
    names = pd.Series(first[codes // second.size]) + pd.Series(second[codes % second.size])
    return names.to_numpy().reshape(len(CATEGORIES), per_category).tolist()


def _item_tags(rng: np.random.Generator, category: np.ndarray) -> pd.Series:
    """``a|b|c`` tags: one to three distinct tags from the category's and the generic vocabulary."""
    width = max(len(c.tags) for c in CATEGORIES) + len(GENERIC_TAGS)
    vocab = np.full((len(CATEGORIES), width), "", dtype=object)
    for c, spec in enumerate(CATEGORIES):
        words = (*spec.tags, *GENERIC_TAGS)
        vocab[c, : len(words)] = words
    sizes = (vocab != "").sum(axis=1)[category]
    keys = rng.random((category.size, width))
    keys[np.arange(width)[None, :] >= sizes[:, None]] = 2.0
    picked = np.argsort(keys, axis=1)[:, :3]
    words = vocab[category[:, None], picked]
    k = rng.integers(1, 4, size=category.size)
    tags = pd.Series(words[:, 0]).astype("str")
    for j in (1, 2):
        extra = ("|" + pd.Series(words[:, j]).astype("str")).where(k > j, "")
        tags = tags + extra
    return tags.astype("str")


def generate_anchors(params: SimulationParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Anchors (hosts): category, popularity, broadcast start hour, duration and frequency."""
    n = params.n_anchors
    shares = np.array([c.share for c in CATEGORIES])
    return {
        "category": _choice(rng, n, shares),
        "popularity": 1.0 / (rng.permutation(n) + 1.0) ** 0.8,
        "start_hour": np.asarray(ANCHOR_START_HOURS)[_choice(rng, n, ANCHOR_START_WEIGHTS)],
        "duration_h": rng.uniform(2.0, 5.0, size=n),
        "live_probability": rng.uniform(0.35, 0.8, size=n),
        "nickname": rng.integers(0, len(ANCHOR_NICKNAMES), size=n),
    }


def generate_rooms(params: SimulationParams, anchors: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """One row per live broadcast: at most one per anchor and day, evening-heavy, weekend-heavy.

    Returns
    -------
    pandas.DataFrame
        ``room_id, anchor_id, category, start_ts, end_ts, title`` plus the internal columns
        ``anchor`` (code), ``category_code``, ``start_ms``, ``end_ms``, sorted by start time.
    """
    n_anchors, n_days = params.n_anchors, params.n_days
    anchor = np.repeat(np.arange(n_anchors), n_days)
    day = np.tile(np.arange(n_days), n_anchors)
    weekday = (params.start.day_of_week + day) % 7
    p_live = np.minimum(anchors["live_probability"][anchor] * np.asarray(WEEKDAY_LIVE_FACTORS)[weekday], 0.95)
    live = rng.random(anchor.size) < p_live
    # Every day has at least one broadcast: the most popular anchor steps in on empty days.
    empty_days = ~live.reshape(n_anchors, n_days).any(axis=0)
    live.reshape(n_anchors, n_days)[int(np.argmax(anchors["popularity"])), empty_days] = True
    anchor, day = anchor[live], day[live]
    jitter = np.round(rng.normal(0.0, 20.0, size=anchor.size)) * 60_000
    start = params.start_ms + day * DAY_MS + anchors["start_hour"][anchor] * HOUR_MS + jitter.astype(np.int64)
    start = np.maximum(start, params.start_ms)
    hours = np.clip(anchors["duration_h"][anchor] * rng.lognormal(0.0, 0.2, size=anchor.size), 1.0, 6.0)
    end = np.minimum(start + np.round(hours * 60).astype(np.int64) * 60_000, params.end_ms)
    keep = end - start >= 30 * 60_000
    anchor, start, end = anchor[keep], start[keep], end[keep]
    if anchor.size == 0:
        raise ValueError(
            f"The simulation has no live broadcast: raise 'n_days' or 'n_anchors' (got n_days={n_days}, n_anchors={n_anchors})."
        )
    other = rng.integers(0, len(CATEGORIES), size=anchor.size)
    category = np.where(rng.random(anchor.size) < 0.95, anchors["category"][anchor], other)
    order = np.lexsort((anchor, start))
    anchor, start, end, category = anchor[order], start[order], end[order], category[order]
    n = anchor.size
    rooms = pd.DataFrame(
        {
            "room_id": pd.Series(_format_ids("R", np.arange(1, n + 1), _id_width(n, 6)).to_pylist(), dtype="str"),
            "anchor_id": pd.Series(_format_ids("A", anchor + 1, _id_width(n_anchors, 4)).to_pylist(), dtype="str"),
            "category": pd.Series(np.asarray([c.name for c in CATEGORIES])[category], dtype="str"),
            "start_ts": pd.to_datetime(start, unit="ms", utc=True).astype("datetime64[us, UTC]"),
            "end_ts": pd.to_datetime(end, unit="ms", utc=True).astype("datetime64[us, UTC]"),
            "title": _room_titles(rng, anchors["nickname"][anchor], category),
        }
    )
    rooms["anchor"] = anchor
    rooms["category_code"] = category
    rooms["start_ms"] = start
    rooms["end_ms"] = end
    return rooms


def _room_titles(rng: np.random.Generator, nickname: np.ndarray, category: np.ndarray) -> pd.Series:
    pattern = rng.integers(0, len(TITLE_PATTERNS), size=category.size)
    words_zh = np.asarray([c.item_zh for c in CATEGORIES], dtype=object)[category]
    words_en = np.asarray([c.name for c in CATEGORIES], dtype=object)[category]
    chinese = np.asarray(["{cat}" in p[1] and not p[1].startswith(" ") for p in TITLE_PATTERNS])[pattern]
    words = pd.Series(np.where(chinese, words_zh, words_en))
    templates = pd.Series(np.asarray([p[1] for p in TITLE_PATTERNS], dtype=object)[pattern])
    parts = templates.str.split("{cat}", n=1, regex=False)
    nick = pd.Series(np.asarray(ANCHOR_NICKNAMES, dtype=object)[nickname])
    return (nick + parts.str[0] + words + parts.str[1]).astype("str")


def generate_users(
    params: SimulationParams,
    anchors: dict[str, np.ndarray],
    anchor_has_rooms: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Users with demographics, consent, canary-bearing PII and latent traits.

    Returns
    -------
    users : pandas.DataFrame
        The canonical users table with raw PII columns ``name, phone, email``.
    latent : dict of numpy.ndarray
        Segment (-1 for bots), device, activity, peak hour, favourite category and anchor,
        language, payment preference, bot flag.
    canaries : pandas.DataFrame
        ``user_id, token, name, phone, email`` of every user.
    """
    n = params.n_users
    n_bots = _bot_count(n) if params.dirty and params.dirty_rates["bot_user"] > 0 else 0
    is_bot = np.zeros(n, dtype=bool)
    is_bot[rng.choice(n, size=n_bots, replace=False)] = True
    shares = np.array([SEGMENT_PROFILES[s].share for s in SEGMENTS])
    segment = _choice(rng, n, shares)
    segment[is_bot] = -1
    seg = np.maximum(segment, 0)
    profile = _profile_arrays()

    gender = np.asarray(["F", "M", "unknown"])[_choice(rng, n, (0.62, 0.33, 0.05))]
    age = np.clip(np.round(profile["age_mean"][seg] + profile["age_sd"][seg] * rng.standard_normal(n)), 16, 75)
    age_missing = rng.random(n) < 0.08
    tier = 1 + _choice_by_row(
        rng,
        np.where(
            (segment == SEGMENTS.index("big_spender"))[:, None],
            [0.35, 0.3, 0.2, 0.1, 0.05],
            [0.15, 0.25, 0.25, 0.2, 0.15],
        ),
    )
    device = _choice(rng, n, DEVICE_WEIGHTS)
    device[is_bot] = DEVICES.index("web")
    member = _choice_by_row(rng, profile["member_weights"][seg])
    signup_ms = params.start_ms - rng.integers(DAY_MS, 3 * 365 * DAY_MS, size=n)
    language = (rng.random(n) < ENGLISH_USER_SHARE).astype(np.int64)

    medians = np.array([c.median_price for c in CATEGORIES])
    cat_weights = (
        np.array([c.share for c in CATEGORIES])[None, :]
        * (medians[None, :] / np.median(medians)) ** profile["category_tilt"][seg][:, None]
    )
    fav_category = _choice_by_row(rng, cat_weights / cat_weights.sum(axis=1, keepdims=True))
    fav_anchor = _favourite_anchors(anchors, anchor_has_rooms, seg, fav_category, rng)

    ids = _format_ids("U", np.arange(1, n + 1), _id_width(n, 6))
    canaries = _user_pii(rng, n, language)
    canaries.insert(0, "user_id", pd.Series(ids.to_pylist(), dtype="str"))
    users = pd.DataFrame(
        {
            "user_id": canaries["user_id"],
            "gender": pd.Series(gender, dtype="str"),
            "age": pd.array(np.where(age_missing, 0, age).astype(np.int64), dtype="Int64"),
            "region": pd.Series(np.asarray(REGIONS)[_choice(rng, n, REGION_WEIGHTS)], dtype="str"),
            "city_tier": pd.array(tier.astype(np.int64), dtype="Int64"),
            "signup_ts": pd.to_datetime(signup_ms, unit="ms", utc=True).astype("datetime64[us, UTC]"),
            "device": pd.Series(np.asarray(DEVICES)[device], dtype="str"),
            "member_level": pd.Series(np.asarray(MEMBER_LEVELS)[member], dtype="str"),
            "consent_personalization": rng.random(n) >= 0.11,
            "consent_marketing": rng.random(n) >= 0.13,
            "name": canaries["name"],
            "phone": canaries["phone"],
            "email": canaries["email"],
        }
    )
    users.loc[age_missing, "age"] = pd.NA
    latent = {
        "segment": segment,
        "is_bot": is_bot,
        "device": device,
        "activity": rng.lognormal(-0.5 * ACTIVITY_SIGMA**2, ACTIVITY_SIGMA, size=n),
        "peak_hour": _circular_hours(profile["peak_hour"][seg] + rng.normal(0.0, 0.75, size=n)),
        "fav_category": fav_category,
        "fav_anchor": fav_anchor,
        "language": language,
        "payment": _choice(rng, n, PAYMENT_WEIGHTS),
    }
    customers = draw_customer_latents(segment, SEGMENTS, params.n_days, rng)
    latent.update(
        is_customer=customers.is_customer,
        rate=customers.rate,
        dropout=customers.dropout,
        spend_rate=customers.spend_rate,
        first_day=customers.first_day,
    )
    return users, latent, canaries


def _bot_count(n_users: int) -> int:
    return max(1, round(n_users / 1500))


def _profile_arrays() -> dict[str, np.ndarray]:
    """Segment profile fields as arrays indexed by segment code."""
    profiles = [SEGMENT_PROFILES[s] for s in SEGMENTS]
    scalar = (
        "favourite_anchor_share",
        "peak_hour",
        "hour_spread",
        "gap_mean_seconds",
        "discount_probability",
        "price_tilt",
        "category_tilt",
        "extra_quantity_mean",
        "age_mean",
        "age_sd",
    )
    out = {name: np.array([getattr(p, name) for p in profiles], dtype=float) for name in scalar}
    out["channel_weights"] = np.array([p.channel_weights for p in profiles], dtype=float)
    out["sentiment_weights"] = np.array([p.sentiment_weights for p in profiles], dtype=float)
    out["member_weights"] = np.array([p.member_weights for p in profiles], dtype=float)
    levels = max(len(p.discount_levels) for p in profiles)
    out["discount_levels"] = np.array([np.resize(p.discount_levels, levels) for p in profiles], dtype=float)
    return out


def _favourite_anchors(
    anchors: dict[str, np.ndarray],
    anchor_has_rooms: np.ndarray,
    segment: np.ndarray,
    fav_category: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A favourite anchor per user: popular, of the favourite category, broadcasting near the segment's hours."""
    n_anchors, n_cat = anchors["category"].size, len(CATEGORIES)
    peak = _profile_arrays()["peak_hour"]

    def weights(seg_codes: np.ndarray, anchor_codes: np.ndarray) -> np.ndarray:
        # Shows are watched mostly in their middle: centre = start hour + 1.5 h.
        affinity = _hour_affinity(anchors["start_hour"][anchor_codes] + 1.5, peak[seg_codes], 2.5)
        return anchors["popularity"][anchor_codes] * affinity * anchor_has_rooms[anchor_codes]

    seg_codes, cat_codes, anchor_codes = (
        a.ravel() for a in np.meshgrid(np.arange(len(SEGMENTS)), np.arange(n_cat), np.arange(n_anchors), indexing="ij")
    )
    same_category = anchors["category"][anchor_codes] == cat_codes
    by_category = GroupedSampler.build(
        seg_codes * n_cat + cat_codes,
        anchor_codes,
        weights(seg_codes, anchor_codes) * same_category,
        len(SEGMENTS) * n_cat,
    )
    seg_only, anchor_only = (
        a.ravel() for a in np.meshgrid(np.arange(len(SEGMENTS)), np.arange(n_anchors), indexing="ij")
    )
    by_segment = GroupedSampler.build(seg_only, anchor_only, weights(seg_only, anchor_only), len(SEGMENTS))
    favourite = by_category.sample(segment * n_cat + fav_category, rng)
    fallback = by_segment.sample(segment, rng)
    return np.where(favourite >= 0, favourite, fallback)


def _user_pii(rng: np.random.Generator, n: int, language: np.ndarray) -> pd.DataFrame:
    """Names, phones and emails; every name and email embeds a unique canary token."""
    tokens = _hex_tokens(rng, n, "cnry", 8)
    given_zh = np.asarray(GIVEN_NAMES_ZH, dtype=object)[rng.integers(0, len(GIVEN_NAMES_ZH), size=n)]
    given_en = np.asarray(GIVEN_NAMES_EN, dtype=object)[rng.integers(0, len(GIVEN_NAMES_EN), size=n)]
    given = pd.Series(np.where(language == 1, given_en, given_zh)).astype("str")
    family = pd.Series(np.asarray(FAMILY_NAMES, dtype=object)[rng.integers(0, len(FAMILY_NAMES), size=n)]).astype("str")
    domain = pd.Series(np.asarray(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), size=n)]).astype(
        "str"
    )
    phones = _phone_numbers(rng, n)
    return pd.DataFrame(
        {
            "token": tokens,
            "name": (given + " " + family + " " + tokens).astype("str"),
            "phone": phones,
            "email": (given.str.lower() + "." + tokens + "@" + domain).astype("str"),
        }
    )


def _phone_numbers(rng: np.random.Generator, n: int) -> pd.Series:
    """Distinct Chinese mobile numbers (11 digits, ``1[3-9]xxxxxxxxx``)."""
    numbers = _unique_random_ints(rng, n, 13_000_000_000, 20_000_000_000)
    return pd.Series(numbers).astype("str")


def build_world(params: SimulationParams, rng: np.random.Generator) -> tuple[World, dict[str, pd.DataFrame]]:
    """Generate the catalogue, anchors, rooms and users and index them for block simulation.

    Returns
    -------
    world : World
        Arrays and samplers used by every block.
    tables : dict of pandas.DataFrame
        ``users``, ``items``, ``rooms`` (canonical columns), ``canaries`` and ``user_traits``.
    """
    matrices = build_transition_matrices()
    cumulative = np.cumsum(matrices, axis=2)
    cumulative[:, :-1, -1] = 1.0
    items, item_category, popularity = generate_items(params, rng)
    anchors = generate_anchors(params, rng)
    rooms = generate_rooms(params, anchors, rng)
    anchor_has_rooms = np.bincount(rooms["anchor"].to_numpy(), minlength=params.n_anchors) > 0
    users, latent, canaries = generate_users(params, anchors, anchor_has_rooms, rng)
    bot_events, bot_stretches = _bot_plan(params, latent["is_bot"], rng)
    item_price = items["list_price"].to_numpy()
    world = World(
        params=params,
        cumulative_transitions=cumulative,
        item_category=item_category,
        item_price=item_price,
        item_popularity=popularity,
        **_item_samplers(item_category, item_price, popularity),
        room_category=rooms["category_code"].to_numpy(),
        room_start=rooms["start_ms"].to_numpy(),
        room_end=rooms["end_ms"].to_numpy(),
        **_room_samplers(params, rooms, anchors["popularity"]),
        user_segment=latent["segment"],
        user_is_bot=latent["is_bot"],
        user_device=latent["device"],
        user_activity=latent["activity"],
        user_peak_hour=latent["peak_hour"],
        user_fav_category=latent["fav_category"],
        user_fav_anchor=latent["fav_anchor"],
        user_language=latent["language"],
        user_payment=latent["payment"],
        bot_events=bot_events,
        bot_stretches=bot_stretches,
        user_ids=pa.array(users["user_id"].to_numpy(dtype=object), type=pa.string()),
        item_ids=pa.array(items["item_id"].to_numpy(dtype=object), type=pa.string()),
        room_ids=pa.array(rooms["room_id"].to_numpy(dtype=object), type=pa.string()),
        surcharge_by_category=_surcharge_by_category(params),
        user_is_customer=latent["is_customer"],
        user_rate=latent["rate"],
        user_dropout=latent["dropout"],
        user_spend_rate=latent["spend_rate"],
        user_first_day=latent["first_day"],
        pay_probability=purchase_probabilities(matrices, MARKOV_STATES.index("pay")),
    )
    tables = {
        "users": users,
        "items": items,
        "rooms": rooms[["room_id", "anchor_id", "category", "start_ts", "end_ts", "title"]],
        "canaries": canaries,
        "user_traits": _user_traits_table(params, users, latent),
    }
    return world, tables


def _item_samplers(category: np.ndarray, price: np.ndarray, popularity: np.ndarray) -> dict[str, GroupedSampler]:
    """Item samplers: by (segment, category) with the segment's price tilt, and overall by popularity."""
    n_items, n_cat, n_seg = category.size, len(CATEGORIES), len(SEGMENTS)
    tilt = _profile_arrays()["price_tilt"]
    relative_price = price / np.array([c.median_price for c in CATEGORIES])[category]
    seg_codes = np.repeat(np.arange(n_seg), n_items)
    item_codes = np.tile(np.arange(n_items), n_seg)
    weights = popularity[item_codes] * relative_price[item_codes] ** tilt[seg_codes]
    return {
        "item_sampler": GroupedSampler.build(
            seg_codes * n_cat + category[item_codes], item_codes, weights, n_seg * n_cat
        ),
        "popular_item_sampler": GroupedSampler.build(
            np.zeros(n_items, dtype=np.int64), np.arange(n_items), popularity, 1
        ),
    }


def _room_samplers(
    params: SimulationParams, rooms: pd.DataFrame, anchor_popularity: np.ndarray
) -> dict[str, GroupedSampler]:
    """Room samplers weighted by anchor popularity: by live hour slot (and category), any room, by anchor."""
    n_rooms, n_cat = len(rooms), len(CATEGORIES)
    anchor = rooms["anchor"].to_numpy()
    category = rooms["category_code"].to_numpy()
    first_slot = (rooms["start_ms"].to_numpy() - params.start_ms) // HOUR_MS
    last_slot = (rooms["end_ms"].to_numpy() - 1 - params.start_ms) // HOUR_MS
    n_slots = last_slot - first_slot + 1
    pair_room = np.repeat(np.arange(n_rooms), n_slots)
    pair_slot = first_slot[pair_room] + _gather_ranges(np.zeros(n_rooms, dtype=np.int64), n_slots)
    weight = anchor_popularity[anchor]
    total_slots = params.n_days * 24
    return {
        "room_by_slot_category": GroupedSampler.build(
            pair_slot * n_cat + category[pair_room], pair_room, weight[pair_room], total_slots * n_cat
        ),
        "room_by_slot": GroupedSampler.build(pair_slot, pair_room, weight[pair_room], total_slots),
        "room_any": GroupedSampler.build(np.zeros(n_rooms, dtype=np.int64), np.arange(n_rooms), weight, 1),
        "room_by_anchor": GroupedSampler.build(anchor, np.arange(n_rooms), np.ones(n_rooms), params.n_anchors),
        "room_by_slot_anchor": GroupedSampler.build(
            pair_slot * params.n_anchors + anchor[pair_room],
            pair_room,
            np.ones(pair_room.size),
            total_slots * params.n_anchors,
        ),
    }


def _surcharge_by_category(params: SimulationParams) -> np.ndarray:
    """Surcharge of the discriminated group in every category (all zeros when discrimination is off)."""
    names = np.asarray([c.name for c in CATEGORIES])
    on = np.isin(names, DISCRIMINATION_CATEGORIES) & params.discrimination
    return np.where(on, DISCRIMINATION_SURCHARGE, 0.0)


def _user_traits_table(params: SimulationParams, users: pd.DataFrame, latent: dict[str, np.ndarray]) -> pd.DataFrame:
    """Latent traits of human users as written to ``truth/user_traits.parquet``."""
    human = ~latent["is_bot"]
    anchor_ids = _format_ids("A", np.arange(1, params.n_anchors + 1), _id_width(params.n_anchors, 4))
    return pd.DataFrame(
        {
            "user_id": users["user_id"][human].reset_index(drop=True),
            "segment": pd.Series(np.asarray(SEGMENTS)[latent["segment"][human]], dtype="str"),
            "favourite_anchor_id": pd.Series(
                _take_strings(anchor_ids, latent["fav_anchor"][human]).to_pylist(), dtype="str"
            ),
            "favourite_category": pd.Series(
                np.asarray([c.name for c in CATEGORIES])[latent["fav_category"][human]], dtype="str"
            ),
            "peak_hour": np.round(latent["peak_hour"][human], 3),
            "activity": np.round(latent["activity"][human], 4),
            "language": pd.Series(np.asarray(LANGUAGES)[latent["language"][human]], dtype="str"),
            "payment_preference": pd.Series(np.asarray(PAYMENT_METHODS)[latent["payment"][human]], dtype="str"),
        }
    )


def _bot_plan(params: SimulationParams, is_bot: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Number of events and of stretches of every bot (zeros for humans)."""
    n_bots = int(is_bot.sum())
    expected_rows = expected_events_per_user_day(params.n_days) * params.n_days * (params.n_users - n_bots)
    budget = params.dirty_rates.get("bot_user", 0.0) * expected_rows if params.dirty else 0.0
    events = np.zeros(params.n_users, dtype=np.int64)
    stretches = np.zeros(params.n_users, dtype=np.int64)
    if budget <= 0:
        return events, stretches
    share = rng.dirichlet(np.full(n_bots, 4.0))
    events[is_bot] = np.maximum(np.round(budget * share).astype(np.int64), 20)
    stretches[is_bot] = np.clip(np.ceil(events[is_bot] / 1500), 1, params.n_days)
    return events, stretches


# ----------------------------------------------------------------------------------------------
# One block of users
# ----------------------------------------------------------------------------------------------

EVENT_COLUMNS: tuple[str, ...] = (
    "user",
    "ts",
    "ts_text",
    "etype",
    "item",
    "room",
    "price",
    "quantity",
    "order",
    "channel",
    "payment",
    "session",
)
"""Internal integer/float columns of a block's events (-1 / NaN = null)."""

Events = dict[str, np.ndarray]


@dataclass
class Counters:
    """Running global counters (rows, sessions, orders, comments) across blocks."""

    rows: int = 0
    sessions: int = 0
    orders: int = 0
    comments: int = 0


@dataclass
class BlockOutput:
    """Tables produced by one block, ready to append to the Parquet sinks."""

    events: pa.Table
    sessions: pa.Table
    comments: pa.Table
    comment_labels: pa.Table
    comment_pii: pa.Table
    dirty_rows: pd.DataFrame
    purchases: dict[str, np.ndarray]


def _take(events: Events, index: np.ndarray) -> Events:
    return {k: v[index] for k, v in events.items()}


def _concat(parts: list[Events]) -> Events:
    return {k: np.concatenate([p[k] for p in parts]) for k in EVENT_COLUMNS}


def draw_sessions(world: World, user: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Attributes of sessions of the given owners: segment, favourite-anchor flag and entry channel."""
    profile = _profile_arrays()
    seg = world.user_segment[user]
    fav_anchor = world.user_fav_anchor[user]
    anchor_ok = (fav_anchor >= 0) & (world.room_by_anchor.sizes[np.maximum(fav_anchor, 0)] > 0)
    favourite = (rng.random(user.size) < profile["favourite_anchor_share"][seg]) & anchor_ok
    channel = _choice_by_row(rng, profile["channel_weights"][seg])
    follow = favourite & (rng.random(user.size) < FOLLOW_CHANNEL_SHARE)
    channel = np.where(follow, CHANNELS.index("follow"), channel)
    return {"user": user, "segment": seg, "favourite": favourite, "channel": channel}


def allocate_browsing(world: World, users: np.ndarray, needed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Owners of ``needed[s]`` browsing sessions of every segment, drawn by user activity (multinomial)."""
    seg = world.user_segment[users]
    owners = []
    for s in np.flatnonzero(needed > 0):
        members = users[seg == s]
        if members.size == 0:
            continue
        weight = world.user_activity[members]
        counts = rng.multinomial(int(needed[s]), weight / weight.sum())
        owners.append(np.repeat(members, counts))
    return np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)


def draw_event_gaps(segments: np.ndarray, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gap (ms) before every event of every session: 0 for the first, else 1 s + Exp, capped at 10 min."""
    profile = _profile_arrays()
    offsets, owner = _split_runs(lengths)
    mean_ms = profile["gap_mean_seconds"][segments[owner]] * 1000.0
    gaps = np.minimum(MIN_EVENT_GAP_MS + np.round(rng.exponential(mean_ms)).astype(np.int64), MAX_EVENT_GAP_MS)
    gaps[offsets[lengths > 0]] = 0
    return gaps


def place_sessions(
    world: World,
    sessions: dict[str, np.ndarray],
    durations: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Room and start time (ms) of every session, inside a live broadcast where possible.

    Favourite-anchor sessions join a random broadcast of that anchor. The others pick a weekday-
    weighted day and an hour around the user's peak hour, then a room live in that hour (of the
    user's favourite category when one is live), weighted by anchor popularity.
    """
    params = world.params
    profile = _profile_arrays()
    n = sessions["user"].size
    user, seg = sessions["user"], sessions["segment"]
    weekday = (params.start.day_of_week + np.arange(params.n_days)) % 7
    day = _choice(rng, n, np.asarray(WEEKDAY_SESSION_WEIGHTS)[weekday])
    hour = np.floor(_circular_hours(world.user_peak_hour[user] + profile["hour_spread"][seg] * rng.standard_normal(n)))
    slot = (day * 24 + hour).astype(np.int64)
    n_cat = len(CATEGORIES)
    wants_category = rng.random(n) < FAVOURITE_CATEGORY_ROOM_SHARE
    by_category = world.room_by_slot_category.sample(
        np.where(wants_category, slot * n_cat + world.user_fav_category[user], -1), rng
    )
    by_slot = world.room_by_slot.sample(slot, rng)
    room = np.where(by_category >= 0, by_category, by_slot)
    in_slot = room >= 0
    anywhere = world.room_any.sample(np.zeros(n, dtype=np.int64), rng)
    favourite_room = world.room_by_anchor.sample(np.where(sessions["favourite"], world.user_fav_anchor[user], -1), rng)
    room = np.where(favourite_room >= 0, favourite_room, np.where(in_slot, room, anywhere))
    in_slot &= favourite_room < 0

    r_start, r_end = world.room_start[room], world.room_end[room]
    slot_start = params.start_ms + slot * HOUR_MS
    lo = np.where(in_slot, np.maximum(r_start, slot_start), r_start)
    hi = np.where(in_slot, np.minimum(r_end, slot_start + HOUR_MS), r_end)
    hi = np.where(in_slot, hi, np.maximum(lo, hi - durations))
    start = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
    overrun = start + durations > r_end
    start = np.where(overrun, np.maximum(r_start, r_end - durations), start)
    start = np.minimum(start, params.end_ms - 1000 - durations)
    start = np.maximum(start, params.start_ms)
    return room, start


def drop_overlapping_sessions(user: np.ndarray, start: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Order sessions by (user, start) and keep those at least :data:`MIN_SESSION_GAP_MINUTES` apart.

    A session that begins too soon after the previous kept session of the same user is dropped
    (greedy, earliest first), so a 30-minute inactivity rule separates every kept pair.

    Returns
    -------
    numpy.ndarray
        Indices of the kept sessions, in (user, start) order.
    """
    order = np.lexsort((start, user))
    u, s, e = user[order], start[order], start[order] + durations[order]
    keep = np.ones(order.size, dtype=bool)
    gap = MIN_SESSION_GAP_MINUTES * 60_000
    while True:
        idx = np.flatnonzero(keep)
        same = u[idx[1:]] == u[idx[:-1]]
        conflict = np.zeros(idx.size, dtype=bool)
        conflict[1:] = same & (s[idx[1:]] < e[idx[:-1]] + gap)
        if not conflict.any():
            return order[keep]
        settled_previous = np.zeros(idx.size, dtype=bool)
        settled_previous[1:] = ~conflict[:-1]
        keep[idx[conflict & settled_previous]] = False


def walk_conditioned(
    cumulative: np.ndarray,
    paying: np.ndarray,
    browsing: np.ndarray,
    q: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walks of the planted chains that reach ``pay`` (one per entry of ``paying``) and walks that do
    not (one per entry of ``browsing``), by rejection from unconditioned walks.

    Parameters
    ----------
    paying, browsing : ndarray of int
        Segment code of every walk wanted.
    q : ndarray
        Probability that a walk of each segment reaches ``pay``.

    Returns
    -------
    states, lengths : ndarray
        As :func:`walk_markov_chains`, paying walks first (in the order of ``paying``), then browsing.
    is_paying : ndarray of bool
        Per returned walk.
    """
    pay = SESSION_EVENT_TYPES.index("pay") + 1
    n_seg = q.size
    want = [np.bincount(paying, minlength=n_seg), np.bincount(browsing, minlength=n_seg)]
    pools: list[list[list[tuple[np.ndarray, np.ndarray]]]] = [[[] for _ in range(n_seg)] for _ in range(2)]
    have = [np.zeros(n_seg, dtype=np.int64), np.zeros(n_seg, dtype=np.int64)]
    while True:
        short = [np.maximum(want[k] - have[k], 0) for k in range(2)]
        if not (short[0].any() or short[1].any()):
            break
        batch = np.ceil(np.maximum(short[0] / q, short[1] / (1.0 - q)) * 1.1).astype(np.int64) + 8
        batch[(short[0] == 0) & (short[1] == 0)] = 0
        segs = np.repeat(np.arange(n_seg), batch)
        states, lengths = walk_markov_chains(cumulative, segs, rng)
        offsets, owner = _split_runs(lengths)
        pays = np.zeros(segs.size, dtype=bool)
        pays[owner[states == pay]] = True
        for s in range(n_seg):
            for k, mask in enumerate((pays, ~pays)):
                take = np.flatnonzero(mask & (segs == s))[: short[k][s]]
                if take.size:
                    pools[k][s].append((states[_gather_ranges(offsets[take], lengths[take])], lengths[take]))
                    have[k][s] += take.size
    parts_states, parts_lengths, flags = [], [], []
    for k, wanted in enumerate((paying, browsing)):
        if wanted.size == 0:
            continue
        seg_list = [s for s in range(n_seg) if pools[k][s]]
        all_states = np.concatenate([x for s in seg_list for x, _ in pools[k][s]])
        all_lengths = np.concatenate([y for s in seg_list for _, y in pools[k][s]])
        counts = np.zeros(n_seg, dtype=np.int64)
        counts[seg_list] = [sum(y.size for _, y in pools[k][s]) for s in seg_list]
        base = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # the i-th wanted walk of segment s is walk i of that segment's pool
        order = np.argsort(wanted, kind="stable")
        rank = np.empty(wanted.size, dtype=np.int64)
        rank[order] = np.arange(wanted.size) - np.searchsorted(wanted[order], wanted[order], side="left")
        walk = base[wanted] + rank
        all_offsets = _split_runs(all_lengths)[0]
        lengths = all_lengths[walk]
        parts_states.append(all_states[_gather_ranges(all_offsets[walk], lengths)])
        parts_lengths.append(lengths)
        flags.append(np.full(wanted.size, k == 0))
    if not parts_lengths:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    return np.concatenate(parts_states), np.concatenate(parts_lengths), np.concatenate(flags)


def _first_pay_offsets(states: np.ndarray, lengths: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Time (ms) from the start of every paying walk to its first ``pay`` event."""
    offsets, owner = _split_runs(lengths)
    cum = np.cumsum(gaps)
    since_start = cum - np.repeat(cum[offsets], lengths)
    first = np.full(lengths.size, np.iinfo(np.int64).max)
    pay_rows = np.flatnonzero(states == SESSION_EVENT_TYPES.index("pay") + 1)
    np.minimum.at(first, owner[pay_rows], since_start[pay_rows])
    return first


def _separate_in_time(user: np.ndarray, start: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Push sessions of one user later until each starts a full session gap after the previous one ends."""
    gap = MIN_SESSION_GAP_MINUTES * 60_000
    start = start.copy()
    order = np.lexsort((start, user))
    same = user[order][1:] == user[order][:-1]
    while True:
        ends = start[order] + durations[order]
        late = same & (start[order][1:] < ends[:-1] + gap)
        if not late.any():
            return start
        start[order[1:][late]] = ends[:-1][late] + gap


def _conflicts_with(
    fixed_user: np.ndarray,
    fixed_start: np.ndarray,
    fixed_end: np.ndarray,
    user: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    origin: int,
) -> np.ndarray:
    """Sessions (user, start, end) that come within a session gap of a fixed session of the same user.

    Fixed sessions must not overlap each other, so only the nearest fixed neighbours matter.
    """
    gap = MIN_SESSION_GAP_MINUTES * 60_000
    if fixed_user.size == 0:
        return np.zeros(user.size, dtype=bool)
    shift = np.int64(1) << np.int64(36)
    fixed_key = fixed_user.astype(np.int64) * shift + (fixed_start - origin)
    order = np.argsort(fixed_key, kind="stable")
    fixed_key, f_user, f_start, f_end = fixed_key[order], fixed_user[order], fixed_start[order], fixed_end[order]
    at = np.searchsorted(fixed_key, user.astype(np.int64) * shift + (start - origin), side="right")
    prev, nxt = np.maximum(at - 1, 0), np.minimum(at, fixed_key.size - 1)
    before = (at > 0) & (f_user[prev] == user) & (f_end[prev] + gap > start)
    after = (at < fixed_key.size) & (f_user[nxt] == user) & (end + gap > f_start[nxt])
    return before | after


PURCHASE_ROOM_SEARCH_HOURS: int = 12
"""A purchase planted in an hour without a live broadcast moves to the nearest hour with one (at most this far)."""


def _nearest_first(hours: int) -> list[int]:
    """Hour offsets 0, 1, -1, 2, -2, ... up to ``hours``."""
    return [0] + [step for offset in range(1, hours + 1) for step in (offset, -offset)]


def _purchase_rooms(
    world: World,
    user: np.ndarray,
    start: np.ndarray,
    durations: np.ndarray,
    favourite: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A live room for every purchase session, its start moved inside that broadcast, and whether the
    room is the favourite anchor's.

    A favourite-anchor purchase goes to that anchor's broadcast nearest in time (within
    :data:`PURCHASE_ROOM_SEARCH_HOURS`); otherwise the room is live in the hour of the planted purchase (of the user's favourite category when
    one is), else in the nearest hour with a broadcast. The session then starts at the planted time
    clipped to the broadcast, so most purchases keep their time and the rest move by a few hours.
    """
    params = world.params
    n_cat = len(CATEGORIES)
    n_slots = params.n_days * 24
    slot = (start - params.start_ms) // HOUR_MS
    wants = rng.random(user.size) < FAVOURITE_CATEGORY_ROOM_SHARE
    fav_anchor = np.maximum(world.user_fav_anchor[user], 0)
    anchor_room = np.full(user.size, -1, dtype=np.int64)
    for step in _nearest_first(PURCHASE_ROOM_SEARCH_HOURS):
        missing = favourite & (anchor_room < 0)
        if not missing.any():
            break
        near = slot + step
        ok = missing & (near >= 0) & (near < n_slots)
        found = world.room_by_slot_anchor.sample(np.where(ok, near * params.n_anchors + fav_anchor, -1), rng)
        anchor_room = np.where(ok, found, anchor_room)
    room = world.room_by_slot_category.sample(np.where(wants, slot * n_cat + world.user_fav_category[user], -1), rng)
    room = np.where(anchor_room >= 0, anchor_room, room)
    room = np.where(room >= 0, room, world.room_by_slot.sample(slot, rng))
    for step in _nearest_first(PURCHASE_ROOM_SEARCH_HOURS)[1:]:
        missing = room < 0
        if not missing.any():
            break
        near = slot + step
        ok = missing & (near >= 0) & (near < n_slots)
        room = np.where(ok, world.room_by_slot.sample(np.where(ok, near, -1), rng), room)
    room = np.where(room >= 0, room, world.room_any.sample(np.zeros(user.size, dtype=np.int64), rng))
    latest = np.maximum(world.room_start[room], world.room_end[room] - durations)
    return room, np.clip(start, world.room_start[room], latest), anchor_room >= 0


def plan_purchase_sessions(world: World, users: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Purchase sessions of the block's customers, timed by the planted BG/NBD process.

    Every purchase becomes a walk of the user's chain that reaches ``pay``, placed so that its first
    payment falls at the planted time (pushed later by at most a session when two purchases of one
    user come too close; dropped in the rare case the push leaves the period).
    """
    params = world.params
    customers = users[world.user_is_customer[users]]
    draws = draw_purchase_times(
        world.user_rate[customers],
        world.user_dropout[customers],
        world.user_first_day[customers],
        world.user_peak_hour[customers],
        params.n_days,
        rng,
    )
    user = customers[draws.customer]
    seg = world.user_segment[user]
    states, lengths, _ = walk_conditioned(
        world.cumulative_transitions, seg, np.zeros(0, dtype=np.int64), world.pay_probability, rng
    )
    gaps = draw_event_gaps(seg, lengths, rng)
    offsets, _ = _split_runs(lengths)
    durations = np.add.reduceat(gaps, offsets) if gaps.size else np.zeros(0, dtype=np.int64)
    pay_ms = params.start_ms + np.round(draws.day * DAY_MS).astype(np.int64)
    start = np.maximum(pay_ms - _first_pay_offsets(states, lengths, gaps), params.start_ms)
    sessions = draw_sessions(world, user, rng)
    room, start, at_favourite = _purchase_rooms(world, user, start, durations, sessions["favourite"], rng)
    sessions["favourite"] = at_favourite
    start = _separate_in_time(user, np.maximum(start, params.start_ms), durations)
    inside = start + durations <= params.end_ms - 1000
    keep = np.flatnonzero(inside)
    spend = rng.gamma(GAMMA_GAMMA_TRUTH["p"], 1.0 / world.user_spend_rate[user[keep]])
    return {
        **{k: v[keep] for k, v in sessions.items()},
        "states": states[_gather_ranges(offsets[keep], lengths[keep])],
        "lengths": lengths[keep],
        "gaps": gaps[_gather_ranges(offsets[keep], lengths[keep])],
        "start": start[keep],
        "durations": durations[keep],
        "room": room[keep],
        "spend": spend,
        "dropped_user": customers[np.isfinite(draws.dropout_day)],
        "dropout_ms": params.start_ms
        + np.round(draws.dropout_day[np.isfinite(draws.dropout_day)] * DAY_MS).astype(np.int64),
    }


def plan_browsing_sessions(
    world: World, users: np.ndarray, purchases: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Browsing sessions (walks that never pay) that keep each segment paying at its chain's rate.

    A segment with ``P`` purchase sessions gets ``P (1 - q) / q`` browsing sessions (randomly
    rounded), owned by its users in proportion to their activity and placed around their peak hours.
    Sessions that come too close to a kept session of the same user are dropped and replaced, up to
    a few rounds, so the count is met (almost always exactly).
    """
    params = world.params
    n_seg = len(SEGMENTS)
    q = world.pay_probability
    paying = np.bincount(purchases["segment"], minlength=n_seg)
    needed = random_round(expected_mixture_counts(paying, q), rng)
    fixed_user, fixed_start = purchases["user"], purchases["start"]
    fixed_end = purchases["start"] + purchases["durations"]
    parts: list[dict[str, np.ndarray]] = []
    for _ in range(8):
        if not needed.any():
            break
        owner = allocate_browsing(world, users, needed, rng)
        seg = world.user_segment[owner]
        states, lengths, _ = walk_conditioned(world.cumulative_transitions, np.zeros(0, dtype=np.int64), seg, q, rng)
        gaps = draw_event_gaps(seg, lengths, rng)
        offsets, _ = _split_runs(lengths)
        durations = np.add.reduceat(gaps, offsets) if gaps.size else np.zeros(0, dtype=np.int64)
        sessions = draw_sessions(world, owner, rng)
        room, start = place_sessions(world, sessions, durations, rng)
        clash = _conflicts_with(fixed_user, fixed_start, fixed_end, owner, start, start + durations, params.start_ms)
        candidates = np.flatnonzero(~clash)
        kept = candidates[drop_overlapping_sessions(owner[candidates], start[candidates], durations[candidates])]
        kept.sort()
        part = {k: v[kept] for k, v in sessions.items()}
        part.update(
            states=states[_gather_ranges(offsets[kept], lengths[kept])],
            lengths=lengths[kept],
            gaps=gaps[_gather_ranges(offsets[kept], lengths[kept])],
            start=start[kept],
            durations=durations[kept],
            room=room[kept],
            spend=np.full(kept.size, np.nan),
        )
        parts.append(part)
        needed = needed - np.bincount(seg[kept], minlength=n_seg)
        fixed_user = np.concatenate([fixed_user, owner[kept]])
        fixed_start = np.concatenate([fixed_start, start[kept]])
        fixed_end = np.concatenate([fixed_end, start[kept] + durations[kept]])
    return _concat_sessions(parts)


def _concat_sessions(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = (
        "user",
        "segment",
        "favourite",
        "channel",
        "states",
        "lengths",
        "gaps",
        "start",
        "durations",
        "room",
        "spend",
    )
    if not parts:
        empty = {k: np.zeros(0, dtype=np.int64) for k in keys}
        empty.update(states=np.zeros(0, dtype=np.int8), favourite=np.zeros(0, dtype=bool), spend=np.zeros(0))
        return empty
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def build_session_events(
    world: World, users: np.ndarray, rng: np.random.Generator
) -> tuple[Events, int, dict[str, np.ndarray]]:
    """All events of the human users of a block, sorted by (user, ts).

    Returns
    -------
    events : dict of numpy.ndarray
        Columns of :data:`EVENT_COLUMNS`; ``session`` is block-local (0..n_sessions-1) and
        ``order`` is block-local (0..n_orders-1).
    n_sessions : int
        Sessions kept.
    purchases : dict of numpy.ndarray
        ``user`` and ``ts`` (ms) of the first payment of every purchase session.
    """
    bought = plan_purchase_sessions(world, users, rng)
    browsing = plan_browsing_sessions(world, users, bought, rng)
    sessions = _concat_sessions([bought, browsing])
    order = np.lexsort((sessions["start"], sessions["user"]))
    offsets, _ = _split_runs(sessions["lengths"])
    event_index = _gather_ranges(offsets[order], sessions["lengths"][order])
    lengths = sessions["lengths"][order]
    new_offsets, owner = _split_runs(lengths)
    state = sessions["states"][event_index].astype(np.int64) - 1
    gap = sessions["gaps"][event_index]
    cum = np.cumsum(gap)
    ts = sessions["start"][order][owner] + cum - np.repeat(cum[new_offsets], lengths)
    seg = sessions["segment"][order][owner]
    n = state.size
    events: Events = {
        "user": sessions["user"][order][owner],
        "ts": ts,
        "ts_text": np.full(n, -1, dtype=np.int64),
        "etype": state,
        "item": np.full(n, -1, dtype=np.int64),
        "room": sessions["room"][order][owner],
        "price": np.full(n, np.nan),
        "quantity": np.full(n, np.nan),
        "order": np.full(n, -1, dtype=np.int64),
        "channel": sessions["channel"][order][owner],
        "payment": np.full(n, -1, dtype=np.int64),
        "session": owner.astype(np.int64),
    }
    spend = sessions["spend"][order]
    paid = assign_items(world, events, seg, new_offsets[owner], spend, rng)
    assign_orders(world, events, seg, paid, rng)
    first_pay = _first_pay_rows(events["etype"], owner)
    purchases = {
        "user": events["user"][first_pay],
        "ts": events["ts"][first_pay],
        "value": _session_values(events, owner)[owner[first_pay]],
        "dropped_user": bought["dropped_user"],
        "dropout_ms": bought["dropout_ms"],
    }
    return events, int(order.size), purchases


def _session_values(events: Events, session: np.ndarray) -> np.ndarray:
    """Sum of price x quantity over the ``pay`` events of every session."""
    pay = events["etype"] == SESSION_EVENT_TYPES.index("pay")
    value = np.where(pay, events["price"] * events["quantity"], 0.0)
    return np.bincount(session, weights=value, minlength=int(session.max()) + 1 if session.size else 0)


def _first_pay_rows(etype: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Row of the first ``pay`` event of every session that has one."""
    pay_rows = np.flatnonzero(etype == SESSION_EVENT_TYPES.index("pay"))
    first = np.ones(pay_rows.size, dtype=bool)
    first[1:] = session[pay_rows[1:]] != session[pay_rows[:-1]]
    return pay_rows[first]


def assign_items(
    world: World,
    events: Events,
    segments: np.ndarray,
    session_first_row: np.ndarray,
    session_spend: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Set ``item`` on item events: ``view_item`` picks an item, later item events reuse the last one viewed.

    A viewed item comes from the room's category (:data:`ROOM_CATEGORY_SHARE`) or the user's favourite
    category, drawn by Zipf popularity tilted by the segment's price preference. ``pay`` always
    refers to the item of the ``order`` just before it. In a purchase session the item viewed before
    each paid order is the one of its category whose price fits that order's share of the session's
    planted spend (:func:`price_paid_orders` then sets the prices).

    Returns
    -------
    numpy.ndarray of bool
        Rows of paid orders already priced.
    """
    etype = events["etype"]
    item_codes = np.asarray([SESSION_EVENT_TYPES.index(t) for t in ITEM_EVENT_TYPES])
    is_item = np.isin(etype, item_codes)
    rows = np.flatnonzero(is_item)
    n_cat = len(CATEGORIES)
    room_cat = world.room_category[events["room"][rows]]
    fav_cat = world.user_fav_category[events["user"][rows]]
    category = np.where(rng.random(rows.size) < ROOM_CATEGORY_SHARE, room_cat, fav_cat)
    candidate = np.full(etype.size, -1, dtype=np.int64)
    candidate[rows] = world.item_sampler.sample(segments[rows] * n_cat + category, rng)
    row_category = np.full(etype.size, -1, dtype=np.int64)
    row_category[rows] = category
    view = etype == SESSION_EVENT_TYPES.index("view_item")
    last_view = np.maximum.accumulate(np.where(view, np.arange(etype.size), -1))
    has_view = last_view >= session_first_row
    source = np.where(has_view, last_view, np.arange(etype.size))
    paid = _paid_order_rows(etype, events["session"])
    plan = _plan_paid_orders(
        world, events, segments, paid, candidate[source[paid]], row_category[source[paid]], session_spend, rng
    )
    candidate[source[paid]] = plan["item"]
    item = np.where(has_view, candidate[np.maximum(last_view, 0)], candidate)
    item = np.where(is_item, item, -1)
    pay = np.flatnonzero(etype == SESSION_EVENT_TYPES.index("pay"))
    item[pay] = item[pay - 1]
    events["item"] = item
    price_paid_orders(world, events, paid, plan)
    done = np.zeros(etype.size, dtype=bool)
    done[paid] = True
    return done


def _paid_order_rows(etype: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Rows of ``order`` events directly followed by a ``pay`` of the same session."""
    order = np.flatnonzero(etype[:-1] == SESSION_EVENT_TYPES.index("order"))
    followed = (etype[order + 1] == SESSION_EVENT_TYPES.index("pay")) & (session[order + 1] == session[order])
    return order[followed]


FIT_EXTRA_DISCOUNT: float = 0.35
"""A viewed item is bought at the planted budget if that takes at most this much discount beyond the plan."""


def _plan_paid_orders(
    world: World,
    events: Events,
    segments: np.ndarray,
    paid: np.ndarray,
    viewed: np.ndarray,
    category: np.ndarray,
    session_spend: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Budget, quantity and item of every paid order of a purchase session.

    The session's planted spend is split over its paid orders (uniform Dirichlet shares). The item
    viewed before the order is bought when its budget fits it: with the fewest units at which the
    planned discount is enough, the discount that makes the order cost exactly its budget is at most
    :data:`FIT_EXTRA_DISCOUNT` deeper than planned (a live-room price). Otherwise an item of the same
    category priced near the budget is bought instead (:func:`match_items_to_budget`).
    """
    profile = _profile_arrays()
    session = events["session"][paid]
    groups, inverse = np.unique(session, return_inverse=True)
    budget = split_spend(session_spend[groups], inverse, rng)
    seg = segments[paid]
    discounted = rng.random(paid.size) < profile["discount_probability"][seg]
    level = profile["discount_levels"][seg, rng.integers(0, profile["discount_levels"].shape[1], size=paid.size)]
    discount = np.where(discounted, level, 0.0)
    group = world.user_device[events["user"][paid]] == DEVICES.index(DISCRIMINATION_GROUP_VALUE)
    surcharge = np.where(group, world.surcharge_by_category[category], 0.0)
    unit_factor = (1.0 - discount) * (1.0 + surcharge)
    fit_quantity = np.maximum(1.0, np.ceil(budget / (world.item_price[viewed] * unit_factor)))
    fit_discount = 1.0 - budget / (fit_quantity * world.item_price[viewed] * (1.0 + surcharge))
    keeps = fit_discount <= discount + FIT_EXTRA_DISCOUNT
    quantity = 1.0 + rng.poisson(profile["extra_quantity_mean"][seg]).astype(np.float64)
    dearest = np.zeros(len(CATEGORIES))
    np.maximum.at(dearest, world.item_category, world.item_price)
    quantity = np.maximum(quantity, np.ceil(budget / (unit_factor * dearest[category])))
    matched = match_items_to_budget(
        budget / (quantity * unit_factor), category, world.item_category, world.item_price, world.item_popularity, rng
    )
    return {
        "item": np.where(keeps, viewed, matched),
        "budget": budget,
        "quantity": np.where(keeps, fit_quantity, quantity),
        "in_group": group,
    }


def price_paid_orders(world: World, events: Events, paid: np.ndarray, plan: dict[str, np.ndarray]) -> None:
    """Prices of paid orders: ``list price * (1 - discount) * (1 + surcharge)`` with the discount that
    makes the order cost its planted budget (clipped to ``[0, MAX_DISCOUNT]``, rounded to cents)."""
    item = events["item"][paid]
    surcharge = np.where(plan["in_group"], world.surcharge_by_category[world.item_category[item]], 0.0)
    list_price = world.item_price[item]
    discount = realised_discount(plan["budget"] / plan["quantity"], list_price, surcharge)
    events["price"][paid] = np.round(list_price * (1.0 - discount) * (1.0 + surcharge), 2)
    events["quantity"][paid] = plan["quantity"]


def assign_orders(
    world: World, events: Events, segments: np.ndarray, priced: np.ndarray, rng: np.random.Generator
) -> None:
    """Order ids, paid unit prices, quantities and payment methods on ``order`` and ``pay`` events.

    Orders not yet ``priced`` (those never paid) get list price x (1 - discount) x (1 + surcharge),
    rounded to cents; the discount follows the segment's profile, the surcharge the planted
    discrimination rule. ``pay`` rows copy their order.
    """
    etype = events["etype"]
    profile = _profile_arrays()
    orders = np.flatnonzero(etype == SESSION_EVENT_TYPES.index("order"))
    open_orders = orders[~priced[orders]]
    seg = segments[open_orders]
    item = events["item"][open_orders]
    discounted = rng.random(open_orders.size) < profile["discount_probability"][seg]
    level = profile["discount_levels"][seg, rng.integers(0, profile["discount_levels"].shape[1], size=open_orders.size)]
    discount = np.where(discounted, level, 0.0)
    group = world.user_device[events["user"][open_orders]] == DEVICES.index(DISCRIMINATION_GROUP_VALUE)
    surcharge = np.where(group, world.surcharge_by_category[world.item_category[item]], 0.0)
    price = np.round(world.item_price[item] * (1.0 - discount) * (1.0 + surcharge), 2)
    quantity = 1.0 + rng.poisson(profile["extra_quantity_mean"][seg]).astype(np.float64)
    events["order"][orders] = np.arange(orders.size)
    events["price"][open_orders] = price
    events["quantity"][open_orders] = quantity
    pays = np.flatnonzero(etype == SESSION_EVENT_TYPES.index("pay"))
    for column in ("order", "price", "quantity"):
        events[column][pays] = events[column][pays - 1]
    preferred = world.user_payment[events["user"][pays]]
    other = _choice(rng, pays.size, PAYMENT_WEIGHTS)
    events["payment"][pays] = np.where(rng.random(pays.size) < 0.9, preferred, other)


def build_bot_events(world: World, bots: np.ndarray, rng: np.random.Generator) -> Events:
    """Events of bot users: stretches of 5-20 events per second inside a live room, one stretch a day."""
    params = world.params
    n_stretch = world.bot_stretches[bots]
    bot = np.repeat(bots, n_stretch)
    if bot.size == 0:
        return {k: np.zeros(0, dtype=np.float64 if k in ("price", "quantity") else np.int64) for k in EVENT_COLUMNS}
    keys = rng.random((bots.size, params.n_days))
    days = np.argsort(keys, axis=1)
    day = days[
        np.repeat(np.arange(bots.size), n_stretch), _gather_ranges(np.zeros(bots.size, dtype=np.int64), n_stretch)
    ]
    per_stretch = np.repeat(world.bot_events[bots] // n_stretch, n_stretch)
    slot = day * 24 + rng.integers(19, 23, size=bot.size)
    room = world.room_by_slot.sample(slot, rng)
    room = np.where(room >= 0, room, world.room_any.sample(np.zeros(bot.size, dtype=np.int64), rng))
    rate = rng.uniform(5.0, 20.0, size=bot.size)
    offsets, owner = _split_runs(per_stretch)
    gaps = np.maximum(1, np.round(rng.exponential(1000.0 / rate[owner]))).astype(np.int64)
    gaps[offsets] = 0
    cum = np.cumsum(gaps)
    start = np.maximum(world.room_start[room], params.start_ms + slot * HOUR_MS)
    span = cum[offsets + per_stretch - 1] - cum[offsets]
    start = np.maximum(np.minimum(start, params.end_ms - 1000 - span), params.start_ms + day * DAY_MS)
    ts = start[owner] + cum - np.repeat(cum[offsets], per_stretch)
    n = ts.size
    etype = np.asarray([SESSION_EVENT_TYPES.index(t) for t in BOT_EVENT_TYPES])[_choice(rng, n, BOT_EVENT_WEIGHTS)]
    item = np.where(
        etype == SESSION_EVENT_TYPES.index("view_item"),
        world.popular_item_sampler.sample(np.zeros(n, dtype=np.int64), rng),
        -1,
    )
    return {
        "user": bot[owner],
        "ts": ts,
        "ts_text": np.full(n, -1, dtype=np.int64),
        "etype": etype,
        "item": item,
        "room": room[owner],
        "price": np.full(n, np.nan),
        "quantity": np.full(n, np.nan),
        "order": np.full(n, -1, dtype=np.int64),
        "channel": np.full(n, CHANNELS.index("direct"), dtype=np.int64),
        "payment": np.full(n, -1, dtype=np.int64),
        "session": np.full(n, -1, dtype=np.int64),
    }


def inject_dirty_rows(
    events: Events,
    is_bot_row: np.ndarray,
    rates: Mapping[str, float],
    rng: np.random.Generator,
) -> tuple[Events, np.ndarray]:
    """Add dirty copies of clean human rows right after their source rows.

    Every copy differs from its source in one way (an exact ``duplicate``, a null user id, an
    unparseable or out-of-range timestamp, a negative price on an order/pay row, an unknown event
    type). Sources are distinct clean rows, and corrupted copies that happen to coincide are
    dropped, so the only exact duplicates in the output are the planted ``duplicate`` rows.

    Returns
    -------
    events : dict of numpy.ndarray
        The rows with the copies inserted.
    kind : numpy.ndarray of int
        Dirty kind (index into :data:`DIRTY_KINDS`) of every row, -1 for clean rows.
    """
    n = events["user"].size
    human = np.flatnonzero(~is_bot_row)
    priced = np.flatnonzero(
        ~is_bot_row & np.isin(events["etype"], [SESSION_EVENT_TYPES.index(t) for t in ("order", "pay")])
    )
    counts = {k: max(1, round(rates.get(k, 0.0) * human.size)) if rates.get(k, 0.0) > 0 else 0 for k in DIRTY_KINDS}
    counts["bot_user"] = 0
    counts["negative_price"] = min(counts["negative_price"], priced.size // 5)
    negative = (
        rng.choice(priced, size=counts["negative_price"], replace=False) if counts["negative_price"] else priced[:0]
    )
    available = np.setdiff1d(human, negative, assume_unique=True)
    others = [k for k in DIRTY_KINDS if k not in ("negative_price", "bot_user")]
    wanted = min(sum(counts[k] for k in others), available.size // 2)
    pool = rng.choice(available, size=wanted, replace=False)
    sources: dict[str, np.ndarray] = {"negative_price": negative}
    at = 0
    for kind in others:
        take = min(counts[kind], pool.size - at)
        sources[kind] = pool[at : at + take]
        at += take

    copies: list[Events] = []
    kinds: list[np.ndarray] = []
    for kind, rows in sources.items():
        copy = _take(events, rows)
        _corrupt(copy, kind, rng)
        copy["session"] = np.full(rows.size, -1, dtype=np.int64)
        copy["source"] = rows
        copies.append(copy)
        kinds.append(np.full(rows.size, DIRTY_KINDS.index(kind)))
    base_kind = np.where(is_bot_row, DIRTY_KINDS.index("bot_user"), -1)
    added = {k: np.concatenate([c[k] for c in copies]) for k in (*EVENT_COLUMNS, "source")}
    added_kind = np.concatenate(kinds)
    # Two corrupted copies can coincide (e.g. two likes of one session given the same garbage
    # timestamp); keep one, so that the only exact duplicates are the planted ones.
    content = pd.DataFrame({k: added[k] for k in EVENT_COLUMNS if k != "session"})
    unique = ~content.duplicated(keep="first").to_numpy()
    source = added.pop("source")[unique]
    added = {k: v[unique] for k, v in added.items()}
    merged = _concat([events, added])
    position = np.concatenate([2 * np.arange(n), 2 * source + 1])
    order = np.argsort(position, kind="stable")
    kind = np.concatenate([base_kind, added_kind[unique]])[order]
    return _take(merged, order), kind


def _corrupt(copy: Events, kind: str, rng: np.random.Generator) -> None:
    """Apply one dirty ``kind`` to copied rows in place (``duplicate`` leaves them exact)."""
    n = copy["user"].size
    if kind == "null_id":
        copy["user"] = np.full(n, -1, dtype=np.int64)
    elif kind == "unparseable_ts":
        copy["ts_text"] = rng.integers(0, len(UNPARSEABLE_TIMESTAMPS), size=n)
    elif kind == "ts_out_of_range":
        epoch = copy["ts"] % DAY_MS
        future = copy["ts"] + rng.integers(3, 30, size=n) * 365 * DAY_MS
        copy["ts"] = np.where(rng.random(n) < 0.5, epoch, future)
    elif kind == "negative_price":
        copy["price"] = -copy["price"]
    elif kind == "unknown_event_type":
        copy["etype"] = len(SESSION_EVENT_TYPES) + rng.integers(0, len(UNKNOWN_EVENT_TYPES), size=n)


def compose_comments(
    world: World,
    users: np.ndarray,
    rooms: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Bullet-screen comment texts with truthful sentiment labels, and planted PII in a few.

    Returns
    -------
    dict
        ``text`` (Arrow string array), ``lang``, ``label`` (codes), ``pii_rows`` (positions of PII
        comments), ``pii_kind`` (codes) and ``pii_value`` (Arrow string array).
    """
    n = users.size
    seg = np.maximum(world.user_segment[users], 0)
    lang = np.where(rng.random(n) < OWN_LANGUAGE_SHARE, world.user_language[users], 1 - world.user_language[users])
    label = _choice_by_row(rng, _profile_arrays()["sentiment_weights"][seg])
    text = _template_texts(lang, label, world.room_category[rooms], rng)
    pii_rows = np.flatnonzero(rng.random(n) < PII_COMMENT_SHARE)
    pii_kind = rng.integers(0, len(PII_KINDS), size=pii_rows.size)
    pii_value = _pii_values(pii_kind, rng)
    if pii_rows.size:
        text = _plant_pii(text, lang, pii_rows, pii_kind, pii_value)
        label[pii_rows] = SENTIMENT_LABELS.index("neutral")
    return {
        "text": text,
        "lang": lang,
        "label": label,
        "pii_rows": pii_rows,
        "pii_kind": pii_kind,
        "pii_value": pii_value,
    }


def _template_texts(lang: np.ndarray, label: np.ndarray, category: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Texts from the (language, label) template pool, item word filled in, with emoji and "!!"."""
    n = lang.size
    pools = [(lng, lab) for lng in LANGUAGES for lab in SENTIMENT_LABELS]
    templates = [(g, t) for g, key in enumerate(pools) for t in COMMENT_TEMPLATES[key]]
    pool_of = np.asarray([g for g, _ in templates])
    heads = np.asarray([t.partition("{item}")[0] for _, t in templates], dtype=object)
    tails = np.asarray([t.partition("{item}")[2] for _, t in templates], dtype=object)
    has_slot = np.asarray(["{item}" in t for _, t in templates])
    sampler = GroupedSampler.build(pool_of, np.arange(pool_of.size), np.ones(pool_of.size), len(pools))
    chosen = sampler.sample(lang * len(SENTIMENT_LABELS) + label, rng)
    words = np.asarray([[c.item_zh for c in CATEGORIES], [c.item_en for c in CATEGORIES]], dtype=object)
    word = np.where(has_slot[chosen], words[lang, category], "")
    decoration, with_emoji = _emoji_decoration(label, rng)
    bang = np.where(
        (label != SENTIMENT_LABELS.index("neutral")) & (rng.random(n) < 0.2), np.where(lang == 0, "！！", "!!"), ""
    )
    separator = np.where(with_emoji & (lang == 1), " ", "")
    parts = (heads[chosen], word, tails[chosen], bang, separator)
    return pc.binary_join_element_wise(*(pa.array(p, type=pa.string()) for p in parts), decoration, "")


def _emoji_decoration(label: np.ndarray, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    """One to three copies of an emoji of the label's mood for :data:`EMOJI_SHARE` of comments."""
    n = label.size
    pool = np.asarray([e for lab in SENTIMENT_LABELS for e in COMMENT_EMOJI[lab]], dtype=object)
    mood = np.asarray([i for i, lab in enumerate(SENTIMENT_LABELS) for _ in COMMENT_EMOJI[lab]])
    sampler = GroupedSampler.build(mood, np.arange(mood.size), np.ones(mood.size), len(SENTIMENT_LABELS))
    picked = sampler.sample(label, rng)
    repeats = rng.integers(1, 4, size=n)
    with_emoji = rng.random(n) < EMOJI_SHARE
    repeated = pc.binary_repeat(pa.array(pool[picked], type=pa.string()), pa.array(repeats))
    return pc.if_else(pa.array(with_emoji), repeated, ""), with_emoji


def _plant_pii(text: pa.Array, lang: np.ndarray, rows: np.ndarray, kind: np.ndarray, value: pa.Array) -> pa.Array:
    """Replace the texts at ``rows`` by a PII template of the comment's language holding ``value``."""
    keys = [(lng, k) for lng in LANGUAGES for k in PII_KINDS]
    which = lang[rows] * len(PII_KINDS) + kind
    head = np.asarray([PII_TEMPLATES[k][0] for k in keys], dtype=object)[which]
    tail = np.asarray([PII_TEMPLATES[k][1] for k in keys], dtype=object)[which]
    pii_text = pc.binary_join_element_wise(
        pa.array(head, type=pa.string()), value, pa.array(tail, type=pa.string()), ""
    )
    replacement = np.full(lang.size, -1, dtype=np.int64)
    replacement[rows] = np.arange(rows.size)
    return pc.if_else(pa.array(replacement >= 0), _take_strings(pii_text, replacement), text)


def _pii_values(kind: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Random personal values: phone numbers, emails, WeChat ids and QQ numbers."""
    n = kind.size
    phone = pd.Series(rng.integers(13_000_000_000, 20_000_000_000, size=n)).astype("str")
    qq = pd.Series(rng.integers(1_000_000_000, 4_000_000_000, size=n)).astype("str")
    stem = _random_words(rng, n, 6)
    digits = pd.Series(rng.integers(1000, 10_000, size=n)).astype("str")
    domain = pd.Series(np.asarray(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), size=n)]).astype(
        "str"
    )
    email = stem + digits + "@" + domain
    wechat = "wx_" + stem + digits
    values = np.select(
        [kind == PII_KINDS.index("phone"), kind == PII_KINDS.index("email"), kind == PII_KINDS.index("wechat")],
        [phone.to_numpy(dtype=object), email.to_numpy(dtype=object), wechat.to_numpy(dtype=object)],
        qq.to_numpy(dtype=object),
    )
    return pa.array(values, type=pa.string())


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


def _check_int(name: str, value: Any, minimum: int, function: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"The '{name}' parameter of {function} must be an int >= {minimum}. Got {value!r} instead.")


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
) -> SimulationParams:
    """Validate the arguments of :func:`simulate` and fill derived defaults.

    Raises
    ------
    ValueError
        Naming the parameter, what was expected and what was given.
    """
    _check_int("n_users", n_users, 50, "simulate")
    _check_int("n_days", n_days, 1, "simulate")
    _check_int("seed", seed, 0, "simulate")
    _check_int("chunk_events", chunk_events, 1000, "simulate")
    for name, value in (("discrimination", discrimination), ("dirty", dirty)):
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
    if n_items is None:
        n_items = max(200, n_users // 4)
    if n_anchors is None:
        n_anchors = max(20, n_users // 40)
    _check_int("n_items", n_items, 20, "simulate")
    _check_int("n_anchors", n_anchors, 5, "simulate")
    rates = dict(DEFAULT_DIRTY_RATES)
    if dirty_rates is not None:
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
) -> Path:
    """Simulate a live-streaming-commerce platform and write a canonical dataset with planted truth.

    Parameters
    ----------
    out_dir : str or Path
        Dataset folder to write (created; existing files of the same names are replaced).
    n_users : int, default 3000
        Users, bots included (>= 50). :func:`users_for_events` converts a target number of events.
    n_days : int, default 28
        Simulated days, starting at ``start`` 00:00 UTC.
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
        n_users, n_days, seed, start, discrimination, dirty, chunk_events, n_items, n_anchors, dirty_rates
    )
    out = Path(out_dir)
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    world_seed, blocks_seed = np.random.SeedSequence(params.seed).spawn(2)
    world, tables = build_world(params, np.random.default_rng(world_seed))
    for name in ("users", "items", "rooms"):
        _write_frame(tables[name], out / f"{name}.parquet")

    n_blocks = math.ceil(params.n_users / USERS_PER_BLOCK)
    block_seeds = blocks_seed.spawn(n_blocks)
    sinks = {
        "events": ParquetSink(out / "events.parquet", EVENTS_SCHEMA, params.chunk_events),
        "comments": ParquetSink(out / "comments.parquet", COMMENTS_SCHEMA, params.chunk_events),
        "sessions": ParquetSink(truth / "sessions.parquet", SESSIONS_SCHEMA, params.chunk_events),
        "comment_labels": ParquetSink(truth / "comment_labels.parquet", LABELS_SCHEMA, params.chunk_events),
        "comment_pii": ParquetSink(truth / "comment_pii.parquet", PII_SCHEMA, params.chunk_events),
    }
    counters = Counters()
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
    finally:
        for sink in sinks.values():
            sink.close()

    dirty_rows = pd.concat(dirty_parts, ignore_index=True)
    _write_truth(truth, params, world, tables, dirty_rows, pii_values)
    _write_customer_truth(truth, params, world, tables["users"], purchase_parts)
    _write_dataset_meta(out, params, counters)
    return out


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
        "baseline_discounts": {
            s: {
                "probability": SEGMENT_PROFILES[s].discount_probability,
                "levels": list(SEGMENT_PROFILES[s].discount_levels),
                "level_choice": "uniform",
            }
            for s in SEGMENTS
        },
    }


def _write_dataset_meta(out: Path, params: SimulationParams, counters: Counters) -> None:
    end = params.start + pd.Timedelta(days=params.n_days)
    meta = {
        "name": f"lsc_simulated_seed{params.seed}",
        "source": "simulated",
        "licence": "CC0-1.0 (synthetic data generated by lsc_utils.simulate)",
        "timezone": "UTC",
        "tables": ["users", "items", "rooms", "events", "comments"],
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
