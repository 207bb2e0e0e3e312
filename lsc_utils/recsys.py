"""Recommendation: interaction matrices, baselines, item/user CF, ALS/BPR, content-based, hybrid, live rooms.

The module turns canonical events into a user x item matrix (:func:`build_interactions`), fits
scikit-learn-style recommenders on it and evaluates top-k lists with the definitions of Microsoft
Recommenders' ``python_evaluation``.

Every recommender has the same surface::

    model = ItemKNNRecommender(n_neighbors=100).fit(interactions)
    recs = model.recommend(user_ids, k=10, exclude_seen=True)   # user_id, item_id, rank, score

Scoring is batched over users: a block of users is scored against the whole catalog with one
matrix product, seen items are masked and the top k are selected with ``numpy.argpartition``. Ties
are broken by catalog position (ids in sorted order), so lists are identical from run to run.

Models
------
* :class:`PopularityRecommender` -- most-interacted items (the non-personalized baseline).
* :class:`ItemKNNRecommender` -- item-based CF (cosine or BM25 item-item similarity, top-K neighbours).
* :class:`UserKNNRecommender` -- user-based CF (cosine, top-K neighbour users).
* :class:`ALSRecommender`, :class:`BPRRecommender` -- matrix factorization with ``implicit`` (CPU).
* :class:`ContentBasedRecommender` -- TF-IDF over category / brand / tags, user profile = weighted
  mean of the interacted items' vectors.
* :class:`RepeatAwareRecommender` -- repeat-consumption baseline (recency-weighted frequency first).
* :class:`HybridRecommender` -- CF for warm users, content or popularity for cold users and cold items.

Live streaming
--------------
* :func:`recommend_rooms` ranks the rooms that are live at a moment for each user.
* :func:`rerank_with_live_signals` boosts items trending in the current room.
* :func:`apply_personalization_consent` serves non-personalized lists to users who opted out.

Evaluation
----------
:func:`temporal_split`, :func:`stratified_random_split`, the metrics (:func:`precision_at_k`,
:func:`recall_at_k`, :func:`ndcg_at_k`, :func:`map_at_k`, :func:`mean_average_precision`,
:func:`hit_rate_at_k`, :func:`catalog_coverage`, :func:`novelty`, :func:`intra_list_diversity`,
:func:`average_recommendation_popularity`), :func:`evaluate`, :func:`compare_models` and
:func:`next_stream_hit_rate` for live-streaming repeat consumption.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import EVENT_TYPES, SEED
from lsc_utils.schema import DatasetError

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "view_item": 1.0,
        "like": 2.0,
        "comment": 2.5,
        "favorite": 3.0,
        "add_to_cart": 4.0,
        "order": 5.0,
        "pay": 8.0,
    }
)
"""Implicit-feedback strength of each event type for item recommendation.

A view is the weakest signal, a payment the strongest (view_item 1 < like 2 < comment 2.5 <
favorite 3 < add_to_cart 4 < order 5 < pay 8). Event types not listed (impression, enter_room,
share, refund, ...) weigh 0 and do not enter the matrix.
"""

DEFAULT_ROOM_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "enter_room": 1.0,
        "view_item": 1.0,
        "like": 1.0,
        "comment": 2.0,
        "share": 2.0,
        "gift": 3.0,
        "add_to_cart": 3.0,
        "order": 4.0,
        "pay": 5.0,
        "follow": 5.0,
    }
)
"""Engagement strength of in-room events for anchor and category affinity (:func:`recommend_rooms`)."""

DEFAULT_LIVE_SIGNAL_WEIGHTS: Mapping[str, float] = MappingProxyType({"like": 1.0, "add_to_cart": 3.0})
"""Weights of the live signals counted per item by :func:`rerank_with_live_signals`."""

SCORE_BATCH_CELLS: int = 1 << 23
"""Number of dense score cells (users x catalog) computed per batch (about 64 MB in float64)."""

RECOMMENDATION_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rank", "score")
"""Columns of every recommendation frame."""

_DAY = pd.Timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    """Raise a :class:`DatasetError` naming every required column ``frame`` lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"The {table} table must be a pandas DataFrame. Got {type(frame).__name__} instead.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{table}: required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} missing (columns found: {', '.join(map(str, frame.columns))})."
        )


def _check_float(value: Any, name: str, owner: str, low: float, high: float, low_open: bool = False) -> float:
    """Return ``value`` as float if it lies in [low, high] (or (low, high]), else raise a ValueError."""
    is_number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = is_number and not math.isnan(float(value))
    if ok:
        ok = (float(value) > low if low_open else float(value) >= low) and float(value) <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a number in {bracket}{low}, {high}]. Got {value!r} instead."
        )
    return float(value)


