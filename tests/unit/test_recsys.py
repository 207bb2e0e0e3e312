"""Recommendation: hand-computed matrices, metrics, opt-out, live re-ranking, room liveness, real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lsc_utils import recsys as rs
from lsc_utils.schema import DatasetError

T0 = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def _frame(pairs: dict[str, list[str]]) -> pd.DataFrame:
    """Long user_id, item_id frame from {user: [items]}."""
    rows = [(u, i) for u, items in pairs.items() for i in items]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def _lists(recs: pd.DataFrame) -> dict[str, list[str]]:
    """{user: [items by rank]} of a recommendation frame."""
    ordered = recs.sort_values(["user_id", "rank"])
    return {u: g["item_id"].tolist() for u, g in ordered.groupby("user_id", sort=False)}


# --------------------------------------------------------------------------------------------
# Interaction matrix
# --------------------------------------------------------------------------------------------


def test_build_interactions_sums_documented_weights_and_drops_unknown_types() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2", "u3"],
            "ts": [T0] * 6,
            "event_type": ["view_item", "pay", "impression", "add_to_cart", "like", "impression"],
            "item_id": ["a", "a", "b", "b", "b", "a"],
        }
    )
    inter = rs.build_interactions(events)
    assert list(inter.user_index) == ["u1", "u2"]  # u3 only has a zero-weight impression
    assert list(inter.item_index) == ["a", "b"]
    np.testing.assert_array_equal(inter.matrix.toarray(), [[1.0 + 8.0, 0.0], [0.0, 4.0 + 2.0]])
    assert inter.user_positions(["u2", "nobody"]).tolist() == [1, -1]
    assert inter.to_frame()["weight"].tolist() == [9.0, 6.0]


def test_default_weights_follow_the_documented_order() -> None:
    w = rs.DEFAULT_EVENT_WEIGHTS
    assert w["view_item"] < w["like"] < w["comment"] <= w["favorite"] < w["add_to_cart"] < w["order"] < w["pay"]


def test_build_interactions_time_decay_halves_weight_per_half_life_and_drops_future() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1"],
            "ts": [T0 - pd.Timedelta(days=10), T0, T0 + pd.Timedelta(days=1)],
            "event_type": ["pay", "pay", "pay"],
            "item_id": ["old", "new", "future"],
        }
    )
    inter = rs.build_interactions(events, half_life_days=10, as_of=T0)
    assert list(inter.item_index) == ["new", "old"]
    np.testing.assert_allclose(inter.matrix.toarray(), [[8.0, 4.0]], rtol=1e-12)


def test_build_interactions_on_rooms_and_custom_weights() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "event_type": ["enter_room", "gift", "enter_room"],
            "room_id": ["r1", "r1", None],
        }
    )
    inter = rs.build_interactions(events, weights={"enter_room": 1.0, "gift": 5.0}, entity="room_id")
    assert inter.matrix.toarray().tolist() == [[6.0]]


def test_build_interactions_rejects_typos_in_weights_and_missing_columns() -> None:
    events = pd.DataFrame({"user_id": ["u1"], "event_type": ["pay"], "item_id": ["a"]})
    with pytest.raises(ValueError, match="not canonical event types: \\['buy'\\]"):
        rs.build_interactions(events, weights={"buy": 1.0})
    with pytest.raises(DatasetError, match="events: required column 'room_id' missing"):
        rs.build_interactions(events, entity="room_id")
    with pytest.raises(ValueError, match="'half_life' parameter of interactions_from_frame"):
        rs.interactions_from_frame(events, time_col="user_id", half_life=0)


# --------------------------------------------------------------------------------------------
# Top-k selection
# --------------------------------------------------------------------------------------------


def test_select_top_k_breaks_ties_by_column_position() -> None:
    scores = np.array([[0.5, 1.0, 0.5, 0.5, -np.inf], [-np.inf, -np.inf, 2.0, -np.inf, -np.inf]])
    columns, values = rs.select_top_k(scores, 3)
    assert columns.tolist() == [[1, 0, 2], [2, 0, 1]]
    assert values[0].tolist() == [1.0, 0.5, 0.5]
    assert np.isneginf(values[1, 1:]).all()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (3, 7), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, -np.inf])), st.integers(1, 9))
def test_select_top_k_equals_a_full_stable_sort(scores: np.ndarray, k: int) -> None:
    columns, values = rs.select_top_k(scores, k)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, 7)]
    np.testing.assert_array_equal(columns, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


# --------------------------------------------------------------------------------------------
# Recommenders on hand-made matrices
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def tiny() -> rs.Interactions:
    """u1: a b; u2: a b c; u3: c d (binary)."""
    return rs.interactions_from_frame(_frame({"u1": ["a", "b"], "u2": ["a", "b", "c"], "u3": ["c", "d"]}))


def test_popularity_excludes_seen_items_and_returns_self(tiny: rs.Interactions) -> None:
    model = rs.PopularityRecommender()
    assert model.fit(tiny) is model
    np.testing.assert_array_equal(model.popularity_, [2, 2, 2, 1])
    assert model.score_users(["u3", "ghost"]).loc["u3"].tolist() == [2.0, 2.0, 2.0, 1.0]
    recs = model.recommend(["u1", "u3", "ghost"], k=2)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert _lists(recs) == {"u1": ["c", "d"], "u3": ["a", "b"]}
    assert _lists(model.recommend(["u1"], k=2, exclude_seen=False)) == {"u1": ["a", "b"]}
    assert model.recommend(["u2"], k=5)["item_id"].tolist() == ["d"]  # only one unseen item left
    assert model.top_items(2)["item_id"].tolist() == ["a", "b"]
    assert model.recommend(["u1"], k=3, items=["d", "zzz"])["item_id"].tolist() == ["d"]


def test_item_knn_cosine_scores_match_hand_computation(tiny: rs.Interactions) -> None:
    model = rs.ItemKNNRecommender(n_neighbors=10).fit(tiny)
    sim = model.similarity_.toarray()
    # columns a=[1,1,0] b=[1,1,0] c=[0,1,1] d=[0,0,1] over users u1,u2,u3
    np.testing.assert_allclose(sim[0], [0.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(sim[2], [0.5, 0.5, 0.0, 1 / math.sqrt(2)])
    recs = model.recommend(["u1", "u3"], k=2)
    assert _lists(recs) == {"u1": ["c", "d"], "u3": ["a", "b"]}
    np.testing.assert_allclose(recs["score"], [1.0, 0.0, 0.5, 0.5])


def test_item_knn_keeps_only_top_neighbours(tiny: rs.Interactions) -> None:
    model = rs.ItemKNNRecommender(n_neighbors=1).fit(tiny)
    assert np.diff(model.similarity_.indptr).tolist() == [1, 1, 1, 1]
    # c's single neighbour is d (0.707 > 0.5), so u3 (c, d) gets no evidence for a or b
    recs = model.recommend(["u3"], k=2)
    np.testing.assert_allclose(recs["score"], [0.0, 0.0])


def test_item_knn_bm25_and_invalid_parameters(tiny: rs.Interactions) -> None:
    model = rs.ItemKNNRecommender(similarity="bm25").fit(tiny)
    assert model.similarity_.diagonal().tolist() == [0.0, 0.0, 0.0, 0.0]
    assert (model.similarity_.data > 0).all()
    with pytest.raises(ValueError, match="'similarity' parameter of ItemKNNRecommender must be one of"):
        rs.ItemKNNRecommender(similarity="pearson").fit(tiny)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of ItemKNNRecommender must be an int >= 1. Got 0"):
        rs.ItemKNNRecommender(n_neighbors=0).fit(tiny)


def test_bm25_weight_matches_formula() -> None:
    matrix = np.array([[1.0, 0.0], [2.0, 1.0]])
    weighted = rs.bm25_weight(matrix, k1=1.0, b=0.5).toarray()
    lengths = np.array([1.0, 3.0])
    norm = 0.5 + 0.5 * lengths / 2.0
    idf = np.log(2.0) - np.log1p(np.array([2.0, 1.0]))
    expected = matrix * 2.0 / (norm[:, None] + matrix) * idf[None, :]
    np.testing.assert_allclose(weighted, np.where(matrix > 0, expected, 0.0))


def test_user_knn_scores_match_hand_computation(tiny: rs.Interactions) -> None:
    model = rs.UserKNNRecommender(n_neighbors=2).fit(tiny)
    recs = model.recommend(["u1", "u3"], k=2)
    assert _lists(recs) == {"u1": ["c", "d"], "u3": ["a", "b"]}
    cos_u1_u2, cos_u2_u3 = 2 / math.sqrt(6), 1 / math.sqrt(6)
    np.testing.assert_allclose(recs["score"], [cos_u1_u2, 0.0, cos_u2_u3, cos_u2_u3])


def _blocks(seed: int = 0) -> tuple[rs.Interactions, list[str], list[str]]:
    """Two taste groups: users g0_* like items 0-9, users g1_* like items 10-19 (80 % of them)."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in (0, 1):
        for u in range(20):
            items = [f"i{group * 10 + j:02d}" for j in range(10) if rng.random() < 0.8]
            rows += [(f"g{group}_{u:02d}", i) for i in items]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return rs.interactions_from_frame(frame), [f"i{j:02d}" for j in range(10)], [f"i{j:02d}" for j in range(10, 20)]


