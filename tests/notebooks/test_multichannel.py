"""One person across channels: simulated sources → integrate (CLI) → 01 and 02, checked on planted persons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsc_utils import nbtools
from lsc_utils.__main__ import main
from lsc_utils.privacy import find_leaks
from lsc_utils.simulate.channels import SOURCES
from tests.notebooks.conftest import run_notebook


@pytest.fixture(scope="module")
def multichannel(small_sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small simulation split into five sources and integrated with the CLI, as the README shows."""
    root = tmp_path_factory.mktemp("multichannel")
    assert main(["simulate-channels", "--base", str(small_sim), "--out", str(root / "sources")]) == 0
    sources = [arg for s in SOURCES for arg in ("--source", f"{s}={root / 'sources' / s}")]
    args = ["integrate", *sources, "--out", str(root / "integrated"), "--truth", str(root / "sources" / "truth")]
    assert main(args) == 0
    return root


@pytest.fixture(scope="module")
def multichannel_run(multichannel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("multichannel_run")
    run_notebook("01_data_cleaning", run_dir, DATA_DIR=str(multichannel / "integrated"))
    run_notebook("02_user_portraits", run_dir, DATA_DIR=str(multichannel / "integrated"))
    return run_dir


def test_planted_persons_are_recovered_by_the_cleaning_notebook(multichannel_run: Path) -> None:
    metrics = nbtools.read_metrics(multichannel_run / "01_data_cleaning")
    quality = metrics["identity_quality"]
    assert quality["precision"] >= 0.99 and quality["recall"] >= 0.95, quality
    assert quality["households"] >= 10 and quality["households_merged"] == 0, quality
    assert quality["accounts_in_one_person"] is True
    assert metrics["ledger_balanced"] is True
    ledger = {row["source"]: row for row in metrics["identity_ledger"]}
    assert ledger["all"]["accounts"] == metrics["identity_accounts"] > metrics["identity_persons"]
    assert sum(ledger[s]["accounts"] for s in SOURCES) == ledger["all"]["accounts"]


def test_person_view_counts_fewer_and_richer_customers_than_the_account_view(multichannel_run: Path) -> None:
    compare = nbtools.read_metrics(multichannel_run / "02_user_portraits")["person_versus_accounts"]
    assert compare["persons"] < compare["accounts"]
    assert compare["multi_account_persons"] > 100
    assert 0.3 < compare["median_best_account_share"] < 0.95


def test_no_raw_identifier_or_canary_leaves_the_sources(small_sim: Path, multichannel: Path, multichannel_run: Path) -> None:
    canaries = json.loads((small_sim / "truth" / "canaries.json").read_text(encoding="utf-8"))
    assert find_leaks(multichannel / "sources", canaries), "the simulated sources carry raw e-mails"
    # the raw integrated dataset keeps the comment texts as the sources wrote them (01 masks their PII);
    # no identifier of a users table is anywhere else
    assert {file for file, _ in find_leaks(multichannel / "integrated", canaries)} <= {"comments.parquet"}
    assert find_leaks(multichannel_run, canaries) == []
