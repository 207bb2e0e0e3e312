"""Evaluation protocols of notebook 03: weight schemes, splits, model comparison, live-room and next-stream evaluation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.constants import SEED
from lsc_utils.evaluation import _mean, evaluate
from lsc_utils.recsys._common import (
    DEFAULT_EVENT_WEIGHTS,
    RECOMMENDATION_COLUMNS,
    _check_float,
    _to_days,
    _utc_series,
    _utc_timestamp,
)
from lsc_utils.recsys._topk import _batches, select_top_k
from lsc_utils.recsys.content import HybridRecommender, ItemFeatures
from lsc_utils.recsys.interactions import Interactions, build_interactions, interactions_from_frame
from lsc_utils.recsys.live import live_rooms, recommend_rooms, rerank_with_live_signals
from lsc_utils.recsys.models import BaseRecommender
from lsc_utils.recsys.splits import stratified_random_split, temporal_split
from lsc_utils.schema import DatasetError

# ---------------------------------------------------------------------------------------------
# Next-stream prediction (repeat consumption on live platforms)
# ---------------------------------------------------------------------------------------------


def _leave_last_out(
    frame: pd.DataFrame, user_col: str, item_col: str, times: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Training-row mask and one target per user (the user's last row, history strictly before it)."""
    users = frame[user_col].to_numpy()
    user_codes, _ = pd.factorize(users, sort=True)
    item_codes, _ = pd.factorize(frame[item_col], sort=True)
    order = np.lexsort((item_codes, times, user_codes))
    sorted_users = user_codes[order]
    is_last = np.r_[sorted_users[1:] != sorted_users[:-1], True]
    target_rows = order[is_last]
    target_time = np.full(user_codes.max() + 1, np.nan)
    target_time[user_codes[target_rows]] = times[target_rows]
    train = times < target_time[user_codes]
    has_history = np.bincount(user_codes[train], minlength=len(target_time)) > 0
    targets = frame.iloc[target_rows][[user_col, item_col]].assign(_time=times[target_rows])
    targets = targets[has_history[user_codes[target_rows]]]
    return train, targets.rename(columns={user_col: "user_id", item_col: "item_id"}).reset_index(drop=True)


def _availability(
    frame: pd.DataFrame, item_col: str, times: np.ndarray, targets: pd.DataFrame, window: float
) -> pd.DataFrame:
    """(target row, item) pairs of items with any row in [t - window, t] of each target's time t."""
    slots = pd.DataFrame({"time": times, "item_id": frame[item_col].to_numpy()}).drop_duplicates()
    slots = slots.sort_values("time", kind="stable")
    slot_times = slots["time"].to_numpy()
    low = np.searchsorted(slot_times, targets["_time"].to_numpy() - window, side="left")
    high = np.searchsorted(slot_times, targets["_time"].to_numpy(), side="right")
    counts = high - low
    target_rows = np.repeat(np.arange(len(targets)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    slot_rows = np.repeat(low, counts) + offsets
    return pd.DataFrame({"target": target_rows, "item_id": slots["item_id"].to_numpy()[slot_rows]})


def _candidate_scores(
    model: BaseRecommender, rows: np.ndarray, picked: np.ndarray, mask: sp.csr_matrix | None
) -> np.ndarray:
    """Scores of the targets ``picked`` (their user rows ``rows``), non-candidates set to -inf."""
    scores = model._score_rows(rows[picked]).astype(np.float64)
    if mask is not None:
        scores[~mask[picked].toarray()] = -np.inf
    return scores


def _availability_mask(
    model: BaseRecommender, targets: pd.DataFrame, available: pd.DataFrame | None
) -> sp.csr_matrix | None:
    """Boolean target x catalogue matrix of the candidates (None: every item is a candidate)."""
    if available is None:
        return None
    avail_cols = model.item_index_.get_indexer(pd.Index(available["item_id"]))
    ok = avail_cols >= 0
    return sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=bool), (available["target"].to_numpy()[ok], avail_cols[ok])),
        shape=(len(targets), len(model.item_index_)),
    )


