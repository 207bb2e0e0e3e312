"""Size limits of a simulation, checked before anything is generated or written.

:func:`~lsc_utils.simulate.simulate` refuses, with a one-line ``ValueError`` that names the parameter,
what was asked and the limit:

* ``n_days`` above :data:`MAX_DAYS` (ten years), or a period ending after the last timestamp pandas
  can hold (2262-04-11): beyond ten years nearly every planted customer has dropped out (the
  expected events per user and day fall from 2.8 at 56 days to 0.12 at ten years), so longer spans
  only add empty days, while the room schedule keeps growing by ``24 x n_anchors`` hour slots a day;
* a simulation whose estimated peak memory (:func:`estimate_size`) exceeds the memory available
  now (:func:`available_memory`).

Memory model
------------
Peak resident memory of ``simulate`` was measured on eleven sizes (50 users x 1 day to 150,000 x 7,
2,000 x 730 and 500 x 2,000; 0.15-0.63 GB) and fits, within 10 %, ::

    164 MB + 822 B x users + 346 B x rows of one block + 200 B x min(rows, chunk_events)
           + 86 B x anchor-hours + 4.7 B x rows

plus about 85 MB for the dataset adapters that the output-folder rule imports (measured 234 MiB at
the smallest size and 470 MiB at the default; estimated 258 MiB and 574 MiB).

One block of :data:`USERS_PER_BLOCK` users is built in memory at once; the Parquet sinks buffer up to
``chunk_events`` rows; anchor-hours (``n_anchors x 24 x n_days``) size the room samplers by hour and
anchor; the truth kept to the end (dirty rows, purchases, comment PII) grows with all rows. The users
term holds the users, items and anchors tables, personal data and latent traits. :data:`MEMORY_MODEL`
rounds the size coefficients up by about half (and the base to 256 MiB), so the estimate errs on the
safe side: 1.1-1.4 times the measured peak, twice it for day-heavy sizes (3,000 users x ten years).

Rows are estimated as ``users x days x`` :func:`expected_events_per_user_day` ``x (1 + dirty rates)``
plus :data:`BOT_MIN_EVENTS` per bot (the simulator's own planning figures).

Available memory is psutil's ``virtual_memory().available`` when psutil is installed (on Linux the
kernel's MemAvailable: free memory plus reclaimable cache), else ``os.sysconf`` free pages
(``SC_AVPHYS_PAGES x SC_PAGE_SIZE``, which leaves the cache out and so errs on the safe side). When
neither is known the memory check is skipped. Container (cgroup) memory limits are not read.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from lsc_utils.simulate.chains import expected_events_per_user_day
from lsc_utils.simulate.vocab import BOT_MIN_EVENTS, USERS_PER_BLOCK
from lsc_utils.simulate.world import SimulationParams, _bot_count

MAX_DAYS: int = 3653
"""Longest simulation, in days (ten years, leap days included)."""


@dataclass(frozen=True)
class MemoryModel:
    """Bytes of peak memory per unit of a simulation's size (see the module docstring)."""

    base: float = 256 * 2**20
    per_user: float = 1280.0
    per_block_row: float = 512.0
    per_buffered_row: float = 320.0
    per_anchor_hour: float = 128.0
    per_row: float = 8.0


MEMORY_MODEL = MemoryModel()
"""The coefficients used by :func:`estimate_size`: the fitted ones rounded up (see the module docstring)."""


@dataclass(frozen=True)
class SizeEstimate:
    """Expected size of a simulation.

    Attributes
    ----------
    rows : int
        Event rows, dirty rows and bots included.
    memory_bytes : int
        Peak resident memory of the simulating process.
    """

    rows: int
    memory_bytes: int


_events_per_user_day = functools.lru_cache(maxsize=64)(expected_events_per_user_day)
""":func:`expected_events_per_user_day` remembered per ``n_days`` (it is deterministic)."""


