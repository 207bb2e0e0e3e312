"""Bots, dirty rows and comments of one block of users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lsc_utils.constants import CHANNELS
from lsc_utils.simulate.helpers import (
    GroupedSampler,
    _choice,
    _choice_by_row,
    _gather_ranges,
    _random_words,
    _split_runs,
    _take_strings,
)
from lsc_utils.simulate.sessions import EVENT_COLUMNS, Events, _concat, _take
from lsc_utils.simulate.vocab import (
    BOT_EVENT_TYPES,
    BOT_EVENT_WEIGHTS,
    BOT_EVENTS_PER_SECOND,
    CATEGORIES,
    COMMENT_EMOJI,
    COMMENT_TEMPLATES,
    DAY_MS,
    DIRTY_KINDS,
    EMAIL_DOMAINS,
    EMOJI_SHARE,
    HOUR_MS,
    LANGUAGES,
    OWN_LANGUAGE_SHARE,
    PII_COMMENT_SHARE,
    PII_KINDS,
    PII_TEMPLATES,
    SENTIMENT_LABELS,
    SESSION_EVENT_TYPES,
    UNKNOWN_EVENT_TYPES,
    UNPARSEABLE_TIMESTAMPS,
)
from lsc_utils.simulate.world import World, _profile_arrays


def build_bot_events(world: World, bots: np.ndarray, rng: np.random.Generator) -> Events:
    """Events of bot users: stretches of 5-20 events per second inside a live room, one stretch a day.

    Rates are drawn from :data:`BOT_EVENTS_PER_SECOND`; each bot's events (at least
    :data:`BOT_MIN_EVENTS`, see ``world._bot_plan``) are split evenly over its stretches.
    """
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
    rate = rng.uniform(*BOT_EVENTS_PER_SECOND, size=bot.size)
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
