"""Normalization (NFKC, repeats, emoji), language detection and tokenization (jieba, NLTK TweetTokenizer)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.text._common import DOMINANT_SCRIPT_SHARE, _factorize_texts

# --------------------------------------------------------------------------------------------------
# Normalization, emoji, language
# --------------------------------------------------------------------------------------------------

_INVISIBLE_RE2 = (
    r"[\x{fe0e}\x{fe0f}\x{200b}\x{200c}\x{2060}\x{feff}\x{ad}\x{0}-\x{8}\x{e}-\x{1b}\x{7f}-\x{84}\x{86}-\x{9f}]"
)
"""Invisible characters removed by :func:`normalize_text` (RE2 syntax, run by pyarrow)."""

_SPACES_RE2 = r"[\s\x{b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+"
"""Every character Python's ``str.split()`` treats as white space (RE2 syntax)."""

_RUN_SEPARATOR = "\x00"


def _run_caps(codes: np.ndarray) -> np.ndarray:
    """Longest allowed run per code point: 2 for Latin letters, none for ASCII punctuation and
    white space, 3 for everything else (Han, digits, emoji ...)."""
    folded = codes | 32
    latin = (folded >= 97) & (folded <= 122)
    digit = (codes >= 48) & (codes <= 57)
    unlimited = (codes < 128) & ~latin & ~digit
    return np.where(latin, 2, np.where(unlimited, np.iinfo(np.int64).max, 3))


def _squash_runs(texts: list[str]) -> list[str]:
    """Vectorized run squashing over all texts at once (one UTF-32 buffer, numpy run lengths)."""
    if not texts:
        return []
    joined = _RUN_SEPARATOR.join(texts)
    if joined.count(_RUN_SEPARATOR) != len(texts) - 1:
        joined = _RUN_SEPARATOR.join(t.replace(_RUN_SEPARATOR, "") for t in texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    repeated = np.flatnonzero(codes[2:] == codes[1:-1]) + 2
    third = repeated[codes[repeated - 2] == codes[repeated]]
    if len(third) == 0:
        return joined.split(_RUN_SEPARATOR)
    same = np.zeros(len(codes), dtype=bool)
    same[1:] = codes[1:] == codes[:-1]
    run_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(codes))))
    offset = third - run_start[third]
    drop = third[offset >= _run_caps(codes[third].astype(np.int64))]
    keep = np.ones(len(codes), dtype=bool)
    keep[drop] = False
    return codes[keep].tobytes().decode("utf-32-le", "surrogatepass").split(_RUN_SEPARATOR)


def squash_repeats(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Shorten character runs: Latin letters to two, other letters, digits and emoji to three.

    ``"soooo good"`` -> ``"soo good"``, ``"哈哈哈哈哈"`` -> ``"哈哈哈"``, ``"6666"`` -> ``"666"``.
    ASCII punctuation and white space are left unchanged (VADER counts ``!`` and ``?``). Runs are
    found with numpy over all texts at once.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
        Texts; nulls are treated as empty.

    Returns
    -------
    pandas.Series
        Squashed texts (same index as a Series input).
    """
    series = _as_text_series(texts, function="squash_repeats")
    return pd.Series(_squash_runs(series.tolist()), index=series.index, dtype="str")


def _normalize_distinct(texts: pd.Series) -> list[str]:
    """NFKC (pyarrow's utf8proc), invisible characters, white space and runs of distinct texts."""
    arrow = pc.utf8_normalize(_arrow_strings(texts), form="NFKC")
    arrow = pc.replace_substring_regex(arrow, _INVISIBLE_RE2, "")
    arrow = pc.utf8_trim_whitespace(pc.replace_substring_regex(arrow, _SPACES_RE2, " "))
    return _squash_runs(arrow.to_pylist())


def normalize_text(texts: Iterable[str] | pd.Series, lowercase: bool = False) -> pd.Series:
    """NFKC-fold, clean white space and invisible characters, squash repeated characters.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
        Raw texts; nulls become ``""``.
    lowercase : bool, default False
        Also lower-case (VADER needs case for its ALL-CAPS rule, so scorers keep it).

    Returns
    -------
    pandas.Series
        Normalized texts of dtype ``str`` (same index as a Series input).

    Examples
    --------
    >>> normalize_text(["ＧＯＯＤ！！", "哈哈哈哈哈 soooo"]).tolist()
    ['GOOD!!', '哈哈哈 soo']
    """
    series = _as_text_series(texts, function="normalize_text")
    codes, uniques = _factorize_texts(series)
    out = np.array(_normalize_distinct(uniques), dtype=object)
    if lowercase:
        out = np.array([t.lower() for t in out], dtype=object)
    return pd.Series(out[codes] if len(codes) else out[:0], index=series.index, dtype="str")


@lru_cache(maxsize=1)
def _emoji_codepoint_ranges() -> tuple[tuple[int, int], ...]:
    """Ranges of every code point >= U+2000 that starts or forms an emoji (``emoji.EMOJI_DATA``)."""
    import emoji

    structural = {0x200D, 0xFE0F, 0x20E3} | set(range(0x1F3FB, 0x1F400)) | set(range(0x1F1E6, 0x1F200))
    points = sorted({ord(c) for key in emoji.EMOJI_DATA for c in key if ord(c) >= 0x2000} - structural)
    ranges: list[tuple[int, int]] = []
    for p in points:
        if ranges and p == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], p)
        else:
            ranges.append((p, p))
    return tuple(ranges)


