"""notebooks/_template.ipynb is a working notebook: run as a numbered one, it reads 01 and records results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from lsc_utils import io, nbtools
from lsc_utils.run import run_collection
from tests.notebooks.conftest import NOTEBOOKS


def test_the_template_runs_through_the_runner_and_records_its_results(
    small_sim: Path, small_run: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOKS / "_template.ipynb", folder / "99_template.ipynb")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "01_data_cleaning").symlink_to(small_run / "01_data_cleaning")
    run_collection(data=small_sim, out=run_dir, only="99", notebook_dir=folder, progress=False)
    metrics = nbtools.read_metrics(run_dir / "99_template")
    events = io.load_dataset(small_run / "01_data_cleaning" / "clean", tables=("events",))["events"]
    assert metrics["status"] == "ok" and metrics["skipped_sections"] == []
    assert metrics["output_files"] == ["event_types.csv"] and metrics["n_events"] == len(events)
    table = pd.read_csv(run_dir / "99_template" / "tables" / "event_types.csv")
    assert metrics["top_event_type"] == table.loc[0, "event_type"] == events["event_type"].value_counts().index[0]
    assert (run_dir / "99_template" / "figures" / "event_types.png").is_file()
