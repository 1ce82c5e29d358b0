"""Webhook settings pages for admins: endpoints, their secrets, and every delivery's log."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from notifications import webhooks
from notifications.models import SUBSCRIBABLE_EVENTS, Event, Webhook, WebhookDelivery, WebhookFormat
from users.permissions import admin_required

DELIVERIES_SHOWN = 50


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Who receives it, e.g. 'CRM sync'.")
    url = forms.CharField(max_length=500, label="URL", help_text="An http(s) endpoint that accepts POSTed JSON.")
    events = forms.MultipleChoiceField(choices=[(event, Event(event).label) for event in SUBSCRIBABLE_EVENTS],
                                       widget=forms.CheckboxSelectMultiple)
    format = forms.ChoiceField(choices=WebhookFormat.choices, initial=WebhookFormat.BELLWETHER, required=False,
                               help_text="Slack: paste a Slack incoming-webhook URL; each event arrives as a short, "
                                         "linked message.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_format(self) -> str:
        return self.cleaned_data["format"] or WebhookFormat.BELLWETHER


def _saved(form: WebhookForm, call) -> Webhook | None:
    """Run the service call; its refusal is shown on the form."""
    try:
        return call()
    except webhooks.WebhookError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error))
        return None


@admin_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        webhook = _saved(form, lambda: webhooks.webhook_create(created_by=request.user, **form.cleaned_data))
        if webhook:
            messages.success(request, f"Webhook '{webhook.name}' created. Its signing secret is on its page.")
            return redirect("webhook_detail", pk=webhook.pk)
    return render(request, "notifications/webhook_list.html",
                  {"form": form, "webhooks": Webhook.objects.all()}, status=400 if form.errors else 200)


@admin_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk)
    form = WebhookForm(request.POST or None, initial={"name": webhook.name, "url": webhook.url,
                                                      "events": webhook.events, "is_active": webhook.is_active,
                                                      "format": webhook.format})
    if request.method == "POST" and form.is_valid() and _saved(
            form, lambda: webhooks.webhook_update(webhook=webhook, **form.cleaned_data)):
        messages.success(request, "Webhook saved.")
        return redirect("webhook_detail", pk=webhook.pk)
    return render(request, "notifications/webhook_detail.html", {
        "webhook": webhook, "form": form, "deliveries": webhook.deliveries.all()[:DELIVERIES_SHOWN],
    }, status=400 if form.errors else 200)


@admin_required
@require_POST
def webhook_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Ping, rotate the secret, or delete."""
    webhook = get_object_or_404(Webhook, pk=pk)
    if action == "ping":
        webhooks.ping_send(webhook=webhook)
        messages.success(request, "Test delivery sent; its result appears below in a moment.")
    elif action == "rotate":
        webhooks.webhook_secret_rotate(webhook=webhook)
        messages.success(request, "New secret issued; the old one no longer signs deliveries.")
    elif action == "delete":
        webhook.delete()
        messages.success(request, f"Webhook '{webhook.name}' deleted.")
        return redirect("webhooks")
    else:
        return HttpResponse(f"Unknown action '{action}'.", status=404)
    return redirect("webhook_detail", pk=pk)


@admin_required
@require_POST
def delivery_redeliver_view(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    if webhooks.delivery_redeliver(delivery=delivery):
        messages.success(request, "Delivery queued again.")
    else:
        messages.error(request, "This delivery is being attempted now; try again in a moment.")
    return redirect("webhook_detail", pk=delivery.webhook_id)
