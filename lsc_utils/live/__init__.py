"""Live-room analytics: viewer stays, concurrency (sweep line) and room KPIs.

Every row-scale step is DuckDB SQL over canonical ``events`` (a pandas DataFrame, a Parquet file or a
dataset folder) and, optionally, ``rooms``; pandas only holds the per-stay and per-room results.

* :func:`build_stays` / :func:`summarize_stays` (``stays``): one row per viewer visit, rebuilt from
  enter, leave and activity events with a heartbeat timeout, the room's end and reconnect merging.
* :func:`room_concurrency` / :func:`concurrency_series` (``concurrency``): PCU, ACU and viewers per minute.
* :func:`room_kpis` and :data:`KPI_DEFINITIONS` (``kpis``): PV, UV, watch time, CTR, CTOR, conversion,
  GMV, GPM, UV value, interaction rate, new followers.
* :func:`retention_curve`, :func:`median_stay`, :func:`retention_at` (``retention``): Kaplan–Meier
  survival of watch time (``scipy.stats.ecdf`` on censored data; stays cut by the room's end censored).
* :func:`detect_drops` (CUSUM, EWMA; online), :func:`detect_change_points` (ruptures Pelt/Binseg;
  offline), :func:`evaluate_alerts` (``alerts``): sudden drops in per-minute series and their scoring.
* :func:`minute_activity`, :func:`room_timeline`, :func:`product_slots`, :func:`replay_minute_activity`
  (``timeline``): per-minute activity, one room's timeline, products on show, and a micro-batch
  streaming replay equal to the batch result.
* :func:`start_slots`, :func:`hour_of_week_table`, :func:`rank_groups` (``schedule``): best time to go
  live and which groups hold viewers, ranked with within-group bootstrap intervals.
"""

from __future__ import annotations

from lsc_utils.live._input import ACTIVITY_EVENTS, TableInput
from lsc_utils.live.alerts import (
    ALERT_COLUMNS,
    BREAKPOINT_COLUMNS,
    CHANGE_CUSUM_H,
    CHANGE_CUSUM_K,
    CHANGE_EWMA_L,
    CHANGE_EWMA_LAMBDA,
    CHANGE_POINT_METHODS,
    CHANGE_POINT_MODELS,
    CHANGE_WINDOW,
    DEFAULT_CUSUM_H,
    DEFAULT_CUSUM_K,
    DEFAULT_EWMA_L,
    DEFAULT_EWMA_LAMBDA,
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOW,
    DROP_METHODS,
    detect_audience_drops,
    detect_change_points,
    detect_drops,
    evaluate_alerts,
    minute_changes,
    simulate_drop_study,
)
from lsc_utils.live.concurrency import CONCURRENCY_COLUMNS, SERIES_COLUMNS, concurrency_series, room_concurrency
from lsc_utils.live.kpis import INTERACTION_EVENTS, KPI_DEFINITIONS, room_kpis
from lsc_utils.live.retention import (
    CENSORING_RULE,
    COUNT_COLUMNS,
    CURVE_COLUMNS,
    HEARTBEAT_AS,
    median_stay,
    retention_at,
    retention_curve,
)
from lsc_utils.live.schedule import WEEKDAY_NAMES, hour_of_week_table, rank_groups, start_slots
from lsc_utils.live.stays import (
    CLOSING_RULES,
    DEFAULT_HEARTBEAT,
    DEFAULT_RECONNECT_GAP,
    STAY_COLUMNS_OUT,
    build_stays,
    summarize_stays,
)
from lsc_utils.live.timeline import (
    ACTIVITY_COLUMNS,
    minute_activity,
    product_slots,
    replay_minute_activity,
    room_timeline,
)

__all__ = [
    "ALERT_COLUMNS",
    "BREAKPOINT_COLUMNS",
    "CHANGE_POINT_METHODS",
    "CHANGE_POINT_MODELS",
    "DEFAULT_CUSUM_H",
    "DEFAULT_CUSUM_K",
    "DEFAULT_EWMA_L",
    "DEFAULT_EWMA_LAMBDA",
    "DEFAULT_TOLERANCE",
    "DEFAULT_WINDOW",
    "DROP_METHODS",
    "CHANGE_CUSUM_H",
    "CHANGE_CUSUM_K",
    "CHANGE_EWMA_L",
    "CHANGE_EWMA_LAMBDA",
    "CHANGE_WINDOW",
    "detect_audience_drops",
    "minute_changes",
    "detect_change_points",
    "detect_drops",
    "evaluate_alerts",
    "simulate_drop_study",
    "ACTIVITY_EVENTS",
    "CENSORING_RULE",
    "COUNT_COLUMNS",
    "CURVE_COLUMNS",
    "HEARTBEAT_AS",
    "WEEKDAY_NAMES",
    "hour_of_week_table",
    "median_stay",
    "rank_groups",
    "retention_at",
    "retention_curve",
    "start_slots",
    "CLOSING_RULES",
    "CONCURRENCY_COLUMNS",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_RECONNECT_GAP",
    "INTERACTION_EVENTS",
    "KPI_DEFINITIONS",
    "SERIES_COLUMNS",
    "STAY_COLUMNS_OUT",
    "TableInput",
    "build_stays",
    "concurrency_series",
    "room_concurrency",
    "room_kpis",
    "summarize_stays",
    "ACTIVITY_COLUMNS",
    "minute_activity",
    "product_slots",
    "replay_minute_activity",
    "room_timeline",
]