@pytest.mark.parametrize(
    "model",
    [
        rs.ALSRecommender(factors=4, regularization=1.0),
        rs.BPRRecommender(factors=8, iterations=100, learning_rate=0.05),
        rs.ItemKNNRecommender(),
        rs.UserKNNRecommender(n_neighbors=5),
    ],
    ids=["als", "bpr", "itemknn", "userknn"],
)
def test_cf_models_recommend_within_the_users_taste_group(model: rs.BaseRecommender) -> None:
    inter, group0, group1 = _blocks()
    recs = model.fit(inter).recommend(k=2)
    own = np.where(recs["user_id"].str.startswith("g0"), recs["item_id"].isin(group0), recs["item_id"].isin(group1))
    own_recommended = pd.Series(own, index=recs["user_id"]).groupby(level=0).sum()
    unseen_own = 10 - inter.to_frame().groupby("user_id").size()  # each user saw items of their group only
    expected = np.minimum(unseen_own, 2).reindex(own_recommended.index)
    assert (own_recommended == expected).all()
    assert recs.groupby("user_id").size().max() == 2


def test_factor_models_are_deterministic_with_random_state() -> None:
    inter, _, _ = _blocks()
    for make in (lambda: rs.ALSRecommender(factors=8, num_threads=2), lambda: rs.BPRRecommender(factors=8)):
        first, second = make().fit(inter), make().fit(inter)
        np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
        pd.testing.assert_frame_equal(first.recommend(k=5), second.recommend(k=5))
    other = rs.ALSRecommender(factors=8, random_state=7).fit(inter)
    assert not np.array_equal(other.item_factors_, rs.ALSRecommender(factors=8).fit(inter).item_factors_)


