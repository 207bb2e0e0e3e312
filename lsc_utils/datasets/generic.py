"""Generic adapter: a user's own CSV / Parquet logs, converted through a YAML column mapping.

Raw format
----------
Any delimited text (``.csv``, ``.tsv``, ``.txt``) or Parquet files, one per table. A mapping file
(documented example: ``configs/mappings/example_generic.yaml``) says where each table is and how its
columns map onto the canonical ones::

    name: my_shop                     # optional, default from the input name
    licence: internal use only        # optional, default "not stated"
    timezone: Europe/Berlin           # zone of naive timestamps, default UTC
    period: {start: 2024-01-01, end: 2024-03-31}   # optional, local dates
    tables:
      events:                         # required
        path: events.csv              # relative to the input folder; omitted when --input is the file
        columns: {user_id: customer, ts: event_time, event_type: action, item_id: sku}
        event_values: {page_view: view_item, basket_add: add_to_cart, checkout: pay}
        unknown_events: error         # or keep
        timestamps: {ts: {format: "%d.%m.%Y %H:%M"}}  # or {unit: ms} for epochs, {timezone: ...}
      users: {path: customers.parquet, columns: {user_id: id, gender: sex}, value_maps: {gender: {m: M, f: F}}}

Per table: ``path``, ``format`` (``csv`` / ``tsv`` / ``parquet``, default from the extension),
``delimiter``, ``encoding`` (Python codec name of a text file, default ``utf-8``: the option that
encoding errors name), ``columns`` (canonical name -> raw column), ``constants`` (canonical name
-> one value for every row), ``value_maps`` (canonical name -> {raw value: value}; unmapped values are
kept), ``timestamps`` (canonical timestamp column -> ``format`` / ``unit`` / ``timezone``; ``unit`` is
``s``, ``ms``, ``us``, ``ns`` or ``auto``, see below). Events
also take ``event_values`` (raw value -> canonical event type; values that already are canonical
types pass unchanged) and ``unknown_events``.

Mapping
-------
* events: as mapped. Raw event values neither in ``event_values`` nor canonical raise a
  :class:`~lsc_utils.schema.DatasetError` listing them with counts, unless ``unknown_events: keep``
  (then they are kept as raw text and cleaning quarantines them).
* users: as mapped, plus every user id of the events. Without mapped consent columns, consent is
  assumed (both consent columns True, ``consent: assumed``); with them, ``consent: from_source`` and
  users known only from events get null consent.
* items: as mapped, plus every item id of the events; rooms and comments only when mapped.

Epoch timestamps follow the epoch-unit rule of :mod:`lsc_utils.datasets._raw` (``|v| < 1e11``
seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else nanoseconds): with ``unit: auto``
each value is read in the unit of its magnitude; with a declared unit, values of another magnitude
are row problems (null ``ts``), and when they are more than half of the column the file is refused
with one line naming file, column and rule (a millisecond column declared as seconds is never read as
year ~49,870). Ids holding control characters are flagged by the writer (see
:class:`~lsc_utils.datasets._common.DatasetWriter`).

What the source cannot produce
------------------------------
Whatever the mapping does not name. Timestamps without a zone are read in the table's or the
dataset's ``timezone`` and stored as UTC. Files are read whole into memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from lsc_utils.constants import EVENT_TYPES as CANONICAL_EVENT_TYPES
from lsc_utils.constants import TABLES
from lsc_utils.datasets._common import (
    build_items,
    build_meta,
    build_users,
    dataset_name,
    existing_path,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    epochs_to_utc,
    local_to_utc,
    parse_iso_utc,
    read_checked_csv,
)
from lsc_utils.schema import EXTRA_COLUMNS, SCHEMAS, TIMESTAMP_DTYPE, DatasetError, canonical_columns

SOURCE = "generic"
EVENT_TYPES: tuple[str, ...] = CANONICAL_EVENT_TYPES
"""Canonical event types this adapter can produce (any, through ``event_values``)."""

TOP_KEYS = frozenset({"name", "description", "licence", "timezone", "period", "tables"})
TABLE_KEYS = frozenset({"path", "format", "delimiter", "encoding", "columns", "constants", "value_maps", "timestamps"})
EVENT_TABLE_KEYS = TABLE_KEYS | {"event_values", "unknown_events"}
TIMESTAMP_KEYS = frozenset({"format", "unit", "timezone"})
UNKNOWN_EVENT_POLICIES = ("error", "keep")
FORMATS_BY_SUFFIX: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
ZONE_SAMPLE_ROWS: int = 1_000
"""Leading values inspected to decide whether timestamp text carries a UTC offset."""
CONSENT_COLUMNS = ("consent_personalization", "consent_marketing")
DEFAULT_LICENCE = "not stated"
DEFAULT_DESCRIPTION = "User-provided logs converted with the generic adapter."


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    mapping: str | Path | Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Convert user logs described by a YAML column mapping into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        Folder the mapping's relative paths start from, or the events file itself.
    out_dir : str or Path
        Output dataset folder.
    mapping : str, Path or dict
        The mapping (YAML file or the parsed dict); see the module docstring.
    name : str, optional
        Dataset name; overrides the mapping's ``name``.

    Returns
    -------
    Path
        The dataset folder.
    """
    spec, where = load_mapping(mapping)
    validate_mapping(spec, where)
    path = existing_path(raw_path)
    base = path if path.is_dir() else path.parent
    timezone = str(spec.get("timezone", "UTC"))
    tables: dict[str, pd.DataFrame] = {}
    inputs: list[Path] = []
    for table, table_spec in spec["tables"].items():
        file = table_file(table, table_spec, path, base, where)
        tables[table] = map_table(table, table_spec, read_table(file, table_spec), file, timezone, where)
        inputs.append(file)
    events = tables["events"]
    consent_from_source = "users" in tables and any(c in tables["users"] for c in CONSENT_COLUMNS)
    tables["users"] = build_users([events["user_id"]], tables.get("users"), assume_consent=not consent_from_source)
    if "item_id" in events or "items" in tables:
        ids = [events["item_id"]] if "item_id" in events else []
        tables["items"] = build_items(ids or [tables["items"]["item_id"]], tables.get("items"))
    meta = build_meta(
        name=name or spec.get("name") or dataset_name(SOURCE, raw_path, None),
        source=SOURCE,
        licence=str(spec.get("licence", DEFAULT_LICENCE)),
        timezone=timezone,
        event_types=produced_event_types(spec["tables"]["events"], events),
        description=str(spec.get("description", DEFAULT_DESCRIPTION)),
        inputs=inputs,
        period=spec.get("period"),
        consent="from_source" if consent_from_source else "assumed",
    )
    return write_dataset(out_dir, meta, {table: tables[table] for table in TABLES if table in tables})


