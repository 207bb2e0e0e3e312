"""Passive audiences of showcase rooms: guest viewers with logged entries and leaves, and planted incidents.

Most viewers of a big live room never interact; a platform still logs their ``enter_room`` and
``leave_room``. A simulation of a few thousand registered users gives rooms a handful of concurrent
viewers, too few for live-room monitoring to mean anything, so ``simulate(showcase_rooms=n)`` adds a
guest audience (viewer ids ``G…``, not in ``users``) to ``n`` rooms of at least
:data:`MIN_SHOWCASE_MINUTES`:

* guests arrive as a Poisson process at rate ``level / mean stay`` and stay an exponential time of
  mean :data:`MEAN_GUEST_STAY_S`, so the audience builds up to about ``level`` concurrent viewers;
  a stay still open at the room's end ends there, with a leave logged at that instant (the platform
  closes every viewer's session when the broadcast ends);
* half of the showcase rooms (rounded up) get an **incident** at a known instant: every guest present
  leaves within the next minute with probability ``drop_share``, and arrivals fall by the same share
  for the rest of the broadcast (the audience level drops and stays down);
* levels are drawn in :data:`LEVEL_RANGE` and drop shares in :data:`DROP_RANGE`, so every incident is
  a drop of at least 3.5 Poisson standard deviations of the level before it.

The planted truth: ``truth/live_rooms.parquet`` (one row per showcase room: level, incident instant
and share) and ``truth/stays.parquet`` (every guest stay: true entry and leave, and whether the leave
is logged). Times are whole seconds, as the raw ``ts`` text carries no fractions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from lsc_utils.simulate.helpers import _format_ids, _format_ms_timestamps
from lsc_utils.simulate.vocab import EVENT_VOCABULARY

MEAN_GUEST_STAY_S: float = 480.0
"""Mean guest stay (exponential), seconds."""

LEVEL_RANGE: tuple[float, float] = (80.0, 240.0)
"""Range of a showcase room's planted steady audience (concurrent guests)."""

DROP_RANGE: tuple[float, float] = (0.4, 0.6)
"""Range of the share of the audience lost at an incident (0.4 x 80 = 32 = 3.6 sqrt(80))."""

MIN_SHOWCASE_MINUTES: int = 120
"""Shortest broadcast eligible as a showcase room."""

INCIDENT_MARGIN_MIN: int = 40
"""An incident falls at least this many minutes after the start and before the end of its room."""

GUEST_ID_WIDTH: int = 7
SECOND_MS: int = 1000

LIVE_ROOMS_COLUMNS: tuple[str, ...] = ("room_id", "level", "has_incident", "incident_ts", "drop_share")
STAYS_COLUMNS: tuple[str, ...] = ("room_id", "user_id", "enter_ts", "leave_ts", "leave_logged")


