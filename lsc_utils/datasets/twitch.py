"""Twitch live-streaming watch log adapter (Rappaz, McAuley & Aberer, RecSys 2021, "LiveRec").

Raw formats
-----------
The crawl took a snapshot of all live streams every 10 minutes for 43 days (6,148 time steps) and
recorded the logged-in users in each chat. Two layouts are recognised by the first line:

* original (``100k.csv``, ``full_a.csv.gz`` unpacked): headerless
  ``user_id,stream_id,streamer_name,start,stop`` (a first line that names these columns, or the
  README's ``user_id, stream id, streamer name, start time, stop time``, is a header and skipped: the
  header rule of :mod:`lsc_utils.datasets._raw`; any other first line is data); ``stream_id``
  identifies one broadcast, ``start`` /
  ``stop`` are time-step indices. The published examples always have ``stop > start`` (e.g.
  ``5898,5899`` for a single sighting), so a row is read as the half-open interval ``[start, stop)``.
* 2,000-user cut (``twitch105k_filterbubbles.csv``): header ``,user_id,streamer_name,start_time,
  community`` (first column = row index of the original file, not used); streamer names replaced by
  integers; only ``start_time`` (a time step), no stop; ``community`` = the streamer's community.

Mapping
-------
* time: the crawl's start date is not published, so step ``k`` is placed at ``epoch + k * 10 min``
  with a fixed, documented ``epoch`` (default 2019-01-01 00:00 UTC). Only durations, hours-of-week
  relative to the epoch and orderings are meaningful, not calendar dates.
* rooms (one live broadcast each): in the original layout ``room_id = stream_id``; in the cut, where
  broadcasts are not identified, a streamer's observed time steps are split into broadcasts wherever
  two consecutive observed steps are more than ``broadcast_gap_steps`` apart (default 48 steps =
  8 hours: in the 2,000-user cut the gaps between a streamer's observed steps have their valley at
  54-60 steps, between the within-broadcast gaps and the daily rhythm at ~144), and ``room_id =
  "<streamer>@<first step>"``. ``anchor_id`` = streamer, ``category`` = community (cut only; its most
  frequent value), ``start_ts`` = first step, ``end_ts`` = end of the last observed step (original:
  the largest ``stop``).
* events: each row -> ``enter_room`` at ``start`` with ``room_id``; the original layout adds a
  ``leave_room`` at ``stop`` directly after it. ``user_id`` as given.
* users: every ``user_id`` (no attributes).

What the source cannot produce
------------------------------
No purchases, items, gifts, likes, comments (only presence in the chat is recorded), real calendar
time, or stops in the cut. Watch sessions shorter than 10 minutes may be missed by the crawl.
Files must be UTF-8 (there is no encoding option).

Licence: released by the authors for research (no formal licence); cite Rappaz, McAuley & Aberer (2021).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.datasets._common import (
    SourceInfo,
    build_users,
    most_frequent,
    read_text_columns,
    resolve_single_file,
    write_dataset,
)
from lsc_utils.datasets._raw import (
    check_encoding,
    encoding_hint,
    first_line,
    is_header,
    read_checked_csv,
    strip_blanks,
    to_number,
)
from lsc_utils.io import require_columns
from lsc_utils.schema import TIMESTAMP_DTYPE, DatasetError

SOURCE = "twitch"
EVENT_TYPES: tuple[str, ...] = ("enter_room", "leave_room")
"""Canonical event types this source can produce."""

ORIGINAL_COLUMNS = ["user_id", "stream_id", "streamer_name", "start", "stop"]
README_COLUMNS = ["user_id", "stream id", "streamer name", "start time", "stop time"]
"""The original layout's column names as the LiveRec README writes them."""
CUT_COLUMNS = ["user_id", "streamer_name", "start_time", "community"]
STEP = pd.Timedelta(minutes=10)
"""Length of one crawl time step."""
DEFAULT_EPOCH = "2019-01-01T00:00:00Z"
"""Documented stand-in for the unpublished crawl start (time step 0)."""
MAX_STEPS: float = 1e8
"""Largest size of a time step index read (1,900 years of 10-minute steps); larger values are row problems."""
DEFAULT_BROADCAST_GAP_STEPS: int = 48
"""Observed-step gap (8 hours) above which the cut's streamer activity starts a new broadcast."""
LICENCE = "Research use as released by the authors (no formal licence); cite Rappaz, McAuley & Aberer (2021)"
TIMEZONE = "UTC"
DESCRIPTION = (
    "Twitch chat presence crawled every 10 minutes for 43 days (Rappaz et al., RecSys 2021): each row "
    "is a user entering a streamer's live broadcast. Time step k is placed at epoch + k*10 min; the "
    "epoch is a documented stand-in, not the real crawl date."
)
INFO = SourceInfo(source=SOURCE, licence=LICENCE, timezone=TIMEZONE, event_types=EVENT_TYPES, description=DESCRIPTION)
HINT = encoding_hint(None, SOURCE)


