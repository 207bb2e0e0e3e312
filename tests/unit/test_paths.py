"""Tests of lsc_utils.paths: path states, Markov chains, attribution, funnels, sequence and basket mining."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils import paths
from lsc_utils.constants import EVENT_TYPES
from lsc_utils.paths import (
    CONVERSION,
    END,
    NULL,
    START,
    MarkovPathModel,
    absorption_probabilities,
    association_rules,
    build_channel_journeys,
    build_session_paths,
    expected_steps_to_absorption,
    frequent_itemsets,
    frequent_paths,
    funnel,
    funnel_conversion_times,
    funnel_dropoffs,
    markov_attribution,
    prefixspan,
    sankey_flows,
    transitions_table,
    viewed_not_bought,
)
from lsc_utils.schema import DatasetError

TS = "datetime64[us, UTC]"


def make_events(
    rows: list[tuple], columns: tuple[str, ...] = ("user_id", "session_id", "ts", "event_type")
) -> pd.DataFrame:
    """Canonical-typed events from tuples; ``ts`` given in seconds."""
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True).astype(TS)
    for column in frame.columns:
        if column != "ts":
            frame[column] = frame[column].astype("str")
    return frame


@pytest.fixture
def four_sessions() -> pd.DataFrame:
    """s1 converts after a cart, s2 leaves, s3 repeats a view, s4 converts after going back."""
    return make_events(
        [
            ("u1", "s1", 0, "view_item"),
            ("u1", "s1", 5, "add_to_cart"),
            ("u1", "s1", 9, "pay"),
            ("u1", "s1", 12, "view_item"),  # after the conversion: cut in absorbing mode
            ("u2", "s2", 0, "view_item"),
            ("u3", "s3", 0, "view_item"),
            ("u3", "s3", 1, "view_item"),
            ("u3", "s3", 2, "add_to_cart"),
            ("u4", "s4", 0, "view_item"),
            ("u4", "s4", 3, "add_to_cart"),
            ("u4", "s4", 4, "view_item"),
            ("u4", "s4", 8, "pay"),
        ]
    )


def as_dict(counts: pd.DataFrame) -> dict[tuple[str, str], int]:
    return {(f, t): int(c) for f, t, c in counts[["from_state", "to_state", "count"]].itertuples(index=False)}


# --------------------------------------------------------------------------------------------------
# A pure-Python reference of the path semantics (module docstring), for cross-checks
# --------------------------------------------------------------------------------------------------


def reference_paths(
    events: pd.DataFrame,
    absorbing: bool,
    collapse: bool,
    unmapped: str,
    state_map: dict[str, str] | None,
    conversion: str = "pay",
) -> list[list[str]]:
    mapping = state_map if state_map is not None else {t: t for t in EVENT_TYPES}
    sessions: dict[tuple[str, str], list[tuple]] = {}
    for row, (user, session, ts, kind) in enumerate(
        events[["user_id", "session_id", "ts", "event_type"]].itertuples(index=False)
    ):
        sessions.setdefault((user, session), []).append((ts, row, kind))
    result = []
    for key in sorted(sessions):
        states, terminal = [], END
        if absorbing:
            terminal = NULL
        for _, _, kind in sorted(sessions[key]):
            if absorbing and kind == conversion:
                terminal = CONVERSION
                break
            state = mapping.get(kind, "other" if unmapped == "other" else None)
            if state is None or (collapse and states and states[-1] == state):
                continue
            states.append(state)
        result.append([START, *states, terminal])
    return result


def reference_counts(path_list: list[list[str]], order: int) -> dict[tuple[str, str], int]:
    counts: Counter = Counter()
    for path in path_list:
        for i in range(1, len(path)):
            source = " > ".join(path[max(0, i - order) : i])
            target = path[i] if i == len(path) - 1 else " > ".join(path[max(0, i - order + 1) : i + 1])
            counts[(source, target)] += 1
    return dict(counts)


def random_events(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["view_item", "add_to_cart", "pay", "like", "comment"], n, p=[0.4, 0.2, 0.1, 0.2, 0.1])
    rows = list(
        zip(
            rng.integers(0, 12, n).astype(str),
            rng.integers(0, 4, n).astype(str),
            rng.integers(0, 30, n),  # few distinct seconds: many timestamp ties
            kinds,
            strict=True,
        )
    )
    return make_events(rows)


# --------------------------------------------------------------------------------------------------
# Session paths
# --------------------------------------------------------------------------------------------------


def test_session_paths_cut_at_conversion_and_end_in_null(four_sessions: pd.DataFrame) -> None:
    table = build_session_paths(four_sessions).set_index("session_id")
    assert table.loc["s1", "path"] == "START > view_item > add_to_cart > CONVERSION"
    assert table.loc["s2", "path"] == "START > view_item > NULL"
    assert table.loc["s3", "path"] == "START > view_item > view_item > add_to_cart > NULL"
    assert table.loc["s4", "path"] == "START > view_item > add_to_cart > view_item > CONVERSION"
    assert table["converted"].tolist() == [True, False, False, True]
    assert table["n_states"].tolist() == [2, 1, 3, 3]


def test_session_paths_non_absorbing_keeps_events_after_pay_and_collapses(four_sessions: pd.DataFrame) -> None:
    table = build_session_paths(four_sessions, absorbing=False, collapse_repeats=True).set_index("session_id")
    assert table.loc["s1", "path"] == "START > view_item > add_to_cart > pay > view_item > END"
    assert table.loc["s3", "path"] == "START > view_item > add_to_cart > END"


def test_state_map_drop_or_other_and_ties_follow_row_order() -> None:
    events = make_events(
        [
            ("u", "s", 0, "enter_room"),
            ("u", "s", 1, "like"),  # same second as the view below, but earlier row
            ("u", "s", 1, "view_item"),
            ("u", "s", 2, "comment"),
        ]
    )
    state_map = {"view_item": "browse", "like": "engage"}
    dropped = build_session_paths(events, state_map=state_map)["path"].iloc[0]
    other = build_session_paths(events, state_map=state_map, unmapped="other")["path"].iloc[0]
    assert dropped == "START > engage > browse > NULL"
    assert other == "START > other > engage > browse > other > NULL"
    reversed_rows = events.iloc[[0, 2, 1, 3]].reset_index(drop=True)
    assert build_session_paths(reversed_rows, state_map=state_map)["path"].iloc[0] == "START > browse > engage > NULL"


def test_session_without_any_state_is_start_to_terminal() -> None:
    events = make_events([("u", "s", 0, "like"), ("v", "t", 0, "pay")])
    model = MarkovPathModel(state_map={"view_item": "view"}).fit(events)
    assert as_dict(model.transition_counts_) == {(START, NULL): 1, (START, CONVERSION): 1}


# --------------------------------------------------------------------------------------------------
# Markov model
# --------------------------------------------------------------------------------------------------


def test_transition_counts_and_matrix_on_hand_case(four_sessions: pd.DataFrame) -> None:
    model = MarkovPathModel().fit(four_sessions)
    assert as_dict(model.transition_counts_) == {
        (START, "view_item"): 4,
        ("view_item", "add_to_cart"): 3,
        ("view_item", NULL): 1,
        ("view_item", "view_item"): 1,
        ("view_item", CONVERSION): 1,
        ("add_to_cart", CONVERSION): 1,
        ("add_to_cart", NULL): 1,
        ("add_to_cart", "view_item"): 1,
    }
    assert model.states_ == [START, "add_to_cart", "view_item", CONVERSION, NULL]
    matrix = model.transition_matrix_
    np.testing.assert_allclose(matrix.sum(axis=1).to_numpy(), 1.0, atol=1e-12)
    assert matrix.loc["view_item", "add_to_cart"] == pytest.approx(3 / 6, abs=1e-12)
    assert matrix.loc[CONVERSION, CONVERSION] == 1.0
    assert model.n_sessions_ == 4


def test_conversion_probability_and_expected_steps_on_hand_case(four_sessions: pd.DataFrame) -> None:
    model = MarkovPathModel().fit(four_sessions)
    # Rows: view -> cart 1/2, view 1/6, CONV 1/6, NULL 1/6; cart -> view 1/3, CONV 1/3, NULL 1/3.
    # v = 1/2 c + 1/6 v + 1/6 and c = 1/3 + 1/3 v  =>  v = 1/3 + v/3  =>  v = 1/2, c = 1/2, START = v.
    expected_conversion = {START: 0.5, "view_item": 0.5, "add_to_cart": 0.5}
    # t_v = 1 + 1/2 t_c + 1/6 t_v and t_c = 1 + 1/3 t_v  =>  2/3 t_v = 3/2  =>  t_v = 9/4, t_c = 7/4, t_START = 13/4.
    expected_steps = {START: 3.25, "view_item": 2.25, "add_to_cart": 1.75}
    for state, value in expected_conversion.items():
        assert model.conversion_probability_[state] == pytest.approx(value, abs=1e-12)
    for state, value in expected_steps.items():
        assert model.expected_steps_[state] == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(model.absorption_probabilities_.sum(axis=1), 1.0, atol=1e-12)


def test_absorption_probabilities_and_expected_steps_of_hand_matrix() -> None:
    states = [START, "A", "B", CONVERSION, NULL]
    matrix = pd.DataFrame(
        [
            [0, 1.0, 0, 0, 0],
            [0, 0, 0.5, 0.2, 0.3],
            [0, 0.4, 0, 0.6, 0],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 0, 1],
        ],
        index=states,
        columns=states,
        dtype=float,
    )
    # a = 0.5 b + 0.2, b = 0.4 a + 0.6  =>  a = 0.2 a + 0.5  =>  a = 0.625, b = 0.85; START = a.
    probabilities = absorption_probabilities(matrix, [CONVERSION, NULL])
    np.testing.assert_allclose(probabilities[CONVERSION].to_numpy(), [0.625, 0.625, 0.85], atol=1e-12)
    np.testing.assert_allclose(probabilities[NULL].to_numpy(), [0.375, 0.375, 0.15], atol=1e-12)
    # t_A = 1 + 0.5 t_B, t_B = 1 + 0.4 t_A  =>  t_A = 1.5 + 0.2 t_A = 1.875, t_B = 1.75, t_START = 2.875.
    steps = expected_steps_to_absorption(matrix, [CONVERSION, NULL])
    np.testing.assert_allclose(steps.to_numpy(), [2.875, 1.875, 1.75], atol=1e-12)


def test_absorption_rejects_a_matrix_whose_rows_do_not_sum_to_one() -> None:
    matrix = pd.DataFrame([[0.5, 0.4], [0.0, 1.0]], index=["A", NULL], columns=["A", NULL])
    with pytest.raises(ValueError, match="Row 'A' sums to 0.9"):
        absorption_probabilities(matrix, [NULL])


def test_second_order_states_on_hand_case(four_sessions: pd.DataFrame) -> None:
    model = MarkovPathModel(order=2).fit(four_sessions.query("session_id in ['s1', 's2']"))
    assert as_dict(model.transition_counts_) == {
        (START, "START > view_item"): 2,
        ("START > view_item", "view_item > add_to_cart"): 1,
        ("view_item > add_to_cart", CONVERSION): 1,
        ("START > view_item", NULL): 1,
    }
    np.testing.assert_allclose(model.transition_matrix_.sum(axis=1).to_numpy(), 1.0, atol=1e-12)
    assert model.conversion_probability_[START] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("absorbing", [True, False])
@pytest.mark.parametrize("collapse", [True, False])
@pytest.mark.parametrize("unmapped", ["drop", "other"])
@pytest.mark.parametrize("mapped", [False, True])
def test_counts_equal_a_python_reference_for_orders_1_to_3(
    absorbing: bool, collapse: bool, unmapped: str, mapped: bool
) -> None:
    events = random_events(seed=3)
    state_map = {"view_item": "view", "add_to_cart": "cart", "like": "view"} if mapped else None
    reference = reference_paths(events, absorbing, collapse, unmapped, state_map)
    for order in (1, 2, 3):
        model = MarkovPathModel(
            order=order, state_map=state_map, collapse_repeats=collapse, absorbing=absorbing, unmapped=unmapped
        ).fit(events)
        assert as_dict(model.transition_counts_) == reference_counts(reference, order), order
        np.testing.assert_allclose(model.transition_matrix_.sum(axis=1).to_numpy(), 1.0, atol=1e-12)


def test_first_order_fast_query_equals_generic_path_steps_query() -> None:
    events = random_events(seed=11, n=600)
    for absorbing, collapse in itertools.product([True, False], repeat=2):
        spec = paths._PathSpec(state_map={"view_item": "v", "pay": "p"}, collapse_repeats=collapse, absorbing=absorbing)
        with paths._events_connection(events, spec.columns, "test") as con:
            paths._register_state_map(con, spec)
            fast = con.execute(paths._first_order_counts_sql(spec), {"conversion_event": "pay"}).df()
            generic = con.execute(paths._transition_counts_sql(spec, 1), {"conversion_event": "pay"}).df()
        assert as_dict(fast) == as_dict(generic)


def test_non_absorbing_chain_and_hitting_probability(four_sessions: pd.DataFrame) -> None:
    model = MarkovPathModel(absorbing=False).fit(four_sessions)
    assert model.states_[-1] == END
    counts = as_dict(model.transition_counts_)
    # s1 and s2 end on a view, s3 on a cart, s4 on pay.
    assert counts[("pay", "view_item")] == 1 and counts[("view_item", END)] == 2
    # Hitting probability of 'pay' before END: solve (I - Q) h = r independently with numpy, where Q
    # is the chain restricted to the states other than pay and END, and r the probabilities into pay.
    states = model.states_
    p = model.transition_matrix_.to_numpy()
    transient = [i for i, s in enumerate(states) if s not in ("pay", END)]
    q = p[np.ix_(transient, transient)]
    r = p[transient, states.index("pay")]
    hit = np.linalg.solve(np.eye(len(transient)) - q, r)
    np.testing.assert_allclose(model.conversion_probability_.drop("pay").to_numpy(), hit, atol=1e-12)
    assert model.conversion_probability_["pay"] == 1.0


def test_item_level_states_from_another_column() -> None:
    events = make_events(
        [("u", "s", 0, "view_item", "i1"), ("u", "s", 1, "view_item", "i2"), ("u", "s", 2, "view_item", "i1")],
        ("user_id", "session_id", "ts", "event_type", "item_id"),
    )
    model = MarkovPathModel(absorbing=False, state_column="item_id").fit(events)
    assert as_dict(model.transition_counts_) == {(START, "i1"): 1, ("i1", "i2"): 1, ("i2", "i1"): 1, ("i1", END): 1}
    assert (model.conversion_probability_ == 0).all()


def test_parquet_input_equals_dataframe_input(tmp_path: Path, four_sessions: pd.DataFrame) -> None:
    file = tmp_path / "events.parquet"
    four_sessions.to_parquet(file, index=False)
    from_frame = MarkovPathModel(order=2).fit(four_sessions)
    from_file = MarkovPathModel(order=2).fit(file)
    from_folder = MarkovPathModel(order=2).fit(tmp_path)
    pd.testing.assert_frame_equal(from_frame.transition_counts_, from_file.transition_counts_)
    pd.testing.assert_frame_equal(from_frame.transition_counts_, from_folder.transition_counts_)


def test_fit_is_deterministic_and_independent_of_row_order_without_ties() -> None:
    rng = np.random.default_rng(5)
    n = 300
    events = make_events(
        list(
            zip(
                rng.integers(0, 20, n).astype(str),
                rng.integers(0, 3, n).astype(str),
                rng.permutation(n),  # distinct timestamps: no ties
                rng.choice(["view_item", "add_to_cart", "pay", "favorite"], n),
                strict=True,
            )
        )
    )
    first = MarkovPathModel(order=2, collapse_repeats=True).fit(events)
    second = MarkovPathModel(order=2, collapse_repeats=True).fit(events)
    shuffled = MarkovPathModel(order=2, collapse_repeats=True).fit(events.sample(frac=1.0, random_state=1))
    for other in (second, shuffled):
        pd.testing.assert_frame_equal(first.transition_counts_, other.transition_counts_)
        pd.testing.assert_frame_equal(first.transition_matrix_, other.transition_matrix_)
        pd.testing.assert_series_equal(first.conversion_probability_, other.conversion_probability_)


def test_params_are_stored_unchanged_and_validated_in_fit(four_sessions: pd.DataFrame) -> None:
    from sklearn.base import clone

    state_map = {"view_item": "v"}
    model = MarkovPathModel(order=0, state_map=state_map)
    assert model.order == 0 and model.state_map is state_map
    assert clone(model.set_params(order=2)).get_params()["order"] == 2
    assert not hasattr(clone(MarkovPathModel().fit(four_sessions)), "transition_counts_")
    model.set_params(order=0)
    with pytest.raises(
        ValueError, match=r"The 'order' parameter of MarkovPathModel must be an int >= 1. Got 0 instead."
    ):
        model.fit(four_sessions)
    with pytest.raises(ValueError, match="'unmapped' parameter of MarkovPathModel must be one of 'drop', 'other'"):
        MarkovPathModel(unmapped="keep").fit(four_sessions)
    with pytest.raises(ValueError, match="maps 'view_item' to 'START'"):
        MarkovPathModel(state_map={"view_item": START}).fit(four_sessions)


def test_clear_errors_for_bad_events(four_sessions: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"required column 'session_id' missing for MarkovPathModel.fit"):
        MarkovPathModel().fit(four_sessions.drop(columns="session_id"))
    nulls = four_sessions.copy()
    nulls.loc[[0, 1], "session_id"] = pd.NA
    with pytest.raises(DatasetError, match="column 'session_id' has 2 null values"):
        MarkovPathModel().fit(nulls)
    with pytest.raises(DatasetError, match="column 'ts' must hold timestamps"):
        MarkovPathModel().fit(four_sessions.assign(ts=1))
    with pytest.raises(DatasetError, match="mixed types"):
        MarkovPathModel().fit(four_sessions.astype({"session_id": object}).assign(session_id=[1, "a"] * 6))
    with pytest.raises(DatasetError, match="the events Parquet file does not exist"):
        MarkovPathModel().fit(tmp_path / "missing.parquet")


def test_transitions_table_and_sankey_flows(four_sessions: pd.DataFrame) -> None:
    model = MarkovPathModel().fit(four_sessions)
    table = transitions_table(model)
    assert list(table.columns) == ["from_state", "to_state", "count", "probability"]
    np.testing.assert_allclose(table.groupby("from_state")["probability"].sum(), 1.0, atol=1e-12)
    flows = sankey_flows(model, top_n=3)
    assert flows.to_dict("records") == [
        {"source": START, "target": "view_item", "value": 4},
        {"source": "view_item", "target": "add_to_cart", "value": 3},
        {"source": "add_to_cart", "target": CONVERSION, "value": 1},
    ]
    with pytest.raises(ValueError, match="must be a fitted MarkovPathModel"):
        sankey_flows(MarkovPathModel())


# --------------------------------------------------------------------------------------------------
# Attribution
# --------------------------------------------------------------------------------------------------


def test_removal_effects_equal_the_hand_computed_absorbing_chain() -> None:
    journeys = pd.DataFrame({"path": ["search > ad", "ad", "search"], "conversions": [2, 1, 0], "nulls": [0, 1, 2]})
    # Transitions (weights): START->search 2+2=4, START->ad 2, search->ad 2, search->NULL 2, ad->CONV 2+1=3, ad->NULL 1.
    # P: START: search 2/3, ad 1/3; search: ad 1/2, NULL 1/2; ad: CONV 3/4, NULL 1/4.
    # P(conv | ad) = 3/4, P(conv | search) = 1/2 * 3/4 = 3/8, P(conv) = 2/3 * 3/8 + 1/3 * 3/4 = 1/2.
    # Without search: START->search goes to NULL: P = 1/3 * 3/4 = 1/4, removal effect 1 - (1/4)/(1/2) = 1/2.
    # Without ad: every path to CONV passes ad: P = 0, removal effect 1.
    # Normalised: search 1/3, ad 2/3 of the 3 conversions -> 1 and 2.
    table = markov_attribution(journeys).set_index("channel")
    np.testing.assert_allclose(table.loc[["ad", "search"], "removal_effect"], [1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(table.loc[["ad", "search"], "conversion_probability_without"], [0.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(table.loc[["ad", "search"], "markov_conversions"], [2.0, 1.0], atol=1e-12)
    # First touch: "search > ad" (2) -> search, "ad" (1) -> ad; last touch: all 3 -> ad;
    # linear: "search > ad" gives 1 each, "ad" gives 1 to ad.
    assert table.loc[["ad", "search"], "first_touch"].tolist() == [1.0, 2.0]
    assert table.loc[["ad", "search"], "last_touch"].tolist() == [3.0, 0.0]
    assert table.loc[["ad", "search"], "linear"].tolist() == [2.0, 1.0]
    assert table["markov_conversions"].sum() == pytest.approx(3.0, abs=1e-12)


def test_build_channel_journeys_splits_at_conversions() -> None:
    events = make_events(
        [
            ("u1", "a", 0, "view_item", "search"),
            ("u1", "a", 1, "view_item", "ad"),  # not the session's first channel
            ("u1", "b", 100, "view_item", "ad"),
            ("u1", "b", 101, "pay", "ad"),  # closes journey 1: search > ad
            ("u1", "c", 200, "view_item", "direct"),  # journey 2, unconverted
            ("u2", "d", 0, "view_item", None),  # no channel in the session: no touchpoint
            ("u2", "e", 10, "view_item", "search"),
            ("u3", "f", 0, "pay", None),  # converted journey without touchpoints: left out
        ],
        ("user_id", "session_id", "ts", "event_type", "channel"),
    )
    events.loc[events["channel"] == "None", "channel"] = pd.NA
    journeys = build_channel_journeys(events)
    assert journeys.to_dict("records") == [
        {"path": "direct", "conversions": 0, "nulls": 1},
        {"path": "search", "conversions": 0, "nulls": 1},
        {"path": "search > ad", "conversions": 1, "nulls": 0},
    ]


def test_attribution_rejects_journeys_without_conversions() -> None:
    with pytest.raises(DatasetError, match="no conversions"):
        markov_attribution(pd.DataFrame({"path": ["ad"], "conversions": [0], "nulls": [3]}))


# --------------------------------------------------------------------------------------------------
# Funnels
# --------------------------------------------------------------------------------------------------

DAY = 86_400


@pytest.fixture
def funnel_events() -> pd.DataFrame:
    rows = [
        ("A", 0, "view_item", "ad"),
        ("A", 10, "like", "ad"),
        ("A", 20, "add_to_cart", "ad"),
        ("A", 30, "pay", "ad"),
        ("B", 0, "view_item", "search"),
        ("B", 5, "add_to_cart", "search"),
        ("B", DAY + 100, "pay", "search"),  # outside a 1-day window
        ("C", 0, "add_to_cart", "ad"),
        ("C", 10, "view_item", "ad"),
        ("C", 20, "pay", "ad"),
        ("D", 0, "view_item", "search"),  # too early: the chain starts at the second view
        ("D", 2 * DAY, "view_item", "ad"),
        ("D", 2 * DAY + 100, "add_to_cart", "ad"),
        ("D", 2 * DAY + 200, "pay", "ad"),
        ("E", 0, "pay", "ad"),
    ]
    frame = make_events(
        [(u, "s", t, k, c) for u, t, k, c in rows], ("user_id", "session_id", "ts", "event_type", "channel")
    )
    return frame.drop(columns="session_id")


def test_ordered_strict_and_any_funnels_on_hand_case(funnel_events: pd.DataFrame) -> None:
    # ordered: step 1 = A, B, C, D; step 2 = A, B, D (C's cart precedes its view); step 3 = A, D (B pays too late).
    # strict: step 2 = B, D (A has a like between view and cart); step 3 = D.
    # any: step 1 adds E (pay is a step); 2 steps: A, B, C, D; 3 steps: A, C, D.
    expected = {"ordered": [4, 3, 2], "strict": [4, 2, 1], "any": [5, 4, 3]}
    for order, users in expected.items():
        table = funnel(funnel_events, window="1D", order=order)
        assert table["users"].tolist() == users, order
        np.testing.assert_allclose(table["overall_conversion"], np.array(users) / users[0], atol=1e-12)
        np.testing.assert_allclose(
            table["step_conversion"], [1.0, users[1] / users[0], users[2] / users[1]], atol=1e-12
        )
        assert table["dropped"].tolist() == [0, users[0] - users[1], users[1] - users[2]]
    assert funnel(funnel_events, window="3D", order="ordered")["users"].tolist() == [4, 3, 3]


def test_funnel_median_times_and_window_boundary(funnel_events: pd.DataFrame) -> None:
    table = funnel(funnel_events, window="1D")
    # step 2 from step 1: A 20, B 5, D 100 -> 20; step 3 from step 2: A 10, D 100 -> 55; from start: A 30, D 200 -> 115.
    assert table["median_seconds_from_previous"].tolist()[1:] == [20.0, 55.0]
    assert table["median_seconds_from_start"].tolist()[1:] == [20.0, 115.0]
    boundary = make_events([("u", "s", 0, "view_item"), ("u", "s", 60, "add_to_cart")]).drop(columns="session_id")
    assert funnel(boundary, steps=["view_item", "add_to_cart"], window="60s")["users"].tolist() == [1, 1]
    assert funnel(boundary, steps=["view_item", "add_to_cart"], window="59s")["users"].tolist() == [1, 0]


def test_funnel_ties_follow_row_order() -> None:
    cart_first = make_events([("u", "s", 0, "add_to_cart"), ("u", "s", 0, "view_item")]).drop(columns="session_id")
    view_first = cart_first.iloc[::-1].reset_index(drop=True)
    steps = ["view_item", "add_to_cart"]
    assert funnel(cart_first, steps=steps)["users"].tolist() == [1, 0]
    assert funnel(view_first, steps=steps)["users"].tolist() == [1, 1]


def test_funnel_breakdown_dropoffs_and_user_times(funnel_events: pd.DataFrame) -> None:
    by_channel = funnel(funnel_events, window="1D", by="channel")
    # The breakdown value is the channel of the chain's step-1 event; D counts under "ad" (its
    # converting chain) and "search" (its first view, which reaches step 1 only).
    pivot = by_channel.pivot(index="by_value", columns="step", values="users")
    assert pivot.loc["ad"].tolist() == [3, 2, 2]  # A, C, D
    assert pivot.loc["search"].tolist() == [2, 1, 0]  # B, D
    assert funnel_dropoffs(funnel_events, step=1, window="1D")["user_id"].tolist() == ["C"]
    assert funnel_dropoffs(funnel_events, step=2, window="1D")["user_id"].tolist() == ["B"]
    times = funnel_conversion_times(funnel_events, window="1D").set_index("user_id")
    assert times.loc["D", "steps_reached"] == 3
    assert times.loc["D", "step_1_ts"] == pd.Timestamp(2 * DAY, unit="s", tz="UTC")
    assert times.loc["D", "seconds_to_step_3"] == 200.0
    assert np.isnan(times.loc["B", "seconds_to_step_3"])
    with pytest.raises(ValueError, match="'step' parameter of funnel_dropoffs must be < the number of steps"):
        funnel_dropoffs(funnel_events, step=3)


def test_funnel_without_step_one_events_is_empty_but_well_formed(funnel_events: pd.DataFrame) -> None:
    table = funnel(funnel_events, steps=["favorite", "pay"], by="channel")
    assert len(table) == 0 and list(table.columns)[:3] == ["by_value", "step", "step_name"]
    plain = funnel(funnel_events, steps=["favorite", "pay"])
    assert plain["users"].tolist() == [0, 0] and plain["overall_conversion"].isna().all()


def test_funnel_parameter_errors(funnel_events: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'window' parameter of funnel must be a positive duration"):
        funnel(funnel_events, window=86400)
    with pytest.raises(ValueError, match="'order' parameter of funnel must be one of 'strict', 'ordered', 'any'"):
        funnel(funnel_events, order="loose")
    with pytest.raises(ValueError, match="must not repeat a step with order='any'"):
        funnel(funnel_events, steps=["view_item", "view_item"], order="any")


def test_funnel_with_a_repeated_step_needs_two_events(funnel_events: pd.DataFrame) -> None:
    table = funnel(funnel_events, steps=["view_item", "view_item"], window="3D")
    assert table["users"].tolist() == [4, 1]  # only D viewed twice


# --------------------------------------------------------------------------------------------------
# PrefixSpan
# --------------------------------------------------------------------------------------------------


def brute_force_patterns(sequences: list[list[str]], weights: list[int], min_support: int, max_length: int) -> dict:
    support: Counter = Counter()
    for sequence, weight in zip(sequences, weights, strict=True):
        contained = set()
        for length in range(1, max_length + 1):
            for positions in itertools.combinations(range(len(sequence)), length):
                contained.add(tuple(sequence[p] for p in positions))
        for pattern in contained:
            support[pattern] += weight
    return {p: s for p, s in support.items() if s >= min_support}


@pytest.mark.parametrize("seed", range(6))
def test_prefixspan_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sequences = [list(rng.choice(list("abcd"), rng.integers(0, 8))) for _ in range(40)]
    weights = rng.integers(1, 4, len(sequences)).tolist()
    min_support = int(rng.integers(2, 12))
    max_length = int(rng.integers(1, 5))
    mined = prefixspan(sequences, min_support, max_length, weights)
    assert len(mined) == len({p for p, _ in mined})
    assert dict(mined) == brute_force_patterns(sequences, weights, min_support, max_length)


def test_prefixspan_without_length_limit_and_errors() -> None:
    sequences = [["a", "b", "a", "b"], ["a", "b"], ["b", "a"]]
    mined = dict(prefixspan(sequences, min_support=1))
    assert mined[("a", "b", "a", "b")] == 1 and mined[("a", "b")] == 2 and mined[("b", "a")] == 2
    with pytest.raises(ValueError, match=r"The 'min_support' parameter of prefixspan must be an int >= 1. Got 0"):
        prefixspan(sequences, min_support=0)


def test_frequent_paths_count_sessions(four_sessions: pd.DataFrame) -> None:
    table = frequent_paths(four_sessions, min_support=2, max_length=3).set_index("pattern")
    # Sessions: s1 view cart pay view; s2 view; s3 view view cart; s4 view cart view pay.
    assert table.loc["view_item", "support"] == 4
    assert table.loc["view_item > add_to_cart", "support"] == 3
    assert table.loc["view_item > add_to_cart > pay", "support"] == 2
    assert table.loc["view_item > add_to_cart > view_item", "support"] == 2
    assert table.loc["view_item > view_item", "support"] == 3
    assert table.loc["view_item > add_to_cart", "support_share"] == pytest.approx(0.75, abs=1e-12)
    assert "add_to_cart > add_to_cart" not in table.index
    collapsed = frequent_paths(four_sessions, min_support=2, max_length=3, collapse_repeats=True)
    assert collapsed.set_index("pattern").loc["view_item > view_item", "support"] == 2  # s1 and s4


# --------------------------------------------------------------------------------------------------
# Baskets
# --------------------------------------------------------------------------------------------------


def basket_events(baskets: list[list[str]]) -> pd.DataFrame:
    rows = [(f"u{b}", f"s{b}", b, "pay", f"o{b}", item) for b, items in enumerate(baskets) for item in items]
    return make_events(rows, ("user_id", "session_id", "ts", "event_type", "order_id", "item_id"))


def test_association_rules_on_hand_case() -> None:
    events = basket_events([["a", "b"], ["a", "b", "c"], ["a", "c"], ["b"], ["a"]])
    # supports: a 4/5, b 3/5, c 2/5, ab 2/5, ac 2/5, bc 1/5 (not frequent at 0.4).
    rules = association_rules(events, min_support=0.4, min_confidence=0.0)
    by_rule = {(r["antecedents"], r["consequents"]): r for r in rules.to_dict("records")}
    assert len(rules) == 4
    expected = {
        # (A, C): confidence, lift, leverage, conviction
        (("a",), ("b",)): (0.5, 0.5 / 0.6, 0.4 - 0.8 * 0.6, (1 - 0.6) / (1 - 0.5)),
        (("b",), ("a",)): (2 / 3, (2 / 3) / 0.8, 0.4 - 0.8 * 0.6, (1 - 0.8) / (1 - 2 / 3)),
        (("a",), ("c",)): (0.5, 0.5 / 0.4, 0.4 - 0.8 * 0.4, (1 - 0.4) / (1 - 0.5)),
        (("c",), ("a",)): (1.0, 1.0 / 0.8, 0.4 - 0.8 * 0.4, np.inf),
    }
    for key, (confidence, lift, leverage, conviction) in expected.items():
        row = by_rule[key]
        assert row["support"] == pytest.approx(0.4, abs=1e-12)
        assert row["confidence"] == pytest.approx(confidence, abs=1e-12)
        assert row["lift"] == pytest.approx(lift, abs=1e-12)
        assert row["leverage"] == pytest.approx(leverage, abs=1e-12)
        assert row["conviction"] == pytest.approx(conviction, abs=1e-12)
    assert association_rules(events, min_support=0.4, min_confidence=0.6)["confidence"].min() >= 0.6


def test_basket_falls_back_to_session_without_order_id() -> None:
    events = basket_events([["a", "b"], ["a", "b"]])
    events["order_id"] = pd.array([pd.NA] * len(events), dtype="str")
    itemsets = frequent_itemsets(events, min_support=1.0)
    assert dict(zip(itemsets["itemsets"], itemsets["count"], strict=True))[("a", "b")] == 2


def mlxtend_rules(baskets: list[list[str]], min_support: float, min_confidence: float, max_len: int) -> pd.DataFrame:
    mlxtend = pytest.importorskip("mlxtend.frequent_patterns")
    pairs = pd.DataFrame([(b, i) for b, items in enumerate(baskets) for i in set(items)], columns=["basket", "item"])
    onehot = pd.crosstab(pairs["basket"], pairs["item"]).astype(bool)
    itemsets = mlxtend.apriori(onehot, min_support=min_support, use_colnames=True, max_len=max_len, low_memory=True)
    rules = mlxtend.association_rules(
        itemsets, num_itemsets=len(onehot), metric="confidence", min_threshold=min_confidence
    )
    rules = rules.rename(
        columns={"antecedent support": "antecedent_support", "consequent support": "consequent_support"}
    )
    rules["antecedents"] = rules["antecedents"].map(lambda s: tuple(sorted(s)))
    rules["consequents"] = rules["consequents"].map(lambda s: tuple(sorted(s)))
    return rules.set_index(["antecedents", "consequents"]).sort_index()


def assert_rules_equal(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours.set_index(["antecedents", "consequents"]).sort_index()
    assert list(ours.index) == list(theirs.index)
    for column in (
        "antecedent_support",
        "consequent_support",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ):
        np.testing.assert_allclose(
            ours[column].to_numpy(), theirs[column].to_numpy(), rtol=0, atol=1e-9, err_msg=column
        )


@pytest.mark.parametrize("max_len", [2, 3])
def test_association_rules_equal_mlxtend_on_random_baskets(max_len: int) -> None:
    rng = np.random.default_rng(max_len)
    items = [f"i{k:02d}" for k in range(15)]
    popularity = rng.dirichlet(np.ones(len(items)))
    baskets = [list(rng.choice(items, rng.integers(1, 6), p=popularity)) for _ in range(300)]
    ours = association_rules(basket_events(baskets), min_support=0.03, min_confidence=0.2, max_len=max_len)
    theirs = mlxtend_rules(baskets, 0.03, 0.2, max_len)
    assert len(ours) > 20
    assert_rules_equal(ours, theirs)


# --------------------------------------------------------------------------------------------------
# Viewed but not bought
# --------------------------------------------------------------------------------------------------


def test_viewed_not_bought_with_and_without_window() -> None:
    events = make_events(
        [
            ("u1", "s", 0, "view_item", "a"),
            ("u1", "s", 100, "pay", "a"),
            ("u1", "s", 0, "view_item", "b"),
            ("u2", "s", 0, "view_item", "a"),
            ("u2", "s", DAY + 1, "pay", "a"),  # more than a day after the view
            ("u3", "s", 0, "pay", "c"),  # bought without a view: not in the table
            ("u3", "s", 5, "view_item", "c"),  # viewed after the purchase: not bought after a view
        ],
        ("user_id", "session_id", "ts", "event_type", "item_id"),
    )
    items = viewed_not_bought(events, window="1D").set_index("item_id")
    assert items.loc["a", ["viewers", "buyers", "viewed_not_bought"]].tolist() == [2, 1, 1]
    assert items.loc["a", "not_bought_rate"] == pytest.approx(0.5, abs=1e-12)
    assert items.loc["c", "viewed_not_bought"] == 1
    anytime = viewed_not_bought(events).set_index("item_id")
    assert anytime.loc["a", "buyers"] == 2
    users = viewed_not_bought(events, level="user", window="1D").set_index("user_id")
    assert users.loc["u1", ["items_viewed", "items_bought", "viewed_not_bought"]].tolist() == [2, 1, 1]
    pairs = viewed_not_bought(events, level="pair")
    assert pairs["bought"].tolist() == [True, False, True, False]


# --------------------------------------------------------------------------------------------------
# Real data: pm4py, mlxtend and brute-force references
# --------------------------------------------------------------------------------------------------


def load_taobao(shared_data: Path) -> pd.DataFrame:
    """Taobao head84k as canonical events in file order, with 30-minute sessions per user."""
    raw = pd.read_csv(
        shared_data / "taobao_userbehavior" / "UserBehavior_head84k.csv",
        header=None,
        names=["user_id", "item_id", "category_id", "behavior", "timestamp"],
        dtype={"user_id": "str", "item_id": "str", "category_id": "str", "behavior": "str"},
    )
    kinds = {"pv": "view_item", "cart": "add_to_cart", "fav": "favorite", "buy": "pay"}
    events = pd.DataFrame(
        {
            "user_id": raw["user_id"],
            "item_id": raw["item_id"],
            "event_type": raw["behavior"].map(kinds).astype("str"),
            "ts": pd.to_datetime(raw["timestamp"], unit="s", utc=True).astype(TS),
        }
    )
    ordered = events.sort_values(["user_id", "ts"], kind="stable")
    gap = ordered["ts"].diff() > pd.Timedelta(minutes=30)
    new_session = gap | (ordered["user_id"] != ordered["user_id"].shift())
    number = new_session.cumsum().astype("str")
    events["session_id"] = (ordered["user_id"] + "#" + number).reindex(events.index).astype("str")
    return events


def pm4py_dfg(events: pd.DataFrame, activity: str, via_event_log: bool = False) -> tuple[dict, dict, dict]:
    """pm4py's DFG, start and end activities (case = session), from its formatted DataFrame.

    ``via_event_log`` runs pm4py's EventLog implementation instead of its pandas one: same counts,
    but the pandas one iterates a dense activity x activity pivot in Python (30 s on YooChoose's
    2,933 items).
    """
    pm4py = pytest.importorskip("pm4py")
    log = pm4py.format_dataframe(
        events[["session_id", activity, "ts"]].copy(), case_id="session_id", activity_key=activity, timestamp_key="ts"
    )
    if via_event_log:
        log = pm4py.convert_to_event_log(log)
    return pm4py.discover_dfg(log)


def assert_counts_equal_dfg(model: MarkovPathModel, dfg: tuple[dict, dict, dict]) -> None:
    edges, starts, ends = dfg
    counts = model.transition_counts_
    inner = counts[(counts["from_state"] != START) & (counts["to_state"] != END)]
    assert as_dict(inner) == {k: int(v) for k, v in edges.items()}
    first = counts[counts["from_state"] == START]
    last = counts[counts["to_state"] == END]
    assert dict(zip(first["to_state"], first["count"], strict=True)) == {k: int(v) for k, v in starts.items()}
    assert dict(zip(last["from_state"], last["count"], strict=True)) == {k: int(v) for k, v in ends.items()}


@pytest.mark.realdata
def test_transition_counts_equal_pm4py_dfg_on_taobao(shared_data: Path) -> None:
    events = load_taobao(shared_data)
    assert events.duplicated(["session_id", "ts"]).sum() > 100  # timestamp ties exercise the tie-breaker
    model = MarkovPathModel(absorbing=False).fit(events)
    assert_counts_equal_dfg(model, pm4py_dfg(events, "event_type"))
    assert model.n_sessions_ == events["session_id"].nunique()


@pytest.mark.realdata
@pytest.mark.parametrize("file", ["yoochoose-clicks-100k_train_full.txt", "yoochoose-clicks-100k_test.txt"])
def test_item_level_counts_equal_pm4py_dfg_on_yoochoose(shared_data: Path, file: str) -> None:
    raw = pd.read_csv(
        shared_data / "yoochoose_rsc15_100k" / file, sep="\t", dtype={"SessionId": "str", "ItemId": "str"}
    )
    events = pd.DataFrame(
        {
            "user_id": raw["SessionId"],
            "session_id": raw["SessionId"],
            "ts": pd.to_datetime(raw["Time"], unit="s", utc=True).astype(TS),
            "event_type": pd.Series("view_item", index=raw.index, dtype="str"),
            "item_id": raw["ItemId"],
        }
    )
    model = MarkovPathModel(absorbing=False, state_column="item_id").fit(events)
    assert model.transition_counts_["count"].sum() == len(events) + events["session_id"].nunique()
    assert_counts_equal_dfg(model, pm4py_dfg(events, "item_id", via_event_log=True))


@pytest.mark.realdata
def test_association_rules_equal_mlxtend_on_online_retail(shared_data: Path) -> None:
    raw = pd.read_csv(
        shared_data / "online_retail_uci" / "Online_Retail_sample40k.csv",
        dtype={"InvoiceNo": "str", "StockCode": "str", "CustomerID": "str"},
    )
    raw = raw[~raw["InvoiceNo"].str.startswith("C")]
    events = pd.DataFrame(
        {
            "user_id": raw["CustomerID"].fillna("unknown"),
            "session_id": raw["InvoiceNo"],
            "ts": pd.to_datetime(raw["InvoiceDate"], utc=True).astype(TS),
            "event_type": "pay",
            "order_id": raw["InvoiceNo"],
            "item_id": raw["StockCode"],
        }
    ).astype({"event_type": "str"})
    baskets = raw.groupby("InvoiceNo")["StockCode"].apply(list).tolist()
    ours = association_rules(events, min_support=0.0003, min_confidence=0.1, max_len=3)
    theirs = mlxtend_rules(baskets, 0.0003, 0.1, 3)
    assert len(ours) >= 50
    assert_rules_equal(ours, theirs)


def brute_force_funnel_levels(events: pd.DataFrame, window: pd.Timedelta) -> list[int]:
    """Users with pv -> cart (-> buy) in order within the window, from the *latest* view before each cart."""
    w = window.value // 1000  # microseconds
    reached = [0, 0, 0]
    for _, user in events.groupby("user_id", sort=False):
        kinds = user["event_type"].to_numpy()
        ts = (user["ts"] - pd.Timestamp(0, tz="UTC")).to_numpy().astype("timedelta64[us]").astype(np.int64)
        views = np.flatnonzero(kinds == "view_item")
        if len(views) == 0:
            continue
        level = 1
        carts = np.flatnonzero(kinds == "add_to_cart")
        buys = np.flatnonzero(kinds == "pay")
        for c in carts:
            before = views[views < c]
            if len(before) == 0:
                continue
            t0 = ts[before[-1]]
            if ts[c] - t0 <= w:
                level = max(level, 2)
                later = buys[buys > c]
                if len(later) and (ts[later] - t0 <= w).any():
                    level = 3
        for j in range(level):
            reached[j] += 1
    return reached


@pytest.mark.realdata
@pytest.mark.parametrize("window", ["1D", "3D"])
def test_funnel_counts_equal_brute_force_on_taobao(shared_data: Path, window: str) -> None:
    events = load_taobao(shared_data)
    ordered = events.sort_values(["user_id", "ts"], kind="stable")  # event order: ts, then file row
    expected = brute_force_funnel_levels(ordered, pd.Timedelta(window))
    table = funnel(events, steps=["view_item", "add_to_cart", "pay"], window=window, order="ordered")
    assert table["users"].tolist() == expected
    assert expected[2] > 50  # a meaningful number of converting users


def test_wilson_interval_equals_scipy_and_breakdown_conversion_uses_step_one_users() -> None:
    from scipy import stats

    z = float(stats.norm.ppf(0.975))
    for k, n in ((0, 7), (8, 10), (3, 400), (50, 50)):
        reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = paths.wilson_interval([k], [n], z)
        assert low[0] == pytest.approx(reference.low, abs=1e-12) and high[0] == pytest.approx(reference.high, abs=1e-12)
    with pytest.raises(ValueError, match="at least one trial"):
        paths.wilson_interval([0], [0])
    table = pd.DataFrame(
        {
            "breakdown": ["all", "all", "device", "device", "device", "device"],
            "by_value": ["all", "all", "ios", "ios", "web", "web"],
            "step": [1, 2, 1, 2, 1, 2],
            "users": [30, 9, 10, 8, 20, 1],
            "overall_conversion": [1.0, 0.3, 1.0, 0.8, 1.0, 0.05],
        }
    )
    out = paths.breakdown_conversion(table, z=z)
    assert out[["by_value", "n", "users"]].values.tolist() == [["ios", 10, 8], ["web", 20, 1]]
    reference = stats.binomtest(8, 10).proportion_ci(method="wilson")
    assert out.loc[0, "ci_low"] == pytest.approx(reference.low, abs=1e-12)


def test_state_map_text_maps_merges_and_drops_event_types() -> None:
    assert paths.parse_state_map("") == {t: t for t in EVENT_TYPES}
    mapped = paths.parse_state_map(" like:engage, comment:engage ,share:")
    assert mapped["like"] == mapped["comment"] == "engage" and "share" not in mapped and mapped["pay"] == "pay"
    with pytest.raises(ValueError, match="'like' is not of the form event_type:state"):
        paths.parse_state_map("like")


def test_event_overview_basket_choice_and_user_attribute_copies(tmp_path: Path) -> None:
    ts = pd.Timestamp("2026-03-01", tz="UTC")
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "a"],
            "ts": [ts + pd.Timedelta(minutes=m) for m in (0, 1, 0, 5, 3, 1)],  # a tie in time for user a
            "event_type": ["view_item", "pay", "view_item", "pay", "like", "view_item"],
            "item_id": ["i1", "i1", "i2", "i3", None, "i9"],
            "order_id": [None, "o1", None, "o2", None, None],
            "session_id": ["a#1", "a#1", "b#1", "b#1", "c#1", "a#1"],
            "channel": ["ad", None, "search", None, None, "ad"],
        }
    )
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    overview = paths.event_overview(path)
    assert (overview.events, overview.sessions, overview.users) == (6, 3, 3)
    assert overview.event_types == {"like": 1, "pay": 2, "view_item": 3} and overview.has("pay")
    assert (overview.with_channel, overview.with_item) == (3, 5)
    assert paths.choose_basket(path) == "session_id"  # every order holds one item
    assert paths.choose_basket(path, ["like"]) is None  # the like has no item
    events.loc[5, ["event_type", "order_id"]] = ["pay", "o1"]  # order o1 now holds i1 and i9
    events.to_parquet(path, index=False)
    assert paths.choose_basket(path) == "order_id"
    device = pd.Series({"a": "ios", "b": "android"})
    copy = pd.read_parquet(paths.events_with_user_attribute(path, device, "by", tmp_path / "by.parquet"))
    assert copy["user_id"].tolist() == events["user_id"].tolist()  # the source's row order, ties included
    assert copy["by"].tolist() == ["ios", "ios", "android", "android", "unknown", "ios"]
    groups = paths.split_events_by_user_attribute(path, pd.Series({"a": "s1", "c": "s2", "z": "s3"}), tmp_path / "g")
    assert list(groups) == ["s1", "s2"]  # s3 has no events; b has no value
    assert pd.read_parquet(groups["s1"])["item_id"].tolist() == ["i1", "i1", "i9"]
    with pytest.raises(ValueError, match="is an event column"):
        paths.events_with_user_attribute(path, device, "channel", tmp_path / "x.parquet")
