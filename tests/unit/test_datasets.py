"""Unit tests of the source adapters (lsc_utils.datasets) on the hand-written raw fixtures."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lsc_utils.constants import EVENT_TYPES
from lsc_utils.datasets import SOURCES, convert, source_options
from lsc_utils.io import Dataset, load_dataset
from lsc_utils.schema import DatasetError

REPO = Path(__file__).resolve().parents[2]
RAW = REPO / "tests" / "fixtures" / "raw"
EXAMPLE_MAPPING = REPO / "configs" / "mappings" / "example_generic.yaml"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def run(source: str, raw: Path, out: Path, **options: object) -> Dataset:
    """Convert and load the result back with the canonical loader (row problems returned, not raised)."""
    folder = convert(source, raw, out, **options)
    assert folder == out
    return load_dataset(folder, strict=False)


def type_counts(ds: Dataset) -> dict[str, int]:
    return ds["events"]["event_type"].value_counts().to_dict()


def problems(ds: Dataset) -> dict[tuple[str, str, str], int]:
    return {(p["table"], p["column"], p["problem"]): p["count"] for p in ds.meta["conversion"]["row_problems"]}


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------
def test_registry_lists_every_source_with_canonical_event_types() -> None:
    expected = {
        "taobao",
        "yoochoose",
        "jdata",
        "online_retail",
        "cdnow",
        "hillstrom",
        "movielens",
        "twitch",
        "retailrocket",
        "rees46",
        "generic",
    }
    assert set(SOURCES) == expected
    for name, module in SOURCES.items():
        assert set(module.EVENT_TYPES) <= set(EVENT_TYPES), name
        assert "Mapping" in module.__doc__ and "cannot produce" in module.__doc__, name


def test_unknown_source_lists_known_sources(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"Unknown source 'tmall'\. Known sources: cdnow, generic, hillstrom, jdata"):
        convert("tmall", RAW / "taobao", tmp_path / "out")


def test_unknown_option_names_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"Unknown option 'variant' for source 'taobao'\. Expected one of: name, chunk_rows"
    ):
        convert("taobao", RAW / "taobao", tmp_path / "out", variant="sample")
    assert source_options("cdnow") == ["name", "variant"]


# --------------------------------------------------------------------------------------------------
# Taobao
# --------------------------------------------------------------------------------------------------
def test_taobao_fixture_maps_behaviours_and_keeps_unknown_ones(tmp_path: Path) -> None:
    ds = run("taobao", RAW / "taobao", tmp_path / "tb")
    events = ds["events"]
    assert len(events) == 15
    assert type_counts(ds) == {"view_item": 8, "add_to_cart": 2, "favorite": 2, "pay": 2, "clk": 1}
    assert problems(ds) == {("events", "event_type", "out_of_vocabulary"): 1}
    assert [p.count for p in ds.problems["events"]] == [1]
    assert events.loc[0, "ts"] == utc("2017-11-24 17:21:10")
    assert events["user_id"].tolist()[:2] == ["1", "1"] and events.loc[0, "item_id"] == "100"
    items = ds["items"].set_index("item_id")["category"].to_dict()
    assert items == {"100": "10", "101": "10", "102": "11", "103": "12", "104": "13", "105": "13"}
    assert ds["users"]["user_id"].tolist() == ["1", "2", "3"]
    assert ds["users"]["consent_marketing"].all() and ds["users"]["consent_personalization"].all()
    meta = ds.meta
    assert meta["source"] == "taobao" and meta["timezone"] == "Asia/Shanghai" and meta["consent"] == "assumed"
    assert meta["period"] == {"start": "2017-11-25", "end": "2017-12-03"}
    assert meta["event_types"] == ["view_item", "add_to_cart", "favorite", "pay"]
    assert meta["tables"] == ["users", "items", "events"]
    assert meta["raw_files"][0]["name"] == "UserBehavior_fixture.csv" and len(meta["raw_files"][0]["sha256"]) == 64


def test_taobao_streaming_in_small_chunks_gives_identical_tables(tmp_path: Path) -> None:
    whole = run("taobao", RAW / "taobao", tmp_path / "whole")
    chunked = run("taobao", RAW / "taobao", tmp_path / "chunked", chunk_rows=4)
    for table in ("events", "items", "users"):
        pd.testing.assert_frame_equal(whole[table], chunked[table])


def test_taobao_skips_a_header_line(tmp_path: Path) -> None:
    raw = tmp_path / "UserBehavior.csv"
    raw.write_text(
        "user_id,item_id,category_id,behavior_type,timestamp\n"
        + (RAW / "taobao" / "UserBehavior_fixture.csv").read_text()
    )
    assert len(run("taobao", raw, tmp_path / "out")["events"]) == 15


def test_taobao_mostly_unknown_behaviours_raise(tmp_path: Path) -> None:
    raw = tmp_path / "clicks.csv"
    raw.write_text("1,2,3,click,1511544070\n1,2,3,click,1511544071\n1,2,3,pv,1511544072\n")
    with pytest.raises(DatasetError, match=r"column 'behavior_type' has 2 of 3 values outside pv, cart, fav, buy"):
        convert("taobao", raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"file is empty"),
        (b"1,2,3,pv,1511544070\n1,2,3,pv,\xff\xfe\n", r"not valid UTF-8 text \(byte 0xff at offset 29\)"),
        (b"1,2,3,pv\n1,2,3,pv\n", r"cannot be parsed as 5 ','-separated columns"),
    ],
)
def test_taobao_structural_problems_raise(tmp_path: Path, content: bytes, message: str) -> None:
    raw = tmp_path / "UserBehavior.csv"
    raw.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        convert("taobao", raw, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# YooChoose
# --------------------------------------------------------------------------------------------------
def test_yoochoose_prepared_folder_reads_train_full_and_test_only(tmp_path: Path) -> None:
    ds = run("yoochoose", RAW / "yoochoose" / "prepared", tmp_path / "yc")
    events = ds["events"]
    assert len(events) == 7 and type_counts(ds) == {"view_item": 7}
    assert [f["name"] for f in ds.meta["raw_files"]] == ["clicks_test.txt", "clicks_train_full.txt"]
    assert sorted(events["user_id"].unique()) == ["s1", "s2", "s31829"]
    assert (events["user_id"] == "s" + events["session_id"]).all()
    first = events[events["session_id"] == "1"].iloc[0]
    assert first["ts"] == utc("2014-04-07 08:51:09.277")
    assert ds["items"]["item_id"].nunique() == 6


def test_yoochoose_original_clicks_and_buys(tmp_path: Path) -> None:
    ds = run("yoochoose", RAW / "yoochoose" / "original", tmp_path / "yc")
    assert type_counts(ds) == {"view_item": 6, "pay": 2}
    pays = ds["events"][ds["events"]["event_type"] == "pay"].set_index("session_id")
    assert pays.loc["11", ["price", "quantity"]].tolist() == [1046.0, 2.0]
    assert pays.loc["2", ["price", "quantity"]].tolist() == [0.0, 0.0]
    items = ds["items"].set_index("item_id")
    assert items.loc["214662742", "category"] == "special_offer"
    assert items.loc["214825110", "category"] == "3"
    assert items.loc["214821275", "brand"] == "2053813230" and pd.isna(items.loc["214821275", "category"])
    assert pd.isna(items.loc["214536502", "category"]) and pd.isna(items.loc["214536502", "brand"])


def test_yoochoose_unrecognised_file_raises(tmp_path: Path) -> None:
    raw = tmp_path / "clicks.txt"
    raw.write_text("session;item;time\n1;2;3\n")
    with pytest.raises(DatasetError, match=r"not a YooChoose file"):
        convert("yoochoose", raw, tmp_path / "out")
    with pytest.raises(DatasetError, match=r"no YooChoose files found"):
        convert("yoochoose", tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# JData
# --------------------------------------------------------------------------------------------------
def test_jdata_actions_users_and_products(tmp_path: Path) -> None:
    ds = run("jdata", RAW / "jdata", tmp_path / "jd")
    events = ds["events"]
    assert len(events) == 11
    assert type_counts(ds) == {
        "view_item": 6,
        "add_to_cart": 1,
        "pay": 1,
        "remove_from_cart": 1,
        "favorite": 1,
        "7": 1,
    }
    assert events.loc[0, ["user_id", "item_id"]].tolist() == ["200001", "138778"]
    assert events.loc[0, "ts"] == utc("2016-01-31 15:59:02")
    users = ds["users"].set_index("user_id")
    assert users.loc[["200001", "200003", "200004", "200005"], "age"].tolist() == [60, 40, 20, 10]
    assert pd.isna(users.loc["200002", "age"]) and pd.isna(users.loc["299999", "age"])
    assert users.loc["200004", "member_level"] == "3"
    assert users.loc["200004", "signup_ts"] == utc("2013-08-14 16:00")
    assert pd.isna(users.loc["200005", "signup_ts"])
    items = ds["items"].set_index("item_id")
    assert items.loc["138778", ["category", "brand", "tags"]].tolist() == ["8", "403", "a1=3|a2=1|a3=1"]
    assert items.loc["61226", "tags"] == "a1=1" and pd.isna(items.loc["144549", "tags"])
    assert items.loc["99999", ["category", "brand"]].tolist() == ["4", "519"]
    assert ds.meta["period"] == {"start": "2016-02-01", "end": "2016-04-15"}


def test_jdata_gender_of_every_user(tmp_path: Path) -> None:
    users = run("jdata", RAW / "jdata", tmp_path / "jd")["users"].set_index("user_id")["gender"]
    assert users.drop("299999").to_dict() == {
        "200001": "unknown",
        "200002": "M",
        "200003": "F",
        "200004": "M",
        "200005": "F",
    }
    assert pd.isna(users["299999"])


def test_jdata_single_action_file_uses_sibling_user_file(tmp_path: Path) -> None:
    ds = run("jdata", RAW / "jdata" / "JData_Action_201603.csv", tmp_path / "jd")
    assert len(ds["events"]) == 5
    assert ds["users"].set_index("user_id").loc["200004", "age"] == 20


def test_jdata_missing_type_column_raises(tmp_path: Path) -> None:
    shutil.copytree(RAW / "jdata", tmp_path / "raw")
    action = tmp_path / "raw" / "JData_Action_201602.csv"
    frame = pd.read_csv(action, dtype="str").drop(columns="type")
    frame.to_csv(action, index=False)
    with pytest.raises(DatasetError, match=r"JData_Action_201602\.csv: required column 'type' missing"):
        convert("jdata", tmp_path / "raw", tmp_path / "out")


def test_jdata_garbled_age_band_raises_with_encoding_hint(tmp_path: Path) -> None:
    shutil.copytree(RAW / "jdata", tmp_path / "raw")
    users = tmp_path / "raw" / "JData_User_utf8.csv"
    users.write_text(users.read_text(encoding="utf-8").replace("36-45岁", "36-45Ëê"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"column 'age' has bands outside the JData vocabulary.*user_encoding='gbk'"):
        convert("jdata", tmp_path / "raw", tmp_path / "out")


def test_jdata_folder_without_action_files_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no JData action files found"):
        convert("jdata", tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# Online Retail
# --------------------------------------------------------------------------------------------------
def test_online_retail_lines_refunds_and_missing_customers(tmp_path: Path) -> None:
    ds = run("online_retail", RAW / "online_retail", tmp_path / "or")
    events = ds["events"]
    assert len(events) == 12 and type_counts(ds) == {"pay": 10, "refund": 2}
    refunds = events[events["event_type"] == "refund"]
    assert refunds["order_id"].tolist() == ["C536379", "547606"]
    assert refunds["quantity"].tolist() == [2.0, 10.0]
    assert events["user_id"].isna().sum() == 3
    assert problems(ds) == {("events", "user_id", "null_id"): 3}
    assert events.loc[0, ["user_id", "item_id", "price", "quantity", "order_id"]].tolist() == [
        "17850",
        "85123A",
        2.55,
        6.0,
        "536365",
    ]
    ts = events["ts"]
    assert ts[0] == utc("2010-12-01 08:26")  # GMT in winter
    assert ts[4] == utc("2011-06-15 11:00")  # BST in summer
    assert ts[10] == utc("2011-10-30 00:30")  # ambiguous 01:30 read as BST
    assert ts[11] == utc("2011-03-27 01:00")  # non-existent 01:30 shifted to 02:00 BST
    users = ds["users"].set_index("user_id")["region"].to_dict()
    assert users == {"12583": "France", "13047": "United Kingdom", "17850": "United Kingdom"}
    items = ds["items"].set_index("item_id")
    assert (items["category"] == "unknown").all() and len(items) == 5
    assert items.loc["85123A", ["tags", "list_price"]].tolist() == ["white|hanging|heart|light|holder", 2.55]
    assert items.loc["71053", ["tags", "list_price"]].tolist() == ["white|metal|lantern", 3.39]
    assert items.loc["22139", ["tags", "list_price"]].tolist() == ["retrospot|tea|set|ceramic|pc", 4.95]
    assert ds.meta["timezone"] == "Europe/London"


def test_online_retail_accepts_online_retail_ii_names(tmp_path: Path) -> None:
    raw = pd.read_csv(RAW / "online_retail" / "Online_Retail_fixture.csv", dtype="str")
    raw = raw.rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})
    raw.to_csv(tmp_path / "online_retail_II.csv", index=False)
    assert type_counts(run("online_retail", tmp_path / "online_retail_II.csv", tmp_path / "out")) == {
        "pay": 10,
        "refund": 2,
    }


def test_online_retail_missing_price_column_and_latin1_bytes_raise(tmp_path: Path) -> None:
    raw = pd.read_csv(RAW / "online_retail" / "Online_Retail_fixture.csv", dtype="str").drop(columns="UnitPrice")
    raw.to_csv(tmp_path / "no_price.csv", index=False)
    with pytest.raises(DatasetError, match=r"no_price\.csv: required column 'UnitPrice' missing"):
        convert("online_retail", tmp_path / "no_price.csv", tmp_path / "out")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        (RAW / "online_retail" / "Online_Retail_fixture.csv").read_bytes().replace(b"LANTERN", b"LANT\xc9RN")
    )
    with pytest.raises(DatasetError, match=r"not valid UTF-8 text.*pass its encoding"):
        convert("online_retail", latin, tmp_path / "out")
    ds = run("online_retail", latin, tmp_path / "out", encoding="latin-1")
    assert ds["items"].set_index("item_id").loc["71053", "tags"] == "white|metal|lant|rn"


# --------------------------------------------------------------------------------------------------
# CDNOW
# --------------------------------------------------------------------------------------------------
def test_cdnow_master_unit_price_times_quantity_is_dollar_value(tmp_path: Path) -> None:
    ds = run("cdnow", RAW / "cdnow", tmp_path / "cd")
    events = ds["events"]
    assert len(events) == 8 and ds["users"]["user_id"].tolist() == ["00001", "00002", "00003", "00004"]
    assert events["order_id"].tolist()[1:3] == ["00002-19970112-1", "00002-19970112-2"]
    assert events.loc[2, ["price", "quantity"]].tolist() == [15.4, 5.0]
    dollars = (events["price"] * events["quantity"]).fillna(0).round(2).tolist()
    assert dollars == [11.77, 12.0, 77.0, 20.76, 20.76, 19.54, 29.33, 0.0]
    assert pd.isna(events.loc[7, "price"]) and events.loc[7, "quantity"] == 0
    assert events.loc[0, "ts"] == utc("1997-01-01 05:00")  # midnight New York (EST)
    assert ds.meta["timezone"] == "America/New_York" and "items" not in ds.tables


def test_cdnow_sample_variant_detected_by_column_count(tmp_path: Path) -> None:
    ds = run("cdnow", RAW / "cdnow", tmp_path / "cd", variant="sample")
    assert len(ds["events"]) == 4 and ds["events"]["user_id"].nunique() == 2
    assert ds["events"].loc[3, "ts"] == utc("1997-07-18 04:00")  # midnight New York (EDT)
    file_run = run("cdnow", RAW / "cdnow" / "CDNOW_sample.txt", tmp_path / "cd2")
    pd.testing.assert_frame_equal(ds["events"], file_run["events"])


def test_cdnow_wrong_column_count_and_variant_raise(tmp_path: Path) -> None:
    raw = tmp_path / "CDNOW_master.txt"
    raw.write_text(" 00001 19970101 1\n 00002 19970112 1\n")
    with pytest.raises(DatasetError, match=r"expected 4 columns .* or 5 columns .*; got 3"):
        convert("cdnow", raw, tmp_path / "out")
    with pytest.raises(
        DatasetError, match=r"The 'variant' parameter of cdnow\.convert must be one of master, sample\. Got 'full'"
    ):
        convert("cdnow", RAW / "cdnow", tmp_path / "out", variant="full")


# --------------------------------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------------------------------
def test_movielens_ratings_users_and_latin1_items(tmp_path: Path) -> None:
    ds = run("movielens", RAW / "movielens", tmp_path / "ml")
    events = ds["events"]
    assert len(events) == 8 and type_counts(ds) == {"view_item": 8}
    assert events["quantity"].tolist() == [5.0, 3.0, 4.0, 2.0, 1.0, 5.0, 4.0, 3.0]
    assert events.loc[0, "ts"] == utc("1997-09-22 22:02:38")
    users = ds["users"].set_index("user_id")
    assert users.loc["2", ["gender", "age", "region"]].tolist() == ["F", 53, "94043"]
    items = ds["items"].set_index("item_id")
    assert items.loc["1", ["category", "tags", "brand"]].tolist() == [
        "Animation",
        "Animation|Children's|Comedy",
        "unknown",
    ]
    assert items.loc["3", "category"] == "Drama"
    assert items.loc["4", ["category", "tags"]].tolist() == ["unknown", "unknown"]
    assert items.loc["5", "category"] == "unknown" and pd.isna(items.loc["5", "tags"])


def test_movielens_folder_without_ratings_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"not a MovieLens 100K folder \(no u\.data\)"):
        convert("movielens", tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# Twitch
# --------------------------------------------------------------------------------------------------
def test_twitch_cut_splits_broadcasts_on_gaps(tmp_path: Path) -> None:
    ds = run("twitch", RAW / "twitch" / "cut", tmp_path / "tw")
    events = ds["events"]
    assert len(events) == 10 and type_counts(ds) == {"enter_room": 10}
    assert events["room_id"].tolist() == [
        "0@100",
        "1@100",
        "0@100",
        "0@100",
        "0@100",
        "0@200",
        "1@5000",
        "1@5000",
        "2@0",
        "2@0",
    ]
    assert events.loc[0, "ts"] == utc("2019-01-01") + pd.Timedelta(minutes=1000)
    rooms = ds["rooms"].set_index("room_id")
    assert sorted(rooms.index) == ["0@100", "0@200", "1@100", "1@5000", "2@0"]
    assert rooms.loc["0@100", ["anchor_id", "category"]].tolist() == ["0", "8"]
    assert rooms.loc["0@100", "start_ts"] == utc("2019-01-01") + pd.Timedelta(minutes=1000)
    assert rooms.loc["0@100", "end_ts"] == utc("2019-01-01") + pd.Timedelta(minutes=1500)
    assert ds.meta["options"] == {"epoch": "2019-01-01T00:00:00Z", "broadcast_gap_steps": 48}


def test_twitch_cut_gap_and_epoch_options(tmp_path: Path) -> None:
    ds = run("twitch", RAW / "twitch" / "cut", tmp_path / "tw", broadcast_gap_steps=100, epoch="2020-06-01")
    assert ds["rooms"]["room_id"].tolist() == ["0@100", "1@100", "1@5000", "2@0"]
    assert ds["events"].loc[8, "ts"] == utc("2020-06-01")
    with pytest.raises(DatasetError, match=r"'broadcast_gap_steps' parameter of twitch\.convert must be an int >= 1"):
        convert("twitch", RAW / "twitch" / "cut", tmp_path / "x", broadcast_gap_steps=0)


def test_twitch_original_enter_and_leave_per_row(tmp_path: Path) -> None:
    ds = run("twitch", RAW / "twitch" / "original", tmp_path / "tw")
    events = ds["events"]
    assert events["event_type"].tolist() == ["enter_room", "leave_room"] * 5
    assert events.loc[1, "ts"] - events.loc[0, "ts"] == pd.Timedelta(minutes=40)
    rooms = ds["rooms"].set_index("room_id")
    assert rooms.loc["34347669376", "anchor_id"] == "grimnax"
    assert rooms.loc["34347669376", "start_ts"] == utc("2019-01-01") + pd.Timedelta(minutes=54150)
    assert rooms.loc["34347669376", "end_ts"] == utc("2019-01-01") + pd.Timedelta(minutes=54190)
    assert rooms.loc["33881429664", "end_ts"] == utc("2019-01-01") + pd.Timedelta(minutes=5240)


def test_twitch_unrecognised_header_raises(tmp_path: Path) -> None:
    raw = tmp_path / "watch.csv"
    raw.write_text("user,channel,when\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"not a Twitch LiveRec file"):
        convert("twitch", raw, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# RetailRocket and REES46
# --------------------------------------------------------------------------------------------------
def test_retailrocket_events_and_latest_categories_with_paths(tmp_path: Path) -> None:
    ds = run("retailrocket", RAW / "retailrocket", tmp_path / "rr", chunk_rows=2)
    assert type_counts(ds) == {"view_item": 5, "add_to_cart": 2, "pay": 2, "click": 1}
    pays = ds["events"][ds["events"]["event_type"] == "pay"]
    assert pays["order_id"].tolist() == ["17112", "17112"]
    assert ds["events"].loc[0, "ts"] == utc("2015-06-02 05:02:12.117")
    items = ds["items"].set_index("item_id")
    assert len(items) == 9
    assert items.loc["355908", ["category", "tags"]].tolist() == ["1338", "250|805|1173|1338"]
    assert items.loc["248676", ["category", "tags"]].tolist() == ["491", "491"]
    assert items.loc["22556", "tags"] == "250|805|1173"
    assert pd.isna(items.loc["7328", "category"])


def test_retailrocket_events_file_alone(tmp_path: Path) -> None:
    shutil.copy(RAW / "retailrocket" / "events.csv", tmp_path / "events.csv")
    ds = run("retailrocket", tmp_path / "events.csv", tmp_path / "out")
    assert len(ds["events"]) == 10 and ds["items"]["category"].isna().all()


def test_rees46_events_sessions_and_latest_item_attributes(tmp_path: Path) -> None:
    ds = run("rees46", RAW / "rees46", tmp_path / "r46", chunk_rows=3)
    assert type_counts(ds) == {"view_item": 4, "add_to_cart": 1, "remove_from_cart": 1, "pay": 1, "wishlist": 1}
    pay = ds["events"][ds["events"]["event_type"] == "pay"].iloc[0]
    assert pay["price"] == 249.99 and pay["session_id"] == "7c90fc70-0e80-4590-96f3-13c02c18c713"
    assert ds["events"].loc[2, "ts"] == utc("2019-10-01 00:00:01")
    items = ds["items"].set_index("item_id")
    assert items.loc["1307067", ["category", "brand", "list_price", "tags"]].tolist() == [
        "computers.notebook",
        "lenovo",
        249.99,
        "computers|notebook",
    ]
    assert items.loc["3900821", "list_price"] == 31.9
    assert items.loc["44600062", "category"] == "2103807459595387724" and pd.isna(items.loc["44600062", "tags"])
    assert pd.isna(items.loc["17200506", "brand"])
    assert len(ds["users"]) == 4


def test_rees46_missing_column_raises(tmp_path: Path) -> None:
    raw = pd.read_csv(RAW / "rees46" / "2019-Oct.csv", dtype="str").drop(columns="user_session")
    raw.to_csv(tmp_path / "2019-Nov.csv", index=False)
    with pytest.raises(DatasetError, match=r"2019-Nov\.csv: required column 'user_session' missing"):
        convert("rees46", tmp_path, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# Generic
# --------------------------------------------------------------------------------------------------
def test_generic_example_mapping_converts_the_example_export(tmp_path: Path) -> None:
    ds = run("generic", RAW / "generic", tmp_path / "gen", mapping=EXAMPLE_MAPPING)
    events = ds["events"]
    assert type_counts(ds) == {"view_item": 4, "add_to_cart": 2, "pay": 2, "remove_from_cart": 1, "refund": 1}
    assert events.loc[0, "ts"] == utc("2024-03-01 08:15:02")  # CET
    assert events.loc[8, "ts"] == utc("2024-03-31 21:30")  # CEST after the switch
    assert events["channel"].tolist()[:5] == ["recommend_feed", "recommend_feed", "recommend_feed", "ad", "search"]
    assert pd.isna(events.loc[9, "channel"]) and (events["payment_method"] == "card").all()
    assert events.loc[2, ["price", "quantity", "order_id"]].tolist() == [19.9, 1.0, "o-1001"]
    users = ds["users"].set_index("user_id")
    assert users["gender"].drop("c3").to_dict() == {"c1": "F", "c2": "M", "c9": "unknown"}
    assert users.loc["c1", "signup_ts"] == utc("2024-01-01") and users.loc["c9", "age"] == 51
    assert users["consent_marketing"].all()
    assert sorted(ds["items"]["item_id"]) == ["p1", "p2", "p3", "p4"]
    meta = ds.meta
    assert meta["name"] == "example_webshop" and meta["licence"] == "internal use only"
    assert meta["period"] == {"start": "2024-03-01", "end": "2024-03-31"}
    assert meta["event_types"] == ["view_item", "add_to_cart", "remove_from_cart", "pay", "refund"]
    assert meta["consent"] == "assumed" and problems(ds) == {}


def example_mapping() -> dict:
    return yaml.safe_load(EXAMPLE_MAPPING.read_text(encoding="utf-8"))


def test_generic_unknown_event_values_raise_with_counts_or_are_kept(tmp_path: Path) -> None:
    mapping = example_mapping()
    del mapping["tables"]["events"]["event_values"]["page_view"]
    with pytest.raises(
        DatasetError, match=r"column 'event_type' has 4 values that 'event_values' does not map: 'page_view' \(4\)"
    ):
        convert("generic", RAW / "generic", tmp_path / "out", mapping=mapping)
    mapping["tables"]["events"]["unknown_events"] = "keep"
    ds = run("generic", RAW / "generic", tmp_path / "out", mapping=mapping)
    assert type_counts(ds)["page_view"] == 4
    assert problems(ds) == {("events", "event_type", "out_of_vocabulary"): 4}


def test_generic_mapping_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"needs a column mapping.*example_generic\.yaml"):
        convert("generic", RAW / "generic", tmp_path / "out")
    mapping = example_mapping()
    mapping["tables"]["events"]["columns"]["user_id"] = "customer"
    with pytest.raises(
        DatasetError,
        match=r"events\.csv: column 'customer' named in mapping 'tables\.events\.columns\.user_id' is missing",
    ):
        convert("generic", RAW / "generic", tmp_path / "out", mapping=mapping)
    mapping = example_mapping()
    del mapping["tables"]["events"]["columns"]["ts"]
    mapping["tables"]["events"]["colums"] = {}
    mapping["tables"]["items"]["columns"]["price"] = "price"
    with pytest.raises(DatasetError) as err:
        convert("generic", RAW / "generic", tmp_path / "out", mapping=mapping)
    message = str(err.value)
    assert "unknown key 'tables.events.colums'" in message
    assert "key 'tables.events.columns.ts' is missing" in message
    assert "'tables.items.columns.price' is not a canonical items column" in message
    mapping = example_mapping()
    mapping["tables"]["events"]["event_values"]["checkout"] = "purchase"
    with pytest.raises(DatasetError, match=r"maps to 'purchase', which is not a canonical event type"):
        convert("generic", RAW / "generic", tmp_path / "out", mapping=mapping)


def test_generic_parquet_events_file_as_input_with_epoch_ms_and_consent_columns(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {"uid": ["a", "b"], "t": [1_700_000_000_000, 1_700_000_060_000], "kind": ["pay", "buy"], "amount": [3.5, 4.0]}
    )
    events.to_parquet(tmp_path / "log.parquet")
    pd.DataFrame({"uid": ["a"], "ok_ads": ["yes"], "ok_recs": ["no"]}).to_csv(tmp_path / "people.csv", index=False)
    mapping = {
        "tables": {
            "events": {
                "columns": {"user_id": "uid", "ts": "t", "event_type": "kind", "price": "amount"},
                "timestamps": {"ts": {"unit": "ms"}},
                "event_values": {"buy": "pay"},
            },
            "users": {
                "path": "people.csv",
                "columns": {"user_id": "uid", "consent_marketing": "ok_ads", "consent_personalization": "ok_recs"},
            },
        }
    }
    ds = run("generic", tmp_path / "log.parquet", tmp_path / "out", mapping=mapping, name="mine")
    assert ds["events"]["event_type"].tolist() == ["pay", "pay"]
    assert ds["events"].loc[0, "ts"] == utc("2023-11-14 22:13:20")
    users = ds["users"].set_index("user_id")
    assert (
        bool(users.loc["a", "consent_marketing"]) is True and bool(users.loc["a", "consent_personalization"]) is False
    )
    assert pd.isna(users.loc["b", "consent_marketing"])
    assert ds.meta["consent"] == "from_source" and ds.meta["name"] == "mine"
    assert "items" not in ds.tables


# --------------------------------------------------------------------------------------------------
# Paths, output folders, determinism
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source", ["taobao", "yoochoose", "online_retail", "cdnow", "movielens", "twitch", "retailrocket", "rees46"]
)
def test_missing_input_path_raises(tmp_path: Path, source: str) -> None:
    with pytest.raises(DatasetError, match=r"does-not-exist: input path does not exist"):
        convert(source, tmp_path / "does-not-exist", tmp_path / "out")


def test_folder_without_the_source_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no Taobao UserBehavior CSV found"):
        convert("taobao", tmp_path, tmp_path / "out")
    with pytest.raises(DatasetError, match=r"not a RetailRocket folder \(no events\.csv\)"):
        convert("retailrocket", tmp_path, tmp_path / "out")


def test_output_folder_is_replaced_only_when_it_is_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("cdnow", RAW / "cdnow", out)
    ds = run("cdnow", RAW / "cdnow", out, variant="sample")
    assert len(ds["events"]) == 4
    with pytest.raises(DatasetError, match=r"CDNOW_master\.txt: expected 4 columns"):
        bad = tmp_path / "CDNOW_master.txt"
        bad.write_text(" 1 2\n")
        convert("cdnow", bad, out)
    assert len(load_dataset(out, strict=False)["events"]) == 4  # the earlier dataset is intact
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"output folder is not empty and is not a canonical dataset \(todo\.txt\)"):
        convert("cdnow", RAW / "cdnow", notes)
    assert (notes / "todo.txt").read_text() == "mine"


def test_loading_a_folder_that_is_not_a_dataset_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"not a canonical dataset \(no dataset\.yaml\)"):
        load_dataset(RAW / "taobao")


def test_conversion_is_deterministic(tmp_path: Path) -> None:
    first = run("online_retail", RAW / "online_retail", tmp_path / "a")
    second = run("online_retail", RAW / "online_retail", tmp_path / "b")
    for table in first.tables:
        pd.testing.assert_frame_equal(first[table], second[table])
    assert first.meta == second.meta


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------
def test_integer_ids_written_as_floats_lose_the_fraction() -> None:
    from lsc_utils.datasets._common import normalize_integer_ids

    raw = pd.Series(["266079.0", " 17850.00 ", "85123A", "1.5", None], dtype="str")
    assert normalize_integer_ids(raw).tolist()[:4] == ["266079", "17850", "85123A", "1.5"]
    assert pd.isna(normalize_integer_ids(raw).iloc[4])
    assert normalize_integer_ids(pd.Series([3.0, 2.5, None])).tolist()[:2] == ["3", "2.5"]


def test_numbers_and_epochs_from_dirty_text() -> None:
    from lsc_utils.datasets._common import to_number, unix_to_utc

    numbers = to_number(pd.Series(["1.5", " 2", "abc", None], dtype="str"))
    assert numbers.iloc[:2].tolist() == [1.5, 2.0] and numbers.iloc[2:].isna().all()
    ts = unix_to_utc(pd.Series(["1396860669.277", "x"], dtype="str"), "s")
    assert ts.iloc[0] == utc("2014-04-07 08:51:09.277") and pd.isna(ts.iloc[1])
    with pytest.raises(DatasetError, match=r"Unknown epoch unit 'minutes'"):
        unix_to_utc(pd.Series(["1"]), "minutes")


def test_generic_iso_timestamps_with_offsets_are_converted(tmp_path: Path) -> None:
    pd.DataFrame(
        {"u": ["a", "b"], "t": ["2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00Z"], "e": ["pay", "pay"]}
    ).to_csv(tmp_path / "events.csv", index=False)
    mapping = {
        "timezone": "Asia/Tokyo",
        "tables": {
            "events": {"columns": {"user_id": "u", "ts": "t", "event_type": "e"}, "event_values": {"pay": "pay"}}
        },
    }
    ds = run("generic", tmp_path / "events.csv", tmp_path / "out", mapping=mapping)
    assert ds["events"]["ts"].tolist() == [utc("2024-05-01 08:00"), utc("2024-05-01 10:00")]
    assert ds.meta["timezone"] == "Asia/Tokyo" and ds.meta["event_types"] == ["pay"]


def test_header_only_files_raise(tmp_path: Path) -> None:
    (tmp_path / "UserBehavior.csv").write_text("user_id,item_id,category_id,behavior_type,timestamp\n")
    with pytest.raises(DatasetError, match=r"file has no data rows"):
        convert("taobao", tmp_path / "UserBehavior.csv", tmp_path / "out")
    (tmp_path / "2019-Oct.csv").write_text((RAW / "rees46" / "2019-Oct.csv").read_text().splitlines()[0] + "\n")
    with pytest.raises(DatasetError, match=r"no data rows"):
        convert("rees46", tmp_path / "2019-Oct.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_numeric_ids_are_coerced_exactly_like_schema_id_columns() -> None:
    from lsc_utils.datasets._common import normalize_integer_ids
    from lsc_utils.schema import _coerce_id

    for raw in (
        pd.Series([266079.0, 2.5, None, -3.0]),
        pd.Series([7, 8, 9], dtype="int64"),
        pd.Series([1, None, 3], dtype="Int64"),
    ):
        pd.testing.assert_series_equal(normalize_integer_ids(raw), _coerce_id(raw))
    # Text keeps what the schema will flag later ("" and "nan" stay text; only "<int>.0" is rewritten).
    text = normalize_integer_ids(pd.Series([" 12.0 ", "", "nan", "1.50"], dtype="str"))
    assert text.tolist() == ["12", "", "nan", "1.50"]


def test_iso_text_with_offsets_is_parsed_to_utc() -> None:
    from lsc_utils.datasets._common import parse_iso_utc

    ts = parse_iso_utc(
        pd.Series([" 2014-04-07T10:51:09.277Z", "2024-05-01T10:00:00+02:00", "garbage", None], dtype="str")
    )
    assert str(ts.dtype) == "datetime64[us, UTC]"
    assert ts.iloc[:2].tolist() == [utc("2014-04-07 10:51:09.277"), utc("2024-05-01 08:00")]
    assert ts.iloc[2:].isna().all()


@pytest.mark.parametrize("source", ["taobao", "rees46"])
@pytest.mark.parametrize("chunk_rows", [0, -5, 2.5, "10"])
def test_streaming_sources_refuse_a_bad_chunk_size(tmp_path: Path, source: str, chunk_rows: object) -> None:
    with pytest.raises(
        DatasetError,
        match=rf"The 'chunk_rows' parameter of {source}\.convert must be an int >= 1\. Got {chunk_rows!r} instead\.",
    ):
        convert(source, RAW / source, tmp_path / "out", chunk_rows=chunk_rows)
    assert not (tmp_path / "out").exists()


def test_input_files_are_the_file_itself_or_the_selected_matches_of_a_folder(tmp_path: Path) -> None:
    from lsc_utils.datasets._common import resolve_input_files

    for file_name in ("b.csv", "a.csv", "notes.txt", "skip_me.csv"):
        (tmp_path / file_name).write_text("x\n")
    assert resolve_input_files(tmp_path / "notes.txt", ("*.csv",), "unused") == [tmp_path / "notes.txt"]
    assert resolve_input_files(tmp_path, ("*.csv",), "unused") == [
        tmp_path / n for n in ("a.csv", "b.csv", "skip_me.csv")
    ]
    kept = resolve_input_files(
        tmp_path, ("*.csv",), "unused", select=lambda fs: [f for f in fs if "skip" not in f.name]
    )
    assert kept == [tmp_path / "a.csv", tmp_path / "b.csv"]
    with pytest.raises(DatasetError, match=r"no widgets found \(expected \*\.dat\)\.$"):
        resolve_input_files(tmp_path, ("*.dat",), "no widgets found (expected *.dat)")
    with pytest.raises(DatasetError, match=r"no widgets"):
        resolve_input_files(tmp_path, ("*.csv",), "no widgets", select=lambda fs: [])
    with pytest.raises(DatasetError, match=r"input path does not exist"):
        resolve_input_files(tmp_path / "missing", ("*.csv",), "unused")


def test_main_file_is_found_in_its_folder_or_given_directly(tmp_path: Path) -> None:
    from lsc_utils.datasets._common import resolve_main_file

    (tmp_path / "events.csv").write_text("x\n")
    assert resolve_main_file(tmp_path, "events.csv", "shop folder") == (tmp_path / "events.csv", tmp_path)
    (tmp_path / "other.csv").write_text("x\n")
    assert resolve_main_file(tmp_path / "other.csv", "events.csv", "shop folder") == (tmp_path / "other.csv", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"empty: not a shop folder \(no events\.csv\)\."):
        resolve_main_file(empty, "events.csv", "shop folder")


def test_streamed_csv_is_checked_before_the_first_chunk_and_keeps_every_row(tmp_path: Path) -> None:
    from lsc_utils.datasets._common import stream_csv_chunks

    file = tmp_path / "log.csv"
    file.write_text("b,a,extra\n" + "".join(f"{i},x{i},e\n" for i in range(7)))
    chunks = list(stream_csv_chunks(file, ["a", "b"], chunk_rows=3))
    whole = pd.concat(chunks, ignore_index=True)
    assert whole.columns.tolist() == ["b", "a", "extra"] and len(whole) == 7
    assert whole["b"].tolist() == [str(i) for i in range(7)] and str(whole["a"].dtype) == "str"
    with pytest.raises(DatasetError, match=r"log\.csv: required column 'c' missing"):
        stream_csv_chunks(file, ["a", "c"], chunk_rows=3)  # raises on the call, before iteration


def test_id_tables_keep_first_attribute_row_per_id_and_add_ids_seen_elsewhere() -> None:
    from lsc_utils.datasets._common import build_items, build_users

    attributes = pd.DataFrame({"item_id": ["b", "b", None, "d"], "category": ["first", "second", "orphan", "dd"]})
    items = build_items([pd.Series(["c", "b", None, "a"]), pd.Series(["c"])], attributes)
    assert items["item_id"].tolist() == ["a", "b", "c", "d"]
    assert items["category"].tolist()[1] == "first" and items["category"].tolist()[3] == "dd"
    assert items["category"].iloc[[0, 2]].isna().all()
    users = build_users([pd.Series(["u2", "u1", "u2"])])
    assert users.to_dict("list") == {
        "user_id": ["u1", "u2"],
        "consent_personalization": [True, True],
        "consent_marketing": [True, True],
    }
    assert "consent_marketing" not in build_users([pd.Series(["u1"])], assume_consent=False)


def test_source_info_meta_records_the_source_facts_and_the_inputs(tmp_path: Path) -> None:
    from lsc_utils.datasets import cdnow
    from lsc_utils.datasets._common import CONSENT_NOTE

    file = tmp_path / "CDNOW_sample.txt"
    file.write_text("00001 1 19970101 1 11.77\n")
    meta = cdnow.INFO.meta(file, name=None, inputs=[file], options={"variant": "sample", "unused": None})
    assert meta["name"] == "cdnow_sample" and meta["source"] == "cdnow" and meta["event_types"] == ["pay"]
    assert meta["timezone"] == cdnow.TIMEZONE and meta["licence"] == cdnow.LICENCE
    assert meta["period"] == cdnow.PERIOD and meta["description"].endswith(CONSENT_NOTE)
    assert meta["raw_files"][0]["name"] == file.name and meta["raw_files"][0]["bytes"] == file.stat().st_size
    assert meta["options"] == {"variant": "sample"}
    assert cdnow.INFO.meta(file, name=" mine ", inputs=[file])["name"] == "mine"


def test_write_dataset_validates_every_table_and_needs_events(tmp_path: Path) -> None:
    from lsc_utils.datasets._common import write_dataset

    meta = {"name": "t", "source": "test", "timezone": "UTC"}
    events = pd.DataFrame({"user_id": ["u1", None], "ts": [utc("2024-01-01"), utc("2024-01-02")], "event_type": "pay"})
    folder = write_dataset(tmp_path / "ds", meta, {"events": events, "users": pd.DataFrame({"user_id": ["u1"]})})
    ds = load_dataset(folder, strict=False)
    assert folder == tmp_path / "ds" and ds.meta["tables"] == ["users", "events"]
    assert ds.meta["conversion"]["rows"] == {"users": 1, "events": 2}
    assert problems(ds) == {("events", "user_id", "null_id"): 1}
    with pytest.raises(DatasetError, match=r"the conversion produced no events table"):
        write_dataset(tmp_path / "none", meta, {"users": pd.DataFrame({"user_id": ["u1"]})})
    assert not (tmp_path / "none").exists()


# --------------------------------------------------------------------------------------------------
# Bad inputs of issue #21: header lines, vocabularies, control characters, epoch units, encodings
# --------------------------------------------------------------------------------------------------
TAOBAO_ROWS = (RAW / "taobao" / "UserBehavior_fixture.csv").read_bytes()
ONLINE_RETAIL_ROWS = (RAW / "online_retail" / "Online_Retail_fixture.csv").read_bytes()
REES46_ROWS = (RAW / "rees46" / "2019-Oct.csv").read_bytes()
RETAILROCKET_EVENTS = (RAW / "retailrocket" / "events.csv").read_bytes()
MOVIELENS_RATINGS = (RAW / "movielens" / "u.data").read_bytes()
CLEANING_KEY = b"issue-21-test-key-0123456789"
TAOBAO_COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]


@dataclass(frozen=True)
class BadInput:
    """One row of the bad-input table: raw files, conversion options and what must happen.

    ``refused`` is a regex of the one-line DatasetError; otherwise the conversion must keep
    ``events`` rows (nothing lost) and cleaning must quarantine event ``row`` with ``reason``
    (``reason=None``: the row is kept, with timestamp ``ts`` and column ``values`` when given).
    """

    source: str
    files: dict[str, bytes]
    options: dict[str, object] = field(default_factory=dict)
    refused: str | None = None
    events: int | None = None
    row: int = 0
    reason: str | None = None
    event_type: str | None = None
    ts: str | None = None
    values: dict[str, object] = field(default_factory=dict)


def replace_line(data: bytes, index: int, line: bytes) -> bytes:
    """``data`` with its ``index``-th line replaced."""
    lines = data.splitlines(keepends=True)
    lines[index] = line + b"\n"
    return b"".join(lines)


BAD_INPUTS: dict[str, BadInput] = {
    "taobao first row has a bad timestamp (not a header)": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 0, b"1,100,10,pv,abc")},
        events=15,
        reason="unparseable_ts",
    ),
    "taobao first row is text but not the documented header": BadInput(
        "taobao",
        {"UserBehavior.csv": b"user,item,category,behaviour,time\n" + TAOBAO_ROWS},
        events=16,
        reason="unparseable_ts",
    ),
    "taobao behaviour 'like' is not a Taobao code": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 2, b"1,101,10,like,1511544090")},
        events=15,
        row=2,
        reason="out_of_vocabulary",
        event_type="out_of_vocabulary:like",
    ),
    "taobao user id with a NUL byte": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 1, b"1\x002,100,10,pv,1511544080")},
        events=15,
        row=1,
        reason="invalid_source_value",
        event_type="invalid_user_id:view_item",
    ),
    "taobao item id with an escape character": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 1, b"1,\x1b[31m100,10,pv,1511544080")},
        events=15,
        row=1,
        reason="invalid_source_value",
        event_type="invalid_item_id:view_item",
    ),
    "taobao timestamp in milliseconds": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 0, b"1,100,10,pv,1511544070000")},
        events=15,
        ts="2017-11-24 17:21:10",
    ),
    "taobao timestamp in microseconds": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 0, b"1,100,10,pv,1511544070000000")},
        events=15,
        ts="2017-11-24 17:21:10",
    ),
    "taobao quote opened in the last field (would swallow the later lines)": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 3, b'1,101,10,cart,"1511544100')},
        refused=r"UserBehavior\.csv: a quoted value in column 'timestamp' runs over a line break",
    ),
    "taobao Latin-1 bytes: the hint names no option taobao lacks": BadInput(
        "taobao",
        {"UserBehavior.csv": replace_line(TAOBAO_ROWS, 0, b"1,100,10,pv\xe9,1511544070")},
        refused=r"UserBehavior\.csv: not valid UTF-8 text \(byte 0xe9 at offset 11\)\. Re-save the file as "
        r"UTF-8: the taobao adapter reads UTF-8 only \(it has no encoding option\)\.$",
    ),
    "online_retail Latin-1 bytes: the hint names the real option": BadInput(
        "online_retail",
        {"retail.csv": ONLINE_RETAIL_ROWS.replace(b"LANTERN", b"LANT\xc9RN")},
        refused=r"retail\.csv: not valid UTF-8 text .* pass its encoding: -o encoding=NAME \(CLI\) or "
        r"encoding='NAME' \(Python\)",
    ),
    "online_retail unknown encoding name": BadInput(
        "online_retail",
        {"retail.csv": ONLINE_RETAIL_ROWS},
        {"encoding": "klingon"},
        refused=r"Unknown text encoding 'klingon'\. .*-o encoding=NAME",
    ),
    "online_retail first data row has one field more than the header": BadInput(
        "online_retail",
        {"retail.csv": replace_line(ONLINE_RETAIL_ROWS, 1, ONLINE_RETAIL_ROWS.splitlines()[1] + b",extra")},
        refused=r"retail\.csv: a data row has more fields than the header",
    ),
    "online_retail unit price that is not a number": BadInput(
        "online_retail",
        {"retail.csv": ONLINE_RETAIL_ROWS.replace(b",2.55,", b",2.5x5,", 1)},
        events=12,
        reason="invalid_source_value",
        event_type="invalid_price:pay",
    ),
    "online_retail lone-CR line breaks, an empty line, then a line starting with a comma": BadInput(
        "online_retail",
        {
            "retail.csv": b"\r".join(ONLINE_RETAIL_ROWS.splitlines()[:2])
            + b"\r\r,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\r"
        },
        events=2,
        row=1,
        values={"item_id": "71053", "quantity": 6.0, "user_id": "17850"},
    ),
    "rees46 blank line before the header": BadInput(
        "rees46", {"2019-Oct.csv": b"\n" + REES46_ROWS}, {"chunk_rows": 3}, events=8, row=6, ts="2019-10-01 00:00:08"
    ),
    "rees46 event type 'pay' is spelled canonical but is not a REES46 code": BadInput(
        "rees46",
        {"2019-Oct.csv": REES46_ROWS.replace(b"UTC,view,44600062", b"UTC,pay,44600062", 1)},
        events=8,
        reason="out_of_vocabulary",
        event_type="out_of_vocabulary:pay",
    ),
    "retailrocket timestamp in seconds where milliseconds are documented": BadInput(
        "retailrocket",
        {"events.csv": RETAILROCKET_EVENTS.replace(b"1433221332117,", b"1433221332,", 1)},
        events=10,
        ts="2015-06-02 05:02:12",
    ),
    "jdata sex code 'M' is not a JData code (0, 1, 2)": BadInput(
        "jdata",
        {
            "JData_Action_201602.csv": (RAW / "jdata" / "JData_Action_201602.csv").read_bytes(),
            "JData_User_utf8.csv": (RAW / "jdata" / "JData_User_utf8.csv").read_bytes().replace(b"-1,0,1,", b"-1,M,1,"),
        },
        events=6,
        row=2,
    ),
    "cdnow first line is data with a bad date (no header)": BadInput(
        "cdnow",
        {"CDNOW_master.txt": b" 00001 1997x101  1   11.77\n 00002 19970112  1   12.00\n"},
        events=2,
        reason="unparseable_ts",
    ),
    "cdnow dollar value that is not a number": BadInput(
        "cdnow",
        {"CDNOW_master.txt": b" 00001 19970101  1   11.77\n 00002 19970112  1   12.0O\n"},
        events=2,
        row=1,
        reason="invalid_source_value",
        event_type="invalid_price:pay",
    ),
    "movielens rating outside 1-5": BadInput(
        "movielens",
        {"u.data": MOVIELENS_RATINGS.replace(b"1\t2\t3\t", b"1\t2\t9\t", 1)},
        events=8,
        row=1,
        reason="invalid_source_value",
        event_type="invalid_quantity:view_item",
    ),
    "movielens timestamp in milliseconds": BadInput(
        "movielens",
        {"u.data": MOVIELENS_RATINGS.replace(b"\t874965758\n", b"\t874965758000\n", 1)},
        events=8,
        ts="1997-09-22 22:02:38",
    ),
    "yoochoose clicks whose first line has a bad timestamp": BadInput(
        "yoochoose",
        {"yoochoose-clicks.dat": b"1,2014-04-07 10:5x,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n"},
        events=2,
        reason="unparseable_ts",
    ),
    "yoochoose prepared split with times in milliseconds": BadInput(
        "yoochoose",
        {"clicks_train_full.txt": b"SessionId\tItemId\tTime\n1\t214536502\t1396860669277\n"},
        events=1,
        ts="2014-04-07 08:51:09.277",
    ),
    "twitch original with the README's header line": BadInput(
        "twitch",
        {"watch.csv": b"user_id,stream id,streamer name,start time,stop time\n1,34347669376,grimnax,5415,5419\n"},
        events=2,
        ts="2019-02-07 14:30",
    ),
    "twitch original first row with a step that is not a number": BadInput(
        "twitch",
        {"watch.csv": b"1,34347669376,grimnax,x5415,5419\n1,34391109664,jtgtv,5869,5870\n"},
        events=4,
        reason="unparseable_ts",
    ),
    "jdata user file in GBK: the hint names user_encoding": BadInput(
        "jdata",
        {
            "JData_Action_201602.csv": (RAW / "jdata" / "JData_Action_201602.csv").read_bytes(),
            "JData_User_utf8.csv": (RAW / "jdata" / "JData_User_utf8.csv").read_text(encoding="utf-8").encode("gbk"),
        },
        refused=r"JData_User_utf8\.csv: not valid UTF-8 text .* -o user_encoding=NAME \(CLI\)",
    ),
    "generic Latin-1 file: the hint names the mapping's encoding key": BadInput(
        "generic",
        {"log.csv": "u,t,e\nJosé,1700000000,buy\n".encode("latin-1")},
        {
            "mapping": {
                "tables": {
                    "events": {
                        "columns": {"user_id": "u", "ts": "t", "event_type": "e"},
                        "timestamps": {"ts": {"unit": "auto"}},
                        "event_values": {"buy": "pay"},
                    }
                }
            }
        },
        refused=r"log\.csv: not valid UTF-8 text .* name its encoding in the mapping: 'tables\.<table>\.encoding'",
    ),
    "generic epoch milliseconds declared as seconds": BadInput(
        "generic",
        {"log.csv": b"u,t,e\na,1700000000000,buy\nb,1700000060000,buy\n"},
        {
            "mapping": {
                "tables": {
                    "events": {
                        "columns": {"user_id": "u", "ts": "t", "event_type": "e"},
                        "timestamps": {"ts": {"unit": "s"}},
                        "event_values": {"buy": "pay"},
                    }
                }
            }
        },
        refused=r"log\.csv: column 't': 2 of 2 epoch values have the magnitude of 'ms', not of the declared "
        r"unit 's' \(rule: \|v\| < 1e11 is seconds",
    ),
}


def convert_bad_input(case: BadInput, tmp_path: Path) -> tuple[Dataset, object]:
    """Write the case's files, convert them (the single file, or the folder) and clean the result."""
    from lsc_utils.cleaning import clean_dataset

    folder = tmp_path / "raw"
    folder.mkdir()
    for file_name, content in case.files.items():
        (folder / file_name).write_bytes(content)
    raw = folder / next(iter(case.files)) if len(case.files) == 1 else folder
    ds = run(case.source, raw, tmp_path / "out", **case.options)
    return ds, clean_dataset(ds, CLEANING_KEY)


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_inputs_are_refused_in_one_line_or_kept_and_flagged(case: BadInput, tmp_path: Path) -> None:
    if case.refused is not None:
        with pytest.raises(DatasetError) as err:
            convert_bad_input(case, tmp_path)
        assert "\n" not in str(err.value)
        assert re.search(case.refused, str(err.value)), str(err.value)
        assert not (tmp_path / "out").exists()
        return
    ds, result = convert_bad_input(case, tmp_path)
    events = ds["events"]
    assert len(events) == case.events  # nothing lost: every data row is an event
    ledger = result.ledger.set_index("table")
    assert ledger.loc["events", "input_rows"] == case.events and ledger["balanced"].all()
    quarantine = result.quarantine["events"].set_index("source_row")
    if case.reason is None:
        assert case.row not in quarantine.index
    else:
        assert quarantine.loc[case.row, "reason"] == case.reason
    if case.event_type is not None:
        assert events.loc[case.row, "event_type"] == case.event_type
    if case.ts is not None:
        assert events.loc[case.row, "ts"] == utc(case.ts)
    for column, value in case.values.items():
        assert events.loc[case.row, column] == value, column


