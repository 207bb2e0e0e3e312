"""Tests of lsc_utils.live.retention (Kaplan–Meier watch-time survival) and lsc_utils.live.schedule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lsc_utils import live
from lsc_utils.checks import DatasetError
from lsc_utils.live import retention, schedule

T0 = pd.Timestamp("2024-05-01 20:00", tz="UTC")


def _stays(durations: list[float], rules: list[str], **extra: list) -> pd.DataFrame:
    return pd.DataFrame({"duration_s": durations, "closed_by": rules, **extra})


# Hand-worked sample: events (leave, heartbeat) at 1, 2, 3, 5; room-end censoring at 2 and 4.
HAND = _stays([1, 2, 2, 3, 4, 5], ["leave", "leave", "room_end", "heartbeat", "room_end", "leave"])


def _numpy_km(t: np.ndarray, observed: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Plain Kaplan–Meier: S(g) = prod over event times t_i <= g of (1 - d_i / n_i)."""
    times = np.unique(t[observed])
    n = np.array([(t >= u).sum() for u in times])
    d = np.array([((t == u) & observed).sum() for u in times])
    steps = np.cumprod(1 - d / n)
    idx = np.searchsorted(times, grid, side="right") - 1
    return np.where(idx >= 0, steps[np.maximum(idx, 0)], 1.0)


def _random_stays(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    durations = np.round(rng.exponential(400, n), -1)  # rounded: many ties
    rules = rng.choice(["leave", "heartbeat", "room_end"], size=n, p=[0.4, 0.4, 0.2])
    return _stays(list(durations), list(rules), room_id=list(rng.choice(["r1", "r2", "r3"], size=n)))


# ---------------------------------------------------------------------------------------------
# Kaplan–Meier
# ---------------------------------------------------------------------------------------------


def test_hand_worked_kaplan_meier() -> None:
    curve = retention.retention_curve(HAND)
    s1 = 1 - 1 / 6
    s2 = s1 * (1 - 1 / 5)  # the stay censored at 2 is still at risk at 2
    s3 = s2 * (1 - 1 / 3)
    assert curve["time_s"].tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(curve["survival"], [1, s1, s2, s3, s3, 0])
    assert curve["at_risk"].tolist() == [6, 6, 5, 3, 2, 1]
    assert curve["events"].tolist() == [0, 1, 1, 1, 0, 1]
    assert curve["censored"].tolist() == [0, 0, 1, 0, 1, 0]
    med = retention.median_stay(HAND).iloc[0]
    assert med["median_s"] == 3  # first time with S <= 0.5 (S(3) = 4/9)
    counts = med[list(retention.COUNT_COLUMNS)].tolist()
    assert counts == [6, 4, 2, 3, 1, 2]  # stays, events, censored, leave, heartbeat, room_end
    assert retention.retention_at(HAND, seconds=2.5).iloc[0]["retention"] == pytest.approx(s2)


def test_heartbeat_as_censored_changes_the_events() -> None:
    curve = retention.retention_curve(HAND, heartbeat_as="censored")
    s2 = (5 / 6) * (4 / 5)
    np.testing.assert_allclose(curve["survival"], [1, 5 / 6, s2, s2, s2, 0])
    med = retention.median_stay(HAND, heartbeat_as="censored").iloc[0]
    assert (med["median_s"], med["n_events"], med["n_censored"]) == (5, 3, 3)


def test_linear_band_is_greenwood() -> None:
    curve = retention.retention_curve(HAND, grid=[3.0], method="linear", confidence=0.9)
    s, z = 4 / 9, stats.norm.ppf(0.95)
    se = s * math.sqrt(1 / (6 * 5) + 1 / (5 * 4) + 1 / (3 * 2))  # Greenwood: S^2 * sum d / (n (n - d))
    assert curve[["ci_low", "ci_high"]].iloc[0].tolist() == pytest.approx([s - z * se, s + z * se])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_plain_numpy_kaplan_meier(seed: int) -> None:
    stays = _random_stays(seed)
    grid = np.arange(0, 3000, 25.0)
    curve = retention.retention_curve(stays, grid=grid)
    observed = stays["closed_by"].isin(["leave", "heartbeat"]).to_numpy()
    expected = _numpy_km(stays["duration_s"].to_numpy(), observed, grid)
    np.testing.assert_allclose(curve["survival"], expected, rtol=1e-12)
    assert (curve["ci_low"] <= curve["survival"] + 1e-12).all()
    assert (curve["survival"] <= curve["ci_high"].fillna(1.0) + 1e-12).all()  # undefined once S = 0
    cens = retention.retention_curve(stays, grid=grid, heartbeat_as="censored")
    expected = _numpy_km(stays["duration_s"].to_numpy(), stays["closed_by"].eq("leave").to_numpy(), grid)
    np.testing.assert_allclose(cens["survival"], expected, rtol=1e-12)


def test_no_censoring_is_one_minus_ecdf() -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.gamma(2, 200, 101), 1)
    stays = _stays(list(x), ["leave"] * len(x))
    curve = retention.retention_curve(stays)
    np.testing.assert_allclose(curve["survival"], [(x > t).mean() for t in curve["time_s"]])
    assert retention.median_stay(stays)["median_s"].iloc[0] == np.sort(x)[50]
    assert retention.retention_at(stays, seconds=600)["retention"].iloc[0] == pytest.approx((x > 600).mean())


