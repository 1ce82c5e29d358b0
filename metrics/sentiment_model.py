"""The comment scorer: VADER read with customer-success rules, and a small linear model on top of it, trained
at first use on labelled review sentences and tweets that the vaderSentiment package ships (metrics/sentiment_data/).

Why both: VADER knows words (and negation, "but", capitals, "!"), but not the domain: "Felt like nobody read
my ticket." scores +0.36 because "like" is praise to it. The rules turn phrases VADER misreads into what they
mean here; the model learns from 6,326 human-rated sentences how words, their fragments and VADER's reading
combine, and is checked on 1,582 it never saw (docs/sentiment.md has the figures). Scoring is pure Python over
the learned weights: well under a millisecond a comment, on one CPU, offline.
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

DATA = Path(__file__).parent / "sentiment_data"
TRAINING_SET = DATA / "amazonReviewSnippets_GroundTruth.tsv.gz"
TWEETS = DATA / "tweets_GroundTruth.tsv.gz"
# The human ratings run from -4 to 4 (the mean of 20 raters); beyond half a point either way a sentence is
# positive or negative, in between neutral.
LABEL_BAND = 0.5
# One sentence in five of each set is held out (the same ones every time) to measure the model on text it never
# saw.
HELD_OUT_EVERY = 5
# The product's bands: positive from this score, negative to its opposite, neutral in between.
BAND = 0.05
# A comment in which VADER (with the domain's rules) finds no sentiment word at all is neutral unless the model
# is surer than this: "We use it for weekly reporting." is a fact, whatever words reviews tend to praise with.
NO_SENTIMENT_WORD_GATE = 0.2

# VADER rates these words as praise (support +1.7, success +2.7, care +2.2), but in customer-success feedback
# they name a team ("support never answers", "our customer success manager left"): neutral here.
DOMAIN_NEUTRAL_WORDS = ("support", "success", "care")
# Words VADER does not know that customers use for what went wrong (VADER's -4 to 4 scale).
DOMAIN_WORDS = {"buggy": -1.8, "outage": -1.6, "outages": -1.6, "downtime": -1.3, "unresponsive": -1.6,
                "laggy": -1.3, "unanswered": -1.5, "slow": -1.0, "slower": -1.0, "sluggish": -1.3}
_VERB = r"(?:read|reads|answered|answers|answer|replied|replies|reply|responded|responds|respond|called|calls|" \
        r"helped|helps|help|got back|gets back|followed up|follows up|cared|cares|listened|listens|looked at|" \
        r"picked up|bothered|checked)"
DOMAIN_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # "felt like", "seems like": a comparison, not a liking.
    (re.compile(r"\b(feel|feels|felt|feeling|seem|seems|seemed|look|looks|looked|sound|sounds|sounded)\s+like\b",
                re.IGNORECASE), r"\1 as if"),
    # Being ignored: nobody answered, still waiting, never heard back.
    (re.compile(rf"\b(?:nobody|no one|no-one|noone)\s+(?:\w+\s+)?{_VERB}\b", re.IGNORECASE), "ignored"),
    (re.compile(r"\b(?:still waiting|never heard back|no (?:response|reply|answer|follow[- ]up)|left on read)\b",
                re.IGNORECASE), "ignored"),
)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# Word fragments of these lengths (with the word's edges): they read "sooo good", "#fail", ":(" and misspellings
# that whole words miss.
FRAGMENT_LENGTHS = range(2, 6)


def domain_text(text: str) -> str:
    """The text with the phrases VADER misreads in customer feedback rewritten to what they mean."""
    for pattern, replacement in DOMAIN_RULES:
        text = pattern.sub(replacement, text)
    return text


@cache
def analyzer() -> SentimentIntensityAnalyzer:
    """VADER with the domain's lexicon; loading it takes about 10 ms, once per process."""
    vader = SentimentIntensityAnalyzer()
    for word in DOMAIN_NEUTRAL_WORDS:
        vader.lexicon.pop(word, None)
    vader.lexicon.update(DOMAIN_WORDS)
    return vader


def vader_domain(text: str) -> dict[str, float]:
    """VADER's scores (compound, pos, neg, neu) of the text read with the domain's rules."""
    return analyzer().polarity_scores(domain_text(text))


def grams(text: str) -> list[str]:
    """Lower-case words of two letters or more, and each pair of neighbours: the model's vocabulary."""
    words = _TOKEN.findall(text.lower())
    return words + [f"{first} {second}" for first, second in pairwise(words)]


def fragments(text: str) -> list[str]:
    """Each lower-case word (split on white space, punctuation kept) framed by spaces, cut into the pieces of
    FRAGMENT_LENGTHS characters: what scikit-learn's `char_wb` analyzer reads."""
    pieces = []
    for word in text.lower().split():
        framed = f" {word} "
        for size in FRAGMENT_LENGTHS:
            pieces.extend(framed[start:start + size] for start in range(len(framed) - size + 1))
    return pieces


ANALYZERS = (grams, fragments)


def _vader_features(scores: dict[str, float]) -> list[float]:
    """VADER's reading, and which band it puts the text in (so the model can keep VADER's call where it is
    right)."""
    compound = scores["compound"]
    return [2 * compound, 2 * scores["pos"], 2 * scores["neg"], float(compound >= BAND), float(compound <= -BAND)]


