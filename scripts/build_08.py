"""One-off builder of notebooks/08_precision_targeting.ipynb (kept out of the repo after use)."""

import nbformat

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
cells = []
cells.append(
    md("""# 08 · Precision targeting: purchase propensity, campaign uplift, budgeted targeting and offers

**Question.** Whom do I contact, with what offer, and what does it earn me that I would not have
earned anyway? A purchase-propensity model says who is *likely to buy*; only a randomised campaign
says who buys *because of* the contact. This notebook scores purchase propensity without leakage,
measures a randomised campaign's effect per arm, models each user's uplift (T-, S-, X-learner,
class transformation), builds the list that maximises incremental profit under a budget, compares
it with targeting by response, by RFM and at random, measures how the response to a discount depends
on segment and payment channel, and writes the targeting list.

**Reads** (declared in `lsc_lab.requires`): the clean dataset of 01 (`exposures`, `events`, `users`,
`items`) and its published planted truth. **Writes** `tables/propensity_scores.csv`,
`tables/arm_effects.csv`, `tables/uplift_models.csv`, `tables/policies.csv`, `tables/offers.csv`,
`tables/targeting_list.parquet` (pseudonymous ids only), figures, and the glued results in
`metrics.json`.

**Assumptions.** Every uplift number assumes the campaign was **randomised** (the arm does not depend
on anything about the user; the assignment probability is known and logged in `exposures`) and that
there is **no interference** (one user's contact does not change another's purchases). Neither can
be checked from the data; if either fails, the effects below are not causal. A dataset without a
randomised campaign gets the propensity section only.""")
)
cells.append(
    code("""import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

import lsc_utils
from lsc_utils import consent, io, nbtools, plotting, targeting
from lsc_utils.targeting import budget, campaign

plotting.set_theme()
print(f"lsc_utils {lsc_utils.__version__}, pandas {pd.__version__}")""")
)
cells.append(
    code(
        """DATA_DIR: str = "../data/sample"  # input canonical dataset folder (raw: before cleaning)
RUN_DIR: str = "../outputs/runs/default"  # run folder shared by all notebooks of a run
OUT_DIR: str = "../outputs/runs/default/08_precision_targeting"  # this notebook output folder
RANDOM_STATE: int = 42  # seed of every random step (splits, models, bootstrap)
HORIZON_DAYS: int = 14  # outcome window after the send, and the propensity label window
CAMPAIGN_ID: str = ""  # campaign to analyse; empty means the one with the most exposed users
OUTCOME: str = "orders"  # what the uplift models predict: orders, converted, visited or revenue
MARGIN: float = 0.4  # gross margin as a share of the list price (a coupon of depth d leaves margin - d)
COST_PER_CONTACT: float = 1.0  # cost of one contact (message, push, incentive handling)
BUDGET: float = 800.0  # money for contacts: floor(BUDGET / COST_PER_CONTACT) contacts at most
MAX_CONTACT_SHARE: float = 1.0  # at most this share of the eligible users (e.g. 0.3 when contacts are free)
OFFER_DEPTHS: str = ""  # JSON {arm: discount depth}; by default read from arm names (coupon_20 -> 0.20), else 0
N_SPLITS: int = 5  # cross-fitting folds: every prediction is made by a model that did not see the user
N_BOOT: int = 300  # bootstrap resamples of users for the policy intervals
N_REPEATS: int = 0  # repeated seeded 70/30 stratified splits for the Qini interval (0: cross-fitting only)
UNKNOWN_CONSENT_ALLOWED: bool = False  # count users with no consent record as contactable (say so if True)""",
        metadata={"tags": ["parameters"]},
    )
)
cells.append(
    code("""dirs = nbtools.start_notebook(OUT_DIR)
clean_dir = nbtools.upstream(RUN_DIR, "01_data_cleaning", "clean")
truth_dir = nbtools.upstream(RUN_DIR, "01_data_cleaning", "truth")  # planted truth, pseudonymized by 01
meta = io.read_meta(clean_dir)
period_end = pd.Timestamp(meta["period"]["end"]) if meta.get("period", {}).get("end") else None
users = io.load_dataset(clean_dir, tables=("users",)).tables["users"] if (clean_dir / "users.parquet").exists() else None
truth = io.read_truth(truth_dir, "campaign_users")
skipped: list[str] = []
has_campaign = targeting.has_campaign(clean_dir)
if has_campaign:
    frame = campaign.campaign_frame(clean_dir, HORIZON_DAYS, CAMPAIGN_ID or None)
    sent_at = frame["exposed_at"].min()
    scope = frame.attrs.get("outcome_tag")
    print(
        f"campaign {frame['campaign_id'].iloc[0]}: {len(frame):,} users exposed from {sent_at:%Y-%m-%d %H:%M} UTC, "
        f"arms {dict(frame['arm'].value_counts().sort_index())}; outcomes over {HORIZON_DAYS} days"
        + (f", purchases of the items tagged '{scope}'" if scope else ", every purchase")
    )
else:
    frame, sent_at = None, period_end
    print("Not testable: this dataset has no randomised campaign (no exposures table with a control arm), "
          "so uplift, budgeted targeting and offers are skipped; purchase propensity still runs.")
    skipped += ["campaign_effects", "uplift", "budget_targeting", "offers"]""")
)

