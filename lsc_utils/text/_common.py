"""Constants of the text analyses and the resources shipped with the package (lexicons, stop words, model)."""

from __future__ import annotations

import io
import os
import zipfile
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LANGUAGES: tuple[str, ...] = ("zh", "en", "mixed", "other")
"""Values of the detected language."""

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
"""Sentiment labels."""

EN_NEUTRAL_THRESHOLD: float = 0.05
"""VADER's standard threshold: compound >= 0.05 is positive, <= -0.05 negative."""

ZH_NEUTRAL_HALF_WIDTH: float = 0.3
"""Chinese scores ``2p - 1`` with ``|score| <`` this value (0.35 < p < 0.65) are labelled neutral."""

DOMINANT_SCRIPT_SHARE: float = 0.75
"""Share of script units a language needs to be detected alone (else ``mixed`` or ``other``)."""

DEFAULT_MODEL_FILE = "zh_sentiment_reviews.npz"
DEFAULT_MODEL_MANIFEST = "zh_sentiment_reviews.manifest.json"
LIVE_CHAT_LEXICON_FILE = "live_chat_lexicon.tsv"
STOPWORDS_FILE = "stopwords.txt"
VADER_RESOURCE = "sentiment/lsc_vader_lexicon.zip/vader_lexicon/vader_lexicon.txt"
MODEL_FORMAT = "lsc_utils.text.SentimentModel"
MODEL_FORMAT_VERSION = 1
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------------------------------
# Input checks and shipped resources
# --------------------------------------------------------------------------------------------------


def _resource(name: str) -> Any:
    """A file of ``lsc_utils/resources`` (works from a source tree, an editable or a wheel install)."""
    return importlib_resources.files("lsc_utils").joinpath("resources", name)


def _factorize_texts(texts: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes into the distinct texts, and the distinct texts (order of first appearance)."""
    codes, uniques = pd.factorize(texts, sort=False)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype="str")


def _write_deterministic_zip(target: Path, members: dict[str, bytes]) -> None:
    """Write a zip with fixed timestamps (same bytes every time), atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, target)
