"""JAX set-up shared by the deep recommenders: CPU backend, float32 parameters, seeds.

Importing this module selects JAX's CPU backend (unless ``JAX_PLATFORMS`` or the JAX config already
names one). Every array the deep models create is float32 (JAX's default; x64 mode is not used).

Reproducibility: on CPU, XLA's results are bit-identical from run to run for the same seed and the
same JAX / jaxlib versions, but XLA sizes its thread pool by the cores the process may use when its CPU
client starts, and splits work (and float32 sums) by that pool: trained on 1 core or on 2, SASRec's
weights differ and after ten epochs its HR@10 moves in the third decimal (measured: 0.155 vs 0.152 on
the default sample). This module therefore starts the CPU client while the process may run on one core
only, then gives every thread back all its cores (:func:`start_single_threaded_backend`): the deep
models compute with one XLA thread, and give the same weights on any machine with the same CPU
architecture, whatever its core count. Set ``LSC_JAX_ALL_CORES=1`` to let XLA use every core (faster on
big data, reproducible only on the same core count). On systems without CPU affinity (macOS, Windows)
XLA uses every core.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

if not jax.config.jax_platforms:  # the CPU backend, unless the caller chose one (JAX_PLATFORMS or config)
    jax.config.update("jax_platforms", "cpu")


def start_single_threaded_backend() -> bool:
    """Start JAX's CPU client with a one-thread pool (same results on any core count); True if it did.

    The client is created while the process may run on one core only (XLA reads the usable cores once,
    then), and every thread of the process, the pool's included, is then given back all the cores.
    Does nothing when ``LSC_JAX_ALL_CORES`` is set, when the system has no CPU affinity, or when the
    client already exists (it is created once per process).
    """
    if os.environ.get("LSC_JAX_ALL_CORES") or not hasattr(os, "sched_setaffinity"):
        return False
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return False
    cores = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(cores)})
        jax.devices()
    finally:
        for thread in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(thread), cores)
            except OSError:  # a thread that ended meanwhile
                pass
    return True


start_single_threaded_backend()

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
