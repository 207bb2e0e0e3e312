"""SASRec (Kang & McAuley, ICDM 2018): self-attentive next-item recommendation, in JAX.

The last ``max_len`` items of a user's history are embedded (shared item embedding, times
``sqrt(hidden)``) and added to a learned position embedding; ``n_blocks`` blocks of causal
self-attention (pre-layer-norm queries, residual, dropout) and a point-wise feed-forward network
follow, then a final layer norm. The hidden state at position t scores every catalogue item by a dot
product with its embedding, and training minimises the **full-softmax** cross-entropy of the item at
t + 1 at every position (the "SASRec+" loss of Klenitskiy & Vasilev, RecSys 2023, which beats the
sampled binary loss of the paper). Attention is causal: a position never sees a later item, and
padding (left of short histories) is never attended to.

Each user's last training item is held out for validation (HR@k / NDCG@k ranked against all items
after every epoch); training keeps the best epoch's parameters and stops after ``patience`` epochs
without improvement. Recommendations score the full histories (validation items included).

JAX runs on the CPU in float32 (see :mod:`lsc_utils.recsys._jax` for the reproducibility caveat).
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import SEED
from lsc_utils.recsys._common import _check_float
from lsc_utils.recsys._jax import DTYPE, make_rngs, to_numpy
from lsc_utils.recsys.next_item import (
    NextItemRecommender,
    next_item_hit_rate_at_k,
    next_item_ndcg_at_k,
    rank_targets,
)

SCORE_ROWS: int = 1024
"""Histories scored per forward pass at inference (blocks are zero-padded to a power of two)."""

# ---------------------------------------------------------------------------------------------
# The model as pure functions (item code c has embedding row c + 1; row 0 is padding)
# ---------------------------------------------------------------------------------------------


def init_sasrec(key: jax.Array, n_items: int, hidden: int, n_blocks: int, max_len: int) -> dict[str, Any]:
    """Glorot-normal embeddings and weights, unit layer-norm scales, zero biases (float32).

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    n_items : int
        Catalogue size (the embedding has one more row, 0, for padding).
    hidden : int
        Model width d.
    n_blocks : int
        Self-attention blocks.
    max_len : int
        Window length (rows of the position embedding).

    Returns
    -------
    dict
        ``items, positions, blocks (list), final_norm``.
    """
    init = jax.nn.initializers.glorot_normal()
    keys = iter(jax.random.split(key, 2 + 6 * n_blocks))

    def dense() -> dict[str, jax.Array]:
        return {"w": init(next(keys), (hidden, hidden), DTYPE), "b": jnp.zeros(hidden, DTYPE)}

    def norm() -> dict[str, jax.Array]:
        return {"scale": jnp.ones(hidden, DTYPE), "bias": jnp.zeros(hidden, DTYPE)}

    items = init(next(keys), (n_items + 1, hidden), DTYPE).at[0].set(0.0)
    positions = init(next(keys), (max_len, hidden), DTYPE)
    blocks = [
        {
            "attention_norm": norm(),
            "query": dense(),
            "key": dense(),
            "value": dense(),
            "output": dense(),
            "ffn_norm": norm(),
            "ffn_in": dense(),
            "ffn_out": dense(),
        }
        for _ in range(n_blocks)
    ]
    return {"items": items, "positions": positions, "blocks": blocks, "final_norm": norm()}


def _layer_norm(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """Layer norm over the last axis (epsilon 1e-8, as the reference implementation)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-8) * p["scale"] + p["bias"]


