"""Filter bubbles and over-personalisation: calibration, diversity, entropy, and re-ranking that trades
accuracy for them.

* **Calibration** (Steck 2018): ``C_KL = KL(p || q~)`` between the category mix ``p`` of a user's
  history and the mix ``q`` of their list, with ``q~ = (1 - alpha) q + alpha p`` (``alpha = 0.01``) so
  a category missing from the list gives a large but finite value. A history (0.7, 0.3) against an
  all-one-category top-10 gives 1.13398175; a 7/3 list 0; an 8/2 list 0.02754684.
* **Intra-list diversity**: the share of pairs of listed items from different categories.
* **Category entropy** (nats) of the list and of the history.
* **Calibrated re-ranking** (Steck 2018): greedily add the candidate maximising
  ``(1 - lam) * sum of relevance - lam * C_KL(p, q(list))``; ``lam = 0`` is the relevance order.
* **MMR** (Carbonell & Goldstein 1998): greedily add the candidate maximising
  ``lam * relevance - (1 - lam) * max similarity to the items already listed`` (similarity = same
  category); ``lam = 1`` is the relevance order.

:func:`rerank_lists` runs the greedy selection for a chunk of users at once (candidates padded into a
users x candidates array), never over events; :func:`calibrated_rerank` and :func:`mmr_rerank` re-rank one
user's candidates and are the reference it reproduces exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns

ALPHA: float = 0.01
CHUNK_USERS: int = 2000  # users re-ranked together by rerank_lists (bounds its working arrays)


def category_mix(table: pd.DataFrame, categories: list[str], weight: str | None = None) -> pd.DataFrame:
    """Each user's share of every category (rows sum to 1) from ``user_id, category`` rows (optionally weighted)."""
    require_columns(table, ["user_id", "category"], "table", "category_mix")
    values = table[weight] if weight else pd.Series(1.0, index=table.index)
    mix = values.groupby([table["user_id"], table["category"]]).sum().unstack(fill_value=0.0)
    mix = mix.reindex(columns=categories, fill_value=0.0)
    return mix.div(mix.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)


def calibration_kl(p: np.ndarray, q: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Steck's ``C_KL`` of each row: ``sum_c p_c log(p_c / q~_c)`` with ``q~ = (1 - alpha) q + alpha p``."""
    p, q = np.atleast_2d(np.asarray(p, dtype=float)), np.atleast_2d(np.asarray(q, dtype=float))
    smoothed = (1 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / smoothed), 0.0)
    return terms.sum(axis=1)