def _check_weights(weights: Mapping[str, float], owner: str) -> dict[str, float]:
    """Validate an event-type weight mapping: canonical keys, finite non-negative values."""
    if not isinstance(weights, Mapping):
        raise TypeError(f"The 'weights' parameter of {owner} must be a mapping event_type -> weight.")
    unknown = sorted(set(weights) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(
            f"The 'weights' parameter of {owner} has keys that are not canonical event types: {unknown}. "
            f"Expected keys from {', '.join(EVENT_TYPES)}."
        )
    bad = {
        key: w
        for key, w in weights.items()
        if not (isinstance(w, int | float | np.number) and math.isfinite(w) and w >= 0)
    }
    if bad:
        raise ValueError(f"The 'weights' parameter of {owner} must map to finite numbers >= 0. Got {bad} instead.")
    return {key: float(w) for key, w in weights.items()}


def _to_days(values: pd.Series) -> np.ndarray:
    """Times as float days: timestamps become days since the Unix epoch, numbers stay as they are."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return ((values.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")) / _DAY).to_numpy(dtype=np.float64)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return ((values - pd.Timestamp(0)) / _DAY).to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _scalar_to_days(value: Any, like: pd.Series) -> float:
    """A reference time in the unit of :func:`_to_days` applied to ``like``."""
    if isinstance(like.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(like.dtype):
        stamp = pd.Timestamp(value)
        if isinstance(like.dtype, pd.DatetimeTZDtype):
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            return float((stamp - pd.Timestamp(0, tz="UTC")) / _DAY)
        naive = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
        return float((naive - pd.Timestamp(0)) / _DAY)
    return float(value)


def _utc_timestamp(value: Any, name: str, owner: str) -> pd.Timestamp:
    """A tz-aware UTC timestamp (naive values are taken as UTC, the canonical time zone)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"The '{name}' parameter of {owner} must be a timestamp. Got {value!r} instead.") from None
    if stamp is pd.NaT:
        raise ValueError(f"The '{name}' parameter of {owner} must be a timestamp. Got {value!r} instead.")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _utc_series(values: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC (naive values are taken as UTC)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    return pd.to_datetime(values, utc=True)


# ---------------------------------------------------------------------------------------------
# Interaction matrix
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interactions:
    """A user x item interaction matrix with its id maps.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Shape (n_users, n_items), float64, summed (optionally time-decayed) weights; no explicit zeros.
        This is the ``user_items`` layout that ``implicit`` 0.7 expects (rows = users).
    user_index : pandas.Index
        Row position -> user id (``user_index[row]``); id -> row with :meth:`user_positions`. Sorted.
    item_index : pandas.Index
        Column position -> item id; id -> column with :meth:`item_positions`. Sorted.
    """

    matrix: sp.csr_matrix
    user_index: pd.Index
    item_index: pd.Index

    def __post_init__(self) -> None:
        shape = (len(self.user_index), len(self.item_index))
        if self.matrix.shape != shape:
            raise ValueError(
                f"Interactions: matrix shape {self.matrix.shape} does not match the id maps "
                f"({shape[0]} users x {shape[1]} items)."
            )
        if not (self.user_index.is_unique and self.item_index.is_unique):
            raise ValueError("Interactions: user_index and item_index must hold unique ids.")

    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return len(self.user_index)

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return len(self.item_index)

    def user_positions(self, user_ids: Sequence[Any] | pd.Index | np.ndarray) -> np.ndarray:
        """Row of each user id, -1 for ids not in the matrix."""
        return self.user_index.get_indexer(pd.Index(user_ids))

    def item_positions(self, item_ids: Sequence[Any] | pd.Index | np.ndarray) -> np.ndarray:
        """Column of each item id, -1 for ids not in the matrix."""
        return self.item_index.get_indexer(pd.Index(item_ids))

    def to_frame(self) -> pd.DataFrame:
        """The non-zero cells as a long frame ``user_id, item_id, weight`` (sorted by user, item)."""
        coo = self.matrix.tocoo()
        return pd.DataFrame(
            {
                "user_id": self.user_index.take(coo.row),
                "item_id": self.item_index.take(coo.col),
                "weight": coo.data,
            }
        )


def interactions_from_frame(
    frame: pd.DataFrame,
    user_col: str = "user_id",
    item_col: str = "item_id",
    weight_col: str | None = None,
    time_col: str | None = None,
    half_life: float | None = None,
    as_of: Any = None,
) -> Interactions:
    """Build an :class:`Interactions` matrix from any long table of (user, item[, weight, time]) rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per interaction; rows with a null user or item are ignored.
    user_col, item_col : str
        Id columns.
    weight_col : str, optional
        Non-negative weight of each row (default: every row weighs 1). Duplicate pairs are summed.
    time_col : str, optional
        Time of each row: timestamps (then times are in days) or plain numbers (any unit, e.g. the
        10-minute steps of the Twitch data). Needed for ``half_life`` and ``as_of``.
    half_life : float, optional
        Exponential time decay: a row ``half_life`` time units older than ``as_of`` weighs half.
    as_of : timestamp or number, optional
        Reference time of the decay; rows after it are dropped. Default: the latest time in ``frame``.

    Returns
    -------
    Interactions
        Users and items in sorted id order; rows of zero weight do not create users or items.

    Raises
    ------
    DatasetError
        If a named column is missing or weights are negative / not numbers.
    """
    needed = [user_col, item_col] + [c for c in (weight_col, time_col) if c is not None]
    _require_columns(frame, needed, "interactions frame")
    if half_life is not None:
        _check_float(half_life, "half_life", "interactions_from_frame", 0.0, math.inf, low_open=True)
        if time_col is None:
            raise ValueError("The 'half_life' parameter of interactions_from_frame needs 'time_col' to be set.")
    if as_of is not None and time_col is None:
        raise ValueError("The 'as_of' parameter of interactions_from_frame needs 'time_col' to be set.")
    keep = (frame[user_col].notna() & frame[item_col].notna()).to_numpy(copy=True)
    weights = _row_weights(frame, weight_col)
    if time_col is not None and (half_life is not None or as_of is not None):
        times = _to_days(frame[time_col])
        keep &= ~np.isnan(times)
        if as_of is not None:
            reference = _scalar_to_days(as_of, frame[time_col])
        else:
            reference = float(times[keep].max()) if keep.any() else 0.0
        keep &= times <= reference
        if half_life is not None:
            weights = weights * np.exp2(-np.where(keep, reference - times, 0.0) / half_life)
    keep &= weights > 0
    return _interactions_from_arrays(frame[user_col][keep], frame[item_col][keep], weights[keep])


def _row_weights(frame: pd.DataFrame, weight_col: str | None) -> np.ndarray:
    """The weight column as float64 (ones when absent), validated to be finite and >= 0."""
    if weight_col is None:
        return np.ones(len(frame), dtype=np.float64)
    weights = pd.to_numeric(frame[weight_col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        examples = frame[weight_col][bad].head(5).tolist()
        raise DatasetError(
            f"interactions frame: column '{weight_col}' has {int(bad.sum())} values that are not finite "
            f"numbers >= 0 (e.g. {examples})."
        )
    return weights


def _interactions_from_arrays(users: pd.Series, items: pd.Series, weights: np.ndarray) -> Interactions:
    """Sum weights per (user, item) into a CSR matrix with sorted id maps."""
    user_codes, user_ids = pd.factorize(users, sort=True)
    item_codes, item_ids = pd.factorize(items, sort=True)
    matrix = sp.csr_matrix((weights.astype(np.float64), (user_codes, item_codes)), shape=(len(user_ids), len(item_ids)))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return Interactions(matrix, pd.Index(user_ids, name="user_id"), pd.Index(item_ids, name="item_id"))


def build_interactions(
    events: pd.DataFrame,
    weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
    half_life_days: float | None = None,
    as_of: Any = None,
    entity: str = "item_id",
) -> Interactions:
    """Build the user x entity implicit-feedback matrix from canonical events.

    Each event weighs ``weights[event_type]`` (0 for types not listed, see
    :data:`DEFAULT_EVENT_WEIGHTS`), optionally times ``0.5 ** (age_days / half_life_days)``;
    weights of the same (user, entity) pair are summed.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``ts``, ``event_type`` and the ``entity`` column).
    weights : mapping, default DEFAULT_EVENT_WEIGHTS
        Weight per canonical event type.
    half_life_days : float, optional
        Half-life of the exponential time decay in days (None: no decay).
    as_of : timestamp, optional
        Reference time: later events are dropped, ages are measured from it. Default: latest event.
    entity : str, default "item_id"
        Events column that forms the matrix columns (e.g. ``"room_id"``); events where it is null
        are ignored.

    Returns
    -------
    Interactions

    Examples
    --------
    >>> inter = build_interactions(events, half_life_days=30)  # doctest: +SKIP
    >>> inter.matrix.shape  # doctest: +SKIP
    (943, 1682)
    """
    table_weights = _check_weights(weights, "build_interactions")
    time_needed = half_life_days is not None or as_of is not None
    _require_columns(events, ["user_id", "event_type", entity] + (["ts"] if time_needed else []), "events")
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"],
            "item_id": events[entity],
            "weight": events["event_type"].map(table_weights).astype("float64").fillna(0.0),
        }
    )
    if time_needed:
        frame["ts"] = _utc_series(events["ts"])
    as_of_stamp = None if as_of is None else _utc_timestamp(as_of, "as_of", "build_interactions")
    return interactions_from_frame(
        frame,
        weight_col="weight",
        time_col="ts" if time_needed else None,
        half_life=half_life_days,
        as_of=as_of_stamp,
    )


def _check_interactions(interactions: Any, owner: str) -> Interactions:
    """Raise a TypeError unless ``interactions`` is a non-empty :class:`Interactions`."""
    if not isinstance(interactions, Interactions):
        raise TypeError(
            f"{owner}.fit expects an Interactions object (see build_interactions). Got {type(interactions).__name__}."
        )
    if interactions.matrix.nnz == 0:
        raise ValueError(f"{owner}.fit: the interaction matrix is empty (no user has a positive weight).")
    return interactions


# ---------------------------------------------------------------------------------------------
# Top-k selection and sparse helpers
# ---------------------------------------------------------------------------------------------


def select_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the k best scores of each row, best first.

    Ties are broken by column position (smaller first), so the result does not depend on the
    partition algorithm. ``-inf`` marks excluded cells; they can appear at the end of a row when
    fewer than k cells are finite. Cost: one ``argpartition`` and one comparison pass over the
    array; rows whose k-th value is tied across the cut are resolved exactly.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape (n_rows, n_columns), no NaN.
    k : int
        Number of columns to keep (capped at n_columns).

    Returns
    -------
    columns, values : numpy.ndarray
        Shape (n_rows, min(k, n_columns)).
    """
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff == 0 or n_rows == 0:
        return np.zeros((n_rows, k_eff), dtype=np.int64), np.zeros((n_rows, k_eff), dtype=scores.dtype)
    if k_eff < n_cols:
        columns = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        kth = np.take_along_axis(scores, columns, axis=1).min(axis=1, keepdims=True)
        chosen_at_kth = (np.take_along_axis(scores, columns, axis=1) == kth).sum(axis=1)
        ambiguous = (scores == kth).sum(axis=1) != chosen_at_kth
        if ambiguous.any():
            columns[ambiguous] = _first_columns_at_cut(scores[ambiguous], kth[ambiguous], k_eff)
        columns = np.sort(columns, axis=1)
    else:
        columns = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    values = np.take_along_axis(scores, columns, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(values, order, axis=1)


def _first_columns_at_cut(scores: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    """Columns above the k-th value plus the leftmost columns equal to it, k per row."""
    above = scores > kth
    at = scores == kth
    slots = k - above.sum(axis=1, keepdims=True)
    chosen = above | (at & (np.cumsum(at, axis=1) <= slots))
    return np.nonzero(chosen)[1].reshape(len(scores), k)


def _top_k_similarity(vectors: sp.csr_matrix, n_neighbors: int, shrink: float, cosine: bool) -> sp.csr_matrix:
    """Each row's ``n_neighbors`` most similar other rows (positive similarities only), in blocks.

    Similarity = ``dot / (|a| |b| + shrink)`` with ``cosine`` else the plain dot product. A block
    of rows is compared with all rows as one dense array, so memory stays at SCORE_BATCH_CELLS.
    """
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    n_rows = vectors.shape[0]
    transposed = vectors.T.tocsr()
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    rows, cols, vals = [], [], []
    for batch in _batches(n_rows, n_rows):
        block = np.arange(batch.start, batch.stop)
        similarity = (vectors[batch] @ transposed).toarray()
        if cosine:
            denominator = np.outer(norms[batch], norms) + shrink
            similarity = np.divide(similarity, denominator, out=np.zeros_like(similarity), where=denominator > 0)
        similarity[np.arange(len(block)), block] = 0.0
        columns, values = select_top_k(similarity, n_neighbors)
        keep = (values > 0).ravel()
        rows.append(np.repeat(block, columns.shape[1])[keep])
        cols.append(columns.ravel()[keep])
        vals.append(values.ravel()[keep])
    result = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n_rows))
    result.sort_indices()
    return result


def _row_normalize(matrix: sp.spmatrix, norm: str) -> sp.csr_matrix:
    """Divide each row by its sum (``"l1"``), max (``"max"``) or Euclidean norm (``"l2"``); zero rows stay 0."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    if norm == "l1":
        denominator = np.asarray(matrix.sum(axis=1)).ravel()
    elif norm == "max":
        denominator = matrix.max(axis=1).toarray().ravel()
    else:
        denominator = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def bm25_weight(matrix: sp.spmatrix, k1: float = 100.0, b: float = 0.8) -> sp.csr_matrix:
    """BM25-weight the rows of a documents x terms matrix (as ``implicit.nearest_neighbours.bm25_weight``).

    ``w = x (k1 + 1) / (k1 (1 - b + b len / avg_len) + x) * idf``, ``idf = ln(N) - ln(1 + df)``
    with N = number of rows and df = number of rows where the term (column) occurs.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        Documents (rows) x terms (columns); for item-based CF the rows are items, the terms users.
    k1, b : float
        BM25 saturation and length-normalization parameters (``implicit``'s defaults).

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    coo = sp.coo_matrix(matrix, dtype=np.float64)
    n_docs = float(coo.shape[0])
    idf = np.log(n_docs) - np.log1p(np.bincount(coo.col, minlength=coo.shape[1]))
    lengths = np.asarray(coo.sum(axis=1)).ravel()
    average = lengths.mean() if lengths.size else 1.0
    length_norm = (1.0 - b) + b * lengths / (average if average > 0 else 1.0)
    data = coo.data * (k1 + 1.0) / (k1 * length_norm[coo.row] + coo.data) * idf[coo.col]
    return sp.csr_matrix((data, (coo.row, coo.col)), shape=coo.shape)


def _batches(n_rows: int, width: int) -> Iterator[slice]:
    """Slices over ``n_rows`` so that a dense block of ``width`` columns stays near SCORE_BATCH_CELLS."""
    size = max(1, SCORE_BATCH_CELLS // max(width, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _selection_matrix(positions: np.ndarray, n_source: int) -> sp.csr_matrix:
    """Sparse (n_source x len(positions)) 0/1 matrix picking column j = source ``positions[j]`` (-1: zeros)."""
    known = positions >= 0
    return sp.csr_matrix(
        (np.ones(int(known.sum())), (positions[known], np.flatnonzero(known))), shape=(n_source, len(positions))
    )


def _empty_recommendations() -> pd.DataFrame:
    """A recommendation frame without rows."""
    return pd.DataFrame(
        {"user_id": pd.Series([], dtype=object), "item_id": pd.Series([], dtype=object), "rank": [], "score": []}
    ).astype({"rank": "int64", "score": "float64"})


# ---------------------------------------------------------------------------------------------
# Recommenders
# ---------------------------------------------------------------------------------------------


class BaseRecommender(BaseEstimator, ABC):
    """Shared fit / score / recommend logic of the matrix-based recommenders.

    Subclasses implement ``_fit`` (learn from ``interactions_``) and ``_score_rows`` (dense scores
    of a block of training-user rows against the catalog ``item_index_``).

    Fitted attributes: ``interactions_`` (the training :class:`Interactions`) and ``item_index_``
    (the ids the model can recommend, in column order).
    """

    def fit(self, interactions: Interactions) -> BaseRecommender:
        """Learn from a user x item :class:`Interactions` matrix.

        Parameters
        ----------
        interactions : Interactions
            Training interactions (see :func:`build_interactions`).

        Returns
        -------
        self
        """
        self.interactions_ = _check_interactions(interactions, type(self).__name__)
        self.item_index_ = self._build_catalog(interactions)
        self._fit(interactions)
        return self

    def _build_catalog(self, interactions: Interactions) -> pd.Index:
        """The recommendable item ids; the first columns must be the interaction matrix's items."""
        return interactions.item_index

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None:
        """Learn the model's fitted attributes."""

    @abstractmethod
    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Fresh dense (len(rows), n_catalog) score array of training-user rows."""

    def _user_rows(self, user_ids: Sequence[Any] | pd.Index | np.ndarray | None) -> np.ndarray:
        """Training rows of the requested users (unique, first-occurrence order; unknown ids dropped)."""
        if user_ids is None:
            return np.arange(self.interactions_.n_users)
        positions = self.interactions_.user_positions(pd.Index(user_ids).unique())
        return positions[positions >= 0]

    def _candidate_mask(self, items: Sequence[Any] | pd.Index | np.ndarray | None) -> np.ndarray | None:
        """Boolean mask over the catalog of the allowed items (None: all)."""
        if items is None:
            return None
        positions = self.item_index_.get_indexer(pd.Index(items))
        mask = np.zeros(len(self.item_index_), dtype=bool)
        mask[positions[positions >= 0]] = True
        return mask

    def _mask_seen(self, scores: np.ndarray, rows: np.ndarray) -> None:
        """Set the scores of items each user interacted with in training to -inf (in place)."""
        seen = self.interactions_.matrix[rows]
        seen_rows = np.repeat(np.arange(len(rows)), np.diff(seen.indptr))
        scores[seen_rows, seen.indices] = -np.inf

    def _batch_width(self) -> int:
        """Widest dense array (columns) ``_score_rows`` allocates per user."""
        return len(self.item_index_)

    def score_users(self, user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None) -> pd.DataFrame:
        """Dense scores of users (rows) against the whole catalog (columns), seen items included.

        Meant for inspection of small sets of users; :meth:`recommend` scores in batches.

        Parameters
        ----------
        user_ids : sequence, optional
            Training users to score (unknown ids are dropped). Default: all training users.

        Returns
        -------
        pandas.DataFrame
            Index = user ids, columns = ``item_index_``.
        """
        check_is_fitted(self, "interactions_")
        rows = self._user_rows(user_ids)
        scores = self._score_rows(rows) if len(rows) else np.zeros((0, len(self.item_index_)))
        return pd.DataFrame(scores, index=self.interactions_.user_index.take(rows), columns=self.item_index_)

    def recommend(
        self,
        user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[Any] | pd.Index | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Top-k recommendations of each requested user.

        Parameters
        ----------
        user_ids : sequence, optional
            Users to recommend for; ids unknown to the training data are skipped (use
            :class:`HybridRecommender` to serve them). Default: every training user.
        k : int, default 10
            List length (shorter when fewer items are eligible).
        exclude_seen : bool, default True
            Drop items the user interacted with in the training data.
        items : sequence, optional
            Restrict the candidates to these item ids (e.g. the items on sale in a room).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, rank, score``: rank 1 = best, users in request order.
        """
        check_is_fitted(self, "interactions_")
        k = _check_int(k, "k", f"{type(self).__name__}.recommend")
        rows = self._user_rows(user_ids)
        candidates = self._candidate_mask(items)
        parts = []
        for batch in _batches(len(rows), self._batch_width()):
            block = rows[batch]
            scores = self._score_rows(block)
            if exclude_seen:
                self._mask_seen(scores, block)
            if candidates is not None:
                scores[:, ~candidates] = -np.inf
            columns, values = select_top_k(scores, k)
            parts.append(self._recommendation_frame(block, columns, values))
        if not parts:
            return _empty_recommendations()
        return pd.concat(parts, ignore_index=True)

    def _recommendation_frame(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
        """Long frame of a block's top-k selection, -inf cells dropped."""
        n_rows, width = columns.shape
        valid = np.isfinite(values).ravel()
        return pd.DataFrame(
            {
                "user_id": self.interactions_.user_index.take(np.repeat(rows, width)[valid]),
                "item_id": self.item_index_.take(columns.ravel()[valid]),
                "rank": np.tile(np.arange(1, width + 1, dtype=np.int64), n_rows)[valid],
                "score": values.ravel()[valid].astype(np.float64),
            }
        )


class PopularityRecommender(BaseRecommender):
    """Recommend the most popular items (the same ranking for every user).

    Parameters
    ----------
    by : {"users", "weight"}, default "users"
        Popularity = number of distinct training users of the item, or the item's summed weight.

    Attributes
    ----------
    popularity_ : numpy.ndarray
        Popularity of each catalog item.
    """

    def __init__(self, by: str = "users") -> None:
        self.by = by

    def _fit(self, interactions: Interactions) -> None:
        _check_choice(self.by, "by", "PopularityRecommender", ("users", "weight"))
        matrix = interactions.matrix
        if self.by == "users":
            self.popularity_ = np.diff(matrix.tocsc().indptr).astype(np.float64)
        else:
            self.popularity_ = np.asarray(matrix.sum(axis=0)).ravel()

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(rows), 1))

    def top_items(self, k: int = 10, items: Sequence[Any] | pd.Index | np.ndarray | None = None) -> pd.DataFrame:
        """The non-personalized top-k list ``item_id, rank, score`` (no user history used).

        Parameters
        ----------
        k : int, default 10
            List length.
        items : sequence, optional
            Restrict to these item ids.

        Returns
        -------
        pandas.DataFrame
        """
        check_is_fitted(self, "popularity_")
        k = _check_int(k, "k", "PopularityRecommender.top_items")
        scores = self.popularity_[None, :].copy()
        candidates = self._candidate_mask(items)
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        columns, values = select_top_k(scores, k)
        valid = np.isfinite(values[0])
        return pd.DataFrame(
            {
                "item_id": self.item_index_.take(columns[0][valid]),
                "rank": np.arange(1, int(valid.sum()) + 1, dtype=np.int64),
                "score": values[0][valid].astype(np.float64),
            }
        )


