"""Scoring survey comments in bulk: only what is not scored yet, idempotent, in batches."""

import pytest

from accounts.models import SurveyResponse
from metrics import sentiment
from metrics.sentiment import survey_sentiment_refresh
from tests.accounts.factories import SurveyResponseFactory


@pytest.fixture
def answers():
    return {
        "happy": SurveyResponseFactory(comment="We love the new dashboards, great product!"),
        "angry": SurveyResponseFactory(comment="Terrible onboarding, we are very frustrated."),
        "blank": SurveyResponseFactory(comment="   "),
        "scored": SurveyResponseFactory(comment="Fine.", sentiment=0.5),
    }


def _score(answer) -> float | None:
    return SurveyResponse.objects.get(pk=answer.pk).sentiment


def test_scores_only_unscored_non_blank_comments(answers):
    assert survey_sentiment_refresh() == 2

    assert _score(answers["happy"]) > 0.5
    assert _score(answers["angry"]) < -0.5
    assert _score(answers["blank"]) is None
    assert _score(answers["scored"]) == 0.5
    assert survey_sentiment_refresh() == 0


def test_given_ids_are_rescored_and_blank_ones_cleared(answers):
    written = survey_sentiment_refresh(response_ids=[answers["scored"].pk, answers["blank"].pk, 999_999])

    assert written == 2
    assert _score(answers["scored"]) != 0.5
    assert _score(answers["blank"]) is None
    assert survey_sentiment_refresh(response_ids=[]) == 0


def test_batching_gives_the_same_scores(answers, monkeypatch):
    monkeypatch.setattr(sentiment, "BATCH_SIZE", 1)

    assert survey_sentiment_refresh() == 2
    assert _score(answers["happy"]) > 0.5
