"""Canonical table schemas, dtype coercion and validation.

One validation entry point (:func:`validate_table`) serves every loader, adapter and the cleaning
notebook. It coerces a raw frame to the canonical dtypes, runs the pandera schema lazily and reports
**all** problems at once, each with file, column, count and up to five example values.

Two kinds of problem are distinguished:

* *structural* problems make a table unusable (missing required column, a column whose values are
  mostly of the wrong type, an empty table). They always raise :class:`DatasetError`.
* *row* problems affect individual rows (a null id, an unparseable or out-of-range timestamp, an
  unknown event type, a negative price). With ``strict=True`` they raise as well; with
  ``strict=False`` they are returned as :class:`RowProblem` objects carrying a boolean row mask, so
  that the cleaning step can quarantine exactly those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lsc_utils.checks import DatasetError as DatasetError  # re-exported: its historical home
from lsc_utils.constants import CHANNELS, EVENT_TYPES, GENDERS, PII_COLUMNS, TABLES

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
"""Canonical timestamp dtype: timezone-aware UTC, microsecond resolution."""

WRONG_TYPE_SHARE: float = 0.5
"""A column where more than this share of non-null values fail to parse is of the wrong type."""


@dataclass(frozen=True)
class ColumnSpec:
    """Canonical definition of one column.

    Parameters
    ----------
    name : str
        Column name.
    kind : str
        One of ``"id"``, ``"str"``, ``"int"``, ``"float"``, ``"bool"``, ``"ts"``.
    required : bool
        Whether a source table must provide the column (optional columns are added as nulls).
    nullable : bool
        Whether null values are allowed in a valid row.
    allowed : tuple of str, optional
        Closed vocabulary of the column, if any.
    min_value : float, optional
        Smallest valid value of a numeric column.
    fill_missing : bool, default True
        Whether an absent optional column is added as nulls; False leaves it absent (a column only some
        datasets have, such as the account of an event in a multi-source dataset).
    """

    name: str
    kind: str
    required: bool = False
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    fill_missing: bool = True


def _spec(*columns: ColumnSpec) -> dict[str, ColumnSpec]:
    return {c.name: c for c in columns}


SCHEMAS: dict[str, dict[str, ColumnSpec]] = {
    "users": _spec(
        ColumnSpec("user_id", "id", required=True, nullable=False),
        ColumnSpec("gender", "str", allowed=GENDERS),
        ColumnSpec("age", "int", min_value=0),
        ColumnSpec("region", "str"),
        ColumnSpec("city_tier", "int", min_value=1),
        ColumnSpec("signup_ts", "ts"),
        ColumnSpec("device", "str"),
        ColumnSpec("member_level", "str"),
        ColumnSpec("consent_personalization", "bool"),
        ColumnSpec("consent_marketing", "bool"),
    ),
    "items": _spec(
        ColumnSpec("item_id", "id", required=True, nullable=False),
        ColumnSpec("category", "str"),
        ColumnSpec("brand", "str"),
        ColumnSpec("list_price", "float", min_value=0),
        ColumnSpec("tags", "str"),
    ),
    "rooms": _spec(
        ColumnSpec("room_id", "id", required=True, nullable=False),
        ColumnSpec("anchor_id", "id"),
        ColumnSpec("category", "str"),
        ColumnSpec("start_ts", "ts"),
        ColumnSpec("end_ts", "ts"),
        ColumnSpec("title", "str"),
    ),
    "events": _spec(
        ColumnSpec("user_id", "id", required=True, nullable=False),
        ColumnSpec("ts", "ts", required=True, nullable=False),
        ColumnSpec("event_type", "str", required=True, nullable=False, allowed=EVENT_TYPES),
        ColumnSpec("item_id", "id"),
        ColumnSpec("room_id", "id"),
        ColumnSpec("session_id", "id"),
        ColumnSpec("room_session_id", "id"),
        ColumnSpec("price", "float", min_value=0),
        ColumnSpec("quantity", "float"),
        ColumnSpec("order_id", "id"),
        ColumnSpec("channel", "str", allowed=CHANNELS),
        ColumnSpec("payment_method", "str"),
        ColumnSpec("account_id", "id", fill_missing=False),
    ),
    "comments": _spec(
        ColumnSpec("comment_id", "id", required=True, nullable=False),
        ColumnSpec("room_id", "id"),
        ColumnSpec("user_id", "id"),
        ColumnSpec("ts", "ts", required=True, nullable=False),
        ColumnSpec("text", "str", required=True, nullable=False),
        ColumnSpec("lang", "str"),
    ),
    "exposures": _spec(
        ColumnSpec("user_id", "id", required=True, nullable=False),
        ColumnSpec("campaign_id", "id", required=True, nullable=False),
        ColumnSpec("arm", "str", required=True, nullable=False),
        ColumnSpec("ts", "ts", required=True, nullable=False),
        ColumnSpec("assignment_probability", "float", min_value=0),
    ),
    "accounts": _spec(
        ColumnSpec("account_id", "id", required=True, nullable=False),
        ColumnSpec("source", "str", required=True, nullable=False),
        ColumnSpec("user_id", "id", required=True, nullable=False),
        ColumnSpec("source_user_id", "id"),
        ColumnSpec("rule", "str"),
    ),
    "identifiers": _spec(
        ColumnSpec("account_id", "id", required=True, nullable=False),
        ColumnSpec("source", "str", required=True, nullable=False),
        ColumnSpec("id_type", "str", required=True, nullable=False),
        ColumnSpec("id_hash", "id", required=True, nullable=False),
    ),
}
"""Canonical columns of every table (architecture guide, section 2). ``exposures`` holds one row per user
and randomised campaign: the arm drawn (``control`` or a treatment), when, and with which probability.
``accounts`` and ``identifiers`` exist in a dataset integrated from several sources
(:mod:`lsc_utils.identity`): the person (``user_id``) of every source account, and the keyed hashes of
the accounts' identifiers; such a dataset's events carry the ``account_id`` that logged them."""

EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"users": PII_COLUMNS}
"""Non-canonical columns a table may carry through coercion (raw PII before cleaning)."""

EXTRA_PREFIXES: dict[str, tuple[str, ...]] = {"exposures": ("x_",)}
"""Prefixes of non-canonical columns a table may carry: ``x_*`` covariates of an experiment, recorded
before the send (numbers stay numbers, anything else becomes text)."""


@dataclass
class RowProblem:
    """Rows of one table that break one rule.

    Attributes
    ----------
    table, column, problem : str
        Where and what (``problem`` is a short machine-readable reason such as ``null_id``).
    mask : numpy.ndarray
        Boolean array over the table's rows, True where the row has the problem.
    examples : list
        Up to five offending raw values.
    """

    table: str
    column: str
    problem: str
    mask: np.ndarray
    examples: list[Any] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of offending rows."""
        return int(self.mask.sum())

    def describe(self, file: str) -> str:
        """One line naming file, column, count, problem and examples."""
        ex = ", ".join(repr(e) for e in self.examples[:5])
        return f"{file}: column '{self.column}' has {self.count} {PROBLEM_TEXT[self.problem]} (e.g. {ex})."