def entropy(mix: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of category shares."""
    mix = np.atleast_2d(np.asarray(mix, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(mix > 0, mix * np.log(mix), 0.0).sum(axis=1)


def intra_list_diversity(categories: np.ndarray) -> float:
    """Share of pairs of listed items whose categories differ (0 for a list of one category)."""
    cats = np.asarray(categories, dtype=object)
    if cats.size < 2:
        return 0.0
    same = (cats[:, None] == cats[None, :]).sum() - cats.size
    return float(1.0 - same / (cats.size * (cats.size - 1)))


def calibrated_rerank(
    scores: np.ndarray, categories: np.ndarray, history: np.ndarray, category_index: dict, k: int, lam: float
) -> np.ndarray:
    """Indices of the ``k`` candidates chosen by Steck's greedy calibrated re-ranking."""
    scores = np.asarray(scores, dtype=float)
    codes = np.array([category_index[c] for c in categories])
    n_cat = len(category_index)
    chosen: list[int] = []
    counts = np.zeros(n_cat)
    total = 0.0
    for _ in range(min(k, scores.size)):
        free = np.setdiff1d(np.arange(scores.size), chosen, assume_unique=True)
        trial = counts[None, :] + np.eye(n_cat)[codes[free]]
        q = trial / trial.sum(axis=1, keepdims=True)
        kl = calibration_kl(np.broadcast_to(history, q.shape), q)
        value = (1 - lam) * (total + scores[free]) - lam * kl
        pick = int(free[np.argmax(value)])
        chosen.append(pick)
        counts[codes[pick]] += 1
        total += scores[pick]
    return np.asarray(chosen, dtype=int)


def mmr_rerank(scores: np.ndarray, categories: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Indices of the ``k`` candidates chosen by maximal marginal relevance (category similarity)."""
    scores = np.asarray(scores, dtype=float)
    cats = np.asarray(categories, dtype=object)
    chosen: list[int] = []
    for _ in range(min(k, scores.size)):
        free = np.setdiff1d(np.arange(scores.size), chosen, assume_unique=True)
        similar = np.isin(cats[free], cats[chosen]).astype(float) if chosen else np.zeros(free.size)
        value = lam * scores[free] - (1 - lam) * similar
        chosen.append(int(free[np.argmax(value)]))
    return np.asarray(chosen, dtype=int)


def _greedy_chunk(
    relevance: np.ndarray,
    codes: np.ndarray,
    valid: np.ndarray,
    n_picks: np.ndarray,
    n_cat: int,
    lam: float,
    history: np.ndarray | None,
) -> np.ndarray:
    """Greedy re-ranking of a chunk of users at once, step by step as in the per-user functions.

    Parameters
    ----------
    relevance : numpy.ndarray
        Relevance of each user's candidates, shape ``(n_users, width)`` (padding anywhere ``valid`` is false).
    codes : numpy.ndarray
        Category code of each candidate (column of the history), same shape, integers.
    valid : numpy.ndarray
        Which slots hold a candidate, same shape, booleans.
    n_picks : numpy.ndarray
        Number of candidates to choose for each user, shape ``(n_users,)``.
    n_cat : int
        Number of categories.
    lam : float
        Trade-off weight of the method.
    history : numpy.ndarray or None
        Category mix of each user's history, shape ``(n_users, n_cat)``: Steck's calibrated re-ranking
        (:func:`calibrated_rerank`); ``None``: MMR (:func:`mmr_rerank`).

    Returns
    -------
    numpy.ndarray
        Chosen slots in order, shape ``(n_users, max(n_picks))``; ``-1`` after a user's last pick.

    Notes
    -----
    Every step evaluates the same expressions as the per-user functions on the same numbers, so the
    picks are identical: chosen and padded slots get ``-inf`` and ``argmax`` takes the first maximal
    slot, as it does over the ascending free indices. The calibrated value depends on a candidate only
    through its relevance and its category, so ``C_KL`` is computed once per (user, category) and
    gathered for each candidate.
    """
    n_users = relevance.shape[0]
    steps = int(n_picks.max()) if n_users else 0
    chosen = np.full((n_users, steps), -1, dtype=int)
    free = valid.copy()
    users = np.arange(n_users)
    eye = np.eye(n_cat)
    counts = np.zeros((n_users, n_cat))
    total = np.zeros(n_users)
    listed = np.zeros((n_users, n_cat), dtype=bool)
    for step in range(steps):
        active = users[n_picks > step]
        rel, code = relevance[active], codes[active]
        if history is not None:
            trial = counts[active][:, None, :] + eye[None, :, :]  # row c: the list after adding a category-c item
            q = trial / trial.sum(axis=2, keepdims=True)
            p = np.repeat(history[active], n_cat, axis=0)
            kl = calibration_kl(p, q.reshape(-1, n_cat)).reshape(active.size, n_cat)
            value = (1 - lam) * (total[active][:, None] + rel) - lam * np.take_along_axis(kl, code, axis=1)
        else:
            similar = np.take_along_axis(listed[active], code, axis=1).astype(float)
            value = lam * rel - (1 - lam) * similar
        value[~free[active]] = -np.inf
        pick = np.argmax(value, axis=1)
        chosen[active, step] = pick
        free[active, pick] = False
        category = code[np.arange(active.size), pick]
        if history is not None:
            counts[active, category] += 1
            total[active] += rel[np.arange(active.size), pick]
        else:
            listed[active, category] = True
    return chosen


def rerank_lists(
    candidates: pd.DataFrame, history: pd.DataFrame, k: int, lam: float, method: str = "calibrated"
) -> pd.DataFrame:
    """Re-rank every user's candidates into a top-``k`` list.

    Each user's scores are min-max scaled into relevance (all ones when they are all equal), then
    re-ranked by :func:`calibrated_rerank` (a user without history falls back to relevance order, MMR
    with ``lam = 1``) or by :func:`mmr_rerank`. Candidates whose category is not a column of ``history``
    are dropped. The greedy steps run for :data:`CHUNK_USERS` users at once; the lists equal those of the
    per-user functions.

    Parameters
    ----------
    candidates : pandas.DataFrame
        ``user_id, item_id, score, category`` (a few dozen per user, e.g. a recommender's top 50).
    history : pandas.DataFrame
        Category mix of each user's history (:func:`category_mix`), users as index.
    k : int
        List length.
    lam : float
        Trade-off weight in [0, 1] (see the module docstring for each method's convention).
    method : {"calibrated", "mmr"}

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id, rank`` (1-based), users in sorted order.
    """
    require_columns(candidates, ["user_id", "item_id", "score", "category"], "candidates", "rerank_lists")
    if method not in ("calibrated", "mmr"):
        raise ValueError(f"The 'method' parameter of rerank_lists must be 'calibrated' or 'mmr'. Got {method!r}.")
    category_index = {c: j for j, c in enumerate(history.columns)}
    known = candidates[candidates["category"].isin(category_index)]
    user_codes, users = pd.factorize(known["user_id"], sort=True)
    kept = np.flatnonzero(user_codes >= 0)  # groupby drops missing user ids
    if kept.size == 0:
        return pd.DataFrame(columns=["user_id", "item_id", "rank"])
    order = kept[np.argsort(user_codes[kept], kind="stable")]  # grouped by user, original order within a user
    group = user_codes[order]
    sizes = np.bincount(group, minlength=len(users))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    slot = np.arange(order.size) - starts[group]
    scores = known["score"].to_numpy(dtype=float)[order]
    codes = pd.Index(history.columns).get_indexer(known["category"].to_numpy()[order])
    calibrated = users.isin(history.index) if method == "calibrated" else np.zeros(len(users), dtype=bool)
    mmr_lam = lam if method == "mmr" else 1.0
    n_cat = len(category_index)
    picks = np.full((len(users), max(min(k, int(sizes.max())), 0)), -1, dtype=int)
    for first in range(0, len(users), CHUNK_USERS):
        last = min(first + CHUNK_USERS, len(users))
        rows = slice(starts[first], starts[last])
        local, width = group[rows] - first, int(sizes[first:last].max())
        valid = np.zeros((last - first, width), dtype=bool)
        valid[local, slot[rows]] = True
        dense = np.zeros((last - first, width))
        dense[local, slot[rows]] = scores[rows]
        low = np.where(valid, dense, np.inf).min(axis=1)[:, None]
        spread = np.where(valid, dense, -np.inf).max(axis=1)[:, None] - low
        with np.errstate(divide="ignore", invalid="ignore"):
            relevance = np.where(spread > 0, (dense - low) / spread, 1.0)
        code = np.zeros((last - first, width), dtype=int)
        code[local, slot[rows]] = codes[rows]
        n_picks = np.clip(np.minimum(k, sizes[first:last]), 0, None)
        for steck in (True, False):
            part = np.flatnonzero(calibrated[first:last] == steck)
            if part.size == 0:
                continue
            mix = history.loc[users[first + part]].to_numpy(dtype=float) if steck else None
            chosen = _greedy_chunk(
                relevance[part], code[part], valid[part], n_picks[part], n_cat, lam if steck else mmr_lam, mix
            )
            picks[first + part, : chosen.shape[1]] = chosen
    user, rank = np.nonzero(picks >= 0)  # row-major: users in sorted order, ranks ascending
    positions = order[starts[user] + picks[user, rank]]
    return pd.DataFrame({"user_id": users[user], "item_id": known["item_id"].to_numpy()[positions], "rank": rank + 1})
