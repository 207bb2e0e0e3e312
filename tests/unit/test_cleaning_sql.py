"""The out-of-core cleaning (DuckDB SQL over Parquet) against the pandas path, row for row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils import cleaning, io
from lsc_utils.schema import DatasetError

KEY = b"unit-test-key-unit-test-key-0123"


def _write(folder: Path, events: pd.DataFrame, **meta: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(folder / "events.parquet", index=False)
    io.write_meta({"name": "t", "source": "test", "timezone": "UTC", **meta}, folder)
    return folder


def _both_paths(data: Path, tmp: Path, config: cleaning.CleaningConfig) -> tuple[Path, Path, object, object]:
    """Run the pandas path (saved as the notebook saves it) and the SQL path; return their folders."""
    pandas_result = cleaning.clean_dataset(io.load_dataset(data, strict=False), KEY, config)
    cleaning.save_cleaning_result(pandas_result, tmp / "pandas")
    sql_result = cleaning.clean_dataset_out_of_core(data, tmp / "sql", KEY, config, memory_limit="1GB", threads=2)
    return tmp / "pandas", tmp / "sql", pandas_result, sql_result


def _assert_same_outputs(
    pandas_dir: Path, sql_dir: Path, pandas_result: cleaning.CleaningResult, sql_result: cleaning.OutOfCoreCleaning
) -> None:
    for table in sorted(p.stem for p in (pandas_dir / "clean").glob("*.parquet")):
        left = pd.read_parquet(pandas_dir / "clean" / f"{table}.parquet")
        right = pd.read_parquet(sql_dir / "clean" / f"{table}.parquet")
        pd.testing.assert_frame_equal(left, right, check_dtype=table != "events" or len(left) > 0, obj=table)
    for table in sorted(p.stem for p in (pandas_dir / "quarantine").glob("*.parquet")):
        left = pd.read_parquet(pandas_dir / "quarantine" / f"{table}.parquet")
        right = pd.read_parquet(sql_dir / "quarantine" / f"{table}.parquet")
        assert left["reason"].tolist() == right["reason"].tolist(), table
        assert left["source_row"].astype("int64").tolist() == right["source_row"].astype("int64").tolist(), table
        if "user_id" in left:
            assert left["user_id"].fillna("-").tolist() == right["user_id"].fillna("-").tolist(), table
        if table != "events":  # the same pandas path wrote both
            pd.testing.assert_frame_equal(left, right, obj=table)
    pd.testing.assert_frame_equal(pandas_result.ledger, sql_result.ledger)
    pd.testing.assert_frame_equal(pandas_result.reasons, sql_result.reasons)
    assert pandas_result.bot_users["user_id"].tolist() == sql_result.bot_users["user_id"].tolist()
    assert (
        pandas_result.bot_users["peak_events_per_minute"].tolist()
        == sql_result.bot_users["peak_events_per_minute"].tolist()
    )
    lineage = pd.read_parquet(sql_dir / "lineage" / "events.parquet")["source_row"].to_numpy()
    assert np.array_equal(lineage, pandas_result.info["event_source_rows"])
    assert io.read_meta(pandas_dir / "clean") == io.read_meta(sql_dir / "clean")


@pytest.mark.parametrize("retention_days", [0, 20])
def test_simulated_dirty_dataset_cleans_identically(tmp_path: Path, retention_days: int) -> None:
    from lsc_utils.simulate import simulate

    data = simulate(tmp_path / "sim", n_users=300, n_days=30, seed=5, progress=False)
    config = cleaning.CleaningConfig(retention_days=retention_days)
    _assert_same_outputs(*_both_paths(data, tmp_path, config))


TEXT_EDGE_ROWS: list[tuple[str | None, ...]] = [
    # user, ts, event_type, item, price, channel
    (" U1 ", "2026-03-01T10:00:00Z", "view_item", "I1", "1.5", "search"),
    ("U1", "2026-03-01 10:20:00+08:00", "add_to_cart", " I1", "2", "search"),
    ("U1", "2026/03/01 11:00", "pay", "I1", "3", None),
    ("U1", "2026/03/01 11:00", "pay", "I1", "3", None),  # exact duplicate
    ("nan", "2026-03-01T10:00:00Z", "view_item", "I2", None, "search"),  # null-like id
    ("U2", "tomorrow", "view_item", "I2", None, "search"),  # unparseable time
    ("U2", "  ", "view_item", "I2", None, "search"),  # null time
    ("U2", "2026-03-02T00:00:00Z", "out_of_vocabulary:7", "I2", None, "search"),
    ("U2", "2026-03-02T00:00:01Z", "invalid_price:str", "I2", None, "search"),
    ("U2", "2026-03-02T00:00:02Z", "teleport", "I2", None, "search"),
    ("U2", "2026-03-02T00:00:03Z", None, "I2", None, "search"),
    ("U2", "2026-03-02T00:00:04Z", "pay", "I2", "-1", "search"),
    ("U2", "2026-03-02T00:00:05Z", "pay", "I2", "abc", "search"),  # unparseable number
    ("U2", "2026-03-02T00:00:06Z", "view_item", "I2", None, "tv"),  # channel outside the vocabulary
    ("U3", "1980-01-01T00:00:00Z", "view_item", "I3", None, "search"),
    ("U3", "2026-03-03T00:00:00Z", "enter_room", None, None, "follow"),
    ("\u3000U3\t", " 2026-03-03T00:01:00Z\n", "view_item", "\xa0I3", None, "follow"),  # Unicode whitespace
]
"""Text-typed events: null-likes, time formats, adapter flags, vocabularies, Unicode whitespace."""


def test_text_columns_null_likes_formats_flags_and_vocabularies(tmp_path: Path) -> None:
    rows = TEXT_EDGE_ROWS
    events = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "item_id", "price", "channel"])
    events["room_id"] = [None] * 15 + ["R1", "R1"]
    data = _write(tmp_path / "text", events, period={"start": "2026-02-01", "end": "2026-03-31"})
    pandas_dir, sql_dir, left, right = _both_paths(data, tmp_path, cleaning.CleaningConfig())
    _assert_same_outputs(pandas_dir, sql_dir, left, right)
    reasons = right.reasons.set_index("reason")["rows"].to_dict()
    assert reasons == {
        "null_id": 1, "unparseable_ts": 2, "ts_out_of_range": 1, "out_of_vocabulary": 1, "invalid_source_value": 1,
        "unknown_event_type": 1, "negative_price": 1, "invalid_channel": 1, "invalid_event_type": 1,
        "invalid_price": 1, "duplicate": 1,
    }  # fmt: skip
    problems = right.validation.set_index(["column", "problem"])["rows"].to_dict()
    assert problems[("ts", "unparseable_timestamp")] == 1 and problems[("price", "unparseable_number")] == 1


def test_numeric_ids_and_epoch_second_timestamps(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {
            "user_id": [1.0, 1.0, 2.5, np.nan, 3.0],
            "ts": [1_772_400_000, 1_772_400_100, 1_772_400_200, 1_772_400_300, 1_772_400_400],
            "event_type": ["view_item"] * 5,
            "item_id": [10, 11, 12, 13, 14],
        }
    )
    data = _write(tmp_path / "numeric", events, period={"start": "2026-01-01", "end": "2026-12-31"})
    _assert_same_outputs(*_both_paths(data, tmp_path, cleaning.CleaningConfig()))


def test_duplicates_are_exact_whatever_the_row_hash(tmp_path: Path) -> None:
    """Duplicates come from row-hash candidates checked on every column: NULLs are equal, -0.0 equals
    0.0, a row repeated many times keeps its first copy, and rows differing in one column all stay."""
    ts = pd.Timestamp("2026-03-01T10:00:00Z")
    base = {"user_id": "U1", "ts": ts, "event_type": "pay", "item_id": "I1", "price": 2.0, "channel": None}
    rows = [
        base,
        base,
        dict(base, price=-0.0),
        dict(base, price=0.0),
        dict(base, price=0.0),  # 2.0 x2, ±0.0 x3
        dict(base, item_id=None),
        dict(base, item_id=None),  # NULLs are equal
        dict(base, channel="search"),
        dict(base, ts=ts + pd.Timedelta(microseconds=1)),  # one column differs
        *[dict(base, user_id="U2")] * 5,
    ]
    events = pd.DataFrame(rows)
    data = _write(tmp_path / "dups", events, period={"start": "2026-02-01", "end": "2026-03-31"})
    pandas_dir, sql_dir, left, right = _both_paths(data, tmp_path, cleaning.CleaningConfig())
    _assert_same_outputs(pandas_dir, sql_dir, left, right)
    assert right.reasons.set_index("reason")["rows"].to_dict() == {"duplicate": 1 + 2 + 1 + 4}
    quarantined = pd.read_parquet(sql_dir / "quarantine" / "events.parquet")
    assert quarantined["source_row"].tolist() == [1, 3, 4, 6, 10, 11, 12, 13]


def test_bot_threshold_is_strict_and_counts_valid_rows_only(tmp_path: Path) -> None:
    start = pd.Timestamp("2026-03-01T10:00:00Z")
    human = [("H", start + pd.Timedelta(seconds=i)) for i in range(60)]  # 60 in a minute: not above 60
    bot = [("B", start + pd.Timedelta(milliseconds=500 * i)) for i in range(61)]  # 61 within 30 s
    events = pd.DataFrame(human + bot, columns=["user_id", "ts"]).assign(event_type="view_item", item_id="I1")
    events["item_id"] = [f"I{i}" for i in range(len(events))]  # no exact duplicates
    data = _write(tmp_path / "bots", events, period={"start": "2026-02-01", "end": "2026-03-31"})
    pandas_dir, sql_dir, left, right = _both_paths(data, tmp_path, cleaning.CleaningConfig())
    _assert_same_outputs(pandas_dir, sql_dir, left, right)
    assert right.reasons.set_index("reason")["rows"].to_dict() == {"bot_user": 61}
    assert right.bot_users["peak_events_per_minute"].tolist() == [61]


def test_bad_files_fail_with_one_line_naming_file_and_column(tmp_path: Path) -> None:
    good = pd.DataFrame({"user_id": ["U1"], "ts": ["2026-03-01T10:00:00Z"], "event_type": ["view_item"]})
    missing = _write(tmp_path / "missing", good.drop(columns="event_type"))
    with pytest.raises(DatasetError, match=r"events.parquet: required column 'event_type' is missing"):
        cleaning.clean_dataset_out_of_core(missing, tmp_path / "o1", KEY)
    garbage = _write(tmp_path / "garbage", good.assign(ts="not a time"))
    with pytest.raises(DatasetError, match=r"events.parquet: column 'ts' has the wrong type: 1 of 1 values"):
        cleaning.clean_dataset_out_of_core(garbage, tmp_path / "o2", KEY)
    empty = _write(tmp_path / "empty", good.iloc[:0])
    with pytest.raises(DatasetError, match=r"events.parquet: the events table is empty"):
        cleaning.clean_dataset_out_of_core(empty, tmp_path / "o3", KEY)
    (tmp_path / "none").mkdir()
    io.write_meta({"name": "t"}, tmp_path / "none")
    with pytest.raises(DatasetError, match="has no events.parquet"):
        cleaning.clean_dataset_out_of_core(tmp_path / "none", tmp_path / "o4", KEY)


def test_notebook_01_never_loads_the_event_table_into_pandas() -> None:
    import nbformat

    from tests.conftest import REPO

    notebook = nbformat.read(REPO / "notebooks" / "01_data_cleaning.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "clean_dataset_out_of_core(" in code
    for forbidden in (
        "load_dataset(",
        "clean_dataset(",
        'raw["events"]',
        'dataset["events"]',
        "read_parquet(clean_events",
    ):
        assert forbidden not in code, forbidden


def test_memory_limit_must_be_a_size() -> None:
    with pytest.raises(ValueError, match="'memory_limit' parameter must be a size such as '500MB'"):
        with cleaning.duckdb_connection("lots"):
            pass
    with cleaning.duckdb_connection("64MB", threads=1) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("source", "raw"),
    [
        ("taobao", "taobao_userbehavior/UserBehavior_head84k.csv"),
        ("online_retail", "online_retail_uci/Online_Retail_sample40k.csv"),
        ("jdata", "jdata_jd_2017"),
    ],
)
def test_real_samples_clean_identically(shared_data: Path, tmp_path: Path, source: str, raw: str) -> None:
    from lsc_utils.datasets import convert

    data = convert(source, shared_data / raw, tmp_path / source)
    pandas_dir, sql_dir, left, right = _both_paths(data, tmp_path, cleaning.CleaningConfig())
    _assert_same_outputs(pandas_dir, sql_dir, left, right)
    assert right.ledger["balanced"].all() and int(right.ledger["quarantined_rows"].sum()) > 0