def convert(
    raw_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    epoch: str = DEFAULT_EPOCH,
    broadcast_gap_steps: int = DEFAULT_BROADCAST_GAP_STEPS,
) -> Path:
    """Convert a Twitch LiveRec file (original or 2,000-user cut) into a canonical dataset folder.

    Parameters
    ----------
    raw_path : str or Path
        The CSV file or a folder holding exactly one CSV.
    out_dir : str or Path
        Output dataset folder.
    name : str, optional
        Dataset name (default from the input file name).
    epoch : str, default "2019-01-01T00:00:00Z"
        UTC time of time step 0.
    broadcast_gap_steps : int, default 48
        Cut layout only: gap in steps that separates two broadcasts of a streamer.

    Returns
    -------
    Path
        The dataset folder.
    """
    start = parse_epoch(epoch)
    if not isinstance(broadcast_gap_steps, int) or broadcast_gap_steps < 1:
        raise DatasetError(
            "The 'broadcast_gap_steps' parameter of twitch.convert must be an int >= 1. "
            f"Got {broadcast_gap_steps!r} instead."
        )
    file = resolve_single_file(raw_path, ("*.csv",), "Twitch watch-log CSV")
    check_encoding(file, "utf-8", HINT)
    header = first_line(file).split(",")
    if {"user_id", "streamer_name", "start_time"} <= {h.strip() for h in header}:
        events, rooms = convert_cut(read_cut(file), start, broadcast_gap_steps)
    elif len(header) == len(ORIGINAL_COLUMNS):
        skip = 1 if is_header(header, ORIGINAL_COLUMNS, README_COLUMNS) else 0
        events, rooms = convert_original(read_text_columns(file, ORIGINAL_COLUMNS, skip), start)
    else:
        raise DatasetError(
            f"{file.name}: not a Twitch LiveRec file. Expected headerless {','.join(ORIGINAL_COLUMNS)} or a "
            f"header with {','.join(CUT_COLUMNS)}; first line is {first_line(file)[:80]!r}."
        )
    meta = INFO.meta(
        file, name=name, inputs=[file], options={"epoch": epoch, "broadcast_gap_steps": broadcast_gap_steps}
    )
    return write_dataset(out_dir, meta, {"events": events, "users": build_users([events["user_id"]]), "rooms": rooms})


def parse_epoch(epoch: str) -> pd.Timestamp:
    """The UTC time of step 0."""
    try:
        ts = pd.Timestamp(epoch)
    except (TypeError, ValueError):
        raise DatasetError(
            f"The 'epoch' parameter of twitch.convert must be an ISO timestamp. Got {epoch!r} instead."
        ) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def parse_steps(values: pd.Series) -> pd.Series:
    """Time-step indices of raw text: whole numbers below :data:`MAX_STEPS` in size, else NaN (a row problem)."""
    numbers = to_number(values)
    whole = np.isfinite(numbers) & (numbers.abs() < MAX_STEPS) & (numbers == np.floor(numbers.fillna(0)))
    return numbers.where(whole)


def step_time(steps: pd.Series, epoch: pd.Timestamp) -> pd.Series:
    """Timestamps of time-step indices (NaT for values that are not steps, see :func:`parse_steps`)."""
    numbers = parse_steps(steps)
    return (epoch + pd.to_timedelta(numbers * 10, unit="min")).astype(TIMESTAMP_DTYPE)


