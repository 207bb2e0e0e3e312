"""Cleaning of the event table as DuckDB SQL over Parquet: out of core, with the pandas path's rules.

The event table is the one that grows with the platform (hundreds of millions of rows a day); here it
is never loaded into pandas. One DuckDB query chain over the canonical ``events.parquet``

1. coerces every canonical column from whatever type the file holds (text timestamps, numeric ids,
   null-like strings), as :func:`lsc_utils.schema.validate_table` does;
2. finds each row's problems (unparseable values, nulls, vocabularies, minimums, the valid period,
   retention, adapter flags), then exact duplicates (a later row than the first of its window partition over every column) and bots (the
   largest number of events of a user in any 60-second window, a ``RANGE`` window), and gives each
   row the first reason of :data:`~lsc_utils.cleaning.REASON_ORDER`, exactly as
   :func:`~lsc_utils.cleaning.assign_reasons` does;
3. pseudonymizes user ids through a table of the *distinct* ids (keyed HMAC computed once per user in
   Python, joined in SQL: the key never enters a query string);
4. sessionizes the kept rows with window functions (a gap above the limit, or a new room for room
   sessions, starts a session; ``<pseudonym>#<n>`` and ``<pseudonym>#r<n>``);
5. writes ``events.parquet`` (kept rows in time order) and the quarantine (rows with ``reason`` and
   ``source_row``) with ``COPY``, and returns only counts.

Memory is bounded by DuckDB's ``memory_limit`` (spilling to ``temp_directory``), not by the data.
The statements are written in DuckDB's dialect and go through a :mod:`lsc_utils.sqlengine` engine:
DuckDB by default, or Spark (``engine="spark"``), which runs the same statements transpiled by sqlglot
and writes Parquet folders; the results are equal row for row (``tests/unit/test_spark_engine.py``).
Timestamps given as text are read as ISO 8601 (any offset or ``Z``; no offset means UTC), else as
``YYYY/MM/DD[ HH:MM[:SS]]``; the pandas path also accepts other formats through dateutil.
"""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from lsc_utils.cleaning.core import CleaningConfig, CleaningResult
from lsc_utils.constants import ACCOUNT_PREFIX
from lsc_utils.io import TABLES, Dataset, load_dataset, read_meta, save_dataset, sql_literal, write_meta
from lsc_utils.schema import SCHEMAS, WRONG_TYPE_SHARE, ColumnSpec, DatasetError, RowProblem
from lsc_utils.sqlengine import SqlEngine, as_engine, check_engine, duckdb_connection, engine_scope

NULL_TEXTS: tuple[str, ...] = ("", "nan", "NaN", "None", "null", "NULL")
"""Text values read as null (after trimming), as in :mod:`lsc_utils.schema`."""

TEXT_TS_FORMATS: tuple[str, ...] = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")
"""Formats tried for text timestamps that are not ISO 8601."""

_PARSED_KINDS: dict[str, str] = {
    "ts": "unparseable_timestamp",
    "float": "unparseable_number",
    "int": "unparseable_number",
    "bool": "unparseable_bool",
}


@dataclass(frozen=True)
class SqlCleaningResult:
    """Counts of :func:`clean_events_sql`; the rows themselves are in the written Parquet files.

    Attributes
    ----------
    events_path, quarantine_path, lineage_path : Path
        Clean events (time order, sessions filled), quarantined events (``reason, source_row``) and the
        raw row of each clean event.
    input_rows, kept_rows : int
    reasons : pandas.Series
        Quarantined rows per reason.
    bot_users : pandas.DataFrame
        ``user_id`` (pseudonym), ``peak_events_per_minute`` of the users quarantined as bots.
    validation : pandas.DataFrame
        Schema problems of the file (as :func:`~lsc_utils.cleaning.validation_report`).
    """

    events_path: Path
    quarantine_path: Path
    lineage_path: Path
    input_rows: int
    kept_rows: int
    reasons: pd.Series
    bot_users: pd.DataFrame
    validation: pd.DataFrame


