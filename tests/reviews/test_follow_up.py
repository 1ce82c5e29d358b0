"""The periodic follow-up, on a frozen clock: decisions become missed the day after their deadline, owners
are reminded a week and a day before, the facilitator hears of each overdue decision, each exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django_tenants.utils import schema_context

from playbooks.models import Task
from reviews.models import Decision, DecisionReminder
from reviews.services import decision_status_set, decisions_follow_up
from tests.reviews.factories import a_decision, a_review
from tests.users.factories import UserFactory
from users.models import Role

pytestmark = pytest.mark.django_db

DEADLINE = dt.date(2027, 1, 15)


def _at(day: dt.date, hour: int = 8, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def decision(team, kpis):
    facilitator = UserFactory(role=Role.LEADER, email="facilitator@example.com")
    review = a_review(team["leader"], facilitator=facilitator)
    return a_decision(review, team["csm"], deadline=DEADLINE, text="Call every detractor")


def test_missed_is_set_once_the_deadline_day_is_over_on_a_frozen_clock(decision):
    with time_machine.travel(_at(DEADLINE, 23, 59), tick=False):
        assert decisions_follow_up()["missed"] == 0
        decision.refresh_from_db()
        assert decision.status == "open"

    with time_machine.travel(_at(DEADLINE + dt.timedelta(days=1), 0, 1), tick=False):
        result = decisions_follow_up()

    decision.refresh_from_db()
    assert result["missed"] == 1 and decision.status == "missed"
    assert decision.updates.get().status == "missed"
    assert Task.objects.get(decision=decision).status == "open"  # still in the inbox, now overdue


def test_the_facilitator_hears_of_an_overdue_decision_once(decision):
    day_after = DEADLINE + dt.timedelta(days=1)
    with time_machine.travel(_at(day_after), tick=False):
        first = decisions_follow_up()
        again = decisions_follow_up()

    assert (first["overdue"], again["overdue"], again["missed"]) == (1, 0, 0)
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["facilitator@example.com"], "[Bellwether] Overdue decision: Call every detractor")]


def test_owners_are_reminded_a_week_and_a_day_before_and_never_twice(decision, team):
    sent = []
    for day in (DEADLINE - dt.timedelta(days=8), DEADLINE - dt.timedelta(days=7), DEADLINE - dt.timedelta(days=6),
                DEADLINE - dt.timedelta(days=1), DEADLINE):
        with time_machine.travel(_at(day), tick=False):
            decisions_follow_up()
            decisions_follow_up()  # beat twice in a day, or two workers: nothing twice
        sent.append([m.subject for m in mail.outbox])
        mail.outbox.clear()

    assert sent == [[], ["[Bellwether] Decision due in 7 days: Call every detractor"], [],
                    ["[Bellwether] Decision due tomorrow: Call every detractor"], []]
    assert sorted(DecisionReminder.objects.values_list("kind", "sent_to")) == [
        ("day_before", team["csm"].email), ("week_before", team["csm"].email)]


def test_finished_decisions_get_no_reminders_and_never_become_missed(decision, team):
    decision_status_set(decision=decision, status="done", user=team["csm"])

    for day in (DEADLINE - dt.timedelta(days=7), DEADLINE + dt.timedelta(days=3)):
        with time_machine.travel(_at(day), tick=False):
            decisions_follow_up()

    decision.refresh_from_db()
    assert decision.status == "done"
    assert not mail.outbox and not DecisionReminder.objects.exists()


def test_the_beat_task_follows_up_in_every_tenant(decision, team, other_tenant):
    from config.celery import app
    from reviews.tasks import decisions_follow_up_all_tenants

    with schema_context(other_tenant.schema_name):
        bravo_leader = UserFactory(role=Role.LEADER)
        bravo = a_decision(a_review(bravo_leader, quarter="2026-Q3"), bravo_leader, deadline=DEADLINE)
    app.conf.task_always_eager = True
    try:
        with time_machine.travel(_at(DEADLINE + dt.timedelta(days=2)), tick=False):
            decisions_follow_up_all_tenants()
    finally:
        app.conf.task_always_eager = False

    decision.refresh_from_db()
    assert decision.status == "missed"
    with schema_context(other_tenant.schema_name):
        assert Decision.objects.get(pk=bravo.pk).status == "missed"