def labelled_sentences(path: Path = TRAINING_SET) -> list[tuple[str, float]]:
    """(sentence, mean human rating from -4 to 4) as shipped in VADER's ground-truth files."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [(text, float(rating)) for _, rating, text in (line.rstrip("\n").split("\t", 2) for line in lines)]


def label(rating: float) -> int:
    """-1, 0 or 1: the human rating as negative, neutral or positive."""
    return 1 if rating >= LABEL_BAND else -1 if rating <= -LABEL_BAND else 0


def split(sentences: list[tuple[str, float]]) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(training, held out): every HELD_OUT_EVERY-th sentence is held out."""
    training = [row for index, row in enumerate(sentences) if index % HELD_OUT_EVERY]
    held_out = [row for index, row in enumerate(sentences) if not index % HELD_OUT_EVERY]
    return training, held_out


@dataclass(frozen=True)
class Block:
    """One TF-IDF block of the model's features (words and word pairs, or word fragments): idf per term, and a
    weight per class (negative, neutral, positive) per term. Each block is L2-normalised on its own."""

    analyzer: Callable[[str], list[str]]
    idf: dict[str, float]
    weights: dict[str, tuple[float, float, float]]

    def add(self, text: str, logits: list[float]) -> None:
        counts = Counter(term for term in self.analyzer(text) if term in self.idf)
        tfidf = {term: (1 + math.log(count)) * self.idf[term] for term, count in counts.items()}
        norm = math.sqrt(sum(value * value for value in tfidf.values())) or 1.0
        for term, value in tfidf.items():
            for k, weight in enumerate(self.weights[term]):
                logits[k] += weight * value / norm


@dataclass(frozen=True)
class LinearScorer:
    """Multinomial logistic regression over TF-IDF blocks (words and word pairs, word fragments) plus VADER's
    reading, as plain weights: the blocks, a weight row per class for the VADER features, and the intercepts."""

    blocks: tuple[Block, ...]
    vader_weights: tuple[tuple[float, float, float], ...]
    intercepts: tuple[float, float, float]

    def probabilities(self, text: str, vader: dict[str, float] | None = None) -> tuple[float, float, float]:
        """P(negative), P(neutral), P(positive) of the text; `vader` is its domain reading when already known."""
        logits = list(self.intercepts)
        for block in self.blocks:
            block.add(text, logits)
        for feature, row in zip(_vader_features(vader or vader_domain(text)), self.vader_weights, strict=True):
            for k, weight in enumerate(row):
                logits[k] += weight * feature
        top = max(logits)
        exps = [math.exp(logit - top) for logit in logits]
        total = sum(exps)
        return exps[0] / total, exps[1] / total, exps[2] / total

    def score(self, text: str) -> float:
        """P(positive) - P(negative), from -1 to 1, in the band of the most likely class: at least BAND when
        positive is likeliest, at most -BAND when negative is, strictly inside the neutral band otherwise. A
        text with no sentiment word is neutral (0) unless the model is surer than NO_SENTIMENT_WORD_GATE."""
        vader = vader_domain(text)
        negative, neutral, positive = self.probabilities(text, vader)
        polarity = positive - negative
        if vader["pos"] == 0 and vader["neg"] == 0 and abs(polarity) < NO_SENTIMENT_WORD_GATE:
            return 0.0
        if positive > max(neutral, negative):
            return max(polarity, BAND)
        if negative > max(neutral, positive):
            return min(polarity, -BAND)
        return max(-NEUTRAL_EDGE, min(polarity, NEUTRAL_EDGE))


# The furthest from zero a neutral score goes: inside the band, after rounding to 4 decimals.
NEUTRAL_EDGE = BAND - 0.0001


def train(sentences: list[tuple[str, float]], *, strength: float = 1.0) -> LinearScorer:
    """Fit the model with scikit-learn and keep only its weights."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [text for text, _ in sentences]
    labels = np.array([label(rating) for _, rating in sentences])
    vectorizers = [TfidfVectorizer(analyzer=analyzer, min_df=2 if analyzer is grams else 3, sublinear_tf=True)
                   for analyzer in ANALYZERS]
    matrices = [vectorizer.fit_transform(texts) for vectorizer in vectorizers]
    vader = csr_matrix(np.array([_vader_features(vader_domain(text)) for text in texts]))
    model = LogisticRegression(C=strength, solver="saga", tol=1e-2, max_iter=1000, random_state=0)
    model.fit(hstack([*matrices, vader]).tocsr(), labels)
    order = [list(model.classes_).index(k) for k in (-1, 0, 1)]
    coefficients = model.coef_[order]
    blocks, offset = [], 0
    for analyzer, vectorizer in zip(ANALYZERS, vectorizers, strict=True):
        vocabulary = vectorizer.vocabulary_
        blocks.append(Block(
            analyzer=analyzer, idf={term: float(vectorizer.idf_[column]) for term, column in vocabulary.items()},
            weights={term: tuple(float(w) for w in coefficients[:, offset + column])
                     for term, column in vocabulary.items()}))
        offset += len(vocabulary)
    return LinearScorer(
        blocks=tuple(blocks),
        vader_weights=tuple(tuple(float(w) for w in coefficients[:, offset + j])
                            for j in range(len(_vader_features({"compound": 0, "pos": 0, "neg": 0})))),
        intercepts=tuple(float(b) for b in model.intercept_[order]),
    )


def training_and_held_out() -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, float]]]]:
    """The training sentences (four in five of the review sentences and of the tweets) and each set's held-out
    fifth, by name."""
    training, held_out = [], {}
    for name, path in (("reviews", TRAINING_SET), ("tweets", TWEETS)):
        learn, check = split(labelled_sentences(path))
        training += learn
        held_out[name] = check
    return training, held_out


@cache
def scorer() -> LinearScorer:
    """The product's model: trained once per process on the training part of the shipped sentences."""
    training, _ = training_and_held_out()
    return train(training)
