"""Server-rendered pages over customer data: the accounts, an account's page, and the survey feedback."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts import selectors
from accounts.models import LifecycleStage, SurveyKind
from metrics.selectors import account_kpis, accounts_with_health
from playbooks.selectors import account_tasks, startable_playbooks
from users.models import User

ACCOUNTS_PAGE_SIZE = 100


def account_list(request: HttpRequest) -> HttpResponse:
    """Every account with its MRR, owner and latest health, 100 a page, searchable by name or external id."""
    query = request.GET.get("q", "").strip()[:200]
    accounts = accounts_with_health(selectors.account_list())
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(external_id__icontains=query))
    page = Paginator(accounts, ACCOUNTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/account_list.html", {"accounts": page, "page": page, "query": query})


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


FEEDBACK_PAGE_SIZE = 25


class FeedbackFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, label="Survey")
    plan = forms.ChoiceField(required=False)
    region = forms.ChoiceField(required=False)
    industry = forms.ChoiceField(required=False)
    lifecycle_stage = forms.ChoiceField(required=False, label="Lifecycle stage")
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any owner")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        attributes = selectors.account_attribute_values()
        self.fields["kind"].choices = [("", "Any survey"), *SurveyKind.choices]
        self.fields["lifecycle_stage"].choices = [("", "Any stage"), *LifecycleStage.choices]
        for name in ("plan", "region", "industry"):
            self.fields[name].choices = [("", f"Any {name}"), *[(value, value) for value in attributes[name]]]
        self.fields["owner"].queryset = User.objects.filter(accounts__isnull=False).distinct().order_by(
            "full_name", "email")


def feedback(request: HttpRequest) -> HttpResponse:
    """Recent survey comments with score and sentiment, filtered by survey kind and account segment, paginated.
    A bad filter is shown as an error and ignored, never a crash."""
    form = FeedbackFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        filters = {name: value for name, value in form.cleaned_data.items() if name != "owner"}
        filters["owner_id"] = form.cleaned_data["owner"].pk if form.cleaned_data["owner"] else None
    page = Paginator(selectors.survey_comments(**filters), FEEDBACK_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "accounts/feedback.html", {"form": form, "page": page, "query": query.urlencode()},
                  status=400 if form.errors else 200)
