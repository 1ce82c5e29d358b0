"""The comment scorer measured on labelled sentences the vaderSentiment package ships (docs/sentiment.md): it
beats plain VADER on review sentences it never saw, stays near it on tweets, reads customer feedback as a
person would, and costs well under 5 ms a comment. Storing a score, the survey's answer corrects an obvious
contradiction."""

from __future__ import annotations

import time

import pytest
from sklearn.metrics import f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from accounts.models import SurveyResponse
from metrics.sentiment import comment_sentiment, survey_sentiment_refresh
from metrics.sentiment_model import label, scorer, training_and_held_out
from tests.accounts.factories import SurveyResponseFactory


def _band(score: float) -> int:
    return 1 if score >= 0.05 else -1 if score <= -0.05 else 0


def _figures(sentences, score) -> tuple[float, float]:
    truth = [label(rating) for _, rating in sentences]
    predicted = [_band(score(text)) for text, _ in sentences]
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    return accuracy, f1_score(truth, predicted, average="macro")


@pytest.fixture(scope="module")
def vader():
    plain = SentimentIntensityAnalyzer()
    return lambda text: plain.polarity_scores(text)["compound"]


@pytest.fixture(scope="module")
def held_out():
    return training_and_held_out()[1]


def test_beats_vader_on_review_sentences_it_never_saw(vader, held_out):
    """3,708 Amazon review sentences rated by 20 people each (Hutto and Gilbert 2014); the model trains on four
    in five (with four tweets in five), and is measured on the fifth. Figures published in docs/sentiment.md."""
    assert len(held_out["reviews"]) == 742
    ours, theirs = _figures(held_out["reviews"], scorer().score), _figures(held_out["reviews"], vader)
    assert round(theirs[0], 3) == 0.613 and round(theirs[1], 3) == 0.575
    assert ours[0] >= theirs[0] + 0.07 and ours[1] >= theirs[1] + 0.05, (ours, theirs)


def test_beats_vader_on_tweets_it_never_saw(vader, held_out):
    """4,200 tweets, VADER's home ground (it was built for them): measured on the fifth the model never saw."""
    assert len(held_out["tweets"]) == 840
    ours, theirs = _figures(held_out["tweets"], scorer().score), _figures(held_out["tweets"], vader)
    assert round(theirs[0], 3) == 0.811 and round(theirs[1], 3) == 0.682
    assert ours[0] >= theirs[0] + 0.01 and ours[1] >= theirs[1] + 0.04, (ours, theirs)


def test_scores_a_comment_in_well_under_five_milliseconds(held_out):
    texts = [text for rows in held_out.values() for text, _ in rows]
    model = scorer()
    started = time.perf_counter()
    for text in texts:
        model.score(text)
    per_comment_ms = (time.perf_counter() - started) / len(texts) * 1000
    assert per_comment_ms < 5, per_comment_ms


def test_a_very_long_comment_costs_what_its_opening_costs():
    comment_sentiment("warm-up")
    started = time.perf_counter()
    assert comment_sentiment("The export is broken and nobody answers. " * 2000) <= -0.05
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("text", [
    "Felt like nobody read my ticket.",
    "Seems like no one ever answers our emails.",
    "Still waiting on a reply about the invoice.",
    "The dashboard is buggy and slow.",
    "Another outage this week.",
])
def test_customer_feedback_reads_as_a_person_would(text):
    assert comment_sentiment(text) <= -0.05


def test_the_words_in_a_comparison_are_not_praise():
    assert comment_sentiment("It looks like the report runs every Monday.") == 0.0


@pytest.mark.parametrize(("kind", "score", "comment", "expected"), [
    ("csat", 1, "Great, thanks a lot!", "not positive"),
    ("csat", 2, "Great, thanks a lot!", "not positive"),
    ("nps", 10, "Support is slow and the export is broken.", "not negative"),
    ("csat", 5, "Support is slow and the export is broken.", "not negative"),
    ("csat", 3, "Great, thanks a lot!", "positive"),
    ("nps", 7, "Support is slow and the export is broken.", "negative"),
    ("nps", 9, "Support is slow and the export is broken.", "negative"),
])
def test_the_answer_corrects_an_obvious_contradiction(kind, score, comment, expected):
    response = SurveyResponseFactory(kind=kind, score=score, comment=comment)
    survey_sentiment_refresh(response_ids=[response.pk])
    stored = SurveyResponse.objects.get(pk=response.pk).sentiment
    assert {"not positive": stored <= 0, "not negative": stored >= 0, "positive": stored >= 0.05,
            "negative": stored <= -0.05}[expected], stored


def test_an_empty_comment_stays_unscored_at_any_answer():
    response = SurveyResponseFactory(kind="csat", score=1, comment="  ")
    survey_sentiment_refresh(response_ids=[response.pk])
    assert SurveyResponse.objects.get(pk=response.pk).sentiment is None
