"""Every shared real dataset converts, cleans, and its ledger balances exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsc_utils.cleaning import clean_dataset
from lsc_utils.datasets import convert
from lsc_utils.io import load_dataset

KEY = b"realdata-test-key-0123456789"

SOURCES = [
    ("taobao", "taobao_userbehavior/UserBehavior_head84k.csv", {}),
    ("taobao", "taobao_userbehavior/UserBehavior_10k.csv", {}),
    ("yoochoose", "yoochoose_rsc15_100k", {}),
    ("jdata", "jdata_jd_2017", {}),
    ("online_retail", "online_retail_uci/Online_Retail_sample40k.csv", {}),
    ("cdnow", "cdnow/CDNOW_sample.txt", {"variant": "sample"}),
    ("cdnow", "cdnow/CDNOW_master.txt", {"variant": "master"}),
    ("movielens", "movielens_100k", {}),
    ("twitch", "twitch_liverec/twitch105k_filterbubbles.csv", {}),
]


@pytest.mark.realdata
@pytest.mark.parametrize(("source", "path", "options"), SOURCES, ids=[f"{s}:{Path(p).name}" for s, p, _ in SOURCES])
def test_real_dataset_converts_and_cleans_with_a_balanced_ledger(
    shared_data: Path, tmp_path: Path, source: str, path: str, options: dict
) -> None:
    folder = convert(source, shared_data / path, tmp_path / "ds", **options)
    raw = load_dataset(folder, strict=False)
    result = clean_dataset(raw, KEY)
    ledger = result.ledger.set_index("table")
    assert (ledger["input_rows"] == ledger["kept_rows"] + ledger["quarantined_rows"]).all()
    for table, frame in result.quarantine.items():
        assert len(frame) == ledger.loc[table, "quarantined_rows"]
        assert set(frame["reason"]) <= set(result.reasons.loc[result.reasons["table"] == table, "reason"])
    events = result.dataset["events"]
    reasons = result.reasons[result.reasons["table"] == "events"].set_index("reason")["rows"]
    # Rows that leave, by source: Online Retail lines without a CustomerID (10,057 in the sample; 28 more
    # are exact repeats of a line); JData repeats actions within the same second (23,870 exact duplicate
    # raw rows, plus browse (1) and click (6) rows that both become view_item); elsewhere a few out-of-period
    # timestamps and repeats. Anything else must stay.
    expected_losses = {"online_retail": {"null_id", "duplicate"}, "jdata": {"duplicate", "ts_out_of_range"}}
    allowed = expected_losses.get(source, {"duplicate", "ts_out_of_range"})
    assert set(reasons.index) <= allowed, reasons
    if source not in expected_losses:
        assert len(events) > 0.99 * ledger.loc["events", "input_rows"], ledger
    assert events["user_id"].str.fullmatch(r"u_[0-9a-f]{16}").all()
    assert events["session_id"].notna().all()
