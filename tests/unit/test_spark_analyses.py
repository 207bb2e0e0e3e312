"""Portrait features, viewer stays and room KPIs on Apache Spark (``local[2]``) against DuckDB.

The same SQL statements run on both engines (transpiled by :func:`lsc_utils.sqlengine.to_spark_sql`);
the results must be equal, floats to 1e-9. Inputs are the simulated dirty dataset cleaned by both
engines (DuckDB's file, Spark's part folder) and real samples (Taobao for portraits, Twitch for rooms).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lsc_utils import cleaning, live, sqlengine
from lsc_utils.portraits import build_portraits
from tests.unit.test_cleaning_sql import KEY
from tests.unit.test_spark_engine import cleaned_sim, spark  # noqa: F401 - fixtures shared with the cleaning tests

pytest.importorskip("sqlglot", reason="sqlglot (a dependency) is missing")
pytestmark = pytest.mark.xdist_group("spark")  # one JVM: make test-unit runs with --dist loadgroup


def _assert_equal(duckdb_result: pd.DataFrame, spark_result: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(duckdb_result, spark_result, check_exact=False, rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT timezone('Asia/Shanghai', ts) FROM t", "FROM_UTC_TIMESTAMP(ts, 'Asia/Shanghai')"),
        ("SELECT timezone('UTC', CAST(x AS TIMESTAMP)) FROM t", "SELECT CAST(x AS TIMESTAMP) FROM"),
        ("SELECT timezone('Europe/Paris', CAST(x AS TIMESTAMP)) FROM t", "TO_UTC_TIMESTAMP(CAST(x AS TIMESTAMP_NTZ)"),
        ("SELECT max(k, 3) AS ks FROM t GROUP BY u", "SLICE(SORT_ARRAY(COLLECT_LIST(k), FALSE), 1, 3)"),
        ("SELECT CAST(n AS HUGEINT) * 4 FROM t", "CAST(n AS DECIMAL(38, 0)) * 4"),
        ("WITH ev AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM ev", "WITH ev AS (SELECT 1 AS a)"),
        ("SELECT isodow(timezone('Asia/Tokyo', ts)) FROM t", "WEEKDAY(FROM_UTC_TIMESTAMP(ts, 'Asia/Tokyo')) + 1"),
        ("SELECT make_timestamp(us) FROM t", "TIMESTAMP_MICROS(us)"),
    ],
)
def test_duckdb_constructs_of_the_analyses_are_rewritten_for_spark(sql: str, expected: str) -> None:
    assert expected in sqlengine.to_spark_sql(sql)


def test_weekday_hour_and_local_day_agree_on_both_engines(spark: object) -> None:  # noqa: F811
    """Around midnight and a daylight-saving change: the parts portraits take from local time."""
    import duckdb

    times = pd.DataFrame(
        {"ts": pd.to_datetime(["2026-03-29 00:59:59", "2026-03-29 01:00:00", "2026-12-06 23:30:00",
                               "2026-12-07 16:00:00"], utc=True).astype("datetime64[us, UTC]")}
    )  # fmt: skip
    sql = (
        "SELECT isodow(timezone('{tz}', ts)) - 1 AS dow, hour(timezone('{tz}', ts)) AS hr, "
        "CAST(CAST(timezone('{tz}', ts) AS DATE) AS VARCHAR) AS day FROM times ORDER BY ts"
    )
    engine = sqlengine.SparkEngine(spark)
    engine.register_frame("times", times)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("times", times)
    for tz in ("Europe/Paris", "Asia/Shanghai", "America/Los_Angeles"):
        on_duckdb = con.execute(sql.format(tz=tz)).df()
        on_spark = engine.df(sql.format(tz=tz))
        pd.testing.assert_frame_equal(on_duckdb, on_spark, check_dtype=False, obj=tz)


def test_portraits_are_the_same_on_spark(cleaned_sim: tuple[object, object]) -> None:  # noqa: F811
    duck, other = cleaned_sim
    sides = {t: duck.paths["clean"] / f"{t}.parquet" for t in ("users", "items", "rooms")}
    options = {"as_of": "2026-03-15", "timezone": "Asia/Shanghai"}
    on_duckdb = build_portraits(duck.paths["clean"] / "events.parquet", **sides, **options)
    on_spark = build_portraits(other.paths["clean"] / "events.parquet", **sides, **options, engine="spark")
    _assert_equal(on_duckdb, on_spark)
    assert on_spark.attrs == on_duckdb.attrs
    assert on_spark["is_buyer"].sum() > 20 and on_spark["top_anchor_id"].notna().sum() > 20


def test_portraits_with_derived_sessions_and_no_side_tables_are_the_same_on_spark(
    cleaned_sim: tuple[object, object],  # noqa: F811
) -> None:
    duck, _ = cleaned_sim
    events = pd.read_parquet(duck.paths["clean"] / "events.parquet")
    events.loc[events.index % 3 == 0, "session_id"] = None  # a third of the events lose their session
    on_duckdb = build_portraits(events, session_gap_minutes=20)
    on_spark = build_portraits(events, session_gap_minutes=20, engine="spark")
    _assert_equal(on_duckdb, on_spark)
    assert on_spark["top_category_1"].isna().all() and on_spark["n_sessions"].gt(0).all()


@pytest.mark.parametrize("with_rooms", [True, False])
def test_stays_and_room_kpis_are_the_same_on_spark(
    cleaned_sim: tuple[object, object],  # noqa: F811
    with_rooms: bool,
) -> None:
    duck, other = cleaned_sim
    rooms = duck.paths["clean"] / "rooms.parquet" if with_rooms else None
    stays = live.build_stays(duck.paths["clean"] / "events.parquet", rooms, heartbeat="4min", reconnect_gap="1min")
    spark_stays = live.build_stays(
        other.paths["clean"] / "events.parquet", rooms, heartbeat="4min", reconnect_gap="1min", engine="spark"
    )
    _assert_equal(stays, spark_stays)
    assert set(stays["closed_by"]) >= ({"leave", "heartbeat", "room_end"} if with_rooms else {"leave", "heartbeat"})
    kpis = live.room_kpis(duck.paths["clean"] / "events.parquet", rooms)
    _assert_equal(kpis, live.room_kpis(other.paths["clean"] / "events.parquet", rooms, engine="spark"))
    assert kpis["gmv"].gt(0).sum() > 5


def test_an_unknown_engine_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="'engine' parameter of room_kpis must be one of duckdb, spark"):
        live.room_kpis(pd.DataFrame(), engine="polars")
    with pytest.raises(ValueError, match="'engine' parameter must be one of duckdb, spark"):
        build_portraits(pd.DataFrame(), engine="polars")


@pytest.mark.realdata
def test_taobao_portraits_are_the_same_on_spark(shared_data: Path, tmp_path: Path, spark: object) -> None:  # noqa: F811
    from lsc_utils.datasets import convert

    data = convert("taobao", shared_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", tmp_path / "tb")
    clean = cleaning.clean_dataset_out_of_core(data, tmp_path / "clean", KEY, cleaning.CleaningConfig()).paths["clean"]
    sides = {"items": clean / "items.parquet"}
    on_duckdb = build_portraits(clean / "events.parquet", **sides, timezone="Asia/Shanghai")
    _assert_equal(
        on_duckdb, build_portraits(clean / "events.parquet", **sides, timezone="Asia/Shanghai", engine="spark")
    )
    assert len(on_duckdb) > 500 and on_duckdb["is_buyer"].sum() > 50


@pytest.mark.realdata
def test_twitch_stays_and_room_kpis_are_the_same_on_spark(shared_data: Path, tmp_path: Path, spark: object) -> None:  # noqa: F811
    from lsc_utils.datasets import convert

    data = convert("twitch", shared_data / "twitch_liverec", tmp_path / "tw")
    events, rooms = data / "events.parquet", data / "rooms.parquet"
    _assert_equal(live.build_stays(events, rooms), live.build_stays(events, rooms, engine="spark"))
    kpis = live.room_kpis(events, rooms)
    _assert_equal(kpis, live.room_kpis(events, rooms, engine="spark"))
    assert len(kpis) > 1000 and kpis["pcu"].max() > 10
