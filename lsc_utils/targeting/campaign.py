"""The campaign frame: one row per exposed user with features before the exposure and outcomes after it.

:func:`campaign_frame` runs one DuckDB query over the clean ``exposures`` and ``events`` (and
``items`` for list prices): behaviour features from events **strictly before** each user's exposure
time (the same definitions as :data:`~lsc_utils.targeting.propensity.FEATURES`, plus the mean
discount off list price of past purchases), and the outcomes in ``[exposure, exposure + horizon)``: any
event (``visited``), purchases (``orders``, ``converted``), paid ``revenue`` and its value at list
price (``list_value``, for the margin). When the campaign promotes a product set (items whose
``tags`` hold ``campaign:<campaign_id>``, or ``outcome_tag``), only purchases of those items count
as outcomes: the campaign's sales, not everything else users happen to buy. Covariates the experiment itself brings (columns ``x_*`` of
the exposures table, e.g. Hillstrom's pre-period spend) are carried as they are: they were recorded
before the send. The users table adds demographics and member level (known before the send).

:func:`design_matrix` turns the frame into numeric model inputs (one-hot categories, a fixed column
order), :func:`rfm_score` gives the quintile RFM ranking a marketer already has, and
:func:`cross_fitted_uplift` predicts every user's uplift out of fold, so each model is judged on
users it was not trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lsc_utils.checks import DatasetError, check_int
from lsc_utils.io import sql_literal, table_file
from lsc_utils.targeting.learners import ClassTransformation, SLearner, TLearner, XLearner, predict_outcome
from lsc_utils.targeting.propensity import PURCHASE_EVENTS

CAMPAIGN_FEATURES: tuple[str, ...] = (
    "recency_days", "tenure_days", "orders_before", "spend", "events", "events_7d", "events_28d", "views", "carts",
    "favorites", "room_entries", "active_days", "avg_discount", "has_history",
)  # fmt: skip
"""Behaviour features before the exposure: :data:`~lsc_utils.targeting.propensity.FEATURES` (orders named
``orders_before``), the mean discount off list price of past purchases, and whether there is any history."""
OUTCOMES: tuple[str, ...] = ("visited", "orders", "converted", "revenue", "list_value")
USER_CATEGORIES: tuple[str, ...] = ("gender", "member_level", "device", "city_tier", "payment_method")
USER_NUMBERS: tuple[str, ...] = ("age",)
NO_HISTORY_RECENCY_DAYS: float = 365.0
"""Recency given to a user with no event before the exposure (with ``has_history`` = 0)."""


def has_campaign(clean_dir: str | Path) -> bool:
    """True when the clean dataset holds a non-empty ``exposures`` table with a control arm."""
    path = table_file(clean_dir, "exposures")
    if not path.is_file():
        return False
    with duckdb.connect() as con:
        arms = {r[0] for r in con.execute(f"SELECT DISTINCT arm FROM read_parquet({sql_literal(path)})").fetchall()}
    return "control" in arms and len(arms) >= 2


def campaign_frame(
    clean_dir: str | Path, horizon_days: int = 14, campaign_id: str | None = None, outcome_tag: str | None = None
) -> pd.DataFrame:
    """One row per exposed user: arm, assignment probability, features before exposure, outcomes after.

    Parameters
    ----------
    clean_dir : str or Path
        Clean dataset folder with ``exposures.parquet`` and ``events.parquet`` (``items`` and ``users``
        optional).
    horizon_days : int, default 14
        Outcome window after each user's exposure time.
    campaign_id : str, optional
        The campaign to analyse; by default the one with the most exposed users.
    outcome_tag : str, optional
        Count as outcomes only purchases of items with this tag; by default ``campaign:<campaign_id>``
        when such items exist, else every purchase. ``""`` counts every purchase.

    Returns
    -------
    pandas.DataFrame
        ``user_id, campaign_id, arm, exposed_at, assignment_probability``, the ``x_*`` covariates,
        :data:`CAMPAIGN_FEATURES`, user attributes present, :data:`OUTCOMES`; sorted by user.
    """
    check_int(horizon_days, "horizon_days", "campaign_frame", 1)
    folder = Path(clean_dir)
    exposures, events = table_file(folder, "exposures"), table_file(folder, "events")
    for path in (exposures, events):
        if not path.is_file():
            raise DatasetError(f"{path}: missing; a campaign analysis needs exposures and events.")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        campaign_id = campaign_id or _largest_campaign(con, exposures)
        columns = [
            r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(exposures)})").fetchall()
        ]
        covariates = [c for c in columns if c.startswith("x_")]
        kinds = {
            r[0] for r in con.execute(f"SELECT DISTINCT event_type FROM read_parquet({sql_literal(events)})").fetchall()
        }
        buy = next((k for k in PURCHASE_EVENTS if k in kinds), "pay")
        items = table_file(folder, "items")
        items = items if items.is_file() else None
        tag = _outcome_tag(con, items, campaign_id, outcome_tag)
        sql = _frame_sql(exposures, events, items, buy, covariates, tag)
        frame = con.execute(sql, [campaign_id, horizon_days]).df()
    if frame.empty:
        raise DatasetError(f"{exposures}: campaign {campaign_id!r} has no exposed users.")
    frame = _add_user_attributes(frame, folder, events)
    frame["user_id"] = frame["user_id"].astype("str")
    frame = frame.sort_values("user_id", ignore_index=True)
    frame.attrs["outcome_tag"] = tag
    return frame


def _largest_campaign(con: duckdb.DuckDBPyConnection, exposures: Path) -> str:
    row = con.execute(
        f"SELECT campaign_id FROM read_parquet({sql_literal(exposures)}) GROUP BY campaign_id "
        "ORDER BY COUNT(*) DESC, campaign_id LIMIT 1"
    ).fetchone()
    if row is None:
        raise DatasetError(f"{exposures}: no exposures.")
    return str(row[0])


def _outcome_tag(
    con: duckdb.DuckDBPyConnection, items: Path | None, campaign_id: str, outcome_tag: str | None
) -> str | None:
    """The item tag that scopes the outcomes (None: every purchase counts)."""
    if outcome_tag is not None or items is None:
        return outcome_tag or None
    tag = f"campaign:{campaign_id}"
    found = con.execute(
        f"SELECT COUNT(*) FROM read_parquet({sql_literal(items)}) WHERE list_contains(string_split(tags, '|'), ?)",
        [tag],
    ).fetchone()
    return tag if found and found[0] else None


def _frame_sql(
    exposures: Path, events: Path, items: Path | None, buy: str, covariates: list[str], tag: str | None
) -> str:
    """Features before each exposure, outcomes in [exposure, exposure + horizon) (parameters: campaign, days)."""
    ts = "CAST(e.ts AS TIMESTAMPTZ)"
    amount = "COALESCE(CAST(e.price AS DOUBLE), 0) * COALESCE(CAST(e.quantity AS DOUBLE), 1)"
    if items is not None:
        list_amount = f"COALESCE(CAST(i.list_price AS DOUBLE) * COALESCE(CAST(e.quantity AS DOUBLE), 1), {amount})"
        join_items = (
            f"LEFT JOIN read_parquet({sql_literal(items)}) i ON CAST(i.item_id AS VARCHAR) = CAST(e.item_id AS VARCHAR)"
        )
        in_scope = f"list_contains(string_split(COALESCE(i.tags, ''), '|'), {sql_literal(tag)})" if tag else "TRUE"
    else:
        list_amount, join_items, in_scope = amount, "", "TRUE"
    x_cols = "".join(f", x.{c}" for c in covariates)
    return f"""
        WITH x AS (
            SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(campaign_id AS VARCHAR) AS campaign_id,
                   CAST(arm AS VARCHAR) AS arm, CAST(ts AS TIMESTAMPTZ) AS exposed_at,
                   CAST(assignment_probability AS DOUBLE) AS assignment_probability{x_cols}
            FROM read_parquet({sql_literal(exposures)}) x WHERE CAST(campaign_id AS VARCHAR) = ?
        ),
        ev AS (
            SELECT CAST(e.user_id AS VARCHAR) AS user_id, {ts} AS ts, e.event_type,
                   {amount} AS amount, {list_amount} AS list_amount, {in_scope} AS in_scope
            FROM read_parquet({sql_literal(events)}) e {join_items}
            WHERE e.user_id IS NOT NULL AND e.ts IS NOT NULL
              AND CAST(e.user_id AS VARCHAR) IN (SELECT user_id FROM x)
        ),
        joined AS (SELECT x.user_id, x.exposed_at AS t0, ev.* EXCLUDE (user_id) FROM x JOIN ev USING (user_id)),
        past AS (
            SELECT user_id,
                   date_diff('second', MAX(ts), ANY_VALUE(t0)) / 86400.0 AS recency_days,
                   date_diff('second', MIN(ts), ANY_VALUE(t0)) / 86400.0 AS tenure_days,
                   COUNT(*) FILTER (WHERE event_type = '{buy}') AS orders_before,
                   ROUND(COALESCE(SUM(amount) FILTER (WHERE event_type = '{buy}'), 0), 6) AS spend,
                   COUNT(*) AS events,
                   COUNT(*) FILTER (WHERE ts >= t0 - INTERVAL 7 DAY) AS events_7d,
                   COUNT(*) FILTER (WHERE ts >= t0 - INTERVAL 28 DAY) AS events_28d,
                   COUNT(*) FILTER (WHERE event_type = 'view_item') AS views,
                   COUNT(*) FILTER (WHERE event_type = 'add_to_cart') AS carts,
                   COUNT(*) FILTER (WHERE event_type = 'favorite') AS favorites,
                   COUNT(*) FILTER (WHERE event_type = 'enter_room') AS room_entries,
                   COUNT(DISTINCT CAST(ts AS DATE)) AS active_days,
                   ROUND(COALESCE(1 - SUM(amount) FILTER (WHERE event_type = '{buy}')
                       / NULLIF(SUM(list_amount) FILTER (WHERE event_type = '{buy}'), 0), 0), 9) AS avg_discount
            FROM joined WHERE ts < t0 GROUP BY user_id
        ),
        post AS (
            SELECT user_id, COUNT(*) AS window_events,
                   COUNT(*) FILTER (WHERE event_type = '{buy}' AND in_scope) AS orders,
                   ROUND(COALESCE(SUM(amount) FILTER (WHERE event_type = '{buy}' AND in_scope), 0), 6) AS revenue,
                   ROUND(COALESCE(SUM(list_amount) FILTER (WHERE event_type = '{buy}' AND in_scope), 0), 6) AS list_value
            FROM joined WHERE ts >= t0 AND ts < t0 + to_days(CAST(? AS INTEGER)) GROUP BY user_id
        )
        SELECT x.*,
               COALESCE(p.recency_days, {NO_HISTORY_RECENCY_DAYS}) AS recency_days,
               COALESCE(p.tenure_days, 0) AS tenure_days,
               COALESCE(p.orders_before, 0) AS orders_before, COALESCE(p.spend, 0) AS spend,
               COALESCE(p.events, 0) AS events, COALESCE(p.events_7d, 0) AS events_7d,
               COALESCE(p.events_28d, 0) AS events_28d, COALESCE(p.views, 0) AS views,
               COALESCE(p.carts, 0) AS carts, COALESCE(p.favorites, 0) AS favorites,
               COALESCE(p.room_entries, 0) AS room_entries, COALESCE(p.active_days, 0) AS active_days,
               COALESCE(p.avg_discount, 0) AS avg_discount,
               CAST(p.user_id IS NOT NULL AS INTEGER) AS has_history,
               CAST(COALESCE(q.window_events, 0) > 0 AS INTEGER) AS visited,
               COALESCE(q.orders, 0) AS orders, CAST(COALESCE(q.orders, 0) > 0 AS INTEGER) AS converted,
               COALESCE(q.revenue, 0) AS revenue, COALESCE(q.list_value, 0) AS list_value
        FROM x LEFT JOIN past p USING (user_id) LEFT JOIN post q USING (user_id)
    """


def _add_user_attributes(frame: pd.DataFrame, folder: Path, events: Path) -> pd.DataFrame:
    """Join demographics, member level and marketing consent from users, and the usual payment method."""
    users_path = table_file(folder, "users")
    if users_path.is_file():
        users = pd.read_parquet(users_path)
        keep = ["user_id", *[c for c in (*USER_CATEGORIES, *USER_NUMBERS, "consent_marketing") if c in users]]
        users = users[keep].assign(user_id=users["user_id"].astype("str"))
        frame = frame.merge(users, on="user_id", how="left")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(events)})").fetchall()}
        if "payment_method" not in columns:
            return frame
        con.register("exposed", frame[["user_id", "exposed_at"]])
        usual = con.execute(
            f"""SELECT user_id, payment_method FROM (
                    SELECT CAST(e.user_id AS VARCHAR) AS user_id, CAST(e.payment_method AS VARCHAR) AS payment_method,
                           ROW_NUMBER() OVER (PARTITION BY CAST(e.user_id AS VARCHAR)
                                              ORDER BY COUNT(*) DESC, CAST(e.payment_method AS VARCHAR)) AS r
                    FROM read_parquet({sql_literal(events)}) e JOIN exposed x ON CAST(e.user_id AS VARCHAR) = x.user_id
                    WHERE e.payment_method IS NOT NULL AND CAST(e.ts AS TIMESTAMPTZ) < x.exposed_at
                    GROUP BY 1, 2
                ) WHERE r = 1"""  # the most used method, ties broken by name (MODE() breaks them at random)
        ).df()
    if len(usual):
        frame = frame.merge(usual, on="user_id", how="left")
        frame["payment_method"] = frame["payment_method"].fillna("none")
    return frame


def design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric model inputs: behaviour features, numeric covariates, one-hot categories (sorted levels).

    Categorical user attributes and non-numeric ``x_*`` covariates become one indicator per level
    (missing as its own level); constant columns are dropped. The column order is fixed by the data,
    not by row order, so the same frame always gives the same matrix.
    """
    numeric = [c for c in CAMPAIGN_FEATURES if c in frame]
    covariates = [c for c in frame.columns if c.startswith("x_")]
    numeric += [c for c in (*USER_NUMBERS, *covariates) if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in (*USER_CATEGORIES, *covariates) if c in frame and c not in numeric]
    parts = [frame[numeric].astype(float)]
    for column in categorical:
        values = frame[column].astype("str").fillna("missing")
        for level in sorted(values.unique()):
            parts.append(pd.Series((values == level).astype(float), name=f"{column}={level}", index=frame.index))
    matrix = pd.concat(parts, axis=1)
    matrix = matrix.fillna(matrix.median(numeric_only=True)).fillna(0.0)
    return matrix.loc[:, matrix.nunique() > 1]