class ItemKNNRecommender(BaseRecommender):
    """Item-based collaborative filtering with top-K neighbours.

    ``score(u, i) = sum_j x_uj * s_ji`` over the items j of user u, where row j of the similarity
    keeps only item j's ``n_neighbors`` most similar items (as in ``implicit``'s ItemItemRecommender).

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours kept per item (``implicit``'s default K).
    similarity : {"cosine", "bm25"}, default "cosine"
        ``"cosine"``: cosine of the item columns, ``dot / (|a| |b| + shrink)``. ``"bm25"``: dot product
        of the BM25-weighted item x user rows (:func:`bm25_weight`), as ``implicit``'s BM25Recommender.
    shrink : float, default 0.0
        Cosine shrinkage term (damps similarities that rest on few common users).
    bm25_k1, bm25_b : float
        BM25 parameters (``implicit``'s defaults 100 and 0.8).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        Pruned item x item similarity (row j = the positive similarities of item j's neighbours).
    """

    def __init__(
        self,
        n_neighbors: int = 20,
        similarity: str = "cosine",
        shrink: float = 0.0,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.similarity = similarity
        self.shrink = shrink
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _fit(self, interactions: Interactions) -> None:
        owner = "ItemKNNRecommender"
        n_neighbors = _check_int(self.n_neighbors, "n_neighbors", owner)
        _check_choice(self.similarity, "similarity", owner, ("cosine", "bm25"))
        shrink = _check_float(self.shrink, "shrink", owner, 0.0, math.inf)
        item_users = interactions.matrix.T.tocsr()
        if self.similarity == "cosine":
            self.similarity_ = _top_k_similarity(item_users, n_neighbors, shrink, cosine=True)
        else:
            weighted = bm25_weight(item_users, self.bm25_k1, self.bm25_b)
            self.similarity_ = _top_k_similarity(weighted, n_neighbors, 0.0, cosine=False)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.interactions_.matrix[rows] @ self.similarity_).toarray()


