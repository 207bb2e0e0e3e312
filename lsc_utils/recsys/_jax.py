"""JAX set-up shared by the deep recommenders: CPU backend, float32 parameters, seeds.

Importing this module selects JAX's CPU backend (unless ``JAX_PLATFORMS`` or the JAX config already
names one). Every array the deep models create is float32 (JAX's default; x64 mode is not used).

Reproducibility: on CPU, XLA's results are bit-identical from run to run for the same seed, the same
JAX / jaxlib versions and the same number of cores. Across core counts (or CPU types) the reductions
may be split differently, so the last bits of the float32 weights -- and, rarely, near-tied ranks --
can differ: show and compare the resulting metrics at 3 decimals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

if not jax.config.jax_platforms:  # the CPU backend, unless the caller chose one (JAX_PLATFORMS or config)
    jax.config.update("jax_platforms", "cpu")

DTYPE = jnp.float32
"""Floating-point type of every parameter and activation of the deep models."""


def resolve_seed(random_state: int | None) -> int:
    """The integer seed of a ``random_state`` (None: a fresh seed from the operating system's entropy)."""
    if random_state is None:
        return int(np.random.default_rng().integers(0, 2**31 - 1))
    return int(random_state)


def make_rngs(random_state: int | None) -> tuple[np.random.Generator, jax.Array]:
    """A numpy generator (data order) and a JAX key (initialisation, dropout, noise) from one seed."""
    seed = resolve_seed(random_state)
    return np.random.default_rng(seed), jax.random.key(seed)


def glorot_mlp(key: jax.Array, dims: list[int]) -> list[dict[str, jax.Array]]:
    """Dense layers ``dims[i] -> dims[i + 1]``: Glorot-uniform weights, zero biases (float32)."""
    init = jax.nn.initializers.glorot_uniform()
    keys = jax.random.split(key, max(len(dims) - 1, 1))
    return [
        {"w": init(keys[i], (dims[i], dims[i + 1]), DTYPE), "b": jnp.zeros(dims[i + 1], DTYPE)}
        for i in range(len(dims) - 1)
    ]


def to_numpy(tree: object) -> object:
    """The same pytree with numpy arrays (fitted attributes hold no JAX device buffers)."""
    return jax.tree_util.tree_map(np.asarray, tree)
