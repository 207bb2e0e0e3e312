"""Vectorized helpers of the simulator: grouped weighted sampling, ranges, ids, timestamps, random strings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class GroupedSampler:
    """Weighted sampling of one member within a group, vectorized over many draws.

    Members of group ``g`` own the interval ``(g, g + 1]`` of a sorted key array, split in
    proportion to their weights, so one ``searchsorted`` answers all draws at once.
    """

    keys: np.ndarray
    members: np.ndarray
    sizes: np.ndarray

    @classmethod
    def build(cls, groups: np.ndarray, members: np.ndarray, weights: np.ndarray, n_groups: int) -> GroupedSampler:
        """Index ``members`` (with ``weights``) by ``groups`` (ints in ``[0, n_groups)``)."""
        keep = weights > 0
        order = np.lexsort((members[keep], groups[keep]))
        g = groups[keep][order].astype(np.int64)
        m = members[keep][order].astype(np.int64)
        w = weights[keep][order].astype(np.float64)
        sizes = np.bincount(g, minlength=n_groups)
        if g.size == 0:
            return cls(np.zeros(0), np.zeros(0, dtype=np.int64), sizes)
        totals = np.bincount(g, weights=w, minlength=n_groups)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        filled = sizes > 0
        cum = np.cumsum(w)
        before = np.repeat(cum[starts[filled]] - w[starts[filled]], sizes[filled])
        share = (cum - before) / totals[g]
        share[ends[filled] - 1] = 1.0
        return cls(g + share, m, sizes)

    def sample(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One member per entry of ``groups``; -1 where a group is empty or the group is < 0."""
        groups = np.asarray(groups, dtype=np.int64)
        u = np.minimum(rng.random(groups.size), 1.0 - 1e-9)
        valid = groups >= 0
        valid[valid] = self.sizes[groups[valid]] > 0
        out = np.full(groups.size, -1, dtype=np.int64)
        if valid.any():
            idx = np.searchsorted(self.keys, groups[valid] + u[valid], side="right")
            out[valid] = self.members[np.minimum(idx, self.members.size - 1)]
        return out


def _split_runs(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offset of every run of a flat array cut in runs of ``lengths``, and the run of every element."""
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    owner = np.repeat(np.arange(lengths.size), lengths)
    return offsets, owner


def _gather_ranges(offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the concatenated ranges ``offsets[i] .. offsets[i] + lengths[i]``."""
    total = int(lengths.sum())
    new_offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.repeat(offsets - new_offsets, lengths) + np.arange(total)


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids (``U000123``) from integers, as an Arrow array."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width=width, padding="0"), "")


def _id_width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n, 1))))


def _take_strings(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` with nulls where ``codes < 0``."""
    codes = np.asarray(codes, dtype=np.int64)
    return pc.take(values, pa.array(codes, mask=codes < 0))


def _format_ms_timestamps(ms: np.ndarray) -> pa.Array:
    """ISO 8601 strings with milliseconds and ``Z`` (``2026-03-02T18:03:11.250Z``)."""
    stamps = pa.array(np.asarray(ms, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("ms"))
    return pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ")


def _unique_random_ints(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct random integers in ``[low, high)`` (redraws collisions; order random)."""
    values = rng.integers(low, high, size=n)
    while True:
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return values
        values[dup] = rng.integers(low, high, size=int(dup.sum()))


def _fixed_width_strings(alphabet: str, codes: np.ndarray) -> np.ndarray:
    """Strings from a matrix of character codes (one row per string), without a Python loop."""
    chars = np.asarray(list(alphabet), dtype="<U1")[codes]
    return np.ascontiguousarray(chars).view(f"<U{codes.shape[1]}").ravel()


def _hex_tokens(rng: np.random.Generator, n: int, prefix: str, digits: int) -> pd.Series:
    """``n`` distinct random tokens ``prefix`` + ``digits`` lowercase hex characters."""
    numbers = _unique_random_ints(rng, n, 0, 16**digits)
    codes = (numbers[:, None] >> (4 * np.arange(digits - 1, -1, -1))[None, :]) & 15
    return prefix + pd.Series(_fixed_width_strings("0123456789abcdef", codes), dtype="str")


def _random_words(rng: np.random.Generator, n: int, length: int) -> pd.Series:
    """``n`` random lowercase words of ``length`` letters."""
    codes = rng.integers(0, 26, size=(n, length))
    return pd.Series(_fixed_width_strings("abcdefghijklmnopqrstuvwxyz", codes), dtype="str")


def _circular_hours(values: np.ndarray) -> np.ndarray:
    return np.mod(values, 24.0)


def _hour_affinity(hours: np.ndarray, peak: float, spread: float) -> np.ndarray:
    d = np.abs(_circular_hours(hours - peak))
    d = np.minimum(d, 24.0 - d)
    return np.exp(-0.5 * (d / spread) ** 2)


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(p.size, size=n, p=p / p.sum())


def _choice_by_row(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row of a probability matrix (rows sum to 1)."""
    cum = np.cumsum(probabilities, axis=1)
    cum[:, -1] = 1.0
    return (cum <= rng.random(len(probabilities))[:, None]).sum(axis=1)