class UserKNNRecommender(BaseRecommender):
    """User-based collaborative filtering with top-K neighbour users.

    ``score(u, i) = sum_{v in N_K(u)} cos(u, v) * x_vi`` where N_K(u) are the ``n_neighbors`` users
    most similar to u (cosine of the user rows, ``dot / (|u| |v| + shrink)``, u itself excluded).

    Parameters
    ----------
    n_neighbors : int, default 50
        Neighbour users per user.
    shrink : float, default 0.0
        Cosine shrinkage term.

    Attributes
    ----------
    user_norms_ : numpy.ndarray
        Euclidean norm of each training user's row.
    item_users_ : scipy.sparse.csr_matrix
        The transposed training matrix (items x users), for the user-user dot products.
    """

    def __init__(self, n_neighbors: int = 50, shrink: float = 0.0) -> None:
        self.n_neighbors = n_neighbors
        self.shrink = shrink

    def _fit(self, interactions: Interactions) -> None:
        _check_int(self.n_neighbors, "n_neighbors", "UserKNNRecommender")
        _check_float(self.shrink, "shrink", "UserKNNRecommender", 0.0, math.inf)
        matrix = interactions.matrix
        self.user_norms_ = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.item_users_ = matrix.T.tocsr()

    def _batch_width(self) -> int:
        return max(self.interactions_.n_users, len(self.item_index_))

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        matrix = self.interactions_.matrix
        dots = (matrix[rows] @ self.item_users_).toarray()
        denominator = np.outer(self.user_norms_[rows], self.user_norms_) + self.shrink
        similarity = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
        similarity[np.arange(len(rows)), rows] = 0.0
        neighbours, weights = select_top_k(similarity, self.n_neighbors)
        width = neighbours.shape[1]
        sparse_similarity = sp.csr_matrix(
            (weights.ravel(), (np.repeat(np.arange(len(rows)), width), neighbours.ravel())),
            shape=(len(rows), self.interactions_.n_users),
        )
        return (sparse_similarity @ matrix).toarray()


def _implicit_models() -> tuple[type, type]:
    """Import ``implicit``'s CPU ALS and BPR classes (OPENBLAS_NUM_THREADS=1 set first if unset)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    return AlternatingLeastSquares, BayesianPersonalizedRanking


class _FactorRecommender(BaseRecommender):
    """Scores = user factors x item factors (the dot product ``implicit`` ranks by)."""

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        # float64 products: float32 sums differ in the last bits between BLAS kernels (CPUs), which
        # would flip near-ties in the rankings
        return self.user_factors_[rows].astype(np.float64) @ self.item_factors_.T.astype(np.float64)

    def _train_implicit(self, model: Any, interactions: Interactions) -> None:
        """Fit an ``implicit`` model on the user_items CSR matrix with single-threaded BLAS."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model.fit(sp.csr_matrix(interactions.matrix, dtype=np.float32), show_progress=False)
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)