def load_mapping(mapping: str | Path | Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The mapping as a dict plus a name for messages (its file or ``"mapping"``)."""
    if mapping is None:
        raise DatasetError(
            "The generic adapter needs a column mapping: pass mapping=FILE (CLI: --mapping FILE). "
            "See configs/mappings/example_generic.yaml."
        )
    if isinstance(mapping, Mapping):
        return dict(mapping), "mapping"
    file = Path(mapping)
    if not file.is_file():
        raise DatasetError(f"{file}: mapping file does not exist.")
    try:
        spec = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: not valid YAML ({exc}).") from None
    if not isinstance(spec, dict):
        raise DatasetError(f"{file}: expected a mapping of keys at the top level, got {type(spec).__name__}.")
    return spec, file.name


def validate_mapping(spec: dict[str, Any], where: str) -> None:
    """Check the mapping's keys and value types; raise one error listing every problem."""
    errors = unknown_keys(spec, TOP_KEYS, where)
    period = spec.get("period")
    if period is not None and not (isinstance(period, dict) and {"start", "end"} <= set(period)):
        errors.append(f"{where}: 'period' must be a mapping with 'start' and 'end' dates. Got {period!r} instead.")
    tables = spec.get("tables")
    if not isinstance(tables, dict) or "events" not in tables:
        errors.append(f"{where}: key 'tables.events' is missing; the events table must be mapped.")
        raise DatasetError("\n".join(errors))
    for table, table_spec in tables.items():
        errors += table_spec_errors(table, table_spec, where)
    if errors:
        raise DatasetError("\n".join(errors))


def unknown_keys(spec: Mapping[str, Any], allowed: frozenset[str], where: str, prefix: str = "") -> list[str]:
    """One message per key of ``spec`` that is not in ``allowed``."""
    return [
        f"{where}: unknown key '{prefix}{key}' (expected one of {', '.join(sorted(allowed))})."
        for key in spec
        if key not in allowed
    ]


def table_spec_errors(table: str, spec: Any, where: str) -> list[str]:
    """Problems of one table's mapping."""
    at = f"tables.{table}"
    if table not in TABLES:
        return [f"{where}: unknown table '{at}' (expected one of {', '.join(TABLES)})."]
    if not isinstance(spec, dict):
        return [f"{where}: '{at}' must be a mapping of keys, got {type(spec).__name__}."]
    errors = unknown_keys(spec, EVENT_TABLE_KEYS if table == "events" else TABLE_KEYS, where, f"{at}.")
    canonical = set(canonical_columns(table)) | set(EXTRA_COLUMNS.get(table, ()))
    for key in ("columns", "constants", "value_maps", "timestamps"):
        block = spec.get(key, {})
        if not isinstance(block, dict):
            errors.append(f"{where}: '{at}.{key}' must be a mapping, got {type(block).__name__}.")
            continue
        errors += [
            f"{where}: '{at}.{key}.{col}' is not a canonical {table} column (expected one of {', '.join(sorted(canonical))})."
            for col in block
            if col not in canonical
        ]
    mapped = set(spec.get("columns", {}) or {}) | set(spec.get("constants", {}) or {})
    required = [c for c, s in SCHEMAS[table].items() if s.required]
    errors += [
        f"{where}: key '{at}.columns.{c}' is missing (the {table} table needs a '{c}' column)."
        for c in required
        if c not in mapped
    ]
    for col, ts_spec in (spec.get("timestamps") or {}).items():
        if isinstance(ts_spec, dict):
            errors += unknown_keys(ts_spec, TIMESTAMP_KEYS, where, f"{at}.timestamps.{col}.")
    if table == "events":
        errors += event_spec_errors(spec, where)
    return errors


def event_spec_errors(spec: dict[str, Any], where: str) -> list[str]:
    """Problems of the events-only keys."""
    errors = []
    values = spec.get("event_values")
    if not isinstance(values, dict) or not values:
        errors.append(f"{where}: key 'tables.events.event_values' is missing (raw event value -> canonical type).")
    else:
        bad = {str(k): v for k, v in values.items() if v not in CANONICAL_EVENT_TYPES}
        errors += [
            f"{where}: 'tables.events.event_values.{k}' maps to {v!r}, which is not a canonical event type "
            f"(expected one of {', '.join(CANONICAL_EVENT_TYPES)})."
            for k, v in bad.items()
        ]
    policy = spec.get("unknown_events", "error")
    if policy not in UNKNOWN_EVENT_POLICIES:
        errors.append(
            f"{where}: 'tables.events.unknown_events' must be one of {', '.join(UNKNOWN_EVENT_POLICIES)}. "
            f"Got {policy!r} instead."
        )
    return errors


def table_file(table: str, spec: dict[str, Any], path: Path, base: Path, where: str) -> Path:
    """The file of a table: the input file itself for events, else ``path`` resolved against ``base``."""
    if table == "events" and path.is_file():
        return path
    if "path" not in spec:
        raise DatasetError(f"{where}: key 'tables.{table}.path' is missing (file of the {table} table).")
    file = Path(spec["path"])
    file = file if file.is_absolute() else base / file
    if not file.is_file():
        raise DatasetError(f"{file}: file of 'tables.{table}.path' does not exist.")
    return file


def read_table(file: Path, spec: dict[str, Any]) -> pd.DataFrame:
    """Read one table file as CSV / TSV (all text) or Parquet."""
    fmt = spec.get("format") or FORMATS_BY_SUFFIX.get(file.suffix.lower())
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DatasetError(f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc}).") from None
        if len(frame) == 0:
            raise DatasetError(f"{file}: file has no rows.")
        return frame
    if fmt not in ("csv", "tsv"):
        raise DatasetError(
            f"{file}: unknown format {fmt!r}; set 'format' to csv, tsv or parquet in the table's mapping."
        )
    delimiter = spec.get("delimiter", "\t" if fmt == "tsv" else ",")
    hint = (
        "Re-save the file as UTF-8 or name its encoding in the mapping: 'tables.<table>.encoding', "
        "e.g. encoding: latin-1."
    )
    return read_checked_csv(
        file,
        hint,
        sep=delimiter,
        dtype="str",
        encoding=spec.get("encoding", "utf-8"),
        keep_default_na=False,
        na_values=[""],
    )


