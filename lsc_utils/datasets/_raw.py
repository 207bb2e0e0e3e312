"""Checks of raw input shared by the adapters: header lines, source vocabularies, row flags, numbers,
epoch units and text encodings.

The rules (each adapter's docstring refers to them):

* **Header rule.** A headerless source's first line is a header only when its fields are the source's
  documented column names, in order (:func:`is_header`: case, blanks, quotes, ``_`` / ``-`` and a
  byte-order mark are ignored, so ``User ID`` matches ``user_id``). Any other first line is data:
  a bad value in it becomes a row problem, never a skipped line.
* **Vocabulary rule.** A coded column (behaviour, action type, gender) is mapped with the source's
  documented codes only. Any other code is kept as its raw text so that the schema flags the row as
  ``out_of_vocabulary`` and cleaning quarantines it; a raw code that is spelled like a canonical value
  (Taobao ``like``) is kept as ``out_of_vocabulary:<raw>`` so that it cannot pass as canonical.
* **Row flags.** A row whose event type is valid but another value is bad (control characters in an
  id, a number that is not a number) gets the event type ``invalid_<column>:<event type>``: the schema
  flags it as ``out_of_vocabulary`` and cleaning quarantines it (as ``unknown_event_type`` until
  cleaning has a reason of its own for it); the raw values stay in their columns.
* **Epoch-unit rule.** An epoch number ``v`` is seconds when ``|v| < 1e11``, milliseconds when
  ``|v| < 1e14``, microseconds when ``|v| < 1e17`` and nanoseconds above (:data:`EPOCH_UNIT_LIMITS`).
  Each boundary is 1973-03-03 in the larger unit and year 5138 in the smaller one, so any time between
  those is read right whatever unit a file was written in; a millisecond value is never read as
  seconds (year ~49,870).
* **Encoding rule.** Text that is not valid in the expected encoding is refused with the file, the
  byte offset and a hint naming the adapter's real encoding option (or saying it has none).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lsc_utils.constants import EVENT_TYPES as CANONICAL_EVENT_TYPES
from lsc_utils.io import check_text_file, read_csv
from lsc_utils.schema import TIMESTAMP_DTYPE, DatasetError

UTF8_HINT = "Re-save the file as UTF-8."
"""Default end of an encoding error (adapters pass :func:`encoding_hint` of their own options)."""

BOM = "\ufeff"
"""Byte-order mark as decoded text; ignored at the start of a file."""

OUT_OF_VOCABULARY_PREFIX = "out_of_vocabulary:"
"""Prefix of a raw code that is spelled like a canonical value but is not in the source's vocabulary."""

INVALID_PREFIX = "invalid_"
"""Prefix of the event type of a row flagged for a bad value in another column (``invalid_<column>:``)."""

CONTROL_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]"
"""Characters that never belong in an id: C0 and C1 controls (tab and line breaks included) and the
invisible format characters (zero-width spaces and joiners, bidi marks and overrides, line/paragraph
separators, a byte-order mark)."""

BLANKS = " \t"
"""Characters stripped from the ends of raw values (other white space and controls are kept and flagged)."""

EPOCH_UNIT_LIMITS: tuple[tuple[str, float], ...] = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", np.inf))
"""Epoch-unit rule: the first unit whose limit exceeds ``|value|`` (see the module docstring)."""

MICROSECONDS_PER_UNIT: dict[str, float] = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}
"""Epoch units accepted by :func:`unix_to_utc`."""

EPOCH_RULE_TEXT = "|v| < 1e11 is seconds, < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds"
"""The epoch-unit rule as named in messages."""