def rfm_score(frame: pd.DataFrame) -> np.ndarray:
    """The classic RFM score as of the exposure: recency, frequency and monetary quintiles (1-5) summed.

    Quintiles come from percentile ranks (ties share a rank), recency reversed (recent is better), so a
    user without history scores 3; the score ranks users the way a marketer without a model would.
    """

    def quintile(values: pd.Series, ascending: bool = True) -> np.ndarray:
        rank = values.rank(pct=True, method="average", ascending=ascending)
        return np.ceil(rank.to_numpy() * 5).clip(1, 5)

    return quintile(-frame["recency_days"]) + quintile(frame["orders_before"]) + quintile(frame["spend"])


def uplift_learners(random_state: int = 42) -> dict[str, Any]:
    """The uplift model zoo: T-, S-, X-learner and class transformation over gradient boosting, and a linear T-learner.

    Regressors throughout, so the same learners serve binary (conversion), count (orders) and money
    (profit) outcomes. The boosting is kept shallow and regularised: an effect is a small difference
    between two noisy means.
    """

    def boosting() -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=40, l2_regularization=1.0,
            random_state=random_state,
        )  # fmt: skip

    linear = make_pipeline(StandardScaler(), Ridge(alpha=10.0))
    return {
        "t_learner_boosting": TLearner(boosting()),
        "s_learner_boosting": SLearner(boosting()),
        "x_learner_boosting": XLearner(boosting(), boosting()),
        "class_transformation_boosting": ClassTransformation(boosting()),
        "t_learner_linear": TLearner(linear),
    }