def map_table(
    table: str, spec: dict[str, Any], raw: pd.DataFrame, file: Path, timezone: str, where: str
) -> pd.DataFrame:
    """Rename, fill constants, map values and parse timestamps of one raw table."""
    columns = spec.get("columns") or {}
    missing = {canon: src for canon, src in columns.items() if src not in raw.columns}
    if missing:
        raise DatasetError(
            " ".join(
                f"{file.name}: column {src!r} named in {where} 'tables.{table}.columns.{canon}' is missing "
                f"(columns found: {', '.join(map(str, raw.columns))})."
                for canon, src in missing.items()
            )
        )
    frame = pd.DataFrame({canon: raw[src] for canon, src in columns.items()}, index=raw.index)
    for canon, value in (spec.get("constants") or {}).items():
        frame[canon] = value
    for canon, value_map in (spec.get("value_maps") or {}).items():
        if canon in frame:
            frame[canon] = map_values(frame[canon], value_map)
    kinds = SCHEMAS[table]
    for canon in frame.columns:
        if canon in kinds and kinds[canon].kind == "ts":  # raw identifying columns stay text
            ts_spec = (spec.get("timestamps") or {}).get(canon) or {}
            at = f"{file.name}: column {columns.get(canon, canon)!r}"
            frame[canon] = parse_timestamps(frame[canon], ts_spec, timezone, at)
    if table == "events":
        frame["event_type"] = map_events(frame["event_type"], spec, file)
    return frame


