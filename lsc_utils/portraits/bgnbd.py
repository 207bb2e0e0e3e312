"""BG/NBD (Fader, Hardie & Lee 2005a) and Gamma-Gamma (Fader & Hardie 2013) fitted by maximum likelihood."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from lsc_utils.portraits._input import ArrayLike

# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------


def _check_rft(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    x, t_x, big_t = np.broadcast_arrays(x, t_x, big_t)
    problems = []
    if not np.all(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(big_t)):
        problems.append("frequency, recency and T must be finite")
    elif (x < 0).any() or (x != np.round(x)).any():
        problems.append(f"'frequency' must hold ints >= 0 (got e.g. {x[(x < 0) | (x != np.round(x))][:3].tolist()})")
    elif (t_x < 0).any() or (t_x > big_t + 1e-9).any():
        problems.append("'recency' must satisfy 0 <= recency <= T")
    elif ((x == 0) & (t_x != 0)).any():
        problems.append("'recency' must be 0 where frequency is 0")
    if problems:
        raise ValueError(f"{where}: {'; '.join(problems)}.")
    return x, t_x, big_t


def bg_nbd_log_likelihood(
    params: dict[str, float], frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, equation (6) of Fader, Hardie & Lee (2005a) in log form.

    ``ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4))`` with
    ``A1 = ln G(r+x) - ln G(r) + r ln a``, ``A2 = ln B(a, b+x) - ln B(a, b)``,
    ``A3 = -(r+x) ln(alpha+T)`` and ``A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)``.

    Parameters
    ----------
    params : dict
        ``r``, ``alpha``, ``a``, ``b`` (all > 0).
    frequency, recency, T : array-like
        Repeat transactions x, time of the last one t_x and observation time T per customer.

    Returns
    -------
    ndarray
    """
    x, t_x, big_t = _check_rft(frequency, recency, T, "bg_nbd_log_likelihood")
    return _bg_terms(
        np.array([params["r"], params["alpha"], params["a"], params["b"]], dtype=float), x, t_x, big_t, gradient=False
    )[0]


def _bg_terms(
    theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-likelihood per customer and (optionally) its gradient with respect to (r, alpha, a, b)."""
    r, alpha, a, b = theta
    rx = r + x
    repeat = x > 0
    a1 = special.gammaln(rx) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    log_at, log_atx = np.log(alpha + big_t), np.log(alpha + t_x)
    a3 = -rx * log_at
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - rx * log_atx, -np.inf)
    tail = np.logaddexp(a3, a4)
    ll = a1 + a2 + tail
    if not gradient:
        return ll, None
    w3 = np.exp(a3 - tail)
    w4 = np.exp(a4 - tail)
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    d_r = special.digamma(rx) - special.digamma(r) + np.log(alpha) + w3 * (-log_at) + w4 * (-log_atx)
    d_alpha = r / alpha + w3 * (-rx / (alpha + big_t)) + w4 * (-rx / (alpha + t_x))
    d_a = special.digamma(a + b) - special.digamma(a + b + x) + w4 / a
    d_b = special.digamma(a + b) + special.digamma(b + x) - special.digamma(b) - special.digamma(a + b + x) - w4 / b_x1
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def _compress(*columns: np.ndarray, weights: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the columns with summed weights (customers sharing a history count once)."""
    stacked = np.column_stack(columns)
    w = np.ones(len(stacked)) if weights is None else np.asarray(weights, dtype=float)
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=w, minlength=len(uniq))
    return [uniq[:, i] for i in range(uniq.shape[1])], summed


