"""Summaries of a cleaning run computed in DuckDB over the Parquet files (notebook 01's tables and figures).

Each returns an aggregate (per event type, per day, per user, a quantile table) or a bounded sample,
never the event table itself, so notebook 01 stays small at any number of events.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from lsc_utils.cleaning.sql import _coerced, quote
from lsc_utils.constants import TABLES
from lsc_utils.io import sql_literal
from lsc_utils.schema import SCHEMAS
from lsc_utils.sqlengine import DuckDBEngine


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _parquet(path: str | Path) -> str:
    return f"read_parquet({sql_literal(str(path))})"


def input_overview(data_dir: str | Path) -> pd.DataFrame:
    """Rows and columns of every table file of a dataset folder, read from the Parquet metadata only."""
    rows = {}
    for table in TABLES:
        file = Path(data_dir) / f"{table}.parquet"
        if file.is_file():
            meta = pq.ParquetFile(file).metadata
            rows[table] = {"rows": meta.num_rows, "columns": meta.num_columns}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["rows", "columns"])


def event_type_counts_sql(raw_events: str | Path, clean_events: str | Path) -> pd.DataFrame:
    """Events per type in the input file and in the clean file, with the difference (quarantined).

    The input's types are read as the cleaning reads them (null-like text is null, shown ``<null>``).
    """
    with _connect() as con:
        spec = SCHEMAS["events"]["event_type"]
        kind = DuckDBEngine(con).parquet_view("raw_events", Path(raw_events), "source_row")["event_type"]
        counts = con.execute(
            f"""WITH before AS (
                SELECT COALESCE({_coerced("event_type", spec, kind)}, '<null>') AS event_type, count(*) AS input
                FROM raw_events GROUP BY 1
            ), after AS (
                SELECT COALESCE(event_type, '<null>') AS event_type, count(*) AS kept FROM {_parquet(clean_events)} GROUP BY 1
            )
            SELECT event_type, CAST(input AS BIGINT) AS input, CAST(COALESCE(kept, 0) AS BIGINT) AS kept
            FROM before LEFT JOIN after USING (event_type)
            ORDER BY input DESC, event_type"""
        ).df()
    counts["quarantined"] = counts["input"] - counts["kept"]
    return counts


def events_per_day(clean_events: str | Path) -> pd.DataFrame:
    """Clean events per UTC day: ``ts`` (day start), ``events``."""
    with _connect() as con:
        return con.execute(
            f"""SELECT date_trunc('day', ts) AS ts, count(*) AS events FROM {_parquet(clean_events)}
            GROUP BY 1 ORDER BY 1"""
        ).df()


def peak_events_per_minute_sql(events: str | Path) -> pd.Series:
    """Largest number of events of each user in any 60-second window (second resolution), by SQL.

    The same count as :func:`lsc_utils.cleaning.peak_events_per_minute`, over a Parquet file.
    """
    with _connect() as con:
        peaks = con.execute(
            f"""SELECT user_id, max(n) AS peak_events_per_minute FROM (
                SELECT user_id, count(*) OVER (
                    PARTITION BY user_id ORDER BY epoch_us(ts) // 1000000 RANGE BETWEEN 59 PRECEDING AND CURRENT ROW
                ) AS n
                FROM {_parquet(events)}
            ) GROUP BY user_id ORDER BY user_id"""
        ).df()
    return peaks.set_index("user_id")["peak_events_per_minute"].astype("int64")


def session_summary(clean_events: str | Path, sample_size: int = 200_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events and minutes per session: exact summary statistics and a sample of sessions for figures.

    Parameters
    ----------
    clean_events : str or Path
        The clean event file (``session_id`` filled).
    sample_size : int, default 200000
        Sessions kept for figures: all of them when there are fewer, else those whose id hash falls
        in the first ``sample_size / n`` of the hash range (deterministic on every machine).

    Returns
    -------
    summary : pandas.DataFrame
        ``count, mean, std, min, 25%, 50%, 75%, max`` (rows) of ``events`` and ``minutes`` (columns),
        as :meth:`pandas.DataFrame.describe` gives them.
    sample : pandas.DataFrame
        ``events, minutes`` of the sampled sessions.
    """
    with _connect() as con:
        con.execute(
            f"""CREATE TEMP VIEW sessions AS
            SELECT session_id, count(*) AS events,
                   (epoch_us(max(ts)) - epoch_us(min(ts))) / 60e6 AS minutes
            FROM {_parquet(clean_events)} GROUP BY session_id"""
        )
        stats = []
        for column in ("events", "minutes"):
            col = quote(column)
            stats.append(
                con.execute(
                    f"""SELECT count(*), avg({col}), stddev_samp({col}), min({col}),
                        quantile_cont({col}, 0.25), quantile_cont({col}, 0.5), quantile_cont({col}, 0.75), max({col})
                    FROM sessions"""
                ).fetchone()
            )
        n = int(stats[0][0])
        share = min(1.0, sample_size / n) if n else 1.0
        sample = con.execute(
            f"""SELECT CAST(events AS BIGINT) AS events, minutes FROM sessions
            WHERE hash(session_id) < {share!r} * 18446744073709551615 ORDER BY session_id"""
        ).df()
    index = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
    summary = pd.DataFrame({"events": stats[0], "minutes": stats[1]}, index=index).astype("float64")
    return summary, sample


def session_agreement_sql(truth_sessions: str | Path, lineage: str | Path) -> float:
    """Share of true sessions reproduced exactly (same surviving rows, nothing added), by SQL.

    The measure of :func:`lsc_utils.cleaning.session_agreement`, over the simulator's
    ``truth/sessions.parquet`` (``event_row, session``) and the cleaning's lineage file
    (``source_row, session_id`` of every clean event).
    """
    with _connect() as con:
        value = con.execute(
            f"""WITH pairs AS (
                SELECT t.session AS truth, l.session_id AS ours
                FROM {_parquet(truth_sessions)} AS t JOIN {_parquet(lineage)} AS l ON t.event_row = l.source_row
            ), per_truth AS (
                SELECT truth, count(DISTINCT ours) AS n_ours, min(ours) AS ours FROM pairs GROUP BY truth
            ), per_ours AS (
                SELECT ours, count(DISTINCT truth) AS n_truth FROM pairs GROUP BY ours
            )
            SELECT count(*) FILTER (WHERE p.n_ours = 1 AND o.n_truth = 1) / greatest(count(*), 1)
            FROM per_truth AS p LEFT JOIN per_ours AS o ON p.ours = o.ours"""
        ).fetchone()[0]
    return float(value)
