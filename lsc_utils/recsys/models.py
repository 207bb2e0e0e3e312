"""Recommenders: popularity, item/user kNN, ALS/BPR (implicit), EASE, repeat-aware and hybrid."""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import SEED
from lsc_utils.recsys._common import _check_float
from lsc_utils.recsys._topk import _batches, _empty_recommendations, _top_k_similarity, bm25_weight, select_top_k
from lsc_utils.recsys.interactions import Interactions, _check_interactions

# ---------------------------------------------------------------------------------------------
# Recommenders
# ---------------------------------------------------------------------------------------------


class BaseRecommender(BaseEstimator, ABC):
    """Shared fit / score / recommend logic of the matrix-based recommenders.

    Subclasses implement ``_fit`` (learn from ``interactions_``) and ``_score_rows`` (dense scores
    of a block of training-user rows against the catalog ``item_index_``).

    Fitted attributes: ``interactions_`` (the training :class:`Interactions`) and ``item_index_``
    (the ids the model can recommend, in column order).
    """

    def fit(self, interactions: Interactions) -> BaseRecommender:
        """Learn from a user x item :class:`Interactions` matrix.

        Parameters
        ----------
        interactions : Interactions
            Training interactions (see :func:`build_interactions`).

        Returns
        -------
        self
        """
        self.interactions_ = _check_interactions(interactions, type(self).__name__)
        self.item_index_ = self._build_catalog(interactions)
        self._fit(interactions)
        return self

    def _build_catalog(self, interactions: Interactions) -> pd.Index:
        """The recommendable item ids; the first columns must be the interaction matrix's items."""
        return interactions.item_index

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None:
        """Learn the model's fitted attributes."""

    @abstractmethod
    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Fresh dense (len(rows), n_catalog) score array of training-user rows."""

    def _user_rows(self, user_ids: Sequence[Any] | pd.Index | np.ndarray | None) -> np.ndarray:
        """Training rows of the requested users (unique, first-occurrence order; unknown ids dropped)."""
        if user_ids is None:
            return np.arange(self.interactions_.n_users)
        positions = self.interactions_.user_positions(pd.Index(user_ids).unique())
        return positions[positions >= 0]

    def _candidate_mask(self, items: Sequence[Any] | pd.Index | np.ndarray | None) -> np.ndarray | None:
        """Boolean mask over the catalog of the allowed items (None: all)."""
        if items is None:
            return None
        positions = self.item_index_.get_indexer(pd.Index(items))
        mask = np.zeros(len(self.item_index_), dtype=bool)
        mask[positions[positions >= 0]] = True
        return mask

    def _mask_seen(self, scores: np.ndarray, rows: np.ndarray) -> None:
        """Set the scores of items each user interacted with in training to -inf (in place)."""
        seen = self.interactions_.matrix[rows]
        seen_rows = np.repeat(np.arange(len(rows)), np.diff(seen.indptr))
        scores[seen_rows, seen.indices] = -np.inf

    def _batch_width(self) -> int:
        """Widest dense array (columns) ``_score_rows`` allocates per user."""
        return len(self.item_index_)

    def score_users(self, user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None) -> pd.DataFrame:
        """Dense scores of users (rows) against the whole catalog (columns), seen items included.

        Meant for inspection of small sets of users; :meth:`recommend` scores in batches.

        Parameters
        ----------
        user_ids : sequence, optional
            Training users to score (unknown ids are dropped). Default: all training users.

        Returns
        -------
        pandas.DataFrame
            Index = user ids, columns = ``item_index_``.
        """
        check_is_fitted(self, "interactions_")
        rows = self._user_rows(user_ids)
        scores = self._score_rows(rows) if len(rows) else np.zeros((0, len(self.item_index_)))
        return pd.DataFrame(scores, index=self.interactions_.user_index.take(rows), columns=self.item_index_)

    def recommend(
        self,
        user_ids: Sequence[Any] | pd.Index | np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[Any] | pd.Index | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Top-k recommendations of each requested user.

        Parameters
        ----------
        user_ids : sequence, optional
            Users to recommend for; ids unknown to the training data are skipped (use
            :class:`HybridRecommender` to serve them). Default: every training user.
        k : int, default 10
            List length (shorter when fewer items are eligible).
        exclude_seen : bool, default True
            Drop items the user interacted with in the training data.
        items : sequence, optional
            Restrict the candidates to these item ids (e.g. the items on sale in a room).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, rank, score``: rank 1 = best, users in request order.
        """
        check_is_fitted(self, "interactions_")
        k = _check_int(k, "k", f"{type(self).__name__}.recommend")
        rows = self._user_rows(user_ids)
        candidates = self._candidate_mask(items)
        parts = []
        for batch in _batches(len(rows), self._batch_width()):
            block = rows[batch]
            scores = self._score_rows(block)
            if exclude_seen:
                self._mask_seen(scores, block)
            if candidates is not None:
                scores[:, ~candidates] = -np.inf
            columns, values = select_top_k(scores, k)
            parts.append(self._recommendation_frame(block, columns, values))
        if not parts:
            return _empty_recommendations()
        return pd.concat(parts, ignore_index=True)

    def _recommendation_frame(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> pd.DataFrame:
        """Long frame of a block's top-k selection, -inf cells dropped."""
        n_rows, width = columns.shape
        valid = np.isfinite(values).ravel()
        return pd.DataFrame(
            {
                "user_id": self.interactions_.user_index.take(np.repeat(rows, width)[valid]),
                "item_id": self.item_index_.take(columns.ravel()[valid]),
                "rank": np.tile(np.arange(1, width + 1, dtype=np.int64), n_rows)[valid],
                "score": values.ravel()[valid].astype(np.float64),
            }
        )


class PopularityRecommender(BaseRecommender):
    """Recommend the most popular items (the same ranking for every user).

    Parameters
    ----------
    by : {"users", "weight"}, default "users"
        Popularity = number of distinct training users of the item, or the item's summed weight.

    Attributes
    ----------
    popularity_ : numpy.ndarray
        Popularity of each catalog item.
    """

    def __init__(self, by: str = "users") -> None:
        self.by = by

    def _fit(self, interactions: Interactions) -> None:
        _check_choice(self.by, "by", "PopularityRecommender", ("users", "weight"))
        matrix = interactions.matrix
        if self.by == "users":
            self.popularity_ = np.diff(matrix.tocsc().indptr).astype(np.float64)
        else:
            self.popularity_ = np.asarray(matrix.sum(axis=0)).ravel()

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(rows), 1))

    def top_items(self, k: int = 10, items: Sequence[Any] | pd.Index | np.ndarray | None = None) -> pd.DataFrame:
        """The non-personalized top-k list ``item_id, rank, score`` (no user history used).

        Parameters
        ----------
        k : int, default 10
            List length.
        items : sequence, optional
            Restrict to these item ids.

        Returns
        -------
        pandas.DataFrame
        """
        check_is_fitted(self, "popularity_")
        k = _check_int(k, "k", "PopularityRecommender.top_items")
        scores = self.popularity_[None, :].copy()
        candidates = self._candidate_mask(items)
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        columns, values = select_top_k(scores, k)
        valid = np.isfinite(values[0])
        return pd.DataFrame(
            {
                "item_id": self.item_index_.take(columns[0][valid]),
                "rank": np.arange(1, int(valid.sum()) + 1, dtype=np.int64),
                "score": values[0][valid].astype(np.float64),
            }
        )


