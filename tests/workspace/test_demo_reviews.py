"""The demo tenant's reviews: last quarter's closed with decisions in every state, this quarter's planned with
the open ones carried over, and seeding again changes nothing."""

import datetime as dt

from django_tenants.utils import schema_context

from metrics.models import KPITarget
from playbooks.models import Task
from reviews.models import Decision, DecisionUpdate, Review
from reviews.selectors import review_agenda
from workspace.demo.seed import seed_demo

AS_OF = dt.date(2026, 6, 30)


def _state() -> list:
    return [list(Review.objects.order_by("quarter").values_list("quarter", "status", "meeting_date")),
            sorted(Decision.objects.values_list("text", "status", "deadline", "owner__email")),
            DecisionUpdate.objects.count(), Task.objects.filter(decision__isnull=False).count(),
            sorted(KPITarget.objects.values_list("kpi__slug", "period", "value", "superseded_at"))]


def test_the_demo_has_a_closed_review_with_every_state_and_a_planned_one_carrying_them():
    seed_demo(slug="demo-reviews", accounts=8, seed=7, as_of=AS_OF, progress=False, kpi_history_weeks=0)

    with schema_context("demo_reviews"):
        closed = Review.objects.get(quarter="2026-Q1")
        planned = Review.objects.get(quarter="2026-Q2")
        assert (closed.status, planned.status) == ("closed", "planned")
        statuses = set(closed.decisions.values_list("status", flat=True))
        assert {"done", "open", "in_progress", "missed", "dropped"} <= statuses
        change = closed.decisions.get(kind="change_target")
        assert change.applied_target.value == 93 and change.applied_target.period == "2026-Q2"
        assert f"Decision #{change.pk}" in change.applied_target.reason
        agenda = review_agenda(review=planned, today=AS_OF)
        assert sorted(d.status for d in agenda.carried_over) == ["in_progress", "missed", "open"]
        assert [d.overdue for d in agenda.carried_over if d.status == "missed"] == [True]
        assert planned.kpis.exists()
        before = _state()

    seed_demo(slug="demo-reviews", accounts=8, seed=7, as_of=AS_OF, progress=False, kpi_history_weeks=0)

    with schema_context("demo_reviews"):
        assert _state() == before
