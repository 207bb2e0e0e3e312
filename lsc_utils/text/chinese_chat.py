"""Live-chat evidence for the Chinese model: lexicon terms with negation and degree adverbs, and the
English words of code-mixed comments (used by :func:`lsc_utils.text.score_texts`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.text.english import (
    _emoji_valence_sums,
    _extended_sums,
    _replace_where_found,
    _vader_constants,
    load_live_chat_lexicon,
)
from lsc_utils.text.normalize import _HAN_CHARS, _HAN_RE, _emoji_regex

ZH_LEXICON_LOG_ODDS: float = 1.5
"""Log-odds added to the Chinese model per unit of VADER valence: of a live-chat term or emoji found
in a Chinese comment, and of the English words of a code-mixed one."""

_NEGATION_HEAD_RE2 = "(?:不|没有|没|别|无|非|未)"
_NEGATION_SOFTENER_RE2 = "(?:是|那么|怎么|够|算|大|会再|会|再|想|要|能)"

ZH_DEGREE_RE2 = "(?:太|很|好|真|超级|超|非常|特别|十分|挺|蛮|巨|贼|最|极其|相当)"
"""Chinese degree adverbs (程度副词: 太, 很, 好, 真, 超(级), 非常, 特别 ...). They carry no opinion of their
own: they intensify the word after them (太棒了, 很好看, 超值). The review-trained model nevertheless
learned large weights for them from the words they precede in reviews -- 太 -5.0 (太差, 太慢, 太贵:
complaints), 很 +6.3 (很好, 很满意) -- so it reads 太棒了 and 太喜欢了 as complaints. Right before a
live-chat term (or an English word, see :func:`_split_latin`), a degree adverb is therefore not read
by the model, and the term counts with VADER's booster increment (+0.293) on top of its valence.
Before anything else the model's reading stands: 太小了 and 太慢了 keep their 'too X' complaint."""

ZH_NEGATION_RE2 = f"{_NEGATION_HEAD_RE2}{_NEGATION_SOFTENER_RE2}?{ZH_DEGREE_RE2}?"
"""Chinese negation before a live-chat term: 不 / 没(有) / 别 / 无 / 非 / 未, optionally followed by one
softener or modal (不是, 没那么, 不怎么, 不够, 不会再, 没想, 不能 ...) and a degree adverb (不太, 不是很,
没那么好, 不是特别). A negated term counts with VADER's negation factor (-0.74) instead of +1, so
不好看 / 不太好看 / 不支持退货 / 没抢到 are not read as praise. The 别 of 特别 ('especially') is not a
negation: 特别好看 is intensified, not negated."""

ZH_DEGREE_HOMOGRAPHS: str = "冲"
"""First characters of live-chat terms that mean something else after a degree adverb: 冲 'go for it!'
(冲, 冲了, 冲鸭) is, after 太/很/好, the adjective 'pungent, brash' (味道太冲了, 说话很冲). Such an
occurrence is not read by the lexicon, and the model keeps reading its adverb."""

ZH_PARTICLES: str = "了啦呀啊哦吧哇嘛呢的耶喔噢"
"""Sentence-final particles: after a degree adverb, a one-character term followed by one of them
(太棒了, 好棒啊, 很好的) is a word of its own."""

_ONE_CHAR_END = rf"(?:[^{_HAN_CHARS}]|$|[{ZH_PARTICLES}])"


@dataclass(frozen=True)
class _ZhTerm:
    """One live-chat term as the Chinese scorer matches it (RE2 patterns; None = rule not used)."""

    pattern: str
    negated: str | None
    valence: float
    intensified: str | None = None
    negated_intensified: str | None = None
    not_negated: str | None = None


