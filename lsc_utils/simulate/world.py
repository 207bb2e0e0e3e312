"""The simulated world shared by all user blocks: parameters, catalogue, anchors, rooms, users and samplers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.simulate.chains import build_transition_matrices, expected_events_per_user_day
from lsc_utils.simulate.customer_base import (
    draw_customer_latents,
    purchase_probabilities,
)
from lsc_utils.simulate.helpers import (
    GroupedSampler,
    _choice,
    _choice_by_row,
    _circular_hours,
    _format_ids,
    _gather_ranges,
    _hex_tokens,
    _hour_affinity,
    _id_width,
    _take_strings,
    _unique_random_ints,
)
from lsc_utils.simulate.vocab import (
    ACTIVITY_SIGMA,
    ANCHOR_NICKNAMES,
    ANCHOR_START_HOURS,
    ANCHOR_START_WEIGHTS,
    BOT_MIN_EVENTS,
    CATEGORIES,
    DAY_MS,
    DEVICE_WEIGHTS,
    DEVICES,
    DISCRIMINATION_CATEGORIES,
    DISCRIMINATION_CHEAPER_TILT,
    DISCRIMINATION_GROUP_VALUE,
    DISCRIMINATION_SURCHARGE,
    EMAIL_DOMAINS,
    ENGLISH_USER_SHARE,
    FAMILY_NAMES,
    GENERIC_TAGS,
    GIVEN_NAMES_EN,
    GIVEN_NAMES_ZH,
    HOUR_MS,
    LANGUAGES,
    MARKOV_STATES,
    MEMBER_LEVELS,
    PAYMENT_METHODS,
    PAYMENT_WEIGHTS,
    REGION_WEIGHTS,
    REGIONS,
    SEGMENT_PROFILES,
    SEGMENTS,
    TITLE_PATTERNS,
    WEEKDAY_LIVE_FACTORS,
)


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
    showcase_rooms: int = 0
    demand_study: bool = False
    campaign: bool = False

    @property
    def start_ms(self) -> int:
        return int(self.start.value // 1_000_000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.n_days * DAY_MS

    def to_meta(self) -> dict[str, Any]:
        return (
            {
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
            | ({"showcase_rooms": self.showcase_rooms} if self.showcase_rooms else {})
            | ({"demand_study": True} if self.demand_study else {})
            | ({"campaign": True} if self.campaign else {})
        )


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
    user_city_tier: np.ndarray
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
        Segment (-1 for bots), device, city tier, activity, peak hour, favourite category and anchor,
        language, payment preference, bot flag.
    canaries : pandas.DataFrame
        ``user_id, token, name, phone, email`` of every user.
    """
    n = params.n_users
    is_bot, segment = _draw_segments(params, rng)
    seg = np.maximum(segment, 0)
    profile = _profile_arrays()
    demographics = _draw_demographics(params, segment, seg, is_bot, profile, rng)
    fav_category = _draw_favourite_categories(seg, profile, rng)
    fav_category = _cheaper_favourites(fav_category, demographics["device"], seg, profile, rng.spawn(1)[0])
    fav_anchor = _favourite_anchors(anchors, anchor_has_rooms, seg, fav_category, rng)
    users, canaries = _users_table(n, demographics, rng)
    latent = {
        "segment": segment,
        "is_bot": is_bot,
        "device": demographics["device"],
        "city_tier": demographics["tier"],
        "activity": rng.lognormal(-0.5 * ACTIVITY_SIGMA**2, ACTIVITY_SIGMA, size=n),
        "peak_hour": _circular_hours(profile["peak_hour"][seg] + rng.normal(0.0, 0.75, size=n)),
        "fav_category": fav_category,
        "fav_anchor": fav_anchor,
        "language": demographics["language"],
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


def _draw_segments(params: SimulationParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw which users are bots, then every user's segment.

    Returns
    -------
    is_bot : numpy.ndarray of bool
        True for the planted bots (none without ``dirty`` or with a zero ``bot_user`` rate).
    segment : numpy.ndarray of int
        Index into :data:`SEGMENTS` drawn by segment share, -1 for bots.
    """
    n = params.n_users
    n_bots = _bot_count(n) if params.dirty and params.dirty_rates["bot_user"] > 0 else 0
    is_bot = np.zeros(n, dtype=bool)
    is_bot[rng.choice(n, size=n_bots, replace=False)] = True
    shares = np.array([SEGMENT_PROFILES[s].share for s in SEGMENTS])
    segment = _choice(rng, n, shares)
    segment[is_bot] = -1
    return is_bot, segment


def _draw_demographics(
    params: SimulationParams,
    segment: np.ndarray,
    seg: np.ndarray,
    is_bot: np.ndarray,
    profile: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Draw gender, age, city tier, device, member level, signup time and language of every user.

    Parameters
    ----------
    params : SimulationParams
        Simulation parameters (number of users, start).
    segment : numpy.ndarray of int
        Segment per user, -1 for bots (big spenders live in bigger cities).
    seg : numpy.ndarray of int
        ``segment`` with bots mapped to segment 0, to index profile arrays.
    is_bot : numpy.ndarray of bool
        Bots, which all use the web device.
    profile : dict of numpy.ndarray
        Segment profile arrays (:func:`_profile_arrays`).
    rng : numpy.random.Generator
        Random source, drawn from in a fixed order.

    Returns
    -------
    dict of numpy.ndarray
        ``gender`` labels, ``age`` and ``age_missing``, ``tier`` (1-5), ``device`` and ``member``
        codes, ``signup_ms`` and ``language`` (1 = English).
    """
    n = params.n_users
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
    return {
        "gender": gender,
        "age": age,
        "age_missing": age_missing,
        "tier": tier,
        "device": device,
        "member": member,
        "signup_ms": signup_ms,
        "language": language,
    }


def _draw_favourite_categories(
    seg: np.ndarray, profile: dict[str, np.ndarray], rng: np.random.Generator, extra_tilt: float = 0.0
) -> np.ndarray:
    """Draw each user's favourite category: category share tilted towards dearer ones by segment.

    Returns
    -------
    numpy.ndarray of int
        Index into :data:`CATEGORIES` per user.
    """
    medians = np.array([c.median_price for c in CATEGORIES])
    cat_weights = np.array([c.share for c in CATEGORIES])[None, :] * (medians[None, :] / np.median(medians)) ** (
        profile["category_tilt"][seg][:, None] + extra_tilt
    )
    return _choice_by_row(rng, cat_weights / cat_weights.sum(axis=1, keepdims=True))


def _cheaper_favourites(
    fav_category: np.ndarray,
    device: np.ndarray,
    seg: np.ndarray,
    profile: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Favourite categories of the surcharged group re-drawn with :data:`DISCRIMINATION_CHEAPER_TILT`.

    ``rng`` is a child of the world's generator, so every other draw of the world is unchanged.
    """
    cheaper = _draw_favourite_categories(seg, profile, rng, DISCRIMINATION_CHEAPER_TILT)
    return np.where(device == DEVICES.index(DISCRIMINATION_GROUP_VALUE), cheaper, fav_category)


def _users_table(
    n: int, demographics: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw PII, region and consent, and assemble the canonical users table.

    Parameters
    ----------
    n : int
        Number of users.
    demographics : dict of numpy.ndarray
        Output of :func:`_draw_demographics`.
    rng : numpy.random.Generator
        Random source, drawn from in a fixed order (PII, region, personalisation and marketing consent).

    Returns
    -------
    users : pandas.DataFrame
        The canonical users table with raw PII columns ``name, phone, email``.
    canaries : pandas.DataFrame
        ``user_id, token, name, phone, email`` of every user.
    """
    age, age_missing = demographics["age"], demographics["age_missing"]
    ids = _format_ids("U", np.arange(1, n + 1), _id_width(n, 6))
    canaries = _user_pii(rng, n, demographics["language"])
    canaries.insert(0, "user_id", pd.Series(ids.to_pylist(), dtype="str"))
    users = pd.DataFrame(
        {
            "user_id": canaries["user_id"],
            "gender": pd.Series(demographics["gender"], dtype="str"),
            "age": pd.array(np.where(age_missing, 0, age).astype(np.int64), dtype="Int64"),
            "region": pd.Series(np.asarray(REGIONS)[_choice(rng, n, REGION_WEIGHTS)], dtype="str"),
            "city_tier": pd.array(demographics["tier"].astype(np.int64), dtype="Int64"),
            "signup_ts": pd.to_datetime(demographics["signup_ms"], unit="ms", utc=True).astype("datetime64[us, UTC]"),
            "device": pd.Series(np.asarray(DEVICES)[demographics["device"]], dtype="str"),
            "member_level": pd.Series(np.asarray(MEMBER_LEVELS)[demographics["member"]], dtype="str"),
            "consent_personalization": rng.random(n) >= 0.11,
            "consent_marketing": rng.random(n) >= 0.13,
            "name": canaries["name"],
            "phone": canaries["phone"],
            "email": canaries["email"],
        }
    )
    users.loc[age_missing, "age"] = pd.NA
    return users, canaries


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
        user_city_tier=latent["city_tier"],
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
    """Number of events and of stretches of every bot (zeros for humans).

    The ``bot_user`` rate of the expected rows is split among the bots by a Dirichlet(4) share, and
    every bot gets at least :data:`BOT_MIN_EVENTS` (one minute at the slowest bot rate), so a planted
    bot behaves alike at every size. The floor was 20 events: the budget gave the single bot of a
    small simulation 20-76 events (50 users x 1 day: 8, raised to 20; 300 x 7: 76), a few seconds of
    activity that no per-minute rule can tell from a batch-logged human. Stretches hold at most about
    1,500 events (one a day at most), so every stretch holds at least ``min(events, 750)`` events.

    Returns
    -------
    events : numpy.ndarray of int64
        Events of every user (0 for humans).
    stretches : numpy.ndarray of int64
        Number of stretches (days with bot activity) of every user (0 for humans).
    """
    n_bots = int(is_bot.sum())
    expected_rows = expected_events_per_user_day(params.n_days) * params.n_days * (params.n_users - n_bots)
    budget = params.dirty_rates.get("bot_user", 0.0) * expected_rows if params.dirty else 0.0
    events = np.zeros(params.n_users, dtype=np.int64)
    stretches = np.zeros(params.n_users, dtype=np.int64)
    if budget <= 0:
        return events, stretches
    share = rng.dirichlet(np.full(n_bots, 4.0))
    events[is_bot] = np.maximum(np.round(budget * share).astype(np.int64), BOT_MIN_EVENTS)
    stretches[is_bot] = np.clip(np.ceil(events[is_bot] / 1500), 1, params.n_days)
    return events, stretches