def test_median_interval_is_where_the_band_crosses_half() -> None:
    stays = _random_stays(3, n=500)
    med = retention.median_stay(stays).iloc[0]
    curve = retention.retention_curve(stays)
    assert med["ci_low_s"] == curve.loc[curve["ci_low"] <= 0.5, "time_s"].iloc[0]
    assert med["ci_high_s"] == curve.loc[curve["ci_high"] <= 0.5, "time_s"].iloc[0]
    assert med["ci_low_s"] <= med["median_s"] <= med["ci_high_s"]


def test_groups_equal_separate_fits() -> None:
    stays = _random_stays(4)
    grouped = retention.median_stay(stays, by="room_id")
    assert grouped["room_id"].tolist() == ["r1", "r2", "r3"]
    for room in ("r1", "r2", "r3"):
        alone = retention.median_stay(stays[stays["room_id"] == room]).iloc[0]
        row = grouped.set_index("room_id").loc[room]
        assert row[["median_s", "ci_low_s", "ci_high_s", "n_stays"]].tolist() == pytest.approx(
            alone[["median_s", "ci_low_s", "ci_high_s", "n_stays"]].tolist(), nan_ok=True
        )
    at = retention.retention_at(stays, by=["room_id"])
    assert at["n_stays"].sum() == len(stays)
    curve = retention.retention_curve(stays, by="room_id", grid=[0, 600])
    assert curve.columns[0] == "room_id" and len(curve) == 6


def test_empty_and_one_row() -> None:
    empty = HAND.assign(room_id="r").iloc[:0]
    assert retention.retention_curve(empty).empty
    assert list(retention.median_stay(empty, by="room_id").columns)[:2] == ["room_id", "n_stays"]
    assert retention.retention_at(empty).empty
    one = _stays([120.0], ["leave"])
    med = retention.median_stay(one).iloc[0]
    assert med["median_s"] == 120 and med["n_events"] == 1
    assert retention.retention_at(one, seconds=60)["retention"].iloc[0] == 1.0
    assert retention.retention_at(one, seconds=120)["retention"].iloc[0] == 0.0
    censored = retention.median_stay(_stays([120.0], ["room_end"])).iloc[0]
    assert math.isnan(censored["median_s"]) and math.isnan(censored["ci_high_s"])


def test_bad_input_is_one_line() -> None:
    with pytest.raises(DatasetError, match="'closed_by' missing for median_stay") as err:
        retention.median_stay(HAND.drop(columns="closed_by"))
    assert "\n" not in str(err.value)
    with pytest.raises(DatasetError, match="'room_id' missing for retention_curve"):
        retention.retention_curve(HAND, by="room_id")
    with pytest.raises(DatasetError, match="not finite numbers >= 0"):
        retention.retention_at(_stays([-1.0], ["leave"]))
    with pytest.raises(DatasetError, match="'closed_by' must hold"):
        retention.retention_curve(_stays([1.0], ["timeout"]))
    with pytest.raises(ValueError, match="'heartbeat_as' parameter of median_stay"):
        retention.median_stay(HAND, heartbeat_as="maybe")
    with pytest.raises(ValueError, match="'seconds' parameter of retention_at"):
        retention.retention_at(HAND, seconds=-5)


def test_on_built_stays() -> None:
    rows = [("a", 0, "enter_room"), ("a", 700, "leave_room"), ("b", 0, "enter_room"), ("b", 60, "like")]
    rows += [("c", 100, "enter_room")]
    events = pd.DataFrame(rows, columns=["user_id", "s", "event_type"]).assign(room_id="r1")
    events["ts"] = T0 + pd.to_timedelta(events.pop("s"), unit="s")
    rooms = pd.DataFrame({"room_id": ["r1"], "start_ts": [T0], "end_ts": [T0 + pd.Timedelta(seconds=200)]})
    stays = live.build_stays(events, rooms)  # a: room_end at 200, b: room_end at 200, c: room_end at 200
    at = retention.retention_at(stays, seconds=100).iloc[0]
    assert (at["n_room_end"], at["n_events"], at["retention"]) == (3, 0, 1.0)


# ---------------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------------


