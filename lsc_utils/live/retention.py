"""Retention of live-room viewers: Kaplan–Meier survival of watch time per stay.

The *survival* ``S(t)`` is the share of stays still watching ``t`` seconds after entry, i.e.
``P(duration > t)``. It is the Kaplan–Meier estimator ``S(t) = prod_{t_i <= t} (1 - d_i / n_i)``
(``d_i`` stays ending with an observed leave at ``t_i``, ``n_i`` stays with ``duration >= t_i``),
computed by :func:`scipy.stats.ecdf` on :class:`scipy.stats.CensoredData` (lifelines cannot be
installed next to pandas 3). A stay censored at the same time as an event counts as at risk there.

Censoring rule (by the ``closed_by`` of :func:`lsc_utils.live.build_stays`)
--------------------------------------------------------------------------
* ``leave``: an **observed event** at ``duration_s`` (the viewer's own logged leave).
* ``room_end``: **right-censored** at ``duration_s``: the stream ended while the viewer was still
  there, so they might have watched longer.
* ``heartbeat``: by default an **observed event** at ``duration_s``, i.e. at the viewer's last
  activity plus the heartbeat timeout, the same length every other live KPI uses (``avg_watch_s``,
  ACU). The true leave lies somewhere between the last activity and that time (interval
  censoring, which ``scipy.stats.ecdf`` does not estimate), so this is the stays builder's point
  estimate, not a lower bound. ``heartbeat_as="censored"`` treats these stays as right-censored
  instead, a sensitivity check that can only raise the curve (it assumes a passive viewer may
  have kept watching after the timeout). Each result reports how many stays fell under each rule.

Confidence intervals
--------------------
Pointwise intervals of ``S(t)`` come from ``confidence_interval`` of scipy's result (Greenwood
variance; ``method="log-log"`` by default, which keeps the band inside [0, 1]; scipy clips the
``"linear"`` band to [0, 1]). Where the formula is
undefined (``S(t) = 1`` before the first leave, ``S(t) = 0`` after the last), the band is set to
the estimate for ``S = 1`` and to ``0`` (lower) / *undefined* (upper) for ``S = 0``.

The **median stay** is the smallest time with ``S(t) <= 0.5`` (as lifelines and R read it; with no
censoring this is the lower sample median, not the mean of the two middle values). Its confidence
interval follows Brookmeyer and Crowley (1982): the times where the pointwise band crosses 0.5,
i.e. the smallest time where the lower band is ``<= 0.5`` (lower limit) and the smallest time where
the upper band is ``<= 0.5`` (upper limit; null when the band never falls that low: "not reached").
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lsc_utils.checks import DatasetError, check_choice, require_columns
from lsc_utils.live.stays import CLOSING_RULES

HEARTBEAT_AS: tuple[str, ...] = ("event", "censored")
"""How stays closed by the heartbeat rule enter the estimator (see the module docstring)."""

CI_METHODS: tuple[str, ...] = ("log-log", "linear")
"""Pointwise confidence-interval methods of ``scipy.stats`` ECDF results."""

CENSORING_RULE: dict[str, str] = {
    "leave": "event",
    "heartbeat": "event (heartbeat_as='event', default) or right-censored (heartbeat_as='censored')",
    "room_end": "right-censored",
}
"""How each ``closed_by`` value of a stay enters the Kaplan–Meier estimator."""

COUNT_COLUMNS: tuple[str, ...] = ("n_stays", "n_events", "n_censored", "n_leave", "n_heartbeat", "n_room_end")
"""Counts reported with every median and retention: stays, events, censored stays and each closing rule."""

CURVE_COLUMNS: tuple[str, ...] = ("time_s", "at_risk", "events", "censored", "survival", "ci_low", "ci_high")
"""Columns of :func:`retention_curve` after the group columns."""


def _by_list(by: str | Sequence[str] | None) -> list[str]:
    """The grouping columns as a list (empty for no grouping)."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _prepare(stays: pd.DataFrame, by: list[str], owner: str, heartbeat_as: str) -> pd.DataFrame:
    """Checked stays reduced to the group columns, ``_t`` (seconds), ``_obs`` (event flag) and ``_rule``."""
    require_columns(stays, ["duration_s", "closed_by", *by], "stays", owner)
    check_choice(heartbeat_as, "heartbeat_as", owner, HEARTBEAT_AS)
    rule = stays["closed_by"].astype("object")
    unknown = sorted({str(v) for v in rule[~rule.isin(CLOSING_RULES)].unique()})
    if unknown:
        raise DatasetError(
            f"stays: column 'closed_by' must hold {', '.join(CLOSING_RULES)} for {owner}; "
            f"got {len(unknown)} other value(s) (e.g. {unknown[0]!r})."
        )
    t = pd.to_numeric(stays["duration_s"], errors="coerce").astype("float64")
    bad = ~np.isfinite(t.to_numpy()) | (t.to_numpy() < 0)
    if bad.any():
        example = stays["duration_s"][bad].iloc[0]
        raise DatasetError(
            f"stays: column 'duration_s' has {int(bad.sum())} values that are not finite numbers >= 0 "
            f"for {owner} (e.g. {example!r})."
        )
    observed = rule.eq("leave") | (rule.eq("heartbeat") & (heartbeat_as == "event"))
    out = stays[by].copy()
    out["_t"], out["_obs"], out["_rule"] = t.to_numpy(), observed.to_numpy(dtype=bool), rule.to_numpy()
    return out


