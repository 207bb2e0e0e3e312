"""Shared building blocks of the source adapters: input resolution, id and time parsing, table assembly
and the writer that turns converted frames into a canonical dataset folder.

Every adapter follows the same contract:

* structural problems (missing file or column, empty file, undecodable bytes, wrong column count)
  raise :class:`~lsc_utils.schema.DatasetError` naming the file and what was expected;
* every raw row that maps to an event is kept, dirty or not. Row problems found by
  :func:`lsc_utils.schema.validate_table` (``strict=False``) are only counted into
  ``dataset.yaml`` (``conversion.row_problems``); the cleaning step quarantines those rows later.
  Bad values the schema cannot see (unknown source codes, control characters in ids, numbers that
  are not numbers) are flagged by the rules of :mod:`lsc_utils.datasets._raw`;
* the output folder is written atomically: tables go to a temporary sibling folder that replaces
  ``out_dir`` only when the whole conversion succeeded.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lsc_utils.constants import TABLES
from lsc_utils.datasets._raw import (
    INVALID_PREFIX,
    UTF8_HINT,
    check_encoding,
    control_character_rows,
    flag_rows,
    flagged_row_counts,
    leading_blank_lines,
    one_line,
    read_checked_csv,
    strip_blanks,
)
from lsc_utils.datasets._raw import local_to_utc as local_to_utc  # re-exported: historical home
from lsc_utils.datasets._raw import parse_iso_utc as parse_iso_utc  # re-exported: historical home
from lsc_utils.datasets._raw import to_number as to_number  # re-exported: historical home
from lsc_utils.datasets._raw import unix_to_utc as unix_to_utc  # re-exported: historical home
from lsc_utils.io import (
    META_FILE,
    Dataset,
    require_columns,
    save_dataset,
    sha256_file,
    write_meta,
)
from lsc_utils.schema import SCHEMAS, DatasetError, RowProblem, _coerce_id, validate_table

CONSENT_NOTE = (
    "The source carries no consent information: consent_personalization and consent_marketing are set "
    "to True for every user (consent: assumed)."
)
"""Sentence appended to every converted dataset's description."""

DEFAULT_CHUNK_ROWS: int = 2_000_000
"""Rows per chunk when an adapter streams a large file."""

STREAM_COMPRESSION = "zstd"
"""Parquet codec of streamed tables (faster to write and smaller than snappy on event logs)."""

_INTEGER_FLOAT = r"^([+-]?\d+)\.0*$"
"""Text of an integer written as a float (``266079.0``); a string pattern keeps pandas on pyarrow's regex."""


# --------------------------------------------------------------------------------------------------
# Input resolution
# --------------------------------------------------------------------------------------------------
def existing_path(raw_path: str | Path) -> Path:
    """Return ``raw_path`` as a Path, raising a clear error when it does not exist."""
    path = Path(raw_path)
    if not path.exists():
        raise DatasetError(f"{path}: input path does not exist.")
    return path


def find_files(folder: Path, patterns: Iterable[str]) -> list[Path]:
    """Files of ``folder`` matching any glob pattern (case-sensitive), sorted by name, no duplicates."""
    found = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def resolve_single_file(raw_path: str | Path, patterns: tuple[str, ...], what: str) -> Path:
    """The one input file of a single-file source: ``raw_path`` itself or the file in that folder.

    Parameters
    ----------
    raw_path : str or Path
        A file, or a folder holding exactly one file that matches the first pattern that matches.
    patterns : tuple of str
        Glob patterns tried in order (the first one with a match wins).
    what : str
        Human name of the file, used in messages.

    Raises
    ------
    DatasetError
        When the path is missing, or the folder holds none or several candidate files.
    """
    path = existing_path(raw_path)
    if path.is_file():
        return path
    for pattern in patterns:
        matches = find_files(path, (pattern,))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            raise DatasetError(f"{path}: several files could be the {what} ({names}). Pass the file itself.")
    raise DatasetError(f"{path}: no {what} found (looked for {', '.join(patterns)}).")


