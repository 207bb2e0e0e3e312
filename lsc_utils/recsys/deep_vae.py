"""Mult-VAE (Liang, Krishnan, Hoffman & Jebara, WWW 2018): a variational autoencoder of user rows, in JAX.

Each user's interaction row ``x_u`` (weights as counts) is L2-normalised, passed through input dropout
and an MLP encoder (tanh) to the mean and log-variance of a Gaussian latent ``z``; the decoder (tanh
MLP, mirrored) maps ``z`` to logits over the catalogue, read as a multinomial over items. The loss is
the negative multinomial log-likelihood plus ``beta`` times the KL divergence to N(0, I), with
``beta`` annealed linearly from 0 (KL annealing), plus an optional L2 penalty on the weights:

    loss = -mean_u sum_i x_ui log softmax(f(z_u))_i + beta * mean_u KL(q(z | x_u) || N(0, I)) + l2 |W|^2

A share of each user's training items is held out (seeded) to measure validation NDCG@k after every
epoch; training keeps the parameters of the best epoch and stops after ``patience`` epochs without
improvement. Recommendations encode the user's full training row (validation items included) and
rank the decoder's logits at the latent mean (no sampling, no dropout).

JAX runs on the CPU in float32 (see :mod:`lsc_utils.recsys._jax` for the reproducibility caveat).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import scipy.sparse as sp

from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import SEED
from lsc_utils.recsys._common import _check_float
from lsc_utils.recsys._jax import DTYPE, glorot_mlp, make_rngs, to_numpy
from lsc_utils.recsys._topk import _batches, select_top_k
from lsc_utils.recsys.interactions import Interactions
from lsc_utils.recsys.models import BaseRecommender

Params = dict[str, list[dict[str, Any]]]
"""Mult-VAE parameters: ``{"encoder": [layer, ...], "decoder": [layer, ...]}``, layer = ``{"w", "b"}``."""

# ---------------------------------------------------------------------------------------------
# The model as pure functions
# ---------------------------------------------------------------------------------------------


def init_mult_vae(key: jax.Array, n_items: int, hidden_dims: tuple[int, ...]) -> Params:
    """Glorot-initialised encoder ``n_items -> ... -> 2 * latent`` and decoder ``latent -> ... -> n_items``.

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    n_items : int
        Catalogue size.
    hidden_dims : tuple of int
        Encoder layer widths, the last one being the latent dimension (the paper: ``(600, 200)``).

    Returns
    -------
    dict
        ``{"encoder": [...], "decoder": [...]}``.
    """
    *inner, latent = hidden_dims
    encoder_key, decoder_key = jax.random.split(key)
    return {
        "encoder": glorot_mlp(encoder_key, [n_items, *inner, 2 * latent]),
        "decoder": glorot_mlp(decoder_key, [latent, *reversed(inner), n_items]),
    }


def _mlp(layers: list[dict[str, Any]], h: jax.Array) -> jax.Array:
    """tanh on every layer but the last, which stays linear."""
    for layer in layers[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return h @ layers[-1]["w"] + layers[-1]["b"]


def _normalise(x: jax.Array) -> jax.Array:
    """Rows divided by their Euclidean norm (as ``tf.nn.l2_normalize``, epsilon 1e-12 on the squared norm)."""
    return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=1, keepdims=True), 1e-12))


def _encode(params: Params, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and log-variance of q(z | x) from the (normalised, dropped-out) input."""
    out = _mlp(params["encoder"], h)
    latent = out.shape[1] // 2
    return out[:, :latent], out[:, latent:]


