"""Topics (NMF / LDA), keywords and questions in comments, per language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import require_columns as _require_columns
from lsc_utils.constants import SEED
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.text._common import STOPWORDS_FILE, _factorize_texts, _resource
from lsc_utils.text.normalize import _HAN_CHARS, detect_language, normalize_text, tokenize

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
        _check_choice(self.method, "method", "fit_topics", ("nmf", "lda"))
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
    _require_columns(comments, [room_column, text_column], "comments", "room_keywords")
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