def resolve_input_files(
    raw_path: str | Path,
    patterns: tuple[str, ...],
    missing: str,
    select: Callable[[list[Path]], list[Path]] | None = None,
) -> list[Path]:
    """The input files of a multi-file source: ``raw_path`` itself, or the matching files of that folder.

    Parameters
    ----------
    raw_path : str or Path
        One input file (converted alone) or a folder.
    patterns : tuple of str
        Glob patterns of the folder's candidate files (all of them count; sorted by name).
    missing : str
        What the error says when the folder holds no candidate, e.g.
        ``"no JData action files found (expected JData_Action_*.csv)"``.
    select : callable, optional
        Narrows the folder's candidates (e.g. drops files of another layout) before the emptiness check.

    Returns
    -------
    list of Path
        At least one file.

    Raises
    ------
    DatasetError
        When the path is missing or the folder holds no (selected) candidate.
    """
    path = existing_path(raw_path)
    if path.is_file():
        return [path]
    files = find_files(path, patterns)
    if select is not None:
        files = select(files)
    if not files:
        raise DatasetError(f"{path}: {missing}.")
    return files


def resolve_main_file(raw_path: str | Path, main_name: str, what: str) -> tuple[Path, Path]:
    """The main file of a folder source and the folder that holds its companion files.

    Parameters
    ----------
    raw_path : str or Path
        The source's folder, or its main file itself (companions are then looked for next to it).
    main_name : str
        File name of the main file inside the folder (``"events.csv"``).
    what : str
        Human name of the folder, used in messages (``"RetailRocket folder"``).

    Returns
    -------
    main_file : Path
        The main file.
    folder : Path
        The folder of the companion files.

    Raises
    ------
    DatasetError
        When the path is missing or the folder has no main file.
    """
    path = existing_path(raw_path)
    folder = path if path.is_dir() else path.parent
    main_file = path if path.is_file() else folder / main_name
    if not main_file.is_file():
        raise DatasetError(f"{folder}: not a {what} (no {main_name}).")
    return main_file, folder


def check_chunk_rows(chunk_rows: int, caller: str) -> None:
    """Raise unless ``chunk_rows`` is an int >= 1.

    Parameters
    ----------
    chunk_rows : int
        Rows per chunk of a streaming adapter.
    caller : str
        Function named in the message (``"taobao.convert"``).

    Raises
    ------
    DatasetError
        Naming the parameter, the expectation and the value given.
    """
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DatasetError(f"The 'chunk_rows' parameter of {caller} must be an int >= 1. Got {chunk_rows!r} instead.")


def dataset_name(source: str, raw_path: str | Path, name: str | None) -> str:
    """Default dataset name: ``<source>_<input stem>`` in snake case (no double source prefix)."""
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(f"The 'name' option must be a non-empty string. Got {name!r} instead.")
        return name.strip()
    stem = re.sub(r"[^0-9a-z]+", "_", Path(raw_path).resolve().stem.lower()).strip("_")
    return stem if stem.startswith(source) else f"{source}_{stem}"


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def read_text_columns(file: Path, columns: list[str], skip_rows: int = 0) -> pd.DataFrame:
    """Read a whole headerless comma-separated UTF-8 file with every column as text.

    Parameters
    ----------
    file : Path
        The file.
    columns : list of str
        Names of its columns, in file order.
    skip_rows : int, default 0
        Leading rows to skip (1 for a header line recognised by :func:`~lsc_utils.datasets._raw.is_header`).

    Returns
    -------
    pandas.DataFrame
        One text column per name.

    Raises
    ------
    DatasetError
        Naming the file when a row has the wrong number of fields.
    """
    chunks = [c for c in read_text_chunks(file, columns, skip_rows=skip_rows) if len(c)]
    if not chunks:
        raise DatasetError(f"{file}: file has no data rows.")
    return pd.concat(chunks, ignore_index=True)


def read_header_table(file: Path, required: list[str], hint: str = UTF8_HINT, delimiter: str = ",") -> pd.DataFrame:
    """A whole delimited file with a header as text columns, one row per line (see :func:`stream_csv_chunks`).

    Used instead of ``pandas.read_csv(engine="pyarrow")``, which lets an unterminated quote swallow
    every later line of the file without an error; here such a file is refused.

    Raises
    ------
    DatasetError
        As :func:`stream_csv_chunks`, and when the file has a header but no data rows.
    """
    chunks = [c for c in stream_csv_chunks(file, required, DEFAULT_CHUNK_ROWS, hint, delimiter) if len(c)]
    if not chunks:
        raise DatasetError(f"{file}: file has a header but no data rows.")
    return pd.concat(chunks, ignore_index=True)