def test_jdata_unknown_sex_code_flags_the_user_not_the_events(tmp_path: Path) -> None:
    case = BAD_INPUTS["jdata sex code 'M' is not a JData code (0, 1, 2)"]
    ds, result = convert_bad_input(case, tmp_path)
    assert ds["users"].set_index("user_id").loc["200002", "gender"] == "out_of_vocabulary:M"
    assert result.quarantine["users"]["reason"].tolist() == ["invalid_gender"]


def test_flagged_rows_are_counted_in_dataset_yaml(tmp_path: Path) -> None:
    raw = tmp_path / "UserBehavior.csv"
    raw.write_bytes(
        replace_line(replace_line(TAOBAO_ROWS, 1, b"1\x002,100,10,pv,1511544080"), 2, b"\x1b,101,10,like,1511544090")
    )
    ds = run("taobao", raw, tmp_path / "out")
    assert ds.meta["conversion"]["flagged_rows"] == [
        {"table": "events", "column": "user_id", "problem": "control_characters", "count": 2},
        {"table": "users", "column": "user_id", "problem": "control_characters", "count": 2},
    ]
    assert problems(ds)[("events", "event_type", "out_of_vocabulary")] == 3  # 'clk', 'like' and the NUL id
    assert "flagged_rows" not in run("taobao", RAW / "taobao", tmp_path / "clean").meta["conversion"]


