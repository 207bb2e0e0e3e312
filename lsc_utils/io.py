"""Load and save canonical datasets, read raw text files safely, and lay out run folders.

A canonical dataset is a folder holding ``dataset.yaml`` and one Parquet file per table present
(``users.parquet``, ``items.parquet``, ``rooms.parquet``, ``events.parquet``, ``comments.parquet``,
optionally ``exposures.parquet``);
simulated datasets add a ``truth/`` folder with the planted ground truth.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml

from lsc_utils.checks import require_columns as check_columns
from lsc_utils.constants import TABLES
from lsc_utils.schema import DatasetError, RowProblem, validate_table

META_FILE = "dataset.yaml"


@dataclass(frozen=True)
class EventSample:
    """What a sampled load of the events kept (:func:`load_dataset` with ``max_events``).

    Attributes
    ----------
    users, of_users : int
        Users kept, and users with events in the file.
    rows, of_rows : int
        Events kept (every event of each kept user), and events in the file.
    seed : int
        Seed of the user order (keyed MD5 of the user id).
    """

    users: int
    of_users: int
    rows: int
    of_rows: int
    seed: int

    def describe(self) -> str:
        """One sentence for a notebook: what was kept and how."""
        return (
            f"events: a sample of {self.users:,} of {self.of_users:,} users with all their events "
            f"({self.rows:,} of {self.of_rows:,} events; users in the order of md5(user_id#{self.seed}), "
            f"taken while the events fit max_events)"
        )


@dataclass
class Dataset:
    """A canonical dataset in memory.

    Attributes
    ----------
    meta : dict
        Contents of ``dataset.yaml`` (name, source, licence, timezone, tables, event_types, period ...).
    tables : dict of str to pandas.DataFrame
        The tables present, keyed by canonical name.
    path : Path, optional
        Folder the dataset was loaded from.
    problems : dict of str to list of RowProblem
        Row problems per table, filled by ``load_dataset(strict=False)``.
    raw_values : dict of str to pandas.DataFrame
        Raw (pre-coercion) values of the columns that had unparseable values, per table.
    events_sample : EventSample, optional
        Set when ``load_dataset(max_events=...)`` kept a sample of users instead of every event.
    """

    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    path: Path | None = None
    problems: dict[str, list[RowProblem]] = field(default_factory=dict)
    raw_values: dict[str, pd.DataFrame] = field(default_factory=dict)
    events_sample: EventSample | None = None

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self.tables:
            raise DatasetError(f"The dataset '{self.meta.get('name', self.path)}' has no '{table}' table.")
        return self.tables[table]

    def has(self, table: str) -> bool:
        """Whether the table is present."""
        return table in self.tables


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read ``dataset.yaml`` of a dataset folder.

    Raises
    ------
    DatasetError
        If the folder does not exist or is not a canonical dataset.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: dataset folder does not exist.")
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        raise DatasetError(
            f"{folder}: not a canonical dataset (no {META_FILE}). Convert raw data first with "
            "'python -m lsc_utils convert --source NAME --input PATH --out DIR'."
        )
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{meta_file}: not valid YAML ({exc}).") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{meta_file}: expected a mapping of keys, got {type(meta).__name__}.")
    return meta


def table_file(path: str | Path, table: str) -> Path:
    """The Parquet data of ``table``: ``path/<table>.parquet`` for a dataset folder, else ``path`` itself.

    ``path`` itself is a Parquet file, or a Parquet folder of part files named ``*.parquet`` (Spark's).
    """
    path = Path(path)
    return path / f"{table}.parquet" if path.is_dir() and path.suffix != ".parquet" else path


def existing_table(path: str | Path, table: str) -> Path:
    """:func:`table_file`, or a one-line :class:`DatasetError` when it does not exist."""
    file = table_file(path, table)
    if not file.exists():
        raise DatasetError(f"{file}: the {table} Parquet file does not exist.")
    return file


def parquet_relation(path: str | Path) -> str:
    """DuckDB SQL reading a Parquet file or folder with ``file_row_number`` counted across the whole table.

    A folder's part files are read in name order (Spark's ``part-00000…`` order), each row number offset
    by the rows of the parts before it (from the footers), so the number orders rows as one file would.
    """
    parts = parquet_parts(path)
    if len(parts) == 1:
        return f"read_parquet({sql_literal(str(parts[0]))}, file_row_number = true)"
    selects, offset = [], 0
    for part in parts:
        selects.append(
            f"SELECT * REPLACE (file_row_number + {offset} AS file_row_number) "
            f"FROM read_parquet({sql_literal(str(part))}, file_row_number = true)"
        )
        offset += parquet_rows(part)
    return "(" + " UNION ALL ".join(selects) + ")"


def sql_literal(value: str | Path) -> str:
    """``value`` as a quoted SQL string literal (single quotes doubled), e.g. a file path for DuckDB."""
    return "'" + str(value).replace("'", "''") + "'"


def read_table_file(path: str | Path, table: str, users: list[Any] | None = None) -> pd.DataFrame:
    """Read one table's Parquet file as stored (no coercion), with clear errors.

    ``users``: read only the rows of these user ids (a filter pyarrow applies while reading).
    """
    file = Path(path) / f"{table}.parquet"
    try:
        return pd.read_parquet(file) if users is None else pd.read_parquet(file, filters=[("user_id", "in", users)])
    except FileNotFoundError:
        raise DatasetError(f"{file}: table file is missing.") from None
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DatasetError(f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc}).") from None


def parquet_parts(path: str | Path) -> list[Path]:
    """The data files of a Parquet table: the file itself, or the part files of a folder (as Spark writes)."""
    path = Path(path)
    if path.is_dir():
        return sorted(f for f in path.glob("*.parquet") if not f.name.startswith(("_", ".")))
    return [path]


def parquet_rows(path: str | Path) -> int:
    """Rows of a Parquet file or folder, read from the footers (no row is read), or a one-line error."""
    try:
        return sum(int(pq.ParquetFile(part).metadata.num_rows) for part in parquet_parts(path))
    except FileNotFoundError:
        raise DatasetError(f"{path}: table file is missing.") from None
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DatasetError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc}).") from None


def load_table(path: str | Path, table: str, strict: bool = True) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Read one table of a dataset folder and validate it (see :func:`lsc_utils.schema.validate_table`)."""
    return validate_table(read_table_file(path, table), table, f"{table}.parquet", strict=strict)


