"""Recommendation: interaction matrices, baselines, item/user CF, ALS/BPR, content-based, hybrid, live rooms.

The module turns canonical events into a user x item matrix (:func:`build_interactions`), fits
scikit-learn-style recommenders on it and evaluates top-k lists with the definitions of Microsoft
Recommenders' ``python_evaluation``.

Every recommender has the same surface::

    model = ItemKNNRecommender(n_neighbors=100).fit(interactions)
    recs = model.recommend(user_ids, k=10, exclude_seen=True)   # user_id, item_id, rank, score

Scoring is batched over users: a block of users is scored against the whole catalog with one
matrix product, seen items are masked and the top k are selected with ``numpy.argpartition``. Ties
are broken by catalog position (ids in sorted order), so lists are identical from run to run.

Models
------
* :class:`PopularityRecommender` -- most-interacted items (the non-personalized baseline).
* :class:`ItemKNNRecommender` -- item-based CF (cosine or BM25 item-item similarity, top-K neighbours).
* :class:`UserKNNRecommender` -- user-based CF (cosine, top-K neighbour users).
* :class:`ALSRecommender`, :class:`BPRRecommender` -- matrix factorization with ``implicit`` (CPU).
* :class:`ContentBasedRecommender` -- TF-IDF over category / brand / tags, user profile = weighted
  mean of the interacted items' vectors.
* :class:`RepeatAwareRecommender` -- repeat-consumption baseline (recency-weighted frequency first).
* :class:`HybridRecommender` -- CF for warm users, content or popularity for cold users and cold items.
* :class:`EASERecommender` -- Steck's closed-form item-item autoencoder (the strong linear baseline).
* :class:`MultVAERecommender` -- Mult-VAE (Liang et al. 2018), JAX (:mod:`~lsc_utils.recsys.deep_vae`).

Next item
---------
:mod:`~lsc_utils.recsys.next_item`: :func:`order_sequences` (time order, equal times in a seeded
random order), :func:`leave_last_out_split`, :func:`evaluate_next_item` (HR@k / NDCG@k of one held-out
item ranked against all items) and the next-item models (``fit(sequences)``, ``recommend_next``):
:class:`SASRecRecommender` (Kang & McAuley 2018, JAX, :mod:`~lsc_utils.recsys.deep_seq`),
:class:`MatrixNextRecommender` (any model above on the histories, e.g. popularity or EASE) and
:class:`RepeatLastRecommender`. The two JAX models are imported on first use, so importing this
package does not start JAX.

Live streaming
--------------
* :func:`recommend_rooms` ranks the rooms that are live at a moment for each user.
* :func:`rerank_with_live_signals` boosts items trending in the current room.
* :func:`apply_personalization_consent` serves non-personalized lists to users who opted out.

Evaluation
----------
:func:`temporal_split`, :func:`stratified_random_split`, the metrics (:func:`precision_at_k`,
:func:`recall_at_k`, :func:`ndcg_at_k`, :func:`map_at_k`, :func:`mean_average_precision`,
:func:`hit_rate_at_k`, :func:`catalog_coverage`, :func:`novelty`, :func:`intra_list_diversity`,
:func:`average_recommendation_popularity`), :func:`evaluate`, :func:`compare_models` and
:func:`next_stream_hit_rate` for live-streaming repeat consumption.
"""

from __future__ import annotations

import importlib
from typing import Any

