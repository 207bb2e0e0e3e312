"""Tests of lsc_utils.live: stays (closing rules, reconnects), sweep-line concurrency and room KPIs."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from lsc_utils import live
from lsc_utils.checks import DatasetError

T0 = pd.Timestamp("2024-05-01 20:00", tz="UTC")


def _t(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def _events(rows: list[tuple]) -> pd.DataFrame:
    """Events from (user, seconds, type[, room, price, quantity, order_id]) tuples."""
    full = [(r + ("r1", None, None, None)[len(r) - 3 :]) if len(r) < 7 else r for r in rows]
    frame = pd.DataFrame(full, columns=["user_id", "s", "event_type", "room_id", "price", "quantity", "order_id"])
    frame["ts"] = [_t(s) for s in frame.pop("s")]
    return frame.astype({"price": "float64", "quantity": "float64"})


def _rooms(start: float, end: float, room: str = "r1") -> pd.DataFrame:
    return pd.DataFrame({"room_id": [room], "start_ts": [_t(start)], "end_ts": [_t(end)]})


def _stays(intervals: list[tuple[float, float]], room: str = "r1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "room_id": room,
            "user_id": [f"u{i}" for i in range(len(intervals))],
            "enter_ts": [_t(a) for a, _ in intervals],
            "leave_ts": [_t(b) for _, b in intervals],
        }
    )


# ---------------------------------------------------------------------------------------------
# Stays
# ---------------------------------------------------------------------------------------------


def test_leave_closes_the_stay() -> None:
    stays = live.build_stays(_events([("a", 0, "enter_room"), ("a", 100, "like"), ("a", 900, "leave_room")]))
    assert stays[["enter_ts", "leave_ts", "closed_by", "n_entries"]].values.tolist() == [[_t(0), _t(900), "leave", 1]]
    assert stays["duration_s"].tolist() == [900.0]


def test_heartbeat_closes_a_stay_without_leave() -> None:
    events = _events([("a", 0, "enter_room"), ("a", 120, "comment"), ("a", 130, "impression")])
    stays = live.build_stays(events, heartbeat="5min")
    assert stays[["leave_ts", "closed_by"]].values.tolist() == [[_t(420), "heartbeat"]]  # impression is no activity
    assert live.build_stays(events, heartbeat="1min")["leave_ts"].tolist() == [_t(180)]


def test_room_end_comes_first() -> None:
    events = _events([("a", 0, "enter_room"), ("a", 50, "like"), ("b", 10, "enter_room"), ("b", 500, "leave_room")])
    stays = live.build_stays(events, _rooms(-60, 200))
    assert stays[["user_id", "leave_ts", "closed_by"]].values.tolist() == [
        ["a", _t(200), "room_end"],
        ["b", _t(200), "room_end"],
    ]
    # without the rooms table the other rules apply
    assert live.build_stays(events)["closed_by"].tolist() == ["heartbeat", "leave"]


def test_entry_before_room_start_is_clipped() -> None:
    stays = live.build_stays(_events([("a", 0, "enter_room"), ("a", 100, "leave_room")]), _rooms(30, 1000))
    assert stays[["enter_ts", "leave_ts"]].values.tolist() == [[_t(30), _t(100)]]


def test_reconnect_within_gap_merges() -> None:
    events = _events(
        [
            ("a", 0, "enter_room"),
            ("a", 60, "leave_room"),
            ("a", 80, "enter_room"),  # 20 s after the leave: a reconnect
            ("a", 200, "leave_room"),
            ("a", 300, "enter_room"),  # 100 s later: a new stay, closed by heartbeat
        ]
    )
    stays = live.build_stays(events, reconnect_gap="30s", heartbeat="5min")
    assert stays[["enter_ts", "leave_ts", "closed_by", "n_entries"]].values.tolist() == [
        [_t(0), _t(200), "leave", 2],
        [_t(300), _t(600), "heartbeat", 1],
    ]
    strict = live.build_stays(events, reconnect_gap="10s")
    assert strict["n_entries"].tolist() == [1, 1, 1]
    summary = live.summarize_stays(stays).set_index("closed_by")
    assert summary.loc["leave", "n_stays"] == 1 and summary.loc["heartbeat", "n_stays"] == 1
    assert summary.loc["room_end", "n_stays"] == 0
    assert summary.loc["total", ["n_stays", "n_entries", "reconnects"]].tolist() == [2, 3, 1]


def test_reentry_without_leave_cuts_and_merges() -> None:
    # the heartbeat of the first entry would reach 300 s, but the viewer re-enters at 100 s
    stays = live.build_stays(_events([("a", 0, "enter_room"), ("a", 100, "enter_room"), ("a", 150, "leave_room")]))
    assert stays[["enter_ts", "leave_ts", "closed_by", "n_entries"]].values.tolist() == [[_t(0), _t(150), "leave", 2]]


def test_leave_and_enter_at_one_instant_and_rooms_apart() -> None:
    events = _events(
        [("a", 10, "enter_room"), ("a", 0, "enter_room"), ("a", 10, "leave_room"), ("a", 5, "enter_room", "r2")]
    )
    stays = live.build_stays(events, reconnect_gap="0s")
    # the leave at 10 s closes the first entry (leaves sort before enters); the zero gap still merges
    assert stays[["room_id", "n_entries"]].values.tolist() == [["r1", 2], ["r2", 1]]


def test_events_before_first_entry_open_no_stay() -> None:
    stays = live.build_stays(_events([("a", 0, "like"), ("a", 10, "leave_room"), ("b", 0, "enter_room")]))
    assert stays["user_id"].tolist() == ["b"]


def test_stays_read_parquet(tmp_path) -> None:
    events = _events([("a", 0, "enter_room"), ("a", 900, "leave_room")])
    events.to_parquet(tmp_path / "events.parquet")
    _rooms(0, 600).to_parquet(tmp_path / "rooms.parquet")
    stays = live.build_stays(tmp_path, tmp_path)
    assert stays[["leave_ts", "closed_by"]].values.tolist() == [[_t(600), "room_end"]]


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------


def test_touching_intervals_do_not_overlap() -> None:
    conc = live.room_concurrency(_stays([(0, 10), (10, 20)]))
    assert conc[["pcu", "stream_s", "watch_s", "acu"]].values.tolist() == [[1, 20.0, 20.0, 1.0]]


def test_acu_is_watch_over_stream_seconds() -> None:
    stays = _stays([(0, 30), (10, 25), (50, 51.5)])
    conc = live.room_concurrency(stays, _rooms(0, 120)).iloc[0]
    assert conc["watch_s"] == 46.5 and conc["stream_s"] == 120.0 and conc["pcu"] == 2
    assert conc["acu"] == 46.5 / 120
    # stays are clipped to the room window
    clipped = live.room_concurrency(stays, _rooms(20, 50)).iloc[0]
    assert clipped[["watch_s", "stream_s", "acu", "pcu"]].tolist() == [15.0, 30.0, 0.5, 2]


def test_room_without_stays_has_zero_concurrency() -> None:
    conc = live.room_concurrency(_stays([(0, 10)]), pd.concat([_rooms(0, 60), _rooms(0, 60, "r9")]))
    assert conc.set_index("room_id")[["pcu", "acu"]].values.tolist() == [[1, 10 / 60], [0, 0.0]]


def _random_stays(rng: np.random.Generator, n: int) -> pd.DataFrame:
    starts = rng.integers(0, 600, n)
    lengths = rng.integers(0, 120, n)  # zero-length stays included
    stays = _stays(list(zip(starts.tolist(), (starts + lengths).tolist(), strict=True)))
    stays["room_id"] = rng.choice(["r1", "r2", "r3"], n)
    return stays


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweep_line_matches_brute_force_and_independent_sql(seed: int) -> None:
    stays = _random_stays(np.random.default_rng(seed), 200)
    conc = live.room_concurrency(stays).set_index("room_id")
    grid = np.arange(0, 800, 0.5)  # integer-second ends: a half-second grid hits every step
    for room, group in stays.groupby("room_id"):
        a = ((group["enter_ts"] - T0).dt.total_seconds()).to_numpy()
        b = ((group["leave_ts"] - T0).dt.total_seconds()).to_numpy()
        brute = ((a[:, None] <= grid[None, :]) & (grid[None, :] < b[:, None])).sum(axis=0)
        assert conc.loc[room, "pcu"] == brute.max()
        stream = b.max() - a.min()
        assert conc.loc[room, "acu"] == pytest.approx((b - a).sum() / stream, rel=1e-12)
    # an independent DuckDB computation: the most stays containing some entry instant
    independent = (
        duckdb.connect()
        .execute(
            """SELECT x.room_id, MAX(n) AS pcu FROM (
                   SELECT s.room_id, s.enter_ts, COUNT(*) AS n FROM stays s JOIN stays o
                   ON s.room_id = o.room_id AND o.enter_ts <= s.enter_ts AND s.enter_ts < o.leave_ts
                   WHERE s.enter_ts < s.leave_ts GROUP BY s.room_id, s.enter_ts, s.user_id) x GROUP BY x.room_id"""
        )
        .fetchdf()
        .set_index("room_id")
    )
    assert conc["pcu"].to_dict() == independent["pcu"].to_dict()


def test_series_sums_to_acu_and_pcu() -> None:
    stays = _random_stays(np.random.default_rng(7), 150)
    rooms = pd.DataFrame({"room_id": ["r1", "r2", "r3"], "start_ts": _t(-30), "end_ts": _t(700)})
    conc = live.room_concurrency(stays, rooms).set_index("room_id")
    series = live.concurrency_series(stays, rooms)
    assert series.groupby("room_id")["seconds"].sum().eq(730.0).all()
    weighted = (series["viewers_avg"] * series["seconds"]).groupby(series["room_id"]).sum() / 730.0
    assert np.allclose(weighted.sort_index(), conc["acu"].sort_index(), rtol=1e-12)
    assert series.groupby("room_id")["viewers_peak"].max().sort_index().tolist() == conc["pcu"].sort_index().tolist()
    assert (series["viewers_start"] <= series["viewers_peak"]).all()


def test_series_hand_case() -> None:
    series = live.concurrency_series(_stays([(0, 90), (30, 40)]), _rooms(0, 120))
    assert series[["seconds", "viewers_start", "viewers_peak", "viewers_avg"]].values.tolist() == [
        [60.0, 1, 2, 70 / 60],
        [60.0, 1, 1, 0.5],
    ]


# ---------------------------------------------------------------------------------------------
# KPIs
# ---------------------------------------------------------------------------------------------


def _shop_events() -> pd.DataFrame:
    """A 10-minute room: 3 entries by 2 viewers, 4 product views, 2 orders, 1 buyer, 5 interactions."""
    return _events(
        [
            ("a", 0, "enter_room"),
            ("a", 10, "view_item"),
            ("a", 20, "view_item"),
            ("a", 30, "like"),
            ("a", 40, "comment"),
            ("a", 50, "order", "r1", None, None, "o1"),
            ("a", 51, "order", "r1", None, None, "o1"),  # second line of the same order
            ("a", 60, "pay", "r1", 100.0, 2.0, "o1"),
            ("a", 61, "pay", "r1", 50.0, None, "o1"),  # null quantity counts 1
            ("a", 120, "leave_room"),
            ("a", 300, "enter_room"),
            ("a", 360, "leave_room"),
            ("b", 60, "enter_room"),
            ("b", 70, "view_item"),
            ("b", 80, "view_item"),
            ("b", 90, "share"),
            ("b", 95, "gift"),
            ("b", 96, "like"),
            ("b", 97, "follow"),
            ("b", 100, "order", "r1", None, None, "o2"),
            ("b", 180, "leave_room"),
        ]
    )


def test_kpi_formulas_on_a_tiny_room() -> None:
    k = live.room_kpis(_shop_events(), _rooms(0, 600)).iloc[0]
    assert (k["pv"], k["uv"], k["product_views"], k["orders"], k["buyers"]) == (3, 2, 4, 2, 1)
    assert k["gmv"] == 250.0 and k["interactions"] == 5 and k["new_followers"] == 1
    assert k["pcu"] == 2 and k["acu"] == (120 + 60 + 120) / 600
    assert k["avg_watch_s"] == 100.0 and k["median_watch_s"] == 120.0
    assert k["live_minutes"] == 10.0
    assert k["ctr"] == 4 / 2 and k["ctor"] == 2 / 4 and k["conversion_rate"] == 1 / 2
    assert k["gmv_per_live_minute"] == 25.0 and k["gpm"] == pytest.approx(1000 * 250 / 3)
    assert k["uv_value"] == 125.0 and k["interaction_rate"] == 5 / 2


def test_zero_denominators_give_null() -> None:
    events = _events([("a", 0, "like"), ("a", 5, "enter_room", "r2")])
    k = live.room_kpis(events, pd.concat([_rooms(0, 60), _rooms(0, 60, "r2"), _rooms(0, 0, "r3")])).set_index("room_id")
    for column in ("ctr", "conversion_rate", "gpm", "uv_value", "interaction_rate", "ctor"):
        assert pd.isna(k.loc["r1", column]), column
    assert pd.isna(k.loc["r3", "gmv_per_live_minute"]) and pd.isna(k.loc["r3", "acu"])
    assert not np.isinf(k.select_dtypes("number").to_numpy(dtype=float)).any()
    assert k.loc["r2", ["pv", "uv", "ctr"]].tolist() == [1, 1, 0.0]


def test_kpi_definitions_cover_the_ratios() -> None:
    k = live.room_kpis(_shop_events())
    assert set(live.KPI_DEFINITIONS["kpi"]) <= set(k.columns)
    assert list(live.KPI_DEFINITIONS.columns) == ["kpi", "numerator", "denominator"]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [live.build_stays, live.room_kpis])
def test_missing_column_is_one_line_error(function) -> None:
    events = _shop_events().drop(columns="room_id")
    with pytest.raises(DatasetError, match=r"^events: required column 'room_id' missing for \w+ ") as info:
        function(events)
    assert "\n" not in str(info.value)


def test_empty_events_and_bad_rooms() -> None:
    with pytest.raises(DatasetError, match=r"^events: the table is empty \(no rows\); build_stays") as info:
        live.build_stays(_shop_events().iloc[:0])
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match=r"^rooms: required column 'end_ts' missing"):
        live.build_stays(_shop_events(), _rooms(0, 60).drop(columns="end_ts"))
    with pytest.raises(DatasetError, match=r"^events: column 'ts' must hold timestamps"):
        live.room_kpis(_shop_events().astype({"ts": str}))
    with pytest.raises(DatasetError, match=r"^stays: required column 'leave_ts' missing"):
        live.room_concurrency(_stays([(0, 1)]).drop(columns="leave_ts"))


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match=r"'heartbeat' parameter of build_stays must be a duration > 0"):
        live.build_stays(_shop_events(), heartbeat="0s")
    with pytest.raises(ValueError, match=r"'reconnect_gap' parameter of build_stays"):
        live.build_stays(_shop_events(), reconnect_gap=30)


def test_conversion_counts_only_buyers_who_entered_the_room() -> None:
    events = pd.concat([_shop_events(), _events([("c", 200, "pay", "r1", 30.0, 1.0, "o3")])], ignore_index=True)
    k = live.room_kpis(events, _rooms(0, 600)).iloc[0]
    assert (k["buyers"], k["viewer_buyers"], k["uv"]) == (2, 1, 2)
    assert k["conversion_rate"] == 1 / 2 and k["gmv"] == 280.0  # GMV keeps every payment in the room


@pytest.mark.parametrize("seed", range(5))
def test_series_equals_a_second_by_second_count(seed: int) -> None:
    """Random integer-second stays (many ties) in a 10-minute room starting mid-minute."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 600, 80)
    b = a + rng.integers(0, 200, 80)
    series = live.concurrency_series(_stays(list(zip(a.tolist(), b.tolist(), strict=True))), _rooms(30, 630))
    seconds = np.arange(30, 630)
    present = ((a[None, :] <= seconds[:, None]) & (b[None, :] > seconds[:, None])).sum(axis=1)
    minute = (seconds // 60) * 60
    expected = pd.DataFrame({"m": minute, "n": present}).groupby("m")["n"].agg(["first", "max", "mean", "size"])
    assert series["seconds"].tolist() == expected["size"].astype(float).tolist()
    assert series["viewers_start"].tolist() == expected["first"].tolist()
    assert series["viewers_peak"].tolist() == expected["max"].tolist()
    np.testing.assert_allclose(series["viewers_avg"], expected["mean"], rtol=0, atol=1e-12)


def test_series_in_room_groups_equals_one_query(monkeypatch: pytest.MonkeyPatch) -> None:
    from lsc_utils.live import concurrency

    stays = pd.concat([_stays([(0, 90), (30, 40)], room) for room in ("r3", "r1", "r2")], ignore_index=True)
    rooms = pd.concat([_rooms(0, 120, room) for room in ("r1", "r2", "r4")], ignore_index=True)
    whole = live.concurrency_series(stays, rooms)
    monkeypatch.setattr(concurrency, "ROOMS_PER_QUERY", 1)
    pd.testing.assert_frame_equal(live.concurrency_series(stays, rooms), whole)
    assert whole["room_id"].unique().tolist() == ["r1", "r2", "r3", "r4"]
