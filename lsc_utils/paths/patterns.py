"""Frequent path patterns (PrefixSpan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.checks import check_int as _check_int
from lsc_utils.paths._events import SEPARATOR, EventsInput, _check_no_null_sessions, _events_connection
from lsc_utils.paths.sql import _kept_states_ctes, _path_spec, _register_state_map

# --------------------------------------------------------------------------------------------------
# Frequent path patterns (PrefixSpan)
# --------------------------------------------------------------------------------------------------


@dataclass
class _SequenceIndex:
    """Flat numpy index of integer-coded sequences for pseudo-projected PrefixSpan."""

    pair_item: np.ndarray
    pair_last: np.ndarray
    seq_start: np.ndarray
    seq_len: np.ndarray
    occ_key: np.ndarray
    occ_pos: np.ndarray
    n_items: int
    stride: int


def _index_sequences(codes: list[np.ndarray], n_items: int) -> _SequenceIndex:
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    seq = np.repeat(np.arange(len(codes), dtype=np.int64), lengths)
    item = np.concatenate(codes).astype(np.int64) if codes else np.zeros(0, dtype=np.int64)
    pos = np.arange(len(item), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    stride = int(lengths.max(initial=0)) + 2
    occ_key = (seq * n_items + item) * stride + pos
    order = np.argsort(occ_key, kind="stable")
    occ_key, occ_pos = occ_key[order], pos[order]
    pair_key = seq * n_items + item
    last_of_pair = np.r_[pair_key[order][1:] != pair_key[order][:-1], True]
    pair_seq = seq[order][last_of_pair]
    pair_item, pair_last = item[order][last_of_pair], pos[order][last_of_pair]
    seq_len = np.bincount(pair_seq, minlength=len(codes)).astype(np.int64)
    seq_start = np.cumsum(seq_len) - seq_len
    return _SequenceIndex(pair_item, pair_last, seq_start, seq_len, occ_key, occ_pos, n_items, stride)


def _count_extensions(
    index: _SequenceIndex, seqs: np.ndarray, positions: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted number of projected sequences containing each item after their projection point.

    Returns the support per item code and, for every (projected sequence, item) pair alive, the
    projection row and the item code (to build the child projections without recounting).
    """
    lengths = index.seq_len[seqs]
    row = np.repeat(np.arange(len(seqs)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pair = index.seq_start[seqs][row] + offsets
    alive = index.pair_last[pair] > positions[row]
    row, items = row[alive], index.pair_item[pair[alive]]
    support = np.bincount(items, weights=weights[seqs[row]], minlength=index.n_items)
    return support, row, items


def _project(index: _SequenceIndex, seqs: np.ndarray, positions: np.ndarray, item: int) -> np.ndarray:
    """Position of the first occurrence of ``item`` after each projection point."""
    keys = (seqs * index.n_items + item) * index.stride + positions
    return index.occ_pos[np.searchsorted(index.occ_key, keys, side="right")]


def prefixspan(
    sequences: Sequence[Sequence[Any]],
    min_support: int,
    max_length: int | None = None,
    weights: Sequence[int] | None = None,
) -> list[tuple[tuple[Any, ...], int]]:
    """Frequent subsequences by PrefixSpan (Pei et al. 2001) with pseudo-projection in numpy.

    A pattern ``(a_1, ..., a_n)`` is supported by a sequence that contains it as a subsequence (in
    order, gaps allowed); its support is the (weighted) number of such sequences.

    Parameters
    ----------
    sequences : sequence of sequences of hashable
        The database (pass each distinct sequence once and its multiplicity as weight).
    min_support : int
        Minimum absolute support (>= 1).
    max_length : int, optional
        Longest pattern length (default: unlimited).
    weights : sequence of int, optional
        Multiplicity of each sequence (default 1).

    Returns
    -------
    list of (pattern tuple, support)
        In depth-first order with items in sorted order.
    """
    owner = "prefixspan"
    min_support = _check_int(min_support, "min_support", owner, 1)
    limit = np.inf if max_length is None else _check_int(max_length, "max_length", owner, 1)
    w = np.ones(len(sequences), dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    if len(w) != len(sequences) or (w < 0).any():
        raise ValueError(f"The 'weights' parameter of {owner} must hold one non-negative int per sequence.")
    vocabulary = sorted({x for s in sequences for x in s})
    if not vocabulary:
        return []
    code = {x: i for i, x in enumerate(vocabulary)}
    codes = [np.array([code[x] for x in s], dtype=np.int64) for s in sequences]
    index = _index_sequences(codes, len(vocabulary))
    weights_f = w.astype(float)
    results: list[tuple[tuple[Any, ...], int]] = []
    start = np.flatnonzero(index.seq_len > 0)
    stack = [((), start, np.full(len(start), -1, dtype=np.int64))]
    while stack:
        prefix, seqs, positions = stack.pop()
        support, rows, items = _count_extensions(index, seqs, positions, weights_f)
        frequent = np.flatnonzero(support >= min_support)
        children = []
        for item in frequent:
            pattern = (*prefix, vocabulary[item])
            results.append((pattern, int(round(support[item]))))
            if len(pattern) < limit:
                selected = rows[items == item]
                sub_seqs = seqs[selected]
                children.append((pattern, sub_seqs, _project(index, sub_seqs, positions[selected], item)))
        stack.extend(reversed(children))
    return results


def frequent_paths(
    events: EventsInput,
    min_support: int,
    max_length: int = 4,
    state_map: Mapping[str, str] | None = None,
    collapse_repeats: bool = False,
    unmapped: str = "drop",
    state_column: str = "event_type",
) -> pd.DataFrame:
    """Frequent path patterns over session state sequences (PrefixSpan on distinct sequences).

    Each session gives its full sequence of states (mapped, optionally collapsed; not cut at the
    conversion event, no START / terminal markers). Identical sequences are counted once in DuckDB
    before mining.

    Parameters
    ----------
    events : DataFrame or path
        Clean canonical events with ``session_id`` filled.
    min_support : int
        Minimum number of sessions containing a pattern (>= 1).
    max_length : int, default 4
        Longest pattern.
    state_map, collapse_repeats, unmapped, state_column
        As in :class:`MarkovPathModel`.

    Returns
    -------
    pandas.DataFrame
        ``pattern`` (states joined by ``" > "``), ``length``, ``support`` (sessions) and
        ``support_share`` (of sessions with at least one state), sorted by support (descending),
        length, pattern.
    """
    owner = "frequent_paths"
    min_support = _check_int(min_support, "min_support", owner, 1)
    max_length = _check_int(max_length, "max_length", owner, 1)
    spec = _path_spec(owner, state_column, state_map, unmapped, collapse_repeats, "pay", False)
    sql = f"""WITH {_kept_states_ctes(spec)},
        sequences AS (SELECT list(state ORDER BY ts, _row) AS seq FROM kept GROUP BY user_id, session_id)
        SELECT seq, COUNT(*) AS sessions FROM sequences GROUP BY seq"""
    with _events_connection(events, spec.columns, owner) as con:
        _check_no_null_sessions(con)
        _register_state_map(con, spec)
        distinct = con.execute(sql, {"conversion_event": spec.conversion_event}).df()
    mined = prefixspan(list(distinct["seq"]), min_support, max_length, distinct["sessions"].to_numpy())
    n_sessions = int(distinct["sessions"].sum())
    table = pd.DataFrame(
        {
            "pattern": pd.array([SEPARATOR.join(p) for p, _ in mined], dtype="str"),
            "length": np.array([len(p) for p, _ in mined], dtype=np.int64),
            "support": np.array([s for _, s in mined], dtype=np.int64),
        }
    )
    table["support_share"] = table["support"] / n_sessions if n_sessions else np.nan
    table = table.sort_values(["support", "length", "pattern"], ascending=[False, True, True])
    return table.reset_index(drop=True)
