"""Ranking metrics of top-k lists (Microsoft Recommenders' definitions), per user, overall and by group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns

GROUP_MISSING = "(missing)"
"""Group label of the users that the ``by`` mapping of :func:`evaluate` does not cover."""

ACCURACY_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "map_at_k", "hit_rate")
"""Per-user accuracy metrics, in the order of :func:`user_scores` and :func:`evaluate`."""


class InteractionMatrix(Protocol):
    """What the metrics need of a training matrix (``lsc_utils.recsys.Interactions`` has it)."""

    matrix: Any
    item_index: pd.Index


class ItemVectors(Protocol):
    """What the diversity metric needs of item vectors (``lsc_utils.recsys.ItemFeatures`` has it)."""

    matrix: Any
    item_index: pd.Index


def _is_matrix(value: Any) -> bool:
    """Whether ``value`` carries a sparse ``matrix`` and its ``item_index`` (an interaction matrix)."""
    return hasattr(value, "matrix") and hasattr(value, "item_index")


# ---------------------------------------------------------------------------------------------
# Ranking metrics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TopLists:
    """The first k rows of each recommendation list, as integer codes sorted by (list, position)."""

    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    user_ids: pd.Index
    item_ids: pd.Index


def _top_lists(recs: pd.DataFrame, k: int) -> _TopLists:
    """Encode the first k rows by ``rank`` of each user's list (positions 1..k; gaps in rank closed)."""
    _require_columns(recs, ["user_id", "item_id", "rank"], "recs")
    user_codes, user_ids = pd.factorize(recs["user_id"])
    rank = pd.to_numeric(recs["rank"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.inf)
    order = np.lexsort((rank, user_codes))
    order = order[user_codes[order] >= 0]
    sorted_users = user_codes[order]
    position = np.arange(len(order)) - np.searchsorted(sorted_users, sorted_users, side="left") + 1
    keep = position <= k
    item_codes, item_ids = pd.factorize(recs["item_id"].iloc[order[keep]])
    valid = item_codes >= 0
    return _TopLists(
        sorted_users[keep][valid],
        item_codes[valid],
        position[keep][valid],
        pd.Index(user_ids),
        pd.Index(item_ids),
    )


@dataclass(frozen=True)
class _UserRankingStats:
    """Per-user hit statistics over the users present in both recommendations and test."""

    users: np.ndarray
    hits: np.ndarray
    n_relevant: np.ndarray
    dcg: np.ndarray
    idcg: np.ndarray
    precision_sum: np.ndarray
    n_test_users: int


def _is_member(keys: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Whether each key occurs in the sorted unique array (binary search)."""
    if len(sorted_unique) == 0:
        return np.zeros(len(keys), dtype=bool)
    slots = np.minimum(np.searchsorted(sorted_unique, keys), len(sorted_unique) - 1)
    return sorted_unique[slots] == keys


def _ranking_stats(top: _TopLists, test: pd.DataFrame, k: int) -> _UserRankingStats:
    """Hits, relevant counts, DCG, ideal DCG and AP numerators of users with a list and test items."""
    _require_columns(test, ["user_id", "item_id"], "test")
    truth = test.loc[test["user_id"].notna().to_numpy() & test["item_id"].notna().to_numpy(), ["user_id", "item_id"]]
    n_lists = len(top.user_ids)
    truth_users = top.user_ids.get_indexer(truth["user_id"])
    truth_items, truth_item_ids = pd.factorize(truth["item_id"])
    width = np.int64(max(len(truth_item_ids), 1))
    known = truth_users >= 0
    pairs = np.unique(truth_users[known].astype(np.int64) * width + truth_items[known])
    n_relevant = np.bincount(pairs // width, minlength=n_lists).astype(np.float64)
    rec_items = pd.Index(truth_item_ids).get_indexer(top.item_ids)[top.item]
    hit = (rec_items >= 0) & _is_member(top.user.astype(np.int64) * width + rec_items, pairs)
    common = n_relevant > 0
    hit_users, hit_positions = top.user[hit], top.position[hit].astype(np.float64)
    hits = np.bincount(hit_users, minlength=n_lists).astype(np.float64)
    dcg = np.bincount(hit_users, weights=1.0 / np.log1p(hit_positions), minlength=n_lists)
    discounts = np.concatenate(([0.0], np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))))
    idcg = discounts[np.minimum(n_relevant, k).astype(np.int64)]
    hit_number = np.arange(len(hit_users)) - np.searchsorted(hit_users, hit_users, side="left") + 1
    precision_sum = np.bincount(hit_users, weights=hit_number / hit_positions, minlength=n_lists)
    return _UserRankingStats(
        np.flatnonzero(common),
        hits[common],
        n_relevant[common],
        dcg[common],
        idcg[common],
        precision_sum[common],
        int(truth["user_id"].nunique()),
    )


def _mean(values: np.ndarray) -> float:
    """Mean of an array, 0.0 for an empty one."""
    return float(values.mean()) if len(values) else 0.0


def _per_user(stats: _UserRankingStats, k: int) -> dict[str, np.ndarray]:
    """MS Recommenders' accuracy metrics of each evaluated user."""
    return {
        "precision": stats.hits / k,
        "recall": stats.hits / stats.n_relevant,
        "ndcg": stats.dcg / stats.idcg,
        "map": stats.precision_sum / stats.n_relevant,
        "map_at_k": stats.precision_sum / np.minimum(stats.n_relevant, k),
        "hit_rate": (stats.hits > 0).astype(np.float64),
    }


def _accuracy(stats: _UserRankingStats, k: int) -> dict[str, float]:
    """MS Recommenders' accuracy metrics: the per-user values averaged over evaluated users."""
    return {name: _mean(values) for name, values in _per_user(stats, k).items()}


def _accuracy_metric(recs: pd.DataFrame, test: pd.DataFrame, k: int, name: str, owner: str) -> float:
    """One accuracy metric of :func:`_accuracy`."""
    k = _check_int(k, "k", owner)
    return _accuracy(_ranking_stats(_top_lists(recs, k), test, k), k)[name]


def precision_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean over users of hits in the top k / k (users in both ``recs`` and ``test``, as MS Recommenders).

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs (binary relevance).
    k : int, default 10

    Returns
    -------
    float
    """
    return _accuracy_metric(recs, test, k, "precision", "precision_at_k")


def recall_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean over users of hits in the top k / number of relevant items (see :func:`precision_at_k`)."""
    return _accuracy_metric(recs, test, k, "recall", "recall_at_k")


def ndcg_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean NDCG@k with binary relevance: ``sum_hits 1/log(1+pos) / sum_{i<=min(|rel|,k)} 1/log(1+i)``."""
    return _accuracy_metric(recs, test, k, "ndcg", "ndcg_at_k")


def map_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """MAP@k as MS Recommenders' ``map_at_k`` (and Spark's): AP = sum_hits P@pos / min(|rel|, k)."""
    return _accuracy_metric(recs, test, k, "map_at_k", "map_at_k")


def mean_average_precision(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """MAP of the top-k lists as MS Recommenders' ``map``: AP = sum_hits P@pos / |rel|.

    This is the definition behind the "MAP" column of Microsoft Recommenders' published MovieLens
    benchmark tables (e.g. BPR 0.132 on MovieLens 100k).
    """
    return _accuracy_metric(recs, test, k, "map", "mean_average_precision")


def hit_rate_at_k(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _accuracy_metric(recs, test, k, "hit_rate", "hit_rate_at_k")


# ---------------------------------------------------------------------------------------------
# Beyond-accuracy metrics
# ---------------------------------------------------------------------------------------------


def _item_user_counts(train: InteractionMatrix | pd.DataFrame) -> tuple[pd.Series, int]:
    """Distinct training users per item (Series by item id) and the number of training users."""
    if _is_matrix(train):
        counts = np.diff(train.matrix.tocsc().indptr)
        return pd.Series(counts, index=train.item_index, dtype=np.float64), int(train.matrix.shape[0])
    _require_columns(train, ["user_id", "item_id"], "train")
    pairs = train[["user_id", "item_id"]].dropna().drop_duplicates()
    return pairs.groupby("item_id").size().astype(np.float64), int(pairs["user_id"].nunique())


def _catalog_items(catalog: InteractionMatrix | pd.DataFrame | Sequence[Any] | pd.Index) -> pd.Index:
    """Catalog item ids: an Interactions' items, a frame's ``item_id`` values or a sequence of ids."""
    if _is_matrix(catalog):
        return catalog.item_index
    if isinstance(catalog, pd.DataFrame):
        _require_columns(catalog, ["item_id"], "train")
        return pd.Index(catalog["item_id"].dropna().unique())
    return pd.Index(catalog).unique()


def _coverage(top: _TopLists, catalog: pd.Index) -> float:
    """Share of catalog items among the recommended ones."""
    if len(catalog) == 0:
        raise ValueError("The 'catalog' parameter of catalog_coverage is empty.")
    return float(catalog.isin(top.item_ids).sum() / len(catalog))


def _novelty(top: _TopLists, counts: pd.Series, n_users: int) -> float:
    """Mean -log2(popularity share) over top-k rows of items with training users."""
    share = counts.reindex(top.item_ids).to_numpy(dtype=np.float64)[top.item] / max(n_users, 1)
    share = share[np.isfinite(share) & (share > 0)]
    return _mean(-np.log2(share))


def _popularity_bias(top: _TopLists, counts: pd.Series) -> dict[str, float]:
    """ARP and mean popularity percentile, averaged per list then over lists."""
    if len(top.user) == 0:
        return {"arp": 0.0, "popularity_percentile": 0.0}
    percentile = counts.rank(pct=True, method="average")
    popularity = counts.reindex(top.item_ids).fillna(0.0).to_numpy()[top.item]
    pct = percentile.reindex(top.item_ids).fillna(0.0).to_numpy()[top.item]
    length = np.bincount(top.user).astype(np.float64)
    listed = length > 0
    return {
        "arp": float((np.bincount(top.user, weights=popularity)[listed] / length[listed]).mean()),
        "popularity_percentile": float((np.bincount(top.user, weights=pct)[listed] / length[listed]).mean()),
    }


def _diversity(top: _TopLists, item_features: ItemVectors) -> float:
    """Mean (1 - mean pairwise cosine) of the lists with at least two items."""
    positions = item_features.item_index.get_indexer(top.item_ids)[top.item]
    known = positions >= 0
    n_lists = len(top.user_ids)
    membership = sp.csr_matrix(
        (np.ones(int(known.sum())), (top.user[known], positions[known])),
        shape=(n_lists, len(item_features.item_index)),
    )
    summed = membership @ item_features.matrix
    squared_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    norms = np.asarray(item_features.matrix.multiply(item_features.matrix).sum(axis=1)).ravel()
    self_similarity = membership @ norms
    length = np.bincount(top.user, minlength=n_lists).astype(np.float64)
    eligible = length >= 2
    mean_cosine = (squared_sum - self_similarity)[eligible] / (length[eligible] * (length[eligible] - 1))
    return _mean(1.0 - mean_cosine)


def catalog_coverage(
    recs: pd.DataFrame, catalog: InteractionMatrix | pd.DataFrame | Sequence[Any] | pd.Index, k: int = 10
) -> float:
    """Share of catalog items that appear in at least one top-k list.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    catalog : Interactions, DataFrame or sequence of item ids
        The catalog: an Interactions' items (MS Recommenders uses the training items), a frame's
        ``item_id`` values or the ids themselves.
    k : int, default 10

    Returns
    -------
    float
    """
    k = _check_int(k, "k", "catalog_coverage")
    return _coverage(_top_lists(recs, k), _catalog_items(catalog))


def novelty(recs: pd.DataFrame, train: InteractionMatrix | pd.DataFrame, k: int = 10) -> float:
    """Mean self-information ``-log2(p_i)`` of recommended items, ``p_i`` = share of training users of i.

    Averaged over all top-k rows (as MS Recommenders' ``novelty``); items without training users
    have no defined popularity and are skipped.
    """
    k = _check_int(k, "k", "novelty")
    counts, n_users = _item_user_counts(train)
    return _novelty(_top_lists(recs, k), counts, n_users)


def average_recommendation_popularity(
    recs: pd.DataFrame, train: InteractionMatrix | pd.DataFrame, k: int = 10
) -> dict[str, float]:
    """Popularity bias of the lists: ARP and mean popularity percentile.

    ``arp`` (Abdollahpouri et al.) = mean over users of the mean number of training users of their
    recommended items; ``popularity_percentile`` = the same mean of each item's popularity percentile
    among catalog items (pandas ``rank(pct=True)``, average ties; 1 = the most popular item, items
    without training users count 0).

    Returns
    -------
    dict
        ``{"arp": float, "popularity_percentile": float}``.
    """
    k = _check_int(k, "k", "average_recommendation_popularity")
    counts, _ = _item_user_counts(train)
    return _popularity_bias(_top_lists(recs, k), counts)


def intra_list_diversity(recs: pd.DataFrame, item_features: ItemVectors, k: int = 10) -> float:
    """Mean over users of ``1 - mean pairwise cosine`` of the feature vectors in their top-k list.

    With unit-norm vectors, the sum of pairwise cosines of a list is ``(|sum v|^2 - sum |v|^2) / 2``,
    so the metric needs one sparse product, no loop over pairs. Items without features count as
    orthogonal to everything; users with fewer than 2 items are skipped.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    item_features : ItemFeatures
        Item vectors (see :func:`build_item_features`).
    k : int, default 10

    Returns
    -------
    float
    """
    k = _check_int(k, "k", "intra_list_diversity")
    return _diversity(_top_lists(recs, k), item_features)


def user_scores(recs: pd.DataFrame, test: pd.DataFrame, k: int = 10, by: Any = None) -> pd.DataFrame:
    """Accuracy metrics of every test user's top-k list, one row per user (the input of group audits).

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs (binary relevance).
    k : int, default 10
    by : pandas.Series or mapping, optional
        User id -> group label; adds a ``group`` column (:data:`GROUP_MISSING` for users it lacks).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, (``group``), ``served`` (the user has a list), ``n_relevant`` (distinct test
        items), ``hits`` and the per-user ``precision, recall, ndcg, map, map_at_k, hit_rate`` of
        :func:`evaluate`, NaN for users without a list. Users in order of first appearance in
        ``test``; the mean of a metric over served users equals :func:`evaluate`'s value.
    """
    k = _check_int(k, "k", "user_scores")
    top = _top_lists(recs, k)
    stats = _ranking_stats(top, test, k)
    truth = test.loc[test["user_id"].notna().to_numpy() & test["item_id"].notna().to_numpy(), ["user_id", "item_id"]]
    pairs = truth.drop_duplicates()
    n_relevant = pairs.groupby("user_id", sort=False).size()
    frame = pd.DataFrame({"user_id": n_relevant.index, "n_relevant": n_relevant.to_numpy(dtype=np.int64)})
    if by is not None:
        frame.insert(1, "group", _group_labels(frame["user_id"], _user_groups(by, "user_scores")))
    scored = pd.DataFrame({"hits": stats.hits, **_per_user(stats, k)}, index=top.user_ids[stats.users])
    frame.insert(len(frame.columns) - 1, "served", frame["user_id"].isin(scored.index).to_numpy())
    return frame.join(scored, on="user_id")


def _user_groups(by: Any, owner: str) -> pd.Series:
    """The ``by`` argument as a Series user id -> group label (a mapping or Series)."""
    if isinstance(by, pd.Series):
        groups = by
    elif isinstance(by, dict):
        groups = pd.Series(by, dtype=object)
    else:
        raise TypeError(
            f"The 'by' parameter of {owner} must be a pandas Series or dict user_id -> group. "
            f"Got {type(by).__name__} instead."
        )
    if not groups.index.is_unique:
        raise ValueError(f"The 'by' parameter of {owner} gives some users more than one group.")
    return groups


def _group_labels(user_ids: pd.Series, groups: pd.Series) -> pd.Series:
    """Group label of each user id (:data:`GROUP_MISSING` where ``groups`` has none)."""
    labels = groups.reindex(pd.Index(user_ids)).astype(object)
    return pd.Series(labels.where(labels.notna(), GROUP_MISSING).to_numpy(), index=user_ids.index, dtype=object)


def _group_order(groups: pd.Series, present: pd.Index) -> list[Any]:
    """Groups in their categorical order (else sorted by label), missing last, present ones only."""
    if isinstance(groups.dtype, pd.CategoricalDtype):
        order = list(groups.cat.categories)
    else:
        order = sorted(pd.unique(groups.dropna()), key=str)
    return [g for g in [*order, GROUP_MISSING] if g in present]


@dataclass(frozen=True)
class _TrainPopularity:
    """What the beyond-accuracy metrics read from the training data, computed once per evaluation."""

    counts: pd.Series
    n_users: int
    catalog: pd.Index


def _train_popularity(train: InteractionMatrix | pd.DataFrame | None) -> _TrainPopularity | None:
    """Training users per item, number of training users and the catalog (None without ``train``)."""
    if train is None:
        return None
    counts, n_users = _item_user_counts(train)
    return _TrainPopularity(counts, n_users, _catalog_items(train))


def _evaluate_lists(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    k: int,
    popularity: _TrainPopularity | None,
    item_features: ItemVectors | None,
) -> dict[str, float]:
    """The metrics of :func:`evaluate` over all lists (``k`` already checked)."""
    top = _top_lists(recs, k)
    stats = _ranking_stats(top, test, k)
    result: dict[str, float] = {
        "k": k,
        "n_users": len(stats.hits),
        "user_coverage": len(stats.hits) / stats.n_test_users if stats.n_test_users else 0.0,
        **_accuracy(stats, k),
    }
    if popularity is not None:
        result["catalog_coverage"] = _coverage(top, popularity.catalog)
        result["novelty"] = _novelty(top, popularity.counts, popularity.n_users)
        result.update(_popularity_bias(top, popularity.counts))
    if item_features is not None:
        result["intra_list_diversity"] = _diversity(top, item_features)
    return result


def _evaluate_by_group(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    k: int,
    groups: pd.Series,
    popularity: _TrainPopularity | None,
    item_features: ItemVectors | None,
) -> pd.DataFrame:
    """One row of :func:`evaluate` per user group; accuracy is NaN where no user of a group is served."""
    _require_columns(recs, ["user_id", "item_id", "rank"], "recs")
    _require_columns(test, ["user_id", "item_id"], "test")
    rec_groups, test_groups = _group_labels(recs["user_id"], groups), _group_labels(test["user_id"], groups)
    present = pd.Index(pd.unique(pd.concat([rec_groups, test_groups], ignore_index=True)))
    rows = {}
    for group in _group_order(groups, present):
        in_test = test_groups.to_numpy() == group
        row = _evaluate_lists(recs[rec_groups.to_numpy() == group], test[in_test], k, popularity, item_features)
        row = {"n_test_users": int(test.loc[in_test, "user_id"].nunique()), **row}
        if row["n_users"] == 0:
            row.update(dict.fromkeys(ACCURACY_METRICS, np.nan))
        rows[group] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")


def evaluate(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    train: InteractionMatrix | pd.DataFrame | None = None,
    item_features: ItemVectors | None = None,
    by: Any = None,
) -> dict[str, float] | pd.DataFrame:
    """All ranking metrics of top-k lists at once (vectorized over users), overall or per user group.

    Accuracy metrics follow Microsoft Recommenders' ``python_evaluation`` (binary relevance, users
    present in both ``recs`` and ``test``): ``precision``, ``recall``, ``ndcg``, ``map`` (AP divided
    by |relevant|, MS ``map``), ``map_at_k`` (AP divided by min(|relevant|, k), MS ``map_at_k``),
    ``hit_rate``; plus ``n_users`` (users evaluated) and ``user_coverage`` (their share of test users).
    With ``train``: ``catalog_coverage``, ``novelty``, ``arp``, ``popularity_percentile``. With
    ``item_features``: ``intra_list_diversity``.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    test : pandas.DataFrame
        Relevant ``user_id, item_id`` pairs.
    k : int, default 10
    train : Interactions or DataFrame, optional
        Training interactions (popularity and catalog).
    item_features : ItemFeatures, optional
        Item vectors for diversity.
    by : pandas.Series or dict, optional
        User id -> group label. Each group is evaluated on its own users' lists and test pairs, as if
        alone; users the mapping lacks form the group :data:`GROUP_MISSING`, so nobody is dropped.

    Returns
    -------
    dict or pandas.DataFrame
        Metric name -> value; with ``by``, one row per group (index ``group``, categorical order or
        sorted labels) with ``n_test_users`` first and NaN accuracy where no user of the group is served.
    """
    k = _check_int(k, "k", "evaluate")
    popularity = _train_popularity(train)
    if by is None:
        return _evaluate_lists(recs, test, k, popularity, item_features)
    return _evaluate_by_group(recs, test, k, _user_groups(by, "evaluate"), popularity, item_features)
