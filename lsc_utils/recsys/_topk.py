"""Batched top-k selection over score blocks and sparse-matrix helpers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils.recsys._common import SCORE_BATCH_CELLS

# ---------------------------------------------------------------------------------------------
# Top-k selection and sparse helpers
# ---------------------------------------------------------------------------------------------


def select_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the k best scores of each row, best first.

    Ties are broken by column position (smaller first), so the result does not depend on the
    partition algorithm. ``-inf`` marks excluded cells; they can appear at the end of a row when
    fewer than k cells are finite. Cost: one ``argpartition`` and one comparison pass over the
    array; rows whose k-th value is tied across the cut are resolved exactly.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape (n_rows, n_columns), no NaN.
    k : int
        Number of columns to keep (capped at n_columns).

    Returns
    -------
    columns, values : numpy.ndarray
        Shape (n_rows, min(k, n_columns)).
    """
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff == 0 or n_rows == 0:
        return np.zeros((n_rows, k_eff), dtype=np.int64), np.zeros((n_rows, k_eff), dtype=scores.dtype)
    if k_eff < n_cols:
        columns = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        kth = np.take_along_axis(scores, columns, axis=1).min(axis=1, keepdims=True)
        chosen_at_kth = (np.take_along_axis(scores, columns, axis=1) == kth).sum(axis=1)
        ambiguous = (scores == kth).sum(axis=1) != chosen_at_kth
        if ambiguous.any():
            columns[ambiguous] = _first_columns_at_cut(scores[ambiguous], kth[ambiguous], k_eff)
        columns = np.sort(columns, axis=1)
    else:
        columns = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    values = np.take_along_axis(scores, columns, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(values, order, axis=1)


def _first_columns_at_cut(scores: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    """Columns above the k-th value plus the leftmost columns equal to it, k per row."""
    above = scores > kth
    at = scores == kth
    slots = k - above.sum(axis=1, keepdims=True)
    chosen = above | (at & (np.cumsum(at, axis=1) <= slots))
    return np.nonzero(chosen)[1].reshape(len(scores), k)


def _top_k_similarity(vectors: sp.csr_matrix, n_neighbors: int, shrink: float, cosine: bool) -> sp.csr_matrix:
    """Each row's ``n_neighbors`` most similar other rows (positive similarities only), in blocks.

    Similarity = ``dot / (|a| |b| + shrink)`` with ``cosine`` else the plain dot product. A block
    of rows is compared with all rows as one dense array, so memory stays at SCORE_BATCH_CELLS.
    """
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    n_rows = vectors.shape[0]
    transposed = vectors.T.tocsr()
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    rows, cols, vals = [], [], []
    for batch in _batches(n_rows, n_rows):
        block = np.arange(batch.start, batch.stop)
        similarity = (vectors[batch] @ transposed).toarray()
        if cosine:
            denominator = np.outer(norms[batch], norms) + shrink
            similarity = np.divide(similarity, denominator, out=np.zeros_like(similarity), where=denominator > 0)
        similarity[np.arange(len(block)), block] = 0.0
        columns, values = select_top_k(similarity, n_neighbors)
        keep = (values > 0).ravel()
        rows.append(np.repeat(block, columns.shape[1])[keep])
        cols.append(columns.ravel()[keep])
        vals.append(values.ravel()[keep])
    result = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, n_rows))
    result.sort_indices()
    return result


def _row_normalize(matrix: sp.spmatrix, norm: str) -> sp.csr_matrix:
    """Divide each row by its sum (``"l1"``), max (``"max"``) or Euclidean norm (``"l2"``); zero rows stay 0."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    if norm == "l1":
        denominator = np.asarray(matrix.sum(axis=1)).ravel()
    elif norm == "max":
        denominator = matrix.max(axis=1).toarray().ravel()
    else:
        denominator = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def bm25_weight(matrix: sp.spmatrix, k1: float = 100.0, b: float = 0.8) -> sp.csr_matrix:
    """BM25-weight the rows of a documents x terms matrix (as ``implicit.nearest_neighbours.bm25_weight``).

    ``w = x (k1 + 1) / (k1 (1 - b + b len / avg_len) + x) * idf``, ``idf = ln(N) - ln(1 + df)``
    with N = number of rows and df = number of rows where the term (column) occurs.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        Documents (rows) x terms (columns); for item-based CF the rows are items, the terms users.
    k1, b : float
        BM25 saturation and length-normalization parameters (``implicit``'s defaults).

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    coo = sp.coo_matrix(matrix, dtype=np.float64)
    n_docs = float(coo.shape[0])
    idf = np.log(n_docs) - np.log1p(np.bincount(coo.col, minlength=coo.shape[1]))
    lengths = np.asarray(coo.sum(axis=1)).ravel()
    average = lengths.mean() if lengths.size else 1.0
    length_norm = (1.0 - b) + b * lengths / (average if average > 0 else 1.0)
    data = coo.data * (k1 + 1.0) / (k1 * length_norm[coo.row] + coo.data) * idf[coo.col]
    return sp.csr_matrix((data, (coo.row, coo.col)), shape=coo.shape)


def _batches(n_rows: int, width: int) -> Iterator[slice]:
    """Slices over ``n_rows`` so that a dense block of ``width`` columns stays near SCORE_BATCH_CELLS."""
    size = max(1, SCORE_BATCH_CELLS // max(width, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _selection_matrix(positions: np.ndarray, n_source: int) -> sp.csr_matrix:
    """Sparse (n_source x len(positions)) 0/1 matrix picking column j = source ``positions[j]`` (-1: zeros)."""
    known = positions >= 0
    return sp.csr_matrix(
        (np.ones(int(known.sum())), (positions[known], np.flatnonzero(known))), shape=(n_source, len(positions))
    )


def _empty_recommendations() -> pd.DataFrame:
    """A recommendation frame without rows."""
    return pd.DataFrame(
        {"user_id": pd.Series([], dtype=object), "item_id": pd.Series([], dtype=object), "rank": [], "score": []}
    ).astype({"rank": "int64", "score": "float64"})
