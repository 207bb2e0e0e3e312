"""Tests of the seeded LSC simulator: determinism, schema validity, planted truth and its recovery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from lsc_utils import simulate as simulate_module
from lsc_utils.constants import CHANNELS, EVENT_TYPES
from lsc_utils.fairness import price_gap
from lsc_utils.io import load_dataset, read_meta, sha256_file
from lsc_utils.schema import validate_table
from lsc_utils.simulate import (
    BOT_EVENTS_PER_SECOND,
    BOT_MIN_EVENTS,
    CATEGORIES,
    COMMENT_EMOJI,
    COMMENT_TEMPLATES,
    DEFAULT_DIRTY_RATES,
    DIRTY_KINDS,
    DISCRIMINATION_CATEGORIES,
    DISCRIMINATION_SURCHARGE,
    EMOJI_SHARE,
    ITEM_EVENT_TYPES,
    MARKOV_STATES,
    MAX_DAYS,
    MIN_SESSION_GAP_MINUTES,
    SEGMENT_PROFILES,
    SEGMENTS,
    SESSION_EVENT_TYPES,
    GroupedSampler,
    build_transition_matrices,
    check_days,
    check_params,
    check_size,
    estimate_size,
    expected_session_lengths,
    limits,
    simulate,
    transition_table,
    users_for_events,
    walk_markov_chains,
)
from lsc_utils.simulate.customer_base import MAX_DISCOUNT

SMALL = {"n_users": 300, "n_days": 7, "seed": 3, "progress": False}
MEDIUM = {"n_users": 1500, "n_days": 42, "seed": 11, "progress": False}
SCHEMA_VISIBLE = {
    "null_id": {("user_id", "null_id")},
    "unparseable_ts": {("ts", "unparseable_timestamp"), ("ts", "null_value")},
    "negative_price": {("price", "below_minimum")},
    "unknown_event_type": {("event_type", "out_of_vocabulary")},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("small") / "sim", **SMALL)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("medium") / "sim", **MEDIUM)


@pytest.fixture(scope="module")
def medium_fair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("fair") / "sim", **{**MEDIUM, "discrimination": False, "dirty": False})


def read(path: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(path / name)


def dirty_rows(path: Path) -> pd.DataFrame:
    return read(path, "truth/dirty_rows.parquet")


_CLEAN_CACHE: dict[Path, pd.DataFrame] = {}


def clean_events(path: Path) -> pd.DataFrame:
    """Clean event rows with parsed ``ts``, true session and segment (bots have none); cached per folder."""
    if path not in _CLEAN_CACHE:
        _CLEAN_CACHE[path] = _read_clean_events(path)
    return _CLEAN_CACHE[path].copy()


def _read_clean_events(path: Path) -> pd.DataFrame:
    events = read(path, "events.parquet")
    sessions = read(path, "truth/sessions.parquet")
    clean = events.iloc[sessions["event_row"].to_numpy()].copy()
    clean["event_row"] = sessions["event_row"].to_numpy()
    clean["session"] = sessions["session"].to_numpy()
    clean["ts"] = pd.to_datetime(clean["ts"], utc=True, format="%Y-%m-%dT%H:%M:%S.%fZ")
    segments = read(path, "truth/segments.parquet")
    return clean.merge(segments, on="user_id", how="left")


def all_files(path: Path) -> list[Path]:
    return sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------------------------
# Determinism and layout
# ----------------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(small: Path, tmp_path: Path) -> None:
    again = simulate(tmp_path / "again", **SMALL)
    files = all_files(small)
    assert files == all_files(again)
    assert len(files) >= 16
    for f in files:
        assert sha256_file(small / f) == sha256_file(again / f), f


def test_different_seed_gives_different_data(small: Path, tmp_path: Path) -> None:
    other = simulate(tmp_path / "other", **{**SMALL, "seed": 4})
    assert sha256_file(small / "events.parquet") != sha256_file(other / "events.parquet")
    a, b = read(small, "events.parquet"), read(other, "events.parquet")
    assert not a.head(1000).equals(b.head(1000))


def test_chunk_size_changes_row_groups_not_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate_module.writer, "USERS_PER_BLOCK", 100)
    one = simulate(tmp_path / "one", **SMALL)
    chunked = simulate(tmp_path / "chunked", **SMALL, chunk_events=1000)
    assert pq.ParquetFile(one / "events.parquet").num_row_groups == 1
    assert pq.ParquetFile(chunked / "events.parquet").num_row_groups == 3
    for name in ("events.parquet", "comments.parquet", "truth/sessions.parquet", "truth/dirty_rows.parquet"):
        pd.testing.assert_frame_equal(read(one, name), read(chunked, name))
    sessions = read(one, "truth/sessions.parquet")["session"]
    assert sessions.is_monotonic_increasing and sessions.iloc[0] == "S00000001"


def test_dataset_yaml_describes_the_simulation(small: Path) -> None:
    meta = read_meta(small)
    assert meta["source"] == "simulated" and meta["simulated"] is True
    assert meta["timezone"] == "UTC" and meta["seed"] == 3
    assert meta["tables"] == ["users", "items", "rooms", "events", "comments"]
    assert set(meta["event_types"]) == set(SESSION_EVENT_TYPES) and set(meta["event_types"]) <= set(EVENT_TYPES)
    assert meta["period"] == {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}
    assert meta["params"]["n_users"] == 300 and meta["params"]["discrimination"] is True
    assert meta["rows"]["events"] == len(read(small, "events.parquet"))
    assert {"name", "licence"} <= set(meta)


def test_invalid_parameters_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'n_users' parameter of simulate must be an int >= 50. Got 0 instead"):
        simulate(tmp_path, n_users=0)
    with pytest.raises(ValueError, match="'start' parameter"):
        simulate(tmp_path, start="not a date")
    with pytest.raises(ValueError, match="unknown kinds"):
        simulate(tmp_path, dirty_rates={"typo": 0.01})
    with pytest.raises(ValueError, match="'dirty' parameter of simulate must be a bool"):
        simulate(tmp_path, dirty="yes")  # type: ignore[arg-type]


def test_users_for_events_hits_the_target(medium: Path) -> None:
    n = users_for_events(150_000, MEDIUM["n_days"])
    assert 1000 < n < 3000
    expected = 150_000 * MEDIUM["n_users"] / n
    assert len(read(medium, "events.parquet")) == pytest.approx(expected, rel=0.12)


# ----------------------------------------------------------------------------------------------
# Schema validity and dirty rows
# ----------------------------------------------------------------------------------------------


def test_tables_validate_and_row_problems_are_exactly_the_planted_ones(small: Path) -> None:
    ds = load_dataset(small, tables=("users", "items", "rooms", "comments"), strict=True)
    assert {"name", "phone", "email"} <= set(ds["users"].columns)
    events = read(small, "events.parquet")
    assert str(events["ts"].dtype) == "str"
    _, problems = validate_table(events, "events", "events.parquet", strict=False)
    dirty = dirty_rows(small)
    for kind, seen_as in SCHEMA_VISIBLE.items():
        planted = set(dirty.loc[dirty["kind"] == kind, "row"])
        reported = set()
        for p in problems:
            if (p.column, p.problem) in seen_as:
                reported |= set(np.flatnonzero(p.mask))
        assert planted and reported == planted, kind
    visible = set(dirty.loc[dirty["kind"].isin(list(SCHEMA_VISIBLE)), "row"])
    union = set(np.flatnonzero(np.logical_or.reduce([p.mask for p in problems])))
    assert union == visible


def test_dirty_rows_truth_points_at_really_dirty_rows(small: Path) -> None:
    events = read(small, "events.parquet")
    dirty = dirty_rows(small)
    meta = read_meta(small)
    start, end = pd.Timestamp(meta["period"]["start"]), pd.Timestamp(meta["period"]["end"])
    assert set(dirty["kind"]) == set(DIRTY_KINDS)
    assert dirty["row"].is_unique and dirty["row"].is_monotonic_increasing
    assert (dirty["table"] == "events").all()
    by_kind = {k: g["row"].to_numpy() for k, g in dirty.groupby("kind")}
    n = len(events)
    for kind, rows in by_kind.items():
        share = rows.size / n
        assert share <= 0.006 or kind == "bot_user", (kind, share)
    # the bot budget is a share of the rows, but every bot has at least BOT_MIN_EVENTS (one minute of activity)
    bots = read(small, "truth/bots.parquet")
    assert (bots["n_events"] >= BOT_MIN_EVENTS).all()
    assert by_kind["bot_user"].size == bots["n_events"].sum() <= max(0.006 * n, BOT_MIN_EVENTS * len(bots))

    ts = pd.to_datetime(events["ts"], utc=True, errors="coerce", format="mixed")
    assert set(np.flatnonzero(events.duplicated(keep="first").to_numpy())) == set(by_kind["duplicate"])
    assert events.loc[by_kind["null_id"], "user_id"].isna().all()
    assert ts.iloc[by_kind["unparseable_ts"]].isna().all()
    out = ts.iloc[by_kind["ts_out_of_range"]]
    assert ((out < start) | (out >= end)).all()
    assert (ts.dt.year.iloc[by_kind["ts_out_of_range"]] == 1970).any()
    assert (ts.dt.year.iloc[by_kind["ts_out_of_range"]] > 2028).any()
    neg = events.loc[by_kind["negative_price"]]
    assert (neg["price"] < 0).all() and neg["event_type"].isin(["order", "pay"]).all()
    assert not events.loc[by_kind["unknown_event_type"], "event_type"].isin(EVENT_TYPES).any()

    bot_rows = events["user_id"].isin(bots["user_id"])
    assert set(np.flatnonzero(bot_rows.to_numpy())) == set(by_kind["bot_user"])
    bot_events = events[bot_rows].assign(ts=ts[bot_rows])
    rate = bot_events.groupby("user_id")["ts"].agg(lambda t: len(t) / max((t.max() - t.min()).total_seconds(), 1))
    per_second = bot_events.groupby([bot_events["user_id"], bot_events["ts"].dt.floor("s")]).size()
    assert per_second.median() >= 4 and rate.min() > 0.001

    clean = events.drop(index=dirty["row"].to_numpy())
    clean_ts = ts.drop(index=dirty["row"].to_numpy())
    assert clean["user_id"].notna().all() and clean_ts.notna().all()
    assert ((clean_ts >= start) & (clean_ts < end)).all()
    assert clean["event_type"].isin(SESSION_EVENT_TYPES).all()
    assert not clean.duplicated().any()
    assert clean["ts"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").all()


def test_dirty_false_writes_no_dirty_rows(medium_fair: Path) -> None:
    assert len(dirty_rows(medium_fair)) == 0
    events = read(medium_fair, "events.parquet")
    assert len(read(medium_fair, "truth/sessions.parquet")) == len(events)
    assert len(read(medium_fair, "truth/bots.parquet")) == 0
    assert len(read(medium_fair, "truth/segments.parquet")) == MEDIUM["n_users"]


# ----------------------------------------------------------------------------------------------
# Sessions, events and the Markov chains
# ----------------------------------------------------------------------------------------------


def test_thirty_minute_sessionization_recovers_true_sessions(small: Path) -> None:
    clean = clean_events(small).sort_values(["user_id", "ts"])
    gap = clean["ts"].diff()
    new_user = clean["user_id"].ne(clean["user_id"].shift())
    starts = new_user | (gap > pd.Timedelta(minutes=30))
    inferred = starts.cumsum()
    pairs = pd.DataFrame({"inferred": inferred.to_numpy(), "true": clean["session"].to_numpy()}).drop_duplicates()
    assert pairs["inferred"].is_unique and pairs["true"].is_unique
    within = gap[~starts]
    assert within.max() <= pd.Timedelta(minutes=10) and within.min() >= pd.Timedelta(seconds=1)
    assert gap[starts & ~new_user].min() >= pd.Timedelta(minutes=MIN_SESSION_GAP_MINUTES)
    mean_gap = within.mean().total_seconds()
    assert 15 <= mean_gap <= 60


def test_session_events_are_room_scoped_and_consistent(small: Path) -> None:
    clean = clean_events(small)
    human = clean[clean["segment"].notna()].sort_values(["session", "ts"])
    per_session = human.groupby("session").agg(
        rooms=("room_id", "nunique"), channels=("channel", "nunique"), users=("user_id", "nunique")
    )
    assert (per_session == 1).all().all()
    assert human["channel"].isin(CHANNELS).all()
    rooms = read(small, "rooms.parquet")
    joined = human.merge(rooms[["room_id", "start_ts", "end_ts"]], on="room_id")
    live = (joined["ts"] >= joined["start_ts"]) & (joined["ts"] <= joined["end_ts"])
    assert live.mean() > 0.98
    is_item = human["event_type"].isin(ITEM_EVENT_TYPES)
    assert human.loc[is_item, "item_id"].notna().all() and human.loc[~is_item, "item_id"].isna().all()
    priced = human["event_type"].isin(["order", "pay"])
    assert human.loc[priced, ["order_id", "price", "quantity"]].notna().all().all()
    assert human.loc[~priced, ["order_id", "price", "quantity"]].isna().all().all()
    assert (human.loc[priced, "price"] > 0).all()
    pays = human["event_type"].eq("pay").to_numpy()
    before = np.flatnonzero(pays) - 1
    prev = human.iloc[before]
    now = human.iloc[np.flatnonzero(pays)]
    assert (prev["event_type"].to_numpy() == "order").all()
    for column in ("order_id", "item_id", "price", "quantity", "session"):
        assert (prev[column].to_numpy() == now[column].to_numpy()).all(), column
    assert now["payment_method"].notna().all() and human.loc[~pays, "payment_method"].isna().all()
    orders = human[human["event_type"] == "order"]
    assert orders["order_id"].is_unique


def test_planted_transition_matrices_are_stochastic() -> None:
    matrices = build_transition_matrices()
    table = transition_table(matrices)
    sums = table.groupby(["segment", "from_state"])["probability"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)
    assert len(sums) == len(SEGMENTS) * (len(MARKOV_STATES) - 1)
    into_pay = table[(table["to_state"] == "pay") & (table["probability"] > 0)]
    assert set(into_pay["from_state"]) == {"order"}
    assert table.loc[(table["from_state"] == "START") & (table["to_state"] == "END"), "probability"].eq(0).all()
    assert (table["probability"] >= 0).all()
    lengths = expected_session_lengths(matrices)
    assert ((lengths > 4) & (lengths < 15)).all()


def test_walk_markov_chains_follows_the_matrix() -> None:
    matrices = build_transition_matrices()
    cumulative = np.cumsum(matrices, axis=2)
    cumulative[:, :-1, -1] = 1.0
    segments = np.full(20_000, SEGMENTS.index("window_shopper"))
    states, lengths = walk_markov_chains(cumulative, segments, np.random.default_rng(0))
    assert lengths.min() >= 1 and states.size == lengths.sum()
    assert lengths.mean() == pytest.approx(
        expected_session_lengths(matrices)[SEGMENTS.index("window_shopper")], rel=0.03
    )
    first = states[np.concatenate(([0], np.cumsum(lengths)[:-1]))]
    p_enter = matrices[SEGMENTS.index("window_shopper"), 0, MARKOV_STATES.index("enter_room")]
    assert np.mean(first == MARKOV_STATES.index("enter_room")) == pytest.approx(p_enter, abs=0.015)


def test_empirical_transitions_match_planted_matrix(medium: Path) -> None:
    clean = clean_events(medium)
    human = clean[clean["segment"].notna()].sort_values(["session", "ts"])
    session = human["session"].to_numpy()
    state = human["event_type"].to_numpy(dtype=object)
    first = np.r_[True, session[1:] != session[:-1]]
    last = np.r_[session[1:] != session[:-1], True]
    prev = np.where(first, "START", np.concatenate([np.array([""], dtype=object), state[:-1]]))
    steps = pd.DataFrame({"segment": human["segment"].to_numpy(), "from_state": prev, "to_state": state})
    ends = pd.DataFrame({"segment": human["segment"].to_numpy()[last], "from_state": state[last], "to_state": "END"})
    counts = pd.concat([steps, ends]).groupby(["segment", "from_state", "to_state"]).size().rename("n").reset_index()
    totals = counts.groupby(["segment", "from_state"])["n"].transform("sum")
    counts["empirical"] = counts["n"] / totals
    planted = transition_table()
    merged = planted.merge(counts, on=["segment", "from_state", "to_state"], how="left").fillna(
        {"empirical": 0.0, "n": 0}
    )
    merged["row_total"] = merged.groupby(["segment", "from_state"])["n"].transform("sum")
    populated = merged[merged["row_total"] >= 3000]
    assert populated[["segment", "from_state"]].drop_duplicates().shape[0] >= 15
    diff = (populated["empirical"] - populated["probability"]).abs()
    assert diff.max() < 0.02
    observed = merged[merged["row_total"] > 0]
    sigma = np.sqrt(observed["probability"] * (1 - observed["probability"]) / observed["row_total"])
    assert ((observed["empirical"] - observed["probability"]).abs() <= 5 * sigma + 1 / observed["row_total"]).all()
    assert merged.loc[merged["probability"] == 0, "n"].eq(0).all()


def test_segments_are_recoverable_by_clustering_behaviour(medium: Path) -> None:
    clean = clean_events(medium)
    human = clean[clean["segment"].notna()]
    rooms = read(medium, "rooms.parquet")[["room_id", "anchor_id"]]
    items = read(medium, "items.parquet")[["item_id", "list_price"]]
    human = human.merge(rooms, on="room_id").merge(items, on="item_id", how="left")
    by_user = human.groupby("user_id")
    pay = human[human["event_type"] == "pay"]
    amount = pay["price"] * pay["quantity"]
    angle = 2 * np.pi * (human["ts"].dt.hour + human["ts"].dt.minute / 60) / 24
    features = pd.DataFrame({"sessions": np.log1p(by_user["session"].nunique()), "events": by_user.size()})
    features["orders"] = pay.groupby("user_id").size()
    features["aov"] = np.log1p(amount.groupby(pay["user_id"]).mean())
    features["monetary"] = np.log1p(amount.groupby(pay["user_id"]).sum())
    features["discount"] = (1 - pay["price"] / pay["list_price"]).groupby(pay["user_id"]).mean()
    features = features.fillna(0.0)
    features["purchase_rate"] = features["orders"] / np.expm1(features["sessions"])
    features["favourite_anchor_share"] = (
        human.groupby(["user_id", "anchor_id"]).size().groupby("user_id").max() / features["events"]
    )
    features["hour_sin"] = np.sin(angle).groupby(human["user_id"]).mean()
    features["hour_cos"] = np.cos(angle).groupby(human["user_id"]).mean()
    features["events_per_session"] = features["events"] / np.expm1(features["sessions"])
    truth = human.groupby("user_id")["segment"].first().loc[features.index]
    x = StandardScaler().fit_transform(features.drop(columns=["events"]))
    labels = KMeans(n_clusters=len(SEGMENTS), n_init=5, random_state=0).fit_predict(x)
    assert adjusted_rand_score(truth, labels) >= 0.6


def test_room_schedule_has_evening_peak_and_weekend_lift(medium: Path) -> None:
    rooms = read(medium, "rooms.parquet")
    assert (rooms["end_ts"] > rooms["start_ts"]).all() and rooms["room_id"].is_unique
    assert rooms["title"].str.len().gt(3).all()
    hours = pd.date_range("2026-03-02", periods=28 * 24, freq="h", tz="UTC")
    live = (
        (rooms["start_ts"].to_numpy()[None, :] <= hours.to_numpy()[:, None])
        & (rooms["end_ts"].to_numpy()[None, :] > hours.to_numpy()[:, None])
    ).sum(axis=1)
    by_hour = pd.Series(live, index=hours).groupby(hours.hour).mean()
    assert by_hour.idxmax() in range(19, 24) and by_hour[20] > 2 * by_hour[10]
    per_day = rooms.groupby(rooms["start_ts"].dt.day_of_week).size()
    assert per_day[[5, 6]].mean() > per_day[[0, 1]].mean()
    events = clean_events(medium)
    by_event_hour = events["ts"].dt.hour.value_counts(normalize=True)
    assert by_event_hour.loc[19:23].sum() > 0.3


# ----------------------------------------------------------------------------------------------
# Users, items, pricing
# ----------------------------------------------------------------------------------------------


def test_users_have_demographics_consent_and_segments(medium: Path) -> None:
    users = read(medium, "users.parquet")
    assert users["user_id"].str.fullmatch(r"U\d{6}").all() and users["user_id"].is_unique
    assert set(users["gender"]) == {"F", "M", "unknown"}
    assert users["age"].isna().mean() == pytest.approx(0.08, abs=0.03) and str(users["age"].dtype) == "Int64"
    assert set(users["city_tier"].dropna()) <= {1, 2, 3, 4, 5}
    assert set(users["device"]) == {"ios", "android", "web"}
    # planted opt-out rates 11 % and 13 %; tolerance 4 binomial standard errors (a seed-independent bound)
    for column, planted in (("consent_personalization", 0.11), ("consent_marketing", 0.13)):
        se = np.sqrt(planted * (1 - planted) / len(users))
        assert abs(1 - users[column].mean() - planted) <= 4 * se
    assert (users["signup_ts"] < pd.Timestamp("2026-03-02", tz="UTC")).all()
    segments = read(medium, "truth/segments.parquet")
    bots = read(medium, "truth/bots.parquet")
    assert set(segments["user_id"]) | set(bots["user_id"]) == set(users["user_id"])
    assert not set(segments["user_id"]) & set(bots["user_id"])
    shares = segments["segment"].value_counts(normalize=True)
    for segment in SEGMENTS:
        assert shares[segment] == pytest.approx(SEGMENT_PROFILES[segment].share, abs=0.04)


def test_items_have_zipf_popularity_and_category_prices(medium: Path) -> None:
    items = read(medium, "items.parquet")
    assert items["item_id"].is_unique and (items["list_price"] > 0).all()
    parts = items["tags"].str.split("|")
    assert parts.str.len().between(1, 3).all() and parts.map(lambda t: len(set(t)) == len(t)).all()
    medians = items.groupby("category")["list_price"].median()
    assert medians["electronics"] > 3 * medians["food"]
    views = clean_events(medium).query("event_type == 'view_item'")["item_id"].value_counts()
    top = views.head(max(1, len(items) // 10)).sum() / views.sum()
    assert top > 0.4


def test_price_discrimination_is_planted_only_when_asked(medium: Path, medium_fair: Path) -> None:
    pricing = yaml.safe_load((medium / "truth/pricing.yaml").read_text(encoding="utf-8"))
    rule = pricing["rules"][0]
    assert rule["group_column"] == "device" and rule["group_value"] == "ios"
    assert rule["surcharge"] == DISCRIMINATION_SURCHARGE and set(rule["categories"]) == set(DISCRIMINATION_CATEGORIES)
    assert set(pricing["baseline_discounts"]) == set(SEGMENTS)
    assert yaml.safe_load((medium_fair / "truth/pricing.yaml").read_text(encoding="utf-8"))["rules"] == []

    def price_ratio(path: Path) -> pd.DataFrame:
        orders = clean_events(path).query("event_type == 'order'")
        orders = orders.merge(read(path, "users.parquet")[["user_id", "device"]], on="user_id")
        orders = orders.merge(read(path, "items.parquet")[["item_id", "category", "list_price"]], on="item_id")
        orders["ratio"] = orders["price"] / orders["list_price"]
        orders["surcharged"] = orders["category"].isin(DISCRIMINATION_CATEGORIES)
        orders["ios"] = orders["device"] == "ios"
        return orders

    def same_item_gap(orders: pd.DataFrame) -> tuple[float, float]:
        """95 % interval of the iOS surcharge on the same item (item fixed effects, errors clustered by user)."""
        gap = price_gap(orders.assign(g=orders["ios"].astype(int)), "g", effects=("item_id",), cluster="user_id")
        return gap["surcharge_low"], gap["surcharge_high"]

    on, off = price_ratio(medium), price_ratio(medium_fair)
    for orders, expected in ((on, DISCRIMINATION_SURCHARGE), (off, 0.0)):
        low, high = same_item_gap(orders[orders["surcharged"]])
        assert low <= expected <= high and high - low < 0.06, (low, high)
        low, high = same_item_gap(orders[~orders["surcharged"]])
        assert low <= 0.0 <= high and high - low < 0.06, (low, high)
    # the group buys cheaper items: its naive mean log price is lower although it pays more per item
    assert np.log(on.loc[on["ios"], "price"]).mean() < np.log(on.loc[~on["ios"], "price"]).mean()
    # unpaid orders: one of the segment discount levels; paid orders: the discount that makes the
    # session cost its planted Gamma-Gamma spend, within [0, MAX_DISCOUNT]
    levels = {round(1 - d, 4) for s in SEGMENTS for d in (0.0, *SEGMENT_PROFILES[s].discount_levels)}
    factor = np.where(on["surcharged"] & on["ios"], 1 + DISCRIMINATION_SURCHARGE, 1.0)
    implied = (on["price"] / (on["list_price"] * factor)).round(2)
    paid_ids = set(clean_events(medium).query("event_type == 'pay'")["order_id"])
    unpaid = ~on["order_id"].isin(paid_ids)
    assert unpaid.sum() > 50 and set(implied[unpaid]) <= {round(v, 2) for v in levels}
    assert implied[~unpaid].between(1 - MAX_DISCOUNT - 0.01, 1.01).all()
    bargain = on[on["segment"] == "bargain_hunter"]["ratio"].mean()
    assert bargain < on[on["segment"] == "big_spender"]["ratio"].mean() - 0.1


# ----------------------------------------------------------------------------------------------
# Comments, PII and canaries
# ----------------------------------------------------------------------------------------------


def test_comments_come_from_comment_events(small: Path) -> None:
    comments = read(small, "comments.parquet")
    clean = clean_events(small)
    comment_events = clean[clean["event_type"] == "comment"].sort_values("event_row")
    assert len(comments) == len(comment_events) > 100
    assert comments["comment_id"].is_unique
    np.testing.assert_array_equal(comments["user_id"].to_numpy(), comment_events["user_id"].to_numpy())
    np.testing.assert_array_equal(comments["room_id"].to_numpy(), comment_events["room_id"].to_numpy())
    assert (comments["ts"].to_numpy() == comment_events["ts"].to_numpy()).all()
    assert comments["text"].str.len().gt(0).all()


def test_comment_labels_are_balanced_truthful_and_bilingual(medium: Path) -> None:
    comments = read(medium, "comments.parquet")
    labels = read(medium, "truth/comment_labels.parquet")
    assert (labels["comment_id"].to_numpy() == comments["comment_id"].to_numpy()).all()
    assert (labels["lang"].to_numpy() == comments["lang"].to_numpy()).all()
    shares = labels["label"].value_counts(normalize=True)
    assert set(shares.index) == {"positive", "neutral", "negative"} and shares.between(0.15, 0.6).all()
    langs = comments["lang"].value_counts(normalize=True)
    assert set(langs.index) == {"en", "zh"} and langs.min() > 0.15
    pii_ids = set(read(medium, "truth/comment_pii.parquet")["comment_id"])
    rooms = read(medium, "rooms.parquet")[["room_id", "category"]]
    frame = comments.merge(labels[["comment_id", "label"]], on="comment_id").merge(rooms, on="room_id")
    frame = frame[~frame["comment_id"].isin(pii_ids)]
    words = {(lang, c.name): (c.item_zh if lang == "zh" else c.item_en) for c in CATEGORIES for lang in ("en", "zh")}
    for (lang, label, category), group in frame.groupby(["lang", "label", "category"]):
        candidates = tuple(t.replace("{item}", words[(lang, category)]) for t in COMMENT_TEMPLATES[(lang, label)])
        assert group["text"].map(lambda text, c=candidates: text.startswith(c)).all(), (lang, label)
    emoji = "|".join(e for pool in COMMENT_EMOJI.values() for e in pool)
    assert frame["text"].str.contains(emoji, regex=True).mean() == pytest.approx(EMOJI_SHARE, abs=0.03)
    negation = frame[frame["text"].str.startswith(("not worth it", "不好看"))]
    assert len(negation) > 0 and (negation["label"] == "negative").all()


def test_pii_is_planted_in_a_few_comments_and_listed_as_canaries(medium: Path) -> None:
    comments = read(medium, "comments.parquet").set_index("comment_id")
    pii = read(medium, "truth/comment_pii.parquet")
    share = len(pii) / len(comments)
    assert 0.008 <= share <= 0.025
    assert set(pii["kind"]) == {"phone", "email", "wechat", "qq"}
    texts = comments.loc[pii["comment_id"], "text"].to_numpy()
    assert all(v in t for v, t in zip(pii["value"], texts, strict=True))
    wechat = pii[pii["kind"] == "wechat"]
    assert comments.loc[wechat["comment_id"], "text"].str.contains("vx: ").all()
    canaries = set(json.loads((medium / "truth/canaries.json").read_text(encoding="utf-8")))
    assert set(pii["value"]) <= canaries


def test_user_pii_carries_unique_canaries(small: Path) -> None:
    users = read(small, "users.parquet")
    canaries = json.loads((small / "truth/canaries.json").read_text(encoding="utf-8"))
    assert isinstance(canaries, list) and all(isinstance(c, str) and c for c in canaries)
    listed = set(canaries)
    for column in ("name", "phone", "email"):
        assert users[column].is_unique and users[column].isin(listed).all()
    tokens = users["name"].str.extract(r"(cnry[0-9a-f]{8})")[0]
    assert tokens.notna().all() and tokens.is_unique
    assert (users["email"].str.split("@").str[0].str.contains(r"cnry[0-9a-f]{8}")).all()
    assert all(t in e for t, e in zip(tokens, users["email"], strict=True))
    assert users["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    released = pd.concat([read(small, "events.parquet").astype("str"), read(small, "rooms.parquet").astype("str")])
    blob = released.to_csv(index=False)
    assert not any(t in blob for t in tokens)


# ----------------------------------------------------------------------------------------------
# Vectorized helpers
# ----------------------------------------------------------------------------------------------


def test_grouped_sampler_respects_groups_and_weights() -> None:
    groups = np.array([0, 0, 2, 2, 2])
    members = np.array([10, 11, 20, 21, 22])
    weights = np.array([1.0, 3.0, 1.0, 0.0, 1.0])
    sampler = GroupedSampler.build(groups, members, weights, 3)
    rng = np.random.default_rng(0)
    draws = sampler.sample(np.array([0] * 40_000 + [1] * 10 + [2] * 40_000 + [-1] * 5), rng)
    first, empty, third, negative = draws[:40_000], draws[40_000:40_010], draws[40_010:80_010], draws[80_010:]
    assert set(first) == {10, 11} and np.mean(first == 11) == pytest.approx(0.75, abs=0.01)
    assert (empty == -1).all() and (negative == -1).all()
    assert set(third) == {20, 22} and np.mean(third == 20) == pytest.approx(0.5, abs=0.01)


# ----------------------------------------------------------------------------------------------
# Bots at every size
# ----------------------------------------------------------------------------------------------


def _busiest_minute(ts: pd.Series) -> int:
    """Most events of one user in any 60-second window (second resolution, as cleaning counts)."""
    seconds = np.sort(((ts.dropna() - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy())
    return int((np.arange(seconds.size) - np.searchsorted(seconds, seconds - 59) + 1).max())


@pytest.mark.parametrize(("n_users", "n_days"), [(50, 1), (300, 7)], ids=["smallest", "300x7"])
def test_every_bot_fills_a_whole_minute_even_in_small_simulations(tmp_path: Path, n_users: int, n_days: int) -> None:
    data = simulate(tmp_path / "sim", n_users=n_users, n_days=n_days, seed=1, progress=False)
    bots = read(data, "truth/bots.parquet")
    events = read(data, "events.parquet")
    mine = events[events["user_id"].isin(bots["user_id"])]
    # the row budget (0.4 % of the rows) would give this one bot 8 (50 x 1) or 76 (300 x 7) events
    assert len(bots) == 1 and len(mine) == bots["n_events"].sum() == BOT_MIN_EVENTS
    ts = pd.to_datetime(mine["ts"], utc=True, format="ISO8601")
    assert (ts.max() - ts.min()).total_seconds() <= 1.2 * BOT_MIN_EVENTS / BOT_EVENTS_PER_SECOND[0]
    assert _busiest_minute(ts) >= 0.9 * BOT_MIN_EVENTS
    humans = events[~events["user_id"].isin(bots["user_id"]) & events["user_id"].notna()]
    human_ts = pd.to_datetime(humans["ts"], utc=True, errors="coerce", format="ISO8601")
    assert human_ts.groupby(humans["user_id"]).agg(_busiest_minute).max() < 30


# ----------------------------------------------------------------------------------------------
# Size limits and the output folder: refused before anything is generated
# ----------------------------------------------------------------------------------------------


def test_absurd_day_counts_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"'n_days' parameter of simulate must be an int <= 3653 \(ten years") as err:
        simulate(out, n_days=100_000_000, progress=False)
    assert "Got 100000000 instead (about 273,785 years)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match=f"Got {MAX_DAYS + 1} instead"):
        simulate(out, n_days=MAX_DAYS + 1, progress=False)
    with pytest.raises(ValueError, match="must end the period by 2262-04-11 .* Got 3000 days from 2260-01-01"):
        simulate(out, n_days=3000, start="2260-01-01", progress=False)
    assert not out.exists()
    assert check_days(MAX_DAYS, pd.Timestamp("2026-03-02", tz="UTC")) is None
    with pytest.raises(ValueError, match="'n_days' parameter of simulate must be an int <= 3653"):
        estimate_size(50, 100_000_000, 20)  # the estimate itself would never return


def test_sizes_beyond_the_available_memory_are_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "available_memory", lambda: 8 * 2**30)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as err:
        simulate(out, n_users=100_000_000, progress=False)
    message = str(err.value)
    assert message.startswith("The 'n_users' parameter of simulate asks for more memory than is available:")
    assert "100,000,000 users x 56 days make about 15,774,560,924 event rows and need about 638.0 GiB" in message
    assert message.endswith("8.0 GiB is available. Use fewer users or days.") and "\n" not in message
    # ten years of the default users: one day of them fits, so the days are to blame
    monkeypatch.setattr(limits, "available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"^The 'n_days' parameter .* 3,000 users x 3,653 days .* 1\.0 GiB is"):
        simulate(out, n_days=MAX_DAYS, progress=False)
    assert not out.exists()
    # an unknown amount of memory skips the check; the estimate is still returned
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    params = check_params(100_000_000, 56, 0, "2026-03-02", True, True, 1_000_000, None, None, None)
    assert check_size(params).memory_bytes > 600 * 2**30


def test_size_estimate_matches_the_default_simulation() -> None:
    """The default writes 468,877 event rows and peaks at about 470 MiB (measured with resource.getrusage)."""
    default = estimate_size(3000, 56, 75, 1_000_000, DEFAULT_DIRTY_RATES)
    assert default.rows == pytest.approx(468_877, rel=0.03)
    assert 470 * 2**20 < default.memory_bytes < 2 * 470 * 2**20  # above the measured peak, not far above
    clean = estimate_size(3000, 56, 75, 1_000_000, None)
    assert clean.rows < default.rows and clean.memory_bytes < default.memory_bytes
    available = limits.available_memory()
    assert available is None or available > 0


def test_output_folder_rule_is_the_one_of_convert(tmp_path: Path) -> None:
    from lsc_utils.datasets._common import check_output_folder

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match=r"output folder is not empty and is not a canonical dataset \(notes.txt\)"):
        simulate(foreign, n_users=50, n_days=1, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file.parquet"
    a_file.write_bytes(b"")
    with pytest.raises(ValueError, match="output path exists and is not a folder"):
        simulate(a_file, n_users=50, n_days=1, progress=False)
    # a new folder, an empty one and an earlier dataset folder are written (the same rule as convert's)
    empty = tmp_path / "empty"
    empty.mkdir()
    first = simulate(empty, n_users=50, n_days=1, progress=False)
    check_output_folder(first)
    again = simulate(first, n_users=50, n_days=1, seed=1, progress=False)
    assert read_meta(again)["seed"] == 1


def test_command_line_refusal_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lsc_utils.__main__ import main

    status = main(["simulate", "--days", "100000000", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("lsc_utils: error: The 'n_days' parameter of simulate must be an int <= 3653")
    assert not (tmp_path / "out").exists()


def test_an_interrupted_simulation_leaves_no_half_written_folder(tmp_path, monkeypatch) -> None:
    from lsc_utils.simulate import writer

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_write_customer_truth", interrupt)
    with pytest.raises(KeyboardInterrupt):
        writer.simulate(tmp_path / "ds", n_users=50, n_days=2, seed=1, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor its staging folder
    monkeypatch.undo()
    first = writer.simulate(tmp_path / "ds", n_users=50, n_days=2, seed=1, progress=False)
    again = writer.simulate(tmp_path / "ds", n_users=50, n_days=2, seed=1, progress=False)  # replaces it
    assert (
        first == again and (again / "dataset.yaml").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    )
