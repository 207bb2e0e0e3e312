"""RetailRocket e-commerce dataset adapter (Kaggle "Retailrocket recommender system dataset").

Raw format
----------
A folder (or its ``events.csv``) with, per the dataset's description:

* ``events.csv``: header ``timestamp,visitorid,event,itemid,transactionid``; ``timestamp`` in Unix
  milliseconds; ``event`` is ``view``, ``addtocart`` or ``transaction``; ``transactionid`` only on
  transactions. 2,756,101 events (2,664,312 views, 69,332 add-to-carts, 22,457 transactions) of
  1,407,580 visitors over about 4.5 months.
* optional ``item_properties_part1.csv`` / ``item_properties_part2.csv`` (or ``item_properties.csv``):
  ``timestamp,itemid,property,value``, a change log of weekly snapshots; only the ``categoryid``
  property is unhashed. Read in chunks, keeping only ``categoryid`` rows.
* optional ``category_tree.csv``: ``categoryid,parentid`` (empty parent = root).

Mapping
-------
* events: ``view`` -> ``view_item``, ``addtocart`` -> ``add_to_cart``, ``transaction`` -> ``pay``
  with ``order_id = transactionid``; ``user_id = visitorid``; other event values are kept raw (schema
  flags them; the vocabulary rule of :mod:`lsc_utils.datasets._raw`). ``ts`` from the Unix epoch
  (milliseconds in the files; the unit is read from each value's magnitude, the epoch-unit rule).
  Files must be UTF-8 (there is no encoding option).
* items: every item of events or properties; ``category`` = the item's latest ``categoryid`` value;
  ``tags`` = the category's ancestor path from the root, ``|``-joined (``root|...|category``), when the
  tree is given.
* users: every visitor (no attributes).

What the source cannot produce
------------------------------
No prices or quantities (hashed properties), no sessions, rooms, comments, demographics or brands;
the shop's time zone and exact dates are not published (timestamps are UTC).

Licence: CC BY-NC-SA 4.0 (Retail Rocket, via Kaggle).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lsc_utils.datasets._common import (
    DEFAULT_CHUNK_ROWS,
    SourceInfo,
    build_items,
    build_users,
    find_files,
    normalize_integer_ids,
    read_header_table,
    resolve_main_file,
    stream_csv_chunks,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    encoding_hint,
    epochs_to_utc,
    map_event_types,
    read_checked_csv,
    strip_blanks,
    to_number,
)
from lsc_utils.io import require_columns

SOURCE = "retailrocket"
EVENT_TYPES: tuple[str, ...] = ("view_item", "add_to_cart", "pay")
"""Canonical event types this source can produce."""

RAW_EVENT_TYPES: dict[str, str] = {"view": "view_item", "addtocart": "add_to_cart", "transaction": "pay"}
"""Raw ``event`` -> canonical event type."""

EVENT_COLUMNS = ["timestamp", "visitorid", "event", "itemid", "transactionid"]
PROPERTY_COLUMNS = ["timestamp", "itemid", "property", "value"]
TREE_COLUMNS = ["categoryid", "parentid"]
CATEGORY_PROPERTY = "categoryid"
MAX_TREE_DEPTH: int = 50
"""Ancestor walks stop here (guards against a cycle in a damaged tree)."""
LICENCE = "CC BY-NC-SA 4.0 (Retail Rocket, Kaggle)"
TIMEZONE = "UTC"
DESCRIPTION = (
    "RetailRocket: views, add-to-carts and transactions of visitors of a real e-commerce site over "
    "about 4.5 months (values hashed); item categories from the item-property change log."
)
INFO = SourceInfo(source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION)
HINT = encoding_hint(None, SOURCE)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Path:
    """Convert RetailRocket files into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        The dataset folder or its ``events.csv``.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input name).
    chunk_rows : int, default 2,000,000
        Rows per chunk when reading the item-property files.

    Returns
    -------
    Path
        The dataset folder.
    """
    events_file, folder = resolve_main_file(raw_path, "events.csv", "RetailRocket folder")
    events = build_events(read_events(events_file))
    property_files = find_files(folder, ("item_properties*.csv",))
    tree_file = folder / "category_tree.csv"
    categories = latest_categories(property_files, chunk_rows) if property_files else None
    tree = read_tree(tree_file) if tree_file.is_file() else None
    meta = INFO.meta(
        raw_path, name=name, inputs=[events_file, *property_files, *([tree_file] if tree is not None else [])]
    )
    tables = {
        "events": events,
        "users": build_users([events["user_id"]]),
        "items": build_item_table(events, categories, tree),
    }
    return write_dataset(out_dir, meta, tables)


def read_events(file: Path) -> pd.DataFrame:
    """``events.csv`` as text columns."""
    return read_header_table(file, EVENT_COLUMNS, HINT)


def build_events(raw: pd.DataFrame) -> pd.DataFrame:
    """Canonical events (same order)."""
    return pd.DataFrame(
        {
            "user_id": normalize_integer_ids(raw["visitorid"]),
            "ts": epochs_to_utc(raw["timestamp"]),
            "event_type": map_event_types(raw["event"], RAW_EVENT_TYPES),
            "item_id": normalize_integer_ids(raw["itemid"]),
            "order_id": normalize_integer_ids(raw["transactionid"]),
        }
    )


def latest_categories(files: list[Path], chunk_rows: int) -> pd.Series:
    """The latest ``categoryid`` value per item over all property files (streamed)."""
    parts = []
    for file in files:
        for chunk in stream_csv_chunks(file, PROPERTY_COLUMNS, chunk_rows, HINT):
            rows = chunk.loc[strip_blanks(chunk["property"]) == CATEGORY_PROPERTY, ["timestamp", "itemid", "value"]]
            parts.append(rows)
    rows = pd.concat(parts, ignore_index=True)
    rows["t"] = to_number(rows["timestamp"])
    rows["item_id"] = normalize_integer_ids(rows["itemid"])
    rows = rows.sort_values(["item_id", "t"], kind="stable").drop_duplicates("item_id", keep="last")
    return strip_blanks(rows.set_index("item_id")["value"])


def read_tree(file: Path) -> pd.Series:
    """Parent category per category (null for roots)."""
    raw = read_checked_csv(file, HINT, dtype="str")
    require_columns(raw, TREE_COLUMNS, file)
    parents = normalize_integer_ids(raw["parentid"])
    return pd.Series(parents.to_numpy(), index=normalize_integer_ids(raw["categoryid"]).to_numpy()).dropna()


def category_paths(categories: pd.Series, parents: pd.Series) -> pd.Series:
    """``root|...|category`` for each category value, walking the tree one level per step (vectorized)."""
    path = categories.astype("str")
    current = categories.astype("str")
    parent_map = parents[~parents.index.duplicated()]
    for _ in range(MAX_TREE_DEPTH):
        current = current.map(parent_map)
        if current.isna().all():
            break
        path = (current + "|" + path).where(current.notna(), path)
    return path


def build_item_table(events: pd.DataFrame, categories: pd.Series | None, tree: pd.Series | None) -> pd.DataFrame:
    """Items of events and properties with latest category and its ancestor path as tags."""
    if categories is None:
        return build_items([events["item_id"]])
    attributes = pd.DataFrame({"item_id": categories.index, "category": categories.to_numpy()})
    if tree is not None:
        attributes["tags"] = category_paths(attributes["category"], tree).to_numpy()
    return build_items([events["item_id"], attributes["item_id"]], attributes)
