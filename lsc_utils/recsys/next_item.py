"""Next-item protocol: time-ordered sequences, leave-last-out split, exact ranks, next-item baselines.

A *sequences* frame has one row per interaction with the columns ``user_id, item_id, position``
(``position`` = 0, 1, ... in time order within each user), as :func:`order_sequences` returns it.
Equal timestamps of a user are put in a seeded random order, never in item-id order: 76 % of the
MovieLens-100k ratings share their second with another rating of the same user, and sorting those by
id would let a model learn the id order instead of the behaviour.

Protocol (Kang & McAuley 2018): :func:`leave_last_out_split` keeps each user's last item for test and
the second-to-last for validation; a model fitted on ``split.train_validation`` scores each user's
whole history, and the held-out item is ranked against **all** catalogue items with the user's
history excluded (:func:`next_item_ranks`, :func:`evaluate_next_item`). HR@k and NDCG@k follow
exactly from the rank (:func:`next_item_hit_rate_at_k`, :func:`next_item_ndcg_at_k`).

Every next-item model is a :class:`NextItemRecommender`: ``fit(sequences)`` then
``recommend_next(user_ids, k, exclude_history=True)``. Baselines: :class:`MatrixNextRecommender`
runs any matrix recommender of the package (popularity, EASE, repeat-aware, ...) on the users'
histories, :class:`RepeatLastRecommender` repeats the most recent items (the strong baseline of repeat
consumption on live platforms, Rappaz et al. 2021).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.constants import SEED
from lsc_utils.recsys._common import RECOMMENDATION_COLUMNS, _check_float, _to_days
from lsc_utils.recsys._topk import _batches, _empty_recommendations, select_top_k
from lsc_utils.recsys.interactions import Interactions
from lsc_utils.recsys.models import BaseRecommender
from lsc_utils.schema import DatasetError

SEQUENCE_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "position")
"""Columns every sequences frame must have (``position``: order of the row within its user)."""

# ---------------------------------------------------------------------------------------------
# Sequences and the leave-last-out split
# ---------------------------------------------------------------------------------------------


def order_sequences(
    frame: pd.DataFrame,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "ts",
    random_state: int | None = SEED,
) -> pd.DataFrame:
    """Each user's rows in time order, equal times in a seeded random order.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per interaction; rows with a null user, item or time are dropped.
    user_col, item_col, time_col : str
        Columns of the user, the item and the time (timestamps or plain numbers).
    random_state : int, optional
        Seed of the order of a user's rows that share a time (for a given row order of ``frame``).

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, ts, position`` sorted by user id then position (0 = the user's first row).

    Raises
    ------
    DatasetError
        If a column is missing, a time is not a timestamp or number, or no row is complete.
    """
    _require_columns(frame, [user_col, item_col, time_col], "sequences frame")
    rows = frame[frame[[user_col, item_col, time_col]].notna().all(axis=1).to_numpy()]
    if rows.empty:
        raise DatasetError(f"sequences frame: no row has all of '{user_col}', '{item_col}' and '{time_col}'.")
    times = _to_days(rows[time_col])
    if np.isnan(times).any():
        examples = rows[time_col][np.isnan(times)].head(3).tolist()
        raise DatasetError(
            f"sequences frame: column '{time_col}' has {int(np.isnan(times).sum())} values that are not "
            f"timestamps or numbers (e.g. {examples})."
        )
    user_codes, _ = pd.factorize(rows[user_col], sort=True)
    noise = np.random.default_rng(random_state).random(len(rows))
    order = np.lexsort((noise, times, user_codes))
    sorted_codes = user_codes[order]
    position = np.arange(len(order)) - np.searchsorted(sorted_codes, sorted_codes, side="left")
    return pd.DataFrame(
        {
            "user_id": rows[user_col].to_numpy()[order],
            "item_id": rows[item_col].to_numpy()[order],
            "ts": rows[time_col].to_numpy()[order],
            "position": position.astype(np.int64),
        }
    )


def collapse_repeats(sequences: pd.DataFrame) -> pd.DataFrame:
    """Drop a row that repeats the item of the user's previous row (view, cart and pay of one product).

    The next-item question is then "which *other* item comes next"; positions are renumbered from 0.
    """
    ordered = _sorted_sequences(sequences, "collapse_repeats")
    same_user = ordered["user_id"].eq(ordered["user_id"].shift())
    repeat = same_user & ordered["item_id"].eq(ordered["item_id"].shift())
    out = ordered.loc[~repeat.to_numpy()].reset_index(drop=True)
    out["position"] = out.groupby("user_id", sort=False).cumcount().astype(np.int64)
    return out


def _sorted_sequences(sequences: pd.DataFrame, owner: str) -> pd.DataFrame:
    """The sequences frame sorted by user then position (nulls refused)."""
    if not isinstance(sequences, pd.DataFrame):
        raise TypeError(f"{owner} expects a sequences DataFrame (see order_sequences). Got {type(sequences).__name__}.")
    _require_columns(sequences, list(SEQUENCE_COLUMNS), "sequences")
    nulls = sequences[list(SEQUENCE_COLUMNS)].isna().any(axis=1)
    if nulls.any():
        raise DatasetError(f"sequences: {int(nulls.sum())} rows have a null user_id, item_id or position.")
    if sequences.empty:
        raise DatasetError(f"sequences: {owner} got no rows.")
    return sequences.sort_values(["user_id", "position"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class NextItemSplit:
    """Leave-last-out split of time-ordered sequences (:func:`leave_last_out_split`).

    Attributes
    ----------
    train : pandas.DataFrame
        Every row but the last two of each user with a test item (all rows of shorter users).
    validation : pandas.DataFrame
        The second-to-last row of each such user: target of validation and early stopping.
    test : pandas.DataFrame
        The last row of each such user.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    @property
    def train_validation(self) -> pd.DataFrame:
        """Train and validation rows: each user's history before the test item (fit models on it for test)."""
        both = pd.concat([self.train, self.validation], ignore_index=True)
        return both.sort_values(["user_id", "position"], kind="stable").reset_index(drop=True)


def leave_last_out_split(sequences: pd.DataFrame, min_length: int = 3) -> NextItemSplit:
    """Last item of each user for test, the second-to-last for validation, the rest for training.

    Parameters
    ----------
    sequences : pandas.DataFrame
        ``user_id, item_id, position`` rows (:func:`order_sequences`).
    min_length : int, default 3
        Users with fewer rows get no validation or test item; all their rows stay in training.

    Returns
    -------
    NextItemSplit
    """
    min_length = _check_int(min_length, "min_length", "leave_last_out_split", minimum=3)
    frame = _sorted_sequences(sequences, "leave_last_out_split")
    codes, _ = pd.factorize(frame["user_id"], sort=True)
    sizes = np.bincount(codes)
    from_end = sizes[codes] - 1 - (np.arange(len(frame)) - np.searchsorted(codes, codes, side="left"))
    eligible = sizes[codes] >= min_length
    test, validation = eligible & (from_end == 0), eligible & (from_end == 1)
    return NextItemSplit(
        train=frame[~(test | validation)].reset_index(drop=True),
        validation=frame[validation].reset_index(drop=True),
        test=frame[test].reset_index(drop=True),
    )


# ---------------------------------------------------------------------------------------------
# Ranks and metrics of a single held-out item
# ---------------------------------------------------------------------------------------------


def rank_targets(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target column among the row's scores.

    Rank = 1 + (cells scoring higher) + (cells scoring equal at a smaller column), the order of
    :func:`select_top_k`, so the top-k list holds the target exactly when its rank is <= k.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape (n, n_items); excluded cells hold -inf.
    targets : numpy.ndarray
        Target column of each row (-1: the item is not in the catalogue).

    Returns
    -------
    numpy.ndarray
        Float ranks; inf where the target is unknown or excluded (-inf score).
    """
    targets = np.asarray(targets)
    known = targets >= 0
    columns = np.where(known, targets, 0)
    target_scores = np.where(known, scores[np.arange(len(scores)), columns], -np.inf)
    better = (scores > target_scores[:, None]).sum(axis=1)
    tied_before = ((scores == target_scores[:, None]) & (np.arange(scores.shape[1]) < columns[:, None])).sum(axis=1)
    return np.where(np.isfinite(target_scores), 1.0 + better + tied_before, np.inf)


def next_item_hit_rate_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """Share of held-out items ranked in the top k (HR@k of one target per user)."""
    k = _check_int(k, "k", "next_item_hit_rate_at_k")
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def next_item_ndcg_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """NDCG@k of one held-out item per user: mean of ``1 / log2(1 + rank)`` over ranks <= k, else 0."""
    k = _check_int(k, "k", "next_item_ndcg_at_k")
    ranks = np.asarray(ranks, dtype=np.float64)
    gains = np.where(ranks <= k, 1.0 / np.log2(1.0 + np.minimum(ranks, k)), 0.0)
    return float(np.mean(gains)) if len(ranks) else float("nan")


def recent_popularity_ranks(
    history: pd.DataFrame, targets: pd.DataFrame, window_days: float = 1 / 24, block: int = 1024
) -> np.ndarray:
    """Ranks of the targets under "popularity of the hour": items by their rows in the window before each target.

    The live-room baseline of Rappaz et al. (2021): what everybody watched in the last hour, at the
    moment of the choice. Ties (e.g. items nobody chose in the window) are broken by the items' rows in
    the whole ``history``, then by item id, the order of :func:`rank_targets`. The user's own history
    is not excluded (repeat consumption).

    Parameters
    ----------
    history : pandas.DataFrame
        ``item_id, ts`` rows known before the targets, e.g. ``split.train_validation`` of
        :func:`leave_last_out_split` (every user's rows but the targets).
    targets : pandas.DataFrame
        ``item_id, ts`` rows to rank, e.g. ``split.test``.
    window_days : float, default 1/24
        Length of the window, in days (timestamps) or in the unit of numeric times.
    block : int, default 1024
        Targets scored at once (memory: ``block x items`` counts).

    Returns
    -------
    numpy.ndarray
        1-based ranks in the order of ``targets`` (inf for items absent from ``history``).
    """
    _require_columns(history, ["item_id", "ts"], "history")
    _require_columns(targets, ["item_id", "ts"], "targets")
    window = _check_float(window_days, "window_days", "recent_popularity_ranks", 0.0, np.inf, low_open=True)
    block = _check_int(block, "block", "recent_popularity_ranks")
    items = pd.Index(pd.unique(history["item_id"]), name="item_id").sort_values()
    codes = items.get_indexer(pd.Index(history["item_id"]))
    times, target_days = _to_days(history["ts"]), _to_days(targets["ts"])
    # one sorted key per row: item code, then time. Each item owns a band of the key line as wide as all the
    # times (history and targets) plus the window on both sides, so no window reaches another item's rows.
    every = np.concatenate([times, target_days])
    low = float(np.nanmin(every))
    span = float(np.nanmax(every)) - low + 2 * window + 1.0
    keys = np.sort(codes * span + (times - low + window))
    overall = np.bincount(codes, minlength=len(items)).astype(np.float64)
    tie_break = overall / (overall.max() + 1.0)  # in [0, 1): never outweighs one row in the window
    target_times = target_days - low + window
    columns = items.get_indexer(pd.Index(targets["item_id"]))
    ranks = np.empty(len(targets))
    for start in range(0, len(targets), block):
        at = target_times[start : start + block, None] + np.arange(len(items))[None, :] * span
        counts = np.searchsorted(keys, at, side="left") - np.searchsorted(keys, at - window, side="left")
        ranks[start : start + block] = rank_targets(counts + tie_break[None, :], columns[start : start + block])
    return ranks


# ---------------------------------------------------------------------------------------------
# Next-item recommenders
# ---------------------------------------------------------------------------------------------


class NextItemRecommender(BaseEstimator, ABC):
    """Shared fit / score / recommend logic of the next-item models.

    Subclasses implement ``_fit`` (learn from ``histories_``) and ``_score_histories`` (dense scores
    of a batch of item-code sequences against ``item_index_``).

    Fitted attributes: ``item_index_`` (catalogue, sorted ids), ``user_index_`` (sorted user ids)
    and ``histories_`` (each user's item positions in ``item_index_``, oldest first).
    """

    def fit(self, sequences: pd.DataFrame) -> NextItemRecommender:
        """Learn from time-ordered sequences.

        Parameters
        ----------
        sequences : pandas.DataFrame
            ``user_id, item_id, position`` rows (:func:`order_sequences`, a :class:`NextItemSplit` part).

        Returns
        -------
        self
        """
        frame = _sorted_sequences(sequences, f"{type(self).__name__}.fit")
        self.item_index_ = pd.Index(pd.unique(frame["item_id"]), name="item_id").sort_values()
        user_codes, users = pd.factorize(frame["user_id"], sort=True)
        self.user_index_ = pd.Index(users, name="user_id")
        codes = self.item_index_.get_indexer(frame["item_id"]).astype(np.int64)
        self.histories_ = np.split(codes, np.flatnonzero(np.diff(user_codes)) + 1)
        self._fit()
        return self

    @abstractmethod
    def _fit(self) -> None:
        """Learn the model's fitted attributes from ``histories_``."""

    @abstractmethod
    def _score_histories(self, histories: list[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
        """Dense (len(histories), n_items) float64 scores; ``rows`` = training-user rows or None."""

    def _requested(
        self, user_ids: Sequence[Any] | pd.Index | np.ndarray | None, histories: Mapping[Any, Sequence[Any]] | None
    ) -> tuple[pd.Index, list[np.ndarray], np.ndarray | None]:
        """Users, their item-code histories and their training rows (None for given histories)."""
        if histories is not None:
            users = pd.Index(list(histories), name="user_id")
            codes = [self.item_index_.get_indexer(pd.Index(list(histories[u]))) for u in users]
            return users, [c[c >= 0].astype(np.int64) for c in codes], None
        if user_ids is None:
            rows = np.arange(len(self.user_index_))
        else:
            rows = self.user_index_.get_indexer(pd.Index(user_ids).unique())
            rows = rows[rows >= 0]
        return self.user_index_.take(rows), [self.histories_[r] for r in rows], rows

    def _scored_batches(
        self, histories: list[np.ndarray], rows: np.ndarray | None, exclude_history: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(batch positions, scores)`` with each history's items at -inf when excluded."""
        for batch in _batches(len(histories), len(self.item_index_)):
            part = histories[batch]
            scores = self._score_histories(part, None if rows is None else rows[batch])
            if exclude_history and part:
                lengths = [len(h) for h in part]
                scores[np.repeat(np.arange(len(part)), lengths), np.concatenate(part)] = -np.inf
            yield np.arange(batch.start, batch.stop), scores

    def recommend_next(
        self,
        user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None,
        k: int = 10,
        exclude_history: bool = True,
        histories: Mapping[Any, Sequence[Any]] | None = None,
    ) -> pd.DataFrame:
        """Top-k candidates for each user's next item.

        Parameters
        ----------
        user_ids : sequence, optional
            Training users, scored on their fitted history (unknown ids skipped). Default: all.
        k : int, default 10
            List length.
        exclude_history : bool, default True
            Drop the items of the user's history (False for repeat consumption, e.g. live streamers).
        histories : mapping user -> item ids, optional
            Score these time-ordered histories instead (oldest first; unknown items are dropped).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, rank, score``, users in request order.
        """
        check_is_fitted(self, "histories_")
        k = _check_int(k, "k", f"{type(self).__name__}.recommend_next")
        users, codes, rows = self._requested(user_ids, histories)
        parts = []
        for positions, scores in self._scored_batches(codes, rows, exclude_history):
            columns, values = select_top_k(scores, k)
            width = columns.shape[1]
            valid = np.isfinite(values).ravel()
            frame = {
                "user_id": users.take(np.repeat(positions, width)[valid]),
                "item_id": self.item_index_.take(columns.ravel()[valid]),
                "rank": np.tile(np.arange(1, width + 1, dtype=np.int64), len(positions))[valid],
                "score": values.ravel()[valid].astype(np.float64),
            }
            parts.append(pd.DataFrame(frame))
        return pd.concat(parts, ignore_index=True)[list(RECOMMENDATION_COLUMNS)] if parts else _empty_recommendations()


def next_item_ranks(model: NextItemRecommender, targets: pd.DataFrame, exclude_history: bool = True) -> np.ndarray:
    """Rank of each target item among all catalogue items, scored on the user's fitted history.

    Parameters
    ----------
    model : NextItemRecommender
        Fitted on the histories that precede the targets (``split.train`` for ``split.validation``,
        ``split.train_validation`` for ``split.test``).
    targets : pandas.DataFrame
        ``user_id, item_id`` rows.
    exclude_history : bool, default True
        Remove the history's items from the candidates (a target in the history then ranks inf).

    Returns
    -------
    numpy.ndarray
        1-based ranks in the order of ``targets`` (inf for unknown users or items).
    """
    check_is_fitted(model, "histories_")
    _require_columns(targets, ["user_id", "item_id"], "targets")
    rows = model.user_index_.get_indexer(pd.Index(targets["user_id"]))
    columns = model.item_index_.get_indexer(pd.Index(targets["item_id"]))
    ranks = np.full(len(targets), np.inf)
    known = np.flatnonzero(rows >= 0)
    histories = [model.histories_[r] for r in rows[known]]
    for positions, scores in model._scored_batches(histories, rows[known], exclude_history):
        ranks[known[positions]] = rank_targets(scores, columns[known[positions]])
    return ranks


def evaluate_next_item(
    models: Mapping[str, NextItemRecommender], targets: pd.DataFrame, k: int = 10, exclude_history: bool = True
) -> pd.DataFrame:
    """HR@k and NDCG@k of fitted next-item models on one held-out item per user.

    Parameters
    ----------
    models : mapping name -> fitted NextItemRecommender
        Fitted on the histories before the targets (see :func:`next_item_ranks`).
    targets : pandas.DataFrame
        ``user_id, item_id`` rows, e.g. ``split.test``.
    k : int, default 10
    exclude_history : bool, default True
        Remove the user's history from the candidates.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model, hit_rate, ndcg, n_users``.
    """
    k = _check_int(k, "k", "evaluate_next_item")
    rows = []
    for name, model in models.items():
        ranks = next_item_ranks(model, targets, exclude_history)
        rows.append(
            {
                "model": name,
                "hit_rate": next_item_hit_rate_at_k(ranks, k),
                "ndcg": next_item_ndcg_at_k(ranks, k),
                "n_users": len(ranks),
            }
        )
    return pd.DataFrame(rows, columns=["model", "hit_rate", "ndcg", "n_users"])


class MatrixNextRecommender(NextItemRecommender):
    """A matrix recommender of the package (popularity, EASE, ALS, repeat-aware, ...) on the users' histories.

    The user x item matrix counts each item's rows in the user's history (order ignored); the
    wrapped model is fitted on it and scores the training users' rows. Given ``histories`` cannot be
    scored (the wrapped models score training users only).

    Parameters
    ----------
    recommender : BaseRecommender
        Unfitted model (cloned at fit), e.g. ``EASERecommender(l2=200.0)``.

    Attributes
    ----------
    recommender_ : BaseRecommender
        The fitted clone.
    """

    def __init__(self, recommender: BaseRecommender) -> None:
        self.recommender = recommender

    def _fit(self) -> None:
        if not isinstance(self.recommender, BaseRecommender):
            raise TypeError(
                "The 'recommender' parameter of MatrixNextRecommender must be a BaseRecommender of "
                f"lsc_utils.recsys. Got {type(self.recommender).__name__}."
            )
        lengths = [len(h) for h in self.histories_]
        rows = np.repeat(np.arange(len(self.histories_)), lengths)
        matrix = sp.csr_matrix(
            (np.ones(len(rows)), (rows, np.concatenate(self.histories_))),
            shape=(len(self.user_index_), len(self.item_index_)),
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        self.recommender_ = clone(self.recommender).fit(Interactions(matrix, self.user_index_, self.item_index_))

    def _score_histories(self, histories: list[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            raise ValueError("MatrixNextRecommender scores training users only; pass user_ids, not histories.")
        return np.asarray(self.recommender_._score_rows(rows), dtype=np.float64)


class RepeatLastRecommender(NextItemRecommender):
    """Repeat the most recent items: the history's items by recency first, then the rest by popularity.

    ``score = 1 + (last position of the item + 1) / len(history)`` for items of the history (in
    (1, 2], the latest item highest) and ``popularity / (max popularity + 1)`` (in [0, 1)) for the
    others, popularity = the item's rows in the training sequences. Use with ``exclude_history=False``:
    excluding the history leaves the popularity order.

    Parameters
    ----------
    fallback : {"popularity", "none"}, default "popularity"
        How items outside the history rank (``"none"``: not recommended).

    Attributes
    ----------
    popularity_ : numpy.ndarray
        Training rows per catalogue item.
    """

    def __init__(self, fallback: str = "popularity") -> None:
        self.fallback = fallback

    def _fit(self) -> None:
        _check_choice(self.fallback, "fallback", "RepeatLastRecommender", ("popularity", "none"))
        counts = np.bincount(np.concatenate(self.histories_), minlength=len(self.item_index_))
        self.popularity_ = counts.astype(np.float64)

    def _score_histories(self, histories: list[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
        n_items = len(self.item_index_)
        if self.fallback == "popularity":
            scores = np.tile(self.popularity_ / (self.popularity_.max() + 1.0), (len(histories), 1))
        else:
            scores = np.full((len(histories), n_items), -np.inf)
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        if lengths.sum() == 0:
            return scores
        row_of = np.repeat(np.arange(len(histories)), lengths)
        recency = 1.0 + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1) / np.repeat(
            lengths, lengths
        )
        flat = row_of * n_items + np.concatenate(histories)
        latest = np.full(len(histories) * n_items, -np.inf)
        np.maximum.at(latest, flat, recency)
        touched = np.unique(flat)
        scores.ravel()[touched] = latest[touched]
        return scores
