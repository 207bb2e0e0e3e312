"""Markov (removal-effect) attribution of conversions over channels."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils.checks import missing_columns_error
from lsc_utils.paths._events import (
    CONVERSION,
    NULL,
    SEPARATOR,
    START,
    EventsInput,
    _check_column_name,
    _check_no_null_sessions,
    _check_text,
    _events_connection,
    _sql_text,
)
from lsc_utils.paths.markov import _order_states, _solve_absorbing, _stochastic_matrix
from lsc_utils.schema import DatasetError

# --------------------------------------------------------------------------------------------------
# Markov attribution over channels
# --------------------------------------------------------------------------------------------------


def build_channel_journeys(
    events: EventsInput,
    conversion_event: str = "pay",
    channel_column: str = "channel",
) -> pd.DataFrame:
    """Channel journeys of users, aggregated per distinct path (ChannelAttribution's input format).

    A session's touchpoint is the channel of its first event with a channel (sessions ordered by
    their first event, ties by row order). A user's journey is the sequence of touchpoints of
    consecutive sessions up to and including the first session with a conversion event; it then
    counts as one conversion and the next session starts a new journey. Sessions after the user's
    last conversion form an unconverted journey (one null). Sessions without any channel give no
    touchpoint; a journey without touchpoints is left out (it has no channel to credit).

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` and the channel column.
    conversion_event : str, default "pay"
        ``event_type`` that converts a session.
    channel_column : str, default "channel"
        Event column holding the touchpoint channel.

    Returns
    -------
    pandas.DataFrame
        ``path`` (channels joined by ``" > "``), ``conversions``, ``nulls``, sorted by ``path``.
    """
    owner = "build_channel_journeys"
    conversion_event = _check_text(conversion_event, "conversion_event", owner)
    channel_column = _check_column_name(channel_column, "channel_column", owner)
    columns = ("user_id", "session_id", "ts", "event_type", channel_column)
    sql = f"""WITH
        touch AS (
            SELECT user_id, session_id, MIN(ts) AS start_ts, MIN(_row) AS start_row,
                   arg_min("{channel_column}", [epoch_us(ts), _row]) FILTER (WHERE "{channel_column}" IS NOT NULL)
                       AS channel,
                   BOOL_OR(event_type = $conversion_event) AS converted
            FROM events GROUP BY user_id, session_id),
        ordered AS (
            SELECT *, COALESCE(SUM(CAST(converted AS INTEGER)) OVER (PARTITION BY user_id ORDER BY start_ts, start_row
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS journey
            FROM touch),
        journeys AS (
            SELECT user_id, journey,
                   string_agg(CAST(channel AS VARCHAR), {_sql_text(SEPARATOR)} ORDER BY start_ts, start_row)
                       FILTER (WHERE channel IS NOT NULL) AS path,
                   BOOL_OR(converted) AS converted
            FROM ordered GROUP BY user_id, journey)
        SELECT path, CAST(SUM(CAST(converted AS INTEGER)) AS BIGINT) AS conversions,
               CAST(SUM(CAST(NOT converted AS INTEGER)) AS BIGINT) AS nulls
        FROM journeys WHERE path IS NOT NULL GROUP BY path ORDER BY path"""
    with _events_connection(events, columns, owner) as con:
        _check_no_null_sessions(con)
        journeys = con.execute(sql, {"conversion_event": conversion_event}).df()
    return journeys.astype({"path": "str", "conversions": "int64", "nulls": "int64"})


def _check_journeys(journeys: Any, path_column: str, conversions_column: str, nulls_column: str) -> pd.DataFrame:
    owner = "markov_attribution"
    if not isinstance(journeys, pd.DataFrame):
        raise ValueError(f"The 'journeys' parameter of {owner} must be a DataFrame. Got {type(journeys).__name__}.")
    missing = [c for c in (path_column, conversions_column, nulls_column) if c not in journeys.columns]
    if missing:
        raise missing_columns_error("journeys", missing, list(journeys.columns), owner)
    frame = journeys[[path_column, conversions_column, nulls_column]].dropna(subset=[path_column])
    frame.columns = ["path", "conversions", "nulls"]
    for column in ("conversions", "nulls"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values < 0).any():
            raise DatasetError(f"journeys: column '{column}' must hold non-negative counts.")
        frame[column] = values.astype(float)
    if frame["conversions"].sum() <= 0:
        raise DatasetError("journeys: there are no conversions, so removal effects are undefined.")
    return frame


def _journey_transitions(paths: pd.DataFrame) -> pd.DataFrame:
    """Weighted transitions START -> c_1 -> ... -> c_n -> CONVERSION / NULL of aggregated paths."""
    elements = paths["path"].str.split(SEPARATOR, regex=False)
    rows = []
    for channels, conv, null in zip(elements, paths["conversions"], paths["nulls"], strict=True):
        sequence = [START, *channels]
        for source, target in itertools.pairwise(sequence):
            rows.append((source, target, conv + null))
        rows.append((sequence[-1], CONVERSION, conv))
        rows.append((sequence[-1], NULL, null))
    frame = pd.DataFrame(rows, columns=["from_state", "to_state", "count"])
    frame = frame[frame["count"] > 0]
    return frame.groupby(["from_state", "to_state"], as_index=False)["count"].sum()


def _conversion_probability_without(matrix: sp.csr_matrix, states: list[str], removed: str | None) -> float:
    """P(CONVERSION | START) of the chain where transitions into ``removed`` go to NULL instead."""
    position = {s: i for i, s in enumerate(states)}
    dense = matrix.toarray()
    if removed is not None:
        k = position[removed]
        dense[:, position[NULL]] += dense[:, k]
        dense[:, k] = 0.0
        dense[k, :] = 0.0
        dense[k, position[NULL]] = 1.0
    absorbing = np.array([position[CONVERSION], position[NULL]])
    transient = np.setdiff1d(np.arange(len(states)), absorbing)
    probabilities, _ = _solve_absorbing(sp.csr_matrix(dense), transient, absorbing)
    return float(probabilities[int(np.searchsorted(transient, position[START])), 0])


def _heuristic_credits(paths: pd.DataFrame, channels: list[str]) -> pd.DataFrame:
    """First-touch, last-touch and linear credit of the conversions."""
    converting = paths[paths["conversions"] > 0]
    elements = converting["path"].str.split(SEPARATOR, regex=False)
    credit = pd.DataFrame(
        0.0, index=pd.Index(channels, name="channel"), columns=["first_touch", "last_touch", "linear"]
    )
    for chain, conv in zip(elements, converting["conversions"], strict=True):
        credit.loc[chain[0], "first_touch"] += conv
        credit.loc[chain[-1], "last_touch"] += conv
        for channel in chain:
            credit.loc[channel, "linear"] += conv / len(chain)
    return credit


def markov_attribution(
    journeys: pd.DataFrame,
    path_column: str = "path",
    conversions_column: str = "conversions",
    nulls_column: str = "nulls",
) -> pd.DataFrame:
    """First-order Markov attribution by removal effects, next to first-touch, last-touch and linear.

    The chain over ``START``, the channels, ``CONVERSION`` and ``NULL`` is estimated from the
    journeys (every journey contributes its transitions, weighted by its count). The removal effect
    of channel ``c`` is ``1 - P_c(conv) / P(conv)``, where ``P(conv)`` is the absorption probability
    into ``CONVERSION`` from ``START`` and ``P_c`` the same in the chain where every transition into
    ``c`` goes to ``NULL`` instead, both solved exactly (``B = (I - Q)^-1 R``). Attributed
    conversions are the total conversions times the normalised removal effects (ChannelAttribution,
    Anderl et al. 2016).

    Parameters
    ----------
    journeys : pandas.DataFrame
        One row per path (as from :func:`build_channel_journeys`): channels joined by ``" > "``,
        conversion and null counts.
    path_column, conversions_column, nulls_column : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        The removal-effects file: ``channel``, ``removal_effect``, ``conversion_probability_without``,
        ``markov_conversions``, ``first_touch``, ``last_touch``, ``linear``, sorted by channel.
    """
    paths = _check_journeys(journeys, path_column, conversions_column, nulls_column)
    counts = _journey_transitions(paths)
    states = _order_states(counts, [CONVERSION, NULL])
    channels = states[1:-2]
    matrix = _stochastic_matrix(counts, states, [CONVERSION, NULL])
    base = _conversion_probability_without(matrix, states, None)
    without = np.array([_conversion_probability_without(matrix, states, c) for c in channels])
    removal = 1.0 - without / base
    total = paths["conversions"].sum()
    table = pd.DataFrame(
        {
            "channel": pd.array(channels, dtype="str"),
            "removal_effect": removal,
            "conversion_probability_without": without,
            "markov_conversions": total * removal / removal.sum(),
        }
    )
    heuristics = _heuristic_credits(paths, channels).reset_index(drop=True)
    return pd.concat([table, heuristics], axis=1)
