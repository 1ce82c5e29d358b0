"""Server-rendered pages over customer data: the accounts and an account's page."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts import selectors
from metrics.selectors import account_kpis
from playbooks.selectors import account_tasks, startable_playbooks


def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account_list.html", {"accounts": selectors.account_list()})


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.account_list(), pk=pk)
    context = {
        "account": account,
        "kpis": account_kpis(account_id=account.pk),
        "tasks": account_tasks(account_id=account.pk),
        "playbooks": startable_playbooks(),
        "revenue": selectors.account_revenue_history(account=account),
        "surveys": selectors.account_recent_surveys(account=account),
        "tickets": selectors.account_recent_tickets(account=account),
    }
    return render(request, "accounts/account_detail.html", context)
