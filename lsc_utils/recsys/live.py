"""Live rooms: which room to enter now, live re-ranking by in-room signals, personalisation consent."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils import consent
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.recsys._common import (
    DEFAULT_LIVE_SIGNAL_WEIGHTS,
    DEFAULT_ROOM_EVENT_WEIGHTS,
    RECOMMENDATION_COLUMNS,
    _check_float,
    _check_weights,
    _utc_series,
    _utc_timestamp,
)
from lsc_utils.recsys._topk import _batches, _row_normalize, _selection_matrix, _top_k_similarity, select_top_k
from lsc_utils.recsys.interactions import Interactions, interactions_from_frame

# ---------------------------------------------------------------------------------------------
# Live rooms, live re-ranking, consent
# ---------------------------------------------------------------------------------------------


def live_rooms(rooms: pd.DataFrame, at_time: Any) -> pd.DataFrame:
    """Rooms broadcasting at ``at_time``: ``start_ts <= at_time <= end_ts`` (a null end = still live).

    Parameters
    ----------
    rooms : pandas.DataFrame
        Canonical rooms table.
    at_time : timestamp
        Moment of interest (naive values are UTC).

    Returns
    -------
    pandas.DataFrame
        The live rows of ``rooms``, in their original order.
    """
    _require_columns(rooms, ["room_id", "start_ts", "end_ts"], "rooms")
    at = _utc_timestamp(at_time, "at_time", "live_rooms")
    start, end = _utc_series(rooms["start_ts"]), _utc_series(rooms["end_ts"])
    live = (start <= at) & (end.isna() | (end >= at))
    return rooms[live.to_numpy()]


@dataclass(frozen=True)
class _RoomHistory:
    """Matrices of users' past engagement with anchors and categories."""

    anchors: Interactions
    categories: Interactions
    follows: sp.csr_matrix


def _room_history(
    events: pd.DataFrame, rooms: pd.DataFrame, at: pd.Timestamp, weights: dict[str, float], half_life_days: float | None
) -> _RoomHistory:
    """Decayed user x anchor and user x category engagement from room events up to ``at``."""
    past = events[(_utc_series(events["ts"]) <= at).to_numpy() & events["room_id"].notna().to_numpy()]
    joined = past[["user_id", "ts", "event_type", "room_id"]].merge(
        rooms[["room_id", "anchor_id", "category"]], on="room_id", how="inner"
    )
    joined = joined.assign(
        weight=joined["event_type"].map(weights).astype("float64").fillna(0.0),
        ts=_utc_series(joined["ts"]),
    )
    common = {"weight_col": "weight", "time_col": "ts", "half_life": half_life_days, "as_of": at}
    anchors = interactions_from_frame(joined, item_col="anchor_id", **common)
    categories = interactions_from_frame(joined, item_col="category", **common)
    follow_rows = joined[joined["event_type"] == "follow"]
    follow_users = anchors.user_positions(follow_rows["user_id"])
    follow_anchors = anchors.item_positions(follow_rows["anchor_id"])
    ok = (follow_users >= 0) & (follow_anchors >= 0)
    follows = sp.csr_matrix(
        (np.ones(int(ok.sum())), (follow_users[ok], follow_anchors[ok])), shape=anchors.matrix.shape
    )
    follows.data = np.minimum(follows.data, 1.0)
    return _RoomHistory(anchors, categories, follows)