# --------------------------------------------------------------------------------------------------
# Header lines
# --------------------------------------------------------------------------------------------------
def header_key(text: str) -> str:
    """A column name reduced for comparison: lower case, letters and digits only (``User ID`` -> ``userid``)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def is_header(fields: Sequence[str], *names: Sequence[str]) -> bool:
    """Whether a first line's fields are one of the documented header lines (the header rule).

    Parameters
    ----------
    fields : sequence of str
        The first line split into fields.
    *names : sequence of str
        Documented header lines, each a sequence of column names.

    Returns
    -------
    bool
        True when the fields equal one of ``names`` under :func:`header_key`, in order.
    """
    keys = [header_key(f) for f in fields]
    return any(keys == [header_key(n) for n in candidate] for candidate in names)


def first_line(file: Path, encoding: str = "utf-8") -> str:
    """The first line of a text file, without its line break and without a leading byte-order mark."""
    with open(file, encoding=encoding, errors="replace", newline="") as fh:
        line = fh.readline()
    return line.removeprefix(BOM).rstrip("\r\n").split("\r", 1)[0]


# --------------------------------------------------------------------------------------------------
# Vocabularies and row flags
# --------------------------------------------------------------------------------------------------
def strip_blanks(values: pd.Series) -> pd.Series:
    """Text with spaces and tabs removed from both ends (other characters, controls included, kept)."""
    return values.astype("str").str.strip(BLANKS)


def map_vocabulary(raw: pd.Series, mapping: Mapping[str, str], canonical: Iterable[str]) -> pd.Series:
    """Map raw codes with a source's documented vocabulary (the vocabulary rule).

    Parameters
    ----------
    raw : pandas.Series
        Raw codes (blanks around them are ignored).
    mapping : mapping of str to str
        Documented raw code -> canonical value.
    canonical : iterable of str
        The canonical vocabulary of the target column.

    Returns
    -------
    pandas.Series
        Canonical values for documented codes; any other code as its raw text, or as
        ``out_of_vocabulary:<raw>`` when the raw text is itself a canonical value; nulls stay null.
    """
    text = strip_blanks(raw)
    mapped = text.map(dict(mapping))
    kept = text.where(~text.isin(list(canonical)), OUT_OF_VOCABULARY_PREFIX + text)
    return mapped.where(mapped.notna(), kept).astype("str")


def map_event_types(raw: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Map raw event codes to canonical event types with :func:`map_vocabulary`.

    Unknown codes are kept (rather than dropped) so that the schema flags them as ``out_of_vocabulary``
    and cleaning quarantines and counts them.
    """
    return map_vocabulary(raw, mapping, CANONICAL_EVENT_TYPES)


def unknown_share(raw: pd.Series, known: Iterable[str]) -> tuple[int, dict[str, int]]:
    """Number of values outside ``known`` (nulls included) and their counts, most frequent first."""
    text = strip_blanks(raw)
    unknown = text[~text.isin(list(known))].fillna("<null>")
    counts = unknown.value_counts()
    return int(counts.sum()), {str(k): int(v) for k, v in counts.items()}


def flag_rows(event_type: pd.Series, mask: np.ndarray | pd.Series, column: str) -> pd.Series:
    """Mark rows with a bad value in ``column``: their event type becomes ``invalid_<column>:<type>``.

    Only rows whose event type is still canonical are marked (a row already flagged keeps its first
    flag), so a marked row always fails the schema's event-type vocabulary.

    Parameters
    ----------
    event_type : pandas.Series
        Event types of the rows.
    mask : array-like of bool
        Rows with the bad value.
    column : str
        Canonical column holding the bad value.

    Returns
    -------
    pandas.Series
        The event types, marked where flagged (same index).
    """
    flagged = np.asarray(mask, dtype=bool) & event_type.isin(list(CANONICAL_EVENT_TYPES)).to_numpy(dtype=bool)
    if not flagged.any():
        return event_type
    marked = f"{INVALID_PREFIX}{column}:" + event_type.astype("str")
    return event_type.astype("str").where(~flagged, marked)


