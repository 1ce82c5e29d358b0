"""Pages for admins: CSV import, API keys. (Data health reads customer data too, so it lives in accounts.)"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.api.scopes import Scope
from core.errors import InvalidInput
from integrations.csv_import import MAX_CSV_BYTES, MAX_CSV_ROWS, csv_import_progress, csv_import_receive
from integrations.ingest import CSV_IMPORTABLE, Caller
from integrations.models import ApiKey, CsvImport, DataKind
from integrations.services import ApiKeyError, api_key_create, api_key_revoke, batch_rejection_record
from integrations.uploads import upload_capped
from integrations.validation import BatchRejected
from users.permissions import admin_required


def _importable_kinds() -> list[tuple[str, str]]:
    return [(kind, DataKind(kind).label) for kind in CSV_IMPORTABLE]


class CsvImportForm(forms.Form):
    kind = forms.ChoiceField(choices=_importable_kinds)
    file = forms.FileField(help_text=f"UTF-8 CSV with a header row naming the columns; up to {MAX_CSV_ROWS:,} rows "
                                     f"and {MAX_CSV_BYTES // (1024 * 1024)} MB.")


def _csv_import_page(request: HttpRequest, form: CsvImportForm, *, status: int = 200, error: str = "",
                     row_errors: list[dict] | None = None) -> HttpResponse:
    return render(request, "integrations/csv_import.html", {
        "form": form, "error": error, "row_errors": row_errors or [],
        "imports": {kind.kind: kind.spec for kind in CSV_IMPORTABLE.values()},
        "recent": CsvImport.objects.order_by("-received_at")[:5],
    }, status=status)


def _upload_refused(request: HttpRequest, too_large: InvalidInput) -> HttpResponse:
    return _csv_import_page(request, CsvImportForm(), error=too_large.detail, status=too_large.status_code)


@admin_required
@upload_capped(limit=lambda: MAX_CSV_BYTES, refused=_upload_refused)
def csv_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of accounts or revenue; all rows are stored, or none and every bad row is listed. A file of
    more than 10,000 rows is imported in the background, and the page follows its progress."""
    if request.method != "POST":
        return _csv_import_page(request, CsvImportForm())
    form = CsvImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _csv_import_page(request, form, status=400)
    try:
        outcome = csv_import_receive(kind=CSV_IMPORTABLE[form.cleaned_data["kind"]], upload=form.cleaned_data["file"],
                                     caller=Caller(user=request.user, source="csv"))
    except InvalidInput as problem:
        if isinstance(problem, BatchRejected):
            batch_rejection_record(rejection=problem)
        return _csv_import_page(request, form, error=problem.detail, row_errors=problem.errors,
                                status=problem.status_code)
    if isinstance(outcome, CsvImport):
        return redirect("csv_import_detail", pk=outcome.pk)
    rows = outcome.created + outcome.updated + outcome.duplicates
    messages.success(request, f"Imported {rows:,} row(s): {outcome.created:,} created, {outcome.updated:,} updated, "
                              f"{outcome.duplicates:,} unchanged.")
    return redirect("csv_import")


@admin_required
@require_GET
def csv_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A background import: its progress, refreshed every two seconds until it ends, then its outcome."""
    csv_import = get_object_or_404(CsvImport, pk=pk)
    context = {"csv_import": csv_import, "progress": csv_import_progress(csv_import)}
    if request.headers.get("HX-Request"):
        return render(request, "integrations/_csv_import_progress.html", context)
    return render(request, "integrations/csv_import_detail.html", context)


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
