"""Vocabularies and planted parameters of the simulator: segments, categories, chains' base weights, comment templates."""

from __future__ import annotations

from dataclasses import dataclass

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

BOT_EVENTS_PER_SECOND: tuple[float, float] = (5.0, 20.0)
"""Range of the rate of a bot stretch (uniform per stretch; gaps are exponential around it)."""
BOT_MIN_EVENTS: int = int(60 * BOT_EVENTS_PER_SECOND[0])
"""Fewest events of a planted bot (300): one minute at the slowest bot rate, 60 s x 5 events/s.

The bots' events are a share of the ``bot_user`` row budget, which is tiny in small simulations
(300 users x 7 days: 76 events for the one bot; 50 x 1: 8, formerly raised to 20). A burst of 20-76
events lasting a few seconds is no bot by a per-minute rule: one human in real logs with batched
timestamps reaches 30-46 events a minute (an Online Retail invoice, a MovieLens rating session).
With this floor every stretch, which holds at least ``min(events, 750)`` events, fills a whole
minute at any planted rate, so a bot's busiest minute holds about 300 events at every simulation
size: 20 times what simulated humans reach (8-14) and 5 times the cleaning default (60). Budgets
above the floor, among them both bots of the default sample (842 and 1,026 events), are unchanged."""

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
"""Dirty rows of each kind as a share of the clean event rows (bots: share of all rows, approximately;
every bot has at least :data:`BOT_MIN_EVENTS`, so small simulations carry a larger bot share)."""

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
DISCRIMINATION_CATEGORIES: tuple[str, ...] = ("beauty", "food", "books")
DISCRIMINATION_SURCHARGE: float = 0.08
"""Planted price discrimination: iOS users pay 8 % more in three categories."""

DISCRIMINATION_CHEAPER_TILT: float = -1.0
"""The surcharged group buys cheaper items (with or without the surcharge): its favourite category is
drawn with this extra price tilt (category share x (median price / median of medians) ** tilt), so it
favours food, books and pets. Within a category it buys and is priced like everyone else, so its naive
mean price is lower although it pays more for the same item (Simpson's paradox)."""

UNDERSERVED_GROUP_COLUMN: str = "city_tier"
UNDERSERVED_GROUP_VALUE: int = 5
UNDERSERVED_EXPLORE_SHARE: float = 0.5
"""Planted under-served group: users of tier-5 cities view an item drawn uniformly from the whole
catalogue (neither their favourite category nor popularity) at this share of item views, so no
recommender can serve them as well as the rest (their histories predict their next items worse)."""


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