cells.append(
    md("""## 1. Purchase propensity: who is likely to buy in the next days

Features come from events **strictly before** a cutoff and the label from purchases in the
`HORIZON_DAYS` after it (one DuckDB query, `targeting.propensity_frame`); the cutoff is one horizon
before the campaign's send, so the label window ends when the campaign starts and no coupon
reaches it. A gradient-boosting classifier and a logistic baseline are trained on 70 % of the users
and judged on the other 30 %, beside the ranking a marketer already has: the RFM score (recency,
frequency and monetary quintiles) as of the same cutoff. Notebook 02's scores are not reused here:
02 fits on the whole period, which includes this label window, so they would leak it.""")
)
cells.append(
    code("""cutoff = (sent_at - pd.Timedelta(days=HORIZON_DAYS)) if sent_at is not None else None
propensity_now = None
prop_metrics = None
try:
    past = targeting.propensity_frame(clean_dir, cutoff, HORIZON_DAYS) if cutoff is not None else pd.DataFrame()
except io.DatasetError as exc:
    print(f"Not testable: {exc}")
    past = pd.DataFrame()
if len(past) < 200 or past["buys"].nunique() < 2:
    print(f"Not testable: {len(past)} users with history before {cutoff} (need 200, with buyers and non-buyers).")
    skipped.append("propensity")
else:
    features = list(targeting.FEATURES)
    train, test = train_test_split(past, test_size=0.3, stratify=past["buys"], random_state=RANDOM_STATE)
    models = {name: m.fit(train[features], train["buys"]) for name, m in targeting.propensity_models(RANDOM_STATE).items()}
    rankings = {name: m.predict_proba(test[features])[:, 1] for name, m in models.items()}
    rankings["rfm_score"] = campaign.rfm_score(test.rename(columns={"orders": "orders_before"}))
    prop_metrics, reliability = targeting.propensity_scores(test["buys"].to_numpy(), rankings)
    prop_metrics.to_csv(dirs["tables"] / "propensity_scores.csv", index=False)
    print(f"cutoff {cutoff:%Y-%m-%d %H:%M}: {len(past):,} users, {past['buys'].mean():.1%} buy in the next {HORIZON_DAYS} days")
    display(prop_metrics.round(3))
    best_prop = prop_metrics.loc[prop_metrics["ranking"] != "rfm_score"].sort_values("roc_auc").iloc[-1]["ranking"]
    lift = targeting.lift_by_decile(test["buys"].to_numpy(), rankings[best_prop])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    sns.lineplot(data=reliability, x="predicted", y="observed", hue="ranking", marker="o", ax=axes[0])
    axes[0].plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    axes[0].set(title="Reliability of the propensity models (held-out users)", xlabel="predicted P(buy)", ylabel="observed share buying")
    sns.barplot(data=lift, x="decile", y="lift", color="C0", ax=axes[1])
    axes[1].axhline(1, ls="--", color="grey", lw=1)
    axes[1].set(title=f"Lift by decile of {best_prop} (1 = highest scores)", xlabel="score decile", ylabel="buy rate / overall rate")
    plotting.save_fig(fig, "propensity")
    plt.show()
    # score everyone as of the send, with the best model refitted on all users before the cutoff
    now = targeting.propensity_frame(clean_dir, sent_at, HORIZON_DAYS)
    refit = targeting.propensity_models(RANDOM_STATE)[best_prop].fit(past[features], past["buys"])
    propensity_now = pd.Series(refit.predict_proba(now[features])[:, 1], index=now["user_id"], name="propensity")""")
)