def cross_fitted_uplift(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    treatment: np.ndarray,
    learners: dict[str, Any],
    n_splits: int = 5,
    random_state: int = 42,
) -> pd.DataFrame:
    """Out-of-fold uplift of every user from every learner (folds stratified by arm and response).

    Returns
    -------
    pandas.DataFrame
        One column per learner, one row per user (in the input order).
    """
    check_int(n_splits, "n_splits", "cross_fitted_uplift", 2)
    X, y, t = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(treatment, dtype=int)
    strata = t * 2 + (y > 0)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    out = {name: np.zeros(len(y)) for name in learners}
    for train, test in folds.split(X, strata):
        for name, learner in learners.items():
            model = clone(learner).fit(X[train], y[train], t[train])
            out[name][test] = model.predict(X[test])
    return pd.DataFrame(out)


def cross_fitted_offer_outcomes(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    arm: np.ndarray,
    depths: dict[str, float],
    estimator: Any,
    control: str = "control",
    n_splits: int = 5,
    random_state: int = 42,
) -> pd.DataFrame:
    """Out-of-fold expected outcome of every user under no contact and under every offer.

    An S-learner over the offers: one model learns the outcome from the features plus two treatment
    columns, *contacted* (0/1) and the offer's discount *depth*, on every user of the campaign, so a
    user's baseline is learnt from all arms and every offer borrows strength from the others (an arm
    fitted alone holds a quarter of the users). An estimator with a ``monotonic_cst`` parameter is
    told that a deeper discount never lowers the outcome (a contact itself may: sleeping dogs).

    Returns
    -------
    pandas.DataFrame
        One column per arm (``control`` and each offer), one row per user (in the input order).
    """
    check_int(n_splits, "n_splits", "cross_fitted_offer_outcomes", 2)
    X, y, arm = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(arm, dtype=object)
    arms = [control, *sorted(set(arm) - {control})]
    depth = np.array([depths.get(a, 0.0) for a in arm])
    model = clone(estimator)
    if "monotonic_cst" in model.get_params():
        model.set_params(monotonic_cst=[0] * X.shape[1] + [0, 1])
    inputs = np.column_stack([X, (arm != control).astype(float), depth])
    codes = pd.factorize(arm, sort=True)[0]
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    out = {a: np.zeros(len(y)) for a in arms}
    for train, test in folds.split(X, codes * 2 + (y > 0)):
        fitted = clone(model).fit(inputs[train], y[train])
        for a in arms:
            treatment = np.column_stack(
                [np.full(test.size, float(a != control)), np.full(test.size, depths.get(a, 0.0))]
            )
            out[a][test] = predict_outcome(fitted, np.column_stack([X[test], treatment]))
    return pd.DataFrame(out)