def map_values(values: pd.Series, value_map: Mapping[Any, Any]) -> pd.Series:
    """Replace mapped values (keys compared as text); unmapped values are kept."""
    text = values.astype("str").str.strip()
    mapped = text.map({str(k): v for k, v in value_map.items()})
    return mapped.where(mapped.notna(), values)


def parse_timestamps(values: pd.Series, spec: Mapping[str, Any], timezone: str, where: str = "") -> pd.Series:
    """Timestamps from epochs (``unit``), a ``format`` or ISO text; naive values are local to ``timezone``.

    ``where`` (file and column) is named when a declared epoch unit is refused (see :func:`epochs_to_utc`).
    """
    zone = str(spec.get("timezone", timezone))
    if "unit" in spec:
        return epochs_to_utc(values, str(spec["unit"]), where)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    formats = (str(spec["format"]),) if "format" in spec else ("ISO8601",)
    text = values if pd.api.types.is_datetime64_dtype(values.dtype) else values.astype("str").str.strip()
    sample = text.dropna().head(ZONE_SAMPLE_ROWS).astype("str")
    has_zone = sample.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).any()
    if has_zone and "format" not in spec:
        return parse_iso_utc(text)
    return local_to_utc(text, zone, formats)


def map_events(raw: pd.Series, spec: dict[str, Any], file: Path) -> pd.Series:
    """Canonical event types; unknown raw values raise unless ``unknown_events: keep``."""
    text = raw.astype("str").str.strip()
    value_map = {str(k): v for k, v in spec["event_values"].items()}
    mapped = text.map(value_map)
    mapped = mapped.where(mapped.notna() | ~text.isin(CANONICAL_EVENT_TYPES), text)
    unknown = mapped.isna()
    if unknown.any() and spec.get("unknown_events", "error") == "error":
        counts = text[unknown].fillna("<null>").value_counts()
        listed = ", ".join(f"{k!r} ({v})" for k, v in counts.head(20).items())
        raise DatasetError(
            f"{file.name}: column 'event_type' has {int(unknown.sum())} values that 'event_values' does not map: "
            f"{listed}. Map them in 'tables.events.event_values' or set 'unknown_events: keep'."
        )
    return mapped.fillna(text).astype("str")


def produced_event_types(spec: dict[str, Any], events: pd.DataFrame) -> list[str]:
    """Canonical types the mapping can produce or the data holds, in canonical order."""
    possible = set(spec["event_values"].values()) | set(events["event_type"].dropna().unique())
    return [t for t in CANONICAL_EVENT_TYPES if t in possible]
