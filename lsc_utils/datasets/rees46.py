"""REES46 "eCommerce behavior data from multi category store" adapter (Kaggle, REES46 Marketing Platform).

Raw format
----------
Monthly CSV files (``2019-Oct.csv``, ``2019-Nov.csv`` ... several GB each) with header::

    event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session

``event_time`` is UTC (``2019-10-01 00:00:00 UTC``); ``event_type`` is ``view``, ``cart``,
``remove_from_cart`` or ``purchase``; ``category_code`` a dotted path (``electronics.smartphone``),
often empty; ``price`` the product's price at the time of the event. Given a folder, every ``*.csv``
in it is converted in name order. Files are streamed in chunks (``chunk_rows``).

Mapping
-------
* events: ``view`` -> ``view_item``, ``cart`` -> ``add_to_cart``, ``remove_from_cart`` ->
  ``remove_from_cart``, ``purchase`` -> ``pay``; ``price`` kept (the paid unit price on purchases),
  ``session_id = user_session``, ``item_id = product_id``. Unknown values are kept raw (schema flags
  them; a raw value spelled like a canonical type, e.g. ``pay``, is kept as ``out_of_vocabulary:pay``,
  the vocabulary rule of :mod:`lsc_utils.datasets._raw`). A ``price`` that is written but is not a
  number flags the event (``invalid_price:<type>``). No quantity is recorded (one unit per purchase
  row). Files must be UTF-8 (there is no encoding option).
* items: per ``product_id`` from its latest event: ``category`` = ``category_code`` or, when empty,
  the numeric ``category_id``; ``tags`` = the ``category_code`` levels ``|``-joined; ``brand``;
  ``list_price`` = the latest price seen.
* users: every ``user_id`` (no attributes).

What the source cannot produce
------------------------------
No order ids, quantities, favourites, rooms, comments or demographics. The shop's local time zone is
not published (timestamps are UTC).

Licence: free to use with attribution ("REES46 Marketing Platform" as data source), per the Kaggle
dataset page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.datasets._common import (
    DEFAULT_CHUNK_ROWS,
    DatasetWriter,
    SourceInfo,
    add_scratch_users_and_items,
    check_chunk_rows,
    normalize_integer_ids,
    resolve_input_files,
    stream_csv_chunks,
)
from lsc_utils.datasets._raw import (
    encoding_hint,
    flag_rows,
    local_to_utc,
    map_event_types,
    parse_numbers,
    strip_blanks,
)
from lsc_utils.schema import DatasetError

SOURCE = "rees46"
EVENT_TYPES: tuple[str, ...] = ("view_item", "add_to_cart", "remove_from_cart", "pay")
"""Canonical event types this source can produce."""

RAW_EVENT_TYPES: dict[str, str] = {
    "view": "view_item",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "pay",
}
"""Raw ``event_type`` -> canonical event type."""

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "ISO8601")
"""``event_time`` formats: the files' own, then any ISO-8601 text."""
RAW_COLUMNS = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
]
LATEST_ITEM_SQL = """
SELECT item_id, category, tags, brand, list_price FROM {rows}
WHERE item_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY ts DESC NULLS LAST, seq DESC) = 1
"""
"""Attributes of each product at its latest event (later rows win ties; DuckDB, out of core)."""
LICENCE = "Free to use with attribution to 'REES46 Marketing Platform' as data source (Kaggle dataset page)"
TIMEZONE = "UTC"
DESCRIPTION = (
    "REES46 eCommerce behaviour data from a large multi-category online store: product views, cart "
    "additions and removals and purchases with prices, brands and category paths."
)
INFO = SourceInfo(source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Path:
    """Convert REES46 monthly CSV files into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        One monthly CSV or a folder of them.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input name).
    chunk_rows : int, default 2,000,000
        Rows read and written per chunk.

    Returns
    -------
    Path
        The dataset folder.
    """
    check_chunk_rows(chunk_rows, "rees46.convert")
    files = resolve_input_files(raw_path, ("*.csv",), "no REES46 CSV files found (expected e.g. 2019-Oct.csv)")
    offset = 0
    with DatasetWriter(out_dir, INFO.meta(raw_path, name=name, inputs=files)) as writer:
        seen = writer.scratch_table("item_rows")
        for file in files:
            for chunk in stream_csv_chunks(file, RAW_COLUMNS, chunk_rows, encoding_hint(None, SOURCE)):
                events = build_events(chunk)
                writer.append_rows("events", events)
                seen.append(item_rows(chunk, events, offset))
                offset += len(chunk)
        if offset == 0:
            raise DatasetError(f"{', '.join(f.name for f in files)}: no data rows (only headers).")
        add_scratch_users_and_items(writer, seen, LATEST_ITEM_SQL)
    return Path(out_dir)


def build_events(chunk: pd.DataFrame) -> pd.DataFrame:
    """Canonical events of one chunk (same order)."""
    price, bad_price = parse_numbers(chunk["price"])
    return pd.DataFrame(
        {
            "user_id": normalize_integer_ids(chunk["user_id"]),
            "ts": local_to_utc(chunk["event_time"], "UTC", TIME_FORMATS),
            "event_type": flag_rows(map_event_types(chunk["event_type"], RAW_EVENT_TYPES), bad_price, "price"),
            "item_id": normalize_integer_ids(chunk["product_id"]),
            "session_id": strip_blanks(chunk["user_session"]),
            "price": price,
        }
    )


def item_rows(chunk: pd.DataFrame, events: pd.DataFrame, offset: int) -> pd.DataFrame:
    """Per event: user, item attributes, time and global row number (for the latest-row query)."""
    code = strip_blanks(chunk["category_code"])
    return pd.DataFrame(
        {
            "user_id": events["user_id"],
            "item_id": events["item_id"],
            "ts": events["ts"],
            "seq": np.arange(offset, offset + len(chunk), dtype=np.int64),
            "category": code.fillna(strip_blanks(chunk["category_id"])),
            "tags": code.str.replace(".", "|", regex=False),
            "brand": strip_blanks(chunk["brand"]),
            "list_price": events["price"],
        }
    )
