"""Which kind of text an input is: live chat or ordinary text (reviews, sentences, posts).

The live-chat extensions of the scorers (slang and emote lexicon, stretched spellings, questions and
greetings neutral, the Chinese model reading without punctuation) help on chat and hurt on ordinary
text. :func:`detect_domain` therefore decides once per input (a file's text column, or one call of
:func:`lsc_utils.text.score_texts`) from a general, documented rule, never per sample or per file
name:

* a text is **chat-like** (:func:`chat_like`) when it carries a chat marker -- a Twitch/BTTV/FFZ
  emote name of :data:`CHAT_EMOTES` as a word of its own, or a letter written three or more times
  in a row (``sooooo``, ``noooo``) -- or when it is a *short line*: at most
  :data:`SHORT_LINE_UNITS` units (Latin words and Han characters / 1.5, about words) that does not
  end in sentence punctuation (``. ! ? 。 ！ ？ …`` or a closing bracket);
* an input is **chat** when at least :data:`CHAT_LIKE_SHARE` of its non-empty texts are chat-like,
  else **review**.

Measured shares of chat-like texts (``../shared/data``, see ``benchmarks/RESULTS.md``): reviews and
sentences 0.00-0.18 (Amazon Alexa 0.18, Musical Instruments 0.03, UCI sentences 0.01-0.02,
ChnSentiCorp hotel 0.00, waimai takeaway 0.17), live chat 0.46-0.91 (YouTube news streams 0.46 and
0.48, IShowSpeed 0.80, M-Emoji 0.91, Bilibili danmaku 0.63, the commerce-chat fixture 0.66). The
threshold of one third sits in that gap; it was not fitted to any evaluation set.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.text.normalize import script_counts

DOMAINS: tuple[str, ...] = ("auto", "review", "chat")
"""Values of the ``domain`` option: ``auto`` (:func:`detect_domain`), ``review``, ``chat``."""

CHAT_LIKE_SHARE: float = 1 / 3
"""Share of chat-like texts from which an input counts as live chat (module docstring)."""

SHORT_LINE_UNITS: float = 6.0
"""A text of at most this many units (Latin words + Han characters / 1.5) without sentence-final
punctuation is a short chat line."""

HAN_CHARACTERS_PER_WORD: float = 1.5
"""Average Chinese word length in characters, to count Han text in word units."""

CHAT_EMOTES: tuple[str, ...] = (
    "kappa",
    "pogchamp",
    "pog",
    "poggers",
    "pogu",
    "lul",
    "lulw",
    "kekw",
    "omegalul",
    "4head",
    "biblethump",
    "residentsleeper",
    "notlikethis",
    "kreygasm",
    "dansgame",
    "wutface",
    "failfish",
    "swiftrage",
    "seemsgood",
    "monkas",
    "monkaw",
    "pepehands",
    "sadge",
    "feelsbadman",
    "feelsgoodman",
    "pepelaugh",
    "pepega",
    "weirdchamp",
    "copium",
    "kekl",
    "ez",
)
"""Emote names (lower case) that mark Twitch-style chat; all are rows of the live-chat lexicon."""

_SENTENCE_END_RE2 = r"[.!?。！？…)\]）】」』][\s\p{So}\p{Sk}]*$"
_STRETCH_RE2 = r"(?i)([a-z])\1\1"


def _marker_re2() -> str:
    """RE2 pattern of a chat emote as a word of its own (case-insensitive)."""
    return r"(?i)(?:^|[^\pL\pN_])(?:" + "|".join(CHAT_EMOTES) + r")(?:[^\pL\pN_]|$)"


def _stretched(arrow: object) -> np.ndarray:
    """A letter written three or more times in a row (RE2 has no back-references: one pattern per letter)."""
    pattern = "(?i)(?:" + "|".join(f"{c}{c}{c}" for c in "abcdefghijklmnopqrstuvwxyz") + ")"
    return pc.match_substring_regex(arrow, pattern).to_numpy(zero_copy_only=False)


def chat_like(texts: Iterable[str] | pd.Series) -> np.ndarray:
    """Whether each text looks like a live-chat line (rule in the module docstring).

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    numpy.ndarray of bool
        One value per text; empty texts are False.
    """
    series = _as_text_series(texts, function="chat_like").reset_index(drop=True).fillna("").str.strip()
    if len(series) == 0:
        return np.zeros(0, dtype=bool)
    arrow = _arrow_strings(series)
    marker = pc.match_substring_regex(arrow, _marker_re2()).to_numpy(zero_copy_only=False) | _stretched(arrow)
    counts = script_counts(series)
    units = counts["latin"].to_numpy(dtype=float) + counts["han"].to_numpy(dtype=float) / HAN_CHARACTERS_PER_WORD
    ends = pc.match_substring_regex(arrow, _SENTENCE_END_RE2).to_numpy(zero_copy_only=False)
    short = (units <= SHORT_LINE_UNITS) & ~ends
    return (marker | short) & (series.str.len().to_numpy() > 0)


def chat_like_share(texts: Iterable[str] | pd.Series) -> float:
    """Share of the non-empty texts that are chat-like (0.0 when there is none)."""
    series = _as_text_series(texts, function="chat_like_share").fillna("")
    non_empty = series.str.strip().str.len().to_numpy() > 0
    if not non_empty.any():
        return 0.0
    return float(chat_like(series[non_empty]).mean())


def detect_domain(texts: Iterable[str] | pd.Series) -> str:
    """``"chat"`` when at least :data:`CHAT_LIKE_SHARE` of the non-empty texts are chat-like, else ``"review"``.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
        All texts of one input (a file's column): the decision is made once for all of them.

    Returns
    -------
    str
        ``"chat"`` or ``"review"``.
    """
    return "chat" if chat_like_share(texts) >= CHAT_LIKE_SHARE else "review"


def resolve_domain(domain: str, texts: Iterable[str] | pd.Series, function: str) -> str:
    """``review`` or ``chat``: ``domain`` itself, or :func:`detect_domain` of the texts for ``auto``."""
    _check_choice(domain, "domain", function, DOMAINS)
    return detect_domain(texts) if domain == "auto" else domain