PROBLEM_TEXT: dict[str, str] = {
    "null_id": "null values in a required id column",
    "null_value": "null values in a required column",
    "unparseable_timestamp": "values that are not timestamps",
    "unparseable_number": "values that are not numbers",
    "unparseable_bool": "values that are not booleans",
    "out_of_vocabulary": "values outside the canonical vocabulary",
    "below_minimum": "values below the allowed minimum",
    "ts_out_of_range": "timestamps outside the valid period",
    "retention_expired": "activity older than the retention limit",
}


def canonical_columns(table: str) -> list[str]:
    """Column names of a canonical table, in canonical order."""
    return list(_table_spec(table))


def _table_spec(table: str) -> dict[str, ColumnSpec]:
    if table not in SCHEMAS:
        raise DatasetError(f"Unknown table '{table}'. Expected one of {', '.join(TABLES)}.")
    return SCHEMAS[table]


def _examples(values: pd.Series, mask: np.ndarray, n: int = 5) -> list[Any]:
    picked = values[mask].drop_duplicates().head(n).tolist()
    return [None if (isinstance(v, float) and np.isnan(v)) else v for v in picked]


def _is_null(values: pd.Series) -> np.ndarray:
    null = values.isna().to_numpy(dtype=bool, copy=True)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        stripped = values.astype("str").str.strip()
        null |= stripped.isin(["", "nan", "NaN", "None", "null", "NULL"]).to_numpy(dtype=bool)
    return null


