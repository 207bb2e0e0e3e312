"""Chinese (and general) supervised sentiment model: a log-odds lexicon plus logistic regression, SnowNLP comparison."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator

from lsc_utils.checks import check_choice as _check_choice
from lsc_utils.checks import check_int as _check_int
from lsc_utils.checks import check_positive as _check_positive
from lsc_utils.constants import SEED
from lsc_utils.pii import as_text_series as _as_text_series
from lsc_utils.schema import DatasetError
from lsc_utils.text._common import (
    DEFAULT_MODEL_FILE,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    _factorize_texts,
    _resource,
    _write_deterministic_zip,
)
from lsc_utils.text.normalize import _RUN_SEPARATOR, normalize_text

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


def _nb_log_count_ratio(counts: sparse.spmatrix, positive: np.ndarray) -> np.ndarray:
    """``|log((p / |p|_1) / (q / |q|_1))|`` per feature, p and q = 1 + document frequency among positive and negative texts."""
    present = counts.tocsr().copy()
    present.data = np.ones_like(present.data)
    p = np.asarray(present[positive].sum(axis=0), dtype=np.float64).ravel() + 1.0
    q = np.asarray(present[~positive].sum(axis=0), dtype=np.float64).ravel() + 1.0
    return np.abs(np.log((p / p.sum()) / (q / q.sum())))


def domain_balanced_weights(labels: Iterable[Any] | pd.Series, domains: Iterable[str] | pd.Series) -> np.ndarray:
    """Sample weights that give every (domain, class) cell the same total weight, mean weight 1.

    Without them a big or one-sided corpus (e.g. takeaway reviews, two thirds complaints) pulls
    the model towards its own vocabulary and class balance.

    Parameters
    ----------
    labels, domains : sequence
        Label and domain of each training text (same length).

    Returns
    -------
    numpy.ndarray of float
        ``n / (n_cells * n_cell)`` per text.
    """
    key = (
        pd.Series(list(domains), dtype=object).astype(str) + "\x1f" + pd.Series(list(labels), dtype=object).astype(str)
    )
    sizes = key.map(key.value_counts()).to_numpy(dtype=np.float64)
    return len(key) / (key.nunique() * sizes)


class SentimentModel(BaseEstimator):
    """Binary sentiment classifier: n-gram TF-IDF (optionally naive-Bayes scaled) + logistic regression.

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
    nb_scaling : float, default 0.0
        Exponent ``a`` of the naive-Bayes scaling of NB-SVM (Wang and Manning, 2012): each feature's
        idf is multiplied by ``|r| ** a``, where ``r`` is the log-ratio of the n-gram's smoothed
        document frequency among positive and among negative training texts. It lets n-grams that
        separate the classes count more in the l2-normalized vector. 0 (default) is plain TF-IDF.
        The scaling is folded into ``idf_``, so scoring costs the same.

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
        nb_scaling: float = 0.0,
    ) -> None:
        self.lang = lang
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state
        self.nb_scaling = nb_scaling

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
        _check_choice(self.lang, "lang", "SentimentModel", tuple(_MODEL_DEFAULTS))
        self._resolved_ngram_range()
        _check_int(self.min_df, "min_df", "SentimentModel")
        _check_int(self.max_iter, "max_iter", "SentimentModel")
        _check_positive(self.C, "C", "SentimentModel")
        if not isinstance(self.nb_scaling, (int, float, np.number)) or not 0 <= self.nb_scaling <= 4:
            raise ValueError(
                f"The 'nb_scaling' parameter of SentimentModel must be a number in [0, 4]. Got {self.nb_scaling!r} instead."
            )

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

    def fit(
        self,
        texts: Iterable[str] | pd.Series,
        labels: Iterable[Any] | pd.Series,
        sample_weight: Iterable[float] | np.ndarray | None = None,
    ) -> SentimentModel:
        """Learn n-grams, idf and the classifier.

        Parameters
        ----------
        texts : sequence of str or pandas.Series
            Training texts.
        labels : sequence
            Two distinct label values (e.g. 0/1); the larger one is the positive class.
        sample_weight : sequence of float, optional
            Weight of each text in the logistic regression. By default the two classes get equal
            total weight (``class_weight="balanced"``); given weights replace that balancing (see
            :func:`domain_balanced_weights`).

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
        if self.nb_scaling:
            self.idf_ = self.idf_ * _nb_log_count_ratio(counts, y == classes[1]) ** float(self.nb_scaling)
        weights = None
        if sample_weight is not None:
            weights = np.asarray(list(sample_weight) if not isinstance(sample_weight, np.ndarray) else sample_weight)
            weights = weights.astype(np.float64)
            if weights.shape != y.shape or not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError(
                    f"SentimentModel.fit: 'sample_weight' must hold one finite weight >= 0 per text. Got shape "
                    f"{weights.shape} for {len(y)} texts."
                )
        classifier = LogisticRegression(
            C=self.C,
            class_weight="balanced" if weights is None else None,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        classifier.fit(self._tfidf(counts.tocsr()), y, sample_weight=weights)
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


def leave_one_domain_out(
    texts: Iterable[str] | pd.Series,
    labels: Iterable[Any] | pd.Series,
    domains: Iterable[str] | pd.Series,
    lang: str = "zh",
    balance: str = "class",
    **params: Any,
) -> pd.DataFrame:
    """Leave-one-domain-out validation: for each domain, train without it and test on it.

    It estimates how a model does on a kind of text it never saw (a new product category, a new
    platform), which a random split of the same corpora overstates.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    labels : sequence
        Two distinct values; the larger is the positive class (e.g. 1 = positive).
    domains : sequence of str
        Domain of each text (e.g. ``hotel``, ``takeaway``); at least two distinct values.
    lang : {"zh", "en"}, default "zh"
    balance : {"class", "domain"}, default "class"
        ``class``: the two classes weigh the same (the model's default); ``domain``: every (domain,
        class) cell of the training folds weighs the same (:func:`domain_balanced_weights`).
    **params
        Other :class:`SentimentModel` parameters.

    Returns
    -------
    pandas.DataFrame
        One row per held-out domain (sorted): ``held_out``, ``n_train``, ``n_test``,
        ``positive_share`` (of the test domain), ``accuracy`` (sign of the log-odds) and
        ``balanced_accuracy`` (mean of the accuracies on positive and on negative texts).
    """
    _check_choice(balance, "balance", "leave_one_domain_out", ("class", "domain"))
    series = _as_text_series(texts, function="leave_one_domain_out").reset_index(drop=True)
    y = np.asarray(list(labels) if not isinstance(labels, (pd.Series, np.ndarray)) else labels)
    groups = np.asarray(list(domains) if not isinstance(domains, (pd.Series, np.ndarray)) else domains, dtype=object)
    if not len(y) == len(groups) == len(series):
        raise ValueError(
            f"leave_one_domain_out: 'texts', 'labels' and 'domains' must have the same length. Got {len(series)}, "
            f"{len(y)} and {len(groups)}."
        )
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise ValueError(f"leave_one_domain_out: 'domains' must hold at least two distinct values. Got {names}.")
    rows = []
    for name in names:
        test = groups == name
        weights = domain_balanced_weights(y[~test], groups[~test]) if balance == "domain" else None
        model = SentimentModel(lang=lang, **params).fit(series[~test], y[~test], sample_weight=weights)
        positive = model.decision_function(series[test]) > 0
        truth = y[test] == model.classes_[1]
        recalls = [float(np.mean(positive[truth])) if truth.any() else np.nan]
        recalls.append(float(np.mean(~positive[~truth])) if (~truth).any() else np.nan)
        rows.append(
            (
                name,
                int((~test).sum()),
                int(test.sum()),
                float(truth.mean()),
                float(np.mean(positive == truth)),
                float(np.nanmean(recalls)),
            )
        )
    columns = ["held_out", "n_train", "n_test", "positive_share", "accuracy", "balanced_accuracy"]
    return pd.DataFrame(rows, columns=columns)


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
