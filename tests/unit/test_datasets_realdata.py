"""The adapters on the real public samples in ../shared/data, checked against their documented counts.

Skipped with a reason when the shared data folder is absent (a user's clone).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lsc_utils.datasets import convert
from lsc_utils.io import Dataset, load_dataset

pytestmark = pytest.mark.realdata


def converted(source: str, raw: Path, out: Path, **options: object) -> Dataset:
    """Convert a shared sample and load it back with the canonical loader (strict=False)."""
    return load_dataset(convert(source, raw, out, **options), strict=False)


def event_counts(ds: Dataset) -> dict[str, int]:
    return ds["events"]["event_type"].value_counts().to_dict()


def test_taobao_head84k_keeps_every_behaviour(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("taobao", shared_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", tmp_path / "tb")
    assert event_counts(ds) == {"view_item": 75_872, "add_to_cart": 4_497, "favorite": 2_356, "pay": 1_750}
    assert len(ds["events"]) == 84_475 and len(ds["users"]) == 815
    assert ds["items"]["item_id"].is_unique and set(ds["events"]["item_id"]) == set(ds["items"]["item_id"])
    assert ds.meta["conversion"]["row_problems"] == []


def test_taobao_10k_cut(shared_data: Path, tmp_path: Path) -> None:
    ds = converted(
        "taobao", shared_data / "taobao_userbehavior" / "UserBehavior_10k.csv", tmp_path / "tb", chunk_rows=3_000
    )
    assert event_counts(ds) == {"view_item": 9_046, "add_to_cart": 536, "favorite": 212, "pay": 206}
    assert len(ds["events"]) == 10_000


def test_yoochoose_train_and_test_clicks(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("yoochoose", shared_data / "yoochoose_rsc15_100k", tmp_path / "yc")
    assert len(ds["events"]) == 70_278 + 13_568
    assert event_counts(ds) == {"view_item": 83_846}
    assert len(ds["users"]) == ds["events"]["session_id"].nunique() == 21_210
    train_file = shared_data / "yoochoose_rsc15_100k" / "yoochoose-clicks-100k_train_full.txt"
    train = converted("yoochoose", train_file, tmp_path / "train")
    assert len(train["events"]) == 70_278 and train["events"]["session_id"].nunique() == 17_794


def test_jdata_action_type_counts(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("jdata", shared_data / "jdata_jd_2017", tmp_path / "jd")
    assert event_counts(ds) == {
        "view_item": 34_226 + 53_209,
        "add_to_cart": 1_549,
        "remove_from_cart": 590,
        "pay": 200,
        "favorite": 223,
    }
    assert len(ds["events"]) == 3 * 29_999
    users = ds["users"]
    assert users["gender"].notna().sum() == 29_999
    assert users["gender"].value_counts().to_dict() == {"unknown": 14_785, "M": 13_012, "F": 2_202}
    assert users["age"].isna().sum() == 2_839 + (len(users) - 29_999)
    assert len(ds["items"]) >= 24_187


def test_online_retail_sample(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("online_retail", shared_data / "online_retail_uci", tmp_path / "or")
    events = ds["events"]
    assert len(events) == 40_000 and event_counts(ds) == {"pay": 39_222, "refund": 778}
    assert events["user_id"].nunique() == 3_621 and len(ds["users"]) == 3_621
    assert events["user_id"].isna().sum() == 10_057
    assert (events["quantity"] > 0).all()
    assert ds["users"]["region"].nunique() <= 36


@pytest.mark.parametrize(
    ("variant", "customers", "purchases"),
    [("sample", 2_357, 6_919), ("master", 23_570, 69_659)],
)
def test_cdnow_customers_and_purchases(
    shared_data: Path, tmp_path: Path, variant: str, customers: int, purchases: int
) -> None:
    ds = converted("cdnow", shared_data / "cdnow", tmp_path / "cd", variant=variant)
    assert len(ds["users"]) == customers and len(ds["events"]) == purchases
    assert ds["events"]["order_id"].is_unique


def test_cdnow_master_dollar_total(shared_data: Path, tmp_path: Path) -> None:
    events = converted("cdnow", shared_data / "cdnow" / "CDNOW_master.txt", tmp_path / "cd")["events"]
    assert round(float((events["price"] * events["quantity"]).sum()), 2) == 2_500_315.63


def test_movielens_100k(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("movielens", shared_data / "movielens_100k", tmp_path / "ml")
    assert len(ds["events"]) == 100_000 and len(ds["users"]) == 943 and len(ds["items"]) == 1_682
    assert ds["events"]["quantity"].between(1, 5).all()
    assert ds["users"]["gender"].value_counts().to_dict() == {"M": 670, "F": 273}


def test_twitch_2000_user_cut(shared_data: Path, tmp_path: Path) -> None:
    ds = converted("twitch", shared_data / "twitch_liverec", tmp_path / "tw")
    assert len(ds["events"]) == 105_745 and len(ds["users"]) == 2_000
    assert ds["rooms"]["anchor_id"].nunique() == 1_742
    assert set(ds["events"]["room_id"]) == set(ds["rooms"]["room_id"])
    assert (ds["rooms"]["end_ts"] > ds["rooms"]["start_ts"]).all()