def _emoji_pattern(escape: Any) -> str:
    """One emoji: a flag (two regional indicators) or a base with modifiers and ZWJ continuations."""
    base = (
        "[" + "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in _emoji_codepoint_ranges()) + "]"
    )
    modifier = f"[{escape(0x1F3FB)}-{escape(0x1F3FF)}{escape(0xFE0F)}{escape(0x20E3)}]?"
    flag = f"[{escape(0x1F1E6)}-{escape(0x1F1FF)}]{{2}}"
    return f"{flag}|{base}{modifier}(?:{escape(0x200D)}{base}{modifier})*"


@lru_cache(maxsize=1)
def _emoji_regex() -> re.Pattern[str]:
    """Python regex of one emoji."""
    return re.compile(_emoji_pattern(lambda p: f"\\U{p:08x}"))


@lru_cache(maxsize=1)
def _emoji_re2() -> str:
    """The same pattern in RE2 syntax (pyarrow)."""
    return _emoji_pattern(lambda p: f"\\x{{{p:x}}}")


def extract_emoji(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Emoji of each text, in order of appearance, as lists (the ``emoji`` package's inventory).

    Skin-tone and ZWJ sequences (👍🏽, 👨‍👩‍👧) and flags count as one emoji each.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    pandas.Series
        One list of emoji strings per text.
    """
    series = _as_text_series(texts, function="extract_emoji")
    codes, uniques = _factorize_texts(series)
    found = uniques.str.findall(_emoji_regex()).to_numpy(dtype=object)
    return pd.Series(found[codes], index=series.index, dtype=object)


_HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = f"[{_HAN_CHARS}]"
_LATIN_WORD_RE = "[A-Za-z\u00c0-\u024f]+"
_OTHER_SYLLABLE_RE = "[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff\u0e00-\u0e7f]"
_OTHER_WORD_RE = "[\u0370-\u03ff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0900-\u097f]+"
_KANA_HANGUL_RE = (
    "[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff\u1100-\u11ff\u3131-\u318e\uac00-\ud7af]"
)
"""Japanese kana (hiragana, katakana; not the middle dot ・ or the long-vowel mark ー, which Chinese
text borrows) and Korean Hangul (syllables and jamo): scripts Chinese is never written in."""


def script_counts(texts: Iterable[str] | pd.Series) -> pd.DataFrame:
    """Script units per text: Han characters, Latin words, and units of other scripts.

    Kana, Hangul and Thai count per character, Greek, Cyrillic, Hebrew, Arabic and Devanagari per
    word. Input should be NFKC-normalized (full-width Latin letters count only after folding).

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    pandas.DataFrame
        Integer columns ``han``, ``latin``, ``other`` and ``kana_hangul`` (the Japanese kana and
        Korean Hangul letters among ``other``, which mark a text as not Chinese whatever its Han
        share; see :func:`detect_language`), same index as a Series input.
    """
    series = _as_text_series(texts, function="script_counts")
    counts = {
        "han": series.str.count(_HAN_RE),
        "latin": series.str.count(_LATIN_WORD_RE),
        "other": series.str.count(_OTHER_SYLLABLE_RE) + series.str.count(_OTHER_WORD_RE),
        "kana_hangul": series.str.count(_KANA_HANGUL_RE),
    }
    return pd.DataFrame({k: v.fillna(0).astype("int64") for k, v in counts.items()}, index=series.index)


def _language_from_counts(counts: pd.DataFrame) -> np.ndarray:
    """Language per text from :func:`script_counts` (rules in :func:`detect_language`)."""
    han = counts["han"].to_numpy(dtype=float)
    latin = counts["latin"].to_numpy(dtype=float)
    total = han + latin + counts["other"].to_numpy(dtype=float)
    safe = np.where(total > 0, total, 1.0)
    kana_hangul = counts["kana_hangul"].to_numpy() > 0
    conditions = [
        (total == 0) | kana_hangul,
        han / safe >= DOMINANT_SCRIPT_SHARE,
        latin / safe >= DOMINANT_SCRIPT_SHARE,
        ((han + latin) / safe >= DOMINANT_SCRIPT_SHARE) & (han > 0) & (latin > 0),
    ]
    return np.select(conditions, ["other", "zh", "en", "mixed"], default="other")


def detect_language(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Language of each text by script ratio: ``zh``, ``en``, ``mixed`` or ``other``.

    A script owning at least 75 % of the units (:func:`script_counts`) decides ``zh`` or ``en``;
    Han plus Latin >= 75 % with both present is ``mixed``; anything else, including texts without
    letters (emoji only, ``???``, ``666``), is ``other``. A text with any Japanese kana or Korean
    Hangul letter is ``other`` whatever its Han share: Japanese and Korean also write Han characters
    (kanji-heavy ``最高の配信`` is 80 % Han), Chinese is never written in kana or Hangul, and the
    sentiment models cover neither language. Known cost: Chinese web slang that borrows ``の`` for
    的 (``我の天``) is read as ``other`` too.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
        Texts (normalized or raw; they are NFKC-folded here).

    Returns
    -------
    pandas.Series
        Language codes (same index as a Series input).
    """
    series = _as_text_series(texts, function="detect_language")
    codes, uniques = _factorize_texts(series)
    folded = pc.utf8_normalize(_arrow_strings(uniques), form="NFKC").to_numpy(zero_copy_only=False)
    langs = _language_from_counts(script_counts(pd.Series(folded, dtype="str")))
    return pd.Series(langs[codes], index=series.index, dtype="str")


# --------------------------------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """A private jieba tokenizer, initialised once with logging silenced (deterministic)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@lru_cache(maxsize=1)
def _tweet_tokenizer() -> Any:
    from nltk.tokenize import TweetTokenizer

    return TweetTokenizer(preserve_case=False, reduce_len=True, strip_handles=True)


def _per_unique(series: pd.Series, function: Any) -> list[list[str]]:
    """Apply a per-text tokenizer to the distinct texts only and broadcast back."""
    codes, uniques = _factorize_texts(series)
    done = [function(t) for t in uniques.tolist()]
    return [done[c] for c in codes]


def segment_chinese(texts: Iterable[str] | pd.Series) -> list[list[str]]:
    """Chinese word segmentation with jieba (white-space tokens dropped), one list per text.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    list of list of str
    """
    series = _as_text_series(texts, function="segment_chinese")
    tokenizer = _jieba()
    return _per_unique(series, lambda t: [w for w in tokenizer.lcut(t) if not w.isspace()])


def tokenize_english(texts: Iterable[str] | pd.Series) -> list[list[str]]:
    """English tokens with NLTK's ``TweetTokenizer`` (lower-cased, handles stripped, no downloads).

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    list of list of str
    """
    series = _as_text_series(texts, function="tokenize_english")
    return _per_unique(series, _tweet_tokenizer().tokenize)


def tokenize(texts: Iterable[str] | pd.Series, lang: str = "auto") -> list[list[str]]:
    """Normalized, lower-cased tokens: jieba for ``zh``/``mixed`` texts, tweet tokens otherwise.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    lang : {"auto", "zh", "en"}, default "auto"
        ``auto`` detects the language of each text.

    Returns
    -------
    list of list of str
    """
    _check_choice(lang, "lang", "tokenize", ("auto", "zh", "en"))
    normalized = normalize_text(_as_text_series(texts, function="tokenize"), lowercase=True)
    langs = detect_language(normalized) if lang == "auto" else pd.Series(lang, index=normalized.index)
    chinese = langs.isin(["zh", "mixed"]).to_numpy()
    out: list[list[str]] = [[] for _ in range(len(normalized))]
    positions = np.arange(len(normalized))
    for mask, function in ((chinese, segment_chinese), (~chinese, tokenize_english)):
        if mask.any():
            for p, toks in zip(positions[mask], function(normalized[mask]), strict=True):
                out[p] = toks
    return out
