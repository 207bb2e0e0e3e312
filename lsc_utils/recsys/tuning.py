"""Honest comparisons: tune every model on the same validation split, repeat neural models over seeds.

Ferrari Dacrema et al. (RecSys 2019) found most neural recommenders beaten by simple baselines that were
tuned as carefully. The helpers here carve a validation split out of the **training** matrix (never
the test split), pick each model's parameter on it by NDCG@k, and fit a seeded model several times so
its spread is shown next to its mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from tqdm import tqdm

from lsc_utils.constants import SEED
from lsc_utils.evaluation import evaluate
from lsc_utils.recsys.interactions import Interactions
from lsc_utils.recsys.next_item import evaluate_next_item

ACCURACY = ("precision", "recall", "ndcg", "map", "hit_rate", "catalog_coverage", "novelty")
"""Metrics reported per seed and as mean ± sd."""


def validation_split(
    train: Interactions, fraction: float = 0.2, random_state: int = SEED
) -> tuple[Interactions, pd.DataFrame]:
    """A random ``fraction`` of each training user's items held out as validation pairs.

    Returns
    -------
    kept : Interactions
        The training matrix without the held-out cells (same users and items).
    validation : pandas.DataFrame
        ``user_id, item_id`` pairs held out.
    """
    from lsc_utils.recsys.deep_vae import hold_out_per_user  # numpy only, but its module starts JAX

    kept, held = hold_out_per_user(train.matrix, fraction, np.random.default_rng(random_state))
    kept = sp.csr_matrix(kept)
    kept.eliminate_zeros()
    held = held.tocoo()
    validation = pd.DataFrame(
        {"user_id": train.user_index[held.row].to_numpy(), "item_id": train.item_index[held.col].to_numpy()}
    )
    return Interactions(kept, train.user_index, train.item_index), validation


def _grid_search(grid: Sequence[Any], score: Callable[[Any], float]) -> tuple[Any, pd.DataFrame]:
    """The first grid value with the best score, and the ``value, validation_ndcg`` table of all of them."""
    scores = [score(value) for value in grid]
    return grid[int(np.argmax(scores))], pd.DataFrame({"value": list(grid), "validation_ndcg": scores})


def _ndcg(model: Any, train: Interactions, test: pd.DataFrame, k: int) -> float:
    recs = model.fit(train).recommend(train.user_index, k=k)
    return float(evaluate(recs, test, k, train=train)["ndcg"])


def tune_on_validation(
    make_model: Callable[[Any], BaseEstimator],
    grid: Sequence[Any],
    train: Interactions,
    k: int = 10,
    fraction: float = 0.2,
    random_state: int = SEED,
) -> tuple[Any, pd.DataFrame]:
    """The grid value whose model ranks a validation split of ``train`` best (NDCG@k).

    Parameters
    ----------
    make_model : callable
        Grid value -> unfitted recommender.
    grid : sequence
        Values tried, in order (ties keep the first).
    train : Interactions
        The training matrix the validation split is carved from.
    k : int, default 10
    fraction : float, default 0.2
        Share of each user's training items held out for validation.
    random_state : int

    Returns
    -------
    best : object
        The chosen grid value.
    table : pandas.DataFrame
        ``value, validation_ndcg`` per grid value.
    """
    kept, validation = validation_split(train, fraction, random_state)
    return _grid_search(grid, lambda value: _ndcg(make_model(value), kept, validation, k))


def seeded_metrics(
    make_model: Callable[[int], BaseEstimator],
    seeds: Sequence[int],
    train: Interactions,
    test: pd.DataFrame,
    k: int = 10,
) -> tuple[pd.DataFrame, list[BaseEstimator]]:
    """Fit one model per seed on ``train`` and evaluate it on ``test``.

    Returns
    -------
    metrics : pandas.DataFrame
        One row per seed: ``seed`` and :data:`ACCURACY`.
    models : list
        The fitted models, in seed order (their training histories).
    """
    rows, models = [], []
    for seed in seeds:
        model = make_model(seed).fit(train)
        scores = evaluate(model.recommend(train.user_index, k=k), test, k, train=train)
        rows.append({"seed": seed, **{name: float(scores[name]) for name in ACCURACY}})
        models.append(model)
    return pd.DataFrame(rows), models


def mean_sd(metrics: pd.DataFrame, model: str) -> dict[str, Any]:
    """One comparison-table row: ``model`` and ``<metric>`` / ``<metric>_sd`` over the seeds."""
    row: dict[str, Any] = {"model": model, "seeds": len(metrics)}
    for name in ACCURACY:
        row[name] = float(metrics[name].mean())
        row[f"{name}_sd"] = float(metrics[name].std(ddof=1)) if len(metrics) > 1 else 0.0
    return row


@dataclass(frozen=True)
class Candidate:
    """A model to tune on the validation split and then fit once per seed (:func:`compare_tuned`).

    Attributes
    ----------
    name : str
        Row label of the comparison.
    parameter : str
        Label of the tuned parameter (e.g. ``"λ"``).
    grid : sequence
        Values tried, in order (ties keep the first).
    make : callable
        ``(value, seed) -> unfitted recommender``.
    seeds : sequence of int
        Seeds of the final fits (one for a deterministic model).
    """

    name: str
    parameter: str
    grid: Sequence[Any]
    make: Callable[[Any, int], BaseEstimator]
    seeds: Sequence[int]


@dataclass(frozen=True)
class TunedComparison:
    """Result of :func:`compare_tuned`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model: :func:`mean_sd` over its seeds and ``tuned`` (``"λ = 200"``; empty for a baseline).
    tuning : pandas.DataFrame
        ``model, parameter, value, validation_ndcg``: every grid value of every candidate.
    runs : pandas.DataFrame
        :data:`ACCURACY` of every fit, with ``seed`` and ``model``.
    fitted : dict
        Model name -> the fitted models, in seed order (training histories).
    """

    table: pd.DataFrame
    tuning: pd.DataFrame
    runs: pd.DataFrame
    fitted: dict[str, list[BaseEstimator]] = field(default_factory=dict)


def compare_tuned(
    candidates: Sequence[Candidate],
    train: Interactions,
    test: pd.DataFrame,
    k: int = 10,
    baselines: Mapping[str, BaseEstimator] | None = None,
    random_state: int = SEED,
    progress: bool = False,
) -> TunedComparison:
    """Tune each candidate on the same validation split of ``train``, then evaluate it on ``test`` per seed.

    Parameters
    ----------
    candidates : sequence of Candidate
        Models to tune (each on the validation split carved with ``random_state``, fitted with seed
        ``random_state`` while tuning) and then fit once per seed with the chosen value.
    train : Interactions
    test : pandas.DataFrame
        ``user_id, item_id`` pairs held out (never used while tuning).
    k : int, default 10
    baselines : mapping name -> unfitted recommender, optional
        Models with nothing to tune (e.g. popularity), fitted once; their rows come first.
    random_state : int
    progress : bool, default False
        A tqdm bar over the candidates.

    Returns
    -------
    TunedComparison
    """
    rows, runs, tuning, fitted = [], [], [], {}
    for name, model in (baselines or {}).items():
        metrics, models = seeded_metrics(lambda seed, model=model: model, [random_state], train, test, k)
        rows.append({**mean_sd(metrics, name), "tuned": ""})
        runs.append(metrics.assign(model=name))
        fitted[name] = models
    for cand in tqdm(candidates, desc="models", disable=not progress):
        best, table = tune_on_validation(
            lambda value, cand=cand: cand.make(value, random_state), cand.grid, train, k, random_state=random_state
        )
        tuning.append(table.assign(model=cand.name, parameter=cand.parameter))
        metrics, models = seeded_metrics(
            lambda seed, cand=cand, best=best: cand.make(best, seed), cand.seeds, train, test, k
        )
        rows.append({**mean_sd(metrics, cand.name), "tuned": f"{cand.parameter} = {best:g}"})
        runs.append(metrics.assign(model=cand.name))
        fitted[cand.name] = models
    columns = ["model", "parameter", "value", "validation_ndcg"]
    return TunedComparison(
        table=pd.DataFrame(rows),
        tuning=pd.concat(tuning, ignore_index=True)[columns] if tuning else pd.DataFrame(columns=columns),
        runs=pd.concat(runs, ignore_index=True),
        fitted=fitted,
    )


def training_curves(models: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Validation NDCG by epoch of fitted neural models, with each run's early-stopping point.

    Parameters
    ----------
    models : mapping label -> sequence of fitted models
        Models with ``history_`` (``epoch, validation_ndcg``, ...) and ``best_epoch_``, e.g. one
        :class:`MultVAERecommender` per seed.

    Returns
    -------
    pandas.DataFrame
        ``model, run, epoch, validation_ndcg, best`` (``best``: the epoch whose parameters were kept).
    """
    parts = []
    for label, fitted in models.items():
        for run, model in enumerate(fitted):
            history = model.history_[["epoch", "validation_ndcg"]]
            parts.append(history.assign(model=label, run=run, best=history["epoch"].eq(model.best_epoch_)))
    columns = ["model", "run", "epoch", "validation_ndcg", "best"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def tune_next_item(
    make_model: Callable[[Any], Any], grid: Sequence[Any], train: pd.DataFrame, validation: pd.DataFrame, k: int = 10
) -> tuple[Any, pd.DataFrame]:
    """The grid value whose next-item model, fitted on ``train``, ranks the ``validation`` items best.

    Parameters
    ----------
    make_model : callable
        Grid value -> unfitted :class:`NextItemRecommender`.
    grid : sequence
        Values tried, in order (ties keep the first).
    train, validation : pandas.DataFrame
        ``split.train`` and ``split.validation`` of :func:`leave_last_out_split` (never the test rows).
    k : int, default 10

    Returns
    -------
    best, table
        As :func:`tune_on_validation`.
    """

    def ndcg(value: Any) -> float:
        return float(evaluate_next_item({"model": make_model(value).fit(train)}, validation, k)["ndcg"].iloc[0])

    return _grid_search(grid, ndcg)
