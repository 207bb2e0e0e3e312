"""YooChoose (RecSys Challenge 2015) adapter: e-commerce click sessions and optional buys.

Raw formats
-----------
Three file kinds are recognised by their first line:

* prepared session split (GRU4Rec preprocessing, e.g. ``yoochoose-clicks-100k_train_full.txt``):
  tab-separated with header ``SessionId ItemId Time``; ``Time`` in Unix seconds (float; the unit is
  read from each value's magnitude, the epoch-unit rule of :mod:`lsc_utils.datasets._raw`);
* original clicks ``yoochoose-clicks.dat``: headerless CSV ``SessionId,Timestamp,ItemId,Category``
  with ISO-8601 UTC timestamps (``2014-04-07T10:51:09.277Z``);
* original buys ``yoochoose-buys.dat``: headerless CSV ``SessionId,Timestamp,ItemId,Price,Quantity``.

A clicks or buys file is recognised by the first of its first :data:`KIND_LINES` lines that has 4 or 5
comma-separated fields with a ``T`` in the second, so a bad first line does not hide the file; a first
line that names the columns above is a header (skipped; the header rule), any other is data. Files
must be UTF-8 (there is no encoding option).

Given a folder, every click and buy file in it is converted and concatenated in file-name order.
When the folder holds the prepared ``*train_full*`` file, the ``*train_tr*`` and ``*train_valid*``
files (a re-split of the same rows) are skipped so that no click is counted twice.

Mapping
-------
* each click -> ``view_item``; each buy line -> ``pay`` with ``price`` and ``quantity`` as given
  (the challenge data has lines with price and quantity 0; they are kept for cleaning; a price or
  quantity that is written but is not a number flags the line as ``invalid_price:pay`` /
  ``invalid_quantity:pay``);
* YooChoose has no user ids: each session is one anonymous user, ``user_id = "s<SessionId>"``, and
  the raw ``SessionId`` is kept as ``session_id``;
* items: every item id; the original clicks' ``Category`` fills ``category`` when it is a category
  number 1-12, ``"special_offer"`` when it is ``S``, and ``brand`` when it is a longer number (the
  challenge's brand ids); ``0`` means missing.
* users: one per session (no attributes).

What the source cannot produce
------------------------------
No user identity across sessions, no cart, favourite, room or comment events, no demographics; the
prepared split has no categories. Time zone of the shop is not documented: timestamps are UTC.

Licence: RecSys Challenge 2015 data, provided by YOOCHOOSE GmbH for research (non-commercial) use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lsc_utils.datasets._common import (
    SourceInfo,
    build_items,
    build_users,
    normalize_integer_ids,
    prefix_ids,
    read_header_table,
    read_text_columns,
    resolve_input_files,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    BOM,
    check_encoding,
    encoding_hint,
    epochs_to_utc,
    first_line,
    flag_rows,
    is_header,
    parse_iso_utc,
    parse_numbers,
    strip_blanks,
)
from lsc_utils.schema import DatasetError

SOURCE = "yoochoose"
EVENT_TYPES: tuple[str, ...] = ("view_item", "pay")
"""Canonical event types this source can produce."""

PREPARED_COLUMNS: list[str] = ["SessionId", "ItemId", "Time"]
CLICK_COLUMNS: list[str] = ["SessionId", "Timestamp", "ItemId", "Category"]
BUY_COLUMNS: list[str] = ["SessionId", "Timestamp", "ItemId", "Price", "Quantity"]
CATEGORY_NUMBERS: frozenset[str] = frozenset(str(n) for n in range(1, 13))
"""Category values that are real categories (the others are brands, ``S`` or ``0``)."""
USER_PREFIX = "s"
LICENCE = "RecSys Challenge 2015 (YOOCHOOSE GmbH): research, non-commercial use"
TIMEZONE = "UTC"
PERIOD = {"start": "2014-04-01", "end": "2014-09-30"}
DESCRIPTION = (
    "YooChoose (RecSys Challenge 2015) click sessions of a European online retailer, April-September "
    "2014; one anonymous user per session (user_id 's<SessionId>'), optional buys as 'pay' events."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)
CANDIDATE_PATTERNS = ("*.txt", "*.tsv", "*.dat", "*.csv")
KIND_LINES: int = 20
"""Leading lines inspected to recognise a headerless clicks or buys file."""
HINT = encoding_hint(None, SOURCE)
SPLIT_DUPLICATES = ("train_tr", "train_valid")


def convert(raw_path: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Convert YooChoose click (and buy) files into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        One click/buy file or a folder of them (see the module docstring for the formats).
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input name).

    Returns
    -------
    Path
        The dataset folder.
    """
    files = input_files(raw_path)
    parts, item_parts = [], []
    for file in files:
        events, items = read_file(file)
        parts.append(events)
        item_parts.append(items)
    events = pd.concat(parts, ignore_index=True)
    attributes = pd.concat(item_parts, ignore_index=True).drop_duplicates("item_id")
    meta = INFO.meta(raw_path, name=name, inputs=files)
    tables = {
        "events": events,
        "users": build_users([events["user_id"]]),
        "items": build_items([events["item_id"]], attributes if len(attributes) else None),
    }
    return write_dataset(out_dir, meta, tables)