def _live_popularity(events: pd.DataFrame, live: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """Distinct users seen in each live room since it started, scaled to [0, 1] by the maximum."""
    in_rooms = events[events["room_id"].isin(live["room_id"]).to_numpy()]
    in_rooms = in_rooms.merge(live[["room_id", "start_ts"]], on="room_id")
    ts = _utc_series(in_rooms["ts"])
    current = in_rooms[((ts >= _utc_series(in_rooms["start_ts"])) & (ts <= at)).to_numpy()]
    audience = current.groupby("room_id")["user_id"].nunique()
    values = audience.reindex(live["room_id"]).fillna(0.0).to_numpy(dtype=np.float64)
    return values / values.max() if values.max() > 0 else values


def recommend_rooms(
    events: pd.DataFrame,
    rooms: pd.DataFrame,
    at_time: Any,
    user_ids: Sequence[Any] | pd.Index | np.ndarray,
    k: int = 10,
    *,
    weights: Mapping[str, float] = DEFAULT_ROOM_EVENT_WEIGHTS,
    half_life_days: float | None = 14.0,
    anchor_weight: float = 0.5,
    category_weight: float = 0.2,
    cf_weight: float = 0.2,
    popularity_weight: float = 0.1,
    cf_neighbors: int = 50,
) -> pd.DataFrame:
    """Rank the rooms live at ``at_time`` for each user.

    ``score = anchor_weight * A + category_weight * C + cf_weight * F + popularity_weight * P``,
    every component in [0, 1]:

    * A, anchor affinity (repeat consumption): ``(e_ua / max_a' e_ua' + follows_ua) / 2`` where
      ``e_ua`` is the user's engagement with the room's anchor (events weighted by ``weights``,
      decayed with ``half_life_days``) and ``follows_ua`` is 1 if the user followed the anchor.
    * C, category affinity: the user's engagement with the room's category / their top category's.
    * F, anchor CF: item-based cosine CF over the binary user x anchor matrix (each watched anchor
      votes for its ``cf_neighbors`` most similar anchors), divided by the user's maximum over the
      live rooms.
    * P, live popularity: distinct users seen in the room since it started / the live maximum.

    Only events up to ``at_time`` are used. Users without history get the popularity order.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type``, ``room_id``).
    rooms : pandas.DataFrame
        Canonical rooms (``room_id``, ``anchor_id``, ``category``, ``start_ts``, ``end_ts``).
    at_time : timestamp
        Moment of the recommendation (naive = UTC).
    user_ids : sequence
        Users to recommend for (unknown users allowed).
    k : int, default 10
        Rooms per user.
    weights : mapping, default DEFAULT_ROOM_EVENT_WEIGHTS
        Engagement weight per event type.
    half_life_days : float or None, default 14
        Half-life of the engagement decay (None: no decay).
    anchor_weight, category_weight, cf_weight, popularity_weight : float
        Component weights (>= 0).
    cf_neighbors : int, default 50
        Neighbour anchors kept per anchor in the CF component.

    Returns
    -------
    pandas.DataFrame
        ``user_id, room_id, anchor_id, category, rank, score, anchor_affinity, category_affinity,
        cf_score, live_popularity``.
    """
    owner = "recommend_rooms"
    k = _check_int(k, "k", owner)
    cf_neighbors = _check_int(cf_neighbors, "cf_neighbors", owner)
    table_weights = _check_weights(weights, owner)
    mix = _check_component_weights(anchor_weight, category_weight, cf_weight, popularity_weight, owner)
    _require_columns(events, ["user_id", "ts", "event_type", "room_id"], "events")
    _require_columns(rooms, ["room_id", "anchor_id", "category", "start_ts", "end_ts"], "rooms")
    at = _utc_timestamp(at_time, "at_time", owner)
    live = live_rooms(rooms, at).reset_index(drop=True)
    users = pd.Index(user_ids).unique()
    if live.empty or len(users) == 0:
        return _empty_room_frame()
    history = _room_history(events, rooms, at, table_weights, half_life_days)
    components = _room_components(history, live, users, cf_neighbors)
    popularity = _live_popularity(events, live, at)
    parts = [
        _top_rooms_of_batch(batch, users, live, components, popularity, mix, k)
        for batch in _batches(len(users), len(live))
    ]
    return pd.concat(parts, ignore_index=True)


def _check_component_weights(
    anchor_weight: float, category_weight: float, cf_weight: float, popularity_weight: float, owner: str
) -> dict[str, float]:
    """Check the four component weights of :func:`recommend_rooms` (each a number >= 0).

    Returns
    -------
    dict of str to float
        ``{"anchor_weight", "category_weight", "cf_weight", "popularity_weight"}`` as floats.
    """
    return {
        name: _check_float(value, name, owner, 0.0, math.inf)
        for name, value in {
            "anchor_weight": anchor_weight,
            "category_weight": category_weight,
            "cf_weight": cf_weight,
            "popularity_weight": popularity_weight,
        }.items()
    }


def _top_rooms_of_batch(
    batch: slice,
    users: pd.Index,
    live: pd.DataFrame,
    components: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix],
    popularity: np.ndarray,
    mix: dict[str, float],
    k: int,
) -> pd.DataFrame:
    """Score the live rooms for the users of ``batch`` and keep each user's ``k`` best.

    Parameters
    ----------
    batch : slice
        Positions in ``users`` (and rows of the component matrices) to score.
    users : pandas.Index
        All users recommended for.
    live : pandas.DataFrame
        The live rooms, one per column of the component matrices.
    components : tuple of scipy.sparse.csr_matrix
        Anchor affinity, category affinity and raw anchor-CF scores (users x live rooms).
    popularity : numpy.ndarray
        Live popularity of each live room.
    mix : dict of str to float
        Component weights.
    k : int
        Rooms per user.

    Returns
    -------
    pandas.DataFrame
        The batch's rows of the :func:`recommend_rooms` result.
    """
    anchor, category, cf = (c[batch].toarray() for c in components)
    cf_max = cf.max(axis=1, keepdims=True)
    cf = np.divide(cf, cf_max, out=np.zeros_like(cf), where=cf_max > 0)
    score = (
        mix["anchor_weight"] * anchor
        + mix["category_weight"] * category
        + mix["cf_weight"] * cf
        + mix["popularity_weight"] * popularity[None, :]
    )
    columns, values = select_top_k(score, k)
    rows = np.repeat(np.arange(batch.start, batch.stop), columns.shape[1])
    local = np.repeat(np.arange(len(columns)), columns.shape[1])
    flat = columns.ravel()
    return pd.DataFrame(
        {
            "user_id": users.take(rows),
            "room_id": live["room_id"].to_numpy()[flat],
            "anchor_id": live["anchor_id"].to_numpy()[flat],
            "category": live["category"].to_numpy()[flat],
            "rank": np.tile(np.arange(1, columns.shape[1] + 1, dtype=np.int64), len(columns)),
            "score": values.ravel().astype(np.float64),
            "anchor_affinity": anchor[local, flat],
            "category_affinity": category[local, flat],
            "cf_score": cf[local, flat],
            "live_popularity": popularity[flat],
        }
    )


