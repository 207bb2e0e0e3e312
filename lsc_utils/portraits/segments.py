"""Segmentation of portraits (KMeans and Gaussian mixtures compared across k) and persona cards."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from lsc_utils.constants import EVENT_TYPES, SEED
from lsc_utils.portraits._input import ArrayLike

# ---------------------------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------------------------

DEFAULT_SEGMENT_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "n_sessions",
    "events_per_session",
    "purchase_rate",
    "engagement_per_session",
)
"""Features :func:`segment_users` uses unless told otherwise."""

HEAVY_TAILED_FEATURES: frozenset[str] = frozenset(
    {
        "recency_days",
        "days_since_last_seen",
        "tenure_days",
        "frequency",
        "n_purchase_days",
        "n_purchase_lines",
        "units",
        "monetary",
        "net_monetary",
        "aov",
        "refund_value",
        "n_events",
        "n_sessions",
        "events_per_session",
        "engagement_per_session",
        "likes_per_session",
        "comments_per_session",
        "shares_per_session",
        "n_categories",
        "mean_interpurchase_days",
        *(f"n_{t}" for t in EVENT_TYPES),
    }
)
"""Features transformed with log1p before scaling (counts, money, durations)."""

BUYER_ONLY_FEATURES: frozenset[str] = frozenset(
    {
        "recency_days",
        "days_since_first_purchase",
        "mean_interpurchase_days",
        "aov",
        "monetary_coverage",
        "brand_loyalty",
        "anchor_purchase_share",
    }
)
"""Features only meaningful for buyers: persona z-scores compare a segment's buyers with all buyers."""

LATEST_IS_MISSING: frozenset[str] = frozenset({"recency_days", "mean_interpurchase_days"})
"""Features where a null means "never" (non-buyers) and is filled with the column maximum."""


@dataclass
class FeatureScaler:
    """Robust standardisation of portrait features, fitted on one population and reusable.

    Per feature: ``log1p`` for heavy-tailed features, nulls filled (see :func:`prepare_features`),
    then ``(x - median) / (IQR / 1.349)`` (the IQR of a normal distribution is 1.349 standard
    deviations, so units are comparable to z-scores); where the IQR is 0 the standard deviation is
    used instead.

    Attributes
    ----------
    features : list of str
        Features used, in column order of the transformed matrix.
    log_features : list of str
        The subset transformed with ``log1p``.
    fill_buyer, fill_never : dict of str to float
        Fill value of a null, for buyers and for non-buyers (after ``log1p``).
    center, scale : ndarray
        Median and robust scale per feature.
    """

    features: list[str]
    log_features: list[str]
    fill_buyer: dict[str, float]
    fill_never: dict[str, float]
    center: np.ndarray
    scale: np.ndarray

    def transform(self, portraits: pd.DataFrame) -> np.ndarray:
        """Scaled feature matrix (n_users, n_features)."""
        raw = _logged(portraits, self.features, self.log_features)
        filled = _fill(raw, _is_buyer(portraits), self.fill_buyer, self.fill_never)
        return (filled.to_numpy(dtype=float) - self.center) / self.scale


def _is_buyer(portraits: pd.DataFrame) -> np.ndarray:
    if "frequency" in portraits:
        return portraits["frequency"].fillna(0).to_numpy(dtype=float) > 0
    return np.ones(len(portraits), dtype=bool)


def _logged(portraits: pd.DataFrame, features: list[str], log_features: list[str]) -> pd.DataFrame:
    missing = [f for f in features if f not in portraits]
    if missing:
        raise ValueError(
            f"The 'features' {missing} are not columns of the portraits (columns: {', '.join(map(str, portraits.columns))})."
        )
    frame = portraits[features].astype(float)
    for f in log_features:
        if (frame[f] < 0).any():
            raise ValueError(f"Feature '{f}' is log1p-transformed and must be >= 0. Got min {frame[f].min()} instead.")
        frame[f] = np.log1p(frame[f])
    return frame


def _fill(
    frame: pd.DataFrame, buyer: np.ndarray, fill_buyer: dict[str, float], fill_never: dict[str, float]
) -> pd.DataFrame:
    out = frame.copy()
    for f in frame.columns:
        values = out[f].to_numpy(dtype=float, copy=True)
        nan = np.isnan(values)
        values[nan & buyer] = fill_buyer[f]
        values[nan & ~buyer] = fill_never[f]
        out[f] = values
    return out