cells.append(
    md("""## 2. The campaign's average effect per arm

Mean outcome of every arm and its difference from control with a 95 % interval (Welch). Because the
arm was drawn at random, the difference is the causal effect of sending that arm to the average
exposed user. `orders` and `revenue` count the campaign's scope (the promoted items when the items
table tags them `campaign:<id>`, else every purchase) in the window after the send.""")
)
cells.append(
    code("""effects = None
if has_campaign:
    outcomes = [c for c in ("visited", "converted", "orders", "revenue") if frame[c].sum() > 0 or c == OUTCOME]
    effects = pd.concat(
        [targeting.arm_effects(frame, c).assign(outcome=c) for c in outcomes], ignore_index=True
    )[["outcome", "arm", "users", "mean", "effect", "low", "high", "p_value"]]
    effects.to_csv(dirs["tables"] / "arm_effects.csv", index=False)
    display(effects.round(4))
    shown = effects.dropna(subset=["effect"])
    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.2 * len(outcomes), 3.8), squeeze=False)
    for ax, name in zip(axes[0], outcomes, strict=True):
        part = shown[shown["outcome"] == name]
        ax.errorbar(part["arm"], part["effect"], yerr=[part["effect"] - part["low"], part["high"] - part["effect"]], fmt="o", capsize=4)
        ax.axhline(0, color="grey", lw=1)
        ax.set(title=f"Effect on {name} (95 % CI)", xlabel="arm vs control", ylabel=f"difference in mean {name}")
        ax.tick_params(axis="x", rotation=30)
    plotting.save_fig(fig, "arm_effects")
    plt.show()
if has_campaign and truth is not None:
    planted = truth.set_index("user_id").loc[frame["user_id"]]
    ate_check = []
    for arm_name in sorted(set(frame["arm"]) - {"control"}):
        row = effects[(effects["outcome"] == "orders") & (effects["arm"] == arm_name)].iloc[0]
        true = float(planted[f"tau_orders_{arm_name}"].mean())
        ate_check.append({"arm": arm_name, "planted": round(true, 4), "estimate": round(row["effect"], 4),
                          "low": round(row["low"], 4), "high": round(row["high"], 4), "covered": bool(row["low"] <= true <= row["high"])})
    ate_check = pd.DataFrame(ate_check)
    print("Planted effect on orders (mean over the exposed users) against the estimate:")
    display(ate_check)""")
)

cells.append(
    md("""## 3. Uplift models: whom does a contact change?

Every model predicts, for each user, the effect of a contact (any offer against control) on
`OUTCOME`. They are **cross-fitted**: the users are split into `N_SPLITS` folds and each user's
prediction comes from models trained on the other folds, so the curves below judge every model on
users it has not seen. Models: the T-learner (one outcome model per arm), S-learner (the contact
as a feature), X-learner (Künzel et al. 2019) and the transformed-outcome (class transformation)
learner over gradient boosting, and a linear T-learner; against them, a **response model** (the
outcome among contacted users, which is what targeting by "likely to respond" does) and random
order. The Qini curve counts incremental responders as users are targeted in model order; the Qini
coefficient and AUUC are scikit-uplift's normalised areas (1 = perfect), uplift@30 % the effect
among the top 30 %.""")
)
cells.append(
    code("""uplift_table = None
if has_campaign:
    X = campaign.design_matrix(frame)
    treated = (frame["arm"] != "control").to_numpy(dtype=int)
    y = frame[OUTCOME].to_numpy(dtype=float)
    learners = campaign.uplift_learners(RANDOM_STATE)
    oof = campaign.cross_fitted_uplift(X, y, treated, learners, N_SPLITS, RANDOM_STATE)
    response_model = campaign.uplift_learners(RANDOM_STATE)["t_learner_boosting"].estimator
    oof["response_model"] = campaign.cross_fitted_response(X, y, treated, response_model, N_SPLITS, RANDOM_STATE)
    oof["random"] = np.random.default_rng(RANDOM_STATE).random(len(frame))
    if truth is not None:
        tau_columns = [c for c in truth.columns if c.startswith(f"tau_{OUTCOME}_")] or [c for c in truth.columns if c.startswith("tau_orders_")]
        oof["oracle (planted effect)"] = planted[tau_columns].mean(axis=1).to_numpy()
    uplift_table = targeting.uplift_scores(y, oof, treated)
    uplift_table.to_csv(dirs["tables"] / "uplift_models.csv", index=False)
    display(uplift_table.round(4))
    model_names = [n for n in learners]
    best_model = uplift_table[uplift_table["model"].isin(model_names)].sort_values("qini").iloc[-1]["model"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in [*model_names, "response_model", "random", *(["oracle (planted effect)"] if truth is not None else [])]:
        n_targeted, gain = targeting.qini_curve(y, oof[name].to_numpy(), treated)
        ax.plot(n_targeted / len(y), gain, label=name, lw=2.2 if name == best_model else 1.2,
                ls="--" if name.startswith(("random", "oracle")) else "-")
    ax.set(title=f"Qini curves, cross-fitted (best model: {best_model})", xlabel="share of users targeted (model order)",
           ylabel=f"incremental {OUTCOME}")
    ax.legend(fontsize=8)
    plotting.save_fig(fig, "qini_curves")
    plt.show()""")
)
cells.append(
    code("""qini_repeats = None
if has_campaign and N_REPEATS > 0:
    qini_repeats = targeting.repeated_split_qini(X, y, treated, learners, N_REPEATS, RANDOM_STATE)
    summary_repeats = qini_repeats.groupby("model")["qini"].agg(mean="mean", low=lambda s: s.quantile(0.025), high=lambda s: s.quantile(0.975))
    print(f"Qini coefficient over {N_REPEATS} seeded 70/30 stratified splits (trained on 70 %, scored on 30 %):")
    display(summary_repeats.sort_values("mean", ascending=False).round(4))""")
)

