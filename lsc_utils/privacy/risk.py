"""Re-identification risk of user-level tables: equivalence classes over quasi-identifiers.

* **k-anonymity**: the size of the smallest equivalence class (rows sharing every quasi-identifier);
* **l-diversity** (distinct): the fewest distinct sensitive values in a class; **entropy
  l-diversity**: ``exp`` of the smallest class entropy (pycanon reports its floor);
* **t-closeness**: the largest Earth Mover's distance between a class's sensitive distribution and
  the table's: half the total variation for a categorical attribute, the mean absolute difference of
  the cumulative distributions over the ``m - 1`` steps of the ordered values for a numeric one
  (Li, Li & Venkatasubramanian 2007; the definitions pycanon implements);
* the **unique share**: rows alone in their class;
* a **linkage attack**: an attacker knows a few attributes of everyone (a voter roll, a social
  profile) and joins them to the released table; a person is re-identified when exactly one released
  row matches.

Every function works on the distinct quasi-identifier combinations (a group-by), never a Python
loop over rows, so a million-user portrait table is checked in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns


def _classes(frame: pd.DataFrame, quasi: list[str]) -> pd.core.groupby.DataFrameGroupBy:
    return frame.groupby(quasi, dropna=False, observed=True, sort=False)


def class_sizes(frame: pd.DataFrame, quasi: list[str]) -> pd.Series:
    """Size of the equivalence class of every row (same index as ``frame``)."""
    require_columns(frame, quasi, "table", "class_sizes")
    return _classes(frame, quasi)[quasi[0]].transform("size").astype(np.int64)


def k_anonymity(frame: pd.DataFrame, quasi: list[str]) -> int:
    """Smallest equivalence class (0 for an empty table)."""
    return int(_classes(frame, quasi).size().min()) if len(frame) else 0


def unique_share(frame: pd.DataFrame, quasi: list[str]) -> float:
    """Share of rows alone in their equivalence class."""
    return float((class_sizes(frame, quasi) == 1).mean()) if len(frame) else 0.0


def l_diversity(frame: pd.DataFrame, quasi: list[str], sensitive: str) -> int:
    """Fewest distinct values of ``sensitive`` in any class."""
    require_columns(frame, [*quasi, sensitive], "table", "l_diversity")
    return int(_classes(frame, quasi)[sensitive].nunique().min())


def entropy_l_diversity(frame: pd.DataFrame, quasi: list[str], sensitive: str) -> float:
    """``exp`` of the smallest class entropy of ``sensitive`` (pycanon's value is its floor)."""
    require_columns(frame, [*quasi, sensitive], "table", "entropy_l_diversity")
    counts = frame.groupby([*quasi, sensitive], dropna=False, observed=True).size().rename("n").reset_index()
    share = counts["n"] / counts.groupby(quasi, dropna=False, observed=True)["n"].transform("sum")
    entropy = (-share * np.log(share)).groupby([counts[q] for q in quasi], dropna=False, observed=True).sum()
    return float(np.exp(entropy.min()))


def t_closeness(frame: pd.DataFrame, quasi: list[str], sensitive: str, ordered: bool | None = None) -> float:
    """Largest Earth Mover's distance between a class's distribution of ``sensitive`` and the table's.

    Parameters
    ----------
    ordered : bool, optional
        Treat the values as ordered (numeric EMD). Default: ordered when the column is numeric.
    """
    require_columns(frame, [*quasi, sensitive], "table", "t_closeness")
    ordered = pd.api.types.is_numeric_dtype(frame[sensitive]) if ordered is None else ordered
    values = np.sort(frame[sensitive].dropna().unique()) if ordered else frame[sensitive].dropna().unique()
    table = pd.crosstab(
        _classes(frame, quasi).ngroup(), pd.Categorical(frame[sensitive], categories=values), dropna=False
    ).to_numpy(dtype=float)
    p = table / table.sum(axis=1, keepdims=True)
    q = table.sum(axis=0) / table.sum()
    if ordered:
        steps = max(len(values) - 1, 1)
        distance = np.abs(np.cumsum(p - q, axis=1)[:, :-1]).sum(axis=1) / steps
    else:
        distance = 0.5 * np.abs(p - q).sum(axis=1)
    return float(distance.max())


def risk_summary(frame: pd.DataFrame, quasi: list[str], sensitive: list[str]) -> dict[str, float]:
    """k, unique share, mean class size, and l / entropy-l / t per sensitive attribute."""
    sizes = class_sizes(frame, quasi)
    summary: dict[str, float] = {
        "rows": len(frame),
        "classes": int(_classes(frame, quasi).ngroups),
        "k": k_anonymity(frame, quasi),
        "unique_share": float((sizes == 1).mean()),
        "mean_class_size": float(sizes.mean()),
    }
    for column in sensitive:
        summary[f"l[{column}]"] = l_diversity(frame, quasi, column)
        summary[f"entropy_l[{column}]"] = entropy_l_diversity(frame, quasi, column)
        summary[f"t[{column}]"] = t_closeness(frame, quasi, column)
    return summary


def linkage_attack(released: pd.DataFrame, known: pd.DataFrame, on: list[str], identity: str) -> dict[str, float]:
    """Re-identify people by joining what an attacker knows to a released table.

    Parameters
    ----------
    released : pandas.DataFrame
        The table as released (may be generalised), with the true ``identity`` column kept for scoring.
    known : pandas.DataFrame
        The attacker's table: ``identity`` and the known attributes ``on``, already generalised the way
        the release was (an attacker can generalise what they know).
    on : list of str
        Attributes the attacker knows.
    identity : str
        Column naming the person in both tables.

    Returns
    -------
    dict
        ``targets`` (people the attacker looks up), ``unique_matches`` (exactly one released row
        matches), ``reidentified`` (that row is the right person), ``reidentified_share``.
    """
    require_columns(released, [*on, identity], "released", "linkage_attack")
    require_columns(known, [*on, identity], "known", "linkage_attack")
    candidates = released.groupby(on, dropna=False, observed=True)[identity].agg(["size", "first"]).reset_index()
    joined = known.merge(candidates, on=on, how="left")
    unique = joined["size"] == 1
    right = unique & (joined["first"] == joined[identity])
    return {
        "targets": int(len(known)),
        "unique_matches": int(unique.sum()),
        "reidentified": int(right.sum()),
        "reidentified_share": float(right.mean()) if len(known) else 0.0,
    }