def prepare_features(
    portraits: pd.DataFrame, features: Sequence[str] | None = None
) -> tuple[FeatureScaler, dict[str, str]]:
    """Fit the robust scaling of :class:`FeatureScaler` and report features that cannot be used.

    Null handling (stated): for ``recency_days`` and ``mean_interpurchase_days`` a null means
    "never" and becomes the column maximum. For other features a non-buyer's null becomes 0 (no
    spend, no loyalty) and a buyer's null (e.g. unknown prices) the median of known buyer values.
    A feature with no usable value, or constant after filling, is dropped.

    Returns
    -------
    scaler : FeatureScaler
    dropped : dict of str to str
        Dropped feature -> reason.
    """
    wanted = list(features) if features is not None else [f for f in DEFAULT_SEGMENT_FEATURES if f in portraits]
    if not wanted:
        raise ValueError("The 'features' parameter must name at least one portrait column. Got none instead.")
    log_features = [f for f in wanted if f in HEAVY_TAILED_FEATURES]
    raw = _logged(portraits, wanted, log_features)
    buyer = _is_buyer(portraits)
    fill_buyer, fill_never, dropped = _null_fill_values(raw, buyer)
    kept = [f for f in wanted if f not in dropped]
    center, scale = _robust_center_scale(_fill(raw[kept], buyer, fill_buyer, fill_never).to_numpy(dtype=float))
    dropped.update({f: "constant" for f, sc in zip(kept, scale, strict=True) if sc <= 0})
    keep = scale > 0
    final = [f for f, k in zip(kept, keep, strict=True) if k]
    if not final:
        raise ValueError(f"No usable segmentation feature among {wanted}: {dropped}.")
    scaler = FeatureScaler(
        features=final,
        log_features=[f for f in log_features if f in final],
        fill_buyer={f: fill_buyer[f] for f in final},
        fill_never={f: fill_never[f] for f in final},
        center=center[keep],
        scale=scale[keep],
    )
    return scaler, dropped


def _null_fill_values(
    raw: pd.DataFrame, buyer: np.ndarray
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Fill values of nulls for buyers and non-buyers per feature, and the features that cannot be filled."""
    fill_buyer: dict[str, float] = {}
    fill_never: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for f in raw.columns:
        values = raw[f].to_numpy(dtype=float)
        known = ~np.isnan(values)
        known_buyer = known & buyer
        if not known.any():
            dropped[f] = "no known value"
        elif f in LATEST_IS_MISSING:
            fill_buyer[f] = fill_never[f] = float(values[known].max())
        elif (~known & buyer).any() and not known_buyer.any():
            dropped[f] = "unknown for every buyer (e.g. no prices)"
        else:
            fill_never[f] = 0.0
            fill_buyer[f] = float(np.median(values[known_buyer])) if known_buyer.any() else 0.0
    return fill_buyer, fill_never, dropped


def _robust_center_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and IQR / 1.349 per column (standard deviation where the IQR is 0)."""
    if values.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    q25, median, q75 = np.percentile(values, [25, 50, 75], axis=0)
    scale = (q75 - q25) / 1.349
    return median, np.where(scale > 0, scale, values.std(axis=0))


@dataclass
class SegmentationResult:
    """Outcome of :func:`segment_users`.

    Attributes
    ----------
    labels : Series of int
        Segment per user (index of the portraits), 0 = largest segment.
    method : str
        ``"kmeans"`` or ``"gmm"``: the model whose labels are returned.
    n_segments : int
        Chosen k.
    model : KMeans or GaussianMixture
        The final model, fitted on all users (cluster ids before relabelling by size).
    scaler : FeatureScaler
        The feature transform (use :meth:`predict` for new users).
    kmeans_scores, gmm_scores : DataFrame
        Model-selection tables per k: KMeans silhouette and inertia; GMM BIC, AIC and silhouette.
    criterion : str
        The stated selection rule.
    dropped_features : dict
        Requested features that could not be used, with the reason.
    """

    labels: pd.Series
    method: str
    n_segments: int
    model: KMeans | GaussianMixture
    scaler: FeatureScaler
    kmeans_scores: pd.DataFrame
    gmm_scores: pd.DataFrame
    criterion: str
    dropped_features: dict[str, str] = field(default_factory=dict)
    label_map: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def features(self) -> list[str]:
        """Features used."""
        return self.scaler.features

    def predict(self, portraits: pd.DataFrame) -> pd.Series:
        """Segment of (new) users with the fitted transform and model."""
        with threadpool_limits(limits=1):
            raw = self.model.predict(self.scaler.transform(portraits))
        return pd.Series(self.label_map[raw], index=portraits.index, name="segment")


def _sample_rows(n: int, size: int, random_state: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))