def _numerical_hessian(objective: Any, log_theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Hessian of the objective by central differences of its analytic gradient (symmetrised)."""
    k = len(log_theta)
    hess = np.empty((k, k))
    for i in range(k):
        shift = np.zeros(k)
        shift[i] = step
        hess[:, i] = (objective(log_theta + shift)[1] - objective(log_theta - shift)[1]) / (2 * step)
    return (hess + hess.T) / 2.0


def _maximize(objective: Any, x0: np.ndarray, max_iter: int, tol: float, name: str) -> tuple[np.ndarray, bool, str]:
    """Minimise a smooth objective over log-parameters.

    L-BFGS-B with the analytic gradient gets close; up to five Newton steps with a finite-difference
    Hessian of the gradient then polish to machine precision (quadratic convergence), each kept only
    if it does not increase the objective. Converged means max |gradient| < ``tol``.
    """
    first = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-8}
    )
    x, (fx, grad) = first.x, objective(first.x)
    for _ in range(5):
        if np.max(np.abs(grad)) < tol * 1e-3:
            break
        try:
            step = np.linalg.solve(_numerical_hessian(objective, x), grad)
        except np.linalg.LinAlgError:
            break
        candidate = x - step
        f_new, g_new = objective(candidate)
        if not np.isfinite(f_new) or f_new > fx + 1e-15 * abs(fx):
            break
        x, fx, grad = candidate, f_new, g_new
    converged = bool(np.all(np.isfinite(x)) and np.max(np.abs(grad)) < tol)
    if not converged:
        warnings.warn(
            f"{name} did not converge (max |gradient| {np.max(np.abs(grad)):.2e}): {first.message}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return x, converged, str(first.message)


def _standard_errors(objective: Any, log_theta: np.ndarray, n: float, names: Sequence[str]) -> dict[str, float]:
    """Delta-method standard errors from the observed information of the total log-likelihood."""
    try:
        cov_log = np.linalg.inv(_numerical_hessian(objective, log_theta) * n)
    except np.linalg.LinAlgError:
        return dict.fromkeys(names, float("nan"))
    theta = np.exp(log_theta)
    se = theta * np.sqrt(np.clip(np.diag(cov_log), 0, None))
    return {name: float(s) for name, s in zip(names, se, strict=True)}


class BetaGeoModel(BaseEstimator):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005a), fitted by maximum likelihood.

    While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after
    each repeat purchase they drop out with probability ``p ~ Beta(a, b)``. Fitting maximises the
    log-likelihood over log-parameters (L-BFGS-B with the analytic gradient, polished with BFGS);
    customers with identical (frequency, recency, T) are evaluated once with a weight.

    Parameters
    ----------
    penalizer_coef : float
        L2 penalty on the parameters added to the mean negative log-likelihood (0 = plain MLE,
        as ``lifetimes``' ``penalizer_coef``).
    max_iter : int
        Iteration limit of each optimiser.
    tol : float
        Convergence criterion: max |gradient| of the mean negative log-likelihood over log-parameters.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Total log-likelihood at ``params_`` (without penalty).
    standard_errors_ : dict
        Delta-method standard errors from the observed information.
    n_customers_ : int
    converged_ : bool
    """

    param_names: tuple[str, ...] = ("r", "alpha", "a", "b")

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000, tol: float = 1e-7) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter
        self.tol = tol

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> BetaGeoModel:
        """Fit to per-customer (frequency, recency, T) in one time unit.

        Returns
        -------
        BetaGeoModel
            self
        """
        if self.penalizer_coef < 0:
            raise ValueError(
                f"The 'penalizer_coef' parameter of BetaGeoModel must be >= 0. Got {self.penalizer_coef} instead."
            )
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.fit")
        if x.size == 0:
            raise ValueError("BetaGeoModel.fit needs at least one customer. Got 0 instead.")
        (x, t_x, big_t), w = _compress(
            x.ravel(), t_x.ravel(), big_t.ravel(), weights=None if weights is None else np.asarray(weights)
        )
        total = w.sum()
        penalty = self.penalizer_coef

        def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = _bg_terms(theta, x, t_x, big_t, gradient=True)
            value = -(w @ ll) / total + penalty * np.sum(theta**2)
            g = -(grad @ w) / total * theta + penalty * 2 * theta**2
            if not np.isfinite(value):
                return np.inf, np.zeros_like(log_theta)
            return float(value), g

        log_theta, self.converged_, self.message_ = _maximize(
            objective, np.zeros(4), self.max_iter, self.tol, "BetaGeoModel"
        )
        theta = np.exp(log_theta)
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = float(w @ _bg_terms(theta, x, t_x, big_t, gradient=False)[0])
        self.standard_errors_ = _standard_errors(objective, log_theta, total, self.param_names)
        self.n_customers_ = int(round(total))
        return self

    def _theta(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise AttributeError("This BetaGeoModel is not fitted yet: call fit(frequency, recency, T) first.")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Per-customer log-likelihood at the fitted parameters."""
        return bg_nbd_log_likelihood(self.params_, frequency, recency, T)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), eq. (11)."""
        r, alpha, a, b = self._theta()
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.probability_alive")
        return 1.0 / (1.0 + self._odds_dead(x, t_x, big_t, r, alpha, a, b))

    @staticmethod
    def _odds_dead(
        x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, r: float, alpha: float, a: float, b: float
    ) -> np.ndarray:
        repeat = x > 0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
            )
            return np.where(repeat, np.exp(log_odds), 0.0)

    def predict_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (T, T + t] given the history, eq. (10) of FHL (2005a).

        ``E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``.
        All arguments broadcast against each other.
        """
        r, alpha, a, b = self._theta()
        x, t_x, big_t = _check_rft(frequency, recency, T, "BetaGeoModel.predict_purchases")
        horizon = np.asarray(t, dtype=float)
        if (horizon < 0).any():
            raise ValueError("The 't' parameter of predict_purchases must be >= 0.")
        horizon, x, t_x, big_t = np.broadcast_arrays(horizon, x, t_x, big_t)
        rx = r + x
        z = horizon / (alpha + big_t + horizon)
        decay = np.exp(rx * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
        bracket = 1.0 - decay * special.hyp2f1(rx, b + x, a + b + x - 1.0, z)
        expected = (a + b + x - 1.0) / (a - 1.0) * bracket
        return expected / (1.0 + self._odds_dead(x, t_x, big_t, r, alpha, a, b))

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] of a new customer, eq. (9) of FHL (2005a)."""
        r, alpha, a, b = self._theta()
        horizon = np.asarray(t, dtype=float)
        z = horizon / (alpha + horizon)
        decay = (alpha / (alpha + horizon)) ** r
        return (a + b - 1.0) / (a - 1.0) * (1.0 - decay * special.hyp2f1(r, b, a + b - 1.0, z))


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------


