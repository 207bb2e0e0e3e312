"""Issue #19: domain detection, emote and stretching handling, review domain = vaderSentiment,
the Chinese model's manifest, and leave-one-domain-out validation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils import text
from lsc_utils.text._common import DEFAULT_MODEL_MANIFEST

REVIEWS = [
    "I bought this for my daughter and she loves it.",
    "The sound quality is poor and it stopped working after a week.",
    "Great value for the price, would recommend to anyone.",
    "Not what I expected. The colour is different from the picture.",
]
TWITCH = ["PogChamp", "KEKW", "W stream", "L", "sooooo good", "ResidentSleeper", "ez", "Kappa", "LETS GOOO"]


def test_chat_like_rule_per_text() -> None:
    flags = text.chat_like(
        ["PogChamp", "noooo way", "this is great", "This is a great product.", "", "好评！", "主播好美"]
    )
    # emote; stretched letters; short line without final punctuation; a sentence; empty; a
    # sentence in Chinese; a short Chinese line
    assert flags.tolist() == [True, True, True, False, False, False, True]


def test_detect_domain_per_input() -> None:
    assert text.detect_domain(REVIEWS) == "review"
    assert text.detect_domain(TWITCH) == "chat"
    assert text.detect_domain(REVIEWS * 2 + ["PogChamp"]) == "review"  # 1 chat-like text of 9 < 1/3
    assert text.detect_domain(["", "  "]) == "review"
    assert text.chat_like_share(REVIEWS + TWITCH[:2]) == pytest.approx(2 / 6)


def test_every_chat_marker_emote_is_in_the_lexicon() -> None:
    terms = set(text.load_live_chat_lexicon()["term"])
    assert set(text.CHAT_EMOTES) <= terms


def test_emotes_slang_and_stretching_in_chat_domain() -> None:
    scored = text.score_texts(TWITCH, lang="en", domain="chat").set_index(pd.Index(TWITCH))
    assert scored.loc[["PogChamp", "KEKW", "W stream", "sooooo good", "ez", "LETS GOOO"], "label"].eq("positive").all()
    assert scored.loc[["L", "ResidentSleeper"], "label"].eq("negative").all()
    assert scored.loc["Kappa", "label"] == "neutral"
    stretched, plain = text.score_texts(["sooooo good", "so good"], lang="en", domain="chat")["score"]
    assert stretched == pytest.approx(plain)
    assert text.score_texts(["NotLikeThis BibleThump"], domain="chat")["label"].iloc[0] == "negative"


def test_review_domain_is_plain_vadersentiment() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    texts = [*REVIEWS, "Not bad at all!!", "The food was NOT good :(", "kind of ok I guess"]
    expected = [analyzer.polarity_scores(t)["compound"] for t in texts]
    np.testing.assert_allclose(text.score_texts(texts, lang="en", domain="review")["score"], expected)
    np.testing.assert_allclose(text.score_texts(texts, lang="en", domain="auto")["score"], expected)
    np.testing.assert_allclose(text.vadersentiment_compound(pd.Series(texts)), expected)


def test_review_domain_labels_chinese_by_sign_only() -> None:
    scored = text.score_texts(["质量很好，物流也快", "太差了，不会再买", ""], lang="zh", domain="review")
    assert scored["label"].tolist() == ["positive", "negative", "neutral"]
    assert text.ZH_REVIEW_NEUTRAL_HALF_WIDTH == 0.0


def test_bad_domain_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="'domain' parameter of score_texts must be one of 'auto', 'review', 'chat'"):
        text.score_texts(["x"], domain="tweets")


def test_shipped_model_matches_its_manifest() -> None:
    path = text.default_model_path()
    manifest = json.loads(path.with_name(DEFAULT_MODEL_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["model_file"] == path.name
    assert manifest["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size < 4_000_000
    assert {s["domain"] for s in manifest["sources"]} == {"products", "hotel", "takeaway"}
    for source in manifest["sources"]:
        assert source["licence"] and source["rows_used"] == source["positive"] + source["negative"]
        assert all(len(f["sha256"]) == 64 for f in source["files"])
    folds = {f["held_out"]: f for f in manifest["leave_one_domain_out"]}
    assert set(folds) == {"products", "hotel", "takeaway"} and min(f["accuracy"] for f in folds.values()) > 0.7
    assert len(text.load_default_sentiment_model().vocabulary_) == manifest["n_features"]


@pytest.mark.realdata
def test_manifest_hashes_match_the_input_files(shared_data: Path) -> None:
    manifest = json.loads(text.default_model_path().with_name(DEFAULT_MODEL_MANIFEST).read_text(encoding="utf-8"))
    for source in manifest["sources"]:
        for entry in source["files"]:
            if ":" in entry["file"]:
                from importlib import resources

                package, relative = entry["file"].split(":", 1)
                raw = resources.files(package).joinpath(relative).read_bytes()
            else:
                raw = (shared_data / entry["file"]).read_bytes()
            assert hashlib.sha256(raw).hexdigest() == entry["sha256"], entry["file"]


def test_leave_one_domain_out_on_a_fixed_slice() -> None:
    texts = ["很好", "不错", "很满意", "太差了", "很糟糕", "不好"] * 3
    texts = [
        f"{t}{suffix}"
        for t, suffix in zip(texts, "酒店房间服务外卖味道送餐商品质量物流书本手机屏幕电池快递", strict=False)
    ]
    labels = [1, 1, 1, 0, 0, 0] * 3
    domains = ["hotel"] * 6 + ["takeaway"] * 6 + ["products"] * 6
    first = text.leave_one_domain_out(texts, labels, domains, min_df=1)
    second = text.leave_one_domain_out(texts, labels, domains, min_df=1)
    pd.testing.assert_frame_equal(first, second)
    assert first["held_out"].tolist() == ["hotel", "products", "takeaway"]
    assert first["n_train"].tolist() == [12, 12, 12] and first["n_test"].tolist() == [6, 6, 6]
    assert first["accuracy"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least two distinct values"):
        text.leave_one_domain_out(texts, labels, ["one"] * len(texts))


@pytest.mark.realdata
def test_leave_one_domain_out_reproduced_on_a_real_slice(shared_data: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from train_default_sentiment import PARAMS, load_corpora

    corpus, _ = load_corpora(shared_data)
    picked = pd.concat(
        [corpus[corpus["domain"] == d].sample(400, random_state=42) for d in sorted(set(corpus["domain"]))]
    )
    folds = text.leave_one_domain_out(picked["text"], picked["label"], picked["domain"], **PARAMS)
    print(folds.to_string())
    expected = {"hotel": 0.7975, "products": 0.6725, "takeaway": 0.7475}  # recorded once; must not drift
    assert folds.set_index("held_out")["accuracy"].round(4).to_dict() == expected