def _room_components(
    history: _RoomHistory, live: pd.DataFrame, users: pd.Index, cf_neighbors: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Sparse (users x live rooms) anchor affinity, category affinity and raw anchor-CF scores."""
    anchors, categories = history.anchors, history.categories
    pick_users = _selection_matrix(anchors.user_positions(users), anchors.n_users).T
    pick_anchor = _selection_matrix(anchors.item_positions(live["anchor_id"]), anchors.n_items)
    engagement = _row_normalize(anchors.matrix, "max")
    anchor = (pick_users @ ((engagement + history.follows) * 0.5) @ pick_anchor).tocsr()
    pick_users_c = _selection_matrix(categories.user_positions(users), categories.n_users).T
    pick_category = _selection_matrix(categories.item_positions(live["category"]), categories.n_items)
    category = (pick_users_c @ _row_normalize(categories.matrix, "max") @ pick_category).tocsr()
    binary = anchors.matrix.copy()
    binary.data[:] = 1.0
    similarity = _top_k_similarity(binary.T.tocsr(), cf_neighbors, 0.0, cosine=True)
    cf = (pick_users @ binary @ similarity @ pick_anchor).tocsr()
    return anchor, category, cf


def _empty_room_frame() -> pd.DataFrame:
    """A room-recommendation frame without rows."""
    columns = ["user_id", "room_id", "anchor_id", "category", "rank", "score"]
    columns += ["anchor_affinity", "category_affinity", "cf_score", "live_popularity"]
    return pd.DataFrame({c: pd.Series([], dtype="float64" if c not in columns[:5] else object) for c in columns})


def rerank_with_live_signals(
    recs: pd.DataFrame,
    events: pd.DataFrame,
    room_id: Any,
    now: Any,
    window_minutes: float = 10.0,
    weight: float = 0.3,
    signal_weights: Mapping[str, float] = DEFAULT_LIVE_SIGNAL_WEIGHTS,
) -> pd.DataFrame:
    """Re-rank recommendation lists with what is trending in a live room right now.

    For each item, ``trend_i = sum of signal_weights[event_type]`` over the room's events with
    ``now - window < ts <= now`` (default: likes count 1, add-to-carts 3), normalized
    ``live_trend_i = trend_i / max_j trend_j`` (0 when nothing happened). Each user's model scores
    are min-max normalized within the list (``base = (s - min) / (max - min)``, 1 when all equal) and
    ``score = (1 - weight) * base + weight * live_trend``. Lists are re-sorted by that score (ties:
    original rank) and ranks renumbered.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank, score`` (e.g. from a recommender restricted to the room's items).
    events : pandas.DataFrame
        Canonical events (``ts``, ``event_type``, ``item_id``, ``room_id``).
    room_id : str
        The current room.
    now : timestamp
        Current time (naive = UTC).
    window_minutes : float, default 10
        Trailing window length.
    weight : float, default 0.3
        Share of the live trend in the final score, in [0, 1].
    signal_weights : mapping, default DEFAULT_LIVE_SIGNAL_WEIGHTS
        Weight per live event type.

    Returns
    -------
    pandas.DataFrame
        The input columns with ``score`` and ``rank`` replaced, plus ``base_score`` (the original
        score) and ``live_trend``.
    """
    owner = "rerank_with_live_signals"
    _require_columns(recs, list(RECOMMENDATION_COLUMNS), "recs")
    _require_columns(events, ["ts", "event_type", "item_id", "room_id"], "events")
    weight = _check_float(weight, "weight", owner, 0.0, 1.0)
    window = _check_float(window_minutes, "window_minutes", owner, 0.0, math.inf, low_open=True)
    table_weights = _check_weights(signal_weights, owner)
    now_ts = _utc_timestamp(now, "now", owner)
    trend = _item_trend(events, room_id, now_ts, pd.Timedelta(minutes=window), table_weights)
    out = recs.assign(base_score=recs["score"].astype("float64"))
    out["live_trend"] = trend.reindex(out["item_id"]).fillna(0.0).to_numpy()
    by_user = out.groupby("user_id", sort=False)["base_score"]
    low, high = by_user.transform("min"), by_user.transform("max")
    spread = (high - low).to_numpy()
    base = np.divide((out["base_score"] - low).to_numpy(), spread, out=np.ones(len(out)), where=spread > 0)
    out["score"] = (1.0 - weight) * base + weight * out["live_trend"].to_numpy()
    user_order = pd.Series(np.arange(out["user_id"].nunique()), index=out["user_id"].unique())
    out["_user_order"] = user_order.reindex(out["user_id"]).to_numpy()
    out = out.sort_values(["_user_order", "score", "rank"], ascending=[True, False, True], kind="stable")
    out["rank"] = out.groupby("user_id", sort=False).cumcount().to_numpy(dtype=np.int64) + 1
    return out.drop(columns="_user_order").reset_index(drop=True)


def _item_trend(
    events: pd.DataFrame, room_id: Any, now: pd.Timestamp, window: pd.Timedelta, weights: dict[str, float]
) -> pd.Series:
    """Weighted live-signal count per item in the room's trailing window, scaled by its maximum."""
    ts = _utc_series(events["ts"])
    recent = (
        (events["room_id"] == room_id).fillna(False)
        & (ts > now - window)
        & (ts <= now)
        & events["event_type"].isin(list(weights)).fillna(False)
        & events["item_id"].notna()
    )
    chosen = events[recent.to_numpy()]
    trend = chosen["event_type"].map(weights).astype("float64").groupby(chosen["item_id"]).sum()
    return trend / trend.max() if len(trend) and trend.max() > 0 else trend


def apply_personalization_consent(
    recs: pd.DataFrame,
    users: pd.DataFrame,
    fallback_recs: pd.DataFrame,
    treat_missing_as_consent: bool = False,
) -> pd.DataFrame:
    """Serve only non-personalized recommendations to users who did not consent to personalization.

    Users whose ``consent_personalization`` is True keep their rows of ``recs``. All others
    (False; and, unless ``treat_missing_as_consent``, null or absent from ``users`` -- privacy by
    default) get the fallback list instead: ``fallback_recs`` is either one global list
    ``item_id, rank, score`` (e.g. :meth:`PopularityRecommender.top_items`), given to each such user,
    or per-user rows with a ``user_id`` column. The fallback must not use the user's history.

    Parameters
    ----------
    recs : pandas.DataFrame
        Personalized ``user_id, item_id, rank, score``.
    users : pandas.DataFrame
        Canonical users (``user_id``, ``consent_personalization``).
    fallback_recs : pandas.DataFrame
        Non-personalized list(s).
    treat_missing_as_consent : bool, default False
        Count users with unknown consent as consenting.

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, rank, score, personalized`` for every user of ``recs``, in their order.
    """
    _require_columns(recs, list(RECOMMENDATION_COLUMNS), "recs")
    _require_columns(fallback_recs, ["item_id", "rank", "score"], "fallback_recs")
    requested = pd.Index(recs["user_id"].unique())
    flags = consent.allowed(consent.lookup(users, "personalization", requested), treat_missing_as_consent)
    allowed, denied = requested[flags], requested[~flags]
    columns = list(RECOMMENDATION_COLUMNS)
    personal = recs.loc[recs["user_id"].isin(allowed).to_numpy(), columns].assign(personalized=True)
    if "user_id" in fallback_recs.columns:
        generic = fallback_recs.loc[fallback_recs["user_id"].isin(denied).to_numpy(), columns]
    else:
        ordered = fallback_recs.sort_values("rank", kind="stable")[["item_id", "rank", "score"]]
        tiled = ordered.iloc[np.tile(np.arange(len(ordered)), len(denied))].reset_index(drop=True)
        generic = pd.concat([pd.DataFrame({"user_id": np.repeat(denied.to_numpy(), len(ordered))}), tiled], axis=1)[
            columns
        ]
    generic = generic.assign(personalized=False)
    out = pd.concat([personal, generic], ignore_index=True)
    order = pd.Series(np.arange(len(requested)), index=requested)
    out["_order"] = order.reindex(out["user_id"]).to_numpy()
    out = out.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)
