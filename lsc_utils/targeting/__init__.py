"""Precision targeting (notebook 08): purchase propensity, campaign effects, uplift meta-learners, Qini
and uplift curves with scikit-uplift's definitions, budgeted targeting evaluated off-policy, offers.

Files: ``propensity`` (features strictly before a cutoff, label after it, leak-proof extra
features, gradient boosting and logistic models, ROC/PR-AUC, Brier, reliability, lift by decile),
``campaign`` (the campaign frame from exposures and events, design matrix, RFM score, cross-fitted
uplift, response and offer models, predicted incremental profit), ``effects`` (arm effects with
intervals, inverse-probability-weighted policy value), ``learners`` (T-, S-, X-learner, class
transformation), ``curves`` (Qini / uplift curves, Qini coefficient, AUUC, uplift at k),
``budget`` (profit, budgeted lists, doubly robust policy evaluation, offers by group, the targeting
list) and ``evaluation`` (Qini tables, repeated splits, the four groups, price bands, depth slopes,
planted profit).
"""

from lsc_utils.targeting.budget import (
    evaluate_policies,
    ipw_arm_value,
    max_contacts,
    offers_by_group,
    profit_outcome,
    rank_policy,
    targeting_list,
)
from lsc_utils.targeting.campaign import campaign_frame, design_matrix, has_campaign, rfm_score
from lsc_utils.targeting.curves import qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score, uplift_curve
from lsc_utils.targeting.effects import arm_effects, ipw_policy_value
from lsc_utils.targeting.evaluation import (
    depth_slopes,
    planted_policy_profit,
    price_bands,
    repeated_split_qini,
    uplift_groups,
    uplift_scores,
)
from lsc_utils.targeting.learners import ClassTransformation, SLearner, TLearner, XLearner
from lsc_utils.targeting.propensity import (
    FEATURES,
    join_extra_features,
    lift_by_decile,
    propensity_frame,
    propensity_models,
    propensity_scores,
)

__all__ = [
    "FEATURES",
    "ClassTransformation",
    "SLearner",
    "TLearner",
    "XLearner",
    "arm_effects",
    "campaign_frame",
    "depth_slopes",
    "design_matrix",
    "evaluate_policies",
    "has_campaign",
    "ipw_arm_value",
    "ipw_policy_value",
    "join_extra_features",
    "lift_by_decile",
    "max_contacts",
    "offers_by_group",
    "planted_policy_profit",
    "price_bands",
    "profit_outcome",
    "propensity_frame",
    "propensity_models",
    "propensity_scores",
    "qini_auc_score",
    "qini_curve",
    "rank_policy",
    "repeated_split_qini",
    "rfm_score",
    "targeting_list",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
    "uplift_groups",
    "uplift_scores",
]
