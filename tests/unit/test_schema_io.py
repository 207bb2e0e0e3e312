"""Validation and loading: every bad input gets one clear error naming file, column and problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils.io import Dataset, check_text_file, load_dataset, read_csv, save_dataset
from lsc_utils.schema import DatasetError, canonical_columns, validate_table


def _events(**overrides: list) -> pd.DataFrame:
    base = {
        "user_id": ["u1", "u2", "u3"],
        "ts": ["2026-03-02T10:00:00Z", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z"],
        "event_type": ["view_item", "add_to_cart", "pay"],
        "price": [None, None, 9.5],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_table_is_coerced_to_canonical_columns_and_dtypes() -> None:
    out, problems = validate_table(_events(), "events", "events.parquet")
    assert problems == []
    assert list(out.columns) == [c for c in canonical_columns("events") if c != "account_id"]  # added only when present
    assert str(out["ts"].dtype) == "datetime64[us, UTC]"
    assert out["price"].dtype == np.float64
    assert out["user_id"].tolist() == ["u1", "u2", "u3"]


def test_float_ids_lose_their_trailing_zero() -> None:
    out, _ = validate_table(_events(user_id=[266079.0, 2.0, 3.0]), "events", "e.csv")
    assert out["user_id"].tolist() == ["266079", "2", "3"]


def test_missing_required_column_names_file_and_column() -> None:
    with pytest.raises(DatasetError, match=r"events.parquet: required column 'event_type' is missing"):
        validate_table(_events().drop(columns="event_type"), "events", "events.parquet")


def test_wrong_type_column_is_a_structural_error() -> None:
    frame = _events(price=["cheap", "free", "9"])
    with pytest.raises(DatasetError, match=r"column 'price' has the wrong type: 2 of 3 values"):
        validate_table(frame, "events", "events.parquet", strict=False)


def test_empty_table_is_an_error() -> None:
    with pytest.raises(DatasetError, match="empty"):
        validate_table(_events().iloc[:0], "events", "events.parquet")


def test_unknown_event_type_strict_error_lists_examples() -> None:
    with pytest.raises(
        DatasetError, match=r"column 'event_type' has 1 values outside the canonical vocabulary \(e.g. 'clickk'\)"
    ):
        validate_table(_events(event_type=["view_item", "clickk", "pay"]), "events", "events.parquet")


def test_unparseable_timestamps_strict_error() -> None:
    frame = _events(ts=["2026-03-02T10:00:00Z", "yesterday", "2026-03-02T10:02:00Z"])
    with pytest.raises(DatasetError, match=r"column 'ts' has 1 values that are not timestamps \(e.g. 'yesterday'\)"):
        validate_table(frame, "events", "events.parquet")


def test_all_problems_are_reported_at_once() -> None:
    frame = _events(
        user_id=["u1", None, "u3"],
        ts=["2026-03-02T10:00:00Z", "2026-03-02T10:00:00Z", "nope"],
        event_type=["view_item", "clickk", "pay"],
        price=[None, None, -1.0],
    )
    with pytest.raises(DatasetError) as err:
        validate_table(frame, "events", "events.parquet")
    message = str(err.value)
    for column in ("user_id", "ts", "event_type", "price"):
        assert f"column '{column}'" in message
    assert len(message.splitlines()) == 4


def test_non_strict_returns_row_masks() -> None:
    frame = _events(event_type=["view_item", "clickk", "pay"], price=[None, None, -1.0])
    _, problems = validate_table(frame, "events", "events.parquet", strict=False)
    by_problem = {p.problem: p.mask.tolist() for p in problems}
    assert by_problem == {"out_of_vocabulary": [False, True, False], "below_minimum": [False, False, True]}


def test_non_utf8_file_names_byte_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"user_id,ts\nu1,2026\n\xff\xfe,2026\n")
    with pytest.raises(DatasetError, match=r"log.csv: not valid UTF-8 text \(byte 0xff at offset 19\)"):
        read_csv(path)


def test_empty_file_and_header_only_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="empty.csv: file is empty"):
        check_text_file(empty)
    header = tmp_path / "header.csv"
    header.write_text("user_id,ts\n")
    with pytest.raises(DatasetError, match="header.csv: file has a header but no data rows"):
        read_csv(header)


def test_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"not a canonical dataset \(no dataset.yaml\)"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "missing")


def test_dataset_roundtrip_and_missing_events(tmp_path: Path) -> None:
    events, _ = validate_table(_events(), "events", "events.parquet")
    save_dataset(Dataset({"name": "t", "source": "test"}, {"events": events}), tmp_path / "ds")
    loaded = load_dataset(tmp_path / "ds")
    pd.testing.assert_frame_equal(loaded["events"], events)
    assert loaded.meta["tables"] == ["events"]
    (tmp_path / "ds" / "events.parquet").unlink()
    with pytest.raises(DatasetError, match="no events.parquet"):
        load_dataset(tmp_path / "ds")


def test_corrupt_parquet_is_named(tmp_path: Path) -> None:
    events, _ = validate_table(_events(), "events", "events.parquet")
    save_dataset(Dataset({"name": "t"}, {"events": events}), tmp_path)
    (tmp_path / "events.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="events.parquet: not a readable Parquet file"):
        load_dataset(tmp_path)


def _simulated(tmp_path: Path) -> Path:
    from lsc_utils.simulate import simulate

    return simulate(tmp_path / "sim", n_users=150, n_days=14, seed=3, progress=False)


def test_event_sample_keeps_whole_users_within_the_budget_in_file_order(tmp_path: Path) -> None:
    data = _simulated(tmp_path)
    full = load_dataset(data, strict=False)
    events = full["events"]
    budget = len(events) // 3
    sampled = load_dataset(data, strict=False, max_events=budget, seed=7)
    part = sampled["events"]
    info = sampled.events_sample
    assert info is not None and info.rows == len(part) <= budget and info.of_rows == len(events)
    assert info.users == part["user_id"].nunique() < info.of_users == events["user_id"].nunique()
    kept = events[events["user_id"].isin(part["user_id"].unique())].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        part.reset_index(drop=True), kept
    )  # every event of a kept user, same order and dtypes
    assert len(part) > budget * 0.8  # users are taken until the next one would not fit
    for table in ("users", "items", "rooms"):
        pd.testing.assert_frame_equal(sampled[table], full[table])  # only events are sampled
    again = load_dataset(data, strict=False, max_events=budget, seed=7)
    pd.testing.assert_frame_equal(again["events"], part)
    other = load_dataset(data, strict=False, max_events=budget, seed=8)
    assert set(other["events"]["user_id"]) != set(part["user_id"])
    assert f"a sample of {info.users:,} of {info.of_users:,} users" in info.describe()


def test_event_sample_is_off_below_the_budget_and_keeps_one_user_at_least(tmp_path: Path) -> None:
    data = _simulated(tmp_path)
    full = load_dataset(data, strict=False)
    same = load_dataset(data, strict=False, max_events=len(full["events"]))
    assert same.events_sample is None
    pd.testing.assert_frame_equal(same["events"], full["events"])
    one = load_dataset(data, strict=False, max_events=1)
    assert one.events_sample.users == 1 and one["events"]["user_id"].nunique() == 1
    with pytest.raises(ValueError, match="'max_events' parameter must be a positive number"):
        load_dataset(data, strict=False, max_events=0)


def test_event_sample_reads_a_folder_of_parts(tmp_path: Path) -> None:
    import shutil

    import pyarrow.parquet as pq

    data = _simulated(tmp_path)
    table = pq.read_table(data / "events.parquet")
    parted = tmp_path / "parted"
    shutil.copytree(data, parted)
    (parted / "events.parquet").unlink()
    (parted / "events.parquet").mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), parted / "events.parquet" / "part-00000.parquet")
    pq.write_table(table.slice(half), parted / "events.parquet" / "part-00001.parquet")
    budget = table.num_rows // 4
    one_file = load_dataset(data, strict=False, max_events=budget, seed=1)
    folder = load_dataset(parted, strict=False, max_events=budget, seed=1)
    pd.testing.assert_frame_equal(folder["events"], one_file["events"])
