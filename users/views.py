"""Sign-in, sign-out, the forced password change after a one-time password, and the role-based home."""

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy

from users.services import user_password_changed


def home(request: HttpRequest) -> HttpResponse:
    """A CSM lands on "My work"; everyone else on the dashboard."""
    return redirect("dashboard" if request.user.lands_on_dashboard else "my_work")


class LoginView(auth_views.LoginView):
    template_name = "users/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "users/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        user_password_changed(user=self.request.user)
        return response
