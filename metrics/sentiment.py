"""The sentiment of survey comments: VADER's compound score (-1 to 1) for a text, and its bulk refresh into
`accounts_surveyresponse.sentiment`, which the feedback.sentiment KPI reads."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.db import connection, transaction
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

BATCH_SIZE = 1000

# VADER rates these words as praise (support +1.7, success +2.7, care +2.2), but in customer-success feedback
# they name a team ("support never answers", "our customer success manager left"): neutral here.
DOMAIN_NEUTRAL_WORDS = ("support", "success", "care")


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicons takes about 10 ms: once per process, not once per comment.
    analyzer = SentimentIntensityAnalyzer()
    for word in DOMAIN_NEUTRAL_WORDS:
        analyzer.lexicon.pop(word, None)
    return analyzer


def comment_sentiment(text: str | None) -> float | None:
    """VADER's compound score of an English text, from -1 (most negative) to 1 (most positive); between -0.05
    and 0.05 for neutral text (VADER's own thresholds); None when there is no text to score."""
    if text is None or not text.strip():
        return None
    return float(_analyzer().polarity_scores(text)["compound"])


def survey_sentiment_refresh(*, response_ids: Iterable[int] | None = None) -> int:
    """Score survey comments and store the scores, in batches of BATCH_SIZE, each in its own transaction.

    With `response_ids`, those responses are (re)scored, an empty comment storing null; without, every
    response with a non-blank comment and no score yet is scored. Returns the number of responses written.
    """
    ids = None if response_ids is None else sorted(set(response_ids))
    written, after = 0, 0
    while True:
        with connection.cursor() as cursor:
            if ids is None:
                cursor.execute(
                    r"SELECT id, comment FROM accounts_surveyresponse WHERE sentiment IS NULL AND comment ~ '\S' "
                    "AND id > %s ORDER BY id LIMIT %s", [after, BATCH_SIZE])
            else:
                cursor.execute(
                    "SELECT id, comment FROM accounts_surveyresponse WHERE id = ANY(%s::bigint[]) AND id > %s "
                    "ORDER BY id LIMIT %s", [ids, after, BATCH_SIZE])
            batch = cursor.fetchall()
        if not batch:
            return written
        written += _sentiment_store([(response_id, comment_sentiment(comment)) for response_id, comment in batch])
        after = batch[-1][0]


@transaction.atomic
def _sentiment_store(scores: list[tuple[int, float | None]]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE accounts_surveyresponse s SET sentiment = scored.sentiment
            FROM unnest(%s::bigint[], %s::float8[]) AS scored(id, sentiment)
            WHERE s.id = scored.id
            """,
            [[response_id for response_id, _ in scores], [score for _, score in scores]],
        )
        return cursor.rowcount
