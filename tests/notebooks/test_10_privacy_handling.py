"""10_privacy_handling, the release gate, on the default sample after 01-03 and 08 (planted PII canaries,
a labelled PII benchmark, consent flags), after an erasure request, and on MovieLens 100k users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lsc_utils import nbtools, privacy
from lsc_utils.run import run_collection
from tests.conftest import REPO

NAME = "10_privacy_handling"
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    run_dir = run_collection(data=SAMPLE, out=tmp_path_factory.mktemp("gate") / "run", only="01,02,03,08,10", progress=False)
    return nbtools.read_metrics(run_dir / NAME), run_dir


def _checks(metrics: dict) -> pd.DataFrame:
    return pd.DataFrame(metrics["release_checks"]).set_index("check")


def test_pii_detection_recovers_the_planted_values_and_ignores_look_alikes(gate: tuple[dict, Path]) -> None:
    metrics, _ = gate
    detection = pd.DataFrame(metrics["pii_detection"])
    assert set(detection["kind"]) == set(privacy.DETECTED_KINDS)
    assert (detection["recall"] >= 0.95).all() and (detection["precision"] >= 0.95).all(), detection
    checks = _checks(metrics)
    assert checks.loc["PII detection: look-alikes flagged", "value"] == "0"
    assert float(checks.loc["PII detection: recall in raw comments (planted)", "value"]) >= 0.95
    assert checks.loc["PII in the run's tables", "verdict"] == "pass"
    assert checks.loc["planted canaries in the run folder", "verdict"] == "pass"


def test_anonymisation_reaches_k_and_defeats_the_linkage_attack(gate: tuple[dict, Path]) -> None:
    metrics, run_dir = gate
    before, after = metrics["risk"]["before"], metrics["risk"]["after"]
    assert before["k"] == 1 and before["unique_share"] > 0.5  # as collected, most people are unique
    assert after["k"] >= 5 and after["unique_share"] == 0 and after["l[segment]"] >= 2
    attack = metrics["linkage"]
    assert attack["before"]["reidentified_share"] > 0.5 and attack["after"]["reidentified_share"] <= 0.2
    assert metrics["anonymisation"]["suppressed"] <= 0.02 * before["rows"]
    released = pd.read_csv(run_dir / NAME / "release" / "portraits_k_anonymous.csv", dtype=str)
    assert "user_id" not in released and privacy.k_anonymity(released, [c for c in released if c not in ("segment", "spend_band")]) >= 5


def test_dp_ledger_consent_and_the_release_folder(gate: tuple[dict, Path]) -> None:
    metrics, run_dir = gate
    ledger = pd.DataFrame(metrics["dp_ledger"])
    assert ledger["epsilon"].sum() <= 2.0 + 1e-9 and len(ledger) == 3  # segments (counts, sums), category-days
    utility = pd.DataFrame(metrics["dp_utility"])
    means = utility[utility["statistic"] == "mean"].sort_values("epsilon")
    assert means["relative_error"].is_monotonic_decreasing  # more budget, less error
    checks = _checks(metrics)
    assert checks.loc["consent: marketing opt-outs on the targeting list", "verdict"] == "pass"
    assert checks.loc["consent: personalisation opt-outs get a history-free list", "verdict"] == "pass"
    assert set(checks["verdict"]) <= {"pass", "info"}, checks[checks["verdict"] == "fail"]
    released = pd.DataFrame(metrics["released"]).set_index("table")["released"]
    assert released.to_dict() == {"portraits_k_anonymous": True, "segment_spend_dp": True, "buyers_by_category_day_dp": True}
    dp_table = pd.read_csv(run_dir / NAME / "release" / "segment_spend_dp.csv")
    assert list(dp_table.columns) == ["group", "dp_count", "dp_sum", "dp_mean"]


def test_after_erasure_a_rerun_holds_no_trace_of_the_person(small_sim: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_sim, data)
    users = pd.read_parquet(data / "users.parquet")["user_id"]
    victim, other = users.iloc[10], users.iloc[11]
    done = subprocess.run(
        [sys.executable, "-m", "lsc_utils", "erase", "--data", str(data), "--user", victim],
        cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), check=False,
    )
    assert done.returncode == 0, done.stderr
    run_dir = run_collection(data=data, out=tmp_path / "run", only="01,02,10", progress=False)
    key = privacy.load_pseudonym_key()
    gone, kept = privacy.pseudonymize(pd.Series([victim, other]), key).tolist()
    assert privacy.find_leaks(run_dir, [gone]) == []
    assert privacy.find_leaks(run_dir, [kept])  # the scan does see pseudonyms of people who stay
    checks = _checks(nbtools.read_metrics(run_dir / NAME))
    assert checks.loc["erased people in the run folder", "verdict"] == "pass"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "ok"


@pytest.mark.realdata
def test_movielens_users_risk_before_and_after(shared_data: Path, tmp_path: Path) -> None:
    from lsc_utils.datasets import convert

    data = convert("movielens", shared_data / "movielens_100k", tmp_path / "ml")
    run_dir = run_collection(REPO / "configs" / "movielens100k.yaml", data=data, out=tmp_path / "run", only="01,02,10", progress=False)
    metrics = nbtools.read_metrics(run_dir / NAME)
    before, after = metrics["risk"]["before"], metrics["risk"]["after"]
    assert before["k"] == 1 and after["k"] >= 5 and after["unique_share"] == 0
    assert metrics["linkage"]["after"]["reidentified_share"] <= 0.2
    assert "pii_benchmark" in metrics["skipped_sections"]  # real data: no planted PII
