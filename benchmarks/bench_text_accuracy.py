"""Accuracy and speed of the sentiment scorers per language and domain, beside vaderSentiment and SnowNLP.

Used by ``bench_text.py --accuracy``; every row is measured in the same run. The data are the labelled
real sets of ``$LSC_SHARED_DATA`` (default ``../shared/data``) and the hand-labelled chat fixtures of
``tests/fixtures/sentiment``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from lsc_utils import text  # noqa: E402

SHARED = Path(os.environ.get("LSC_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "tests" / "fixtures" / "sentiment"
CHAT_SOURCES = {"bilibili_danmaku_acelib02/danmaku.csv": "content"}


def english_review_sets() -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Texts, rating (for Pearson r) and 0/1 label of each English review set."""
    folder = SHARED / "amazon_reviews"
    alexa = pd.read_csv(folder / "amazon_alexa.tsv", sep="\t").dropna(subset=["verified_reviews"])
    sets = {"Amazon Alexa": (alexa["verified_reviews"].astype(str).tolist(), alexa["rating"], alexa["feedback"])}
    music = pd.read_csv(folder / "Musical_instruments_reviews_5050.csv").dropna(subset=["reviewText"])
    sets["Musical instruments"] = (music["reviewText"].astype(str).tolist(), music["overall"], music["overall"] >= 4)
    for file in sorted(glob.glob(str(folder / "uci_sentiment_labelled_sentences" / "*_labelled.txt"))):
        rows = [line.rsplit("\t", 1) for line in Path(file).read_text(encoding="utf-8").splitlines() if "\t" in line]
        labels = np.array([int(r[1]) for r in rows])
        sets[f"UCI {Path(file).stem.split('_')[0]}"] = ([r[0] for r in rows], labels, labels)
    return {k: (t, np.asarray(r, dtype=float), np.asarray(y).astype(int)) for k, (t, r, y) in sets.items()}


def labelled_chat() -> dict[str, tuple[list[str], np.ndarray]]:
    """The hand-labelled chat: real YouTube and Bilibili messages (labels only in the fixture) and commerce chat."""
    labels = pd.read_csv(FIXTURES / "live_chat_labels.csv")
    texts = []
    for source, row in zip(labels["source"], labels["row"], strict=True):
        raw = pd.read_csv(SHARED / "live_chat" / source, dtype=str, keep_default_na=False)
        texts.append(raw[CHAT_SOURCES.get(source, "message")].iloc[row])
    digests = [hashlib.sha1(t.encode("utf-8")).hexdigest()[:12] for t in texts]
    if digests != labels["text_sha1"].tolist():
        raise RuntimeError("live_chat_labels.csv: the shared chat files changed")
    platform = labels["source"].str.split("_").str[0].to_numpy()
    out = {
        f"{name} live chat (real)": (
            [t for t, p in zip(texts, platform, strict=True) if p == name],
            labels["label"].to_numpy()[platform == name],
        )
        for name in ("youtube", "bilibili")
    }
    commerce = pd.read_csv(FIXTURES / "commerce_chat_heldout.csv")
    for lang in ("en", "zh"):
        rows = commerce["lang"] == lang
        out[f"commerce chat {lang} (written)"] = (
            commerce.loc[rows, "text"].tolist(),
            commerce.loc[rows, "label"].to_numpy(),
        )
    return out


