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

Re-ranking loops over users (each a few dozen candidates), never over events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns

ALPHA: float = 0.01


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


def rerank_lists(
    candidates: pd.DataFrame, history: pd.DataFrame, k: int, lam: float, method: str = "calibrated"
) -> pd.DataFrame:
    """Re-rank every user's candidates into a top-``k`` list.

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
        ``user_id, item_id, rank`` (1-based).
    """
    require_columns(candidates, ["user_id", "item_id", "score", "category"], "candidates", "rerank_lists")
    if method not in ("calibrated", "mmr"):
        raise ValueError(f"The 'method' parameter of rerank_lists must be 'calibrated' or 'mmr'. Got {method!r}.")
    category_index = {c: j for j, c in enumerate(history.columns)}
    known = candidates[candidates["category"].isin(category_index)]
    rows = []
    for user, part in known.groupby("user_id", sort=True):
        scores = part["score"].to_numpy(dtype=float)
        spread = scores.max() - scores.min()
        relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        if method == "calibrated" and user in history.index:
            picks = calibrated_rerank(
                relevance, part["category"].to_numpy(), history.loc[user].to_numpy(), category_index, k, lam
            )
        else:
            picks = mmr_rerank(relevance, part["category"].to_numpy(), k, lam if method == "mmr" else 1.0)
        items = part["item_id"].to_numpy()[picks]
        rows.append(pd.DataFrame({"user_id": user, "item_id": items, "rank": np.arange(1, items.size + 1)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["user_id", "item_id", "rank"])
