"""The connectors' pages, for admins: each connector's setup, its key or secret, its options, and the calls it
received and refused."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connectors import selectors
from connectors.backfill import stripe_subscriptions_backfill
from connectors.catalogue import GUIDES, Guide
from connectors.crm import EXPORTS, crm_accounts_import
from connectors.helpdesk import ZENDESK_BODY
from connectors.http import call_log, unauthenticated_calls
from connectors.models import Connector
from connectors.options import SEGMENT_ACCOUNT_TRAITS, connector_options, connector_settings
from connectors.services import connector_configure
from core.errors import InvalidInput
from integrations.ingest import Caller
from integrations.models import ApiKey, Scope
from integrations.services import batch_rejection_record
from integrations.uploads import upload_capped
from integrations.validation import BatchRejected
from users.permissions import admin_required


class SegmentMappingForm(forms.Form):
    """Which trait or property carries each piece of data; a blank one leaves it unused."""

    user_account_trait = forms.CharField(max_length=100, required=False, label="Identify trait naming the account",
                                         help_text="Read when an identify call has no context.groupId.")
    event_account_property = forms.CharField(max_length=100, required=False,
                                             label="Track property naming the account",
                                             help_text="Read when a track or page call has no context.groupId.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in SEGMENT_ACCOUNT_TRAITS:
            self.fields[f"trait_{name}"] = forms.CharField(max_length=100, required=False,
                                                           label=f"Group trait for {name.replace('_', ' ')}")

    @classmethod
    def initial_from(cls, options: dict) -> dict:
        return {"user_account_trait": options["user_account_trait"],
                "event_account_property": options["event_account_property"],
                **{f"trait_{name}": trait for name, trait in options["account_traits"].items()}}

    def options(self) -> dict:
        data = self.cleaned_data
        return {"user_account_trait": data["user_account_trait"].strip(),
                "event_account_property": data["event_account_property"].strip(),
                "account_traits": {name: data[f"trait_{name}"].strip() for name in SEGMENT_ACCOUNT_TRAITS}}


class StripeOptionsForm(forms.Form):
    metadata_key = forms.CharField(max_length=100, label="Metadata key holding the account's external id")
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", required=False, label="The tenant's revenue currency",
                                help_text="ISO 4217 code, e.g. usd. Blank: the first currency Stripe sends.")

    @classmethod
    def initial_from(cls, options: dict) -> dict:
        return {"metadata_key": options["metadata_key"], "currency": options["currency"]}

    def options(self) -> dict:
        return {"metadata_key": self.cleaned_data["metadata_key"].strip(),
                "currency": self.cleaned_data["currency"].strip().lower()}


class IntercomOptionsForm(forms.Form):
    account_attribute = forms.CharField(max_length=100, required=False,
                                        label="Conversation attribute naming the account")

    @classmethod
    def initial_from(cls, options: dict) -> dict:
        return {"account_attribute": options["account_attribute"]}

    def options(self) -> dict:
        return {"account_attribute": self.cleaned_data["account_attribute"].strip()}


OPTION_FORMS: dict[str, type[forms.Form]] = {Connector.SEGMENT: SegmentMappingForm, Connector.STRIPE: StripeOptionsForm,
                                             Connector.INTERCOM: IntercomOptionsForm}


def _guide(connector: str) -> Guide:
    if connector not in GUIDES:
        raise Http404("No such connector.")
    return GUIDES[connector]


@admin_required
def connector_list(request: HttpRequest) -> HttpResponse:
    activity = selectors.connector_activity()
    return render(request, "connectors/connector_list.html", {
        "connectors": [(guide, activity.get(guide.connector, {})) for guide in GUIDES.values()],
    })


@admin_required
def connector_detail(request: HttpRequest, connector: str) -> HttpResponse:
    guide = _guide(connector)
    options = connector_options(connector)
    form_class = OPTION_FORMS.get(connector)
    form = form_class(request.POST or None, initial=form_class.initial_from(options)) if form_class else None
    if request.method == "POST" and form is not None and form.is_valid():
        connector_configure(connector=connector, options=form.options())
        messages.success(request, f"Saved the {guide.title} options.")
        return redirect("connector_detail", connector=connector)
    if guide.outbound:
        return render(request, "connectors/connector_detail.html", {
            "guide": guide, "steps": guide.steps, "slack_hooks": selectors.slack_webhooks(),
            "accepted_deliveries": selectors.slack_deliveries(failing=False),
            "failing_deliveries": selectors.slack_deliveries(failing=True)})
    held_count, held = selectors.held_calls(connector=connector)
    endpoint = request.build_absolute_uri(guide.endpoint) if guide.endpoint else ""
    return render(request, "connectors/connector_detail.html", {
        "guide": guide, "endpoint": endpoint, "form": form, "settings": connector_settings(connector),
        "steps": [step.format(endpoint=endpoint) for step in guide.steps],
        "write_keys": ApiKey.objects.filter(scopes__contains=[Scope.INGEST], revoked_at__isnull=True)
        if guide.secret == "write_key" else [],
        "accepted": selectors.calls_recent(connector=connector, refused=False, limit=20),
        "refused": selectors.calls_recent(connector=connector, refused=True, limit=20),
        "unauthenticated": unauthenticated_calls(connector),
        "held_count": held_count, "held": held, "csv_import": connector in EXPORTS,
        "zendesk_body": ZENDESK_BODY if connector == Connector.ZENDESK else "",
    }, status=400 if form is not None and form.errors else 200)


@admin_required
@require_POST
def connector_secret(request: HttpRequest, connector: str) -> HttpResponse:
    """Store the signing secret the vendor shows (Stripe's whsec_..., Zendesk's, Intercom's client secret)."""
    guide = _guide(connector)
    secret = request.POST.get("secret", "").strip()
    if guide.secret != "signing_secret" or not secret or len(secret) > 200:
        messages.error(request, "Paste the signing secret the vendor shows (at most 200 characters).")
    else:
        connector_configure(connector=connector, secret=secret)
        messages.success(request, f"Saved the {guide.title} signing secret. Calls it signs are accepted from now on.")
    return redirect("connector_detail", connector=connector)


# An export is read into memory whole; refused past this by its length, or as it streams in.
MAX_EXPORT_BYTES = 10 * 1024 * 1024


def _upload_answered(request: HttpRequest, connector: str, *, status: int, summary: str) -> HttpResponse:
    """Say what an upload did, on the page and in the connector's log of calls (the upload is its call, from the
    admin who sent it), and go back to the connector's page."""
    (messages.success if status < 300 else messages.error)(request, summary)
    call_log(connector=connector, status=status, summary=f"{summary} (uploaded by {request.user.email})")
    return redirect("connector_detail", connector=connector)


def _export_refused(request: HttpRequest, too_large: InvalidInput, connector: str = Connector.STRIPE) -> HttpResponse:
    if connector != Connector.STRIPE and connector not in EXPORTS:
        raise Http404("No CSV import for this connector.")
    return _upload_answered(request, connector, status=too_large.status_code, summary=too_large.detail)


@admin_required
@require_POST
@upload_capped(limit=lambda: MAX_EXPORT_BYTES, refused=_export_refused)
def stripe_backfill(request: HttpRequest) -> HttpResponse:
    """Upload a Stripe subscriptions export: monthly MRR history, all rows or none."""
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose the subscriptions CSV exported from Stripe.")
        return redirect("connector_detail", connector=Connector.STRIPE)
    try:
        result = stripe_subscriptions_backfill(data=upload.read())
    except InvalidInput as error:
        problems = "; ".join(f"line {problem['row']} {problem['field']}: {problem['message']}"
                             for problem in error.errors[:5])
        return _upload_answered(request, Connector.STRIPE, status=error.status_code,
                                summary=f"Subscriptions export refused: {error.detail} {problems}".strip())
    for unmatched in result.unmatched[:10]:
        messages.warning(request, f"Line {unmatched['row']}: subscription {unmatched['subscription']} of customer "
                                  f"{unmatched['customer']} matches no account; left out.")
    return _upload_answered(request, Connector.STRIPE, status=200,
                            summary=f"Subscriptions export imported: {result.summary()}.")


@admin_required
@require_POST
@upload_capped(limit=lambda: MAX_EXPORT_BYTES, refused=_export_refused)
def crm_import(request: HttpRequest, connector: str) -> HttpResponse:
    """Upload a HubSpot or Salesforce accounts export: every row stored, or none and every problem listed."""
    guide = _guide(connector)
    upload = request.FILES.get("file")
    if connector not in EXPORTS:
        raise Http404("No CSV import for this connector.")
    if upload is None:
        messages.error(request, f"Choose the CSV exported from {guide.title}.")
        return redirect("connector_detail", connector=connector)
    try:
        result, _ = crm_accounts_import(connector=connector, data=upload.read(),
                                        caller=Caller(user=request.user, source=connector))
    except BatchRejected as rejection:
        batch_rejection_record(rejection=rejection)
        return _upload_answered(request, connector, status=rejection.status_code, summary=(
            f"{guide.title} export refused: {rejection.detail} " + "; ".join(
                f"item {error['index']} {error['field']}: {error['message']}" for error in rejection.errors[:5])))
    except InvalidInput as error:
        return _upload_answered(request, connector, status=error.status_code, summary=(
            f"{guide.title} export refused: {error.detail} " + "; ".join(
                f"line {problem.get('row')} {problem.get('field')}: {problem['message']}"
                for problem in error.errors[:5])))
    return _upload_answered(request, connector, status=200, summary=(
        f"Imported the {guide.title} export: {result.created} account(s) created, {result.updated} updated, "
        f"{result.duplicates} unchanged."))
