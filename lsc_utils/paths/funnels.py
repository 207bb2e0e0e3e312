"""Ordered conversion funnels with time windows (PostHog's definitions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.paths._events import (
    FUNNEL_ORDERS,
    US_PER_SECOND,
    EventsInput,
    _check_column_name,
    _check_text,
    _events_connection,
    _window_us,
)

# --------------------------------------------------------------------------------------------------
# Funnels
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FunnelSpec:
    steps: tuple[str, ...]
    window_us: int
    order: str
    by: str | None
    step_column: str

    @property
    def columns(self) -> tuple[str, ...]:
        extra = (self.by,) if self.by else ()
        return tuple(dict.fromkeys(("user_id", "ts", self.step_column, *extra)))


def _funnel_spec(owner: str, steps: Any, window: Any, order: Any, by: Any, step_column: Any) -> _FunnelSpec:
    if isinstance(steps, str) or not isinstance(steps, Sequence) or len(steps) < 2:
        raise ValueError(f"The 'steps' parameter of {owner} must be a sequence of >= 2 step names. Got {steps!r}.")
    steps = tuple(_check_text(s, "steps", owner) for s in steps)
    order = _check_choice(order, "order", owner, FUNNEL_ORDERS)
    if order == "any" and len(set(steps)) != len(steps):
        raise ValueError(f"The 'steps' parameter of {owner} must not repeat a step with order='any'. Got {steps!r}.")
    by = None if by is None else _check_column_name(by, "by", owner)
    return _FunnelSpec(
        steps, _window_us(window, "window", owner), order, by, _check_column_name(step_column, "step_column", owner)
    )


def _funnel_events_cte(spec: _FunnelSpec, only_steps: bool) -> str:
    by = f'CAST("{spec.by}" AS VARCHAR)' if spec.by else "CAST(NULL AS VARCHAR)"
    where = f'WHERE list_contains($steps, CAST("{spec.step_column}" AS VARCHAR))' if only_steps else ""
    return f"""fev AS (
        SELECT user_id, ts, epoch_us(ts) AS tsu, _row, {by} AS by_value,
               CAST("{spec.step_column}" AS VARCHAR) AS step_value,
               ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts, _row) AS ord
        FROM events {where})"""


def _step_table_ctes(spec: _FunnelSpec) -> str:
    return ",\n".join(
        f"e{j} AS (SELECT user_id, ord, tsu FROM fev WHERE step_value = $step{j})"
        for j in range(1, len(spec.steps) + 1)
    )


def _ordered_funnel_sql(spec: _FunnelSpec) -> str:
    """Chains built step by step with ASOF joins: the next step event after the previous one.

    A step-1 event only starts a chain if no other step-1 event (same user and breakdown value) comes
    strictly before the first step-2 event after it: that later start reaches every step the earlier
    one reaches, with more room in the window. (When steps 1 and 2 are the same event type, the next
    step-1 event may be that step-2 event itself, which is why equality keeps the earlier start.)
    """
    k = len(spec.steps)
    ctes = [_funnel_events_cte(spec, only_steps=True), _step_table_ctes(spec)]
    ctes.append(
        """starts AS (
        SELECT s.user_id, s.by_value, s.ord AS ord_1, s.tsu AS t_1, n.ord AS raw_ord_2,
               LEAD(s.ord) OVER (PARTITION BY s.user_id, s.by_value ORDER BY s.ord) AS next_start
        FROM fev s ASOF LEFT JOIN e2 n ON s.user_id = n.user_id AND s.ord < n.ord
        WHERE s.step_value = $step1)"""
    )
    ctes.append(
        "c1 AS (SELECT user_id, by_value, ord_1, t_1 FROM starts WHERE next_start IS NULL OR next_start >= raw_ord_2)"
    )
    for j in range(2, k + 1):
        within = f"n.tsu - c.t_1 <= {spec.window_us}"
        ctes.append(
            f"""c{j} AS (
            SELECT c.*, CASE WHEN {within} THEN n.ord END AS ord_{j}, CASE WHEN {within} THEN n.tsu END AS t_{j}
            FROM c{j - 1} c ASOF LEFT JOIN e{j} n ON c.user_id = n.user_id AND c.ord_{j - 1} < n.ord)"""
        )
    level = " + ".join(["1", *[f"CAST(ord_{j} IS NOT NULL AS INTEGER)" for j in range(2, k + 1)]])
    times = ", ".join(f"t_{j}" for j in range(1, k + 1))
    joined = ",\n".join(ctes)
    return f"""WITH {joined}
        SELECT user_id, by_value, {level} AS level, ord_1 AS start_ord, {times} FROM c{k}"""


def _strict_funnel_sql(spec: _FunnelSpec) -> str:
    """Each step event must be followed directly (no other event between) by the next step."""
    k = len(spec.steps)
    window = "PARTITION BY user_id ORDER BY ts, _row"
    leads = ", ".join(
        f"LEAD(step_value, {j}) OVER ({window}) AS s_{j + 1}, LEAD(tsu, {j}) OVER ({window}) AS u_{j + 1}"
        for j in range(1, k)
    )
    ok = [f"(s_{j} = $step{j} AND u_{j} - tsu <= {spec.window_us})" for j in range(2, k + 1)]
    reached = [" AND ".join(ok[: j - 1]) for j in range(2, k + 1)]
    level = " + ".join(["1", *[f"CAST(COALESCE({r}, FALSE) AS INTEGER)" for r in reached]])
    times = ", ".join(
        [
            "tsu AS t_1",
            *[f"CASE WHEN COALESCE({reached[j - 2]}, FALSE) THEN u_{j} END AS t_{j}" for j in range(2, k + 1)],
        ]
    )
    return f"""WITH {_funnel_events_cte(spec, only_steps=False)},
        led AS (SELECT *, {leads} FROM fev)
        SELECT user_id, by_value, {level} AS level, ord AS start_ord, {times}
        FROM led WHERE step_value = $step1"""


def _any_order_funnel_sql(spec: _FunnelSpec) -> str:
    """From every step event, the first occurrence of each step at or after it, within the window."""
    k = len(spec.steps)
    ctes = [_funnel_events_cte(spec, only_steps=True), _step_table_ctes(spec)]
    ctes.append("a0 AS (SELECT user_id, by_value, ord AS start_ord, tsu AS t0 FROM fev)")
    for j in range(1, k + 1):
        ctes.append(
            f"""a{j} AS (
            SELECT c.*, CASE WHEN n.tsu - c.t0 <= {spec.window_us} THEN n.tsu END AS f_{j}
            FROM a{j - 1} c ASOF LEFT JOIN e{j} n ON c.user_id = n.user_id AND c.start_ord <= n.ord)"""
        )
    found = ", ".join(f"f_{j}" for j in range(1, k + 1))
    times = ", ".join(f"found[{j}] AS t_{j}" for j in range(1, k + 1))
    joined = ",\n".join(ctes)
    return f"""WITH {joined},
        sorted AS (SELECT user_id, by_value, start_ord,
                          list_sort(list_filter([{found}], lambda x: x IS NOT NULL)) AS found FROM a{k})
        SELECT user_id, by_value, CAST(len(found) AS INTEGER) AS level, start_ord, {times} FROM sorted"""


def _funnel_user_rows(events: EventsInput, spec: _FunnelSpec, owner: str) -> pd.DataFrame:
    """Best chain of every (user, breakdown value): furthest step, then earliest start."""
    builder = {"ordered": _ordered_funnel_sql, "strict": _strict_funnel_sql, "any": _any_order_funnel_sql}[spec.order]
    times = ", ".join(f"t_{j}" for j in range(1, len(spec.steps) + 1))
    sql = f"""WITH chains AS ({builder(spec)})
        SELECT user_id, by_value, level, {times} FROM chains
        QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, by_value ORDER BY level DESC, start_ord) = 1
        ORDER BY by_value NULLS FIRST, user_id"""
    params: dict[str, Any] = {f"step{j}": s for j, s in enumerate(spec.steps, start=1)}
    if "$steps" in sql:
        params["steps"] = list(spec.steps)
    with _events_connection(events, spec.columns, owner) as con:
        rows = con.execute(sql, params).df()
    return rows


def funnel_conversion_times(
    events: EventsInput,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Per user (and breakdown value): the furthest funnel step reached and when each step was reached.

    Counting (as PostHog): a user reaches step ``i`` if there are events ``e_1, ..., e_i`` of the
    step types, in event order (``ts``, then input row order), with ``ts(e_i) - ts(e_1) <= window``.

    * ``order="ordered"`` (PostHog's sequential funnel): other events may occur between steps.
      Chains are built step by step: from each step-1 event, the next step-``j`` event after the
      step-``j-1`` event (the earliest next one is optimal for reaching further).
    * ``order="strict"``: step ``j`` must be the very next event of the user (any type) after step
      ``j-1``.
    * ``order="any"`` (PostHog's unordered funnel): step ``i`` means "any ``i`` distinct steps"
      within the window after the first of them; the ``t_i`` are the times the ``i``-th distinct
      step was first reached.

    With ``by``, the breakdown value is the one of the step-1 event of the chain (PostHog's first-touch
    attribution) and each (user, value) is counted separately. The reported chain of a (user, value)
    is the one reaching the furthest step; among those, the one starting earliest; in ordered mode a
    start is only considered if no other step-1 event comes before its step-2 event (so the time from
    step 1 to 2 is the time from the last step-1 event before the conversion).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (``user_id``, ``ts``, the step column, and ``by`` if given).
    steps : sequence of str, default ("view_item", "add_to_cart", "pay")
        Step values of ``step_column``.
    window : str or timedelta, default "1D"
        Conversion window from the step-1 event (inclusive).
    order : {"ordered", "strict", "any"}, default "ordered"
        Step order, see above.
    by : str, optional
        Breakdown column of the events (channel, device, segment ...).
    step_column : str, default "event_type"
        Event column holding the step values.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``by_value`` (if ``by``), ``steps_reached``, ``step_<j>_ts`` (UTC timestamps,
        NaT beyond the furthest step) and ``seconds_to_step_<j>`` (from step 1) for j = 1..len(steps).
    """
    spec = _funnel_spec("funnel_conversion_times", steps, window, order, by, step_column)
    rows = _funnel_user_rows(events, spec, "funnel_conversion_times")
    return _format_user_rows(rows, spec)


