"""Seeded live-streaming-commerce (LSC) platform simulator with planted ground truth.

:func:`simulate` writes a canonical dataset folder (``users``, ``items``, ``rooms``, ``events``,
``comments`` Parquet files and ``dataset.yaml``) plus a ``truth/`` folder holding everything that was
planted, so that every notebook can be checked against a known answer:

``truth/segments.parquet``
    Latent behavioural segment of every human user (``user_id``, ``segment``).
``truth/user_traits.parquet``
    Further latent traits (favourite anchor and category, peak hour, activity, language).
``truth/transitions.parquet``
    The segment-specific first-order Markov chains that generated every session
    (``segment``, ``from_state``, ``to_state``, ``probability``), states ``START`` and ``END`` included.
``truth/sessions.parquet``
    The true session of every clean event row (``event_row``, ``session``); a 30-minute inactivity
    sessionization of the clean rows recovers these sessions exactly.
``truth/pricing.yaml``
    The planted price discrimination (group column and value, categories, surcharge) and the
    baseline discount behaviour of each segment.
``truth/comment_labels.parquet``, ``truth/comment_pii.parquet``
    Sentiment label of every comment and the personal data planted in a few of them.
``truth/dirty_rows.parquet``, ``truth/bots.parquet``
    The dirty event rows injected (0-based row of ``events.parquet`` and kind) and the bot users.
``truth/canaries.json``
    Every personal-data string that must never leak into a released output.
``truth/clv.yaml``, ``truth/customers.parquet``
    The planted customer-base process (BG/NBD purchasing and Gamma-Gamma spend, see
    :mod:`lsc_utils.simulate.customer_base`) and every user's latent purchase rate, drop-out probability,
    spend rate, number of purchases and drop-out time.
``truth/campaign.yaml``, ``truth/campaign_users.parquet`` (``campaign=True``)
    The randomised coupon campaign of :mod:`lsc_utils.simulate.campaign`: parameters, and per exposed
    user the arm, planted group, probability of a campaign order under every arm and the effects.

Sessions come in two kinds. Every planted purchase becomes a *purchase session*: a walk of the
user's chain that reaches ``pay``, placed so that its first payment falls at the planted time (in a
live broadcast). *Browsing sessions* are walks that never pay; each segment gets ``P (1 - q) / q`` of
them for its ``P`` purchase sessions, where ``q`` is the probability that a walk of its chain pays,
so the mix of walks is that of the unconditioned chain and transition counts estimate the planted
chain without bias. Session volume therefore follows purchases.

Modules: ``vocab`` (vocabularies and planted parameters), ``chains`` (the planted Markov chains),
``helpers`` (vectorized sampling and formatting), ``campaign`` (the optional randomised coupon
campaign), ``world`` (catalogue, anchors, rooms, users),
``sessions`` (purchase and browsing sessions, items, orders), ``noise`` (bots, dirty rows,
comments), ``limits`` (size limits checked before anything is generated) and ``writer``
(:func:`simulate`); the public names are importable from here.

Size limits: :func:`simulate` refuses, before generating or writing anything, more than
:data:`MAX_DAYS` days, a size whose estimated peak memory exceeds the memory available
(:func:`estimate_size`, :func:`check_size`), and an output folder that is neither new, empty nor an
earlier dataset folder (the rule of ``convert``).

Generation is vectorized with numpy: users are processed in fixed blocks of
:data:`USERS_PER_BLOCK`; inside a block, all sessions step through their Markov chains together,
one numpy step per chain position (never a Python loop per event). Each block draws from its own
child of ``numpy.random.SeedSequence(seed)``, so the content of the data does not depend on
``chunk_events`` (which only sets how many rows are buffered before a Parquet row group is written).

Bots are users whose events come in stretches of 5-20 events per second inside a live room (at
most one stretch a day), each bot with at least :data:`BOT_MIN_EVENTS` events (one minute at the
slowest rate), so that a planted bot looks the same at every simulation size and a per-minute rule
(``lsc_utils.cleaning``) finds it even in the smallest simulation.

Dirty rows are *added* next to the clean rows they were copied from (the clean rows are never
modified), so dropping exactly the rows listed in ``truth/dirty_rows.parquet`` gives back the clean
simulation, whose sessions follow the planted chains exactly. Every dirty kind with a positive rate
gets at least one row per block, so very small simulations carry a higher dirty share than the
rates say. Comments are written for clean comment events only (one row each, same user, room, ts).

Layout and clock: ``events.parquet`` is ordered by (``user_id``, ``ts``) with each dirty copy right
after its source row; ``ts`` is stored as ISO 8601 text (``2026-03-02T18:03:11.250Z``) because some
dirty rows hold unparseable timestamps. The simulated platform keeps its clock in UTC, so hours of
day (evening peak around 20:00) read directly from the UTC timestamps.

The default ``simulate(out, n_users=3000, n_days=56)`` writes about 470,000 event rows, 39,000
comments and 56,000 sessions in a few seconds.
"""