class ALSRecommender(_FactorRecommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with ``implicit.cpu.als``.

    The confidence of a cell is ``1 + alpha * weight``; ``implicit`` fits on the users x items
    ``user_items`` CSR matrix (rows = users), which is :attr:`Interactions.matrix` as is.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions.
    regularization : float, default 10.0
        L2 penalty. ``implicit`` does not scale it by the number of interactions, so it must grow
        with the data: on MovieLens 100k (75 % train, 32-64 factors) values 3-10 give
        precision@10 0.36-0.43, while 0.05-1 overfit (0.30-0.34).
    alpha : float, default 1.0
        Confidence scaling of the weights.
    iterations : int, default 15
        ALS sweeps.
    random_state : int, default SEED
        Seed of the factor initialization.
    num_threads : int, default 0
        Threads of ``implicit`` (0 = all cores). Each user's / item's solve is independent, so the
        result does not depend on the thread count. Factors are float64: in float32 the BLAS kernel
        of the CPU changes the last bits, which flips near-ties in the rankings between machines.

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        Learned factors (float64).
    model_ : implicit.cpu.als.AlternatingLeastSquares
        The fitted ``implicit`` model.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int | None = SEED,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        owner = "ALSRecommender"
        _check_int(self.factors, "factors", owner)
        _check_int(self.iterations, "iterations", owner)
        _check_int(self.num_threads, "num_threads", owner, minimum=0)
        _check_float(self.regularization, "regularization", owner, 0.0, math.inf)
        _check_float(self.alpha, "alpha", owner, 0.0, math.inf, low_open=True)
        als_class, _ = _implicit_models()
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model = als_class(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
                dtype=np.float64,
            )
        self._train_implicit(model, interactions)


class BPRRecommender(_FactorRecommender):
    """Bayesian Personalized Ranking (Rendle et al. 2009) with ``implicit.cpu.bpr``.

    BPR uses the matrix's non-zero pattern only (weights are ignored). ``implicit``'s SGD is
    Hogwild-parallel, which makes results depend on thread timing, so ``num_threads`` defaults to 1
    to keep runs reproducible.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions (``implicit`` adds one item-bias factor).
    learning_rate : float, default 0.01
        SGD step.
    regularization : float, default 0.01
        L2 penalty.
    iterations : int, default 60
        Epochs over the positives (``implicit``'s BPR overfits small data with more epochs).
    random_state : int, default SEED
        Seed of initialization and sampling.
    num_threads : int, default 1
        Threads of ``implicit`` (more is faster but not reproducible).

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        Learned factors (float32, including the bias column).
    model_ : implicit.cpu.bpr.BayesianPersonalizedRanking
        The fitted ``implicit`` model.
    """

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 60,
        random_state: int | None = SEED,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        owner = "BPRRecommender"
        _check_int(self.factors, "factors", owner)
        _check_int(self.iterations, "iterations", owner)
        _check_int(self.num_threads, "num_threads", owner, minimum=0)
        _check_float(self.learning_rate, "learning_rate", owner, 0.0, math.inf, low_open=True)
        _check_float(self.regularization, "regularization", owner, 0.0, math.inf)
        _, bpr_class = _implicit_models()
        model = bpr_class(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=self.num_threads,
        )
        self._train_implicit(model, interactions)


# ---------------------------------------------------------------------------------------------
# Content features and content-based recommendation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFeatures:
    """L2-normalized TF-IDF vectors of items.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Shape (n_items, n_tokens); rows have unit norm (all-zero for items without features).
    item_index : pandas.Index
        Row position -> item id.
    vocabulary : pandas.Index
        Column position -> token (``"category=..."``, ``"brand=..."``, ``"tag=..."``).
    """

    matrix: sp.csr_matrix
    item_index: pd.Index
    vocabulary: pd.Index

    def rows_for(self, item_ids: Sequence[Any] | pd.Index | np.ndarray) -> sp.csr_matrix:
        """Feature rows aligned to ``item_ids`` (zero rows for unknown ids)."""
        positions = self.item_index.get_indexer(pd.Index(item_ids))
        return sp.csr_matrix(_selection_matrix(positions, len(self.item_index)).T @ self.matrix)


def build_item_features(
    items: pd.DataFrame,
    fields: Sequence[str] = ("category", "brand", "tags"),
    tag_separator: str = "|",
) -> ItemFeatures:
    """TF-IDF item vectors over categorical fields and ``|``-separated tags.

    Each non-null field value becomes a token ``"<field>=<value>"`` (each tag of ``tags`` a token
    ``"tag=<tag>"``); token counts are weighted by scikit-learn's smoothed idf
    ``ln((1 + n) / (1 + df)) + 1`` and rows are L2-normalized, so the dot product of two items is
    their cosine similarity.

    Parameters
    ----------
    items : pandas.DataFrame
        Canonical items table (``item_id`` plus the fields).
    fields : sequence of str
        Columns to use; ``"tags"`` is split on ``tag_separator``.
    tag_separator : str, default "|"
        Separator of the tags column.

    Returns
    -------
    ItemFeatures

    Raises
    ------
    DatasetError
        If a column is missing or item ids repeat.
    """
    _require_columns(items, ["item_id", *fields], "items")
    if items["item_id"].isna().any():
        raise DatasetError(f"items: column 'item_id' has {int(items['item_id'].isna().sum())} null values.")
    duplicated = items["item_id"].duplicated()
    if duplicated.any():
        raise DatasetError(
            f"items: column 'item_id' has {int(duplicated.sum())} repeated ids "
            f"(e.g. {items['item_id'][duplicated].head(5).tolist()}); ids must be unique."
        )
    items = items.reset_index(drop=True)
    item_index = pd.Index(items["item_id"].to_numpy(), name="item_id")
    positions, tokens = [], []
    for field in fields:
        values = items[field].astype("str").where(items[field].notna())
        if field == "tags":
            values = values.str.split(tag_separator).explode().str.strip()
            prefix = "tag="
        else:
            prefix = f"{field}="
        values = values[values.notna() & (values != "")]
        positions.append(values.index.to_numpy(dtype=np.int64))
        tokens.append(prefix + values.astype("str").to_numpy(dtype=object))
    all_positions = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    all_tokens = np.concatenate(tokens) if tokens else np.zeros(0, dtype=object)
    token_codes, vocabulary = pd.factorize(all_tokens, sort=True)
    counts = sp.csr_matrix(
        (np.ones(len(token_codes)), (all_positions, token_codes)), shape=(len(item_index), len(vocabulary))
    )
    counts.sum_duplicates()
    matrix = TfidfTransformer(norm="l2", smooth_idf=True).fit_transform(counts) if counts.nnz else counts
    return ItemFeatures(sp.csr_matrix(matrix, dtype=np.float64), item_index, pd.Index(vocabulary, name="token"))


class ContentBasedRecommender(BaseRecommender):
    """Content-based recommendation from item attributes (works for items nobody has interacted with).

    Item vectors come from :func:`build_item_features`; a user's profile is the interaction-weighted
    mean of the vectors of the items they interacted with, and ``score(u, i) = profile_u . v_i``.
    The catalog is the interaction matrix's items followed by the items of ``items`` that have no
    interactions (cold items), so cold items can be recommended.

    Parameters
    ----------
    items : pandas.DataFrame
        Canonical items table (the model's side information).
    fields : sequence of str, default ("category", "brand", "tags")
        Item columns to use.

    Attributes
    ----------
    features_ : ItemFeatures
        Item vectors.
    item_vectors_ : scipy.sparse.csr_matrix
        Feature rows aligned to ``item_index_``.
    profiles_ : scipy.sparse.csr_matrix
        User profiles (n_users x n_tokens).
    """

    def __init__(self, items: pd.DataFrame, fields: Sequence[str] = ("category", "brand", "tags")) -> None:
        self.items = items
        self.fields = fields

    def _build_catalog(self, interactions: Interactions) -> pd.Index:
        _require_columns(self.items, ["item_id"], "items")
        known = interactions.item_index
        extra = pd.Index(self.items["item_id"].dropna().unique()).difference(known, sort=False)
        return known.append(pd.Index(np.sort(extra.to_numpy()))).rename("item_id")

    def _fit(self, interactions: Interactions) -> None:
        self.features_ = build_item_features(self.items, tuple(self.fields))
        self.item_vectors_ = self.features_.rows_for(self.item_index_)
        interacted_vectors = self.item_vectors_[: interactions.n_items]
        self.profiles_ = sp.csr_matrix(_row_normalize(interactions.matrix, "l1") @ interacted_vectors)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.profiles_[rows] @ self.item_vectors_.T).toarray()


class RepeatAwareRecommender(BaseRecommender):
    """Repeat-consumption baseline: the user's own past items first, then popular ones.

    ``score(u, i) = 1 + x_ui / max_j x_uj`` for items the user interacted with (so in (1, 2]) and
    ``popularity_i / max popularity`` (in [0, 1]) for the others. Built on a time-decayed matrix
    (``build_interactions(..., half_life_days=...)``) ``x_ui`` is a recency-weighted frequency, the
    classic repeat-consumption signal for live streams (users return to the anchors they watch).
    Use it with ``exclude_seen=False``.

    Parameters
    ----------
    fallback : {"popularity", "none"}, default "popularity"
        How to rank items outside the user's history (``"none"``: they are not recommended).

    Attributes
    ----------
    popularity_ : numpy.ndarray
        Distinct users per item, scaled to [0, 1].
    history_ : scipy.sparse.csr_matrix
        Training matrix with each row divided by its maximum.
    """

    def __init__(self, fallback: str = "popularity") -> None:
        self.fallback = fallback

    def _fit(self, interactions: Interactions) -> None:
        _check_choice(self.fallback, "fallback", "RepeatAwareRecommender", ("popularity", "none"))
        counts = np.diff(interactions.matrix.tocsc().indptr).astype(np.float64)
        self.popularity_ = counts / counts.max()
        self.history_ = _row_normalize(interactions.matrix, "max")

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        if self.fallback == "popularity":
            scores = np.tile(self.popularity_, (len(rows), 1))
        else:
            scores = np.full((len(rows), len(self.item_index_)), -np.inf)
        history = self.history_[rows]
        history_rows = np.repeat(np.arange(len(rows)), np.diff(history.indptr))
        scores[history_rows, history.indices] = 1.0 + history.data
        return scores


