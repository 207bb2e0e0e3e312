"""Fairness audit (notebook 09): recommendation quality by group, exposure concentration, filter
bubbles with re-ranking trade-offs, a differentiated-pricing audit and selection rates of targeting.

Files: ``groups`` (fairlearn MetricFrame means by group, within-group bootstrap gaps), ``exposure``
(position-weighted item, provider and streamer exposure, Gini, head shares, long-tail coverage),
``calibration`` (Steck's C_KL, entropy, intra-list diversity, calibrated and MMR re-ranking),
``pricing`` (log price on a group with item and day fixed effects, clustered by user; four-fifths
rule with Fisher's exact test) and ``audit`` (the audit table with fixed thresholds).
"""

from lsc_utils.fairness.audit import (
    calibration_row,
    exposure_row,
    not_testable,
    pricing_row,
    quality_row,
    row,
    selection_row,
)
from lsc_utils.fairness.calibration import (
    calibrated_rerank,
    calibration_kl,
    category_mix,
    entropy,
    intra_list_diversity,
    mmr_rerank,
    rerank_lists,
)
from lsc_utils.fairness.exposure import (
    concentration,
    exposure_by_model,
    gini,
    item_exposure,
    position_weight,
    provider_exposure,
)
from lsc_utils.fairness.groups import bootstrap_group_gaps, group_means
from lsc_utils.fairness.pricing import absorb, price_gap, selection_rates

__all__ = [
    "absorb",
    "bootstrap_group_gaps",
    "calibrated_rerank",
    "calibration_kl",
    "calibration_row",
    "category_mix",
    "concentration",
    "entropy",
    "exposure_by_model",
    "exposure_row",
    "gini",
    "group_means",
    "intra_list_diversity",
    "item_exposure",
    "mmr_rerank",
    "not_testable",
    "position_weight",
    "price_gap",
    "pricing_row",
    "provider_exposure",
    "quality_row",
    "rerank_lists",
    "row",
    "selection_rates",
    "selection_row",
]
