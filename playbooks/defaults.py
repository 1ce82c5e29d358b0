"""The playbooks every new tenant starts with, each answering one of the default alert rules (metrics.catalogue)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from metrics.catalogue import RENEWAL_AT_RISK, DefaultRule
from metrics.models import AlertRule
from playbooks.models import AssigneeRule, Mode, Playbook, PlaybookStep, StepKind, Trigger


@dataclass(frozen=True)
class DefaultStep:
    title: str
    kind: str
    due_days: int
    instructions: str
    assignee_rule: str = AssigneeRule.ACCOUNT_OWNER


@dataclass(frozen=True)
class DefaultPlaybook:
    name: str
    rule: DefaultRule
    description: str
    steps: tuple[DefaultStep, ...]


# The seeds' trigger: "If renewal probability dips below X, schedule a value demonstration within 14 days."
VALUE_REVIEW = DefaultPlaybook(
    name="Value review", rule=RENEWAL_AT_RISK,
    description="Started when an account renewing within 120 days has a renewal probability below the rule's "
                "threshold: the owner shows the value it got before the renewal conversation.",
    steps=(DefaultStep(
        "Run a value review with {account}", StepKind.VALUE_REVIEW, 14,
        "Renewal probability is {value}% (threshold {threshold}%) and the renewal is within 120 days. Read the "
        "drivers on the account page, then show the outcomes they bought and agree what must change."),))
DEFAULT_PLAYBOOKS: tuple[DefaultPlaybook, ...] = (VALUE_REVIEW,)


@transaction.atomic
def default_playbooks_install() -> list[Playbook]:
    """Create each default playbook whose rule exists and has no playbook yet; returns those created."""
    created = []
    for default in DEFAULT_PLAYBOOKS:
        rule = AlertRule.objects.filter(kpi__slug=default.rule.kpi, name=default.rule.name).first()
        if rule is None or Playbook.objects.filter(alert_rule=rule).exists():
            continue
        playbook = Playbook.objects.create(name=default.name, description=default.description, trigger=Trigger.ALERT,
                                           alert_rule=rule, mode=Mode.SEQUENCE)
        for position, step in enumerate(default.steps, 1):
            PlaybookStep.objects.create(playbook=playbook, position=position, title=step.title, kind=step.kind,
                                        due_days=step.due_days, assignee_rule=step.assignee_rule,
                                        instructions=step.instructions)
        created.append(playbook)
    return created
