"""Precision targeting (notebook 08, in progress): campaign effects, uplift meta-learners, Qini and
uplift curves with scikit-uplift's definitions, and the off-policy value of a targeting rule.

Files: ``propensity`` (features strictly before a cutoff, label after it, leak-proof extra
features, gradient boosting and logistic models, ROC/PR-AUC, Brier, reliability, lift by decile),
``effects`` (arm effects with intervals, inverse-probability-weighted policy value),
``learners`` (T-, S-, X-learner, class transformation), ``curves`` (Qini / uplift curves, Qini
coefficient, AUUC, uplift at k).
"""

from lsc_utils.targeting.curves import qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score, uplift_curve
from lsc_utils.targeting.effects import arm_effects, ipw_policy_value
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
    "join_extra_features",
    "lift_by_decile",
    "propensity_frame",
    "propensity_models",
    "propensity_scores",
    "ClassTransformation",
    "SLearner",
    "TLearner",
    "XLearner",
    "arm_effects",
    "ipw_policy_value",
    "qini_auc_score",
    "qini_curve",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
]