def quote(name: str) -> str:
    """A SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def _nullish(column: str, source_type: str, stripped: str | None = None) -> str:
    """SQL condition: the raw value counts as null (``stripped``: the SQL of the text already stripped)."""
    col = quote(column)
    if source_type == "VARCHAR":
        texts = ", ".join(sql_literal(t) for t in NULL_TEXTS)
        return f"({col} IS NULL OR {stripped or _strip(col)} IN ({texts}))"
    if source_type in ("DOUBLE", "FLOAT"):
        return f"({col} IS NULL OR isnan({col}))"
    return f"({col} IS NULL)"


WHITESPACE: str = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
"""The characters Python's ``str.strip()`` removes (its whitespace; none lies above U+3000)."""


def _strip(expression: str) -> str:
    """Leading and trailing whitespace removed, as Python's ``str.strip()`` does.

    The full trim over Python's whitespace set is slow in DuckDB, so it only runs on values whose first
    or last character is whitespace (rare in real logs). ``substring(x, ±1, 1)`` picks those characters
    five times faster than ``left``/``right`` (which count grapheme clusters) and means the same on Spark.
    """
    ws = sql_literal(WHITESPACE)
    return (
        f"CASE WHEN contains({ws}, substring({expression}, 1, 1)) OR contains({ws}, substring({expression}, -1, 1)) "
        f"THEN trim({expression}, {ws}) ELSE {expression} END"
    )


def _coerced(column: str, spec: ColumnSpec, source_type: str, stripped: str | None = None) -> str:
    """SQL expression of the canonical value of a raw column (NULL when null-like or unparseable).

    ``stripped`` names the text column already stripped (:func:`_strip`), computed once for every use.
    """
    col = quote(column)
    nullish = _nullish(column, source_type, stripped)
    text = source_type == "VARCHAR"
    stripped = stripped or _strip(f"CAST({col} AS VARCHAR)")
    numeric = source_type in ("DOUBLE", "FLOAT") or source_type.startswith("DECIMAL")
    if spec.kind == "id":
        if numeric:
            value = f"CASE WHEN {col} = floor({col}) THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) ELSE CAST({col} AS VARCHAR) END"
        else:
            value = stripped if text else f"CAST({col} AS VARCHAR)"
    elif spec.kind == "str":
        value = f"CAST({col} AS VARCHAR)"
    elif spec.kind == "float":
        value = f"TRY_CAST({stripped} AS DOUBLE)" if text else f"CAST({col} AS DOUBLE)"
    elif spec.kind == "int":
        number = f"TRY_CAST({stripped} AS DOUBLE)" if text else f"CAST({col} AS DOUBLE)"
        value = f"CASE WHEN {number} = floor({number}) THEN CAST({number} AS BIGINT) END"
    elif spec.kind == "bool":
        if source_type == "BOOLEAN":
            value = col
        else:
            lowered = f"lower({stripped})"
            value = (
                f"CASE WHEN {lowered} IN ('true', '1', 'yes', 'y', 't') THEN true "
                f"WHEN {lowered} IN ('false', '0', 'no', 'n', 'f') THEN false END"
            )
    elif spec.kind == "ts":
        value = _coerced_ts(col, source_type, stripped)
    else:  # pragma: no cover - the schema has no other kind
        raise AssertionError(spec.kind)
    return f"CASE WHEN {nullish} THEN NULL ELSE {value} END"


def _coerced_ts(col: str, source_type: str, stripped: str) -> str:
    """Timestamp with time zone (UTC) from a text (``stripped``: its SQL, stripped), numeric (epoch
    seconds) or timestamp column."""
    if source_type.startswith("TIMESTAMP"):
        return f"CAST({col} AS TIMESTAMPTZ)"
    if source_type in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "UINTEGER"):
        return f"to_timestamp(CAST({col} AS DOUBLE))"
    formats = ", ".join(sql_literal(f) for f in TEXT_TS_FORMATS)
    parsed = (
        f"COALESCE(TRY_CAST({stripped} AS TIMESTAMPTZ), CAST(try_strptime({stripped}, [{formats}]) AS TIMESTAMPTZ))"
    )
    return (
        f"CASE WHEN substring({stripped}, 1, 1) BETWEEN '0' AND '9' THEN {parsed} END"  # DuckDB reads 'epoch' as a date
    )


def _reason(problem: str, column: str) -> str:
    """The quarantine reason of a schema problem (the pandas path's :func:`reason_of`)."""
    from lsc_utils.cleaning.core import reason_of

    return reason_of(RowProblem("events", column, problem, mask=None))  # type: ignore[arg-type]