def test_fit_rejects_wrong_input() -> None:
    with pytest.raises(TypeError, match="expects an Interactions object"):
        rs.PopularityRecommender().fit(pd.DataFrame())
    with pytest.raises(ValueError, match="'k' parameter of PopularityRecommender.recommend must be an int >= 1"):
        rs.PopularityRecommender().fit(rs.interactions_from_frame(_frame({"u": ["a"]}))).recommend(k=0)


@pytest.fixture()
def catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "new_x", "new_y"],
            "category": ["X", "X", "Y", "Z", "X", "Y"],
            "brand": ["p", "q", "p", "q", "r", "r"],
            "tags": ["t1|t2", "t1", None, "t3", "t1|t2", ""],
        }
    )


def test_item_features_tfidf_matches_hand_computation() -> None:
    items = pd.DataFrame({"item_id": ["i1", "i2"], "category": ["X", "X"], "tags": ["t1|t2", "t1"]})
    features = rs.build_item_features(items, fields=("category", "tags"))
    assert list(features.vocabulary) == ["category=X", "tag=t1", "tag=t2"]
    rare = 1.0 + math.log(3 / 2)  # smoothed idf of a token in 1 of 2 items
    expected_cosine = 2.0 / (math.sqrt(2.0) * math.sqrt(2.0 + rare**2))
    vectors = features.matrix.toarray()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1.0, 1.0])
    assert vectors[0] @ vectors[1] == pytest.approx(expected_cosine, rel=1e-12)
    with pytest.raises(DatasetError, match="repeated ids"):
        rs.build_item_features(pd.concat([items, items]), fields=("category",))


def test_content_based_recommends_cold_items_matching_the_profile(catalog: pd.DataFrame) -> None:
    inter = rs.interactions_from_frame(_frame({"u1": ["a", "b"], "u2": ["c"], "u3": ["d"]}))
    model = rs.ContentBasedRecommender(catalog).fit(inter)
    assert list(model.item_index_) == ["a", "b", "c", "d", "new_x", "new_y"]
    assert model.recommend(["u1"], k=1)["item_id"].tolist() == ["new_x"]  # category X, brand-new
    assert model.recommend(["u2"], k=1)["item_id"].tolist() == ["new_y"]  # category Y


def test_repeat_aware_puts_own_history_first_by_recency_weighted_frequency() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u3", "u4"],
            "item_id": ["a", "a", "b", "c", "c", "c"],
            "day": [9.0, 8.0, 10.0, 10.0, 10.0, 10.0],
        }
    )
    inter = rs.interactions_from_frame(frame, time_col="day", half_life=1.0)
    recs = rs.RepeatAwareRecommender().fit(inter).recommend(["u1"], k=3, exclude_seen=False)
    # a: 0.5 + 0.25 = 0.75 < b: 1.0 -> b, a, then the most popular other item c
    assert recs["item_id"].tolist() == ["b", "a", "c"]
    np.testing.assert_allclose(recs["score"], [2.0, 1.75, 1.0])
    only_history = rs.RepeatAwareRecommender(fallback="none").fit(inter).recommend(["u1"], k=3, exclude_seen=False)
    assert only_history["item_id"].tolist() == ["b", "a"]


def test_hybrid_routes_warm_light_and_cold_users(catalog: pd.DataFrame) -> None:
    inter = rs.interactions_from_frame(
        _frame({"w1": ["a", "b", "c"], "w2": ["a", "b", "d"], "w3": ["b", "c", "d"], "l1": ["c"]})
    )
    model = rs.HybridRecommender(
        cf=rs.ItemKNNRecommender(),
        content=rs.ContentBasedRecommender(catalog),
        min_user_interactions=3,
        cold_item_slots=1,
    )
    recs = model.fit(inter).recommend(["stranger", "w1", "l1"], k=3)
    assert recs["user_id"].unique().tolist() == ["stranger", "w1", "l1"]
    by_user = {u: g for u, g in recs.groupby("user_id")}
    assert by_user["stranger"]["source"].unique().tolist() == ["popularity"]
    assert by_user["stranger"]["item_id"].tolist() == ["b", "c", "a"]  # 3, 3, 2 users; ties by id
    warm = by_user["w1"]
    assert warm["source"].tolist() == ["cf", "content"]  # d by CF, then the cold-item slot
    assert warm["item_id"].tolist() == ["d", "new_x"]
    assert warm["rank"].tolist() == [1, 2]
    light = by_user["l1"]
    assert light["item_id"].iloc[0] == "new_y" and light["source"].iloc[0] == "content"
    assert len(light) == 3 and "c" not in set(light["item_id"])


# --------------------------------------------------------------------------------------------
# Live rooms, re-ranking, consent
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def rooms() -> pd.DataFrame:
    hour = pd.Timedelta(hours=1)
    return pd.DataFrame(
        {
            "room_id": ["r_live_a", "r_live_b", "r_old_a", "r_future", "r_starts_now", "r_open_end"],
            "anchor_id": ["A", "B", "A", "A", "C", "D"],
            "category": ["beauty", "food", "beauty", "beauty", "food", "tech"],
            "start_ts": [T0 - hour, T0 - 2 * hour, T0 - 48 * hour, T0 + hour, T0, T0 - 3 * hour],
            "end_ts": [T0 + hour, T0, T0 - 46 * hour, T0 + 2 * hour, T0 + hour, pd.NaT],
        }
    )


