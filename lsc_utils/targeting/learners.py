"""Uplift meta-learners over scikit-learn estimators: T-, S-, X-learner and the class transformation.

Each estimates the effect of one treatment against control, ``tau(x) = E[Y | x, T=1] - E[Y | x, T=0]``,
from a **randomised** campaign (assignment independent of the features, no interference between
users). They follow scikit-learn's conventions: parameters stored unchanged, ``fit(X, y, treatment)``
returns self, ``predict(X)`` returns the predicted uplift.

* **T-learner**: one outcome model per arm; uplift = difference of their predictions.
* **S-learner**: one model with the treatment as a feature; uplift = prediction with T=1 minus T=0.
* **X-learner** (Künzel et al. 2019): T-learner outcome models, then imputed effects
  ``y - mu0(x)`` on treated and ``mu1(x) - y`` on controls regressed on x, blended with the
  treatment share ``g``: ``g * tau0(x) + (1 - g) * tau1(x)``.
* **Class transformation** (Jaskowski & Jaroszewicz 2012): for a binary outcome and a 50/50 split,
  ``Z = Y*T + (1-Y)*(1-T)`` and ``uplift = 2 P(Z=1 | x) - 1``; with another treatment share the
  transformed outcome ``Y* = Y (T - p) / (p (1 - p))`` is regressed instead (Athey & Imbens 2015),
  which equals the former at ``p = 0.5`` in expectation.

Binary outcomes use classifiers' ``predict_proba``; continuous outcomes regressors' ``predict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier


def predict_outcome(model: Any, X: np.ndarray) -> np.ndarray:
    """Expected outcome: P(y=1) for a classifier, the prediction for a regressor."""
    return model.predict_proba(X)[:, 1] if is_classifier(model) else model.predict(X)


def _arrays(X: Any, y: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y, t = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(treatment)
    if X.ndim != 2 or len(X) != len(y) or len(y) != len(t):
        raise ValueError(f"X (2-D), y and treatment must have one row per user. Got {X.shape}, {y.shape}, {t.shape}.")
    if not np.isin(t, (0, 1)).all() or t.min() == t.max():
        raise ValueError("treatment must hold both 0 (control) and 1 (treated), and nothing else.")
    return X, y, t.astype(int)


class TLearner(BaseEstimator):
    """Two outcome models, one per arm (``estimator`` cloned for each)."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, treatment: Any) -> TLearner:
        X, y, t = _arrays(X, y, treatment)
        self.model_control_ = clone(self.estimator).fit(X[t == 0], y[t == 0])
        self.model_treated_ = clone(self.estimator).fit(X[t == 1], y[t == 1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return predict_outcome(self.model_treated_, X) - predict_outcome(self.model_control_, X)


class SLearner(BaseEstimator):
    """One outcome model with the treatment flag as its last feature."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, treatment: Any) -> SLearner:
        X, y, t = _arrays(X, y, treatment)
        self.model_ = clone(self.estimator).fit(np.column_stack([X, t]), y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        ones, zeros = np.ones(len(X)), np.zeros(len(X))
        return predict_outcome(self.model_, np.column_stack([X, ones])) - predict_outcome(
            self.model_, np.column_stack([X, zeros])
        )


class XLearner(BaseEstimator):
    """Künzel et al.'s X-learner: outcome models per arm, then effect models on imputed effects."""

    def __init__(self, estimator: Any, effect_estimator: Any) -> None:
        self.estimator = estimator
        self.effect_estimator = effect_estimator

    def fit(self, X: Any, y: Any, treatment: Any) -> XLearner:
        X, y, t = _arrays(X, y, treatment)
        mu0 = clone(self.estimator).fit(X[t == 0], y[t == 0])
        mu1 = clone(self.estimator).fit(X[t == 1], y[t == 1])
        imputed_treated = y[t == 1] - predict_outcome(mu0, X[t == 1])
        imputed_control = predict_outcome(mu1, X[t == 0]) - y[t == 0]
        self.effect_treated_ = clone(self.effect_estimator).fit(X[t == 1], imputed_treated)
        self.effect_control_ = clone(self.effect_estimator).fit(X[t == 0], imputed_control)
        self.treated_share_ = float(t.mean())
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        g = self.treated_share_
        return g * self.effect_control_.predict(X) + (1 - g) * self.effect_treated_.predict(X)


class ClassTransformation(BaseEstimator):
    """Transformed-outcome learner: one regressor on ``Y (T - p) / (p (1 - p))``, ``p`` the treated share."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, treatment: Any) -> ClassTransformation:
        X, y, t = _arrays(X, y, treatment)
        p = float(t.mean())
        self.treated_share_ = p
        self.model_ = clone(self.estimator).fit(X, y * (t - p) / (p * (1 - p)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))
