"""Qini and uplift curves, their normalised areas and uplift at k, with scikit-uplift's definitions.

Users are sorted by predicted uplift, highest first (a stable sort, so ties keep their input order),
and the curves are read at every distinct predicted value (Radcliffe 2007):

* Qini curve at the top ``n`` users: ``Y_T(n) - Y_C(n) * N_T(n) / N_C(n)``, incremental responders;
* uplift curve: ``(Y_T(n) / N_T(n) - Y_C(n) / N_C(n)) * n``;
* the Qini coefficient and AUUC are the area between the curve and the straight line to its end,
  divided by the same area of the perfect ranking (trapezoid rule).

A unit test checks every function against scikit-uplift 0.5.1 to 1e-9; this module needs no
scikit-uplift (it is a test-only peer: it pulls ``requests`` and warns with our scikit-learn).
"""

from __future__ import annotations

import numpy as np


def _sorted_counts(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative users, treated users, treated and control responders at each distinct uplift value."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    y, uplift, treatment = y[order], uplift[order], treatment[order]
    thresholds = np.r_[np.flatnonzero(np.diff(uplift)), uplift.size - 1]
    n_all = thresholds + 1
    n_treated = np.cumsum(treatment, dtype=float)[thresholds]
    y_treated = np.cumsum(y * treatment, dtype=float)[thresholds]
    y_control = np.cumsum(y * (1 - treatment), dtype=float)[thresholds]
    return n_all, n_treated, n_all - n_treated, y_treated, y_control


def _checked(y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    y, u, t = np.asarray(y_true, dtype=float), np.asarray(uplift, dtype=float), np.asarray(treatment, dtype=float)
    if not (y.shape == u.shape == t.shape) or y.ndim != 1:
        raise ValueError(
            f"y_true, uplift and treatment must be 1-D arrays of one length. Got {y.shape}, {u.shape}, {t.shape}."
        )
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must hold 0 (control) and 1 (treated) only.")
    return y, u, t


def _from_origin(n_all: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if n_all.size == 0 or values[0] != 0 or n_all[0] != 0:
        return np.r_[0, n_all], np.r_[0, values]
    return n_all, values


def qini_curve(y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(users targeted, incremental responders)`` of the Qini curve, starting at (0, 0)."""
    y, u, t = _checked(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _sorted_counts(y, u, t)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n_all, y_t - y_c * ratio)


def uplift_curve(y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(users targeted, response-rate difference x users)`` of the uplift curve."""
    y, u, t = _checked(y_true, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _sorted_counts(y, u, t)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return _from_origin(n_all, (rate_t - rate_c) * n_all)


def _perfect_qini(y: np.ndarray, t: np.ndarray, negative_effect: bool) -> tuple[np.ndarray, np.ndarray]:
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t)
    gain = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0.0, gain, y.size]), np.array([0.0, gain, gain])


def _perfect_uplift(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _normalised_area(actual: tuple[np.ndarray, np.ndarray], perfect: tuple[np.ndarray, np.ndarray]) -> float:
    base = np.trapezoid([0.0, perfect[1][-1]], [0.0, perfect[0][-1]])
    return float((np.trapezoid(actual[1], actual[0]) - base) / (np.trapezoid(perfect[1], perfect[0]) - base))


def qini_auc_score(
    y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray, negative_effect: bool = True
) -> float:
    """Qini coefficient: area between the Qini curve and random targeting, over the perfect ranking's."""
    y, u, t = _checked(y_true, uplift, treatment)
    return _normalised_area(qini_curve(y, u, t), _perfect_qini(y, t, negative_effect))


def uplift_auc_score(y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    """Area under the uplift curve (AUUC), normalised as :func:`qini_auc_score`."""
    y, u, t = _checked(y_true, uplift, treatment)
    return _normalised_area(uplift_curve(y, u, t), _perfect_uplift(y, t))


def uplift_at_k(
    y_true: np.ndarray, uplift: np.ndarray, treatment: np.ndarray, strategy: str = "overall", k: float = 0.3
) -> float:
    """Response rate of treated minus control among the top ``k`` (share or count) by predicted uplift.

    ``strategy="overall"`` takes the top ``k`` of everyone; ``"by_group"`` the top ``k`` of each arm.
    """
    y, u, t = _checked(y_true, uplift, treatment)
    if strategy not in ("overall", "by_group"):
        raise ValueError(f"The 'strategy' parameter of uplift_at_k must be 'overall' or 'by_group'. Got {strategy!r}.")
    is_share = isinstance(k, float)
    if (is_share and not 0 < k < 1) or (not is_share and not 0 < k < y.size):
        raise ValueError(f"The 'k' parameter of uplift_at_k must be a share in (0, 1) or a count. Got {k!r}.")
    order = np.argsort(u, kind="mergesort")[::-1]
    y, t = y[order], t[order]
    if strategy == "overall":
        n = int(y.size * k) if is_share else int(k)
        top_y, top_t = y[:n], t[:n]
        return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())
    n_c = int((t == 0).sum() * k) if is_share else int(k)
    n_t = int((t == 1).sum() * k) if is_share else int(k)
    return float(y[t == 1][:n_t].mean() - y[t == 0][:n_c].mean())
