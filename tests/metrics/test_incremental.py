"""Fresh data recomputes today's KPIs of the accounts it touched, through the ingest follow-up."""

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from metrics.models import ComputationRun, MetricValue
from metrics.pending import _client, _keys
from metrics.services import kpi_create
from tests.accounts.factories import AccountFactory
from tests.integrations.conftest import post_json


@pytest.fixture
def eager_celery():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
    _client().delete(*_keys(connection.schema_name))


def test_survey_batch_recomputes_todays_nps_for_the_touched_account(client, ingest_key, eager_celery,
                                                                   django_capture_on_commit_callbacks):
    nps = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                     indicator="lagging", unit="score")
    touched, untouched = AccountFactory(external_id="T-1"), AccountFactory(external_id="U-1")
    answered = timezone.now().replace(microsecond=0).isoformat()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, "/api/v1/surveys/bulk", {"responses": [
            {"id": "r-1", "account": "T-1", "kind": "nps", "score": 3, "responded_at": answered,
             "comment": "Terrible onboarding, we are very frustrated."}]}, ingest_key)

    assert response.status_code == 200
    run = ComputationRun.objects.get(trigger=ComputationRun.Trigger.INGEST)
    assert (run.status, run.account_ids, run.as_of) == ("succeeded", [touched.pk], timezone.localdate())
    row = MetricValue.objects.get(kpi=nps, scope="account", as_of=timezone.localdate())
    assert (row.account_id, row.value) == (touched.pk, -100)
    assert MetricValue.objects.get(kpi=nps, scope="portfolio", as_of=timezone.localdate()).value == -100
    assert not MetricValue.objects.filter(account=untouched).exists()
    # the comment was scored on the way
    assert touched.survey_responses.get().sentiment < 0
