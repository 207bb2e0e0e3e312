"""Absorbing Markov chains of shopping paths: transition matrices, absorption, expected steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from sklearn.base import BaseEstimator

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import EVENT_TYPES
from lsc_utils.paths._events import CONVERSION, END, MAX_DENSE_STATES, NULL, SEPARATOR, START, EventsInput
from lsc_utils.paths.sql import _count_transitions, _path_spec, _PathSpec

# --------------------------------------------------------------------------------------------------
# Absorbing Markov chains
# --------------------------------------------------------------------------------------------------


def _solve_absorbing(
    matrix: sp.csr_matrix, transient: np.ndarray, absorbing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Absorption probabilities ``B = N R`` and expected steps ``t = N 1`` with ``N = (I - Q)^-1``.

    Solves ``(I - Q) [B t] = [R 1]`` by one sparse LU factorisation instead of inverting.
    """
    q = matrix[transient][:, transient]
    r = matrix[transient][:, absorbing].toarray()
    system = (sp.identity(len(transient), format="csc") - q.tocsc()).tocsc()
    try:
        lu = spla.splu(system)
    except RuntimeError:
        raise ValueError(
            "The transition matrix has transient states that never reach an absorbing state (I - Q is singular)."
        ) from None
    rhs = np.column_stack([r, np.ones(len(transient))])
    solution = lu.solve(rhs)
    return solution[:, :-1], solution[:, -1]


def _check_transition_matrix(matrix: pd.DataFrame, absorbing_states: Sequence[str], owner: str) -> None:
    if not isinstance(matrix, pd.DataFrame) or list(matrix.index) != list(matrix.columns):
        raise ValueError(
            f"The 'transition_matrix' parameter of {owner} must be a square DataFrame with the same states as "
            "index and columns, in the same order."
        )
    values = matrix.to_numpy(dtype=float)
    sums = values.sum(axis=1)
    if (values < 0).any() or not np.allclose(sums, 1.0, atol=1e-9):
        worst = matrix.index[int(np.argmax(np.abs(sums - 1.0)))]
        raise ValueError(
            f"The 'transition_matrix' parameter of {owner} must have non-negative rows summing to 1. "
            f"Row {worst!r} sums to {float(sums[matrix.index.get_loc(worst)]):.6g}."
        )
    unknown = [s for s in absorbing_states if s not in matrix.index]
    if unknown or not absorbing_states:
        raise ValueError(
            f"The 'absorbing_states' parameter of {owner} must name states of the matrix. "
            f"Got {list(absorbing_states)!r} ({unknown!r} unknown)."
        )


