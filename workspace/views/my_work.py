"""My work: a CSM's home, their tasks and the accounts in their book."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import account_list
from metrics.selectors import accounts_with_health
from playbooks.models import TaskOutcome
from playbooks.selectors import inbox


def my_work(request: HttpRequest) -> HttpResponse:
    """A CSM's home: overdue tasks first, then today's and upcoming ones; and the accounts in their book."""
    return render(request, "workspace/my_work.html", {
        "inbox": inbox(user=request.user, now=timezone.now()),
        "accounts": accounts_with_health(account_list(owner=request.user)).order_by("renewal_date", "name"),
        "outcomes": TaskOutcome.choices,
    })