cells.append(
    md("""**The four groups.** From each user's predicted uplift and predicted outcome without contact:
*persuadables* (a contact raises the outcome by at least half the average effect), *sleeping dogs*
(a contact lowers it by at least as much), and among the rest *sure things* (high outcome anyway:
above the median without contact) and *lost causes*. The thresholds are stated, not tuned; the
table shows how the groups spread over the segments a marketer can see before the send.""")
)
cells.append(
    code("""if has_campaign:
    depths = campaign.arm_depths(sorted(set(frame["arm"])), json.loads(OFFER_DEPTHS) if OFFER_DEPTHS else None)
    offer_model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_depth=4, min_samples_leaf=20,
                                                l2_regularization=1.0, random_state=RANDOM_STATE)
    arm_outcomes = campaign.cross_fitted_offer_outcomes(X, frame["orders"].to_numpy(float), frame["arm"].to_numpy(), depths, offer_model, n_splits=N_SPLITS, random_state=RANDOM_STATE)
    ate = float(effects[(effects["outcome"] == OUTCOME)]["effect"].dropna().mean())
    frame["predicted_uplift"] = oof[best_model].to_numpy()
    frame["uplift_group"] = targeting.uplift_groups(frame["predicted_uplift"].to_numpy(), arm_outcomes["control"].to_numpy(), ate)
    frame["price_band"] = targeting.price_bands(frame)
    groups = pd.crosstab(frame["price_band"], frame["uplift_group"], normalize="index").round(3)
    print(f"predicted groups ({best_model}; average effect {ate:.4f}) by price band (share of the band's users):")
    display(groups)
    if truth is not None:
        frame["planted_group"] = planted["group"].to_numpy()
        by_planted = frame.groupby("planted_group")["predicted_uplift"].agg(["size", "mean"]).round(4)
        print("mean predicted uplift by planted group (the truth behind the campaign):")
        display(by_planted)""")
)

