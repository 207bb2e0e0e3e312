"""Consent per purpose: one rule (only an explicit yes allows), used by portraits and recommendations."""

from __future__ import annotations

import pandas as pd
import pytest

from lsc_utils import consent
from lsc_utils.checks import DatasetError

USERS = pd.DataFrame(
    {
        "user_id": ["a", "b", "c"],
        "consent_marketing": pd.array([True, False, None], dtype="boolean"),
        "consent_personalization": pd.array([None, True, True], dtype="boolean"),
    }
)


def test_only_an_explicit_yes_allows_unless_unknown_is_declared_allowed() -> None:
    asked = consent.lookup(USERS, "marketing", ["c", "a", "zz", "b"])
    assert asked.index.tolist() == ["c", "a", "zz", "b"]
    assert consent.allowed(asked).tolist() == [False, True, False, False]
    assert consent.allowed(asked, unknown_allowed=True).tolist() == [True, True, True, False]
    assert consent.status(asked).tolist() == ["unknown", "yes", "unknown", "no"]
    assert consent.status_counts(asked).to_dict() == {"yes": 1, "no": 1, "unknown": 2}
    assert consent.status_counts(pd.Series([], dtype="boolean")).to_dict() == {"yes": 0, "no": 0, "unknown": 0}


def test_every_purpose_has_its_column_and_bad_input_is_one_clear_error() -> None:
    assert consent.lookup(USERS, "personalization", ["a"]).isna().all()
    with pytest.raises(ValueError, match="Unknown consent purpose 'ads'"):
        consent.consent_column("ads")
    with pytest.raises(DatasetError, match="users: required column 'consent_marketing' missing"):
        consent.lookup(USERS.drop(columns="consent_marketing"), "marketing", ["a"])
    with pytest.raises(DatasetError, match="repeated ids"):
        consent.lookup(pd.concat([USERS, USERS]), "marketing", ["a"])
