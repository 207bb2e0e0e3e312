"""Per-minute activity, product slots, the streaming replay, showcase audiences and audience-drop alerts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils import live
from lsc_utils.simulate import audience

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")


def _events() -> pd.DataFrame:
    rows = [
        ("u1", "R1", 0, "enter_room", None, None, None),
        ("u1", "R1", 30, "view_item", "I1", None, None),
        ("u1", "R1", 61, "order", "I1", 19.99, 3.0),
        ("u1", "R1", 62, "pay", "I1", 19.99, 3.0),
        ("u2", "R1", 59, "enter_room", None, None, None),
        ("u2", "R1", 125, "like", None, None, None),
        ("u2", "R1", 130, "leave_room", None, None, None),
        ("u3", "R2", 10, "comment", None, None, None),
        ("u3", "R2", 200, "pay", "I2", 0.1, None),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "room_id", "s", "event_type", "item_id", "price", "quantity"])
    frame["ts"] = T0 + pd.to_timedelta(frame.pop("s"), unit="s")
    return frame


def test_minute_activity_hand_case() -> None:
    out = live.minute_activity(_events()).set_index(["room_id", "minute"])
    r1 = out.loc["R1"]
    assert r1.loc[T0, ["entries", "product_views", "orders"]].tolist() == [2, 1, 0]
    assert r1.loc[T0 + pd.Timedelta("1min"), ["orders", "gmv_cents"]].tolist() == [1, 5997]  # 3 x 19.99, pay only
    assert r1.loc[T0 + pd.Timedelta("2min"), ["leaves", "interactions"]].tolist() == [1, 1]
    assert out.loc[("R2", T0 + pd.Timedelta("3min")), "gmv_cents"] == 10  # a null quantity counts 1
    assert out.loc[("R2", T0), "comments"] == 1 and out.loc[("R2", T0), "interactions"] == 1


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_replay_equals_batch_for_any_batch_size(batch_rows: int) -> None:
    events = _events()
    replayed, batches = live.replay_minute_activity(events, batch_rows=batch_rows)
    pd.testing.assert_frame_equal(replayed, live.minute_activity(events))
    assert batches["events"].sum() == len(events)


def test_replay_equals_batch_on_the_sample(tmp_path: Path) -> None:
    from lsc_utils.simulate import simulate

    data = simulate(tmp_path / "d", n_users=200, n_days=3, seed=3, progress=False, dirty=False)
    events = pd.read_parquet(data / "events.parquet")
    events["ts"] = pd.to_datetime(events["ts"], utc=True, format="ISO8601")
    replayed, batches = live.replay_minute_activity(events, batch_rows=777)
    assert replayed.equals(live.minute_activity(events)) and len(batches) > 1


def test_product_slots_and_room_timeline() -> None:
    events = _events()
    slots = live.product_slots(events)
    i1 = slots.set_index(["room_id", "item_id"]).loc[("R1", "I1")]
    assert (i1["first_minute"], i1["last_minute"]) == (T0, T0 + pd.Timedelta("1min"))
    assert (i1["views"], i1["orders"], i1["gmv"]) == (1, 1, 59.97)
    rooms = pd.DataFrame({"room_id": ["R1"], "start_ts": [T0], "end_ts": [T0 + pd.Timedelta("5min")]})
    stays = live.build_stays(events, rooms)
    line = live.room_timeline(events, stays, rooms, "R1")
    assert len(line) == 5 and line["minute_of_stream"].tolist() == [0, 1, 2, 3, 4]
    assert line["entries"].tolist() == [2, 0, 0, 0, 0] and line["gmv"].tolist() == [0, 59.97, 0, 0, 0]


def test_guest_stays_follow_the_planted_level_and_drop() -> None:
    rng = np.random.default_rng(0)
    start, end = 0, 240 * 60_000
    enter, leave, logged = audience.room_guest_stays(start, end, 200.0, 120 * 60_000, 0.5, rng)
    assert logged.all() and (leave > enter).all() and (leave <= end).all() and (enter % 1000 == 0).all()

    def present(minute: int) -> int:
        t = minute * 60_000
        return int(((enter <= t) & (leave > t)).sum())

    before = np.mean([present(m) for m in range(90, 119)])
    after = np.mean([present(m) for m in range(125, 160)])
    assert before == pytest.approx(200, rel=0.15) and after / before == pytest.approx(0.5, abs=0.1)


def test_stays_carry_the_channel_of_their_first_entry() -> None:
    events = _events().assign(channel=["search", None, None, None, "follow", None, None, None, None])
    stays = live.build_stays(events).set_index("user_id")
    assert stays.loc["u1", "channel"] == "search" and stays.loc["u2", "channel"] == "follow"
    assert "channel" in live.STAY_COLUMNS_OUT and live.build_stays(_events())["channel"].isna().all()


def test_showcase_rooms_leave_the_default_tables_unchanged(tmp_path: Path) -> None:
    from lsc_utils.simulate import simulate

    plain = simulate(tmp_path / "a", n_users=120, n_days=7, seed=5, progress=False)
    show = simulate(tmp_path / "b", n_users=120, n_days=7, seed=5, progress=False, showcase_rooms=4)
    a, b = pd.read_parquet(plain / "events.parquet"), pd.read_parquet(show / "events.parquet")
    pd.testing.assert_frame_equal(b.iloc[: len(a)].reset_index(drop=True), a)
    guests = b.iloc[len(a) :]
    assert guests["user_id"].str.startswith("G").all() and set(guests["event_type"]) == {"enter_room", "leave_room"}
    truth = pd.read_parquet(show / "truth" / "live_rooms.parquet")
    assert len(truth) == 4 and truth["has_incident"].sum() == 2
    assert not (plain / "truth" / "live_rooms.parquet").exists()
    with pytest.raises(ValueError, match="showcase_rooms"):
        simulate(tmp_path / "c", n_users=120, n_days=1, seed=5, progress=False, showcase_rooms=500)


def test_audience_drop_alerts_find_a_planted_drop_and_stay_quiet_without() -> None:
    rng = np.random.default_rng(1)
    minutes = pd.date_range(T0, periods=240, freq="min")
    frames = []
    for room, incident in (("drop", 150 * 60_000), ("flat", -1)):
        enter, leave, _ = audience.room_guest_stays(0, 240 * 60_000, 150.0, incident, 0.5, rng)
        t = (np.arange(240) * 60_000)[:, None]
        viewers = ((enter[None, :] <= t) & (leave[None, :] > t)).sum(axis=1)
        frames.append(pd.DataFrame({"room_id": room, "minute": minutes, "viewers_avg": viewers.astype(float)}))
    series = pd.concat(frames, ignore_index=True)
    alerts = live.detect_audience_drops(series)
    assert set(alerts["room_id"]) == {"drop"}
    assert (alerts["minute"] - minutes[150]).abs().max() <= pd.Timedelta("3min")
    assert alerts["baseline"].between(120, 180).all() and alerts["drop_pct"].between(35, 65).all()  # planted: 150, 50 %
    assert (alerts["drop"] == alerts["baseline"] - alerts["level_after"]).all()
    changes = live.minute_changes(series)
    assert len(changes) == len(series) - 2 and changes["change"].notna().all()


def test_room_kpis_reuse_prebuilt_stays() -> None:
    events = _events()
    stays = live.build_stays(events)
    pd.testing.assert_frame_equal(live.room_kpis(events, stays=stays), live.room_kpis(events))
