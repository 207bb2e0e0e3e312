"""Taobao UserBehavior (Alibaba Tianchi, dataset 649) adapter.

Raw format
----------
One headerless CSV, ``UserBehavior.csv`` (3.4 GB, 100,150,807 rows of 987,994 users on 4,162,024
items in 9,439 categories, 2017-11-25 to 2017-12-03 China time), columns::

    user_id,item_id,category_id,behavior_type,timestamp

``behavior_type`` is ``pv`` (page view), ``cart``, ``fav`` or ``buy``; ``timestamp`` is Unix seconds.
A first line is a header (skipped) only when its fields are these five column names (the header rule
of :mod:`lsc_utils.datasets._raw`); any other first line is data, so a bad value in it is a row
problem. The file must be UTF-8 (the adapter has no encoding option; the real file is ASCII).

Mapping
-------
* events: ``pv`` -> ``view_item``, ``cart`` -> ``add_to_cart``, ``fav`` -> ``favorite``,
  ``buy`` -> ``pay``; ``item_id`` kept; ``ts`` from the Unix epoch, whose unit is read from each
  value's magnitude (the epoch-unit rule: a re-export in milliseconds is not read as year 49,870).
* Any other behaviour value is kept as its raw text (``out_of_vocabulary:<raw>`` when the raw text is
  a canonical type, e.g. ``like``) so that the schema flags the row as ``out_of_vocabulary`` and
  cleaning quarantines it; ids holding control characters are flagged by the writer; when more than
  half of the rows read so far
  (checked after every chunk) have unknown values the file is not UserBehavior and the conversion
  raises :class:`~lsc_utils.schema.DatasetError`.
* items: ``item_id`` with ``category`` = its ``category_id`` (the most frequent one when an item
  appears under several categories, ties to the smallest id).
* users: every ``user_id`` (no attributes).

What the source cannot produce
------------------------------
No prices, quantities or order ids (``pay`` events carry no amount), no sessions, rooms, comments,
user demographics, brands or channels. Events are read in chunks (``chunk_rows``) and streamed to
Parquet, so the full 100M-row file converts in bounded memory.

Licence: Alibaba Tianchi dataset licence (research use; cite the Tianchi UserBehavior dataset). Rows
outside the documented period exist in the raw file; they are kept and flagged by cleaning.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lsc_utils.datasets._common import (
    DEFAULT_CHUNK_ROWS,
    DatasetWriter,
    SourceInfo,
    add_scratch_users_and_items,
    check_chunk_rows,
    read_text_chunks,
    resolve_single_file,
)
from lsc_utils.datasets._raw import (
    check_encoding,
    encoding_hint,
    epochs_to_utc,
    first_line,
    is_header,
    map_event_types,
    strip_blanks,
    unknown_share,
)
from lsc_utils.schema import DatasetError

SOURCE = "taobao"
EVENT_TYPES: tuple[str, ...] = ("view_item", "add_to_cart", "favorite", "pay")
"""Canonical event types this source can produce."""

BEHAVIOR_EVENT_TYPES: dict[str, str] = {"pv": "view_item", "cart": "add_to_cart", "fav": "favorite", "buy": "pay"}
"""Raw ``behavior_type`` -> canonical event type."""

RAW_COLUMNS: list[str] = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
LICENCE = "Alibaba Tianchi dataset licence: research use only, cite the Tianchi UserBehavior dataset"
TIMEZONE = "Asia/Shanghai"
PERIOD = {"start": "2017-11-25", "end": "2017-12-03"}
DESCRIPTION = (
    "Taobao UserBehavior (Alibaba Tianchi): page views, add-to-carts, favourites and purchases of "
    "Taobao users, 2017-11-25..2017-12-03 China time. Purchases carry no price or quantity."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)
ITEM_CATEGORY_SQL = """
WITH counts AS (
    SELECT item_id, category, count(*) AS n FROM {rows} WHERE item_id IS NOT NULL GROUP BY item_id, category
)
SELECT item_id, first(category ORDER BY n DESC, category ASC NULLS LAST) AS category
FROM counts GROUP BY item_id
"""
"""Most frequent category per item, ties to the smallest category id (DuckDB, out of core)."""
MAX_UNKNOWN_SHARE: float = 0.5
"""Above this share of unknown behaviour values the input is not a UserBehavior file."""


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Path:
    """Convert a Taobao UserBehavior CSV into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        ``UserBehavior.csv`` (or any cut of it), or a folder holding one such CSV.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input file name).
    chunk_rows : int, default 2,000,000
        Rows read and written per chunk.

    Returns
    -------
    Path
        The dataset folder.
    """
    check_chunk_rows(chunk_rows, "taobao.convert")
    file = resolve_single_file(raw_path, ("UserBehavior*.csv", "*.csv"), "Taobao UserBehavior CSV")
    check_encoding(file, "utf-8", encoding_hint(None, SOURCE))
    skip = 1 if is_header(first_line(file).split(","), RAW_COLUMNS) else 0
    rows = unknown = 0
    with DatasetWriter(out_dir, INFO.meta(file, name=name, inputs=[file])) as writer:
        seen = writer.scratch_table("user_item_category")
        for chunk in read_text_chunks(file, RAW_COLUMNS, skip_rows=skip, chunk_rows=chunk_rows):
            rows += len(chunk)
            unknown += unknown_share(chunk["behavior_type"], BEHAVIOR_EVENT_TYPES)[0]
            if unknown > MAX_UNKNOWN_SHARE * rows:
                raise_unknown_behaviours(file, chunk, rows, unknown)
            events = build_events(chunk)
            writer.append_rows("events", events)
            seen.append(
                pd.DataFrame(
                    {
                        "user_id": events["user_id"],
                        "item_id": events["item_id"],
                        "category": strip_blanks(chunk["category_id"]),
                    }
                )
            )
        if rows == 0:
            raise DatasetError(f"{file}: file has no data rows.")
        add_scratch_users_and_items(writer, seen, ITEM_CATEGORY_SQL)
    return Path(out_dir)


def build_events(chunk: pd.DataFrame) -> pd.DataFrame:
    """Canonical events of one chunk of raw rows (same row order)."""
    return pd.DataFrame(
        {
            "user_id": strip_blanks(chunk["user_id"]),
            "ts": epochs_to_utc(chunk["timestamp"]),
            "event_type": map_event_types(chunk["behavior_type"], BEHAVIOR_EVENT_TYPES),
            "item_id": strip_blanks(chunk["item_id"]),
        }
    )


def raise_unknown_behaviours(file: Path, chunk: pd.DataFrame, rows: int, unknown: int) -> None:
    """Raise the error of a file that is mostly not UserBehavior rows."""
    _, counts = unknown_share(chunk["behavior_type"], BEHAVIOR_EVENT_TYPES)
    examples = ", ".join(f"{k!r} ({v})" for k, v in list(counts.items())[:5])
    raise DatasetError(
        f"{file.name}: column 'behavior_type' has {unknown} of {rows} values outside "
        f"{', '.join(BEHAVIOR_EVENT_TYPES)} (e.g. {examples}); expected a Taobao UserBehavior file "
        "with columns user_id,item_id,category_id,behavior_type,timestamp."
    )