def _groups(frame: pd.DataFrame, by: list[str]) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """Yield ``(group key as a dict, rows)``; one unnamed group without ``by``, none for an empty frame."""
    if not by:
        if len(frame):
            yield {}, frame
        return
    for key, rows in frame.groupby(by, sort=True, dropna=False):
        yield dict(zip(by, key, strict=True)), rows


def _counts(rows: pd.DataFrame) -> dict[str, int]:
    """The :data:`COUNT_COLUMNS` of one group."""
    n_events = int(rows["_obs"].sum())
    counts = {"n_stays": len(rows), "n_events": n_events, "n_censored": len(rows) - n_events}
    for rule in CLOSING_RULES:
        counts[f"n_{rule}"] = int((rows["_rule"] == rule).sum())
    return counts


def _checked_input(
    stays: pd.DataFrame, by: Any, owner: str, confidence: Any, method: Any, heartbeat_as: str
) -> tuple[list[str], float, pd.DataFrame]:
    """The arguments every estimator shares, checked: group keys, confidence and the prepared stays."""
    keys = _by_list(by)
    confidence = _check_confidence(confidence, owner)
    check_choice(method, "method", owner, CI_METHODS)
    return keys, confidence, _prepare(stays, keys, owner, heartbeat_as)


def _check_confidence(confidence: Any, owner: str) -> float:
    """``confidence`` as a float in (0, 1), else a ValueError."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.floating) or not 0 < confidence < 1:
        raise ValueError(
            f"The 'confidence' parameter of {owner} must be a number in (0, 1). Got {confidence!r} instead."
        )
    return float(confidence)


def _band(
    rows: pd.DataFrame, times: np.ndarray, confidence: float, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan–Meier survival and its pointwise band at ``times`` (undefined band values filled as documented)."""
    t, obs = rows["_t"].to_numpy(), rows["_obs"].to_numpy()
    result = stats.ecdf(stats.CensoredData(uncensored=t[obs], right=t[~obs]))
    survival = np.asarray(result.sf.evaluate(times), dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "undefined at some observations" (S = 0 or 1)
        ci = result.sf.confidence_interval(confidence_level=confidence, method=method)
        low = np.asarray(ci.low.evaluate(times), dtype=float)
        high = np.asarray(ci.high.evaluate(times), dtype=float)
    top, bottom = survival >= 1.0, survival <= 0.0
    low = np.where(np.isnan(low) & top, 1.0, np.where(np.isnan(low) & bottom, 0.0, low))
    high = np.where(np.isnan(high) & top, 1.0, high)
    return survival, low, high


def retention_curve(
    stays: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    grid: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
    method: str = "log-log",
    heartbeat_as: str = "event",
) -> pd.DataFrame:
    """Kaplan–Meier survival of watch time: the share of stays still watching at each time.

    Parameters
    ----------
    stays : pandas.DataFrame
        Stays with ``duration_s`` and ``closed_by`` (the output of :func:`lsc_utils.live.build_stays`),
        plus the ``by`` columns.
    by : str, sequence of str or None, default None
        Columns to split the stays by (one curve per group, null keys kept as a group).
    grid : sequence of float or None, default None
        Times in seconds to evaluate the curve at (the same for every group). By default ``0`` and
        every distinct stay length of the group: the exact steps of the estimator.
    confidence : float, default 0.95
        Level of the pointwise confidence band.
    method : {"log-log", "linear"}, default "log-log"
        Band method of scipy's ``confidence_interval``.
    heartbeat_as : {"event", "censored"}, default "event"
        How heartbeat-closed stays count (censoring rule in the module docstring).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, then ``time_s``; ``at_risk`` (stays with ``duration_s >= time_s``);
        ``events`` and ``censored`` (stays ending after the previous grid time and at most at
        ``time_s``); ``survival`` (``P(duration > time_s)``); ``ci_low`` and ``ci_high``. Empty
        (with these columns) for empty stays.

    Raises
    ------
    DatasetError
        A required column is missing, ``duration_s`` holds negative or non-finite values, or
        ``closed_by`` an unknown rule.
    """
    keys, confidence, frame = _checked_input(stays, by, "retention_curve", confidence, method, heartbeat_as)
    fixed = None if grid is None else np.unique(np.asarray(grid, dtype=float))
    parts = []
    for key, rows in _groups(frame, keys):
        t = np.sort(rows["_t"].to_numpy())
        times = np.union1d([0.0], t) if fixed is None else fixed
        survival, low, high = _band(rows, times, confidence, method)
        ends = np.concatenate([[-np.inf], times])
        t_event = np.sort(rows.loc[rows["_obs"], "_t"].to_numpy())
        t_cens = np.sort(rows.loc[~rows["_obs"], "_t"].to_numpy())
        part = pd.DataFrame(
            {
                "time_s": times,
                "at_risk": len(t) - np.searchsorted(t, times, side="left"),
                "events": np.diff(np.searchsorted(t_event, ends, side="right")),
                "censored": np.diff(np.searchsorted(t_cens, ends, side="right")),
                "survival": survival,
                "ci_low": low,
                "ci_high": high,
            }
        )
        parts.append(part.assign(**key)[[*keys, *CURVE_COLUMNS]])
    if not parts:
        return _empty(stays, keys, CURVE_COLUMNS, ints=("at_risk", "events", "censored"))
    out = pd.concat(parts, ignore_index=True)
    return out.astype(dict.fromkeys(("at_risk", "events", "censored"), "int64"))


def _empty(stays: pd.DataFrame, keys: list[str], columns: Sequence[str], ints: Sequence[str]) -> pd.DataFrame:
    """An empty result with the group columns (their dtypes kept) and ``columns`` (float, or int64 for ``ints``)."""
    out = stays[keys].iloc[:0].copy()
    for column in columns:
        out[column] = pd.Series(dtype="int64" if column in ints else "float64")
    return out.reset_index(drop=True)


def _first_at_or_below(times: np.ndarray, curve: np.ndarray, level: float) -> float:
    """The smallest time where ``curve <= level`` (NaN comparisons false); NaN if none."""
    hit = np.flatnonzero(curve <= level)
    return float(times[hit[0]]) if hit.size else float("nan")


def median_stay(
    stays: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    method: str = "log-log",
    heartbeat_as: str = "event",
) -> pd.DataFrame:
    """Kaplan–Meier median stay length with a Brookmeyer–Crowley confidence interval.

    Parameters
    ----------
    stays : pandas.DataFrame
        Stays with ``duration_s`` and ``closed_by`` (output of :func:`lsc_utils.live.build_stays`).
    by : str, sequence of str or None, default None
        Columns to split the stays by.
    confidence : float, default 0.95
        Level of the interval.
    method : {"log-log", "linear"}, default "log-log"
        Pointwise band the interval is read from.
    heartbeat_as : {"event", "censored"}, default "event"
        How heartbeat-closed stays count (censoring rule in the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, :data:`COUNT_COLUMNS`, ``median_s`` (smallest time with
        survival <= 0.5; null when the curve stays above 0.5), ``ci_low_s`` and ``ci_high_s`` (times
        where the lower and upper bands first reach 0.5; null when not reached).

    Raises
    ------
    DatasetError
        As :func:`retention_curve`.
    """
    keys, confidence, frame = _checked_input(stays, by, "median_stay", confidence, method, heartbeat_as)
    rows_out = []
    for key, rows in _groups(frame, keys):
        times = np.unique(rows["_t"].to_numpy())
        survival, low, high = _band(rows, times, confidence, method)
        rows_out.append(
            {
                **key,
                **_counts(rows),
                "median_s": _first_at_or_below(times, survival, 0.5),
                "ci_low_s": _first_at_or_below(times, low, 0.5),
                "ci_high_s": _first_at_or_below(times, high, 0.5),
            }
        )
    columns = [*COUNT_COLUMNS, "median_s", "ci_low_s", "ci_high_s"]
    if not rows_out:
        return _empty(stays, keys, columns, ints=COUNT_COLUMNS)
    return pd.DataFrame(rows_out, columns=[*keys, *columns])


def retention_at(
    stays: pd.DataFrame,
    seconds: float = 600,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    method: str = "log-log",
    heartbeat_as: str = "event",
) -> pd.DataFrame:
    """Kaplan–Meier share of stays still watching ``seconds`` after entry, with a confidence interval.

    Parameters
    ----------
    stays : pandas.DataFrame
        Stays with ``duration_s`` and ``closed_by`` (output of :func:`lsc_utils.live.build_stays`).
    seconds : float, default 600
        Time after entry (10 minutes by default); retention is ``P(duration > seconds)``.
    by : str, sequence of str or None, default None
        Columns to split the stays by.
    confidence : float, default 0.95
        Level of the pointwise interval.
    method : {"log-log", "linear"}, default "log-log"
        Interval method of scipy's ``confidence_interval``.
    heartbeat_as : {"event", "censored"}, default "event"
        How heartbeat-closed stays count (censoring rule in the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``seconds``, :data:`COUNT_COLUMNS`, ``at_risk`` (stays
        with ``duration_s >= seconds``), ``retention``, ``ci_low`` and ``ci_high``.

    Raises
    ------
    DatasetError
        As :func:`retention_curve`.
    """
    owner = "retention_at"
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | np.number) or not seconds >= 0:
        raise ValueError(f"The 'seconds' parameter of {owner} must be a number >= 0. Got {seconds!r} instead.")
    keys, confidence, frame = _checked_input(stays, by, owner, confidence, method, heartbeat_as)
    at = np.array([float(seconds)])
    rows_out = []
    for key, rows in _groups(frame, keys):
        survival, low, high = _band(rows, at, confidence, method)
        rows_out.append(
            {
                **key,
                "seconds": float(seconds),
                **_counts(rows),
                "at_risk": int((rows["_t"] >= seconds).sum()),
                "retention": survival[0],
                "ci_low": low[0],
                "ci_high": high[0],
            }
        )
    columns = ["seconds", *COUNT_COLUMNS, "at_risk", "retention", "ci_low", "ci_high"]
    if not rows_out:
        return _empty(stays, keys, columns, ints=(*COUNT_COLUMNS, "at_risk"))
    return pd.DataFrame(rows_out, columns=[*keys, *columns])
