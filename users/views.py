"""Sign-in, sign-out, the forced password change after a one-time password, the role-based home, and the
admins' settings pages (users and roles, links to the other settings: SLAs, API keys, webhooks)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from users.forms import UserEditForm, UserInviteForm
from users.models import User
from users.permissions import admin_required
from users.services import user_deactivate, user_invite, user_password_changed, user_reactivate, user_update
from users.throttle import LoginThrottleMixin


def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own page: a CSM on "My work", a manager on the team, everyone else the dashboard."""
    return redirect(request.user.home_page)


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
