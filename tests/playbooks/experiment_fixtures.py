"""Experiments built as a test states them: a manual playbook with one step, and a pre-registered design."""

from __future__ import annotations

from playbooks.experiments.services import experiment_register
from playbooks.models import Experiment
from tests.playbooks.factories import PlaybookFactory, PlaybookStepFactory
from tests.users.factories import UserFactory
from users.models import Role


def playbook_with_a_step(**fields):
    playbook = PlaybookFactory(**fields)
    PlaybookStepFactory(playbook=playbook, position=1, title="Call {account}")
    return playbook


def churn_experiment(*, playbook=None, user=None, **design) -> Experiment:
    """Churn within 90 days, 20% baseline, 5 points less wanted, 20% holdout, 50 accounts a week."""
    return experiment_register(user=user or UserFactory(role=Role.LEADER), **{
        "name": "Onboarding call cuts churn", "hypothesis": "A call in week one halves early churn.",
        "playbook": playbook or playbook_with_a_step(), "metric": "churn", "horizon_days": 90,
        "baseline": 20.0, "minimum_effect": -5.0, "holdout_share": 0.2, "accounts_per_week": 50.0, **design})
