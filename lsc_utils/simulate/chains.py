"""The planted Markov chains of sessions: matrices, expected lengths, vectorized walks, and event-volume planning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lsc_utils.checks import check_int
from lsc_utils.simulate.customer_base import (
    draw_customer_latents,
    draw_purchase_times,
    purchase_probabilities,
)
from lsc_utils.simulate.helpers import _choice
from lsc_utils.simulate.vocab import (
    BASE_TRANSITION_WEIGHTS,
    DEFAULT_DIRTY_RATES,
    MARKOV_STATES,
    SEGMENT_PROFILES,
    SEGMENTS,
)


def build_transition_matrices() -> np.ndarray:
    """Planted transition matrices, one per segment.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(SEGMENTS), len(MARKOV_STATES), len(MARKOV_STATES))``; entry ``[s, i, j]`` is
        the probability of moving from state ``i`` to state ``j`` in segment ``s``. Rows of the
        transient states (all but ``END``) sum to 1; the ``END`` row is all zeros. ``pay`` is only
        reachable from ``order``, ``START`` never leads directly to ``END``.
    """
    index = {s: i for i, s in enumerate(MARKOV_STATES)}
    n = len(MARKOV_STATES)
    base = np.zeros((n, n))
    for source, targets in BASE_TRANSITION_WEIGHTS.items():
        for target, weight in targets.items():
            base[index[source], index[target]] = weight
    matrices = np.zeros((len(SEGMENTS), n, n))
    for s, segment in enumerate(SEGMENTS):
        weights = base.copy()
        for (source, target), factor in SEGMENT_PROFILES[segment].transition_multipliers:
            rows = slice(None) if source == "*" else index[source]
            weights[rows, index[target]] *= factor
        not_order = np.arange(n) != index["order"]
        weights[not_order, index["pay"]] = 0.0
        totals = weights.sum(axis=1, keepdims=True)
        matrices[s] = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return matrices


def transition_table(matrices: np.ndarray | None = None) -> pd.DataFrame:
    """The planted chains as a long table (``segment, from_state, to_state, probability``).

    Every transient state (``START`` and the event types) appears as ``from_state`` with every
    event type and ``END`` as ``to_state`` (zeros included), so rows sum to 1 per segment and state.
    """
    matrices = build_transition_matrices() if matrices is None else matrices
    sources = MARKOV_STATES[:-1]
    targets = MARKOV_STATES[1:]
    seg, src, dst = np.meshgrid(
        np.arange(len(SEGMENTS)), np.arange(len(sources)), np.arange(len(targets)), indexing="ij"
    )
    return pd.DataFrame(
        {
            "segment": pd.Series(np.asarray(SEGMENTS)[seg.ravel()], dtype="str"),
            "from_state": pd.Series(np.asarray(sources)[src.ravel()], dtype="str"),
            "to_state": pd.Series(np.asarray(targets)[dst.ravel()], dtype="str"),
            "probability": matrices[seg.ravel(), src.ravel(), dst.ravel() + 1],
        }
    )


def expected_session_lengths(matrices: np.ndarray | None = None) -> np.ndarray:
    """Expected number of events per session of every segment (fundamental matrix of the chain)."""
    matrices = build_transition_matrices() if matrices is None else matrices
    transient = slice(0, len(MARKOV_STATES) - 1)
    lengths = np.empty(len(SEGMENTS))
    for s in range(len(SEGMENTS)):
        q = matrices[s, transient, transient]
        visits = np.linalg.solve(np.eye(q.shape[0]) - q.T, np.eye(q.shape[0])[0])
        lengths[s] = visits[1:].sum()
    return lengths


def expected_events_per_user_day(n_days: int = 28) -> float:
    """Expected clean events per human user and day under the planted profiles.

    Session volume follows purchases (each segment's browsing sessions keep it paying at its chain's
    rate), so this runs the planted purchase process for a fixed sample of 20,000 users (seed 0:
    the same answer every call) and converts purchases to events with the chains' session lengths.
    """
    rng = np.random.default_rng(0)
    n = 20_000
    shares = np.array([SEGMENT_PROFILES[s].share for s in SEGMENTS])
    segment = _choice(rng, n, shares)
    latents = draw_customer_latents(segment, SEGMENTS, n_days, rng)
    idx = np.flatnonzero(latents.is_customer)
    draws = draw_purchase_times(
        latents.rate[idx], latents.dropout[idx], latents.first_day[idx], np.full(idx.size, 20.0), n_days, rng
    )
    purchases = np.bincount(segment[idx][draws.customer], minlength=len(SEGMENTS))
    matrices = build_transition_matrices()
    q = purchase_probabilities(matrices, MARKOV_STATES.index("pay"))
    events = (purchases / q * expected_session_lengths(matrices)).sum()
    return float(events / n / n_days)


def users_for_events(n_events: int, n_days: int = 28) -> int:
    """Number of users that makes :func:`simulate` write about ``n_events`` event rows.

    Parameters
    ----------
    n_events : int
        Target number of event rows (>= 1000).
    n_days : int, default 28
        Simulated days.

    Returns
    -------
    int
        ``n_users`` to pass to :func:`simulate`.
    """
    check_int(n_events, "n_events", "users_for_events", 1000)
    check_int(n_days, "n_days", "users_for_events", 1)
    per_user = expected_events_per_user_day(n_days) * n_days * (1 + sum(DEFAULT_DIRTY_RATES.values()))
    return max(50, math.ceil(n_events / per_user))


def walk_markov_chains(
    cumulative: np.ndarray,
    segments: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one chain per session from ``START`` to ``END``, all sessions stepping together.

    Parameters
    ----------
    cumulative : numpy.ndarray
        Row-wise cumulative transition probabilities, shape ``(n_segments, n_states, n_states)``,
        last column exactly 1.
    segments : numpy.ndarray
        Segment code of every session.
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    states : numpy.ndarray of int8
        Visited states (``START``/``END`` excluded), session after session, in visiting order.
    lengths : numpy.ndarray of int64
        Number of events of every session.
    """
    end = len(MARKOV_STATES) - 1
    n = len(segments)
    active = np.arange(n)
    state = np.zeros(n, dtype=np.int64)
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    while active.size:
        u = rng.random(active.size)
        rows = cumulative[segments[active], state]
        nxt = (rows <= u[:, None]).sum(axis=1)
        going = nxt != end
        active, state = active[going], nxt[going]
        if active.size:
            steps.append((active, state))
    lengths = np.zeros(n, dtype=np.int64)
    for ids, _ in steps:
        lengths[ids] += 1
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    states = np.empty(int(lengths.sum()), dtype=np.int8)
    for k, (ids, values) in enumerate(steps):
        states[offsets[ids] + k] = values
    return states, lengths