def test_live_rooms_filter_is_inclusive_and_open_ended(rooms: pd.DataFrame) -> None:
    live = rs.live_rooms(rooms, T0)["room_id"].tolist()
    assert live == ["r_live_a", "r_live_b", "r_starts_now", "r_open_end"]
    assert rs.live_rooms(rooms, T0.tz_localize(None))["room_id"].tolist() == live  # naive = UTC


def test_recommend_rooms_ranks_live_rooms_by_anchor_affinity(rooms: pd.DataFrame) -> None:
    minute = pd.Timedelta(minutes=1)
    events = pd.DataFrame(
        {
            "user_id": ["fan_a", "fan_b", "fan_b", "v1", "v2", "late"],
            "ts": [T0 - 47 * 60 * minute, T0 - 90 * minute, T0 - 89 * minute, T0 - minute, T0 - minute, T0 + minute],
            "event_type": ["enter_room", "enter_room", "follow", "enter_room", "enter_room", "enter_room"],
            "room_id": ["r_old_a", "r_live_b", "r_live_b", "r_open_end", "r_open_end", "r_live_a"],
        }
    )
    recs = rs.recommend_rooms(events, rooms, T0, ["fan_a", "fan_b", "newbie"], k=10, half_life_days=None)
    assert set(recs["room_id"]) <= {"r_live_a", "r_live_b", "r_starts_now", "r_open_end"}
    first = recs[recs["rank"] == 1].set_index("user_id")["room_id"].to_dict()
    assert first == {"fan_a": "r_live_a", "fan_b": "r_live_b", "newbie": "r_open_end"}
    row = recs[(recs["user_id"] == "fan_a") & (recs["room_id"] == "r_live_a")].iloc[0]
    # anchor (1/1 + no follow)/2 = 0.5, category beauty = 1, no CF evidence, audience 0 (the later visit is after T0)
    assert row["anchor_affinity"] == pytest.approx(0.5)
    assert row["category_affinity"] == pytest.approx(1.0)
    assert row["score"] == pytest.approx(0.5 * 0.5 + 0.2 * 1.0)
    followed = recs[(recs["user_id"] == "fan_b") & (recs["room_id"] == "r_live_b")].iloc[0]
    assert followed["anchor_affinity"] == pytest.approx(1.0)
    newbie = recs[recs["user_id"] == "newbie"]
    assert newbie["score"].iloc[0] == pytest.approx(0.1)  # popularity only: r_open_end has 2 viewers
    assert recs.groupby("user_id").size().tolist() == [4, 4, 4]


def test_recommend_rooms_returns_empty_frame_when_nothing_is_live(rooms: pd.DataFrame) -> None:
    events = pd.DataFrame({"user_id": ["u"], "ts": [T0], "event_type": ["enter_room"], "room_id": ["r_live_a"]})
    out = rs.recommend_rooms(events, rooms, T0 - pd.Timedelta(days=10), ["u"])
    assert out.empty and "room_id" in out.columns


def test_rerank_with_live_signals_follows_documented_formula() -> None:
    recs = pd.DataFrame(
        {"user_id": ["u1"] * 3, "item_id": ["p", "q", "s"], "rank": [1, 2, 3], "score": [0.9, 0.5, 0.1]}
    )
    minute = pd.Timedelta(minutes=1)
    events = pd.DataFrame(
        {
            "ts": [T0 - minute, T0 - 2 * minute, T0 - 3 * minute, T0 - 4 * minute, T0 - 30 * minute, T0 - minute],
            "event_type": ["like", "like", "add_to_cart", "like", "add_to_cart", "add_to_cart"],
            "item_id": ["q", "q", "q", "s", "p", "p"],
            "room_id": ["R", "R", "R", "R", "R", "other_room"],
        }
    )
    out = rs.rerank_with_live_signals(recs, events, "R", T0, window_minutes=10, weight=0.5)
    # trend q = 1 + 1 + 3 = 5, s = 1 -> 1.0, 0.2; base p 1.0, q 0.5, s 0.0
    assert out["item_id"].tolist() == ["q", "p", "s"]
    np.testing.assert_allclose(out["score"], [0.5 * 0.5 + 0.5 * 1.0, 0.5 * 1.0, 0.5 * 0.2])
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["base_score"].tolist() == [0.5, 0.9, 0.1]
    unchanged = rs.rerank_with_live_signals(recs, events, "R", T0, weight=0.0)
    assert unchanged["item_id"].tolist() == ["p", "q", "s"]
    with pytest.raises(ValueError, match="'weight' parameter of rerank_with_live_signals"):
        rs.rerank_with_live_signals(recs, events, "R", T0, weight=1.5)


def test_opted_out_users_get_only_the_non_personalized_list() -> None:
    recs = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u4"],
            "item_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
            "rank": [1, 2, 1, 2, 1, 1],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        }
    )
    users = pd.DataFrame(
        {"user_id": ["u1", "u2", "u3"], "consent_personalization": pd.array([True, False, pd.NA], dtype="boolean")}
    )
    fallback = pd.DataFrame({"item_id": ["top1", "top2"], "rank": [1, 2], "score": [100.0, 50.0]})
    out = rs.apply_personalization_consent(recs, users, fallback)
    assert out["user_id"].tolist() == ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"]
    assert out.loc[out["personalized"], "item_id"].tolist() == ["p1", "p2"]
    assert out.loc[~out["personalized"], "item_id"].tolist() == ["top1", "top2"] * 3
    lenient = rs.apply_personalization_consent(recs, users, fallback, treat_missing_as_consent=True)
    assert lenient.loc[~lenient["personalized"], "user_id"].unique().tolist() == ["u2"]
    per_user = fallback.assign(user_id="u2")
    strict = rs.apply_personalization_consent(recs, users, per_user)
    assert strict.loc[strict["user_id"] == "u2", "item_id"].tolist() == ["top1", "top2"]
    assert (strict["user_id"] == "u3").sum() == 0  # no fallback rows given for u3: nothing personalized leaks


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def test_temporal_split_by_fraction_and_cutoff() -> None:
    events = pd.DataFrame({"ts": pd.date_range(T0, periods=10, freq="h"), "v": range(10)})
    train, test = rs.temporal_split(events, test_fraction=0.3)
    assert train["v"].tolist() == list(range(7)) and test["v"].tolist() == [7, 8, 9]
    train, test = rs.temporal_split(events, cutoff=T0 + pd.Timedelta(hours=5))
    assert len(train) == 5 and test["v"].min() == 5
    with pytest.raises(ValueError, match="exactly one of 'test_fraction' and 'cutoff'"):
        rs.temporal_split(events, test_fraction=0.2, cutoff=T0)