def _silhouette(x: np.ndarray, labels: np.ndarray, sample: int, random_state: int) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_score(x, labels, sample_size=min(sample, len(x)), random_state=random_state))


def _fit_kmeans(x: np.ndarray, k: int, random_state: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=5, random_state=random_state).fit(x)


def _fit_gmm(x: np.ndarray, k: int, random_state: int) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            n_components=k, covariance_type="full", reg_covar=1e-3, n_init=2, random_state=random_state
        ).fit(x)


def _score_k_range(
    sample: np.ndarray, ks: list[int], random_state: int, silhouette_sample: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KMeans (silhouette, inertia) and GMM (BIC, AIC, silhouette) tables over the candidate k."""
    km_rows, gm_rows = [], []
    for k in ks:
        km = _fit_kmeans(sample, k, random_state)
        km_rows.append(
            {
                "k": k,
                "silhouette": _silhouette(sample, km.labels_, silhouette_sample, random_state),
                "inertia": float(km.inertia_),
            }
        )
        gm = _fit_gmm(sample, k, random_state)
        gm_rows.append(
            {
                "k": k,
                "bic": float(gm.bic(sample)),
                "aic": float(gm.aic(sample)),
                "silhouette": _silhouette(sample, gm.predict(sample), silhouette_sample, random_state),
            }
        )
    return pd.DataFrame(km_rows), pd.DataFrame(gm_rows)


def segment_users(
    portraits: pd.DataFrame,
    features: Sequence[str] | None = None,
    k_range: Sequence[int] = range(2, 11),
    random_state: int = SEED,
    method: Literal["auto", "kmeans", "gmm"] = "auto",
    selection_sample: int = 20_000,
    silhouette_sample: int = 5_000,
) -> SegmentationResult:
    """Cluster users on robustly standardised portrait features, choosing k by a stated criterion.

    Criterion: for every k in ``k_range`` KMeans (k-means++, 5 starts) is scored by its silhouette
    and a full-covariance Gaussian mixture by its BIC, both fitted on the same seeded sample of at
    most ``selection_sample`` users. KMeans takes the k of the highest silhouette, the mixture the k
    of the lowest BIC. With ``method="auto"`` the one of the two winners with the higher
    silhouette (on the same silhouette sample) is kept (KMeans on ties); ``"kmeans"`` or ``"gmm"``
    force a family. The kept model is refitted on all users and its clusters are renumbered by size
    (0 = largest). Models run single-threaded (threadpoolctl) so that labels do not depend on the
    machine's core count and small fits do not suffer thread oversubscription on shared machines.

    Parameters
    ----------
    portraits : DataFrame
        Output of :func:`build_portraits` (or any frame with the feature columns).
    features : sequence of str, optional
        Columns to cluster on (default :data:`DEFAULT_SEGMENT_FEATURES` present in the frame).
    k_range : sequence of int
        Candidate numbers of segments (each >= 2 and < number of users).
    random_state : int
        Seed of sampling and of both model families.
    method : {"auto", "kmeans", "gmm"}
        Family whose labels are returned.
    selection_sample : int
        Users used to compare k (all when fewer).
    silhouette_sample : int
        Users used for each silhouette score.

    Returns
    -------
    SegmentationResult
    """
    ks = _check_segment_arguments(method, k_range, len(portraits))
    scaler, dropped = prepare_features(portraits, features)
    x = scaler.transform(portraits)
    with threadpool_limits(limits=1):
        km_table, gm_table = _score_k_range(
            x[_sample_rows(len(x), selection_sample, random_state)], ks, random_state, silhouette_sample
        )
        chosen, k, criterion = _select_family_and_k(km_table, gm_table, method, len(x))
        model: KMeans | GaussianMixture = (
            _fit_kmeans(x, k, random_state) if chosen == "kmeans" else _fit_gmm(x, k, random_state)
        )
        raw_labels = model.predict(x)
    label_map = _relabel_by_size(raw_labels, k)
    return SegmentationResult(
        labels=pd.Series(label_map[raw_labels], index=portraits.index, name="segment"),
        method=chosen,
        n_segments=k,
        model=model,
        scaler=scaler,
        kmeans_scores=km_table,
        gmm_scores=gm_table,
        criterion=criterion,
        dropped_features=dropped,
        label_map=label_map,
    )


def _check_segment_arguments(method: str, k_range: Sequence[int], n_users: int) -> list[int]:
    """Check ``method`` and ``k_range`` of :func:`segment_users`.

    Returns
    -------
    list of int
        The distinct candidate k, sorted.
    """
    if method not in ("auto", "kmeans", "gmm"):
        raise ValueError(
            f"The 'method' parameter of segment_users must be 'auto', 'kmeans' or 'gmm'. Got {method!r} instead."
        )
    ks = sorted({int(k) for k in k_range})
    if not ks or ks[0] < 2 or ks[-1] >= n_users:
        raise ValueError(
            f"The 'k_range' parameter of segment_users must hold ints in [2, n_users - 1] = [2, {n_users - 1}]. Got {list(k_range)} instead."
        )
    return ks


def _select_family_and_k(
    km_table: pd.DataFrame, gm_table: pd.DataFrame, method: str, n_users: int
) -> tuple[str, int, str]:
    """Apply the selection criterion of :func:`segment_users` to the model-selection tables.

    Parameters
    ----------
    km_table, gm_table : DataFrame
        KMeans and GMM scores per k (from :func:`_score_k_range`).
    method : {"auto", "kmeans", "gmm"}
        Family requested.
    n_users : int
        Users the kept model is refitted on (stated in the criterion).

    Returns
    -------
    chosen : str
        ``"kmeans"`` or ``"gmm"``.
    k : int
        Number of segments of the chosen family.
    criterion : str
        The selection rule and its outcome, as a sentence.
    """
    k_km = int(km_table.loc[km_table["silhouette"].fillna(-np.inf).idxmax(), "k"])
    k_gm = int(gm_table.loc[gm_table["bic"].idxmin(), "k"])
    sil_km = float(km_table.set_index("k").loc[k_km, "silhouette"])
    sil_gm = float(gm_table.set_index("k").loc[k_gm, "silhouette"])
    chosen = (
        method
        if method != "auto"
        else ("gmm" if np.nan_to_num(sil_gm, nan=-1) > np.nan_to_num(sil_km, nan=-1) else "kmeans")
    )
    k = k_km if chosen == "kmeans" else k_gm
    criterion = (
        f"KMeans: k with the highest silhouette (k={k_km}, silhouette={sil_km:.3f}); "
        f"GMM: k with the lowest BIC (k={k_gm}, silhouette={sil_gm:.3f}); "
        f"kept {chosen} ({'higher silhouette' if method == 'auto' else 'forced by method'}), refitted on all {n_users} users."
    )
    return chosen, k, criterion


def _relabel_by_size(raw: np.ndarray, k: int) -> np.ndarray:
    """Map raw cluster ids to 0..k-1 by decreasing size (ties: lower raw id first)."""
    counts = np.bincount(raw, minlength=k)
    order = np.argsort(-counts, kind="stable")
    mapping = np.empty(k, dtype=int)
    mapping[order] = np.arange(k)
    return mapping


PERSONA_ACTIONS: dict[str, str] = {
    "big spender": "VIP care: early access, premium bundles and anchor shout-outs; reward with perks, not discounts.",
    "loyal regular": "Membership or subscription offers and cross-sell of adjacent categories.",
    "lapsed customer": "Win-back: personalised reminder of past purchases with a time-limited coupon.",
    "bargain hunter": "Coupons, flash sales and bundle deals announced in live rooms.",
    "engaged fan": "Interactive formats (lucky draws, Q&A) and room-exclusive offers to convert engagement.",
    "window shopper": "Retarget viewed items, first-order coupon and social proof (reviews, sales counts).",
    "casual buyer": "Onboarding journey and a second-purchase incentive within their usual rhythm.",
    "low-engagement visitor": "Low-cost broad reach only (feed ads); avoid expensive incentives.",
}
"""Suggested marketing action per persona name."""


def _persona_name(z: pd.Series, buyer_segment: bool) -> str:
    """First rule that matches, on segment means in population z-units."""

    def get(name: str) -> float:
        return float(z.get(name, 0.0)) if pd.notna(z.get(name, 0.0)) else 0.0

    if buyer_segment and (get("monetary") >= 0.8 or (get("aov") >= 0.8 and get("frequency") >= 0.0)):
        return "big spender"
    if buyer_segment and get("frequency") >= 0.8 and get("recency_days") <= 0.0:
        return "loyal regular"
    if buyer_segment and get("recency_days") >= 0.5:
        return "lapsed customer"
    if buyer_segment and get("aov") <= -0.5:
        return "bargain hunter"
    if get("engagement_per_session") >= 0.8:
        return "engaged fan"
    if not buyer_segment and (get("events_per_session") >= 0.0 or get("n_sessions") >= 0.0):
        return "window shopper"
    if buyer_segment:
        return "casual buyer"
    return "low-engagement visitor"


def describe_segments(
    portraits: pd.DataFrame, labels: ArrayLike, features: Sequence[str] | None = None, n_traits: int = 3
) -> pd.DataFrame:
    """Persona cards: size, share, key traits in z-units, a rule-based name and a marketing action.

    Traits: each feature is log1p-transformed when heavy-tailed and null-filled as in
    :func:`prepare_features`; a segment's trait value is its mean in population z-units
    (``(segment mean - population mean) / population std``), where for the features of
    :data:`BUYER_ONLY_FEATURES` (AOV, recency, ...) both means are over buyers only (a segment
    without buyers has no value). The ``n_traits`` features with the
    largest absolute value are the key traits. Naming rules (first match; a *buyer segment* has a
    median ``frequency`` >= 1): big spender (monetary >= +0.8 or AOV >= +0.8 with frequency >= 0),
    loyal regular (frequency >= +0.8 and recency <= 0), lapsed customer (recency >= +0.5),
    bargain hunter (AOV <= -0.5), engaged fan (engagement >= +0.8, any segment), window shopper
    (non-buyers with events per session or sessions >= 0), casual buyer, low-engagement visitor.
    Repeated names get a number (``"casual buyer 2"``).

    Parameters
    ----------
    portraits : DataFrame
    labels : array-like of int
        Segment of each portrait row (e.g. ``SegmentationResult.labels``).
    features : sequence of str, optional
        Trait features (default :data:`DEFAULT_SEGMENT_FEATURES` present).
    n_traits : int
        Traits listed per card.

    Returns
    -------
    DataFrame
        One row per segment (largest first): ``segment``, ``name``, ``size``, ``share``,
        ``key_traits``, ``action``, ``median_<feature>`` and ``z_<feature>`` per feature.
    """
    labels_arr = np.asarray(labels)
    if len(labels_arr) != len(portraits):
        raise ValueError(
            f"The 'labels' parameter must have one label per portrait row ({len(portraits)}). Got {len(labels_arr)} instead."
        )
    scaler, _ = prepare_features(portraits, features)
    used = scaler.features
    z = _segment_z_scores(portraits, labels_arr, scaler)
    sizes = pd.Series(labels_arr).value_counts().reindex(z.index)
    medians = portraits[used].astype(float).groupby(labels_arr, sort=True).median().reindex(z.index)
    freq_median = (
        portraits["frequency"].groupby(labels_arr, sort=True).median().reindex(z.index)
        if "frequency" in portraits
        else pd.Series(0.0, index=z.index)
    )
    names = [_persona_name(z.loc[s], bool(freq_median.loc[s] >= 1)) for s in z.index]
    cards = pd.DataFrame(
        {
            "segment": z.index.to_numpy(),
            "name": names,
            "size": sizes.to_numpy(dtype="int64"),
            "share": sizes.to_numpy(dtype=float) / len(portraits),
            "key_traits": [_trait_text(z.loc[s], n_traits) for s in z.index],
            "action": [PERSONA_ACTIONS[n] for n in names],
        }
    )
    cards = pd.concat(
        [cards, medians.add_prefix("median_").reset_index(drop=True), z.add_prefix("z_").reset_index(drop=True)],
        axis=1,
    )
    cards = cards.sort_values(["size", "segment"], ascending=[False, True], kind="stable").reset_index(drop=True)
    cards["name"] = _number_repeats(cards["name"])
    return cards


def _segment_z_scores(portraits: pd.DataFrame, labels: np.ndarray, scaler: FeatureScaler) -> pd.DataFrame:
    """Segment means of the transformed features in population z-units (buyer-only features among buyers)."""
    buyer = _is_buyer(portraits)
    filled = _fill(
        _logged(portraits, scaler.features, scaler.log_features), buyer, scaler.fill_buyer, scaler.fill_never
    )
    for f in scaler.features:
        if f in BUYER_ONLY_FEATURES:
            filled.loc[~buyer, f] = np.nan
    values = filled.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    std = np.where(std > 0, std, 1.0)
    frame = pd.DataFrame((values - mean) / std, columns=scaler.features)
    return frame.groupby(labels, sort=True).mean()


def _trait_text(z: pd.Series, n: int) -> str:
    known = z.dropna()
    top = known.reindex(known.abs().sort_values(ascending=False, kind="stable").index[:n])
    return ", ".join(f"{name} {value:+.1f}σ" for name, value in top.items())


def _number_repeats(names: pd.Series) -> pd.Series:
    rank = names.groupby(names).cumcount() + 1
    return names.where(rank == 1, names + " " + rank.astype("str"))
