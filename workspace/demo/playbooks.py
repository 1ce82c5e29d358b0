"""The demo tenant's playbooks: one for each alert rule that starts work, so `make run` shows real tasks."""

from __future__ import annotations

from metrics.models import AlertAction, AlertRule
from playbooks.defaults import default_playbooks_install
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
    """Create the demo playbooks for the demo's alert rules that start work (and the default ones a tenant made
    before they existed lacks); returns how many were created."""
    created = len(default_playbooks_install())
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


LIFECYCLE_PLAYBOOKS = (
    ("Onboarding", "account_created", None, [
        ("Kick-off call with {account}", "meeting", 3, "account_owner", "",
         "Agree the goals, the champion and the first milestone."),
        ("Connect {account}'s first integration", "training", 14, "account_owner", "",
         "Book a working session with their admin."),
        ("30-day value check", "value_review", 30, "account_owner", "", "Is {account} seeing value yet?"),
    ]),
    ("Renewal preparation", "renewal_due", 90, [
        ("Renewal health review for {account}", "internal", 7, "account_owner", "",
         "Review health, open tickets and usage before the renewal conversation."),
        ("Renewal call with {account}", "call", 21, "account_owner", "", "Confirm the renewal and any changes."),
    ]),
)


def demo_lifecycle_playbooks_ensure() -> int:
    """The onboarding and renewal playbooks, started for the demo's onboarding accounts and due renewals."""
    from accounts.models import Account, LifecycleStage
    from playbooks.services import playbook_run_start, renewal_runs_start

    created = 0
    for name, trigger, renewal_days, steps in LIFECYCLE_PLAYBOOKS:
        if Playbook.objects.filter(name=name).exists():
            continue
        playbook = Playbook.objects.create(name=name, trigger=trigger, renewal_days=renewal_days,
                                           mode="sequence", close_on_recovery=False)
        for position, (title, kind, due_days, assignee_rule, queue_role, instructions) in enumerate(steps, 1):
            PlaybookStep.objects.create(playbook=playbook, position=position, title=title, kind=kind,
                                        due_days=due_days, assignee_rule=assignee_rule, queue_role=queue_role,
                                        instructions=instructions)
        created += 1
    onboarding = Playbook.objects.get(name="Onboarding")
    for account in Account.objects.filter(lifecycle_stage=LifecycleStage.ONBOARDING, status="active"):
        # The demo's accounts existed before its playbook: start onboarding for the new ones by hand.
        playbook_run_start(playbook=onboarding, account=account, trigger="account_created", occasion="onboarding")
    renewal_runs_start()
    return created
