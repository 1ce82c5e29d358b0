"""A survey batch's follow-up scores its own comments only, a bounded opening of each, claimed once: one tenant's
long comments cannot hold the workers every tenant shares (issue 20)."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from accounts.follow_up import batch_follow_up
from accounts.ingestion import survey_responses_ingest
from accounts.models import SurveyResponse
from integrations.ingest import Caller
from integrations.models import IngestBatch
from metrics import sentiment
from metrics.pending import _client, _keys
from metrics.sentiment import SCORED_CHARACTERS, comment_sentiment, survey_comments_score
from metrics.tasks import survey_comments_score_task
from tests.accounts.factories import AccountFactory, SurveyResponseFactory
from tests.realstack import raw_connection

ANGRY = "Terrible onboarding, we are very frustrated and angry. "
HAPPY = "We love the new dashboards, great product, wonderful team! "


@pytest.fixture(autouse=True)
def _no_pending_recompute(tenant):
    """The follow-up also marks the accounts for a debounced recompute, in Redis: not left for the next test."""
    yield
    _client().delete(*_keys(tenant.schema_name))


@pytest.fixture
def queued(monkeypatch):
    """Continuations of the scoring, recorded instead of sent to a broker."""
    sent: list[dict] = []
    monkeypatch.setattr(survey_comments_score_task, "delay", lambda **kwargs: sent.append(kwargs))
    return sent


def _answers(comments: list[str], account_external_id: str = "SRV-1") -> IngestBatch:
    answered = timezone.now().replace(microsecond=0).isoformat()
    survey_responses_ingest(items=[
        {"id": f"{account_external_id}-{n}", "account": account_external_id, "kind": "nps", "score": 5,
         "responded_at": answered, "comment": comment} for n, comment in enumerate(comments)], caller=Caller())
    return IngestBatch.objects.latest("pk")


def test_a_follow_up_scores_the_comments_of_its_batch_and_no_others(queued, django_capture_on_commit_callbacks):
    account = AccountFactory(external_id="SRV-1")
    older = SurveyResponseFactory(account=account, comment=ANGRY, sentiment=None)  # left unscored by someone else
    batch = _answers([HAPPY, "  ", ANGRY])

    with django_capture_on_commit_callbacks(execute=True):
        assert batch_follow_up(batch_id=batch.pk)

    scores = dict(SurveyResponse.objects.filter(external_id__startswith="SRV-1-").values_list("external_id",
                                                                                                "sentiment"))
    assert scores["SRV-1-0"] > 0.5 and scores["SRV-1-2"] < -0.5
    assert scores["SRV-1-1"] is None  # nothing to score in a blank comment
    assert SurveyResponse.objects.get(pk=older.pk).sentiment is None
    assert sorted(batch.follow_up["created_ids"]) == sorted(
        SurveyResponse.objects.filter(external_id__startswith="SRV-1-").values_list("pk", flat=True))
    assert queued == []  # fewer than a claim: nothing left for a task


def test_a_resent_batch_has_nothing_to_score(queued):
    AccountFactory(external_id="SRV-1")
    _answers([HAPPY])
    batch = _answers([HAPPY])

    assert batch.follow_up is None  # every answer was a duplicate: no follow-up at all


def test_a_batch_larger_than_a_claim_queues_the_rest_behind_other_work(queued, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    monkeypatch.setattr(sentiment, "CLAIM_SIZE", 2)
    AccountFactory(external_id="SRV-1")
    batch = _answers([HAPPY, ANGRY, HAPPY, ANGRY, HAPPY])
    ids = batch.follow_up["created_ids"]

    with django_capture_on_commit_callbacks(execute=True):
        batch_follow_up(batch_id=batch.pk)

    assert SurveyResponse.objects.filter(pk__in=ids, sentiment__isnull=False).count() == 2
    assert queued == [{"response_ids": ids}]
    while queued:
        survey_comments_score_task.run(**queued.pop())
    assert SurveyResponse.objects.filter(pk__in=ids, sentiment__isnull=True).count() == 0


def test_only_the_opening_of_a_long_comment_is_scored_and_the_whole_comment_is_kept(queued):
    AccountFactory(external_id="SRV-1")
    comment = (HAPPY * 40)[:SCORED_CHARACTERS] + ANGRY * 150
    batch = _answers([comment])

    batch_follow_up(batch_id=batch.pk)

    answer = SurveyResponse.objects.get(external_id="SRV-1-0")
    assert answer.comment == comment.strip()
    assert answer.sentiment == pytest.approx(comment_sentiment(HAPPY * 40), abs=0.01)
    assert answer.sentiment > 0.5


def test_a_5mb_batch_of_long_comments_is_scored_in_bounded_time(queued):
    """500 comments of 10,000 characters: scored whole, VADER needs minutes for them (0.8 s each, here)."""
    AccountFactory(external_id="SRV-1")
    words = (HAPPY + ANGRY + "The sync is slow but the support team answered quickly. ") * 60
    comments = [f"{n} {words}"[:10_000] for n in range(500)]
    assert sum(map(len, comments)) >= 5_000_000
    batch = _answers(comments)

    started = time.perf_counter()
    batch_follow_up(batch_id=batch.pk)
    while queued:
        survey_comments_score_task.run(**queued.pop())
    elapsed = time.perf_counter() - started

    print(f"\n500 comments of 10,000 characters scored in {elapsed:.2f} s")
    assert SurveyResponse.objects.filter(sentiment__isnull=True).count() == 0
    assert {len(comment) for comment in SurveyResponse.objects.values_list("comment", flat=True)} == {10_000}
    assert elapsed < 30  # a few seconds here; minutes when whole comments were scored


# --- two scorers at once, on committed rows and connections of their own ----------------------------------------

@pytest.fixture
def committed_answers(tenant):
    """40 unscored answers committed for real in alpha's schema; removed afterwards."""
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{tenant.schema_name}"')
        account_id = raw.execute(
            "INSERT INTO accounts_account (external_id, name, plan, region, industry, lifecycle_stage, status,"
            " custom_attributes, created_at, updated_at) VALUES ('claim-test', 'Claim', '', '', '', 'adoption',"
            " 'active', '{}', now(), now()) RETURNING id").fetchone()[0]
        ids = [raw.execute(
            "INSERT INTO accounts_surveyresponse (external_id, account_id, kind, score, comment, respondent,"
            " responded_at) VALUES (%s, %s, 'nps', 5, %s, '', now()) RETURNING id",
            [f"claim-{n}", account_id, HAPPY if n % 2 else ANGRY]).fetchone()[0] for n in range(40)]
    yield ids
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{tenant.schema_name}"')
        raw.execute("DELETE FROM accounts_surveyresponse WHERE account_id = %s", [account_id])
        raw.execute("DELETE FROM accounts_account WHERE id = %s", [account_id])


def test_two_concurrent_scorers_never_score_the_same_comment(tenant, committed_answers, monkeypatch):
    scored: list[str] = []
    lock = threading.Lock()
    score = sentiment.comment_sentiment

    def slow_score(text):
        time.sleep(0.01)  # long enough for the two scorers to overlap
        with lock:
            scored.append(text)
        return score(text)

    monkeypatch.setattr(sentiment, "comment_sentiment", slow_score)
    done: list[int] = []

    def scorer():
        from django.db import connection

        connection.set_tenant(tenant)
        try:
            while (claimed := survey_comments_score(response_ids=committed_answers, limit=5)) == 5:
                done.append(claimed)
            done.append(claimed)
        finally:
            connection.close()

    threads = [threading.Thread(target=scorer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(scored) == sum(done) == 40
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{tenant.schema_name}"')
        assert raw.execute("SELECT count(*) FROM accounts_surveyresponse WHERE id = ANY(%s) AND sentiment IS NULL",
                           [committed_answers]).fetchone()[0] == 0