def test_stratified_random_split_keeps_three_quarters_per_user() -> None:
    data = _frame({"a": [f"i{j}" for j in range(4)], "b": [f"i{j}" for j in range(8)], "c": ["i0"]})
    train, test = rs.stratified_random_split(data, test_size=0.25, random_state=1)
    assert train.groupby("user_id").size().to_dict() == {"a": 3, "b": 6}
    assert test.groupby("user_id").size().to_dict() == {"a": 1, "b": 2, "c": 1}
    again, _ = rs.stratified_random_split(data, test_size=0.25, random_state=1)
    pd.testing.assert_frame_equal(train, again)
    different = {tuple(rs.stratified_random_split(data, 0.25, seed)[1]["item_id"]) for seed in range(10)}
    assert len(different) > 1


# --------------------------------------------------------------------------------------------
# Metrics, hand-computed
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def ranked() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    recs = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3"],
            "item_id": ["a", "b", "c", "d", "a", "e", "x", "y"],
            "rank": [1, 2, 3, 1, 2, 3, 1, 2],
            "score": [3.0, 2.0, 1.0, 3.0, 2.0, 1.0, 2.0, 1.0],
        }
    )
    test = _frame({"u1": ["b", "c", "z"], "u2": ["d"], "u4": ["a"]})
    train = _frame({"U1": ["a", "b", "c", "f"], "U2": ["a", "b", "e", "g"], "U3": ["a", "d", "e", "h"], "U4": ["a"]})
    return recs, test, train


def test_accuracy_metrics_match_hand_computation(ranked: tuple) -> None:
    recs, test, _ = ranked
    # users evaluated: u1 (hits at 2, 3 of 3 relevant) and u2 (hit at 1 of 1)
    assert rs.precision_at_k(recs, test, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert rs.recall_at_k(recs, test, 3) == pytest.approx((2 / 3 + 1) / 2)
    dcg_u1 = 1 / math.log(3) + 1 / math.log(4)
    idcg_u1 = 1 / math.log(2) + 1 / math.log(3) + 1 / math.log(4)
    assert rs.ndcg_at_k(recs, test, 3) == pytest.approx((dcg_u1 / idcg_u1 + 1) / 2)
    assert rs.mean_average_precision(recs, test, 3) == pytest.approx(((1 / 2 + 2 / 3) / 3 + 1) / 2)
    assert rs.hit_rate_at_k(recs, test, 3) == 1.0
    # at k = 2, u1 has one hit at 2: MS map divides by |rel| = 3, map_at_k by min(3, 2) = 2
    assert rs.mean_average_precision(recs, test, 2) == pytest.approx(7 / 12)
    assert rs.map_at_k(recs, test, 2) == pytest.approx(5 / 8)
    assert rs.precision_at_k(recs, test, 1) == pytest.approx(0.5)
    assert rs.hit_rate_at_k(recs, test, 1) == pytest.approx(0.5)


def test_beyond_accuracy_metrics_match_hand_computation(ranked: tuple) -> None:
    recs, _, train = ranked
    inter = rs.interactions_from_frame(train)
    # 5 of the 8 training items (a b c d e) are recommended
    assert rs.catalog_coverage(recs, inter, 3) == pytest.approx(5 / 8)
    # -log2 p over rows a b c d a e (x, y unknown): 0 1 2 2 0 1
    assert rs.novelty(recs, inter, 3) == pytest.approx(1.0)
    assert rs.novelty(recs, train, 3) == pytest.approx(1.0)
    bias = rs.average_recommendation_popularity(recs, inter, 3)
    assert bias["arp"] == pytest.approx((7 / 3 + 7 / 3 + 0) / 3)
    assert bias["popularity_percentile"] == pytest.approx(35 / 72)


def test_intra_list_diversity_matches_hand_computation(ranked: tuple) -> None:
    recs, _, _ = ranked
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d", "e"], "category": ["X", "X", "Y", "Y", "Z"]})
    features = rs.build_item_features(items, fields=("category",))
    # u1 [a b c]: pairs 1, 0, 0 -> 1 - 1/3; u2 [d a e]: 1 - 0; u3 [x y] unknown items: 1 - 0
    assert rs.intra_list_diversity(recs, features, 3) == pytest.approx((2 / 3 + 1 + 1) / 3)


def test_evaluate_collects_all_metrics(ranked: tuple) -> None:
    recs, test, train = ranked
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d", "e"], "category": ["X", "X", "Y", "Y", "Z"]})
    result = rs.evaluate(
        recs,
        test,
        3,
        train=rs.interactions_from_frame(train),
        item_features=rs.build_item_features(items, ("category",)),
    )
    assert result["n_users"] == 2 and result["user_coverage"] == pytest.approx(2 / 3)
    assert result["precision"] == pytest.approx(0.5)
    assert result["map"] == pytest.approx(((1 / 2 + 2 / 3) / 3 + 1) / 2)
    assert result["map_at_k"] == pytest.approx(result["map"])  # min(3, 3) = |rel| here
    assert result["catalog_coverage"] == pytest.approx(5 / 8)
    assert result["intra_list_diversity"] == pytest.approx(8 / 9)


def test_compare_models_gives_one_row_per_model_and_clones() -> None:
    inter, _, _ = _blocks()
    test = _frame({"g0_00": ["i00"], "g1_00": ["i15"]})
    models = {"pop": rs.PopularityRecommender(), "knn": rs.ItemKNNRecommender()}
    table = rs.compare_models(models, inter, test, k=5)
    assert table["model"].tolist() == ["pop", "knn"]
    assert {"precision", "recall", "ndcg", "map", "hit_rate", "novelty"} <= set(table.columns)
    assert not hasattr(models["pop"], "popularity_")
    pd.testing.assert_frame_equal(table, rs.compare_models(models, inter, test, k=5))


def _hand_made_watch_log() -> pd.DataFrame:
    """Four viewers over six 10-minute steps; targets u1 -> s1 (repeat), u2 -> s3 (repeat), u3 -> s2 (new)."""
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3", "u4"],
            "item_id": ["s1", "s2", "s1", "s3", "s3", "s3", "s2", "s3"],
            "step": [1, 2, 5, 1, 6, 2, 6, 3],
        }
    )