class ItemKNNRecommender(BaseRecommender):
    """Item-based collaborative filtering with top-K neighbours.

    ``score(u, i) = sum_j x_uj * s_ji`` over the items j of user u, where row j of the similarity
    keeps only item j's ``n_neighbors`` most similar items (as in ``implicit``'s ItemItemRecommender).

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours kept per item (``implicit``'s default K).
    similarity : {"cosine", "bm25"}, default "cosine"
        ``"cosine"``: cosine of the item columns, ``dot / (|a| |b| + shrink)``. ``"bm25"``: dot product
        of the BM25-weighted item x user rows (:func:`bm25_weight`), as ``implicit``'s BM25Recommender.
    shrink : float, default 0.0
        Cosine shrinkage term (damps similarities that rest on few common users).
    bm25_k1, bm25_b : float
        BM25 parameters (``implicit``'s defaults 100 and 0.8).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        Pruned item x item similarity (row j = the positive similarities of item j's neighbours).
    """

    def __init__(
        self,
        n_neighbors: int = 20,
        similarity: str = "cosine",
        shrink: float = 0.0,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.similarity = similarity
        self.shrink = shrink
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _fit(self, interactions: Interactions) -> None:
        owner = "ItemKNNRecommender"
        n_neighbors = _check_int(self.n_neighbors, "n_neighbors", owner)
        _check_choice(self.similarity, "similarity", owner, ("cosine", "bm25"))
        shrink = _check_float(self.shrink, "shrink", owner, 0.0, math.inf)
        item_users = interactions.matrix.T.tocsr()
        if self.similarity == "cosine":
            self.similarity_ = _top_k_similarity(item_users, n_neighbors, shrink, cosine=True)
        else:
            weighted = bm25_weight(item_users, self.bm25_k1, self.bm25_b)
            self.similarity_ = _top_k_similarity(weighted, n_neighbors, 0.0, cosine=False)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.interactions_.matrix[rows] @ self.similarity_).toarray()