def cross_fitted_order_value(
    X: pd.DataFrame | np.ndarray,
    value: np.ndarray,
    buyers: np.ndarray,
    estimator: Any,
    n_splits: int = 5,
    random_state: int = 42,
) -> np.ndarray:
    """Out-of-fold expected list value of an order for every user, learnt on the buyers (any arm).

    An offer changes whether a user buys, not what an order is worth at list price, so one model
    over the buyers of every arm serves every arm.
    """  # fmt: skip
    X, value, buyers = np.asarray(X, dtype=float), np.asarray(value, dtype=float), np.asarray(buyers, dtype=bool)
    out = np.full(len(value), np.nan)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(X, buyers.astype(int)):
        rows = train[buyers[train]]
        if rows.size < 10:
            out[test] = np.mean(value[buyers]) if buyers.any() else 0.0
            continue
        out[test] = clone(estimator).fit(X[rows], value[rows]).predict(X[test])
    return np.clip(out, 0.0, None)


def arm_depths(arms: list[str], overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Discount depth of every arm: ``overrides`` first, then a trailing percentage in the name
    (``coupon_20`` -> 0.20), else 0 (a contact without a discount, e.g. an e-mail)."""
    depths = {}
    for name in arms:
        if overrides and name in overrides:
            depths[name] = float(overrides[name])
            continue
        tail = str(name).rsplit("_", 1)[-1]
        depths[name] = float(tail) / 100 if tail.isdigit() and 0 < int(tail) < 100 else 0.0
    return depths


def cross_fitted_arm_uplift(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    arm: np.ndarray,
    learner: Any,
    control: str = "control",
    n_splits: int = 5,
    random_state: int = 42,
) -> pd.DataFrame:
    """Out-of-fold uplift of every user for every treatment arm against control (one learner per arm).

    For each fold and each arm ``a``, ``learner`` is fitted on the training users of ``control`` and
    ``a`` and predicts the effect of ``a`` for every held-out user, whatever arm they were drawn into.

    Returns
    -------
    pandas.DataFrame
        One column per treatment arm (sorted), one row per user (in the input order).
    """
    check_int(n_splits, "n_splits", "cross_fitted_arm_uplift", 2)
    X, y, arm = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(arm, dtype=object)
    treatments = sorted(set(arm) - {control})
    codes = pd.factorize(arm, sort=True)[0]
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    out = {a: np.zeros(len(y)) for a in treatments}
    for train, test in folds.split(X, codes * 2 + (y > 0)):
        for a in treatments:
            rows = train[(arm[train] == control) | (arm[train] == a)]
            model = clone(learner).fit(X[rows], y[rows], (arm[rows] == a).astype(int))
            out[a][test] = model.predict(X[test])
    return pd.DataFrame(out)


def incremental_profit(
    uplift: pd.DataFrame,
    base: np.ndarray,
    order_value: np.ndarray,
    depths: dict[str, float],
    margin: float,
    cost_per_contact: float,
) -> pd.DataFrame:
    """Predicted incremental profit of each offer for each user, against not contacting them.

    ``uplift`` holds each offer's predicted effect on the number of orders
    (:func:`cross_fitted_arm_uplift`), ``base`` the expected orders without contact; an order under an
    offer of depth ``d`` earns ``value * (margin - d)`` (``value`` at list price), so
    ``profit(a) = value * ((margin - d_a) * uplift_a - d_a * base) - cost_per_contact``: a coupon
    given to a user who would have bought anyway costs its discount (a "sure thing"), a contact that
    puts a user off loses their margin (a "sleeping dog").
    """  # fmt: skip
    value = np.asarray(order_value, dtype=float)
    base = np.clip(np.asarray(base, dtype=float), 0.0, None)
    return pd.DataFrame(
        {
            a: value * ((margin - depths.get(a, 0.0)) * uplift[a].to_numpy() - depths.get(a, 0.0) * base)
            - cost_per_contact
            for a in uplift.columns
        }
    )


def cross_fitted_response(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    treatment: np.ndarray,
    estimator: Any,
    n_splits: int = 5,
    random_state: int = 42,
) -> np.ndarray:
    """Out-of-fold response score: the outcome among treated users, predicted for everyone.

    This is what "target the users most likely to respond" ranks by; it cannot tell a user who
    responds because of the contact from one who would have responded anyway.
    """
    check_int(n_splits, "n_splits", "cross_fitted_response", 2)
    X, y, t = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(treatment, dtype=int)
    out = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for train, test in folds.split(X, t * 2 + (y > 0)):
        rows = train[t[train] == 1]
        out[test] = predict_outcome(clone(estimator).fit(X[rows], y[rows]), X[test])
    return out


def offer_uplift(pooled: np.ndarray, depths: dict[str, float], control: str = "control") -> pd.DataFrame:
    """Each offer's effect from the pooled effect of a contact, assuming the effect is proportional to depth.

    ``pooled`` is a user's predicted effect of the average offer (an uplift model fitted on contact vs
    control); an offer of depth ``d`` gets ``pooled * d / mean depth`` (the elasticity model of the
    offers section: a deeper coupon moves a price-sensitive user more, an indifferent one not at all).
    When no offer carries a discount (e-mails, pushes) every offer gets the pooled effect.
    """
    offers = [a for a in depths if a != control]
    mean_depth = float(np.mean([depths[a] for a in offers])) if offers else 0.0
    pooled = np.asarray(pooled, dtype=float)
    if mean_depth <= 0:
        return pd.DataFrame({a: pooled for a in offers})
    return pd.DataFrame({a: pooled * depths[a] / mean_depth for a in offers})
