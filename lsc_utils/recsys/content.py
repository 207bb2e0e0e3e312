"""Item content features (TF-IDF of category, brand, tags) and the content-based recommender."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.recsys._topk import _empty_recommendations, _row_normalize, _selection_matrix
from lsc_utils.recsys.interactions import Interactions, _check_interactions
from lsc_utils.recsys.models import ALSRecommender, BaseRecommender, PopularityRecommender
from lsc_utils.schema import DatasetError

# ---------------------------------------------------------------------------------------------
# Content features and content-based recommendation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFeatures:
    """L2-normalized TF-IDF vectors of items.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Shape (n_items, n_tokens); rows have unit norm (all-zero for items without features).
    item_index : pandas.Index
        Row position -> item id.
    vocabulary : pandas.Index
        Column position -> token (``"category=..."``, ``"brand=..."``, ``"tag=..."``).
    """

    matrix: sp.csr_matrix
    item_index: pd.Index
    vocabulary: pd.Index

    def rows_for(self, item_ids: Sequence[Any] | pd.Index | np.ndarray) -> sp.csr_matrix:
        """Feature rows aligned to ``item_ids`` (zero rows for unknown ids)."""
        positions = self.item_index.get_indexer(pd.Index(item_ids))
        return sp.csr_matrix(_selection_matrix(positions, len(self.item_index)).T @ self.matrix)


def build_item_features(
    items: pd.DataFrame,
    fields: Sequence[str] = ("category", "brand", "tags"),
    tag_separator: str = "|",
) -> ItemFeatures:
    """TF-IDF item vectors over categorical fields and ``|``-separated tags.

    Each non-null field value becomes a token ``"<field>=<value>"`` (each tag of ``tags`` a token
    ``"tag=<tag>"``); token counts are weighted by scikit-learn's smoothed idf
    ``ln((1 + n) / (1 + df)) + 1`` and rows are L2-normalized, so the dot product of two items is
    their cosine similarity.

    Parameters
    ----------
    items : pandas.DataFrame
        Canonical items table (``item_id`` plus the fields).
    fields : sequence of str
        Columns to use; ``"tags"`` is split on ``tag_separator``.
    tag_separator : str, default "|"
        Separator of the tags column.

    Returns
    -------
    ItemFeatures

    Raises
    ------
    DatasetError
        If a column is missing or item ids repeat.
    """
    _require_columns(items, ["item_id", *fields], "items")
    if items["item_id"].isna().any():
        raise DatasetError(f"items: column 'item_id' has {int(items['item_id'].isna().sum())} null values.")
    duplicated = items["item_id"].duplicated()
    if duplicated.any():
        raise DatasetError(
            f"items: column 'item_id' has {int(duplicated.sum())} repeated ids "
            f"(e.g. {items['item_id'][duplicated].head(5).tolist()}); ids must be unique."
        )
    items = items.reset_index(drop=True)
    item_index = pd.Index(items["item_id"].to_numpy(), name="item_id")
    positions, tokens = [], []
    for field in fields:
        values = items[field].astype("str").where(items[field].notna())
        if field == "tags":
            values = values.str.split(tag_separator).explode().str.strip()
            prefix = "tag="
        else:
            prefix = f"{field}="
        values = values[values.notna() & (values != "")]
        positions.append(values.index.to_numpy(dtype=np.int64))
        tokens.append(prefix + values.astype("str").to_numpy(dtype=object))
    all_positions = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    all_tokens = np.concatenate(tokens) if tokens else np.zeros(0, dtype=object)
    token_codes, vocabulary = pd.factorize(all_tokens, sort=True)
    counts = sp.csr_matrix(
        (np.ones(len(token_codes)), (all_positions, token_codes)), shape=(len(item_index), len(vocabulary))
    )
    counts.sum_duplicates()
    matrix = TfidfTransformer(norm="l2", smooth_idf=True).fit_transform(counts) if counts.nnz else counts
    return ItemFeatures(sp.csr_matrix(matrix, dtype=np.float64), item_index, pd.Index(vocabulary, name="token"))


class ContentBasedRecommender(BaseRecommender):
    """Content-based recommendation from item attributes (works for items nobody has interacted with).

    Item vectors come from :func:`build_item_features`; a user's profile is the interaction-weighted
    mean of the vectors of the items they interacted with, and ``score(u, i) = profile_u . v_i``.
    The catalog is the interaction matrix's items followed by the items of ``items`` that have no
    interactions (cold items), so cold items can be recommended.

    Parameters
    ----------
    items : pandas.DataFrame
        Canonical items table (the model's side information).
    fields : sequence of str, default ("category", "brand", "tags")
        Item columns to use.

    Attributes
    ----------
    features_ : ItemFeatures
        Item vectors.
    item_vectors_ : scipy.sparse.csr_matrix
        Feature rows aligned to ``item_index_``.
    profiles_ : scipy.sparse.csr_matrix
        User profiles (n_users x n_tokens).
    """

    def __init__(self, items: pd.DataFrame, fields: Sequence[str] = ("category", "brand", "tags")) -> None:
        self.items = items
        self.fields = fields

    def _build_catalog(self, interactions: Interactions) -> pd.Index:
        _require_columns(self.items, ["item_id"], "items")
        known = interactions.item_index
        extra = pd.Index(self.items["item_id"].dropna().unique()).difference(known, sort=False)
        return known.append(pd.Index(np.sort(extra.to_numpy()))).rename("item_id")

    def _fit(self, interactions: Interactions) -> None:
        self.features_ = build_item_features(self.items, tuple(self.fields))
        self.item_vectors_ = self.features_.rows_for(self.item_index_)
        interacted_vectors = self.item_vectors_[: interactions.n_items]
        self.profiles_ = sp.csr_matrix(_row_normalize(interactions.matrix, "l1") @ interacted_vectors)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.profiles_[rows] @ self.item_vectors_.T).toarray()


class RepeatAwareRecommender(BaseRecommender):
    """Repeat-consumption baseline: the user's own past items first, then popular ones.

    ``score(u, i) = 1 + x_ui / max_j x_uj`` for items the user interacted with (so in (1, 2]) and
    ``popularity_i / max popularity`` (in [0, 1]) for the others. Built on a time-decayed matrix
    (``build_interactions(..., half_life_days=...)``) ``x_ui`` is a recency-weighted frequency, the
    classic repeat-consumption signal for live streams (users return to the anchors they watch).
    Use it with ``exclude_seen=False``.

    Parameters
    ----------
    fallback : {"popularity", "none"}, default "popularity"
        How to rank items outside the user's history (``"none"``: they are not recommended).

    Attributes
    ----------
    popularity_ : numpy.ndarray
        Distinct users per item, scaled to [0, 1].
    history_ : scipy.sparse.csr_matrix
        Training matrix with each row divided by its maximum.
    """

    def __init__(self, fallback: str = "popularity") -> None:
        self.fallback = fallback

    def _fit(self, interactions: Interactions) -> None:
        _check_choice(self.fallback, "fallback", "RepeatAwareRecommender", ("popularity", "none"))
        counts = np.diff(interactions.matrix.tocsc().indptr).astype(np.float64)
        self.popularity_ = counts / counts.max()
        self.history_ = _row_normalize(interactions.matrix, "max")

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        if self.fallback == "popularity":
            scores = np.tile(self.popularity_, (len(rows), 1))
        else:
            scores = np.full((len(rows), len(self.item_index_)), -np.inf)
        history = self.history_[rows]
        history_rows = np.repeat(np.arange(len(rows)), np.diff(history.indptr))
        scores[history_rows, history.indices] = 1.0 + history.data
        return scores


class HybridRecommender(BaseEstimator):
    """Cold-start hybrid: CF for warm users, content or popularity for cold users and cold items.

    Rule, per requested user (activity = distinct training items of the user):

    1. activity >= ``min_user_interactions`` (warm): the CF model's list. If a content model is given
       and ``cold_item_slots`` > 0, the last ``cold_item_slots`` positions go to the user's best
       content-matching cold items (items of the content model's ``items`` table without training
       interactions, content score > 0); CF fills the rest.
    2. 1 <= activity < ``min_user_interactions`` (light): the content model's items with a positive
       score, then popular items (without a content model: popularity only).
    3. activity 0 (user unknown to the training data): the global popularity list.

    The ``source`` column of :meth:`recommend` says which rule produced each row.

    Parameters
    ----------
    cf : recommender, optional
        Collaborative model (default :class:`ALSRecommender`).
    content : ContentBasedRecommender, optional
        Content model for light users and cold items (None: popularity only).
    popularity : PopularityRecommender, optional
        Fallback model (default :class:`PopularityRecommender`).
    min_user_interactions : int, default 3
        Activity from which a user counts as warm.
    cold_item_slots : int, default 1
        Positions of a warm user's list reserved for cold items (needs ``content``).

    Attributes
    ----------
    cf_, content_, popularity_ : fitted clones of the models (``content_`` may be None)
    user_activity_ : numpy.ndarray
        Distinct training items per training user.
    cold_items_ : pandas.Index
        Item ids known only from the content model's items table.
    """

    def __init__(
        self,
        cf: BaseRecommender | None = None,
        content: ContentBasedRecommender | None = None,
        popularity: PopularityRecommender | None = None,
        min_user_interactions: int = 3,
        cold_item_slots: int = 1,
    ) -> None:
        self.cf = cf
        self.content = content
        self.popularity = popularity
        self.min_user_interactions = min_user_interactions
        self.cold_item_slots = cold_item_slots

    def fit(self, interactions: Interactions) -> HybridRecommender:
        """Fit the CF, content and popularity models on the same interactions.

        Parameters
        ----------
        interactions : Interactions

        Returns
        -------
        self
        """
        _check_interactions(interactions, "HybridRecommender")
        _check_int(self.min_user_interactions, "min_user_interactions", "HybridRecommender")
        _check_int(self.cold_item_slots, "cold_item_slots", "HybridRecommender", minimum=0)
        self.interactions_ = interactions
        self.cf_ = (clone(self.cf) if self.cf is not None else ALSRecommender()).fit(interactions)
        self.popularity_ = (clone(self.popularity) if self.popularity is not None else PopularityRecommender()).fit(
            interactions
        )
        self.content_ = clone(self.content).fit(interactions) if self.content is not None else None
        self.user_activity_ = np.diff(interactions.matrix.indptr)
        self.cold_items_ = (
            self.content_.item_index_[interactions.n_items :] if self.content_ is not None else pd.Index([])
        )
        return self

    def recommend(
        self,
        user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[Any] | pd.Index | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Top-k lists for any users, known or not (see the class docstring for the rule).

        Parameters
        ----------
        user_ids : sequence, optional
            Users (unknown ids allowed). Default: every training user.
        k : int, default 10
            List length.
        exclude_seen : bool, default True
            Drop items the user interacted with in training.
        items : sequence, optional
            Restrict the candidates to these item ids.

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, rank, score, source`` (source in ``cf``, ``content``, ``popularity``).
        """
        check_is_fitted(self, "cf_")
        k = _check_int(k, "k", "HybridRecommender.recommend")
        requested = self.interactions_.user_index if user_ids is None else pd.Index(user_ids).unique()
        rows = self.interactions_.user_positions(requested)
        activity = np.where(rows >= 0, self.user_activity_[np.maximum(rows, 0)], 0)
        warm = requested[activity >= self.min_user_interactions]
        light = requested[(activity >= 1) & (activity < self.min_user_interactions)]
        cold = requested[activity == 0]
        parts = [
            self._recommend_warm(warm, k, exclude_seen, items),
            self._recommend_light(light, k, exclude_seen, items),
            self._recommend_cold(cold, k, items),
        ]
        non_empty = [p for p in parts if len(p)]
        if not non_empty:
            return _empty_recommendations().assign(source=pd.Series([], dtype="str"))
        result = pd.concat(non_empty, ignore_index=True)
        order = pd.Series(np.arange(len(requested)), index=requested)
        result["_order"] = order.reindex(result["user_id"]).to_numpy()
        result = result.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
        return result.reset_index(drop=True)

    def _recommend_warm(self, users: pd.Index, k: int, exclude_seen: bool, items: Any) -> pd.DataFrame:
        """CF lists with the last ``cold_item_slots`` positions given to content-matched cold items."""
        cf = self.cf_.recommend(users, k, exclude_seen, items).assign(source="cf")
        slots = min(self.cold_item_slots, k)
        if self.content_ is None or slots == 0 or len(self.cold_items_) == 0 or len(users) == 0:
            return cf
        cold_candidates = self.cold_items_ if items is None else self.cold_items_.intersection(pd.Index(items))
        cold = self.content_.recommend(users, slots, exclude_seen, cold_candidates)
        cold = cold[cold["score"] > 0].assign(source="content")
        n_cold = cold.groupby("user_id", sort=False).size()
        cf_room = k - n_cold.reindex(cf["user_id"]).fillna(0).to_numpy()
        combined = pd.concat([cf[cf["rank"].to_numpy() <= cf_room], cold], ignore_index=True)
        return _rerank_in_order(combined, users)

    def _recommend_light(self, users: pd.Index, k: int, exclude_seen: bool, items: Any) -> pd.DataFrame:
        """Content items with a positive score first, then popular items, up to k."""
        popular = self.popularity_.recommend(users, 2 * k, exclude_seen, items).assign(source="popularity")
        if self.content_ is None or len(users) == 0:
            return popular[popular["rank"] <= k]
        content = self.content_.recommend(users, k, exclude_seen, items)
        content = content[content["score"] > 0].assign(source="content")
        combined = pd.concat([content, popular], ignore_index=True)
        combined = combined.drop_duplicates(["user_id", "item_id"], keep="first")
        combined = _rerank_in_order(combined, users)
        return combined[combined["rank"] <= k]

    def _recommend_cold(self, users: pd.Index, k: int, items: Any) -> pd.DataFrame:
        """The global popularity list for every unknown user."""
        if len(users) == 0:
            return _empty_recommendations().assign(source=pd.Series([], dtype="str"))
        top = self.popularity_.top_items(k, items)
        frame = pd.DataFrame({"user_id": np.repeat(users.to_numpy(), len(top))})
        tiled = top.iloc[np.tile(np.arange(len(top)), len(users))].reset_index(drop=True)
        return pd.concat([frame, tiled], axis=1).assign(source="popularity")


def _rerank_in_order(frame: pd.DataFrame, users: pd.Index) -> pd.DataFrame:
    """Number rows 1..n per user in their current order within the user, users in ``users`` order."""
    order = pd.Series(np.arange(len(users)), index=users)
    frame = frame.assign(_order=order.reindex(frame["user_id"]).to_numpy())
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    frame["rank"] = frame.groupby("user_id", sort=False).cumcount().to_numpy(dtype=np.int64) + 1
    return frame