class UserKNNRecommender(BaseRecommender):
    """User-based collaborative filtering with top-K neighbour users.

    ``score(u, i) = sum_{v in N_K(u)} cos(u, v) * x_vi`` where N_K(u) are the ``n_neighbors`` users
    most similar to u (cosine of the user rows, ``dot / (|u| |v| + shrink)``, u itself excluded).

    Parameters
    ----------
    n_neighbors : int, default 50
        Neighbour users per user.
    shrink : float, default 0.0
        Cosine shrinkage term.

    Attributes
    ----------
    user_norms_ : numpy.ndarray
        Euclidean norm of each training user's row.
    item_users_ : scipy.sparse.csr_matrix
        The transposed training matrix (items x users), for the user-user dot products.
    """

    def __init__(self, n_neighbors: int = 50, shrink: float = 0.0) -> None:
        self.n_neighbors = n_neighbors
        self.shrink = shrink

    def _fit(self, interactions: Interactions) -> None:
        _check_int(self.n_neighbors, "n_neighbors", "UserKNNRecommender")
        _check_float(self.shrink, "shrink", "UserKNNRecommender", 0.0, math.inf)
        matrix = interactions.matrix
        self.user_norms_ = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.item_users_ = matrix.T.tocsr()

    def _batch_width(self) -> int:
        return max(self.interactions_.n_users, len(self.item_index_))

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        matrix = self.interactions_.matrix
        dots = (matrix[rows] @ self.item_users_).toarray()
        denominator = np.outer(self.user_norms_[rows], self.user_norms_) + self.shrink
        similarity = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
        similarity[np.arange(len(rows)), rows] = 0.0
        neighbours, weights = select_top_k(similarity, self.n_neighbors)
        width = neighbours.shape[1]
        sparse_similarity = sp.csr_matrix(
            (weights.ravel(), (np.repeat(np.arange(len(rows)), width), neighbours.ravel())),
            shape=(len(rows), self.interactions_.n_users),
        )
        return (sparse_similarity @ matrix).toarray()


def _implicit_models() -> tuple[type, type]:
    """Import ``implicit``'s CPU ALS and BPR classes (OPENBLAS_NUM_THREADS=1 set first if unset)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    return AlternatingLeastSquares, BayesianPersonalizedRanking


class _FactorRecommender(BaseRecommender):
    """Scores = user factors x item factors (the dot product ``implicit`` ranks by)."""

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        # float64 products: float32 sums differ in the last bits between BLAS kernels (CPUs), which
        # would flip near-ties in the rankings
        return self.user_factors_[rows].astype(np.float64) @ self.item_factors_.T.astype(np.float64)

    def _train_implicit(self, model: Any, interactions: Interactions) -> None:
        """Fit an ``implicit`` model on the user_items CSR matrix with single-threaded BLAS."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model.fit(sp.csr_matrix(interactions.matrix, dtype=np.float32), show_progress=False)
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)