def _zh_term(term: str, valence: float) -> _ZhTerm:
    """RE2 patterns of a live-chat term for Chinese text.

    ASCII terms (``yyds``, ``666``) match as whole words, neither negated nor intensified. Chinese
    terms match as substrings; one-character terms (冲, 赞, 棒, 好) only as words of their own:
    standing alone (not next to another Han character, so 冲突 and 冲动 never fire) or right after a
    degree adverb and before a non-Han character, the end or a particle (太棒了, 超赞!, 很好的). A
    term right after :data:`ZH_NEGATION_RE2` counts as negated (minus the 特别 that looks like one);
    right after :data:`ZH_DEGREE_RE2` and not negated, as intensified.
    """
    literal = re.escape(term)
    if term.isascii():
        return _ZhTerm(rf"(?i)\b{literal}\b", None, valence)
    if len(term) == 1 and re.fullmatch(_HAN_RE, term):
        after_degree = f"{ZH_DEGREE_RE2}{literal}{_ONE_CHAR_END}"
        alone = rf"(?:^|[^{_HAN_CHARS}]){literal}(?:[^{_HAN_CHARS}]|$)"
        negated = f"{_NEGATION_HEAD_RE2}{_NEGATION_SOFTENER_RE2}?{after_degree}"
        return _ZhTerm(f"{alone}|{after_degree}", negated, valence, after_degree, negated, "特" + negated)
    negated = ZH_NEGATION_RE2 + literal
    negated_intensified = f"{_NEGATION_HEAD_RE2}{_NEGATION_SOFTENER_RE2}?{ZH_DEGREE_RE2}{literal}"
    return _ZhTerm(literal, negated, valence, ZH_DEGREE_RE2 + literal, negated_intensified, "特" + negated)


@lru_cache(maxsize=1)
def _chinese_lexicon() -> dict[str, float]:
    """Term -> valence of the live-chat terms the Chinese scorer reads (scope zh/both, valence not 0,
    emoji excluded: they are scored apart)."""
    slang = load_live_chat_lexicon()
    slang = slang[slang["scope"].isin(["zh", "both"]) & (slang["valence"] != 0)]
    return {
        term: float(valence)
        for term, valence in zip(slang["term"], slang["valence"], strict=True)
        if not _emoji_regex().fullmatch(term)
    }


@lru_cache(maxsize=1)
def _zh_lexicon_terms() -> tuple[_ZhTerm, ...]:
    """The live-chat terms the Chinese scorer reads, as RE2 patterns (:func:`_zh_term`)."""
    return tuple(_zh_term(term, valence) for term, valence in _chinese_lexicon().items())


def _count(arrow: pa.Array, pattern: str | None) -> np.ndarray:
    """Non-overlapping RE2 matches of a pattern per text (zeros for no pattern)."""
    if pattern is None:
        return np.zeros(len(arrow))
    return pc.count_substring_regex(arrow, pattern).to_numpy(zero_copy_only=False).astype(float)


def _zh_lexicon_log_odds(normalized: pd.Series) -> np.ndarray:
    """Evidence the live-chat lexicon adds to the Chinese model: ``ZH_LEXICON_LOG_ODDS`` x the summed
    valence of the emoji and listed terms (scope ``zh``/``both``, counted with RE2) in each text; a
    negated term counts -0.74 times, an intensified one 1.293 times (VADER's N_SCALAR and B_INCR);
    :data:`ZH_DEGREE_HOMOGRAPHS` after a degree adverb are not read."""
    arrow = _arrow_strings(normalized)
    total = _emoji_valence_sums(arrow)
    arrow = pc.replace_substring_regex(arrow, f"({ZH_DEGREE_RE2})[{ZH_DEGREE_HOMOGRAPHS}]", r"\1 ")
    constants = _vader_constants()
    for term in _zh_lexicon_terms():
        found = _count(arrow, term.pattern)
        rows = np.flatnonzero(found)
        if len(rows) == 0:
            continue
        if term.negated is not None:
            some = arrow.take(pa.array(rows))
            negated = _count(some, term.negated) - _count(some, term.not_negated)
            intensified = _count(some, term.intensified) - _count(some, term.negated_intensified)
            found[rows] += (constants.N_SCALAR - 1.0) * negated + constants.B_INCR * intensified
        total += term.valence * found
    return ZH_LEXICON_LOG_ODDS * total


# --------------------------------------------------------------------------------------------------
# What the Chinese model reads: degree adverbs before a term dropped, English words split off
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _degree_patterns() -> tuple[str, re.Pattern[str]]:
    """RE2 prefilter and Python regex of a degree adverb right before a Chinese live-chat term."""
    chinese = [t for t in _chinese_lexicon() if not t.isascii() and t[0] not in ZH_DEGREE_HOMOGRAPHS]
    longer = sorted((re.escape(t) for t in chinese if len(t) > 1), key=len, reverse=True)
    single = "".join(re.escape(t) for t in chinese if len(t) == 1)
    re2_heads = longer + ([f"[{single}]{_ONE_CHAR_END}"] if single else [])
    python_heads = longer + ([f"[{single}](?={_ONE_CHAR_END})"] if single else [])
    prefilter = f"{ZH_DEGREE_RE2}(?:{'|'.join(re2_heads)})"
    python = re.compile(
        f"(?P<neg>{_NEGATION_HEAD_RE2}{_NEGATION_SOFTENER_RE2}?)?(?P<degree>{ZH_DEGREE_RE2})(?={'|'.join(python_heads)})"
    )
    return prefilter, python


