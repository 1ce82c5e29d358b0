"""Server-rendered pages over customer data: the CSM's work page, the portfolio dashboard, accounts."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts import selectors


def my_work(request: HttpRequest) -> HttpResponse:
    """A CSM's home: the accounts in their book, soonest renewal first."""
    accounts = selectors.account_list(owner=request.user).order_by("renewal_date", "name")
    return render(request, "accounts/my_work.html", {"accounts": accounts})


def dashboard(request: HttpRequest) -> HttpResponse:
    """The leaders' portfolio view; a CSM asking for it is sent to their own work."""
    if not request.user.lands_on_dashboard:
        return redirect("my_work")
    summary = selectors.portfolio_summary(today=timezone.localdate())
    return render(request, "accounts/dashboard.html", {"summary": summary})


def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account_list.html", {"accounts": selectors.account_list()})


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(selectors.account_list(), pk=pk)
    context = {
        "account": account,
        "revenue": selectors.account_revenue_history(account=account),
        "surveys": selectors.account_recent_surveys(account=account),
        "tickets": selectors.account_recent_tickets(account=account),
    }
    return render(request, "accounts/account_detail.html", context)