class ALSRecommender(_FactorRecommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with ``implicit.cpu.als``.

    The confidence of a cell is ``1 + alpha * weight``; ``implicit`` fits on the users x items
    ``user_items`` CSR matrix (rows = users), which is :attr:`Interactions.matrix` as is.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions.
    regularization : float, default 10.0
        L2 penalty. ``implicit`` does not scale it by the number of interactions, so it must grow
        with the data: on MovieLens 100k (75 % train, 32-64 factors) values 3-10 give
        precision@10 0.36-0.43, while 0.05-1 overfit (0.30-0.34).
    alpha : float, default 1.0
        Confidence scaling of the weights.
    iterations : int, default 15
        ALS sweeps.
    random_state : int, default SEED
        Seed of the factor initialization.
    num_threads : int, default 0
        Threads of ``implicit`` (0 = all cores). Each user's / item's solve is independent, so the
        result does not depend on the thread count. Factors are float64: in float32 the BLAS kernel
        of the CPU changes the last bits, which flips near-ties in the rankings between machines.

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        Learned factors (float64).
    model_ : implicit.cpu.als.AlternatingLeastSquares
        The fitted ``implicit`` model.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int | None = SEED,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        owner = "ALSRecommender"
        _check_int(self.factors, "factors", owner)
        _check_int(self.iterations, "iterations", owner)
        _check_int(self.num_threads, "num_threads", owner, minimum=0)
        _check_float(self.regularization, "regularization", owner, 0.0, math.inf)
        _check_float(self.alpha, "alpha", owner, 0.0, math.inf, low_open=True)
        als_class, _ = _implicit_models()
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model = als_class(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
                dtype=np.float64,
            )
        self._train_implicit(model, interactions)


class BPRRecommender(_FactorRecommender):
    """Bayesian Personalized Ranking (Rendle et al. 2009) with ``implicit.cpu.bpr``.

    BPR uses the matrix's non-zero pattern only (weights are ignored). ``implicit``'s SGD is
    Hogwild-parallel, which makes results depend on thread timing, so ``num_threads`` defaults to 1
    to keep runs reproducible.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions (``implicit`` adds one item-bias factor).
    learning_rate : float, default 0.01
        SGD step.
    regularization : float, default 0.01
        L2 penalty.
    iterations : int, default 60
        Epochs over the positives (``implicit``'s BPR overfits small data with more epochs).
    random_state : int, default SEED
        Seed of initialization and sampling.
    num_threads : int, default 1
        Threads of ``implicit`` (more is faster but not reproducible).

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        Learned factors (float32, including the bias column).
    model_ : implicit.cpu.bpr.BayesianPersonalizedRanking
        The fitted ``implicit`` model.
    """

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 60,
        random_state: int | None = SEED,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        owner = "BPRRecommender"
        _check_int(self.factors, "factors", owner)
        _check_int(self.iterations, "iterations", owner)
        _check_int(self.num_threads, "num_threads", owner, minimum=0)
        _check_float(self.learning_rate, "learning_rate", owner, 0.0, math.inf, low_open=True)
        _check_float(self.regularization, "regularization", owner, 0.0, math.inf)
        _, bpr_class = _implicit_models()
        model = bpr_class(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=self.num_threads,
        )
        self._train_implicit(model, interactions)


def ease_item_weights(matrix: sp.spmatrix, l2: float) -> np.ndarray:
    """EASE's item x item weights (Steck, WWW 2019): ``B = I - P / diag(P)``, ``P = (X'X + l2 I)^-1``.

    The closed form of ``min_B |X - XB|^2 + l2 |B|^2`` subject to ``diag(B) = 0``.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        Users x items training matrix X.
    l2 : float
        L2 penalty (> 0).

    Returns
    -------
    numpy.ndarray
        Dense (n_items, n_items) float64 weights with a zero diagonal.
    """
    x = sp.csr_matrix(matrix, dtype=np.float64)
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


class EASERecommender(BaseRecommender):
    """Embarrassingly shallow autoencoder EASE (Steck, WWW 2019): ``score(u) = x_u B``.

    ``B`` is the closed-form item x item regression of each item on all the others
    (:func:`ease_item_weights`). One dense (n_items x n_items) inverse: fast up to some 20,000 items.
    Steck reports it on par with or better than Mult-VAE on ML-20M, Netflix and MSD.

    Parameters
    ----------
    l2 : float, default 500.0
        L2 penalty (Steck uses 500 on ML-20M; smaller data needs less, e.g. 100-500 on ML-100k).
    binary : bool, default True
        Fit on the 0/1 pattern of the matrix (as the paper) instead of its weights.

    Attributes
    ----------
    weights_ : numpy.ndarray
        The (n_items, n_items) weight matrix B, zero diagonal.
    """

    def __init__(self, l2: float = 500.0, binary: bool = True) -> None:
        self.l2 = l2
        self.binary = binary

    def _input(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """The matrix the model regresses on: its 0/1 pattern or its weights."""
        if not self.binary:
            return matrix
        pattern = matrix.copy()
        pattern.data = np.ones_like(pattern.data)
        return pattern

    def _fit(self, interactions: Interactions) -> None:
        l2 = _check_float(self.l2, "l2", "EASERecommender", 0.0, math.inf, low_open=True)
        self.weights_ = ease_item_weights(self._input(interactions.matrix), l2)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._input(self.interactions_.matrix[rows]) @ self.weights_)
