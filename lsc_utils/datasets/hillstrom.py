"""Hillstrom adapter: the MineThatData e-mail experiment (Hillstrom 2008), 64,000 randomised customers.

Raw format
----------
``hillstrom.csv`` with a header: ``recency, history_segment, history, mens, womens, zip_code, newbie,
channel, segment, visit, conversion, spend`` (one row per customer; see the dataset's README). The
``segment`` column is the randomised arm (``Mens E-Mail``, ``Womens E-Mail``, ``No E-Mail``);
``visit``, ``conversion`` and ``spend`` are the outcomes over the two weeks after the send.

Mapping
-------
* exposures: one row per customer in campaign ``hillstrom_2008``; ``arm`` = ``mens_email``,
  ``womens_email`` or ``control``; ``assignment_probability`` = 1/3 (three equal random arms). The
  send date is not published: ``ts`` is :data:`SEND_TIME` (America/New_York, the month the challenge
  was released), the same for everyone. The pre-period attributes become covariates ``x_recency``
  (months since the last purchase), ``x_history`` (dollars last year), ``x_history_segment``,
  ``x_mens``, ``x_womens``, ``x_newbie`` (0/1), ``x_zip_code`` and ``x_channel``: they were recorded
  before the send, so a model may use them.
* events: the outcomes, stamped one day after the send (the file says *whether*, not *when*): a visit
  -> ``view_item`` (no item); a conversion -> ``pay`` one hour later with ``price`` = spend (the
  two weeks' dollars, as one payment) and ``order_id = <user>-1``. A converting customer without a
  visit still gets the visit (a purchase needs one); the file has none.
* users: every customer, ``user_id`` = ``H`` + the 1-based row number (``H00001``); no demographics;
  consent assumed (:data:`~lsc_utils.datasets._common.CONSENT_NOTE`).

A ``segment`` outside the three arms or an outcome that is not 0/1 (``visit``, ``conversion``) or a
non-negative number (``spend``) stops the conversion with one line naming the file, column and row.

What the source cannot produce
------------------------------
No items, times, browsing history before the send, rooms or comments; purchase propensity from
history is therefore not testable on it, uplift is.

Licence: released by Kevin Hillstrom (MineThatData) for the 2008 challenge, free to use with
attribution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.datasets._common import SourceInfo, build_users, existing_path, find_files, write_dataset
from lsc_utils.datasets._raw import check_encoding, encoding_hint, local_to_utc, read_checked_csv
from lsc_utils.io import require_columns
from lsc_utils.schema import DatasetError

SOURCE = "hillstrom"
EVENT_TYPES: tuple[str, ...] = ("view_item", "pay")
"""Canonical event types this source can produce."""
COLUMNS = [
    "recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel", "segment",
    "visit", "conversion", "spend",
]  # fmt: skip
ARMS: dict[str, str] = {"Mens E-Mail": "mens_email", "Womens E-Mail": "womens_email", "No E-Mail": "control"}
CAMPAIGN_ID = "hillstrom_2008"
SEND_TIME = "2008-03-03 09:00:00"
"""Local send time assumed for every customer (the file has no dates)."""
OUTCOME_DELAY = pd.Timedelta(days=1)
PAY_DELAY = pd.Timedelta(hours=1)
COVARIATES: dict[str, str] = {
    "recency": "x_recency",
    "history": "x_history",
    "history_segment": "x_history_segment",
    "mens": "x_mens",
    "womens": "x_womens",
    "newbie": "x_newbie",
    "zip_code": "x_zip_code",
    "channel": "x_channel",
}
LICENCE = "Released by Kevin Hillstrom (MineThatData, 2008) for public analysis; attribute the source"
TIMEZONE = "America/New_York"
PERIOD = {"start": "2008-03-03", "end": "2008-03-16"}
DESCRIPTION = (
    "Hillstrom MineThatData e-mail experiment: 64,000 customers randomised to a men's e-mail, a women's "
    "e-mail or no e-mail, with visits, conversions and spend over two weeks. Exposures carry the arm and "
    "the pre-period covariates (x_*); outcomes are events stamped one day after an assumed send date."
)
INFO = SourceInfo(
    source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION, period=PERIOD
)


def convert(raw_path: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Convert ``hillstrom.csv`` (or a folder holding it) into a canonical dataset with exposures.

    Parameters
    ----------
    raw_path : str or Path
        The CSV file or its folder.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input file name).

    Returns
    -------
    Path
        The dataset folder.
    """
    file = input_file(raw_path)
    raw = read_customers(file)
    user_ids = pd.Series([f"H{k:05d}" for k in range(1, len(raw) + 1)], dtype="str")
    exposures = build_exposures(raw, user_ids)
    events = build_events(raw, user_ids)
    meta = INFO.meta(file, name=name, inputs=[file])
    tables = {"events": events, "users": build_users([user_ids]), "exposures": exposures}
    return write_dataset(out_dir, meta, tables)


