"""The audit table: one row per check with its value, interval, threshold and verdict.

Verdicts are ``pass``, ``flag`` or ``not testable`` (the data cannot answer, said in one sentence).
Thresholds are fixed and stated, never tuned to a dataset:

* **quality gap**: flag when the worst group's mean is below :data:`QUALITY_RATIO` of the best
  group's **and** the interval of its gap to everyone else lies below zero (a real, material gap);
* **exposure amplification**: flag when the top 10 % of items by interactions get more than
  :data:`AMPLIFICATION` times their share of interactions as exposure;
* **calibration**: flag when the mean ``C_KL`` exceeds :data:`CALIBRATION_KL` (lists that lose most
  of a user's interest mix);
* **pricing**: flag a group when its surcharge, overall or within a category, exceeds
  :data:`MATERIAL_SURCHARGE` with a p-value below 0.05 divided by the number of tests (Bonferroni);
* **selection**: flag a group whose selection rate is under four fifths of the best group's with
  Fisher's exact p below 0.05.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

QUALITY_RATIO: float = 0.8
AMPLIFICATION: float = 1.25
CALIBRATION_KL: float = 0.5
MATERIAL_SURCHARGE: float = 0.01
COLUMNS: tuple[str, ...] = ("check", "metric", "value", "low", "high", "threshold", "verdict", "explanation")


def row(
    check: str,
    metric: str,
    value: float | None = None,
    low: float | None = None,
    high: float | None = None,
    threshold: str = "",
    verdict: str = "pass",
    explanation: str = "",
) -> dict[str, Any]:
    """One audit row (``verdict`` one of pass, flag, not testable)."""
    if verdict not in ("pass", "flag", "not testable"):
        raise ValueError(f"verdict must be pass, flag or not testable. Got {verdict!r}.")
    return dict(zip(COLUMNS, (check, metric, value, low, high, threshold, verdict, explanation), strict=True))


def not_testable(check: str, reason: str) -> dict[str, Any]:
    """A row for a check the data cannot answer, with the one-sentence reason."""
    return row(check, "", threshold="", verdict="not testable", explanation=reason)


def quality_row(attribute: str, metric: str, gaps: dict[str, Any]) -> dict[str, Any]:
    """The quality-gap row of one attribute from :func:`~lsc_utils.fairness.groups.bootstrap_group_gaps`."""
    if not gaps:
        return not_testable(f"quality by {attribute}", f"fewer than two groups of {attribute} have 20 users.")
    point, low, high = gaps["worst_vs_rest"]
    flagged = gaps["ratio"] < QUALITY_RATIO and high < 0
    text = (
        f"{metric} of group '{gaps['worst']}' is {gaps['ratio']:.0%} of group '{gaps['best']}' and "
        f"{abs(point):.3f} below everyone else (95 % CI {low:.3f} to {high:.3f})."
    )
    return row(
        f"quality by {attribute}", f"{metric} ratio worst/best", gaps["ratio"], gaps["ratio_low"], gaps["ratio_high"],
        f"ratio < {QUALITY_RATIO} and gap CI < 0", "flag" if flagged else "pass", text,
    )  # fmt: skip


def exposure_row(stats: dict[str, float], subject: str = "item", earned: str = "interactions") -> dict[str, Any]:
    """Exposure amplification of the head of the catalogue.

    Parameters
    ----------
    stats : dict
        :func:`~lsc_utils.fairness.exposure.concentration` of the audited lists.
    subject : str, default "item"
        What is exposed (item, streamer); names the check.
    earned : str, default "interactions"
        What the head's share is measured in (interactions, viewers).
    """
    share = stats["top10_interaction_share"]
    ratio = stats["top10_exposure_share"] / share if share > 0 else float("nan")
    text = (
        f"the top 10 % of {subject}s by {earned} get {stats['top10_exposure_share']:.0%} of the exposure for "
        f"{share:.0%} of the {earned}; Gini of exposure {stats['gini_exposure']:.2f} over every {subject}."
    )
    return row(
        f"{subject} exposure", f"top-10 % exposure share / {earned} share", ratio, None, None,
        f"> {AMPLIFICATION}", "flag" if ratio > AMPLIFICATION else "pass", text,
    )  # fmt: skip


def calibration_row(kl: pd.Series) -> dict[str, Any]:
    """Mean Steck calibration of the lists."""
    mean = float(kl.mean())
    text = f"the lists' category mix differs from the users' histories by a mean C_KL of {mean:.2f}."
    return row(
        "calibration (filter bubble)", "mean C_KL", mean, float(kl.quantile(0.025)), float(kl.quantile(0.975)),
        f"> {CALIBRATION_KL}", "flag" if mean > CALIBRATION_KL else "pass", text,
    )  # fmt: skip


def pricing_row(attribute: str, gap: dict[str, float], flagged: bool, categories: str = "") -> dict[str, Any]:
    """The fixed-effects surcharge of one group overall; ``categories`` names where it is flagged."""
    where = f" Flagged in: {categories}." if categories else ""
    text = (
        f"for the same item on the same day, {attribute} pays {gap['surcharge']:+.1%} overall "
        f"(95 % CI {gap['surcharge_low']:+.1%} to {gap['surcharge_high']:+.1%}); the naive gap is "
        f"{gap['naive_ratio']:+.1%}, which also reflects what each group buys.{where} A lower price for the "
        "others can be a discount they were given: either way the group pays more for the same thing, which "
        "needs a reason."
    )
    return row(
        f"pricing: {attribute}", "surcharge exp(beta) - 1 (item and day fixed effects)", gap["surcharge"],
        gap["surcharge_low"], gap["surcharge_high"], f"Bonferroni p, > {MATERIAL_SURCHARGE:.0%}",
        "flag" if flagged else "pass", text,
    )  # fmt: skip


def selection_row(check: str, rates: pd.DataFrame) -> dict[str, Any]:
    """Four-fifths rule over the groups of one attribute (:func:`~lsc_utils.fairness.pricing.selection_rates`)."""
    worst = rates.sort_values("ratio_to_best").iloc[0]
    flagged = (not bool(worst["four_fifths_ok"])) and worst["fisher_p"] < 0.05
    text = (
        f"group '{worst['group']}' is selected at {worst['rate']:.1%}, {worst['ratio_to_best']:.0%} of the best "
        f"group's rate (Fisher exact p = {worst['fisher_p']:.3g})."
    )
    return row(
        check, "lowest selection rate / highest", float(worst["ratio_to_best"]), None, None,
        "< 0.8 and Fisher p < 0.05", "flag" if flagged else "pass", text,
    )  # fmt: skip
