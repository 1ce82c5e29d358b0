"""Sign-in, sign-out, the forced password change after a one-time password, the role-based home, and the
admins' settings pages (users and roles, response SLAs, links to API keys and webhooks)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from tenants.api.views import TenantSettingsIO
from tenants.models import Tenant
from users.forms import UserEditForm, UserInviteForm
from users.models import User
from users.permissions import admin_required
from users.services import user_deactivate, user_invite, user_password_changed, user_reactivate, user_update
from users.throttle import LoginThrottleMixin

SLA_FIELDS = (
    ("sla_critical_hours", "Critical breaches: respond within (hours)"),
    ("sla_high_hours", "High breaches: respond within (hours)"),
    ("sla_medium_hours", "Medium breaches: respond within (hours)"),
    ("sla_low_hours", "Low breaches: respond within (hours)"),
    ("escalation_manager_delay_hours", "Tell the assignee's manager this long after a missed SLA (hours)"),
    ("escalation_leader_delay_hours", "Tell the CS leaders this long after a missed SLA (hours)"),
)
ESCALATE_TO_LEADERS = "escalation_to_leaders"


def home(request: HttpRequest) -> HttpResponse:
    """A CSM lands on "My work"; everyone else on the dashboard."""
    return redirect("dashboard" if request.user.lands_on_dashboard else "my_work")


class LoginView(LoginThrottleMixin, auth_views.LoginView):
    template_name = "users/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "users/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        user_password_changed(user=self.request.user)
        return response


@admin_required
def settings_home(request: HttpRequest) -> HttpResponse:
    return render(request, "settings/home.html", {"tenant": request.tenant})


@admin_required
def settings_users(request: HttpRequest) -> HttpResponse:
    """Everyone who can sign in (or could), and the form that invites someone with a one-time password."""
    form = UserInviteForm(request.POST or None)
    invited = None
    if request.method == "POST" and form.is_valid():
        try:
            invited = user_invite(**form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            form = UserInviteForm()
    users = User.objects.select_related("manager").order_by("-is_active", "full_name", "email")
    return render(request, "settings/users.html", {"form": form, "users": users, "invited": invited},
                  status=400 if form.errors else 200)


@admin_required
def settings_user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.select_related("manager"), pk=pk)
    form = UserEditForm(request.POST or None, user=person)
    if request.method == "POST" and form.is_valid():
        try:
            user_update(user=person, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {person}: {person.get_role_display()}, managed by "
                                      f"{person.manager or 'nobody'}.")
            return redirect("settings_users")
    return render(request, "settings/user_edit.html", {"person": person, "form": form},
                  status=400 if form.errors else 200)


@admin_required
@require_POST
def settings_user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    try:
        if user_deactivate(user=person, actor=request.user):
            messages.success(request, f"Deactivated {person}: they can no longer sign in.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("settings_users")


@admin_required
@require_POST
def settings_user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    if user_reactivate(user=person):
        messages.success(request, f"Reactivated {person}.")
    return redirect("settings_users")


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
