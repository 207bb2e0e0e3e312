"""Fixtures of the notebook tests: small simulated datasets, and notebooks run through the runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsc_utils import nbtools
from lsc_utils.run import run_collection
from tests.conftest import REPO

NOTEBOOKS = REPO / "notebooks"


def run_notebook(name: str, run_dir: Path, DATA_DIR: str, with_upstream: bool = False, **parameters: object) -> dict:  # noqa: N803
    """Run notebooks/<name>.ipynb into run_dir/<name>/ as ``python -m lsc_utils run --only`` does.

    The same code path as the CLI (config, parameter checks, upstream requirements, papermill, HTML,
    manifest); ``parameters`` are notebook parameters as Python values; ``with_upstream`` also runs
    the earlier notebooks whose outputs are missing. Returns the glued metrics.
    """
    run_collection(
        data=DATA_DIR,
        out=run_dir,
        only=name[:2],
        parameters=parameters,
        notebook_dir=NOTEBOOKS,
        progress=False,
        with_upstream=with_upstream,
    )
    return nbtools.read_metrics(run_dir / name)


@pytest.fixture(scope="session", autouse=True)
def demo_key() -> None:
    """The public demo key of the synthetic sample (the Makefile sets the same one)."""
    os.environ.setdefault("LSC_PSEUDONYM_KEY", "lsc-lab-demo-key-synthetic-sample-only")
    # Two pytest workers run notebooks side by side on two cores: an OpenMP model (scikit-learn's
    # gradient boosting) that also starts two threads per kernel spins against the other worker and
    # runs 10x slower (measured: 08 on Hillstrom 69 s single-threaded, > 10 min oversubscribed).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated dataset (planted truth included), shared by the notebook tests."""
    from lsc_utils.simulate import simulate

    return simulate(tmp_path_factory.mktemp("sim") / "data", n_users=2000, n_days=42, seed=7, progress=False)


@pytest.fixture(scope="session")
def small_run(small_sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder in which 01_data_cleaning has been executed on the small simulation."""
    run_dir = tmp_path_factory.mktemp("run")
    run_notebook("01_data_cleaning", run_dir, DATA_DIR=str(small_sim))
    return run_dir
