"""Throughput of lsc_utils.text on short bullet-screen comments, against NLTK VADER and SnowNLP.

Comments are generated deterministically (seed 42): English live-chat lines of 1-6 tokens drawn
from VADER's lexicon, common words, the live-chat slang and emoji; Chinese lines of 1-4 words drawn
from jieba's dictionary (about 8 characters, like Bilibili danmaku). "distinct" runs score texts
that are all different (worst case); "zipf" runs draw them from a Zipf(1.3) distribution over the
same pool, the way bullet screens repeat ("666", "哈哈哈"), which the scorers exploit by scoring each
distinct text once. Wall and CPU seconds are both reported because the benchmark machine is shared.

With ``--accuracy`` it also measures, in the same run, accuracy (or Pearson r / macro-F1) and
texts/s per language and domain against vaderSentiment and SnowNLP on the labelled real data of
``$LSC_SHARED_DATA`` (default ``../shared/data``): the English review sets (Pearson r with the star
rating or 0/1 label, binary accuracy), the Chinese review corpora by leave-one-domain-out (each fold's
model never saw the domain it is tested on), and 3-class macro-F1 on the hand-labelled chat of
``tests/fixtures/sentiment``.

Usage::

    python benchmarks/bench_text.py [--events N] [--baseline-sample M] [--accuracy]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils import text
from lsc_utils.constants import SEED

COMMON_WORDS = (
    "the this that is it so very really just what when stream chat bro guys lets go you we they "
    "price link buy cart sale order ship size color now today again first"
).split()
EMOJI = ["😂", "😍", "🔥", "👍", "😭", "💀", "❤", "🙏", "😡", "🤣", "👀", "💯"]


def english_pool(n: int, rng: np.random.Generator) -> list[str]:
    """Distinct short English chat lines."""
    lexicon = list(text.nltk_vader().lexicon)[:3000]
    slang = [t for t in text.load_live_chat_lexicon()["term"] if t.isascii()]
    vocabulary = np.array(COMMON_WORDS * 20 + lexicon + slang * 5 + EMOJI * 10, dtype=object)
    lengths = rng.integers(1, 7, size=n * 2)
    words = rng.choice(vocabulary, size=int(lengths.sum()))
    lines = [" ".join(chunk) for chunk in np.split(words, np.cumsum(lengths)[:-1])]
    shout = rng.random(len(lines)) < 0.1
    lines = [f"{line.upper()}!!" if s else line for line, s in zip(lines, shout, strict=True)]
    return list(dict.fromkeys(lines))[:n]


def chinese_pool(n: int, rng: np.random.Generator) -> list[str]:
    """Distinct short Chinese lines built from the 20,000 most frequent words of jieba's dictionary."""
    rows = resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8").splitlines()
    entries = sorted((r.split(" ") for r in rows), key=lambda p: -int(p[1]))[:20000]
    vocabulary = np.array([e[0] for e in entries], dtype=object)
    lengths = rng.integers(1, 5, size=n * 2)
    words = rng.choice(vocabulary, size=int(lengths.sum()))
    lines = ["".join(chunk) for chunk in np.split(words, np.cumsum(lengths)[:-1])]
    return list(dict.fromkeys(lines))[:n]


def zipf_draw(pool: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n texts drawn from the pool with Zipf(1.3) repetition."""
    ranks = np.minimum(rng.zipf(1.3, size=n), len(pool)) - 1
    return [pool[i] for i in ranks]


def timed(function: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="comments per run (default 200,000)")
    parser.add_argument("--baseline-sample", type=int, default=2_000, help="texts for NLTK VADER / SnowNLP")
    parser.add_argument("--accuracy", action="store_true", help="also the accuracy table on labelled real data")
    args = parser.parse_args()
    if args.accuracy:
        from bench_text_accuracy import accuracy_table

        print(accuracy_table().to_string(index=False))
        print()
    rng = np.random.default_rng(SEED)
    english = english_pool(args.events, rng)
    chinese = chinese_pool(args.events, rng)
    mixed = [e if i % 2 else c for i, (e, c) in enumerate(zip(english, chinese, strict=False))]
    text.score_texts(["warm up", "预热", "😂"])
    text.mask_pii(["warm up 13812345678"])

    runs: list[tuple[str, int, Callable[[], Any]]] = [
        ("score_texts en, distinct", len(english), lambda: text.score_texts(english)),
        ("score_texts en, zipf repeats", args.events, lambda: text.score_texts(zipf_draw(english, args.events, rng))),
        ("score_texts zh, distinct", len(chinese), lambda: text.score_texts(chinese)),
        ("score_texts zh, zipf repeats", args.events, lambda: text.score_texts(zipf_draw(chinese, args.events, rng))),
        ("score_texts zh+en alternating, distinct", len(mixed), lambda: text.score_texts(mixed)),
        (
            "score_texts zh, domain review, distinct",
            len(chinese),
            lambda: text.score_texts(chinese, lang="zh", domain="review"),
        ),
        ("VaderScorer plain (= NLTK), distinct", len(english), lambda: text.VaderScorer(False).compound(english)),
        ("detect_language, distinct", len(mixed), lambda: text.detect_language(mixed)),
        ("is_question, distinct", len(mixed), lambda: text.is_question(mixed)),
        ("mask_pii, distinct", len(mixed), lambda: text.mask_pii(mixed)),
    ]
    sample = args.baseline_sample
    runs.append(
        (
            "score_texts en, domain review (= vaderSentiment)",
            sample,
            lambda: text.score_texts(english[:sample], lang="en", domain="review"),
        )
    )
    analyzer = text.nltk_vader()
    runs.append(
        (
            "baseline: NLTK VADER polarity_scores loop",
            sample,
            lambda: [analyzer.polarity_scores(t)["compound"] for t in english[:sample]],
        )
    )
    text._warm_up_snownlp()
    snownlp_sample = max(sample // 10, 1)
    runs.append(
        (
            "baseline: SnowNLP(text).sentiments loop",
            snownlp_sample,
            lambda: text._snownlp_positive(chinese[:snownlp_sample]),
        )
    )
    rows = []
    for name, n, function in runs:
        wall, cpu = timed(function)
        rows.append((name, n, wall, cpu, n / wall, n / max(cpu, 1e-9)))
        print(f"  {name}: {n / wall:,.0f} texts/s", flush=True)
    table = pd.DataFrame(rows, columns=["task", "texts", "wall_s", "cpu_s", "texts_per_s", "texts_per_cpu_s"])
    print()
    print(f"## text (lsc_utils.text), {args.events:,} short comments per run")
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}" if v < 100 else f"{v:,.0f}"))


if __name__ == "__main__":
    main()
