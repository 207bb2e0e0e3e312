"""Consent per processing purpose: one rule, used by every analysis that acts on a user.

A user's consent to a purpose is recorded in the users table, one nullable boolean column per
purpose (:data:`PURPOSES`). The rule is the same for every purpose: **only an explicit yes allows**;
a no (opted out) and an unknown (null, or the user is absent from the users table) do not -- privacy
by default (GDPR Art. 25, PIPL Art. 13–14). An analysis may count unknown as yes only by saying so
(``unknown_allowed=True``), e.g. for public datasets whose consent is documented as assumed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from lsc_utils.checks import DatasetError, require_columns

PURPOSES: dict[str, str] = {
    "personalization": "consent_personalization",
    "marketing": "consent_marketing",
}
"""Processing purposes and the users column that records consent to each."""

STATUSES: tuple[str, ...] = ("yes", "no", "unknown")
"""Consent status of a user for a purpose: ``no`` is an opt-out, ``unknown`` a missing record."""


def consent_column(purpose: str) -> str:
    """The users column recording consent to ``purpose`` (a key of :data:`PURPOSES`)."""
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown consent purpose '{purpose}'. Expected one of {', '.join(PURPOSES)}.")
    return PURPOSES[purpose]


def lookup(users: pd.DataFrame, purpose: str, user_ids: Iterable[str]) -> pd.Series:
    """Consent of the given users to ``purpose``: True, False or null (unknown, also when absent).

    Parameters
    ----------
    users : pandas.DataFrame
        ``user_id`` (unique) and the purpose's consent column.
    purpose : str
        A key of :data:`PURPOSES`.
    user_ids : iterable of str
        The users asked about, in the order wanted.

    Returns
    -------
    pandas.Series
        Nullable boolean, indexed by ``user_ids``.
    """
    column = consent_column(purpose)
    require_columns(users, ["user_id", column], "users", f"consent to {purpose}")
    if users["user_id"].duplicated().any():
        raise DatasetError("users: column 'user_id' has repeated ids; consent must be unique per user.")
    return users.set_index("user_id")[column].astype("boolean").reindex(pd.Index(list(user_ids)))


def allowed(consent: pd.Series, unknown_allowed: bool = False) -> np.ndarray:
    """The rule: True where consent is an explicit yes (or unknown, when ``unknown_allowed``).

    Parameters
    ----------
    consent : pandas.Series
        Nullable boolean consent values (e.g. a users column or :func:`lookup`).
    unknown_allowed : bool, default False
        Count unknown consent as a yes (say so where it is used).

    Returns
    -------
    numpy.ndarray
        Boolean, one per value.
    """
    return consent.astype("boolean").fillna(unknown_allowed).to_numpy(dtype=bool)


def status(consent: pd.Series) -> pd.Series:
    """``yes``, ``no`` or ``unknown`` per value of a nullable boolean consent series (same index)."""
    values = consent.astype("boolean")
    labels = np.where(values.isna().to_numpy(), "unknown", np.where(values.fillna(False).to_numpy(), "yes", "no"))
    return pd.Series(labels, index=consent.index, dtype="str")


def status_counts(consent: pd.Series) -> pd.Series:
    """Number of users per consent status, in the order of :data:`STATUSES` (zeros included)."""
    return status(consent).value_counts().reindex(list(STATUSES), fill_value=0).astype("int64")
