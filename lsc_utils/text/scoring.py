"""One scorer for every language (score_texts, score_file), the comment_scores table and accuracy on labelled comments."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.io import read_csv, require_columns, write_spreadsheet_csv
from lsc_utils.pii import PII_KINDS
from lsc_utils.pii import arrow_strings as _arrow_strings
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.schema import DatasetError
from lsc_utils.text._common import EN_NEUTRAL_THRESHOLD, LABELS, LANGUAGES, ZH_NEUTRAL_HALF_WIDTH, _factorize_texts
from lsc_utils.text.chinese import SentimentModel, load_default_sentiment_model
from lsc_utils.text.chinese_chat import (
    _drop_degree_adverbs,
    _english_log_odds,
    _split_latin,
    _zh_lexicon_log_odds,
)
from lsc_utils.text.domain import resolve_domain
from lsc_utils.text.english import _extended_compound, _replace_where_found, vadersentiment_compound
from lsc_utils.text.normalize import _emoji_re2, _emoji_regex, _language_from_counts, _normalize_distinct, script_counts
from lsc_utils.text.topics import (
    _QUESTION_RE,
    MultilingualTopicModel,
    TopicModel,
    _question_flags,
    assign_topics,
    is_question,
)

# --------------------------------------------------------------------------------------------------
# Unified scoring
# --------------------------------------------------------------------------------------------------


QUESTION_WEIGHT: float = 0.0
"""Factor on the live-chat score of a question (:func:`is_question`). Questions in a live room ask
for information (price, size, stock, shipping) and, like question sentences in general (Liu 2012,
*Sentiment Analysis and Opinion Mining*, sect. 4.6), rarely state an opinion; the review-trained
Chinese model reads them as complaints (review questions are rhetorical) and VADER scores the words
asked about ("is shipping free?"). 0 makes every question neutral in live-chat mode; review mode
(``live_chat=False``) keeps their scores."""


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
    """Positive at ``score >= half_width``, negative at ``<= -half_width``, else neutral (always at 0)."""
    positive = (scores >= half_width) & (scores > 0)
    negative = (scores <= -half_width) & (scores < 0)
    return np.select([positive, negative], ["positive", "negative"], default="neutral")


ZH_REVIEW_NEUTRAL_HALF_WIDTH: float = 0.0
"""Neutral half-width of the Chinese score in the review domain: none. A review states an opinion
and the model has no neutral class, so each review gets the model's side (neutral only at 0, e.g.
an empty text); the 0.3 band of live chat (:data:`ZH_NEUTRAL_HALF_WIDTH`) is for chat, where many
comments carry no opinion."""


def _live_chat_of(domain: str | None, texts: pd.Series, live_chat: bool) -> bool:
    """Live-chat extensions on or off: from ``domain`` when given (``auto`` = :func:`detect_domain`), else ``live_chat``."""
    if domain is None:
        return bool(live_chat)
    return resolve_domain(domain, texts, "score_texts") == "chat"


def score_texts(
    texts: Iterable[str] | pd.Series,
    lang: str = "auto",
    model: SentimentModel | None = None,
    live_chat: bool = True,
    domain: str | None = None,
) -> pd.DataFrame:
    """Sentiment of each text in [-1, 1] with a label, whatever its language.

    ``zh`` -> Chinese model, score ``2p - 1``, neutral when ``|score| < 0.3`` (review mode: sign only);
    with ``live_chat``
    the live-chat terms (scope zh/both: 绝绝子, 买买买, 避雷, yyds ...) and emoji found in the text
    add ``1.5 x valence`` to the model's log-odds, and a degree adverb right before such a term (太棒了)
    intensifies the term instead of being read by the model (:data:`ZH_DEGREE_RE2`). ``en`` and
    ``other`` (emoji-only, digits, kana, Hangul, other scripts) -> extended VADER compound (the
    ``vaderSentiment`` package's compound without ``live_chat``), neutral when ``|score| < 0.05``. With ``live_chat`` and ``lang="auto"``,
    the English words of a ``zh`` text are read by VADER and pooled into the Chinese evidence: their
    valence sum adds ``1.5 x`` to the log-odds, as lexicon terms do (:func:`_chat_log_odds`).
    ``mixed`` -> both, averaged with weights = Han and Latin shares, neutral half-width averaged the
    same way. With
    ``live_chat``, ``[PHONE]``-style PII masks are removed first, the Chinese model reads the text
    without punctuation, emoji are scored outside the scope of negations, and questions are neutral
    (``QUESTION_WEIGHT``). Null texts are scored as empty (neutral). Distinct texts are scored once.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    lang : {"auto", "zh", "en"}, default "auto"
        ``zh``/``en`` force one scorer for every text.
    model : SentimentModel, optional
        Chinese model (default: the shipped one).
    live_chat : bool, default True
        Apply the live-chat extensions (slang and emoji lexicon, extended VADER). False is *review
        mode*: the Chinese model alone (labels by sign) and plain ``vaderSentiment``.
    domain : {"auto", "review", "chat"}, optional
        When given, overrides ``live_chat``: ``chat`` = on, ``review`` = off, ``auto`` = on only if
        the texts as a whole look like live chat (:func:`lsc_utils.text.detect_domain`).

    Returns
    -------
    pandas.DataFrame
        Columns ``lang``, ``score`` (float), ``label`` (negative/neutral/positive), same index as a
        Series input.
    """
    _check_choice(lang, "lang", "score_texts", ("auto", "zh", "en"))
    series = _as_text_series(texts, function="score_texts")
    live_chat = _live_chat_of(domain, series, live_chat)
    codes, uniques = _factorize_texts(series)
    normalized = pd.Series(_normalize_distinct(uniques), dtype="str")
    if live_chat:
        normalized = _drop_pii_placeholders(normalized)
    counts = script_counts(normalized)
    langs = _language_from_counts(counts) if lang == "auto" else np.full(len(uniques), lang, dtype=object)
    scored_langs = langs
    if live_chat:
        normalized, questions, counts, scored_langs = _drop_greetings_and_questions(normalized, counts, langs, lang)
    zh_weight = _chinese_share(counts, scored_langs)
    split = (live_chat and lang == "auto") & (scored_langs == "zh") & (counts["latin"].to_numpy() > 0)
    scores = _blended_scores(normalized, uniques, zh_weight, model, live_chat, split)
    if live_chat:
        scores = np.where(questions, QUESTION_WEIGHT * scores, scores)
    scores = np.where(uniques.str.strip().str.len().to_numpy() > 0, scores, 0.0)  # empty texts are neutral
    zh_half_width = ZH_NEUTRAL_HALF_WIDTH if live_chat else ZH_REVIEW_NEUTRAL_HALF_WIDTH
    half_width = zh_weight * zh_half_width + (1 - zh_weight) * EN_NEUTRAL_THRESHOLD
    labels = _labels_from_scores(scores, half_width)
    return pd.DataFrame(
        {
            "lang": pd.Series(np.asarray(langs, dtype=object)[codes], index=series.index, dtype="str"),
            "score": pd.Series(scores[codes], index=series.index, dtype="float64"),
            "label": pd.Series(labels[codes], index=series.index, dtype="str"),
        }
    )


def _drop_greetings_and_questions(
    normalized: pd.Series, counts: pd.DataFrame, langs: np.ndarray, lang: str
) -> tuple[pd.Series, np.ndarray, pd.DataFrame, np.ndarray]:
    """Greetings and question clauses removed before scoring (live-chat mode), scripts recounted.

    Parameters
    ----------
    normalized : pandas.Series
        Distinct normalized texts.
    counts : pandas.DataFrame
        Their script counts (:func:`script_counts`).
    langs : numpy.ndarray
        Their languages (reported in the result).
    lang : {"auto", "zh", "en"}
        The ``lang`` argument of :func:`score_texts`.

    Returns
    -------
    normalized : pandas.Series
        The texts left to score.
    questions : numpy.ndarray of bool
        Texts that were nothing but questions.
    counts : pandas.DataFrame
        Script counts of the texts left (a copy when any text changed).
    scored_langs : numpy.ndarray
        Languages to score the texts left in (recomputed with ``lang="auto"``, else ``langs``).
    """
    scored_langs = langs
    before = normalized
    normalized, questions = _drop_question_clauses(_strip_greetings(normalized))
    changed = (normalized != before).to_numpy()
    if changed.any():  # what is left to score may be in another script (来了来了😍 -> 😍)
        counts = counts.copy()
        counts.loc[changed] = script_counts(normalized[changed]).to_numpy()
        if lang == "auto":
            scored_langs = _language_from_counts(counts)
    return normalized, questions, counts, scored_langs


def _chinese_share(counts: pd.DataFrame, scored_langs: np.ndarray) -> np.ndarray:
    """Weight of the Chinese scorer per text: 1 for ``zh``, the Han share of Han + Latin for ``mixed``, else 0."""
    han = counts["han"].to_numpy(dtype=float)
    latin = counts["latin"].to_numpy(dtype=float)
    return np.select(
        [scored_langs == "zh", scored_langs == "mixed"], [1.0, han / np.maximum(han + latin, 1.0)], default=0.0
    )


def _blended_scores(
    normalized: pd.Series,
    uniques: pd.Series,
    zh_weight: np.ndarray,
    model: SentimentModel | None,
    live_chat: bool,
    split: np.ndarray | None = None,
) -> np.ndarray:
    """Chinese-model score ``2p - 1`` and VADER compound of each text, averaged with weights ``zh_weight``.

    Parameters
    ----------
    normalized : pandas.Series
        Distinct texts to score, normalized.
    uniques : pandas.Series
        The same texts raw (plain VADER reads them in review mode).
    zh_weight : numpy.ndarray
        Weight of the Chinese scorer per text (:func:`_chinese_share`); each scorer runs only on the
        texts that need it.
    model : SentimentModel, optional
        Chinese model (default: the shipped one).
    live_chat : bool
        Live-chat extensions (lexicon log-odds, degree adverbs, punctuation stripped, extended VADER).
    split : numpy.ndarray of bool, optional
        Chinese texts with English words, read by VADER and pooled into the Chinese log-odds
        (:func:`_chat_log_odds`); only with ``live_chat`` and ``zh_weight`` 1.

    Returns
    -------
    numpy.ndarray
        Score in [-1, 1] per text.
    """
    scores = np.zeros(len(uniques))
    needs_zh = zh_weight > 0
    needs_en = zh_weight < 1
    if needs_zh.any():
        zh_model = model or load_default_sentiment_model()
        zh_texts = normalized[needs_zh]
        if live_chat:
            split_zh = split[needs_zh] if split is not None else np.zeros(len(zh_texts), dtype=bool)
            log_odds = _chat_log_odds(zh_texts, zh_model, split_zh)
        else:
            log_odds = zh_model._decision_of_normalized(zh_texts)
        scores[needs_zh] += zh_weight[needs_zh] * (2.0 * expit(log_odds) - 1.0)
    if needs_en.any():
        english = _extended_compound(normalized[needs_en]) if live_chat else vadersentiment_compound(uniques[needs_en])
        scores[needs_en] += (1 - zh_weight[needs_en]) * english
    return scores


def _chat_log_odds(texts: pd.Series, model: SentimentModel, split: np.ndarray) -> np.ndarray:
    """Live-chat log-odds of Chinese texts.

    The model reads each text without punctuation and without the degree adverbs that intensify a
    live-chat term (:func:`_drop_degree_adverbs`); the lexicon terms and emoji of the text add their
    evidence (:func:`_zh_lexicon_log_odds`). The English words of the ``split`` texts add
    ``ZH_LEXICON_LOG_ODDS`` x their extended-VADER valence sum (:func:`_split_latin`). Evidence is
    pooled rather than averaged: the review model has no neutral class and reads a neutral Chinese
    fragment as a mild complaint (这个口红 -0.48), which in an average would outvote a clear English
    opinion (这个口红yyds, 这个主播太棒了 love it!!).

    Parameters
    ----------
    texts : pandas.Series
        Distinct normalized texts.
    model : SentimentModel
        Chinese model.
    split : numpy.ndarray of bool
        Texts whose English words VADER reads.

    Returns
    -------
    numpy.ndarray
        Log-odds of the positive class per text.
    """
    chinese = texts
    english = pd.Series([], dtype="str")
    if split.any():
        parts = [_split_latin(t) for t in texts[split].tolist()]
        values = texts.to_numpy(dtype=object, copy=True)
        values[split] = [c for c, _ in parts]
        chinese = pd.Series(values, index=texts.index, dtype="str")
        english = pd.Series([e for _, e in parts], dtype="str")
    log_odds = model._decision_of_normalized(_strip_punctuation(_drop_degree_adverbs(chinese)))
    log_odds = log_odds + _zh_lexicon_log_odds(texts)
    log_odds[split] += _english_log_odds(english)
    return log_odds


SCORE_FILE_COLUMNS: tuple[str, str, str] = ("lang", "score", "label")
"""Columns appended by :func:`score_file` (after an optional prefix)."""


def score_file(
    input_csv: str | Path,
    text_column: str,
    out_csv: str | Path,
    lang: str = "auto",
    progress: bool = True,
    chunk_size: int = 100_000,
    live_chat: bool | None = None,
    prefix: str = "",
    domain: str = "auto",
) -> Path:
    """Score a UTF-8 CSV's text column and write it back with three sentiment columns.

    The output holds every input column (read as text, unchanged) plus ``lang``, ``score`` and
    ``label`` (:func:`score_texts`; named ``f"{prefix}lang"`` ... with a ``prefix``). A text cell
    starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading apostrophe so that a
    spreadsheet never runs it as a formula (:func:`lsc_utils.io.write_spreadsheet_csv`).

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
    live_chat : bool, optional
        Force the live-chat extensions on or off (overrides ``domain``).
    prefix : str, default ""
        Prefix of the added column names (when the input has ``lang``, ``score`` or ``label``).
    domain : {"auto", "review", "chat"}, default "auto"
        ``chat`` = live-chat extensions on, ``review`` = off (plain VADER, Chinese model alone),
        ``auto`` = decided once for the whole column (:func:`lsc_utils.text.detect_domain`).

    Returns
    -------
    Path
        ``out_csv``.

    Raises
    ------
    DatasetError
        Missing, empty or non-UTF-8 file, missing or empty column, a clash with an added column.
    """
    from tqdm.auto import tqdm

    _check_choice(lang, "lang", "score_file", ("auto", "zh", "en"))
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
    resolved = resolve_domain(domain, texts, "score_file") if live_chat is None else ("chat" if live_chat else "review")
    parts, starts = [], range(0, len(frame), chunk_size)
    for start in tqdm(starts, total=len(starts), disable=not progress, desc=f"scoring ({resolved})", unit="chunk"):
        parts.append(score_texts(texts.iloc[start : start + chunk_size], lang=lang, domain=resolved))
    scored = pd.concat(parts)
    out = frame.copy()
    for column, name in zip(SCORE_FILE_COLUMNS, added, strict=True):
        out[name] = scored[column].to_numpy()
    target = Path(out_csv)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_spreadsheet_csv(out, target)  # formula-like cells neutralized (OWASP CSV injection)
    return target


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
    _require_columns(comments, ["comment_id", "text"], "comments", "score_comments")
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
    _require_columns(scores, ["comment_id", "label"], "scores", "label_accuracy")
    _require_columns(truth, ["comment_id", "label", "lang"], "truth", "label_accuracy")
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
