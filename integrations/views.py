"""Pages for admins: data health, CSV import, API keys."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import ingestion
from core.api.scopes import Scope
from core.errors import InvalidInput
from integrations import selectors
from integrations.csv_import import csv_items, rows_for_errors
from integrations.ingest import Caller
from integrations.models import ApiKey
from integrations.services import ApiKeyError, api_key_create, api_key_revoke, batch_rejection_record
from integrations.validation import BatchRejected
from users.permissions import admin_required

CSV_IMPORTS = {
    "accounts": ("Accounts", ingestion.ACCOUNT_SPEC, ingestion.accounts_ingest),
    "revenue": ("Revenue snapshots", ingestion.REVENUE_SPEC, ingestion.revenue_snapshots_ingest),
}


@admin_required
def data_health(request: HttpRequest) -> HttpResponse:
    unowned_count, unowned = selectors.accounts_without_owner()
    return render(request, "integrations/data_health.html", {
        "feeds": selectors.feed_health(),
        "api_keys": selectors.api_key_activity(),
        "rejected": selectors.rejected_batches(),
        "unowned_count": unowned_count,
        "unowned": unowned,
        "revenue_gaps": selectors.revenue_gaps(),
        "reports": selectors.data_health_reports(),
    })


class CsvImportForm(forms.Form):
    kind = forms.ChoiceField(choices=[(key, label) for key, (label, _, _) in CSV_IMPORTS.items()])
    file = forms.FileField(help_text="UTF-8 CSV with a header row naming the columns.")


@admin_required
def csv_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of accounts or revenue; all rows are stored, or none and every bad row is listed."""
    form = CsvImportForm(request.POST or None, request.FILES or None)
    context = {"form": form, "imports": {key: spec for key, (_, spec, _) in CSV_IMPORTS.items()}}
    if request.method == "POST" and form.is_valid():
        _, spec, ingest = CSV_IMPORTS[form.cleaned_data["kind"]]
        try:
            items, lines = csv_items(data=form.cleaned_data["file"].read(), spec=spec)
            result = ingest(items=items, caller=Caller(user=request.user, source="csv"))
        except BatchRejected as rejection:
            batch_rejection_record(rejection=rejection)
            context.update(error=rejection.detail, row_errors=rows_for_errors(rejection.errors, lines))
        except InvalidInput as error:
            context["error"] = error.detail
        else:
            messages.success(request, f"Imported {len(items)} row(s): {result.created} created, "
                                      f"{result.updated} updated, {result.duplicates} unchanged.")
            return redirect("csv_import")
    return render(request, "integrations/csv_import.html", context, status=400 if "error" in context else 200)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Which integration will use it.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[Scope.INGEST])


@admin_required
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_key_create(created_by=request.user, **form.cleaned_data)
        except ApiKeyError as error:
            form.add_error(None, str(error))
        else:
            form = ApiKeyForm()
    keys = ApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at")
    return render(request, "integrations/api_keys.html", {"form": form, "keys": keys, "issued": issued})


@admin_required
@require_POST
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, pk=pk)
    if api_key_revoke(api_key=api_key):
        messages.success(request, f"Revoked {api_key}. Integrations using it now get 401.")
    return redirect("api_keys")