def test_next_stream_hit_rate_on_hand_made_watch_log() -> None:
    log = _hand_made_watch_log()
    models = {"pop": rs.PopularityRecommender(), "repeat": rs.RepeatAwareRecommender()}
    table = rs.next_stream_hit_rate(log, models, k=1, time_col="step").set_index("model")
    # targets: u1 -> s1 (repeat), u2 -> s3 (repeat), u3 -> s2 (new); u4 has no history
    assert table.loc["repeat", "n_users"] == 3
    assert table.loc["repeat", "repeat_share"] == pytest.approx(2 / 3)
    assert table.loc["repeat", "hit_rate"] == pytest.approx(2 / 3)  # u1 s1, u2 s3; u3 gets s3, not s2
    assert table.loc["pop", "hit_rate"] == pytest.approx(1 / 3)  # s3 (3 users) for all: only u2
    live = rs.next_stream_hit_rate(log, models, k=1, time_col="step", availability_window=0).set_index("model")
    # live at step 5: s1 only (u1 hits); at step 6: s2 and s3, popularity picks s3 (u2 hits, u3 misses)
    assert live.loc["pop", "hit_rate"] == pytest.approx(2 / 3)
    assert live.loc["pop", "hit_rate_new"] == 0.0


def test_next_stream_lists_hold_the_target_exactly_when_it_is_a_hit() -> None:
    log = _hand_made_watch_log()
    models = {"pop": rs.PopularityRecommender(), "repeat": rs.RepeatAwareRecommender()}
    for window, k in ((None, 1), (None, 2), (0, 1)):
        result = rs.evaluate_next_stream(log, models, k=k, time_col="step", availability_window=window)
        lists = result.lists
        assert list(lists.columns) == ["model", "user_id", "item_id", "rank", "score"]
        assert set(lists["user_id"]) == {"u1", "u2", "u3"} and lists["rank"].max() <= k
        targets = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "target": ["s1", "s3", "s2"]})
        for name, row in result.hit_rates.set_index("model").iterrows():
            hits = lists[lists["model"] == name].merge(targets, on="user_id")
            assert (hits["item_id"] == hits["target"]).sum() / 3 == pytest.approx(row["hit_rate"])
    top = rs.evaluate_next_stream(log, models, k=1, time_col="step").lists.set_index(["model", "user_id"])["item_id"]
    assert top[("pop", "u1")] == "s3" and top[("repeat", "u1")] == "s1"  # popularity: s3 has the most training users
    live = rs.evaluate_next_stream(log, models, k=3, time_col="step", availability_window=0).lists
    assert set(live.loc[live["user_id"] == "u1", "item_id"]) == {"s1"}  # only s1 is live at step 5
    # training watch per streamer: the targets (u1 s1 at 5, u2 s3 at 6, u3 s2 at 6) are held out, and so is
    # u4's only row (a user without history is no target, and its row is not before any target of its own)
    result = rs.evaluate_next_stream(log, models, k=1, time_col="step")
    assert result.training_rows.to_dict() == {"s1": 1, "s2": 1, "s3": 2}
    assert result.training_users.to_dict() == {"s1": 1, "s2": 1, "s3": 2}


# --------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------


def _movielens(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        shared_data / "movielens_100k" / "u.data", sep="\t", names=["user_id", "item_id", "rating", "ts"]
    )
    return frame.astype({"user_id": "str", "item_id": "str"})


