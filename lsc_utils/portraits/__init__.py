"""User portraits, segmentation and customer-lifetime value (CLV).

Three layers, each usable on its own:

1. :func:`build_portraits` turns a clean canonical dataset into one row per user (RFM, purchasing
   power, interests, loyalty, active hours, channel mix, engagement, lifecycle stage, consent) in a
   single DuckDB SQL statement over the events (pandas frames or Parquet paths).
2. :func:`segment_users` clusters the portraits (KMeans and Gaussian mixtures compared across k) and
   :func:`describe_segments` turns the clusters into persona cards with a suggested marketing action.
3. :class:`BetaGeoModel` (BG/NBD, Fader, Hardie & Lee 2005a) and :class:`GammaGammaModel`
   (Fader, Hardie & Lee 2005b) fitted by maximum likelihood on the summary of
   :func:`summarize_transactions`, combined by :func:`customer_lifetime_value`.

Conventions stated once
-----------------------
* A purchase is an event whose type is in :data:`lsc_utils.constants.PURCHASE_EVENTS` (``pay``).
  Its revenue is ``price * quantity`` with a null quantity read as 1. A purchase without a price is
  counted (``frequency``) but adds nothing to ``monetary``; ``monetary_coverage`` says which share
  of purchase lines had a price, and ``monetary`` is null for a buyer none of whose purchases had
  a price (taobao, for example, has no prices at all).
* ``frequency`` in the portraits is the number of distinct orders: distinct ``order_id`` values of
  the user's purchases, a purchase without ``order_id`` counting as an order of its own.
  ``n_purchase_days`` counts distinct purchase days (the BG/NBD convention, see below).
* Refunds (``refund`` events) are **not** subtracted from ``monetary`` (gross revenue); they are
  reported in ``refund_value`` (``price * |quantity|``) and ``net_monetary = monetary - refund_value``.
  The CLV models use purchases only.
* Hours, weekdays and days are taken in the ``timezone`` argument (default UTC; pass the dataset's
  time zone from ``dataset.yaml``). Weekday 0 is Monday.

References
----------
Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005a). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. Marketing Science, 24(2), 275-284.

Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005b). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research, 42(4), 415-430.

Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
"""

from __future__ import annotations

from lsc_utils.constants import CHANNELS
from lsc_utils.portraits._input import (
    DAYS_PER_MONTH,
    ENGAGEMENT_EVENTS,
    EVENING_HOURS,
    LIFECYCLE_STAGES,
    PORTRAIT_COLUMNS,
    TIER_LABELS,
    UNIT_DAYS,
    US_PER_DAY,
    USER_COLUMNS,
    ArrayLike,
    TableSource,
)
from lsc_utils.portraits.bgnbd import (
    BetaGeoModel,
    GammaGammaModel,
    _bg_terms,
    bg_nbd_log_likelihood,
    gamma_gamma_log_likelihood,
)
from lsc_utils.portraits.clv import (
    HighValueUsers,
    compare_calibration_holdout,
    customer_lifetime_value,
    describe_fit,
    person_versus_accounts,
    rank_high_value_users,
    score_customer_value,
    score_customers,
)
from lsc_utils.portraits.features import (
    PURCHASE_AGGREGATES,
    LifecycleRules,
    assign_lifecycle_stage,
    assign_purchasing_power,
    build_portraits,
    score_rfm,
)
from lsc_utils.portraits.habits import (
    ACTIVE_HOUR_COLUMNS,
    NO_DIRECTION_TOLERANCE,
    choose_segment_features,
    describe_segment_habits,
    hour_weekday_shares,
    purchase_day_range,
    summarize_active_hours,
)
from lsc_utils.portraits.segments import (
    BUYER_ONLY_FEATURES,
    DEFAULT_SEGMENT_FEATURES,
    HEAVY_TAILED_FEATURES,
    LATEST_IS_MISSING,
    PERSONA_ACTIONS,
    FeatureScaler,
    SegmentationResult,
    describe_segments,
    prepare_features,
    segment_users,
)
from lsc_utils.portraits.transactions import (
    summarize_transactions,
)

__all__ = [
    "person_versus_accounts",
    "CHANNELS",
    "ACTIVE_HOUR_COLUMNS",
    "ArrayLike",
    "BUYER_ONLY_FEATURES",
    "BetaGeoModel",
    "DAYS_PER_MONTH",
    "DEFAULT_SEGMENT_FEATURES",
    "ENGAGEMENT_EVENTS",
    "EVENING_HOURS",
    "FeatureScaler",
    "GammaGammaModel",
    "HEAVY_TAILED_FEATURES",
    "HighValueUsers",
    "LATEST_IS_MISSING",
    "LIFECYCLE_STAGES",
    "LifecycleRules",
    "NO_DIRECTION_TOLERANCE",
    "PERSONA_ACTIONS",
    "PORTRAIT_COLUMNS",
    "PURCHASE_AGGREGATES",
    "SegmentationResult",
    "TIER_LABELS",
    "TableSource",
    "UNIT_DAYS",
    "USER_COLUMNS",
    "US_PER_DAY",
    "_bg_terms",
    "assign_lifecycle_stage",
    "assign_purchasing_power",
    "bg_nbd_log_likelihood",
    "build_portraits",
    "choose_segment_features",
    "compare_calibration_holdout",
    "customer_lifetime_value",
    "describe_fit",
    "describe_segment_habits",
    "describe_segments",
    "gamma_gamma_log_likelihood",
    "prepare_features",
    "rank_high_value_users",
    "score_customer_value",
    "score_customers",
    "score_rfm",
    "segment_users",
    "summarize_active_hours",
    "hour_weekday_shares",
    "purchase_day_range",
    "summarize_transactions",
]