def _split_states(matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    absorbing = np.array([matrix.index.get_loc(s) for s in absorbing_states])
    transient = np.setdiff1d(np.arange(len(matrix)), absorbing)
    return transient, absorbing


def absorption_probabilities(transition_matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> pd.DataFrame:
    """Probability of ending in each absorbing state, from each transient state.

    With ``Q`` the transient-to-transient and ``R`` the transient-to-absorbing blocks of the
    transition matrix, the fundamental matrix is ``N = (I - Q)^-1`` and the absorption probabilities
    are ``B = N R`` (Kemeny & Snell, *Finite Markov Chains*, ch. III).

    Parameters
    ----------
    transition_matrix : pandas.DataFrame
        Square row-stochastic matrix, states as index and columns.
    absorbing_states : sequence of str
        The absorbing states (their rows are ignored).

    Returns
    -------
    pandas.DataFrame
        Transient states as index, absorbing states as columns; rows sum to 1.
    """
    _check_transition_matrix(transition_matrix, absorbing_states, "absorption_probabilities")
    transient, absorbing = _split_states(transition_matrix, absorbing_states)
    matrix = sp.csr_matrix(transition_matrix.to_numpy(dtype=float))
    probabilities, _ = _solve_absorbing(matrix, transient, absorbing)
    return pd.DataFrame(probabilities, index=transition_matrix.index[transient], columns=list(absorbing_states))


def expected_steps_to_absorption(transition_matrix: pd.DataFrame, absorbing_states: Sequence[str]) -> pd.Series:
    """Expected number of transitions until absorption, from each transient state (``t = N 1``).

    Parameters
    ----------
    transition_matrix : pandas.DataFrame
        Square row-stochastic matrix, states as index and columns.
    absorbing_states : sequence of str
        The absorbing states.

    Returns
    -------
    pandas.Series
        Indexed by transient state, named ``expected_steps``.
    """
    _check_transition_matrix(transition_matrix, absorbing_states, "expected_steps_to_absorption")
    transient, absorbing = _split_states(transition_matrix, absorbing_states)
    matrix = sp.csr_matrix(transition_matrix.to_numpy(dtype=float))
    _, steps = _solve_absorbing(matrix, transient, absorbing)
    return pd.Series(steps, index=transition_matrix.index[transient], name="expected_steps")


def _order_states(counts: pd.DataFrame, terminals: Sequence[str]) -> list[str]:
    """START first, then the other transient states by name, then the terminal states."""
    seen = set(counts["from_state"]) | set(counts["to_state"])
    transient = sorted(seen - {START, *terminals})
    return [START, *transient, *terminals]


def _stochastic_matrix(counts: pd.DataFrame, states: list[str], absorbing: Sequence[str]) -> sp.csr_matrix:
    """Row-normalised transition counts; absorbing states get a probability-1 self-loop."""
    position = {s: i for i, s in enumerate(states)}
    rows = counts["from_state"].map(position).to_numpy()
    cols = counts["to_state"].map(position).to_numpy()
    values = counts["count"].to_numpy(dtype=float)
    loops = np.array([position[s] for s in absorbing], dtype=np.int64)
    rows = np.concatenate([rows, loops])
    cols = np.concatenate([cols, loops])
    values = np.concatenate([values, np.ones(len(loops))])
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(states), len(states)))
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / totals) @ matrix)


def _matrix_frame(matrix: sp.csr_matrix, states: list[str]) -> pd.DataFrame:
    index = pd.Index(states, name="from_state", dtype="str")
    columns = pd.Index(states, name="to_state", dtype="str")
    if len(states) <= MAX_DENSE_STATES:
        return pd.DataFrame(matrix.toarray(), index=index, columns=columns)
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, index=index, columns=columns)
    return frame


def _last_element(label: str) -> str:
    return label.rsplit(SEPARATOR, 1)[-1]