def test_header_rule_and_epoch_rule_helpers() -> None:
    from lsc_utils.datasets._raw import epoch_units, epochs_to_utc, is_header

    assert is_header(["\ufeffUser ID", " item_id", "Category-Id", '"behavior_type"', "TIMESTAMP"], TAOBAO_COLUMNS)
    assert not is_header(["1", "2", "3", "pv", "abc"], TAOBAO_COLUMNS)
    assert not is_header(["user_id", "item_id", "category_id", "behavior_type"], TAOBAO_COLUMNS)
    values = pd.Series(["1511544070", "1511544070000", "1511544070000000", "1511544070000000000", "x", None])
    assert epoch_units(pd.to_numeric(values, errors="coerce")).tolist()[:5] == ["s", "ms", "us", "ns", None]
    ts = epochs_to_utc(values)
    assert (ts.iloc[:4] == utc("2017-11-24 17:21:10")).all() and ts.iloc[4:].isna().all()
    declared = epochs_to_utc(pd.Series(["1511544070", "1511544070000", "1511544071"]), "s", "f.csv: column 't'")
    assert declared.notna().tolist() == [True, False, True]  # the odd millisecond value is a row problem
    with pytest.raises(DatasetError, match=r"Unknown epoch unit 'minutes'\. Expected auto or one of s, ms"):
        epochs_to_utc(values, "minutes")