cells.append(
    md("""## 4. Targeting under a budget

The budget buys `floor(BUDGET / COST_PER_CONTACT)` contacts (at most `MAX_CONTACT_SHARE` of the
eligible users); only users with an explicit marketing consent are eligible. Four lists of that
size at most are compared:

* **uplift** — the users with the largest predicted effect of a contact on orders (the best model
  of section 3, cross-fitted; only positive effects), each with the offer of highest predicted
  incremental profit: the effect scaled to the offer's depth (effect proportional to depth, the
  elasticity model of section 5) times the margin left on an order at list value, minus the
  discount given away on the orders the user would have placed anyway (a model of orders without
  contact) and the contact cost. Ranking by the effect on orders rather than by predicted profit is
  deliberate: the profit prediction multiplies two noisy estimates (effect and order value) and
  ranks worse on campaigns of a few thousand users;
* **uplift, single offer** — the same users, all with the single offer of highest average profit;
* **response** — the users most likely to respond when contacted, with the single best offer;
* **RFM** — the highest RFM scores, with the single best offer;
* **random** — a random draw of eligible users, with the single best offer.

Each list's incremental orders and profit over not contacting anyone are estimated **off-policy on
the randomised campaign** with the doubly robust estimator (cross-fitted outcome model plus
inverse-probability-weighted residuals), with 95 % bootstrap intervals over users.""")
)
cells.append(
    code("""policies_table = None
if has_campaign:
    consent_values = consent.lookup(users, "marketing", frame["user_id"]) if users is not None else pd.Series([None] * len(frame))
    allowed = consent.allowed(consent_values, unknown_allowed=UNKNOWN_CONSENT_ALLOWED)
    contacts = min(budget.max_contacts(BUDGET, COST_PER_CONTACT, int(allowed.sum())), int(np.floor(MAX_CONTACT_SHARE * allowed.sum())))
    profit = budget.profit_outcome(frame, MARGIN)
    per_order = (frame["list_value"] / frame["orders"].clip(lower=1)).to_numpy()
    value_model = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=40, random_state=RANDOM_STATE)
    order_value = campaign.cross_fitted_order_value(X, per_order, frame["orders"].to_numpy() > 0, value_model, N_SPLITS, RANDOM_STATE)
    pooled_orders = oof[best_model].to_numpy() if OUTCOME == "orders" else campaign.cross_fitted_uplift(
        X, frame["orders"].to_numpy(float), treated, {best_model: learners[best_model]}, N_SPLITS, RANDOM_STATE
    )[best_model].to_numpy()
    uplift_orders = campaign.offer_uplift(pooled_orders, depths)
    predicted_profit = campaign.incremental_profit(uplift_orders, arm_outcomes["control"], order_value, depths, MARGIN, COST_PER_CONTACT)
    best_offer = np.asarray(predicted_profit.columns, dtype=object)[predicted_profit.to_numpy().argmax(axis=1)]
    single = targeting.arm_effects(frame.assign(profit=profit), "profit").dropna(subset=["effect"]).sort_values("effect").iloc[-1]["arm"]
    rng = np.random.default_rng(RANDOM_STATE)
    policies = {
        "uplift": budget.rank_policy(pooled_orders, contacts, best_offer, allowed, only_positive=True),
        "uplift, single offer": budget.rank_policy(pooled_orders, contacts, single, allowed, only_positive=True),
        "response": budget.rank_policy(oof["response_model"].to_numpy(), contacts, single, allowed),
        "random": budget.rank_policy(rng.random(len(frame)), contacts, single, allowed),
    }
    if frame["has_history"].any():
        policies["RFM"] = budget.rank_policy(campaign.rfm_score(frame), contacts, single, allowed)
    predicted = {
        "orders": arm_outcomes,
        "profit": pd.DataFrame({a: order_value * (MARGIN - depths.get(a, 0.0)) * arm_outcomes[a] for a in arm_outcomes.columns}),
    }
    measures = {"orders": frame["orders"].to_numpy(float), "profit": profit}
    if OUTCOME not in measures:
        measures[OUTCOME] = frame[OUTCOME].to_numpy(float)
    policies_table = budget.evaluate_policies(frame, policies, measures, COST_PER_CONTACT, "profit", N_BOOT, RANDOM_STATE, predictions=predicted)
    print(f"{int(allowed.sum()):,} eligible users (explicit marketing consent), budget for {contacts:,} contacts; single best offer: {single}")
    if truth is not None:
        planted_profit = targeting.planted_policy_profit(planted, policies, depths, MARGIN, COST_PER_CONTACT)
        policies_table["planted_profit"] = policies_table["policy"].map(planted_profit)
    policies_table.to_csv(dirs["tables"] / "policies.csv", index=False)
    display(policies_table.round(1))
    fig, ax = plt.subplots(figsize=(9, 4))
    order = policies_table.sort_values("profit", ascending=False)
    ax.errorbar(order["policy"], order["profit"], yerr=[order["profit"] - order["profit_low"], order["profit_high"] - order["profit"]], fmt="o", capsize=5, label="estimated (95 % CI)")
    if truth is not None:
        ax.scatter(order["policy"], order["planted_profit"], marker="x", color="C3", zorder=3, label="planted")
    ax.axhline(0, color="grey", lw=1)
    ax.set(title=f"Incremental profit of each list at a budget of {contacts:,} contacts", xlabel="targeting rule", ylabel="incremental profit vs no contact")
    ax.tick_params(axis="x", rotation=20)
    ax.legend()
    plotting.save_fig(fig, "policies")
    plt.show()""")
)