def pick_showcase_rooms(
    room_start: np.ndarray, room_end: np.ndarray, n_rooms: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Choose ``n_rooms`` long rooms and plant their level and incidents.

    Returns
    -------
    pandas.DataFrame
        ``room`` (index into the rooms), ``level``, ``has_incident``, ``incident_ms`` (-1 without)
        and ``drop_share`` (0 without), sorted by room.

    Raises
    ------
    ValueError
        Fewer eligible rooms than asked for.
    """
    minutes = (room_end - room_start) // 60_000
    eligible = np.flatnonzero(minutes >= MIN_SHOWCASE_MINUTES)
    if eligible.size < n_rooms:
        raise ValueError(
            f"The 'showcase_rooms' parameter of simulate asks for {n_rooms} rooms but only {eligible.size} "
            f"broadcasts last {MIN_SHOWCASE_MINUTES} minutes or more; simulate more days or fewer showcase rooms."
        )
    room = np.sort(rng.choice(eligible, size=n_rooms, replace=False))
    has_incident = np.zeros(n_rooms, dtype=bool)
    has_incident[rng.choice(n_rooms, size=(n_rooms + 1) // 2, replace=False)] = True
    level = rng.uniform(*LEVEL_RANGE, size=n_rooms).round(1)
    share = np.where(has_incident, rng.uniform(*DROP_RANGE, size=n_rooms).round(3), 0.0)
    margin = INCIDENT_MARGIN_MIN * 60_000
    lo, hi = room_start[room] + margin, room_end[room] - margin
    incident = lo + (rng.random(n_rooms) * (hi - lo)).astype(np.int64)
    incident = np.where(has_incident, incident - incident % SECOND_MS, -1)
    return pd.DataFrame(
        {"room": room, "level": level, "has_incident": has_incident, "incident_ms": incident, "drop_share": share}
    )


def _arrivals(start: int, end: int, rate_per_s: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson arrival instants (ms) in ``[start, end)`` at ``rate_per_s``."""
    n = rng.poisson(rate_per_s * (end - start) / SECOND_MS)
    return np.sort(start + (rng.random(n) * (end - start)).astype(np.int64))


def room_guest_stays(
    start: int, end: int, level: float, incident: int, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Guest stays of one room: entries, leaves (ms, whole seconds) and whether each leave is logged."""
    rate = level / MEAN_GUEST_STAY_S
    if incident >= 0:
        enter = np.concatenate(
            [_arrivals(start, incident, rate, rng), _arrivals(incident, end, rate * (1 - share), rng)]
        )
    else:
        enter = _arrivals(start, end, rate, rng)
    enter -= enter % SECOND_MS
    leave = enter + np.maximum(SECOND_MS, rng.exponential(MEAN_GUEST_STAY_S * SECOND_MS, enter.size).astype(np.int64))
    if incident >= 0:
        present = (enter < incident) & (leave > incident)
        lost = present & (rng.random(enter.size) < share)
        walk_out = incident + (rng.random(enter.size) * 60_000).astype(np.int64)
        leave = np.where(lost, np.minimum(leave, np.maximum(walk_out, enter + SECOND_MS)), leave)
    leave -= leave % SECOND_MS
    return enter, np.minimum(leave, end), np.ones(enter.size, dtype=bool)


def guest_audience(
    showcase: pd.DataFrame, room_start: np.ndarray, room_end: np.ndarray, room_ids: pa.Array, rng: np.random.Generator
) -> tuple[pa.Table, pd.DataFrame]:
    """Raw events (``enter_room``/``leave_room``) and true stays of every showcase room's guests.

    Returns
    -------
    events : pyarrow.Table
        Columns ``user_id, ts, event_type, room_id`` (ISO ``ts`` text), sorted by guest and time.
    stays : pandas.DataFrame
        Columns of :data:`STAYS_COLUMNS` (UTC timestamps).
    """
    parts = [
        room_guest_stays(room_start[r], room_end[r], lvl, inc, sh, rng)
        for r, lvl, inc, sh in showcase[["room", "level", "incident_ms", "drop_share"]].itertuples(index=False)
    ]
    room = np.repeat(showcase["room"].to_numpy(), [p[0].size for p in parts])
    enter = np.concatenate([p[0] for p in parts])
    leave = np.concatenate([p[1] for p in parts])
    logged = np.concatenate([p[2] for p in parts])
    guest = _format_ids("G", np.arange(1, enter.size + 1), GUEST_ID_WIDTH)
    rooms = room_ids.take(pa.array(room))
    enter_type, leave_type = EVENT_VOCABULARY.index("enter_room"), EVENT_VOCABULARY.index("leave_room")
    rows = np.concatenate([np.arange(enter.size), np.flatnonzero(logged)])
    kind = np.concatenate([np.full(enter.size, enter_type), np.full(int(logged.sum()), leave_type)])
    ts = np.concatenate([enter, leave[logged]])
    order = np.lexsort((kind != enter_type, ts, rows))
    rows, kind, ts = rows[order], kind[order], ts[order]
    events = pa.table(
        {
            "user_id": guest.take(pa.array(rows)),
            "ts": _format_ms_timestamps(ts),
            "event_type": pa.array(np.asarray(EVENT_VOCABULARY, dtype=object)[kind], type=pa.string()),
            "room_id": rooms.take(pa.array(rows)),
        }
    )
    stays = pd.DataFrame(
        {
            "room_id": rooms.to_pandas(),
            "user_id": guest.to_pandas(),
            "enter_ts": pd.to_datetime(enter, unit="ms", utc=True),
            "leave_ts": pd.to_datetime(leave, unit="ms", utc=True),
            "leave_logged": logged,
        }
    )
    return events, stays


def live_rooms_truth(showcase: pd.DataFrame, room_ids: pa.Array) -> pd.DataFrame:
    """``truth/live_rooms.parquet``: the showcase rooms with their planted level and incident."""
    incident = pd.to_datetime(showcase["incident_ms"].where(showcase["has_incident"]), unit="ms", utc=True)
    return pd.DataFrame(
        {
            "room_id": room_ids.take(pa.array(showcase["room"].to_numpy())).to_pandas(),
            "level": showcase["level"].to_numpy(),
            "has_incident": showcase["has_incident"].to_numpy(),
            "incident_ts": incident.to_numpy(),
            "drop_share": showcase["drop_share"].to_numpy(),
        }
    )
