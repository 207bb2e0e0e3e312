"""The analyses' DuckDB connections: memory capped from ``LSC_DUCKDB_MEMORY_LIMIT``, spilling, same results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsc_utils.live import build_stays
from lsc_utils.paths import MarkovPathModel
from lsc_utils.portraits import build_portraits
from lsc_utils.sqlengine import capped_connection


@pytest.fixture(scope="module")
def sample_clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated dataset, cleaned (events with rooms, items and purchases)."""
    from lsc_utils.cleaning import clean_dataset_out_of_core
    from lsc_utils.simulate import simulate

    tmp = tmp_path_factory.mktemp("capped")
    data = simulate(tmp / "raw", n_users=300, n_days=14, seed=11, progress=False)
    return clean_dataset_out_of_core(data, tmp / "out", b"capped-connection-key-0123").paths["clean"]


def _settings() -> tuple[str, str, str]:
    with capped_connection() as con:
        return con.execute(
            "SELECT current_setting('memory_limit'), current_setting('TimeZone'), current_setting('temp_directory')"
        ).fetchone()


def test_the_cap_comes_from_the_environment_and_spills_to_a_folder_of_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LSC_DUCKDB_MEMORY_LIMIT", raising=False)
    limit, zone, spill = _settings()
    assert limit == "3.7 GiB" and zone == "UTC" and spill.endswith(f"lsc_duckdb_spill_{os.getpid()}")
    monkeypatch.setenv("LSC_DUCKDB_MEMORY_LIMIT", "700MB")
    assert _settings()[0] == "667.5 MiB"
    monkeypatch.setenv("LSC_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(
        ValueError, match="^LSC_DUCKDB_MEMORY_LIMIT must be a size such as '500MB' or '4GB'. Got 'lots'"
    ):
        capped_connection()


def test_a_tight_cap_changes_no_result(sample_clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = sample_clean / "events.parquet"
    results = {}
    for limit in ("4GB", "64MB"):
        monkeypatch.setenv("LSC_DUCKDB_MEMORY_LIMIT", limit)
        results[limit] = (
            MarkovPathModel(order=2).fit(events).transition_counts_,
            build_portraits(events, items=sample_clean / "items.parquet"),
            build_stays(events, sample_clean / "rooms.parquet"),
        )
    for small, large in zip(results["64MB"], results["4GB"], strict=True):
        assert small.equals(large)
