"""JD.com JData 2017 ("high-potential user purchase intention") adapter.

Raw format
----------
A folder of CSV files with headers (the competition's data description, DataFountain competition 247,
is the source of the codes below):

* ``JData_User.csv`` (GBK in the original; ``JData_User_utf8.csv`` re-encoded): ``user_id, age, sex,
  user_lv_cd, user_reg_tm``. ``age`` is a band in Chinese (``-1`` unknown, ``15岁以下``, ``16-25岁``,
  ``26-35岁``, ``36-45岁``, ``46-55岁``, ``56岁以上``); ``sex`` 0 = male, 1 = female, 2 = undisclosed
  (保密); ``user_lv_cd`` an ordered level 1-5; ``user_reg_tm`` the registration date.
* ``JData_Action_201602.csv``, ``_201603``, ``_201604``: ``user_id, sku_id, time, model_id, type, cate,
  brand``; ``user_id`` is written as a float (``266079.0``); ``type`` 1 browse (浏览), 2 add to cart,
  3 remove from cart, 4 order (下单), 5 follow (关注), 6 click (点击); ``time`` China local time.
* ``JData_Product.csv``: ``sku_id, a1, a2, a3, cate, brand`` (attributes, ``-1`` unknown).
* ``JData_Comment.csv``: weekly comment-count summaries per product, not comment texts (not converted).

Given a folder, all ``JData_Action_*.csv`` files are concatenated in name order; given one action file,
that file is converted and the user / product files are taken from the same folder when present.

Mapping
-------
* events: type 1 browse and 6 click -> ``view_item``; 2 -> ``add_to_cart``; 3 -> ``remove_from_cart``;
  4 order -> ``pay``: JData has no separate payment record, so **orders are treated as completed
  purchases**; 5 follow -> ``favorite`` (following a product, not an anchor). Unknown codes are kept as
  their raw text (schema flags them; see the vocabulary rule of :mod:`lsc_utils.datasets._raw`).
  ``model_id`` (page-module id) is not mapped.
* users: ``age`` = midpoint of the band (16-25 -> 20, 26-35 -> 30, 36-45 -> 40, 46-55 -> 50; open
  bands as 10-year bands: under 15 -> 10, 56+ -> 60; ``-1`` -> null); ``gender`` 0 -> M, 1 -> F,
  2 -> unknown (any other code is kept as ``out_of_vocabulary:<raw>`` or its raw text, so that
  cleaning quarantines the user as ``invalid_gender``); ``member_level`` = ``user_lv_cd``; ``signup_ts`` = registration date at 00:00 China
  time. Users seen only in actions are added without attributes.
* items: products with ``category`` = ``cate``, ``brand``, ``tags`` = known attributes as
  ``a1=3|a2=1``; items seen only in actions take their most frequent ``cate`` / ``brand`` there.

What the source cannot produce
------------------------------
No prices, quantities, order ids, payments distinct from orders, sessions, rooms, comment texts or
regions. The published period is 2016-02-01..2016-04-15; the action files start a few seconds before
it (kept; cleaning flags them).

Licence: JData competition data (JD.com), competition and research use only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lsc_utils.constants import GENDERS
from lsc_utils.datasets._common import (
    SourceInfo,
    build_items,
    build_users,
    most_frequent,
    normalize_integer_ids,
    read_header_table,
    resolve_input_files,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    encoding_hint,
    local_to_utc,
    map_event_types,
    map_vocabulary,
    read_checked_csv,
    strip_blanks,
)
from lsc_utils.io import require_columns
from lsc_utils.schema import DatasetError

SOURCE = "jdata"
EVENT_TYPES: tuple[str, ...] = ("view_item", "add_to_cart", "remove_from_cart", "pay", "favorite")
"""Canonical event types this source can produce."""

ACTION_EVENT_TYPES: dict[str, str] = {
    "1": "view_item",
    "2": "add_to_cart",
    "3": "remove_from_cart",
    "4": "pay",
    "5": "favorite",
    "6": "view_item",
}
"""Raw action ``type`` -> canonical event type."""

AGE_BAND_MIDPOINTS: dict[str, int | None] = {
    "-1": None,
    "15岁以下": 10,
    "16-25岁": 20,
    "26-35岁": 30,
    "36-45岁": 40,
    "46-55岁": 50,
    "56岁以上": 60,
}
"""Age band -> age used as the user's ``age`` (band midpoint, rounded down)."""

SEX_GENDERS: dict[str, str] = {"0": "M", "1": "F", "2": "unknown"}
"""Raw ``sex`` -> canonical gender (JData: 0 male, 1 female, 2 undisclosed)."""

ACTION_COLUMNS = ["user_id", "sku_id", "time", "type", "cate", "brand"]
USER_COLUMNS = ["user_id", "age", "sex", "user_lv_cd", "user_reg_tm"]
PRODUCT_COLUMNS = ["sku_id", "a1", "a2", "a3", "cate", "brand"]
ACTION_PATTERNS = ("JData_Action_*.csv",)
USER_FILES = ("JData_User_utf8.csv", "JData_User.csv")
PRODUCT_FILE = "JData_Product.csv"
LICENCE = "JData 2017 competition data (JD.com): competition and research use only"
TIMEZONE = "Asia/Shanghai"
PERIOD = {"start": "2016-02-01", "end": "2016-04-15"}
DESCRIPTION = (
    "JD.com JData 2017 competition: product browse/click, cart, order and follow actions with user "
    "age band, gender, level and registration date. Orders (type 4) are treated as completed purchases ('pay')."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)
