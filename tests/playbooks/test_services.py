"""Playbook runs and tasks: the right person, once per breach, in order, closed when the KPI recovers."""

import datetime as dt

import pytest
from django.utils import timezone

from metrics.alerts import alert_rules_evaluate
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.models import Playbook, PlaybookRun, PlaybookStep, Task
from playbooks.services import (
    PlaybookError,
    playbook_run_start,
    runs_close_for_recovered_breaches,
    task_comment,
    task_complete,
    task_reassign,
    task_snooze,
    task_start,
)
from tests.accounts.factories import AccountFactory
from tests.users.factories import UserFactory
from users.models import Role

DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def people():
    manager = UserFactory(role=Role.MANAGER, full_name="Morgan Manager")
    csm = UserFactory(role=Role.CSM, full_name="Casey CSM", manager=manager)
    kpi_owner = UserFactory(role=Role.LEADER, full_name="Lee Leader")
    return {"manager": manager, "csm": csm, "kpi_owner": kpi_owner}


@pytest.fixture
def breach(people):
    kpi = kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                     definition="d", tier="adoption", indicator="leading", unit="percent", owner=people["kpi_owner"])
    account = AccountFactory(name="Initech", owner=people["csm"])
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=DAY, value=12)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=DAY, value=12)
    AlertRule.objects.create(kpi=kpi, name="Seats barely used", condition="below", threshold=20, severity="high",
                             hysteresis=5)
    alert_rules_evaluate(as_of=DAY, now=NOW)
    return Breach.objects.get()


def _playbook(rule=None, mode="sequence", steps=None):
    playbook = Playbook.objects.create(name="Adoption rescue", trigger="alert" if rule else "manual",
                                       alert_rule=rule, mode=mode)
    for position, (title, rule_name, extra) in enumerate(steps or [
        ("Call {account}", "account_owner", {}),
        ("Plan a training", "owner_manager", {}),
    ], start=1):
        PlaybookStep.objects.create(playbook=playbook, position=position, title=title, assignee_rule=rule_name,
                                    instructions="Seat use is {value}% (threshold {threshold}%) at {account}.",
                                    due_days=position * 2, **extra)
    return playbook


def test_a_sequence_starts_with_its_first_step_for_the_account_owner(breach, people):
    run = playbook_run_start(playbook=_playbook(breach.rule), account=breach.account, breach=breach, now=NOW)

    task = Task.objects.get()
    assert (task.run, task.assignee, task.title) == (run, people["csm"], "Call Initech")
    assert task.instructions == "Seat use is 12.0% (threshold 20.0%) at Initech."
    assert task.due_at == NOW + dt.timedelta(days=2)
    assert task.respond_by == NOW + dt.timedelta(hours=72)  # high severity
    assert task.events.get().kind == "created"


def test_a_breach_starts_one_run_however_often_it_is_delivered(breach):
    playbook = _playbook(breach.rule)

    first = playbook_run_start(playbook=playbook, account=breach.account, breach=breach)
    again = playbook_run_start(playbook=playbook, account=breach.account, breach=breach)

    assert first == again
    assert (PlaybookRun.objects.count(), Task.objects.count()) == (1, 1)


def test_parallel_playbooks_create_every_task_at_once(breach):
    run = playbook_run_start(playbook=_playbook(breach.rule, mode="parallel"), account=breach.account, breach=breach)

    assert run.tasks.count() == 2


@pytest.mark.parametrize(("rule", "extra", "expected"), [
    ("account_owner", {}, "csm"), ("owner_manager", {}, "manager"), ("kpi_owner", {}, "kpi_owner"),
])
def test_assignee_rules(breach, people, rule, extra, expected):
    playbook = _playbook(breach.rule, steps=[("Do it", rule, extra)])

    playbook_run_start(playbook=playbook, account=breach.account, breach=breach)

    assert Task.objects.get().assignee == people[expected]


def test_named_user_and_role_queue_assignees(breach):
    named = UserFactory()
    playbook = _playbook(breach.rule, mode="parallel", steps=[
        ("Named", "named_user", {"assignee": named}), ("Queued", "role_queue", {"queue_role": "manager"})])

    playbook_run_start(playbook=playbook, account=breach.account, breach=breach)

    assert Task.objects.get(title="Named").assignee == named
    queued = Task.objects.get(title="Queued")
    assert (queued.assignee, queued.queue_role) == (None, "manager")


def test_completing_a_step_creates_the_next_and_the_last_completes_the_run(breach, people):
    run = playbook_run_start(playbook=_playbook(breach.rule), account=breach.account, breach=breach, now=NOW)
    first = Task.objects.get()

    assert task_complete(task=first, user=people["csm"], outcome="resolved", note="Booked a call", now=NOW)
    assert task_complete(task=first, user=people["csm"], outcome="resolved", now=NOW) is False
    second = Task.objects.get(title="Plan a training")
    assert second.assignee == people["manager"]
    task_complete(task=second, user=people["manager"], outcome="partial", now=NOW)

    run.refresh_from_db()
    assert run.status == "completed"
    assert Task.objects.count() == 2


def test_recovery_closes_the_run_and_cancels_its_open_tasks(breach, people, django_capture_on_commit_callbacks):
    playbook = _playbook(breach.rule)
    run = playbook_run_start(playbook=playbook, account=breach.account, breach=breach)
    kpi = breach.kpi
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=breach.account,
                               as_of=DAY + dt.timedelta(days=1), value=40)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=DAY + dt.timedelta(days=1), value=40)

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY + dt.timedelta(days=1), now=NOW)

    run.refresh_from_db()
    assert run.status == "recovered"
    assert list(run.tasks.values_list("status", flat=True)) == ["cancelled"]
    assert runs_close_for_recovered_breaches(breach_ids=[breach.pk]) == 0