def check_days(n_days: int, start: pd.Timestamp | None = None) -> None:
    """Refuse more than :data:`MAX_DAYS` days, or a period ending after the last pandas timestamp.

    Parameters
    ----------
    n_days : int
        Simulated days (already checked to be an int >= 1).
    start : Timestamp, optional
        First simulated day (UTC); None checks the number of days only.

    Raises
    ------
    ValueError
        Naming ``n_days``, the span asked for and the limit.
    """
    if n_days > MAX_DAYS:
        raise ValueError(
            f"The 'n_days' parameter of simulate must be an int <= {MAX_DAYS} (ten years; by then nearly every "
            f"planted customer has dropped out). Got {n_days} instead (about {n_days / 365.25:,.0f} years)."
        )
    if start is None:
        return
    last = pd.Timestamp.max.tz_localize("UTC").normalize()
    try:
        days_left = (last - start).days
    except (OverflowError, ValueError):  # a start beyond the nanosecond range
        days_left = -1
    if n_days > days_left:
        raise ValueError(
            f"The 'n_days' parameter of simulate must end the period by {last:%Y-%m-%d} (the last pandas "
            f"timestamp). Got {n_days} days from {start:%Y-%m-%d} instead."
        )


def estimate_size(
    n_users: int,
    n_days: int,
    n_anchors: int,
    chunk_events: int = 1_000_000,
    dirty_rates: Mapping[str, float] | None = None,
) -> SizeEstimate:
    """Expected event rows and peak memory of a simulation (see the module docstring for the model).

    Parameters
    ----------
    n_users, n_days, n_anchors, chunk_events : int
        As given to :func:`~lsc_utils.simulate.simulate` (``n_days`` at most :data:`MAX_DAYS`).
    dirty_rates : mapping of str to float, optional
        Dirty-row rates; None for a clean simulation (no dirty rows, no bots).

    Returns
    -------
    SizeEstimate

    Raises
    ------
    ValueError
        If ``n_days`` exceeds :data:`MAX_DAYS` (:func:`check_days`).
    """
    check_days(n_days)
    rates = dict(dirty_rates or {})
    n_bots = _bot_count(n_users) if rates.get("bot_user", 0.0) > 0 else 0
    human_rows = n_users * n_days * _events_per_user_day(n_days)
    rows = human_rows * (1.0 + sum(rates.values())) + n_bots * BOT_MIN_EVENTS
    block_rows = rows * min(n_users, USERS_PER_BLOCK) / n_users
    model = MEMORY_MODEL
    memory = (
        model.base
        + model.per_user * n_users
        + model.per_block_row * block_rows
        + model.per_buffered_row * min(rows, chunk_events)
        + model.per_anchor_hour * n_anchors * 24 * n_days
        + model.per_row * rows
    )
    return SizeEstimate(rows=round(rows), memory_bytes=round(memory))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now, or None when the platform does not say.

    psutil's ``virtual_memory().available`` if psutil is installed, else ``os.sysconf`` free pages.
    """
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_size(params: SimulationParams) -> SizeEstimate:
    """Refuse a simulation whose estimated peak memory exceeds the memory available now.

    The message names ``n_users``, unless one day of the same users would fit, then ``n_days``.

    Parameters
    ----------
    params : SimulationParams
        Checked parameters (:func:`~lsc_utils.simulate.check_params`).

    Returns
    -------
    SizeEstimate
        The estimate, when it fits (or when the available memory is unknown).

    Raises
    ------
    ValueError
        Naming the parameter, the estimated rows and memory and the memory available.
    """
    rates = params.dirty_rates if params.dirty else None
    estimate = estimate_size(params.n_users, params.n_days, params.n_anchors, params.chunk_events, rates)
    limit = available_memory()
    if limit is None or estimate.memory_bytes <= limit:
        return estimate
    one_day = estimate_size(params.n_users, 1, params.n_anchors, params.chunk_events, rates)
    name = "n_users" if one_day.memory_bytes > limit else "n_days"
    raise ValueError(
        f"The '{name}' parameter of simulate asks for more memory than is available: {params.n_users:,} users x "
        f"{params.n_days:,} days make about {estimate.rows:,} event rows and need about "
        f"{estimate.memory_bytes / 2**30:,.1f} GiB; {limit / 2**30:,.1f} GiB is available. Use fewer users or days."
    )