class HybridRecommender(BaseEstimator):
    """Cold-start hybrid: CF for warm users, content or popularity for cold users and cold items.

    Rule, per requested user (activity = distinct training items of the user):

    1. activity >= ``min_user_interactions`` (warm): the CF model's list. If a content model is given
       and ``cold_item_slots`` > 0, the last ``cold_item_slots`` positions go to the user's best
       content-matching cold items (items of the content model's ``items`` table without training
       interactions, content score > 0); CF fills the rest.
    2. 1 <= activity < ``min_user_interactions`` (light): the content model's items with a positive
       score, then popular items (without a content model: popularity only).
    3. activity 0 (user unknown to the training data): the global popularity list.

    The ``source`` column of :meth:`recommend` says which rule produced each row.

    Parameters
    ----------
    cf : recommender, optional
        Collaborative model (default :class:`ALSRecommender`).
    content : ContentBasedRecommender, optional
        Content model for light users and cold items (None: popularity only).
    popularity : PopularityRecommender, optional
        Fallback model (default :class:`PopularityRecommender`).
    min_user_interactions : int, default 3
        Activity from which a user counts as warm.
    cold_item_slots : int, default 1
        Positions of a warm user's list reserved for cold items (needs ``content``).

    Attributes
    ----------
    cf_, content_, popularity_ : fitted clones of the models (``content_`` may be None)
    user_activity_ : numpy.ndarray
        Distinct training items per training user.
    cold_items_ : pandas.Index
        Item ids known only from the content model's items table.
    """

    def __init__(
        self,
        cf: BaseRecommender | None = None,
        content: ContentBasedRecommender | None = None,
        popularity: PopularityRecommender | None = None,
        min_user_interactions: int = 3,
        cold_item_slots: int = 1,
    ) -> None:
        self.cf = cf
        self.content = content
        self.popularity = popularity
        self.min_user_interactions = min_user_interactions
        self.cold_item_slots = cold_item_slots

    def fit(self, interactions: Interactions) -> HybridRecommender:
        """Fit the CF, content and popularity models on the same interactions.

        Parameters
        ----------
        interactions : Interactions

        Returns
        -------
        self
        """
        _check_interactions(interactions, "HybridRecommender")
        _check_int(self.min_user_interactions, "min_user_interactions", "HybridRecommender")
        _check_int(self.cold_item_slots, "cold_item_slots", "HybridRecommender", minimum=0)
        self.interactions_ = interactions
        self.cf_ = (clone(self.cf) if self.cf is not None else ALSRecommender()).fit(interactions)
        self.popularity_ = (clone(self.popularity) if self.popularity is not None else PopularityRecommender()).fit(
            interactions
        )
        self.content_ = clone(self.content).fit(interactions) if self.content is not None else None
        self.user_activity_ = np.diff(interactions.matrix.indptr)
        self.cold_items_ = (
            self.content_.item_index_[interactions.n_items :] if self.content_ is not None else pd.Index([])
        )
        return self

    def recommend(
        self,
        user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[Any] | pd.Index | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Top-k lists for any users, known or not (see the class docstring for the rule).

        Parameters
        ----------
        user_ids : sequence, optional
            Users (unknown ids allowed). Default: every training user.
        k : int, default 10
            List length.
        exclude_seen : bool, default True
            Drop items the user interacted with in training.
        items : sequence, optional
            Restrict the candidates to these item ids.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, rank, score, source`` (source in ``cf``, ``content``, ``popularity``).
        """
        check_is_fitted(self, "cf_")
        k = _check_int(k, "k", "HybridRecommender.recommend")
        requested = self.interactions_.user_index if user_ids is None else pd.Index(user_ids).unique()
        rows = self.interactions_.user_positions(requested)
        activity = np.where(rows >= 0, self.user_activity_[np.maximum(rows, 0)], 0)
        warm = requested[activity >= self.min_user_interactions]
        light = requested[(activity >= 1) & (activity < self.min_user_interactions)]
        cold = requested[activity == 0]
        parts = [
            self._recommend_warm(warm, k, exclude_seen, items),
            self._recommend_light(light, k, exclude_seen, items),
            self._recommend_cold(cold, k, items),
        ]
        non_empty = [p for p in parts if len(p)]
        if not non_empty:
            return _empty_recommendations().assign(source=pd.Series([], dtype="str"))
        result = pd.concat(non_empty, ignore_index=True)
        order = pd.Series(np.arange(len(requested)), index=requested)
        result["_order"] = order.reindex(result["user_id"]).to_numpy()
        result = result.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
        return result.reset_index(drop=True)

    def _recommend_warm(self, users: pd.Index, k: int, exclude_seen: bool, items: Any) -> pd.DataFrame:
        """CF lists with the last ``cold_item_slots`` positions given to content-matched cold items."""
        cf = self.cf_.recommend(users, k, exclude_seen, items).assign(source="cf")
        slots = min(self.cold_item_slots, k)
        if self.content_ is None or slots == 0 or len(self.cold_items_) == 0 or len(users) == 0:
            return cf
        cold_candidates = self.cold_items_ if items is None else self.cold_items_.intersection(pd.Index(items))
        cold = self.content_.recommend(users, slots, exclude_seen, cold_candidates)
        cold = cold[cold["score"] > 0].assign(source="content")
        n_cold = cold.groupby("user_id", sort=False).size()
        cf_room = k - n_cold.reindex(cf["user_id"]).fillna(0).to_numpy()
        combined = pd.concat([cf[cf["rank"].to_numpy() <= cf_room], cold], ignore_index=True)
        return _rerank_in_order(combined, users)

    def _recommend_light(self, users: pd.Index, k: int, exclude_seen: bool, items: Any) -> pd.DataFrame:
        """Content items with a positive score first, then popular items, up to k."""
        popular = self.popularity_.recommend(users, 2 * k, exclude_seen, items).assign(source="popularity")
        if self.content_ is None or len(users) == 0:
            return popular[popular["rank"] <= k]
        content = self.content_.recommend(users, k, exclude_seen, items)
        content = content[content["score"] > 0].assign(source="content")
        combined = pd.concat([content, popular], ignore_index=True)
        combined = combined.drop_duplicates(["user_id", "item_id"], keep="first")
        combined = _rerank_in_order(combined, users)
        return combined[combined["rank"] <= k]

    def _recommend_cold(self, users: pd.Index, k: int, items: Any) -> pd.DataFrame:
        """The global popularity list for every unknown user."""
        if len(users) == 0:
            return _empty_recommendations().assign(source=pd.Series([], dtype="str"))
        top = self.popularity_.top_items(k, items)
        frame = pd.DataFrame({"user_id": np.repeat(users.to_numpy(), len(top))})
        tiled = top.iloc[np.tile(np.arange(len(top)), len(users))].reset_index(drop=True)
        return pd.concat([frame, tiled], axis=1).assign(source="popularity")


def _rerank_in_order(frame: pd.DataFrame, users: pd.Index) -> pd.DataFrame:
    """Number rows 1..n per user in their current order within the user, users in ``users`` order."""
    order = pd.Series(np.arange(len(users)), index=users)
    frame = frame.assign(_order=order.reindex(frame["user_id"]).to_numpy())
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    frame["rank"] = frame.groupby("user_id", sort=False).cumcount().to_numpy(dtype=np.int64) + 1
    return frame


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
    mix = {
        name: _check_float(value, name, owner, 0.0, math.inf)
        for name, value in {
            "anchor_weight": anchor_weight,
            "category_weight": category_weight,
            "cf_weight": cf_weight,
            "popularity_weight": popularity_weight,
        }.items()
    }
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
    parts = []
    for batch in _batches(len(users), len(live)):
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
        parts.append(
            pd.DataFrame(
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
        )
    return pd.concat(parts, ignore_index=True)


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
    _require_columns(users, ["user_id", "consent_personalization"], "users")
    _require_columns(fallback_recs, ["item_id", "rank", "score"], "fallback_recs")
    if users["user_id"].duplicated().any():
        raise DatasetError("users: column 'user_id' has repeated ids; consent must be unique per user.")
    consent = users.set_index("user_id")["consent_personalization"].astype("boolean")
    requested = pd.Index(recs["user_id"].unique())
    flags = consent.reindex(requested).fillna(treat_missing_as_consent).to_numpy(dtype=bool)
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


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def temporal_split(
    events: pd.DataFrame,
    test_fraction: float | None = None,
    cutoff: Any = None,
    time_col: str = "ts",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split events at one global time: train = before the cutoff, test = at or after it.

    Parameters
    ----------
    events : pandas.DataFrame
        Rows with a time column.
    test_fraction : float, optional
        Share of rows (by time order) to put in the test set, in (0, 1); the cutoff is the time of
        the first test row, so rows tied with it also go to test.
    cutoff : timestamp or number, optional
        Explicit cutoff time. Exactly one of ``test_fraction`` and ``cutoff`` must be given.
    time_col : str, default "ts"
        Time column.

    Returns
    -------
    train, test : pandas.DataFrame
    """
    owner = "temporal_split"
    _require_columns(events, [time_col], "events")
    if (test_fraction is None) == (cutoff is None):
        raise ValueError(f"{owner} needs exactly one of 'test_fraction' and 'cutoff'. Got both or neither.")
    times = events[time_col]
    if test_fraction is not None:
        fraction = _check_float(test_fraction, "test_fraction", owner, 0.0, 1.0, low_open=True)
        if fraction >= 1.0:
            raise ValueError(f"The 'test_fraction' parameter of {owner} must be < 1. Got {test_fraction!r} instead.")
        ordered = np.sort(_to_days(times))
        position = min(len(ordered) - 1, int(math.floor(len(ordered) * (1.0 - fraction))))
        is_test = _to_days(times) >= ordered[position]
    else:
        is_test = _to_days(times) >= _scalar_to_days(cutoff, times)
    return events[~is_test], events[is_test]


def stratified_random_split(
    data: pd.DataFrame,
    test_size: float = 0.25,
    random_state: int | None = SEED,
    user_col: str = "user_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split, as Microsoft Recommenders' ``python_stratified_split``.

    Each user's rows are shuffled; a row goes to train when its position / the user's row count
    is <= 1 - test_size, so every user keeps about (1 - test_size) of their rows in train (a user
    with a single row lands in test, as in the reference).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per interaction.
    test_size : float, default 0.25
        Share of each user's rows that goes to test, in (0, 1).
    random_state : int, optional
        Seed (numpy ``default_rng``).
    user_col : str, default "user_id"
        User column.

    Returns
    -------
    train, test : pandas.DataFrame
        Rows of ``data`` in their original order.
    """
    _require_columns(data, [user_col], "data")
    test_size = _check_float(test_size, "test_size", "stratified_random_split", 0.0, 1.0, low_open=True)
    if test_size >= 1.0:
        raise ValueError(f"The 'test_size' parameter of stratified_random_split must be < 1. Got {test_size!r}.")
    if data[user_col].isna().any():
        raise DatasetError(f"data: column '{user_col}' has {int(data[user_col].isna().sum())} null values.")
    codes, _ = pd.factorize(data[user_col], sort=True)
    noise = np.random.default_rng(random_state).random(len(data))
    order = np.lexsort((noise, codes))
    sorted_codes = codes[order]
    rank = np.arange(len(data)) - np.searchsorted(sorted_codes, sorted_codes, side="left") + 1
    share = np.empty(len(data), dtype=np.float64)
    share[order] = rank / np.bincount(codes)[sorted_codes]
    in_train = share <= 1.0 - test_size
    return data[in_train], data[~in_train]


# ---------------------------------------------------------------------------------------------
# Ranking metrics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TopLists:
    """The first k rows of each recommendation list, as integer codes sorted by (list, position)."""

    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    user_ids: pd.Index
    item_ids: pd.Index


def _top_lists(recs: pd.DataFrame, k: int) -> _TopLists:
    """Encode the first k rows by ``rank`` of each user's list (positions 1..k; gaps in rank closed)."""
    _require_columns(recs, ["user_id", "item_id", "rank"], "recs")
    user_codes, user_ids = pd.factorize(recs["user_id"])
    rank = pd.to_numeric(recs["rank"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.inf)
    order = np.lexsort((rank, user_codes))
    order = order[user_codes[order] >= 0]
    sorted_users = user_codes[order]
    position = np.arange(len(order)) - np.searchsorted(sorted_users, sorted_users, side="left") + 1
    keep = position <= k
    item_codes, item_ids = pd.factorize(recs["item_id"].iloc[order[keep]])
    valid = item_codes >= 0
    return _TopLists(
        sorted_users[keep][valid],
        item_codes[valid],
        position[keep][valid],
        pd.Index(user_ids),
        pd.Index(item_ids),
    )


@dataclass(frozen=True)
class _UserRankingStats:
    """Per-user hit statistics over the users present in both recommendations and test."""

    hits: np.ndarray
    n_relevant: np.ndarray
    dcg: np.ndarray
    idcg: np.ndarray
    precision_sum: np.ndarray
    n_test_users: int


def _is_member(keys: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Whether each key occurs in the sorted unique array (binary search)."""
    if len(sorted_unique) == 0:
        return np.zeros(len(keys), dtype=bool)
    slots = np.minimum(np.searchsorted(sorted_unique, keys), len(sorted_unique) - 1)
    return sorted_unique[slots] == keys


def _ranking_stats(top: _TopLists, test: pd.DataFrame, k: int) -> _UserRankingStats:
    """Hits, relevant counts, DCG, ideal DCG and AP numerators of users with a list and test items."""
    _require_columns(test, ["user_id", "item_id"], "test")
    truth = test.loc[test["user_id"].notna().to_numpy() & test["item_id"].notna().to_numpy(), ["user_id", "item_id"]]
    n_lists = len(top.user_ids)
    truth_users = top.user_ids.get_indexer(truth["user_id"])
    truth_items, truth_item_ids = pd.factorize(truth["item_id"])
    width = np.int64(max(len(truth_item_ids), 1))
    known = truth_users >= 0
    pairs = np.unique(truth_users[known].astype(np.int64) * width + truth_items[known])
    n_relevant = np.bincount(pairs // width, minlength=n_lists).astype(np.float64)
    rec_items = pd.Index(truth_item_ids).get_indexer(top.item_ids)[top.item]
    hit = (rec_items >= 0) & _is_member(top.user.astype(np.int64) * width + rec_items, pairs)
    common = n_relevant > 0
    hit_users, hit_positions = top.user[hit], top.position[hit].astype(np.float64)
    hits = np.bincount(hit_users, minlength=n_lists).astype(np.float64)
    dcg = np.bincount(hit_users, weights=1.0 / np.log1p(hit_positions), minlength=n_lists)
    discounts = np.concatenate(([0.0], np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))))
    idcg = discounts[np.minimum(n_relevant, k).astype(np.int64)]
    hit_number = np.arange(len(hit_users)) - np.searchsorted(hit_users, hit_users, side="left") + 1
    precision_sum = np.bincount(hit_users, weights=hit_number / hit_positions, minlength=n_lists)
    return _UserRankingStats(
        hits[common],
        n_relevant[common],
        dcg[common],
        idcg[common],
        precision_sum[common],
        int(truth["user_id"].nunique()),
    )


def _mean(values: np.ndarray) -> float:
    """Mean of an array, 0.0 for an empty one."""
    return float(values.mean()) if len(values) else 0.0


def _accuracy(stats: _UserRankingStats, k: int) -> dict[str, float]:
    """MS Recommenders' accuracy metrics from per-user statistics."""
    return {
        "precision": _mean(stats.hits / k),
        "recall": _mean(stats.hits / stats.n_relevant),
        "ndcg": _mean(stats.dcg / stats.idcg),
        "map": _mean(stats.precision_sum / stats.n_relevant),
        "map_at_k": _mean(stats.precision_sum / np.minimum(stats.n_relevant, k)),
        "hit_rate": _mean((stats.hits > 0).astype(np.float64)),
    }


def _accuracy_metric(recs: pd.DataFrame, test: pd.DataFrame, k: int, name: str, owner: str) -> float:
    """One accuracy metric of :func:`_accuracy`."""
    k = _check_int(k, "k", owner)
    return _accuracy(_ranking_stats(_top_lists(recs, k), test, k), k)[name]


def precision_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean over users of hits in the top k / k (users in both ``recs`` and ``test``, as MS Recommenders).

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs (binary relevance).
    k : int, default 10

    Returns
    -------
    float
    """
    return _accuracy_metric(recs, test, k, "precision", "precision_at_k")


def recall_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean over users of hits in the top k / number of relevant items (see :func:`precision_at_k`)."""
    return _accuracy_metric(recs, test, k, "recall", "recall_at_k")


def ndcg_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean NDCG@k with binary relevance: ``sum_hits 1/log(1+pos) / sum_{i<=min(|rel|,k)} 1/log(1+i)``."""
    return _accuracy_metric(recs, test, k, "ndcg", "ndcg_at_k")


def map_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """MAP@k as MS Recommenders' ``map_at_k`` (and Spark's): AP = sum_hits P@pos / min(|rel|, k)."""
    return _accuracy_metric(recs, test, k, "map_at_k", "map_at_k")


def mean_average_precision(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """MAP of the top-k lists as MS Recommenders' ``map``: AP = sum_hits P@pos / |rel|.

    This is the definition behind the "MAP" column of Microsoft Recommenders' published MovieLens
    benchmark tables (e.g. BPR 0.132 on MovieLens 100k).
    """
    return _accuracy_metric(recs, test, k, "map", "mean_average_precision")


def hit_rate_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _accuracy_metric(recs, test, k, "hit_rate", "hit_rate_at_k")


# ---------------------------------------------------------------------------------------------
# Beyond-accuracy metrics
# ---------------------------------------------------------------------------------------------


def _item_user_counts(train: Interactions | pd.DataFrame) -> tuple[pd.Series, int]:
    """Distinct training users per item (Series by item id) and the number of training users."""
    if isinstance(train, Interactions):
        counts = np.diff(train.matrix.tocsc().indptr)
        return pd.Series(counts, index=train.item_index, dtype=np.float64), train.n_users
    _require_columns(train, ["user_id", "item_id"], "train")
    pairs = train[["user_id", "item_id"]].dropna().drop_duplicates()
    return pairs.groupby("item_id").size().astype(np.float64), int(pairs["user_id"].nunique())


def _catalog_items(catalog: Interactions | pd.DataFrame | Sequence[Any] | pd.Index) -> pd.Index:
    """Catalog item ids: an Interactions' items, a frame's ``item_id`` values or a sequence of ids."""
    if isinstance(catalog, Interactions):
        return catalog.item_index
    if isinstance(catalog, pd.DataFrame):
        _require_columns(catalog, ["item_id"], "train")
        return pd.Index(catalog["item_id"].dropna().unique())
    return pd.Index(catalog).unique()


def _coverage(top: _TopLists, catalog: pd.Index) -> float:
    """Share of catalog items among the recommended ones."""
    if len(catalog) == 0:
        raise ValueError("The 'catalog' parameter of catalog_coverage is empty.")
    return float(catalog.isin(top.item_ids).sum() / len(catalog))


def _novelty(top: _TopLists, counts: pd.Series, n_users: int) -> float:
    """Mean -log2(popularity share) over top-k rows of items with training users."""
    share = counts.reindex(top.item_ids).to_numpy(dtype=np.float64)[top.item] / max(n_users, 1)
    share = share[np.isfinite(share) & (share > 0)]
    return _mean(-np.log2(share))


def _popularity_bias(top: _TopLists, counts: pd.Series) -> dict[str, float]:
    """ARP and mean popularity percentile, averaged per list then over lists."""
    if len(top.user) == 0:
        return {"arp": 0.0, "popularity_percentile": 0.0}
    percentile = counts.rank(pct=True, method="average")
    popularity = counts.reindex(top.item_ids).fillna(0.0).to_numpy()[top.item]
    pct = percentile.reindex(top.item_ids).fillna(0.0).to_numpy()[top.item]
    length = np.bincount(top.user).astype(np.float64)
    listed = length > 0
    return {
        "arp": float((np.bincount(top.user, weights=popularity)[listed] / length[listed]).mean()),
        "popularity_percentile": float((np.bincount(top.user, weights=pct)[listed] / length[listed]).mean()),
    }


def _diversity(top: _TopLists, item_features: ItemFeatures) -> float:
    """Mean (1 - mean pairwise cosine) of the lists with at least two items."""
    positions = item_features.item_index.get_indexer(top.item_ids)[top.item]
    known = positions >= 0
    n_lists = len(top.user_ids)
    membership = sp.csr_matrix(
        (np.ones(int(known.sum())), (top.user[known], positions[known])),
        shape=(n_lists, len(item_features.item_index)),
    )
    summed = membership @ item_features.matrix
    squared_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    norms = np.asarray(item_features.matrix.multiply(item_features.matrix).sum(axis=1)).ravel()
    self_similarity = membership @ norms
    length = np.bincount(top.user, minlength=n_lists).astype(np.float64)
    eligible = length >= 2
    mean_cosine = (squared_sum - self_similarity)[eligible] / (length[eligible] * (length[eligible] - 1))
    return _mean(1.0 - mean_cosine)


def catalog_coverage(
    recs: pd.DataFrame, catalog: Interactions | pd.DataFrame | Sequence[Any] | pd.Index, k: int = 10
) -> float:
    """Share of catalog items that appear in at least one top-k list.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    catalog : Interactions, DataFrame or sequence of item ids
        The catalog: an Interactions' items (MS Recommenders uses the training items), a frame's
        ``item_id`` values or the ids themselves.
    k : int, default 10

    Returns
    -------
    float
    """
    k = _check_int(k, "k", "catalog_coverage")
    return _coverage(_top_lists(recs, k), _catalog_items(catalog))


def novelty(recs: pd.DataFrame, train: Interactions | pd.DataFrame, k: int = 10) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of training users of i.

    Averaged over all top-k rows (as MS Recommenders' ``novelty``); items without training users
    have no defined popularity and are skipped.
    """
    k = _check_int(k, "k", "novelty")
    counts, n_users = _item_user_counts(train)
    return _novelty(_top_lists(recs, k), counts, n_users)


def average_recommendation_popularity(
    recs: pd.DataFrame, train: Interactions | pd.DataFrame, k: int = 10
) -> dict[str, float]:
    """Popularity bias of the lists: ARP and mean popularity percentile.

    ``arp`` (Abdollahpouri et al.) = mean over users of the mean number of training users of their
    recommended items; ``popularity_percentile`` = the same mean of each item's popularity percentile
    among catalog items (pandas ``rank(pct=True)``, average ties; 1 = the most popular item, items
    without training users count 0).

    Returns
    -------
    dict
        ``{"arp": float, "popularity_percentile": float}``.
    """
    k = _check_int(k, "k", "average_recommendation_popularity")
    counts, _ = _item_user_counts(train)
    return _popularity_bias(_top_lists(recs, k), counts)


def intra_list_diversity(recs: pd.DataFrame, item_features: ItemFeatures, k: int = 10) -> float:
    """Mean over users of ``1 - mean pairwise cosine`` of the feature vectors in their top-k list.

    With unit-norm vectors, the sum of pairwise cosines of a list is ``(|sum v|^2 - sum |v|^2) / 2``,
    so the metric needs one sparse product, no loop over pairs. Items without features count as
    orthogonal to everything; users with fewer than 2 items are skipped.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    item_features : ItemFeatures
        Item vectors (see :func:`build_item_features`).
    k : int, default 10

    Returns
    -------
    float
    """
    k = _check_int(k, "k", "intra_list_diversity")
    return _diversity(_top_lists(recs, k), item_features)


def evaluate(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    train: Interactions | pd.DataFrame | None = None,
    item_features: ItemFeatures | None = None,
) -> dict[str, float]:
    """All ranking metrics of top-k lists at once (vectorized over users).

    Accuracy metrics follow Microsoft Recommenders' ``python_evaluation`` (binary relevance, users
    present in both ``recs`` and ``test``): ``precision``, ``recall``, ``ndcg``, ``map`` (AP divided
    by |relevant|, MS ``map``), ``map_at_k`` (AP divided by min(|relevant|, k), MS ``map_at_k``),
    ``hit_rate``; plus ``n_users`` (users evaluated) and ``user_coverage`` (their share of test users).
    With ``train``: ``catalog_coverage``, ``novelty``, ``arp``, ``popularity_percentile``. With
    ``item_features``: ``intra_list_diversity``.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs.
    k : int, default 10
    train : Interactions or DataFrame, optional
        Training interactions (popularity and catalog).
    item_features : ItemFeatures, optional
        Item vectors for diversity.

    Returns
    -------
    dict
        Metric name -> value.
    """
    k = _check_int(k, "k", "evaluate")
    top = _top_lists(recs, k)
    stats = _ranking_stats(top, test, k)
    result: dict[str, float] = {
        "k": k,
        "n_users": len(stats.hits),
        "user_coverage": len(stats.hits) / stats.n_test_users if stats.n_test_users else 0.0,
        **_accuracy(stats, k),
    }
    if train is not None:
        counts, n_users = _item_user_counts(train)
        result["catalog_coverage"] = _coverage(top, _catalog_items(train))
        result["novelty"] = _novelty(top, counts, n_users)
        result.update(_popularity_bias(top, counts))
    if item_features is not None:
        result["intra_list_diversity"] = _diversity(top, item_features)
    return result


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


def _target_ranks(model: BaseRecommender, targets: pd.DataFrame, available: pd.DataFrame | None) -> np.ndarray:
    """Rank of each target item among the candidates of its user (inf when it cannot be ranked)."""
    rows = model.interactions_.user_positions(targets["user_id"])
    columns = model.item_index_.get_indexer(pd.Index(targets["item_id"]))
    ranks = np.full(len(targets), np.inf)
    if available is not None:
        avail_cols = model.item_index_.get_indexer(pd.Index(available["item_id"]))
        ok = avail_cols >= 0
        mask = sp.csr_matrix(
            (np.ones(int(ok.sum()), dtype=bool), (available["target"].to_numpy()[ok], avail_cols[ok])),
            shape=(len(targets), len(model.item_index_)),
        )
    scorable = np.flatnonzero((rows >= 0) & (columns >= 0))
    for batch in _batches(len(scorable), model._batch_width()):
        picked = scorable[batch]
        scores = model._score_rows(rows[picked]).astype(np.float64)
        if available is not None:
            scores[~mask[picked].toarray()] = -np.inf
        target_scores = scores[np.arange(len(picked)), columns[picked]]
        better = (scores > target_scores[:, None]).sum(axis=1)
        tied_before = ((scores == target_scores[:, None]) & (np.arange(scores.shape[1]) < columns[picked, None])).sum(
            axis=1
        )
        ranks[picked] = np.where(np.isfinite(target_scores), 1 + better + tied_before, np.inf)
    return ranks


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
    """Hit rate@k of predicting each user's next stream (leave-last-out), repeats included.

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
    pandas.DataFrame
        One row per model: ``model, hit_rate, hit_rate_repeat, hit_rate_new, n_users,
        repeat_share`` (repeat = the target streamer is in the user's history).
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
    rows = []
    for name, model in models.items():
        fitted = clone(model).fit(train)
        hits = _target_ranks(fitted, targets, available) <= k
        rows.append(
            {
                "model": name,
                "hit_rate": _mean(hits.astype(np.float64)),
                "hit_rate_repeat": float(hits[is_repeat].mean()) if is_repeat.any() else math.nan,
                "hit_rate_new": float(hits[~is_repeat].mean()) if (~is_repeat).any() else math.nan,
                "n_users": len(targets),
                "repeat_share": _mean(is_repeat.astype(np.float64)),
            }
        )
    return pd.DataFrame(rows)


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
