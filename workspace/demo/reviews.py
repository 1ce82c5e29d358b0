"""The demo tenant's reviews: last quarter's, closed, with decisions in every state (done, open, in progress,
missed, dropped, and a target change applied), and this quarter's, planned, whose agenda carries the open ones.

Everything is a function of `as_of` and runs through the services, so the demo shows exactly what the product
does; a second run finds both reviews and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import transaction

from metrics.models import KPI
from reviews.models import Review
from reviews.quarters import previous_quarter, quarter_of
from reviews.services import (
    decision_create,
    decision_progress_add,
    decision_status_set,
    decisions_mark_missed,
    review_close,
    review_create,
    review_kpi_comment,
    review_start,
)
from users.models import User

# Last quarter's review met this many days before as-of.
MET_DAYS_AGO = 40

# (kind, text, KPI slug, owner's email local part, deadline in days from as-of, what happened, progress note)
DEMO_DECISIONS = (
    ("initiative", "Call every detractor from the last NPS survey within two weeks", "nps", "manager1", -30, "done",
     "All 41 detractors called; 12 asked for a follow-up on reporting."),
    ("initiative", "Launch a seat-activation campaign for Growth accounts", "seat-utilization", "manager2", 21, "open",
     ""),
    ("experiment", "Pilot in-app onboarding checklists with ten new accounts", "activation-rate", "csm1", 45,
     "in_progress", "Checklists live for 6 of 10 accounts; first activations in."),
    ("initiative", "Ship a renewal-risk report to every CSM", "grr", "manager1", -15, "missed", ""),
    ("retire_kpi", "Retire the CES survey: too few answers to steer by", "ces", "admin", 30, "dropped",
     "Kept after all: product wants CES for the new support portal."),
)
DEMO_TARGET_CHANGE = ("grr", 93.0, "Two quarters above plan: raise the bar by a point.")


def _person(slug: str, local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{slug}.example").first()


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)


@transaction.atomic
def demo_reviews_seed(*, as_of: date, slug: str) -> int:
    """Create the two demo reviews if missing; returns how many were created."""
    leader = _person(slug, "leader")
    if leader is None:
        return 0
    created = 0
    last_quarter = previous_quarter(quarter_of(as_of))
    if not Review.objects.filter(quarter=last_quarter, name="").exists():
        _closed_review(quarter=last_quarter, as_of=as_of, slug=slug, leader=leader)
        created += 1
    this_quarter = quarter_of(as_of)
    if not Review.objects.filter(quarter=this_quarter, name="").exists():
        attendees = [person for person in (_person(slug, "manager1"), _person(slug, "manager2")) if person]
        review_create(quarter=this_quarter, created_by=leader, facilitator=leader, attendees=attendees,
                      meeting_date=as_of + timedelta(days=14))
        created += 1
    return created


def _closed_review(*, quarter: str, as_of: date, slug: str, leader: User) -> Review:
    met = as_of - timedelta(days=MET_DAYS_AGO)
    attendees = [person for local in ("admin", "manager1", "manager2") if (person := _person(slug, local))]
    review = review_create(quarter=quarter, created_by=leader, facilitator=leader, attendees=attendees,
                           meeting_date=met)
    review_start(review=review, user=leader, now=_at(met))
    worst = review.kpis.filter(dimension="", status="off_track").select_related("kpi").order_by("kpi__name").first()
    if worst is not None:
        review_kpi_comment(row=worst, user=leader,
                           commentary=f"{worst.kpi.name} missed its target: the declining accounts pulled it down.")
    kpis = {kpi.slug: kpi for kpi in KPI.objects.all()}
    for kind, text, kpi_slug, owner_local, deadline_days, outcome, note in DEMO_DECISIONS:
        owner = _person(slug, owner_local)
        if owner is None or (kpi_slug and kpi_slug not in kpis):
            continue
        decision = decision_create(review=review, user=leader, kind=kind, text=text, owner=owner,
                                   kpi=kpis.get(kpi_slug), deadline=as_of + timedelta(days=deadline_days), today=met)
        if outcome in ("done", "dropped", "in_progress"):
            decision_status_set(decision=decision, status=outcome, user=owner if outcome != "dropped" else leader,
                                note=note, now=_at(min(as_of, decision.deadline)))
        elif note:
            decision_progress_add(decision=decision, user=owner, note=note)
    target_slug, new_target, rationale = DEMO_TARGET_CHANGE
    if target_slug in kpis:
        decision_create(review=review, user=leader, kind="change_target", kpi=kpis[target_slug],
                        text=f"Raise the {kpis[target_slug].name} target to {new_target:g}", owner=leader,
                        new_target=new_target, target_period=quarter_of(as_of), target_rationale=rationale,
                        deadline=met + timedelta(days=7), today=met)
    review_close(review=review, user=leader, now=_at(met))
    decisions_mark_missed(today=as_of)
    return review