def macro_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean F1 over the three labels."""
    scores = []
    for label in ("negative", "neutral", "positive"):
        tp = np.sum((predicted == label) & (truth == label))
        denominator = np.sum(predicted == label) + np.sum(truth == label)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def _timed(function: Callable[[], np.ndarray], n: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = function()
    return np.asarray(result), n / max(time.perf_counter() - start, 1e-9)


def _vader_labels(scores: np.ndarray) -> np.ndarray:
    return np.select([scores >= 0.05, scores <= -0.05], ["positive", "negative"], default="neutral")


def english_rows() -> list[dict]:
    """Pearson r and binary accuracy per English review set: ours (auto) vs vaderSentiment vs NLTK VADER."""
    rows = []
    for name, (texts, rating, label) in english_review_sets().items():
        domain = text.detect_domain(texts)
        methods = {
            "lsc_utils (domain auto)": lambda t=texts: text.score_texts(t, lang="en", domain="auto")["score"],
            "lsc_utils (domain chat)": lambda t=texts: text.score_texts(t, lang="en", domain="chat")["score"],
            "vaderSentiment 3.3.2": lambda t=texts: text.vadersentiment_compound(t),
            "NLTK VADER (vectorized)": lambda t=texts: text.VaderScorer(extended=False).compound(t),
        }
        for method, function in methods.items():
            scores, speed = _timed(function, len(texts))
            scores = scores.astype(float)
            rows.append(
                {
                    "set": name,
                    "lang": "en",
                    "domain": domain,
                    "method": method,
                    "n": len(texts),
                    "metric": "pearson_r",
                    "value": float(np.corrcoef(scores, rating)[0, 1]),
                    "texts_per_s": speed,
                }
            )
            rows.append(
                {
                    "set": name,
                    "lang": "en",
                    "domain": domain,
                    "method": method,
                    "n": len(texts),
                    "metric": "accuracy",
                    "value": float(np.mean((scores >= 0.05) == (label == 1))),
                    "texts_per_s": speed,
                }
            )
    return rows


def chat_rows() -> list[dict]:
    """3-class macro-F1 on the labelled chat: ours (auto / chat) vs vaderSentiment (and SnowNLP for Chinese)."""
    rows = []
    for name, (texts, truth) in labelled_chat().items():
        domain = text.detect_domain(texts)
        methods = {
            "lsc_utils (domain auto)": lambda t=texts: text.score_texts(t, domain="auto")["label"],
            "lsc_utils (domain review)": lambda t=texts: text.score_texts(t, domain="review")["label"],
            "vaderSentiment 3.3.2": lambda t=texts: _vader_labels(text.vadersentiment_compound(t)),
        }
        for method, function in methods.items():
            labels, speed = _timed(function, len(texts))
            rows.append(
                {
                    "set": name,
                    "lang": "zh" if "bilibili" in name or " zh " in name else "en",
                    "domain": domain,
                    "method": method,
                    "n": len(texts),
                    "metric": "macro_f1",
                    "value": macro_f1(labels.astype(str), truth),
                    "texts_per_s": speed,
                }
            )
    return rows


def chinese_rows(snownlp_sample: int = 1000) -> list[dict]:
    """Leave-one-domain-out accuracy of the Chinese model beside SnowNLP on the same held-out domain."""
    from train_default_sentiment import fit_model, load_corpora, load_lexicon

    corpus, _ = load_corpora(SHARED)
    lexicon, _ = load_lexicon()
    rows = []
    rng = np.random.default_rng(0)
    for held_out in sorted(corpus["domain"].unique()):
        test = (corpus["domain"] == held_out).to_numpy()
        model = fit_model(corpus[~test], lexicon)  # the shipped settings, without the held-out domain
        texts, truth = corpus.loc[test, "text"].tolist(), corpus.loc[test, "label"].to_numpy() == 1
        positive, speed = _timed(lambda m=model, t=texts: m.decision_function(t) > 0, len(texts))
        rows.append(
            {
                "set": f"{held_out} (left out)",
                "lang": "zh",
                "domain": "review",
                "method": "lsc_utils fold model",
                "n": len(texts),
                "metric": "accuracy",
                "value": float(np.mean(positive == truth)),
                "texts_per_s": speed,
            }
        )
        picked = np.sort(rng.choice(len(texts), size=min(snownlp_sample, len(texts)), replace=False))
        text._warm_up_snownlp()
        theirs, speed = _timed(lambda p=picked, t=texts: text._snownlp_positive([t[i] for i in p]), len(picked))
        rows.append(
            {
                "set": f"{held_out} (left out)",
                "lang": "zh",
                "domain": "review",
                "method": "SnowNLP",
                "n": len(picked),
                "metric": "accuracy",
                "value": float(np.mean(theirs == truth[picked])),
                "texts_per_s": speed,
            }
        )
    return rows


def accuracy_table() -> pd.DataFrame:
    """All rows, rounded (value to 4 decimals, texts/s to integers)."""
    frame = pd.DataFrame(english_rows() + chat_rows() + chinese_rows())
    frame["value"] = frame["value"].round(4)
    frame["texts_per_s"] = frame["texts_per_s"].round(0).astype(int)
    return frame