@pytest.mark.realdata
def test_movielens_100k_best_model_reaches_published_accuracy(shared_data: Path) -> None:
    ratings = _movielens(shared_data)
    train, test = rs.stratified_random_split(ratings, test_size=0.25, random_state=42)
    inter = rs.interactions_from_frame(train)
    models = {
        "als": rs.ALSRecommender(),
        "bpr": rs.BPRRecommender(),
        "itemknn": rs.ItemKNNRecommender(),
        "userknn": rs.UserKNNRecommender(),
        "popularity": rs.PopularityRecommender(),
    }
    table = rs.compare_models(models, inter, test, k=10)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nMovieLens 100k, stratified 75/25, k=10\n", table.round(4).to_string(index=False))
    best = table.loc[table["precision"].idxmax()]
    assert best["precision"] >= 0.35 and best["ndcg"] >= 0.40
    by_model = table.set_index("model")
    assert by_model.loc["als", "precision"] >= 0.38
    assert (by_model.drop(index="popularity")["precision"] > by_model.loc["popularity", "precision"]).all()
    again = rs.compare_models(models, inter, test, k=10)
    pd.testing.assert_frame_equal(table, again)


@pytest.mark.realdata
def test_twitch_repeat_aware_baseline_beats_popularity_for_next_stream(shared_data: Path) -> None:
    log = pd.read_csv(shared_data / "twitch_liverec" / "twitch105k_filterbubbles.csv", index_col=0)
    models = {
        "popularity": rs.PopularityRecommender(),
        "repeat_aware": rs.RepeatAwareRecommender(),
        "als": rs.ALSRecommender(),
    }
    for window in (None, 6):
        table = rs.next_stream_hit_rate(
            log, models, k=10, item_col="streamer_name", time_col="start_time", availability_window=window
        )
        print(f"\nTwitch next-stream hit rate@10 (availability window {window} steps)\n", table.round(4))
        rates = table.set_index("model")["hit_rate"]
        assert table["n_users"].iloc[0] == 2000
        assert rates["repeat_aware"] >= 3 * rates["popularity"]
        assert rates["repeat_aware"] - rates["popularity"] >= 0.3
        assert rates["als"] > rates["popularity"] + 0.2


# --------------------------------------------------------------------------------------------
# Evaluation protocols of the notebook: weight schemes, splits, live-room evaluation
# --------------------------------------------------------------------------------------------


def test_event_weight_schemes_default_and_uniform() -> None:
    assert rs.event_weight_scheme("default") == dict(rs.DEFAULT_EVENT_WEIGHTS)
    uniform = rs.event_weight_scheme("uniform")
    assert set(uniform) == set(rs.DEFAULT_EVENT_WEIGHTS) and set(uniform.values()) == {1.0}
    with pytest.raises(ValueError, match="'name' parameter of event_weight_scheme must be one of"):
        rs.event_weight_scheme("binary")


def _split_events() -> pd.DataFrame:
    hour = pd.Timedelta(hours=1)
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u1", "u1", "u3", "u2"],
            "ts": [T0, T0 + hour, T0 + 2 * hour, T0 + 3 * hour, T0 + 4 * hour, T0 + 5 * hour, T0 + 5 * hour],
            "event_type": ["view_item", "pay", "view_item", "view_item", "add_to_cart", "view_item", "impression"],
            "item_id": ["i1", "i2", "i1", "i1", "i3", "i2", "i3"],
        }
    )


def test_temporal_split_interactions_decays_to_cutoff_and_drops_seen_and_cold_pairs() -> None:
    split = rs.split_interactions(_split_events(), "temporal", test_fraction=0.5, half_life_days=1 / 24)
    assert split.cutoff == T0 + pd.Timedelta(hours=3)
    cells = split.train.to_frame().set_index(["user_id", "item_id"])["weight"].to_dict()
    # ages at the cutoff 3 h, 2 h, 1 h with a 1-hour half-life
    assert cells == pytest.approx({("u1", "i1"): 0.125, ("u1", "i2"): 8 * 0.25, ("u2", "i1"): 0.5})
    assert split.test.to_dict("list") == {"user_id": ["u1"], "item_id": ["i3"]}  # (u1, i1) seen; impression weighs 0
    assert split.cold_test.to_dict("list") == {"user_id": ["u3"], "item_id": ["i2"]}
    assert split.n_seen_removed == 1


def test_stratified_split_interactions_holds_out_a_quarter_of_each_users_pairs() -> None:
    pairs = _frame({"a": [f"i{j}" for j in range(4)], "b": [f"i{j}" for j in range(8)]})
    events = pairs.assign(ts=T0, event_type="view_item")
    split = rs.split_interactions(events, "stratified", test_fraction=0.25, random_state=3)
    assert split.cutoff is None and split.cold_test.empty and split.n_seen_removed == 0
    assert split.test.groupby("user_id").size().to_dict() == {"a": 1, "b": 2}
    _, reference = rs.stratified_random_split(pairs, 0.25, random_state=3)
    assert set(map(tuple, split.test.to_numpy())) == set(map(tuple, reference.to_numpy()))
    assert split.train.matrix.nnz + len(split.test) == len(pairs)
    with pytest.raises(ValueError, match="'method' parameter of split_interactions"):
        rs.split_interactions(events, "random")


def test_split_interactions_rejects_events_without_positive_weight() -> None:
    events = _split_events().assign(event_type="impression")
    with pytest.raises(DatasetError, match="no training event has a positive weight"):
        rs.split_interactions(events, "temporal", 0.5)


def test_first_room_entries_keeps_first_entry_per_user_and_room(rooms: pd.DataFrame) -> None:
    minute = pd.Timedelta(minutes=1)
    events = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "v", "v"],
            "ts": [T0 + 2 * minute, T0, T0 + minute, T0, T0],
            "event_type": ["enter_room", "enter_room", "like", "enter_room", "enter_room"],
            "room_id": ["r_live_a", "r_live_a", "r_live_a", "r_open_end", "unknown_room"],
        }
    )
    out = rs.first_room_entries(events, rooms)
    assert out.to_dict("list") == {
        "user_id": ["u", "v"],
        "room_id": ["r_live_a", "r_open_end"],
        "anchor_id": ["A", "D"],
        "ts": [T0, T0],
    }