def _coerce_id(values: pd.Series) -> pd.Series:
    """Ids are strings; floats that hold integers (``266079.0``) lose the ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.notna()
        out = pd.Series(pd.NA, index=values.index, dtype="str")
        whole = finite & (values == np.floor(values.where(finite, 0)))
        out[whole] = values[whole].astype("int64").astype("str")
        out[finite & ~whole] = values[finite & ~whole].astype("str")
        return out
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("str").where(values.notna(), pd.NA).astype("str")
    out = values.astype("str").str.strip()
    return out.where(~_is_null(values), pd.NA).astype("str")


def _coerce_ts(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_numeric_dtype(values.dtype):
        parsed = pd.to_datetime(values, unit="s", utc=True, errors="coerce")
        return parsed.astype(TIMESTAMP_DTYPE)
    text = values.astype("str").str.strip()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna() & ~_is_null(values)
    if retry.any():
        # Slow path only for the rows that are not ISO 8601 (e.g. "2016/02/01 10:00").
        parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return parsed.astype(TIMESTAMP_DTYPE)


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _coerce_bool(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    return out


def _coerce_column(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    if spec.kind == "id":
        return _coerce_id(values)
    if spec.kind == "str":
        return values.astype("str").where(~_is_null(values), pd.NA).astype("str")
    if spec.kind == "ts":
        return _coerce_ts(values)
    if spec.kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if spec.kind == "int":
        numbers = pd.to_numeric(values, errors="coerce")
        numbers = numbers.where(numbers == np.floor(numbers))
        return numbers.astype("Int64")
    if spec.kind == "bool":
        return _coerce_bool(values)
    raise AssertionError(f"unknown column kind {spec.kind}")


def _null_column(spec: ColumnSpec, n: int, index: pd.Index) -> pd.Series:
    dtype = {
        "id": "str",
        "str": "str",
        "ts": TIMESTAMP_DTYPE,
        "float": "float64",
        "int": "Int64",
        "bool": "boolean",
    }[spec.kind]
    return pd.Series(None, index=index, dtype=dtype)


_PARSE_PROBLEM = {
    "ts": "unparseable_timestamp",
    "float": "unparseable_number",
    "int": "unparseable_number",
    "bool": "unparseable_bool",
}


def _pandera_schema(table: str) -> pa.DataFrameSchema:
    """Row rules of a coerced canonical table, as a pandera schema."""
    columns = {}
    for spec in _table_spec(table).values():
        checks = []
        if spec.allowed is not None:
            checks.append(pa.Check.isin(list(spec.allowed)))
        if spec.min_value is not None:
            checks.append(pa.Check.ge(spec.min_value))
        columns[spec.name] = pa.Column(nullable=spec.nullable, checks=checks or None, required=spec.fill_missing)
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _rule_problems(coerced: pd.DataFrame, raw: pd.DataFrame, table: str) -> list[RowProblem]:
    """Row problems of the pandera rules (nulls, vocabularies, minimums)."""
    try:
        _pandera_schema(table).validate(coerced, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    specs = _table_spec(table)
    problems = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        spec = specs[column]
        positions = coerced.index.get_indexer(group["index"].dropna().unique())
        mask = np.zeros(len(coerced), dtype=bool)
        mask[positions[positions >= 0]] = True
        if check == "not_nullable":
            problem = "null_id" if spec.kind == "id" else "null_value"
        elif str(check).startswith("isin"):
            problem = "out_of_vocabulary"
        else:
            problem = "below_minimum"
        source = raw[column] if column in raw else coerced[column]
        problems.append(RowProblem(table, column, problem, mask, _examples(source, mask)))
    return problems


def validate_table(
    frame: pd.DataFrame,
    table: str,
    file: str,
    strict: bool = True,
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Coerce a table to canonical dtypes and check every rule at once.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read from its source (any dtypes).
    table : str
        Canonical table name (``users``, ``items``, ``rooms``, ``events``, ``comments``, ``exposures``).
    file : str
        File name used in messages.
    strict : bool, default True
        Raise on row problems too. With False they are returned for quarantine.

    Returns
    -------
    coerced : pandas.DataFrame
        Canonical columns in canonical order and dtypes, plus allowed extra columns; index reset.
    problems : list of RowProblem
        Row problems found (always empty when ``strict`` is True, since those raise).

    Raises
    ------
    DatasetError
        Listing every structural problem, and with ``strict`` every row problem, one per line.
    """
    specs = _table_spec(table)
    frame = frame.reset_index(drop=True)
    _check_rows_and_required_columns(frame, specs, table, file)
    coerced, problems = _coerce_columns(frame, specs, table, file)
    out = pd.DataFrame(coerced, index=frame.index)
    for extra in EXTRA_COLUMNS.get(table, ()):
        if extra in frame.columns:
            out[extra] = frame[extra].astype("str").where(~_is_null(frame[extra]), pd.NA).astype("str")
    for extra in [c for c in frame.columns if str(c).startswith(EXTRA_PREFIXES.get(table, ()))]:
        values = frame[extra]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        out[extra] = values if numeric else values.astype("str").where(~_is_null(values), pd.NA).astype("str")
    _add_rule_problems(out, frame, table, problems)
    if strict and problems:
        raise DatasetError("\n".join(p.describe(file) for p in problems))
    return out, problems


