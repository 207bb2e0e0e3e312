"""CDNOW adapter: purchases of a US online CD store, 1997-01-01..1998-06-30 (Fader, Hardie & Lee 2005).

Raw format
----------
Whitespace-separated text, one line per purchase (a customer's purchases of one day may span lines):

* ``CDNOW_master.txt`` (all 23,570 customers of the 1997Q1 cohort): ``customer_id date number_of_cds
  dollar_value``, optionally preceded by a header line;
* ``CDNOW_sample.txt`` (the 1/10 sample of the BG/NBD paper, 2,357 customers, 6,919 purchases):
  ``customer_id sample_id date number_of_cds dollar_value``.

The variant is detected by the column count (4 or 5). A first line is a header (skipped) only when its
fields are the column names above (the header rule of :mod:`lsc_utils.datasets._raw`; the master
file's ``customer_id date number_of_cds dollar_value``); any other first line is data. ``date`` is
``YYYYMMDD``. Given a folder holding both files, ``variant`` chooses (default ``"master"``). Files
must be UTF-8 (ASCII in the originals; there is no encoding option).

Mapping
-------
* events: each line -> ``pay`` with ``quantity`` = number of CDs and ``price`` = dollar value / number
  of CDs (the line's average unit price), so that ``price * quantity`` equals the line's dollar value;
  a line with 0 CDs keeps ``quantity = 0`` and a null ``price``. ``user_id`` = ``customer_id`` as
  written (``"00001"``); ``order_id = "<customer_id>-<date>-<n>"`` with ``n`` counting the customer's
  lines of that day from 1. Only dates are known: ``ts`` is local midnight (America/New_York) in UTC.
  A number of CDs or dollar value that is written but is not a number flags the line
  (``invalid_quantity:pay`` / ``invalid_price:pay``; cleaning quarantines it).
* users: every customer (no attributes; the sample id is not kept).

What the source cannot produce
------------------------------
No items, times of day, browsing, cart, room or comment events, demographics or sessions.

Licence: distributed by Bruce Hardie for research and teaching (no formal licence; cite Fader,
Hardie & Lee 2005).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.datasets._common import (
    SourceInfo,
    build_users,
    existing_path,
    find_files,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    check_encoding,
    encoding_hint,
    first_line,
    flag_rows,
    is_header,
    local_to_utc,
    parse_numbers,
    read_checked_csv,
    strip_blanks,
)
from lsc_utils.schema import DatasetError

SOURCE = "cdnow"
EVENT_TYPES: tuple[str, ...] = ("pay",)
"""Canonical event types this source can produce."""

MASTER_COLUMNS = ["customer_id", "date", "number_of_cds", "dollar_value"]
SAMPLE_COLUMNS = ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
VARIANT_PATTERNS: dict[str, tuple[str, ...]] = {"master": ("*master*.txt",), "sample": ("*sample*.txt",)}
LICENCE = "Research and teaching use as distributed by Bruce Hardie; cite Fader, Hardie & Lee (2005)"
TIMEZONE = "America/New_York"
PERIOD = {"start": "1997-01-01", "end": "1998-06-30"}
DESCRIPTION = (
    "CDNOW purchases 1997-01..1998-06 of the customers whose first purchase was in 1997Q1 (data of "
    "Fader, Hardie & Lee's BG/NBD paper). Each line is a 'pay' event with quantity = number of CDs and "
    "price = dollar value / CDs; dates only (local midnight)."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    variant: str = "master",
) -> Path:
    """Convert a CDNOW master or sample file into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        ``CDNOW_master.txt``, ``CDNOW_sample.txt`` or a folder holding them.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input file name).
    variant : {"master", "sample"}, default "master"
        File to use when ``raw_path`` is a folder.

    Returns
    -------
    Path
        The dataset folder.
    """
    file = input_file(raw_path, variant)
    raw = read_purchases(file)
    events = build_events(raw)
    meta = INFO.meta(file, name=name, inputs=[file])
    return write_dataset(out_dir, meta, {"events": events, "users": build_users([events["user_id"]])})


def input_file(raw_path: str | Path, variant: str) -> Path:
    """The file to convert: ``raw_path`` itself or the folder's master / sample file."""
    if variant not in VARIANT_PATTERNS:
        raise DatasetError(
            f"The 'variant' parameter of cdnow.convert must be one of {', '.join(VARIANT_PATTERNS)}. "
            f"Got {variant!r} instead."
        )
    path = existing_path(raw_path)
    if path.is_file():
        return path
    matches = find_files(path, VARIANT_PATTERNS[variant]) or find_files(path, ("*.txt",))
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise DatasetError(
            f"{path}: expected one CDNOW {variant} file (*{variant}*.txt); found {found}. Pass the file itself."
        )
    return matches[0]


def read_purchases(file: Path) -> pd.DataFrame:
    """The purchase lines with named text columns (header skipped, variant detected)."""
    hint = encoding_hint(None, SOURCE)
    check_encoding(file, "utf-8", hint)
    header = 1 if is_header(first_line(file).split(), MASTER_COLUMNS, SAMPLE_COLUMNS) else 0
    raw = read_checked_csv(file, hint, sep=r"\s+", header=None, skiprows=header, dtype="str")
    # With whitespace as the delimiter only a blank line gives a row without any value (pandas' C parser
    # turns blank lines into such rows when the file breaks lines with a lone CR): they are not data.
    raw = raw.dropna(how="all").reset_index(drop=True)
    if raw.shape[1] == len(MASTER_COLUMNS):
        raw.columns = MASTER_COLUMNS
    elif raw.shape[1] == len(SAMPLE_COLUMNS):
        raw.columns = SAMPLE_COLUMNS
    else:
        raise DatasetError(
            f"{file.name}: expected 4 columns ({' '.join(MASTER_COLUMNS)}) or 5 columns "
            f"({' '.join(SAMPLE_COLUMNS)}); got {raw.shape[1]}."
        )
    return raw


def build_events(raw: pd.DataFrame) -> pd.DataFrame:
    """One ``pay`` event per purchase line (same order)."""
    customer = strip_blanks(raw["customer_id"])
    date = strip_blanks(raw["date"])
    cds, bad_cds = parse_numbers(raw["number_of_cds"])
    dollars, bad_dollars = parse_numbers(raw["dollar_value"])
    line_no = pd.DataFrame({"c": customer, "d": date}).groupby(["c", "d"], sort=False, dropna=False).cumcount() + 1
    event_type = pd.Series("pay", index=raw.index, dtype="str")
    event_type = flag_rows(flag_rows(event_type, bad_cds, "quantity"), bad_dollars, "price")
    return pd.DataFrame(
        {
            "user_id": customer,
            "ts": local_to_utc(date, TIMEZONE, ("%Y%m%d",)),
            "event_type": event_type,
            "price": (dollars / cds.where(cds != 0)).where(np.isfinite(dollars)),
            "quantity": cds,
            "order_id": customer + "-" + date + "-" + line_no.astype("str"),
        }
    )