def stream_csv_chunks(
    file: Path, required: list[str], chunk_rows: int, hint: str = UTF8_HINT, delimiter: str = ","
) -> Iterator[pd.DataFrame]:
    """Check a delimited file with a header, then stream it as text frames of about ``chunk_rows`` rows.

    The checks (text encoding, required header columns) run on the call, before the first chunk is read.
    Every line is one row (a quoted value cannot span lines), so a stray quote cannot merge rows.

    Parameters
    ----------
    file : Path
        The file; its first line names the columns.
    required : list of str
        Columns the header must name (it may name more; every column is read).
    chunk_rows : int
        Rows per yielded frame (see :func:`read_text_chunks`).
    hint : str, optional
        End of the message for undecodable bytes (see :func:`~lsc_utils.datasets._raw.encoding_hint`).
    delimiter : str, default ","
        Field delimiter.

    Returns
    -------
    iterator of pandas.DataFrame
        Text frames with the header's column names.

    Raises
    ------
    DatasetError
        When the file is not text in UTF-8, lacks a required column, or a row has the wrong field count.
    """
    check_encoding(file, "utf-8", hint)
    header = read_checked_csv(file, hint, sep=delimiter, nrows=1, dtype="str").columns.tolist()
    require_columns(pd.DataFrame(columns=header), required, file)
    # pandas skips blank lines before the header; pyarrow's skip_rows counts them.
    skip = leading_blank_lines(file) + 1
    return read_text_chunks(file, header, delimiter=delimiter, skip_rows=skip, chunk_rows=chunk_rows)


