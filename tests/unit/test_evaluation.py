"""lsc_utils.evaluation: per-user scores and metrics by user group, checked against hand values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lsc_utils import evaluation as ev
from lsc_utils import recsys as rs
from lsc_utils.schema import DatasetError


@pytest.fixture
def lists() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three users with lists, four test users (d has no list), items relevant as annotated."""
    recs = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
            "item_id": ["x", "y", "z", "x", "y", "z", "x", "y", "z"],
            "rank": [1, 2, 3, 1, 2, 3, 1, 2, 3],
        }
    )
    # a: hit at 1 and 3 of 2 relevant; b: hit at 2 of 1 relevant; c: no hit of 1 relevant; d: no list
    test = pd.DataFrame({"user_id": ["a", "a", "b", "c", "d"], "item_id": ["x", "z", "y", "w", "x"]})
    return recs, test


def test_user_scores_match_hand_values(lists: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, test = lists
    scores = ev.user_scores(recs, test, k=3).set_index("user_id")
    assert scores.loc["a", "hits"] == 2 and scores.loc["a", "n_relevant"] == 2
    assert scores.loc["a", "ndcg"] == pytest.approx((1.0 + 1 / math.log2(4)) / (1.0 + 1 / math.log2(3)))
    assert scores.loc["b", "ndcg"] == pytest.approx(1 / math.log2(3))
    assert scores.loc["a", "map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert scores.loc["c", "hit_rate"] == 0.0 and scores.loc["c", "precision"] == 0.0
    assert not scores.loc["d", "served"] and np.isnan(scores.loc["d", "ndcg"])
    assert list(scores.index) == ["a", "b", "c", "d"]


def test_mean_of_user_scores_is_evaluate(lists: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, test = lists
    scores = ev.user_scores(recs, test, k=2)
    overall = ev.evaluate(recs, test, k=2)
    served = scores[scores["served"]]
    for metric in ev.ACCURACY_METRICS:
        assert served[metric].mean() == pytest.approx(overall[metric])
    assert overall["n_users"] == len(served) == 3


def test_evaluate_by_group_equals_evaluating_each_group_alone(lists: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, test = lists
    groups = pd.Series({"a": "g1", "b": "g2", "c": "g1"})
    table = ev.evaluate(recs, test, k=3, by=groups)
    assert list(table.index) == ["g1", "g2", ev.GROUP_MISSING]  # d is not in `by`: kept, not dropped
    for group, users in {"g1": ["a", "c"], "g2": ["b"]}.items():
        alone = ev.evaluate(recs[recs["user_id"].isin(users)], test[test["user_id"].isin(users)], k=3)
        for metric in (*ev.ACCURACY_METRICS, "n_users", "user_coverage"):
            assert table.loc[group, metric] == pytest.approx(alone[metric])
    missing = table.loc[ev.GROUP_MISSING]
    assert missing["n_test_users"] == 1 and missing["n_users"] == 0 and np.isnan(missing["ndcg"])


def test_evaluate_by_group_follows_categorical_order_and_groups_user_scores(
    lists: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    recs, test = lists
    groups = pd.Series(pd.Categorical(["old", "new", "old", "new"], categories=["new", "old", "unused"]))
    groups.index = ["a", "b", "c", "d"]
    table = ev.evaluate(recs, test, k=3, by=groups)
    assert list(table.index) == ["new", "old"]
    scores = ev.user_scores(recs, test, k=3, by=groups)
    by_hand = scores[scores["served"]].groupby("group", observed=True)["ndcg"].mean()
    assert table.loc["old", "ndcg"] == pytest.approx(by_hand["old"])


def test_evaluate_accepts_any_matrix_with_item_index(lists: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, test = lists
    train = rs.interactions_from_frame(pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["x", "x", "y"]}))
    from_matrix = ev.evaluate(recs, test, k=3, train=train)
    from_frame = ev.evaluate(
        recs, test, k=3, train=pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["x", "x", "y"]})
    )
    assert from_matrix["novelty"] == pytest.approx(from_frame["novelty"])
    assert from_matrix["catalog_coverage"] == pytest.approx(1.0)


def test_evaluation_rejects_bad_group_mappings_and_missing_columns(lists: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    recs, test = lists
    with pytest.raises(TypeError, match="'by' parameter of evaluate"):
        ev.evaluate(recs, test, by=["g1"])
    with pytest.raises(ValueError, match="more than one group"):
        ev.evaluate(recs, test, by=pd.Series(["g1", "g2"], index=["a", "a"]))
    with pytest.raises(DatasetError, match="recs: required column 'rank' missing"):
        ev.user_scores(recs.drop(columns="rank"), test)