def _check_structure(types: dict[str, str], specs: dict[str, ColumnSpec], n_rows: int, file: str) -> None:
    """One-line errors for an empty table or missing required columns (as :func:`validate_table`)."""
    if n_rows == 0:
        raise DatasetError(f"{file}: the events table is empty (no rows).")
    missing = [c for c, s in specs.items() if s.required and c not in types]
    if missing:
        raise DatasetError(
            "\n".join(f"{file}: required column '{c}' is missing (columns found: {', '.join(types)})." for c in missing)
        )


def _coerce_view(engine: SqlEngine, types: dict[str, str], specs: dict[str, ColumnSpec]) -> None:
    """View ``coerced_flags``: ``source_row``, canonical columns and, per parsed column, ``_raw_<col>``
    (the raw value is not null-like), ``_fail_<col>`` (it did not parse) and ``_text_<col>`` (the raw text
    of a value that did not parse, kept for the quarantine and the report), over the view ``raw_events``."""
    select = ["source_row"]
    flags: list[str] = []
    kept = ["source_row"]
    for name, spec in specs.items():
        if name not in types:
            select.append(f"CAST(NULL AS {_SQL_TYPE[spec.kind]}) AS {quote(name)}")
            continue
        stripped = quote("_s_" + name) if types[name] == "VARCHAR" else None
        select.append(f"{_coerced(name, spec, types[name], stripped)} AS {quote(name)}")
        kept.append(quote(name))
        if spec.kind in _PARSED_KINDS:
            select.append(f"(NOT {_nullish(name, types[name], stripped)}) AS {quote('_raw_' + name)}")
            select.append(f"CAST({quote(name + '__raw')} AS VARCHAR) AS {quote('_rawtext_' + name)}")
            failed = f"({quote('_raw_' + name)} AND {quote(name)} IS NULL)"
            flags.append(f"{failed} AS {quote('_fail_' + name)}")
            flags.append(f"CASE WHEN {failed} THEN {quote('_rawtext_' + name)} END AS {quote('_text_' + name)}")
            kept.append(quote("_raw_" + name))
    extra = [f"{quote(n)} AS {quote(n + '__raw')}" for n in types if n in specs and specs[n].kind in _PARSED_KINDS]
    extra += [f"{_strip(quote(n))} AS {quote('_s_' + n)}" for n in types if n in specs and types[n] == "VARCHAR"]
    engine.view(
        "coerced_raw",
        f"SELECT {', '.join(select)} FROM (SELECT *{', ' if extra else ''}{', '.join(extra)} FROM raw_events)",
    )
    missing = [f"CAST(NULL AS {_SQL_TYPE[s.kind]}) AS {quote(n)}" for n, s in specs.items() if n not in types]
    engine.view("coerced_flags", f"SELECT {', '.join(kept + missing + flags)} FROM coerced_raw")


