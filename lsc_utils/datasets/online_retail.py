"""UCI Online Retail adapter (a UK gift retailer's invoice lines, 2010-12-01..2011-12-09).

Raw format
----------
CSV with header ``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``
(the UCI "Online Retail" sheet exported to CSV). The "Online Retail II" names ``Invoice``, ``Price`` and
``Customer ID`` are accepted too. ``InvoiceDate`` is UK local time, ISO (``2011-10-30 16:17:00``) or
the Kaggle export's ``12/1/2010 8:26`` (month first). Cancellations have an invoice number starting
with ``C`` and a negative quantity; about a quarter of the lines have no ``CustomerID``. Given a folder,
its single CSV is used (the ``.xlsx`` original must be exported to CSV first). Kaggle's CSV copy is
Latin-1: pass ``encoding="latin-1"`` (CLI: ``-o encoding=latin-1``).

Mapping
-------
* events: every invoice line is one event. Lines of cancellations (``C`` prefix) or with a negative
  quantity -> ``refund`` with ``quantity = |Quantity|``; all others -> ``pay`` with ``quantity =
  Quantity``. ``price = UnitPrice`` (paid unit price), ``order_id = InvoiceNo``, ``item_id =
  StockCode``, ``user_id = CustomerID`` (without the ``.0`` of float exports); lines without a customer
  keep a null ``user_id`` so that cleaning quarantines and counts them. A ``Quantity`` or ``UnitPrice``
  that is written but is not a number flags the line (``invalid_quantity:<type>`` /
  ``invalid_price:<type>``, see :mod:`lsc_utils.datasets._raw`).
* items: one per ``StockCode``: ``category = "unknown"`` (the source has none), ``tags`` = the
  lower-case words of its most frequent description (English stop words removed, ``|``-joined),
  ``list_price`` = its most frequent positive unit price on ``pay`` lines. Non-product codes (``POST``, ``M``,
  ``BANK CHARGES`` ...) are items like any other; cleaning decides about them.
* users: every ``CustomerID`` with ``region`` = its most frequent ``Country``.

What the source cannot produce
------------------------------
No browsing, cart, room or comment events, no sessions, demographics or brands; one invoice has a
single timestamp for all its lines.

Licence: CC BY 4.0 (UCI Machine Learning Repository, Chen, Sain & Guo 2012).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from lsc_utils.datasets._common import (
    SourceInfo,
    build_items,
    build_users,
    most_frequent,
    normalize_integer_ids,
    resolve_single_file,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    encoding_hint,
    flag_rows,
    local_to_utc,
    parse_numbers,
    read_checked_csv,
    strip_blanks,
)
from lsc_utils.io import require_columns
from lsc_utils.schema import DatasetError

SOURCE = "online_retail"
EVENT_TYPES: tuple[str, ...] = ("pay", "refund")
"""Canonical event types this source can produce."""

RAW_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
COLUMN_ALIASES: dict[str, str] = {"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"}
"""Online Retail II column names -> Online Retail names."""
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
UNKNOWN_CATEGORY = "unknown"
TAG_MIN_LENGTH = 2
LICENCE = "CC BY 4.0 (UCI Machine Learning Repository: Online Retail, Chen, Sain & Guo 2012)"
TIMEZONE = "Europe/London"
PERIOD = {"start": "2010-12-01", "end": "2011-12-09"}
DESCRIPTION = (
    "UCI Online Retail: invoice lines of a UK-based online gift retailer, 2010-12-01..2011-12-09. "
    "Each line is a 'pay' event (price = unit price, quantity = units) or, for cancellations, a "
    "'refund' with positive quantity; lines without CustomerID keep a null user_id."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    encoding: str = "utf-8",
) -> Path:
    """Convert the UCI Online Retail CSV into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        The CSV file or a folder holding it.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input name).
    encoding : str, default "utf-8"
        Text encoding of the CSV.

    Returns
    -------
    Path
        The dataset folder.
    """
    file = resolve_single_file(raw_path, ("*.csv",), "Online Retail CSV")
    if file.suffix.lower() in (".xlsx", ".xls"):
        raise DatasetError(f"{file}: Excel files are not read; export the sheet to CSV (UTF-8) first.")
    raw = read_lines(file, encoding)
    events = build_events(raw)
    meta = INFO.meta(file, name=name, inputs=[file])
    tables = {"events": events, "users": build_user_table(raw, events), "items": build_item_table(raw, events)}
    return write_dataset(out_dir, meta, tables)


def read_lines(file: Path, encoding: str) -> pd.DataFrame:
    """The invoice lines as text columns with canonical raw names."""
    hint = encoding_hint("encoding", SOURCE)
    raw = read_checked_csv(file, hint, dtype="str", encoding=encoding, keep_default_na=False, na_values=[""])
    raw = raw.rename(columns=COLUMN_ALIASES)
    require_columns(raw, RAW_COLUMNS, file)
    return raw


def build_events(raw: pd.DataFrame) -> pd.DataFrame:
    """One ``pay`` or ``refund`` event per invoice line (same order)."""
    invoice = strip_blanks(raw["InvoiceNo"])
    quantity, bad_quantity = parse_numbers(raw["Quantity"])
    price, bad_price = parse_numbers(raw["UnitPrice"])
    refund = (invoice.str.upper().str.startswith("C").fillna(False) | (quantity < 0)).to_numpy()
    event_type = pd.Series(np.where(refund, "refund", "pay"), index=raw.index, dtype="str")
    event_type = flag_rows(flag_rows(event_type, bad_quantity, "quantity"), bad_price, "price")
    return pd.DataFrame(
        {
            "user_id": normalize_integer_ids(raw["CustomerID"]),
            "ts": local_to_utc(raw["InvoiceDate"], TIMEZONE, DATE_FORMATS),
            "event_type": event_type,
            "item_id": strip_blanks(raw["StockCode"]),
            "price": price,
            "quantity": quantity.abs(),
            "order_id": invoice,
        }
    )


def build_user_table(raw: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Customers with their most frequent country as ``region``."""
    lines = pd.DataFrame({"user_id": events["user_id"], "region": strip_blanks(raw["Country"])})
    region = most_frequent(lines, "user_id", "region").rename_axis("user_id").reset_index()
    return build_users([events["user_id"]], region)


def build_item_table(raw: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Stock codes with description words as tags and their most frequent paid unit price."""
    lines = pd.DataFrame({"item_id": events["item_id"], "description": strip_blanks(raw["Description"])})
    description = most_frequent(lines, "item_id", "description")
    paid = events.loc[(events["event_type"] == "pay") & (events["price"] > 0), ["item_id", "price"]]
    list_price = most_frequent(paid, "item_id", "price")
    attributes = pd.DataFrame({"tags": description_tags(description), "list_price": list_price})
    attributes = attributes.rename_axis("item_id").reset_index()
    attributes["category"] = UNKNOWN_CATEGORY
    items = build_items([events["item_id"]], attributes)
    items["category"] = items["category"].fillna(UNKNOWN_CATEGORY)
    return items


def description_tags(description: pd.Series) -> pd.Series:
    """Distinct lower-case words of each description, stop words and 1-letter words removed, ``|``-joined."""
    words = description.str.lower().str.findall(r"[a-z]+").explode().dropna()
    words = words[(words.str.len() >= TAG_MIN_LENGTH) & ~words.isin(ENGLISH_STOP_WORDS)]
    words = words.reset_index().drop_duplicates()
    words.columns = ["item_id", "word"]
    return words.groupby("item_id", sort=True)["word"].agg("|".join).reindex(description.index)
