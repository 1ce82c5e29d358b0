"""Reviews react to playbooks: a decision follows its task through the inbox."""

from django.dispatch import receiver

from playbooks.signals import decision_task_moved
from reviews.services import decision_follow_task


@receiver(decision_task_moved)
def _decision_follows_its_task(sender, *, task, user, **kwargs) -> None:
    decision_follow_task(task=task, user=user)