from __future__ import annotations

from lsc_utils.simulate.chains import (
    build_transition_matrices,
    expected_events_per_user_day,
    expected_session_lengths,
    transition_table,
    users_for_events,
    walk_markov_chains,
)
from lsc_utils.simulate.helpers import (
    GroupedSampler,
)
from lsc_utils.simulate.limits import (
    MAX_DAYS,
    MEMORY_MODEL,
    MemoryModel,
    SizeEstimate,
    available_memory,
    check_days,
    check_size,
    estimate_size,
)
from lsc_utils.simulate.noise import (
    build_bot_events,
    compose_comments,
    inject_dirty_rows,
)
from lsc_utils.simulate.sessions import (
    EVENT_COLUMNS,
    FIT_EXTRA_DISCOUNT,
    PURCHASE_ROOM_SEARCH_HOURS,
    BlockOutput,
    Counters,
    Events,
    allocate_browsing,
    assign_items,
    assign_orders,
    build_session_events,
    draw_event_gaps,
    draw_sessions,
    drop_overlapping_sessions,
    place_sessions,
    plan_browsing_sessions,
    plan_purchase_sessions,
    price_paid_orders,
    walk_conditioned,
)
from lsc_utils.simulate.vocab import (
    ACTIVITY_SIGMA,
    ANCHOR_NICKNAMES,
    ANCHOR_START_HOURS,
    ANCHOR_START_WEIGHTS,
    BASE_TRANSITION_WEIGHTS,
    BOT_EVENT_TYPES,
    BOT_EVENT_WEIGHTS,
    BOT_EVENTS_PER_SECOND,
    BOT_MIN_EVENTS,
    CATEGORIES,
    COMMENT_EMOJI,
    COMMENT_TEMPLATES,
    DAY_MS,
    DEFAULT_DIRTY_RATES,
    DEVICE_WEIGHTS,
    DEVICES,
    DIRTY_KINDS,
    DISCRIMINATION_CATEGORIES,
    DISCRIMINATION_GROUP_COLUMN,
    DISCRIMINATION_GROUP_VALUE,
    DISCRIMINATION_SURCHARGE,
    EMAIL_DOMAINS,
    EMOJI_SHARE,
    END_STATE,
    ENGLISH_USER_SHARE,
    EVENT_VOCABULARY,
    FAMILY_NAMES,
    FAVOURITE_CATEGORY_ROOM_SHARE,
    FOLLOW_CHANNEL_SHARE,
    GENERIC_TAGS,
    GIVEN_NAMES_EN,
    GIVEN_NAMES_ZH,
    HOUR_MS,
    ITEM_EVENT_TYPES,
    LANGUAGES,
    MARKOV_STATES,
    MAX_EVENT_GAP_MS,
    MEMBER_LEVELS,
    MIN_EVENT_GAP_MS,
    MIN_SESSION_GAP_MINUTES,
    OWN_LANGUAGE_SHARE,
    PAYMENT_METHODS,
    PAYMENT_WEIGHTS,
    PII_COMMENT_SHARE,
    PII_KINDS,
    PII_TEMPLATES,
    REGION_WEIGHTS,
    REGIONS,
    ROOM_CATEGORY_SHARE,
    SEGMENT_PROFILES,
    SEGMENTS,
    SENTIMENT_LABELS,
    SESSION_EVENT_TYPES,
    START_STATE,
    TITLE_PATTERNS,
    TRUTH_DIR,
    UNKNOWN_EVENT_TYPES,
    UNPARSEABLE_TIMESTAMPS,
    USERS_PER_BLOCK,
    WEEKDAY_LIVE_FACTORS,
    WEEKDAY_SESSION_WEIGHTS,
    CategorySpec,
    SegmentProfile,
)
from lsc_utils.simulate.world import (
    SimulationParams,
    World,
    build_world,
    generate_anchors,
    generate_items,
    generate_rooms,
    generate_users,
)
from lsc_utils.simulate.writer import (
    COMMENT_ID_WIDTH,
    COMMENTS_SCHEMA,
    EVENTS_SCHEMA,
    LABELS_SCHEMA,
    ORDER_ID_WIDTH,
    PII_SCHEMA,
    SESSION_ID_WIDTH,
    SESSIONS_SCHEMA,
    ParquetSink,
    check_params,
    pricing_truth,
    simulate,
    simulate_block,
)

