"""One SQL dialect, two engines: DuckDB on one machine (the default) and Apache Spark beyond it.

The row-scale layer is written once, in DuckDB's SQL. :class:`DuckDBEngine` runs it as written on an
embedded, spilling DuckDB connection; :class:`SparkEngine` transpiles each statement with sqlglot to
Spark SQL and runs it on a ``SparkSession`` (``local[*]``, a cluster's master URL, or Spark Connect
through ``SPARK_REMOTE``), reading and writing Parquet wherever Spark can reach. A few DuckDB
functions have no sqlglot mapping; :func:`to_spark_sql` rewrites them (``epoch_us`` → ``unix_micros``,
``hash`` → ``xxhash64``, ``try_strptime`` → ``try_to_timestamp`` per format, ``to_timestamp(seconds)``
→ ``timestamp_micros``, ``timezone`` → ``from_utc_timestamp`` / ``to_utc_timestamp``, the top-n
``max(x, n)`` → a sorted ``collect_list``, ``HUGEINT`` → ``DECIMAL(38, 0)``, ``AS MATERIALIZED``
dropped, and ``isodow``, which sqlglot maps wrongly) and guards text-to-timestamp casts with
:data:`ISO_TIMESTAMP_PREFIX`, since Spark reads more texts as dates than DuckDB does (``'2026'``, ``'2026-03-01T10'``, ``'yesterday'``).

Both engines expose the same small surface: run a statement, fetch a row or a small pandas result,
materialise a named table, register a Parquet file as a view with its row numbers, map raw user ids
to keyed pseudonyms without the key ever entering a query string, and write a query to Parquet.
Spark writes a Parquet *folder* (one file per task); every reader of the project accepts both.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from lsc_utils.constants import PSEUDONYM_PREFIX
from lsc_utils.io import sql_literal
from lsc_utils.pii import pseudonymize

if TYPE_CHECKING:  # pragma: no cover - pyspark is an optional extra
    from pyspark.sql import SparkSession

ENGINES: tuple[str, ...] = ("duckdb", "spark")
"""Engines of the row-scale SQL."""

_STRFTIME_TO_JAVA: dict[str, str] = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s"}
"""strftime directives as Java pattern letters (one letter: one or two digits, as DuckDB's strptime reads)."""

ISO_TIMESTAMP_PREFIX: str = "^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{1,2}|$)"
"""What DuckDB's text-to-timestamp cast needs: a full date, then nothing or hours and minutes. Spark's
cast also takes ``'2026'``, ``'2026-03'`` and ``'2026-03-01T10'``, so its cast is guarded by this."""


class SqlEngine(Protocol):
    """What the row-scale SQL needs from an engine (see :class:`DuckDBEngine`, :class:`SparkEngine`)."""

    name: str

    def execute(self, sql: str) -> None:
        """Run a statement (DuckDB dialect)."""

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        """First row of a query."""

    def df(self, sql: str) -> pd.DataFrame:
        """A (small) query result as a pandas DataFrame."""

    def materialize(self, name: str, sql: str) -> None:
        """Compute a query once and keep it as table ``name``."""

    def view(self, name: str, sql: str) -> None:
        """Name a query (computed when used)."""

    def parquet_view(self, name: str, path: Path, row_number: str) -> dict[str, str]:
        """View ``name`` over a Parquet file plus its 0-based row number; returns column → DuckDB type."""

    def register_frame(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """A small pandas or Arrow table (a mapping, a parameter table) as view ``name``."""

    def column_types(self, name: str) -> dict[str, str]:
        """Column → DuckDB type name of table or view ``name``."""

    def pseudonym_table(self, name: str, source: str, column: str, key: bytes, prefix: str = PSEUDONYM_PREFIX) -> None:
        """Table ``name`` (``user_id``, ``pseudonym``) of the distinct non-null ``column`` of ``source``."""

    def write_parquet(self, sql: str, path: Path) -> None:
        """Write a query's rows, in its order, to Parquet at ``path`` (a file or, on Spark, a folder)."""


class DuckDBEngine:
    """The embedded engine: statements run as written on a DuckDB connection.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection (see :func:`duckdb_connection` for a spilling, memory-bounded one).
    """

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        return tuple(self.con.execute(sql).fetchone())

    def df(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def materialize(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def parquet_view(self, name: str, path: Path, row_number: str) -> dict[str, str]:
        source = f"read_parquet({sql_literal(str(path))}, file_row_number = true)"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (file_row_number), "
            f"file_row_number AS {row_number} FROM {source}"
        )
        rows = self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(path))})").fetchall()
        return {column: str(kind) for column, kind, *_ in rows}

    def register_frame(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        self.con.register(name, frame)

    def column_types(self, name: str) -> dict[str, str]:
        return {column: str(kind) for column, kind, *_ in self.con.execute(f"DESCRIBE {name}").fetchall()}

    def pseudonym_table(self, name: str, source: str, column: str, key: bytes, prefix: str = PSEUDONYM_PREFIX) -> None:
        users = self.con.execute(f"SELECT DISTINCT {column} FROM {source} WHERE {column} IS NOT NULL").df()[column]
        users = users.astype(str)
        frame = pd.DataFrame({"user_id": users, "pseudonym": pseudonymize(users, key, prefix)})
        self.con.register("_pseudonyms_frame", frame)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _pseudonyms_frame")
        self.con.unregister("_pseudonyms_frame")

    def write_parquet(self, sql: str, path: Path) -> None:
        self.con.execute(f"COPY ({sql}) TO {sql_literal(str(path))} (FORMAT parquet, ROW_GROUP_SIZE 1000000)")


def _memory_limit(limit: str, what: str) -> str:
    """``limit`` if DuckDB reads it as a size, else a one-line ValueError naming ``what`` set it."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", str(limit).strip(), re.IGNORECASE):
        raise ValueError(f"{what} must be a size such as '500MB' or '4GB'. Got {limit!r} instead.")
    return limit


@functools.cache
def _spill_folder() -> Path:
    """This process's folder for DuckDB's spilled intermediate results, removed at exit."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"lsc_duckdb_spill_{os.getpid()}"
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _spilling_connection(memory_limit: str, spill: Path, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC, capped at ``memory_limit`` and spilling into ``spill``."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    con.execute(f"SET temp_directory = {sql_literal(str(spill))}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


@contextmanager
def duckdb_connection(memory_limit: str = "4GB", threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection (UTC) for the cleaning, spilling beyond its memory limit.

    Its spilled files go to a folder of its own inside this process's spill folder, removed when the
    connection closes (cleaning 100M events spills tens of GB).

    Parameters
    ----------
    memory_limit : str, default "4GB"
        DuckDB's ``memory_limit``: intermediate results beyond it go to disk.
    threads : int, optional
        Worker threads (default: DuckDB's, every core).
    """
    import tempfile

    limit = _memory_limit(memory_limit, "The 'memory_limit' parameter")
    root = _spill_folder()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clean_", dir=root) as folder:
        con = _spilling_connection(limit, Path(folder) / "spill", threads)
        try:
            con.execute("SET preserve_insertion_order = false")
            yield con
        finally:
            con.close()


ANALYSIS_MEMORY_LIMIT: str = "4GB"
"""Default working-memory cap of the analyses' DuckDB connections (``LSC_DUCKDB_MEMORY_LIMIT`` overrides
it): without a cap DuckDB takes up to 80 % of the machine (12 GB for the transition counts of 100M
events), with it the same queries spill to disk and the results do not change."""


def capped_connection(default_limit: str = ANALYSIS_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (UTC) for row-scale analysis SQL, its memory capped, spilling to disk.

    Parameters
    ----------
    default_limit : str, default :data:`ANALYSIS_MEMORY_LIMIT`
        DuckDB ``memory_limit`` when the ``LSC_DUCKDB_MEMORY_LIMIT`` environment variable is not set.
    """
    limit = _memory_limit(os.environ.get("LSC_DUCKDB_MEMORY_LIMIT", default_limit), "LSC_DUCKDB_MEMORY_LIMIT")
    return _spilling_connection(limit, _spill_folder())


def check_engine(engine: str, owner: str | None = None) -> None:
    """Raise the one-line ValueError unless ``engine`` is one of :data:`ENGINES`."""
    if engine not in ENGINES:
        where = f" of {owner}" if owner else ""
        raise ValueError(f"The 'engine' parameter{where} must be one of {', '.join(ENGINES)}. Got {engine!r} instead.")


@contextmanager
def engine_scope(
    engine: str,
    open_duckdb: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    owner: str | None = None,
    spark_master: str | None = None,
) -> Iterator[SqlEngine]:
    """The engine of one call: DuckDB on the connection ``open_duckdb()`` manages, or Spark.

    Spark runs the same statements transpiled (:func:`spark_session`); its cached tables are
    released on exit and the session stays (it may be shared).

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        Engine name (anything else: the one-line error of :func:`check_engine`).
    open_duckdb : callable
        Returns a context manager of the DuckDB connection to run on.
    owner : str, optional
        Function named in the error message.
    spark_master : str, optional
        Master URL of :func:`spark_session`.
    """
    check_engine(engine, owner)
    if engine == "duckdb":
        with open_duckdb() as con:
            yield DuckDBEngine(con)
        return
    spark = SparkEngine(spark_session(spark_master))
    try:
        yield spark
    finally:
        spark.close()


def java_date_pattern(strftime: str) -> str:
    """A strftime pattern (``%Y/%m/%d %H:%M``) as a Java datetime pattern (``yyyy/MM/dd HH:mm``)."""
    out = strftime
    for code, java in _STRFTIME_TO_JAVA.items():
        out = out.replace(code, java)
    if "%" in out:
        raise ValueError(f"The strftime pattern {strftime!r} uses a directive the Spark engine does not map.")
    return out


def to_spark_sql(sql: str) -> str:
    """A DuckDB statement as Spark SQL (sqlglot, plus the rewrites named in the module docstring)."""
    import sqlglot
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
            return exp.func("unix_micros", *node.expressions)
        if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":  # Spark's hash is 32-bit
            return exp.func("xxhash64", *node.expressions)
        if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
            value, formats = node.expressions
            patterns = formats.expressions if isinstance(formats, exp.Array) else [formats]
            tries = [
                exp.func("try_to_timestamp", value.copy(), exp.Literal.string(java_date_pattern(p.name)))
                for p in patterns
            ]
            return exp.func("coalesce", *tries)
        if isinstance(node, exp.UnixToTime) and node.args.get("scale") is None:  # seconds (make_timestamp: micros)
            micros = exp.cast(
                exp.func("round", exp.Mul(this=node.this.copy(), expression=exp.Literal.number(1_000_000))), "BIGINT"
            )
            return exp.func("timestamp_micros", micros)
        if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
            return _spark_timezone(*node.expressions)
        if isinstance(node, exp.Max) and node.args.get("count") is not None:  # DuckDB's top-n list, descending
            collected = exp.func("sort_array", exp.func("collect_list", node.this.copy()), exp.false())
            return exp.func("slice", collected, exp.Literal.number(1), node.args["count"].copy())
        if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:  # a DuckDB planner hint
            out = node.copy()
            out.set("materialized", None)
            return out
        if isinstance(node, exp.DayOfWeekIso):  # sqlglot writes (dayofweek % 7) + 1, which is off by two
            return exp.Add(this=exp.func("weekday", node.this.copy()), expression=exp.Literal.number(1))
        if isinstance(node, exp.DataType) and node.is_type("int128"):
            return exp.DataType.build("DECIMAL(38, 0)")
        if isinstance(node, exp.TryCast) and node.to.is_type("timestamp", "timestamptz"):
            guard = exp.RegexpLike(this=node.this.copy(), expression=exp.Literal.string(ISO_TIMESTAMP_PREFIX))
            return exp.Case(ifs=[exp.If(this=guard, true=node.copy())])
        return node

    tree = sqlglot.parse_one(sql, read="duckdb")
    for node in reversed(list(tree.walk(bfs=False))):  # children first, so nested calls are rewritten too
        out = rewrite(node)
        if out is not node:
            if node is tree:
                tree = out
            else:
                node.replace(out)
    return tree.sql(dialect="spark")


def _spark_timezone(zone: Any, value: Any) -> Any:
    """DuckDB's ``timezone(zone, value)`` on Spark (session time zone UTC).

    On a ``TIMESTAMPTZ`` DuckDB gives the wall-clock time in ``zone`` (Spark ``from_utc_timestamp``); on a
    naive timestamp (written ``CAST(x AS TIMESTAMP)``) it reads it as wall-clock time in ``zone`` (Spark
    ``to_utc_timestamp``, or a plain cast to Spark's session-zone timestamp for UTC).
    """
    from sqlglot import exp

    naive = isinstance(value, exp.Cast) and value.to.is_type("timestamp", "timestampntz")
    if naive and zone.is_string and zone.name.upper() == "UTC":
        return exp.cast(value.this.copy(), exp.DataType.build("TIMESTAMP", dialect="spark"))
    return exp.func("to_utc_timestamp" if naive else "from_utc_timestamp", value.copy(), zone.copy())


SPARK_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "false",
}
"""Session settings the shared SQL relies on (UTC times, microsecond Parquet timestamps, NULL on
failed casts as in DuckDB's ``TRY_CAST``)."""


def _splink_similarity_jar() -> str:
    """The jar of Splink's Spark UDFs (Jaro-Winkler, ...) bundled with splink, for identity resolution."""
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def spark_session(master: str | None = None, app_name: str = "lsc-lab") -> SparkSession:
    """A SparkSession for the shared SQL: Spark Connect if ``SPARK_REMOTE`` is set, else ``master``.

    Parameters
    ----------
    master : str, optional
        Master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://…``); default the
        ``LSC_SPARK_MASTER`` environment variable, else ``local[*]``. Ignored under Spark Connect.
    app_name : str, default "lsc-lab"

    Raises
    ------
    ImportError
        With the install command, when PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ImportError(
            "The Spark engine needs PySpark: pip install -e '.[spark]' (and Java 17 on the machine)."
        ) from None
    builder = SparkSession.builder.appName(app_name)
    if os.environ.get("SPARK_REMOTE"):
        builder = builder.remote(os.environ["SPARK_REMOTE"])
    else:
        url = master or os.environ.get("LSC_SPARK_MASTER", "local[*]")
        builder = builder.master(url)
        if url.startswith("local"):  # one machine: workers run this interpreter; few shuffle partitions
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 1)))
        builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        builder = builder.config("spark.jars", _splink_similarity_jar())  # Splink's string similarities
    session = builder.getOrCreate()
    if not os.environ.get("SPARK_REMOTE"):
        session.sparkContext.setLogLevel("ERROR")
    for setting, value in SPARK_CONFIG.items():
        session.conf.set(setting, value)
    return session


_SPARK_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "date": "DATE",
}


def _duckdb_type(spark_type: str) -> str:
    """Spark's simple type string as DuckDB's type name (``decimal(p,s)`` → ``DECIMAL(p,s)``)."""
    if spark_type.startswith("decimal"):
        return spark_type.upper()
    return _SPARK_TYPES.get(spark_type, spark_type.upper())


class SparkEngine:
    """Spark: every statement transpiled by :func:`to_spark_sql`; tables are cached temporary views.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        See :func:`spark_session`.
    """

    name = "spark"

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._cached: dict[str, Any] = {}

    def _sql(self, sql: str) -> Any:
        return self.session.sql(to_spark_sql(sql))

    def execute(self, sql: str) -> None:
        self._sql(sql).collect()

    def fetchone(self, sql: str) -> tuple[Any, ...]:
        return tuple(self._sql(sql).first())

    def df(self, sql: str) -> pd.DataFrame:
        """The result as pandas; Spark's session-zone (UTC) timestamps come back UTC-aware, as DuckDB's do."""
        frame = self._sql(sql)
        out = frame.toPandas()
        for field in frame.schema.fields:
            if field.dataType.simpleString() == "timestamp":
                out[field.name] = pd.to_datetime(out[field.name]).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        return out

    def materialize(self, name: str, sql: str) -> None:
        frame = self._sql(sql).persist()
        frame.count()
        if name in self._cached:
            self._cached[name].unpersist()
        self._cached[name] = frame
        frame.createOrReplaceTempView(name)

    def view(self, name: str, sql: str) -> None:
        self._sql(sql).createOrReplaceTempView(name)

    def parquet_view(self, name: str, path: Path, row_number: str) -> dict[str, str]:
        """The row number runs across the part files of a folder in name order (as DuckDB's readers count)."""
        frame = self.session.read.parquet(str(path))
        types = {field.name: _duckdb_type(field.dataType.simpleString()) for field in frame.schema.fields}
        located = frame.selectExpr("*", "_metadata.file_name AS _file", "_metadata.row_index AS _index")
        sizes = located.groupBy("_file").count().toPandas().sort_values("_file")
        if len(sizes) <= 1:
            located.selectExpr(*frame.columns, f"_index AS {row_number}").createOrReplaceTempView(name)
            return types
        offsets = sizes.assign(_offset=sizes["count"].cumsum() - sizes["count"])[["_file", "_offset"]]
        table = self.session.createDataFrame(offsets)
        joined = located.join(table.hint("broadcast"), "_file")
        joined.selectExpr(*frame.columns, f"_offset + _index AS {row_number}").createOrReplaceTempView(name)
        return types

    def register_frame(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Through Arrow, so missing values stay NULL (Spark reads a pandas text NA as the string 'nan')."""
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        if table.num_rows:
            self.session.createDataFrame(table).createOrReplaceTempView(name)
        else:  # Spark cannot infer types from no rows: an empty frame's columns are text
            schema = ", ".join(f"`{column}` string" for column in table.column_names)
            self.session.createDataFrame([], schema).createOrReplaceTempView(name)

    def column_types(self, name: str) -> dict[str, str]:
        return {f.name: _duckdb_type(f.dataType.simpleString()) for f in self.session.table(name).schema.fields}

    def pseudonym_table(self, name: str, source: str, column: str, key: bytes, prefix: str = PSEUDONYM_PREFIX) -> None:
        def hashed(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for batch in batches:
                users = batch["user_id"].astype(str)
                yield pd.DataFrame({"user_id": users, "pseudonym": pseudonymize(users, key, prefix)})

        distinct = self._sql(
            f"SELECT DISTINCT CAST({column} AS VARCHAR) AS user_id FROM {source} WHERE {column} IS NOT NULL"
        )
        frame = distinct.mapInPandas(hashed, "user_id string, pseudonym string").persist()
        frame.count()
        self._cached[name] = frame
        frame.createOrReplaceTempView(name)

    def write_parquet(self, sql: str, path: Path) -> None:
        self._sql(sql).write.mode("overwrite").parquet(str(path))

    def close(self) -> None:
        """Release the cached tables (the session stays, it may be shared)."""
        for frame in self._cached.values():
            frame.unpersist()
        self._cached.clear()


def as_engine(con: duckdb.DuckDBPyConnection | SqlEngine) -> SqlEngine:
    """An engine from a DuckDB connection (wrapped) or an engine (returned as is)."""
    return DuckDBEngine(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
