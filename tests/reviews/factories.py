"""Reviews and decisions through their services, so snapshots and inbox tasks are made as in the product."""

from __future__ import annotations

import datetime as dt

from reviews.models import Decision, Review
from reviews.services import decision_create, review_create


def a_review(leader, quarter: str = "2026-Q4", **fields) -> Review:
    return review_create(quarter=quarter, created_by=leader, facilitator=fields.pop("facilitator", leader), **fields)


def a_decision(review: Review, owner, *, deadline: dt.date = dt.date(2027, 2, 15), text: str = "Call every detractor",
               kind: str = "initiative", user=None, today: dt.date = dt.date(2026, 12, 1), **fields) -> Decision:
    return decision_create(review=review, user=user, kind=kind, text=text, owner=owner, deadline=deadline,
                           today=today, **fields)