class MarkovPathModel(BaseEstimator):
    """Markov chain of session paths, with absorbing analysis (scikit-learn estimator conventions).

    Parameters
    ----------
    order : int, default 1
        Order of the chain; states of an order-``k`` chain are histories of the last ``k`` path
        elements joined by ``" > "`` (see the module docstring).
    conversion_event : str, default "pay"
        ``event_type`` that converts a session.
    state_map : mapping of str to str, optional
        Value of ``state_column`` -> state. Default: identity over the canonical event types (or over
        all values when ``state_column`` is not ``event_type``).
    collapse_repeats : bool, default False
        Collapse consecutive equal states into one.
    absorbing : bool, default True
        Cut paths at the first conversion event into ``CONVERSION`` and end the others in ``NULL``.
        With False, nothing is cut and every path ends in ``END`` (the plain chain over the states,
        e.g. to compare with a simulator's planted event-type matrix; with ``order=1``,
        ``collapse_repeats=False`` its counts are pm4py's directly-follows counts plus the START and
        END edges).
    unmapped : {"drop", "other"}, default "drop"
        What happens to events whose value has no state.
    state_column : str, default "event_type"
        Event column the states come from (``"item_id"`` for item-level paths, ``"channel"`` ...).
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the transition counts are computed: DuckDB, or Spark over a Parquet path
        (:func:`lsc_utils.sqlengine.spark_session`); the same SQL, the same counts.

    Attributes
    ----------
    transition_counts_ : pandas.DataFrame
        ``from_state``, ``to_state``, ``count``.
    states_ : list of str
        ``START``, the other transient states by name, then the terminal states (``CONVERSION``,
        ``NULL``, or ``END``), always present.
    transition_matrix_ : pandas.DataFrame
        Square, ``states_`` as index and columns, rows sum to 1; terminal states loop on themselves.
        Sparse columns above ``MAX_DENSE_STATES`` states.
    absorption_probabilities_ : pandas.DataFrame
        Transient states x terminal states (absorbing mode: ``CONVERSION``, ``NULL``; else ``END``).
    conversion_probability_ : pandas.Series
        Per transient state, the probability of converting: absorption into ``CONVERSION``
        (``B = N R``). With ``absorbing=False``: the probability of reaching a state whose latest
        element is the conversion event's state before ``END`` (1 for those states; 0 everywhere
        when the conversion event has no state in the chain).
    expected_steps_ : pandas.Series
        Per transient state, expected number of transitions until absorption (``t = N 1``).
    n_sessions_ : int
        Number of sessions (paths).
    """

    def __init__(
        self,
        order: int = 1,
        conversion_event: str = "pay",
        state_map: Mapping[str, str] | None = None,
        collapse_repeats: bool = False,
        absorbing: bool = True,
        unmapped: str = "drop",
        state_column: str = "event_type",
        engine: str = "duckdb",
    ) -> None:
        self.order = order
        self.conversion_event = conversion_event
        self.state_map = state_map
        self.collapse_repeats = collapse_repeats
        self.absorbing = absorbing
        self.unmapped = unmapped
        self.state_column = state_column
        self.engine = engine

    def _spec(self) -> _PathSpec:
        return _path_spec(
            "MarkovPathModel",
            self.state_column,
            self.state_map,
            self.unmapped,
            self.collapse_repeats,
            self.conversion_event,
            self.absorbing,
        )

    @property
    def terminal_states(self) -> list[str]:
        """The terminal (absorbing) states of the chain."""
        return [CONVERSION, NULL] if self.absorbing else [END]

    def fit(self, events: EventsInput, y: None = None) -> MarkovPathModel:
        """Count transitions of all session paths and analyse the absorbing chain.

        Parameters
        ----------
        events : DataFrame or path
            Clean canonical events (``user_id``, ``session_id``, ``ts``, ``event_type`` and the
            ``state_column``), or a Parquet file / dataset folder holding them.
        y : None
            Ignored (scikit-learn convention).

        Returns
        -------
        MarkovPathModel
            self.
        """
        spec = self._spec()
        order = _check_int(self.order, "order", "MarkovPathModel", 1)
        engine = _check_choice(self.engine, "engine", "MarkovPathModel", ("duckdb", "spark"))
        counts = _count_transitions(events, spec, order, engine)
        terminals = self.terminal_states
        states = _order_states(counts, terminals)
        matrix = _stochastic_matrix(counts, states, terminals)
        self.transition_counts_ = counts
        self.states_ = states
        self.transition_matrix_ = _matrix_frame(matrix, states)
        self.n_sessions_ = int(counts.loc[counts["from_state"] == START, "count"].sum())
        self._analyse_absorption(matrix, spec)
        return self

    def _analyse_absorption(self, matrix: sp.csr_matrix, spec: _PathSpec) -> None:
        states = np.array(self.states_, dtype=object)
        terminals = self.terminal_states
        absorbing = np.array([self.states_.index(s) for s in terminals])
        transient = np.arange(len(states) - len(terminals))
        probabilities, steps = _solve_absorbing(matrix, transient, absorbing)
        index = pd.Index(states[transient], name="state", dtype="str")
        self.absorption_probabilities_ = pd.DataFrame(probabilities, index=index, columns=terminals)
        self.expected_steps_ = pd.Series(steps, index=index, name="expected_steps")
        if self.absorbing:
            conversion = probabilities[:, 0]
        else:
            conversion = self._hitting_probabilities(matrix, transient, spec.conversion_state)
        self.conversion_probability_ = pd.Series(conversion, index=index, name="conversion_probability")

    def _hitting_probabilities(self, matrix: sp.csr_matrix, transient: np.ndarray, target: str | None) -> np.ndarray:
        """Probability of reaching a state whose latest element is ``target`` before END."""
        labels = [self.states_[i] for i in transient]
        hit = np.array([target is not None and _last_element(s) == target for s in labels], dtype=bool)
        result = hit.astype(float)
        if hit.any() and not hit.all():
            others = transient[~hit]
            targets_sum = sp.csr_matrix(matrix[:, transient[hit]].sum(axis=1))
            end_col = sp.csr_matrix(matrix[:, [len(self.states_) - 1]])
            reduced = sp.hstack([matrix[:, others], targets_sum, end_col], format="csr")[others]
            n = len(others)
            square = sp.vstack([reduced, sp.csr_matrix(([1.0, 1.0], ([0, 1], [n, n + 1])), shape=(2, n + 2))])
            probabilities, _ = _solve_absorbing(sp.csr_matrix(square), np.arange(n), np.array([n, n + 1]))
            result[~hit] = probabilities[:, 0]
        return result


