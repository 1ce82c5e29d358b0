"""The sentiment of survey comments: a score from -1 to 1 for a text (metrics.sentiment_model: VADER read with
customer-success rules and a small linear model), and its bulk refresh into `accounts_surveyresponse.sentiment`,
which the feedback.sentiment KPI reads. Storing it, the survey's own answer corrects an obvious contradiction:
a comment on a 1-of-5 CSAT is not positive, and one on a 10-of-10 NPS is not negative.

Scoring is bounded, since it runs in the workers every tenant shares: VADER's cost grows with the square of a
text's length (about 5 ms for 1,000 characters, 280 ms for 10,000), so only a comment's first
SCORED_CHARACTERS are scored (the whole comment is stored); and a batch's follow-up scores the answers that
batch created, claimed CLAIM_SIZE at a time with row locks that concurrent scorers skip, so no two workers
ever score the same comment.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from accounts.models import SURVEY_SCALES
from metrics.sentiment_model import scorer

BATCH_SIZE = 1000
# The part of a comment that is scored: the opening of a comment carries its tone, and the cost stays bounded.
SCORED_CHARACTERS = 1000
# Comments claimed and scored in one transaction (a few seconds of work at most); a follow-up scores its first
# claim at once and leaves the rest to tasks that queue behind other tenants' work.
CLAIM_SIZE = 500
# Only the scored opening of a comment (leading blanks aside) leaves the database.
_SCORED_TEXT = r"left(ltrim(comment, E' \t\r\n'), %s)"

# The answer decides the comment's direction when it sits at an end of its scale (as a fraction from the scale's
# lowest answer to its highest): at or below BOTTOM (CSAT 1-2, NPS 0-2, CES 1-2) the comment is not positive; at
# TOP, the highest answer only (CSAT 5, NPS 10, CES 7), not negative: a 9 of 10 may still come with a complaint.
BOTTOM, TOP = 0.25, 1.0


def comment_sentiment(text: str | None) -> float | None:
    """The sentiment of the comment's first SCORED_CHARACTERS, from -1 (most negative) to 1 (most positive);
    between -0.05 and 0.05 it is neutral (the thresholds VADER uses for its compound score); None when there is
    no text to score."""
    text = (text or "").strip()
    if not text:
        return None
    return round(scorer().score(text[:SCORED_CHARACTERS]), 4)


def survey_comments_score(*, response_ids: Iterable[int] | None = None, limit: int | None = None) -> int:
    """Claim up to `limit` (default CLAIM_SIZE) unscored, non-blank comments (among `response_ids`, or any) and
    score them, in one transaction. Comments another scorer holds are skipped and those it scored are no longer
    unscored, so concurrent scorers never repeat each other's work. Returns how many were scored: fewer than
    `limit` means none is left unclaimed."""
    ids = None if response_ids is None else sorted(set(response_ids))
    if ids == []:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            rf"""
            SELECT id, {_SCORED_TEXT} FROM accounts_surveyresponse
            WHERE sentiment IS NULL AND comment ~ '\S' {"" if ids is None else "AND id = ANY(%s::bigint[])"}
            ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            [SCORED_CHARACTERS, *([] if ids is None else [ids]), limit or CLAIM_SIZE])
        claimed = cursor.fetchall()
        if claimed:
            _sentiment_store([(response_id, comment_sentiment(comment)) for response_id, comment in claimed])
    return len(claimed)


def survey_sentiment_refresh(*, response_ids: Iterable[int] | None = None) -> int:
    """Score survey comments and store the scores, in batches of BATCH_SIZE, each in its own transaction.

    With `response_ids`, those responses are (re)scored, an empty comment storing null; without, every
    response with a non-blank comment and no score yet is scored. Returns the number of responses written.
    """
    if response_ids is None:
        written, scored = 0, BATCH_SIZE
        while scored == BATCH_SIZE:
            scored = survey_comments_score(limit=BATCH_SIZE)
            written += scored
        return written
    ids = sorted(set(response_ids))
    written, after = 0, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {_SCORED_TEXT} FROM accounts_surveyresponse WHERE id = ANY(%s::bigint[]) AND id > %s "
                "ORDER BY id LIMIT %s", [SCORED_CHARACTERS, ids, after, BATCH_SIZE])
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
            WITH scales(kind, lowest, highest) AS (SELECT * FROM unnest(%s::text[], %s::float8[], %s::float8[]))
            UPDATE accounts_surveyresponse s
            SET sentiment = CASE
                WHEN scored.sentiment IS NULL THEN NULL
                WHEN (s.score - scales.lowest) / (scales.highest - scales.lowest) <= %s THEN least(scored.sentiment, 0)
                WHEN (s.score - scales.lowest) / (scales.highest - scales.lowest) >= %s
                    THEN greatest(scored.sentiment, 0)
                ELSE scored.sentiment END
            FROM unnest(%s::bigint[], %s::float8[]) AS scored(id, sentiment), scales
            WHERE s.id = scored.id AND scales.kind = s.kind
            """,
            [[str(kind) for kind in SURVEY_SCALES], [low for low, _ in SURVEY_SCALES.values()],
             [high for _, high in SURVEY_SCALES.values()], BOTTOM, TOP,
             [response_id for response_id, _ in scores], [score for _, score in scores]],
        )
        return cursor.rowcount