def read_text_chunks(
    file: Path,
    columns: list[str],
    *,
    delimiter: str = ",",
    skip_rows: int = 0,
    encoding: str = "utf-8",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Stream a headerless delimited file as text frames of about ``chunk_rows`` rows.

    Uses pyarrow's streaming CSV reader, so memory stays bounded for files of any size. Every line is
    one row: a value that spans a line break (pyarrow lets a quote opened in the last field run on
    over later lines) is refused rather than silently merging rows.
    """
    read_options = pacsv.ReadOptions(column_names=columns, skip_rows=skip_rows, block_size=32 << 20, encoding=encoding)
    parse_options = pacsv.ParseOptions(delimiter=delimiter)
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=True, quoted_strings_can_be_null=True
    )
    try:
        reader = pacsv.open_csv(
            file, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            check_single_line_values(file, batch)
            pending.append(batch)
            rows += batch.num_rows
            if rows >= chunk_rows:
                yield _batches_to_frame(pending, columns)
                pending, rows = [], 0
        if pending:
            yield _batches_to_frame(pending, columns)
    except pa.ArrowInvalid as exc:
        raise DatasetError(
            f"{file}: cannot be parsed as {len(columns)} {delimiter!r}-separated columns ({', '.join(columns)}): "
            f"{one_line(str(exc))}"
        ) from None


def check_single_line_values(file: Path, batch: pa.RecordBatch) -> None:
    """Raise when a value of ``batch`` holds a line break (a quote that swallowed later lines)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
            raise DatasetError(
                f"{file}: a quoted value in column '{name}' runs over a line break (an unterminated quote?), "
                "which would merge lines into one row; close or remove the quote."
            )


def _batches_to_frame(batches: list[pa.RecordBatch], columns: list[str]) -> pd.DataFrame:
    frame = pa.Table.from_batches(batches).to_pandas()
    return frame.astype(dict.fromkeys(columns, "str"))


# --------------------------------------------------------------------------------------------------
# Ids, values and timestamps
# --------------------------------------------------------------------------------------------------
def normalize_integer_ids(values: pd.Series) -> pd.Series:
    """Ids as strings, with the ``.0`` of integer ids written as floats removed (``"266079.0"`` -> ``"266079"``).

    Numeric columns are coerced exactly as the schema coerces id columns. Text loses the spaces and
    tabs around it (control characters are kept, for the writer to flag) and only
    ``<integer>.0...`` is rewritten: other text (including ``""`` or ``"nan"``) is kept as written, so
    that the schema later flags it; nulls stay null.

    Parameters
    ----------
    values : pandas.Series
        Raw ids (text, integers or floats).

    Returns
    -------
    pandas.Series
        ``str`` dtype, same index.
    """
    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        return _coerce_id(values)
    text = strip_blanks(values)
    if not text.str.contains(".", regex=False).fillna(False).any():
        return text
    return text.str.replace(_INTEGER_FLOAT, r"\1", regex=True).astype("str")


def prefix_ids(prefix: str, values: pd.Series) -> pd.Series:
    """``prefix`` + id as text, nulls kept null."""
    text = values.astype("str")
    return (prefix + text).where(text.notna(), pd.NA).astype("str")


def most_frequent(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    """The most frequent non-null ``value`` per ``key``; ties go to the smallest value (deterministic)."""
    pairs = frame[[key, value]].dropna()
    counts = pairs.value_counts().rename("n").reset_index()
    counts = counts.sort_values(["n", value], ascending=[False, True], kind="stable")
    return counts.drop_duplicates(key).set_index(key)[value].sort_index()


# --------------------------------------------------------------------------------------------------
# Table assembly
# --------------------------------------------------------------------------------------------------
def build_users(
    user_ids: Iterable[pd.Series],
    attributes: pd.DataFrame | None = None,
    *,
    assume_consent: bool = True,
) -> pd.DataFrame:
    """The users table: every user with attributes plus every user id seen in events.

    Parameters
    ----------
    user_ids : iterable of pandas.Series
        User ids seen in events (nulls are left out; the events keep them for quarantine).
    attributes : pandas.DataFrame, optional
        Users with attribute columns (first row per ``user_id`` wins).
    assume_consent : bool, default True
        Set both consent columns to True for every user (the sources carry no consent; see
        :data:`CONSENT_NOTE`). With False the given consent columns are kept as they are.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``user_id``.
    """
    users = build_id_table("user_id", user_ids, attributes)
    if assume_consent:
        users["consent_personalization"] = True
        users["consent_marketing"] = True
    return users


def build_items(item_ids: Iterable[pd.Series], attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The items table: every item with attributes plus every item id seen in events, sorted by id."""
    return build_id_table("item_id", item_ids, attributes)


def build_id_table(key: str, ids: Iterable[pd.Series], attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of ``attributes`` plus one bare row per other id of ``ids``, sorted by ``key``.

    Parameters
    ----------
    key : str
        Id column (``"user_id"``, ``"item_id"``).
    ids : iterable of pandas.Series
        Ids seen elsewhere (e.g. in events); nulls are left out.
    attributes : pandas.DataFrame, optional
        Rows with ``key`` and attribute columns; rows with a null id are dropped and the first row
        per id wins.

    Returns
    -------
    pandas.DataFrame
        One row per distinct id, attribute rows first in a stable sort by ``key``; index reset.
    """
    seen = pd.concat([pd.Series(s, dtype="str") for s in ids], ignore_index=True).dropna().unique()
    table = pd.DataFrame({key: pd.Series(seen, dtype="str")})
    if attributes is not None:
        attrs = attributes.dropna(subset=[key]).drop_duplicates(key, keep="first")
        table = pd.concat([attrs, table[~table[key].isin(attrs[key])]], ignore_index=True)
    return table.sort_values(key, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SourceInfo:
    """The facts ``dataset.yaml`` records about a public source, whatever its input files.

    Parameters
    ----------
    source : str
        Source name (its key in :data:`lsc_utils.datasets.SOURCES`).
    licence : str
        Licence or terms of use.
    timezone : str
        IANA zone of the source's local time.
    event_types : tuple of str
        Canonical event types the adapter can produce.
    description : str
        What the data is (the consent note is appended on write).
    period : mapping of str to str, optional
        ``start`` / ``end`` local dates of the documented collection period.
    """

    source: str
    licence: str
    timezone: str
    event_types: tuple[str, ...]
    description: str
    period: Mapping[str, str] | None = None

    def meta(
        self,
        raw_path: str | Path,
        *,
        name: str | None,
        inputs: Iterable[Path],
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``dataset.yaml`` contents of one conversion of this source (see :func:`build_meta`).

        Parameters
        ----------
        raw_path : str or Path
            Input file or folder the default dataset name is derived from.
        name : str or None
            Dataset name chosen by the user (None: the default from ``raw_path``).
        inputs : iterable of Path
            Raw files read, recorded with size and SHA-256.
        options : mapping, optional
            Conversion options worth recording (None values are left out).

        Returns
        -------
        dict
            Meta without ``tables`` and ``conversion`` (added by :class:`DatasetWriter`).
        """
        return build_meta(
            name=dataset_name(self.source, raw_path, name),
            source=self.source,
            licence=self.licence,
            timezone=self.timezone,
            event_types=self.event_types,
            description=self.description,
            inputs=inputs,
            period=self.period,
            options=options,
        )


def build_meta(
    *,
    name: str,
    source: str,
    licence: str,
    timezone: str,
    event_types: Iterable[str],
    description: str,
    inputs: Iterable[Path],
    period: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    consent: str = "assumed",
) -> dict[str, Any]:
    """The ``dataset.yaml`` contents of a converted dataset (``tables`` and ``conversion`` are added on write).

    ``inputs`` are recorded with size and SHA-256 so that a conversion can be traced to its raw files.
    With ``consent="assumed"`` (every public source) the description says that consent was assumed.
    """
    meta: dict[str, Any] = {
        "name": name,
        "source": source,
        "licence": licence,
        "timezone": timezone,
        "event_types": list(event_types),
    }
    if period is not None:
        meta["period"] = {"start": str(period["start"]), "end": str(period["end"])}
    meta["description"] = f"{description.strip()} {CONSENT_NOTE}" if consent == "assumed" else description.strip()
    meta["consent"] = consent
    meta["raw_files"] = [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in inputs]
    if options:
        meta["options"] = {k: v for k, v in options.items() if v is not None}
    return meta


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
class DatasetWriter:
    """Write a converted dataset folder atomically, validating every table on the way.

    Small tables are collected with :meth:`add_table` and written by :func:`lsc_utils.io.save_dataset`;
    large tables (Taobao's 100M events) are streamed chunk by chunk with :meth:`append_rows` into one
    Parquet file with a fixed schema. Every table passes through ``validate_table(strict=False)``:
    rows are coerced to canonical dtypes, never dropped, and their problems are counted into
    ``dataset.yaml``. Use as a context manager; the folder appears at ``out_dir`` only on success.

    Before validation every table is screened for ids holding control characters
    (:data:`~lsc_utils.datasets._raw.CONTROL_CHARACTERS`): such an event keeps its raw ids and is
    marked ``invalid_<column>:<event type>`` (the schema flags it, cleaning quarantines it); a users,
    items, rooms or comments row gets a null key (flagged ``null_id``). These rows and the rows the
    adapter marked itself are counted in ``conversion.flagged_rows``. Structural errors name the raw
    input files (``meta["raw_files"]``) and the table.

    Parameters
    ----------
    out_dir : str or Path
        Target dataset folder. It may not exist yet, be empty, or be an earlier dataset folder (which
        is replaced); any other non-empty folder is refused.
    meta : dict
        Contents of ``dataset.yaml`` (see :func:`build_meta`).
    """

    def __init__(self, out_dir: str | Path, meta: dict[str, Any]) -> None:
        self.out_dir = Path(out_dir)
        self.meta = dict(meta)
        self._tmp = self.out_dir.with_name(f".{self.out_dir.name}.converting-{os.getpid()}")
        self._tables: dict[str, pd.DataFrame] = {}
        self._streams: dict[str, pq.ParquetWriter] = {}
        self._schemas: dict[str, pa.Schema] = {}
        self._rows: dict[str, int] = {}
        self._problems: dict[tuple[str, str, str], int] = {}
        self._flags: dict[tuple[str, str, str], int] = {}
        self._scratch: list[ScratchTable] = []

    def __enter__(self) -> DatasetWriter:
        check_output_folder(self.out_dir)
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir(parents=True)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        for writer in self._streams.values():
            writer.close()
        for scratch in self._scratch:
            scratch.close()
        if exc_type is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        try:
            self._finish()
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

    def scratch_table(self, name: str) -> ScratchTable:
        """A temporary Parquet table inside the output's work folder, removed before the folder is published."""
        scratch = ScratchTable(self._tmp / SCRATCH_FOLDER / f"{name}.parquet")
        self._scratch.append(scratch)
        return scratch

    def add_table(self, table: str, frame: pd.DataFrame) -> None:
        """Validate a whole table and keep it for :func:`~lsc_utils.io.save_dataset`."""
        self._check_new(table)
        coerced = self._validate(frame, table)
        self._tables[table] = coerced
        self._rows[table] = len(coerced)

    def append_rows(self, table: str, frame: pd.DataFrame) -> None:
        """Validate one chunk of a large table and append it to the table's Parquet file."""
        if table in self._tables:
            raise DatasetError(f"The {table} table was already added whole; it cannot also be streamed.")
        coerced = self._validate(frame, table)
        arrow = pa.Table.from_pandas(coerced, preserve_index=False)
        if table not in self._streams:
            self._schemas[table] = arrow.schema
            self._streams[table] = pq.ParquetWriter(
                self._tmp / f"{table}.parquet", arrow.schema, compression=STREAM_COMPRESSION
            )
            self._rows[table] = 0
        self._streams[table].write_table(arrow.cast(self._schemas[table]))
        self._rows[table] += len(coerced)

    def _check_new(self, table: str) -> None:
        if table in self._tables or table in self._streams:
            raise DatasetError(f"The {table} table was already written.")

    def _validate(self, frame: pd.DataFrame, table: str) -> pd.DataFrame:
        frame = self._screen(frame, table)
        try:
            coerced, problems = validate_table(frame, table, self._label(table), strict=False)
        except DatasetError as exc:
            raise DatasetError(one_line(str(exc))) from None
        self._count(problems)
        return coerced

    def _label(self, table: str) -> str:
        """Where a table's rows come from, for messages: the raw files and the table."""
        names = [str(f["name"]) for f in self.meta.get("raw_files", []) if "name" in f]
        return f"{', '.join(names)} ({table} table)" if names else f"{table}.parquet"

    def _screen(self, frame: pd.DataFrame, table: str) -> pd.DataFrame:
        """Flag rows whose ids hold control characters and count the rows the adapter flagged."""
        ids = [c for c, spec in SCHEMAS.get(table, {}).items() if spec.kind == "id" and c in frame.columns]
        if table != "events":
            key = next((c for c in ids if SCHEMAS[table][c].required), None)
            bad = control_character_rows(frame[key]) if key else np.zeros(0, dtype=bool)
            if not bad.any():
                return frame
            self._flag(table, str(key), "control_characters", int(bad.sum()))
            return frame.assign(**{str(key): frame[key].where(~bad, pd.NA)})
        if "event_type" not in frame.columns:
            return frame
        for reason, n in flagged_row_counts(frame["event_type"]).items():
            self._flag(table, reason.removeprefix(INVALID_PREFIX), "invalid_value", n)
        event_type, screened = frame["event_type"], False
        for column in ids:
            bad = control_character_rows(frame[column])
            if bad.any():
                self._flag(table, column, "control_characters", int(bad.sum()))
                event_type, screened = flag_rows(event_type, bad, column), True
        return frame.assign(event_type=event_type) if screened else frame

    def _flag(self, table: str, column: str, problem: str, n: int) -> None:
        key = (table, column, problem)
        self._flags[key] = self._flags.get(key, 0) + n

    def _count(self, problems: list[RowProblem]) -> None:
        for p in problems:
            key = (p.table, p.column, p.problem)
            self._problems[key] = self._problems.get(key, 0) + p.count

    def _finish(self) -> None:
        if "events" not in self._tables and "events" not in self._streams:
            raise DatasetError(f"{self.out_dir}: the conversion produced no events table.")
        shutil.rmtree(self._tmp / SCRATCH_FOLDER, ignore_errors=True)
        save_dataset(Dataset(meta=self.meta, tables=self._tables), self._tmp)
        meta = dict(self.meta)
        meta["tables"] = [t for t in TABLES if t in self._tables or t in self._streams]
        meta["conversion"] = {
            "rows": {t: int(self._rows[t]) for t in meta["tables"]},
            "row_problems": [
                {"table": t, "column": c, "problem": p, "count": int(n)}
                for (t, c, p), n in sorted(self._problems.items())
            ],
        }
        if self._flags:
            meta["conversion"]["flagged_rows"] = [
                {"table": t, "column": c, "problem": p, "count": int(n)} for (t, c, p), n in sorted(self._flags.items())
            ]
        write_meta(meta, self._tmp)
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        os.replace(self._tmp, self.out_dir)


def write_dataset(out_dir: str | Path, meta: dict[str, Any], tables: Mapping[str, pd.DataFrame]) -> Path:
    """Validate whole tables and write them as a dataset folder, atomically (see :class:`DatasetWriter`).

    Parameters
    ----------
    out_dir : str or Path
        Target dataset folder (new, empty or an earlier dataset folder, which is replaced).
    meta : dict
        Contents of ``dataset.yaml`` (see :func:`build_meta`).
    tables : mapping of str to pandas.DataFrame
        Canonical table name -> table, validated in this order; must include ``events``.

    Returns
    -------
    Path
        The dataset folder.
    """
    with DatasetWriter(out_dir, meta) as writer:
        for table, frame in tables.items():
            writer.add_table(table, frame)
    return Path(out_dir)


DISTINCT_USERS_SQL = "SELECT DISTINCT user_id FROM {rows} WHERE user_id IS NOT NULL"
"""Every user id of a :class:`ScratchTable` (DuckDB, out of core)."""


def add_scratch_users_and_items(writer: DatasetWriter, scratch: ScratchTable, items_sql: str) -> None:
    """Add the users and items tables of a streamed conversion from its scratch rows.

    Parameters
    ----------
    writer : DatasetWriter
        The open writer of the conversion.
    scratch : ScratchTable
        Rows with at least ``user_id`` and ``item_id`` columns, appended chunk by chunk.
    items_sql : str
        DuckDB query over ``{rows}`` returning one row per ``item_id`` with its attribute columns.
    """
    writer.add_table("users", build_users([scratch.query(DISTINCT_USERS_SQL)["user_id"]]))
    items = scratch.query(items_sql)
    writer.add_table("items", build_items([items["item_id"]], items))


SCRATCH_FOLDER = "_scratch"
"""Sub-folder of a conversion's work folder holding :class:`ScratchTable` files."""


class ScratchTable:
    """Rows appended chunk by chunk to a temporary Parquet file and aggregated at the end with DuckDB.

    Streaming adapters use it to build the users and items tables of files too large for memory
    (Taobao's 100M rows, REES46's monthly files): each chunk's few columns are appended, then one
    DuckDB query (out of core, multi-threaded) reduces them.

    Parameters
    ----------
    path : Path
        Parquet file to create.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def append(self, frame: pd.DataFrame) -> None:
        """Append the rows of one chunk (same columns and dtypes every time)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, table.schema, compression=STREAM_COMPRESSION)
        self._writer.write_table(table.cast(self._schema))

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` with ``{rows}`` standing for the appended rows; raises when nothing was appended."""
        self.close()
        if not self.path.is_file():
            raise DatasetError(f"{self.path.name}: no rows were appended to the scratch table.")
        source = "read_parquet('" + str(self.path).replace("'", "''") + "')"
        with duckdb.connect() as con:
            return con.sql(sql.format(rows=source)).df()

    def close(self) -> None:
        """Finish the Parquet file (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_output_folder(out_dir: Path) -> None:
    """Refuse to overwrite a folder that is neither empty nor a canonical dataset."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DatasetError(f"{out_dir}: output path exists and is not a folder.")
    entries = list(out_dir.iterdir())
    if not entries:
        return
    allowed = {META_FILE, "truth"} | {f"{t}.parquet" for t in TABLES}
    foreign = sorted(p.name for p in entries if p.name not in allowed)
    if not (out_dir / META_FILE).is_file() or foreign:
        shown = ", ".join(foreign[:5]) or "no dataset.yaml"
        raise DatasetError(
            f"{out_dir}: output folder is not empty and is not a canonical dataset ({shown}). "
            "Choose an empty or new folder."
        )
