"""Tests of lsc_utils.live.alerts: online CUSUM/EWMA drop alerts, ruptures change points, alert scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lsc_utils.live import alerts as al

T0 = pd.Timestamp("2024-05-01 20:00", tz="UTC")


def _frame(x: np.ndarray, room: str = "r1", start: pd.Timestamp = T0) -> pd.DataFrame:
    """One room's per-minute series with timestamp minutes."""
    return pd.DataFrame({"room_id": room, "minute": pd.date_range(start, periods=len(x), freq="min"), "viewers_avg": x})


def _drop(seed: int, n: int = 600, at: int = 300) -> np.ndarray:
    """The issue's reference series: level 1000 then 700 from minute ``at``, Gaussian noise of sd 30."""
    rng = np.random.default_rng(seed)
    return np.where(np.arange(n) < at, 1000.0, 700.0) + rng.normal(0.0, 30.0, n)


def _flat_rooms(n_rooms: int, n: int, seed: int) -> pd.DataFrame:
    """Incident-free rooms: Gaussian 1000 +- 30 per minute, integer minutes."""
    x = np.random.default_rng(seed).normal(1000.0, 30.0, (n_rooms, n))
    rooms = np.repeat([f"r{i:03d}" for i in range(n_rooms)], n)
    return pd.DataFrame({"room_id": rooms, "minute": np.tile(np.arange(n), n_rooms), "viewers_avg": x.ravel()})


# ---------------------------------------------------------------------------------------------- online


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_drop_is_alerted_within_a_few_minutes_and_not_before(seed: int) -> None:
    out = al.detect_drops(_frame(_drop(seed)))
    for method in al.DROP_METHODS:
        mine = out[out["method"] == method]
        assert len(mine) == 1, mine  # one drop, one alert (the restart stops repeats)
        row = mine.iloc[0]
        delay = (row["minute"] - (T0 + pd.Timedelta(minutes=300))) / pd.Timedelta(minutes=1)
        assert 0 <= delay <= 3
        assert row["onset_minute"] == T0 + pd.Timedelta(minutes=300)
        assert row["drop"] == pytest.approx(300.0, abs=100.0)  # often from one minute: sd ~30, +-3.3 sd
        assert row["drop_pct"] == pytest.approx(30.0, abs=10.0)
        assert row["baseline"] == pytest.approx(1000.0, abs=15.0)


def test_alert_rows_carry_context_and_documented_columns() -> None:
    x = _drop(0)
    out = al.detect_drops(_frame(x), context=2)
    expected = [c for c in al.ALERT_COLUMNS if c != "t-C .. t+C"] + ["t-2", "t-1", "t+0", "t+1", "t+2"]
    assert list(out.columns) == expected
    row = out.iloc[0]
    t = int((row["minute"] - T0) / pd.Timedelta(minutes=1))
    np.testing.assert_allclose(row[["t-2", "t-1", "t+0", "t+1", "t+2"]].to_numpy(float), x[t - 2 : t + 3])


def test_context_past_the_end_is_nan() -> None:
    x = np.r_[np.full(80, 100.0) + np.random.default_rng(0).normal(0, 3, 80), 20.0]
    out = al.detect_drops(_frame(x), context=3, methods=["cusum"])
    assert len(out) == 1 and out.iloc[0]["delay"] == 0
    assert out.iloc[0][["t+1", "t+2", "t+3"]].isna().all()
    assert out.iloc[0]["t+0"] == 20.0


@pytest.mark.parametrize("seed", [10, 11, 12, 13, 14, 15])
def test_flat_series_raise_no_alert_over_600_minutes(seed: int) -> None:
    x = np.random.default_rng(seed).normal(1000.0, 30.0, 600)
    assert al.detect_drops(_frame(x)).empty


def test_false_alarm_rate_on_flat_series_is_below_bound() -> None:
    # 200 rooms x 600 minutes = 1800 tested hours (60-minute warm-up each); measured 0.005 (CUSUM) and
    # 0.003 (EWMA) alarms per hour with these seeds' generator; the bound is 0.02 per hour.
    series = _flat_rooms(200, 600, seed=0)
    out = al.detect_drops(series, context=0)
    hours = 200 * (600 - al.DEFAULT_WINDOW) / 60.0
    for method in al.DROP_METHODS:
        assert (out["method"] == method).sum() / hours < 0.02


