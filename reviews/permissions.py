"""Who may do what in a review, for people (pages and API alike); API keys go by scope instead."""

from __future__ import annotations

from reviews.models import Decision
from users.models import Role, User

REVIEW_RUNNERS = (Role.ADMIN, Role.LEADER)


def may_run_reviews(user: User) -> bool:
    """Leaders and admins plan, run and close reviews and record their decisions."""
    return getattr(user, "role", None) in REVIEW_RUNNERS


def may_follow_up(user: User, decision: Decision) -> bool:
    """A decision's owner records its progress and status, as do leaders and admins."""
    return may_run_reviews(user) or decision.owner_id == getattr(user, "pk", None)


SCENARIO_READERS = (Role.ADMIN, Role.LEADER, Role.MANAGER, Role.VIEWER)


def may_read_scenarios(user: User) -> bool:
    """Finance scenarios are portfolio numbers: leaders, admins, managers and viewers read them; CSMs, whose
    work is their own accounts, do not."""
    return getattr(user, "role", None) in SCENARIO_READERS
