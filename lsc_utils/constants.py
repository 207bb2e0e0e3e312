"""Project-wide constants: canonical vocabularies, default column names and seeds.

Everything that more than one module needs to agree on lives here, in one place.
"""

from __future__ import annotations

SEED: int = 42
"""Default random seed of the collection."""

EVENT_TYPES: tuple[str, ...] = (
    "impression",
    "enter_room",
    "leave_room",
    "view_item",
    "like",
    "comment",
    "share",
    "follow",
    "gift",
    "favorite",
    "add_to_cart",
    "remove_from_cart",
    "order",
    "pay",
    "refund",
)
"""Canonical ``event_type`` values, in rough funnel order."""

CHANNELS: tuple[str, ...] = ("recommend_feed", "search", "follow", "share", "ad", "direct")
"""Canonical acquisition channels of an event."""

GENDERS: tuple[str, ...] = ("F", "M", "unknown")
"""Canonical gender codes."""

TABLES: tuple[str, ...] = ("users", "items", "rooms", "events", "comments", "exposures", "accounts", "identifiers")
"""Canonical table names, one Parquet file each (``exposures``: randomised campaign assignments;
``accounts``, ``identifiers``: the source accounts of each person in an integrated dataset; all optional)."""

ACCOUNT_PREFIX: str = "a_"
"""Prefix of pseudonymous account ids (an account of one source; ``user_id`` is the person)."""

PII_COLUMNS: tuple[str, ...] = (
    "name",
    "phone",
    "email",
    "given_name",
    "family_name",
    "birth_date",
    "city",
    "device_id",
    "login_id",
    "member_id",
)
"""Raw personal-data columns that may exist in ``users`` before cleaning only: contact data, and the
identifiers and linkage fields :mod:`lsc_utils.identity` resolves persons with (cleaning drops them all)."""

PURCHASE_EVENTS: tuple[str, ...] = ("pay",)
"""Event types that count as a completed purchase."""

DEFAULT_SESSION_GAP_MINUTES: int = 30
"""Inactivity gap that closes a session (Google Analytics' convention)."""

PSEUDONYM_PREFIX: str = "u_"
"""Prefix of pseudonymous user ids (``u_`` + 16 hex characters)."""
