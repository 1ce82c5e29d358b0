"""Who may see and act on a task: the one rule the pages and the API share."""

from __future__ import annotations

from playbooks.models import Task
from users.models import Role, User

REASSIGNERS = (Role.MANAGER, Role.ADMIN, Role.LEADER)


def may_act_on_task(user: User, task: Task) -> bool:
    """A CSM acts on their own tasks; a manager on their team's (and queued ones); admins and leaders on all."""
    if user.role in (Role.ADMIN, Role.LEADER) or task.assignee_id == user.pk:
        return True
    if user.role == Role.MANAGER:
        return task.assignee is None or task.assignee.manager_id == user.pk
    return False


def may_see_task(user: User, task: Task) -> bool:
    """Whoever may act on it, the owner of its account, and read-only viewers; a CSM sees no other CSM's work."""
    if user.role == Role.VIEWER or may_act_on_task(user, task):
        return True
    return task.account is not None and task.account.owner_id == user.pk


def may_reassign(user: User) -> bool:
    """Managers (their team's work), leaders and admins hand tasks to someone else; CSMs ask their manager."""
    return user.role in REASSIGNERS