def test_busiest_moment_counts_live_rooms_at_each_start(rooms: pd.DataFrame) -> None:
    # at T0 - 1 h: r_live_a, r_live_b, r_open_end live (3); at T0: r_live_a, r_live_b, r_starts_now, r_open_end (4)
    assert rs.busiest_moment(rooms) == T0
    assert rs.busiest_moment(rooms, end=T0 - pd.Timedelta(minutes=30)) == T0 - pd.Timedelta(hours=1)
    with pytest.raises(DatasetError, match="no room starts between"):
        rs.busiest_moment(rooms, start=T0 + pd.Timedelta(days=3))


def test_evaluate_room_recommendations_rewards_repeat_aware_ranking() -> None:
    minute = pd.Timedelta(minutes=1)
    live_rooms = pd.DataFrame(
        {
            "room_id": ["r_a_old", "r_a", "r_b", "r_c"],
            "anchor_id": ["A", "A", "B", "C"],
            "category": ["x", "x", "y", "z"],
            "start_ts": [T0 - 1440 * minute, T0 - 60 * minute, T0 - 60 * minute, T0 - 60 * minute],
            "end_ts": [T0 - 1380 * minute, T0 + 60 * minute, T0 + 60 * minute, T0 + 60 * minute],
        }
    )
    rows = [
        ("fan", -1400, "r_a_old"),  # watched anchor A yesterday
        ("v1", -30, "r_b"),
        ("v2", -30, "r_b"),
        ("v3", -30, "r_b"),
        ("v4", -30, "r_c"),
        ("v5", -30, "r_c"),
        ("fan", 5, "r_a"),  # the target: a new room of the anchor the fan watched before
        ("v1", 6, "r_c"),  # a second target, chooses the second most popular room
        ("v2", 7, "r_b"),  # not new: v2 entered r_b before T0
        ("late", 45, "r_b"),  # after the 30-minute horizon
    ]
    events = pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [T0 + r[1] * minute for r in rows],
            "event_type": "enter_room",
            "room_id": [r[2] for r in rows],
        }
    )
    table = rs.evaluate_room_recommendations(
        events, live_rooms, [T0, T0 + 600 * minute], k=1, horizon_minutes=30
    ).set_index("variant")
    assert table["moments"].tolist() == [1, 1] and table["users"].tolist() == [2, 2]
    assert table.loc["recommend_rooms", "chance_hit_rate"] == pytest.approx(1 / 3)
    # fan: anchor A first (hit); v1 has only watched r_b's anchor B, so B comes first (miss)
    assert table.loc["recommend_rooms", "hit_rate"] == pytest.approx(0.5)
    assert table.loc["live_popularity", "hit_rate"] == pytest.approx(0.0)  # r_b (3 viewers) first for both
    top3 = rs.evaluate_room_recommendations(
        events, live_rooms, [T0], k=3, variants={"pop": rs.LIVE_POPULARITY_ROOM_WEIGHTS}
    )
    # popularity order r_b, r_c, r_a: fan's target at 3, v1's at 2
    assert top3.loc[0, "hit_rate"] == 1.0
    assert top3.loc[0, "ndcg"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 2)


def test_rerank_room_lists_restricts_to_items_on_sale_and_lifts_trending_items() -> None:
    minute = pd.Timedelta(minutes=1)
    inter = rs.interactions_from_frame(
        _frame({"a": ["p1", "p2", "p3"], "b": ["p1", "p2"], "c": ["p1"], "u": ["p1", "p2"]})
    )
    model = rs.PopularityRecommender().fit(inter)
    events = pd.DataFrame(
        {
            "user_id": ["s1", "s2", "s3", "s4", "s5"],
            "ts": [T0 - 30 * minute, T0 - 20 * minute, T0 - 5 * minute, T0 - 5 * minute, T0 + minute],
            "event_type": ["view_item", "view_item", "add_to_cart", "view_item", "add_to_cart"],
            "item_id": ["p2", "p3", "p3", "p1", "p2"],
            "room_id": ["r", "r", "r", "other", "r"],
        }
    )
    out = rs.rerank_room_lists(model, events, "r", T0, ["u"], k=10, window_minutes=10, weight=0.6)
    # on sale in r by T0: p2, p3 (p1 is sold elsewhere); popularity p2 (3 users) > p3 (1) -> base 1, 0
    # p3 has the only add-to-cart of the window (p2's comes after T0): 0.4 * 1 vs 0.4 * 0 + 0.6 * 1
    assert out["item_id"].tolist() == ["p3", "p2"]
    assert out["rank_before"].tolist() == [2, 1] and out["rank_after"].tolist() == [1, 2]
    np.testing.assert_allclose(out["score"], [0.6, 0.4])
    np.testing.assert_allclose(out["live_trend"], [1.0, 0.0])
    np.testing.assert_allclose(out["base_score"], [1.0, 3.0])
    empty = rs.rerank_room_lists(model, events, "r", T0 - 40 * minute, ["u"])
    assert empty.empty and "rank_after" in empty.columns


def test_hybrid_with_no_users_returns_an_empty_frame() -> None:
    events = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "event_type": ["pay"] * 3})
    inter = rs.build_interactions(events)
    model = rs.HybridRecommender(cf=rs.PopularityRecommender()).fit(inter)
    out = model.recommend([], k=3)
    assert out.empty and {"user_id", "item_id", "rank", "score", "source"} <= set(out.columns)