def test_hour_of_week_across_timezones() -> None:
    starts = pd.to_datetime(["2024-05-05 17:00", "2024-05-05 15:59", "2024-05-06 02:30"]).tz_localize("UTC")
    rooms = pd.DataFrame({"room_id": ["x", "y", "z"], "start_ts": starts})
    utc = schedule.start_slots(rooms, "UTC")
    assert utc[["weekday_name", "hour"]].values.tolist() == [["Sun", 17], ["Sun", 15], ["Mon", 2]]
    sh = schedule.start_slots(rooms, "Asia/Shanghai")  # UTC+8: 17:00 Sunday is 01:00 Monday
    assert sh[["weekday", "weekday_name", "hour"]].values.tolist() == [[0, "Mon", 1], [6, "Sun", 23], [0, "Mon", 10]]
    assert sh["hour_of_week"].tolist() == [1, 167, 10]
    with pytest.raises(ValueError, match="'timezone' parameter of start_slots"):
        schedule.start_slots(rooms, "Mars/Olympus")


def test_hour_of_week_table_means_and_counts() -> None:
    starts = pd.to_datetime(["2024-05-05 17:00", "2024-05-05 17:40", "2024-05-06 02:30"]).tz_localize("UTC")
    rooms = pd.DataFrame({"room_id": ["x", "y", "z"], "start_ts": starts})
    kpis = pd.DataFrame(
        {"room_id": ["x", "y", "z"], "uv": [10, 30, 5], "gpm": [100.0, None, 7.0], "conversion_rate": [0.1, 0.3, 0.0]}
    )
    table = schedule.hour_of_week_table(rooms, kpis, "Asia/Shanghai")
    assert table[["weekday_name", "hour", "n_rooms"]].values.tolist() == [["Mon", 1, 2], ["Mon", 10, 1]]
    assert table[["uv_mean", "gpm_mean", "conversion_rate_mean"]].iloc[0].tolist() == pytest.approx([20, 100, 0.2])
    stays = pd.DataFrame({"room_id": ["x", "x"], "enter_ts": [starts[1], starts[0]]})  # first entry = start
    assert schedule.start_slots(stays, "UTC")["hour"].tolist() == [17]
    with pytest.raises(DatasetError, match="'gpm' missing for hour_of_week_table"):
        schedule.hour_of_week_table(rooms, kpis.drop(columns="gpm"), "UTC")


def _groups_frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    sizes, centers = {"a": 60, "b": 80, "c": 5, "d": 40}, {"a": 10.0, "b": 20.0, "c": 99.0, "d": 15.0}
    rows = [(g, rng.normal(centers[g], 3)) for g, n in sizes.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=["category", "watch_s"])


def test_rank_groups_order_flag_and_ci() -> None:
    frame = _groups_frame()
    ranked = schedule.rank_groups(frame, "watch_s", "category", n_boot=500, random_state=3, min_size=30)
    assert ranked["category"].tolist() == ["b", "d", "a", "c"]  # c has the highest mean but only 5 rows
    assert ranked["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(ranked["rank"].iloc[3])
    assert ranked["small"].tolist() == [False, False, False, True]
    assert ranked["n"].tolist() == [80, 40, 60, 5]
    means = frame.groupby("category")["watch_s"].mean()
    assert ranked.set_index("category")["mean"].to_dict() == pytest.approx(means.to_dict())
    assert ((ranked["ci_low"] < ranked["mean"]) & (ranked["mean"] < ranked["ci_high"])).all()


def test_rank_groups_is_deterministic_for_a_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _groups_frame()
    first = schedule.rank_groups(frame, "watch_s", ["category"], random_state=5)
    pd.testing.assert_frame_equal(first, schedule.rank_groups(frame, "watch_s", ["category"], random_state=5))
    other = schedule.rank_groups(frame, "watch_s", ["category"], random_state=6)
    assert not np.allclose(first["ci_low"], other["ci_low"])
    monkeypatch.setattr(schedule, "BOOTSTRAP_CELLS", 700)  # drawn in chunks of a few resamples
    pd.testing.assert_frame_equal(first, schedule.rank_groups(frame, "watch_s", "category", random_state=5))


def test_rank_groups_edge_cases() -> None:
    frame = pd.DataFrame({"g": ["a", "b", "b", "c"], "v": [1.0, 2.0, None, None]})
    out = schedule.rank_groups(frame, "v", "g", min_size=1).set_index("g")
    assert out.loc["a", ["n", "mean", "ci_low", "ci_high"]].tolist() == [1, 1.0, 1.0, 1.0]
    assert out.loc["b", "n"] == 1 and out.loc["c", "n"] == 0 and bool(out.loc["c", "small"])
    with pytest.raises(DatasetError, match="'v' must be numeric"):
        schedule.rank_groups(frame.assign(v="x"), "v", "g")
    with pytest.raises(ValueError, match="'n_boot' parameter of rank_groups"):
        schedule.rank_groups(frame, "v", "g", n_boot=0)