def control_character_rows(values: pd.Series) -> np.ndarray:
    """Mask of text values holding a character of :data:`CONTROL_CHARACTERS` (nulls are not flagged)."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return np.zeros(len(values), dtype=bool)
    found = values.astype("str").str.contains(CONTROL_CHARACTERS, regex=True)
    return found.fillna(False).to_numpy(dtype=bool)


def flagged_row_counts(event_type: pd.Series) -> dict[str, int]:
    """Rows per flag (``invalid_<column>``) among event types marked by :func:`flag_rows`."""
    text = event_type.dropna().astype("str")
    marked = text[text.str.startswith(INVALID_PREFIX)]
    if marked.empty:
        return {}
    counts = marked.str.split(":", n=1).str[0].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


# --------------------------------------------------------------------------------------------------
# Numbers and epochs
# --------------------------------------------------------------------------------------------------
def to_number(values: pd.Series) -> pd.Series:
    """Numbers (float64) from numbers or their text; values that are not numbers become NaN.

    Text is cast with pyarrow (about 30 times faster than ``pandas.to_numeric`` on pyarrow strings);
    only when a value fails to cast does it fall back to ``pandas.to_numeric(errors="coerce")``.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    try:
        cast = pc.cast(pa.array(values.astype("str").array), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")


def parse_numbers(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers of raw text and the mask of values that are written but are not (finite) numbers.

    Parameters
    ----------
    raw : pandas.Series
        Raw text (or numbers).

    Returns
    -------
    numbers : pandas.Series
        float64; NaN where the value is empty, null or not a number.
    bad : numpy.ndarray
        True where a non-empty value is not a finite number (``"abc"``, ``"inf"``): a row problem.
    """
    numbers = to_number(raw)
    written = raw.notna().to_numpy(dtype=bool, copy=True)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        written &= (strip_blanks(raw).fillna("") != "").to_numpy(dtype=bool)
    bad = written & ~np.isfinite(numbers.to_numpy(dtype="float64"))
    return numbers.where(~bad), bad


def epoch_unit_codes(numbers: pd.Series) -> np.ndarray:
    """Index into :data:`EPOCH_UNIT_LIMITS` of each number's unit by the epoch-unit rule (``len`` for NaN or inf)."""
    limits = np.array([limit for _, limit in EPOCH_UNIT_LIMITS])
    magnitude = np.abs(numbers.to_numpy(dtype="float64"))
    codes = np.searchsorted(limits, magnitude, side="right")
    codes[~np.isfinite(magnitude)] = len(limits)
    return codes


def epoch_units(numbers: pd.Series) -> pd.Series:
    """The unit of each epoch number by the epoch-unit rule (:data:`EPOCH_UNIT_LIMITS`); null for NaN."""
    names = np.array([unit for unit, _ in EPOCH_UNIT_LIMITS] + [None], dtype=object)
    return pd.Series(names[epoch_unit_codes(numbers)], index=numbers.index, dtype="object")


def unix_to_utc(values: pd.Series, unit: str = "s") -> pd.Series:
    """Unix epoch numbers (or their text) in one given unit to UTC timestamps; unparseable values become NaT.

    Fractional epochs are rounded to the microsecond first, so ``1396860669.277`` gives ``.277000``
    rather than the float artefact ``.276999``.
    """
    if unit not in MICROSECONDS_PER_UNIT:
        raise DatasetError(f"Unknown epoch unit {unit!r}. Expected one of {', '.join(MICROSECONDS_PER_UNIT)}.")
    return _micros_to_utc(to_number(values) * MICROSECONDS_PER_UNIT[unit])


def epochs_to_utc(values: pd.Series, unit: str = "auto", where: str = "") -> pd.Series:
    """Epoch numbers (or their text) to UTC timestamps, the unit read from each value's magnitude.

    Parameters
    ----------
    values : pandas.Series
        Epoch numbers or their text.
    unit : {"auto", "s", "ms", "us", "ns"}, default "auto"
        ``"auto"`` reads every value in the unit of its magnitude (the epoch-unit rule). A given unit
        is checked against the rule: values of another magnitude become NaT (row problems), and when
        they are more than half of the values the column is refused.
    where : str
        File and column named in the refusal (``"events.csv: column 'time'"``).

    Returns
    -------
    pandas.Series
        ``datetime64[us, UTC]``; values that are not numbers become NaT (the schema flags them).

    Raises
    ------
    DatasetError
        For an unknown unit, or a given unit that most values contradict.
    """
    if unit != "auto" and unit not in MICROSECONDS_PER_UNIT:
        raise DatasetError(f"Unknown epoch unit {unit!r}. Expected auto or one of {', '.join(MICROSECONDS_PER_UNIT)}.")
    numbers = to_number(values)
    codes = epoch_unit_codes(numbers)
    factors = np.array([MICROSECONDS_PER_UNIT[u] for u, _ in EPOCH_UNIT_LIMITS] + [np.nan])
    if unit == "auto":
        return _micros_to_utc(numbers * factors[codes])
    declared = [u for u, _ in EPOCH_UNIT_LIMITS].index(unit)
    read = codes < len(EPOCH_UNIT_LIMITS)
    other = read & (codes != declared)
    if int(other.sum()) * 2 > int(read.sum()):
        seen = EPOCH_UNIT_LIMITS[int(np.bincount(codes[other]).argmax())][0]
        raise DatasetError(
            f"{where}: {int(other.sum())} of {int(read.sum())} epoch values have the magnitude of "
            f"'{seen}', not of the declared unit '{unit}' (rule: {EPOCH_RULE_TEXT}; e.g. "
            f"{values[other].iloc[0]!r}). Declare the right unit or 'auto'."
        )
    return _micros_to_utc((numbers * MICROSECONDS_PER_UNIT[unit]).where(~other))


def _micros_to_utc(micros: pd.Series) -> pd.Series:
    micros = micros.round()
    micros = micros.where(micros.abs() < 2**62)
    return pd.to_datetime(micros, unit="us", utc=True, errors="coerce").astype(TIMESTAMP_DTYPE)


def local_to_utc(values: pd.Series, timezone: str, formats: tuple[str, ...] = ("ISO8601",)) -> pd.Series:
    """Parse local wall-clock times and convert them to UTC.

    Parameters
    ----------
    values : pandas.Series
        Text (or naive datetimes) in the source's local time.
    timezone : str
        IANA zone of the values.
    formats : tuple of str
        ``strptime`` formats (or ``"ISO8601"``); the one that parses the most values is used.

    Returns
    -------
    pandas.Series
        ``datetime64[us, UTC]``; unparseable values become NaT (the schema flags them). Wall-clock
        times that do not exist (spring-forward gap) are shifted forward; ambiguous ones (autumn
        overlap) are read as the first occurrence (daylight-saving time).
    """
    parsed = parse_best_format(values, formats)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    localized = parsed.dt.tz_localize(timezone, ambiguous=np.ones(len(parsed), dtype=bool), nonexistent="shift_forward")
    return localized.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)


def parse_iso_utc(values: pd.Series) -> pd.Series:
    """ISO-8601 text that carries its UTC offset or ``Z`` (``2014-04-07T10:51:09.277Z``) as UTC timestamps.

    Parameters
    ----------
    values : pandas.Series
        Timestamp text (surrounding white space is ignored).

    Returns
    -------
    pandas.Series
        ``datetime64[us, UTC]``; unparseable values become NaT (the schema flags them).
    """
    return pd.to_datetime(values.str.strip(), format="ISO8601", utc=True, errors="coerce").astype(TIMESTAMP_DTYPE)


def parse_best_format(values: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Parse datetimes with the format (of ``formats``) that parses the most non-null values.

    Explicit ``strptime`` formats are parsed by pyarrow (fast for any format, not only ISO-like ones);
    ``"ISO8601"`` and formats pyarrow does not support go through ``pandas.to_datetime``.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    text = values.astype("str").str.strip()
    best: pd.Series | None = None
    best_count = -1
    for fmt in formats:
        parsed = parse_with_format(text, fmt)
        count = int(parsed.notna().sum())
        if count > best_count:
            best, best_count = parsed, count
        if count == int(text.notna().sum()):
            break
    assert best is not None
    return best


def parse_with_format(text: pd.Series, fmt: str) -> pd.Series:
    """Datetimes of stripped text in one format; values that do not match become NaT."""
    if fmt != "ISO8601":
        try:
            parsed = pc.strptime(pa.array(text.array), format=fmt, unit="us", error_is_null=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        else:
            return pd.Series(parsed.to_pandas(), index=text.index)
    return pd.to_datetime(text, format=fmt, errors="coerce")


# --------------------------------------------------------------------------------------------------
# Encodings and reading
# --------------------------------------------------------------------------------------------------
def one_line(text: str) -> str:
    """``text`` on one line: line breaks shown as `` | `` and surrounding blanks removed."""
    return " | ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def check_encoding(file: Path, encoding: str, hint: str) -> Path:
    """Refuse a missing, empty or undecodable text file with a message ending in ``hint``.

    Parameters
    ----------
    file : Path
        The file.
    encoding : str
        Python codec name the file must decode with.
    hint : str
        What the user can do, naming the adapter's real encoding option (see :func:`encoding_hint`).

    Returns
    -------
    Path
        The file.

    Raises
    ------
    DatasetError
        For an unknown codec name, a missing or empty file, or the first undecodable byte (with its offset).
    """
    check_codec(encoding, hint)
    check_text_file(file, str(encoding), hint)
    return file


def check_codec(encoding: Any, hint: str) -> str:
    """The codec name of ``encoding``; an unknown name is refused with ``hint``."""
    try:
        return codecs.lookup(str(encoding)).name
    except LookupError:
        raise DatasetError(f"Unknown text encoding {encoding!r}. {hint}") from None


def encoding_hint(option: str | None, source: str) -> str:
    """The hint of an encoding error: the adapter's real option, or that it reads UTF-8 only.

    Parameters
    ----------
    option : str or None
        Name of the adapter's encoding option (``"encoding"``), None when it has none.
    source : str
        Source name (``"taobao"``).

    Returns
    -------
    str
        E.g. ``Re-save the file as UTF-8 or pass its encoding: -o encoding=NAME (CLI) or
        encoding='NAME' (Python), e.g. latin-1.``
    """
    if option is None:
        return f"Re-save the file as UTF-8: the {source} adapter reads UTF-8 only (it has no encoding option)."
    return (
        f"Re-save the file as UTF-8 or pass its encoding: -o {option}=NAME (CLI) or {option}='NAME' (Python), "
        "e.g. latin-1 or gbk."
    )


def read_checked_csv(file: Path, hint: str, *, encoding: str = "utf-8", **kwargs: Any) -> pd.DataFrame:
    """:func:`lsc_utils.io.read_csv` with encoding errors that carry ``hint`` and one-line messages.

    A header read by pandas' C parser turns the first column into the index when the first data row
    has one field more than the header; that row is refused here (its first value would be lost).
    Files that break a line with a lone CR are read with pandas' Python parser: the C parser drops the
    leading empty field of a line that follows an empty CR-terminated line (``,5`` read as ``5,``).

    Parameters
    ----------
    file : Path
        The delimited text file.
    hint : str
        Encoding hint (see :func:`encoding_hint`).
    encoding : str, default "utf-8"
        Text encoding of the file.
    **kwargs
        Passed to ``pandas.read_csv``.

    Returns
    -------
    pandas.DataFrame
        The file's rows.

    Raises
    ------
    DatasetError
        Naming the file, on one line.
    """
    check_codec(encoding, hint)
    if "engine" not in kwargs and has_lone_cr(file):
        kwargs["engine"] = "python"
    try:
        frame = read_csv(file, encoding=encoding, **kwargs)
    except DatasetError as exc:
        check_encoding(file, encoding, hint)  # raises the hint when the bytes are the cause
        raise DatasetError(one_line(str(exc))) from None
    except (OSError, UnicodeError, csv.Error, pd.errors.ParserWarning) as exc:
        raise DatasetError(f"{file}: cannot be read as delimited text ({one_line(str(exc))}).") from None
    if kwargs.get("header", "infer") is not None and not isinstance(frame.index, pd.RangeIndex):
        raise DatasetError(
            f"{file}: a data row has more fields than the header ({len(frame.columns)} columns: "
            f"{', '.join(map(str, frame.columns[:8]))}); check the delimiter and quoting."
        )
    return frame


LONE_CR = re.compile(rb"\r(?!\n)")
"""A carriage return that is not part of a CRLF line break."""


def has_lone_cr(file: Path) -> bool:
    """Whether the file breaks any line with a lone CR (read in 1 MiB blocks; a block-final CR looks ahead)."""
    with open(file, "rb") as fh:
        block = fh.read(1 << 20)
        while block:
            following = fh.read(1 << 20)
            if LONE_CR.search(block[:-1]) or (block.endswith(b"\r") and not following.startswith(b"\n")):
                return True
            block = following
    return False


def leading_blank_lines(file: Path, encoding: str = "utf-8") -> int:
    """Lines (empty or spaces and tabs only) before the first other line; pandas skips them before a header."""
    with open(file, encoding=encoding, errors="replace", newline="") as fh:
        text = fh.read(1 << 16).removeprefix(BOM)
    count = 0
    for line in re.split(r"\r\n|\r|\n", text)[:-1]:
        if line.strip(BLANKS):
            break
        count += 1
    return count