from lsc_utils.evaluation import (
    GROUP_MISSING,
    average_recommendation_popularity,
    catalog_coverage,
    evaluate,
    hit_rate_at_k,
    intra_list_diversity,
    map_at_k,
    mean_average_precision,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    user_scores,
)
from lsc_utils.recsys._common import (
    DEFAULT_EVENT_WEIGHTS,
    DEFAULT_LIVE_SIGNAL_WEIGHTS,
    DEFAULT_ROOM_EVENT_WEIGHTS,
    RECOMMENDATION_COLUMNS,
    SCORE_BATCH_CELLS,
)
from lsc_utils.recsys._topk import (
    bm25_weight,
    select_top_k,
)
from lsc_utils.recsys.content import (
    ContentBasedRecommender,
    HybridRecommender,
    ItemFeatures,
    RepeatAwareRecommender,
    build_item_features,
)
from lsc_utils.recsys.interactions import (
    Interactions,
    build_interactions,
    interactions_from_frame,
)
from lsc_utils.recsys.live import (
    apply_personalization_consent,
    live_rooms,
    recommend_rooms,
    rerank_with_live_signals,
)
from lsc_utils.recsys.models import (
    ALSRecommender,
    BaseRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    UserKNNRecommender,
    ease_item_weights,
)
from lsc_utils.recsys.next_item import (
    SEQUENCE_COLUMNS,
    MatrixNextRecommender,
    NextItemRecommender,
    NextItemSplit,
    RepeatLastRecommender,
    collapse_repeats,
    evaluate_next_item,
    leave_last_out_split,
    next_item_hit_rate_at_k,
    next_item_ndcg_at_k,
    next_item_ranks,
    order_sequences,
    rank_targets,
    recent_popularity_ranks,
)
from lsc_utils.recsys.protocols import (
    EVENT_WEIGHT_SCHEMES,
    LIVE_POPULARITY_ROOM_WEIGHTS,
    SPLIT_METHODS,
    InteractionSplit,
    NextStreamEvaluation,
    busiest_moment,
    compare_models,
    evaluate_next_stream,
    evaluate_room_recommendations,
    event_weight_scheme,
    first_room_entries,
    next_stream_hit_rate,
    rerank_room_lists,
    split_interactions,
)
from lsc_utils.recsys.splits import (
    stratified_random_split,
    temporal_split,
)
from lsc_utils.recsys.tuning import (
    Candidate,
    TunedComparison,
    compare_tuned,
    mean_sd,
    seeded_metrics,
    training_curves,
    tune_next_item,
    tune_on_validation,
    validation_split,
)

_LAZY: dict[str, str] = {
    "MultVAERecommender": "lsc_utils.recsys.deep_vae",
    "SASRecRecommender": "lsc_utils.recsys.deep_seq",
}
"""The JAX models and their modules, imported on first access."""


def __getattr__(name: str) -> Any:
    """The JAX models, imported on first use (importing ``lsc_utils.recsys`` does not start JAX)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lsc_utils.recsys' has no attribute {name!r}")


__all__ = [
    "collapse_repeats",
    "recent_popularity_ranks",
    "Candidate",
    "TunedComparison",
    "compare_tuned",
    "mean_sd",
    "seeded_metrics",
    "training_curves",
    "tune_next_item",
    "tune_on_validation",
    "validation_split",
    "ALSRecommender",
    "BPRRecommender",
    "BaseRecommender",
    "ContentBasedRecommender",
    "DEFAULT_EVENT_WEIGHTS",
    "DEFAULT_LIVE_SIGNAL_WEIGHTS",
    "DEFAULT_ROOM_EVENT_WEIGHTS",
    "EASERecommender",
    "EVENT_WEIGHT_SCHEMES",
    "GROUP_MISSING",
    "HybridRecommender",
    "InteractionSplit",
    "Interactions",
    "ItemFeatures",
    "ItemKNNRecommender",
    "LIVE_POPULARITY_ROOM_WEIGHTS",
    "MatrixNextRecommender",
    "MultVAERecommender",
    "NextItemRecommender",
    "NextItemSplit",
    "PopularityRecommender",
    "RECOMMENDATION_COLUMNS",
    "RepeatAwareRecommender",
    "RepeatLastRecommender",
    "SASRecRecommender",
    "SCORE_BATCH_CELLS",
    "SEQUENCE_COLUMNS",
    "SPLIT_METHODS",
    "UserKNNRecommender",
    "apply_personalization_consent",
    "average_recommendation_popularity",
    "bm25_weight",
    "build_interactions",
    "build_item_features",
    "busiest_moment",
    "catalog_coverage",
    "compare_models",
    "ease_item_weights",
    "evaluate",
    "evaluate_next_item",
    "evaluate_room_recommendations",
    "event_weight_scheme",
    "first_room_entries",
    "hit_rate_at_k",
    "interactions_from_frame",
    "intra_list_diversity",
    "leave_last_out_split",
    "live_rooms",
    "map_at_k",
    "mean_average_precision",
    "ndcg_at_k",
    "next_item_hit_rate_at_k",
    "next_item_ndcg_at_k",
    "next_item_ranks",
    "next_stream_hit_rate",
    "NextStreamEvaluation",
    "evaluate_next_stream",
    "novelty",
    "order_sequences",
    "precision_at_k",
    "rank_targets",
    "recall_at_k",
    "recommend_rooms",
    "rerank_room_lists",
    "rerank_with_live_signals",
    "select_top_k",
    "split_interactions",
    "stratified_random_split",
    "temporal_split",
    "user_scores",
]
