"""Cleaning of a canonical dataset: validate, quarantine, detect bots, pseudonymize, sessionize.

Two engines, one set of rules (the reasons and their order are in :mod:`lsc_utils.cleaning.core`):

* ``core``: :func:`clean_dataset` in pandas, on a loaded :class:`~lsc_utils.io.Dataset` (small tables,
  and the reference the SQL engine is tested against row for row);
* ``sql``: :func:`clean_dataset_out_of_core`, the default of notebook 01, cleans the event table with
  DuckDB SQL over Parquet under a memory limit (never in pandas) and the small tables with ``core``;
* ``summaries``: notebook 01's aggregates (types, days, peaks, sessions, session agreement) in SQL.
"""

from lsc_utils.cleaning.core import (
    ACTIVITY_TABLES,
    DEFAULT_VALID_FROM,
    PRIMARY_KEYS,
    PUBLISHED_TRUTH,
    REASON_ORDER,
    TS_COLUMNS,
    USER_ID_TABLES,
    CleaningConfig,
    CleaningResult,
    assign_reasons,
    clean_dataset,
    detection_scores,
    duplicate_rows,
    event_type_counts,
    mask_comment_pii,
    peak_events_per_minute,
    publish_truth,
    reason_of,
    save_cleaning_result,
    session_agreement,
    sessionize,
    valid_period,
    validation_report,
)
from lsc_utils.cleaning.sql import (
    OutOfCoreCleaning,
    SqlCleaningResult,
    clean_dataset_out_of_core,
    clean_events_sql,
    duckdb_connection,
)
from lsc_utils.cleaning.summaries import (
    event_type_counts_sql,
    events_per_day,
    input_overview,
    peak_events_per_minute_sql,
    session_agreement_sql,
    session_summary,
)

__all__ = [
    "ACTIVITY_TABLES",
    "DEFAULT_VALID_FROM",
    "PRIMARY_KEYS",
    "PUBLISHED_TRUTH",
    "REASON_ORDER",
    "TS_COLUMNS",
    "USER_ID_TABLES",
    "CleaningConfig",
    "CleaningResult",
    "OutOfCoreCleaning",
    "SqlCleaningResult",
    "assign_reasons",
    "clean_dataset",
    "clean_dataset_out_of_core",
    "clean_events_sql",
    "detection_scores",
    "duckdb_connection",
    "duplicate_rows",
    "event_type_counts",
    "event_type_counts_sql",
    "events_per_day",
    "input_overview",
    "mask_comment_pii",
    "peak_events_per_minute",
    "peak_events_per_minute_sql",
    "publish_truth",
    "reason_of",
    "save_cleaning_result",
    "session_agreement",
    "session_agreement_sql",
    "session_summary",
    "sessionize",
    "valid_period",
    "validation_report",
]