def _keep_negated(match: re.Match[str]) -> str:
    """A degree adverb after a negation (不太好看) stays; otherwise it is dropped."""
    return match.group(0) if match.group("neg") else ""


def _drop_degree_adverbs(normalized: pd.Series) -> pd.Series:
    """The texts without the degree adverbs that intensify a live-chat term (:data:`ZH_DEGREE_RE2`):
    太棒了 -> 棒了, 特别好看 -> 好看; 不太好看 and 太小了 are left as they are."""
    prefilter, python = _degree_patterns()
    arrow = _replace_where_found(_arrow_strings(normalized), prefilter, python, _keep_negated)
    return pd.Series(arrow.to_numpy(zero_copy_only=False), index=normalized.index, dtype="str")


_LATIN_LETTERS = "A-Za-z\u00c0-\u024f"
_LATIN_RUN = (
    rf"[{_LATIN_LETTERS}][{_LATIN_LETTERS}0-9'’_-]*"
    rf"(?:[\s!-/:-@\[-`{{-~]+[{_LATIN_LETTERS}0-9][{_LATIN_LETTERS}0-9'’_-]*)*"
)
_LATIN_SPLIT_RE = re.compile(
    rf"(?:(?P<neg>{_NEGATION_HEAD_RE2}{_NEGATION_SOFTENER_RE2}?)(?P<neg_degree>{ZH_DEGREE_RE2})?"
    rf"|(?P<degree>{ZH_DEGREE_RE2}))?(?P<run>{_LATIN_RUN})"
)


@lru_cache(maxsize=1)
def _chinese_ascii_terms_re() -> re.Pattern[str] | None:
    """Whole-word regex of the ASCII terms of the Chinese lexicon (scope zh/both: yyds, nb, 666, qq)."""
    lexicon = load_live_chat_lexicon()
    terms = lexicon.loc[lexicon["scope"].isin(["zh", "both"]), "term"]
    ascii_terms = sorted((re.escape(t) for t in terms if t.isascii()), key=len, reverse=True)
    if not ascii_terms:
        return None
    return re.compile(rf"(?<![A-Za-z0-9_])(?:{'|'.join(ascii_terms)})(?![A-Za-z0-9_])", re.IGNORECASE)


def _split_latin(text: str) -> tuple[str, str]:
    """What the Chinese model and VADER read of a Chinese comment with English words in it.

    Every run of Latin words (with the spaces, digits and ASCII punctuation between them) is read by
    VADER. The Chinese model keeps reading the whole comment, as it always has (its character
    n-grams of Latin letters, learned from reviews, are weak: brand names, sizes and ids dilute the
    text rather than decide it), except for a Chinese negation or degree adverb written right before
    a run: it modifies the English words and goes with them, translated for VADER's rules (太nice了
    -> ``very nice``, 不太ok -> ``not very ok``, 不love -> ``not love``). Terms of the Chinese lexicon
    written in Latin letters (pinyin slang yyds, nb, awsl; 666; QQ the messenger, which VADER would
    read as a crying emoticon) are left to the Chinese scorer.

    Parameters
    ----------
    text : str
        One normalized comment.

    Returns
    -------
    chinese : str
        The comment for the Chinese model (without the modifiers handed to the English words).
    english : str
        The English words, runs joined by spaces.
    """
    runs: list[str] = []

    def take(match: re.Match[str]) -> str:
        prefix = "not " if match.group("neg") else ""
        prefix += "very " if match.group("neg_degree") or match.group("degree") else ""
        runs.append(prefix + match.group("run"))
        return match.group("run")

    chinese = _LATIN_SPLIT_RE.sub(take, text)
    english = " ".join(runs)
    slang = _chinese_ascii_terms_re()
    if slang is not None:
        english = slang.sub(" ", english)
    return chinese, english


def _english_log_odds(english: pd.Series) -> np.ndarray:
    """``ZH_LEXICON_LOG_ODDS`` x the extended-VADER valence sum of English parts (no emoji there)."""
    if len(english) == 0:
        return np.zeros(0)
    sums, _, _ = _extended_sums(english)
    return ZH_LEXICON_LOG_ODDS * sums