_SQL_TYPE: dict[str, str] = {
    "id": "VARCHAR",
    "str": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


def _check_wrong_types(engine: SqlEngine, types: dict[str, str], specs: dict[str, ColumnSpec], file: str) -> set[str]:
    """Raise for columns where most non-null values fail to parse; return the columns with some failures."""
    parsed = [n for n, s in specs.items() if s.kind in _PARSED_KINDS and n in types]
    if not parsed:
        return set()
    counts = engine.fetchone(
        "SELECT "
        + ", ".join(
            f"count(*) FILTER (WHERE {quote('_fail_' + n)}), count(*) FILTER (WHERE {quote('_raw_' + n)})"
            for n in parsed
        )
        + " FROM coerced_flags"
    )
    errors, failing = [], set()
    for i, name in enumerate(parsed):
        failed, non_null = int(counts[2 * i]), int(counts[2 * i + 1])
        if failed and failed > WRONG_TYPE_SHARE * non_null:
            examples = engine.df(
                f"SELECT {quote('_text_' + name)} AS example FROM coerced_flags WHERE {quote('_fail_' + name)} "
                "ORDER BY source_row LIMIT 5"
            )["example"]
            errors.append(
                f"{file}: column '{name}' has the wrong type: {failed} of {non_null} values are not "
                f"{specs[name].kind} values (e.g. {', '.join(repr(e) for e in examples)})."
            )
        elif failed:
            failing.add(name)
    if errors:
        raise DatasetError("\n".join(errors))
    return failing


@dataclass(frozen=True)
class _Condition:
    """One row rule: the schema problem, its column, its quarantine reason and its SQL condition."""

    problem: str
    column: str
    reason: str
    sql: str
    at_load: bool = True  # a problem of the schema (reported by the validation report), not of the period


def _conditions(
    specs: dict[str, ColumnSpec],
    failing: set[str],
    period: tuple[pd.Timestamp, pd.Timestamp],
    retention_days: int,
) -> list[_Condition]:
    """Every row problem the pandas path finds before duplicates and bots, as SQL conditions."""
    out: list[_Condition] = []
    for name, spec in specs.items():
        col = quote(name)
        if name in failing:
            problem = _PARSED_KINDS[spec.kind]
            out.append(_Condition(problem, name, _reason(problem, name), quote("_fail_" + name)))
        if not spec.nullable:
            problem = "null_id" if spec.kind == "id" else "null_value"
            fail = f" AND NOT {quote('_fail_' + name)}" if name in failing else ""
            out.append(_Condition(problem, name, _reason(problem, name), f"{col} IS NULL{fail}"))
        if spec.allowed is not None:
            allowed = ", ".join(sql_literal(v) for v in spec.allowed)
            out.append(
                _Condition("out_of_vocabulary", name, _reason("out_of_vocabulary", name), f"{col} NOT IN ({allowed})")
            )
        if spec.min_value is not None:
            out.append(
                _Condition("below_minimum", name, _reason("below_minimum", name), f"{col} < {float(spec.min_value)!r}")
            )
    start, end = (sql_literal(t.isoformat()) + "::TIMESTAMPTZ" for t in period)
    outside = f"(ts < {start} OR ts > {end})"
    out.append(_Condition("ts_out_of_range", "ts", "ts_out_of_range", outside, at_load=False))
    if retention_days:
        cutoff = sql_literal((period[1] - pd.Timedelta(days=retention_days)).isoformat()) + "::TIMESTAMPTZ"
        out.append(
            _Condition("retention_expired", "ts", "retention_expired", f"ts < {cutoff} AND NOT {outside}", False)
        )
    flags = (
        ("source_vocabulary", "out_of_vocabulary", "starts_with(event_type, 'out_of_vocabulary:')"),
        ("invalid_source_value", "invalid_source_value", "regexp_matches(event_type, '^invalid_\\w+:')"),
    )
    out += [_Condition(problem, "event_type", reason, cond, at_load=False) for problem, reason, cond in flags]
    return out


def _validation_report(engine: SqlEngine, conditions: list[_Condition]) -> pd.DataFrame:
    """Rows per schema problem of the event file (every problem of a row, not only its first), with examples."""
    checked = [c for c in conditions if c.at_load]
    columns = ["table", "column", "problem", "rows", "examples"]
    if not checked:
        return pd.DataFrame(columns=columns)
    counts = engine.fetchone(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE COALESCE({c.sql}, false))" for c in checked) + " FROM flagged"
    )
    rows = []
    for condition, n in zip(checked, counts, strict=True):
        if not n:
            continue
        unparsed = condition.problem.startswith("unparseable")  # the raw text; else the value as read
        raw = quote("_text_" + condition.column) if unparsed else f"CAST({quote(condition.column)} AS VARCHAR)"
        examples = engine.df(
            f"SELECT {raw} AS example FROM flagged WHERE COALESCE({condition.sql}, false) ORDER BY source_row LIMIT 5"
        )["example"]
        rows.append(
            {
                "table": "events",
                "column": condition.column,
                "problem": condition.problem,
                "rows": int(n),
                "examples": ", ".join(repr(e) for e in examples),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _first_reason(conditions: list[_Condition]) -> str:
    """CASE expression giving each row the first reason in the order of :data:`REASON_ORDER`."""
    from lsc_utils.cleaning.core import _reason_rank

    ordered = sorted(conditions, key=lambda c: (_reason_rank(c.reason), c.reason))
    whens = " ".join(f"WHEN COALESCE({c.sql}, false) THEN {sql_literal(c.reason)}" for c in ordered)
    return f"CASE {whens} END"


def _row_hash(specs: dict[str, ColumnSpec]) -> str:
    """SQL of a 64-bit hash of a row's canonical values: equal rows hash equal (on Spark, ``xxhash64``).

    Floats get ``+ 0.0`` so that ``-0.0`` and ``0.0``, equal as values, hash equal on either engine.
    """
    values = [f"{quote(n)} + 0.0" if s.kind == "float" else quote(n) for n, s in specs.items()]
    return f"hash({', '.join(values)})"


def _classify(
    engine: SqlEngine,
    specs: dict[str, ColumnSpec],
    failing: set[str],
    conditions: list[_Condition],
    threshold: int,
) -> None:
    """Table ``classified``: every row with its reason (schema problems, then duplicates, then bots).

    ``flagged`` keeps only what the later steps read (canonical columns, and the failure flag and raw
    text of the columns that have unparseable values), so 100M rows spill less. Exact duplicates are
    found among the rows whose row hash repeats: the window over every column then sorts those few
    candidates instead of every row, and a hash collision costs a comparison, never a wrong flag.
    """
    columns = ", ".join(quote(n) for n in specs)
    parsed = [quote(f"{prefix}{n}") for n in specs if n in failing for prefix in ("_fail_", "_text_")]
    engine.materialize(
        "flagged",
        f"""SELECT source_row, {", ".join([quote(n) for n in specs] + parsed)},
               {_first_reason(conditions)} AS early_reason, {_row_hash(specs)} AS row_hash
        FROM coerced_flags""",
    )
    engine.materialize(
        "duplicates",
        f"""SELECT source_row FROM (
            SELECT source_row, source_row > min(source_row) OVER (PARTITION BY {columns}) AS is_duplicate
            FROM flagged WHERE row_hash IN (SELECT row_hash FROM flagged GROUP BY row_hash HAVING count(*) > 1)
        ) AS candidates WHERE is_duplicate""",
    )
    engine.materialize(
        "bots",
        f"""WITH valid AS (
            SELECT f.user_id, f.source_row, epoch_us(f.ts) // 1000000 AS second
            FROM flagged AS f LEFT JOIN duplicates AS d ON f.source_row = d.source_row
            WHERE f.early_reason IS NULL AND d.source_row IS NULL
        ), windows AS (
            SELECT user_id, source_row,
                   count(*) OVER (PARTITION BY user_id ORDER BY second RANGE BETWEEN 59 PRECEDING AND CURRENT ROW) AS n
            FROM valid
        )
        SELECT user_id, max(n) AS peak_events_per_minute, min(source_row) AS first_row
        FROM windows GROUP BY user_id HAVING max(n) > {int(threshold)}""",
    )
    engine.view(
        "classified",
        """SELECT f.*, COALESCE(f.early_reason, CASE WHEN d.source_row IS NOT NULL THEN 'duplicate' END,
                             CASE WHEN b.user_id IS NOT NULL THEN 'bot_user' END) AS reason
        FROM flagged AS f LEFT JOIN duplicates AS d ON f.source_row = d.source_row
        LEFT JOIN bots AS b ON f.user_id = b.user_id""",
    )


_ACCOUNT_JOIN = "LEFT JOIN account_pseudonyms AS a ON {side}.account_id = a.user_id"
"""Join of the account pseudonyms (events of an integrated multi-source dataset carry ``account_id``)."""


def _write_clean(engine: SqlEngine, specs: dict[str, ColumnSpec], gap_us: int, path: Path) -> int:
    """Kept rows, pseudonymized and sessionized, in time order (ties: source order), to ``path``.

    Session numbers come from one narrow pass of window functions (table ``sessions``: row, time, user,
    session and room-session numbers): a user's session starts at their first event or after a gap above
    the limit; a room session starts at the user's first room event, after such a gap between room
    events, or when the room changes (room events are ordered among themselves: partition by user and
    has-a-room). The wide rows are joined to them only once, while writing.
    """
    engine.materialize(
        "sessions",
        f"""WITH steps AS (
            SELECT source_row, user_id, ts, room_id IS NOT NULL AS in_room,
                   CASE WHEN lag(ts) OVER by_user IS NULL
                          OR epoch_us(ts) - epoch_us(lag(ts) OVER by_user) > {gap_us} THEN 1 ELSE 0 END AS new_session,
                   CASE WHEN lag(ts) OVER by_room IS NULL
                          OR epoch_us(ts) - epoch_us(lag(ts) OVER by_room) > {gap_us}
                          OR room_id IS DISTINCT FROM lag(room_id) OVER by_room THEN 1 ELSE 0 END AS new_room
            FROM classified WHERE reason IS NULL
            WINDOW by_user AS (PARTITION BY user_id ORDER BY ts, source_row),
                   by_room AS (PARTITION BY user_id, room_id IS NULL ORDER BY ts, source_row)
        )
        SELECT s.source_row, s.ts, p.pseudonym,
               sum(new_session) OVER by_user AS session_n,
               CASE WHEN in_room THEN sum(new_room) OVER by_room END AS room_n
        FROM steps AS s JOIN pseudonyms AS p ON s.user_id = p.user_id
        WINDOW by_user AS (PARTITION BY s.user_id ORDER BY s.ts, s.source_row ROWS UNBOUNDED PRECEDING),
               by_room AS (PARTITION BY s.user_id, in_room ORDER BY s.ts, s.source_row ROWS UNBOUNDED PRECEDING)""",
    )
    labels = {
        "user_id": "n.pseudonym AS user_id",
        "session_id": "n.pseudonym || '#' || CAST(n.session_n AS VARCHAR) AS session_id",
        "room_session_id": "n.pseudonym || '#r' || CAST(n.room_n AS VARCHAR) AS room_session_id",
        "account_id": "a.pseudonym AS account_id",
    }
    select = [labels.get(name, f"k.{quote(name)}") for name in specs]
    engine.write_parquet(
        f"""SELECT {", ".join(select)} FROM classified AS k JOIN sessions AS n ON k.source_row = n.source_row
        {_ACCOUNT_JOIN.format(side="k") if "account_id" in specs else ""}
        ORDER BY n.ts, n.source_row""",
        path,
    )
    return int(engine.fetchone("SELECT count(*) FROM sessions")[0])


def _write_quarantine(engine: SqlEngine, specs: dict[str, ColumnSpec], failing: set[str], path: Path) -> None:
    """Quarantined rows with ``reason, source_row``, pseudonymized, raw text of unparseable values."""
    select = ["q.reason", "q.source_row"]
    for name in specs:
        pseudonymous = {"user_id": "p.pseudonym AS user_id", "account_id": "a.pseudonym AS account_id"}
        select.append(pseudonymous.get(name, f"q.{quote(name)}"))
    select += [f"q.{quote('_text_' + n)} AS {quote('raw_' + n)}" for n in specs if n in failing]
    engine.write_parquet(
        f"""SELECT {", ".join(select)} FROM classified AS q
        LEFT JOIN pseudonyms AS p ON q.user_id = p.user_id
        {_ACCOUNT_JOIN.format(side="q") if "account_id" in specs else ""}
        WHERE q.reason IS NOT NULL ORDER BY q.source_row""",
        path,
    )


def _write_lineage(engine: SqlEngine, path: Path) -> None:
    """Raw row and session of every clean event, in the clean file's order (checks against planted truth)."""
    engine.write_parquet(
        """SELECT source_row, pseudonym || '#' || CAST(session_n AS VARCHAR) AS session_id
        FROM sessions ORDER BY ts, source_row""",
        path,
    )


def clean_events_sql(
    source: str | Path,
    out_dir: str | Path,
    key: bytes,
    config: CleaningConfig,
    period: tuple[pd.Timestamp, pd.Timestamp],
    con: duckdb.DuckDBPyConnection | SqlEngine | None = None,
) -> SqlCleaningResult:
    """Clean ``events.parquet`` with SQL (see the module docstring), never loading it into pandas.

    Parameters
    ----------
    source : str or Path
        The canonical ``events.parquet`` (any column types the pandas path accepts).
    out_dir : str or Path
        Output folder: ``clean/events.parquet`` (kept rows in time order, sessions filled),
        ``quarantine/events.parquet`` (``reason, source_row``, the row) and ``lineage/events.parquet``
        (``source_row, session_id`` of each clean event, same order).
    key : bytes
        Pseudonymization key.
    config : CleaningConfig
        Session gap, bot threshold and retention.
    period : tuple of Timestamp
        Valid period of event times (:func:`~lsc_utils.cleaning.valid_period`).
    con : duckdb.DuckDBPyConnection or SqlEngine, optional
        Connection or engine to run on (default: :func:`duckdb_connection`, 4 GB memory limit,
        spilling); a :class:`~lsc_utils.sqlengine.SparkEngine` runs the same SQL on Spark, which
        writes each output as a Parquet folder.

    Returns
    -------
    SqlCleaningResult
        Paths and counts; ``input_rows == kept_rows + reasons.sum()`` always.

    Raises
    ------
    DatasetError
        One line per problem for a missing or empty file, a missing required column or a column of the
        wrong type (file and column named).
    """
    source, out = Path(source), Path(out_dir)
    if not source.is_file():
        raise DatasetError(f"{source}: table file is missing.")
    if con is None:
        with duckdb_connection() as own:
            return clean_events_sql(source, out, key, config, period, own)
    engine = as_engine(con)
    types = engine.parquet_view("raw_events", source, "source_row")
    specs = {n: s for n, s in SCHEMAS["events"].items() if s.fill_missing or n in types}
    n_rows = int(engine.fetchone("SELECT count(*) FROM raw_events")[0])
    _check_structure(types, specs, n_rows, source.name)
    _coerce_view(engine, types, specs)
    failing = _check_wrong_types(engine, types, specs, source.name)
    conditions = _conditions(specs, failing, period, config.retention_days)
    _classify(engine, specs, failing, conditions, config.bot_events_per_minute)
    engine.pseudonym_table("pseudonyms", "classified", "user_id", key)
    if "account_id" in specs:
        engine.pseudonym_table("account_pseudonyms", "classified", "account_id", key, prefix=ACCOUNT_PREFIX)
    paths = {name: out / name / "events.parquet" for name in ("clean", "quarantine", "lineage")}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    kept = _write_clean(engine, specs, int(config.session_gap_minutes * 60 * 1_000_000), paths["clean"])
    _write_quarantine(engine, specs, failing, paths["quarantine"])
    _write_lineage(engine, paths["lineage"])
    reasons = engine.df(
        "SELECT reason, count(*) AS n FROM classified WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"
    )
    bots = engine.df(
        """SELECT p.pseudonym AS user_id, CAST(b.peak_events_per_minute AS BIGINT) AS peak_events_per_minute
        FROM bots AS b JOIN pseudonyms AS p ON b.user_id = p.user_id ORDER BY b.first_row"""
    )
    counts = pd.Series(reasons["n"].to_numpy(dtype="int64"), index=reasons["reason"].to_numpy(), name="rows")
    if n_rows != kept + int(counts.sum()):
        raise AssertionError(f"SQL cleaning ledger does not balance: {n_rows} != {kept} + {int(counts.sum())}")
    return SqlCleaningResult(
        paths["clean"], paths["quarantine"], paths["lineage"], n_rows, kept, counts, bots,
        _validation_report(engine, conditions),
    )  # fmt: skip


def _merged_ledger(events: SqlCleaningResult, small: CleaningResult | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger and reason counts of every table: events from SQL, the others from the pandas path."""
    from lsc_utils.cleaning.core import _ledger_and_reasons

    reason_counts = {"events": events.reasons}
    row_counts = {"events": (events.input_rows, events.kept_rows)}
    for row in small.ledger.itertuples() if small is not None else ():
        part = small.reasons[small.reasons["table"] == row.table]
        reason_counts[row.table] = pd.Series(part["rows"].to_numpy(), index=part["reason"].to_numpy(), dtype="int64")
        row_counts[row.table] = (row.input_rows, row.kept_rows)
    order = [t for t in TABLES if t in row_counts]
    return _ledger_and_reasons({t: reason_counts[t] for t in order}, {t: row_counts[t] for t in order})


@dataclass(frozen=True)
class OutOfCoreCleaning:
    """What :func:`clean_dataset_out_of_core` wrote and counted (the rows themselves stay on disk).

    Attributes
    ----------
    ledger, reasons, bot_users : pandas.DataFrame
        As in :class:`~lsc_utils.cleaning.CleaningResult`, every table included.
    valid_period : tuple of Timestamp
    validation : pandas.DataFrame
        Schema problems of every table (:func:`~lsc_utils.cleaning.validation_report`).
    paths : dict of str to Path
        ``clean``, ``quarantine``, ``tables`` and ``lineage`` folders.
    input_rows : dict of str to int
        Rows per input table.
    """

    ledger: pd.DataFrame
    reasons: pd.DataFrame
    bot_users: pd.DataFrame
    valid_period: tuple[pd.Timestamp, pd.Timestamp]
    validation: pd.DataFrame
    paths: dict[str, Path]
    input_rows: dict[str, int]


def _clean_events_on(
    engine: str,
    runner: dict[str, str | int | None],
    events_file: Path,
    root: Path,
    key: bytes,
    config: CleaningConfig,
    period: tuple[pd.Timestamp, pd.Timestamp],
) -> SqlCleaningResult:
    """:func:`clean_events_sql` on a DuckDB connection or a Spark session opened (and closed) here."""

    def open_duckdb() -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return duckdb_connection(runner["memory_limit"], runner["threads"])

    with engine_scope(engine, open_duckdb, spark_master=runner["spark_master"]) as runner_engine:
        return clean_events_sql(events_file, root, key, config, period, runner_engine)


def clean_dataset_out_of_core(
    data_dir: str | Path,
    out_dir: str | Path,
    key: bytes,
    config: CleaningConfig | None = None,
    memory_limit: str = "4GB",
    threads: int | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> OutOfCoreCleaning:
    """Clean a canonical dataset folder into ``out_dir``: events by SQL, the small tables in pandas.

    The result on disk is the one :func:`~lsc_utils.cleaning.save_cleaning_result` writes for
    :func:`~lsc_utils.cleaning.clean_dataset` (``clean/``, ``quarantine/``, ``tables/ledger.csv`` and
    ``tables/quarantine_reasons.csv``), row for row; the event table never enters pandas, so memory is
    bounded by ``memory_limit`` whatever the number of events. Users, items, rooms, comments and
    exposures (dimension tables, and comments whose PII masking is Python's) go through the pandas path.

    Parameters
    ----------
    data_dir : str or Path
        Canonical dataset folder (``dataset.yaml``, ``events.parquet``, other tables optional).
    out_dir : str or Path
        The cleaning notebook's output folder.
    key : bytes
        Pseudonymization key.
    config : CleaningConfig, optional
    memory_limit : str, default "4GB"
        DuckDB's memory limit (beyond it, intermediate results spill to a temporary folder).
    threads : int, optional
        DuckDB worker threads (default: every core).
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the event SQL runs: embedded DuckDB, or Spark (:func:`~lsc_utils.sqlengine.spark_session`),
        which writes the clean events, quarantine and lineage as Parquet folders.
    spark_master : str, optional
        Spark master URL (default ``LSC_SPARK_MASTER``, else ``local[*]``; ``SPARK_REMOTE`` wins).

    Returns
    -------
    OutOfCoreCleaning
    """
    from lsc_utils.cleaning.core import _cleaned_meta, clean_dataset, valid_period, validation_report

    config = config or CleaningConfig()
    check_engine(engine)
    folder, root = Path(data_dir), Path(out_dir)
    events_file = folder / "events.parquet"
    if not events_file.is_file():
        raise DatasetError(f"{folder}: the dataset has no events.parquet; every dataset needs events.")
    others = tuple(t for t in TABLES if t != "events" and (folder / f"{t}.parquet").is_file())
    raw = load_dataset(folder, tables=others, strict=False) if others else Dataset(meta=read_meta(folder), tables={})
    period = valid_period(raw.meta, config)
    small = clean_dataset(raw, key, config) if raw.tables else None
    if (root / "clean").exists():
        shutil.rmtree(root / "clean")
    runner = {"memory_limit": memory_limit, "threads": threads, "spark_master": spark_master}
    events = _clean_events_on(engine, runner, events_file, root, key, config, period)
    if small is not None:
        save_dataset(small.dataset, root / "clean")
        for table, frame in small.quarantine.items():
            frame.to_parquet(root / "quarantine" / f"{table}.parquet", index=False)
    ledger, reasons = _merged_ledger(events, small)
    meta = _cleaned_meta(raw.meta, key, config, period)
    meta["tables"] = [t for t in TABLES if t in set(ledger["table"])]
    write_meta(meta, root / "clean")
    tables = root / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    ledger.to_csv(tables / "ledger.csv", index=False)
    reasons.to_csv(tables / "quarantine_reasons.csv", index=False)
    validation = pd.concat([events.validation, validation_report(raw)], ignore_index=True)
    return OutOfCoreCleaning(
        ledger=ledger,
        reasons=reasons,
        bot_users=events.bot_users,
        valid_period=period,
        validation=validation,
        paths={name: root / name for name in ("clean", "quarantine", "tables", "lineage")},
        input_rows={"events": events.input_rows, **{t: len(f) for t, f in raw.tables.items()}},
    )