cells.append(
    md("""## 5. Price sensitivity and differentiated offers

How the effect of a coupon depends on its depth, per segment a marketer can see before the send:
the **price band** (tertiles of the average discount a user took on past purchases), the **member
level** (the VIP tiers of 003 §2.3) and the **payment channel** usually used. Each cell is a
randomised comparison (offer vs control within the segment), so differences between segments are
causal too; cells with fewer than 30 users per arm are left out. The slope of the effect against
depth is the segment's price elasticity of response.

Differentiated prices are a fairness question as well as a profit one: China's PIPL Art. 24 forbids
unreasonable differential treatment in transaction prices, so the fairness audit (notebook 09)
checks who receives which offer and what each group ends up paying.""")
)
cells.append(
    code("""offers = None
if has_campaign:
    segment_columns = [c for c in ("price_band", "member_level", "payment_method") if c in frame and frame[c].nunique() > 1]
    segment_columns += [c for c in frame.columns if c.startswith("x_") and not pd.api.types.is_float_dtype(frame[c]) and 1 < frame[c].nunique() <= 12]
    parts = []
    for column in segment_columns:
        for measure, values in (("orders", frame["orders"]), ("profit", profit)):
            part = budget.offers_by_group(frame.assign(_y=values), column, "_y")
            parts.append(part.rename(columns={column: "segment"}).assign(by=column, outcome=measure))
    offers = pd.concat(parts, ignore_index=True) if parts else None
    if offers is not None and len(offers):
        offers["depth"] = offers["arm"].map(depths)
        offers = offers[["by", "segment", "outcome", "arm", "depth", "users", "effect", "low", "high", "p_value"]]
        offers.to_csv(dirs["tables"] / "offers.csv", index=False)
        slopes = targeting.depth_slopes(offers[offers["outcome"] == "orders"])
        print("effect on orders per unit of discount depth, by segment (least squares through the arm effects):")
        display(slopes.round(3))
        show = offers[(offers["outcome"] == "orders") & (offers["by"] == segment_columns[0])]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for k, (name, part) in enumerate(show.groupby("segment")):
            ax.errorbar(part["depth"] + (k - 1) * 0.004, part["effect"], yerr=[part["effect"] - part["low"], part["high"] - part["effect"]], fmt="o-", capsize=3, label=str(name))
        ax.axhline(0, color="grey", lw=1)
        ax.set(title=f"Effect of the offer on orders by depth and {segment_columns[0]}", xlabel="discount depth", ylabel="extra orders per user (95 % CI)")
        ax.legend(title=segment_columns[0])
        plotting.save_fig(fig, "offers_by_depth")
        plt.show()
        best = budget.best_offers(offers[offers["outcome"] == "profit"], "segment")
        print("best offer per segment on profit (pays_off: interval above zero; loses: interval below zero):")
        display(best[["segment", "arm", "effect", "low", "high", "pays_off", "loses"]].round(2))
    truth_yaml = io.read_truth_yaml(truth_dir, "campaign")
    if truth_yaml is not None:
        print("planted elasticity by segment:", truth_yaml["elasticity_by_segment"], "payment factor:", truth_yaml["payment_factor"])""")
)

cells.append(
    md("""## 6. The targeting list

One row per exposed user: pseudonymous id, purchase propensity as of the send (from section 1, or
the response model when there is no purchase history), predicted uplift (extra orders from a
contact), its decile (1 = highest), the action (`contact`, `hold` or `do_not_contact` for users without
an explicit marketing consent) and the offer. The privacy notebook checks this file before anything
leaves the run.""")
)
cells.append(
    code("""summary = None
if has_campaign:
    propensity_col = (
        frame["user_id"].map(propensity_now).fillna(0.0).to_numpy() if propensity_now is not None else oof["response_model"].to_numpy()
    )
    listed = budget.targeting_list(frame, propensity_col, pooled_orders, policies["uplift"], allowed)
    listed.to_parquet(dirs["tables"] / "targeting_list.parquet", index=False)
    pseudonymous = bool(listed["user_id"].str.fullmatch(r"u_[0-9a-f]{16}").all())
    display(listed["action"].value_counts().rename_axis("action").reset_index(name="users"))
    row = policies_table.set_index("policy").loc["uplift"]
    summary = {
        "contacts": int(row["contacts"]),
        "offers": {k: int(v) for k, v in listed.loc[listed["action"] == "contact", "offer"].value_counts().sort_index().items()},
        "incremental_orders": round(float(row["orders"]), 1),
        "incremental_orders_ci": [round(float(row["orders_low"]), 1), round(float(row["orders_high"]), 1)],
        "incremental_profit": round(float(row["profit"]), 0),
        "incremental_profit_ci": [round(float(row["profit_low"]), 0), round(float(row["profit_high"]), 0)],
    }
    print(f"targeting_list.parquet: {len(listed):,} rows; pseudonymous ids only: {pseudonymous}")
    print(f"uplift list: {summary['contacts']:,} contacts {summary['offers']}; incremental orders {summary['incremental_orders']} "
          f"{summary['incremental_orders_ci']}, incremental profit {summary['incremental_profit']:,.0f} {summary['incremental_profit_ci']}")""")
)