def _check_rows_and_required_columns(frame: pd.DataFrame, specs: dict[str, ColumnSpec], table: str, file: str) -> None:
    """Raise a DatasetError when the table has no rows, or listing every missing required column."""
    if len(frame) == 0:
        raise DatasetError(f"{file}: the {table} table is empty (no rows).")
    missing = [c for c, s in specs.items() if s.required and c not in frame.columns]
    errors = [
        f"{file}: required column '{c}' is missing (columns found: {', '.join(map(str, frame.columns))})."
        for c in missing
    ]
    if errors:
        raise DatasetError("\n".join(errors))


def _coerce_columns(
    frame: pd.DataFrame, specs: dict[str, ColumnSpec], table: str, file: str
) -> tuple[dict[str, pd.Series], list[RowProblem]]:
    """Coerce every canonical column (absent optional ones become null columns) to its canonical dtype.

    Values that fail to parse become nulls and a row problem; a column where more than
    :data:`WRONG_TYPE_SHARE` of the non-null values fail is of the wrong type.

    Returns
    -------
    coerced : dict of str to pandas.Series
        Canonical columns in canonical order.
    problems : list of RowProblem
        Unparseable values, one problem per column.

    Raises
    ------
    DatasetError
        If a column cannot be read at all, or listing every column of the wrong type.
    """
    coerced: dict[str, pd.Series] = {}
    problems: list[RowProblem] = []
    errors: list[str] = []
    for name, spec in specs.items():
        if name not in frame.columns:
            if spec.fill_missing:
                coerced[name] = _null_column(spec, len(frame), frame.index)
            continue
        raw = frame[name]
        try:
            values = _coerce_column(raw, spec)
        except (TypeError, ValueError, OverflowError) as exc:
            raise DatasetError(f"{file}: column '{name}' cannot be read as {spec.kind}: {exc}") from None
        if spec.kind in _PARSE_PROBLEM:
            failed = values.isna().to_numpy() & ~_is_null(raw)
            non_null = int((~_is_null(raw)).sum())
            if failed.any():
                if non_null and failed.sum() > WRONG_TYPE_SHARE * non_null:
                    errors.append(
                        f"{file}: column '{name}' has the wrong type: {int(failed.sum())} of {non_null} "
                        f"values are not {spec.kind} values (e.g. {', '.join(repr(v) for v in _examples(raw, failed))})."
                    )
                else:
                    problems.append(RowProblem(table, name, _PARSE_PROBLEM[spec.kind], failed, _examples(raw, failed)))
        coerced[name] = values
    if errors:
        raise DatasetError("\n".join(errors))
    return coerced, problems


def _add_rule_problems(out: pd.DataFrame, frame: pd.DataFrame, table: str, problems: list[RowProblem]) -> None:
    """Append the schema-rule problems of the coerced table to ``problems`` (the parse problems so far).

    A null found where a value failed to parse is already reported as unparseable, so those rows
    are left out of the null problem (which is dropped when no row is left).
    """
    already = {(p.column) for p in problems}
    for p in _rule_problems(out, frame, table):
        if p.problem in ("null_value", "null_id") and p.column in already:
            # Unparseable values became nulls: report them once, as unparseable.
            parse_mask = next(q.mask for q in problems if q.column == p.column)
            p.mask = p.mask & ~parse_mask
            if not p.mask.any():
                continue
            p.examples = _examples(frame[p.column], p.mask)
        problems.append(p)


def epoch_int(values: pd.Series, unit: str = "us") -> np.ndarray:
    """Integer time since the Unix epoch of a UTC timestamp column (``unit``: "s", "ms" or "us")."""
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(values.dtype, pd.DatetimeTZDtype) else values
    return naive.to_numpy(dtype=f"datetime64[{unit}]").astype(np.int64)


def out_of_range_timestamps(
    values: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> np.ndarray:
    """Mask of timestamps outside ``[start, end]`` (nulls are not flagged here)."""
    outside = (values < start) | (values > end)
    return outside.fillna(False).to_numpy(dtype=bool)
