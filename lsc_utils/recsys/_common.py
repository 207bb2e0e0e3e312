"""Constants and parameter checks shared by the recommenders."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.constants import EVENT_TYPES

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