cells.append(md("# Record results for tests"))
cells.append(
    code("""nbtools.finish_notebook(status="ok", skipped=skipped)
nbtools.glue("has_campaign", bool(has_campaign))
if prop_metrics is not None:
    nbtools.glue("propensity_auc", {r["ranking"]: round(float(r["roc_auc"]), 3) for _, r in prop_metrics.iterrows()})
if has_campaign:
    nbtools.glue("arm_effects", effects.dropna(subset=["effect"])[["outcome", "arm", "effect", "low", "high"]].round(4))
    nbtools.glue("uplift_models", uplift_table[["model", "qini", "auuc", "uplift_at_30"]].round(3))
    nbtools.glue("best_uplift_model", best_model)
    nbtools.glue("policies", policies_table.round(0))
    nbtools.glue("targeting_summary", summary)
    if qini_repeats is not None:
        nbtools.glue("qini_repeats", summary_repeats.reset_index().round(4))
    if truth is not None:
        nbtools.glue("ate_check", ate_check)
        nbtools.glue("planted_group_uplift", {k: round(float(v), 3) for k, v in by_planted["mean"].items()})
    if offers is not None and len(offers):
        nbtools.glue("depth_slopes", slopes.round(3))""")
)

cells.append(
    md("""## What this means for a marketer

- **Propensity is not uplift.** The users most likely to buy are mostly the ones who buy anyway: a
  list built on response (or RFM) pays coupons to sure things and wakes sleeping dogs. Section 4
  shows what that costs at the same budget.
- **Contact the persuadables, leave the sleeping dogs alone.** The uplift list contacts only users
  whose predicted incremental profit is positive, with the depth that pays for them; loyal VIPs who
  react badly to promotions are kept off it.
- **Give discounts where the price elasticity is.** The depth slopes in section 5 say which segments
  respond to a deeper coupon; a segment whose effect does not grow with depth should get the
  shallowest offer or none.
- **Read the intervals.** A list's estimated profit comes with a bootstrap interval; on a small
  campaign it can be wide, so a new list should be tested against a random hold-out before it
  replaces the current one.
- **Assumptions.** Randomised assignment with known probabilities, no interference between users,
  and a next campaign that resembles this one (same offers, same season). Differentiated offers are
  audited for unreasonable price differences by the fairness notebook.

## References

- Radcliffe, N. J. (2007). Using control groups to target on predicted lift (Qini curves).
- Künzel, S. R., Sekhon, J. S., Bickel, P. J., & Yu, B. (2019). Metalearners for estimating
  heterogeneous treatment effects using machine learning. *PNAS*, 116(10).
- Jaskowski, M., & Jaroszewicz, S. (2012). Uplift modeling for clinical trial data (class
  transformation); Athey, S., & Imbens, G. (2015) (transformed outcome).
- Dudík, M., Langford, J., & Li, L. (2011). Doubly robust policy evaluation and learning. *ICML*.
- Hillstrom, K. (2008). The MineThatData e-mail analytics and data mining challenge.
- scikit-uplift (`qini_auc_score`, `uplift_auc_score`, `uplift_at_k`): the definitions reproduced here.""")
)

nb = nbformat.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nb.metadata["language_info"] = {"name": "python"}
nb.metadata["lsc_lab"] = {"requires": {"01_data_cleaning": ["clean", "truth"]}}
nbformat.write(nb, "notebooks/08_precision_targeting.ipynb")
