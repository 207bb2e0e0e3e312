"""01_data_cleaning on planted truth and on real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsc_utils import nbtools
from lsc_utils.privacy import find_leaks
from tests.notebooks.conftest import run_notebook

DIRTY_KINDS = {"duplicate", "null_id", "unparseable_ts", "ts_out_of_range", "negative_price", "unknown_event_type", "bot_user"}


def test_every_dirty_kind_is_caught_with_precision_and_recall_095(small_run: Path) -> None:
    metrics = nbtools.read_metrics(small_run / "01_data_cleaning")
    detection = {row["kind"]: row for row in metrics["dirty_detection"]}
    assert DIRTY_KINDS <= set(detection), f"kinds planted: {sorted(detection)}"
    for kind, row in detection.items():
        assert row["precision"] >= 0.95 and row["recall"] >= 0.95, (kind, row)
    assert metrics["ledger_balanced"] is True
    for row in metrics["ledger"]:
        assert row["input_rows"] == row["kept_rows"] + row["quarantined_rows"]


def test_no_canary_appears_in_any_file_of_the_run(small_sim: Path, small_run: Path) -> None:
    canaries = json.loads((small_sim / "truth" / "canaries.json").read_text(encoding="utf-8"))
    assert len(canaries) > 10
    assert find_leaks(small_run, canaries) == []


def test_leak_scanner_finds_a_planted_leak(small_sim: Path, tmp_path: Path) -> None:
    canaries = json.loads((small_sim / "truth" / "canaries.json").read_text(encoding="utf-8"))
    assert find_leaks(small_sim, canaries), "the raw simulated data must contain its canaries"
    (tmp_path / "x.csv").write_text(f"a,{canaries[0]}\n")
    assert find_leaks(tmp_path, canaries) == [("x.csv", canaries[0])]


def test_same_data_and_parameters_give_identical_metrics(small_sim: Path, small_run: Path, tmp_path: Path) -> None:
    again = run_notebook("01_data_cleaning", tmp_path, DATA_DIR=str(small_sim))
    first = (small_run / "01_data_cleaning" / "metrics.json").read_bytes()
    assert (tmp_path / "01_data_cleaning" / "metrics.json").read_bytes() == first
    assert again == json.loads(first)


def test_sessions_match_the_simulated_sessions(small_run: Path) -> None:
    metrics = nbtools.read_metrics(small_run / "01_data_cleaning")
    assert metrics["sessions"] > 0
    if "session_recovery" in metrics:
        assert metrics["session_recovery"] >= 0.99


@pytest.mark.realdata
def test_taobao_keeps_its_behaviour_counts_minus_quarantine(shared_data: Path, tmp_path: Path) -> None:
    from lsc_utils.datasets import convert

    data = convert("taobao", shared_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", tmp_path / "taobao")
    metrics = run_notebook("01_data_cleaning", tmp_path / "run", DATA_DIR=str(data))
    counts = {row["event_type"]: row for row in metrics["event_type_counts"]}
    published = {"view_item": 75_872, "add_to_cart": 4_497, "favorite": 2_356, "pay": 1_750}
    for event_type, n in published.items():
        assert counts[event_type]["input"] == n
        assert counts[event_type]["kept"] == n - counts[event_type]["quarantined"]
    reasons = {(r["table"], r["reason"]): r["rows"] for r in metrics["quarantine_reasons"]}
    assert sum(n for (t, _), n in reasons.items() if t == "events") == sum(c["quarantined"] for c in counts.values())
    assert metrics["ledger_balanced"] is True
