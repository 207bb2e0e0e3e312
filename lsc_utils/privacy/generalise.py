"""Anonymisation to a target k: generalisation hierarchies, a lattice search and suppression.

Every quasi-identifier has a :class:`Hierarchy` of levels, level 0 the value itself and the last
level ``"*"`` (the attribute removed). A node of the lattice picks one level per attribute; a node
reaches ``k`` when suppressing the rows of classes smaller than ``k`` removes at most
``max_suppression`` of the table. Of those nodes :func:`anonymise` takes the one with the least
information loss by the discernibility metric (every kept row costs the size of its class, every
suppressed row the size of the table; Bayardo & Agrawal 2005, the default of ARX), ties broken by the
lower total height. Rows are encoded as integer codes once, so a node costs one ``numpy.unique``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns

SUPPRESSED = "*"


@dataclass(frozen=True)
class Hierarchy:
    """Generalisation levels of one quasi-identifier (level 0 = identity, the last = ``"*"``)."""

    column: str
    names: tuple[str, ...]
    levels: tuple[Callable[[pd.Series], pd.Series], ...] = field(repr=False)

    def apply(self, values: pd.Series, level: int) -> pd.Series:
        """The column generalised to ``level`` (as strings; missing values stay ``"missing"``)."""
        out = self.levels[level](values)
        return out.astype("string").fillna("missing").astype(str)


def _identity(values: pd.Series) -> pd.Series:
    return values.astype("string")


def _star(values: pd.Series) -> pd.Series:
    return pd.Series(SUPPRESSED, index=values.index)


def band_hierarchy(column: str, widths: tuple[int, ...] = (5, 10, 20)) -> Hierarchy:
    """Numeric bands of growing width (``25-29``, ``20-29``, ``20-39``), then ``*``."""

    def banding(width: int) -> Callable[[pd.Series], pd.Series]:
        def band(values: pd.Series) -> pd.Series:
            v = pd.to_numeric(values, errors="coerce")
            low = (v // width) * width
            text = low.astype("Int64").astype("string") + "-" + (low + width - 1).astype("Int64").astype("string")
            return text.where(v.notna())

        return band

    return Hierarchy(
        column,
        ("value", *(f"band {w}" for w in widths), SUPPRESSED),
        (_identity, *(banding(w) for w in widths), _star),
    )


def date_hierarchy(column: str) -> Hierarchy:
    """Day, month, quarter, year, then ``*``."""

    def fmt(freq: str) -> Callable[[pd.Series], pd.Series]:
        def period(values: pd.Series) -> pd.Series:
            ts = pd.to_datetime(values, utc=True, errors="coerce").dt.tz_localize(None)
            return ts.dt.to_period(freq).astype("string")

        return period

    return Hierarchy(
        column, ("day", "month", "quarter", "year", SUPPRESSED), (fmt("D"), fmt("M"), fmt("Q"), fmt("Y"), _star)
    )


def mapping_hierarchy(column: str, mappings: tuple[Mapping[str, str], ...], names: tuple[str, ...]) -> Hierarchy:
    """Levels given by value maps (e.g. province -> region); unmapped values become ``"other"``."""

    def mapper(mapping: Mapping[str, str]) -> Callable[[pd.Series], pd.Series]:
        def apply(values: pd.Series) -> pd.Series:
            text = values.astype("string")
            return text.map(lambda v: mapping.get(v, "other") if isinstance(v, str) else v)

        return apply

    return Hierarchy(column, ("value", *names, SUPPRESSED), (_identity, *(mapper(m) for m in mappings), _star))


def flat_hierarchy(column: str) -> Hierarchy:
    """The value or nothing (device, gender)."""
    return Hierarchy(column, ("value", SUPPRESSED), (_identity, _star))


CHINA_REGIONS: dict[str, str] = {
    **dict.fromkeys(("Beijing", "Tianjin", "Hebei", "Shanxi", "Inner Mongolia"), "North"),
    **dict.fromkeys(("Liaoning", "Jilin", "Heilongjiang"), "Northeast"),
    **dict.fromkeys(("Shanghai", "Jiangsu", "Zhejiang", "Anhui", "Fujian", "Jiangxi", "Shandong"), "East"),
    **dict.fromkeys(("Henan", "Hubei", "Hunan"), "Central"),
    **dict.fromkeys(("Guangdong", "Guangxi", "Hainan", "Hong Kong", "Macau"), "South"),
    **dict.fromkeys(("Chongqing", "Sichuan", "Guizhou", "Yunnan", "Tibet"), "Southwest"),
    **dict.fromkeys(("Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang"), "Northwest"),
}
"""Province -> the seven geographic regions of China (a level above province)."""


def prefix_hierarchy(column: str, lengths: tuple[int, ...] = (3, 1)) -> Hierarchy:
    """Leading characters kept (a zip code ``02139`` -> ``021`` -> ``0``), then ``*``."""

    def prefix(n: int) -> Callable[[pd.Series], pd.Series]:
        def cut(values: pd.Series) -> pd.Series:
            return values.astype("string").str.slice(0, n)

        return cut

    return Hierarchy(
        column,
        ("value", *(f"first {n}" for n in lengths), SUPPRESSED),
        (_identity, *(prefix(n) for n in lengths), _star),
    )


def region_hierarchy(values: pd.Series, column: str = "region") -> Hierarchy:
    """Province -> region of China when most values are provinces, else a prefix hierarchy (zip codes)."""
    known = values.dropna().astype(str).isin(CHINA_REGIONS.keys()).mean() if values.notna().any() else 0.0
    if known >= 0.5:
        return mapping_hierarchy(column, (CHINA_REGIONS,), ("area",))
    return prefix_hierarchy(column)


@dataclass
class Anonymised:
    """Result of :func:`anonymise`."""

    table: pd.DataFrame
    levels: dict[str, str]
    k: int
    suppressed: int
    loss: dict[str, float]
    lattice: pd.DataFrame


def _codes(frame: pd.DataFrame, hierarchies: list[Hierarchy]) -> list[list[np.ndarray]]:
    return [[pd.factorize(h.apply(frame[h.column], lv))[0] for lv in range(len(h.levels))] for h in hierarchies]


def _class_ids(codes: list[list[np.ndarray]], node: tuple[int, ...]) -> np.ndarray:
    """Equivalence class of every row at ``node`` (mixed-radix key of the level codes, then one unique)."""
    key, size = np.zeros(len(codes[0][0]), dtype=np.int64), 1
    for per_attr, level in zip(codes, node, strict=True):
        c = per_attr[level]
        radix = int(c.max()) + 1
        if size * radix >= 2**62:  # compress before the key could overflow
            key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
            size = int(key.max()) + 1
        key, size = key * radix + c, size * radix
    return np.unique(key, return_inverse=True)[1].reshape(-1)


def evaluate_node(codes: list[list[np.ndarray]], node: tuple[int, ...], k: int) -> dict[str, float]:
    """Suppressed rows, discernibility and classes of one lattice node at target ``k``."""
    ids = _class_ids(codes, node)
    counts = np.bincount(ids)
    size = counts[ids]
    small = size < k
    n = len(ids)
    kept = counts[counts >= k]
    return {
        "suppressed": int(small.sum()),
        "discernibility": float((kept.astype(float) ** 2).sum() + small.sum() * n),
        "classes": int(kept.size),
        "mean_class_size": float(kept.mean()) if kept.size else float("nan"),
    }


def anonymise(
    frame: pd.DataFrame, hierarchies: list[Hierarchy], k: int = 5, max_suppression: float = 0.02
) -> Anonymised:
    """Generalise the quasi-identifiers to the least-loss node that reaches ``k`` with bounded suppression.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per person; the hierarchies' columns are its quasi-identifiers.
    hierarchies : list of Hierarchy
    k : int
        Target class size.
    max_suppression : float
        Largest share of rows that may be removed (rows of classes still smaller than ``k``).

    Returns
    -------
    Anonymised
        The released table (quasi-identifiers generalised, suppressed rows removed), the level per
        attribute, the suppressed count, the loss and every evaluated node (``lattice``).
    """
    require_columns(frame, [h.column for h in hierarchies], "table", "anonymise")
    frame = frame.reset_index(drop=True)
    codes = _codes(frame, hierarchies)
    nodes = list(itertools.product(*(range(len(h.levels)) for h in hierarchies)))
    rows = []
    for node in nodes:
        stats = evaluate_node(codes, node, k)
        rows.append({"node": node, "height": sum(node), **stats})
    lattice = pd.DataFrame(rows)
    feasible = lattice[lattice["suppressed"] <= max_suppression * len(frame)]
    best = feasible.sort_values(["discernibility", "height"], kind="stable").iloc[0]
    node = tuple(best["node"])
    table = frame.copy()
    for h, level in zip(hierarchies, node, strict=True):
        table[h.column] = h.apply(frame[h.column], level)
    ids = _class_ids(codes, node)
    keep = np.bincount(ids)[ids] >= k
    n = len(frame)
    loss = {
        "discernibility": float(best["discernibility"]),
        "normalised_discernibility": float(best["discernibility"]) / float(n) ** 2 if n else 0.0,
        "mean_class_size": float(best["mean_class_size"]),
        "c_avg": float(n - best["suppressed"]) / max(int(best["classes"]), 1) / k,
        "suppressed_share": float(best["suppressed"]) / n if n else 0.0,
        "precision_loss": float(np.mean([lv / (len(h.levels) - 1) for h, lv in zip(hierarchies, node, strict=True)])),
    }
    return Anonymised(
        table=table[keep].reset_index(drop=True),
        levels={h.column: h.names[lv] for h, lv in zip(hierarchies, node, strict=True)},
        k=k,
        suppressed=int((~keep).sum()),
        loss=loss,
        lattice=lattice,
    )


def share_shift(before: pd.Series, after: pd.Series) -> float:
    """Total variation distance between two distributions of one column (e.g. segment shares)."""
    p = before.value_counts(normalize=True)
    q = after.value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(0.5 * (p - q).abs().sum())
