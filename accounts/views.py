"""Server-rendered pages over customer data: the CSM's work page and the accounts."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts import selectors
from metrics.selectors import account_kpis


def my_work(request: HttpRequest) -> HttpResponse:
    """A CSM's home: the accounts in their book, soonest renewal first."""
    accounts = selectors.account_list(owner=request.user).order_by("renewal_date", "name")
    return render(request, "accounts/my_work.html", {"accounts": accounts})


def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account_list.html", {"accounts": selectors.account_list()})


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.account_list(), pk=pk)
    context = {
        "account": account,
        "kpis": account_kpis(account_id=account.pk),
        "revenue": selectors.account_revenue_history(account=account),
        "surveys": selectors.account_recent_surveys(account=account),
        "tickets": selectors.account_recent_tickets(account=account),
    }
    return render(request, "accounts/account_detail.html", context)