def _dense(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"]


def _dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout (identity when ``key`` is None, i.e. at inference)."""
    if key is None or rate == 0.0:
        return x
    return x * jax.random.bernoulli(key, 1.0 - rate, x.shape).astype(x.dtype) / (1.0 - rate)


def _attention(
    block: dict[str, Any],
    queries: jax.Array,
    values: jax.Array,
    allowed: jax.Array,
    n_heads: int,
    rate: float,
    key: Any,
) -> jax.Array:
    """Multi-head scaled dot-product attention; ``allowed[b, i, j]`` says whether i may see j."""
    batch, length, hidden = queries.shape

    def heads(x: jax.Array) -> jax.Array:
        return x.reshape(batch, length, n_heads, hidden // n_heads).transpose(0, 2, 1, 3)

    q, k, v = (
        heads(_dense(block["query"], queries)),
        heads(_dense(block["key"], values)),
        heads(_dense(block["value"], values)),
    )
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hidden // n_heads)
    weights = jax.nn.softmax(jnp.where(allowed[:, None], logits, -1e9), axis=-1)
    mixed = (_dropout(weights, rate, key) @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    return _dense(block["output"], mixed)


def sasrec_hidden(
    params: dict[str, Any], inputs: jax.Array, n_heads: int = 1, dropout: float = 0.0, key: jax.Array | None = None
) -> jax.Array:
    """Hidden state of every position of left-padded windows (0 = padding, item code c as c + 1).

    Parameters
    ----------
    params : dict
        Model parameters (:func:`init_sasrec`).
    inputs : int array, shape (batch, max_len)
        Windows of embedding rows.
    n_heads : int, default 1
        Attention heads (must divide the width).
    dropout : float, default 0.0
        Dropout rate (applied only when ``key`` is given: training).
    key : jax.Array, optional
        PRNG key of the dropout masks.

    Returns
    -------
    jax.Array
        Shape (batch, max_len, hidden); padded positions hold the final layer norm of zeros.
    """
    n_blocks = len(params["blocks"])
    keys: list[Any] = list(jax.random.split(key, 1 + 3 * n_blocks)) if key is not None else [None] * (1 + 3 * n_blocks)
    real = inputs > 0
    length = inputs.shape[1]
    causal = jnp.tril(jnp.ones((length, length), dtype=bool))
    allowed = (causal[None] & real[:, None, :]) | jnp.eye(length, dtype=bool)[None]
    mask = real[..., None].astype(DTYPE)
    h = params["items"][inputs] * math.sqrt(params["items"].shape[1]) + params["positions"][None, -length:]
    h = _dropout(h, dropout, keys[0]) * mask
    for index, block in enumerate(params["blocks"]):
        drop_attention, drop_ffn_in, drop_ffn_out = keys[1 + 3 * index : 4 + 3 * index]
        queries = _layer_norm(block["attention_norm"], h)
        h = queries + _attention(block, queries, h, allowed, n_heads, dropout, drop_attention)
        h = _layer_norm(block["ffn_norm"], h)
        inner = _dropout(jax.nn.relu(_dense(block["ffn_in"], h)), dropout, drop_ffn_in)
        h = (h + _dropout(_dense(block["ffn_out"], inner), dropout, drop_ffn_out)) * mask
    return _layer_norm(params["final_norm"], h)


def sasrec_loss(
    params: dict[str, Any], inputs: jax.Array, targets: jax.Array, n_heads: int, dropout: float, key: jax.Array | None
) -> jax.Array:
    """Full-softmax cross-entropy of the next item at every non-padded position (mean over positions)."""
    hidden = sasrec_hidden(params, inputs, n_heads, dropout, key)
    log_probs = jax.nn.log_softmax(hidden @ params["items"][1:].T, axis=-1)
    valid = targets > 0
    picked = jnp.take_along_axis(log_probs, jnp.maximum(targets - 1, 0)[..., None], axis=-1)[..., 0]
    return -jnp.sum(jnp.where(valid, picked, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


@partial(jax.jit, static_argnames=("n_heads",))
def _last_scores(params: dict[str, Any], inputs: jax.Array, n_heads: int) -> jax.Array:
    """Scores of every catalogue item from the last position of each window (inference)."""
    return sasrec_hidden(params, inputs, n_heads)[:, -1] @ params["items"][1:].T


@lru_cache(maxsize=8)
def _training_step(learning_rate: float, n_heads: int, dropout: float) -> tuple[optax.GradientTransformation, Any]:
    """Adam (betas 0.9, 0.98) and its jitted step ``(params, opt_state, inputs, targets, key)``.

    Cached per configuration, so refitting (another seed, another split) reuses the compiled step.
    """
    optimizer = optax.adam(learning_rate, b1=0.9, b2=0.98)

    def step(params: Any, opt_state: Any, inputs: jax.Array, targets: jax.Array, key: jax.Array) -> tuple[Any, ...]:
        loss, grads = jax.value_and_grad(sasrec_loss)(params, inputs, targets, n_heads, dropout, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return optimizer, jax.jit(step)


def windows(histories: list[np.ndarray], max_len: int) -> np.ndarray:
    """The last ``max_len`` items of each history as embedding rows (code + 1), left-padded with 0."""
    out = np.zeros((len(histories), max_len), dtype=np.int32)
    for row, history in enumerate(histories):
        tail = history[-max_len:]
        if len(tail):
            out[row, max_len - len(tail) :] = tail + 1
    return out


def _pad_rows(block: np.ndarray, size: int | None = None) -> np.ndarray:
    """``block`` with zero rows appended up to ``size`` (default: the next power of two), so that few
    distinct shapes are compiled; zero rows are pure padding and change no loss or score."""
    target = size if size is not None else 1 << max(len(block) - 1, 0).bit_length()
    return np.concatenate([block, np.zeros((target - len(block), block.shape[1]), block.dtype)])


def _training_pairs(sequences: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Input and shifted target windows of the sequences with at least two items."""
    usable = [s for s in sequences if len(s) >= 2]
    return windows([s[:-1] for s in usable], max_len), windows([s[1:] for s in usable], max_len)


# ---------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------


class SASRecRecommender(NextItemRecommender):
    """SASRec next-item model (Kang & McAuley 2018) with the full-softmax loss, trained with JAX + optax.

    Fit on a sequences frame (``user_id, item_id, position``, see :func:`order_sequences`); each user's
    last item with at least two items before it is held out for early stopping.

    Parameters
    ----------
    hidden : int, default 64
        Width d of the embeddings and blocks.
    n_blocks : int, default 2
        Self-attention blocks.
    n_heads : int, default 1
        Attention heads (the paper: 1); must divide ``hidden``.
    max_len : int, default 50
        Window: the last ``max_len`` items of a history are read.
    dropout : float, default 0.2
        Dropout rate of embeddings, attention weights and feed-forward outputs.
    epochs : int, default 100
        Maximum passes over the users (one window per user and epoch, the latest one).
    batch_size : int, default 128
        Users per update.
    learning_rate : float, default 3e-3
        Adam step size (betas 0.9, 0.98 as the paper). The paper's 1e-3 needs 100+ epochs; 3e-3 reaches
        the same validation NDCG on ML-100k in about 20 (a third of the time).
    patience : int or None, default 10
        Epochs without a better validation NDCG before training stops (None: run all epochs); the
        best epoch's parameters are kept.
    validation_k : int, default 10
        Cut-off of the validation HR and NDCG.
    validation_exclude_history : bool, default True
        Exclude the user's history when ranking the validation item (False for repeat consumption,
        e.g. the next live streamer).
    random_state : int or None, default SEED
        Seed of the initialisation, the user order and the dropout masks.

    Attributes
    ----------
    params_ : dict
        Parameters of the best epoch (numpy float32 arrays).
    history_ : pandas.DataFrame
        One row per epoch run: ``epoch, loss, validation_hit_rate, validation_ndcg``.
    best_epoch_ : int
        Epoch (1-based) of the kept parameters.
    """

    def __init__(
        self,
        hidden: int = 64,
        n_blocks: int = 2,
        n_heads: int = 1,
        max_len: int = 50,
        dropout: float = 0.2,
        epochs: int = 100,
        batch_size: int = 128,
        learning_rate: float = 3e-3,
        patience: int | None = 10,
        validation_k: int = 10,
        validation_exclude_history: bool = True,
        random_state: int | None = SEED,
    ) -> None:
        self.hidden = hidden
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.max_len = max_len
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_k = validation_k
        self.validation_exclude_history = validation_exclude_history
        self.random_state = random_state

    def _check_parameters(self) -> None:
        """Raise a ValueError naming the first invalid parameter."""
        owner = "SASRecRecommender"
        for name in ("hidden", "n_blocks", "n_heads", "max_len", "epochs", "batch_size", "validation_k"):
            _check_int(getattr(self, name), name, owner)
        if self.patience is not None:
            _check_int(self.patience, "patience", owner)
        if self.hidden % self.n_heads:
            raise ValueError(
                f"The 'n_heads' parameter of {owner} must divide 'hidden' ({self.hidden}). Got {self.n_heads!r} instead."
            )
        if not _check_float(self.dropout, "dropout", owner, 0.0, 1.0) < 1.0:
            raise ValueError(f"The 'dropout' parameter of {owner} must be < 1. Got {self.dropout!r} instead.")
        _check_float(self.learning_rate, "learning_rate", owner, 0.0, math.inf, low_open=True)

    def _fit(self) -> None:
        self._check_parameters()
        rng, key = make_rngs(self.random_state)
        held = [len(h) >= 3 for h in self.histories_]
        train = [h[:-1] if keep else h for h, keep in zip(self.histories_, held, strict=True)]
        validation = [(h[:-1], h[-1]) for h, keep in zip(self.histories_, held, strict=True) if keep]
        inputs, targets = _training_pairs(train, self.max_len)
        if not len(inputs) or not validation:
            raise ValueError(
                "SASRecRecommender.fit needs users with at least 3 items (2 to train on, 1 to validate); "
                f"the longest history has {max(len(h) for h in self.histories_)}."
            )
        init_key, key = jax.random.split(key)
        params = init_sasrec(init_key, len(self.item_index_), self.hidden, self.n_blocks, self.max_len)
        params, history = self._train(params, inputs, targets, validation, rng, key)
        self.params_ = to_numpy(params)
        columns = ["epoch", "loss", "validation_hit_rate", "validation_ndcg"]
        self.history_ = pd.DataFrame(history, columns=columns)
        self.best_epoch_ = int(self.history_.loc[self.history_["validation_ndcg"].idxmax(), "epoch"])

    def _train(
        self,
        params: dict[str, Any],
        inputs: np.ndarray,
        targets: np.ndarray,
        validation: list[tuple[np.ndarray, int]],
        rng: np.random.Generator,
        key: jax.Array,
    ) -> tuple[dict[str, Any], list[tuple[int, float, float, float]]]:
        """Adam epochs with early stopping on validation NDCG; the best epoch's parameters."""
        optimizer, step_fn = _training_step(float(self.learning_rate), self.n_heads, float(self.dropout))
        opt_state = optimizer.init(params)
        best, best_params, waited, updates = -math.inf, params, 0, 0
        history: list[tuple[int, float, float, float]] = []
        for epoch in range(1, self.epochs + 1):
            losses = []
            order = rng.permutation(len(inputs))
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                size = min(self.batch_size, len(order))
                batch_inputs, batch_targets = _pad_rows(inputs[batch], size), _pad_rows(targets[batch], size)
                params, opt_state, loss = step_fn(
                    params, opt_state, batch_inputs, batch_targets, jax.random.fold_in(key, updates)
                )
                losses.append(loss)
                updates += 1
            hit_rate, ndcg = self._validate(params, validation)
            history.append((epoch, float(np.mean(jax.device_get(losses))), hit_rate, ndcg))
            if ndcg > best:
                best, best_params, waited = ndcg, params, 0
            else:
                waited += 1
                if self.patience is not None and waited >= self.patience:
                    break
        return best_params, history

    def _validate(self, params: dict[str, Any], validation: list[tuple[np.ndarray, int]]) -> tuple[float, float]:
        """HR@k and NDCG@k of the held-out last items."""
        histories = [h for h, _ in validation]
        scores = self._scores(params, histories)
        if self.validation_exclude_history:
            rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
            scores[rows, np.concatenate(histories)] = -np.inf
        ranks = rank_targets(scores, np.array([t for _, t in validation]))
        return next_item_hit_rate_at_k(ranks, self.validation_k), next_item_ndcg_at_k(ranks, self.validation_k)

    def _scores(self, params: dict[str, Any], histories: list[np.ndarray]) -> np.ndarray:
        """Float64 next-item scores of histories (item codes) under ``params``, in padded blocks of rows."""
        inputs = windows(histories, self.max_len)
        scores = np.empty((len(histories), len(self.item_index_)), dtype=np.float64)
        for start in range(0, len(inputs), SCORE_ROWS):
            block = _pad_rows(inputs[start : start + SCORE_ROWS])
            values = np.asarray(_last_scores(params, jnp.asarray(block), self.n_heads))
            scores[start : start + SCORE_ROWS] = values[: min(SCORE_ROWS, len(inputs) - start)]
        return scores

    def _score_histories(self, histories: list[np.ndarray], rows: np.ndarray | None) -> np.ndarray:
        return self._scores(self.params_, histories)
