"""Purchase propensity: P(purchase in the next ``horizon`` days) per user, without leakage.

Features are computed by one DuckDB query over the clean events **strictly before** the cutoff and
the label from purchases in ``[cutoff, cutoff + horizon)``; nothing at or after the cutoff reaches a
feature. Extra features a user brings (a CRM score, a segment) must carry the instant they were
known (``as_of``): those known at or after the cutoff are refused by :func:`join_extra_features`
with one line naming them, because a score computed after the cutoff has seen the label period.

Models: scikit-learn's ``HistGradientBoostingClassifier`` and a standardised logistic regression,
both seeded; :func:`propensity_scores` reports ROC-AUC, PR-AUC (average precision), Brier score, the
reliability curve and lift by decile, beside any ranking a marketer already has (an RFM score,
expected purchases) scored the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lsc_utils.checks import DatasetError, check_int, require_columns
from lsc_utils.io import table_file

PURCHASE_EVENTS: tuple[str, ...] = ("pay", "order")
FEATURES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "orders",
    "spend",
    "events",
    "events_7d",
    "events_28d",
    "views",
    "carts",
    "favorites",
    "room_entries",
    "active_days",
)
"""Behaviour features, all from events strictly before the cutoff."""


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def propensity_frame(events: str | Path, cutoff: pd.Timestamp, horizon_days: int = 14) -> pd.DataFrame:
    """One row per user active before ``cutoff``: :data:`FEATURES` and the label ``buys``.

    Parameters
    ----------
    events : str or Path
        Clean events Parquet file (or the clean dataset folder).
    cutoff : Timestamp
        Features use events with ``ts < cutoff``; the label, purchases with ``cutoff <= ts < cutoff + horizon``.
    horizon_days : int, default 14
        Length of the label window.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, the features and ``buys`` (0/1), sorted by user.
    """
    check_int(horizon_days, "horizon_days", "propensity_frame", 1)
    path = table_file(events, "events")
    if not path.exists():
        raise DatasetError(f"{path}: no events Parquet file (expected a clean dataset's events.parquet).")
    cutoff = pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
    end = cutoff + pd.Timedelta(days=horizon_days)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        kinds = {
            r[0] for r in con.execute(f"SELECT DISTINCT event_type FROM read_parquet({_sql_path(path)})").fetchall()
        }
        buy = next((k for k in PURCHASE_EVENTS if k in kinds), None)
        if buy is None:
            raise DatasetError(f"{path}: no 'pay' or 'order' events, so there is no purchase to predict.")
        frame = con.execute(_query(path, buy), [cutoff, cutoff, cutoff, cutoff, cutoff, cutoff, end]).df()
    frame["user_id"] = frame["user_id"].astype("str")
    return frame.sort_values("user_id", ignore_index=True)


def _query(path: Path, buy: str) -> str:
    """Features before the cutoff (parameters 1-6) and the label in [cutoff, end) (parameters 6-7)."""
    ts = "CAST(ts AS TIMESTAMPTZ)"
    return f"""
        WITH ev AS (
            SELECT CAST(user_id AS VARCHAR) AS user_id, {ts} AS ts, event_type,
                   COALESCE(CAST(price AS DOUBLE), 0) * COALESCE(CAST(quantity AS DOUBLE), 1) AS amount
            FROM read_parquet({_sql_path(path)}) WHERE user_id IS NOT NULL AND ts IS NOT NULL
        ),
        past AS (
            SELECT user_id,
                   date_diff('second', MAX(ts), CAST(? AS TIMESTAMPTZ)) / 86400.0 AS recency_days,
                   date_diff('second', MIN(ts), CAST(? AS TIMESTAMPTZ)) / 86400.0 AS tenure_days,
                   COUNT(*) FILTER (WHERE event_type = '{buy}') AS orders,
                   ROUND(COALESCE(SUM(amount) FILTER (WHERE event_type = '{buy}'), 0), 6) AS spend,
                   COUNT(*) AS events,
                   COUNT(*) FILTER (WHERE ts >= CAST(? AS TIMESTAMPTZ) - INTERVAL 7 DAY) AS events_7d,
                   COUNT(*) FILTER (WHERE ts >= CAST(? AS TIMESTAMPTZ) - INTERVAL 28 DAY) AS events_28d,
                   COUNT(*) FILTER (WHERE event_type = 'view_item') AS views,
                   COUNT(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,
                   COUNT(*) FILTER (WHERE event_type = 'favorite') AS favorites,
                   COUNT(*) FILTER (WHERE event_type = 'enter_room') AS room_entries,
                   COUNT(DISTINCT CAST(ts AS DATE)) AS active_days
            FROM ev WHERE ts < CAST(? AS TIMESTAMPTZ)
            GROUP BY user_id
        ),
        label AS (
            SELECT DISTINCT user_id FROM ev
            WHERE event_type = '{buy}' AND ts >= CAST(? AS TIMESTAMPTZ) AND ts < CAST(? AS TIMESTAMPTZ)
        )
        SELECT p.*, CAST(l.user_id IS NOT NULL AS INTEGER) AS buys
        FROM past p LEFT JOIN label l USING (user_id)
    """


def join_extra_features(
    frame: pd.DataFrame, extra: pd.DataFrame, cutoff: pd.Timestamp, as_of: str = "as_of"
) -> pd.DataFrame:
    """Add user-level features known before ``cutoff``; a feature known at or after it is refused.

    Raises
    ------
    DatasetError
        Names the columns whose ``as_of`` is at or after the cutoff (they would leak the label).
    """
    require_columns(extra, ["user_id", as_of], "extra", "join_extra_features")
    known = pd.to_datetime(extra[as_of], utc=True)
    cutoff = pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
    late = extra.loc[known >= cutoff]
    if len(late):
        columns = sorted(set(extra.columns) - {"user_id", as_of})
        raise DatasetError(
            f"extra features {columns}: {len(late)} rows are known at or after the cutoff {cutoff:%Y-%m-%d %H:%M} "
            f"(e.g. as_of {late[as_of].iloc[0]}); they would leak the label period."
        )
    return frame.merge(extra.drop(columns=as_of), on="user_id", how="left")


def propensity_models(random_state: int = 42) -> dict[str, Any]:
    """The two propensity models: gradient boosting and a standardised logistic regression."""
    return {
        "gradient_boosting": HistGradientBoostingClassifier(random_state=random_state, max_iter=200),
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    }


def lift_by_decile(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Response rate per score decile (1 = highest scores) and its lift over the overall rate."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    decile = np.empty(len(order), dtype=int)
    decile[order] = np.arange(len(order)) * 10 // len(order) + 1
    table = pd.DataFrame({"decile": decile, "y": y}).groupby("decile")["y"].agg(users="size", buyers="sum")
    table["rate"] = table["buyers"] / table["users"]
    table["lift"] = table["rate"] / (table["buyers"].sum() / table["users"].sum())
    table["cumulative_gain"] = table["buyers"].cumsum() / table["buyers"].sum()
    return table.reset_index()


def propensity_scores(
    y: np.ndarray, scores: dict[str, np.ndarray], n_bins: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ROC-AUC, PR-AUC and (for probabilities) Brier score of each ranking, and their reliability curves.

    Parameters
    ----------
    y : numpy.ndarray
        Observed labels (0/1).
    scores : dict of str to numpy.ndarray
        Each ranking's scores; a ranking whose scores lie in [0, 1] is also scored as a probability.
    n_bins : int, default 10
        Quantile bins of the reliability curves.

    Returns
    -------
    metrics : pandas.DataFrame
        ``ranking, roc_auc, pr_auc, brier`` (Brier NaN for scores that are not probabilities).
    reliability : pandas.DataFrame
        ``ranking, predicted, observed`` per bin (probabilities only).
    """
    rows, curves = [], []
    for name, score in scores.items():
        score = np.asarray(score, dtype=float)
        is_probability = bool(score.min() >= 0 and score.max() <= 1)
        rows.append(
            {
                "ranking": name,
                "roc_auc": roc_auc_score(y, score),
                "pr_auc": average_precision_score(y, score),
                "brier": brier_score_loss(y, score) if is_probability else np.nan,
            }
        )
        if is_probability:
            observed, predicted = calibration_curve(y, score, n_bins=n_bins, strategy="quantile")
            curves.append(pd.DataFrame({"ranking": name, "predicted": predicted, "observed": observed}))
    reliability = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return pd.DataFrame(rows), reliability
