"""Shared pytest fixtures: paths to the repository, fixtures and the optional real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def shared_data_dir() -> Path:
    """Folder of the real public samples: $LSC_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("LSC_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; the test is skipped with a reason when it is absent (a user's clone)."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"real datasets not available at {folder} (set LSC_SHARED_DATA to run this test)")
    return folder


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """Folder of the small fixture files written for the tests."""
    return FIXTURES
