"""The row-scale SQL on Apache Spark (``local[2]``) against DuckDB: same cleaning, row for row.

DuckDB's own results equal the pandas path's (``test_cleaning_sql``), so equality here closes the
chain pandas = DuckDB = Spark. The whole default sample runs under ``make test-spark``
(``LSC_SPARK_FULL=1``); ``make test`` runs the small simulated and real cases.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from lsc_utils import cleaning, io, sqlengine
from tests.unit.test_cleaning_sql import KEY, TEXT_EDGE_ROWS, _write

pytest.importorskip("sqlglot", reason="sqlglot (a dependency) is missing")
pytestmark = pytest.mark.xdist_group("spark")  # one JVM: make test-unit runs with --dist loadgroup

SPARK_DATE_WORDS: tuple[str, ...] = (
    "yesterday", "today", "now", "epoch", "infinity", "2026", "2026-03", "2026-3-1", "2026/3/1 9:05",
    "2026-03-01T10", "2026-03-01T10:05", "2026-03-01 10:05:07.5+08:00",
)  # fmt: skip
"""Texts Spark's casts read differently from DuckDB's unless guarded (words it takes for dates, short fields)."""


def test_duckdb_functions_without_a_sqlglot_mapping_are_rewritten() -> None:
    sql = sqlengine.to_spark_sql(
        "SELECT epoch_us(ts) // 1000000, try_strptime(x, ['%Y/%m/%d %H:%M', '%Y/%m/%d']), "
        "to_timestamp(CAST(s AS DOUBLE)), TRY_CAST(x AS TIMESTAMPTZ), TRY_CAST(x AS DOUBLE) FROM t"
    )
    assert "UNIX_MICROS(ts)" in sql and "EPOCH_US" not in sql
    assert sqlengine.to_spark_sql("SELECT hash(a, b + 0.0) FROM t") == "SELECT XXHASH64(a, b + 0.0) FROM t"
    assert "TRY_TO_TIMESTAMP(x, 'yyyy/M/d H:m'), TRY_TO_TIMESTAMP(x, 'yyyy/M/d')" in sql
    assert "TIMESTAMP_MICROS(CAST(ROUND(CAST(s AS DOUBLE) * 1000000) AS BIGINT))" in sql
    assert f"CASE WHEN x RLIKE '{sqlengine.ISO_TIMESTAMP_PREFIX}' THEN TRY_CAST(x AS TIMESTAMP) END" in sql
    assert sql.count("TRY_CAST") == 2  # the guard wraps the timestamp cast once; numbers are untouched
    with pytest.raises(ValueError, match="strftime pattern '%j'"):
        sqlengine.to_spark_sql("SELECT try_strptime(x, ['%j']) FROM t")


@pytest.fixture(scope="module")
def spark() -> object:
    pytest.importorskip("pyspark", reason="PySpark is the optional [spark] extra: pip install -e '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (17) on the machine")
    session = sqlengine.spark_session("local[2]")
    yield session
    session.stop()


def _both_engines(data: Path, tmp: Path, spark: object, config: cleaning.CleaningConfig) -> tuple[object, object]:
    duck = cleaning.clean_dataset_out_of_core(data, tmp / "duckdb", KEY, config, memory_limit="1GB", threads=2)
    spark_result = cleaning.clean_dataset_out_of_core(data, tmp / "spark", KEY, config, engine="spark")
    return duck, spark_result


def _assert_engines_agree(duck: cleaning.OutOfCoreCleaning, other: cleaning.OutOfCoreCleaning) -> None:
    pd.testing.assert_frame_equal(duck.ledger, other.ledger)
    pd.testing.assert_frame_equal(duck.reasons, other.reasons)
    pd.testing.assert_frame_equal(duck.bot_users, other.bot_users)
    pd.testing.assert_frame_equal(duck.validation[["table", "column", "problem", "rows"]],
                                  other.validation[["table", "column", "problem", "rows"]])  # fmt: skip
    for part in ("clean", "quarantine", "lineage"):
        left = pd.read_parquet(duck.paths[part] / "events.parquet")
        right = pd.read_parquet(other.paths[part] / "events.parquet")
        assert (other.paths[part] / "events.parquet").is_dir()  # Spark writes part files
        pd.testing.assert_frame_equal(left, right, obj=f"{part}/events")
    assert io.read_meta(duck.paths["clean"]) == io.read_meta(other.paths["clean"])


FULL = pytest.mark.skipif(os.environ.get("LSC_SPARK_FULL") != "1", reason="runs in make test-spark (LSC_SPARK_FULL=1)")
"""Cases beyond the CI budget (about a minute of Spark each)."""


@pytest.fixture(scope="module")
def cleaned_sim(spark: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """A dirty simulated dataset cleaned by both engines (DuckDB file, Spark folder)."""
    from lsc_utils.simulate import simulate

    tmp = tmp_path_factory.mktemp("sim")
    data = simulate(tmp / "sim", n_users=120, n_days=21, seed=5, progress=False)
    return _both_engines(data, tmp, spark, cleaning.CleaningConfig())


def test_simulated_dirty_dataset_cleans_identically_on_spark(cleaned_sim: tuple[object, object]) -> None:
    duck, other = cleaned_sim
    _assert_engines_agree(duck, other)
    assert set(other.reasons["reason"]) >= {"duplicate", "bot_user", "unparseable_ts", "null_id"}
    kept = int(other.ledger.set_index("table").loc["events", "kept_rows"])
    assert io.parquet_rows(other.paths["clean"] / "events.parquet") == kept


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {
            "order": 2,
            "collapse_repeats": True,
            "state_map": {"view_item": "browse", "add_to_cart": "cart", "pay": "pay"},
        },
    ],
)
def test_transition_counts_are_the_same_on_spark(cleaned_sim: tuple[object, object], settings: dict) -> None:
    from lsc_utils.paths import MarkovPathModel

    duck, other = cleaned_sim
    on_duckdb = MarkovPathModel(**settings).fit(duck.paths["clean"] / "events.parquet").transition_counts_
    on_spark = MarkovPathModel(engine="spark", **settings).fit(other.paths["clean"]).transition_counts_
    pd.testing.assert_frame_equal(on_duckdb, on_spark)
    assert on_duckdb["count"].sum() > 1000


@FULL
def test_retention_quarantines_identically_on_spark(tmp_path: Path, spark: object) -> None:
    from lsc_utils.simulate import simulate

    data = simulate(tmp_path / "sim", n_users=120, n_days=21, seed=5, progress=False)
    _assert_engines_agree(*_both_engines(data, tmp_path, spark, cleaning.CleaningConfig(retention_days=20)))


def test_duplicates_are_the_same_on_spark(tmp_path: Path, spark: object) -> None:
    """Spark's row hash (xxhash64) differs from DuckDB's; the exact check on candidates gives the same rows."""
    ts = pd.Timestamp("2026-03-01T10:00:00Z")
    base = {"user_id": "U1", "ts": ts, "event_type": "pay", "item_id": "I1", "price": 2.0, "channel": None}
    rows = [base, base, dict(base, price=-0.0), dict(base, price=0.0), dict(base, item_id=None)]
    rows += [dict(base, item_id=None), dict(base, channel="search"), *[dict(base, user_id="U2")] * 4]
    data = _write(tmp_path / "dups", pd.DataFrame(rows), period={"start": "2026-02-01", "end": "2026-03-31"})
    duck, other = _both_engines(data, tmp_path, spark, cleaning.CleaningConfig())
    _assert_engines_agree(duck, other)
    assert duck.reasons.set_index("reason")["rows"].to_dict() == {"duplicate": 1 + 1 + 1 + 3}


def test_text_edge_cases_clean_identically_on_spark(tmp_path: Path, spark: object) -> None:
    spark_words = [("U4", word, "view_item", "I4", None, "search") for word in SPARK_DATE_WORDS]
    rows = spark_words + TEXT_EDGE_ROWS  # the room rows stay last
    events = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "item_id", "price", "channel"])
    events["room_id"] = [None] * (len(events) - 2) + ["R1", "R1"]
    data = _write(tmp_path / "text", events, period={"start": "2026-02-01", "end": "2026-03-31"})
    _assert_engines_agree(*_both_engines(data, tmp_path, spark, cleaning.CleaningConfig()))


def test_numeric_ids_and_epoch_seconds_clean_identically_on_spark(tmp_path: Path, spark: object) -> None:
    events = pd.DataFrame(
        {
            "user_id": [1.0, 1.0, 2.5, float("nan"), 3.0],
            "ts": [1_772_400_000, 1_772_400_100.25, 1_772_400_200, 1_772_400_300, 1_772_400_400],
            "event_type": ["view_item"] * 5,
            "item_id": [10, 11, 12, 13, 14],
        }
    )
    data = _write(tmp_path / "numeric", events, period={"start": "2026-01-01", "end": "2026-12-31"})
    _assert_engines_agree(*_both_engines(data, tmp_path, spark, cleaning.CleaningConfig()))


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("source", "raw"),
    [
        ("taobao", "taobao_userbehavior/UserBehavior_head84k.csv"),
        pytest.param("online_retail", "online_retail_uci/Online_Retail_sample40k.csv", marks=FULL),
    ],
)
def test_real_samples_clean_identically_on_spark(
    shared_data: Path, tmp_path: Path, spark: object, source: str, raw: str
) -> None:
    from lsc_utils.datasets import convert

    data = convert(source, shared_data / raw, tmp_path / source)
    duck, other = _both_engines(data, tmp_path, spark, cleaning.CleaningConfig())
    _assert_engines_agree(duck, other)
    assert int(other.ledger["quarantined_rows"].sum()) > 0


@FULL
def test_default_sample_cleans_identically_on_spark(tmp_path: Path, spark: object) -> None:
    from tests.conftest import REPO

    data = REPO / "data" / "sample"
    if not (data / "dataset.yaml").is_file():
        pytest.skip("make data first")
    _assert_engines_agree(*_both_engines(data, tmp_path, spark, cleaning.CleaningConfig()))


TIMINGS: frozenset[str] = frozenset({"replay_events_per_s", "replay_latency_ms"})
"""Glued results that measure this machine's speed, not the data."""