ENCODING_CASES = {
    "taobao": ("taobao", "UserBehavior_fixture.csv"),
    "yoochoose": ("yoochoose/original", "yoochoose-clicks.dat"),
    "jdata": ("jdata", "JData_Action_201602.csv"),
    "online_retail": ("online_retail", "Online_Retail_fixture.csv"),
    "cdnow": ("cdnow", "CDNOW_master.txt"),
    "movielens": ("movielens", "u.data"),
    "twitch": ("twitch/original", "twitch_100k_fixture.csv"),
    "retailrocket": ("retailrocket", "events.csv"),
    "rees46": ("rees46", "2019-Oct.csv"),
}


@pytest.mark.parametrize("source", sorted(ENCODING_CASES))
def test_encoding_hints_name_only_options_the_adapter_has(source: str, tmp_path: Path) -> None:
    folder, file_name = ENCODING_CASES[source]
    shutil.copytree(RAW / folder, tmp_path / "raw")
    raw = tmp_path / "raw" / file_name
    lines = raw.read_bytes().splitlines(keepends=True)
    raw.write_bytes(b"".join(lines[:2]) + lines[2].replace(b"1", b"\xe91", 1) + b"".join(lines[3:]))
    with pytest.raises(DatasetError) as err:
        convert(source, tmp_path / "raw", tmp_path / "out")
    message = str(err.value)
    assert f"{file_name}: not valid UTF-8 text" in message and "\n" not in message
    named = set(re.findall(r"-o (\w+)=", message))
    assert named <= set(source_options(source)), message
    assert named or "has no encoding option" in message or "only the user file" in message


def test_cli_keeps_a_first_row_with_a_bad_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lsc_utils.__main__ import main

    raw = tmp_path / "first_bad.csv"
    raw.write_bytes(replace_line(TAOBAO_ROWS, 0, b"999477,2200475,3607361,pv,abc"))
    assert main(["convert", "--source", "taobao", "--input", str(raw), "--out", str(tmp_path / "ds")]) == 0
    ds = load_dataset(tmp_path / "ds", strict=False)
    assert ds.meta["conversion"]["rows"]["events"] == 15
    assert problems(ds)[("events", "ts", "null_value")] == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes(ONLINE_RETAIL_ROWS.replace(b"LANTERN", b"LANT\xc9RN"))
    out = ["--out", str(tmp_path / "or")]
    assert main(["convert", "--source", "online_retail", "--input", str(latin), *out]) == 2
    assert "-o encoding=NAME" in capsys.readouterr().err
    assert main(["convert", "--source", "online_retail", "--input", str(latin), *out, "-o", "encoding=latin-1"]) == 0