def _check_fitted(model: Any, owner: str) -> None:
    if not isinstance(model, MarkovPathModel) or not hasattr(model, "transition_counts_"):
        raise ValueError(f"The 'model' parameter of {owner} must be a fitted MarkovPathModel. Got {model!r} instead.")


def transitions_table(model: MarkovPathModel) -> pd.DataFrame:
    """The transitions file of the paths notebook: ``from_state``, ``to_state``, ``count``, ``probability``.

    Parameters
    ----------
    model : MarkovPathModel
        A fitted model.

    Returns
    -------
    pandas.DataFrame
        One row per observed transition, sorted by ``from_state``, ``to_state``; ``probability`` is
        the count over the row total of ``from_state``.
    """
    _check_fitted(model, "transitions_table")
    table = model.transition_counts_.copy()
    totals = table.groupby("from_state")["count"].transform("sum")
    table["probability"] = table["count"] / totals
    return table


def sankey_flows(model: MarkovPathModel, top_n: int = 20) -> pd.DataFrame:
    """The ``top_n`` largest transitions as (source, target, value) rows of a flow figure.

    Self-loops are left out (a flow figure cannot show them); ties in ``value`` are broken by
    ``source`` then ``target``. The chain may contain cycles (``view_item -> add_to_cart ->
    view_item``): draw sources and targets as separate columns of nodes.

    Parameters
    ----------
    model : MarkovPathModel
        A fitted model.
    top_n : int, default 20
        Number of flows.

    Returns
    -------
    pandas.DataFrame
        ``source``, ``target``, ``value`` (transition count), largest first.
    """
    _check_fitted(model, "sankey_flows")
    top_n = _check_int(top_n, "top_n", "sankey_flows", 1)
    counts = model.transition_counts_
    flows = counts[counts["from_state"] != counts["to_state"]]
    flows = flows.rename(columns={"from_state": "source", "to_state": "target", "count": "value"})
    flows = flows.sort_values(["value", "source", "target"], ascending=[False, True, True])
    return flows.head(top_n).reset_index(drop=True)


def parse_state_map(text: str, event_types: Sequence[str] = EVENT_TYPES) -> dict[str, str]:
    """A state map from ``"type:state, type:state"`` text (e.g. a notebook parameter).

    Every canonical event type starts as its own state; ``like:engage`` maps ``like`` to ``engage``;
    ``like:`` (empty state) drops the type from the paths.

    Parameters
    ----------
    text : str
        Comma-separated ``event_type:state`` pairs; empty means the identity map.
    event_types : sequence of str
        Event types that start mapped to themselves.

    Returns
    -------
    dict
        ``event_type -> state``.
    """
    state_map = {t: t for t in event_types}
    for pair in filter(None, (p.strip() for p in str(text).split(","))):
        event_type, separator, state = (part.strip() for part in pair.partition(":"))
        if not separator or not event_type:
            raise ValueError(f"parse_state_map: '{pair}' is not of the form event_type:state.")
        if state:
            state_map[event_type] = state
        else:
            state_map.pop(event_type, None)
    return state_map
