"""Per-minute room mood timelines, drop alerts, and engagement vs conversion per room."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import check_positive as _check_positive
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.io import sql_literal

# --------------------------------------------------------------------------------------------------
# Room timelines and drop alerts
# --------------------------------------------------------------------------------------------------


def _bin_width(freq: str, function: str) -> pd.Timedelta:
    try:
        width = pd.to_timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        raise ValueError(
            f"The 'freq' parameter of {function} must be a fixed pandas frequency such as '1min' or '30s'. "
            f"Got {freq!r} instead."
        ) from None
    if width <= pd.Timedelta(0):
        raise ValueError(f"The 'freq' parameter of {function} must be a positive duration. Got {freq!r} instead.")
    return width


def room_timeline(
    comments_scored: pd.DataFrame, freq: str = "1min", score_column: str = "score", room_column: str = "room_id"
) -> pd.DataFrame:
    """Comment rate and mean sentiment per room and time bin, with empty bins filled.

    Every room gets a gap-free grid from its first to its last bin (bins without comments have
    ``n_comments`` 0 and a missing ``sentiment_mean``), so rolling windows count bins, not comments.

    Parameters
    ----------
    comments_scored : pandas.DataFrame
        Columns ``room_id``, ``ts`` (timestamps) and ``score`` (e.g. from :func:`score_texts`);
        ``label`` is used for ``negative_share`` when present.
    freq : str, default "1min"
        Bin width (fixed pandas frequency).

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``minute`` (bin start), ``n_comments``, ``comment_rate`` (comments per minute),
        ``sentiment_mean``, ``negative_share``.
    """
    _require_columns(comments_scored, [room_column, "ts", score_column], "comments_scored", "room_timeline")
    width = _bin_width(freq, "room_timeline")
    ts = pd.to_datetime(comments_scored["ts"], utc=True, errors="coerce").reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "room_id": comments_scored[room_column].to_numpy(),
            "minute": ts.dt.floor(freq),
            "score": pd.to_numeric(comments_scored[score_column], errors="coerce").to_numpy(),
            "negative": (comments_scored["label"] == "negative").to_numpy(dtype=float)
            if "label" in comments_scored
            else np.nan,
        }
    ).dropna(subset=["room_id", "minute"])
    columns = ["room_id", "minute", "n_comments", "comment_rate", "sentiment_mean", "negative_share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(["room_id", "minute"], sort=True).agg(
        n_comments=("score", "size"), sentiment_mean=("score", "mean"), negative_share=("negative", "mean")
    )
    grid = _minute_grid(grouped.reset_index()[["room_id", "minute"]], width)
    out = grid.merge(grouped.reset_index(), on=["room_id", "minute"], how="left")
    out["n_comments"] = out["n_comments"].fillna(0).astype("int64")
    out["comment_rate"] = out["n_comments"] / (width / pd.Timedelta(minutes=1))
    return out[columns]


def _minute_grid(keys: pd.DataFrame, width: pd.Timedelta) -> pd.DataFrame:
    """Every bin from each room's first to last bin."""
    span = keys.groupby("room_id", sort=True)["minute"].agg(["min", "max"])
    steps = ((span["max"] - span["min"]) // width).astype("int64").to_numpy() + 1
    rooms = np.repeat(span.index.to_numpy(), steps)
    offsets = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
    starts = span["min"].dt.tz_localize(None).to_numpy()
    minutes = pd.DatetimeIndex(np.repeat(starts, steps) + offsets * width.to_timedelta64()).tz_localize("UTC")
    return pd.DataFrame({"room_id": rooms, "minute": minutes}).astype({"minute": keys["minute"].dtype})


def _trailing(values: pd.Series, rooms: pd.Series, window: int, min_periods: int, how: str) -> pd.Series:
    """Trailing statistic over the previous ``window`` bins of the same room (current bin excluded)."""
    previous = values.groupby(rooms, sort=False).shift(1)
    rolled = previous.groupby(rooms, sort=False).rolling(window, min_periods=min_periods)
    result = rolled.mean() if how == "mean" else rolled.std(ddof=1)
    return result.reset_index(level=0, drop=True).reindex(values.index)


def detect_drops(
    timeline: pd.DataFrame,
    window: int = 10,
    z_threshold: float = 2.0,
    min_relative_drop: float = 0.5,
    min_mood_drop: float = 0.3,
    min_comments: int = 5,
    min_periods: int | None = None,
) -> pd.DataFrame:
    """Alert rows for bins where a room's mood or comment rate falls below its recent past.

    Rule, per room, for each bin t against the previous ``window`` bins (t excluded; at least
    ``min_periods`` of them valid, default ``window // 2``), with z = (value - mean) / std:

    * ``engagement_drop``: comment rate <= (1 - ``min_relative_drop``) x trailing mean rate, and
      z <= -``z_threshold`` (a zero trailing std counts as an infinite z);
    * ``mood_drop``: the bin has >= ``min_comments`` comments, its mean sentiment is at least
      ``min_mood_drop`` below the trailing mean of the bins that also had >= ``min_comments``
      comments, and z <= -``z_threshold``.

    Parameters
    ----------
    timeline : pandas.DataFrame
        Output of :func:`room_timeline`.
    window : int, default 10
    z_threshold : float, default 2.0
    min_relative_drop : float, default 0.5
    min_mood_drop : float, default 0.3
        On the [-1, 1] score scale.
    min_comments : int, default 5
    min_periods : int, optional

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``minute``, ``kind`` (mood_drop / engagement_drop), ``value``, ``baseline``,
        ``zscore``; sorted by room, minute and kind.
    """
    needed = ["room_id", "minute", "n_comments", "comment_rate", "sentiment_mean"]
    _require_columns(timeline, needed, "timeline", "detect_drops")
    _check_int(window, "window", "detect_drops", minimum=2)
    min_periods = max(window // 2, 2) if min_periods is None else min_periods
    _check_int(min_periods, "min_periods", "detect_drops", minimum=2)
    _check_int(min_comments, "min_comments", "detect_drops")
    _check_positive(z_threshold, "z_threshold", "detect_drops")
    if not 0 < min_relative_drop < 1:
        raise ValueError(
            f"The 'min_relative_drop' parameter of detect_drops must be in (0, 1). Got {min_relative_drop!r} instead."
        )
    _check_positive(min_mood_drop, "min_mood_drop", "detect_drops")
    frame = timeline.sort_values(["room_id", "minute"], kind="stable").reset_index(drop=True)
    rooms = frame["room_id"]
    rate = frame["comment_rate"].astype(float)
    mood = frame["sentiment_mean"].astype(float).where(frame["n_comments"] >= min_comments)
    alerts = []
    for kind, values, min_gap in (("engagement_drop", rate, None), ("mood_drop", mood, min_mood_drop)):
        mean = _trailing(values, rooms, window, min_periods, "mean")
        std = _trailing(values, rooms, window, min_periods, "std")
        gap = mean - values
        z = np.where(std > 0, -gap / std.where(std > 0, 1.0), np.where(gap > 0, -np.inf, 0.0))
        hit = values.notna() & mean.notna() & (z <= -z_threshold)
        hit &= (values <= (1 - min_relative_drop) * mean) if min_gap is None else (gap >= min_gap)
        alerts.append(
            pd.DataFrame(
                {
                    "room_id": rooms[hit].to_numpy(),
                    "minute": frame["minute"][hit].to_numpy(),
                    "kind": kind,
                    "value": values[hit].to_numpy(),
                    "baseline": mean[hit].to_numpy(),
                    "zscore": z[hit.to_numpy()],
                }
            )
        )
    out = pd.concat(alerts, ignore_index=True)
    out["minute"] = out["minute"].astype(frame["minute"].dtype) if len(frame) else out["minute"]
    return out.sort_values(["room_id", "minute", "kind"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Engagement vs conversion
# --------------------------------------------------------------------------------------------------

ENGAGEMENT_METRICS: tuple[str, ...] = ("likes_per_viewer", "shares_per_viewer", "comments_per_viewer")
"""Per-viewer engagement columns of :func:`engagement_conversion`."""


def engagement_conversion(events: pd.DataFrame | str | Path, comments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-room engagement per viewer and conversion rate (DuckDB SQL over the events).

    viewers = distinct users with any event in the room; likes / shares / comments = counts of
    those events (comments from the ``comments`` table when given); buyers = distinct users with a
    purchase event (``constants.PURCHASE_EVENTS``) in the room; conversion_rate = buyers / viewers.

    Parameters
    ----------
    events : pandas.DataFrame, str or Path
        Canonical events (``user_id``, ``event_type``, ``room_id``), or their Parquet file.
    comments : pandas.DataFrame, optional
        Canonical comments (``room_id``); replaces comment events in the count.

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``viewers``, ``likes``, ``shares``, ``comments``, ``buyers``,
        ``likes_per_viewer``, ``shares_per_viewer``, ``comments_per_viewer``, ``conversion_rate``.
    """
    import duckdb

    needed = ["user_id", "event_type", "room_id"]
    purchase = ", ".join(f"'{e}'" for e in PURCHASE_EVENTS)
    con = duckdb.connect()
    try:
        if isinstance(events, str | Path):  # a Parquet file: the events never enter pandas
            source = f"read_parquet({sql_literal(events)})"
            found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            _require_columns(pd.DataFrame(columns=found), needed, "events", "engagement_conversion")
            con.execute(f"CREATE VIEW ev AS SELECT user_id, event_type, room_id FROM {source}")
        else:
            _require_columns(events, needed, "events", "engagement_conversion")
            con.register("ev", events[needed])
        table = con.execute(
            f"""
            SELECT CAST(room_id AS VARCHAR) AS room_id,
                   COUNT(DISTINCT user_id) AS viewers,
                   COUNT(*) FILTER (WHERE event_type = 'like') AS likes,
                   COUNT(*) FILTER (WHERE event_type = 'share') AS shares,
                   COUNT(*) FILTER (WHERE event_type = 'comment') AS comments,
                   COUNT(DISTINCT user_id) FILTER (WHERE event_type IN ({purchase})) AS buyers
            FROM ev
            WHERE room_id IS NOT NULL AND user_id IS NOT NULL
            GROUP BY 1
            ORDER BY 1
            """
        ).df()
        if comments is not None:
            _require_columns(comments, ["room_id"], "comments", "engagement_conversion")
            con.register("cm", comments[["room_id"]])
            per_room = con.execute(
                "SELECT CAST(room_id AS VARCHAR) AS room_id, COUNT(*) AS n FROM cm WHERE room_id IS NOT NULL GROUP BY 1"
            ).df()
            table["comments"] = table["room_id"].map(per_room.set_index("room_id")["n"]).fillna(0)
    finally:
        con.close()
    table = table.astype({"room_id": "str"})
    for column in ("viewers", "likes", "shares", "comments", "buyers"):
        table[column] = table[column].astype("int64")
    for column, count in zip(ENGAGEMENT_METRICS, ("likes", "shares", "comments"), strict=True):
        table[column] = table[count] / table["viewers"]
    table["conversion_rate"] = table["buyers"] / table["viewers"]
    return table


def engagement_spearman(
    table: pd.DataFrame,
    target: str = "conversion_rate",
    metrics: Sequence[str] = ENGAGEMENT_METRICS,
    min_viewers: int = 1,
) -> pd.DataFrame:
    """Spearman rank correlation of each engagement metric with conversion across rooms.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`engagement_conversion`.
    target : str, default "conversion_rate"
    metrics : sequence of str
    min_viewers : int, default 1
        Rooms with fewer viewers are left out (their rates are noise).

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``rho``, ``p_value``, ``n_rooms`` (rho and p are NaN with < 3 rooms or a constant
        column).
    """
    from scipy.stats import spearmanr

    _require_columns(table, [target, "viewers", *metrics], "table", "engagement_spearman")
    _check_int(min_viewers, "min_viewers", "engagement_spearman")
    rooms = table[table["viewers"] >= min_viewers]
    rows = []
    for metric in metrics:
        pair = rooms[[metric, target]].dropna()
        rho, p_value = np.nan, np.nan
        if len(pair) >= 3 and pair[metric].nunique() > 1 and pair[target].nunique() > 1:
            result = spearmanr(pair[metric], pair[target])
            rho, p_value = float(result.statistic), float(result.pvalue)
        rows.append((metric, rho, p_value, len(pair)))
    return pd.DataFrame(rows, columns=["metric", "rho", "p_value", "n_rooms"])
