"""English sentiment: VADER's lexicon staged for NLTK offline, and a vectorized VADER with live-chat extensions."""

from __future__ import annotations

import io
import os
import re
import string
import tempfile
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

from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.schema import DatasetError
from lsc_utils.text._common import (
    LIVE_CHAT_LEXICON_FILE,
    VADER_RESOURCE,
    _factorize_texts,
    _resource,
    _write_deterministic_zip,
)
from lsc_utils.text.normalize import _emoji_re2, _emoji_regex, _normalize_distinct

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


def _extended_sums(normalized: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Extended VADER valence sums of distinct, already normalized texts (before punctuation emphasis).

    Emoji are scored apart from the words (their valences are added to the word sum): an emoji
    closes the clause before it, so a negation or booster word never reaches it ("not worth it 😡"
    stays negative, "don't buy 👎" is not turned positive).

    Returns
    -------
    sums : numpy.ndarray
        Sum of the token and emoji valences per text (VADER's -4..+4 scale per word).
    scored : numpy.ndarray of bool
        Texts with at least one token or a non-neutral emoji.
    prepared : pandas.Series
        The texts as tokenized (emoji isolated, slang phrases joined).
    """
    prepared = _prepare_chat_text(normalized)
    lexicon = _chat_lexicon().valences
    arrow = _arrow_strings(prepared)
    emoji_sums = _emoji_valence_sums(arrow)
    words = pc.replace_substring_regex(arrow, _emoji_re2(), " ").to_numpy(zero_copy_only=False)
    tokens = _build_tokens(pd.Series(words, index=prepared.index, dtype="str"), _extended_rewriter())
    extra = _batch_emoji_lexicon(tokens.vocabulary, lexicon)
    sums = _valence_sums(tokens, {**lexicon, **extra} if extra else lexicon) + emoji_sums
    return sums, (tokens.counts > 0) | (emoji_sums != 0), prepared


def _extended_compound(normalized: pd.Series) -> np.ndarray:
    """Extended VADER compound of distinct, already normalized texts (:func:`_extended_sums`, then
    VADER's ``!``/``?`` emphasis and normalisation)."""
    sums, scored, prepared = _extended_sums(normalized)
    return _compound(sums, scored, prepared)


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


@lru_cache(maxsize=1)
def _vadersentiment_analyzer() -> Any:
    """The ``vaderSentiment`` package's own analyzer (its wheel ships the lexicons; no download)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vadersentiment_compound(texts: Iterable[str] | pd.Series) -> np.ndarray:
    """Compound score of the ``vaderSentiment`` package (3.3.2), unchanged, per text.

    This is the *review domain* English scorer of :func:`lsc_utils.text.score_texts`: on ordinary
    text (reviews, sentences, tweets) it is the reference, so the review domain is never worse
    than it. It differs from NLTK's VADER (:class:`VaderScorer` with ``extended=False``) in its
    punctuation stripping, its emoji descriptions and a few rules, and is a little more accurate on
    every shared English review set (``benchmarks/bench_text.py``). Pure Python: distinct texts are
    scored once.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    numpy.ndarray of float
        Compound scores in [-1, 1] (4 decimals, as the package rounds them).
    """
    series = _as_text_series(texts, function="vadersentiment_compound")
    codes, uniques = _factorize_texts(series)
    if len(uniques) == 0:
        return np.zeros(0)
    analyzer = _vadersentiment_analyzer()
    scores = np.array([analyzer.polarity_scores(t)["compound"] if t else 0.0 for t in uniques.tolist()], dtype=float)
    return scores[codes]


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
