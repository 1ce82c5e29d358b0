"""The tenant's settings page for admins: response SLAs by severity and the escalation ladder."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tenants.api.views import TenantSettingsIO
from tenants.models import Tenant
from users.permissions import admin_required

SLA_FIELDS = (
    ("sla_critical_hours", "Critical breaches: respond within (hours)"),
    ("sla_high_hours", "High breaches: respond within (hours)"),
    ("sla_medium_hours", "Medium breaches: respond within (hours)"),
    ("sla_low_hours", "Low breaches: respond within (hours)"),
    ("escalation_manager_delay_hours", "Tell the assignee's manager this long after a missed SLA (hours)"),
    ("escalation_leader_delay_hours", "Tell the CS leaders this long after a missed SLA (hours)"),
)
ESCALATE_TO_LEADERS = "escalation_to_leaders"


@admin_required
def settings_sla(request: HttpRequest) -> HttpResponse:
    """Response SLAs by severity and the escalation ladder, validated exactly as the settings API does (the
    same serializer, so its bounds and ordering rules exist once)."""
    tenant = Tenant.objects.get(pk=request.tenant.pk)
    errors: dict[str, list[str]] = {}
    submitted: dict[str, str] = {}
    if request.method == "POST":
        submitted = {name: request.POST.get(name, "") for name, _ in SLA_FIELDS}
        submitted[ESCALATE_TO_LEADERS] = "true" if request.POST.get(ESCALATE_TO_LEADERS) else "false"  # a checkbox
        payload = TenantSettingsIO(tenant, data=submitted, partial=True)
        if payload.is_valid():
            payload.save()
            request.tenant.__dict__.update(payload.validated_data)  # the rest of this request sees the change
            messages.success(request, "Saved the response SLAs and escalation.")
            return redirect("settings_sla")
        errors = {field: [str(problem) for problem in problems] for field, problems in payload.errors.items()}
    bounds = TenantSettingsIO().fields
    fields = [{"name": name, "label": label, "value": submitted.get(name, getattr(tenant, name)),
               "min": bounds[name].min_value, "max": bounds[name].max_value, "errors": errors.get(name, [])}
              for name, label in SLA_FIELDS]
    to_leaders = submitted[ESCALATE_TO_LEADERS] == "true" if submitted else tenant.escalation_to_leaders
    return render(request, "settings/sla.html", {
        "fields": fields, "to_leaders": to_leaders, "to_leaders_errors": errors.get(ESCALATE_TO_LEADERS, []),
        "errors": errors.get("non_field_errors", []),
    }, status=400 if errors else 200)