UTF8_ONLY_HINT = (
    "Re-save the file as UTF-8: the jdata adapter reads the action and product files as UTF-8 only "
    "(only the user file has an encoding option: -o user_encoding=NAME, e.g. gbk)."
)
USER_FILE_HINT = encoding_hint("user_encoding", SOURCE)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    user_encoding: str = "utf-8",
) -> Path:
    """Convert JData 2017 files into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        The JData folder, or one ``JData_Action_*.csv`` file.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input name).
    user_encoding : str, default "utf-8"
        Encoding of the user file (the original ``JData_User.csv`` is ``"gbk"``).

    Returns
    -------
    Path
        The dataset folder.
    """
    action_files = resolve_input_files(
        raw_path, ACTION_PATTERNS, "no JData action files found (expected JData_Action_*.csv)"
    )
    folder = action_files[0].parent  # the user and product files sit next to the action files
    actions = pd.concat([read_actions(f) for f in action_files], ignore_index=True)
    user_file = next((folder / f for f in USER_FILES if (folder / f).is_file()), None)
    product_file = folder / PRODUCT_FILE if (folder / PRODUCT_FILE).is_file() else None
    events = build_events(actions)
    attributes = read_users(user_file, user_encoding) if user_file else None
    products = read_products(product_file) if product_file else None
    inputs = [*action_files, *(f for f in (user_file, product_file) if f is not None)]
    meta = INFO.meta(raw_path, name=name, inputs=inputs)
    tables = {
        "events": events,
        "users": build_users([events["user_id"]], attributes),
        "items": build_item_table(actions, products),
    }
    return write_dataset(out_dir, meta, tables)


def read_actions(file: Path) -> pd.DataFrame:
    """One action file, all columns as text, ids normalized."""
    raw = read_header_table(file, ACTION_COLUMNS, UTF8_ONLY_HINT)
    raw["user_id"] = normalize_integer_ids(raw["user_id"])
    raw["sku_id"] = normalize_integer_ids(raw["sku_id"])
    return raw


def build_events(actions: pd.DataFrame) -> pd.DataFrame:
    """Canonical events of the concatenated action rows (same order)."""
    return pd.DataFrame(
        {
            "user_id": actions["user_id"],
            "ts": local_to_utc(actions["time"], TIMEZONE, ("%Y-%m-%d %H:%M:%S", "ISO8601")),
            "event_type": map_event_types(actions["type"], ACTION_EVENT_TYPES),
            "item_id": actions["sku_id"],
        }
    )


def read_users(file: Path, encoding: str) -> pd.DataFrame:
    """Users with gender, age, level and signup time from the JData user file."""
    raw = read_checked_csv(file, USER_FILE_HINT, dtype="str", encoding=encoding)
    require_columns(raw, USER_COLUMNS, file)
    band = strip_blanks(raw["age"])
    unknown = sorted(set(band.dropna()) - set(AGE_BAND_MIDPOINTS))
    if unknown:
        raise DatasetError(
            f"{file.name}: column 'age' has bands outside the JData vocabulary "
            f"({', '.join(map(repr, unknown[:5]))}); expected {', '.join(AGE_BAND_MIDPOINTS)}. "
            "If the text is garbled, pass the file's encoding: -o user_encoding=gbk (CLI) or "
            "user_encoding='gbk' (Python)."
        )
    return pd.DataFrame(
        {
            "user_id": normalize_integer_ids(raw["user_id"]),
            "gender": map_vocabulary(raw["sex"], SEX_GENDERS, GENDERS),
            "age": band.map(AGE_BAND_MIDPOINTS).astype("Int64"),
            "signup_ts": local_to_utc(raw["user_reg_tm"], TIMEZONE, ("%Y-%m-%d", "ISO8601")),
            "member_level": strip_blanks(raw["user_lv_cd"]),
        }
    )


def read_products(file: Path) -> pd.DataFrame:
    """Items of the product file: category, brand and known attributes as tags."""
    raw = read_header_table(file, PRODUCT_COLUMNS, UTF8_ONLY_HINT)
    tags = pd.Series("", index=raw.index, dtype="str")
    for attr in ("a1", "a2", "a3"):
        value = strip_blanks(raw[attr])
        known = value.notna() & (value != "-1")
        part = (attr + "=" + value).where(known, "")
        tags = tags.str.cat(part, sep="|")
    tags = tags.str.replace(r"\|+", "|", regex=True).str.strip("|")
    return pd.DataFrame(
        {
            "item_id": normalize_integer_ids(raw["sku_id"]),
            "category": strip_blanks(raw["cate"]),
            "brand": strip_blanks(raw["brand"]),
            "tags": tags.where(tags != "", pd.NA),
        }
    )


def build_item_table(actions: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Products plus items seen only in actions (their most frequent category and brand there)."""
    seen = pd.DataFrame({"item_id": actions["sku_id"], "cate": actions["cate"], "brand": actions["brand"]})
    from_actions = (
        pd.concat(
            [most_frequent(seen, "item_id", "cate").rename("category"), most_frequent(seen, "item_id", "brand")],
            axis=1,
        )
        .rename_axis("item_id")
        .reset_index()
    )
    attributes = from_actions if products is None else pd.concat([products, from_actions], ignore_index=True)
    return build_items([actions["sku_id"]], attributes)
