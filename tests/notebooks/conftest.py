"""Fixtures of the notebook tests: small simulated datasets and a papermill runner."""

from __future__ import annotations

import os
from pathlib import Path

import papermill
import pytest

from lsc_utils import nbtools
from tests.conftest import REPO

NOTEBOOKS = REPO / "notebooks"


def run_notebook(name: str, run_dir: Path, **parameters: object) -> dict:
    """Execute notebooks/<name>.ipynb into run_dir/<name>/ and return its glued metrics."""
    out_dir = run_dir / name
    out_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out_dir / f"{name}.ipynb"),
        parameters={"RUN_DIR": str(run_dir), "OUT_DIR": str(out_dir), **parameters},
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbtools.read_metrics(out_dir)


@pytest.fixture(scope="session", autouse=True)
def demo_key() -> None:
    """The public demo key of the synthetic sample (the Makefile sets the same one)."""
    os.environ.setdefault("LSC_PSEUDONYM_KEY", "lsc-lab-demo-key-synthetic-sample-only")


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
