"""The review's rules: the frozen snapshot, statuses by the target rule, the agenda with carried-over
decisions, closing (targets applied with their history), read-only once closed, and decisions kept in step
with their inbox tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from metrics.models import KPITarget, MetricValue
from metrics.status import target_status
from playbooks.models import Task, TaskOutcome, TaskStatus
from playbooks.selectors import open_tasks
from playbooks.services import task_complete, task_reassign, task_start
from reviews.models import Decision, DecisionUpdate, Review, ReviewKPI
from reviews.selectors import review_agenda, review_snapshot
from reviews.services import (
    ReviewError,
    decision_create,
    decision_progress_add,
    decision_status_set,
    decision_update,
    review_close,
    review_create,
    review_kpi_comment,
    review_start,
    review_update,
)
from tests.metrics.factories import KPIFactory
from tests.reviews.factories import a_decision, a_review

pytestmark = pytest.mark.django_db


def _rows(review: Review) -> dict[tuple[str, str], ReviewKPI]:
    return {(row.kpi.slug, row.segment): row for row in review.kpis.select_related("kpi")}


def test_the_snapshot_holds_each_flagged_kpi_at_the_quarter_end_against_target(team, kpis):
    KPIFactory(slug="hidden", in_review=False)
    KPIFactory(slug="retired", is_active=False)

    review = a_review(team["leader"], segment_dimensions=["plan"])

    rows = _rows(review)
    assert set(rows) == {("nps", ""), ("nps", "Growth"), ("churn", ""), ("grr", "")}
    nps = rows[("nps", "")]
    # The last value within Q4 (not the one of 5 January), last quarter's value, and the version that made it.
    assert (nps.as_of, nps.value, nps.target, nps.previous_value, nps.kpi_version) == (
        dt.date(2026, 12, 31), 30, 40, 25, 2)
    assert (nps.trend, nps.status) == ("improving", "off_track")
    assert (rows[("churn", "")].trend, rows[("churn", "")].status) == ("worsening", "at_risk")
    assert (rows[("grr", "")].trend, rows[("grr", "")].status) == ("steady", "on_track")
    growth = rows[("nps", "Growth")]
    # A segment without its own target is held against the portfolio's.
    assert (growth.dimension, growth.value, growth.target, growth.status) == ("plan", 12, 40, "off_track")


def test_a_kpi_the_leader_adds_is_snapshotted_even_when_not_flagged(team, kpis):
    extra = KPIFactory(slug="ttv", name="Time to value", in_review=False)

    review = a_review(team["leader"], extra_kpis=[extra])

    assert ("ttv", "") in _rows(review)
    assert _rows(review)[("ttv", "")].status == "no_target"


def test_the_snapshot_does_not_change_when_values_and_targets_change_later(team, kpis):
    review = a_review(team["leader"])
    before = [(r.kpi_id, r.value, r.target, r.previous_value, r.status, r.kpi_version) for r in review.kpis.all()]

    MetricValue.objects.filter(kpi=kpis["nps"]).update(value=99, kpi_version=3)
    KPITarget.objects.filter(kpi=kpis["nps"]).update(value=10)

    after = [(r.kpi_id, r.value, r.target, r.previous_value, r.status, r.kpi_version) for r in review.kpis.all()]
    assert after == before


@pytest.mark.parametrize(("direction", "number", "target", "expected"), [
    ("higher", 40, 40, "on_track"), ("higher", 39, 40, "at_risk"), ("higher", 30, 40, "off_track"),
    ("lower", 4, 5, "on_track"), ("lower", 5.9, 5, "at_risk"), ("lower", 8, 5, "off_track"),
    ("higher", None, 40, "no_value"), ("higher", 10, None, "no_target"),
])
def test_snapshot_statuses_follow_the_target_rule(team, direction, number, target, expected):
    from tests.reviews.conftest import value

    kpi = KPIFactory(direction=direction)
    value(kpi, dt.date(2026, 12, 31), number)
    if target is not None:
        KPITarget.objects.create(kpi=kpi, period="2026-Q4", value=target)

    row = a_review(team["leader"]).kpis.get()

    assert row.status == expected == target_status(value=number, target=target, direction=direction)


def test_one_review_per_quarter_unless_named(team, kpis):
    a_review(team["leader"])

    with pytest.raises(ReviewError, match="already a review of 2026-Q4") as refused:
        a_review(team["leader"])
    named = a_review(team["leader"], name="EMEA")

    assert refused.value.status_code == 409
    assert named.name == "EMEA"
    assert Review.objects.count() == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"quarter": "2026-Q5"}, "not a quarter"),
    ({"quarter": "2026-Q4", "segment_dimensions": ["colour"]}, "Unknown segment dimension"),
])
def test_bad_review_input_is_refused_and_nothing_is_written(team, kpis, fields, message):
    with pytest.raises(ReviewError, match=message):
        review_create(created_by=team["leader"], **fields)

    assert not Review.objects.exists() and not ReviewKPI.objects.exists()


def test_the_agenda_puts_off_track_first_then_open_decisions_carried_over_then_effectiveness(team, kpis):
    earlier = a_review(team["leader"], quarter="2026-Q3")
    owner = team["csm"]
    open_late = a_decision(earlier, owner, text="Late one", deadline=dt.date(2026, 11, 1), today=dt.date(2026, 8, 1))
    in_progress = a_decision(earlier, owner, text="Going", deadline=dt.date(2027, 1, 31), today=dt.date(2026, 8, 1))
    missed = a_decision(earlier, owner, text="Missed", deadline=dt.date(2026, 9, 1), today=dt.date(2026, 8, 1))
    done = a_decision(earlier, owner, text="Done", today=dt.date(2026, 8, 1))
    dropped = a_decision(earlier, owner, text="Dropped", today=dt.date(2026, 8, 1))
    decision_status_set(decision=in_progress, status="in_progress", user=owner)
    decision_status_set(decision=missed, status="missed", user=None, by_system=True)
    decision_status_set(decision=done, status="done", user=owner)
    decision_status_set(decision=dropped, status="dropped", user=team["leader"])
    current = a_review(team["leader"])
    a_decision(current, owner, text="This quarter's own")

    agenda = review_agenda(review=current, today=dt.date(2026, 12, 1))

    assert [row.kpi.slug for row in agenda.off_track] == ["nps"]
    assert [(d.pk, d.overdue) for d in agenda.carried_over] == [
        (missed.pk, True), (open_late.pk, True), (in_progress.pk, False)]
    assert agenda.effectiveness == []
    assert [row.status for row in review_snapshot(review=current)] == ["off_track", "at_risk", "on_track"]


def test_closing_applies_a_target_change_to_the_kpi_history_and_tells_its_owner(
        team, kpis, django_capture_on_commit_callbacks):
    KPITarget.objects.create(kpi=kpis["nps"], period="2027-Q1", value=40, reason="Plan")
    review = a_review(team["leader"])
    change = a_decision(review, team["kpi_owner"], kind="change_target", kpi=kpis["nps"], new_target=32,
                        text="Lower the NPS target", target_rationale="Price rise: detractors expected")
    review_start(review=review, user=team["leader"])

    with django_capture_on_commit_callbacks() as after_commit:
        review_close(review=review, user=team["leader"])
        assert mail.outbox == []  # nobody is told before the close commits
    for callback in after_commit:
        callback()

    history = list(KPITarget.objects.filter(kpi=kpis["nps"], period="2027-Q1").order_by("created_at"))
    assert [(t.value, t.superseded_at is None) for t in history] == [(40, False), (32, True)]
    applied = history[-1]
    assert applied.set_by == team["leader"]
    assert f"Decision #{change.pk}" in applied.reason and "Price rise" in applied.reason
    change.refresh_from_db()
    assert (change.applied_target, change.status) == (applied, "done")
    assert Task.objects.get(decision=change).status == TaskStatus.DONE
    assert [m.to for m in mail.outbox] == [[team["kpi_owner"].email]]
    assert "32" in mail.outbox[0].subject
    review.refresh_from_db()
    assert review.status == "closed" and review.closed_by == team["leader"]


def test_the_new_target_email_prints_it_in_the_kpis_unit(team, kpis, django_capture_on_commit_callbacks):
    kpis["churn"].owner = team["kpi_owner"]
    kpis["churn"].save()
    review = a_review(team["leader"])
    a_decision(review, team["kpi_owner"], kind="change_target", kpi=kpis["churn"], new_target=4.5,
               text="Tighten churn", target_rationale="Renewals team in place")
    review_start(review=review, user=team["leader"])

    with django_capture_on_commit_callbacks(execute=True):
        review_close(review=review, user=team["leader"])

    [message] = mail.outbox
    assert message.subject == "[Bellwether] New target for Logo churn (2027-Q1): 4.5%"
    assert "for 2027-Q1 to 4.5%." in message.body


def test_a_dropped_target_change_is_not_applied(team, kpis):
    review = a_review(team["leader"])
    change = a_decision(review, team["leader"], kind="change_target", kpi=kpis["nps"], new_target=32,
                        target_rationale="r")
    decision_status_set(decision=change, status="dropped", user=team["leader"])
    review_start(review=review, user=team["leader"])

    review_close(review=review, user=team["leader"])

    assert not KPITarget.objects.filter(period="2027-Q1").exists()
    assert not mail.outbox


def test_a_closed_review_refuses_every_edit_but_its_decisions_keep_progressing(team, kpis):
    review = a_review(team["leader"])
    decision = a_decision(review, team["csm"])
    review_start(review=review, user=team["leader"])
    review_close(review=review, user=team["leader"])
    row = review.kpis.first()

    edits = [
        lambda: review_update(review=review, user=team["leader"], name="Renamed"),
        lambda: review_kpi_comment(row=row, user=team["leader"], commentary="Late"),
        lambda: a_decision(review, team["csm"], text="Another"),
        lambda: decision_update(decision=decision, user=team["leader"], text="Rewritten"),
        lambda: review_start(review=review, user=team["leader"]),
        lambda: review_close(review=review, user=team["leader"]),
    ]
    for edit in edits:
        with pytest.raises(ReviewError, match="closed and read-only") as refused:
            edit()
        assert refused.value.status_code == 409
    decision_progress_add(decision=decision, user=team["csm"], note="Half the calls done", status="in_progress")

    decision.refresh_from_db()
    assert (decision.text, decision.status) == ("Call every detractor", "in_progress")
    assert Decision.objects.filter(review=review).count() == 1
    assert review.kpis.filter(commentary="").count() == review.kpis.count()


def test_closing_a_planned_review_is_a_conflict(team, kpis):
    review = a_review(team["leader"])

    with pytest.raises(ReviewError, match="Start the 2026-Q4 review") as refused:
        review_close(review=review, user=team["leader"])

    assert refused.value.status_code == 409
    review.refresh_from_db()
    assert review.status == "planned"


def test_each_decision_is_a_task_in_its_owners_inbox_due_on_its_deadline(team, kpis):
    review = a_review(team["leader"])

    decision = a_decision(review, team["csm"], deadline=dt.date(2027, 2, 15))

    task = Task.objects.get(decision=decision)
    assert (task.assignee, task.account, task.run, task.status) == (team["csm"], None, None, "open")
    assert task.due_at.date() == dt.date(2027, 2, 15)
    assert list(open_tasks(user=team["csm"])) == [task]


def test_completing_the_task_completes_the_decision_and_the_reverse(team, kpis):
    review = a_review(team["leader"])
    first = a_decision(review, team["csm"], text="First")
    second = a_decision(review, team["csm"], text="Second")

    task_start(task=first.task, user=team["csm"])
    first.refresh_from_db()
    assert first.status == "in_progress"
    assert task_complete(task=Task.objects.get(decision=first), user=team["csm"], outcome="resolved",
                         note="All called")
    decision_status_set(decision=second, status="done", user=team["csm"], note="Finished")

    first.refresh_from_db()
    assert (first.status, first.completed_at is not None) == ("done", True)
    assert first.updates.last().note == "All called"
    second_task = Task.objects.get(decision=second)
    assert (second_task.status, second_task.outcome) == (TaskStatus.DONE, TaskOutcome.RESOLVED)


def test_reassigning_the_task_moves_the_decision_and_dropping_cancels_the_task(team, kpis):
    review = a_review(team["leader"])
    decision = a_decision(review, team["csm"])

    task_reassign(task=decision.task, user=team["manager"], assignee=team["other_csm"])
    decision.refresh_from_db()
    assert decision.owner == team["other_csm"]
    decision_status_set(decision=decision, status="dropped", user=team["leader"], note="No longer needed")

    assert Task.objects.get(decision=decision).status == TaskStatus.CANCELLED
    assert list(decision.updates.values_list("status", flat=True)) == ["", "dropped"]


def test_a_new_owner_and_deadline_move_the_task_and_reopen_a_missed_decision(team, kpis):
    review = a_review(team["leader"])
    decision = a_decision(review, team["csm"], deadline=dt.date(2026, 12, 10))
    decision_status_set(decision=decision, status="missed", user=None, by_system=True)

    decision_update(decision=decision, user=team["leader"], owner=team["other_csm"],
                    deadline=dt.date(2027, 1, 31), today=dt.date(2026, 12, 20))

    decision.refresh_from_db()
    task = Task.objects.get(decision=decision)
    assert (decision.status, decision.owner, decision.deadline) == ("open", team["other_csm"], dt.date(2027, 1, 31))
    assert (task.assignee, task.due_at.date()) == (team["other_csm"], dt.date(2027, 1, 31))


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "change_target", "new_target": 30}, "names its KPI"),
    ({"kind": "change_target", "kpi": "nps"}, "needs the new target"),
    ({"kind": "change_target", "kpi": "nps", "new_target": 30}, "needs its rationale"),
    ({"kind": "change_target", "kpi": "nps", "new_target": 30, "target_rationale": "r", "target_period": "Q1"},
     "not a quarter"),
    ({"kind": "retire_kpi"}, "names its KPI"),
    ({"deadline": dt.date(2026, 11, 30)}, "cannot be in the past"),
    ({"text": "   "}, "needs its text"),
    ({"kind": "vote"}, "kind must be one of"),
])
def test_bad_decisions_are_refused_and_nothing_is_written(team, kpis, fields, message):
    review = a_review(team["leader"])
    if "kpi" in fields:
        fields["kpi"] = kpis[fields["kpi"]]

    with pytest.raises(ReviewError, match=message):
        a_decision(review, team["csm"], **fields)

    assert not Decision.objects.exists() and not Task.objects.exists()


def test_status_changes_by_hand_follow_the_rules(team, kpis):
    review = a_review(team["leader"])
    decision = a_decision(review, team["csm"])

    with pytest.raises(ReviewError, match="set automatically"):
        decision_status_set(decision=decision, status="missed", user=team["csm"])
    decision_status_set(decision=decision, status="done", user=team["csm"])
    with pytest.raises(ReviewError, match="done decision cannot become open") as refused:
        decision_status_set(decision=decision, status="open", user=team["csm"])

    assert refused.value.status_code == 409
    assert DecisionUpdate.objects.filter(decision=decision).count() == 1


def test_a_progress_update_needs_a_note(team, kpis):
    decision = a_decision(a_review(team["leader"]), team["csm"])

    with pytest.raises(ReviewError, match="needs a note"):
        decision_progress_add(decision=decision, user=team["csm"], note=" ")

    assert not decision.updates.exists()


def test_a_decision_made_without_the_service_is_refused_by_the_database(team, kpis):
    from django.db import IntegrityError, transaction

    review = a_review(team["leader"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(review=review, kind="change_target", text="x", owner=team["csm"],
                                deadline=dt.date(2027, 1, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(title="Orphan", kind="internal", due_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
                            respond_by=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))


def test_decision_create_applies_the_next_quarter_by_default(team, kpis):
    review = a_review(team["leader"])

    decision = decision_create(review=review, user=team["leader"], kind="change_target", text="Raise GRR",
                               owner=team["leader"], deadline=dt.date(2027, 1, 15), kpi=kpis["grr"],
                               new_target=94, target_rationale="Two quarters above plan", today=dt.date(2026, 12, 1))

    assert decision.target_period == "2027-Q1"