def test_online_decisions_use_only_the_past() -> None:
    # Two drops and a recovery: the alerts of the series cut at t are the alerts up to t of the full one.
    rng = np.random.default_rng(7)
    level = np.r_[np.full(200, 1000.0), np.full(150, 800.0), np.full(150, 500.0), np.full(100, 900.0)]
    x = level + rng.normal(0.0, 30.0, len(level))
    decision = ["room_id", "minute", "method", "onset_minute", "statistic", "threshold", "z", "drop"]
    full = al.detect_drops(_frame(x), context=0)[decision]
    assert len(full) >= 2
    for t in [199, 200, 201, 203, 260, 350, 352, 420, 599]:
        cut = al.detect_drops(_frame(x[: t + 1]), context=0)[decision]
        pd.testing.assert_frame_equal(cut, full[full["minute"] <= T0 + pd.Timedelta(minutes=t)].reset_index(drop=True))


def test_restart_pauses_for_a_window_then_sees_the_next_drop() -> None:
    rng = np.random.default_rng(3)
    level = np.r_[np.full(100, 1000.0), np.full(100, 600.0), np.full(100, 300.0)]
    out = al.detect_drops(_frame(level + rng.normal(0.0, 20.0, 300)), methods=["cusum"], window=40)
    minutes = ((out["minute"] - T0) / pd.Timedelta(minutes=1)).astype(int).tolist()
    assert len(minutes) == 2 and 100 <= minutes[0] <= 103 and 200 <= minutes[1] <= 203


def test_rooms_are_scanned_separately_and_integer_minutes_work() -> None:
    a = _frame(_drop(0), room="a")
    b = _frame(np.random.default_rng(1).normal(1000.0, 30.0, 600), room="b")
    both = pd.concat([b, a]).sample(frac=1.0, random_state=0)  # shuffled rows
    out = al.detect_drops(both)
    assert set(out["room_id"]) == {"a"}
    ints = a.assign(minute=np.arange(600))
    assert al.detect_drops(ints)["minute"].between(300, 303).all()


def test_noiseless_series_uses_the_scale_floor() -> None:
    x = np.r_[np.full(100, 50.0), np.full(50, 40.0)]
    out = al.detect_drops(_frame(x))
    assert len(out) == 2 and (out["delay"] == 0).all() and np.allclose(out["drop_pct"], 20.0)
    assert al.detect_drops(_frame(np.full(150, 50.0))).empty


def test_ewma_limit_is_the_exact_time_varying_one() -> None:
    # A drop right after the warm-up: the first-step limit is -L * lam (not the asymptotic one).
    x = np.r_[np.full(60, 100.0) + np.tile([-1.0, 1.0], 30), 0.0]
    out = al.detect_drops(_frame(x), methods=["ewma"], min_scale=1.0)
    assert len(out) == 1
    assert out.iloc[0]["threshold"] == pytest.approx(-al.DEFAULT_EWMA_L * al.DEFAULT_EWMA_LAMBDA)


