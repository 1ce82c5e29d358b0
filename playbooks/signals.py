"""News from playbooks for the apps above it, which playbooks does not import."""

from django.dispatch import Signal

# A task that carries a quarterly review decision (`task.decision_id`) was started, completed or reassigned.
# Sent with `task` and `user` (None for automation), in the transaction of the change: reviews moves the
# decision along with it, so the two never disagree.
decision_task_moved = Signal()
