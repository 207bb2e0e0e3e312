"""Precision targeting (notebook 08, in progress): campaign effects, uplift meta-learners, Qini and
uplift curves with scikit-uplift's definitions, and the off-policy value of a targeting rule.

Files: ``effects`` (arm effects with intervals, inverse-probability-weighted policy value),
``learners`` (T-, S-, X-learner, class transformation), ``curves`` (Qini / uplift curves, Qini
coefficient, AUUC, uplift at k).
"""

from lsc_utils.targeting.curves import qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score, uplift_curve
from lsc_utils.targeting.effects import arm_effects, ipw_policy_value
from lsc_utils.targeting.learners import ClassTransformation, SLearner, TLearner, XLearner

__all__ = [
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