def mult_vae_loss(
    params: Params,
    x: jax.Array,
    beta: float | jax.Array,
    noise: jax.Array,
    keep: jax.Array,
    dropout: float,
    l2: float,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Negative ELBO of a batch: multinomial NLL + ``beta`` * KL + ``l2`` * sum of squared weights.

    Parameters
    ----------
    params : dict
        Model parameters (:func:`init_mult_vae`).
    x : array, shape (batch, n_items)
        Raw interaction rows (counts / weights, not normalised).
    beta : float
        KL weight of this step.
    noise : array, shape (batch, latent)
        Standard normal draws of the reparameterisation ``z = mu + exp(logvar / 2) * noise``.
    keep : array, shape (batch, n_items)
        Input-dropout mask (1 = kept); kept inputs are scaled by ``1 / (1 - dropout)``.
    dropout : float
        Input-dropout rate the mask was drawn with.
    l2 : float
        Penalty on the squared weights (biases excluded).

    Returns
    -------
    loss, (nll, kl) : jax.Array
        The loss and its two data terms, each a mean over the batch's users.
    """
    h = _normalise(x) * keep / (1.0 - dropout)
    mu, logvar = _encode(params, h)
    z = mu + jnp.exp(0.5 * logvar) * noise
    log_probs = jax.nn.log_softmax(_mlp(params["decoder"], z), axis=1)
    nll = -jnp.mean(jnp.sum(log_probs * x, axis=1))
    kl = jnp.mean(jnp.sum(0.5 * (-logvar + jnp.exp(logvar) + mu**2 - 1.0), axis=1))
    penalty = sum(jnp.sum(layer["w"] ** 2) for layer in params["encoder"] + params["decoder"])
    return nll + beta * kl + l2 * penalty, (nll, kl)


@jax.jit
def _mean_logits(params: Params, x: jax.Array) -> jax.Array:
    """Decoder logits at the latent mean of each row (inference: no dropout, no sampling)."""
    mu, _ = _encode(params, _normalise(x))
    return _mlp(params["decoder"], mu)


@lru_cache(maxsize=8)
def _training_step(learning_rate: float, dropout: float, l2: float) -> tuple[optax.GradientTransformation, Any]:
    """Adam and its jitted step ``(params, opt_state, x, beta, key) -> (params, opt_state, loss)``.

    Cached per configuration, so refitting (another seed, another split) reuses the compiled step.
    """
    optimizer = optax.adam(learning_rate)

    def step(params: Params, opt_state: Any, x: jax.Array, beta: jax.Array, key: jax.Array) -> tuple[Any, ...]:
        noise_key, drop_key = jax.random.split(key)
        latent = params["decoder"][0]["w"].shape[0]
        noise = jax.random.normal(noise_key, (x.shape[0], latent), DTYPE)
        keep = jax.random.bernoulli(drop_key, 1.0 - dropout, x.shape).astype(DTYPE)
        grad_fn = jax.value_and_grad(mult_vae_loss, has_aux=True)
        (loss, _), grads = grad_fn(params, x, beta, noise, keep, dropout, l2)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return optimizer, jax.jit(step)


# ---------------------------------------------------------------------------------------------
# Validation split and metric
# ---------------------------------------------------------------------------------------------


def hold_out_per_user(
    matrix: sp.csr_matrix, fraction: float, rng: np.random.Generator
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move ``round(fraction * n_u)`` random items of each user's row to a held-out matrix.

    Every user keeps at least one item (a user with one item holds none out).

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix
        Users x items training matrix (sorted indices).
    fraction : float
        Share of each row held out, in [0, 1).
    rng : numpy.random.Generator
        Source of the random order within each row.

    Returns
    -------
    kept, held_out : scipy.sparse.csr_matrix
        Two matrices of the same shape whose sum is ``matrix``.
    """
    matrix = sp.csr_matrix(matrix)
    sizes = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), sizes)
    order = np.lexsort((rng.random(matrix.nnz), rows))
    rank = np.empty(matrix.nnz, dtype=np.int64)
    rank[order] = np.arange(matrix.nnz) - matrix.indptr[rows[order]]
    n_held = np.clip(np.floor(fraction * sizes + 0.5), 0, np.maximum(sizes - 1, 0)).astype(np.int64)
    held = rank < n_held[rows]
    parts = []
    for chosen in (~held, held):
        indptr = _indptr(rows[chosen], matrix.shape[0])
        parts.append(sp.csr_matrix((matrix.data[chosen], matrix.indices[chosen], indptr), shape=matrix.shape))
    return parts[0], parts[1]


