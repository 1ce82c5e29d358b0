"""The accounts as a CSM or leader sees them: the list with each account's latest health, and an account's page
with its KPIs, tasks and the playbooks that can be started for it, beside its revenue, surveys and tickets."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts import selectors
from metrics.selectors import account_kpis, accounts_with_health
from playbooks.selectors import account_tasks, startable_playbooks

ACCOUNTS_PAGE_SIZE = 100


def account_list(request: HttpRequest) -> HttpResponse:
    """Every account with its MRR, owner and latest health, 100 a page, searchable by name or external id."""
    query = request.GET.get("q", "").strip()[:200]
    accounts = accounts_with_health(selectors.account_list())
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(external_id__icontains=query))
    page = Paginator(accounts, ACCOUNTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "workspace/account_list.html", {"accounts": page, "page": page, "query": query})


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
    return render(request, "workspace/account_detail.html", context)
