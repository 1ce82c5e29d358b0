"""The demo tenant's playbooks: one for each alert rule that starts work, so `make run` shows real tasks."""

from __future__ import annotations

from metrics.models import AlertAction, AlertRule
from playbooks.models import Playbook, PlaybookStep

# rule name -> (playbook name, mode, steps: (title, kind, due days, assignee rule, queue role, instructions))
DEMO_PLAYBOOKS = {
    "Account health turned red": ("Health rescue", "sequence", [
        ("Call {account} about what changed", "call", 2, "account_owner", "",
         "Health is {value} (threshold {threshold}). Find out what changed and agree next steps."),
        ("Review the save plan with your manager", "internal", 5, "owner_manager", "",
         "Walk through {account}'s risks and the plan agreed with the customer."),
        ("Run a value review with {account}", "value_review", 14, "account_owner", "",
         "Show the outcomes they bought; tie usage to their goals."),
    ]),
    "Seats barely used": ("Adoption push", "parallel", [
        ("Offer {account} an enablement session", "training", 7, "account_owner", "",
         "Seat use is {value}%. Offer a session for the teams that have not started."),
        ("Send the adoption guide", "email", 3, "account_owner", "", "Send the role-based adoption guide."),
    ]),
    "Account is a detractor": ("Detractor follow-up", "sequence", [
        ("Call the detractors at {account}", "call", 2, "account_owner", "",
         "NPS is {value}. Read their comments first, then call within 48 hours."),
        ("Escalation review", "meeting", 7, "role_queue", "manager", "Decide on an executive sponsor call."),
    ]),
    "Usage fell by a third": ("Usage drop investigation", "sequence", [
        ("Find out why usage fell at {account}", "call", 1, "account_owner", "",
         "Usage changed {value}% in 30 days. Check for an outage, a champion leaving or a competitor."),
    ]),
}


def demo_playbooks_ensure() -> int:
    """Create the demo playbooks for the demo's alert rules that start work; returns how many were created."""
    created = 0
    for rule in AlertRule.objects.filter(action=AlertAction.START_PLAYBOOK, name__in=DEMO_PLAYBOOKS):
        name, mode, steps = DEMO_PLAYBOOKS[rule.name]
        if Playbook.objects.filter(name=name).exists():
            continue
        playbook = Playbook.objects.create(name=name, trigger="alert", alert_rule=rule, mode=mode,
                                           description=f"Started when '{rule.name}' opens a breach.")
        for position, (title, kind, due_days, assignee_rule, queue_role, instructions) in enumerate(steps, 1):
            PlaybookStep.objects.create(playbook=playbook, position=position, title=title, kind=kind,
                                        due_days=due_days, assignee_rule=assignee_rule, queue_role=queue_role,
                                        instructions=instructions)
        created += 1
    return created
