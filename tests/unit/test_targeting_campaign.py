"""The planted campaign of the simulator, the campaign frame, budgeted policies and the Hillstrom adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils import targeting
from lsc_utils.checks import DatasetError
from lsc_utils.io import Dataset, load_dataset, save_dataset
from lsc_utils.schema import validate_table
from lsc_utils.targeting import budget, campaign


@pytest.fixture(scope="module")
def campaign_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lsc_utils.simulate import simulate

    return simulate(
        tmp_path_factory.mktemp("camp") / "d", n_users=400, n_days=28, seed=5, campaign=True, progress=False
    )


@pytest.fixture(scope="module")
def plain_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lsc_utils.simulate import simulate

    return simulate(tmp_path_factory.mktemp("plain") / "d", n_users=400, n_days=28, seed=5, progress=False)


def test_campaign_adds_rows_and_changes_nothing_else(campaign_sim: Path, plain_sim: Path) -> None:
    for table in ("users", "rooms", "comments"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(campaign_sim / f"{table}.parquet"), pd.read_parquet(plain_sim / f"{table}.parquet")
        )
    events, plain = pd.read_parquet(campaign_sim / "events.parquet"), pd.read_parquet(plain_sim / "events.parquet")
    added = events["order_id"].fillna("").str.startswith("CO")
    pd.testing.assert_frame_equal(events[~added].reset_index(drop=True), plain)
    items = pd.read_parquet(campaign_sim / "items.parquet")
    featured = items[items["tags"] == "campaign:C0001"]
    assert len(items) == len(pd.read_parquet(plain_sim / "items.parquet")) + len(featured)
    assert set(events.loc[added, "item_id"]) <= set(featured["item_id"])
    assert not set(plain["item_id"].dropna()) & set(featured["item_id"])  # nobody else buys them


def test_only_consenting_humans_are_randomised_and_the_truth_is_consistent(campaign_sim: Path) -> None:
    users = pd.read_parquet(campaign_sim / "users.parquet")
    exposures = pd.read_parquet(campaign_sim / "exposures.parquet")
    bots = set(pd.read_parquet(campaign_sim / "truth" / "bots.parquet")["user_id"])
    consenting = set(users.loc[users["consent_marketing"], "user_id"]) - bots
    assert set(exposures["user_id"]) == consenting
    assert set(exposures["arm"]) == {"control", "coupon_10", "coupon_20", "coupon_30"}
    assert (exposures["assignment_probability"] == 0.25).all() and exposures["ts"].nunique() == 1
    truth = pd.read_parquet(campaign_sim / "truth" / "campaign_users.parquet")
    for arm in ("coupon_10", "coupon_20", "coupon_30"):
        np.testing.assert_allclose(truth[f"tau_orders_{arm}"], truth[f"p_{arm}"] - truth["p_control"])
    dogs = truth[truth["group"] == "sleeping_dog"]
    assert len(dogs) and (dogs["tau_orders_coupon_10"] < 0).all()
    assert (truth.loc[truth["group"] == "sure_thing", "tau_orders_coupon_30"] == 0).all()
    bargain = truth[truth["segment"] == "bargain_hunter"]
    assert (bargain["tau_orders_coupon_30"] > bargain["tau_orders_coupon_10"]).all()  # elasticity


def test_a_campaign_needs_four_weeks() -> None:
    from lsc_utils.simulate import simulate

    with pytest.raises(ValueError, match="needs n_days >= 28"):
        simulate("unused", n_users=100, n_days=20, campaign=True, progress=False)


def _tiny_dataset(folder: Path) -> Path:
    ts = pd.to_datetime
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c"],
            "ts": ts(
                [
                    "2026-03-01 10:00",
                    "2026-03-05 10:00",
                    "2026-03-12 10:00",
                    "2026-03-02 10:00",
                    "2026-03-11 10:00",
                    "2026-03-11 12:00",
                ],
                utc=True,
            ),
            "event_type": ["pay", "view_item", "pay", "view_item", "pay", "pay"],
            "item_id": ["i1", "i1", "i2", "i1", "i1", "i2"],
            "price": [8.0, None, 50.0, None, 10.0, 40.0],
            "quantity": [1.0, None, 1.0, None, 1.0, 1.0],
            "order_id": ["o1", None, "o2", None, "o3", "o4"],
        }
    )
    items = pd.DataFrame(
        {"item_id": ["i1", "i2"], "category": ["x", "x"], "list_price": [10.0, 50.0], "tags": ["", "campaign:K"]}
    )
    exposures = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "campaign_id": "K",
            "arm": ["coupon_20", "control", "coupon_20"],
            "ts": ts(["2026-03-10 00:00"] * 3, utc=True),
            "assignment_probability": 0.5,
            "x_score": [1.5, 2.5, 3.5],
            "x_channel": ["web", "phone", "web"],
        }
    )
    meta = {"name": "t", "timezone": "UTC", "period": {"start": "2026-03-01", "end": "2026-03-31"}}
    save_dataset(Dataset(meta, {"events": events, "items": items, "exposures": exposures}), folder)
    return folder


def test_campaign_frame_features_before_outcomes_after_and_scoped_to_the_promoted_items(tmp_path: Path) -> None:
    frame = campaign.campaign_frame(_tiny_dataset(tmp_path), horizon_days=14).set_index("user_id")
    assert campaign.campaign_frame(tmp_path).attrs["outcome_tag"] == "campaign:K"
    assert frame.loc["a", "orders_before"] == 1 and frame.loc["a", "spend"] == 8.0  # the 03-12 pay is an outcome
    assert frame.loc["a", "avg_discount"] == pytest.approx(0.2)  # paid 8 for a list price of 10
    assert frame.loc["a", "orders"] == 1 and frame.loc["a", "revenue"] == 50.0  # i2 is promoted
    assert frame.loc["b", "orders"] == 0 and frame.loc["b", "visited"] == 1  # i1 is not promoted
    assert frame.loc["c", "has_history"] == 0 and frame.loc["c", "recency_days"] == 365.0
    assert frame.loc["c", "x_score"] == 3.5 and frame.loc["c", "x_channel"] == "web"
    everything = campaign.campaign_frame(tmp_path, outcome_tag="").set_index("user_id")
    assert everything.loc["b", "orders"] == 1
    matrix = campaign.design_matrix(campaign.campaign_frame(tmp_path))
    assert "x_score" in matrix and "x_channel=web" in matrix


def test_validation_keeps_experiment_covariates_with_their_types() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a"], "campaign_id": ["k"], "arm": ["control"], "ts": ["2026-03-01T00:00:00Z"],
            "assignment_probability": [0.5], "x_n": [3], "x_s": ["web"], "other": [1],
        }
    )  # fmt: skip
    out, _ = validate_table(frame, "exposures", "exposures.parquet")
    assert out["x_n"].dtype.kind == "i" and out["x_s"].iloc[0] == "web" and "other" not in out


def test_policies_rank_only_eligible_users_and_value_them_by_ipw_and_doubly_robust() -> None:
    score = np.array([5.0, 4.0, 3.0, -1.0])
    eligible = np.array([True, False, True, True])
    policy = budget.rank_policy(score, 3, "coupon", eligible, only_positive=True)
    assert list(policy) == ["coupon", "control", "coupon", "control"]
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({"arm": np.repeat(["control", "coupon"], n // 2), "assignment_probability": 0.5})
    y = rng.normal(size=n) + (frame["arm"] == "coupon") * 1.0
    everyone = np.full(n, "coupon", dtype=object)
    table = budget.evaluate_policies(frame, {"all": everyone}, {"y": y.to_numpy()}, n_boot=50)
    difference = y[frame["arm"] == "coupon"].mean() - y[frame["arm"] == "control"].mean()
    assert table.loc[0, "y"] / n == pytest.approx(difference)  # balanced arms: IPW = difference of means
    perfect = pd.DataFrame({"control": np.zeros(n), "coupon": np.ones(n)})
    dr = budget.evaluate_policies(frame, {"all": everyone}, {"y": y.to_numpy()}, n_boot=50, predictions={"y": perfect})
    assert dr.loc[0, "y"] / n == pytest.approx(difference, abs=1e-9)  # residuals balance exactly here
    zero = pd.DataFrame({"control": np.zeros(n), "coupon": np.zeros(n)})
    ipw = budget.evaluate_policies(frame, {"all": everyone}, {"y": y.to_numpy()}, n_boot=50, predictions={"y": zero})
    assert ipw.loc[0, "y"] == pytest.approx(table.loc[0, "y"])


def test_targeting_list_never_contacts_users_without_consent() -> None:
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u3"]})
    listed = budget.targeting_list(
        frame, [0.1, 0.2, 0.3], [0.3, 0.2, 0.1], np.array(["c", "c", "control"], dtype=object), [True, False, True]
    )
    actions = dict(zip(listed["user_id"], listed["action"], strict=True))
    assert actions == {"u1": "contact", "u2": "do_not_contact", "u3": "hold"}
    assert listed.loc[listed["user_id"] == "u2", "offer"].iloc[0] == ""


def test_offer_depths_scaling_groups_and_slopes() -> None:
    depths = campaign.arm_depths(["control", "coupon_10", "mail", "vip_30"], {"mail": 0.05})
    assert depths == {"control": 0.0, "coupon_10": 0.1, "mail": 0.05, "vip_30": 0.3}
    scaled = campaign.offer_uplift(np.array([0.2]), {"control": 0.0, "a_10": 0.1, "a_30": 0.3})
    assert scaled.loc[0, "a_10"] == pytest.approx(0.1) and scaled.loc[0, "a_30"] == pytest.approx(0.3)
    flat = campaign.offer_uplift(np.array([0.2]), {"control": 0.0, "m": 0.0, "w": 0.0})
    assert list(flat.iloc[0]) == [0.2, 0.2]
    groups = targeting.uplift_groups(np.array([0.2, -0.2, 0.0, 0.0]), np.array([0.1, 0.1, 0.9, 0.0]), 0.1)
    assert list(groups) == ["persuadable", "sleeping_dog", "sure_thing", "lost_cause"]
    effects = pd.DataFrame({"by": "band", "segment": "x", "depth": [0.1, 0.2, 0.3], "effect": [0.2, 0.4, 0.6]})
    assert targeting.depth_slopes(effects).loc[0, "slope_per_unit_depth"] == pytest.approx(2.0)


def test_hillstrom_adapter_maps_arms_covariates_and_outcomes(tmp_path: Path) -> None:
    from lsc_utils.datasets import convert

    raw = tmp_path / "hillstrom.csv"
    raw.write_text(
        "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n"
        '10,"2) $100 - $200",142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n'
        '6,"3) $200 - $350",329.08,1,1,Rural,1,Web,No E-Mail,1,0,0\n'
        '7,"2) $100 - $200",180.65,0,1,Surburban,1,Web,Mens E-Mail,1,1,29.99\n',
        encoding="utf-8",
    )
    data = load_dataset(convert("hillstrom", raw, tmp_path / "out"))
    exposures, events = data.tables["exposures"], data.tables["events"]
    assert list(exposures["arm"]) == ["womens_email", "control", "mens_email"]
    assert exposures["assignment_probability"].eq(1 / 3).all() and exposures["x_history"].iloc[1] == 329.08
    assert list(events["event_type"]) == ["view_item", "view_item", "pay"]
    assert events.loc[events["event_type"] == "pay", "price"].iloc[0] == 29.99
    assert (events["ts"] > exposures["ts"].iloc[0]).all()


def test_hillstrom_adapter_names_a_bad_arm_in_one_line(tmp_path: Path) -> None:
    from lsc_utils.datasets import convert

    raw = tmp_path / "hillstrom.csv"
    raw.write_text(
        "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n"
        '10,"2) $100 - $200",142.44,1,0,Surburban,0,Phone,Kids E-Mail,0,0,0\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match=r"column 'segment' holds 'Kids E-Mail' at data row 1") as info:
        convert("hillstrom", raw, tmp_path / "out")
    assert "\n" not in str(info.value)