def _indptr(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """CSR row pointer of sorted row indices."""
    return np.r_[0, np.cumsum(np.bincount(rows, minlength=n_rows))]


def _ndcg_of_lists(columns: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Binary NDCG of each row's top-k ``columns`` against a dense boolean ``relevant`` matrix."""
    k = columns.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = np.take_along_axis(relevant, columns, axis=1)
    dcg = (hits * discounts).sum(axis=1)
    n_relevant = np.minimum(relevant.sum(axis=1), k)
    ideal = np.r_[0.0, np.cumsum(discounts)][n_relevant]
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def _validation_ndcg(params: Params, kept: sp.csr_matrix, held_out: sp.csr_matrix, k: int) -> float:
    """Mean NDCG@k of the held-out items of users who have some, their kept items excluded."""
    users = np.flatnonzero(np.diff(held_out.indptr) > 0)
    values = []
    for batch in _batches(len(users), kept.shape[1]):
        rows = users[batch]
        inputs = kept[rows]
        scores = np.asarray(_mean_logits(params, jnp.asarray(inputs.toarray(), DTYPE)), dtype=np.float64)
        scores[np.repeat(np.arange(len(rows)), np.diff(inputs.indptr)), inputs.indices] = -np.inf
        columns, _ = select_top_k(scores, k)
        values.append(_ndcg_of_lists(columns, held_out[rows].toarray() > 0))
    return float(np.concatenate(values).mean()) if values else math.nan


# ---------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------


class MultVAERecommender(BaseRecommender):
    """Mult-VAE recommender (Liang et al., WWW 2018) trained with JAX + optax (Adam) on the CPU.

    Parameters
    ----------
    hidden_dims : tuple of int, default (600, 200)
        Encoder widths, the last being the latent dimension; the decoder mirrors them (the paper's
        ``[I -> 600 -> 200 -> 600 -> I]``).
    dropout : float, default 0.5
        Input-dropout rate on the normalised rows.
    beta_max : float, default 0.2
        Cap of the KL weight (the paper's best anneal cap).
    anneal_steps : int, default 200
        Updates over which beta would grow linearly from 0 to 1; it stops at ``beta_max``: ``beta_t =
        min(beta_max, t / anneal_steps)``, the paper's schedule (ML-100k: beta_max after 40 updates,
        about 5 epochs).
    l2 : float, default 0.0
        Penalty on the squared weights.
    epochs : int, default 100
        Maximum passes over the users.
    batch_size : int, default 128
        Users per update.
    learning_rate : float, default 1e-3
        Adam step size.
    validation_fraction : float, default 0.1
        Share of each user's training items held out for early stopping (never the test split). On
        ML-100k 0.2 cost about 0.02 of test precision@10 against 0.1: the items held out are missing
        from the inputs the model learns from.
    validation_k : int, default 10
        Cut-off of the validation NDCG.
    patience : int or None, default 10
        Epochs without a better validation NDCG before training stops (None: run all epochs). The
        best epoch's parameters are kept either way.
    random_state : int or None, default SEED
        Seed of the initialisation, the user order, the dropout masks, the latent noise and the
        validation hold-out.

    Attributes
    ----------
    params_ : dict
        Parameters of the best epoch (numpy float32 arrays).
    history_ : pandas.DataFrame
        One row per epoch run: ``epoch, loss, beta, validation_ndcg`` (loss = mean training loss,
        beta = KL weight at the end of the epoch).
    best_epoch_ : int
        Epoch (1-based) of the kept parameters.
    """

    def __init__(
        self,
        hidden_dims: tuple[int, ...] = (600, 200),
        dropout: float = 0.5,
        beta_max: float = 0.2,
        anneal_steps: int = 200,
        l2: float = 0.0,
        epochs: int = 100,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        validation_fraction: float = 0.1,
        validation_k: int = 10,
        patience: int | None = 10,
        random_state: int | None = SEED,
    ) -> None:
        self.hidden_dims = hidden_dims
        self.dropout = dropout
        self.beta_max = beta_max
        self.anneal_steps = anneal_steps
        self.l2 = l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.validation_k = validation_k
        self.patience = patience
        self.random_state = random_state

    def _check_parameters(self) -> None:
        """Raise a ValueError naming the first invalid parameter."""
        owner = "MultVAERecommender"
        dims = self.hidden_dims
        if not (isinstance(dims, tuple | list) and dims and all(isinstance(d, int) and d >= 1 for d in dims)):
            raise ValueError(
                f"The 'hidden_dims' parameter of {owner} must be a non-empty tuple of ints >= 1. Got {dims!r} instead."
            )
        for name in ("anneal_steps", "epochs", "batch_size", "validation_k"):
            _check_int(getattr(self, name), name, owner)
        if self.patience is not None:
            _check_int(self.patience, "patience", owner)
        _check_float(self.beta_max, "beta_max", owner, 0.0, math.inf)
        _check_float(self.l2, "l2", owner, 0.0, math.inf)
        _check_float(self.learning_rate, "learning_rate", owner, 0.0, math.inf, low_open=True)
        if not 0.0 <= _check_float(self.dropout, "dropout", owner, 0.0, 1.0) < 1.0:
            raise ValueError(f"The 'dropout' parameter of {owner} must be < 1. Got {self.dropout!r} instead.")
        if _check_float(self.validation_fraction, "validation_fraction", owner, 0.0, 1.0, low_open=True) >= 1.0:
            raise ValueError(
                f"The 'validation_fraction' parameter of {owner} must be < 1. Got {self.validation_fraction!r} instead."
            )

    def _fit(self, interactions: Interactions) -> None:
        self._check_parameters()
        rng, key = make_rngs(self.random_state)
        kept, held_out = hold_out_per_user(interactions.matrix, float(self.validation_fraction), rng)
        if held_out.nnz == 0:
            raise ValueError(
                "MultVAERecommender.fit: no user has two or more training items, so no validation items can be "
                f"held out (validation_fraction={self.validation_fraction!r})."
            )
        init_key, key = jax.random.split(key)
        params = init_mult_vae(init_key, interactions.n_items, tuple(self.hidden_dims))
        params, history = self._train(params, kept, held_out, rng, key)
        self.params_ = to_numpy(params)
        self.history_ = pd.DataFrame(history, columns=["epoch", "loss", "beta", "validation_ndcg"])
        self.best_epoch_ = int(self.history_.loc[self.history_["validation_ndcg"].idxmax(), "epoch"])

    def _train(
        self, params: Params, kept: sp.csr_matrix, held_out: sp.csr_matrix, rng: np.random.Generator, key: jax.Array
    ) -> tuple[Params, list[tuple[int, float, float, float]]]:
        """Epochs of Adam updates with KL annealing and early stopping; the best epoch's parameters."""
        optimizer, step_fn = _training_step(float(self.learning_rate), float(self.dropout), float(self.l2))
        opt_state = optimizer.init(params)
        users = np.flatnonzero(np.diff(kept.indptr) > 0)
        best, best_params, waited, updates = -math.inf, params, 0, 0
        history: list[tuple[int, float, float, float]] = []
        for epoch in range(1, self.epochs + 1):
            losses, beta = [], 0.0
            order = rng.permutation(users)
            for start in range(0, len(order), self.batch_size):
                beta = min(float(self.beta_max), updates / self.anneal_steps)
                batch = jnp.asarray(kept[order[start : start + self.batch_size]].toarray(), DTYPE)
                params, opt_state, loss = step_fn(
                    params, opt_state, batch, jnp.asarray(beta, DTYPE), jax.random.fold_in(key, updates)
                )
                losses.append(loss)
                updates += 1
            score = _validation_ndcg(params, kept, held_out, self.validation_k)
            history.append((epoch, float(np.mean(jax.device_get(losses))), beta, score))
            if score > best:
                best, best_params, waited = score, params, 0
            else:
                waited += 1
                if self.patience is not None and waited >= self.patience:
                    break
        return best_params, history

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        inputs = jnp.asarray(self.interactions_.matrix[rows].toarray(), DTYPE)
        return np.asarray(_mean_logits(self.params_, inputs), dtype=np.float64)
