"""The user x item interaction matrix built from canonical events."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.recsys._common import (
    DEFAULT_EVENT_WEIGHTS,
    _check_float,
    _check_weights,
    _scalar_to_days,
    _to_days,
    _utc_series,
    _utc_timestamp,
)
from lsc_utils.schema import DatasetError

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