def input_files(raw_path: str | Path) -> list[Path]:
    """The click and buy files to convert (a file, or the candidate files of a folder)."""
    return resolve_input_files(
        raw_path,
        CANDIDATE_PATTERNS,
        "no YooChoose files found (expected a tab-separated 'SessionId ItemId Time' file, "
        "yoochoose-clicks.dat or yoochoose-buys.dat)",
        select=yoochoose_files,
    )


def yoochoose_files(candidates: list[Path]) -> list[Path]:
    """The candidates of a known YooChoose layout, without the re-split copies of a ``train_full`` file."""
    files = [f for f in candidates if file_kind(f) is not None]
    if any("train_full" in f.name for f in files):
        files = [f for f in files if not any(tag in f.name for tag in SPLIT_DUPLICATES)]
    return files


def file_kind(file: Path) -> str | None:
    """``"prepared"``, ``"clicks"``, ``"buys"`` or None, from the file's first lines (see the module docstring)."""
    if file.stat().st_size == 0:
        return None
    if [f.strip() for f in first_line(file).split("\t")[:3]] == PREPARED_COLUMNS:
        return "prepared"
    for line in leading_lines(file, KIND_LINES):
        fields = line.split(",")
        if len(fields) in (4, 5) and "T" in fields[1]:
            return "clicks" if len(fields) == 4 else "buys"
    return None


def leading_lines(file: Path, n: int) -> list[str]:
    """The first ``n`` lines of a text file (any line break; undecodable bytes replaced; no byte-order mark)."""
    with open(file, encoding="utf-8", errors="replace", newline="") as fh:
        text = fh.read(1 << 16).removeprefix(BOM)
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:n]


def read_file(file: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical events and item attributes of one YooChoose file."""
    check_encoding(file, "utf-8", HINT)
    kind = file_kind(file)
    if kind == "prepared":
        return read_prepared(file), pd.DataFrame(columns=["item_id"])
    if kind == "clicks":
        return read_clicks(file)
    if kind == "buys":
        return read_buys(file), pd.DataFrame(columns=["item_id"])
    raise DatasetError(
        f"{file}: not a YooChoose file. Expected a header 'SessionId<TAB>ItemId<TAB>Time', or headerless "
        f"'{','.join(CLICK_COLUMNS)}' / '{','.join(BUY_COLUMNS)}' lines; first line is {first_line(file)[:80]!r}."
    )


def read_prepared(file: Path) -> pd.DataFrame:
    """Events of a prepared ``SessionId ItemId Time`` file."""
    raw = read_header_table(file, PREPARED_COLUMNS, HINT, delimiter="\t")
    return session_events(raw["SessionId"], epochs_to_utc(raw["Time"]), "view_item", raw["ItemId"])


def read_clicks(file: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events and item categories / brands of an original ``yoochoose-clicks.dat``."""
    raw = read_text_columns(file, CLICK_COLUMNS, header_rows(file, CLICK_COLUMNS))
    events = session_events(raw["SessionId"], parse_iso_utc(raw["Timestamp"]), "view_item", raw["ItemId"])
    return events, item_attributes(raw)


def read_buys(file: Path) -> pd.DataFrame:
    """``pay`` events of an original ``yoochoose-buys.dat``."""
    raw = read_text_columns(file, BUY_COLUMNS, header_rows(file, BUY_COLUMNS))
    events = session_events(raw["SessionId"], parse_iso_utc(raw["Timestamp"]), "pay", raw["ItemId"])
    events["price"], bad_price = parse_numbers(raw["Price"])
    events["quantity"], bad_quantity = parse_numbers(raw["Quantity"])
    events["event_type"] = flag_rows(flag_rows(events["event_type"], bad_price, "price"), bad_quantity, "quantity")
    return events


def header_rows(file: Path, columns: list[str]) -> int:
    """1 when the file's first line names ``columns`` (the header rule), else 0."""
    return 1 if is_header(first_line(file).split(","), columns) else 0


def session_events(sessions: pd.Series, ts: pd.Series, event_type: str, items: pd.Series) -> pd.DataFrame:
    """Events of anonymous sessions: ``user_id = "s<session>"`` and ``session_id = <session>``."""
    session_id = normalize_integer_ids(sessions)
    return pd.DataFrame(
        {
            "user_id": prefix_ids(USER_PREFIX, session_id),
            "ts": ts,
            "event_type": event_type,
            "item_id": normalize_integer_ids(items),
            "session_id": session_id,
        }
    )


def item_attributes(raw: pd.DataFrame) -> pd.DataFrame:
    """Category or brand per item from the clicks' ``Category`` (the last value seen per item)."""
    code = strip_blanks(raw["Category"])
    items = pd.DataFrame({"item_id": normalize_integer_ids(raw["ItemId"]), "code": code})
    items = items.dropna(subset=["item_id"]).drop_duplicates("item_id", keep="last")
    code = items["code"]
    is_category = code.isin(CATEGORY_NUMBERS)
    is_brand = code.str.fullmatch(r"\d{4,}").fillna(False).astype(bool)
    category = code.where(is_category, pd.NA).mask(code == "S", "special_offer")
    return pd.DataFrame(
        {"item_id": items["item_id"], "category": category, "brand": code.where(is_brand, pd.NA)}
    ).reset_index(drop=True)