def read_cut(file: Path) -> pd.DataFrame:
    """The 2,000-user cut as text columns."""
    raw = read_checked_csv(file, HINT, dtype="str")
    require_columns(raw, CUT_COLUMNS, file)
    return raw


def convert_cut(raw: pd.DataFrame, epoch: pd.Timestamp, gap_steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events and rooms of the cut layout (broadcasts split on observed-step gaps)."""
    streamer = strip_blanks(raw["streamer_name"])
    step = parse_steps(raw["start_time"])
    first_step = broadcast_first_steps(streamer, step, gap_steps)
    room_id = (streamer + "@" + first_step.astype("Int64").astype("str")).where(first_step.notna(), pd.NA)
    events = pd.DataFrame(
        {
            "user_id": strip_blanks(raw["user_id"]),
            "ts": step_time(raw["start_time"], epoch),
            "event_type": "enter_room",
            "room_id": room_id,
        }
    )
    per_row = pd.DataFrame({"room_id": room_id, "anchor_id": streamer, "step": step, "community": raw["community"]})
    rooms = summarize_rooms(per_row, epoch, end_offset_steps=1)
    return events, rooms


def broadcast_first_steps(streamer: pd.Series, step: pd.Series, gap_steps: int) -> pd.Series:
    """For every row, the first step of the streamer's broadcast containing it (NaN without a step)."""
    observed = pd.DataFrame({"s": streamer, "t": step}).dropna().drop_duplicates()
    observed = observed.sort_values(["s", "t"], kind="stable").reset_index(drop=True)
    same_streamer = observed["s"].eq(observed["s"].shift())
    new_broadcast = ~same_streamer | (observed["t"].diff() > gap_steps)
    observed["first"] = observed["t"].where(new_broadcast).ffill()
    lookup = observed.set_index(["s", "t"])["first"]
    keys = pd.MultiIndex.from_arrays([streamer, step])
    return pd.Series(lookup.reindex(keys).to_numpy(), index=streamer.index)


def convert_original(raw: pd.DataFrame, epoch: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (enter + leave per row) and rooms (one per ``stream_id``) of the original layout."""
    user = strip_blanks(raw["user_id"])
    room = strip_blanks(raw["stream_id"])
    enter = pd.DataFrame(
        {"user_id": user, "ts": step_time(raw["start"], epoch), "event_type": "enter_room", "room_id": room}
    )
    leave = pd.DataFrame(
        {"user_id": user, "ts": step_time(raw["stop"], epoch), "event_type": "leave_room", "room_id": room}
    )
    order = np.argsort(np.r_[np.arange(len(raw)) * 2, np.arange(len(raw)) * 2 + 1], kind="stable")
    events = pd.concat([enter, leave], ignore_index=True).iloc[order].reset_index(drop=True)
    start = parse_steps(raw["start"])
    stop = parse_steps(raw["stop"])
    per_row = pd.DataFrame(
        {
            "room_id": room,
            "anchor_id": strip_blanks(raw["streamer_name"]),
            "step": pd.concat([start, stop], axis=1).max(axis=1),
            "first": start,
            "community": pd.Series(pd.NA, index=raw.index, dtype="str"),
        }
    )
    return events, summarize_rooms(per_row, epoch, end_offset_steps=0)


def summarize_rooms(per_row: pd.DataFrame, epoch: pd.Timestamp, end_offset_steps: int) -> pd.DataFrame:
    """One row per room: anchor, community, first and last step as timestamps."""
    rows = per_row.dropna(subset=["room_id"])
    first_col = "first" if "first" in rows else "step"
    grouped = rows.groupby("room_id", sort=True)
    rooms = pd.DataFrame(
        {
            "anchor_id": grouped["anchor_id"].first(),
            "first": grouped[first_col].min(),
            "last": grouped["step"].max(),
        }
    )
    rooms["category"] = most_frequent(rows, "room_id", "community").reindex(rooms.index)
    rooms["start_ts"] = step_time(rooms["first"], epoch)
    rooms["end_ts"] = step_time(rooms["last"] + end_offset_steps, epoch)
    return rooms.rename_axis("room_id").reset_index()[["room_id", "anchor_id", "category", "start_ts", "end_ts"]]
