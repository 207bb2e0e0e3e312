"""Sessions of one block of users: purchase sessions at the planted BG/NBD times, browsing sessions, items and orders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.constants import CHANNELS
from lsc_utils.simulate.chains import walk_markov_chains
from lsc_utils.simulate.customer_base import (
    GAMMA_GAMMA_TRUTH,
    draw_purchase_times,
    expected_mixture_counts,
    match_items_to_budget,
    random_round,
    realised_discount,
    split_spend,
)
from lsc_utils.simulate.helpers import _choice, _choice_by_row, _circular_hours, _gather_ranges, _split_runs
from lsc_utils.simulate.vocab import (
    CATEGORIES,
    DAY_MS,
    DEVICES,
    DISCRIMINATION_GROUP_VALUE,
    FAVOURITE_CATEGORY_ROOM_SHARE,
    FOLLOW_CHANNEL_SHARE,
    HOUR_MS,
    ITEM_EVENT_TYPES,
    MAX_EVENT_GAP_MS,
    MIN_EVENT_GAP_MS,
    MIN_SESSION_GAP_MINUTES,
    PAYMENT_WEIGHTS,
    ROOM_CATEGORY_SHARE,
    SEGMENTS,
    SESSION_EVENT_TYPES,
    UNDERSERVED_EXPLORE_SHARE,
    UNDERSERVED_GROUP_VALUE,
    WEEKDAY_SESSION_WEIGHTS,
)
from lsc_utils.simulate.world import World, _profile_arrays

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
    group_rng = rng.spawn(1)[0]
    category = _explore_underserved(world, events["user"][rows], candidate, rows, category, group_rng)
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


def _explore_underserved(
    world: World,
    user: np.ndarray,
    candidate: np.ndarray,
    rows: np.ndarray,
    category: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Replace a share of the under-served group's viewed items by items drawn uniformly from the catalogue.

    Users of :data:`UNDERSERVED_GROUP_VALUE` city tier view, at :data:`UNDERSERVED_EXPLORE_SHARE` of
    their item rows, an item drawn uniformly from the whole catalogue. ``candidate`` is changed in
    place; the returned categories follow the new items. ``rng`` is a child of the block's generator,
    so the rest of the block draws the same numbers as without the group.
    """
    group = world.user_city_tier[user] == UNDERSERVED_GROUP_VALUE
    explore = group & (rng.random(rows.size) < UNDERSERVED_EXPLORE_SHARE)
    drawn = rng.integers(0, world.item_price.size, size=rows.size)
    candidate[rows[explore]] = drawn[explore]
    return np.where(explore, world.item_category[drawn], category)


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