@FULL
def test_whole_collection_glues_the_same_results_on_both_engines(
    tmp_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from lsc_utils.run import run_collection
    from lsc_utils.simulate import simulate

    monkeypatch.setenv("LSC_PSEUDONYM_KEY", KEY.decode())
    data = simulate(tmp_path / "sim", n_users=150, n_days=14, seed=3, progress=False)
    runs = {e: run_collection(data=data, out=tmp_path / e, progress=False, engine=e) for e in ("duckdb", "spark")}
    glued = {
        e: {f.parent.name: json.loads(f.read_text()) for f in run.glob("*/metrics.json")} for e, run in runs.items()
    }
    assert set(glued["duckdb"]) == set(glued["spark"]) and len(glued["duckdb"]) == 10
    for notebook, values in glued["duckdb"].items():
        same = {k: v for k, v in values.items() if k not in TIMINGS}
        assert same == {k: v for k, v in glued["spark"][notebook].items() if k not in TIMINGS}, notebook


def _part_folder(folder: Path) -> pd.DataFrame:
    """A Parquet folder of three part files (Spark's layout, ``_SUCCESS`` included) holding 0..9 in order."""
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"v": range(10)})
    for i, (start, stop) in enumerate([(0, 4), (4, 5), (5, 10)]):
        frame.iloc[start:stop].to_parquet(folder / f"part-0000{i}-x.snappy.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    return frame


def test_row_numbers_run_across_the_part_files_of_a_folder(tmp_path: Path) -> None:
    import duckdb

    _part_folder(tmp_path / "t.parquet")
    assert io.parquet_rows(tmp_path / "t.parquet") == 10
    rows = duckdb.sql(f"SELECT v, file_row_number FROM {io.parquet_relation(tmp_path / 't.parquet')} ORDER BY v").df()
    assert rows["file_row_number"].tolist() == list(range(10)) == rows["v"].tolist()
    assert io.table_file(tmp_path / "t.parquet", "events") == tmp_path / "t.parquet"  # a folder table, not a dataset


def test_spark_row_numbers_run_across_the_part_files_of_a_folder(tmp_path: Path, spark: object) -> None:
    _part_folder(tmp_path / "t.parquet")
    engine = sqlengine.SparkEngine(spark)
    engine.parquet_view("t", tmp_path / "t.parquet", "n")
    rows = engine.df("SELECT v, n FROM t ORDER BY v")
    assert rows["n"].tolist() == list(range(10)) == rows["v"].tolist()


@pytest.fixture(scope="module")
def channel_accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts of a small simulation split into five sources (raw fields) and their planted persons."""
    from lsc_utils.identity.integrate import _accounts_frame
    from lsc_utils.simulate import simulate
    from lsc_utils.simulate.channels import SOURCES, simulate_channels

    base = simulate(tmp_path_factory.mktemp("idbase") / "sim", n_users=600, n_days=7, seed=2, progress=False)
    out = simulate_channels(base, tmp_path_factory.mktemp("idsources") / "s", seed=1)
    return _accounts_frame({s: out / s for s in SOURCES}), pd.read_parquet(out / "truth" / "accounts.parquet")


def test_identity_stitching_on_spark_equals_duckdb(spark: object, channel_accounts) -> None:
    from lsc_utils.identity import resolve_persons

    accounts, _ = channel_accounts
    duck = resolve_persons(accounts, KEY, match_probability=None)
    on_spark = resolve_persons(accounts, KEY, match_probability=None, engine="spark", spark_master="local[2]")
    pd.testing.assert_frame_equal(on_spark.persons, duck.persons)
    pd.testing.assert_frame_equal(on_spark.shared_identifiers, duck.shared_identifiers, check_dtype=False)


@FULL
def test_identity_linkage_on_spark_recovers_the_planted_persons(spark: object, channel_accounts) -> None:
    from lsc_utils.identity import linkage_quality, resolve_persons

    accounts, truth = channel_accounts
    on_spark = resolve_persons(accounts, KEY, engine="spark", spark_master="local[2]")
    quality = linkage_quality(on_spark.persons, truth, person="person_id")
    assert quality["precision"] >= 0.99 and quality["recall"] >= 0.95 and quality["households_merged"] == 0, quality
    duck = resolve_persons(accounts, KEY).persons.set_index("account_id")["person_id"]
    same = on_spark.persons.set_index("account_id")["person_id"].reindex(duck.index)
    assert (same == duck).mean() > 0.99  # EM on Spark sums in another order: a few borderline pairs may differ