def _ranks_and_lists(
    model: BaseRecommender, targets: pd.DataFrame, available: pd.DataFrame | None, k: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Rank of each target among its user's candidates (inf when unrankable) and the top-k lists.

    Ties are broken by catalogue position in both, so the list holds the target exactly when its rank
    is at most k.
    """
    rows = model.interactions_.user_positions(targets["user_id"])
    columns = model.item_index_.get_indexer(pd.Index(targets["item_id"]))
    ranks = np.full(len(targets), np.inf)
    mask = _availability_mask(model, targets, available)
    lists = []
    scorable = np.flatnonzero(rows >= 0)
    for batch in _batches(len(scorable), model._batch_width()):
        picked = scorable[batch]
        scores = _candidate_scores(model, rows, picked, mask)
        top_columns, top_values = select_top_k(scores, k)
        width = top_columns.shape[1]
        valid = np.isfinite(top_values).ravel()
        lists.append(
            pd.DataFrame(
                {
                    "user_id": targets["user_id"].to_numpy()[np.repeat(picked, width)][valid],
                    "item_id": model.item_index_.take(top_columns.ravel()[valid]),
                    "rank": np.tile(np.arange(1, width + 1, dtype=np.int64), len(picked))[valid],
                    "score": top_values.ravel()[valid],
                }
            )
        )
        known = columns[picked] >= 0
        cols = np.where(known, columns[picked], 0)
        target_scores = np.where(known, scores[np.arange(len(picked)), cols], -np.inf)
        better = (scores > target_scores[:, None]).sum(axis=1)
        tied_before = ((scores == target_scores[:, None]) & (np.arange(scores.shape[1]) < cols[:, None])).sum(axis=1)
        ranks[picked] = np.where(np.isfinite(target_scores), 1 + better + tied_before, np.inf)
    empty = pd.DataFrame({"user_id": [], "item_id": [], "rank": np.array([], np.int64), "score": []})
    return ranks, pd.concat(lists, ignore_index=True) if lists else empty


def _hit_rates(hits: np.ndarray, is_repeat: np.ndarray) -> dict[str, float]:
    """Hit rate overall, on repeat and on new targets, with the number of targets and the repeat share."""
    return {
        "hit_rate": _mean(hits.astype(np.float64)),
        "hit_rate_repeat": float(hits[is_repeat].mean()) if is_repeat.any() else math.nan,
        "hit_rate_new": float(hits[~is_repeat].mean()) if (~is_repeat).any() else math.nan,
        "n_users": len(hits),
        "repeat_share": _mean(is_repeat.astype(np.float64)),
    }


@dataclass(frozen=True)
class NextStreamEvaluation:
    """Result of :func:`evaluate_next_stream`.

    Attributes
    ----------
    hit_rates : pandas.DataFrame
        One row per model: ``model, hit_rate, hit_rate_repeat, hit_rate_new, n_users, repeat_share``.
    lists : pandas.DataFrame
        The top-k list each model shows each target user at the target time: ``model, user_id,
        item_id, rank, score`` (item = streamer), for exposure audits (notebook 09).
    training_rows : pandas.Series
        Training rows per item (the watch the lists could learn from), every item of the log included.
    training_users : pandas.Series
        Distinct training users per item.
    """

    hit_rates: pd.DataFrame
    lists: pd.DataFrame
    training_rows: pd.Series
    training_users: pd.Series


def evaluate_next_stream(
    data: pd.DataFrame,
    models: Mapping[str, BaseRecommender],
    k: int = 10,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "ts",
    availability_window: float | None = None,
    half_life: float | None = None,
) -> NextStreamEvaluation:
    """Hit rate@k of predicting each user's next stream (leave-last-out, repeats included), with the lists.

    Protocol: each user's last row (latest time; ties by item id) is the target; the training matrix
    holds every other user's rows plus the user's own rows strictly before the target time, counted
    per (user, streamer) and optionally decayed with ``half_life``. Users without earlier rows are
    skipped. Each model (cloned, then fitted) scores the user's candidates *without* removing seen
    streamers -- returning to a known anchor is the common case -- and a hit is the target ranking
    in the top k. With ``availability_window`` the candidates are the streamers live around the
    target time (any row in ``[t - window, t]``), as in Rappaz et al. (RecSys 2021).

    Parameters
    ----------
    data : pandas.DataFrame
        Watch rows ``user, streamer, time``.
    models : mapping name -> BaseRecommender
        Unfitted recommenders of this module (not :class:`HybridRecommender`).
    k : int, default 10
    user_col, item_col, time_col : str
        Columns (time: timestamps -> days, or numbers such as 10-minute steps).
    availability_window : float, optional
        Window of the live-candidate filter in time units (None: all streamers are candidates).
    half_life : float, optional
        Decay of the training weights in time units.

    Returns
    -------
    NextStreamEvaluation
        Hit rates per model, the top-k lists behind them and the training watch per streamer.
    """
    owner = "next_stream_hit_rate"
    k = _check_int(k, "k", owner)
    _require_columns(data, [user_col, item_col, time_col], "data")
    frame = data[data[[user_col, item_col, time_col]].notna().all(axis=1).to_numpy()]
    if frame.empty:
        raise DatasetError(f"data: no row has all of '{user_col}', '{item_col}' and '{time_col}'.")
    times = _to_days(frame[time_col])
    train_mask, targets = _leave_last_out(frame, user_col, item_col, times)
    history = pd.DataFrame(
        {"user_id": frame[user_col].to_numpy()[train_mask], "item_id": frame[item_col].to_numpy()[train_mask]}
    )
    history["_time"] = times[train_mask]
    train = interactions_from_frame(history, time_col="_time" if half_life is not None else None, half_life=half_life)
    seen = pd.MultiIndex.from_frame(history[["user_id", "item_id"]].drop_duplicates())
    is_repeat = pd.MultiIndex.from_frame(targets[["user_id", "item_id"]]).isin(seen)
    available = None
    if availability_window is not None:
        window = _check_float(availability_window, "availability_window", owner, 0.0, math.inf)
        available = _availability(frame, item_col, times, targets, window)
    rows, lists = [], []
    for name, model in models.items():
        ranks, top = _ranks_and_lists(clone(model).fit(train), targets, available, k)
        lists.append(top.assign(model=name))
        rows.append({"model": name, **_hit_rates(ranks <= k, is_repeat)})
    catalogue = pd.Index(pd.unique(frame[item_col])).sort_values()
    columns = ["model", "user_id", "item_id", "rank", "score"]
    return NextStreamEvaluation(
        hit_rates=pd.DataFrame(rows),
        lists=pd.concat(lists, ignore_index=True)[columns] if lists else pd.DataFrame(columns=columns),
        training_rows=history.groupby("item_id").size().reindex(catalogue, fill_value=0).rename("rows"),
        training_users=history.groupby("item_id")["user_id"].nunique().reindex(catalogue, fill_value=0).rename("users"),
    )


def next_stream_hit_rate(
    data: pd.DataFrame,
    models: Mapping[str, BaseRecommender],
    k: int = 10,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "ts",
    availability_window: float | None = None,
    half_life: float | None = None,
) -> pd.DataFrame:
    """Hit rate@k of predicting each user's next stream: the ``hit_rates`` of :func:`evaluate_next_stream`.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model, hit_rate, hit_rate_repeat, hit_rate_new, n_users,
        repeat_share`` (repeat = the target streamer is in the user's history).
    """
    return evaluate_next_stream(data, models, k, user_col, item_col, time_col, availability_window, half_life).hit_rates


# ---------------------------------------------------------------------------------------------
# Evaluation protocols of the recommendation notebook (weights, splits, live-room evaluation)
# ---------------------------------------------------------------------------------------------

EVENT_WEIGHT_SCHEMES: tuple[str, ...] = ("default", "uniform")
"""Names accepted by :func:`event_weight_scheme`."""

SPLIT_METHODS: tuple[str, ...] = ("temporal", "stratified")
"""Names accepted by :func:`split_interactions`."""

LIVE_POPULARITY_ROOM_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"anchor_weight": 0.0, "category_weight": 0.0, "cf_weight": 0.0, "popularity_weight": 1.0}
)
"""Keyword arguments of :func:`recommend_rooms` that rank live rooms by their current audience only."""


def event_weight_scheme(name: str) -> dict[str, float]:
    """Event-type weights of a named implicit-feedback scheme.

    Parameters
    ----------
    name : {"default", "uniform"}
        ``"default"``: :data:`DEFAULT_EVENT_WEIGHTS` (a view 1 ... a payment 8). ``"uniform"``: every
        event type of :data:`DEFAULT_EVENT_WEIGHTS` weighs 1, so each positive event counts the same
        (e.g. every MovieLens rating is one implicit positive).

    Returns
    -------
    dict
        Event type -> weight, for :func:`build_interactions`.
    """
    _check_choice(name, "name", "event_weight_scheme", EVENT_WEIGHT_SCHEMES)
    if name == "uniform":
        return dict.fromkeys(DEFAULT_EVENT_WEIGHTS, 1.0)
    return dict(DEFAULT_EVENT_WEIGHTS)


@dataclass(frozen=True)
class InteractionSplit:
    """Training matrix and held-out relevant pairs of an offline top-k evaluation.

    Attributes
    ----------
    train : Interactions
        Training user x item matrix.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs of training users that the user did not interact with in
        training (sorted by user, item): what a list that excludes seen items can hit.
    cold_test : pandas.DataFrame
        Held-out ``user_id, item_id`` pairs of users absent from the training matrix (cold start).
    cutoff : pandas.Timestamp or None
        First time of the test period (temporal split), None for the stratified split.
    n_seen_removed : int
        Held-out pairs of training users dropped because the pair is already in training.
    """

    train: Interactions
    test: pd.DataFrame
    cold_test: pd.DataFrame
    cutoff: pd.Timestamp | None
    n_seen_removed: int


def _pair_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``user_id, item_id`` pairs sorted by user then item, fresh index."""
    pairs = frame[["user_id", "item_id"]].drop_duplicates()
    return pairs.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def split_interactions(
    events: pd.DataFrame,
    method: str = "temporal",
    test_fraction: float = 0.25,
    weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
    half_life_days: float | None = None,
    random_state: int | None = SEED,
) -> InteractionSplit:
    """Split canonical events into a training matrix and held-out relevant pairs.

    * ``"temporal"``: events before the cutoff (the time of the first of the last ``test_fraction``
      of events, :func:`temporal_split`) form the training matrix, decayed to the cutoff; the
      (user, item) pairs with a positive weight in the later events are the test set.
    * ``"stratified"``: the (user, item) pairs of the whole matrix (decayed to the latest event)
      are split per user at random, ``test_fraction`` of each user's pairs held out
      (:func:`stratified_random_split`, as Microsoft Recommenders' ``python_stratified_split``).

    In both cases held-out pairs already present in training are removed (lists exclude seen
    items, so they could never be hit) and users unknown to training go to ``cold_test``.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type``, ``item_id``).
    method : {"temporal", "stratified"}, default "temporal"
        Split protocol.
    test_fraction : float, default 0.25
        Share of events (temporal) or of each user's pairs (stratified) held out, in (0, 1).
    weights : mapping, default DEFAULT_EVENT_WEIGHTS
        Weight per event type (see :func:`event_weight_scheme`).
    half_life_days : float, optional
        Time decay of the training weights (None: no decay).
    random_state : int, optional
        Seed of the stratified split.

    Returns
    -------
    InteractionSplit

    Raises
    ------
    DatasetError
        If no training event has a positive weight.
    """
    owner = "split_interactions"
    _check_choice(method, "method", owner, SPLIT_METHODS)
    _require_columns(events, ["user_id", "ts", "event_type", "item_id"], "events")
    cutoff = None
    if method == "temporal":
        train_events, test_events = temporal_split(events, test_fraction=test_fraction)
        cutoff = _utc_series(test_events["ts"]).min() if len(test_events) else None
        train = build_interactions(train_events, weights, half_life_days, as_of=cutoff)
        held_out = _pair_frame(build_interactions(test_events, weights).to_frame())
    else:
        pairs = build_interactions(events, weights, half_life_days).to_frame()
        train_pairs, test_pairs = stratified_random_split(pairs, test_fraction, random_state)
        train = interactions_from_frame(train_pairs, weight_col="weight")
        held_out = _pair_frame(test_pairs)
    if train.matrix.nnz == 0:
        raise DatasetError(
            f"events: no training event has a positive weight (weighted types: {', '.join(sorted(weights))}); "
            "the interaction matrix would be empty."
        )
    warm = held_out["user_id"].isin(train.user_index).to_numpy()
    in_train = pd.MultiIndex.from_frame(held_out).isin(
        pd.MultiIndex.from_frame(train.to_frame()[["user_id", "item_id"]])
    )
    test = held_out[warm & ~in_train].reset_index(drop=True)
    return InteractionSplit(train, test, held_out[~warm].reset_index(drop=True), cutoff, int((warm & in_train).sum()))


def first_room_entries(events: pd.DataFrame, rooms: pd.DataFrame) -> pd.DataFrame:
    """The first ``enter_room`` of each user in each room, with the room's anchor.

    A live platform logs a user's presence repeatedly while they watch (Twitch: every 10 minutes);
    the first entry is the moment the user chose the broadcast.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type``, ``room_id``).
    rooms : pandas.DataFrame
        Canonical rooms (``room_id``, ``anchor_id``).

    Returns
    -------
    pandas.DataFrame
        ``user_id, room_id, anchor_id, ts`` sorted by time (ties: user, room); rooms missing from
        ``rooms`` are dropped.
    """
    _require_columns(events, ["user_id", "ts", "event_type", "room_id"], "events")
    _require_columns(rooms, ["room_id", "anchor_id"], "rooms")
    enters = events.loc[
        (events["event_type"] == "enter_room").fillna(False).to_numpy()
        & events["user_id"].notna().to_numpy()
        & events["room_id"].notna().to_numpy(),
        ["user_id", "room_id", "ts"],
    ]
    enters = enters.assign(ts=_utc_series(enters["ts"])).dropna(subset=["ts"])
    enters = enters.sort_values(["ts", "user_id", "room_id"], kind="stable")
    first = enters.drop_duplicates(["user_id", "room_id"], keep="first")
    joined = first.merge(rooms[["room_id", "anchor_id"]].drop_duplicates("room_id"), on="room_id", how="inner")
    return joined[["user_id", "room_id", "anchor_id", "ts"]].reset_index(drop=True)


def busiest_moment(rooms: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Timestamp:
    """The room start time in ``[start, end]`` at which the most rooms are live (ties: the earliest).

    Parameters
    ----------
    rooms : pandas.DataFrame
        Canonical rooms (``room_id``, ``start_ts``, ``end_ts``; a null end = still live).
    start, end : timestamp, optional
        Period to search (inclusive; default: unbounded).

    Returns
    -------
    pandas.Timestamp
        UTC moment.

    Raises
    ------
    DatasetError
        If no room starts within the period.
    """
    _require_columns(rooms, ["room_id", "start_ts", "end_ts"], "rooms")
    starts = _utc_series(rooms["start_ts"]).dropna()
    low = _utc_timestamp(start, "start", "busiest_moment") if start is not None else starts.min()
    high = _utc_timestamp(end, "end", "busiest_moment") if end is not None else starts.max()
    candidates = np.sort(starts[(starts >= low) & (starts <= high)].to_numpy())
    if len(candidates) == 0:
        raise DatasetError(f"rooms: no room starts between {low} and {high}.")
    sorted_starts = np.sort(starts.to_numpy())
    sorted_ends = np.sort(_utc_series(rooms["end_ts"]).dropna().to_numpy())
    started = np.searchsorted(sorted_starts, candidates, side="right")
    ended = np.searchsorted(sorted_ends, candidates, side="left")
    return pd.Timestamp(candidates[int(np.argmax(started - ended))]).tz_convert("UTC")


def _room_targets(entries: pd.DataFrame, live: pd.DataFrame, at: pd.Timestamp, horizon: pd.Timedelta) -> pd.DataFrame:
    """Each user's first new entry into a room live at ``at`` within ``(at, at + horizon]``."""
    chosen = entries[
        ((entries["ts"] > at) & (entries["ts"] <= at + horizon)).to_numpy()
        & entries["room_id"].isin(live["room_id"]).to_numpy()
    ]
    return chosen.drop_duplicates("user_id", keep="first")[["user_id", "room_id"]].reset_index(drop=True)


def evaluate_room_recommendations(
    events: pd.DataFrame,
    rooms: pd.DataFrame,
    at_times: Sequence[Any],
    k: int = 3,
    horizon_minutes: float = 30.0,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Hit rate@k of live-room lists: does the user's next room appear among the k recommended?

    At each moment t the rooms live at t are ranked (:func:`recommend_rooms`, events up to t only)
    for the users whose first entry into one of those rooms falls in ``(t, t + horizon]`` (a room
    the user had not entered before; the first such room is the target). Users are pooled over
    the moments.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type``, ``room_id``).
    rooms : pandas.DataFrame
        Canonical rooms.
    at_times : sequence of timestamps
        Moments of recommendation.
    k : int, default 3
        List length.
    horizon_minutes : float, default 30
        How long after t an entry counts as the user's choice.
    variants : mapping name -> keyword arguments of recommend_rooms, optional
        Rankers to compare. Default: ``{"recommend_rooms": {}, "live_popularity":
        LIVE_POPULARITY_ROOM_WEIGHTS}``.

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``variant, moments, users, hit_rate, ndcg, chance_hit_rate`` where
        ``chance_hit_rate`` is the mean of min(k, live rooms) / live rooms (a random order's rate).
    """
    owner = "evaluate_room_recommendations"
    k = _check_int(k, "k", owner)
    horizon = pd.Timedelta(
        minutes=_check_float(horizon_minutes, "horizon_minutes", owner, 0.0, math.inf, low_open=True)
    )
    chosen = (
        dict(variants)
        if variants is not None
        else {"recommend_rooms": {}, "live_popularity": LIVE_POPULARITY_ROOM_WEIGHTS}
    )
    entries = first_room_entries(events, rooms)
    room_events = events.loc[events["room_id"].notna().to_numpy(), ["user_id", "ts", "event_type", "room_id"]]
    room_events = room_events.astype({"event_type": "category"})  # recommend_rooms maps weights per call
    hits: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    ndcgs: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    chance, moments = [], 0
    for value in at_times:
        at = _utc_timestamp(value, "at_times", owner)
        live = live_rooms(rooms, at)
        targets = _room_targets(entries, live, at, horizon)
        if targets.empty:
            continue
        moments += 1
        chance.append(np.full(len(targets), min(k, len(live)) / len(live)))
        for name, kwargs in chosen.items():
            recs = recommend_rooms(room_events, rooms, at, targets["user_id"], k, **dict(kwargs))
            position = _target_positions(recs, targets)
            hits[name].append(np.isfinite(position).astype(np.float64))
            ndcgs[name].append(np.where(np.isfinite(position), 1.0 / np.log2(1.0 + position), 0.0))
    rows = [
        {
            "variant": name,
            "moments": moments,
            "users": int(sum(len(h) for h in hits[name])),
            "hit_rate": _mean(np.concatenate(hits[name])) if hits[name] else 0.0,
            "ndcg": _mean(np.concatenate(ndcgs[name])) if ndcgs[name] else 0.0,
            "chance_hit_rate": _mean(np.concatenate(chance)) if chance else 0.0,
        }
        for name in chosen
    ]
    return pd.DataFrame(rows)


def _target_positions(recs: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
    """Rank of each target room in its user's list (inf when absent)."""
    ranks = recs.set_index(["user_id", "room_id"])["rank"]
    keys = pd.MultiIndex.from_frame(targets[["user_id", "room_id"]])
    return ranks.reindex(keys).to_numpy(dtype=np.float64, na_value=np.inf)


def rerank_room_lists(
    model: BaseRecommender | HybridRecommender,
    events: pd.DataFrame,
    room_id: Any,
    now: Any,
    user_ids: Sequence[Any] | pd.Index | np.ndarray,
    k: int = 10,
    window_minutes: float = 10.0,
    weight: float = 0.3,
) -> pd.DataFrame:
    """In-room lists of a fitted model before and after :func:`rerank_with_live_signals`.

    The candidates are the items on sale in the room so far (items of the room's events up to
    ``now``); seen items stay eligible (a viewer may buy what they looked at). Each user's top-k
    list of those items is re-ranked with the room's live trend.

    Parameters
    ----------
    model : fitted recommender
        Any recommender of this module (its ``recommend`` takes ``items``).
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type``, ``item_id``, ``room_id``).
    room_id : str
        The live room.
    now : timestamp
        Current time (naive = UTC).
    user_ids : sequence
        Viewers (ids unknown to the model get no list, except with the hybrid).
    k : int, default 10
        List length (capped at the number of items on sale).
    window_minutes, weight : float
        Live-trend window and weight (see :func:`rerank_with_live_signals`).

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, rank_before, rank_after, base_score, live_trend, score`` ordered by
        user (request order) and ``rank_after``; empty when the room has sold nothing yet.
    """
    owner = "rerank_room_lists"
    k = _check_int(k, "k", owner)
    _require_columns(events, ["user_id", "ts", "event_type", "item_id", "room_id"], "events")
    now_ts = _utc_timestamp(now, "now", owner)
    in_room = (events["room_id"] == room_id).fillna(False).to_numpy() & (_utc_series(events["ts"]) <= now_ts).to_numpy()
    on_sale = pd.Index(np.sort(events.loc[in_room, "item_id"].dropna().unique()))
    columns = ["user_id", "item_id", "rank_before", "rank_after", "base_score", "live_trend", "score"]
    if len(on_sale) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="float64" if c in columns[4:] else object) for c in columns})
    before = model.recommend(user_ids, k=min(k, len(on_sale)), exclude_seen=False, items=on_sale)
    before = before[list(RECOMMENDATION_COLUMNS)]
    after = rerank_with_live_signals(before, events, room_id, now_ts, window_minutes, weight)
    merged = after.merge(
        before[["user_id", "item_id", "rank"]].rename(columns={"rank": "rank_before"}), on=["user_id", "item_id"]
    )
    return merged.rename(columns={"rank": "rank_after"})[columns]


def compare_models(
    models: Mapping[str, Any],
    train: Interactions,
    test: pd.DataFrame,
    k: int = 10,
    item_features: ItemFeatures | None = None,
    exclude_seen: bool = True,
    include_timings: bool = False,
) -> pd.DataFrame:
    """Fit each model on ``train``, recommend for the test users and evaluate, one row per model.

    Models are cloned (``sklearn.base.clone``) before fitting; the passed objects stay unfitted.

    Parameters
    ----------
    models : mapping name -> recommender
        Unfitted recommenders of this module.
    train : Interactions
        Training matrix.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs.
    k : int, default 10
    item_features : ItemFeatures, optional
        Adds intra-list diversity.
    exclude_seen : bool, default True
        Remove training items from the lists.
    include_timings : bool, default False
        Add ``fit_seconds`` and ``recommend_seconds`` (they vary between runs).

    Returns
    -------
    pandas.DataFrame
        ``model`` plus the keys of :func:`evaluate`.
    """
    k = _check_int(k, "k", "compare_models")
    _require_columns(test, ["user_id", "item_id"], "test")
    test_users = pd.Index(test["user_id"].dropna().unique())
    rows = []
    for name, model in models.items():
        started = time.perf_counter()
        fitted = clone(model).fit(train)
        fitted_at = time.perf_counter()
        recs = fitted.recommend(test_users, k=k, exclude_seen=exclude_seen)
        done = time.perf_counter()
        row: dict[str, Any] = {"model": name, **evaluate(recs, test, k, train=train, item_features=item_features)}
        if include_timings:
            row.update(fit_seconds=fitted_at - started, recommend_seconds=done - fitted_at)
        rows.append(row)
    return pd.DataFrame(rows)
