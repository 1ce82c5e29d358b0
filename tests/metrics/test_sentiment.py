"""Comment sentiment (VADER) and the feedback.sentiment KPI that averages it."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import SurveyKind
from metrics.calculators import CalculatorError, calculator_for
from metrics.models import Indicator, MetricValue, Scope, Tier, Unit
from metrics.sentiment import comment_sentiment
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory, SurveyResponseFactory

# VADER's own thresholds: positive from 0.05, negative to -0.05, neutral in between.
POSITIVE, NEGATIVE = 0.05, -0.05


# --- comment_sentiment ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_no_text_has_no_sentiment(text):
    assert comment_sentiment(text) is None


@pytest.mark.parametrize("text", [
    "Great support team.",
    "Onboarding was smooth and our CSM is fantastic!",
    "Love the new dashboards, they save us hours every week.",
    "Billing issue resolved quickly, thanks!",
    "Customer success has been outstanding this quarter.",
    "Not bad at all.",
])
def test_praise_is_positive(text):
    assert comment_sentiment(text) >= POSITIVE


@pytest.mark.parametrize("text", [
    "The export has been broken for two weeks and nobody answers our tickets.",
    "Support is terrible, we are seriously considering cancelling.",
    "The new release is buggy and slow. Very frustrating.",
    "Not happy with the response times.",
    "The product is great but support is awful.",
    "horrible, horrible experience",
])
def test_complaints_are_negative(text):
    assert comment_sentiment(text) <= NEGATIVE


@pytest.mark.parametrize("text", [
    "We use it for weekly reporting.",
    "Renewal is handled by procurement.",
    "Pricing went up 20% this year.",
])
def test_factual_comments_are_neutral(text):
    assert NEGATIVE < comment_sentiment(text) < POSITIVE


@pytest.mark.parametrize("text", [
    "Support never answers.",
    "Waiting on support for days.",
    "Our customer success manager left.",
])
def test_naming_the_support_or_success_team_is_not_praise(text):
    # Plain VADER scores each of these about +0.40 (it rates "support" +1.7 and "success" +2.7).
    assert comment_sentiment(text) < POSITIVE


def test_stronger_words_score_further_from_zero():
    assert comment_sentiment("The onboarding was good.") < comment_sentiment("The onboarding was absolutely amazing!!!")
    assert comment_sentiment("The sync is bad.") > comment_sentiment("The sync is a horrible, useless disaster!!!")


def test_score_is_a_float_rounded_to_4_decimals():
    score = comment_sentiment("Great support team.")

    assert isinstance(score, float)
    assert score == round(score, 4)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_scores_within_minus_1_and_1_or_none(text):
    score = comment_sentiment(text)

    if text.strip():
        assert -1 <= score <= 1
    else:
        assert score is None


# --- feedback.sentiment: needs SurveyResponse.sentiment (accounts migration 0002_survey_sentiment) -----------

AS_OF = dt.date(2026, 10, 30)


def _answer(account, day, sentiment, *, kind=SurveyKind.NPS, month=10):
    return SurveyResponseFactory(account=account, kind=kind, score=5, sentiment=sentiment,
                                 comment="" if sentiment is None else "A comment.",
                                 responded_at=dt.datetime(2026, month, day, 12, tzinfo=dt.UTC))


def _sentiment_kpi(params=None):
    return kpi_create(slug="feedback-sentiment", name="Feedback sentiment", calculator="feedback.sentiment",
                      params=params, definition="Test KPI.", tier=Tier.ADVOCACY, indicator=Indicator.LEADING,
                      unit=Unit.SCORE, scopes=[Scope.ACCOUNT, Scope.PORTFOLIO])


def test_feedback_sentiment_is_the_mean_comment_sentiment_x_100():
    mixed, neutral, silent = AccountFactory(), AccountFactory(), AccountFactory()
    _answer(mixed, 3, 0.8)
    _answer(mixed, 4, -0.4, kind=SurveyKind.CSAT)
    _answer(mixed, 5, None)  # no comment: left out
    _answer(neutral, 6, 0.0, kind=SurveyKind.CES)
    _answer(neutral, 30, 0.9, month=9)  # 30 September: before the 30-day window
    _answer(silent, 7, None)
    kpi = _sentiment_kpi({"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    rows = {row.account_id: row for row in MetricValue.objects.filter(kpi=kpi, as_of=AS_OF, scope=Scope.ACCOUNT)}
    assert set(rows) == {mixed.id, neutral.id}
    # mixed: (0.8 - 0.4) / 2 x 100 = 20
    assert rows[mixed.id].value == pytest.approx(20)
    assert (rows[mixed.id].numerator, rows[mixed.id].denominator, rows[mixed.id].sample_size) == (
        pytest.approx(0.4), 2, 2)
    assert rows[mixed.id].details == {"positive": 1, "neutral": 0, "negative": 1}
    # neutral: 0 / 1 x 100 = 0 (a value, not null)
    assert rows[neutral.id].value == 0
    assert rows[neutral.id].details == {"positive": 0, "neutral": 1, "negative": 0}
    # Portfolio: the mean over all 3 comments, (0.8 - 0.4 + 0) / 3 x 100 = 13.33
    portfolio = MetricValue.objects.get(kpi=kpi, as_of=AS_OF, scope=Scope.PORTFOLIO)
    assert portfolio.value == pytest.approx(40 / 3)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (pytest.approx(0.4), 3, 3)


def test_feedback_sentiment_portfolio_is_null_without_scored_comments():
    _answer(AccountFactory(), 3, None)
    kpi = _sentiment_kpi()

    kpi_compute(kpi=kpi, as_of=AS_OF)

    assert MetricValue.objects.get(kpi=kpi, as_of=AS_OF, scope=Scope.PORTFOLIO).value is None


@pytest.mark.parametrize(("params", "message"), [
    ({"window_days": 0}, "at least 1"),
    ({"window_days": 1000}, "at most 730"),
    ({"kind": "nps"}, "Unknown parameter"),
])
def test_feedback_sentiment_refuses_bad_parameters(params, message):
    with pytest.raises(CalculatorError, match=message):
        calculator_for("feedback.sentiment").clean_params(params)