@pytest.mark.parametrize(
    ("series", "kwargs", "message"),
    [
        (_frame(np.array([])), {}, "series table of detect_drops is empty"),
        (_frame(np.r_[np.ones(100), np.nan]), {}, "column 'viewers_avg' has 1 missing or non-numeric"),
        (_frame(np.ones(50)), {}, "'window' parameter of detect_drops must be smaller than every room's"),
        (_frame(np.ones(100)), {"window": 2}, "'window' parameter of detect_drops must be an int >= 3"),
        (_frame(np.ones(100)), {"methods": ["shewhart"]}, "'methods' parameter of detect_drops must be one of"),
        (_frame(np.ones(100)), {"lam": 1.5}, "'lam' parameter of detect_drops must be a number in (0, 1]"),
        (_frame(np.ones(100)), {"h": 0}, "'h' parameter of detect_drops must be a number > 0"),
        (_frame(np.ones(100)).drop(index=50), {}, "not on a complete one-minute grid"),
        (pd.concat([_frame(np.ones(100))] * 2), {}, "not on a complete one-minute grid"),
    ],
)
def test_bad_input_gives_one_line_errors(series: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        al.detect_drops(series, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_column_is_reported() -> None:
    with pytest.raises(ValueError, match="'viewers_avg' missing for detect_drops"):
        al.detect_drops(_frame(np.ones(100)).drop(columns="viewers_avg"))


# --------------------------------------------------------------------------------------------- offline


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", al.CHANGE_POINT_METHODS)
def test_change_point_found_exactly_at_300(seed: int, method: str) -> None:
    out = al.detect_change_points(_frame(_drop(seed)), method=method)
    assert out["index"].tolist() == [300]
    row = out.iloc[0]
    assert row["minute"] == T0 + pd.Timedelta(minutes=300)
    assert row["level_before"] == pytest.approx(1000.0, abs=5.0)
    assert row["level_after"] == pytest.approx(700.0, abs=5.0)
    assert row["change_pct"] == pytest.approx(-30.0, abs=1.0)
    assert row["sigma"] == pytest.approx(30.0, rel=0.15)
    assert row["penalty"] == pytest.approx(2.0 * row["sigma"] ** 2 * np.log(600))


def test_change_point_normal_model_and_columns() -> None:
    out = al.detect_change_points(_frame(_drop(0)), method="binseg", model="normal")
    assert list(out.columns) == list(al.BREAKPOINT_COLUMNS)
    assert out["index"].tolist() == [300] and out["penalty"].iloc[0] == pytest.approx(3.0 * np.log(600))


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_change_points_on_flat_series_are_none(seed: int) -> None:
    x = np.random.default_rng(seed).normal(1000.0, 30.0, 600)
    for method in al.CHANGE_POINT_METHODS:
        assert al.detect_change_points(_frame(x), method=method).empty


def test_change_point_bad_input() -> None:
    with pytest.raises(ValueError, match="'model' parameter of detect_change_points must be one of"):
        al.detect_change_points(_frame(_drop(0)), model="rbf")
    with pytest.raises(ValueError, match="'min_size' parameter of detect_change_points must be an int >= 2"):
        al.detect_change_points(_frame(_drop(0)), min_size=1)
    with pytest.raises(ValueError, match="missing or non-numeric"):
        al.detect_change_points(_frame(np.r_[np.nan, np.ones(20)]))


# --------------------------------------------------------------------------------------------- scoring


def _minutes(room_minutes: list[tuple[str, int]], method: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(room_minutes, columns=["room_id", "minute"])
    return frame if method is None else frame.assign(method=method)


def test_evaluate_alerts_on_hand_made_lists() -> None:
    incidents = _minutes([("a", 100), ("a", 200), ("b", 50)])
    alerts = _minutes([("a", 102), ("a", 104), ("a", 198), ("a", 300), ("b", 54), ("c", 10)])
    series = _minutes([(r, m) for r in ["a", "b", "c", "d"] for m in range(120)])
    out = al.evaluate_alerts(alerts, incidents, series).iloc[0]
    # Matches: a100 <- 102 (earliest in reach), a200 <- 198; b50 has 54 only, 4 minutes off.
    assert out["method"] == "all" and out["n_alerts"] == 6 and out["n_incidents"] == 3
    assert out["true_alerts"] == 2
    assert out["precision"] == pytest.approx(2 / 6)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["mean_delay"] == pytest.approx((2 - 2) / 2)
    assert out["clean_hours"] == pytest.approx(4.0) and out["clean_alerts"] == 1  # rooms c and d
    assert out["false_alarms_per_hour"] == pytest.approx(0.25)
    wider = al.evaluate_alerts(alerts, incidents, series, tolerance=4).iloc[0]
    assert wider["recall"] == pytest.approx(1.0) and wider["precision"] == pytest.approx(3 / 6)


def test_evaluate_alerts_is_one_to_one_and_per_method() -> None:
    incidents = _minutes([("a", 10), ("a", 12)])
    alerts = pd.concat([_minutes([("a", 11)], "cusum"), _minutes([("a", 11), ("a", 13)], "ewma")])
    out = al.evaluate_alerts(alerts, incidents).set_index("method")
    assert out.loc["cusum", "recall"] == pytest.approx(0.5) and out.loc["cusum", "precision"] == pytest.approx(1.0)
    assert out.loc["ewma", "recall"] == pytest.approx(1.0) and out.loc["ewma", "mean_delay"] == pytest.approx(1.0)
    assert np.isnan(out.loc["ewma", "false_alarms_per_hour"])  # no series given


def test_evaluate_alerts_with_detect_drops_output() -> None:
    series = pd.concat([_frame(_drop(0), room="a"), _frame(_drop(1), room="b"), _frame(_drop(2)[:300], room="c")])
    incidents = pd.DataFrame({"room_id": ["a", "b"], "minute": [T0 + pd.Timedelta(minutes=300)] * 2})
    out = al.evaluate_alerts(al.detect_drops(series), incidents, series)
    assert (out["recall"] == 1.0).all() and (out["precision"] == 1.0).all()
    assert (out["clean_hours"] == 5.0).all() and (out["false_alarms_per_hour"] == 0.0).all()


def test_evaluate_alerts_without_alerts() -> None:
    out = al.evaluate_alerts(_minutes([]), _minutes([("a", 5)])).iloc[0]
    assert out["n_alerts"] == 0 and out["recall"] == 0.0 and np.isnan(out["precision"])


def test_simulate_drop_study_small_run() -> None:
    out = al.simulate_drop_study(50.0, (0.5,), n_rooms=20, n_minutes=150, drop_at=90, random_state=1)
    assert out["method"].tolist() == ["cusum", "ewma"]
    assert (out["recall"] >= 0.9).all() and (out["median_delay"] <= 4).all()
    with pytest.raises(ValueError, match="'drop_at' parameter of simulate_drop_study must exceed the window"):
        al.simulate_drop_study(drop_at=30)
