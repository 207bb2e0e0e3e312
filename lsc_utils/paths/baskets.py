"""Basket analysis (frequent itemsets, association rules) and viewed-but-not-bought items."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.constants import PURCHASE_EVENTS
from lsc_utils.paths._events import (
    EventsInput,
    _check_column_name,
    _check_fraction,
    _check_text,
    _events_connection,
    _window_us,
)
from lsc_utils.schema import DatasetError

# --------------------------------------------------------------------------------------------------
# Basket analysis
# --------------------------------------------------------------------------------------------------


@dataclass
class BasketMatrix:
    """Binary basket x item matrix.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
        ``matrix[b, i] = 1`` if basket ``b`` holds item ``i`` (int64 ones).
    items : numpy.ndarray
        Item ids of the columns, sorted.
    baskets : numpy.ndarray
        Basket keys of the rows, sorted.
    """

    matrix: sp.csc_matrix
    items: np.ndarray
    baskets: np.ndarray


def build_basket_matrix(
    events: EventsInput,
    basket: str = "order_id",
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> BasketMatrix:
    """Baskets of purchase events as a sparse binary matrix.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    basket : {"order_id", "session_id"}, default "order_id"
        Basket key. With ``"order_id"``, events without an order id fall back to their session.
    item_column : str, default "item_id"
        Item column.
    event_types : sequence of str, default ("pay",)
        Event types whose items are in the basket.

    Returns
    -------
    BasketMatrix
    """
    owner = "build_basket_matrix"
    basket = _check_choice(basket, "basket", owner, ("order_id", "session_id"))
    item_column = _check_column_name(item_column, "item_column", owner)
    if isinstance(event_types, str) or not event_types:
        raise ValueError(f"The 'event_types' parameter of {owner} must be a non-empty sequence of event types.")
    session_key = "'session ' || CAST(user_id AS VARCHAR) || ' ' || CAST(session_id AS VARCHAR)"
    if basket == "order_id":
        key = f"CASE WHEN order_id IS NOT NULL THEN 'order ' || CAST(order_id AS VARCHAR) ELSE {session_key} END"
        columns = ("user_id", "session_id", "order_id", "event_type", item_column)
    else:
        key, columns = session_key, ("user_id", "session_id", "event_type", item_column)
    sql = f"""SELECT DISTINCT {key} AS basket, CAST("{item_column}" AS VARCHAR) AS item FROM events
        WHERE list_contains($types, event_type) AND "{item_column}" IS NOT NULL AND ({key}) IS NOT NULL"""
    with _events_connection(events, columns, owner) as con:
        pairs = con.execute(sql, {"types": list(event_types)}).fetchnumpy()
    baskets, rows = np.unique(np.asarray(pairs["basket"], dtype=object).astype(str), return_inverse=True)
    items, cols = np.unique(np.asarray(pairs["item"], dtype=object).astype(str), return_inverse=True)
    if len(baskets) == 0:
        raise DatasetError(f"events: no events of types {list(event_types)} with an item and a basket key.")
    ones = np.ones(len(rows), dtype=np.int64)
    matrix = sp.csc_matrix((ones, (rows.ravel(), cols.ravel())), shape=(len(baskets), len(items)))
    return BasketMatrix(matrix, items, baskets)


def _mine_itemsets(baskets: BasketMatrix, min_support: float, max_len: int) -> pd.DataFrame:
    """Apriori by sparse algebra: level-k indicator columns times the item matrix count level k+1.

    Support is ``count / n_baskets`` compared with ``>= min_support`` exactly as mlxtend does.
    """
    n = baskets.matrix.shape[0]
    counts = np.asarray(baskets.matrix.sum(axis=0)).ravel()
    frequent = np.flatnonzero(counts / n >= min_support)
    items = baskets.matrix[:, frequent].tocsc()
    found: list[tuple[tuple[int, ...], int]] = [((int(i),), int(counts[f])) for i, f in enumerate(frequent)]
    level_sets = [(int(i),) for i in range(len(frequent))]
    level_columns = items
    for _ in range(2, max_len + 1):
        if not level_sets:
            break
        co = (level_columns.T @ items).tocoo()
        last = np.array([s[-1] for s in level_sets])
        keep = (co.col > last[co.row]) & (co.data / n >= min_support)
        rows, cols, data = co.row[keep], co.col[keep], co.data[keep]
        order = np.lexsort((cols, rows))
        rows, cols, data = rows[order], cols[order], data[order]
        level_sets = [(*level_sets[r], int(c)) for r, c in zip(rows, cols, strict=True)]
        found.extend((s, int(d)) for s, d in zip(level_sets, data, strict=True))
        level_columns = level_columns[:, rows].multiply(items[:, cols]).tocsc()
    labels = baskets.items[frequent]
    return pd.DataFrame(
        {
            "itemsets": [tuple(labels[list(s)]) for s, _ in found],
            "length": np.array([len(s) for s, _ in found], dtype=np.int64),
            "count": np.array([c for _, c in found], dtype=np.int64),
            "support": np.array([c for _, c in found], dtype=float) / n,
        }
    )


def frequent_itemsets(
    events: EventsInput,
    min_support: float,
    max_len: int = 2,
    basket: str = "order_id",
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> pd.DataFrame:
    """Frequent itemsets of purchase baskets (apriori, equal to mlxtend's ``apriori``).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    min_support : float
        Minimum share of baskets, in (0, 1].
    max_len : int, default 2
        Largest itemset size.
    basket, item_column, event_types
        As in :func:`build_basket_matrix`.

    Returns
    -------
    pandas.DataFrame
        ``itemsets`` (sorted tuples of item ids), ``length``, ``count`` (baskets), ``support``.
    """
    min_support = _check_fraction(min_support, "min_support", "frequent_itemsets")
    max_len = _check_int(max_len, "max_len", "frequent_itemsets", 1)
    baskets = build_basket_matrix(events, basket, item_column, event_types)
    return _mine_itemsets(baskets, min_support, max_len)


def _rules_from_itemsets(itemsets: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    support = dict(zip(itemsets["itemsets"], itemsets["support"], strict=True))
    count = dict(zip(itemsets["itemsets"], itemsets["count"], strict=True))
    rows = []
    for itemset in itemsets.loc[itemsets["length"] >= 2, "itemsets"]:
        for size in range(1, len(itemset)):
            for antecedent in itertools.combinations(itemset, size):
                consequent = tuple(x for x in itemset if x not in antecedent)
                rows.append(
                    (antecedent, consequent, support[antecedent], support[consequent], support[itemset], count[itemset])
                )
    columns = ["antecedents", "consequents", "antecedent_support", "consequent_support", "support", "count"]
    rules = pd.DataFrame(rows, columns=columns)
    s_a, s_c, s_ac = rules["antecedent_support"], rules["consequent_support"], rules["support"]
    rules["confidence"] = s_ac / s_a
    rules["lift"] = rules["confidence"] / s_c
    rules["leverage"] = s_ac - s_a * s_c
    with np.errstate(divide="ignore"):
        rules["conviction"] = np.where(rules["confidence"] >= 1.0, np.inf, (1.0 - s_c) / (1.0 - rules["confidence"]))
    rules = rules[rules["confidence"] >= min_confidence]
    order = ["antecedents", "consequents", "antecedent_support", "consequent_support", "support", "confidence"]
    rules = rules[[*order, "lift", "leverage", "conviction", "count"]]
    return rules.sort_values(["lift", "antecedents", "consequents"], ascending=[False, True, True], ignore_index=True)


def association_rules(
    events: EventsInput,
    basket: str = "order_id",
    min_support: float = 0.01,
    min_confidence: float = 0.5,
    max_len: int = 2,
    item_column: str = "item_id",
    event_types: Sequence[str] = PURCHASE_EVENTS,
) -> pd.DataFrame:
    """Association rules of purchase baskets (equal to mlxtend's ``apriori`` + ``association_rules``).

    Every frequent itemset of size >= 2 yields one rule per non-empty proper subset as antecedent;
    support = share of baskets holding antecedent and consequent, confidence = support / support(A),
    lift = confidence / support(C), leverage = support - support(A) support(C), conviction =
    (1 - support(C)) / (1 - confidence) (inf when confidence = 1).

    Parameters
    ----------
    events : DataFrame or path
        Canonical events.
    basket : {"order_id", "session_id"}, default "order_id"
        Basket key (order, falling back to the session for events without an order id).
    min_support : float, default 0.01
        Minimum itemset support (share of baskets).
    min_confidence : float, default 0.5
        Minimum rule confidence.
    max_len : int, default 2
        Largest itemset size (2: pair rules; 3: also two-item antecedents / consequents ...).
    item_column, event_types
        As in :func:`build_basket_matrix`.

    Returns
    -------
    pandas.DataFrame
        The association-rules file: ``antecedents``, ``consequents`` (sorted tuples of item ids),
        ``antecedent_support``, ``consequent_support``, ``support``, ``confidence``, ``lift``,
        ``leverage``, ``conviction``, ``count`` (baskets), sorted by lift (descending).
    """
    owner = "association_rules"
    min_support = _check_fraction(min_support, "min_support", owner)
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float)) or not 0 <= min_confidence <= 1:
        raise ValueError(
            f"The 'min_confidence' parameter of {owner} must be a float in [0, 1]. Got {min_confidence!r}."
        )
    max_len = _check_int(max_len, "max_len", owner, 2)
    baskets = build_basket_matrix(events, basket, item_column, event_types)
    return _rules_from_itemsets(_mine_itemsets(baskets, min_support, max_len), float(min_confidence))


# --------------------------------------------------------------------------------------------------
# Viewed but not bought
# --------------------------------------------------------------------------------------------------


def viewed_not_bought(
    events: EventsInput,
    level: str = "item",
    window: str | timedelta | None = None,
    view_event: str = "view_item",
    purchase_event: str = "pay",
) -> pd.DataFrame:
    """Items and users with views that were not followed by a purchase of the same item.

    A (user, item) pair with a view is *bought* if the user paid for the item at or after one of
    its views (event order: ``ts``, then input row order) and, with ``window``, no later than
    ``window`` after that view; otherwise it is *viewed but not bought*.

    Parameters
    ----------
    events : DataFrame or path
        Canonical events (``user_id``, ``ts``, ``event_type``, ``item_id``).
    level : {"item", "user", "pair"}, default "item"
        Aggregate per item, per user, or list the (user, item) pairs.
    window : str or timedelta, optional
        Longest time from the view to the purchase (default: any time later).
    view_event, purchase_event : str
        Event types of a view and of a purchase.

    Returns
    -------
    pandas.DataFrame
        ``item``: ``item_id``, ``viewers``, ``buyers`` (viewers who bought), ``viewed_not_bought``,
        ``not_bought_rate``; ``user``: ``user_id``, ``items_viewed``, ``items_bought``,
        ``viewed_not_bought``, ``not_bought_rate``; ``pair``: ``user_id``, ``item_id``, ``views``,
        ``first_view_ts``, ``bought``. Aggregates sorted by ``viewed_not_bought`` (descending), id.
    """
    owner = "viewed_not_bought"
    level = _check_choice(level, "level", owner, ("item", "user", "pair"))
    view_event = _check_text(view_event, "view_event", owner)
    purchase_event = _check_text(purchase_event, "purchase_event", owner)
    limit = "TRUE" if window is None else f"p.tsu - v.tsu <= {_window_us(window, 'window', owner)}"
    sql = f"""WITH
        rel AS (
            SELECT user_id, item_id, ts, epoch_us(ts) AS tsu, event_type = $view AS is_view,
                   ROW_NUMBER() OVER (PARTITION BY user_id, item_id ORDER BY ts, _row) AS ord
            FROM events WHERE item_id IS NOT NULL AND event_type IN ($view, $pay)),
        views AS (SELECT * FROM rel WHERE is_view),
        pays AS (SELECT * FROM rel WHERE NOT is_view),
        matched AS (
            SELECT DISTINCT p.user_id, p.item_id FROM pays p
            ASOF JOIN views v ON p.user_id = v.user_id AND p.item_id = v.item_id AND p.ord > v.ord
            WHERE {limit}),
        pairs AS (
            SELECT v.user_id, v.item_id, COUNT(*) AS views, MIN(v.ts) AS first_view_ts,
                   BOOL_OR(m.user_id IS NOT NULL) AS bought
            FROM views v LEFT JOIN matched m ON v.user_id = m.user_id AND v.item_id = m.item_id
            GROUP BY v.user_id, v.item_id)"""
    if level == "pair":
        sql += " SELECT * FROM pairs ORDER BY user_id, item_id"
    else:
        key, n_label, b_label = (
            ("item_id", "viewers", "buyers") if level == "item" else ("user_id", "items_viewed", "items_bought")
        )
        sql += f""" SELECT {key}, COUNT(*) AS {n_label}, CAST(SUM(CAST(bought AS INTEGER)) AS BIGINT) AS {b_label},
                CAST(SUM(CAST(NOT bought AS INTEGER)) AS BIGINT) AS viewed_not_bought,
                SUM(CAST(NOT bought AS INTEGER)) / COUNT(*) AS not_bought_rate
            FROM pairs GROUP BY {key} ORDER BY viewed_not_bought DESC, {key}"""
    with _events_connection(events, ("user_id", "ts", "event_type", "item_id"), owner) as con:
        # Through Arrow: DuckDB's own pandas conversion of TIMESTAMPTZ warns under pandas 3.
        return con.sql(sql, params={"view": view_event, "pay": purchase_event}).to_arrow_table().to_pandas()
