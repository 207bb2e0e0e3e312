"""06_live_room_analytics on a simulation with showcase rooms (planted stays and audience drops), on the
small shared simulation, and on a dataset without rooms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lsc_utils.live import timeline
from tests.notebooks.conftest import run_notebook

NAME = "06_live_room_analytics"
MIN_ALERT_PRECISION = 0.9
MIN_ALERT_RECALL = 0.9
"""The issue's bar for the online alerts: planted incidents recovered within 3 minutes (measured on
this simulation: CUSUM 0.95 / 1.0, EWMA 1.0 / 1.0; calibration over 12 other seeds in
lsc_utils.live.alerts.CHANGE_CUSUM_H)."""
MAX_FALSE_ALARMS_PER_HOUR = 0.1
"""Bound on online false alarms in showcase rooms without an incident (measured: 0.0 here, 0.008 per
hour over 12 other seeds)."""


@pytest.fixture(scope="module")
def live_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 users over 7 days with 40 showcase rooms (20 with a planted audience drop)."""
    from lsc_utils.simulate import simulate

    return simulate(
        tmp_path_factory.mktemp("live") / "data", n_users=300, n_days=7, seed=42, showcase_rooms=40, progress=False
    )


@pytest.fixture(scope="module")
def study_run(live_study: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("live_run")
    metrics = run_notebook(NAME, run_dir, DATA_DIR=str(live_study), with_upstream=True)
    return run_dir, metrics


def test_planted_stays_and_concurrency_are_rebuilt_exactly(study_run: tuple[Path, dict]) -> None:
    _, metrics = study_run
    assert metrics["status"] == "ok" and metrics["skipped_sections"] == []
    check = metrics["stay_check"]
    assert check["true_stays_with_leave"] > 100_000
    assert check["rebuilt_exactly"] == check["true_stays_with_leave"]
    assert check["pcu_equal_rooms"] == check["rooms"]
    assert check["acu_max_abs_diff"] == 0.0


def test_planted_audience_drops_are_alerted(study_run: tuple[Path, dict]) -> None:
    _, metrics = study_run
    scores = pd.DataFrame(metrics["alert_scores"]).set_index("method")
    assert set(scores.index) == {"cusum", "ewma", "pelt", "binseg"}
    for method in ("cusum", "ewma"):
        row = scores.loc[method]
        assert row["precision"] >= MIN_ALERT_PRECISION, (method, row.to_dict())
        assert row["recall"] >= MIN_ALERT_RECALL, (method, row.to_dict())
        assert row["false_alarms_per_hour"] <= MAX_FALSE_ALARMS_PER_HOUR, (method, row.to_dict())
    # offline change points find every drop but also the audience's natural wander: reported, not bounded
    assert (scores.loc[["pelt", "binseg"], "recall"] >= MIN_ALERT_RECALL).all()


def test_tables_agree_with_the_library_and_replay_equals_batch(study_run: tuple[Path, dict], live_study: Path) -> None:
    run_dir, metrics = study_run
    tables = run_dir / NAME / "tables"
    assert metrics["replay_equal"] is True and metrics["replay_batches"] > 1
    kpis = pd.read_csv(tables / "room_kpis.csv")
    assert int(kpis["pcu"].max()) == metrics["max_pcu"] > 100
    definitions = pd.read_csv(tables / "kpi_definitions.csv")
    assert {"pv", "uv", "pcu", "acu", "gpm", "conversion_rate"} <= set(definitions["kpi"])
    closed = pd.read_csv(tables / "stays_closed_by.csv")
    assert closed["stays"].sum() == metrics["n_stays"]
    line = pd.read_csv(tables / "timeline.csv")
    assert line["room_id"].eq(metrics["timeline_room"]).all() and line["minute_of_stream"].is_monotonic_increasing
    clean = run_dir / "01_data_cleaning" / "clean"
    activity = timeline.minute_activity(clean / "events.parquet", [metrics["timeline_room"]])
    assert line["entries"].sum() == activity["entries"].sum()
    ranking = pd.read_csv(tables / "group_ranking.csv")
    ranked = ranking[ranking["rank"].notna()]
    assert (ranked["ci_low"] <= ranked["mean"]).all() and (ranked["mean"] <= ranked["ci_high"]).all()
    assert (pd.read_csv(tables / "hour_of_week.csv")["n_rooms"] > 0).all()


def test_small_simulation_runs_without_alertable_rooms(small_sim: Path, small_run: Path) -> None:
    """Registered users alone give rooms a few viewers: the alerts are skipped with a reason, the rest runs."""
    metrics = run_notebook(NAME, small_run, DATA_DIR=str(small_sim))
    assert metrics["status"] == "ok"
    assert "alerts" in metrics["skipped_sections"] and "planted_truth" in metrics["skipped_sections"]
    assert metrics["n_alert_rooms"] == 0 and metrics["replay_equal"] is True
    kpis = pd.read_csv(small_run / NAME / "tables" / "room_kpis.csv")
    assert len(kpis) == len(pd.read_parquet(small_run / "01_data_cleaning" / "clean" / "rooms.parquet"))
    assert metrics["n_stays"] == int(pd.read_csv(small_run / NAME / "tables" / "stays_closed_by.csv")["stays"].sum())


def test_dataset_without_rooms_is_skipped_in_one_sentence(small_run: Path, tmp_path: Path) -> None:
    source = small_run / "01_data_cleaning" / "clean"
    clean = tmp_path / "01_data_cleaning" / "clean"
    clean.mkdir(parents=True)
    for table in ("events", "users", "items"):
        shutil.copy(source / f"{table}.parquet", clean)
    meta = yaml.safe_load((source / "dataset.yaml").read_text(encoding="utf-8"))
    (clean / "dataset.yaml").write_text(yaml.safe_dump({**meta, "tables": ["events", "users", "items"]}), encoding="utf-8")
    (tmp_path / "01_data_cleaning" / "truth").mkdir()  # real data: 01 publishes an empty truth folder
    (tmp_path / "no_raw_data").mkdir()  # a dataset without tables: the notebook reads only the run folder
    (tmp_path / "no_raw_data" / "dataset.yaml").write_text("name: none\ntables: []\n", encoding="utf-8")
    metrics = run_notebook(NAME, tmp_path, DATA_DIR=str(tmp_path / "no_raw_data"))
    assert metrics == {"status": "skipped", "skipped_sections": ["live_rooms"], "output_files": []}