def input_file(raw_path: str | Path) -> Path:
    """The file to convert: ``raw_path`` itself or the folder's single CSV."""
    path = existing_path(raw_path)
    if path.is_file():
        return path
    matches = find_files(path, ("hillstrom*.csv",)) or find_files(path, ("*.csv",))
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise DatasetError(f"{path}: expected one Hillstrom CSV file; found {found}. Pass the file itself.")
    return matches[0]


def read_customers(file: Path) -> pd.DataFrame:
    """The customers with checked arms and outcomes (one-line errors naming column and row)."""
    hint = encoding_hint(None, SOURCE)
    check_encoding(file, "utf-8", hint)
    raw = read_checked_csv(
        file, hint, dtype={"segment": "str", "zip_code": "str", "channel": "str", "history_segment": "str"}
    )
    require_columns(raw, COLUMNS, file)
    unknown = ~raw["segment"].isin(list(ARMS))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DatasetError(
            f"{file.name}: column 'segment' holds {raw['segment'].iloc[row]!r} at data row {row + 1}; "
            f"expected one of {', '.join(ARMS)}."
        )
    for column, check in (("visit", "binary"), ("conversion", "binary"), ("spend", "amount"), ("history", "amount")):
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() | (values < 0) | (~values.isin([0, 1]) if check == "binary" else False)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "0 or 1" if check == "binary" else "a number >= 0"
            raise DatasetError(
                f"{file.name}: column '{column}' holds {raw[column].iloc[row]!r} at data row {row + 1}; expected {expected}."
            )
        raw[column] = values
    return raw


def _send_time() -> pd.Timestamp:
    return local_to_utc(pd.Series([SEND_TIME]), TIMEZONE).iloc[0]


def build_exposures(raw: pd.DataFrame, user_ids: pd.Series) -> pd.DataFrame:
    """One exposure per customer: arm, assumed send time, probability 1/3 and the ``x_*`` covariates."""
    exposures = pd.DataFrame(
        {
            "user_id": user_ids,
            "campaign_id": CAMPAIGN_ID,
            "arm": raw["segment"].map(ARMS).astype("str"),
            "ts": _send_time(),
            "assignment_probability": 1.0 / len(ARMS),
        }
    )
    for column, covariate in COVARIATES.items():
        values = raw[column]
        numeric = pd.to_numeric(values, errors="coerce")
        exposures[covariate] = numeric if numeric.notna().all() else values.astype("str")
    return exposures


def build_events(raw: pd.DataFrame, user_ids: pd.Series) -> pd.DataFrame:
    """A ``view_item`` for every visit (or conversion) and a ``pay`` of the spend for every conversion."""
    seen = (raw["visit"] > 0) | (raw["conversion"] > 0)
    bought = raw["conversion"] > 0
    visit_at = _send_time() + OUTCOME_DELAY
    visits = pd.DataFrame({"user_id": user_ids[seen], "ts": visit_at, "event_type": "view_item"})
    pays = pd.DataFrame(
        {
            "user_id": user_ids[bought],
            "ts": visit_at + PAY_DELAY,
            "event_type": "pay",
            "price": raw.loc[bought, "spend"].astype(float),
            "quantity": 1.0,
            "order_id": user_ids[bought] + "-1",
        }
    )
    events = pd.concat([visits, pays], ignore_index=True)
    return events.sort_values(["user_id", "ts"], kind="mergesort", ignore_index=True)
