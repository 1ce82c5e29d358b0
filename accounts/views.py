"""Server-rendered pages over customer data: the survey feedback, and data health for admins (feeds and keys
from integrations beside the problems in the accounts' data). The account list and an account's page compose
metrics and playbooks too, so they live in workspace."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import selectors
from accounts.models import LifecycleStage, SurveyKind
from integrations import selectors as integration_selectors
from users.models import User
from users.permissions import admin_required

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


@admin_required
def data_health(request: HttpRequest) -> HttpResponse:
    unowned_count, unowned = selectors.accounts_without_owner()
    return render(request, "accounts/data_health.html", {
        "feeds": integration_selectors.feed_health(),
        "api_keys": integration_selectors.api_key_activity(),
        "rejected": integration_selectors.rejected_batches(),
        "unowned_count": unowned_count,
        "unowned": unowned,
        "revenue_gaps": selectors.revenue_gaps(),
        "reports": integration_selectors.data_health_reports(),
    })
