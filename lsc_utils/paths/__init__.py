"""Shopping paths: Markov chains, absorbing analysis, attribution, funnels, sequence and basket mining.

Every row-scale step is one DuckDB SQL query over the canonical ``events`` table (a pandas DataFrame
or a Parquet file); pandas and numpy only handle the aggregated results (transition counts, distinct
sequences, per-user funnel rows, basket-item pairs).

Event order
-----------
Everything that depends on the order of events orders them by ``ts`` and breaks ties by the **row
order of the input** (the DataFrame's row position, or the row number within the Parquet file). This
is the order pm4py uses after ``pm4py.format_dataframe`` (a stable sort by case and timestamp), so
directly-follows counts agree with pm4py exactly, ties included.

Session paths
-------------
A session (key ``user_id``, ``session_id``; sessions are filled by the cleaning step) becomes the path
``START, s_1, ..., s_m, T`` where

* ``s_i`` are the states of its events in event order: ``state_map[value]`` of the ``state_column``
  (default: ``event_type``, mapped identically over the canonical event types); values without a
  state are dropped (``unmapped="drop"``) or become ``"other"`` (``unmapped="other"``); with
  ``collapse_repeats`` consecutive equal states (after dropping) collapse into one;
* with ``absorbing=True`` the path is cut at the session's first conversion event (``event_type ==
  conversion_event``, default ``"pay"``): only events strictly before it give states and ``T`` is
  ``CONVERSION``; a session without a conversion ends in ``T = NULL``;
* with ``absorbing=False`` nothing is cut (sessions may continue after a payment) and ``T = END``.

A chain of order ``k`` has as states the histories of the last ``k`` path elements, joined by
``" > "`` (``"view_item > add_to_cart"``); histories near the start are shorter and begin with
``START``, so every session starts in the state ``START`` whatever the order, and the terminal
elements stay single states. For ``k = 1`` the states are the path elements themselves.
"""

from __future__ import annotations

from lsc_utils.paths._events import (
    CONVERSION,
    END,
    FUNNEL_ORDERS,
    MARKERS,
    MAX_DENSE_STATES,
    NULL,
    OTHER,
    SEPARATOR,
    START,
    US_PER_SECOND,
    EventsInput,
    _events_connection,
)
from lsc_utils.paths.attribution import (
    build_channel_journeys,
    markov_attribution,
)
from lsc_utils.paths.baskets import (
    BasketMatrix,
    association_rules,
    build_basket_matrix,
    frequent_itemsets,
    viewed_not_bought,
)
from lsc_utils.paths.funnels import (
    breakdown_conversion,
    funnel,
    funnel_conversion_times,
    funnel_dropoffs,
    wilson_interval,
)
from lsc_utils.paths.markov import (
    MarkovPathModel,
    absorption_probabilities,
    expected_steps_to_absorption,
    parse_state_map,
    sankey_flows,
    transitions_table,
)
from lsc_utils.paths.overview import (
    EventOverview,
    choose_basket,
    event_overview,
    events_with_user_attribute,
    split_events_by_user_attribute,
)
from lsc_utils.paths.patterns import (
    frequent_paths,
    prefixspan,
)
from lsc_utils.paths.sql import (
    _first_order_counts_sql,
    _PathSpec,
    _register_state_map,
    _transition_counts_sql,
    build_session_paths,
)

__all__ = [
    "EventOverview",
    "choose_basket",
    "event_overview",
    "events_with_user_attribute",
    "split_events_by_user_attribute",
    "BasketMatrix",
    "CONVERSION",
    "END",
    "EventsInput",
    "FUNNEL_ORDERS",
    "MARKERS",
    "MAX_DENSE_STATES",
    "MarkovPathModel",
    "NULL",
    "OTHER",
    "SEPARATOR",
    "START",
    "US_PER_SECOND",
    "_PathSpec",
    "_events_connection",
    "_first_order_counts_sql",
    "_register_state_map",
    "_transition_counts_sql",
    "absorption_probabilities",
    "association_rules",
    "breakdown_conversion",
    "build_basket_matrix",
    "build_channel_journeys",
    "build_session_paths",
    "expected_steps_to_absorption",
    "frequent_itemsets",
    "frequent_paths",
    "funnel",
    "funnel_conversion_times",
    "funnel_dropoffs",
    "markov_attribution",
    "parse_state_map",
    "prefixspan",
    "sankey_flows",
    "transitions_table",
    "viewed_not_bought",
    "wilson_interval",
]