__all__ = [
    "ACTIVITY_SIGMA",
    "ANCHOR_NICKNAMES",
    "ANCHOR_START_HOURS",
    "ANCHOR_START_WEIGHTS",
    "BASE_TRANSITION_WEIGHTS",
    "BOT_EVENTS_PER_SECOND",
    "BOT_EVENT_TYPES",
    "BOT_EVENT_WEIGHTS",
    "BOT_MIN_EVENTS",
    "BlockOutput",
    "CATEGORIES",
    "COMMENTS_SCHEMA",
    "COMMENT_EMOJI",
    "COMMENT_ID_WIDTH",
    "COMMENT_TEMPLATES",
    "CategorySpec",
    "Counters",
    "DAY_MS",
    "DEFAULT_DIRTY_RATES",
    "DEVICES",
    "DEVICE_WEIGHTS",
    "DIRTY_KINDS",
    "DISCRIMINATION_CATEGORIES",
    "DISCRIMINATION_GROUP_COLUMN",
    "DISCRIMINATION_GROUP_VALUE",
    "DISCRIMINATION_SURCHARGE",
    "EMAIL_DOMAINS",
    "EMOJI_SHARE",
    "END_STATE",
    "ENGLISH_USER_SHARE",
    "EVENTS_SCHEMA",
    "EVENT_COLUMNS",
    "EVENT_VOCABULARY",
    "Events",
    "FAMILY_NAMES",
    "FAVOURITE_CATEGORY_ROOM_SHARE",
    "FIT_EXTRA_DISCOUNT",
    "FOLLOW_CHANNEL_SHARE",
    "GENERIC_TAGS",
    "GIVEN_NAMES_EN",
    "GIVEN_NAMES_ZH",
    "GroupedSampler",
    "HOUR_MS",
    "ITEM_EVENT_TYPES",
    "LABELS_SCHEMA",
    "LANGUAGES",
    "MARKOV_STATES",
    "MAX_DAYS",
    "MAX_EVENT_GAP_MS",
    "MEMBER_LEVELS",
    "MEMORY_MODEL",
    "MIN_EVENT_GAP_MS",
    "MIN_SESSION_GAP_MINUTES",
    "MemoryModel",
    "ORDER_ID_WIDTH",
    "OWN_LANGUAGE_SHARE",
    "PAYMENT_METHODS",
    "PAYMENT_WEIGHTS",
    "PII_COMMENT_SHARE",
    "PII_KINDS",
    "PII_SCHEMA",
    "PII_TEMPLATES",
    "PURCHASE_ROOM_SEARCH_HOURS",
    "ParquetSink",
    "REGIONS",
    "REGION_WEIGHTS",
    "ROOM_CATEGORY_SHARE",
    "SEGMENTS",
    "SEGMENT_PROFILES",
    "SENTIMENT_LABELS",
    "SESSIONS_SCHEMA",
    "SESSION_EVENT_TYPES",
    "SESSION_ID_WIDTH",
    "START_STATE",
    "SegmentProfile",
    "SimulationParams",
    "SizeEstimate",
    "TITLE_PATTERNS",
    "TRUTH_DIR",
    "UNKNOWN_EVENT_TYPES",
    "UNPARSEABLE_TIMESTAMPS",
    "USERS_PER_BLOCK",
    "WEEKDAY_LIVE_FACTORS",
    "WEEKDAY_SESSION_WEIGHTS",
    "World",
    "allocate_browsing",
    "assign_items",
    "assign_orders",
    "available_memory",
    "build_bot_events",
    "build_session_events",
    "build_transition_matrices",
    "build_world",
    "check_days",
    "check_params",
    "check_size",
    "compose_comments",
    "draw_event_gaps",
    "draw_sessions",
    "drop_overlapping_sessions",
    "estimate_size",
    "expected_events_per_user_day",
    "expected_session_lengths",
    "generate_anchors",
    "generate_items",
    "generate_rooms",
    "generate_users",
    "inject_dirty_rows",
    "place_sessions",
    "plan_browsing_sessions",
    "plan_purchase_sessions",
    "price_paid_orders",
    "pricing_truth",
    "simulate",
    "simulate_block",
    "transition_table",
    "users_for_events",
    "walk_conditioned",
    "walk_markov_chains",
]
