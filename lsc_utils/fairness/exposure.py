"""Provider and item exposure in recommendation lists, and its concentration.

Exposure of a listed item is its position weight ``1 / log2(rank + 1)`` (the DCG discount: the first
slot counts 1, the tenth 0.29); a provider's exposure (anchor, brand, seller) is the sum over its
items. Concentration is measured over the **whole catalogue**, items never shown included with zero
exposure: the Gini coefficient, and the share of exposure that goes to the top 1 % and 10 % of items
by interactions beside their share of the interactions themselves (a recommender that amplifies
popularity gives the head more exposure than it earned).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns


def position_weight(rank: np.ndarray) -> np.ndarray:
    """DCG position weight ``1 / log2(rank + 1)`` of 1-based ranks."""
    return 1.0 / np.log2(np.asarray(rank, dtype=float) + 1.0)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal; all-zero or constant input gives 0).

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the sorted values (1-based ``i``): [0, 0, 1, 2, 7]
    gives 0.64, [1, 2, 7] gives 0.40.
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0 or x.sum() == 0:
        return 0.0
    if np.any(x < 0):
        raise ValueError("gini needs non-negative values (exposure, interactions).")
    i = np.arange(1, x.size + 1)
    return float(np.sum((2 * i - x.size - 1) * x) / (x.size * x.sum()))


def item_exposure(recs: pd.DataFrame, catalogue: pd.Index, k: int = 10) -> pd.Series:
    """Position-weighted exposure of every catalogue item in the top-``k`` lists (0 when never shown)."""
    require_columns(recs, ["user_id", "item_id", "rank"], "recs", "item_exposure")
    top = recs[recs["rank"] <= k]
    exposure = (
        pd.Series(position_weight(top["rank"].to_numpy()), index=top["item_id"].to_numpy()).groupby(level=0).sum()
    )
    return exposure.reindex(catalogue.union(exposure.index), fill_value=0.0).rename("exposure")


def provider_exposure(exposure: pd.Series, items: pd.DataFrame, provider: str) -> pd.DataFrame:
    """Exposure per provider (``items[provider]``, e.g. brand or anchor) and its share of the total."""
    require_columns(items, ["item_id", provider], "items", "provider_exposure")
    owner = items.drop_duplicates("item_id").set_index("item_id")[provider]
    table = exposure.to_frame().join(owner, how="left").fillna({provider: "(unknown)"})
    table = (
        table.groupby(provider)["exposure"].agg(exposure="sum", items="size").sort_values("exposure", ascending=False)
    )
    table["share"] = table["exposure"] / table["exposure"].sum() if table["exposure"].sum() else 0.0
    return table.reset_index()


def concentration(exposure: pd.Series, interactions: pd.Series) -> dict[str, float]:
    """Gini of exposure and of interactions, head shares of each, long-tail coverage.

    Parameters
    ----------
    exposure : pandas.Series
        Exposure per catalogue item (:func:`item_exposure`).
    interactions : pandas.Series
        Training interactions per item (missing items count 0).

    Returns
    -------
    dict
        ``gini_exposure, gini_interactions``, ``top1_exposure_share, top1_interaction_share``,
        ``top10_exposure_share, top10_interaction_share`` (top items by interactions), and
        ``long_tail_coverage``: the share of the items outside the top 20 % by interactions that are
        recommended at least once.
    """
    items = exposure.index.union(interactions.index)
    exposure = exposure.reindex(items, fill_value=0.0)
    interactions = interactions.reindex(items, fill_value=0).astype(float)
    order = interactions.sort_values(ascending=False, kind="mergesort").index
    out = {"gini_exposure": gini(exposure.to_numpy()), "gini_interactions": gini(interactions.to_numpy())}
    for share in (1, 10):
        head = order[: max(1, int(np.ceil(len(order) * share / 100)))]
        out[f"top{share}_exposure_share"] = float(exposure[head].sum() / exposure.sum()) if exposure.sum() else 0.0
        out[f"top{share}_interaction_share"] = (
            float(interactions[head].sum() / interactions.sum()) if interactions.sum() else 0.0
        )
    tail = order[int(np.ceil(len(order) * 0.2)) :]
    out["long_tail_coverage"] = float((exposure[tail] > 0).mean()) if len(tail) else 0.0
    return out


def exposure_by_model(lists: pd.DataFrame, catalogue: pd.Index, interactions: pd.Series, k: int = 10) -> pd.DataFrame:
    """Concentration of exposure of each model's lists (e.g. next-stream lists over streamers).

    Parameters
    ----------
    lists : pandas.DataFrame
        ``model, user_id, item_id, rank`` (item = the exposed unit: product, streamer, room).
    catalogue : pandas.Index
        Every unit that could be shown (units never shown count with zero exposure).
    interactions : pandas.Series
        What each unit earned in training (e.g. distinct viewers per streamer).
    k : int, default 10

    Returns
    -------
    pandas.DataFrame
        One row per model (in order of appearance): the :func:`concentration` statistics,
        ``amplification`` (top-10 % exposure share / their interaction share) and ``coverage`` (share
        of the catalogue shown at least once).
    """
    require_columns(lists, ["model", "user_id", "item_id", "rank"], "lists", "exposure_by_model")
    rows = []
    for model, part in lists.groupby("model", sort=False):
        exposure = item_exposure(part, catalogue, k)
        stats = concentration(exposure, interactions)
        earned = stats["top10_interaction_share"]
        stats["amplification"] = stats["top10_exposure_share"] / earned if earned > 0 else float("nan")
        stats["coverage"] = float((exposure.reindex(catalogue, fill_value=0.0) > 0).mean()) if len(catalogue) else 0.0
        rows.append({"model": model, **stats})
    return pd.DataFrame(rows)