def _format_user_rows(rows: pd.DataFrame, spec: _FunnelSpec) -> pd.DataFrame:
    out = pd.DataFrame({"user_id": rows["user_id"]})
    if spec.by:
        out["by_value"] = rows["by_value"].astype("str")
    out["steps_reached"] = rows["level"].astype("int64")
    k = len(spec.steps)
    micros = [rows[f"t_{j}"].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for j in range(1, k + 1)]
    for j in range(1, k + 1):
        out[f"step_{j}_ts"] = pd.to_datetime(micros[j - 1], unit="us", utc=True).astype("datetime64[us, UTC]")
    for j in range(1, k + 1):
        out[f"seconds_to_step_{j}"] = (micros[j - 1] - micros[0]) / US_PER_SECOND
    return out.reset_index(drop=True)


def _summarise_funnel(users: pd.DataFrame, spec: _FunnelSpec) -> pd.DataFrame:
    k = len(spec.steps)
    reached = users["steps_reached"].to_numpy()
    seconds = np.column_stack([users[f"seconds_to_step_{j}"].to_numpy() for j in range(1, k + 1)])
    rows = []
    for j in range(1, k + 1):
        at = reached >= j
        from_previous = seconds[at, j - 1] - seconds[at, j - 2] if j > 1 else np.array([])
        rows.append(
            {
                "step": j,
                "step_name": spec.steps[j - 1] if spec.order != "any" else f"any {j} of {k}",
                "users": int(at.sum()),
                "median_seconds_from_previous": float(np.median(from_previous)) if from_previous.size else np.nan,
                "median_seconds_from_start": float(np.median(seconds[at, j - 1])) if j > 1 and at.any() else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    first = table["users"].iloc[0]
    previous = table["users"].shift(1).fillna(first)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["overall_conversion"] = np.where(first > 0, table["users"] / max(first, 1), np.nan)
        table["step_conversion"] = np.where(previous > 0, table["users"] / previous.clip(lower=1), np.nan)
    table["dropped"] = (previous - table["users"]).astype("int64")
    columns = ["step", "step_name", "users", "overall_conversion", "step_conversion", "dropped"]
    return table[columns + ["median_seconds_from_previous", "median_seconds_from_start"]]


def funnel(
    events: EventsInput,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Funnel table (PostHog-like): users reaching each step, conversion rates and median times.

    Counting and parameters as in :func:`funnel_conversion_times`; users reaching step ``i`` are
    those whose furthest step is ``>= i``.

    Returns
    -------
    pandas.DataFrame
        The funnel file: (``by_value`` if ``by``), ``step`` (1-based), ``step_name``, ``users``,
        ``overall_conversion`` (users / users at step 1), ``step_conversion`` (users / users at the
        previous step; 1 at step 1), ``dropped`` (users lost since the previous step),
        ``median_seconds_from_previous`` and ``median_seconds_from_start`` (over the users reaching
        the step; NaN at step 1).
    """
    spec = _funnel_spec("funnel", steps, window, order, by, step_column)
    users = _format_user_rows(_funnel_user_rows(events, spec, "funnel"), spec)
    if not spec.by:
        return _summarise_funnel(users, spec)
    parts = []
    for value, group in users.groupby("by_value", sort=True, dropna=False):
        part = _summarise_funnel(group, spec)
        part.insert(0, "by_value", value)
        parts.append(part)
    if not parts:
        empty = _summarise_funnel(users, spec).iloc[:0]
        empty.insert(0, "by_value", pd.Series(dtype="str"))
        return empty
    return pd.concat(parts, ignore_index=True)


def funnel_dropoffs(
    events: EventsInput,
    step: int,
    steps: Sequence[str] = ("view_item", "add_to_cart", "pay"),
    window: str | timedelta = "1D",
    order: str = "ordered",
    by: str | None = None,
    step_column: str = "event_type",
) -> pd.DataFrame:
    """Drop-off cohort: users who reached funnel step ``step`` but not step ``step + 1``.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    step : int
        1-based step, ``1 <= step < len(steps)``.
    steps, window, order, by, step_column
        As in :func:`funnel_conversion_times`.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` (and ``by_value``) and ``step_<step>_ts``, sorted.
    """
    spec = _funnel_spec("funnel_dropoffs", steps, window, order, by, step_column)
    step = _check_int(step, "step", "funnel_dropoffs", 1)
    if step >= len(spec.steps):
        raise ValueError(
            f"The 'step' parameter of funnel_dropoffs must be < the number of steps ({len(spec.steps)}). Got {step}."
        )
    users = _format_user_rows(_funnel_user_rows(events, spec, "funnel_dropoffs"), spec)
    keep = ["user_id", *(["by_value"] if spec.by else []), f"step_{step}_ts"]
    return users.loc[users["steps_reached"] == step, keep].reset_index(drop=True)


def wilson_interval(successes: Any, trials: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson 1927), element-wise.

    It stays inside [0, 1] and keeps its coverage for small groups and rates near 0 or 1, where the
    normal ("Wald") interval fails; ``z = 1.96`` gives 95 %.

    Parameters
    ----------
    successes, trials : array-like of int
        Successes and trials per group (``trials >= 1``).
    z : float, default 1.96
        Standard-normal quantile of the two-sided level.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds.
    """
    n = np.asarray(trials, dtype="float64")
    if (n < 1).any():
        raise ValueError("wilson_interval: every group needs at least one trial.")
    p = np.asarray(successes, dtype="float64") / n
    center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return center - half, center + half


def breakdown_conversion(funnel_table: pd.DataFrame, z: float = 1.96) -> pd.DataFrame:
    """Conversion from the first to the last funnel step per breakdown value, with Wilson intervals.

    Parameters
    ----------
    funnel_table : pandas.DataFrame
        Rows of :func:`funnel` (with ``by=``) stacked with a ``breakdown`` column naming the variable
        and ``by_value`` its value; rows with ``breakdown == "all"`` are left out.
    z : float, default 1.96
        Standard-normal quantile of the intervals (95 %).

    Returns
    -------
    pandas.DataFrame
        ``breakdown, by_value, n`` (users at step 1), ``users`` (at the last step),
        ``overall_conversion, ci_low, ci_high``, in the table's order.
    """
    last_step = funnel_table["step"].max()
    keys = ["breakdown", "by_value"]
    split = funnel_table[funnel_table["breakdown"] != "all"]
    last = split.loc[split["step"] == last_step].copy()
    first = split.loc[split["step"] == 1].set_index(keys)["users"]
    last["n"] = first.reindex(pd.MultiIndex.from_frame(last[keys])).to_numpy()
    last["ci_low"], last["ci_high"] = wilson_interval(last["users"], last["n"], z)
    columns = [*keys, "n", "users", "overall_conversion", "ci_low", "ci_high"]
    return last[columns].reset_index(drop=True)