def test_an_opened_breach_starts_its_alert_playbook(people, django_capture_on_commit_callbacks):
    kpi = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                     indicator="lagging", unit="score")
    account = AccountFactory(owner=people["csm"])
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=DAY, value=-40)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=DAY, value=-40)
    rule = AlertRule.objects.create(kpi=kpi, name="Detractor", condition="below", threshold=0, severity="critical")
    _playbook(rule)

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY, now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY, now=NOW)  # evaluated again: nothing new

    task = Task.objects.get()
    assert (task.assignee, task.severity, task.run.breach.rule) == (people["csm"], "critical", rule)


def test_snooze_needs_a_reason_and_a_future_time(breach, people):
    playbook_run_start(playbook=_playbook(breach.rule), account=breach.account, breach=breach)
    task = Task.objects.get()

    with pytest.raises(PlaybookError, match="why"):
        task_snooze(task=task, user=people["csm"], until=timezone.now() + dt.timedelta(days=1), reason=" ")
    with pytest.raises(PlaybookError, match="future"):
        task_snooze(task=task, user=people["csm"], until=timezone.now() - dt.timedelta(days=1), reason="Away")
    assert task_snooze(task=task, user=people["csm"], until=timezone.now() + dt.timedelta(days=1), reason="Away")
    assert task_start(task=task, user=people["csm"])
    assert task.status == "in_progress"


def test_reassign_and_comment_are_recorded(breach, people):
    playbook_run_start(playbook=_playbook(breach.rule), account=breach.account, breach=breach)
    task = Task.objects.get()
    other = UserFactory(role=Role.CSM)

    assert task_reassign(task=task, user=people["manager"], assignee=other)
    task_comment(task=task, user=other, note="Customer on holiday until Monday")

    task.refresh_from_db()
    assert task.assignee == other
    assert list(task.events.values_list("kind", flat=True)) == ["created", "reassigned", "comment"]
    with pytest.raises(PlaybookError, match="needs text"):
        task_comment(task=task, user=other, note="")


def test_bad_outcome_and_empty_playbook_are_refused(breach, people):
    with pytest.raises(PlaybookError, match="no steps"):
        playbook_run_start(playbook=Playbook.objects.create(name="Empty"), account=breach.account)
    playbook_run_start(playbook=_playbook(breach.rule), account=breach.account, breach=breach)
    with pytest.raises(PlaybookError, match="Outcome must be one of"):
        task_complete(task=Task.objects.get(), user=people["csm"], outcome="meh")


def _lifecycle_playbook(trigger, **fields):
    playbook = Playbook.objects.create(name=f"{trigger} playbook", trigger=trigger, **fields)
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Kick-off with {account}", due_days=3)
    return playbook


def test_new_accounts_from_an_integration_start_onboarding_once(client, people,
                                                                django_capture_on_commit_callbacks):
    from config.celery import app
    from tests.integrations.conftest import post_json
    from tests.integrations.factories import ApiKeyFactory

    _lifecycle_playbook("account_created")
    key = ApiKeyFactory(scopes=["ingest"])
    body = {"accounts": [{"external_id": "NEW-1", "name": "Newco", "owner": people["csm"].email}]}
    app.conf.task_always_eager = True
    try:
        for _ in range(2):  # sent twice: one onboarding
            with django_capture_on_commit_callbacks(execute=True):
                assert post_json(client, "/api/v1/accounts/bulk", body, key).status_code == 200
    finally:
        app.conf.task_always_eager = False

    task = Task.objects.get()
    assert (task.title, task.assignee, task.run.occasion) == ("Kick-off with Newco", people["csm"], "onboarding")


def test_accounts_older_than_the_onboarding_playbook_do_not_get_it(people):
    from playbooks.services import onboarding_runs_start

    old = AccountFactory(owner=people["csm"])
    _lifecycle_playbook("account_created")

    assert onboarding_runs_start(account_ids=[old.pk]) == []


def test_renewals_within_the_window_start_once_per_renewal_date(people):
    from playbooks.services import renewal_runs_start

    _lifecycle_playbook("renewal_due", renewal_days=60)
    soon = AccountFactory(owner=people["csm"], renewal_date=dt.date(2026, 12, 15))
    AccountFactory(owner=people["csm"], renewal_date=dt.date(2027, 6, 1))
    AccountFactory(owner=people["csm"], renewal_date=dt.date(2026, 12, 1), status="churned")

    renewal_runs_start(today=dt.date(2026, 11, 20))
    renewal_runs_start(today=dt.date(2026, 11, 21))

    run = PlaybookRun.objects.get()
    assert (run.account, run.occasion, run.trigger) == (soon, "renewal:2026-12-15", "renewal_due")


def test_titles_get_their_placeholders_filled_and_unknown_ones_stay_as_written(breach, people):
    playbook = Playbook.objects.create(name="Titles", mode="parallel")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="{kpi} at {value}: call {account}")
    PlaybookStep.objects.create(playbook=playbook, position=2, title="Ask {whoever} about {account")

    playbook_run_start(playbook=playbook, account=breach.account, breach=breach, now=NOW)

    assert sorted(Task.objects.values_list("title", flat=True)) == [
        "Ask {whoever} about {account", "Seat utilisation at 12.0: call Initech"]