def load_dataset(
    path: str | Path,
    tables: tuple[str, ...] | None = None,
    strict: bool = True,
    max_events: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a canonical dataset folder.

    Parameters
    ----------
    path : str or Path
        Dataset folder with ``dataset.yaml``.
    tables : tuple of str, optional
        Tables to load (default: every table present).
    strict : bool, default True
        Raise on row problems (True) or return them in ``Dataset.problems`` (False).
    max_events : int, optional
        Above this many events (read from the Parquet footers), load a sample of users with every
        event of theirs instead of the whole table (:func:`sampled_users`; ``Dataset.events_sample``
        says what was kept). The other tables are loaded whole. None: always the whole table.
    seed : int, default 0
        Seed of the sample's user order.

    Returns
    -------
    Dataset
    """
    folder = Path(path)
    meta = read_meta(folder)
    wanted = tables or TABLES
    present = [t for t in wanted if (folder / f"{t}.parquet").exists()]
    if "events" in wanted and "events" not in present and not tables:
        raise DatasetError(f"{folder}: the dataset has no events.parquet; every dataset needs events.")
    ds = Dataset(meta=meta, tables={}, path=folder)
    for table in present:
        users = None
        if table == "events" and max_events is not None:
            n_rows = parquet_rows(folder / "events.parquet")
            if n_rows > max_events:
                users, ds.events_sample = sampled_users(folder / "events.parquet", max_events, seed, n_rows)
        frame = read_table_file(folder, table, users)
        ds.tables[table], ds.problems[table] = validate_table(frame, table, f"{table}.parquet", strict=strict)
        unparseable = sorted({p.column for p in ds.problems[table] if p.problem.startswith("unparseable")})
        if unparseable:
            ds.raw_values[table] = frame[unparseable].reset_index(drop=True)
        del frame
    return ds


def sampled_users(
    events: str | Path, max_events: int, seed: int = 0, n_rows: int | None = None
) -> tuple[list[Any], EventSample]:
    """Users whose events together stay within ``max_events``, taken in a keyed random order.

    The users are ordered by ``md5(user_id || '#' || seed)`` (the same order on any machine) and taken
    while their cumulative event count stays within ``max_events`` (at least one user). A user is kept
    with every event of theirs, so histories, sessions and sequences stay whole; rows without a user
    are left out. The counting is DuckDB SQL over the Parquet file, so the table never enters pandas.

    Parameters
    ----------
    events : str or Path
        Events Parquet file or folder with ``user_id``.
    max_events : int
        Budget of events (>= 1).
    seed : int, default 0
        Seed of the order.
    n_rows : int, optional
        Rows of the file when the caller has counted them (default: read from the footers).

    Returns
    -------
    users : list
        Kept user ids (as stored), sorted.
    sample : EventSample
    """
    import duckdb

    if int(max_events) < 1:
        raise ValueError(f"The 'max_events' parameter must be a positive number of events. Got {max_events!r} instead.")

    con = duckdb.connect()
    try:
        per_user = f"""SELECT user_id, count(*) AS n, md5(CAST(user_id AS VARCHAR) || '#' || {int(seed)}) AS h
            FROM {parquet_relation(events)} WHERE user_id IS NOT NULL GROUP BY user_id"""
        table = con.execute(
            f"""WITH ranked AS (
                SELECT user_id, n, sum(n) OVER (ORDER BY h, user_id ROWS UNBOUNDED PRECEDING) AS upto,
                       row_number() OVER (ORDER BY h, user_id) AS position, count(*) OVER () AS of_users
                FROM ({per_user}))
            SELECT user_id, n, of_users FROM ranked WHERE upto <= {int(max_events)} OR position = 1
            ORDER BY user_id"""
        ).df()
    finally:
        con.close()
    sample = EventSample(
        users=len(table),
        of_users=int(table["of_users"].iloc[0]),
        rows=int(table["n"].sum()),
        of_rows=parquet_rows(events) if n_rows is None else n_rows,
        seed=int(seed),
    )
    return table["user_id"].tolist(), sample


def truth_dir(path: str | Path) -> Path | None:
    """The ``truth/`` folder of a simulated dataset, or None for real data."""
    folder = Path(path) / "truth"
    return folder if folder.is_dir() else None


def load_truth(path: str | Path, name: str) -> pd.DataFrame | None:
    """Read ``truth/<name>.parquet`` of a simulated dataset; None when the dataset has no such truth."""
    folder = truth_dir(path)
    return read_truth(folder, name) if folder else None


def load_truth_yaml(path: str | Path, name: str) -> dict[str, Any] | None:
    """Read ``truth/<name>.yaml`` of a simulated dataset; None when the dataset has no such truth."""
    folder = truth_dir(path)
    return read_truth_yaml(folder, name) if folder else None


def read_truth(folder: str | Path, name: str) -> pd.DataFrame | None:
    """Read ``<name>.parquet`` of a truth folder (e.g. the one notebook 01 publishes); None when absent."""
    file = Path(folder) / f"{name}.parquet"
    return pd.read_parquet(file) if file.is_file() else None


def read_truth_yaml(folder: str | Path, name: str) -> dict[str, Any] | None:
    """Read ``<name>.yaml`` of a truth folder; None when absent."""
    file = Path(folder) / f"{name}.yaml"
    return yaml.safe_load(file.read_text(encoding="utf-8")) if file.is_file() else None


def save_dataset(ds: Dataset, path: str | Path) -> Path:
    """Write a dataset folder: one Parquet per table plus ``dataset.yaml``.

    ``meta['tables']`` is set to the tables written.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in ds.tables.items():
        if table not in TABLES:
            raise DatasetError(f"Unknown table '{table}'. Expected one of {', '.join(TABLES)}.")
        frame.to_parquet(folder / f"{table}.parquet", index=False)
    meta = dict(ds.meta)
    meta["tables"] = [t for t in TABLES if t in ds.tables]
    write_meta(meta, folder)
    return folder


def write_meta(meta: dict[str, Any], folder: str | Path) -> None:
    """Write ``dataset.yaml`` with stable key order."""
    Path(folder, META_FILE).write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")


def check_text_file(path: str | Path, encoding: str = "utf-8", hint: str | None = None) -> Path:
    """Fail early and clearly on a missing, empty or wrongly encoded text file.

    Parameters
    ----------
    path : str or Path
        The file.
    encoding : str, default "utf-8"
        Python codec the file must decode with.
    hint : str, optional
        What the user can do, ending the encoding message (e.g. naming a command's real encoding
        option); by default "Re-save the file as <ENCODING>."

    Raises
    ------
    DatasetError
        Naming the file and the byte offset of the first undecodable byte (or a truncated end).
    """
    file = Path(path)
    hint = hint or f"Re-save the file as {encoding.upper()}."
    if not file.is_file():
        raise DatasetError(f"{file}: file does not exist.")
    if file.stat().st_size == 0:
        raise DatasetError(f"{file}: file is empty.")
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(file, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"{file}: not valid {encoding.upper()} text (byte 0x{chunk[exc.start]:02x} at offset "
                    f"{offset + exc.start}). {hint}"
                ) from None
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DatasetError(f"{file}: not valid {encoding.upper()} text (truncated at the end). {hint}") from None
    return file


def read_csv(path: str | Path, *, encoding: str = "utf-8", **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with the file checked first and parser errors named by file."""
    file = check_text_file(path, encoding)
    try:
        frame = pd.read_csv(file, encoding=encoding, **kwargs)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{file}: file has no data rows.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(f"{file}: cannot be parsed as delimited text ({exc}).") from None
    if len(frame) == 0:
        raise DatasetError(f"{file}: file has a header but no data rows.")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], file: str | Path) -> None:
    """Raise a clear :class:`DatasetError` listing the required columns a raw file lacks."""
    check_columns(frame, columns, Path(file).name)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet read a CSV cell as a formula (OWASP, CSV injection)."""


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula get a leading apostrophe, so spreadsheets show them as text.

    Only text cells change (``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``); numbers, including
    negative ones, stay numbers. This is OWASP's advice for CSV files meant to be opened in Excel,
    LibreOffice or Google Sheets; the Parquet outputs keep the texts unchanged.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        A copy with risky text cells prefixed.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        risky = text.str.startswith(FORMULA_PREFIXES).fillna(False)
        if risky.any():
            out[column] = values.astype(object).mask(risky, "'" + text)
    return out


def write_spreadsheet_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV meant for spreadsheets: UTF-8, no index, formula-like text cells neutralized."""
    target = Path(path)
    neutralize_formulas(frame).to_csv(target, index=False, encoding="utf-8")
    return target
