"""MovieLens 100K adapter (GroupLens; 100,000 ratings of 943 users on 1,682 movies, 1997-09..1998-04).

Raw format
----------
The ``ml-100k`` folder:

* ``u.data``: tab-separated, headerless ``user_id item_id rating timestamp`` (rating 1-5, Unix seconds);
* ``u.user``: ``|``-separated ``user_id|age|gender|occupation|zip_code``;
* ``u.item``: ``|``-separated, **Latin-1** encoded ``movie_id|title|release_date|video_release_date|
  IMDb_URL`` followed by 19 genre flags in the order of ``u.genre`` (``unknown``, Action, ... Western).

Given ``u.data`` itself, ``u.user`` and ``u.item`` are read from the same folder when present.

Mapping
-------
* events: each rating -> one ``view_item`` event (watching is the interaction that a rating records)
  with **the rating (1-5) kept in ``quantity``**; ``ts`` from the Unix epoch (seconds in the files;
  the unit is read from each value's magnitude, the epoch-unit rule of :mod:`lsc_utils.datasets._raw`).
  A rating that is missing, not a number or outside 1-5 flags the event as
  ``invalid_quantity:view_item``.
  ``u.data`` has no header line (every line is a rating); files are UTF-8 except ``u.item``
  (Latin-1); there is no encoding option.
* users: ``age``, ``gender`` (M/F; any other code is kept flagged, see the vocabulary rule),
  ``region`` = the zip code as written. Occupation is not kept (the
  canonical users table has no column for it).
* items: ``category`` = the first genre flagged (in ``u.genre`` order; ``unknown`` when none),
  ``tags`` = all flagged genres ``|``-joined, ``brand = "unknown"``. Titles and release dates are not
  kept (no canonical column).

What the source cannot produce
------------------------------
No purchases, prices, carts, rooms or comments; ratings are explicit feedback squeezed into
``view_item`` + ``quantity``, so downstream code that needs ratings reads ``quantity``.

Licence: GroupLens research licence: research use only, no redistribution, no commercial use, cite
Harper & Konstan (2015).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.constants import GENDERS
from lsc_utils.datasets._common import (
    SourceInfo,
    build_items,
    build_users,
    resolve_main_file,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    encoding_hint,
    epochs_to_utc,
    flag_rows,
    map_vocabulary,
    parse_numbers,
    read_checked_csv,
    strip_blanks,
)
from lsc_utils.schema import DatasetError

SOURCE = "movielens"
EVENT_TYPES: tuple[str, ...] = ("view_item",)
"""Canonical event types this source can produce."""

GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
"""Genre flags of ``u.item``, in file order (``u.genre``)."""

RATINGS: frozenset[float] = frozenset({1.0, 2.0, 3.0, 4.0, 5.0})
"""Documented rating values (1-5 stars)."""
USER_GENDERS: dict[str, str] = {"M": "M", "F": "F"}
"""Documented ``u.user`` gender codes -> canonical gender."""

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
USER_COLUMNS = ["user_id", "age", "gender", "occupation", "zip_code"]
ITEM_COLUMNS = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES]
ITEM_ENCODING = "latin-1"
UNKNOWN_BRAND = "unknown"
LICENCE = (
    "GroupLens research licence: research only, no redistribution, no commercial use; cite Harper & Konstan (2015)"
)
TIMEZONE = "America/Chicago"
PERIOD = {"start": "1997-09-19", "end": "1998-04-22"}
DESCRIPTION = (
    "MovieLens 100K (GroupLens): 1-5 star movie ratings from movielens.umn.edu, 1997-09-19..1998-04-22. "
    "Each rating is a 'view_item' event with the rating in 'quantity'."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)


def convert(raw_path: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Convert MovieLens 100K into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        The ``ml-100k`` folder or its ``u.data`` file.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the folder name).

    Returns
    -------
    Path
        The dataset folder.
    """
    ratings_file, folder = resolve_main_file(raw_path, "u.data", "MovieLens 100K folder")
    ratings = read_table(ratings_file, RATING_COLUMNS, "\t", "utf-8")
    events = build_events(ratings)
    user_file, item_file = folder / "u.user", folder / "u.item"
    users = read_users(user_file) if user_file.is_file() else None
    items = read_items(item_file) if item_file.is_file() else None
    meta = INFO.meta(raw_path, name=name, inputs=[f for f in (ratings_file, user_file, item_file) if f.is_file()])
    tables = {
        "events": events,
        "users": build_users([events["user_id"]], users),
        "items": build_items([events["item_id"]], items),
    }
    return write_dataset(out_dir, meta, tables)


def read_table(file: Path, columns: list[str], sep: str, encoding: str) -> pd.DataFrame:
    """A headerless MovieLens file with named text columns; a wrong column count raises."""
    raw = read_checked_csv(
        file,
        encoding_hint(None, SOURCE),
        sep=sep,
        header=None,
        dtype="str",
        encoding=encoding,
        keep_default_na=False,
        na_values=[""],
    )
    if raw.shape[1] != len(columns):
        raise DatasetError(
            f"{file.name}: expected {len(columns)} {sep!r}-separated columns ({', '.join(columns[:6])}"
            f"{' ...' if len(columns) > 6 else ''}); got {raw.shape[1]}."
        )
    raw.columns = columns
    return raw


def build_events(ratings: pd.DataFrame) -> pd.DataFrame:
    """One ``view_item`` event per rating, the rating in ``quantity`` (same order)."""
    rating, _ = parse_numbers(ratings["rating"])
    outside = ~rating.isin(list(RATINGS)).to_numpy(dtype=bool)
    event_type = flag_rows(pd.Series("view_item", index=ratings.index, dtype="str"), outside, "quantity")
    return pd.DataFrame(
        {
            "user_id": strip_blanks(ratings["user_id"]),
            "ts": epochs_to_utc(ratings["timestamp"]),
            "event_type": event_type,
            "item_id": strip_blanks(ratings["item_id"]),
            "quantity": rating,
        }
    )


def read_users(file: Path) -> pd.DataFrame:
    """Users with age, gender and zip code as region."""
    raw = read_table(file, USER_COLUMNS, "|", "utf-8")
    return pd.DataFrame(
        {
            "user_id": strip_blanks(raw["user_id"]),
            "gender": map_vocabulary(raw["gender"], USER_GENDERS, GENDERS),
            "age": strip_blanks(raw["age"]),
            "region": strip_blanks(raw["zip_code"]),
        }
    )


def read_items(file: Path) -> pd.DataFrame:
    """Items with first genre as category and all genres as tags (``u.item`` is Latin-1)."""
    raw = read_table(file, ITEM_COLUMNS, "|", ITEM_ENCODING)
    flags = raw[list(GENRES)].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() == 1
    names = np.array(GENRES, dtype=object)
    first = np.where(flags.any(axis=1), names[flags.argmax(axis=1)], "unknown")
    tags = pd.DataFrame(flags, columns=list(GENRES)).dot(pd.Series([f"{g}|" for g in GENRES], index=list(GENRES)))
    tags = tags.str.rstrip("|")
    return pd.DataFrame(
        {
            "item_id": strip_blanks(raw["item_id"]),
            "category": first,
            "brand": UNKNOWN_BRAND,
            "tags": tags.where(tags != "", pd.NA).to_numpy(),
        }
    )