def _check_spend(frequency: ArrayLike, monetary_value: ArrayLike, where: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    bad_x = ~np.isfinite(x) | (x <= 0)
    if bad_x.any():
        raise ValueError(
            f"{where}: 'frequency' must be > 0 (repeat customers only). Got {int(bad_x.sum())} values <= 0 or null (e.g. {x[bad_x][:3].tolist()})."
        )
    bad_m = ~np.isfinite(m) | (m <= 0)
    if bad_m.any():
        raise ValueError(
            f"{where}: 'monetary_value' must be > 0. Got {int(bad_m.sum())} values <= 0 or null (e.g. {m[bad_m][:3].tolist()}); "
            "fit on repeat customers with a positive known mean spend."
        )
    return x, m


def gamma_gamma_log_likelihood(params: dict[str, float], frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend (Fader & Hardie 2013, eq. 1a).

    ``ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(x m + v)``.
    """
    x, m = _check_spend(frequency, monetary_value, "gamma_gamma_log_likelihood")
    return _gg_terms(np.array([params["p"], params["q"], params["v"]], dtype=float), x, m, gradient=False)[0]


def _gg_terms(theta: np.ndarray, x: np.ndarray, m: np.ndarray, gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, v = theta
    px = p * x
    log_xmv = np.log(x * m + v)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_xmv
    )
    if not gradient:
        return ll, None
    d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(m) + np.log(x) - log_xmv)
    d_q = special.digamma(px + q) - special.digamma(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    return ll, np.stack([d_p, d_q, d_v])


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of the mean transaction value (Fader, Hardie & Lee 2005b; Fader & Hardie 2013).

    A customer's transaction values are ``Gamma(p, nu)`` around their mean ``p / nu`` with
    ``nu ~ Gamma(q, v)`` across customers; fitted by maximum likelihood on repeat customers'
    mean repeat-transaction value. It assumes spend is independent of frequency (check their
    correlation first).

    Parameters
    ----------
    penalizer_coef : float
        L2 penalty on the parameters (0 = plain MLE).
    max_iter : int
    tol : float

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v``.
    log_likelihood_ : float
    standard_errors_ : dict
    n_customers_ : int
    converged_ : bool
    """

    param_names: tuple[str, ...] = ("p", "q", "v")

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000, tol: float = 1e-7) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaModel:
        """Fit to repeat customers' frequency (> 0) and mean repeat-transaction value (> 0).

        Returns
        -------
        GammaGammaModel
            self
        """
        if self.penalizer_coef < 0:
            raise ValueError(
                f"The 'penalizer_coef' parameter of GammaGammaModel must be >= 0. Got {self.penalizer_coef} instead."
            )
        x, m = _check_spend(frequency, monetary_value, "GammaGammaModel.fit")
        if x.size == 0:
            raise ValueError("GammaGammaModel.fit needs at least one repeat customer. Got 0 instead.")
        (x, m), w = _compress(x.ravel(), m.ravel(), weights=None if weights is None else np.asarray(weights))
        total = w.sum()
        penalty = self.penalizer_coef

        def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = _gg_terms(theta, x, m, gradient=True)
            value = -(w @ ll) / total + penalty * np.sum(theta**2)
            if not np.isfinite(value):
                return np.inf, np.zeros_like(log_theta)
            return float(value), -(grad @ w) / total * theta + penalty * 2 * theta**2

        log_theta, self.converged_, self.message_ = _maximize(
            objective, np.zeros(3), self.max_iter, self.tol, "GammaGammaModel"
        )
        theta = np.exp(log_theta)
        self.params_ = dict(zip(self.param_names, map(float, theta), strict=True))
        self.log_likelihood_ = float(w @ _gg_terms(theta, x, m, gradient=False)[0])
        self.standard_errors_ = _standard_errors(objective, log_theta, total, self.param_names)
        self.n_customers_ = int(round(total))
        return self

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """E[mean spend | x, m] = (q-1)/(px+q-1) * v p/(q-1) + px/(px+q-1) * m (eq. 5 of Fader & Hardie 2013).

        Customers with ``frequency`` 0 get the population mean ``v p / (q - 1)`` (their
        ``monetary_value`` is ignored). Needs q > 1 for a finite population mean.
        """
        if not hasattr(self, "params_"):
            raise AttributeError("This GammaGammaModel is not fitted yet: call fit(frequency, monetary_value) first.")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        if q <= 1:
            raise ValueError(f"The fitted q = {q:.4g} <= 1: the population mean spend v p / (q - 1) is not finite.")
        x = np.asarray(frequency, dtype=float)
        m = np.nan_to_num(np.asarray(monetary_value, dtype=float), nan=0.0)
        x, m = np.broadcast_arrays(x, m)
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * (v * p / (q - 1.0)) + weight * m
